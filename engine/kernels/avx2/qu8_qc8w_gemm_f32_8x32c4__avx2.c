/* qu8_qc8w_gemm_f32_8x32c4__avx2.c — the dequantizing int8 head kernel of
 * _QConvDequant (kernels/fast_qconv_dequant.h) for the AVX2 level without
 * VNNI (session 15, qft), on the same packed 8x32c4 panels as the AVX-512
 * builds, bit for bit their output.
 *
 * The u8 x s8 saturation: as qgemm's AVX2 kernel (qu8_qc8w_gemm_4x8c4__avx2,
 * whose reasons apply), no vpmaddubsw — its int16 pair sums saturate for
 * 255 * 127 * 2 — but the bytes widened (vpmovzxbw for x, vpmovsxbw for the
 * weights) and multiplied by vpmaddwd, exact in int32, for any int8
 * weights. 16 ymm registers hold a 4-row x 8-column sub-tile (8
 * accumulators of (column, pair) partial sums, folded by vphaddd after the
 * K loop), so the 8 x 32 tile is 2 x 4 passes over K. Epilogue as the
 * AVX-512 builds: (float)(acc + bias[m]) * mult[m], cvtdq2ps then one
 * multiply (no FMA), masked at the column edge. */
#include <immintrin.h>
#include <string.h>

#include "kernels/fast_qconv_dequant.h"

static inline __m256i wbcast16(const int8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(v)));
}

/* (acc + bias) * mult for columns [0, n) of 8 */
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

/* lanes (c0 pair0, c0 pair1, c1 p0, c1 p1 | c2.., c3..) of columns 0-3 and
 * 4-7 -> the 8 column sums in order */
static inline __m256i fold(__m256i lo, __m256i hi)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xD8);
}

void sk_qu8_qc8w_gemm_f32_8x32c4__avx2(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                       const uint8_t *b, float *y, size_t ldy,
                                       const int32_t *bias, const float *mult)
{
    for (size_t r0 = 0; r0 < mr; r0 += 4)
        for (size_t c0 = 0; c0 < nr; c0 += 8) {
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
                    c21 = c00, c30 = c00, c31 = c00;
            const int8_t *ap = a + 4 * r0;
            const uint8_t *bp = b + 4 * c0;
            for (size_t g = 0; g < kg; g++, ap += 32, bp += 128) {
                __m256i b0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)bp));
                __m256i b1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(bp + 16)));
                __m256i w;
                w = wbcast16(ap);
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(b0, w));
                c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(b1, w));
                w = wbcast16(ap + 4);
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(b0, w));
                c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(b1, w));
                w = wbcast16(ap + 8);
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(b0, w));
                c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(b1, w));
                w = wbcast16(ap + 12);
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(b0, w));
                c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(b1, w));
            }
            size_t n = nr - c0 < 8 ? nr - c0 : 8, m = mr - r0 < 4 ? mr - r0 : 4;
            float *yr = y + r0 * ldy + c0;
            row8f(fold(c00, c01), bias[r0], mult[r0], n, yr);
            if (m > 1)
                row8f(fold(c10, c11), bias[r0 + 1], mult[r0 + 1], n, yr + ldy);
            if (m > 2)
                row8f(fold(c20, c21), bias[r0 + 2], mult[r0 + 2], n, yr + 2 * ldy);
            if (m > 3)
                row8f(fold(c30, c31), bias[r0 + 3], mult[r0 + 3], n, yr + 3 * ldy);
        }
}
