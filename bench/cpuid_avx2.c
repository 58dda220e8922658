/* cpuid_avx2.c — LD_PRELOAD library that makes an AVX-512 x86-64 CPU present
 * itself as an AVX2 + FMA one to every CPUID the process runs after this
 * library's constructor (issue 24: ORT and skipserve timed "as on an AVX2
 * CPU" on an AVX-512 host, since MLAS picks its kernels from CPUID).
 *
 *   make BUILD=build build/cpuid_avx2.so
 *   LD_PRELOAD=$PWD/build/cpuid_avx2.so CPUID_AVX2_STATS=1 PROGRAM ...
 *
 * How: Linux's CPUID faulting (`cpuid_fault` in /proc/cpuinfo;
 * arch_prctl(ARCH_SET_CPUID, 0)) makes the CPUID instruction raise SIGSEGV
 * (si_code SI_KERNEL) in the calling thread and in every thread it creates
 * later (execve resets it: a child program gets it back from LD_PRELOAD).
 * The SIGSEGV handler installed here checks the faulting instruction is CPUID
 * (0f a2), runs the real CPUID with faulting switched off for that one
 * instruction (two arch_prctl calls: leaves with per-core answers — APIC ids,
 * leaf 0xb / 0x1f — stay true), clears the bits below and steps RIP past it.
 * Any other SIGSEGV goes to the handler that was installed before (normally
 * the default: the process dies as it would have).
 *
 * Hidden: leaf 7.0 EBX AVX512F/DQ/IFMA/PF/ER/CD/BW/VL, ECX AVX512_VBMI/VBMI2/
 * VNNI/BITALG/VPOPCNTDQ, EDX AVX512_4VNNIW/4FMAPS/VP2INTERSECT/FP16 and
 * AMX-BF16/TILE/INT8; leaf 7.1 EAX AVX-VNNI, AVX512_BF16, AMX-FP16, AVX-IFMA,
 * EDX AVX-VNNI-INT8/NE-CONVERT/VNNI-INT16, AMX-COMPLEX, AVX10; leaves 0x1d /
 * 0x1e (AMX tile palettes) and 0x24 (AVX10) read all zero. Kept: AVX, AVX2,
 * FMA, F16C, BMI1/2, the vendor, family / model and the cache leaves (an
 * AVX2-only CPU's own caches and ports are not modelled). Leaf 0xd (XSAVE
 * components and sizes) and XGETBV's XCR0 stay true: XSAVE still saves the
 * ZMM / tile state, and buffers sized from leaf 0xd must stay large enough;
 * software tests the CPUID feature bit before XCR0's state bits.
 *
 * Node / V8: node installs its own SIGSEGV handler (the WebAssembly trap
 * handler) after this constructor. With only a handler installed here, node
 * v20 died at its first CPUID after that (simdutf's dispatch, from
 * node::inspector) — its handler did not pass the fault back here; with
 * `node --disable-wasm-trap-handler` it ran. So that no node flag is needed
 * (ORT's process runs as it does in compare-ort's native rows), this library
 * also interposes sigaction() and signal() for SIGSEGV: the handler here
 * stays installed in the kernel, the program's SIGSEGV setting is kept on
 * the side (what a sigaction() query returns), and every SIGSEGV that is not
 * a CPUID fault is passed to it (SIG_DFL: the default restored and the fault
 * re-run, or a sent signal re-raised). Calls that bypass the libc symbol (a
 * raw rt_sigaction syscall) would still replace it.
 * CPUID_AVX2_STATS=1 prints at exit how many CPUIDs were answered here —
 * the check that the handler really answers in a program (node alone: 15;
 * node running ORT on ResNet-18, bench/ort_bench.js: 59).
 *
 * Not covered: glibc's own dispatch (memcpy / strlen ... ifuncs, its
 * cpu_features) runs its CPUID in ld.so before any constructor, so glibc's
 * string functions keep their EVEX / AVX-512 forms unless
 * GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,... masks them too
 * (bench/compare-ort.sh --cpu avx2 sets both). A CPUID run by a constructor
 * that precedes this one (another preloaded library's) sees the real CPU.
 *
 * Environment: CPUID_AVX2_STATS=1 — print "cpuid_avx2: pid P: N CPUID
 * emulated" on stderr at exit; CPUID_AVX2_OFF=1 — do nothing (A/B).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_GET_CPUID
#define ARCH_GET_CPUID 0x1011
#endif
#ifndef ARCH_SET_CPUID
#define ARCH_SET_CPUID 0x1012
#endif

static atomic_ulong n_emulated;
static int active;
/* the program's own SIGSEGV setting (what it believes is installed) */
static struct sigaction app_segv;
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static int set_cpuid_enabled(int on)
{
    return (int)syscall(SYS_arch_prctl, ARCH_SET_CPUID, (unsigned long)on);
}

#define BIT(n) (1u << (n))

/* the AVX2 + FMA view of one leaf; r = {eax, ebx, ecx, edx} */
static void mask_leaf(unsigned leaf, unsigned sub, unsigned r[4])
{
    if (leaf == 7 && sub == 0) {
        r[1] &= ~(BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31));
        r[2] &= ~(BIT(1) | BIT(6) | BIT(11) | BIT(12) | BIT(14));
        r[3] &= ~(BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25));
    } else if (leaf == 7 && sub == 1) {
        r[0] &= ~(BIT(4) | BIT(5) | BIT(21) | BIT(23));
        r[3] &= ~(BIT(4) | BIT(5) | BIT(8) | BIT(10) | BIT(19));
    } else if (leaf == 0x1d || leaf == 0x1e || leaf == 0x24) {
        r[0] = r[1] = r[2] = r[3] = 0;
    }
}

static void real_cpuid(unsigned leaf, unsigned sub, unsigned r[4])
{
    __asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    greg_t *g = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)g[REG_RIP];
    if (si->si_code == SI_KERNEL && ip && ip[0] == 0x0f && ip[1] == 0xa2) {
        int saved = errno;
        unsigned leaf = (unsigned)g[REG_RAX], sub = (unsigned)g[REG_RCX], r[4];
        set_cpuid_enabled(1);
        real_cpuid(leaf, sub, r);
        set_cpuid_enabled(0);
        errno = saved;
        mask_leaf(leaf, sub, r);
        /* CPUID writes the low halves and clears the upper ones */
        g[REG_RAX] = r[0];
        g[REG_RBX] = r[1];
        g[REG_RCX] = r[2];
        g[REG_RDX] = r[3];
        g[REG_RIP] += 2;
        atomic_fetch_add_explicit(&n_emulated, 1, memory_order_relaxed);
        return;
    }
    /* not ours: the program's handler */
    struct sigaction app = app_segv;
    if (app.sa_flags & SA_RESETHAND)
        app_segv.sa_handler = SIG_DFL, app_segv.sa_flags &= ~SA_SIGINFO;
    if (app.sa_flags & SA_SIGINFO) {
        app.sa_sigaction(sig, si, ucv);
    } else if (app.sa_handler != SIG_DFL && app.sa_handler != SIG_IGN) {
        app.sa_handler(sig);
    } else if (app.sa_handler == SIG_DFL || si->si_code > 0) {
        /* the default action (also for an ignored fault, as the kernel
         * does): a fault re-runs its instruction on return and kills; a sent
         * signal is raised again, pending until this handler returns */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        real_sigaction(SIGSEGV, &dfl, NULL);
        if (si->si_code <= 0)
            raise(SIGSEGV);
    }
}

/* SIGSEGV settings go to app_segv while the handler here is active */
int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!real_sigaction)
        real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
    if (sig != SIGSEGV || !active)
        return real_sigaction(sig, act, old);
    if (old)
        *old = app_segv;
    if (act)
        app_segv = *act;
    return 0;
}

sighandler_t signal(int sig, sighandler_t h)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* for tests/unit/test_cpuid_avx2.c: CPUIDs answered so far (dlsym) */
unsigned long cpuid_avx2_count(void) { return atomic_load(&n_emulated); }
int cpuid_avx2_active(void) { return active; }

static void report(void)
{
    if (active)
        fprintf(stderr, "cpuid_avx2: pid %ld: %lu CPUID emulated\n", (long)getpid(),
                (unsigned long)atomic_load(&n_emulated));
}

__attribute__((constructor(101))) static void cpuid_avx2_init(void)
{
    const char *off = getenv("CPUID_AVX2_OFF");
    if (off && *off && *off != '0')
        return;
    if (!real_sigaction)
        real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (real_sigaction(SIGSEGV, &sa, &app_segv) != 0) {
        perror("cpuid_avx2: sigaction");
        return;
    }
    if (set_cpuid_enabled(0) != 0) {
        /* no CPUID faulting (CPU, kernel or hypervisor): say so, change nothing */
        fprintf(stderr, "cpuid_avx2: arch_prctl(ARCH_SET_CPUID, 0): %s — CPUID not masked\n", strerror(errno));
        real_sigaction(SIGSEGV, &app_segv, NULL);
        return;
    }
    active = 1;
    const char *st = getenv("CPUID_AVX2_STATS");
    if (st && *st && *st != '0')
        atexit(report);
}
