/* avx512_emu.h — plain C versions of the AVX-512 intrinsics the
 * SK_FAST_AVX512 mapping of engine/kernels/fast_simd.h uses, written
 * from the operation pseudo-code of the Intel Intrinsics Guide, so
 * test_fast_ops_uk.c can run the AVX-512 loops on a CPU without AVX-512.
 * Only for a translation unit that does not include <immintrin.h>
 * (define SK_FAST_EMULATE before fast_simd.h). */
#ifndef AVX512_EMU_H
#define AVX512_EMU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    float f[16];
} __m512;
typedef struct {
    int32_t i[16];
} __m512i;
typedef uint16_t __mmask16;

#define _MM_FROUND_TO_NEAREST_INT 0x00
#define _MM_FROUND_NO_EXC 0x08
#define _CMP_LT_OQ 0x11

#define EMU_MAP(r, expr)            \
    for (int i = 0; i < 16; i++) \
        r = (expr);

static inline __m512 _mm512_loadu_ps(const void *p)
{
    __m512 r;
    memcpy(r.f, p, sizeof r.f);
    return r;
}
static inline void _mm512_storeu_ps(void *p, __m512 a) { memcpy(p, a.f, sizeof a.f); }
/* dst[i] = k[i] ? mem[i] : src[i]; masked-off lanes are not read */
static inline __m512 _mm512_mask_loadu_ps(__m512 src, __mmask16 k, const void *p)
{
    const float *m = p;
    for (int i = 0; i < 16; i++)
        if (k >> i & 1)
            src.f[i] = m[i];
    return src;
}
static inline void _mm512_mask_storeu_ps(void *p, __mmask16 k, __m512 a)
{
    float *m = p;
    for (int i = 0; i < 16; i++)
        if (k >> i & 1)
            m[i] = a.f[i];
}
static inline __m512 _mm512_set1_ps(float x)
{
    __m512 r;
    EMU_MAP(r.f[i], x)
    return r;
}
static inline __m512i _mm512_set1_epi32(int x)
{
    __m512i r;
    EMU_MAP(r.i[i], x)
    return r;
}
static inline __m512i _mm512_setr_epi32(int e0, int e1, int e2, int e3, int e4, int e5, int e6,
                                        int e7, int e8, int e9, int e10, int e11, int e12,
                                        int e13, int e14, int e15)
{
    __m512i r = {{e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15}};
    return r;
}
#define EMU_BIN(name, expr)                          \
    static inline __m512 name(__m512 a, __m512 b)    \
    {                                                \
        __m512 r;                                    \
        EMU_MAP(r.f[i], expr)                        \
        return r;                                    \
    }
EMU_BIN(_mm512_add_ps, a.f[i] + b.f[i])
EMU_BIN(_mm512_sub_ps, a.f[i] - b.f[i])
EMU_BIN(_mm512_mul_ps, a.f[i] * b.f[i])
EMU_BIN(_mm512_div_ps, a.f[i] / b.f[i])
/* MAX(a, b) = a > b ? a : b, MIN(a, b) = a < b ? a : b: b when either is NaN */
EMU_BIN(_mm512_max_ps, a.f[i] > b.f[i] ? a.f[i] : b.f[i])
EMU_BIN(_mm512_min_ps, a.f[i] < b.f[i] ? a.f[i] : b.f[i])

static inline __m512 _mm512_fmadd_ps(__m512 a, __m512 b, __m512 c)
{
    EMU_MAP(c.f[i], fmaf(a.f[i], b.f[i], c.f[i]))
    return c;
}
static inline __m512 _mm512_fnmadd_ps(__m512 a, __m512 b, __m512 c) /* -(a*b) + c */
{
    EMU_MAP(c.f[i], fmaf(-a.f[i], b.f[i], c.f[i]))
    return c;
}
static inline __m512 _mm512_fmsub_ps(__m512 a, __m512 b, __m512 c) /* a*b - c */
{
    EMU_MAP(c.f[i], fmaf(a.f[i], b.f[i], -c.f[i]))
    return c;
}
static inline __m512 _mm512_castsi512_ps(__m512i a)
{
    __m512 r;
    memcpy(&r, &a, sizeof r);
    return r;
}
static inline __m512i _mm512_castps_si512(__m512 a)
{
    __m512i r;
    memcpy(&r, &a, sizeof r);
    return r;
}
static inline __m512i _mm512_and_si512(__m512i a, __m512i b)
{
    EMU_MAP(a.i[i], (int32_t)((uint32_t)a.i[i] & (uint32_t)b.i[i]))
    return a;
}
static inline __m512i _mm512_or_si512(__m512i a, __m512i b)
{
    EMU_MAP(a.i[i], (int32_t)((uint32_t)a.i[i] | (uint32_t)b.i[i]))
    return a;
}
static inline __m512i _mm512_add_epi32(__m512i a, __m512i b)
{
    EMU_MAP(a.i[i], (int32_t)((uint32_t)a.i[i] + (uint32_t)b.i[i]))
    return a;
}
static inline __m512i _mm512_slli_epi32(__m512i a, unsigned imm)
{
    EMU_MAP(a.i[i], imm > 31 ? 0 : (int32_t)((uint32_t)a.i[i] << imm))
    return a;
}
/* dst[i] = k[i] ? b[i] : a[i] */
static inline __m512 _mm512_mask_blend_ps(__mmask16 k, __m512 a, __m512 b)
{
    EMU_MAP(a.f[i], (k >> i & 1) ? b.f[i] : a.f[i])
    return a;
}
static inline __mmask16 _mm512_cmp_ps_mask(__m512 a, __m512 b, int imm)
{
    __mmask16 k = 0;
    if (imm != _CMP_LT_OQ)
        abort(); /* the mapping uses only this predicate */
    for (int i = 0; i < 16; i++)
        if (a.f[i] < b.f[i]) /* ordered: false for NaN */
            k |= (__mmask16)(1u << i);
    return k;
}
/* with imm = nearest | no-exception: round to the nearest integer, ties to
 * even (nearbyintf under the default rounding mode) */
static inline __m512 _mm512_roundscale_ps(__m512 a, int imm)
{
    if (imm != (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC))
        abort();
    EMU_MAP(a.f[i], nearbyintf(a.f[i]))
    return a;
}
/* MXCSR rounding (nearest even); NaN and out-of-range give the integer
 * indefinite 0x80000000 */
static inline __m512i _mm512_cvtps_epi32(__m512 a)
{
    __m512i r;
    for (int i = 0; i < 16; i++) {
        float v = nearbyintf(a.f[i]);
        r.i[i] = v == v && v >= -2147483648.0f && v < 2147483648.0f ? (int32_t)v : INT32_MIN;
    }
    return r;
}
static inline __m512 _mm512_permutex2var_ps(__m512 a, __m512i idx, __m512 b)
{
    __m512 r;
    EMU_MAP(r.f[i], (idx.i[i] & 16) ? b.f[idx.i[i] & 15] : a.f[idx.i[i] & 15])
    return r;
}
/* the guide leaves the order of the reduction open: a tree of halves */
static inline float _mm512_reduce_add_ps(__m512 a)
{
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            a.f[i] += a.f[i + w];
    return a.f[0];
}
static inline float _mm512_reduce_max_ps(__m512 a)
{
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            a.f[i] = a.f[i] > a.f[i + w] ? a.f[i] : a.f[i + w];
    return a.f[0];
}

#endif
