/* qdq_act.c — a QDQ conv's activation moved past its Q (issue 22, session
 * 16), called first in sk_pass_qdq:
 *
 *   DQ -> Conv -> Clip(lo, hi) | Relu -> Q      becomes
 *   DQ -> Conv -> Q -> _QLut(clamp to [Q(lo), Q(hi)])
 *
 * so that qdq.c's DQ -> Conv -> Q rewrite takes the conv into int8 and
 * qfuse.c merges the table into it as its output table. What exporters
 * write for MobileNet-style ReLU6 / ReLU convs when the quantizer leaves
 * the activation in the graph (models/lowp_convert.py does): before, every
 * such conv stayed float. Exact where y_s > 0 (checked; the rewrite is
 * skipped otherwise, and for a NaN bound): Q (v / y_s, round half to even,
 * + y_zp, saturate) is then non-decreasing, so Q(min(max(v, lo), hi)) =
 * min(max(Q(v), Q(lo)), Q(hi)) for every v (lo > hi: Q(hi) on both
 * sides); the bounds go through the reference QuantizeLinear. Only where
 * the Conv's one reader is the activation, the activation's one reader a
 * per-tensor 8-bit Q, and its bounds constants (or absent), and the conv
 * ungrouped or depthwise (group == M, one input channel a group): other
 * grouped convs run as one GEMM per group, and before session 17 so did a
 * depthwise one, measured 5-10x slower than the float depthwise kernel on
 * MobileNetV2 (0.3-1.8 against 8-40 GFLOP/s), so those kept their float
 * conv and activation. Session 17: depthwise convs have an int8 kernel
 * (kernels/fast_qdwconv.c) and are rewritten too, unless
 * SKIPSERVE_INT8_DW=0 (then they stay float, as before). Session 18: at
 * every level — the rewrite decides the model's bytes (an int8 conv's sum
 * is exact, the float conv's is not, so .5 steps round apart), and it used
 * to depend on the level (only where the dw kernel and the NHWC int8 convs
 * were: not at scalar, nor without VNNI before the AVX2 NHWC kernels, nor
 * with SKIPSERVE_INT8_NHWC=0), so MobileNetV2 QDQ at the scalar level
 * differed from the SIMD levels in 2557 of 4000 output bytes. A level
 * without the dw kernel runs the conv by the grouped int8 path (slow: the
 * scalar reference, an A/B switch). SKIPSERVE_QDQ_ACT=0 at load leaves
 * them all (A/B). */
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "kernels/fast_qconv.h"
#include "kernels/ref/quant_util.h"
#include "ops.h"
#include "pass_util.h"
#include "qdq_util.h"

/* a Clip bound: input k (a one-value float constant; the loader turns
 * Clip-6's attributes into these), or def when absent; 0 when it is a
 * runtime value (not rewritten) */
static int bound(const sk_graph *g, const sk_node *a, int k, float def, float *v)
{
    *v = def;
    int b = a->op == SK_OP_CLIP ? sk_qdq_in(a, k) : -1;
    if (b < 0)
        return 1;
    const sk_value *bv = &g->values[b];
    if (!sk_pass_is_const(g, b) || !bv->data || bv->dtype != SK_F32 ||
        sk_shape_numel(&bv->shape) != 1)
        return 0;
    *v = *(const float *)bv->data;
    return 1;
}

/* Q(v) by the reference QuantizeLinear of node q, in the uint8 view */
static int quant1(const sk_graph *g, const sk_node *q, float v, uint8_t *r)
{
    char err[160];
    sk_kctx ctx = {err, sizeof err, NULL, NULL, 0, NULL};
    const sk_value *qs = &g->values[q->in[1]], *qz = &g->values[q->in[2]];
    sk_tensor tx = {SK_F32, {0, {0}}, &v}, ty = {qz->dtype, {0, {0}}, r},
              ts = {qs->dtype, qs->shape, qs->data}, tz = {qz->dtype, qz->shape, qz->data};
    const sk_tensor *in[3] = {&tx, &ts, &tz};
    return sk_run_quantize_linear(q, in, 3, &ty, 1, &ctx);
}

/* session 17: conv ci is depthwise — group == M and its weights (the
 * constant behind their DQ) [M, 1, kh, kw] — and SKIPSERVE_INT8_DW is not
 * 0 (session 18: whatever the level, so every level gives the same bytes) */
static int depthwise(const sk_graph *g, const sk_node *c)
{
    int64_t group = sk_attr_int(c, "group", 1);
    int di = sk_qdq_producer(g, sk_qdq_in(c, 1), SK_OP_DEQUANTIZE_LINEAR);
    int wv = di >= 0 ? sk_qdq_in(&g->nodes[di], 0) : -1;
    if (group <= 1 || wv < 0 || !sk_qdw_enabled())
        return 0;
    const sk_shape *s = &g->values[wv].shape;
    return s->rank == 4 && s->dim[0] == group && s->dim[1] == 1;
}

static int move_act(sk_pass *p, int ai)
{
    sk_graph *g = p->g;
    const sk_node *a = &g->nodes[ai];
    if (a->nin < 1 || a->nout != 1 || a->in[0] < 0 || a->out[0] < 0)
        return 0;
    int ci = sk_qdq_producer(g, a->in[0], SK_OP_CONV);
    int qi = sk_pass_sole_reader(g, a->out[0], SK_OP_QUANTIZE_LINEAR);
    if (ci < 0 || qi < 0 || sk_pass_sole_reader(g, a->in[0], a->op) != ai ||
        sk_pass_is_output(g, a->in[0]) || g->nodes[qi].in[0] != a->out[0] ||
        !sk_qdq_per_tensor(g, &g->nodes[qi]))
        return 0;
    /* the conv should be one qdq.c takes: x and W from DQs (checked fully
     * only there). Where qdq.c still turns it away (uint8 or asymmetric
     * weights, ...) the result is float Conv -> Q -> _QLut: the same bytes,
     * one table lookup more than before */
    if ((sk_attr_int(&g->nodes[ci], "group", 1) != 1 &&
         !depthwise(g, &g->nodes[ci])) || /* grouped: see the header */
        sk_qdq_producer(g, sk_qdq_in(&g->nodes[ci], 0), SK_OP_DEQUANTIZE_LINEAR) < 0 ||
        sk_qdq_producer(g, sk_qdq_in(&g->nodes[ci], 1), SK_OP_DEQUANTIZE_LINEAR) < 0)
        return 0;
    float lo, hi;
    if (!bound(g, a, 1, a->op == SK_OP_RELU ? 0.0f : -FLT_MAX, &lo) ||
        !bound(g, a, 2, FLT_MAX, &hi))
        return 0;
    const sk_node *q = &g->nodes[qi];
    /* the swap holds only for an increasing Q: y_s < 0 reverses it (Q(lo) >=
     * Q(hi) and the table would send every byte to Q(hi)), and a NaN bound
     * quantizes to the zero point, not to "no bound" */
    float ys = *(const float *)g->values[q->in[1]].data;
    if (!(ys > 0.0f) || lo != lo || hi != hi)
        return 0;
    sk_dtype yt = g->values[q->in[2]].dtype;
    uint8_t qlo, qhi;
    if (quant1(g, q, lo, &qlo) || quant1(g, q, hi, &qhi))
        return 0;
    int s8 = yt == SK_I8;
    int32_t l = s8 ? (int8_t)qlo : qlo, h = s8 ? (int8_t)qhi : qhi;
    uint8_t table[256];
    for (int i = 0; i < 256; i++) { /* index: the byte, + 128 for int8 */
        int32_t v = s8 ? i - 128 : i;
        v = v < l ? l : v;
        v = v > h ? h : v;
        table[i] = (uint8_t)v;
    }
    /* the value between the moved Q and the table: a name no model value
     * has (sk_graph_value would return an existing one) */
    char name[48];
    do {
        snprintf(name, sizeof name, "_qdq_act%d", p->fresh++);
    } while (sk_graph_find(g, name) >= 0);
    int mid = sk_graph_value(g, name);
    if (mid < 0)
        return mid;
    /* in node order Conv, activation, Q: the activation's node becomes the
     * Q (Conv -> Q -> mid) and the Q's node the table (mid -> Q's output),
     * so the order stays topological */
    int cv = g->nodes[ai].in[0], qs = g->nodes[qi].in[1], qz = g->nodes[qi].in[2], rc;
    int qop = g->nodes[qi].opset;
    int64_t qaxis = sk_attr_int(&g->nodes[qi], "axis", 1);
    for (int k = 0; k < g->nodes[ai].nin; k++)
        g->nodes[ai].in[k] = -1;
    if ((rc = sk_node_set_input(g, ai, 0, cv)) < 0 || (rc = sk_node_set_input(g, ai, 1, qs)) < 0 ||
        (rc = sk_node_set_input(g, ai, 2, qz)) < 0)
        return rc;
    g->nodes[ai].nin = 3;
    if ((rc = sk_node_set_int(g, ai, "axis", qaxis)) < 0)
        return rc;
    g->nodes[ai].op = SK_OP_QUANTIZE_LINEAR;
    g->nodes[ai].opset = qop;
    g->nodes[ai].out[0] = mid;
    g->values[mid].producer = ai;
    for (int k = 0; k < g->nodes[qi].nin; k++)
        g->nodes[qi].in[k] = -1;
    return sk_qdq_to_lut(p, qi, mid, table, yt, g->nodes[qi].out[0]);
}

int sk_pass_qdq_act(sk_pass *p)
{
    const char *on = getenv("SKIPSERVE_QDQ_ACT");
    if (on && strcmp(on, "0") == 0)
        return 0;
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        if (g->nodes[ni].op != SK_OP_CLIP && g->nodes[ni].op != SK_OP_RELU)
            continue;
        int rc = move_act(p, ni);
        if (rc < 0)
            return rc;
    }
    return 0;
}
