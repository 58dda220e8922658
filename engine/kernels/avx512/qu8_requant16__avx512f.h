/* qu8_requant16__avx512f.h — the int8 GEMM epilogue on 16 int32 lanes
 * (AVX-512F/BW), shared by the NCHW kernel (one row: bias and multiplier
 * broadcast) and the NHWC kernel (one pixel: per-channel vectors):
 * sk_qgemm_requant1's arithmetic (qgemm.h), the residual's first k lanes
 * loaded under mask, stored under mask k.
 *
 * Fewer operations than sk_qgemm_requant1 is written with, the same bits
 * (session 14): the zero point y1_zp is added in integer after the clamp,
 * and the clamp comes before the rounding (clamp(round(x) + zp, lo, hi) =
 * round(clamp(x, lo - zp, hi - zp)) + zp for integer bounds: rounding is
 * monotone); with a residual, t - y1_zp is then the clamped value itself;
 * with a residual, p->res_mode (sk_qgemm_res_fast, qres_fast.c) picks the
 * cheapest form that changes no output: the FMA form (session 16), a
 * multiply by 1 / y_scale, or the division. */
#ifndef SK_QU8_REQUANT16__AVX512F_H
#define SK_QU8_REQUANT16__AVX512F_H

#include <immintrin.h>

#include "kernels/qgemm.h"

#define SK_QRND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* acc already holds the bias: the output values as int32 lanes */
static inline __m512i qu8_requant16_i32(__m512i acc, __m512 mult, __mmask16 k,
                                        const uint8_t *res, const sk_qgemm_params *p)
{
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(p->lo1 - p->y1_zp)),
                      _mm512_set1_ps(p->hi1 - p->y1_zp));
    if (!res)
        return _mm512_add_epi32(_mm512_cvt_roundps_epi32(t, SK_QRND),
                                _mm512_set1_epi32((int32_t)p->y1_zp));
    t = _mm512_roundscale_ps(t, SK_QRND); /* t - y1_zp of sk_qgemm_requant1 */
    __m128i rb = _mm_maskz_loadu_epi8(k, res);
    __m512 r = _mm512_cvtepi32_ps(p->res_s8 ? _mm512_cvtepi8_epi32(rb)
                                            : _mm512_cvtepu8_epi32(rb));
    __m512 q;
    if (p->res_mode == SK_QRES_FMA) { /* session 16, where exact (qres_fast.c) */
        q = _mm512_fmadd_ps(t, _mm512_set1_ps(p->res_a),
                            _mm512_fmadd_ps(r, _mm512_set1_ps(p->res_b),
                                            _mm512_set1_ps(p->res_c)));
    } else {
        __m512 a = _mm512_mul_ps(t, _mm512_set1_ps(p->y1_scale));
        __m512 b = _mm512_mul_ps(_mm512_sub_ps(r, _mm512_set1_ps(p->r_zp)),
                                 _mm512_set1_ps(p->r_scale));
        __m512 v = _mm512_add_ps(a, b);
        q = p->res_mode == SK_QRES_MUL ? _mm512_mul_ps(v, _mm512_set1_ps(p->y_rcp))
                                      : _mm512_div_ps(v, _mm512_set1_ps(p->y_scale));
    }
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_set1_ps(p->lo - p->y_zp)),
                      _mm512_set1_ps(p->hi - p->y_zp));
    return _mm512_add_epi32(_mm512_cvt_roundps_epi32(q, SK_QRND),
                            _mm512_set1_epi32((int32_t)p->y_zp));
}

static inline void qu8_requant16(__m512i acc, __m512i bias, __m512 mult, __mmask16 k, uint8_t *y,
                                 const uint8_t *res, const sk_qgemm_params *p)
{
    __m512i v = qu8_requant16_i32(_mm512_add_epi32(acc, bias), mult, k, res, p);
    /* inside the type's range: truncating narrow is exact */
    _mm_mask_storeu_epi8(y, k, _mm512_cvtepi32_epi8(v));
}

/* ---- the NHWC kernels' epilogue (session 14) ---------------------------------
 * The same arithmetic as qu8_requant16_i32 with every layer constant
 * broadcast once per microkernel call: the stores go through uint8_t
 * pointers, which may alias *p, so a per-vector epilogue reading p made gcc
 * reload and re-broadcast each constant after every store (perf annotate:
 * 6-8 scalar loads, subtractions and broadcasts per 16 outputs). */
typedef struct qepi16 {
    __m512 lo1, hi1;           /* the conv's clamp, y1_zp subtracted */
    __m512 s1, sr, rzp, ysc;   /* residual (SK_QRES_DIV / MUL): y1_scale, r_scale, r_zp,
                                * y_scale or y_rcp */
    __m512 ra, rb, rc;         /* residual (SK_QRES_FMA): res_a, res_b, res_c */
    __m512 lo, hi;             /* the final clamp, y_zp subtracted */
    __m512i zp1, zp;           /* y1_zp, y_zp as int32 */
    int res_s8, res_mode;
} qepi16;

static inline void qepi16_init(qepi16 *e, const sk_qgemm_params *p)
{
    e->lo1 = _mm512_set1_ps(p->lo1 - p->y1_zp);
    e->hi1 = _mm512_set1_ps(p->hi1 - p->y1_zp);
    e->s1 = _mm512_set1_ps(p->y1_scale);
    e->sr = _mm512_set1_ps(p->r_scale);
    e->rzp = _mm512_set1_ps(p->r_zp);
    e->ysc = _mm512_set1_ps(p->res_mode == SK_QRES_MUL ? p->y_rcp : p->y_scale);
    e->ra = _mm512_set1_ps(p->res_a);
    e->rb = _mm512_set1_ps(p->res_b);
    e->rc = _mm512_set1_ps(p->res_c);
    e->res_mode = p->res_mode;
    e->lo = _mm512_set1_ps(p->lo - p->y_zp);
    e->hi = _mm512_set1_ps(p->hi - p->y_zp);
    e->zp1 = _mm512_set1_epi32((int32_t)p->y1_zp);
    e->zp = _mm512_set1_epi32((int32_t)p->y_zp);
    e->res_s8 = p->res_s8;
}

/* acc (bias included) -> the output values, no residual */
static inline __m512i qepi16_plain(__m512i acc, __m512 mult, const qepi16 *e)
{
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
    t = _mm512_min_ps(_mm512_max_ps(t, e->lo1), e->hi1);
    return _mm512_add_epi32(_mm512_cvt_roundps_epi32(t, SK_QRND), e->zp1);
}

/* with the residual's 16 values r (int32) */
static inline __m512i qepi16_res(__m512i acc, __m512 mult, __m512i r, const qepi16 *e)
{
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
    t = _mm512_roundscale_ps(_mm512_min_ps(_mm512_max_ps(t, e->lo1), e->hi1), SK_QRND);
    __m512 q;
    if (e->res_mode == SK_QRES_FMA) { /* session 16: 2 operations for 5 */
        q = _mm512_fmadd_ps(t, e->ra, _mm512_fmadd_ps(_mm512_cvtepi32_ps(r), e->rb, e->rc));
    } else {
        __m512 b = _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(r), e->rzp), e->sr);
        __m512 v = _mm512_add_ps(_mm512_mul_ps(t, e->s1), b);
        q = e->res_mode == SK_QRES_MUL ? _mm512_mul_ps(v, e->ysc) : _mm512_div_ps(v, e->ysc);
    }
    q = _mm512_min_ps(_mm512_max_ps(q, e->lo), e->hi);
    return _mm512_add_epi32(_mm512_cvt_roundps_epi32(q, SK_QRND), e->zp);
}

/* 16 residual bytes -> int32 (first k lanes; the rest 0) */
static inline __m512i qepi16_rload(const uint8_t *res, __mmask16 k, const qepi16 *e)
{
    __m128i rb = _mm_maskz_loadu_epi8(k, res);
    return e->res_s8 ? _mm512_cvtepi8_epi32(rb) : _mm512_cvtepu8_epi32(rb);
}

#endif
