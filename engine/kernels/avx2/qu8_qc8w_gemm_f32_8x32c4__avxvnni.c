/* qu8_qc8w_gemm_f32_8x32c4__avxvnni.c — the dequantizing int8 head kernel
 * of _QConvDequant (kernels/fast_qconv_dequant.h) for AVX-VNNI (the AVX2
 * level on Alder Lake / Zen 4 and later; session 15, qft): the packed
 * 8x32c4 panels of the AVX-512 builds, a 4-row x 16-column sub-tile of 8
 * ymm accumulators (lanes = columns) per pass, 2 x 2 passes over K, one
 * 256-bit vpdpbusd per (row, 8 columns, k group) — exact u8 x s8 sums, no
 * saturation. Epilogue as the AVX-512 builds: (float)(acc + bias[m]) *
 * mult[m], one multiply, masked at the column edge: their bits. */
#include <immintrin.h>
#include <string.h>

#include "kernels/fast_qconv_dequant.h"

static inline __m256i bcast4(const int8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm256_set1_epi32(v);
}

static inline void row8f(__m256i acc, int32_t bias, float mult, size_t n, float *y)
{
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(acc, _mm256_set1_epi32(bias))),
                             _mm256_set1_ps(mult));
    if (n >= 8) {
        _mm256_storeu_ps(y, v);
        return;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(y, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane), v);
}

/* the 16 columns [c0, c0 + 16) of a row: n of them stored */
static inline void row16f(__m256i lo, __m256i hi, int32_t bias, float mult, size_t n, float *y)
{
    row8f(lo, bias, mult, n < 8 ? n : 8, y);
    if (n > 8)
        row8f(hi, bias, mult, n - 8, y + 8);
}

void sk_qu8_qc8w_gemm_f32_8x32c4__avxvnni(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                          const uint8_t *b, float *y, size_t ldy,
                                          const int32_t *bias, const float *mult)
{
    for (size_t r0 = 0; r0 < mr; r0 += 4)
        for (size_t c0 = 0; c0 < nr; c0 += 16) {
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
                    c21 = c00, c30 = c00, c31 = c00;
            const int8_t *ap = a + 4 * r0;
            const uint8_t *bp = b + 4 * c0;
            for (size_t g = 0; g < kg; g++, ap += 32, bp += 128) {
                __m256i b0 = _mm256_loadu_si256((const __m256i *)bp);
                __m256i b1 = _mm256_loadu_si256((const __m256i *)(bp + 32));
                __m256i w;
                w = bcast4(ap);
                c00 = _mm256_dpbusd_avx_epi32(c00, b0, w);
                c01 = _mm256_dpbusd_avx_epi32(c01, b1, w);
                w = bcast4(ap + 4);
                c10 = _mm256_dpbusd_avx_epi32(c10, b0, w);
                c11 = _mm256_dpbusd_avx_epi32(c11, b1, w);
                w = bcast4(ap + 8);
                c20 = _mm256_dpbusd_avx_epi32(c20, b0, w);
                c21 = _mm256_dpbusd_avx_epi32(c21, b1, w);
                w = bcast4(ap + 12);
                c30 = _mm256_dpbusd_avx_epi32(c30, b0, w);
                c31 = _mm256_dpbusd_avx_epi32(c31, b1, w);
            }
            size_t n = nr - c0 < 16 ? nr - c0 : 16, m = mr - r0 < 4 ? mr - r0 : 4;
            float *yr = y + r0 * ldy + c0;
            row16f(c00, c01, bias[r0], mult[r0], n, yr);
            if (m > 1)
                row16f(c10, c11, bias[r0 + 1], mult[r0 + 1], n, yr + ldy);
            if (m > 2)
                row16f(c20, c21, bias[r0 + 2], mult[r0 + 2], n, yr + 2 * ldy);
            if (m > 3)
                row16f(c30, c31, bias[r0 + 3], mult[r0 + 3], n, yr + 3 * ldy);
        }
}
