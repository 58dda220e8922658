/* qu8_qc8w_igemm_4x16c4__avx2.c — the NHWC int8 conv microkernels for AVX2
 * CPUs without VNNI (Haswell .. Comet Lake, Zen 1-3), exact for every int8
 * weight (issue 22, session 18): 4 output pixels x 16 output channels, in
 * two weight forms on one body:
 *   qu8_qc8w_igemm_4x16c4__avx2      the VNNI kernels' c4 byte layout
 *                                    (qigemm.h; shared with the faster
 *                                    qu8_qc8w_igemm_6x16c4__avx2_maddubs.c
 *                                    that the driver picks per conv where no
 *                                    weight pair can saturate)
 *   qu8_qc8w_igemm_4x16c4__avx2_w16  the "c4w16" layout (qigemm.h,
 *                                    sk_qigemm_pack_w16): the same weights
 *                                    widened to int16 at pack time
 *
 * Products are int16 x int16 -> int32 (vpmaddwd), which cannot saturate:
 * a weight vector of 8 channels x 4 bytes (w0 w1 w2 w3 per channel) becomes
 * "even" words (w0, w2) = (w << 8) >> 8 and "odd" words (w1, w3) = w >> 8
 * (arithmetic shifts: sign-extended) — per group at load in the byte form
 * (two loads, six shifts), or four loads of pre-widened words in the w16
 * form. A pixel's broadcast 4 bytes x0 x1 x2 x3 become (x0, x2) = x & 0xff
 * and (x1, x3) = x >> 8 (logical: zero-extended). Then
 *   vpmaddwd(xe, we) + vpmaddwd(xo, wo) = x0 w0 + x2 w2 + x1 w1 + x3 w3
 * is a channel's 4-byte group sum in its int32 lane, the same integer as
 * vpdpbusd's — no fold across lanes. 4 pixels, not 6: 8 accumulators + the
 * 4 widened weight vectors + the mask + a pixel's three forms fill the 16
 * ymm registers (6 pixels in two passes, even then odd, had gcc spill the
 * accumulators to the stack every group).
 *
 * Each form has two entries (qigemm.h): uk through the indirection pointers,
 * dk for a tile of one output row inside the image (pixel r at tap t is
 * x0 + toff[t] + r * step). Epilogue: qgemm_epi_avx2.h's qepi_tile16
 * (per-channel bias and multiplier vectors: the lanes are output channels). */
#include <immintrin.h>

#include "kernels/qgemm_epi_avx2.h"
#include "kernels/qigemm.h"

/* a != NULL: the pointers of tap t are a[4t .. 4t+3]; else x0 + toff[t] +
 * r * step. w16: w is the c4w16 layout (64 int16 a group), else c4 bytes (64
 * bytes a group). Inlined into each entry with constant a == NULL and w16,
 * so both tests are resolved there and the K loop is branch-free. */
static inline __attribute__((always_inline)) void
body(int w16, size_t mr, size_t nc, size_t kg, size_t ks, const uint8_t *const *a,
     const uint8_t *x0, size_t step, const size_t *toff, const int8_t *w, uint8_t *y,
     size_t ldy, const uint8_t *res, size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00;
    const __m256i lo8 = _mm256_set1_epi16(0x00ff);
    const size_t gstep = w16 ? 128 : 64; /* bytes of weights per group */
    for (size_t t = 0; t < ks; t++) {
        const uint8_t *a0, *a1, *a2, *a3;
        if (a) {
            a0 = a[4 * t], a1 = a[4 * t + 1], a2 = a[4 * t + 2], a3 = a[4 * t + 3];
        } else {
            a0 = x0 + toff[t], a1 = a0 + step, a2 = a1 + step, a3 = a2 + step;
        }
        for (size_t g = 0; g < kg; g++, w += gstep) {
            /* (w0, w2) and (w1, w3) of channels 0-7 (e0, o0) and 8-15 (e1, o1)
             * as int16 pairs */
            __m256i e0, e1, o0, o1;
            if (w16) {
                e0 = _mm256_loadu_si256((const __m256i *)w);
                e1 = _mm256_loadu_si256((const __m256i *)(w + 32));
                o0 = _mm256_loadu_si256((const __m256i *)(w + 64));
                o1 = _mm256_loadu_si256((const __m256i *)(w + 96));
            } else {
                __m256i v0 = _mm256_loadu_si256((const __m256i *)w);
                __m256i v1 = _mm256_loadu_si256((const __m256i *)(w + 32));
                e0 = _mm256_srai_epi16(_mm256_slli_epi16(v0, 8), 8);
                e1 = _mm256_srai_epi16(_mm256_slli_epi16(v1, 8), 8);
                o0 = _mm256_srai_epi16(v0, 8), o1 = _mm256_srai_epi16(v1, 8);
            }
            __m256i x, xe, xo;
#define PX(ap, lo, hi)                                                                    \
    x = qepi_bcast4(ap + 4 * g);                                                          \
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
    const __m256i c[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    qepi_tile16(c, mr, nc, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_igemm_4x16c4__avx2(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                    size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                    const sk_qgemm_params *p)
{
    body(0, mr, nc, kg, ks, a, NULL, 0, NULL, w, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_dconv_4x16c4__avx2(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *x0, size_t step, const size_t *toff,
                                    const int8_t *w, uint8_t *y, size_t ldy, const uint8_t *res,
                                    size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    body(0, mr, nc, kg, ks, NULL, x0, step, toff, w, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_igemm_4x16c4__avx2_w16(size_t mr, size_t nc, size_t kg, size_t ks,
                                        const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                        size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                        const sk_qgemm_params *p)
{
    body(1, mr, nc, kg, ks, a, NULL, 0, NULL, w, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_dconv_4x16c4__avx2_w16(size_t mr, size_t nc, size_t kg, size_t ks,
                                        const uint8_t *x0, size_t step, const size_t *toff,
                                        const int8_t *w, uint8_t *y, size_t ldy,
                                        const uint8_t *res, size_t ldr, size_t n0,
                                        const sk_qgemm_params *p)
{
    body(1, mr, nc, kg, ks, NULL, x0, step, toff, w, y, ldy, res, ldr, n0, p);
}
