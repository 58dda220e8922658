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
