/* qu8_qc8w_igemm_6x16c4__avxvnni.c — the NHWC int8 conv microkernel for
 * AVX-VNNI (256-bit vpdpbusd, built with -mavxvnni; Alder Lake, Zen 4):
 * 6 output pixels x 16 output channels, 12 ymm accumulators (16 ymm
 * registers: 12 + two weight vectors + one broadcast). Per tap the 6 pixel
 * pointers of the indirection buffer; per group of 4 input channels two
 * weight loads, six 4-byte broadcasts, twelve vpdpbusd. Contract: qigemm.h;
 * the epilogue is qgemm_epi_avx2.h's qepi_tile16, per-channel bias and
 * multiplier vectors (the output channels are the lanes here). */
#include <immintrin.h>

#include "kernels/qgemm_epi_avx2.h"
#include "kernels/qigemm.h"

void sk_qu8_qc8w_igemm_6x16c4__avxvnni(size_t mr, size_t nc, size_t kg, size_t ks,
                                       const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                       size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                       const sk_qgemm_params *p)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t t = 0; t < ks; t++, a += 6) {
        const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
        for (size_t g = 0; g < kg; g++) {
            __m256i b0 = _mm256_loadu_si256((const __m256i *)w);
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(w + 32));
            __m256i x;
            /* vpdpbusd: first multiplicand unsigned (activations), second signed */
#define PX(ap, lo, hi)                                                                     \
    x = qepi_bcast4(ap + 4 * g);                                                                \
    lo = _mm256_dpbusd_avx_epi32(lo, x, b0);                                               \
    hi = _mm256_dpbusd_avx_epi32(hi, x, b1);
            PX(a0, c00, c01) PX(a1, c10, c11) PX(a2, c20, c21) PX(a3, c30, c31)
            PX(a4, c40, c41) PX(a5, c50, c51)
#undef PX
            w += 64;
        }
    }
    const __m256i c[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                             {c30, c31}, {c40, c41}, {c50, c51}};
    qepi_tile16(c, mr, nc, y, ldy, res, ldr, n0, p);
}
