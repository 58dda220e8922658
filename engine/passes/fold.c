/* fold.c — weight conversions computed once at load: a Cast or a
 * DequantizeLinear whose inputs are all constants becomes a constant.
 *
 * That is what float16-weight models (initializer -> Cast to float) and QDQ
 * models (int8 initializer -> DequantizeLinear) look like; folding here
 * instead of in every plan gives the later passes float32 weights to fuse
 * and pack, and keeps one copy of them. A Cast that changes nothing (a
 * float16 weight is already held as float32) hands its input's buffer over
 * when it is the buffer's only reader, so an FP16 model's weights exist once
 * in memory. Inputs nothing else reads are freed right away, so the peak
 * stays one float32 copy plus the weights still being converted. An
 * Identity of a constant becomes a copy of it. */
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "pass_util.h"

static int foldable(const sk_graph *g, const sk_node *n)
{
    /* Identity of a constant: torch writes one per initializer it
     * de-duplicated (ViT's equal LayerNorm / bias vectors under random
     * init); as a runtime value it kept those biases out of the MatMul and
     * Gemm fusions (fuse_matmul.c, fuse.c). */
    if (n->op != SK_OP_CAST && n->op != SK_OP_DEQUANTIZE_LINEAR && n->op != SK_OP_IDENTITY)
        return 0;
    if (n->nout != 1 || n->out[0] < 0 || sk_pass_is_output(g, n->out[0]))
        return 0;
    for (int k = 0; k < n->nin; k++)
        if (n->in[k] >= 0 && !sk_pass_is_const(g, n->in[k]))
            return 0;
    return n->nin > 0 && n->in[0] >= 0;
}

static int fold_node(sk_pass *p, int ni)
{
    sk_graph *g = p->g;
    sk_node *n = &g->nodes[ni];
    const sk_op_info *info = sk_op_get(n->op);
    sk_tensor tin[3], tout;
    const sk_tensor *pin[3] = {NULL, NULL, NULL};
    int nin = n->nin < 3 ? n->nin : 3;
    for (int k = 0; k < nin; k++) {
        if (n->in[k] < 0)
            continue;
        const sk_value *v = &g->values[n->in[k]];
        tin[k] = (sk_tensor){v->dtype, v->shape, v->data};
        pin[k] = &tin[k];
    }
    memset(&tout, 0, sizeof tout);
    char err[200];
    sk_kctx ctx = {err, sizeof err, NULL, NULL, 0, NULL};
    /* a bad node (zero scale, ...) is left for planning to report */
    if (info->infer(n, pin, nin, &tout, 1, &ctx) < 0)
        return 0;
    int in0 = n->in[0], out = n->out[0];
    sk_value *src = &g->values[in0];
    int64_t to = sk_attr_int(n, "to", 0);
    int only = -1;
    if (n->op == SK_OP_CAST && tout.dtype == src->dtype && to != SK_F16 && to != SK_BF16 &&
        src->data_owned && sk_pass_uses(g, in0, &only) == 1 && only == ni) {
        /* no change of value: move the buffer */
        void *data = src->data;
        src->data = NULL;
        src->data_owned = 0;
        int rc = sk_pass_kill(p, ni);
        if (rc < 0)
            return rc;
        return sk_graph_set_const(g, out, tout.dtype, &tout.shape, data, 1);
    }
    size_t bytes = sk_tensor_bytes(&tout);
    tout.data = sk_alloc(bytes ? bytes : 1);
    if (!tout.data)
        return sk_errf(p->err, p->errlen, SK_ENOMEM, "out of memory folding '%s'", n->name);
    if (info->run(n, pin, nin, &tout, 1, &ctx) < 0) {
        sk_free(tout.data);
        return 0;
    }
    int ins[3] = {-1, -1, -1};
    for (int k = 0; k < nin; k++)
        ins[k] = n->in[k];
    int rc = sk_pass_kill(p, ni);
    if (rc < 0) {
        sk_free(tout.data);
        return rc;
    }
    rc = sk_graph_set_const(g, out, tout.dtype, &tout.shape, tout.data, 1);
    for (int k = 0; k < nin; k++)
        if (ins[k] >= 0)
            sk_pass_drop_unused(g, ins[k]);
    return rc;
}

int sk_pass_fold(sk_pass *p)
{
    sk_graph *g = p->g;
    /* topological order: a folded output may feed the next foldable node */
    for (int ni = 0; ni < g->nnodes; ni++) {
        if (!foldable(g, &g->nodes[ni]))
            continue;
        int rc = fold_node(p, ni);
        if (rc < 0)
            return rc;
    }
    return 0;
}
