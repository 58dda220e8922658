/* fast_qresize.h — the row kernels of _QResize (kernels/fast_qresize.c):
 * y[i] = requantize((SK_QRS_ONE - l1) * t[i] + l1 * b[i]) as
 * ref/qresize.h's sk_qrs_out, for n outputs. */
#ifndef SK_FAST_QRESIZE_H
#define SK_FAST_QRESIZE_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ref/qresize.h"

void sk_qu8_resize_vrow__scalar(size_t n, const int32_t *t, const int32_t *b, int32_t l1,
                                const sk_qrs *q, uint8_t *y);
/* AVX2: 8 outputs per step (vpmulld, cvtdq2ps, one multiply, cvtps2dq's
 * round half to even, saturating packs), the scalar form for the tail */
void sk_qu8_resize_vrow__avx2(size_t n, const int32_t *t, const int32_t *b, int32_t l1,
                              const sk_qrs *q, uint8_t *y);
/* AVX2: one input row of W bytes interpolated along W for an exact 2x
 * half-pixel up-sample (the U-Net's): 2W int32 sums, as the general row */
void sk_qu8_resize_hup2__avx2(size_t W, const uint8_t *x, int32_t zp, int32_t flip, int32_t *d);
/* channels-last (session 15): one output pixel's C channels from the four
 * input pixels p00 (h0, w0), p01 (h0, w1), p10 (h1, w0), p11 (h1, w1) */
void sk_qu8_resize_px__avx2(size_t C, const uint8_t *p00, const uint8_t *p01, const uint8_t *p10,
                            const uint8_t *p11, int32_t lx1, int32_t ly1, const sk_qrs *q,
                            uint8_t *y);

/* session 16: the same pixel, the W taps by vpmaddwd over interleaved
 * pairs and the H blend once per 16 / 32 outputs (same bits): AVX2 16
 * channels a step (scalar tail), AVX-512 BW 32 (masked tail) */
void sk_qu8_resize_px16__avx2(size_t C, const uint8_t *p00, const uint8_t *p01,
                              const uint8_t *p10, const uint8_t *p11, int32_t lx1, int32_t ly1,
                              const sk_qrs *q, uint8_t *y);
void sk_qu8_resize_px32__avx512bw(size_t C, const uint8_t *p00, const uint8_t *p01,
                                  const uint8_t *p10, const uint8_t *p11, int32_t lx1, int32_t ly1,
                                  const sk_qrs *q, uint8_t *y);
/* AVX-512 BW row-cache form (session 16): an input row along W into int32
 * (oW pixels of C rounded up to 32 int32: the vpunpck lane order, read
 * back only by vblend32), then an output row as the H blend of two */
void sk_qu8_resize_hrow32__avx512bw(size_t C, size_t oW, const uint8_t *x, const int32_t *tw,
                                    const sk_qrs *q, int32_t *d);
void sk_qu8_resize_vblend32__avx512bw(size_t C, size_t oW, const int32_t *t, const int32_t *b,
                                      int32_t ly1, const sk_qrs *q, uint8_t *y);
/* the same at AVX2: C rounded up to 16, blocks of 8 'lo' + 8 'hi' */
void sk_qu8_resize_hrow16__avx2(size_t C, size_t oW, const uint8_t *x, const int32_t *tw,
                                const sk_qrs *q, int32_t *d);
void sk_qu8_resize_vblend16__avx2(size_t C, size_t oW, const int32_t *t, const int32_t *b,
                                  int32_t ly1, const sk_qrs *q, uint8_t *y);
/* The two-slot row cache's choice (fast_qresize.c, bench/qresize_kernels.c):
 * the slot tagged `key`, else the one to refill (tag set to key, *fill = 1):
 * not `keep` (the slot the other row of this output row is in; -1: none),
 * else the lower tag (the older row of a downward sweep) */
int sk_qrs_slot(int64_t tag[2], int64_t key, int keep, int *fill);
typedef void (*sk_qu8_resize_hrow_fn)(size_t C, size_t oW, const uint8_t *x, const int32_t *tw,
                                      const sk_qrs *q, int32_t *d);
typedef void (*sk_qu8_resize_vblend_fn)(size_t C, size_t oW, const int32_t *t, const int32_t *b,
                                        int32_t ly1, const sk_qrs *q, uint8_t *y);
typedef void (*sk_qu8_resize_px_fn)(size_t C, const uint8_t *p00, const uint8_t *p01,
                                    const uint8_t *p10, const uint8_t *p11, int32_t lx1,
                                    int32_t ly1, const sk_qrs *q, uint8_t *y);

#endif
