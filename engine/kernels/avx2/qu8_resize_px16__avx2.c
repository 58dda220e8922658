/* qu8_resize_px16__avx2.c — one output pixel of a channels-last _QResize
 * (kernels/fast_qresize.h), 16 channels a step (session 16): the AVX2 form
 * of qu8_resize_px32__avx512bw.c (see there: the W taps by vpmaddwd over
 * interleaved pairs, the H blend as 2^11 t + ly1 (b - t), the lane order
 * undone by vpackssdw), the scalar formula for the channel tail. The same
 * bits as ref/qresize.h. */
#include <immintrin.h>

#include "kernels/fast_qresize.h"

static inline __m256i widen(const uint8_t *p, __m128i flip, __m256i zp)
{
    return _mm256_sub_epi16(
        _mm256_cvtepu8_epi16(_mm_xor_si128(_mm_loadu_si128((const __m128i *)p), flip)), zp);
}

/* 16 outputs from the W sums of the top (tl, th) and bottom (bl, bh) rows
 * in vpunpck order: the H blend 2^11 t + ly1 (b - t), then the
 * requantization (both kernels below) */
static inline __m128i blend_out(__m256i tl, __m256i th, __m256i bl, __m256i bh, __m256i wy,
                                __m256 m, __m256i yz, int s8)
{
    const __m256 lim = _mm256_set1_ps(1073741824.0f), nlim = _mm256_set1_ps(-1073741824.0f);
    __m256i al = _mm256_add_epi32(_mm256_slli_epi32(tl, SK_QRS_BITS),
                                  _mm256_mullo_epi32(wy, _mm256_sub_epi32(bl, tl)));
    __m256i ah = _mm256_add_epi32(_mm256_slli_epi32(th, SK_QRS_BITS),
                                  _mm256_mullo_epi32(wy, _mm256_sub_epi32(bh, th)));
    __m256 vl = _mm256_mul_ps(_mm256_cvtepi32_ps(al), m);
    __m256 vh = _mm256_mul_ps(_mm256_cvtepi32_ps(ah), m);
    vl = _mm256_min_ps(_mm256_max_ps(vl, nlim), lim);
    vh = _mm256_min_ps(_mm256_max_ps(vh, nlim), lim);
    /* in-lane: 0-7 | 8-15 as int16 */
    __m256i w16 = _mm256_packs_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(vl), yz),
                                     _mm256_add_epi32(_mm256_cvtps_epi32(vh), yz));
    __m128i lo = _mm256_castsi256_si128(w16), hi = _mm256_extracti128_si256(w16, 1);
    return s8 ? _mm_packs_epi16(lo, hi) : _mm_packus_epi16(lo, hi);
}

void sk_qu8_resize_px16__avx2(size_t C, const uint8_t *p00, const uint8_t *p01,
                              const uint8_t *p10, const uint8_t *p11, int32_t lx1, int32_t ly1,
                              const sk_qrs *q, uint8_t *y)
{
    const int32_t fl = q->s8 ? 0x80 : 0;
    const __m256i wx = _mm256_set1_epi32((int32_t)((uint32_t)lx1 << 16 |
                                                   (uint32_t)(SK_QRS_ONE - lx1)));
    const __m256i wy = _mm256_set1_epi32(ly1), zp = _mm256_set1_epi16((short)q->xzp),
                  yz = _mm256_set1_epi32(q->yzp);
    const __m128i flip = _mm_set1_epi8((char)fl);
    const __m256 m = _mm256_set1_ps(q->m);
    size_t c = 0;
    for (; c + 16 <= C; c += 16) {
        __m256i a = widen(p00 + c, flip, zp), b = widen(p01 + c, flip, zp);
        __m256i d = widen(p10 + c, flip, zp), e = widen(p11 + c, flip, zp);
        __m256i tl = _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), wx);
        __m256i th = _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), wx);
        __m256i bl = _mm256_madd_epi16(_mm256_unpacklo_epi16(d, e), wx);
        __m256i bh = _mm256_madd_epi16(_mm256_unpackhi_epi16(d, e), wx);
        _mm_storeu_si128((__m128i *)(y + c), blend_out(tl, th, bl, bh, wy, m, yz, q->s8));
    }
    for (; c < C; c++) {
        int32_t t = (SK_QRS_ONE - lx1) * ((p00[c] ^ fl) - q->xzp) + lx1 * ((p01[c] ^ fl) - q->xzp);
        int32_t b = (SK_QRS_ONE - lx1) * ((p10[c] ^ fl) - q->xzp) + lx1 * ((p11[c] ^ fl) - q->xzp);
        y[c] = sk_qrs_out(q, (SK_QRS_ONE - ly1) * t + ly1 * b);
    }
}

/* The row-cache form (session 16; see qu8_resize_px32__avx512bw.c): rows of
 * oW pixels of C rounded up to 16 int32, each 16-channel block as its 8
 * 'lo' then 8 'hi' sums in vpunpck order; a partial last block is written
 * and read by the scalar formula at the same places (rs_at) */
static inline size_t rs_at(size_t j) /* channel j of a block -> its int32 */
{
    size_t lane = j / 8, k = j % 8;
    return (k < 4 ? 0 : 8) + lane * 4 + (k & 3);
}

void sk_qu8_resize_hrow16__avx2(size_t C, size_t oW, const uint8_t *x, const int32_t *tw,
                                const sk_qrs *q, int32_t *d)
{
    const int32_t fl = q->s8 ? 0x80 : 0;
    const __m256i zp = _mm256_set1_epi16((short)q->xzp);
    const __m128i flip = _mm_set1_epi8((char)fl);
    for (size_t o = 0; o < oW; o++, tw += 3) {
        const int32_t l1 = tw[2], l0 = SK_QRS_ONE - l1;
        const __m256i wx = _mm256_set1_epi32((int32_t)((uint32_t)l1 << 16 | (uint32_t)l0));
        const uint8_t *pa = x + (size_t)tw[0] * C, *pb = x + (size_t)tw[1] * C;
        size_t c = 0;
        for (; c + 16 <= C; c += 16, d += 16) {
            __m256i a = widen(pa + c, flip, zp), b = widen(pb + c, flip, zp);
            _mm256_storeu_si256((__m256i *)d, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), wx));
            _mm256_storeu_si256((__m256i *)(d + 8),
                                _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), wx));
        }
        if (c < C) {
            for (size_t j = 0; c + j < C; j++)
                d[rs_at(j)] = l0 * ((pa[c + j] ^ fl) - q->xzp) + l1 * ((pb[c + j] ^ fl) - q->xzp);
            d += 16;
        }
    }
}

void sk_qu8_resize_vblend16__avx2(size_t C, size_t oW, const int32_t *t, const int32_t *b,
                                  int32_t ly1, const sk_qrs *q, uint8_t *y)
{
    const __m256i wy = _mm256_set1_epi32(ly1), yz = _mm256_set1_epi32(q->yzp);
    const __m256 m = _mm256_set1_ps(q->m);
    for (size_t o = 0; o < oW; o++, y += C) {
        size_t c = 0;
        for (; c + 16 <= C; c += 16, t += 16, b += 16) {
            __m256i tl = _mm256_loadu_si256((const __m256i *)t),
                    th = _mm256_loadu_si256((const __m256i *)(t + 8));
            __m256i bl = _mm256_loadu_si256((const __m256i *)b),
                    bh = _mm256_loadu_si256((const __m256i *)(b + 8));
            _mm_storeu_si128((__m128i *)(y + c), blend_out(tl, th, bl, bh, wy, m, yz, q->s8));
        }
        if (c < C) {
            for (size_t j = 0; c + j < C; j++) {
                int32_t tv = t[rs_at(j)], bv = b[rs_at(j)];
                y[c + j] = sk_qrs_out(q, (SK_QRS_ONE - ly1) * tv + ly1 * bv);
            }
            t += 16;
            b += 16;
        }
    }
}
