/* qresize.h — the arithmetic of _QResize (ref/qresize.c), the int8 linear
 * Resize a QDQ model's DQ -> Resize(linear) -> Q becomes (passes/qdq_ops.c),
 * shared by the reference and kernels/fast_qresize.c so both give the same
 * bits:
 *
 *   per resized axis, output o maps to input coordinate c (Resize's
 *   coordinate_transformation_mode, ref/resize_coord.h, in double as the
 *   float reference does), clamped to [0, in - 1]; taps i0 = floor(c),
 *   i1 = min(i0 + 1, in - 1); weights in fixed point with SK_QRS_BITS bits:
 *   l1 = rint((c - i0) * 2^11), l0 = 2^11 - l1 (they sum to 2^11 exactly)
 *   acc = ly0 * (lx0 * (x00 - zp) + lx1 * (x01 - zp))
 *       + ly1 * (lx0 * (x10 - zp) + lx1 * (x11 - zp))      (int32, exact)
 *   y   = saturate(round_half_even((float)acc * m) + y_zp),
 *         m = (x_s / y_s) * 2^-22   ((float)acc and the product: two
 *         float roundings, ~1e-7 relative each, inside the bound below)
 *
 * Bound against the float graph (DQ -> float Resize -> Q): each weight is
 * within 2^-12 of the float one and the pair sums to 1, so each axis moves
 * the interpolated value by at most 255 * 2^-12 steps of x, both axes by
 * 0.125 x steps, i.e. 0.125 * x_s / y_s output steps; the float path's own
 * roundings (DQ's product, float sums) are ~1e-5 of that. With x_s / y_s
 * <= 2 (what passes/qdq_ops.c accepts) the two real values differ by
 * < 0.25 + 1e-4, so the rounded outputs differ by at most 1; on an exact
 * 2x half-pixel up-sample (weights 1/4, 3/4: exact in 11 bits) the only
 * difference is the float path's rounding, which moves a result only at
 * a .5 tie. acc: |lx0 (a) + lx1 (b)| <= 2^11 * 255 < 2^19, times 2^11:
 * < 2^30, fits int32 for every input. */
#ifndef SK_REF_QRESIZE_H
#define SK_REF_QRESIZE_H

#include <math.h>
#include <stdint.h>

#include "ops.h"
#include "resize_coord.h"

#define SK_QRS_BITS 11
#define SK_QRS_ONE (1 << SK_QRS_BITS)

typedef struct sk_qrs {
    int64_t NC, H, W, oH, oW;
    sk_resize_coord coord;
    double scale[2], len[2]; /* H, W: output / input, and input * scale */
    int s8;                  /* int8 x and y (else uint8) */
    int32_t xzp, yzp;        /* xzp in the uint8 view (+128 for int8) */
    float m;                 /* x_s / y_s * 2^-22 */
} sk_qrs;

/* the tap of output o along axis a (0 = H, 1 = W) of `in` inputs, `out`
 * outputs: input indices and the weight of i1 (i0's is SK_QRS_ONE - l1) */
static inline void sk_qrs_tap(const sk_qrs *q, int a, int64_t in, int64_t out, int64_t o,
                              int32_t *i0, int32_t *i1, int32_t *l1)
{
    double c = sk_resize_source(q->coord, (double)o, q->scale[a], in, out, q->len[a], 0.0, 1.0);
    /* clamped, NaN to 0, as ref/resize.c */
    double cc = c > 0.0 ? (c < (double)(in - 1) ? c : (double)(in - 1)) : 0.0;
    int64_t f = (int64_t)floor(cc);
    *i0 = (int32_t)f;
    *i1 = (int32_t)(f + 1 < in ? f + 1 : in - 1);
    *l1 = (int32_t)nearbyint((cc - (double)f) * SK_QRS_ONE);
}

static inline uint8_t sk_qrs_out(const sk_qrs *q, int32_t acc)
{
    float r = nearbyintf((float)acc * q->m) + (float)q->yzp;
    float lo = q->s8 ? -128.f : 0.f, hi = q->s8 ? 127.f : 255.f;
    r = r < lo ? lo : r > hi ? hi : r;
    return (uint8_t)(int8_t)(int32_t)r;
}

struct sk_node;
/* the node's geometry and parameters (ref/qresize.c): 0 or an error
 * (4-D NCHW, N and C kept, mode linear, no tf_crop_and_resize /
 * tf_half_pixel_for_nn / axes /
 * antialias / keep_aspect_ratio_policy); *out its output shape */
int sk_qrs_setup(const struct sk_node *n, const sk_tensor *const *in, int nin, int nout,
                 sk_kctx *ctx, sk_qrs *q, sk_shape *out);

#endif
