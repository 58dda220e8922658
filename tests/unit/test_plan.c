/* test_plan.c — planning: shape inference for any batch size, folding of
 * exporter shape sub-graphs, arena reuse by liveness, pinned inputs, and no
 * allocation during a run. Expected values are derived by hand from the
 * ops' definitions, not from the engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/plan.h"
#include "engine/threadpool.h"
#include "engine/kernels/switches.h"

#include "alloc_counter.h"

static int val(sk_graph *g, const char *name) { return sk_graph_value(g, name); }

static int add_node(sk_graph *g, sk_op op, const char *name, int nin, const char **ins,
                    const char *out)
{
    int in[8], o = val(g, out);
    for (int i = 0; i < nin; i++)
        in[i] = ins[i] ? val(g, ins[i]) : -1;
    return sk_graph_add_node(g, op, name, nin, in, 1, &o);
}

static void add_input(sk_graph *g, const char *name, sk_dtype dt, int rank, const int64_t *dims)
{
    int id = val(g, name);
    g->values[id].dtype = dt;
    g->values[id].shape.rank = rank;
    for (int i = 0; i < rank; i++)
        g->values[id].shape.dim[i] = dims[i];
    sk_graph_add_input(g, id);
}

static void add_i64(sk_graph *g, const char *name, int n, const int64_t *v, int rank)
{
    sk_shape s = {rank, {n}};
    assert_true(sk_graph_add_const(g, name, SK_I64, &s, v) >= 0);
}

/* x[N,3,4,4] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])):
 * what torch.flatten(x, 1) exports to with a dynamic batch. */
static sk_graph *flatten_graph(void)
{
    char err[256];
    sk_graph *g = sk_graph_new();
    int64_t dims[4] = {SK_DIM_SYMBOLIC, 3, 4, 4};
    add_input(g, "x", SK_F32, 4, dims);
    int64_t zero = 0, minus1 = -1, ax0 = 0;
    add_i64(g, "zero", 1, &zero, 0); /* scalar index */
    add_i64(g, "minus1", 1, &minus1, 1);
    add_i64(g, "axes0", 1, &ax0, 1);
    add_node(g, SK_OP_SHAPE, "shape", 1, (const char *[]){"x"}, "s");
    add_node(g, SK_OP_GATHER, "gather", 2, (const char *[]){"s", "zero"}, "n");
    add_node(g, SK_OP_UNSQUEEZE, "unsq", 2, (const char *[]){"n", "axes0"}, "n1");
    int c = add_node(g, SK_OP_CONCAT, "concat", 2, (const char *[]){"n1", "minus1"}, "newshape");
    sk_node_set_int(g, c, "axis", 0);
    add_node(g, SK_OP_RESHAPE, "reshape", 2, (const char *[]){"x", "newshape"}, "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    return g;
}

static void test_shape_subgraph_folds_for_any_batch(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = flatten_graph();
    for (int64_t n = 1; n <= 5; n += 4) {
        sk_tensor in = {SK_F32, {4, {n, 3, 4, 4}}, NULL};
        sk_plan *p;
        int rc = sk_plan_create(g, &in, NULL, &p, err, sizeof err);
        assert_int_equal(rc, 0);
        /* Shape, Gather, Unsqueeze and Concat were computed at plan time */
        assert_int_equal(sk_plan_nsteps(p), 1);
        const sk_tensor *y = sk_plan_output(p, 0);
        assert_int_equal(y->shape.rank, 2);
        assert_int_equal(y->shape.dim[0], n);
        assert_int_equal(y->shape.dim[1], 48);
        float *x = malloc(sizeof(float) * (size_t)(n * 48));
        for (int i = 0; i < n * 48; i++)
            x[i] = (float)i * 0.5f - 3.0f;
        const void *ins[1] = {x};
        assert_int_equal(sk_plan_run(p, ins, err, sizeof err), 0);
        /* a reshape keeps the row-major bytes */
        assert_memory_equal(y->data, x, sizeof(float) * (size_t)(n * 48));
        free(x);
        sk_plan_free(p);
    }
    sk_graph_free(g);
}

static void test_input_shape_checked(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = flatten_graph();
    sk_tensor in = {SK_F32, {4, {2, 3, 5, 4}}, NULL}; /* H should be 4 */
    sk_plan *p = NULL;
    assert_int_equal(sk_plan_create(g, &in, NULL, &p, err, sizeof err), SK_ESHAPE);
    assert_null(p);
    assert_non_null(strstr(err, "expects [N,3,4,4]"));
    sk_tensor wrong_type = {SK_I64, {4, {2, 3, 4, 4}}, NULL};
    assert_int_equal(sk_plan_create(g, &wrong_type, NULL, &p, err, sizeof err), SK_ESHAPE);
    sk_graph_free(g);
}

/* a = relu(x); b = relu(a); c = relu(b); ... ; y = a + last: the residual `a`
 * must stay live across the chain while the chain's buffers are reused. */
static void test_arena_reuses_dead_buffers(void **state)
{
    (void)state;
    char err[256];
    enum { LEN = 1000, CHAIN = 8 };
    sk_graph *g = sk_graph_new();
    int64_t dims[2] = {1, LEN};
    add_input(g, "x", SK_F32, 2, dims);
    add_node(g, SK_OP_NEG, "neg", 1, (const char *[]){"x"}, "v0");
    char a[16], b[16];
    for (int i = 0; i < CHAIN; i++) {
        snprintf(a, sizeof a, "v%d", i);
        snprintf(b, sizeof b, "v%d", i + 1);
        add_node(g, SK_OP_RELU, b, 1, (const char *[]){a}, b);
    }
    snprintf(b, sizeof b, "v%d", CHAIN);
    add_node(g, SK_OP_ADD, "skip", 2, (const char *[]){"v0", b}, "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);

    sk_tensor in = {SK_F32, {2, {1, LEN}}, NULL};
    sk_plan *p;
    assert_int_equal(sk_plan_create(g, &in, NULL, &p, err, sizeof err), 0);
    assert_int_equal(sk_plan_nsteps(p), CHAIN + 2);
    size_t one = (LEN * 4 + 63) / 64 * 64;
    /* v0 lives to the end; the Relu chain and the final Add run in place in
     * one buffer, which reuses x's once Neg has read it: 2 buffers, not
     * one per value (11) */
    assert_int_equal(sk_plan_arena_bytes(p), 2 * one);

    float x[LEN];
    for (int i = 0; i < LEN; i++)
        x[i] = (float)(i % 7) - 3.0f;
    const void *ins[1] = {x};
    assert_int_equal(sk_plan_run(p, ins, err, sizeof err), 0);
    const float *y = sk_plan_output(p, 0)->data;
    for (int i = 0; i < LEN; i++) {
        float v0 = -x[i], r = v0 > 0 ? v0 : 0; /* relu chain = one relu */
        assert_true(y[i] == v0 + r);
    }
#ifdef HAVE_COUNTER
    nallocs = 0;
    counting = 1;
    int rc = sk_plan_run(p, ins, err, sizeof err);
    counting = 0;
    assert_int_equal(rc, 0);
    assert_int_equal(nallocs, 0); /* no malloc on the hot path */
#endif
    sk_plan_free(p);
    sk_graph_free(g);
}

/* The graph input's copy into the arena (session 21 x2t: on the Intel
 * AVX-512 config, inputs of 256 KB and up are copied by every pool thread,
 * a slice of whole 64-byte lines each, the last slice to the odd end):
 * x of 100003 floats (not a whole number of lines) through Neg on 1, 2, 3
 * and 16 threads, the parallel copy on and off (SKIPSERVE_INPUT_PCOPY=0):
 * every y[i] is -x[i], run after run with a different x each time. */
static void test_input_copied_by_pool(void **state)
{
    (void)state;
    char err[256];
    enum { LEN = 100003 };
    sk_graph *g = sk_graph_new();
    int64_t dims[2] = {1, LEN};
    add_input(g, "x", SK_F32, 2, dims);
    add_node(g, SK_OP_NEG, "neg", 1, (const char *[]){"x"}, "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    float *x = malloc(sizeof(float) * LEN);
    assert_non_null(x);
    sk_pool *pools[4] = {NULL, sk_pool_create(2), sk_pool_create(3), sk_pool_create(16)};
    for (int t = 0; t < 4; t++)
        for (int off = 0; off < 2; off++) {
            if (off)
                setenv("SKIPSERVE_INPUT_PCOPY", "0", 1);
            sk_switches_reload();
            sk_tensor in = {SK_F32, {2, {1, LEN}}, NULL};
            sk_plan *p;
            assert_int_equal(sk_plan_create(g, &in, pools[t], &p, err, sizeof err), 0);
            for (int r = 0; r < 3; r++) {
                for (int i = 0; i < LEN; i++)
                    x[i] = (float)((i * 7 + r * 13 + t) % 101) - 50.0f;
                const void *ins[1] = {x};
                assert_int_equal(sk_plan_run(p, ins, err, sizeof err), 0);
                const float *y = sk_plan_output(p, 0)->data;
                for (int i = 0; i < LEN; i++)
                    if (y[i] != -x[i])
                        fail_msg("threads %d copy %s run %d: y[%d] %g, x %g", sk_pool_size(pools[t]),
                                 off ? "off" : "on", r, i, y[i], x[i]);
            }
            sk_plan_free(p);
            unsetenv("SKIPSERVE_INPUT_PCOPY");
            sk_switches_reload();
        }
    for (int t = 1; t < 4; t++)
        sk_pool_destroy(pools[t]);
    free(x);
    sk_graph_free(g);
}

/* The profiler: off, runs count nothing; on, every step is timed and the
 * dump lists each step once with the run count, and a profiled run still
 * allocates nothing. */
static void test_profile(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    int64_t dims[2] = {1, 4096};
    add_input(g, "x", SK_F32, 2, dims);
    add_node(g, SK_OP_NEG, "neg", 1, (const char *[]){"x"}, "a");
    add_node(g, SK_OP_SIGMOID, "sig", 1, (const char *[]){"a"}, "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    sk_tensor in = {SK_F32, {2, {1, 4096}}, NULL};
    sk_plan *p;
    assert_int_equal(sk_plan_create(g, &in, NULL, &p, err, sizeof err), 0);
    static float x[4096];
    const void *ins[1] = {x};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sk_plan_profile_dump(p, f, 10, NULL); /* never enabled: prints nothing */
    fflush(f);
    assert_int_equal(len, 0);
    assert_int_equal(sk_plan_profile(p, 1), 0);
    for (int r = 0; r < 3; r++) {
#ifdef HAVE_COUNTER
        nallocs = 0;
        counting = 1;
#endif
        assert_int_equal(sk_plan_run(p, ins, err, sizeof err), 0);
#ifdef HAVE_COUNTER
        counting = 0;
        assert_int_equal(nallocs, 0);
#endif
    }
    sk_plan_profile_dump(p, f, 10, NULL);
    fclose(f);
    assert_non_null(strstr(buf, "profile: 3 runs"));
    assert_non_null(strstr(buf, " Neg "));
    assert_non_null(strstr(buf, " Sigmoid "));
    free(buf);
    assert_int_equal(sk_plan_profile(p, 0), 0);
    sk_plan_free(p);
    sk_graph_free(g);
}

/* Reshape whose target shape is a runtime input: planning needs the value;
 * pinning the input makes it a constant. */
static void test_value_dependent_shape_needs_pinning(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    int64_t xd[2] = {2, 6}, sd[1] = {2};
    add_input(g, "x", SK_F32, 2, xd);
    add_input(g, "shape", SK_I64, 1, sd);
    add_node(g, SK_OP_RESHAPE, "r", 2, (const char *[]){"x", "shape"}, "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    sk_tensor ins[2] = {{SK_F32, {2, {2, 6}}, NULL}, {SK_I64, {1, {2}}, NULL}};
    sk_plan *p = NULL;
    assert_int_equal(sk_plan_create(g, ins, NULL, &p, err, sizeof err), SK_ENEEDVALUE);
    int64_t target[2] = {3, 4};
    ins[1].data = target;
    assert_int_equal(sk_plan_create(g, ins, NULL, &p, err, sizeof err), 0);
    assert_int_equal(sk_plan_output(p, 0)->shape.dim[0], 3);
    assert_int_equal(sk_plan_output(p, 0)->shape.dim[1], 4);
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    const void *data[2] = {x, NULL};
    assert_int_equal(sk_plan_run(p, data, err, sizeof err), 0);
    assert_memory_equal(sk_plan_output(p, 0)->data, x, sizeof x);
    sk_plan_free(p);
    sk_graph_free(g);
}

/* Two plans of one graph run independently (weights shared read-only). */
static void test_two_plans_share_weights(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    int64_t xd[2] = {SK_DIM_SYMBOLIC, 3};
    add_input(g, "x", SK_F32, 2, xd);
    float w[3] = {1.0f, -2.0f, 0.5f};
    sk_shape ws = {1, {3}};
    sk_graph_add_const(g, "w", SK_F32, &ws, w);
    add_node(g, SK_OP_MUL, "mul", 2, (const char *[]){"x", "w"}, "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    sk_tensor i1 = {SK_F32, {2, {1, 3}}, NULL}, i2 = {SK_F32, {2, {2, 3}}, NULL};
    sk_plan *p1, *p2;
    assert_int_equal(sk_plan_create(g, &i1, NULL, &p1, err, sizeof err), 0);
    assert_int_equal(sk_plan_create(g, &i2, NULL, &p2, err, sizeof err), 0);
    float x1[3] = {1, 1, 1}, x2[6] = {2, 2, 2, -1, -1, -1};
    const void *d1[1] = {x1}, *d2[1] = {x2};
    assert_int_equal(sk_plan_run(p2, d2, err, sizeof err), 0);
    assert_int_equal(sk_plan_run(p1, d1, err, sizeof err), 0);
    const float *y1 = sk_plan_output(p1, 0)->data, *y2 = sk_plan_output(p2, 0)->data;
    assert_true(y1[1] == -2.0f && y1[2] == 0.5f);
    assert_true(y2[0] == 2.0f && y2[4] == 2.0f && y2[5] == -0.5f);
    sk_plan_free(p1);
    sk_plan_free(p2);
    sk_graph_free(g);
}

/* ---- hostile graphs: shapes and attributes straight from a model file ---- */

/* Plan g with one runtime float input of `shape`; returns the status and
 * frees the plan, which must not exist on failure. */
static int plan_status(sk_graph *g, const sk_shape *shape, char *err, size_t errlen)
{
    sk_tensor in = {SK_F32, *shape, NULL};
    sk_plan *p = (sk_plan *)1;
    assert_int_equal(sk_graph_validate(g, err, errlen), 0);
    int rc = sk_plan_create(g, &in, NULL, &p, err, errlen);
    if (rc < 0)
        assert_null(p);
    sk_plan_free(p);
    return rc;
}

/* ConstantOfShape folds at plan time: 2^40 floats (4 TiB) are refused before
 * any allocation; an empty shape hiding 2^80 elements is refused as a shape. */
static void test_hostile_constant_of_shape(void **state)
{
    (void)state;
    char err[256];
    int64_t xd[1] = {1};
    const int64_t dims[2][3] = {{(int64_t)1 << 20, (int64_t)1 << 20, 1},
                                {0, (int64_t)1 << 40, (int64_t)1 << 40}};
    const int want[2] = {SK_ENOMEM, SK_ESHAPE};
    for (int c = 0; c < 2; c++) {
        sk_graph *g = sk_graph_new();
        add_input(g, "x", SK_F32, 1, xd);
        add_i64(g, "shape", 3, dims[c], 1);
        add_node(g, SK_OP_CONSTANT_OF_SHAPE, "cos", 1, (const char *[]){"shape"}, "c");
        add_node(g, SK_OP_FLATTEN, "flat", 1, (const char *[]){"c"}, "f");
        add_node(g, SK_OP_ADD, "add", 2, (const char *[]){"f", "x"}, "y");
        sk_graph_add_output(g, val(g, "y"));
        sk_shape s = {1, {1}};
        assert_int_equal(plan_status(g, &s, err, sizeof err), want[c]);
        assert_non_null(strstr(err, c == 0 ? "more than this machine's" : "too large"));
        sk_graph_free(g);
    }
}

/* Expand of a runtime input to 2^39 elements: the arena (2 TiB) is refused. */
static void test_hostile_expand_arena(void **state)
{
    (void)state;
    char err[256];
    int64_t xd[1] = {1}, target[2] = {(int64_t)1 << 20, (int64_t)1 << 19};
    sk_graph *g = sk_graph_new();
    add_input(g, "x", SK_F32, 1, xd);
    add_i64(g, "shape", 2, target, 1);
    add_node(g, SK_OP_EXPAND, "expand", 2, (const char *[]){"x", "shape"}, "y");
    sk_graph_add_output(g, val(g, "y"));
    sk_shape s = {1, {1}};
    assert_int_equal(plan_status(g, &s, err, sizeof err), SK_ENOMEM);
    assert_non_null(strstr(err, "more than this machine's"));
    sk_graph_free(g);
}

/* Slice steps of INT64_MAX / INT64_MIN take one element (numpy: x[0::big]
 * is x[0], x[4::-big] is x[4]); step 0 is refused. */
static void test_hostile_slice_steps(void **state)
{
    (void)state;
    char err[256];
    const int64_t starts[3] = {0, 4, 0}, ends[3] = {5, INT64_MIN, 5};
    const int64_t steps[3] = {INT64_MAX, INT64_MIN, 0};
    const float want[2] = {10.0f, 14.0f};
    for (int c = 0; c < 3; c++) {
        int64_t xd[1] = {5};
        sk_graph *g = sk_graph_new();
        add_input(g, "x", SK_F32, 1, xd);
        add_i64(g, "starts", 1, &starts[c], 1);
        add_i64(g, "ends", 1, &ends[c], 1);
        add_i64(g, "steps", 1, &steps[c], 1);
        add_node(g, SK_OP_SLICE, "slice", 5,
                 (const char *[]){"x", "starts", "ends", NULL, "steps"}, "y");
        sk_graph_add_output(g, val(g, "y"));
        assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        sk_tensor in = {SK_F32, {1, {5}}, NULL};
        sk_plan *p = NULL;
        int rc = sk_plan_create(g, &in, NULL, &p, err, sizeof err);
        if (c == 2) {
            assert_int_equal(rc, SK_EINVAL);
            assert_non_null(strstr(err, "step on axis 0 is 0"));
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(sk_plan_output(p, 0)->shape.dim[0], 1);
            float x[5] = {10, 11, 12, 13, 14};
            const void *d[1] = {x};
            assert_int_equal(sk_plan_run(p, d, err, sizeof err), 0);
            assert_true(((const float *)sk_plan_output(p, 0)->data)[0] == want[c]);
        }
        sk_plan_free(p);
        sk_graph_free(g);
    }
}

/* Gather indices only known at run time: an index out of range fails the
 * run with a message instead of reading outside the data. */
static void test_hostile_gather_index_at_run(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    float data[3] = {1, 2, 3};
    sk_shape ds = {1, {3}};
    sk_graph_add_const(g, "data", SK_F32, &ds, data);
    int64_t id[1] = {2};
    add_input(g, "idx", SK_I64, 1, id);
    add_node(g, SK_OP_GATHER, "gather", 2, (const char *[]){"data", "idx"}, "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    sk_tensor in = {SK_I64, {1, {2}}, NULL};
    sk_plan *p = NULL;
    assert_int_equal(sk_plan_create(g, &in, NULL, &p, err, sizeof err), 0);
    const int64_t bad[3][2] = {{0, 3}, {-4, 0}, {INT64_MIN, 0}};
    for (int c = 0; c < 3; c++) {
        const void *d[1] = {bad[c]};
        assert_int_equal(sk_plan_run(p, d, err, sizeof err), SK_EINVAL);
        assert_non_null(strstr(err, "out of range"));
    }
    const int64_t good[2] = {-1, 0};
    const void *d[1] = {good};
    assert_int_equal(sk_plan_run(p, d, err, sizeof err), 0);
    const float *y = sk_plan_output(p, 0)->data;
    assert_true(y[0] == 3.0f && y[1] == 1.0f);
    sk_plan_free(p);
    sk_graph_free(g);
}

/* Attribute values that used to overflow int64 arithmetic (UBSan) or index
 * outside a buffer (ASan): each is refused, or computed, cleanly. */
static void test_hostile_attributes(void **state)
{
    (void)state;
    char err[256];
    /* Conv group 2^62 + 1 with Cg 4: Cg * group wraps to 4 = C */
    {
        sk_graph *g = sk_graph_new();
        int64_t xd[4] = {1, 4, 3, 3};
        add_input(g, "x", SK_F32, 4, xd);
        float w[4 * 4] = {0};
        sk_shape ws = {4, {4, 4, 1, 1}};
        sk_graph_add_const(g, "w", SK_F32, &ws, w);
        int c = add_node(g, SK_OP_CONV, "conv", 2, (const char *[]){"x", "w"}, "y");
        sk_node_set_int(g, c, "group", ((int64_t)1 << 62) + 1);
        sk_graph_add_output(g, val(g, "y"));
        sk_shape s = {4, {1, 4, 3, 3}};
        assert_int_equal(plan_status(g, &s, err, sizeof err), SK_ESHAPE);
        assert_non_null(strstr(err, "more than X"));
        sk_graph_free(g);
    }
    /* Split sizes that sum to the dim only by wrapping */
    {
        sk_graph *g = sk_graph_new();
        int64_t xd[1] = {2}, split[3] = {INT64_MAX, INT64_MAX, 4};
        add_input(g, "x", SK_F32, 1, xd);
        add_i64(g, "split", 3, split, 1);
        int in[2] = {val(g, "x"), val(g, "split")};
        int out[3] = {val(g, "a"), val(g, "b"), val(g, "c")};
        sk_graph_add_node(g, SK_OP_SPLIT, "split", 2, in, 3, out);
        sk_graph_add_output(g, out[0]);
        sk_shape s = {1, {2}};
        assert_int_equal(plan_status(g, &s, err, sizeof err), SK_ESHAPE);
        assert_non_null(strstr(err, "does not fit the dim"));
        sk_graph_free(g);
    }
    /* Resize tf_crop_and_resize, linear, with a NaN / infinite roi: every
     * coordinate is outside the crop -> extrapolation_value */
    for (int c = 0; c < 2; c++) {
        sk_graph *g = sk_graph_new();
        int64_t xd[4] = {1, 1, 1, 4}, sizes[4] = {1, 1, 1, 3};
        add_input(g, "x", SK_F32, 4, xd);
        float roi[8];
        for (int i = 0; i < 8; i++)
            roi[i] = c == 0 ? NAN : (i < 4 ? -INFINITY : INFINITY);
        sk_shape rs = {1, {8}};
        sk_graph_add_const(g, "roi", SK_F32, &rs, roi);
        add_i64(g, "sizes", 4, sizes, 1);
        int r = add_node(g, SK_OP_RESIZE, "resize", 4,
                         (const char *[]){"x", "roi", NULL, "sizes"}, "y");
        sk_node_set_string(g, r, "mode", "linear");
        sk_node_set_string(g, r, "coordinate_transformation_mode", "tf_crop_and_resize");
        sk_node_set_float(g, r, "extrapolation_value", 7.0f);
        sk_graph_add_output(g, val(g, "y"));
        assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        sk_tensor in = {SK_F32, {4, {1, 1, 1, 4}}, NULL};
        sk_plan *p = NULL;
        assert_int_equal(sk_plan_create(g, &in, NULL, &p, err, sizeof err), 0);
        float x[4] = {1, 2, 3, 4};
        const void *d[1] = {x};
        assert_int_equal(sk_plan_run(p, d, err, sizeof err), 0);
        const float *y = sk_plan_output(p, 0)->data;
        for (int i = 0; i < 3; i++)
            assert_true(y[i] == 7.0f);
        sk_plan_free(p);
        sk_graph_free(g);
    }
}


/* VmFlags of the mapping holding p, from /proc/self/smaps ("" if none). */
static void vm_flags_of(const void *p, char *flags, size_t len)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int inside = 0;
    flags[0] = 0;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, len, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

/* Big blocks (packed weights, arenas) start on 2 MiB and carry the
 * huge-page advice ("hg" in VmFlags) where the kernel has THP; small ones
 * stay 64-byte aligned; SKIPSERVE_HUGEPAGES=0 still allocates. */
static void test_big_blocks_ask_for_huge_pages(void **state)
{
    (void)state;
    const size_t big = ((size_t)4 << 20) + 100;
    float *small = sk_alloc(1000);
    assert_non_null(small);
    assert_int_equal((uintptr_t)small % 64, 0);
    sk_free(small);
    unsetenv("SKIPSERVE_HUGEPAGES");
    char *b = sk_alloc(big);
    assert_non_null(b);
    assert_int_equal((uintptr_t)b % ((size_t)2 << 20), 0);
    memset(b, 1, big); /* usable to the last byte */
    char thp[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        if (!fgets(thp, sizeof thp, f))
            thp[0] = 0;
        fclose(f);
    }
    if (thp[0] && !strstr(thp, "[never]")) {
        char flags[512];
        vm_flags_of(b, flags, sizeof flags);
        assert_non_null(strstr(flags, " hg"));
    }
    sk_free(b);
    setenv("SKIPSERVE_HUGEPAGES", "0", 1);
    b = sk_alloc(big);
    assert_non_null(b);
    assert_int_equal((uintptr_t)b % 64, 0);
    memset(b, 2, big);
    sk_free(b);
    unsetenv("SKIPSERVE_HUGEPAGES");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_subgraph_folds_for_any_batch),
        cmocka_unit_test(test_input_shape_checked),
        cmocka_unit_test(test_arena_reuses_dead_buffers),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_value_dependent_shape_needs_pinning),
        cmocka_unit_test(test_two_plans_share_weights),
        cmocka_unit_test(test_hostile_constant_of_shape),
        cmocka_unit_test(test_hostile_expand_arena),
        cmocka_unit_test(test_hostile_slice_steps),
        cmocka_unit_test(test_hostile_gather_index_at_run),
        cmocka_unit_test(test_hostile_attributes),
        cmocka_unit_test(test_big_blocks_ask_for_huge_pages),
        cmocka_unit_test(test_input_copied_by_pool),
    };
    return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
