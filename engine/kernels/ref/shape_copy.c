/* shape_copy.c — reference kernels of the data-movement ops: Transpose,
 * Concat, Split, Gather and Slice. They move elements as opaque
 * sk_dtype_size() byte groups, so every supported dtype works (int64 shape
 * sub-graphs included). */
#include <stdint.h>
#include <string.h>

#include "broadcast.h"
#include "graph.h"
#include "ops.h"
#include "ref_util.h"

static int data_input(const sk_node *n, const sk_tensor *t, sk_kctx *ctx)
{
    if (!t)
        return sk_kfail(ctx, n, SK_EINVAL, "a required input is missing");
    if (sk_dtype_size(t->dtype) == 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(t->dtype));
    if (sk_shape_numel(&t->shape) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "input dims must be concrete");
    return 0;
}

static int need_value(const sk_node *n, const sk_tensor *t, const char *what, sk_kctx *ctx)
{
    if (sk_ref_known(t))
        return 0;
    return sk_kfail(ctx, n, SK_ENEEDVALUE, "the output shape depends on the value of %s, "
                    "which is not known before the run", what);
}

/* Product of dims [from, to). */
static int64_t dims_prod(const sk_shape *s, int from, int to)
{
    int64_t p = 1;
    for (int d = from; d < to; d++)
        p *= s->dim[d];
    return p;
}

/* ---- Transpose (attr perm, default reversed) ----------------------------- */

static int transpose_perm(const sk_node *n, int rank, int *perm, sk_kctx *ctx)
{
    const int64_t *p;
    int k = sk_attr_ints(n, "perm", &p);
    int seen[SK_MAX_RANK] = {0};
    if (k < 0) {
        for (int d = 0; d < rank; d++)
            perm[d] = rank - 1 - d;
        return 0;
    }
    if (k != rank)
        return sk_kfail(ctx, n, SK_EINVAL, "perm has %d entries for rank %d", k, rank);
    for (int d = 0; d < rank; d++) {
        if (p[d] < 0 || p[d] >= rank || seen[p[d]])
            return sk_kfail(ctx, n, SK_EINVAL, "perm is not a permutation of 0..%d", rank - 1);
        seen[p[d]] = 1;
        perm[d] = (int)p[d];
    }
    return 0;
}

int sk_infer_transpose(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    if (nin < 1 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects an input");
    int rc = data_input(n, in[0], ctx);
    int perm[SK_MAX_RANK];
    if (rc || (rc = transpose_perm(n, in[0]->shape.rank, perm, ctx)))
        return rc;
    out[0].dtype = in[0]->dtype;
    out[0].shape.rank = in[0]->shape.rank;
    for (int d = 0; d < in[0]->shape.rank; d++)
        out[0].shape.dim[d] = in[0]->shape.dim[perm[d]];
    return 0;
}

int sk_run_transpose(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    const sk_shape *s = &in[0]->shape;
    int perm[SK_MAX_RANK];
    int rc = transpose_perm(n, s->rank, perm, ctx);
    if (rc)
        return rc;
    int64_t in_stride[SK_MAX_RANK], stride[SK_MAX_RANK], st = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        in_stride[d] = st;
        st *= s->dim[d];
    }
    for (int d = 0; d < s->rank; d++)
        stride[d] = in_stride[perm[d]];
    sk_strided_copy(out[0].data, in[0]->data, sk_dtype_size(in[0]->dtype), s->rank,
                    out[0].shape.dim, stride);
    return 0;
}

/* ---- Concat (attr axis) ---------------------------------------------------- */

int sk_infer_concat(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    int nout, sk_kctx *ctx)
{
    if (nin < 1 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects at least one input");
    for (int i = 0; i < nin; i++) {
        int rc = data_input(n, in[i], ctx);
        if (rc)
            return rc;
    }
    const sk_shape *s0 = &in[0]->shape;
    const sk_attr *ax = sk_attr_find(n, "axis");
    if (!ax)
        return sk_kfail(ctx, n, SK_EINVAL, "the axis attribute is required");
    int axis = sk_ref_axis(ax->i, s0->rank);
    if (axis < 0)
        return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for rank %d",
                        (long long)ax->i, s0->rank);
    sk_shape o = *s0;
    for (int i = 1; i < nin; i++) {
        const sk_shape *s = &in[i]->shape;
        char a[96], b[96];
        if (in[i]->dtype != in[0]->dtype)
            return sk_kfail(ctx, n, SK_EINVAL, "input %d is %s but input 0 is %s", i,
                            sk_dtype_name(in[i]->dtype), sk_dtype_name(in[0]->dtype));
        int ok = s->rank == s0->rank;
        for (int d = 0; d < s0->rank && ok; d++)
            ok = d == axis || s->dim[d] == s0->dim[d];
        if (!ok)
            return sk_kfail(ctx, n, SK_ESHAPE, "input %d %s does not fit input 0 %s on axis %d",
                            i, sk_shape_str(s, a, sizeof a), sk_shape_str(s0, b, sizeof b),
                            axis);
        o.dim[axis] += s->dim[axis];
        if (o.dim[axis] > SK_MAX_NUMEL)
            return sk_kfail(ctx, n, SK_ESHAPE, "the concatenated axis passes %lld elements",
                            (long long)SK_MAX_NUMEL);
    }
    out[0].dtype = in[0]->dtype;
    out[0].shape = o;
    return 0;
}

int sk_run_concat(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    (void)nout;
    (void)ctx;
    const sk_shape *os = &out[0].shape;
    int axis = sk_ref_axis(sk_attr_int(n, "axis", 0), os->rank);
    size_t es = sk_dtype_size(out[0].dtype);
    int64_t outer = dims_prod(os, 0, axis), inner = dims_prod(os, axis + 1, os->rank);
    char *o = out[0].data;
    for (int64_t b = 0; b < outer; b++) {
        for (int i = 0; i < nin; i++) {
            size_t block = (size_t)(in[i]->shape.dim[axis] * inner) * es;
            if (block) {
                memcpy(o, (const char *)in[i]->data + (size_t)b * block, block);
                o += block;
            }
        }
    }
    return 0;
}

/* ---- Split(X, split?) attrs axis, num_outputs ------------------------------ */

/* Sizes of the nout parts along `axis`. */
static int split_sizes(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                       int *axis, int64_t *size, int infer, sk_kctx *ctx)
{
    const sk_shape *s = &in[0]->shape;
    int64_t a = sk_attr_int(n, "axis", 0);
    *axis = sk_ref_axis(a, s->rank);
    if (*axis < 0)
        return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for rank %d",
                        (long long)a, s->rank);
    int64_t dim = s->dim[*axis];
    const sk_tensor *sp = sk_ref_opt(in, nin, 1);
    const int64_t *attr_split;
    int k;
    if (sp) {
        if (infer && !sk_ref_known(sp))
            return sk_kfail(ctx, n, SK_ENEEDVALUE, "the output shapes depend on the value of "
                            "the split input, which is not known before the run");
        k = sk_ref_read_ints(n, sp, "split", size, nout, ctx);
        if (k < 0)
            return k;
    } else if ((k = sk_attr_ints(n, "split", &attr_split)) >= 0) {
        if (k > nout)
            return sk_kfail(ctx, n, SK_EINVAL, "split has %d entries for %d outputs", k, nout);
        memcpy(size, attr_split, (size_t)k * sizeof *size);
    } else {
        /* Equal parts; with num_outputs (opset 18) the last part may be short. */
        int64_t parts = sk_attr_int(n, "num_outputs", nout);
        if (parts != nout)
            return sk_kfail(ctx, n, SK_EINVAL, "num_outputs is %lld but the node has %d "
                            "outputs", (long long)parts, nout);
        int64_t each = dim / nout;
        if (dim % nout) {
            if (!sk_attr_find(n, "num_outputs"))
                return sk_kfail(ctx, n, SK_ESHAPE, "dim %lld does not split into %d equal "
                                "parts", (long long)dim, nout);
            each = (dim + nout - 1) / nout;
        }
        for (int i = 0; i < nout; i++) {
            int64_t left = dim - each * i;
            size[i] = left < 0 ? 0 : left < each ? left : each;
        }
        return 0;
    }
    if (k != nout)
        return sk_kfail(ctx, n, SK_EINVAL, "split has %d entries for %d outputs", k, nout);
    int64_t total = 0;
    for (int i = 0; i < nout; i++) {
        if (size[i] < 0 || size[i] > dim)
            return sk_kfail(ctx, n, SK_ESHAPE, "split[%d] = %lld does not fit the dim %lld", i,
                            (long long)size[i], (long long)dim);
        total += size[i]; /* at most 256 parts of <= 2^40 each */
    }
    if (total != dim)
        return sk_kfail(ctx, n, SK_ESHAPE, "split sums to %lld but the dim is %lld",
                        (long long)total, (long long)dim);
    return 0;
}

#define SPLIT_MAX_OUT 256

int sk_infer_split(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                   int nout, sk_kctx *ctx)
{
    int64_t size[SPLIT_MAX_OUT];
    int axis, rc;
    if (nin < 1 || nout < 1 || nout > SPLIT_MAX_OUT)
        return sk_kfail(ctx, n, SK_EINVAL, "expects an input and 1..%d outputs", SPLIT_MAX_OUT);
    if ((rc = data_input(n, in[0], ctx)) ||
        (rc = split_sizes(n, in, nin, nout, &axis, size, 1, ctx)))
        return rc;
    for (int i = 0; i < nout; i++) {
        out[i].dtype = in[0]->dtype;
        out[i].shape = in[0]->shape;
        out[i].shape.dim[axis] = size[i];
    }
    return 0;
}

int sk_run_split(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                 int nout, sk_kctx *ctx)
{
    (void)nin;
    const sk_shape *s = &in[0]->shape;
    int axis = sk_ref_axis(sk_attr_int(n, "axis", 0), s->rank);
    if (axis < 0 || nout > SPLIT_MAX_OUT)
        return sk_kfail(ctx, n, SK_EINVAL, "bad axis or output count");
    size_t es = sk_dtype_size(in[0]->dtype);
    int64_t outer = dims_prod(s, 0, axis), inner = dims_prod(s, axis + 1, s->rank);
    const char *src = in[0]->data;
    for (int64_t b = 0; b < outer; b++) {
        for (int i = 0; i < nout; i++) {
            size_t block = (size_t)(out[i].shape.dim[axis] * inner) * es;
            if (block) {
                memcpy((char *)out[i].data + (size_t)b * block, src, block);
                src += block;
            }
        }
    }
    (void)ctx;
    return 0;
}

/* ---- Gather(data, indices) attr axis -------------------------------------- */

int sk_infer_gather(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    int nout, sk_kctx *ctx)
{
    if (nin < 2 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects data and indices");
    int rc = data_input(n, in[0], ctx);
    if (rc || (rc = data_input(n, in[1], ctx)))
        return rc;
    const sk_shape *ds = &in[0]->shape, *is = &in[1]->shape;
    if (!sk_ref_is_index_type(in[1]->dtype))
        return sk_kfail(ctx, n, SK_EINVAL, "indices must be int32 or int64, not %s",
                        sk_dtype_name(in[1]->dtype));
    int64_t a = sk_attr_int(n, "axis", 0);
    int axis = sk_ref_axis(a, ds->rank);
    if (axis < 0)
        return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for rank %d",
                        (long long)a, ds->rank);
    int r = ds->rank - 1 + is->rank;
    if (r > SK_MAX_RANK)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "output rank %d is over the limit of %d", r,
                        SK_MAX_RANK);
    sk_shape o = {.rank = r};
    int j = 0;
    for (int d = 0; d < axis; d++)
        o.dim[j++] = ds->dim[d];
    for (int d = 0; d < is->rank; d++)
        o.dim[j++] = is->dim[d];
    for (int d = axis + 1; d < ds->rank; d++)
        o.dim[j++] = ds->dim[d];
    out[0].dtype = in[0]->dtype;
    out[0].shape = o;
    return 0;
}

int sk_run_gather(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    const sk_shape *ds = &in[0]->shape;
    int axis = sk_ref_axis(sk_attr_int(n, "axis", 0), ds->rank);
    size_t es = sk_dtype_size(in[0]->dtype);
    int64_t dim = ds->dim[axis];
    int64_t outer = dims_prod(ds, 0, axis);
    size_t block = (size_t)dims_prod(ds, axis + 1, ds->rank) * es;
    int64_t nidx = sk_shape_numel(&in[1]->shape);
    const char *src = in[0]->data;
    char *o = out[0].data;
    /* Check every index once, before writing anything. */
    for (int64_t i = 0; i < nidx; i++) {
        int64_t k = sk_ref_int_at(in[1], i);
        if (k < -dim || k >= dim)
            return sk_kfail(ctx, n, SK_EINVAL, "index %lld is out of range for a dim of %lld",
                            (long long)k, (long long)dim);
    }
    if (block == 0)
        return 0;
    for (int64_t b = 0; b < outer; b++) {
        const char *base = src + (size_t)(b * dim) * block;
        for (int64_t i = 0; i < nidx; i++) {
            int64_t k = sk_ref_int_at(in[1], i);
            if (k < 0)
                k += dim;
            memcpy(o, base + (size_t)k * block, block);
            o += block;
        }
    }
    return 0;
}

/* ---- Slice(data, starts, ends, axes?, steps?) ------------------------------ */

/* Per-dim first element, step and count of the slice of `s`. */
static int slice_params(const sk_node *n, const sk_tensor *const *in, int nin, int64_t *start,
                        int64_t *step, sk_shape *o, int infer, sk_kctx *ctx)
{
    const sk_shape *s = &in[0]->shape;
    const char *names[4] = {"starts", "ends", "axes", "steps"};
    int64_t v[4][SK_MAX_RANK];
    int cnt[4] = {0, 0, -1, -1};
    if (nin < 3 || !in[1] || !in[2])
        return sk_kfail(ctx, n, SK_EINVAL, "expects data, starts and ends");
    for (int i = 0; i < 4; i++) {
        const sk_tensor *t = sk_ref_opt(in, nin, i + 1);
        if (!t)
            continue;
        if (infer) {
            int rc = need_value(n, t, names[i], ctx);
            if (rc)
                return rc;
        }
        cnt[i] = sk_ref_read_ints(n, t, names[i], v[i], SK_MAX_RANK, ctx);
        if (cnt[i] < 0)
            return cnt[i];
    }
    int k = cnt[0];
    for (int i = 1; i < 4; i++)
        if (cnt[i] >= 0 && cnt[i] != k)
            return sk_kfail(ctx, n, SK_EINVAL, "%s has %d values but starts has %d", names[i],
                            cnt[i], k);
    *o = *s;
    for (int d = 0; d < s->rank; d++) {
        start[d] = 0;
        step[d] = 1;
    }
    int seen[SK_MAX_RANK] = {0};
    for (int i = 0; i < k; i++) {
        int64_t a = cnt[2] >= 0 ? v[2][i] : i;
        int axis = sk_ref_axis(a, s->rank);
        if (axis < 0)
            return sk_kfail(ctx, n, SK_EINVAL, "axis %lld is out of range for rank %d",
                            (long long)a, s->rank);
        if (seen[axis])
            return sk_kfail(ctx, n, SK_EINVAL, "axis %d is repeated", axis);
        seen[axis] = 1;
        int64_t st = cnt[3] >= 0 ? v[3][i] : 1, dim = s->dim[axis];
        int64_t b = v[0][i], e = v[1][i];
        if (st == 0)
            return sk_kfail(ctx, n, SK_EINVAL, "step on axis %d is 0", axis);
        /* Negative positions count from the end; INT64_MIN/MAX stand for
         * "from the very start/end" and clamp like any out-of-range value. */
        if (b < 0)
            b += dim;
        if (e < 0)
            e += dim;
        int64_t len;
        /* ceil(span / |step|) written as (span - 1) / |step| + 1, so a step
         * of INT64_MAX or INT64_MIN cannot overflow */
        if (st > 0) {
            b = b < 0 ? 0 : b > dim ? dim : b;
            e = e < 0 ? 0 : e > dim ? dim : e;
            len = e > b ? (e - b - 1) / st + 1 : 0;
        } else {
            b = b < 0 ? 0 : b > dim - 1 ? dim - 1 : b;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            len = b > e ? (st < -dim ? 1 : (b - e - 1) / -st + 1) : 0;
        }
        start[axis] = len > 0 ? b : 0;
        /* with one element the step is never taken: keep the stride small */
        step[axis] = len > 1 ? st : 1;
        o->dim[axis] = len;
    }
    return 0;
}

int sk_infer_slice(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                   int nout, sk_kctx *ctx)
{
    if (nin < 1 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects data, starts and ends");
    int64_t start[SK_MAX_RANK], step[SK_MAX_RANK];
    int rc = data_input(n, in[0], ctx);
    if (rc || (rc = slice_params(n, in, nin, start, step, &out[0].shape, 1, ctx)))
        return rc;
    out[0].dtype = in[0]->dtype;
    return 0;
}

int sk_run_slice(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                 int nout, sk_kctx *ctx)
{
    (void)nout;
    const sk_shape *s = &in[0]->shape;
    int64_t start[SK_MAX_RANK], step[SK_MAX_RANK], stride[SK_MAX_RANK];
    sk_shape o;
    int rc = slice_params(n, in, nin, start, step, &o, 0, ctx);
    if (rc)
        return rc;
    if (sk_shape_numel(&o) == 0)
        return 0;
    size_t es = sk_dtype_size(in[0]->dtype);
    int64_t st = 1, first = 0;
    for (int d = s->rank - 1; d >= 0; d--) {
        first += start[d] * st;
        stride[d] = step[d] * st;
        st *= s->dim[d];
    }
    sk_strided_copy(out[0].data, (const char *)in[0]->data + (size_t)first * es, es, s->rank,
                    o.dim, stride);
    return 0;
}
