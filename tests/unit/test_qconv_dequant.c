/* test_qconv_dequant.c — a QDQ model's head, DQ -> Conv 1x1 -> float
 * logits, as _QConvDequant (passes/qdq_head.c, ref/qconv_dequant.c,
 * kernels/fast_qconv_dequant.c; issue 22, session 14), on random shapes:
 *   1. bit for bit against the integer semantics computed here element by
 *      element (int64 sum, (float)acc * (x_scale * w_scale[m])) at every
 *      level the CPU has, on 1 and 3 threads — the reference and the
 *      AVX512-VNNI kernel (NCHW input: edges of M % 8 and P % 32, batches,
 *      int8 and uint8 x, per-tensor and per-channel w, with and without B);
 *   2. within the float sum's rounding of the QDQ graph left in float
 *      (SKIPSERVE_QDQ_HEAD=0, scalar level): the rewrite changes no value
 *      beyond float error;
 *   3. the rewrite happens where sk_qconvdq_pays says, and not for forms
 *      it does not run (3x3, stride 2, a weight zero point);
 *   4. channels-last input: after an int8 conv, passes/qlayout.c puts the
 *      head in the NHWC region (x_nhwc) and the output is the scalar
 *      level's bit for bit. */
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
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "kernels/fast_qconv_dequant.h"
#include "threadpool.h"

#include "qgraph_testutil.h"

typedef struct hd_case {
    int64_t N, C, M, H, W, k, s;
    int x_s8, perch, bias, wzp; /* wzp: a non-zero weight zero point (not rewritten) */
    float xs, ws[64];
    int32_t xz;
    int8_t *w;  /* [M][C][k][k] */
    int32_t *b; /* [M] */
} hd_case;

/* x -> DQ -> Conv(DQ(w), DQ(b)?) -> y, the form a quantizer writes */
static sk_graph *hd_graph(const hd_case *c)
{
    sk_graph *g = sk_graph_new();
    sk_dtype xt = c->x_s8 ? SK_I8 : SK_U8;
    int x = val(g, "x");
    g->values[x].dtype = xt;
    g->values[x].shape = (sk_shape){4, {SK_DIM_SYMBOLIC, c->C, c->H, c->W}};
    sk_graph_add_input(g, x);
    sk_shape one = {0, {0}}, sm = {1, {c->M}}, sw = {4, {c->M, c->C, c->k, c->k}};
    int8_t xz8 = (int8_t)c->xz, wz[64] = {0};
    float bs[64];
    for (int64_t m = 0; m < c->M; m++) {
        bs[m] = c->xs * c->ws[c->perch ? m : 0];
        wz[m] = (int8_t)(c->wzp ? 3 : 0);
    }
    int cxs = sk_graph_add_const(g, "xs", SK_F32, &one, &c->xs);
    int cxz = sk_graph_add_const(g, "xz", xt, &one, &xz8);
    int cw = sk_graph_add_const(g, "w", SK_I8, &sw, c->w);
    int cws = sk_graph_add_const(g, "ws", SK_F32, c->perch ? &sm : &one, c->ws);
    int cwz = sk_graph_add_const(g, "wz", SK_I8, c->perch ? &sm : &one, wz);
    int cb = sk_graph_add_const(g, "b", SK_I32, &sm, c->b);
    int cbs = sk_graph_add_const(g, "bs", SK_F32, c->perch ? &sm : &one, bs);
    int dx[3] = {x, cxs, cxz}, dw[3] = {cw, cws, cwz}, db[2] = {cb, cbs};
    int xf = val(g, "xf"), wf = val(g, "wf"), bf = val(g, "bf"), y = val(g, "y");
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqx", 3, dx, 1, &xf) >= 0);
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqw", 3, dw, 1, &wf) >= 0);
    sk_node_set_int(g, g->nnodes - 1, "axis", 0);
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqb", 2, db, 1, &bf) >= 0);
    sk_node_set_int(g, g->nnodes - 1, "axis", 0);
    int cv[3] = {xf, wf, bf};
    int ni = sk_graph_add_node(g, SK_OP_CONV, "head", c->bias ? 3 : 2, cv, 1, &y);
    assert_true(ni >= 0);
    int64_t ks[2] = {c->k, c->k}, st[2] = {c->s, c->s}, pads[4] = {0, 0, 0, 0};
    sk_node_set_ints(g, ni, "kernel_shape", ks, 2);
    sk_node_set_ints(g, ni, "strides", st, 2);
    sk_node_set_ints(g, ni, "pads", pads, 4);
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i].opset = 19;
    sk_graph_add_output(g, y);
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

static int32_t ld8(const uint8_t *p, size_t i, int s8) { return s8 ? (int8_t)p[i] : p[i]; }

/* the integer semantics of the pointwise form, and the bound of the float
 * graph's error: (C + 2) float roundings of terms of at most absum */
static void hd_expect(const hd_case *c, const uint8_t *x, float *y, float *tol)
{
    int64_t P = c->H * c->W;
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++) {
            float s = c->xs * c->ws[c->perch ? m : 0];
            for (int64_t p = 0; p < P; p++) {
                int64_t acc = c->bias ? c->b[m] : 0, abs = c->bias ? llabs(c->b[m]) : 0;
                for (int64_t ch = 0; ch < c->C; ch++) {
                    int64_t t = (int64_t)(ld8(x, (size_t)((n * c->C + ch) * P + p), c->x_s8) -
                                          c->xz) *
                                c->w[m * c->C + ch];
                    acc += t;
                    abs += t < 0 ? -t : t;
                }
                y[(n * c->M + m) * P + p] = (float)acc * s;
                tol[(n * c->M + m) * P + p] = (float)(c->C + 4) * 1.2e-7f * (float)abs * s;
            }
        }
}

static void hd_random(hd_case *c)
{
    memset(c, 0, sizeof *c);
    c->N = 1 + rnd() % 3;
    c->C = 1 + rnd() % 70;
    c->M = 1 + rnd() % 40;
    c->H = 1 + rnd() % 9;
    c->W = 1 + rnd() % 40;
    c->k = 1;
    c->s = 1;
    c->x_s8 = rnd() % 2;
    c->perch = rnd() % 2;
    c->bias = rnd() % 4 != 0;
    c->xs = frand(0.005f, 0.05f);
    c->xz = c->x_s8 ? (int32_t)(rnd() % 40) - 20 : (int32_t)(rnd() % 256);
    for (int64_t m = 0; m < c->M; m++)
        c->ws[m] = frand(0.001f, 0.02f);
    size_t nw = (size_t)(c->C * c->M);
    c->w = malloc(nw * 9);
    c->b = malloc((size_t)c->M * sizeof *c->b);
    assert_non_null(c->w);
    assert_non_null(c->b);
    for (size_t i = 0; i < nw * 9; i++)
        c->w[i] = (int8_t)(rnd() % 4 == 0 ? (rnd() % 2 ? 127 : -128) : (int)(rnd() % 256) - 128);
    for (int64_t m = 0; m < c->M; m++)
        c->b[m] = (int32_t)(rnd() % 200001) - 100000;
}

static void test_head_random(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    sk_pool *pool = sk_pool_create(3);
    char err[256];
    int packed = 0;
    for (int it = 0; it < 60; it++) {
        hd_case c;
        hd_random(&c);
        int64_t P = c.H * c.W;
        size_t nx = (size_t)(c.N * c.C * P), ny = (size_t)(c.N * c.M * P);
        uint8_t *x = malloc(nx);
        float *want = malloc(ny * 4), *tol = malloc(ny * 4), *got = malloc(ny * 4);
        assert_true(x && want && tol && got);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint8_t)rnd();
        sk_tensor tx = {c.x_s8 ? SK_I8 : SK_U8, {4, {c.N, c.C, c.H, c.W}}, x};
        hd_expect(&c, x, want, tol);
        /* the QDQ graph left in float: within its rounding */
        qt_check_float_head(hd_graph(&c), &tx, got, want, tol, ny, it);
        for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            sk_graph *g = hd_graph(&c);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            int pays = sk_qconvdq_pays(sk_kconfig_for((sk_isa)L));
            assert_int_equal(count_op(g, SK_OP_QCONV_DEQUANT), pays);
            { /* the graph's multiply-adds (skipserve-bench's GOP/s, the
               * fuzzer's size guard) count the head as the conv it is */
                sk_tensor ti = tx;
                ti.data = NULL;
                sk_shape *sh = malloc(sizeof(sk_shape) * (size_t)(g->nvalues + 1));
                sk_dtype *dt = malloc(sizeof(sk_dtype) * (size_t)(g->nvalues + 1));
                assert_true(sh && dt && sk_graph_infer_shapes(g, &ti, sh, dt) >= 0);
                int64_t macs = 0;
                for (int i = 0; i < g->nnodes; i++)
                    macs += sk_node_macs(g, i, sh);
                assert_int_equal(macs, c.N * c.M * c.C * P);
                free(sh);
                free(dt);
            }
            if (pays && L > SK_ISA_SCALAR) {
                assert_non_null(find_op(g, SK_OP_QCONV_DEQUANT)->priv);
                packed++;
            }
            for (int th = 0; th < 2; th++) {
                for (size_t i = 0; i < ny; i++)
                    got[i] = -12345.f;
                run1(g, th ? pool : NULL, &tx, got, ny);
                for (size_t i = 0; i < ny; i++) {
                    /* the integer form bit for bit; the float head where
                     * the level keeps it, within its rounding */
                    int ok = pays ? memcmp(&got[i], &want[i], 4) == 0
                                  : fabsf(got[i] - want[i]) <= tol[i];
                    if (!ok)
                        fail_msg("case %d level %d th %d: N%lld C%lld M%lld %lldx%lld s8 %d "
                                 "perch %d bias %d: [%zu] %.9g want %.9g",
                                 it, L, th, (long long)c.N, (long long)c.C, (long long)c.M,
                                 (long long)c.H, (long long)c.W, c.x_s8, c.perch, c.bias, i,
                                 got[i], want[i]);
                }
            }
            sk_graph_free(g);
        }
        free(x);
        free(want);
        free(tol);
        free(got);
        free(c.w);
        free(c.b);
    }
    sk_cpu_set_level(top);
    if (sk_qconvdq_pays(sk_kconfig_for(top)) && top > SK_ISA_SCALAR)
        assert_true(packed > 0);
    sk_pool_destroy(pool);
}

/* forms the kernel does not run stay float convs */
static void test_head_not_rewritten(void **state)
{
    (void)state;
    char err[256];
    sk_isa top = sk_cpu_detected();
    sk_cpu_set_level(SK_ISA_SCALAR); /* where the rewrite always pays */
    for (int form = 0; form < 3; form++) {
        hd_case c;
        hd_random(&c);
        if (form == 0)
            c.k = 3; /* 3x3 */
        else if (form == 1)
            c.s = 2; /* strided 1x1 */
        else
            c.wzp = 1; /* asymmetric weights */
        sk_graph *g = hd_graph(&c);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        assert_int_equal(count_op(g, SK_OP_QCONV_DEQUANT), 0);
        sk_graph_free(g);
        free(c.w);
        free(c.b);
    }
    sk_cpu_set_level(top);
}

/* x -> QLinearConv 3x3 (uint8, C0 -> C) -> DQ -> Conv 1x1 head -> y */
static sk_graph *nhwc_graph(int64_t C0, int64_t C, int64_t M, const int8_t *w0,
                            const int32_t *b0, const hd_case *h)
{
    sk_graph *g = sk_graph_new();
    int x = val(g, "x");
    g->values[x].dtype = SK_U8;
    g->values[x].shape = (sk_shape){4, {SK_DIM_SYMBOLIC, C0, h->H, h->W}};
    sk_graph_add_input(g, x);
    sk_shape one = {0, {0}}, sc = {1, {C}}, sm = {1, {M}}, sw0 = {4, {C, C0, 3, 3}},
             sw = {4, {M, C, 1, 1}};
    float xs = 0.02f, ys = h->xs, w0s = 0.004f, bs[64];
    uint8_t xz = 120, yz = (uint8_t)h->xz;
    int8_t z0[64] = {0};
    for (int64_t m = 0; m < M; m++)
        bs[m] = h->xs * h->ws[m];
    int cxs = sk_graph_add_const(g, "xs", SK_F32, &one, &xs);
    int cxz = sk_graph_add_const(g, "xz", SK_U8, &one, &xz);
    int cw0 = sk_graph_add_const(g, "w0", SK_I8, &sw0, w0);
    int cw0s = sk_graph_add_const(g, "w0s", SK_F32, &one, &w0s);
    int cw0z = sk_graph_add_const(g, "w0z", SK_I8, &one, z0);
    int cys = sk_graph_add_const(g, "ys", SK_F32, &one, &ys);
    int cyz = sk_graph_add_const(g, "yz", SK_U8, &one, &yz);
    int cb0 = sk_graph_add_const(g, "b0", SK_I32, &sc, b0);
    int cw = sk_graph_add_const(g, "w", SK_I8, &sw, h->w);
    int cws = sk_graph_add_const(g, "ws", SK_F32, &sm, h->ws);
    int cwz = sk_graph_add_const(g, "wz", SK_I8, &sm, z0);
    int cb = sk_graph_add_const(g, "b", SK_I32, &sm, h->b);
    int cbs = sk_graph_add_const(g, "bs", SK_F32, &sm, bs);
    int y1 = val(g, "y1"), xf = val(g, "xf"), wf = val(g, "wf"), bf = val(g, "bf"),
        y = val(g, "y");
    int qc[9] = {x, cxs, cxz, cw0, cw0s, cw0z, cys, cyz, cb0};
    int ni = sk_graph_add_node(g, SK_OP_QLINEAR_CONV, "conv", 9, qc, 1, &y1);
    assert_true(ni >= 0);
    int64_t k3[2] = {3, 3}, p1[4] = {1, 1, 1, 1}, k1[2] = {1, 1};
    sk_node_set_ints(g, ni, "kernel_shape", k3, 2);
    sk_node_set_ints(g, ni, "pads", p1, 4);
    int dx[3] = {y1, cys, cyz}, dw[3] = {cw, cws, cwz}, db[2] = {cb, cbs};
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqx", 3, dx, 1, &xf) >= 0);
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqw", 3, dw, 1, &wf) >= 0);
    sk_node_set_int(g, g->nnodes - 1, "axis", 0);
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqb", 2, db, 1, &bf) >= 0);
    sk_node_set_int(g, g->nnodes - 1, "axis", 0);
    int cv[3] = {xf, wf, bf};
    ni = sk_graph_add_node(g, SK_OP_CONV, "head", 3, cv, 1, &y);
    assert_true(ni >= 0);
    sk_node_set_ints(g, ni, "kernel_shape", k1, 2);
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i].opset = 19;
    sk_graph_add_output(g, y);
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

static void test_head_nhwc_input(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    sk_pool *pool = sk_pool_create(3);
    char err[256];
    int nhwc_seen = 0;
    for (int it = 0; it < 12; it++) {
        hd_case h;
        hd_random(&h);
        h.C = 4 * (1 + rnd() % 16); /* C % 4 == 0: what the NHWC head reads */
        h.perch = 1;
        h.x_s8 = 0;
        int64_t C0 = 4 + rnd() % 12, N = 1 + rnd() % 3, P = h.H * h.W;
        int8_t *w0 = malloc((size_t)(h.C * C0 * 9));
        int32_t *b0 = malloc((size_t)h.C * sizeof *b0);
        assert_true(w0 && b0);
        for (int64_t i = 0; i < h.C * C0 * 9; i++)
            w0[i] = (int8_t)((int)(rnd() % 256) - 128);
        for (int64_t i = 0; i < h.C; i++)
            b0[i] = (int32_t)(rnd() % 2001) - 1000;
        h.xs = 0.02f * 0.004f * 60.f * sqrtf((float)(C0 * 9)); /* y1 spans its range */
        size_t nx = (size_t)(N * C0 * P), ny = (size_t)(N * h.M * P);
        uint8_t *x = malloc(nx);
        float *want = malloc(ny * 4), *got = malloc(ny * 4);
        assert_true(x && want && got);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint8_t)rnd();
        sk_tensor tx = {SK_U8, {4, {N, C0, h.H, h.W}}, x};
        sk_cpu_set_level(SK_ISA_SCALAR);
        sk_graph *g = nhwc_graph(C0, h.C, h.M, w0, b0, &h);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        run1(g, NULL, &tx, want, ny);
        sk_graph_free(g);
        for (int L = SK_ISA_SCALAR + 1; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            g = nhwc_graph(C0, h.C, h.M, w0, b0, &h);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            const sk_node *hn = find_op(g, SK_OP_QCONV_DEQUANT);
            if (hn && hn->priv && ((const sk_qconvdq_priv *)hn->priv)->x_nhwc)
                nhwc_seen++;
            for (int th = 0; th < 2; th++) {
                for (size_t i = 0; i < ny; i++)
                    got[i] = -12345.f;
                run1(g, th ? pool : NULL, &tx, got, ny);
                for (size_t i = 0; i < ny; i++) {
                    int ok = hn ? memcmp(&got[i], &want[i], 4) == 0
                                : fabsf(got[i] - want[i]) <= 1e-4f * (1.f + fabsf(want[i]));
                    if (!ok)
                        fail_msg("nhwc case %d level %d th %d: C0 %lld C %lld M %lld %lldx%lld: "
                                 "[%zu] %.9g want %.9g",
                                 it, L, th, (long long)C0, (long long)h.C, (long long)h.M,
                                 (long long)h.H, (long long)h.W, i, got[i], want[i]);
                }
            }
            sk_graph_free(g);
        }
        free(x);
        free(want);
        free(got);
        free(w0);
        free(b0);
        free(h.w);
        free(h.b);
    }
    sk_cpu_set_level(top);
    /* where the level has the NHWC int8 conv, the head must have joined
     * its region (not with SKIPSERVE_INT8_UK=avx2: NCHW convs) */
    const sk_kconfig *kc = sk_kconfig_for(top);
    if (sk_qconvdq_pays(kc) && top > SK_ISA_SCALAR && kc->qigemm.uk)
        assert_true(nhwc_seen > 0);
    sk_pool_destroy(pool);
}

/* the builds of the microkernel (AVX-512 VNNI / BW; since session 15 the
 * AVX2 level's AVX-VNNI and widened AVX2 ones) against the sum computed
 * here, on random panels with every edge (mr 1..8, nr 1..32), extreme
 * bytes (255 x -128 pairs: vpmaddubsw would saturate), guard cells */
static void test_kernels_agree(void **state)
{
    (void)state;
#if defined(__x86_64__)
    if (sk_cpu_detected() < SK_ISA_AVX2) {
        skip();
        return;
    }
    /* session 15: the AVX2 level's two builds too (widened vpmaddwd; AVX-VNNI) */
    int bw = sk_cpu_detected() >= SK_ISA_AVX512, vnni = bw && __builtin_cpu_supports("avx512vnni");
    int avxvnni = __builtin_cpu_supports("avxvnni");
    for (int it = 0; it < 300; it++) {
        size_t kg = 1 + rnd() % 40, mr = 1 + rnd() % 8, nr = 1 + rnd() % 32, ldy = 40;
        int8_t *a = malloc(32 * kg);
        uint8_t *b = malloc(128 * kg);
        float y0[8 * 40], y1[8 * 40], want[8 * 40], mult[8];
        int32_t bias[8];
        assert_true(a && b);
        for (size_t i = 0; i < 32 * kg; i++)
            a[i] = (int8_t)(rnd() % 3 == 0 ? (rnd() % 2 ? 127 : -128) : (int)(rnd() % 256) - 128);
        for (size_t i = 0; i < 128 * kg; i++)
            b[i] = (uint8_t)(rnd() % 3 == 0 ? 255 : rnd() % 256);
        for (int r = 0; r < 8; r++) {
            bias[r] = (int32_t)(rnd() % 2000001) - 1000000;
            mult[r] = frand(1e-5f, 1e-3f);
        }
        for (size_t r = 0; r < 8; r++)
            for (size_t j = 0; j < 40; j++) {
                int64_t acc = bias[r];
                for (size_t g = 0; g < kg; g++)
                    for (int i = 0; i < 4; i++)
                        acc += (int64_t)b[g * 128 + j % 32 * 4 + i] * a[g * 32 + r * 4 + i];
                want[r * ldy + j] = r < mr && j < nr ? (float)acc * mult[r] : -7.f;
                y0[r * ldy + j] = y1[r * ldy + j] = -7.f; /* guard: untouched past the edge */
            }
        memcpy(y0, y1, sizeof y0);
        sk_qu8_qc8w_gemm_f32_8x32c4__avx2(mr, nr, kg, a, b, y0, ldy, bias, mult);
        assert_memory_equal(y0, want, sizeof want);
        if (avxvnni) {
            memcpy(y0, y1, sizeof y0);
            sk_qu8_qc8w_gemm_f32_8x32c4__avxvnni(mr, nr, kg, a, b, y0, ldy, bias, mult);
            assert_memory_equal(y0, want, sizeof want);
        }
        memcpy(y0, y1, sizeof y0);
        if (bw) {
            sk_qu8_qc8w_gemm_f32_8x32c4__avx512bw(mr, nr, kg, a, b, y0, ldy, bias, mult);
            assert_memory_equal(y0, want, sizeof want);
        }
        if (vnni) {
            sk_qu8_qc8w_gemm_f32_8x32c4__avx512vnni(mr, nr, kg, a, b, y1, ldy, bias, mult);
            assert_memory_equal(y1, want, sizeof want);
        }
        free(a);
        free(b);
    }
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_random),
        cmocka_unit_test(test_head_not_rewritten),
        cmocka_unit_test(test_head_nhwc_input),
        cmocka_unit_test(test_kernels_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
