/* u8_lut__avx2.c — y[i] = lut[x[i] ^ flip] with AVX2's vpshufb, for the
 * _QLut tables (a QDQ graph's ReLU / requantization merged into a conv's
 * epilogue, Concat inputs' DQ -> Q) where the CPU has no AVX-512 VBMI
 * (session 15, qft). vpshufb looks up 16 entries; the 256-entry table is 16
 * of them, one per high nibble k: index i_k = saturating ((x - 16k) mod 256)
 * + 0x70 keeps x's low nibble with bit 7 clear exactly when x's high nibble
 * is k (x - 16k mod 256 < 16), and sets bit 7 — vpshufb's "write 0" —
 * otherwise (the sum reaches 0x80 or saturates at 0xFF), so the OR of the
 * 16 lookups is lut[x]. 4 instructions per 16-entry table and 32 bytes;
 * the scalar loop is a load, a table load and a store per byte. */
#include <immintrin.h>
#include <string.h>

#include "kernels/qgemm.h"

static inline __m256i lut32(const __m256i *t, __m256i v)
{
    const __m256i c70 = _mm256_set1_epi8(0x70), c16 = _mm256_set1_epi8(16);
    __m256i r[2]; /* two OR chains */
    /* unrolled, so the chains stay in registers and no constant is rebuilt
     * per table (-O2 kept the loop: spills and broadcasts, 1.3 cycles/byte) */
#pragma GCC unroll 16
    for (int k = 0; k < 16; k++) {
        /* v - 16k (wrapping) is < 16 only for x's group k */
        __m256i l = _mm256_shuffle_epi8(t[k], _mm256_adds_epu8(v, c70));
        r[k & 1] = k < 2 ? l : _mm256_or_si256(r[k & 1], l);
        v = _mm256_sub_epi8(v, c16);
    }
    return _mm256_or_si256(r[0], r[1]);
}

void sk_u8_lut__avx2(const uint8_t *lut, uint8_t flip, const uint8_t *x, uint8_t *y, size_t n)
{
    __m256i t[16];
    for (int k = 0; k < 16; k++) /* each 16-entry slice in both 128-bit lanes */
        t[k] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(lut + 16 * k)));
    const __m256i fl = _mm256_set1_epi8((char)flip);
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(x + i)), fl);
        _mm256_storeu_si256((__m256i *)(y + i), lut32(t, v));
    }
    if (i < n) { /* the tail through a local: no read or write past n */
        uint8_t b[32] = {0};
        memcpy(b, x + i, n - i);
        __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b), fl);
        _mm256_storeu_si256((__m256i *)b, lut32(t, v));
        memcpy(y + i, b, n - i);
    }
}
