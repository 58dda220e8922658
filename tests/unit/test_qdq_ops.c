/* test_qdq_ops.c — the QDQ glue of int8 graphs against the reference
 * kernels, bit for bit (issue 22):
 *   - the threaded SSE2 QuantizeLinear / DequantizeLinear / _QLut of
 *     kernels/fast_quant.c against ref/quant.c and ref/qfused.c, on
 *     values chosen to break a wrong rounding (exact .5 ties of x / scale,
 *     +-0, huge, infinite, NaN, subnormal), uint8 and int8, zero points at
 *     the type's ends, lengths around the 16-lane step and over several
 *     16K-element tasks, serial and on 3 threads, with guard bytes;
 *   - passes/qdq.c's DQ -> Concat -> Q rewrite (inputs with Q's own scale,
 *     with their own scale and only the Concat reading them, and with their
 *     own scale and a second reader), optimized and run on the fast kernels
 *     against the graph as loaded run at the scalar level (reference
 *     DequantizeLinear, Concat, QuantizeLinear);
 *   - the uint8 MaxPool of kernels/fast_qpool.c against ref/pool.c on
 *     random 2-D geometries (kernel, stride, dilation, pads, ceil_mode);
 *   - sk_u8_lut (the _QLut lookups; AVX-512 VBMI where the CPU has it, AVX2
 *     vpshufb since session 15)
 *     against table[x ^ flip] computed here, every length 0..300, in place
 *     and not, with guard bytes. */
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
#include "kernels/config.h"
#include "kernels/fast_ops.h"
#include "kernels/qgemm.h"
#include "kernels/ref/nn_util.h"
#include "threadpool.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 20);
}

static int val(sk_graph *g, const char *name)
{
    int id = sk_graph_value(g, name);
    assert_true(id >= 0);
    return id;
}

/* a one-node graph holding the Q / DQ node the kernels read attributes of */
static sk_graph *one_node(sk_op op)
{
    sk_graph *g = sk_graph_new();
    int in[3] = {val(g, "x"), val(g, "s"), val(g, "z")}, out = val(g, "y");
    assert_true(sk_graph_add_node(g, op, "q", 3, in, 1, &out) >= 0);
    g->nodes[0].opset = 19;
    return g;
}

/* float inputs that probe rounding and saturation at scale s */
static float probe(size_t i, float s)
{
    switch (rnd() % 8) {
    case 0: return ((float)((int)(rnd() % 1200) - 600) + 0.5f) * s; /* ties */
    case 1: return (float)((int)(rnd() % 600) - 300) * s;           /* exact */
    case 2: return (rnd() & 1 ? 1 : -1) * (float)(rnd() % 100000) * 1e3f;
    case 3: {
        const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f, -1e-40f, 3e38f};
        return sp[i % 8];
    }
    default: return ((float)(rnd() % 200001) / 100000.f - 1.f) * 300.f * s;
    }
}

static void test_quantize_dequantize(void **state)
{
    (void)state;
    if (sk_cpu_detected() == SK_ISA_SCALAR)
        skip();
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_detected());
    sk_pool *pool = sk_pool_create(3);
    sk_graph *gq = one_node(SK_OP_QUANTIZE_LINEAR), *gd = one_node(SK_OP_DEQUANTIZE_LINEAR);
    const size_t lens[] = {1, 15, 16, 17, 63, 1000, 16384, 16385, 70001};
    const float scales[] = {0.02f, 1.0f, 0.0037f, 7.5f};
    const int zps[2][3] = {{0, 128, 255}, {-128, 0, 127}};
    char err[256];
    for (int s8 = 0; s8 < 2; s8++)
        for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
            for (int zi = 0; zi < 3; zi++)
                for (int th = 0; th < 2; th++) {
                    size_t n = lens[li];
                    float sc = scales[(li + (size_t)zi) % 4];
                    sk_dtype qt = s8 ? SK_I8 : SK_U8;
                    uint8_t zb = (uint8_t)zps[s8][zi];
                    float *x = malloc(n * sizeof *x), *f1 = malloc((n + 8) * sizeof *f1),
                          *f2 = malloc((n + 8) * sizeof *f2);
                    uint8_t *q1 = malloc(n + 64), *q2 = malloc(n + 64);
                    assert_non_null(x);
                    assert_non_null(f1);
                    assert_non_null(f2);
                    assert_non_null(q1);
                    assert_non_null(q2);
                    for (size_t i = 0; i < n; i++)
                        x[i] = probe(i, sc);
                    memset(q1, 0xA5, n + 64);
                    memset(q2, 0xA5, n + 64);
                    sk_tensor tx = {SK_F32, {1, {(int64_t)n}}, x},
                              ts = {SK_F32, {0, {0}}, &sc}, tz = {qt, {0, {0}}, &zb};
                    const sk_tensor *in[3] = {&tx, &ts, &tz};
                    sk_tensor o1 = {qt, tx.shape, q1}, o2 = {qt, tx.shape, q2};
                    sk_kctx rc = {err, sizeof err, NULL, NULL, 0, NULL},
                            fc = {err, sizeof err, th ? pool : NULL, NULL, 0, kc};
                    assert_int_equal(sk_run_quantize_linear(&gq->nodes[0], in, 3, &o1, 1, &rc), 0);
                    assert_int_equal(sk_fast_run_quantize(&gq->nodes[0], in, 3, &o2, 1, &fc), 0);
                    for (size_t i = 0; i < n + 64; i++)
                        if (q1[i] != q2[i])
                            fail_msg("Q s8 %d n %zu zp %d scale %g: [%zu] x %.9g ref %d fast %d",
                                     s8, n, zps[s8][zi], (double)sc, i,
                                     i < n ? (double)x[i] : 0.0, q1[i], q2[i]);
                    /* DequantizeLinear of random bytes (every value appears) */
                    for (size_t i = 0; i < n; i++)
                        q1[i] = (uint8_t)rnd();
                    for (size_t i = n; i < n + 8; i++)
                        f1[i] = f2[i] = -7.0f; /* guards */
                    sk_tensor dx = {qt, {1, {(int64_t)n}}, q1};
                    const sk_tensor *din[3] = {&dx, &ts, &tz};
                    sk_tensor d1 = {SK_F32, dx.shape, f1}, d2 = {SK_F32, dx.shape, f2};
                    assert_int_equal(sk_run_dequantize_linear(&gd->nodes[0], din, 3, &d1, 1, &rc),
                                     0);
                    assert_int_equal(sk_fast_run_dequantize(&gd->nodes[0], din, 3, &d2, 1, &fc),
                                     0);
                    assert_memory_equal(f1, f2, (n + 8) * sizeof *f1);
                    free(x);
                    free(f1);
                    free(f2);
                    free(q1);
                    free(q2);
                }
    /* a zero scale: the reference's error, not a result */
    float zero = 0.0f, xv[4] = {1, 2, 3, 4};
    uint8_t zb = 0, y[4];
    sk_tensor tx = {SK_F32, {1, {4}}, xv}, ts = {SK_F32, {0, {0}}, &zero},
              tz = {SK_U8, {0, {0}}, &zb}, o = {SK_U8, {1, {4}}, y};
    const sk_tensor *in[3] = {&tx, &ts, &tz};
    sk_kctx fc = {err, sizeof err, pool, NULL, 0, kc};
    err[0] = 0;
    assert_true(sk_fast_run_quantize(&gq->nodes[0], in, 3, &o, 1, &fc) < 0);
    assert_true(err[0] != 0);
    sk_graph_free(gq);
    sk_graph_free(gd);
    sk_pool_destroy(pool);
}

/* ---- DQ -> Concat -> Q --------------------------------------------------- */

/* a: [N,3,5,6] u8, b: [N,4,5,6] u8, c: [N,2,5,6] u8 -> DQ each -> Concat
 * axis 1 -> Q -> "out"; b's DQ also feeds Relu -> Q -> "side". a has Q's
 * scale and zero point (plain copy), c its own (table in its DQ), b its
 * own and two readers (table in the Q node). */
static sk_graph *build_concat(void)
{
    sk_graph *g = sk_graph_new();
    const char *ins[3] = {"a", "b", "c"};
    const int64_t ch[3] = {3, 4, 2};
    for (int i = 0; i < 3; i++) {
        int id = val(g, ins[i]);
        g->values[id].dtype = SK_U8;
        g->values[id].shape = (sk_shape){4, {SK_DIM_SYMBOLIC, ch[i], 5, 6}};
        sk_graph_add_input(g, id);
    }
    struct { const char *s, *z; float sv; uint8_t zv; } qp[] = {
        {"sa", "za", 0.05f, 7}, {"sb", "zb", 0.031f, 140}, {"sc", "zc", 0.11f, 60},
        {"sq", "zq", 0.05f, 7}, {"sr", "zr", 0.02f, 0}};
    sk_shape one = {0, {0}};
    for (size_t i = 0; i < sizeof qp / sizeof *qp; i++) {
        assert_true(sk_graph_add_const(g, qp[i].s, SK_F32, &one, &qp[i].sv) >= 0);
        assert_true(sk_graph_add_const(g, qp[i].z, SK_U8, &one, &qp[i].zv) >= 0);
    }
#define V(name) val(g, name)
#define NODE(op, name, nin, in, out)                                                       \
    do {                                                                                   \
        int o_ = V(out);                                                                   \
        assert_true(sk_graph_add_node(g, op, name, nin, in, 1, &o_) >= 0);                \
        g->nodes[g->nnodes - 1].opset = 19;                                                \
    } while (0)
    int da[3] = {V("a"), V("sa"), V("za")}, db[3] = {V("b"), V("sb"), V("zb")},
        dc[3] = {V("c"), V("sc"), V("zc")};
    NODE(SK_OP_DEQUANTIZE_LINEAR, "dqa", 3, da, "af");
    NODE(SK_OP_DEQUANTIZE_LINEAR, "dqb", 3, db, "bf");
    NODE(SK_OP_DEQUANTIZE_LINEAR, "dqc", 3, dc, "cf");
    int cat[3] = {V("af"), V("bf"), V("cf")};
    NODE(SK_OP_CONCAT, "cat", 3, cat, "catf");
    sk_node_set_int(g, g->nnodes - 1, "axis", 1);
    int q[3] = {V("catf"), V("sq"), V("zq")};
    NODE(SK_OP_QUANTIZE_LINEAR, "qcat", 3, q, "out");
    int r[1] = {V("bf")};
    NODE(SK_OP_RELU, "relu", 1, r, "rf");
    int qr[3] = {V("rf"), V("sr"), V("zr")};
    NODE(SK_OP_QUANTIZE_LINEAR, "qr", 3, qr, "side");
#undef NODE
    sk_graph_add_output(g, V("out"));
    sk_graph_add_output(g, V("side"));
#undef V
    char err[256];
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

/* runs g on a, b, c (batch N); copies of both outputs */
static void run_concat(const sk_graph *g, sk_pool *pool, int N, uint8_t *const data[3],
                       uint8_t *out, uint8_t *side)
{
    char err[256];
    const int64_t ch[3] = {3, 4, 2};
    sk_tensor ins[3];
    for (int i = 0; i < 3; i++)
        ins[i] = (sk_tensor){SK_U8, {4, {N, ch[i], 5, 6}}, NULL};
    sk_plan *p;
    if (sk_plan_create(g, ins, pool, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    const void *d[3] = {data[0], data[1], data[2]};
    if (sk_plan_run(p, d, err, sizeof err))
        fail_msg("run: %s", err);
    const sk_tensor *y = sk_plan_output(p, 0), *s = sk_plan_output(p, 1);
    assert_int_equal(y->dtype, SK_U8);
    assert_int_equal(sk_shape_numel(&y->shape), N * 9 * 30);
    assert_int_equal(sk_shape_numel(&s->shape), N * 4 * 30);
    memcpy(out, y->data, (size_t)N * 9 * 30);
    memcpy(side, s->data, (size_t)N * 4 * 30);
    sk_plan_free(p);
}

static void test_concat_rewrite(void **state)
{
    (void)state;
    enum { N = 2 };
    uint8_t a[N * 3 * 30], b[N * 4 * 30], c[N * 2 * 30];
    for (size_t i = 0; i < sizeof a; i++)
        a[i] = (uint8_t)rnd();
    for (size_t i = 0; i < sizeof b; i++)
        b[i] = (uint8_t)i; /* every byte value */
    for (size_t i = 0; i < sizeof c; i++)
        c[i] = (uint8_t)(255 - i);
    uint8_t *data[3] = {a, b, c};
    uint8_t o1[N * 9 * 30], s1[N * 4 * 30], o2[N * 9 * 30], s2[N * 4 * 30];
    sk_isa top = sk_cpu_detected();
    sk_cpu_set_level(SK_ISA_SCALAR);
    sk_graph *ref = build_concat();
    run_concat(ref, NULL, N, data, o1, s1);
    sk_pool *pool = sk_pool_create(3);
    for (int L = SK_ISA_SCALAR; L <= (int)top; L++) {
        sk_cpu_set_level((sk_isa)L);
        sk_graph *g = build_concat();
        char err[256];
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("optimize: %s", err);
        /* Concat on the uint8 data: its Q gone, c's DQ and the Q node now
         * tables, b's DQ kept for the Relu */
        assert_int_equal(count_op(g, SK_OP_CONCAT), 1);
        assert_int_equal(count_op(g, SK_OP_QLUT), 2);
        assert_int_equal(count_op(g, SK_OP_DEQUANTIZE_LINEAR), 1);
        assert_int_equal(count_op(g, SK_OP_QUANTIZE_LINEAR), 1);
        for (int th = 0; th < 2; th++) {
            memset(o2, 0, sizeof o2);
            run_concat(g, th ? pool : NULL, N, data, o2, s2);
            assert_memory_equal(o1, o2, sizeof o1);
            assert_memory_equal(s1, s2, sizeof s1);
        }
        sk_graph_free(g);
    }
    sk_cpu_set_level(top);
    sk_graph_free(ref);
    sk_pool_destroy(pool);
}

/* ---- uint8 MaxPool ------------------------------------------------------ */

static void test_max_pool_u8(void **state)
{
    (void)state;
    if (sk_cpu_detected() == SK_ISA_SCALAR)
        skip();
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_detected());
    sk_pool *pool = sk_pool_create(3);
    char err[256];
    int fast_cases = 0;
    for (int it = 0; it < 300; it++) {
        sk_graph *g = sk_graph_new();
        int x = val(g, "x"), y = val(g, "y");
        assert_true(sk_graph_add_node(g, SK_OP_MAX_POOL, "pool", 1, &x, 1, &y) >= 0);
        int64_t k[2] = {1 + rnd() % 4, 1 + rnd() % 4}, st[2] = {1 + rnd() % 3, 1 + rnd() % 3},
                dl[2] = {1 + rnd() % 2, 1 + rnd() % 2}, pads[4];
        for (int i = 0; i < 4; i++) /* pads < kernel; sometimes not (the reference's case) */
            pads[i] = (int64_t)(rnd() % (uint32_t)(k[i % 2] + (it % 10 == 0)));
        sk_node_set_ints(g, 0, "kernel_shape", k, 2);
        sk_node_set_ints(g, 0, "strides", st, 2);
        sk_node_set_ints(g, 0, "dilations", dl, 2);
        sk_node_set_ints(g, 0, "pads", pads, 4);
        sk_node_set_int(g, 0, "ceil_mode", rnd() % 2);
        if (it % 3 == 0) { /* the 16-window stride-2 loop: 3x3 / 2x2, no dilation */
            k[1] = 2 + rnd() % 2;
            st[1] = 2;
            dl[1] = 1;
            pads[1] = (int64_t)(rnd() % (uint32_t)k[1]);
            pads[3] = (int64_t)(rnd() % (uint32_t)k[1]);
            sk_node_set_ints(g, 0, "kernel_shape", k, 2);
            sk_node_set_ints(g, 0, "strides", st, 2);
            sk_node_set_ints(g, 0, "dilations", dl, 2);
            sk_node_set_ints(g, 0, "pads", pads, 4);
        }
        int64_t N = 1 + rnd() % 2, C = 1 + rnd() % 3, H = 1 + rnd() % 20, W = 1 + rnd() % 90;
        size_t nx = (size_t)(N * C * H * W);
        uint8_t *xd = malloc(nx);
        assert_non_null(xd);
        for (size_t i = 0; i < nx; i++)
            xd[i] = (uint8_t)rnd();
        sk_tensor tx = {SK_U8, {4, {N, C, H, W}}, xd}, o1 = {0}, o2 = {0};
        const sk_tensor *in[1] = {&tx};
        sk_kctx rc = {err, sizeof err, NULL, NULL, 0, NULL};
        if (sk_infer_max_pool(&g->nodes[0], in, 1, &o1, 1, &rc)) { /* a geometry ONNX refuses */
            free(xd);
            sk_graph_free(g);
            continue;
        }
        o2 = o1;
        size_t ny = (size_t)sk_shape_numel(&o1.shape);
        o1.data = malloc(ny + 32);
        o2.data = malloc(ny + 32);
        assert_non_null(o1.data);
        assert_non_null(o2.data);
        memset(o1.data, 0x5A, ny + 32);
        memset(o2.data, 0x5A, ny + 32);
        size_t bytes = 0;
        fast_cases += sk_fast_plan_max_pool_u8(&g->nodes[0], in, 1, 1, 3, &bytes);
        size_t ref_bytes = sk_ref_nn_scratch(&g->nodes[0], in, 1, &o1, 1, 3);
        if (ref_bytes > bytes)
            bytes = ref_bytes;
        void *scratch = malloc(bytes + 64);
        assert_non_null(scratch);
        sk_kctx fc = {err, sizeof err, it % 2 ? pool : NULL, scratch, bytes, kc};
        assert_int_equal(sk_run_max_pool(&g->nodes[0], in, 1, &o1, 1, &rc), 0);
        assert_int_equal(sk_fast_run_max_pool(&g->nodes[0], in, 1, &o2, 1, &fc), 0);
        if (memcmp(o1.data, o2.data, ny + 32))
            fail_msg("MaxPool u8 case %d: k %lldx%lld s %lldx%lld d %lldx%lld on %lldx%lld", it,
                     (long long)k[0], (long long)k[1], (long long)st[0], (long long)st[1],
                     (long long)dl[0], (long long)dl[1], (long long)H, (long long)W);
        free(scratch);
        free(o1.data);
        free(o2.data);
        free(xd);
        sk_graph_free(g);
    }
    assert_true(fast_cases > 150); /* most cases took the fast path */
    sk_pool_destroy(pool);
}

/* ---- 256-entry table lookups ------------------------------------------------ */

static void test_u8_lut(void **state)
{
    (void)state;
    uint8_t lut[256], x[300 + 64], y[300 + 64], z[300 + 64];
    for (int i = 0; i < 256; i++)
        lut[i] = (uint8_t)(rnd() ^ (unsigned)i * 37u);
    const sk_qgemm_cfg *q512 = sk_qgemm_config(SK_ISA_AVX512),
                       *q256 = sk_qgemm_config(SK_ISA_AVX2);
    int vbmi = q512 && q512->lut_mode == SK_LUT_VBMI;
    /* session 15: the AVX2 vpshufb loop, which config.c picks at the AVX2
     * level (and at AVX-512 without VBMI) */
    int avx2 = q256 && q256->lut_mode == SK_LUT_AVX2;
    if (!vbmi)
        print_message("sk_u8_lut: no AVX-512 VBMI here\n");
    if (!avx2)
        print_message("sk_u8_lut: no AVX2 table loop here (SKIPSERVE_LUT_AVX2=0 or no AVX2)\n");
    for (int v = 0; v <= SK_LUT_AVX2; v++)
        for (int flip = 0; flip < 2; flip++)
            for (size_t n = 0; n <= 300; n++) {
                if ((v == 1 && !vbmi) || (v == SK_LUT_AVX2 && !avx2))
                    continue;
                uint8_t f = flip ? 0x80 : 0;
                for (size_t i = 0; i < sizeof x; i++)
                    x[i] = (uint8_t)(i < 256 ? i : rnd()); /* every index */
                memset(y, 0xC3, sizeof y);
                sk_u8_lut(v, lut, f, x, y, n);
                for (size_t i = 0; i < sizeof y; i++)
                    assert_int_equal(y[i], i < n ? lut[x[i] ^ f] : 0xC3);
                memcpy(z, x, sizeof z); /* in place, as the conv epilogue runs it */
                sk_u8_lut(v, lut, f, z, z, n);
                for (size_t i = 0; i < sizeof z; i++)
                    assert_int_equal(z[i], i < n ? lut[x[i] ^ f] : x[i]);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantize_dequantize),
        cmocka_unit_test(test_concat_rewrite),
        cmocka_unit_test(test_max_pool_u8),
        cmocka_unit_test(test_u8_lut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
