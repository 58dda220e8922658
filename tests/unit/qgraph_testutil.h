/* qgraph_testutil.h — helpers shared by the tests that build a small int8
 * graph, optimize it and run it through a plan (test_qint8_ops.c,
 * test_qconv_dequant.c, test_qgemm_dequant.c, test_qconvt_nhwc.c): the
 * xorshift generator, value lookup, op counts and a one-input run.
 * Include after cmocka.h; define QT_RNG_SEED first for another sequence. */
#ifndef QGRAPH_TESTUTIL_H
#define QGRAPH_TESTUTIL_H

#include <stdint.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/plan.h"
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

#endif
