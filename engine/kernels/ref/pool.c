/* pool.c — reference MaxPool (float32 and uint8, optional Indices output),
 * AveragePool, GlobalAveragePool and GlobalMaxPool over 1-D, 2-D and 3-D
 * windows with pads, strides, dilations, ceil_mode and auto_pad. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"

typedef struct pool_geom {
    int64_t NC; /* images x channels */
    sk_win w;
    sk_shape out;
} pool_geom;

static int pool_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, pool_geom *g)
{
    int rc;
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs input X and one output");
    const sk_shape *xs = &in[0]->shape;
    char s1[96];
    if (xs->rank < 3)
        return sk_kfail(ctx, n, SK_ESHAPE, "X %s must be (N, C, spatial...)",
                        sk_shape_str(xs, s1, sizeof s1));
    int nsp = xs->rank - 2;
    const int64_t *ks;
    int nk = sk_attr_ints(n, "kernel_shape", &ks);
    if (nk < 0)
        return sk_kfail(ctx, n, SK_EINVAL, "attribute kernel_shape is required");
    if (nk != nsp)
        return sk_kfail(ctx, n, SK_ESHAPE, "kernel_shape has %d values for X %s", nk,
                        sk_shape_str(xs, s1, sizeof s1));
    int ceil_mode = sk_attr_int(n, "ceil_mode", 0) != 0;
    if ((rc = sk_win_resolve(n, ctx, xs, ks, ceil_mode, &g->w)))
        return rc;
    g->out = *xs;
    for (int i = 0; i < nsp; i++)
        g->out.dim[2 + i] = g->w.out[SK_NN_SP - nsp + i];
    if (sk_shape_numel(&g->out) < 0 || sk_shape_numel(xs) < 0 || xs->dim[0] < 0 ||
        xs->dim[1] < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "sizes overflow: X %s",
                        sk_shape_str(xs, s1, sizeof s1));
    g->NC = xs->dim[0] * xs->dim[1];
    /* kernel_shape and pads are attributes, not data: a few bytes of model
     * can ask for 2^40 window steps over a small output. Refuse at plan time
     * what would take minutes (2^34 steps: ~10 s here) instead of hanging a
     * worker. */
    int64_t kvol = sk_win_k_size(&g->w), no = sk_shape_numel(&g->out);
    if (kvol > 0 && no > 0 && no > ((int64_t)1 << 34) / kvol)
        return sk_kfail(ctx, n, SK_ETOOLARGE,
                        "a %lld-tap window over %lld outputs is too much work (limit 2^34 steps)",
                        (long long)kvol, (long long)no);
    return 0;
}

/* ---- MaxPool --------------------------------------------------------- */

static int max_pool_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                          sk_kctx *ctx, pool_geom *g)
{
    if (nin >= 1 && in[0] && in[0]->dtype != SK_F32 && in[0]->dtype != SK_U8)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "X is %s; only float32 and uint8 are supported",
                        sk_dtype_name(in[0]->dtype));
    int64_t so = sk_attr_int(n, "storage_order", 0);
    if (so != 0 && so != 1)
        return sk_kfail(ctx, n, SK_EINVAL, "storage_order = %lld", (long long)so);
    return pool_setup(n, in, nin, nout, ctx, g);
}

int sk_infer_max_pool(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    pool_geom g;
    int rc = max_pool_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape = g.out;
    if (nout > 1) {
        out[1].dtype = SK_I64;
        out[1].shape = g.out;
    }
    return 0;
}

int sk_run_max_pool(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    int nout, sk_kctx *ctx)
{
    pool_geom g;
    int rc = max_pool_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    const sk_win *w = &g.w;
    const int is_u8 = in[0]->dtype == SK_U8;
    const float *xf = in[0]->data;
    const uint8_t *xb = in[0]->data;
    float *yf = out[0].data;
    uint8_t *yb = out[0].data;
    int64_t *yi = nout > 1 ? out[1].data : NULL;
    /* Indices are flat positions in X: n and c row-major, the spatial part
     * row-major (storage_order 0) or column-major (1, first axis fastest).
     * The leading unit axes of the normalized window only ever have index 0. */
    int64_t sp_stride[SK_NN_SP] = {w->in[1] * w->in[2], w->in[2], 1};
    if (sk_attr_int(n, "storage_order", 0) == 1) {
        int64_t s = 1;
        for (int a = SK_NN_SP - w->nsp; a < SK_NN_SP; a++) {
            sp_stride[a] = s;
            s *= w->in[a];
        }
    }
    const int64_t inpx = sk_win_in_size(w);
    int64_t o = 0;
    for (int64_t nc = 0; nc < g.NC; nc++)
        for (int64_t od = 0; od < w->out[0]; od++)
            for (int64_t oh = 0; oh < w->out[1]; oh++)
                for (int64_t ow = 0; ow < w->out[2]; ow++, o++) {
                    float best = -INFINITY;
                    int64_t arg = -1;
                    for (int64_t kd = 0; kd < w->k[0]; kd++) {
                        int64_t id = od * w->stride[0] - w->pb[0] + kd * w->dil[0];
                        if (id < 0 || id >= w->in[0])
                            continue;
                        for (int64_t kh = 0; kh < w->k[1]; kh++) {
                            int64_t ih = oh * w->stride[1] - w->pb[1] + kh * w->dil[1];
                            if (ih < 0 || ih >= w->in[1])
                                continue;
                            for (int64_t kw = 0; kw < w->k[2]; kw++) {
                                int64_t iw = ow * w->stride[2] - w->pb[2] + kw * w->dil[2];
                                if (iw < 0 || iw >= w->in[2])
                                    continue;
                                int64_t i = nc * inpx + (id * w->in[1] + ih) * w->in[2] + iw;
                                float v = is_u8 ? (float)xb[i] : xf[i];
                                if (v > best || arg < 0) {
                                    best = v;
                                    arg = id * sp_stride[0] + ih * sp_stride[1] +
                                          iw * sp_stride[2];
                                }
                            }
                        }
                    }
                    if (is_u8)
                        yb[o] = arg < 0 ? 0 : (uint8_t)best;
                    else
                        yf[o] = best;
                    if (yi)
                        yi[o] = arg < 0 ? -1 : nc * inpx + arg;
                }
    return 0;
}

/* ---- AveragePool ----------------------------------------------------- */

static int avg_pool_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                          sk_kctx *ctx, pool_geom *g)
{
    int rc;
    if (nin >= 1 && in[0] && (rc = sk_nn_need_f32(n, ctx, in[0], "X")))
        return rc;
    return pool_setup(n, in, nin, nout, ctx, g);
}

int sk_infer_average_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                          sk_tensor *out, int nout, sk_kctx *ctx)
{
    pool_geom g;
    int rc = avg_pool_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = g.out;
    return 0;
}

/* Window taps along one axis that land in the input (`valid`) and in the
 * input plus its pads (`padded`). */
static void axis_taps(const sk_win *w, int a, int64_t o, int64_t *valid, int64_t *padded)
{
    *valid = *padded = 0;
    for (int64_t k = 0; k < w->k[a]; k++) {
        int64_t i = o * w->stride[a] - w->pb[a] + k * w->dil[a];
        *valid += i >= 0 && i < w->in[a];
        *padded += i >= -w->pb[a] && i < w->in[a] + w->pe[a];
    }
}

int sk_run_average_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                        sk_tensor *out, int nout, sk_kctx *ctx)
{
    pool_geom g;
    int rc = avg_pool_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    const sk_win *w = &g.w;
    const int include_pad = sk_attr_int(n, "count_include_pad", 0) != 0;
    const float *x = in[0]->data;
    float *y = out[0].data;
    const int64_t inpx = sk_win_in_size(w);
    int64_t o = 0;
    for (int64_t nc = 0; nc < g.NC; nc++) {
        const float *xc = x + nc * inpx;
        for (int64_t od = 0; od < w->out[0]; od++) {
            int64_t vd, pd;
            axis_taps(w, 0, od, &vd, &pd);
            for (int64_t oh = 0; oh < w->out[1]; oh++) {
                int64_t vh, ph;
                axis_taps(w, 1, oh, &vh, &ph);
                for (int64_t ow = 0; ow < w->out[2]; ow++, o++) {
                    int64_t vw, pw;
                    axis_taps(w, 2, ow, &vw, &pw);
                    double sum = 0.0;
                    for (int64_t kd = 0; kd < w->k[0]; kd++) {
                        int64_t id = od * w->stride[0] - w->pb[0] + kd * w->dil[0];
                        if (id < 0 || id >= w->in[0])
                            continue;
                        for (int64_t kh = 0; kh < w->k[1]; kh++) {
                            int64_t ih = oh * w->stride[1] - w->pb[1] + kh * w->dil[1];
                            if (ih < 0 || ih >= w->in[1])
                                continue;
                            const float *xr = xc + (id * w->in[1] + ih) * w->in[2];
                            for (int64_t kw = 0; kw < w->k[2]; kw++) {
                                int64_t iw = ow * w->stride[2] - w->pb[2] + kw * w->dil[2];
                                if (iw >= 0 && iw < w->in[2])
                                    sum += xr[iw];
                            }
                        }
                    }
                    int64_t cnt = include_pad ? pd * ph * pw : vd * vh * vw;
                    y[o] = cnt > 0 ? (float)(sum / (double)cnt) : 0.0f;
                }
            }
        }
    }
    return 0;
}

/* ---- GlobalAveragePool / GlobalMaxPool -------------------------------- */

static int global_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                        sk_kctx *ctx, int64_t *nc, int64_t *px, sk_shape *os)
{
    int rc;
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs input X and one output");
    if ((rc = sk_nn_need_f32(n, ctx, in[0], "X")))
        return rc;
    const sk_shape *xs = &in[0]->shape;
    char s1[96];
    if (xs->rank < 2 || sk_shape_numel(xs) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "X %s must be (N, C, spatial...)",
                        sk_shape_str(xs, s1, sizeof s1));
    *os = *xs;
    *px = 1;
    for (int i = 2; i < xs->rank; i++) {
        *px *= xs->dim[i];
        os->dim[i] = 1;
    }
    *nc = xs->dim[0] * xs->dim[1];
    return 0;
}

/* GlobalAveragePool / GlobalMaxPool: one value per (n, c) plane. */
static int global_infer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    int64_t nc, px;
    int rc = global_setup(n, in, nin, nout, ctx, &nc, &px, &out[0].shape);
    out[0].dtype = SK_F32;
    return rc;
}

static int global_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx, int is_max)
{
    int64_t nc, px;
    sk_shape os;
    int rc = global_setup(n, in, nin, nout, ctx, &nc, &px, &os);
    if (rc)
        return rc;
    const float *x = in[0]->data;
    float *y = out[0].data;
    for (int64_t c = 0; c < nc; c++) {
        const float *xc = x + c * px;
        if (is_max) {
            float m = -INFINITY;
            for (int64_t p = 0; p < px; p++)
                if (xc[p] > m)
                    m = xc[p];
            y[c] = m;
        } else {
            double s = 0.0; /* double: a 256x256 plane summed in float loses digits */
            for (int64_t p = 0; p < px; p++)
                s += xc[p];
            y[c] = px > 0 ? (float)(s / (double)px) : 0.0f;
        }
    }
    return 0;
}

int sk_infer_global_avg_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    return global_infer(n, in, nin, out, nout, ctx);
}

int sk_run_global_avg_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    return global_run(n, in, nin, out, nout, ctx, 0);
}

int sk_infer_global_max_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    return global_infer(n, in, nin, out, nout, ctx);
}

int sk_run_global_max_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    return global_run(n, in, nin, out, nout, ctx, 1);
}
