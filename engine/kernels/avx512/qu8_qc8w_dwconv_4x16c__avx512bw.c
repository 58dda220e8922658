/* qu8_qc8w_dwconv_4x16c__avx512bw.c — the int8 depthwise kernel (qdwconv.h)
 * on AVX-512BW: 16 channels a zmm, 4 output pixels at a time (4 int32
 * accumulators), so each tap's weight vector is loaded once for 4 pixels.
 * Per tap and pixel: one masked 16-byte load, vpxor (int8 x), vpmovzxbd,
 * vpmaddwd against the (w, 0) pairs, vpaddd. The epilogue is
 * qu8_requant16__avx512f.h's NHWC form (qepi16): the reference's bits. */
#include <immintrin.h>

#include "kernels/qdwconv.h"
#include "qu8_requant16__avx512f.h"

/* one tap of one pixel: 16 input bytes widened, times the tap's weights */
#define DW_MAC(acc, px)                                                                    \
    acc = _mm512_add_epi32(                                                                \
        acc, _mm512_madd_epi16(                                                            \
                 _mm512_cvtepu8_epi32(_mm_xor_si128(_mm_maskz_loadu_epi8(k, (px) + c), fl)), \
                 wv))

static inline void dw_store(__m512i acc, __m512 mult, __mmask16 k, size_t c, uint8_t *y,
                            const uint8_t *res, const qepi16 *e)
{
    __m512i v = res ? qepi16_res(acc, mult, qepi16_rload(res + c, k, e), e)
                    : qepi16_plain(acc, mult, e);
    _mm_mask_storeu_epi8(y + c, k, _mm512_cvtepi32_epi8(v));
}

/* 4 pixels of one 16-channel block from channel c (k: the channels inside
 * nc); four named accumulators (an array of them went to the stack) */
static void dw_block4(size_t c, __mmask16 k, size_t ks, const uint8_t *const *x,
                      const int32_t *wb, __m128i fl, uint8_t *y, size_t ldy, const uint8_t *res,
                      size_t ldr, const sk_qgemm_params *p, const qepi16 *e)
{
    __m512i bias = _mm512_maskz_loadu_epi32(k, p->bias + c);
    __m512 mult = _mm512_maskz_loadu_ps(k, p->mult + c);
    __m512i a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    const uint8_t *const *x0 = x, *const *x1 = x + ks, *const *x2 = x + 2 * ks,
                         *const *x3 = x + 3 * ks;
    for (size_t t = 0; t < ks; t++) {
        __m512i wv = _mm512_loadu_si512((const void *)(wb + t * SK_QDW_CB));
        DW_MAC(a0, x0[t]);
        DW_MAC(a1, x1[t]);
        DW_MAC(a2, x2[t]);
        DW_MAC(a3, x3[t]);
    }
    dw_store(a0, mult, k, c, y, res, e);
    dw_store(a1, mult, k, c, y + ldy, res ? res + ldr : NULL, e);
    dw_store(a2, mult, k, c, y + 2 * ldy, res ? res + 2 * ldr : NULL, e);
    dw_store(a3, mult, k, c, y + 3 * ldy, res ? res + 3 * ldr : NULL, e);
}

static void dw_block1(size_t c, __mmask16 k, size_t ks, const uint8_t *const *x,
                      const int32_t *wb, __m128i fl, uint8_t *y, const uint8_t *res,
                      const sk_qgemm_params *p, const qepi16 *e)
{
    __m512i a0 = _mm512_maskz_loadu_epi32(k, p->bias + c);
    for (size_t t = 0; t < ks; t++) {
        __m512i wv = _mm512_loadu_si512((const void *)(wb + t * SK_QDW_CB));
        DW_MAC(a0, x[t]);
    }
    dw_store(a0, _mm512_maskz_loadu_ps(k, p->mult + c), k, c, y, res, e);
}

void sk_qu8_qc8w_dwconv_4x16c__avx512bw(size_t n, size_t c0, size_t nc, size_t ks,
                                        const uint8_t *const *x, const int32_t *w,
                                        uint8_t flip, uint8_t *y, size_t ldy,
                                        const uint8_t *res, size_t ldr,
                                        const sk_qgemm_params *p)
{
    qepi16 e;
    qepi16_init(&e, p);
    __m128i fl = _mm_set1_epi8((char)flip);
    for (size_t c = c0; c < c0 + nc; c += SK_QDW_CB) {
        size_t left = c0 + nc - c;
        __mmask16 k = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        const int32_t *wb = w + (c / SK_QDW_CB) * ks * SK_QDW_CB;
        size_t i = 0;
        for (; i + 4 <= n; i += 4)
            dw_block4(c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                      res ? res + i * ldr : NULL, ldr, p, &e);
        for (; i < n; i++)
            dw_block1(c, k, ks, x + i * ks, wb, fl, y + i * ldy, res ? res + i * ldr : NULL, p,
                      &e);
    }
}
