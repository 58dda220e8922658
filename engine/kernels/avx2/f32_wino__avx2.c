/* f32_wino__avx2.c — the Winograd F(2x2, 3x3) transforms at the avx2 level
 * (sk_f32_wino_cols / in / out / epi__avx2), 16 tiles per B panel. The
 * loops live in ../fast_wino_uk.h; this file picks the vector width. */
#if defined(__x86_64__)
#define SK_FAST_AVX2 1
#include "../fast_simd.h"
#include "kernels/fast.h"

/* Even / odd floats of p[0 .. 16): one in-lane shuffle each, then a
 * cross-lane 64-bit permute puts the halves in order. */
#define SK_WINO_DEINT 1
static inline void wino_deint(const float *p, __m256 *ev, __m256 *od)
{
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
    *od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8));
}

/* a0 b0 a1 b1 ... a7 b7 as two vectors: unpack within 128-bit lanes, then
 * swap the middle halves. */
#define SK_WINO_ZIP 1
static inline void wino_zip(__m256 a, __m256 b, __m256 *lo, __m256 *hi)
{
    __m256 l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);
    *lo = _mm256_permute2f128_ps(l, h, 0x20);
    *hi = _mm256_permute2f128_ps(l, h, 0x31);
}

#include "../fast_wino_uk.h"

#endif
