/* bf16_gemm_ntail__avx512bf16.c — the BF16 GEMM's narrow last column
 * panel (sk_gemm_ntail_fn, gemm.h; layout: kernels/bf16.h).
 *
 * A 14x14 map's 196 pixels fill six 32-column panels and 4 columns of a
 * seventh, a 28x28 map's 784 half of the 25th: on the 8 x 32 tile those
 * cost a full tile each. Here two A panels (16 rows) times the panel's
 * first 16 columns: 16 zmm accumulators, as many `vdpbf16ps` chains as the
 * full kernel, for half its columns. Each element is the full kernel's
 * computation (one chain over the pairs from zero, then + old C, + bias,
 * + residual, clamp): the same bits. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/bf16.h"

void sk_bf16_gemm_ntail__avx512bf16(size_t kc, const float *a0, const float *a1, const float *b,
                                    float *c, size_t ldc, int rows, int cols, int flags,
                                    const sk_ukernel_params *p)
{
    __m512 acc[16];
    for (int r = 0; r < 16; r++)
        acc[r] = _mm512_setzero_ps();
    const int32_t *p0 = (const int32_t *)a0, *p1 = (const int32_t *)a1;
    for (size_t s = 0; s < (kc + 1) / 2; s++, p0 += 8, p1 += 8, b += 32) {
        const __m512bh bk = (__m512bh)_mm512_load_si512(b);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_set1_epi32(p0[r]), bk);
            acc[8 + r] = _mm512_dpbf16_ps(acc[8 + r], (__m512bh)_mm512_set1_epi32(p1[r]), bk);
        }
    }
    /* cols <= 16: the lanes past it are neither read nor written */
    const __mmask16 m = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
    for (int r = 0; r < rows; r++) {
        __m512 v = acc[r];
        float *cr = c + (size_t)r * ldc;
        if (flags & SK_UK_ACCUM)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, cr));
        if (flags & SK_UK_EPI) {
            if (p->bias_row)
                v = _mm512_add_ps(v, _mm512_set1_ps(p->bias_row[r]));
            if (p->bias_col)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, p->bias_col));
            if (p->res)
                v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, p->res + (size_t)r * p->ldres));
            /* the full kernel's min(hi, max(lo, x)): NaNs pass */
            v = _mm512_min_ps(_mm512_set1_ps(p->max), _mm512_max_ps(_mm512_set1_ps(p->min), v));
        }
        _mm512_mask_storeu_ps(cr, m, v);
    }
}
