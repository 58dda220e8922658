/* test_switches.c — the kernels' run-time switches read once (session 21,
 * engine/kernels/switches.c).
 *   - Every switch of SK_SWITCH_LIST: its field is NULL where the variable
 *     is unset and a private copy of the variable's value where set (a
 *     distinct value per switch, so the table's field for a variable holds
 *     that variable's value — a call site reading the wrong field is not
 *     caught here, the session 21 review checked each by script); read once: a setenv after the first read changes nothing
 *     until sk_switches_reload(), and the old name
 *     (sk_gemm_split_env_reload) reloads too.
 *   - The GEMM driver's parsed fields against the rules written here (as
 *     gemm.c's split_env_read had them since session 17): SKIPSERVE_GEMM_APF
 *     set when non-empty, its distance; _APF_MINK (128 unset); _SPLIT_CACHE
 *     / _SPLIT_FAR / _SPLIT_POOL on unless "0"; _SPLIT=balance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/gemm.h"
#include "engine/kernels/switches.h"

typedef struct {
    const char *env;
    size_t off;
} sw_field;

static const sw_field fields[] = {
#define SW_ENTRY(f, name) {name, offsetof(sk_switches, f)},
    SK_SWITCH_LIST(SW_ENTRY)
#undef SW_ENTRY
};
enum { NF = sizeof fields / sizeof fields[0] };

static const char *field(const sk_switches *t, size_t i)
{
    return *(const char *const *)((const char *)t + fields[i].off);
}

static void unset_all(void)
{
    for (size_t i = 0; i < NF; i++)
        unsetenv(fields[i].env);
}

static void test_every_switch(void **state)
{
    (void)state;
    unset_all();
    sk_switches_reload();
    const sk_switches *t = sk_sw();
    assert_non_null(t);
    for (size_t i = 0; i < NF; i++)
        assert_null(field(t, i));
    char v[32];
    for (size_t i = 0; i < NF; i++) {
        snprintf(v, sizeof v, "v%zu", i);
        setenv(fields[i].env, v, 1);
    }
    for (size_t i = 0; i < NF; i++) /* read once: not yet */
        assert_null(field(sk_sw(), i));
    sk_switches_reload();
    for (size_t i = 0; i < NF; i++) {
        snprintf(v, sizeof v, "v%zu", i);
        const char *f = field(sk_sw(), i);
        assert_non_null(f);
        assert_string_equal(f, v);
        assert_ptr_not_equal(f, getenv(fields[i].env)); /* a copy */
    }
    setenv(fields[0].env, "changed", 1);
    assert_string_equal(field(sk_sw(), 0), "v0");
    sk_gemm_split_env_reload(); /* the old name */
    assert_string_equal(field(sk_sw(), 0), "changed");
    unset_all();
    sk_switches_reload();
    for (size_t i = 0; i < NF; i++)
        assert_null(field(sk_sw(), i));
}

static void test_gemm_parsed(void **state)
{
    (void)state;
    unset_all();
    sk_switches_reload();
    const sk_switches *t = sk_sw();
    assert_int_equal(t->gemm_apf_set, 0);
    assert_int_equal(t->gemm_apf_mink_v, 128);
    assert_int_equal(t->gemm_split_cache_on, 1);
    assert_int_equal(t->gemm_split_far_on, 1);
    assert_int_equal(t->gemm_split_balance, 0);
    assert_int_equal(t->gemm_split_pool_on, 1);
    setenv("SKIPSERVE_GEMM_APF", "768", 1);
    setenv("SKIPSERVE_GEMM_APF_MINK", "64", 1);
    setenv("SKIPSERVE_GEMM_SPLIT_CACHE", "0", 1);
    setenv("SKIPSERVE_GEMM_SPLIT_FAR", "0", 1);
    setenv("SKIPSERVE_GEMM_SPLIT", "balance", 1);
    setenv("SKIPSERVE_GEMM_SPLIT_POOL", "0", 1);
    sk_switches_reload();
    assert_int_equal(t->gemm_apf_set, 1);
    assert_int_equal(t->gemm_apf_dist, 768);
    assert_int_equal(t->gemm_apf_mink_v, 64);
    assert_int_equal(t->gemm_split_cache_on, 0);
    assert_int_equal(t->gemm_split_far_on, 0);
    assert_int_equal(t->gemm_split_balance, 1);
    assert_int_equal(t->gemm_split_pool_on, 0);
    /* empty APF: unset; "1" is not "0": on; another SPLIT word: not balance */
    setenv("SKIPSERVE_GEMM_APF", "", 1);
    setenv("SKIPSERVE_GEMM_SPLIT_CACHE", "1", 1);
    setenv("SKIPSERVE_GEMM_SPLIT", "far", 1);
    sk_switches_reload();
    assert_int_equal(t->gemm_apf_set, 0);
    assert_int_equal(t->gemm_apf_dist, 0);
    assert_int_equal(t->gemm_split_cache_on, 1);
    assert_int_equal(t->gemm_split_balance, 0);
    unset_all();
    sk_switches_reload();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_switch),
        cmocka_unit_test(test_gemm_parsed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
