/* gemm_nchw.h — the FP32 GEMM microkernel of 1x1 convolutions that reads
 * its B operand (the activations) in place from NCHW planes instead of
 * packed panels (issue 24; the strategy is fast_conv_1x1.c).
 *
 *   C[8 x 32] (+)= A[8 x kc] * B[kc x 32], then bias, residual, clamp
 *
 * A is one panel of the weights packed at load (gemm.h: a[k*mr + r], mr =
 * 8 at the AVX-512 level). B row k is channel k of the input: its 32
 * columns are output pixels, two vectors of 16 lanes. A vector's lanes may
 * come from two images (the last pixels of image n, the first of image
 * n+1: at batch 8 a 7x7 map's 392 pixels fill 12.25 tiles instead of 8 x
 * 64 lanes), so each vector has two segments, each a base pointer and a
 * lane mask; lane L of segment s of vector v reads b[v][s][k*ldb + L].
 * Masked-off lanes are never read or written. C and the residual have the
 * same layout with the output's plane stride ldc. Each element is one FMA
 * chain from zero over k in order, then + old C (SK_UK_ACCUM), then at the
 * last K block (SK_UK_EPI) + bias, + residual, clamp: the same arithmetic,
 * in the same order, as the packed microkernel (gemm.h), so the bits equal
 * the im2col-gemm strategy's for the same K blocks. */
#ifndef SK_KERNELS_GEMM_NCHW_H
#define SK_KERNELS_GEMM_NCHW_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/gemm.h"

typedef struct sk_gemm_nchw_cols {
    const float *b[2][2];   /* [vector][segment]: row 0 of the K block */
    float *c[2][2];         /* row 0 of the tile */
    const float *res[2][2]; /* row 0 of the tile; unused without a residual */
    uint32_t mask[2][2];    /* 16-bit lane masks, segments disjoint */
    int simple;             /* 1: both vectors one full segment (mask 0xffff, 0) */
} sk_gemm_nchw_cols;

/* The pointers of cols, offset by boff floats (b: the K block's first
 * row, boff = k0 * ldb) and coff (c, res: the tile's first row, coff = row0
 * * ldc), so one cols serves every K block and row panel of a column tile.
 * rows: 1..8 of the tile stored (A's rows past them are the panel's zero
 * padding); bias: the tile's first row's value or NULL; has_res: add the
 * residual of cols->res. */
typedef struct sk_gemm_nchw_args {
    size_t kc, ldb, ldc, boff, coff;
    int rows, flags, has_res;
    const float *bias;
    float lo, hi;
} sk_gemm_nchw_args;
typedef void (*sk_gemm_nchw_fn)(const float *a, const sk_gemm_nchw_cols *cols,
                                const sk_gemm_nchw_args *g);

void sk_f32_gemm_nchw_8x32__avx512f(const float *a, const sk_gemm_nchw_cols *cols,
                                    const sk_gemm_nchw_args *g);

/* The same contract in plain C (tests and the reference of the kernel):
 * fmaf chains, any ISA. */
void sk_f32_gemm_nchw_8x32__scalar(const float *a, const sk_gemm_nchw_cols *cols,
                                   const sk_gemm_nchw_args *g);

#endif
