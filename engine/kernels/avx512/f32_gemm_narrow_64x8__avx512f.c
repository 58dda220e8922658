/* f32_gemm_narrow_64x8__avx512f.c — the FP32 GEMM's narrow last column
 * panel (<= 8 real columns) with the output rows in the vector lanes
 * (sk_gemm_narrow_fn, gemm.h; issue 24 session 17).
 *
 * A 14x14 map's 196 pixels leave 4 columns in the 7th B panel of 32; the
 * ntail kernel (fast_vrow.h) runs 16 rows x 16 lanes of them, 4 useful.
 * Here the lanes hold rows instead: two 8-row A panels (k-major,
 * a[k*8 + r]) make one zmm of 16 rows per k, each B column is broadcast
 * (folded into the FMA), one accumulator per (16 rows, column). Up to 4
 * row vectors (64 rows) x 8 columns, at most 24 accumulators: 4 columns
 * x 64 rows = 16 independent FMA chains, every lane useful.
 *
 * Every output element is the full kernel's computation — one FMA chain
 * from zero over k in order, then + old C, + bias, + residual, clamp, each
 * a separately rounded IEEE operation — so its bits do not depend on which
 * kernel ran it. The epilogue runs on the accumulators transposed through
 * the stack (scatter), a masked ymm per row, the clamp as min(max,
 * max(min, x)) in the full kernel's operand order, so NaN and signed zeros
 * come out alike. AVX512F + VL (the level requires both). */
#include <immintrin.h>

#include "kernels/gemm.h"

enum { MR = 8, NR = 32 };

/* rv row vectors (16 rows each) x CN columns over kc; nrows real rows
 * (<= 16 * rv; the last vector's upper half is read from a0 again when
 * its second panel does not exist), cols real columns (<= CN). */
static inline __attribute__((always_inline)) void
narrow_group(size_t kc, const float *a, size_t astride, const float *b, float *c, size_t ldc,
             const int RV, const int CN, int row0, int nrows, int cols, int flags,
             const sk_ukernel_params *p)
{
    const float *ap[8]; /* the row vectors' two panels */
    __m512 acc[4][8];
#pragma GCC unroll 4
    for (int v = 0; v < RV; v++) {
        int lo = 2 * v, hi = 2 * v + 1;
        ap[lo] = a + (size_t)lo * astride;
        ap[hi] = hi * MR < nrows ? a + (size_t)hi * astride : ap[lo];
#pragma GCC unroll 8
        for (int j = 0; j < CN; j++)
            acc[v][j] = _mm512_setzero_ps();
    }
    for (size_t k = 0; k < kc; k++) {
        const float *bk = b + k * NR;
#pragma GCC unroll 4
        for (int v = 0; v < RV; v++) {
            /* insertf64x4: AVX512F (insertf32x8 needs DQ), the same bits */
            const __m512 av = _mm512_castpd_ps(_mm512_insertf64x4(
                _mm512_castps_pd(_mm512_castps256_ps512(_mm256_loadu_ps(ap[2 * v] + k * MR))),
                _mm256_castps_pd(_mm256_loadu_ps(ap[2 * v + 1] + k * MR)), 1));
#pragma GCC unroll 8
            for (int j = 0; j < CN; j++)
                acc[v][j] = _mm512_fmadd_ps(av, _mm512_set1_ps(bk[j]), acc[v][j]);
        }
    }
    /* transpose through the stack: scatter each column's 16 rows into
     * t[row][column], then the epilogue row by row on masked ymm vectors
     * (every lane an IEEE add / max / min as the full kernel's; a scalar
     * epilogue here cost as much as the K loop at kc 256) */
    _Alignas(64) float t[64][8];
    const __m512i idx = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104,
                                          112, 120);
#pragma GCC unroll 4
    for (int v = 0; v < RV; v++)
#pragma GCC unroll 8
        for (int j = 0; j < CN; j++)
            _mm512_i32scatter_ps(&t[16 * v][j], idx, acc[v][j], 4);
    const __mmask8 m = (__mmask8)((1u << cols) - 1);
    const __m256 vmn = _mm256_set1_ps(p->min), vmx = _mm256_set1_ps(p->max);
    const __m256 bc = (flags & SK_UK_EPI) && p->bias_col ? _mm256_maskz_loadu_ps(m, p->bias_col)
                                                         : _mm256_setzero_ps();
    for (int r = 0; r < nrows; r++) {
        const int gr = row0 + r; /* row within the call */
        float *cr = c + (size_t)gr * ldc;
        __m256 x = _mm256_maskz_loadu_ps(m, t[r]);
        if (flags & SK_UK_ACCUM)
            x = _mm256_add_ps(x, _mm256_maskz_loadu_ps(m, cr));
        if (flags & SK_UK_EPI) {
            if (p->bias_row)
                x = _mm256_add_ps(x, _mm256_set1_ps(p->bias_row[gr]));
            if (p->bias_col)
                x = _mm256_add_ps(x, bc);
            if (p->res)
                x = _mm256_add_ps(x, _mm256_maskz_loadu_ps(m, p->res + (size_t)gr * p->ldres));
            x = _mm256_min_ps(vmx, _mm256_max_ps(vmn, x));
        }
        _mm256_mask_storeu_ps(cr, m, x);
    }
}

/* Row vectors per group for CN columns: at most 24 accumulators, 4. */
#define RV_FOR(CN) ((CN) <= 6 ? 4 : 3)

#define NARROW_CASE(CN)                                                                       \
    case CN:                                                                                  \
        for (; r + 16 * RV_FOR(CN) <= rows; r += 16 * RV_FOR(CN))                             \
            narrow_group(kc, a + (size_t)(r / MR) * astride, astride, b, c, ldc, RV_FOR(CN),  \
                         CN, r, 16 * RV_FOR(CN), cols, flags, p);                             \
        for (; r < rows; r += 16)                                                             \
            narrow_group(kc, a + (size_t)(r / MR) * astride, astride, b, c, ldc, 1, CN, r,    \
                         rows - r < 16 ? rows - r : 16, cols, flags, p);                      \
        break;

void sk_f32_gemm_narrow_64x8__avx512f(size_t kc, const float *a, size_t astride, const float *b,
                                      float *c, size_t ldc, int rows, int cols, int flags,
                                      const sk_ukernel_params *p)
{
    int r = 0;
    switch (cols) {
        NARROW_CASE(1)
        NARROW_CASE(2)
        NARROW_CASE(3)
        NARROW_CASE(4)
        NARROW_CASE(5)
        NARROW_CASE(6)
        NARROW_CASE(7)
        NARROW_CASE(8)
    default:
        break;
    }
}
