/* bf16.h — the BF16 path's layout, its scalar rounding and the kernels.
 *
 * A BF16 GEMM (sk_gemm_cfg.kpair = 1) computes C = A * B with A and B
 * rounded to bfloat16 and every product summed in float32 by vdpbf16ps,
 * which multiplies pairs: lane j of the accumulator gains
 * a[2j+1]*b[2j+1], then a[2j]*b[2j] (each step a fused multiply-add,
 * rounded to nearest even; denormal inputs read as zero, denormal results
 * flushed to zero: Intel SDM, VDPBF16PS). The pair is two consecutive K
 * rows, so the panels of gemm.h hold rows (k, k+1), k even, as one 32-bit
 * word per column (low half row k, high half row k+1) in the slot of row k
 * of the float panel; row k+1's slot is unused. That keeps every offset the
 * FP32 driver computes (gemm.c) valid, so the same driver, blocking and
 * threading run the BF16 kernel; the driver only starts K blocks at even
 * rows. The cost is memory: packed weights take the FP32 size, half of it
 * unused (the cache lines read are all used for B; half-used for A, whose
 * 8-row pair slot is 32 of a line's 64 bytes).
 *
 * The weights are rounded at load (sk_bf16_pack_a); the activations as the
 * convolution gathers its column block: the float rows are converted to
 * pairs in place (sk_kconfig.bf16_pairs). A K not even pairs its last row
 * with zero. Rounding: to nearest even, denormals to zero (as
 * vcvtneps2bf16 does; sk_bf16_round below is its scalar twin). */
#ifndef SK_KERNELS_BF16_H
#define SK_KERNELS_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/gemm.h"

/* float -> bfloat16 bits as vcvtneps2bf16: NaN -> quiet NaN, a denormal
 * -> zero of its sign, else round to nearest even. */
static inline uint16_t sk_bf16_round(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    if ((x & 0x7f800000u) == 0)
        return (uint16_t)((x >> 16) & 0x8000);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static inline float sk_bf16_float(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* The 32-bit pair word of (lo: row k, hi: row k+1). */
static inline uint32_t sk_bf16_pair(float lo, float hi)
{
    return (uint32_t)sk_bf16_round(lo) | (uint32_t)sk_bf16_round(hi) << 16;
}

/* A (groups of M x K, row stride lda) into mr-row K-pair panels, the
 * layout and sizes of sk_gemm_pack_a (the packed_a's cfg is the BF16 one).
 * Returns 0 or SK_ENOMEM. */
int sk_bf16_pack_a(const sk_gemm_cfg *cfg, const float *A, size_t lda, int M, int K, int groups,
                   sk_gemm_packed_a *out);

/* Scalar sk_bf16_pairs_fn (config.h): the layout above in plain C, for
 * tests and as the model of the vector one. */
void sk_bf16_pairs_scalar(float *dst, int kc, int nr, int npanels, size_t pstride);

/* AVX512-BF16 kernels (kernels/avx512/, files named __avx512bf16) */
void sk_bf16_gemm_8x32__avx512bf16(size_t kc, const float *a, const float *b, float *c,
                                   size_t ldc, int flags, const sk_ukernel_params *p);
void sk_bf16_pairs__avx512bf16(float *dst, int kc, int nr, int npanels, size_t pstride);
/* the int8 / bf16 ceiling loops live in peak.h */

#endif
