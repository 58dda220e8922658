/* qu8_qc8w_dwconv_4x16c__avx512bw.c — the int8 depthwise kernel (qdwconv.h)
 * on AVX-512BW: 16 channels a zmm, 4 output pixels at a time (4 int32
 * accumulators), so each tap's weight vector is loaded once for 4 pixels.
 * Per tap and pixel: one masked 16-byte load, vpxor (int8 x), vpmovzxbd,
 * vpmaddwd against the (w, 0) pairs, vpaddd. The epilogue is
 * qu8_requant16__avx512f.h's NHWC form (qepi16): the reference's bits. */
#include <immintrin.h>

#include "kernels/qdwconv.h"
#include "qu8_requant16__avx512f.h"

/* mr (1..4, a constant at each call site below) pixels of one 16-channel
 * block starting at channel c (k: the channels inside nc) */
static inline __attribute__((always_inline)) void
dw_block(size_t mr, size_t c, __mmask16 k, size_t ks, const uint8_t *const *x,
         const int32_t *wb, __m128i fl, uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
         const sk_qgemm_params *p, const qepi16 *e)
{
    __m512i bias = _mm512_maskz_loadu_epi32(k, p->bias + c);
    __m512 mult = _mm512_maskz_loadu_ps(k, p->mult + c);
    __m512i acc[4] = {bias, bias, bias, bias};
    for (size_t t = 0; t < ks; t++) {
        __m512i wv = _mm512_loadu_si512((const void *)(wb + t * SK_QDW_CB));
        for (size_t r = 0; r < mr; r++) {
            __m128i xb = _mm_xor_si128(_mm_maskz_loadu_epi8(k, x[r * ks + t] + c), fl);
            acc[r] = _mm512_add_epi32(acc[r], _mm512_madd_epi16(_mm512_cvtepu8_epi32(xb), wv));
        }
    }
    for (size_t r = 0; r < mr; r++) {
        __m512i v = res ? qepi16_res(acc[r], mult, qepi16_rload(res + r * ldr + c, k, e), e)
                        : qepi16_plain(acc[r], mult, e);
        _mm_mask_storeu_epi8(y + r * ldy + c, k, _mm512_cvtepi32_epi8(v));
    }
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
            dw_block(4, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                     res ? res + i * ldr : NULL, ldr, p, &e);
        for (; i < n; i++)
            dw_block(1, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                     res ? res + i * ldr : NULL, ldr, p, &e);
    }
}
