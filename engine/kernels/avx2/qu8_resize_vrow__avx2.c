/* qu8_resize_vrow__avx2.c — _QResize's vertical blend and requantization
 * (kernels/fast_qresize.h), 8 int32 lanes at a time; the same arithmetic
 * as ref/qresize.h's sk_qrs_out: the int32 sum is exact, (float)acc (acc
 * reaches ~2^30, so it rounds) and the product by m round as in the scalar
 * code, cvtps2dq rounds half to even as
 * nearbyintf does (the value is clamped to +-2^30 first, which changes no
 * saturated result), + y_zp, then saturating packs to the 8-bit type. */
#include <immintrin.h>

#include "kernels/fast_qresize.h"

void sk_qu8_resize_vrow__avx2(size_t n, const int32_t *t, const int32_t *b, int32_t l1,
                              const sk_qrs *q, uint8_t *y)
{
    const __m256i w0 = _mm256_set1_epi32(SK_QRS_ONE - l1), w1 = _mm256_set1_epi32(l1);
    const __m256 m = _mm256_set1_ps(q->m), lim = _mm256_set1_ps(1073741824.0f);
    const __m256i zp = _mm256_set1_epi32(q->yzp);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i acc = _mm256_add_epi32(
            _mm256_mullo_epi32(w0, _mm256_loadu_si256((const __m256i *)(t + i))),
            _mm256_mullo_epi32(w1, _mm256_loadu_si256((const __m256i *)(b + i))));
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), m);
        v = _mm256_min_ps(_mm256_max_ps(v, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
        __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(v), zp);
        __m128i lo = _mm256_castsi256_si128(r), hi = _mm256_extracti128_si256(r, 1);
        __m128i w16 = _mm_packs_epi32(lo, hi);
        __m128i b8 = q->s8 ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16);
        _mm_storel_epi64((__m128i *)(y + i), b8);
    }
    sk_qu8_resize_vrow__scalar(n - i, t + i, b + i, l1, q, y + i);
}

/* the 2x half-pixel row (fast_qresize.c checks the taps are exactly these):
 * d[0] = 2048 (x0 - zp), d[2i] = 512 (x[i-1] - zp) + 1536 (x[i] - zp),
 * d[2i+1] = 1536 (x[i] - zp) + 512 (x[i+1] - zp), d[2W-1] = 2048 (x[W-1] - zp)
 * — the general formula's integers for those taps, 8 inputs (16 outputs)
 * per step from three overlapping 8-byte loads */
void sk_qu8_resize_hup2__avx2(size_t W, const uint8_t *x, int32_t zp, int32_t flip, int32_t *d)
{
    const __m256i z = _mm256_set1_epi32(zp), w3 = _mm256_set1_epi32(1536),
                  w1 = _mm256_set1_epi32(512);
    const __m128i f = _mm_set1_epi8((char)flip);
    d[0] = 2048 * ((x[0] ^ flip) - zp);
    size_t i = 1;
    for (; i + 9 <= W; i += 8) { /* reads x[i - 1 .. i + 8] */
        __m256i p = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_xor_si128(
                                         _mm_loadl_epi64((const __m128i *)(x + i - 1)), f)), z);
        __m256i c = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_xor_si128(
                                         _mm_loadl_epi64((const __m128i *)(x + i)), f)), z);
        __m256i n = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_xor_si128(
                                         _mm_loadl_epi64((const __m128i *)(x + i + 1)), f)), z);
        __m256i c3 = _mm256_mullo_epi32(c, w3);
        __m256i ev = _mm256_add_epi32(_mm256_mullo_epi32(p, w1), c3);
        __m256i od = _mm256_add_epi32(c3, _mm256_mullo_epi32(n, w1));
        __m256i a = _mm256_unpacklo_epi32(ev, od), b = _mm256_unpackhi_epi32(ev, od);
        /* outputs 2i - 1 .. : ev[k] is d[2(i+k)], od[k] is d[2(i+k)+1] */
        _mm256_storeu_si256((__m256i *)(d + 2 * i), _mm256_permute2x128_si256(a, b, 0x20));
        _mm256_storeu_si256((__m256i *)(d + 2 * i + 8), _mm256_permute2x128_si256(a, b, 0x31));
    }
    /* the loop wrote d[2k], d[2k + 1] for k in [1, i); the rest: */
    for (size_t k = i; k < W; k++)
        d[2 * k] = 512 * ((x[k - 1] ^ flip) - zp) + 1536 * ((x[k] ^ flip) - zp);
    if (W > 1) /* k = 0, before the loop's range */
        d[1] = 1536 * ((x[0] ^ flip) - zp) + 512 * ((x[1] ^ flip) - zp);
    for (size_t k = i; k + 1 < W; k++)
        d[2 * k + 1] = 1536 * ((x[k] ^ flip) - zp) + 512 * ((x[k + 1] ^ flip) - zp);
    d[2 * W - 1] = 2048 * ((x[W - 1] ^ flip) - zp);
}

/* one output pixel of a channels-last _QResize (session 15): C channels
 * from the four input pixels' rows, the same integers as the separable
 * NCHW path (ly0 (lx0 a + lx1 b) + ly1 (lx0 d + lx1 e), exact), 8 channels
 * a step, the scalar form for the tail */
void sk_qu8_resize_px__avx2(size_t C, const uint8_t *p00, const uint8_t *p01, const uint8_t *p10,
                            const uint8_t *p11, int32_t lx1, int32_t ly1, const sk_qrs *q,
                            uint8_t *y)
{
    const int32_t flip = q->s8 ? 0x80 : 0;
    const __m256i x0 = _mm256_set1_epi32(SK_QRS_ONE - lx1), x1 = _mm256_set1_epi32(lx1),
                  y0 = _mm256_set1_epi32(SK_QRS_ONE - ly1), y1 = _mm256_set1_epi32(ly1),
                  zp = _mm256_set1_epi32(q->xzp), yz = _mm256_set1_epi32(q->yzp);
    const __m128i f = _mm_set1_epi8((char)flip);
    const __m256 m = _mm256_set1_ps(q->m), lim = _mm256_set1_ps(1073741824.0f);
    size_t c = 0;
#define LD(p) _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_xor_si128(                        \
                                   _mm_loadl_epi64((const __m128i *)((p) + c)), f)), zp)
    for (; c + 8 <= C; c += 8) {
        __m256i t = _mm256_add_epi32(_mm256_mullo_epi32(x0, LD(p00)), _mm256_mullo_epi32(x1, LD(p01)));
        __m256i b = _mm256_add_epi32(_mm256_mullo_epi32(x0, LD(p10)), _mm256_mullo_epi32(x1, LD(p11)));
        __m256i acc = _mm256_add_epi32(_mm256_mullo_epi32(y0, t), _mm256_mullo_epi32(y1, b));
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), m);
        v = _mm256_min_ps(_mm256_max_ps(v, _mm256_sub_ps(_mm256_setzero_ps(), lim)), lim);
        __m256i r = _mm256_add_epi32(_mm256_cvtps_epi32(v), yz);
        __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storel_epi64((__m128i *)(y + c),
                         q->s8 ? _mm_packs_epi16(w16, w16) : _mm_packus_epi16(w16, w16));
    }
#undef LD
    for (; c < C; c++) {
        int32_t t = (SK_QRS_ONE - lx1) * ((p00[c] ^ flip) - q->xzp) + lx1 * ((p01[c] ^ flip) - q->xzp);
        int32_t b = (SK_QRS_ONE - lx1) * ((p10[c] ^ flip) - q->xzp) + lx1 * ((p11[c] ^ flip) - q->xzp);
        y[c] = sk_qrs_out(q, (SK_QRS_ONE - ly1) * t + ly1 * b);
    }
}
