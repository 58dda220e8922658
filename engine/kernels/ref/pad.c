/* pad.c — reference Pad (opset 11+ form: pads, constant_value and axes as
 * inputs) with modes constant, reflect, edge and wrap, for any element type.
 * Negative pads crop. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"

typedef enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

typedef struct pad_geom {
    pad_mode mode;
    int64_t pb[SK_MAX_RANK], pe[SK_MAX_RANK];
    sk_shape out;
} pad_geom;

static int read_int(const sk_tensor *t, int64_t i, int64_t *v)
{
    if (t->dtype == SK_I64)
        *v = ((const int64_t *)t->data)[i];
    else if (t->dtype == SK_I32)
        *v = ((const int32_t *)t->data)[i];
    else
        return 0;
    return 1;
}

static int pad_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                     sk_kctx *ctx, pad_geom *g)
{
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs inputs data and pads");
    const sk_tensor *X = in[0], *pads = in[1];
    const sk_tensor *cval = nin > 2 ? in[2] : NULL, *axes_t = nin > 3 ? in[3] : NULL;
    const sk_shape *xs = &X->shape;
    char s1[96];
    if (sk_dtype_size(X->dtype) == 0 || sk_shape_numel(xs) < 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "data %s of type %s is not supported",
                        sk_shape_str(xs, s1, sizeof s1), sk_dtype_name(X->dtype));
    const char *m = sk_attr_str(n, "mode", "constant");
    if (!strcmp(m, "constant"))
        g->mode = PAD_CONSTANT;
    else if (!strcmp(m, "reflect"))
        g->mode = PAD_REFLECT;
    else if (!strcmp(m, "edge"))
        g->mode = PAD_EDGE;
    else if (!strcmp(m, "wrap"))
        g->mode = PAD_WRAP;
    else
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "mode '%s' is not constant, reflect, edge or wrap",
                        m);
    if (cval && sk_shape_numel(&cval->shape) > 1)
        return sk_kfail(ctx, n, SK_ESHAPE, "constant_value must be one value");
    if (cval && sk_shape_numel(&cval->shape) == 1 && cval->dtype != X->dtype)
        return sk_kfail(ctx, n, SK_EINVAL, "constant_value is %s but data is %s",
                        sk_dtype_name(cval->dtype), sk_dtype_name(X->dtype));

    int axes[SK_MAX_RANK], naxes = xs->rank;
    for (int i = 0; i < xs->rank; i++)
        axes[i] = i;
    if (axes_t && sk_shape_numel(&axes_t->shape) > 0) {
        if (!axes_t->data)
            return SK_ENEEDVALUE;
        int64_t na = sk_shape_numel(&axes_t->shape);
        if (na > xs->rank)
            return sk_kfail(ctx, n, SK_ESHAPE, "%lld axes for data of rank %d", (long long)na,
                            xs->rank);
        naxes = (int)na;
        for (int i = 0; i < naxes; i++) {
            int64_t v;
            if (!read_int(axes_t, i, &v))
                return sk_kfail(ctx, n, SK_EINVAL, "axes must be int32 or int64");
            if ((axes[i] = sk_nn_axis(v, xs->rank)) < 0)
                return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range", (long long)v);
        }
    }
    if (!pads->data && sk_shape_numel(&pads->shape) > 0)
        return SK_ENEEDVALUE;
    if (pads->shape.rank != 1 || pads->shape.dim[0] != 2 * naxes)
        return sk_kfail(ctx, n, SK_ESHAPE, "pads %s must hold %d values",
                        sk_shape_str(&pads->shape, s1, sizeof s1), 2 * naxes);
    for (int a = 0; a < xs->rank; a++)
        g->pb[a] = g->pe[a] = 0;
    for (int i = 0; i < naxes; i++) {
        int64_t b, e;
        if (!read_int(pads, i, &b) || !read_int(pads, naxes + i, &e))
            return sk_kfail(ctx, n, SK_EINVAL, "pads must be int64");
        g->pb[axes[i]] = b;
        g->pe[axes[i]] = e;
    }
    g->out = *xs;
    for (int a = 0; a < xs->rank; a++) {
        int64_t b = g->pb[a], e = g->pe[a], d = xs->dim[a];
        if (b > SK_MAX_NUMEL || e > SK_MAX_NUMEL || b < -d || e < -d || d + b + e < 0)
            return sk_kfail(ctx, n, SK_ESHAPE, "pads %lld, %lld do not fit axis %d of size %lld",
                            (long long)b, (long long)e, a, (long long)d);
        g->out.dim[a] = d + b + e;
        if (d == 0 && g->out.dim[a] > 0 && g->mode != PAD_CONSTANT)
            return sk_kfail(ctx, n, SK_ESHAPE, "cannot %s-pad empty axis %d", m, a);
    }
    if (sk_shape_numel(&g->out) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "output %s is too large",
                        sk_shape_str(&g->out, s1, sizeof s1));
    return 0;
}

int sk_infer_pad(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                 int nout, sk_kctx *ctx)
{
    pad_geom g;
    int rc = pad_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape = g.out;
    return 0;
}

/* Input index read for output index o along an axis of size d, or -1 for
 * the constant. */
static int64_t pad_source(pad_mode mode, int64_t o, int64_t pb, int64_t d)
{
    int64_t i = o - pb;
    if (i >= 0 && i < d)
        return i;
    switch (mode) {
    case PAD_CONSTANT:
        return -1;
    case PAD_EDGE:
        return i < 0 ? 0 : d - 1;
    case PAD_WRAP:
        return ((i % d) + d) % d;
    case PAD_REFLECT: {
        if (d == 1)
            return 0;
        int64_t period = 2 * (d - 1);
        i = ((i % period) + period) % period;
        return i < d ? i : period - i;
    }
    }
    return -1;
}

/* Scratch: per axis, the input offset each output index reads. */
static size_t pad_scratch_bytes(const pad_geom *g)
{
    size_t count = 0;
    for (int a = 0; a < g->out.rank; a++)
        count += (size_t)g->out.dim[a];
    return count * sizeof(int64_t);
}

size_t sk_ref_scratch_pad(SK_REF_SCRATCH_ARGS)
{
    pad_geom g;
    sk_kctx quiet = sk_nn_quiet_ctx();
    (void)out;
    (void)nthreads;
    if (pad_setup(n, in, nin, nout, &quiet, &g))
        return 0;
    return pad_scratch_bytes(&g);
}

int sk_run_pad(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
               int nout, sk_kctx *ctx)
{
    pad_geom g;
    int rc = pad_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    const sk_shape *xs = &in[0]->shape;
    const int rank = xs->rank;
    const size_t es = sk_dtype_size(in[0]->dtype);
    int64_t total = sk_shape_numel(&g.out);
    if (total == 0)
        return 0;
    unsigned char cval[8] = {0};
    const sk_tensor *cv = nin > 2 ? in[2] : NULL;
    if (cv && sk_shape_numel(&cv->shape) == 1 && cv->data)
        memcpy(cval, cv->data, es);
    const unsigned char *x = in[0]->data;
    unsigned char *y = out[0].data;
    if (rank == 0) {
        memcpy(y, x, es);
        return 0;
    }
    /* Per axis, the input offset (index * stride) each output index reads, or
     * -1 for the constant. */
    void *heap;
    int64_t *table = sk_nn_scratch(ctx, pad_scratch_bytes(&g), &heap), *src[SK_MAX_RANK];
    if (!table)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    int64_t stride = 1, *p = table;
    for (int a = rank - 1; a >= 0; a--) {
        src[a] = p;
        for (int64_t o = 0; o < g.out.dim[a]; o++) {
            int64_t i = pad_source(g.mode, o, g.pb[a], xs->dim[a]);
            p[o] = i < 0 ? -1 : i * stride;
        }
        p += g.out.dim[a];
        stride *= xs->dim[a];
    }
    int64_t o[SK_MAX_RANK] = {0};
    const int last = rank - 1;
    const int64_t row = g.out.dim[last];
    for (int64_t e = 0; e < total; e += row) {
        int64_t base = 0;
        int outside = 0;
        for (int a = 0; a < last; a++) {
            if (src[a][o[a]] < 0)
                outside = 1;
            base += src[a][o[a]];
        }
        unsigned char *yr = y + (size_t)e * es;
        for (int64_t k = 0; k < row; k++) {
            int64_t s = src[last][k];
            memcpy(yr + (size_t)k * es, outside || s < 0 ? cval : x + (size_t)(base + s) * es, es);
        }
        for (int a = last - 1; a >= 0; a--) {
            if (++o[a] < g.out.dim[a])
                break;
            o[a] = 0;
        }
    }
    free(heap);
    return 0;
}
