/* fuse_matmul.c — a transformer's Linear layer becomes one _MatMulFused
 * node (engine/kernels/fast.h). Followed down its single-consumer chain:
 *   MatMul(A, W const [K, N]) -> Add(bias const [N]) -> Add(R) -> act
 * with every link optional and act one of Relu, Clip (as fuse.c merges them
 * into convolutions), the erf-form GELU torch exports for nn.GELU()
 *   Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5
 * or the tanh form of nn.GELU(approximate="tanh")
 *   x + 0.044715 x*x*x -> Mul sqrt(2/pi) -> Tanh -> Add 1 -> Mul x -> Mul 0.5.
 * ViT's FFN is then MatMul+bias+GELU and MatMul+bias+residual, its QKV
 * projection MatMul+bias. A GELU is merged only when every reader of x is
 * a node of the pattern and every intermediate has exactly one reader, so
 * nothing else in the graph sees a value that disappears. The weights are
 * packed at load (prepack.c) as _GemmFused's. SKIPSERVE_FUSE_MATMUL=0
 * leaves MatMul nodes alone (A/B timing). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fast.h"
#include "ops.h"
#include "pass_util.h"

static int is_f32_const(const sk_graph *g, int v)
{
    return v >= 0 && sk_pass_is_const(g, v) && g->values[v].dtype == SK_F32;
}

/* v is a float32 constant holding one value within 1e-5 (relative) of want. */
static int scalar_is(const sk_graph *g, int v, double want)
{
    if (!is_f32_const(g, v) || sk_shape_numel(&g->values[v].shape) != 1 || !g->values[v].data)
        return 0;
    double got = *(const float *)g->values[v].data;
    return fabs(got - want) <= 1e-5 * fabs(want);
}

/* The other input of binary node n, one of whose inputs is v (-1 when n is
 * not binary or does not read v). */
static int other_in(const sk_node *n, int v)
{
    if (n->nin != 2 || n->nout != 1)
        return -1;
    return n->in[0] == v ? n->in[1] : n->in[1] == v ? n->in[0] : -1;
}

/* The sole reader of v (op), which reads v with a scalar constant c. */
static int scalar_step(const sk_graph *g, int v, sk_op op, double c)
{
    int ni = sk_pass_sole_reader(g, v, op);
    return ni >= 0 && scalar_is(g, other_in(&g->nodes[ni], v), c) ? ni : -1;
}

/* The sole reader of v (op) whose other input is w. */
static int pair_step(const sk_graph *g, int v, sk_op op, int w)
{
    int ni = sk_pass_sole_reader(g, v, op);
    return ni >= 0 && other_in(&g->nodes[ni], v) == w ? ni : -1;
}

/* The node (op) reading x with a scalar c / with w, among x's readers. */
static int reader_with(const sk_graph *g, int x, sk_op op, double c, int w)
{
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        int o = n->op == op ? other_in(n, x) : -1;
        if (o >= 0 && (w >= 0 ? o == w : scalar_is(g, o, c)))
            return ni;
    }
    return -1;
}

#define GELU_MAX 9
typedef struct gelu_match {
    int kind, nodes[GELU_MAX], count, last;
} gelu_match;

/* Erf form from x: nodes d (Div sqrt 2 or Mul 1/sqrt 2), Erf, Add 1, Mul x,
 * Mul 0.5; x read twice (d, the Mul). */
static int match_gelu_erf(const sk_graph *g, int x, gelu_match *m)
{
    int d = reader_with(g, x, SK_OP_DIV, 1.41421356237309505, -1);
    if (d < 0)
        d = reader_with(g, x, SK_OP_MUL, 0.70710678118654752, -1);
    if (d < 0 || g->nodes[d].in[0] != x)
        return 0;
    int e = sk_pass_sole_reader(g, g->nodes[d].out[0], SK_OP_ERF);
    int a = e < 0 ? -1 : scalar_step(g, g->nodes[e].out[0], SK_OP_ADD, 1.0);
    int mx = a < 0 ? -1 : pair_step(g, g->nodes[a].out[0], SK_OP_MUL, x);
    int h = mx < 0 ? -1 : scalar_step(g, g->nodes[mx].out[0], SK_OP_MUL, 0.5);
    if (h < 0 || sk_pass_uses(g, x, NULL) != 2)
        return 0;
    *m = (gelu_match){SK_GELU_ERF, {d, e, a, mx, h}, 5, h};
    return 1;
}

/* Tanh form from x: sq = x*x, cube = x*sq, k = 0.044715*cube, s = x + k,
 * u = 0.7978845608*s, Tanh, Add 1, Mul x, Mul 0.5; x read five times. */
static int match_gelu_tanh(const sk_graph *g, int x, gelu_match *m)
{
    int sq = -1;
    for (int ni = 0; ni < g->nnodes && sq < 0; ni++)
        if (g->nodes[ni].op == SK_OP_MUL && g->nodes[ni].nin == 2 && g->nodes[ni].in[0] == x &&
            g->nodes[ni].in[1] == x)
            sq = ni;
    int cube = sq < 0 ? -1 : pair_step(g, g->nodes[sq].out[0], SK_OP_MUL, x);
    int k = cube < 0 ? -1 : scalar_step(g, g->nodes[cube].out[0], SK_OP_MUL, 0.044715);
    int s = k < 0 ? -1 : pair_step(g, g->nodes[k].out[0], SK_OP_ADD, x);
    int u = s < 0 ? -1 : scalar_step(g, g->nodes[s].out[0], SK_OP_MUL, 0.7978845608028654);
    int t = u < 0 ? -1 : sk_pass_sole_reader(g, g->nodes[u].out[0], SK_OP_TANH);
    int a = t < 0 ? -1 : scalar_step(g, g->nodes[t].out[0], SK_OP_ADD, 1.0);
    int mx = a < 0 ? -1 : pair_step(g, g->nodes[a].out[0], SK_OP_MUL, x);
    int h = mx < 0 ? -1 : scalar_step(g, g->nodes[mx].out[0], SK_OP_MUL, 0.5);
    if (h < 0 || sk_pass_uses(g, x, NULL) != 5)
        return 0;
    *m = (gelu_match){SK_GELU_TANH, {sq, cube, k, s, u, t, a, mx, h}, 9, h};
    return 1;
}

static int fuse_gelu(sk_pass *p, int fi)
{
    sk_graph *g = p->g;
    int x = g->nodes[fi].out[0], rc;
    gelu_match m;
    if (sk_pass_is_output(g, x) || (!match_gelu_erf(g, x, &m) && !match_gelu_tanh(g, x, &m)))
        return 0;
    int y = g->nodes[m.last].out[0];
    if ((rc = sk_node_set_int(g, fi, "gelu", m.kind)) < 0 ||
        (rc = sk_node_set_string(g, fi, "activation",
                                 m.kind == SK_GELU_TANH ? "GeluTanh" : "Gelu")) < 0 ||
        (rc = sk_pass_append_name(g, fi, m.kind == SK_GELU_TANH ? "gelu_tanh" : "gelu")) < 0)
        return rc;
    for (int i = 0; i < m.count; i++)
        if ((rc = sk_pass_kill(p, m.nodes[i])) < 0)
            return rc;
    g->nodes[fi].out[0] = y;
    p->nact++;
    return 1;
}

/* Add(Y, bias) with bias a float32 constant of N values whose other dims
 * are 1 and whose rank is at most Y's (so the Add does not grow Y). */
static int fuse_bias(sk_pass *p, int fi, int ai)
{
    sk_graph *g = p->g;
    int y = g->nodes[fi].out[0];
    int b = other_in(&g->nodes[ai], y);
    int64_t N = g->values[g->nodes[fi].in[1]].shape.dim[1];
    if (b < 0 || b == y || !is_f32_const(g, b) || !g->values[b].data)
        return 0;
    const sk_shape *bs = &g->values[b].shape;
    if (sk_shape_numel(bs) != N || (bs->rank > 0 && bs->dim[bs->rank - 1] != N))
        return 0;
    for (int i = 0; i < 2; i++)
        if (p->shape[i][y].rank < 1 || bs->rank > p->shape[i][y].rank)
            return 0;
    int ya = g->nodes[ai].out[0], rc;
    if ((rc = sk_node_set_input(g, fi, 2, b)) < 0 ||
        (rc = sk_pass_append_name(g, fi, g->nodes[ai].name)) < 0 || (rc = sk_pass_kill(p, ai)) < 0)
        return rc;
    g->nodes[fi].out[0] = ya;
    return 1;
}

int sk_pass_matmul_eligible(const sk_graph *g, const sk_node *n)
{
    static int off = -1;
    if (off < 0) {
        const char *e = getenv("SKIPSERVE_FUSE_MATMUL");
        off = e && strcmp(e, "0") == 0;
    }
    if (off || n->nin != 2 || n->nout != 1 || n->out[0] < 0 || n->in[0] < 0)
        return 0;
    if (!is_f32_const(g, n->in[1]) || !g->values[n->in[1]].data || sk_pass_is_const(g, n->in[0]))
        return 0;
    const sk_shape *ws = &g->values[n->in[1]].shape;
    return ws->rank == 2 && ws->dim[0] >= 1 && ws->dim[1] >= 1 && ws->dim[0] <= (1 << 30) &&
           ws->dim[1] <= (1 << 30);
}

int sk_pass_fuse_matmul(sk_pass *p, int mi)
{
    sk_graph *g = p->g;
    int rc, ai;
    if ((ai = sk_pass_sole_reader(g, g->nodes[mi].out[0], SK_OP_ADD)) >= 0 &&
        (rc = fuse_bias(p, mi, ai)) < 0)
        return rc;
    if ((ai = sk_pass_sole_reader(g, g->nodes[mi].out[0], SK_OP_ADD)) >= 0 &&
        (rc = sk_pass_fuse_add(p, mi, ai)) < 0)
        return rc;
    if ((rc = fuse_gelu(p, mi)) < 0)
        return rc;
    if (rc == 0 && (rc = sk_pass_fuse_act(p, mi)) < 0)
        return rc;
    g->nodes[mi].op = SK_OP_MATMUL_FUSED;
    p->nfused++;
    return 0;
}
