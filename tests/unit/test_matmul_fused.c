/* test_matmul_fused.c — the transformer Linear fusion (issue 24):
 * engine/passes/fuse_matmul.c, the _MatMulFused kernels
 * (kernels/ref/fused_matmul.c, kernels/fast_matmul_fused.c) and the GELU
 * row loops (kernels/fast_gelu_uk.h).
 *   - GELU loops of every level the CPU has against GELU in double (libm
 *     erf / tanh), lengths around the vector width, in place, guard cells.
 *   - Graphs MatMul(A, W) -> Add bias -> Add residual -> GELU (erf or tanh,
 *     built node by node as torch exports them) | Relu, each link optional,
 *     odd sizes, rank-2 and rank-3 A: the unfused graph on the scalar
 *     reference kernels against the optimized one at every level, serial
 *     and threaded; the optimized graph is one _MatMulFused node, and a
 *     fast run allocates nothing.
 *   - What must not be fused is not: a GELU whose input has another
 *     reader, a bias that is not [N], a MatMul by a runtime B.
 *   - Attention (fuse_attention.c, fast_attention.c): Div|Mul(Q, c) ->
 *     MatMul(Kt) -> Softmax -> MatMul(V) on random odd shapes and ViT's
 *     heads, unfused on the scalar reference against _AttentionFused at
 *     every level, serial and threaded, no allocation in a fast run; not
 *     fused when the scores have another reader, Softmax is over another
 *     axis, or V broadcasts over the batch.
 *   - Heads read in place (fuse_attention.c's fold, _AttentionHeads): torch's
 *     Slice -> Reshape -> Transpose of a packed QKV folded; the unfused
 *     graph on the reference against it at every level, serial and
 *     threaded, bit-identical to _AttentionFused on the copies; not folded
 *     for a strided Slice or a shared Reshape; bad bounds fail the plan.
 *     The out-projection Gemm after it moved behind its Transpose and fused
 *     with the residual Add (heads written batch-first), against the
 *     unfused reference; left when its output is a graph output. The
 *     in-projection moved before its Transpose (QKV batch-first) when
 *     QKV's Shape is read only for its last dim, not when dim 0 is read.
 *   - The K block of _MatMulFused (sk_matmul_fused_kc, session 18 mvt): the
 *     whole K up to MATMUL_KC for at most 256 rows, the switch's limit, 0
 *     (the level's kc) for more rows and for a K-pair config; ViT-like products of K over several 256-row
 *     blocks (768, 1100, 3100 > the limit) in one block, in the switch's
 *     blocks and in the driver's, each against the unfused reference at
 *     every level on 1, 2, 3 and 16 threads.
 *   - Its M block (session 18 mvt): every row in one block up to MATMUL_MC
 *     rows, bit-identical to the level's blocks (SKIPSERVE_MATMUL_MC=0) at
 *     every level on 1, 2, 3 and 16 threads; no allocation in a run.
 *   - (session 21) the AVX2 tile with the next-weights prefetch: against
 *     double precision and the plain tile, and in _MatMulFused graphs at
 *     the AVX2 level against the reference and SKIPSERVE_GEMM_PREFETCH=0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "engine/graph.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "kernels/config.h"
#include "kernels/fast.h"
#include "kernels/fast_conv.h"
#include "kernels/fast_ops.h"
#include "threadpool.h"

#include "alloc_counter.h"
#include "kernels/switches.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 20);
}
static float frand(void) { return (float)((double)(rnd() % 200001) / 100000.0 - 1.0); }
static int irand(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static double gelu_d(int kind, double x)
{
    if (kind == SK_GELU_TANH)
        return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}

/* ---- GELU loops --------------------------------------------------------------- */

static void check_gelu_loop(const char *lvl, int kind, void (*fn)(size_t, const float *, float *))
{
    enum { G = 16 };
    for (int n = 0; n <= 70; n++) {
        float *buf = malloc(sizeof(float) * (size_t)(n + 2 * G)), *x = malloc(sizeof(float) * (size_t)(n + 1));
        for (int i = 0; i < n + 2 * G; i++)
            buf[i] = 1234.5f; /* guard cells */
        for (int i = 0; i < n; i++) {
            /* the range that matters (|x| < 6) and beyond, where GELU is x or 0 */
            x[i] = (i % 7 == 0) ? frand() * 40.0f : frand() * 6.0f;
            buf[G + i] = x[i];
        }
        fn((size_t)n, buf + G, buf + G); /* in place */
        for (int i = 0; i < G; i++)
            if (buf[i] != 1234.5f || buf[G + n + i] != 1234.5f)
                fail_msg("[%s] gelu %d n %d wrote outside [0, n)", lvl, kind, n);
        for (int i = 0; i < n; i++) {
            double want = gelu_d(kind, x[i]);
            /* vector erf / tanh: relative error < 3e-7, plus the rounding of
             * the three multiplies around them */
            double tol = 2e-6 * fabs(want) + 2e-7 * fabs((double)x[i]) + 1e-30;
            if (!(fabs(buf[G + i] - want) <= tol))
                fail_msg("[%s] gelu %d n %d: x %.9g -> %.9g, want %.9g", lvl, kind, n, x[i],
                         buf[G + i], want);
        }
        free(buf);
        free(x);
    }
}

static void test_gelu_loops(void **state)
{
    (void)state;
    int levels = 0;
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        const sk_fast_uk *uk = sk_fast_uk_for((sk_isa)l);
        if (!uk)
            continue;
        assert_non_null(uk->vgelu_erf);
        assert_non_null(uk->vgelu_tanh);
        check_gelu_loop(sk_isa_name((sk_isa)l), SK_GELU_ERF, uk->vgelu_erf);
        check_gelu_loop(sk_isa_name((sk_isa)l), SK_GELU_TANH, uk->vgelu_tanh);
        levels++;
    }
    /* and the scalar form the reference kernel uses */
    for (int i = 0; i < 2000; i++) {
        float x = frand() * 8.0f;
        for (int k = SK_GELU_ERF; k <= SK_GELU_TANH; k++) {
            double want = gelu_d(k, x);
            if (!(fabs(sk_gelu_ref(k, x) - want) <= 2e-6 * fabs(want) + 1e-7))
                fail_msg("sk_gelu_ref(%d, %.9g) = %.9g, want %.9g", k, x, sk_gelu_ref(k, x),
                         want);
        }
    }
    assert_true(sk_gelu_ref(SK_GELU_NONE, 3.25f) == 3.25f);
    (void)levels;
}

/* ---- graphs ------------------------------------------------------------------- */

static int val(sk_graph *g, const char *name)
{
    int id = sk_graph_value(g, name);
    assert_true(id >= 0);
    return id;
}

static int add_const(sk_graph *g, const char *name, int rank, const int64_t *dims)
{
    sk_shape s = {rank, {0}};
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= s.dim[i] = dims[i];
    float *d = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        d[i] = frand();
    int id = sk_graph_add_const(g, name, SK_F32, &s, d);
    assert_true(id >= 0);
    free(d);
    return id;
}

static int add_scalar(sk_graph *g, const char *name, float v)
{
    sk_shape s = {0, {0}};
    int id = sk_graph_add_const(g, name, SK_F32, &s, &v);
    assert_true(id >= 0);
    return id;
}

/* y = op(a, b) with fresh output name; returns y's id */
static int bin(sk_graph *g, sk_op op, int a, int b)
{
    static int seq;
    char name[32];
    snprintf(name, sizeof name, "t%d", seq++);
    int in[2] = {a, b}, o = val(g, name);
    assert_true(sk_graph_add_node(g, op, name, 2, in, 1, &o) >= 0);
    return o;
}

static int un(sk_graph *g, sk_op op, int a)
{
    static int seq;
    char name[32];
    snprintf(name, sizeof name, "u%d", seq++);
    int o = val(g, name);
    assert_true(sk_graph_add_node(g, op, name, 1, &a, 1, &o) >= 0);
    return o;
}

/* torch's export of nn.GELU() / nn.GELU(approximate="tanh") on x */
static int gelu_nodes(sk_graph *g, int kind, int x)
{
    if (kind == SK_GELU_ERF) {
        int d = bin(g, SK_OP_DIV, x, add_scalar(g, "sqrt2", 1.4142135381698608f));
        int e = un(g, SK_OP_ERF, d);
        int a = bin(g, SK_OP_ADD, e, add_scalar(g, "one", 1.0f));
        int m = bin(g, SK_OP_MUL, x, a);
        return bin(g, SK_OP_MUL, m, add_scalar(g, "half", 0.5f));
    }
    int sq = bin(g, SK_OP_MUL, x, x);
    int cube = bin(g, SK_OP_MUL, x, sq);
    int k = bin(g, SK_OP_MUL, add_scalar(g, "c1", 0.044714998453855515f), cube);
    int s = bin(g, SK_OP_ADD, x, k);
    int u = bin(g, SK_OP_MUL, add_scalar(g, "c2", 0.7978845834732056f), s);
    int t = un(g, SK_OP_TANH, u);
    int a = bin(g, SK_OP_ADD, add_scalar(g, "one", 1.0f), t);
    int m = bin(g, SK_OP_MUL, x, a);
    return bin(g, SK_OP_MUL, add_scalar(g, "half", 0.5f), m);
}

typedef struct mm_case {
    int rank; /* of A: 2 [M, K] or 3 [S, B, K] */
    int64_t d0, d1, K, N;
    int bias, bias_first, res, act; /* act: 0 none, 1 Relu, 2 GELU erf, 3 GELU tanh */
} mm_case;

/* A (symbolic first dim) -> MatMul(W) -> Add bias? -> Add R? -> act? */
static sk_graph *build(const mm_case *c, uint64_t seed)
{
    char err[256];
    uint64_t save = rng;
    rng = seed;
    sk_graph *g = sk_graph_new();
    int a = val(g, "A");
    g->values[a].dtype = SK_F32;
    g->values[a].shape.rank = c->rank;
    g->values[a].shape.dim[0] = SK_DIM_SYMBOLIC;
    if (c->rank == 3)
        g->values[a].shape.dim[1] = c->d1;
    g->values[a].shape.dim[c->rank - 1] = c->K;
    sk_graph_add_input(g, a);
    int64_t wd[2] = {c->K, c->N};
    int y = bin(g, SK_OP_MATMUL, a, add_const(g, "W", 2, wd));
    if (c->bias) {
        int b = add_const(g, "bias", 1, &c->N);
        y = c->bias_first ? bin(g, SK_OP_ADD, b, y) : bin(g, SK_OP_ADD, y, b);
    }
    if (c->res) {
        int r = val(g, "R");
        g->values[r].dtype = SK_F32;
        g->values[r].shape = g->values[a].shape;
        g->values[r].shape.dim[c->rank - 1] = c->N;
        sk_graph_add_input(g, r);
        y = bin(g, SK_OP_ADD, r, y);
    }
    if (c->act == 1)
        y = un(g, SK_OP_RELU, y);
    else if (c->act >= 2)
        y = gelu_nodes(g, c->act == 2 ? SK_GELU_ERF : SK_GELU_TANH, y);
    sk_graph_add_output(g, y);
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    rng = save;
    return g;
}

/* Run g at `level` on A (and R); returns a malloc'd copy of the output. */
/* A (rows x K) and a residual (rows x N) of random values; the rows */
static int64_t operands(const mm_case *c, float **a, float **r)
{
    const int64_t rows = c->d0 * (c->rank == 3 ? c->d1 : 1);
    *a = malloc(sizeof(float) * (size_t)(rows * c->K));
    *r = malloc(sizeof(float) * (size_t)(rows * c->N));
    for (int64_t q = 0; q < rows * c->K; q++)
        (*a)[q] = frand();
    for (int64_t q = 0; q < rows * c->N; q++)
        (*r)[q] = frand();
    return rows;
}

static float *run(const sk_graph *g, const mm_case *c, sk_isa level, const float *a,
                  const float *r, sk_pool *pool, int count_allocs)
{
    char err[256];
    sk_isa keep = sk_cpu_level();
    sk_cpu_set_level(level);
    sk_tensor in[2] = {{SK_F32, {c->rank, {c->d0, c->d1, c->K}}, NULL},
                       {SK_F32, {c->rank, {c->d0, c->d1, c->N}}, NULL}};
    if (c->rank == 2) {
        in[0].shape.dim[1] = c->K;
        in[1].shape.dim[1] = c->N;
    }
    sk_plan *p;
    if (sk_plan_create(g, in, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *d[2] = {a, r};
    (void)count_allocs;
#ifdef HAVE_COUNTER
    nallocs = 0;
    counting = count_allocs;
#endif
    int rc = sk_plan_run(p, d, err, sizeof err);
#ifdef HAVE_COUNTER
    counting = 0;
    if (count_allocs && nallocs)
        fail_msg("a fast _MatMulFused run allocated %ld times", (long)nallocs);
#endif
    if (rc)
        fail_msg("run: %s", err);
    const sk_tensor *o = sk_plan_output(p, 0);
    int64_t n = sk_shape_numel(&o->shape);
    assert_int_equal(n, c->d0 * (c->rank == 3 ? c->d1 : 1) * c->N);
    float *y = malloc(sizeof(float) * (size_t)n);
    memcpy(y, o->data, sizeof(float) * (size_t)n);
    sk_plan_free(p);
    sk_cpu_set_level(keep);
    return y;
}

static void check_case(const mm_case *c, sk_pool *pool)
{
    char err[256];
    uint64_t seed = rnd() * 7919ull + 3;
    sk_graph *gr = build(c, seed), *go = build(c, seed);
    if (sk_graph_optimize(go, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    if (go->nnodes != 1 || go->nodes[0].op != SK_OP_MATMUL_FUSED)
        fail_msg("rank %d K %lld N %lld bias %d res %d act %d: %d nodes, first %s", c->rank,
                 (long long)c->K, (long long)c->N, c->bias, c->res, c->act, go->nnodes,
                 sk_op_name(go->nodes[0].op));
    const sk_node *fn = &go->nodes[0];
    assert_int_equal(sk_attr_int(fn, "gelu", 0),
                     c->act == 2 ? SK_GELU_ERF : c->act == 3 ? SK_GELU_TANH : SK_GELU_NONE);
    assert_int_equal(fn->nin > 2 && fn->in[2] >= 0, c->bias);
    assert_int_equal(fn->nin > 3 && fn->in[3] >= 0, c->res);
    if (sk_cpu_level() > SK_ISA_SCALAR) {
        assert_non_null(fn->priv);
        assert_true(sk_dispatch_run(fn) == sk_fast_run_matmul_fused);
        assert_true(go->values[fn->in[1]].released); /* packed: raw W freed */
    }
    float *a, *r;
    const int64_t rows = operands(c, &a, &r);
    float *yr = run(gr, c, SK_ISA_SCALAR, a, c->res ? r : NULL, pool, 0);
    float *yo = run(go, c, sk_cpu_level(), a, c->res ? r : NULL, pool,
                    sk_cpu_level() > SK_ISA_SCALAR);
    if (sk_cpu_level() > SK_ISA_SCALAR && c->act >= 2) {
        /* GELU on each finished block inside the GEMM tasks (default) and
         * the pass over the whole output after it: the same bits */
        setenv("SKIPSERVE_GELU_POST", "0", 1);
        sk_switches_reload();
        float *yp = run(go, c, sk_cpu_level(), a, c->res ? r : NULL, pool, 1);
        unsetenv("SKIPSERVE_GELU_POST");
        sk_switches_reload();
        if (memcmp(yp, yo, sizeof(float) * (size_t)(rows * c->N)))
            fail_msg("[%s] rows %lld K %lld N %lld act %d: GELU in the GEMM tasks differs from "
                     "the pass after it",
                     sk_isa_name(sk_cpu_level()), (long long)rows, (long long)c->K,
                     (long long)c->N, c->act);
        free(yp);
    }
    double big = 1.0;
    for (int64_t i = 0; i < rows * c->N; i++)
        big = fmax(big, fabs(yr[i]));
    /* the GEMM's summation order differs; GELU's slope is at most 1.13 */
    double tol = (double)(c->K + 16) * FLT_EPSILON * 4.0 * big;
    for (int64_t i = 0; i < rows * c->N; i++)
        if (!(fabs(yr[i] - yo[i]) <= tol))
            fail_msg("[%s] rank %d rows %lld K %lld N %lld bias %d res %d act %d: y[%lld] = "
                     "%.8g, unfused %.8g (tol %.3g)",
                     sk_isa_name(sk_cpu_level()), c->rank, (long long)rows, (long long)c->K,
                     (long long)c->N, c->bias, c->res, c->act, (long long)i, yo[i], yr[i], tol);
    free(a);
    free(r);
    free(yr);
    free(yo);
    sk_graph_free(gr);
    sk_graph_free(go);
}

static void random_case(mm_case *c)
{
    c->rank = irand(2, 3);
    c->d0 = irand(1, 30);
    c->d1 = c->rank == 3 ? irand(1, 4) : 0;
    c->K = irand(0, 5) == 0 ? irand(180, 260) : irand(1, 70);
    c->N = irand(0, 5) == 0 ? irand(180, 300) : irand(1, 70);
    c->bias = irand(0, 3) != 0;
    c->bias_first = irand(0, 1);
    c->res = irand(0, 2) == 0;
    c->act = irand(0, 3);
}

static void matmul_cases(sk_pool *pool)
{
    for (int t = 0; t < 30; t++) {
        mm_case c;
        random_case(&c);
        check_case(&c, pool);
    }
    /* ViT-small shapes: QKV [197, 1, 192] x [192, 576] + bias; FFN
     * [1, 197, 192] x [192, 768] + bias + GELU; [1, 197, 768] x [768, 192]
     * + bias + residual */
    mm_case vit[] = {{3, 197, 1, 192, 576, 1, 1, 0, 0},
                     {3, 1, 197, 192, 768, 1, 1, 0, 2},
                     {3, 1, 197, 192, 768, 1, 1, 0, 3},
                     {3, 1, 197, 768, 192, 1, 1, 1, 0}};
    for (size_t i = 0; i < sizeof vit / sizeof vit[0]; i++)
        check_case(&vit[i], pool);
}

static void test_matmul_fused(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(3);
    for (int l = SK_ISA_SCALAR; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        matmul_cases(NULL);
        matmul_cases(pool);
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pool);
}

/* ---- the K block ----------------------------------------------------------------- */

static void test_matmul_kc(void **state)
{
    (void)state;
    for (int l = SK_ISA_SCALAR + 1; l <= (int)sk_cpu_detected(); l++) {
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)l);
        if (!kc)
            continue;
        sk_gemm_cfg cfg = kc->gemm;
        /* session 19 (gk): the L2 rule, where config.c sets a budget (Intel):
         * the K rows whose A block (rows rounded to 16) fits it, equal blocks */
        cfg.ablock_bytes = 1 << 20;
        unsetenv("SKIPSERVE_MATMUL_KC");
        sk_switches_reload();
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 768), 768);   /* 208 x 768 x 4 <= 1 MB */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 3072), 1024); /* fit 1260: 3 x 1024 */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 1536), 768);  /* 2 x 768 */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 1261), 631);  /* 2 blocks */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 1260), 1260);
        assert_int_equal(sk_matmul_fused_kc(&cfg, 256, 3072), 1024); /* fit 1024: 3 x 1024 */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 257, 768), 0);     /* batch 8: the level's */
        cfg.ablock_bytes = 200 << 10; /* fit 246 < kc: the level's */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 768), 0);
        setenv("SKIPSERVE_MATMUL_KC", "3072", 1); /* the switch: session 18's rule */
        sk_switches_reload();
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 3072), 3072);
        unsetenv("SKIPSERVE_MATMUL_KC");
        sk_switches_reload();
        cfg.ablock_bytes = 0; /* AMD: session 18's rule */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 768), 768);
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 3072), 3072);
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 5000), 3072); /* the driver: 2 x 2500 */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 40), 40);
        assert_int_equal(sk_matmul_fused_kc(&cfg, 256, 768), 768);
        assert_int_equal(sk_matmul_fused_kc(&cfg, 257, 768), 0); /* batch 8: the level's */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 1576, 3072), 0);
        setenv("SKIPSERVE_MATMUL_KC", "0", 1);
        sk_switches_reload();
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 768), 0);
        setenv("SKIPSERVE_MATMUL_KC", "100", 1); /* below kc: the level's */
        sk_switches_reload();
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 768), 0);
        setenv("SKIPSERVE_MATMUL_KC", "512", 1);
        sk_switches_reload();
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 768), 512);
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 300), 300);
        unsetenv("SKIPSERVE_MATMUL_KC");
        sk_switches_reload();
        cfg.kpair = 1; /* BF16 panels keep the driver's blocks */
        assert_int_equal(sk_matmul_fused_kc(&cfg, 197, 768), 0);
    }
    /* [1, 197, K] x [K, N] + bias (+ residual) (+ GELU): the product in
     * one K block (768, 1100), in blocks of the limit (3100 > 3072: 2 x
     * 1550), in the switch's 512-row blocks and the driver's 256: each
     * within the summation-order tolerance of the unfused reference */
    mm_case cs[] = {{3, 1, 197, 768, 72, 1, 1, 1, 0},
                    {3, 1, 197, 1100, 40, 1, 0, 0, 2},
                    {3, 1, 197, 3100, 33, 1, 1, 1, 0}};
    static const char *lims[] = {NULL, "512", "0"};
    static const int threads[] = {1, 2, 3, 16};
    for (int t = 0; t < 4; t++) {
        sk_pool *pool = threads[t] > 1 ? sk_pool_create(threads[t]) : NULL;
        for (int l = SK_ISA_SCALAR + 1; l <= (int)sk_cpu_detected(); l++) {
            sk_cpu_set_level((sk_isa)l);
            for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
                for (int e = 0; e < 3; e++) {
                    if (lims[e]) {
                        setenv("SKIPSERVE_MATMUL_KC", lims[e], 1);
                        sk_switches_reload();
                    }
                    check_case(&cs[i], pool);
                    unsetenv("SKIPSERVE_MATMUL_KC");
                    sk_switches_reload();
                }
        }
        sk_cpu_set_level(sk_cpu_detected());
        if (pool)
            sk_pool_destroy(pool);
    }
}

/* The M block (matmul_cfg, session 18 mvt): 197 and 250 rows in one block
 * by default, 300 (> MATMUL_MC) and SKIPSERVE_MATMUL_MC=0 in the level's;
 * only the loop order changes, so every output is bit-identical to the
 * level's blocking, at every level on 1, 2, 3 and 16 threads, and a run
 * with the default's larger block allocates nothing (planned scratch). */
static void test_matmul_mc(void **state)
{
    (void)state;
    mm_case cs[] = {{3, 1, 197, 768, 72, 1, 1, 1, 0},
                    {2, 250, 0, 300, 40, 1, 0, 0, 2},
                    {2, 300, 0, 64, 33, 0, 0, 1, 0}};
    static const int threads[] = {1, 2, 3, 16};
    for (int t = 0; t < 4; t++) {
        sk_pool *pool = threads[t] > 1 ? sk_pool_create(threads[t]) : NULL;
        for (int l = SK_ISA_SCALAR + 1; l <= (int)sk_cpu_detected(); l++)
            for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
                const mm_case *c = &cs[i];
                char err[256];
                sk_graph *g = build(c, rnd() * 7919ull + 3);
                if (sk_graph_optimize(g, 1, err, sizeof err))
                    fail_msg("optimize: %s", err);
                float *a, *r;
                const int64_t rows = operands(c, &a, &r);
                float *y1 = run(g, c, (sk_isa)l, a, c->res ? r : NULL, pool, 1);
                setenv("SKIPSERVE_MATMUL_MC", "0", 1);
                sk_switches_reload();
                float *y0 = run(g, c, (sk_isa)l, a, c->res ? r : NULL, pool, 0);
                unsetenv("SKIPSERVE_MATMUL_MC");
                sk_switches_reload();
                if (memcmp(y0, y1, sizeof(float) * (size_t)(rows * c->N)))
                    fail_msg("[%s] %d threads, %lld rows K %lld N %lld: one M block differs "
                             "from the level's blocks",
                             sk_isa_name((sk_isa)l), threads[t], (long long)rows,
                             (long long)c->K, (long long)c->N);
                free(a);
                free(r);
                free(y0);
                free(y1);
                sk_graph_free(g);
            }
        if (pool)
            sk_pool_destroy(pool);
    }
}

/* The row slices (session 20 vb8, sk_matmul_fused_slice_rows: products
 * of more than 256 rows as slices of whole panels, one GEMM job each,
 * where the config has an L2 budget for A — Intel — and the slice's whole
 * K fits it). The rule's values; then products of 591 / 601 / 1576 rows
 * (row counts off 12 and 8, narrow last column panels, K under and over
 * the level's kc, bias / residual / GELU), by default, with one job
 * (SKIPSERVE_MATMUL_SLICE=0) and with slices of 40 rows (3 panels and a
 * short last slice), each against the unfused scalar reference within the
 * summation-order tolerance, at every level on 1, 2 and 3 threads; the
 * default's outputs bit-identical across the thread counts, and to 36-row
 * slices where both run the whole K in one block (K <= 1024; elsewhere the
 * same path, one job: K = 64 and N = 45 below two of the level's blocks);
 * a product
 * whose slices would not fit runs as one job on wide blocks, bit-identical
 * to the level's blocks (SKIPSERVE_MATMUL_WIDE=0). Where the config has no
 * budget (AMD, the AVX2 level) the runs are the one job on the level's. */
static void test_matmul_slices(void **state)
{
    (void)state;
    for (int l = SK_ISA_SCALAR + 1; l <= (int)sk_cpu_detected(); l++) {
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)l);
        if (!kc)
            continue;
        sk_gemm_cfg cfg = kc->gemm;
        cfg.ablock_bytes = 1 << 20;
        unsetenv("SKIPSERVE_MATMUL_SLICE");
        sk_switches_reload();
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 768, 768), 228); /* 6 x 19 + 18 */
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 8, 1576, 768, 768), 232);  /* 7 x 29 panels */
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 3072, 768), 0);  /* past 1 MB */
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 1024, 768), 228); /* 240 x 1024 */
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 1100, 768), 0);
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 256, 768, 768), 0); /* one job */
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 257, 768, 768), 132); /* 22 panels */
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 601, 2 * cfg.kc, 768), 204);
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 601, 2 * cfg.kc - 1, 768), 0);
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 768, 2 * cfg.nc), 228);
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 768, 2 * cfg.nc - 1), 0);
        setenv("SKIPSERVE_MATMUL_SLICE", "40", 1); /* 3 panels a slice */
        sk_switches_reload();
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 601, 2 * cfg.kc, 768), 36);
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 30, 2 * cfg.kc, 768), 0);
        setenv("SKIPSERVE_MATMUL_SLICE", "0", 1);
        sk_switches_reload();
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 768, 768), 0);
        unsetenv("SKIPSERVE_MATMUL_SLICE");
        sk_switches_reload();
        cfg.kpair = 1; /* BF16 panels: the one job */
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 768, 768), 0);
        cfg.kpair = 0;
        cfg.ablock_bytes = 0; /* AMD: the one job */
        assert_int_equal(sk_matmul_fused_slice_rows(&cfg, 12, 1576, 768, 768), 0);
        if (!kc->gemm.ablock_bytes)
            assert_null(kc->gemm_mr12); /* the budget comes with the Intel config */
    }
    /* the last: its slices' whole K (208 x 1300 floats) past 1 MB, so one
     * job, on wide blocks (wide_blocks: 608 / 320 columns at 1 / 2
     * threads, the level's at 3) */
    mm_case cs[] = {{3, 3, 197, 520, 520, 1, 1, 1, 2}, {2, 601, 0, 600, 525, 1, 0, 1, 0},
                    {3, 8, 197, 64, 40, 1, 1, 0, 3},    {2, 601, 0, 512, 45, 0, 0, 1, 1},
                    {2, 601, 0, 1300, 600, 1, 0, 1, 2}};
    static const char *sl[] = {NULL, "0", "40", NULL};
    static const int threads[] = {1, 2, 3};
    for (int l = SK_ISA_SCALAR + 1; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            const mm_case *c = &cs[i];
            char err[256];
            sk_graph *g = build(c, rnd() * 7919ull + 11);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            int64_t rows = c->d0 * (c->rank == 3 ? c->d1 : 1);
            size_t ny = (size_t)(rows * c->N);
            float *a = malloc(sizeof(float) * (size_t)(rows * c->K));
            float *r = malloc(sizeof(float) * ny);
            for (int64_t q = 0; q < rows * c->K; q++)
                a[q] = frand();
            for (size_t q = 0; q < ny; q++)
                r[q] = frand();
            float *first = NULL;
            for (int t = 0; t < 3; t++) {
                sk_pool *pool = threads[t] > 1 ? sk_pool_create(threads[t]) : NULL;
                for (int e = 0; e < 4; e++) {
                    if (sl[e])
                        setenv("SKIPSERVE_MATMUL_SLICE", sl[e], 1);
                    if (e == 3) /* the level's blocks instead of wide ones */
                        setenv("SKIPSERVE_MATMUL_WIDE", "0", 1);
                    sk_switches_reload();
                    if (e < 3)
                        check_case(c, pool); /* against the scalar reference */
                    float *y = run(g, c, (sk_isa)l, a, c->res ? r : NULL, pool, 1);
                    unsetenv("SKIPSERVE_MATMUL_SLICE");
                    unsetenv("SKIPSERVE_MATMUL_WIDE");
                    sk_switches_reload();
                    if (e == 0 && !first)
                        first = y;
                    else if (e == 0 && memcmp(first, y, sizeof(float) * ny))
                        fail_msg("[%s] %lld rows K %lld N %lld: %d threads differ from 1",
                                 sk_isa_name((sk_isa)l), (long long)rows, (long long)c->K,
                                 (long long)c->N, threads[t]);
                    else if (e == 2 && c->K <= 1024 && memcmp(first, y, sizeof(float) * ny))
                        fail_msg("[%s] %d threads, %lld rows K %lld N %lld: 36-row slices "
                                 "differ from the default's",
                                 sk_isa_name((sk_isa)l), threads[t], (long long)rows,
                                 (long long)c->K, (long long)c->N);
                    else if (e == 3 && memcmp(first, y, sizeof(float) * ny))
                        fail_msg("[%s] %d threads, %lld rows K %lld N %lld: wide blocks differ "
                                 "from the level's",
                                 sk_isa_name((sk_isa)l), threads[t], (long long)rows,
                                 (long long)c->K, (long long)c->N);
                    if (y != first)
                        free(y);
                }
                if (pool)
                    sk_pool_destroy(pool);
            }
            free(first);
            free(a);
            free(r);
            sk_graph_free(g);
        }
    }
    sk_cpu_set_level(sk_cpu_detected());
}

/* The 12-row panels (session 19 gk, config.h gemm_mr12: Intel AVX-512 CPUs
 * only, by CPU detection; AMD keeps 8-row panels and the session-18 K
 * rule): every output bit-identical to SKIPSERVE_MATMUL_MR12=0's 8-row
 * panels — each element the same FMA chain over the same K blocks — at
 * every level on 1, 2, 3 and 16 threads, row counts off 12 (1, 13, 197,
 * 262 > MATMUL_MC in the level's M blocks, 300), narrow last column panels,
 * K in one block and in the L2 rule's blocks (3100); no allocation in a
 * run. Where the config has no 12-row kernel both runs are the same path. */
static void test_matmul_mr12(void **state)
{
    (void)state;
    const sk_cpu_features *f = sk_cpu_features_get();
    const sk_kconfig *k5 = sk_kconfig_for(SK_ISA_AVX512);
    if (k5 && !f->intel)
        assert_null(k5->gemm_mr12); /* AMD: its measured choices */
    if (k5 && !k5->gemm_mr12)
        assert_true(k5->gemm.ablock_bytes == 0);
    mm_case cs[] = {{3, 1, 197, 768, 72, 1, 1, 1, 0},  {2, 13, 0, 300, 40, 1, 0, 0, 2},
                    {2, 300, 0, 64, 33, 0, 0, 1, 0},   {2, 1, 0, 100, 32, 1, 1, 0, 0},
                    {3, 2, 131, 1100, 96, 1, 1, 1, 3}, {2, 25, 0, 3100, 50, 1, 0, 1, 0}};
    static const int threads[] = {1, 2, 3, 16};
    for (int t = 0; t < 4; t++) {
        sk_pool *pool = threads[t] > 1 ? sk_pool_create(threads[t]) : NULL;
        for (int l = SK_ISA_SCALAR + 1; l <= (int)sk_cpu_detected(); l++)
            for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
                const mm_case *c = &cs[i];
                char err[256];
                sk_graph *g = build(c, rnd() * 7919ull + 5);
                if (sk_graph_optimize(g, 1, err, sizeof err))
                    fail_msg("optimize: %s", err);
                float *a, *r;
                const int64_t rows = operands(c, &a, &r);
                float *y1 = run(g, c, (sk_isa)l, a, c->res ? r : NULL, pool, 1);
                setenv("SKIPSERVE_MATMUL_MR12", "0", 1);
                sk_switches_reload();
                float *y0 = run(g, c, (sk_isa)l, a, c->res ? r : NULL, pool, 0);
                unsetenv("SKIPSERVE_MATMUL_MR12");
                sk_switches_reload();
                if (memcmp(y0, y1, sizeof(float) * (size_t)(rows * c->N)))
                    fail_msg("[%s] %d threads, %lld rows K %lld N %lld: 12-row panels differ "
                             "from 8-row ones",
                             sk_isa_name((sk_isa)l), threads[t], (long long)rows,
                             (long long)c->K, (long long)c->N);
                free(a);
                free(r);
                free(y0);
                free(y1);
                sk_graph_free(g);
            }
        if (pool)
            sk_pool_destroy(pool);
    }
}

/* (session 21, vit2) The AVX2 6 x 16 tile with the driver's next-weights
 * prefetch (sk_f32_gemm_6x16__avx2_fma_pf: the Intel AVX2 config's
 * gemm.uk (config.c fill_intel), with the L2 budget ablock_bytes for
 * _MatMulFused; AMD keeps neither):
 *   - the tile alone against a double-precision product of its packed
 *     panels, kc 1-37 (the 4-step loop and its tail), C overwritten or
 *     accumulated, bias row / column, residual and clamp, with a prefetch
 *     range (pf_step 64 / 192, one that ends inside the loop) and without,
 *     and bit-identical to the plain 6 x 16 tile on the same inputs;
 *   - _MatMulFused graphs at the AVX2 level on 1, 2 and 3 threads (197 and
 *     601 rows, K in one block, in the L2 rule's blocks and sliced): against
 *     the unfused scalar reference, and bit-identical to the same run
 *     without the prefetch (SKIPSERVE_GEMM_PREFETCH=0). */
static void test_matmul_pf(void **state)
{
    (void)state;
    const sk_cpu_features *f = sk_cpu_features_get();
    const sk_kconfig *k2 = sk_kconfig_for(SK_ISA_AVX2);
    if (!k2)
        skip();
    if (!f->intel) { /* AMD: its measured AVX2 choices */
        assert_true(k2->gemm.uk == sk_f32_gemm_6x16__avx2_fma);
        assert_true(k2->gemm.ablock_bytes == 0);
    } else {
        /* session 21 (a2s): convs the L2-prefetch tile, the MatMul the _pf one */
        assert_true(k2->gemm.uk == sk_f32_gemm_6x16__avx2_fma_pfl2 && k2->gemm.mr == 6 &&
                    k2->gemm.nr == 16 && k2->gemm_mm_uk == sk_f32_gemm_6x16__avx2_fma_pf);
    }
#if defined(__x86_64__)
    /* the tile alone */
    float *a = aligned_alloc(64, sizeof(float) * 40 * 6), *b = aligned_alloc(64, sizeof(float) * 40 * 16);
    float *c0 = malloc(sizeof(float) * 6 * 20), *c1 = malloc(sizeof(float) * 6 * 20);
    float *cin = malloc(sizeof(float) * 6 * 20), *res = malloc(sizeof(float) * 6 * 20);
    char *pfbuf = aligned_alloc(64, 64 * 1024);
    float brow[6], bcol[16];
    assert_true(a && b && c0 && c1 && cin && res && pfbuf);
    for (int kc = 1; kc <= 37; kc++)
        for (int mode = 0; mode < 6; mode++) {
            for (int i = 0; i < 40 * 6; i++)
                a[i] = frand();
            for (int i = 0; i < 40 * 16; i++)
                b[i] = frand();
            for (int i = 0; i < 6 * 20; i++)
                cin[i] = frand(), res[i] = frand();
            for (int i = 0; i < 6; i++)
                brow[i] = frand();
            for (int i = 0; i < 16; i++)
                bcol[i] = frand();
            const int accum = mode & 1, epi = mode >= 2;
            sk_ukernel_params p;
            memset(&p, 0, sizeof p);
            p.min = mode == 4 ? -0.25f : -INFINITY;
            p.max = mode == 4 ? 0.5f : INFINITY;
            p.bias_row = mode == 2 ? brow : NULL;
            p.bias_col = mode >= 3 ? bcol : NULL;
            p.res = mode >= 3 ? res : NULL;
            p.ldres = 20;
            if (kc % 3) { /* a prefetch range; kc % 3 == 2: one that ends early */
                p.pf = pfbuf + 64 * (kc % 5);
                p.pf_step = kc % 2 ? 64 : 192;
                p.pf_end = p.pf + (kc % 3 == 2 ? 2 * p.pf_step : (size_t)kc * 192);
            }
            const int flags = (accum ? SK_UK_ACCUM : 0) | (epi ? SK_UK_EPI : 0);
            memcpy(c0, cin, sizeof(float) * 6 * 20);
            memcpy(c1, cin, sizeof(float) * 6 * 20);
            sk_f32_gemm_6x16__avx2_fma_pf((size_t)kc, a, b, c1, 20, flags, &p);
            sk_f32_gemm_6x16__avx2_fma((size_t)kc, a, b, c0, 20, flags, &p);
            assert_memory_equal(c0, c1, sizeof(float) * 6 * 20);
            /* (session 21, a2s) the L2-prefetch twin: the same bits */
            memcpy(c0, cin, sizeof(float) * 6 * 20);
            sk_f32_gemm_6x16__avx2_fma_pfl2((size_t)kc, a, b, c0, 20, flags, &p);
            assert_memory_equal(c0, c1, sizeof(float) * 6 * 20);
            for (int r = 0; r < 6; r++)
                for (int n = 0; n < 20; n++) {
                    const float got = c1[r * 20 + n];
                    if (n >= 16) { /* past the tile: untouched */
                        assert_true(got == cin[r * 20 + n]);
                        continue;
                    }
                    double w = accum ? cin[r * 20 + n] : 0.0;
                    for (int k = 0; k < kc; k++)
                        w += (double)a[k * 6 + r] * b[k * 16 + n];
                    if (epi) {
                        if (p.bias_row)
                            w += p.bias_row[r];
                        if (p.bias_col)
                            w += p.bias_col[n];
                        if (p.res)
                            w += p.res[r * 20 + n];
                        w = w < p.min ? p.min : w > p.max ? p.max : w;
                    }
                    if (fabs(got - w) > 1e-5 * (1.0 + sqrt((double)kc)))
                        fail_msg("kc %d mode %d (%d, %d): %g, want %g", kc, mode, r, n, got, w);
                }
        }
    free(a);
    free(b);
    free(c0);
    free(c1);
    free(cin);
    free(res);
    free(pfbuf);
#endif
    /* _MatMulFused at the AVX2 level */
    mm_case cs[] = {{3, 1, 197, 768, 72, 1, 1, 1, 0}, {3, 1, 197, 3100, 40, 1, 1, 0, 0},
                    {2, 601, 0, 600, 525, 1, 0, 1, 2}, {2, 13, 0, 300, 40, 1, 0, 0, 0}};
    static const int threads[] = {1, 2, 3};
    sk_cpu_set_level(SK_ISA_AVX2);
    for (int t = 0; t < 3; t++) {
        sk_pool *pool = threads[t] > 1 ? sk_pool_create(threads[t]) : NULL;
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            const mm_case *c = &cs[i];
            char err[256];
            check_case(c, pool); /* against the scalar reference */
            sk_graph *g = build(c, rnd() * 7919ull + 17);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            float *x, *r;
            const int64_t rows = operands(c, &x, &r);
            float *y1 = run(g, c, SK_ISA_AVX2, x, c->res ? r : NULL, pool, 1);
            setenv("SKIPSERVE_GEMM_PREFETCH", "0", 1);
            sk_switches_reload(); /* read once (switches.h) */
            float *y0 = run(g, c, SK_ISA_AVX2, x, c->res ? r : NULL, pool, 0);
            unsetenv("SKIPSERVE_GEMM_PREFETCH");
            sk_switches_reload();
            if (memcmp(y0, y1, sizeof(float) * (size_t)(rows * c->N)))
                fail_msg("%d threads, %lld rows K %lld N %lld: the prefetch tile differs from "
                         "the plain one",
                         threads[t], (long long)rows, (long long)c->K, (long long)c->N);
            free(x);
            free(r);
            free(y0);
            free(y1);
            sk_graph_free(g);
        }
        if (pool)
            sk_pool_destroy(pool);
    }
    sk_cpu_set_level(sk_cpu_detected());
}

/* ---- what is not fused -------------------------------------------------------- */

static int count_op(const sk_graph *g, sk_op op)
{
    int k = 0;
    for (int i = 0; i < g->nnodes; i++)
        k += g->nodes[i].op == op;
    return k;
}

static void test_not_fused(void **state)
{
    (void)state;
    char err[256];
    /* 1. the GELU's input is also a graph output: MatMul + bias fused, the
     * GELU's five nodes stay (the value they read must still exist) */
    {
        sk_graph *g = sk_graph_new();
        int a = val(g, "A");
        g->values[a].dtype = SK_F32;
        g->values[a].shape = (sk_shape){2, {SK_DIM_SYMBOLIC, 8}};
        sk_graph_add_input(g, a);
        int64_t wd[2] = {8, 5}, n = 5;
        int y = bin(g, SK_OP_ADD, bin(g, SK_OP_MATMUL, a, add_const(g, "W", 2, wd)),
                    add_const(g, "b", 1, &n));
        sk_graph_add_output(g, y);
        sk_graph_add_output(g, gelu_nodes(g, SK_GELU_ERF, y));
        assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
        assert_int_equal(count_op(g, SK_OP_MATMUL_FUSED), 1);
        assert_int_equal(count_op(g, SK_OP_ERF), 1);
        assert_int_equal(g->nnodes, 6);
        sk_graph_free(g);
    }
    /* 2. a constant [M, N] addend is not a bias (it would broadcast
     * differently for other batch sizes): the Add stays */
    {
        sk_graph *g = sk_graph_new();
        int a = val(g, "A");
        g->values[a].dtype = SK_F32;
        g->values[a].shape = (sk_shape){2, {4, 8}};
        sk_graph_add_input(g, a);
        int64_t wd[2] = {8, 5}, cd[2] = {4, 5};
        int y = bin(g, SK_OP_ADD, bin(g, SK_OP_MATMUL, a, add_const(g, "W", 2, wd)),
                    add_const(g, "C", 2, cd));
        sk_graph_add_output(g, y);
        assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
        assert_int_equal(count_op(g, SK_OP_MATMUL_FUSED), 1);
        assert_int_equal(count_op(g, SK_OP_ADD), 1);
        sk_graph_free(g);
    }
    /* 3. B computed at run time (attention's Q K^T): no fusion */
    {
        sk_graph *g = sk_graph_new();
        int a = val(g, "A"), b = val(g, "B");
        g->values[a].dtype = g->values[b].dtype = SK_F32;
        g->values[a].shape = (sk_shape){2, {4, 8}};
        g->values[b].shape = (sk_shape){2, {8, 4}};
        sk_graph_add_input(g, a);
        sk_graph_add_input(g, b);
        sk_graph_add_output(g, bin(g, SK_OP_MATMUL, a, b));
        assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
        assert_int_equal(count_op(g, SK_OP_MATMUL), 1);
        assert_int_equal(count_op(g, SK_OP_MATMUL_FUSED), 0);
        sk_graph_free(g);
    }
}

/* A GELU constant off by more than the tolerance is another function: the
 * nodes stay and the result is still right. */
static void test_wrong_constant_not_fused(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    int a = val(g, "A");
    g->values[a].dtype = SK_F32;
    g->values[a].shape = (sk_shape){2, {3, 4}};
    sk_graph_add_input(g, a);
    int64_t wd[2] = {4, 6};
    int x = bin(g, SK_OP_MATMUL, a, add_const(g, "W", 2, wd));
    int d = bin(g, SK_OP_DIV, x, add_scalar(g, "notsqrt2", 1.5f));
    int e = un(g, SK_OP_ERF, d);
    int s = bin(g, SK_OP_ADD, e, add_scalar(g, "one", 1.0f));
    int m = bin(g, SK_OP_MUL, x, s);
    sk_graph_add_output(g, bin(g, SK_OP_MUL, m, add_scalar(g, "half", 0.5f)));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    assert_int_equal(count_op(g, SK_OP_MATMUL_FUSED), 1);
    assert_int_equal(count_op(g, SK_OP_ERF), 1);
    assert_int_equal(g->nnodes, 6);
    sk_graph_free(g);
}

/* ---- attention: [Div|Mul](Q, c) -> MatMul(Kt) -> Softmax -> MatMul(V) ---------- */

typedef struct att_case {
    int rank; /* 3 [H, M, D] or 4 [B, H, M, D] (first dim symbolic) */
    int64_t d0, h, M, D, L, E;
    int q_op; /* 0 none, 1 Div, 2 Mul */
    float c;
} att_case;

static void att_set(sk_graph *g, const char *name, const att_case *c, int64_t r, int64_t k)
{
    int v = val(g, name);
    g->values[v].dtype = SK_F32;
    g->values[v].shape.rank = c->rank;
    g->values[v].shape.dim[0] = SK_DIM_SYMBOLIC;
    if (c->rank == 4)
        g->values[v].shape.dim[1] = c->h;
    g->values[v].shape.dim[c->rank - 2] = r;
    g->values[v].shape.dim[c->rank - 1] = k;
    sk_graph_add_input(g, v);
}

static sk_graph *att_build(const att_case *c)
{
    char err[256];
    sk_graph *g = sk_graph_new();
    att_set(g, "Q", c, c->M, c->D);
    att_set(g, "Kt", c, c->D, c->L);
    att_set(g, "V", c, c->L, c->E);
    int q = val(g, "Q");
    if (c->q_op)
        q = bin(g, c->q_op == 1 ? SK_OP_DIV : SK_OP_MUL, q, add_scalar(g, "c", c->c));
    int s = un(g, SK_OP_SOFTMAX, bin(g, SK_OP_MATMUL, q, val(g, "Kt")));
    sk_graph_add_output(g, bin(g, SK_OP_MATMUL, s, val(g, "V")));
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

static float *att_run(const sk_graph *g, const att_case *c, sk_isa level, float *const *x,
                      sk_pool *pool, int64_t *ny, int count_allocs)
{
    char err[256];
    sk_isa keep = sk_cpu_level();
    sk_cpu_set_level(level);
    int64_t rc[3][2] = {{c->M, c->D}, {c->D, c->L}, {c->L, c->E}};
    sk_tensor in[3];
    for (int i = 0; i < 3; i++) {
        in[i] = (sk_tensor){SK_F32, {c->rank, {c->d0, c->h}}, NULL};
        in[i].shape.dim[c->rank - 2] = rc[i][0];
        in[i].shape.dim[c->rank - 1] = rc[i][1];
    }
    sk_plan *p;
    if (sk_plan_create(g, in, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *d[3] = {x[0], x[1], x[2]};
    (void)count_allocs;
#ifdef HAVE_COUNTER
    nallocs = 0;
    counting = count_allocs;
#endif
    int r = sk_plan_run(p, d, err, sizeof err);
#ifdef HAVE_COUNTER
    counting = 0;
    if (count_allocs && nallocs)
        fail_msg("a fast _AttentionFused run allocated %ld times", (long)nallocs);
#endif
    if (r)
        fail_msg("run: %s", err);
    const sk_tensor *o = sk_plan_output(p, 0);
    *ny = sk_shape_numel(&o->shape);
    float *y = malloc(sizeof(float) * (size_t)*ny);
    memcpy(y, o->data, sizeof(float) * (size_t)*ny);
    sk_plan_free(p);
    sk_cpu_set_level(keep);
    return y;
}

static void att_check(const att_case *c, sk_pool *pool)
{
    char err[256];
    sk_graph *gr = att_build(c), *go = att_build(c);
    if (sk_graph_optimize(go, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    if (go->nnodes != 1 || go->nodes[0].op != SK_OP_ATTENTION_FUSED)
        fail_msg("attention M %lld D %lld L %lld E %lld q_op %d: %d nodes, first %s",
                 (long long)c->M, (long long)c->D, (long long)c->L, (long long)c->E, c->q_op,
                 go->nnodes, sk_op_name(go->nodes[0].op));
    assert_int_equal(sk_attr_int(&go->nodes[0], "q_op", -1), c->q_op);
    int64_t items = c->d0 * (c->rank == 4 ? c->h : 1);
    int64_t n[3] = {items * c->M * c->D, items * c->D * c->L, items * c->L * c->E};
    float *x[3];
    for (int i = 0; i < 3; i++) {
        x[i] = malloc(sizeof(float) * (size_t)(n[i] > 0 ? n[i] : 1));
        for (int64_t k = 0; k < n[i]; k++)
            x[i][k] = frand() * (i < 2 ? 3.0f : 1.0f); /* scores of a few units */
    }
    int64_t n1, n2;
    float *yr = att_run(gr, c, SK_ISA_SCALAR, x, pool, &n1, 0);
    float *yo = att_run(go, c, sk_cpu_level(), x, pool, &n2, sk_cpu_level() > SK_ISA_SCALAR);
    assert_int_equal(n1, items * c->M * c->E);
    assert_int_equal(n1, n2);
    /* scores carry ~D roundings (x 9 for |q||k|), the fast path scales S
     * instead of Q (the same for c = 8), P V adds ~L more */
    double tol = (double)(9 * c->D + c->L + 32) * FLT_EPSILON * 4.0;
    for (int64_t i = 0; i < n1; i++)
        if (!(fabs(yr[i] - yo[i]) <= tol))
            fail_msg("[%s] attention items %lld M %lld D %lld L %lld E %lld q_op %d c %g: "
                     "y[%lld] = %.8g, unfused %.8g (tol %.3g)",
                     sk_isa_name(sk_cpu_level()), (long long)items, (long long)c->M,
                     (long long)c->D, (long long)c->L, (long long)c->E, c->q_op, c->c,
                     (long long)i, yo[i], yr[i], tol);
    for (int i = 0; i < 3; i++)
        free(x[i]);
    free(yr);
    free(yo);
    sk_graph_free(gr);
    sk_graph_free(go);
}

static void att_cases(sk_pool *pool)
{
    for (int t = 0; t < 20; t++) {
        att_case c;
        c.rank = irand(3, 4);
        c.d0 = irand(1, 3);
        c.h = c.rank == 4 ? irand(1, 4) : 0;
        c.M = irand(0, 4) == 0 ? irand(150, 330) : irand(1, 70);
        c.D = irand(1, 70);
        c.L = irand(0, 4) == 0 ? irand(150, 400) : irand(1, 70);
        c.E = irand(1, 70);
        c.q_op = irand(0, 2);
        c.c = c.q_op == 1 ? (irand(0, 1) ? 8.0f : 3.7f) : 0.125f;
        att_check(&c, pool);
    }
    /* ViT-small (3 heads) and ViT-B/16 (12 heads) at batch 1 and 2 */
    att_case vit[] = {{3, 3, 0, 197, 64, 197, 64, 1, 8.0f},
                      {4, 2, 12, 197, 64, 197, 64, 1, 8.0f}};
    for (size_t i = 0; i < sizeof vit / sizeof vit[0]; i++)
        att_check(&vit[i], pool);
}

static void test_attention_fused(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(3);
    for (int l = SK_ISA_SCALAR; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        att_cases(NULL);
        att_cases(pool);
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pool);
}

/* Not fused: the scores are also a graph output; Softmax over another
 * axis; V's batch dims broadcast (one V for every head). */
static void test_attention_not_fused(void **state)
{
    (void)state;
    char err[256];
    for (int k = 0; k < 3; k++) {
        att_case c = {3, 2, 0, 5, 4, 6, 3, 1, 8.0f};
        sk_graph *g = sk_graph_new();
        att_set(g, "Q", &c, c.M, c.D);
        att_set(g, "Kt", &c, c.D, c.L);
        int v = val(g, "V");
        g->values[v].dtype = SK_F32;
        g->values[v].shape = k == 2 ? (sk_shape){3, {1, 6, 3}} : (sk_shape){3, {SK_DIM_SYMBOLIC, 6, 3}};
        sk_graph_add_input(g, v);
        int s = bin(g, SK_OP_MATMUL, bin(g, SK_OP_DIV, val(g, "Q"), add_scalar(g, "c", 8.0f)),
                    val(g, "Kt"));
        int p = un(g, SK_OP_SOFTMAX, s);
        if (k == 1)
            sk_node_set_int(g, g->nnodes - 1, "axis", 1);
        sk_graph_add_output(g, bin(g, SK_OP_MATMUL, p, v));
        if (k == 0)
            sk_graph_add_output(g, s);
        assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
        assert_int_equal(count_op(g, SK_OP_ATTENTION_FUSED), 0);
        assert_int_equal(count_op(g, SK_OP_SOFTMAX), 1);
        sk_graph_free(g);
    }
}

/* ---- heads read in place: torch's packed in-projection -> _AttentionHeads -------
 * QKV [S, B, 3E] -> Slice -> Reshape [S, B*H, D] -> Transpose (K: 1,2,0) ->
 * Div -> MatMul -> Softmax -> MatMul [-> Transpose(1,0,2)], as torch exports
 * nn.MultiheadAttention. With the last Transpose the pass makes one
 * _AttentionHeads node; without it the same graph stays _AttentionFused
 * with the copies. Checked: the unfused graph on the scalar reference
 * against the folded one at every level (serial and threaded), and the
 * folded fast kernel bit for bit against _AttentionFused on the copies at
 * the same level. */
typedef struct heads_case {
    int64_t S, B, H, D;
    int order[3]; /* which third of QKV is Q, K, V */
} heads_case;

static int add_i64(sk_graph *g, const char *name, int n, const int64_t *v)
{
    sk_shape s = {1, {n}};
    int id = sk_graph_add_const(g, name, SK_I64, &s, v);
    assert_true(id >= 0);
    return id;
}

static int node1(sk_graph *g, sk_op op, int nin, const int *in)
{
    static int seq;
    char name[32];
    snprintf(name, sizeof name, "h%d", seq++);
    int o = val(g, name);
    assert_true(sk_graph_add_node(g, op, name, nin, in, 1, &o) >= 0);
    return o;
}

/* pre 1: QKV = Transpose(1,0,2) of X [B, S, PRE_E] -> MatMul(W) -> Add(bias),
 * with Shape(QKV) -> Gather(-1) as a second graph output; pre 2: the same
 * with Gather(0), whose value the layout flip would change. */
enum { PRE_E = 20 };
static int heads_pre = 0;
static sk_graph *heads_build2(const heads_case *c, int tail, int slice_step, int proj);
static sk_graph *heads_build(const heads_case *c, int tail, int slice_step)
{
    return heads_build2(c, tail, slice_step, 0);
}

/* proj 1: torch's out-projection and residual after the heads,
 *   Reshape [S*B, E] -> Gemm(W [N, E], transB, bias) -> Reshape [S, B, N]
 *   -> Transpose(1,0,2) -> Add(R [B, S, N] input)
 * with a Shape of the Gemm's output nothing needs (torch reads it for the
 * Reshape); proj 2: the Gemm's output is also a graph output. */
enum { PROJ_N = 24 };
static sk_graph *heads_build2(const heads_case *c, int tail, int slice_step, int proj)
{
    char err[256], nm[32];
    sk_graph *g = sk_graph_new();
    int x;
    const int64_t E = c->H * c->D;
    if (heads_pre) {
        int xi = val(g, "X");
        g->values[xi].dtype = SK_F32;
        g->values[xi].shape = (sk_shape){3, {c->B, c->S, PRE_E}};
        sk_graph_add_input(g, xi);
        int t = node1(g, SK_OP_TRANSPOSE, 1, &xi);
        int64_t perm[3] = {1, 0, 2}, wd[2] = {PRE_E, 3 * E}, bd[1] = {3 * E};
        sk_node_set_ints(g, g->nnodes - 1, "perm", perm, 3);
        x = bin(g, SK_OP_ADD, bin(g, SK_OP_MATMUL, t, add_const(g, "Wq", 2, wd)),
                add_const(g, "bq", 1, bd));
    } else {
        x = val(g, "QKV");
        /* with the out-projection both inputs have the batch fixed: two
         * symbolic dims could differ, and the residual would not be fused */
        g->values[x].dtype = SK_F32;
        g->values[x].shape = (sk_shape){3, {c->S, proj ? c->B : SK_DIM_SYMBOLIC, 3 * E}};
        sk_graph_add_input(g, x);
    }
    int64_t shape[3] = {0, -1, c->D}, axis = -1, step = slice_step;
    int part[3];
    for (int i = 0; i < 3; i++) {
        int64_t b = c->order[i] * E, e = b + E;
        snprintf(nm, sizeof nm, "b%d", i);
        int in[5] = {x, add_i64(g, nm, 1, &b), 0, 0, 0};
        snprintf(nm, sizeof nm, "e%d", i);
        in[2] = add_i64(g, nm, 1, &e);
        snprintf(nm, sizeof nm, "a%d", i);
        in[3] = add_i64(g, nm, 1, &axis);
        snprintf(nm, sizeof nm, "s%d", i);
        in[4] = add_i64(g, nm, 1, &step);
        int sl = node1(g, SK_OP_SLICE, 5, in);
        snprintf(nm, sizeof nm, "r%d", i);
        int rin[2] = {sl, add_i64(g, nm, 3, shape)};
        int r = node1(g, SK_OP_RESHAPE, 2, rin);
        part[i] = node1(g, SK_OP_TRANSPOSE, 1, &r);
        int64_t perm[3] = {1, i == 1 ? 2 : 0, i == 1 ? 0 : 2};
        sk_node_set_ints(g, g->nnodes - 1, "perm", perm, 3);
    }
    int q = bin(g, SK_OP_DIV, part[0], add_scalar(g, "c", 8.0f));
    int pr = un(g, SK_OP_SOFTMAX, bin(g, SK_OP_MATMUL, q, part[1]));
    int y = bin(g, SK_OP_MATMUL, pr, part[2]);
    if (tail) {
        y = node1(g, SK_OP_TRANSPOSE, 1, &y);
        int64_t perm[3] = {1, 0, 2};
        sk_node_set_ints(g, g->nnodes - 1, "perm", perm, 3);
    }
    if (proj) {
        int64_t s2[2] = {-1, E}, s3[3] = {c->S, -1, PROJ_N}, wd[2] = {PROJ_N, E}, bd[1] = {PROJ_N};
        int rin[2] = {y, add_i64(g, "p2", 2, s2)};
        int r3 = node1(g, SK_OP_RESHAPE, 2, rin);
        int gin[3] = {r3, add_const(g, "Wo", 2, wd), add_const(g, "bo", 1, bd)};
        int go = node1(g, SK_OP_GEMM, 3, gin);
        sk_node_set_int(g, g->nnodes - 1, "transB", 1);
        (void)node1(g, SK_OP_SHAPE, 1, &go); /* read by nothing */
        int r4in[2] = {go, add_i64(g, "p3", 3, s3)};
        int r4 = node1(g, SK_OP_RESHAPE, 2, r4in);
        int t5 = node1(g, SK_OP_TRANSPOSE, 1, &r4);
        int64_t perm[3] = {1, 0, 2};
        sk_node_set_ints(g, g->nnodes - 1, "perm", perm, 3);
        int r = val(g, "R");
        g->values[r].dtype = SK_F32;
        g->values[r].shape = (sk_shape){3, {c->B, c->S, PROJ_N}};
        sk_graph_add_input(g, r);
        y = bin(g, SK_OP_ADD, t5, r);
        if (proj == 2)
            sk_graph_add_output(g, go);
    }
    sk_graph_add_output(g, y);
    if (heads_pre) {
        int sh = node1(g, SK_OP_SHAPE, 1, &x);
        int64_t idx = heads_pre == 1 ? -1 : 0;
        sk_shape s0 = {0, {0}};
        int gin[2] = {sh, sk_graph_add_const(g, "gidx", SK_I64, &s0, &idx)};
        sk_graph_add_output(g, node1(g, SK_OP_GATHER, 2, gin));
    }
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

static float *heads_run(const sk_graph *g, const heads_case *c, sk_isa level, const float *x,
                        sk_pool *pool, int64_t *ny, const float *r)
{
    char err[256];
    sk_isa keep = sk_cpu_level();
    sk_cpu_set_level(level);
    sk_tensor in[2] = {{SK_F32, {3, {c->S, c->B, 3 * c->H * c->D}}, NULL},
                       {SK_F32, {3, {c->B, c->S, PROJ_N}}, NULL}};
    sk_plan *p;
    if (sk_plan_create(g, in, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *d[2] = {x, r};
    if (sk_plan_run(p, d, err, sizeof err))
        fail_msg("run: %s", err);
    const sk_tensor *o = sk_plan_output(p, 0);
    *ny = sk_shape_numel(&o->shape);
    float *y = malloc(sizeof(float) * (size_t)(*ny > 0 ? *ny : 1));
    memcpy(y, o->data, sizeof(float) * (size_t)*ny);
    sk_plan_free(p);
    sk_cpu_set_level(keep);
    return y;
}

static void heads_check(const heads_case *c, sk_pool *pool)
{
    char err[256];
    sk_graph *gr = heads_build(c, 1, 1), *go = heads_build(c, 1, 1), *gf = heads_build(c, 0, 1);
    if (sk_graph_optimize(go, 1, err, sizeof err) || sk_graph_optimize(gf, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    if (go->nnodes != 1 || go->nodes[0].op != SK_OP_ATTENTION_HEADS)
        fail_msg("heads S %lld B %lld H %lld D %lld: %d nodes, first %s", (long long)c->S,
                 (long long)c->B, (long long)c->H, (long long)c->D, go->nnodes,
                 sk_op_name(go->nodes[0].op));
    assert_int_equal(sk_attr_int(&go->nodes[0], "heads", 0), c->H);
    assert_int_equal(sk_attr_int(&go->nodes[0], "head_dim", 0), c->D);
    assert_int_equal(count_op(gf, SK_OP_ATTENTION_FUSED), 1);
    assert_int_equal(count_op(gf, SK_OP_ATTENTION_HEADS), 0);
    const int64_t S = c->S, BH = c->B * c->H, D = c->D, n = S * c->B * 3 * c->H * D;
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t k = 0; k < n; k++)
        x[k] = frand() * 3.0f;
    int64_t n1, n2, n3;
    float *yr = heads_run(gr, c, SK_ISA_SCALAR, x, pool, &n1, NULL);
    float *yo = heads_run(go, c, sk_cpu_level(), x, pool, &n2, NULL);
    float *yf = heads_run(gf, c, sk_cpu_level(), x, pool, &n3, NULL);
    assert_int_equal(n1, S * BH * D);
    assert_int_equal(n2, n1);
    assert_int_equal(n3, n1);
    double tol = (double)(9 * D + S + 32) * FLT_EPSILON * 4.0;
    for (int64_t s = 0; s < S; s++)
        for (int64_t i = 0; i < BH; i++)
            for (int64_t d = 0; d < D; d++) {
                int64_t at = (s * BH + i) * D + d; /* [S, B*H, D] */
                float f = yf[(i * S + s) * D + d]; /* [B*H, S, D]: no last Transpose */
                if (!(fabs(yr[at] - yo[at]) <= tol))
                    fail_msg("[%s] heads S %lld B %lld H %lld D %lld: y[%lld] = %.8g, unfused "
                             "%.8g", sk_isa_name(sk_cpu_level()), (long long)S, (long long)c->B,
                             (long long)c->H, (long long)D, (long long)at, yo[at], yr[at]);
                if (sk_cpu_level() > SK_ISA_SCALAR && memcmp(&f, &yo[at], sizeof f) != 0)
                    fail_msg("[%s] heads S %lld B %lld H %lld D %lld: y[%lld] = %.9g, "
                             "_AttentionFused on copies %.9g (not bit-identical)",
                             sk_isa_name(sk_cpu_level()), (long long)S, (long long)c->B,
                             (long long)c->H, (long long)D, (long long)at, yo[at], f);
            }
    free(x);
    free(yr);
    free(yo);
    free(yf);
    sk_graph_free(gr);
    sk_graph_free(go);
    sk_graph_free(gf);
}

/* The out-projection moved behind its Transpose: two nodes (heads written
 * batch-first, _MatMulFused with bias and residual) against the unfused
 * graph on the reference; not moved when the Gemm's output is a graph
 * output. */
static void proj_check(const heads_case *c, sk_pool *pool)
{
    char err[256];
    uint64_t seed = rng; /* the same random W and bias in both graphs */
    sk_graph *gr = heads_build2(c, 1, 1, 1);
    rng = seed;
    sk_graph *go = heads_build2(c, 1, 1, 1);
    if (sk_graph_optimize(go, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    if (go->nnodes != 2 || go->nodes[0].op != SK_OP_ATTENTION_HEADS ||
        go->nodes[1].op != SK_OP_MATMUL_FUSED || !sk_attr_int(&go->nodes[0], "batch_first", 0))
        fail_msg("out-projection S %lld B %lld: %d nodes, %s, %s, last %s", (long long)c->S,
                 (long long)c->B, go->nnodes, sk_op_name(go->nodes[0].op),
                 go->nnodes > 1 ? sk_op_name(go->nodes[1].op) : "-", sk_op_name(go->nodes[go->nnodes - 1].op));
    const int64_t n = c->S * c->B * 3 * c->H * c->D, nr = c->B * c->S * PROJ_N;
    float *x = malloc(sizeof(float) * (size_t)n), *r = malloc(sizeof(float) * (size_t)nr);
    for (int64_t k = 0; k < n; k++)
        x[k] = frand() * 3.0f;
    for (int64_t k = 0; k < nr; k++)
        r[k] = frand();
    int64_t n1, n2;
    float *yr = heads_run(gr, c, SK_ISA_SCALAR, x, pool, &n1, r);
    float *yo = heads_run(go, c, sk_cpu_level(), x, pool, &n2, r);
    assert_int_equal(n1, c->B * c->S * PROJ_N);
    assert_int_equal(n2, n1);
    double tol = (double)(9 * c->D + c->S + c->H * c->D + 64) * FLT_EPSILON * 8.0;
    for (int64_t i = 0; i < n1; i++)
        if (!(fabs(yr[i] - yo[i]) <= tol))
            fail_msg("[%s] out-projection S %lld B %lld H %lld D %lld: y[%lld] = %.8g, "
                     "unfused %.8g", sk_isa_name(sk_cpu_level()), (long long)c->S,
                     (long long)c->B, (long long)c->H, (long long)c->D, (long long)i, yo[i],
                     yr[i]);
    free(x);
    free(r);
    free(yr);
    free(yo);
    sk_graph_free(gr);
    sk_graph_free(go);
    /* the Gemm's output is a graph output: heads folded, the Gemm left */
    go = heads_build2(c, 1, 1, 2);
    assert_int_equal(sk_graph_optimize(go, 1, err, sizeof err), 0);
    assert_int_equal(count_op(go, SK_OP_ATTENTION_HEADS), 1);
    assert_int_equal(sk_attr_int(&go->nodes[0], "batch_first", 0), 0);
    assert_int_equal(count_op(go, SK_OP_MATMUL_FUSED), 0);
    sk_graph_free(go);
}

/* The in-projection before its Transpose: X [B, S, 20] -> Transpose ->
 * MatMul + bias -> heads -> out-projection + residual. Folded (QKV left
 * [B, S, 3E]) when its Shape is only read for the last dim; not when dim 0
 * is read. Against the unfused graph on the reference, and the Gather's
 * value checked. */
static void pre_check(const heads_case *c, int pre, sk_pool *pool)
{
    char err[256];
    heads_pre = pre;
    uint64_t seed = rng;
    sk_graph *gr = heads_build2(c, 1, 1, 1);
    rng = seed;
    sk_graph *go = heads_build2(c, 1, 1, 1);
    heads_pre = 0;
    if (sk_graph_optimize(go, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    int hi = -1;
    for (int ni = 0; ni < go->nnodes; ni++)
        if (go->nodes[ni].op == SK_OP_ATTENTION_HEADS)
            hi = ni;
    assert_true(hi >= 0);
    assert_int_equal(sk_attr_int(&go->nodes[hi], "qkv_batch_first", 0), pre == 1);
    assert_int_equal(count_op(go, SK_OP_TRANSPOSE), pre == 1 ? 0 : 1);
    const int64_t nx = c->B * c->S * PRE_E, nr = c->B * c->S * PROJ_N;
    float *x = malloc(sizeof(float) * (size_t)nx), *r = malloc(sizeof(float) * (size_t)nr);
    for (int64_t k = 0; k < nx; k++)
        x[k] = frand();
    for (int64_t k = 0; k < nr; k++)
        r[k] = frand();
    float *y[2];
    for (int v = 0; v < 2; v++) {
        sk_isa keep = sk_cpu_level();
        sk_cpu_set_level(v ? keep : SK_ISA_SCALAR);
        sk_tensor in[2] = {{SK_F32, {3, {c->B, c->S, PRE_E}}, NULL},
                           {SK_F32, {3, {c->B, c->S, PROJ_N}}, NULL}};
        sk_plan *p;
        if (sk_plan_create(v ? go : gr, in, pool, &p, err, sizeof err))
            fail_msg("plan: %s", err);
        const void *d[2] = {x, r};
        if (sk_plan_run(p, d, err, sizeof err))
            fail_msg("run: %s", err);
        const sk_tensor *o = sk_plan_output(p, 0), *gd = sk_plan_output(p, 1);
        assert_int_equal(sk_shape_numel(&o->shape), nr);
        int64_t want = pre == 1 ? 3 * c->H * c->D : c->S; /* QKV [S, B, 3E] */
        assert_int_equal(((const int64_t *)gd->data)[0], want);
        y[v] = malloc(sizeof(float) * (size_t)nr);
        memcpy(y[v], o->data, sizeof(float) * (size_t)nr);
        sk_plan_free(p);
        sk_cpu_set_level(keep);
    }
    double tol = (double)(9 * c->D + c->S + c->H * c->D + 64) * FLT_EPSILON * 8.0;
    for (int64_t i = 0; i < nr; i++)
        if (!(fabs(y[0][i] - y[1][i]) <= tol))
            fail_msg("[%s] in-projection flip %d S %lld B %lld: y[%lld] = %.8g, unfused %.8g",
                     sk_isa_name(sk_cpu_level()), pre, (long long)c->S, (long long)c->B,
                     (long long)i, y[1][i], y[0][i]);
    free(x);
    free(r);
    free(y[0]);
    free(y[1]);
    sk_graph_free(gr);
    sk_graph_free(go);
}

static void test_attention_heads(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(3);
    heads_case cases[] = {
        {1, 1, 1, 1, {1, 2, 0}}, {2, 1, 1, 1, {0, 1, 2}}, {1, 1, 1, 2, {0, 1, 2}}, {1, 2, 1, 1, {0, 1, 2}},
        {197, 1, 3, 64, {0, 1, 2}},  /* vit_small, batch 1 */
        {197, 2, 3, 64, {0, 1, 2}},  /* and batch 2 */
        {50, 3, 12, 16, {0, 1, 2}},  /* many heads */
        {37, 2, 5, 13, {2, 0, 1}},   /* odd sizes, parts out of order */
        {1, 1, 1, 1, {1, 2, 0}},
    };
    for (int l = SK_ISA_SCALAR; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            heads_check(&cases[i], NULL);
            heads_check(&cases[i], pool);
            proj_check(&cases[i], i & 1 ? pool : NULL);
            pre_check(&cases[i], 1, i & 1 ? NULL : pool);
            pre_check(&cases[i], 2, pool);
        }
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pool);
}

/* Not folded: a Slice with step 2 (not a block of columns); a Reshape
 * whose output another node reads. Bounds that do not give H x D
 * columns (a hand-made node) fail the plan with a message. */
static void test_attention_heads_not_folded(void **state)
{
    (void)state;
    char err[256];
    heads_case c = {9, 2, 2, 4, {0, 1, 2}};
    sk_graph *g = heads_build(&c, 1, 2);
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    assert_int_equal(count_op(g, SK_OP_ATTENTION_HEADS), 0);
    sk_graph_free(g);

    g = heads_build(&c, 1, 1);
    int r = -1; /* the first Reshape's output also a graph output */
    for (int ni = 0; ni < g->nnodes && r < 0; ni++)
        if (g->nodes[ni].op == SK_OP_RESHAPE)
            r = g->nodes[ni].out[0];
    sk_graph_add_output(g, r);
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    assert_int_equal(count_op(g, SK_OP_ATTENTION_HEADS), 0);
    assert_int_equal(count_op(g, SK_OP_ATTENTION_FUSED), 1);
    sk_graph_free(g);

    g = heads_build(&c, 1, 1);
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    assert_int_equal(count_op(g, SK_OP_ATTENTION_HEADS), 1);
    /* K's bounds one column short */
    int e1 = g->nodes[0].in[4];
    ((int64_t *)g->values[e1].data)[0] -= 1;
    sk_tensor in = {SK_F32, {3, {c.S, c.B, 3 * c.H * c.D}}, NULL};
    sk_plan *p = NULL;
    for (int l = SK_ISA_SCALAR; l <= (int)sk_cpu_detected(); l += (int)sk_cpu_detected()) {
        sk_cpu_set_level((sk_isa)l);
        err[0] = 0;
        assert_true(sk_plan_create(g, &in, NULL, &p, err, sizeof err) < 0);
        if (!strstr(err, "K takes columns [8, 15) of QKV's 24"))
            fail_msg("bad bounds: %s", err);
        if (l == (int)sk_cpu_detected())
            break;
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gelu_loops),
        cmocka_unit_test(test_matmul_fused),
        cmocka_unit_test(test_matmul_kc),
        cmocka_unit_test(test_matmul_mc),
        cmocka_unit_test(test_matmul_mr12),
        cmocka_unit_test(test_matmul_slices),
        cmocka_unit_test(test_matmul_pf),
        cmocka_unit_test(test_not_fused),
        cmocka_unit_test(test_wrong_constant_not_fused),
        cmocka_unit_test(test_attention_fused),
        cmocka_unit_test(test_attention_not_fused),
        cmocka_unit_test(test_attention_heads),
        cmocka_unit_test(test_attention_heads_not_folded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
