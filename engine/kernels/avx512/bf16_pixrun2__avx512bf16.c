/* bf16_pixrun2__avx512bf16.c — the A panels of BF16 pixel rows (7x7 maps,
 * fast_conv_pixrows.c) gathered and converted in one pass (config.h
 * sk_bf16_runs2_fn; session 18, branch bfl).
 *
 * Why: a 7x7 stride-1 conv's 7-row panel is one output row, so each tap's
 * 7 values are 7 consecutive input pixels (a run) with the padding at its
 * ends (every other pixel at stride 2). The table gather (pixrows_gather) reads them one by one through
 * the offset table, into a float row, and then bf16_pack2 converts two
 * such rows: ResNet-18's layer 4 (K = 4608, 7 panels) spent about a fifth
 * of its BF16 time there. Here a pair slot is two masked loads, one
 * vcvtne2ps2bf16, one vpermw and one masked store; masked-off lanes (the
 * padding) are never read, so a run that starts one pixel before its
 * plane cannot fault. The words are pack2's: the same rounding
 * (vcvtne2ps2bf16, kernels/bf16.h), the same zeros. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/bf16.h"

/* tap run `r` of channel plane xc: its live lanes, zero elsewhere. The
 * address is formed as an integer: lane 0 may sit before the plane
 * (masked off), and a pointer outside its object would be UB. Stride 2
 * (ResNet's layer-4 entry, 14x14 -> 7x7): 16 pixels masked, the even ones
 * kept by one vpermps. */
static inline __m256 run8(const float *xc, const sk_bf16_run *r, int step)
{
    if (!r->mask)
        return _mm256_setzero_ps();
    const uintptr_t a = (uintptr_t)xc + (uintptr_t)(r->off * (int64_t)sizeof(float));
    if (step == 1)
        return _mm256_maskz_loadu_ps((__mmask8)r->mask, (const float *)a);
    const __m512i even = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512 v = _mm512_maskz_loadu_ps((__mmask16)r->mask, (const float *)a);
    return _mm512_castps512_ps256(_mm512_permutexvar_ps(even, v));
}

void sk_bf16_runs2__avx512bf16(float *dst, int mr, int step, const float *x, size_t in_px,
                               const sk_bf16_run *run, int kvol, int64_t k0, int64_t k1)
{
    /* pair8 of bf16_gemm_8x32__avx512bf16.c: [lo | hi] bf16 interleaved
     * into 8 pair words, lo in the low half */
    const __m256i idx = _mm256_set_epi16(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
    const __mmask8 store = (__mmask8)((1u << mr) - 1);
    int64_t c = k0 / kvol;
    int t = (int)(k0 % kvol);
    for (int64_t k = k0; k < k1; k += 2, dst += mr) {
        const __m256 lo = run8(x + (size_t)c * in_px, &run[t], step);
        if (++t == kvol) {
            t = 0;
            c++;
        }
        __m256 hi = _mm256_setzero_ps();
        if (k + 1 < k1) {
            hi = run8(x + (size_t)c * in_px, &run[t], step);
            if (++t == kvol) {
                t = 0;
                c++;
            }
        }
        const __m256i w = _mm256_permutexvar_epi16(idx, (__m256i)_mm256_cvtne2ps_pbh(hi, lo));
        _mm256_mask_storeu_epi32(dst, store, w);
    }
}
