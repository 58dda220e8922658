/* peak.h — the FP32 ceiling: an FMA loop with 12 independent vector
 * accumulators (no loads), per ISA level. Chain j starts at 1 + j/8 and
 * runs a = a * SK_PEAK_MUL + SK_PEAK_ADD `iters` times; the call returns the
 * floating-point operations done and stores the sum of one lane of each
 * chain (j = 0..11, in order) in *sum, so a test can check that twelve
 * distinct chains really ran. For benchmarks (skipserve-bench --peak). */
#ifndef SK_KERNELS_PEAK_H
#define SK_KERNELS_PEAK_H

#include "cpu.h"

#define SK_PEAK_MUL 0.99999f
#define SK_PEAK_ADD 1e-5f

double sk_peak_fma_avx2(long iters, float *sum);
double sk_peak_fma_avx512(long iters, float *sum);
double sk_peak_fma_scalar(long iters, float *sum);

static inline double sk_peak_fma(sk_isa isa, long iters, float *sum)
{
#if defined(__x86_64__)
    if (isa == SK_ISA_AVX512)
        return sk_peak_fma_avx512(iters, sum);
    if (isa == SK_ISA_AVX2)
        return sk_peak_fma_avx2(iters, sum);
#endif
    (void)isa;
    return sk_peak_fma_scalar(iters, sum);
}

#endif
