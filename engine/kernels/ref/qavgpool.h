/* qavgpool.h — the arithmetic of _QAvgPool (ref/qavgpool.c), the int8
 * AveragePool / GlobalAveragePool a QDQ model's DQ -> pool -> Q becomes
 * (passes/qdq_ops.c), shared by the reference and kernels/fast_qavgpool.c:
 *
 *   acc = sum over the window's taps inside X of (x - x_zp)     (int32)
 *   n   = the taps counted (count_include_pad: pads too, adding 0)
 *   y   = saturate(round_half_even((float)acc * (x_s / (y_s * (float)n))) + y_zp)
 *
 * — onnxruntime's MLAS QLinearGlobalAveragePool requantization (one float
 * multiplier per window size). With attribute ort_float = 1 (a
 * com.microsoft QLinearAveragePool, session 16) a window that is not the
 * whole unpadded plane is computed as onnxruntime's QLinearAveragePool
 * computes it, bit for bit (contrib_ops/cpu/quantization/qlinear_pool.cc:
 * it pools dequantized floats there): each valid tap x_s * (float)(x - x_zp)
 * added in row-major order to a float sum, divided by the count — the
 * valid taps, or with count_include_pad the whole kernel (also where a
 * ceil_mode window hangs past the end pad) —, then
 * saturate(nearbyintf(v / y_s + y_zp)); no dilation (the op has none). The
 * whole unpadded plane takes onnxruntime's MLAS global path, the integer
 * arithmetic above. Against DQ -> float pool -> Q the integer form differs
 * only where the float sum or the multiplier's two roundings move a value
 * across a .5 boundary: within 1 (tests/unit/test_qint8_ops.c). acc fits
 * int32 for windows under 2^23 taps (checked).
 */
#ifndef SK_REF_QAVGPOOL_H
#define SK_REF_QAVGPOOL_H

#include <math.h>
#include <stdint.h>

#include "nn_util.h"

typedef struct sk_qavg {
    sk_win w;
    int include_pad, x_s8, y_s8;
    int ort_float; /* onnxruntime's QLinearAveragePool float arithmetic */
    int32_t xzp, yzp;
    float xs, ys;
    int64_t NC;
} sk_qavg;

static inline int64_t sk_qavg_taps(const sk_win *w, int a, int64_t o, int64_t *padded)
{
    int64_t valid = 0;
    *padded = 0;
    for (int64_t k = 0; k < w->k[a]; k++) {
        int64_t i = o * w->stride[a] - w->pb[a] + k * w->dil[a];
        valid += i >= 0 && i < w->in[a];
        *padded += i >= -w->pb[a] && i < w->in[a] + w->pe[a];
    }
    return valid;
}

static inline uint8_t sk_qavg_out(const sk_qavg *q, int32_t acc, int64_t n)
{
    float v = (float)acc * (q->xs / (q->ys * (float)n));
    float r = nearbyintf(v) + (float)q->yzp;
    float lo = q->y_s8 ? -128.f : 0.f, hi = q->y_s8 ? 127.f : 255.f;
    r = r < lo ? lo : r > hi ? hi : r;
    return (uint8_t)(int8_t)(int32_t)r;
}

/* one output of onnxruntime's QLinearAveragePool float path (ort_float):
 * the window [o*stride - pb, + k) clipped to the input on each axis, the
 * dequantized taps summed in row-major order (a float sum: the order is
 * part of the result), then / count, / y_s, + y_zp, rounded half to even */
static inline uint8_t sk_qavg_ort(const sk_qavg *q, const uint8_t *xc, const int64_t *o)
{
    const sk_win *w = &q->w;
    int64_t lo[3], hi[3];
    for (int a = 0; a < 3; a++) {
        int64_t s = o[a] * w->stride[a] - w->pb[a], e = s + w->k[a];
        lo[a] = s < 0 ? 0 : s;
        hi[a] = e < w->in[a] ? e : w->in[a];
        if (hi[a] < lo[a]) /* a window wholly in the pads (pads >= kernel) */
            hi[a] = lo[a];
    }
    float sum = 0.0f;
    for (int64_t d = lo[0]; d < hi[0]; d++)
        for (int64_t h = lo[1]; h < hi[1]; h++) {
            const uint8_t *xr = xc + (d * w->in[1] + h) * w->in[2];
            for (int64_t i = lo[2]; i < hi[2]; i++) {
                int32_t v = q->x_s8 ? (int32_t)(int8_t)xr[i] : (int32_t)xr[i];
                sum += q->xs * (float)(v - q->xzp);
            }
        }
    int64_t n = q->include_pad ? sk_win_k_size(w)
                               : (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
    if (n <= 0)
        return (uint8_t)q->yzp;
    float r = nearbyintf(sum / (float)n / q->ys + (float)q->yzp);
    float lo8 = q->y_s8 ? -128.f : 0.f, hi8 = q->y_s8 ? 127.f : 255.f;
    r = r < lo8 ? lo8 : r > hi8 ? hi8 : r;
    return (uint8_t)(int8_t)(int32_t)r;
}

/* planes [p0, p1) of X (N*C planes) -> Y */
static inline void sk_qavg_planes(const sk_qavg *q, const uint8_t *x, uint8_t *y, int64_t p0,
                                  int64_t p1)
{
    const sk_win *w = &q->w;
    int64_t inpx = sk_win_in_size(w), outpx = sk_win_out_size(w);
    int32_t flip = q->x_s8 ? 0x80 : 0, zp = q->x_s8 ? q->xzp + 128 : q->xzp;
    for (int64_t p = p0; p < p1; p++) {
        const uint8_t *xc = x + p * inpx;
        uint8_t *yc = y + p * outpx;
        int64_t o = 0;
        for (int64_t od = 0; od < w->out[0]; od++) {
            int64_t pd, vd = sk_qavg_taps(w, 0, od, &pd);
            for (int64_t oh = 0; oh < w->out[1]; oh++) {
                int64_t ph, vh = sk_qavg_taps(w, 1, oh, &ph);
                for (int64_t ow = 0; ow < w->out[2]; ow++, o++) {
                    if (q->ort_float) {
                        const int64_t oo[3] = {od, oh, ow};
                        yc[o] = sk_qavg_ort(q, xc, oo);
                        continue;
                    }
                    int64_t pw, vw = sk_qavg_taps(w, 2, ow, &pw);
                    int32_t s = 0; /* sum of the valid taps' bytes (uint8 view) */
                    for (int64_t kd = 0; kd < w->k[0]; kd++) {
                        int64_t id = od * w->stride[0] - w->pb[0] + kd * w->dil[0];
                        if (id < 0 || id >= w->in[0])
                            continue;
                        for (int64_t kh = 0; kh < w->k[1]; kh++) {
                            int64_t ih = oh * w->stride[1] - w->pb[1] + kh * w->dil[1];
                            if (ih < 0 || ih >= w->in[1])
                                continue;
                            const uint8_t *xr = xc + (id * w->in[1] + ih) * w->in[2];
                            int64_t iw0 = ow * w->stride[2] - w->pb[2];
                            if (w->dil[2] == 1 && iw0 >= 0 && iw0 + w->k[2] <= w->in[2]) {
                                for (int64_t kw = 0; kw < w->k[2]; kw++) /* vectorizes */
                                    s += xr[iw0 + kw] ^ flip;
                                continue;
                            }
                            for (int64_t kw = 0; kw < w->k[2]; kw++) {
                                int64_t iw = iw0 + kw * w->dil[2];
                                if (iw >= 0 && iw < w->in[2])
                                    s += xr[iw] ^ flip;
                            }
                        }
                    }
                    int32_t acc = s - (int32_t)(vd * vh * vw) * zp;
                    int64_t n = q->include_pad ? pd * ph * pw : vd * vh * vw;
                    yc[o] = n > 0 ? sk_qavg_out(q, acc, n) : (uint8_t)q->yzp;
                }
            }
        }
    }
}

struct sk_node;
/* the node's geometry and parameters (ref/qavgpool.c); its output shape */
int sk_qavg_setup(const struct sk_node *n, const sk_tensor *const *in, int nin, int nout,
                  sk_kctx *ctx, sk_qavg *q, sk_shape *out);

#endif
