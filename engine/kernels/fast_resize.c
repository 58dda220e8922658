/* fast_resize.c — fast Resize of NCHW float32 tensors whose N and C are
 * kept and H, W resized (any scales or sizes), modes nearest and linear,
 * every coordinate transformation but tf_crop_and_resize, every
 * nearest_mode, opset-10 (Upsample) semantics. Anything else (cubic, axes,
 * keep_aspect_ratio_policy, antialias, other ranks) runs the reference.
 *
 * Why fast: the reference sums 4 double products per output through an
 * N-d tap walk on one thread. Here interpolation is separable: each input
 * row is resized along W once into a per-thread 2-row cache (consecutive
 * output rows reuse it: a 2x up-sample computes each W-resized row once
 * for two output rows), then the two H taps are blended with one vector
 * FMA per output vector. The exact 2x half-pixel linear case (U-Net's
 * bilinear up-sampling) resizes a row with sk_fast_uk.vup2_linear: shifted
 * vector loads and an interleave, one FMA per output. Rows are split over
 * the pool. */
#include <math.h>
#include <string.h>

#include "kernels/fast_ops.h"
#include "kernels/ref/nn_util.h"
#include "kernels/ref/resize_coord.h"
#include "threadpool.h"

enum { NR_PREFER_FLOOR, NR_PREFER_CEIL, NR_FLOOR, NR_CEIL, NR_SIMPLE };

typedef struct rz_geom {
    int64_t NC, H, W, oH, oW;
    int linear, coord, round;
    double scale[2], len[2]; /* H, W: output / input, and input * scale */
} rz_geom;

static int lookup(const char *s, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static const sk_tensor *present(const sk_tensor *const *in, int nin, int i)
{
    return i < nin && in[i] && sk_shape_numel(&in[i]->shape) > 0 ? in[i] : NULL;
}

static int rz_geometry(const sk_node *n, const sk_tensor *const *in, int nin,
                       const sk_tensor *out, rz_geom *g)
{
    static const char *const modes[] = {"nearest", "linear"};
    static const char *const coords[] = {"half_pixel",    "half_pixel_symmetric",
                                         "pytorch_half_pixel", "align_corners",
                                         "asymmetric",    "tf_half_pixel_for_nn"};
    static const char *const rounds[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                         "ceil"};
    if (nin < 1 || !in[0] || in[0]->dtype != SK_F32 || in[0]->shape.rank != 4 ||
        out[0].dtype != SK_F32 || out[0].shape.rank != 4 || sk_shape_numel(&in[0]->shape) <= 0)
        return 0;
    if (sk_attr_int(n, "antialias", 0) != 0 || sk_attr_find(n, "axes") ||
        strcmp(sk_attr_str(n, "keep_aspect_ratio_policy", "stretch"), "stretch"))
        return 0;
    const int legacy = n->opset > 0 && n->opset < 11;
    int mi = lookup(sk_attr_str(n, "mode", "nearest"), modes, 2);
    g->coord = lookup(sk_attr_str(n, "coordinate_transformation_mode",
                                  legacy ? "asymmetric" : "half_pixel"),
                      coords, 6);
    g->round = NR_SIMPLE;
    if (!legacy || sk_attr_find(n, "nearest_mode"))
        g->round = lookup(sk_attr_str(n, "nearest_mode", "round_prefer_floor"), rounds, 4);
    if (mi < 0 || g->coord < 0 || g->round < 0)
        return 0;
    g->linear = mi == 1;
    const sk_shape *xs = &in[0]->shape, *os = &out[0].shape;
    const sk_tensor *scales = present(in, nin, 2), *sizes = present(in, nin, 3);
    if (!scales == !sizes)
        return 0;
    const sk_tensor *given = scales ? scales : sizes;
    if (!given->data || given->shape.rank != 1 || given->shape.dim[0] != 4 ||
        given->dtype != (scales ? SK_F32 : SK_I64))
        return 0;
    for (int a = 0; a < 4; a++) {
        double s, len;
        if (scales) {
            s = ((const float *)scales->data)[a];
            len = s * (double)xs->dim[a];
            if (!(s > 0.0) || os->dim[a] != (int64_t)floor(len))
                return 0;
        } else {
            len = (double)((const int64_t *)sizes->data)[a];
            s = len / (double)xs->dim[a];
            if (os->dim[a] != (int64_t)len)
                return 0;
        }
        if (a < 2 && (s != 1.0 || os->dim[a] != xs->dim[a]))
            return 0; /* N and C must be kept as they are */
        if (a >= 2) {
            g->scale[a - 2] = s;
            g->len[a - 2] = len;
        }
    }
    g->NC = xs->dim[0] * xs->dim[1];
    g->H = xs->dim[2];
    g->W = xs->dim[3];
    g->oH = os->dim[2];
    g->oW = os->dim[3];
    return g->oH > 0 && g->oW > 0 && g->H < ((int64_t)1 << 31) && g->W < ((int64_t)1 << 31);
}

/* ---- tap tables (coordinates: kernels/ref/resize_coord.h, as the reference) -- */

static int64_t rz_nearest(int r, double x, int down)
{
    double f = floor(x);
    switch (r) {
    case NR_PREFER_FLOOR: return (int64_t)(x - f == 0.5 ? f : floor(x + 0.5));
    case NR_PREFER_CEIL: return (int64_t)(x - f == 0.5 ? f + 1.0 : floor(x + 0.5));
    case NR_FLOOR: return (int64_t)f;
    case NR_CEIL: return (int64_t)ceil(x);
    default: return (int64_t)(down ? ceil(x) : f);
    }
}

typedef struct rz_taps {
    int32_t *i0, *i1;
    float *w0, *w1;
} rz_taps;

static size_t rz_taps_floats(int64_t out) { return 4 * sk_fast_pad((size_t)out); }

static void rz_build(const rz_geom *g, int a, int64_t in, int64_t out, float *mem, rz_taps *t)
{
    size_t p = sk_fast_pad((size_t)out);
    t->i0 = (int32_t *)mem;
    t->i1 = (int32_t *)(mem + p);
    t->w0 = mem + 2 * p;
    t->w1 = mem + 3 * p;
    for (int64_t o = 0; o < out; o++) {
        double x = sk_resize_source((sk_resize_coord)g->coord, (double)o, g->scale[a], in, out,
                                    g->len[a], 0.0, 1.0);
        if (g->linear) {
            double xc = x < 0.0 ? 0.0 : (x > (double)(in - 1) ? (double)(in - 1) : x);
            int64_t i0 = (int64_t)floor(xc);
            t->i0[o] = (int32_t)i0;
            t->i1[o] = (int32_t)(i0 + 1 < in ? i0 + 1 : in - 1);
            t->w1[o] = (float)(xc - (double)i0);
            t->w0[o] = (float)(1.0 - (xc - (double)i0));
        } else {
            int64_t i = rz_nearest(g->round, x, g->scale[a] < 1.0);
            t->i0[o] = t->i1[o] = (int32_t)(i < 0 ? 0 : i >= in ? in - 1 : i);
            t->w0[o] = 1.0f;
            t->w1[o] = 0.0f;
        }
    }
}

/* The W taps are exactly those of a 2x half-pixel linear up-sample, which
 * vup2_linear computes (see fast_ops.h). */
static int rz_is_up2(const rz_taps *t, int64_t in, int64_t out)
{
    if (out != 2 * in)
        return 0;
    for (int64_t o = 0; o < out; o++) {
        int64_t i = o / 2;
        int ok;
        if (o == 0)
            ok = t->i0[o] == 0 && t->w1[o] == 0.0f;
        else if (o == out - 1)
            ok = t->i0[o] == in - 1 && t->w1[o] == 0.0f;
        else if (o % 2 == 0)
            ok = t->i0[o] == i - 1 && t->i1[o] == i && t->w1[o] == 0.75f && t->w0[o] == 0.25f;
        else
            ok = t->i0[o] == i && t->i1[o] == i + 1 && t->w1[o] == 0.25f && t->w0[o] == 0.75f;
        if (!ok)
            return 0;
    }
    return 1;
}

static size_t rz_scratch(const rz_geom *g, int nthreads)
{
    return (rz_taps_floats(g->oH) + rz_taps_floats(g->oW) +
            2 * sk_fast_pad((size_t)g->oW) * (size_t)(nthreads > 0 ? nthreads : 1)) *
           sizeof(float);
}

int sk_fast_plan_resize(const sk_kconfig *kc, const sk_node *n,
                        const sk_tensor *const *in, int nin, const sk_tensor *out,
                        int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    rz_geom g;
    *scratch = 0;
    if (nout < 1 || !rz_geometry(n, in, nin, out, &g))
        return 0;
    *scratch = rz_scratch(&g, nthreads);
    return 1;
}

/* ---- the run ------------------------------------------------------------------- */

typedef struct rz_job {
    const sk_fast_uk *uk;
    const rz_geom *g;
    rz_taps th, tw;
    int up2;
    const float *x;
    float *y, *rows; /* per-thread: two W-resized rows */
} rz_job;

/* Input row `key` (= nc * H + ih) resized along W, from the thread's
 * 2-slot cache; returns the slot. A miss refills the slot other than
 * `keep` (the one the caller still reads), else the one with the lower key:
 * keys only grow within a task. */
static int rz_row(const rz_job *j, float *slot[2], int64_t tag[2], int64_t key, int keep)
{
    if (tag[0] == key)
        return 0;
    if (tag[1] == key)
        return 1;
    int s = keep >= 0 ? 1 - keep : (tag[0] < tag[1] ? 0 : 1);
    tag[s] = key;
    const float *x = j->x + (size_t)key * (size_t)j->g->W;
    float *d = slot[s];
    const size_t oW = (size_t)j->g->oW;
    if (j->up2) {
        j->uk->vup2_linear((size_t)j->g->W, x, d);
    } else if (j->g->linear) {
        for (size_t o = 0; o < oW; o++)
            d[o] = fmaf(j->tw.w1[o], x[j->tw.i1[o]], j->tw.w0[o] * x[j->tw.i0[o]]);
    } else {
        for (size_t o = 0; o < oW; o++)
            d[o] = x[j->tw.i0[o]];
    }
    return s;
}

static void rz_range(void *arg, int tid, size_t b, size_t e)
{
    const rz_job *j = arg;
    const rz_geom *g = j->g;
    const size_t oW = (size_t)g->oW;
    float *slot[2] = {j->rows + (size_t)tid * 2 * sk_fast_pad(oW),
                      j->rows + ((size_t)tid * 2 + 1) * sk_fast_pad(oW)};
    int64_t tag[2] = {-1, -2};
    for (size_t r = b; r < e; r++) {
        int64_t nc = (int64_t)r / g->oH, oh = (int64_t)r % g->oH;
        float *y = j->y + r * oW;
        int sa = rz_row(j, slot, tag, nc * g->H + j->th.i0[oh], -1);
        if (j->th.w1[oh] == 0.0f && j->th.w0[oh] == 1.0f) {
            memcpy(y, slot[sa], oW * sizeof(float));
            continue;
        }
        int sb = rz_row(j, slot, tag, nc * g->H + j->th.i1[oh], sa);
        j->uk->vblend(oW, slot[sa], j->th.w0[oh], slot[sb], j->th.w1[oh], y);
    }
}

int sk_fast_run_resize(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    rz_geom g;
    const sk_fast_uk *uk = sk_fast_uk_of(ctx);
    if (!uk || nout < 1 || !rz_geometry(n, in, nin, out, &g))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    float *mem = sk_fast_ctx_scratch(ctx, rz_scratch(&g, sk_pool_size(ctx->pool)));
    if (!mem)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    rz_job j;
    memset(&j, 0, sizeof j);
    j.uk = uk;
    j.g = &g;
    rz_build(&g, 0, g.H, g.oH, mem, &j.th);
    rz_build(&g, 1, g.W, g.oW, mem + rz_taps_floats(g.oH), &j.tw);
    j.up2 = g.linear && rz_is_up2(&j.tw, g.W, g.oW);
    j.x = in[0]->data;
    j.y = out[0].data;
    j.rows = mem + rz_taps_floats(g.oH) + rz_taps_floats(g.oW);
    size_t grain = (size_t)g.oW < 16384 ? 16384 / (size_t)g.oW : 1;
    sk_parallel_for_tid(ctx->pool, (size_t)(g.NC * g.oH), grain, rz_range, &j);
    return 0;
}
