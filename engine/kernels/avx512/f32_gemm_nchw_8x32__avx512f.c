/* f32_gemm_nchw_8x32__avx512f.c — the 1x1 convolution's microkernel with
 * B read in place from NCHW planes (contract: kernels/gemm_nchw.h).
 *
 * The tile and the K loop are the packed 8x32 kernel's (16 zmm
 * accumulators, 2 B loads + 8 broadcasts per 16 FMAs), so it runs as fast
 * once the B rows are in cache; what it saves is the packing pass, which
 * on 7x7 / 14x14 maps copied every activation once per GEMM (im2col-gemm)
 * or gathered and transposed it (pixel rows). B rows are plane-strided
 * (ldb = H*W floats), hence unaligned loads; a vector whose pixels cross
 * into the next image, or pass the last pixel, loads its segments under
 * masks (the slower loop, taken only when a tile needs it). */
#include <immintrin.h>

#include "kernels/gemm_nchw.h"

#define SK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

void sk_f32_gemm_nchw_8x32__avx512f(const float *a, const sk_gemm_nchw_cols *cl,
                                    const sk_gemm_nchw_args *g)
{
    const size_t kc = g->kc, ldb = g->ldb, ldc = g->ldc;
    /* [vector][segment] B rows of the K block, C and residual rows of the tile */
    const float *b[2][2], *res[2][2];
    float *c[2][2];
    __mmask16 m[2][2];
    for (int v = 0; v < 2; v++)
        for (int s = 0; s < 2; s++) {
            b[v][s] = cl->b[v][s] + g->boff;
            c[v][s] = cl->c[v][s] + g->coff;
            res[v][s] = g->has_res ? cl->res[v][s] + g->coff : NULL;
            m[v][s] = (__mmask16)cl->mask[v][s];
        }
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL

#define SK_FMA(r)                                        \
    {                                                    \
        const __m512 av = _mm512_set1_ps(a[k * 8 + r]); \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);      \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);      \
    }
    if (cl->simple) {
        const float *p0 = b[0][0], *p1 = b[1][0];
        for (size_t k = 0; k < kc; k++) {
            const __m512 b0 = _mm512_loadu_ps(p0 + k * ldb);
            const __m512 b1 = _mm512_loadu_ps(p1 + k * ldb);
            SK_ROWS(SK_FMA)
        }
    } else {
        /* a vector's row: its two segments merged under their masks */
        for (size_t k = 0; k < kc; k++) {
            const size_t o = k * ldb;
            const __m512 b0 = _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(m[0][0], b[0][0] + o),
                                                   m[0][1], b[0][1] + o);
            const __m512 b1 = _mm512_mask_loadu_ps(_mm512_maskz_loadu_ps(m[1][0], b[1][0] + o),
                                                   m[1][1], b[1][1] + o);
            SK_ROWS(SK_FMA)
        }
    }
#undef SK_FMA

    /* the epilogue once per tile and K block: rows < g->rows only; a
     * simple tile (both vectors one full segment) without masks */
    __m512 acc[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                        {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    const __m512 vlo = _mm512_set1_ps(g->lo), vhi = _mm512_set1_ps(g->hi);
    const int simple = cl->simple;
    for (int r = 0; r < g->rows; r++) {
        const size_t off = (size_t)r * ldc;
        for (int v = 0; v < 2; v++) {
            __m512 x = acc[r][v];
            if (g->flags & SK_UK_ACCUM)
                x = _mm512_add_ps(x, simple ? _mm512_loadu_ps(c[v][0] + off)
                                            : _mm512_mask_loadu_ps(
                                                  _mm512_maskz_loadu_ps(m[v][0], c[v][0] + off),
                                                  m[v][1], c[v][1] + off));
            if (g->flags & SK_UK_EPI) {
                if (g->bias)
                    x = _mm512_add_ps(x, _mm512_set1_ps(g->bias[r]));
                if (res[v][0])
                    x = _mm512_add_ps(x, simple ? _mm512_loadu_ps(res[v][0] + off)
                                                : _mm512_mask_loadu_ps(
                                                      _mm512_maskz_loadu_ps(m[v][0],
                                                                            res[v][0] + off),
                                                      m[v][1], res[v][1] + off));
                /* max(lo, x), min(hi, x) return x when x is NaN: NaNs pass */
                x = _mm512_min_ps(vhi, _mm512_max_ps(vlo, x));
            }
            if (simple) {
                _mm512_storeu_ps(c[v][0] + off, x);
            } else {
                _mm512_mask_storeu_ps(c[v][0] + off, m[v][0], x);
                _mm512_mask_storeu_ps(c[v][1] + off, m[v][1], x);
            }
        }
    }
}
