/* resize.c — reference Resize (and Upsample, which the loader rewrites into
 * it): nearest, n-linear and cubic modes; every coordinate transformation
 * and nearest rounding mode; scales or sizes, optional axes and
 * keep_aspect_ratio_policy; opset-10 semantics for older nodes.
 *
 * Interpolation is separable: each axis gets a table of (input index, weight)
 * taps per output coordinate, and an output element sums the product of taps
 * over the axes that really change. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "resize_coord.h"
#include "ops.h"

typedef enum { RS_NEAREST, RS_LINEAR, RS_CUBIC } rs_mode;
typedef sk_resize_coord rs_coord;
typedef enum { NR_PREFER_FLOOR, NR_PREFER_CEIL, NR_FLOOR, NR_CEIL, NR_SIMPLE } rs_round;

typedef struct rs_geom {
    int rank;
    rs_mode mode;
    rs_coord coord;
    rs_round round;
    double scale[SK_MAX_RANK]; /* output / input per axis, as the spec defines it */
    double len[SK_MAX_RANK];   /* output length before flooring: input * scale */
    int resized[SK_MAX_RANK];  /* axis named by axes (others keep scale 1) */
    sk_shape out;
} rs_geom;

static int lookup(const char *s, const char *const *names, int count)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

static int rs_attrs(const sk_node *n, sk_kctx *ctx, rs_geom *g)
{
    static const char *const modes[] = {"nearest", "linear", "cubic"};
    static const char *const coords[] = {"half_pixel",   "half_pixel_symmetric",
                                         "pytorch_half_pixel", "align_corners",
                                         "asymmetric",   "tf_half_pixel_for_nn",
                                         "tf_crop_and_resize"};
    static const char *const rounds[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                         "ceil"};
    /* Resize-10 had neither attribute: coordinates were asymmetric, and
     * nearest took floor when upsampling and ceil when downsampling. */
    const int legacy = n->opset > 0 && n->opset < 11;
    const char *m = sk_attr_str(n, "mode", "nearest");
    const char *c = sk_attr_str(n, "coordinate_transformation_mode",
                                legacy ? "asymmetric" : "half_pixel");
    int mi = lookup(m, modes, 3), ci = lookup(c, coords, 7), ri = NR_SIMPLE;
    if (!legacy || sk_attr_find(n, "nearest_mode"))
        ri = lookup(sk_attr_str(n, "nearest_mode", "round_prefer_floor"), rounds, 4);
    if (mi < 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "mode '%s' is not nearest, linear or cubic", m);
    if (ci < 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "coordinate_transformation_mode '%s' is unknown",
                        c);
    if (ri < 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "nearest_mode '%s' is unknown",
                        sk_attr_str(n, "nearest_mode", ""));
    if (sk_attr_int(n, "antialias", 0) != 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "antialias = 1 is not supported");
    g->mode = (rs_mode)mi;
    g->coord = (rs_coord)ci;
    g->round = (rs_round)ri;
    return 0;
}

/* A non-empty optional input, or NULL. */
static const sk_tensor *present(const sk_tensor *const *in, int nin, int i)
{
    if (i >= nin || !in[i])
        return NULL;
    return sk_shape_numel(&in[i]->shape) > 0 ? in[i] : NULL;
}

static int rs_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                    sk_kctx *ctx, rs_geom *g)
{
    int rc;
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs input X and one output");
    if ((rc = rs_attrs(n, ctx, g)))
        return rc;
    /* 8-bit data (a QDQ model's, passes/qdq_ops.c): nearest only, an index
     * copy of the bytes; tf_crop_and_resize's float extrapolation_value has
     * no byte value */
    if (in[0]->dtype == SK_U8 || in[0]->dtype == SK_I8) {
        if (g->mode != RS_NEAREST || g->coord == CT_TF_CROP_AND_RESIZE)
            return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                            "8-bit X: only nearest without tf_crop_and_resize");
    } else if ((rc = sk_nn_need_f32(n, ctx, in[0], "X"))) {
        return rc;
    }
    const sk_shape *xs = &in[0]->shape;
    char s1[96];
    g->rank = xs->rank;
    if (sk_shape_numel(xs) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "X %s is too large", sk_shape_str(xs, s1, sizeof s1));

    /* axes (opset 18): which axes scales / sizes / roi describe. */
    int axes[SK_MAX_RANK], naxes = xs->rank;
    const int64_t *av;
    int na = sk_attr_ints(n, "axes", &av);
    if (na > 0) {
        if (na > xs->rank)
            return sk_kfail(ctx, n, SK_ESHAPE, "%d axes for X of rank %d", na, xs->rank);
        naxes = na;
        for (int i = 0; i < na; i++)
            if ((axes[i] = sk_nn_axis(av[i], xs->rank)) < 0)
                return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range", (long long)av[i]);
    } else {
        for (int i = 0; i < naxes; i++)
            axes[i] = i;
    }
    g->out = *xs;
    for (int i = 0; i < xs->rank; i++) {
        g->scale[i] = 1.0;
        g->len[i] = (double)xs->dim[i];
        g->resized[i] = 0;
    }
    for (int i = 0; i < naxes; i++)
        g->resized[axes[i]] = 1;

    const sk_tensor *scales = present(in, nin, 2), *sizes = present(in, nin, 3);
    if (scales && sizes)
        return sk_kfail(ctx, n, SK_EINVAL, "only one of scales and sizes may be given");
    if (!scales && !sizes)
        return sk_kfail(ctx, n, SK_EINVAL, "needs scales or sizes");
    const sk_tensor *given = scales ? scales : sizes;
    if (!given->data)
        return sk_kfail(ctx, n, SK_ENEEDVALUE, "the output shape depends on the value of %s, "
                        "which is not known before the run", scales ? "scales" : "sizes");
    if (given->shape.rank != 1 || given->shape.dim[0] != naxes)
        return sk_kfail(ctx, n, SK_ESHAPE, "%s has %s values, expected %d",
                        scales ? "scales" : "sizes", sk_shape_str(&given->shape, s1, sizeof s1),
                        naxes);
    if (scales) {
        if (scales->dtype != SK_F32)
            return sk_kfail(ctx, n, SK_EUNSUPPORTED, "scales must be float32");
        const float *sv = scales->data;
        for (int i = 0; i < naxes; i++) {
            int a = axes[i];
            if (!(sv[i] > 0.0f) || !isfinite(sv[i]) ||
                (double)sv[i] * (double)xs->dim[a] > (double)SK_MAX_NUMEL)
                return sk_kfail(ctx, n, SK_EINVAL, "scale %g for axis %d", (double)sv[i], a);
            g->scale[a] = sv[i];
            g->len[a] = (double)sv[i] * (double)xs->dim[a];
            g->out.dim[a] = (int64_t)floor(g->len[a]);
        }
    } else {
        if (sizes->dtype != SK_I64)
            return sk_kfail(ctx, n, SK_EUNSUPPORTED, "sizes must be int64");
        const int64_t *zv = sizes->data;
        const char *policy = sk_attr_str(n, "keep_aspect_ratio_policy", "stretch");
        int keep = strcmp(policy, "stretch") != 0;
        double common = 0.0;
        if (keep && strcmp(policy, "not_larger") && strcmp(policy, "not_smaller"))
            return sk_kfail(ctx, n, SK_EUNSUPPORTED, "keep_aspect_ratio_policy '%s'", policy);
        for (int i = 0; i < naxes; i++) {
            int a = axes[i];
            if (zv[i] < 0 || zv[i] > SK_MAX_NUMEL || (zv[i] > 0 && xs->dim[a] == 0))
                return sk_kfail(ctx, n, SK_EINVAL, "size %lld for axis %d of X %s",
                                (long long)zv[i], a, sk_shape_str(xs, s1, sizeof s1));
            double s = xs->dim[a] ? (double)zv[i] / (double)xs->dim[a] : 1.0;
            if (i == 0 || (!strcmp(policy, "not_larger") ? s < common : s > common))
                common = s;
            g->scale[a] = s;
            g->len[a] = (double)zv[i];
            g->out.dim[a] = zv[i];
        }
        /* One scale for every listed axis: the output keeps X's aspect. */
        if (keep)
            for (int i = 0; i < naxes; i++) {
                g->scale[axes[i]] = common;
                g->len[axes[i]] = common * (double)xs->dim[axes[i]];
                if (!(g->len[axes[i]] <= (double)SK_MAX_NUMEL)) /* before the cast */
                    return sk_kfail(ctx, n, SK_ESHAPE, "keeping the aspect ratio makes axis %d "
                                    "%g long", axes[i], g->len[axes[i]]);
                g->out.dim[axes[i]] = (int64_t)nearbyint(g->len[axes[i]]);
            }
    }
    if (sk_shape_numel(&g->out) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "output %s is too large",
                        sk_shape_str(&g->out, s1, sizeof s1));
    return 0;
}

int sk_infer_resize(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    int nout, sk_kctx *ctx)
{
    rs_geom g;
    int rc = rs_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape = g.out;
    return 0;
}

static int64_t rs_nearest(rs_round r, double x, int down)
{
    double f = floor(x);
    switch (r) {
    case NR_PREFER_FLOOR:
        return (int64_t)(x - f == 0.5 ? f : floor(x + 0.5));
    case NR_PREFER_CEIL:
        return (int64_t)(x - f == 0.5 ? f + 1.0 : floor(x + 0.5));
    case NR_FLOOR:
        return (int64_t)f;
    case NR_CEIL:
        return (int64_t)ceil(x);
    case NR_SIMPLE:
        return (int64_t)(down ? ceil(x) : f);
    }
    return (int64_t)f;
}

static int64_t clamp_idx(int64_t i, int64_t in)
{
    return i < 0 ? 0 : (i >= in ? in - 1 : i);
}

/* Cubic convolution weights for the 4 taps around fraction t. */
static void cubic_weights(double A, double t, double w[4])
{
    double x;
    x = t + 1.0;
    w[0] = ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    x = t;
    w[1] = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    x = 1.0 - t;
    w[2] = ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    x = 2.0 - t;
    w[3] = ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
}

/* Tap table of one axis: for output o, taps [o*T, o*T + T) hold input offsets
 * (index * stride) and weights; outside[o] marks tf_crop_and_resize
 * extrapolation. */
typedef struct rs_axis {
    int T;
    int64_t *off;
    double *wt;
    unsigned char *outside;
} rs_axis;

static int rs_taps(const rs_geom *g)
{
    return g->mode == RS_NEAREST ? 1 : g->mode == RS_LINEAR ? 2 : 4;
}

/* Scratch for one axis's tap table with `out` outputs. */
static size_t rs_axis_bytes(const rs_geom *g, int64_t out)
{
    size_t taps = (size_t)out * (size_t)rs_taps(g);
    return sk_nn_align(taps * sizeof(int64_t)) + sk_nn_align(taps * sizeof(double)) +
           sk_nn_align((size_t)out);
}

static size_t rs_scratch_bytes(const rs_geom *g)
{
    size_t b = 0;
    for (int a = 0; a < g->rank; a++)
        b += rs_axis_bytes(g, g->out.dim[a]);
    return b;
}

size_t sk_ref_scratch_resize(SK_REF_SCRATCH_ARGS)
{
    rs_geom g;
    sk_kctx quiet = sk_nn_quiet_ctx();
    (void)out;
    (void)nthreads;
    if (rs_setup(n, in, nin, nout, &quiet, &g))
        return 0;
    return rs_scratch_bytes(&g);
}

/* Fill the tap table of axis a, carved from `mem` (rs_axis_bytes of it). */
static void rs_axis_build(const sk_node *n, const rs_geom *g, int a, int64_t in, int64_t out,
                          int64_t stride, double roi0, double roi1, unsigned char *mem,
                          rs_axis *ax)
{
    const int T = rs_taps(g);
    const double A = sk_attr_float(n, "cubic_coeff_a", -0.75f);
    const int exclude = sk_attr_int(n, "exclude_outside", 0) != 0;
    const double scale = g->scale[a];
    const size_t taps = (size_t)out * (size_t)T;
    ax->T = T;
    ax->off = (int64_t *)mem;
    ax->wt = (double *)(mem + sk_nn_align(taps * sizeof(int64_t)));
    ax->outside = mem + sk_nn_align(taps * sizeof(int64_t)) + sk_nn_align(taps * sizeof(double));
    memset(ax->outside, 0, (size_t)out);
    int identity = 1;
    for (int64_t o = 0; o < out; o++) {
        int64_t *io = ax->off + o * T;
        double *w = ax->wt + o * T;
        double x = (double)o;
        if (g->resized[a])
            x = sk_resize_source(g->coord, x, scale, in, out, g->len[a], roi0, roi1);
        /* written so that a NaN coordinate (from a NaN or infinite roi)
         * counts as outside too */
        if (g->resized[a] && g->coord == CT_TF_CROP_AND_RESIZE &&
            !(x >= 0.0 && x <= (double)(in - 1))) {
            ax->outside[o] = 1;
            x = 0.0;
        }
        if (g->mode == RS_NEAREST) {
            io[0] = clamp_idx(rs_nearest(g->round, x, scale < 1.0), in);
            w[0] = 1.0;
        } else if (g->mode == RS_LINEAR) {
            /* clamped, NaN to 0: i0 must be a valid index whatever x is */
            double xc = x > 0.0 ? (x < (double)(in - 1) ? x : (double)(in - 1)) : 0.0;
            int64_t i0 = (int64_t)floor(xc);
            io[0] = i0;
            io[1] = clamp_idx(i0 + 1, in);
            w[1] = xc - (double)i0;
            w[0] = 1.0 - w[1];
        } else {
            double f = floor(x), sum = 0.0;
            cubic_weights(A, x - f, w);
            for (int t = 0; t < 4; t++) {
                int64_t i = (int64_t)f - 1 + t;
                if (exclude && (i < 0 || i >= in))
                    w[t] = 0.0;
                sum += w[t];
                io[t] = clamp_idx(i, in);
            }
            if (exclude && sum != 0.0)
                for (int t = 0; t < 4; t++)
                    w[t] /= sum;
        }
        for (int t = 0; t < T; t++)
            if (w[t] != 0.0 && (w[t] != 1.0 || io[t] != o))
                identity = 0;
    }
    /* An axis that maps every output to the same input with weight 1 needs
     * one tap: most axes of an image resize (N and C) are like that. */
    if (identity && in == out) {
        ax->T = 1;
        for (int64_t o = 0; o < out; o++) {
            ax->off[o] = o;
            ax->wt[o] = 1.0;
        }
    }
    for (int64_t k = 0; k < out * ax->T; k++)
        ax->off[k] *= stride;
}

/* y[o] = sum over the tap combinations of the axes with several taps of the
 * product of their weights times x at the summed offsets. */
static void rs_interpolate(const rs_axis *ax, const sk_shape *os, const float *x, float *y,
                           float extrap)
{
    const int rank = os->rank;
    int multi[SK_MAX_RANK], nmulti = 0;
    for (int a = 0; a < rank; a++)
        if (ax[a].T > 1)
            multi[nmulti++] = a;
    const int64_t total = sk_shape_numel(os);
    int64_t o[SK_MAX_RANK] = {0};
    for (int64_t e = 0; e < total; e++) {
        int outside = 0;
        int64_t base = 0; /* from the single-tap axes */
        for (int a = 0; a < rank; a++) {
            outside |= ax[a].outside[o[a]];
            if (ax[a].T == 1)
                base += ax[a].off[o[a]];
        }
        if (outside) {
            y[e] = extrap;
        } else {
            double acc = 0.0;
            int t[SK_MAX_RANK] = {0}, m;
            do {
                int64_t off = base;
                double w = 1.0;
                for (m = 0; m < nmulti; m++) {
                    const rs_axis *xa = &ax[multi[m]];
                    int64_t k = o[multi[m]] * xa->T + t[m];
                    off += xa->off[k];
                    w *= xa->wt[k];
                }
                acc += w * (double)x[off];
                for (m = nmulti - 1; m >= 0; m--) {
                    if (++t[m] < ax[multi[m]].T)
                        break;
                    t[m] = 0;
                }
            } while (m >= 0);
            y[e] = (float)acc;
        }
        for (int a = rank - 1; a >= 0; a--) {
            if (++o[a] < os->dim[a])
                break;
            o[a] = 0;
        }
    }
}

/* 8-bit nearest: every axis has one tap, y[e] = x[sum of the offsets] */
static void rs_nearest_bytes(const rs_axis *ax, const sk_shape *os, const uint8_t *x, uint8_t *y)
{
    const int rank = os->rank;
    const int64_t total = sk_shape_numel(os);
    int64_t o[SK_MAX_RANK] = {0};
    for (int64_t e = 0; e < total; e++) {
        int64_t off = 0;
        for (int a = 0; a < rank; a++)
            off += ax[a].off[o[a]];
        y[e] = x[off];
        for (int a = rank - 1; a >= 0; a--) {
            if (++o[a] < os->dim[a])
                break;
            o[a] = 0;
        }
    }
}

static double roi_at(const sk_tensor *roi, int64_t i)
{
    return roi->dtype == SK_F64 ? ((const double *)roi->data)[i] : ((const float *)roi->data)[i];
}

int sk_run_resize(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    rs_geom g;
    int rc = rs_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    const sk_shape *xs = &in[0]->shape;
    const int rank = xs->rank;
    int64_t total = sk_shape_numel(&g.out);
    if (total == 0)
        return 0;
    if (rank == 0) {
        memcpy(out[0].data, in[0]->data, sk_dtype_size(in[0]->dtype));
        return 0;
    }
    /* roi lists starts then ends of the resized axes (in axes order). */
    double roi0[SK_MAX_RANK], roi1[SK_MAX_RANK];
    for (int a = 0; a < rank; a++) {
        roi0[a] = 0.0;
        roi1[a] = 1.0;
    }
    if (g.coord == CT_TF_CROP_AND_RESIZE) {
        const sk_tensor *roi = present(in, nin, 1);
        int nres = 0, ra[SK_MAX_RANK];
        const int64_t *av;
        int na = sk_attr_ints(n, "axes", &av);
        for (int i = 0; i < (na > 0 ? na : rank); i++)
            ra[nres++] = na > 0 ? sk_nn_axis(av[i], rank) : i;
        if (!roi || (roi->dtype != SK_F32 && roi->dtype != SK_F64) || !roi->data ||
            sk_shape_numel(&roi->shape) != 2 * nres)
            return sk_kfail(ctx, n, SK_EINVAL,
                            "tf_crop_and_resize needs a float roi with %d values", 2 * nres);
        for (int i = 0; i < nres; i++) {
            roi0[ra[i]] = roi_at(roi, i);
            roi1[ra[i]] = roi_at(roi, nres + i);
        }
    }
    for (int a = 0; a < rank; a++)
        if (g.out.dim[a] > 0 && xs->dim[a] == 0)
            return sk_kfail(ctx, n, SK_ESHAPE, "cannot resize an empty axis %d", a);

    void *heap;
    unsigned char *mem = sk_nn_scratch(ctx, rs_scratch_bytes(&g), &heap);
    if (!mem)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory for the tap tables");
    rs_axis ax[SK_MAX_RANK];
    int64_t stride = 1;
    for (int a = rank - 1; a >= 0; a--) {
        rs_axis_build(n, &g, a, xs->dim[a], g.out.dim[a], stride, roi0[a], roi1[a], mem, &ax[a]);
        mem += rs_axis_bytes(&g, g.out.dim[a]);
        stride *= xs->dim[a];
    }
    if (in[0]->dtype == SK_U8 || in[0]->dtype == SK_I8)
        rs_nearest_bytes(ax, &g.out, in[0]->data, out[0].data);
    else
        rs_interpolate(ax, &g.out, in[0]->data, out[0].data,
                       sk_attr_float(n, "extrapolation_value", 0.0f));
    free(heap);
    return 0;
}
