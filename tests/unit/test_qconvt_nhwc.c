/* test_qconvt_nhwc.c — _QConvTranspose on channels-last values (issue 22,
 * session 14: kernels/fast_qconvt.c's NHWC form, passes/qlayout.c joining
 * it to the int8 convs' NHWC region), on random shapes: the chain
 *   x -> QLinearConv 3x3 (C0 -> C) -> _QConvTranspose (k = s = 2 or 3,
 *        C -> M) -> QLinearConv 3x3 (M -> M2) -> y
 * at every SIMD level, 1 and 3 threads, bit for bit against the scalar
 * level (the reference kernels, NCHW everywhere), and the up-conv must
 * have taken the NHWC form where the level has the NHWC int8 conv (M and
 * the row width off the tile sizes, batches, uint8 zero points). */
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
#include "kernels/fast_qconvt.h"
#include "threadpool.h"

#define QT_RNG_SEED 0x853c49e6748fea9bull
#include "qgraph_testutil.h"

typedef struct ch_case {
    int64_t C0, C, M, M2, H, W, k;
    int8_t *w0, *wt, *w2; /* [C][C0][3][3], [C][M][k][k], [M2][M][3][3] */
    int32_t *b0, *bt, *b2;
    float s[4], ws[3]; /* value scales x, y1, y2, y; weight scales */
    uint8_t z[4];
} ch_case;

/* a QLinearConv / _QConvTranspose node with per-tensor parameters */
static int qnode(sk_graph *g, sk_op op, const char *name, int x, int xs, int xz, int w, float wsc,
                 int ys, int yz, int b, int y)
{
    sk_shape one = {0, {0}};
    int8_t z0 = 0;
    char nm[32];
    snprintf(nm, sizeof nm, "%s_ws", name);
    int cws = sk_graph_add_const(g, nm, SK_F32, &one, &wsc);
    snprintf(nm, sizeof nm, "%s_wz", name);
    int cwz = sk_graph_add_const(g, nm, SK_I8, &one, &z0);
    int in[9] = {x, xs, xz, w, cws, cwz, ys, yz, b};
    int ni = sk_graph_add_node(g, op, name, 9, in, 1, &y);
    assert_true(ni >= 0);
    return ni;
}

static sk_graph *ch_graph(const ch_case *c)
{
    sk_graph *g = sk_graph_new();
    int x = val(g, "x");
    g->values[x].dtype = SK_U8;
    g->values[x].shape = (sk_shape){4, {SK_DIM_SYMBOLIC, c->C0, c->H, c->W}};
    sk_graph_add_input(g, x);
    sk_shape one = {0, {0}}, sw0 = {4, {c->C, c->C0, 3, 3}}, swt = {4, {c->C, c->M, c->k, c->k}},
             sw2 = {4, {c->M2, c->M, 3, 3}}, sb0 = {1, {c->C}}, sbt = {1, {c->M}},
             sb2 = {1, {c->M2}};
    int cs[4], cz[4];
    for (int i = 0; i < 4; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "s%d", i);
        cs[i] = sk_graph_add_const(g, nm, SK_F32, &one, &c->s[i]);
        snprintf(nm, sizeof nm, "z%d", i);
        cz[i] = sk_graph_add_const(g, nm, SK_U8, &one, &c->z[i]);
    }
    int w0 = sk_graph_add_const(g, "w0", SK_I8, &sw0, c->w0),
        wt = sk_graph_add_const(g, "wt", SK_I8, &swt, c->wt),
        w2 = sk_graph_add_const(g, "w2", SK_I8, &sw2, c->w2),
        b0 = sk_graph_add_const(g, "b0", SK_I32, &sb0, c->b0),
        bt = sk_graph_add_const(g, "bt", SK_I32, &sbt, c->bt),
        b2 = sk_graph_add_const(g, "b2", SK_I32, &sb2, c->b2);
    int y1 = val(g, "y1"), y2 = val(g, "y2"), y = val(g, "y");
    int64_t k3[2] = {3, 3}, p1[4] = {1, 1, 1, 1}, kk[2] = {c->k, c->k};
    int n0 = qnode(g, SK_OP_QLINEAR_CONV, "c0", x, cs[0], cz[0], w0, c->ws[0], cs[1], cz[1], b0,
                   y1);
    sk_node_set_ints(g, n0, "kernel_shape", k3, 2);
    sk_node_set_ints(g, n0, "pads", p1, 4);
    int nt = qnode(g, SK_OP_QCONV_TRANSPOSE, "up", y1, cs[1], cz[1], wt, c->ws[1], cs[2], cz[2],
                   bt, y2);
    sk_node_set_ints(g, nt, "kernel_shape", kk, 2);
    sk_node_set_ints(g, nt, "strides", kk, 2);
    int n2 = qnode(g, SK_OP_QLINEAR_CONV, "c2", y2, cs[2], cz[2], w2, c->ws[2], cs[3], cz[3], b2,
                   y);
    sk_node_set_ints(g, n2, "kernel_shape", k3, 2);
    sk_node_set_ints(g, n2, "pads", p1, 4);
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i].opset = 19;
    sk_graph_add_output(g, y);
    char err[256];
    if (sk_graph_validate(g, err, sizeof err))
        fail_msg("validate: %s", err);
    return g;
}

static int8_t *rw(size_t n)
{
    int8_t *w = malloc(n);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        w[i] = (int8_t)(rnd() % 4 == 0 ? (rnd() % 2 ? 127 : -128) : (int)(rnd() % 256) - 128);
    return w;
}

static int32_t *rb(size_t n)
{
    int32_t *b = malloc(n * sizeof *b);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (int32_t)(rnd() % 4001) - 2000;
    return b;
}

static void test_convt_nhwc_chain(void **state)
{
    (void)state;
    sk_isa top = sk_cpu_detected();
    sk_pool *pool = sk_pool_create(3);
    char err[256];
    int nhwc_seen = 0;
    for (int it = 0; it < 30; it++) {
        ch_case c;
        c.C0 = 4 + rnd() % 8;
        c.C = 4 * (1 + rnd() % 12);
        c.M = 1 + rnd() % 40;
        c.M2 = 1 + rnd() % 20;
        c.H = 1 + rnd() % 6;
        c.W = 1 + rnd() % 21;
        c.k = 2 + rnd() % 2;
        c.w0 = rw((size_t)(c.C * c.C0 * 9));
        c.wt = rw((size_t)(c.C * c.M * c.k * c.k));
        c.w2 = rw((size_t)(c.M2 * c.M * 9));
        c.b0 = rb((size_t)c.C);
        c.bt = rb((size_t)c.M);
        c.b2 = rb((size_t)c.M2);
        /* scales near each sum's spread, so the values span their range */
        c.s[0] = 0.02f;
        c.ws[0] = c.ws[1] = c.ws[2] = 0.004f;
        c.s[1] = c.s[0] * 0.004f * 60.f * sqrtf((float)(c.C0 * 9));
        c.s[2] = c.s[1] * 0.004f * 60.f * sqrtf((float)c.C);
        c.s[3] = c.s[2] * 0.004f * 60.f * sqrtf((float)(c.M * 9));
        for (int i = 0; i < 4; i++)
            c.z[i] = (uint8_t)(rnd() % 256);
        int64_t N = 1 + rnd() % 3, OH = c.H * c.k, OW = c.W * c.k;
        size_t nx = (size_t)(N * c.C0 * c.H * c.W), ny = (size_t)(N * c.M2 * OH * OW);
        uint8_t *x = malloc(nx), *want = malloc(ny), *got = malloc(ny);
        assert_true(x && want && got);
        for (size_t i = 0; i < nx; i++)
            x[i] = (uint8_t)rnd();
        sk_tensor tx = {SK_U8, {4, {N, c.C0, c.H, c.W}}, x};
        sk_cpu_set_level(SK_ISA_SCALAR);
        sk_graph *g = ch_graph(&c);
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        run1(g, NULL, &tx, want, ny);
        sk_graph_free(g);
        for (int L = SK_ISA_SCALAR + 1; L <= (int)top; L++) {
            sk_cpu_set_level((sk_isa)L);
            g = ch_graph(&c);
            if (sk_graph_optimize(g, 1, err, sizeof err))
                fail_msg("optimize: %s", err);
            for (int i = 0; i < g->nnodes; i++)
                if (g->nodes[i].op == SK_OP_QCONV_TRANSPOSE && g->nodes[i].priv &&
                    ((const sk_qconvt_priv *)g->nodes[i].priv)->nhwc)
                    nhwc_seen++;
            for (int th = 0; th < 2; th++) {
                memset(got, 0xA5, ny);
                run1(g, th ? pool : NULL, &tx, got, ny);
                if (memcmp(got, want, ny))
                    for (size_t i = 0; i < ny; i++)
                        if (got[i] != want[i])
                            fail_msg("case %d level %d th %d: N%lld C0 %lld C %lld M %lld M2 %lld "
                                     "%lldx%lld k%lld: [%zu] %d want %d",
                                     it, L, th, (long long)N, (long long)c.C0, (long long)c.C,
                                     (long long)c.M, (long long)c.M2, (long long)c.H,
                                     (long long)c.W, (long long)c.k, i, got[i], want[i]);
            }
            sk_graph_free(g);
        }
        free(x);
        free(want);
        free(got);
        free(c.w0);
        free(c.wt);
        free(c.w2);
        free(c.b0);
        free(c.bt);
        free(c.b2);
    }
    sk_cpu_set_level(top);
    const sk_kconfig *kc = sk_kconfig_for(top);
    const char *e = getenv("SKIPSERVE_INT8_CONVT_NHWC");
    if (kc && kc->qigemm.uk && sk_qconvt_pays(kc) && !(e && strcmp(e, "0") == 0))
        assert_true(nhwc_seen > 0);
    sk_pool_destroy(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convt_nhwc_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
