/* bf16_emu.h — a scalar emulation of VDPBF16PS for the BF16 tests
 * (test_bf16.c, test_fast_conv.c), written from the Intel SDM's
 * pseudo-code, not from the kernels: per 32-bit lane, acc += a.hi * b.hi,
 * then acc += a.lo * b.lo, each a fused multiply-add rounded to nearest
 * even; denormal inputs (the accumulator too) read as zero, denormal
 * results flush to zero. The operands' rounding is sk_bf16_round
 * (kernels/bf16.h), checked on hand-worked values in test_bf16.c. */
#ifndef SK_TESTS_BF16_EMU_H
#define SK_TESTS_BF16_EMU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/bf16.h"

static inline uint32_t emu_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static inline float emu_fbits(uint32_t x)
{
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* DAZ / FTZ of the SDM: a denormal (or zero) reads / writes as a zero of
 * its sign */
static inline float emu_daz(float f)
{
    uint32_t x = emu_bits(f);
    return (x & 0x7f800000u) == 0 ? emu_fbits(x & 0x80000000u) : f;
}

/* one 32-bit lane of vdpbf16ps: acc with the pair words a and b */
static inline float emu_dp_lane(float acc, uint32_t a, uint32_t b)
{
    acc = emu_daz(acc);
    float ah = emu_daz(sk_bf16_float((uint16_t)(a >> 16)));
    float bh = emu_daz(sk_bf16_float((uint16_t)(b >> 16)));
    float al = emu_daz(sk_bf16_float((uint16_t)a)), bl = emu_daz(sk_bf16_float((uint16_t)b));
    acc = emu_daz(fmaf(ah, bh, acc));
    return emu_daz(fmaf(al, bl, acc));
}

/* The K blocks of the GEMM driver (gemm.c sk_gemm_run) for a K-pair
 * config of block kcfg: as equal as possible, rounded up to even. */
static inline int emu_kblock(int K, int kcfg)
{
    int nkb = (K + kcfg - 1) / kcfg, kcb = (K + nkb - 1) / nkb;
    return kcb + (kcb & 1);
}

#endif
