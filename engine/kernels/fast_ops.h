/* fast_ops.h — fast (vectorized, threaded) kernels for the non-convolution
 * hot ops of ResNet, U-Net and ViT graphs, and how dispatch picks them.
 *
 * A plan step's kernel is chosen once, from the node alone
 * (sk_dispatch_run(n) knows no shapes), so every kernel here re-checks the
 * shapes and attributes it is handed at run time and calls the reference
 * kernel (sk_op_get(n->op)->run) for any case it does not cover: the result
 * is always the reference's, only faster where a fast path exists.
 *
 * Layering (engine/kernels/README.md, "Fast kernels (non-conv)"):
 *   fast_ops_*.c       ISA-neutral drivers: shape checks, threading over
 *                      ctx->pool, scratch carving; no intrinsics
 *   avx2/, avx512/     vector loops (microkernels) behind the sk_fast_uk
 *                      table of each level, compiled with per-file flags
 *   fast_simd.h    the per-ISA vector layer those files share, so the
 *                      AVX-512 loops are the AVX2 loops with wider vectors
 * At SK_ISA_SCALAR nothing here is dispatched: the reference runs. */
#ifndef SK_KERNELS_FAST_OPS_H
#define SK_KERNELS_FAST_OPS_H

#include <stddef.h>

#include "cpu.h"
#include "kernels/gemm.h"
#include "graph.h"
#include "kernels/config.h"
#include "ops.h"

/* The fast kernel for node n, or NULL when none applies at the current
 * sk_cpu_level(). in/out may be NULL (nin = nout = 0): the choice is then
 * made from the op and its attributes only, as sk_dispatch_run does; with
 * shapes, NULL also when the shapes are not a fast case. */
sk_kernel_fn sk_dispatch_ops(const sk_node *n, const sk_tensor *const *in, int nin,
                             const sk_tensor *out, int nout);

/* Scratch bytes the kernel sk_dispatch_ops picks for the node needs with
 * these shapes and `nthreads` workers: the fast path's need or, when larger
 * or when the shapes are not covered, the reference kernel's (the fast
 * kernel falls back to it). 0 when no fast kernel is picked for the node. */
size_t sk_dispatch_ops_scratch(const sk_node *n, const sk_tensor *const *in, int nin,
                               const sk_tensor *out, int nout, int nthreads);

/* ---- the fast kernels (same contract as the ops.h run functions) -------- */
#define SK_FAST_KERNELS(X)                                                      \
    X(binary)         /* Add, Sub, Mul, Div: float32, any broadcast */          \
    X(unary)          /* Relu, Clip, Sigmoid, Tanh, Erf: float32 */             \
    X(softmax)        /* Softmax, LogSoftmax over a trailing contiguous block */ \
    X(layer_norm)     /* LayerNormalization with full-extent Scale / B */       \
    X(max_pool)       /* MaxPool 1-3-D, float32, no Indices output */           \
    X(average_pool)   /* AveragePool 1-3-D */                                   \
    X(global_pool)    /* GlobalAveragePool, GlobalMaxPool */                    \
    X(matmul)         /* MatMul, batched with broadcasting, via sk_gemm */      \
    X(gemm)           /* Gemm without packed weights, alpha = beta = 1 */       \
    X(conv_transpose) /* ConvTranspose 1-3-D via sk_gemm + scatter / col2im */  \
    X(concat)         /* Concat, any axis and dtype: threaded copies */         \
    X(transpose)      /* Transpose: any perm (4-byte elements if the innermost  \
                         dim moves, any size otherwise) */                     \
    X(resize)         /* Resize nearest / linear on NCHW (H, W resized) */   \
    X(quantize)       /* QuantizeLinear per tensor, float32 -> 8-bit */      \
    X(dequantize)     /* DequantizeLinear per tensor, 8-bit -> float32 */   \
    X(qlut)           /* _QLut: 256-entry table lookups, threaded */ \
    X(qavgpool)       /* _QAvgPool: int8 average pools, integer sums, threaded */ \
    X(qresize)        /* _QResize: int8 linear Resize, fixed-point weights */

/* run: as an ops.h run function (the level's kernels in ctx->kcfg). plan:
 * 1 when the fast path of level kc covers these shapes (its scratch bytes
 * for `nthreads` workers in *scratch), 0 when the run would hand them to
 * the reference kernel. */
#define SK_FAST_DECL(name)                                                                \
    int sk_fast_run_##name(const sk_node *n, const sk_tensor *const *in, int nin,            \
                           sk_tensor *out, int nout, sk_kctx *ctx);                       \
    int sk_fast_plan_##name(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in, \
                            int nin, const sk_tensor *out, int nout, int nthreads,          \
                            size_t *scratch);
SK_FAST_KERNELS(SK_FAST_DECL)
#undef SK_FAST_DECL

/* MaxPool on uint8 data (fast_qpool.c; the uint8 case of max_pool):
 * plan as above (with the kernel's node and shapes), run as an ops.h run
 * function, falling back to the reference for what it does not cover. */
int sk_fast_plan_max_pool_u8(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                             int nthreads, size_t *scratch);
int sk_fast_run_max_pool_u8(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx);

/* A operands packed once per run: the GEMM driver packs a callback's A
 * block again for every column block of B, which for activations x weights
 * (M ~ 200, N ~ 3000) redoes the packing 16 times. This packs every item's
 * whole A (items x M x K, read through pack_a) into `dst` in the layout of
 * sk_gemm_packed_a with groups = items, threaded over panels. */
size_t sk_fast_prepack_a_floats(const sk_gemm_cfg *cfg, int items, int M, int K);
void sk_fast_prepack_a(struct sk_pool *pool, const sk_gemm_cfg *cfg, sk_gemm_pack_a_fn pack_a,
                       const void *ctx, int items, int M, int K, float *dst,
                       sk_gemm_packed_a *out);

/* The reference kernel of n: what every fast kernel falls back to. */
static inline int sk_fast_ref(const sk_node *n, const sk_tensor *const *in, int nin,
                              sk_tensor *out, int nout, sk_kctx *ctx)
{
    return sk_op_get(n->op)->run(n, in, nin, out, nout, ctx);
}

/* ctx->scratch when it holds `bytes` (> 0), else NULL: the kernel then
 * falls back to the reference rather than allocate during a run. */
static inline void *sk_fast_ctx_scratch(const sk_kctx *ctx, size_t bytes)
{
    return ctx->scratch && ctx->scratch_bytes >= bytes ? ctx->scratch : NULL;
}

/* The vector loops a run was handed (ctx->kcfg), or NULL (reference). */
static inline const sk_fast_uk *sk_fast_uk_of(const sk_kctx *ctx)
{
    return ctx->kcfg ? &ctx->kcfg->ops : NULL;
}
/* The GEMM config a run was handed, or NULL (reference). */
static inline const sk_gemm_cfg *sk_fast_gemm_of(const sk_kctx *ctx)
{
    return ctx->kcfg ? &ctx->kcfg->gemm : NULL;
}

/* Floats rounded up to a 64-byte multiple, for carving scratch. */
static inline size_t sk_fast_pad(size_t floats) { return (floats + 15) & ~(size_t)15; }

/* Per-ISA pieces the tables are built from (avx2/ and avx512/ files). */
#define SK_FAST_UK_PROTOS(sfx)                                                               \
    void sk_f32_vadd__##sfx(size_t, const float *, int, const float *, int, float *);        \
    void sk_f32_vsub__##sfx(size_t, const float *, int, const float *, int, float *);        \
    void sk_f32_vmul__##sfx(size_t, const float *, int, const float *, int, float *);        \
    void sk_f32_vdiv__##sfx(size_t, const float *, int, const float *, int, float *);        \
    void sk_f32_vrelu__##sfx(size_t, const float *, float *);                                \
    void sk_f32_vclamp__##sfx(size_t, const float *, float *, float, float);                 \
    void sk_f32_vsigmoid__##sfx(size_t, const float *, float *);                             \
    void sk_f32_vtanh__##sfx(size_t, const float *, float *);                                \
    void sk_f32_verf__##sfx(size_t, const float *, float *);                                 \
    float sk_f32_rmax__##sfx(size_t, const float *);                                         \
    float sk_f32_rsum__##sfx(size_t, const float *);                                         \
    float sk_f32_vexpsub_sum__##sfx(size_t, const float *, float, float *);                  \
    void sk_f32_vaffine__##sfx(size_t, const float *, float, float, float *);                \
    float sk_f32_rsumsqdev__##sfx(size_t, const float *, float);                             \
    void sk_f32_vlnorm__##sfx(size_t, const float *, float, float, const float *,            \
                              const float *, float *);                                       \
    void sk_f32_vmax_acc__##sfx(size_t, const float *, float *);                             \
    void sk_f32_vadd_acc__##sfx(size_t, const float *, float *);                             \
    void sk_f32_vmax_taps__##sfx(size_t, const float *const *, int, float *);                \
    void sk_f32_vsum_taps__##sfx(size_t, const float *const *, int, float *);                \
    void sk_f32_deinterleave2__##sfx(size_t, const float *, float *, float *);               \
    void sk_f32_interleave2__##sfx(size_t, const float *, const float *, float, float *);    \
    void sk_f32_vblend__##sfx(size_t, const float *, float, const float *, float, float *);  \
    void sk_f32_vup2_linear__##sfx(size_t, const float *, float *);                         \
    void sk_f32_gemv_panel__##sfx(size_t, const float *, const float *, float *);
SK_FAST_UK_PROTOS(avx2)
SK_FAST_UK_PROTOS(avx512f)
/* _AttentionFused (fast_attention.c) */
int sk_fast_plan_attention(const sk_kconfig *kc, const sk_node *n,
                           const sk_tensor *const *in, int nin, const sk_tensor *out, int nout,
                           int nthreads, size_t *scratch);
int sk_fast_run_attention(const sk_node *n, const sk_tensor *const *in, int nin,
                          sk_tensor *out, int nout, sk_kctx *ctx);
/* _AttentionHeads (fast_attention.c) */
int sk_fast_plan_attention_heads(const sk_kconfig *kc, const sk_node *n,
                                 const sk_tensor *const *in, int nin, const sk_tensor *out,
                                 int nout, int nthreads, size_t *scratch);
int sk_fast_run_attention_heads(const sk_node *n, const sk_tensor *const *in, int nin,
                                sk_tensor *out, int nout, sk_kctx *ctx);
/* GELU rows (fast_gelu_uk.h), kept apart from the list above so that
 * list stays as it was. */
#define SK_GELU_UK_PROTOS(sfx)                                      \
    void sk_f32_vgelu_erf__##sfx(size_t, const float *, float *); \
    void sk_f32_vgelu_tanh__##sfx(size_t, const float *, float *);
SK_GELU_UK_PROTOS(avx2)
SK_GELU_UK_PROTOS(avx512f)
/* 8x8 register transpose; AVX-512 CPUs run it too (memory-bound). */
void sk_f32_transpose__avx2(size_t rows, size_t cols, const float *src, size_t lds, float *dst,
                            size_t ldd);
void sk_f32_transpose_epi__avx2(size_t rows, size_t cols, const float *src, size_t lds,
                                float *dst, size_t ldd, const float *bias, const float *res,
                                float lo, float hi);

#endif
