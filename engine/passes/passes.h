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
