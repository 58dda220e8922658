/* test_gemm_narrow.c — the FP32 GEMM's narrow last column panel with rows
 * in the lanes (sk_f32_gemm_narrow_64x8__avx512f, gemm.h; issue 24
 * session 17), on an AVX-512 CPU (skipped elsewhere):
 *   - the kernel alone, bit for bit against an fmaf chain from zero over k
 *     in order plus the epilogue written here (the full microkernel's
 *     arithmetic) and against the ntail kernel it replaces: every column
 *     count 1..8, row counts across the 64-row groups, the 16-row vectors
 *     and partial 8-row panels, K 0..257, every flag combination and
 *     epilogue (row / column bias, residual, clamp incl. NaN and -0), C
 *     in a window of sentinels it must not touch;
 *   - the whole driver (sk_gemm_f32, 1 and 3 threads): N = 196, 49, 4, 7,
 *     39 columns (last panels of 4, 17->ntail, 4, 7, 7) with
 *     SKIPSERVE_GEMM_NARROW unset vs =0 bit for bit, and against the
 *     reference GEMM within a K-term float bound. */
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
#include "kernels/config.h"
#include "kernels/gemm.h"
#include "threadpool.h"
#include "kernels/switches.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}
static void fill(float *p, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        p[i] = s * frand();
}

static int have_avx512(void)
{
    return sk_cpu_detected() >= SK_ISA_AVX512 && sk_gemm_config(SK_ISA_AVX512) &&
           sk_gemm_config(SK_ISA_AVX512)->narrow;
}

#if defined(__x86_64__)
enum { MR = 8, NR = 32, MAXR = 136, MAXK = 257, G = 2 /* guard cells */ };

static void test_kernel(void **state)
{
    (void)state;
    if (!have_avx512())
        skip();
    const size_t npan = (MAXR + MR - 1) / MR, astride = (size_t)MAXK * MR + 8;
    const size_t ldc = 8 + 2 * G + 3, crows = MAXR + 2 * G;
    float *a = aligned_alloc(64, npan * astride * sizeof(float));
    float *b = aligned_alloc(64, (size_t)MAXK * NR * sizeof(float));
    float *c = malloc(crows * ldc * sizeof(float)), *c0 = malloc(crows * ldc * sizeof(float));
    float *c1 = malloc(crows * ldc * sizeof(float));
    float *res = malloc((size_t)MAXR * ldc * sizeof(float)), bias_row[MAXR], bias_col[8];
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(c0);
    assert_non_null(c1);
    assert_non_null(res);
    const int rowsv[] = {1, 2, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 47, 48, 63, 64, 65, 72, 80, 96, 129, 136};
    const int ks[] = {0, 1, 3, 8, 17, 64, 257};
    int n = 0;
    for (size_t ri = 0; ri < sizeof rowsv / sizeof *rowsv; ri++)
        for (int cols = 1; cols <= 8; cols++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
                for (int flags = 0; flags < 4; flags++) {
                    const int rows = rowsv[ri];
                    const size_t K = (size_t)ks[ki];
                    fill(a, npan * astride, 1.0f);
                    /* rows of the last panel past `rows` are zero, as packed */
                    for (size_t k = 0; k < K; k++)
                        for (int r = rows; r < (int)((size_t)((rows + MR - 1) / MR) * MR); r++)
                            a[(size_t)(r / MR) * astride + k * MR + (size_t)(r % MR)] = 0.0f;
                    fill(b, (size_t)MAXK * NR, 1.0f);
                    fill(c0, crows * ldc, 2.0f);
                    fill(bias_row, MAXR, 1.0f);
                    fill(bias_col, 8, 1.0f);
                    fill(res, (size_t)MAXR * ldc, 1.0f);
                    sk_ukernel_params p = {NULL, NULL, NULL, ldc, -INFINITY, INFINITY,
                                           NULL, NULL, 0, 0, NULL, NULL, NULL, 0};
                    const int v = n++ % 6; /* which epilogue parts */
                    if (flags & SK_UK_EPI) {
                        p.bias_row = v & 1 ? bias_row : NULL;
                        p.bias_col = v & 2 ? bias_col : NULL;
                        p.res = v >= 2 ? res : NULL;
                        if (v % 3 == 0) { /* Relu / clamp, a NaN and a -0 to pass through */
                            p.min = v == 0 ? 0.0f : -0.25f;
                            p.max = v == 0 ? INFINITY : 0.5f;
                            c0[(size_t)G * ldc + G] = NAN;
                            bias_col[0] = -0.0f;
                        }
                    }
                    float *cw = c + (size_t)G * ldc + G, *cw1 = c1 + (size_t)G * ldc + G;
                    memcpy(c, c0, crows * ldc * sizeof(float));
                    memcpy(c1, c0, crows * ldc * sizeof(float));
                    sk_f32_gemm_narrow_64x8__avx512f(K, a, astride, b, cw, ldc, rows, cols, flags,
                                                     &p);
                    /* the kernel it replaces: ntail, 16 rows at a time */
                    for (int r0 = 0; r0 < rows; r0 += 2 * MR) {
                        int rr = rows - r0 < 2 * MR ? rows - r0 : 2 * MR;
                        const float *a0 = a + (size_t)(r0 / MR) * astride;
                        sk_ukernel_params q = p;
                        q.bias_row = p.bias_row ? p.bias_row + r0 : NULL;
                        q.res = p.res ? p.res + (size_t)r0 * ldc : NULL;
                        sk_f32_gemm_ntail__avx512f(K, a0, rr > MR ? a0 + astride : a0, b,
                                                   cw1 + (size_t)r0 * ldc, ldc, rr, cols, flags,
                                                   &q);
                    }
                    for (size_t i = 0; i < crows; i++)
                        for (size_t j = 0; j < ldc; j++) {
                            float got = c[i * ldc + j], nt = c1[i * ldc + j];
                            int r = (int)i - G, col = (int)j - G;
                            if (memcmp(&got, &nt, sizeof got))
                                fail_msg("rows %d cols %d K %zu flags %d: (%zu,%zu) %a, ntail %a",
                                         rows, cols, K, flags, i, j, (double)got, (double)nt);
                            if (r < 0 || r >= rows || col < 0 || col >= cols) {
                                if (memcmp(&got, &c0[i * ldc + j], sizeof got))
                                    fail_msg("rows %d cols %d K %zu: wrote outside at (%zu,%zu)",
                                             rows, cols, K, i, j);
                                continue;
                            }
                            float want = 0.0f;
                            for (size_t k = 0; k < K; k++)
                                want = fmaf(a[(size_t)(r / MR) * astride + k * MR + (size_t)(r % MR)],
                                            b[k * NR + (size_t)col], want);
                            if (flags & SK_UK_ACCUM)
                                want = want + c0[i * ldc + j];
                            if (flags & SK_UK_EPI) {
                                if (p.bias_row)
                                    want += bias_row[r];
                                if (p.bias_col)
                                    want += bias_col[col];
                                if (p.res)
                                    want += res[(size_t)r * ldc + (size_t)col];
                                want = p.min > want ? p.min : want;
                                want = p.max < want ? p.max : want;
                            }
                            if (memcmp(&got, &want, sizeof got))
                                fail_msg("rows %d cols %d K %zu flags %d (%d,%d): %a, want %a",
                                         rows, cols, K, flags, r, col, (double)got, (double)want);
                        }
                }
    free(a);
    free(b);
    free(c);
    free(c0);
    free(c1);
    free(res);
}
#else
static void test_kernel(void **state)
{
    (void)state;
    skip();
}
#endif

/* The driver: every last-panel width the narrow kernel takes (and one it
 * leaves to ntail), bias / residual / Relu, K over two K blocks. */
static void test_driver(void **state)
{
    (void)state;
    if (!have_avx512())
        skip();
    const sk_gemm_cfg *cfg = sk_gemm_config(SK_ISA_AVX512);
    const int shapes[][3] = {{256, 196, 1024}, {72, 196, 64}, {24, 49, 300}, {40, 4, 17},
                             {136, 7, 33},     {20, 39, 5},   {9, 196, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int threads = 1; threads <= 3; threads += 2) {
            const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc((size_t)K * N * sizeof(float));
            float *C0 = malloc((size_t)M * N * sizeof(float)), *C1 = malloc((size_t)M * N * sizeof(float));
            float *Cr = malloc((size_t)M * N * sizeof(float)), *R = malloc((size_t)M * N * sizeof(float));
            float *bias = malloc((size_t)M * sizeof(float));
            assert_true(A && B && C0 && C1 && Cr && R && bias);
            fill(A, (size_t)M * K, 1.0f);
            fill(B, (size_t)K * N, 1.0f);
            fill(R, (size_t)M * N, 1.0f);
            fill(bias, (size_t)M, 1.0f);
            sk_gemm_epi e;
            sk_gemm_epi_none(&e);
            e.bias = bias;
            e.res = s % 2 ? R : NULL;
            e.ldres = (size_t)N;
            e.min = s % 3 ? 0.0f : -INFINITY;
            sk_pool *pool = sk_pool_create(threads);
            assert_non_null(pool);
            unsetenv("SKIPSERVE_GEMM_NARROW");
            sk_switches_reload();
            assert_int_equal(sk_gemm_f32(cfg, pool, M, N, K, A, (size_t)K, B, (size_t)N, C0,
                                         (size_t)N, &e), 0);
            setenv("SKIPSERVE_GEMM_NARROW", "0", 1);
            sk_switches_reload();
            assert_int_equal(sk_gemm_f32(cfg, pool, M, N, K, A, (size_t)K, B, (size_t)N, C1,
                                         (size_t)N, &e), 0);
            unsetenv("SKIPSERVE_GEMM_NARROW");
            sk_switches_reload();
            assert_int_equal(sk_gemm_f32(NULL, NULL, M, N, K, A, (size_t)K, B, (size_t)N, Cr,
                                         (size_t)N, &e), 0);
            for (size_t i = 0; i < (size_t)M * N; i++) {
                if (memcmp(&C0[i], &C1[i], sizeof(float)))
                    fail_msg("%dx%dx%d %dT: element %zu narrow %a, ntail %a", M, N, K, threads, i,
                             (double)C0[i], (double)C1[i]);
                /* |sum| <= K terms of |a||b| <= 1: K ulp-scale error bound */
                if (fabsf(C0[i] - Cr[i]) > 2e-6f * (float)K + 1e-6f)
                    fail_msg("%dx%dx%d: element %zu %g, reference %g", M, N, K, i, (double)C0[i],
                             (double)Cr[i]);
            }
            sk_pool_destroy(pool);
            free(A);
            free(B);
            free(C0);
            free(C1);
            free(Cr);
            free(R);
            free(bias);
        }
}

/* (session 21, a2s) sk_gemm_pf_seq: call after call the same prefetch
 * pieces as sk_gemm_pf_piece's rule for call t of n (Winograd's U
 * prefetch): every n, piece size and K loop, NULL clearing the piece. */
static void test_pf_seq(void **state)
{
    (void)state;
    static const char buf[1 << 16];
    for (int n = 1; n <= 70; n += 3)
        for (size_t bytes = 0; bytes < 60000; bytes = bytes * 3 + 5)
            for (size_t kc = 1; kc <= 600; kc = kc * 4 + 1)
                for (int null = 0; null < 2; null++) {
                    const void *next = null ? NULL : buf + 64 * (n % 5) + n % 3;
                    sk_gemm_pf_seq s;
                    sk_gemm_pf_seq_init(&s, next, bytes, n);
                    for (int t = 0; t < n; t++) {
                        sk_ukernel_params want, got;
                        memset(&want, 0x55, sizeof want);
                        memset(&got, 0x55, sizeof got);
                        sk_gemm_pf_piece(&want, next, bytes, t, n, kc);
                        sk_gemm_pf_seq_next(&got, &s, kc);
                        if (want.pf != got.pf || want.pf_end != got.pf_end ||
                            want.pf_step != got.pf_step)
                            fail_msg("pf_seq: n %d bytes %zu kc %zu call %d", n, bytes, kc, t);
                    }
                }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel),
        cmocka_unit_test(test_driver),
        cmocka_unit_test(test_pf_seq),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
