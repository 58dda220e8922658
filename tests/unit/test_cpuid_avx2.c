/* test_cpuid_avx2.c — bench/cpuid_avx2.c ($(BUILD)/cpuid_avx2.so, the
 * LD_PRELOAD library `bench/compare-ort.sh --cpu avx2` runs both tools under)
 * presents an AVX2 + FMA CPU: no AVX-512 / AVX-VNNI / AVX512-BF16 / AMX /
 * AVX10 bit in CPUID, the rest as the CPU says, in the thread that loaded it
 * and in threads created later; engine/cpu.c then detects the AVX2 level; a
 * SIGSEGV that is not a CPUID still kills, and under LD_PRELOAD (as node
 * runs) a program's own SIGSEGV handler installed after a reset to SIG_DFL
 * still gets the other faults while CPUIDs keep being answered. The bits are
 * checked against the SDM's bit positions written out here, against the
 * real CPUID read before the library is loaded. No timing. Skips where the
 * CPU or kernel has no CPUID faulting (`cpuid_fault` in /proc/cpuinfo) or no
 * AVX2 + FMA, or off x86-64 Linux. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
#include <cpuid.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cpu.h"

typedef struct { unsigned r[4]; } regs4;

static regs4 cpuid(unsigned leaf, unsigned sub)
{
    regs4 x;
    __cpuid_count(leaf, sub, x.r[0], x.r[1], x.r[2], x.r[3]);
    return x;
}

/* the SDM's bit positions of what an AVX2-only CPU does not have */
enum { EAX, EBX, ECX, EDX };
static const struct { unsigned leaf, sub, reg, bit; const char *name; } hidden[] = {
    {7, 0, EBX, 16, "avx512f"},        {7, 0, EBX, 17, "avx512dq"},
    {7, 0, EBX, 21, "avx512ifma"},     {7, 0, EBX, 26, "avx512pf"},
    {7, 0, EBX, 27, "avx512er"},       {7, 0, EBX, 28, "avx512cd"},
    {7, 0, EBX, 30, "avx512bw"},       {7, 0, EBX, 31, "avx512vl"},
    {7, 0, ECX, 1, "avx512vbmi"},      {7, 0, ECX, 6, "avx512vbmi2"},
    {7, 0, ECX, 11, "avx512vnni"},     {7, 0, ECX, 12, "avx512bitalg"},
    {7, 0, ECX, 14, "avx512vpopcntdq"},
    {7, 0, EDX, 2, "avx512_4vnniw"},   {7, 0, EDX, 3, "avx512_4fmaps"},
    {7, 0, EDX, 8, "avx512_vp2intersect"}, {7, 0, EDX, 22, "amx-bf16"},
    {7, 0, EDX, 23, "avx512fp16"},     {7, 0, EDX, 24, "amx-tile"},
    {7, 0, EDX, 25, "amx-int8"},
    {7, 1, EAX, 4, "avx-vnni"},        {7, 1, EAX, 5, "avx512bf16"},
    {7, 1, EAX, 21, "amx-fp16"},       {7, 1, EAX, 23, "avx-ifma"},
    {7, 1, EDX, 4, "avx-vnni-int8"},   {7, 1, EDX, 5, "avx-ne-convert"},
    {7, 1, EDX, 8, "amx-complex"},     {7, 1, EDX, 10, "avx-vnni-int16"},
    {7, 1, EDX, 19, "avx10"},
};

/* the real CPU, read before the library is loaded */
static regs4 real0, real1, real7_0, real7_1;
static int usable; /* cpuid_fault and AVX2 + FMA: the checks can run */
static char so_path[PATH_MAX + 32];

static int has_cpuid_fault(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[8192];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0 && strstr(line, " cpuid_fault"))
            found = 1;
    fclose(f);
    return found;
}

/* $(BUILD)/cpuid_avx2.so beside $(BUILD)/tests/ */
static int find_so(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return 0;
    *slash = 0;
    snprintf(so_path, sizeof so_path, "%s/../cpuid_avx2.so", exe);
    return access(so_path, R_OK) == 0;
}

/* the checks run in child processes (the CPUID faulting and the handler
 * stay there; cmocka's own SIGSEGV handler is not in the way): each returns
 * 0 or prints what failed and returns its line */
#define CHECK(c) do { if (!(c)) { fprintf(stderr, "test_cpuid_avx2 child: %s:%d: %s\n", __FILE__, __LINE__, #c); return __LINE__; } } while (0)

static int check_masked(void)
{
    regs4 l0 = cpuid(0, 0), l1 = cpuid(1, 0), l70 = cpuid(7, 0), l71 = cpuid(7, 1);
    /* vendor, max leaf, family / model / stepping, leaf 1's features: as is */
    CHECK(memcmp(&l0, &real0, sizeof l0) == 0);
    CHECK(l1.r[EAX] == real1.r[EAX] && l1.r[ECX] == real1.r[ECX] && l1.r[EDX] == real1.r[EDX]);
    CHECK((l1.r[ECX] >> 12) & 1); /* fma */
    CHECK((l70.r[EBX] >> 5) & 1); /* avx2 */
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        regs4 x = hidden[i].sub ? l71 : l70;
        if ((x.r[hidden[i].reg] >> hidden[i].bit) & 1) {
            fprintf(stderr, "test_cpuid_avx2 child: %s still set\n", hidden[i].name);
            return __LINE__;
        }
    }
    /* every other bit of leaf 7 as the CPU has it */
    for (int reg = 0; reg < 4; reg++) {
        unsigned m0 = 0, m1 = 0;
        for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++)
            if (hidden[i].reg == (unsigned)reg)
                *(hidden[i].sub ? &m1 : &m0) |= 1u << hidden[i].bit;
        CHECK((l70.r[reg] & ~m0) == (real7_0.r[reg] & ~m0));
        CHECK((l71.r[reg] & ~m1) == (real7_1.r[reg] & ~m1));
    }
    /* the AMX palette and AVX10 leaves read zero */
    const unsigned zero_leaves[] = {0x1d, 0x1e, 0x24};
    for (size_t i = 0; i < 3; i++) {
        if (zero_leaves[i] > real0.r[EAX])
            continue;
        regs4 z = cpuid(zero_leaves[i], 0);
        CHECK(z.r[0] == 0 && z.r[1] == 0 && z.r[2] == 0 && z.r[3] == 0);
    }
    return 0;
}

static int check_engine(void)
{
    /* the engine's own detection: first asked here, under the library */
    CHECK(sk_cpu_detected() == SK_ISA_AVX2);
    CHECK(sk_cpu_level() == SK_ISA_AVX2);
    const sk_cpu_features *f = sk_cpu_features_get();
    CHECK(f->avx2 && f->fma);
    CHECK(!(f->avx512f || f->avx512bw || f->avx512vl || f->avx512vnni || f->avx512bf16 || f->avxvnni ||
            f->avx512vbmi || f->amx_tile || f->amx_bf16 || f->amx_int8));
    return 0;
}

static unsigned long (*count_fn)(void);

static void *thread_check(void *arg)
{
    unsigned long before = count_fn();
    int r = check_masked();
    /* the thread inherited the faulting: its CPUIDs were answered */
    if (!r && count_fn() <= before)
        r = __LINE__;
    *(int *)arg = r;
    return NULL;
}

static volatile int *null_ptr(void)
{
    return (volatile int *)(uintptr_t)(getpid() & 0); /* NULL the compiler cannot see */
}

/* the library loaded by dlopen (its constructor runs then) */
static int child_dlopen(void)
{
    void *h = dlopen(so_path, RTLD_NOW);
    CHECK(h);
    int (*active_fn)(void) = (int (*)(void))dlsym(h, "cpuid_avx2_active");
    count_fn = (unsigned long (*)(void))dlsym(h, "cpuid_avx2_count");
    CHECK(active_fn && count_fn);
    CHECK(active_fn());
    unsigned long before = count_fn();
    int r = check_masked();
    if (r)
        return r;
    CHECK(count_fn() >= before + 4);
    pthread_t t;
    int tr = -1;
    CHECK(pthread_create(&t, NULL, thread_check, &tr) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    if (tr)
        return tr;
    if ((r = check_engine()) != 0)
        return r;
    /* a fault that is not a CPUID still kills (the default action) */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(*null_ptr());
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV);
    return 0;
}

/* under LD_PRELOAD, as a program that installs its own SIGSEGV handler
 * (node's WebAssembly trap handler): SIGSEGV set to SIG_DFL, then its
 * handler, which must get the faults that are not CPUIDs */
static sigjmp_buf child_jmp;
static volatile sig_atomic_t child_faults;
static void child_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
    child_faults++;
    siglongjmp(child_jmp, 1);
}

static int child_chain(void)
{
    unsigned long (*cnt)(void) = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "cpuid_avx2_count");
    CHECK(cnt);
    CHECK(cnt() > 0); /* main's CPUIDs above: answered from the start */
    int r = check_masked();
    if (r)
        return r;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
    sa.sa_sigaction = child_handler;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGSEGV, &sa, &old) == 0);
    CHECK(old.sa_handler == SIG_DFL); /* the program sees its own setting */
    unsigned long before = cnt();
    if ((r = check_masked()) != 0)
        return r;
    CHECK(cnt() > before);
    if ((r = check_engine()) != 0)
        return r;
    if (sigsetjmp(child_jmp, 1) == 0) {
        int v = *null_ptr();
        fprintf(stderr, "test_cpuid_avx2 child: read %d at NULL\n", v);
        return __LINE__;
    }
    CHECK(child_faults == 1);
    before = cnt();
    if ((r = check_masked()) != 0) /* still answered after the program's handler ran */
        return r;
    CHECK(cnt() > before);
    return 0;
}

static void run_child(const char *mode, int preload)
{
    if (!usable)
        skip();
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    assert_true(n > 0);
    exe[n] = 0;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (preload)
            setenv("LD_PRELOAD", so_path, 1);
        unsetenv("SKIPSERVE_ISA");
        execl(exe, exe, mode, (char *)NULL);
        _exit(99);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("child %s: %s %d", mode, WIFEXITED(st) ? "exit (line)" : "signal",
                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void test_dlopen(void **state)
{
    (void)state;
    run_child("--child-dlopen", 0);
}

static void test_preloaded_chain(void **state)
{
    (void)state;
    run_child("--child-chain", 1);
}

int main(int argc, char **argv)
{
    real0 = cpuid(0, 0);
    real1 = cpuid(1, 0);
    if (real0.r[EAX] >= 7) {
        real7_0 = cpuid(7, 0);
        real7_1 = cpuid(7, 1);
    }
    int have = find_so();
    if (argc > 1 && strcmp(argv[1], "--child-chain") == 0) {
        /* real*: under LD_PRELOAD these are the masked view; leaf 7's
         * hidden bits are checked clear, the rest against this view */
        return child_chain();
    }
    if (argc > 1 && strcmp(argv[1], "--child-dlopen") == 0)
        return child_dlopen();
    usable = real0.r[EAX] >= 7 && ((real1.r[ECX] >> 12) & 1) && ((real7_0.r[EBX] >> 5) & 1) &&
             has_cpuid_fault() && have;
    if (!usable)
        fprintf(stderr, "test_cpuid_avx2: no CPUID faulting, AVX2 + FMA or %s: skipped\n",
                have ? "" : "cpuid_avx2.so");
    /* a sanitizer runtime (`make SAN=address`) has its own SIGSEGV handler
     * (a fault ends in its report and exit(1), not SIGSEGV) and must come
     * first in the library list (LD_PRELOAD of another library aborts) */
    struct sigaction cur;
    if (usable && sigaction(SIGSEGV, NULL, &cur) == 0 &&
        ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL)) {
        fprintf(stderr, "test_cpuid_avx2: a SIGSEGV handler is installed at start (sanitizer?): skipped\n");
        usable = 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dlopen),
        cmocka_unit_test(test_preloaded_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
static void test_skip(void **state)
{
    (void)state;
    skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_skip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
