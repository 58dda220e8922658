/* test_qdwconv.c — the int8 depthwise conv (kernels/fast_qdwconv.c,
 * qdwconv.h; issue 22, session 17).
 *
 * 1. Graphs: a QLinearConv with group == C == M (-> QLinearAdd with a
 *    runtime residual) built twice, one optimized (packed on the depthwise
 *    path: asserted at every SIMD level), one as loaded (ref/qlinear.c's
 *    QLinearConv and QLinearAdd); every output byte equal. Geometries: C
 *    around the vector widths (1, 3, 8, 15, 16, 17, 33, 64, 70), kernels
 *    1x1, 2x3, 3x3, 5x5, 7x7, stride 1 and 2 on odd sizes, pads 0/1/2 and
 *    asymmetric, dilation 2, 1-3 rows, batch 1-3, uint8 and int8, per-tensor
 *    and per-channel scales; at the scalar, AVX2 and AVX-512 levels, on 1, 2
 *    and 3 threads.
 * 2. A region: 1x1 conv -> depthwise -> 1x1 conv (+ residual) on uint8:
 *    where the level has the NHWC kernels, the depthwise conv reads and
 *    writes channels-last (its io_nhwc flags asserted) and the bytes equal
 *    the reference graph's.
 * 3. The microkernels called directly against the scalar one, outputs in
 *    rows with guard bytes that must survive, every epilogue form (plain,
 *    ReLU clamp, residual by each res_mode, int8 in and out).
 * 4. The QDQ form DQ -> Conv(depthwise) -> Clip(0, 6) -> Q (MobileNet's
 *    ReLU6): passes/qdq_act.c now takes it into int8 (no float Conv left,
 *    the conv packed on the depthwise path) within one step of the float
 *    graph; with SKIPSERVE_INT8_DW=0 the conv stays float. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "engine/graph.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "kernels/config.h"
#include "kernels/fast_qconv.h"
#include "kernels/qdwconv.h"
#include "threadpool.h"

#define QT_RNG_SEED 0x2545f4914f6cdd1dull
#include "qgraph_testutil.h"




/* ---- 1. one depthwise QLinearConv (+ QLinearAdd) ------------------------------ */

typedef struct dcase {
    int N, C, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    int x_s8, per_channel, bias, add;
    int act; /* DQ -> Relu -> Q after it all (same scale and zero point):
              * qdq.c's table, a pure clamp to [zp, type max], folded into
              * the epilogue's clamp */
    int OH, OW;
} dcase;

static void finish(dcase *c)
{
    while (c->H + c->pt + c->pb < c->dh * (c->kh - 1) + 1)
        c->H++;
    while (c->W + c->pl + c->pr < c->dw * (c->kw - 1) + 1)
        c->W++;
    c->OH = (c->H + c->pt + c->pb - (c->dh * (c->kh - 1) + 1)) / c->sh + 1;
    c->OW = (c->W + c->pl + c->pr - (c->dw * (c->kw - 1) + 1)) / c->sw + 1;
}

static sk_graph *build(const dcase *c, uint64_t seed)
{
    uint64_t save = rng;
    rng = seed;
    sk_graph *g = sk_graph_new();
    const qt_qconv s = {.C = c->C, .M = c->C, .group = c->C, .H = c->H, .W = c->W,
                        .kh = c->kh, .kw = c->kw, .sh = c->sh, .sw = c->sw, .dh = c->dh,
                        .dw = c->dw, .pt = c->pt, .pl = c->pl, .pb = c->pb, .pr = c->pr,
                        .OH = c->OH, .OW = c->OW, .x_s8 = c->x_s8,
                        .per_channel = c->per_channel, .bias = c->bias, .add = c->add,
                        .wzp_nonzero = 0, .ys_min = 0.02f, .ys_step = 0.002f};
    int outv = qt_add_qconv(g, &s);
    if (c->act) { /* in the output's scale and zero point (cs / cz, or ys / yz) */
        const char *sn = c->add ? "cs" : "ys", *zn = c->add ? "cz" : "yz";
        int dq[3] = {outv, val(g, sn), val(g, zn)}, df = val(g, "df");
        sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqa", 3, dq, 1, &df);
        int cf = val(g, "cf");
        sk_graph_add_node(g, SK_OP_RELU, "relu", 1, &df, 1, &cf);
        int q[3] = {cf, val(g, sn), val(g, zn)};
        outv = val(g, "act");
        sk_graph_add_node(g, SK_OP_QUANTIZE_LINEAR, "qa", 3, q, 1, &outv);
    }
    sk_graph_add_output(g, outv);
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    rng = save;
    return g;
}

static uint8_t *run(const sk_graph *g, const dcase *c, const uint8_t *x, const uint8_t *r,
                    sk_pool *pool, size_t *ny)
{
    char err[256];
    sk_dtype xt = c->x_s8 ? SK_I8 : SK_U8;
    sk_tensor ins[2] = {{xt, {4, {c->N, c->C, c->H, c->W}}, NULL},
                        {xt, {4, {c->N, c->C, c->OH, c->OW}}, NULL}};
    sk_plan *p;
    if (sk_plan_create(g, ins, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *data[2] = {x, r};
    if (sk_plan_run(p, data, err, sizeof err))
        fail_msg("run: %s", err);
    const sk_tensor *y = sk_plan_output(p, 0);
    *ny = (size_t)sk_shape_numel(&y->shape);
    uint8_t *copy = malloc(*ny + 1);
    assert_non_null(copy);
    memcpy(copy, y->data, *ny);
    sk_plan_free(p);
    return copy;
}

/* the packed conv node's private data (NULL: not packed) */
static const sk_qconv_priv *dw_priv(const sk_graph *g)
{
    for (int i = 0; i < g->nnodes; i++)
        if ((g->nodes[i].op == SK_OP_QLINEAR_CONV || g->nodes[i].op == SK_OP_QCONV_FUSED) &&
            g->nodes[i].priv)
            return g->nodes[i].priv;
    return NULL;
}

static void check_case(const dcase *c, uint64_t seed, sk_pool *pool)
{
    char err[256];
    sk_graph *ref = build(c, seed), *fast = build(c, seed);
    if (sk_graph_optimize(fast, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    const sk_qconv_priv *pv = dw_priv(fast);
    /* every level but scalar has a dw kernel; C = 1 is group 1, a plain conv */
    if (sk_cpu_level() != SK_ISA_SCALAR && c->C > 1)
        assert_true(pv && pv->dwk.uk);
    size_t nx = (size_t)(c->N * c->C * c->H * c->W), nr = (size_t)(c->N * c->C * c->OH * c->OW);
    uint8_t *x = malloc(nx + 1), *r = malloc(nr + 1);
    assert_true(x && r);
    for (size_t i = 0; i < nx; i++)
        x[i] = (uint8_t)rnd();
    for (size_t i = 0; i < nr; i++)
        r[i] = (uint8_t)rnd();
    size_t n1, n2;
    uint8_t *y1 = run(ref, c, x, r, NULL, &n1), *y2 = run(fast, c, x, r, pool, &n2);
    assert_int_equal(n1, n2);
    for (size_t i = 0; i < n1; i++)
        if (y1[i] != y2[i])
            fail_msg("N%d C%d %dx%d k%dx%d s%d,%d d%d,%d pads %d,%d,%d,%d x_s8 %d pc %d bias %d "
                     "add %d level %s threads %d: byte %zu ref %d fast %d",
                     c->N, c->C, c->H, c->W, c->kh, c->kw, c->sh, c->sw, c->dh, c->dw, c->pt,
                     c->pl, c->pb, c->pr, c->x_s8, c->per_channel, c->bias, c->add,
                     sk_isa_name(sk_cpu_level()), pool ? sk_pool_size(pool) : 1, i, y1[i],
                     y2[i]);
    free(x);
    free(r);
    free(y1);
    free(y2);
    sk_graph_free(ref);
    sk_graph_free(fast);
}

static void test_geometries(void **state)
{
    (void)state;
    static const int Cs[] = {1, 3, 8, 15, 16, 17, 33, 64, 70};
    static const int ks[][2] = {{3, 3}, {5, 5}, {1, 1}, {2, 3}, {7, 7}, {3, 3}};
    sk_isa top = sk_cpu_detected();
    sk_pool *pools[3] = {NULL, sk_pool_create(2), sk_pool_create(3)};
    int n = 0;
    for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
        sk_cpu_set_level((sk_isa)L);
        for (int i = 0; i < 54; i++) {
            dcase c;
            memset(&c, 0, sizeof c);
            c.C = Cs[i % 9];
            c.kh = ks[i % 6][0];
            c.kw = ks[i % 6][1];
            c.sh = c.sw = 1 + (i / 3) % 2;
            c.dh = c.dw = i % 11 == 5 ? 2 : 1;
            int pad = (i / 2) % 3; /* 0, 1, 2; asymmetric every seventh */
            c.pt = c.pl = c.pb = c.pr = pad;
            if (i % 7 == 3) {
                c.pt = irand(0, 2);
                c.pl = irand(0, 2);
                c.pb = irand(0, 2);
                c.pr = irand(0, 2);
            }
            c.N = 1 + i % 3;
            /* odd sizes; 1-3 output rows every fourth case */
            c.H = i % 4 == 0 ? irand(1, 3) : 2 * irand(1, 6) + 1;
            c.W = 2 * irand(1, 8) + 1;
            c.x_s8 = i % 5 == 1;
            c.per_channel = i % 4 != 2;
            c.bias = i % 6 != 4;
            c.add = i % 3 == 1;
            finish(&c);
            uint64_t seed = rnd();
            check_case(&c, seed, pools[i % 3]);
            n++;
        }
        /* pads wider than the kernel (border runs of several pixels with
         * every tap in the pads), and kernels of more than SK_QDW_ROW_MAXK
         * taps (the pointer form only) */
        static const int sp[][8] = {/* C, kh, kw, s, pt, pl, pb, pr */
                                    {20, 1, 1, 1, 4, 4, 4, 4},  {17, 3, 3, 1, 5, 6, 1, 5},
                                    {33, 9, 9, 1, 4, 4, 4, 4},  {40, 2, 3, 2, 3, 7, 0, 6},
                                    {32, 9, 8, 2, 1, 0, 2, 3}};
        for (int i = 0; i < 5; i++) {
            dcase c;
            memset(&c, 0, sizeof c);
            c.C = sp[i][0];
            c.kh = sp[i][1];
            c.kw = sp[i][2];
            c.sh = c.sw = sp[i][3];
            c.pt = sp[i][4];
            c.pl = sp[i][5];
            c.pb = sp[i][6];
            c.pr = sp[i][7];
            c.dh = c.dw = 1;
            c.N = 2;
            c.H = 7;
            c.W = 9 + i;
            c.per_channel = c.bias = 1;
            c.add = i % 2;
            c.x_s8 = i == 3;
            finish(&c);
            check_case(&c, rnd(), pools[i % 3]);
            n++;
        }
    }
    sk_cpu_set_level(top);
    sk_pool_destroy(pools[1]);
    sk_pool_destroy(pools[2]);
    print_message("  %d depthwise geometries, levels scalar..%s, 1-3 threads\n", n,
                  sk_isa_name(top));
}

/* ---- 2. inside an NHWC region ------------------------------------------------------- */

static void pw_conv(sk_graph *g, const char *name, const char *x, int C, int M, int k, int group,
                    int s, const char *y)
{
    char wn[32], bn[32];
    snprintf(wn, sizeof wn, "%s_w", name);
    snprintf(bn, sizeof bn, "%s_b", name);
    int64_t wd[4] = {M, C / group, k, k}, md[1] = {M};
    size_t wnum = (size_t)(M * (C / group) * k * k);
    int8_t *w = malloc(wnum);
    int32_t *b = malloc(sizeof(int32_t) * (size_t)M);
    assert_true(w && b);
    for (size_t i = 0; i < wnum; i++)
        w[i] = (int8_t)((int)(rnd() % 256) - 128);
    for (int m = 0; m < M; m++)
        b[m] = (int32_t)(rnd() % 4001) - 2000;
    cst(g, wn, SK_I8, 4, wd, w);
    cst(g, bn, SK_I32, 1, md, b);
    free(w);
    free(b);
    int in[9] = {val(g, x), val(g, "s"), val(g, "z"), val(g, wn), val(g, "ws"), val(g, "wz0"),
                 val(g, "s"), val(g, "z"), val(g, bn)};
    int yo = val(g, y);
    int ni = sk_graph_add_node(g, SK_OP_QLINEAR_CONV, name, 9, in, 1, &yo);
    int64_t st[2] = {s, s}, pads[4] = {k / 2, k / 2, k / 2, k / 2};
    sk_node_set_ints(g, ni, "strides", st, 2);
    sk_node_set_ints(g, ni, "pads", pads, 4);
    sk_node_set_int(g, ni, "group", group);
}

/* x [N, 8, 11, 13] -> A 1x1 (24) -> D depthwise 3x3 stride s (24) -> B 1x1
 * (16) -> out; with res: D's output also added to A's (stride 1) */
static sk_graph *build_region(int s, int res)
{
    uint64_t save = rng;
    rng = 99 + (uint64_t)s;
    sk_graph *g = sk_graph_new();
    int64_t xd[4] = {SK_DIM_SYMBOLIC, 8, 11, 13}, one[1] = {1};
    input(g, "x", SK_U8, xd);
    float sc = 0.05f, ws = 0.002f;
    uint8_t zp = 120;
    int8_t wz = 0;
    cst(g, "s", SK_F32, 0, one, &sc);
    cst(g, "z", SK_U8, 0, one, &zp);
    cst(g, "ws", SK_F32, 0, one, &ws);
    cst(g, "wz0", SK_I8, 0, one, &wz);
    pw_conv(g, "A", "x", 8, 24, 1, 1, 1, "a");
    pw_conv(g, "D", "a", 24, 24, 3, 24, s, "d");
    const char *bin = "d";
    if (res) {
        int ain[8] = {val(g, "a"), val(g, "s"), val(g, "z"), val(g, "d"),
                      val(g, "s"), val(g, "z"), val(g, "s"), val(g, "z")};
        int c = val(g, "c");
        sk_graph_add_node(g, SK_OP_QLINEAR_ADD, "add", 8, ain, 1, &c);
        bin = "c";
    }
    pw_conv(g, "B", bin, 24, 16, 1, 1, 1, "out");
    sk_graph_add_output(g, val(g, "out"));
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    rng = save;
    return g;
}

static int io_of(const sk_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].name, name) && g->nodes[i].priv)
            return ((const sk_qconv_priv *)g->nodes[i].priv)->io_nhwc;
    return -1;
}

static void test_region(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    sk_pool *pool3 = sk_pool_create(3);
    uint8_t x[3 * 8 * 11 * 13];
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (uint8_t)rnd();
    int checked = 0;
    for (int L = SK_ISA_SCALAR; L <= (int)top; L++)
        for (int v = 0; v < 3; v++) {
            sk_cpu_set_level((sk_isa)L);
            int s = v == 1 ? 2 : 1, res = v == 2;
            sk_graph *ref = build_region(s, res), *fast = build_region(s, res);
            char err[256];
            if (sk_graph_optimize(fast, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            const sk_kconfig *kc = sk_kconfig_for((sk_isa)L);
            if (kc && kc->qigemm.uk && kc->qdw.uk) {
                /* D (the fused depthwise + add when res) between NHWC convs */
                int d = io_of(fast, "D");
                assert_int_equal(d & (SK_QNHWC_X | SK_QNHWC_Y), SK_QNHWC_X | SK_QNHWC_Y);
                if (res)
                    assert_int_equal(d & SK_QNHWC_R, SK_QNHWC_R);
                checked++;
            }
            for (int t = 0; t < 2; t++) {
                sk_tensor in = {SK_U8, {4, {3, 8, 11, 13}}, NULL};
                sk_plan *p1 = NULL, *p2 = NULL;
                if (sk_plan_create(ref, &in, NULL, &p1, err, sizeof err) ||
                    sk_plan_create(fast, &in, t ? pool3 : NULL, &p2, err, sizeof err))
                    fail_msg("plan: %s", err);
                const void *data[1] = {x};
                if (sk_plan_run(p1, data, err, sizeof err) || sk_plan_run(p2, data, err, sizeof err))
                    fail_msg("run: %s", err);
                const sk_tensor *y1 = sk_plan_output(p1, 0), *y2 = sk_plan_output(p2, 0);
                size_t n = (size_t)sk_shape_numel(&y1->shape);
                assert_int_equal(n, (size_t)sk_shape_numel(&y2->shape));
                assert_memory_equal(y1->data, y2->data, n);
                sk_plan_free(p1);
                sk_plan_free(p2);
            }
            sk_graph_free(ref);
            sk_graph_free(fast);
        }
    sk_cpu_set_level(top);
    sk_pool_destroy(pool3);
    print_message("  region variants x levels, layout flags checked on %d\n", checked);
}

/* ---- 3. the microkernels against the scalar one, with guard bytes ------------------ */

#define GUARD 0xa5

static void kernel_case(const sk_qdw_cfg *kc, size_t C, size_t kh, size_t kw, size_t n,
                        int form)
{
    size_t ks = kh * kw;
    size_t ldx = C + 5, ldy = C + 37; /* pixels apart; the gaps are guards */
    size_t xbytes = (4 * n + 2 * kw + n * ks) * ldx + 64;
    uint8_t *xs = malloc(xbytes), *res = malloc(n * ldy + 64);
    const uint8_t **ptr = malloc(n * ks * sizeof *ptr);
    int8_t *w = malloc(C * ks);
    int32_t *wp = malloc(sk_qdw_packed_w_elems(C, ks) * sizeof(int32_t));
    int32_t *bias = malloc(C * sizeof(int32_t));
    float *mult = malloc(C * sizeof(float));
    uint8_t *y1 = malloc(n * ldy), *y2 = malloc(n * ldy);
    assert_true(xs && res && ptr && w && wp && bias && mult && y1 && y2);
    for (size_t i = 0; i < xbytes; i++)
        xs[i] = (uint8_t)(rnd() % 3 == 0 ? (rnd() & 1 ? 255 : 0) : rnd());
    for (size_t i = 0; i < n * ldy + 64; i++)
        res[i] = (uint8_t)rnd();
    for (size_t i = 0; i < n * ks; i++) /* taps in any order, some pixels shared */
        ptr[i] = xs + (size_t)(rnd() % (uint32_t)(n * ks)) * ldx;
    for (size_t i = 0; i < C * ks; i++)
        w[i] = (int8_t)(rnd() % 3 == 0 ? (rnd() & 1 ? 127 : -128) : (int)(rnd() % 256) - 128);
    sk_qdw_pack_w(C, ks, w, wp);
    int32_t *wp2 = NULL; /* the pair layout, where the level's row kernel reads it */
    if (kc->pairs && C >= 32) {
        wp2 = malloc(sk_qdw_packed_w32_elems(C, ks) * sizeof(int32_t));
        assert_non_null(wp2);
        sk_qdw_pack_w32(C, ks, w, wp2);
    }
    for (size_t c = 0; c < C; c++) {
        bias[c] = (int32_t)(rnd() % 200001) - 100000;
        mult[c] = 1e-4f + (float)(rnd() % 1000) * 2e-6f;
    }
    sk_qgemm_params p;
    memset(&p, 0, sizeof p);
    int s8 = form == 3;
    sk_qgemm_params_plain(&p, s8, s8 ? -3 : 121);
    p.bias = bias;
    p.mult = mult;
    if (form == 1) /* ReLU: the conv's clamp */
        p.lo1 = p.y1_zp;
    if (form >= 2) { /* the residual, each res_mode the layer allows */
        p.y1_scale = 0.05f;
        p.r_scale = 0.031f;
        p.r_zp = s8 ? 4.0f : 131.0f;
        p.y_scale = 0.07f;
        p.y_zp = s8 ? -2.0f : 118.0f;
        p.res_s8 = s8;
        sk_qgemm_res_fast(&p);
    }
    uint8_t flip = s8 ? 0x80 : 0;
    const uint8_t *r = form >= 2 ? res : NULL;
    /* channel ranges: all, and a part from a block boundary */
    size_t c0s[2] = {0, C > SK_QDW_CB ? SK_QDW_CB : 0};
    /* the row form: rows anywhere, steps of 1-2 pixels or 0 (a pad row) */
    const uint8_t *rows[8];
    size_t rstep[8], qstep[8];
    for (size_t q = 0; q < kh; q++) {
        int pad = rnd() % 4 == 0;
        rows[q] = xs + (size_t)(rnd() % (uint32_t)(n * ks)) * ldx;
        rstep[q] = pad ? 0 : (1 + rnd() % 2) * ldx;
        qstep[q] = pad ? 0 : (1 + rnd() % 2) * ldx;
    }
    for (int part = 0; part < 4; part++) {
        size_t c0 = c0s[part % 2], nc = part % 2 ? (C - c0 + 1) / 2 : C;
        if (c0 + nc > C)
            nc = C - c0;
        memset(y1, GUARD, n * ldy);
        memset(y2, GUARD, n * ldy);
        const char *name = kc->name;
        if (part < 2) {
            sk_qu8_qc8w_dwconv__scalar(n, c0, nc, ks, ptr, wp, flip, y1, ldy, r, ldy, &p);
            kc->uk(n, c0, nc, ks, ptr, wp, flip, y2, ldy, r, ldy, &p);
        } else {
            name = "row form";
            sk_qu8_qc8w_dwrow__scalar(n, c0, nc, kh, kw, rows, rstep, qstep, wp, NULL, flip, y1,
                                      ldy, r, ldy, &p);
            kc->row(n, c0, nc, kh, kw, rows, rstep, qstep, wp, wp2, flip, y2, ldy, r, ldy, &p);
        }
        for (size_t i = 0; i < n * ldy; i++) {
            size_t c = i % ldy;
            if (c < c0 || c >= c0 + nc) {
                if (y2[i] != GUARD)
                    fail_msg("%s C%zu ks%zu n%zu form %d: guard byte %zu written", name, C, ks, n,
                             form, i);
            } else if (y1[i] != y2[i]) {
                fail_msg("%s C%zu ks%zu n%zu form %d c0 %zu: pixel %zu channel %zu scalar %d "
                         "simd %d", name, C, ks, n, form, c0, i / ldy, c, y1[i], y2[i]);
            }
        }
    }
    free(xs);
    free(res);
    free(ptr);
    free(w);
    free(wp);
    free(wp2);
    free(bias);
    free(mult);
    free(y1);
    free(y2);
}

static void test_kernels(void **state)
{
    (void)state;
    int ran = 0;
    for (int L = SK_ISA_AVX2; L <= (int)sk_cpu_detected(); L++) {
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)L);
        if (!kc || !kc->qdw.uk)
            continue;
        static const size_t Cs[] = {1, 7, 8, 9, 16, 17, 31, 32, 48, 64, 70, 96};
        static const size_t kss[][2] = {{1, 1}, {2, 2}, {3, 3}, {5, 5}, {1, 3}};
        assert_non_null(kc->qdw.row);
        for (size_t ci = 0; ci < sizeof Cs / sizeof *Cs; ci++)
            for (size_t ki = 0; ki < 5; ki++)
                for (size_t n = 1; n <= 13; n += 2 + (n > 3))
                    for (int form = 0; form < 4; form++)
                        kernel_case(&kc->qdw, Cs[ci], kss[ki][0], kss[ki][1], n, form);
        ran++;
    }
    print_message("  microkernels checked: %d level(s)%s\n", ran,
                  sk_cpu_features_get()->avx512vnni ? ", the AVX-512 row form on VNNI pairs" : "");
    if (sk_cpu_detected() >= SK_ISA_AVX2)
        assert_true(ran >= 1);
}

/* ---- 3b. the table folded on the residual side ------------------------------------ */

/* dw QLinearConv + QLinearAdd + a QDQ Relu in the add's scale and zero
 * point: one _QConvFused with a residual and a pure-clamp table, which
 * fast_qconv.c folds into the final clamp (prm.lo / prm.hi, not lo1 / hi1).
 * Checked: the lower bound moved from the type's minimum to cz (build:
 * 110-140 uint8, -10-10 int8), the table dropped; the bytes equal the
 * reference graph's and those with the
 * table kept (SKIPSERVE_INT8_LUT_CLAMP=0), uint8 and int8, 1 and 3 threads. */
static void test_res_fold(void **state)
{
    (void)state;
    if (sk_cpu_detected() < SK_ISA_AVX2) {
        print_message("  no SIMD level: skipped\n");
        return;
    }
    sk_pool *pool = sk_pool_create(3);
    for (int s8 = 0; s8 <= 1; s8++) {
        dcase c;
        memset(&c, 0, sizeof c);
        c.N = 2, c.C = 40, c.H = 9, c.W = 11, c.kh = c.kw = 3, c.sh = c.sw = c.dh = c.dw = 1;
        c.pt = c.pl = c.pb = c.pr = 1;
        c.x_s8 = s8, c.per_channel = 1, c.bias = 1, c.add = 1, c.act = 1;
        finish(&c);
        check_case(&c, 4242, NULL); /* against the reference graph, folded */
        check_case(&c, 4242, pool);
        float bound[2][2];
        uint8_t *y[2];
        size_t ny[2];
        size_t nx = (size_t)(c.N * c.C * c.H * c.W), nr = (size_t)(c.N * c.C * c.OH * c.OW);
        uint8_t *x = malloc(nx), *r = malloc(nr);
        assert_true(x && r);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint8_t)rnd();
        for (size_t i = 0; i < nr; i++)
            r[i] = (uint8_t)rnd();
        for (int keep = 0; keep <= 1; keep++) { /* folded, then the table kept */
            if (keep)
                setenv("SKIPSERVE_INT8_LUT_CLAMP", "0", 1);
            sk_graph *g = build(&c, 4242);
            char err[256];
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            unsetenv("SKIPSERVE_INT8_LUT_CLAMP");
            assert_int_equal(count_op(g, SK_OP_RELU) + count_op(g, SK_OP_QLINEAR_ADD) +
                                 count_op(g, SK_OP_QLUT), 0);
            const sk_qconv_priv *pv = dw_priv(g);
            assert_true(pv && pv->dwk.uk && pv->has_res);
            assert_int_equal(pv->prm.lut != NULL, keep);
            bound[keep][0] = pv->prm.lo;
            bound[keep][1] = pv->prm.hi;
            y[keep] = run(g, &c, x, r, pool, &ny[keep]);
            sk_graph_free(g);
        }
        /* the table kept: the type's range; folded: [cz, type max] */
        assert_true(bound[1][0] == (s8 ? -128.0f : 0.0f) && bound[1][1] == (s8 ? 127.0f : 255.0f));
        assert_true(bound[0][0] >= (s8 ? -10.0f : 110.0f) && bound[0][0] <= (s8 ? 10.0f : 140.0f));
        assert_true(bound[0][1] == bound[1][1]);
        assert_int_equal(ny[0], ny[1]);
        assert_memory_equal(y[0], y[1], ny[0]);
        free(y[0]);
        free(y[1]);
        free(x);
        free(r);
    }
    sk_pool_destroy(pool);
}

/* ---- 4. the QDQ ReLU6 depthwise conv ------------------------------------------------ */

static int node(sk_graph *g, sk_op op, const char *name, int nin, const int *in, const char *out)
{
    int o = val(g, out);
    return sk_graph_add_node(g, op, name, nin, in, 1, &o);
}

/* xq [N, 20, 9, 9] uint8 (int8 when s8) -> DQ -> Conv(dw 3x3, stride s,
 * pad 1, DQ'd int8 weights and int32 bias) -> Clip(0, 6) -> Q(ys, yz) -> out.
 * ys = 0.03 makes the ReLU6 table a clamp to [yz, yz + 200], inside the
 * type's range, so folding it must move the epilogue's bounds (with
 * 6/255 and zero point 0 / -128 the table is the identity clamp and a
 * wrong fold would go unseen). */
static sk_graph *build_qdq_dw(int s, int s8)
{
    sk_graph *g = sk_graph_new();
    int64_t xd[4] = {SK_DIM_SYMBOLIC, 20, 9, 9}, wd[4] = {20, 1, 3, 3}, md[1] = {20}, one[1] = {1};
    const sk_dtype qt = s8 ? SK_I8 : SK_U8;
    input(g, "xq", qt, xd);
    uint64_t save = rng;
    rng = 1717;
    int8_t w[20 * 9];
    float ws[20], bs[20], xs = 0.03f, ys = 0.03f, lo = 0.0f, hi = 6.0f;
    int32_t b[20], bz[20] = {0};
    int8_t wz[20] = {0};
    for (size_t i = 0; i < sizeof w; i++)
        w[i] = (int8_t)((int)(rnd() % 255) - 127);
    for (int m = 0; m < 20; m++) {
        ws[m] = 0.002f + (float)(rnd() % 100) * 1e-4f;
        bs[m] = xs * ws[m];
        b[m] = (int32_t)(rnd() % 2001) - 1000;
    }
    rng = save;
    /* zero points as stored bytes: 128 / 0 (uint8), 0 / -100 (int8) */
    uint8_t xz = s8 ? 0 : 128, yz = s8 ? (uint8_t)(int8_t)-100 : 5;
    cst(g, "w", SK_I8, 4, wd, w);
    cst(g, "ws", SK_F32, 1, md, ws);
    cst(g, "wz", SK_I8, 1, md, wz);
    cst(g, "b", SK_I32, 1, md, b);
    cst(g, "bs", SK_F32, 1, md, bs);
    cst(g, "bz", SK_I32, 1, md, bz);
    cst(g, "xs", SK_F32, 0, one, &xs);
    cst(g, "xz", qt, 0, one, &xz);
    cst(g, "ys", SK_F32, 0, one, &ys);
    cst(g, "yz", qt, 0, one, &yz);
    cst(g, "lo", SK_F32, 0, one, &lo);
    cst(g, "hi", SK_F32, 0, one, &hi);
    int dx[3] = {val(g, "xq"), val(g, "xs"), val(g, "xz")},
        dwi[3] = {val(g, "w"), val(g, "ws"), val(g, "wz")},
        db[3] = {val(g, "b"), val(g, "bs"), val(g, "bz")};
    node(g, SK_OP_DEQUANTIZE_LINEAR, "dqx", 3, dx, "xf");
    sk_node_set_int(g, node(g, SK_OP_DEQUANTIZE_LINEAR, "dqw", 3, dwi, "wf"), "axis", 0);
    sk_node_set_int(g, node(g, SK_OP_DEQUANTIZE_LINEAR, "dqb", 3, db, "bf"), "axis", 0);
    int c[3] = {val(g, "xf"), val(g, "wf"), val(g, "bf")};
    int ci = node(g, SK_OP_CONV, "conv", 3, c, "yf");
    int64_t pads[4] = {1, 1, 1, 1}, st[2] = {s, s};
    sk_node_set_ints(g, ci, "pads", pads, 4);
    sk_node_set_ints(g, ci, "strides", st, 2);
    sk_node_set_int(g, ci, "group", 20);
    int cl[3] = {val(g, "yf"), val(g, "lo"), val(g, "hi")};
    node(g, SK_OP_CLIP, "relu6", 3, cl, "cf");
    int q[3] = {val(g, "cf"), val(g, "ys"), val(g, "yz")};
    node(g, SK_OP_QUANTIZE_LINEAR, "q", 3, q, "out");
    sk_graph_add_output(g, val(g, "out"));
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}


static void test_qdq_relu6(void **state)
{
    (void)state;
    if (sk_cpu_detected() < SK_ISA_AVX2) {
        print_message("  no SIMD level: skipped\n");
        return;
    }
    uint8_t x[2 * 20 * 81];
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (uint8_t)rnd();
    for (int s8 = 0; s8 <= 1; s8++) {
    /* the folded clamp's bounds: ReLU6 in the output's zero point and scale */
    const int qlo = s8 ? -100 : 5, qhi = qlo + 200, tlo = s8 ? -128 : 0, thi = s8 ? 127 : 255;
    uint8_t *folded[3] = {NULL, NULL, NULL}; /* by stride: the clamp-folded output */
    /* off 0: int8, the ReLU6 table folded into the clamp; 1: the depthwise
     * conv float (SKIPSERVE_INT8_DW=0); 2: int8 with the table kept
     * (SKIPSERVE_INT8_LUT_CLAMP=0) — the same bytes as 0 */
    for (int off = 0; off < 3; off++)
        for (int s = 1; s <= 2; s++) {
            if (off == 1)
                setenv("SKIPSERVE_INT8_DW", "0", 1);
            if (off == 2)
                setenv("SKIPSERVE_INT8_LUT_CLAMP", "0", 1);
            sk_graph *ref = build_qdq_dw(s, s8), *fast = build_qdq_dw(s, s8);
            char err[256];
            if (sk_graph_optimize(fast, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            unsetenv("SKIPSERVE_INT8_DW");
            unsetenv("SKIPSERVE_INT8_LUT_CLAMP");
            if (off == 1) { /* the float depthwise conv and its Clip stay */
                assert_int_equal(count_op(fast, SK_OP_CLIP) + count_op(fast, SK_OP_CONV) +
                                     count_op(fast, SK_OP_CONV_FUSED) > 0, 1);
            } else {
                assert_int_equal(count_op(fast, SK_OP_CONV) + count_op(fast, SK_OP_CONV_FUSED) +
                                     count_op(fast, SK_OP_CLIP), 0);
                const sk_qconv_priv *pv = dw_priv(fast);
                assert_true(pv && pv->dwk.uk);
                /* the table folded (0): the epilogue clamps to ReLU6's
                 * bounds; or kept (2): the type's range, then the table */
                assert_int_equal(pv->prm.lut != NULL, off == 2);
                assert_true(pv->prm.lo1 == (float)(off == 0 ? qlo : tlo));
                assert_true(pv->prm.hi1 == (float)(off == 0 ? qhi : thi));
            }
            sk_tensor in = {s8 ? SK_I8 : SK_U8, {4, {2, 20, 9, 9}}, NULL};
            sk_plan *p1 = NULL, *p2 = NULL;
            if (sk_plan_create(ref, &in, NULL, &p1, err, sizeof err) ||
                sk_plan_create(fast, &in, NULL, &p2, err, sizeof err))
                fail_msg("plan: %s", err);
            const void *data[1] = {x};
            if (sk_plan_run(p1, data, err, sizeof err) || sk_plan_run(p2, data, err, sizeof err))
                fail_msg("run: %s", err);
            const sk_tensor *y1 = sk_plan_output(p1, 0), *y2 = sk_plan_output(p2, 0);
            size_t n = (size_t)sk_shape_numel(&y1->shape), differ = 0, top = 0, bottom = 0;
            for (size_t i = 0; i < n; i++) {
                int a = s8 ? ((const int8_t *)y1->data)[i] : ((const uint8_t *)y1->data)[i],
                    b = s8 ? ((const int8_t *)y2->data)[i] : ((const uint8_t *)y2->data)[i];
                int d = a > b ? a - b : b - a;
                differ += d != 0;
                if (d > 1)
                    fail_msg("s8 %d stride %d: byte %zu float graph %d int8 %d", s8, s, i, a, b);
                if (b < qlo || b > qhi)
                    fail_msg("s8 %d stride %d: byte %zu = %d outside ReLU6 [%d, %d]", s8, s, i, b,
                             qlo, qhi);
                top += a == qhi;
                bottom += a == qlo;
            }
            assert_true(top > 0 && bottom > 0); /* both ReLU6 bounds are met */
            assert_true(differ * 100 <= n); /* float-sum rounding only */
            if (off == 0) {
                folded[s] = malloc(n);
                assert_non_null(folded[s]);
                memcpy(folded[s], y2->data, n);
            } else if (off == 2) {
                assert_memory_equal(folded[s], y2->data, n);
            }
            sk_plan_free(p1);
            sk_plan_free(p2);
            sk_graph_free(ref);
            sk_graph_free(fast);
        }
    free(folded[1]);
    free(folded[2]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometries),
        cmocka_unit_test(test_region),
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_qdq_relu6),
        cmocka_unit_test(test_res_fold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
