/* test_fast_ops_bench.c — speed of the fast non-conv kernels against their
 * reference kernels on the shapes ResNet-50, the width-32 U-Net at 256x256
 * and ViT-B/16 spend time on. Prints one line per shape: the reference on
 * a 2-thread pool (some reference kernels split work too), the fast kernel
 * on one thread and on the same pool, and the speed-ups; times are the
 * minimum of several runs. Correctness is test_fast_ops*.c's job; this
 * binary only checks that each case is dispatched to a fast kernel.
 * FAST_OPS_BENCH_FULL=1 also times the largest shapes; FAST_OPS_BENCH_ONLY=text
 * times only the cases whose name contains text. Timings on a shared
 * machine are noisy: compare the ratios within one run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <time.h>

#include "fast_ops_testutil.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* Minimum time of fn over repeats filling ~60 ms (at least 3 runs). */
static double time_kernel(sk_kernel_fn fn, tc *t, sk_tensor *out, sk_kctx *ctx)
{
    const sk_node *n = &t->g->nodes[0];
    double best = 1e30, spent = 0;
    for (int r = 0; r < 50 && (r < 3 || spent < 60.0); r++) {
        double t0 = now_ms();
        assert_int_equal(fn(n, t->inp, t->nin, out, t->nout, ctx), 0);
        double dt = now_ms() - t0;
        spent += dt;
        if (dt < best)
            best = dt;
    }
    return best;
}

static sk_pool *pool2;

static void bench(tc *t, const char *model, const char *what)
{
    const char *only = getenv("FAST_OPS_BENCH_ONLY"); /* a substring of `what` */
    if (only && !strstr(what, only)) {
        tc_free(t);
        return;
    }
    const sk_node *n = &t->g->nodes[0];
    const sk_op_info *info = sk_op_get(n->op);
    sk_tensor out[3];
    memset(out, 0, sizeof out);
    char err[256] = "";
    sk_kctx ctx = {err, sizeof err, NULL, NULL, 0, NULL};
    assert_int_equal(info->infer(n, t->inp, t->nin, out, t->nout, &ctx), 0);
    for (int o = 0; o < t->nout; o++)
        out[o].data = sk_alloc(sk_tensor_bytes(&out[o]) + 64);
    sk_kernel_fn fast = sk_dispatch_ops(n, t->inp, t->nin, out, t->nout);
    if (!fast)
        fail_msg("%s: no fast kernel", what);
    /* at least the reference's need too: the fast kernel may fall back */
    size_t sb = sk_dispatch_ops_scratch(n, t->inp, t->nin, out, t->nout, 2);
    void *scr = sb ? sk_alloc(sb) : NULL;
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    sk_kctx c2 = {err, sizeof err, pool2, scr, sb, kc}, c1 = {err, sizeof err, NULL, scr, sb, kc};
    double tr = time_kernel(info->run, t, out, &c2);
    double t1 = time_kernel(fast, t, out, &c1);
    double t2 = time_kernel(fast, t, out, &c2);
    print_message("  %-6s %-38s ref %8.3f ms | fast 1T %7.3f ms (x%5.1f) 2T %7.3f ms (x%5.1f)\n",
                  model, what, tr, t1, tr / t1, t2, tr / t2);
    sk_free(scr);
    for (int o = 0; o < t->nout; o++)
        sk_free(out[o].data);
    tc_free(t);
}

static void pool2d(tc *t, sk_op op, int k, int s, int p, const int64_t *x)
{
    tc_new(t, op, 1, 1, 13);
    sk_node_set_ints(t->g, 0, "kernel_shape", (int64_t[]){k, k}, 2);
    sk_node_set_ints(t->g, 0, "strides", (int64_t[]){s, s}, 2);
    sk_node_set_ints(t->g, 0, "pads", (int64_t[]){p, p, p, p}, 4);
    tc_input(t, 0, SK_F32, 4, x);
}

static void binary(tc *t, sk_op op, int ra, const int64_t *a, int rb, const int64_t *b)
{
    tc_new(t, op, 2, 1, 13);
    tc_input(t, 0, SK_F32, ra, a);
    tc_input(t, 1, SK_F32, rb, b);
}

static void test_bench(void **state)
{
    (void)state;
    if (sk_cpu_detected() < SK_ISA_AVX2) {
        print_message("  no AVX2: nothing to time\n");
        return;
    }
    int full = getenv("FAST_OPS_BENCH_FULL") != NULL;
    print_message("  level %s, fast kernels vs reference (2T = 2-thread pool)\n",
                  sk_isa_name(sk_cpu_level()));
    tc t;
    /* ResNet-50 */
    pool2d(&t, SK_OP_MAX_POOL, 3, 2, 1, (int64_t[]){1, 64, 112, 112});
    bench(&t, "resnet", "MaxPool 3x3 s2 p1 [1,64,112,112]");
    tc_new(&t, SK_OP_GLOBAL_AVERAGE_POOL, 1, 1, 13);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 2048, 7, 7});
    bench(&t, "resnet", "GlobalAveragePool [1,2048,7,7]");
    binary(&t, SK_OP_ADD, 4, (int64_t[]){1, 256, 56, 56}, 4, (int64_t[]){1, 256, 56, 56});
    bench(&t, "resnet", "Add [1,256,56,56] x2");
    tc_new(&t, SK_OP_RELU, 1, 1, 13);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 256, 56, 56});
    bench(&t, "resnet", "Relu [1,256,56,56]");
    /* U-Net width 32 at 256x256 */
    pool2d(&t, SK_OP_MAX_POOL, 2, 2, 0, (int64_t[]){1, 32, 256, 256});
    bench(&t, "unet", "MaxPool 2x2 s2 [1,32,256,256]");
    tc_new(&t, SK_OP_CONV_TRANSPOSE, 3, 1, 13);
    sk_node_set_ints(t.g, 0, "strides", (int64_t[]){2, 2}, 2);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 64, 128, 128});
    tc_input(&t, 1, SK_F32, 4, (int64_t[]){64, 32, 2, 2});
    tc_input(&t, 2, SK_F32, 1, (int64_t[]){32});
    bench(&t, "unet", "ConvTranspose 2x2 s2 64->32 @128");
    tc_new(&t, SK_OP_CONV_TRANSPOSE, 3, 1, 13);
    sk_node_set_ints(t.g, 0, "strides", (int64_t[]){2, 2}, 2);
    sk_node_set_ints(t.g, 0, "pads", (int64_t[]){1, 1, 1, 1}, 4);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 64, 64, 64});
    tc_input(&t, 1, SK_F32, 4, (int64_t[]){64, 32, 4, 4});
    tc_input(&t, 2, SK_F32, 1, (int64_t[]){32});
    bench(&t, "unet", "ConvTranspose 4x4 s2 p1 64->32 @64");
    tc_new(&t, SK_OP_CONCAT, 2, 1, 13);
    sk_node_set_int(t.g, 0, "axis", 1);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 32, 256, 256});
    tc_input(&t, 1, SK_F32, 4, (int64_t[]){1, 32, 256, 256});
    bench(&t, "unet", "Concat axis 1 2x[1,32,256,256]");
    tc_new(&t, SK_OP_RESIZE, 3, 1, 13);
    sk_node_set_string(t.g, 0, "mode", "linear");
    sk_node_set_string(t.g, 0, "coordinate_transformation_mode", "pytorch_half_pixel");
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 64, 128, 128});
    t.inp[1] = NULL;
    tc_const_f32(&t, 2, 1, (int64_t[]){4}, (float[]){1, 1, 2, 2});
    bench(&t, "unet", "Resize bilinear x2 [1,64,128,128]");
    /* ViT-B/16 (one encoder layer's shapes) */
    binary(&t, SK_OP_MATMUL, 3, (int64_t[]){1, 197, 768}, 2, (int64_t[]){768, full ? 3072 : 768});
    bench(&t, "vit", full ? "MatMul [1,197,768]x[768,3072]" : "MatMul [1,197,768]x[768,768]");
    binary(&t, SK_OP_MATMUL, 3, (int64_t[]){12, 197, 64}, 3, (int64_t[]){12, 64, 197});
    bench(&t, "vit", "MatMul QK^T [12,197,64]x[12,64,197]");
    tc_new(&t, SK_OP_SOFTMAX, 1, 1, 13);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 12, 197, 197});
    bench(&t, "vit", "Softmax [1,12,197,197]");
    tc_new(&t, SK_OP_LAYER_NORM, 3, 1, 17);
    tc_input(&t, 0, SK_F32, 3, (int64_t[]){1, 197, 768});
    tc_input(&t, 1, SK_F32, 1, (int64_t[]){768});
    tc_input(&t, 2, SK_F32, 1, (int64_t[]){768});
    bench(&t, "vit", "LayerNorm [1,197,768]");
    tc_new(&t, SK_OP_ERF, 1, 1, 13);
    tc_input(&t, 0, SK_F32, 3, (int64_t[]){1, 197, 3072});
    bench(&t, "vit", "Erf [1,197,3072]");
    binary(&t, SK_OP_ADD, 3, (int64_t[]){1, 197, 3072}, 1, (int64_t[]){3072});
    bench(&t, "vit", "Add bias [1,197,3072]+[3072]");
    binary(&t, SK_OP_DIV, 3, (int64_t[]){1, 197, 3072}, 0, NULL);
    bench(&t, "vit", "Div scalar [1,197,3072]");
    tc_new(&t, SK_OP_TRANSPOSE, 1, 1, 13);
    sk_node_set_ints(t.g, 0, "perm", (int64_t[]){0, 1, 3, 2}, 4);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 12, 197, 64});
    bench(&t, "vit", "Transpose K^T [1,12,197,64]");
    tc_new(&t, SK_OP_TRANSPOSE, 1, 1, 13);
    sk_node_set_ints(t.g, 0, "perm", (int64_t[]){0, 2, 1, 3}, 4);
    tc_input(&t, 0, SK_F32, 4, (int64_t[]){1, 197, 12, 64});
    bench(&t, "vit", "Transpose heads [1,197,12,64]");
    tc_new(&t, SK_OP_SIGMOID, 1, 1, 13);
    tc_input(&t, 0, SK_F32, 3, (int64_t[]){1, 197, 3072});
    bench(&t, "-", "Sigmoid [1,197,3072]");
    tc_new(&t, SK_OP_TANH, 1, 1, 13);
    tc_input(&t, 0, SK_F32, 3, (int64_t[]){1, 197, 3072});
    bench(&t, "-", "Tanh [1,197,3072]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bench)};
    pool2 = sk_pool_create(2);
    testutil_init();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    testutil_fini();
    sk_pool_destroy(pool2);
    return rc;
}
