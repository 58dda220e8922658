/* ref_util.h — small helpers shared by the element-wise, shape and reduce
 * reference kernels (unary.c, binary.c, shape*.c, reduce.c). */
#ifndef SK_REF_UTIL_H
#define SK_REF_UTIL_H

#include <stdint.h>
#include <string.h>

#include "graph.h"
#include "ops.h"
#include "sk.h"

/* Optional input i, or NULL when omitted. */
static inline const sk_tensor *sk_ref_opt(const sk_tensor *const *in, int nin, int i)
{
    return i < nin ? in[i] : NULL;
}

/* 1 when t's values are available at infer time (an empty tensor always is). */
static inline int sk_ref_known(const sk_tensor *t)
{
    return t && (t->data != NULL || sk_shape_numel(&t->shape) == 0);
}

/* double -> int64 as Cast and integer Pow define it: truncation toward
 * zero, NaN -> 0, out-of-range values saturated to the int64 range. */
static inline int64_t sk_ref_d2i(double v)
{
    if (v != v)
        return 0;
    if (v >= 9.2233720368547758e18)
        return INT64_MAX;
    if (v <= -9.2233720368547758e18)
        return INT64_MIN;
    return (int64_t)v;
}

static inline int sk_ref_is_index_type(sk_dtype t) { return t == SK_I64 || t == SK_I32; }

static inline int64_t sk_ref_int_at(const sk_tensor *t, int64_t i)
{
    if (t->dtype == SK_I32)
        return ((const int32_t *)t->data)[i];
    return ((const int64_t *)t->data)[i];
}

/* Read a 0-D or 1-D int32/int64 tensor of at most `max` values into v.
 * Returns the count or a negative code (message through sk_kfail). */
static inline int sk_ref_read_ints(const sk_node *n, const sk_tensor *t, const char *what,
                                   int64_t *v, int max, sk_kctx *ctx)
{
    if (!sk_ref_is_index_type(t->dtype))
        return sk_kfail(ctx, n, SK_EINVAL, "%s must be int32 or int64, not %s", what,
                        sk_dtype_name(t->dtype));
    if (t->shape.rank > 1)
        return sk_kfail(ctx, n, SK_ESHAPE, "%s must be 1-D, got rank %d", what,
                        t->shape.rank);
    int64_t cnt = sk_shape_numel(&t->shape);
    if (cnt < 0 || cnt > max)
        return sk_kfail(ctx, n, SK_ESHAPE, "%s has %lld values, at most %d allowed", what,
                        (long long)cnt, max);
    for (int64_t i = 0; i < cnt; i++)
        v[i] = sk_ref_int_at(t, i);
    return (int)cnt;
}

/* Axis in [-rank, rank) -> [0, rank), or -1 when out of range. */
static inline int sk_ref_axis(int64_t axis, int rank)
{
    if (axis < -rank || axis >= rank)
        return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

/* Copy for ops whose output bytes equal the input's (Reshape, Identity...);
 * safe when the planner made the output alias the input. */
static inline void sk_ref_copy(sk_tensor *out, const sk_tensor *in)
{
    size_t bytes = sk_tensor_bytes(out);
    if (bytes && out->data != in->data)
        memmove(out->data, in->data, bytes);
}

#endif
