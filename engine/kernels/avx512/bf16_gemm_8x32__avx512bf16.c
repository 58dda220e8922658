/* bf16_gemm_8x32__avx512bf16.c — the BF16 GEMM microkernel (layout:
 * kernels/bf16.h) and the B block's conversion to bf16 pairs.
 *
 * The FP32 kernel's 8 x 32 tile: 8 rows x 2 zmm = 16 float32
 * accumulators, each vdpbf16ps doing 16 lanes x 2 multiply-adds. Per pair
 * step: 2 B loads + 8 broadcast pairs for 16 vdpbf16ps (twice the MACs of
 * the FP32 kernel's k step for the same loads). 16 chains cover the
 * instruction's latency on two pipes as for the FMAs. The epilogue (bias,
 * residual, clamp, accumulate) is the FP32 kernel's, in float32. Compiled
 * with -mavx512bf16 (Makefile), called only through a config whose CPU has
 * it (config.c). */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/avx512/f32_tile_8x32__avx512f.h"
#include "kernels/bf16.h"

#define SK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

void sk_bf16_gemm_8x32__avx512bf16(size_t kc, const float *a, const float *b, float *c,
                                   size_t ldc, int flags, const sk_ukernel_params *p)
{
    SK_TILE_8X32_PREFETCH();
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL
    const int32_t *ap = (const int32_t *)a;
    /* one pair step: A's pair slot is row k's (8 words), B's row k's
     * (32 words); the next pair is two rows on */
#define SK_DP(r)                                                         \
    {                                                                    \
        const __m512bh av = (__m512bh)_mm512_set1_epi32(ap[(off) * 8 + r]); \
        c##r##0 = _mm512_dpbf16_ps(c##r##0, av, b0);                     \
        c##r##1 = _mm512_dpbf16_ps(c##r##1, av, b1);                     \
    }
#define SK_STEP(o)                                                        \
    do {                                                                  \
        const size_t off = (o);                                           \
        const __m512bh b0 = (__m512bh)_mm512_load_si512(b + off * 32);    \
        const __m512bh b1 = (__m512bh)_mm512_load_si512(b + off * 32 + 16); \
        SK_ROWS(SK_DP)                                                    \
    } while (0)
    size_t pairs = (kc + 1) / 2;
    for (; pairs >= 2; pairs -= 2) {
        SK_STEP(0);
        SK_STEP(2);
        ap += 32;
        b += 128;
    }
    if (pairs)
        SK_STEP(0);
#undef SK_STEP
#undef SK_DP

    SK_TILE_8X32_EPILOGUE();
}

/* 16 columns of rows k (lo) and k+1 (hi) -> 16 pair words. vcvtneps2bf16
 * rounds to nearest even with denormals to zero (sk_bf16_round). */
static inline __m512i pair16(__m512 lo, __m512 hi)
{
    __m512i l = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo));
    __m512i h = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
    return _mm512_or_si512(l, _mm512_slli_epi32(h, 16));
}

/* 8 columns (the A panels of pixel rows, mr = 8) */
static inline __m256i pair8(__m256 lo, __m256 hi)
{
    __m256i l = _mm256_cvtepu16_epi32((__m128i)_mm256_cvtneps_pbh(lo));
    __m256i h = _mm256_cvtepu16_epi32((__m128i)_mm256_cvtneps_pbh(hi));
    return _mm256_or_si256(l, _mm256_slli_epi32(h, 16));
}

void sk_bf16_pairs__avx512bf16(float *dst, int kc, int nr, int npanels, size_t pstride)
{
    if (nr == 8) {
        for (int q = 0; q < npanels; q++) {
            float *base = dst + (size_t)q * pstride;
            for (int k = 0; k < kc; k += 2) {
                float *r0 = base + (size_t)k * 8;
                __m256 lo = _mm256_loadu_ps(r0);
                __m256 hi = k + 1 < kc ? _mm256_loadu_ps(r0 + 8) : _mm256_setzero_ps();
                _mm256_storeu_si256((__m256i *)r0, pair8(lo, hi));
            }
        }
        return;
    }
    if (nr % 16) {
        sk_bf16_pairs_scalar(dst, kc, nr, npanels, pstride);
        return;
    }
    const __m512 zero = _mm512_setzero_ps();
    for (int q = 0; q < npanels; q++) {
        float *base = dst + (size_t)q * pstride;
        for (int k = 0; k < kc; k += 2) {
            float *r0 = base + (size_t)k * (size_t)nr;
            const float *r1 = r0 + nr;
            const int has1 = k + 1 < kc;
            /* row k's slot is overwritten only after both rows of this
             * column range are loaded */
            for (int c = 0; c < nr; c += 16) {
                __m512 lo = _mm512_loadu_ps(r0 + c), hi = has1 ? _mm512_loadu_ps(r1 + c) : zero;
                _mm512_storeu_si512(r0 + c, pair16(lo, hi));
            }
        }
    }
}
