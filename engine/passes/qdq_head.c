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
 * weights into float.
 *
 * Session 14 (branch qgm): the same for a QDQ Gemm, the ResNets' classifier
 * (rewrite_gemm below): DQ(x) -> Gemm(DQ(w int8), bias?) -> float logits. */
#include <math.h>
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

/* the Gemm's bias as int32 at scale x_s * w_s[m]: DQ(int32) checked as for
 * convs, or a float constant of exact multiples of that scale (the folded
 * int32 constant is made here). A bias of [M] or [1, M] only (one value per
 * output column). 1 ok (*bq the int32 value), 0 not, < 0 error. */
static int gemm_bias(sk_graph *g, int bv, int64_t M, float xs, const float *wsc, int64_t nws,
                     int *bq)
{
    int db = sk_qdq_producer(g, bv, SK_OP_DEQUANTIZE_LINEAR);
    /* the constant's shape (a DQ's output has none before the shape walk) */
    int cv = db >= 0 ? sk_qdq_in(&g->nodes[db], 0) : bv;
    const sk_shape *bs = cv >= 0 ? &g->values[cv].shape : NULL;
    if (!bs || !((bs->rank == 1 && bs->dim[0] == M) ||
                 (bs->rank == 2 && bs->dim[0] == 1 && bs->dim[1] == M)))
        return 0;
    if (db >= 0) {
        if (!sk_qdq_int32_bias(g, db, M, xs, wsc, nws))
            return 0;
        *bq = g->nodes[db].in[0];
        return 1;
    }
    if (!sk_pass_is_const(g, bv) || g->values[bv].dtype != SK_F32)
        return 0;
    const float *bf = g->values[bv].data;
    int32_t *q = malloc((size_t)M * sizeof *q);
    if (!q)
        return SK_ENOMEM;
    for (int64_t m = 0; m < M; m++) {
        float s = xs * wsc[nws == 1 ? 0 : m];
        double r = nearbyint((double)bf[m] / (double)s);
        /* exact only: otherwise (acc + q) * s is not the float graph's sum */
        if (!(s > 0) || !(fabs(r) < 2147483647.0) || (float)((double)(float)r * s) != bf[m] ||
            (double)(float)r != r) {
            free(q);
            return 0;
        }
        q[m] = (int32_t)r;
    }
    sk_shape qs = {1, {M}};
    int v = sk_graph_add_const(g, NULL, SK_I32, &qs, q);
    free(q);
    if (v < 0)
        return v;
    *bq = v;
    return 1;
}

/* DQ(xq) -> Gemm(., DQ(w int8), bias?) -> float y (session 14, branch qgm):
 * the classifier head of a QDQ ResNet (Flatten -> Gemm, no Q after it)
 * becomes _QConvDequant with x [N, K] and w [M, K] — a 1x1 conv of N
 * one-pixel images; transB = 0 weights are transposed here. transA = 0;
 * any finite non-zero alpha (folded into the multiplier), beta == alpha
 * when there is a bias; the rest stays float. */
static int rewrite_gemm(sk_pass *p, int gi)
{
    sk_graph *g = p->g;
    const sk_node *n = &g->nodes[gi];
    /* session 15 (qft): alpha != 1 folds into the float multiplier
     * (x_s * w_s[m] * alpha, the attribute "alpha" of _QConvDequant); with
     * a bias only when beta == alpha, so that (acc + bias) * mult is still
     * alpha * sum + beta * bias */
    float alpha = sk_attr_float(n, "alpha", 1.0f);
    if (n->nin < 2 || n->nin > 3 || n->nout != 1 || n->out[0] < 0 || !(alpha != 0.0f) ||
        !isfinite(alpha) || sk_attr_int(n, "transA", 0) != 0 ||
        (sk_qdq_in(n, 2) >= 0 && sk_attr_float(n, "beta", 1.0f) != alpha))
        return 0;
    int tb = sk_attr_int(n, "transB", 0) != 0;
    int dx = sk_qdq_producer(g, sk_qdq_in(n, 0), SK_OP_DEQUANTIZE_LINEAR);
    int dw = sk_qdq_producer(g, sk_qdq_in(n, 1), SK_OP_DEQUANTIZE_LINEAR);
    if (dx < 0 || dw < 0)
        return 0;
    const sk_node *x = &g->nodes[dx], *w = &g->nodes[dw];
    if (!sk_qdq_per_tensor(g, x) || sk_qdq_in(x, 0) < 0 || sk_pass_is_const(g, x->in[0]) ||
        sk_qdq_in(w, 0) < 0)
        return 0;
    const sk_shape *ws = &g->values[w->in[0]].shape;
    if (ws->rank != 2)
        return 0;
    int64_t M = ws->dim[tb ? 0 : 1], K = ws->dim[tb ? 1 : 0], nws;
    if (M < 1 || !sk_qgemmdq_fits(sk_kconfig_for(sk_cpu_level()), K) ||
        !sk_qdq_sym_weights(g, w, M, tb ? 0 : 1, &nws))
        return 0;
    float xs = *(const float *)g->values[x->in[1]].data;
    const float *wsc = g->values[w->in[1]].data;
    int bq = -1, rc;
    if (sk_qdq_in(n, 2) >= 0 && (rc = gemm_bias(g, n->in[2], M, xs, wsc, nws, &bq)) <= 0)
        return rc;
    n = &g->nodes[gi]; /* gemm_bias may have grown the graph's arrays */
    x = &g->nodes[dx];
    w = &g->nodes[dw];
    int wq = w->in[0];
    if (!tb) { /* [K, M] -> [M, K], once at load */
        const int8_t *src = g->values[wq].data;
        int8_t *t = malloc((size_t)(M * K));
        if (!t)
            return SK_ENOMEM;
        for (int64_t k = 0; k < K; k++)
            for (int64_t m = 0; m < M; m++)
                t[m * K + k] = src[k * M + m];
        sk_shape ts = {2, {M, K}};
        wq = sk_graph_add_const(g, NULL, SK_I8, &ts, t);
        free(t);
        if (wq < 0)
            return wq;
        n = &g->nodes[gi];
        x = &g->nodes[dx];
        w = &g->nodes[dw];
    }
    int slots[7] = {x->in[0], x->in[1], x->in[2], wq, w->in[1], sk_qdq_in(w, 2), bq};
    for (int k = 0; k < 7; k++)
        if ((rc = sk_node_set_input(g, gi, k, slots[k])) < 0)
            return rc;
    g->nodes[gi].nin = bq >= 0 ? 7 : 6;
    if ((rc = sk_node_set_int(g, gi, "transB", 1)) < 0) /* what w now is, for --dump */
        return rc;
    if (alpha != 1.0f && (rc = sk_node_set_float(g, gi, "alpha", alpha)) < 0)
        return rc;
    g->nodes[gi].op = SK_OP_QCONV_DEQUANT;
    return 1;
}

int sk_pass_qdq_head(sk_pass *p)
{
    const char *on = getenv("SKIPSERVE_QDQ_HEAD");
    if ((on && strcmp(on, "0") == 0) || !sk_qconvdq_pays(sk_kconfig_for(sk_cpu_level())))
        return 0;
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        if (g->nodes[ni].op != SK_OP_CONV && g->nodes[ni].op != SK_OP_GEMM)
            continue;
        int rc = g->nodes[ni].op == SK_OP_GEMM ? rewrite_gemm(p, ni) : rewrite_head(p, ni);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory rewriting node '%s'",
                           g->nodes[ni].name);
    }
    return 0;
}
