/* fast_pool_uk.h — MaxPool's 3-wide stride-2 rows and the 3x3 s2 pad-1
 * whole-plane loop (issue 24, session 16; sk_f32_vmax3__*,
 * sk_f32_hmax3s2__*, sk_f32_maxpool3s2p1__*, read by fast_pool.c through
 * sk_fast_uk.vmax3 / .hmax3s2 / .maxpool3s2p1), written once against
 * fast_simd.h and included by one file per level.
 *
 * ResNet's MaxPool 3x3 s2 pad 1 (64 x 112x112 -> 56x56) made each output
 * row in five passes: copy a row, two running maxes, de-interleave, three
 * shifted taps. Here: one pass for the three input rows (vmax3), one for
 * the three taps of every output (hmax3s2: two overlapping 2-vector loads
 * per SK_VW outputs, split into even / odd lanes in registers). */

/* y[i] = max(a[i], b[i], c[i]), i < n (MAXPS order: max(max(a, b), c)) */
void SK_UK(vmax3)(size_t n, const float *a, const float *b, const float *c, float *y)
{
    size_t i = 0;
    for (; i + SK_VW <= n; i += SK_VW)
        v_st(y + i, v_max(v_max(v_ld(a + i), v_ld(b + i)), v_ld(c + i)));
    if (i < n) {
        size_t r = n - i;
        vf z = v_zero();
        v_st_n(y + i, v_max(v_max(v_ld_n(a + i, r, z), v_ld_n(b + i, r, z)), v_ld_n(c + i, r, z)),
               r);
    }
}

/* y[o] = max(t[2o], t[2o+1], t[2o+2]), o < n; t has tlen >= 2n + 1 floats
 * (read only below tlen). Order: max(max(t[2o], t[2o+1]), t[2o+2]). */
void SK_UK(hmax3s2)(size_t n, const float *t, size_t tlen, float *y)
{
    size_t o = 0;
    /* a block reads t[2o .. 2o + 2 SK_VW + 1] */
    for (; o + SK_VW <= n && 2 * o + 2 * SK_VW + 2 <= tlen; o += SK_VW) {
        vf e, d, e2, d2;
        v_deint2(v_ld(t + 2 * o), v_ld(t + 2 * o + SK_VW), &e, &d);
        v_deint2(v_ld(t + 2 * o + 2), v_ld(t + 2 * o + SK_VW + 2), &e2, &d2);
        (void)d2;
        v_st(y + o, v_max(v_max(e, d), e2));
    }
    for (; o < n; o += SK_VW) { /* the last outputs: masked loads below tlen */
        const vf z = v_zero();
        vf e, d, e2, d2;
        size_t av = tlen - 2 * o, av2 = av - 2; /* >= 2(n - o) + 1 */
        v_deint2(v_ld_n(t + 2 * o, av < SK_VW ? av : SK_VW, z),
                 av > SK_VW ? v_ld_n(t + 2 * o + SK_VW, av - SK_VW < SK_VW ? av - SK_VW : SK_VW, z)
                            : z,
                 &e, &d);
        v_deint2(v_ld_n(t + 2 * o + 2, av2 < SK_VW ? av2 : SK_VW, z),
                 av2 > SK_VW
                     ? v_ld_n(t + 2 * o + 2 + SK_VW, av2 - SK_VW < SK_VW ? av2 - SK_VW : SK_VW, z)
                     : z,
                 &e2, &d2);
        (void)d2;
        v_st_n(y + o, v_max(v_max(e, d), e2), n - o < SK_VW ? n - o : SK_VW);
    }
}

/* [-inf or the last lane of prev, o[0], ..., o[SK_VW-2]]: lane i holds
 * o[i-1] (the odd column left of even column i) */
static inline vf pool_shift1(vf o, vf prev)
{
#if defined(SK_FAST_AVX512)
    return _mm512_castsi512_ps(
        _mm512_alignr_epi32(_mm512_castps_si512(o), _mm512_castps_si512(prev), 15));
#else
    const __m256i rot = _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6);
    vf r = _mm256_permutevar8x32_ps(o, rot), p = _mm256_permutevar8x32_ps(prev, rot);
    return _mm256_blend_ps(r, p, 1);
#endif
}

/* MaxPool 3x3, stride 2, top / left pad 1 (ResNet's stem pool) on output
 * rows [oh0, oh1) of one H x W plane (session 16): rows first — the three
 * input rows' max, 2 x SK_VW columns at a time, with a pad row replaced
 * by its clamped neighbour (a max of a row with itself is the row) — then
 * columns in registers: the block's even and odd columns de-interleaved,
 * and each output's left odd column by a one-lane shift carrying the
 * previous block's last (-inf left of column 0). Columns at or past W
 * read as -inf (masked loads). No per-row calls, no row buffer. */
void SK_UK(maxpool3s2p1)(const float *x, size_t H, size_t W, float *y, size_t oW, size_t oh0,
                         size_t oh1)
{
    const vf ninf = v_set1(-INFINITY);
    for (size_t oh = oh0; oh < oh1; oh++) {
        size_t rb = 2 * oh < H ? 2 * oh : H - 1;
        size_t ra = 2 * oh >= 1 ? 2 * oh - 1 : 0, rc = 2 * oh + 1 < H ? 2 * oh + 1 : H - 1;
        if (ra >= H)
            ra = H - 1;
        const float *a = x + ra * W, *b = x + rb * W, *c = x + rc * W;
        float *yr = y + oh * oW;
        vf prev = ninf;
        for (size_t o = 0; o < oW; o += SK_VW) {
            const size_t c0 = 2 * o; /* < W: output o's window starts at 2o - 1 */
            vf v1, v2;
            if (c0 + 2 * SK_VW <= W) {
                v1 = v_max(v_max(v_ld(a + c0), v_ld(b + c0)), v_ld(c + c0));
                v2 = v_max(v_max(v_ld(a + c0 + SK_VW), v_ld(b + c0 + SK_VW)),
                           v_ld(c + c0 + SK_VW));
            } else {
                size_t n1 = W > c0 ? W - c0 : 0, n2 = W > c0 + SK_VW ? W - c0 - SK_VW : 0;
                n1 = n1 < SK_VW ? n1 : SK_VW;
                n2 = n2 < SK_VW ? n2 : SK_VW;
                v1 = v_max(v_max(v_ld_n(a + c0, n1, ninf), v_ld_n(b + c0, n1, ninf)),
                           v_ld_n(c + c0, n1, ninf));
                v2 = n2 ? v_max(v_max(v_ld_n(a + c0 + SK_VW, n2, ninf),
                                      v_ld_n(b + c0 + SK_VW, n2, ninf)),
                                v_ld_n(c + c0 + SK_VW, n2, ninf))
                        : ninf;
            }
            vf e, d;
            v_deint2(v1, v2, &e, &d);
            vf r = v_max(v_max(e, d), pool_shift1(d, prev));
            prev = d;
            if (o + SK_VW <= oW)
                v_st(yr + o, r);
            else
                v_st_n(yr + o, r, oW - o);
        }
    }
}
