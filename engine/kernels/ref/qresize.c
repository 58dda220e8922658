/* qresize.c — reference _QResize(x, roi, scales, sizes, x_scale, x_zp,
 * y_scale, y_zp): the int8 linear Resize made from QDQ by
 * passes/qdq_ops.c (attributes as Resize), x and y one 8-bit type,
 * per-tensor parameters, 4-D NCHW with H and W resized. Arithmetic and its
 * bound against the float graph: qresize.h. */
#include <math.h>
#include <string.h>

#include "graph.h"
#include "ops.h"
#include "qresize.h"
#include "quant_util.h"
#include "ref_util.h"

static const sk_tensor *present(const sk_tensor *const *in, int nin, int i)
{
    return i < nin && in[i] && sk_shape_numel(&in[i]->shape) > 0 ? in[i] : NULL;
}

int sk_qrs_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout, sk_kctx *ctx,
                 sk_qrs *q, sk_shape *out)
{
    static const char *const coords[] = {"half_pixel",   "half_pixel_symmetric",
                                         "pytorch_half_pixel", "align_corners",
                                         "asymmetric"};
    /* not tf_half_pixel_for_nn (deprecated since opset 13): its linear form
     * is not covered by test_qresize's independent coordinates, so the
     * pass leaves it to the float Resize */
    if (nin < 7 || !in[0] || !in[4] || !in[6] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL,
                        "needs x, roi, scales, sizes, x_scale, x_zero_point, y_scale, y_zero_point");
    const sk_tensor *xz = sk_ref_opt(in, nin, 5), *yz = sk_ref_opt(in, nin, 7);
    if (!sk_q_is8(in[0]->dtype) || (xz && xz->dtype != in[0]->dtype) ||
        (yz && yz->dtype != in[0]->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x, y and their zero points must be one 8-bit type");
    if (strcmp(sk_attr_str(n, "mode", "nearest"), "linear") != 0 ||
        sk_attr_int(n, "antialias", 0) != 0 || sk_attr_find(n, "axes") ||
        strcmp(sk_attr_str(n, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "only mode linear without antialias, axes or keep_aspect_ratio_policy");
    const int legacy = n->opset > 0 && n->opset < 11;
    const char *cs = sk_attr_str(n, "coordinate_transformation_mode",
                                 legacy ? "asymmetric" : "half_pixel");
    int ci = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(cs, coords[i]))
            ci = i;
    if (ci < 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "coordinate_transformation_mode '%s'", cs);
    const sk_shape *xs = &in[0]->shape;
    if (xs->rank != 4)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x must be 4-D (NCHW)");
    sk_qparam xq, yq;
    int rc;
    if ((rc = sk_q_param(n, ctx, "x", in[4], xz, xs, 1, in[0]->dtype, &xq)) ||
        (rc = sk_q_param(n, ctx, "y", in[6], yz, xs, 1, in[0]->dtype, &yq)))
        return rc;
    if (xq.n != 1 || yq.n != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x and y must be quantized per tensor");
    const sk_tensor *scales = present(in, nin, 2), *sizes = present(in, nin, 3);
    if (!scales == !sizes)
        return sk_kfail(ctx, n, SK_EINVAL, "needs one of scales and sizes");
    const sk_tensor *given = scales ? scales : sizes;
    if (!given->data)
        return sk_kfail(ctx, n, SK_ENEEDVALUE, "%s must be known before the run",
                        scales ? "scales" : "sizes");
    if (given->shape.rank != 1 || given->shape.dim[0] != 4 ||
        given->dtype != (scales ? SK_F32 : SK_I64))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "%s must be 4 %s values",
                        scales ? "scales" : "sizes", scales ? "float32" : "int64");
    memset(q, 0, sizeof *q);
    *out = *xs;
    for (int a = 0; a < 4; a++) {
        double s, len;
        if (scales) {
            s = ((const float *)scales->data)[a];
            len = s * (double)xs->dim[a];
            if (!(s > 0.0) || !(len <= (double)SK_MAX_NUMEL))
                return sk_kfail(ctx, n, SK_EINVAL, "scale %g for axis %d", s, a);
            out->dim[a] = (int64_t)floor(len);
        } else {
            int64_t z = ((const int64_t *)sizes->data)[a];
            if (z < 0 || z > SK_MAX_NUMEL || xs->dim[a] <= 0)
                return sk_kfail(ctx, n, SK_EINVAL, "size %lld for axis %d", (long long)z, a);
            len = (double)z;
            s = len / (double)xs->dim[a];
            out->dim[a] = z;
        }
        if (a < 2 && (s != 1.0 || out->dim[a] != xs->dim[a]))
            return sk_kfail(ctx, n, SK_EUNSUPPORTED, "only H and W may be resized");
        if (a >= 2) {
            q->scale[a - 2] = s;
            q->len[a - 2] = len;
        }
    }
    if (sk_shape_numel(out) < 0 || (sk_shape_numel(out) > 0 && (xs->dim[2] <= 0 || xs->dim[3] <= 0)))
        return sk_kfail(ctx, n, SK_ESHAPE, "cannot resize x");
    if (xs->dim[2] >= ((int64_t)1 << 31) || xs->dim[3] >= ((int64_t)1 << 31))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "H or W of 2^31 or more");
    q->coord = (sk_resize_coord)ci;
    q->NC = xs->dim[0] * xs->dim[1];
    q->H = xs->dim[2];
    q->W = xs->dim[3];
    q->oH = out->dim[2];
    q->oW = out->dim[3];
    q->s8 = in[0]->dtype == SK_I8;
    q->xzp = sk_q_zp(&xq, 0) + (q->s8 ? 128 : 0);
    q->yzp = sk_q_zp(&yq, 0);
    float xsc = xq.scale ? xq.scale[0] : 0.0f, ysc = yq.scale ? yq.scale[0] : 1.0f;
    q->m = ldexpf(xsc / ysc, -2 * SK_QRS_BITS);
    return 0;
}

int sk_infer_qresize(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    sk_qrs q;
    int rc = sk_qrs_setup(n, in, nin, nout, ctx, &q, &out[0].shape);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    return 0;
}

/* element by element, as qresize.h writes it (int8 through the uint8 view:
 * x ^ 0x80 with zp + 128 gives the same differences) */
int sk_run_qresize(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                   int nout, sk_kctx *ctx)
{
    sk_qrs q;
    sk_shape os;
    int rc = sk_qrs_setup(n, in, nin, nout, ctx, &q, &os);
    if (rc)
        return rc;
    const uint8_t *x = in[0]->data;
    uint8_t *y = out[0].data;
    const int32_t flip = q.s8 ? 0x80 : 0;
    for (int64_t p = 0; p < q.NC; p++) {
        const uint8_t *xp = x + p * q.H * q.W;
        for (int64_t oh = 0; oh < q.oH; oh++) {
            int32_t h0, h1, lh;
            sk_qrs_tap(&q, 0, q.H, q.oH, oh, &h0, &h1, &lh);
            for (int64_t ow = 0; ow < q.oW; ow++) {
                int32_t w0, w1, lw;
                sk_qrs_tap(&q, 1, q.W, q.oW, ow, &w0, &w1, &lw);
                const uint8_t *r0 = xp + h0 * q.W, *r1 = xp + h1 * q.W;
                int32_t t = (SK_QRS_ONE - lw) * ((r0[w0] ^ flip) - q.xzp) +
                            lw * ((r0[w1] ^ flip) - q.xzp);
                int32_t b = (SK_QRS_ONE - lw) * ((r1[w0] ^ flip) - q.xzp) +
                            lw * ((r1[w1] ^ flip) - q.xzp);
                *y++ = sk_qrs_out(&q, (SK_QRS_ONE - lh) * t + lh * b);
            }
        }
    }
    return 0;
}
