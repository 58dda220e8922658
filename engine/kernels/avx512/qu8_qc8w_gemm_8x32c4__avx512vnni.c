/* qu8_qc8w_gemm_8x32c4__avx512vnni.c — int8 GEMM microkernel for
 * AVX512-VNNI (built with -mavx512vnni): 8 rows x 32 columns, 16 zmm
 * accumulators, as the FP32 8x32 tile. Per k group of 4: two B loads
 * (32 columns x 4 u8), eight 4-byte weight broadcasts, sixteen vpdpbusd
 * (4 MACs per int32 lane each). Edges: masked residual loads and stores.
 * Layout and epilogue arithmetic: qgemm.h (sk_qgemm_requant1). */
#include <immintrin.h>
#include <string.h>

#include "kernels/avx512/qu8_requant16__avx512f.h"
#include "kernels/qgemm.h"

static inline __m512i bcast4(const int8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm512_set1_epi32(v);
}

/* requantize 16 columns of row m and store the first n (1..16) */
static inline void row16(__m512i acc, size_t m, size_t n, uint8_t *y, const uint8_t *res,
                         const sk_qgemm_params *p)
{
    __mmask16 k = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
    qu8_requant16(acc, _mm512_set1_epi32(p->bias[m]), _mm512_set1_ps(p->mult[m]), k, y, res, p);
}

void sk_qu8_qc8w_gemm_8x32c4__avx512vnni(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                         const uint8_t *b, void *y, size_t ldy, const void *res,
                                         size_t ldr, size_t m0, const sk_qgemm_params *p)
{
    /* named accumulators: with an array gcc 12 shuffles them through other
     * registers and the stack every k group (3x slower) */
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00,
            c60 = c00, c61 = c00, c70 = c00, c71 = c00;
    for (size_t g = 0; g < kg; g++) {
        __m512i b0 = _mm512_loadu_si512(b);
        __m512i b1 = _mm512_loadu_si512(b + 64);
        __m512i w;
        /* vpdpbusd: first multiplicand unsigned (activations), second signed */
#define ROW(r, lo, hi)                                                                     \
    w = bcast4(a + 4 * (r));                                                               \
    lo = _mm512_dpbusd_epi32(lo, b0, w);                                                   \
    hi = _mm512_dpbusd_epi32(hi, b1, w);
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31)
        ROW(4, c40, c41) ROW(5, c50, c51) ROW(6, c60, c61) ROW(7, c70, c71)
#undef ROW
        a += 32;
        b += 128;
    }
    __m512i c[8][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                       {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
    for (size_t r = 0; r < mr; r++) {
        uint8_t *yr = (uint8_t *)y + r * ldy;
        const uint8_t *rr = res ? (const uint8_t *)res + r * ldr : NULL;
        row16(c[r][0], m0 + r, nr < 16 ? nr : 16, yr, rr, p);
        if (nr > 16)
            row16(c[r][1], m0 + r, nr - 16, yr + 16, rr ? rr + 16 : NULL, p);
    }
}
