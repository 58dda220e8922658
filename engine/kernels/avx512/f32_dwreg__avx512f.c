/* f32_dwreg__avx512f.c — the register-row 3x3 depthwise loop (issue 24,
 * session 19; fast_dwconv.c dw_reg): one plane of a 3x3 depthwise conv
 * whose output rows are at most 16 wide (MobileNetV2's 14x14 and 7x7
 * planes, stride 1 or 2), straight from the NCHW input to the NCHW
 * output: each input row is one or two masked loads (columns past W read
 * 0), and its three tap vectors — lane ow holding input column
 * ow * sw - pl + j, 0 where that column is outside the row — are three
 * vpermt2ps with a zeroing mask; each output row is then 9 FMAs from the
 * bias in W's tap order, + residual, clamp, one masked store. Rows of taps
 * are kept in registers from one output row to the next (stride 1: two of
 * the three rows, stride 2: one), so an input row is loaded and permuted
 * once. No scratch, no phase planes, no transposes.
 *
 * Why: on the Intel Xeon of session 19 (Granite Rapids class) the flat
 * path spent ~1300 cycles a 28x28 -> 14x14 plane in per-row copies,
 * splits and masked tails for ~130 FMAs, and the channel lanes' 8x8
 * transposes cost twice their FMAs (perf); measured in bench/RESULTS.md
 * (session 19, branch mbi).
 *
 * The sums are the flat path's (b, then the nine taps in W's order by FMA,
 * a tap in the padding an FMA with 0), then + residual, then
 * min(hi, max(lo, .)): the same bits as every other depthwise path. */
#if defined(__x86_64__)
#define SK_FAST_AVX512 1
#include "../fast_simd.h"
#include "kernels/fast.h"

/* The three tap vectors of input row xr (NULL: a padding row, zeros). */
#define DWREG_TAPS(xr, A, B, C)                                                                 \
    do {                                                                                      \
        if (!(xr)) {                                                                          \
            A = B = C = _mm512_setzero_ps();                                                  \
        } else {                                                                              \
            const __m512 lo_ = _mm512_maskz_loadu_ps(ml, (xr));                               \
            const __m512 hi_ = mh ? _mm512_maskz_loadu_ps(mh, (xr) + 16) : _mm512_setzero_ps(); \
            A = _mm512_maskz_permutex2var_ps(m0, lo_, i0, hi_);                               \
            B = _mm512_maskz_permutex2var_ps(m1, lo_, i1, hi_);                               \
            C = _mm512_maskz_permutex2var_ps(m2, lo_, i2, hi_);                               \
        }                                                                                     \
    } while (0)

/* One output row from tap rows (a0 a1 a2), (b0 b1 b2), (c0 c1 c2): the bias,
 * then the nine taps in W's order, one FMA chain; + residual, clamp, store. */
#define DWREG_OUT(oh)                                                                          \
    do {                                                                                      \
        __m512 a_ = vb;                                                                       \
        a_ = _mm512_fmadd_ps(w0, a0, a_);                                                     \
        a_ = _mm512_fmadd_ps(w1, a1, a_);                                                     \
        a_ = _mm512_fmadd_ps(w2, a2, a_);                                                     \
        a_ = _mm512_fmadd_ps(w3, b0, a_);                                                     \
        a_ = _mm512_fmadd_ps(w4, b1, a_);                                                     \
        a_ = _mm512_fmadd_ps(w5, b2, a_);                                                     \
        a_ = _mm512_fmadd_ps(w6, c0, a_);                                                     \
        a_ = _mm512_fmadd_ps(w7, c1, a_);                                                     \
        a_ = _mm512_fmadd_ps(w8, c2, a_);                                                     \
        if (res)                                                                              \
            a_ = v_add(a_, _mm512_maskz_loadu_ps(om, res + (ptrdiff_t)(oh) * oW));           \
        _mm512_mask_storeu_ps(y + (ptrdiff_t)(oh) * oW, om, v_min(vhi, v_max(vlo, a_)));      \
    } while (0)

#define DWREG_ROWP(ih) ((ih) >= 0 && (ih) < H ? x + (ptrdiff_t)(ih) * W : NULL)

/* One plane: rows of taps kept in registers from one output row to the
 * next (named variables: arrays of them went through the stack). */
static inline void dwreg_plane(const sk_dw_reg_geo *g, __m512i i0, __m512i i1, __m512i i2,
                               __mmask16 m0, __mmask16 m1, __mmask16 m2, __mmask16 ml,
                               __mmask16 mh, __mmask16 om, const float *x, const float *w,
                               float b, float *y, const float *res, __m512 vlo, __m512 vhi)
{
    const int H = g->H, W = g->W, oH = g->oH, oW = g->oW;
    const __m512 w0 = _mm512_set1_ps(w[0]), w1 = _mm512_set1_ps(w[1]), w2 = _mm512_set1_ps(w[2]);
    const __m512 w3 = _mm512_set1_ps(w[3]), w4 = _mm512_set1_ps(w[4]), w5 = _mm512_set1_ps(w[5]);
    const __m512 w6 = _mm512_set1_ps(w[6]), w7 = _mm512_set1_ps(w[7]), w8 = _mm512_set1_ps(w[8]);
    const __m512 vb = _mm512_set1_ps(b);
    __m512 a0, a1, a2, b0, b1, b2, c0, c1, c2;
    int ih = -g->pt; /* input row of tap row 0 */
    DWREG_TAPS(DWREG_ROWP(ih), a0, a1, a2);
    DWREG_TAPS(DWREG_ROWP(ih + 1), b0, b1, b2);
    if (g->sh == 1) {
        for (int oh = 0; oh < oH; oh++, ih++) {
            DWREG_TAPS(DWREG_ROWP(ih + 2), c0, c1, c2);
            DWREG_OUT(oh);
            a0 = b0;
            a1 = b1;
            a2 = b2;
            b0 = c0;
            b1 = c1;
            b2 = c2;
        }
    } else { /* sh == 2: tap row 0 is the last output row's tap row 2 */
        for (int oh = 0; oh < oH; oh++, ih += 2) {
            if (oh > 0)
                DWREG_TAPS(DWREG_ROWP(ih + 1), b0, b1, b2);
            DWREG_TAPS(DWREG_ROWP(ih + 2), c0, c1, c2);
            DWREG_OUT(oh);
            a0 = c0;
            a1 = c1;
            a2 = c2;
        }
    }
}

/* Planes p0 .. p1 - 1 of an NCHW tensor of C channels (plane p: channel
 * p % C, x + p * H * W, y and res + p * oH * oW, weights w + 9 * c, bias
 * b[c] or 0): the lanes' tap columns and masks are made once per call. */
void sk_f32_dw_reg3__avx512f(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                             const float *w, const float *b, float *y, const float *res,
                             float lo, float hi)
{
    const __mmask16 om = v_mask((size_t)g->oW);
    /* lane ow, tap column j: input column ow * sw - pl + j (idx, mod 32),
     * kept where inside [0, W) and ow < oW */
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i base = _mm512_mullo_epi32(iota, _mm512_set1_epi32(g->sw));
    const __m512i vW = _mm512_set1_epi32(g->W), z = _mm512_setzero_si512();
    const __m512i i0 = _mm512_add_epi32(base, _mm512_set1_epi32(-g->pl));
    const __m512i i1 = _mm512_add_epi32(base, _mm512_set1_epi32(1 - g->pl));
    const __m512i i2 = _mm512_add_epi32(base, _mm512_set1_epi32(2 - g->pl));
    const __mmask16 m0 = (__mmask16)(_mm512_cmpge_epi32_mask(i0, z) &
                                     _mm512_cmplt_epi32_mask(i0, vW) & om);
    const __mmask16 m1 = (__mmask16)(_mm512_cmpge_epi32_mask(i1, z) &
                                     _mm512_cmplt_epi32_mask(i1, vW) & om);
    const __mmask16 m2 = (__mmask16)(_mm512_cmpge_epi32_mask(i2, z) &
                                     _mm512_cmplt_epi32_mask(i2, vW) & om);
    /* the row's loads: columns [0, min(W, 32)) */
    const int nl = g->W < 32 ? g->W : 32;
    const __mmask16 ml = nl >= 16 ? (__mmask16)0xffff : v_mask((size_t)nl);
    const __mmask16 mh = nl > 16 ? v_mask((size_t)(nl - 16)) : 0;
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    const size_t HW = (size_t)g->H * (size_t)g->W, oHW = (size_t)g->oH * (size_t)g->oW;
    size_t c = p0 % (size_t)g->C;
    for (size_t p = p0; p < p1; p++) {
        dwreg_plane(g, i0, i1, i2, m0, m1, m2, ml, mh, om, x + p * HW, w + 9 * c, b ? b[c] : 0.0f, y + p * oHW,
                    res ? res + p * oHW : NULL, vlo, vhi);
        if (++c == (size_t)g->C)
            c = 0;
    }
}

/* Stride 1, output rows of any width (session 19: MobileNetV2's standalone
 * 112x112 depthwise conv): per output row and block of 16 outputs, the
 * nine taps are masked loads straight from the three input rows (lanes
 * whose column lies outside the row, or past oW, read 0) and one FMA chain
 * from the bias; consecutive blocks are independent chains. The same sums
 * as the flat path (a padding tap an FMA with 0): the same bits. */
static inline __mmask16 dwreg_lanes(int q0, int c0, int W, int oW)
{
    /* lanes l with 0 <= c0 + l < W and q0 + l < oW */
    int lo = c0 < 0 ? -c0 : 0, hi = W - c0;
    if (hi > oW - q0)
        hi = oW - q0;
    if (hi > 16)
        hi = 16;
    if (hi <= lo)
        return 0;
    return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

void sk_f32_dw_reg3w__avx512f(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                              const float *w, const float *b, float *y, const float *res,
                              float lo, float hi)
{
    const int H = g->H, W = g->W, oH = g->oH, oW = g->oW, pt = g->pt, pl = g->pl;
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), z = _mm512_setzero_ps();
    const size_t HW = (size_t)H * (size_t)W, oHW = (size_t)oH * (size_t)oW;
    size_t c = p0 % (size_t)g->C;
    for (size_t p = p0; p < p1; p++) {
        const float *xp = x + p * HW, *wc = w + 9 * c;
        float *yp = y + p * oHW;
        const float *rp = res ? res + p * oHW : NULL;
        const __m512 w0 = _mm512_set1_ps(wc[0]), w1 = _mm512_set1_ps(wc[1]),
                     w2 = _mm512_set1_ps(wc[2]), w3 = _mm512_set1_ps(wc[3]),
                     w4 = _mm512_set1_ps(wc[4]), w5 = _mm512_set1_ps(wc[5]),
                     w6 = _mm512_set1_ps(wc[6]), w7 = _mm512_set1_ps(wc[7]),
                     w8 = _mm512_set1_ps(wc[8]);
        const __m512 vb = _mm512_set1_ps(b ? b[c] : 0.0f);
        for (int oh = 0; oh < oH; oh++) {
            const int ih = oh - pt;
            const float *r0 = ih >= 0 && ih < H ? xp + (ptrdiff_t)ih * W : NULL;
            const float *r1 = ih + 1 >= 0 && ih + 1 < H ? xp + (ptrdiff_t)(ih + 1) * W : NULL;
            const float *r2 = ih + 2 >= 0 && ih + 2 < H ? xp + (ptrdiff_t)(ih + 2) * W : NULL;
            for (int q0 = 0; q0 < oW; q0 += 16) {
                const int c0 = q0 - pl;
                const __mmask16 m0 = dwreg_lanes(q0, c0, W, oW),
                                m1 = dwreg_lanes(q0, c0 + 1, W, oW),
                                m2 = dwreg_lanes(q0, c0 + 2, W, oW);
#define DWW_LD(r, j) ((r) ? _mm512_maskz_loadu_ps(m##j, (r) + c0 + (j)) : z)
                __m512 a = vb;
                a = _mm512_fmadd_ps(w0, DWW_LD(r0, 0), a);
                a = _mm512_fmadd_ps(w1, DWW_LD(r0, 1), a);
                a = _mm512_fmadd_ps(w2, DWW_LD(r0, 2), a);
                a = _mm512_fmadd_ps(w3, DWW_LD(r1, 0), a);
                a = _mm512_fmadd_ps(w4, DWW_LD(r1, 1), a);
                a = _mm512_fmadd_ps(w5, DWW_LD(r1, 2), a);
                a = _mm512_fmadd_ps(w6, DWW_LD(r2, 0), a);
                a = _mm512_fmadd_ps(w7, DWW_LD(r2, 1), a);
                a = _mm512_fmadd_ps(w8, DWW_LD(r2, 2), a);
#undef DWW_LD
                const int n = oW - q0 < 16 ? oW - q0 : 16;
                const __mmask16 om = v_mask((size_t)n);
                if (rp)
                    a = v_add(a, _mm512_maskz_loadu_ps(om, rp + (ptrdiff_t)oh * oW + q0));
                _mm512_mask_storeu_ps(yp + (ptrdiff_t)oh * oW + q0, om, v_min(vhi, v_max(vlo, a)));
            }
        }
        if (++c == (size_t)g->C)
            c = 0;
    }
}

#undef DWREG_TAPS
#undef DWREG_OUT
#undef DWREG_ROWP

#endif
