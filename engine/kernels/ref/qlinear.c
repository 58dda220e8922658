/* qlinear.c — reference integer kernels: ConvInteger, QLinearConv,
 * MatMulInteger, QLinearMatMul. Exact integer arithmetic: products of
 * (x - x_zero_point) and (w - w_zero_point) summed in int32 (a uint8/int8
 * product is < 2^16, so 2^15 of them fit: the shapes are checked against
 * that), then for the QLinear ops the int32 sum (plus an int32 bias) is
 * requantized as onnxruntime does:
 *   y = saturate(round_half_even(acc * (x_scale * w_scale[m] / y_scale)) + y_zp)
 * with the multiplier computed in float32.
 *
 * Zero points: x / a per tensor; w per tensor or per output channel; b of
 * MatMulInteger / QLinearMatMul per tensor or per column; a of MatMulInteger
 * per tensor or per row. */
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"
#include "quant_util.h"
#include "ref_util.h"

#define MAX_TERMS ((int64_t)1 << 15) /* products per int32 sum: 2^15 * 2^16 = 2^31 */

/* --- convolution --------------------------------------------------------------- */

typedef struct qconv {
    int64_t N, C, M, group, Cg, Mg, P;
    sk_win w;
    sk_shape out;
} qconv;

/* x, w: 8-bit tensors (N,C,spatial) and (M,C/group,kernel). */
static int qconv_geom(const sk_node *n, sk_kctx *ctx, const sk_tensor *x, const sk_tensor *w,
                      qconv *g)
{
    char b1[96], b2[96];
    if (!sk_q_is8(x->dtype) || !sk_q_is8(w->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x is %s and w is %s; int8 or uint8 needed",
                        sk_dtype_name(x->dtype), sk_dtype_name(w->dtype));
    const sk_shape *xs = &x->shape, *ws = &w->shape;
    if (xs->rank < 3 || ws->rank != xs->rank)
        return sk_kfail(ctx, n, SK_ESHAPE, "x %s and w %s must be (N,C,spatial...) and "
                        "(M,C/group,kernel...) of the same rank >= 3",
                        sk_shape_str(xs, b1, sizeof b1), sk_shape_str(ws, b2, sizeof b2));
    for (int i = 0; i < ws->rank; i++)
        if (ws->dim[i] < 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "w %s has an empty dimension",
                            sk_shape_str(ws, b1, sizeof b1));
    g->N = xs->dim[0];
    g->C = xs->dim[1];
    g->M = ws->dim[0];
    g->Cg = ws->dim[1];
    g->group = sk_attr_int(n, "group", 1);
    if (g->group < 1 || g->group > g->C || g->Cg * g->group != g->C || g->M % g->group)
        return sk_kfail(ctx, n, SK_ESHAPE, "group %lld does not fit x %s and w %s",
                        (long long)g->group, sk_shape_str(xs, b1, sizeof b1),
                        sk_shape_str(ws, b2, sizeof b2));
    g->Mg = g->M / g->group;
    int rc = sk_win_resolve(n, ctx, xs, ws->dim + 2, 0, &g->w);
    if (rc)
        return rc;
    if (sk_win_k_size(&g->w) * g->Cg > MAX_TERMS)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "%lld products per output could overflow the int32 sum",
                        (long long)(sk_win_k_size(&g->w) * g->Cg));
    int nsp = xs->rank - 2;
    g->out.rank = xs->rank;
    g->out.dim[0] = g->N;
    g->out.dim[1] = g->M;
    for (int i = 0; i < nsp; i++)
        g->out.dim[2 + i] = g->w.out[SK_NN_SP - nsp + i];
    g->P = sk_win_out_size(&g->w);
    if (sk_shape_numel(&g->out) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "output size overflows");
    return 0;
}

/* acc[P] = sum over the group's channels and taps of (x - xzp) * (w - wzp)
 * for output channel m of image b. */
static void qconv_channel(const qconv *g, const sk_tensor *x, const sk_tensor *w, int32_t xzp,
                          int32_t wzp, int64_t b, int64_t m, int32_t *acc)
{
    const sk_win *wn = &g->w;
    int64_t gi = m / g->Mg, in_sz = sk_win_in_size(wn), k_sz = sk_win_k_size(wn);
    memset(acc, 0, (size_t)g->P * sizeof *acc);
    for (int64_t c = 0; c < g->Cg; c++) {
        int64_t xc = (b * g->C + gi * g->Cg + c) * in_sz;
        int64_t wc = (m * g->Cg + c) * k_sz;
        for (int64_t kd = 0; kd < wn->k[0]; kd++)
            for (int64_t kh = 0; kh < wn->k[1]; kh++)
                for (int64_t kw = 0; kw < wn->k[2]; kw++) {
                    int32_t wv = sk_q_load(w->dtype, w->data,
                                           wc + (kd * wn->k[1] + kh) * wn->k[2] + kw) -
                                 wzp;
                    if (wv == 0)
                        continue;
                    for (int64_t od = 0; od < wn->out[0]; od++) {
                        int64_t id = od * wn->stride[0] - wn->pb[0] + kd * wn->dil[0];
                        if (id < 0 || id >= wn->in[0])
                            continue;
                        for (int64_t oh = 0; oh < wn->out[1]; oh++) {
                            int64_t ih = oh * wn->stride[1] - wn->pb[1] + kh * wn->dil[1];
                            if (ih < 0 || ih >= wn->in[1])
                                continue;
                            int64_t xrow = xc + (id * wn->in[1] + ih) * wn->in[2];
                            int32_t *arow = acc + (od * wn->out[1] + oh) * wn->out[2];
                            for (int64_t ow = 0; ow < wn->out[2]; ow++) {
                                int64_t iw = ow * wn->stride[2] - wn->pb[2] + kw * wn->dil[2];
                                if (iw < 0 || iw >= wn->in[2])
                                    continue;
                                arow[ow] += wv * (sk_q_load(x->dtype, x->data, xrow + iw) - xzp);
                            }
                        }
                    }
                }
    }
}

/* A per-tensor zero point of x's type (or absent). */
static int zp_scalar(const sk_node *n, sk_kctx *ctx, const char *what, const sk_tensor *z,
                     sk_dtype t)
{
    if (!z)
        return 0;
    if (z->dtype != t)
        return sk_kfail(ctx, n, SK_EINVAL, "%s is %s but its data is %s", what,
                        sk_dtype_name(z->dtype), sk_dtype_name(t));
    if (sk_shape_numel(&z->shape) != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "%s must be one value (per-tensor); it has %lld", what,
                        (long long)sk_shape_numel(&z->shape));
    return 0;
}

/* A zero point per tensor or per channel (count values). */
static int zp_vector(const sk_node *n, sk_kctx *ctx, const char *what, const sk_tensor *z,
                     sk_dtype t, int64_t count)
{
    if (!z)
        return 0;
    if (z->dtype != t)
        return sk_kfail(ctx, n, SK_EINVAL, "%s is %s but its data is %s", what,
                        sk_dtype_name(z->dtype), sk_dtype_name(t));
    int64_t c = sk_shape_numel(&z->shape);
    if (z->shape.rank > 1 || (c != 1 && c != count))
        return sk_kfail(ctx, n, SK_ESHAPE, "%s has %lld values; 1 or %lld are needed", what,
                        (long long)c, (long long)count);
    return 0;
}

static int32_t zp_at(const sk_tensor *z, int64_t i)
{
    if (!z || !z->data)
        return 0;
    return sk_q_load(z->dtype, z->data, sk_shape_numel(&z->shape) == 1 ? 0 : i);
}

/* ConvInteger(x, w, x_zero_point?, w_zero_point?) -> int32 */
static int convint_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                         sk_kctx *ctx, qconv *g)
{
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs x and w");
    int rc = qconv_geom(n, ctx, in[0], in[1], g);
    if (!rc)
        rc = zp_scalar(n, ctx, "x_zero_point", sk_ref_opt(in, nin, 2), in[0]->dtype);
    if (!rc)
        rc = zp_vector(n, ctx, "w_zero_point", sk_ref_opt(in, nin, 3), in[1]->dtype, g->M);
    return rc;
}

int sk_infer_conv_integer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    qconv g;
    int rc = convint_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = SK_I32;
    out[0].shape = g.out;
    return 0;
}

int sk_run_conv_integer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    qconv g;
    int rc = convint_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    const sk_tensor *xz = sk_ref_opt(in, nin, 2), *wz = sk_ref_opt(in, nin, 3);
    int32_t *y = out[0].data;
    for (int64_t b = 0; b < g.N; b++)
        for (int64_t m = 0; m < g.M; m++)
            qconv_channel(&g, in[0], in[1], zp_at(xz, 0), zp_at(wz, m), b, m,
                          y + (b * g.M + m) * g.P);
    return 0;
}

/* QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?) */
typedef struct qlconv {
    qconv g;
    sk_qparam xq, wq, yq;
    const sk_tensor *bias;
} qlconv;

static int qlconv_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                        sk_kctx *ctx, qlconv *q)
{
    if (nin < 8 || !in[0] || !in[1] || !in[3] || !in[4] || !in[6] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL,
                        "needs x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, "
                        "y_zero_point");
    int rc = qconv_geom(n, ctx, in[0], in[3], &q->g);
    if (rc)
        return rc;
    const sk_tensor *xz = in[2], *wz = in[5], *yz = in[7];
    if (xz && xz->dtype != in[0]->dtype)
        return sk_kfail(ctx, n, SK_EINVAL, "x_zero_point is %s but x is %s",
                        sk_dtype_name(xz->dtype), sk_dtype_name(in[0]->dtype));
    if (wz && wz->dtype != in[3]->dtype)
        return sk_kfail(ctx, n, SK_EINVAL, "w_zero_point is %s but w is %s",
                        sk_dtype_name(wz->dtype), sk_dtype_name(in[3]->dtype));
    if (sk_shape_numel(&in[1]->shape) != 1 || sk_shape_numel(&in[6]->shape) != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "x_scale and y_scale must be per tensor");
    if ((rc = sk_q_param(n, ctx, "x", in[1], xz, &in[0]->shape, 1, in[0]->dtype, &q->xq)) ||
        (rc = sk_q_param(n, ctx, "w", in[4], wz, &in[3]->shape, 0, in[3]->dtype, &q->wq)) ||
        (rc = sk_q_param(n, ctx, "y", in[6], yz, &q->g.out, 1, in[0]->dtype, &q->yq)))
        return rc;
    q->bias = sk_ref_opt(in, nin, 8);
    if (q->bias && (q->bias->dtype != SK_I32 || q->bias->shape.rank != 1 ||
                    q->bias->shape.dim[0] != q->g.M))
        return sk_kfail(ctx, n, SK_ESHAPE, "B must be int32 [%lld]", (long long)q->g.M);
    return 0;
}

int sk_infer_qlinear_conv(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    qlconv q;
    int rc = qlconv_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    out[0].dtype = q.yq.qt;
    out[0].shape = q.g.out;
    return 0;
}

int sk_run_qlinear_conv(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    qlconv q;
    int rc = qlconv_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    if (!in[3]->data && sk_shape_numel(&in[3]->shape) > 0) /* passes/qfuse.c, session 20 */
        return sk_kfail(ctx, n, SK_EINVAL,
                        "its int8 weights were released after packing them for the SIMD level "
                        "of the load; run it at that level");
    void *heap;
    int32_t *acc = sk_nn_scratch(ctx, (size_t)q.g.P * sizeof *acc, &heap);
    if (!acc)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    int32_t yzp = sk_q_zp(&q.yq, 0);
    for (int64_t b = 0; b < q.g.N; b++)
        for (int64_t m = 0; m < q.g.M; m++) {
            int64_t wc = q.wq.n > 1 ? m : 0;
            qconv_channel(&q.g, in[0], in[3], sk_q_zp(&q.xq, 0), sk_q_zp(&q.wq, wc), b, m, acc);
            float mult = q.xq.scale[0] * q.wq.scale[wc] / q.yq.scale[0];
            /* in int64: a large int32 bias plus the sum may pass int32 */
            int64_t bias = q.bias ? ((const int32_t *)q.bias->data)[m] : 0;
            int64_t o = (b * q.g.M + m) * q.g.P;
            for (int64_t p = 0; p < q.g.P; p++)
                sk_q_store(q.yq.qt, out[0].data, o + p,
                           sk_q_round_sat((float)(acc[p] + bias) * mult, yzp, q.yq.qt));
        }
    free(heap);
    return 0;
}

size_t sk_ref_scratch_qlinear_conv(SK_REF_SCRATCH_ARGS)
{
    (void)nin;
    (void)in;
    (void)nthreads;
    (void)n;
    if (nout < 1)
        return 0;
    int64_t p = 1; /* one output channel's plane */
    for (int i = 2; i < out[0].shape.rank; i++)
        p *= out[0].shape.dim[i];
    return (size_t)p * sizeof(int32_t);
}

/* --- matrix products ---------------------------------------------------------- */

/* A [..., M, K] x B [..., K, N]: B 2-D (shared) or with A's batch dims. */
typedef struct qmm {
    int64_t batch, M, K, N;
    int b_shared;
    sk_shape out;
} qmm;

static int qmm_geom(const sk_node *n, sk_kctx *ctx, const sk_tensor *a, const sk_tensor *b,
                    qmm *g)
{
    char b1[96], b2[96];
    if (!sk_q_is8(a->dtype) || !sk_q_is8(b->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "A is %s and B is %s; int8 or uint8 needed",
                        sk_dtype_name(a->dtype), sk_dtype_name(b->dtype));
    const sk_shape *as = &a->shape, *bs = &b->shape;
    int ok = as->rank >= 2 && bs->rank >= 2 && as->dim[as->rank - 1] == bs->dim[bs->rank - 2];
    if (ok && bs->rank > 2) {
        ok = bs->rank == as->rank;
        for (int i = 0; ok && i < as->rank - 2; i++)
            ok = as->dim[i] == bs->dim[i];
    }
    if (!ok)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "A %s x B %s: supported are A [...,M,K] with B [K,N] or with B of A's "
                        "batch dims",
                        sk_shape_str(as, b1, sizeof b1), sk_shape_str(bs, b2, sizeof b2));
    g->M = as->dim[as->rank - 2];
    g->K = as->dim[as->rank - 1];
    g->N = bs->dim[bs->rank - 1];
    g->b_shared = bs->rank == 2;
    g->batch = 1;
    for (int i = 0; i < as->rank - 2; i++)
        g->batch *= as->dim[i];
    if (g->K > MAX_TERMS)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "K = %lld could overflow the int32 sum",
                        (long long)g->K);
    g->out = *as;
    g->out.dim[as->rank - 1] = g->N;
    if (sk_shape_numel(&g->out) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "output size overflows");
    return 0;
}

/* acc[M*N] of batch i: sum_k (a - azp[row]) * (b - bzp[col]). */
static void qmm_batch(const qmm *g, const sk_tensor *a, const sk_tensor *b, const sk_tensor *az,
                      const sk_tensor *bz, int64_t i, int32_t *acc)
{
    int64_t ao = i * g->M * g->K, bo = g->b_shared ? 0 : i * g->K * g->N;
    for (int64_t r = 0; r < g->M; r++) {
        int32_t azp = zp_at(az, r);
        int32_t *row = acc + r * g->N;
        memset(row, 0, (size_t)g->N * sizeof *row);
        for (int64_t k = 0; k < g->K; k++) {
            int32_t av = sk_q_load(a->dtype, a->data, ao + r * g->K + k) - azp;
            if (av == 0)
                continue;
            for (int64_t c = 0; c < g->N; c++)
                row[c] += av * (sk_q_load(b->dtype, b->data, bo + k * g->N + c) - zp_at(bz, c));
        }
    }
}

/* MatMulInteger(A, B, a_zero_point?, b_zero_point?) -> int32 */
static int mmint_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                       sk_kctx *ctx, qmm *g)
{
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs A and B");
    int rc = qmm_geom(n, ctx, in[0], in[1], g);
    if (!rc)
        rc = zp_vector(n, ctx, "a_zero_point", sk_ref_opt(in, nin, 2), in[0]->dtype, g->M);
    if (!rc)
        rc = zp_vector(n, ctx, "b_zero_point", sk_ref_opt(in, nin, 3), in[1]->dtype, g->N);
    return rc;
}

int sk_infer_matmul_integer(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx)
{
    qmm g;
    int rc = mmint_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = SK_I32;
    out[0].shape = g.out;
    return 0;
}

int sk_run_matmul_integer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    qmm g;
    int rc = mmint_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    for (int64_t i = 0; i < g.batch; i++)
        qmm_batch(&g, in[0], in[1], sk_ref_opt(in, nin, 2), sk_ref_opt(in, nin, 3), i,
                  (int32_t *)out[0].data + i * g.M * g.N);
    return 0;
}

/* QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) */
typedef struct qlmm {
    qmm g;
    sk_qparam aq, bq, yq;
} qlmm;

static int qlmm_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, qlmm *q)
{
    if (nin < 8 || !in[0] || !in[1] || !in[3] || !in[4] || !in[6] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL,
                        "needs a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, "
                        "y_zero_point");
    int rc = qmm_geom(n, ctx, in[0], in[3], &q->g);
    if (rc)
        return rc;
    const sk_tensor *az = in[2], *bz = in[5], *yz = in[7];
    if ((az && az->dtype != in[0]->dtype) || (bz && bz->dtype != in[3]->dtype))
        return sk_kfail(ctx, n, SK_EINVAL, "a zero point's type differs from its data's");
    if (sk_shape_numel(&in[1]->shape) != 1 || sk_shape_numel(&in[6]->shape) != 1)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "a_scale and y_scale must be per tensor");
    /* b per tensor or per column (its last axis) */
    if ((rc = sk_q_param(n, ctx, "a", in[1], az, &in[0]->shape, 0, in[0]->dtype, &q->aq)) ||
        (rc = sk_q_param(n, ctx, "b", in[4], bz, &in[3]->shape, -1, in[3]->dtype, &q->bq)) ||
        (rc = sk_q_param(n, ctx, "y", in[6], yz, &q->g.out, 0, in[0]->dtype, &q->yq)))
        return rc;
    return 0;
}

int sk_infer_qlinear_matmul(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx)
{
    qlmm q;
    int rc = qlmm_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    out[0].dtype = q.yq.qt;
    out[0].shape = q.g.out;
    return 0;
}

int sk_run_qlinear_matmul(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    qlmm q;
    int rc = qlmm_setup(n, in, nin, nout, ctx, &q);
    if (rc)
        return rc;
    size_t mn = (size_t)(q.g.M * q.g.N);
    void *heap;
    int32_t *acc = sk_nn_scratch(ctx, mn * sizeof *acc, &heap);
    if (!acc)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    int32_t yzp = sk_q_zp(&q.yq, 0);
    for (int64_t i = 0; i < q.g.batch; i++) {
        qmm_batch(&q.g, in[0], in[3], in[2], in[5], i, acc);
        for (int64_t r = 0; r < q.g.M; r++)
            for (int64_t c = 0; c < q.g.N; c++) {
                float mult = q.aq.scale[0] * q.bq.scale[q.bq.n > 1 ? c : 0] / q.yq.scale[0];
                sk_q_store(q.yq.qt, out[0].data, (int64_t)(i * (int64_t)mn) + r * q.g.N + c,
                           sk_q_round_sat((float)acc[r * q.g.N + c] * mult, yzp, q.yq.qt));
            }
    }
    free(heap);
    return 0;
}

size_t sk_ref_scratch_qlinear_matmul(SK_REF_SCRATCH_ARGS)
{
    (void)nout;
    (void)nthreads;
    (void)n;
    (void)out;
    if (nin < 4 || !in[0] || !in[3])
        return 0;
    const sk_shape *as = &in[0]->shape, *bs = &in[3]->shape;
    if (as->rank < 2 || bs->rank < 2)
        return 0;
    return (size_t)(as->dim[as->rank - 2] * bs->dim[bs->rank - 1]) * sizeof(int32_t);
}
