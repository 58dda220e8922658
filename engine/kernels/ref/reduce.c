/* reduce.c — reference kernels of ReduceMean, ReduceSum and ReduceMax
 * (X, axes?) with attrs keepdims and noop_with_empty_axes.
 *
 * The input is walked in memory order with sk_bcast, treating the output
 * (with kept 1-dims) as an operand broadcast to the input's shape: each run
 * then either folds a contiguous stretch into one output element (reduced
 * inner dims) or adds a row into a row (kept inner dims). float32 runs of
 * the first kind sum in double. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "broadcast.h"
#include "graph.h"
#include "ops.h"
#include "ref_util.h"

static int reduce_type_ok(sk_dtype t)
{
    return t == SK_F32 || t == SK_F64 || t == SK_I32 || t == SK_I64;
}

/* Reduced-dim mask from the axes input (or the attribute of old opsets).
 * Returns 1 for "no reduction" (empty axes with noop_with_empty_axes), 0 on
 * success, or a negative code. */
static int reduce_mask(const sk_node *n, const sk_tensor *const *in, int nin, int infer,
                       int *mask, sk_kctx *ctx)
{
    const sk_shape *s = &in[0]->shape;
    int64_t axes[SK_MAX_RANK];
    int k = -1;
    const sk_tensor *t = sk_ref_opt(in, nin, 1);
    if (t) {
        if (infer && !sk_ref_known(t))
            return sk_kfail(ctx, n, SK_ENEEDVALUE, "the output shape depends on the value of "
                            "the axes input, which is not known before the run");
        k = sk_ref_read_ints(n, t, "axes", axes, SK_MAX_RANK, ctx);
        if (k < 0)
            return k;
    } else {
        const int64_t *a;
        k = sk_attr_ints(n, "axes", &a);
        if (k > SK_MAX_RANK)
            return sk_kfail(ctx, n, SK_EINVAL, "%d axes for rank %d", k, s->rank);
        if (k > 0)
            memcpy(axes, a, (size_t)k * sizeof *axes);
    }
    for (int d = 0; d < s->rank; d++)
        mask[d] = 0;
    if (k <= 0) {
        if (sk_attr_int(n, "noop_with_empty_axes", 0))
            return 1;
        for (int d = 0; d < s->rank; d++)
            mask[d] = 1;
        return 0;
    }
    for (int i = 0; i < k; i++) {
        int a = sk_ref_axis(axes[i], s->rank);
        if (a < 0)
            return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for rank %d",
                            (long long)axes[i], s->rank);
        mask[a] = 1;
    }
    return 0;
}

static int reduce_infer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects an input");
    if (!reduce_type_ok(in[0]->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    int mask[SK_MAX_RANK];
    int rc = reduce_mask(n, in, nin, 1, mask, ctx);
    if (rc < 0)
        return rc;
    out[0].dtype = in[0]->dtype;
    const sk_shape *s = &in[0]->shape;
    if (rc == 1) {
        out[0].shape = *s;
        return 0;
    }
    int keep = sk_attr_int(n, "keepdims", 1) != 0;
    sk_shape o = {.rank = 0};
    for (int d = 0; d < s->rank; d++) {
        if (!mask[d])
            o.dim[o.rank++] = s->dim[d];
        else if (keep)
            o.dim[o.rank++] = 1;
    }
    out[0].shape = o;
    return 0;
}

typedef struct {
    const void *x;
    void *o;
    int inc;
} reduce_job;

/* Runs over the input: n elements from x_off; output at in_off[0]. */
#define REDUCE_RUNS(name, T, ACC, STEP)                                   \
    static void name(void *arg, int64_t cnt, int64_t x_off, const int64_t *o_off) \
    {                                                                             \
        const reduce_job *j = arg;                                                \
        const T *x = (const T *)j->x + x_off;                                     \
        T *o = (T *)j->o + o_off[0];                                              \
        if (j->inc) {                                                             \
            for (int64_t k = 0; k < cnt; k++) {                                   \
                T a = o[k], v = x[k];                                             \
                o[k] = (T)(STEP);                                                 \
            }                                                                     \
        } else {                                                                  \
            ACC a = (ACC)o[0];                                                    \
            for (int64_t k = 0; k < cnt; k++) {                                   \
                ACC v = (ACC)x[k];                                                \
                a = (ACC)(STEP);                                                  \
            }                                                                     \
            o[0] = (T)a;                                                          \
        }                                                                         \
    }

REDUCE_RUNS(sum_f32, float, double, a + v)
REDUCE_RUNS(sum_f64, double, double, a + v)
REDUCE_RUNS(sum_i32, int32_t, int64_t, (uint64_t)a + (uint64_t)v)
REDUCE_RUNS(sum_i64, int64_t, int64_t, (uint64_t)a + (uint64_t)v)
/* max propagates NaN, like numpy.maximum.reduce */
REDUCE_RUNS(max_f32, float, float, (v > a || isnan(v)) ? v : a)
REDUCE_RUNS(max_f64, double, double, (v > a || isnan(v)) ? v : a)
REDUCE_RUNS(max_i32, int32_t, int32_t, v > a ? v : a)
REDUCE_RUNS(max_i64, int64_t, int64_t, v > a ? v : a)

static int reduce_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    (void)nout;
    const sk_shape *s = &in[0]->shape;
    int mask[SK_MAX_RANK];
    int rc = reduce_mask(n, in, nin, 0, mask, ctx);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        sk_ref_copy(&out[0], in[0]);
        return 0;
    }
    sk_dtype t = in[0]->dtype;
    int is_max = n->op == SK_OP_REDUCE_MAX;
    sk_bcast_fn fn = NULL;
    switch (t) {
    case SK_F32: fn = is_max ? max_f32 : sum_f32; break;
    case SK_F64: fn = is_max ? max_f64 : sum_f64; break;
    case SK_I32: fn = is_max ? max_i32 : sum_i32; break;
    case SK_I64: fn = is_max ? max_i64 : sum_i64; break;
    default:
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(t));
    }
    /* Output as a same-rank shape with 1s on reduced dims. */
    sk_shape kept = *s;
    int64_t group = 1;
    for (int d = 0; d < s->rank; d++)
        if (mask[d]) {
            group *= s->dim[d];
            kept.dim[d] = 1;
        }
    int64_t ocnt = sk_shape_numel(&out[0].shape);
    for (int64_t i = 0; i < ocnt; i++) {
        switch (t) {
        case SK_F32: ((float *)out[0].data)[i] = is_max ? -INFINITY : 0.0f; break;
        case SK_F64: ((double *)out[0].data)[i] = is_max ? -INFINITY : 0.0; break;
        case SK_I32: ((int32_t *)out[0].data)[i] = is_max ? INT32_MIN : 0; break;
        default: ((int64_t *)out[0].data)[i] = is_max ? INT64_MIN : 0; break;
        }
    }
    const sk_shape *ks = &kept;
    sk_bcast bc;
    if (sk_bcast_init(&bc, s, &ks, 1) != 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "cannot walk the input shape");
    reduce_job j = {in[0]->data, out[0].data, bc.inc[0]};
    /* serial: different input runs may fold into the same output element */
    sk_bcast_walk(&bc, 0, bc.numel, fn, &j);
    if (n->op == SK_OP_REDUCE_MEAN && group > 0) {
        for (int64_t i = 0; i < ocnt; i++) {
            switch (t) {
            case SK_F32: ((float *)out[0].data)[i] /= (float)group; break;
            case SK_F64: ((double *)out[0].data)[i] /= (double)group; break;
            /* in int64: (int32_t)group is 0 for a group of 2^32 */
            case SK_I32: ((int32_t *)out[0].data)[i] =
                    (int32_t)(((int32_t *)out[0].data)[i] / group); break;
            default: ((int64_t *)out[0].data)[i] /= group; break;
            }
        }
    }
    return 0;
}

#define REDUCE_ENTRY(fn)                                                                 \
    int sk_infer_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out, \
                      int nout, sk_kctx *ctx)                                            \
    {                                                                                    \
        return reduce_infer(n, in, nin, out, nout, ctx);                                 \
    }                                                                                    \
    int sk_run_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,   \
                    int nout, sk_kctx *ctx)                                              \
    {                                                                                    \
        return reduce_run(n, in, nin, out, nout, ctx);                                   \
    }
REDUCE_ENTRY(reduce_mean)
REDUCE_ENTRY(reduce_sum)
REDUCE_ENTRY(reduce_max)
