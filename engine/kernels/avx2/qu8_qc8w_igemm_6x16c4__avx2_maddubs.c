/* qu8_qc8w_igemm_6x16c4__avx2_maddubs.c — the NHWC int8 conv microkernel
 * for AVX2 without VNNI on vpmaddubsw (issue 22, session 18): 6 pixels x 16
 * channels on the c4 weight layout (qigemm.h). Per pixel and 4-channel
 * group: one 4-byte broadcast, then per 8 output channels
 *   vpmaddubsw (u8 x s8 byte pairs -> int16, SATURATING), vpmaddwd by ones
 *   (int16 pairs -> the group's int32 sum), vpaddd
 * — 6 instructions per 64 products where the exact kernel
 * (qu8_qc8w_igemm_4x16c4__avx2.c) spends 11.
 *
 * Exact only where no byte pair saturates int16: for the pair (w_a, w_b)
 * of one channel and any x_a, x_b in 0..255, |x_a w_a + x_b w_b| is at most
 * 255 (|w_a| + |w_b|) when the weights have the same sign, and at most
 * 255 * 128 = 32640 otherwise — so the pair is safe iff same-sign weights
 * have |w_a| + |w_b| <= 128 (every 7-bit weight set is). The driver checks
 * this per conv on the packed weights (sk_qigemm_pairs_fit) and takes this
 * kernel only then (fast_qconv_nhwc.c); a kernel given weights that fail it
 * computes wrong sums (the unit test shows it).
 *
 * Two entries on one body (qigemm.h): uk (indirection pointers) and dk (one
 * output row inside the image). Epilogue: qgemm_epi_avx2.h's qepi_tile16. */
#include <immintrin.h>

#include "kernels/qgemm_epi_avx2.h"
#include "kernels/qigemm.h"

static inline __attribute__((always_inline)) void
body(size_t mr, size_t nc, size_t kg, size_t ks, const uint8_t *const *a, const uint8_t *x0,
     size_t step, const size_t *toff, const int8_t *w, uint8_t *y, size_t ldy,
     const uint8_t *res, size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t t = 0; t < ks; t++) {
        const uint8_t *a0, *a1, *a2, *a3, *a4, *a5;
        if (a) {
            a0 = a[6 * t], a1 = a[6 * t + 1], a2 = a[6 * t + 2];
            a3 = a[6 * t + 3], a4 = a[6 * t + 4], a5 = a[6 * t + 5];
        } else {
            a0 = x0 + toff[t], a1 = a0 + step, a2 = a1 + step;
            a3 = a2 + step, a4 = a3 + step, a5 = a4 + step;
        }
        for (size_t g = 0; g < kg; g++, w += 64) {
            __m256i b0 = _mm256_loadu_si256((const __m256i *)w);
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(w + 32));
            __m256i x;
            /* vpmaddubsw: first operand unsigned (activations), second signed */
#define PX(ap, lo, hi)                                                                    \
    x = qepi_bcast4(ap + 4 * g);                                                               \
    lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b0), ones));      \
    hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_maddubs_epi16(x, b1), ones));
            PX(a0, c00, c01) PX(a1, c10, c11) PX(a2, c20, c21) PX(a3, c30, c31)
            PX(a4, c40, c41) PX(a5, c50, c51)
#undef PX
        }
    }
    const __m256i c[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                             {c30, c31}, {c40, c41}, {c50, c51}};
    qepi_tile16(c, mr, nc, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_igemm_6x16c4__avx2_maddubs(size_t mr, size_t nc, size_t kg, size_t ks,
                                            const uint8_t *const *a, const int8_t *w,
                                            uint8_t *y, size_t ldy, const uint8_t *res,
                                            size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    body(mr, nc, kg, ks, a, NULL, 0, NULL, w, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_dconv_6x16c4__avx2_maddubs(size_t mr, size_t nc, size_t kg, size_t ks,
                                            const uint8_t *x0, size_t step, const size_t *toff,
                                            const int8_t *w, uint8_t *y, size_t ldy,
                                            const uint8_t *res, size_t ldr, size_t n0,
                                            const sk_qgemm_params *p)
{
    body(mr, nc, kg, ks, NULL, x0, step, toff, w, y, ldy, res, ldr, n0, p);
}
