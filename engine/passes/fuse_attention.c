/* fuse_attention.c — a transformer's attention core becomes one
 * _AttentionFused node (kernels/fast.h):
 *   [Div(Q, c) | Mul(Q, c)] -> MatMul(., Kt) -> Softmax(last axis) -> MatMul(., V)
 * as torch exports nn.MultiheadAttention (the 1/sqrt(head dim) scale is a
 * Div on Q). Every intermediate must have exactly one reader (so no other
 * node sees the scores), Q, Kt and V must be runtime values of equal rank
 * whose batch dims agree under both shape walks (no broadcasting), and c a
 * float32 scalar constant. The fast kernel then never materialises the
 * [b.., M, L] scores (fast_attention.c). SKIPSERVE_FUSE_ATTENTION=0 leaves
 * the nodes alone (A/B timing). */
#include <stdlib.h>
#include <string.h>

#include "kernels/fast.h"
#include "ops.h"
#include "pass_util.h"

static int runtime(const sk_graph *g, int v) { return v >= 0 && !sk_pass_is_const(g, v); }

/* Q, Kt, V shaped for the op under both shape walks. */
static int shapes_ok(const sk_pass *p, int q, int k, int v)
{
    for (int i = 0; i < 2; i++) {
        sk_tensor t[3] = {{SK_F32, p->shape[i][q], NULL},
                          {SK_F32, p->shape[i][k], NULL},
                          {SK_F32, p->shape[i][v], NULL}};
        const sk_tensor *in[3] = {&t[0], &t[1], &t[2]};
        sk_attention_geom geo;
        if (t[0].shape.rank < 2 || !sk_attention_geometry(in, 3, &geo))
            return 0;
    }
    return 1;
}

/* Softmax over the last axis of a rank-r input (opset >= 13: axis -1 or
 * r - 1; older opsets coerce to 2-D at `axis`, the same when axis = r - 1). */
static int last_axis_softmax(const sk_pass *p, const sk_node *sm, int x)
{
    int r = p->shape[0][x].rank;
    if (r < 1 || sm->nin != 1 || sm->nout != 1)
        return 0;
    int legacy = sm->opset > 0 && sm->opset < 13;
    int64_t axis = sk_attr_int(sm, "axis", legacy ? 1 : -1);
    return axis == r - 1 || (!legacy && axis == -1);
}

int sk_pass_fuse_attention(sk_pass *p, int mi)
{
    static int off = -1;
    if (off < 0) {
        const char *e = getenv("SKIPSERVE_FUSE_ATTENTION");
        off = e && strcmp(e, "0") == 0;
    }
    sk_graph *g = p->g;
    const sk_node *m1 = &g->nodes[mi];
    if (off || m1->nin != 2 || m1->nout != 1 || !runtime(g, m1->in[0]) || !runtime(g, m1->in[1]))
        return 0;
    int s = m1->out[0];
    int si = sk_pass_sole_reader(g, s, SK_OP_SOFTMAX);
    if (si < 0 || !last_axis_softmax(p, &g->nodes[si], s))
        return 0;
    int pv = g->nodes[si].out[0];
    int m2 = sk_pass_sole_reader(g, pv, SK_OP_MATMUL);
    if (m2 < 0 || g->nodes[m2].nin != 2 || g->nodes[m2].in[0] != pv ||
        !runtime(g, g->nodes[m2].in[1]))
        return 0;
    int q = m1->in[0], kt = m1->in[1], v = g->nodes[m2].in[1];
    /* the scale on Q: Div(Q, c) or Mul(Q, c) read only by this MatMul */
    int di = -1, q_op = 0;
    float c = 1.0f;
    int uses, only;
    uses = sk_pass_uses(g, q, &only);
    for (int ni = 0; ni < g->nnodes && uses == 1 && !sk_pass_is_output(g, q); ni++) {
        const sk_node *d = &g->nodes[ni];
        if ((d->op != SK_OP_DIV && d->op != SK_OP_MUL) || d->nout != 1 || d->out[0] != q ||
            d->nin != 2)
            continue;
        int cv = d->in[1];
        if (cv >= 0 && sk_pass_is_const(g, cv) && g->values[cv].dtype == SK_F32 &&
            g->values[cv].data && sk_shape_numel(&g->values[cv].shape) == 1 &&
            g->values[cv].shape.rank <= 1 && runtime(g, d->in[0])) {
            di = ni;
            q_op = d->op == SK_OP_DIV ? 1 : 2;
            c = *(const float *)g->values[cv].data;
        }
        break;
    }
    int qin = di >= 0 ? g->nodes[di].in[0] : q;
    if (!shapes_ok(p, qin, kt, v))
        return 0;
    int y = g->nodes[m2].out[0], rc;
    char *sname = g->nodes[si].name, *m2name = g->nodes[m2].name;
    if ((rc = sk_node_set_input(g, mi, 0, qin)) < 0 || (rc = sk_node_set_input(g, mi, 2, v)) < 0 ||
        (rc = sk_node_set_int(g, mi, "q_op", q_op)) < 0 ||
        (rc = sk_node_set_float(g, mi, "q_const", c)) < 0 ||
        (di >= 0 && (rc = sk_pass_append_name(g, mi, g->nodes[di].name)) < 0) ||
        (rc = sk_pass_append_name(g, mi, sname)) < 0 ||
        (rc = sk_pass_append_name(g, mi, m2name)) < 0)
        return rc;
    if ((di >= 0 && (rc = sk_pass_kill(p, di)) < 0) || (rc = sk_pass_kill(p, si)) < 0 ||
        (rc = sk_pass_kill(p, m2)) < 0)
        return rc;
    g->nodes[mi].out[0] = y;
    g->nodes[mi].op = SK_OP_ATTENTION_FUSED;
    p->nfused++;
    return 1;
}
