/* fast_cdirb_uk.h — the broadcast direct conv's tile (issue 24, session 16;
 * sk_f32_cdirb_tile__avx2 / __avx512f, driver fast_conv_s2b.c), written
 * once against fast_simd.h and included by one file per level, once per
 * tile shape, after it defines SK_CDIRB_NAME (the kernel's name before the
 * level suffix), SK_CDIRB_PT (pixels a tile) and SK_CDIRB_NV (vectors of
 * output channels a tile, over one or more weight panels).
 *
 * Output channels in the lanes, input values broadcast: for a stride-2
 * conv, PT output pixels of one output row and NV * SK_VW output channels,
 *     t[p][m] = sum_k x[p * 2 + koff[k]] * w[k][m]
 * where x points at the first pixel's window origin in the padded input
 * and koff[k] is tap k = (c, ky, kx)'s offset. The weights are W' packed
 * at load as the GEMM's B panels ([k][nr], gemm.h), so per k the tile
 * loads NV weight vectors and broadcasts PT input values straight from the
 * NCHW input — nothing is gathered or packed per run (im2col-gemm spent a
 * quarter of a 3x3 s2 layer on its column gather). All PT pixels are
 * computed (the driver's padded input has the slack for pixels past the
 * row) and written pixel-major to t (ldt floats a pixel) for the driver's
 * transposing epilogue, which stores the row's. */

#ifndef CDIRB_FN /* expands SK_CDIRB_NAME before SK_UK pastes it */
#define CDIRB_FN_(n) SK_UK(n)
#define CDIRB_FN(n) CDIRB_FN_(n)
#endif

#ifndef CDIRB_CAT
#define CDIRB_CAT_(a, b) a##b
#define CDIRB_CAT(a, b) CDIRB_CAT_(a, b)
#endif

/* SK_CDIRB_PT pixels x SK_CDIRB_NV vectors; w: the vectors of k row k at
 * w + k * ldw (+ v * SK_VW within a panel of nr = ldw floats, the next
 * panel wstep floats on). acc_in: the sums start from t (a previous K
 * slice's, session 17 s2r) instead of zero — one FMA chain per output in
 * k order either way, so a K split in slices gives the unsplit bits. */
static inline void CDIRB_CAT(cdirb_body_, SK_CDIRB_NAME)(size_t K, const float *x,
                                                       const int32_t *koff, const float *w,
                                                       size_t ldw, size_t wstep, float *t,
                                                       size_t ldt, int acc_in)
{
    const int vpp = (int)(ldw / SK_VW); /* vectors a panel */
    vf acc[SK_CDIRB_PT][SK_CDIRB_NV];
    SK_UNROLL_TILE
    for (int p = 0; p < SK_CDIRB_PT; p++)
        SK_UNROLL_TILE
        for (int v = 0; v < SK_CDIRB_NV; v++)
            acc[p][v] = acc_in ? v_ld(t + (size_t)p * ldt + (size_t)v * SK_VW) : v_zero();
    const float *wv[SK_CDIRB_NV];
    SK_UNROLL_TILE
    for (int v = 0; v < SK_CDIRB_NV; v++)
        wv[v] = w + (size_t)(v / vpp) * wstep + (size_t)(v % vpp) * SK_VW;
    for (size_t k = 0; k < K; k++) {
        const float *xk = x + koff[k];
        vf wk[SK_CDIRB_NV];
        SK_UNROLL_TILE
        for (int v = 0; v < SK_CDIRB_NV; v++)
            wk[v] = v_ld(wv[v] + k * ldw);
        SK_UNROLL_TILE
        for (int p = 0; p < SK_CDIRB_PT; p++) {
            vf xb = v_set1(xk[2 * p]);
            SK_UNROLL_TILE
            for (int v = 0; v < SK_CDIRB_NV; v++)
                acc[p][v] = v_fma(xb, wk[v], acc[p][v]);
        }
    }
    SK_UNROLL_TILE
    for (int p = 0; p < SK_CDIRB_PT; p++)
        SK_UNROLL_TILE
        for (int v = 0; v < SK_CDIRB_NV; v++)
            v_st(t + (size_t)p * ldt + (size_t)v * SK_VW, acc[p][v]);
}

void CDIRB_FN(SK_CDIRB_NAME)(size_t K, const float *x, const int32_t *koff, const float *w,
                       size_t ldw, size_t wstep, float *t, size_t ldt)
{
    CDIRB_CAT(cdirb_body_, SK_CDIRB_NAME)(K, x, koff, w, ldw, wstep, t, ldt, 0);
}

/* the same tile adding to the sums in t (the driver's K slices) */
void CDIRB_FN(CDIRB_CAT(SK_CDIRB_NAME, _acc))(size_t K, const float *x, const int32_t *koff,
                                              const float *w, size_t ldw, size_t wstep, float *t,
                                              size_t ldt)
{
    CDIRB_CAT(cdirb_body_, SK_CDIRB_NAME)(K, x, koff, w, ldw, wstep, t, ldt, 1);
}
