/* qu8_qc8w_gemv_f32_8c4__avx512vnni.c — the QDQ Gemm head at batch 1-3
 * (fast_qconv_dequant.c, session 14 branch qgm): one row of x times the
 * weights packed as qgemm's 8-row c4 A panels, float output.
 *
 * Why: the 8x32c4 GEMM kernel puts x's rows in its 32 columns, so a batch-1
 * Gemm fills 1 of 32 lanes — a ResNet-50 head (1000 x 2048) spent ~0.27 ms
 * on it, no faster than float. Here the weights are the vector operand: per
 * group of 4 inputs, x's 4 bytes are broadcast and one vpdpbusd (ymm: 8
 * rows x 4 bytes, the panel's own layout, no repacking) adds 32 products,
 * all useful. Four panels (32 outputs) at a time keep four independent
 * accumulators in flight. Every output is one exact int32 sum over all of K
 * and the same epilogue as the GEMM kernel, (float)(acc + bias) * mult: the
 * same bits as the reference. */
#include <immintrin.h>

#include "kernels/fast_qconv_dequant.h"

/* outputs [m_begin, m_end) (m_begin a multiple of 8, m_end <= M) of one
 * row x (kg groups of 4 bytes, bytes ^ flip); panel m0 at pa + m0 * 4 * kg */
void sk_qu8_qc8w_gemv_f32_8c4__avx512vnni(size_t m_begin, size_t m_end, size_t kg,
                                          const int8_t *pa, const uint8_t *x, uint8_t flip,
                                          float *y, const int32_t *bias, const float *mult)
{
    const int32_t *x4 = (const int32_t *)(const void *)x;
    const int32_t f4 = (int32_t)(0x01010101u * flip);
    size_t ps = 32 * kg; /* bytes of one 8-row panel */
    size_t m0 = m_begin;
    for (; m0 + 32 <= m_end; m0 += 32) {
        const int8_t *a = pa + m0 * 4 * kg;
        __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
        for (size_t g = 0; g < kg; g++) {
            int32_t v;
            __builtin_memcpy(&v, x4 + g, 4); /* x rows need not be aligned */
            __m256i xb = _mm256_set1_epi32(v ^ f4);
            const int8_t *ag = a + g * 32;
            c0 = _mm256_dpbusd_epi32(c0, xb, _mm256_loadu_si256((const __m256i *)ag));
            c1 = _mm256_dpbusd_epi32(c1, xb, _mm256_loadu_si256((const __m256i *)(ag + ps)));
            c2 = _mm256_dpbusd_epi32(c2, xb,
                                     _mm256_loadu_si256((const __m256i *)(ag + 2 * ps)));
            c3 = _mm256_dpbusd_epi32(c3, xb,
                                     _mm256_loadu_si256((const __m256i *)(ag + 3 * ps)));
        }
        __m256i c[4] = {c0, c1, c2, c3};
        for (int j = 0; j < 4; j++) {
            size_t m = m0 + 8 * (size_t)j;
            __m256i s = _mm256_add_epi32(c[j], _mm256_loadu_si256((const __m256i *)(bias + m)));
            _mm256_storeu_ps(y + m,
                             _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_loadu_ps(mult + m)));
        }
    }
    for (; m0 < m_end; m0 += 8) { /* the last panels, one at a time; M % 8 masked */
        const int8_t *a = pa + m0 * 4 * kg;
        __m256i c0 = _mm256_setzero_si256();
        for (size_t g = 0; g < kg; g++) {
            int32_t v;
            __builtin_memcpy(&v, x4 + g, 4);
            c0 = _mm256_dpbusd_epi32(c0, _mm256_set1_epi32(v ^ f4),
                                     _mm256_loadu_si256((const __m256i *)(a + g * 32)));
        }
        size_t nr = m_end - m0 < 8 ? m_end - m0 : 8;
        __mmask8 k = (__mmask8)((1u << nr) - 1);
        __m256i s = _mm256_add_epi32(c0, _mm256_maskz_loadu_epi32(k, bias + m0));
        _mm256_mask_storeu_ps(y + m0, k,
                              _mm256_mul_ps(_mm256_cvtepi32_ps(s),
                                            _mm256_maskz_loadu_ps(k, mult + m0)));
    }
}
