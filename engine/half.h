/* half.h — IEEE binary16 (float16) and bfloat16 <-> float32 conversions.
 *
 * The engine holds float16 / bfloat16 values in float32 storage (every
 * kernel computes in float32; see engine/README.md "Half-precision models"):
 * loaders widen half weights and inputs exactly, and a Cast to a half type
 * rounds its float32 result to the nearest half value. These are the only
 * conversions, so they are exact where IEEE says so:
 *  - float32 -> float16 / bfloat16: round to nearest, ties to even;
 *    float16 subnormals are produced, values past the largest finite half
 *    (65504 for float16) round to +-inf, NaN stays NaN (quiet), -0 stays -0.
 *  - float64 -> half goes through float32 rounded *to odd*, which makes the
 *    second rounding correct (24 >= 11 + 2 bits), so there is no
 *    double-rounding error.
 *  - half -> float32 is exact. */
#ifndef SK_HALF_H
#define SK_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t sk_f32_bits(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static inline float sk_bits_f32(uint32_t x)
{
    float f;
    memcpy(&f, &x, 4);
    return f;
}

static inline uint16_t sk_f32_to_f16(float f)
{
    uint32_t x = sk_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
    if (a >= 0x47800000u) /* >= 65536 (or inf): past the rounding range */
        return (uint16_t)(sign | 0x7c00);
    if (a >= 0x38800000u) { /* normal half: rebias the exponent 127 -> 15 */
        uint32_t h = (a - 0x38000000u) >> 13, rem = a & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
            h++; /* may carry into the exponent: 65520.. becomes inf, as it must */
        return (uint16_t)(sign | h);
    }
    if (a < 0x33000000u) /* below 2^-25 (half the smallest subnormal): 0 */
        return sign;
    /* subnormal half: the value in units of 2^-24 */
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (q & 1)))
        q++; /* 0x400 is the smallest normal: still the right encoding */
    return (uint16_t)(sign | q);
}

static inline float sk_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) {
        float v = (float)m * 5.9604644775390625e-8f; /* m * 2^-24, exact */
        return sign ? -v : v;
    }
    if (e == 31)
        return sk_bits_f32(sign | 0x7f800000u | (m << 13));
    return sk_bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

static inline uint16_t sk_f32_to_bf16(float f)
{
    uint32_t x = sk_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1); /* ties to even; overflow reaches inf */
    return (uint16_t)(x >> 16);
}

static inline float sk_bf16_to_f32(uint16_t h) { return sk_bits_f32((uint32_t)h << 16); }

/* float32 nearest to d, rounded to odd (truncate, then set the last bit when
 * inexact): a following rounding to a format with <= 22 significand bits is
 * then the correct rounding of d itself. */
static inline float sk_f64_to_f32_odd(double d)
{
    float f = (float)d;
    if (f != f || (double)f == d || f - f != 0) /* NaN, exact, or inf */
        return f;
    uint32_t x = sk_f32_bits(f);
    double af = f < 0 ? -(double)f : (double)f, ad = d < 0 ? -d : d;
    if (af > ad) /* rounded away from zero: step back toward it */
        x--;
    return sk_bits_f32(x | 1);
}

/* The value a float16 / bfloat16 tensor holds for x (float32 storage). */
static inline float sk_round_f16(float x) { return sk_f16_to_f32(sk_f32_to_f16(x)); }
static inline float sk_round_bf16(float x) { return sk_bf16_to_f32(sk_f32_to_bf16(x)); }

#endif
