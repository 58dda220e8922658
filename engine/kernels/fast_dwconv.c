/* fast_dwconv.c — depthwise 2-D convolution (group = C = M), direct.
 *
 * Why not the GEMM: a depthwise conv is C independent 1-row GEMMs with
 * K = kh * kw (9) — nothing to block or reuse, and the GEMM path pays a
 * full 6-row microkernel tile and an im2col gather per 9 MACs (MobileNetV2
 * ran at 12 GFLOP/s that way). Here an output row's interior columns (where
 * every tap reads inside the input) are one vector loop whose accumulator
 * takes bias, all kh * kw taps and the epilogue (residual, Relu/Clip) in
 * registers — one load and one FMA per tap, one store per output vector;
 * the few border columns are summed one by one. A stride-2 conv first
 * splits each input row into even and odd columns, so its taps read
 * contiguous memory too. Planes (image, channel) are split over the thread
 * pool. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast.h"
#include "ref/nn_util.h"
#include "switches.h"
#include "threadpool.h"

#define DW_PAD_MAX 16384  /* floats of a zero-padded plane copy (64 KiB) */
#define DW_SPLIT_MAX 2048 /* widest input row split into even/odd */
#define DW_KH_MAX 7        /* kernel rows with split buffers; taller: scalar */
#define DW_TAPS_MAX 64     /* kernel taps the vector row takes */

typedef struct dw_run {
    sk_dw_rows_fn rows;
    const sk_dw_flat_uk *fl; /* NULL: SKIPSERVE_DW_FLAT=0, the row loops only */
    int flat;                /* dw_flat_setup took this node */
    const sk_dw_cl_uk *cl;   /* dw_cl_setup took this node: channel lanes */
    sk_dw_reg_fn reg;        /* dw_reg_setup took this node: the register-row 3x3 loop */
    sk_dw_reg_geo rg;
    const sk_fast_uk *ops;   /* its transposes */
    const float *wtab;       /* channel lanes: tap-major weights per vw channels, or NULL */
    int64_t Hp, Wp;          /* channel lanes: the padded plane */
    int64_t Hq, Wq, PQ;      /* phase plane rows, columns, floats */
    ptrdiff_t off[DW_TAPS_MAX];
    sk_conv2d g;
    float *scratch;
} dw_run;

/* ow range [lo, hi) whose input column ow*s + off lies in [0, W). */
static void tap_range(int64_t off, int64_t s, int64_t W, int64_t oW, int64_t *lo, int64_t *hi)
{
    *lo = off >= 0 ? 0 : (-off + s - 1) / s;
    *hi = W - off <= 0 ? 0 : (W - off - 1) / s + 1;
    if (*hi > oW)
        *hi = oW;
    if (*lo > *hi)
        *lo = *hi;
}

/* One output column by the definition: the border columns, and every
 * column of the shapes the vector row does not take. */
static float dw_point(const dw_run *r, const float *xp, const float *wc, float b, int64_t oh,
                      int64_t ow)
{
    float acc = b;
    for (int64_t i = 0; i < r->g.kh; i++) {
        int64_t ih = oh * r->g.sh - r->g.pt + i * r->g.dh;
        if (ih < 0 || ih >= r->g.H)
            continue;
        for (int64_t j = 0; j < r->g.kw; j++) {
            int64_t iw = ow * r->g.sw - r->g.pl + j * r->g.dw;
            if (iw >= 0 && iw < r->g.W)
                acc += wc[i * r->g.kw + j] * xp[ih * r->g.W + iw];
        }
    }
    return acc;
}

/* Planes that fit DW_PAD_MAX: copy the plane once into a zero-padded
 * buffer holding every row and column a tap reads (columns of a stride-2
 * conv stored evens first, then odds), so every output row is one vector
 * call over all its columns and all kh * kw taps, with no border cases.
 * Returns 0 when the plane does not fit. */
static int dw_plane_padded(const dw_run *r, const float *xp, const float *wc, float b, float *yp,
                           const float *rp, float *scratch)
{
    const int64_t Hp = (r->g.oH - 1) * r->g.sh + (r->g.kh - 1) * r->g.dh + 1;
    const int64_t Wp = (r->g.oW - 1) * r->g.sw + (r->g.kw - 1) * r->g.dw + 1;
    if ((r->g.sw != 1 && r->g.sw != 2) || r->g.kh * r->g.kw > DW_TAPS_MAX || Hp * Wp > DW_PAD_MAX)
        return 0;
    float *pad = scratch, *tmp = scratch + DW_PAD_MAX; /* tmp: one padded row */
    const int64_t E = r->g.sw == 2 ? (Wp + 1) / 2 : Wp; /* odds start at E */
    for (int64_t pr = 0; pr < Hp; pr++) {
        float *dst = pad + pr * Wp;
        int64_t ih = pr - r->g.pt;
        if (ih < 0 || ih >= r->g.H) {
            memset(dst, 0, sizeof(float) * (size_t)Wp);
            continue;
        }
        /* the padded row: pl zeros (pads are >= 0), the input's first n
         * columns, zeros to Wp */
        float *row = r->g.sw == 2 ? tmp : dst;
        int64_t a = r->g.pl < Wp ? r->g.pl : Wp;
        int64_t cnt = r->g.W < Wp - a ? r->g.W : Wp - a;
        memset(row, 0, sizeof(float) * (size_t)a);
        memcpy(row + a, xp + ih * r->g.W, sizeof(float) * (size_t)cnt);
        memset(row + a + cnt, 0, sizeof(float) * (size_t)(Wp - a - cnt));
        if (r->g.sw == 2) {
            sk_gather_stride2(dst, row, E);
            sk_gather_stride2(dst + E, row + 1, Wp / 2);
        }
    }
    const float *src[DW_TAPS_MAX];
    for (int64_t i = 0; i < r->g.kh; i++) {
        const float *prow = pad + i * r->g.dh * Wp;
        for (int64_t j = 0; j < r->g.kw; j++) {
            int64_t off = j * r->g.dw; /* padded column of ow: ow * sw + off */
            src[i * r->g.kw + j] =
                r->g.sw == 2 ? ((off & 1) ? prow + E + off / 2 : prow + off / 2) : prow + off;
        }
    }
    /* taps in W's own order (i * kw + j), so W's row is the weight list */
    r->rows(yp, (size_t)r->g.oW, src, (size_t)(r->g.sh * Wp), wc, (int)(r->g.kh * r->g.kw),
            (size_t)r->g.oW, (size_t)r->g.oH, b, rp, r->g.lo, r->g.hi);
    return 1;
}

/* The flat path (fast_dw_uk.h, dw_flat), for strides 1 and 2 and planes
 * whose phase copy fits DW_PAD_MAX. The zero-padded plane is stored as
 * sh x sw phase planes P[a][c][r][q] = pad[r*sh + a][q*sw + c], each
 * Hq x Wq, so tap (i, j) of output (oh, ow) reads P[i*dh % sh][j*dw % sw]
 * [oh + i*dh / sh][ow + j*dw / sw]: position oh * Wq + ow plus one
 * constant per tap. dw_flat runs the whole plane as one stretch of
 * (oH - 1) * Wq + oW positions into `tmp` (row stride Wq), and dw_out
 * copies the oW real columns of each row out with the residual and the
 * clamp. Same sums in the same order as dw_rows, so the bits do not depend
 * on the path. The padding cells are the same for every plane of a node:
 * a task zeroes the phase planes once and each plane only writes its
 * input cells (small planes were dominated by per-row memset/memcpy). */
static int dw_flat_setup(dw_run *r)
{
    const sk_conv2d *g = &r->g;
    if (!r->fl || g->sh > 2 || g->sw > 2 || g->kh * g->kw > DW_TAPS_MAX)
        return 0;
    const int64_t Hp = (g->oH - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    const int64_t Wp = (g->oW - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    r->Hq = (Hp + g->sh - 1) / g->sh;
    r->Wq = (Wp + g->sw - 1) / g->sw;
    r->PQ = r->Hq * r->Wq;
    if (g->sh * g->sw * r->PQ > DW_PAD_MAX || g->oH * r->Wq > DW_PAD_MAX)
        return 0;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t ri = i * g->dh, cj = j * g->dw;
            r->off[i * g->kw + j] = (ptrdiff_t)(((ri % g->sh) * g->sw + cj % g->sw) * r->PQ +
                                                (ri / g->sh) * r->Wq + cj / g->sw);
        }
    return 1;
}

/* One plane: its input cells into the (otherwise zero) phase planes, the
 * flat run, the epilogue. */
static void dw_plane_flat(const dw_run *r, int64_t plane, float *ph)
{
    const sk_conv2d *g = &r->g;
    const int64_t c = plane % g->C, Wq = r->Wq;
    const float *xp = g->x + plane * g->H * g->W;
    for (int64_t ih = 0; ih < g->H; ih++) {
        const int64_t pr = ih + g->pt, a = pr % g->sh, rq = pr / g->sh;
        if (rq >= r->Hq)
            break; /* rows past the last one a tap reads */
        float *P = ph + a * g->sw * r->PQ + rq * Wq;
        if (g->sw == 1) {
            if (g->pl < Wq)
                r->fl->copy(P + g->pl, xp + ih * g->W,
                            (size_t)(g->W < Wq - g->pl ? g->W : Wq - g->pl));
        } else {
            /* input column iw lands in phase (pl + iw) % 2 at (pl + iw) / 2 */
            const int64_t qe = g->pl / 2, qo = (g->pl + 1) / 2;
            int64_t ne = (g->W + 1) / 2, no = g->W / 2;
            ne = ne < Wq - qe ? ne : (Wq - qe > 0 ? Wq - qe : 0);
            no = no < Wq - qo ? no : (Wq - qo > 0 ? Wq - qo : 0);
            float *pe = P + (g->pl & 1) * r->PQ + qe, *po = P + ((g->pl + 1) & 1) * r->PQ + qo;
            r->fl->split(pe, po, xp + ih * g->W, (size_t)g->W, (size_t)ne, (size_t)no);
        }
    }
    float *tmp = ph + DW_PAD_MAX;
    const float b = g->bias ? g->bias[c] : 0.0f;
    /* taps in W's own order (i * kw + j), so W's row is the weight list */
    r->fl->flat(tmp, ph, r->off, g->w + c * g->kh * g->kw, (int)(g->kh * g->kw),
                (size_t)((g->oH - 1) * Wq + g->oW), b);
    r->fl->out(g->y + plane * g->oH * g->oW, (size_t)g->oW, tmp, (size_t)Wq, (size_t)g->oW,
               (size_t)g->oH, g->res ? g->res + plane * g->oH * g->oW : NULL, g->lo, g->hi);
}

/* The channel-lane path (fast_dw_uk.h, dw_cl) for small planes: vw
 * planes (consecutive (image, channel) planes, any channels) at a time are
 * transposed into one zero-padded plane of vw-lane pixels,
 * pad[(r * Wp + c) * vw + lane], the loop computes every output pixel as
 * one vector over the taps, and transpose_epi writes the planes back with
 * the residual and the clamp. The flat path spends ~130 ns a plane on 7x7
 * and 14x14 planes in row copies, masked tails and latency-bound chains
 * (bench/RESULTS.md, session 12); here a block of vw planes is two
 * register transposes and oH * oW vector pixels. The sums are dw_flat's
 * (bias, then the taps in order, by FMA), so the bits do not change.
 * Taken for planes of at most pv->dw_cl_maxpx output pixels (default
 * SK_DW_CL_MAXPX; prepack.c reads the switches SKIPSERVE_DW_CL=0 and
 * SKIPSERVE_DW_CL_MAXPX=n at load) whose padded plane and transposed input
 * fit DW_PAD_MAX floats, and at least vw planes. */

/* Planes run through the channel lanes since the process started: tests
 * check that a geometry took the path (its bits equal the flat path's). */
static _Atomic size_t cl_planes;
size_t sk_dw_cl_planes(void) { return atomic_load_explicit(&cl_planes, memory_order_relaxed); }

static int dw_cl_setup(dw_run *r, const sk_kconfig *kc, int64_t maxpx)
{
    const sk_conv2d *g = &r->g;
    const int64_t vw = kc->dw_cl.vw;
    if (maxpx <= 0 || !kc->dw_cl.run || vw <= 0 || !kc->ops.transpose ||
        !kc->ops.transpose_epi || g->kh * g->kw > DW_TAPS_MAX || g->oH * g->oW > maxpx ||
        g->N * g->C < vw)
        return 0;
    const int64_t Hp = (g->oH - 1) * g->sh + (g->kh - 1) * g->dh + 1;
    const int64_t Wp = (g->oW - 1) * g->sw + (g->kw - 1) * g->dw + 1;
    if (Hp * Wp * vw > DW_PAD_MAX || g->H * g->W * vw > DW_PAD_MAX ||
        g->oH * g->oW * vw > DW_PAD_MAX)
        return 0;
    r->Hp = Hp;
    r->Wp = Wp;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++)
            r->off[i * g->kw + j] = (ptrdiff_t)((i * g->dh * Wp + j * g->dw) * vw);
    r->cl = &kc->dw_cl;
    r->ops = &kc->ops;
    return 1;
}

/* Planes [p0, p0 + nv) (nv <= vw) through the channel lanes; pad's
 * padding cells are zero (dw_task), its other cells are rewritten here. */
static void dw_block_cl(const dw_run *r, int64_t p0, int64_t nv, float *pad)
{
    const sk_conv2d *g = &r->g;
    const int vw = r->cl->vw;
    const int64_t HW = g->H * g->W, oHW = g->oH * g->oW;
    float *tmp = pad + DW_PAD_MAX; /* the transposed input, then the sums */
    r->ops->transpose((size_t)nv, (size_t)HW, g->x + p0 * HW, (size_t)HW, tmp, (size_t)vw);
    /* input row ih, columns [c0, c1), land at padded (ih + pt, iw + pl) */
    const int64_t c1 = g->W < r->Wp - g->pl ? g->W : r->Wp - g->pl;
    for (int64_t ih = 0; ih < g->H && ih + g->pt < r->Hp; ih++)
        if (c1 > 0)
            memcpy(pad + ((ih + g->pt) * r->Wp + g->pl) * vw, tmp + ih * g->W * vw,
                   sizeof(float) * (size_t)(c1 * vw));
    float wt[DW_TAPS_MAX * 16], b[16]; /* the block's weights, tap-major */
    const int ntaps = (int)(g->kh * g->kw);
    const float *wk = wt, *bk = b;
    if (r->wtab && nv == vw) { /* vw whole channels c0 .. c0 + vw - 1: the run's table */
        const int64_t c0 = p0 % g->C;
        wk = r->wtab + c0 * (ntaps + 1);
        bk = wk + (int64_t)ntaps * vw;
    } else
        for (int l = 0; l < vw; l++) {
            int64_t c = (p0 + (l < nv ? l : 0)) % g->C; /* idle lanes: any channel */
            b[l] = g->bias ? g->bias[c] : 0.0f;
            for (int k = 0; k < ntaps; k++)
                wt[k * vw + l] = g->w[c * ntaps + k];
        }
    r->cl->run(tmp, pad, r->off, wk, ntaps, (size_t)g->oH, (size_t)g->oW,
               (size_t)(g->sh * r->Wp * vw), (size_t)(g->sw * vw), bk);
    r->ops->transpose_epi((size_t)oHW, (size_t)nv, tmp, (size_t)vw, g->y + p0 * oHW, (size_t)oHW,
                          NULL, g->res ? g->res + p0 * oHW : NULL, g->lo, g->hi);
}

/* The channel lanes' weights for the whole run (issue 24, session 18 mvt):
 * when C is a multiple of vw every block of vw planes is vw consecutive
 * channels c0 = p0 % C .. c0 + vw - 1 of one image, so its tap-major
 * weights and biases are one slice of a table filled once per run,
 * [C / vw][ntaps + 1][vw] (the last row the biases), instead of a gather
 * of ntaps x vw weights with a modulo per lane in every block (7680 planes
 * of 7x7 at batch 8: 480 blocks). The same values in the same lanes: the
 * same bits. The table lives in thread 0's split-row scratch, which the
 * lanes do not use, written before the pool starts and read-only after.
 * SKIPSERVE_DW_CL_WTAB=0: the gather per block (A/B, read per run). */
static int dw_wtab_on(const sk_conv2d *g, int64_t vw)
{
    const char *e = sk_sw()->dw_cl_wtab;
    return !(e && !strcmp(e, "0")) && vw > 0 && g->C % vw == 0 &&
           g->C * (g->kh * g->kw + 1) <= (int64_t)DW_KH_MAX * DW_SPLIT_MAX;
}

static void dw_wtab_fill(const sk_conv2d *g, int64_t vw, float *t)
{
    const int64_t ntaps = g->kh * g->kw;
    for (int64_t c = 0; c < g->C; c++) {
        float *blk = t + (c - c % vw) * (ntaps + 1);
        const int64_t l = c % vw;
        for (int64_t k = 0; k < ntaps; k++)
            blk[k * vw + l] = g->w[c * ntaps + k];
        blk[ntaps * vw + l] = g->bias ? g->bias[c] : 0.0f;
    }
}

/* The register-row path (session 19, avx512/f32_dwreg__avx512f.c): a 3x3
 * undilated depthwise conv at stride 1 or 2 whose output rows are at most
 * 16 wide and whose taps read input columns below 32 (MobileNetV2's 14x14
 * and 7x7 planes) runs its planes straight from x to y: each input
 * row one or two masked loads and three vpermt2ps into its tap vectors,
 * kept in registers across output rows, each output row 9 FMAs and one
 * masked store — no copies, no scratch. At stride 1 wider rows (the
 * 112x112 plane) take dw_reg3w: per block of 16 outputs nine masked loads
 * straight from the three input rows. Same sums in the same order as the
 * flat path (padding taps are FMAs with 0), so the same bits. Taken before
 * the channel lanes and the flat path where pv->dw_reg (prepack.c: the
 * level has the loop, and the default of config.c — Intel — or
 * SKIPSERVE_DW_REG=1; =0 off). */
static _Atomic size_t reg_planes;
size_t sk_dw_reg_planes(void) { return atomic_load_explicit(&reg_planes, memory_order_relaxed); }

static int dw_reg_setup(dw_run *r, const sk_conv_priv *pv)
{
    const sk_conv2d *g = &r->g;
    if (!pv->dw_reg || g->kh != 3 || g->kw != 3 || g->dh != 1 ||
        g->dw != 1 || (g->sh != 1 && g->sh != 2) || (g->sw != 1 && g->sw != 2) || g->oW < 1 ||
        g->pt > 2 || g->pl > 2 || g->H > (1 << 20) || g->W > (1 << 20) || g->oH > (1 << 20) ||
        g->oW > (1 << 20) || g->C > (1 << 30))
        return 0;
    if (g->oW <= 16 && (g->oW - 1) * g->sw - g->pl + 2 <= 31)
        r->reg = pv->kc->dw_reg3; /* the last lane's last tap column below 32: two registers */
    else if (g->sh == 1 && g->sw == 1 && pv->kc->dw_reg3w)
        r->reg = pv->kc->dw_reg3w; /* wider rows at stride 1: the taps loaded masked */
    else
        return 0;
    r->rg = (sk_dw_reg_geo){(int)g->H, (int)g->W, (int)g->oH, (int)g->oW,
                            (int)g->sh, (int)g->sw, (int)g->pt, (int)g->pl, (int)g->C};
    return 1;
}

/* Per-thread scratch: the padded plane, one padded row, the split rows. */
#define DW_SCRATCH ((size_t)DW_PAD_MAX * 2 + (size_t)DW_KH_MAX * DW_SPLIT_MAX)

size_t sk_dw_scratch_floats(int nthreads)
{
    return DW_SCRATCH * (size_t)(nthreads > 0 ? nthreads : 1);
}

static void dw_plane(const dw_run *r, int64_t plane, float *scratch)
{
    const int64_t c = plane % r->g.C;
    const float *xp = r->g.x + plane * r->g.H * r->g.W, *wc = r->g.w + c * r->g.kh * r->g.kw;
    const float b = r->g.bias ? r->g.bias[c] : 0.0f;
    float *yp = r->g.y + plane * r->g.oH * r->g.oW;
    const float *rp = r->g.res ? r->g.res + plane * r->g.oH * r->g.oW : NULL;
    if (dw_plane_padded(r, xp, wc, b, yp, rp, scratch))
        return;
    /* larger planes, row by row: interior columns [lo, hi): every tap column inside [0, W) */
    int64_t lo, hi;
    {
        int64_t l0, h0, l1, h1;
        tap_range(-r->g.pl, r->g.sw, r->g.W, r->g.oW, &l0, &h0);
        tap_range((r->g.kw - 1) * r->g.dw - r->g.pl, r->g.sw, r->g.W, r->g.oW, &l1, &h1);
        lo = l0 > l1 ? l0 : l1;
        hi = h0 < h1 ? h0 : h1;
        if (lo > hi)
            lo = hi;
    }
    const int split = r->g.sw == 2 && r->g.W <= DW_SPLIT_MAX && r->g.kh <= DW_KH_MAX;
    const int vec = (r->g.sw == 1 || split) && r->g.kh * r->g.kw <= DW_TAPS_MAX && hi > lo;
    const int64_t half = (r->g.W + 1) / 2; /* split rows: evens [0, half), odds after */
    float *split_buf = scratch + 2 * DW_PAD_MAX;
    const float *src[DW_TAPS_MAX];
    float w[DW_TAPS_MAX];
    for (int64_t oh = 0; oh < r->g.oH; oh++) {
        float *y = yp + oh * r->g.oW;
        const float *res = rp ? rp + oh * r->g.oW : NULL;
        if (vec) {
            int nt = 0;
            for (int64_t i = 0; i < r->g.kh; i++) {
                int64_t ih = oh * r->g.sh - r->g.pt + i * r->g.dh;
                if (ih < 0 || ih >= r->g.H)
                    continue;
                const float *xr = xp + ih * r->g.W;
                float *sb = split_buf + (split ? i * DW_SPLIT_MAX : 0);
                if (split) {
                    sk_gather_stride2(sb, xr, half);
                    sk_gather_stride2(sb + half, xr + 1, r->g.W / 2);
                }
                for (int64_t j = 0; j < r->g.kw; j++) {
                    int64_t off = j * r->g.dw - r->g.pl; /* column of ow: ow * sw + off */
                    if (!split) {
                        src[nt] = xr + lo + off;
                    } else {
                        /* 2*ow + off = 2*(ow + f) + (off & 1), f = floor(off / 2) */
                        int64_t f = off >= 0 ? off / 2 : -((-off + 1) / 2);
                        src[nt] = ((off & 1) ? sb + half : sb) + lo + f;
                    }
                    w[nt++] = wc[i * r->g.kw + j];
                }
            }
            r->rows(y + lo, 0, src, 0, w, nt, (size_t)(hi - lo), 1, b, res ? res + lo : NULL, r->g.lo,
                    r->g.hi);
        }
        for (int64_t ow = 0; ow < r->g.oW; ow++) {
            if (vec && ow == lo)
                ow = hi;
            if (ow >= r->g.oW)
                break;
            float v = dw_point(r, xp, wc, b, oh, ow);
            if (res)
                v += res[ow];
            if (v < r->g.lo)
                v = r->g.lo;
            if (v > r->g.hi)
                v = r->g.hi;
            y[ow] = v;
        }
    }
}

static void dw_task(void *arg, int tid, size_t p0, size_t p1)
{
    const dw_run *r = arg;
    if (r->reg) {
        const sk_conv2d *g = &r->g;
        r->reg(&r->rg, p0, p1, g->x, g->w, g->bias, g->y, g->res, g->lo, g->hi);
        atomic_fetch_add_explicit(&reg_planes, p1 - p0, memory_order_relaxed);
        return;
    }
    float *scratch = r->scratch + (size_t)tid * DW_SCRATCH;
    if (r->cl) { /* items are blocks of vw planes */
        const int64_t vw = r->cl->vw, planes = r->g.N * r->g.C;
        memset(scratch, 0, sizeof(float) * (size_t)(r->Hp * r->Wp * vw));
        for (size_t bk = p0; bk < p1; bk++) {
            int64_t q0 = (int64_t)bk * vw;
            dw_block_cl(r, q0, planes - q0 < vw ? planes - q0 : vw, scratch);
        }
        int64_t e0 = (int64_t)p0 * vw, e1 = (int64_t)p1 * vw < planes ? (int64_t)p1 * vw : planes;
        atomic_fetch_add_explicit(&cl_planes, (size_t)(e1 - e0), memory_order_relaxed);
        return;
    }
    if (r->flat) {
        memset(scratch, 0, sizeof(float) * (size_t)(r->g.sh * r->g.sw * r->PQ));
        for (size_t p = p0; p < p1; p++)
            dw_plane_flat(r, (int64_t)p, scratch);
        return;
    }
    for (size_t p = p0; p < p1; p++)
        dw_plane(r, (int64_t)p, scratch);
}

int sk_fast_run_conv_dw(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    dw_run r;
    memset(&r, 0, sizeof r);
    r.rows = pv->kc->dw_rows;
    if (pv->dw_flat && pv->kc->dw_flat.flat)
        r.fl = &pv->kc->dw_flat;
    /* the prepack pass picks this only for 2-D, one filter per channel */
    if (xs->rank != 4 || ws->rank != 4 || ws->dim[1] != 1 || ws->dim[0] != xs->dim[1] || !r.rows)
        return sk_run_conv_fused(n, in, nin, out, 1, ctx);
    int rc = sk_conv2d_setup(n, in, nin, out, ctx, &r.g);
    if (rc)
        return rc;
    size_t planes = (size_t)(r.g.N * r.g.C);
    if (planes == 0 || r.g.oH * r.g.oW == 0)
        return 0;
    if (dw_reg_setup(&r, pv)) { /* no scratch */
        sk_parallel_for_tid(ctx->pool, planes, 1, dw_task, &r);
        return 0;
    }
    r.flat = !dw_cl_setup(&r, pv->kc, pv->dw_cl_maxpx) && dw_flat_setup(&r);
    float *heap;
    r.scratch = sk_fast_scratch(n, ctx, sk_dw_scratch_floats(sk_pool_size(ctx->pool)), &heap);
    if (!r.scratch)
        return SK_ENOMEM;
    if (r.cl && dw_wtab_on(&r.g, r.cl->vw)) {
        float *t = r.scratch + 2 * DW_PAD_MAX; /* thread 0's split rows: unused by lanes */
        dw_wtab_fill(&r.g, r.cl->vw, t);
        r.wtab = t;
    }
    size_t items = r.cl ? (planes + (size_t)r.cl->vw - 1) / (size_t)r.cl->vw : planes;
    sk_parallel_for_tid(ctx->pool, items, 1, dw_task, &r);
    sk_free(heap);
    return 0;
}
