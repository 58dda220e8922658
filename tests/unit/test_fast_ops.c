/* test_fast_ops.c — every fast non-conv kernel (engine/kernels/fast_ops.h)
 * against its reference kernel (engine/kernels/ref/), at every ISA level the
 * CPU has (forced with sk_cpu_set_level), serially and on a 3-thread pool,
 * on randomized shapes: odd sizes, vector tails, channels not a multiple of
 * 8 / 16, broadcasts, strides, pads, dilations, ceil_mode, groups, every
 * Resize coordinate mode. Cases the fast path does not cover must be
 * refused by sk_dispatch_ops (given shapes) and still give the reference's
 * result through the fast kernel's fallback. A covered run must not call
 * malloc. The vector exp / erf / tanh / sigmoid are swept against libm.
 * Tolerances: exact for data movement, max, Relu/Clip and IEEE
 * Add/Sub/Mul/Div; a few float ulps for the math kernels; for sums of K
 * products (MatMul, ConvTranspose), the K-term forward error bound
 * 2 K eps sum|a b|, with sum|a b| from the reference run on |inputs|.
 * test_fast_ops_bench prints the speed-ups. */
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

#include "fast_ops_testutil.h"

/* ---- vector math vs libm --------------------------------------------------------- */

static float sigmoid_ref(float x)
{
    return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

static void test_math_accuracy(void **state)
{
    (void)state;
    enum { N = 1 << 19 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, 1e-30f, -1e-30f, 0.875f, -0.875f,
                             0.625f, 4.0f, 9.0f, 87.0f, -87.5f, -100.0f, FLT_MIN, 3e38f};
    size_t ns = sizeof special / sizeof special[0];
    for (size_t i = 0; i < N; i++) {
        if (i < ns)
            x[i] = special[i];
        else if (i % 2)
            x[i] = -12.0f + 24.0f * (float)i / N;
        else
            x[i] = (rnd() & 1 ? -1.0f : 1.0f) *
                   powf(10.0f, -30.0f + 32.0f * (float)(rnd() % 100000) / 100000.0f);
    }
    for (int L = SK_ISA_AVX2; L <= (int)sk_cpu_detected(); L++) {
        const sk_fast_uk *uk = sk_fast_uk_for((sk_isa)L);
        assert_non_null(uk);
        for (int f = 0; f < 4; f++) {
            double worst = 0;
            size_t wi = 0;
            if (f == 0)
                uk->verf(N, x, y);
            else if (f == 1)
                uk->vtanh(N, x, y);
            else if (f == 2)
                uk->vsigmoid(N, x, y);
            else
                uk->vexpsub_sum(N, x, 0.0f, y);
            for (size_t i = 0; i < N; i++) {
                float r = f == 0 ? erff(x[i])
                          : f == 1 ? tanhf(x[i])
                          : f == 2 ? sigmoid_ref(x[i])
                                   : (x[i] > 88.0f ? y[i] : expf(x[i]));
                double err = fabs((double)y[i] - r);
                /* results in the subnormal range may flush to 0 */
                double rel = err <= 1.2e-38 ? 0 : err / fabs((double)r);
                if (isinf(r) && y[i] == r)
                    rel = 0;
                if (rel > worst) {
                    worst = rel;
                    wi = i;
                }
            }
            print_message("  %s %-8s max rel err vs libm %.2e (x = %g)\n", sk_isa_name((sk_isa)L),
                          (const char *[]){"erf", "tanh", "sigmoid", "exp"}[f], worst,
                          (double)x[wi]);
            assert_true(worst < 2e-6);
        }
        float nan = NAN;
        uk->verf(1, &nan, y);
        assert_true(isnan(y[0]));
        uk->vtanh(1, &nan, y);
        assert_true(isnan(y[0]));
        uk->vsigmoid(1, &nan, y);
        assert_true(isnan(y[0]));
    }
    free(x);
    free(y);
}

/* ---- element-wise ------------------------------------------------------------------ */

static void rand_dims(int rank, int64_t *d, int lo, int hi)
{
    for (int i = 0; i < rank; i++)
        d[i] = irand(lo, hi);
}

static void test_binary(void **state)
{
    (void)state;
    static const sk_op ops[4] = {SK_OP_ADD, SK_OP_SUB, SK_OP_MUL, SK_OP_DIV};
    for (int c = 0; c < 48; c++) {
        int64_t a[5], b[5];
        int ra, rb, kind = c % 6;
        ra = irand(1, 4);
        rand_dims(ra, a, 1, 37);
        rb = ra;
        memcpy(b, a, sizeof a);
        if (kind == 1) { /* [N,C,H,W] op [1,C,1,1] */
            ra = rb = 4;
            rand_dims(4, a, 1, 19);
            b[0] = b[2] = b[3] = 1;
            b[1] = a[1];
        } else if (kind == 2) { /* scalar operand(s) */
            rb = 0;
            ra = c % 4 == 0 ? 0 : ra;
        } else if (kind == 3) { /* [1,S,D] op [D] */
            ra = 3;
            a[0] = 1;
            rb = 1;
            b[0] = a[2];
        } else if (kind == 4) { /* [A,1,C] op [1,B,1] */
            ra = rb = 3;
            a[1] = 1;
            b[0] = b[2] = 1;
            b[1] = irand(2, 9);
        } else if (kind == 5) {
            a[ra - 1] = irand(100, 3000); /* long runs: unrolled loops + tail */
            b[ra - 1] = a[ra - 1];
        }
        for (int o = 0; o < 4; o++) {
            tc t;
            tc_new(&t, ops[o], 2, 1, 13);
            int swap = c % 2 && kind != 0;
            tc_input(&t, swap ? 1 : 0, SK_F32, ra, a);
            tc_input(&t, swap ? 0 : 1, SK_F32, rb, b);
            if (ops[o] == SK_OP_DIV)
                away_from_zero(&t.in[1]);
            check(&t, 1, 0.0, 0.0, "binary");
            tc_free(&t);
        }
    }
    tc t; /* int64: not covered, must still be right through the fallback */
    tc_new(&t, SK_OP_ADD, 2, 1, 13);
    tc_input(&t, 0, SK_I64, 2, (int64_t[]){3, 5});
    tc_input(&t, 1, SK_I64, 1, (int64_t[]){5});
    check(&t, 0, 0.0, 0.0, "add i64");
    tc_free(&t);
}

static void test_unary(void **state)
{
    (void)state;
    static const sk_op ops[5] = {SK_OP_RELU, SK_OP_CLIP, SK_OP_SIGMOID, SK_OP_TANH, SK_OP_ERF};
    for (int c = 0; c < 25; c++) {
        sk_op op = ops[c % 5];
        int64_t d[3] = {irand(1, 5), irand(1, 9), irand(1, 700)};
        int clip_form = c / 5 % 4; /* min and max, min only, max only, min > max */
        tc t;
        tc_new(&t, op, op == SK_OP_CLIP ? 3 : 1, 1, 13);
        tc_input(&t, 0, SK_F32, 3, d);
        scale_values(&t.in[0], 6.0f);
        if (op == SK_OP_CLIP) {
            float lo = clip_form == 3 ? 0.5f : -0.7f, hi = clip_form == 3 ? -0.5f : 1.3f;
            if (clip_form != 2)
                tc_const_f32(&t, 1, 0, NULL, &lo);
            else
                t.inp[1] = NULL;
            if (clip_form != 1)
                tc_const_f32(&t, 2, 0, NULL, &hi);
            else
                t.inp[2] = NULL;
        }
        int exact = op == SK_OP_RELU || op == SK_OP_CLIP;
        check(&t, 1, exact ? 0.0 : 2e-6, exact ? 0.0 : 1e-30, "unary");
        tc_free(&t);
    }
}

static void test_softmax(void **state)
{
    (void)state;
    static const int lens[] = {1, 3, 16, 17, 33, 197, 1000};
    for (int c = 0; c < 28; c++) {
        sk_op op = c % 2 ? SK_OP_LOG_SOFTMAX : SK_OP_SOFTMAX;
        int len = lens[c / 2 % 7], form = c / 14;
        tc t;
        if (form == 0) { /* opset 13, last axis */
            tc_new(&t, op, 1, 1, 13);
            tc_input(&t, 0, SK_F32, 3, (int64_t[]){2, irand(1, 5), len});
        } else { /* opset 11, axis 1 of a rank-3 tensor: rows of d1*d2 */
            tc_new(&t, op, 1, 1, 11);
            sk_node_set_int(t.g, 0, "axis", 1);
            tc_input(&t, 0, SK_F32, 3, (int64_t[]){irand(1, 4), irand(1, 3), len});
        }
        scale_values(&t.in[0], 10.0f);
        check(&t, 1, 3e-6, 1e-6, "softmax");
        tc_free(&t);
    }
    tc t; /* opset 13, axis 1 of [2, n, 1]: the trailing 1 keeps it contiguous */
    tc_new(&t, SK_OP_SOFTMAX, 1, 1, 13);
    sk_node_set_int(t.g, 0, "axis", 1);
    tc_input(&t, 0, SK_F32, 3, (int64_t[]){2, 19, 1});
    check(&t, 1, 3e-6, 1e-7, "softmax axis 1");
    tc_free(&t);
    tc_new(&t, SK_OP_SOFTMAX, 1, 1, 13); /* axis 0 of [5, 3]: strided, reference */
    sk_node_set_int(t.g, 0, "axis", 0);
    tc_input(&t, 0, SK_F32, 2, (int64_t[]){5, 3});
    check(&t, 0, 3e-6, 1e-7, "softmax axis 0");
    tc_free(&t);
}

static void test_layer_norm(void **state)
{
    (void)state;
    static const int dims[] = {1, 7, 16, 33, 768};
    for (int c = 0; c < 20; c++) {
        int D = dims[c % 5], S = irand(1, 6), axis2 = c % 3 == 2, bias = c % 4 != 1;
        int nout = c % 5 == 3 ? 3 : 1;
        tc t;
        tc_new(&t, SK_OP_LAYER_NORM, bias ? 3 : 2, nout, 17);
        tc_input(&t, 0, SK_F32, 3, (int64_t[]){irand(1, 3), S, D});
        if (c % 2)
            shift_values(&t.in[0], 3.0f);
        if (axis2) {
            sk_node_set_int(t.g, 0, "axis", -2);
            tc_input(&t, 1, SK_F32, 2, (int64_t[]){S, D});
            if (bias)
                tc_input(&t, 2, SK_F32, 2, (int64_t[]){S, D});
        } else {
            tc_input(&t, 1, SK_F32, 1, (int64_t[]){D});
            if (bias)
                tc_input(&t, 2, SK_F32, 1, (int64_t[]){D});
        }
        sk_node_set_float(t.g, 0, "epsilon", c % 2 ? 1e-5f : 1e-3f);
        check(&t, 1, 2e-5, 2e-5, "layer_norm");
        tc_free(&t);
    }
    tc t; /* a broadcast Scale [1] over D = 9: the reference expands it */
    tc_new(&t, SK_OP_LAYER_NORM, 2, 1, 17);
    tc_input(&t, 0, SK_F32, 2, (int64_t[]){4, 9});
    tc_input(&t, 1, SK_F32, 1, (int64_t[]){1});
    check(&t, 0, 2e-5, 2e-5, "layer_norm broadcast scale");
    tc_free(&t);
}

static void test_global_pool(void **state)
{
    (void)state;
    for (int c = 0; c < 16; c++) {
        int rank = irand(3, 5);
        int64_t d[5] = {irand(1, 3), irand(1, 40), irand(1, 9), irand(1, 9), irand(1, 5)};
        if (c == 0) { /* ResNet-50's head */
            rank = 4;
            d[0] = 1, d[1] = 2048, d[2] = d[3] = 7;
        }
        int is_max = c % 2;
        tc t;
        tc_new(&t, is_max ? SK_OP_GLOBAL_MAX_POOL : SK_OP_GLOBAL_AVERAGE_POOL, 1, 1, 13);
        tc_input(&t, 0, SK_F32, rank, d);
        check(&t, 1, is_max ? 0.0 : 2e-6, is_max ? 0.0 : 1e-6, "global pool");
        tc_free(&t);
    }
}

/* ---- data movement ------------------------------------------------------------------ */

static void test_concat(void **state)
{
    (void)state;
    static const sk_dtype types[3] = {SK_F32, SK_I64, SK_U8};
    for (int c = 0; c < 40; c++) {
        int rank = irand(1, 4), nin = irand(1, 4), axis = irand(0, rank - 1);
        int64_t d[4];
        rand_dims(rank, d, 1, 9);
        if (c % 10 == 0) { /* U-Net skip: several 64 KB chunks, odd total */
            rank = 4;
            axis = 1;
            d[0] = 1, d[1] = 3, d[2] = 77, d[3] = 91;
            nin = 2;
        }
        tc t;
        tc_new(&t, SK_OP_CONCAT, nin, 1, 13);
        sk_node_set_int(t.g, 0, "axis", c % 3 == 0 ? axis - rank : axis);
        for (int i = 0; i < nin; i++) {
            int64_t di[4];
            memcpy(di, d, sizeof d);
            di[axis] = c % 7 == 3 && i == 0 ? 0 : (c % 10 ? irand(1, 5) : d[axis]);
            tc_input(&t, i, types[c % 3], rank, di);
        }
        check(&t, 1, 0.0, 0.0, "concat");
        tc_free(&t);
    }
}

static void test_transpose(void **state)
{
    (void)state;
    static const sk_dtype types[3] = {SK_F32, SK_I64, SK_U8};
    for (int c = 0; c < 60; c++) {
        int rank = irand(1, 5), perm[5];
        int64_t d[5], p64[5];
        rand_dims(rank, d, 1, 7);
        if (c % 12 == 0)
            d[rank - 1] = irand(20, 70); /* full 8x8 tiles plus edges */
        for (int i = 0; i < rank; i++)
            perm[i] = i;
        for (int i = rank - 1; i > 0; i--) {
            int k = irand(0, i), tmp = perm[i];
            perm[i] = perm[k];
            perm[k] = tmp;
        }
        sk_dtype dt = types[c % 3];
        tc t;
        tc_new(&t, SK_OP_TRANSPOSE, 1, 1, 13);
        if (c % 9) {
            for (int i = 0; i < rank; i++)
                p64[i] = perm[i];
            sk_node_set_ints(t.g, 0, "perm", p64, rank);
        }
        tc_input(&t, 0, dt, rank, d);
        /* covered unless a 1- or 8-byte element must change innermost dim */
        int inner_moves = 0, last_in = -1, last_out = -1;
        for (int i = 0; i < rank; i++)
            if (d[i] > 1)
                last_in = i;
        for (int i = 0; i < rank; i++) {
            int src = c % 9 ? perm[i] : rank - 1 - i;
            if (d[src] > 1)
                last_out = src;
        }
        inner_moves = last_in != last_out;
        check(&t, !inner_moves || dt == SK_F32, 0.0, 0.0, "transpose");
        tc_free(&t);
    }
    /* ViT's head split and K^T, and a plain matrix with tile edges */
    static const int64_t shapes[3][4] = {{1, 20, 6, 16}, {1, 6, 20, 16}, {1, 1, 130, 67}};
    static const int64_t perms[3][4] = {{0, 2, 1, 3}, {0, 1, 3, 2}, {0, 1, 3, 2}};
    for (int c = 0; c < 3; c++) {
        tc t;
        tc_new(&t, SK_OP_TRANSPOSE, 1, 1, 13);
        sk_node_set_ints(t.g, 0, "perm", perms[c], 4);
        tc_input(&t, 0, SK_F32, 4, shapes[c]);
        check(&t, 1, 0.0, 0.0, "transpose vit");
        tc_free(&t);
    }
}

static void test_dispatch(void **state)
{
    (void)state;
    tc t;
    tc_new(&t, SK_OP_ADD, 2, 1, 13);
    sk_isa was = sk_cpu_level();
    sk_cpu_set_level(SK_ISA_SCALAR);
    assert_null(sk_dispatch_ops(&t.g->nodes[0], NULL, 0, NULL, 0));
    assert_null(sk_kconfig_for(sk_cpu_level()));
    if (sk_cpu_detected() >= SK_ISA_AVX2) {
        sk_cpu_set_level(SK_ISA_AVX2);
        assert_ptr_equal(sk_dispatch_ops(&t.g->nodes[0], NULL, 0, NULL, 0), sk_fast_run_binary);
        assert_ptr_equal(&sk_kconfig_for(sk_cpu_level())->ops, sk_fast_uk_for(SK_ISA_AVX2));
        assert_int_equal(sk_kconfig_for(sk_cpu_level())->ops.isa, SK_ISA_AVX2);
    }
    sk_cpu_set_level(was);
    tc_free(&t);
    /* MaxPool whose Indices output is used: the reference computes them */
    tc_new(&t, SK_OP_MAX_POOL, 1, 2, 13);
    assert_null(sk_dispatch_ops(&t.g->nodes[0], NULL, 0, NULL, 0));
    tc_free(&t);
    /* a Div by zero keeps IEEE results (inf, nan) like the reference */
    tc_new(&t, SK_OP_DIV, 2, 1, 13);
    tc_input(&t, 0, SK_F32, 1, (int64_t[]){19});
    tc_input(&t, 1, SK_F32, 1, (int64_t[]){19});
    float *b = t.in[1].data, *a = t.in[0].data;
    b[0] = b[5] = b[18] = 0.0f;
    a[5] = 0.0f;
    check(&t, 1, 0.0, 0.0, "div by zero");
    tc_free(&t);
}

/* The kernel configuration of each level (kernels/config.h): every member
 * filled, the lookups agree, nothing above the CPU or at the scalar level;
 * and a kernel handed no config runs the reference, bit for bit, instead
 * of choosing a level itself. */
static void test_kernel_config(void **state)
{
    (void)state;
    assert_null(sk_kconfig_for(SK_ISA_SCALAR));
    assert_null(sk_kconfig_for(SK_ISA_COUNT));
    for (int L = SK_ISA_AVX2; L < SK_ISA_COUNT; L++) {
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)L);
        if (L > (int)sk_cpu_detected()) {
            assert_null(kc);
            continue;
        }
        assert_non_null(kc);
        assert_ptr_equal(kc, sk_kconfig_for((sk_isa)L)); /* filled once */
        assert_int_equal(kc->isa, L);
        assert_int_equal(kc->gemm.isa, L);
        assert_int_equal(kc->ops.isa, L);
        assert_ptr_equal(sk_gemm_config((sk_isa)L), &kc->gemm);
        assert_ptr_equal(sk_fast_uk_for((sk_isa)L), &kc->ops);
        const char *fo = getenv("SKIPSERVE_FAST_OPS");
        assert_int_equal(kc->fast_ops, !(fo && !strcmp(fo, "0")));
        assert_true(kc->gemm.mr * kc->gemm.nr == (L == SK_ISA_AVX512 ? 8 * 32 : 6 * 16));
        assert_non_null(kc->gemm.uk);
        /* every loop of the element-wise / row table */
        const void *ops[] = {
            (const void *)kc->ops.vadd,        (const void *)kc->ops.vsub,
            (const void *)kc->ops.vmul,        (const void *)kc->ops.vdiv,
            (const void *)kc->ops.vrelu,       (const void *)kc->ops.vclamp,
            (const void *)kc->ops.vsigmoid,    (const void *)kc->ops.vtanh,
            (const void *)kc->ops.verf,        (const void *)kc->ops.rmax,
            (const void *)kc->ops.rsum,        (const void *)kc->ops.vexpsub_sum,
            (const void *)kc->ops.vaffine,     (const void *)kc->ops.rsumsqdev,
            (const void *)kc->ops.vlnorm,      (const void *)kc->ops.vmax_acc,
            (const void *)kc->ops.vadd_acc,    (const void *)kc->ops.vmax_taps,
            (const void *)kc->ops.vsum_taps,   (const void *)kc->ops.deinterleave2,
            (const void *)kc->ops.interleave2, (const void *)kc->ops.vblend,
            (const void *)kc->ops.vup2_linear, (const void *)kc->ops.gemv_panel,
            (const void *)kc->ops.gemm_ntail,  (const void *)kc->ops.gemm_mtail,
            (const void *)kc->ops.transpose,   (const void *)kc->ops.transpose_epi,
        };
        for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
            if (!ops[i])
                fail_msg("level %s: ops member %zu is NULL", sk_isa_name((sk_isa)L), i);
        assert_true(kc->wino2.cols && kc->wino2.in && kc->wino2.out && kc->wino2.epi2);
        assert_null(kc->wino2.epi4);
        assert_true(kc->wino4.cols && kc->wino4.in && kc->wino4.out && kc->wino4.epi4);
        assert_null(kc->wino4.epi2);
        assert_non_null(kc->dw_rows);
    }
    /* Sigmoid through the fast kernel with no config: the reference's bits */
    tc t;
    tc_new(&t, SK_OP_SIGMOID, 1, 1, 13);
    tc_input(&t, 0, SK_F32, 1, (int64_t[]){997});
    for (int i = 0; i < 997; i++)
        ((float *)t.in[0].data)[i] = -12.0f + 24.0f * (float)i / 997.0f;
    const sk_node *n = &t.g->nodes[0];
    char err[128];
    sk_kctx ctx = {err, sizeof err, NULL, NULL, 0, NULL};
    sk_tensor ref = {SK_F32, {1, {997}}, NULL}, got = ref;
    ref.data = sk_alloc(997 * sizeof(float));
    got.data = sk_alloc(997 * sizeof(float));
    assert_int_equal(sk_op_get(SK_OP_SIGMOID)->run(n, t.inp, 1, &ref, 1, &ctx), 0);
    assert_int_equal(sk_fast_run_unary(n, t.inp, 1, &got, 1, &ctx), 0);
    assert_memory_equal(ref.data, got.data, 997 * sizeof(float));
    sk_free(ref.data);
    sk_free(got.data);
    tc_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_math_accuracy), cmocka_unit_test(test_binary),
        cmocka_unit_test(test_unary),         cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layer_norm),    cmocka_unit_test(test_global_pool),
        cmocka_unit_test(test_concat),        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_dispatch),      cmocka_unit_test(test_kernel_config),
    };
    testutil_init();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    testutil_fini();
    return rc;
}
