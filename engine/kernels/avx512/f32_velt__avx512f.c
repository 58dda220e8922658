/* f32_velt__avx512f.c — AVX-512 element-wise loops of the fast non-conv
 * kernels: sk_f32_vadd__avx512f ... sk_f32_verf__avx512f. The loops live in
 * ../fast_velt.h; this file picks 16-lane zmm vectors with mask-register
 * tails. */
#if defined(__x86_64__)
#define SK_FAST_AVX512 1
#include "../fast_simd.h"
#include "kernels/fast_ops.h"

#include "../fast_velt.h"

#endif
