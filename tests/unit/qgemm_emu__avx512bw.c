/* qgemm_emu__avx512bw.c — the AVX512-VNNI int8 microkernel with vpdpbusd
 * emulated in AVX-512BW (qgemm_emu.h); built with the AVX-512 flags
 * without -mavx512vnni (Makefile), for test_qgemm. */
#include <immintrin.h>

#include "qgemm_emu.h"

static inline __m512i emu_dpbusd512(__m512i acc, __m512i u, __m512i s)
{
    const __m512i lo8 = _mm512_set1_epi16(0x00ff);
    __m512i u_even = _mm512_and_si512(u, lo8), u_odd = _mm512_srli_epi16(u, 8);
    __m512i s_even = _mm512_srai_epi16(_mm512_slli_epi16(s, 8), 8),
            s_odd = _mm512_srai_epi16(s, 8);
    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(u_even, s_even));
    return _mm512_add_epi32(acc, _mm512_madd_epi16(u_odd, s_odd));
}

#define _mm512_dpbusd_epi32 emu_dpbusd512
#define sk_qu8_qc8w_gemm_8x32c4__avx512vnni sk_qu8_qc8w_gemm_8x32c4__avx512vnni_emu
#include "engine/kernels/avx512/qu8_qc8w_gemm_8x32c4__avx512vnni.c"
