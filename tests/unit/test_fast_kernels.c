/* test_fast_kernels.c — every fast kernel against an independent reference,
 * at every ISA level this CPU supports (each forced in turn):
 *   - the packed GEMM (row-major, prepacked A with groups and batches,
 *     prepacked B) against a double-precision triple loop, with every
 *     epilogue (row / column bias, residual, Relu, Clip) and odd sizes
 *     around the tile, block and thread-split edges;
 *   - fused convolution (see test_fast_conv.c for the graph-level tests).
 * Tolerance: the forward error bound of a K-term float sum,
 * K * FLT_EPSILON * sum_k |a_ik * b_kj| (+ the epilogue terms), which a
 * wrong index or a dropped K block exceeds by orders of magnitude. */
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

#include "cpu.h"
#include "kernels/gemm.h"
#include "kernels/config.h"
#include "sk.h"
#include "threadpool.h"
#include "kernels/switches.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static float frand(void) { return (float)((double)rnd() / 4294967296.0 * 2.0 - 1.0); }

static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = frand();
}

/* Reference: C = epi(A * B) in double, and the error scale of each entry. */
static void ref_gemm(int M, int N, int K, const float *A, size_t lda, const float *B,
                     size_t ldb, const sk_gemm_epi *e, double *ref, double *scale)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double t = (double)A[(size_t)i * lda + k] * B[(size_t)k * ldb + j];
                s += t;
                mag += fabs(t);
            }
            if (e->bias) {
                double b = e->bias_per_col ? e->bias[j] : e->bias[i];
                s += b;
                mag += fabs(b);
            }
            if (e->res) {
                double r = e->res[(size_t)i * e->ldres + j];
                s += r;
                mag += fabs(r);
            }
            if (s < e->min)
                s = e->min;
            if (s > e->max)
                s = e->max;
            ref[(size_t)i * N + j] = s;
            scale[(size_t)i * N + j] = mag;
        }
}

static int check_close(const char *what, int M, int N, int K, const float *C, size_t ldc,
                       const double *ref, const double *scale)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double got = C[(size_t)i * ldc + j], want = ref[(size_t)i * N + j];
            double tol = (double)(K + 4) * FLT_EPSILON * scale[(size_t)i * N + j] + 1e-6;
            if (!(fabs(got - want) <= tol)) {
                print_error("%s [%s] M %d N %d K %d: C[%d][%d] = %.7g, want %.7g (tol %.3g)\n",
                            what, sk_isa_name(sk_cpu_level()), M, N, K, i, j, got, want, tol);
                return 0;
            }
        }
    return 1;
}

/* Every level the CPU has, forced in turn; the detected one restored after. */
static int levels(sk_isa *out)
{
    int n = 0;
    for (int l = SK_ISA_SCALAR; l <= (int)sk_cpu_detected(); l++)
        out[n++] = (sk_isa)l;
    return n;
}

enum { EPI_NONE, EPI_ROWBIAS, EPI_COLBIAS, EPI_RES, EPI_RELU, EPI_CLIP, EPI_ALL, EPI_COUNT };

static void make_epi(int kind, int M, int N, float *bias_row, float *bias_col, float *res,
                     size_t ldres, sk_gemm_epi *e)
{
    sk_gemm_epi_none(e);
    if (kind == EPI_ROWBIAS || kind == EPI_ALL)
        e->bias = bias_row;
    if (kind == EPI_COLBIAS) {
        e->bias = bias_col;
        e->bias_per_col = 1;
    }
    if (kind == EPI_RES || kind == EPI_ALL) {
        e->res = res;
        e->ldres = ldres;
    }
    if (kind == EPI_RELU || kind == EPI_ALL)
        e->min = 0.0f;
    if (kind == EPI_CLIP) {
        e->min = -0.5f;
        e->max = 0.7f;
    }
    (void)M;
    (void)N;
}

static int one_gemm(sk_pool *pool, int M, int N, int K, int epi_kind, int pad)
{
    size_t lda = (size_t)K + (size_t)pad, ldb = (size_t)N + (size_t)pad,
           ldc = (size_t)N + (size_t)pad * 2, ldr = (size_t)N + 3;
    float *A = malloc(sizeof(float) * ((size_t)M * lda + 1));
    float *B = malloc(sizeof(float) * ((size_t)K * ldb + 1));
    float *C = malloc(sizeof(float) * ((size_t)M * ldc + 1));
    float *R = malloc(sizeof(float) * ((size_t)M * ldr + 1));
    float *br = malloc(sizeof(float) * ((size_t)M + 1));
    float *bc = malloc(sizeof(float) * ((size_t)N + 1));
    double *ref = malloc(sizeof(double) * ((size_t)M * N + 1));
    double *scale = malloc(sizeof(double) * ((size_t)M * N + 1));
    assert_true(A && B && C && R && br && bc && ref && scale);
    fill(A, (size_t)M * lda);
    fill(B, (size_t)K * ldb);
    fill(R, (size_t)M * ldr);
    fill(br, (size_t)M);
    fill(bc, (size_t)N);
    for (size_t i = 0; i < (size_t)M * ldc; i++)
        C[i] = 12345.0f; /* garbage the product must overwrite */
    sk_gemm_epi e;
    make_epi(epi_kind, M, N, br, bc, R, ldr, &e);
    ref_gemm(M, N, K, A, lda, B, ldb, &e, ref, scale);
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_level());
    assert_int_equal(sk_gemm_f32(cfg, pool, M, N, K, A, lda, B, ldb, C, ldc, &e), 0);
    int ok = check_close("sk_gemm_f32", M, N, K, C, ldc, ref, scale);
    /* the padding columns of C are never written */
    for (int i = 0; ok && i < M; i++)
        for (size_t j = (size_t)N; j < ldc; j++)
            if (C[(size_t)i * ldc + j] != 12345.0f) {
                print_error("wrote past column N at row %d\n", i);
                ok = 0;
                break;
            }
    free(A);
    free(B);
    free(C);
    free(R);
    free(br);
    free(bc);
    free(ref);
    free(scale);
    return ok;
}

static void test_gemm_rowmajor(void **state)
{
    (void)state;
    sk_isa lv[SK_ISA_COUNT];
    int nl = levels(lv);
    sk_pool *pools[2] = {NULL, sk_pool_create(3)};
    assert_non_null(pools[1]);
    /* sizes around mr (6, 8), nr (16, 32), kc (256) and the block sizes */
    static const int Ms[] = {1, 5, 6, 7, 8, 9, 13, 64, 71, 150};
    static const int Ns[] = {1, 3, 15, 16, 17, 31, 32, 33, 49, 200, 777};
    static const int Ks[] = {1, 2, 7, 64, 255, 256, 257, 600};
    for (int l = 0; l < nl; l++) {
        sk_cpu_set_level(lv[l]);
        int count = 0;
        for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
                for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
                    int M = Ms[mi], N = Ns[ni], K = Ks[ki];
                    if ((long)M * N * K > 4000000)
                        continue;
                    int epi = count % EPI_COUNT, pad = count % 3;
                    sk_pool *pool = pools[count % 2];
                    count++;
                    if (!one_gemm(pool, M, N, K, epi, pad))
                        fail_msg("level %s, M %d N %d K %d epilogue %d threads %d",
                                 sk_isa_name(lv[l]), M, N, K, epi, sk_pool_size(pool));
                }
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pools[1]);
}

static void test_gemm_every_epilogue(void **state)
{
    (void)state;
    sk_isa lv[SK_ISA_COUNT];
    int nl = levels(lv);
    sk_pool *pool = sk_pool_create(2);
    for (int l = 0; l < nl; l++) {
        sk_cpu_set_level(lv[l]);
        for (int e = 0; e < EPI_COUNT; e++)
            for (int t = 0; t < 6; t++) {
                int M = 1 + (int)(rnd() % 90), N = 1 + (int)(rnd() % 300),
                    K = 1 + (int)(rnd() % 700);
                if (!one_gemm(t & 1 ? pool : NULL, M, N, K, e, (int)(rnd() % 4)))
                    fail_msg("level %s epilogue %d M %d N %d K %d", sk_isa_name(lv[l]), e, M,
                             N, K);
            }
    }
    sk_cpu_set_level(sk_cpu_detected());
    sk_pool_destroy(pool);
}

static void test_gemm_zero_k(void **state)
{
    (void)state;
    sk_isa lv[SK_ISA_COUNT];
    int nl = levels(lv);
    for (int l = 0; l < nl; l++) {
        sk_cpu_set_level(lv[l]);
        for (int e = 0; e < EPI_COUNT; e++)
            if (!one_gemm(NULL, 7, 19, 0, e, 1))
                fail_msg("K = 0, level %s, epilogue %d", sk_isa_name(lv[l]), e);
    }
    sk_cpu_set_level(sk_cpu_detected());
}

/* Prepacked A shared by groups, several items, B packed per block from
 * strided row-major items, per-row bias per group, residual per item. */
static void test_gemm_job_prepacked_a(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(3);
    for (int isa = SK_ISA_AVX2; isa <= (int)sk_cpu_detected(); isa++) {
        const sk_gemm_cfg *cfg = sk_gemm_config((sk_isa)isa);
        assert_non_null(cfg);
        for (int trial = 0; trial < 12; trial++) {
            int groups = 1 + (int)(rnd() % 3), nbatch = groups * (1 + (int)(rnd() % 3));
            int M = 1 + (int)(rnd() % 40), N = 1 + (int)(rnd() % 300), K = 1 + (int)(rnd() % 520);
            float alpha = trial % 2 ? 1.0f : 0.5f;
            size_t asz = (size_t)groups * M * K, bsz = (size_t)nbatch * K * N,
                   csz = (size_t)nbatch * M * N;
            float *A = malloc(asz * 4 + 4), *B = malloc(bsz * 4 + 4), *C = malloc(csz * 4 + 4),
                  *R = malloc(csz * 4 + 4), *bias = malloc((size_t)groups * M * 4 + 4);
            double *ref = malloc(sizeof(double) * ((size_t)M * N + 1)),
                   *scale = malloc(sizeof(double) * ((size_t)M * N + 1));
            float *As = malloc((size_t)M * K * 4 + 4);
            assert_true(A && B && C && R && bias && ref && scale && As);
            fill(A, asz);
            fill(B, bsz);
            fill(R, csz);
            fill(bias, (size_t)groups * M);
            sk_gemm_packed_a pa;
            assert_int_equal(sk_gemm_pack_a(cfg, A, (size_t)K, M, K, groups, alpha, &pa), 0);
            sk_gemm_rowmajor rb = {B, (size_t)N, (size_t)K * N};
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfg, M, N, K, nbatch);
            j.a_packed = &pa;
            j.pack_b = sk_gemm_pack_b_rowmajor;
            j.b_ctx = &rb;
            j.c = C;
            j.ldc = (size_t)N;
            j.c_stride = (size_t)M * N;
            j.epi.bias = bias;
            j.bias_stride = (size_t)M;
            j.epi.res = R;
            j.epi.ldres = (size_t)N;
            j.res_stride = (size_t)M * N;
            j.epi.min = 0.0f;
            assert_int_equal(sk_gemm_run(trial % 3 ? pool : NULL, &j, NULL), 0);
            for (int b = 0; b < nbatch; b++) {
                int g = b % groups;
                for (size_t i = 0; i < (size_t)M * K; i++)
                    As[i] = alpha * A[(size_t)g * M * K + i];
                sk_gemm_epi e;
                sk_gemm_epi_none(&e);
                e.bias = bias + (size_t)g * M;
                e.res = R + (size_t)b * M * N;
                e.ldres = (size_t)N;
                e.min = 0.0f;
                ref_gemm(M, N, K, As, (size_t)K, B + (size_t)b * K * N, (size_t)N, &e, ref,
                         scale);
                if (!check_close("job", M, N, K, C + (size_t)b * M * N, (size_t)N, ref, scale))
                    fail_msg("prepacked A: %s groups %d item %d M %d N %d K %d",
                             cfg->isa == SK_ISA_AVX2 ? "avx2" : "avx512", groups, b, M, N, K);
            }
            sk_gemm_packed_a_free(&pa);
            free(A);
            free(B);
            free(C);
            free(R);
            free(bias);
            free(ref);
            free(scale);
            free(As);
        }
    }
    sk_pool_destroy(pool);
}

/* Prepacked B from a transposed matrix (a Gemm with transB = 1, as in a
 * classifier head), A packed per block, per-column bias, Clip. */
static void test_gemm_job_prepacked_b(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(2);
    for (int isa = SK_ISA_AVX2; isa <= (int)sk_cpu_detected(); isa++) {
        const sk_gemm_cfg *cfg = sk_gemm_config((sk_isa)isa);
        for (int trial = 0; trial < 10; trial++) {
            int M = 1 + (int)(rnd() % 20), N = 1 + (int)(rnd() % 1100),
                K = 1 + (int)(rnd() % 600);
            float *X = malloc((size_t)M * K * 4 + 4), *W = malloc((size_t)N * K * 4 + 4),
                  *Bt = malloc((size_t)N * K * 4 + 4), *C = malloc((size_t)M * N * 4 + 4),
                  *bias = malloc((size_t)N * 4 + 4);
            double *ref = malloc(sizeof(double) * ((size_t)M * N + 1)),
                   *scale = malloc(sizeof(double) * ((size_t)M * N + 1));
            assert_true(X && W && Bt && C && bias && ref && scale);
            fill(X, (size_t)M * K);
            fill(W, (size_t)N * K);
            fill(bias, (size_t)N);
            for (int k = 0; k < K; k++) /* Bt = W^T, row-major K x N */
                for (int n = 0; n < N; n++)
                    Bt[(size_t)k * N + n] = W[(size_t)n * K + k];
            sk_gemm_packed_b pb;
            assert_int_equal(sk_gemm_pack_b(cfg, W, 1, (size_t)K, K, N, 1.0f, &pb), 0);
            sk_gemm_rowmajor ra = {X, (size_t)K, 0};
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfg, M, N, K, 1);
            j.pack_a = sk_gemm_pack_a_rowmajor;
            j.a_ctx = &ra;
            j.b_packed = &pb;
            j.c = C;
            j.ldc = (size_t)N;
            j.epi.bias = bias;
            j.epi.bias_per_col = 1;
            j.epi.min = -0.25f;
            j.epi.max = 0.5f;
            assert_int_equal(sk_gemm_run(trial % 2 ? pool : NULL, &j, NULL), 0);
            ref_gemm(M, N, K, X, (size_t)K, Bt, (size_t)N, &j.epi, ref, scale);
            if (!check_close("prepacked B", M, N, K, C, (size_t)N, ref, scale))
                fail_msg("prepacked B: M %d N %d K %d", M, N, K);
            sk_gemm_packed_b_free(&pb);
            free(X);
            free(W);
            free(Bt);
            free(C);
            free(bias);
            free(ref);
            free(scale);
        }
    }
    sk_pool_destroy(pool);
}

/* The 7-row kernel (config.h gemm_mr7, pixel rows of 7x7 maps): a config
 * as fast_conv_pixrows.c builds it (mr 7, no edge kernels) over A and B
 * prepacked, at 1, 2 and 3 threads, K across the K blocks (the driver's
 * and a job's long ones), every epilogue, M off 7 (the tail tile through
 * the full kernel), N off 32. Each C must be bit for bit the 8-row
 * config's (same FMA chain per element: the claim pixel rows relies on)
 * and within the bound of the double reference. AVX-512 CPUs only.
 * Session 19 (r12): also the config with the two-panel kernel
 * (sk_gemm_cfg.uk2 = f32_gemm_7x32x2, called directly on every AVX-512
 * CPU): pairs of full 7-row tiles, an odd last panel, the M and N tails
 * beside them, the prefetch pieces of both tiles — the same bits again. */
static void test_gemm_mr7(void **state)
{
    (void)state;
    const sk_kconfig *kc = sk_kconfig_for(SK_ISA_AVX512);
    if (!kc || !kc->gemm_mr7)
        skip();
    sk_cpu_set_level(SK_ISA_AVX512);
    const sk_gemm_cfg *cfg = &kc->gemm;
    sk_gemm_cfg cfg7 = sk_gemm_cfg_mr7(cfg, kc->gemm_mr7); /* as pixel rows build it */
    sk_gemm_cfg cfg14 = cfg7;
    cfg14.uk2 = sk_f32_gemm_7x32x2__avx512f;
    sk_pool *pools[3] = {NULL, sk_pool_create(2), sk_pool_create(3)};
    const int Ms[] = {1, 6, 7, 8, 13, 14, 21, 28, 49, 98, 133, 300};
    const int Ks[] = {1, 2, 3, 17, 256, 257, 600, 1537};
    for (int trial = 0; trial < 36; trial++) {
        int M = Ms[trial % 12], K = Ks[(trial * 5 + trial / 8) % 8];
        int N = 1 + (int)(rnd() % 140), kind = trial % EPI_COUNT, jkc = trial % 3 ? 0 : 2048;
        size_t lda = (size_t)K, ldb = (size_t)N;
        float *A = malloc((size_t)M * K * 4 + 4), *B = malloc((size_t)K * N * 4 + 4),
              *C7 = malloc((size_t)M * N * 4 + 4), *C8 = malloc((size_t)M * N * 4 + 4),
              *C14 = malloc((size_t)M * N * 4 + 4),
              *bias_row = malloc((size_t)M * 4 + 4), *bias_col = malloc((size_t)N * 4 + 4),
              *res = malloc((size_t)M * N * 4 + 4);
        double *ref = malloc(sizeof(double) * ((size_t)M * N + 1)),
               *scale = malloc(sizeof(double) * ((size_t)M * N + 1));
        assert_true(A && B && C7 && C8 && C14 && bias_row && bias_col && res && ref && scale);
        fill(A, (size_t)M * K);
        fill(B, (size_t)K * N);
        fill(bias_row, (size_t)M);
        fill(bias_col, (size_t)N);
        fill(res, (size_t)M * N);
        sk_gemm_epi e;
        make_epi(kind, M, N, bias_row, bias_col, res, (size_t)N, &e);
        float *Cs[3] = {C7, C8, C14};
        const sk_gemm_cfg *cfgs[3] = {&cfg7, cfg, &cfg14};
        for (int v = 0; v < 3; v++) {
            sk_gemm_packed_a pa;
            sk_gemm_packed_b pb;
            assert_int_equal(sk_gemm_pack_a(cfgs[v], A, lda, M, K, 1, 1.0f, &pa), 0);
            assert_int_equal(sk_gemm_pack_b(cfgs[v], B, ldb, 1, K, N, 1.0f, &pb), 0);
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfgs[v], M, N, K, 1);
            j.a_packed = &pa;
            j.b_packed = &pb;
            j.c = Cs[v];
            j.ldc = (size_t)N;
            j.epi = e;
            j.kc = jkc;
            assert_int_equal(sk_gemm_run(pools[trial % 3], &j, NULL), 0);
            sk_gemm_packed_a_free(&pa);
            sk_gemm_packed_b_free(&pb);
        }
        ref_gemm(M, N, K, A, lda, B, ldb, &e, ref, scale);
        if (!check_close("7-row panels", M, N, K, C7, (size_t)N, ref, scale))
            fail_msg("7-row panels: M %d N %d K %d epilogue %d", M, N, K, kind);
        if (memcmp(C7, C8, sizeof(float) * (size_t)M * N))
            fail_msg("7-row panels: not the 8-row bits, M %d N %d K %d epilogue %d", M, N, K,
                     kind);
        if (!check_close("7-row panel pairs", M, N, K, C14, (size_t)N, ref, scale))
            fail_msg("7-row panel pairs: M %d N %d K %d epilogue %d", M, N, K, kind);
        if (memcmp(C14, C8, sizeof(float) * (size_t)M * N))
            fail_msg("7-row panel pairs: not the 8-row bits, M %d N %d K %d epilogue %d", M, N,
                     K, kind);
        free(A);
        free(B);
        free(C7);
        free(C8);
        free(C14);
        free(bias_row);
        free(bias_col);
        free(res);
        free(ref);
        free(scale);
    }
    sk_pool_destroy(pools[1]);
    sk_pool_destroy(pools[2]);
    sk_cpu_set_level(sk_cpu_detected());
}

/* The 12-row kernel (session 19, config.h gemm_mr12: _MatMulFused on
 * Intel): a config as fast_matmul_fused.c builds it (sk_gemm_cfg_mr12: mr
 * 12, no edge kernels) over A and B prepacked, at 1, 2 and 3 threads, every
 * M from 1 to 26 (each tail of 12 rows: the tail tile through the full
 * kernel) and a few larger ones across M blocks, K across the K blocks (the
 * driver's and a job's long ones), every epilogue, N off 32 (the narrow
 * last panel through the full kernel). Each C must be within the bound of
 * the double reference and bit for bit the 8-row config's (same FMA chain
 * per element). Run on every AVX-512 CPU, whether or not its config takes
 * the kernel (the kernel called directly). */
static void test_gemm_mr12(void **state)
{
    (void)state;
    const sk_kconfig *kc = sk_kconfig_for(SK_ISA_AVX512);
    if (!kc)
        skip();
    sk_cpu_set_level(SK_ISA_AVX512);
    const sk_gemm_cfg *cfg = &kc->gemm;
    sk_gemm_cfg cfg12 = sk_gemm_cfg_mr12(cfg, sk_f32_gemm_12x32__avx512f);
    sk_pool *pools[3] = {NULL, sk_pool_create(2), sk_pool_create(3)};
    const int Ms[] = {197, 133, 300, 264};
    const int Ks[] = {1, 2, 3, 17, 256, 257, 600, 1537};
    for (int trial = 0; trial < 34; trial++) {
        int M = trial < 26 ? trial + 1 : Ms[trial % 4], K = Ks[(trial * 5 + trial / 8) % 8];
        int N = 1 + (int)(rnd() % 140), kind = trial % EPI_COUNT, jkc = trial % 3 ? 0 : 2048;
        size_t lda = (size_t)K, ldb = (size_t)N;
        float *A = malloc((size_t)M * K * 4 + 4), *B = malloc((size_t)K * N * 4 + 4),
              *C12 = malloc((size_t)M * N * 4 + 4), *C8 = malloc((size_t)M * N * 4 + 4),
              *bias_row = malloc((size_t)M * 4 + 4), *bias_col = malloc((size_t)N * 4 + 4),
              *res = malloc((size_t)M * N * 4 + 4);
        double *ref = malloc(sizeof(double) * ((size_t)M * N + 1)),
               *scale = malloc(sizeof(double) * ((size_t)M * N + 1));
        assert_true(A && B && C12 && C8 && bias_row && bias_col && res && ref && scale);
        fill(A, (size_t)M * K);
        fill(B, (size_t)K * N);
        fill(bias_row, (size_t)M);
        fill(bias_col, (size_t)N);
        fill(res, (size_t)M * N);
        sk_gemm_epi e;
        make_epi(kind, M, N, bias_row, bias_col, res, (size_t)N, &e);
        float *Cs[2] = {C12, C8};
        const sk_gemm_cfg *cfgs[2] = {&cfg12, cfg};
        for (int v = 0; v < 2; v++) {
            sk_gemm_packed_a pa;
            sk_gemm_packed_b pb;
            assert_int_equal(sk_gemm_pack_a(cfgs[v], A, lda, M, K, 1, 1.0f, &pa), 0);
            assert_int_equal(sk_gemm_pack_b(cfgs[v], B, ldb, 1, K, N, 1.0f, &pb), 0);
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfgs[v], M, N, K, 1);
            j.a_packed = &pa;
            j.b_packed = &pb;
            j.c = Cs[v];
            j.ldc = (size_t)N;
            j.epi = e;
            j.kc = jkc;
            assert_int_equal(sk_gemm_run(pools[trial % 3], &j, NULL), 0);
            sk_gemm_packed_a_free(&pa);
            sk_gemm_packed_b_free(&pb);
        }
        ref_gemm(M, N, K, A, lda, B, ldb, &e, ref, scale);
        if (!check_close("12-row panels", M, N, K, C12, (size_t)N, ref, scale))
            fail_msg("12-row panels: M %d N %d K %d epilogue %d", M, N, K, kind);
        if (memcmp(C12, C8, sizeof(float) * (size_t)M * N))
            fail_msg("12-row panels: not the 8-row bits, M %d N %d K %d epilogue %d", M, N, K,
                     kind);
        free(A);
        free(B);
        free(C12);
        free(C8);
        free(bias_row);
        free(bias_col);
        free(res);
        free(ref);
        free(scale);
    }
    /* an M block below 12 rows (SKIPSERVE_GEMM_BLOCKS mc 8; the review of
     * session 19, item 4): the 12-row config keeps a whole panel per block
     * (mc 0 made run_task's M loop endless) and gives the 8-row bits */
    {
        sk_gemm_cfg small = *cfg;
        small.mc = 8;
        sk_gemm_cfg s12 = sk_gemm_cfg_mr12(&small, sk_f32_gemm_12x32__avx512f);
        assert_true(s12.mc >= 12 && s12.mc % 12 == 0);
        const int M = 300, N = 40, K = 33;
        float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)K * N * 4),
              *C12 = malloc((size_t)M * N * 4), *C8 = malloc((size_t)M * N * 4);
        assert_true(A && B && C12 && C8);
        fill(A, (size_t)M * K);
        fill(B, (size_t)K * N);
        const sk_gemm_cfg *cfgs[2] = {&s12, &small};
        float *Cs[2] = {C12, C8};
        for (int v = 0; v < 2; v++) {
            sk_gemm_packed_a pa;
            sk_gemm_packed_b pb;
            assert_int_equal(sk_gemm_pack_a(cfgs[v], A, (size_t)K, M, K, 1, 1.0f, &pa), 0);
            assert_int_equal(sk_gemm_pack_b(cfgs[v], B, (size_t)N, 1, K, N, 1.0f, &pb), 0);
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfgs[v], M, N, K, 1);
            j.a_packed = &pa;
            j.b_packed = &pb;
            j.c = Cs[v];
            j.ldc = (size_t)N;
            sk_gemm_epi_none(&j.epi);
            assert_int_equal(sk_gemm_run(pools[2], &j, NULL), 0);
            sk_gemm_packed_a_free(&pa);
            sk_gemm_packed_b_free(&pb);
        }
        assert_memory_equal(C12, C8, sizeof(float) * (size_t)M * N);
        free(A);
        free(B);
        free(C12);
        free(C8);
    }
    sk_pool_destroy(pools[1]);
    sk_pool_destroy(pools[2]);
    sk_cpu_set_level(sk_cpu_detected());
}

/* The driver's software prefetch of the next weights (gemm.c pf_piece;
 * SKIPSERVE_GEMM_PREFETCH) and the A-panel order (SKIPSERVE_GEMM_AORDER=1)
 * only change which lines are touched early and the order of whole tiles:
 * with A (im2col-gemm's weights) or B (pixel rows' / MatMul's weights)
 * prepacked and the other packed at run time, at 1, 2 and 3 threads, sizes
 * across several M blocks (mc) and K blocks (the driver's and a job's
 * long ones: the next-K-block prefetch), column tails (ntail) and row tails
 * (mtail), every epilogue, the bits must equal SKIPSERVE_GEMM_PREFETCH=0's,
 * and that within the bound of the double reference. Every level. Session
 * 19: the A-panel prefetch (SKIPSERVE_GEMM_APF, cfg->apf — set here at
 * AVX-512 on any CPU) likewise; session 21: at AVX2 with the tile that
 * takes the prefetch (sk_f32_gemm_6x16__avx2_fma_pf) on any CPU. */
static void test_gemm_prefetch_same_bits(void **state)
{
    (void)state;
    sk_pool *pools[3] = {NULL, sk_pool_create(2), sk_pool_create(3)};
    /* PREFETCH, AORDER, APF, PF_MINK (session 21 mv2b: jobs of K below it
     * skip the next-weights prefetch; "" the config's pf_min_k) */
    static const char *const modes[][4] = {{"0", "0", "0", ""},
                                           {"1", "0", "1", ""},
                                           {"1", "1", "1", ""},
                                           {"0", "1", "1", ""},
                                           {"1", "0", "1", "650"},
                                           {"1", "0", "0", "0"}};
    enum { NMODES = sizeof modes / sizeof modes[0] };
    for (int isa = SK_ISA_AVX2; isa <= (int)sk_cpu_detected(); isa++) {
        sk_cpu_set_level((sk_isa)isa);
        /* session 19: the A-panel prefetch (cfg->apf, Intel's config) on at
         * AVX-512 whatever the CPU, so that every AVX-512 machine runs it */
        sk_gemm_cfg lcfg = *sk_gemm_config((sk_isa)isa);
        if (isa == SK_ISA_AVX512 && !lcfg.apf)
            lcfg.apf = 512;
        /* session 21: the AVX2 tile that touches the next weights (Intel's
         * config at AVX2) whatever the CPU */
        if (isa == SK_ISA_AVX2) /* (session 21, a2s) Intel's conv tile: _pfl2 */
            lcfg.uk = sk_f32_gemm_6x16__avx2_fma_pfl2;
        const sk_gemm_cfg *cfg = &lcfg;
        for (int trial = 0; trial < 12; trial++) {
            int M = 1 + (int)(rnd() % 300), N = 1 + (int)(rnd() % 300),
                K = 1 + (int)(rnd() % 1300), kind = trial % EPI_COUNT;
            int wa = trial % 2, jkc = trial % 3 == 2 ? 1024 : 0; /* weights in A or B */
            float *A = malloc((size_t)M * K * 4 + 4), *B = malloc((size_t)K * N * 4 + 4),
                  *bias_row = malloc((size_t)M * 4 + 4), *bias_col = malloc((size_t)N * 4 + 4),
                  *res = malloc((size_t)M * N * 4 + 4), *C[NMODES];
            double *ref = malloc(sizeof(double) * ((size_t)M * N + 1)),
                   *scale = malloc(sizeof(double) * ((size_t)M * N + 1));
            assert_true(A && B && bias_row && bias_col && res && ref && scale);
            fill(A, (size_t)M * K);
            fill(B, (size_t)K * N);
            fill(bias_row, (size_t)M);
            fill(bias_col, (size_t)N);
            fill(res, (size_t)M * N);
            sk_gemm_epi e;
            make_epi(kind, M, N, bias_row, bias_col, res, (size_t)N, &e);
            sk_gemm_packed_a pa;
            sk_gemm_packed_b pb;
            assert_int_equal(sk_gemm_pack_a(cfg, A, (size_t)K, M, K, 1, 1.0f, &pa), 0);
            assert_int_equal(sk_gemm_pack_b(cfg, B, (size_t)N, 1, K, N, 1.0f, &pb), 0);
            sk_gemm_rowmajor ra = {A, (size_t)K, 0}, rb = {B, (size_t)N, 0};
            for (int m = 0; m < NMODES; m++) {
                setenv("SKIPSERVE_GEMM_PREFETCH", modes[m][0], 1);
                setenv("SKIPSERVE_GEMM_AORDER", modes[m][1], 1);
                setenv("SKIPSERVE_GEMM_APF", modes[m][2], 1);
                setenv("SKIPSERVE_GEMM_PF_MINK", modes[m][3], 1);
                sk_switches_reload(); /* the APF switch: read once */
                C[m] = malloc((size_t)M * N * 4 + 4);
                assert_non_null(C[m]);
                sk_gemm_job j;
                sk_gemm_job_init(&j, cfg, M, N, K, 1);
                if (wa) {
                    j.a_packed = &pa;
                    j.pack_b = sk_gemm_pack_b_rowmajor;
                    j.b_ctx = &rb;
                } else {
                    j.pack_a = sk_gemm_pack_a_rowmajor;
                    j.a_ctx = &ra;
                    j.b_packed = &pb;
                }
                j.c = C[m];
                j.ldc = (size_t)N;
                j.epi = e;
                j.kc = jkc;
                assert_int_equal(sk_gemm_run(pools[(trial + m) % 3], &j, NULL), 0);
                if (m && memcmp(C[m], C[0], sizeof(float) * (size_t)M * N))
                    fail_msg("[%s] prefetch %s aorder %s apf %s pf_mink '%s': not the bits of "
                             "prefetch 0, M %d N %d K %d weights in %s",
                             sk_isa_name((sk_isa)isa), modes[m][0], modes[m][1], modes[m][2],
                             modes[m][3], M, N, K, wa ? "A" : "B");
            }
            unsetenv("SKIPSERVE_GEMM_PREFETCH");
            unsetenv("SKIPSERVE_GEMM_AORDER");
            unsetenv("SKIPSERVE_GEMM_APF");
            unsetenv("SKIPSERVE_GEMM_PF_MINK");
            sk_switches_reload();
            ref_gemm(M, N, K, A, (size_t)K, B, (size_t)N, &e, ref, scale);
            if (!check_close("prefetch", M, N, K, C[1], (size_t)N, ref, scale))
                fail_msg("prefetch: M %d N %d K %d epilogue %d", M, N, K, kind);
            for (int m = 0; m < NMODES; m++)
                free(C[m]);
            sk_gemm_packed_a_free(&pa);
            sk_gemm_packed_b_free(&pb);
            free(A);
            free(B);
            free(bias_row);
            free(bias_col);
            free(res);
            free(ref);
            free(scale);
        }
    }
    sk_pool_destroy(pools[1]);
    sk_pool_destroy(pools[2]);
    sk_cpu_set_level(sk_cpu_detected());
}

/* The driver's split into tasks (plan_split) at 1, 2, 3, 5 and 16 threads:
 * column blocks and row chunks of every size it may pick, with B packed per
 * item (b_stride, the shared columns of a conv), one B shared by every item,
 * or B packed at run time; A prepacked or packed at run time. Each item's C
 * is checked against the double reference: a task that is skipped, done
 * twice or reads the wrong item's B shows. */
static void test_gemm_split_threads(void **state)
{
    (void)state;
    const int nts[] = {1, 2, 3, 5, 16};
    for (int isa = SK_ISA_AVX2; isa <= (int)sk_cpu_detected(); isa++) {
        const sk_gemm_cfg *cfg = sk_gemm_config((sk_isa)isa);
        assert_non_null(cfg);
        for (int trial = 0; trial < 20; trial++) {
            sk_pool *pool = sk_pool_create(nts[trial % 5]);
            int nbatch = 1 + (int)(rnd() % 3), M = 1 + (int)(rnd() % 300),
                N = 1 + (int)(rnd() % 700), K = 1 + (int)(rnd() % 400);
            int bmode = (trial / 5) % 3; /* 0: per item, 1: shared, 2: packed at run */
            int apacked = trial % 2;
            size_t bsz = (size_t)nbatch * K * N, csz = (size_t)nbatch * M * N;
            float *A = malloc((size_t)M * K * 4 + 4), *B = malloc(bsz * 4 + 4),
                  *C = malloc(csz * 4 + 4), *bias = malloc((size_t)M * 4 + 4);
            double *ref = malloc(sizeof(double) * ((size_t)M * N + 1)),
                   *scale = malloc(sizeof(double) * ((size_t)M * N + 1));
            sk_gemm_packed_b *pb = calloc((size_t)nbatch, sizeof *pb);
            assert_true(A && B && C && bias && ref && scale && pb);
            fill(A, (size_t)M * K);
            fill(B, bsz);
            fill(bias, (size_t)M);
            sk_gemm_packed_a pa;
            assert_int_equal(sk_gemm_pack_a(cfg, A, (size_t)K, M, K, 1, 1.0f, &pa), 0);
            float *bp = NULL;
            size_t per = 0;
            if (bmode != 2) {
                for (int b = 0; b < (bmode == 0 ? nbatch : 1); b++)
                    assert_int_equal(sk_gemm_pack_b(cfg, B + (size_t)b * K * N, (size_t)N, 1, K,
                                                    N, 1.0f, &pb[b]), 0);
                per = (size_t)((N + cfg->nr - 1) / cfg->nr) * (size_t)cfg->nr * (size_t)K;
                if (bmode == 0) { /* the items' panels one after another */
                    bp = sk_alloc(per * (size_t)nbatch * 4 + 4); /* panels: 64-byte aligned */
                    assert_non_null(bp);
                    for (int b = 0; b < nbatch; b++)
                        memcpy(bp + (size_t)b * per, pb[b].data, per * 4);
                }
            }
            sk_gemm_packed_b all = {cfg, K, N, bmode == 0 ? bp : pb[0].data};
            sk_gemm_rowmajor ra = {A, (size_t)K, 0}, rb = {B, (size_t)N, (size_t)K * N};
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfg, M, N, K, nbatch);
            if (apacked) {
                j.a_packed = &pa;
            } else {
                j.pack_a = sk_gemm_pack_a_rowmajor;
                j.a_ctx = &ra;
            }
            if (bmode == 2) {
                j.pack_b = sk_gemm_pack_b_rowmajor;
                j.b_ctx = &rb;
            } else {
                j.b_packed = &all;
                j.b_stride = bmode == 0 ? per : 0;
            }
            j.c = C;
            j.ldc = (size_t)N;
            j.c_stride = (size_t)M * N;
            j.epi.bias = bias;
            j.epi.min = 0.0f;
            assert_int_equal(sk_gemm_run(pool, &j, NULL), 0);
            for (int b = 0; b < nbatch; b++) {
                const float *Bb = B + (size_t)(bmode == 1 ? 0 : b) * K * N;
                ref_gemm(M, N, K, A, (size_t)K, Bb, (size_t)N, &j.epi, ref, scale);
                if (!check_close("split", M, N, K, C + (size_t)b * M * N, (size_t)N, ref, scale))
                    fail_msg("split: %d threads, B mode %d, A %s, item %d of %d",
                             sk_pool_size(pool), bmode, apacked ? "prepacked" : "at run", b,
                             nbatch);
            }
            for (int b = 0; b < nbatch; b++)
                sk_gemm_packed_b_free(&pb[b]);
            sk_gemm_packed_a_free(&pa);
            free(pb);
            sk_free(bp);
            free(A);
            free(B);
            free(C);
            free(bias);
            free(ref);
            free(scale);
            sk_pool_destroy(pool);
        }
    }
}

/* The column split (gemm_split.c, issue 24 session 18): where it applies
 * (one item, whole panels a thread, T blocks exactly, the narrow last
 * panel merged into the last block; values from that rule by hand), and a
 * job with split_cols gives the bits of the same job without it at 1, 2,
 * 3 and 16 threads (every tile computed alike whichever thread runs it;
 * only 2 and 3 threads take the split — not {9, 131, 40} at AVX-512 on 3:
 * 4 panels —, 1 never and 16 are too many for these widths: there the
 * flag must change nothing),
 * within the double reference's bound, on ResNet's 14x14 1x1 shapes
 * (196 = 6 x 32 + 4 columns, the narrow kernel's panel in the second
 * block) and odd ones, at every level (AVX2: 16-column panels, 12 + 4). */
static void test_gemm_split_cols(void **state)
{
    (void)state;
    for (int isa = SK_ISA_AVX2; isa <= (int)sk_cpu_detected(); isa++) {
        sk_cpu_set_level((sk_isa)isa);
        const sk_gemm_cfg *cfg = sk_gemm_config((sk_isa)isa);
        assert_non_null(cfg);
        const int nr = cfg->nr;
        sk_gemm_job q;
        sk_gemm_job_init(&q, cfg, 256, 196, 1024, 1);
        int nbw = -1, nbl = -1;
        assert_int_equal(sk_gemm_split_cols(&q, 2, &nbw, &nbl), 0); /* not asked */
        q.split_cols = 1;
        assert_int_equal(sk_gemm_split_cols(&q, 1, &nbw, &nbl), 0);
        assert_int_equal(sk_gemm_split_cols(&q, 2, &nbw, &nbl), 1);
        /* 196 / nr full panels (6 or 12), half a thread */
        assert_int_equal(nbw, (196 / nr + 1) / 2 * nr);
        assert_int_equal(nbl, 2);
        assert_int_equal(sk_gemm_split_cols(&q, 3, &nbw, &nbl), 1);
        assert_int_equal(nbw, (196 / nr + 2) / 3 * nr);
        assert_int_equal(nbl, 3);
        /* AVX-512: 6 panels on 4 threads are 3 blocks of 2 (a thread idle);
         * AVX2: 12 panels, 4 blocks of 3 */
        assert_int_equal(sk_gemm_split_cols(&q, 4, &nbw, &nbl), nr == 16);
        assert_int_equal(sk_gemm_split_cols(&q, 16, &nbw, &nbl), 0); /* too few panels */
        q.nbatch = 2;
        assert_int_equal(sk_gemm_split_cols(&q, 2, &nbw, &nbl), 0); /* batch 2: the model's */
        q.nbatch = 1;
        q.N = 6 * nr + nr / 2 + 1; /* a last panel wider than half */
        assert_int_equal(sk_gemm_split_cols(&q, 2, &nbw, &nbl), 0);
        q.N = 28 * 28; /* a block wider than nc */
        assert_int_equal(sk_gemm_split_cols(&q, 2, &nbw, &nbl), 0);
        /* the row split (session 21 x2t): all 196 columns in one block of
         * whole panels where they fit nc (AVX-512: 7 x 32 = 224 <= 256;
         * AVX2: 13 x 16 = 208 > 192), at least a panel of rows a thread */
        q.split_cols = SK_GEMM_SPLIT_ROWS;
        q.N = 196;
        nbw = nbl = -1;
        assert_int_equal(sk_gemm_split_cols(&q, 1, &nbw, &nbl), 0);
        const int rows_fit = (196 + nr - 1) / nr * nr <= cfg->nc;
        assert_int_equal(sk_gemm_split_cols(&q, 2, &nbw, &nbl), rows_fit);
        if (rows_fit) {
            assert_int_equal(nbw, (196 + nr - 1) / nr * nr);
            assert_int_equal(nbl, 1);
        }
        q.M = cfg->mr; /* one panel of rows: not for 2 threads */
        assert_int_equal(sk_gemm_split_cols(&q, 2, &nbw, &nbl), 0);
        q.M = 256;
        q.nbatch = 2;
        assert_int_equal(sk_gemm_split_cols(&q, 2, &nbw, &nbl), 0);
        q.nbatch = 1;
        q.split_cols = 1;

        static const int shapes[][3] = {{256, 196, 1024}, {1024, 196, 256}, {37, 196, 300},
                                        {64, 100, 77},    {9, 4 * 32 + 3, 40}};
        sk_pool *pools[4] = {NULL, sk_pool_create(2), sk_pool_create(3), sk_pool_create(16)};
        for (int s = 0; s < 5; s++) {
            const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], kind = s % EPI_COUNT;
            float *A = malloc((size_t)M * K * 4 + 4), *B = malloc((size_t)K * N * 4 + 4),
                  *bias_row = malloc((size_t)M * 4 + 4), *bias_col = malloc((size_t)N * 4 + 4),
                  *res = malloc((size_t)M * N * 4 + 4), *C0 = malloc((size_t)M * N * 4 + 4),
                  *C = malloc((size_t)M * N * 4 + 4);
            double *ref = malloc(sizeof(double) * ((size_t)M * N + 1)),
                   *scale = malloc(sizeof(double) * ((size_t)M * N + 1));
            assert_true(A && B && bias_row && bias_col && res && C0 && C && ref && scale);
            fill(A, (size_t)M * K);
            fill(B, (size_t)K * N);
            fill(bias_row, (size_t)M);
            fill(bias_col, (size_t)N);
            fill(res, (size_t)M * N);
            sk_gemm_epi e;
            make_epi(s == 1 ? EPI_ALL : kind, M, N, bias_row, bias_col, res, (size_t)N, &e);
            sk_gemm_packed_a pa;
            assert_int_equal(sk_gemm_pack_a(cfg, A, (size_t)K, M, K, 1, 1.0f, &pa), 0);
            sk_gemm_rowmajor rb = {B, (size_t)N, 0};
            for (int v = 0; v < 8; v++) { /* v 0: no split_cols, 1 thread; then 1/2/3/16;
                                           * 5-7: the row split on 2/3/16 */
                sk_gemm_job j;
                sk_gemm_job_init(&j, cfg, M, N, K, 1);
                j.a_packed = &pa; /* the conv's weights */
                j.pack_b = sk_gemm_pack_b_rowmajor;
                j.b_ctx = &rb;
                j.c = v ? C : C0;
                j.ldc = (size_t)N;
                j.epi = e;
                j.kc = 512; /* im2col-gemm's K blocks */
                j.split_cols = v > 4 ? SK_GEMM_SPLIT_ROWS : v > 0;
                memset(j.c, 0xff, (size_t)M * N * 4); /* NaN: a column left unwritten shows */
                sk_pool *pl = pools[v > 4 ? v - 4 : v ? v - 1 : 0];
                assert_int_equal(sk_gemm_run(pl, &j, NULL), 0);
                if (v && memcmp(C, C0, sizeof(float) * (size_t)M * N))
                    fail_msg("[%s] split_cols %d at %d threads: not the bits of 1 thread, M %d "
                             "N %d K %d",
                             sk_isa_name((sk_isa)isa), j.split_cols, sk_pool_size(pl), M, N, K);
            }
            ref_gemm(M, N, K, A, (size_t)K, B, (size_t)N, &e, ref, scale);
            if (!check_close("split_cols", M, N, K, C, (size_t)N, ref, scale))
                fail_msg("split_cols: M %d N %d K %d", M, N, K);
            sk_gemm_packed_a_free(&pa);
            free(A);
            free(B);
            free(bias_row);
            free(bias_col);
            free(res);
            free(C0);
            free(C);
            free(ref);
            free(scale);
        }
        for (int p = 1; p < 4; p++)
            sk_pool_destroy(pools[p]);
    }
    sk_cpu_set_level(sk_cpu_detected());
}

/* The pool model of a split (gemm_split.c): the busiest thread's padded
 * elements when each thread runs its own contiguous share of the tasks and
 * then the next unclaimed task of the nearest share. Values worked out by
 * hand from that rule (8 x 32 tiles). */
static void test_gemm_split_pool_model(void **state)
{
    (void)state;
    sk_gemm_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.mr = 8;
    cfg.nr = 32;
    sk_gemm_job j;
    /* ResNet-50's 1x1 1024->256 on 14x14, batch 1, 2 threads: 196
     * columns as blocks of 128 + 68 (padded to 96) x 4 chunks of 64 rows:
     * thread 0's share is the four 128-wide tasks, 4 x 8192; thread 1's
     * four narrow ones end at 4 x 6144 = 24576, when thread 0 has claimed
     * its last one — nothing left to take */
    sk_gemm_job_init(&j, &cfg, 256, 196, 1024, 1);
    assert_true(sk_gemm_split_pool_busiest_elems(&j, 2, 4, 2, 8, 4) == 32768.0);
    /* one 196-column block (padded to 224) x 4 chunks: 2 x 224 x 64 */
    assert_true(sk_gemm_split_pool_busiest_elems(&j, 2, 7, 1, 8, 4) == 28672.0);
    /* one thread: everything, padded: 256 x 224 */
    assert_true(sk_gemm_split_pool_busiest_elems(&j, 1, 7, 1, 8, 4) == 57344.0);
    /* 5 equal tasks (one 8 x 32 tile each). 2 threads, shares {0, 1} and
     * {2, 3, 4}: one thread runs three, 768. 3 threads, shares {0},
     * {1, 2}, {3, 4}: at 256 thread 0 takes task 2 from thread 1's share
     * and thread 1 task 4 from thread 2's, all done at 512 (without the
     * stealing: 768) */
    sk_gemm_job_init(&j, &cfg, 8, 160, 64, 1);
    assert_true(sk_gemm_split_pool_busiest_elems(&j, 2, 1, 5, 1, 1) == 768.0);
    assert_true(sk_gemm_split_pool_busiest_elems(&j, 3, 1, 5, 1, 1) == 512.0);
    /* a one-column last block and a one-row last chunk cost whole tiles:
     * 33 x 9 as 2 x 2 tasks of 256 on 4 threads */
    sk_gemm_job_init(&j, &cfg, 9, 33, 64, 1);
    assert_true(sk_gemm_split_pool_busiest_elems(&j, 4, 1, 2, 1, 2) == 256.0);
    /* items: 3 images x 1 task each on 2 threads: two on one thread */
    sk_gemm_job_init(&j, &cfg, 8, 32, 64, 3);
    assert_true(sk_gemm_split_pool_busiest_elems(&j, 2, 1, 1, 1, 1) == 512.0);
    /* outside the model's range */
    assert_true(sk_gemm_split_pool_busiest_elems(&j, 65, 1, 1, 1, 1) < 0);
}

/* SKIPSERVE_GEMM_SPLIT=balance (gemm.c, issue 24): another split of the
 * same job must give the same bits — each C element's K blocks are summed
 * in the same order whichever task computes it — and match the double
 * reference; guard cells after C stay untouched. Shapes: ResNet-50's
 * batch-1 layer-2 convs (B packed at run time, where the default splits
 * output channels) and odd ones, 1-3 threads, B packed at run or prepacked. */
static void test_gemm_split_balance(void **state)
{
    (void)state;
    static const int shapes[][4] = {/* M, N, K, items */
                                    {128, 784, 1152, 1}, {512, 784, 128, 1}, {64, 3136, 64, 1},
                                    {37, 301, 77, 2},    {200, 97, 513, 3},  {9, 1000, 31, 1},
                                    /* session 17: ResNet-50's 1x1 1024->256 and 256->1024
                                     * convs on 14x14 at batch 1, which the pool model
                                     * splits otherwise (gemm_split.c) */
                                    {256, 196, 1024, 1}, {1024, 196, 256, 1}};
    enum { GUARD = 16 };
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_detected());
    assert_non_null(cfg);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int M = shapes[si][0], N = shapes[si][1], K = shapes[si][2], nb = shapes[si][3];
        size_t csz = (size_t)nb * M * N;
        float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)nb * K * N * 4),
              *C0 = malloc((csz + GUARD) * 4), *C1 = malloc((csz + GUARD) * 4);
        double *ref = malloc(sizeof(double) * (size_t)M * N),
               *scale = malloc(sizeof(double) * (size_t)M * N);
        assert_true(A && B && C0 && C1 && ref && scale);
        fill(A, (size_t)M * K);
        fill(B, (size_t)nb * K * N);
        sk_gemm_packed_a pa;
        assert_int_equal(sk_gemm_pack_a(cfg, A, (size_t)K, M, K, 1, 1.0f, &pa), 0);
        sk_gemm_packed_b pb;
        assert_int_equal(sk_gemm_pack_b(cfg, B, (size_t)N, 1, K, N, 1.0f, &pb), 0);
        static const int nts[] = {1, 2, 3, 16};
        for (int ti = 0; ti < 4; ti++) {
            const int T = nts[ti];
            sk_pool *pool = sk_pool_create(T);
            for (int bmode = 0; bmode < 2; bmode++) { /* 0: packed at run, 1: prepacked */
                sk_gemm_rowmajor rb = {B, (size_t)N, (size_t)K * N};
                sk_gemm_job j;
                sk_gemm_job_init(&j, cfg, M, N, K, bmode ? 1 : nb);
                j.a_packed = &pa;
                if (bmode) {
                    j.b_packed = &pb;
                } else {
                    j.pack_b = sk_gemm_pack_b_rowmajor;
                    j.b_ctx = &rb;
                }
                j.ldc = (size_t)N;
                j.c_stride = (size_t)M * N;
                j.epi.min = 0.0f;
                /* v 0: the default (the pool model, session 17), 1: balance,
                 * 2: SKIPSERVE_GEMM_SPLIT_POOL=0 (the mean-task model);
                 * C1 holds each later variant in turn, compared with C0 */
                for (int v = 0; v < 3; v++) {
                    float *C = v ? C1 : C0;
                    for (size_t i = 0; i < csz + GUARD; i++)
                        C[i] = -7.0f;
                    if (v == 1)
                        setenv("SKIPSERVE_GEMM_SPLIT", "balance", 1);
                    if (v == 2)
                        setenv("SKIPSERVE_GEMM_SPLIT_POOL", "0", 1);
                    sk_switches_reload(); /* read once per process */
                    j.c = C;
                    int rc = sk_gemm_run(pool, &j, NULL);
                    unsetenv("SKIPSERVE_GEMM_SPLIT");
                    unsetenv("SKIPSERVE_GEMM_SPLIT_POOL");
                    sk_switches_reload();
                    assert_int_equal(rc, 0);
                    for (size_t i = 0; i < GUARD; i++)
                        assert_true(C[csz + i] == -7.0f);
                    size_t used = (size_t)(bmode ? 1 : nb) * M * N;
                    if (v && memcmp(C0, C1, used * 4) != 0)
                        fail_msg("%s split changed bits: M %d N %d K %d, %d threads, B mode %d",
                                 v == 1 ? "balance" : "mean-task", M, N, K, T, bmode);
                }
                ref_gemm(M, N, K, A, (size_t)K, B, (size_t)N, &j.epi, ref, scale);
                /* C1: the last variant, the mean-task model */
                if (!check_close("mean-task", M, N, K, C1, (size_t)N, ref, scale))
                    fail_msg("mean-task split: M %d N %d K %d, %d threads", M, N, K, T);
            }
            sk_pool_destroy(pool);
        }
        sk_gemm_packed_a_free(&pa);
        sk_gemm_packed_b_free(&pb);
        free(A);
        free(B);
        free(C0);
        free(C1);
        free(ref);
        free(scale);
    }
}

static void test_cpu_levels(void **state)
{
    (void)state;
    sk_isa d = sk_cpu_detected();
    assert_int_equal(sk_cpu_set_level(SK_ISA_SCALAR), SK_ISA_SCALAR);
    assert_int_equal(sk_cpu_level(), SK_ISA_SCALAR);
    /* never above what the CPU has */
    assert_int_equal(sk_cpu_set_level(SK_ISA_AVX512), d);
    assert_int_equal(sk_isa_parse("avx2"), SK_ISA_AVX2);
    assert_int_equal(sk_isa_parse("bogus"), -1);
    const sk_cpu_features *f = sk_cpu_features_get();
    if (d >= SK_ISA_AVX2)
        assert_true(f->avx2 && f->fma);
    /* session 21 (mv2b): the short-K prefetch rule is Intel's at the AVX2
     * level only — AMD and the AVX-512 level keep prefetching every job */
    if (d >= SK_ISA_AVX2) {
        assert_int_equal(sk_gemm_config(SK_ISA_AVX2)->pf_min_k, f->intel ? 128 : 0);
        /* and im2col's wide-column copy (its short-K jobs are the ones) */
        const sk_kconfig *k2 = sk_kconfig_for(SK_ISA_AVX2);
        if (k2->im2col_wide_k > 0)
            assert_int_equal(k2->im2col_wide.pf_min_k, 128);
    }
    if (d >= SK_ISA_AVX512)
        assert_int_equal(sk_gemm_config(SK_ISA_AVX512)->pf_min_k, 0);
    if (d >= SK_ISA_AVX512)
        assert_true(f->avx512f && f->avx512bw && f->avx512vl);
    else
        assert_null(sk_gemm_config(SK_ISA_SCALAR));
    print_message("detected ISA level: %s\n", sk_isa_name(d));
    sk_cpu_set_level(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_levels),
        cmocka_unit_test(test_gemm_rowmajor),
        cmocka_unit_test(test_gemm_every_epilogue),
        cmocka_unit_test(test_gemm_zero_k),
        cmocka_unit_test(test_gemm_job_prepacked_a),
        cmocka_unit_test(test_gemm_job_prepacked_b),
        cmocka_unit_test(test_gemm_split_threads),
        cmocka_unit_test(test_gemm_split_balance),
        cmocka_unit_test(test_gemm_split_pool_model),
        cmocka_unit_test(test_gemm_split_cols),
        cmocka_unit_test(test_gemm_mr7),
        cmocka_unit_test(test_gemm_mr12),
        cmocka_unit_test(test_gemm_prefetch_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
