/* peak_int8w__avx2.c — the int8 ceiling of the exact AVX2 form (peak_lowp.h,
 * session 18): the arithmetic of qu8_qc8w_igemm_4x16c4__avx2 per 4-byte
 * group and 8 channels, u8 x s8 bytes already widened to int16 pairs:
 *   c += vpmaddwd(xe, we) + vpmaddwd(xo, wo)
 * (two vpmaddwd, two vpaddd for 32 products; the kernel adds the widening
 * shifts / masks on top). An empty asm "changes" xe and xo before every
 * step, so the compiler cannot compute the products once and add them into
 * all twelve chains (with one asm per iteration gcc did exactly that: 2
 * vpmaddwd a loop — session 18's review; objdump shows 24 now). */
#include <immintrin.h>

#include "kernels/peak_lowp.h"

#define STEP(c)                                                                           \
    __asm__ volatile("" : "+x"(xe), "+x"(xo));                                            \
    c = _mm256_add_epi32(c, _mm256_add_epi32(_mm256_madd_epi16(xe, w),                    \
                                             _mm256_madd_epi16(xo, w)))

double sk_peak_int8w_avx2(long iters, int64_t *sum)
{
    __m256i xe = _mm256_set1_epi16(SK_PEAK_U8), xo = xe;
    const __m256i w = _mm256_set1_epi16(SK_PEAK_S8);
#define Z(j) _mm256_set1_epi32(j)
    __m256i c0 = Z(0), c1 = Z(1), c2 = Z(2), c3 = Z(3), c4 = Z(4), c5 = Z(5), c6 = Z(6),
            c7 = Z(7), c8 = Z(8), c9 = Z(9), c10 = Z(10), c11 = Z(11);
#undef Z
    for (long i = 0; i < iters; i++) {
        STEP(c0);
        STEP(c1);
        STEP(c2);
        STEP(c3);
        STEP(c4);
        STEP(c5);
        STEP(c6);
        STEP(c7);
        STEP(c8);
        STEP(c9);
        STEP(c10);
        STEP(c11);
    }
    const __m256i v[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
    int64_t s = 0;
    for (int j = 0; j < 12; j++)
        s += _mm_cvtsi128_si32(_mm256_castsi256_si128(v[j]));
    *sum = s;
    return (double)iters * 12.0 * 8.0 * 4.0 * 2.0;
}
