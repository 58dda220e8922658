/* fuse.c — BatchNorm folding and Conv/Gemm + Add + activation fusion (see
 * passes.h). Each Conv is followed down its single-consumer chain:
 *   Conv -> BatchNormalization -> Add(other) -> Relu | Clip
 * (every link optional); the merged nodes are unhooked (sk_pass_kill) and
 * the Conv becomes a _ConvFused node producing the last value of the chain,
 * so every reader of that value is unchanged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "pass_util.h"

static int is_f32_const(const sk_graph *g, int v)
{
    return sk_pass_is_const(g, v) && g->values[v].dtype == SK_F32;
}

static int64_t const_numel(const sk_graph *g, int v) { return sk_shape_numel(&g->values[v].shape); }

/* The node reading Y as its only use (Y not a graph output), or -1. */
static int sole_reader(const sk_graph *g, int y, sk_op op)
{
    int who;
    if (y < 0 || sk_pass_uses(g, y, &who) != 1 || who < 0 || g->nodes[who].op != op)
        return -1;
    return who;
}

/* n's name becomes "name+more": a fused node names what it absorbed. */
int sk_pass_append_name(sk_graph *g, int ni, const char *more)
{
    sk_node *n = &g->nodes[ni];
    size_t a = strlen(n->name), b = strlen(more ? more : "");
    char *s = malloc(a + b + 2);
    if (!s)
        return SK_ENOMEM;
    memcpy(s, n->name, a);
    s[a] = '+';
    memcpy(s + a + 1, more ? more : "", b + 1);
    free(n->name);
    n->name = s;
    return 0;
}

/* Conv W [M, Cg, k...] and B [M] (or none) with BN (scale, bias, mean, var)
 * over M channels: W' = W * s, B' = (B - mean) * s + bias, s = scale /
 * sqrt(var + eps). Computed in double, stored as float. */
static int fold_bn(sk_pass *p, int ci, int bi)
{
    sk_graph *g = p->g;
    sk_node *c = &g->nodes[ci], *b = &g->nodes[bi];
    if (b->nin < 5 || b->in[0] != c->out[0])
        return 0;
    for (int k = 1; k < 5; k++)
        if (!is_f32_const(g, b->in[k]))
            return 0;
    if (sk_attr_int(b, "training_mode", 0) != 0)
        return 0;
    for (int o = 1; o < b->nout; o++)
        if (b->out[o] >= 0 && sk_pass_uses(g, b->out[o], NULL) > 0)
            return 0;
    int wv = c->in[1], bv = c->nin > 2 ? c->in[2] : -1;
    const sk_shape *ws = &g->values[wv].shape;
    int64_t M = ws->dim[0], per = const_numel(g, wv) / (M > 0 ? M : 1);
    for (int k = 1; k < 5; k++)
        if (const_numel(g, b->in[k]) != M)
            return 0;
    if (bv >= 0 && (!is_f32_const(g, bv) || const_numel(g, bv) != M))
        return 0;
    double eps = sk_attr_float(b, "epsilon", 1e-5f);
    const float *W = g->values[wv].data, *B = bv >= 0 ? g->values[bv].data : NULL;
    const float *scale = g->values[b->in[1]].data, *bias = g->values[b->in[2]].data,
                *mean = g->values[b->in[3]].data, *var = g->values[b->in[4]].data;
    float *nw = malloc(sizeof(float) * (size_t)(M * per > 0 ? M * per : 1));
    float *nb = malloc(sizeof(float) * (size_t)(M > 0 ? M : 1));
    if (!nw || !nb) {
        free(nw);
        free(nb);
        return SK_ENOMEM;
    }
    for (int64_t m = 0; m < M; m++) {
        double s = (double)scale[m] / sqrt((double)var[m] + eps);
        for (int64_t i = 0; i < per; i++)
            nw[m * per + i] = (float)((double)W[m * per + i] * s);
        nb[m] = (float)(((B ? (double)B[m] : 0.0) - (double)mean[m]) * s + (double)bias[m]);
    }
    sk_shape bs = {1, {M}};
    sk_shape wshape = *ws;
    int nwv = sk_graph_add_const(g, NULL, SK_F32, &wshape, nw);
    int nbv = nwv < 0 ? nwv : sk_graph_add_const(g, NULL, SK_F32, &bs, nb);
    free(nw);
    free(nb);
    if (nwv < 0 || nbv < 0)
        return SK_ENOMEM;
    int yb = b->out[0], rc;
    const char *bname = b->name;
    int old[6] = {wv, bv, b->in[1], b->in[2], b->in[3], b->in[4]};
    if ((rc = sk_node_set_input(g, ci, 1, nwv)) < 0 ||
        (rc = sk_node_set_input(g, ci, 2, nbv)) < 0 ||
        (rc = sk_pass_append_name(g, ci, bname)) < 0 || (rc = sk_pass_kill(p, bi)) < 0)
        return rc;
    g->nodes[ci].out[0] = yb;
    /* the unfolded weights go now: a model's convs never hold both */
    for (int k = 0; k < 6; k++)
        sk_pass_drop_unused(g, old[k]);
    p->nbn++;
    return 1;
}

/* 1 when values a and b have the same shape under both shape walks (batch
 * bound to 1 and to 3): a residual that matches only for one batch size
 * must not fuse. */
int sk_pass_same_known_shape(const sk_pass *p, int a, int b)
{
    for (int i = 0; i < 2; i++) {
        const sk_shape *x = &p->shape[i][a], *y = &p->shape[i][b];
        if (x->rank < 0 || y->rank < 0 || !sk_shape_equal(x, y))
            return 0;
    }
    return 1;
}

/* Add(Y, R) or Add(R, Y) with R a runtime value of Y's shape: R becomes
 * input 3 of the fused node. */
static int fuse_add(sk_pass *p, int ci, int ai)
{
    sk_graph *g = p->g;
    sk_node *c = &g->nodes[ci], *a = &g->nodes[ai];
    int y = c->out[0];
    if (a->nin != 2 || a->nout != 1)
        return 0;
    int r = a->in[0] == y ? a->in[1] : a->in[0];
    if (r < 0 || r == y || sk_pass_is_const(g, r) || !sk_pass_same_known_shape(p, r, y))
        return 0;
    int ya = a->out[0], rc;
    if ((rc = sk_node_set_input(g, ci, 3, r)) < 0 ||
        (rc = sk_node_set_string(g, ci, "fused_add", a->name)) < 0 ||
        (rc = sk_pass_append_name(g, ci, a->name)) < 0 || (rc = sk_pass_kill(p, ai)) < 0)
        return rc;
    g->nodes[ci].out[0] = ya;
    p->nadd++;
    return 1;
}

/* A scalar float constant input of Clip, or the default when omitted. */
static int clip_bound(const sk_graph *g, const sk_node *n, int k, float def, float *v)
{
    int id = k < n->nin ? n->in[k] : -1;
    if (id < 0) {
        *v = def;
        return 1;
    }
    if (!is_f32_const(g, id) || const_numel(g, id) != 1)
        return 0;
    *v = *(const float *)g->values[id].data;
    return 1;
}

static int fuse_act(sk_pass *p, int ci)
{
    sk_graph *g = p->g;
    int y = g->nodes[ci].out[0], ri = -1;
    float lo, hi;
    const char *kind;
    if ((ri = sole_reader(g, y, SK_OP_RELU)) >= 0) {
        lo = 0.0f;
        hi = INFINITY;
        kind = "Relu";
    } else if ((ri = sole_reader(g, y, SK_OP_CLIP)) >= 0) {
        const sk_node *r = &g->nodes[ri];
        if (r->in[0] != y || !clip_bound(g, r, 1, -INFINITY, &lo) ||
            !clip_bound(g, r, 2, INFINITY, &hi))
            return 0;
        kind = "Clip";
    } else {
        return 0;
    }
    int yr = g->nodes[ri].out[0], rc;
    if ((rc = sk_node_set_string(g, ci, "activation", kind)) < 0 ||
        (rc = sk_node_set_float(g, ci, "act_min", lo)) < 0 ||
        (rc = sk_node_set_float(g, ci, "act_max", hi)) < 0 ||
        (rc = sk_pass_append_name(g, ci, g->nodes[ri].name)) < 0 || (rc = sk_pass_kill(p, ri)) < 0)
        return rc;
    g->nodes[ci].out[0] = yr;
    p->nact++;
    return 1;
}

static int make_fused(sk_pass *p, int ni, sk_op op)
{
    p->g->nodes[ni].op = op;
    p->nfused++;
    return 0;
}

static int conv_eligible(const sk_graph *g, const sk_node *n)
{
    if (n->nin < 2 || n->nout != 1 || n->out[0] < 0 || n->in[0] < 0)
        return 0;
    if (!is_f32_const(g, n->in[1]) || sk_pass_is_const(g, n->in[0]))
        return 0;
    const sk_shape *ws = &g->values[n->in[1]].shape;
    if (ws->rank < 3 || ws->rank > 5 || ws->dim[0] < 1)
        return 0;
    int bv = n->nin > 2 ? n->in[2] : -1;
    if (bv >= 0 && (!is_f32_const(g, bv) || const_numel(g, bv) != ws->dim[0]))
        return 0;
    return 1;
}

static int fuse_conv(sk_pass *p, int ci)
{
    sk_graph *g = p->g;
    int rc, bi, ai;
    if ((bi = sole_reader(g, g->nodes[ci].out[0], SK_OP_BATCH_NORM)) >= 0 &&
        (rc = fold_bn(p, ci, bi)) < 0)
        return rc;
    if ((ai = sole_reader(g, g->nodes[ci].out[0], SK_OP_ADD)) >= 0 &&
        (rc = fuse_add(p, ci, ai)) < 0)
        return rc;
    if ((rc = fuse_act(p, ci)) < 0)
        return rc;
    return make_fused(p, ci, SK_OP_CONV_FUSED);
}

/* Gemm(A, B const, C?) with transA = 0 and C a scalar or one row. */
static int gemm_eligible(const sk_graph *g, const sk_node *n)
{
    if (n->nin < 2 || n->nout != 1 || n->out[0] < 0 || n->in[0] < 0)
        return 0;
    if (!is_f32_const(g, n->in[1]) || sk_pass_is_const(g, n->in[0]))
        return 0;
    if (sk_attr_int(n, "transA", 0) != 0)
        return 0;
    const sk_shape *bs = &g->values[n->in[1]].shape;
    if (bs->rank != 2)
        return 0;
    int64_t N = bs->dim[sk_attr_int(n, "transB", 0) ? 0 : 1];
    int cv = n->nin > 2 ? n->in[2] : -1;
    if (cv >= 0) {
        if (!is_f32_const(g, cv))
            return 0;
        const sk_shape *cs = &g->values[cv].shape;
        int64_t cn = const_numel(g, cv);
        int row = cs->rank <= 1 || (cs->rank == 2 && cs->dim[0] == 1);
        if (!row || (cn != 1 && cn != N))
            return 0;
    }
    return 1;
}

static int fuse_gemm(sk_pass *p, int gi)
{
    int rc = fuse_act(p, gi);
    if (rc < 0)
        return rc;
    return make_fused(p, gi, SK_OP_GEMM_FUSED);
}

int sk_pass_fuse(sk_pass *p)
{
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        int rc = 0;
        if (n->op == SK_OP_CONV && conv_eligible(g, n))
            rc = fuse_conv(p, ni);
        else if (n->op == SK_OP_GEMM && gemm_eligible(g, n))
            rc = fuse_gemm(p, ni);
        else if (n->op == SK_OP_MATMUL && sk_pass_matmul_eligible(g, n))
            rc = sk_pass_fuse_matmul(p, ni); /* fuse_matmul.c */
        else if (n->op == SK_OP_MATMUL)
            rc = sk_pass_fuse_attention(p, ni); /* fuse_attention.c */
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory fusing node '%s'",
                           g->nodes[ni].name);
    }
    return 0;
}

/* The links above for fuse_matmul.c (pass_util.h). */
int sk_pass_sole_reader(const sk_graph *g, int y, sk_op op) { return sole_reader(g, y, op); }
int sk_pass_fuse_add(sk_pass *p, int ni, int ai) { return fuse_add(p, ni, ai); }
int sk_pass_fuse_act(sk_pass *p, int ni) { return fuse_act(p, ni); }
