/* norm.c — reference BatchNormalization (inference), LayerNormalization,
 * Softmax and LogSoftmax. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"

/* ---- BatchNormalization -------------------------------------------------- */

static int bn_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                    sk_kctx *ctx, int64_t *N, int64_t *C, int64_t *px)
{
    static const char *names[5] = {"X", "scale", "B", "mean", "var"};
    int rc;
    /* Outputs past Y exist for training. Before opset 14 a graph may still
     * name running mean/var (1, 2): in inference they are the inputs, as
     * given. Saved statistics (3, 4) only exist in training. */
    int training = sk_attr_int(n, "training_mode", 0) != 0;
    for (int j = 3; j < nout && j < n->nout; j++)
        training |= n->out[j] >= 0;
    if (training || nout > 5)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "training mode (batch statistics outputs) is not supported");
    if (nin < 5 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs inputs X, scale, B, mean, var");
    for (int i = 0; i < 5; i++) {
        if (!in[i])
            return sk_kfail(ctx, n, SK_EINVAL, "input %s is missing", names[i]);
        if ((rc = sk_nn_need_f32(n, ctx, in[i], names[i])))
            return rc;
    }
    const sk_shape *xs = &in[0]->shape;
    char s1[96], s2[96];
    if (xs->rank < 2 || sk_shape_numel(xs) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "X %s must be (N, C, ...)",
                        sk_shape_str(xs, s1, sizeof s1));
    *N = xs->dim[0];
    *C = xs->dim[1];
    *px = 1;
    for (int i = 2; i < xs->rank; i++)
        *px *= xs->dim[i];
    /* Opset < 9 "spatial = 0" has per-element statistics; only the per-channel
     * form (what exporters write) is supported. */
    for (int i = 1; i < 5; i++)
        if (in[i]->shape.rank != 1 || in[i]->shape.dim[0] != *C)
            return sk_kfail(ctx, n, in[i]->shape.rank > 1 ? SK_EUNSUPPORTED : SK_ESHAPE,
                            "%s %s must be [C] for X %s", names[i],
                            sk_shape_str(&in[i]->shape, s1, sizeof s1),
                            sk_shape_str(xs, s2, sizeof s2));
    return 0;
}

int sk_infer_batch_norm(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    int64_t N, C, px;
    int rc = bn_setup(n, in, nin, nout, ctx, &N, &C, &px);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = in[0]->shape;
    for (int j = 1; j < nout; j++) { /* statistics: [C] */
        out[j].dtype = SK_F32;
        out[j].shape = in[3]->shape;
    }
    return 0;
}

int sk_run_batch_norm(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    int64_t N, C, px;
    int rc = bn_setup(n, in, nin, nout, ctx, &N, &C, &px);
    if (rc)
        return rc;
    float eps = sk_attr_float(n, "epsilon", 1e-5f);
    const float *x = in[0]->data, *scale = in[1]->data, *bias = in[2]->data;
    const float *mean = in[3]->data, *var = in[4]->data;
    float *y = out[0].data;
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            float a = scale[c] / sqrtf(var[c] + eps), b = bias[c] - mean[c] * a;
            const float *xc = x + (i * C + c) * px;
            float *yc = y + (i * C + c) * px;
            for (int64_t p = 0; p < px; p++)
                yc[p] = xc[p] * a + b;
        }
    for (int j = 1; j < nout && j < 3; j++) /* running mean, var */
        memcpy(out[j].data, in[2 + j]->data, (size_t)C * sizeof(float));
    return 0;
}

/* ---- LayerNormalization --------------------------------------------------- */

typedef struct ln_geom {
    int axis;
    int64_t outer, inner; /* rows to normalize, elements per row */
} ln_geom;

/* A parameter (Scale or B) must broadcast unidirectionally to X[axis:]. */
static int ln_param_ok(const sk_shape *p, const sk_shape *xs, int axis)
{
    if (p->rank > xs->rank - axis)
        return 0;
    for (int i = 0; i < p->rank; i++) {
        int64_t d = p->dim[p->rank - 1 - i], xd = xs->dim[xs->rank - 1 - i];
        if (d != 1 && d != xd)
            return 0;
    }
    return 1;
}

static int ln_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                    sk_kctx *ctx, ln_geom *g)
{
    int rc;
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs inputs X and Scale");
    const sk_tensor *B = nin > 2 ? in[2] : NULL;
    if ((rc = sk_nn_need_f32(n, ctx, in[0], "X")) ||
        (rc = sk_nn_need_f32(n, ctx, in[1], "Scale")) ||
        (B && (rc = sk_nn_need_f32(n, ctx, B, "B"))))
        return rc;
    const sk_shape *xs = &in[0]->shape;
    char s1[96], s2[96];
    if (xs->rank < 1 || sk_shape_numel(xs) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "X %s has no axis to normalize",
                        sk_shape_str(xs, s1, sizeof s1));
    int64_t axis = sk_attr_int(n, "axis", -1);
    g->axis = sk_nn_axis(axis, xs->rank);
    if (g->axis < 0)
        return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for X %s",
                        (long long)axis, sk_shape_str(xs, s1, sizeof s1));
    g->outer = 1;
    g->inner = 1;
    for (int i = 0; i < xs->rank; i++)
        *(i < g->axis ? &g->outer : &g->inner) *= xs->dim[i];
    for (int i = 1; i < 3 && i < nin; i++)
        if (in[i] && !ln_param_ok(&in[i]->shape, xs, g->axis))
            return sk_kfail(ctx, n, SK_ESHAPE, "%s %s does not broadcast to X %s from axis %d",
                            i == 1 ? "Scale" : "B", sk_shape_str(&in[i]->shape, s1, sizeof s1),
                            sk_shape_str(xs, s2, sizeof s2), g->axis);
    return 0;
}

int sk_infer_layer_norm(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    ln_geom g;
    int rc = ln_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = in[0]->shape;
    /* Mean and InvStdDev keep X's rank, with 1 from axis on. */
    for (int j = 1; j < nout && j < 3; j++) {
        out[j].dtype = SK_F32;
        out[j].shape = in[0]->shape;
        for (int i = g.axis; i < out[j].shape.rank; i++)
            out[j].shape.dim[i] = 1;
    }
    return 0;
}

/* Broadcast a parameter to the full normalized extent X[axis:]. */
static void ln_expand(const sk_tensor *p, const sk_shape *xs, int axis, int64_t inner,
                      float *dst)
{
    const float *src = p->data;
    int r = xs->rank - axis;
    int64_t pstride[SK_MAX_RANK], idx[SK_MAX_RANK] = {0};
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        int pi = i - (r - p->shape.rank);
        int64_t d = pi >= 0 ? p->shape.dim[pi] : 1;
        pstride[i] = d == 1 ? 0 : s;
        s *= d;
    }
    for (int64_t e = 0; e < inner; e++) {
        int64_t off = 0;
        for (int i = 0; i < r; i++)
            off += idx[i] * pstride[i];
        dst[e] = src[off];
        for (int i = r - 1; i >= 0; i--) {
            if (++idx[i] < xs->dim[axis + i])
                break;
            idx[i] = 0;
        }
    }
}

size_t sk_ref_scratch_layer_norm(SK_REF_SCRATCH_ARGS)
{
    ln_geom g;
    sk_kctx quiet = sk_nn_quiet_ctx();
    (void)out;
    (void)nthreads;
    if (ln_setup(n, in, nin, nout, &quiet, &g))
        return 0;
    return (size_t)g.inner * 2 * sizeof(float); /* Scale and B, broadcast */
}

int sk_run_layer_norm(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    ln_geom g;
    int rc = ln_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    if (g.outer == 0 || g.inner == 0)
        return 0;
    const float eps = sk_attr_float(n, "epsilon", 1e-5f);
    const sk_tensor *B = nin > 2 ? in[2] : NULL;
    void *heap;
    float *scale = sk_nn_scratch(ctx, (size_t)g.inner * 2 * sizeof(float), &heap);
    if (!scale)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    float *bias = scale + g.inner;
    ln_expand(in[1], &in[0]->shape, g.axis, g.inner, scale);
    if (B)
        ln_expand(B, &in[0]->shape, g.axis, g.inner, bias);
    else
        memset(bias, 0, (size_t)g.inner * sizeof(float));
    const float *x = in[0]->data;
    float *y = out[0].data;
    float *mean_out = nout > 1 ? out[1].data : NULL;
    float *inv_out = nout > 2 ? out[2].data : NULL;
    for (int64_t r = 0; r < g.outer; r++) {
        const float *xr = x + r * g.inner;
        float *yr = y + r * g.inner;
        double s = 0.0, ss = 0.0;
        for (int64_t e = 0; e < g.inner; e++)
            s += xr[e];
        double mean = s / (double)g.inner;
        for (int64_t e = 0; e < g.inner; e++) {
            double d = xr[e] - mean;
            ss += d * d;
        }
        double inv = 1.0 / sqrt(ss / (double)g.inner + (double)eps);
        for (int64_t e = 0; e < g.inner; e++)
            yr[e] = (float)((xr[e] - mean) * inv) * scale[e] + bias[e];
        if (mean_out)
            mean_out[r] = (float)mean;
        if (inv_out)
            inv_out[r] = (float)inv;
    }
    free(heap);
    return 0;
}

/* ---- Softmax / LogSoftmax -------------------------------------------------- */

/* The data as outer x len x inner, reduced along len. Opset >= 13 reduces
 * along `axis` alone (default -1); older opsets flatten to 2-D at `axis`
 * (default 1) and reduce over the whole trailing block. */
static int softmax_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                         sk_kctx *ctx, int64_t *outer, int64_t *len, int64_t *inner)
{
    int rc;
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs input X and one output");
    if ((rc = sk_nn_need_f32(n, ctx, in[0], "X")))
        return rc;
    const sk_shape *xs = &in[0]->shape;
    char s1[96];
    if (sk_shape_numel(xs) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "X %s is too large", sk_shape_str(xs, s1, sizeof s1));
    int legacy = n->opset > 0 && n->opset < 13;
    int64_t axis = sk_attr_int(n, "axis", legacy ? 1 : -1);
    int rank = xs->rank > 0 ? xs->rank : 1; /* a scalar acts as [1] */
    int a = sk_nn_axis(axis, legacy && axis == rank ? rank + 1 : rank);
    if (a < 0)
        return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for X %s",
                        (long long)axis, sk_shape_str(xs, s1, sizeof s1));
    *outer = *len = *inner = 1;
    for (int i = 0; i < xs->rank; i++) {
        int64_t d = xs->dim[i];
        if (i < a)
            *outer *= d;
        else if (i == a || legacy)
            *len *= d;
        else
            *inner *= d;
    }
    return 0;
}

static int softmax_infer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                         int nout, sk_kctx *ctx)
{
    int64_t o, l, i;
    int rc = softmax_setup(n, in, nin, nout, ctx, &o, &l, &i);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = in[0]->shape;
    return 0;
}

static int softmax_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx, int log_form)
{
    int64_t outer, len, inner;
    int rc = softmax_setup(n, in, nin, nout, ctx, &outer, &len, &inner);
    if (rc)
        return rc;
    const float *x = in[0]->data;
    float *y = out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = x + o * len * inner + i;
            float *ys = y + o * len * inner + i;
            /* Subtract the max so exp never overflows. */
            float mx = -INFINITY;
            for (int64_t k = 0; k < len; k++)
                if (xs[k * inner] > mx)
                    mx = xs[k * inner];
            double sum = 0.0;
            for (int64_t k = 0; k < len; k++)
                sum += exp((double)(xs[k * inner] - mx));
            if (log_form) {
                double ls = log(sum);
                for (int64_t k = 0; k < len; k++)
                    ys[k * inner] = (float)((double)(xs[k * inner] - mx) - ls);
            } else {
                for (int64_t k = 0; k < len; k++)
                    ys[k * inner] = (float)(exp((double)(xs[k * inner] - mx)) / sum);
            }
        }
    return 0;
}

int sk_infer_softmax(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    return softmax_infer(n, in, nin, out, nout, ctx);
}

int sk_run_softmax(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                   int nout, sk_kctx *ctx)
{
    return softmax_run(n, in, nin, out, nout, ctx, 0);
}

int sk_infer_log_softmax(const sk_node *n, const sk_tensor *const *in, int nin,
                         sk_tensor *out, int nout, sk_kctx *ctx)
{
    return softmax_infer(n, in, nin, out, nout, ctx);
}

int sk_run_log_softmax(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    return softmax_run(n, in, nin, out, nout, ctx, 1);
}
