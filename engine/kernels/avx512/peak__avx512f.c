/* peak__avx512f.c — the ceiling loop (peak_loop.h) on zmm registers. */
#define SK_FAST_AVX512
#include "kernels/peak_loop.h"

double sk_peak_fma_avx512(long iters, float *sum) { return peak_loop(iters, sum); }
