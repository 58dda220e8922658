/* peak_lowp.h — the int8 and bf16 ceilings `skipserve-bench --peak` prints
 * beside the FP32 one (peak.h): one multiply-accumulate instruction in 12
 * (bf16: 16) independent accumulator chains, no loads, so the loop runs at the
 * instruction's throughput. The FP32 loop's lesson holds: every chain
 * starts from its own value (equal chains can be merged by the compiler),
 * and the result of every chain is returned, so a test (test_peak) can
 * check that twelve (sixteen) distinct chains ran.
 *
 * Each call returns the operations done (a multiply-add counts 2) and
 * writes the sum of lane 0 of the 12 chains:
 *   int8_avx512vnni  vpdpbusd zmm: 16 lanes x 4 u8*s8 products
 *   int8_avxvnni     vpdpbusd ymm (VEX, AVX-VNNI): 8 lanes x 4
 *   int8_avx2        vpmaddubsw + vpmaddwd (x 1) + vpaddd ymm: 8 lanes x 4
 *                    (three instructions for the work of one vpdpbusd)
 *   bf16_avx512bf16  vdpbf16ps zmm: 16 lanes x 2 bf16 products
 * The int8 loops multiply u8 bytes SK_PEAK_U8 by s8 bytes SK_PEAK_S8, so
 * lane 0 of chain j ends at j + iters * 4 * U8 * S8 (wrapping at 2^32);
 * the bf16 loop adds two SK_PEAK_BF16 squares per step to chains j < 16
 * starting at 1 + j/8 (float sums: checked with a tolerance). Called only where the
 * CPU has the instruction (sk_cpu_features_get). */
#ifndef SK_KERNELS_PEAK_LOWP_H
#define SK_KERNELS_PEAK_LOWP_H

#include <stdint.h>

#define SK_PEAK_U8 3
#define SK_PEAK_S8 (-2)
#define SK_PEAK_BF16 0.0078125f /* 2^-7: its square and sums are exact for long */

double sk_peak_int8_avx512vnni(long iters, int64_t *sum);
double sk_peak_int8_avxvnni(long iters, int64_t *sum);
double sk_peak_int8_avx2(long iters, int64_t *sum);
/* session 18: int8w_avx2, the exact AVX2 form (qu8_qc8w_igemm_4x16c4__avx2):
 * 2 x vpmaddwd + 2 x vpaddd ymm on widened int16 pairs: 8 lanes x 4 */
double sk_peak_int8w_avx2(long iters, int64_t *sum);
double sk_peak_bf16_avx512bf16(long iters, double *sum);
/* session 19: bf16_amx, TDPBF16PS on six accumulator tiles (16 x 16 fp32,
 * each instruction 16 x 16 x 32 bf16 products), chains from 1 + j/8, lane
 * [0][0] of each summed; where the CPU has AMX-BF16 (sk_cpu_features_get
 * amx_bf16: the OS granted the tile state) */
double sk_peak_bf16_amx(long iters, double *sum);
/* session 19 (ami): int8_amx, TDPBUSD on six accumulator tiles (16 x 16
 * int32, each instruction 16 x 16 x 64 u8 x s8 products of 1 x 1), chains
 * from j, lane [0][0] of each summed; where the CPU has AMX-INT8 */
double sk_peak_int8_amx(long iters, int64_t *sum);

#endif
