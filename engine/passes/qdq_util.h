/* qdq_util.h — the checks of a QDQ pattern that qdq.c (convolutions, glue)
 * and qdq_ops.c (the other operators) share; defined in qdq.c. */
#ifndef SK_PASSES_QDQ_UTIL_H
#define SK_PASSES_QDQ_UTIL_H

#include <stdint.h>

#include "graph.h"
#include "pass_util.h"

/* input k of n, or -1 when n has fewer */
static inline int sk_qdq_in(const sk_node *n, int k) { return k < n->nin ? n->in[k] : -1; }
/* the node producing v when it is op, else -1 */
int sk_qdq_producer(const sk_graph *g, int v, sk_op op);
/* a DQ / Q node's scale and zero point are per-tensor constants (zero point
 * present and 8-bit) */
int sk_qdq_per_tensor(const sk_graph *g, const sk_node *n);
/* DQ of constant symmetric int8 weights: per tensor, or M scales along
 * `axis`; *nscales gets their count */
int sk_qdq_sym_weights(const sk_graph *g, const sk_node *d, int64_t M, int64_t axis,
                       int64_t *nscales);
/* DQ db of an int32 bias of M values whose scale is x_scale * w_scale[m] in
 * float32 (nws weight scales) and zero point 0 */
int sk_qdq_int32_bias(const sk_graph *g, int db, int64_t M, float xs, const float *wsc,
                      int64_t nws);
/* The node ci (op with inputs X, W, B?) between DQs and one Q becomes `to`
 * with QLinearConv's nine inputs (Conv: wrank 4, waxis 0; ConvTranspose:
 * waxis 1; MatMul: waxis 1). 1 rewritten, 0 not, < 0 error. */
/* node ni becomes _QLut(x, table) producing y (yt: the table's 8-bit type);
 * 1, or a negative code (qdq.c) */
int sk_qdq_to_lut(sk_pass *p, int ni, int x, const uint8_t *table, sk_dtype yt, int y);
int sk_qdq_rewrite_wq(sk_pass *p, int ci, int wrank, int waxis, sk_op to);

#endif
