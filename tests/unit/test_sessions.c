/* test_sessions.c — several plans (sessions) of one optimized graph run at
 * once on one pool, as the server's batchers do: the packed weights are
 * shared read-only, each plan has its own arena and scratch, and the pool
 * runs one caller's parallel_for at a time (a second caller runs its range
 * on its own thread). Every concurrent run must give the same bits as the
 * same plan run alone — a kernel that wrote into shared load-time state, or
 * a scratch buffer shared between plans, fails this.
 *
 * The graphs are the repository's two default models (a ResNet classifier
 * and a U-Net segmenter: GEMM, Winograd, pixel-rows, ConvTranspose,
 * Concat, pooling, the heads), at the SIMD level of the CPU and at the
 * scalar level, each at batch 1 and batch 3. Run from the repository root (make test-unit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "engine/graph.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "loaders/onnx.h"
#include "threadpool.h"

/* runs per session: the reference kernels are slow */
static int rounds = 20;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)((rng >> 20) % 200001) / 100000.0 - 1.0);
}

typedef struct session {
    sk_plan *plan;
    float *in;          /* the input, owned */
    float **ref;        /* each output of the plan run alone, owned */
    size_t *ref_bytes;
    int nout;
    int mismatches, errors;
} session;

static sk_graph *load(const char *path)
{
    char err[256];
    sk_graph *g = NULL;
    if (sk_onnx_load(path, &g, err, sizeof err))
        fail_msg("load %s: %s", path, err);
    if (sk_graph_optimize(g, 1, err, sizeof err))
        fail_msg("optimize %s: %s", path, err);
    return g;
}

/* A plan of g at `batch` (other unknown dims 64), random input, and its
 * outputs when run alone. */
static void session_init(session *s, const sk_graph *g, int batch, sk_pool *pool)
{
    char err[256];
    memset(s, 0, sizeof *s);
    assert_int_equal(g->ninputs, 1);
    sk_tensor in = {0};
    const sk_value *v = &g->values[g->inputs[0]];
    in.dtype = v->dtype;
    in.shape = v->shape;
    for (int d = 1; d < in.shape.rank; d++)
        if (in.shape.dim[d] < 0)
            in.shape.dim[d] = 64;
    in.shape.dim[0] = batch;
    assert_int_equal(in.dtype, SK_F32);
    if (sk_plan_create(g, &in, pool, &s->plan, err, sizeof err))
        fail_msg("plan: %s", err);
    size_t n = (size_t)sk_shape_numel(&in.shape);
    s->in = malloc(n * sizeof(float));
    assert_non_null(s->in);
    for (size_t i = 0; i < n; i++)
        s->in[i] = frand();
    const void *d[1] = {s->in};
    if (sk_plan_run(s->plan, d, err, sizeof err))
        fail_msg("run: %s", err);
    s->nout = sk_plan_noutputs(s->plan);
    assert_true(s->nout > 0);
    s->ref = calloc((size_t)s->nout, sizeof *s->ref);
    s->ref_bytes = calloc((size_t)s->nout, sizeof *s->ref_bytes);
    assert_non_null(s->ref);
    assert_non_null(s->ref_bytes);
    for (int o = 0; o < s->nout; o++) {
        const sk_tensor *t = sk_plan_output(s->plan, o);
        s->ref_bytes[o] = sk_tensor_bytes(t);
        assert_true(s->ref_bytes[o] > 0);
        s->ref[o] = malloc(s->ref_bytes[o]);
        assert_non_null(s->ref[o]);
        memcpy(s->ref[o], t->data, s->ref_bytes[o]);
    }
}

static void session_free(session *s)
{
    for (int o = 0; o < s->nout; o++)
        free(s->ref[o]);
    free(s->ref);
    free(s->ref_bytes);
    free(s->in);
    sk_plan_free(s->plan);
}

static void *session_main(void *arg)
{
    session *s = arg;
    char err[256];
    const void *d[1] = {s->in};
    for (int r = 0; r < rounds; r++) {
        if (sk_plan_run(s->plan, d, err, sizeof err)) {
            s->errors++;
            continue;
        }
        for (int o = 0; o < s->nout; o++) {
            const sk_tensor *t = sk_plan_output(s->plan, o);
            if (sk_tensor_bytes(t) != s->ref_bytes[o] ||
                memcmp(t->data, s->ref[o], s->ref_bytes[o]) != 0)
                s->mismatches++;
        }
    }
    return NULL;
}

/* Four sessions of the two models at the active SIMD level. */
static void run_sessions(void)
{
    sk_graph *cls = load("models/fashion-resnet/model.onnx");
    sk_graph *seg = load("models/scenes-unet/model.onnx");
    sk_pool *pool = sk_pool_create(3);
    assert_non_null(pool);
    enum { NS = 4 };
    session s[NS];
    session_init(&s[0], cls, 1, pool);
    session_init(&s[1], cls, 3, pool);
    session_init(&s[2], seg, 1, pool);
    session_init(&s[3], seg, 3, pool);
    pthread_t th[NS];
    for (int i = 0; i < NS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, session_main, &s[i]), 0);
    for (int i = 0; i < NS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < NS; i++) {
        if (s[i].errors || s[i].mismatches)
            fail_msg("session %d: %d failed runs, %d outputs differ from its run alone", i,
                     s[i].errors, s[i].mismatches);
        session_free(&s[i]);
    }
    sk_pool_destroy(pool);
    sk_graph_free(cls);
    sk_graph_free(seg);
}

/* at the CPU's level (packed weights, fast kernels) and at the scalar level
 * (reference kernels, the raw weights shared) */
static void test_concurrent_sessions(void **state)
{
    (void)state;
    sk_cpu_set_level(sk_cpu_detected());
    rounds = 20;
    run_sessions();
    sk_cpu_set_level(SK_ISA_SCALAR);
    rounds = 2;
    run_sessions();
    sk_cpu_set_level(sk_cpu_detected());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_sessions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
