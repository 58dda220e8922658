/* fast_convt.c — fast 2-D ConvTranspose (group 1, explicit pads): per image,
 * cols[M*kh*kw x H*W] = W^T * X with the packed GEMM (W^T packed once at
 * load, X's rows read directly), then col2im adds each column row into the
 * output at its (stride, dilation, pad) position, on top of the bias. The
 * U-Net's 2x2 stride-2 up-sampling is the common case: there col2im is a
 * pure scatter. */
#include <string.h>

#include "fast.h"
#include "ref/nn_util.h"
#include "threadpool.h"

void sk_convt_priv_free(void *v)
{
    sk_conv_priv_free(v);
}

/* 1 when the fast kernel handles node n (checked at load, before packing) */
int sk_fast_convt_supported(const sk_node *n, const sk_shape *w)
{
    const int64_t *v;
    if (w->rank != 4 || sk_attr_int(n, "group", 1) != 1)
        return 0;
    if (sk_attr_ints(n, "output_shape", &v) > 0)
        return 0;
    const char *ap = sk_attr_str(n, "auto_pad", "NOTSET");
    return !strcmp(ap, "NOTSET") || !ap[0];
}

typedef struct convt_geo {
    int64_t C, M, H, W, OH, OW, kh, kw, sh, sw, dh, dw, ph, pw;
} convt_geo;

static int convt_geo_get(const sk_node *n, const sk_tensor *const *in, const sk_tensor *out,
                         convt_geo *g)
{
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    if (xs->rank != 4 || ws->rank != 4 || out->shape.rank != 4)
        return -1;
    const int64_t *v;
    g->C = xs->dim[1];
    g->H = xs->dim[2];
    g->W = xs->dim[3];
    g->M = ws->dim[1];
    g->kh = ws->dim[2];
    g->kw = ws->dim[3];
    g->OH = out->shape.dim[2];
    g->OW = out->shape.dim[3];
    g->sh = g->sw = g->dh = g->dw = 1;
    g->ph = g->pw = 0;
    if (sk_attr_ints(n, "strides", &v) == 2) {
        g->sh = v[0];
        g->sw = v[1];
    }
    if (sk_attr_ints(n, "dilations", &v) == 2) {
        g->dh = v[0];
        g->dw = v[1];
    }
    if (sk_attr_ints(n, "pads", &v) == 4) {
        g->ph = v[0];
        g->pw = v[1];
    }
    return ws->dim[0] == g->C && out->shape.dim[1] == g->M ? 0 : -1;
}

size_t sk_fast_convt_scratch_floats(const sk_node *n, const sk_tensor *const *in,
                                    const sk_tensor *out, int nthreads)
{
    const sk_conv_priv *pv = n->priv;
    convt_geo g;
    if (!pv || convt_geo_get(n, in, out, &g))
        return 0;
    return sk_gemm_scratch_floats(pv->cfg, nthreads) +
           (size_t)(g.M * g.kh * g.kw * g.H * g.W) + 16;
}

typedef struct col2im_job {
    const convt_geo *g;
    const float *cols, *bias;
    float *y;
} col2im_job;

/* output channels [m0, m1): bias, then every (kh, kw) row of cols added at
 * its place */
static void col2im_task(void *arg, size_t m0, size_t m1)
{
    const col2im_job *j = arg;
    const convt_geo *g = j->g;
    const int64_t HW = g->H * g->W, OHW = g->OH * g->OW;
    for (int64_t m = (int64_t)m0; m < (int64_t)m1; m++) {
        float *ym = j->y + m * OHW, b = j->bias ? j->bias[m] : 0.0f;
        for (int64_t i = 0; i < OHW; i++)
            ym[i] = b;
        for (int64_t kh = 0; kh < g->kh; kh++)
            for (int64_t kw = 0; kw < g->kw; kw++) {
                const float *cr = j->cols + ((m * g->kh + kh) * g->kw + kw) * HW;
                /* iw range with 0 <= iw*sw - pw + kw*dw < OW */
                int64_t off = kw * g->dw - g->pw;
                int64_t lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
                int64_t hi = off >= g->OW ? 0 : (g->OW - off + g->sw - 1) / g->sw;
                if (hi > g->W)
                    hi = g->W;
                for (int64_t ih = 0; ih < g->H; ih++) {
                    int64_t oh = ih * g->sh - g->ph + kh * g->dh;
                    if (oh < 0 || oh >= g->OH)
                        continue;
                    float *yr = ym + oh * g->OW + off;
                    const float *c = cr + ih * g->W;
                    for (int64_t iw = lo; iw < hi; iw++)
                        yr[iw * g->sw] += c[iw];
                }
            }
    }
}

int sk_fast_run_conv_transpose(const sk_node *n, const sk_tensor *const *in, int nin,
                               sk_tensor *out, int nout, sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    convt_geo g;
    if (!pv || nin < 2 || !in[0] || !in[1] || in[0]->dtype != SK_F32 ||
        convt_geo_get(n, in, &out[0], &g) || g.M * g.kh * g.kw != pv->w.M || g.C != pv->w.K)
        return sk_run_conv_transpose(n, in, nin, out, nout, ctx);
    const int64_t N = in[0]->shape.dim[0], HW = g.H * g.W, OHW = g.OH * g.OW;
    if (N * g.M * OHW == 0)
        return 0;
    size_t gemm_f = sk_gemm_scratch_floats(pv->cfg, sk_pool_size(ctx->pool));
    float *own, *scratch = sk_fast_scratch(n, ctx, gemm_f + (size_t)(pv->w.M * HW) + 16, &own);
    if (!scratch)
        return SK_ENOMEM;
    float *cols = scratch + ((gemm_f + 15) & ~(size_t)15);
    const float *bias = nin > 2 && in[2] ? in[2]->data : NULL;
    int rc = 0;
    for (int64_t img = 0; img < N && !rc; img++) {
        sk_gemm_rowmajor rb = {(const float *)in[0]->data + img * g.C * HW, (size_t)HW, 0};
        sk_gemm_job j;
        sk_gemm_job_init(&j, pv->cfg, pv->w.M, (int)HW, (int)g.C, 1);
        j.a_packed = &pv->w;
        j.pack_b = sk_gemm_pack_b_rowmajor;
        j.b_ctx = &rb;
        j.c = cols;
        j.ldc = (size_t)HW;
        if (sk_gemm_run(ctx->pool, &j, scratch) < 0) {
            rc = sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
            break;
        }
        col2im_job cj = {&g, cols, bias, (float *)out[0].data + img * g.M * OHW};
        sk_parallel_for(ctx->pool, (size_t)g.M, 1, col2im_task, &cj);
    }
    sk_free(own);
    return rc;
}
