/* fast_vrow.h — row loops of the fast non-conv kernels: reductions
 * (Softmax, LayerNorm, global pools), window reductions (MaxPool /
 * AveragePool), and the shuffles of ConvTranspose and Resize. Written once
 * against fast_simd.h and instantiated per ISA by avx2/f32_vrow__avx2.c
 * and avx512/f32_vrow__avx512f.c.
 *
 * Why fast: reductions keep four independent vector accumulators (four
 * add / max chains in flight instead of one scalar chain); tails are one
 * masked vector whose dead lanes hold the neutral element (0 for sums,
 * -inf for max) so no scalar epilogue is needed; pooling reduces whole rows
 * with contiguous loads instead of walking a window per output. */

/* ---- reductions -------------------------------------------------------------- */

#define SK_RED4(INIT, FILL, STEP, COMB, HRED)                                        \
    vf r0 = INIT, r1 = INIT, r2 = INIT, r3 = INIT;                             \
    size_t i = 0;                                                              \
    for (; i + 4 * SK_VW <= n; i += 4 * SK_VW) {                               \
        r0 = STEP(r0, v_ld(x + i));                                            \
        r1 = STEP(r1, v_ld(x + i + SK_VW));                                    \
        r2 = STEP(r2, v_ld(x + i + 2 * SK_VW));                                \
        r3 = STEP(r3, v_ld(x + i + 3 * SK_VW));                                \
    }                                                                          \
    for (; i + SK_VW <= n; i += SK_VW)                                         \
        r0 = STEP(r0, v_ld(x + i));                                            \
    if (i < n)                                                                 \
        r1 = STEP(r1, v_ld_n(x + i, n - i, FILL));                             \
    return HRED(COMB(COMB(r0, r1), COMB(r2, r3)));

float SK_UK(rmax)(size_t n, const float *x)
{
    SK_RED4(v_set1(-INFINITY), v_set1(-INFINITY), v_max, v_max, v_hmax)
}

float SK_UK(rsum)(size_t n, const float *x) { SK_RED4(v_zero(), v_zero(), v_add, v_add, v_hsum) }

/* sum of (x - mean)^2; the tail's dead lanes hold mean, adding 0 */
float SK_UK(rsumsqdev)(size_t n, const float *x, float mean)
{
    const vf m = v_set1(mean);
#define SK_SQDEV(acc, v) v_fma(v_sub(v, m), v_sub(v, m), acc)
    SK_RED4(v_zero(), m, SK_SQDEV, v_add, v_hsum)
#undef SK_SQDEV
}

/* y = exp(x - c) and its sum (Softmax after the max pass); dead tail lanes
 * hold -inf, whose exp is 0. */
float SK_UK(vexpsub_sum)(size_t n, const float *x, float c, float *y)
{
    const vf vc = v_set1(c);
    vf s0 = v_zero(), s1 = v_zero();
    size_t i = 0;
    for (; i + 2 * SK_VW <= n; i += 2 * SK_VW) {
        vf e0 = v_exp(v_sub(v_ld(x + i), vc));
        vf e1 = v_exp(v_sub(v_ld(x + i + SK_VW), vc));
        v_st(y + i, e0);
        v_st(y + i + SK_VW, e1);
        s0 = v_add(s0, e0);
        s1 = v_add(s1, e1);
    }
    for (; i + SK_VW <= n; i += SK_VW) {
        vf e = v_exp(v_sub(v_ld(x + i), vc));
        v_st(y + i, e);
        s0 = v_add(s0, e);
    }
    if (i < n) {
        vf e = v_exp(v_sub(v_ld_n(x + i, n - i, v_set1(-INFINITY)), vc));
        v_st_n(y + i, e, n - i);
        s1 = v_add(s1, e);
    }
    return v_hsum(v_add(s0, s1));
}

/* ---- affine row ops ------------------------------------------------------------- */

#define SK_ROW_BODY(EXPR)                                                   \
    size_t i = 0;                                                           \
    for (; i + SK_VW <= n; i += SK_VW) {                                    \
        const size_t m = SK_VW;                                             \
        (void)m;                                                            \
        v_st(y + i, EXPR(v_ld));                                            \
    }                                                                       \
    if (i < n) {                                                            \
        const size_t m = n - i;                                             \
        v_st_n(y + i, EXPR(SK_LDN), m);                                     \
    }
/* loads of the tail: dead lanes 0, never read past the row */
#define SK_LDN(p) v_ld_n(p, m, v_zero())

void SK_UK(vaffine)(size_t n, const float *x, float s, float t, float *y)
{
    const vf vs = v_set1(s), vt = v_set1(t);
#define SK_AFF(LD) v_fma(LD(x + i), vs, vt)
    SK_ROW_BODY(SK_AFF)
#undef SK_AFF
}

void SK_UK(vlnorm)(size_t n, const float *x, float mean, float inv, const float *gamma,
                   const float *beta, float *y)
{
    const vf vm = v_set1(mean), vi = v_set1(inv);
    if (beta) {
#define SK_LN(LD) v_fma(v_mul(v_sub(LD(x + i), vm), vi), LD(gamma + i), LD(beta + i))
        SK_ROW_BODY(SK_LN)
#undef SK_LN
    } else {
#define SK_LN(LD) v_mul(v_mul(v_sub(LD(x + i), vm), vi), LD(gamma + i))
        SK_ROW_BODY(SK_LN)
#undef SK_LN
    }
}

void SK_UK(vblend)(size_t n, const float *a, float wa, const float *b, float wb, float *y)
{
    const vf va = v_set1(wa), vb = v_set1(wb);
#define SK_BL(LD) v_fma(LD(b + i), vb, v_mul(LD(a + i), va))
    SK_ROW_BODY(SK_BL)
#undef SK_BL
}

/* ---- pooling --------------------------------------------------------------------- */

void SK_UK(vmax_acc)(size_t n, const float *x, float *y)
{
#define SK_MX(LD) v_max(LD(y + i), LD(x + i))
    SK_ROW_BODY(SK_MX)
#undef SK_MX
}

void SK_UK(vadd_acc)(size_t n, const float *x, float *y)
{
#define SK_AD(LD) v_add(LD(y + i), LD(x + i))
    SK_ROW_BODY(SK_AD)
#undef SK_AD
}

/* y[i] = reduce over the taps of tap[t][i]: the horizontal step of a pool,
 * each tap a contiguous row (one stride phase of the padded input row). */
#define SK_TAPS(name, VOP)                                                       \
    void SK_UK(name)(size_t n, const float *const *tap, int ntaps, float *y)     \
    {                                                                            \
        size_t i = 0;                                                            \
        for (; i + SK_VW <= n; i += SK_VW) {                                     \
            vf acc = v_ld(tap[0] + i);                                           \
            for (int t = 1; t < ntaps; t++)                                      \
                acc = VOP(acc, v_ld(tap[t] + i));                                \
            v_st(y + i, acc);                                                    \
        }                                                                        \
        if (i < n) {                                                             \
            vf acc = v_ld_n(tap[0] + i, n - i, v_zero());                        \
            for (int t = 1; t < ntaps; t++)                                      \
                acc = VOP(acc, v_ld_n(tap[t] + i, n - i, v_zero()));             \
            v_st_n(y + i, acc, n - i);                                           \
        }                                                                        \
    }
SK_TAPS(vmax_taps, v_max)
SK_TAPS(vsum_taps, v_add)

void SK_UK(deinterleave2)(size_t n, const float *x, float *even, float *odd)
{
    size_t i = 0;
    for (; i + SK_VW <= n; i += SK_VW) {
        vf e, o;
        v_deint2(v_ld(x + 2 * i), v_ld(x + 2 * i + SK_VW), &e, &o);
        v_st(even + i, e);
        v_st(odd + i, o);
    }
    for (; i < n; i++) {
        even[i] = x[2 * i];
        odd[i] = x[2 * i + 1];
    }
}

/* ---- up-sampling (ConvTranspose k = s = 2, Resize x2) ----------------------------- */

void SK_UK(interleave2)(size_t n, const float *a, const float *b, float c, float *y)
{
    const vf vc = v_set1(c);
    size_t i = 0;
    for (; i + SK_VW <= n; i += SK_VW) {
        vf lo, hi;
        v_int2(v_add(v_ld(a + i), vc), v_add(v_ld(b + i), vc), &lo, &hi);
        v_st(y + 2 * i, lo);
        v_st(y + 2 * i + SK_VW, hi);
    }
    for (; i < n; i++) {
        y[2 * i] = a[i] + c;
        y[2 * i + 1] = b[i] + c;
    }
}

/* 0.25 * x scales exactly, so each output is one FMA = one rounding of the
 * exact two-tap sum: the same value the reference computes in double. */
void SK_UK(vup2_linear)(size_t n, const float *x, float *y)
{
    if (n == 0)
        return;
    y[0] = x[0]; /* the clamped ends take one tap, weight 1 */
    const vf q = v_set1(0.25f), tq = v_set1(0.75f);
    size_t i = 1;
    if (n > 1) {
        y[1] = fmaf(0.75f, x[0], 0.25f * x[1]);
        for (; i + SK_VW < n; i += SK_VW) { /* reads x[i-1 .. i+SK_VW] */
            vf xm = v_ld(x + i - 1), x0 = v_ld(x + i), xp = v_ld(x + i + 1);
            vf e = v_fma(x0, tq, v_mul(xm, q));
            vf o = v_fma(x0, tq, v_mul(xp, q));
            vf lo, hi;
            v_int2(e, o, &lo, &hi);
            v_st(y + 2 * i, lo);
            v_st(y + 2 * i + SK_VW, hi);
        }
    }
    for (; i < n; i++) {
        float xm = x[i - 1], x0 = x[i], xp = i + 1 < n ? x[i + 1] : x[i];
        y[2 * i] = fmaf(0.75f, x0, 0.25f * xm);
        y[2 * i + 1] = fmaf(0.75f, x0, 0.25f * xp);
    }
    y[2 * n - 1] = x[n - 1];
}

/* ---- GEMV over a packed B panel ---------------------------------------------
 * The batch-1 classifier head (ResNet's fc: 1 x 2048 times 2048 x 1000)
 * reads 8 MB of weights once per image, so it runs at memory speed if the
 * FMAs keep up: four k steps in flight (eight accumulators, two per step)
 * hide the FMA latency that one pair of accumulators would wait on, and the
 * panel is read in order, one stream the prefetcher follows. The GEMM
 * microkernel instead computes mr rows of which one is real. */
void SK_UK(gemv_panel)(size_t K, const float *a, const float *b, float *y)
{
    vf c0 = v_zero(), c1 = v_zero(), c2 = v_zero(), c3 = v_zero();
    vf c4 = v_zero(), c5 = v_zero(), c6 = v_zero(), c7 = v_zero();
    size_t k = 0;
    for (; k + 4 <= K; k += 4, b += 8 * SK_VW) {
        vf a0 = v_set1(a[k]), a1 = v_set1(a[k + 1]), a2 = v_set1(a[k + 2]), a3 = v_set1(a[k + 3]);
        c0 = v_fma(a0, v_ld(b), c0);
        c1 = v_fma(a0, v_ld(b + SK_VW), c1);
        c2 = v_fma(a1, v_ld(b + 2 * SK_VW), c2);
        c3 = v_fma(a1, v_ld(b + 3 * SK_VW), c3);
        c4 = v_fma(a2, v_ld(b + 4 * SK_VW), c4);
        c5 = v_fma(a2, v_ld(b + 5 * SK_VW), c5);
        c6 = v_fma(a3, v_ld(b + 6 * SK_VW), c6);
        c7 = v_fma(a3, v_ld(b + 7 * SK_VW), c7);
    }
    for (; k < K; k++, b += 2 * SK_VW) {
        vf ak = v_set1(a[k]);
        c0 = v_fma(ak, v_ld(b), c0);
        c1 = v_fma(ak, v_ld(b + SK_VW), c1);
    }
    v_st(y, v_add(v_add(c0, c2), v_add(c4, c6)));
    v_st(y + SK_VW, v_add(v_add(c1, c3), v_add(c5, c7)));
}

/* ---- GEMM: the narrow last column panel -------------------------------------
 * See sk_gemm_ntail_fn (gemm.h). 2 * mr accumulators of one vector (12 ymm
 * at AVX2, 16 zmm at AVX-512) are as many independent FMA chains as the
 * full kernel's, so the FMA pipes stay busy, on half the columns: a panel
 * with 4 real columns of 16 costs half of what the full tile did. Per k one
 * B load and 2 * mr broadcasts, within the 2-3 loads per cycle the cores
 * sustain. Every element is the full kernel's computation: a chain of FMAs
 * from zero over k, then + old C, + bias, + residual, clamp. */
#define SK_GEMM_MR (SK_VW == 8 ? 6 : 8) /* the level's GEMM mr: 6x16, 8x32 */

void SK_UK(gemm_ntail)(size_t kc, const float *a0, const float *a1, const float *b, float *c,
                       size_t ldc, int rows, int cols, int flags, const sk_ukernel_params *p)
{
    enum { MR = SK_GEMM_MR, R = 2 * SK_GEMM_MR, NR = 2 * SK_VW };
    vf acc[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; r++)
        acc[r] = v_zero();
    for (size_t k = 0; k < kc; k++, a0 += MR, a1 += MR, b += NR) {
        const vf bk = v_ld(b);
#pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            acc[r] = v_fma(v_set1(a0[r]), bk, acc[r]);
            acc[MR + r] = v_fma(v_set1(a1[r]), bk, acc[MR + r]);
        }
    }
    const vf zero = v_zero();
    for (int r = 0; r < rows; r++) {
        vf v = acc[r];
        float *cr = c + (size_t)r * ldc;
        if (flags & SK_UK_ACCUM)
            v = v_add(v, cols == SK_VW ? v_ld(cr) : v_ld_n(cr, (size_t)cols, zero));
        if (flags & SK_UK_EPI) {
            if (p->bias_row)
                v = v_add(v, v_set1(p->bias_row[r]));
            if (p->bias_col)
                v = v_add(v, cols == SK_VW ? v_ld(p->bias_col)
                                           : v_ld_n(p->bias_col, (size_t)cols, zero));
            if (p->res) {
                const float *rr = p->res + (size_t)r * p->ldres;
                v = v_add(v, cols == SK_VW ? v_ld(rr) : v_ld_n(rr, (size_t)cols, zero));
            }
            v = v_min(v_set1(p->max), v_max(v_set1(p->min), v));
        }
        if (cols == SK_VW)
            v_st(cr, v);
        else
            v_st_n(cr, v, (size_t)cols);
    }
}

/* ---- GEMM: the last rows of a block -----------------------------------------
 * See sk_gemm_mtail_fn (gemm.h). A tile of 1 .. mr-1 real rows on the full
 * kernel costs as much as a full one (49 output pixels = 8 tiles of 6 and
 * one of 1). Here `rows` rows run across P panels at once, P chosen so
 * that 2 * rows * P accumulators give the FMA pipes enough independent
 * chains (8-12 at AVX2, up to 24 at AVX-512): one row over four panels
 * costs a sixth of four full tiles. Each element is still one FMA chain
 * from zero over k in order, then the full kernel's epilogue: the same
 * bits as the full tile. */
static inline __attribute__((always_inline)) void
gemm_mtail_group(size_t kc, const float *a, const float *b, size_t bstride, float *c, size_t ldc,
                 const int R, const int P, int ncols, int flags, const sk_ukernel_params *p,
                 int col0)
{
    enum { MR = SK_GEMM_MR, NR = 2 * SK_VW };
    vf acc[8][4][2]; /* [row][panel][vector]: only R x P x 2 are used */
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int q = 0; q < P; q++)
            acc[r][q][0] = acc[r][q][1] = v_zero();
    for (size_t k = 0; k < kc; k++, a += MR) {
        const float *bk = b + k * NR;
#pragma GCC unroll 4
        for (int q = 0; q < P; q++) {
            const vf b0 = v_ld(bk + q * bstride), b1 = v_ld(bk + q * bstride + SK_VW);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const vf av = v_set1(a[r]);
                acc[r][q][0] = v_fma(av, b0, acc[r][q][0]);
                acc[r][q][1] = v_fma(av, b1, acc[r][q][1]);
            }
        }
    }
    const vf zero = v_zero();
    for (int q = 0; q < P; q++)
        for (int h = 0; h < 2; h++) {
            int cc = q * NR + h * SK_VW, n = ncols - cc; /* real columns of this vector */
            if (n <= 0)
                continue;
            if (n > SK_VW)
                n = SK_VW;
            const int col = col0 + cc;
            for (int r = 0; r < R; r++) {
                vf v = acc[r][q][h];
                float *cr = c + (size_t)r * ldc + cc;
                if (flags & SK_UK_ACCUM)
                    v = v_add(v, n == SK_VW ? v_ld(cr) : v_ld_n(cr, (size_t)n, zero));
                if (flags & SK_UK_EPI) {
                    if (p->bias_row)
                        v = v_add(v, v_set1(p->bias_row[r]));
                    if (p->bias_col)
                        v = v_add(v, n == SK_VW ? v_ld(p->bias_col + col)
                                                : v_ld_n(p->bias_col + col, (size_t)n, zero));
                    if (p->res) {
                        const float *rr = p->res + (size_t)r * p->ldres + col;
                        v = v_add(v, n == SK_VW ? v_ld(rr) : v_ld_n(rr, (size_t)n, zero));
                    }
                    v = v_min(v_set1(p->max), v_max(v_set1(p->min), v));
                }
                if (n == SK_VW)
                    v_st(cr, v);
                else
                    v_st_n(cr, v, (size_t)n);
            }
        }
}

/* Panels per group for `rows` rows: 2 * rows * P accumulators within the
 * budget, at most 4. */
static inline int gemm_mtail_panels(int rows)
{
    int budget = SK_VW == 8 ? 12 : 24, P = budget / (2 * rows);
    return P < 1 ? 1 : P > 4 ? 4 : P;
}

#define SK_MTAIL_CASE(R, P)                                                                   \
    gemm_mtail_group(kc, a, b + (size_t)q * bstride, bstride, c + (size_t)q * NR, ldc, R, P,   \
                     ncols - q * NR, flags, p, q * NR)
#define SK_MTAIL_ROWS(R)                                                                      \
    case R:                                                                                   \
        for (q = 0; q + gemm_mtail_panels(R) <= npanels; q += gemm_mtail_panels(R)) {         \
            if (gemm_mtail_panels(R) == 4)                                                    \
                SK_MTAIL_CASE(R, 4);                                                          \
            else if (gemm_mtail_panels(R) == 3)                                               \
                SK_MTAIL_CASE(R, 3);                                                          \
            else if (gemm_mtail_panels(R) == 2)                                               \
                SK_MTAIL_CASE(R, 2);                                                          \
            else                                                                              \
                SK_MTAIL_CASE(R, 1);                                                          \
        }                                                                                     \
        for (; q < npanels; q++)                                                              \
            SK_MTAIL_CASE(R, 1);                                                              \
        break;

void SK_UK(gemm_mtail)(size_t kc, const float *a, const float *b, size_t bstride, int npanels,
                       float *c, size_t ldc, int rows, int ncols, int flags,
                       const sk_ukernel_params *p)
{
    enum { NR = 2 * SK_VW };
    int q;
    switch (rows) {
        SK_MTAIL_ROWS(1)
        SK_MTAIL_ROWS(2)
        SK_MTAIL_ROWS(3)
        SK_MTAIL_ROWS(4)
        SK_MTAIL_ROWS(5)
#if SK_VW == 16
        SK_MTAIL_ROWS(6)
        SK_MTAIL_ROWS(7)
#endif
    default:
        break;
    }
}
#undef SK_MTAIL_CASE
#undef SK_MTAIL_ROWS
