/* peak_int8__avx512vnni.c — the int8 ceiling on zmm: vpdpbusd, 12 chains
 * (peak_lowp.h). Zen 4 issues it on two pipes with a few cycles' latency:
 * 12 independent accumulators keep both busy. */
#include <immintrin.h>

#include "kernels/peak_lowp.h"

double sk_peak_int8_avx512vnni(long iters, int64_t *sum)
{
    const __m512i a = _mm512_set1_epi8((char)SK_PEAK_U8), b = _mm512_set1_epi8((char)SK_PEAK_S8);
#define Z(j) _mm512_set1_epi32(j)
    __m512i c0 = Z(0), c1 = Z(1), c2 = Z(2), c3 = Z(3), c4 = Z(4), c5 = Z(5), c6 = Z(6),
            c7 = Z(7), c8 = Z(8), c9 = Z(9), c10 = Z(10), c11 = Z(11);
#undef Z
    for (long i = 0; i < iters; i++) {
        c0 = _mm512_dpbusd_epi32(c0, a, b);
        c1 = _mm512_dpbusd_epi32(c1, a, b);
        c2 = _mm512_dpbusd_epi32(c2, a, b);
        c3 = _mm512_dpbusd_epi32(c3, a, b);
        c4 = _mm512_dpbusd_epi32(c4, a, b);
        c5 = _mm512_dpbusd_epi32(c5, a, b);
        c6 = _mm512_dpbusd_epi32(c6, a, b);
        c7 = _mm512_dpbusd_epi32(c7, a, b);
        c8 = _mm512_dpbusd_epi32(c8, a, b);
        c9 = _mm512_dpbusd_epi32(c9, a, b);
        c10 = _mm512_dpbusd_epi32(c10, a, b);
        c11 = _mm512_dpbusd_epi32(c11, a, b);
    }
    const __m512i v[12] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11};
    int64_t s = 0;
    for (int j = 0; j < 12; j++)
        s += _mm_cvtsi128_si32(_mm512_castsi512_si128(v[j]));
    *sum = s;
    return (double)iters * 12.0 * 16.0 * 4.0 * 2.0;
}
