/* f32_transpose__avx2.c — out-of-place 2-D float transpose,
 * dst[j * ldd + i] = src[i * lds + j], and the same with a conv epilogue
 * (the pixel-rows convolution's output: channels become rows again).
 *
 * Why fast: an 8x8 block moves through registers (8 row loads, 24 shuffles,
 * 8 row stores) instead of 64 scalar loads with a strided store each, and
 * blocks are visited in 64x64 tiles so the rows of both src and dst a tile
 * touches stay in L1. AVX-512 machines run this kernel too: the op is bound
 * by memory, not by shuffle width. */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/fast_ops.h"

/* The 8x8 block of s transposed into r[0..8): r[j] = column j of s. */
static inline void t8x8_regs(const float *s, size_t lds, __m256 *r)
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
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

static inline void t8x8(const float *s, size_t lds, float *d, size_t ldd)
{
    __m256 r[8];
    t8x8_regs(s, lds, r);
    for (int j = 0; j < 8; j++)
        _mm256_storeu_ps(d + (size_t)j * ldd, r[j]);
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

/* One output element of the epilogue; NaN passes through the clamp, as in
 * the GEMM microkernels. */
static inline float epi1(float v, const float *bias, size_t j, const float *res, float lo,
                         float hi)
{
    if (bias)
        v += bias[j];
    if (res)
        v += *res;
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return v;
}

void sk_f32_transpose_epi__avx2(size_t rows, size_t cols, const float *src, size_t lds,
                                float *dst, size_t ldd, const float *bias, const float *res,
                                float lo, float hi)
{
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    for (size_t j0 = 0; j0 < cols; j0 += TILE) {
        size_t j1 = j0 + TILE < cols ? j0 + TILE : cols;
        size_t j = j0;
        for (; j + 8 <= j1; j += 8) {
            /* 8 output rows at a time: the block leaves the transpose in
             * registers and gets bias, residual and clamp before its store */
            size_t i = 0;
            for (; i + 8 <= rows; i += 8) {
                __m256 r[8];
                t8x8_regs(src + i * lds + j, lds, r);
                for (int q = 0; q < 8; q++) {
                    float *d = dst + (j + (size_t)q) * ldd + i;
                    __m256 v = r[q];
                    if (bias)
                        v = _mm256_add_ps(v, _mm256_broadcast_ss(bias + j + q));
                    if (res)
                        v = _mm256_add_ps(v, _mm256_loadu_ps(res + (j + (size_t)q) * ldd + i));
                    _mm256_storeu_ps(d, _mm256_min_ps(vhi, _mm256_max_ps(vlo, v)));
                }
            }
            for (size_t q = j; q < j + 8; q++) /* the last rows % 8 pixels */
                for (size_t k = i; k < rows; k++)
                    dst[q * ldd + k] = epi1(src[k * lds + q], bias, q,
                                            res ? res + q * ldd + k : NULL, lo, hi);
        }
        for (; j < j1; j++) /* the last cols % 8 channels */
            for (size_t k = 0; k < rows; k++)
                dst[j * ldd + k] =
                    epi1(src[k * lds + j], bias, j, res ? res + j * ldd + k : NULL, lo, hi);
    }
}

#endif
