/* fast_dw_uk.h — the vector loop of the depthwise convolution
 * (fast_dwconv.c), written once against the fast_ops_simd.h layer and
 * compiled per ISA by avx2/f32_dwconv__avx2.c and avx512/f32_dwconv__avx512f.c.
 * Include after fast_ops_simd.h. */

/* For each of `rows` output row segments r (y + r*ldy, residual res +
 * r*ldy, taps src[t] + r*lds):
 *     y[q] = clamp(b + sum_t w[t] * src[t][q] (+ res[q])),  q < n,
 * where every tap reads inside the input (src[t] already points at the
 * tap's input for the first row's first column). The accumulator stays in
 * a register across all taps and the epilogue, so each output vector is
 * stored once; each tap costs one load and one FMA. max(lo, v) / min(hi, v)
 * let a NaN through, as in the GEMM epilogue. */
void SK_UK(dw_rows)(float *y, size_t ldy, const float *const *src, size_t lds, const float *w,
                    int ntaps, size_t n, size_t rows, float b, const float *res, float lo,
                    float hi)
{
    const vf vb = v_set1(b), vlo = v_set1(lo), vhi = v_set1(hi);
    for (size_t r = 0; r < rows; r++, y += ldy, res = res ? res + ldy : NULL) {
        const size_t so = r * lds;
        size_t q = 0;
        for (; q + SK_VW <= n; q += SK_VW) {
            vf a = vb;
            for (int t = 0; t < ntaps; t++)
                a = v_fma(v_set1(w[t]), v_ld(src[t] + so + q), a);
            if (res)
                a = v_add(a, v_ld(res + q));
            v_st(y + q, v_min(vhi, v_max(vlo, a)));
        }
        if (q < n) {
            size_t m = n - q;
            vf a = vb;
            for (int t = 0; t < ntaps; t++)
                a = v_fma(v_set1(w[t]), v_ld_n(src[t] + so + q, m, v_zero()), a);
            if (res)
                a = v_add(a, v_ld_n(res + q, m, v_zero()));
            v_st_n(y + q, v_min(vhi, v_max(vlo, a)), m);
        }
    }
}
