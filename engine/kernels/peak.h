/* peak.h — the FP32 ceiling: an FMA loop with 12 independent vector
 * accumulators (no loads), per ISA level. Each call does `iters` x 12 FMAs
 * and returns the floating-point operations done (0 where the level has no
 * loop on this machine). For benchmarks (skipserve-bench --peak). */
#ifndef SK_KERNELS_PEAK_H
#define SK_KERNELS_PEAK_H

#include "cpu.h"

double sk_peak_fma_avx2(long iters);
double sk_peak_fma_avx512(long iters);
double sk_peak_fma_scalar(long iters);

static inline double sk_peak_fma(sk_isa isa, long iters)
{
#if defined(__x86_64__)
    if (isa == SK_ISA_AVX512)
        return sk_peak_fma_avx512(iters);
    if (isa == SK_ISA_AVX2)
        return sk_peak_fma_avx2(iters);
#endif
    (void)isa;
    return sk_peak_fma_scalar(iters);
}

#endif
