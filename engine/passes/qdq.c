/* qdq.c — QDQ models (QuantizeLinear / DequantizeLinear around float ops,
 * what onnxruntime's QuantFormat.QDQ and models/lowp_convert.py write) onto
 * the integer kernels, as onnxruntime's QDQ transformer does:
 *
 *   sk_pass_qdq (before fold.c, which would turn the int8 weights into
 *   float32):
 *     DQ(xq) -> Conv(DQ(w int8), DQ(b int32)?) -> Q   becomes
 *     QLinearConv(xq, .., w, .., b)
 *   when x is per tensor, w int8 symmetric (per tensor or per output
 *   channel, axis 0), the bias scale equals x_scale * w_scale[m] in float32
 *   (so the int32 bias means what QLinearConv's does) and the Conv's only
 *   reader is the Q. The Conv then computes in int32 and requantizes as
 *   QLinearConv does (ref/qlinear.c) instead of summing dequantized floats:
 *   the same arithmetic as onnxruntime, which runs QDQ files this way.
 *
 *   sk_qdq_fuse (called by qfuse.c once shapes are known):
 *     QLinearConv -> DQ -> Add(., DQ(rq)) -> Q      becomes _QConvFused with
 *     the residual rq (the skip connection in the conv's epilogue; the
 *     same float operations as the unfused DQ/Add/Q, bit for bit), and
 *     DQ -> Relu -> Q (8-bit in and out, per tensor) becomes _QLut, a
 *     256-entry table computed at load by running the reference DQ, Relu
 *     and Q kernels on all 256 inputs (exact by construction), and
 *     DQ(uint8) -> MaxPool -> Q becomes MaxPool on the uint8 data (+ the
 *     DQ -> Q table when Q's scale or zero point differ from DQ's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "kernels/ref/quant_util.h"
#include "ops.h"
#include "pass_util.h"
#include "qdq_util.h"

/* the node producing v when it is op, else -1 */
int sk_qdq_producer(const sk_graph *g, int v, sk_op op)
{
    if (v < 0)
        return -1;
    int pi = g->values[v].producer;
    return pi >= 0 && g->nodes[pi].op == op ? pi : -1;
}

/* A DQ / Q node's scale and zero point are per-tensor constants (zero point
 * present and 8-bit). */
int sk_qdq_per_tensor(const sk_graph *g, const sk_node *n)
{
    int s = sk_qdq_in(n, 1), z = sk_qdq_in(n, 2);
    if (!sk_pass_is_const(g, s) || !sk_pass_is_const(g, z))
        return 0;
    const sk_value *sv = &g->values[s], *zv = &g->values[z];
    return sv->dtype == SK_F32 && sk_shape_numel(&sv->shape) == 1 && sk_q_is8(zv->dtype) &&
           sk_shape_numel(&zv->shape) == 1;
}

/* DQ of constant symmetric int8 weights: per tensor, or M scales along
 * `axis`; *nscales gets their count */
int sk_qdq_sym_weights(const sk_graph *g, const sk_node *d, int64_t M, int64_t axis,
                       int64_t *nscales)
{
    int q = sk_qdq_in(d, 0), s = sk_qdq_in(d, 1), z = sk_qdq_in(d, 2);
    if (!sk_pass_is_const(g, q) || !sk_pass_is_const(g, s) || g->values[q].dtype != SK_I8 ||
        g->values[s].dtype != SK_F32)
        return 0;
    int64_t ns = sk_shape_numel(&g->values[s].shape);
    if (ns != 1 && !(ns == M && sk_attr_int(d, "axis", 1) == axis))
        return 0;
    if (z >= 0) {
        if (!sk_pass_is_const(g, z) || g->values[z].dtype != SK_I8 ||
            sk_shape_numel(&g->values[z].shape) != ns)
            return 0;
        for (int64_t i = 0; i < ns; i++)
            if (((const int8_t *)g->values[z].data)[i] != 0)
                return 0;
    }
    *nscales = ns;
    return 1;
}

/* DQ db of an int32 bias of M values whose scale is x_scale * w_scale[m] */
int sk_qdq_int32_bias(const sk_graph *g, int db, int64_t M, float xs, const float *wsc,
                      int64_t nws)
{
    const sk_node *b = &g->nodes[db];
    int bq = sk_qdq_in(b, 0), bs = sk_qdq_in(b, 1), bz = sk_qdq_in(b, 2);
    if (!sk_pass_is_const(g, bq) || g->values[bq].dtype != SK_I32 ||
        sk_shape_numel(&g->values[bq].shape) != M || !sk_pass_is_const(g, bs) ||
        g->values[bs].dtype != SK_F32)
        return 0;
    int64_t nbs = sk_shape_numel(&g->values[bs].shape);
    if (nbs != 1 && nbs != M)
        return 0;
    if (bz >= 0) {
        if (!sk_pass_is_const(g, bz) || g->values[bz].dtype != SK_I32)
            return 0;
        for (int64_t i = 0; i < sk_shape_numel(&g->values[bz].shape); i++)
            if (((const int32_t *)g->values[bz].data)[i] != 0)
                return 0;
    }
    const float *bsc = g->values[bs].data;
    for (int64_t m = 0; m < M; m++)
        if (bsc[nbs == 1 ? 0 : m] != xs * wsc[nws == 1 ? 0 : m])
            return 0;
    return 1;
}

/* two per-tensor nodes with the same scale, zero point and type */
static int same_qparams(const sk_graph *g, const sk_node *a, int as, int az, const sk_node *b)
{
    const sk_value *s1 = &g->values[sk_qdq_in(a, as)], *z1 = &g->values[sk_qdq_in(a, az)],
                   *s2 = &g->values[b->in[1]], *z2 = &g->values[b->in[2]];
    return s1->data && z1->data && sk_shape_numel(&s1->shape) == 1 &&
           sk_shape_numel(&z1->shape) == 1 && z1->dtype == z2->dtype &&
           *(const float *)s1->data == *(const float *)s2->data &&
           sk_q_load(z1->dtype, z1->data, 0) == sk_q_load(z2->dtype, z2->data, 0);
}

/* The node ci (op with inputs X, W, B?) between DQs and one Q becomes
 * `to` with QLinearConv's nine inputs. wrank: the weight's rank (0: any);
 * waxis: its output channel axis (its scales' axis). 1 rewritten, 0 not,
 * < 0 error. */
int sk_qdq_rewrite_wq(sk_pass *p, int ci, int wrank, int waxis, sk_op to)
{
    sk_graph *g = p->g;
    const sk_node *c = &g->nodes[ci];
    if (c->nin < 2 || c->nout != 1 || c->out[0] < 0 || sk_pass_is_output(g, c->out[0]))
        return 0;
    int dx = sk_qdq_producer(g, sk_qdq_in(c, 0), SK_OP_DEQUANTIZE_LINEAR);
    int dw = sk_qdq_producer(g, sk_qdq_in(c, 1), SK_OP_DEQUANTIZE_LINEAR);
    int db = sk_qdq_in(c, 2) >= 0 ? sk_qdq_producer(g, sk_qdq_in(c, 2), SK_OP_DEQUANTIZE_LINEAR) : -1;
    int qy = sk_pass_sole_reader(g, c->out[0], SK_OP_QUANTIZE_LINEAR);
    if (dx < 0 || dw < 0 || qy < 0 || (sk_qdq_in(c, 2) >= 0 && db < 0))
        return 0;
    const sk_node *x = &g->nodes[dx], *w = &g->nodes[dw], *q = &g->nodes[qy];
    if (!sk_qdq_per_tensor(g, x) || !sk_qdq_per_tensor(g, q) || sk_qdq_in(x, 0) < 0 ||
        sk_pass_is_const(g, sk_qdq_in(x, 0)) || q->in[0] != c->out[0] || sk_qdq_in(w, 0) < 0)
        return 0;
    const sk_shape *ws = &g->values[sk_qdq_in(w, 0)].shape;
    if (waxis >= ws->rank || (wrank && ws->rank != wrank))
        return 0;
    int64_t M = ws->dim[waxis], nws;
    if (!sk_qdq_sym_weights(g, w, M, waxis, &nws))
        return 0;
    if (db >= 0 && !sk_qdq_int32_bias(g, db, M, *(const float *)g->values[x->in[1]].data,
                               g->values[w->in[1]].data, nws))
        return 0;
    int slots[9] = {x->in[0], x->in[1], x->in[2], w->in[0], w->in[1], sk_qdq_in(w, 2),
                    q->in[1], q->in[2], db >= 0 ? g->nodes[db].in[0] : -1};
    int yq = q->out[0], rc;
    for (int k = 0; k < 9; k++)
        if ((rc = sk_node_set_input(g, ci, k, slots[k])) < 0)
            return rc;
    g->nodes[ci].nin = db >= 0 ? 9 : 8;
    if ((rc = sk_pass_kill(p, qy)) < 0)
        return rc;
    g->nodes[ci].out[0] = yq;
    g->nodes[ci].op = to;
    return 1;
}

int sk_pass_qdq(sk_pass *p)
{
    sk_graph *g = p->g;
    /* qdq_act.c (session 16): Conv -> Clip | Relu -> Q as Conv -> Q -> table */
    int arc = sk_pass_qdq_act(p);
    if (arc < 0)
        return sk_errf(p->err, p->errlen, arc, "out of memory moving a QDQ activation");
    for (int ni = 0; ni < g->nnodes; ni++) {
        if (g->nodes[ni].op != SK_OP_CONV)
            continue;
        int rc = sk_qdq_rewrite_wq(p, ni, 4, 0, SK_OP_QLINEAR_CONV);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory rewriting node '%s'",
                           g->nodes[ni].name);
    }
    int rc = sk_pass_qdq_ops(p); /* qdq_ops.c: ConvTranspose */
    return rc < 0 ? rc : sk_pass_qdq_head(p); /* qdq_head.c: the float-output head */
}

/* ---- after shapes: the QDQ skip connection, DQ-Relu-Q tables ------------ */

/* QLinearConv ci -> DQ -> Add(., DQ(rq)) -> Q  =>  _QConvFused */
static int fuse_qdq_add(sk_pass *p, int ci)
{
    sk_graph *g = p->g;
    const sk_node *c = &g->nodes[ci];
    int di = sk_pass_sole_reader(g, c->out[0], SK_OP_DEQUANTIZE_LINEAR);
    if (di < 0 || !sk_qdq_per_tensor(g, &g->nodes[di]) || !same_qparams(g, c, 6, 7, &g->nodes[di]))
        return 0;
    int ai = sk_pass_sole_reader(g, g->nodes[di].out[0], SK_OP_ADD);
    if (ai < 0 || g->nodes[ai].nin != 2 || g->nodes[ai].nout != 1)
        return 0;
    const sk_node *a = &g->nodes[ai];
    int other = a->in[0] == g->nodes[di].out[0] ? a->in[1] : a->in[0];
    int dr = sk_qdq_producer(g, other, SK_OP_DEQUANTIZE_LINEAR);
    int qa = sk_pass_sole_reader(g, a->out[0], SK_OP_QUANTIZE_LINEAR);
    if (dr < 0 || qa < 0 || !sk_qdq_per_tensor(g, &g->nodes[dr]) || !sk_qdq_per_tensor(g, &g->nodes[qa]))
        return 0;
    const sk_node *r = &g->nodes[dr], *q = &g->nodes[qa];
    int rq = r->in[0];
    sk_dtype yt = g->values[c->in[7]].dtype;
    if (rq < 0 || sk_pass_is_const(g, rq) || g->values[r->in[2]].dtype != yt ||
        g->values[q->in[2]].dtype != yt || !sk_pass_same_known_shape(p, rq, c->out[0]) ||
        q->in[0] != a->out[0])
        return 0;
    int slots[5] = {rq, r->in[1], r->in[2], q->in[1], q->in[2]}, yo = q->out[0], rc;
    const char *aname = a->name;
    for (int k = 0; k < 5; k++)
        if ((rc = sk_node_set_input(g, ci, 9 + k, slots[k])) < 0)
            return rc;
    if ((rc = sk_node_set_string(g, ci, "fused_add", aname)) < 0 ||
        (rc = sk_pass_kill(p, di)) < 0 || (rc = sk_pass_kill(p, ai)) < 0 ||
        (rc = sk_pass_kill(p, qa)) < 0)
        return rc;
    g->nodes[ci].out[0] = yo;
    g->nodes[ci].op = SK_OP_QCONV_FUSED;
    p->nadd++;
    return 1;
}

/* table[i] = Q(f(DQ(x_i))) for the 256 8-bit inputs x_i (index x + 128 for
 * int8), f = the Relu node ri or identity (ri < 0), by the reference
 * kernels of those nodes; 0, or 1 when a kernel refused */
static int make_table(const sk_graph *g, const sk_node *d, int ri, const sk_node *q,
                      uint8_t *table)
{
    sk_dtype xt = g->values[d->in[2]].dtype, yt = g->values[q->in[2]].dtype;
    uint8_t xs[256];
    float fx[256];
    for (int i = 0; i < 256; i++)
        xs[i] = (uint8_t)(xt == SK_I8 ? i - 128 : i);
    char err[160];
    sk_kctx ctx = {err, sizeof err, NULL, NULL, 0, NULL};
    sk_tensor tx = {xt, {1, {256}}, xs}, tf = {SK_F32, {1, {256}}, fx},
              ty = {yt, {1, {256}}, table};
    const sk_value *ds = &g->values[d->in[1]], *dz = &g->values[d->in[2]],
                   *qs = &g->values[q->in[1]], *qz = &g->values[q->in[2]];
    sk_tensor tds = {ds->dtype, ds->shape, ds->data}, tdz = {dz->dtype, dz->shape, dz->data},
              tqs = {qs->dtype, qs->shape, qs->data}, tqz = {qz->dtype, qz->shape, qz->data};
    const sk_tensor *din[3] = {&tx, &tds, &tdz}, *rin[1] = {&tf}, *qin[3] = {&tf, &tqs, &tqz};
    if (sk_run_dequantize_linear(d, din, 3, &tf, 1, &ctx) ||
        (ri >= 0 && sk_run_relu(&g->nodes[ri], rin, 1, &tf, 1, &ctx)) ||
        sk_run_quantize_linear(q, qin, 3, &ty, 1, &ctx))
        return 1;
    return 0;
}

/* node ni becomes _QLut(x, table) producing value y */
static int to_lut(sk_pass *p, int ni, int x, const uint8_t *table, sk_dtype yt, int y)
{
    sk_graph *g = p->g;
    char name[64];
    snprintf(name, sizeof name, "_qlut_table_%d", ni);
    sk_shape ts = {1, {256}};
    int tv = sk_graph_add_const(g, name, SK_U8, &ts, table), rc;
    if (tv < 0)
        return tv;
    if ((rc = sk_node_set_input(g, ni, 0, x)) < 0 || (rc = sk_node_set_input(g, ni, 1, tv)) < 0)
        return rc;
    g->nodes[ni].nin = 2;
    if ((rc = sk_node_set_int(g, ni, "out_int8", yt == SK_I8)) < 0)
        return rc;
    g->nodes[ni].out[0] = y;
    g->nodes[ni].op = SK_OP_QLUT;
    return 1;
}

/* to_lut for the other QDQ passes (qdq_act.c) */
int sk_qdq_to_lut(sk_pass *p, int ni, int x, const uint8_t *table, sk_dtype yt, int y)
{
    return to_lut(p, ni, x, table, yt, y);
}

/* DQ -> Relu -> Q (8-bit, per tensor) => _QLut(x, table) */
static int relu_table(sk_pass *p, int di)
{
    sk_graph *g = p->g;
    const sk_node *d = &g->nodes[di];
    if (!sk_qdq_per_tensor(g, d) || sk_qdq_in(d, 0) < 0 || sk_pass_is_const(g, d->in[0]))
        return 0;
    int ri = sk_pass_sole_reader(g, d->out[0], SK_OP_RELU);
    int qi = ri >= 0 ? sk_pass_sole_reader(g, g->nodes[ri].out[0], SK_OP_QUANTIZE_LINEAR) : -1;
    if (qi < 0 || !sk_qdq_per_tensor(g, &g->nodes[qi]) || g->nodes[qi].in[0] != g->nodes[ri].out[0])
        return 0;
    uint8_t table[256];
    if (make_table(g, d, ri, &g->nodes[qi], table))
        return 0;
    int x = d->in[0], yo = g->nodes[qi].out[0], rc;
    sk_dtype yt = g->values[g->nodes[qi].in[2]].dtype;
    if ((rc = sk_pass_kill(p, ri)) < 0 || (rc = sk_pass_kill(p, qi)) < 0)
        return rc;
    return to_lut(p, di, x, table, yt, yo);
}

/* the one MaxPool among several readers of v, reading it once as its input
 * (session 13, int8e: the U-Net's DQ feeds its pool and its skip Concat) */
static int shared_pool(const sk_graph *g, int v)
{
    int mi = -1;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] == v && n->op == SK_OP_MAX_POOL) {
                if (k != 0 || mi >= 0)
                    return -1;
                mi = ni;
            }
    }
    return mi;
}

/* DQ(xq uint8) -> MaxPool -> Q (per tensor): MaxPool on the uint8 data (the
 * max commutes with the monotonic DQ and Q), then, unless Q has DQ's scale
 * and zero point, the DQ node becomes the _QLut of DQ -> Q after it; where
 * the DQ has other readers it stays and the Q node becomes that _QLut */
static int maxpool_u8(sk_pass *p, int di)
{
    sk_graph *g = p->g;
    const sk_node *d = &g->nodes[di];
    if (!sk_qdq_per_tensor(g, d) || sk_qdq_in(d, 0) < 0 || sk_pass_is_const(g, d->in[0]) ||
        g->values[d->in[2]].dtype != SK_U8)
        return 0;
    int mi = sk_pass_sole_reader(g, d->out[0], SK_OP_MAX_POOL), shared = 0;
    if (mi < 0 && (mi = shared_pool(g, d->out[0])) >= 0)
        shared = 1; /* the DQ stays for its other readers (a U-Net's skip Concat) */
    if (mi < 0 || g->nodes[mi].in[0] != d->out[0] ||
        (g->nodes[mi].nout > 1 && g->nodes[mi].out[1] >= 0 &&
         sk_pass_uses(g, g->nodes[mi].out[1], NULL) > 0))
        return 0;
    int qi = sk_pass_sole_reader(g, g->nodes[mi].out[0], SK_OP_QUANTIZE_LINEAR);
    if (qi < 0 || !sk_qdq_per_tensor(g, &g->nodes[qi]) ||
        g->values[g->nodes[qi].in[2]].dtype != SK_U8)
        return 0;
    int same = same_qparams(g, d, 1, 2, &g->nodes[qi]);
    uint8_t table[256];
    if (!same && make_table(g, d, -1, &g->nodes[qi], table))
        return 0;
    int x = d->in[0], yo = g->nodes[qi].out[0], mo = g->nodes[mi].out[0], rc;
    if ((rc = sk_node_set_input(g, mi, 0, x)) < 0)
        return rc;
    if (shared) { /* the DQ stays, so the table (if any) runs in the Q node */
        if (!same)
            return to_lut(p, qi, mo, table, SK_U8, yo);
        g->nodes[mi].out[0] = yo;
        return sk_pass_kill(p, qi) < 0 ? SK_ENOMEM : 1;
    }
    if ((rc = sk_pass_kill(p, qi)) < 0)
        return rc;
    if (same) {
        g->nodes[mi].out[0] = yo;
        return sk_pass_kill(p, di) < 0 ? SK_ENOMEM : 1;
    }
    return to_lut(p, di, mo, table, SK_U8, yo);
}

/* DQ(x_i) ... -> Concat -> Q (all per tensor, 8-bit) => Concat of 8-bit
 * tensors: an input whose DQ has Q's scale and zero point is taken as it
 * is (DQ then Q is the identity: |q - zp| <= 255, so the float product and
 * quotient stay far within 0.5 of the integer), any other goes through the
 * 256-entry table of its DQ -> Q (exact by construction). The table runs in
 * the DQ node itself when the Concat is its only reader, else in the
 * Concat's Q node (one such input). The U-Net's skip concats: their inputs
 * have their own scales and one of them also feeds the next MaxPool. */
#define QCAT_MAX 64 /* Concat inputs handled (tables on the stack) */

static int concat_q(sk_pass *p, int ci)
{
    sk_graph *g = p->g;
    const sk_node *c = &g->nodes[ci];
    int qi = sk_pass_sole_reader(g, c->out[0], SK_OP_QUANTIZE_LINEAR);
    if (qi < 0 || c->nin < 1 || c->nout != 1 || c->nin > QCAT_MAX ||
        !sk_qdq_per_tensor(g, &g->nodes[qi]) || g->nodes[qi].in[0] != c->out[0])
        return 0;
    const sk_node *q = &g->nodes[qi];
    sk_dtype yt = g->values[q->in[2]].dtype;
    /* plan every input first: 0 as is, 1 table in its DQ, 2 table in Q */
    int how[QCAT_MAX], dqs[QCAT_MAX], q_taken = 0;
    for (int i = 0; i < c->nin; i++) {
        int di = sk_qdq_producer(g, c->in[i], SK_OP_DEQUANTIZE_LINEAR);
        if (di < 0 || !sk_qdq_per_tensor(g, &g->nodes[di]) || sk_qdq_in(&g->nodes[di], 0) < 0 ||
            g->values[g->nodes[di].in[2]].dtype != yt)
            return 0;
        dqs[i] = di;
        if (same_qparams(g, &g->nodes[di], 1, 2, q))
            how[i] = 0;
        else if (sk_pass_sole_reader(g, c->in[i], SK_OP_CONCAT) == ci)
            how[i] = 1;
        else if (!q_taken++)
            how[i] = 2;
        else
            return 0;
    }
    uint8_t tables[QCAT_MAX][256];
    for (int i = 0; i < c->nin; i++)
        if (how[i] && make_table(g, &g->nodes[dqs[i]], -1, q, tables[i]))
            return 0;
    int co = c->out[0], yo = q->out[0], rc;
    if (!q_taken && (rc = sk_pass_kill(p, qi)) < 0)
        return rc;
    for (int i = 0; i < g->nodes[ci].nin; i++) {
        int x = g->nodes[dqs[i]].in[0];
        if (how[i] == 0) {
            rc = sk_node_set_input(g, ci, i, x);
        } else if (how[i] == 1) {
            rc = to_lut(p, dqs[i], x, tables[i], yt, g->nodes[dqs[i]].out[0]);
        } else { /* the Q node, now _QLut(x) -> the Concat's old output */
            if ((rc = to_lut(p, qi, x, tables[i], yt, co)) >= 0)
                rc = sk_node_set_input(g, ci, i, co);
        }
        if (rc < 0)
            return rc;
    }
    g->nodes[ci].out[0] = yo;
    return 1;
}

int sk_qdq_fuse(sk_pass *p)
{
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        int rc = 0;
        if (g->nodes[ni].op == SK_OP_QLINEAR_CONV)
            rc = fuse_qdq_add(p, ni);
        else if (g->nodes[ni].op == SK_OP_DEQUANTIZE_LINEAR && !(rc = relu_table(p, ni)))
            rc = maxpool_u8(p, ni);
        else if (g->nodes[ni].op == SK_OP_CONCAT)
            rc = concat_q(p, ni);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory fusing node '%s'",
                           g->nodes[ni].name);
    }
    return 0;
}
