/* qdwconv.h — the int8 depthwise convolution on channels-last activations
 * (issue 22, session 17): group == C == M, one kh x kw filter a channel.
 *
 *   Y[p][c] = requant(sum_t X[pix(p, t)][c] * W[c][t] + bias[c])
 *
 * The channels are the vector lanes: each input pixel's C bytes are
 * contiguous (NHWC), so a tap of 16 (AVX-512) or 8 (AVX2) channels is one
 * widening load, and the per-channel weights of a tap are one vector — no
 * broadcast, no GEMM per channel (the grouped igemm / NCHW GEMM multiplies
 * 1 x kh*kw by kh*kw x P per channel, 5-10x slower than the float kernel).
 *
 * Arithmetic: x (uint8, or int8 flipped by ^ 0x80: zero point + 128) widened
 * to int32 lanes, whose int16 halves are (x, 0); a weight is packed as the
 * int16 pair (w, 0), so one vpmaddwd gives x * w exactly (u8 x s8 fits
 * int16; the pair's other product is 0 * 0) and vpaddd sums the taps in
 * int32. Padding taps read a row of x's zero point (x[pix] = zrow): the
 * load-time bias already holds -x_zp(u8) * sum_t W[c][t] (qgemm.h), so the
 * sum is the reference's. The epilogue is qgemm.h's (sk_qgemm_requant1),
 * per channel: the same bits as the reference QLinearConv / _QConvFused at
 * any level, tile and thread count.
 *
 * One microkernel call: n output pixels, channels [c0, c0 + nc) (c0 a
 * multiple of SK_QDW_CB):
 *   x: n x ks pointers, x[i * ks + t] = the C channel bytes of the pixel
 *      that pixel i's tap t reads (or the zero-point row); channel c at +c
 *   w: the packed weights of all channels, [C / 16 blocks][ks][16] int32
 *      (sk_qdw_pack_w), channel c tap t at w[(c / 16) * ks * 16 + t * 16 +
 *      c % 16], each the int16 pair (W[c][t], 0)
 *   y: pixel i's channel c at y[i * ldy + c]; res likewise (ldr), or NULL
 *   flip: 0x80 for int8 x (every byte read, the zero-point row too)
 * p->bias / p->mult are indexed by channel. p->lut is not applied here.
 * Kernels: AVX-512BW (4x16c pointers, 8x16c rows), AVX512-VNNI rows on
 * 32-channel pairs (8x32c, sk_qdw_pack_w32), AVX2 (4x8c both forms). */
#ifndef SK_KERNELS_QDWCONV_H
#define SK_KERNELS_QDWCONV_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/qgemm.h"

#define SK_QDW_CB 16 /* channels a weight block */
#define SK_QDW_ROW_MAXK 64 /* taps of the widest kernel the row form takes */

typedef void (*sk_qdw_uk_fn)(size_t n, size_t c0, size_t nc, size_t ks,
                             const uint8_t *const *x, const int32_t *w, uint8_t flip,
                             uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                             const sk_qgemm_params *p);

/* The row form: n pixels of one output row whose taps all fall inside the
 * input's columns (the row's interior), no pointers: pixel i's tap (r, q)
 * (t = r * kw + q) reads rows[r] + i * rstep[r] + q * qstep[r] — the input
 * row ih's pixel for i = 0, steps stride * C and dilation * C; a kernel
 * row above or below the image is the zero-point row with steps 0. The
 * pointer form above serves the row's first and last pixels (a tap in the
 * left / right padding) and kernels of more than SK_QDW_ROW_MAXK taps.
 * Same arithmetic, same bits. w_pairs: the weights again in the pair layout
 * (sk_qdw_pack_w32) where the level's cfg asks for it (pairs), else NULL;
 * only the AVX512-VNNI row kernel reads it. */
typedef void (*sk_qdw_row_fn)(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                              const uint8_t *const *rows, const size_t *rstep,
                              const size_t *qstep, const int32_t *w, const int32_t *w_pairs, uint8_t flip, uint8_t *y,
                              size_t ldy, const uint8_t *res, size_t ldr,
                              const sk_qgemm_params *p);

/* a level's depthwise kernels (a member of sk_kconfig); uk NULL: none */
typedef struct sk_qdw_cfg {
    sk_qdw_uk_fn uk;
    const char *name;
    sk_qdw_row_fn row; /* NULL: every pixel through uk */
    int pairs;         /* the row kernel reads w_pairs (sk_qdw_pack_w32) */
} sk_qdw_cfg;

/* int32 elements of the packed weights of C channels, ks taps */
static inline size_t sk_qdw_packed_w_elems(size_t C, size_t ks)
{
    return (C + SK_QDW_CB - 1) / SK_QDW_CB * SK_QDW_CB * ks;
}
/* W as ONNX stores it, [C][1][kh][kw] = [C][ks] int8 -> the layout above
 * (channels past C: 0) */
void sk_qdw_pack_w(size_t C, size_t ks, const int8_t *w, int32_t *dst);

/* The pair layout of 32-channel blocks (the channels past the last full
 * block are not in it): per block and tap 32 int32, lanes j < 16 the int16
 * pair (W[c0 + 2j][t], 0), lanes 16 + j the pair (0, W[c0 + 2j + 1][t]) —
 * against 32 input bytes widened to int16 (vpmovzxbw), vpdpwssd of the first
 * half sums the even channels' products, of the second the odd ones' */
static inline size_t sk_qdw_packed_w32_elems(size_t C, size_t ks)
{
    return C / 32 * 32 * ks;
}
void sk_qdw_pack_w32(size_t C, size_t ks, const int8_t *w, int32_t *dst);

/* the scalar reference of the contract: what the SIMD kernels reproduce */
void sk_qu8_qc8w_dwconv__scalar(size_t n, size_t c0, size_t nc, size_t ks,
                                const uint8_t *const *x, const int32_t *w, uint8_t flip,
                                uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                                const sk_qgemm_params *p);
void sk_qu8_qc8w_dwrow__scalar(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                               const uint8_t *const *rows, const size_t *rstep,
                               const size_t *qstep, const int32_t *w, const int32_t *w_pairs, uint8_t flip, uint8_t *y,
                               size_t ldy, const uint8_t *res, size_t ldr,
                               const sk_qgemm_params *p);
/* x86-64 builds */
void sk_qu8_qc8w_dwconv_4x16c__avx512bw(size_t n, size_t c0, size_t nc, size_t ks,
                                        const uint8_t *const *x, const int32_t *w,
                                        uint8_t flip, uint8_t *y, size_t ldy,
                                        const uint8_t *res, size_t ldr,
                                        const sk_qgemm_params *p);
void sk_qu8_qc8w_dwconv_4x8c__avx2(size_t n, size_t c0, size_t nc, size_t ks,
                                   const uint8_t *const *x, const int32_t *w, uint8_t flip,
                                   uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                                   const sk_qgemm_params *p);

void sk_qu8_qc8w_dwrow_8x16c__avx512bw(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                                       const uint8_t *const *rows, const size_t *rstep,
                                       const size_t *qstep, const int32_t *w, const int32_t *w_pairs, uint8_t flip,
                                       uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                                       const sk_qgemm_params *p);
/* AVX512-VNNI: 32-channel blocks on the pair layout, 2 vpdpwssd a tap
 * (the channels past the last full block, and int8 x, on the BW kernel) */
void sk_qu8_qc8w_dwrow_8x32c__avx512vnni(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                                         const uint8_t *const *rows, const size_t *rstep,
                                         const size_t *qstep, const int32_t *w,
                                         const int32_t *w_pairs, uint8_t flip, uint8_t *y,
                                         size_t ldy, const uint8_t *res, size_t ldr,
                                         const sk_qgemm_params *p);
void sk_qu8_qc8w_dwrow_4x8c__avx2(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                                  const uint8_t *const *rows, const size_t *rstep,
                                  const size_t *qstep, const int32_t *w, const int32_t *w_pairs, uint8_t flip,
                                  uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                                  const sk_qgemm_params *p);

#endif
