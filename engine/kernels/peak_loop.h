/* peak_loop.h — the ceiling loop of peak.h, written once against the vector
 * layer (fast_simd.h) and included by avx2/peak__avx2_fma.c and
 * avx512/peak__avx512f.c, so both levels run the same twelve chains.
 *
 * Every chain starts from its own value. Until session 10 they all started
 * from 1.0f, so the twelve chains computed the same numbers and gcc kept one
 * of them: the loop ran one FMA per iteration on its 4-cycle latency while
 * the count claimed twelve, and the ceiling read 1.5x too high (155 instead
 * of ~103 GFLOP/s on the development VM). test_peak checks the chains' sum
 * against twelve distinct scalar chains. */
#ifndef SK_PEAK_LOOP_H
#define SK_PEAK_LOOP_H

#include "kernels/fast_simd.h"
#include "kernels/peak.h"

/* Two FMA pipes x 4-cycle latency need 8 independent chains; 12 leave no
 * stall. */
static double peak_loop(long iters, float *sum)
{
#define A(j) v_set1(1.0f + 0.125f * (float)(j))
    vf a0 = A(0), a1 = A(1), a2 = A(2), a3 = A(3), a4 = A(4), a5 = A(5), a6 = A(6), a7 = A(7),
       a8 = A(8), a9 = A(9), a10 = A(10), a11 = A(11);
#undef A
    const vf m = v_set1(SK_PEAK_MUL), c = v_set1(SK_PEAK_ADD);
    for (long i = 0; i < iters; i++) {
        a0 = v_fma(a0, m, c);
        a1 = v_fma(a1, m, c);
        a2 = v_fma(a2, m, c);
        a3 = v_fma(a3, m, c);
        a4 = v_fma(a4, m, c);
        a5 = v_fma(a5, m, c);
        a6 = v_fma(a6, m, c);
        a7 = v_fma(a7, m, c);
        a8 = v_fma(a8, m, c);
        a9 = v_fma(a9, m, c);
        a10 = v_fma(a10, m, c);
        a11 = v_fma(a11, m, c);
    }
    /* one lane of each chain (all lanes of a chain are equal), in order */
    const vf v[12] = {a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11};
    float s = 0, lanes[SK_VW];
    for (int j = 0; j < 12; j++) {
        v_st(lanes, v[j]);
        s += lanes[0];
    }
    *sum = s;
    return (double)iters * 12.0 * 2.0 * SK_VW;
}

#endif
