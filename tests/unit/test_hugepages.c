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
 *   - SKIPSERVE_HUGEPAGES=0: plain 64-byte aligned allocations, no block;
 *   - (session 21) a second sk_free of a piece, or an sk_free inside one,
 *     aborts (in a forked child: SIGABRT);
 *   - (session 21) two "models" of pieces loaded and unloaded in turn: the
 *     resident set (/proc/self/statm) falls back to what the live one
 *     holds within a bound, though both share blocks;
 *   - (session 21) the int8 packers' weights (sk_qgemm_weights_kmajor, the
 *     QLinearMatMul / ConvTranspose packing) lie in blocks.
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
#include "engine/kernels/qgemm.h"
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

/* where sk_alloc_weights carves blocks (engine/sk.c decides) */
static int have_blocks(void) { return sk_weight_blocks_enabled(); }

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
    /* (session 21) every freed piece at the block's end, not only the last:
     * b and c freed in either order, the next piece starts at b */
    char *c = sk_alloc_weights(3000);
    assert_non_null(c);
    sk_free(b);
    sk_free(c);
    char *d = sk_alloc_weights(9000);
    assert_ptr_equal(b, d);
    sk_free(d);
    sk_free(keep);
}

#if defined(__linux__)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* how a child doing `bad` ends: its signal, or -1 where it exited */
static int child_signal(void (*bad)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr)) /* the abort's message */
            _exit(3);
        bad();
        _exit(0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) ? WTERMSIG(st) : -1;
}

static void free_twice(void)
{
    char *keep = sk_alloc_weights(1000), *p = sk_alloc_weights(5000);
    sk_free(p);
    sk_free(p); /* the block lives on (keep): must not pass */
    sk_free(keep);
}

static void free_inside(void)
{
    char *keep = sk_alloc_weights(1000), *p = sk_alloc_weights(5000);
    sk_free(p + 64);
    sk_free(p);
    sk_free(keep);
}

static void free_once(void)
{
    char *keep = sk_alloc_weights(1000), *p = sk_alloc_weights(5000);
    sk_free(p);
    sk_free(keep);
}
#endif

static void test_bad_free_aborts(void **state)
{
    (void)state;
    unsetenv("SKIPSERVE_HUGEPAGES");
#if defined(__linux__)
    if (!have_blocks())
        skip();
    assert_int_equal(child_signal(free_once), -1);
    assert_int_equal(child_signal(free_twice), SIGABRT);
    assert_int_equal(child_signal(free_inside), SIGABRT);
#else
    skip();
#endif
}

/* resident bytes of this process (/proc/self/statm), -1 unknown */
static long resident_bytes(void)
{
#if defined(__linux__)
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = -1;
        fclose(f);
    }
    return res < 0 ? -1 : res * sysconf(_SC_PAGESIZE);
#else
    return -1;
#endif
}

/* a model's packed weights: small pieces (as ResNet's and MobileNet's
 * convs, 20-600 KB) and a few of 1-3 MB, each written whole; returns the
 * bytes */
#define MODEL_PIECES 64
static size_t load_model(char **p, unsigned seed)
{
    size_t total = 0;
    for (int i = 0; i < MODEL_PIECES; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = i % 16 == 15 ? MIB + (seed >> 8) % (2 * MIB) : 20000 + (seed >> 8) % 600000;
        p[i] = sk_alloc_weights(n);
        assert_non_null(p[i]);
        memset(p[i], 1 + i % 200, n);
        total += n;
    }
    return total;
}

static void unload_model(char **p)
{
    for (int i = 0; i < MODEL_PIECES; i++)
        sk_free(p[i]);
}

static void test_unload_gives_back(void **state)
{
    (void)state;
    unsetenv("SKIPSERVE_HUGEPAGES");
    long r0 = resident_bytes();
    if (!have_blocks() || r0 < 0)
        skip();
    char *a[MODEL_PIECES], *b[MODEL_PIECES];
    /* what may stay besides the live model's bytes: its pages rounded to
     * 2 MiB at both ends of each block it touches, the page it shares with
     * the gone model, and the piece tables */
    const long slack = (long)(10 * MIB); /* without the page release: +58.7 MB */
    for (int round = 0; round < 3; round++) {
        size_t na = load_model(a, 11u + (unsigned)round);
        size_t nb = load_model(b, 29u + (unsigned)round); /* fills a's blocks' tails first */
        unload_model(a);
        long r1 = resident_bytes() - r0;
        printf("  round %d: A %.1f MB, B %.1f MB; A unloaded: +%.1f MB resident\n", round,
               na / 1e6, nb / 1e6, r1 / 1e6);
        assert_true(r1 <= (long)nb + slack);
        na = load_model(a, 47u + (unsigned)round);
        unload_model(b);
        long r2 = resident_bytes() - r0;
        printf("  round %d: B unloaded, A again (%.1f MB): +%.1f MB resident\n", round, na / 1e6,
               r2 / 1e6);
        assert_true(r2 <= (long)na + slack);
        unload_model(a);
        long r3 = resident_bytes() - r0;
        assert_true(r3 <= slack);
    }
}

static void test_int8_packs_in_blocks(void **state)
{
    (void)state;
    unsetenv("SKIPSERVE_HUGEPAGES");
    if (!have_blocks())
        skip();
    const sk_qgemm_cfg *q = sk_qgemm_config(sk_cpu_level());
    if (!q)
        skip();
    enum { R = 96, K = 200 };
    static int8_t w[K * R];
    static float ws[R];
    for (int i = 0; i < K * R; i++)
        w[i] = (int8_t)(i * 7 % 255 - 127);
    for (int r = 0; r < R; r++)
        ws[r] = 0.01f + 0.001f * (float)r;
    sk_qgemm_weights qw;
    assert_int_equal(sk_qgemm_weights_kmajor(&qw, q, R, K, w, R, NULL, 128, 0.02f, ws, R, 0.1f,
                                             0, 128),
                     1);
    assert_true(sk_huge_block_of(qw.pa, NULL, NULL));
    sk_qgemm_weights_free(&qw);
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
        cmocka_unit_test(test_bad_free_aborts),
        cmocka_unit_test(test_unload_gives_back),
        cmocka_unit_test(test_int8_packs_in_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
