/* f32_vgelu__avx2.c — AVX2 + FMA3 GELU rows (erf and tanh forms):
 * sk_f32_vgelu_erf__avx2, sk_f32_vgelu_tanh__avx2. The loops live in
 * ../fast_gelu_uk.h; this file picks 8-lane ymm vectors. */
#if defined(__x86_64__)
#define SK_FAST_AVX2 1
#include "../fast_simd.h"
#include "kernels/fast_ops.h"

#include "../fast_gelu_uk.h"

#endif
