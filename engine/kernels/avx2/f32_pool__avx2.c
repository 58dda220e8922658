/* f32_pool__avx2.c — MaxPool's 3-wide stride-2 row loops at the avx2
 * level (sk_f32_vmax3__avx2, sk_f32_hmax3s2__avx2,
 * sk_f32_maxpool3s2p1__avx2). The loops live in
 * ../fast_pool_uk.h; this file picks the vector width. */
#if defined(__x86_64__)
#define SK_FAST_AVX2 1
#include "../fast_simd.h"

#include "../fast_pool_uk.h"

#endif
