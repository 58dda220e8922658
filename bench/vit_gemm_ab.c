/* vit_gemm_ab.c — ViT-B/16's Linear layers at batch 1 on one thread, as
 * _MatMulFused runs them (A packed per run by the transpose packer, the
 * weights packed at load, cold: a ring of copies larger than L3; bias +
 * residual epilogue), timed in this thread's CPU time (CLOCK_THREAD_CPUTIME_ID:
 * on the shared 2-core VM a wall clock counts the other jobs' slices) and
 * alternated run by run between variants (issue 24, session 18 mvt).
 *
 *   vit-gemm-ab ROUNDS SHAPE VARIANT VARIANT ...
 *
 * SHAPE: qkv | proj | ffn1 | ffn2. A variant is a comma list of
 *   kc=N    the job's K block (sk_gemm_job.kc; 0: the config's)
 *   mc=N    the config's M block (a copy of the level's config)
 *   nc=N    the config's N block
 *   nopack  time the GEMM only (A packed once, outside the timing)
 *   warm    one copy of the weights (in cache), not the cold ring
 *   noepi   no bias / residual (outputs then differ, by design)
 *   env=NAME=VALUE  set while the variant runs (per-run switches)
 *   mr12    (session 19) the 12-row kernel's config (sk_gemm_cfg_mr12; put
 *           mc=N after it: its M block is the level's rounded to 12)
 *   ukpf    (session 21 vit2) the AVX2 6 x 16 tile with the driver's
 *           next-weights prefetch (sk_f32_gemm_6x16__avx2_fma_pf)
 *   apf=N   (session 19) the config's A-panel prefetch distance (0: off)
 *   slice=N (session 20 vb8) the product as row slices of N rows (whole
 *           A panels; N a multiple of the config's mr), one job each, as
 *           _MatMulFused runs a batch's rows (fast_matmul_fused.c)
 *   krule   the job's K block by _MatMulFused's rule (sk_matmul_fused_kc)
 *           for the job's rows (a slice's where slice=N)
 * VIT_ROWS=n (session 20 vb8): n rows instead of 197 (batch 8: 1576).
 * Prints per variant the median and 10th percentile ms and the median of
 * the per-round ratios first / variant, and checks every variant's output
 * equals the first's bit for bit (kc changes the sum's order: reported).
 *
 *   cc -O2 -I. -Iengine bench/vit_gemm_ab.c build/libskengine.a -lm -pthread \
 *      -o build/vit-gemm-ab */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "kernels/config.h"
#include "kernels/fast_conv.h"
#include "kernels/fast_ops.h"
#include "kernels/fast_pack_t.h"
#include "kernels/gemm.h"
#include "sk.h"
#include "threadpool.h"
#include "kernels/switches.h"

#define MAXV 8

typedef struct var {
    int kc, nopack, warm, noepi, slice, krule;
    sk_gemm_cfg cfg;
    char *env_name, *env_val;
    double *ms;
    float *out;
} var;

static double cpu_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *filled(size_t n, unsigned seed)
{
    float *p = sk_alloc(n * sizeof(float));
    if (!p)
        exit(1);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 9) & 0xffff) / 65536.0f - 0.5f;
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: vit-gemm-ab ROUNDS qkv|proj|ffn1|ffn2 VARIANT...\n");
        return 2;
    }
    int rounds = atoi(argv[1]), M = getenv("VIT_ROWS") ? atoi(getenv("VIT_ROWS")) : 197, N, K;
    if (!strcmp(argv[2], "qkv"))
        N = 2304, K = 768;
    else if (!strcmp(argv[2], "proj"))
        N = 768, K = 768;
    else if (!strcmp(argv[2], "ffn1"))
        N = 3072, K = 768;
    else
        N = 768, K = 3072;
    const sk_kconfig *kcf = sk_kconfig_for(sk_cpu_level());
    int nv = argc - 3;
    if (nv > MAXV)
        nv = MAXV;
    var v[MAXV];
    for (int i = 0; i < nv; i++) {
        memset(&v[i], 0, sizeof v[i]);
        v[i].cfg = kcf->gemm;
        char *s = strdup(argv[3 + i]);
        for (char *t = strtok(s, ","); t; t = strtok(NULL, ",")) {
            if (!strncmp(t, "kc=", 3))
                v[i].kc = atoi(t + 3);
            else if (!strncmp(t, "mc=", 3))
                v[i].cfg.mc = atoi(t + 3);
            else if (!strncmp(t, "nc=", 3))
                v[i].cfg.nc = atoi(t + 3);
            else if (!strcmp(t, "mr12")) /* session 19: the 12-row kernel */
                v[i].cfg = sk_gemm_cfg_mr12(&v[i].cfg, sk_f32_gemm_12x32__avx512f);
            else if (!strcmp(t, "ukpf")) /* session 21: the AVX2 tile with p->pf */
                v[i].cfg.uk = sk_f32_gemm_6x16__avx2_fma_pf;
            else if (!strncmp(t, "apf=", 4)) /* session 19: the A-panel prefetch */
                v[i].cfg.apf = atoi(t + 4);
            else if (!strncmp(t, "slice=", 6))
                v[i].slice = atoi(t + 6);
            else if (!strcmp(t, "krule"))
                v[i].krule = 1;
            else if (!strcmp(t, "nopack"))
                v[i].nopack = 1;
            else if (!strcmp(t, "warm"))
                v[i].warm = 1;
            else if (!strcmp(t, "noepi"))
                v[i].noepi = 1;
            else if (!strncmp(t, "env=", 4)) {
                char *eq = strchr(t + 4, '=');
                if (eq) {
                    *eq = 0;
                    v[i].env_name = t + 4;
                    v[i].env_val = eq + 1;
                }
            }
        }
        v[i].ms = calloc((size_t)rounds, sizeof(double));
        v[i].out = sk_alloc((size_t)M * N * sizeof(float));
    }
    sk_pool *pool = sk_pool_create(1);
    float *A = filled((size_t)M * K, 1), *B = filled((size_t)K * N, 2);
    float *bias = filled((size_t)N, 3), *R = filled((size_t)M * N, 4);
    size_t bbytes = (size_t)K * N * 4;
    int ncopy = (int)(((size_t)160 << 20) / bbytes) + 1;
    sk_gemm_packed_b *pb = calloc((size_t)ncopy, sizeof *pb);
    for (int q = 0; q < ncopy; q++)
        if (sk_gemm_pack_b(&kcf->gemm, B, (size_t)N, 1, K, N, 1.0f, &pb[q]))
            return 1;
    /* room for 12-row panels too (mr12) */
    float *apack = sk_alloc(((size_t)M + 16) * (size_t)K * sizeof(float));
    float *scr = sk_alloc(sk_gemm_scratch_floats(&kcf->gemm, 1) * sizeof(float) * 8);
    sk_fast_rows_t rt = {A, (size_t)K, 0, kcf->ops.transpose};
    sk_gemm_packed_a pa;
    sk_fast_prepack_a(pool, &kcf->gemm, sk_fast_pack_a_rows_t, &rt, 1, M, K, apack, &pa);
    int ring = 0;
    for (int r = -2; r < rounds; r++)
        for (int x = 0; x < nv; x++) {
            var *w = &v[(x + (r > 0 ? r : 0)) % nv];
            if (w->env_name) {
                setenv(w->env_name, w->env_val, 1);
                sk_switches_reload();
            }
            sk_gemm_job j;
            double t0 = cpu_ms();
            if (!w->nopack)
                sk_fast_prepack_a(pool, &w->cfg, sk_fast_pack_a_rows_t, &rt, 1, M, K, apack,
                                  &pa);
            pa.cfg = &w->cfg;
            const int srows = w->slice > 0 ? w->slice : M;
            const sk_gemm_packed_b *bq = &pb[w->warm ? 0 : ring++ % ncopy];
            for (int r0 = 0; r0 < M; r0 += srows) {
                const int ms = M - r0 < srows ? M - r0 : srows;
                sk_gemm_packed_a ps = pa;
                ps.M = ms;
                ps.data = pa.data + (size_t)(r0 / w->cfg.mr) * (size_t)K * (size_t)w->cfg.mr;
                sk_gemm_job_init(&j, &w->cfg, ms, N, K, 1);
                j.kc = w->krule ? sk_matmul_fused_kc(&w->cfg, ms, K) : w->kc;
                j.a_packed = &ps;
                j.b_packed = bq;
                j.c = w->out + (size_t)r0 * N;
                j.ldc = (size_t)N;
                if (!w->noepi) {
                    j.epi.bias = bias;
                    j.epi.bias_per_col = 1;
                    j.epi.res = R + (size_t)r0 * N;
                    j.epi.ldres = (size_t)N;
                }
                sk_gemm_run(pool, &j, scr);
            }
            double t = cpu_ms() - t0;
            if (w->env_name) {
                unsetenv(w->env_name);
                sk_switches_reload();
            }
            if (r >= 0)
                w->ms[r] = t;
        }
    double gf = 2.0 * M * N * (double)K / 1e6;
    for (int i = 0; i < nv; i++) {
        double *ratio = calloc((size_t)rounds, sizeof(double)), *s = calloc((size_t)rounds, 8);
        for (int r = 0; r < rounds; r++)
            ratio[r] = v[0].ms[r] / v[i].ms[r];
        memcpy(s, v[i].ms, (size_t)rounds * 8);
        qsort(s, (size_t)rounds, 8, cmpd);
        qsort(ratio, (size_t)rounds, 8, cmpd);
        size_t diff = 0;
        double md = 0;
        for (size_t e = 0; e < (size_t)M * N; e++)
            if (memcmp(&v[i].out[e], &v[0].out[e], 4)) {
                diff++;
                double d = fabs((double)v[i].out[e] - v[0].out[e]);
                md = d > md ? d : md;
            }
        printf("%-28s median %.3f ms (%.0f GFLOP/s) p10 %.3f  first/this %.3f  "
               "differs %zu (max %.2g)\n",
               argv[3 + i], s[rounds / 2], gf / s[rounds / 2], s[rounds / 10], ratio[rounds / 2],
               diff, md);
    }
    return 0;
}
