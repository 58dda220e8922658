/* fast_pack_t.h — GEMM packers that move 8x8 blocks through the level's
 * register transpose (sk_fast_uk.transpose) instead of one float at a time.
 *
 * An A panel ([k][mr] from mr row-major rows) and a B panel read from a
 * transposed matrix ([k][nr] from nr rows, the attention's K rows as Kt's
 * columns) are both transposes of an mr (nr) x kc block. The scalar packers
 * (sk_gemm_pack_a_rowmajor, fast_attention.c's pack_b_krows) cost ~1.5
 * cycles a float on Zen 5: 2% of ViT-B/16 at batch 1 for the Linear
 * layers' A, a third of a 197 x 197 x 64 attention head's time for Q, Kt
 * and the scores (bench/RESULTS.md, session 15 vit). Same floats in the same
 * places as the scalar packers (a copy): the products are bit-identical. */
#ifndef SK_FAST_PACK_T_H
#define SK_FAST_PACK_T_H

#include <stddef.h>

#include "kernels/gemm.h"

/* The operand: item b's matrix at p + b * stride, rows ld floats apart, and
 * the level's transpose (dst[j * ldd + i] = src[i * lds + j]). */
typedef struct sk_fast_rows_t {
    const float *p;
    size_t ld, stride;
    void (*transpose)(size_t rows, size_t cols, const float *src, size_t lds, float *dst,
                      size_t ldd);
} sk_fast_rows_t;

/* sk_gemm_pack_a_fn over row-major A (as sk_gemm_pack_a_rowmajor). */
void sk_fast_pack_a_rows_t(const void *ctx, int batch, int m0, int mb, int k0, int kc, int mr,
                           float *dst);
/* sk_gemm_pack_b_fn over B given as its transpose: B(k, n) = p[n * ld + k]. */
void sk_fast_pack_b_rows_t(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                           float *dst, float *tmp);

/* Whether to pack with these: the level has a transpose and the panels are
 * whole 8x8 blocks wide (mr = 8: AVX-512; the AVX2 level's 6-row panels
 * would run the transpose's scalar edge). SKIPSERVE_PACK_T=0: the scalar
 * packers (A/B timing). */
int sk_fast_pack_t_on(const sk_gemm_cfg *cfg,
                      void (*transpose)(size_t, size_t, const float *, size_t, float *, size_t));

#endif
