/* fast_ops_testutil.h — helpers shared by test_fast_ops*.c: a one-node
 * graph with its input tensors, and check(), which runs the reference
 * kernel once and the fast kernel at every ISA level the CPU has, serially
 * and on a 3-thread pool, with the scratch sk_dispatch_ops_scratch asks
 * for, counting mallocs, and compares every output.
 * Include after cmocka.h. */
#ifndef FAST_OPS_TESTUTIL_H
#define FAST_OPS_TESTUTIL_H

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "engine/graph.h"
#include "kernels/fast_ops.h"
#include "threadpool.h"

#include "alloc_counter.h"
#ifndef HAVE_COUNTER
static int counting; /* the checks below run, and see no allocation */
static long nallocs;
#endif

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static inline uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static inline float frand(void) { return (float)((double)rnd() / 4294967296.0 * 2.0 - 1.0); }
static inline int irand(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static sk_pool *g_pool;    /* 3 threads: uneven splits on any machine */
static const float *g_mag; /* extra tolerance g_mk * g_mag[i] when set */
static double g_mk;

/* FAST_OPS_SEED=n reruns the random cases with another seed */
static inline void testutil_init(void)
{
    const char *seed = getenv("FAST_OPS_SEED");
    if (seed && *seed)
        rng ^= (uint64_t)strtoull(seed, NULL, 10) * 0x2545f4914f6cdd1dull;
    g_pool = sk_pool_create(3);
}
static inline void testutil_fini(void) { sk_pool_destroy(g_pool); }

/* ---- one node and its inputs ---------------------------------------------- */

typedef struct tc {
    sk_graph *g;
    int nin, nout;
    sk_tensor in[6];
    const sk_tensor *inp[6];
} tc;

static inline void tc_new(tc *t, sk_op op, int nin, int nout, int opset)
{
    memset(t, 0, sizeof *t);
    t->g = sk_graph_new();
    assert_non_null(t->g);
    int ids[12];
    char name[16];
    for (int i = 0; i < nin + nout; i++) {
        snprintf(name, sizeof name, "v%d", i);
        ids[i] = sk_graph_value(t->g, name);
    }
    assert_int_equal(sk_graph_add_node(t->g, op, "node", nin, ids, nout, ids + nin), 0);
    t->g->nodes[0].opset = opset;
    t->nin = nin;
    t->nout = nout;
}

/* Input i: random values (floats in [-1, 1), integers of any bits). */
static inline void tc_input(tc *t, int i, sk_dtype dt, int rank, const int64_t *dims)
{
    sk_tensor *x = &t->in[i];
    x->dtype = dt;
    x->shape.rank = rank;
    for (int d = 0; d < rank; d++)
        x->shape.dim[d] = dims[d];
    size_t n = (size_t)sk_shape_numel(&x->shape), es = sk_dtype_size(dt);
    x->data = sk_alloc(n * es + 64);
    assert_non_null(x->data);
    for (size_t k = 0; k < n; k++) {
        if (dt == SK_F32)
            ((float *)x->data)[k] = frand();
        else if (dt == SK_I64)
            ((int64_t *)x->data)[k] = (int64_t)rnd() << 20 ^ rnd();
        else
            ((uint8_t *)x->data)[k] = (uint8_t)rnd();
    }
    t->inp[i] = x;
}

static inline void tc_const_f32(tc *t, int i, int rank, const int64_t *dims, const float *v)
{
    tc_input(t, i, SK_F32, rank, dims);
    memcpy(t->in[i].data, v, (size_t)sk_shape_numel(&t->in[i].shape) * sizeof(float));
}

static inline void tc_const_i64(tc *t, int i, int rank, const int64_t *dims, const int64_t *v)
{
    tc_input(t, i, SK_I64, rank, dims);
    memcpy(t->in[i].data, v, (size_t)sk_shape_numel(&t->in[i].shape) * sizeof(int64_t));
}

static inline void tc_free(tc *t)
{
    for (int i = 0; i < 6; i++)
        sk_free(t->in[i].data);
    sk_graph_free(t->g);
}

static inline size_t numel(const sk_tensor *x) { return (size_t)sk_shape_numel(&x->shape); }

static inline void scale_values(sk_tensor *x, float s)
{
    for (size_t k = 0; k < numel(x); k++)
        ((float *)x->data)[k] *= s;
}
static inline void shift_values(sk_tensor *x, float s)
{
    for (size_t k = 0; k < numel(x); k++)
        ((float *)x->data)[k] += s;
}
/* |v| >= 0.25 keeps a quotient's magnitude bounded */
static inline void away_from_zero(sk_tensor *x)
{
    for (size_t k = 0; k < numel(x); k++) {
        float *v = (float *)x->data + k;
        *v = *v < 0 ? *v - 0.25f : *v + 0.25f;
    }
}

/* The reference's output 0 with every float input replaced by its absolute
 * value: sum |a b| per output, the scale of a K-term sum's rounding error. */
static inline float *abs_run(tc *t)
{
    tc a = *t;
    for (int i = 0; i < t->nin; i++) {
        if (!t->inp[i])
            continue;
        size_t n = numel(t->inp[i]), es = sk_dtype_size(t->inp[i]->dtype);
        a.in[i] = *t->inp[i];
        a.in[i].data = malloc(n * es + 1);
        memcpy(a.in[i].data, t->inp[i]->data, n * es);
        if (a.in[i].dtype == SK_F32)
            for (size_t k = 0; k < n; k++)
                ((float *)a.in[i].data)[k] = fabsf(((float *)a.in[i].data)[k]);
        a.inp[i] = &a.in[i];
    }
    const sk_node *n = &t->g->nodes[0];
    sk_tensor out[3];
    memset(out, 0, sizeof out);
    sk_kctx ctx = {NULL, 0, NULL, NULL, 0, NULL};
    assert_int_equal(sk_op_get(n->op)->infer(n, a.inp, t->nin, out, t->nout, &ctx), 0);
    for (int o = 0; o < t->nout; o++)
        out[o].data = malloc(sk_tensor_bytes(&out[o]) + 4);
    assert_int_equal(sk_op_get(n->op)->run(n, a.inp, t->nin, out, t->nout, &ctx), 0);
    for (int o = 1; o < t->nout; o++)
        free(out[o].data);
    for (int i = 0; i < t->nin; i++)
        if (t->inp[i])
            free(a.in[i].data);
    return out[0].data;
}

static inline int close_enough(float f, float r, double rtol, double atol, size_t i)
{
    if (isnan(f) || isnan(r))
        return isnan(f) && isnan(r);
    if (isinf(f) || isinf(r))
        return f == r;
    double tol = atol + rtol * fabs((double)r) + (g_mag ? g_mk * g_mag[i] : 0.0);
    return fabs((double)f - (double)r) <= tol;
}

/* expect_fast: 1 = sk_dispatch_ops must take these shapes (and the run must
 * not allocate); 0 = it must refuse them (the node-level kernel, if any,
 * still runs and must fall back to the reference). */
static inline void check(tc *t, int expect_fast, double rtol, double atol, const char *what)
{
    const sk_node *n = &t->g->nodes[0];
    const sk_op_info *info = sk_op_get(n->op);
    char err[256] = "";
    sk_kctx ctx = {err, sizeof err, NULL, NULL, 0, NULL};
    sk_tensor ref[3], fast[3];
    memset(ref, 0, sizeof ref);
    if (info->infer(n, t->inp, t->nin, ref, t->nout, &ctx))
        fail_msg("%s: infer failed: %s", what, err);
    for (int o = 0; o < t->nout; o++) {
        ref[o].data = sk_alloc(sk_tensor_bytes(&ref[o]) + 64);
        fast[o] = ref[o];
    }
    if (info->run(n, t->inp, t->nin, ref, t->nout, &ctx))
        fail_msg("%s: reference failed: %s", what, err);
    sk_isa was = sk_cpu_level();
    for (int L = SK_ISA_AVX2; L <= (int)sk_cpu_detected(); L++) {
        sk_cpu_set_level((sk_isa)L);
        sk_kernel_fn fn = sk_dispatch_ops(n, t->inp, t->nin, ref, t->nout);
        if (!fn != !expect_fast)
            fail_msg("%s: dispatch with shapes gave %s at %s", what, fn ? "a kernel" : "none",
                     sk_isa_name((sk_isa)L));
        if (!(fn = sk_dispatch_ops(n, NULL, 0, NULL, 0)))
            continue;
        for (int p = 0; p < 2; p++) {
            sk_pool *pool = p ? g_pool : NULL;
            size_t sb =
                sk_dispatch_ops_scratch(n, t->inp, t->nin, ref, t->nout, sk_pool_size(pool));
            void *scr = sb ? sk_alloc(sb) : NULL;
            for (int o = 0; o < t->nout; o++) {
                fast[o].data = sk_alloc(sk_tensor_bytes(&ref[o]) + 64);
                memset(fast[o].data, 0xff, sk_tensor_bytes(&ref[o])); /* NaN */
            }
            sk_kctx fc = {err, sizeof err, pool, scr, sb, sk_kconfig_for((sk_isa)L)};
            nallocs = 0;
            counting = expect_fast;
            int rc = fn(n, t->inp, t->nin, fast, t->nout, &fc);
            counting = 0;
            if (rc)
                fail_msg("%s: fast kernel failed (%d): %s", what, rc, err);
            if (nallocs)
                fail_msg("%s: the fast run called malloc %ld times", what, nallocs);
            for (int o = 0; o < t->nout; o++) {
                size_t cnt = numel(&ref[o]);
                if (ref[o].dtype != SK_F32) {
                    if (memcmp(fast[o].data, ref[o].data, sk_tensor_bytes(&ref[o])))
                        fail_msg("%s: output %d differs (%s, %s)", what, o,
                                 sk_isa_name((sk_isa)L), p ? "pool" : "serial");
                    continue;
                }
                const float *f = fast[o].data, *r = ref[o].data;
                for (size_t i = 0; i < cnt; i++)
                    if (!close_enough(f[i], r[i], rtol, atol, i)) {
                        char sh[96];
                        fail_msg("%s: output %d %s [%zu] = %.9g, reference %.9g (%s, %s)", what, o,
                                 sk_shape_str(&ref[o].shape, sh, sizeof sh), i, (double)f[i],
                                 (double)r[i], sk_isa_name((sk_isa)L), p ? "pool" : "serial");
                    }
            }
            for (int o = 0; o < t->nout; o++)
                sk_free(fast[o].data);
            sk_free(scr);
        }
    }
    sk_cpu_set_level(was);
    for (int o = 0; o < t->nout; o++)
        sk_free(ref[o].data);
}

#endif
