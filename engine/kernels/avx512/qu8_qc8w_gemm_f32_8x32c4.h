/* qu8_qc8w_gemm_f32_8x32c4.h — the body of the int8 GEMM microkernel with
 * a dequantizing epilogue (float32 output), for _QConvDequant
 * (kernels/fast_qconv_dequant.h), included by its two builds:
 *   __avx512vnni.c  QCD_DPBUSD = vpdpbusd
 *   __avx512bw.c    QCD_DPBUSD = the same sum by vpmaddwd on the even and
 *                   odd bytes widened to 16 bits (exact: each pair of
 *                   products fits int32), for AVX-512 CPUs without VNNI and
 *                   for SKIPSERVE_INT8_UK=avxvnni / avx2 at the AVX-512
 *                   level, so the head's bits never depend on the int8
 *                   kernel the level picked.
 * The K loop is qgemm.h's 8x32c4 layout (A panels of 8 rows, B panels of
 * 32 columns, k grouped by 4; two B loads, eight weight broadcasts, sixteen
 * dot products per group), then per row
 *   y[m][n] = (float)(acc + bias[m]) * mult[m]
 * (cvtdq2ps rounds to nearest as C's (float) cast does; the multiply is its
 * own instruction, no FMA: ref/qconv_dequant.c's arithmetic bit for bit).
 * Define QCD_NAME and QCD_DPBUSD(acc, u8 x, s8 w) before including. */
#include <immintrin.h>
#include <string.h>

static inline __m512i bcast4(const int8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm512_set1_epi32(v);
}

/* (acc + bias) * mult, the first n (1..16) lanes stored */
static inline void row16f(__m512i acc, int32_t bias, float mult, size_t n, float *y)
{
    __mmask16 k = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    __m512 v = _mm512_cvtepi32_ps(_mm512_add_epi32(acc, _mm512_set1_epi32(bias)));
    _mm512_mask_storeu_ps(y, k, _mm512_mul_ps(v, _mm512_set1_ps(mult)));
}

void QCD_NAME(size_t mr, size_t nr, size_t kg, const int8_t *a, const uint8_t *b, float *y,
              size_t ldy, const int32_t *bias, const float *mult)
{
    /* named accumulators, as the requantizing 8x32 kernel (an array makes
     * gcc 12 spill them every k group) */
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00,
            c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (size_t g = 0; g < kg; g++) {
        __m512i b0 = _mm512_loadu_si512(b);
        __m512i b1 = _mm512_loadu_si512(b + 64);
        __m512i w;
#define ROW(r, lo, hi)                                                                     \
    w = bcast4(a + 4 * (r));                                                               \
    lo = QCD_DPBUSD(lo, b0, w);                                                   \
    hi = QCD_DPBUSD(hi, b1, w);
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31)
        ROW(4, c40, c41) ROW(5, c50, c51) ROW(6, c60, c61) ROW(7, c70, c71)
#undef ROW
        a += 32;
        b += 128;
    }
    __m512i c[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                       {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    for (size_t r = 0; r < mr; r++) {
        float *yr = y + r * ldy;
        row16f(c[r][0], bias[r], mult[r], nr < 16 ? nr : 16, yr);
        if (nr > 16)
            row16f(c[r][1], bias[r], mult[r], nr - 16, yr + 16);
    }
}

