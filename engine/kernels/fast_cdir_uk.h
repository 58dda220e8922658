/* fast_cdir_uk.h — the direct NCHW convolution's band loop (issue 24,
 * session 16; sk_f32_cdir_band__avx2 / __avx512f, driver fast_conv_s2.c),
 * written once against fast_simd.h and included by one file per level
 * after it defines SK_CDIR_MR (output channels a tile) and SK_CDIR_PR
 * (pixel vectors a tile).
 *
 * Why direct: the ResNet stem (7x7 stride 2, 3 -> 64 channels) is K = 147
 * deep and 12544 pixels wide. As im2col-gemm it gathered a 147-row column
 * block per panel (strided reads of 3 planes) and ran the GEMM on it; here
 * the input rows of a band of output rows are split once into their
 * stride phases (even / odd columns: sk_cdir_band.ph), after which every
 * tap (c, ky, kx) of SK_VW consecutive output pixels is one contiguous
 * vector load, `ph + tap offset + pixel offset`. A tile is SK_CDIR_MR
 * output channels x SK_CDIR_PR vectors of pixels (MR * PR accumulators);
 * per tap it loads PR vectors and broadcasts MR weights from W as given
 * ([M][C][kh][kw], read in k order: MR sequential streams), so nothing is
 * packed, at load or per run. The output is written in NCHW rows with the
 * fused epilogue (bias, residual, clamp); the vectors of a tile may lie in
 * different output rows of the band (7 vectors make a 112-pixel row). */

/* the tile loops are fully unrolled (SK_UNROLL_TILE, fast_simd.h) so the
 * accumulators stay in registers (gcc kept them in memory otherwise) */

/* Floats a tile's pixel vector v reads past ph + tap offset: its output
 * row's phase rows (s * s rows of ldp apart per output row) plus its
 * first column. */
static inline size_t cdir_pix_off(const sk_cdir_band *b, size_t v, size_t nvr, size_t *n)
{
    size_t r = v / nvr, ow0 = (v % nvr) * SK_VW;
    *n = b->oW - ow0 < SK_VW ? b->oW - ow0 : SK_VW;
    return r * (size_t)b->s * (size_t)b->s * b->ldp + ow0;
}

/* One tile: MR channels from m0 (channels >= M repeat the last one and
 * are not stored) x PR pixel vectors from v0 (past the band: not stored). */
static inline void cdir_tile(const sk_cdir_band *b, const ptrdiff_t *toff, size_t m0,
                             size_t v0, size_t nv, size_t nvr)
{
    const size_t K = (size_t)b->C * (size_t)b->kh * (size_t)b->kw;
    const size_t taps = (size_t)b->kh * (size_t)b->kw;
    const size_t cstride = b->rows * (size_t)b->s * b->ldp;
    const float *wr[SK_CDIR_MR];
    SK_UNROLL_TILE
    for (int i = 0; i < SK_CDIR_MR; i++) {
        size_t m = m0 + (size_t)i < b->M ? m0 + (size_t)i : b->M - 1;
        wr[i] = b->w + m * K;
    }
    size_t off[SK_CDIR_PR], cnt[SK_CDIR_PR];
    SK_UNROLL_TILE
    for (int v = 0; v < SK_CDIR_PR; v++) {
        if (v0 + (size_t)v < nv) {
            off[v] = cdir_pix_off(b, v0 + (size_t)v, nvr, &cnt[v]);
        } else { /* a dummy vector: reads the first one's pixels */
            off[v] = off[0];
            cnt[v] = 0;
        }
    }
    vf acc[SK_CDIR_MR][SK_CDIR_PR];
    SK_UNROLL_TILE
    for (int i = 0; i < SK_CDIR_MR; i++)
        SK_UNROLL_TILE
        for (int v = 0; v < SK_CDIR_PR; v++)
            acc[i][v] = v_zero();
    size_t k = 0;
    for (size_t c = 0; c < (size_t)b->C; c++) {
        const float *pc = b->ph + c * cstride;
        for (size_t t = 0; t < taps; t++, k++) {
            const float *p = pc + toff[t];
            vf x[SK_CDIR_PR];
            SK_UNROLL_TILE
            for (int v = 0; v < SK_CDIR_PR; v++)
                x[v] = v_ld(p + off[v]);
            SK_UNROLL_TILE
            for (int i = 0; i < SK_CDIR_MR; i++) {
                vf wv = v_set1(wr[i][k]);
                SK_UNROLL_TILE
                for (int v = 0; v < SK_CDIR_PR; v++)
                    acc[i][v] = v_fma(x[v], wv, acc[i][v]);
            }
        }
    }
    /* epilogue: y = clamp(acc + bias + res, lo, hi) in NCHW rows */
    const vf lo = v_set1(b->lo), hi = v_set1(b->hi);
    SK_UNROLL_TILE
    for (int i = 0; i < SK_CDIR_MR; i++) {
        size_t m = m0 + (size_t)i;
        if (m >= b->M)
            break;
        const vf bias = v_set1(b->bias ? b->bias[m] : 0.0f);
        SK_UNROLL_TILE
        for (int v = 0; v < SK_CDIR_PR; v++) {
            if (!cnt[v])
                continue;
            size_t q = v0 + (size_t)v, px = (q / nvr) * b->oW + (q % nvr) * SK_VW;
            float *y = b->y + m * b->ldy + px;
            vf r = v_add(acc[i][v], bias);
            if (b->res) {
                const float *rs = b->res + m * b->ldy + px;
                r = v_add(r, cnt[v] == SK_VW ? v_ld(rs) : v_ld_n(rs, cnt[v], v_zero()));
            }
            r = v_min(hi, v_max(lo, r)); /* MAXPS/MINPS: a NaN r is kept */
            if (cnt[v] == SK_VW)
                v_st(y, r);
            else
                v_st_n(y, r, cnt[v]);
        }
    }
}

void SK_UK(cdir_band)(const sk_cdir_band *b)
{
    /* tap (ky, kx) of one channel: phase kx % s of padded row ky, shifted
     * by kx / s (the driver limits kh * kw to SK_CDIR_MAX_TAPS) */
    ptrdiff_t toff[SK_CDIR_MAX_TAPS];
    const size_t s = (size_t)b->s;
    for (int ky = 0; ky < b->kh; ky++)
        for (int kx = 0; kx < b->kw; kx++)
            toff[ky * b->kw + kx] =
                (ptrdiff_t)(((size_t)ky * s + (size_t)kx % s) * b->ldp + (size_t)kx / s);
    const size_t nvr = (b->oW + SK_VW - 1) / SK_VW, nv = nvr * b->nrows;
    /* tiles outer: a tile's input (PR vectors of every tap) stays in L1
     * while the channel blocks stream their weights */
    for (size_t v0 = 0; v0 < nv; v0 += SK_CDIR_PR)
        for (size_t m0 = 0; m0 < b->M; m0 += SK_CDIR_MR)
            cdir_tile(b, toff, m0, v0, nv, nvr);
}
