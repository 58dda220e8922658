/* qavgpool.c — reference _QAvgPool(x, x_scale, x_zp, y_scale, y_zp): the
 * int8 AveragePool (attributes as AveragePool) or, with attribute global =
 * 1, GlobalAveragePool (ort_float = 1: a com.microsoft QLinearAveragePool's
 * arithmetic, qavgpool.h), made from QDQ by passes/qdq_ops.c; x and y 8-bit of
 * the same type, per-tensor parameters. Arithmetic: qavgpool.h. */
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"
#include "qavgpool.h"
#include "quant_util.h"
#include "ref_util.h"

/* the geometry (*out) and parameters; 0 or an error */
int sk_qavg_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout, sk_kctx *ctx,
                  sk_qavg *q, sk_shape *out)
{
    if (nin < 4 || !in[0] || !in[1] || !in[3] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs x, x_scale, x_zero_point, y_scale, y_zero_point");
    const sk_tensor *xz = in[2], *yz = sk_ref_opt(in, nin, 4);
    if (!sk_q_is8(in[0]->dtype) || (xz && xz->dtype != in[0]->dtype) ||
        (yz && yz->dtype != in[0]->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x, y and their zero points must be one 8-bit type");
    sk_qparam xq, yq;
    int rc;
    if ((rc = sk_q_param(n, ctx, "x", in[1], xz, &in[0]->shape, 1, in[0]->dtype, &xq)) ||
        (rc = sk_q_param(n, ctx, "y", in[3], yz, &in[0]->shape, 1, in[0]->dtype, &yq)))
        return rc;
    if (xq.n != 1 || yq.n != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x and y must be quantized per tensor");
    /* the float op's shape rules, on a float32 view */
    sk_tensor fx = {SK_F32, in[0]->shape, NULL}, fo = {0};
    const sk_tensor *px = &fx;
    sk_node tmp = *n;
    int global = sk_attr_int(n, "global", 0) != 0;
    tmp.op = global ? SK_OP_GLOBAL_AVERAGE_POOL : SK_OP_AVERAGE_POOL;
    rc = global ? sk_infer_global_avg_pool(&tmp, &px, 1, &fo, 1, ctx)
                : sk_infer_average_pool(&tmp, &px, 1, &fo, 1, ctx);
    if (rc)
        return rc;
    const sk_shape *xs = &in[0]->shape;
    int nsp = xs->rank - 2;
    if (nsp < 1 || nsp > SK_NN_SP)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "only 1-D, 2-D and 3-D pools");
    memset(q, 0, sizeof *q);
    if (global) {
        for (int a = 0; a < SK_NN_SP; a++)
            q->w.in[a] = q->w.out[a] = q->w.k[a] = q->w.stride[a] = q->w.dil[a] = 1;
        q->w.nsp = nsp;
        for (int i = 0; i < nsp; i++)
            q->w.in[SK_NN_SP - nsp + i] = q->w.k[SK_NN_SP - nsp + i] = xs->dim[2 + i];
    } else {
        const int64_t *ks;
        if (sk_attr_ints(n, "kernel_shape", &ks) != nsp)
            return sk_kfail(ctx, n, SK_EINVAL, "kernel_shape is required");
        if ((rc = sk_win_resolve(n, ctx, xs, ks, sk_attr_int(n, "ceil_mode", 0) != 0, &q->w)))
            return rc;
        q->include_pad = sk_attr_int(n, "count_include_pad", 0) != 0;
        /* onnxruntime's QLinearAveragePool takes its integer global path
         * when the kernel is the plane and there are no pads */
        int whole = 1;
        for (int a = 0; a < SK_NN_SP; a++)
            whole &= q->w.k[a] == q->w.in[a] && q->w.pb[a] == 0 && q->w.pe[a] == 0;
        /* a com.microsoft QLinearAveragePool (its reference, or _QAvgPool
         * made from it) computes as onnxruntime does; that op has no
         * dilations and onnxruntime refuses pads >= kernel: so do we */
        int ort = n->op == SK_OP_QLINEAR_AVERAGE_POOL || sk_attr_int(n, "ort_float", 0) != 0;
        for (int a = 0; ort && a < SK_NN_SP; a++)
            if (q->w.dil[a] != 1 || q->w.pb[a] >= q->w.k[a] || q->w.pe[a] >= q->w.k[a])
                return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                                "QLinearAveragePool: dilations must be 1 and pads smaller "
                                "than the kernel");
        q->ort_float = ort && !whole;
    }
    if (sk_win_k_size(&q->w) >= ((int64_t)1 << 23))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "a window of 2^23 taps or more");
    q->x_s8 = q->y_s8 = in[0]->dtype == SK_I8;
    q->xzp = sk_q_zp(&xq, 0);
    q->yzp = sk_q_zp(&yq, 0);
    q->xs = xq.scale ? xq.scale[0] : 0.0f;
    q->ys = yq.scale ? yq.scale[0] : 0.0f;
    q->NC = xs->dim[0] * xs->dim[1];
    *out = fo.shape;
    return 0;
}

int sk_infer_qavgpool(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    sk_qavg q;
    int rc = sk_qavg_setup(n, in, nin, nout, ctx, &q, &out[0].shape);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    return 0;
}

int sk_run_qavgpool(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    int nout, sk_kctx *ctx)
{
    sk_qavg q;
    sk_shape os;
    int rc = sk_qavg_setup(n, in, nin, nout, ctx, &q, &os);
    if (rc)
        return rc;
    sk_qavg_planes(&q, in[0]->data, out[0].data, 0, q.NC);
    return 0;
}
