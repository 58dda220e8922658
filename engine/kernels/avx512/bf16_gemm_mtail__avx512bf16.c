/* bf16_gemm_mtail__avx512bf16.c — the BF16 GEMM's last rows of a block
 * (sk_gemm_mtail_fn, gemm.h; layout: kernels/bf16.h).
 *
 * Pixel rows at batch 1 put 49 pixels in the rows: six 8-row A panels and
 * one row, which on the 8 x 32 tile costs a full tile per B panel. Here
 * the R = 1..7 rows run across P B panels at once, P chosen so that R x P
 * x 2 accumulators give 8-16 independent vdpbf16ps chains. Each element
 * is the full kernel's computation (one chain over the pairs from zero,
 * then + old C, + bias, + residual, clamp): the same bits. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/bf16.h"

static inline __attribute__((always_inline)) void
mtail_group(size_t kc, const int32_t *a, const float *b, size_t bstride, float *c, size_t ldc,
            const int R, const int P, int ncols, int flags, const sk_ukernel_params *p, int col0)
{
    __m512 acc[7][4][2]; /* [row][panel][half]: R x P x 2 used */
#pragma GCC unroll 7
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int q = 0; q < P; q++)
            acc[r][q][0] = acc[r][q][1] = _mm512_setzero_ps();
    for (size_t s = 0; s < (kc + 1) / 2; s++) {
        const float *bs = b + s * 32;
#pragma GCC unroll 4
        for (int q = 0; q < P; q++) {
            const __m512bh b0 = (__m512bh)_mm512_load_si512(bs + (size_t)q * bstride);
            const __m512bh b1 = (__m512bh)_mm512_load_si512(bs + (size_t)q * bstride + 16);
#pragma GCC unroll 7
            for (int r = 0; r < R; r++) {
                const __m512bh av = (__m512bh)_mm512_set1_epi32(a[s * 8 + (size_t)r]);
                acc[r][q][0] = _mm512_dpbf16_ps(acc[r][q][0], av, b0);
                acc[r][q][1] = _mm512_dpbf16_ps(acc[r][q][1], av, b1);
            }
        }
    }
    const __m512 lo = _mm512_set1_ps(p->min), hi = _mm512_set1_ps(p->max);
    for (int r = 0; r < R; r++)
        for (int q = 0; q < P; q++)
            for (int h = 0; h < 2; h++) {
                const int j = col0 + q * 32 + h * 16, left = ncols - j;
                if (left <= 0)
                    continue;
                const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
                __m512 v = acc[r][q][h];
                float *cr = c + (size_t)r * ldc + j;
                if (flags & SK_UK_ACCUM)
                    v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, cr));
                if (flags & SK_UK_EPI) {
                    if (p->bias_row)
                        v = _mm512_add_ps(v, _mm512_set1_ps(p->bias_row[r]));
                    if (p->bias_col)
                        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, p->bias_col + j));
                    if (p->res)
                        v = _mm512_add_ps(
                            v, _mm512_maskz_loadu_ps(m, p->res + (size_t)r * p->ldres + j));
                    v = _mm512_min_ps(hi, _mm512_max_ps(lo, v)); /* NaNs pass */
                }
                _mm512_mask_storeu_ps(cr, m, v);
            }
}

/* rows x P panels with constant counts, so the accumulators stay in
 * registers */
#define MTAIL(R, P)                                                                        \
    mtail_group(kc, ap, b + (size_t)q0 * bstride, bstride, c, ldc, R, P, ncols, flags, p, \
                q0 * 32)

void sk_bf16_gemm_mtail__avx512bf16(size_t kc, const float *a, const float *b, size_t bstride,
                                    int npanels, float *c, size_t ldc, int rows, int ncols,
                                    int flags, const sk_ukernel_params *p)
{
    const int32_t *ap = (const int32_t *)a;
    static const int group[8] = {0, 4, 3, 2, 2, 1, 1, 1}; /* panels at once, by rows */
    const int P = group[rows];
    int q0 = 0;
    for (; q0 + P <= npanels; q0 += P)
        switch (rows) {
        case 1: MTAIL(1, 4); break;
        case 2: MTAIL(2, 3); break;
        case 3: MTAIL(3, 2); break;
        case 4: MTAIL(4, 2); break;
        case 5: MTAIL(5, 1); break;
        case 6: MTAIL(6, 1); break;
        default: MTAIL(7, 1); break;
        }
    for (; q0 < npanels; q0++) /* the panels left over, one at a time */
        switch (rows) {
        case 1: MTAIL(1, 1); break;
        case 2: MTAIL(2, 1); break;
        case 3: MTAIL(3, 1); break;
        default: MTAIL(4, 1); break;
        }
}
