/* fast_dw_uk.h — the vector loop of the depthwise convolution
 * (fast_dwconv.c), written once against the fast_simd.h layer and
 * compiled per ISA by avx2/f32_dwconv__avx2.c and avx512/f32_dwconv__avx512f.c.
 * Include after fast_simd.h. */

/* For each of `rows` output row segments r (y + r*ldy, residual res +
 * r*ldy, taps src[t] + r*lds):
 *     y[q] = clamp(b + sum_t w[t] * src[t][q] (+ res[q])),  q < n,
 * where every tap reads inside the input (src[t] already points at the
 * tap's input for the first row's first column). The accumulator stays in
 * a register across all taps and the epilogue, so each output vector is
 * stored once; each tap costs one load and one FMA. max(lo, v) / min(hi, v)
 * let a NaN through, as in the GEMM epilogue. */
void SK_UK(dw_rows)(float *y, size_t ldy, const float *const *src, size_t lds, const float *w,
                    int ntaps, size_t n, size_t rows, float b, const float *res, float lo,
                    float hi)
{
    const vf vb = v_set1(b), vlo = v_set1(lo), vhi = v_set1(hi);
    for (size_t r = 0; r < rows; r++, y += ldy, res = res ? res + ldy : NULL) {
        const size_t so = r * lds;
        size_t q = 0;
        for (; q + SK_VW <= n; q += SK_VW) {
            vf a = vb;
            for (int t = 0; t < ntaps; t++)
                a = v_fma(v_set1(w[t]), v_ld(src[t] + so + q), a);
            if (res)
                a = v_add(a, v_ld(res + q));
            v_st(y + q, v_min(vhi, v_max(vlo, a)));
        }
        if (q < n) {
            size_t m = n - q;
            vf a = vb;
            for (int t = 0; t < ntaps; t++)
                a = v_fma(v_set1(w[t]), v_ld_n(src[t] + so + q, m, v_zero()), a);
            if (res)
                a = v_add(a, v_ld_n(res + q, m, v_zero()));
            v_st_n(y + q, v_min(vhi, v_max(vlo, a)), m);
        }
    }
}

/* The flat plane loop (fast_dwconv.c, dw_plane_flat): the plane's padded
 * input is stored as sh x sw phase planes of row length ldq, so output
 * (oh, ow) and tap t read src[oh * ldq + ow + off[t]] — one constant offset
 * per tap. Output rows are then computed as one run of n positions
 * q = oh * ldq + ow (the ldq - oW positions between two rows are computed
 * and dropped): a 7x7 plane is 4 AVX-512 vectors instead of 7 two-thirds
 * empty ones. Eight vectors at a time, each its own FMA chain over the
 * taps: one chain per output vector was latency-bound (9 dependent FMAs
 * per 16 outputs). Every t[q] is b + the taps in order, as dw_rows sums.
 *     t[q] = b + sum_t w[t] * src[q + off[t]],  q < n. */
#define DW_FLAT_U 8
void SK_UK(dw_flat)(float *t, const float *src, const ptrdiff_t *off, const float *w, int ntaps,
                    size_t n, float b)
{
    const vf vb = v_set1(b);
    size_t q = 0;
    for (; q + DW_FLAT_U * SK_VW <= n; q += DW_FLAT_U * SK_VW) {
        vf a[DW_FLAT_U];
#pragma GCC unroll 8
        for (int u = 0; u < DW_FLAT_U; u++)
            a[u] = vb;
        for (int k = 0; k < ntaps; k++) {
            const vf wv = v_set1(w[k]);
            const float *s = src + off[k] + q;
#pragma GCC unroll 8
            for (int u = 0; u < DW_FLAT_U; u++)
                a[u] = v_fma(wv, v_ld(s + u * SK_VW), a[u]);
        }
#pragma GCC unroll 8
        for (int u = 0; u < DW_FLAT_U; u++)
            v_st(t + q + u * SK_VW, a[u]);
    }
    /* the rest: up to 7 whole vectors (4, 2, 1 at a time), then one masked */
    for (; q + 4 * SK_VW <= n; q += 4 * SK_VW) {
        vf a0 = vb, a1 = vb, a2 = vb, a3 = vb;
        for (int k = 0; k < ntaps; k++) {
            const vf wv = v_set1(w[k]);
            const float *s = src + off[k] + q;
            a0 = v_fma(wv, v_ld(s), a0);
            a1 = v_fma(wv, v_ld(s + SK_VW), a1);
            a2 = v_fma(wv, v_ld(s + 2 * SK_VW), a2);
            a3 = v_fma(wv, v_ld(s + 3 * SK_VW), a3);
        }
        v_st(t + q, a0);
        v_st(t + q + SK_VW, a1);
        v_st(t + q + 2 * SK_VW, a2);
        v_st(t + q + 3 * SK_VW, a3);
    }
    for (; q + 2 * SK_VW <= n; q += 2 * SK_VW) {
        vf a0 = vb, a1 = vb;
        for (int k = 0; k < ntaps; k++) {
            const vf wv = v_set1(w[k]);
            const float *s = src + off[k] + q;
            a0 = v_fma(wv, v_ld(s), a0);
            a1 = v_fma(wv, v_ld(s + SK_VW), a1);
        }
        v_st(t + q, a0);
        v_st(t + q + SK_VW, a1);
    }
    for (; q < n; q += SK_VW) {
        const size_t m = n - q < SK_VW ? n - q : SK_VW;
        vf a0 = vb;
        for (int k = 0; k < ntaps; k++)
            a0 = v_fma(v_set1(w[k]), v_ld_n(src + off[k] + q, m, v_zero()), a0);
        v_st_n(t + q, a0, m);
    }
}

/* The flat loop's epilogue, row by row into the output:
 *     y[r * ldy + q] = clamp(t[r * ldt + q] (+ res[r * ldy + q])),  q < n. */
void SK_UK(dw_out)(float *y, size_t ldy, const float *t, size_t ldt, size_t n, size_t rows,
                   const float *res, float lo, float hi)
{
    const vf vlo = v_set1(lo), vhi = v_set1(hi);
    for (size_t r = 0; r < rows; r++, y += ldy, t += ldt, res = res ? res + ldy : NULL) {
        size_t q = 0;
        for (; q + SK_VW <= n; q += SK_VW) {
            vf a = v_ld(t + q);
            if (res)
                a = v_add(a, v_ld(res + q));
            v_st(y + q, v_min(vhi, v_max(vlo, a)));
        }
        if (q < n) {
            size_t m = n - q;
            vf a = v_ld_n(t + q, m, v_zero());
            if (res)
                a = v_add(a, v_ld_n(res + q, m, v_zero()));
            v_st_n(y + q, v_min(vhi, v_max(vlo, a)), m);
        }
    }
}

/* Filling the flat loop's phase planes, one input row at a time, without a
 * libc call per row (a 7x7 plane is 7 rows of 7 floats):
 *   dw_copy:  d[k] = x[k], k < n;
 *   dw_split: de[k] = x[2k], k < ne; dodd[k] = x[2k+1], k < no; x has w floats
 *             (ne <= (w+1)/2, no <= w/2), read with masked loads at the end. */
void SK_UK(dw_copy)(float *d, const float *x, size_t n)
{
    size_t k = 0;
    for (; k + SK_VW <= n; k += SK_VW)
        v_st(d + k, v_ld(x + k));
    if (k < n)
        v_st_n(d + k, v_ld_n(x + k, n - k, v_zero()), n - k);
}

void SK_UK(dw_split)(float *de, float *dodd, const float *x, size_t w, size_t ne, size_t no)
{
    const size_t nk = ne > no ? ne : no;
    for (size_t k = 0; k < nk; k += SK_VW) {
        const size_t rem = w - 2 * k; /* > 0: k < ne <= (w+1)/2 */
        vf lo = rem >= SK_VW ? v_ld(x + 2 * k) : v_ld_n(x + 2 * k, rem, v_zero());
        vf hi = rem >= 2 * SK_VW ? v_ld(x + 2 * k + SK_VW)
                : rem > SK_VW    ? v_ld_n(x + 2 * k + SK_VW, rem - SK_VW, v_zero())
                                 : v_zero();
        vf e, o;
        v_deint2(lo, hi, &e, &o);
        if (k + SK_VW <= ne)
            v_st(de + k, e);
        else if (k < ne)
            v_st_n(de + k, e, ne - k);
        if (k + SK_VW <= no)
            v_st(dodd + k, o);
        else if (k < no)
            v_st_n(dodd + k, o, no - k);
    }
}

/* The channel-lane loop (fast_dwconv.c, dw_block_cl): for small planes
 * (7x7, 14x14) the per-plane work of the flat path (a few short rows, a
 * masked tail, one chain of 9 FMAs per vector) costs more than the FMAs.
 * Here SK_VW planes are interleaved, pad[(r * Wp + c) * SK_VW + lane], so
 * one vector holds one pixel of SK_VW channels and every output pixel is
 * one vector over all its taps — no tails, no per-plane calls. Output
 * pixel q = (oh, ow), q < oH * oW, and tap k read
 *     pad + oh * ldr + ow * ldc + off[k]   (w + k * SK_VW: the tap's weights),
 *     t[q * SK_VW + lane] = b[lane] + sum_k w[k][lane] * that[lane],
 * the taps in order from b, as dw_rows and dw_flat sum (the same bits).
 * Eight pixels at a time, each its own FMA chain (9 dependent FMAs per
 * pixel would wait on latency). */
#define DW_CL_U 8
void SK_UK(dw_cl)(float *t, const float *pad, const ptrdiff_t *off, const float *w, int ntaps,
                  size_t oH, size_t oW, size_t ldr, size_t ldc, const float *b)
{
    const vf vb = v_ld(b);
    const size_t n = oH * oW;
    size_t oh = 0, ow = 0, q = 0;
    for (; q + DW_CL_U <= n; q += DW_CL_U) {
        const float *s[DW_CL_U];
#pragma GCC unroll 8
        for (int u = 0; u < DW_CL_U; u++) { /* the pixels' tap-0 bases, row by row */
            s[u] = pad + oh * ldr + ow * ldc;
            if (++ow == oW) {
                ow = 0;
                oh++;
            }
        }
        vf a[DW_CL_U];
#pragma GCC unroll 8
        for (int u = 0; u < DW_CL_U; u++)
            a[u] = vb;
        for (int k = 0; k < ntaps; k++) {
            const vf wv = v_ld(w + (size_t)k * SK_VW);
            const ptrdiff_t o = off[k];
#pragma GCC unroll 8
            for (int u = 0; u < DW_CL_U; u++)
                a[u] = v_fma(wv, v_ld(s[u] + o), a[u]);
        }
#pragma GCC unroll 8
        for (int u = 0; u < DW_CL_U; u++)
            v_st(t + (q + (size_t)u) * SK_VW, a[u]);
    }
    for (; q < n; q++) {
        const float *s = pad + oh * ldr + ow * ldc;
        vf a = vb;
        for (int k = 0; k < ntaps; k++)
            a = v_fma(v_ld(w + (size_t)k * SK_VW), v_ld(s + off[k]), a);
        v_st(t + q * SK_VW, a);
        if (++ow == oW) {
            ow = 0;
            oh++;
        }
    }
}
