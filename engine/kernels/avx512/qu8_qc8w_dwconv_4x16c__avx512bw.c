/* qu8_qc8w_dwconv_4x16c__avx512bw.c — the int8 depthwise kernels
 * (qdwconv.h) on AVX-512BW: 16 channels a zmm. Per tap and pixel: one
 * masked 16-byte load, vpxor (int8 x), vpmovzxbd, vpmaddwd against the tap's
 * (w, 0) pairs, vpaddd; the tap's weight vector is loaded once for all the
 * pixels of the tile. The pointer form runs tiles of 4 pixels, the row form
 * (the row's interior: addresses by arithmetic) 8: this file holds both,
 * the 4x16c pointer kernel and the 8x16c row kernel (the name gives the
 * first). The epilogue is
 * qu8_requant16__avx512f.h's NHWC form (qepi16): the reference's bits.
 * Accumulators are named variables under constant-folded ifs: an array of
 * them went to the stack (objdump: vmovdqa64 around each vpmaddwd). */
#include <immintrin.h>

#include "kernels/qdwconv.h"
#include "qu8_requant16__avx512f.h"

/* 16 input bytes of one tap widened to int32: RAW (a constant: uint8 x and
 * 16 channels) one vpmovzxbd from memory; else masked, int8 flipped */
static inline __attribute__((always_inline)) __m512i dw_x(const int RAW, const uint8_t *px,
                                                          __mmask16 k, __m128i fl)
{
    if (RAW)
        return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)px));
    return _mm512_cvtepu8_epi32(_mm_xor_si128(_mm_maskz_loadu_epi8(k, px), fl));
}
/* one tap of one pixel, times the tap's weights */
#define DW_MAC(acc, px) acc = _mm512_add_epi32(acc, _mm512_madd_epi16(dw_x(RAW, (px) + c, k, fl), wv))
/* the tile's pixels 0 .. MR-1 at one tap, pixel i at ADDR(i) */
#define DW_TILE(ADDR)                 \
    do {                              \
        DW_MAC(a0, ADDR(0));          \
        if (MR > 1)                   \
            DW_MAC(a1, ADDR(1));      \
        if (MR > 2)                   \
            DW_MAC(a2, ADDR(2));      \
        if (MR > 3)                   \
            DW_MAC(a3, ADDR(3));      \
        if (MR > 4)                   \
            DW_MAC(a4, ADDR(4));      \
        if (MR > 5)                   \
            DW_MAC(a5, ADDR(5));      \
        if (MR > 6)                   \
            DW_MAC(a6, ADDR(6));      \
        if (MR > 7)                   \
            DW_MAC(a7, ADDR(7));      \
    } while (0)

static inline void dw_store(__m512i acc, __m512 mult, __mmask16 k, size_t c, uint8_t *y,
                            const uint8_t *res, const qepi16 *e)
{
    __m512i v = res ? qepi16_res(acc, mult, qepi16_rload(res + c, k, e), e)
                    : qepi16_plain(acc, mult, e);
    _mm_mask_storeu_epi8(y + c, k, _mm512_cvtepi32_epi8(v));
}

#define DW_STORE_ALL()                                                                   \
    do {                                                                                 \
        __m512 mult = _mm512_maskz_loadu_ps(k, p->mult + c);                             \
        __m512i acc_[8] = {a0, a1, a2, a3, a4, a5, a6, a7};                              \
        for (size_t r_ = 0; r_ < MR; r_++)                                               \
            dw_store(acc_[r_], mult, k, c, y + r_ * ldy, res ? res + r_ * ldr : NULL, e); \
    } while (0)

/* MR (a constant at each call) pixels of the pointer form, one channel block */
static inline __attribute__((always_inline)) void
dw_ptr(const size_t MR, const int RAW, size_t c, __mmask16 k, size_t ks, const uint8_t *const *x,
       const int32_t *wb, __m128i fl, uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
       const sk_qgemm_params *p, const qepi16 *e)
{
    __m512i bias = _mm512_maskz_loadu_epi32(k, p->bias + c);
    __m512i a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias,
            a7 = bias;
    for (size_t t = 0; t < ks; t++) {
        __m512i wv = _mm512_loadu_si512((const void *)(wb + t * SK_QDW_CB));
#define PADDR(i) x[(i) * ks + t]
        DW_TILE(PADDR);
#undef PADDR
    }
    DW_STORE_ALL();
}

/* MR pixels of the row form, one channel block */
static inline __attribute__((always_inline)) void
dw_row(const size_t MR, const int RAW, size_t c, __mmask16 k, size_t kh, size_t kw, const uint8_t *const *rows,
       const size_t *rstep, const size_t *qstep, const int32_t *wb, __m128i fl, uint8_t *y,
       size_t ldy, const uint8_t *res, size_t ldr, const sk_qgemm_params *p, const qepi16 *e)
{
    __m512i bias = _mm512_maskz_loadu_epi32(k, p->bias + c);
    __m512i a0 = bias, a1 = bias, a2 = bias, a3 = bias, a4 = bias, a5 = bias, a6 = bias,
            a7 = bias;
    const int32_t *wt = wb;
    for (size_t r = 0; r < kh; r++) {
        const uint8_t *b = rows[r];
        size_t rs = rstep[r], qs = qstep[r];
        for (size_t q = 0; q < kw; q++, b += qs, wt += SK_QDW_CB) {
            __m512i wv = _mm512_loadu_si512((const void *)wt);
#define RADDR(i) (b + (i) * rs)
            DW_TILE(RADDR);
#undef RADDR
        }
    }
    DW_STORE_ALL();
}

static inline __mmask16 chan_mask(size_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
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
        __mmask16 k = chan_mask(c0 + nc - c);
        const int32_t *wb = w + (c / SK_QDW_CB) * ks * SK_QDW_CB;
        size_t i = 0;
        int raw = !flip && k == 0xffff;
        for (; i + 4 <= n; i += 4)
            if (raw)
                dw_ptr(4, 1, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
            else
                dw_ptr(4, 0, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
        /* 2-pixel tiles: a row's two border pixels (fast_qdwconv.c) */
        for (; i + 2 <= n; i += 2)
            if (raw)
                dw_ptr(2, 1, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
            else
                dw_ptr(2, 0, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
        for (; i < n; i++)
            if (raw)
                dw_ptr(1, 1, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
            else
                dw_ptr(1, 0, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
    }
}

void sk_qu8_qc8w_dwrow_8x16c__avx512bw(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                                       const uint8_t *const *rows, const size_t *rstep,
                                       const size_t *qstep, const int32_t *w, const int32_t *w_pairs, uint8_t flip,
                                       uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                                       const sk_qgemm_params *p)
{
    (void)w_pairs; /* the pair layout: the VNNI row kernel's only */
    qepi16 e;
    qepi16_init(&e, p);
    __m128i fl = _mm_set1_epi8((char)flip);
    size_t ks = kh * kw;
    const uint8_t *rw[SK_QDW_ROW_MAXK];
    for (size_t c = c0; c < c0 + nc; c += SK_QDW_CB) {
        __mmask16 k = chan_mask(c0 + nc - c);
        const int32_t *wb = w + (c / SK_QDW_CB) * ks * SK_QDW_CB;
        size_t i = 0;
        for (size_t r = 0; r < kh; r++)
            rw[r] = rows[r];
        for (; i < n;) {
            size_t m = n - i >= 8 ? 8 : n - i >= 4 ? 4 : 1;
            if (m == 8 && !flip && k == 0xffff) /* the common case: uint8, 16 channels */
                dw_row(8, 1, c, k, kh, kw, rw, rstep, qstep, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
            else if (m == 8)
                dw_row(8, 0, c, k, kh, kw, rw, rstep, qstep, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
            else if (m == 4)
                dw_row(4, 0, c, k, kh, kw, rw, rstep, qstep, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
            else
                dw_row(1, 0, c, k, kh, kw, rw, rstep, qstep, wb, fl, y + i * ldy, ldy,
                       res ? res + i * ldr : NULL, ldr, p, &e);
            for (size_t r = 0; r < kh; r++)
                rw[r] += m * rstep[r];
            i += m;
        }
    }
}
