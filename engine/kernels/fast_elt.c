/* fast_elt.c — drivers of the fast element-wise and row kernels:
 * Add/Sub/Mul/Div, Relu/Clip/Sigmoid/Tanh/Erf, Softmax/LogSoftmax,
 * LayerNormalization, GlobalAveragePool/GlobalMaxPool (float32).
 *
 * Why fast: the loops are the vector microkernels of sk_fast_uk (several
 * independent vector chains, masked tails, polynomial exp/erf/tanh instead
 * of a libm call per element, float instead of the reference's double
 * accumulation), and every op splits its rows or elements over the pool;
 * the reference Softmax / LayerNorm / global pools run on one thread and
 * Softmax calls exp() twice per element. */
#include <math.h>
#include <string.h>

#include "broadcast.h"
#include "kernels/fast_ops.h"
#include "kernels/ref/nn_util.h"
#include "threadpool.h"

#define ELT_GRAIN 16384 /* floats per task for streaming ops */
#define MATH_GRAIN 4096 /* for the polynomial ones, ~5x the work each */

static int all_f32(const sk_tensor *const *in, int nin, int need)
{
    if (nin < need)
        return 0;
    for (int i = 0; i < need; i++)
        if (!in[i] || in[i]->dtype != SK_F32 || sk_shape_numel(&in[i]->shape) < 0)
            return 0;
    return 1;
}

/* Rows of `len` floats per task so a task holds about `grain` floats. */
static size_t row_grain(int64_t len, size_t grain)
{
    return len > 0 && (size_t)len < grain ? grain / (size_t)len : 1;
}

/* ---- Add / Sub / Mul / Div ------------------------------------------------ */

static sk_fast_vbin_fn bin_fn(const sk_fast_uk *uk, sk_op op)
{
    switch (op) {
    case SK_OP_ADD: return uk->vadd;
    case SK_OP_SUB: return uk->vsub;
    case SK_OP_MUL: return uk->vmul;
    case SK_OP_DIV: return uk->vdiv;
    default: return NULL;
    }
}

int sk_fast_plan_binary(const sk_kconfig *kc, const sk_node *n,
                        const sk_tensor *const *in, int nin, const sk_tensor *out,
                        int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)nthreads;
    *scratch = 0;
    if (nin != 2 || nout < 1 || !all_f32(in, nin, 2) || out[0].dtype != SK_F32 ||
        (n->op != SK_OP_ADD && n->op != SK_OP_SUB && n->op != SK_OP_MUL && n->op != SK_OP_DIV))
        return 0;
    const sk_shape *shapes[2] = {&in[0]->shape, &in[1]->shape};
    sk_bcast bc;
    return sk_bcast_init(&bc, &out[0].shape, shapes, 2) == 0;
}

typedef struct bin_job {
    sk_fast_vbin_fn fn;
    const float *a, *b;
    float *o;
    int ia, ib;
} bin_job;

static void bin_runs(void *arg, int64_t n, int64_t off, const int64_t *in_off)
{
    const bin_job *j = arg;
    j->fn((size_t)n, j->a + in_off[0], j->ia, j->b + in_off[1], j->ib, j->o + off);
}

int sk_fast_run_binary(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    size_t unused;
    const sk_fast_uk *uk = sk_fast_uk_of(ctx);
    if (!uk || !sk_fast_plan_binary(ctx->kcfg, n, in, nin, out, nout, 1, &unused))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    const sk_shape *shapes[2] = {&in[0]->shape, &in[1]->shape};
    sk_bcast bc;
    sk_bcast_init(&bc, &out[0].shape, shapes, 2);
    bin_job j = {bin_fn(uk, n->op), in[0]->data, in[1]->data, out[0].data, bc.inc[0], bc.inc[1]};
    sk_bcast_parallel(&bc, ctx->pool, ELT_GRAIN, bin_runs, &j);
    return 0;
}

/* ---- Relu / Clip / Sigmoid / Tanh / Erf ----------------------------------- */

int sk_fast_plan_unary(const sk_kconfig *kc, const sk_node *n,
                       const sk_tensor *const *in, int nin, const sk_tensor *out,
                       int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)nthreads;
    *scratch = 0;
    if (nin < 1 || nout < 1 || !all_f32(in, 1, 1) || out[0].dtype != SK_F32)
        return 0;
    if (n->op == SK_OP_CLIP) /* bounds: absent, or one float known now */
        for (int i = 1; i < nin && i < 3; i++)
            if (in[i] && (in[i]->dtype != SK_F32 || sk_shape_numel(&in[i]->shape) != 1))
                return 0;
    return n->op == SK_OP_RELU || n->op == SK_OP_CLIP || n->op == SK_OP_SIGMOID ||
           n->op == SK_OP_TANH || n->op == SK_OP_ERF;
}

typedef struct unary_job {
    const sk_fast_uk *uk;
    sk_op op;
    const float *x;
    float *y;
    float lo, hi;
} unary_job;

static void unary_range(void *arg, size_t b, size_t e)
{
    const unary_job *j = arg;
    const float *x = j->x + b;
    float *y = j->y + b;
    size_t n = e - b;
    switch (j->op) {
    case SK_OP_RELU: j->uk->vrelu(n, x, y); break;
    case SK_OP_CLIP: j->uk->vclamp(n, x, y, j->lo, j->hi); break;
    case SK_OP_SIGMOID: j->uk->vsigmoid(n, x, y); break;
    case SK_OP_TANH: j->uk->vtanh(n, x, y); break;
    default: j->uk->verf(n, x, y); break;
    }
}

int sk_fast_run_unary(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    size_t unused;
    const sk_fast_uk *uk = sk_fast_uk_of(ctx);
    if (!uk || !sk_fast_plan_unary(ctx->kcfg, n, in, nin, out, nout, 1, &unused) ||
        (n->op == SK_OP_CLIP && ((nin > 1 && in[1] && !in[1]->data) ||
                                 (nin > 2 && in[2] && !in[2]->data))))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    unary_job j = {uk, n->op, in[0]->data, out[0].data, -INFINITY, INFINITY};
    if (n->op == SK_OP_CLIP) {
        if (nin > 1 && in[1])
            j.lo = *(const float *)in[1]->data;
        if (nin > 2 && in[2])
            j.hi = *(const float *)in[2]->data;
    }
    int64_t cnt = sk_shape_numel(&out[0].shape);
    size_t grain = n->op == SK_OP_RELU || n->op == SK_OP_CLIP ? ELT_GRAIN : MATH_GRAIN;
    if (cnt > 0)
        sk_parallel_for(ctx->pool, (size_t)cnt, grain, unary_range, &j);
    return 0;
}

/* ---- Softmax / LogSoftmax over a trailing block --------------------------- */

/* Rows of `len` to reduce, as the reference cuts X: opset >= 13 along
 * `axis` alone, older opsets over everything from `axis` on. Covered when
 * the reduced elements are contiguous (nothing after the axis). */
static int softmax_rows(const sk_node *n, const sk_tensor *x, int64_t *outer, int64_t *len)
{
    const sk_shape *xs = &x->shape;
    int legacy = n->opset > 0 && n->opset < 13;
    int64_t axis = sk_attr_int(n, "axis", legacy ? 1 : -1);
    int rank = xs->rank > 0 ? xs->rank : 1;
    int a = sk_nn_axis(axis, legacy && axis == rank ? rank + 1 : rank);
    if (a < 0 || xs->rank < 1)
        return 0;
    *outer = *len = 1;
    for (int i = 0; i < xs->rank; i++) {
        if (i < a)
            *outer *= xs->dim[i];
        else if (i == a || legacy)
            *len *= xs->dim[i];
        else if (xs->dim[i] != 1)
            return 0;
    }
    return 1;
}

int sk_fast_plan_softmax(const sk_kconfig *kc, const sk_node *n,
                         const sk_tensor *const *in, int nin, const sk_tensor *out,
                         int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)nthreads;
    *scratch = 0;
    int64_t outer, len;
    return nin >= 1 && nout >= 1 && all_f32(in, 1, 1) && out[0].dtype == SK_F32 &&
           softmax_rows(n, in[0], &outer, &len);
}

typedef struct softmax_job {
    const sk_fast_uk *uk;
    const float *x;
    float *y;
    int64_t len;
    int log_form;
} softmax_job;

static void softmax_range(void *arg, size_t b, size_t e)
{
    const softmax_job *j = arg;
    const size_t len = (size_t)j->len;
    for (size_t r = b; r < e; r++) {
        const float *x = j->x + r * len;
        float *y = j->y + r * len;
        float mx = j->uk->rmax(len, x);
        float sum = j->uk->vexpsub_sum(len, x, mx, y);
        if (j->log_form) {
            /* two steps as the reference: (x - max) rounds first */
            j->uk->vaffine(len, x, 1.0f, -mx, y);
            j->uk->vaffine(len, y, 1.0f, -(float)log((double)sum), y);
        } else {
            j->uk->vaffine(len, y, (float)(1.0 / (double)sum), 0.0f, y);
        }
    }
}

int sk_fast_run_softmax(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    int64_t outer, len;
    const sk_fast_uk *uk = sk_fast_uk_of(ctx);
    size_t unused;
    if (!uk || !sk_fast_plan_softmax(ctx->kcfg, n, in, nin, out, nout, 1, &unused) ||
        !softmax_rows(n, in[0], &outer, &len))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    softmax_job j = {uk, in[0]->data, out[0].data, len, n->op == SK_OP_LOG_SOFTMAX};
    if (outer > 0 && len > 0)
        sk_parallel_for(ctx->pool, (size_t)outer, row_grain(len, MATH_GRAIN), softmax_range, &j);
    return 0;
}

/* ---- LayerNormalization ---------------------------------------------------- */

/* p's dims equal X's trailing dims (so it spans X[axis:] with X's layout),
 * any extra leading dims of X[axis:] being 1: then p is one row of gamma /
 * beta as is, with no broadcast to expand. */
static int ln_param_full(const sk_tensor *p, const sk_shape *xs, int axis)
{
    if (p->dtype != SK_F32 || p->shape.rank > xs->rank - axis)
        return 0;
    for (int i = 0; i < xs->rank - axis; i++) {
        int64_t xd = xs->dim[xs->rank - 1 - i];
        int64_t pd = i < p->shape.rank ? p->shape.dim[p->shape.rank - 1 - i] : 1;
        if (pd != xd)
            return 0;
    }
    return 1;
}

static int ln_rows(const sk_node *n, const sk_tensor *const *in, int nin, int64_t *outer,
                   int64_t *inner)
{
    if (nin < 2 || !all_f32(in, 2, 2) || (nin > 2 && in[2] && in[2]->dtype != SK_F32))
        return 0;
    const sk_shape *xs = &in[0]->shape;
    int axis = sk_nn_axis(sk_attr_int(n, "axis", -1), xs->rank);
    if (axis < 0 || !ln_param_full(in[1], xs, axis) ||
        (nin > 2 && in[2] && !ln_param_full(in[2], xs, axis)))
        return 0;
    *outer = *inner = 1;
    for (int i = 0; i < xs->rank; i++)
        *(i < axis ? outer : inner) *= xs->dim[i];
    return 1;
}

int sk_fast_plan_layer_norm(const sk_kconfig *kc, const sk_node *n,
                            const sk_tensor *const *in, int nin, const sk_tensor *out,
                            int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)out;
    (void)nthreads;
    *scratch = 0;
    int64_t o, i;
    return nout >= 1 && nout <= 3 && ln_rows(n, in, nin, &o, &i);
}

typedef struct ln_job {
    const sk_fast_uk *uk;
    const float *x, *gamma, *beta;
    float *y, *mean_out, *inv_out;
    int64_t inner;
    float eps;
} ln_job;

static void ln_range(void *arg, size_t b, size_t e)
{
    const ln_job *j = arg;
    const size_t len = (size_t)j->inner;
    for (size_t r = b; r < e; r++) {
        const float *x = j->x + r * len;
        float mean = (float)((double)j->uk->rsum(len, x) / (double)len);
        double var = (double)j->uk->rsumsqdev(len, x, mean) / (double)len;
        float inv = (float)(1.0 / sqrt(var + (double)j->eps));
        j->uk->vlnorm(len, x, mean, inv, j->gamma, j->beta, j->y + r * len);
        if (j->mean_out)
            j->mean_out[r] = mean;
        if (j->inv_out)
            j->inv_out[r] = inv;
    }
}

int sk_fast_run_layer_norm(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    int64_t outer, inner;
    const sk_fast_uk *uk = sk_fast_uk_of(ctx);
    if (!uk || nout < 1 || nout > 3 || !ln_rows(n, in, nin, &outer, &inner))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    ln_job j = {uk,
                in[0]->data,
                in[1]->data,
                nin > 2 && in[2] ? in[2]->data : NULL,
                out[0].data,
                nout > 1 ? out[1].data : NULL,
                nout > 2 ? out[2].data : NULL,
                inner,
                sk_attr_float(n, "epsilon", 1e-5f)};
    if (outer > 0 && inner > 0)
        sk_parallel_for(ctx->pool, (size_t)outer, row_grain(inner, ELT_GRAIN / 4), ln_range, &j);
    return 0;
}

/* ---- GlobalAveragePool / GlobalMaxPool ------------------------------------- */

static int gp_rows(const sk_tensor *const *in, int nin, int64_t *nc, int64_t *px)
{
    if (nin < 1 || !all_f32(in, 1, 1) || in[0]->shape.rank < 2)
        return 0;
    const sk_shape *xs = &in[0]->shape;
    *nc = xs->dim[0] * xs->dim[1];
    *px = 1;
    for (int i = 2; i < xs->rank; i++)
        *px *= xs->dim[i];
    return 1;
}

int sk_fast_plan_global_pool(const sk_kconfig *kc, const sk_node *n,
                             const sk_tensor *const *in, int nin, const sk_tensor *out,
                             int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)n;
    (void)out;
    (void)nthreads;
    *scratch = 0;
    int64_t nc, px;
    return nout >= 1 && gp_rows(in, nin, &nc, &px);
}

typedef struct gp_job {
    const sk_fast_uk *uk;
    const float *x;
    float *y;
    int64_t px;
    int is_max;
} gp_job;

static void gp_range(void *arg, size_t b, size_t e)
{
    const gp_job *j = arg;
    const size_t px = (size_t)j->px;
    for (size_t c = b; c < e; c++) {
        const float *x = j->x + c * px;
        if (j->is_max)
            j->y[c] = j->uk->rmax(px, x);
        else
            j->y[c] = px ? (float)((double)j->uk->rsum(px, x) / (double)px) : 0.0f;
    }
}

int sk_fast_run_global_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx)
{
    int64_t nc, px;
    const sk_fast_uk *uk = sk_fast_uk_of(ctx);
    if (!uk || nout < 1 || !gp_rows(in, nin, &nc, &px))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    gp_job j = {uk, in[0]->data, out[0].data, px, n->op == SK_OP_GLOBAL_MAX_POOL};
    if (nc > 0)
        sk_parallel_for(ctx->pool, (size_t)nc, row_grain(px, ELT_GRAIN), gp_range, &j);
    return 0;
}
