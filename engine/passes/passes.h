/* passes.h — load-time graph rewrites, run once after loading and before
 * any plan is made.
 *
 * Level 1 (the default of the programs):
 *   - BatchNormalization folded into the preceding Conv's weights and bias
 *     when the Conv output feeds nothing else;
 *   - Conv (+ folded BN) + residual Add (same shape, the other operand a
 *     runtime value) + Relu/Clip (constant bounds) -> one _ConvFused node
 *     whose epilogue does the add and activation while the tile is hot;
 *     Gemm (constant B) + Relu/Clip -> _GemmFused;
 *   - every _ConvFused / _GemmFused gets its weights packed into the GEMM
 *     panel layout of the active ISA level (sk_cpu_level()) in
 *     sk_node.priv, read-only afterwards, shared by all plans;
 *   - constants nothing reads any more (folded originals) are freed.
 * Fused node names list the merged nodes ("conv1+bn1+add+relu"); attributes
 * "activation", "act_min", "act_max", "fused_add" say what was merged, so the
 * graph dump shows it. Level 0 leaves the graph as loaded. */
#ifndef SK_PASSES_H
#define SK_PASSES_H

#include <stddef.h>

#include "graph.h"

int sk_graph_optimize(sk_graph *g, int level, char *err, size_t errlen);

/* Arithmetic precision of a model's convolutions, asked at load.
 * SK_PREC_BF16: weights rounded to bfloat16 at load, activations rounded
 * to bfloat16 as the GEMM packs them, products accumulated in float32
 * (vdpbf16ps); every tensor between layers stays float32. Only where the
 * CPU has AVX512-BF16 (sk_bf16_available): elsewhere the load runs FP32.
 * (INT8 needs no option: a quantized file is simply loaded.) */
typedef enum { SK_PREC_FP32 = 0, SK_PREC_BF16 = 1 } sk_precision;

/* Load options of sk_graph_optimize_opts. Zero-initialised = level 0. */
typedef struct sk_load_opts {
    int level;              /* as sk_graph_optimize's level */
    sk_precision precision; /* asked; SK_PREC_FP32 by default */
    int bf16_convs;         /* out: convolutions packed for BF16 */
    int bf16_form_convs;     /* out: Winograd convs also packed for BF16 (not in bf16_convs) */
} sk_load_opts;

int sk_graph_optimize_opts(sk_graph *g, sk_load_opts *opts, char *err, size_t errlen);

/* 1 when this CPU and build run the BF16 kernels (AVX512-BF16 and the
 * AVX-512 level not lowered by SKIPSERVE_ISA). */
int sk_bf16_available(void);
/* "fp32" | "bf16" | "int8" (the server's names) */
const char *sk_precision_name(sk_precision p);

/* Shapes (and dtypes) of every value for inputs of the given shapes
 * (`inputs`: g->ninputs entries, data ignored), without planning: each
 * op's infer in topological order; small values computable at load time
 * (Shape -> Gather -> Concat chains) are computed with the reference
 * kernels so shapes after a dynamic Reshape are known too. A value that
 * cannot be inferred gets rank -1. For passes and for counting MACs. */
int sk_graph_infer_shapes(const sk_graph *g, const sk_tensor *inputs, sk_shape *shapes,
                          sk_dtype *dtypes);

/* Multiply-accumulates of node ni (Conv, ConvTranspose, Gemm, MatMul and
 * their fused forms) with the value shapes from sk_graph_infer_shapes; 0
 * for other ops or unknown shapes. */
int64_t sk_node_macs(const sk_graph *g, int ni, const sk_shape *shapes);

#endif
