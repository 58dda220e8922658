/* cpu.h — CPU feature detection and the active ISA level.
 *
 * The level is detected once (cpuid + xgetbv on x86-64: the OS must save the
 * ymm / zmm state, not just the CPU support the instructions) and may be
 * lowered with SKIPSERVE_ISA=scalar|avx2|avx512, never raised above what the
 * CPU has. Kernels compiled with per-file ISA flags are only called when the
 * active level allows them; other architectures always get SK_ISA_SCALAR. */
#ifndef SK_CPU_H
#define SK_CPU_H

typedef enum {
    SK_ISA_SCALAR = 0, /* the reference kernels */
    SK_ISA_AVX2 = 1,   /* AVX2 + FMA3 */
    SK_ISA_AVX512 = 2, /* AVX-512 F + BW + VL */
    SK_ISA_COUNT
} sk_isa;

typedef struct sk_cpu_features {
    int avx2, fma, avx512f, avx512bw, avx512vl;
    int avx512vnni, avx512bf16; /* noted for int8 / bf16 kernels later */
    int avxvnni; /* AVX-VNNI: VEX-encoded 256-bit vpdpbusd without AVX-512 (int8) */
    int avx512vbmi; /* vpermb: the int8 path's 256-entry table lookups */
    /* session 19 (branch gk): the vendor (CPUID leaf 0 "GenuineIntel") and a
     * core's L2 in bytes (Intel: CPUID leaf 4's unified level-2 cache; AMD:
     * leaf 0x80000006; 0 when not reported) — config.c picks the GEMM
     * choices measured on Intel from these, so AMD keeps its own */
    int intel;
    long l2_bytes;

    /* AMX (session 19): CPUID 7.0 EDX amx-bf16 (22), amx-tile (24),
     * amx-int8 (25), set only where XCR0 has XTILECFG and XTILEDATA (bits
     * 17, 18). The process may use tiles only after sk_cpu_amx_request()
     * returned 1 (since mend19: asked there, lazily, not at detection); a
     * task loads the tile configuration before its first tile instruction
     * and releases it at its end (kernels/amx/amx_tile.h) */
    int amx_tile, amx_bf16, amx_int8;
} sk_cpu_features;

/* Asks the kernel once per process for the AMX tile-data state (Linux
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA)); 1 when granted, 0 when the
 * CPU / OS has no AMX or the request was refused (then no tile instruction
 * may run). Call only where AMX would be used. */
int sk_cpu_amx_request(void);

const sk_cpu_features *sk_cpu_features_get(void);
sk_isa sk_cpu_detected(void); /* best level the CPU and OS support */
/* Active level: detected, lowered by SKIPSERVE_ISA at first call. */
sk_isa sk_cpu_level(void);
/* Force a level (tests, benchmarks); clamped to the detected one. Returns
 * the level now active. Call before creating plans: kernels and packed
 * weights are chosen at load/plan time. */
sk_isa sk_cpu_set_level(sk_isa level);
const char *sk_isa_name(sk_isa level);
/* "scalar" | "avx2" | "avx512" -> level; -1 when unknown. */
int sk_isa_parse(const char *s);

#endif
