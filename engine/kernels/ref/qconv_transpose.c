/* qconv_transpose.c — reference _QConvTranspose, the int8 ConvTranspose a
 * QDQ model's DQ -> ConvTranspose -> Q becomes (passes/qdq_ops.c):
 *
 *   _QConvTranspose(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?)
 *     inputs in QLinearConv's order; w is ConvTranspose's [C, M/group, k...]
 *     int8 with per-tensor or per-output-channel (axis 1) scales, B int32
 *     [M] at scale x_scale * w_scale[m]; ConvTranspose's attributes.
 *
 *   acc[m][o] = B[m] + sum of (x - x_zp) * (w - w_zp) over the taps that
 *               land on o (int64: no overflow whatever the sizes)
 *   y[m][o]   = saturate(round_half_even((float)acc * mult[m]) + y_zp),
 *               mult[m] = x_scale * w_scale[m] / y_scale in float32
 *
 * — QLinearConv's arithmetic (ref/qlinear.c), which is what onnxruntime
 * runs for a QDQ ConvTranspose; it differs from DQ -> float ConvTranspose
 * -> Q only where the float sum's rounding moves a value across a .5
 * boundary (tests/unit/test_qdq_ops.c bounds it by 1). The geometry is
 * ConvTranspose's own (ref/conv_transpose.h). */
#include <stdlib.h>
#include <string.h>

#include "conv_transpose.h"
#include "graph.h"
#include "nn_util.h"
#include "ops.h"
#include "quant_util.h"
#include "ref_util.h"

typedef struct qct {
    sk_convt_geom g;
    sk_qparam xq, wq, yq;
    const sk_tensor *bias;
} qct;

static int qct_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                     sk_kctx *ctx, qct *q)
{
    if (nin < 8 || !in[0] || !in[1] || !in[3] || !in[4] || !in[6] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL,
                        "needs x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, "
                        "y_zero_point");
    if (!sk_q_is8(in[0]->dtype) || in[3]->dtype != SK_I8)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x must be int8 or uint8 and w int8");
    const sk_tensor *B = sk_ref_opt(in, nin, 8);
    if (B && (B->dtype != SK_I32 || B->shape.rank != 1))
        return sk_kfail(ctx, n, SK_ESHAPE, "B must be int32 [M]");
    /* the geometry reads shapes only: hand it float32 views */
    sk_tensor fx = *in[0], fw = *in[3], fb = B ? *B : fx;
    fx.dtype = fw.dtype = fb.dtype = SK_F32;
    const sk_tensor *gin[3] = {&fx, &fw, B ? &fb : NULL};
    int rc = sk_convt_geometry(n, gin, 3, nout, ctx, &q->g);
    if (rc)
        return rc;
    const sk_tensor *xz = in[2], *wz = in[5], *yz = in[7];
    if ((xz && xz->dtype != in[0]->dtype) || (wz && wz->dtype != SK_I8))
        return sk_kfail(ctx, n, SK_EINVAL, "a zero point's type differs from its data's");
    if (sk_shape_numel(&in[1]->shape) != 1 || sk_shape_numel(&in[6]->shape) != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x_scale and y_scale must be per tensor");
    if (q->g.group != 1 && sk_shape_numel(&in[4]->shape) != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "per-channel w_scale needs group 1");
    if ((rc = sk_q_param(n, ctx, "x", in[1], xz, &in[0]->shape, 1, in[0]->dtype, &q->xq)) ||
        (rc = sk_q_param(n, ctx, "w", in[4], wz, &in[3]->shape, 1, SK_I8, &q->wq)) ||
        (rc = sk_q_param(n, ctx, "y", in[6], yz, &q->g.out, 1, in[0]->dtype, &q->yq)))
        return rc;
    if (q->wq.n > 1 && q->wq.axis != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "per-channel w_scale must be along axis 1");
    q->bias = B;
    return 0;
}

int sk_infer_qconv_transpose(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    qct q;
    int rc = qct_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    out[0].dtype = q.yq.qt;
    out[0].shape = q.g.out;
    return 0;
}

int sk_run_qconv_transpose(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    qct q;
    int rc = qct_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    const sk_convt_geom *g = &q.g;
    const sk_win *w = &g->w;
    int64_t P = sk_win_out_size(w), Pin = g->Pin, KV = sk_win_k_size(w);
    int64_t *acc = malloc((size_t)P * sizeof *acc);
    if (!acc)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    const sk_tensor *X = in[0], *W = in[3];
    int32_t xzp = sk_q_zp(&q.xq, 0), yzp = sk_q_zp(&q.yq, 0);
    for (int64_t b = 0; b < g->N; b++)
        for (int64_t m = 0; m < g->M; m++) {
            int64_t gi = m / g->Mg, mg = m % g->Mg, wc = q.wq.n > 1 ? m : 0;
            int32_t wzp = sk_q_zp(&q.wq, wc);
            int64_t bias = q.bias ? ((const int32_t *)q.bias->data)[m] : 0;
            for (int64_t o = 0; o < P; o++)
                acc[o] = bias;
            for (int64_t c = gi * g->Cg; c < (gi + 1) * g->Cg; c++)
                for (int64_t i = 0; i < Pin; i++) {
                    int64_t i0 = i / (w->in[1] * w->in[2]), i1 = i / w->in[2] % w->in[1],
                            i2 = i % w->in[2];
                    int32_t xv = sk_q_load(X->dtype, X->data, (b * g->C + c) * Pin + i) - xzp;
                    for (int64_t k = 0; k < KV; k++) {
                        int64_t k0 = k / (w->k[1] * w->k[2]), k1 = k / w->k[2] % w->k[1],
                                k2 = k % w->k[2];
                        int64_t o0 = i0 * w->stride[0] + k0 * w->dil[0] - w->pb[0],
                                o1 = i1 * w->stride[1] + k1 * w->dil[1] - w->pb[1],
                                o2 = i2 * w->stride[2] + k2 * w->dil[2] - w->pb[2];
                        if (o0 < 0 || o0 >= w->out[0] || o1 < 0 || o1 >= w->out[1] || o2 < 0 ||
                            o2 >= w->out[2])
                            continue;
                        int32_t wv = ((const int8_t *)W->data)[(c * g->Mg + mg) * KV + k] - wzp;
                        acc[(o0 * w->out[1] + o1) * w->out[2] + o2] += (int64_t)xv * wv;
                    }
                }
            float mult = q.xq.scale[0] * q.wq.scale[wc] / q.yq.scale[0];
            int64_t off = (b * g->M + m) * P;
            for (int64_t o = 0; o < P; o++)
                sk_q_store(q.yq.qt, out[0].data, off + o,
                           sk_q_round_sat((float)acc[o] * mult, yzp, q.yq.qt));
        }
    free(acc);
    return 0;
}
