/* qgraph_testutil.h — helpers shared by the tests that build a small int8
 * graph, optimize it and run it through a plan (test_qint8_ops.c,
 * test_qconv_dequant.c, test_qgemm_dequant.c, test_qconvt_nhwc.c, test_qconv.c,
 * test_qdwconv.c, ...): the xorshift generator, value lookup, constants and
 * rank-4 inputs, op counts, a one-input run and the float-graph check of a
 * QDQ head's integer expectation.
 * Include after cmocka.h; define QT_RNG_SEED first for another sequence. */
#ifndef QGRAPH_TESTUTIL_H
#define QGRAPH_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/plan.h"
#include "cpu.h"
#include "threadpool.h"

#ifndef QT_RNG_SEED
#define QT_RNG_SEED 0x9e3779b97f4a7c15ull
#endif
static uint64_t rng = QT_RNG_SEED; /* tests may reset it between builds */
static inline uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 20);
}
static inline int irand(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static inline float frand(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rnd() % 100001) / 1e5f;
}

static inline int val(sk_graph *g, const char *name)
{
    int id = sk_graph_value(g, name);
    assert_true(id >= 0);
    return id;
}

/* a constant value of dt with dims (rank <= 8) and data */
static inline void cst(sk_graph *g, const char *name, sk_dtype dt, int rank, const int64_t *dims,
                       const void *data)
{
    sk_shape s;
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.dim[i] = dims[i];
    assert_true(sk_graph_add_const(g, name, dt, &s, data) >= 0);
}

/* value name as a graph input of dt and the rank-4 shape dims */
static inline void input(sk_graph *g, const char *name, sk_dtype dt, const int64_t *dims)
{
    int id = val(g, name);
    g->values[id].dtype = dt;
    g->values[id].shape.rank = 4;
    for (int i = 0; i < 4; i++)
        g->values[id].shape.dim[i] = dims[i];
    sk_graph_add_input(g, id);
}

/* One QLinearConv over graph input "x" (+ a QLinearAdd with graph input "r"
 * first, as torchvision's "out += identity" exports): weights with the
 * extremes 127 / -128 often (-128 * 255 products), per-channel or
 * per-tensor scales, an optional bias and nonzero weight zero point (which
 * the engine must refuse to pack), zero points drawn from rnd(). Returns the
 * value the node chain ends in (the Add's output with add). The tests of
 * the int8 convs (test_qconv.c, test_qdwconv.c) build their graphs on it. */
typedef struct qt_qconv {
    int C, M, group, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, OH, OW;
    int x_s8, per_channel, bias, add, wzp_nonzero;
    float ys_min, ys_step; /* y's scale: ys_min + (rnd() % 100) * ys_step */
    /* NULL, or called on the drawn weights [M][C/group][kh][kw] (dims wd)
     * before they become the constant: a test's own weight sets */
    void (*edit_w)(int8_t *w, const int64_t *wd);
} qt_qconv;

static inline int qt_add_qconv(sk_graph *g, const qt_qconv *c)
{
    sk_dtype xt = c->x_s8 ? SK_I8 : SK_U8;
    int64_t xd[4] = {SK_DIM_SYMBOLIC, c->C, c->H, c->W};
    int64_t yd[4] = {SK_DIM_SYMBOLIC, c->M, c->OH, c->OW};
    input(g, "x", xt, xd);
    if (c->add)
        input(g, "r", xt, yd);
    int64_t wd[4] = {c->M, c->C / c->group, c->kh, c->kw}, one[1] = {1}, md[1] = {c->M};
    size_t wn = (size_t)(wd[0] * wd[1] * wd[2] * wd[3]);
    int8_t *w = malloc(wn);
    float *ws = malloc(sizeof(float) * (size_t)c->M);
    int8_t *wz = calloc((size_t)c->M, 1);
    int32_t *b = malloc(sizeof(int32_t) * (size_t)c->M);
    assert_true(w && ws && wz && b);
    for (size_t i = 0; i < wn; i++)
        w[i] = (int8_t)(rnd() % 4 == 0 ? (rnd() & 1 ? 127 : -128) : (int)(rnd() % 256) - 128);
    if (c->edit_w)
        c->edit_w(w, wd);
    cst(g, "w", SK_I8, 4, wd, w);
    float xs = 0.02f, ys = c->ys_min + (float)(rnd() % 100) * c->ys_step, rs = 0.03f, cs = 0.07f;
    for (int m = 0; m < c->M; m++) {
        ws[m] = 0.001f + (float)(rnd() % 1000) * 1e-5f;
        b[m] = (int32_t)(rnd() % 40001) - 20000;
    }
    if (c->wzp_nonzero)
        wz[0] = 3;
    int nsc = c->per_channel ? 1 : 0;
    cst(g, "xs", SK_F32, 0, one, &xs);
    int32_t xzp_v = c->x_s8 ? irand(-20, 20) : irand(100, 150);
    int8_t xzp8 = (int8_t)xzp_v;
    uint8_t xzpu = (uint8_t)xzp_v;
    cst(g, "xz", xt, 0, one, c->x_s8 ? (void *)&xzp8 : (void *)&xzpu);
    cst(g, "ws", SK_F32, nsc, md, ws);
    cst(g, "wz", SK_I8, nsc, md, wz);
    cst(g, "ys", SK_F32, 0, one, &ys);
    int8_t yz8 = (int8_t)irand(-10, 10);
    uint8_t yzu = (uint8_t)irand(110, 140);
    cst(g, "yz", xt, 0, one, c->x_s8 ? (void *)&yz8 : (void *)&yzu);
    cst(g, "b", SK_I32, 1, md, b);
    free(w);
    free(ws);
    free(wz);
    free(b);
    int in[9] = {val(g, "x"), val(g, "xs"), val(g, "xz"), val(g, "w"), val(g, "ws"),
                 val(g, "wz"), val(g, "ys"), val(g, "yz"), c->bias ? val(g, "b") : -1};
    int y = val(g, "y");
    int ni = sk_graph_add_node(g, SK_OP_QLINEAR_CONV, "qconv", c->bias ? 9 : 8, in, 1, &y);
    int64_t st[2] = {c->sh, c->sw}, dl[2] = {c->dh, c->dw}, pads[4] = {c->pt, c->pl, c->pb, c->pr};
    sk_node_set_ints(g, ni, "strides", st, 2);
    sk_node_set_ints(g, ni, "dilations", dl, 2);
    sk_node_set_ints(g, ni, "pads", pads, 4);
    sk_node_set_int(g, ni, "group", c->group);
    if (!c->add)
        return y;
    cst(g, "rs", SK_F32, 0, one, &rs);
    cst(g, "cs", SK_F32, 0, one, &cs);
    int8_t rz8 = (int8_t)irand(-10, 10), cz8 = (int8_t)irand(-10, 10);
    uint8_t rzu = (uint8_t)irand(110, 140), czu = (uint8_t)irand(110, 140);
    cst(g, "rz", xt, 0, one, c->x_s8 ? (void *)&rz8 : (void *)&rzu);
    cst(g, "cz", xt, 0, one, c->x_s8 ? (void *)&cz8 : (void *)&czu);
    int ain[8] = {val(g, "r"), val(g, "rs"), val(g, "rz"), y, val(g, "ys"), val(g, "yz"),
                  val(g, "cs"), val(g, "cz")};
    int out = val(g, "out");
    sk_graph_add_node(g, SK_OP_QLINEAR_ADD, "qadd", 8, ain, 1, &out);
    return out;
}

static inline int count_op(const sk_graph *g, sk_op op)
{
    int k = 0;
    for (int i = 0; i < g->nnodes; i++)
        k += g->nodes[i].op == op;
    return k;
}

static inline const sk_node *find_op(const sk_graph *g, sk_op op)
{
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == op)
            return &g->nodes[i];
    return NULL;
}

/* Plan g for x's shape, run it on x, copy its one output (ny elements of
 * esize bytes, which must be the output's element size) into y. */
static inline void qt_run1(const sk_graph *g, sk_pool *pool, const sk_tensor *x, void *y,
                           size_t ny, size_t esize)
{
    char err[256];
    sk_plan *p;
    sk_tensor shape_only = *x; /* with data, the planner would fold the graph */
    shape_only.data = NULL;
    if (sk_plan_create(g, &shape_only, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *d[1] = {x->data};
    if (sk_plan_run(p, d, err, sizeof err))
        fail_msg("run: %s", err);
    const sk_tensor *o = sk_plan_output(p, 0);
    assert_int_equal(sk_dtype_size(o->dtype), esize);
    assert_int_equal((size_t)sk_shape_numel(&o->shape), ny);
    memcpy(y, o->data, ny * esize);
    sk_plan_free(p);
}
/* y's element type says the output's element size */
#define run1(g, pool, x, y, ny) qt_run1((g), (pool), (x), (y), (ny), sizeof *(y))

/* The QDQ head of gf (a graph as built, freed here) left in float
 * (SKIPSERVE_QDQ_HEAD=0, scalar level) must give the test's own integer
 * expectation want[] within tol[] — the float graph checks the expectation
 * before the expectation checks the kernels. got: ny floats of room. */
static inline void qt_check_float_head(sk_graph *gf, const sk_tensor *x, float *got,
                                       const float *want, const float *tol, size_t ny, int it)
{
    char err[256];
    setenv("SKIPSERVE_QDQ_HEAD", "0", 1);
    sk_cpu_set_level(SK_ISA_SCALAR);
    if (sk_graph_optimize(gf, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    assert_int_equal(count_op(gf, SK_OP_QCONV_DEQUANT), 0);
    run1(gf, NULL, x, got, ny);
    sk_graph_free(gf);
    unsetenv("SKIPSERVE_QDQ_HEAD");
    for (size_t i = 0; i < ny; i++)
        if (!(fabsf(got[i] - want[i]) <= tol[i]))
            fail_msg("case %d [%zu]: float graph %.9g, integer %.9g (tol %.3g)", it, i, got[i],
                     want[i], tol[i]);
}

#endif
