/* qgemm_emu.h — the VNNI int8 GEMM microkernels compiled a second time
 * with vpdpbusd replaced by an exact emulation (qgemm_emu__avx512bw.c,
 * qgemm_emu__avx2.c), so tests/unit/test_qgemm.c checks those kernels'
 * packing, tiling, edge masks and epilogue bit for bit on a CPU without
 * AVX512-VNNI / AVX-VNNI, where the real kernels cannot run. x86-64 only.
 *
 * The emulation of one vpdpbusd (acc += four u8 x s8 products per int32
 * lane, wrapping, no saturation): the u8 bytes zero-extended and the s8
 * bytes sign-extended into 16-bit lanes, even and odd bytes apart; vpmaddwd
 * of each pair sums two products exactly in int32 (|u8 x s8| <= 32640);
 * both added to acc. vpmaddubsw is not used: it saturates the pair sums. */
#ifndef QGEMM_EMU_H
#define QGEMM_EMU_H

#include "kernels/qgemm.h"

#if defined(__x86_64__)
/* needs AVX-512 F/BW/VL */
void sk_qu8_qc8w_gemm_8x32c4__avx512vnni_emu(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                             const uint8_t *b, void *y, size_t ldy,
                                             const void *res, size_t ldr, size_t m0,
                                             const sk_qgemm_params *p);
/* needs AVX2 */
void sk_qu8_qc8w_gemm_6x16c4__avxvnni_emu(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                          const uint8_t *b, void *y, size_t ldy,
                                          const void *res, size_t ldr, size_t m0,
                                          const sk_qgemm_params *p);
#endif

#endif
