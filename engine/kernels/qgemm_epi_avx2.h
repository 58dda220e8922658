/* qgemm_epi_avx2.h — the int8 GEMM's requantizing epilogue on 8 columns of
 * one row in a ymm register, shared by the AVX-VNNI and AVX2 microkernels
 * (each includes it under its own -m flags). The float operations and their
 * order are those of sk_qgemm_requant1 (qgemm.h), so the bits match the
 * scalar reference. The NHWC igemm kernels (4x16 / 6x16) also share the
 * 4-byte broadcast (qepi_bcast4) and a whole 16-channel tile's epilogue
 * (qepi_tile16). */
#ifndef SK_KERNELS_QGEMM_EPI_AVX2_H
#define SK_KERNELS_QGEMM_EPI_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "qgemm.h"

#define QEPI_RND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* n (1..8) residual bytes at r, widened to int32 and converted to float */
static inline __m256 qepi_load_res8(const uint8_t *r, size_t n, int s8)
{
    __m128i b;
    if (n >= 8) {
        b = _mm_loadl_epi64((const __m128i *)r);
    } else {
        uint8_t tmp[8] = {0};
        memcpy(tmp, r, n);
        b = _mm_loadl_epi64((const __m128i *)tmp);
    }
    __m256i w = s8 ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
    return _mm256_cvtepi32_ps(w);
}

/* acc (bias not yet added) -> the clamped output values, as int32; bias and
 * mult per lane (the NHWC kernels: output channels are the lanes) */
static inline __m256i qepi_requant8v(__m256i acc, __m256i bias, __m256 mult, const uint8_t *res,
                                     size_t n, const sk_qgemm_params *p)
{
    acc = _mm256_add_epi32(acc, bias);
    __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult);
    t = _mm256_add_ps(_mm256_round_ps(t, QEPI_RND), _mm256_set1_ps(p->y1_zp));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(p->lo1)), _mm256_set1_ps(p->hi1));
    if (res) {
        __m256 r = qepi_load_res8(res, n, p->res_s8);
        __m256 a = _mm256_mul_ps(_mm256_sub_ps(t, _mm256_set1_ps(p->y1_zp)),
                                 _mm256_set1_ps(p->y1_scale));
        __m256 b = _mm256_mul_ps(_mm256_sub_ps(r, _mm256_set1_ps(p->r_zp)),
                                 _mm256_set1_ps(p->r_scale));
        __m256 v = _mm256_div_ps(_mm256_add_ps(a, b), _mm256_set1_ps(p->y_scale));
        t = _mm256_add_ps(_mm256_round_ps(v, QEPI_RND), _mm256_set1_ps(p->y_zp));
        t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(p->lo)), _mm256_set1_ps(p->hi));
    }
    return _mm256_cvttps_epi32(t); /* integral and in range: exact */
}

/* the same with one row's bias and multiplier (the NCHW kernels) */
static inline __m256i qepi_requant8(__m256i acc, int32_t bias, float mult, const uint8_t *res,
                                    size_t n, const sk_qgemm_params *p)
{
    return qepi_requant8v(acc, _mm256_set1_epi32(bias), _mm256_set1_ps(mult), res, n, p);
}

/* the first n (1..8) values of v (in the output type's range) as bytes */
static inline void qepi_store8(uint8_t *y, __m256i v, size_t n, int s8)
{
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    __m128i b = s8 ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
    if (n >= 8) {
        _mm_storel_epi64((__m128i *)y, b);
    } else {
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, b);
        memcpy(y, tmp, n);
    }
}

/* one row of 8 columns: requantize and store the first n */
static inline void qepi_row8(__m256i acc, size_t m, size_t n, uint8_t *y, const uint8_t *res,
                             const sk_qgemm_params *p)
{
    __m256i v = qepi_requant8(acc, p->bias[m], p->mult[m], res, n, p);
    qepi_store8(y, v, n, p->out_s8);
}

/* a pixel's 4 bytes of one channel group broadcast to every int32 lane (the
 * NHWC kernels' activation operand) */
static inline __m256i qepi_bcast4(const uint8_t *a)
{
    int32_t v;
    memcpy(&v, a, 4);
    return _mm256_set1_epi32(v);
}

/* an NHWC tile's epilogue: rows 0..mr-1 of c, each 16 output channels in two
 * ymm (c[r][0]: channels n0..n0+7, c[r][1]: n0+8..n0+15), of which the first
 * nc (1..16) are requantized and stored at y + r * ldy (residual at
 * res + r * ldr when res). The bias and multiplier are copied through
 * zeroed buffers so a tail tile reads nothing past the layer's nc channels.
 * Always inlined: c stays in registers in the caller's unrolled loop. */
static inline __attribute__((always_inline)) void
qepi_tile16(const __m256i (*c)[2], size_t mr, size_t nc, uint8_t *y, size_t ldy,
            const uint8_t *res, size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    int32_t bb[16] = {0};
    float mm[16] = {0};
    memcpy(bb, p->bias + n0, (nc < 16 ? nc : 16) * sizeof *bb);
    memcpy(mm, p->mult + n0, (nc < 16 ? nc : 16) * sizeof *mm);
    __m256i bias0 = _mm256_loadu_si256((const __m256i *)bb);
    __m256i bias1 = _mm256_loadu_si256((const __m256i *)(bb + 8));
    __m256 mult0 = _mm256_loadu_ps(mm), mult1 = _mm256_loadu_ps(mm + 8);
    for (size_t r = 0; r < mr; r++) {
        uint8_t *yr = y + r * ldy;
        const uint8_t *rr = res ? res + r * ldr : NULL;
        size_t n = nc < 8 ? nc : 8;
        qepi_store8(yr, qepi_requant8v(c[r][0], bias0, mult0, rr, n, p), n, p->out_s8);
        if (nc > 8)
            qepi_store8(yr + 8, qepi_requant8v(c[r][1], bias1, mult1, rr ? rr + 8 : NULL, nc - 8, p),
                        nc - 8, p->out_s8);
    }
}

#endif
