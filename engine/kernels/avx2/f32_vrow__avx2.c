/* f32_vrow__avx2.c — AVX2 + FMA3 row loops of the fast non-conv kernels
 * (reductions, pooling, up-sampling shuffles): sk_f32_rmax__avx2 ...
 * sk_f32_vup2_linear__avx2. The loops live in ../fast_vrow.h. */
#if defined(__x86_64__)
#define SK_FAST_AVX2 1
#include "../fast_simd.h"
#include "kernels/fast_ops.h"

#include "../fast_vrow.h"

#endif
