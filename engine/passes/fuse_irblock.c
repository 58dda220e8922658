/* fuse_irblock.c — MobileNetV2's inverted-residual block into one node
 * (issue 24), after fuse.c made each conv a _ConvFused:
 *   _ConvFused 1x1 (X, W1, B1) [Clip]         the expand (or none: E = X,
 *                                              MobileNetV2's first block)
 *     -> _ConvFused depthwise 3x3 (., Wd, Bd) [Clip], pads 1, stride 1 or 2
 *     -> _ConvFused 1x1 (., W2, B2, R?) [act]  the projection (+ the skip)
 * becomes _IRBlockFused (X, W1?, B1?, Wd, Bd, W2, B2, R?) (kernels/fast.h),
 * run by row blocks of the output with the expanded rows in a per-thread
 * buffer (kernels/fast_irblock.c). Taken only when each intermediate has
 * one reader and is no graph output, every weight and bias is a float32
 * constant, the 1x1 convs are plain (stride 1, no pads, group 1) and the
 * depthwise one has one filter per channel, kernel 3x3, pads 1, dilation
 * 1, equal strides of 1 or 2; and above the scalar level (the reference
 * kernels run the graph as written there). The expand and projection
 * weights are packed here for the level's GEMM.
 * Where it pays: blocks whose depthwise output has at least
 * IR_MIN_PIXELS pixels per image (MobileNetV2's 56x56 and 28x28 blocks).
 * On 14x14 and 7x7 maps the expanded tensor (<= 450 KB an image) stays in
 * L2 anyway, while the row blocks cost halo rows and part-empty GEMM
 * panels: measured slower there (bench/RESULTS.md, session 13). The size
 * comes from the load-time shape walk; unknown sizes are not fused.
 * SKIPSERVE_FUSE_IRBLOCK=0 leaves every block as three convs (A/B
 * timing), =force fuses every matching block whatever its size, and
 * depthwise -> project pairs with no expand before them (E = X: measured
 * a tie with the two convs on MobileNetV2's first block, 112x112, so not
 * by default) (tests). */
#define IR_MIN_PIXELS 784
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels/fast.h"
#include "ops.h"
#include "pass_util.h"
#include "passes.h"

static int ints_all(const sk_node *n, const char *name, int64_t v, int want_n)
{
    const int64_t *a;
    int na = sk_attr_ints(n, name, &a);
    if (na < 0)
        return -1; /* absent */
    if (want_n && na != want_n)
        return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != v)
            return 0;
    return 1;
}

/* auto_pad absent or NOTSET, group g, dilations 1 */
static int plain_attrs(const sk_node *n, int64_t group)
{
    const char *ap = sk_attr_str(n, "auto_pad", "NOTSET");
    return !strcmp(ap, "NOTSET") && sk_attr_int(n, "group", 1) == group &&
           ints_all(n, "dilations", 1, 2) != 0;
}

static int const_f32(const sk_graph *g, int v, int64_t numel)
{
    return v >= 0 && sk_pass_is_const(g, v) && g->values[v].dtype == SK_F32 &&
           sk_shape_numel(&g->values[v].shape) == numel;
}

/* W [o, i, k, k] constant float32 */
static int weight(const sk_graph *g, int v, int64_t o, int64_t i, int64_t k)
{
    if (v < 0 || !sk_pass_is_const(g, v) || g->values[v].dtype != SK_F32)
        return 0;
    const sk_shape *s = &g->values[v].shape;
    return s->rank == 4 && (o < 0 || s->dim[0] == o) && s->dim[1] == i && s->dim[2] == k &&
           s->dim[3] == k;
}

/* A plain 1x1 _ConvFused without residual (expand) or with (project):
 * input channels ci, weights and bias present. */
static int pointwise(const sk_graph *g, const sk_node *n, int64_t ci, int allow_res)
{
    if (n->op != SK_OP_CONV_FUSED || n->nin < 3 || n->nout != 1 || n->priv)
        return 0;
    if (!allow_res && n->nin > 3 && n->in[3] >= 0)
        return 0;
    if (!weight(g, n->in[1], -1, ci, 1) ||
        !const_f32(g, n->in[2], g->values[n->in[1]].shape.dim[0]))
        return 0;
    return plain_attrs(n, 1) && ints_all(n, "strides", 1, 2) != 0 && ints_all(n, "pads", 0, 4) != 0;
}

/* The node whose output 0 is v, or -1. */
static int producer(const sk_graph *g, int v)
{
    for (int ni = 0; ni < g->nnodes; ni++)
        if (g->nodes[ni].nout > 0 && g->nodes[ni].out[0] == v)
            return ni;
    return -1;
}

static int pack(sk_pass *p, int di, const sk_kconfig *kc, int64_t C, int64_t E, int64_t M, int s)
{
    sk_graph *g = p->g;
    sk_node *n = &g->nodes[di];
    sk_irblock_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return SK_ENOMEM;
    pv->kc = kc;
    pv->C = C;
    pv->E = E;
    pv->M = M;
    pv->stride = s;
    const char *bud = getenv("SKIPSERVE_IRBLOCK_BUDGET"); /* tuning, read at load */
    pv->budget = bud && atol(bud) > 0 ? atol(bud) : 0;
    /* no W1 (no expansion): w1 stays empty, the kernel copies X */
    if ((n->in[1] >= 0 && sk_gemm_pack_a(&kc->gemm, g->values[n->in[1]].data, (size_t)C, (int)E,
                                         (int)C, 1, 1.0f, &pv->w1)) ||
        sk_gemm_pack_a(&kc->gemm, g->values[n->in[5]].data, (size_t)E, (int)M, (int)E, 1, 1.0f,
                       &pv->w2)) {
        sk_irblock_priv_free(pv);
        return SK_ENOMEM;
    }
    n->priv = pv;
    n->priv_free = sk_irblock_priv_free;
    p->npacked++;
    return 0;
}

/* Depthwise node di: fuse with its expand and projection when the block
 * matches. 1 fused, 0 not, < 0 an error. */
static int try_block(sk_pass *p, int di, const sk_kconfig *kc, int force)
{
    sk_graph *g = p->g;
    const sk_node *d = &g->nodes[di];
    if (d->op != SK_OP_CONV_FUSED || d->nin < 3 || d->nout != 1 || d->priv ||
        (d->nin > 3 && d->in[3] >= 0) || d->in[0] < 0)
        return 0;
    int ev = d->in[0], dv = d->out[0], ai, ci;
    if (!weight(g, d->in[1], -1, 1, 3))
        return 0;
    const int64_t E = g->values[d->in[1]].shape.dim[0];
    if (!const_f32(g, d->in[2], E) || !plain_attrs(d, E) || ints_all(d, "pads", 1, 4) != 1)
        return 0;
    int s = ints_all(d, "strides", 1, 2) != 0 ? 1 : ints_all(d, "strides", 2, 2) == 1 ? 2 : 0;
    if (!s)
        return 0;
    if (sk_pass_is_output(g, dv) || sk_pass_uses(g, dv, &ci) != 1 || ci < 0 ||
        g->nodes[ci].in[0] != dv || !pointwise(g, &g->nodes[ci], E, 1))
        return 0;
    /* the expand: the plain 1x1 conv producing the depthwise input, read
     * only there; without one, the block has no expansion (MobileNetV2's
     * first: the depthwise conv reads the stem's output) and E = X */
    ai = sk_pass_is_output(g, ev) || sk_pass_uses(g, ev, NULL) != 1 ? -1 : producer(g, ev);
    if (ai >= 0) {
        const sk_node *a = &g->nodes[ai];
        const sk_value *w1v = a->nin > 1 && a->in[1] >= 0 ? &g->values[a->in[1]] : NULL;
        if (a->in[0] < 0 || !w1v || w1v->shape.rank != 4 || w1v->shape.dim[0] != E ||
            !pointwise(g, a, w1v->shape.dim[1], 0))
            ai = -1;
    }
    const sk_node *a = ai >= 0 ? &g->nodes[ai] : NULL, *c = &g->nodes[ci];
    if (!a && !force) /* measured a tie on MobileNetV2's first block: only when forced */
        return 0;
    const int x = a ? a->in[0] : ev;
    if (sk_pass_is_const(g, x))
        return 0;
    const sk_shape *xs = &p->shape[0][x], *ds = &p->shape[0][dv], *ds1 = &p->shape[1][dv];
    if (xs->rank != 4 || p->shape[1][x].rank != 4)
        return 0;
    if (!force && (ds->rank != 4 || ds1->rank != 4 || ds->dim[2] != ds1->dim[2] ||
                   ds->dim[3] != ds1->dim[3] || ds->dim[2] <= 0 || ds->dim[3] <= 0 ||
                   ds->dim[2] * ds->dim[3] < IR_MIN_PIXELS))
        return 0;
    const int64_t C = a ? g->values[a->in[1]].shape.dim[1] : E;
    const int64_t M = g->values[c->in[1]].shape.dim[0];
    if (C > (1 << 24) || E > (1 << 24) || M > (1 << 24))
        return 0;

    /* rewrite the depthwise node into the block; read everything first */
    const int w1 = a ? a->in[1] : -1, b1 = a ? a->in[2] : -1, wd = d->in[1], bd = d->in[2];
    const int w2 = c->in[1], b2 = c->in[2], r = c->nin > 3 ? c->in[3] : -1, y = c->out[0];
    const float emin = a ? sk_attr_float(a, "act_min", -INFINITY) : -INFINITY,
                emax = a ? sk_attr_float(a, "act_max", INFINITY) : INFINITY,
                dmin = sk_attr_float(d, "act_min", -INFINITY),
                dmax = sk_attr_float(d, "act_max", INFINITY),
                lo = sk_attr_float(c, "act_min", -INFINITY),
                hi = sk_attr_float(c, "act_max", INFINITY);
    const char *fadd = sk_attr_str(c, "fused_add", NULL);
    char *aname = strdup(a && a->name ? a->name : ""), *cname = strdup(c->name ? c->name : "");
    char *faddc = fadd ? strdup(fadd) : NULL;
    int rc = (!aname || !cname || (fadd && !faddc)) ? SK_ENOMEM : 0;
    const int64_t st[2] = {s, s};
    const int ins[8] = {x, w1, b1, wd, bd, w2, b2, r};
    for (int k = 0; k < 8 && rc >= 0; k++)
        rc = sk_node_set_input(g, di, k, ins[k]);
    if (rc >= 0)
        rc = sk_node_set_float(g, di, "exp_min", emin);
    if (rc >= 0)
        rc = sk_node_set_float(g, di, "exp_max", emax);
    if (rc >= 0)
        rc = sk_node_set_float(g, di, "dw_min", dmin);
    if (rc >= 0)
        rc = sk_node_set_float(g, di, "dw_max", dmax);
    if (rc >= 0)
        rc = sk_node_set_float(g, di, "act_min", lo);
    if (rc >= 0)
        rc = sk_node_set_float(g, di, "act_max", hi);
    if (rc >= 0)
        rc = sk_node_set_ints(g, di, "strides", st, 2);
    if (rc >= 0 && a)
        rc = sk_node_set_string(g, di, "expand", aname);
    if (rc >= 0 && faddc)
        rc = sk_node_set_string(g, di, "fused_add", faddc);
    if (rc >= 0)
        rc = sk_pass_append_name(g, di, cname);
    if (rc >= 0)
        sk_node_remove_attr(g, di, "activation");
    if (rc >= 0 && a)
        rc = sk_pass_kill(p, ai);
    if (rc >= 0)
        rc = sk_pass_kill(p, ci);
    free(aname);
    free(cname);
    free(faddc);
    if (rc < 0)
        return rc;
    g->nodes[di].out[0] = y;
    g->nodes[di].op = SK_OP_IRBLOCK_FUSED;
    p->nfused++;
    return (rc = pack(p, di, kc, C, E, M, s)) < 0 ? rc : 1;
}

int sk_pass_fuse_irblock(sk_pass *p)
{
    const char *env = getenv("SKIPSERVE_FUSE_IRBLOCK");
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    const int force = env && !strcmp(env, "force");
    /* precision bf16 runs the 1x1 convs on the BF16 GEMM (prepack.c); the
     * block's kernel is FP32: leave those graphs to it */
    if ((env && !strcmp(env, "0")) || p->precision == SK_PREC_BF16 || !kc || !kc->dw_flat.flat || !p->shape[0] || !p->shape[1])
        return 0;
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        int rc = try_block(p, ni, kc, force);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory fusing node '%s'",
                           g->nodes[ni].name);
    }
    return 0;
}
