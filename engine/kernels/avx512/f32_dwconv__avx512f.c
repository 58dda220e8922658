/* f32_dwconv__avx512f.c — the depthwise convolution's vector loops at the avx512
 * level (sk_f32_dw_rows__avx512f). The loops live in ../fast_dw_uk.h;
 * this file picks the vector width. */
#if defined(__x86_64__)
#define SK_FAST_AVX512 1
#include "../fast_simd.h"
#include "kernels/fast.h"

#include "../fast_dw_uk.h"

#endif
