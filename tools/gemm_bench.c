/* gemm_bench.c — the SGEMM driver and the thread pool in isolation
 * ($(BUILD)/skipserve-gemm-bench [uk|gemm|pool|all]):
 *   uk    AVX-512 microkernel tile shapes (8x32 ours, 12x32, 14x32, 6x64,
 *         8x48, 4x64; gemm_uk_variants__avx512f.c) in L1 and over an
 *         L2-sized block, then the production 8x32 (with and without the
 *         A-panel prefetch) and 12x32 kernels over a 192-row A block at K
 *         blocks of 256 and 512 — only on CPUs with AVX-512;
 *   gemm  sk_gemm_run on ResNet layer shapes at each SIMD level (1 thread),
 *         then 2, 4 and 16 threads where the CPU has them: B packed at run time
 *         (as a conv does) vs prepacked;
 *   pool  time of an empty sk_parallel_for at 2..16 threads;
 *   vit   the transformer Linear layers of vit_b_16 / vit_small (rows = tokens
 *         in A, weights prepacked in B, bias + residual epilogue as
 *         _MatMulFused runs them) at the pool's thread count (argument 2,
 *         default 1), B cold (a ring of copies larger than L3, as a 340 MB
 *         model's weights are) and warm; SKIPSERVE_GEMM_BLOCKS applies.
 * GFLOP/s are best-of-several; compare ratios from one run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "kernels/gemm.h"
#include "kernels/config.h"
#include "sk.h"
#include "threadpool.h"

typedef void (*ukfn)(size_t, const float *, const float *, float *, size_t);
void sk_bench_uk_8x32(size_t, const float *, const float *, float *, size_t);
void sk_bench_uk_12x32(size_t, const float *, const float *, float *, size_t);
void sk_bench_uk_14x32(size_t, const float *, const float *, float *, size_t);
void sk_bench_uk_6x64(size_t, const float *, const float *, float *, size_t);
void sk_bench_uk_8x48(size_t, const float *, const float *, float *, size_t);
void sk_bench_uk_4x64(size_t, const float *, const float *, float *, size_t);

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float *filled(size_t n)
{
    float *p = sk_alloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "gemm-bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)((i * 7) % 13) * 0.01f;
    return p;
}

static void bench_uk(void)
{
#if defined(__x86_64__)
    if (sk_cpu_detected() < SK_ISA_AVX512) {
        printf("uk: this CPU has no AVX-512; skipped\n");
        return;
    }
    static const struct {
        const char *name;
        ukfn f;
        int rows, vecs;
    } v[] = {{"8x32", sk_bench_uk_8x32, 8, 2},   {"12x32", sk_bench_uk_12x32, 12, 2},
             {"14x32", sk_bench_uk_14x32, 14, 2}, {"6x64", sk_bench_uk_6x64, 6, 4},
             {"8x48", sk_bench_uk_8x48, 8, 3},    {"4x64", sk_bench_uk_4x64, 4, 4}};
    const size_t kc = 256;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int R = v[i].rows, NR = v[i].vecs * 16;
        float *a = filled(kc * (size_t)R), *b = filled(kc * (size_t)NR), *c = filled((size_t)R * NR);
        const long calls = 20000;
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            double t = now();
            for (long k = 0; k < calls; k++)
                v[i].f(kc, a, b, c, (size_t)NR);
            t = now() - t;
            best = t < best ? t : best;
        }
        double l1 = 2.0 * R * NR * (double)kc * calls / best / 1e9;
        /* driver-like: an A block of ~144 rows from L2, each B panel reused
         * across its A panels */
        int mp = 144 / R, np = 256 / NR;
        float *A = filled(kc * (size_t)R * mp), *B = filled(kc * (size_t)NR * np),
              *C = filled((size_t)R * mp * NR * np);
        const int it = 300;
        best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            double t = now();
            for (int q = 0; q < it; q++)
                for (int jn = 0; jn < np; jn++)
                    for (int im = 0; im < mp; im++)
                        v[i].f(kc, A + (size_t)im * kc * R, B + (size_t)jn * kc * NR,
                               C + (size_t)im * R * NR * np + (size_t)jn * NR, (size_t)NR * np);
            t = now() - t;
            best = t < best ? t : best;
        }
        printf("uk %-6s L1 %.1f GFLOP/s, block (%dx%d) %.1f GFLOP/s\n", v[i].name, l1, R * mp,
               NR * np, 2.0 * R * mp * NR * np * (double)kc * it / best / 1e9);
        sk_free(a);
        sk_free(b);
        sk_free(c);
        sk_free(A);
        sk_free(B);
        sk_free(C);
    }
    /* session 19 (gk): the production kernels (epilogue-free calls) over
     * an A block from L2 against one B panel, K blocks of 256 (the B panel
     * in L1) and 512 (im2col-gemm's: 64 KB, past a 48 KB L1), with and
     * without the A-panel prefetch (sk_ukernel_params.apf) */
    static const struct {
        const char *name;
        sk_gemm_ukernel f;
        int rows;
        size_t apf;
    } pk[] = {{"8x32", sk_f32_gemm_8x32__avx512f, 8, 0},
              {"8x32 apf512", sk_f32_gemm_8x32__avx512f, 8, 512},
              {"12x32", sk_f32_gemm_12x32__avx512f, 12, 0}};
    for (int kb = 256; kb <= 512; kb += 256)
        for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
            const int R = pk[i].rows, mp = 192 / R;
            float *A = filled((size_t)kb * R * mp), *B = filled((size_t)kb * 32),
                  *C = filled((size_t)R * mp * 32);
            sk_ukernel_params up;
            memset(&up, 0, sizeof up);
            up.min = -1e30f;
            up.max = 1e30f;
            up.apf = pk[i].apf;
            const int it = 400;
            double best = 1e9;
            for (int rep = 0; rep < 5; rep++) {
                double t = now();
                for (int q = 0; q < it; q++)
                    for (int im = 0; im < mp; im++)
                        pk[i].f((size_t)kb, A + (size_t)im * kb * R, B, C + (size_t)im * R * 32,
                                32, 0, &up);
                t = now() - t;
                best = t < best ? t : best;
            }
            printf("uk production %-12s kc %d, A block %d rows from L2: %.1f GFLOP/s\n",
                   pk[i].name, kb, R * mp, 2.0 * R * mp * 32 * (double)kb * it / best / 1e9);
            sk_free(A);
            sk_free(B);
            sk_free(C);
        }
#endif
}

static void bench_shapes(sk_pool *pool, const char *label)
{
    /* M (output channels), N (pixels), K: ResNet-50's 1x1 and 3x3 layers */
    static const int S[][3] = {{1024, 1024, 1024}, {64, 3136, 64},   {256, 3136, 64},
                               {64, 3136, 256},    {128, 784, 512},  {512, 784, 128},
                               {128, 784, 1152},   {256, 196, 1024}, {1024, 196, 256},
                               {256, 196, 2304},   {512, 49, 2048},  {2048, 49, 512}};
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_level());
    if (!cfg)
        return;
    int T = sk_pool_size(pool);
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int M = S[s][0], N = S[s][1], K = S[s][2];
        float *A = filled((size_t)M * K), *B = filled((size_t)K * N), *C = filled((size_t)M * N);
        float *scr = filled(sk_gemm_scratch_floats(cfg, T));
        sk_gemm_packed_a pa;
        sk_gemm_packed_b pb;
        if (sk_gemm_pack_a(cfg, A, (size_t)K, M, K, 1, 1.0f, &pa) ||
            sk_gemm_pack_b(cfg, B, (size_t)N, 1, K, N, 1.0f, &pb)) {
            fprintf(stderr, "gemm-bench: out of memory\n");
            exit(1);
        }
        sk_gemm_rowmajor rb = {B, (size_t)N, 0};
        double gf[2];
        for (int mode = 0; mode < 2; mode++) {
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfg, M, N, K, 1);
            j.a_packed = &pa;
            if (mode == 0) {
                j.pack_b = sk_gemm_pack_b_rowmajor;
                j.b_ctx = &rb;
            } else {
                j.b_packed = &pb;
            }
            j.c = C;
            j.ldc = (size_t)N;
            int it = (int)(2e8 / ((double)M * N * K)) + 1;
            double best = 1e9;
            for (int rep = 0; rep < 7; rep++) {
                double t = now();
                for (int q = 0; q < it; q++)
                    sk_gemm_run(pool, &j, scr);
                t = (now() - t) / it;
                best = t < best ? t : best;
            }
            gf[mode] = 2.0 * M * N * (double)K / best / 1e9;
        }
        printf("gemm %s %d thread(s) M %d N %d K %d: B packed at run %.1f GFLOP/s, prepacked %.1f\n",
               label, T, M, N, K, gf[0], gf[1]);
        sk_gemm_packed_a_free(&pa);
        sk_gemm_packed_b_free(&pb);
        sk_free(A);
        sk_free(B);
        sk_free(C);
        sk_free(scr);
    }
}

/* vit: rows x out x in of each Linear layer at batch 1 and 8 */
static void bench_vit(sk_pool *pool)
{
    static const struct {
        const char *name;
        int M, N, K;
    } S[] = {{"b16 qkv", 197, 2304, 768},    {"b16 proj", 197, 768, 768},
             {"b16 ffn1", 197, 3072, 768},   {"b16 ffn2", 197, 768, 3072},
             {"b16 qkv b8", 1576, 2304, 768}, {"b16 ffn2 b8", 1576, 768, 3072},
             {"s qkv", 197, 1152, 384},      {"s proj", 197, 384, 384},
             {"s ffn1", 197, 1536, 384},     {"s ffn2", 197, 384, 1536},
             {"s ffn1 b8", 1576, 1536, 384}, {"s ffn2 b8", 1576, 384, 1536}};
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_level());
    if (!cfg)
        return;
    int T = sk_pool_size(pool);
    for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
        int M = S[s].M, N = S[s].N, K = S[s].K;
        /* copies of B: > 96 MB in all when cold, one when warm */
        size_t bbytes = (size_t)K * N * 4;
        int ncopy = (int)((size_t)96 << 20) / bbytes + 1;
        float *A = filled((size_t)M * K), *B = filled((size_t)K * N), *C = filled((size_t)M * N);
        float *R = filled((size_t)M * N), *bias = filled((size_t)N);
        float *scr = filled(sk_gemm_scratch_floats(cfg, T));
        sk_gemm_packed_a pa;
        sk_gemm_packed_b *pb = calloc((size_t)ncopy, sizeof *pb);
        if (!pb || sk_gemm_pack_a(cfg, A, (size_t)K, M, K, 1, 1.0f, &pa)) {
            fprintf(stderr, "gemm-bench: out of memory\n");
            exit(1);
        }
        for (int q = 0; q < ncopy; q++)
            if (sk_gemm_pack_b(cfg, B, (size_t)N, 1, K, N, 1.0f, &pb[q])) {
                fprintf(stderr, "gemm-bench: out of memory\n");
                exit(1);
            }
        double gf[2];
        for (int cold = 1; cold >= 0; cold--) {
            int it = (int)(4e9 / ((double)M * N * K)) + ncopy;
            double best = 1e9;
            for (int rep = 0; rep < 7; rep++) {
                double t = now();
                for (int q = 0; q < it; q++) {
                    sk_gemm_job j;
                    sk_gemm_job_init(&j, cfg, M, N, K, 1);
                    j.a_packed = &pa;
                    j.b_packed = &pb[cold ? q % ncopy : 0];
                    j.c = C;
                    j.ldc = (size_t)N;
                    j.epi.bias = bias;
                    j.epi.bias_per_col = 1;
                    j.epi.res = R;
                    j.epi.ldres = (size_t)N;
                    sk_gemm_run(pool, &j, scr);
                }
                t = (now() - t) / it;
                best = t < best ? t : best;
            }
            gf[cold] = 2.0 * M * N * (double)K / best / 1e9;
        }
        printf("vit %-12s %d thread(s) M %4d N %4d K %4d: B cold %.1f GFLOP/s, warm %.1f\n",
               S[s].name, T, M, N, K, gf[1], gf[0]);
        sk_gemm_packed_a_free(&pa);
        for (int q = 0; q < ncopy; q++)
            sk_gemm_packed_b_free(&pb[q]);
        free(pb);
        sk_free(A);
        sk_free(B);
        sk_free(C);
        sk_free(R);
        sk_free(bias);
        sk_free(scr);
    }
}

static void nop(void *a, int tid, size_t b, size_t e)
{
    (void)a;
    (void)tid;
    (void)b;
    (void)e;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    int all = !strcmp(what, "all");
    if (!all && strcmp(what, "uk") && strcmp(what, "gemm") && strcmp(what, "pool") &&
        strcmp(what, "vit")) {
        fprintf(stderr, "usage: skipserve-gemm-bench [uk|gemm|pool|all] | vit [THREADS]\n");
        return 2;
    }
    if (!strcmp(what, "vit")) {
        sk_pool *p = sk_pool_create(argc > 2 && atoi(argv[2]) > 0 ? atoi(argv[2]) : 1);
        bench_vit(p);
        sk_pool_destroy(p);
        return 0;
    }
    if (all || !strcmp(what, "uk"))
        bench_uk();
    if (all || !strcmp(what, "gemm")) {
        sk_isa keep = sk_cpu_level();
        for (int l = (int)sk_cpu_detected(); l >= (int)SK_ISA_AVX2; l--) {
            sk_cpu_set_level((sk_isa)l);
            sk_pool *p = sk_pool_create(1);
            bench_shapes(p, sk_isa_name((sk_isa)l));
            sk_pool_destroy(p);
        }
        sk_cpu_set_level(keep);
        static const int Ts[] = {2, 4, 16};
        for (int t = 0; t < 3; t++)
            if (Ts[t] <= sk_cpu_count()) {
                sk_pool *p = sk_pool_create(Ts[t]);
                bench_shapes(p, sk_isa_name(keep));
                sk_pool_destroy(p);
            }
    }
    if (all || !strcmp(what, "pool")) {
        static const int Ts[] = {2, 4, 8, 16};
        for (int t = 0; t < 4; t++) {
            if (Ts[t] > sk_cpu_count())
                continue;
            sk_pool *p = sk_pool_create(Ts[t]);
            for (int w = 0; w < 100; w++)
                sk_parallel_for_tid(p, (size_t)Ts[t] * 4, 1, nop, NULL);
            const int n = 20000;
            double t0 = now();
            for (int i = 0; i < n; i++)
                sk_parallel_for_tid(p, (size_t)Ts[t] * 4, 1, nop, NULL);
            printf("pool %d threads: %.2f us per empty parallel_for\n", Ts[t],
                   (now() - t0) / n * 1e6);
            sk_pool_destroy(p);
        }
    }
    return 0;
}
