/* narrow_ab.c — A/B of the GEMM's narrow last column panel (issue 24
 * session 17): sk_gemm_run on the 14x14 layer shapes of ResNet-50/101
 * (N = 196 = 6 x 32 + 4: the last panel of 4 columns) and on that panel
 * alone (N = 4), weights packed at load (A), B packed per run as
 * im2col-gemm does, the narrow kernel (default) and SKIPSERVE_GEMM_NARROW=0
 * (ntail) alternating run by run in one process; fastest run of each and
 * the ratio. Also checks both give the same bytes.
 *
 *   cc -O2 -I. -Iengine -o build/narrow-ab bench/narrow_ab.c \
 *       build/libskengine.a -lm -pthread
 *   flock /work/notes/bench.lock build/narrow-ab [THREADS] [ROUNDS]
 *
 * Not built by `make all`: a measurement, not a part of the engine. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "kernels/config.h"
#include "kernels/gemm.h"
#include "threadpool.h"
#include "kernels/switches.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + 1e-3 * (double)t.tv_nsec;
}

static float *filled(size_t n)
{
    float *p = malloc(n * sizeof(float));
    if (!p)
        exit(1);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

int main(int argc, char **argv)
{
    const int T = argc > 1 ? atoi(argv[1]) : 1, rounds = argc > 2 ? atoi(argv[2]) : 200;
    /* M (output channels), N (pixels), K: 14x14 1x1 / 3x3 im2col layers */
    static const int S[][3] = {{256, 196, 1024}, {1024, 196, 256}, {256, 196, 2304},
                               {256, 4, 1024},   {1024, 4, 256},   {256, 4, 2304}};
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_level());
    if (!cfg || !cfg->narrow) {
        fprintf(stderr, "narrow-ab: no narrow kernel at this level\n");
        return 1;
    }
    /* the kernels alone, operands in cache: 128 rows (an M block) x kc
     * 256 x 4 columns, ns a call, best of 20 x 200 calls, and the
     * FMA-lane efficiency against 2 zmm FMAs a cycle at 4 GHz (nominal) */
    {
        enum { ROWS = 128, KC = 256 };
        const size_t astride = (size_t)KC * 8;
        float *a = aligned_alloc(64, (size_t)ROWS / 8 * astride * sizeof(float));
        float *b = aligned_alloc(64, (size_t)KC * 32 * sizeof(float));
        float *c = aligned_alloc(64, (size_t)ROWS * 196 * sizeof(float));
        for (size_t i = 0; i < (size_t)ROWS / 8 * astride; i++)
            a[i] = (float)(i % 7) * 0.1f;
        for (size_t i = 0; i < (size_t)KC * 32; i++)
            b[i] = (float)(i % 5) * 0.1f;
        sk_ukernel_params p = {.min = -1e30f, .max = 1e30f}; /* the rest NULL / 0 (apf too) */
        for (int cols = 1; cols <= 8; cols += 3) {
            double bn = 1e30, bt = 1e30;
            for (int rep = 0; rep < 20; rep++) {
                double t0 = now_us();
                for (int q = 0; q < 200; q++)
                    cfg->narrow(KC, a, astride, b, c, 196, ROWS, cols, SK_UK_EPI, &p);
                double t1 = now_us();
                for (int q = 0; q < 200; q++)
                    for (int r0 = 0; r0 < ROWS; r0 += 16)
                        cfg->ntail(KC, a + (size_t)(r0 / 8) * astride,
                                   a + (size_t)(r0 / 8 + 1) * astride, b, c + (size_t)r0 * 196,
                                   196, 16, cols, SK_UK_EPI, &p);
                double t2 = now_us();
                bn = (t1 - t0) / 200 < bn ? (t1 - t0) / 200 : bn;
                bt = (t2 - t1) / 200 < bt ? (t2 - t1) / 200 : bt;
            }
            double ideal = (double)ROWS * cols * KC / 16 / 2 / 4e3; /* us */
            printf("kernel %d rows x %d cols x kc %d: narrow %.2f us (%.0f%% of 2 FMA/cycle at 4 GHz), ntail %.2f us, ntail / narrow %.2f\n",
                   ROWS, cols, KC, bn, 100 * ideal / bn, bt, bt / bn);
        }
        free(a);
        free(b);
        free(c);
    }
    sk_pool *pool = sk_pool_create(T);
    printf("| M x N x K (%d thread(s), %d rounds) | narrow min us | ntail min us | ntail / narrow | rounds narrow faster | same bytes |\n|---|---|---|---|---|---|\n",
           T, rounds);
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        const int M = S[s][0], N = S[s][1], K = S[s][2];
        float *A = filled((size_t)M * K), *B = filled((size_t)K * N);
        float *C[2] = {filled((size_t)M * N), filled((size_t)M * N)};
        sk_gemm_packed_a pa;
        if (sk_gemm_pack_a(cfg, A, (size_t)K, M, K, 1, 1.0f, &pa))
            return 1;
        sk_gemm_rowmajor rb = {B, (size_t)N, 0};
        float *scr = malloc(sk_gemm_scratch_floats(cfg, T) * sizeof(float) + 64);
        float *scra = (float *)(((uintptr_t)scr + 63) & ~(uintptr_t)63);
        double best[2] = {1e30, 1e30};
        int won = 0;
        for (int r = 0; r < rounds; r++) {
            double t[2];
            for (int v = 0; v < 2; v++) {
                if (v)
                    setenv("SKIPSERVE_GEMM_NARROW", "0", 1);
                else
                    unsetenv("SKIPSERVE_GEMM_NARROW");
                sk_switches_reload();
                sk_gemm_job j;
                sk_gemm_job_init(&j, cfg, M, N, K, 1);
                j.a_packed = &pa;
                j.pack_b = sk_gemm_pack_b_rowmajor;
                j.b_ctx = &rb;
                j.c = C[v];
                j.ldc = (size_t)N;
                double t0 = now_us();
                sk_gemm_run(pool, &j, scra);
                t[v] = now_us() - t0;
                best[v] = t[v] < best[v] ? t[v] : best[v];
            }
            won += t[0] < t[1];
        }
        unsetenv("SKIPSERVE_GEMM_NARROW");
        sk_switches_reload();
        int same = !memcmp(C[0], C[1], (size_t)M * N * sizeof(float));
        printf("| %d x %d x %d | %.1f | %.1f | %.3f | %d of %d | %s |\n", M, N, K, best[0], best[1],
               best[1] / best[0], won, rounds, same ? "yes" : "NO");
        sk_gemm_packed_a_free(&pa);
        free(A);
        free(B);
        free(C[0]);
        free(C[1]);
        free(scr);
    }
    sk_pool_destroy(pool);
    return 0;
}
