/* test_peak.c — the FP32 ceiling loop (kernels/peak.h) runs the twelve
 * distinct FMA chains it counts. Until session 10 the chains started equal
 * and the compiler merged them into one, so `skipserve-bench --peak` read
 * 1.5x too high; the sum of the chains tells one chain from twelve. Timing
 * is not checked (tests must not depend on the machine's speed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "cpu.h"
#include "kernels/peak.h"
#include "kernels/peak_lowp.h"

/* chain j from 1 + j/8, a = a*m + c, in double; one value per chain */
static double reference_sum(long iters)
{
    double s = 0;
    for (int j = 0; j < 12; j++) {
        double a = 1.0 + 0.125 * j;
        for (long i = 0; i < iters; i++)
            a = a * (double)SK_PEAK_MUL + (double)SK_PEAK_ADD;
        s += a;
    }
    return s;
}

static void check_level(sk_isa isa, int lanes)
{
    const long iters[] = {0, 1, 7, 1000, 20000};
    for (size_t k = 0; k < sizeof iters / sizeof iters[0]; k++) {
        float sum = -1;
        double flops = sk_peak_fma(isa, iters[k], &sum);
        assert_true(flops == (double)iters[k] * 12.0 * 2.0 * lanes);
        double want = reference_sum(iters[k]);
        /* float chains vs double: each step adds 1e-5 to ~1.5, a tenth of
         * an ulp, so the unfused scalar chains drift ~2e-4 over 20000 steps;
         * one merged chain would give ~12 instead of ~19-20 */
        if (fabs((double)sum - want) > 1e-3 * want)
            fail_msg("%s, %ld iterations: chains sum to %.7g, want %.7g", sk_isa_name(isa),
                     iters[k], (double)sum, want);
    }
}

static void test_peak_scalar(void **state)
{
    (void)state;
    check_level(SK_ISA_SCALAR, 1);
}

static void test_peak_simd(void **state)
{
    (void)state;
    sk_isa have = sk_cpu_detected();
    if (have >= SK_ISA_AVX2)
        check_level(SK_ISA_AVX2, 8);
    if (have >= SK_ISA_AVX512)
        check_level(SK_ISA_AVX512, 16);
    if (have < SK_ISA_AVX2)
        skip();
}

/* The int8 / bf16 ceilings (peak_lowp.h): every chain ran, from its own
 * start, the count of operations is the instruction's. Chain j of the int8
 * loops ends at j + iters * 4 * U8 * S8 in int32 (exact, no wrap for these
 * counts); the bf16 chains gain 2 * 2^-14 a step from 1 + j/8, exact in
 * float for these counts. One merged chain would sum to a twelfth (or a
 * sixteenth) of the increments. */
#if defined(__x86_64__)
static void check_int8(const char *what, double (*fn)(long, int64_t *), int lanes)
{
    const long iters[] = {0, 1, 7, 1000, 30000};
    for (size_t k = 0; k < sizeof iters / sizeof iters[0]; k++) {
        int64_t sum = -1;
        double ops = fn(iters[k], &sum);
        assert_true(ops == (double)iters[k] * 12.0 * lanes * 4.0 * 2.0);
        int64_t want = 66 + 12 * (int64_t)iters[k] * 4 * SK_PEAK_U8 * SK_PEAK_S8;
        if (sum != want)
            fail_msg("%s, %ld iterations: chains sum to %lld, want %lld", what, iters[k],
                     (long long)sum, (long long)want);
    }
}

static void test_peak_lowp(void **state)
{
    (void)state;
    const sk_cpu_features *f = sk_cpu_features_get();
    int ran = 0;
    if (sk_cpu_detected() >= SK_ISA_AVX2) {
        check_int8("int8 avx2", sk_peak_int8_avx2, 8);
        check_int8("int8 avx2 widened (vpmaddwd)", sk_peak_int8w_avx2, 8);
        ran++;
    }
    if (f->avxvnni) {
        check_int8("int8 avx-vnni", sk_peak_int8_avxvnni, 8);
        ran++;
    }
    if (sk_cpu_detected() >= SK_ISA_AVX512 && f->avx512vnni) {
        check_int8("int8 avx512-vnni", sk_peak_int8_avx512vnni, 16);
        ran++;
    }
    if (sk_cpu_detected() >= SK_ISA_AVX512 && f->avx512bf16) {
        const long iters[] = {0, 1, 7, 1000, 30000};
        for (size_t k = 0; k < sizeof iters / sizeof iters[0]; k++) {
            double sum = -1, ops = sk_peak_bf16_avx512bf16(iters[k], &sum);
            assert_true(ops == (double)iters[k] * 16.0 * 16.0 * 2.0 * 2.0);
            double want = 16.0 + 0.125 * 120.0 +
                          16.0 * (double)iters[k] * 2.0 * (double)SK_PEAK_BF16 * SK_PEAK_BF16;
            if (sum != want)
                fail_msg("bf16, %ld iterations: chains sum to %.9g, want %.9g", iters[k], sum,
                         want);
        }
        ran++;
    }
    if (f->amx_tile && f->amx_int8 && sk_cpu_amx_request()) { /* session 19 (ami): six
                            * int32 tile chains from j, 64 products of 1 x 1 an instruction */
        const long iters[] = {0, 1, 7, 1000, 30000};
        for (size_t k = 0; k < sizeof iters / sizeof iters[0]; k++) {
            int64_t sum = -1;
            double ops = sk_peak_int8_amx(iters[k], &sum);
            assert_true(ops == (double)iters[k] * 6.0 * 16.0 * 16.0 * 64.0 * 2.0);
            int64_t want = 15 + 6 * (int64_t)iters[k] * 64;
            if (sum != want)
                fail_msg("int8 amx, %ld iterations: chains sum to %lld, want %lld", iters[k],
                         (long long)sum, (long long)want);
        }
        ran++;
    }
    if (f->amx_bf16 && sk_cpu_amx_request()) { /* session 19: six tile chains from 1 + j/8, each element
                        * 32 products of 2^-14 an instruction (exact) */
        const long iters[] = {0, 1, 7, 1000, 30000};
        for (size_t k = 0; k < sizeof iters / sizeof iters[0]; k++) {
            double sum = -1, ops = sk_peak_bf16_amx(iters[k], &sum);
            assert_true(ops == (double)iters[k] * 6.0 * 16.0 * 16.0 * 32.0 * 2.0);
            double want = 6.0 + 0.125 * 15.0 +
                          6.0 * (double)iters[k] * 32.0 * (double)SK_PEAK_BF16 * SK_PEAK_BF16;
            if (sum != want)
                fail_msg("bf16 amx, %ld iterations: chains sum to %.9g, want %.9g", iters[k],
                         sum, want);
        }
        ran++;
    }
    if (!ran)
        skip();
}
#else
static void test_peak_lowp(void **state)
{
    (void)state;
    skip(); /* x86 loops only */
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peak_scalar),
        cmocka_unit_test(test_peak_simd),
        cmocka_unit_test(test_peak_lowp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
