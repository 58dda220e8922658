/* test_qresize.c — the int8 linear Resize (issue 22, session 15, qft):
 * DQ -> Resize(linear) -> Q becomes _QResize (passes/qdq_ops.c,
 * ref/qresize.c, kernels/fast_qresize.c). Checked on random geometries
 * (every coordinate mode but tf_crop_and_resize, scales and sizes, up and
 * down, uint8 / int8, equal and differing parameters):
 *   1. bit for bit against the fixed-point arithmetic of ref/qresize.h
 *      written out here independently (tap weights from the spec's
 *      coordinate formulas, rint(frac * 2048), int64 sums) — the reference
 *      kernel and the fast one at every level, 1 and 3 threads;
 *   2. within 1 step of the float graph as loaded (DequantizeLinear ->
 *      float Resize -> QuantizeLinear on the scalar reference kernels), the
 *      bound ref/qresize.h proves for x_s / y_s <= 2; and exhaustively on
 *      every pair of input bytes (a, b) interpolated along W at fractions
 *      1/4, 3/4 (2x half-pixel) and 1/3, 2/3 (3x align_corners);
 *   3. the rewrite is taken (no DQ / Q / float Resize left) and not taken
 *      where it must not be: x_s / y_s > 2, nearest, C resized,
 *      tf_half_pixel_for_nn;
 *   4. between two int8 convs on the NHWC kernel it joins their
 *      channels-last region (passes/qlayout.c) with the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "engine/graph.h"
#include "kernels/config.h"
#include "kernels/fast_qnhwc.h"
#include "kernels/fast_qresize.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "threadpool.h"

#include "qgraph_testutil.h"

typedef struct rl_case {
    int64_t N, C, H, W, oH, oW;
    int s8, coord, sizes; /* sizes: the output given as sizes, else scales */
    float sc[4];
    float xs, ys;
    int32_t xz, yz;
} rl_case;

static const char *const coords[] = {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
                                     "align_corners", "asymmetric", "tf_half_pixel_for_nn"};

static sk_graph *rl_graph(const rl_case *c, const char *mode)
{
    sk_graph *g = sk_graph_new();
    sk_dtype t = c->s8 ? SK_I8 : SK_U8;
    int x = val(g, "x");
    g->values[x].dtype = t;
    /* sizes: the pass rewrites only on a declared N (sizes[0]) */
    g->values[x].shape = (sk_shape){4, {c->sizes ? c->N : SK_DIM_SYMBOLIC, c->C, c->H, c->W}};
    sk_graph_add_input(g, x);
    sk_shape one = {0, {0}}, four = {1, {4}};
    int8_t xz8 = (int8_t)c->xz, yz8 = (int8_t)c->yz;
    int64_t sz[4] = {1, c->C, c->oH, c->oW}; /* N = 1 in the sizes: batch 1 runs only */
    int cxs = sk_graph_add_const(g, "xs", SK_F32, &one, &c->xs);
    int cxz = sk_graph_add_const(g, "xz", t, &one, &xz8);
    int cys = sk_graph_add_const(g, "ys", SK_F32, &one, &c->ys);
    int cyz = sk_graph_add_const(g, "yz", t, &one, &yz8);
    int ck = c->sizes ? sk_graph_add_const(g, "sizes", SK_I64, &four, sz)
                      : sk_graph_add_const(g, "scales", SK_F32, &four, c->sc);
    int xf = val(g, "xf"), yf = val(g, "yf"), y = val(g, "y");
    int dx[3] = {x, cxs, cxz}, q[3] = {yf, cys, cyz};
    int rs[4] = {xf, -1, c->sizes ? -1 : ck, c->sizes ? ck : -1};
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dq", 3, dx, 1, &xf) >= 0);
    int ri = sk_graph_add_node(g, SK_OP_RESIZE, "resize", c->sizes ? 4 : 3, rs, 1, &yf);
    assert_true(ri >= 0);
    sk_node_set_string(g, ri, "mode", mode);
    sk_node_set_string(g, ri, "coordinate_transformation_mode", coords[c->coord]);
    assert_true(sk_graph_add_node(g, SK_OP_QUANTIZE_LINEAR, "q", 3, q, 1, &y) >= 0);
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i].opset = 19;
    sk_graph_add_output(g, y);
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

/* ONNX's coordinate formulas (Resize spec), written here from the spec */
static double src_coord(int coord, int64_t o, int64_t in, int64_t out, double scale, double len)
{
    double x = (double)o;
    switch (coord) {
    case 0: return (x + 0.5) / scale - 0.5;
    case 1: {
        double adj = (double)out / (scale * (double)in), ctr = (double)in * 0.5 * (1.0 - adj);
        return ctr + (x + 0.5) / scale - 0.5;
    }
    case 2: return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case 3: return len == 1.0 ? 0.0 : x * (double)(in - 1) / (len - 1.0);
    case 4: return x / scale;
    default: return (x + 0.5) / scale;
    }
}

static void taps(const rl_case *c, int a, int64_t o, int64_t *i0, int64_t *i1, int64_t *l1)
{
    int64_t in = a ? c->W : c->H, out = a ? c->oW : c->oH;
    double scale = c->sizes ? (double)out / (double)in : (double)c->sc[2 + a];
    double len = c->sizes ? (double)out : scale * (double)in;
    double v = src_coord(c->coord, o, in, out, scale, len);
    if (!(v > 0.0))
        v = 0.0;
    if (v > (double)(in - 1))
        v = (double)(in - 1);
    *i0 = (int64_t)floor(v);
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *l1 = (int64_t)nearbyint((v - (double)*i0) * 2048.0);
}

static int32_t ld8(const uint8_t *p, size_t i, int s8) { return s8 ? (int8_t)p[i] : p[i]; }

static void rl_expect(const rl_case *c, const uint8_t *x, uint8_t *y)
{
    float m = c->xs / c->ys / 4194304.0f; /* 2^22: exact */
    for (int64_t p = 0; p < c->N * c->C; p++)
        for (int64_t oh = 0; oh < c->oH; oh++)
            for (int64_t ow = 0; ow < c->oW; ow++) {
                int64_t h0, h1, lh, w0, w1, lw;
                taps(c, 0, oh, &h0, &h1, &lh);
                taps(c, 1, ow, &w0, &w1, &lw);
                const uint8_t *xp = x + p * c->H * c->W;
                int64_t a = ld8(xp, (size_t)(h0 * c->W + w0), c->s8) - c->xz,
                        b = ld8(xp, (size_t)(h0 * c->W + w1), c->s8) - c->xz,
                        d = ld8(xp, (size_t)(h1 * c->W + w0), c->s8) - c->xz,
                        e = ld8(xp, (size_t)(h1 * c->W + w1), c->s8) - c->xz;
                int64_t acc = (2048 - lh) * ((2048 - lw) * a + lw * b) +
                              lh * ((2048 - lw) * d + lw * e);
                float r = nearbyintf((float)acc * m) + (float)c->yz;
                float lo = c->s8 ? -128.f : 0.f, hi = c->s8 ? 127.f : 255.f;
                r = r < lo ? lo : r > hi ? hi : r;
                y[(p * c->oH + oh) * c->oW + ow] = (uint8_t)(int8_t)(int32_t)r;
            }
}

/* one case: the float graph within 1 (returns how many differ by 1), the
 * rewrite taken, every level and 1 / 3 threads bit for bit the expectation */
static int rl_check(const rl_case *c, const uint8_t *x, sk_pool *pool, int id)
{
    size_t ny = (size_t)(c->N * c->C * c->oH * c->oW);
    uint8_t *want = malloc(ny), *got = malloc(ny), *flt = malloc(ny);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(flt);
    sk_tensor tx = {c->s8 ? SK_I8 : SK_U8, {4, {c->N, c->C, c->H, c->W}}, (void *)x};
    rl_expect(c, x, want);
    sk_isa top = sk_cpu_detected();
    sk_cpu_set_level(SK_ISA_SCALAR);
    sk_graph *gf = rl_graph(c, "linear");
    run1(gf, NULL, &tx, flt, ny);
    sk_graph_free(gf);
    int ones = 0;
    for (size_t i = 0; i < ny; i++) {
        int d = ld8(flt, i, c->s8) - ld8(want, i, c->s8);
        if (d < -1 || d > 1)
            fail_msg("case %d (%s, %lldx%lld -> %lldx%lld, s8 %d, xs/ys %g) [%zu]: float graph %d, "
                     "integer %d", id, coords[c->coord], (long long)c->H, (long long)c->W,
                     (long long)c->oH, (long long)c->oW, c->s8, (double)(c->xs / c->ys), i,
                     ld8(flt, i, c->s8), ld8(want, i, c->s8));
        ones += d != 0;
    }
    char err[256];
    for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
        sk_cpu_set_level((sk_isa)L);
        sk_graph *g = rl_graph(c, "linear");
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        assert_int_equal(count_op(g, SK_OP_QRESIZE), 1);
        assert_int_equal(count_op(g, SK_OP_RESIZE), 0);
        assert_int_equal(count_op(g, SK_OP_DEQUANTIZE_LINEAR), 0);
        assert_int_equal(count_op(g, SK_OP_QUANTIZE_LINEAR), 0);
        for (int th = 0; th < 2; th++) {
            memset(got, 0xA5, ny);
            run1(g, th ? pool : NULL, &tx, got, ny);
            for (size_t i = 0; i < ny; i++)
                if (got[i] != want[i])
                    fail_msg("case %d level %d th %d (%s, %lldx%lld -> %lldx%lld, s8 %d): [%zu] "
                             "%d want %d", id, L, th, coords[c->coord], (long long)c->H,
                             (long long)c->W, (long long)c->oH, (long long)c->oW, c->s8, i,
                             got[i], want[i]);
        }
        sk_graph_free(g);
    }
    sk_cpu_set_level(top);
    free(want);
    free(got);
    free(flt);
    return ones;
}

static void test_resize_linear_random(void **state)
{
    (void)state;
    static const float facs[] = {2.f, 0.5f, 1.5f, 3.f, 0.75f, 1.f, 1.25f, 0.3f};
    sk_pool *pool = sk_pool_create(3);
    int ones = 0, cases = 0;
    size_t total = 0;
    for (int it = 0; it < 150; it++) {
        rl_case c;
        memset(&c, 0, sizeof c);
        c.N = 1;
        c.C = 1 + rnd() % 5;
        c.H = 1 + rnd() % 11;
        c.W = 1 + rnd() % 37; /* past the AVX2 row kernel's 8 lanes, tails */
        c.s8 = rnd() % 2;
        c.coord = (int)(rnd() % 5); /* tf_half_pixel_for_nn: test_resize_linear_not_taken */
        c.sizes = rnd() % 4 == 0;
        c.sc[0] = c.sc[1] = 1.f;
        c.sc[2] = facs[rnd() % 8];
        c.sc[3] = facs[rnd() % 8];
        if (c.sizes) {
            c.oH = 1 + rnd() % 16;
            c.oW = 1 + rnd() % 40;
        } else {
            c.N = 1 + rnd() % 2;
            c.oH = (int64_t)floor((double)c.sc[2] * (double)c.H);
            c.oW = (int64_t)floor((double)c.sc[3] * (double)c.W);
        }
        if (c.oH < 1 || c.oW < 1)
            continue;
        c.xs = frand(0.005f, 0.05f);
        /* equal parameters (the U-Net's resizes nearly are), or y_s from x_s / 2 up */
        c.ys = it % 3 == 0 ? c.xs : c.xs * frand(0.5f, 3.f);
        c.xz = c.s8 ? (int32_t)(rnd() % 60) - 30 : (int32_t)(rnd() % 256);
        c.yz = it % 3 == 0 ? c.xz : c.s8 ? (int32_t)(rnd() % 60) - 30 : (int32_t)(rnd() % 256);
        size_t nx = (size_t)(c.N * c.C * c.H * c.W);
        uint8_t *x = malloc(nx);
        assert_non_null(x);
        for (size_t i = 0; i < nx; i++) /* sometimes only the extremes: the widest swings */
            x[i] = it % 7 == 1 ? (rnd() % 2 ? 255 : 0) : (uint8_t)rnd();
        ones += rl_check(&c, x, pool, it);
        total += (size_t)(c.N * c.C * c.oH * c.oW);
        cases++;
        free(x);
    }
    printf("  linear Resize: %d cases, %d of %zu outputs 1 step from the float graph\n", cases,
           ones, total);
    assert_true(cases > 100);
    sk_pool_destroy(pool);
}

/* every pair of bytes (a, b) side by side in a row: x[a][2b] = a,
 * x[a][2b + 1] = b (and b next to the following a), resized along W only */
static void test_resize_linear_all_pairs(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(3);
    uint8_t *x = malloc(256 * 512);
    assert_non_null(x);
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b++) {
            x[a * 512 + 2 * b] = (uint8_t)a;
            x[a * 512 + 2 * b + 1] = (uint8_t)b;
        }
    for (int v = 0; v < 5; v++) {
        rl_case c;
        memset(&c, 0, sizeof c);
        c.N = c.C = 1;
        c.H = 256;
        c.W = 512;
        c.s8 = v & 1;
        c.coord = v < 2 ? 0 : 3; /* half_pixel x2: 1/4, 3/4; align_corners x3: k/3 */
        c.sc[0] = c.sc[1] = c.sc[2] = 1.f;
        c.sc[3] = v < 2 ? 2.f : 3.f;
        c.oH = 256;
        c.oW = (int64_t)c.sc[3] * 512;
        c.xs = 0.0213f;
        c.ys = v % 2 ? c.xs : 0.0177f;
        c.xz = c.s8 ? -3 : 121;
        c.yz = c.s8 ? 5 : 117;
        rl_check(&c, x, pool, 1000 + v);
    }
    free(x);
    sk_pool_destroy(pool);
}

/* left in float: y_s < x_s / 2 (the bound would not hold), nearest with
 * other parameters, C resized, tf_half_pixel_for_nn, sizes on an
 * undeclared batch */
static void test_resize_linear_not_taken(void **state)
{
    (void)state;
    char err[256];
    for (int v = 0; v < 5; v++) {
        rl_case c;
        memset(&c, 0, sizeof c);
        c.N = 1;
        c.C = 2;
        c.H = c.W = 4;
        c.sc[0] = c.sc[1] = 1.f;
        c.sc[2] = c.sc[3] = 2.f;
        c.xs = 0.05f;
        c.ys = v == 0 ? 0.02f : 0.04f;
        c.xz = c.yz = 128;
        if (v == 2)
            c.sc[1] = 2.f;
        if (v == 3) /* its unscaled N and C axes blend neighbours (o + 0.5) */
            c.coord = 5;
        c.oH = c.oW = 8;
        sk_graph *g = rl_graph(&c, v == 1 ? "nearest" : "linear");
        if (v == 4) { /* sizes on a symbolic batch: N might be resized */
            sk_graph_free(g);
            c.sizes = 1;
            g = rl_graph(&c, "linear");
            g->values[sk_graph_value(g, "x")].shape.dim[0] = SK_DIM_SYMBOLIC;
        }
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        assert_int_equal(count_op(g, SK_OP_QRESIZE), 0);
        assert_int_equal(count_op(g, SK_OP_RESIZE), 1);
        sk_graph_free(g);
    }
}

/* one uint8 QLinearConv 3x3 (pads 1) of C -> M channels, named by `tag` */
static int qconv(sk_graph *g, const char *tag, int x, int64_t C, int64_t M)
{
    char nm[32];
    sk_shape one = {0, {0}}, ws = {4, {M, C, 3, 3}}, md = {1, {M}};
    int8_t *w = malloc((size_t)(M * C * 9));
    int32_t *b = malloc((size_t)M * 4);
    assert_true(w && b);
    for (int64_t i = 0; i < M * C * 9; i++)
        w[i] = (int8_t)((int)(rnd() % 255) - 127);
    for (int64_t m = 0; m < M; m++)
        b[m] = (int32_t)(rnd() % 4001) - 2000;
    float xs = 0.02f, wsc = 0.004f, ys = 0.05f;
    uint8_t xz = 120, yz = 128;
    int8_t wz = 0;
#define C_(name, t, sh, p) (snprintf(nm, sizeof nm, "%s_" name, tag), sk_graph_add_const(g, nm, t, sh, p))
    int in[9] = {x, C_("xs", SK_F32, &one, &xs), C_("xz", SK_U8, &one, &xz),
                 C_("w", SK_I8, &ws, w), C_("ws", SK_F32, &one, &wsc), C_("wz", SK_I8, &one, &wz),
                 C_("ys", SK_F32, &one, &ys), C_("yz", SK_U8, &one, &yz), C_("b", SK_I32, &md, b)};
#undef C_
    free(w);
    free(b);
    snprintf(nm, sizeof nm, "%s_y", tag);
    int y = val(g, nm);
    int ni = sk_graph_add_node(g, SK_OP_QLINEAR_CONV, tag, 9, in, 1, &y);
    assert_true(ni >= 0);
    int64_t k[2] = {3, 3}, pads[4] = {1, 1, 1, 1};
    sk_node_set_ints(g, ni, "kernel_shape", k, 2);
    sk_node_set_ints(g, ni, "pads", pads, 4);
    return y;
}

/* QLinearConv -> DQ -> Resize(linear x2) -> Q -> QLinearConv: where the
 * level has the NHWC int8 conv, the _QResize joins the channels-last
 * region (passes/qlayout.c: its priv says NHWC) and the bytes are those
 * of the NCHW run (SKIPSERVE_INT8_RESIZE_NHWC=0) and of the scalar
 * reference, at 1 and 3 threads; C = 12, 20, 44, 76: 8 / 16 / 32-channel
 * steps and tails. Session 16: the NHWC run at the top level (AVX-512: the
 * 32-channel vpmaddwd kernel), at AVX2 (the 16-channel one) and with
 * SKIPSERVE_INT8_RESIZE_MADD=0 (session 15's kernel): the same bytes */
static void test_resize_linear_nhwc_region(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    sk_pool *pool = sk_pool_create(3);
    char err[256];
    int joined = 0;
    for (int it = 0; it < 4; it++) {
        static const int64_t Cs[4] = {12, 20, 44, 76};
        int64_t N = 1 + it % 2, C = Cs[it], H = 5 + it, W = 7 + 2 * it;
        const char *coord = it % 2 ? "align_corners" : "half_pixel";
        uint8_t *out[5] = {NULL, NULL, NULL, NULL, NULL};
        size_t ny = (size_t)(N * 8 * 2 * H * 2 * W);
        size_t nx = (size_t)(N * 4 * H * W);
        uint8_t *x = malloc(nx);
        assert_non_null(x);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint8_t)rnd();
        uint64_t seed = rng;
        /* scalar, NCHW resize, NHWC resize; NHWC at AVX2; NHWC with the
         * session-15 pixel kernel */
        for (int v = 0; v < 5; v++) {
            rng = seed; /* the same weights in every build */
            sk_cpu_set_level(v == 0 ? SK_ISA_SCALAR : v == 3 && top > SK_ISA_AVX2 ? SK_ISA_AVX2 : top);
            if (v == 1)
                setenv("SKIPSERVE_INT8_RESIZE_NHWC", "0", 1);
            if (v == 4)
                setenv("SKIPSERVE_INT8_RESIZE_MADD", "0", 1);
            sk_graph *g = sk_graph_new();
            int xv = val(g, "x");
            g->values[xv].dtype = SK_U8;
            g->values[xv].shape = (sk_shape){4, {SK_DIM_SYMBOLIC, 4, H, W}};
            sk_graph_add_input(g, xv);
            int a = qconv(g, "c1", xv, 4, C);
            sk_shape one = {0, {0}}, four = {1, {4}};
            float s1 = 0.05f, s2 = 0.0499f, sc[4] = {1.f, 1.f, 2.f, 2.f};
            uint8_t z1 = 128, z2 = 127;
            int d[3] = {a, sk_graph_add_const(g, "s1", SK_F32, &one, &s1),
                        sk_graph_add_const(g, "z1", SK_U8, &one, &z1)};
            int af = val(g, "af"), rf = val(g, "rf"), rq = val(g, "rq");
            assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dq", 3, d, 1, &af) >= 0);
            int rs[3] = {af, -1, sk_graph_add_const(g, "scales", SK_F32, &four, sc)};
            int ri = sk_graph_add_node(g, SK_OP_RESIZE, "resize", 3, rs, 1, &rf);
            sk_node_set_string(g, ri, "mode", "linear");
            sk_node_set_string(g, ri, "coordinate_transformation_mode", coord);
            int q[3] = {rf, sk_graph_add_const(g, "s2", SK_F32, &one, &s2),
                        sk_graph_add_const(g, "z2", SK_U8, &one, &z2)};
            assert_true(sk_graph_add_node(g, SK_OP_QUANTIZE_LINEAR, "q", 3, q, 1, &rq) >= 0);
            int y = qconv(g, "c2", rq, C, 8);
            for (int i = 0; i < g->nnodes; i++)
                g->nodes[i].opset = 19;
            sk_graph_add_output(g, y);
            if (sk_graph_validate(g, err, sizeof err) || sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("graph: %s", err);
            unsetenv("SKIPSERVE_INT8_RESIZE_NHWC");
            const sk_node *r = find_op(g, SK_OP_QRESIZE);
            assert_non_null(r);
            if (v == 2 && r->priv)
                joined++;
            if (v < 2)
                assert_null(r->priv);
            if (v > 2) /* the NHWC kernel ran, as in v == 2 */
                assert_int_equal(r->priv != NULL, joined == it + 1);
            /* the switch is read when the pass marks the node, not per run:
             * unset before the runs, the v == 4 graph keeps session 15's
             * kernel (same bytes, so only the priv shows it) */
            unsetenv("SKIPSERVE_INT8_RESIZE_MADD");
            if (r->priv)
                assert_int_equal(((const sk_qnhwc_priv *)r->priv)->qrs_off,
                                 v == 4 ? SK_QRS_OFF_MADD : 0);
            sk_tensor tx = {SK_U8, {4, {N, 4, H, W}}, x};
            out[v] = malloc(ny);
            uint8_t *o3 = malloc(ny);
            assert_true(out[v] && o3);
            run1(g, NULL, &tx, out[v], ny);
            run1(g, pool, &tx, o3, ny);
            assert_memory_equal(out[v], o3, ny);
            free(o3);
            sk_graph_free(g);
            unsetenv("SKIPSERVE_INT8_RESIZE_MADD");
        }
        for (int v = 1; v < 5; v++)
            assert_memory_equal(out[0], out[v], ny);
        for (int v = 0; v < 5; v++)
            free(out[v]);
        free(x);
    }
    sk_cpu_set_level(top);
    /* where the level has the NHWC int8 conv (VNNI), the resize joined */
    const sk_kconfig *kc = sk_kconfig_for(top);
    if (top > SK_ISA_SCALAR && kc && kc->qigemm.uk)
        assert_int_equal(joined, 4);
    printf("  linear Resize in an NHWC region: %d of 4 joined\n", joined);
    sk_pool_destroy(pool);
}

/* the channels-last pixel kernels (session 16: vpmaddwd, AVX2 16 and
 * AVX-512 32 channels a step; session 15's vpmulld one) and the row-cache
 * pairs (hrow + vblend, 16 and 32) bit for bit against
 * ref/qresize.h's formula written out here — ly0 (lx0 a + lx1 b) + ly1 (lx0
 * d + lx1 e) in int32, rint((float)acc * m) + y_zp saturated — on random C
 * (steps and tails), weights (0 and 2^11 included), zero points, u8 / s8,
 * x_s / y_s up to 4 (saturating), each where the CPU has it; guard bytes
 * after the C outputs stay untouched */
static void test_resize_px_kernels(void **state)
{
    (void)state;
#if !defined(__x86_64__)
    skip(); /* x86-64 kernels */
#else
    sk_isa top = sk_cpu_detected();
    const sk_qu8_resize_px_fn fns[3] = {sk_qu8_resize_px__avx2, sk_qu8_resize_px16__avx2,
                                        sk_qu8_resize_px32__avx512bw};
    const sk_isa need[3] = {SK_ISA_AVX2, SK_ISA_AVX2, SK_ISA_AVX512};
    int ran = 0;
    for (int it = 0; it < 300; it++) {
        size_t C = it < 8 ? (size_t)(16 * (it + 1)) : 1 + rnd() % 100;
        sk_qrs q;
        memset(&q, 0, sizeof q);
        q.s8 = (int)(rnd() % 2);
        q.xzp = (int32_t)(rnd() % 256); /* the uint8 view */
        q.yzp = q.s8 ? (int32_t)(rnd() % 256) - 128 : (int32_t)(rnd() % 256);
        q.m = (float)(frand(0.25f, 4.f) * ldexp(1.0, -22));
        int32_t lx1 = it % 7 == 0 ? 0 : it % 7 == 1 ? SK_QRS_ONE : (int32_t)(rnd() % 2049);
        int32_t ly1 = it % 5 == 0 ? SK_QRS_ONE : it % 5 == 1 ? 0 : (int32_t)(rnd() % 2049);
        uint8_t p[4][128], want[128], got[128 + 32];
        for (int k = 0; k < 4; k++)
            for (size_t c = 0; c < C; c++)
                p[k][c] = (uint8_t)rnd();
        int32_t fl = q.s8 ? 0x80 : 0;
        for (size_t c = 0; c < C; c++) {
            int32_t a = (p[0][c] ^ fl) - q.xzp, b = (p[1][c] ^ fl) - q.xzp,
                    d = (p[2][c] ^ fl) - q.xzp, e = (p[3][c] ^ fl) - q.xzp;
            int32_t acc = (SK_QRS_ONE - ly1) * ((SK_QRS_ONE - lx1) * a + lx1 * b) +
                          ly1 * ((SK_QRS_ONE - lx1) * d + lx1 * e);
            float r = nearbyintf((float)acc * q.m) + (float)q.yzp;
            float lo = q.s8 ? -128.f : 0.f, hi = q.s8 ? 127.f : 255.f;
            want[c] = (uint8_t)(int8_t)(int32_t)(r < lo ? lo : r > hi ? hi : r);
        }
        for (int f = 0; f < 3; f++) {
            if (top < need[f])
                continue;
            memset(got, 0xA5, sizeof got);
            fns[f](C, p[0], p[1], p[2], p[3], lx1, ly1, &q, got);
            for (size_t c = 0; c < C; c++)
                if (got[c] != want[c])
                    fail_msg("px kernel %d C %zu s8 %d lx1 %d ly1 %d [%zu]: %d want %d", f, C,
                             q.s8, lx1, ly1, c, got[c], want[c]);
            for (size_t c = C; c < C + 32; c++)
                if (got[c] != 0xA5)
                    fail_msg("px kernel %d C %zu: wrote byte %zu", f, C, c);
            ran++;
        }
        /* the row-cache pairs on three output pixels through a W tap table
         * (as fast_qresize.c builds it): two input rows of 4 pixels, output
         * pixel o from input pixels tw[3o], tw[3o + 1] with weight tw[3o + 2]
         * (the second a clamped edge: both taps the last pixel) */
        const sk_qu8_resize_hrow_fn hr[2] = {sk_qu8_resize_hrow16__avx2,
                                             sk_qu8_resize_hrow32__avx512bw};
        const sk_qu8_resize_vblend_fn vb[2] = {sk_qu8_resize_vblend16__avx2,
                                               sk_qu8_resize_vblend32__avx512bw};
        enum { RW = 4, ROW = 3 };
        uint8_t rw[2][RW * 128], rwant[ROW * 128], rgot[ROW * 128 + 32];
        for (int k = 0; k < 2; k++)
            for (size_t c = 0; c < RW * C; c++)
                rw[k][c] = (uint8_t)rnd();
        int32_t tw[3 * ROW] = {0, 1, lx1, 3, 3, 0, 1, 2, (int32_t)(rnd() % 2049)};
        for (int o = 0; o < ROW; o++) {
            const uint8_t *t0 = rw[0] + tw[3 * o] * C, *t1 = rw[0] + tw[3 * o + 1] * C,
                          *b0 = rw[1] + tw[3 * o] * C, *b1 = rw[1] + tw[3 * o + 1] * C;
            for (size_t c = 0; c < C; c++) {
                int32_t wx = tw[3 * o + 2], a = (t0[c] ^ fl) - q.xzp, b = (t1[c] ^ fl) - q.xzp,
                        d = (b0[c] ^ fl) - q.xzp, e = (b1[c] ^ fl) - q.xzp;
                int32_t acc = (SK_QRS_ONE - ly1) * ((SK_QRS_ONE - wx) * a + wx * b) +
                              ly1 * ((SK_QRS_ONE - wx) * d + wx * e);
                float r = nearbyintf((float)acc * q.m) + (float)q.yzp;
                float lo = q.s8 ? -128.f : 0.f, hi = q.s8 ? 127.f : 255.f;
                rwant[(size_t)o * C + c] = (uint8_t)(int8_t)(int32_t)(r < lo ? lo : r > hi ? hi : r);
            }
        }
        int32_t d0[ROW * 128], d1[ROW * 128]; /* oW x C rounded up to 32 */
        for (int f = 0; f < 2; f++) {
            if (top < need[f + 1])
                continue;
            memset(rgot, 0xA5, sizeof rgot);
            hr[f](C, ROW, rw[0], tw, &q, d0);
            hr[f](C, ROW, rw[1], tw, &q, d1);
            vb[f](C, ROW, d0, d1, ly1, &q, rgot);
            for (size_t c = 0; c < ROW * C; c++)
                if (rgot[c] != rwant[c])
                    fail_msg("row kernel %d C %zu s8 %d lx1 %d ly1 %d pixel %zu [%zu]: %d want %d",
                             f, C, q.s8, lx1, ly1, c / C, c % C, rgot[c], rwant[c]);
            for (size_t c = ROW * C; c < ROW * C + 32; c++)
                if (rgot[c] != 0xA5)
                    fail_msg("row kernel %d C %zu: wrote byte %zu", f, C, c);
            ran++;
        }
    }
    printf("  pixel and row kernels: %d runs bit for bit\n", ran);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_px_kernels),
        cmocka_unit_test(test_resize_linear_random),
        cmocka_unit_test(test_resize_linear_all_pairs),
        cmocka_unit_test(test_resize_linear_not_taken),
        cmocka_unit_test(test_resize_linear_nhwc_region),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
