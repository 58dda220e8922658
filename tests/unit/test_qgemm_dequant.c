/* test_qgemm_dequant.c — a QDQ model's classifier head, DQ(x) -> Gemm(DQ(w
 * int8), bias?) -> float logits, as _QConvDequant in its Gemm form
 * (passes/qdq_head.c rewrite_gemm, kernels/fast_qconv_dequant.c qcdg_run;
 * issue 22, session 14, branch qgm), on random shapes:
 *   1. bit for bit against the integer semantics computed here element by
 *      element (int64 sum + int32 bias, (float)acc * (x_scale * w_scale[m]))
 *      at every level the CPU has, on 1 and 3 threads: transB 1 and 0,
 *      int8 / uint8 x, per-tensor / per-channel w, no bias, an int32 DQ
 *      bias, a float bias of exact multiples of the scale; batches 1-3
 *      (the VNNI GEMV kernel: M % 32 and M % 8 edges) and rows past 32
 *      (two GEMM panels);
 *   2. within the float sum's rounding of the QDQ graph left in float
 *      (SKIPSERVE_QDQ_HEAD=0, scalar level) — the reference ORT's QDQ
 *      Gemm is defined by (DequantizeLinear, then a float Gemm);
 *   (session 15: alpha != 1 too — 0.25, random, negative — folded into the
 *   multiplier, with beta == alpha when there is a bias);
 *   3. not rewritten: alpha != beta with a bias, transA, a float bias that is no multiple
 *      of the scale, a [N, M] bias, asymmetric weights, and K % 4 != 0 at
 *      the AVX-512 level (the kernel gathers 4-byte groups);
 *   4. the kernel called directly writes exactly y [N, M]: guard cells
 *      after it stay. */
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

enum { B_NONE, B_INT32, B_FLOAT, B_FLOAT_INEXACT, B_ROWS };

typedef struct gm_case {
    int64_t N, K, M;
    int x_s8, perch, tb, bias, wzp;
    float alpha, beta;
    int transA;
    float xs, *ws;
    int32_t xz;
    int8_t *w;  /* [M][K] (the test's layout; the graph's is [K][M] when !tb) */
    int32_t *b; /* [M] */
} gm_case;

static sk_graph *gm_graph(const gm_case *c)
{
    sk_graph *g = sk_graph_new();
    sk_dtype xt = c->x_s8 ? SK_I8 : SK_U8;
    int x = val(g, "x");
    g->values[x].dtype = xt;
    g->values[x].shape = (sk_shape){2, {SK_DIM_SYMBOLIC, c->K}};
    sk_graph_add_input(g, x);
    int64_t M = c->M, K = c->K;
    sk_shape one = {0, {0}}, sm = {1, {M}}, sw = c->tb ? (sk_shape){2, {M, K}}
                                                       : (sk_shape){2, {K, M}};
    int8_t xz8 = (int8_t)c->xz, *wg = malloc((size_t)(M * K)), *wz = calloc((size_t)M, 1);
    float *bs = malloc((size_t)M * 4), *bf = malloc((size_t)(M * 3) * 4);
    assert_true(wg && wz && bs && bf);
    for (int64_t m = 0; m < M; m++) {
        for (int64_t k = 0; k < K; k++)
            wg[c->tb ? m * K + k : k * M + m] = c->w[m * K + k];
        bs[m] = c->xs * c->ws[c->perch ? m : 0];
        wz[m] = (int8_t)(c->wzp ? 3 : 0);
        bf[m] = (float)c->b[m] * bs[m];
        if (c->bias == B_FLOAT_INEXACT)
            bf[m] += bs[m] * 0.37f; /* no multiple of the scale */
        bf[M + m] = bf[2 * M + m] = bf[m];
    }
    int cxs = sk_graph_add_const(g, "xs", SK_F32, &one, &c->xs);
    int cxz = sk_graph_add_const(g, "xz", xt, &one, &xz8);
    int cw = sk_graph_add_const(g, "w", SK_I8, &sw, wg);
    int cws = sk_graph_add_const(g, "ws", SK_F32, c->perch ? &sm : &one, c->ws);
    int cwz = sk_graph_add_const(g, "wz", SK_I8, c->perch ? &sm : &one, wz);
    int dx[3] = {x, cxs, cxz}, dw[3] = {cw, cws, cwz};
    int xf = val(g, "xf"), wf = val(g, "wf"), y = val(g, "y"), bv = -1;
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqx", 3, dx, 1, &xf) >= 0);
    assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqw", 3, dw, 1, &wf) >= 0);
    sk_node_set_int(g, g->nnodes - 1, "axis", c->tb ? 0 : 1);
    if (c->bias == B_INT32) {
        int cb = sk_graph_add_const(g, "b", SK_I32, &sm, c->b);
        int cbs = sk_graph_add_const(g, "bs", SK_F32, c->perch ? &sm : &one, bs);
        int db[2] = {cb, cbs};
        bv = val(g, "bf");
        assert_true(sk_graph_add_node(g, SK_OP_DEQUANTIZE_LINEAR, "dqb", 2, db, 1, &bv) >= 0);
        sk_node_set_int(g, g->nnodes - 1, "axis", 0);
    } else if (c->bias == B_FLOAT || c->bias == B_FLOAT_INEXACT) {
        sk_shape s1m = {2, {1, M}}; /* [1, M]: broadcast over the rows */
        bv = sk_graph_add_const(g, "bias", SK_F32, rnd() % 2 ? &sm : &s1m, bf);
    } else if (c->bias == B_ROWS) { /* [3, M]: a bias per row, with N = 3 */
        sk_shape s3m = {2, {3, M}};
        bv = sk_graph_add_const(g, "bias", SK_F32, &s3m, bf);
    }
    int gi[3] = {xf, wf, bv};
    int ni = sk_graph_add_node(g, SK_OP_GEMM, "fc", bv >= 0 ? 3 : 2, gi, 1, &y);
    assert_true(ni >= 0);
    sk_node_set_int(g, ni, "transB", c->tb);
    if (c->transA)
        sk_node_set_int(g, ni, "transA", 1);
    sk_node_set_float(g, ni, "alpha", c->alpha);
    sk_node_set_float(g, ni, "beta", c->beta);
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i].opset = 19;
    sk_graph_add_output(g, y);
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    free(wg);
    free(wz);
    free(bs);
    free(bf);
    return g;
}

static int32_t ld8(const uint8_t *p, size_t i, int s8) { return s8 ? (int8_t)p[i] : p[i]; }

/* the integer semantics, and the float graph's error bound: (K + 4)
 * roundings of terms of at most absum */
static void gm_expect(const gm_case *c, const uint8_t *x, float *y, float *tol)
{
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t m = 0; m < c->M; m++) {
            float s = c->xs * c->ws[c->perch ? m : 0] * c->alpha;
            int hasb = c->bias != B_NONE;
            int64_t acc = hasb ? c->b[m] : 0, abs = hasb ? llabs(c->b[m]) : 0;
            for (int64_t k = 0; k < c->K; k++) {
                int64_t t = (int64_t)(ld8(x, (size_t)(n * c->K + k), c->x_s8) - c->xz) *
                            c->w[m * c->K + k];
                acc += t;
                abs += t < 0 ? -t : t;
            }
            y[n * c->M + m] = (float)acc * s;
            tol[n * c->M + m] = (float)(c->K + 5) * 1.2e-7f * (float)abs * fabsf(s);
        }
}

static void gm_random(gm_case *c, int64_t kmax)
{
    memset(c, 0, sizeof *c);
    /* half at batch 1-3 (the GEMV kernel where the CPU has VNNI), half up
     * to past one 32-row panel (the GEMM kernel) */
    c->N = rnd() % 2 ? 1 + rnd() % 3 : 1 + rnd() % 40;
    c->K = 4 * (1 + rnd() % (kmax / 4));
    c->M = 1 + rnd() % 90;
    c->x_s8 = rnd() % 2;
    c->perch = rnd() % 2;
    c->tb = rnd() % 2;
    c->bias = (int)(rnd() % 3); /* none, int32 DQ, float exact */
    c->alpha = c->beta = 1.f;
    /* session 15: alpha folded into the multiplier (beta == alpha with a
     * bias, the form the pass takes), a power of two or not, or negative */
    int ak = (int)(rnd() % 6);
    if (ak >= 3)
        c->alpha = c->beta = ak == 3 ? 0.25f : ak == 4 ? frand(0.3f, 3.f) : -frand(0.3f, 3.f);
    c->xs = frand(0.005f, 0.05f);
    c->xz = c->x_s8 ? (int32_t)(rnd() % 40) - 20 : (int32_t)(rnd() % 256);
    c->ws = malloc((size_t)c->M * 4);
    c->w = malloc((size_t)(c->M * c->K));
    c->b = malloc((size_t)c->M * 4);
    assert_true(c->ws && c->w && c->b);
    for (int64_t m = 0; m < c->M; m++) {
        c->ws[m] = frand(0.001f, 0.02f);
        c->b[m] = (int32_t)(rnd() % 200001) - 100000;
    }
    for (int64_t i = 0; i < c->M * c->K; i++)
        c->w[i] = (int8_t)(rnd() % 4 == 0 ? (rnd() % 2 ? 127 : -128) : (int)(rnd() % 256) - 128);
}

static void gm_free(gm_case *c)
{
    free(c->ws);
    free(c->w);
    free(c->b);
}

static void test_gemm_random(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    sk_pool *pool = sk_pool_create(3);
    char err[256];
    int packed = 0;
    for (int it = 0; it < 50; it++) {
        gm_case c;
        gm_random(&c, it < 4 ? 2100 : 300); /* a few the size of ResNet-50's fc */
        size_t nx = (size_t)(c.N * c.K), ny = (size_t)(c.N * c.M);
        uint8_t *x = malloc(nx);
        float *want = malloc(ny * 4), *tol = malloc(ny * 4), *got = malloc(ny * 4);
        assert_true(x && want && tol && got);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint8_t)(rnd() % 5 == 0 ? (rnd() % 2 ? 255 : 0) : rnd());
        sk_tensor tx = {c.x_s8 ? SK_I8 : SK_U8, {2, {c.N, c.K}}, x};
        gm_expect(&c, x, want, tol);
        /* the QDQ graph left in float (the reference's definition) */
        qt_check_float_head(gm_graph(&c), &tx, got, want, tol, ny, it);
        for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            sk_graph *g = gm_graph(&c);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            int fits = sk_qgemmdq_fits(sk_kconfig_for((sk_isa)L), c.K);
            assert_int_equal(count_op(g, SK_OP_QCONV_DEQUANT), fits);
            assert_int_equal(count_op(g, SK_OP_GEMM) + count_op(g, SK_OP_GEMM_FUSED), !fits);
            if (fits && L > SK_ISA_SCALAR) {
                assert_non_null(find_op(g, SK_OP_QCONV_DEQUANT)->priv);
                packed++;
            }
            for (int th = 0; th < 2; th++) {
                for (size_t i = 0; i < ny; i++)
                    got[i] = -12345.f;
                run1(g, th ? pool : NULL, &tx, got, ny);
                for (size_t i = 0; i < ny; i++) {
                    int ok = fits ? memcmp(&got[i], &want[i], 4) == 0
                                  : fabsf(got[i] - want[i]) <= tol[i];
                    if (!ok)
                        fail_msg("case %d level %d th %d: N%lld K%lld M%lld s8 %d perch %d "
                                 "tb %d bias %d: [%zu] %.9g want %.9g",
                                 it, L, th, (long long)c.N, (long long)c.K, (long long)c.M,
                                 c.x_s8, c.perch, c.tb, c.bias, i, got[i], want[i]);
                }
            }
            sk_graph_free(g);
        }
        free(x);
        free(want);
        free(tol);
        free(got);
        gm_free(&c);
    }
    sk_cpu_set_level(top);
    if (sk_qconvdq_pays(sk_kconfig_for(top)) && top > SK_ISA_SCALAR)
        assert_true(packed > 0);
    sk_pool_destroy(pool);
}

/* forms outside the pattern stay a float Gemm, at every level */
static void test_gemm_not_rewritten(void **state)
{
    (void)state;
    char err[256];
    sk_isa top = sk_cpu_detected();
    for (int form = 0; form < 6; form++)
        for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            gm_case c;
            gm_random(&c, 64);
            if (form == 0) { /* alpha != beta with a bias: not one multiplier */
                c.alpha = 0.5f;
                c.beta = 1.f;
                c.bias = B_INT32;
            }
            else if (form == 1)
                c.transA = 1;
            else if (form == 2)
                c.bias = B_FLOAT_INEXACT;
            else if (form == 3)
                c.bias = B_ROWS;
            else if (form == 4)
                c.wzp = 1; /* asymmetric weights */
            else {
                c.K = 4 * c.K + 2; /* K % 4 != 0: only the scalar level rewrites */
                free(c.w);
                c.w = calloc((size_t)(c.M * c.K), 1);
            }
            sk_graph *g = gm_graph(&c);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            int want = form == 5 && L == SK_ISA_SCALAR;
            if (count_op(g, SK_OP_QCONV_DEQUANT) != want)
                fail_msg("form %d level %d: rewritten %d, want %d", form, L,
                         count_op(g, SK_OP_QCONV_DEQUANT), want);
            sk_graph_free(g);
            gm_free(&c);
        }
    sk_cpu_set_level(top);
}

/* the packed kernel on its own: y [N, M] written, nothing after it */
static void test_gemm_guard(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    const sk_kconfig *kc = sk_kconfig_for(top);
    if (!kc || !sk_qconvdq_pays(kc)) {
        skip();
        return;
    }
    sk_cpu_set_level(top);
    char err[256];
    sk_pool *pool = sk_pool_create(3);
    for (int it = 0; it < 8; it++) {
        gm_case c;
        gm_random(&c, 600);
        c.tb = 1;
        sk_graph *g = gm_graph(&c);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        sk_node *n = NULL;
        for (int i = 0; i < g->nnodes; i++)
            if (g->nodes[i].op == SK_OP_QCONV_DEQUANT)
                n = &g->nodes[i];
        assert_non_null(n);
        assert_non_null(n->priv);
        size_t nx = (size_t)(c.N * c.K), ny = (size_t)(c.N * c.M);
        uint8_t *x = malloc(nx);
        float *want = malloc(ny * 4), *tol = malloc(ny * 4), *y = malloc((ny + 64) * 4);
        assert_true(x && want && tol && y);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint8_t)rnd();
        gm_expect(&c, x, want, tol);
        for (size_t i = 0; i < ny + 64; i++)
            y[i] = -777.f;
        const sk_tensor *in[7] = {0};
        sk_tensor tv[7] = {{c.x_s8 ? SK_I8 : SK_U8, {2, {c.N, c.K}}, x}};
        in[0] = &tv[0];
        for (int k = 1; k < n->nin; k++)
            if (n->in[k] >= 0) { /* the constants as tensors (w may be released) */
                const sk_value *v = &g->values[n->in[k]];
                tv[k] = (sk_tensor){v->dtype, v->shape, v->data};
                in[k] = &tv[k];
            }
        sk_tensor out = {SK_F32, {2, {c.N, c.M}}, y};
        /* the scratch the plan would give it (sk_dispatch_scratch), exactly */
        size_t sb = sk_dispatch_scratch(n, in, n->nin, &out, 1, 3);
        void *scratch = sb ? malloc(sb) : NULL;
        assert_true(!sb || scratch);
        sk_kctx ctx = {.err = err, .errlen = sizeof err, .pool = it % 2 ? pool : NULL, .kcfg = kc,
                       .scratch = scratch, .scratch_bytes = sb};
        if (sk_fast_run_qconvdq(n, in, n->nin, &out, 1, &ctx))
            fail_msg("run: %s", err);
        free(scratch);
        assert_memory_equal(y, want, ny * 4);
        for (size_t i = ny; i < ny + 64; i++)
            assert_true(y[i] == -777.f);
        free(x);
        free(want);
        free(tol);
        free(y);
        sk_graph_free(g);
        gm_free(&c);
    }
    sk_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_random),
        cmocka_unit_test(test_gemm_not_rewritten),
        cmocka_unit_test(test_gemm_guard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
