/* qdq_head.c — a QDQ model's head onto the int8 GEMM (issue 22, session 14):
 *
 *   DQ(xq) -> Conv 1x1 (DQ(w int8), DQ(b int32)?) -> float y
 *     becomes _QConvDequant(xq, x_s, x_zp, w, w_s, w_zp, b?)
 *     (ref/qconv_dequant.c; kernels/fast_qconv_dequant.c)
 *
 * The conv qdq.c did not make a QLinearConv because no QuantizeLinear reads
 * it — the last conv of a segmentation net, whose float logits are the
 * model's output. Left alone, its DequantizeLinear writes the whole uint8
 * feature map as float and a float conv reads it back. Conditions: x per
 * tensor and not a constant, w constant symmetric int8 per tensor or per
 * output channel, the bias (if any) int32 at scale x_scale * w_scale[m] with
 * zero point 0 (the checks qdq.c uses for QLinearConv), a 2-D pointwise conv
 * (1x1, stride 1, no pads, group 1) of at most SK_QCONVDQ_MAXC input
 * channels, and a level whose kernel makes it pay (sk_qconvdq_pays: the
 * AVX512-VNNI one, or the scalar reference level).
 * SKIPSERVE_QDQ_HEAD=0 at load leaves the head in float (A/B timing). Runs
 * from sk_pass_qdq after the QLinearConv rewrite, before fold.c turns int8
 * weights into float. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "graph.h"
#include "kernels/fast_qconv_dequant.h"
#include "ops.h"
#include "pass_util.h"
#include "qdq_util.h"

/* strides 1, pads 0, group 1, no auto_pad that could pad */
static int pointwise(const sk_node *c)
{
    const int64_t *a;
    int na;
    if (sk_attr_int(c, "group", 1) != 1)
        return 0;
    if ((na = sk_attr_ints(c, "strides", &a)) > 0)
        for (int i = 0; i < na; i++)
            if (a[i] != 1)
                return 0;
    if ((na = sk_attr_ints(c, "pads", &a)) > 0)
        for (int i = 0; i < na; i++)
            if (a[i] != 0)
                return 0;
    const char *ap = sk_attr_str(c, "auto_pad", "NOTSET");
    return strcmp(ap, "NOTSET") == 0 || strcmp(ap, "VALID") == 0;
}

static int rewrite_head(sk_pass *p, int ci)
{
    sk_graph *g = p->g;
    const sk_node *c = &g->nodes[ci];
    if (c->nin < 2 || c->nin > 3 || c->nout != 1 || c->out[0] < 0 || !pointwise(c))
        return 0;
    int dx = sk_qdq_producer(g, sk_qdq_in(c, 0), SK_OP_DEQUANTIZE_LINEAR);
    int dw = sk_qdq_producer(g, sk_qdq_in(c, 1), SK_OP_DEQUANTIZE_LINEAR);
    int db = sk_qdq_in(c, 2) >= 0 ? sk_qdq_producer(g, sk_qdq_in(c, 2), SK_OP_DEQUANTIZE_LINEAR)
                                  : -1;
    if (dx < 0 || dw < 0 || (sk_qdq_in(c, 2) >= 0 && db < 0))
        return 0;
    const sk_node *x = &g->nodes[dx], *w = &g->nodes[dw];
    if (!sk_qdq_per_tensor(g, x) || sk_qdq_in(x, 0) < 0 || sk_pass_is_const(g, x->in[0]) ||
        sk_qdq_in(w, 0) < 0)
        return 0;
    const sk_shape *ws = &g->values[w->in[0]].shape;
    int64_t nws;
    if (ws->rank != 4 || ws->dim[2] != 1 || ws->dim[3] != 1 || ws->dim[1] < 1 ||
        ws->dim[1] > SK_QCONVDQ_MAXC || !sk_qdq_sym_weights(g, w, ws->dim[0], 0, &nws))
        return 0;
    if (db >= 0 && !sk_qdq_int32_bias(g, db, ws->dim[0], *(const float *)g->values[x->in[1]].data,
                                      g->values[w->in[1]].data, nws))
        return 0;
    int slots[7] = {x->in[0], x->in[1], x->in[2], w->in[0], w->in[1], sk_qdq_in(w, 2),
                    db >= 0 ? g->nodes[db].in[0] : -1};
    int rc;
    for (int k = 0; k < 7; k++)
        if ((rc = sk_node_set_input(g, ci, k, slots[k])) < 0)
            return rc;
    g->nodes[ci].nin = db >= 0 ? 7 : 6;
    g->nodes[ci].op = SK_OP_QCONV_DEQUANT;
    return 1;
}

int sk_pass_qdq_head(sk_pass *p)
{
    const char *on = getenv("SKIPSERVE_QDQ_HEAD");
    if ((on && strcmp(on, "0") == 0) || !sk_qconvdq_pays(sk_kconfig_for(sk_cpu_level())))
        return 0;
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        if (g->nodes[ni].op != SK_OP_CONV)
            continue;
        int rc = rewrite_head(p, ni);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory rewriting node '%s'",
                           g->nodes[ni].name);
    }
    return 0;
}
