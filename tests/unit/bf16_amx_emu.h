/* bf16_amx_emu.h — a scalar emulation of AMX-BF16's TDPBF16PS for the
 * tests (test_bf16_amx.c), not derived from the kernel: per instruction
 * and C element, two fp32 chains from +0 over the chunk's 16 pairs in
 * order — the pairs' low halves' products into one, the high halves' into
 * the other, each a fused multiply-add rounded to nearest even with
 * denormal inputs read as zero and denormal results flushed — then
 * C += (low chain + high chain), each addition RNE, DAZ / FTZ. This is the
 * current SDM's pseudo-code for TDPBF16PS (temp1[2n+0], temp1[2n+1], then
 * their sum added to the destination); the older one (one chain, a pair's
 * two products in turn, as VDPBF16PS) differs. Checked on this Granite
 * Rapids-class Xeon (session 19): a probe of 51200 elements per setting
 * (1, 2 and 16 live pairs; normal, mixed and denormal-heavy operands and
 * accumulators) matched it in every bit; the one-chain form, a pair sum
 * rounded once, and the exact sum of all products all differed. */
#ifndef SK_TESTS_BF16_AMX_EMU_H
#define SK_TESTS_BF16_AMX_EMU_H

#include <math.h>
#include <stdint.h>

#include "bf16_emu.h"

/* one TDPBF16PS element: acc with the 16 pair words a[k] (row of A) and
 * b[k * bs] (column of B) */
static inline float emu_amx_elem(float acc, const uint32_t *a, const uint32_t *b, size_t bs)
{
    float lo = 0.0f, hi = 0.0f;
    for (int k = 0; k < 16; k++) {
        uint32_t x = a[k], y = b[(size_t)k * bs];
        lo = emu_daz(fmaf(emu_daz(sk_bf16_float((uint16_t)x)),
                          emu_daz(sk_bf16_float((uint16_t)y)), lo));
        hi = emu_daz(fmaf(emu_daz(sk_bf16_float((uint16_t)(x >> 16))),
                          emu_daz(sk_bf16_float((uint16_t)(y >> 16))), hi));
    }
    return emu_daz(emu_daz(acc) + emu_daz(lo + hi));
}

/* C[i][j] of A (M x K floats, row-major) times B (K x N): the K rows in
 * chunks of 32 (16 pairs; the last zero-padded), a TDPBF16PS element per
 * chunk from C = +0, in chunk order — what the AMX kernel computes for
 * every K blocking on chunk boundaries (gemm.c, cfg->kchunk) */
static inline float emu_amx_dot(const float *A, size_t lda, const float *B, size_t ldb, int K,
                                int i, int j)
{
    float c = 0.0f;
    for (int k0 = 0; k0 < K; k0 += 32) {
        uint32_t a[16], b[16];
        for (int p = 0; p < 16; p++) {
            int k = k0 + 2 * p;
            float a0 = k < K ? A[(size_t)i * lda + k] : 0.0f;
            float a1 = k + 1 < K ? A[(size_t)i * lda + k + 1] : 0.0f;
            float b0 = k < K ? B[(size_t)k * ldb + j] : 0.0f;
            float b1 = k + 1 < K ? B[(size_t)(k + 1) * ldb + j] : 0.0f;
            a[p] = sk_bf16_pair(a0, a1);
            b[p] = sk_bf16_pair(b0, b1);
        }
        c = emu_amx_elem(c, a, b, 1);
    }
    return c;
}

#endif
