/* qu8_qc8w_igemm_4x16c4__avx2_w16.c — qu8_qc8w_igemm_4x16c4__avx2 on weights
 * widened at load (issue 22, session 18; qigemm.h's "c4w16" layout,
 * sk_qigemm_pack_w16): per tap and group of 4 input channels four ymm of
 * int16 pairs — (w0, w2) of channels 0-7 and 8-15, then (w1, w3) of the
 * same — loaded into registers once per group instead of two byte vectors
 * and six shifts. Per pixel: one 4-byte broadcast, (x0, x2) = x & 0xff,
 * (x1, x3) = x >> 8, four vpmaddwd, four vpaddd. Exact for any int8
 * weights. 4 pixels x 16 channels; uk and dk on one body (qigemm.h). */
#include <immintrin.h>
#include <string.h>

#include "kernels/qgemm_epi_avx2.h"
#include "kernels/qigemm.h"

static inline __m256i bcast4(const uint8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm256_set1_epi32(v);
}

/* a != NULL: the pointers of tap t are a[4t .. 4t+3]; else x0 + toff[t] +
 * r * step. Inlined into each entry, so the test is resolved there. */
static inline __attribute__((always_inline)) void
body(size_t mr, size_t nc, size_t kg, size_t ks, const uint8_t *const *a, const uint8_t *x0,
     size_t step, const size_t *toff, const int16_t *w, uint8_t *y, size_t ldy,
     const uint8_t *res, size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00;
    const __m256i lo8 = _mm256_set1_epi16(0x00ff);
    for (size_t t = 0; t < ks; t++) {
        const uint8_t *a0, *a1, *a2, *a3;
        if (a) {
            a0 = a[4 * t], a1 = a[4 * t + 1], a2 = a[4 * t + 2], a3 = a[4 * t + 3];
        } else {
            a0 = x0 + toff[t], a1 = a0 + step, a2 = a1 + step, a3 = a2 + step;
        }
        for (size_t g = 0; g < kg; g++, w += 64) { /* 64 int16: 128 bytes */
            __m256i e0 = _mm256_loadu_si256((const __m256i *)w);
            __m256i e1 = _mm256_loadu_si256((const __m256i *)(w + 16));
            __m256i o0 = _mm256_loadu_si256((const __m256i *)(w + 32));
            __m256i o1 = _mm256_loadu_si256((const __m256i *)(w + 48));
            __m256i x, xe, xo;
#define PX(ap, lo, hi)                                                                    \
    x = bcast4(ap + 4 * g);                                                               \
    xe = _mm256_and_si256(x, lo8);                                                        \
    xo = _mm256_srli_epi16(x, 8);                                                         \
    lo = _mm256_add_epi32(lo, _mm256_add_epi32(_mm256_madd_epi16(xe, e0),                 \
                                               _mm256_madd_epi16(xo, o0)));               \
    hi = _mm256_add_epi32(hi, _mm256_add_epi32(_mm256_madd_epi16(xe, e1),                 \
                                               _mm256_madd_epi16(xo, o1)));
            PX(a0, c00, c01) PX(a1, c10, c11) PX(a2, c20, c21) PX(a3, c30, c31)
#undef PX
        }
    }
    int32_t bb[16] = {0};
    float mm[16] = {0};
    memcpy(bb, p->bias + n0, (nc < 16 ? nc : 16) * sizeof *bb);
    memcpy(mm, p->mult + n0, (nc < 16 ? nc : 16) * sizeof *mm);
    __m256i bias0 = _mm256_loadu_si256((const __m256i *)bb);
    __m256i bias1 = _mm256_loadu_si256((const __m256i *)(bb + 8));
    __m256 mult0 = _mm256_loadu_ps(mm), mult1 = _mm256_loadu_ps(mm + 8);
    __m256i c[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    for (size_t r = 0; r < mr; r++) {
        uint8_t *yr = y + r * ldy;
        const uint8_t *rr = res ? res + r * ldr : NULL;
        size_t n = nc < 8 ? nc : 8;
        qepi_store8(yr, qepi_requant8v(c[r][0], bias0, mult0, rr, n, p), n, p->out_s8);
        if (nc > 8)
            qepi_store8(yr + 8, qepi_requant8v(c[r][1], bias1, mult1, rr ? rr + 8 : NULL, nc - 8, p),
                        nc - 8, p->out_s8);
    }
}

void sk_qu8_qc8w_igemm_4x16c4__avx2_w16(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                    size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                    const sk_qgemm_params *p)
{
    body(mr, nc, kg, ks, a, NULL, 0, NULL, (const int16_t *)(const void *)w, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_dconv_4x16c4__avx2_w16(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *x0, size_t step, const size_t *toff,
                                    const int8_t *w, uint8_t *y, size_t ldy, const uint8_t *res,
                                    size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    body(mr, nc, kg, ks, NULL, x0, step, toff, (const int16_t *)(const void *)w, y, ldy, res, ldr, n0, p);
}
