/* qigemm.h — the int8 convolution on channels-last (NHWC) activations read
 * through an indirection buffer ("igemm", as XNNPACK's): no im2col, no
 * packing of the activations (issue 22, session 13).
 *
 *   Y[p][m] = requant(sum_t sum_c X[pix(p, t)][c] * W[m][c][t] + bias[m])
 *
 * X is NHWC uint8 (C contiguous channels per pixel, C a multiple of 4); for
 * output pixel p and kernel tap t the indirection gives a pointer to the C
 * bytes of the input pixel the tap reads, or to a row of C zero-point bytes
 * where the tap falls in the padding (the zero point adds nothing: bias
 * holds -x_zp * sum W, qgemm.h). One microkernel call computes MR pixels x
 * NR output channels:
 *   a: ks taps x MR pointers, a[t * MR + r] = the pixel r of the tile at tap t
 *      (rows past mr repeat a valid pointer: read, never stored)
 *   w: the weights of NR output channels n0 .. n0+NR-1, "c4" by tap:
 *      for t < ks, for k group g < kg: NR channels x 4 bytes W[n0+j][4g+i][t]
 *      (channels past M are 0)
 *   y: pixel r's channels at y + r * ldy (NHWC: ldy = M); res likewise (ldr)
 * Each 4-byte group of a pixel is one vpdpbusd broadcast against the NR x 4
 * weight bytes. The epilogue is qgemm.h's (sk_qgemm_requant1) with the
 * per-channel bias / mult of channel n0 + j: the same bits as the NCHW
 * kernels and the reference QLinearConv, at any tile and thread count. */
#ifndef SK_KERNELS_QIGEMM_H
#define SK_KERNELS_QIGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/qgemm.h"

struct sk_pool;

/* mr <= MR pixels, nc <= NR channels, kg = C / 4 groups, ks taps; n0 is the
 * tile's first channel (indexes p->bias / p->mult) */
typedef void (*sk_qigemm_uk_fn)(size_t mr, size_t nc, size_t kg, size_t ks,
                                const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                const sk_qgemm_params *p);

/* Session 15: the same kernel for a tile whose pixel r at tap t is
 * x0 + toff[t] + r * step (one output row, every tap inside the image): no
 * indirection buffer. The same bits as uk over those pointers. It reads MR
 * rows whatever mr is, so all MR must be readable (the caller passes full
 * tiles only). */
typedef void (*sk_qigemm_dk_fn)(size_t mr, size_t nc, size_t kg, size_t ks, const uint8_t *x0,
                                size_t step, const size_t *toff, const int8_t *w, uint8_t *y,
                                size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                const sk_qgemm_params *p);

/* A level's NHWC int8 conv kernel (a member of sk_kconfig); uk NULL: the
 * level has none and int8 convs keep the NCHW path (fast_qconv.c); dk NULL:
 * every tile goes through the indirection buffer. */
typedef struct sk_qigemm_cfg {
    int mr, nr;
    sk_qigemm_uk_fn uk;
    const char *name;
    sk_qigemm_dk_fn dk;
    /* session 15: a kernel for tiles of at most mr - 1 pixels on the same
     * pointer layout (NULL: none) — maps whose pixel count is a multiple
     * of mr - 1 and not of mr (7 x 7 at batch 1) */
    sk_qigemm_uk_fn uk_short;
    /* NULL, or (session 19, AMX) called by a thread before and after a run
     * of kernel calls (fast_qconv_nhwc.c nh_range, fast_qconvt.c
     * nhwc_range, tests): the AMX kernel's tile configuration load and
     * tile-state release (kernels/amx/amx_tile.h) — once per task, not per
     * call: LDTILECFG per call cost ResNet-50 QDQ b1 1T 5-9% */
    void (*task_begin)(void);
    void (*task_end)(void);
} sk_qigemm_cfg;

/* Bytes of the packed weights: ceil(M / NR) blocks of ks * C * NR. */
size_t sk_qigemm_packed_w_bytes(const sk_qigemm_cfg *c, size_t M, size_t C, size_t ks);
/* W as ONNX stores it, [M][Cs][ks] int8 -> the blocks above for C >= Cs
 * channels (C a multiple of 4; the channels past Cs get weight 0, so the
 * input's pad channels add nothing whatever they hold). */
void sk_qigemm_pack_w(const sk_qigemm_cfg *c, size_t M, size_t C, size_t Cs, size_t ks,
                      const int8_t *w, int8_t *dst);

/* The scalar reference of an (MR x NR) layout: what every SIMD kernel must
 * reproduce bit for bit. */
void sk_qu8_qc8w_igemm_ref(int MR, int NR, size_t mr, size_t nc, size_t kg, size_t ks,
                           const uint8_t *const *a, const int8_t *w, uint8_t *y, size_t ldy,
                           const uint8_t *res, size_t ldr, size_t n0, const sk_qgemm_params *p);

void sk_qu8_qc8w_igemm_8x32c4__avx512vnni(size_t mr, size_t nc, size_t kg, size_t ks,
                                          const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                          size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                          const sk_qgemm_params *p);

void sk_qu8_qc8w_dconv_8x32c4__avx512vnni(size_t mr, size_t nc, size_t kg, size_t ks,
                                          const uint8_t *x0, size_t step, const size_t *toff,
                                          const int8_t *w, uint8_t *y, size_t ldy,
                                          const uint8_t *res, size_t ldr, size_t n0,
                                          const sk_qgemm_params *p);

void sk_qu8_qc8w_igemm_7x32c4__avx512vnni(size_t mr, size_t nc, size_t kg, size_t ks,
                                          const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                          size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                          const sk_qgemm_params *p);

void sk_qu8_qc8w_igemm_6x16c4__avxvnni(size_t mr, size_t nc, size_t kg, size_t ks,
                                       const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                       size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                       const sk_qgemm_params *p);

/* Session 19 (ami): AMX-INT8, 32 pixels x 32 channels on the 8x32 kernel's
 * c4 packing (NR = 32), uk and dk on one body; called only where the CPU
 * has AMX-INT8 and the OS granted the tile state (config.c) */
void sk_qu8_qc8w_igemm_32x32c4__amx(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                    size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                    const sk_qgemm_params *p);
void sk_qu8_qc8w_dconv_32x32c4__amx(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *x0, size_t step, const size_t *toff,
                                    const int8_t *w, uint8_t *y, size_t ldy, const uint8_t *res,
                                    size_t ldr, size_t n0, const sk_qgemm_params *p);

/* Session 18 (a2q): AVX2 without VNNI. The exact kernel widens bytes to
 * int16 and multiplies with vpmaddwd (any weights); the maddubs one uses
 * vpmaddubsw, whose int16 pair sums saturate unless every pair of packed
 * weights passes sk_qigemm_pairs_fit. Both read the c4 layout above. */
void sk_qu8_qc8w_igemm_4x16c4__avx2(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                    size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                    const sk_qgemm_params *p);
void sk_qu8_qc8w_dconv_4x16c4__avx2(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *x0, size_t step, const size_t *toff,
                                    const int8_t *w, uint8_t *y, size_t ldy, const uint8_t *res,
                                    size_t ldr, size_t n0, const sk_qgemm_params *p);
void sk_qu8_qc8w_igemm_6x16c4__avx2_maddubs(size_t mr, size_t nc, size_t kg, size_t ks,
                                            const uint8_t *const *a, const int8_t *w,
                                            uint8_t *y, size_t ldy, const uint8_t *res,
                                            size_t ldr, size_t n0, const sk_qgemm_params *p);
void sk_qu8_qc8w_dconv_6x16c4__avx2_maddubs(size_t mr, size_t nc, size_t kg, size_t ks,
                                            const uint8_t *x0, size_t step, const size_t *toff,
                                            const int8_t *w, uint8_t *y, size_t ldy,
                                            const uint8_t *res, size_t ldr, size_t n0,
                                            const sk_qgemm_params *p);

/* Session 18: the exact kernel on weights widened at load ("c4w16"): per
 * NR-channel block, tap and group g of 4 channels, NR int16 pairs
 * (W[n][4g], W[n][4g+2]) then NR pairs (W[n][4g+1], W[n][4g+3]) — 8 * NR
 * bytes a group, twice the c4 layout's, blocks ks * C * NR * 2 bytes apart.
 * Same arguments as sk_qigemm_pack_w; dst holds 2 * sk_qigemm_packed_w_bytes. */
void sk_qigemm_pack_w16(const sk_qigemm_cfg *c, size_t M, size_t C, size_t Cs, size_t ks,
                        const int8_t *w, int16_t *dst);
void sk_qu8_qc8w_igemm_4x16c4__avx2_w16(size_t mr, size_t nc, size_t kg, size_t ks,
                                        const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                        size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                        const sk_qgemm_params *p);
void sk_qu8_qc8w_dconv_4x16c4__avx2_w16(size_t mr, size_t nc, size_t kg, size_t ks,
                                        const uint8_t *x0, size_t step, const size_t *toff,
                                        const int8_t *w, uint8_t *y, size_t ldy,
                                        const uint8_t *res, size_t ldr, size_t n0,
                                        const sk_qgemm_params *p);

/* 1 when vpmaddubsw is exact on these c4-packed weights (n bytes, n % 4 ==
 * 0): for every byte pair (w[2i], w[2i+1]) — the pair one vpmaddubsw lane
 * sums — of the same sign, |w[2i]| + |w[2i+1]| <= 128. Then for any u8
 * activations a pair sum is at most 255 * 128 = 32640 in magnitude (an
 * opposite-sign pair is bounded by 255 * 128 anyway): no int16 saturation,
 * the sums are exact. */
int sk_qigemm_pairs_fit(const int8_t *w, size_t n);

/* ---- the indirection table of one conv geometry ---------------------------
 * Built once per input shape (fast_qconv_nhwc.c caches it): for pixel tile
 * i (MR output pixels of one image) and tap t, MR byte offsets of the input
 * pixel from the image's first byte, or -1 for the padding. Tiles past the
 * last pixel repeat it. */
typedef struct sk_qind_geo {
    int64_t H, W, C, OH, OW;
    int64_t kh, kw, sh, sw, dh, dw, pt, pl;
} sk_qind_geo;

size_t sk_qind_entries(const sk_qind_geo *g, int MR);
void sk_qind_build(const sk_qind_geo *g, int MR, int32_t *off);

#endif
