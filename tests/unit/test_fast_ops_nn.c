/* test_fast_ops_nn.c — the fast MaxPool / AveragePool, MatMul,
 * ConvTranspose and Resize kernels (engine/kernels/fast_ops_*.c) against
 * their reference kernels, with check() of fast_ops_testutil.h: every ISA
 * level the CPU has, serial and on 3 threads, no malloc in a covered run,
 * uncovered shapes refused by sk_dispatch_ops and still right through the
 * fallback. Geometries are random: 1-D to 3-D windows, kernel / stride /
 * dilation / pads / ceil_mode / count_include_pad, auto_pad; MatMul batch
 * broadcasting and 1-D operands; ConvTranspose groups, output_padding and
 * both the direct (kernel == stride) scatter and the col2im path; Resize
 * with every coordinate mode, nearest_mode, scales or sizes, up and down.
 * Gemm without packed weights: transA / transB, every broadcast form of C.
 * MatMul, Gemm and ConvTranspose outputs are sums of K products, compared within
 * 2 K eps sum|a b| (sum|a b| = the reference run on |inputs|). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fast_ops_testutil.h"

/* ---- pools --------------------------------------------------------------------- */

static void pool_case(int nsp, int is_max, int c)
{
    int64_t xd[5] = {irand(1, 2), irand(1, 19)}, k[3], s[3], d[3], pads[6];
    for (int i = 0; i < nsp; i++) {
        xd[2 + i] = irand(1, nsp == 3 ? 7 : 23);
        k[i] = irand(1, 4);
        s[i] = irand(1, 3);
        d[i] = is_max ? irand(1, 2) : 1; /* AveragePool has dilations since opset 19 */
        pads[i] = irand(0, (int)k[i] - 1);
        pads[nsp + i] = irand(0, (int)k[i] - 1);
        if (d[i] * (k[i] - 1) + 1 > xd[2 + i] + pads[i] + pads[nsp + i])
            k[i] = 1, pads[i] = pads[nsp + i] = 0; /* keep the window inside */
    }
    tc t;
    tc_new(&t, is_max ? SK_OP_MAX_POOL : SK_OP_AVERAGE_POOL, 1, 1, 19);
    sk_node_set_ints(t.g, 0, "kernel_shape", k, nsp);
    sk_node_set_ints(t.g, 0, "strides", s, nsp);
    if (is_max || c % 2)
        sk_node_set_ints(t.g, 0, "dilations", d, nsp);
    if (c % 5 == 4)
        sk_node_set_string(t.g, 0, "auto_pad", c % 2 ? "SAME_UPPER" : "SAME_LOWER");
    else
        sk_node_set_ints(t.g, 0, "pads", pads, 2 * nsp);
    sk_node_set_int(t.g, 0, "ceil_mode", c % 3 == 1);
    sk_node_set_int(t.g, 0, "count_include_pad", c % 4 >= 2);
    tc_input(&t, 0, SK_F32, 2 + nsp, xd);
    check(&t, 1, is_max ? 0.0 : 2e-6, is_max ? 0.0 : 1e-6, is_max ? "max_pool" : "avg_pool");
    tc_free(&t);
}

static void test_pools(void **state)
{
    (void)state;
    for (int c = 0; c < 90; c++)
        pool_case(1 + c % 3, c / 3 % 2, c / 6);
    /* ResNet's stem (3x3 s2 p1) and U-Net's down-sampling (2x2 s2) */
    static const int64_t shapes[2][4] = {{1, 13, 56, 56}, {2, 9, 32, 34}};
    static const int64_t ks[2] = {3, 2}, ss[2] = {2, 2}, ps[2] = {1, 0};
    for (int c = 0; c < 4; c++) {
        tc t;
        int i = c % 2;
        tc_new(&t, c < 2 ? SK_OP_MAX_POOL : SK_OP_AVERAGE_POOL, 1, 1, 13);
        sk_node_set_ints(t.g, 0, "kernel_shape", (int64_t[]){ks[i], ks[i]}, 2);
        sk_node_set_ints(t.g, 0, "strides", (int64_t[]){ss[i], ss[i]}, 2);
        sk_node_set_ints(t.g, 0, "pads", (int64_t[]){ps[i], ps[i], ps[i], ps[i]}, 4);
        tc_input(&t, 0, SK_F32, 4, shapes[i]);
        check(&t, 1, c < 2 ? 0.0 : 2e-6, c < 2 ? 0.0 : 1e-6, "model pool");
        tc_free(&t);
    }
    tc t; /* uint8 MaxPool (fast_qpool.c, QDQ models): byte for byte */
    tc_new(&t, SK_OP_MAX_POOL, 1, 1, 13);
    sk_node_set_ints(t.g, 0, "kernel_shape", (int64_t[]){2, 2}, 2);
    tc_input(&t, 0, SK_U8, 4, (int64_t[]){1, 3, 5, 6});
    check(&t, 1, 0.0, 0.0, "max_pool u8");
    tc_free(&t);
    tc_new(&t, SK_OP_MAX_POOL, 1, 1, 13); /* ResNet's stem pool on uint8 */
    sk_node_set_ints(t.g, 0, "kernel_shape", (int64_t[]){3, 3}, 2);
    sk_node_set_ints(t.g, 0, "strides", (int64_t[]){2, 2}, 2);
    sk_node_set_ints(t.g, 0, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    tc_input(&t, 0, SK_U8, 4, shapes[0]);
    check(&t, 1, 0.0, 0.0, "max_pool u8 stem");
    tc_free(&t);
}

/* ---- MatMul ---------------------------------------------------------------------- */

static void mm_check(tc *t, int64_t K, const char *what)
{
    g_mag = abs_run(t);
    g_mk = 2.0 * (double)(K + 1) * FLT_EPSILON;
    check(t, 1, 0.0, 1e-6, what);
    free((void *)g_mag);
    g_mag = NULL;
}

static void test_matmul(void **state)
{
    (void)state;
    for (int c = 0; c < 40; c++) {
        int64_t M = irand(1, 40), N = irand(1, 70), K = irand(1, 300);
        int64_t a[5], b[5];
        int ra = 2, rb = 2;
        a[0] = M, a[1] = K, b[0] = K, b[1] = N;
        switch (c % 5) {
        case 0: /* [3,2,M,K] x [K,N]: shared weights, folded into one product */
            if (c % 10 == 5) {
                ra = 4;
                a[0] = 3, a[1] = 2, a[2] = M, a[3] = K;
            }
            break;
        case 1: /* [2,1,M,K] x [3,K,N] */
            ra = 4, rb = 3;
            a[0] = 2, a[1] = 1, a[2] = M, a[3] = K;
            b[0] = 3, b[1] = K, b[2] = N;
            break;
        case 2: /* 1-D A and / or B */
            ra = 1, a[0] = K;
            if (c % 2)
                rb = 1, b[0] = K;
            break;
        case 3: /* [M,K] x [K] */
            rb = 1, b[0] = K;
            break;
        case 4: /* attention: [H,S,D] x [H,D,S] */
            ra = rb = 3;
            a[0] = b[0] = irand(1, 6);
            a[1] = M, a[2] = K, b[1] = K, b[2] = N;
            break;
        }
        tc t;
        tc_new(&t, SK_OP_MATMUL, 2, 1, 13);
        tc_input(&t, 0, SK_F32, ra, a);
        tc_input(&t, 1, SK_F32, rb, b);
        mm_check(&t, K, "matmul");
        tc_free(&t);
    }
    tc t; /* ViT MLP: [1, S, D] x [D, 4D], shared weights */
    tc_new(&t, SK_OP_MATMUL, 2, 1, 13);
    tc_input(&t, 0, SK_F32, 3, (int64_t[]){1, 197, 96});
    tc_input(&t, 1, SK_F32, 2, (int64_t[]){96, 384});
    mm_check(&t, 96, "matmul vit");
    tc_free(&t);
    tc_new(&t, SK_OP_MATMUL, 2, 1, 13); /* K = 0: zeros */
    tc_input(&t, 0, SK_F32, 2, (int64_t[]){5, 0});
    tc_input(&t, 1, SK_F32, 2, (int64_t[]){0, 7});
    check(&t, 1, 0.0, 0.0, "matmul K=0");
    tc_free(&t);
}

static void test_gemm(void **state)
{
    (void)state;
    for (int c = 0; c < 36; c++) {
        int64_t M = irand(1, 40), N = irand(1, 50), K = irand(1, 200);
        int ta = c % 2, tb = c / 2 % 2, cform = c / 4 % 7, scaled = c % 9 == 8;
        tc t;
        tc_new(&t, SK_OP_GEMM, cform ? 3 : 2, 1, 13);
        sk_node_set_int(t.g, 0, "transA", ta);
        sk_node_set_int(t.g, 0, "transB", tb);
        if (scaled) /* alpha != 1: the reference's */
            sk_node_set_float(t.g, 0, "alpha", 0.5f);
        tc_input(&t, 0, SK_F32, 2, ta ? (int64_t[]){K, M} : (int64_t[]){M, K});
        tc_input(&t, 1, SK_F32, 2, tb ? (int64_t[]){N, K} : (int64_t[]){K, N});
        /* C: none, [], [1], [N], [1,N], [M,1], [M,N] */
        static const int crank[7] = {0, 0, 1, 1, 2, 2, 2};
        int64_t cd[2] = {cform == 3 ? N : cform == 5 || cform == 6 ? M : 1,
                         cform == 4 || cform == 6 ? N : 1};
        if (cform)
            tc_input(&t, 2, SK_F32, crank[cform], cform == 3 ? (int64_t[]){N} : cd);
        g_mag = abs_run(&t);
        g_mk = 2.0 * (double)(K + 2) * FLT_EPSILON;
        check(&t, !scaled, 0.0, 1e-6, "gemm");
        free((void *)g_mag);
        g_mag = NULL;
        tc_free(&t);
    }
}

/* ---- ConvTranspose ---------------------------------------------------------------- */

static void convt_case(int c)
{
    int nsp = 1 + c % 3, direct = c % 4 == 0;
    int64_t grp = irand(1, 3), Cg = irand(1, 5), Mg = irand(1, 6);
    int64_t xd[5] = {irand(1, 2), grp * Cg}, wd[5] = {grp * Cg, Mg};
    int64_t k[3], s[3], d[3], pads[6], op[3];
    for (int i = 0; i < nsp; i++) {
        xd[2 + i] = irand(1, nsp == 3 ? 5 : 11);
        k[i] = irand(1, 4);
        s[i] = direct ? k[i] : irand(1, 3);
        d[i] = direct ? 1 : irand(1, 2);
        pads[i] = direct ? 0 : irand(0, (int)k[i] - 1);
        pads[nsp + i] = direct ? 0 : irand(0, (int)k[i] - 1);
        op[i] = direct ? 0 : irand(0, (int)(s[i] > d[i] ? s[i] : d[i]) - 1);
        wd[2 + i] = k[i];
    }
    int bias = c % 3 != 0;
    tc t;
    tc_new(&t, SK_OP_CONV_TRANSPOSE, bias ? 3 : 2, 1, 13);
    sk_node_set_int(t.g, 0, "group", grp);
    sk_node_set_ints(t.g, 0, "strides", s, nsp);
    if (!direct) {
        sk_node_set_ints(t.g, 0, "dilations", d, nsp);
        sk_node_set_ints(t.g, 0, "pads", pads, 2 * nsp);
        sk_node_set_ints(t.g, 0, "output_padding", op, nsp);
    }
    tc_input(&t, 0, SK_F32, 2 + nsp, xd);
    tc_input(&t, 1, SK_F32, 2 + nsp, wd);
    if (bias)
        tc_input(&t, 2, SK_F32, 1, (int64_t[]){grp * Mg});
    /* geometry whose output would be empty: skip (the reference rejects it) */
    sk_tensor o[1];
    sk_kctx q = {NULL, 0, NULL, NULL, 0, NULL};
    if (sk_op_get(SK_OP_CONV_TRANSPOSE)->infer(&t.g->nodes[0], t.inp, t.nin, o, 1, &q) == 0) {
        int64_t kv = Cg;
        for (int i = 0; i < nsp; i++)
            kv *= k[i];
        mm_check(&t, kv + 1, direct ? "conv_transpose direct" : "conv_transpose col2im");
    }
    tc_free(&t);
}

static void test_conv_transpose(void **state)
{
    (void)state;
    for (int c = 0; c < 60; c++)
        convt_case(c);
    /* U-Net: 2x2 s2 (vector interleave) and 4x4 s2 p1 */
    for (int c = 0; c < 2; c++) {
        tc t;
        tc_new(&t, SK_OP_CONV_TRANSPOSE, 3, 1, 13);
        int64_t k = c ? 4 : 2, p = c ? 1 : 0;
        sk_node_set_ints(t.g, 0, "strides", (int64_t[]){2, 2}, 2);
        sk_node_set_ints(t.g, 0, "pads", (int64_t[]){p, p, p, p}, 4);
        tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 24, 13, 19});
        tc_input(&t, 1, SK_F32, 4, (int64_t[]){24, 12, k, k});
        tc_input(&t, 2, SK_F32, 1, (int64_t[]){12});
        mm_check(&t, 24 * k * k, "conv_transpose unet");
        tc_free(&t);
    }
    tc t; /* output_shape: the reference's */
    tc_new(&t, SK_OP_CONV_TRANSPOSE, 2, 1, 13);
    sk_node_set_ints(t.g, 0, "strides", (int64_t[]){2, 2}, 2);
    sk_node_set_ints(t.g, 0, "output_shape", (int64_t[]){9, 9}, 2);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 3, 4, 4});
    tc_input(&t, 1, SK_F32, 4, (int64_t[]){3, 2, 3, 3});
    g_mag = abs_run(&t);
    g_mk = 2.0 * 28 * FLT_EPSILON;
    check(&t, 0, 0.0, 1e-6, "conv_transpose output_shape");
    free((void *)g_mag);
    g_mag = NULL;
    tc_free(&t);
}

/* ---- Resize ------------------------------------------------------------------------- */

static const char *const coords[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                     "asymmetric", "half_pixel_symmetric",
                                     "tf_half_pixel_for_nn"};
static const char *const nmodes[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                     "ceil"};

static void resize_case(int c)
{
    static const float factors[] = {2.0f, 2.0f, 0.5f, 1.5f, 3.0f, 0.75f, 1.0f, 2.5f};
    int linear = c % 2, legacy = c % 11 == 5, use_sizes = c % 3 == 2;
    int64_t xd[4] = {irand(1, 2), irand(1, 3), irand(1, 12), irand(1, 12)};
    float fh = factors[c / 2 % 8], fw = factors[(c / 2 + c / 16) % 8];
    tc t;
    tc_new(&t, SK_OP_RESIZE, 4, 1, legacy ? 10 : 13);
    sk_node_set_string(t.g, 0, "mode", linear ? "linear" : "nearest");
    if (!legacy) {
        const char *cm = coords[c % (linear ? 5 : 6)];
        sk_node_set_string(t.g, 0, "coordinate_transformation_mode", cm);
        if (!linear)
            sk_node_set_string(t.g, 0, "nearest_mode", nmodes[c / 3 % 4]);
    }
    tc_input(&t, 0, SK_F32, 4, xd);
    t.inp[1] = NULL; /* roi */
    if (use_sizes) {
        int64_t sz[4] = {xd[0], xd[1], (int64_t)(xd[2] * fh + 0.5), (int64_t)(xd[3] * fw + 0.5)};
        if (sz[2] < 1)
            sz[2] = 1;
        if (sz[3] < 1)
            sz[3] = 1;
        t.inp[2] = NULL;
        tc_const_i64(&t, 3, 1, (int64_t[]){4}, sz);
    } else {
        if (xd[2] * fh < 1)
            fh = 1.0f;
        if (xd[3] * fw < 1)
            fw = 1.0f;
        tc_const_f32(&t, 2, 1, (int64_t[]){4}, (float[]){1.0f, 1.0f, fh, fw});
        t.inp[3] = NULL;
    }
    check(&t, 1, 2e-6, 1e-6, linear ? "resize linear" : "resize nearest");
    tc_free(&t);
}

static void test_resize(void **state)
{
    (void)state;
    for (int c = 0; c < 120; c++)
        resize_case(c);
    /* U-Net's bilinear x2 (the vup2_linear path), rows long enough for
     * full vectors */
    for (int c = 0; c < 2; c++) {
        tc t;
        tc_new(&t, SK_OP_RESIZE, 3, 1, 13);
        sk_node_set_string(t.g, 0, "mode", "linear");
        sk_node_set_string(t.g, 0, "coordinate_transformation_mode",
                           c ? "half_pixel" : "pytorch_half_pixel");
        tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 5, 21, 37 + 16 * c});
        t.inp[1] = NULL;
        tc_const_f32(&t, 2, 1, (int64_t[]){4}, (float[]){1.0f, 1.0f, 2.0f, 2.0f});
        check(&t, 1, 2e-6, 1e-6, "resize unet");
        tc_free(&t);
    }
    /* not covered: cubic; a scaled channel axis */
    for (int c = 0; c < 2; c++) {
        tc t;
        tc_new(&t, SK_OP_RESIZE, 3, 1, 13);
        sk_node_set_string(t.g, 0, "mode", c ? "linear" : "cubic");
        tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 2, 5, 6});
        t.inp[1] = NULL;
        tc_const_f32(&t, 2, 1, (int64_t[]){4}, (float[]){1.0f, c ? 2.0f : 1.0f, 2.0f, 2.0f});
        check(&t, 0, 2e-6, 1e-6, "resize uncovered");
        tc_free(&t);
    }
}

/* a failed check leaves the test by longjmp: drop its magnitudes */
static int reset_mag(void **state)
{
    (void)state;
    g_mag = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pools, reset_mag),
        cmocka_unit_test_setup(test_matmul, reset_mag),
        cmocka_unit_test_setup(test_gemm, reset_mag),
        cmocka_unit_test_setup(test_conv_transpose, reset_mag),
        cmocka_unit_test_setup(test_resize, reset_mag),
    };
    testutil_init();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    testutil_fini();
    return rc;
}
