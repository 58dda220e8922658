/* f32_dwreg__avx2.c — the register-row 3x3 depthwise loops at the AVX2
 * level (issue 24, session 21 mv2a; fast_dwconv.c dw_reg; the AVX-512 pair
 * is avx512/f32_dwreg__avx512f.c): planes of a 3x3 undilated depthwise
 * conv straight from the NCHW input to the NCHW output, no copies, no
 * scratch, no transposes.
 *
 * sk_f32_dw_reg3__avx2 (strides 1 / 2, taken for output rows <= 16 wide:
 * MobileNetV2's 14x14 and 7x7 planes) runs a plane as column strips of 8
 * outputs: per strip the lane masks of its loads are made once, then the
 * strip goes down the plane with the tap vectors of an input row kept in
 * registers from one output row to the next (stride 1: two of the three
 * rows, stride 2: one). An input row's taps are three masked loads at
 * stride 1 (lane l of tap j: column q0 + l - pl + j; columns outside the
 * row read 0) and at stride 2 four masked loads (columns c0 .. c0 + 17)
 * split into even / odd columns (tap 0: the evens of c0, tap 1: the odds,
 * tap 2: the evens of c0 + 2). Each output vector is one FMA chain from
 * the bias over the nine taps in W's order, + residual, clamp, one
 * (masked) store.
 *
 * sk_f32_dw_reg3w__avx2 (stride 1, rows of any width: the standalone
 * 112x112 depthwise conv) goes row by row, 8 outputs a block, the nine
 * taps loaded straight from the three input rows — plain loads inside the
 * row, masked loads in the first and the last blocks.
 *
 * Why: at the AVX2 level the 14x14 / 7x7 planes went through the channel
 * lanes (two 8x8 transposes a block of 8 planes) and the 112x112 plane
 * through the flat path (a zero-padded copy of every plane); ORT's MLAS
 * (NCHWc, no transposes) ran those steps 1.3-2x faster on the Intel Xeon
 * of session 21 under the AVX2 mask (bench/RESULTS.md, session 21 mv2a).
 *
 * The sums are the flat path's (b, then the nine taps in W's order by FMA,
 * a tap in the padding an FMA with 0), then + residual, then
 * min(hi, max(lo, .)): the same bits as every other depthwise path. */
#if defined(__x86_64__)
#define SK_FAST_AVX2 1
#include "../fast_simd.h"
#include "kernels/fast.h"

/* lanes l with 0 <= c + l < W: all ones, else 0 */
static inline __m256i dwr_in(int c, int W)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i v = _mm256_add_epi32(_mm256_set1_epi32(c), iota);
    return _mm256_and_si256(_mm256_cmpgt_epi32(v, _mm256_set1_epi32(-1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(W), v));
}

static inline __m256 dwr_ld(const float *p, __m256i m) { return _mm256_maskload_ps(p, m); }

/* the even columns of lo:hi (16 consecutive floats) */
static inline __m256 dwr_even(__m256 lo, __m256 hi)
{
    const __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8));
}

/* The three tap vectors of input row xr (NULL: a padding row, zeros) for
 * the strip whose lane 0 reads column c0 at tap 0. */
#define DWR_TAPS(xr, A, B, C)                                                                  \
    do {                                                                                       \
        if (!(xr)) {                                                                           \
            A = B = C = _mm256_setzero_ps();                                                   \
        } else if (sw == 1) {                                                                  \
            A = dwr_ld((xr) + c0, m0);                                                         \
            B = dwr_ld((xr) + c0 + 1, m1);                                                     \
            C = dwr_ld((xr) + c0 + 2, m2);                                                     \
        } else {                                                                               \
            const __m256 l0_ = dwr_ld((xr) + c0, m0), h0_ = dwr_ld((xr) + c0 + 8, m1);         \
            const __m256 l2_ = dwr_ld((xr) + c0 + 2, m2), h2_ = dwr_ld((xr) + c0 + 10, m3);    \
            v_deint2(l0_, h0_, &A, &B);                                                        \
            C = dwr_even(l2_, h2_);                                                            \
        }                                                                                      \
    } while (0)

/* One output vector from tap rows (a0 a1 a2), (b0 b1 b2), (cc0 cc1 cc2): the
 * bias, the nine taps in W's order as one FMA chain, + residual, clamp. */
#define DWR_SUM(a_)                                                                            \
    do {                                                                                       \
        a_ = _mm256_fmadd_ps(w0, a0, vb);                                                      \
        a_ = _mm256_fmadd_ps(w1, a1, a_);                                                      \
        a_ = _mm256_fmadd_ps(w2, a2, a_);                                                      \
        a_ = _mm256_fmadd_ps(w3, b0, a_);                                                      \
        a_ = _mm256_fmadd_ps(w4, b1, a_);                                                      \
        a_ = _mm256_fmadd_ps(w5, b2, a_);                                                      \
        a_ = _mm256_fmadd_ps(w6, cc0, a_);                                                     \
        a_ = _mm256_fmadd_ps(w7, cc1, a_);                                                     \
        a_ = _mm256_fmadd_ps(w8, cc2, a_);                                                     \
    } while (0)

#define DWR_ROWP(ih) ((ih) >= 0 && (ih) < H ? xp + (ptrdiff_t)(ih) * W : NULL)

/* One strip (outputs q0 .. q0 + n - 1 of every row) of one plane. */
static inline void dwr_strip(const sk_dw_reg_geo *g, int q0, int n, __m256i m0, __m256i m1,
                             __m256i m2, __m256i m3, __m256i om, const float *xp,
                             const float *wc, float b, float *yp, const float *rp, __m256 vlo,
                             __m256 vhi)
{
    const int H = g->H, W = g->W, oH = g->oH, oW = g->oW, sw = g->sw;
    const int c0 = q0 * sw - g->pl;
    const __m256 w0 = _mm256_set1_ps(wc[0]), w1 = _mm256_set1_ps(wc[1]), w2 = _mm256_set1_ps(wc[2]);
    const __m256 w3 = _mm256_set1_ps(wc[3]), w4 = _mm256_set1_ps(wc[4]), w5 = _mm256_set1_ps(wc[5]);
    const __m256 w6 = _mm256_set1_ps(wc[6]), w7 = _mm256_set1_ps(wc[7]), w8 = _mm256_set1_ps(wc[8]);
    const __m256 vb = _mm256_set1_ps(b);
    __m256 a0, a1, a2, b0, b1, b2, cc0, cc1, cc2;
    int ih = -g->pt; /* input row of tap row 0 */
    DWR_TAPS(DWR_ROWP(ih), a0, a1, a2);
    DWR_TAPS(DWR_ROWP(ih + 1), b0, b1, b2);
    for (int oh = 0; oh < oH; oh++) {
        if (g->sh == 2 && oh > 0)
            DWR_TAPS(DWR_ROWP(ih + 1), b0, b1, b2);
        DWR_TAPS(DWR_ROWP(ih + 2), cc0, cc1, cc2);
        __m256 a;
        DWR_SUM(a);
        float *yo = yp + (ptrdiff_t)oh * oW + q0;
        if (n == 8) {
            if (rp)
                a = _mm256_add_ps(a, _mm256_loadu_ps(rp + (ptrdiff_t)oh * oW + q0));
            _mm256_storeu_ps(yo, v_min(vhi, v_max(vlo, a)));
        } else {
            if (rp)
                a = _mm256_add_ps(a, _mm256_maskload_ps(rp + (ptrdiff_t)oh * oW + q0, om));
            _mm256_maskstore_ps(yo, om, v_min(vhi, v_max(vlo, a)));
        }
        if (g->sh == 1) {
            a0 = b0;
            a1 = b1;
            a2 = b2;
            b0 = cc0;
            b1 = cc1;
            b2 = cc2;
            ih++;
        } else { /* tap row 0 of the next output row is this one's tap row 2 */
            a0 = cc0;
            a1 = cc1;
            a2 = cc2;
            ih += 2;
        }
    }
}

/* Planes p0 .. p1 - 1 of an NCHW tensor of C channels (plane p: channel
 * p % C, x + p * H * W, y and res + p * oH * oW, weights w + 9 * c, bias
 * b[c] or 0). */
void sk_f32_dw_reg3__avx2(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                          const float *w, const float *b, float *y, const float *res, float lo,
                          float hi)
{
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    const size_t HW = (size_t)g->H * (size_t)g->W, oHW = (size_t)g->oH * (size_t)g->oW;
    /* per strip the loads' lanes inside the row (stride 1: taps 0, 1, 2;
     * stride 2: columns c0, c0 + 8, c0 + 2, c0 + 10), made once a call;
     * lanes past the strip's n outputs hold any column of the row and are
     * not stored. Planes outermost: a plane's strips read it from L1. */
    enum { NS = 2 }; /* strips with masks made once (fast_dwconv.c takes oW <= 16) */
    __m256i m[NS + 1][5];
    const int ns = (g->oW + 7) / 8;
    for (int s = 0; s < ns && s < NS; s++) {
        const int c0 = s * 8 * g->sw - g->pl;
        m[s][0] = dwr_in(c0, g->W);
        m[s][1] = dwr_in(c0 + (g->sw == 1 ? 1 : 8), g->W);
        m[s][2] = dwr_in(c0 + 2, g->W);
        m[s][3] = dwr_in(c0 + 10, g->W);
        m[s][4] = v_mask((size_t)(g->oW - s * 8 < 8 ? g->oW - s * 8 : 8));
    }
    size_t c = p0 % (size_t)g->C;
    for (size_t p = p0; p < p1; p++) {
        for (int s = 0; s < ns; s++) {
            const int q0 = s * 8, n = g->oW - q0 < 8 ? g->oW - q0 : 8, k = s < NS ? s : NS;
            if (s >= NS) { /* wider rows (not taken now): this strip's masks */
                const int c0 = q0 * g->sw - g->pl;
                m[NS][0] = dwr_in(c0, g->W);
                m[NS][1] = dwr_in(c0 + (g->sw == 1 ? 1 : 8), g->W);
                m[NS][2] = dwr_in(c0 + 2, g->W);
                m[NS][3] = dwr_in(c0 + 10, g->W);
                m[NS][4] = v_mask((size_t)n);
            }
            dwr_strip(g, q0, n, m[k][0], m[k][1], m[k][2], m[k][3], m[k][4], x + p * HW,
                      w + 9 * c, b ? b[c] : 0.0f, y + p * oHW, res ? res + p * oHW : NULL, vlo,
                      vhi);
        }
        if (++c == (size_t)g->C)
            c = 0;
    }
}

/* Stride 1, rows of any width, row by row: blocks of 8 outputs whose nine
 * taps all lie inside the row take plain loads, the others masked ones. */
void sk_f32_dw_reg3w__avx2(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                           const float *w, const float *b, float *y, const float *res, float lo,
                           float hi)
{
    const int H = g->H, W = g->W, oH = g->oH, oW = g->oW, pt = g->pt, pl = g->pl;
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi), z = _mm256_setzero_ps();
    const size_t HW = (size_t)H * (size_t)W, oHW = (size_t)oH * (size_t)oW;
    /* blocks [qa, qb) (in outputs) read columns q0 - pl .. q0 - pl + 9, all
     * inside [0, W), and store 8 outputs */
    const int qa = pl > 0 ? 8 : 0;
    int qb = W + pl - 9 < oW - 7 ? W + pl - 9 : oW - 7; /* q0 < qb: both hold */
    if (qb < qa)
        qb = qa;
    size_t c = p0 % (size_t)g->C;
    for (size_t p = p0; p < p1; p++) {
        const float *xp = x + p * HW, *wc = w + 9 * c;
        float *yp = y + p * oHW;
        const float *rp = res ? res + p * oHW : NULL;
        const __m256 w0 = _mm256_set1_ps(wc[0]), w1 = _mm256_set1_ps(wc[1]),
                     w2 = _mm256_set1_ps(wc[2]), w3 = _mm256_set1_ps(wc[3]),
                     w4 = _mm256_set1_ps(wc[4]), w5 = _mm256_set1_ps(wc[5]),
                     w6 = _mm256_set1_ps(wc[6]), w7 = _mm256_set1_ps(wc[7]),
                     w8 = _mm256_set1_ps(wc[8]);
        const __m256 vb = _mm256_set1_ps(b ? b[c] : 0.0f);
        for (int oh = 0; oh < oH; oh++) {
            const int ih = oh - pt;
            const float *r0 = ih >= 0 && ih < H ? xp + (ptrdiff_t)ih * W : NULL;
            const float *r1 = ih + 1 >= 0 && ih + 1 < H ? xp + (ptrdiff_t)(ih + 1) * W : NULL;
            const float *r2 = ih + 2 >= 0 && ih + 2 < H ? xp + (ptrdiff_t)(ih + 2) * W : NULL;
            float *yo = yp + (ptrdiff_t)oh * oW;
            const float *ro = rp ? rp + (ptrdiff_t)oh * oW : NULL;
            for (int q0 = 0; q0 < oW; q0 += 8) {
                const int c0 = q0 - pl;
                __m256 a;
                if (q0 >= qa && q0 < qb && r0 && r1 && r2) {
                    a = _mm256_fmadd_ps(w0, _mm256_loadu_ps(r0 + c0), vb);
                    a = _mm256_fmadd_ps(w1, _mm256_loadu_ps(r0 + c0 + 1), a);
                    a = _mm256_fmadd_ps(w2, _mm256_loadu_ps(r0 + c0 + 2), a);
                    a = _mm256_fmadd_ps(w3, _mm256_loadu_ps(r1 + c0), a);
                    a = _mm256_fmadd_ps(w4, _mm256_loadu_ps(r1 + c0 + 1), a);
                    a = _mm256_fmadd_ps(w5, _mm256_loadu_ps(r1 + c0 + 2), a);
                    a = _mm256_fmadd_ps(w6, _mm256_loadu_ps(r2 + c0), a);
                    a = _mm256_fmadd_ps(w7, _mm256_loadu_ps(r2 + c0 + 1), a);
                    a = _mm256_fmadd_ps(w8, _mm256_loadu_ps(r2 + c0 + 2), a);
                } else {
                    const __m256i m0 = dwr_in(c0, W), m1 = dwr_in(c0 + 1, W),
                                  m2 = dwr_in(c0 + 2, W);
#define DWW_LD(r, j) ((r) ? dwr_ld((r) + c0 + (j), m##j) : z)
                    a = _mm256_fmadd_ps(w0, DWW_LD(r0, 0), vb);
                    a = _mm256_fmadd_ps(w1, DWW_LD(r0, 1), a);
                    a = _mm256_fmadd_ps(w2, DWW_LD(r0, 2), a);
                    a = _mm256_fmadd_ps(w3, DWW_LD(r1, 0), a);
                    a = _mm256_fmadd_ps(w4, DWW_LD(r1, 1), a);
                    a = _mm256_fmadd_ps(w5, DWW_LD(r1, 2), a);
                    a = _mm256_fmadd_ps(w6, DWW_LD(r2, 0), a);
                    a = _mm256_fmadd_ps(w7, DWW_LD(r2, 1), a);
                    a = _mm256_fmadd_ps(w8, DWW_LD(r2, 2), a);
#undef DWW_LD
                }
                const int n = oW - q0 < 8 ? oW - q0 : 8;
                if (n == 8) {
                    if (ro)
                        a = _mm256_add_ps(a, _mm256_loadu_ps(ro + q0));
                    _mm256_storeu_ps(yo + q0, v_min(vhi, v_max(vlo, a)));
                } else {
                    const __m256i om = v_mask((size_t)n);
                    if (ro)
                        a = _mm256_add_ps(a, _mm256_maskload_ps(ro + q0, om));
                    _mm256_maskstore_ps(yo + q0, om, v_min(vhi, v_max(vlo, a)));
                }
            }
        }
        if (++c == (size_t)g->C)
            c = 0;
    }
}

#undef DWR_TAPS
#undef DWR_SUM
#undef DWR_ROWP

#endif
