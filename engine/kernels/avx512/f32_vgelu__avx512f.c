/* f32_vgelu__avx512f.c — AVX-512 GELU rows (erf and tanh forms):
 * sk_f32_vgelu_erf__avx512f, sk_f32_vgelu_tanh__avx512f. The loops live in
 * ../fast_gelu_uk.h; this file picks 16-lane zmm vectors. */
#if defined(__x86_64__)
#define SK_FAST_AVX512 1
#include "../fast_simd.h"
#include "kernels/fast_ops.h"

#include "../fast_gelu_uk.h"

#endif
