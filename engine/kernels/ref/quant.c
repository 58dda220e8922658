/* quant.c — reference QuantizeLinear (opsets 10, 13, 19, 21),
 * DequantizeLinear (same opsets) and DynamicQuantizeLinear: int8 / uint8,
 * per tensor or per axis, exact rounding (quant_util.h).
 *
 * Refused with a message naming what to do: blocked quantization
 * (block_size, opset 21), float8 / int4 / int16 types (saturate is only
 * meaningful for float8 and is ignored), a zero or non-finite constant
 * scale. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "graph.h"
#include "ops.h"
#include "quant_util.h"
#include "ref_util.h"

/* opset 21: block_size / output_dtype. */
static int q_attrs(const sk_node *n, sk_kctx *ctx, sk_dtype *out_dt)
{
    int64_t bs = sk_attr_int(n, "block_size", 0);
    if (bs != 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "blocked quantization (block_size = %lld, opset %d) is not supported; "
                        "quantize per tensor or per axis",
                        (long long)bs, n->opset);
    int64_t od = sk_attr_int(n, "output_dtype", 0);
    if (od != 0 && od != SK_I8 && od != SK_U8)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "output_dtype %lld is not supported: only int8 (3) and uint8 (2)",
                        (long long)od);
    *out_dt = od ? (sk_dtype)od : SK_U8;
    return 0;
}

static int q_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout, sk_kctx *ctx,
                   sk_qparam *q)
{
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs x and y_scale");
    if (in[0]->dtype != SK_F32 && in[0]->dtype != SK_I32)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x is %s; float32 (or float16) and int32 are",
                        sk_dtype_name(in[0]->dtype));
    sk_dtype od;
    int rc = q_attrs(n, ctx, &od);
    if (rc)
        return rc;
    const sk_tensor *z = sk_ref_opt(in, nin, 2);
    if (z && sk_attr_int(n, "output_dtype", 0) && z->dtype != od)
        return sk_kfail(ctx, n, SK_EINVAL, "y_zero_point is %s but output_dtype says %s",
                        sk_dtype_name(z->dtype), sk_dtype_name(od));
    int64_t axis = n->opset >= 13 ? sk_attr_int(n, "axis", 1) : 1;
    if (n->opset < 13 && sk_shape_numel(&in[1]->shape) != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "per-axis scales need opset >= 13 (this node is opset %d): re-export "
                        "with opset >= 13",
                        n->opset);
    return sk_q_param(n, ctx, "y", in[1], z, &in[0]->shape, axis, od, q);
}

int sk_infer_quantize_linear(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_qparam q;
    int rc = q_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    out[0].dtype = q.qt;
    out[0].shape = in[0]->shape;
    return 0;
}

int sk_run_quantize_linear(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_qparam q;
    int rc = q_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    const sk_shape *xs = &in[0]->shape;
    int64_t cnt = sk_shape_numel(xs);
    sk_q_walk w = sk_q_walk_of(&q, xs);
    int is_i32 = in[0]->dtype == SK_I32;
    for (int64_t i = 0; i < cnt; i++) {
        int64_t c = sk_q_index(&w, i);
        /* x / scale in float32, as onnxruntime divides; an int32 x is
         * converted to float32 first (the spec's "saturate(x / scale)") */
        float x = is_i32 ? (float)((const int32_t *)in[0]->data)[i]
                         : ((const float *)in[0]->data)[i];
        sk_q_store(q.qt, out[0].data, i, sk_q_round_sat(x / q.scale[c], sk_q_zp(&q, c), q.qt));
    }
    return 0;
}

/* --- DequantizeLinear ------------------------------------------------------ */

static int dq_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                    sk_kctx *ctx, sk_qparam *q)
{
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs x and x_scale");
    sk_dtype od;
    int rc = q_attrs(n, ctx, &od);
    if (rc)
        return rc;
    const sk_tensor *z = sk_ref_opt(in, nin, 2);
    sk_dtype xt = in[0]->dtype;
    int64_t axis = n->opset >= 13 ? sk_attr_int(n, "axis", 1) : 1;
    if (n->opset < 13 && sk_shape_numel(&in[1]->shape) != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "per-axis scales need opset >= 13 (this node is opset %d): re-export "
                        "with opset >= 13",
                        n->opset);
    if (xt == SK_I32) {
        /* int32 (a quantized bias): the zero point, if any, must be 0 */
        if (z && z->dtype != SK_I32)
            return sk_kfail(ctx, n, SK_EINVAL, "x is int32 but x_zero_point is %s",
                            sk_dtype_name(z->dtype));
        if (z && z->data)
            for (int64_t i = 0; i < sk_shape_numel(&z->shape); i++)
                if (((const int32_t *)z->data)[i] != 0)
                    return sk_kfail(ctx, n, SK_EINVAL,
                                    "an int32 x needs a zero point of 0 (got %d)",
                                    ((const int32_t *)z->data)[i]);
        rc = sk_q_param(n, ctx, "x", in[1], NULL, &in[0]->shape, axis, SK_U8, q);
        q->qt = SK_I32;
        return rc;
    }
    if (!sk_q_is8(xt))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "x is %s; int8, uint8 and int32 are supported (float8, int4 and int16 "
                        "are not: re-quantize to int8 or uint8)",
                        sk_dtype_name(xt));
    if (z && z->dtype != xt)
        return sk_kfail(ctx, n, SK_EINVAL, "x is %s but x_zero_point is %s", sk_dtype_name(xt),
                        sk_dtype_name(z->dtype));
    return sk_q_param(n, ctx, "x", in[1], z, &in[0]->shape, axis, xt, q);
}

int sk_infer_dequantize_linear(const sk_node *n, const sk_tensor *const *in, int nin,
                               sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_qparam q;
    int rc = dq_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = in[0]->shape;
    return 0;
}

int sk_run_dequantize_linear(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_qparam q;
    int rc = dq_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    const sk_shape *xs = &in[0]->shape;
    int64_t cnt = sk_shape_numel(xs);
    sk_q_walk w = sk_q_walk_of(&q, xs);
    float *y = out[0].data;
    for (int64_t i = 0; i < cnt; i++) {
        int64_t c = sk_q_index(&w, i);
        int32_t v = q.qt == SK_I32 ? ((const int32_t *)in[0]->data)[i]
                                   : sk_q_load(q.qt, in[0]->data, i) - sk_q_zp(&q, c);
        y[i] = (float)v * q.scale[c];
    }
    return 0;
}

/* --- DynamicQuantizeLinear -------------------------------------------------- */

int sk_infer_dynamic_quantize_linear(const sk_node *n, const sk_tensor *const *in, int nin,
                                     sk_tensor *out, int nout, sk_kctx *ctx)
{
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs x");
    if (in[0]->dtype != SK_F32)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x is %s; float32 is needed",
                        sk_dtype_name(in[0]->dtype));
    out[0].dtype = SK_U8;
    out[0].shape = in[0]->shape;
    if (nout > 1) {
        out[1].dtype = SK_F32;
        out[1].shape.rank = 0;
    }
    if (nout > 2) {
        out[2].dtype = SK_U8;
        out[2].shape.rank = 0;
    }
    return 0;
}

/* uint8, range [min(x, 0), max(x, 0)] over 255 steps; the zero point is the
 * rounded (half to even) image of 0. An all-zero x (empty range) takes
 * scale 1, as onnxruntime does, instead of dividing by zero. */
int sk_run_dynamic_quantize_linear(const sk_node *n, const sk_tensor *const *in, int nin,
                                   sk_tensor *out, int nout, sk_kctx *ctx)
{
    (void)n;
    (void)nin;
    (void)ctx;
    const float *x = in[0]->data;
    int64_t cnt = sk_shape_numel(&in[0]->shape);
    float lo = 0, hi = 0;
    for (int64_t i = 0; i < cnt; i++) {
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
    }
    float scale = hi > lo ? (hi - lo) / 255.0f : 1.0f;
    if (!isfinite(scale)) /* an inf in x: no finite scale exists */
        scale = FLT_MAX;
    int32_t zp = sk_q_round_sat(0.0f - lo / scale, 0, SK_U8);
    uint8_t *y = out[0].data;
    for (int64_t i = 0; i < cnt; i++)
        y[i] = (uint8_t)sk_q_round_sat(x[i] / scale, zp, SK_U8);
    if (nout > 1)
        *(float *)out[1].data = scale;
    if (nout > 2)
        *(uint8_t *)out[2].data = (uint8_t)zp;
    return 0;
}
