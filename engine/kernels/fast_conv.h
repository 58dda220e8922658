/* fast_conv.h — what the GEMM strategies of _ConvFused (fast_conv_im2col.c,
 * fast_conv_pixrows.c) share with the common part (fast_conv.c): the
 * node's operands resolved at run time, the GEMM run on plan scratch.
 * Private to engine/kernels/ (the public contract is fast.h). */
#ifndef SK_KERNELS_FAST_CONV_H
#define SK_KERNELS_FAST_CONV_H

#include <stdint.h>

#include "fast.h"
#include "ref/nn_util.h"

/* A _ConvFused node's input as the column gathers read it. */
typedef struct conv_src {
    const float *x;
    int64_t C, Cg, group, in_px;
    sk_win w;
    int64_t kvol, P;
    int direct; /* 1x1, stride 1, no padding: col == X */
    sk_bf16_pack2_fn pack2; /* BF16 GEMM: two float rows to a pair row, else NULL */
    sk_bf16_taps2_fn taps2; /* BF16 GEMM: two taps of a stride-1 conv to a pair row */
} conv_src;

/* Resolve the window, groups and columns of node n against its packed
 * weights pv (the GEMM's A, or W' for pixel rows); *N, *M: images and
 * output channels. Checks the residual against the output unless the
 * output is empty (N * M * P == 0: the caller returns). 0 or an SK_E* code
 * with ctx's error set. */
int sk_conv_src_setup(const sk_node *n, const sk_tensor *const *in, int nin, const sk_tensor *out,
                      const sk_conv_priv *pv, sk_kctx *ctx, conv_src *s, int64_t *N, int64_t *M);

/* The start of a GEMM strategy's run: sk_conv_src_setup with the node's
 * priv, then the empty-output check. 1: work to do (s, N, M, B, R set);
 * 0: return *rc (an error, or 0 for an empty output). */
int sk_conv_gemm_begin(const sk_node *n, const sk_tensor *const *in, int nin,
                       const sk_tensor *out, sk_kctx *ctx, conv_src *s, int64_t *N, int64_t *M,
                       const sk_tensor **B, const sk_tensor **R, int *rc);

/* A GEMM strategy's scratch: the GEMM's, plus extra(pv, P, images, T)
 * when the output's pixels per image are known. */
typedef size_t (*sk_conv_extra_fn)(const sk_conv_priv *pv, int64_t P, int64_t items, int T);
size_t sk_conv_gemm_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads,
                            sk_conv_extra_fn extra);

/* The GEMM job on the pool with its packing buffers from sk_fast_scratch. */
int sk_fast_run_job(const sk_node *n, const sk_gemm_job *j, sk_kctx *ctx);
/* Floats of scratch of a _MatMulFused run (fast_matmul_fused.c; out may be
 * NULL: the GEMM's part only). */
size_t sk_matmul_fused_scratch_floats(const sk_node *n, const sk_tensor *out, int nthreads);
/* The K block (sk_gemm_job.kc) a _MatMulFused product of M rows and
 * depth K runs with at cfg's level: 0 (the level's kc) or up to the whole
 * K for at most MATMUL_MC rows (fast_matmul_fused.c MATMUL_KC;
 * SKIPSERVE_MATMUL_KC, read per call). */
int sk_matmul_fused_kc(const sk_gemm_cfg *cfg, int64_t M, int K);
/* (session 20, vb8) The rows of each row slice a _MatMulFused product of
 * M rows, depth K and N columns runs as, one GEMM job a slice, on panels of mr rows
 * with cfg's L2 budget (cfg->ablock_bytes: Intel); 0: one job
 * (fast_matmul_fused.c; SKIPSERVE_MATMUL_SLICE, read per call). */
int64_t sk_matmul_fused_slice_rows(const sk_gemm_cfg *cfg, int mr, int64_t M, int K, int N);

/* Floats rounded up to a 64-byte multiple, for carving scratch. */
static inline size_t round16f(size_t n) { return (n + 15) & ~(size_t)15; }

/* The strategies' runs and scratch (floats; out may be NULL: sizes
 * unknown) — rows of the table in fast_conv.c. */
int sk_fast_run_conv_im2col(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, sk_kctx *ctx);
size_t sk_conv_im2col_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads);
int sk_fast_run_conv_pixrows(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, sk_kctx *ctx);
size_t sk_conv_pixrows_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads);
/* The NCHW 1x1 strategy (fast_conv_1x1.c). */
int sk_fast_run_conv_nchw1x1(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, sk_kctx *ctx);
size_t sk_conv_nchw1x1_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads);
/* The direct NCHW strategy (fast_conv_s2.c). */
int sk_fast_run_conv_direct(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, sk_kctx *ctx);
size_t sk_conv_direct_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads);
/* The broadcast direct strategy (fast_conv_s2b.c). */
int sk_fast_run_conv_direct_bc(const sk_node *n, const sk_tensor *const *in, int nin,
                               sk_tensor *out, sk_kctx *ctx);
size_t sk_conv_direct_bc_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads);
/* Pixel rows for a Winograd node whose pix_max_n covers the run's batch
 * (its W' in wt; fast_conv.c decides). */
int sk_fast_run_conv_pixrows_alt(const sk_node *n, const sk_tensor *const *in, int nin,
                                 sk_tensor *out, sk_kctx *ctx);

#endif
