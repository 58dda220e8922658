/* qgemm_emu__avx2.c — the AVX-VNNI int8 microkernel with the 256-bit
 * vpdpbusd emulated in AVX2 (qgemm_emu.h); built with -mavx2 -mfma without
 * -mavxvnni (Makefile), for test_qgemm. */
#include <immintrin.h>

#include "qgemm_emu.h"

static inline __m256i emu_dpbusd256(__m256i acc, __m256i u, __m256i s)
{
    const __m256i lo8 = _mm256_set1_epi16(0x00ff);
    __m256i u_even = _mm256_and_si256(u, lo8), u_odd = _mm256_srli_epi16(u, 8);
    __m256i s_even = _mm256_srai_epi16(_mm256_slli_epi16(s, 8), 8),
            s_odd = _mm256_srai_epi16(s, 8);
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(u_even, s_even));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(u_odd, s_odd));
}

#define _mm256_dpbusd_avx_epi32 emu_dpbusd256
#define sk_qu8_qc8w_gemm_6x16c4__avxvnni sk_qu8_qc8w_gemm_6x16c4__avxvnni_emu
#include "engine/kernels/avx2/qu8_qc8w_gemm_6x16c4__avxvnni.c"
