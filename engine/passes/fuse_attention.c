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
#include <stdio.h>
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

/* ---- heads read in place: _AttentionFused -> _AttentionHeads ------------------
 * torch's nn.MultiheadAttention (packed in-projection, seq-first) exports
 * each of Q, K, V as
 *   QKV [S, B, 3E] -> Slice(last axis, [start, end)) [S, B, E]
 *     -> Reshape [S, B * H, D] -> Transpose(1, 0, 2) [B * H, S, D]
 *        (K: Transpose(1, 2, 0) [B * H, D, S])
 * and the attention's output Y [B * H, S, D] -> Transpose(1, 0, 2). Those
 * copies (nine, and the tenth) are strides: head h of item b is D columns of
 * QKV's rows (fast_attention.c packs them straight from there) and the
 * output rows go where the last Transpose put them. Each Reshape and
 * Transpose must be the only reader of its input and no graph output, the shapes must say so
 * under both shape walks (the batch B free), the Slices one axis (the
 * last), step 1; their bounds stay inputs of the node, checked when the
 * plan knows them. SKIPSERVE_FUSE_HEADS=0 leaves the copies (A/B). */

/* The node writing value v, or -1. */
static int producer(const sk_graph *g, int v)
{
    for (int ni = 0; v >= 0 && ni < g->nnodes; ni++)
        for (int o = 0; o < g->nodes[ni].nout; o++)
            if (g->nodes[ni].out[o] == v)
                return ni;
    return -1;
}

/* v's producer when it is an `op` node and v has no other use. */
static int sole_link(const sk_graph *g, int v, sk_op op)
{
    int only, ni = producer(g, v);
    if (ni < 0 || g->nodes[ni].op != op || g->nodes[ni].nout != 1 ||
        sk_pass_uses(g, v, &only) != 1 || sk_pass_is_output(g, v))
        return -1;
    return ni;
}

static int has_perm(const sk_node *n, int a, int b, int c)
{
    const int64_t *pm;
    return sk_attr_ints(n, "perm", &pm) == 3 && pm[0] == a && pm[1] == b && pm[2] == c;
}

/* One int constant value of v (0-D or one element), into *x. */
static int const_int(const sk_graph *g, int v, int64_t *x)
{
    if (!sk_pass_is_const(g, v) || sk_shape_numel(&g->values[v].shape) != 1)
        return 0;
    if (g->values[v].dtype == SK_I64)
        *x = *(const int64_t *)g->values[v].data;
    else if (g->values[v].dtype == SK_I32)
        *x = *(const int32_t *)g->values[v].data;
    else
        return 0;
    return 1;
}

/* Part x (0 Q, 1 Kt, 2 V) of attention node ai back to its Slice: the
 * Slice's node index, or -1; *hh, *dd its heads and head size. */
static int head_chain(const sk_pass *p, int x, int part, int64_t *hh, int64_t *dd)
{
    const sk_graph *g = p->g;
    int tp = sole_link(g, x, SK_OP_TRANSPOSE);
    if (tp < 0 || g->nodes[tp].nin != 1 ||
        !(part == 1 ? has_perm(&g->nodes[tp], 1, 2, 0) : has_perm(&g->nodes[tp], 1, 0, 2)))
        return -1;
    int r = g->nodes[tp].in[0], rp = sole_link(g, r, SK_OP_RESHAPE);
    if (rp < 0)
        return -1;
    /* the Slice may have other readers (torch's export reads its Shape
     * for the Reshape): it is left alone, and dropped as dead code when
     * those readers were only the Reshape's shape arithmetic */
    int sl = g->nodes[rp].in[0], sp = producer(g, sl);
    if (sp < 0 || g->nodes[sp].op != SK_OP_SLICE || g->nodes[sp].nout != 1)
        return -1;
    const sk_node *s = &g->nodes[sp];
    int64_t axis, step = 1;
    if (s->nin < 4 || s->in[0] < 0 || s->in[1] < 0 || s->in[2] < 0 ||
        !const_int(g, s->in[3], &axis) ||
        (axis != 2 && axis != -1) || (s->nin > 4 && s->in[4] >= 0 && !const_int(g, s->in[4], &step)) ||
        step != 1)
        return -1;
    for (int w = 0; w < 2; w++) {
        const sk_shape *qkv = &p->shape[w][s->in[0]], *so = &p->shape[w][sl],
                       *ro = &p->shape[w][r];
        if (qkv->rank != 3 || so->rank != 3 || ro->rank != 3 || qkv->dim[0] != ro->dim[0] ||
            so->dim[0] != qkv->dim[0] || so->dim[1] != qkv->dim[1] || qkv->dim[1] <= 0 ||
            ro->dim[1] % qkv->dim[1] != 0 || ro->dim[2] <= 0)
            return -1;
        int64_t h = ro->dim[1] / qkv->dim[1], d = ro->dim[2];
        if (h * d != so->dim[2] || (w && (h != *hh || d != *dd)))
            return -1;
        *hh = h;
        *dd = d;
    }
    return sp;
}

/* ---- the out-projection behind the Transpose after it --------------------
 * After the heads, torch's MHA runs
 *   Y [S, B*H, D] -> Reshape [S*B, E] -> Gemm(W, bias) [S*B, N]
 *     -> Reshape [S, B, N] -> Transpose(1, 0, 2) [B, S, N] -> Add(residual)
 * The Gemm works row by row, so it may as well run on the rows in the
 * Transpose's order: the heads node writes Y as [B, S, E] ("batch_first"),
 * the Gemm becomes MatMul(Y, W as [E, N]) + bias and its output is the
 * Transpose's, which the MatMul fusion (fuse_matmul.c) then merges with
 * the residual Add — four copy or element-wise steps fewer per layer.
 * Readers of the Gemm's output other than the Reshape must die with the
 * rewrite (torch reads its Shape for that Reshape). */

static int in_list(const int *v, int n, int x)
{
    for (int i = 0; i < n; i++)
        if (v[i] == x)
            return 1;
    return 0;
}

/* Value v becomes dead code when the nodes in skip are gone: no graph
 * output, and every other reader's outputs die too (a few links deep). */
static int dies(const sk_graph *g, int v, const int *skip, int nskip, int depth)
{
    if (sk_pass_is_output(g, v))
        return 0;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        int reads = 0;
        for (int k = 0; k < n->nin && !reads; k++)
            reads = n->in[k] == v;
        if (!reads || in_list(skip, nskip, ni))
            continue;
        if (depth <= 0)
            return 0;
        for (int o = 0; o < n->nout; o++)
            if (n->out[o] >= 0 && !dies(g, n->out[o], skip, nskip, depth - 1))
                return 0;
    }
    return 1;
}

/* Kill the readers of v outside skip and theirs, which dies() said die:
 * nothing may read a value whose producer is gone when the graph is
 * validated, before dead code goes. */
static int kill_dying(sk_pass *p, int v, const int *skip, int nskip, int depth)
{
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes && depth >= 0; ni++) {
        const sk_node *n = &g->nodes[ni];
        int reads = 0, rc;
        for (int k = 0; k < n->nin && !reads; k++)
            reads = n->in[k] == v;
        if (!reads || in_list(skip, nskip, ni))
            continue;
        for (int o = 0; o < g->nodes[ni].nout; o++)
            if (g->nodes[ni].out[o] >= 0 &&
                (rc = kill_dying(p, g->nodes[ni].out[o], skip, nskip, depth - 1)) < 0)
                return rc;
        if ((rc = sk_pass_kill(p, ni)) < 0)
            return rc;
    }
    return 0;
}

static int fold_out_proj(sk_pass *p, int ai, int qkv)
{
    sk_graph *g = p->g;
    /* the rewrite leans on the MatMul fusion for the bias slot */
    const char *mf = getenv("SKIPSERVE_FUSE_MATMUL");
    if (mf && strcmp(mf, "0") == 0)
        return 1;
    int y = g->nodes[ai].out[0];
    int r3i = sk_pass_sole_reader(g, y, SK_OP_RESHAPE);
    if (r3i < 0 || sk_pass_is_output(g, y))
        return 1;
    int r3 = g->nodes[r3i].out[0];
    int gi = sk_pass_sole_reader(g, r3, SK_OP_GEMM);
    if (gi < 0 || sk_pass_is_output(g, r3))
        return 1;
    const sk_node *gm = &g->nodes[gi];
    int tb = (int)sk_attr_int(gm, "transB", 0);
    if (gm->nin != 3 || gm->nout != 1 || gm->in[0] != r3 || sk_attr_int(gm, "transA", 0) ||
        sk_attr_float(gm, "alpha", 1.0f) != 1.0f || sk_attr_float(gm, "beta", 1.0f) != 1.0f)
        return 1;
    int w = gm->in[1], c = gm->in[2];
    if (!sk_pass_is_const(g, w) || g->values[w].dtype != SK_F32 ||
        g->values[w].shape.rank != 2 || !sk_pass_is_const(g, c) ||
        g->values[c].dtype != SK_F32 || g->values[c].shape.rank != 1)
        return 1;
    const int64_t K = g->values[w].shape.dim[tb ? 1 : 0], N = g->values[w].shape.dim[tb ? 0 : 1];
    if (g->values[c].shape.dim[0] != N)
        return 1;
    int gout = gm->out[0], r4i = -1;
    for (int ni = 0; ni < g->nnodes && r4i < 0; ni++)
        if (g->nodes[ni].op == SK_OP_RESHAPE && g->nodes[ni].nin >= 1 &&
            g->nodes[ni].in[0] == gout)
            r4i = ni;
    if (r4i < 0)
        return 1;
    int r4 = g->nodes[r4i].out[0], t5i = sk_pass_sole_reader(g, r4, SK_OP_TRANSPOSE);
    if (t5i < 0 || sk_pass_is_output(g, r4) || !has_perm(&g->nodes[t5i], 1, 0, 2))
        return 1;
    int t5 = g->nodes[t5i].out[0];
    /* a residual Add must not be taken for the bias (the bias is set below) */
    int add = sk_pass_sole_reader(g, t5, SK_OP_ADD);
    if (add >= 0 && g->nodes[add].nin == 2 &&
        (sk_pass_is_const(g, g->nodes[add].in[0]) || sk_pass_is_const(g, g->nodes[add].in[1])))
        return 1;
    for (int wk = 0; wk < 2; wk++) {
        const sk_shape *x = &p->shape[wk][qkv], *o = &p->shape[wk][t5];
        if (x->rank != 3 || o->rank != 3 || o->dim[0] != x->dim[1] || o->dim[1] != x->dim[0] ||
            o->dim[2] != N || K != sk_attr_int(&g->nodes[ai], "heads", 0) *
                                      sk_attr_int(&g->nodes[ai], "head_dim", 0))
            return 1;
    }
    int skip[4] = {r4i, gi, r3i, t5i};
    if (!dies(g, gout, skip, 4, 6))
        return 1;
    /* W as [K, N] for MatMul */
    int wt = w;
    if (tb) {
        float *d = malloc(sizeof(float) * (size_t)(K * N > 0 ? K * N : 1));
        const float *src = g->values[w].data;
        char name[64];
        if (!d)
            return SK_ENOMEM;
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++)
                d[k * N + n] = src[n * K + k];
        snprintf(name, sizeof name, "_heads_wt%d", p->fresh++);
        sk_shape ws = {2, {K, N}};
        wt = sk_graph_add_const(g, name, SK_F32, &ws, d);
        free(d);
        if (wt < 0)
            return wt;
    }
    int rc;
    if ((rc = kill_dying(p, gout, skip, 4, 6)) < 0 || (rc = sk_pass_kill(p, r3i)) < 0 ||
        (rc = sk_pass_kill(p, r4i)) < 0 ||
        (rc = sk_pass_kill(p, t5i)) < 0 || (rc = sk_node_set_int(g, ai, "batch_first", 1)) < 0)
        return rc;
    for (int wk = 0; wk < 2; wk++) /* y's shape for the passes after this one */
        p->shape[wk][y] = p->shape[wk][t5], p->shape[wk][y].dim[2] = K;
    sk_node *mm = &g->nodes[gi];
    mm->in[0] = y;
    mm->in[1] = wt;
    mm->in[2] = -1;
    mm->nin = 2;
    sk_node_remove_attr(g, gi, "transA");
    sk_node_remove_attr(g, gi, "transB");
    sk_node_remove_attr(g, gi, "alpha");
    sk_node_remove_attr(g, gi, "beta");
    mm->op = SK_OP_MATMUL;
    mm->out[0] = t5;
    /* bias, residual Add and what follows, as for any Linear layer */
    if ((rc = sk_pass_fuse_matmul(p, gi)) < 0 || (rc = sk_node_set_input(g, gi, 2, c)) < 0)
        return rc;
    if (wt != w)
        sk_pass_drop_unused(g, w); /* ViT-B/16: 12 x 2.25 MiB not held twice in the passes */
    return 1;
}

/* ---- the in-projection before the Transpose that feeds it ---------------
 * X [B, S, E] -> Transpose(1, 0, 2) -> MatMul(W) + bias = QKV [S, B, 3E]:
 * the MatMul is row-wise too, so it may read X itself and leave QKV as
 * [B, S, 3E] ("qkv_batch_first" on the heads node). Only when nothing
 * else sees QKV's layout: its other readers are Slices that die (the
 * heads node replaced them) or Shapes read only by Gathers of the last
 * dim (torch's Slice bounds), which the flip leaves alone. The Transpose
 * stays for its other readers, and goes as dead code when there are none
 * (torch's are Shapes for the Reshapes the fold removed). */
static int last_dim_only(const sk_graph *g, int shp)
{
    int sv = g->nodes[shp].out[0];
    if (g->nodes[shp].nout != 1 || sv < 0 || sk_pass_is_output(g, sv) ||
        sk_attr_find(&g->nodes[shp], "start") || sk_attr_find(&g->nodes[shp], "end"))
        return 0;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        int reads = 0;
        for (int k = 0; k < n->nin; k++)
            reads |= n->in[k] == sv;
        if (!reads)
            continue;
        int64_t idx;
        if (n->op != SK_OP_GATHER || n->nin != 2 || n->in[0] != sv || n->in[1] == sv ||
            sk_attr_int(n, "axis", 0) != 0 || !const_int(g, n->in[1], &idx) ||
            g->values[n->in[1]].shape.rank > 1 || (idx != 2 && idx != -1))
            return 0;
    }
    return 1;
}

static int fold_qkv_first(sk_pass *p, int ai, int qkv)
{
    sk_graph *g = p->g;
    int mq = producer(g, qkv);
    if (mq < 0 || g->nodes[mq].op != SK_OP_MATMUL_FUSED || sk_pass_is_output(g, qkv) ||
        (g->nodes[mq].nin > 3 && g->nodes[mq].in[3] >= 0))
        return 0;
    int t = g->nodes[mq].in[0], tt = producer(g, t);
    if (tt < 0 || g->nodes[tt].op != SK_OP_TRANSPOSE || g->nodes[tt].nin != 1 ||
        g->nodes[tt].in[0] < 0 || !has_perm(&g->nodes[tt], 1, 0, 2))
        return 0;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        int reads = 0;
        for (int k = 0; k < n->nin; k++)
            reads |= n->in[k] == qkv;
        if (!reads || ni == ai)
            continue;
        if (n->op == SK_OP_SLICE && n->nout == 1 && dies(g, n->out[0], NULL, 0, 6))
            continue;
        if (n->op == SK_OP_SHAPE && n->nin == 1 && last_dim_only(g, ni))
            continue;
        return 0;
    }
    for (int w = 0; w < 2; w++)
        if (p->shape[w][qkv].rank != 3)
            return 0;
    int rc;
    if ((rc = sk_node_set_int(g, ai, "qkv_batch_first", 1)) < 0)
        return rc;
    g->nodes[mq].in[0] = g->nodes[tt].in[0];
    for (int w = 0; w < 2; w++) { /* QKV's shape for the passes after this one */
        int64_t d0 = p->shape[w][qkv].dim[0];
        p->shape[w][qkv].dim[0] = p->shape[w][qkv].dim[1];
        p->shape[w][qkv].dim[1] = d0;
    }
    return 1;
}

static int fold_heads(sk_pass *p, int ai)
{
    static int off = -1;
    if (off < 0) {
        const char *e = getenv("SKIPSERVE_FUSE_HEADS");
        off = e && strcmp(e, "0") == 0;
    }
    sk_graph *g = p->g;
    if (off || g->nodes[ai].nin != 3)
        return 0;
    int y = g->nodes[ai].out[0];
    int t4 = sk_pass_sole_reader(g, y, SK_OP_TRANSPOSE);
    if (t4 < 0 || sk_pass_is_output(g, y) || !has_perm(&g->nodes[t4], 1, 0, 2))
        return 0;
    int sp[3], src = -1;
    int64_t h[3], d[3];
    for (int part = 0; part < 3; part++) {
        sp[part] = head_chain(p, g->nodes[ai].in[part], part, &h[part], &d[part]);
        if (sp[part] < 0 || (part && (h[part] != h[0] || d[part] != d[0] ||
                                      g->nodes[sp[part]].in[0] != src)))
            return 0;
        src = g->nodes[sp[part]].in[0];
    }
    /* The node reads (QKV, bounds of Q, K, V); the Reshapes and
     * Transposes go (their shape arithmetic with them, as dead code). */
    int in[7] = {src};
    for (int part = 0; part < 3; part++) {
        in[1 + 2 * part] = g->nodes[sp[part]].in[1];
        in[2 + 2 * part] = g->nodes[sp[part]].in[2];
    }
    int rc, yout = g->nodes[t4].out[0];
    for (int part = 0; part < 3; part++) {
        int x = g->nodes[ai].in[part], tp = producer(g, x);
        int rp = producer(g, g->nodes[tp].in[0]);
        if ((rc = sk_pass_kill(p, rp)) < 0 || (rc = sk_pass_kill(p, tp)) < 0)
            return rc;
    }
    if ((rc = sk_pass_kill(p, t4)) < 0)
        return rc;
    for (int k = 0; k < 7; k++)
        if ((rc = sk_node_set_input(g, ai, k, in[k])) < 0)
            return rc;
    if ((rc = sk_node_set_int(g, ai, "heads", h[0])) < 0 ||
        (rc = sk_node_set_int(g, ai, "head_dim", d[0])) < 0)
        return rc;
    g->nodes[ai].out[0] = yout;
    g->nodes[ai].op = SK_OP_ATTENTION_HEADS;
    if ((rc = fold_out_proj(p, ai, src)) < 0 || (rc = fold_qkv_first(p, ai, src)) < 0)
        return rc;
    return 1;
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
    rc = fold_heads(p, mi);
    return rc < 0 ? rc : 1;
}
