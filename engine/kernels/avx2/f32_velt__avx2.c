/* f32_velt__avx2.c — AVX2 + FMA3 element-wise loops of the fast non-conv
 * kernels: sk_f32_vadd__avx2 ... sk_f32_verf__avx2. The loops live in
 * ../fast_velt.h (why they are fast is said there); this file picks
 * 8-lane ymm vectors. */
#if defined(__x86_64__)
#define SK_FAST_AVX2 1
#include "../fast_simd.h"
#include "kernels/fast_ops.h"

#include "../fast_velt.h"

#endif
