/* fused_irblock.c — reference kernel of _IRBlockFused (kernels/fast.h), an
 * inverted-residual block as engine/passes/fuse_irblock.c merges it:
 *   E = clamp(W1 * X + B1, exp_min, exp_max)          expand 1x1 (E = X
 *                                                      when W1 is omitted)
 *   D = clamp(dw3x3(E, pads 1, stride s) + Bd, dw_min, dw_max)
 *   Y = clamp(W2 * D + B2 + R, act_min, act_max)       project 1x1
 * Plain loops, one image at a time (scratch: that image's E and D), each
 * sum from its bias in input-channel / tap order. The fast kernel
 * (fast_irblock.c) is checked against this and against the unfused
 * graph. */
#include <math.h>
#include <string.h>

#include "graph.h"
#include "kernels/fast.h"
#include "nn_util.h"
#include "ops.h"

static int need4(const sk_node *n, sk_kctx *ctx, const sk_tensor *t, const char *what,
                 int64_t d0, int64_t d1, int64_t d2)
{
    if (!t || t->dtype != SK_F32 || t->shape.rank != 4 || t->shape.dim[0] != d0 ||
        t->shape.dim[1] != d1 || t->shape.dim[2] != d2 || t->shape.dim[3] != d2)
        return sk_kfail(ctx, n, SK_ESHAPE, "%s must be float32 [%lld, %lld, %lld, %lld]", what,
                        (long long)d0, (long long)d1, (long long)d2, (long long)d2);
    if (!t->data)
        return sk_kfail(ctx, n, SK_EINVAL,
                        "%s was released after packing for the SIMD level of the load; run it "
                        "at that level", what);
    return 0;
}

static int need_bias(const sk_node *n, sk_kctx *ctx, const sk_tensor *t, const char *what,
                     int64_t len)
{
    if (!t || t->dtype != SK_F32 || sk_shape_numel(&t->shape) != len)
        return sk_kfail(ctx, n, SK_ESHAPE, "%s must be %lld float32 values", what,
                        (long long)len);
    return 0;
}

/* The depthwise stride: 1 or 2 ("strides" = [s, s]), 0 for anything else. */
static int64_t irblock_stride(const sk_node *n)
{
    const int64_t *sv;
    if (sk_attr_ints(n, "strides", &sv) != 2 || sv[0] != sv[1])
        return 0;
    return sv[0];
}

int sk_irblock_check(const sk_node *n, const sk_tensor *const *in, int nin, sk_kctx *ctx,
                     int64_t *oH, int64_t *oW)
{
    if (nin < 7 || !in[0] || !in[3] || (in[1] && !in[2]))
        return sk_kfail(ctx, n, SK_EINVAL, "needs X, W1, B1 (or neither), Wd, Bd, W2, B2");
    const sk_shape *xs = &in[0]->shape;
    if (in[0]->dtype != SK_F32 || xs->rank != 4)
        return sk_kfail(ctx, n, SK_ESHAPE, "X must be float32 [N, C, H, W]");
    if ((in[1] && in[1]->shape.rank != 4) || !in[5] || in[5]->shape.rank != 4)
        return sk_kfail(ctx, n, SK_ESHAPE, "W1 and W2 must be [out, in, 1, 1]");
    /* no W1: a block without expansion (MobileNetV2's first), E = X */
    const int64_t C = xs->dim[1], E = in[1] ? in[1]->shape.dim[0] : C, M = in[5]->shape.dim[0];
    int rc;
    if ((in[1] && ((rc = need4(n, ctx, in[1], "W1", E, C, 1)) ||
                   (rc = need_bias(n, ctx, in[2], "B1", E)))) ||
        (rc = need4(n, ctx, in[3], "Wd", E, 1, 3)) || (rc = need4(n, ctx, in[5], "W2", M, E, 1)) ||
        (rc = need_bias(n, ctx, in[4], "Bd", E)) || (rc = need_bias(n, ctx, in[6], "B2", M)))
        return rc;
    const int64_t s = irblock_stride(n);
    if (s != 1 && s != 2)
        return sk_kfail(ctx, n, SK_EINVAL, "strides must be 1,1 or 2,2");
    if (xs->dim[2] < 1 || xs->dim[3] < 1)
        return sk_kfail(ctx, n, SK_ESHAPE, "X has an empty spatial dim");
    *oH = (xs->dim[2] - 1) / s + 1; /* pads 1, kernel 3 */
    *oW = (xs->dim[3] - 1) / s + 1;
    if (nin > 7 && in[7]) {
        const sk_shape *r = &in[7]->shape;
        if (in[7]->dtype != SK_F32 || r->rank != 4 || r->dim[0] != xs->dim[0] || r->dim[1] != M ||
            r->dim[2] != *oH || r->dim[3] != *oW)
            return sk_kfail(ctx, n, SK_ESHAPE, "residual differs from the output");
    }
    return 0;
}

size_t sk_ref_scratch_irblock_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                                    const sk_tensor *out, int nout, int nthreads)
{
    (void)out;
    (void)nout;
    (void)nthreads;
    sk_kctx q = sk_nn_quiet_ctx();
    int64_t oH, oW;
    if (sk_irblock_check(n, in, nin, &q, &oH, &oW))
        return 0;
    const int64_t E = in[3]->shape.dim[0], HW = in[0]->shape.dim[2] * in[0]->shape.dim[3];
    return sizeof(float) * (size_t)(E * HW + E * oH * oW);
}

int sk_infer_irblock_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                           int nout, sk_kctx *ctx)
{
    (void)nout;
    int64_t oH, oW;
    int rc = sk_irblock_check(n, in, nin, ctx, &oH, &oW);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape.rank = 4;
    out[0].shape.dim[0] = in[0]->shape.dim[0];
    out[0].shape.dim[1] = in[5]->shape.dim[0];
    out[0].shape.dim[2] = oH;
    out[0].shape.dim[3] = oW;
    return 0;
}

static float clampf(float v, float lo, float hi)
{
    if (v < lo) /* false for NaN: a NaN passes, as in the fast kernels */
        v = lo;
    if (v > hi)
        v = hi;
    return v;
}

int sk_run_irblock_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                         int nout, sk_kctx *ctx)
{
    (void)nout;
    int64_t oH, oW;
    int rc = sk_irblock_check(n, in, nin, ctx, &oH, &oW);
    if (rc)
        return rc;
    const int64_t N = in[0]->shape.dim[0], C = in[0]->shape.dim[1], H = in[0]->shape.dim[2],
                  W = in[0]->shape.dim[3], E = in[3]->shape.dim[0], M = in[5]->shape.dim[0];
    const int64_t HW = H * W, oHW = oH * oW, stride = irblock_stride(n);
    const float *x = in[0]->data, *w1 = in[1] ? in[1]->data : NULL,
                *b1 = in[1] ? in[2]->data : NULL, *wd = in[3]->data,
                *bd = in[4]->data, *w2 = in[5]->data, *b2 = in[6]->data;
    const float *r = nin > 7 && in[7] ? in[7]->data : NULL;
    const float emin = sk_attr_float(n, "exp_min", -INFINITY),
                emax = sk_attr_float(n, "exp_max", INFINITY),
                dmin = sk_attr_float(n, "dw_min", -INFINITY),
                dmax = sk_attr_float(n, "dw_max", INFINITY);
    float lo, hi;
    sk_fused_act(n, &lo, &hi);
    void *heap;
    float *e = sk_nn_scratch(ctx, sizeof(float) * (size_t)(E * HW + E * oHW), &heap);
    if (!e)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    float *d = e + E * HW, *y = out[0].data;
    for (int64_t b = 0; b < N; b++) {
        const float *xb = x + b * C * HW;
        for (int64_t c = 0; c < E && !w1; c++)
            memcpy(e + c * HW, xb + c * HW, sizeof(float) * (size_t)HW);
        for (int64_t c = 0; c < E && w1; c++)
            for (int64_t p = 0; p < HW; p++) {
                float acc = b1[c];
                for (int64_t k = 0; k < C; k++)
                    acc += w1[c * C + k] * xb[k * HW + p];
                e[c * HW + p] = clampf(acc, emin, emax);
            }
        for (int64_t c = 0; c < E; c++)
            for (int64_t oh = 0; oh < oH; oh++)
                for (int64_t ow = 0; ow < oW; ow++) {
                    float acc = bd[c];
                    for (int64_t i = 0; i < 3; i++)
                        for (int64_t j = 0; j < 3; j++) {
                            int64_t ih = oh * stride - 1 + i, iw = ow * stride - 1 + j;
                            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                acc += wd[c * 9 + i * 3 + j] * e[c * HW + ih * W + iw];
                        }
                    d[c * oHW + oh * oW + ow] = clampf(acc, dmin, dmax);
                }
        float *yb = y + b * M * oHW;
        const float *rb = r ? r + b * M * oHW : NULL;
        for (int64_t m = 0; m < M; m++)
            for (int64_t p = 0; p < oHW; p++) {
                float acc = b2[m];
                for (int64_t c = 0; c < E; c++)
                    acc += w2[m * E + c] * d[c * oHW + p];
                if (rb)
                    acc += rb[m * oHW + p];
                yb[m * oHW + p] = clampf(acc, lo, hi);
            }
    }
    free(heap);
    return 0;
}
