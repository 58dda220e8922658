/* fast_wino_uk.h — the vector loops of Winograd F(2x2, 3x3)
 * (fast_winograd.c), written once against the fast_simd.h layer and
 * compiled per ISA by avx2/f32_wino__avx2.c and avx512/f32_wino__avx512f.c.
 *
 * Lanes are tiles: a B panel holds nr tiles (16 with AVX2, 32 with
 * AVX-512), so every transform step is one vector op over nr / SK_VW
 * vectors, with no shuffles; the data never leaves registers between the
 * row and column passes. Include after fast_simd.h. */

/* The floats of p[0 .. avail) that exist, zeros past them (avail may be
 * <= 0): masked loads never touch the masked lanes' memory, so a row's
 * last tiles gather without reading past its end. */
static inline vf wino_ld(const float *p, long avail)
{
    return avail >= SK_VW ? v_ld(p) : avail <= 0 ? v_zero() : v_ld_n(p, (size_t)avail, v_zero());
}
/* Lanes [0, k) of v to p; lanes past k belong to the next segment (or
 * must stay zero in a last panel), so a short vector is a masked store. */
static inline void wino_st(float *p, vf v, int k)
{
    if (k == SK_VW)
        v_st(p, v);
    else
        v_st_n(p, v, (size_t)k);
}

/* d[j*nr + l] = row[j + 2l] for j < 4, l < n: the four columns of n
 * side-by-side 4x4 tiles (stride 2) in one input row; reads row[0 .. 2n+1].
 * An ISA file that defines SK_WINO_DEINT supplies wino_deint(p, &ev, &od)
 * (ev = p[0], p[2], ...; od = p[1], p[3], ...; reads p[0 .. 2*SK_VW)) for
 * the full vectors; otherwise (and for the last n % SK_VW lanes, which at
 * ResNet sizes are most of them: rows of 4-14 tiles) v_deint2 over
 * masked loads de-interleaves and masked stores write the short vector. */
void SK_UK(wino_cols)(const float *row, int n, float *d, int nr)
{
    int l = 0;
#ifdef SK_WINO_DEINT
    for (; l + SK_VW <= n; l += SK_VW) {
        vf e, o;
        wino_deint(row + 2 * l, &e, &o);
        v_st(d + l, e);
        v_st(d + nr + l, o);
        wino_deint(row + 2 * l + 2, &e, &o);
        v_st(d + 2 * nr + l, e);
        v_st(d + 3 * nr + l, o);
    }
#endif
    for (; l < n; l += SK_VW) {
        const int k = n - l < SK_VW ? n - l : SK_VW;
        const float *p = row + 2 * l;
        const long av = 2L * (n - l) + 2; /* floats there from p */
        vf e, o;
        v_deint2(wino_ld(p, av), wino_ld(p + SK_VW, av - SK_VW), &e, &o);
        wino_st(d + l, e, k);
        wino_st(d + nr + l, o, k);
        v_deint2(wino_ld(p + 2, av - 2), wino_ld(p + 2 + SK_VW, av - 2 - SK_VW), &e, &o);
        wino_st(d + 2 * nr + l, e, k);
        wino_st(d + 3 * nr + l, o, k);
    }
}

/* v[xi * vstride + lane] = (B' d B)[xi] for every lane; d[(i*4 + j)*nr + lane].
 * B' = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. */
void SK_UK(wino_in)(const float *d, float *v, size_t vstride, int nr)
{
    for (int l = 0; l < nr; l += SK_VW) {
        vf t[4][4];
        for (int j = 0; j < 4; j++) {
            vf d0 = v_ld(d + (0 + j) * nr + l), d1 = v_ld(d + (4 + j) * nr + l);
            vf d2 = v_ld(d + (8 + j) * nr + l), d3 = v_ld(d + (12 + j) * nr + l);
            t[0][j] = v_sub(d0, d2);
            t[1][j] = v_add(d1, d2);
            t[2][j] = v_sub(d2, d1);
            t[3][j] = v_sub(d1, d3);
        }
        for (int i = 0; i < 4; i++) {
            v_st(v + (size_t)(i * 4 + 0) * vstride + l, v_sub(t[i][0], t[i][2]));
            v_st(v + (size_t)(i * 4 + 1) * vstride + l, v_add(t[i][1], t[i][2]));
            v_st(v + (size_t)(i * 4 + 2) * vstride + l, v_sub(t[i][2], t[i][1]));
            v_st(v + (size_t)(i * 4 + 3) * vstride + l, v_sub(t[i][1], t[i][3]));
        }
    }
}

/* y[q*nr + lane] = (A' m A)[q], q = 2*row + col of the 2x2 output block;
 * m[xi] at mb[xi * mstride + lane]. A' = [1 1 1 0; 0 1 -1 -1]. */
void SK_UK(wino_out)(const float *mb, size_t mstride, float *y, int nr)
{
    for (int l = 0; l < nr; l += SK_VW) {
        vf s[2][4];
        for (int j = 0; j < 4; j++) {
            vf m0 = v_ld(mb + (size_t)(0 + j) * mstride + l);
            vf m1 = v_ld(mb + (size_t)(4 + j) * mstride + l);
            vf m2 = v_ld(mb + (size_t)(8 + j) * mstride + l);
            vf m3 = v_ld(mb + (size_t)(12 + j) * mstride + l);
            s[0][j] = v_add(v_add(m0, m1), m2);
            s[1][j] = v_sub(v_sub(m1, m2), m3);
        }
        for (int i = 0; i < 2; i++) {
            v_st(y + (2 * i + 0) * nr + l, v_add(v_add(s[i][0], s[i][1]), s[i][2]));
            v_st(y + (2 * i + 1) * nr + l, v_sub(v_sub(s[i][1], s[i][2]), s[i][3]));
        }
    }
}

/* out[q] = clamp(row[q] + b (+ res[q])) for q < n, where row = y0[0],
 * y1[0], y0[1], y1[1], ...: one output row of 2x2 blocks, with the conv
 * epilogue. An ISA file that defines SK_WINO_ZIP supplies wino_zip(a, b,
 * &lo, &hi) (lo = a0 b0 a1 b1 ..., hi = the upper halves interleaved), so
 * full vectors never go through memory. max(lo, v) / min(hi, v) return v
 * when it is NaN, so a NaN passes as in the GEMM epilogue. */
static inline vf wino_epi1(vf v, vf vb, const float *res, vf vlo, vf vhi)
{
    v = v_add(v, vb);
    if (res)
        v = v_add(v, v_ld(res));
    return v_min(vhi, v_max(vlo, v));
}

void SK_UK(wino_epi)(float *out, const float *y0, const float *y1, size_t n, float b,
                     const float *res, float lo, float hi)
{
    const vf vb = v_set1(b), vlo = v_set1(lo), vhi = v_set1(hi);
    size_t q = 0;
#ifdef SK_WINO_ZIP
    for (; q + 2 * SK_VW <= n; q += 2 * SK_VW) {
        vf a, c;
        wino_zip(v_ld(y0 + q / 2), v_ld(y1 + q / 2), &a, &c);
        v_st(out + q, wino_epi1(a, vb, res ? res + q : NULL, vlo, vhi));
        v_st(out + q + SK_VW, wino_epi1(c, vb, res ? res + q + SK_VW : NULL, vlo, vhi));
    }
#endif
    float row[2 * SK_VW];
    while (q < n) {
        size_t k = n - q < 2 * SK_VW ? n - q : 2 * SK_VW;
        for (size_t t = 0; t < (k + 1) / 2; t++) {
            row[2 * t] = y0[q / 2 + t];
            row[2 * t + 1] = y1[q / 2 + t];
        }
        for (size_t t = 0; t < k; t += SK_VW) {
            size_t m = k - t < SK_VW ? k - t : SK_VW;
            vf v = v_add(v_ld_n(row + t, m, v_zero()), vb);
            if (res)
                v = v_add(v, v_ld_n(res + q + t, m, v_zero()));
            v_st_n(out + q + t, v_min(vhi, v_max(vlo, v)), m);
        }
        q += k;
    }
}

/* ---- F(4x4, 3x3) ----------------------------------------------------------
 * 6x6 input tiles at a step of 4, 36 element-wise products for 16 outputs
 * (2.25 multiplies per output and channel pair against F(2x2, 3x3)'s 4 and
 * direct summation's 9). Interpolation points 0, +-1, +-2 and infinity
 * (Lavin & Gray's choice), the transforms with FMAs:
 *   B' = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
 *         0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
 *   A' = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
 * (G, with 1/4, 1/6, 1/12 and 1/24, is applied once at load in double.) */

/* d[j*nr + l] = row[j + 4l] for j < 6, l < n; reads row[0 .. 4n+1]. Each
 * vector de-interleaves twice (even / odd of the evens and of the odds:
 * the four phases of a stride-4 row), once from row + 4l for j = 0..3 and
 * once from row + 4l + 4 for j = 4, 5. Loads are masked to the floats
 * there (wino_ld: the second pass would otherwise read two past the last
 * one needed) and a short last vector (n % SK_VW lanes: all of a ResNet
 * row's 7 or 14 tiles at AVX-512) is stored masked, so no lane is
 * gathered one float at a time. */
void SK_UK(wino4_cols)(const float *row, int n, float *d, int nr)
{
    for (int l = 0; l < n; l += SK_VW) {
        const int k = n - l < SK_VW ? n - l : SK_VW; /* lanes of this vector */
        const float *p = row + 4 * l;
        const long av = 4L * (n - l) + 2; /* floats there from p */
        vf e0, o0, e1, o1, p0, p2, p1, p3;
        v_deint2(wino_ld(p, av), wino_ld(p + SK_VW, av - SK_VW), &e0, &o0);
        v_deint2(wino_ld(p + 2 * SK_VW, av - 2 * SK_VW), wino_ld(p + 3 * SK_VW, av - 3 * SK_VW),
                 &e1, &o1);
        v_deint2(e0, e1, &p0, &p2); /* row[4l], row[4l + 2] */
        v_deint2(o0, o1, &p1, &p3); /* row[4l + 1], row[4l + 3] */
        wino_st(d + l, p0, k);
        wino_st(d + nr + l, p1, k);
        wino_st(d + 2 * nr + l, p2, k);
        wino_st(d + 3 * nr + l, p3, k);
        const float *q = p + 4;
        const long aq = av - 4;
        v_deint2(wino_ld(q, aq), wino_ld(q + SK_VW, aq - SK_VW), &e0, &o0);
        v_deint2(wino_ld(q + 2 * SK_VW, aq - 2 * SK_VW), wino_ld(q + 3 * SK_VW, aq - 3 * SK_VW),
                 &e1, &o1);
        v_deint2(e0, e1, &p0, &p2); /* row[4l + 4] */
        v_deint2(o0, o1, &p1, &p3); /* row[4l + 5] */
        wino_st(d + 4 * nr + l, p0, k);
        wino_st(d + 5 * nr + l, p1, k);
    }
}

/* ---- the gather of a whole tile row, borders included -------------------
 * row[off .. off + SK_VW) with the floats outside the row's [0, W) read as
 * zero (the conv's padding) and never touched: a masked load whose mask is
 * the window, so the left and right border tiles of a row need no scalar
 * copies (at ResNet sizes they were 2 of a row's 7-14 tiles). */
static inline vf wino_ldw(const float *row, long off, long W)
{
    long lo = off < 0 ? -off : 0, hi = W - off < SK_VW ? W - off : SK_VW;
    if (lo == 0 && hi == SK_VW)
        return v_ld(row + off);
    if (hi <= lo)
        return v_zero();
#if defined(SK_FAST_AVX512)
    __mmask16 k = (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    return _mm512_mask_loadu_ps(v_zero(), k, row + off);
#else
    /* VMASKLOADPS zeroes the masked lanes and suppresses their faults */
    __m256i k = _mm256_andnot_si256(v_mask((size_t)lo), v_mask((size_t)hi));
    return _mm256_maskload_ps(row + off, k);
#endif
}

/* d[j*nr + l] = x(iw0 + 2l + j) for j < 4, l < n, x(i) = row[i] for
 * 0 <= i < W and 0 outside (iw0 may be negative: the left padding); lanes
 * >= n untouched. The same permutes as wino_cols. */
void SK_UK(wino_colsw)(const float *row, long iw0, long W, int n, float *d, int nr)
{
    for (int l = 0; l < n; l += SK_VW) {
        const int k = n - l < SK_VW ? n - l : SK_VW;
        const long o = iw0 + 2L * l;
        vf e, od;
        v_deint2(wino_ldw(row, o, W), wino_ldw(row, o + SK_VW, W), &e, &od);
        wino_st(d + l, e, k);
        wino_st(d + nr + l, od, k);
        v_deint2(wino_ldw(row, o + 2, W), wino_ldw(row, o + 2 + SK_VW, W), &e, &od);
        wino_st(d + 2 * nr + l, e, k);
        wino_st(d + 3 * nr + l, od, k);
    }
}

/* d[j*nr + l] = x(iw0 + 4l + j) for j < 6, l < n (x as above): wino4_cols
 * over a windowed row. */
void SK_UK(wino4_colsw)(const float *row, long iw0, long W, int n, float *d, int nr)
{
    for (int l = 0; l < n; l += SK_VW) {
        const int k = n - l < SK_VW ? n - l : SK_VW;
        vf e0, o0, e1, o1, p0, p2, p1, p3;
        for (int h = 0; h < 2; h++) { /* columns 0..3 from o, then 4, 5 from o + 4 */
            const long o = iw0 + 4L * l + 4 * h;
            v_deint2(wino_ldw(row, o, W), wino_ldw(row, o + SK_VW, W), &e0, &o0);
            v_deint2(wino_ldw(row, o + 2 * SK_VW, W), wino_ldw(row, o + 3 * SK_VW, W), &e1, &o1);
            v_deint2(e0, e1, &p0, &p2);
            v_deint2(o0, o1, &p1, &p3);
            wino_st(d + 4 * h * nr + l, p0, k);
            wino_st(d + (4 * h + 1) * nr + l, p1, k);
            if (h == 0) {
                wino_st(d + 2 * nr + l, p2, k);
                wino_st(d + 3 * nr + l, p3, k);
            }
        }
    }
}

/* o = B' x for one column of six vectors. */
static inline void wino4_bt(const vf x[6], vf o[6])
{
    const vf c4 = v_set1(4.0f), c5 = v_set1(5.0f), c2 = v_set1(2.0f);
    vf a = v_fnma(c4, x[2], x[4]);   /* x4 - 4 x2 */
    vf b = v_fnma(c4, x[1], x[3]);   /* x3 - 4 x1 */
    vf c = v_sub(x[4], x[2]);        /* x4 - x2 */
    vf e = v_mul(c2, v_sub(x[3], x[1])); /* 2 (x3 - x1) */
    o[0] = v_fma(c4, x[0], v_fnma(c5, x[2], x[4]));
    o[1] = v_add(a, b);
    o[2] = v_sub(a, b);
    o[3] = v_add(c, e);
    o[4] = v_sub(c, e);
    o[5] = v_fma(c4, x[1], v_fnma(c5, x[3], x[5]));
}

/* v[xi * vstride + lane] = (B' d B)[xi], xi = 6a + b; d[(i*6 + j)*nr + lane].
 * Columns first into t (36 vectors through L1: a register file of 16 or 32
 * would spill them anyway), then rows. */
void SK_UK(wino4_in)(const float *d, float *v, size_t vstride, int nr)
{
    for (int l = 0; l < nr; l += SK_VW) {
        vf t[6][6], x[6], o[6];
        for (int j = 0; j < 6; j++) {
            for (int i = 0; i < 6; i++)
                x[i] = v_ld(d + (i * 6 + j) * nr + l);
            wino4_bt(x, o);
            for (int a = 0; a < 6; a++)
                t[a][j] = o[a];
        }
        for (int a = 0; a < 6; a++) {
            wino4_bt(t[a], o);
            for (int b = 0; b < 6; b++)
                v_st(v + (size_t)(a * 6 + b) * vstride + l, o[b]);
        }
    }
}

/* o = A' x for six vectors. */
static inline void wino4_at(const vf x[6], vf o[4])
{
    const vf c2 = v_set1(2.0f), c4 = v_set1(4.0f), c8 = v_set1(8.0f);
    vf s12 = v_add(x[1], x[2]), d12 = v_sub(x[1], x[2]);
    vf s34 = v_add(x[3], x[4]), d34 = v_sub(x[3], x[4]);
    o[0] = v_add(v_add(x[0], s12), s34);
    o[1] = v_fma(c2, d34, d12);
    o[2] = v_fma(c4, s34, s12);
    o[3] = v_add(v_fma(c8, d34, d12), x[5]);
}

/* y[q*nr + lane] = (A' m A)[q], q = 4*row + col of the 4x4 output block;
 * m[xi] at mb[xi * mstride + lane]. */
void SK_UK(wino4_out)(const float *mb, size_t mstride, float *y, int nr)
{
    for (int l = 0; l < nr; l += SK_VW) {
        vf s[4][6], x[6], o[4];
        for (int j = 0; j < 6; j++) {
            for (int i = 0; i < 6; i++)
                x[i] = v_ld(mb + (size_t)(i * 6 + j) * mstride + l);
            wino4_at(x, o);
            for (int a = 0; a < 4; a++)
                s[a][j] = o[a];
        }
        for (int a = 0; a < 4; a++) {
            wino4_at(s[a], o);
            for (int b = 0; b < 4; b++)
                v_st(y + (4 * a + b) * nr + l, o[b]);
        }
    }
}

/* out[q] = clamp(row[q] + b (+ res[q])) for q < n, where row = y0[0], y1[0],
 * y2[0], y3[0], y0[1], ...: one output row of 4x4 blocks (yc = column c of
 * each block), with the conv epilogue; two rounds of v_int2 interleave the
 * four vectors without a pass through memory. */
void SK_UK(wino4_epi)(float *out, const float *y0, const float *y1, const float *y2,
                      const float *y3, size_t n, float b, const float *res, float lo, float hi)
{
    const vf vb = v_set1(b), vlo = v_set1(lo), vhi = v_set1(hi);
    size_t q = 0;
    for (; q + 4 * SK_VW <= n; q += 4 * SK_VW) {
        vf a0, a1, c0, c1, r[4];
        v_int2(v_ld(y0 + q / 4), v_ld(y2 + q / 4), &a0, &a1); /* y0 y2 y0 y2 ... */
        v_int2(v_ld(y1 + q / 4), v_ld(y3 + q / 4), &c0, &c1); /* y1 y3 y1 y3 ... */
        v_int2(a0, c0, &r[0], &r[1]);
        v_int2(a1, c1, &r[2], &r[3]);
        for (int k = 0; k < 4; k++)
            v_st(out + q + (size_t)k * SK_VW,
                 wino_epi1(r[k], vb, res ? res + q + (size_t)k * SK_VW : NULL, vlo, vhi));
    }
    if (q < n) { /* the tail: the same on masked loads and stores */
        size_t k = n - q, lanes = (k + 3) / 4;
        vf a0, a1, c0, c1, r[4];
        v_int2(v_ld_n(y0 + q / 4, lanes, v_zero()), v_ld_n(y2 + q / 4, lanes, v_zero()), &a0, &a1);
        v_int2(v_ld_n(y1 + q / 4, lanes, v_zero()), v_ld_n(y3 + q / 4, lanes, v_zero()), &c0, &c1);
        v_int2(a0, c0, &r[0], &r[1]);
        v_int2(a1, c1, &r[2], &r[3]);
        for (size_t j = 0; j * SK_VW < k; j++) {
            size_t m = k - j * SK_VW < SK_VW ? k - j * SK_VW : SK_VW;
            vf v = v_add(r[j], vb);
            if (res)
                v = v_add(v, v_ld_n(res + q + j * SK_VW, m, v_zero()));
            v_st_n(out + q + j * SK_VW, v_min(vhi, v_max(vlo, v)), m);
        }
    }
}
