/* fast_wino_uk.h — the vector loops of Winograd F(2x2, 3x3)
 * (fast_winograd.c), written once against the fast_ops_simd.h layer and
 * compiled per ISA by avx2/f32_wino__avx2.c and avx512/f32_wino__avx512f.c.
 *
 * Lanes are tiles: a B panel holds nr tiles (16 with AVX2, 32 with
 * AVX-512), so every transform step is one vector op over nr / SK_VW
 * vectors, with no shuffles; the data never leaves registers between the
 * row and column passes. Include after fast_ops_simd.h. */

/* d[j*nr + l] = row[j + 2l] for j < 4, l < n: the four columns of n
 * side-by-side 4x4 tiles (stride 2) in one input row; reads row[0 .. 2n+1].
 * An ISA file that defines SK_WINO_DEINT supplies wino_deint(p, &ev, &od)
 * (ev = p[0], p[2], ...; od = p[1], p[3], ...; reads p[0 .. 2*SK_VW)) and
 * gets two shuffles per vector instead of scalar copies. */
void SK_UK(wino_cols)(const float *row, int n, float *d, int nr)
{
    int l = 0;
#ifdef SK_WINO_DEINT
    for (; l + SK_VW <= n; l += SK_VW) {
        vf e, o;
        wino_deint(row + 2 * l, &e, &o);
        v_st(d + l, e);
        v_st(d + nr + l, o);
        wino_deint(row + 2 * l + 2, &e, &o);
        v_st(d + 2 * nr + l, e);
        v_st(d + 3 * nr + l, o);
    }
#endif
    for (; l < n; l++) {
        d[l] = row[2 * l];
        d[nr + l] = row[2 * l + 1];
        d[2 * nr + l] = row[2 * l + 2];
        d[3 * nr + l] = row[2 * l + 3];
    }
}

/* v[xi * vstride + lane] = (B' d B)[xi] for every lane; d[(i*4 + j)*nr + lane].
 * B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
void SK_UK(wino_in)(const float *d, float *v, size_t vstride, int nr)
{
    for (int l = 0; l < nr; l += SK_VW) {
        vf t[4][4];
        for (int j = 0; j < 4; j++) {
            vf d0 = v_ld(d + (0 + j) * nr + l), d1 = v_ld(d + (4 + j) * nr + l);
            vf d2 = v_ld(d + (8 + j) * nr + l), d3 = v_ld(d + (12 + j) * nr + l);
            t[0][j] = v_sub(d0, d2);
            t[1][j] = v_add(d1, d2);
            t[2][j] = v_sub(d2, d1);
            t[3][j] = v_sub(d1, d3);
        }
        for (int i = 0; i < 4; i++) {
            v_st(v + (size_t)(i * 4 + 0) * vstride + l, v_sub(t[i][0], t[i][2]));
            v_st(v + (size_t)(i * 4 + 1) * vstride + l, v_add(t[i][1], t[i][2]));
            v_st(v + (size_t)(i * 4 + 2) * vstride + l, v_sub(t[i][2], t[i][1]));
            v_st(v + (size_t)(i * 4 + 3) * vstride + l, v_sub(t[i][1], t[i][3]));
        }
    }
}

/* y[q*nr + lane] = (A' m A)[q], q = 2*row + col of the 2x2 output block;
 * m[xi] at mb[xi * mstride + lane]. A' = [1 1 1 0; 0 1 -1 -1]. */
void SK_UK(wino_out)(const float *mb, size_t mstride, float *y, int nr)
{
    for (int l = 0; l < nr; l += SK_VW) {
        vf s[2][4];
        for (int j = 0; j < 4; j++) {
            vf m0 = v_ld(mb + (size_t)(0 + j) * mstride + l);
            vf m1 = v_ld(mb + (size_t)(4 + j) * mstride + l);
            vf m2 = v_ld(mb + (size_t)(8 + j) * mstride + l);
            vf m3 = v_ld(mb + (size_t)(12 + j) * mstride + l);
            s[0][j] = v_add(v_add(m0, m1), m2);
            s[1][j] = v_sub(v_sub(m1, m2), m3);
        }
        for (int i = 0; i < 2; i++) {
            v_st(y + (2 * i + 0) * nr + l, v_add(v_add(s[i][0], s[i][1]), s[i][2]));
            v_st(y + (2 * i + 1) * nr + l, v_sub(v_sub(s[i][1], s[i][2]), s[i][3]));
        }
    }
}

/* out[q] = clamp(row[q] + b (+ res[q])) for q < n, where row = y0[0],
 * y1[0], y0[1], y1[1], ...: one output row of 2x2 blocks, with the conv
 * epilogue. An ISA file that defines SK_WINO_ZIP supplies wino_zip(a, b,
 * &lo, &hi) (lo = a0 b0 a1 b1 ..., hi = the upper halves interleaved), so
 * full vectors never go through memory. max(lo, v) / min(hi, v) return v
 * when it is NaN, so a NaN passes as in the GEMM epilogue. */
static inline vf wino_epi1(vf v, vf vb, const float *res, vf vlo, vf vhi)
{
    v = v_add(v, vb);
    if (res)
        v = v_add(v, v_ld(res));
    return v_min(vhi, v_max(vlo, v));
}

void SK_UK(wino_epi)(float *out, const float *y0, const float *y1, size_t n, float b,
                     const float *res, float lo, float hi)
{
    const vf vb = v_set1(b), vlo = v_set1(lo), vhi = v_set1(hi);
    size_t q = 0;
#ifdef SK_WINO_ZIP
    for (; q + 2 * SK_VW <= n; q += 2 * SK_VW) {
        vf a, c;
        wino_zip(v_ld(y0 + q / 2), v_ld(y1 + q / 2), &a, &c);
        v_st(out + q, wino_epi1(a, vb, res ? res + q : NULL, vlo, vhi));
        v_st(out + q + SK_VW, wino_epi1(c, vb, res ? res + q + SK_VW : NULL, vlo, vhi));
    }
#endif
    float row[2 * SK_VW];
    while (q < n) {
        size_t k = n - q < 2 * SK_VW ? n - q : 2 * SK_VW;
        for (size_t t = 0; t < (k + 1) / 2; t++) {
            row[2 * t] = y0[q / 2 + t];
            row[2 * t + 1] = y1[q / 2 + t];
        }
        for (size_t t = 0; t < k; t += SK_VW) {
            size_t m = k - t < SK_VW ? k - t : SK_VW;
            vf v = v_add(v_ld_n(row + t, m, v_zero()), vb);
            if (res)
                v = v_add(v, v_ld_n(res + q + t, m, v_zero()));
            v_st_n(out + q + t, v_min(vhi, v_max(vlo, v)), m);
        }
        q += k;
    }
}
