/* qfuse.c — the int8 convolutions' load-time work (issue 22):
 *   1. the skip connection of QOperator graphs: QLinearConv whose output
 *      only a com.microsoft QLinearAdd reads, the Add's other operand a
 *      runtime value of the same shape -> one _QConvFused node producing
 *      the Add's output (fast_qconv.h), as fuse.c merges Conv + Add;
 *   2. packing (sk_pass_qpack, after the float packer): every QLinearConv /
 *      _QConvFused with constant int8 symmetric weights and constant
 *      quantization parameters gets its weights packed for the level's int8
 *      GEMM (sk_node.priv). The raw int8 weights of a conv on the NHWC or
 *      the depthwise int8 kernel go (session 20): those kernels never fall
 *      back to the reference (a shape they do not cover is an error), so
 *      nothing reads them at the load's level — ResNet-50 QDQ 24.6 MiB,
 *      the int8 file's size again. The NCHW kernel does fall back
 *      (fast_qconv.c), and so do the ConvTranspose / MatMul / head
 *      kernels: theirs stay. SKIPSERVE_KEEP_WEIGHTS=1 keeps all. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels/fast_qconv.h"
#include "kernels/fast_qconvt.h"
#include "kernels/fast_qconv_dequant.h"
#include "kernels/fast_qmatmul.h"
#include "ops.h"
#include "pass_util.h"

/* QLinearConv ci -> QLinearAdd ai (its only reader): merge. */
static int fuse_qadd(sk_pass *p, int ci, int ai)
{
    sk_graph *g = p->g;
    const sk_node *c = &g->nodes[ci], *a = &g->nodes[ai];
    int y = c->out[0];
    if (a->nin < 7 || a->nout != 1 || c->nin < 8)
        return 0;
    int first = a->in[0] == y; /* y is A (else B) */
    if (!first && a->in[3] != y)
        return 0;
    int r = first ? a->in[3] : a->in[0], rs = first ? a->in[4] : a->in[1],
        rz = first ? a->in[5] : a->in[2];
    int ys = first ? a->in[1] : a->in[4], yz = first ? a->in[2] : a->in[5];
    /* the Add must dequantize y with the conv's own output parameters */
    if (r < 0 || r == y || sk_pass_is_const(g, r) || !sk_pass_same_known_shape(p, r, y) ||
        ys != c->in[6] || yz != c->in[7] || rs < 0 || rz < 0)
        return 0;
    int cs = a->in[6], cz = a->nin > 7 ? a->in[7] : -1, ya = a->out[0], rc;
    if (!sk_pass_is_const(g, rs) || !sk_pass_is_const(g, rz) || !sk_pass_is_const(g, cs) ||
        (cz >= 0 && !sk_pass_is_const(g, cz)))
        return 0;
    int slots[5] = {r, rs, rz, cs, cz};
    for (int k = 0; k < 5; k++)
        if ((rc = sk_node_set_input(g, ci, 9 + k, slots[k])) < 0)
            return rc;
    if ((rc = sk_node_set_string(g, ci, "fused_add", a->name)) < 0 ||
        (rc = sk_pass_append_name(g, ci, a->name)) < 0 || (rc = sk_pass_kill(p, ai)) < 0)
        return rc;
    g->nodes[ci].out[0] = ya;
    g->nodes[ci].op = SK_OP_QCONV_FUSED;
    p->nadd++;
    return 1;
}

/* QLinearConv / _QConvFused whose only reader is a _QLut (passes/qdq.c:
 * a QDQ ReLU or requantization) takes the table into its epilogue */
static int fuse_lut(sk_pass *p, int ci)
{
    sk_graph *g = p->g;
    int li, rc;
    const sk_node *c = &g->nodes[ci];
    if (c->nout != 1 || c->out[0] < 0 || (c->nin > 14 && c->in[14] >= 0) ||
        sk_pass_uses(g, c->out[0], &li) != 1 || li < 0 || g->nodes[li].op != SK_OP_QLUT ||
        g->nodes[li].in[0] != c->out[0] || !sk_pass_is_const(g, g->nodes[li].in[1]))
        return 0;
    int table = g->nodes[li].in[1], yo = g->nodes[li].out[0];
    int64_t s8 = sk_attr_int(&g->nodes[li], "out_int8", 0);
    if ((rc = sk_node_set_input(g, ci, 14, table)) < 0 ||
        (rc = sk_node_set_int(g, ci, "lut_int8", s8)) < 0 || (rc = sk_pass_kill(p, li)) < 0)
        return rc;
    g->nodes[ci].out[0] = yo;
    g->nodes[ci].op = SK_OP_QCONV_FUSED;
    return 1;
}

int sk_pass_qfuse(sk_pass *p)
{
    sk_graph *g = p->g;
    int qrc = sk_qdq_fuse(p); /* the QDQ forms (qdq.c) */
    if (qrc < 0)
        return qrc;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        if (n->op != SK_OP_QLINEAR_CONV || n->nout != 1 || n->out[0] < 0 || n->in[0] < 0)
            continue;
        int who;
        if (sk_pass_uses(g, n->out[0], &who) != 1 || who < 0 ||
            g->nodes[who].op != SK_OP_QLINEAR_ADD)
            continue;
        int rc = fuse_qadd(p, ni, who);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory fusing node '%s'",
                           g->nodes[ni].name);
    }
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_op op = g->nodes[ni].op;
        int rc = op == SK_OP_QLINEAR_CONV || op == SK_OP_QCONV_FUSED ? fuse_lut(p, ni) : 0;
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory fusing node '%s'",
                           g->nodes[ni].name);
    }
    return 0;
}

int sk_pass_qpack(sk_pass *p)
{
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    if (!kc)
        return 0;
    /* SKIPSERVE_INT8_PBLOCK=n: n output columns per block, <= 0 the
     * unblocked path (A/B timing and tests); unset: chosen per conv */
    const char *pb = getenv("SKIPSERVE_INT8_PBLOCK");
    int pblock = pb && *pb ? (atoi(pb) > 0 ? atoi(pb) : -1) : 0;
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        if (n->priv || (n->op != SK_OP_QLINEAR_CONV && n->op != SK_OP_QCONV_FUSED))
            continue;
        int rc = sk_qconv_pack(g, n, kc, pblock);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory packing the weights of '%s'",
                           n->name);
        p->npacked += rc;
        const sk_qconv_priv *pv = n->priv;
        if (rc > 0 && pv && (pv->ig.uk || pv->dwk.uk))
            sk_pass_release_weight(g, ni, 3);
    }
    for (int ni = 0; ni < g->nnodes; ni++) { /* int8 ConvTranspose (fast_qconvt.h) */
        sk_node *n = &g->nodes[ni];
        if (n->priv || (n->op != SK_OP_QCONV_TRANSPOSE && n->op != SK_OP_QLINEAR_MATMUL))
            continue;
        int rc = n->op == SK_OP_QCONV_TRANSPOSE ? sk_qconvt_pack(g, n, kc)
                                                : sk_qmatmul_pack(g, n, kc);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory packing the weights of '%s'",
                           n->name);
        p->npacked += rc;
    }
    for (int ni = 0; ni < g->nnodes; ni++) { /* the QDQ head (fast_qconv_dequant.h) */
        sk_node *n = &g->nodes[ni];
        if (n->priv || n->op != SK_OP_QCONV_DEQUANT)
            continue;
        int rc = sk_qconvdq_pack(g, n, kc);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory packing the weights of '%s'",
                           n->name);
        p->npacked += rc;
    }
    return 0;
}
