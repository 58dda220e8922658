/* qu8_qc8w_dwconv_4x8c__avx2.c — the int8 depthwise kernels (qdwconv.h) on
 * AVX2: 8 channels a ymm, tiles of 4 output pixels (pointer and row forms);
 * per tap and pixel an 8-byte load, vpxor, vpmovzxbd, vpmaddwd against the
 * (w, 0) pairs, vpaddd. The epilogue is qgemm_epi_avx2.h's per-channel
 * form: the reference's bits. A block of fewer than 8 channels goes through
 * 8-byte copies. Accumulators are named (an array of them was spilled). */
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

#define DW_MAC(acc, px) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(load8((px) + c, k, fl), wv))
#define DW_TILE(ADDR)            \
    do {                         \
        DW_MAC(a0, ADDR(0));     \
        if (MR > 1)              \
            DW_MAC(a1, ADDR(1)); \
        if (MR > 2)              \
            DW_MAC(a2, ADDR(2)); \
        if (MR > 3)              \
            DW_MAC(a3, ADDR(3)); \
    } while (0)

/* requantize and store the first MR accumulators' k channels */
static inline __attribute__((always_inline)) void
dw_store(const size_t MR, __m256i a0, __m256i a1, __m256i a2, __m256i a3, size_t c, size_t k,
         uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr, const sk_qgemm_params *p)
{
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
    __m256i acc[4] = {a0, a1, a2, a3};
    for (size_t r = 0; r < MR; r++) {
        __m256i v = qepi_requant8v(acc[r], bias, mult, res ? res + r * ldr + c : NULL, k, p);
        qepi_store8(y + r * ldy + c, v, k, p->out_s8);
    }
}

static inline __attribute__((always_inline)) void
dw_ptr(const size_t MR, size_t c, size_t k, size_t ks, const uint8_t *const *x, const int32_t *wb,
       __m128i fl, uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
       const sk_qgemm_params *p)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t t = 0; t < ks; t++) {
        __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)(wb + t * SK_QDW_CB));
#define PADDR(i) x[(i) * ks + t]
        DW_TILE(PADDR);
#undef PADDR
    }
    dw_store(MR, a0, a1, a2, a3, c, k, y, ldy, res, ldr, p);
}

static inline __attribute__((always_inline)) void
dw_row(const size_t MR, size_t c, size_t k, size_t kh, size_t kw, const uint8_t *const *rows,
       const size_t *rstep, const size_t *qstep, const int32_t *wb, __m128i fl, uint8_t *y,
       size_t ldy, const uint8_t *res, size_t ldr, const sk_qgemm_params *p)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const int32_t *wt = wb;
    for (size_t r = 0; r < kh; r++) {
        const uint8_t *b = rows[r];
        size_t rs = rstep[r], qs = qstep[r];
        for (size_t q = 0; q < kw; q++, b += qs, wt += SK_QDW_CB) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(const void *)wt);
#define RADDR(i) (b + (i) * rs)
            DW_TILE(RADDR);
#undef RADDR
        }
    }
    dw_store(MR, a0, a1, a2, a3, c, k, y, ldy, res, ldr, p);
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
            dw_ptr(4, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                   res ? res + i * ldr : NULL, ldr, p);
        for (; i < n; i++)
            dw_ptr(1, c, k, ks, x + i * ks, wb, fl, y + i * ldy, ldy,
                   res ? res + i * ldr : NULL, ldr, p);
    }
}

void sk_qu8_qc8w_dwrow_4x8c__avx2(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                                  const uint8_t *const *rows, const size_t *rstep,
                                  const size_t *qstep, const int32_t *w, const int32_t *w_pairs, uint8_t flip,
                                  uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                                  const sk_qgemm_params *p)
{
    (void)w_pairs; /* the pair layout: the VNNI row kernel's only */
    __m128i fl = _mm_set1_epi8((char)flip);
    size_t ks = kh * kw;
    const uint8_t *rw[SK_QDW_ROW_MAXK];
    for (size_t c = c0; c < c0 + nc; c += 8) {
        size_t k = c0 + nc - c < 8 ? c0 + nc - c : 8;
        const int32_t *wb = w + (c / SK_QDW_CB) * ks * SK_QDW_CB + c % SK_QDW_CB;
        for (size_t r = 0; r < kh; r++)
            rw[r] = rows[r];
        size_t i = 0;
        for (; i + 4 <= n; i += 4) {
            dw_row(4, c, k, kh, kw, rw, rstep, qstep, wb, fl, y + i * ldy, ldy,
                   res ? res + i * ldr : NULL, ldr, p);
            for (size_t r = 0; r < kh; r++)
                rw[r] += 4 * rstep[r];
        }
        for (; i < n; i++) {
            dw_row(1, c, k, kh, kw, rw, rstep, qstep, wb, fl, y + i * ldy, ldy,
                   res ? res + i * ldr : NULL, ldr, p);
            for (size_t r = 0; r < kh; r++)
                rw[r] += rstep[r];
        }
    }
}
