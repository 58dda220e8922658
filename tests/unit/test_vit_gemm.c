/* test_vit_gemm.c — session 15's (vit) GEMM pieces for the transformers:
 * the packers by 8x8 register transposes (kernels/fast_pack_t.c) against
 * the scalar packers they replace, bit for bit, and a whole product through
 * them; the driver's per-block post-op (sk_gemm_job.post, _MatMulFused's
 * GELU).
 *   - A panels (sk_fast_pack_a_rows_t vs sk_gemm_pack_a_rowmajor) and Kt
 *     panels (sk_fast_pack_b_rows_t vs the definition B(k, n) = p[n*ld + k])
 *     for every level with a transpose, panels 8, 12 (session 19: the
 *     12-row kernel's), 16 and 32 wide: 1-21 rows (whole 8x8 blocks, the
 *     5-row tail of ViT's 197, one row), depths 1-40 and offsets k0, m0, n0,
 *     rows longer than the block (ld), an item stride; zeroed rows / columns
 *     past the matrix, guard cells after the panels untouched (NaN canaries
 *     in the destination before packing).
 *   - The choice (sk_fast_pack_t_on): on at mr = 8 (and 12) with a transpose, off at
 *     the 6-row AVX2 tile, for a K-pair config, without a transpose, and with
 *     SKIPSERVE_PACK_T=0.
 *   - sk_gemm_run of ViT-like products (M = 197, odd N and K over several K
 *     blocks, bias + residual epilogue) with A packed either way: the same
 *     bits at 1, 2 and 3 threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels/config.h"
#include "kernels/fast_pack_t.h"
#include "kernels/gemm.h"
#include "sk.h"
#include "threadpool.h"
#include "kernels/switches.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 20);
}
static float frand(void) { return (float)((double)(rnd() % 200001) / 100000.0 - 1.0); }

enum { GUARD = 64 };

/* dst of n floats + GUARD canaries, every float NaN before packing */
static float *canaries(size_t n)
{
    float *d = malloc((n + GUARD) * sizeof(float));
    assert_non_null(d);
    for (size_t i = 0; i < n + GUARD; i++)
        d[i] = NAN;
    return d;
}

static void check_level(sk_isa isa)
{
    const sk_fast_uk *uk = sk_fast_uk_for(isa);
    if (!uk || !uk->transpose)
        return;
    static const int widths[] = {8, 12, 16, 32}; /* 12: gemm_mr12's A panels (session 19) */
    for (int w = 0; w < 4; w++)
        for (int rows = 1; rows <= 21; rows++)
            for (int kc = 1; kc <= 40; kc += (kc < 10 ? 1 : 7)) {
                const int W = widths[w], m0 = (int)(rnd() % 3), k0 = (int)(rnd() % 5);
                const size_t ld = (size_t)(k0 + kc + rnd() % 9), stride = ld * (size_t)(m0 + rows + 2);
                float *src = malloc(sizeof(float) * stride * 2);
                assert_non_null(src);
                for (size_t i = 0; i < stride * 2; i++)
                    src[i] = frand();
                const size_t n = (size_t)((rows + W - 1) / W) * (size_t)W * (size_t)kc;
                float *got = canaries(n), *want = canaries(n);
                /* A panels, item 1: the scalar packer is the reference */
                sk_gemm_rowmajor ra = {src, ld, stride};
                sk_fast_rows_t rt = {src, ld, stride, uk->transpose};
                sk_gemm_pack_a_rowmajor(&ra, 1, m0, rows, k0, kc, W, want);
                sk_fast_pack_a_rows_t(&rt, 1, m0, rows, k0, kc, W, got);
                assert_memory_equal(got, want, n * sizeof(float));
                for (size_t i = n; i < n + GUARD; i++)
                    assert_true(isnan(got[i]));
                /* B panels from rows: B(k, c) = row (n0 + c), column k0 + k */
                for (size_t i = 0; i < n + GUARD; i++)
                    got[i] = NAN;
                sk_fast_pack_b_rows_t(&rt, 1, k0, kc, m0, rows, W, got, NULL);
                for (int p = 0; p * W < rows; p++)
                    for (int k = 0; k < kc; k++)
                        for (int c = 0; c < W; c++) {
                            int col = p * W + c;
                            float v = got[((size_t)p * (size_t)kc + (size_t)k) * (size_t)W + (size_t)c];
                            float e = col < rows ? src[stride + (size_t)(m0 + col) * ld + (size_t)(k0 + k)]
                                                 : 0.0f;
                            assert_memory_equal(&v, &e, sizeof v);
                        }
                for (size_t i = n; i < n + GUARD; i++)
                    assert_true(isnan(got[i]));
                free(src);
                free(got);
                free(want);
            }
}

static void test_panels(void **state)
{
    (void)state;
    for (int l = (int)SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++)
        check_level((sk_isa)l);
}

static void test_choice(void **state)
{
    (void)state;
    sk_gemm_cfg c8 = {0}, c6 = {0};
    c8.mr = 8;
    c8.nr = 32;
    c6.mr = 6;
    c6.nr = 16;
    const sk_fast_uk *uk = sk_cpu_detected() >= SK_ISA_AVX2 ? sk_fast_uk_for(SK_ISA_AVX2) : NULL;
    if (!uk || !uk->transpose)
        skip();
    void (*tr)(size_t, size_t, const float *, size_t, float *, size_t) = uk->transpose;
    unsetenv("SKIPSERVE_PACK_T");
    sk_switches_reload();
    assert_true(sk_fast_pack_t_on(&c8, tr));
    assert_false(sk_fast_pack_t_on(&c6, tr));
    sk_gemm_cfg c12 = c8;
    c12.mr = 12; /* session 19: gemm_mr12's panels */
    assert_true(sk_fast_pack_t_on(&c12, tr));
    c12.mr = 10;
    assert_false(sk_fast_pack_t_on(&c12, tr));
    assert_false(sk_fast_pack_t_on(&c8, NULL));
    assert_false(sk_fast_pack_t_on(NULL, tr));
    c8.kpair = 1;
    assert_false(sk_fast_pack_t_on(&c8, tr));
    c8.kpair = 0;
    setenv("SKIPSERVE_PACK_T", "0", 1);
    sk_switches_reload();
    assert_false(sk_fast_pack_t_on(&c8, tr));
    unsetenv("SKIPSERVE_PACK_T");
    sk_switches_reload();
}

/* C = A W + bias + R with A packed by `pack` (ctx) on `threads` threads */
static float *product(const sk_gemm_cfg *cfg, int threads, int M, int N, int K, sk_gemm_pack_a_fn pack,
                      const void *actx, const float *W, const float *bias, const float *R)
{
    sk_pool *pool = sk_pool_create(threads);
    assert_non_null(pool);
    sk_gemm_packed_b pb;
    assert_int_equal(sk_gemm_pack_b(cfg, W, (size_t)N, 1, K, N, 1.0f, &pb), 0);
    float *C = calloc((size_t)M * (size_t)N, sizeof(float));
    assert_non_null(C);
    sk_gemm_job j;
    sk_gemm_job_init(&j, cfg, M, N, K, 1);
    j.pack_a = pack;
    j.a_ctx = actx;
    j.b_packed = &pb;
    j.c = C;
    j.ldc = (size_t)N;
    j.epi.bias = bias;
    j.epi.bias_per_col = 1;
    j.epi.res = R;
    j.epi.ldres = (size_t)N;
    assert_int_equal(sk_gemm_run(pool, &j, NULL), 0);
    sk_gemm_packed_b_free(&pb);
    sk_pool_destroy(pool);
    return C;
}

static void test_gemm_same_bits(void **state)
{
    (void)state;
    static const int S[][3] = {{197, 77, 300}, {197, 96, 64}, {13, 33, 520}, {1, 40, 9}};
    for (int l = (int)SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        const sk_gemm_cfg *cfg = sk_gemm_config((sk_isa)l);
        const sk_fast_uk *uk = sk_fast_uk_for((sk_isa)l);
        if (!cfg || !uk || !uk->transpose)
            continue;
        for (size_t s = 0; s < sizeof S / sizeof S[0]; s++) {
            int M = S[s][0], N = S[s][1], K = S[s][2];
            float *A = malloc(sizeof(float) * (size_t)M * (size_t)K),
                  *W = malloc(sizeof(float) * (size_t)K * (size_t)N),
                  *b = malloc(sizeof(float) * (size_t)N), *R = malloc(sizeof(float) * (size_t)M * (size_t)N);
            assert_true(A && W && b && R);
            for (int i = 0; i < M * K; i++)
                A[i] = frand();
            for (int i = 0; i < K * N; i++)
                W[i] = frand();
            for (int i = 0; i < N; i++)
                b[i] = frand();
            for (int i = 0; i < M * N; i++)
                R[i] = frand();
            sk_gemm_rowmajor ra = {A, (size_t)K, 0};
            sk_fast_rows_t rt = {A, (size_t)K, 0, uk->transpose};
            float *want = product(cfg, 1, M, N, K, sk_gemm_pack_a_rowmajor, &ra, W, b, R);
            /* and against a double-precision product: the packer under test
             * must feed the right rows, not only the same ones as before */
            for (int i = 0; i < M; i++)
                for (int n = 0; n < N; n++) {
                    double acc = b[n] + R[(size_t)i * (size_t)N + (size_t)n];
                    for (int k = 0; k < K; k++)
                        acc += (double)A[(size_t)i * (size_t)K + (size_t)k] * W[(size_t)k * (size_t)N + (size_t)n];
                    assert_true(fabs(want[(size_t)i * (size_t)N + (size_t)n] - acc) <= 1e-4 * (1.0 + sqrt((double)K)));
                }
            for (int t = 1; t <= 3; t++) {
                float *got = product(cfg, t, M, N, K, sk_fast_pack_a_rows_t, &rt, W, b, R);
                assert_memory_equal(got, want, sizeof(float) * (size_t)M * (size_t)N);
                free(got);
            }
            free(want);
            free(A);
            free(W);
            free(b);
            free(R);
        }
    }
}

/* post adds 1000 to each element: a block visited twice reads +2000, a
 * missed one +0 */
static void post_add(const void *ctx, int batch, float *c, size_t ldc, int rows, int cols)
{
    int *calls = (int *)ctx;
    __atomic_add_fetch(calls, 1, __ATOMIC_RELAXED);
    assert_true(batch >= 0 && batch < 2);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++)
            c[(size_t)r * ldc + (size_t)k] += 1000.0f;
}

static void test_gemm_post(void **state)
{
    (void)state;
    static const int S[][3] = {{197, 300, 77}, {1576, 64, 40}, {5, 3, 1}, {33, 70, 0}};
    for (int l = (int)SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        const sk_gemm_cfg *cfg = sk_gemm_config((sk_isa)l);
        if (!cfg)
            continue;
        for (size_t s = 0; s < sizeof S / sizeof S[0]; s++)
            for (int t = 1; t <= 3; t++) {
                int M = S[s][0], N = S[s][1], K = S[s][2];
                size_t mk = (size_t)M * (size_t)(K > 0 ? K : 1), mn = (size_t)M * (size_t)N;
                float *A = malloc(sizeof(float) * mk * 2), *B = malloc(sizeof(float) * (size_t)(K > 0 ? K : 1) * (size_t)N);
                float *want = malloc(sizeof(float) * mn * 2), *got = malloc(sizeof(float) * mn * 2);
                float *bias = malloc(sizeof(float) * (size_t)N);
                assert_true(A && B && want && got && bias);
                for (size_t i = 0; i < mk * 2; i++)
                    A[i] = frand();
                for (size_t i = 0; i < (size_t)(K > 0 ? K : 1) * (size_t)N; i++)
                    B[i] = frand();
                for (int i = 0; i < N; i++)
                    bias[i] = frand();
                sk_pool *pool = sk_pool_create(t);
                assert_non_null(pool);
                sk_gemm_rowmajor ra = {A, (size_t)(K > 0 ? K : 1), mk}, rb = {B, (size_t)N, 0};
                int calls = 0;
                for (int pass = 0; pass < 2; pass++) { /* 0: no post, 1: post */
                    sk_gemm_job j;
                    sk_gemm_job_init(&j, cfg, M, N, K, 2);
                    j.pack_a = sk_gemm_pack_a_rowmajor;
                    j.a_ctx = &ra;
                    j.pack_b = sk_gemm_pack_b_rowmajor;
                    j.b_ctx = &rb;
                    j.c = pass ? got : want;
                    j.ldc = (size_t)N;
                    j.c_stride = mn;
                    j.epi.bias = bias;
                    j.epi.bias_per_col = 1;
                    j.epi.min = -0.5f; /* the post sees the clamped values */
                    if (pass) {
                        j.post = post_add;
                        j.post_ctx = &calls;
                    }
                    assert_int_equal(sk_gemm_run(pool, &j, NULL), 0);
                }
                assert_true(calls >= 2);
                for (size_t i = 0; i < mn * 2; i++)
                    assert_true(got[i] == want[i] + 1000.0f);
                sk_pool_destroy(pool);
                free(A);
                free(B);
                free(want);
                free(got);
                free(bias);
            }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_panels),
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_gemm_same_bits),
        cmocka_unit_test(test_gemm_post),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
