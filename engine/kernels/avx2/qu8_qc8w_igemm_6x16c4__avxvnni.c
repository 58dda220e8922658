/* qu8_qc8w_igemm_6x16c4__avxvnni.c — the NHWC int8 conv microkernel for
 * AVX-VNNI (256-bit vpdpbusd, built with -mavxvnni; Alder Lake, Zen 4):
 * 6 output pixels x 16 output channels, 12 ymm accumulators (16 ymm
 * registers: 12 + two weight vectors + one broadcast). Per tap the 6 pixel
 * pointers of the indirection buffer; per group of 4 input channels two
 * weight loads, six 4-byte broadcasts, twelve vpdpbusd. Contract: qigemm.h;
 * the epilogue is qgemm_epi_avx2.h's arithmetic with per-channel bias and
 * multiplier vectors (the output channels are the lanes here). */
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

/* 8 channels of one pixel: requantize (sk_qgemm_requant1's operations in
 * its order) and store the first n */
static inline void px8(__m256i acc, __m256i bias, __m256 mult, size_t n, uint8_t *y,
                       const uint8_t *res, const sk_qgemm_params *p)
{
    qepi_store8(y, qepi_requant8v(acc, bias, mult, res, n, p), n, p->out_s8);
}

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
    x = bcast4(ap + 4 * g);                                                                \
    lo = _mm256_dpbusd_avx_epi32(lo, x, b0);                                               \
    hi = _mm256_dpbusd_avx_epi32(hi, x, b1);
            PX(a0, c00, c01) PX(a1, c10, c11) PX(a2, c20, c21) PX(a3, c30, c31)
            PX(a4, c40, c41) PX(a5, c50, c51)
#undef PX
            w += 64;
        }
    }
    /* the tile's channels' bias and multiplier, zero past nc */
    int32_t bb[16] = {0};
    float mm[16] = {0};
    memcpy(bb, p->bias + n0, (nc < 16 ? nc : 16) * sizeof *bb);
    memcpy(mm, p->mult + n0, (nc < 16 ? nc : 16) * sizeof *mm);
    __m256i bias0 = _mm256_loadu_si256((const __m256i *)bb);
    __m256i bias1 = _mm256_loadu_si256((const __m256i *)(bb + 8));
    __m256 mult0 = _mm256_loadu_ps(mm), mult1 = _mm256_loadu_ps(mm + 8);
    __m256i c[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (size_t r = 0; r < mr; r++) {
        uint8_t *yr = y + r * ldy;
        const uint8_t *rr = res ? res + r * ldr : NULL;
        px8(c[r][0], bias0, mult0, nc < 8 ? nc : 8, yr, rr, p);
        if (nc > 8)
            px8(c[r][1], bias1, mult1, nc - 8, yr + 8, rr ? rr + 8 : NULL, p);
    }
}
