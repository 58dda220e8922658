/* fast_simd.h — the vector layer shared by the AVX2 and AVX-512 files
 * of the fast non-conv kernels (avx2/f32_*__avx2.c, avx512/f32_*__avx512f.c).
 *
 * Include it only from a file compiled with that ISA's flags, after
 * defining SK_FAST_AVX512 (zmm, 16 lanes) or SK_FAST_AVX2 (ymm, 8 lanes).
 * The loops in fast_velt.h / fast_vrow.h are written once against
 * these inline functions, so the AVX-512 kernels are the AVX2 kernels with
 * wider vectors and native tail masks: what the AVX2 tests exercise is the
 * same code, only this small mapping differs. tests/unit/test_fast_ops_uk.c
 * also compiles the AVX-512 mapping against a C emulation of its
 * intrinsics (SK_FAST_EMULATE, SK_UK renamed), so it is tested on CPUs
 * without AVX-512 too.
 *
 * Also here: exp, erf and tanh in vector form. Each is accurate to a few
 * float ulps (relative error < 3e-7 over the whole float range, checked
 * against libm in tests/unit/test_fast_ops.c), well inside the 1e-5 the
 * kernels promise; libm's scalar erff / tanhf / expf are 10-30x slower. */
#ifndef SK_FAST_SIMD_H
#define SK_FAST_SIMD_H

#ifndef SK_FAST_EMULATE /* tests/unit/avx512_emu.h supplies the intrinsics */
#include <immintrin.h>
#endif
#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* A loop over a tile's registers, unrolled in full, so that its
 * accumulators stay in registers (gcc 12 kept them in memory otherwise). */
#if defined(__clang__)
#define SK_UNROLL_TILE _Pragma("unroll")
#else
#define SK_UNROLL_TILE _Pragma("GCC unroll 16")
#endif

#if defined(SK_FAST_AVX512)

#define SK_VW 16
#ifndef SK_UK
#define SK_UK(name) sk_f32_##name##__avx512f
#endif
typedef __m512 vf;

static inline vf v_ld(const float *p) { return _mm512_loadu_ps(p); }
static inline void v_st(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline __mmask16 v_mask(size_t n) { return (__mmask16)((1u << n) - 1u); }
/* First n (<= SK_VW) lanes from p, the others `fill`; never reads past p+n. */
static inline vf v_ld_n(const float *p, size_t n, vf fill)
{
    return _mm512_mask_loadu_ps(fill, v_mask(n), p);
}
static inline void v_st_n(float *p, vf v, size_t n) { _mm512_mask_storeu_ps(p, v_mask(n), v); }
static inline vf v_set1(float x) { return _mm512_set1_ps(x); }
static inline vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf v_div(vf a, vf b) { return _mm512_div_ps(a, b); }
/* MAXPS / MINPS semantics: the second operand when either is NaN. */
static inline vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf v_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }  /* a*b+c */
static inline vf v_fnma(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); } /* c-a*b */
static inline vf v_fms(vf a, vf b, vf c) { return _mm512_fmsub_ps(a, b, c); }  /* a*b-c */
/* Bitwise ops through the integer unit: _mm512_and_ps needs AVX512DQ. */
static inline vf v_abs(vf x)
{
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff)));
}
/* |mag| with the sign of s */
static inline vf v_copysign(vf mag, vf s)
{
    __m512i m = _mm512_and_si512(_mm512_castps_si512(mag), _mm512_set1_epi32(0x7fffffff));
    __m512i sg = _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32((int)0x80000000u));
    return _mm512_castsi512_ps(_mm512_or_si512(m, sg));
}
/* a < b ? x : y, lane-wise */
static inline vf v_sel_lt(vf a, vf b, vf x, vf y)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
}
static inline vf v_round(vf x)
{
    return _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
/* 2^n for integral n in [-126, 127] */
static inline vf v_pow2i(vf n)
{
    __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
static inline float v_hsum(vf v) { return _mm512_reduce_add_ps(v); }
static inline float v_hmax(vf v) { return _mm512_reduce_max_ps(v); }
/* (x0..x31) -> even lanes, odd lanes */
static inline void v_deint2(vf lo, vf hi, vf *even, vf *odd)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *even = _mm512_permutex2var_ps(lo, ie, hi);
    *odd = _mm512_permutex2var_ps(lo, io, hi);
}
/* a, b -> (a0 b0 a1 b1 ...) in two vectors */
static inline void v_int2(vf a, vf b, vf *lo, vf *hi)
{
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    *lo = _mm512_permutex2var_ps(a, il, b);
    *hi = _mm512_permutex2var_ps(a, ih, b);
}

#elif defined(SK_FAST_AVX2)

#define SK_VW 8
#ifndef SK_UK
#define SK_UK(name) sk_f32_##name##__avx2
#endif
typedef __m256 vf;

static inline vf v_ld(const float *p) { return _mm256_loadu_ps(p); }
static inline void v_st(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline __m256i v_mask(size_t n)
{
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(ones + 8 - n));
}
/* VMASKLOADPS suppresses faults on masked lanes, so tails never read past
 * the end of a buffer. */
static inline vf v_ld_n(const float *p, size_t n, vf fill)
{
    __m256i m = v_mask(n);
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void v_st_n(float *p, vf v, size_t n) { _mm256_maskstore_ps(p, v_mask(n), v); }
static inline vf v_set1(float x) { return _mm256_set1_ps(x); }
static inline vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf v_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf v_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf v_fnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
static inline vf v_fms(vf a, vf b, vf c) { return _mm256_fmsub_ps(a, b, c); }
static inline vf v_abs(vf x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
static inline vf v_copysign(vf mag, vf s)
{
    const vf sign = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(sign, mag), _mm256_and_ps(sign, s));
}
static inline vf v_sel_lt(vf a, vf b, vf x, vf y)
{
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
static inline vf v_round(vf x)
{
    return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
static inline vf v_pow2i(vf n)
{
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
static inline float v_hsum(vf v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float v_hmax(vf v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
/* SHUFPS gathers even / odd lanes within each 128-bit half; VPERMPD then
 * puts the 64-bit pairs in order. */
static inline void v_deint2(vf lo, vf hi, vf *even, vf *odd)
{
    vf e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    vf o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xd8));
}
static inline void v_int2(vf a, vf b, vf *lo, vf *hi)
{
    vf l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);
    *lo = _mm256_permute2f128_ps(l, h, 0x20);
    *hi = _mm256_permute2f128_ps(l, h, 0x31);
}

#else
#error "define SK_FAST_AVX2 or SK_FAST_AVX512 before including fast_simd.h"
#endif

static inline vf v_zero(void) { return v_set1(0.0f); }

/* ---- vector math ---------------------------------------------------------- */

/* exp(x), Cephes expf: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so
 * n ln2 is exact), exp(r) by a degree-6 polynomial, times 2^n built in the
 * exponent field. Below -87.33 (where the result leaves the normal range)
 * it returns 0; callers never pass x > 88. */
static inline vf v_exp(vf x)
{
    const vf lo = v_set1(-87.33654f);
    vf xc = v_min(v_set1(88.0f), v_max(lo, x)); /* NaN stays NaN */
    vf n = v_round(v_mul(xc, v_set1(1.44269504088896341f)));
    vf r = v_fnma(n, v_set1(0.693359375f), xc);
    r = v_fnma(n, v_set1(-2.12194440e-4f), r);
    vf p = v_set1(1.9875691500e-4f);
    p = v_fma(p, r, v_set1(1.3981999507e-3f));
    p = v_fma(p, r, v_set1(8.3334519073e-3f));
    p = v_fma(p, r, v_set1(4.1665795894e-2f));
    p = v_fma(p, r, v_set1(1.6666665459e-1f));
    p = v_fma(p, r, v_set1(5.0000001201e-1f));
    p = v_fma(p, v_mul(r, r), v_add(r, v_set1(1.0f)));
    return v_sel_lt(x, lo, v_zero(), v_mul(p, v_pow2i(n)));
}

/* erf(x). |x| < 0.875: x P(x^2) (degree 5, relative error 9e-9). Above:
 * 1 - exp(-x^2) Q(t), t = 1 / (1 + x/2), where Q (degree 6, relative error
 * 5e-8) fits erfc(x) exp(x^2) on [0.875, 4]; x^2 is split into its rounded
 * value and the exact remainder (FMA) so exp(-x^2) keeps full precision.
 * |x| >= 4 gives +-1 (erf(4) rounds to 1 in float). Coefficients fitted
 * with a Lawson-weighted least squares (minimax in relative error). */
static inline vf v_erf(vf x)
{
    const vf one = v_set1(1.0f);
    vf a = v_min(v_set1(4.0f), v_abs(x)); /* NaN stays NaN */
    vf z = v_mul(a, a);
    vf ps = v_set1(-0.0006203291122801602f);
    ps = v_fma(ps, z, v_set1(0.005032189190387726f));
    ps = v_fma(ps, z, v_set1(-0.026791468262672424f));
    ps = v_fma(ps, z, v_set1(0.11282455176115036f));
    ps = v_fma(ps, z, v_set1(-0.3761255145072937f));
    ps = v_fma(ps, z, v_set1(1.1283791065216064f));
    ps = v_mul(ps, a);
    vf t = v_div(one, v_fma(a, v_set1(0.5f), one));
    vf q = v_set1(-0.04787641018629074f);
    q = v_fma(q, t, v_set1(-0.07338467985391617f));
    q = v_fma(q, t, v_set1(0.4225350022315979f));
    q = v_fma(q, t, v_set1(0.08979925513267517f));
    q = v_fma(q, t, v_set1(0.3347473740577698f));
    q = v_fma(q, t, v_set1(0.27291736006736755f));
    q = v_fma(q, t, v_set1(0.0006581451161764562f));
    vf zl = v_fms(a, a, z); /* a*a - z exactly */
    vf e = v_exp(v_sub(v_zero(), z));
    e = v_fnma(e, zl, e); /* exp(-z - zl) ~ exp(-z) (1 - zl) */
    vf pl = v_fnma(e, q, one);
    return v_copysign(v_sel_lt(a, v_set1(0.875f), ps, pl), x);
}

/* tanh(x). |x| < 0.625: x + x^3 P(x^2) (degree 4, relative error 4e-9);
 * above: 1 - 2 / (exp(2|x|) + 1), whose value >= 0.55 keeps the relative
 * error of exp; |x| is capped at 9 where tanh is 1 in float. */
static inline vf v_tanh(vf x)
{
    const vf one = v_set1(1.0f);
    vf a = v_min(v_set1(9.0f), v_abs(x));
    vf z = v_mul(a, a);
    vf ps = v_set1(-0.005704987328499556f);
    ps = v_fma(ps, z, v_set1(0.0206390880048275f));
    ps = v_fma(ps, z, v_set1(-0.05373971536755562f));
    ps = v_fma(ps, z, v_set1(0.13331441581249237f));
    ps = v_fma(ps, z, v_set1(-0.3333328068256378f));
    ps = v_fma(v_mul(ps, z), a, a);
    vf e = v_exp(v_add(a, a));
    vf pl = v_sub(one, v_div(v_set1(2.0f), v_add(e, one)));
    return v_copysign(v_sel_lt(a, v_set1(0.625f), ps, pl), x);
}

/* 1 / (1 + exp(-x)) through e = exp(-|x|) <= 1, so nothing overflows:
 * x >= 0: 1 / (1 + e); x < 0: e / (1 + e). */
static inline vf v_sigmoid(vf x)
{
    vf e = v_exp(v_sub(v_zero(), v_abs(x)));
    vf r = v_div(v_set1(1.0f), v_add(e, v_set1(1.0f)));
    return v_sel_lt(x, v_zero(), v_mul(e, r), r);
}

/* y[i] = F(x[i]), i < n, for a vector function F: the loop of every
 * element-wise vector kernel (fast_velt.h, fast_gelu_uk.h). */
/* Two independent vectors per iteration: the polynomial chains are
 * latency-bound, so two in flight nearly double throughput. */
#define SK_VUNARY_BODY(F)                                               \
    size_t i = 0;                                                       \
    for (; i + 2 * SK_VW <= n; i += 2 * SK_VW) {                        \
        vf x0 = v_ld(x + i), x1 = v_ld(x + i + SK_VW);                  \
        v_st(y + i, F(x0));                                             \
        v_st(y + i + SK_VW, F(x1));                                     \
    }                                                                   \
    for (; i + SK_VW <= n; i += SK_VW)                                  \
        v_st(y + i, F(v_ld(x + i)));                                    \
    if (i < n)                                                          \
        v_st_n(y + i, F(v_ld_n(x + i, n - i, v_zero())), n - i);

#endif
