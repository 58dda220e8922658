/* qlinear_ms.c — reference kernels of the com.microsoft quantized ops that
 * onnxruntime's quantization tools write in QOperator form: QLinearAdd,
 * QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat,
 * QLinearSigmoid, QLinearLeakyRelu (onnxruntime's ContribOperators.md).
 *
 * Each computes the definition: dequantize the inputs, apply the float op,
 * quantize the result (round half to even, saturate) —
 *   QLinearAdd:  C = q((A - a_zp) * a_s + (B - b_zp) * b_s, c_s, c_zp)
 * and so on, in float32 (QLinearMul: the integer product times
 * a_s * b_s / c_s, the order onnxruntime uses). onnxruntime's SIMD paths use fixed-point
 * multipliers (QLinearAdd/Mul) and lookup tables built with approximate
 * sigmoid, so they agree to within one quantization step; tests/zoo and
 * tests/conformance/make_quant_ms.py measure that against onnxruntime.
 *
 * Layout: channels_last = 0 (NCHW) only; 1 is refused. Broadcasting
 * (Add/Mul) and windows (AveragePool) are the float32 reference kernels run
 * on dequantized copies in the step's scratch (sk_ref_scratch_qlinear_ms). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"
#include "quant_util.h"
#include "ref_util.h"

/* An 8-bit operand with its per-tensor scale and zero point. */
typedef struct qop {
    const sk_tensor *t;
    float s;
    int32_t zp;
    int known; /* scale/zp values present (false at infer for runtime ones) */
} qop;

static int qop_read(const sk_node *n, sk_kctx *ctx, const char *what, const sk_tensor *t,
                    const sk_tensor *s, const sk_tensor *z, sk_dtype want, qop *q)
{
    if (!t || !s)
        return sk_kfail(ctx, n, SK_EINVAL, "%s and its scale are required", what);
    if (want != SK_DT_UNDEFINED && t->dtype != want)
        return sk_kfail(ctx, n, SK_EINVAL, "%s is %s, expected %s", what,
                        sk_dtype_name(t->dtype), sk_dtype_name(want));
    if (!sk_q_is8(t->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "%s is %s; int8 or uint8 needed", what,
                        sk_dtype_name(t->dtype));
    if (sk_shape_numel(&s->shape) != 1 || (z && sk_shape_numel(&z->shape) != 1))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "%s needs a per-tensor scale and zero point",
                        what);
    sk_qparam p = {0};
    int rc = sk_q_param(n, ctx, what, s, z, &t->shape, 0, t->dtype, &p);
    if (rc)
        return rc;
    if (z && z->dtype != t->dtype)
        return sk_kfail(ctx, n, SK_EINVAL, "%s_zero_point is %s but %s is %s", what,
                        sk_dtype_name(z->dtype), what, sk_dtype_name(t->dtype));
    q->t = t;
    q->known = s->data != NULL && (!z || z->data);
    q->s = s->data ? p.scale[0] : 0;
    q->zp = z && z->data ? sk_q_zp(&p, 0) : 0;
    return 0;
}

static void dequant(const qop *q, float *dst)
{
    int64_t cnt = sk_shape_numel(&q->t->shape);
    for (int64_t i = 0; i < cnt; i++)
        dst[i] = (float)(sk_q_load(q->t->dtype, q->t->data, i) - q->zp) * q->s;
}

static void quant(const float *src, int64_t cnt, float s, int32_t zp, sk_dtype t, void *dst)
{
    for (int64_t i = 0; i < cnt; i++)
        sk_q_store(t, dst, i, sk_q_round_sat(src[i] / s, zp, t));
}

static int no_channels_last(const sk_node *n, sk_kctx *ctx)
{
    if (sk_attr_int(n, "channels_last", 0) != 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "channels_last = 1 (NHWC) is not supported; quantize the NCHW model");
    return 0;
}

/* --- QLinearAdd / QLinearMul (A, A_s, A_zp, B, B_s, B_zp, C_s, C_zp) ------ */

static int qbin_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, qop *a, qop *b, qop *c, sk_tensor *cshape)
{
    if (nin < 7 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs A, A_scale, A_zero_point, B, B_scale, "
                        "B_zero_point, C_scale (, C_zero_point)");
    int rc = qop_read(n, ctx, "A", in[0], in[1], in[2], SK_DT_UNDEFINED, a);
    if (!rc)
        rc = qop_read(n, ctx, "B", in[3], in[4], in[5], in[0]->dtype, b);
    if (rc)
        return rc;
    sk_node tmp = *n;
    tmp.op = SK_OP_ADD;
    const sk_tensor *ab[2] = {in[0], in[3]};
    if ((rc = sk_infer_add(&tmp, ab, 2, cshape, 1, ctx)))
        return rc;
    return qop_read(n, ctx, "C", cshape, in[6], sk_ref_opt(in, nin, 7), in[0]->dtype, c);
}

int sk_infer_qlinear_binary(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx)
{
    qop a, b, c;
    sk_tensor cs = {0};
    int rc = qbin_setup(n, in, nin, nout, ctx, &a, &b, &c, &cs);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape = cs.shape;
    return 0;
}

int sk_run_qlinear_binary(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    sk_op fop = n->op == SK_OP_QLINEAR_MUL ? SK_OP_MUL : SK_OP_ADD;
    qop a, b, c;
    sk_tensor cs = {0};
    int rc = qbin_setup(n, in, nin, nout, ctx, &a, &b, &c, &cs);
    if (rc)
        return rc;
    int64_t na = sk_shape_numel(&in[0]->shape), nb = sk_shape_numel(&in[3]->shape),
            nc = sk_shape_numel(&cs.shape);
    void *heap;
    size_t bytes = sk_nn_align((size_t)na * 4) + sk_nn_align((size_t)nb * 4) + (size_t)nc * 4;
    char *mem = sk_nn_scratch(ctx, bytes, &heap);
    if (!mem)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    float *fa = (float *)mem, *fb = (float *)(mem + sk_nn_align((size_t)na * 4)),
          *fc = (float *)(mem + sk_nn_align((size_t)na * 4) + sk_nn_align((size_t)nb * 4));
    /* Mul: the zero-point-free integers (exact in float32), times
     * a_s * b_s / c_s once at the end, as onnxruntime multiplies */
    qop ua = a, ub = b;
    if (fop == SK_OP_MUL)
        ua.s = ub.s = 1.0f;
    dequant(&ua, fa);
    dequant(&ub, fb);
    sk_tensor ta = {SK_F32, in[0]->shape, fa}, tb = {SK_F32, in[3]->shape, fb},
              tc = {SK_F32, cs.shape, fc};
    const sk_tensor *ab[2] = {&ta, &tb};
    sk_node tmp = *n;
    tmp.op = fop;
    sk_kctx serial = *ctx; /* the scratch is ours now */
    serial.scratch = NULL;
    serial.scratch_bytes = 0;
    rc = fop == SK_OP_ADD ? sk_run_add(&tmp, ab, 2, &tc, 1, &serial)
                          : sk_run_mul(&tmp, ab, 2, &tc, 1, &serial);
    if (!rc && fop == SK_OP_MUL) {
        float mult = a.s * b.s / c.s;
        for (int64_t i = 0; i < nc; i++)
            sk_q_store(in[0]->dtype, out[0].data, i,
                       sk_q_round_sat(fc[i] * mult, c.zp, in[0]->dtype));
    } else if (!rc) {
        quant(fc, nc, c.s, c.zp, in[0]->dtype, out[0].data);
    }
    free(heap);
    return rc;
}

/* --- element-wise through a 256-entry table: Sigmoid, LeakyRelu ------------ */
/* (X, X_scale, X_zero_point?, Y_scale, Y_zero_point?) */

static int qlut_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, qop *x, qop *y)
{
    if (nin < 4 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL,
                        "needs X, X_scale, X_zero_point, Y_scale (, Y_zero_point)");
    int rc = qop_read(n, ctx, "X", in[0], in[1], in[2], SK_DT_UNDEFINED, x);
    if (!rc)
        rc = qop_read(n, ctx, "Y", in[0], in[3], sk_ref_opt(in, nin, 4), in[0]->dtype, y);
    return rc;
}

int sk_infer_qlinear_lut(const sk_node *n, const sk_tensor *const *in, int nin,
                         sk_tensor *out, int nout, sk_kctx *ctx)
{
    qop x, y;
    int rc = qlut_setup(n, in, nin, nout, ctx, &x, &y);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape = in[0]->shape;
    return 0;
}

int sk_run_qlinear_lut(const sk_node *n, const sk_tensor *const *in, int nin,
                       sk_tensor *out, int nout, sk_kctx *ctx)
{
    qop x, y;
    int rc = qlut_setup(n, in, nin, nout, ctx, &x, &y);
    if (rc)
        return rc;
    sk_dtype t = in[0]->dtype;
    float alpha = sk_attr_float(n, "alpha", 0.01f);
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) {
        int32_t q = t == SK_I8 ? v - 128 : v;
        float f = (float)(q - x.zp) * x.s;
        f = n->op == SK_OP_QLINEAR_SIGMOID ? 1.0f / (1.0f + expf(-f)) : (f >= 0 ? f : f * alpha);
        lut[v] = (uint8_t)sk_q_round_sat(f / y.s, y.zp, t);
    }
    int64_t cnt = sk_shape_numel(&in[0]->shape);
    const uint8_t *src = in[0]->data;
    uint8_t *dst = out[0].data;
    for (int64_t i = 0; i < cnt; i++)
        dst[i] = lut[t == SK_I8 ? (uint8_t)(src[i] ^ 0x80) : src[i]];
    return 0;
}


/* --- pools (X, x_scale, x_zero_point, y_scale, y_zero_point) ---------------- */

static int qpool_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                       sk_kctx *ctx, qop *x, qop *y, sk_tensor *fout)
{
    if (nin < 4 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL,
                        "needs X, x_scale, x_zero_point, y_scale (, y_zero_point)");
    int rc = no_channels_last(n, ctx);
    if (!rc)
        rc = qop_read(n, ctx, "x", in[0], in[1], in[2], SK_DT_UNDEFINED, x);
    if (rc)
        return rc;
    sk_tensor fx = {SK_F32, in[0]->shape, NULL};
    const sk_tensor *px = &fx;
    sk_node tmp = *n;
    tmp.op = n->op == SK_OP_QLINEAR_AVERAGE_POOL ? SK_OP_AVERAGE_POOL : SK_OP_GLOBAL_AVERAGE_POOL;
    rc = tmp.op == SK_OP_AVERAGE_POOL ? sk_infer_average_pool(&tmp, &px, 1, fout, 1, ctx)
                                      : sk_infer_global_avg_pool(&tmp, &px, 1, fout, 1, ctx);
    if (rc)
        return rc;
    fout->dtype = in[0]->dtype; /* y is quantized like x */
    return qop_read(n, ctx, "y", fout, in[3], sk_ref_opt(in, nin, 4), SK_DT_UNDEFINED, y);
}

int sk_infer_qlinear_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                          sk_tensor *out, int nout, sk_kctx *ctx)
{
    qop x, y;
    sk_tensor fo = {0};
    fo.dtype = in[0] ? in[0]->dtype : SK_U8;
    int rc = qpool_setup(n, in, nin, nout, ctx, &x, &y, &fo);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape = fo.shape;
    /* QLinearAveragePool runs as _QAvgPool: its checks at load too */
    return n->op == SK_OP_QLINEAR_AVERAGE_POOL ? sk_infer_qavgpool(n, in, nin, out, nout, ctx) : 0;
}

int sk_run_qlinear_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                        sk_tensor *out, int nout, sk_kctx *ctx)
{
    qop x, y;
    sk_tensor fo = {0};
    int rc = qpool_setup(n, in, nin, nout, ctx, &x, &y, &fo);
    if (rc)
        return rc;
    /* QLinearAveragePool: onnxruntime's arithmetic (session 16,
     * ref/qavgpool.h) — the float pool below rounds its own way and counts
     * a ceil_mode window's pads differently */
    if (n->op == SK_OP_QLINEAR_AVERAGE_POOL)
        return sk_run_qavgpool(n, in, nin, out, nout, ctx);
    int64_t nx = sk_shape_numel(&in[0]->shape), ny = sk_shape_numel(&fo.shape);
    void *heap;
    char *mem = sk_nn_scratch(ctx, sk_nn_align((size_t)nx * 4) + (size_t)ny * 4, &heap);
    if (!mem)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    float *fx = (float *)mem, *fy = (float *)(mem + sk_nn_align((size_t)nx * 4));
    dequant(&x, fx);
    sk_tensor tx = {SK_F32, in[0]->shape, fx}, ty = {SK_F32, fo.shape, fy};
    const sk_tensor *px = &tx;
    sk_node tmp = *n;
    tmp.op = n->op == SK_OP_QLINEAR_AVERAGE_POOL ? SK_OP_AVERAGE_POOL : SK_OP_GLOBAL_AVERAGE_POOL;
    sk_kctx serial = *ctx;
    serial.scratch = NULL;
    serial.scratch_bytes = 0;
    rc = tmp.op == SK_OP_AVERAGE_POOL ? sk_run_average_pool(&tmp, &px, 1, &ty, 1, &serial)
                                      : sk_run_global_avg_pool(&tmp, &px, 1, &ty, 1, &serial);
    if (!rc)
        quant(fy, ny, y.s, y.zp, in[0]->dtype, out[0].data);
    free(heap);
    return rc;
}


/* --- QLinearConcat (Y_scale, Y_zero_point, X1, X1_scale, X1_zp, ...) ------- */

#define QCAT_MAX 64

static int qcat_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, qop *xs, int *k, qop *y, sk_tensor *cat)
{
    if (nin < 5 || (nin - 2) % 3 != 0 || nout < 1 || !in[0] || !in[2])
        return sk_kfail(ctx, n, SK_EINVAL,
                        "needs Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples");
    *k = (nin - 2) / 3;
    if (*k > QCAT_MAX)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "more than %d inputs", QCAT_MAX);
    const sk_tensor *xt[QCAT_MAX];
    for (int i = 0; i < *k; i++) {
        int rc = qop_read(n, ctx, "X", in[2 + 3 * i], in[3 + 3 * i], in[4 + 3 * i],
                          in[2]->dtype, &xs[i]);
        if (rc)
            return rc;
        xt[i] = in[2 + 3 * i];
    }
    sk_node tmp = *n;
    tmp.op = SK_OP_CONCAT;
    int rc = sk_infer_concat(&tmp, xt, *k, cat, 1, ctx);
    if (rc)
        return rc;
    return qop_read(n, ctx, "Y", cat, in[0], in[1], in[2]->dtype, y);
}

int sk_infer_qlinear_concat(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx)
{
    qop xs[QCAT_MAX], y;
    int k;
    sk_tensor cat = {0};
    int rc = qcat_setup(n, in, nin, nout, ctx, xs, &k, &y, &cat);
    if (rc)
        return rc;
    out[0].dtype = in[2]->dtype;
    out[0].shape = cat.shape;
    return 0;
}

/* Each input is requantized to Y's parameters through its own 256-entry
 * table (identity when the parameters agree), then the bytes concatenated. */
int sk_run_qlinear_concat(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    qop xs[QCAT_MAX], y;
    int k;
    sk_tensor cat = {0};
    int rc = qcat_setup(n, in, nin, nout, ctx, xs, &k, &y, &cat);
    if (rc)
        return rc;
    int rank = cat.shape.rank;
    int axis = sk_ref_axis(sk_attr_int(n, "axis", 0), rank);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= cat.shape.dim[d];
    for (int d = axis + 1; d < rank; d++)
        inner *= cat.shape.dim[d];
    sk_dtype t = in[2]->dtype;
    int64_t off = 0, row = cat.shape.dim[axis] * inner;
    uint8_t *dst = out[0].data;
    for (int i = 0; i < k; i++) {
        uint8_t lut[256];
        for (int v = 0; v < 256; v++) {
            int32_t q = t == SK_I8 ? v - 128 : v;
            float f = (float)(q - xs[i].zp) * xs[i].s;
            lut[v] = (uint8_t)sk_q_round_sat(f / y.s, y.zp, t);
        }
        const uint8_t *src = xs[i].t->data;
        int64_t len = xs[i].t->shape.dim[axis] * inner;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < len; j++) {
                uint8_t b = src[o * len + j];
                dst[o * row + off + j] = lut[t == SK_I8 ? (uint8_t)(b ^ 0x80) : b];
            }
        off += len;
    }
    return 0;
}

size_t sk_ref_scratch_qlinear_ms(SK_REF_SCRATCH_ARGS)
{
    (void)nthreads;
    if (nout < 1 || nin < 1 || !in[0])
        return 0;
    int64_t a = sk_shape_numel(&in[0]->shape), c = sk_shape_numel(&out[0].shape);
    int64_t b = (n->op == SK_OP_QLINEAR_ADD || n->op == SK_OP_QLINEAR_MUL) && nin > 3 && in[3]
                    ? sk_shape_numel(&in[3]->shape)
                    : 0;
    if (a < 0 || b < 0 || c < 0)
        return 0;
    return sk_nn_align((size_t)a * 4) + sk_nn_align((size_t)b * 4) + (size_t)c * 4;
}
