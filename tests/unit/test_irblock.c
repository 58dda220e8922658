/* test_irblock.c — the inverted-residual block fusion (issue 24:
 * engine/passes/fuse_irblock.c, kernels/fast_irblock.c,
 * kernels/ref/fused_irblock.c). A MobileNetV2 block built as ONNX writes it
 * (Conv 1x1 -> Clip -> Conv depthwise 3x3 -> Clip -> Conv 1x1 (-> Add X))
 * is run three ways at every SIMD level the CPU has and 1, 2 and 3
 * threads:
 *   - as loaded, at the scalar level: the reference Conv / Clip / Add
 *     kernels (the independent reference);
 *   - optimized with the fusion off (SKIPSERVE_FUSE_IRBLOCK=0): three
 *     fast _ConvFused steps;
 *   - optimized: one _IRBlockFused step.
 * The fused output must be bit-identical to the unfused fast path (the same
 * microkernels over the same K blocks and the same depthwise sums: the row
 * blocks and threads must not change a bit), within rounding of the
 * reference, and the fused node run by its own reference kernel (the
 * scalar level) within rounding too. Also: what must stay unfused is not
 * fused, a bad input shape is an error, and a fused run allocates nothing. */
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
#include "kernels/fast.h"
#include "threadpool.h"

#include "alloc_counter.h"
#include "kernels/switches.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)((rng >> 20) % 200001) / 100000.0 - 1.0);
}

typedef struct ir_case {
    int N, C, E, M, H, W, s, res;
    int pad;       /* depthwise pads (1 fuses) */
    int k;         /* depthwise kernel (3 fuses) */
    int e_output;  /* the expanded tensor is also a graph output (the expand stays) */
    int noexp;     /* no expand conv: X (C = E channels) -> depthwise -> project */
} ir_case;

static int val(sk_graph *g, const char *name)
{
    int id = sk_graph_value(g, name);
    assert_true(id >= 0);
    return id;
}

static void add_const(sk_graph *g, const char *name, int rank, const int64_t *dims, float scale)
{
    sk_shape s;
    s.rank = rank;
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= s.dim[i] = dims[i];
    float *d = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        d[i] = scale * frand();
    assert_true(sk_graph_add_const(g, name, SK_F32, &s, d) >= 0);
    free(d);
}

static int out_dim(const ir_case *c, int in) { return (in + 2 * c->pad - c->k) / c->s + 1; }

static int conv(sk_graph *g, const char *name, const char *x, const char *w, const char *b,
                const char *y, int k, int s, int pad, int group)
{
    int in[3] = {val(g, x), val(g, w), val(g, b)}, o = val(g, y);
    int ni = sk_graph_add_node(g, SK_OP_CONV, name, 3, in, 1, &o);
    int64_t st[2] = {s, s}, pads[4] = {pad, pad, pad, pad}, ks[2] = {k, k};
    sk_node_set_ints(g, ni, "strides", st, 2);
    sk_node_set_ints(g, ni, "pads", pads, 4);
    sk_node_set_ints(g, ni, "kernel_shape", ks, 2);
    sk_node_set_int(g, ni, "group", group);
    return ni;
}

static void clip6(sk_graph *g, const char *name, const char *x, const char *y)
{
    int in[3] = {val(g, x), val(g, "zero"), val(g, "six")}, o = val(g, y);
    sk_graph_add_node(g, SK_OP_CLIP, name, 3, in, 1, &o);
}

/* The block with weights from `seed` (the same graph for the same seed). */
static sk_graph *build(const ir_case *c, uint64_t seed)
{
    char err[256];
    rng = seed;
    sk_graph *g = sk_graph_new();
    int x = val(g, "X");
    g->values[x].dtype = SK_F32;
    g->values[x].shape = (sk_shape){4, {SK_DIM_SYMBOLIC, c->C, c->H, c->W}};
    sk_graph_add_input(g, x);
    sk_shape sc = {0, {0}};
    float zero = 0.0f, six = 6.0f;
    sk_graph_add_const(g, "zero", SK_F32, &sc, &zero);
    sk_graph_add_const(g, "six", SK_F32, &sc, &six);
    int64_t w1[4] = {c->E, c->C, 1, 1}, wd[4] = {c->E, 1, c->k, c->k}, w2[4] = {c->M, c->E, 1, 1};
    int64_t be[1] = {c->E}, bm[1] = {c->M};
    add_const(g, "W1", 4, w1, 1.0f);
    add_const(g, "B1", 1, be, 1.0f);
    add_const(g, "Wd", 4, wd, 1.0f);
    add_const(g, "Bd", 1, be, 1.0f);
    add_const(g, "W2", 4, w2, 0.5f);
    add_const(g, "B2", 1, bm, 1.0f);
    if (!c->noexp) {
        conv(g, "expand", "X", "W1", "B1", "e", 1, 1, 0, 1);
        clip6(g, "expand_clip", "e", "e6");
    }
    conv(g, "dw", c->noexp ? "X" : "e6", "Wd", "Bd", "d", c->k, c->s, c->pad, c->E);
    clip6(g, "dw_clip", "d", "d6");
    conv(g, "project", "d6", "W2", "B2", c->res ? "p" : "Y", 1, 1, 0, 1);
    if (c->res) {
        int in[2] = {val(g, "X"), val(g, "p")}, o = val(g, "Y");
        sk_graph_add_node(g, SK_OP_ADD, "add", 2, in, 1, &o);
    }
    sk_graph_add_output(g, val(g, "Y"));
    if (c->e_output)
        sk_graph_add_output(g, val(g, "e6"));
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

static int count_op(const sk_graph *g, sk_op op)
{
    int k = 0;
    for (int i = 0; i < g->nnodes; i++)
        k += g->nodes[i].op == op;
    return k;
}

/* Plan g for c->N images and run it on x; returns a copy of output 0. */
static float *run(const sk_graph *g, const ir_case *c, const float *x, sk_pool *pool,
                  int count_allocs, int64_t *ny)
{
    char err[256];
    sk_tensor in;
    memset(&in, 0, sizeof in);
    in.dtype = SK_F32;
    in.shape = (sk_shape){4, {c->N, c->C, c->H, c->W}};
    sk_plan *p;
    if (sk_plan_create(g, &in, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *data[1] = {x};
    if (sk_plan_run(p, data, err, sizeof err))
        fail_msg("run: %s", err);
#ifdef HAVE_COUNTER
    if (count_allocs) {
        nallocs = 0;
        counting = 1;
        int rc = sk_plan_run(p, data, err, sizeof err);
        counting = 0;
        assert_int_equal(rc, 0);
        assert_int_equal(nallocs, 0);
    }
#else
    (void)count_allocs;
#endif
    const sk_tensor *y = sk_plan_output(p, 0);
    *ny = sk_shape_numel(&y->shape);
    float *copy = malloc(sizeof(float) * (size_t)*ny);
    memcpy(copy, y->data, sizeof(float) * (size_t)*ny);
    sk_plan_free(p);
    return copy;
}

static sk_graph *optimized(const ir_case *c, uint64_t seed, int fuse)
{
    char err[256];
    sk_graph *g = build(c, seed);
    setenv("SKIPSERVE_FUSE_IRBLOCK", fuse ? "force" : "0", 1);
    int rc = sk_graph_optimize(g, 1, err, sizeof err);
    unsetenv("SKIPSERVE_FUSE_IRBLOCK");
    if (rc)
        fail_msg("optimize: %s", err);
    return g;
}

static void check_case(const ir_case *c, sk_pool **pools, int npools)
{
    const uint64_t seed = 0x1234567ull * (uint64_t)(c->C + 7 * c->H + 131 * c->s);
    int64_t nx = (int64_t)c->N * c->C * c->H * c->W, nr, n;
    float *x = malloc(sizeof(float) * (size_t)nx);
    rng = seed ^ 0xabcdefull;
    for (int64_t i = 0; i < nx; i++)
        x[i] = 2.0f * frand();
    /* the reference: the graph as loaded, reference kernels */
    sk_graph *gr = build(c, seed);
    sk_cpu_set_level(SK_ISA_SCALAR);
    float *yr = run(gr, c, x, NULL, 0, &nr);
    sk_cpu_set_level(sk_cpu_detected());
    assert_int_equal(nr, (int64_t)c->N * c->M * out_dim(c, c->H) * out_dim(c, c->W));
    double big = 1.0;
    for (int64_t i = 0; i < nr; i++)
        big = fmax(big, fabs(yr[i]));
    const double tol = (double)(c->E + c->C + 16) * FLT_EPSILON * 8.0 * big;
    char what[160];
    snprintf(what, sizeof what, "N %d C %d E %d M %d %dx%d stride %d%s", c->N, c->C, c->E, c->M,
             c->H, c->W, c->s, c->res ? " +residual" : "");
    for (int l = SK_ISA_SCALAR + 1; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        if (!sk_kconfig_for((sk_isa)l))
            continue;
        sk_graph *gf = optimized(c, seed, 1), *gu = optimized(c, seed, 0);
        assert_int_equal(count_op(gf, SK_OP_IRBLOCK_FUSED), 1);
        assert_int_equal(count_op(gf, SK_OP_CONV_FUSED), 0);
        assert_int_equal(count_op(gu, SK_OP_IRBLOCK_FUSED), 0);
        assert_int_equal(count_op(gu, SK_OP_CONV_FUSED), c->noexp ? 2 : 3);
        float *yu = run(gu, c, x, NULL, 0, &n);
        for (int pi = 0; pi < npools; pi++) {
            float *yf = run(gf, c, x, pools[pi], pi == 0, &n);
            assert_int_equal(n, nr);
            for (int64_t i = 0; i < n; i++) {
                if (memcmp(&yf[i], &yu[i], sizeof(float)))
                    fail_msg("[%s, %d threads] y[%lld] = %.9g, unfused %.9g: %s",
                             sk_isa_name((sk_isa)l), sk_pool_size(pools[pi]), (long long)i, yf[i],
                             yu[i], what);
                if (!(fabs(yf[i] - yr[i]) <= tol))
                    fail_msg("[%s] y[%lld] = %.7g, reference %.7g (tol %.3g): %s",
                             sk_isa_name((sk_isa)l), (long long)i, yf[i], yr[i], tol, what);
            }
            free(yf);
        }
        /* the fused node's own reference kernel (a plan at the scalar level) */
        sk_cpu_set_level(SK_ISA_SCALAR);
        float *yfr = run(gf, c, x, NULL, 0, &n);
        for (int64_t i = 0; i < n; i++)
            if (!(fabs(yfr[i] - yr[i]) <= tol))
                fail_msg("fused reference y[%lld] = %.7g, reference %.7g: %s", (long long)i, yfr[i],
                         yr[i], what);
        free(yfr);
        free(yu);
        sk_graph_free(gf);
        sk_graph_free(gu);
    }
    sk_cpu_set_level(sk_cpu_detected());
    free(yr);
    free(x);
    sk_graph_free(gr);
}

static void test_matches_unfused_and_reference(void **state)
{
    (void)state;
    sk_pool *pools[3] = {NULL, sk_pool_create(2), sk_pool_create(3)};
    /* N, C, E, M, H, W, s, res, pad, k */
    const ir_case cases[] = {
        {1, 16, 96, 24, 56, 56, 2, 0, 1, 3, 0, 0},  /* MobileNetV2 block 2, smaller map */
        {2, 24, 144, 24, 28, 28, 1, 1, 1, 3, 0, 0}, /* block 3: the skip */
        {1, 32, 192, 32, 14, 14, 1, 1, 1, 3, 0, 0},
        {3, 160, 960, 32, 7, 7, 1, 0, 1, 3, 0, 0},  /* deep: several K blocks in both GEMMs */
        {2, 5, 30, 7, 13, 11, 2, 0, 1, 3, 0, 0},    /* odd sizes, channels not a multiple of 8 */
        {1, 3, 17, 3, 9, 12, 1, 1, 1, 3, 0, 0},
        {2, 6, 12, 5, 1, 1, 1, 0, 1, 3, 0, 0},      /* a 1x1 map: every tap but the centre pads */
        {1, 8, 48, 16, 2, 3, 2, 0, 1, 3, 0, 0},
        {2, 6, 12, 5, 1, 1, 2, 0, 1, 3, 0, 0},   /* stride 2 on a 1x1 map, and on a column */
        {1, 5, 10, 5, 9, 1, 2, 0, 1, 3, 0, 0},
        {1, 4, 24, 8, 150, 7, 1, 0, 1, 3, 0, 0},    /* more rows than one block holds */
        {1, 4, 24, 8, 151, 9, 2, 0, 1, 3, 0, 0},
        /* no expand (MobileNetV2's first block: E = X) */
        {2, 32, 32, 16, 28, 28, 1, 0, 1, 3, 0, 1},
        {1, 12, 12, 12, 15, 13, 1, 1, 1, 3, 0, 1},
        {2, 20, 20, 8, 17, 10, 2, 0, 1, 3, 0, 1},
        {1, 9, 9, 5, 130, 6, 1, 0, 1, 3, 0, 1},
    };
    /* the unfused graph's 7x7 projections run as pixel rows, whose FP32 K
     * blocks are longer than the driver's by default (fast_conv_pixrows.c
     * pixrows_kc): the fused block repeats the unfused steps' arithmetic
     * with the driver's blocks, so compare against those */
    setenv("SKIPSERVE_PIXROWS_KC", "0", 1);
    setenv("SKIPSERVE_IM2COL_KC", "0", 1); /* the same for im2col-gemm's longer blocks */
    sk_switches_reload();
    /* each case with the level's default, then with a chunk's halo rows of
     * E carried from the chunk its thread ran just before (session 21 x2t;
     * the default on the Intel AVX-512 config) forced on and off: batch 1's
     * 14x14, 150- and 9-row maps on 2-3 threads cross chunks that way,
     * the 150-row one from a chunk whose last block is shorter than R */
    static const char *carry[] = {NULL, "1", "0"};
    for (int v = 0; v < 3; v++) {
        if (carry[v])
            setenv("SKIPSERVE_IRBLOCK_CARRY", carry[v], 1);
        sk_switches_reload();
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            check_case(&cases[i], pools, 3);
        unsetenv("SKIPSERVE_IRBLOCK_CARRY");
    }
    unsetenv("SKIPSERVE_PIXROWS_KC");
    unsetenv("SKIPSERVE_IM2COL_KC");
    sk_switches_reload();
    sk_pool_destroy(pools[1]);
    sk_pool_destroy(pools[2]);
}

/* Blocks the pass must leave as they are. */
static void test_not_fused(void **state)
{
    (void)state;
    if (!sk_kconfig_for(sk_cpu_detected()))
        skip();
    const ir_case cases[] = {
        {1, 8, 16, 8, 10, 10, 1, 0, 0, 3, 0, 0}, /* depthwise without pads */
        {1, 8, 16, 8, 10, 10, 1, 0, 2, 5, 0, 0}, /* 5x5 */
        {1, 8, 16, 8, 10, 10, 3, 0, 1, 3, 0, 0}, /* stride 3 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sk_graph *g = optimized(&cases[i], 99, 1);
        assert_int_equal(count_op(g, SK_OP_IRBLOCK_FUSED), 0);
        assert_int_equal(count_op(g, SK_OP_CONV_FUSED), 3);
        sk_graph_free(g);
    }
    /* the expanded tensor is also a graph output: the expand stays, the
     * depthwise and projection fuse without it (W1 omitted) */
    const ir_case eo = {1, 8, 16, 8, 10, 10, 1, 0, 1, 3, 1, 0};
    sk_graph *g = optimized(&eo, 99, 1);
    assert_int_equal(count_op(g, SK_OP_IRBLOCK_FUSED), 1);
    assert_int_equal(count_op(g, SK_OP_CONV_FUSED), 1);
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == SK_OP_IRBLOCK_FUSED)
            assert_true(g->nodes[i].in[1] < 0);
    sk_graph_free(g);
}

/* By default only blocks with >= 28x28 depthwise outputs are fused
 * (smaller maps measured slower fused). */
static void test_size_rule(void **state)
{
    (void)state;
    if (!sk_kconfig_for(sk_cpu_detected()))
        skip();
    char err[256];
    const ir_case small = {1, 8, 48, 8, 14, 14, 1, 1, 1, 3, 0, 0}, big = {1, 8, 48, 8, 56, 56, 2, 0, 1, 3, 0, 0};
    unsetenv("SKIPSERVE_FUSE_IRBLOCK");
    sk_graph *gs = build(&small, 3), *gb = build(&big, 4);
    assert_int_equal(sk_graph_optimize(gs, 1, err, sizeof err), 0);
    assert_int_equal(sk_graph_optimize(gb, 1, err, sizeof err), 0);
    assert_int_equal(count_op(gs, SK_OP_IRBLOCK_FUSED), 0);
    assert_int_equal(count_op(gb, SK_OP_IRBLOCK_FUSED), 1);
    sk_graph_free(gs);
    sk_graph_free(gb);
}

static int64_t graph_macs(const sk_graph *g, const ir_case *c)
{
    sk_tensor in;
    memset(&in, 0, sizeof in);
    in.dtype = SK_F32;
    in.shape = (sk_shape){4, {c->N, c->C, c->H, c->W}};
    sk_shape *sh = malloc(sizeof(sk_shape) * (size_t)(g->nvalues + 1));
    sk_dtype *dt = malloc(sizeof(sk_dtype) * (size_t)(g->nvalues + 1));
    assert_true(sk_graph_infer_shapes(g, &in, sh, dt) >= 0);
    free(dt);
    int64_t m = 0;
    for (int i = 0; i < g->nnodes; i++)
        m += sk_node_macs(g, i, sh);
    free(sh);
    return m;
}

/* The fused node counts the multiply-adds of the three convs (the
 * benchmarks' GFLOP/s and % of ceiling). */
static void test_macs(void **state)
{
    (void)state;
    if (!sk_kconfig_for(sk_cpu_detected()))
        skip();
    const ir_case c = {2, 8, 48, 16, 20, 18, 2, 0, 1, 3, 0, 0};
    sk_graph *gf = optimized(&c, 7, 1), *gu = optimized(&c, 7, 0);
    assert_int_equal(count_op(gf, SK_OP_IRBLOCK_FUSED), 1);
    const int64_t oh = 10, ow = 9;
    assert_int_equal(graph_macs(gu, &c), (int64_t)2 * (20 * 18 * 48 * 8 + oh * ow * 48 * 9 +
                                                          oh * ow * 16 * 48));
    assert_int_equal(graph_macs(gf, &c), graph_macs(gu, &c));
    sk_graph_free(gf);
    sk_graph_free(gu);
}

/* A plan for an input whose channels differ from the weights' is refused
 * with a message, at plan time, at every level. */
static void test_bad_input(void **state)
{
    (void)state;
    const ir_case c = {1, 8, 16, 8, 10, 10, 1, 1, 1, 3, 0, 0};
    sk_graph *g = optimized(&c, 5, 1);
    char err[256] = "";
    sk_tensor in;
    memset(&in, 0, sizeof in);
    in.dtype = SK_F32;
    in.shape = (sk_shape){4, {1, 9, 10, 10}};
    sk_plan *p = NULL;
    assert_true(sk_plan_create(g, &in, NULL, &p, err, sizeof err) < 0);
    assert_null(p);
    assert_true(strlen(err) > 0);
    sk_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_unfused_and_reference),
        cmocka_unit_test(test_not_fused),
        cmocka_unit_test(test_size_rule),
        cmocka_unit_test(test_macs),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
