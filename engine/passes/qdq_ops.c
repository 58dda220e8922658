/* qdq_ops.c — more QDQ patterns onto integer kernels (issue 22, session
 * 13), beside qdq.c's convolutions; called from qdq.c's sk_pass_qdq, so it
 * runs before fold.c turns int8 weights into float32:
 *
 *   DQ(xq) -> ConvTranspose(DQ(w int8, axis 1), DQ(b int32)?) -> Q
 *     becomes _QConvTranspose(xq, .., w, .., b) (ref/qconv_transpose.c)
 *   when x and y are per tensor, w symmetric per tensor or per output
 *   channel (axis 1, ConvTranspose's M), the bias scale equals x_scale *
 *   w_scale[m] in float32, the Q is the only reader, and the attributes are
 *   the form kernels/fast_qconvt.c runs (2-D, group 1, stride == kernel)
 *   at every level (sk_qconvt_pays; the widening AVX2 kernel too since
 *   session 18, for the integer bytes):
 *   an overlapping ConvTranspose would only reach the int8 reference, slower
 *   than the float kernel it has now, so it stays. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "graph.h"
#include "kernels/fast_qconvt.h"
#include "kernels/ref/quant_util.h"
#include "ops.h"
#include "pass_util.h"
#include "qdq_util.h"

static int rewrite_convt(sk_pass *p, int ci)
{
    const sk_graph *g = p->g;
    const sk_node *c = &g->nodes[ci];
    /* the weight's shape: the DQ's int8 constant's (no shape walk yet) */
    int dw = sk_qdq_producer(g, sk_qdq_in(c, 1), SK_OP_DEQUANTIZE_LINEAR);
    int wv = dw >= 0 ? sk_qdq_in(&g->nodes[dw], 0) : -1;
    if (wv < 0 || g->values[wv].shape.rank != 4)
        return 0;
    const sk_shape *ws = &g->values[wv].shape;
    if (!sk_qconvt_supported(c, ws->dim[2], ws->dim[3]) ||
        !sk_qconvt_pays(sk_kconfig_for(sk_cpu_level())))
        return 0;
    return sk_qdq_rewrite_wq(p, ci, 0, 1, SK_OP_QCONV_TRANSPOSE);
}

/* DQ(a) -> MatMul(., DQ(w const int8 [K, N], per tensor or per column)) ->
 * Q  =>  QLinearMatMul (kernels/fast_qmatmul.h packs it) */
static int rewrite_matmul(sk_pass *p, int mi)
{
    const sk_graph *g = p->g;
    int dw = sk_qdq_producer(g, sk_qdq_in(&g->nodes[mi], 1), SK_OP_DEQUANTIZE_LINEAR);
    int wv = dw >= 0 ? sk_qdq_in(&g->nodes[dw], 0) : -1;
    if (g->nodes[mi].nin != 2 || wv < 0 || g->values[wv].shape.rank != 2)
        return 0;
    return sk_qdq_rewrite_wq(p, mi, 0, 1, SK_OP_QLINEAR_MATMUL);
}

/* The frame of the single-input ops below: DQ(x) -> op -> Q, x a runtime
 * value dequantized per tensor, the op's one output (not a graph output)
 * read only by a per-tensor QuantizeLinear; same_type: x and y of one 8-bit
 * type. Sets *di and *qi; 1 when the frame matches. */
static int dq_op_q(const sk_graph *g, int ni, int same_type, int *di, int *qi)
{
    const sk_node *n = &g->nodes[ni];
    if (n->nin < 1 || n->nout != 1 || n->out[0] < 0 || sk_pass_is_output(g, n->out[0]))
        return 0;
    *di = sk_qdq_producer(g, n->in[0], SK_OP_DEQUANTIZE_LINEAR);
    *qi = sk_pass_sole_reader(g, n->out[0], SK_OP_QUANTIZE_LINEAR);
    if (*di < 0 || *qi < 0)
        return 0;
    const sk_node *d = &g->nodes[*di], *q = &g->nodes[*qi];
    return sk_qdq_per_tensor(g, d) && sk_qdq_per_tensor(g, q) && sk_qdq_in(d, 0) >= 0 &&
           !sk_pass_is_const(g, d->in[0]) && q->in[0] == n->out[0] &&
           (!same_type || g->values[d->in[2]].dtype == g->values[q->in[2]].dtype);
}

/* The rewritten node ni writes Q's output; Q goes. */
static int take_q_output(sk_pass *p, int ni, int qi)
{
    int yo = p->g->nodes[qi].out[0], rc;
    if ((rc = sk_pass_kill(p, qi)) < 0)
        return rc;
    p->g->nodes[ni].out[0] = yo;
    return 1;
}

/* DQ(x) -> AveragePool | GlobalAveragePool -> Q, x and y of one 8-bit type,
 * per tensor  =>  _QAvgPool(x, x_s, x_zp, y_s, y_zp) (ref/qavgpool.h) */
static int rewrite_pool(sk_pass *p, int pi)
{
    sk_graph *g = p->g;
    int di, qi;
    if (g->nodes[pi].nin != 1 || !dq_op_q(g, pi, 1, &di, &qi))
        return 0;
    const sk_node *d = &g->nodes[di], *q = &g->nodes[qi];
    int slots[5] = {d->in[0], d->in[1], d->in[2], q->in[1], q->in[2]}, rc;
    int global = g->nodes[pi].op == SK_OP_GLOBAL_AVERAGE_POOL;
    for (int k = 0; k < 5; k++)
        if ((rc = sk_node_set_input(g, pi, k, slots[k])) < 0)
            return rc;
    g->nodes[pi].nin = 5;
    if ((rc = sk_node_set_int(g, pi, "global", global)) < 0)
        return rc;
    g->nodes[pi].op = SK_OP_QAVG_POOL;
    return take_q_output(p, pi, qi);
}

/* DQ(x) -> Resize(nearest) -> Q with DQ's scale, zero point and type  =>
 * Resize of the 8-bit x (ref/resize.c copies the bytes): nearest picks one
 * input element per output, and Q(DQ(q)) = q for equal parameters (|q -
 * zp| <= 255: the float product and quotient stay far within 0.5 of the
 * integer). Other parameters would need a DQ -> Q table after it: left. */
static int rewrite_resize(sk_pass *p, int ri)
{
    sk_graph *g = p->g;
    const sk_node *r = &g->nodes[ri];
    int di, qi;
    if (strcmp(sk_attr_str(r, "mode", "nearest"), "nearest") != 0 ||
        strcmp(sk_attr_str(r, "coordinate_transformation_mode", ""), "tf_crop_and_resize") == 0 ||
        !dq_op_q(g, ri, 1, &di, &qi))
        return 0;
    const sk_node *d = &g->nodes[di], *q = &g->nodes[qi];
    const sk_value *ds = &g->values[d->in[1]], *dz = &g->values[d->in[2]],
                   *qs = &g->values[q->in[1]], *qz = &g->values[q->in[2]];
    if (*(const float *)ds->data != *(const float *)qs->data ||
        sk_q_load(dz->dtype, dz->data, 0) != sk_q_load(qz->dtype, qz->data, 0))
        return 0;
    int rc;
    if ((rc = sk_node_set_input(g, ri, 0, d->in[0])) < 0)
        return rc;
    return take_q_output(p, ri, qi);
}

/* DQ(x) -> Resize(linear, 4-D, H and W only) -> Q, x and y of one 8-bit
 * type, per tensor  =>  _QResize(x, roi, scales, sizes, x_s, x_zp, y_s,
 * y_zp) (ref/qresize.h: fixed-point weights, integer sums, within 1 of the
 * float graph). Only when y_scale >= x_scale / 2: the bound of qresize.h
 * (0.125 x steps of weight rounding, times x_s / y_s, under 0.5) holds
 * there; a Q that magnifies more stays float. Not tf_half_pixel_for_nn
 * (deprecated since opset 13, not covered by test_qresize: float). Scales or sizes must be
 * constants of 4 values keeping N and C (the kernel checks again; sizes
 * only where x's declared shape shows N and C equal to theirs: a symbolic
 * batch might be resized, which the kernel refuses and the float Resize
 * does). */
static int rewrite_resize_linear(sk_pass *p, int ri)
{
    sk_graph *g = p->g;
    const sk_node *r = &g->nodes[ri];
    if (r->nin < 3 || r->nout != 1 || r->out[0] < 0 || sk_pass_is_output(g, r->out[0]) ||
        strcmp(sk_attr_str(r, "mode", "nearest"), "linear") != 0 ||
        sk_attr_int(r, "antialias", 0) != 0 || sk_attr_find(r, "axes") ||
        strcmp(sk_attr_str(r, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0 ||
        strcmp(sk_attr_str(r, "coordinate_transformation_mode", ""), "tf_crop_and_resize") == 0 ||
        strcmp(sk_attr_str(r, "coordinate_transformation_mode", ""), "tf_half_pixel_for_nn") == 0)
        return 0;
    /* scales (float32) or sizes (int64): a constant of 4 values, N and C kept */
    int sv = sk_qdq_in(r, 2), zv = sk_qdq_in(r, 3);
    if (sv >= 0 && g->values[sv].shape.rank == 1 && g->values[sv].shape.dim[0] == 0)
        sv = -1; /* an empty scales beside sizes */
    if ((sv >= 0) == (zv >= 0))
        return 0;
    const sk_value *k = &g->values[sv >= 0 ? sv : zv];
    if (!sk_pass_is_const(g, sv >= 0 ? sv : zv) || !k->data || k->shape.rank != 1 ||
        k->shape.dim[0] != 4 || k->dtype != (sv >= 0 ? SK_F32 : SK_I64))
        return 0;
    if (sv >= 0 && (((const float *)k->data)[0] != 1.0f || ((const float *)k->data)[1] != 1.0f))
        return 0;
    int di, qi;
    if (!dq_op_q(g, ri, 1, &di, &qi))
        return 0;
    const sk_node *d = &g->nodes[di], *q = &g->nodes[qi];
    float xs = *(const float *)g->values[d->in[1]].data,
          ys = *(const float *)g->values[q->in[1]].data;
    if (!(xs > 0.0f) || !(ys > 0.0f) || !(xs / ys <= 2.0f))
        return 0;
    if (zv >= 0) { /* sizes: N and C kept only checkable on a declared shape */
        const sk_shape *x4 = &g->values[d->in[0]].shape;
        const int64_t *z = k->data;
        if (x4->rank != 4 || x4->dim[0] != z[0] || x4->dim[1] != z[1])
            return 0;
    }
    int slots[8] = {d->in[0], sk_qdq_in(r, 1), sv, zv, d->in[1], d->in[2], q->in[1], q->in[2]};
    int rc;
    for (int s = 0; s < 8; s++)
        if ((rc = sk_node_set_input(g, ri, s, slots[s])) < 0)
            return rc;
    g->nodes[ri].nin = 8;
    g->nodes[ri].op = SK_OP_QRESIZE;
    return take_q_output(p, ri, qi);
}

/* com.microsoft QLinearGlobalAveragePool (channels_last 0): its inputs are
 * _QAvgPool's, and onnxruntime computes it with the same integer sum and
 * requantization (MLAS) => _QAvgPool with global = 1, no float round trip
 * (the reference of the com.microsoft op goes through float: within 1) */
static int qlinear_gap(sk_pass *p, int ni)
{
    sk_graph *g = p->g;
    const sk_node *n = &g->nodes[ni];
    if (n->nin < 4 || n->nout != 1 || sk_attr_int(n, "channels_last", 0) != 0)
        return 0;
    /* session 15 (qft): com.microsoft QLinearAveragePool (NCHW) too, with
     * its pool attributes as they are. onnxruntime sums the dequantized
     * floats there (and rounds y / y_s + y_zp), except where the window is
     * the whole plane without pads (its MLAS global path, our arithmetic).
     * Session 16 (qfl): ort_float = 1 makes _QAvgPool do the same float
     * arithmetic, so both agree bit for bit (ref/qavgpool.h,
     * tests/zoo/make_ms_avgpool.py) */
    int global = n->op == SK_OP_QLINEAR_GLOBAL_AVERAGE_POOL;
    int rc = sk_node_set_int(g, ni, "global", global);
    if (rc < 0 || (!global && (rc = sk_node_set_int(g, ni, "ort_float", 1)) < 0))
        return rc;
    g->nodes[ni].op = SK_OP_QAVG_POOL;
    return 1;
}

int sk_pass_qdq_ops(sk_pass *p)
{
    /* SKIPSERVE_QDQ_OPS=0 at load: leave these patterns in float (A/B) */
    const char *on = getenv("SKIPSERVE_QDQ_OPS");
    if (on && strcmp(on, "0") == 0)
        return 0;
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        int rc = 0;
        if (g->nodes[ni].op == SK_OP_CONV_TRANSPOSE)
            rc = rewrite_convt(p, ni);
        else if (g->nodes[ni].op == SK_OP_MATMUL)
            rc = rewrite_matmul(p, ni);
        else if (g->nodes[ni].op == SK_OP_AVERAGE_POOL ||
                 g->nodes[ni].op == SK_OP_GLOBAL_AVERAGE_POOL)
            rc = rewrite_pool(p, ni);
        else if (g->nodes[ni].op == SK_OP_RESIZE &&
                 strcmp(sk_attr_str(&g->nodes[ni], "mode", "nearest"), "linear") == 0)
            rc = rewrite_resize_linear(p, ni);
        else if (g->nodes[ni].op == SK_OP_RESIZE)
            rc = rewrite_resize(p, ni);
        else if (g->nodes[ni].op == SK_OP_QLINEAR_GLOBAL_AVERAGE_POOL ||
                 g->nodes[ni].op == SK_OP_QLINEAR_AVERAGE_POOL)
            rc = qlinear_gap(p, ni);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory rewriting node '%s'",
                           g->nodes[ni].name);
    }
    return 0;
}
