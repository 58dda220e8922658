/* peak__avx2_fma.c — the ceiling loop (peak_loop.h) on ymm registers. */
#define SK_FAST_AVX2
#include "kernels/peak_loop.h"

double sk_peak_fma_avx2(long iters, float *sum) { return peak_loop(iters, sum); }
