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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peak_scalar),
        cmocka_unit_test(test_peak_simd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
