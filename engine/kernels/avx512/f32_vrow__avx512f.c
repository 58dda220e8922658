/* f32_vrow__avx512f.c — AVX-512 row loops of the fast non-conv kernels
 * (reductions, pooling, up-sampling shuffles): sk_f32_rmax__avx512f ...
 * sk_f32_vup2_linear__avx512f. The loops live in ../fast_vrow.h. */
#if defined(__x86_64__)
#define SK_FAST_AVX512 1
#include "../fast_simd.h"
#include "kernels/fast_ops.h"

#include "../fast_vrow.h"

#endif
