/* test_qdq_act.c — passes/qdq_act.c (issue 22, session 16): a QDQ conv's
 * Clip / Relu before its Q moved past it as a clamp table, so the conv
 * runs in int8. On random geometries (uint8 / int8, Clip with both bounds,
 * only min, only max, bounds past Q's range or crossed, Relu):
 *   1. taken: no Clip / Relu and no float conv left;
 *   2. bit for bit: its output is clamp(Q-conv, Q(lo), Q(hi)) of the same
 *      graph without the activation (Q(lo) / Q(hi) computed here from
 *      ONNX's QuantizeLinear formula) — the monotone-Q identity the pass
 *      relies on — at every level, 1 and 3 threads;
 *   3. within one step of the float graph (the reference, no passes);
 *   4. not taken for a grouped (not depthwise) conv, for a depthwise one
 *      with SKIPSERVE_INT8_DW=0 (session 17: depthwise convs are taken by
 *      default, test_qdwconv.c), and with SKIPSERVE_QDQ_ACT=0. */
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
#include "threadpool.h"

#include "qgraph_testutil.h"

typedef struct act_case {
    int64_t C, M, H, W, group;
    int s8, act; /* act: 0 none, 1 Clip(lo, hi), 2 Clip(lo) only, 3 Clip(hi) only, 4 Relu */
    float xs, ys, lo, hi;
    int32_t xz, yz;
    int8_t *w;
    float *wsc;
    int32_t *b;
} act_case;

static sk_graph *act_graph(const act_case *c, int act)
{
    sk_graph *g = sk_graph_new();
    sk_dtype t = c->s8 ? SK_I8 : SK_U8;
    int x = val(g, "x");
    g->values[x].dtype = t;
    g->values[x].shape = (sk_shape){4, {SK_DIM_SYMBOLIC, c->C, c->H, c->W}};
    sk_graph_add_input(g, x);
    sk_shape one = {0, {0}}, ws = {4, {c->M, c->C / c->group, 3, 3}}, ms = {1, {c->M}};
    int8_t xz8 = (int8_t)c->xz, yz8 = (int8_t)c->yz, *wz = calloc((size_t)c->M, 1);
    int32_t *bz = calloc((size_t)c->M, 4);
    float *bs = malloc((size_t)c->M * 4);
    assert_true(wz && bz && bs);
    for (int64_t m = 0; m < c->M; m++)
        bs[m] = c->xs * c->wsc[m];
    int dx[3] = {x, sk_graph_add_const(g, "xs", SK_F32, &one, &c->xs),
                 sk_graph_add_const(g, "xz", t, &one, &xz8)};
    int dw[3] = {sk_graph_add_const(g, "w", SK_I8, &ws, c->w),
                 sk_graph_add_const(g, "wsc", SK_F32, &ms, c->wsc),
                 sk_graph_add_const(g, "wz", SK_I8, &ms, wz)};
    int db[3] = {sk_graph_add_const(g, "b", SK_I32, &ms, c->b),
                 sk_graph_add_const(g, "bs", SK_F32, &ms, bs),
                 sk_graph_add_const(g, "bz", SK_I32, &ms, bz)};
    free(wz);
    free(bz);
    free(bs);
    int xf = val(g, "xf"), wf = val(g, "wf"), bf = val(g, "bf"), cf = val(g, "cf"), y = val(g, "y");
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqx", 3, dx, 1, &xf) >= 0);
    int wi = sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqw", 3, dw, 1, &wf);
    sk_node_set_int(g, wi, "axis", 0);
    int bi = sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqb", 3, db, 1, &bf);
    sk_node_set_int(g, bi, "axis", 0);
    int cin[3] = {xf, wf, bf};
    int ci = sk_graph_add_node(g, SK_OP_CONV, "conv", 3, cin, 1, &cf);
    int64_t pads[4] = {1, 1, 1, 1};
    sk_node_set_ints(g, ci, "pads", pads, 4);
    sk_node_set_int(g, ci, "group", c->group);
    int af = cf;
    if (act) {
        af = val(g, "af");
        if (act == 4) {
            assert_true(sk_graph_add_node(g, SK_OP_RELU, "relu", 1, &cf, 1, &af) >= 0);
        } else if (act == 3) { /* Clip(max) only: min omitted */
            int ain[3] = {cf, -1, sk_graph_add_const(g, "hi", SK_F32, &one, &c->hi)};
            assert_true(sk_graph_add_node(g, SK_OP_CLIP, "clip", 3, ain, 1, &af) >= 0);
        } else {
            int ain[3] = {cf, sk_graph_add_const(g, "lo", SK_F32, &one, &c->lo),
                          act == 1 ? sk_graph_add_const(g, "hi", SK_F32, &one, &c->hi) : -1};
            assert_true(sk_graph_add_node(g, SK_OP_CLIP, "clip", act == 1 ? 3 : 2, ain, 1, &af) >= 0);
        }
    }
    int q[3] = {af, sk_graph_add_const(g, "ys", SK_F32, &one, &c->ys),
                sk_graph_add_const(g, "yz", t, &one, &yz8)};
    assert_true(sk_graph_add_node(g, SK_OP_QUANTIZE_LINEAR, "q", 3, q, 1, &y) >= 0);
    sk_graph_add_output(g, y);
    return g;
}

/* ONNX QuantizeLinear of one value: saturate(rint(v / y_s) + y_zp) */
static int32_t qv(const act_case *c, float v)
{
    float r = nearbyintf(v / c->ys) + (float)c->yz, lo = c->s8 ? -128.f : 0.f,
          hi = c->s8 ? 127.f : 255.f;
    return (int32_t)(r < lo ? lo : r > hi ? hi : r);
}

static int32_t ld8(const uint8_t *p, size_t i, int s8) { return s8 ? (int8_t)p[i] : p[i]; }

static void build(act_case *c)
{
    size_t nw = (size_t)(c->M * (c->C / c->group) * 9);
    c->w = malloc(nw);
    c->wsc = malloc((size_t)c->M * 4);
    c->b = malloc((size_t)c->M * 4);
    assert_true(c->w && c->wsc && c->b);
    for (size_t i = 0; i < nw; i++)
        c->w[i] = (int8_t)((int)(rnd() % 255) - 127);
    for (int64_t m = 0; m < c->M; m++) {
        c->wsc[m] = frand(0.002f, 0.01f);
        c->b[m] = (int32_t)(rnd() % 2001) - 1000;
    }
}

static void unbuild(act_case *c)
{
    free(c->w);
    free(c->wsc);
    free(c->b);
}

static void test_act_moved(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    sk_pool *pool = sk_pool_create(3);
    char err[256];
    int clamped = 0;
    for (int it = 0; it < 40; it++) {
        act_case c;
        memset(&c, 0, sizeof c);
        c.C = (int64_t[]){3, 4, 8, 16}[it % 4];
        c.M = 4 + rnd() % 29;
        c.H = 3 + rnd() % 8;
        c.W = 3 + rnd() % 9;
        c.group = 1;
        c.s8 = rnd() % 2;
        c.act = 1 + it % 4 + (it % 9 == 0); /* 1..5 -> 5 is Relu too */
        if (c.act == 5)
            c.act = 4;
        c.xs = frand(0.01f, 0.05f);
        c.ys = frand(0.02f, 0.08f);
        c.xz = c.s8 ? (int32_t)(rnd() % 40) - 20 : 100 + (int32_t)(rnd() % 56);
        c.yz = c.s8 ? (int32_t)(rnd() % 40) - 20 : 60 + (int32_t)(rnd() % 100);
        c.lo = frand(-3.f, 1.f);
        c.hi = it % 7 == 3 ? c.lo - 0.5f : frand(0.5f, 6.f); /* crossed bounds now and then */
        if (c.act == 2)
            c.hi = FLT_MAX;
        if (c.act == 3)
            c.lo = -FLT_MAX;
        if (c.act == 4)
            c.lo = 0.f, c.hi = FLT_MAX;
        build(&c);
        int64_t N = 1 + it % 2;
        size_t nx = (size_t)(N * c.C * c.H * c.W), ny = (size_t)(N * c.M * c.H * c.W);
        uint8_t *x = malloc(nx), *ref = malloc(ny), *plain = malloc(ny), *got = malloc(ny);
        assert_true(x && ref && plain && got);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint8_t)rnd();
        sk_tensor tx = {c.s8 ? SK_I8 : SK_U8, {4, {N, c.C, c.H, c.W}}, x};
        /* the float graph: reference kernels, no passes */
        sk_cpu_set_level(SK_ISA_SCALAR);
        sk_graph *gf = act_graph(&c, c.act);
        if (sk_graph_validate(gf, err, sizeof err))
            fail_msg("graph: %s", err);
        run1(gf, NULL, &tx, ref, ny);
        sk_graph_free(gf);
        int32_t qlo = qv(&c, c.lo), qhi = qv(&c, c.hi);
        for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            sk_graph *gp = act_graph(&c, 0), *ga = act_graph(&c, c.act);
            if (sk_graph_optimize(gp, 1, err, sizeof err) || sk_graph_optimize(ga, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            assert_int_equal(count_op(ga, SK_OP_CLIP) + count_op(ga, SK_OP_RELU), 0);
            assert_int_equal(count_op(ga, SK_OP_CONV) + count_op(ga, SK_OP_CONV_FUSED), 0);
            run1(gp, NULL, &tx, plain, ny);
            for (int th = 0; th < 2; th++) {
                memset(got, 0xA5, ny);
                run1(ga, th ? pool : NULL, &tx, got, ny);
                for (size_t i = 0; i < ny; i++) {
                    int32_t p = ld8(plain, i, c.s8), v = p < qlo ? qlo : p;
                    v = v > qhi ? qhi : v;
                    clamped += v != p;
                    if (ld8(got, i, c.s8) != v)
                        fail_msg("case %d act %d level %d th %d [%zu]: %d, want clamp(%d, %d, %d)",
                                 it, c.act, L, th, i, ld8(got, i, c.s8), p, qlo, qhi);
                    int d = ld8(got, i, c.s8) - ld8(ref, i, c.s8);
                    if (d < -1 || d > 1)
                        fail_msg("case %d act %d [%zu]: %d, float graph %d", it, c.act, i,
                                 ld8(got, i, c.s8), ld8(ref, i, c.s8));
                }
            }
            sk_graph_free(gp);
            sk_graph_free(ga);
        }
        free(x);
        free(ref);
        free(plain);
        free(got);
        unbuild(&c);
    }
    /* the clamp did something on these inputs */
    assert_true(clamped > 0);
    printf("  QDQ Clip / Relu after a conv: %d outputs clamped\n", clamped);
    sk_cpu_set_level(top);
    sk_pool_destroy(pool);
}

/* grouped convs (and depthwise ones with SKIPSERVE_INT8_DW=0) keep their
 * float conv and activation, as does everything with SKIPSERVE_QDQ_ACT=0, a Q with a negative scale (Q
 * decreasing: the clamp does not commute) and a NaN Clip bound; the last
 * two must also still compute what the unoptimized graph does */
static void test_act_not_taken(void **state)
{
    (void)state;
    char err[256];
    for (int v = 0; v < 5; v++) {
        act_case c;
        memset(&c, 0, sizeof c);
        c.C = c.M = 8;
        c.H = c.W = 5;
        c.group = v == 0 ? 8 : v == 4 ? 2 : 1; /* 4: two groups of 4 channels */
        c.act = 1;
        c.xs = 0.02f, c.ys = 0.05f, c.xz = 128, c.yz = 0, c.lo = 0.f, c.hi = 6.f;
        if (v == 2)
            c.ys = -0.05f, c.yz = 128;
        if (v == 3)
            c.lo = NAN;
        build(&c);
        if (v == 1)
            setenv("SKIPSERVE_QDQ_ACT", "0", 1);
        if (v == 0)
            setenv("SKIPSERVE_INT8_DW", "0", 1);
        sk_graph *g = act_graph(&c, 1);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        unsetenv("SKIPSERVE_QDQ_ACT");
        unsetenv("SKIPSERVE_INT8_DW");
        assert_int_equal(count_op(g, SK_OP_CLIP) + count_op(g, SK_OP_CONV_FUSED) > 0, 1);
        assert_int_equal(count_op(g, SK_OP_QLINEAR_CONV) + count_op(g, SK_OP_QCONV_FUSED), 0);
        if (v >= 2) {
            size_t nx = (size_t)(c.C * c.H * c.W), ny = (size_t)(c.M * c.H * c.W);
            uint8_t *x = malloc(nx), *ref = malloc(ny), *got = malloc(ny);
            assert_true(x && ref && got);
            for (size_t i = 0; i < nx; i++)
                x[i] = (uint8_t)rnd();
            sk_tensor tx = {SK_U8, {4, {1, c.C, c.H, c.W}}, x};
            sk_graph *gf = act_graph(&c, 1);
            run1(gf, NULL, &tx, ref, ny);
            run1(g, NULL, &tx, got, ny);
            int distinct = 0;
            for (size_t i = 0; i < ny; i++) {
                int d = got[i] - ref[i];
                if (d < -1 || d > 1)
                    fail_msg("case %d [%zu]: %d, unoptimized graph %d", v, i, got[i], ref[i]);
                distinct += got[i] != got[0];
            }
            if (v == 2) /* not one byte everywhere (what the wrong table gave) */
                assert_true(distinct > 0);
            sk_graph_free(gf);
            free(x);
            free(ref);
            free(got);
        }
        sk_graph_free(g);
        unbuild(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_act_moved),
        cmocka_unit_test(test_act_not_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
