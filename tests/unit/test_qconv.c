/* test_qconv.c — the int8 convolution (kernels/fast_qconv.c) inside real
 * plans: a graph QLinearConv (-> com.microsoft QLinearAdd with a runtime
 * residual) is built twice, one copy through sk_graph_optimize (packed int8
 * weights, the Add merged into _QConvFused, run by the int8 GEMM), one left
 * as loaded (the reference QLinearConv and QLinearAdd of ref/qlinear*.c);
 * every output byte must be equal. Random 2-D geometries: groups (depthwise
 * too), strides, asymmetric pads, dilations, 1x1 direct, uint8 and int8
 * activations, per-tensor and per-channel weight scales, with and without
 * bias, batch 1 and 3, at every ISA level the CPU has, serial and on 3
 * threads. Also: what must stay on the reference (weights with a non-zero
 * zero point) and the fused node's name. */
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
#include "kernels/fast_qconv.h"
#include "kernels/fast_qnhwc.h"
#include "threadpool.h"

#include "qgraph_testutil.h"

typedef struct qcase {
    int N, C, M, group, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    int x_s8, per_channel, bias, add, wzp_nonzero;
    int OH, OW;
} qcase;

/* session 18: weights of at most 7 bits of magnitude (|w| <= 64: every
 * byte pair passes sk_qigemm_pairs_fit, whatever pairs the packing makes) */
static int w7_weights, sat_pair;

/* qt_qconv.edit_w: the weight sets w7_weights / sat_pair ask for */
static void edit_weights(int8_t *w, const int64_t *wd)
{
    size_t wn = (size_t)(wd[0] * wd[1] * wd[2] * wd[3]);
    for (size_t i = 0; w7_weights && i < wn; i++) /* session 18: |w| <= 64 */
        w[i] = (int8_t)((int)(rnd() % 129) - 64);
    /* session 18: a pair 127, 127 in every packing of a conv of >= 2
     * channels: (c0, t0) beside (c1, t0) by channels, (c0, t0) beside
     * (c0, t1) in patch mode's flattened rows */
    size_t kv = (size_t)(wd[2] * wd[3]);
    for (int64_t m = 0; sat_pair && wd[1] >= 2 && m < wd[0]; m++) {
        int8_t *wm = w + (size_t)m * (size_t)wd[1] * kv;
        wm[0] = wm[kv] = 127;
        if (kv > 1)
            wm[1] = 127;
    }
}

static sk_graph *build(const qcase *c, uint64_t seed)
{
    uint64_t save = rng;
    rng = seed;
    sk_graph *g = sk_graph_new();
    const qt_qconv s = {.C = c->C, .M = c->M, .group = c->group, .H = c->H, .W = c->W,
                        .kh = c->kh, .kw = c->kw, .sh = c->sh, .sw = c->sw, .dh = c->dh,
                        .dw = c->dw, .pt = c->pt, .pl = c->pl, .pb = c->pb, .pr = c->pr,
                        .OH = c->OH, .OW = c->OW, .x_s8 = c->x_s8,
                        .per_channel = c->per_channel, .bias = c->bias, .add = c->add,
                        .wzp_nonzero = c->wzp_nonzero, .ys_min = 0.05f, .ys_step = 0.01f,
                        .edit_w = edit_weights};
    int outv = qt_add_qconv(g, &s);
    sk_graph_add_output(g, outv);
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    rng = save;
    return g;
}

static uint8_t *run(const sk_graph *g, const qcase *c, const uint8_t *x, const uint8_t *r,
                    sk_pool *pool, size_t *ny)
{
    char err[256];
    sk_tensor ins[2];
    sk_dtype xt = c->x_s8 ? SK_I8 : SK_U8;
    ins[0] = (sk_tensor){xt, {4, {c->N, c->C, c->H, c->W}}, NULL};
    ins[1] = (sk_tensor){xt, {4, {c->N, c->M, c->OH, c->OW}}, NULL};
    sk_plan *p;
    if (sk_plan_create(g, ins, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *data[2] = {x, r};
    if (sk_plan_run(p, data, err, sizeof err))
        fail_msg("run: %s", err);
    const sk_tensor *y = sk_plan_output(p, 0);
    *ny = (size_t)sk_shape_numel(&y->shape);
    uint8_t *copy = malloc(*ny + 1);
    memcpy(copy, y->data, *ny);
    sk_plan_free(p);
    return copy;
}

static void random_case(qcase *c)
{
    memset(c, 0, sizeof *c);
    c->N = irand(1, 2) == 1 ? 1 : 3;
    int kind = irand(0, 5);
    c->group = kind == 0 ? 1 : kind == 1 ? irand(2, 3) : 1;
    c->C = c->group * irand(1, 9);
    c->M = c->group * irand(1, 11);
    if (kind == 2) { /* depthwise */
        c->group = c->C = c->M = irand(2, 9);
    }
    c->H = irand(1, 13);
    c->W = irand(1, 17);
    c->kh = irand(1, 3);
    c->kw = irand(1, 3);
    c->sh = irand(1, 2);
    c->sw = irand(1, 2);
    c->dh = irand(1, 10) > 8 ? 2 : 1;
    c->dw = irand(1, 10) > 8 ? 2 : 1;
    c->pt = irand(0, 2);
    c->pl = irand(0, 2);
    c->pb = irand(0, 2);
    c->pr = irand(0, 2);
    if (kind == 3) { /* 1x1 stride 1 unpadded: the direct column path */
        c->kh = c->kw = c->sh = c->sw = c->dh = c->dw = 1;
        c->pt = c->pl = c->pb = c->pr = 0;
    }
    c->x_s8 = irand(0, 1);
    c->per_channel = irand(0, 3) != 0;
    c->bias = irand(0, 3) != 0;
    c->add = irand(0, 1);
    /* grow the image until the window fits */
    while (c->H + c->pt + c->pb < c->dh * (c->kh - 1) + 1)
        c->H++;
    while (c->W + c->pl + c->pr < c->dw * (c->kw - 1) + 1)
        c->W++;
    c->OH = (c->H + c->pt + c->pb - (c->dh * (c->kh - 1) + 1)) / c->sh + 1;
    c->OW = (c->W + c->pl + c->pr - (c->dw * (c->kw - 1) + 1)) / c->sw + 1;
}

/* op's nodes in g; *packed (if given) += those with private data */
static int count_op_packed(const sk_graph *g, sk_op op, int *packed)
{
    int k = 0;
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == op) {
            k++;
            if (packed && g->nodes[i].priv)
                (*packed)++;
        }
    return k;
}

static void check_case(const qcase *c, uint64_t seed, sk_pool *pool, int expect_packed)
{
    char err[256];
    sk_graph *ref = build(c, seed), *fast = build(c, seed);
    if (sk_graph_optimize(fast, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    int packed = 0;
    count_op_packed(fast, SK_OP_QLINEAR_CONV, &packed);
    int fused = count_op_packed(fast, SK_OP_QCONV_FUSED, &packed);
    if (expect_packed && sk_cpu_level() != SK_ISA_SCALAR)
        assert_int_equal(packed, 1);
    if (!expect_packed)
        assert_int_equal(packed, 0);
    assert_int_equal(fused, c->add ? 1 : 0);
    size_t nx = (size_t)(c->N * c->C * c->H * c->W), nr = (size_t)(c->N * c->M * c->OH * c->OW);
    uint8_t *x = malloc(nx + 1), *r = malloc(nr + 1);
    for (size_t i = 0; i < nx; i++)
        x[i] = (uint8_t)rnd();
    for (size_t i = 0; i < nr; i++)
        r[i] = (uint8_t)rnd();
    size_t n1, n2;
    uint8_t *y1 = run(ref, c, x, r, NULL, &n1), *y2 = run(fast, c, x, r, pool, &n2);
    assert_int_equal(n1, n2);
    for (size_t i = 0; i < n1; i++)
        if (y1[i] != y2[i])
            fail_msg("N%d C%d M%d g%d %dx%d k%dx%d s%d,%d d%d,%d pads %d,%d,%d,%d x_s8 %d pc %d "
                     "bias %d add %d level %s: byte %zu ref %d fast %d",
                     c->N, c->C, c->M, c->group, c->H, c->W, c->kh, c->kw, c->sh, c->sw, c->dh,
                     c->dw, c->pt, c->pl, c->pb, c->pr, c->x_s8, c->per_channel, c->bias, c->add,
                     sk_isa_name(sk_cpu_level()), i, y1[i], y2[i]);
    free(x);
    free(r);
    free(y1);
    free(y2);
    sk_graph_free(ref);
    sk_graph_free(fast);
}

static void test_random_geometries(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    sk_pool *pool3 = sk_pool_create(3);
    int n = 0;
    for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
        sk_cpu_set_level((sk_isa)L);
        for (int i = 0; i < 60; i++) {
            qcase c;
            random_case(&c);
            uint64_t seed = rnd();
            check_case(&c, seed, NULL, 1);
            check_case(&c, seed, pool3, 1);
            n++;
        }
    }
    sk_cpu_set_level(top);
    sk_pool_destroy(pool3);
    print_message("  %d geometries x (serial, 3 threads), levels scalar..%s\n", n,
                  sk_isa_name(top));
}

static void test_resnet_layers(void **state)
{
    (void)state;
    /* ResNet-18-like layers at 1/4 of the map size: 3x3 s1 + skip, 3x3 s2,
     * 1x1 s2 downsample, the 7x7 s2 stem */
    qcase cs[] = {
        {1, 64, 64, 1, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0},
        {3, 64, 128, 1, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0},
        {1, 64, 128, 1, 14, 14, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0},
        {1, 3, 64, 1, 56, 56, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 0, 1, 1, 0, 0, 0, 0},
    };
    sk_pool *pool = sk_pool_create(2);
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        qcase *c = &cs[i];
        c->OH = (c->H + c->pt + c->pb - c->kh) / c->sh + 1;
        c->OW = (c->W + c->pl + c->pr - c->kw) / c->sw + 1;
        check_case(c, 77 + i, pool, 1);
    }
    sk_pool_destroy(pool);
}
/* Patch mode (session 14): convs of 1-3 input channels with >= 25 taps
 * (ResNet's 7x7 stem) gather each pixel's window into a row and run the
 * NHWC kernel as a 1x1 conv. Random 5x5 / 7x7 / 5x7 geometries — strides,
 * dilations, pads up to the kernel, maps narrower than 8 (the byte-by-byte
 * rows) and windows hanging off every side, uint8 x, residuals — against
 * the reference QLinearConv, serial and on 3 threads; the mode must be the
 * one taken where the level has the NHWC kernel. */
static void test_patch_mode(void **state)
{
    (void)state;
    sk_pool *pool3 = sk_pool_create(3);
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    int patched = 0, padded = 0;
    for (int i = 0; i < 40; i++) {
        qcase c;
        random_case(&c);
        c.group = 1;
        c.C = irand(1, 3);
        c.M = irand(1, 40);
        c.x_s8 = 0;
        c.kh = irand(0, 1) ? 7 : 5;
        c.kw = irand(0, 1) ? 7 : 5;
        c.dh = irand(1, 10) > 8 ? 2 : 1;
        c.dw = irand(1, 10) > 8 ? 2 : 1;
        c.pt = irand(0, c.kh - 1);
        c.pl = irand(0, c.kw - 1);
        c.pb = irand(0, c.kh - 1);
        c.pr = irand(0, c.kw - 1);
        c.H = irand(1, 30);
        c.W = irand(1, 40);
        while (c.H + c.pt + c.pb < c.dh * (c.kh - 1) + 1)
            c.H++;
        while (c.W + c.pl + c.pr < c.dw * (c.kw - 1) + 1)
            c.W++;
        c.OH = (c.H + c.pt + c.pb - (c.dh * (c.kh - 1) + 1)) / c.sh + 1;
        c.OW = (c.W + c.pl + c.pr - (c.dw * (c.kw - 1) + 1)) / c.sw + 1;
        uint64_t seed = rnd();
        char err[256];
        sk_graph *g = build(&c, seed);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        for (int n = 0; n < g->nnodes; n++) {
            const sk_node *nd = &g->nodes[n];
            if ((nd->op == SK_OP_QLINEAR_CONV || nd->op == SK_OP_QCONV_FUSED) && nd->priv) {
                const sk_qconv_priv *pv = nd->priv;
                /* session 15: or padded (a level with dk, dilation 1 across) */
                if (kc && kc->qigemm.uk)
                    assert_true(pv->kp > 0 || pv->pad_in);
                const char *ps = getenv("SKIPSERVE_INT8_PAD_STEM");
                if (kc && kc->qigemm.dk && c.dw == 1 && !(ps && !strcmp(ps, "0")) &&
                    pv->arith_ptr == 3)
                    assert_true(pv->pad_in);
                patched += pv->kp > 0;
                padded += pv->pad_in;
            }
        }
        sk_graph_free(g);
        check_case(&c, seed, NULL, 1);
        check_case(&c, seed, pool3, 1);
    }
    sk_pool_destroy(pool3);
    print_message("  40 stem-like geometries, %d in patch mode, %d padded\n", patched, padded);
}
/* Session 16 (qfl): stems of 1-3 channels at stride 1 or 2 (MobileNet-
 * style 3x3 s2; before, stride 2 was turned away from the NHWC path
 * although the padded-stem copy handles it) take the padded path where the
 * level has dk, and match the reference QLinearConv, serial and on 3
 * threads; SKIPSERVE_INT8_PAD_STEM_ANY=0 keeps stride 2 off it. The rule
 * admits any kernel of <= 64 taps at any stride, so besides 3x3: 1x1, 2x2,
 * 5x3, 3x5 (with strides (2, 1) now and then), 8x8 (64 taps, the limit)
 * and 9x8 (72: not padded); with the switch off, strided kernels of < 25
 * taps are not padded */
static void test_stem3x3(void **state)
{
    (void)state;
    sk_pool *pool3 = sk_pool_create(3);
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    /* the padded path expected: a level with dk and no switch forcing
     * another path (CI runs the tests with some of them set) */
    int expect = kc && kc->qigemm.dk && !getenv("SKIPSERVE_INT8_PAD_STEM") &&
                 !getenv("SKIPSERVE_INT8_ARITH_PTR");
    static const int ks[7][2] = {{3, 3}, {1, 1}, {2, 2}, {5, 3}, {3, 5}, {8, 8}, {9, 8}};
    int padded = 0, s2 = 0;
    for (int i = 0; i < 42; i++) {
        qcase c;
        random_case(&c);
        c.group = 1;
        c.C = irand(1, 3);
        c.M = irand(1, 40);
        c.x_s8 = 0;
        c.kh = ks[i % 7][0];
        c.kw = ks[i % 7][1];
        int r = (i / 7) % 3; /* 0: stride 1, 1: 2, 2: (2, 1) */
        c.sh = r ? 2 : 1;
        c.sw = r == 1 ? 2 : 1;
        c.dh = c.dw = 1;
        c.pt = c.pb = i % 4 && c.kh > 1 ? 1 : 0;
        c.pl = c.pr = i % 4 && c.kw > 1 ? 1 : 0;
        c.H = irand(c.kh, 30);
        c.W = irand(c.kw, 40);
        c.OH = (c.H + c.pt + c.pb - c.kh) / c.sh + 1;
        c.OW = (c.W + c.pl + c.pr - c.kw) / c.sw + 1;
        int taps = c.kh * c.kw, strided = c.sh == 2 || c.sw == 2;
        uint64_t seed = rnd();
        char err[256];
        for (int any = 0; any < 2; any++) {
            if (!any)
                setenv("SKIPSERVE_INT8_PAD_STEM_ANY", "0", 1);
            sk_graph *g = build(&c, seed);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            unsetenv("SKIPSERVE_INT8_PAD_STEM_ANY");
            int found = 0;
            for (int n = 0; n < g->nnodes; n++) {
                const sk_node *nd = &g->nodes[n];
                if (nd->op != SK_OP_QLINEAR_CONV && nd->op != SK_OP_QCONV_FUSED)
                    continue;
                found++;
                const sk_qconv_priv *pv = nd->priv;
                int on = pv && pv->pad_in;
                if (any && expect && taps <= 64 && !on)
                    fail_msg("case %d: %dx%d s(%d, %d) C %d %dx%d not padded (pv %p)", i, c.kh,
                             c.kw, c.sh, c.sw, (int)c.C, (int)c.H, (int)c.W, (const void *)pv);
                /* with the switch off, session 15's rule: strided stems of
                 * >= 25 taps came in as patches and were padded all the same */
                if ((taps > 64 || (!any && strided && taps < 25)) && on)
                    fail_msg("case %d any %d: %dx%d s(%d, %d) C %d padded", i, any, c.kh, c.kw,
                             c.sh, c.sw, (int)c.C);
                padded += any && on;
                s2 += any && on && strided;
            }
            assert_int_equal(found, 1);
            sk_graph_free(g);
        }
        check_case(&c, seed, NULL, 1);
        check_case(&c, seed, pool3, 1);
    }
    if (expect) /* the stride-2 admission (the point of the change) was exercised */
        assert_true(s2 > 0);
    sk_pool_destroy(pool3);
    print_message("  42 stems (7 kernel shapes), %d padded (%d strided)\n", padded, s2);
}
/* The channels-last 8-bit MaxPool (kernels/fast_qnhwc.c) on its own:
 * random windows (up to 9x9, past the 64 taps of its register path), strides,
 * pads below the kernel, 1-40 channels (16-byte steps and the byte tail),
 * uint8 (the op refuses int8), 1 and 3 threads, against the max written
 * here on the NHWC bytes; guard bytes after the output must survive. */
static void test_nhwc_pool(void **state)
{
    (void)state;
    sk_pool *pool3 = sk_pool_create(3);
    char err[256];
    for (int it = 0; it < 60; it++) {
        int s8 = 0, C = irand(1, 40), N = irand(1, 2); /* MaxPool takes uint8 (float, int8 refused) */
        int64_t k[2] = {irand(1, 4), irand(1, 4)}, st[2] = {irand(1, 3), irand(1, 3)};
        if (it % 10 == 0)
            k[0] = k[1] = 9;
        int64_t pads[4] = {irand(0, (int)k[0] - 1), irand(0, (int)k[1] - 1),
                           irand(0, (int)k[0] - 1), irand(0, (int)k[1] - 1)};
        int H = irand((int)k[0], 14), W = irand((int)k[1], 14);
        int64_t OH = (H + pads[0] + pads[2] - k[0]) / st[0] + 1;
        int64_t OW = (W + pads[1] + pads[3] - k[1]) / st[1] + 1;
        sk_graph *g = sk_graph_new();
        int x = val(g, "x"), y = val(g, "y");
        int ni = sk_graph_add_node(g, SK_OP_MAX_POOL, "P", 1, &x, 1, &y);
        sk_node_set_ints(g, ni, "kernel_shape", k, 2);
        sk_node_set_ints(g, ni, "strides", st, 2);
        sk_node_set_ints(g, ni, "pads", pads, 4);
        size_t nx = (size_t)(N * H * W * C), ny = (size_t)(N * OH * OW * C);
        uint8_t *xd = malloc(nx), *want = malloc(ny), *got = malloc(ny + 16);
        for (size_t i = 0; i < nx; i++)
            xd[i] = (uint8_t)rnd();
        for (int b = 0; b < N; b++) /* the max by definition, NHWC */
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++)
                    for (int c = 0; c < C; c++) {
                        int m = -1000;
                        for (int64_t i = 0; i < k[0]; i++)
                            for (int64_t t = 0; t < k[1]; t++) {
                                int64_t ih = oh * st[0] - pads[0] + i, iw = ow * st[1] - pads[1] + t;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                uint8_t v = xd[(((size_t)b * H + ih) * W + iw) * C + c];
                                int sv = s8 ? (int)(int8_t)v : (int)v;
                                m = sv > m ? sv : m;
                            }
                        want[(((size_t)b * OH + oh) * OW + ow) * C + c] = (uint8_t)m;
                    }
        sk_tensor tx = {s8 ? SK_I8 : SK_U8, {4, {N, C, H, W}}, xd};
        sk_tensor ty = {s8 ? SK_I8 : SK_U8, {4, {N, C, OH, OW}}, got};
        const sk_tensor *in[1] = {&tx};
        for (int th = 0; th < 2; th++) {
            memset(got, 0xA5, ny + 16);
            sk_kctx ctx = {err, sizeof err, th ? pool3 : NULL, NULL, 0, NULL};
            int rc = sk_fast_run_max_pool_nhwc(&g->nodes[ni], in, 1, &ty, 1, &ctx);
            if (rc)
                fail_msg("NHWC pool case %d: %d %s", it, rc, err);
            for (size_t i = 0; i < ny + 16; i++)
                if (got[i] != (i < ny ? want[i] : 0xA5))
                    fail_msg("NHWC pool case %d (k %lldx%lld s %lldx%lld C %d s8 %d th %d): byte %zu "
                             "got %d want %d", it, (long long)k[0], (long long)k[1],
                             (long long)st[0], (long long)st[1], C, s8, th, i, got[i],
                             i < ny ? want[i] : 0xA5);
        }
        free(xd);
        free(want);
        free(got);
        sk_graph_free(g);
    }
    sk_pool_destroy(pool3);
}

static void test_stays_reference(void **state)
{
    (void)state;
    /* weights with a non-zero zero point: not packed, still correct */
    qcase c = {1, 4, 6, 1, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 1, 5, 5};
    check_case(&c, 5, NULL, 0);
}


/* ---- QDQ graphs (passes/qdq.c) ---------------------------------------------
 * DQ(x) -> Conv(DQ(w), DQ(b)) -> Q -> DQ -> Add(DQ(r)) -> Q -> DQ -> Relu -> Q
 * -> DQ -> MaxPool -> Q, optimized (QLinearConv, _QConvFused, _QLut, uint8
 * MaxPool + table), against the same chain built from QOperator nodes
 * (QLinearConv -> QLinearAdd) followed by the QDQ Relu and MaxPool, as
 * loaded: the rewrite must give the integer operators' bits exactly. */
static int qdq_node(sk_graph *g, sk_op op, const char *name, int nin, const int *in,
                    const char *out)
{
    int o = val(g, out);
    return sk_graph_add_node(g, op, name, nin, in, 1, &o);
}

/* 1: the pool's DQ ("pd") is also a graph output, so the DQ has another
 * reader (passes/qdq.c's shared-DQ MaxPool, the U-Net's pool + skip) */
static int qdq_shared_dq;

static sk_graph *build_qdq(int qop, int same_pool_params)
{
    sk_graph *g = sk_graph_new();
    int64_t xd[4] = {SK_DIM_SYMBOLIC, 8, 9, 9}, yd[4] = {SK_DIM_SYMBOLIC, 12, 9, 9};
    input(g, "xq", SK_U8, xd);
    input(g, "rq", SK_U8, yd);
    int64_t wd[4] = {12, 8, 3, 3}, md[1] = {12}, one[1] = {1};
    int8_t w[12 * 8 * 9];
    uint64_t save = rng;
    rng = 4242;
    for (size_t i = 0; i < sizeof w; i++)
        w[i] = (int8_t)((int)(rnd() % 255) - 127);
    float ws[12], bs[12], xs = 0.021f, ys = 0.11f, rs = 0.05f, as = 0.13f, ps = 0.09f,
                          ms = same_pool_params ? 0.09f : 0.07f;
    int32_t b[12];
    for (int m = 0; m < 12; m++) {
        ws[m] = 0.002f + (float)(rnd() % 100) * 1e-4f;
        bs[m] = xs * ws[m];
        b[m] = (int32_t)(rnd() % 2001) - 1000;
    }
    rng = save;
    uint8_t xz = 128, yz = 120, rz = 131, az = 125, pz = 0, mz = same_pool_params ? 0 : 3;
    int8_t wz[12] = {0};
    int32_t bz[12] = {0};
    cst(g, "w", SK_I8, 4, wd, w);
    cst(g, "ws", SK_F32, 1, md, ws);
    cst(g, "wz", SK_I8, 1, md, wz);
    cst(g, "b", SK_I32, 1, md, b);
    cst(g, "bs", SK_F32, 1, md, bs);
    cst(g, "bz", SK_I32, 1, md, bz);
    struct { const char *s, *z; float sv; uint8_t zv; } qp[] = {
        {"xs", "xz", xs, xz}, {"ys", "yz", ys, yz}, {"rs", "rz", rs, rz},
        {"as", "az", as, az}, {"ps", "pz", ps, pz}, {"ms", "mz", ms, mz}};
    for (size_t i = 0; i < sizeof qp / sizeof *qp; i++) {
        cst(g, qp[i].s, SK_F32, 0, one, &qp[i].sv);
        cst(g, qp[i].z, SK_U8, 0, one, &qp[i].zv);
    }
#define V(name) val(g, name)
    int ni;
    if (qop) {
        int c[9] = {V("xq"), V("xs"), V("xz"), V("w"), V("ws"), V("wz"), V("ys"), V("yz"), V("b")};
        ni = qdq_node(g, SK_OP_QLINEAR_CONV, "conv", 9, c, "yq");
        int a[8] = {V("yq"), V("ys"), V("yz"), V("rq"), V("rs"), V("rz"), V("as"), V("az")};
        qdq_node(g, SK_OP_QLINEAR_ADD, "add", 8, a, "aq");
    } else {
        int dx[3] = {V("xq"), V("xs"), V("xz")}, dw[3] = {V("w"), V("ws"), V("wz")},
            db[3] = {V("b"), V("bs"), V("bz")};
        qdq_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqx", 3, dx, "xf");
        int dwi = qdq_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqw", 3, dw, "wf");
        sk_node_set_int(g, dwi, "axis", 0);
        int dbi = qdq_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqb", 3, db, "bf");
        sk_node_set_int(g, dbi, "axis", 0);
        int c[3] = {V("xf"), V("wf"), V("bf")};
        ni = qdq_node(g, SK_OP_CONV, "conv", 3, c, "yf");
        int q1[3] = {V("yf"), V("ys"), V("yz")};
        qdq_node(g, SK_OP_QUANTIZE_LINEAR, "qy", 3, q1, "yq");
        int d1[3] = {V("yq"), V("ys"), V("yz")}, d2[3] = {V("rq"), V("rs"), V("rz")};
        qdq_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqy", 3, d1, "yd");
        qdq_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqr", 3, d2, "rd");
        int a[2] = {V("rd"), V("yd")};
        qdq_node(g, SK_OP_ADD, "add", 2, a, "af");
        int q2[3] = {V("af"), V("as"), V("az")};
        qdq_node(g, SK_OP_QUANTIZE_LINEAR, "qa", 3, q2, "aq");
    }
    int64_t pads[4] = {1, 1, 1, 1};
    sk_node_set_ints(g, ni, "pads", pads, 4);
    /* the Relu and MaxPool in QDQ form in both graphs */
    int d3[3] = {V("aq"), V("as"), V("az")};
    qdq_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqa", 3, d3, "ad");
    int r[1] = {V("ad")};
    qdq_node(g, SK_OP_RELU, "relu", 1, r, "rl");
    int q3[3] = {V("rl"), V("ps"), V("pz")};
    qdq_node(g, SK_OP_QUANTIZE_LINEAR, "qr", 3, q3, "pq");
    int d4[3] = {V("pq"), V("ps"), V("pz")};
    qdq_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqp", 3, d4, "pd");
    int mp[1] = {V("pd")};
    int mi = qdq_node(g, SK_OP_MAX_POOL, "pool", 1, mp, "mf");
    int64_t k[2] = {3, 3}, st[2] = {2, 2};
    sk_node_set_ints(g, mi, "kernel_shape", k, 2);
    sk_node_set_ints(g, mi, "strides", st, 2);
    sk_node_set_ints(g, mi, "pads", pads, 4);
    int q4[3] = {V("mf"), V("ms"), V("mz")};
    qdq_node(g, SK_OP_QUANTIZE_LINEAR, "qm", 3, q4, "out");
    sk_graph_add_output(g, V("out"));
    if (qdq_shared_dq)
        sk_graph_add_output(g, V("pd"));
#undef V
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

/* multiply-adds of g for uint8 inputs x [2, 8, 9, 9] and r [2, 12, 9, 9]
 * (sk_node_macs, what skipserve-bench's GOP/s and "% of ceiling" read) */
static int64_t qdq_macs(const sk_graph *g)
{
    sk_tensor in[2];
    memset(in, 0, sizeof in);
    in[0].dtype = in[1].dtype = SK_U8;
    in[0].shape = (sk_shape){4, {2, 8, 9, 9}};
    in[1].shape = (sk_shape){4, {2, 12, 9, 9}};
    sk_shape *sh = malloc(sizeof(sk_shape) * (size_t)(g->nvalues + 1));
    sk_dtype *dt = malloc(sizeof(sk_dtype) * (size_t)(g->nvalues + 1));
    assert_true(sh && dt && sk_graph_infer_shapes(g, in, sh, dt) >= 0);
    int64_t m = 0;
    for (int i = 0; i < g->nnodes; i++)
        m += sk_node_macs(g, i, sh);
    free(sh);
    free(dt);
    return m;
}

static void test_qdq_rewrites(void **state)
{
    (void)state;
    qcase c = {2, 8, 12, 1, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 0, 9, 9};
    uint8_t x[2 * 8 * 81], r[2 * 12 * 81];
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (uint8_t)rnd();
    for (size_t i = 0; i < sizeof r; i++)
        r[i] = (uint8_t)rnd();
    sk_isa top = sk_cpu_detected();
    sk_pool *pool = sk_pool_create(3);
    for (int same = 0; same < 4; same++)
        for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            char err[256];
            qdq_shared_dq = same >= 2;
            sk_graph *ref = build_qdq(1, same & 1), *fast = build_qdq(0, same & 1);
            if (sk_graph_optimize(fast, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            /* what the passes made of it */
            assert_int_equal(count_op_packed(fast, SK_OP_QCONV_FUSED, NULL), 1);
            assert_int_equal(count_op_packed(fast, SK_OP_CONV, NULL), 0);
            assert_int_equal(count_op_packed(fast, SK_OP_RELU, NULL), 0);
            /* the ReLU table went into the conv; the pool's stays */
            assert_int_equal(count_op_packed(fast, SK_OP_QLUT, NULL), same & 1 ? 0 : 1);
            /* a shared DQ stays for its other reader; the pool reads the bytes */
            assert_int_equal(count_op_packed(fast, SK_OP_DEQUANTIZE_LINEAR, NULL), qdq_shared_dq);
            assert_int_equal(count_op_packed(fast, SK_OP_QUANTIZE_LINEAR, NULL), 0);
            for (int i = 0; i < fast->nnodes; i++)
                if (fast->nodes[i].op == SK_OP_MAX_POOL) {
                    int pr = fast->values[fast->nodes[i].in[0]].producer;
                    assert_true(pr < 0 || fast->nodes[pr].op != SK_OP_DEQUANTIZE_LINEAR);
                }
            /* the fused int8 conv counts the conv's multiply-adds: 2 images x
             * 12 x 9 x 9 outputs x 8 x 3 x 3 (uncounted before session 13) */
            assert_int_equal(qdq_macs(ref), (int64_t)2 * 12 * 81 * 72);
            assert_int_equal(qdq_macs(fast), (int64_t)2 * 12 * 81 * 72);
            size_t n1, n2;
            uint8_t *y1 = run(ref, &c, x, r, NULL, &n1), *y2 = run(fast, &c, x, r, pool, &n2);
            assert_int_equal(n1, n2);
            assert_int_equal(n1, 2 * 12 * 25);
            for (size_t i = 0; i < n1; i++)
                if (y1[i] != y2[i])
                    fail_msg("QDQ level %s same %d: byte %zu qop-ref %d qdq-fast %d",
                             sk_isa_name((sk_isa)L), same, i, y1[i], y2[i]);
            free(y1);
            free(y2);
            sk_graph_free(ref);
            sk_graph_free(fast);
        }
    qdq_shared_dq = 0;
    sk_cpu_set_level(top);
    sk_pool_destroy(pool);
}

/* the blocked path (fast_qconv.c: gather, pack and multiply per block of
 * output columns) with blocks forced small, so that images split into many
 * blocks ending inside output rows and inside panels; the unblocked path
 * forced likewise (< 0). The default picks by size and thread count. */
static void test_blocked_columns(void **state)
{
    const char *sizes[] = {"32", "96", "-1"};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        setenv("SKIPSERVE_INT8_PBLOCK", sizes[i], 1);
        test_random_geometries(state);
        test_resnet_layers(state);
    }
    unsetenv("SKIPSERVE_INT8_PBLOCK");
}


/* ---- NHWC regions (passes/qlayout.c) ----------------------------------------
 * A chain of QOperator convs: x -> A (3x3) -> a; B (3x3) reads a, its
 * QLinearAdd the residual a -> c; D (1x1 s2) reads c -> d (10 channels);
 * G (3x3) reads d -> output (its C % 4 != 0: d stays NCHW, G pads at its
 * edge); E (1x1) reads a -> e (output). Variants: a also a graph output (a and the
 * values it feeds stay NCHW), c also read by a uint8 MaxPool (c is an edge).
 * Every output byte must equal the reference graph's, serial and on 3
 * threads; at the AVX-512 VNNI level the layout flags must be the rule's. */
static int chain_conv(sk_graph *g, const char *name, const char *x, int C, int M, int k, int s,
                      const char *y)
{
    char wn[32], wsn[32], bn[32];
    snprintf(wn, sizeof wn, "%s_w", name);
    snprintf(wsn, sizeof wsn, "%s_ws", name);
    snprintf(bn, sizeof bn, "%s_b", name);
    int64_t wd[4] = {M, C, k, k}, md[1] = {M};
    size_t wnum = (size_t)(M * C * k * k);
    int8_t *w = malloc(wnum);
    float *ws = malloc(sizeof(float) * (size_t)M);
    int32_t *b = malloc(sizeof(int32_t) * (size_t)M);
    for (size_t i = 0; i < wnum; i++)
        w[i] = (int8_t)((int)(rnd() % 256) - 128);
    for (int m = 0; m < M; m++) {
        ws[m] = 0.0005f + (float)(rnd() % 1000) * 2e-6f;
        b[m] = (int32_t)(rnd() % 4001) - 2000;
    }
    cst(g, wn, SK_I8, 4, wd, w);
    cst(g, wsn, SK_F32, 0, md, ws); /* per tensor: the zero point "wz0" is a scalar */
    cst(g, bn, SK_I32, 1, md, b);
    free(w);
    free(ws);
    free(b);
    int in[9] = {val(g, x), val(g, "s"), val(g, "z"), val(g, wn), val(g, wsn), val(g, "wz0"),
                 val(g, "s"), val(g, "z"), val(g, bn)};
    int yo = val(g, y);
    int ni = sk_graph_add_node(g, SK_OP_QLINEAR_CONV, name, 9, in, 1, &yo);
    int64_t st[2] = {s, s}, pads[4] = {k / 2, k / 2, k / 2, k / 2};
    sk_node_set_ints(g, ni, "strides", st, 2);
    sk_node_set_ints(g, ni, "pads", pads, 4);
    return ni;
}

static sk_graph *build_chain(int a_out, int pool, int sym_hw)
{
    uint64_t save = rng;
    rng = 777;
    sk_graph *g = sk_graph_new();
    int64_t xd[4] = {SK_DIM_SYMBOLIC, 8, sym_hw ? SK_DIM_SYMBOLIC : 11,
                     sym_hw ? SK_DIM_SYMBOLIC : 13}, one[1] = {1}, md[1] = {64};
    input(g, "x", SK_U8, xd);
    float sc = 0.05f;
    uint8_t zp = 120;
    int8_t wz[64] = {0};
    cst(g, "s", SK_F32, 0, one, &sc);
    cst(g, "z", SK_U8, 0, one, &zp);
    cst(g, "wz0", SK_I8, 0, one, wz);
    (void)md;
    chain_conv(g, "A", "x", 8, 16, 3, 1, "a");
    chain_conv(g, "B", "a", 16, 16, 3, 1, "b");
    int ain[8] = {val(g, "a"), val(g, "s"), val(g, "z"), val(g, "b"),
                  val(g, "s"), val(g, "z"), val(g, "s"), val(g, "z")};
    int c = val(g, "c");
    sk_graph_add_node(g, SK_OP_QLINEAR_ADD, "addB", 8, ain, 1, &c);
    chain_conv(g, "D", "c", 16, 10, 1, 2, "d");
    chain_conv(g, "G", "d", 10, 8, 3, 1, "gg"); /* C % 4 != 0: reads d as NCHW, pads */
    chain_conv(g, "E", "a", 16, 36, 1, 1, "e");
    sk_graph_add_output(g, val(g, "gg"));
    sk_graph_add_output(g, val(g, "e"));
    if (a_out)
        sk_graph_add_output(g, val(g, "a"));
    if (pool) {
        int pin[1] = {val(g, "c")}, po = val(g, "p");
        int pi = sk_graph_add_node(g, SK_OP_MAX_POOL, "pool", 1, pin, 1, &po);
        int64_t k[2] = {2, 2}, st[2] = {2, 2};
        sk_node_set_ints(g, pi, "kernel_shape", k, 2);
        sk_node_set_ints(g, pi, "strides", st, 2);
        sk_graph_add_output(g, po);
    }
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    rng = save;
    return g;
}

static int io_of(const sk_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (!strncmp(g->nodes[i].name, name, 1) && g->nodes[i].priv)
            return ((const sk_qconv_priv *)g->nodes[i].priv)->io_nhwc;
    return -1;
}

/* 1 when node `name`'s int8 weights (input 3) were released after packing
 * (passes/qfuse.c: the NHWC and depthwise int8 kernels never read them) */
static int w_released(const sk_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (!strncmp(g->nodes[i].name, name, 1) && g->nodes[i].priv)
            return g->values[g->nodes[i].in[3]].released && !g->values[g->nodes[i].in[3]].data;
    return -1;
}

/* The chain / join graph loaded again at the current level with
 * SKIPSERVE_KEEP_WEIGHTS=1: its raw int8 weights kept for a plan at
 * another level */
static sk_graph *optimized_keep(sk_graph *(*build)(int, int, int), sk_graph *(*build1)(int),
                                int a, int b)
{
    setenv("SKIPSERVE_KEEP_WEIGHTS", "1", 1);
    sk_graph *g = build ? build(a, b, 0) : build1(a);
    char err[256];
    if (sk_graph_optimize(g, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    unsetenv("SKIPSERVE_KEEP_WEIGHTS");
    return g;
}

static void chain_compare_hw(const sk_graph *ref, const sk_graph *fast, sk_pool *pool,
                             const uint8_t *x, int variant, int L, int H, int W)
{
    char err[256];
    sk_tensor in = {SK_U8, {4, {3, 8, H, W}}, NULL};
    sk_plan *p1, *p2;
    if (sk_plan_create(ref, &in, NULL, &p1, err, sizeof err) ||
        sk_plan_create(fast, &in, pool, &p2, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *data[1] = {x};
    if (sk_plan_run(p1, data, err, sizeof err) || sk_plan_run(p2, data, err, sizeof err))
        fail_msg("run: %s", err);
    assert_int_equal(sk_plan_noutputs(p1), sk_plan_noutputs(p2));
    for (int o = 0; o < sk_plan_noutputs(p1); o++) {
        const sk_tensor *y1 = sk_plan_output(p1, o), *y2 = sk_plan_output(p2, o);
        size_t n = (size_t)sk_shape_numel(&y1->shape);
        assert_int_equal(n, (size_t)sk_shape_numel(&y2->shape));
        for (size_t i = 0; i < n; i++)
            if (((const uint8_t *)y1->data)[i] != ((const uint8_t *)y2->data)[i])
                fail_msg("chain variant %d level %s (-1: scalar after loading at the top) "
                         "threads %d output %d byte %zu: ref %d fast %d", variant,
                         L < 0 ? "scalar" : sk_isa_name((sk_isa)L), sk_pool_size(pool), o, i,
                         ((const uint8_t *)y1->data)[i], ((const uint8_t *)y2->data)[i]);
    }
    sk_plan_free(p1);
    sk_plan_free(p2);
}

static void chain_compare(const sk_graph *ref, const sk_graph *fast, sk_pool *pool,
                          const uint8_t *x, int variant, int L)
{
    chain_compare_hw(ref, fast, pool, x, variant, L, 11, 13);
}

static void test_nhwc_regions(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    const sk_kconfig *kc = sk_kconfig_for(top);
    sk_pool *pool3 = sk_pool_create(3);
    uint8_t x[3 * 8 * 11 * 13];
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (uint8_t)rnd();
    int checked = 0;
    for (int variant = 0; variant < 3; variant++)
        for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            int a_out = variant == 1, pool = variant == 2;
            sk_graph *ref = build_chain(a_out, pool, 0), *fast = build_chain(a_out, pool, 0);
            char err[256];
            if (sk_graph_optimize(fast, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            if (L == (int)top && kc && kc->qigemm.uk) {
                /* A's a feeds B (input + residual) and E: NHWC unless an output */
                int X = SK_QNHWC_X, R = SK_QNHWC_R, Y = SK_QNHWC_Y;
                assert_int_equal(io_of(fast, "A"), a_out ? 0 : Y);
                assert_int_equal(io_of(fast, "B"), (a_out ? 0 : X | R) | (pool ? 0 : Y));
                assert_int_equal(io_of(fast, "D"), pool ? 0 : X);
                assert_int_equal(io_of(fast, "G"), 0);
                assert_int_equal(io_of(fast, "E"), a_out ? 0 : X);
                assert_int_equal(w_released(fast, "A"), 1); /* session 20 */
                checked++;
            }
            for (int t = 0; t < 2; t++)
                chain_compare(ref, fast, t ? pool3 : NULL, x, variant, L);
            if (L == (int)top) {
                /* loaded at the top level, planned at scalar: every node runs
                 * the reference, so every value is NCHW again (the flags
                 * only bind the NHWC kernels to each other). The reference
                 * reads the raw int8 weights, which the load keeps only with
                 * SKIPSERVE_KEEP_WEIGHTS=1 (session 20) */
                sk_graph *keep = optimized_keep(build_chain, NULL, a_out, pool);
                sk_cpu_set_level(SK_ISA_SCALAR);
                chain_compare(ref, keep, NULL, x, variant, -1);
                sk_cpu_set_level(top);
                sk_graph_free(keep);
            }
            sk_graph_free(ref);
            sk_graph_free(fast);
        }
    sk_cpu_set_level(top);
    sk_pool_destroy(pool3);
    print_message("  3 chains x levels, layout flags checked on %d\n", checked);
}

/* one graph (symbolic H, W) run at 9 input sizes, 6 distinct: the
 * indirection tables cached per shape (4 slots) must each serve only their
 * own shape, and the shapes past them build theirs per run */
static void test_nhwc_shapes(void **state)
{
    (void)state;
    static const int hw[][2] = {{11, 13}, {7, 9}, {11, 13}, {5, 5}, {16, 8},
                                {9, 12}, {3, 4}, {11, 13}, {9, 12}};
    sk_graph *ref = build_chain(0, 0, 1), *fast = build_chain(0, 0, 1);
    char err[256];
    if (sk_graph_optimize(fast, 1, err, sizeof err))
        fail_msg("optimize: %s", err);
    sk_pool *pool = sk_pool_create(2);
    uint8_t *x = malloc(3 * 8 * 16 * 13);
    for (size_t i = 0; i < sizeof hw / sizeof *hw; i++) {
        for (int k = 0; k < 3 * 8 * hw[i][0] * hw[i][1]; k++)
            x[k] = (uint8_t)rnd();
        chain_compare_hw(ref, fast, i % 2 ? pool : NULL, x, 10 + (int)i, (int)sk_cpu_level(),
                         hw[i][0], hw[i][1]);
    }
    free(x);
    sk_pool_destroy(pool);
    sk_graph_free(ref);
    sk_graph_free(fast);
}

/* ---- MaxPool / _QLut / Concat inside NHWC regions (session 13, int8e) -------
 * x (8 ch) -> A (3x3) -> a (16); a -> E (1x1) -> e (8) -> _QLut -> l;
 * Concat(a, l, x, x2) -> cat (16 + 8 + 8 + 20 = 52 channels: two NHWC
 * inputs, the graph inputs x and x2 NCHW, transposed while copied, x2 wide
 * enough for the 16 x 16 blocks); cat -> MaxPool (3x3 s2 pad 1) -> pl ->
 * B (3x3) -> output. Variants: 0 as is (a, e, l, cat, pl NHWC); 1 cat also
 * a graph output (cat and the pool stay NCHW: the Concat writes NCHW from
 * NHWC inputs); 2 SKIPSERVE_INT8_JOIN=0 (the int8n rule: no pool / Concat
 * joins). Every output byte equals the reference graph's at every level,
 * serial and on 3 threads, at two image sizes (11 x 13: pixel blocks of 64
 * and a rim of 15; 4 x 5). */
static sk_graph *build_join(int cat_out)
{
    uint64_t save = rng;
    rng = 4242;
    sk_graph *g = sk_graph_new();
    int64_t xd[4] = {SK_DIM_SYMBOLIC, 8, SK_DIM_SYMBOLIC, SK_DIM_SYMBOLIC},
            x2d[4] = {SK_DIM_SYMBOLIC, 20, SK_DIM_SYMBOLIC, SK_DIM_SYMBOLIC}, one[1] = {1},
            td[1] = {256};
    input(g, "x", SK_U8, xd);
    input(g, "x2", SK_U8, x2d);
    float sc = 0.05f;
    uint8_t zp = 120, table[256];
    int8_t wz[1] = {0};
    for (int i = 0; i < 256; i++)
        table[i] = (uint8_t)rnd();
    cst(g, "s", SK_F32, 0, one, &sc);
    cst(g, "z", SK_U8, 0, one, &zp);
    cst(g, "wz0", SK_I8, 0, one, wz);
    cst(g, "T", SK_U8, 1, td, table);
    chain_conv(g, "A", "x", 8, 16, 3, 1, "a");
    chain_conv(g, "E", "a", 16, 8, 1, 1, "e");
    int lin[2] = {val(g, "e"), val(g, "T")}, lo = val(g, "l");
    int li = sk_graph_add_node(g, SK_OP_QLUT, "L", 2, lin, 1, &lo);
    sk_node_set_int(g, li, "out_int8", 0);
    int cin[4] = {val(g, "a"), val(g, "l"), val(g, "x"), val(g, "x2")}, co = val(g, "cat");
    int ci = sk_graph_add_node(g, SK_OP_CONCAT, "C", 4, cin, 1, &co);
    sk_node_set_int(g, ci, "axis", 1);
    int pin[1] = {co}, po = val(g, "pl");
    int pi = sk_graph_add_node(g, SK_OP_MAX_POOL, "P", 1, pin, 1, &po);
    int64_t k[2] = {3, 3}, st[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
    sk_node_set_ints(g, pi, "kernel_shape", k, 2);
    sk_node_set_ints(g, pi, "strides", st, 2);
    sk_node_set_ints(g, pi, "pads", pads, 4);
    chain_conv(g, "B", "pl", 52, 16, 3, 1, "out");
    sk_graph_add_output(g, val(g, "out"));
    if (cat_out)
        sk_graph_add_output(g, co);
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    rng = save;
    return g;
}

/* the layout mask of node `name`'s sk_qnhwc_priv, 0 without one */
static uint64_t nhwc_of(const sk_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (!strcmp(g->nodes[i].name, name) && g->nodes[i].priv &&
            (g->nodes[i].op == SK_OP_MAX_POOL || g->nodes[i].op == SK_OP_CONCAT))
            return ((const sk_qnhwc_priv *)g->nodes[i].priv)->nhwc;
    return 0;
}

static void join_compare(const sk_graph *ref, const sk_graph *fast, sk_pool *pool, int variant,
                         int L, int H, int W)
{
    char err[256];
    sk_tensor in[2] = {{SK_U8, {4, {3, 8, H, W}}, NULL}, {SK_U8, {4, {3, 20, H, W}}, NULL}};
    size_t n0 = (size_t)(3 * 8 * H * W), n1 = (size_t)(3 * 20 * H * W);
    uint8_t *x = malloc(n0), *x2 = malloc(n1);
    for (size_t i = 0; i < n0; i++)
        x[i] = (uint8_t)rnd();
    for (size_t i = 0; i < n1; i++)
        x2[i] = (uint8_t)rnd();
    sk_plan *p1, *p2;
    if (sk_plan_create(ref, in, NULL, &p1, err, sizeof err) ||
        sk_plan_create(fast, in, pool, &p2, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *data[2] = {x, x2};
    if (sk_plan_run(p1, data, err, sizeof err) || sk_plan_run(p2, data, err, sizeof err))
        fail_msg("run: %s", err);
    assert_int_equal(sk_plan_noutputs(p1), sk_plan_noutputs(p2));
    for (int o = 0; o < sk_plan_noutputs(p1); o++) {
        const sk_tensor *y1 = sk_plan_output(p1, o), *y2 = sk_plan_output(p2, o);
        size_t n = (size_t)sk_shape_numel(&y1->shape);
        assert_int_equal(n, (size_t)sk_shape_numel(&y2->shape));
        for (size_t i = 0; i < n; i++)
            if (((const uint8_t *)y1->data)[i] != ((const uint8_t *)y2->data)[i])
                fail_msg("join variant %d level %s threads %d %dx%d output %d byte %zu: ref %d "
                         "fast %d", variant, L < 0 ? "scalar" : sk_isa_name((sk_isa)L),
                         sk_pool_size(pool), H, W, o, i, ((const uint8_t *)y1->data)[i],
                         ((const uint8_t *)y2->data)[i]);
    }
    sk_plan_free(p1);
    sk_plan_free(p2);
    free(x);
    free(x2);
}

static void test_nhwc_joins(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    const sk_kconfig *kc = sk_kconfig_for(top);
    sk_pool *pool3 = sk_pool_create(3);
    int checked = 0;
    for (int variant = 0; variant < 3; variant++) {
        if (variant == 2)
            setenv("SKIPSERVE_INT8_JOIN", "0", 1);
        for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            sk_graph *ref = build_join(variant == 1), *fast = build_join(variant == 1);
            char err[256];
            if (sk_graph_optimize(fast, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            if (L == (int)top && kc && kc->qigemm.uk) {
                int X = SK_QNHWC_X, Y = SK_QNHWC_Y;
                uint64_t in01 = 3, out = SK_QNHWC_OUT;
                switch (variant) {
                case 0: /* a, e, l, cat, pl NHWC; x, x2 NCHW at the Concat */
                    assert_int_equal(io_of(fast, "A"), Y);
                    assert_int_equal(io_of(fast, "E"), X | Y);
                    assert_true(nhwc_of(fast, "C") == (in01 | out));
                    assert_true(nhwc_of(fast, "P") == (1 | out));
                    assert_int_equal(io_of(fast, "B"), X);
                    break;
                case 1: /* cat is an output: it and the pool stay NCHW */
                    assert_int_equal(io_of(fast, "E"), X | Y);
                    assert_true(nhwc_of(fast, "C") == in01);
                    assert_true(nhwc_of(fast, "P") == 0);
                    assert_int_equal(io_of(fast, "B"), 0);
                    break;
                default: /* the int8n rule: a is read by the Concat, an edge */
                    assert_int_equal(io_of(fast, "A"), 0);
                    assert_true(nhwc_of(fast, "C") == 0);
                    assert_true(nhwc_of(fast, "P") == 0);
                    break;
                }
                checked++;
            }
            for (int t = 0; t < 2; t++) {
                join_compare(ref, fast, t ? pool3 : NULL, variant, L, 11, 13);
                join_compare(ref, fast, t ? pool3 : NULL, variant, L, 4, 5);
            }
            if (L == (int)top) { /* planned at scalar: every value NCHW again */
                sk_graph *keep = optimized_keep(NULL, build_join, variant == 1, 0);
                sk_cpu_set_level(SK_ISA_SCALAR);
                join_compare(ref, keep, NULL, variant, -1, 11, 13);
                sk_cpu_set_level(top);
                sk_graph_free(keep);
            }
            sk_graph_free(ref);
            sk_graph_free(fast);
        }
        unsetenv("SKIPSERVE_INT8_JOIN");
    }
    sk_cpu_set_level(top);
    sk_pool_destroy(pool3);
    print_message("  3 joined chains x levels, layout flags checked on %d\n", checked);
}

/* the NHWC path's edge copies made image group by image group: a budget of
 * 1 byte forces one image per group (batch 3 cases, the chains) */
static void test_nhwc_edge_groups(void **state)
{
    setenv("SKIPSERVE_INT8_EDGE_BYTES", "1", 1);
    test_random_geometries(state);
    test_nhwc_regions(state);
    test_nhwc_joins(state);
    unsetenv("SKIPSERVE_INT8_EDGE_BYTES");
}

/* session 15's A/B switches of the NHWC path, read at load: the table
 * instead of computed pointers (0), computed pointers without the
 * pointer-free entry (1) or without a kernel row as one tap (2), MR-pixel
 * tiles only, the stems without the padded copy — each a path the default
 * build still takes somewhere (the table for kernels of > 64 taps, patch
 * mode for dilated stems), all against the same definition */
static void test_int8_switches(void **state)
{
    static const char *const sw[][2] = {{"SKIPSERVE_INT8_ARITH_PTR", "0"},
                                        {"SKIPSERVE_INT8_ARITH_PTR", "1"},
                                        {"SKIPSERVE_INT8_ARITH_PTR", "2"},
                                        {"SKIPSERVE_INT8_SHORT_TILES", "0"},
                                        {"SKIPSERVE_INT8_PAD_STEM", "0"}};
    for (size_t i = 0; i < sizeof sw / sizeof *sw; i++) {
        setenv(sw[i][0], sw[i][1], 1);
        test_random_geometries(state);
        test_patch_mode(state);
        unsetenv(sw[i][0]);
    }
}

/* the packed NHWC conv of a one-conv graph after sk_graph_optimize */
static const sk_qconv_priv *the_qconv(const sk_graph *g)
{
    for (int n = 0; n < g->nnodes; n++)
        if ((g->nodes[n].op == SK_OP_QLINEAR_CONV || g->nodes[n].op == SK_OP_QCONV_FUSED) &&
            g->nodes[n].priv)
            return g->nodes[n].priv;
    return NULL;
}

/* Session 18: the per-conv kernel choice at a level with qigemm_pairs (AVX2
 * without VNNI; CI runs this file with SKIPSERVE_INT8_UK=avx2 so VNNI hosts
 * take it too): a conv whose packed weights pass sk_qigemm_pairs_fit runs
 * the vpmaddubsw kernel, any other the exact one — full-range weights
 * (127 / -128 one in four) against random u8 activations saturate
 * vpmaddubsw, so these byte-for-byte comparisons fail if the rule were
 * skipped. Random group-1 geometries (stems of 2-3 channels and <= 9 taps
 * — the padded-channel indirection or padded stems, never patch mode —,
 * 1x1 direct, residuals) serial and on 3 threads against the reference
 * QLinearConv; then (mend18) RGB 7x7 stride-2 stems under
 * SKIPSERVE_INT8_PAD_STEM=0, so they run in patch mode (one tap of
 * kp = 148 bytes a pixel: sk_qigemm_pack_w16's patch-mode call, C =
 * kw_bytes, Cs = Cg * ks), with 7-bit weights and with a (127, 127) pair. */
static void test_avx2_pair_choice(void **state)
{
    (void)state;
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    if (!kc || !kc->qigemm_pairs.uk) {
        print_message("  no qigemm_pairs at this level (VNNI, or SKIPSERVE_INT8_MADDUBS=0): "
                      "choice not exercised\n");
        return;
    }
    sk_pool *pool3 = sk_pool_create(3);
    int npairs = 0, nexact = 0;
    for (int i = 0; i < 48; i++) {
        qcase c;
        random_case(&c);
        c.group = 1;
        c.x_s8 = 0; /* the NHWC path takes u8 activations */
        if (i % 8 < 2) /* a stem of 2-3 channels */
            c.C = irand(2, 3);
        else
            c.C = irand(4, 40);
        c.M = irand(1, 40);
        w7_weights = i % 2;
        sat_pair = !w7_weights; /* else a small conv may fit by chance */
        uint64_t seed = rnd();
        char err[256];
        sk_graph *g = build(&c, seed);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        const sk_qconv_priv *pv = the_qconv(g);
        assert_non_null(pv);
        if (pv->ig.uk) {
            /* the others on the c4w16 kernel where the level has it */
            sk_qigemm_uk_fn exact = kc->qigemm16.uk ? kc->qigemm16.uk : kc->qigemm.uk;
            assert_ptr_equal(pv->ig.uk, w7_weights ? kc->qigemm_pairs.uk : exact);
            assert_int_equal(pv->w16, !w7_weights && kc->qigemm16.uk != NULL);
            npairs += w7_weights;
            nexact += !w7_weights;
        }
        sk_graph_free(g);
        check_case(&c, seed, NULL, 1);
        check_case(&c, seed, pool3, 1);
    }
    w7_weights = sat_pair = 0;
    print_message("  48 convs: %d on %s, %d on %s\n", npairs, kc->qigemm_pairs.name, nexact,
                  kc->qigemm16.uk ? kc->qigemm16.name : kc->qigemm.name);
    assert_true(npairs > 10 && nexact > 10);
    /* mend18: patch-mode stems (Cg 3, 7x7, stride 2, pads 3 — ResNet's —
     * and one unpadded with a residual); M 16 (one full channel block), 24
     * and 40 (channel tails); each with 7-bit weights (the maddubs kernel
     * on the c4 packing) and a saturating pair (the exact kernel on the
     * c4w16 packing where the level has it) */
    static const int stems[][6] = {/* N, M, H, W, pad, add */
                                   {1, 16, 23, 23, 3, 0},
                                   {2, 24, 19, 26, 3, 0},
                                   {1, 40, 21, 17, 0, 1}};
    setenv("SKIPSERVE_INT8_PAD_STEM", "0", 1);
    for (size_t i = 0; i < 2 * sizeof stems / sizeof *stems; i++) {
        const int *st = stems[i / 2];
        qcase c = {.N = st[0], .C = 3, .M = st[1], .group = 1, .H = st[2], .W = st[3],
                   .kh = 7, .kw = 7, .sh = 2, .sw = 2, .dh = 1, .dw = 1, .pt = st[4],
                   .pl = st[4], .pb = st[4], .pr = st[4], .per_channel = 1, .bias = 1,
                   .add = st[5]};
        c.OH = (c.H + 2 * st[4] - 7) / 2 + 1;
        c.OW = (c.W + 2 * st[4] - 7) / 2 + 1;
        w7_weights = i % 2 == 0;
        sat_pair = !w7_weights;
        uint64_t seed = rnd();
        char err[256];
        sk_graph *g = build(&c, seed);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        const sk_qconv_priv *pv = the_qconv(g);
        assert_non_null(pv);
        assert_non_null(pv->ig.uk);
        assert_int_equal(pv->kp, 148); /* patch mode: 3 x 49 bytes, padded to 4 */
        assert_false(pv->pad_in);
        sk_qigemm_uk_fn exact = kc->qigemm16.uk ? kc->qigemm16.uk : kc->qigemm.uk;
        assert_ptr_equal(pv->ig.uk, w7_weights ? kc->qigemm_pairs.uk : exact);
        assert_int_equal(pv->w16, !w7_weights && kc->qigemm16.uk != NULL);
        sk_graph_free(g);
        check_case(&c, seed, NULL, 1);
        check_case(&c, seed, pool3, 1);
    }
    unsetenv("SKIPSERVE_INT8_PAD_STEM");
    w7_weights = sat_pair = 0;
    sk_pool_destroy(pool3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_geometries),
        cmocka_unit_test(test_resnet_layers),
        cmocka_unit_test(test_patch_mode),
        cmocka_unit_test(test_stem3x3),
        cmocka_unit_test(test_nhwc_pool),
        cmocka_unit_test(test_stays_reference),
        cmocka_unit_test(test_qdq_rewrites),
        cmocka_unit_test(test_blocked_columns),
        cmocka_unit_test(test_nhwc_regions),
        cmocka_unit_test(test_nhwc_shapes),
        cmocka_unit_test(test_nhwc_joins),
        cmocka_unit_test(test_nhwc_edge_groups),
        cmocka_unit_test(test_int8_switches),
        cmocka_unit_test(test_avx2_pair_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
