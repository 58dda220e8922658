/* fast_conv_s2.c — the direct NCHW strategy of _ConvFused (SK_CONV_DIRECT,
 * "direct-nchw", issue 24 session 16): 2-D, group 1, stride 1 or 2 on both
 * axes, dilation 1, at most SK_CDIR_MAX_TAPS taps, chosen at load by
 * passes/prepack.c (use_cdir) for the ResNet stem (7x7 s2, 3 channels).
 *
 * Tasks are (image, band of output rows). A task first copies the padded
 * input rows its band reads into per-thread scratch, split into the
 * stride's phases (for s = 2: even and odd padded columns, each row
 * de-interleaved once — the im2col gather did it once per tap, 49 times per
 * input value for the stem), with the pads written out as zeros; then the
 * level's band loop (sk_kconfig.cdir_band, fast_cdir_uk.h) runs every
 * output channel over the band with bias / residual / clamp fused. W is
 * read as given (the strategy row's reads_w), nothing is packed. Bands are
 * as tall as keeps a thread's phase rows within CDIR_BAND_FLOATS and still
 * gives every thread a few tasks at batch 1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast_conv.h"
#include "threadpool.h"

#define CDIR_BAND_FLOATS ((size_t)32 << 10) /* 128 KiB of phase rows a thread */

typedef struct cdir_geom {
    size_t ldp;   /* floats a phase row */
    int64_t nb;   /* output rows a band */
    int64_t bands;
} cdir_geom;

static size_t cdir_band_floats(int64_t C, int64_t nb, int64_t s, int64_t kh, size_t ldp)
{
    return (size_t)C * (size_t)((nb - 1) * s + kh) * (size_t)s * ldp;
}

/* Band height and phase row length of an output oH x oW at N images, T
 * threads, vectors of vw pixels. */
static cdir_geom cdir_plan(int64_t C, int64_t kh, int64_t kw, int64_t s, int64_t N, int64_t oH,
                           int64_t oW, int vw, int T)
{
    cdir_geom g;
    size_t nvr = (size_t)((oW + vw - 1) / vw);
    g.ldp = (nvr * (size_t)vw + (size_t)((kw - 1) / s) + 15) & ~(size_t)15;
    /* tasks at least 4 per thread where the batch allows */
    int64_t want = 4L * T, maxnb = oH;
    if (N < want)
        maxnb = oH * N / want > 1 ? oH * N / want : 1;
    g.nb = 1;
    while (g.nb < maxnb && cdir_band_floats(C, g.nb + 1, s, kh, g.ldp) <= CDIR_BAND_FLOATS)
        g.nb++;
    g.bands = (oH + g.nb - 1) / g.nb;
    return g;
}

size_t sk_conv_direct_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads)
{
    if (!out || out->shape.rank != 4 || !pv->kc || !pv->kc->cdir_vw)
        return 0;
    const int T = nthreads > 0 ? nthreads : 1;
    cdir_geom g = cdir_plan(pv->cdir.C, pv->cdir.kh, pv->cdir.kw, pv->cdir.s, out->shape.dim[0],
                            out->shape.dim[2], out->shape.dim[3], pv->kc->cdir_vw, T);
    return (size_t)T * round16f(cdir_band_floats(pv->cdir.C, g.nb, pv->cdir.s, pv->cdir.kh,
                                                 g.ldp));
}

typedef struct cdir_run {
    sk_conv2d g;
    cdir_geom geo;
    sk_cdir_band_fn band;
    float *scratch;
    size_t per_thread;
} cdir_run;

/* Phase p of padded input row ih (-1 or H..: a pad row) of plane xc into d
 * (ldp floats): d[j] = x[j * s + p - pl] where that is inside the row,
 * else 0. */
static void cdir_phase_row(float *d, size_t ldp, const float *xc, int64_t ih, const sk_conv2d *g,
                           int64_t p)
{
    sk_pad_row(d, ldp, ih < 0 || ih >= g->H ? NULL : xc + ih * g->W, g->W, g->pl, g->sw, p);
}

static void cdir_task(void *arg, int tid, size_t u0, size_t u1)
{
    const cdir_run *r = arg;
    const sk_conv2d *g = &r->g;
    const int64_t s = g->sh;
    float *ph = r->scratch + (size_t)tid * r->per_thread;
    for (size_t u = u0; u < u1; u++) {
        int64_t img = (int64_t)(u / (size_t)r->geo.bands), band = (int64_t)(u % (size_t)r->geo.bands);
        int64_t oh0 = band * r->geo.nb;
        int64_t nrows = g->oH - oh0 < r->geo.nb ? g->oH - oh0 : r->geo.nb;
        int64_t rows = (nrows - 1) * s + g->kh;
        const float *x = g->x + img * g->C * g->H * g->W;
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t rr = 0; rr < rows; rr++)
                for (int64_t p = 0; p < s; p++)
                    cdir_phase_row(ph + (size_t)((c * rows + rr) * s + p) * r->geo.ldp,
                                   r->geo.ldp, x + c * g->H * g->W, oh0 * s + rr - g->pt, g, p);
        const size_t plane = (size_t)(g->oH * g->oW),
                     y0 = (size_t)img * (size_t)g->M * plane + (size_t)(oh0 * g->oW);
        sk_cdir_band b = {ph, r->geo.ldp, (size_t)rows, (int)s, (int)g->C, (int)g->kh,
                          (int)g->kw, g->w, g->bias, g->res ? g->res + y0 : NULL,
                          (size_t)g->M, g->y + y0, plane, (size_t)g->oW, (size_t)nrows,
                          g->lo, g->hi};
        r->band(&b);
    }
}

int sk_fast_run_conv_direct(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    /* prepack.c picks this only for what the loop covers; a model whose
     * shapes differ at run time (or W released) takes the reference */
    if (xs->rank != 4 || ws->rank != 4 || ws->dim[1] != xs->dim[1] || !in[1]->data ||
        !pv->kc->cdir_band || sk_attr_int(n, "group", 1) != 1)
        return sk_run_conv_fused(n, in, nin, out, 1, ctx);
    cdir_run r;
    memset(&r, 0, sizeof r);
    int rc = sk_conv2d_setup(n, in, nin, out, ctx, &r.g);
    if (rc)
        return rc;
    const sk_conv2d *g = &r.g;
    if (g->sh != g->sw || (g->sh != 1 && g->sh != 2) || g->dh != 1 || g->dw != 1 ||
        g->kh * g->kw > SK_CDIR_MAX_TAPS)
        return sk_run_conv_fused(n, in, nin, out, 1, ctx);
    if (g->N * g->M * g->oH * g->oW == 0)
        return 0;
    const int T = sk_pool_size(ctx->pool);
    r.geo = cdir_plan(g->C, g->kh, g->kw, g->sh, g->N, g->oH, g->oW, pv->kc->cdir_vw, T);
    r.band = pv->kc->cdir_band;
    r.per_thread = round16f(cdir_band_floats(g->C, r.geo.nb, g->sh, g->kh, r.geo.ldp));
    float *heap;
    r.scratch = sk_fast_scratch(n, ctx, r.per_thread * (size_t)T, &heap);
    if (!r.scratch)
        return SK_ENOMEM;
    sk_parallel_for_tid(ctx->pool, (size_t)(g->N * r.geo.bands), 1, cdir_task, &r);
    sk_free(heap);
    return 0;
}
