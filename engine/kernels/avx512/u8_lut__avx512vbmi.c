/* u8_lut__avx512vbmi.c — y[i] = lut[x[i] ^ flip] with AVX-512 VBMI's
 * vpermi2b: two 128-entry lookups of 64 bytes each (the low 7 bits of the
 * index), picked by its top bit — 64 table lookups in ~4 instructions
 * instead of 64 loads and stores. Used for the _QLut tables of QDQ graphs
 * (the ReLU / requantization merged into a conv's epilogue, the Concat
 * inputs' DQ -> Q), only where the CPU has VBMI (Zen 4, Ice Lake and
 * later; qgemm.c / fast_quant.c run it where sk_qgemm_cfg.lut_mode is SK_LUT_VBMI). Compiled for
 * VBMI by a target attribute: the Makefile's AVX-512 rule names F/BW/VL. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/qgemm.h"

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) void
sk_u8_lut__avx512vbmi(const uint8_t *lut, uint8_t flip, const uint8_t *x, uint8_t *y,
                      size_t n)
{
    __m512i t0 = _mm512_loadu_si512(lut), t1 = _mm512_loadu_si512(lut + 64),
            t2 = _mm512_loadu_si512(lut + 128), t3 = _mm512_loadu_si512(lut + 192);
    __m512i fl = _mm512_set1_epi8((char)flip);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i v = _mm512_xor_si512(_mm512_loadu_si512(x + i), fl);
        __m512i lo = _mm512_permutex2var_epi8(t0, v, t1); /* lut[v & 127] */
        __m512i hi = _mm512_permutex2var_epi8(t2, v, t3); /* lut[128 + (v & 127)] */
        _mm512_storeu_si512(y + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
    }
    if (i < n) {
        __mmask64 m = _cvtu64_mask64(~0ull >> (64 - (n - i)));
        __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, x + i), fl);
        __m512i lo = _mm512_permutex2var_epi8(t0, v, t1);
        __m512i hi = _mm512_permutex2var_epi8(t2, v, t3);
        _mm512_mask_storeu_epi8(y + i, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
    }
}
