/* shape.c — reference kernels of the ops that change a tensor's shape but
 * not its bytes (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout),
 * and of the ops that make tensors from shapes (Shape, ConstantOfShape,
 * Expand). Every one works for any supported dtype: the shape sub-graphs
 * exporters emit run them on int64. */
#include <stdint.h>
#include <string.h>

#include "broadcast.h"
#include "graph.h"
#include "ops.h"
#include "ref_util.h"

static int need_value(const sk_node *n, const sk_tensor *t, const char *what, sk_kctx *ctx)
{
    if (sk_ref_known(t))
        return 0;
    return sk_kfail(ctx, n, SK_ENEEDVALUE, "the output shape depends on the value of %s, "
                    "which is not known before the run", what);
}

static int check_rank(const sk_node *n, int rank, sk_kctx *ctx)
{
    if (rank > SK_MAX_RANK)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "output rank %d is over the limit of %d", rank,
                        SK_MAX_RANK);
    return 0;
}

static int one_input(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                     sk_kctx *ctx)
{
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects an input and an output");
    if (sk_dtype_size(in[0]->dtype) == 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    return 0;
}

/* The run of every op whose output holds the input's bytes unchanged. */
#define COPY_RUN(fn)                                                                      \
    int sk_run_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out, \
                    int nout, sk_kctx *ctx)                                                \
    {                                                                                     \
        (void)n;                                                                          \
        (void)nin;                                                                        \
        (void)nout;                                                                       \
        (void)ctx;                                                                        \
        sk_ref_copy(&out[0], in[0]);                                                      \
        return 0;                                                                         \
    }

/* A shape given as a known int tensor with no negative entry
 * (ConstantOfShape, Expand). */
static int read_target_shape(const sk_node *n, const sk_tensor *t, sk_shape *o, sk_kctx *ctx)
{
    int rc = need_value(n, t, "the shape input", ctx);
    if (rc)
        return rc;
    int k = sk_ref_read_ints(n, t, "shape", o->dim, SK_MAX_RANK, ctx);
    if (k < 0)
        return k;
    o->rank = k;
    for (int i = 0; i < k; i++)
        if (o->dim[i] < 0)
            return sk_kfail(ctx, n, SK_ESHAPE, "shape[%d] = %lld is negative", i,
                            (long long)o->dim[i]);
    return 0;
}

/* ---- Flatten ------------------------------------------------------------- */

int sk_infer_flatten(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    int rc = one_input(n, in, nin, nout, ctx);
    if (rc)
        return rc;
    const sk_shape *s = &in[0]->shape;
    int64_t axis = sk_attr_int(n, "axis", 1);
    if (axis < -s->rank || axis > s->rank)
        return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for rank %d",
                        (long long)axis, s->rank);
    if (axis < 0)
        axis += s->rank;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < s->rank; d++) {
        if (s->dim[d] < 0)
            return sk_kfail(ctx, n, SK_ESHAPE, "input dims must be concrete");
        if (d < axis)
            outer *= s->dim[d];
        else
            inner *= s->dim[d];
    }
    out[0].dtype = in[0]->dtype;
    out[0].shape.rank = 2;
    out[0].shape.dim[0] = outer;
    out[0].shape.dim[1] = inner;
    return 0;
}

COPY_RUN(flatten)

/* ---- Reshape(data, shape) attr allowzero ---------------------------------- */

int sk_infer_reshape(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    int rc = one_input(n, in, nin, nout, ctx);
    if (rc)
        return rc;
    if (nin < 2 || !in[1])
        return sk_kfail(ctx, n, SK_EINVAL, "expects a shape input");
    if ((rc = need_value(n, in[1], "the shape input", ctx)))
        return rc;
    int64_t v[SK_MAX_RANK];
    int k = sk_ref_read_ints(n, in[1], "shape", v, SK_MAX_RANK, ctx);
    if (k < 0)
        return k;
    const sk_shape *s = &in[0]->shape;
    int64_t total = sk_shape_numel(s);
    if (total < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "input dims must be concrete");
    int allowzero = sk_attr_int(n, "allowzero", 0) != 0;
    sk_shape o = {.rank = k};
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < k; i++) {
        int64_t d = v[i];
        if (d == 0 && !allowzero) {
            if (i >= s->rank)
                return sk_kfail(ctx, n, SK_ESHAPE, "shape[%d] = 0 copies a dim the input "
                                "(rank %d) lacks", i, s->rank);
            d = s->dim[i];
        } else if (d == -1) {
            if (infer_at >= 0)
                return sk_kfail(ctx, n, SK_ESHAPE, "shape has more than one -1");
            infer_at = i;
            continue;
        } else if (d < 0) {
            return sk_kfail(ctx, n, SK_ESHAPE, "shape[%d] = %lld is negative", i, (long long)d);
        }
        o.dim[i] = d;
        if (d != 0 && known > SK_MAX_NUMEL / d)
            return sk_kfail(ctx, n, SK_ESHAPE, "shape is too large");
        known *= d;
    }
    if (infer_at >= 0) {
        if (known == 0 || total % known != 0) {
            char a[96];
            return sk_kfail(ctx, n, SK_ESHAPE, "cannot infer the -1 dim: %lld elements of %s "
                            "over %lld", (long long)total, sk_shape_str(s, a, sizeof a),
                            (long long)known);
        }
        o.dim[infer_at] = total / known;
    } else if (known != total) {
        char a[96];
        return sk_kfail(ctx, n, SK_ESHAPE, "cannot reshape %s (%lld elements) to %lld elements",
                        sk_shape_str(s, a, sizeof a), (long long)total, (long long)known);
    }
    out[0].dtype = in[0]->dtype;
    out[0].shape = o;
    return 0;
}

COPY_RUN(reshape)

/* ---- Squeeze / Unsqueeze (X, axes?) ---------------------------------------- */

/* Axes from input 1, or from the attribute of the old opsets (the loader
 * normally moves it to an input). Returns the count, -1 when absent, or an
 * error code (< -1). */
static int read_axes(const sk_node *n, const sk_tensor *const *in, int nin, int64_t *axes,
                     int max, sk_kctx *ctx)
{
    const sk_tensor *t = sk_ref_opt(in, nin, 1);
    if (t) {
        int rc = need_value(n, t, "the axes input", ctx);
        if (rc)
            return rc;
        return sk_ref_read_ints(n, t, "axes", axes, max, ctx);
    }
    const int64_t *a;
    int k = sk_attr_ints(n, "axes", &a);
    if (k < 0)
        return -1;
    if (k > max)
        return sk_kfail(ctx, n, SK_ESHAPE, "%d axes, at most %d allowed", k, max);
    memcpy(axes, a, (size_t)k * sizeof *axes);
    return k;
}

int sk_infer_squeeze(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    int rc = one_input(n, in, nin, nout, ctx);
    if (rc)
        return rc;
    const sk_shape *s = &in[0]->shape;
    int64_t axes[SK_MAX_RANK];
    int drop[SK_MAX_RANK] = {0};
    int k = read_axes(n, in, nin, axes, SK_MAX_RANK, ctx);
    if (k < -1)
        return k;
    if (k < 0) {
        for (int d = 0; d < s->rank; d++)
            drop[d] = s->dim[d] == 1;
    }
    for (int i = 0; i < k; i++) {
        int a = sk_ref_axis(axes[i], s->rank);
        if (a < 0)
            return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for rank %d",
                            (long long)axes[i], s->rank);
        if (s->dim[a] != 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "cannot squeeze dim %d of size %lld", a,
                            (long long)s->dim[a]);
        drop[a] = 1;
    }
    sk_shape o = {.rank = 0};
    for (int d = 0; d < s->rank; d++)
        if (!drop[d])
            o.dim[o.rank++] = s->dim[d];
    out[0].dtype = in[0]->dtype;
    out[0].shape = o;
    return 0;
}

COPY_RUN(squeeze)

int sk_infer_unsqueeze(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    int rc = one_input(n, in, nin, nout, ctx);
    if (rc)
        return rc;
    const sk_shape *s = &in[0]->shape;
    int64_t axes[SK_MAX_RANK];
    int k = read_axes(n, in, nin, axes, SK_MAX_RANK, ctx);
    if (k < -1)
        return k;
    if (k < 0)
        return sk_kfail(ctx, n, SK_EINVAL, "expects axes");
    int r = s->rank + k;
    if ((rc = check_rank(n, r, ctx)))
        return rc;
    int ins[SK_MAX_RANK] = {0};
    for (int i = 0; i < k; i++) {
        int a = sk_ref_axis(axes[i], r);
        if (a < 0)
            return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for output rank %d",
                            (long long)axes[i], r);
        if (ins[a])
            return sk_kfail(ctx, n, SK_EINVAL, "axis %d is repeated", a);
        ins[a] = 1;
    }
    sk_shape o = {.rank = r};
    for (int d = 0, j = 0; d < r; d++)
        o.dim[d] = ins[d] ? 1 : s->dim[j++];
    out[0].dtype = in[0]->dtype;
    out[0].shape = o;
    return 0;
}

COPY_RUN(unsqueeze)

/* ---- Identity, Dropout (inference: identity, mask all true) --------------- */

int sk_infer_identity(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    int rc = one_input(n, in, nin, nout, ctx);
    if (rc)
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape = in[0]->shape;
    return 0;
}

COPY_RUN(identity)

/* Training mode with a non-zero ratio draws a random mask: a server never
 * needs it, and no reference could reproduce numpy's generator, so it is
 * refused. Training with ratio 0 is the identity. A value not known yet
 * (infer) counts as inference; run sees the real value. */
static int dropout_training(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_kctx *ctx)
{
    const sk_tensor *tm = sk_ref_opt(in, nin, 2), *ratio = sk_ref_opt(in, nin, 1);
    if (!tm || !tm->data || sk_shape_numel(&tm->shape) < 1 || tm->dtype != SK_BOOL ||
        !*(const uint8_t *)tm->data)
        return 0;
    double r = 0.5;
    if (ratio && ratio->data && sk_shape_numel(&ratio->shape) >= 1) {
        if (ratio->dtype == SK_F32)
            r = *(const float *)ratio->data;
        else if (ratio->dtype == SK_F64)
            r = *(const double *)ratio->data;
    } else if (ratio) {
        return 0; /* ratio not known yet: decide at run */
    }
    if (r == 0)
        return 0;
    return sk_kfail(ctx, n, SK_EUNSUPPORTED, "training mode (a random mask) is not supported");
}

int sk_infer_dropout(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    int rc = one_input(n, in, nin, nout, ctx);
    if (rc || (rc = dropout_training(n, in, nin, ctx)))
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape = in[0]->shape;
    if (nout > 1) {
        out[1].dtype = SK_BOOL;
        out[1].shape = in[0]->shape;
    }
    return 0;
}

int sk_run_dropout(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                   int nout, sk_kctx *ctx)
{
    int rc = dropout_training(n, in, nin, ctx);
    if (rc)
        return rc;
    sk_ref_copy(&out[0], in[0]);
    if (nout > 1 && out[1].data)
        memset(out[1].data, 1, sk_tensor_bytes(&out[1]));
    return 0;
}

/* ---- Shape (attrs start, end of opset 15) -------------------------------- */

static void shape_range(const sk_node *n, int rank, int64_t *start, int64_t *end)
{
    int64_t s = sk_attr_int(n, "start", 0), e = sk_attr_int(n, "end", rank);
    if (s < 0)
        s += rank;
    if (e < 0)
        e += rank;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    *start = s;
    *end = e < s ? s : e;
}

int sk_infer_shape(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                   int nout, sk_kctx *ctx)
{
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects an input");
    int64_t s, e;
    shape_range(n, in[0]->shape.rank, &s, &e);
    out[0].dtype = SK_I64;
    out[0].shape.rank = 1;
    out[0].shape.dim[0] = e - s;
    return 0;
}

int sk_run_shape(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                 int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    (void)ctx;
    int64_t s, e;
    shape_range(n, in[0]->shape.rank, &s, &e);
    int64_t *o = out[0].data;
    for (int64_t d = s; d < e; d++)
        o[d - s] = in[0]->shape.dim[d];
    return 0;
}

/* ---- ConstantOfShape(shape) attr value (a one-element tensor) ------------- */

/* The fill value's dtype and bytes; float 0 when the attribute is absent. */
static int fill_value(const sk_node *n, sk_dtype *dt, uint8_t bytes[8], sk_kctx *ctx)
{
    const sk_attr *a = sk_attr_find(n, "value");
    memset(bytes, 0, 8);
    *dt = SK_F32;
    if (!a)
        return 0;
    if (a->type != SK_ATTR_TENSOR || sk_shape_numel(&a->t.shape) != 1 || !a->t.data)
        return sk_kfail(ctx, n, SK_EINVAL, "value must be a one-element tensor");
    size_t es = sk_dtype_size(a->t.dtype);
    if (es == 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "value dtype %s is not supported",
                        sk_dtype_name(a->t.dtype));
    *dt = a->t.dtype;
    memcpy(bytes, a->t.data, es);
    return 0;
}

int sk_infer_constant_of_shape(const sk_node *n, const sk_tensor *const *in, int nin,
                               sk_tensor *out, int nout, sk_kctx *ctx)
{
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects a shape input");
    sk_shape o;
    int rc = read_target_shape(n, in[0], &o, ctx);
    if (rc)
        return rc;
    if (sk_shape_numel(&o) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "shape is too large");
    uint8_t bytes[8];
    if ((rc = fill_value(n, &out[0].dtype, bytes, ctx)))
        return rc;
    out[0].shape = o;
    return 0;
}

int sk_run_constant_of_shape(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    (void)in;
    (void)nin;
    (void)nout;
    uint8_t bytes[8];
    sk_dtype dt;
    int rc = fill_value(n, &dt, bytes, ctx);
    if (rc)
        return rc;
    size_t es = sk_dtype_size(dt);
    int64_t cnt = sk_shape_numel(&out[0].shape);
    uint8_t *o = out[0].data;
    int zero = 1;
    for (size_t b = 0; b < es; b++)
        zero &= bytes[b] == 0;
    if (zero)
        memset(o, 0, (size_t)cnt * es);
    else
        for (int64_t i = 0; i < cnt; i++)
            memcpy(o + (size_t)i * es, bytes, es);
    return 0;
}

/* ---- Expand(input, shape): bidirectional broadcast ------------------------- */

int sk_infer_expand(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    int nout, sk_kctx *ctx)
{
    int rc = one_input(n, in, nin, nout, ctx);
    if (rc)
        return rc;
    if (nin < 2 || !in[1])
        return sk_kfail(ctx, n, SK_EINVAL, "expects a shape input");
    sk_shape target;
    if ((rc = read_target_shape(n, in[1], &target, ctx)))
        return rc;
    const sk_shape *shapes[2] = {&in[0]->shape, &target};
    char msg[256];
    if ((rc = sk_broadcast_shape(shapes, 2, &out[0].shape, msg, sizeof msg)))
        return sk_kfail(ctx, n, rc, "%s", msg);
    out[0].dtype = in[0]->dtype;
    return 0;
}

int sk_run_expand(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    const sk_shape *os = &out[0].shape, *is = &in[0]->shape;
    if (!sk_broadcast_to(is, os))
        return sk_kfail(ctx, n, SK_ESHAPE, "input does not broadcast to the output shape");
    int64_t stride[SK_MAX_RANK], s = 1;
    for (int d = os->rank - 1; d >= 0; d--) {
        int k = d - (os->rank - is->rank);
        int64_t x = k >= 0 ? is->dim[k] : 1;
        stride[d] = x == 1 ? 0 : s;
        s *= x;
    }
    if (sk_shape_numel(os) > 0)
        sk_strided_copy(out[0].data, in[0]->data, sk_dtype_size(in[0]->dtype), os->rank,
                        os->dim, stride);
    return 0;
}
