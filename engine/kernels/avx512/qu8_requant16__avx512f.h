/* qu8_requant16__avx512f.h — the int8 GEMM epilogue on 16 int32 lanes
 * (AVX-512F/BW), shared by the NCHW kernel (one row: bias and multiplier
 * broadcast) and the NHWC kernel (one pixel: per-channel vectors):
 * sk_qgemm_requant1's operations in its order (qgemm.h), the residual's
 * first k lanes loaded under mask, stored under mask k. */
#ifndef SK_QU8_REQUANT16__AVX512F_H
#define SK_QU8_REQUANT16__AVX512F_H

#include <immintrin.h>

#include "kernels/qgemm.h"

#define SK_QRND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static inline void qu8_requant16(__m512i acc, __m512i bias, __m512 mult, __mmask16 k, uint8_t *y,
                                 const uint8_t *res, const sk_qgemm_params *p)
{
    acc = _mm512_add_epi32(acc, bias);
    __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
    t = _mm512_add_ps(_mm512_roundscale_ps(t, SK_QRND), _mm512_set1_ps(p->y1_zp));
    t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(p->lo1)), _mm512_set1_ps(p->hi1));
    if (res) {
        __m128i rb = _mm_maskz_loadu_epi8(k, res);
        __m512 r = _mm512_cvtepi32_ps(p->res_s8 ? _mm512_cvtepi8_epi32(rb)
                                                : _mm512_cvtepu8_epi32(rb));
        __m512 a = _mm512_mul_ps(_mm512_sub_ps(t, _mm512_set1_ps(p->y1_zp)),
                                 _mm512_set1_ps(p->y1_scale));
        __m512 b = _mm512_mul_ps(_mm512_sub_ps(r, _mm512_set1_ps(p->r_zp)),
                                 _mm512_set1_ps(p->r_scale));
        __m512 v = _mm512_div_ps(_mm512_add_ps(a, b), _mm512_set1_ps(p->y_scale));
        t = _mm512_add_ps(_mm512_roundscale_ps(v, SK_QRND), _mm512_set1_ps(p->y_zp));
        t = _mm512_min_ps(_mm512_max_ps(t, _mm512_set1_ps(p->lo)), _mm512_set1_ps(p->hi));
    }
    /* integral and inside the type's range: truncating narrow is exact */
    _mm_mask_storeu_epi8(y, k, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(t)));
}

#endif
