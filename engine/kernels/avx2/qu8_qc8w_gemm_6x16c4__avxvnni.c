/* qu8_qc8w_gemm_6x16c4__avxvnni.c — int8 GEMM microkernel for AVX-VNNI
 * (256-bit vpdpbusd, built with -mavxvnni): 6 rows x 16 columns, 12 ymm
 * accumulators. Per k group of 4: two B loads (16 columns x 4 u8), six
 * 4-byte weight broadcasts, twelve vpdpbusd. Layout and epilogue: qgemm.h. */
#include <immintrin.h>
#include <string.h>

#include "kernels/qgemm_epi_avx2.h"

static inline __m256i bcast4(const int8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm256_set1_epi32(v);
}

void sk_qu8_qc8w_gemm_6x16c4__avxvnni(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                      const uint8_t *b, void *y, size_t ldy, const void *res,
                                      size_t ldr, size_t m0, const sk_qgemm_params *p)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (size_t g = 0; g < kg; g++) {
        __m256i b0 = _mm256_loadu_si256((const __m256i *)b);
        __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + 32));
        __m256i w;
        /* vpdpbusd: first multiplicand unsigned (activations), second signed */
        w = bcast4(a + 0);
        c00 = _mm256_dpbusd_avx_epi32(c00, b0, w);
        c01 = _mm256_dpbusd_avx_epi32(c01, b1, w);
        w = bcast4(a + 4);
        c10 = _mm256_dpbusd_avx_epi32(c10, b0, w);
        c11 = _mm256_dpbusd_avx_epi32(c11, b1, w);
        w = bcast4(a + 8);
        c20 = _mm256_dpbusd_avx_epi32(c20, b0, w);
        c21 = _mm256_dpbusd_avx_epi32(c21, b1, w);
        w = bcast4(a + 12);
        c30 = _mm256_dpbusd_avx_epi32(c30, b0, w);
        c31 = _mm256_dpbusd_avx_epi32(c31, b1, w);
        w = bcast4(a + 16);
        c40 = _mm256_dpbusd_avx_epi32(c40, b0, w);
        c41 = _mm256_dpbusd_avx_epi32(c41, b1, w);
        w = bcast4(a + 20);
        c50 = _mm256_dpbusd_avx_epi32(c50, b0, w);
        c51 = _mm256_dpbusd_avx_epi32(c51, b1, w);
        a += 24;
        b += 64;
    }
    __m256i acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                         {c30, c31}, {c40, c41}, {c50, c51}};
    for (size_t r = 0; r < mr; r++) {
        uint8_t *yr = (uint8_t *)y + r * ldy;
        const uint8_t *rr = res ? (const uint8_t *)res + r * ldr : NULL;
        qepi_row8(acc[r][0], m0 + r, nr < 8 ? nr : 8, yr, rr, p);
        if (nr > 8)
            qepi_row8(acc[r][1], m0 + r, nr - 8, yr + 8, rr ? rr + 8 : NULL, p);
    }
}
