/* peak_bf16__avx512bf16.c — the bf16 ceiling: vdpbf16ps zmm, 16 chains from
 * distinct starts (peak_lowp.h). 16, not 12: on this Zen 4 host 12 chains
 * read 418 GOP/s and 16-24 chains 454 (a test loop, 8 to 24 chains, under
 * the bench lock): the instruction's latency times its two pipes is more
 * than 12 in flight, so 12 chains under-read the ceiling by 8%. */
#include <immintrin.h>

#include "kernels/peak_lowp.h"

double sk_peak_bf16_avx512bf16(long iters, double *sum)
{
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(SK_PEAK_BF16), _mm512_set1_ps(SK_PEAK_BF16));
#define A(j) _mm512_set1_ps(1.0f + 0.125f * (float)(j))
    __m512 c0 = A(0), c1 = A(1), c2 = A(2), c3 = A(3), c4 = A(4), c5 = A(5), c6 = A(6), c7 = A(7),
           c8 = A(8), c9 = A(9), c10 = A(10), c11 = A(11), c12 = A(12), c13 = A(13), c14 = A(14),
           c15 = A(15);
#undef A
    for (long i = 0; i < iters; i++) {
        c0 = _mm512_dpbf16_ps(c0, a, a);
        c1 = _mm512_dpbf16_ps(c1, a, a);
        c2 = _mm512_dpbf16_ps(c2, a, a);
        c3 = _mm512_dpbf16_ps(c3, a, a);
        c4 = _mm512_dpbf16_ps(c4, a, a);
        c5 = _mm512_dpbf16_ps(c5, a, a);
        c6 = _mm512_dpbf16_ps(c6, a, a);
        c7 = _mm512_dpbf16_ps(c7, a, a);
        c8 = _mm512_dpbf16_ps(c8, a, a);
        c9 = _mm512_dpbf16_ps(c9, a, a);
        c10 = _mm512_dpbf16_ps(c10, a, a);
        c11 = _mm512_dpbf16_ps(c11, a, a);
        c12 = _mm512_dpbf16_ps(c12, a, a);
        c13 = _mm512_dpbf16_ps(c13, a, a);
        c14 = _mm512_dpbf16_ps(c14, a, a);
        c15 = _mm512_dpbf16_ps(c15, a, a);
    }
    const __m512 v[16] = {c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15};
    double s = 0;
    for (int j = 0; j < 16; j++)
        s += (double)_mm512_cvtss_f32(v[j]);
    *sum = s;
    return (double)iters * 16.0 * 16.0 * 2.0 * 2.0;
}
