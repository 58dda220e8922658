/* qu8_qc8w_dwconv_4x8c__avx2.c — the int8 depthwise kernel (qdwconv.h) on
 * AVX2: 8 channels a ymm, 4 output pixels at a time; per tap and pixel an
 * 8-byte load, vpxor, vpmovzxbd, vpmaddwd against the (w, 0) pairs, vpaddd.
 * The epilogue is qgemm_epi_avx2.h's per-channel form: the reference's
 * bits. A block of fewer than 8 channels goes through 8-byte copies. */
#include <immintrin.h>
#include <string.h>

#include "kernels/qdwconv.h"
#include "kernels/qgemm_epi_avx2.h"

static inline __m256i load8(const uint8_t *s, size_t k, __m128i fl)
{
    __m128i b;
    if (k >= 8) {
        b = _mm_loadl_epi64((const __m128i *)(const void *)s);
    } else {
        uint8_t tmp[8] = {0};
        memcpy(tmp, s, k);
        b = _mm_loadl_epi64((const __m128i *)(const void *)tmp);
    }
    return _mm256_cvtepu8_epi32(_mm_xor_si128(b, fl));
}

/* mr (1..4) pixels of the k (1..8) channels from channel c */
static inline __attribute__((always_inline)) void
dw_block(size_t mr, size_t c, size_t k, size_t ks, const uint8_t *const *x, const int32_t *wb,
         __m128i fl, uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
         const sk_qgemm_params *p)
{
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                      _mm256_setzero_si256()};
    for (size_t t = 0; t < ks; t++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)(wb + t * SK_QDW_CB));
        for (size_t r = 0; r < mr; r++)
            acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(load8(x[r * ks + t] + c, k, fl), wv));
    }
    __m256i bias;
    __m256 mult;
    if (k >= 8) {
        bias = _mm256_loadu_si256((const __m256i *)(const void *)(p->bias + c));
        mult = _mm256_loadu_ps(p->mult + c);
    } else {
        int32_t b[8] = {0};
        float m[8] = {0};
        memcpy(b, p->bias + c, k * sizeof *b);
        memcpy(m, p->mult + c, k * sizeof *m);
        bias = _mm256_loadu_si256((const __m256i *)(const void *)b);
        mult = _mm256_loadu_ps(m);
    }
    for (size_t r = 0; r < mr; r++) {
        __m256i v = qepi_requant8v(acc[r], bias, mult, res ? res + r * ldr + c : NULL, k, p);
        qepi_store8(y + r * ldy + c, v, k, p->out_s8);
    }
}

void sk_qu8_qc8w_dwconv_4x8c__avx2(size_t n, size_t c0, size_t nc, size_t ks,
                                   const uint8_t *const *x, const int32_t *w, uint8_t flip,
                                   uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                                   const sk_qgemm_params *p)
{
    __m128i fl = _mm_set1_epi8((char)flip);
    for (size_t c = c0; c < c0 + nc; c += 8) {
        size_t k = c0 + nc - c < 8 ? c0 + nc - c : 8;
        const int32_t *wb = w + (c / SK_QDW_CB) * ks * SK_QDW_CB + c % SK_QDW_CB;
        size_t i = 0;
        for (; i + 4 <= n; i += 4)
            dw_block(4, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                     res ? res + i * ldr : NULL, ldr, p);
        for (; i < n; i++)
            dw_block(1, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                     res ? res + i * ldr : NULL, ldr, p);
    }
}
