/* pass_util.h — shared state and helpers of the passes in this folder. */
#ifndef SK_PASS_UTIL_H
#define SK_PASS_UTIL_H

#include "graph.h"

typedef struct sk_pass {
    sk_graph *g;
    sk_shape *shape[2]; /* per value from two shape walks (rank -1: unknown) */
    int fresh;          /* counter for names of dead outputs */
    int nfused, nbn, nadd, nact, npacked;
    char *err;
    size_t errlen;
    int precision; /* sk_precision the prepack pass packs for (passes.h) */
    int nbf16;     /* convolutions it packed for BF16 */
    int nbf16_form; /* Winograd convs given a BF16 form too (SKIPSERVE_BF16_WINO_T) */
} sk_pass;

/* Shapes of every value with the symbolic input dims bound to one of two
 * guesses (variant 0 / 1); values whose shape cannot be inferred without
 * running anything get rank -1. Two guesses that agree make "these two
 * values always have the same shape" safe to rely on. */
int sk_pass_shapes(const sk_graph *g, int variant, sk_shape *shapes);

int sk_pass_is_const(const sk_graph *g, int v);
int sk_pass_is_output(const sk_graph *g, int v);
/* Reads of value v by nodes (each input slot counts) plus graph outputs;
 * *only = the reading node when exactly one node reads it once. */
int sk_pass_uses(const sk_graph *g, int v, int *only);
/* Unhook node ni: inputs become omitted, outputs fresh unused values, so a
 * later sk_graph_eliminate_dead drops it. */
int sk_pass_kill(sk_pass *p, int ni);
/* Free constant v's data now if nothing reads it any more (a weight a
 * rewrite replaced by a new one; passes.c's free_unused_consts would free
 * it only after the packing, all such weights at once). */
void sk_pass_drop_unused(sk_graph *g, int v);
/* Free input k of node ni (its weights, packed into ni's priv) when ni is
 * their one reader and they are no graph output: the value keeps its shape
 * and is marked `released` (prepack.c's release_weights says why). Not
 * with SKIPSERVE_KEEP_WEIGHTS=1. */
void sk_pass_release_weight(sk_graph *g, int ni, int k);

int sk_pass_fold(sk_pass *p); /* fold.c: constant Cast / DequantizeLinear */
int sk_pass_fuse(sk_pass *p);
int sk_pass_prepack(sk_pass *p);
int sk_pass_qfuse(sk_pass *p); /* qfuse.c: QLinearConv + QLinearAdd -> _QConvFused */
int sk_pass_qpack(sk_pass *p); /* qfuse.c: int8 conv weights packed */
int sk_pass_qlayout(sk_pass *p); /* qlayout.c: NHWC int8 values between NHWC convs */
int sk_pass_qdq(sk_pass *p);   /* qdq.c: DQ -> Conv -> Q as QLinearConv (before fold) */
int sk_qdq_fuse(sk_pass *p);   /* qdq.c: QDQ Add into _QConvFused, DQ-Relu-Q tables */
int sk_pass_qdq_ops(sk_pass *p); /* qdq_ops.c: QDQ ConvTranspose, MatMul -> int8 ops (before fold) */
int sk_pass_qdq_head(sk_pass *p); /* qdq_head.c: a QDQ 1x1 conv with float output -> _QConvDequant */
int sk_pass_qdq_act(sk_pass *p); /* qdq_act.c: Conv -> Clip|Relu -> Q as Conv -> Q -> clamp table (first in sk_pass_qdq) */

/* fuse.c's chain links, for fuse_matmul.c: the node (op) reading y as its
 * only use, or -1; merge Add(Y, R) / Relu|Clip into fused node ni (1:
 * merged, 0: not, < 0: error); append "+more" to ni's name. */
int sk_pass_sole_reader(const sk_graph *g, int y, sk_op op);
int sk_pass_fuse_add(sk_pass *p, int ni, int ai);
int sk_pass_fuse_act(sk_pass *p, int ni);
int sk_pass_append_name(sk_graph *g, int ni, const char *more);
int sk_pass_same_known_shape(const sk_pass *p, int a, int b);
/* fuse_matmul.c: MatMul(A, W const 2-D) (+ bias, residual, GELU / Relu /
 * Clip) -> _MatMulFused */
int sk_pass_matmul_eligible(const sk_graph *g, const sk_node *n);
int sk_pass_fuse_matmul(sk_pass *p, int mi);
/* fuse_attention.c: [Div|Mul](Q, c) -> MatMul(Kt) -> Softmax -> MatMul(V)
 * from the first MatMul mi -> _AttentionFused (1 fused, 0 not, < 0 error) */
int sk_pass_fuse_attention(sk_pass *p, int mi);
/* fuse_irblock.c: expand 1x1 -> depthwise 3x3 -> project 1x1 _ConvFused
 * chains -> _IRBlockFused, weights packed (issue 24) */
int sk_pass_fuse_irblock(sk_pass *p);

#endif
