/* fast_conv_s2b.c — the broadcast direct strategy of _ConvFused
 * (SK_CONV_DIRECT_BC, "direct-bcast", issue 24 session 16): 2-D, group 1,
 * stride 2 on both axes, dilation 1; chosen at load by passes/prepack.c
 * (use_cdirb) for ResNet's stride-2 3x3 convs of more than 4 input
 * channels (1x1 stride-2 convs only under =force: measured 0.85-1.0x of
 * im2col-gemm there).
 *
 * Per image the threads first copy X into a padded buffer (the pads
 * written as zeros, one plane of (oH-1)*2 + kh rows of (oW-1)*2 + kw
 * columns per channel, plus slack) — one pass over X, where im2col-gemm
 * gathered every input value kh*kw/4 times into column panels. Then tasks
 * of (block of cdirb_nc output channels, output row) run the level's tile
 * (sk_kconfig.cdirb_tile, fast_cdirb_uk.h) over the row: cdirb_pt pixels x
 * cdirb_nc channels with the channels in the lanes, per tap k one weight
 * row of W' (packed at load as the GEMM's B panels, like pixel rows) and
 * the pixels' input values broadcast from the padded copy at koff[k]. The
 * tile comes out pixel-major; the level's transpose_epi writes it to the
 * NCHW output with bias, residual and clamp. A row wider than a tile ends
 * with a tile moved left to end at the row's end, of which only the new
 * pixels are stored.
 *
 * Session 17 (s2r), the K-sliced order: where a block's weights (K x nc
 * floats) exceed SKIPSERVE_CONV_BCAST_KB (default 256 KB; ResNet-50's
 * 512->512 @7x7 block is 1.18 MB, more than Zen's 1 MB L2, and was
 * re-read from L3 for each of its 7 rows), a task is one block over a
 * group of rows: per K slice that fits the budget, every row's tiles of
 * the group add the slice to their sums (kept in the thread's tile
 * buffers), so a slice is read from L3 once and then from L2 for each
 * row. Each output is still one FMA chain in k order: the bits equal the
 * unsliced order's. SKIPSERVE_CONV_BCAST_ORDER=0 (read per run) keeps the
 * old (block, row) tasks. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast_conv.h"
#include "switches.h"
#include "threadpool.h"

/* runs in the K-sliced order (fast_conv.h; tests) */
static _Atomic size_t sliced_runs;
size_t sk_conv_direct_bc_sliced_runs(void)
{
    return atomic_load_explicit(&sliced_runs, memory_order_relaxed);
}

/* runs in the row-outer order (SKIPSERVE_CONV_BCAST_ROWS=1; tests) */
static _Atomic size_t rows_runs;
size_t sk_conv_direct_bc_rows_runs(void)
{
    return atomic_load_explicit(&rows_runs, memory_order_relaxed);
}

typedef struct cdirb_geom {
    int64_t Hp, Wp;   /* padded plane */
    size_t plane;     /* floats a padded channel plane */
    size_t xfloats;   /* the padded copy: C planes + slack */
    size_t tfloats;   /* a tile */
    size_t tbuf;      /* a thread's tiles: oH rows of row tiles */
} cdirb_geom;

/* The level's tile for rows of oW pixels: the narrower second tile where
 * a row is narrower than the first (a 7-wide row would fill half of a
 * 14-pixel tile). */
typedef struct cdirb_tile {
    sk_cdirb_tile_fn fn;
    int64_t pt, nc;
} cdirb_tile;
static cdirb_tile cdirb_pick(const sk_kconfig *kc, int64_t oW)
{
    if (kc->cdirb_tile2 && oW < kc->cdirb_pt)
        return (cdirb_tile){kc->cdirb_tile2, kc->cdirb_pt2, kc->cdirb_nc2};
    return (cdirb_tile){kc->cdirb_tile, kc->cdirb_pt, kc->cdirb_nc};
}

/* tiles a row of oW pixels: the last one moved left where oW >= pt */
static int64_t cdirb_ntiles(int64_t oW, int64_t pt) { return oW < pt ? 1 : (oW + pt - 1) / pt; }

static cdirb_geom cdirb_plan(const sk_kconfig *kc, int64_t C, int64_t kh, int64_t kw, int64_t oH,
                             int64_t oW)
{
    const cdirb_tile tl = cdirb_pick(kc, oW);
    cdirb_geom g;
    g.Hp = (oH - 1) * 2 + kh;
    g.Wp = (oW - 1) * 2 + kw;
    g.plane = (size_t)(g.Hp * g.Wp);
    /* a tile reads up to 2 * (pt - 1) floats past its row's last pixel */
    g.xfloats = round16f((size_t)C * g.plane + 2 * (size_t)tl.pt + 16);
    g.tfloats = round16f((size_t)tl.pt * (size_t)tl.nc);
    g.tbuf = (size_t)oH * (size_t)cdirb_ntiles(oW, tl.pt) * g.tfloats;
    return g;
}

/* koff (K int32, as floats), the padded copy, T tile buffers of oH rows of
 * tiles each (the K-sliced order keeps a row group's sums there; the
 * (block, row) order uses the first tile) */
static size_t cdirb_floats(const cdirb_geom *g, int64_t K, int T)
{
    return round16f((size_t)K) + g->xfloats + (size_t)T * g->tbuf;
}

size_t sk_conv_direct_bc_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads)
{
    if (!out || out->shape.rank != 4 || !pv->kc || !pv->kc->cdirb_tile)
        return 0;
    cdirb_geom g = cdirb_plan(pv->kc, pv->cdir.C, pv->cdir.kh, pv->cdir.kw, out->shape.dim[2],
                              out->shape.dim[3]);
    return cdirb_floats(&g, pv->cdir.C * pv->cdir.kh * pv->cdir.kw, nthreads > 0 ? nthreads : 1);
}

typedef struct cdirb_run {
    const sk_conv_priv *pv;
    const sk_fast_uk *ops;
    sk_conv2d g;
    cdirb_geom geo;
    cdirb_tile tl;
    sk_cdirb_tile_fn acc;   /* tl.fn adding to t (the K-sliced order) */
    int64_t img, K, mblocks;
    int64_t kslice, rgroup; /* the K-sliced order: k rows a slice, rows a task */
    const int32_t *koff;
    int rows_outer; /* (block, row) tasks in (row, block) order, pads by rows */
    float *xp, *tiles;
    const float *xs;  /* what the tiles read: xp, or X's image in place */
    size_t ldx;       /* its row stride */
    int inplace;
} cdirb_run;

/* Planes [c0, c1) x padded rows [y0, y1) of the padded copy of image
 * r->img (the plain padded rows: stride 1, phase 0) */
static void cdirb_pad_block(const cdirb_run *r, size_t c0, size_t c1, size_t y0, size_t y1)
{
    const sk_conv2d *g = &r->g;
    const int64_t Wp = r->geo.Wp;
    for (size_t c = c0; c < c1; c++) {
        const float *xc = g->x + ((size_t)r->img * (size_t)g->C + c) * (size_t)(g->H * g->W);
        float *d = r->xp + c * r->geo.plane + y0 * (size_t)Wp;
        for (size_t y = y0; y < y1; y++, d += Wp) {
            int64_t ih = (int64_t)y - g->pt;
            sk_pad_row(d, (size_t)Wp, ih < 0 || ih >= g->H ? NULL : xc + ih * g->W, g->W, g->pl,
                       1, 0);
        }
    }
}

/* Tasks of channels: plane c of the padded copy of image r->img. */
static void cdirb_pad(void *arg, int tid, size_t c0, size_t c1)
{
    (void)tid;
    const cdirb_run *r = arg;
    cdirb_pad_block(r, c0, c1, 0, (size_t)r->geo.Hp);
}

/* Tasks of padded rows: rows [y0, y1) of every plane of the padded copy
 * (rows_outer: the thread that pads a band of rows is the one whose
 * output rows read it). */
static void cdirb_pad_rows(void *arg, int tid, size_t y0, size_t y1)
{
    (void)tid;
    const cdirb_run *r = arg;
    cdirb_pad_block(r, 0, (size_t)r->g.C, y0, y1);
}

/* Tasks u = (block of channels, output row), the block outer so that
 * neighbouring tasks share the block's weights; with rows_outer the row
 * outer (u = oy * mblocks + mb), so that each thread's share is a band of
 * output rows, reading the band of padded rows it padded itself. */
static void cdirb_rows(void *arg, int tid, size_t u0, size_t u1)
{
    const cdirb_run *r = arg;
    const sk_conv2d *g = &r->g;
    const int64_t pt = r->tl.pt, nc = r->tl.nc, nr = r->pv->cfg->nr;
    const int64_t panels = (g->M + nr - 1) / nr;
    float *t = r->tiles + (size_t)tid * r->geo.tbuf;
    const size_t plane = (size_t)(g->oH * g->oW), pstep = (size_t)(r->K * nr);
    for (size_t u = u0; u < u1; u++) {
        int64_t mb = (int64_t)(u / (size_t)g->oH), oy = (int64_t)(u % (size_t)g->oH);
        if (r->rows_outer) {
            mb = (int64_t)(u % (size_t)r->mblocks);
            oy = (int64_t)(u / (size_t)r->mblocks);
        }
        int64_t m0 = mb * nc, mcols = g->M - m0 < nc ? g->M - m0 : nc;
        /* W' panels are nr columns wide: block mb starts at panel m0 / nr */
        const float *w = r->pv->wt.data + (size_t)(m0 / nr) * pstep;
        /* a block of several panels past the last: its lanes re-read this
         * panel and are not stored */
        const size_t wstep = m0 / nr + 1 < panels ? pstep : 0;
        const size_t ybase = ((size_t)r->img * (size_t)g->M + (size_t)m0) * plane +
                             (size_t)(oy * g->oW);
        for (int64_t ox = 0, done = 0; done < g->oW; ox += pt) {
            if (ox + pt > g->oW && g->oW >= pt)
                ox = g->oW - pt; /* the last tile ends at the row's end */
            const float *x = r->xs + (size_t)(oy * 2) * r->ldx + (size_t)(ox * 2);
            r->tl.fn((size_t)r->K, x, r->koff, w, (size_t)nr, wstep, t, (size_t)nc);
            int64_t skip = done - ox, np = (ox + pt < g->oW ? ox + pt : g->oW) - done;
            r->ops->transpose_epi((size_t)np, (size_t)mcols, t + (size_t)(skip * nc), (size_t)nc,
                                  g->y + ybase + (size_t)done, plane,
                                  g->bias ? g->bias + m0 : NULL,
                                  g->res ? g->res + ybase + (size_t)done : NULL, g->lo, g->hi);
            done += np;
        }
    }
}

/* Tasks u = (block of channels, group of rgroup rows), the K-sliced order
 * (header): per slice of kslice k rows, every tile of the group's rows adds
 * the slice to its sums in the thread's tile buffers; after the last
 * slice the tiles are stored as cdirb_rows stores them. */
static void cdirb_sliced(void *arg, int tid, size_t u0, size_t u1)
{
    const cdirb_run *r = arg;
    const sk_conv2d *g = &r->g;
    const int64_t pt = r->tl.pt, nc = r->tl.nc, nr = r->pv->cfg->nr;
    const int64_t panels = (g->M + nr - 1) / nr, nt = cdirb_ntiles(g->oW, pt);
    const int64_t ngroups = (g->oH + r->rgroup - 1) / r->rgroup;
    float *tb = r->tiles + (size_t)tid * r->geo.tbuf;
    const size_t plane = (size_t)(g->oH * g->oW), pstep = (size_t)(r->K * nr);
    for (size_t u = u0; u < u1; u++) {
        int64_t mb = (int64_t)(u / (size_t)ngroups), gi = (int64_t)(u % (size_t)ngroups);
        int64_t y0 = gi * r->rgroup, y1 = y0 + r->rgroup < g->oH ? y0 + r->rgroup : g->oH;
        int64_t m0 = mb * nc, mcols = g->M - m0 < nc ? g->M - m0 : nc;
        const float *w = r->pv->wt.data + (size_t)(m0 / nr) * pstep;
        const size_t wstep = m0 / nr + 1 < panels ? pstep : 0;
        for (int64_t k0 = 0; k0 < r->K; k0 += r->kslice) {
            const int64_t kn = r->K - k0 < r->kslice ? r->K - k0 : r->kslice;
            const sk_cdirb_tile_fn fn = k0 ? r->acc : r->tl.fn;
            for (int64_t oy = y0; oy < y1; oy++)
                for (int64_t i = 0; i < nt; i++) {
                    int64_t ox = i * pt;
                    if (ox + pt > g->oW && g->oW >= pt)
                        ox = g->oW - pt;
                    const float *x = r->xs + (size_t)(oy * 2) * r->ldx + (size_t)(ox * 2);
                    fn((size_t)kn, x, r->koff + k0, w + (size_t)(k0 * nr), (size_t)nr, wstep,
                       tb + (size_t)((oy - y0) * nt + i) * r->geo.tfloats, (size_t)nc);
                }
        }
        for (int64_t oy = y0; oy < y1; oy++) {
            const size_t ybase = ((size_t)r->img * (size_t)g->M + (size_t)m0) * plane +
                                 (size_t)(oy * g->oW);
            for (int64_t i = 0; i < nt; i++) {
                int64_t ox = i * pt, done = i * pt;
                if (ox + pt > g->oW && g->oW >= pt)
                    ox = g->oW - pt;
                int64_t skip = done - ox, np = (done + pt < g->oW ? done + pt : g->oW) - done;
                const float *t = tb + (size_t)((oy - y0) * nt + i) * r->geo.tfloats;
                r->ops->transpose_epi((size_t)np, (size_t)mcols, t + (size_t)(skip * nc),
                                      (size_t)nc, g->y + ybase + (size_t)done, plane,
                                      g->bias ? g->bias + m0 : NULL,
                                      g->res ? g->res + ybase + (size_t)done : NULL, g->lo,
                                      g->hi);
            }
        }
    }
}

/* The K-sliced order's shape (header), or kslice = 0 for the (block, row)
 * order: slices of at most SKIPSERVE_CONV_BCAST_KB (default 256, or the
 * level's cdirb_kb for the wide tile: 64 on Intel) of a block's weights
 * (read per run, so bench/ab_inproc.c can switch it), and row groups
 * enough that every thread has about 4 tasks (8 blocks at 2 threads: one
 * block over all its rows a task; at 3 threads, 2 groups a block). */
static void cdirb_order(cdirb_run *r, int T)
{
    r->kslice = 0;
    r->rgroup = r->g.oH;
    const char *o = sk_sw()->conv_bcast_order;
    if ((o && !strcmp(o, "0")) || !r->acc)
        return;
    /* the level's budget for the wide tile where config.c set one (Intel,
     * session 20: 64 KB), else 256 KB */
    long kb = r->tl.fn == r->pv->kc->cdirb_tile && r->pv->kc->cdirb_kb > 0 ? r->pv->kc->cdirb_kb
                                                                           : 256;
    const char *e = sk_sw()->conv_bcast_kb;
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == '\0' && v >= 4 && v <= (1L << 20))
            kb = v;
    }
    const int64_t rowbytes = r->tl.nc * (int64_t)sizeof(float); /* a k row of a block */
    const int64_t fit = kb * 1024 / rowbytes;
    if (r->K <= fit)
        return; /* the block fits: the (block, row) order */
    const int64_t ns = (r->K + fit - 1) / fit;
    r->kslice = (r->K + ns - 1) / ns; /* even slices */
    int64_t groups = (4 * (int64_t)T + r->mblocks - 1) / r->mblocks;
    if (groups > r->g.oH)
        groups = r->g.oH;
    if (groups < 1)
        groups = 1;
    r->rgroup = (r->g.oH + groups - 1) / groups;
}

int sk_fast_run_conv_direct_bc(const sk_node *n, const sk_tensor *const *in, int nin,
                               sk_tensor *out, sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    if (xs->rank != 4 || ws->rank != 4 || ws->dim[1] != xs->dim[1] || !pv->kc->cdirb_tile ||
        sk_attr_int(n, "group", 1) != 1)
        return sk_kfail(ctx, n, SK_EINVAL, "direct-bcast: not a 2-D ungrouped conv");
    cdirb_run r;
    memset(&r, 0, sizeof r);
    int rc = sk_conv2d_setup(n, in, nin, out, ctx, &r.g);
    if (rc)
        return rc;
    const sk_conv2d *g = &r.g;
    r.K = g->C * g->kh * g->kw;
    /* prepack.c picks this only for stride 2, dilation 1 and W' of this K */
    if (g->sh != 2 || g->sw != 2 || g->dh != 1 || g->dw != 1 || r.K != pv->wt.K ||
        g->M != pv->wt.N || r.K > INT32_MAX / 4)
        return sk_kfail(ctx, n, SK_EINVAL, "packed weights do not match W");
    if (g->N * g->M * g->oH * g->oW == 0)
        return 0;
    const int T = sk_pool_size(ctx->pool);
    r.pv = pv;
    r.ops = &pv->kc->ops;
    r.geo = cdirb_plan(pv->kc, g->C, g->kh, g->kw, g->oH, g->oW);
    if ((int64_t)r.geo.plane * g->C > INT32_MAX || g->C * g->H * g->W > INT32_MAX)
        return sk_kfail(ctx, n, SK_EINVAL, "direct-bcast: input too large");
    float *heap, *s = sk_fast_scratch(n, ctx, cdirb_floats(&r.geo, r.K, T), &heap);
    if (!s)
        return SK_ENOMEM;
    /* no pads to write out (a 1x1 s2 down-sampling conv) and rows at least
     * a tile wide (so no tile reads past its row): the tiles read X in
     * place, no copy */
    r.tl = cdirb_pick(pv->kc, g->oW);
    r.acc = r.tl.fn == pv->kc->cdirb_tile ? pv->kc->cdirb_tile_acc : pv->kc->cdirb_tile2_acc;
    r.inplace = g->pt == 0 && g->pl == 0 && (g->oH - 1) * 2 + g->kh <= g->H &&
                (g->oW - 1) * 2 + g->kw <= g->W && g->oW >= r.tl.pt;
    const size_t plane = r.inplace ? (size_t)(g->H * g->W) : r.geo.plane;
    r.ldx = r.inplace ? (size_t)g->W : (size_t)r.geo.Wp;
    int32_t *koff = (int32_t *)s;
    for (int64_t c = 0, k = 0; c < g->C; c++)
        for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++, k++)
                koff[k] = (int32_t)((size_t)c * plane + (size_t)ky * r.ldx + (size_t)kx);
    r.koff = koff;
    r.xp = s + round16f((size_t)r.K);
    r.tiles = r.xp + r.geo.xfloats;
    /* the slack past the planes: read by tiles past the last row, never
     * stored; zeros keep those lanes finite */
    memset(r.xp + (size_t)g->C * r.geo.plane, 0,
           (r.geo.xfloats - (size_t)g->C * r.geo.plane) * sizeof(float));
    r.mblocks = (g->M + r.tl.nc - 1) / r.tl.nc;
    cdirb_order(&r, T);
    const int64_t ngroups = (g->oH + r.rgroup - 1) / r.rgroup;
    /* opt-in (session 19 c1i, SKIPSERVE_CONV_BCAST_ROWS=1, read per run):
     * the (block, row) tasks on 2+ threads row outer, the padded copy by
     * bands of rows, so each thread reads the rows it padded itself rather
     * than half of its input from the other core's caches. On the session
     * 19 Xeon ResNet-50's 3x3/2 128 -> 128 @28 step ran 1.28-1.32x faster
     * at b1 2T (per-step profiles), but the whole model read 0.993-0.997x
     * and ResNet-18 0.98-0.99x in process (bench/RESULTS.md): not the
     * default. Same bits (each tile computed alike). */
    {
        const char *ro = sk_sw()->conv_bcast_rows;
        r.rows_outer = T > 1 && !r.kslice && ro && !strcmp(ro, "1");
    }
    if (r.kslice)
        atomic_fetch_add_explicit(&sliced_runs, 1, memory_order_relaxed);
    if (r.rows_outer)
        atomic_fetch_add_explicit(&rows_runs, 1, memory_order_relaxed);
    for (r.img = 0; r.img < g->N; r.img++) {
        r.xs = r.inplace ? g->x + (size_t)r.img * (size_t)(g->C * g->H * g->W) : r.xp;
        if (!r.inplace && r.rows_outer)
            sk_parallel_for_tid(ctx->pool, (size_t)r.geo.Hp, 1, cdirb_pad_rows, &r);
        else if (!r.inplace)
            sk_parallel_for_tid(ctx->pool, (size_t)g->C, 1, cdirb_pad, &r);
        if (r.kslice)
            sk_parallel_for_tid(ctx->pool, (size_t)(r.mblocks * ngroups), 1, cdirb_sliced, &r);
        else
            sk_parallel_for_tid(ctx->pool, (size_t)(r.mblocks * g->oH), 1, cdirb_rows, &r);
    }
    sk_free(heap);
    return 0;
}
