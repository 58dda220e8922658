/* cpu.c — feature detection (see cpu.h). */
#include "cpu.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define SK_HAVE_CPUID 1
#endif
#if defined(SK_HAVE_CPUID) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#define SK_ARCH_REQ_XCOMP_PERM 0x1023 /* asm/prctl.h */
#define SK_XFEATURE_XTILEDATA 18
#endif

/* Written once under detect_once: plans on several threads may ask first. */
static sk_cpu_features feats;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static atomic_int detected = -1; /* sk_isa once known */
static atomic_int active = -1;

#ifdef SK_HAVE_CPUID
static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

#ifdef SK_HAVE_CPUID
/* A core's L2 in bytes: Intel's deterministic cache parameters (leaf 4,
 * the unified (type 3) level-2 entry), else — AMD, or an Intel part or VM
 * whose leaf 4 reports no unified L2 (some hypervisors zero it) — leaf
 * 0x80000006 (ECX[31:16] KB; Intel implements it too). */
static long detect_l2(int intel)
{
    unsigned a, b, c, d;
    if (intel && (unsigned)__get_cpuid_max(0, NULL) >= 4) {
        for (unsigned i = 0; i < 16; i++) {
            __cpuid_count(4, i, a, b, c, d);
            unsigned type = a & 0x1f, level = (a >> 5) & 0x7;
            if (!type)
                break;
            if (level == 2 && type == 3)
                return (long)(((b >> 22) & 0x3ff) + 1) * (((b >> 12) & 0x3ff) + 1) *
                       ((b & 0xfff) + 1) * ((long)c + 1);
        }
    }
    if ((unsigned)__get_cpuid_max(0x80000000, NULL) >= 0x80000006u) {
        __cpuid(0x80000006, a, b, c, d);
        return (long)(c >> 16) * 1024;
    }
    return 0;
}
#endif

static sk_isa detect(void)
{
    sk_cpu_features f;
    memset(&f, 0, sizeof f);
    sk_isa level = SK_ISA_SCALAR;
#ifdef SK_HAVE_CPUID
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d))
        f.intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* GenuineIntel */
    f.l2_bytes = detect_l2(f.intel);
    if (!__get_cpuid(1, &a, &b, &c, &d))
        goto done;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    f.fma = (c >> 12) & 1;
    if (!osxsave || !avx)
        goto done;
    unsigned long long xcr0 = xgetbv0();
    int os_ymm = (xcr0 & 0x6) == 0x6;     /* SSE + AVX state */
    int os_zmm = (xcr0 & 0xe6) == 0xe6;   /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (__get_cpuid_max(0, NULL) < 7)
        goto done;
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = os_ymm && ((b >> 5) & 1);
    f.fma = os_ymm && f.fma;
    f.avx512f = os_zmm && ((b >> 16) & 1);
    f.avx512bw = os_zmm && ((b >> 30) & 1);
    f.avx512vl = os_zmm && ((b >> 31) & 1);
    f.avx512vnni = os_zmm && ((c >> 11) & 1);
    f.avx512vbmi = os_zmm && ((c >> 1) & 1);
    unsigned a1 = 0, b1, c1, d1;
    if (a >= 1)
        __cpuid_count(7, 1, a1, b1, c1, d1);
    f.avx512bf16 = os_zmm && ((a1 >> 5) & 1);
    f.avxvnni = os_ymm && ((a1 >> 4) & 1);
    /* AMX: the CPU's bits and the OS's XTILECFG | XTILEDATA in XCR0; the
     * per-process permission for the tile data is asked only by a caller
     * about to use it (sk_cpu_amx_request) */
    int amx = ((d >> 24) & 1) && (xcr0 & 0x60000) == 0x60000;
    f.amx_tile = amx;
    f.amx_bf16 = amx && ((d >> 22) & 1);
    f.amx_int8 = amx && ((d >> 25) & 1);
    if (f.avx2 && f.fma)
        level = SK_ISA_AVX2;
    if (level == SK_ISA_AVX2 && f.avx512f && f.avx512bw && f.avx512vl)
        level = SK_ISA_AVX512;
done:
#endif
    feats = f;
    return level;
}

/* AMX tile-data permission (Linux 5.16+: without it the first tile load
 * faults), asked once per process and only by a caller about to run AMX
 * (config.c when the BF16 config would choose AMX, skipserve-bench --peak):
 * the grant raises the process's minimum signal stack (a later smaller
 * sigaltstack fails), so FP32-only processes should not take it. */
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static int amx_granted;
static void amx_request_run(void)
{
#if defined(SK_ARCH_REQ_XCOMP_PERM)
    if (sk_cpu_features_get()->amx_tile &&
        syscall(SYS_arch_prctl, SK_ARCH_REQ_XCOMP_PERM, SK_XFEATURE_XTILEDATA) == 0)
        amx_granted = 1;
#endif
}

int sk_cpu_amx_request(void)
{
    pthread_once(&amx_once, amx_request_run);
    return amx_granted;
}

static void detect_run(void) { atomic_store(&detected, (int)detect()); }

sk_isa sk_cpu_detected(void)
{
    pthread_once(&detect_once, detect_run);
    return (sk_isa)atomic_load(&detected);
}

const sk_cpu_features *sk_cpu_features_get(void)
{
    sk_cpu_detected();
    return &feats;
}

sk_isa sk_cpu_level(void)
{
    int a = atomic_load(&active);
    if (a < 0) {
        a = (int)sk_cpu_detected();
        const char *e = getenv("SKIPSERVE_ISA");
        int want = e && *e ? sk_isa_parse(e) : -1;
        if (want >= 0 && want < a)
            a = want;
        atomic_store(&active, a);
    }
    return (sk_isa)a;
}

sk_isa sk_cpu_set_level(sk_isa level)
{
    int d = (int)sk_cpu_detected();
    int a = (int)level < 0 ? 0 : (int)level;
    if (a > d)
        a = d;
    atomic_store(&active, a);
    return (sk_isa)a;
}

const char *sk_isa_name(sk_isa level)
{
    switch (level) {
    case SK_ISA_SCALAR:
        return "scalar";
    case SK_ISA_AVX2:
        return "avx2";
    case SK_ISA_AVX512:
        return "avx512";
    default:
        return "unknown";
    }
}

int sk_isa_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "scalar") || !strcmp(s, "ref") || !strcmp(s, "none"))
        return SK_ISA_SCALAR;
    if (!strcmp(s, "avx2"))
        return SK_ISA_AVX2;
    if (!strcmp(s, "avx512"))
        return SK_ISA_AVX512;
    return -1;
}
