/* f32_wino__avx512f.c — the Winograd F(2x2, 3x3) transforms at the avx512 level
 * (sk_f32_wino_cols / in / out / epi__avx512f), 32 tiles per B panel. The
 * loops live in ../fast_wino_uk.h; this file picks the vector width. */
#if defined(__x86_64__)
#define SK_FAST_AVX512 1
#include "../fast_simd.h"
#include "kernels/fast.h"

/* No SK_WINO_DEINT here: the column gather de-interleaves with
 * fast_simd.h's v_deint2 (one two-source permute per output vector). */
#include "../fast_wino_uk.h"

#endif
