/* fast_qmatmul.h — QLinearMatMul with a constant int8 B on the int8 GEMM
 * (qgemm.h): the QOperator form, and the QDQ DQ -> MatMul(DQ(w)) -> Q that
 * passes/qdq_ops.c rewrites into it (a transformer's Linear layers).
 *
 * Y[r][n] = requant(sum_k (A[r][k] - a_zp) * B[k][n]): qgemm's "weights"
 * are B^T (N rows of K, packed at load, per-column scales as per-row
 * multipliers), its "columns" A's rows (4 consecutive bytes of a row are
 * one c4 group: packed per run straight from A's rows), so the GEMM writes
 * Y^T [N x R] into scratch and a byte transpose gives Y. Same arithmetic as
 * ref/qlinear.c's QLinearMatMul, bit for bit: (float)acc * (a_s * b_s[n] /
 * y_s), round half to even, + y_zp, saturate.
 *
 * Packed when B is a 2-D int8 constant with zero point 0 (per tensor or per
 * column), a's and y's scales and zero points per-tensor constants, K <=
 * 32768; A of any rank >= 2 (its leading dims are rows). Else the reference. */
#ifndef SK_KERNELS_FAST_QMATMUL_H
#define SK_KERNELS_FAST_QMATMUL_H

#include "graph.h"
#include "kernels/config.h"
#include "kernels/qgemm.h"
#include "ops.h"

typedef struct sk_qmatmul_priv {
    sk_qgemm_cfg q;
    size_t K, N;
    sk_qgemm_weights w; /* B^T packed; N: -a_zp(u8) * column sums, multipliers */
    int a_s8, y_s8;
} sk_qmatmul_priv;

void sk_qmatmul_priv_free(void *p);
/* 1 packed, 0 left on the reference, < 0 no memory */
int sk_qmatmul_pack(const sk_graph *g, sk_node *n, const sk_kconfig *kc);
int sk_fast_run_qmatmul(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx);
size_t sk_fast_qmatmul_scratch(const sk_node *n, const sk_tensor *const *in, int nin);

#endif
