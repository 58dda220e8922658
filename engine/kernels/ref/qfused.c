/* qfused.c — reference kernel of _QConvFused (engine/kernels/fast_qconv.h):
 * exactly the reference QLinearConv, then the reference com.microsoft
 * QLinearAdd with the residual, then ReLU as max(y, zero point) — the
 * composition of the nodes the pass merged, so the fast int8 kernel is
 * checked against it bit for bit and a fused graph against the unfused. */
#include <stdlib.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"
#include "quant_util.h"
#include "ref_util.h"

static int has_res(const sk_tensor *const *in, int nin) { return nin > 9 && in[9]; }
static const sk_tensor *lut_of(const sk_tensor *const *in, int nin)
{
    return nin > 14 ? in[14] : NULL;
}

int sk_infer_qconv_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                         int nout, sk_kctx *ctx)
{
    char a[96], b[96];
    int rc = sk_infer_qlinear_conv(n, in, nin < 9 ? nin : 9, out, nout, ctx);
    if (rc)
        return rc;
    const sk_tensor *lut = lut_of(in, nin);
    if (lut && (lut->dtype != SK_U8 || sk_shape_numel(&lut->shape) != 256))
        return sk_kfail(ctx, n, SK_EINVAL, "the output table must be 256 uint8 values");
    if (!has_res(in, nin)) {
        if (lut)
            out[0].dtype = sk_attr_int(n, "lut_int8", 0) ? SK_I8 : SK_U8;
        return 0;
    }
    if (nin < 13 || !in[10] || !in[12])
        return sk_kfail(ctx, n, SK_EINVAL, "a fused residual needs r, r_scale, r_zero_point, "
                        "c_scale (, c_zero_point)");
    if (in[9]->dtype != out[0].dtype || !sk_shape_equal(&in[9]->shape, &out[0].shape))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual %s %s differs from the output %s %s",
                        sk_dtype_name(in[9]->dtype), sk_shape_str(&in[9]->shape, a, sizeof a),
                        sk_dtype_name(out[0].dtype), sk_shape_str(&out[0].shape, b, sizeof b));
    if (lut)
        out[0].dtype = sk_attr_int(n, "lut_int8", 0) ? SK_I8 : SK_U8;
    return 0;
}

int sk_run_qconv_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    int res = has_res(in, nin), relu = sk_attr_int(n, "relu", 0) != 0;
    const sk_tensor *lut = lut_of(in, nin);
    sk_kctx own = *ctx; /* the reference kernels below allocate their own scratch */
    own.scratch = NULL;
    own.scratch_bytes = 0;
    /* the conv (+ add) in its own output type; the table maps it last */
    sk_tensor o = out[0];
    int rc0 = sk_infer_qlinear_conv(n, in, nin < 9 ? nin : 9, &o, 1, &own);
    if (rc0)
        return rc0;
    o.data = out[0].data;
    out = &o;
    (void)nout;
    int64_t cnt = sk_shape_numel(&out[0].shape);
    if (!res && !relu) {
        int rc1 = sk_run_qlinear_conv(n, in, nin < 9 ? nin : 9, out, 1, &own);
        if (!rc1 && lut)
            for (int64_t i = 0; i < cnt; i++)
                ((uint8_t *)out[0].data)[i] = ((const uint8_t *)lut->data)[
                    ((uint8_t *)out[0].data)[i] ^ (out[0].dtype == SK_I8 ? 0x80 : 0)];
        return rc1;
    }
    sk_tensor y = out[0];
    if (res && !(y.data = malloc((size_t)(cnt > 0 ? cnt : 1))))
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    int rc = sk_run_qlinear_conv(n, in, nin < 9 ? nin : 9, &y, 1, &own);
    const sk_tensor *zp = in[7];
    if (!rc && res) {
        const sk_tensor *add_in[8] = {&y, in[6], in[7], in[9], in[10], in[11], in[12],
                                      nin > 13 ? in[13] : NULL};
        sk_node add = *n;
        add.op = SK_OP_QLINEAR_ADD;
        rc = sk_run_qlinear_binary(&add, add_in, 8, out, 1, &own);
        zp = nin > 13 ? in[13] : NULL;
        free(y.data);
    }
    if (!rc && relu) {
        int32_t z = zp && zp->data ? sk_q_load(zp->dtype, zp->data, 0) : 0;
        for (int64_t i = 0; i < cnt; i++)
            if (sk_q_load(out[0].dtype, out[0].data, i) < z)
                sk_q_store(out[0].dtype, out[0].data, i, z);
    }
    if (!rc && lut)
        for (int64_t i = 0; i < cnt; i++)
            ((uint8_t *)out[0].data)[i] = ((const uint8_t *)lut->data)[
                ((uint8_t *)out[0].data)[i] ^ (out[0].dtype == SK_I8 ? 0x80 : 0)];
    return rc;
}

/* _QLut(x, table) attr out_int8: y = table[x (+ 128 for int8 x)]; the table
 * (256 uint8 bytes, holding int8 values when out_int8) is built by
 * passes/qdq.c from the reference kernels of the nodes it replaces. */
int sk_infer_qlut(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs x and a table");
    if (!sk_q_is8(in[0]->dtype) || in[1]->dtype != SK_U8 || sk_shape_numel(&in[1]->shape) != 256)
        return sk_kfail(ctx, n, SK_EINVAL, "x must be 8-bit and the table 256 uint8 values");
    out[0].dtype = sk_attr_int(n, "out_int8", 0) ? SK_I8 : SK_U8;
    out[0].shape = in[0]->shape;
    return 0;
}

int sk_run_qlut(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                int nout, sk_kctx *ctx)
{
    int rc = sk_infer_qlut(n, in, nin, out, nout, ctx);
    if (rc)
        return rc;
    const uint8_t *x = in[0]->data, *t = in[1]->data;
    uint8_t *y = out[0].data;
    uint8_t flip = in[0]->dtype == SK_I8 ? 0x80 : 0; /* int8 x: index x + 128 */
    int64_t cnt = sk_shape_numel(&in[0]->shape);
    for (int64_t i = 0; i < cnt; i++)
        y[i] = t[x[i] ^ flip];
    return 0;
}
