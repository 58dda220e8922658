/* pixrows_pair_ab.c — (session 19, r12) pixel rows' GEMM with 7-row A
 * panels one at a time (config.h gemm_mr7) against two at a time
 * (gemm_mr7x2 as sk_gemm_cfg.uk2), on ResNet-50's 7x7 pixel-rows shapes at
 * batch 1 (A: 49 pixel rows x K, packed; B: W', K x N, packed as at load,
 * a ring of copies so that each run reads its weights from L3 as in a
 * network; K blocks of up to 2048 as fast_conv_pixrows.c; bias + Relu),
 * alternated run by run on one thread and timed in the thread's CPU time.
 * Prints per shape the median ms of each, the median of the per-round
 * ratios one / pairs, rounds the pairs won, and whether C is the same bytes.
 *   cc -O2 -I. -Iengine bench/pixrows_pair_ab.c build/libskengine.a -lm -pthread \
 *      -o build/pixrows-pair-ab
 *   flock /work/notes/bench.lock build/pixrows-pair-ab [ROUNDS] [KC]
 * Not built by `make all` (a measurement). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "kernels/config.h"
#include "kernels/gemm.h"

#define RING 8

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 40;
    int jkc = argc > 2 ? atoi(argv[2]) : 2048; /* the K block limit (pixel rows: 2048) */
    const sk_kconfig *kc = sk_kconfig_for(SK_ISA_AVX512);
    if (!kc || !kc->gemm_mr7) {
        fprintf(stderr, "needs the AVX-512 level\n");
        return 1;
    }
    static const int shapes[][3] = {/* M (pixel rows), N (outputs), K */
                                    {49, 512, 4608}, {49, 512, 2048}, {49, 2048, 512},
                                    {49, 2048, 1024}, {49, 512, 1024}};
    const char *names[] = {"3x3 512->512", "1x1 2048->512", "1x1 512->2048", "1x1/2 1024->2048",
                           "49 x 512 x 1024 (shape only)"};
    sk_gemm_cfg c1 = sk_gemm_cfg_mr7(&kc->gemm, kc->gemm_mr7), c2 = c1;
    c2.uk2 = sk_f32_gemm_7x32x2__avx512f;
    printf("| shape (M x N x K) | one ms | pairs ms | one / pairs (median of rounds) | pairs won | same bytes |\n|---|---|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
        float *C[2], *bias = malloc(sizeof(float) * (size_t)N);
        for (size_t i = 0; i < (size_t)M * K; i++)
            A[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
        for (size_t i = 0; i < (size_t)K * N; i++)
            B[i] = (float)((i * 40503u) % 1000) / 1000.0f - 0.5f;
        for (int i = 0; i < N; i++)
            bias[i] = 0.01f * (float)(i % 7);
        sk_gemm_packed_a pa;
        sk_gemm_packed_b pb[RING];
        if (sk_gemm_pack_a(&c1, A, (size_t)K, M, K, 1, 1.0f, &pa))
            return 1;
        for (int r = 0; r < RING; r++)
            if (sk_gemm_pack_b(&c1, B, (size_t)N, 1, K, N, 1.0f, &pb[r]))
                return 1;
        double *t[2], *ratio = malloc(sizeof(double) * (size_t)rounds);
        int won = 0;
        const sk_gemm_cfg *cf[2] = {&c1, &c2};
        for (int v = 0; v < 2; v++) {
            C[v] = malloc(sizeof(float) * (size_t)M * N);
            t[v] = malloc(sizeof(double) * (size_t)rounds);
        }
        for (int it = -3; it < rounds; it++) {
            for (int vv = 0; vv < 2; vv++) {
                int v = (it & 1) ? 1 - vv : vv; /* alternate the order */
                sk_gemm_job j;
                sk_gemm_job_init(&j, cf[v], M, N, K, 1);
                j.a_packed = &pa;
                j.b_packed = &pb[(it + 3) % RING];
                j.c = C[v];
                j.ldc = (size_t)N;
                j.kc = jkc;
                j.epi.bias = bias;
                j.epi.bias_per_col = 1;
                j.epi.min = 0.0f;
                double t0 = now_ms();
                sk_gemm_run(NULL, &j, NULL);
                double dt = now_ms() - t0;
                if (it >= 0)
                    t[v][it] = dt;
            }
            if (it >= 0) {
                ratio[it] = t[0][it] / t[1][it];
                won += t[1][it] < t[0][it];
            }
        }
        int same = !memcmp(C[0], C[1], sizeof(float) * (size_t)M * N);
        qsort(t[0], (size_t)rounds, sizeof(double), cmpd);
        qsort(t[1], (size_t)rounds, sizeof(double), cmpd);
        qsort(ratio, (size_t)rounds, sizeof(double), cmpd);
        printf("| %s (%d x %d x %d) | %.3f | %.3f | %.3f | %d of %d | %s |\n", names[s], M, N, K,
               t[0][rounds / 2], t[1][rounds / 2], ratio[rounds / 2], won, rounds,
               same ? "yes" : "NO");
        for (int v = 0; v < 2; v++) {
            free(C[v]);
            free(t[v]);
        }
        free(ratio);
        sk_gemm_packed_a_free(&pa);
        for (int r = 0; r < RING; r++)
            sk_gemm_packed_b_free(&pb[r]);
        free(A);
        free(B);
        free(bias);
    }
    return 0;
}
