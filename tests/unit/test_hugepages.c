/* test_hugepages.c — packed weights in huge pages (session 20, branch hp).
 *
 * sk_alloc_weights (engine/sk.c) carves packed weights from 2 MiB-aligned
 * blocks mapped for them and advised MADV_HUGEPAGE. Checked here:
 *   - pieces of many sizes (0 .. 3 MiB) are 64-byte aligned, disjoint over
 *     their size rounded up to 64 (the line a kernel may read past a tail),
 *     writable to the end, and lie in a 2 MiB-aligned block; all freed, the
 *     blocks are gone;
 *   - the piece freed last-in is handed out again (no hole where a packer
 *     replaces what it just packed);
 *   - a GEMM's packed weights of 4 MiB and of 16 KiB lie in such blocks and
 *     the kernel reports the blocks' range THPeligible in /proc/self/smaps
 *     (skipped where THP is "never" or off Linux);
 *   - SKIPSERVE_HUGEPAGES=0: plain 64-byte aligned allocations, no block.
 * The packed data are compared with a packing written here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <sys/prctl.h>
#endif

#include "cpu.h"
#include "engine/kernels/config.h"
#include "engine/kernels/gemm.h"
#include "engine/sk.h"

#define MIB ((size_t)1 << 20)

/* 1 eligible, 0 not, -1 unknown (no smaps / THP never / not Linux) */
static int thp_eligible(const void *p)
{
#if defined(__linux__)
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char mode[128] = {0};
    if (!f)
        return -1;
    if (!fgets(mode, sizeof mode, f))
        mode[0] = 0;
    fclose(f);
    if (strstr(mode, "[never]") || !mode[0])
        return -1;
#if defined(PR_GET_THP_DISABLE)
    if (prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) > 0) /* a service / container turned THP off */
        return -1;
#endif
    if (!(f = fopen("/proc/self/smaps", "r")))
        return -1;
    char line[512];
    int in = 0, r = -1;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = a >= lo && a < hi;
        else if (in && !strncmp(line, "THPeligible:", 12)) {
            r = atoi(line + 12) != 0;
            break;
        }
    }
    fclose(f);
    return r;
#else
    (void)p;
    return -1;
#endif
}

static int have_blocks(void)
{
    /* as engine/sk.c's SK_HUGE_BLOCKS */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 0;
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
    return 0;
#elif defined(__linux__) && defined(MADV_HUGEPAGE)
    return 1;
#else
    return 0;
#endif
}

static void test_pieces_aligned_disjoint(void **state)
{
    (void)state;
    unsetenv("SKIPSERVE_HUGEPAGES");
    static const size_t sizes[] = {0,      1,       63,      64,      65,       4096,
                                   100000, MIB - 1, MIB,     MIB + 8, 3 * MIB,  200,
                                   17,     2 * MIB, 512000,  1,       3 * MIB + 5};
    enum { N = sizeof sizes / sizeof sizes[0] };
    char *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = sk_alloc_weights(sizes[i]);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 64, 0);
        size_t n = sizes[i] ? (sizes[i] + 63) & ~(size_t)63 : 64;
        memset(p[i], i + 1, n); /* the whole rounded piece is ours */
        if (have_blocks()) {
            void *base = NULL;
            size_t size = 0;
            assert_true(sk_huge_block_of(p[i], &base, &size));
            assert_int_equal((uintptr_t)base % (2 * MIB), 0);
            assert_int_equal(size % (2 * MIB), 0);
            assert_true(p[i] >= (char *)base && p[i] + n <= (char *)base + size);
        }
    }
    for (int i = 0; i < N; i++) { /* disjoint: every byte still its own */
        size_t n = sizes[i] ? (sizes[i] + 63) & ~(size_t)63 : 64;
        for (size_t k = 0; k < n; k += 61)
            assert_int_equal((unsigned char)p[i][k], i + 1);
        assert_int_equal((unsigned char)p[i][n - 1], i + 1);
        for (int j = 0; j < N; j++) {
            size_t m = sizes[j] ? (sizes[j] + 63) & ~(size_t)63 : 64;
            if (j != i)
                assert_true(p[i] + n <= p[j] || p[j] + m <= p[i]);
        }
    }
    for (int i = 0; i < N; i++)
        sk_free(p[i]);
    for (int i = 0; i < N; i++)
        assert_false(sk_huge_block_of(p[i], NULL, NULL)); /* unmapped */
}

static void test_last_piece_reused(void **state)
{
    (void)state;
    unsetenv("SKIPSERVE_HUGEPAGES");
    if (!have_blocks())
        skip();
    char *keep = sk_alloc_weights(1000);
    char *a = sk_alloc_weights(5000);
    assert_non_null(keep);
    assert_non_null(a);
    sk_free(a);
    char *b = sk_alloc_weights(7000);
    assert_ptr_equal(a, b);
    sk_free(b);
    sk_free(keep);
}

static void test_packed_gemm_weights_advised(void **state)
{
    (void)state;
    unsetenv("SKIPSERVE_HUGEPAGES");
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    if (!kc)
        skip();
    const sk_gemm_cfg *cfg = &kc->gemm;
    static const int shapes[][2] = {{1024, 1024}, {64, 64}}; /* K, N: 4 MiB and 16 KiB */
    for (int s = 0; s < 2; s++) {
        int K = shapes[s][0], N = shapes[s][1];
        float *B = malloc(sizeof(float) * (size_t)K * (size_t)N);
        assert_non_null(B);
        for (size_t i = 0; i < (size_t)K * (size_t)N; i++)
            B[i] = (float)(i % 977) - 488.0f;
        sk_gemm_packed_b pb;
        assert_int_equal(sk_gemm_pack_b(cfg, B, (size_t)N, 1, K, N, 1.0f, &pb), 0);
        assert_int_equal((uintptr_t)pb.data % 64, 0);
        /* the panel layout: nr columns a K step, panels in N order */
        int nr = cfg->nr;
        for (int k = 0; k < K; k += 37)
            for (int n = 0; n < N; n += 5)
                assert_true(pb.data[(size_t)(n / nr) * (size_t)K * (size_t)nr +
                                    (size_t)k * (size_t)nr + (size_t)(n % nr)] ==
                            B[(size_t)k * (size_t)N + (size_t)n]);
        if (have_blocks()) {
            void *base = NULL;
            assert_true(sk_huge_block_of(pb.data, &base, NULL));
            int e = thp_eligible(pb.data);
            if (e >= 0)
                assert_int_equal(e, 1);
            else
                printf("  THPeligible not checked (THP never / no smaps)\n");
        }
        sk_gemm_packed_b_free(&pb);
        free(B);
    }
}

static void test_switch_off(void **state)
{
    (void)state;
    setenv("SKIPSERVE_HUGEPAGES", "0", 1);
    char *p = sk_alloc_weights(100000), *q = sk_alloc_weights(3 * MIB);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal((uintptr_t)p % 64, 0);
    assert_int_equal((uintptr_t)q % 64, 0);
    assert_false(sk_huge_block_of(p, NULL, NULL));
    assert_false(sk_huge_block_of(q, NULL, NULL));
    memset(p, 1, 100000);
    memset(q, 2, 3 * MIB);
    sk_free(p);
    sk_free(q);
    unsetenv("SKIPSERVE_HUGEPAGES");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_aligned_disjoint),
        cmocka_unit_test(test_last_piece_reused),
        cmocka_unit_test(test_packed_gemm_weights_advised),
        cmocka_unit_test(test_switch_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
