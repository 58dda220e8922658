/* qconv_dequant.c — reference _QConvDequant, the int8 pointwise conv with a
 * float output that a QDQ model's head becomes (passes/qdq_head.c):
 *
 *   DQ(x) -> Conv 1x1 (DQ(w int8), DQ(b int32)?) -> float y (no Q after it:
 *   the logits of a segmentation / classification head)
 *
 *   _QConvDequant(x, x_scale, x_zp, w, w_scale, w_zp, B?)
 *     x uint8 / int8 [N, C, H, W], per-tensor scale and zero point; w int8
 *     [M, C, 1, 1], per-tensor or per-output-channel (axis 0) scales; B int32
 *     [M] at scale x_scale * w_scale[m] (the pass checks it); y float32
 *     [N, M, H, W]. Pointwise only: kernel 1x1, stride 1, no pads, group 1.
 *
 *   acc[m][p] = B[m] + sum_c (x[c][p] - x_zp) * (w[m][c] - w_zp[m])   (int64)
 *   y[m][p]   = (float)acc * (x_scale * w_scale[m])     (float32, two roundings)
 *   (times the attribute alpha, a QDQ Gemm's, folded into that product:
 *   (x_scale * w_scale[m]) * alpha, session 15)
 *
 * — QLinearConv's integer sum with the requantization's division by y_scale
 * left out (a dequantizing epilogue). It differs from DQ -> float Conv only
 * by the float sum's rounding: the float graph rounds every product and
 * partial sum, this rounds once (tests/unit/test_qconv_dequant.c bounds the
 * difference). Dilations do not matter for a 1x1 kernel and are ignored.
 *
 * Rank 2 (session 14, branch qgm): x [N, K], w [M, K] (a QDQ Gemm, transB
 * folded by the pass), y [N, M] — the same sums with H = W = 1, which is
 * also how the NCHW index below lays y out. */
#include <string.h>

#include "graph.h"
#include "ops.h"
#include "quant_util.h"
#include "ref_util.h"

typedef struct qcd {
    sk_qparam xq, wq;
    const sk_tensor *bias;
    int64_t N, C, M, P;
} qcd;

/* the pointwise form: 1x1 (from w), strides 1, pads 0, group 1 */
static int pointwise_attrs(const sk_node *n)
{
    const int64_t *a;
    int na;
    if (sk_attr_int(n, "group", 1) != 1)
        return 0;
    if ((na = sk_attr_ints(n, "strides", &a)) > 0)
        for (int i = 0; i < na; i++)
            if (a[i] != 1)
                return 0;
    if ((na = sk_attr_ints(n, "pads", &a)) > 0)
        for (int i = 0; i < na; i++)
            if (a[i] != 0)
                return 0;
    if ((na = sk_attr_ints(n, "kernel_shape", &a)) > 0)
        for (int i = 0; i < na; i++)
            if (a[i] != 1)
                return 0;
    const char *ap = sk_attr_str(n, "auto_pad", "NOTSET");
    return strcmp(ap, "NOTSET") == 0 || strcmp(ap, "VALID") == 0 ||
           strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0;
}

static int qcd_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                     sk_kctx *ctx, qcd *q)
{
    if (nin < 6 || !in[0] || !in[1] || !in[3] || !in[4] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL,
                        "needs x, x_scale, x_zero_point, w, w_scale, w_zero_point");
    const sk_tensor *X = in[0], *W = in[3];
    if (!sk_q_is8(X->dtype) || W->dtype != SK_I8)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x must be int8 or uint8 and w int8");
    /* rank 2 (session 14, qgm): a QDQ Gemm (passes/qdq_head.c), x [N, K]
     * and w [M, K] — a 1x1 conv of N images of one pixel, y [N, M] */
    int gemm = X->shape.rank == 2 && W->shape.rank == 2;
    if ((!gemm && (X->shape.rank != 4 || W->shape.rank != 4 || W->shape.dim[2] != 1 ||
                   W->shape.dim[3] != 1)) ||
        W->shape.dim[1] != X->shape.dim[1] || !pointwise_attrs(n))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "needs a 2-D 1x1 conv: x [N,C,H,W], w [M,C,1,1], stride 1, no pads, "
                        "group 1 (or a Gemm: x [N,K], w [M,K])");
    const sk_tensor *B = sk_ref_opt(in, nin, 6);
    if (B && (B->dtype != SK_I32 || B->shape.rank != 1 || B->shape.dim[0] != W->shape.dim[0]))
        return sk_kfail(ctx, n, SK_ESHAPE, "B must be int32 [M]");
    const sk_tensor *xz = sk_ref_opt(in, nin, 2), *wz = sk_ref_opt(in, nin, 5);
    if ((xz && xz->dtype != X->dtype) || (wz && wz->dtype != SK_I8))
        return sk_kfail(ctx, n, SK_EINVAL, "a zero point's type differs from its data's");
    if (sk_shape_numel(&in[1]->shape) != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x_scale must be per tensor");
    int rc;
    if ((rc = sk_q_param(n, ctx, "x", in[1], xz, &X->shape, 1, X->dtype, &q->xq)) ||
        (rc = sk_q_param(n, ctx, "w", in[4], wz, &W->shape, 0, SK_I8, &q->wq)))
        return rc;
    if (q->wq.n > 1 && q->wq.axis != 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "per-channel w_scale must be along axis 0");
    q->bias = B;
    q->N = X->shape.dim[0];
    q->C = X->shape.dim[1];
    q->M = W->shape.dim[0];
    q->P = gemm ? 1 : X->shape.dim[2] * X->shape.dim[3];
    return 0;
}

int sk_infer_qconv_dequant(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    qcd q;
    int rc = qcd_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = in[0]->shape;
    out[0].shape.dim[1] = q.M;
    return 0;
}

int sk_run_qconv_dequant(const sk_node *n, const sk_tensor *const *in, int nin,
                         sk_tensor *out, int nout, sk_kctx *ctx)
{
    qcd q;
    int rc = qcd_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    const sk_tensor *X = in[0];
    const int8_t *w = in[3]->data;
    float *y = out[0].data;
    int32_t xzp = sk_q_zp(&q.xq, 0);
    for (int64_t b = 0; b < q.N; b++)
        for (int64_t m = 0; m < q.M; m++) {
            int64_t wc = q.wq.n > 1 ? m : 0;
            int32_t wzp = sk_q_zp(&q.wq, wc);
            int64_t bias = q.bias ? ((const int32_t *)q.bias->data)[m] : 0;
            /* alpha: a QDQ Gemm's (passes/qdq_head.c), folded in after the
             * product as the packed kernel's multiplier is */
            float s = q.xq.scale[0] * q.wq.scale[wc] * sk_attr_float(n, "alpha", 1.0f);
            for (int64_t p = 0; p < q.P; p++) {
                int64_t acc = bias;
                for (int64_t c = 0; c < q.C; c++)
                    acc += (int64_t)(sk_q_load(X->dtype, X->data, (b * q.C + c) * q.P + p) - xzp) *
                           (w[m * q.C + c] - wzp);
                y[(b * q.M + m) * q.P + p] = (float)acc * s;
            }
        }
    return 0;
}
