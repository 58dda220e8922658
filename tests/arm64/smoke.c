/* smoke.c — the engine built for arm64 (scalar kernels only), run under
 * qemu-aarch64 by tests/arm64/check.sh.
 *
 * A residual block — Conv 3x3 + Relu, Conv 3x3, + Conv 1x1 shortcut, Relu,
 * GlobalAveragePool — built with the graph API, optimized as on x86 and
 * run on a 2-thread pool, against the same block computed here in double by plain loops.
 * Exit status 0 when every output agrees to 1e-5 of the output range. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "engine/graph.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "threadpool.h"

enum { N = 2, C = 5, H = 9, W = 9, M = 8 };

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)((rng >> 20) % 200001) / 100000.0 - 1.0);
}

static void fill(float *p, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = frand();
}

/* y[n][m][h][w] = b[m] + sum over c, kh, kw of x * w, stride 1, pad k / 2 */
static void ref_conv(const double *x, int cin, const float *wt, const float *b, int k, double *y)
{
    const int p = k / 2;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    double s = b ? b[m] : 0.0;
                    for (int c = 0; c < cin; c++)
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int ih = h + i - p, iw = w + j - p;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                    s += x[((n * cin + c) * H + ih) * W + iw] *
                                         wt[((m * cin + c) * k + i) * k + j];
                            }
                    y[((n * M + m) * H + h) * W + w] = s;
                }
}

static int add_conv(sk_graph *g, const char *name, int x, const float *wt, int cin, int k,
                    const float *b, int y)
{
    sk_shape ws = {4, {M, cin, k, k}}, bs = {1, {M}};
    int in[3] = {x, sk_graph_add_const(g, NULL, SK_F32, &ws, wt), -1};
    int nin = 2;
    if (b)
        in[nin++] = sk_graph_add_const(g, NULL, SK_F32, &bs, b);
    int ni = sk_graph_add_node(g, SK_OP_CONV, name, nin, in, 1, &y);
    int64_t pads[4] = {k / 2, k / 2, k / 2, k / 2};
    return ni < 0 ? ni : sk_node_set_ints(g, ni, "pads", pads, 4);
}

int main(void)
{
    static float x[N * C * H * W], w1[M * C * 9], b1[M], w2[M * M * 9], b2[M], w3[M * C];
    fill(x, N * C * H * W);
    fill(w1, M * C * 9);
    fill(b1, M);
    fill(w2, M * M * 9);
    fill(b2, M);
    fill(w3, M * C);

    char err[256];
    sk_graph *g = sk_graph_new();
    int X = sk_graph_value(g, "X"), c1 = sk_graph_value(g, "c1"), r1 = sk_graph_value(g, "r1"),
        c2 = sk_graph_value(g, "c2"), sc = sk_graph_value(g, "sc"), s = sk_graph_value(g, "s"),
        r2 = sk_graph_value(g, "r2"), Y = sk_graph_value(g, "Y");
    g->values[X].dtype = SK_F32;
    g->values[X].shape = (sk_shape){4, {-1, C, H, W}};
    sk_graph_add_input(g, X);
    int ok = add_conv(g, "conv1", X, w1, C, 3, b1, c1) >= 0 &&
             sk_graph_add_node(g, SK_OP_RELU, "relu1", 1, &c1, 1, &r1) >= 0 &&
             add_conv(g, "conv2", r1, w2, M, 3, b2, c2) >= 0 &&
             add_conv(g, "short", X, w3, C, 1, NULL, sc) >= 0;
    int add_in[2] = {c2, sc};
    ok = ok && sk_graph_add_node(g, SK_OP_ADD, "add", 2, add_in, 1, &s) >= 0 &&
         sk_graph_add_node(g, SK_OP_RELU, "relu2", 1, &s, 1, &r2) >= 0 &&
         sk_graph_add_node(g, SK_OP_GLOBAL_AVERAGE_POOL, "gap", 1, &r2, 1, &Y) >= 0 &&
         sk_graph_add_output(g, r2) >= 0 && sk_graph_add_output(g, Y) >= 0;
    if (!ok || sk_graph_validate(g, err, sizeof err) || sk_graph_optimize(g, 1, err, sizeof err)) {
        fprintf(stderr, "arm64 smoke: graph: %s\n", ok ? err : "build failed");
        return 1;
    }
    sk_pool *pool = sk_pool_create(2);
    sk_tensor in = {SK_F32, {4, {N, C, H, W}}, NULL};
    sk_plan *p = NULL;
    const void *d[1] = {x};
    if (!pool || sk_plan_create(g, &in, pool, &p, err, sizeof err) ||
        sk_plan_run(p, d, err, sizeof err)) {
        fprintf(stderr, "arm64 smoke: run: %s\n", err);
        return 1;
    }

    /* the reference, in double */
    enum { NY = N * M * H * W };
    static double xd[N * C * H * W], a[NY], bb[NY], sh[NY], ref[NY], gap[N * M];
    for (int i = 0; i < N * C * H * W; i++)
        xd[i] = x[i];
    ref_conv(xd, C, w1, b1, 3, a);
    for (int i = 0; i < NY; i++)
        a[i] = a[i] > 0 ? a[i] : 0;
    ref_conv(a, M, w2, b2, 3, bb);
    ref_conv(xd, C, w3, NULL, 1, sh);
    double range = 0;
    for (int i = 0; i < NY; i++) {
        double v = bb[i] + sh[i];
        ref[i] = v > 0 ? v : 0;
        range = fmax(range, fabs(ref[i]));
    }
    for (int i = 0; i < N * M; i++) {
        gap[i] = 0;
        for (int j = 0; j < H * W; j++)
            gap[i] += ref[i * H * W + j] / (H * W);
    }

    const sk_tensor *t0 = sk_plan_output(p, 0), *t1 = sk_plan_output(p, 1);
    if (sk_shape_numel(&t0->shape) != NY || sk_shape_numel(&t1->shape) != N * M) {
        fprintf(stderr, "arm64 smoke: unexpected output shapes\n");
        return 1;
    }
    const float *y0 = t0->data, *y1 = t1->data;
    double e = 0;
    for (int i = 0; i < NY; i++)
        e = fmax(e, fabs(y0[i] - ref[i]));
    for (int i = 0; i < N * M; i++)
        e = fmax(e, fabs(y1[i] - gap[i]));
    e /= range > 0 ? range : 1;
    const char *lv[] = {"scalar", "avx2", "avx512"};
    int level = (int)sk_cpu_detected();
    printf("arm64 smoke: SIMD level %s, residual block on 2 threads, max error %.2e of the "
           "output range (limit 1e-5): %s\n",
           level >= 0 && level < 3 ? lv[level] : "?", e, e <= 1e-5 ? "PASS" : "FAIL");
    sk_plan_free(p);
    sk_pool_destroy(pool);
    sk_graph_free(g);
    return e <= 1e-5 && range > 0 ? 0 : 1;
}
