/* f32_transpose__avx2.c — out-of-place 2-D float transpose,
 * dst[j * ldd + i] = src[i * lds + j].
 *
 * Why fast: an 8x8 block moves through registers (8 row loads, 24 shuffles,
 * 8 row stores) instead of 64 scalar loads with a strided store each, and
 * blocks are visited in 64x64 tiles so the rows of both src and dst a tile
 * touches stay in L1. AVX-512 machines run this kernel too: the op is bound
 * by memory, not by shuffle width. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/fast_ops.h"

static inline void t8x8(const float *s, size_t lds, float *d, size_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + lds);
    __m256 r2 = _mm256_loadu_ps(s + 2 * lds), r3 = _mm256_loadu_ps(s + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(s + 4 * lds), r5 = _mm256_loadu_ps(s + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(s + 6 * lds), r7 = _mm256_loadu_ps(s + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

#define TILE 64

void sk_f32_transpose__avx2(size_t rows, size_t cols, const float *src, size_t lds, float *dst,
                            size_t ldd)
{
    for (size_t i0 = 0; i0 < rows; i0 += TILE) {
        size_t i1 = i0 + TILE < rows ? i0 + TILE : rows;
        for (size_t j0 = 0; j0 < cols; j0 += TILE) {
            size_t j1 = j0 + TILE < cols ? j0 + TILE : cols;
            size_t i = i0;
            for (; i + 8 <= i1; i += 8) {
                size_t j = j0;
                for (; j + 8 <= j1; j += 8)
                    t8x8(src + i * lds + j, lds, dst + j * ldd + i, ldd);
                for (; j < j1; j++) /* right edge: a few columns */
                    for (size_t k = i; k < i + 8; k++)
                        dst[j * ldd + k] = src[k * lds + j];
            }
            for (; i < i1; i++) /* bottom edge: a few rows */
                for (size_t j = j0; j < j1; j++)
                    dst[j * ldd + i] = src[i * lds + j];
        }
    }
}

#endif
