/* qu8_qc8w_gemm_4x8c4__avx2.c — int8 GEMM microkernel for AVX2 without
 * VNNI: 4 rows x 8 columns on the c4 layout (qgemm.h).
 *
 * The u8 x s8 saturation choice: vpmaddubsw adds two u8*s8 products into an
 * int16 with saturation (255*127*2 = 64770 > 32767), so it is not exact
 * for arbitrary int8 weights. MLAS / oneDNN either quantize weights to
 * 7 bits (onnxruntime's reduce_range, oneDNN's 0.5 weight scale on
 * non-VNNI), which changes the model's numbers, or widen. We widen: the
 * activations are zero-extended and the weights sign-extended to int16
 * (vpmovzxbw / vpmovsxbw) and multiplied by vpmaddwd, whose int16 x int16
 * pair sums are exact in int32. Same results as the VNNI kernels and the
 * reference for any int8 weights, at half vpmaddubsw's rate; the widened
 * form leaves (column, pair) partial sums in the lanes, added by one vphaddd
 * per row after the K loop. */
#include <immintrin.h>
#include <string.h>

#include "kernels/qgemm_epi_avx2.h"

/* the 4 weights of one row, int16, in each 64-bit lane */
static inline __m256i wbcast(const int8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(v)));
}

/* lanes (c0 pair0, c0 pair1, c1 p0, c1 p1 | c2.., c3..) of two accumulators
 * (columns 0-3 and 4-7) -> the 8 column sums in order */
static inline __m256i fold(__m256i lo, __m256i hi)
{
    return _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xD8);
}

void sk_qu8_qc8w_gemm_4x8c4__avx2(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                  const uint8_t *b, void *y, size_t ldy, const void *res,
                                  size_t ldr, size_t m0, const sk_qgemm_params *p)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00;
    for (size_t g = 0; g < kg; g++) {
        __m128i braw0 = _mm_loadu_si128((const __m128i *)b);
        __m128i braw1 = _mm_loadu_si128((const __m128i *)(b + 16));
        __m256i b0 = _mm256_cvtepu8_epi16(braw0); /* columns 0-3, 4 k each */
        __m256i b1 = _mm256_cvtepu8_epi16(braw1); /* columns 4-7 */
        __m256i w;
        w = wbcast(a + 0);
        c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(b0, w));
        c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(b1, w));
        w = wbcast(a + 4);
        c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(b0, w));
        c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(b1, w));
        w = wbcast(a + 8);
        c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(b0, w));
        c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(b1, w));
        w = wbcast(a + 12);
        c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(b0, w));
        c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(b1, w));
        a += 16;
        b += 32;
    }
    __m256i acc[4] = {fold(c00, c01), fold(c10, c11), fold(c20, c21), fold(c30, c31)};
    for (size_t r = 0; r < mr; r++)
        qepi_row8(acc[r], m0 + r, nr, (uint8_t *)y + r * ldy,
                  res ? (const uint8_t *)res + r * ldr : NULL, p);
}
