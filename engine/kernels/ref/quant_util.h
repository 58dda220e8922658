/* quant_util.h — quantization parameters shared by the quantized reference
 * kernels (quant.c, qlinear.c, qlinear_ms.c): reading a scale and zero point
 * (per tensor or per axis), checking them, and the exact rounding rules.
 *
 * Rules (ONNX QuantizeLinear / DequantizeLinear, as onnxruntime computes):
 *   q = saturate(round_half_even(x / scale) + zero_point)   (float32 divide)
 *   x = (float)(q - zero_point) * scale
 * int8 and uint8 only; a missing zero point is 0 of uint8 (or of the type an
 * opset-21 `output_dtype` names). */
#ifndef SK_QUANT_UTIL_H
#define SK_QUANT_UTIL_H

#include <math.h>
#include <stdint.h>

#include "graph.h"
#include "ops.h"
#include "sk.h"

typedef struct sk_qparam {
    const float *scale;
    const void *zp;  /* NULL: 0 */
    sk_dtype qt;     /* SK_I8 or SK_U8 */
    int64_t n;       /* 1 (per tensor) or the length of the axis */
    int axis;        /* normalized; meaningful when n > 1 */
} sk_qparam;

static inline int sk_q_is8(sk_dtype t) { return t == SK_I8 || t == SK_U8; }

static inline int32_t sk_q_zp(const sk_qparam *q, int64_t i)
{
    if (!q->zp)
        return 0;
    return q->qt == SK_I8 ? ((const int8_t *)q->zp)[i] : ((const uint8_t *)q->zp)[i];
}

static inline int32_t sk_q_load(sk_dtype t, const void *p, int64_t i)
{
    return t == SK_I8 ? ((const int8_t *)p)[i] : ((const uint8_t *)p)[i];
}

/* round half to even, then add zp and saturate to the type's range. NaN
 * becomes the zero point (ONNX leaves it undefined; this never traps). */
static inline int32_t sk_q_round_sat(float v, int32_t zp, sk_dtype t)
{
    int32_t lo = t == SK_I8 ? -128 : 0, hi = t == SK_I8 ? 127 : 255;
    if (v != v)
        return zp < lo ? lo : zp > hi ? hi : zp;
    float r = nearbyintf(v) + (float)zp; /* default rounding mode: ties to even */
    if (r <= (float)lo)
        return lo;
    if (r >= (float)hi)
        return hi;
    return (int32_t)r;
}

static inline void sk_q_store(sk_dtype t, void *p, int64_t i, int32_t v)
{
    if (t == SK_I8)
        ((int8_t *)p)[i] = (int8_t)v;
    else
        ((uint8_t *)p)[i] = (uint8_t)v;
}

/* Read scale `s` and zero point `z` (may be NULL) for data of shape `x`:
 * a scalar or one-element scale is per tensor; a 1-D scale is per axis
 * (`axis` attribute, default 1; opset 10 has none and takes scalars only).
 * Checks: float32 scale; int8/uint8 zero point of the scale's shape; axis in
 * range; length matching the axis; when the scale is known (a constant),
 * every scale finite and non-zero. `what` names the operand in messages ("x",
 * "y", "w"); `qt_default` is the type when z is NULL. At plan time (infer)
 * s->data may be NULL (a runtime scale): only the shapes are checked. */
static inline int sk_q_param(const sk_node *n, sk_kctx *ctx, const char *what,
                             const sk_tensor *s, const sk_tensor *z, const sk_shape *x,
                             int64_t axis_attr, sk_dtype qt_default, sk_qparam *q)
{
    char b1[96], b2[96];
    if (!s)
        return sk_kfail(ctx, n, SK_EINVAL, "%s_scale is required", what);
    if (s->dtype != SK_F32)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "%s_scale is %s; float32 or float16 is needed",
                        what, sk_dtype_name(s->dtype));
    if (z && !sk_q_is8(z->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "%s_zero_point is %s; only int8 and uint8 quantization is supported "
                        "(re-quantize the model to int8 or uint8)",
                        what, sk_dtype_name(z->dtype));
    int64_t ns = sk_shape_numel(&s->shape);
    if (s->shape.rank > 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "%s_scale has shape %s: blocked quantization is not supported (use "
                        "per-tensor or per-axis scales)",
                        what, sk_shape_str(&s->shape, b1, sizeof b1));
    if (ns < 1)
        return sk_kfail(ctx, n, SK_ESHAPE, "%s_scale is empty", what);
    if (z && !sk_shape_equal(&z->shape, &s->shape) &&
        !(sk_shape_numel(&z->shape) == 1 && ns == 1))
        return sk_kfail(ctx, n, SK_ESHAPE, "%s_zero_point %s and %s_scale %s differ in shape",
                        what, sk_shape_str(&z->shape, b1, sizeof b1), what,
                        sk_shape_str(&s->shape, b2, sizeof b2));
    q->n = ns;
    q->axis = 0;
    q->qt = z ? z->dtype : qt_default;
    if (ns > 1 || s->shape.rank == 1) {
        if (x->rank < 1 && ns > 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "a per-axis %s_scale needs a tensor of rank >= 1",
                            what);
        int64_t ax = axis_attr < 0 ? axis_attr + x->rank : axis_attr;
        if (ns > 1 && (ax < 0 || ax >= x->rank))
            return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for %s of rank %d",
                            (long long)axis_attr, what, x->rank);
        if (ns > 1 && x->dim[ax] != ns)
            return sk_kfail(ctx, n, SK_ESHAPE,
                            "%s_scale has %lld values but %s %s has %lld along axis %lld", what,
                            (long long)ns, what, sk_shape_str(x, b1, sizeof b1),
                            (long long)x->dim[ax], (long long)axis_attr);
        q->axis = ns > 1 ? (int)ax : 0;
    }
    q->scale = s->data;
    q->zp = z ? z->data : NULL;
    if (q->scale)
        for (int64_t i = 0; i < ns; i++)
            if (q->scale[i] == 0 || !isfinite(q->scale[i]))
                return sk_kfail(ctx, n, SK_EINVAL,
                                "%s_scale[%lld] = %g; a scale must be finite and non-zero", what,
                                (long long)i, (double)q->scale[i]);
    return 0;
}

/* Element i of a tensor of shape x -> its index along q->axis (0 per tensor). */
typedef struct sk_q_walk {
    int64_t inner, n; /* elements after the axis; axis length */
} sk_q_walk;

static inline sk_q_walk sk_q_walk_of(const sk_qparam *q, const sk_shape *x)
{
    sk_q_walk w = {1, q->n};
    if (q->n > 1)
        for (int d = q->axis + 1; d < x->rank; d++)
            w.inner *= x->dim[d];
    return w;
}

static inline int64_t sk_q_index(const sk_q_walk *w, int64_t i)
{
    return w->n > 1 ? (i / w->inner) % w->n : 0;
}

#endif
