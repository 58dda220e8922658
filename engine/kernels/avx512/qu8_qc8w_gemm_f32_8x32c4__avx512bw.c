/* qu8_qc8w_gemm_f32_8x32c4__avx512bw.c — the dequantizing int8 GEMM
 * microkernel for AVX-512 without VNNI (AVX512BW), bit for bit the
 * vpdpbusd build (qu8_qc8w_gemm_f32_8x32c4.h), and the channels-last B
 * panel gather both builds read. */
#include <immintrin.h>

#include "kernels/fast_qconv_dequant.h"

/* acc + the four u8 x s8 products of each dword lane: even bytes and odd
 * bytes widened to 16 bits (x zero-extended, w sign-extended), two
 * vpmaddwd (each pair of products <= 2 * 255 * 128 fits int32) — the sum
 * vpdpbusd makes, in the same wrapping int32 arithmetic */
static inline __m512i dpbusd_bw(__m512i acc, __m512i x, __m512i w)
{
    const __m512i lo = _mm512_set1_epi16(0x00ff);
    __m512i xe = _mm512_and_si512(x, lo), xo = _mm512_srli_epi16(x, 8);
    __m512i we = _mm512_srai_epi16(_mm512_slli_epi16(w, 8), 8), wo = _mm512_srai_epi16(w, 8);
    return _mm512_add_epi32(acc, _mm512_add_epi32(_mm512_madd_epi16(xe, we),
                                                  _mm512_madd_epi16(xo, wo)));
}

#define QCD_NAME sk_qu8_qc8w_gemm_f32_8x32c4__avx512bw
#define QCD_DPBUSD(acc, x, w) dpbusd_bw(acc, x, w)
#include "kernels/avx512/qu8_qc8w_gemm_f32_8x32c4.h"

/* The B panel of 32 channels-last pixels: pixel j's channels 4g..4g+3 are
 * one dword at x + j*C + 4g, so each k group of the panel is two 16-lane
 * dword gathers (stride C) — the transpose the NCHW packer does with
 * unpacks, done by the load unit. */
void sk_qu8_pack_nhwc_32c4__avx512f(const uint8_t *x, size_t C, size_t np, uint8_t flip,
                                    uint8_t *dst)
{
    /* lane j reads pixel j: byte offset j * C (C <= SK_QCONVDQ_MAXC) */
    const __m512i idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)C));
    const __m512i f = _mm512_set1_epi8((char)flip);
    __mmask16 k0 = (__mmask16)(np >= 16 ? 0xffff : (1u << np) - 1);
    __mmask16 k1 = (__mmask16)(np >= 32 ? 0xffff : np <= 16 ? 0 : (1u << (np - 16)) - 1);
    for (size_t g = 0; g < C / 4; g++) {
        __m512i v0 = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k0, idx, x + 4 * g, 1);
        __m512i v1 = k1 ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), k1, idx,
                                                      x + 16 * C + 4 * g, 1)
                        : _mm512_setzero_si512();
        /* the pixels past np stay 0 (never stored), flipped or not */
        _mm512_storeu_si512(dst, _mm512_maskz_xor_epi32(k0, v0, f));
        _mm512_storeu_si512(dst + 64, _mm512_maskz_xor_epi32(k1, v1, f));
        dst += 128;
    }
}
