/* unary.c — reference kernels of the one-input element-wise ops (Relu ...
 * Reciprocal) and Clip. Every op has a float32 and a float64 loop; Relu, Neg
 * and Abs also take the signed integer types. Work is split over the pool in
 * contiguous chunks. */
#include <float.h>
#include <math.h>
#include <stdint.h>

#include "graph.h"
#include "ops.h"
#include "ref_util.h"
#include "threadpool.h"

#define UNARY_GRAIN 16384

typedef struct {
    float alpha, beta, gamma;
} uparam;

typedef void (*urow_fn)(const void *x, void *y, int64_t n, const uparam *p);

/* One row loop per (op, type). EXPR reads x (of type T) and p; constants are
 * cast to T on store; the float32 bodies use the f-suffixed math functions
 * so float32 stays float32 throughout. */
#define UROW(name, T, EXPR)                                                  \
    static void name(const void *px, void *py, int64_t n, const uparam *p)      \
    {                                                                           \
        const T *xs = px;                                                       \
        T *ys = py;                                                             \
        (void)p;                                                                \
        for (int64_t i = 0; i < n; i++) {                                       \
            const T x = xs[i];                                                  \
            ys[i] = (T)(EXPR);                                                  \
        }                                                                       \
    }

#define UFLOAT(op, EXPR_F, EXPR_D)        \
    UROW(op##_f32, float, EXPR_F)         \
    UROW(op##_f64, double, EXPR_D)

/* The float and double bodies are spelled out: C11 has no generic way to
 * pick expf vs exp from inside a macro argument. */
UFLOAT(relu, x > 0 ? x : 0.0f, x > 0 ? x : 0.0)
UFLOAT(leaky_relu, x >= 0 ? x : p->alpha * x, x >= 0 ? x : (double)p->alpha * x)
UFLOAT(sigmoid, x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)),
       x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)))
UFLOAT(hard_sigmoid, fmaxf(0.0f, fminf(1.0f, p->alpha * x + p->beta)),
       fmax(0.0, fmin(1.0, (double)p->alpha * x + (double)p->beta)))
UFLOAT(hard_swish, x * fmaxf(0.0f, fminf(1.0f, x * (1.0f / 6.0f) + 0.5f)),
       x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5)))
UFLOAT(tanh, tanhf(x), tanh(x))
UFLOAT(elu, x >= 0 ? x : p->alpha * expm1f(x), x >= 0 ? x : (double)p->alpha * expm1(x))
UFLOAT(selu, p->gamma * (x > 0 ? x : p->alpha * expm1f(x)),
       (double)p->gamma * (x > 0 ? x : (double)p->alpha * expm1(x)))
/* log(1 + e^x) without overflow for large x */
UFLOAT(softplus, fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))),
       fmax(x, 0.0) + log1p(exp(-fabs(x))))
UFLOAT(erf, erff(x), erf(x))
UFLOAT(exp, expf(x), exp(x))
UFLOAT(log, logf(x), log(x))
UFLOAT(sqrt, sqrtf(x), sqrt(x))
UFLOAT(neg, -x, -x)
UFLOAT(abs, fabsf(x), fabs(x))
UFLOAT(reciprocal, 1.0f / x, 1.0 / x)

/* Integer variants (wrap-around like two's complement for INT_MIN). */
#define UINT_ROWS(T, U, sfx)                                  \
    UROW(relu_##sfx, T, x > 0 ? x : 0)                      \
    UROW(neg_##sfx, T, (T)(0u - (U)x))                      \
    UROW(abs_##sfx, T, x < 0 ? (T)(0u - (U)x) : x)
UINT_ROWS(int8_t, uint8_t, i8)
UINT_ROWS(int32_t, uint32_t, i32)
UINT_ROWS(int64_t, uint64_t, i64)

typedef struct {
    sk_op op;
    urow_fn f32, f64, i8, i32, i64;
} unary_entry;

static const unary_entry unary_table[] = {
    {SK_OP_RELU, relu_f32, relu_f64, relu_i8, relu_i32, relu_i64},
    {SK_OP_LEAKY_RELU, leaky_relu_f32, leaky_relu_f64, 0, 0, 0},
    {SK_OP_SIGMOID, sigmoid_f32, sigmoid_f64, 0, 0, 0},
    {SK_OP_HARD_SIGMOID, hard_sigmoid_f32, hard_sigmoid_f64, 0, 0, 0},
    {SK_OP_HARD_SWISH, hard_swish_f32, hard_swish_f64, 0, 0, 0},
    {SK_OP_TANH, tanh_f32, tanh_f64, 0, 0, 0},
    {SK_OP_ELU, elu_f32, elu_f64, 0, 0, 0},
    {SK_OP_SELU, selu_f32, selu_f64, 0, 0, 0},
    {SK_OP_SOFTPLUS, softplus_f32, softplus_f64, 0, 0, 0},
    {SK_OP_ERF, erf_f32, erf_f64, 0, 0, 0},
    {SK_OP_EXP, exp_f32, exp_f64, 0, 0, 0},
    {SK_OP_LOG, log_f32, log_f64, 0, 0, 0},
    {SK_OP_SQRT, sqrt_f32, sqrt_f64, 0, 0, 0},
    {SK_OP_NEG, neg_f32, neg_f64, neg_i8, neg_i32, neg_i64},
    {SK_OP_ABS, abs_f32, abs_f64, abs_i8, abs_i32, abs_i64},
    {SK_OP_RECIPROCAL, reciprocal_f32, reciprocal_f64, 0, 0, 0},
};

static urow_fn unary_fn(sk_op op, sk_dtype t)
{
    for (size_t i = 0; i < sizeof unary_table / sizeof unary_table[0]; i++) {
        const unary_entry *e = &unary_table[i];
        if (e->op != op)
            continue;
        switch (t) {
        case SK_F32: return e->f32;
        case SK_F64: return e->f64;
        case SK_I8: return e->i8;
        case SK_I32: return e->i32;
        case SK_I64: return e->i64;
        default: return NULL;
        }
    }
    return NULL;
}

static uparam unary_params(const sk_node *n)
{
    uparam p = {0, 0, 0};
    switch (n->op) {
    case SK_OP_LEAKY_RELU: p.alpha = sk_attr_float(n, "alpha", 0.01f); break;
    case SK_OP_HARD_SIGMOID:
        p.alpha = sk_attr_float(n, "alpha", 0.2f);
        p.beta = sk_attr_float(n, "beta", 0.5f);
        break;
    case SK_OP_ELU: p.alpha = sk_attr_float(n, "alpha", 1.0f); break;
    case SK_OP_SELU:
        p.alpha = sk_attr_float(n, "alpha", 1.67326319217681884765625f);
        p.gamma = sk_attr_float(n, "gamma", 1.05070102214813232421875f);
        break;
    default: break;
    }
    return p;
}

static int unary_infer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects 1 input and 1 output");
    if (!unary_fn(n->op, in[0]->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    out[0].dtype = in[0]->dtype;
    out[0].shape = in[0]->shape;
    return 0;
}

typedef struct {
    urow_fn fn;
    uparam p;
    const char *x;
    char *y;
    size_t esize;
} unary_job;

static void unary_range(void *arg, size_t begin, size_t end)
{
    const unary_job *j = arg;
    j->fn(j->x + begin * j->esize, j->y + begin * j->esize, (int64_t)(end - begin), &j->p);
}

static int unary_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    unary_job j = {unary_fn(n->op, in[0]->dtype), unary_params(n), in[0]->data, out[0].data,
                   sk_dtype_size(in[0]->dtype)};
    if (!j.fn)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    int64_t cnt = sk_shape_numel(&out[0].shape);
    if (cnt > 0)
        sk_parallel_for(ctx->pool, (size_t)cnt, UNARY_GRAIN, unary_range, &j);
    return 0;
}

#define UNARY_ENTRY(fn)                                                                  \
    int sk_infer_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out, \
                      int nout, sk_kctx *ctx)                                            \
    {                                                                                    \
        return unary_infer(n, in, nin, out, nout, ctx);                                  \
    }                                                                                    \
    int sk_run_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,   \
                    int nout, sk_kctx *ctx)                                              \
    {                                                                                    \
        return unary_run(n, in, nin, out, nout, ctx);                                    \
    }

UNARY_ENTRY(relu)
UNARY_ENTRY(leaky_relu)
UNARY_ENTRY(sigmoid)
UNARY_ENTRY(hard_sigmoid)
UNARY_ENTRY(hard_swish)
UNARY_ENTRY(tanh)
UNARY_ENTRY(elu)
UNARY_ENTRY(selu)
UNARY_ENTRY(softplus)
UNARY_ENTRY(erf)
UNARY_ENTRY(exp)
UNARY_ENTRY(log)
UNARY_ENTRY(sqrt)
UNARY_ENTRY(neg)
UNARY_ENTRY(abs)
UNARY_ENTRY(reciprocal)

/* ---- Clip(X, min?, max?) ------------------------------------------------- */

static int clip_type_ok(sk_dtype t)
{
    return t == SK_F32 || t == SK_F64 || t == SK_I8 || t == SK_U8 || t == SK_I32 ||
           t == SK_I64;
}

int sk_infer_clip(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects an input X");
    if (!clip_type_ok(in[0]->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    for (int i = 1; i < nin && i < 3; i++) {
        const sk_tensor *b = in[i];
        if (!b)
            continue;
        if (b->dtype != in[0]->dtype)
            return sk_kfail(ctx, n, SK_EINVAL, "%s is %s but X is %s", i == 1 ? "min" : "max",
                            sk_dtype_name(b->dtype), sk_dtype_name(in[0]->dtype));
        if (sk_shape_numel(&b->shape) != 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "%s must hold one value",
                            i == 1 ? "min" : "max");
    }
    out[0].dtype = in[0]->dtype;
    out[0].shape = in[0]->shape;
    return 0;
}

/* min(max(x, lo), hi): lo > hi gives hi everywhere, as numpy.clip; NaN stays
 * NaN because both comparisons are false for it. */
#define CLIP_LOOP(T, LO_DEFAULT, HI_DEFAULT)                                 \
    do {                                                                     \
        const T *x = in[0]->data;                                            \
        T *y = out[0].data;                                                  \
        T lo = lo_t ? *(const T *)lo_t->data : (LO_DEFAULT);                 \
        T hi = hi_t ? *(const T *)hi_t->data : (HI_DEFAULT);                 \
        for (int64_t i = 0; i < cnt; i++) {                                  \
            T v = x[i] < lo ? lo : x[i];                                     \
            y[i] = v > hi ? hi : v;                                          \
        }                                                                    \
    } while (0)

int sk_run_clip(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                int nout, sk_kctx *ctx)
{
    (void)nout;
    const sk_tensor *lo_t = sk_ref_opt(in, nin, 1), *hi_t = sk_ref_opt(in, nin, 2);
    int64_t cnt = sk_shape_numel(&out[0].shape);
    switch (in[0]->dtype) {
    case SK_F32: CLIP_LOOP(float, -INFINITY, INFINITY); break;
    case SK_F64: CLIP_LOOP(double, -INFINITY, INFINITY); break;
    case SK_I8: CLIP_LOOP(int8_t, INT8_MIN, INT8_MAX); break;
    case SK_U8: CLIP_LOOP(uint8_t, 0, UINT8_MAX); break;
    case SK_I32: CLIP_LOOP(int32_t, INT32_MIN, INT32_MAX); break;
    case SK_I64: CLIP_LOOP(int64_t, INT64_MIN, INT64_MAX); break;
    default:
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    }
    return 0;
}
