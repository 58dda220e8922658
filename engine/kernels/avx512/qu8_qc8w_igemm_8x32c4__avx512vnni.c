/* qu8_qc8w_igemm_8x32c4__avx512vnni.c — the NHWC int8 conv microkernel for
 * AVX512-VNNI (built with -mavx512vnni): 8 output pixels x 32 output
 * channels, 16 zmm accumulators. Per tap, the 8 pixels' input rows come from
 * the indirection buffer (qigemm.h); per group of 4 input channels: two
 * weight loads (32 channels x 4 s8), eight 4-byte activation broadcasts,
 * sixteen vpdpbusd. Nothing is packed per run: the activations are read
 * where they lie. Epilogue: the per-channel requantization of qgemm.h
 * (sk_qgemm_requant1) across the lanes, masked at the channel edge. */
#include <immintrin.h>
#include <string.h>

#include "kernels/avx512/qu8_requant16__avx512f.h"
#include "kernels/qigemm.h"

static inline __m512i bcast4(const uint8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm512_set1_epi32(v);
}

/* 32 int32 values inside the output type's range -> 32 bytes at y, the
 * lanes of mask k (truncating narrow: exact) */
static inline void store32(uint8_t *y, __mmask32 k, __m512i v0, __m512i v1)
{
    __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(v0)),
                                        _mm512_cvtepi32_epi8(v1), 1);
    _mm256_mask_storeu_epi8(y, k, b);
}

/* The body of the entry points: `rows` (7 or 8, a constant) pixel rows
 * computed, mr <= rows stored; the tile's pixel rows at tap t come from
 * the indirection buffer a, or (a NULL, session 15) are x0 + toff[t] +
 * r * step — a tile of 8 pixels of one output row whose taps all fall inside
 * the image, with no pointer table to fill or read. Inlined into each with
 * a constant, so each loop is the one gcc allocated without spills. */
static inline __attribute__((always_inline)) void
igemm_8x32(const int rows, size_t mr, size_t nc, size_t kg, size_t ks, const uint8_t *const *a,
           const uint8_t *x0, size_t step, const size_t *toff, const int8_t *w, uint8_t *y,
           size_t ldy, const uint8_t *res, size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    __mmask16 k0 = (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1);
    __mmask16 k1 = (__mmask16)(nc >= 32 ? 0xffff : nc > 16 ? (1u << (nc - 16)) - 1 : 0);
    /* the accumulators start at the bias (integer adds: the same sums) */
    __m512i bias0 = _mm512_maskz_loadu_epi32(k0, p->bias + n0);
    __m512i bias1 = _mm512_maskz_loadu_epi32(k1, p->bias + n0 + 16);
    /* named accumulators, as the NCHW kernel (an array spills under gcc 12) */
    __m512i c00 = bias0, c01 = bias1, c10 = bias0, c11 = bias1, c20 = bias0, c21 = bias1,
            c30 = bias0, c31 = bias1, c40 = bias0, c41 = bias1, c50 = bias0, c51 = bias1,
            c60 = bias0, c61 = bias1, c70 = bias0, c71 = bias1;
    for (size_t t = 0; t < ks; t++) {
        const uint8_t *a0, *a1, *a2, *a3, *a4, *a5, *a6, *a7;
        if (a) {
            a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6],
            a7 = a[7];
            a += 8;
        } else {
            a0 = x0 + toff[t], a1 = a0 + step, a2 = a1 + step, a3 = a2 + step,
            a4 = a3 + step, a5 = a4 + step, a6 = a5 + step, a7 = a6 + step;
        }
        (void)a7;
        for (size_t g = 0; g < kg; g++) {
            __m512i b0 = _mm512_loadu_si512(w);
            __m512i b1 = _mm512_loadu_si512(w + 64);
            __m512i x;
            /* vpdpbusd: first multiplicand unsigned (activations), second signed */
#define PX(ap, lo, hi)                                                                     \
    x = bcast4(ap + 4 * g);                                                                \
    lo = _mm512_dpbusd_epi32(lo, x, b0);                                                   \
    hi = _mm512_dpbusd_epi32(hi, x, b1);
            PX(a0, c00, c01) PX(a1, c10, c11) PX(a2, c20, c21) PX(a3, c30, c31)
            PX(a4, c40, c41) PX(a5, c50, c51) PX(a6, c60, c61)
            if (rows > 7) {
                PX(a7, c70, c71)
            }
#undef PX
            w += 128;
        }
    }
    __m512 mult0 = _mm512_maskz_loadu_ps(k0, p->mult + n0);
    __m512 mult1 = _mm512_maskz_loadu_ps(k1, p->mult + n0 + 16);
    qepi16 e;
    qepi16_init(&e, p);
    /* pixel r's 32 channels: two vectors narrowed in registers, one 32-byte
     * store (masked at the channel edge); unrolled so the accumulators stay
     * in registers */
    __mmask32 k = (__mmask32)k0 | (__mmask32)k1 << 16;
    if (!res) {
#define OUT(r, lo, hi)                                                                     \
    if (mr > r)                                                                            \
        store32(y + r * ldy, k, qepi16_plain(lo, mult0, &e), qepi16_plain(hi, mult1, &e));
        OUT(0, c00, c01) OUT(1, c10, c11) OUT(2, c20, c21) OUT(3, c30, c31)
        OUT(4, c40, c41) OUT(5, c50, c51) OUT(6, c60, c61) OUT(7, c70, c71)
#undef OUT
    } else {
#define OUT(r, lo, hi)                                                                     \
    if (mr > r)                                                                            \
        store32(y + r * ldy, k,                                                            \
                qepi16_res(lo, mult0, qepi16_rload(res + r * ldr, k0, &e), &e),            \
                qepi16_res(hi, mult1, qepi16_rload(res + r * ldr + 16, k1, &e), &e));
        OUT(0, c00, c01) OUT(1, c10, c11) OUT(2, c20, c21) OUT(3, c30, c31)
        OUT(4, c40, c41) OUT(5, c50, c51) OUT(6, c60, c61) OUT(7, c70, c71)
#undef OUT
    }
}

void sk_qu8_qc8w_igemm_8x32c4__avx512vnni(size_t mr, size_t nc, size_t kg, size_t ks,
                                          const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                          size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                          const sk_qgemm_params *p)
{
    igemm_8x32(8, mr, nc, kg, ks, a, NULL, 0, NULL, w, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_dconv_8x32c4__avx512vnni(size_t mr, size_t nc, size_t kg, size_t ks,
                                          const uint8_t *x0, size_t step, const size_t *toff,
                                          const int8_t *w, uint8_t *y, size_t ldy,
                                          const uint8_t *res, size_t ldr, size_t n0,
                                          const sk_qgemm_params *p)
{
    igemm_8x32(8, mr, nc, kg, ks, NULL, x0, step, toff, w, y, ldy, res, ldr, n0, p);
}

/* Session 15: tiles of at most 7 pixels on the same layout (pointers a[t * 8
 * + r], r < 7 read): a 7 x 7 map at batch 1 is 7 tiles of 7, not 6 of 8 and
 * one of 1 — 14 vpdpbusd a group where the 8-row body spends 16 */
void sk_qu8_qc8w_igemm_7x32c4__avx512vnni(size_t mr, size_t nc, size_t kg, size_t ks,
                                          const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                          size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                          const sk_qgemm_params *p)
{
    igemm_8x32(7, mr, nc, kg, ks, a, NULL, 0, NULL, w, y, ldy, res, ldr, n0, p);
}
