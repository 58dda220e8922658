/* nn_util.h — helpers shared by the NN reference kernels: dtype checks,
 * overflow-safe size products and the window geometry (kernel, strides,
 * dilations, pads, auto_pad) of Conv, ConvTranspose and the pools.
 *
 * Geometry is normalized to three spatial axes (D, H, W): a 1-D or 2-D op
 * gets leading axes of size 1, so one loop nest serves every rank. */
#ifndef SK_NN_UTIL_H
#define SK_NN_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "ops.h"
#include "sk.h"

#define SK_NN_SP 3 /* spatial axes after normalization */

/* Scratch bytes the NN reference kernel for node n needs with these
 * (inferred) shapes and `nthreads` workers; 0 for none or for shapes the
 * kernel rejects (its run then reports why). A dispatcher that reserves this
 * much in sk_kctx.scratch keeps reference runs free of malloc; with less, the
 * kernels fall back to the heap. */
#define SK_REF_SCRATCH_ARGS                                                                \
    const sk_node *n, const sk_tensor *const *in, int nin, const sk_tensor *out, int nout, \
        int nthreads
size_t sk_ref_scratch_conv(SK_REF_SCRATCH_ARGS);
size_t sk_ref_scratch_conv_transpose(SK_REF_SCRATCH_ARGS);
size_t sk_ref_scratch_gemm(SK_REF_SCRATCH_ARGS);
size_t sk_ref_scratch_layer_norm(SK_REF_SCRATCH_ARGS);
size_t sk_ref_scratch_resize(SK_REF_SCRATCH_ARGS);
size_t sk_ref_scratch_pad(SK_REF_SCRATCH_ARGS);
size_t sk_ref_scratch_qlinear_conv(SK_REF_SCRATCH_ARGS);
size_t sk_ref_scratch_qlinear_matmul(SK_REF_SCRATCH_ARGS);
size_t sk_ref_scratch_qlinear_ms(SK_REF_SCRATCH_ARGS);

/* The reference kernel's scratch for node n: its ops.h row's column. */
static inline size_t sk_ref_nn_scratch(SK_REF_SCRATCH_ARGS)
{
    const sk_op_info *info = sk_op_get(n->op);
    return info && info->scratch ? info->scratch(n, in, nin, out, nout, nthreads) : 0;
}

/* `bytes` of scratch for one run: the step scratch when it is large enough,
 * else a heap block, also stored in *heap for the caller to free(). */
static inline void *sk_nn_scratch(const sk_kctx *ctx, size_t bytes, void **heap)
{
    *heap = NULL;
    if (ctx->scratch && ctx->scratch_bytes >= bytes)
        return ctx->scratch;
    return *heap = malloc(bytes ? bytes : 1);
}

/* A context that swallows messages, for scratch-size queries. */
static inline sk_kctx sk_nn_quiet_ctx(void)
{
    sk_kctx c;
    memset(&c, 0, sizeof c);
    return c;
}

/* Round a scratch offset up so every carved array stays 64-byte aligned. */
static inline size_t sk_nn_align(size_t b)
{
    return (b + 63) & ~(size_t)63;
}

static inline int sk_nn_need_f32(const sk_node *n, sk_kctx *ctx, const sk_tensor *t,
                                 const char *what)
{
    if (t->dtype != SK_F32)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "%s is %s; only float32 is supported", what,
                        sk_dtype_name(t->dtype));
    return 0;
}

/* Operands of Conv and ConvTranspose: X, W (and B) present and float32,
 * X and W of one rank >= 3; `wlayout` names W's dims in the message
 * ("M,C/group" or "C,M/group"). */
static inline int sk_nn_conv_operands(const sk_node *n, const sk_tensor *const *in, int nin,
                                      int nout, sk_kctx *ctx, const char *wlayout)
{
    int rc;
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs inputs X and W and one output");
    const sk_tensor *X = in[0], *W = in[1], *B = nin > 2 ? in[2] : NULL;
    if ((rc = sk_nn_need_f32(n, ctx, X, "X")) || (rc = sk_nn_need_f32(n, ctx, W, "W")) ||
        (B && (rc = sk_nn_need_f32(n, ctx, B, "B"))))
        return rc;
    char s1[96], s2[96];
    if (X->shape.rank < 3 || W->shape.rank != X->shape.rank)
        return sk_kfail(ctx, n, SK_ESHAPE,
                        "X %s and W %s must be (N,C,spatial...) and (%s,kernel...) of the same "
                        "rank >= 3",
                        sk_shape_str(&X->shape, s1, sizeof s1),
                        sk_shape_str(&W->shape, s2, sizeof s2), wlayout);
    return 0;
}

/* *r = a * b when both are >= 0 and the product stays within SK_MAX_NUMEL. */
static inline int sk_nn_mul(int64_t a, int64_t b, int64_t *r)
{
    if (a < 0 || b < 0)
        return 0;
    if (a != 0 && b > SK_MAX_NUMEL / a)
        return 0;
    *r = a * b;
    return 1;
}

/* Python-style floor division (b > 0), for pads that may be negative. */
static inline int64_t sk_nn_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static inline int64_t sk_nn_ceildiv(int64_t a, int64_t b)
{
    return -sk_nn_floordiv(-a, b);
}

/* Normalize a possibly negative axis against rank; -1 when out of range. */
static inline int sk_nn_axis(int64_t axis, int rank)
{
    if (axis < -rank || axis >= rank)
        return -1;
    return (int)(axis < 0 ? axis + rank : axis);
}

typedef enum { SK_PAD_NOTSET, SK_PAD_SAME_UPPER, SK_PAD_SAME_LOWER, SK_PAD_VALID } sk_autopad;

static inline int sk_nn_autopad(const sk_node *n, sk_kctx *ctx, sk_autopad *ap)
{
    const char *s = sk_attr_str(n, "auto_pad", "NOTSET");
    if (!strcmp(s, "NOTSET") || !s[0])
        *ap = SK_PAD_NOTSET;
    else if (!strcmp(s, "SAME_UPPER"))
        *ap = SK_PAD_SAME_UPPER;
    else if (!strcmp(s, "SAME_LOWER"))
        *ap = SK_PAD_SAME_LOWER;
    else if (!strcmp(s, "VALID"))
        *ap = SK_PAD_VALID;
    else
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "auto_pad '%s' is not one of NOTSET, "
                        "SAME_UPPER, SAME_LOWER, VALID", s);
    return 0;
}

/* Window geometry along the normalized axes. */
typedef struct sk_win {
    int nsp; /* spatial axes of the real tensor, 1..3 */
    int64_t in[SK_NN_SP], out[SK_NN_SP], k[SK_NN_SP];
    int64_t stride[SK_NN_SP], dil[SK_NN_SP];
    int64_t pb[SK_NN_SP], pe[SK_NN_SP]; /* pads at the begin / end of each axis */
} sk_win;

static inline int64_t sk_win_in_size(const sk_win *w)
{
    return w->in[0] * w->in[1] * w->in[2];
}
static inline int64_t sk_win_out_size(const sk_win *w)
{
    return w->out[0] * w->out[1] * w->out[2];
}
static inline int64_t sk_win_k_size(const sk_win *w)
{
    return w->k[0] * w->k[1] * w->k[2];
}

/* Reads an ints attribute of exactly `len` entries into v (or fills `def`).
 * Entries must be >= lo. */
static inline int sk_nn_ints(const sk_node *n, sk_kctx *ctx, const char *name, int len,
                             int64_t def, int64_t lo, int64_t *v)
{
    const int64_t *a;
    int na = sk_attr_ints(n, name, &a);
    if (na < 0 || (na == 0 && len > 0)) {
        for (int i = 0; i < len; i++)
            v[i] = def;
        return 0;
    }
    if (na != len)
        return sk_kfail(ctx, n, SK_ESHAPE, "attribute %s has %d values, expected %d", name, na,
                        len);
    for (int i = 0; i < len; i++) {
        if (a[i] < lo)
            return sk_kfail(ctx, n, SK_EINVAL, "attribute %s[%d] = %lld is below %lld", name, i,
                            (long long)a[i], (long long)lo);
        v[i] = a[i];
    }
    return 0;
}

/* Geometry of a Conv or pooling window over x (N, C, spatial...), with the
 * kernel's spatial extent `kernel` (nsp values). ceil_mode is for pools. */
static inline int sk_win_resolve(const sk_node *n, sk_kctx *ctx, const sk_shape *x,
                                 const int64_t *kernel, int ceil_mode, sk_win *w)
{
    int nsp = x->rank - 2;
    if (nsp < 1 || nsp > SK_NN_SP)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "input has rank %d; only 1-D, 2-D and 3-D windows are supported",
                        x->rank);
    int64_t st[SK_NN_SP], dl[SK_NN_SP], pads[2 * SK_NN_SP];
    int rc;
    if ((rc = sk_nn_ints(n, ctx, "strides", nsp, 1, 1, st)) ||
        (rc = sk_nn_ints(n, ctx, "dilations", nsp, 1, 1, dl)) ||
        (rc = sk_nn_ints(n, ctx, "pads", 2 * nsp, 0, 0, pads)))
        return rc;
    sk_autopad ap = SK_PAD_NOTSET;
    if ((rc = sk_nn_autopad(n, ctx, &ap)))
        return rc;
    memset(w, 0, sizeof(*w));
    w->nsp = nsp;
    for (int a = 0; a < SK_NN_SP; a++) {
        w->in[a] = w->out[a] = w->k[a] = w->stride[a] = w->dil[a] = 1;
    }
    for (int i = 0; i < nsp; i++) {
        int a = SK_NN_SP - nsp + i;
        int64_t in = x->dim[2 + i], k = kernel[i];
        if (in < 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "input spatial dim %d is %lld", i, (long long)in);
        if (k < 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "kernel dim %d is %lld", i, (long long)k);
        if (k > SK_MAX_NUMEL || dl[i] > SK_MAX_NUMEL / k || st[i] > SK_MAX_NUMEL ||
            pads[i] > SK_MAX_NUMEL || pads[nsp + i] > SK_MAX_NUMEL)
            return sk_kfail(ctx, n, SK_ESHAPE, "window along spatial dim %d is absurdly large",
                            i);
        int64_t span = dl[i] * (k - 1) + 1, out, pb = 0, pe = 0;
        if (ap == SK_PAD_SAME_UPPER || ap == SK_PAD_SAME_LOWER) {
            out = sk_nn_ceildiv(in, st[i]);
            int64_t total = (out - 1) * st[i] + span - in;
            if (total < 0)
                total = 0;
            pb = ap == SK_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            pe = total - pb;
        } else {
            if (ap == SK_PAD_NOTSET) {
                pb = pads[i];
                pe = pads[nsp + i];
            }
            int64_t room = in + pb + pe - span;
            if (room < 0)
                return sk_kfail(ctx, n, SK_ESHAPE,
                                "window of %lld (kernel %lld, dilation %lld) does not fit the "
                                "padded input %lld along spatial dim %d",
                                (long long)span, (long long)k, (long long)dl[i],
                                (long long)(in + pb + pe), i);
            out = (ceil_mode ? sk_nn_ceildiv(room, st[i]) : room / st[i]) + 1;
            /* A window must start inside the input or the begin padding. */
            if (ceil_mode && (out - 1) * st[i] >= in + pb)
                out--;
        }
        w->in[a] = in;
        w->out[a] = out;
        w->k[a] = k;
        w->stride[a] = st[i];
        w->dil[a] = dl[i];
        w->pb[a] = pb;
        w->pe[a] = pe;
    }
    return 0;
}

#endif
