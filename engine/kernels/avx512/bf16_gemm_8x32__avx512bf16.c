/* bf16_gemm_8x32__avx512bf16.c — the BF16 GEMM microkernel (layout:
 * kernels/bf16.h) and the gathers' conversion of float rows to bf16 pairs.
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

#include "kernels/avx512/bf16_tile_x32__avx512bf16.h"
#include "kernels/avx512/f32_tile_8x32__avx512f.h"
#include "kernels/bf16.h"

#define SK_MR 8
#define SK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

void sk_bf16_gemm_8x32__avx512bf16(size_t kc, const float *a, const float *b, float *c,
                                   size_t ldc, int flags, const sk_ukernel_params *p)
{
    SK_TILE_8X32_PREFETCH();
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL
    SK_BF16_X32_KLOOP();

    SK_TILE_8X32_EPILOGUE();
}

/* vcvtne2ps2bf16 gives [lo 0..15 | hi 0..15] as bf16 (it rounds as
 * vcvtneps2bf16: nearest even, denormals to zero, sk_bf16_round); one
 * vpermw interleaves them into 16 pair words, lo in the low half. */
static inline __m512i pair16(__m512 lo, __m512 hi)
{
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9,
                                         24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1,
                                         16, 0);
    return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* 8 columns (the A panels of pixel rows, mr = 8) */
static inline __m256i pair8(__m256 lo, __m256 hi)
{
    const __m256i idx = _mm256_set_epi16(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
    return _mm256_permutexvar_epi16(idx, (__m256i)_mm256_cvtne2ps_pbh(hi, lo));
}

void sk_bf16_pack2__avx512bf16(float *dst, size_t pstride, int nr, const float *lo,
                               const float *hi, int nb)
{
    if (nr == 8 && nb == 8) { /* a pixel-rows A panel row */
        __m256 l = _mm256_loadu_ps(lo), h = hi ? _mm256_loadu_ps(hi) : _mm256_setzero_ps();
        _mm256_storeu_si256((__m256i *)dst, pair8(l, h));
        return;
    }
    if (nr == 7 && nb == 7) { /* the same for 7-row panels (bf16_gemm_mr7) */
        const __mmask8 m = 0x7f;
        __m256 l = _mm256_maskz_loadu_ps(m, lo), h = hi ? _mm256_maskz_loadu_ps(m, hi) : _mm256_setzero_ps();
        _mm256_mask_storeu_epi32(dst, m, pair8(l, h));
        return;
    }
    if (nr % 16) {
        sk_bf16_pack2_scalar(dst, pstride, nr, lo, hi, nb);
        return;
    }
    /* 16 columns at a time; the last, partial group reads through a mask
     * (a direct source row ends at nb) and writes zeros past nb, the whole
     * remaining panel too */
    for (int q = 0; q * nr < nb; q++) {
        float *d = dst + (size_t)q * pstride;
        for (int c = 0; c < nr; c += 16) {
            const int j = q * nr + c, left = nb - j;
            __m512i w;
            if (left >= 16) {
                __m512 l = _mm512_loadu_ps(lo + j);
                w = pair16(l, hi ? _mm512_loadu_ps(hi + j) : _mm512_setzero_ps());
            } else if (left > 0) {
                const __mmask16 m = (__mmask16)((1u << left) - 1);
                __m512 l = _mm512_maskz_loadu_ps(m, lo + j);
                w = pair16(l, hi ? _mm512_maskz_loadu_ps(m, hi + j) : _mm512_setzero_ps());
            } else {
                w = _mm512_setzero_si512();
            }
            _mm512_storeu_si512(d + c, w);
        }
    }
}

/* 16 values of a tap row from block pixel j (output rows ohv, columns
 * owv): a masked load, the mask the live lanes whose input pixel is inside
 * the image (unsigned compares: a negative row / column is huge); padding
 * lanes are not read. */
static inline __m512 tap16(const sk_bf16_tap *t, __m512i ohv, __m512i owv, int j, __mmask16 live,
                           __m512i vh, __m512i vw)
{
    const __m512i ih = _mm512_add_epi32(ohv, _mm512_set1_epi32(t->dh));
    const __m512i iw = _mm512_add_epi32(owv, _mm512_set1_epi32(t->dw));
    __mmask16 m = _mm512_mask_cmplt_epu32_mask(live, ih, vh);
    m = _mm512_mask_cmplt_epu32_mask(m, iw, vw);
    return _mm512_maskz_loadu_ps(m, t->x + j);
}

void sk_bf16_taps2__avx512bf16(float *dst, size_t pstride, int nr, const sk_bf16_tap *t0,
                               const sk_bf16_tap *t1, const int32_t *oh, const int32_t *ow,
                               int nb, int H, int W)
{
    if (nr % 16) {
        sk_bf16_taps2_scalar(dst, pstride, nr, t0, t1, oh, ow, nb, H, W);
        return;
    }
    const __m512i vh = _mm512_set1_epi32(H), vw = _mm512_set1_epi32(W);
    for (int q = 0; q * nr < nb; q++) {
        float *d = dst + (size_t)q * pstride;
        for (int c = 0; c < nr; c += 16) {
            const int j = q * nr + c, left = nb - j;
            __m512i w = _mm512_setzero_si512();
            if (left > 0) {
                /* oh / ow hold nb values: the last group reads only those */
                const __mmask16 live = left >= 16 ? (__mmask16)0xffff
                                                  : (__mmask16)((1u << left) - 1);
                const __m512i ohv = _mm512_maskz_loadu_epi32(live, oh + j);
                const __m512i owv = _mm512_maskz_loadu_epi32(live, ow + j);
                __m512 lo = tap16(t0, ohv, owv, j, live, vh, vw);
                w = pair16(lo, t1 ? tap16(t1, ohv, owv, j, live, vh, vw) : _mm512_setzero_ps());
            }
            _mm512_storeu_si512(d + c, w);
        }
    }
}
