/* fast_pool_uk.h — MaxPool's 3-wide stride-2 rows (issue 24, session 16;
 * sk_f32_vmax3__*, sk_f32_hmax3s2__*, read by fast_pool.c through
 * sk_fast_uk.vmax3 / .hmax3s2), written once against fast_simd.h and
 * included by one file per level.
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
