/* qu8_qc8w_gemm_f32_8x32c4__avx512vnni.c — the dequantizing int8 GEMM
 * microkernel with vpdpbusd (built with -mavx512vnni); the body and its
 * arithmetic: qu8_qc8w_gemm_f32_8x32c4.h. */
#include "kernels/fast_qconv_dequant.h"

#define QCD_NAME sk_qu8_qc8w_gemm_f32_8x32c4__avx512vnni
#define QCD_DPBUSD(acc, x, w) _mm512_dpbusd_epi32(acc, x, w)
#include "kernels/avx512/qu8_qc8w_gemm_f32_8x32c4.h"
