/* test_fast_conv.c — the load-time passes and the fast fused kernels at
 * graph level: a graph built twice, once left as loaded (reference kernels:
 * Conv, BatchNormalization, Add, Relu/Clip run one by one) and once through
 * sk_graph_optimize (BN folded, Add + activation fused, weights packed, fast
 * kernel dispatched), must give the same outputs at every ISA level the CPU
 * has, over randomized geometries: odd sizes, channel counts not a multiple
 * of 8/16, strides, asymmetric pads, dilations, groups (incl. depthwise),
 * 1-D / 3-D, auto_pad, with and without bias / BN / residual / activation,
 * serial and threaded. Also: what must not be fused is not, the dump shows
 * what was, and a fast run allocates nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
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
#include "kernels/fast_ops.h"
#include "threadpool.h"

#include "alloc_counter.h"
#include "bf16_amx_emu.h"
#include "bf16_emu.h"
#include "kernels/switches.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 20);
}
static float frand(void) { return (float)((double)(rnd() % 200001) / 100000.0 - 1.0); }
static int irand(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

/* Every test's teardown: the tests force strategies by SKIPSERVE_* variables
 * and set CPU levels; a failed assertion jumps out before the test's own
 * unsetenv, and the variables left set used to fail every later test that
 * checks a default choice (a cascade that looked like order dependence).
 * Each test starts from the environment and level the process started with
 * (saved by main: a run under SKIPSERVE_ISA=avx2 stays at that level). */
extern char **environ;
static char *start_env[64];
static sk_isa start_level;

static int clean_env(void **state)
{
    (void)state;
    for (;;) {
        char name[128] = {0};
        for (char **e = environ; *e; e++)
            if (!strncmp(*e, "SKIPSERVE_", 10)) {
                size_t n = strcspn(*e, "=");
                memcpy(name, *e, n < sizeof name - 1 ? n : sizeof name - 1);
                break;
            }
        if (!name[0])
            break;
        unsetenv(name);
    }
    for (int i = 0; start_env[i]; i++)
        putenv(start_env[i]);
    sk_switches_reload(); /* the kernels' run-time switches as at the start */
    sk_cpu_set_level(start_level);
    return 0;
}

typedef struct conv_case {
    int nsp; /* spatial dims 1..3 */
    int N, C, M, group;
    int in[3], k[3], s[3], d[3], pb[3], pe[3];
    const char *auto_pad; /* NULL: explicit pads */
    int bias, bn, add, act; /* act: 0 none, 1 Relu, 2 Clip */
    int out[3];
} conv_case;

static int val(sk_graph *g, const char *name)
{
    int id = sk_graph_value(g, name);
    assert_true(id >= 0);
    return id;
}

static int out_size(const conv_case *c, int a)
{
    int span = c->d[a] * (c->k[a] - 1) + 1;
    if (c->auto_pad && strcmp(c->auto_pad, "VALID"))
        return (c->in[a] + c->s[a] - 1) / c->s[a];
    int pb = c->auto_pad ? 0 : c->pb[a], pe = c->auto_pad ? 0 : c->pe[a];
    return (c->in[a] + pb + pe - span) / c->s[a] + 1;
}

/* An ungrouped 2-D conv on an H x H image: k x k kernel, stride st, the same
 * pad on every side; no bias, BN, Add or activation (callers set those). */
static void square_case(conv_case *c, int N, int C, int M, int H, int k, int st, int pad)
{
    memset(c, 0, sizeof *c);
    c->nsp = 2;
    c->N = N;
    c->C = C;
    c->M = M;
    c->group = 1;
    for (int a = 0; a < 3; a++)
        c->in[a] = c->k[a] = c->s[a] = c->d[a] = c->out[a] = 1;
    for (int a = 0; a < 2; a++) {
        c->in[a] = H;
        c->k[a] = k;
        c->s[a] = st;
        c->pb[a] = c->pe[a] = pad;
        c->out[a] = out_size(c, a);
    }
}

static void add_const(sk_graph *g, const char *name, int rank, const int64_t *dims, uint64_t seed,
                      float lo_abs)
{
    sk_shape s;
    s.rank = rank;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        s.dim[i] = dims[i];
        n *= dims[i];
    }
    float *d = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    uint64_t save = rng;
    rng = seed;
    for (int64_t i = 0; i < n; i++)
        d[i] = lo_abs > 0 ? lo_abs + fabsf(frand()) : frand();
    rng = save;
    assert_true(sk_graph_add_const(g, name, SK_F32, &s, d) >= 0);
    free(d);
}

static void set_input(sk_graph *g, const char *name, int rank, const int64_t *dims)
{
    int id = val(g, name);
    g->values[id].dtype = SK_F32;
    g->values[id].shape.rank = rank;
    for (int i = 0; i < rank; i++)
        g->values[id].shape.dim[i] = dims[i];
    sk_graph_add_input(g, id);
}

/* X -> Conv(W, B?) -> BN? -> Add(R)? -> Relu|Clip? -> Y; inputs X (and R). */
static sk_graph *build(const conv_case *c, uint64_t seed)
{
    char err[256];
    sk_graph *g = sk_graph_new();
    int rank = c->nsp + 2;
    int64_t xd[5] = {SK_DIM_SYMBOLIC, c->C}, wd[5] = {c->M, c->C / c->group}, yd[5] = {SK_DIM_SYMBOLIC, c->M};
    for (int i = 0; i < c->nsp; i++) {
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->k[i];
        yd[2 + i] = c->out[i];
    }
    set_input(g, "X", rank, xd);
    if (c->add)
        set_input(g, "R", rank, yd);
    add_const(g, "W", rank, wd, seed, 0);
    int64_t md[1] = {c->M};
    if (c->bias)
        add_const(g, "B", 1, md, seed + 1, 0);
    int in[3] = {val(g, "X"), val(g, "W"), c->bias ? val(g, "B") : -1};
    int o = val(g, "conv_out");
    int ni = sk_graph_add_node(g, SK_OP_CONV, "conv", c->bias ? 3 : 2, in, 1, &o);
    int64_t st[3], dl[3], pads[6];
    for (int i = 0; i < c->nsp; i++) {
        st[i] = c->s[i];
        dl[i] = c->d[i];
        pads[i] = c->pb[i];
        pads[c->nsp + i] = c->pe[i];
    }
    sk_node_set_ints(g, ni, "strides", st, c->nsp);
    sk_node_set_ints(g, ni, "dilations", dl, c->nsp);
    if (c->auto_pad)
        sk_node_set_string(g, ni, "auto_pad", c->auto_pad);
    else
        sk_node_set_ints(g, ni, "pads", pads, 2 * c->nsp);
    sk_node_set_int(g, ni, "group", c->group);
    const char *cur = "conv_out";
    if (c->bn) {
        add_const(g, "scale", 1, md, seed + 2, 0);
        add_const(g, "bnb", 1, md, seed + 3, 0);
        add_const(g, "mean", 1, md, seed + 4, 0);
        add_const(g, "var", 1, md, seed + 5, 0.2f);
        int bin[5] = {val(g, cur), val(g, "scale"), val(g, "bnb"), val(g, "mean"), val(g, "var")};
        int bo = val(g, "bn_out");
        int bi = sk_graph_add_node(g, SK_OP_BATCH_NORM, "bn", 5, bin, 1, &bo);
        sk_node_set_float(g, bi, "epsilon", 1e-3f);
        cur = "bn_out";
    }
    if (c->add) {
        /* the residual first, as torchvision's "out += identity" exports */
        int ain[2] = {val(g, "R"), val(g, cur)};
        int ao = val(g, "add_out");
        sk_graph_add_node(g, SK_OP_ADD, "add", 2, ain, 1, &ao);
        cur = "add_out";
    }
    if (c->act == 1) {
        int rin = val(g, cur), ro = val(g, "act_out");
        sk_graph_add_node(g, SK_OP_RELU, "relu", 1, &rin, 1, &ro);
        cur = "act_out";
    } else if (c->act == 2) {
        sk_shape sc = {0, {0}};
        float lo = -0.3f, hi = 0.6f;
        sk_graph_add_const(g, "lo", SK_F32, &sc, &lo);
        sk_graph_add_const(g, "hi", SK_F32, &sc, &hi);
        int cin[3] = {val(g, cur), val(g, "lo"), val(g, "hi")}, co = val(g, "act_out");
        sk_graph_add_node(g, SK_OP_CLIP, "clip", 3, cin, 1, &co);
        cur = "act_out";
    }
    sk_graph_add_output(g, val(g, cur));
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

/* Plan g for batch N and run it on x (and r); returns a copy of Y. */
static float *run_graph(const sk_graph *g, const conv_case *c, const float *x, const float *r,
                        sk_pool *pool, int64_t *ny, int count_allocs)
{
    char err[256];
    sk_tensor ins[2];
    int rank = c->nsp + 2;
    ins[0].dtype = ins[1].dtype = SK_F32;
    ins[0].data = ins[1].data = NULL;
    ins[0].shape.rank = ins[1].shape.rank = rank;
    ins[0].shape.dim[0] = ins[1].shape.dim[0] = c->N;
    ins[0].shape.dim[1] = c->C;
    ins[1].shape.dim[1] = c->M;
    for (int i = 0; i < c->nsp; i++) {
        ins[0].shape.dim[2 + i] = c->in[i];
        ins[1].shape.dim[2 + i] = c->out[i];
    }
    sk_plan *p;
    if (sk_plan_create(g, ins, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *data[2] = {x, r};
    int rc = sk_plan_run(p, data, err, sizeof err); /* warm-up */
#ifdef HAVE_COUNTER
    if (count_allocs) {
        nallocs = 0;
        counting = 1;
        rc = sk_plan_run(p, data, err, sizeof err);
        counting = 0;
        assert_int_equal(nallocs, 0);
    }
#else
    (void)count_allocs;
#endif
    if (rc)
        fail_msg("run: %s", err);
    const sk_tensor *y = sk_plan_output(p, 0);
    *ny = sk_shape_numel(&y->shape);
    float *copy = malloc(sizeof(float) * (size_t)(*ny > 0 ? *ny : 1));
    memcpy(copy, y->data, sizeof(float) * (size_t)*ny);
    sk_plan_free(p);
    return copy;
}

static int find_op(const sk_graph *g, sk_op op)
{
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == op)
            return i;
    return -1;
}

static void describe(const conv_case *c, char *buf, size_t len)
{
    snprintf(buf, len,
             "nsp %d N %d C %d M %d group %d in %dx%dx%d k %dx%dx%d s %d,%d,%d d %d,%d,%d "
             "pads %d,%d,%d/%d,%d,%d auto_pad %s bias %d bn %d add %d act %d",
             c->nsp, c->N, c->C, c->M, c->group, c->in[0], c->in[1], c->in[2], c->k[0], c->k[1],
             c->k[2], c->s[0], c->s[1], c->s[2], c->d[0], c->d[1], c->d[2], c->pb[0], c->pb[1],
             c->pb[2], c->pe[0], c->pe[1], c->pe[2], c->auto_pad ? c->auto_pad : "-", c->bias,
             c->bn, c->add, c->act);
}

/* Random input X and residual R (output-shaped) of case c; free both. */
static void random_operands(const conv_case *c, float **x, float **r)
{
    int64_t nx = (int64_t)c->N * c->C, nr = (int64_t)c->N * c->M;
    for (int i = 0; i < c->nsp; i++) {
        nx *= c->in[i];
        nr *= c->out[i];
    }
    *x = malloc(sizeof(float) * (size_t)(nx + 1));
    *r = malloc(sizeof(float) * (size_t)(nr + 1));
    assert_true(*x && *r);
    for (int64_t i = 0; i < nx; i++)
        (*x)[i] = frand();
    for (int64_t i = 0; i < nr; i++)
        (*r)[i] = frand();
}

/* Reference graph vs optimized graph at the current ISA level. */
static void check_case(const conv_case *c, sk_pool *pool, int count_allocs)
{
    char err[256], what[400];
    describe(c, what, sizeof what);
    uint64_t seed = rnd() * 7919ull + 17;
    sk_graph *gr = build(c, seed), *go = build(c, seed);
    if (sk_graph_optimize(go, 1, err, sizeof err))
        fail_msg("optimize: %s (%s)", err, what);
    int fi = find_op(go, SK_OP_CONV_FUSED);
    if (fi < 0)
        fail_msg("no _ConvFused node (%s)", what);
    assert_int_equal(go->nnodes, 1); /* BN, Add, activation merged */
    const sk_node *fn = &go->nodes[fi];
    if (sk_cpu_level() > SK_ISA_SCALAR) {
        assert_non_null(fn->priv);
        assert_true(sk_dispatch_run(fn) == sk_fast_run_conv_fused);
        if (c->nsp == 2 && c->group == c->C && c->M == c->C)
            assert_int_equal(((const sk_conv_priv *)fn->priv)->kind, SK_CONV_DEPTHWISE);
        const char *wf = getenv("SKIPSERVE_WINOGRAD");
        int kind = (int)((const sk_conv_priv *)fn->priv)->kind;
        int wino = kind == SK_CONV_WINOGRAD || kind == SK_CONV_WINOGRAD4;
        if (wf && !strncmp(wf, "force", 5) && c->nsp == 2 && c->group == 1 && c->M > 1 &&
            c->k[0] == 3 && c->k[1] == 3 && c->s[0] == 1 && c->s[1] == 1 && c->d[0] == 1 &&
            c->d[1] == 1) {
            assert_true(wino);
            if (!strcmp(wf, "force2") || !strcmp(wf, "force4"))
                assert_int_equal(kind, wf[5] == '2' ? SK_CONV_WINOGRAD : SK_CONV_WINOGRAD4);
        }
        const char *pf = getenv("SKIPSERVE_PIXROWS");
        if (pf && !strcmp(pf, "force") && c->group == 1 && !wino && kind != SK_CONV_DEPTHWISE)
            assert_int_equal(kind, SK_CONV_PIXROWS);
        /* packed weights replace the raw ones, which are freed; depthwise
         * reads W as it is and keeps it (prepack.c release_weights) */
        const sk_value *wv = &go->values[fn->in[1]];
        int keeps = sk_conv_strategy_of((sk_conv_kind)kind)->reads_w;
        assert_int_equal(wv->released, !keeps);
        assert_true((wv->data == NULL) == !keeps);
        const char *df = getenv("SKIPSERVE_CONV_DIRECT");
        if (df && !strcmp(df, "force") && c->nsp == 2 && c->group == 1 && c->M > 1 &&
            c->s[0] == c->s[1] && c->s[0] <= 2 && c->d[0] == 1 && c->d[1] == 1 &&
            c->k[0] * c->k[1] <= SK_CDIR_MAX_TAPS && kind != SK_CONV_DEPTHWISE)
            assert_int_equal(kind, SK_CONV_DIRECT);
        const char *bf = getenv("SKIPSERVE_CONV_BCAST");
        if (bf && !strcmp(bf, "force") && c->nsp == 2 && c->group == 1 && c->s[0] == 2 &&
            c->s[1] == 2 && c->d[0] == 1 && c->d[1] == 1 && kind != SK_CONV_DEPTHWISE)
            assert_int_equal(kind, SK_CONV_DIRECT_BC);
    } else {
        assert_null(fn->priv);
        assert_non_null(go->values[fn->in[1]].data);
    }
    float *x, *r;
    random_operands(c, &x, &r);
    int64_t n1, n2;
    float *yr = run_graph(gr, c, x, r, pool, &n1, 0);
    float *yo = run_graph(go, c, x, r, pool, &n2, count_allocs);
    assert_int_equal(n1, n2);
    int K = c->C / c->group;
    for (int i = 0; i < c->nsp; i++)
        K *= c->k[i];
    double big = 1.0;
    for (int64_t i = 0; i < n1; i++)
        big = fmax(big, fabs(yr[i]));
    double tol = (double)(K + 16) * FLT_EPSILON * 4.0 * big;
    /* F(4x4)'s transforms (coefficients up to 8 in A, fractions in G, see
     * fast_winograd.c) amplify rounding ~15x over F(2x2): measured over this
     * file's cases, F(2x2) reaches 0.08 of the direct bound and F(4x4) 1.25
     * (a 46x55 one-channel map on AVX2, seen when the AVX-512 level ran
     * first and moved the random cases). Allow F(4x4) 4x the bound. */
    if (fn->priv && ((const sk_conv_priv *)fn->priv)->kind == SK_CONV_WINOGRAD4)
        tol *= 4.0;
    for (int64_t i = 0; i < n1; i++)
        if (!(fabs(yr[i] - yo[i]) <= tol))
            fail_msg("[%s] y[%lld] = %.7g, reference %.7g (tol %.3g): %s",
                     sk_isa_name(sk_cpu_level()), (long long)i, yo[i], yr[i], tol, what);
    free(x);
    free(r);
    free(yr);
    free(yo);
    sk_graph_free(gr);
    sk_graph_free(go);
}

static void random_case(conv_case *c)
{
    memset(c, 0, sizeof *c);
    int r = irand(0, 9);
    c->nsp = r == 0 ? 1 : r == 1 ? 3 : 2;
    c->N = irand(1, 2);
    static const int chans[] = {1, 2, 3, 5, 7, 8, 16, 17, 24, 33};
    c->C = chans[irand(0, 9)];
    int g = irand(0, 5);
    c->group = g == 0 ? c->C : (g == 1 && c->C % 2 == 0 ? 2 : 1);
    int mper = irand(1, 3) == 1 ? 1 : irand(1, 9);
    c->M = c->group * (c->group == 1 ? chans[irand(0, 9)] : mper);
    for (int a = 0; a < 3; a++) {
        c->in[a] = c->k[a] = c->s[a] = c->d[a] = 1;
        c->out[a] = 1;
    }
    for (int a = 0; a < c->nsp; a++) {
        c->k[a] = irand(0, 2) == 0 ? 1 : irand(1, 5);
        c->s[a] = irand(0, 2) == 0 ? irand(1, 3) : 1;
        c->d[a] = irand(0, 4) == 0 ? 2 : 1;
        c->pb[a] = irand(0, 2);
        c->pe[a] = irand(0, 2);
        int span = c->d[a] * (c->k[a] - 1) + 1;
        int lo = span - c->pb[a] - c->pe[a];
        if (lo < 1)
            lo = 1;
        c->in[a] = irand(lo, lo + (c->nsp == 3 ? 6 : 24));
    }
    int ap = irand(0, 9);
    c->auto_pad = ap == 0 ? "SAME_UPPER" : ap == 1 ? "SAME_LOWER" : ap == 2 ? "VALID" : NULL;
    if (c->auto_pad && !strcmp(c->auto_pad, "VALID"))
        for (int a = 0; a < c->nsp; a++)
            if (c->in[a] < c->d[a] * (c->k[a] - 1) + 1)
                c->in[a] = c->d[a] * (c->k[a] - 1) + 1;
    for (int a = 0; a < c->nsp; a++)
        c->out[a] = out_size(c, a);
    c->bias = irand(0, 3) != 0;
    c->bn = irand(0, 1);
    c->add = irand(0, 1);
    c->act = irand(0, 2);
}

/* Serial, 3 threads, and 16 (more than this machine has: the split of the
 * GEMM into tasks and the shared columns' gather tasks change with the
 * thread count, not only the speed). */
static void for_each_level(void (*fn)(sk_pool *))
{
    sk_pool *pool = sk_pool_create(3), *wide = sk_pool_create(16);
    for (int l = SK_ISA_SCALAR; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        fn(NULL);
        fn(pool);
        fn(wide);
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pool);
    sk_pool_destroy(wide);
}

static void random_cases(sk_pool *pool)
{
    for (int t = 0; t < 60; t++) {
        conv_case c;
        random_case(&c);
        check_case(&c, pool, 0);
    }
}

static void test_random_geometries(void **state)
{
    (void)state;
    for_each_level(random_cases);
}

/* The ResNet shapes: 7x7/2 stem, 3x3 blocks, 1x1 down-sampling, large
 * channel counts that cross the kc / mc blocks; no allocation in the run. */
static void resnet_cases(sk_pool *pool)
{
    static const int geo[][8] = {
        /* C, M, H, k, s, pad, bn/add/act */
        {3, 64, 40, 7, 2, 3, 0},   {64, 64, 14, 3, 1, 1, 1}, {64, 256, 14, 1, 1, 0, 1},
        {256, 128, 14, 1, 2, 0, 0}, {128, 128, 7, 3, 2, 1, 0}, {288, 96, 5, 3, 1, 1, 1},
    };
    for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
        conv_case c;
        square_case(&c, 2, geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4], geo[i][5]);
        c.bias = 0;
        c.bn = 1;
        c.add = geo[i][6];
        c.act = 1;
        check_case(&c, pool, 1);
    }
}

static void test_resnet_geometries(void **state)
{
    (void)state;
    for_each_level(resnet_cases);
}

/* The GEMM's split at batch 1-3 (gemm.c plan_split, issue 24 session 17:
 * the pool model and the L2 re-read weight pick other splits than the
 * mean-task model on these shapes): a 1x1 conv on 14x14 (196 pixel
 * columns: a 4-column last panel), a 1x1 stride-2 one, and a 3x3 on 7x7
 * whose pixel rows (49 x 2700 floats, 529 KB) exceed SPLIT_L2_BYTES. On
 * 1, 2, 3 and 16 threads, with the default split, SKIPSERVE_GEMM_SPLIT_FAR=0
 * and both switches off (the session-16 split), and SKIPSERVE_IM2COL_COLSPLIT=0
 * (batch 1 on 2 and 3 threads: the 14x14 convs' shared columns instead of
 * the column split, gemm_split.c) or =rows (every column in one block, the
 * weights' rows in a chunk a thread; session 21 x2t): every output bit for bit
 * the first run's (the sums' order does not depend on the split), and
 * within the reference conv's bound; each SIMD level. */
static void test_split_threads_bits(void **state)
{
    (void)state;
    static const int geo[][6] = {/* C, M, H, k, stride, pad */
                                 {320, 96, 14, 1, 1, 0},
                                 {136, 72, 28, 1, 2, 0},
                                 {300, 64, 7, 3, 1, 1}};
    static const char *variants[][2] = {{NULL, NULL},
                                        {"SKIPSERVE_GEMM_SPLIT_FAR", NULL},
                                        {"SKIPSERVE_GEMM_SPLIT_FAR", "SKIPSERVE_GEMM_SPLIT_POOL"},
                                        /* the shared columns instead of the 14x14
                                         * column split (session 18) */
                                        {"SKIPSERVE_IM2COL_COLSPLIT", NULL},
                                        /* =rows (session 21 x2t): every column,
                                         * the weights' rows split (set below) */
                                        {NULL, NULL}};
    sk_pool *pools[4] = {NULL, sk_pool_create(2), sk_pool_create(3), sk_pool_create(16)};
    char err[256];
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
            for (int N = 1; N <= 3; N++) {
                conv_case c;
                square_case(&c, N, geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4],
                            geo[i][5]);
                c.bias = 1;
                c.add = N != 2;
                c.act = 1;
                uint64_t seed = rnd() * 7919ull + 17;
                sk_graph *gr = build(&c, seed), *go = build(&c, seed);
                /* the 3x3 one would run Winograd at AVX2 / batch 2-3 (read
                 * at load), never the GEMM split: off for it */
                if (geo[i][3] == 3)
                    setenv("SKIPSERVE_WINOGRAD", "0", 1);
                if (sk_graph_optimize(go, 1, err, sizeof err))
                    fail_msg("optimize: %s", err);
                unsetenv("SKIPSERVE_WINOGRAD");
                float *x, *r;
                random_operands(&c, &x, &r);
                int64_t n0, n;
                float *yr = run_graph(gr, &c, x, r, NULL, &n0, 0), *first = NULL;
                double big = 1.0;
                for (int64_t e = 0; e < n0; e++)
                    big = fmax(big, fabs(yr[e]));
                const double tol =
                    (double)(c.C * c.k[0] * c.k[1] + 16) * FLT_EPSILON * 4.0 * big;
                for (int v = 0; v < (int)(sizeof variants / sizeof *variants); v++)
                    for (int t = 0; t < 4; t++) {
                        for (int e = 0; e < 2; e++)
                            if (variants[v][e])
                                setenv(variants[v][e], "0", 1);
                        if (v == 4)
                            setenv("SKIPSERVE_IM2COL_COLSPLIT", "rows", 1);
                        sk_switches_reload(); /* read once per process */
                        float *y = run_graph(go, &c, x, r, pools[t], &n, 0);
                        unsetenv("SKIPSERVE_GEMM_SPLIT_FAR");
                        unsetenv("SKIPSERVE_GEMM_SPLIT_POOL");
                        unsetenv("SKIPSERVE_IM2COL_COLSPLIT");
                        sk_switches_reload();
                        assert_int_equal(n, n0);
                        if (!first) {
                            first = y;
                            for (int64_t e = 0; e < n; e++)
                                if (fabs((double)y[e] - yr[e]) > tol)
                                    fail_msg("level %d conv %zu batch %d: y[%lld] %g, ref %g", l,
                                             i, N, (long long)e, y[e], yr[e]);
                            continue;
                        }
                        if (memcmp(y, first, sizeof(float) * (size_t)n) != 0)
                            fail_msg("level %d conv %zu batch %d: variant %d on %d threads "
                                     "changed bits",
                                     l, i, N, v, t ? sk_pool_size(pools[t]) : 1);
                        free(y);
                    }
                free(first);
                free(yr);
                free(x);
                free(r);
                sk_graph_free(gr);
                sk_graph_free(go);
            }
    }
    sk_cpu_set_level(sk_cpu_detected());
    for (int t = 1; t < 4; t++)
        sk_pool_destroy(pools[t]);
}

/* The switches test_split_threads_bits varies must change the split, or
 * its bit checks compare a split with itself (a misspelt variable would
 * pass): plan_split's pick (sk_gemm_plan_split) at 2 and 3 threads for
 * the GEMMs of its convs and ResNet-50's 1x1 1024->256 on 14x14 (weights
 * in A, 196 columns), each level. SKIPSERVE_GEMM_SPLIT_FAR=0 must change
 * it on some shape (the 3x3 C=300 7x7 pixel rows: A is 49 x 2700 floats,
 * past the L2 limit), and so must SKIPSERVE_GEMM_SPLIT_POOL=0. */
static void test_split_switches_differ(void **state)
{
    (void)state;
    static const int shp[][3] = {/* M, N, K (weights in A: M = out channels) */
                                 {49, 64, 2700}, {256, 196, 1024}, {96, 196, 320},
                                 {72, 196, 136}};
    static const char *const names[2] = {"SKIPSERVE_GEMM_SPLIT_FAR",
                                         "SKIPSERVE_GEMM_SPLIT_POOL"};
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        const sk_gemm_cfg *cfg = sk_gemm_config((sk_isa)l);
        for (int v = 0; v < 2; v++) {
            int differ = 0;
            for (size_t i = 0; i < sizeof shp / sizeof *shp; i++)
                for (int T = 2; T <= 3; T++) {
                    sk_gemm_job j;
                    sk_gemm_job_init(&j, cfg, shp[i][0], shp[i][1], shp[i][2], 1);
                    int nbw0, cp0, nbw1, cp1;
                    sk_switches_reload();
                    sk_gemm_plan_split(&j, T, &nbw0, &cp0);
                    setenv(names[v], "0", 1);
                    sk_switches_reload();
                    sk_gemm_plan_split(&j, T, &nbw1, &cp1);
                    unsetenv(names[v]);
                    sk_switches_reload();
                    assert_true(nbw0 > 0 && cp0 > 0 && nbw1 > 0 && cp1 > 0);
                    differ += nbw0 != nbw1 || cp0 != cp1;
                }
            if (!differ)
                fail_msg("level %d: %s=0 picks the default split on every shape", l, names[v]);
        }
    }
}

/* gemm.c remembers plan_split's pick per job shape and thread
 * (SKIPSERVE_GEMM_SPLIT_CACHE, session 19): the remembered split must be
 * the one computed afresh (the switch at 0), for 200 random shapes —
 * more than the cache's slots, so entries collide and are replaced —,
 * 2-4 threads, each level, per-run packing of either operand, asked on
 * the first pass (misses and collisions) and again in a second pass
 * (hits where the slot kept the shape); each shape with neither, A or B
 * packed per run, in a row (they share a slot unless the key holds it). */
static void split_cache_nopack_a(const void *ctx, int batch, int m0, int mb, int k0, int kc,
                                 int mr, float *dst)
{
    (void)ctx, (void)batch, (void)m0, (void)mb, (void)k0, (void)kc, (void)mr, (void)dst;
}
static void split_cache_nopack_b(const void *ctx, int batch, int k0, int kc, int n0, int nb,
                                 int nr, float *dst, float *tmp)
{
    (void)ctx, (void)batch, (void)k0, (void)kc, (void)n0, (void)nb, (void)nr, (void)dst,
        (void)tmp;
}
static void split_cache_job(sk_gemm_job *j, const sk_gemm_cfg *cfg, const int *shp, int packs)
{
    sk_gemm_job_init(j, cfg, shp[0], shp[1], shp[2], shp[3]);
    if (packs == 1)
        j->pack_a = split_cache_nopack_a;
    if (packs == 2)
        j->pack_b = split_cache_nopack_b;
}
static void test_split_cache_same(void **state)
{
    (void)state;
    enum { NS = 200 };
    static int shp[NS][4];
    for (int i = 0; i < NS; i++) {
        shp[i][0] = irand(1, 700);  /* M */
        shp[i][1] = irand(1, 900);  /* N */
        shp[i][2] = irand(1, 3000); /* K */
        shp[i][3] = irand(1, 4);    /* images */
    }
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        const sk_gemm_cfg *cfg = sk_gemm_config((sk_isa)l);
        /* [shape][packed per run: neither, A, B][T - 2][nbw, chunk panels] */
        static int want[NS][3][3][2];
        setenv("SKIPSERVE_GEMM_SPLIT_CACHE", "0", 1);
        sk_switches_reload();
        for (int i = 0; i < NS; i++)
            for (int p = 0; p < 3; p++)
                for (int T = 2; T <= 4; T++) {
                    sk_gemm_job j;
                    split_cache_job(&j, cfg, shp[i], p);
                    sk_gemm_plan_split(&j, T, &want[i][p][T - 2][0], &want[i][p][T - 2][1]);
                }
        unsetenv("SKIPSERVE_GEMM_SPLIT_CACHE");
        sk_switches_reload();
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < NS; i++)
                for (int p = 0; p < 3; p++)
                    for (int T = 2; T <= 4; T++) {
                        sk_gemm_job j;
                        split_cache_job(&j, cfg, shp[i], p);
                        int nbw, cp;
                        sk_gemm_plan_split(&j, T, &nbw, &cp);
                        const int *w = want[i][p][T - 2];
                        if (nbw != w[0] || cp != w[1])
                            fail_msg("level %d pass %d shape %d x %d x %d (x%d, packed per run "
                                     "%d) T %d: cached split %d / %d, computed %d / %d",
                                     l, pass, shp[i][0], shp[i][1], shp[i][2], shp[i][3], p, T,
                                     nbw, cp, w[0], w[1]);
                    }
    }
}

/* Winograd (fast_winograd.c) on every 3x3 stride-1 conv, the size
 * thresholds forced off: odd and even sizes (partial tiles at the
 * bottom / right), images smaller than a tile, pads 0..2 on each side
 * independently (SAME too), channel counts around the microkernel's 6/16
 * and the transform's 16/32 lanes, several tile blocks and M chunks, batch
 * up to 3 (tiles of two images in one panel), with every epilogue. */
static void winograd_cases(sk_pool *pool)
{
    static const int chans[] = {1, 2, 7, 8, 13, 16, 17, 33, 48, 70};
    for (int t = 0; t < 50; t++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        c.nsp = 2;
        c.N = irand(1, 3);
        c.C = chans[irand(0, 9)];
        c.M = chans[irand(0, 9)];
        c.group = 1;
        for (int a = 0; a < 3; a++)
            c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
        for (int a = 0; a < 2; a++) {
            c.k[a] = 3;
            c.pb[a] = irand(0, 2);
            c.pe[a] = irand(0, 2);
            int lo = 3 - c.pb[a] - c.pe[a] < 1 ? 1 : 3 - c.pb[a] - c.pe[a];
            c.in[a] = irand(lo, t < 40 ? 19 : 61);
        }
        if (irand(0, 7) == 0)
            c.auto_pad = "SAME_UPPER";
        for (int a = 0; a < 2; a++)
            c.out[a] = out_size(&c, a);
        c.bias = irand(0, 3) != 0;
        c.bn = irand(0, 1);
        c.add = irand(0, 1);
        c.act = irand(0, 2);
        check_case(&c, pool, t % 10 == 0);
    }
}

/* Both variants on the same random cases: F(2x2, 3x3) and F(4x4, 3x3)
 * (4x4 tiles: up to three partial tile rows / columns per image). */
/* A failed case longjmps out of test_winograd: restore the default
 * strategy choice so the tests after it do not run forced to Winograd. */
static void test_winograd(void **state)
{
    (void)state;
    setenv("SKIPSERVE_WINOGRAD", "force2", 1);
    for_each_level(winograd_cases);
    setenv("SKIPSERVE_WINOGRAD", "force4", 1);
    for_each_level(winograd_cases);
    unsetenv("SKIPSERVE_WINOGRAD");
}

/* The direct depthwise kernel (fast_dwconv.c): every 2-D conv with one
 * filter per channel — MobileNet's 3x3 stride 1 and 2, 5x5, dilated,
 * strides 3, asymmetric pads, odd widths; planes that fit its padded copy
 * and larger ones (row by row, vector interior + scalar borders), rows
 * wider than its even/odd split (scalar); with every epilogue. */
static void depthwise_cases(sk_pool *pool)
{
    static const int geo[][9] = {
        /* C, H, W, k, s, d, pb, pe, N */
        {32, 56, 56, 3, 1, 1, 1, 1, 1}, {96, 28, 27, 3, 2, 1, 1, 1, 2}, {144, 7, 7, 3, 1, 1, 1, 1, 1},
        {17, 13, 15, 5, 2, 1, 2, 2, 1}, {8, 12, 11, 3, 1, 2, 2, 0, 1},  {5, 10, 17, 3, 3, 1, 0, 2, 2},
        {3, 2, 4101, 3, 2, 1, 1, 1, 1}, {4, 9, 4, 3, 2, 1, 0, 1, 1},    {7, 1, 1, 3, 1, 1, 1, 1, 1},
        /* planes past the 64 KiB padded copy: the row-by-row path */
        {2, 150, 150, 3, 1, 1, 1, 1, 1}, {2, 130, 131, 3, 2, 1, 1, 1, 1}, {2, 140, 133, 5, 2, 2, 3, 1, 1},
    };
    for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
        for (int e = 0; e < 3; e++) {
            conv_case c;
            memset(&c, 0, sizeof c);
            c.nsp = 2;
            c.N = geo[i][8];
            c.C = c.M = c.group = geo[i][0];
            for (int a = 0; a < 3; a++)
                c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
            c.in[0] = geo[i][1];
            c.in[1] = geo[i][2];
            for (int a = 0; a < 2; a++) {
                c.k[a] = geo[i][3];
                c.s[a] = geo[i][4];
                c.d[a] = geo[i][5];
                c.pb[a] = geo[i][6];
                c.pe[a] = geo[i][7];
                c.out[a] = out_size(&c, a);
            }
            c.bias = e != 1;
            c.bn = e == 1;
            c.add = e == 2;
            c.act = e;
            check_case(&c, pool, e == 0);
        }
}

/* A failed case longjmps out with SKIPSERVE_DW_FLAT=0 possibly set. */
static void test_depthwise(void **state)
{
    (void)state;
    for_each_level(depthwise_cases);
}

/* A 2-D depthwise case from {C, H, W, k, s, d, pb, pe, N} (square kernel,
 * stride, dilation and pads) and an epilogue e in 0..2: bias (e != 1) or
 * BN (e == 1), a residual when e == 2, activation kind e. */
static void dw_geo_case(const int geo[9], int e, conv_case *c)
{
    memset(c, 0, sizeof *c);
    c->nsp = 2;
    c->N = geo[8];
    c->C = c->M = c->group = geo[0];
    for (int a = 0; a < 3; a++)
        c->in[a] = c->k[a] = c->s[a] = c->d[a] = c->out[a] = 1;
    c->in[0] = geo[1];
    c->in[1] = geo[2];
    for (int a = 0; a < 2; a++) {
        c->k[a] = geo[3];
        c->s[a] = geo[4];
        c->d[a] = geo[5];
        c->pb[a] = geo[6];
        c->pe[a] = geo[7];
        c->out[a] = out_size(c, a);
    }
    c->bias = e != 1;
    c->bn = e == 1;
    c->add = e == 2;
    c->act = e;
}

/* c's optimized graph under `env` (NAME=VALUE pairs, NULL: none) run on x, r. */
static float *run_under(const conv_case *c, const char *const *env, const float *x,
                        const float *r, int64_t *ny)
{
    char err[256];
    for (int i = 0; env && env[i]; i += 2)
        setenv(env[i], env[i + 1], 1);
    sk_switches_reload();
    sk_graph *g = build(c, 4242);
    int rc = sk_graph_optimize(g, 1, err, sizeof err);
    for (int i = 0; env && env[i]; i += 2)
        unsetenv(env[i]);
    sk_switches_reload();
    if (rc)
        fail_msg("optimize: %s", err);
    float *y = run_graph(g, c, x, r, NULL, ny, 0);
    sk_graph_free(g);
    return y;
}

/* c's default optimized graph, run serially and on each of pools[0..2],
 * gives bit for bit what the graph optimized under `env` gives serially
 * (the path a switch turns off computes the same sums in the same order);
 * `path` names the default path in the failure message. */
static void assert_same_bits_on_under(const conv_case *c, const char *const *on,
                                      const char *const *env, sk_pool *const *pools,
                                      const char *path)
{
    char what[400];
    describe(c, what, sizeof what);
    float *x, *r;
    random_operands(c, &x, &r);
    int64_t n0, n1;
    float *want = run_under(c, env, x, r, &n0);
    char err[256];
    for (int i = 0; on && on[i]; i += 2)
        setenv(on[i], on[i + 1], 1);
    sk_switches_reload();
    sk_graph *go = build(c, 4242);
    int rc = sk_graph_optimize(go, 1, err, sizeof err);
    for (int i = 0; on && on[i]; i += 2)
        unsetenv(on[i]);
    sk_switches_reload();
    if (rc)
        fail_msg("optimize: %s (%s)", err, what);
    for (int t = 0; t < 3; t++) {
        float *y = run_graph(go, c, x, r, pools[t], &n1, 0);
        assert_int_equal(n0, n1);
        if (memcmp(y, want, sizeof(float) * (size_t)n0))
            fail_msg("[%s] %s on %d threads differs from %s=%s: %s",
                     sk_isa_name(sk_cpu_level()), path, t == 0 ? 1 : t == 1 ? 3 : 16, env[0],
                     env[1], what);
        free(y);
    }
    free(want);
    free(x);
    free(r);
    sk_graph_free(go);
}

static void assert_same_bits_as_under(const conv_case *c, const char *const *env,
                                      sk_pool *const *pools, const char *path)
{
    assert_same_bits_on_under(c, NULL, env, pools, path);
}

/* The flat depthwise path (fast_dwconv.c dw_plane_flat: phase planes,
 * one run per plane): against the reference (check_case), and bit for bit
 * the row loops' results (SKIPSERVE_DW_FLAT=0: same sums in the same
 * order), serial, on 3 and on 16 threads. The geometries aim at its index
 * arithmetic: odd and even left pads at stride 2 (which phase the input's
 * even columns land in), pads wider than the kernel, dilation 2 at stride
 * 2 (every tap in one phase), input rows and columns the conv never reads,
 * 1-pixel planes, 7x7 kernels, MobileNetV2's 7x7 .. 112x112 planes. */
static void test_depthwise_flat(void **state)
{
    (void)state;
    static const int geo[][9] = {
        /* C, H, W, k, s, d, pb, pe, N */
        {5, 7, 7, 3, 1, 1, 1, 1, 1},    {3, 14, 14, 3, 2, 1, 1, 1, 2},  {4, 15, 13, 3, 2, 1, 1, 1, 1},
        {3, 12, 11, 3, 2, 1, 0, 1, 1},  {3, 9, 10, 5, 2, 1, 2, 2, 1},   {3, 9, 10, 5, 2, 1, 3, 1, 1},
        {2, 11, 12, 3, 2, 2, 2, 2, 1},  {2, 10, 9, 3, 1, 2, 2, 2, 1},   {2, 13, 17, 2, 2, 1, 0, 0, 1},
        {2, 1, 1, 3, 1, 1, 1, 1, 1},    {2, 1, 40, 1, 1, 1, 0, 0, 1},   {3, 5, 40, 3, 2, 1, 4, 4, 1},
        {2, 112, 112, 3, 2, 1, 1, 1, 1}, {2, 56, 56, 3, 1, 1, 1, 1, 1}, {3, 30, 33, 7, 1, 1, 3, 3, 1},
        {3, 18, 37, 3, 2, 1, 1, 0, 1},  {33, 14, 14, 3, 1, 1, 1, 1, 1},
    };
    sk_pool *p3 = sk_pool_create(3), *p16 = sk_pool_create(16);
    sk_pool *pools[3] = {NULL, p3, p16};
    setenv("SKIPSERVE_DW_REG", "0", 1); /* its planes to the flat path (session 19) */
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
            for (int e = 0; e < 3; e++) {
                conv_case c;
                dw_geo_case(geo[i], e, &c);
                check_case(&c, p3, e == 0); /* the flat path against the reference */
                /* the switch is read at load: a second graph with it set */
                static const char *const rows[] = {"SKIPSERVE_DW_FLAT", "0", NULL};
                assert_same_bits_as_under(&c, rows, pools, "flat path");
            }
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(p3);
    sk_pool_destroy(p16);
}

/* The channel-lane depthwise path (fast_dwconv.c dw_block_cl: blocks of
 * 8 / 16 planes interleaved, small planes only): against the reference,
 * that it was taken (sk_dw_cl_planes grew by every plane), and bit for bit
 * the row loops (SKIPSERVE_DW_FLAT=0 SKIPSERVE_DW_CL=0) on 1, 3 and 16
 * threads. Geometries: MobileNetV2's 7x7 and 14x14 planes at stride 1 and
 * 2, blocks that cross images (N = 2) and end part-full (20, 33 planes),
 * 5x5 and 7x7 kernels, dilation, even kernels, pads wider than the kernel,
 * asymmetric pads, 1-pixel planes. */
static void depthwise_cl_cases(const int (*geo)[9], size_t ngeo);
static void test_depthwise_cl(void **state)
{
    (void)state;
    static const int geo[][9] = {
        /* C, H, W, k, s, d, pb, pe, N */
        {32, 7, 7, 3, 1, 1, 1, 1, 1},  {24, 14, 14, 3, 2, 1, 1, 1, 2}, {20, 14, 14, 3, 1, 1, 1, 1, 1},
        {33, 7, 7, 3, 1, 1, 1, 1, 1},  {17, 9, 10, 5, 2, 1, 2, 2, 1},  {16, 10, 9, 3, 1, 2, 2, 2, 2},
        {19, 13, 17, 2, 2, 1, 0, 0, 1}, {40, 1, 1, 3, 1, 1, 1, 1, 1},  {18, 5, 40, 3, 2, 1, 4, 4, 1},
        {16, 28, 28, 3, 2, 1, 1, 1, 1}, {21, 7, 7, 7, 1, 1, 3, 3, 1},  {18, 8, 8, 3, 1, 1, 0, 1, 1},
    };
    depthwise_cl_cases(geo, sizeof geo / sizeof *geo);
}

/* The channel lanes with C a multiple of the lanes (8 at AVX2, 16 at
 * AVX-512) over 2-3 images (session 18 mvt): every full block takes its
 * weights and biases from the run's table (fast_dwconv.c dw_wtab) at
 * every channel offset; bit for bit the row loops, as above, and the
 * same with the table off (SKIPSERVE_DW_CL_WTAB=0, the gather per block).
 * Registered last: its random operands would shift the later tests'. */
static void test_depthwise_cl_wtab(void **state)
{
    (void)state;
    static const int geo[][9] = {
        /* C, H, W, k, s, d, pb, pe, N */
        {64, 7, 7, 3, 1, 1, 1, 1, 3},
        {48, 14, 14, 3, 2, 1, 1, 1, 2},
        {32, 5, 6, 5, 1, 1, 2, 2, 2},
    };
    depthwise_cl_cases(geo, sizeof geo / sizeof *geo);
    setenv("SKIPSERVE_DW_CL_WTAB", "0", 1);
    sk_switches_reload();
    depthwise_cl_cases(geo, sizeof geo / sizeof *geo);
    unsetenv("SKIPSERVE_DW_CL_WTAB");
    sk_switches_reload();
}

static void depthwise_cl_cases(const int (*geo)[9], size_t ngeo)
{
    sk_pool *p3 = sk_pool_create(3), *p16 = sk_pool_create(16);
    sk_pool *pools[3] = {NULL, p3, p16};
    setenv("SKIPSERVE_DW_REG", "0", 1); /* its planes to the lanes (session 19) */
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < ngeo; i++)
            for (int e = 0; e < 3; e++) {
                conv_case c;
                dw_geo_case(geo[i], e, &c);
                char what[400];
                describe(&c, what, sizeof what);
                size_t before = sk_dw_cl_planes();
                check_case(&c, p3, e == 0); /* against the reference */
                /* the check runs the plan twice (warm-up, then the checked
                 * run or the allocation count): at least every plane once */
                if (sk_dw_cl_planes() - before < (size_t)(c.N * c.C))
                    fail_msg("[%s] channel lanes not taken: %s", sk_isa_name((sk_isa)l), what);
                /* the switches are read at load: a second graph with them set */
                static const char *const rows[] = {"SKIPSERVE_DW_FLAT", "0", "SKIPSERVE_DW_CL",
                                                   "0", NULL};
                assert_same_bits_as_under(&c, rows, pools, "channel lanes");
            }
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(p3);
    sk_pool_destroy(p16);
}

/* The register-row 3x3 depthwise path (session 19, fast_dwconv.c dw_reg,
 * avx512/f32_dwreg__avx512f.c), forced on with SKIPSERVE_DW_REG=1 (its
 * default is on only on Intel CPUs): against the reference, taken exactly
 * where its rule says (3x3, dilation 1, strides 1 / 2, output rows <= 16
 * wide and tap columns below 32, or any width at stride 1; top / left pads
 * <= 2 — sk_dw_reg_planes grew
 * by every plane, or not at all), and bit for bit the flat path
 * (SKIPSERVE_DW_REG=0 SKIPSERVE_DW_CL=0) and the channel lanes
 * (SKIPSERVE_DW_REG=0) on 1, 3 and 16 threads. Geometries: MobileNetV2's
 * 14x14 and 7x7 planes at strides 1 and 2, rows of exactly 16 outputs
 * reading input columns up to 31 (W 31, 32: the second register), pads 0 and
 * 2 (whole tap rows in the padding), asymmetric pads, one-pixel planes,
 * 2 images, and shapes just outside (17 outputs at stride 2, 5x5, dilation
 * 2, pad 3); the stride-1 loop for wider rows (dw_reg3w, masked loads):
 * MobileNetV2's 112x112, rows of 17-47 outputs with pads 0-2, last blocks
 * of 1-15 lanes. */
static void test_depthwise_reg(void **state)
{
    (void)state;
    static const int geo[][9] = {
        /* C, H, W, k, s, d, pb, pe, N */
        {32, 14, 14, 3, 1, 1, 1, 1, 1}, {24, 28, 28, 3, 2, 1, 1, 1, 2}, {20, 14, 14, 3, 2, 1, 1, 1, 1},
        {33, 7, 7, 3, 1, 1, 1, 1, 1},   {5, 16, 16, 3, 1, 1, 1, 1, 1},  {5, 31, 31, 3, 2, 1, 1, 1, 1},
        {5, 32, 32, 3, 2, 1, 1, 1, 1},  {3, 33, 33, 3, 2, 1, 1, 1, 1},  {4, 9, 12, 3, 2, 1, 0, 1, 1},
        {4, 8, 8, 3, 1, 1, 2, 2, 2},    {4, 1, 1, 3, 1, 1, 1, 1, 1},    {3, 5, 20, 3, 1, 1, 0, 0, 1},
        {6, 6, 30, 3, 2, 1, 1, 0, 1},   {4, 5, 18, 3, 1, 1, 0, 0, 1},   {4, 7, 7, 5, 1, 1, 2, 2, 1},
        {4, 9, 9, 3, 1, 2, 2, 2, 1},    {4, 6, 6, 3, 1, 1, 3, 3, 1},    {6, 6, 40, 3, 2, 1, 1, 1, 1},
        {7, 2, 3, 3, 2, 1, 1, 1, 3},    {3, 112, 112, 3, 1, 1, 1, 1, 1}, {4, 9, 40, 3, 1, 1, 2, 2, 1},
        {4, 6, 17, 3, 1, 1, 0, 1, 2},   {5, 5, 33, 3, 1, 1, 1, 0, 1},    {3, 7, 47, 3, 1, 1, 2, 1, 1},
    };
    sk_pool *p3 = sk_pool_create(3), *p16 = sk_pool_create(16);
    sk_pool *pools[3] = {NULL, p3, p16};
    static const char *const on[] = {"SKIPSERVE_DW_REG", "1", NULL};
    static const char *const flat[] = {"SKIPSERVE_DW_REG", "0", "SKIPSERVE_DW_CL", "0", NULL};
    static const char *const lanes[] = {"SKIPSERVE_DW_REG", "0", NULL};
    int taken_any = 0;
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
            for (int e = 0; e < 3; e++) {
                conv_case c;
                dw_geo_case(geo[i], e, &c);
                char what[400];
                describe(&c, what, sizeof what);
                const int oW = (int)c.out[1];
                const int base = kc && kc->dw_reg3 && c.k[0] == 3 && c.d[0] == 1 &&
                                 (c.s[0] == 1 || c.s[0] == 2) && c.pb[0] <= 2 && c.pb[1] <= 2;
                const int want = base && ((oW <= 16 && (oW - 1) * c.s[1] - c.pb[1] + 2 <= 31) ||
                                          (c.s[0] == 1 && kc->dw_reg3w));
                size_t before = sk_dw_reg_planes();
                setenv("SKIPSERVE_DW_REG", "1", 1);
                check_case(&c, p3, e == 0); /* against the reference */
                unsetenv("SKIPSERVE_DW_REG");
                size_t ran = sk_dw_reg_planes() - before;
                if (want ? ran < (size_t)(c.N * c.C) : ran != 0)
                    fail_msg("[%s] register rows %s: %s", sk_isa_name((sk_isa)l),
                             want ? "not taken" : "taken", what);
                taken_any |= want;
                assert_same_bits_on_under(&c, on, flat, pools, "register rows");
                assert_same_bits_on_under(&c, on, lanes, pools, "register rows");
            }
    }
    if (sk_cpu_detected() >= SK_ISA_AVX512 && !taken_any)
        fail_msg("register rows never taken at the AVX-512 level");
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(p3);
    sk_pool_destroy(p16);
}

/* Pixel rows as one pool job a group (session 19, fast_conv_pixrows.c
 * pixrows_one_task; FP32 1x1 stride-1 convs, default on Intel): each
 * thread's share of the tiles — column-panel-major where there are more
 * column panels than row panels, else row-panel-major, cut anywhere in a
 * panel —, its own gather, serial sub-jobs and transposes. Against the
 * reference, and bit for bit the three-job path (SKIPSERVE_PIXROWS_ONE=0,
 * read per run) on 1, 2, 3 and 16 threads (16: shares of one tile or
 * none): MobileNetV2's 7x7 shapes (+ residual), 5x5 maps at batch 2-3
 * (panels straddle two images), a 3x3 map with 300 output channels
 * (10 column panels, 2 row panels), a 9x9 map with 40 (row-panel-major),
 * and a 3x3 conv, which keeps the three jobs (same bits either way). */
static void test_pixrows_one(void **state)
{
    (void)state;
    static const int geo[][6] = {/* C, M, H, k, stride, pad */
                                 {960, 160, 7, 1, 1, 0}, {160, 960, 7, 1, 1, 0},
                                 {40, 72, 5, 1, 1, 0},   {33, 17, 5, 1, 1, 0},
                                 {64, 300, 3, 1, 1, 0},  {24, 40, 9, 1, 1, 0},
                                 {72, 100, 7, 3, 1, 1}};
    sk_pool *pools[4] = {NULL, sk_pool_create(2), sk_pool_create(3), sk_pool_create(16)};
    char err[256];
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
            for (int N = 1; N <= 3; N++) {
                conv_case c;
                square_case(&c, N, geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4],
                            geo[i][5]);
                c.bias = 1;
                c.add = N != 2;
                c.act = 2;
                char what[400];
                describe(&c, what, sizeof what);
                uint64_t seed = rnd() * 7919ull + 17;
                sk_graph *gr = build(&c, seed), *go = build(&c, seed);
                setenv("SKIPSERVE_PIXROWS", "force", 1);
                setenv("SKIPSERVE_WINOGRAD", "0", 1);
                if (sk_graph_optimize(go, 1, err, sizeof err))
                    fail_msg("optimize: %s", err);
                unsetenv("SKIPSERVE_PIXROWS");
                unsetenv("SKIPSERVE_WINOGRAD");
                int kind = (int)((const sk_conv_priv *)go->nodes[find_op(go, SK_OP_CONV_FUSED)].priv)->kind;
                assert_int_equal(kind, SK_CONV_PIXROWS);
                float *x, *r;
                random_operands(&c, &x, &r);
                int64_t n0, n;
                float *yr = run_graph(gr, &c, x, r, NULL, &n0, 0);
                setenv("SKIPSERVE_PIXROWS_ONE", "0", 1);
                sk_switches_reload();
                size_t jobs0 = sk_pixrows_one_jobs();
                float *want = run_graph(go, &c, x, r, NULL, &n, 0);
                assert_int_equal(sk_pixrows_one_jobs(), jobs0); /* switched off */
                assert_int_equal(n, n0);
                double big = 1.0;
                for (int64_t e = 0; e < n0; e++)
                    big = fmax(big, fabs(yr[e]));
                const double tol = (double)(c.C * c.k[0] * c.k[1] + 16) * FLT_EPSILON * 4.0 * big;
                for (int64_t e = 0; e < n0; e++)
                    if (fabs((double)want[e] - yr[e]) > tol)
                        fail_msg("[%s] y[%lld] %g, ref %g: %s", sk_isa_name((sk_isa)l),
                                 (long long)e, want[e], yr[e], what);
                setenv("SKIPSERVE_PIXROWS_ONE", "1", 1);
                sk_switches_reload();
                for (int t = 0; t < 4; t++) {
                    /* the run counter (fast.h): the one job ran on 2+
                     * threads for the direct (1x1) geometries, never on 1
                     * thread nor for the 3x3 one (geo[6]) */
                    jobs0 = sk_pixrows_one_jobs();
                    float *y = run_graph(go, &c, x, r, pools[t], &n, 0);
                    const size_t ran = sk_pixrows_one_jobs() - jobs0;
                    if (t > 0 && geo[i][3] == 1 ? ran == 0 : ran != 0)
                        fail_msg("[%s] pixel rows as one job ran %zu times on %d threads: %s",
                                 sk_isa_name((sk_isa)l), ran,
                                 t ? sk_pool_size(pools[t]) : 1, what);
                    assert_int_equal(n, n0);
                    if (memcmp(y, want, sizeof(float) * (size_t)n))
                        fail_msg("[%s] pixel rows as one job on %d threads differ from the "
                                 "three jobs: %s",
                                 sk_isa_name((sk_isa)l), t ? sk_pool_size(pools[t]) : 1, what);
                    free(y);
                }
                unsetenv("SKIPSERVE_PIXROWS_ONE");
                sk_switches_reload();
                free(want);
                free(yr);
                free(x);
                free(r);
                sk_graph_free(gr);
                sk_graph_free(go);
            }
    }
    sk_cpu_set_level(sk_cpu_detected());
    for (int t = 1; t < 4; t++)
        sk_pool_destroy(pools[t]);
}

/* Pixel rows' 7-row panels two at a time (session 19, r12: config.h
 * gemm_mr7x2, on Intel AVX-512 CPUs; elsewhere both runs below take the
 * same path and the GEMM-level test_gemm_mr7 covers the kernel): 7x7 maps
 * at batch 1 (49 rows: 3 pairs and a 7th panel) and batch 8 (392 rows,
 * where 7- and 8-row panels pad alike and the pairs take 7), a 3x3 conv
 * past one K block, 1x1 convs with a residual, output channels off 32 —
 * against the reference, and bit for bit SKIPSERVE_PIXROWS_MR14=0 (read per
 * run) on 1 and 2 threads. */
static void test_pixrows_mr14(void **state)
{
    (void)state;
    static const int geo[][6] = {/* C, M, H, k, stride, pad */
                                 {256, 72, 7, 3, 1, 1}, {512, 64, 7, 1, 1, 0},
                                 {160, 100, 7, 1, 1, 0}, {96, 40, 14, 3, 2, 1}};
    sk_pool *pool = sk_pool_create(2);
    char err[256];
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
            for (int N = 1; N <= 8; N += 7) {
                conv_case c;
                square_case(&c, N, geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4],
                            geo[i][5]);
                c.bias = 1;
                c.add = geo[i][3] == 1;
                c.act = 2;
                char what[400];
                describe(&c, what, sizeof what);
                uint64_t seed = rnd() * 7919ull + 29;
                sk_graph *gr = build(&c, seed), *go = build(&c, seed);
                setenv("SKIPSERVE_PIXROWS", "force", 1);
                setenv("SKIPSERVE_WINOGRAD", "0", 1);
                setenv("SKIPSERVE_CONV_BCAST", "0", 1); /* 3x3s: not direct-bcast */
                if (sk_graph_optimize(go, 1, err, sizeof err))
                    fail_msg("optimize: %s", err);
                unsetenv("SKIPSERVE_PIXROWS");
                unsetenv("SKIPSERVE_WINOGRAD");
                unsetenv("SKIPSERVE_CONV_BCAST");
                int kind = (int)((const sk_conv_priv *)go->nodes[find_op(go, SK_OP_CONV_FUSED)].priv)->kind;
                assert_int_equal(kind, SK_CONV_PIXROWS);
                float *x, *r;
                random_operands(&c, &x, &r);
                int64_t n0, n;
                float *yr = run_graph(gr, &c, x, r, NULL, &n0, 0);
                setenv("SKIPSERVE_PIXROWS_MR14", "0", 1);
                sk_switches_reload();
                float *want = run_graph(go, &c, x, r, NULL, &n, 0);
                unsetenv("SKIPSERVE_PIXROWS_MR14");
                sk_switches_reload();
                assert_int_equal(n, n0);
                double big = 1.0;
                for (int64_t e = 0; e < n0; e++)
                    big = fmax(big, fabs(yr[e]));
                const double tol = (double)(c.C * c.k[0] * c.k[1] + 16) * FLT_EPSILON * 4.0 * big;
                for (int t = 0; t < 2; t++) {
                    float *y = run_graph(go, &c, x, r, t ? pool : NULL, &n, 0);
                    assert_int_equal(n, n0);
                    for (int64_t e = 0; e < n0; e++)
                        if (fabs((double)y[e] - yr[e]) > tol)
                            fail_msg("[%s] y[%lld] %g, ref %g: %s", sk_isa_name((sk_isa)l),
                                     (long long)e, y[e], yr[e], what);
                    if (memcmp(y, want, sizeof(float) * (size_t)n))
                        fail_msg("[%s] pixel rows with 7-row panel pairs on %d threads differ "
                                 "from SKIPSERVE_PIXROWS_MR14=0: %s",
                                 sk_isa_name((sk_isa)l), t ? 2 : 1, what);
                    free(y);
                }
                free(want);
                free(yr);
                free(x);
                free(r);
                sk_graph_free(gr);
                sk_graph_free(go);
            }
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pool);
}

/* The pixel-rows GEMM (SK_CONV_PIXROWS, fast_conv.c) forced on every
 * ungrouped conv, Winograd off: 1-3 spatial dims, strides, dilations, pads,
 * pixel counts below / around / past the microkernel's 6 rows and the
 * transpose's 8x8 blocks, channel counts off every vector width, batch up
 * to 3 (one image at a time), with every epilogue; then the 7x7 ResNet
 * shapes it is chosen for by default (49 pixels), unforced. */
/* Pixel rows computes every output with the same FMAs in the same order
 * and the same epilogue as the usual orientation, so with the driver's K
 * blocks for both (SKIPSERVE_PIXROWS_KC=0, SKIPSERVE_IM2COL_KC=0) the two
 * agree bit for bit; by default FP32 pixel rows takes K blocks of up to
 * 2048 rows (fast_conv_pixrows.c pixrows_kc) and im2col-gemm of up to 512
 * (fast_conv_im2col.c im2col_kc), which sum K > 256 in fewer pieces: the
 * same bits where K <= 256, within check_case's bound otherwise. */
static void check_same_as_columns(const conv_case *c, sk_pool *pool)
{
    if (sk_cpu_level() == SK_ISA_SCALAR)
        return;
    char err[256], what[400];
    describe(c, what, sizeof what);
    uint64_t seed = rnd() * 7919ull + 17;
    sk_graph *g[2];
    for (int i = 0; i < 2; i++) {
        setenv("SKIPSERVE_PIXROWS", i ? "0" : "force", 1);
        g[i] = build(c, seed);
        if (sk_graph_optimize(g[i], 1, err, sizeof err))
            fail_msg("optimize: %s (%s)", err, what);
        int kind = (int)((const sk_conv_priv *)g[i]->nodes[find_op(g[i], SK_OP_CONV_FUSED)].priv)->kind;
        assert_int_equal(kind, i ? SK_CONV_GEMM : SK_CONV_PIXROWS);
    }
    setenv("SKIPSERVE_PIXROWS", "force", 1);
    float *x, *r;
    random_operands(c, &x, &r);
    int64_t n1, n2, n3;
    setenv("SKIPSERVE_PIXROWS_KC", "0", 1);
    setenv("SKIPSERVE_IM2COL_KC", "0", 1);
    sk_switches_reload();
    float *y1 = run_graph(g[0], c, x, r, pool, &n1, 0), *y2 = run_graph(g[1], c, x, r, pool, &n2, 0);
    unsetenv("SKIPSERVE_PIXROWS_KC");
    unsetenv("SKIPSERVE_IM2COL_KC");
    sk_switches_reload();
    float *y3 = run_graph(g[0], c, x, r, pool, &n3, 0); /* long K blocks */
    assert_int_equal(n1, n2);
    assert_int_equal(n1, n3);
    int K = c->C;
    for (int a = 0; a < c->nsp; a++)
        K *= c->k[a];
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_level());
    for (int64_t i = 0; i < n1; i++) {
        if (memcmp(&y1[i], &y2[i], sizeof(float)))
            fail_msg("[%s] y[%lld]: pixel rows %.9g, columns %.9g: %s", sk_isa_name(sk_cpu_level()),
                     (long long)i, y1[i], y2[i], what);
        if (K <= cfg->kc && memcmp(&y3[i], &y2[i], sizeof(float)))
            fail_msg("[%s] y[%lld]: pixel rows (one K block) %.9g, columns %.9g: %s",
                     sk_isa_name(sk_cpu_level()), (long long)i, y3[i], y2[i], what);
    }
    free(x);
    free(r);
    free(y1);
    free(y2);
    free(y3);
    sk_graph_free(g[0]);
    sk_graph_free(g[1]);
}

static void pixrows_cases(sk_pool *pool)
{
    for (int t = 0; t < 50; t++) {
        conv_case c;
        random_case(&c);
        c.group = 1;
        c.N = irand(1, 3);
        check_case(&c, pool, t % 10 == 0);
        if (t % 5 == 0 && !(c.C == 1 && c.M == 1 && c.nsp == 2)) /* not depthwise */
            check_same_as_columns(&c, pool);
    }
}

static void pixrows_resnet_cases(sk_pool *pool)
{
    static const int geo[][6] = {
        /* C, M, H, k, s, pad: every output 7x7 */
        {96, 80, 7, 1, 1, 0}, {80, 136, 7, 1, 1, 0}, {64, 120, 14, 1, 2, 0}, {48, 40, 14, 3, 2, 1},
    };
    for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
        for (int e = 0; e < 2; e++) {
            conv_case c;
            square_case(&c, 2, geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4], geo[i][5]);
            c.bias = e;
            c.bn = !e;
            c.add = e;
            c.act = 1 + e;
            check_case(&c, pool, 1);
        }
}

static void test_pixrows(void **state)
{
    (void)state;
    /* forced over every other ungrouped strategy: the stride-2 direct convs
     * (default for some geometries) would otherwise take random cases */
    setenv("SKIPSERVE_PIXROWS", "force", 1);
    setenv("SKIPSERVE_WINOGRAD", "0", 1);
    setenv("SKIPSERVE_CONV_DIRECT", "0", 1);
    setenv("SKIPSERVE_CONV_BCAST", "0", 1);
    for_each_level(pixrows_cases);
    unsetenv("SKIPSERVE_PIXROWS");
    unsetenv("SKIPSERVE_WINOGRAD");
    unsetenv("SKIPSERVE_CONV_DIRECT");
    unsetenv("SKIPSERVE_CONV_BCAST");
    for_each_level(pixrows_resnet_cases);
}

/* ---- raw weights released after packing (prepack.c release_weights) ----
 * Two convs reading one W keep it (the rule: one reader only);
 * SKIPSERVE_KEEP_WEIGHTS=1 keeps every W; a graph optimized at a SIMD
 * level and then run at the scalar level (its reference kernel would read
 * the freed W) fails with an error instead of reading freed memory. */
static sk_graph *two_convs(int share)
{
    char err[256];
    sk_graph *g = sk_graph_new();
    int64_t xd[4] = {1, 8, 9, 9}, wd[4] = {8, 8, 3, 3};
    set_input(g, "X", 4, xd);
    add_const(g, "W", 4, wd, 11, 0);
    if (!share)
        add_const(g, "W2", 4, wd, 12, 0);
    int in1[2] = {val(g, "X"), val(g, "W")}, o1 = val(g, "y1");
    int n1 = sk_graph_add_node(g, SK_OP_CONV, "c1", 2, in1, 1, &o1);
    int in2[2] = {val(g, "y1"), val(g, share ? "W" : "W2")}, o2 = val(g, "y2");
    int n2 = sk_graph_add_node(g, SK_OP_CONV, "c2", 2, in2, 1, &o2);
    int64_t pads[4] = {1, 1, 1, 1};
    sk_node_set_ints(g, n1, "pads", pads, 4);
    sk_node_set_ints(g, n2, "pads", pads, 4);
    sk_graph_add_output(g, o2);
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

static void test_released_weights(void **state)
{
    (void)state;
    char err[256];
    if (sk_cpu_detected() == SK_ISA_SCALAR)
        skip(); /* nothing is packed at the scalar level */
    sk_cpu_set_level(sk_cpu_detected());
    for (int share = 0; share < 2; share++)
        for (int keep = 0; keep < 2; keep++) {
            if (keep)
                setenv("SKIPSERVE_KEEP_WEIGHTS", "1", 1);
            sk_graph *g = two_convs(share);
            assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
            unsetenv("SKIPSERVE_KEEP_WEIGHTS");
            int released = !share && !keep;
            for (int i = 0; i < g->nnodes; i++) {
                assert_non_null(g->nodes[i].priv);
                const sk_value *w = &g->values[g->nodes[i].in[1]];
                assert_int_equal(w->released, released);
                assert_true((w->data == NULL) == released);
            }
            /* shapes and MACs still known without the raw W (skipserve-bench's
             * GMAC): each conv 8x9x9 outputs x 8x3x3 MACs */
            {
                sk_tensor xin = {SK_F32, {4, {1, 8, 9, 9}}, NULL};
                sk_shape sh[16];
                sk_dtype dt[16];
                assert_true(g->nvalues <= 16);
                assert_int_equal(sk_graph_infer_shapes(g, &xin, sh, dt), 0);
                for (int i = 0; i < g->nnodes; i++) {
                    const sk_shape *y = &sh[g->nodes[i].out[0]];
                    assert_int_equal(y->rank, 4);
                    assert_int_equal(y->dim[1], 8);
                    assert_int_equal(y->dim[3], 9);
                    assert_int_equal(sk_node_macs(g, i, sh), 8 * 9 * 9 * 8 * 3 * 3);
                }
            }
            /* the plan runs on the packed weights at the level of the load */
            sk_tensor in = {SK_F32, {4, {1, 8, 9, 9}}, NULL};
            float x[648];
            for (int i = 0; i < 648; i++)
                x[i] = frand();
            const void *d[1] = {x};
            sk_plan *p;
            assert_int_equal(sk_plan_create(g, &in, NULL, &p, err, sizeof err), 0);
            if (sk_plan_run(p, d, err, sizeof err))
                fail_msg("run: %s", err);
            sk_plan_free(p);
            /* the scalar level's reference kernels would need the raw W */
            sk_cpu_set_level(SK_ISA_SCALAR);
            assert_int_equal(sk_plan_create(g, &in, NULL, &p, err, sizeof err), 0);
            int rc = sk_plan_run(p, d, err, sizeof err);
            if (released) {
                assert_true(rc != 0);
                assert_non_null(strstr(err, "released"));
            } else {
                assert_int_equal(rc, 0);
            }
            sk_plan_free(p);
            sk_cpu_set_level(sk_cpu_detected());
            sk_graph_free(g);
        }
}

/* The direct NCHW conv (fast_conv_s2.c, session 16) forced on every conv
 * it covers, against the reference: stride 1 and 2, kernels 1..7 (up to
 * the ResNet stem's 7x7), odd and even sizes, pads 0..3 on each side
 * independently (and SAME), outputs narrower than a vector, wider than
 * several, and a last band shorter than the others; channel counts around
 * the tile's 4 (C up to 40: K up to 1960), batch 1-3, every epilogue; run
 * serial, on 3 and 16 threads at every level. */
static void direct_cases(sk_pool *pool)
{
    for (int t = 0; t < 40; t++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        c.nsp = 2;
        c.N = irand(1, 3);
        static const int chans[] = {1, 2, 3, 4, 5, 7, 9, 17, 40};
        c.C = chans[irand(0, 8)];
        c.M = chans[irand(1, 8)];
        c.group = 1;
        int st = irand(1, 2), k = irand(1, 7);
        for (int a = 0; a < 3; a++)
            c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
        for (int a = 0; a < 2; a++) {
            c.k[a] = a == 0 ? k : irand(0, 1) ? k : irand(1, 7);
            c.s[a] = st;
            c.pb[a] = irand(0, 3) < c.k[a] ? irand(0, 3) : 0;
            c.pe[a] = irand(0, 3) < c.k[a] ? irand(0, 3) : 0;
            int lo = c.k[a] - c.pb[a] - c.pe[a];
            c.in[a] = irand(lo < 1 ? 1 : lo, (lo < 1 ? 1 : lo) + 45);
        }
        if (irand(0, 7) == 0)
            c.auto_pad = "SAME_UPPER";
        for (int a = 0; a < 2; a++)
            c.out[a] = out_size(&c, a);
        c.bias = irand(0, 1);
        c.bn = irand(0, 1);
        c.add = irand(0, 1);
        c.act = irand(0, 2);
        check_case(&c, pool, 0);
    }
    /* the ResNet stem at a reduced size, and its batch of 3 */
    conv_case c;
    square_case(&c, 3, 3, 64, 38, 7, 2, 3);
    c.bn = 1;
    c.act = 1;
    check_case(&c, pool, 1);
}

/* The broadcast direct conv (fast_conv_s2b.c) forced on every stride-2
 * conv: kernels 1..7 (1x1 down-sampling to the 7x7 stem), pads 0..3 each
 * side, outputs narrower than a tile (6 / 14 pixels: pixels past the row
 * computed from the padded copy's slack, not stored), wider (a last tile
 * moved left over stored pixels, with a residual: not added twice),
 * channel counts across the 16 / 32-channel blocks (M up to 70: a partial
 * last block), C up to 40, batch 1-3, every epilogue; serial, 3 and 16
 * threads, every level. */
static void direct_bc_cases(sk_pool *pool)
{
    for (int t = 0; t < 40; t++) {
        conv_case c;
        memset(&c, 0, sizeof c);
        c.nsp = 2;
        c.N = irand(1, 3);
        static const int chans[] = {1, 3, 5, 8, 16, 17, 32, 33, 40, 70};
        c.C = chans[irand(0, 8)];
        c.M = chans[irand(1, 9)];
        c.group = 1;
        int k = irand(1, 7);
        for (int a = 0; a < 3; a++)
            c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
        for (int a = 0; a < 2; a++) {
            c.k[a] = a == 0 ? k : irand(0, 1) ? k : irand(1, 7);
            c.s[a] = 2;
            c.pb[a] = irand(0, 3) < c.k[a] ? irand(0, 3) : 0;
            c.pe[a] = irand(0, 3) < c.k[a] ? irand(0, 3) : 0;
            int lo = c.k[a] - c.pb[a] - c.pe[a];
            c.in[a] = irand(lo < 1 ? 1 : lo, (lo < 1 ? 1 : lo) + 70);
        }
        if (irand(0, 7) == 0)
            c.auto_pad = "SAME_LOWER";
        for (int a = 0; a < 2; a++)
            c.out[a] = out_size(&c, a);
        c.bias = irand(0, 1);
        c.bn = irand(0, 1);
        c.add = irand(0, 1);
        c.act = irand(0, 2);
        check_case(&c, pool, 0);
    }
    /* 7-wide rows at AVX-512 take the 7 x 64 tile: M = 70 ends with a
     * block whose second panel does not exist (wstep 0) */
    for (int i = 0; i < 2; i++) {
        conv_case w7;
        square_case(&w7, 1 + i, 24, i ? 70 : 96, 13 + i, 3, 2, 1);
        w7.bias = 1;
        w7.add = i;
        w7.act = 1;
        check_case(&w7, pool, 0);
    }
    /* 1x1 s2 down-sampling, no pads: read in place (no copy), at 28 and
     * 7 wide, the last with odd input size */
    for (int i = 0; i < 2; i++) {
        conv_case ds;
        square_case(&ds, 2, 40, 72, i ? 13 : 56, 1, 2, 0);
        ds.bn = 1;
        ds.add = 1;
        check_case(&ds, pool, 0);
    }
    /* ResNet-18's layer2.0 conv1 at batch 2 with its residual-free
     * epilogue; no allocation in the run */
    conv_case c;
    square_case(&c, 2, 64, 128, 56, 3, 2, 1);
    c.bn = 1;
    c.act = 1;
    check_case(&c, pool, 1);
}

static void test_conv_direct_bc(void **state)
{
    (void)state;
    setenv("SKIPSERVE_CONV_BCAST", "force", 1);
    for_each_level(direct_bc_cases);
    unsetenv("SKIPSERVE_CONV_BCAST");
}

/* Session 17 (s2r): the K-sliced task order (fast_conv_s2b.c) with a 4 KB
 * slice budget (SKIPSERVE_CONV_BCAST_KB=4: 8-64 k rows a slice, so slices
 * end inside a channel's taps): against the reference with no allocation,
 * that the order ran (sk_conv_direct_bc_sliced_runs grew), and bit for bit
 * the (block, row) order (SKIPSERVE_CONV_BCAST_ORDER=0, read per run) on
 * 1, 3 and 16 threads. Geometries at its edges: 7-wide rows on the 7 x 64
 * tile with a partial last block (M = 70), one output row, block counts of
 * 1-3 (not divisible by 2 or 3 threads; 16 threads outnumber the tasks),
 * rows of two tiles (the last moved left, residual added once), odd
 * sizes, batch 2, K not a multiple of the slice. */
static void test_conv_direct_bc_sliced(void **state)
{
    (void)state;
    static const int geo[][8] = {
        /* N, C, M, H, W, k, pad, epilogue */
        {1, 40, 70, 13, 13, 3, 1, 2},  {1, 24, 96, 14, 14, 3, 1, 1}, {2, 17, 33, 2, 15, 3, 1, 2},
        {1, 33, 64, 40, 29, 3, 1, 2},  {1, 8, 32, 9, 15, 5, 2, 0},   {2, 16, 40, 27, 9, 3, 0, 1},
        {1, 64, 128, 14, 14, 3, 1, 1},
    };
    setenv("SKIPSERVE_CONV_BCAST", "force", 1);
    sk_pool *p3 = sk_pool_create(3), *p16 = sk_pool_create(16);
    sk_pool *pools[3] = {NULL, p3, p16};
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
            const int *q = geo[i];
            conv_case c;
            memset(&c, 0, sizeof c);
            c.nsp = 2;
            c.N = q[0];
            c.C = q[1];
            c.M = q[2];
            c.group = 1;
            for (int a = 0; a < 3; a++)
                c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
            c.in[0] = q[3];
            c.in[1] = q[4];
            for (int a = 0; a < 2; a++) {
                c.k[a] = q[5];
                c.s[a] = 2;
                c.pb[a] = c.pe[a] = q[6];
                c.out[a] = out_size(&c, a);
            }
            c.bias = 1;
            c.add = q[7] == 2;
            c.act = q[7];
            setenv("SKIPSERVE_CONV_BCAST_KB", "4", 1);
            sk_switches_reload();
            size_t before = sk_conv_direct_bc_sliced_runs();
            check_case(&c, p3, 1); /* against the reference, no allocation */
            if (sk_conv_direct_bc_sliced_runs() == before) {
                char what[400];
                describe(&c, what, sizeof what);
                fail_msg("[%s] the K-sliced order did not run: %s", sk_isa_name((sk_isa)l),
                         what);
            }
            char err[256], what[400];
            describe(&c, what, sizeof what);
            sk_graph *go = build(&c, rnd() * 31ull + 7);
            if (sk_graph_optimize(go, 1, err, sizeof err))
                fail_msg("optimize: %s (%s)", err, what);
            float *x, *r;
            random_operands(&c, &x, &r);
            int64_t n0, n1;
            setenv("SKIPSERVE_CONV_BCAST_ORDER", "0", 1);
            sk_switches_reload();
            float *rows = run_graph(go, &c, x, r, NULL, &n0, 0);
            unsetenv("SKIPSERVE_CONV_BCAST_ORDER");
            sk_switches_reload();
            for (int t = 0; t < 3; t++) {
                float *y = run_graph(go, &c, x, r, pools[t], &n1, 0);
                assert_int_equal(n0, n1);
                if (memcmp(y, rows, sizeof(float) * (size_t)n0))
                    fail_msg("[%s] K-sliced order on %d threads differs from (block, row): %s",
                             sk_isa_name((sk_isa)l), t == 0 ? 1 : t == 1 ? 3 : 16, what);
                free(y);
            }
            unsetenv("SKIPSERVE_CONV_BCAST_KB");
            sk_switches_reload();
            free(rows);
            free(x);
            free(r);
            sk_graph_free(go);
        }
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(p3);
    sk_pool_destroy(p16);
    unsetenv("SKIPSERVE_CONV_BCAST");
}

/* Session 20 (r2t): the level's K slice budget for the wide tile
 * (sk_kconfig.cdirb_kb, 64 KB on Intel AVX-512; config.c fill_intel) with
 * no switch set: ResNet's layer2.0 conv2 (3x3/2 128 -> 128, 56 -> 28: a
 * 147 KB block of weights, unsliced at the 256 KB default) and a
 * 256 -> 256 one at 28 -> 14 take the K-sliced order exactly where the
 * level sets a budget under their block; against the reference with no
 * allocation, and bit for bit the (block, row) order on 1, 2 and 3
 * threads (the tests' pool sizes around the 2 threads it was measured on). */
static void test_conv_direct_bc_level_kb(void **state)
{
    (void)state;
    static const int geo[][2] = {{128, 56}, {256, 28}}; /* C = M, H = W */
    setenv("SKIPSERVE_CONV_BCAST", "force", 1);
    sk_pool *p2 = sk_pool_create(2), *p3 = sk_pool_create(3);
    sk_pool *pools[3] = {NULL, p2, p3};
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
            conv_case c;
            memset(&c, 0, sizeof c);
            c.nsp = 2;
            c.N = 1;
            c.C = c.M = geo[i][0];
            c.group = 1;
            for (int a = 0; a < 3; a++)
                c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
            for (int a = 0; a < 2; a++) {
                c.in[a] = geo[i][1];
                c.k[a] = 3;
                c.s[a] = 2;
                c.pb[a] = c.pe[a] = 1;
                c.out[a] = out_size(&c, a);
            }
            c.bias = 1;
            c.act = 1;
            /* the wide tile's block: K rows of cdirb_nc floats */
            const long block_kb = (long)c.C * 9 * kc->cdirb_nc * (long)sizeof(float) / 1024;
            const int want = kc->cdirb_kb > 0 ? block_kb > kc->cdirb_kb : block_kb > 256;
            size_t before = sk_conv_direct_bc_sliced_runs();
            check_case(&c, p3, 1); /* against the reference, no allocation */
            char what[400];
            describe(&c, what, sizeof what);
            if ((sk_conv_direct_bc_sliced_runs() != before) != want)
                fail_msg("[%s] K-sliced order %s (cdirb_kb %d, block %ld KB): %s",
                         sk_isa_name((sk_isa)l), want ? "did not run" : "ran", kc->cdirb_kb,
                         block_kb, what);
            char err[256];
            sk_graph *go = build(&c, rnd() * 31ull + 7);
            if (sk_graph_optimize(go, 1, err, sizeof err))
                fail_msg("optimize: %s (%s)", err, what);
            float *x, *r;
            random_operands(&c, &x, &r);
            int64_t n0, n1;
            setenv("SKIPSERVE_CONV_BCAST_ORDER", "0", 1);
            sk_switches_reload();
            float *rows = run_graph(go, &c, x, r, NULL, &n0, 0);
            unsetenv("SKIPSERVE_CONV_BCAST_ORDER");
            sk_switches_reload();
            for (int t = 0; t < 3; t++) {
                float *y = run_graph(go, &c, x, r, pools[t], &n1, 0);
                assert_int_equal(n0, n1);
                if (memcmp(y, rows, sizeof(float) * (size_t)n0))
                    fail_msg("[%s] the level's order on %d threads differs from (block, row): %s",
                             sk_isa_name((sk_isa)l), t + 1, what);
                free(y);
            }
            free(rows);
            free(x);
            free(r);
            sk_graph_free(go);
        }
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(p2);
    sk_pool_destroy(p3);
    unsetenv("SKIPSERVE_CONV_BCAST");
}

static void test_conv_direct(void **state)
{
    (void)state;
    setenv("SKIPSERVE_CONV_DIRECT", "force", 1);
    for_each_level(direct_cases);
    /* session 21: the avx2 level's other band tile (4 x 3 on Intel, 4 x 2
     * elsewhere) swapped into the config, so every x86 CPU checks both
     * against the reference */
#if defined(__x86_64__)
    sk_kconfig *kc = (sk_kconfig *)sk_kconfig_for(SK_ISA_AVX2);
    if (kc && kc->cdir_band) {
        const sk_cdir_band_fn keep = kc->cdir_band;
        kc->cdir_band = keep == sk_f32_cdir_band__avx2 ? sk_f32_cdir_band_4x3__avx2
                                                       : sk_f32_cdir_band__avx2;
        sk_pool *pool = sk_pool_create(3);
        sk_cpu_set_level(SK_ISA_AVX2);
        direct_cases(NULL);
        direct_cases(pool);
        sk_cpu_set_level(sk_cpu_detected());
        sk_pool_destroy(pool);
        kc->cdir_band = keep;
    }
#endif
    unsetenv("SKIPSERVE_CONV_DIRECT");
}

/* The strategy the packer picked for c's conv (0: none packed). */
static int packed_kind_of(const conv_case *c, int symbolic_hw)
{
    char err[256];
    sk_graph *g = build(c, 99);
    if (symbolic_hw) { /* the image size left to the run */
        sk_value *x = &g->values[g->inputs[0]];
        x->shape.dim[2] = x->shape.dim[3] = SK_DIM_SYMBOLIC;
    }
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    const sk_node *n = &g->nodes[find_op(g, SK_OP_CONV_FUSED)];
    int kind = n->priv ? (int)((const sk_conv_priv *)n->priv)->kind : 0;
    sk_graph_free(g);
    return kind;
}

static int packed_kind(const conv_case *c) { return packed_kind_of(c, 0); }

/* The plan dump of c's graph (batch 1) names the conv's strategy `tag`. */
static void assert_dump_names(const conv_case *c, const char *tag)
{
    char err[256], *buf = NULL;
    size_t len = 0;
    sk_graph *g = build(c, 5);
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    sk_tensor in;
    memset(&in, 0, sizeof in);
    in.dtype = SK_F32;
    in.shape.rank = 4;
    in.shape.dim[0] = 1;
    in.shape.dim[1] = c->C;
    in.shape.dim[2] = c->in[0];
    in.shape.dim[3] = c->in[1];
    sk_plan *p;
    if (sk_plan_create(g, &in, NULL, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    FILE *f = open_memstream(&buf, &len);
    sk_plan_dump(p, f);
    fclose(f);
    if (!strstr(buf, tag))
        fail_msg("plan dump does not name the strategy %s:\n%s", tag, buf);
    free(buf);
    sk_plan_free(p);
    sk_graph_free(g);
}

/* Which convs get Winograd by default: 3x3 stride 1 with >= 32 input and
 * output channels, at any image size; never strided, dilated or grouped
 * ones; none with SKIPSERVE_WINOGRAD=0. */
static void test_winograd_selection(void **state)
{
    (void)state;
    if (sk_cpu_level() == SK_ISA_SCALAR)
        skip();
    conv_case c;
    square_case(&c, 1, 64, 64, 56, 3, 1, 1);
    assert_int_equal(packed_kind(&c), SK_CONV_WINOGRAD4);
    assert_dump_names(&c, "[winograd-f4x4-3x3]");
    /* the size rule: at 56x56 F(4x4) multiplies 13 panels x 36 against
     * F(2x2)'s 49 x 16 lanes; unknown size: F(2x2) */
    assert_int_equal(packed_kind_of(&c, 1), SK_CONV_WINOGRAD);
    setenv("SKIPSERVE_WINOGRAD", "2", 1);
    assert_int_equal(packed_kind(&c), SK_CONV_WINOGRAD);
    assert_dump_names(&c, "[winograd-f2x2-3x3]");
    setenv("SKIPSERVE_WINOGRAD", "0", 1);
    assert_int_equal(packed_kind(&c), SK_CONV_GEMM);
    unsetenv("SKIPSERVE_WINOGRAD");
    conv_case s = c; /* strided */
    s.s[0] = s.s[1] = 2;
    for (int a = 0; a < 2; a++)
        s.out[a] = out_size(&s, a);
    /* session 16: a strided 3x3 takes the broadcast direct conv (AVX-512) */
    assert_int_equal(packed_kind(&s),
                     sk_cpu_level() >= SK_ISA_AVX512 ? SK_CONV_DIRECT_BC : SK_CONV_GEMM);
    conv_case d = c; /* dilated */
    d.d[0] = d.d[1] = 2;
    for (int a = 0; a < 2; a++)
        d.out[a] = out_size(&d, a);
    assert_int_equal(packed_kind(&d), SK_CONV_GEMM);
    conv_case gr = c; /* grouped */
    gr.group = 2;
    assert_int_equal(packed_kind(&gr), SK_CONV_GEMM);
    conv_case sm = c; /* 7x7 output: still faster, but by F(2x2): F(4x4)'s */
    sm.in[0] = sm.in[1] = 7; /* 4 tiles fill a quarter of a 16-lane panel */
    for (int a = 0; a < 2; a++)
        sm.out[a] = out_size(&sm, a);
    assert_int_equal(packed_kind(&sm), SK_CONV_WINOGRAD);
    setenv("SKIPSERVE_WINOGRAD", "4", 1);
    assert_int_equal(packed_kind(&sm), SK_CONV_WINOGRAD4);
    unsetenv("SKIPSERVE_WINOGRAD");
    conv_case mid = c; /* 14x14: 16 tiles of 4x4 fill one AVX2 panel (16 x 36 */
    mid.in[0] = mid.in[1] = 14; /* lanes against 64 x 16), half an AVX-512 one */
    for (int a = 0; a < 2; a++)
        mid.out[a] = out_size(&mid, a);
    assert_int_equal(packed_kind(&mid), sk_gemm_config(sk_cpu_level())->nr == 16
                                            ? SK_CONV_WINOGRAD4
                                            : SK_CONV_WINOGRAD);
    conv_case th = c; /* too few channels, in or out */
    th.C = 16;
    assert_int_equal(packed_kind(&th), SK_CONV_GEMM);
    th = c;
    th.M = 16;
    assert_int_equal(packed_kind(&th), SK_CONV_GEMM);
}

/* Which convs get pixel rows by default: ungrouped GEMM convs whose output
 * has so few pixels per image that rows pad >= 10% less than columns (7x7:
 * 54 rows vs 64 columns), not 14x14 (198 vs 208) or larger; never when the
 * pixel count depends on a symbolic input dim; none with
 * SKIPSERVE_PIXROWS=0. */
static void test_pixrows_selection(void **state)
{
    (void)state;
    if (sk_cpu_level() == SK_ISA_SCALAR)
        skip();
    conv_case c; /* ResNet-50 layer4: 1x1, 2048 -> 512 at 7x7 */
    square_case(&c, 1, 2048, 512, 7, 1, 1, 0);
    assert_int_equal(packed_kind(&c), SK_CONV_PIXROWS);
    assert_dump_names(&c, "[im2col-gemm-pixrows]");
    assert_int_equal(packed_kind_of(&c, 1), SK_CONV_GEMM);
    setenv("SKIPSERVE_PIXROWS", "0", 1);
    assert_int_equal(packed_kind(&c), SK_CONV_GEMM);
    unsetenv("SKIPSERVE_PIXROWS");
    conv_case s = c; /* 3x3 stride 2, 14x14 -> 7x7 */
    s.C = 512;
    s.in[0] = s.in[1] = 14;
    s.k[0] = s.k[1] = 3;
    s.s[0] = s.s[1] = 2;
    s.pb[0] = s.pb[1] = s.pe[0] = s.pe[1] = 1;
    for (int a = 0; a < 2; a++)
        s.out[a] = out_size(&s, a);
    assert_int_equal(s.out[0], 7);
    /* session 16: at AVX-512 the broadcast direct conv's 7-pixel tile */
    assert_int_equal(packed_kind(&s),
                     sk_cpu_level() >= SK_ISA_AVX512 ? SK_CONV_DIRECT_BC : SK_CONV_PIXROWS);
    setenv("SKIPSERVE_CONV_BCAST", "0", 1);
    assert_int_equal(packed_kind(&s), SK_CONV_PIXROWS);
    unsetenv("SKIPSERVE_CONV_BCAST");
    conv_case b = c; /* 14x14: 5% less padding, not worth the transpose */
    b.in[0] = b.in[1] = b.out[0] = b.out[1] = 14;
    assert_int_equal(packed_kind(&b), SK_CONV_GEMM);
    b.in[0] = b.in[1] = b.out[0] = b.out[1] = 56;
    assert_int_equal(packed_kind(&b), SK_CONV_GEMM);
    conv_case gr = c; /* grouped */
    gr.group = 2;
    assert_int_equal(packed_kind(&gr), SK_CONV_GEMM);
    conv_case w = c; /* 3x3 stride 1: Winograd first */
    w.C = 512;
    w.k[0] = w.k[1] = 3;
    w.pb[0] = w.pb[1] = w.pe[0] = w.pe[1] = 1;
    assert_int_equal(packed_kind(&w), SK_CONV_WINOGRAD);
}

/* pix_max_n of c's packed conv (Winograd on small maps: pixel rows at
 * small batches). */
static int64_t packed_pix_max_n(const conv_case *c)
{
    char err[256];
    sk_graph *g = build(c, 99);
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    const sk_node *n = &g->nodes[find_op(g, SK_OP_CONV_FUSED)];
    int64_t v = n->priv ? ((const sk_conv_priv *)n->priv)->pix_max_n : -1;
    sk_graph_free(g);
    return v;
}

/* A 3x3 stride-1 conv on a 7x7 map packs both Winograd and, with AVX-512's
 * 32-wide panels, W' for pixel rows (prepack.c wino_pixrows_max_n): batch 1
 * runs pixel rows (bit for bit the forced pixel-rows kind), batch 3
 * Winograd (bit for bit with SKIPSERVE_WINO_PIXROWS=0), and batch 1 differs
 * from Winograd's bits (the check can tell the paths apart); both against
 * the reference. AVX2's 16-wide panels are full at batch 1: no W'. */
static void test_wino_pixrows_by_batch(void **state)
{
    (void)state;
    static const char *const pix[] = {"SKIPSERVE_WINOGRAD", "0", "SKIPSERVE_PIXROWS", "force",
                                      NULL};
    static const char *const wino[] = {"SKIPSERVE_WINO_PIXROWS", "0", NULL};
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (int N = 1; N <= 3; N += 2) {
            conv_case c;
            square_case(&c, N, 64, 48, 7, 3, 1, 1);
            c.bias = 1;
            c.add = N == 3;
            c.act = 1;
            assert_int_equal(packed_kind(&c), SK_CONV_WINOGRAD);
            assert_int_equal(packed_pix_max_n(&c), l == SK_ISA_AVX512 ? 1 : 0);
            /* the dump (and --profile) names the path a batch-1 run takes
             * (assert_dump_names plans batch 1 and has no R input) */
            if (N == 1)
                assert_dump_names(&c, l == SK_ISA_AVX512 ? "[im2col-gemm-pixrows]"
                                                         : "[winograd-f2x2-3x3]");
            check_case(&c, NULL, 1);
            if (l != SK_ISA_AVX512)
                continue;
            float *x, *r;
            random_operands(&c, &x, &r);
            int64_t n0, n1, n2;
            float *y = run_under(&c, NULL, x, r, &n0);
            float *yp = run_under(&c, pix, x, r, &n1);
            float *yw = run_under(&c, wino, x, r, &n2);
            assert_true(n0 == n1 && n0 == n2);
            size_t bytes = sizeof(float) * (size_t)n0;
            if (N == 1) {
                assert_true(memcmp(y, yp, bytes) == 0); /* pixel rows ran */
                assert_true(memcmp(y, yw, bytes) != 0);
            } else {
                assert_true(memcmp(y, yw, bytes) == 0); /* Winograd ran */
            }
            free(y);
            free(yp);
            free(yw);
            free(x);
            free(r);
        }
    }
    sk_cpu_set_level(sk_cpu_detected());
}

/* ---- the NCHW 1x1 strategy (SK_CONV_NCHW1X1, fast_conv_1x1.c) ----------
 * Taken only under SKIPSERVE_NCHW1X1=force, at a level with the kernel
 * (AVX-512). The microkernel against its scalar contract (gemm_nchw.c) on
 * random lane masks — one segment, two segments, partial, empty — every
 * flag, with guard cells around C that masked-off lanes must not touch;
 * then whole convs: P from 16 (a vector spans exactly one image) past
 * several 32-column tiles, odd channel counts, K over two of the driver's
 * K blocks, batch 1-5 (tiles crossing images), every epilogue, on 1, 3 and
 * 16 threads, against the reference (check_case, with no allocation) and
 * bit for bit against im2col-gemm (same K blocks, same FMA order). */
static void nchw_uk_case(sk_gemm_nchw_fn uk, uint64_t seed)
{
    enum { LD = 80, ROWS = 8, GUARD = 40 };
    const size_t kc = 1 + (size_t)(seed % 37);
    float a[37 * 8], b[37 * LD + 64], res[ROWS * LD + 64];
    float c0[ROWS * LD + 2 * GUARD], c1[ROWS * LD + 2 * GUARD], bias[ROWS];
    for (size_t i = 0; i < sizeof a / sizeof *a; i++)
        a[i] = (float)((int)((i * 7 + seed) % 23) - 11) / 8.0f;
    for (size_t i = 0; i < sizeof b / sizeof *b; i++)
        b[i] = (float)((int)((i * 13 + seed * 3) % 29) - 14) / 16.0f;
    for (size_t i = 0; i < sizeof res / sizeof *res; i++)
        res[i] = (float)((int)((i * 5 + seed) % 17) - 8) / 4.0f;
    for (int i = 0; i < ROWS; i++)
        bias[i] = (float)(i - 3) / 2.0f;
    for (size_t i = 0; i < sizeof c0 / sizeof *c0; i++)
        c0[i] = c1[i] = (float)((int)(i % 11) - 5); /* old C and guard cells */
    sk_gemm_nchw_cols cl0, cl1;
    memset(&cl0, 0, sizeof cl0);
    for (int v = 0; v < 2; v++) {
        /* lanes [0, len0) from segment 0, [len0, len0 + rem) from segment 1 */
        int len0 = (int)((seed >> (3 + 5 * v)) % 17), rem = (int)((seed >> (8 + 5 * v)) % 17);
        rem = rem > 16 - len0 ? 16 - len0 : rem;
        size_t o0 = (size_t)v * 20 + (seed % 4), o1 = 40 + (size_t)v * 20; /* disjoint */
        cl0.mask[v][0] = (1u << len0) - 1u;
        cl0.mask[v][1] = ((1u << rem) - 1u) << len0;
        cl0.b[v][0] = b + o0;
        cl0.b[v][1] = b + o1 - (size_t)len0;
        cl0.res[v][0] = res + o0;
        cl0.res[v][1] = res + o1 - (size_t)len0;
        cl0.c[v][0] = c0 + GUARD + o0;
        cl0.c[v][1] = c0 + GUARD + o1 - (size_t)len0;
    }
    cl0.simple = cl0.mask[0][0] == 0xffffu && cl0.mask[1][0] == 0xffffu;
    cl1 = cl0;
    for (int v = 0; v < 2; v++)
        for (int sgm = 0; sgm < 2; sgm++)
            cl1.c[v][sgm] = c1 + (cl0.c[v][sgm] - c0);
    sk_gemm_nchw_args g;
    memset(&g, 0, sizeof g);
    g.kc = kc;
    g.ldb = LD;
    g.ldc = LD;
    g.rows = 1 + (int)(seed % ROWS);
    g.flags = (int)(seed % 4);
    g.bias = seed & 4 ? bias : NULL;
    g.has_res = (seed & 8) != 0;
    g.lo = seed & 16 ? 0.0f : -INFINITY;
    g.hi = seed & 32 ? 1.5f : INFINITY;
    sk_f32_gemm_nchw_8x32__scalar(a, &cl0, &g);
    uk(a, &cl1, &g);
    if (memcmp(c0, c1, sizeof c0)) {
        for (size_t i = 0; i < sizeof c0 / sizeof *c0; i++)
            if (memcmp(&c0[i], &c1[i], sizeof(float)))
                fail_msg("seed %llu: c[%zu] scalar %.9g, kernel %.9g", (unsigned long long)seed,
                         i, c0[i], c1[i]);
    }
}

static void nchw_conv_case(int N, int C, int M, int H, int e, sk_pool **pools)
{
    conv_case c;
    square_case(&c, N, C, M, H, 1, 1, 0);
    c.bias = e & 1;
    c.bn = (e & 2) != 0;
    c.add = (e & 4) != 0;
    c.act = e % 3;
    char what[400];
    describe(&c, what, sizeof what);
    setenv("SKIPSERVE_NCHW1X1", "force", 1);
    assert_int_equal(packed_kind(&c), H * H >= 16 ? SK_CONV_NCHW1X1 : SK_CONV_GEMM);
    check_case(&c, pools[e % 3], 1);
    float *x, *r;
    random_operands(&c, &x, &r);
    /* im2col-gemm on the driver's K blocks (its default is longer; read
     * at run time), one thread */
    static const char *const none[] = {NULL};
    int64_t n0, n1;
    unsetenv("SKIPSERVE_NCHW1X1");
    setenv("SKIPSERVE_IM2COL_KC", "0", 1);
    sk_switches_reload();
    float *yg = run_under(&c, none, x, r, &n0);
    unsetenv("SKIPSERVE_IM2COL_KC");
    sk_switches_reload();
    char err[256];
    setenv("SKIPSERVE_NCHW1X1", "force", 1);
    sk_graph *g = build(&c, 4242);
    if (sk_graph_optimize(g, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    unsetenv("SKIPSERVE_NCHW1X1");
    for (int t = 0; t < 3; t++) {
        float *y = run_graph(g, &c, x, r, pools[t], &n1, 0);
        assert_int_equal(n0, n1);
        if (memcmp(y, yg, sizeof(float) * (size_t)n0))
            fail_msg("[%s] NCHW 1x1 on pool %d differs from im2col-gemm (driver's K blocks): %s",
                     sk_isa_name(sk_cpu_level()), t, what);
        free(y);
    }
    sk_graph_free(g);
    free(yg);
    free(x);
    free(r);
}

static void test_nchw1x1(void **state)
{
    (void)state;
    sk_pool *pools[3] = {NULL, sk_pool_create(3), sk_pool_create(16)};
    int ran = 0;
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)l);
        if (!kc || !kc->gemm_nchw)
            continue;
        ran = 1;
        sk_cpu_set_level((sk_isa)l);
        for (uint64_t seed = 1; seed < 3000; seed += 7)
            nchw_uk_case(kc->gemm_nchw, seed * 2654435761ull);
        static const int geo[][4] = {
            /* N, C, M, H */
            {1, 5, 9, 4},    {2, 3, 8, 4},    {3, 17, 13, 5},  {1, 40, 33, 7},  {5, 24, 16, 7},
            {2, 300, 24, 7}, {1, 64, 40, 14}, {3, 9, 7, 14},   {2, 33, 17, 9},  {4, 520, 8, 5},
            {1, 16, 72, 17}, {2, 8, 8, 3},
        };
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
            nchw_conv_case(geo[i][0], geo[i][1], geo[i][2], geo[i][3], (int)i % 8, pools);
    }
    if (!ran) /* no AVX-512 here: not taken even when forced */
        for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
            sk_cpu_set_level((sk_isa)l);
            conv_case c;
            square_case(&c, 1, 8, 8, 7, 1, 1, 0);
            setenv("SKIPSERVE_NCHW1X1", "force", 1);
            assert_int_not_equal(packed_kind(&c), SK_CONV_NCHW1X1);
        }
    /* never by default */
    unsetenv("SKIPSERVE_NCHW1X1");
    sk_cpu_set_level(sk_cpu_detected());
    conv_case d;
    square_case(&d, 1, 64, 64, 14, 1, 1, 0);
    if (sk_cpu_detected() > SK_ISA_SCALAR)
        assert_int_equal(packed_kind(&d), SK_CONV_GEMM);
    sk_pool_destroy(pools[1]);
    sk_pool_destroy(pools[2]);
}

/* A Conv output read twice (or a graph output) keeps its BN / Add. */
static void test_no_fusion_across_shared_values(void **state)
{
    (void)state;
    char err[256];
    conv_case c;
    memset(&c, 0, sizeof c);
    c.nsp = 2;
    c.N = 1;
    c.C = 4;
    c.M = 6;
    c.group = 1;
    for (int a = 0; a < 3; a++)
        c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
    c.in[0] = c.in[1] = c.out[0] = c.out[1] = 5;
    c.bn = 1;
    c.act = 1;
    sk_graph *g = build(&c, 5);
    /* also expose the Conv output: the BN may no longer be folded */
    sk_graph_add_output(g, sk_graph_find(g, "conv_out"));
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    assert_true(find_op(g, SK_OP_BATCH_NORM) >= 0);
    assert_true(find_op(g, SK_OP_RELU) >= 0);
    assert_true(find_op(g, SK_OP_CONV_FUSED) >= 0);
    sk_graph_free(g);

    /* level 0 leaves the graph alone */
    g = build(&c, 5);
    int before = g->nnodes;
    assert_int_equal(sk_graph_optimize(g, 0, err, sizeof err), 0);
    assert_int_equal(g->nnodes, before);
    assert_true(find_op(g, SK_OP_CONV) >= 0);
    sk_graph_free(g);
}

static void test_dump_shows_fusion(void **state)
{
    (void)state;
    char err[256];
    conv_case c;
    memset(&c, 0, sizeof c);
    c.nsp = 2;
    c.N = 1;
    c.C = 3;
    c.M = 8;
    c.group = 1;
    for (int a = 0; a < 3; a++)
        c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
    c.in[0] = c.in[1] = c.out[0] = c.out[1] = 6;
    c.bias = c.bn = c.add = 1;
    c.act = 2;
    sk_graph *g = build(&c, 9);
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    sk_graph_dump(g, f);
    fclose(f);
    assert_non_null(strstr(buf, "_ConvFused"));
    assert_non_null(strstr(buf, "conv+bn+add+clip"));
    free(buf);
    const sk_node *n = &g->nodes[find_op(g, SK_OP_CONV_FUSED)];
    assert_string_equal(sk_attr_str(n, "activation", ""), "Clip");
    assert_string_equal(sk_attr_str(n, "fused_add", ""), "add");
    assert_true(sk_attr_float(n, "act_min", 0) == -0.3f);
    assert_true(sk_attr_float(n, "act_max", 0) == 0.6f);
    /* the originals of the folded weights are gone from memory */
    assert_null(g->values[sk_graph_find(g, "W")].data);
    assert_null(g->values[sk_graph_find(g, "var")].data);
    sk_graph_free(g);
}

/* ---- Gemm + Relu -> _GemmFused (classifier head) ------------------------ */

static void gemm_cases(sk_pool *pool)
{
    char err[256];
    for (int t = 0; t < 16; t++) {
        /* M = 1 (batch 1) runs the GEMV path: a third of the cases */
        int M = t % 3 == 0 ? 1 : irand(1, 9), K = irand(1, 300), N = irand(1, 1100);
        int tb = irand(0, 1);
        int cshape = irand(0, 3); /* 0 none, 1 [N], 2 [1,N], 3 scalar */
        float alpha = irand(0, 1) ? 1.0f : 0.75f, beta = irand(0, 1) ? 1.0f : -0.5f;
        int act = irand(0, 2);
        sk_graph *gs[2];
        uint64_t seed = rnd();
        for (int v = 0; v < 2; v++) {
            sk_graph *g = gs[v] = sk_graph_new();
            int64_t ad[2] = {SK_DIM_SYMBOLIC, K}, bd[2] = {tb ? N : K, tb ? K : N};
            set_input(g, "A", 2, ad);
            add_const(g, "B", 2, bd, seed, 0);
            int64_t cd[2] = {1, N};
            if (cshape == 1)
                add_const(g, "C", 1, cd + 1, seed + 1, 0);
            else if (cshape == 2)
                add_const(g, "C", 2, cd, seed + 1, 0);
            else if (cshape == 3)
                add_const(g, "C", 0, cd, seed + 1, 0);
            int in[3] = {val(g, "A"), val(g, "B"), cshape ? val(g, "C") : -1};
            int o = val(g, "gemm_out");
            int ni = sk_graph_add_node(g, SK_OP_GEMM, "fc", cshape ? 3 : 2, in, 1, &o);
            sk_node_set_int(g, ni, "transB", tb);
            sk_node_set_float(g, ni, "alpha", alpha);
            sk_node_set_float(g, ni, "beta", beta);
            const char *cur = "gemm_out";
            if (act) {
                int ri = val(g, cur), ro = val(g, "y");
                sk_graph_add_node(g, act == 1 ? SK_OP_RELU : SK_OP_CLIP, "act", 1, &ri, 1, &ro);
                cur = "y";
            }
            sk_graph_add_output(g, val(g, cur));
            assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        }
        assert_int_equal(sk_graph_optimize(gs[1], 1, err, sizeof err), 0);
        assert_int_equal(gs[1]->nnodes, 1);
        assert_int_equal(gs[1]->nodes[0].op, SK_OP_GEMM_FUSED);
        float *a = malloc(sizeof(float) * (size_t)(M * K));
        for (int i = 0; i < M * K; i++)
            a[i] = frand();
        float *y[2];
        for (int v = 0; v < 2; v++) {
            sk_tensor in = {SK_F32, {2, {M, K}}, NULL};
            sk_plan *p;
            assert_int_equal(sk_plan_create(gs[v], &in, pool, &p, err, sizeof err), 0);
            const void *d[1] = {a};
            if (sk_plan_run(p, d, err, sizeof err))
                fail_msg("%s", err);
            y[v] = malloc(sizeof(float) * (size_t)(M * N));
            memcpy(y[v], sk_plan_output(p, 0)->data, sizeof(float) * (size_t)(M * N));
            sk_plan_free(p);
        }
        double big = 1;
        for (int i = 0; i < M * N; i++)
            big = fmax(big, fabs(y[0][i]));
        double tol = (K + 16) * FLT_EPSILON * 4.0 * big;
        for (int i = 0; i < M * N; i++)
            if (!(fabs(y[0][i] - y[1][i]) <= tol))
                fail_msg("[%s] Gemm M %d K %d N %d transB %d C %d act %d: y[%d] = %g, ref %g",
                         sk_isa_name(sk_cpu_level()), M, K, N, tb, cshape, act, i, y[1][i],
                         y[0][i]);
        free(a);
        free(y[0]);
        free(y[1]);
        sk_graph_free(gs[0]);
        sk_graph_free(gs[1]);
    }
}

static void test_gemm_fused(void **state)
{
    (void)state;
    for_each_level(gemm_cases);
}

/* ---- MaxPool (the pass leaves it; dispatch picks a fast kernel from
 * kernels/fast_ops*.c): equals the reference exactly, through a plan --- */

static void maxpool_cases(sk_pool *pool)
{
    char err[256];
    for (int t = 0; t < 40; t++) {
        int nsp = irand(0, 4) == 0 ? 1 : 2, ceil_mode = irand(0, 2) == 0;
        int64_t xd[5] = {SK_DIM_SYMBOLIC, irand(1, 9)}, ks[3], st[3], dl[3], pads[6];
        int64_t N = irand(1, 2), in[3];
        for (int a = 0; a < nsp; a++) {
            ks[a] = irand(1, 4);
            st[a] = irand(1, 3);
            dl[a] = irand(0, 4) == 0 ? 2 : 1;
            pads[a] = irand(0, (int)(ks[a] - 1) / 2);
            pads[nsp + a] = irand(0, (int)(ks[a] - 1) / 2);
            in[a] = irand((int)(dl[a] * (ks[a] - 1) + 1), 30);
            xd[2 + a] = in[a];
        }
        if (t % 3 == 0) { /* 3-wide stride 2 (pool_rows_s2): rows past a few vectors */
            int a = nsp - 1;
            ks[a] = 3;
            st[a] = 2;
            dl[a] = 1;
            pads[a] = irand(0, 1);
            pads[nsp + a] = irand(0, 1);
            in[a] = xd[2 + a] = irand(3, 150);
            if (nsp == 2 && t % 6 == 0) /* 3x3 s2 pad 1: the whole-plane loop */
                for (a = 0; a < 2; a++) {
                    ks[a] = 3;
                    st[a] = 2;
                    dl[a] = 1;
                    pads[a] = 1;
                    pads[2 + a] = irand(0, 1);
                    in[a] = xd[2 + a] = irand(pads[2 + a] ? 1 : 2, a ? 150 : 40);
                }
        }
        if (t == 39) { /* 3-D, one input plane deep, padded in depth: three
                        * output planes a channel, not the whole-plane loop's one */
            nsp = 3;
            int64_t k3[3] = {1, 3, 3}, s3[3] = {1, 2, 2}, i3[3] = {1, irand(2, 20), irand(2, 40)};
            for (int a = 0; a < 3; a++) {
                ks[a] = k3[a];
                st[a] = s3[a];
                dl[a] = 1;
                pads[a] = pads[3 + a] = 1;
                in[a] = xd[2 + a] = i3[a];
            }
            ceil_mode = 0;
        }
        sk_graph *g = sk_graph_new();
        set_input(g, "X", nsp + 2, xd);
        int xi = val(g, "X"), yo = val(g, "Y");
        int ni = sk_graph_add_node(g, SK_OP_MAX_POOL, "pool", 1, &xi, 1, &yo);
        sk_node_set_ints(g, ni, "kernel_shape", ks, nsp);
        sk_node_set_ints(g, ni, "strides", st, nsp);
        sk_node_set_ints(g, ni, "dilations", dl, nsp);
        sk_node_set_ints(g, ni, "pads", pads, 2 * nsp);
        sk_node_set_int(g, ni, "ceil_mode", ceil_mode);
        sk_graph_add_output(g, yo);
        assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        sk_tensor x = {SK_F32, {nsp + 2, {N, xd[1]}}, NULL};
        int64_t count = N * xd[1];
        for (int a = 0; a < nsp; a++) {
            x.shape.dim[2 + a] = in[a];
            count *= in[a];
        }
        float *xv = malloc(sizeof(float) * (size_t)count);
        for (int64_t i = 0; i < count; i++)
            xv[i] = frand();
        float *y[2];
        int64_t ny = 0;
        sk_isa keep = sk_cpu_level();
        for (int v = 0; v < 2; v++) {
            sk_cpu_set_level(v ? keep : SK_ISA_SCALAR);
            sk_plan *p;
            if (sk_plan_create(g, &x, pool, &p, err, sizeof err))
                fail_msg("%s", err);
            const void *d[1] = {xv};
            if (sk_plan_run(p, d, err, sizeof err))
                fail_msg("%s", err);
            const sk_tensor *o = sk_plan_output(p, 0);
            ny = sk_shape_numel(&o->shape);
            y[v] = malloc(sizeof(float) * (size_t)(ny + 1));
            memcpy(y[v], o->data, sizeof(float) * (size_t)ny);
            sk_plan_free(p);
        }
        sk_cpu_set_level(keep);
        if (keep > SK_ISA_SCALAR) /* a fast kernel (kernels/fast_ops*.c) ran */
            assert_true(sk_dispatch_run(&g->nodes[0]) != sk_op_get(SK_OP_MAX_POOL)->run);
        for (int64_t i = 0; i < ny; i++)
            if (!(y[0][i] == y[1][i]))
                fail_msg("MaxPool nsp %d k %lld s %lld d %lld ceil %d: y[%lld] = %g, ref %g",
                         nsp, (long long)ks[0], (long long)st[0], (long long)dl[0], ceil_mode,
                         (long long)i, y[1][i], y[0][i]);
        free(xv);
        free(y[0]);
        free(y[1]);
        sk_graph_free(g);
    }
}

/* ---- ConvTranspose: packed GEMM + col2im vs the reference --------------- */

static void convt_cases(sk_pool *pool)
{
    char err[256];
    for (int t = 0; t < 30; t++) {
        int64_t N = irand(1, 2), C = irand(1, 40), M = irand(1, 21), H = irand(1, 12),
                W = irand(1, 12);
        int64_t ks[2] = {irand(1, 4), irand(1, 4)}, st[2] = {irand(1, 3), irand(1, 3)},
                dl[2] = {irand(0, 3) ? 1 : 2, 1}, pads[4], opad[2];
        for (int a = 0; a < 2; a++) {
            pads[a] = irand(0, (int)(ks[a] - 1));
            pads[2 + a] = irand(0, (int)(ks[a] - 1));
            opad[a] = st[a] > 1 ? irand(0, (int)st[a] - 1) : 0;
            int64_t full = st[a] * ((a ? W : H) - 1) + opad[a] + dl[a] * (ks[a] - 1) + 1;
            if (pads[a] + pads[2 + a] >= full)
                pads[a] = pads[2 + a] = 0;
        }
        int bias = irand(0, 1);
        uint64_t seed = rnd();
        sk_graph *gs[2];
        for (int v = 0; v < 2; v++) {
            sk_graph *g = gs[v] = sk_graph_new();
            int64_t xd[4] = {SK_DIM_SYMBOLIC, C, H, W}, wd[4] = {C, M, ks[0], ks[1]};
            set_input(g, "X", 4, xd);
            add_const(g, "W", 4, wd, seed, 0);
            if (bias)
                add_const(g, "B", 1, &M, seed + 1, 0);
            int in[3] = {val(g, "X"), val(g, "W"), bias ? val(g, "B") : -1}, o = val(g, "Y");
            int ni = sk_graph_add_node(g, SK_OP_CONV_TRANSPOSE, "up", bias ? 3 : 2, in, 1, &o);
            sk_node_set_ints(g, ni, "strides", st, 2);
            sk_node_set_ints(g, ni, "dilations", dl, 2);
            sk_node_set_ints(g, ni, "pads", pads, 4);
            sk_node_set_ints(g, ni, "output_padding", opad, 2);
            sk_graph_add_output(g, o);
            assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
        }
        assert_int_equal(sk_graph_optimize(gs[1], 1, err, sizeof err), 0);
        if (sk_cpu_level() > SK_ISA_SCALAR) {
            assert_non_null(gs[1]->nodes[0].priv);
            assert_true(sk_dispatch_run(&gs[1]->nodes[0]) == sk_fast_run_conv_transpose);
        }
        sk_tensor x = {SK_F32, {4, {N, C, H, W}}, NULL};
        float *xv = malloc(sizeof(float) * (size_t)(N * C * H * W));
        for (int64_t i = 0; i < N * C * H * W; i++)
            xv[i] = frand();
        float *y[2];
        int64_t ny = 0;
        for (int v = 0; v < 2; v++) {
            sk_plan *p;
            if (sk_plan_create(gs[v], &x, pool, &p, err, sizeof err))
                fail_msg("%s", err);
            const void *d[1] = {xv};
            if (sk_plan_run(p, d, err, sizeof err))
                fail_msg("%s", err);
            const sk_tensor *o = sk_plan_output(p, 0);
            ny = sk_shape_numel(&o->shape);
            y[v] = malloc(sizeof(float) * (size_t)(ny + 1));
            memcpy(y[v], o->data, sizeof(float) * (size_t)ny);
            sk_plan_free(p);
        }
        double big = 1;
        for (int64_t i = 0; i < ny; i++)
            big = fmax(big, fabs(y[0][i]));
        double tol = (double)(C * ks[0] * ks[1] + 16) * FLT_EPSILON * 4.0 * big;
        for (int64_t i = 0; i < ny; i++)
            if (!(fabs(y[0][i] - y[1][i]) <= tol))
                fail_msg("[%s] ConvTranspose C %lld M %lld %lldx%lld k %lldx%lld s %lld,%lld d "
                         "%lld pads %lld,%lld,%lld,%lld opad %lld,%lld: y[%lld] = %g, ref %g",
                         sk_isa_name(sk_cpu_level()), (long long)C, (long long)M, (long long)H,
                         (long long)W, (long long)ks[0], (long long)ks[1], (long long)st[0],
                         (long long)st[1], (long long)dl[0], (long long)pads[0],
                         (long long)pads[1], (long long)pads[2], (long long)pads[3],
                         (long long)opad[0], (long long)opad[1], (long long)i, y[1][i], y[0][i]);
        free(xv);
        free(y[0]);
        free(y[1]);
        sk_graph_free(gs[0]);
        sk_graph_free(gs[1]);
    }
}

static void test_conv_transpose(void **state)
{
    (void)state;
    for_each_level(convt_cases);
}

static void test_max_pool(void **state)
{
    (void)state;
    for_each_level(maxpool_cases);
}

/* ---- precision bf16 (kernels/bf16.h) -------------------------------------
 * Every non-depthwise conv packed for the BF16 GEMM, run without
 * allocating, within a bound of the FP32 reference derived from bf16's
 * rounding: x and w each round to 8 significant bits (relative error <=
 * u = 2^-8), so a product x*w is off by <= (2u + u^2)|x w|, an output by
 * <= (2^-7 + 2^-16) * S with S = sum |x||w| over its window; the float32
 * sums add what the FP32 path's bound allows (check_case's tol); bias and
 * residual are added in float32 as the reference does; Relu / Clip do
 * not grow an error. S is computed by the reference graph on |x| and |W|. */
/* The begin pad of axis a, auto_pad resolved (ONNX Conv: SAME_UPPER puts
 * the odd pad at the end, SAME_LOWER at the beginning). */
static int eff_pad(const conv_case *c, int a)
{
    if (!c->auto_pad)
        return c->pb[a];
    if (!strcmp(c->auto_pad, "VALID"))
        return 0;
    int span = c->d[a] * (c->k[a] - 1) + 1, total = (c->out[a] - 1) * c->s[a] + span - c->in[a];
    total = total > 0 ? total : 0;
    return !strcmp(c->auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
}

/* Y of case c (no BN) by emulation of what the BF16 path computes, from
 * the definition of the conv and of the instructions (bf16_emu.h), not
 * from the kernels: per output, K = (channel, taps) in W's order cut into
 * the driver's K blocks; per block a vdpbf16ps chain from zero over the
 * pairs (k, k+1) of W's row and of the input window (zero padding; an odd
 * K pairs its last row with zero), the blocks summed in float32 in order;
 * then + bias, + residual, clamp. Pixel rows multiply the same pairs with
 * the operands' roles swapped, which a product does not see. kcfg: the
 * config's K block. kchunk > 0 (session 19, the AMX-BF16 config): per
 * 32-row chunk of K (the last zero-padded) a TDPBF16PS element
 * (bf16_amx_emu.h) added to the sum in chunk order, whatever the blocks. */
static void bf16_emulate(const conv_case *c, const float *x, const float *W, const float *bias,
                         const float *r, int kcfg, int kchunk, float *y)
{
    const int Cg = c->C / c->group, Mg = c->M / c->group;
    const int kvol = c->k[0] * c->k[1] * c->k[2], K = Cg * kvol, kcb = emu_kblock(K, kcfg);
    int pad[3] = {0, 0, 0}, inpx = 1, outpx = 1;
    for (int a = 0; a < c->nsp; a++) {
        pad[a] = eff_pad(c, a);
        inpx *= c->in[a];
        outpx *= c->out[a];
    }
    float *col = malloc(sizeof(float) * (size_t)(K + 1));
    for (int n = 0; n < c->N; n++)
        for (int o = 0; o < outpx; o++) {
            const int o0 = o / (c->out[1] * c->out[2]), o1 = (o / c->out[2]) % c->out[1],
                      o2 = o % c->out[2];
            for (int g = 0; g < c->group; g++) {
                for (int k = 0; k < K; k++) { /* the window of (n, group g, o) */
                    int ci = k / kvol, t = k % kvol, tap[3] = {t / (c->k[1] * c->k[2]),
                                                                (t / c->k[2]) % c->k[1], t % c->k[2]};
                    int oo[3] = {o0, o1, o2}, off = 0, in = 1;
                    for (int a = 0; a < 3; a++) {
                        int i = oo[a] * c->s[a] - pad[a] + tap[a] * c->d[a];
                        in = in && i >= 0 && i < c->in[a];
                        off = off * c->in[a] + i;
                    }
                    col[k] = in ? x[((size_t)n * c->C + (size_t)(g * Cg + ci)) * inpx + off] : 0;
                }
                for (int mg = 0; mg < Mg; mg++) {
                    const int m = g * Mg + mg;
                    const float *w = W + (size_t)m * K;
                    float v = 0;
                    for (int pc = 0; kchunk && pc < K; pc += 32) {
                        uint32_t aw[16], bw[16];
                        for (int q = 0; q < 16; q++) {
                            int k = pc + 2 * q;
                            aw[q] = sk_bf16_pair(k < K ? w[k] : 0, k + 1 < K ? w[k + 1] : 0);
                            bw[q] = sk_bf16_pair(k < K ? col[k] : 0, k + 1 < K ? col[k + 1] : 0);
                        }
                        v = emu_amx_elem(v, aw, bw, 1);
                    }
                    for (int pc = 0; !kchunk && pc < K; pc += kcb) {
                        float acc = 0;
                        for (int k = pc; k < pc + kcb && k < K; k += 2) {
                            int h = k + 1 < K;
                            acc = emu_dp_lane(acc, sk_bf16_pair(w[k], h ? w[k + 1] : 0),
                                              sk_bf16_pair(col[k], h ? col[k + 1] : 0));
                        }
                        v = pc ? acc + v : acc;
                    }
                    size_t yi = ((size_t)n * c->M + (size_t)m) * outpx + o;
                    if (bias)
                        v += bias[m];
                    if (c->add)
                        v += r[yi];
                    float lo = c->act == 1 ? 0.0f : c->act == 2 ? -0.3f : -INFINITY;
                    float hi = c->act == 2 ? 0.6f : INFINITY;
                    y[yi] = v < lo ? lo : v > hi ? hi : v;
                }
            }
        }
    free(col);
}

static void bf16_case(const conv_case *c0, sk_pool *pool)
{
    char err[256], what[400];
    conv_case c = *c0;
    c.bn = 0; /* W as generated: |W| is then the folded weights' abs */
    describe(&c, what, sizeof what);
    uint64_t seed = rnd() * 7919ull + 17;
    sk_graph *gr = build(&c, seed), *go = build(&c, seed);
    conv_case ca = c;
    ca.bias = ca.add = ca.act = 0;
    sk_graph *gs = build(&ca, seed);
    sk_value *wv = &gs->values[val(gs, "W")];
    for (int64_t i = 0; i < sk_shape_numel(&wv->shape); i++)
        ((float *)wv->data)[i] = fabsf(((float *)wv->data)[i]);
    sk_load_opts lo = {.level = 1, .precision = SK_PREC_BF16};
    if (sk_graph_optimize_opts(go, &lo, err, sizeof err))
        fail_msg("optimize: %s (%s)", err, what);
    const sk_node *fn = &go->nodes[find_op(go, SK_OP_CONV_FUSED)];
    int dw = c.nsp == 2 && c.group == c.C && c.M == c.C;
    int kind = (int)((const sk_conv_priv *)fn->priv)->kind;
    if (dw ? kind != SK_CONV_DEPTHWISE : kind != SK_CONV_BF16 && kind != SK_CONV_PIXROWS)
        fail_msg("kind %d, want %s (%s)", kind, dw ? "depthwise" : "bf16", what);
    if (kind == SK_CONV_PIXROWS && !((const sk_conv_priv *)fn->priv)->cfg->kpair)
        fail_msg("pixel rows on an FP32 config in bf16 (%s)", what);
    assert_int_equal(lo.bf16_convs, !dw);
    float *x, *r;
    random_operands(&c, &x, &r);
    int64_t n1, n2, n3, nx = (int64_t)c.N * c.C;
    for (int i = 0; i < c.nsp; i++)
        nx *= c.in[i];
    float *xa = malloc(sizeof(float) * (size_t)(nx + 1));
    for (int64_t i = 0; i < nx; i++)
        xa[i] = fabsf(x[i]);
    float *yr = run_graph(gr, &c, x, r, pool, &n1, 0);
    float *yo = run_graph(go, &c, x, r, pool, &n2, 1);
    float *ys = run_graph(gs, &ca, xa, r, pool, &n3, 0);
    assert_true(n1 == n2 && n1 == n3);
    int K = c.C / c.group;
    for (int i = 0; i < c.nsp; i++)
        K *= c.k[i];
    double big = 1.0;
    for (int64_t i = 0; i < n1; i++)
        big = fmax(big, fabs(yr[i]));
    double tol32 = (double)(K + 16) * FLT_EPSILON * 4.0 * big, worst = 0; /* of S */
    int64_t nread = 0; /* outputs whose window reads some input (S > 0) */
    for (int64_t i = 0; i < n1; i++) {
        double bound = (0x1p-7 + 0x1p-16) * ys[i] + tol32, e = fabs(yr[i] - yo[i]);
        if (!(e <= bound))
            fail_msg("bf16: y[%lld] = %.7g, reference %.7g, error %.3g over the bound %.3g: %s",
                     (long long)i, yo[i], yr[i], e, bound, what);
        if (ys[i] > 0) {
            nread++;
            if (e / ys[i] > worst)
                worst = e / ys[i];
        }
    }
    /* bf16 really ran: some output is further from FP32 than FP32's own
     * rounding allows (2^-7 relative steps against 2^-23). Only outputs
     * that read input count: a geometry whose windows all fall in the
     * padding (stride 3 over a 2-wide padded dim) gives bias alone. */
    if (lo.bf16_convs && nread > 100 && worst * 4.0 < FLT_EPSILON * (K + 16))
        fail_msg("bf16: outputs within FP32's rounding of the reference: not bf16? (%s)", what);
    /* and the same values as the emulation of the instructions, at every
     * thread count and strategy (im2col, shared columns, pixel rows): equal
     * as floats (a zero's sign aside: +0 bias or Relu may flip it) */
    if (!dw) {
        const sk_value *wr = &gr->values[val(gr, "W")];
        const float *bias = c.bias ? gr->values[val(gr, "B")].data : NULL;
        float *ye = malloc(sizeof(float) * (size_t)(n1 + 1));
        const sk_gemm_cfg *ecfg = ((const sk_conv_priv *)fn->priv)->cfg;
        bf16_emulate(&c, x, wr->data, bias, r, ecfg->kc, ecfg->kchunk, ye);
        for (int64_t i = 0; i < n1; i++)
            if (!(yo[i] == ye[i]))
                fail_msg("bf16: y[%lld] = %a, emulated %a (%d threads, kind %d): %s",
                         (long long)i, (double)yo[i], (double)ye[i], pool ? sk_pool_size(pool) : 1,
                         kind, what);
        free(ye);
    }
    free(x);
    free(xa);
    free(r);
    free(yr);
    free(yo);
    free(ys);
    sk_graph_free(gr);
    sk_graph_free(go);
    sk_graph_free(gs);
}

static void test_bf16(void **state)
{
    (void)state;
    if (!sk_bf16_available()) {
        print_message("skipped: no AVX512-BF16 on this CPU\n");
        return;
    }
    static const int geo[][7] = {
        /* C, M, H, k, s, pad, add: ResNet's stem, 3x3 (stride 1 and 2), 1x1 */
        {3, 64, 40, 7, 2, 3, 0},   {64, 64, 14, 3, 1, 1, 1}, {64, 256, 14, 1, 1, 0, 1},
        {256, 128, 14, 1, 2, 0, 0}, {128, 128, 7, 3, 2, 1, 0}, {33, 40, 9, 3, 1, 1, 1},
        /* session 18: 7x7 outputs at stride 1 and 2 (ResNet's layer 4 in
         * small), whose pixel-rows panels gather as input runs
         * (fast_conv_pixrows.c pixrows_runs); K = 9 one task, K = 27 an odd
         * K's last pair with zero */
        {64, 64, 7, 3, 1, 1, 1},   {40, 24, 7, 3, 1, 1, 0}, {1, 32, 7, 3, 1, 1, 0},
        {32, 40, 14, 3, 2, 1, 0},  {3, 24, 13, 3, 2, 1, 1},
    };
    /* the default keeps FP32 Winograd F(4x4) for a 3x3 stride-1 conv on a
     * large map with >= 200 M multiply-adds per image (prepack.c
     * bf16_keeps_winograd: 128x128x64x64, a U-Net layer); a ResNet 3x3
     * (56x56x64x64, 116 M) and F(2x2)'s (14x14) go to BF16;
     * SKIPSERVE_BF16_WINOGRAD=4 keeps every F(4x4) one (the ResNet one) */
    char err[256];
    /* session 19: the AMX-BF16 config (kchunk) keeps no Winograd conv by
     * default (prepack.c bf16_keeps_winograd); =4 still keeps F(4x4) */
    const sk_kconfig *bkc = sk_kconfig_for(sk_cpu_level());
    const int amx = bkc && bkc->bf16_gemm.kchunk > 0;
    static const int maps[][3] = {{14, 0, 0}, {56, 0, 0}, {128, 0, 1}, {56, 1, 1}};
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++) {
        conv_case c;
        square_case(&c, 1, 64, 64, maps[i][0], 3, 1, 1);
        if (maps[i][1])
            setenv("SKIPSERVE_BF16_WINOGRAD", "4", 1);
        sk_graph *g = build(&c, 7);
        sk_load_opts lo = {.level = 1, .precision = SK_PREC_BF16};
        if (sk_graph_optimize_opts(g, &lo, err, sizeof err))
            fail_msg("optimize: %s", err);
        unsetenv("SKIPSERVE_BF16_WINOGRAD");
        int kind = (int)((const sk_conv_priv *)g->nodes[find_op(g, SK_OP_CONV_FUSED)].priv)->kind;
        int wino = maps[i][2] && (maps[i][1] || !amx);
        assert_int_equal(kind, wino ? SK_CONV_WINOGRAD4 : SK_CONV_BF16);
        assert_int_equal(lo.bf16_convs, !wino);
        sk_graph_free(g);
    }
    /* then every conv on the BF16 GEMM */
    setenv("SKIPSERVE_BF16_WINOGRAD", "0", 1);
    /* session 19: the AMX-BF16 config (kchunk) keeps BF16 convs off pixel
     * rows (prepack.c): forced pixel rows then run im2col-gemm, whose bits
     * bf16_case holds to the TDPBF16PS emulation; the vdpbf16ps rounds run
     * in test-unit's SKIPSERVE_BF16_UK=avx512bf16 pass (Makefile) */
    /* serial, 3 and 16 threads (the GEMM's split and the shared columns'
     * gather tasks change with the count: the values must not) */
    sk_pool *pool = sk_pool_create(3), *wide = sk_pool_create(16);
    for (int t = 0; t < 6; t++) {
        sk_pool *p = t % 3 == 0 ? NULL : t % 3 == 1 ? pool : wide;
        /* rounds 3-5: pixel rows forced on every ungrouped conv */
        if (t == 3)
            setenv("SKIPSERVE_PIXROWS", "force", 1);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
            conv_case c;
            square_case(&c, 2, geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4], geo[i][5]);
            c.bias = 1;
            c.add = geo[i][6];
            c.act = 1;
            const size_t runs0 = sk_conv_pixrows_bf16_run_panels();
            bf16_case(&c, p);
            /* pixel rows forced on a 7x7 output: the run gather ran
             * (its bits held to the emulation by bf16_case) */
            if (t >= 3 && c.out[0] == 7 && c.out[1] == 7 && !amx &&
                sk_conv_pixrows_bf16_run_panels() == runs0)
                fail_msg("bf16 pixel rows: no panel gathered as runs (geometry %zu)", i);
        }
        /* and the table gather, SKIPSERVE_BF16_PIXRUNS=0 (read per run), on
         * the same geometries: the same emulated bits */
        if (t >= 3) {
            setenv("SKIPSERVE_BF16_PIXRUNS", "0", 1);
            sk_switches_reload();
            for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
                conv_case c;
                square_case(&c, 2, geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4],
                            geo[i][5]);
                if (c.out[0] != 7 || c.out[1] != 7)
                    continue;
                c.bias = 1;
                c.add = geo[i][6];
                bf16_case(&c, p);
            }
            unsetenv("SKIPSERVE_BF16_PIXRUNS");
            sk_switches_reload();
        }
        for (int k = 0; k < 40; k++) {
            conv_case c;
            random_case(&c);
            bf16_case(&c, p);
        }
    }
    sk_pool_destroy(pool);
    sk_pool_destroy(wide);
    unsetenv("SKIPSERVE_PIXROWS");
    unsetenv("SKIPSERVE_BF16_WINOGRAD");
}

/* The plan dump of graph g (optimized) for c's input at batch 1 on `pool`. */
static char *dump_plan(const sk_graph *g, const conv_case *c, sk_pool *pool)
{
    char err[256], *buf = NULL;
    size_t len = 0;
    sk_tensor in[2]; /* X, and the residual R when c adds one */
    memset(in, 0, sizeof in);
    for (int i = 0; i < 2; i++) {
        in[i].dtype = SK_F32;
        in[i].shape.rank = 4;
        in[i].shape.dim[0] = c->N;
        in[i].shape.dim[1] = i ? c->M : c->C;
        in[i].shape.dim[2] = i ? c->out[0] : c->in[0];
        in[i].shape.dim[3] = i ? c->out[1] : c->in[1];
    }
    sk_plan *p;
    if (sk_plan_create(g, in, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    FILE *f = open_memstream(&buf, &len);
    sk_plan_dump(p, f);
    fclose(f);
    sk_plan_free(p);
    return buf;
}

/* Precision bf16, a 3x3 layer the default keeps on FP32 Winograd F(4x4)
 * (>= 200 M multiply-adds: 128x128x64x64): with SKIPSERVE_BF16_WINO_T=2 its
 * BF16 form is packed too (prepack.c bf16_form) and runs from 2 threads on
 * (fast_conv.c sk_conv_runs_bf16) — the same bits as the all-BF16 build
 * (whose values test_bf16 holds to the emulation of the instructions) at 2
 * and 3 threads, without allocating (the plan sized its scratch); at 1
 * thread the FP32 Winograd result, bit for bit that of the default build,
 * which packs no BF16 form. The plan dump names what runs. */
static void test_bf16_form(void **state)
{
    (void)state;
    if (!sk_bf16_available()) {
        print_message("skipped: no AVX512-BF16 on this CPU\n");
        return;
    }
    char err[256];
    conv_case c;
    square_case(&c, 1, 64, 64, 128, 3, 1, 1);
    c.bias = 1;
    c.add = 1;
    c.act = 1;
    sk_graph *g[3];
    const char *mode[3] = {"alt_from_2", "bf16_all", "default"};
    /* session 19: the AMX-BF16 config keeps no F(4x4) layer by default;
     * =4 keeps it there, as the default does on the vdpbf16ps config */
    const sk_kconfig *bkc = sk_kconfig_for(sk_cpu_level());
    const int amx = bkc && bkc->bf16_gemm.kchunk > 0;
    for (int i = 0; i < 3; i++) {
        if (i == 0)
            setenv("SKIPSERVE_BF16_WINO_T", "2", 1);
        if (i != 1 && amx)
            setenv("SKIPSERVE_BF16_WINOGRAD", "4", 1);
        if (i == 1)
            setenv("SKIPSERVE_BF16_WINOGRAD", "0", 1);
        g[i] = build(&c, 11);
        sk_load_opts lo = {.level = 1, .precision = SK_PREC_BF16};
        if (sk_graph_optimize_opts(g[i], &lo, err, sizeof err))
            fail_msg("optimize (%s): %s", mode[i], err);
        unsetenv("SKIPSERVE_BF16_WINOGRAD");
        unsetenv("SKIPSERVE_BF16_WINO_T");
    }
    const sk_conv_priv *pv = g[0]->nodes[find_op(g[0], SK_OP_CONV_FUSED)].priv;
    assert_int_equal(pv->kind, SK_CONV_WINOGRAD4);
    assert_non_null(pv->bf16_form);
    assert_int_equal(pv->bf16_form->kind, SK_CONV_BF16);
    assert_true(pv->bf16_form->cfg->kpair);
    assert_int_equal(pv->bf16_min_t, 2);
    assert_int_equal(((const sk_conv_priv *)g[1]->nodes[find_op(g[1], SK_OP_CONV_FUSED)].priv)->kind,
                     SK_CONV_BF16);
    const sk_conv_priv *pw = g[2]->nodes[find_op(g[2], SK_OP_CONV_FUSED)].priv;
    assert_int_equal(pw->kind, SK_CONV_WINOGRAD4);
    assert_null(pw->bf16_form);
    float *x, *r;
    random_operands(&c, &x, &r);
    int64_t n0, n1, n2, n3, n4;
    sk_pool *p2 = sk_pool_create(2), *p3 = sk_pool_create(3);
    float *all1 = run_graph(g[1], &c, x, r, NULL, &n0, 0);
    float *alt2 = run_graph(g[0], &c, x, r, p2, &n1, 1);
    float *alt3 = run_graph(g[0], &c, x, r, p3, &n2, 1);
    float *one = run_graph(g[0], &c, x, r, NULL, &n3, 1);
    float *wino = run_graph(g[2], &c, x, r, NULL, &n4, 0);
    assert_true(n0 == n1 && n0 == n2 && n0 == n3 && n0 == n4);
    int64_t differ = 0;
    for (int64_t i = 0; i < n0; i++) {
        if (!(alt2[i] == all1[i]) || !(alt3[i] == all1[i]))
            fail_msg("y[%lld]: %a (2 threads), %a (3 threads), all-BF16 build %a", (long long)i,
                     (double)alt2[i], (double)alt3[i], (double)all1[i]);
        differ += one[i] != all1[i];
    }
    assert_memory_equal(one, wino, (size_t)n0 * sizeof(float));
    assert_true(differ > n0 / 10); /* 1 thread really ran Winograd in FP32 */
    char *d1 = dump_plan(g[0], &c, NULL), *d3 = dump_plan(g[0], &c, p3);
    if (!strstr(d1, "winograd-f4x4-3x3") || strstr(d1, "bf16-im2col-gemm"))
        fail_msg("1 thread: the dump should name Winograd F(4x4):\n%s", d1);
    if (!strstr(d3, "bf16-im2col-gemm") || strstr(d3, "winograd"))
        fail_msg("3 threads: the dump should name the BF16 GEMM:\n%s", d3);
    free(d1);
    free(d3);
    free(all1);
    free(alt2);
    free(alt3);
    free(one);
    free(wino);
    free(x);
    free(r);
    sk_pool_destroy(p2);
    sk_pool_destroy(p3);
    for (int i = 0; i < 3; i++)
        sk_graph_free(g[i]);
}

/* Winograd's one block of every tile (fast_winograd.c wino_one_block):
 * batch 1 on 14x14 (F(2x2)) and 28x28 (F(4x4)) maps with more output
 * channels than tile lanes, where U outweighs V. Taken (a block of all
 * 49 tiles) and not for 56x56, batch 2 or odd maps at batch 3; against the reference, with no allocation in the run (the plan
 * sized its scratch), serial and on 2, 3 and 16 threads (the channel
 * chunks after the shared input transform); bit for bit the blocked run
 * (SKIPSERVE_WINO_ONE=0: same products, same order per output), with the
 * shared transform's units in either order (channel-major, the default,
 * or SKIPSERVE_WINO_VORDER=0), and with or without the prefetches
 * (SKIPSERVE_WINO_PREFETCH=0, SKIPSERVE_WINO_PFW=0, =64 the most channels
 * ahead). Prefetches cannot change values: their ranges are checked inside
 * U, V and X by fast_winograd.c (sk_wino_pf_strays, asserted 0 here). */
static void test_wino_one_block(void **state)
{
    (void)state;
    static const int geo[][6] = {
        /* N, C, M, H, m, one block */
        {1, 96, 96, 14, 2, 1}, {1, 64, 72, 28, 4, 1}, {1, 64, 64, 56, 4, 0}, {2, 96, 96, 14, 2, 0},
        /* session 17: odd maps, panels that hold tiles of two images (the
         * prefetches' row ranges), batch 3 */
        {3, 48, 40, 13, 4, 0}, {3, 40, 33, 11, 2, 0},
    };
    sk_pool *pools[4] = {NULL, sk_pool_create(2), sk_pool_create(3), sk_pool_create(16)};
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
            conv_case c;
            square_case(&c, geo[i][0], geo[i][1], geo[i][2], geo[i][3], 3, 1, 1);
            c.bias = 1;
            c.add = 1;
            c.act = 1;
            setenv("SKIPSERVE_WINOGRAD", geo[i][4] == 2 ? "2" : "4", 1);
            char err[256];
            sk_graph *g = build(&c, 77);
            assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
            const sk_conv_priv *pv = g->nodes[find_op(g, SK_OP_CONV_FUSED)].priv;
            assert_int_equal(pv->kind, geo[i][4] == 2 ? SK_CONV_WINOGRAD : SK_CONV_WINOGRAD4);
            int64_t tiles = c.N * ((c.out[0] + geo[i][4] - 1) / geo[i][4]) *
                            ((c.out[1] + geo[i][4] - 1) / geo[i][4]);
            assert_int_equal(sk_wino_tile_block(pv->cfg, &pv->w, tiles) >= tiles, geo[i][5]);
            for (int k = 0; k < 4; k++)
                check_case(&c, pools[k], 1);
            float *x, *r;
            random_operands(&c, &x, &r);
            int64_t n0, n1;
            /* the reference run also without the prefetches of U and of
             * the input transform's lines (session 17: they only touch
             * lines, so the bits must not move) */
            setenv("SKIPSERVE_WINO_ONE", "0", 1);
            setenv("SKIPSERVE_WINO_PREFETCH", "0", 1);
            setenv("SKIPSERVE_WINO_PFW", "0", 1);
            sk_switches_reload();
            float *y0 = run_graph(g, &c, x, r, NULL, &n0, 0);
            unsetenv("SKIPSERVE_WINO_ONE");
            unsetenv("SKIPSERVE_WINO_PREFETCH");
            unsetenv("SKIPSERVE_WINO_PFW");
            sk_switches_reload();
            /* o = 1: the shared transform's units panel-major
             * (SKIPSERVE_WINO_VORDER=0), the order before session 15 */
            for (int k = 0; k < 8; k++) {
                if (k >= 4) {
                    setenv("SKIPSERVE_WINO_VORDER", "0", 1);
                    sk_switches_reload();
                }
                float *y1 = run_graph(g, &c, x, r, pools[k % 4], &n1, 1);
                unsetenv("SKIPSERVE_WINO_VORDER");
                sk_switches_reload();
                assert_int_equal(n0, n1);
                if (memcmp(y0, y1, sizeof(float) * (size_t)n0))
                    fail_msg("one block differs from the blocked run (level %d, case %zu, "
                             "pool %d, order %d)", l, i, k % 4, k / 4);
                free(y1);
            }
            setenv("SKIPSERVE_WINO_PFW", "64", 1);
            sk_switches_reload();
            float *y2 = run_graph(g, &c, x, r, pools[2], &n1, 1);
            unsetenv("SKIPSERVE_WINO_PFW");
            sk_switches_reload();
            assert_memory_equal(y0, y2, sizeof(float) * (size_t)n0);
            free(y2);
            if (atomic_load(&sk_wino_pf_strays))
                fail_msg("a prefetch outside U, V or X (level %d, case %zu): %ld", l, i,
                         (long)atomic_load(&sk_wino_pf_strays));
            free(y0);
            free(x);
            free(r);
            sk_graph_free(g);
            unsetenv("SKIPSERVE_WINOGRAD");
        }
    }
    sk_cpu_set_level(sk_cpu_detected());
    for (int k = 1; k < 4; k++)
        sk_pool_destroy(pools[k]);
}

/* The default choice: the RGB stem (3 channels, 7x7 stride 2) takes the
 * direct conv at the SIMD levels; a 3x3 stride-2 conv of 64 channels and
 * stride-1 convs keep their strategies; SKIPSERVE_CONV_DIRECT=0 keeps the
 * stem on im2col-gemm. */
static void test_conv_direct_selection(void **state)
{
    (void)state;
    if (sk_cpu_level() == SK_ISA_SCALAR)
        skip();
    conv_case c;
    square_case(&c, 1, 3, 64, 56, 7, 2, 3);
    assert_int_equal(packed_kind(&c), SK_CONV_DIRECT);
    assert_dump_names(&c, "direct-nchw");
    setenv("SKIPSERVE_CONV_DIRECT", "0", 1);
    assert_int_equal(packed_kind(&c), SK_CONV_GEMM);
    unsetenv("SKIPSERVE_CONV_DIRECT");
    square_case(&c, 1, 3, 16, 56, 3, 1, 1);
    assert_true(packed_kind(&c) != SK_CONV_DIRECT);
    /* ResNet's 3x3 s2 convs (28, 14 and 7 wide: the 7-pixel tile):
     * direct-bcast at AVX-512; the 1x1 s2 ones: not */
    square_case(&c, 1, 64, 128, 56, 3, 2, 1);
    if (sk_cpu_level() < SK_ISA_AVX512) { /* the AVX2 tile is slower: off */
        assert_true(packed_kind(&c) != SK_CONV_DIRECT_BC);
        return;
    }
    assert_int_equal(packed_kind(&c), SK_CONV_DIRECT_BC);
    assert_dump_names(&c, "direct-bcast");
    setenv("SKIPSERVE_CONV_BCAST", "0", 1);
    assert_true(packed_kind(&c) != SK_CONV_DIRECT_BC);
    unsetenv("SKIPSERVE_CONV_BCAST");
    square_case(&c, 1, 64, 128, 56, 1, 2, 0);
    assert_true(packed_kind(&c) != SK_CONV_DIRECT_BC);
    square_case(&c, 1, 256, 512, 14, 3, 2, 1);
    assert_int_equal(packed_kind(&c), SK_CONV_DIRECT_BC);
}

/* ---- direct-bcast's opt-in row-outer order (session 19 c1i) ------------
 * SKIPSERVE_CONV_BCAST_ROWS=1: on 2+ threads the (block, row) tasks run
 * row outer and the padded copy is made by bands of rows. Geometries:
 * padded 3x3 (the copy by rows), an unpadded 1x1 read in place, a 5x5
 * with pad 2, rows narrower than a tile (the 7-wide tile) and wider
 * (a last tile moved left), M across blocks with a partial last one,
 * batch 2, every epilogue; on 3 and 16 threads against the reference
 * with no allocation, that the order ran (and did not on one thread),
 * and bit for bit the default order serial. */
static void test_conv_direct_bc_rows(void **state)
{
    (void)state;
    static const int geo[][8] = {
        /* N, C, M, H, W, k, pad, epilogue */
        {1, 24, 40, 28, 28, 3, 1, 2}, {2, 17, 33, 15, 30, 3, 1, 1}, {1, 16, 72, 14, 14, 1, 0, 0},
        {1, 8, 32, 9, 15, 5, 2, 2},   {2, 12, 64, 13, 41, 3, 1, 0}, {1, 20, 96, 7, 7, 3, 1, 1},
    };
    setenv("SKIPSERVE_CONV_BCAST", "force", 1);
    sk_pool *p3 = sk_pool_create(3), *p16 = sk_pool_create(16);
    sk_pool *pools[2] = {p3, p16};
    int ran = 0;
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
            const int *q = geo[i];
            conv_case c;
            memset(&c, 0, sizeof c);
            c.nsp = 2;
            c.N = q[0];
            c.C = q[1];
            c.M = q[2];
            c.group = 1;
            for (int a = 0; a < 3; a++)
                c.in[a] = c.k[a] = c.s[a] = c.d[a] = c.out[a] = 1;
            c.in[0] = q[3];
            c.in[1] = q[4];
            for (int a = 0; a < 2; a++) {
                c.k[a] = q[5];
                c.s[a] = 2;
                c.pb[a] = c.pe[a] = q[6];
                c.out[a] = out_size(&c, a);
            }
            c.bias = 1;
            c.add = q[7] == 2;
            c.act = q[7];
            char err[256], what[400];
            describe(&c, what, sizeof what);
            if (packed_kind(&c) != SK_CONV_DIRECT_BC)
                continue; /* a level without the tile */
            ran++;
            setenv("SKIPSERVE_CONV_BCAST_ROWS", "1", 1);
            sk_switches_reload();
            for (int t = 0; t < 2; t++) {
                size_t before = sk_conv_direct_bc_rows_runs();
                check_case(&c, pools[t], 1); /* against the reference, no allocation */
                if (sk_conv_direct_bc_rows_runs() == before)
                    fail_msg("[%s] the row-outer order did not run: %s", sk_isa_name((sk_isa)l),
                             what);
            }
            sk_graph *go = build(&c, rnd() * 31ull + 7);
            if (sk_graph_optimize(go, 1, err, sizeof err))
                fail_msg("optimize: %s (%s)", err, what);
            float *x, *r;
            random_operands(&c, &x, &r);
            int64_t n0, n1;
            size_t before = sk_conv_direct_bc_rows_runs();
            float *y0 = run_graph(go, &c, x, r, NULL, &n0, 0); /* one thread: never */
            assert_int_equal(sk_conv_direct_bc_rows_runs(), before);
            for (int t = 0; t < 2; t++) {
                float *y = run_graph(go, &c, x, r, pools[t], &n1, 0);
                assert_int_equal(n0, n1);
                if (memcmp(y, y0, sizeof(float) * (size_t)n0))
                    fail_msg("[%s] row-outer order on pool %d differs from one thread: %s",
                             sk_isa_name((sk_isa)l), t, what);
                free(y);
            }
            unsetenv("SKIPSERVE_CONV_BCAST_ROWS");
            sk_switches_reload();
            sk_graph_free(go);
            free(y0);
            free(x);
            free(r);
        }
    }
    if (sk_cpu_detected() >= SK_ISA_AVX512)
        assert_true(ran > 0);
    sk_cpu_set_level(sk_cpu_detected());
    unsetenv("SKIPSERVE_CONV_BCAST");
    sk_pool_destroy(p3);
    sk_pool_destroy(p16);
}

/* ---- im2col-gemm in A-panel order (issue 24, session 19 c1i) -----------
 * FP32 im2col-gemm runs its GEMM with A panels outermost (sk_gemm_job
 * aorder) where the level's config says so (config.c fill_intel: the
 * AVX-512 level on Intel), SKIPSERVE_IM2COL_AORDER=1 / =0 forcing it on /
 * off per run. Geometries through every part of the driver's A-order
 * loop: direct 1x1 reads, gathered 3x3 / strided / grouped columns, rows
 * past the last whole A panel (M % 8: mtail), a last column panel of <= 16
 * (ntail / narrow) and of 17-31 columns (buffered tail tile), K over two
 * of im2col's K blocks (C 600 1x1, 3x3 x 64 = 576), batch 1-3, every
 * epilogue. Each against the reference (check_case, no allocation in the
 * run), then bit for bit the default order serial, on 1, 3 and 16 threads
 * (each tile is computed alike in either order). */
static void aorder_case(int N, int C, int M, int H, int k, int st, int pad, int group, int e,
                        sk_pool **pools)
{
    conv_case c;
    square_case(&c, N, C, M, H, k, st, pad);
    c.group = group;
    c.bias = e & 1;
    c.bn = (e & 2) != 0;
    c.add = (e & 4) != 0;
    c.act = e % 3;
    char what[400];
    describe(&c, what, sizeof what);
    assert_int_equal(packed_kind(&c), SK_CONV_GEMM);
    setenv("SKIPSERVE_IM2COL_AORDER", "1", 1);
    sk_switches_reload();
    check_case(&c, pools[e % 3], 1);
    float *x, *r;
    random_operands(&c, &x, &r);
    char err[256];
    sk_graph *g = build(&c, 4242);
    if (sk_graph_optimize(g, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    int64_t n0, n1;
    setenv("SKIPSERVE_IM2COL_AORDER", "0", 1);
    sk_switches_reload();
    size_t jobs0 = sk_im2col_aorder_jobs();
    float *y0 = run_graph(g, &c, x, r, NULL, &n0, 0);
    assert_int_equal(sk_im2col_aorder_jobs(), jobs0); /* switched off: not run */
    setenv("SKIPSERVE_IM2COL_AORDER", "1", 1);
    sk_switches_reload();
    for (int t = 0; t < 3; t++) {
        jobs0 = sk_im2col_aorder_jobs();
        float *y = run_graph(g, &c, x, r, pools[t], &n1, 0);
        if (sk_im2col_aorder_jobs() == jobs0) /* the run counter (fast.h) */
            fail_msg("[%s] A-panel order did not run on pool %d: %s",
                     sk_isa_name(sk_cpu_level()), t, what);
        assert_int_equal(n0, n1);
        if (memcmp(y, y0, sizeof(float) * (size_t)n0))
            fail_msg("[%s] A-panel order on pool %d differs from the default order: %s",
                     sk_isa_name(sk_cpu_level()), t, what);
        free(y);
    }
    unsetenv("SKIPSERVE_IM2COL_AORDER");
    sk_switches_reload();
    sk_graph_free(g);
    free(y0);
    free(x);
    free(r);
}

/* Session 21: im2col-gemm jobs of one K block of at most im2col_wide_k
 * rows on the wide column blocks (sk_kconfig.im2col_wide: the AVX2 level on
 * Intel, config.c fill_intel), put into the AVX2 config here on any x86 CPU:
 * each case against the double reference (check_case), and the bits of
 * the level's own blocks (the same FMA chain per element). Shapes: K of
 * 64 / 144 / 216 / 128 / 200 (wide) and 576 (not), maps of 1 .. 4 blocks
 * of 784 columns with a last partial one, 1-3 threads, every epilogue. */
static void test_im2col_wide(void **state)
{
    (void)state;
#if defined(__x86_64__)
    sk_kconfig *kc = (sk_kconfig *)sk_kconfig_for(SK_ISA_AVX2);
    if (!kc)
        skip();
    const sk_kconfig keep = *kc;
    sk_pool *pools[3] = {NULL, sk_pool_create(2), sk_pool_create(3)};
    setenv("SKIPSERVE_WINOGRAD", "0", 1);
    setenv("SKIPSERVE_PIXROWS", "0", 1);
    setenv("SKIPSERVE_CONV_DIRECT", "0", 1);
    setenv("SKIPSERVE_CONV_BCAST", "0", 1);
    static const int geo[][7] = {
        /* N, C, M, H, k, stride, pad */
        {1, 64, 256, 56, 1, 1, 0}, {1, 16, 13, 30, 3, 1, 1}, {2, 24, 20, 33, 3, 2, 1},
        {2, 128, 72, 28, 1, 1, 0}, {1, 200, 24, 45, 1, 1, 0}, {1, 64, 40, 30, 3, 1, 1},
    };
    sk_cpu_set_level(SK_ISA_AVX2);
    for (size_t i = 0; i < sizeof geo / sizeof *geo; i++) {
        conv_case c;
        square_case(&c, geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4], geo[i][5],
                    geo[i][6]);
        const int e = (int)(i * 3) % 8;
        c.bias = e & 1;
        c.bn = (e & 2) != 0;
        c.add = (e & 4) != 0 || i == 0;
        c.act = e % 3;
        char what[400];
        describe(&c, what, sizeof what);
        kc->im2col_wide = kc->gemm;
        kc->im2col_wide.nc = 784;
        kc->im2col_wide_k = kc->gemm.kc;
        assert_int_equal(packed_kind(&c), SK_CONV_GEMM);
        check_case(&c, pools[i % 3], 1);
        float *x, *r;
        random_operands(&c, &x, &r);
        char err[256];
        sk_graph *g = build(&c, 777);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        int64_t n0, n1;
        const size_t w0 = sk_im2col_wide_jobs();
        float *y1 = run_graph(g, &c, x, r, pools[i % 3], &n1, 0);
        const size_t w1 = sk_im2col_wide_jobs();
        kc->im2col_wide_k = 0; /* the level's blocks */
        float *y0 = run_graph(g, &c, x, r, pools[i % 3], &n0, 0);
        /* the wide path ran where it must (one thread: no shared-B path;
         * K = C k k within one K block) and never with im2col_wide_k 0 */
        if (!pools[i % 3] && (int64_t)geo[i][1] * geo[i][4] * geo[i][4] <= (int64_t)kc->gemm.kc)
            assert_true(w1 > w0);
        assert_true(sk_im2col_wide_jobs() == w1);
        assert_int_equal(n0, n1);
        if (memcmp(y1, y0, sizeof(float) * (size_t)n0))
            fail_msg("wide column blocks differ from the level's: %s", what);
        free(y0);
        free(y1);
        sk_graph_free(g);
        free(x);
        free(r);
    }
    *kc = keep;
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pools[1]);
    sk_pool_destroy(pools[2]);
#endif
}

static void test_im2col_aorder(void **state)
{
    (void)state;
    sk_pool *pools[3] = {NULL, sk_pool_create(3), sk_pool_create(16)};
    setenv("SKIPSERVE_WINOGRAD", "0", 1);
    setenv("SKIPSERVE_PIXROWS", "0", 1);
    setenv("SKIPSERVE_CONV_DIRECT", "0", 1);
    setenv("SKIPSERVE_CONV_BCAST", "0", 1);
    static const int geo[][8] = {
        /* N, C, M, H, k, stride, pad, group */
        {1, 64, 256, 56, 1, 1, 0, 1}, {1, 600, 24, 9, 1, 1, 0, 1}, {2, 64, 40, 12, 3, 1, 1, 1},
        {1, 16, 13, 6, 3, 1, 1, 1},   {3, 24, 20, 13, 3, 2, 1, 1}, {2, 32, 48, 10, 3, 1, 1, 4},
        {1, 20, 9, 7, 1, 1, 0, 1},    {2, 40, 72, 15, 1, 2, 0, 1}, {1, 8, 64, 23, 5, 1, 2, 1},
    };
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        sk_cpu_set_level((sk_isa)l);
        for (size_t i = 0; i < sizeof geo / sizeof *geo; i++)
            aorder_case(geo[i][0], geo[i][1], geo[i][2], geo[i][3], geo[i][4], geo[i][5],
                        geo[i][6], geo[i][7], (int)(i * 3) % 8, pools);
    }
    /* the default (no switch): a job in A-panel order where the level's
     * config asks for it (config.c fill_intel: the AVX-512 level on Intel,
     * and since session 21 the AVX2 level on Intel for convs with a
     * residual Add), none elsewhere — counted, not read back from the
     * config */
    unsetenv("SKIPSERVE_IM2COL_AORDER");
    sk_switches_reload();
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++)
        for (int add = 0; add < 2; add++) {
            sk_cpu_set_level((sk_isa)l);
            conv_case c;
            square_case(&c, 1, 64, 256, 14, 1, 1, 0);
            c.add = add;
            assert_int_equal(packed_kind(&c), SK_CONV_GEMM);
            float *x, *r;
            random_operands(&c, &x, &r);
            char err[256];
            sk_graph *g = build(&c, 99);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            int64_t n;
            const size_t jobs0 = sk_im2col_aorder_jobs();
            free(run_graph(g, &c, x, r, NULL, &n, 0));
            const int want = sk_cpu_features_get()->intel &&
                             (l == SK_ISA_AVX512 || (l == SK_ISA_AVX2 && add));
            assert_int_equal(sk_im2col_aorder_jobs() != jobs0, want);
            sk_graph_free(g);
            free(x);
            free(r);
        }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pools[1]);
    sk_pool_destroy(pools[2]);
}

int main(void)
{
    int ne = 0;
    for (char **e = environ; *e && ne < 63; e++)
        if (!strncmp(*e, "SKIPSERVE_", 10) && !(start_env[ne++] = strdup(*e)))
            return 1;
    start_level = sk_cpu_level();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_random_geometries, clean_env),
        cmocka_unit_test_teardown(test_resnet_geometries, clean_env),
        cmocka_unit_test_teardown(test_winograd, clean_env),
        cmocka_unit_test_teardown(test_depthwise, clean_env),
        cmocka_unit_test_teardown(test_depthwise_flat, clean_env),
        cmocka_unit_test_teardown(test_depthwise_cl, clean_env),
        cmocka_unit_test_teardown(test_winograd_selection, clean_env),
        cmocka_unit_test_teardown(test_pixrows, clean_env),
        cmocka_unit_test_teardown(test_pixrows_selection, clean_env),
        cmocka_unit_test_teardown(test_wino_pixrows_by_batch, clean_env),
        cmocka_unit_test_teardown(test_wino_one_block, clean_env),
        cmocka_unit_test_teardown(test_released_weights, clean_env),
        cmocka_unit_test_teardown(test_no_fusion_across_shared_values, clean_env),
        cmocka_unit_test_teardown(test_dump_shows_fusion, clean_env),
        cmocka_unit_test_teardown(test_gemm_fused, clean_env),
        cmocka_unit_test_teardown(test_max_pool, clean_env),
        cmocka_unit_test_teardown(test_conv_transpose, clean_env),
        cmocka_unit_test_teardown(test_bf16, clean_env),
        cmocka_unit_test_teardown(test_bf16_form, clean_env),
        cmocka_unit_test_teardown(test_nchw1x1, clean_env),
        cmocka_unit_test_teardown(test_conv_direct, clean_env),
        cmocka_unit_test_teardown(test_conv_direct_bc, clean_env),
        cmocka_unit_test_teardown(test_conv_direct_bc_sliced, clean_env),
        cmocka_unit_test_teardown(test_conv_direct_selection, clean_env),
        cmocka_unit_test_teardown(test_split_threads_bits, clean_env),
        cmocka_unit_test_teardown(test_split_switches_differ, clean_env),
        cmocka_unit_test_teardown(test_split_cache_same, clean_env),
        cmocka_unit_test_teardown(test_depthwise_cl_wtab, clean_env),
        cmocka_unit_test_teardown(test_im2col_aorder, clean_env),
        cmocka_unit_test_teardown(test_im2col_wide, clean_env),
        cmocka_unit_test_teardown(test_conv_direct_bc_rows, clean_env),

        cmocka_unit_test_teardown(test_depthwise_reg, clean_env), /* last too: random draws */
        cmocka_unit_test_teardown(test_pixrows_one, clean_env),
        cmocka_unit_test_teardown(test_pixrows_mr14, clean_env),
        cmocka_unit_test_teardown(test_conv_direct_bc_level_kb, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
