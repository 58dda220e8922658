/* peak__avx512f.c — 12 independent zmm FMA chains (see peak.h), each from
 * its own start value so the compiler cannot merge them (see
 * avx2/peak__avx2_fma.c for what merging did to the ceiling). */
#include <immintrin.h>

#include "kernels/peak.h"

double sk_peak_fma_avx512(long iters, float *sum)
{
#define A(j) _mm512_set1_ps(1.0f + 0.125f * (float)(j))
    __m512 a0 = A(0), a1 = A(1), a2 = A(2), a3 = A(3), a4 = A(4), a5 = A(5), a6 = A(6),
           a7 = A(7), a8 = A(8), a9 = A(9), a10 = A(10), a11 = A(11);
#undef A
    const __m512 m = _mm512_set1_ps(SK_PEAK_MUL), c = _mm512_set1_ps(SK_PEAK_ADD);
    for (long i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, m, c);
        a1 = _mm512_fmadd_ps(a1, m, c);
        a2 = _mm512_fmadd_ps(a2, m, c);
        a3 = _mm512_fmadd_ps(a3, m, c);
        a4 = _mm512_fmadd_ps(a4, m, c);
        a5 = _mm512_fmadd_ps(a5, m, c);
        a6 = _mm512_fmadd_ps(a6, m, c);
        a7 = _mm512_fmadd_ps(a7, m, c);
        a8 = _mm512_fmadd_ps(a8, m, c);
        a9 = _mm512_fmadd_ps(a9, m, c);
        a10 = _mm512_fmadd_ps(a10, m, c);
        a11 = _mm512_fmadd_ps(a11, m, c);
    }
    __m512 v[12] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11};
    float s = 0;
    for (int j = 0; j < 12; j++)
        s += _mm512_cvtss_f32(v[j]);
    *sum = s;
    return (double)iters * 12.0 * 32.0;
}
