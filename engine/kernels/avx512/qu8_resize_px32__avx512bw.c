/* qu8_resize_px32__avx512bw.c — one output pixel of a channels-last
 * _QResize (kernels/fast_qresize.h), 32 channels a step (session 16).
 * The same integers as ref/qresize.h, regrouped (int32 sums are exact, so
 * the order is free):
 *   t   = lx0 (x00 - zp) + lx1 (x01 - zp)    one vpmaddwd over (x00, x01)
 *   b   = lx0 (x10 - zp) + lx1 (x11 - zp)    pairs, weights (lx0, lx1)
 *   acc = 2^11 t + ly1 (b - t)                = ly0 t + ly1 b (mod 2^32,
 *                                              and |acc| < 2^30: exact)
 * — 2 vpmaddwd and one vpmulld per 16 outputs where the session-15 kernel
 * (qu8_resize_vrow__avx2.c, sk_qu8_resize_px__avx2) did six vpmulld per 8.
 * vpunpck{l,h}wd interleave within 128-bit lanes, so the int32 sums come
 * in the order 0-3 8-11 .. (lo) and 4-7 12-15 .. (hi); vpackssdw of (lo, hi)
 * undoes it. Requantization as sk_qrs_out: (float)acc * m, clamped to
 * +-2^30, cvtps2dq (half to even), + y_zp, saturated to the 8-bit type.
 * The channel tail: masked loads and stores (no scalar loop). */
#include <immintrin.h>

#include "kernels/fast_qresize.h"

static inline __m512i widen(const uint8_t *p, __mmask32 k, __m256i flip, __m512i zp)
{
    return _mm512_sub_epi16(
        _mm512_cvtepu8_epi16(_mm256_xor_si256(_mm256_maskz_loadu_epi8(k, p), flip)), zp);
}

/* 32 outputs from the W sums of the top (tl, th) and bottom (bl, bh) rows
 * in vpunpck order: the H blend 2^11 t + ly1 (b - t), then the
 * requantization (both kernels below) */
static inline __m256i blend_out(__m512i tl, __m512i th, __m512i bl, __m512i bh, __m512i wy,
                                __m512 m, __m512i yz, int s8)
{
    const __m512 lim = _mm512_set1_ps(1073741824.0f), nlim = _mm512_set1_ps(-1073741824.0f);
    __m512i al = _mm512_add_epi32(_mm512_slli_epi32(tl, SK_QRS_BITS),
                                  _mm512_mullo_epi32(wy, _mm512_sub_epi32(bl, tl)));
    __m512i ah = _mm512_add_epi32(_mm512_slli_epi32(th, SK_QRS_BITS),
                                  _mm512_mullo_epi32(wy, _mm512_sub_epi32(bh, th)));
    __m512 vl = _mm512_mul_ps(_mm512_cvtepi32_ps(al), m);
    __m512 vh = _mm512_mul_ps(_mm512_cvtepi32_ps(ah), m);
    vl = _mm512_min_ps(_mm512_max_ps(vl, nlim), lim);
    vh = _mm512_min_ps(_mm512_max_ps(vh, nlim), lim);
    __m512i w16 = _mm512_packs_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(vl), yz),
                                     _mm512_add_epi32(_mm512_cvtps_epi32(vh), yz));
    return s8 ? _mm512_cvtsepi16_epi8(w16)
              : _mm512_cvtusepi16_epi8(_mm512_max_epi16(w16, _mm512_setzero_si512()));
}

void sk_qu8_resize_px32__avx512bw(size_t C, const uint8_t *p00, const uint8_t *p01,
                                  const uint8_t *p10, const uint8_t *p11, int32_t lx1, int32_t ly1,
                                  const sk_qrs *q, uint8_t *y)
{
    /* (lx0, lx1) as int16 pairs: x0 in the low half meets the first of
     * each unpacked pair */
    const __m512i wx = _mm512_set1_epi32((int32_t)((uint32_t)lx1 << 16 |
                                                   (uint32_t)(SK_QRS_ONE - lx1)));
    const __m512i wy = _mm512_set1_epi32(ly1), zp = _mm512_set1_epi16((short)q->xzp),
                  yz = _mm512_set1_epi32(q->yzp);
    const __m256i flip = _mm256_set1_epi8((char)(q->s8 ? 0x80 : 0));
    const __m512 m = _mm512_set1_ps(q->m);
    for (size_t c = 0; c < C; c += 32) {
        __mmask32 k = C - c >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (C - c)) - 1);
        __m512i a = widen(p00 + c, k, flip, zp), b = widen(p01 + c, k, flip, zp);
        __m512i d = widen(p10 + c, k, flip, zp), e = widen(p11 + c, k, flip, zp);
        __m512i tl = _mm512_madd_epi16(_mm512_unpacklo_epi16(a, b), wx);
        __m512i th = _mm512_madd_epi16(_mm512_unpackhi_epi16(a, b), wx);
        __m512i bl = _mm512_madd_epi16(_mm512_unpacklo_epi16(d, e), wx);
        __m512i bh = _mm512_madd_epi16(_mm512_unpackhi_epi16(d, e), wx);
        _mm256_mask_storeu_epi8(y + c, k, blend_out(tl, th, bl, bh, wy, m, yz, q->s8));
    }
}

/* The row-cache form (session 16): an input row interpolated along W once
 * into int32 (d: oW pixels of cp = C rounded up to 32 int32 each, every
 * 32-channel block as its 16 'lo' then 16 'hi' sums in vpunpck order), kept
 * by fast_qresize.c for the output rows that read it (two for a 2x
 * up-sample), then each output row is the H blend of two such rows. Same
 * integers as above; the tail lanes of a block hold sums of the masked-off
 * bytes (zeros, flipped and minus x_zp): never stored to y. */
void sk_qu8_resize_hrow32__avx512bw(size_t C, size_t oW, const uint8_t *x, const int32_t *tw,
                                    const sk_qrs *q, int32_t *d)
{
    const __m512i zp = _mm512_set1_epi16((short)q->xzp);
    const __m256i flip = _mm256_set1_epi8((char)(q->s8 ? 0x80 : 0));
    for (size_t o = 0; o < oW; o++, tw += 3) {
        const __m512i wx = _mm512_set1_epi32((int32_t)((uint32_t)tw[2] << 16 |
                                                       (uint32_t)(SK_QRS_ONE - tw[2])));
        const uint8_t *pa = x + (size_t)tw[0] * C, *pb = x + (size_t)tw[1] * C;
        for (size_t c = 0; c < C; c += 32, d += 32) {
            __mmask32 k = C - c >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (C - c)) - 1);
            __m512i a = widen(pa + c, k, flip, zp), b = widen(pb + c, k, flip, zp);
            _mm512_storeu_si512(d, _mm512_madd_epi16(_mm512_unpacklo_epi16(a, b), wx));
            _mm512_storeu_si512(d + 16, _mm512_madd_epi16(_mm512_unpackhi_epi16(a, b), wx));
        }
    }
}

void sk_qu8_resize_vblend32__avx512bw(size_t C, size_t oW, const int32_t *t, const int32_t *b,
                                      int32_t ly1, const sk_qrs *q, uint8_t *y)
{
    const __m512i wy = _mm512_set1_epi32(ly1), yz = _mm512_set1_epi32(q->yzp);
    const __m512 m = _mm512_set1_ps(q->m);
    for (size_t o = 0; o < oW; o++, y += C)
        for (size_t c = 0; c < C; c += 32, t += 32, b += 32) {
            __mmask32 k = C - c >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (C - c)) - 1);
            __m256i r = blend_out(_mm512_loadu_si512(t), _mm512_loadu_si512(t + 16),
                                  _mm512_loadu_si512(b), _mm512_loadu_si512(b + 16), wy, m, yz,
                                  q->s8);
            _mm256_mask_storeu_epi8(y + c, k, r);
        }
}
