/* peak_int8__avx2.c — the int8 ceiling of plain AVX2 (peak_lowp.h): u8 x s8
 * by vpmaddubsw (pairs to saturating int16), vpmaddwd by ones (pairs to
 * int32), vpaddd into the chain: 3 instructions per 32 products, the
 * sequence an AVX2 int8 GEMM runs. The chains are the vpaddd; the two
 * multiplies of a step read `a`, which an empty asm statement "changes"
 * before every step so the compiler cannot compute them once and add the
 * result into all twelve chains (they are what is measured; with one asm
 * per iteration gcc computed them once a loop — session 18's review). */
#include <immintrin.h>

#include "kernels/peak_lowp.h"

#define STEP(c)                                                                   \
    __asm__ volatile("" : "+x"(a));                                               \
    c = _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones))

double sk_peak_int8_avx2(long iters, int64_t *sum)
{
    __m256i a = _mm256_set1_epi8((char)SK_PEAK_U8);
    const __m256i b = _mm256_set1_epi8((char)SK_PEAK_S8), ones = _mm256_set1_epi16(1);
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
