/* shapes.c — load-time shape walk (sk_graph_infer_shapes, sk_pass_shapes)
 * and MAC counting. */
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "pass_util.h"
#include "passes.h"

/* Values computed at load time only when this small: shape arithmetic. */
#define FOLD_MAX_ELEMS 4096

int sk_graph_infer_shapes(const sk_graph *g, const sk_tensor *inputs, sk_shape *sh,
                          sk_dtype *dt)
{
    void **data = calloc((size_t)g->nvalues + 1, sizeof *data); /* folded, owned */
    if (!data)
        return SK_ENOMEM;
    for (int v = 0; v < g->nvalues; v++) {
        sh[v].rank = -1;
        dt[v] = SK_DT_UNDEFINED;
        if (sk_value_is_const(&g->values[v])) { /* also a released W: its shape stays */
            sh[v] = g->values[v].shape;
            dt[v] = g->values[v].dtype;
        }
    }
    for (int i = 0; i < g->ninputs; i++) {
        int v = g->inputs[i];
        sh[v] = inputs[i].shape;
        dt[v] = inputs[i].dtype;
    }
    char err[160];
    sk_kctx ctx = {err, sizeof err, NULL, NULL, 0, NULL};
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        const sk_op_info *info = sk_op_get(n->op);
        if (!info || n->nin > 64 || n->nout > 16)
            continue;
        sk_tensor tin[64], tout[16];
        const sk_tensor *pin[64];
        int known = 1, have_data = 1;
        for (int k = 0; k < n->nin; k++) {
            int v = n->in[k];
            pin[k] = NULL;
            if (v < 0)
                continue;
            if (sh[v].rank < 0) {
                known = 0;
                break;
            }
            void *d = g->values[v].data ? g->values[v].data : data[v];
            tin[k] = (sk_tensor){dt[v], sh[v], d};
            pin[k] = &tin[k];
            if (!d)
                have_data = 0;
        }
        if (!known)
            continue;
        memset(tout, 0, sizeof tout);
        if (info->infer(n, pin, n->nin, tout, n->nout, &ctx) < 0)
            continue;
        /* fold small values whose inputs are all known (Shape needs none) */
        int fold = have_data || n->op == SK_OP_SHAPE;
        for (int o = 0; o < n->nout && fold; o++) {
            int64_t c = sk_shape_numel(&tout[o].shape);
            if (c < 0 || c > FOLD_MAX_ELEMS || !sk_dtype_size(tout[o].dtype))
                fold = 0;
        }
        for (int o = 0; o < n->nout && fold; o++)
            if (!(tout[o].data = sk_alloc(sk_tensor_bytes(&tout[o]) + 8)))
                fold = 0;
        if (fold && info->run(n, pin, n->nin, tout, n->nout, &ctx) < 0)
            fold = 0;
        for (int o = 0; o < n->nout; o++) {
            int v = n->out[o];
            if (v >= 0) {
                sh[v] = tout[o].shape;
                dt[v] = tout[o].dtype;
                if (fold && !data[v]) {
                    data[v] = tout[o].data;
                    continue;
                }
            }
            sk_free(tout[o].data);
        }
    }
    for (int v = 0; v < g->nvalues; v++)
        sk_free(data[v]);
    free(data);
    return 0;
}

int sk_pass_shapes(const sk_graph *g, int variant, sk_shape *sh)
{
    sk_tensor *in = calloc((size_t)g->ninputs + 1, sizeof *in);
    sk_dtype *dt = calloc((size_t)g->nvalues + 1, sizeof *dt);
    if (!in || !dt) {
        free(in);
        free(dt);
        return SK_ENOMEM;
    }
    for (int i = 0; i < g->ninputs; i++) {
        const sk_value *val = &g->values[g->inputs[i]];
        in[i].dtype = val->dtype;
        in[i].shape = val->shape;
        for (int d = 0; d < in[i].shape.rank; d++)
            if (in[i].shape.dim[d] < 0)
                in[i].shape.dim[d] = d == 0 ? (variant ? 3 : 1) : (variant ? 96 : 64);
    }
    int rc = sk_graph_infer_shapes(g, in, sh, dt);
    free(in);
    free(dt);
    return rc;
}

int64_t sk_node_macs(const sk_graph *g, int ni, const sk_shape *sh)
{
    const sk_node *n = &g->nodes[ni];
    /* QLinearConv / _QConvFused / _QConvTranspose / QLinearMatMul: W / B is
     * input 3; count them like their float twins (also what keeps the fuzzer
     * off huge quantized convs; the fused int8 convs were not counted before
     * session 13, so int8 GOP/s and "% of ceiling" read low) */
    if ((n->op == SK_OP_QLINEAR_CONV || n->op == SK_OP_QCONV_FUSED ||
         n->op == SK_OP_QCONV_TRANSPOSE || n->op == SK_OP_QLINEAR_MATMUL ||
         n->op == SK_OP_QCONV_DEQUANT) && /* session 14: the QDQ head, a conv */
        n->nin > 3 && n->in[0] >= 0 && n->in[3] >= 0 && n->nout > 0 && n->out[0] >= 0) {
        const sk_shape *w = &sh[n->in[3]], *y = &sh[n->out[0]], *x = &sh[n->in[0]];
        int64_t nw = sk_shape_numel(w), nx = sk_shape_numel(x), ny = sk_shape_numel(y);
        if (w->rank < 1 || y->rank < 1 || x->rank < 1 || nw < 0 || nx < 0 || ny < 0)
            return 0;
        if (n->op == SK_OP_QLINEAR_MATMUL)
            return ny * x->dim[x->rank - 1];
        if (n->op == SK_OP_QCONV_TRANSPOSE) /* as ConvTranspose: |W| / C per input */
            return w->dim[0] > 0 ? nx * (nw / w->dim[0]) : 0;
        return w->dim[0] > 0 ? ny * (nw / w->dim[0]) : 0;
    }
    if (n->op == SK_OP_IRBLOCK_FUSED && n->nin > 5 && n->in[1] < 0 && n->in[0] >= 0 &&
        n->in[5] >= 0 && n->nout > 0 && n->out[0] >= 0) { /* no expand: depthwise + project */
        const sk_shape *y = &sh[n->out[0]], *w2 = &sh[n->in[5]];
        int64_t ny = sk_shape_numel(y);
        if (y->rank != 4 || w2->rank != 4 || ny < 0 || y->dim[1] <= 0)
            return 0;
        return (ny / y->dim[1]) * w2->dim[1] * (9 + y->dim[1]);
    }
    if (n->nin < 2 || n->in[0] < 0 || n->in[1] < 0 || n->nout < 1 || n->out[0] < 0)
        return 0;
    const sk_shape *x = &sh[n->in[0]], *w = &sh[n->in[1]], *y = &sh[n->out[0]];
    if (x->rank < 1 || w->rank < 1 || y->rank < 1)
        return 0;
    int64_t nx = sk_shape_numel(x), nw = sk_shape_numel(w), ny = sk_shape_numel(y);
    if (nx < 0 || nw < 0 || ny < 0)
        return 0;
    switch (n->op) {
    case SK_OP_CONV:
    case SK_OP_CONV_INTEGER:
    case SK_OP_CONV_FUSED: /* each output: Cg * kernel volume = |W| / M */
        return w->dim[0] > 0 ? ny * (nw / w->dim[0]) : 0;
    case SK_OP_CONV_TRANSPOSE: /* each input: (M / group) * kernel volume = |W| / C */
        return w->dim[0] > 0 ? nx * (nw / w->dim[0]) : 0;
    case SK_OP_GEMM:
    case SK_OP_GEMM_FUSED: {
        int64_t K = x->rank == 2 ? x->dim[sk_attr_int(n, "transA", 0) ? 0 : 1] : 0;
        return ny * K;
    }
    case SK_OP_MATMUL:
    case SK_OP_MATMUL_INTEGER:
    case SK_OP_MATMUL_FUSED:
        return ny * x->dim[x->rank - 1];
    case SK_OP_IRBLOCK_FUSED: /* the three convs it replaced: expand, 3x3 depthwise, project */
        if (x->rank == 4 && y->rank == 4 && w->rank == 4 && w->dim[0] > 0)
            return x->dim[0] * x->dim[2] * x->dim[3] * nw +
                   (ny / (y->dim[1] > 0 ? y->dim[1] : 1)) * w->dim[0] * (9 + y->dim[1]);
        return 0;
    default:
        return 0;
    }
}
