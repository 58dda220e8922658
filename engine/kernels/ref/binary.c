/* binary.c — reference kernels of the broadcasting element-wise ops: Add,
 * Sub, Mul, Div, Pow, PRelu, the variadic Sum/Max/Min/Mean, Equal and Where.
 *
 * Each (op, dtype) has one row function that handles the four stride cases
 * of a broadcast run (both operands contiguous, either one a repeated scalar,
 * both scalars); sk_bcast (broadcast.h) cuts the output into such runs.
 * Integer arithmetic wraps (computed in the unsigned type) and integer
 * division truncates toward zero as in C, with x / 0 defined as 0 so a bad
 * input cannot crash the server. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "broadcast.h"
#include "graph.h"
#include "ops.h"
#include "ref_util.h"

#define BIN_GRAIN 16384

/* n output elements; a and b advance by ia / ib (0 or 1). */
typedef void (*brow_fn)(int64_t n, const void *a, int ia, const void *b, int ib, void *o);

#define BROW(name, TA, TB, TO, EXPR)                                                    \
    static void name(int64_t n, const void *pa, int ia, const void *pb, int ib, void *po) \
    {                                                                                   \
        const TA *a = pa;                                                               \
        const TB *b = pb;                                                               \
        TO *o = po;                                                                     \
        if (ia && ib) {                                                                 \
            for (int64_t k = 0; k < n; k++) {                                           \
                const TA x = a[k];                                                      \
                const TB y = b[k];                                                      \
                o[k] = (TO)(EXPR);                                                      \
            }                                                                           \
        } else if (ia) {                                                                \
            const TB y = b[0];                                                          \
            for (int64_t k = 0; k < n; k++) {                                           \
                const TA x = a[k];                                                      \
                o[k] = (TO)(EXPR);                                                      \
            }                                                                           \
        } else if (ib) {                                                                \
            const TA x = a[0];                                                          \
            for (int64_t k = 0; k < n; k++) {                                           \
                const TB y = b[k];                                                      \
                o[k] = (TO)(EXPR);                                                      \
            }                                                                           \
        } else {                                                                        \
            const TA x = a[0];                                                          \
            const TB y = b[0];                                                          \
            const TO v = (TO)(EXPR);                                                    \
            for (int64_t k = 0; k < n; k++)                                             \
                o[k] = v;                                                               \
        }                                                                               \
    }

/* ---- row functions ------------------------------------------------------- */

/* Floats: plain IEEE; max/min propagate NaN like numpy.maximum. */
#define FLOAT_ROWS(T, sfx)                                             \
    BROW(add_##sfx, T, T, T, x + y)                                    \
    BROW(sub_##sfx, T, T, T, x - y)                                    \
    BROW(mul_##sfx, T, T, T, x * y)                                    \
    BROW(div_##sfx, T, T, T, x / y)                                    \
    BROW(max_##sfx, T, T, T, (x > y || isnan(x)) ? x : y)              \
    BROW(min_##sfx, T, T, T, (x < y || isnan(x)) ? x : y)              \
    BROW(prelu_##sfx, T, T, T, x < 0 ? x * y : x)                      \
    BROW(eq_##sfx, T, T, uint8_t, x == y)
FLOAT_ROWS(float, f32)
FLOAT_ROWS(double, f64)

/* Integers: U is the unsigned twin, for wrap-around arithmetic. */
#define INT_ROWS(T, U, sfx)                                            \
    BROW(add_##sfx, T, T, T, (U)((U)x + (U)y))                          \
    BROW(sub_##sfx, T, T, T, (U)((U)x - (U)y))                          \
    BROW(mul_##sfx, T, T, T, (U)((U)x * (U)y))                          \
    BROW(max_##sfx, T, T, T, x > y ? x : y)                            \
    BROW(min_##sfx, T, T, T, x < y ? x : y)                            \
    BROW(eq_##sfx, T, T, uint8_t, x == y)
INT_ROWS(int8_t, uint8_t, i8)
INT_ROWS(uint8_t, uint8_t, u8)
INT_ROWS(int32_t, uint32_t, i32)
INT_ROWS(int64_t, uint64_t, i64)
BROW(eq_bool, uint8_t, uint8_t, uint8_t, (x != 0) == (y != 0))

/* C division truncates toward zero; x / 0 -> 0 and MIN / -1 -> MIN (wraps). */
#define SDIV_ROW(T, U, sfx) \
    BROW(div_##sfx, T, T, T, y == 0 ? 0 : y == -1 ? (T)(U)(0u - (U)x) : x / y)
SDIV_ROW(int8_t, uint8_t, i8)
SDIV_ROW(int32_t, uint32_t, i32)
SDIV_ROW(int64_t, uint64_t, i64)
BROW(div_u8, uint8_t, uint8_t, uint8_t, y == 0 ? 0 : x / y)

/* Pow. Float bases use the C library; integer bases with a float exponent
 * go through double and truncate; integer ** integer is exact (wrapping),
 * as numpy computes it. */
static int64_t ipow(int64_t x, int64_t y)
{
    if (y < 0)
        return x == 1 ? 1 : x == -1 ? ((y & 1) ? -1 : 1) : 0;
    uint64_t r = 1, b = (uint64_t)x;
    while (y) {
        if (y & 1)
            r *= b;
        b *= b;
        y >>= 1;
    }
    return (int64_t)r;
}

BROW(pow_f32_f32, float, float, float, powf(x, y))
#define POW_FBASE(TA, sa, TB, sb) BROW(pow_##sa##_##sb, TA, TB, TA, pow((double)x, (double)y))
#define POW_IBASE_F(TA, sa, TB, sb) \
    BROW(pow_##sa##_##sb, TA, TB, TA, sk_ref_d2i(pow((double)x, (double)y)))
#define POW_IBASE_I(TA, sa, TB, sb) BROW(pow_##sa##_##sb, TA, TB, TA, ipow(x, y))
POW_FBASE(float, f32, double, f64)
POW_FBASE(float, f32, int32_t, i32)
POW_FBASE(float, f32, int64_t, i64)
POW_FBASE(double, f64, float, f32)
POW_FBASE(double, f64, double, f64)
POW_FBASE(double, f64, int32_t, i32)
POW_FBASE(double, f64, int64_t, i64)
POW_IBASE_F(int32_t, i32, float, f32)
POW_IBASE_F(int32_t, i32, double, f64)
POW_IBASE_I(int32_t, i32, int32_t, i32)
POW_IBASE_I(int32_t, i32, int64_t, i64)
POW_IBASE_F(int64_t, i64, float, f32)
POW_IBASE_F(int64_t, i64, double, f64)
POW_IBASE_I(int64_t, i64, int32_t, i32)
POW_IBASE_I(int64_t, i64, int64_t, i64)

static int pow_index(sk_dtype t)
{
    switch (t) {
    case SK_F32: return 0;
    case SK_F64: return 1;
    case SK_I32: return 2;
    case SK_I64: return 3;
    default: return -1;
    }
}

static const brow_fn pow_table[4][4] = {
    {pow_f32_f32, pow_f32_f64, pow_f32_i32, pow_f32_i64},
    {pow_f64_f32, pow_f64_f64, pow_f64_i32, pow_f64_i64},
    {pow_i32_f32, pow_i32_f64, pow_i32_i32, pow_i32_i64},
    {pow_i64_f32, pow_i64_f64, pow_i64_i32, pow_i64_i64},
};

/* Row function of a same-type op for dtype t, or NULL. */
#define PICK(prefix)                              \
    switch (t) {                                  \
    case SK_F32: return prefix##_f32;             \
    case SK_F64: return prefix##_f64;             \
    case SK_I8: return prefix##_i8;               \
    case SK_U8: return prefix##_u8;               \
    case SK_I32: return prefix##_i32;             \
    case SK_I64: return prefix##_i64;             \
    default: return NULL;                         \
    }

static brow_fn same_type_fn(sk_op op, sk_dtype t)
{
    switch (op) {
    case SK_OP_ADD:
    case SK_OP_SUM:
    case SK_OP_MEAN: PICK(add)
    case SK_OP_SUB: PICK(sub)
    case SK_OP_MUL: PICK(mul)
    case SK_OP_DIV: PICK(div)
    case SK_OP_MAX: PICK(max)
    case SK_OP_MIN: PICK(min)
    case SK_OP_EQUAL:
        if (t == SK_BOOL)
            return eq_bool;
        PICK(eq)
    case SK_OP_PRELU:
        return t == SK_F32 ? prelu_f32 : t == SK_F64 ? prelu_f64 : NULL;
    default: return NULL;
    }
}

/* ---- the broadcast driver ------------------------------------------------ */

typedef struct {
    brow_fn fn;
    const char *a, *b;
    char *o;
    size_t ea, eb, eo;
    int ia, ib;
} bin_job;

static void bin_runs(void *arg, int64_t n, int64_t off, const int64_t *in_off)
{
    const bin_job *j = arg;
    j->fn(n, j->a + in_off[0] * (int64_t)j->ea, j->ia, j->b + in_off[1] * (int64_t)j->eb, j->ib,
          j->o + off * (int64_t)j->eo);
}

/* out = fn(a, b) with a and b broadcast to out's shape. */
static int bin_apply(const sk_node *n, brow_fn fn, const sk_tensor *a, const sk_tensor *b,
                     sk_tensor *out, sk_kctx *ctx)
{
    const sk_shape *shapes[2] = {&a->shape, &b->shape};
    sk_bcast bc;
    if (sk_bcast_init(&bc, &out->shape, shapes, 2) != 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "inputs do not broadcast to the output shape");
    bin_job j = {fn,          a->data,  b->data, out->data, sk_dtype_size(a->dtype),
                 sk_dtype_size(b->dtype), sk_dtype_size(out->dtype), bc.inc[0], bc.inc[1]};
    sk_bcast_parallel(&bc, ctx->pool, BIN_GRAIN, bin_runs, &j);
    return 0;
}

static int bcast_infer(const sk_node *n, const sk_tensor *const *in, int nin, sk_shape *out,
                       sk_kctx *ctx)
{
    const sk_shape *shapes[64];
    char msg[256];
    if (nin > 64)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "%d inputs (at most 64)", nin);
    for (int i = 0; i < nin; i++)
        shapes[i] = &in[i]->shape;
    int rc = sk_broadcast_shape(shapes, nin, out, msg, sizeof msg);
    return rc ? sk_kfail(ctx, n, rc, "%s", msg) : 0;
}

/* All inputs present and of one dtype that `op` supports. */
static int same_type_inputs(const sk_node *n, const sk_tensor *const *in, int nin, int min_in,
                            sk_kctx *ctx)
{
    if (nin < min_in)
        return sk_kfail(ctx, n, SK_EINVAL, "expects at least %d inputs, got %d", min_in, nin);
    for (int i = 0; i < nin; i++) {
        if (!in[i])
            return sk_kfail(ctx, n, SK_EINVAL, "input %d is missing", i);
        if (in[i]->dtype != in[0]->dtype)
            return sk_kfail(ctx, n, SK_EINVAL, "input %d is %s but input 0 is %s", i,
                            sk_dtype_name(in[i]->dtype), sk_dtype_name(in[0]->dtype));
    }
    if (!same_type_fn(n->op, in[0]->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    return 0;
}

/* ---- Add, Sub, Mul, Div, Equal ------------------------------------------ */

static int binary_infer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    if (nin != 2 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects 2 inputs, got %d", nin);
    int rc = same_type_inputs(n, in, nin, 2, ctx);
    if (rc)
        return rc;
    out[0].dtype = n->op == SK_OP_EQUAL ? SK_BOOL : in[0]->dtype;
    return bcast_infer(n, in, nin, &out[0].shape, ctx);
}

static int binary_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    brow_fn fn = same_type_fn(n->op, in[0]->dtype);
    if (!fn)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    return bin_apply(n, fn, in[0], in[1], &out[0], ctx);
}

#define BINARY_ENTRY(fn)                                                                 \
    int sk_infer_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out, \
                      int nout, sk_kctx *ctx)                                            \
    {                                                                                    \
        return binary_infer(n, in, nin, out, nout, ctx);                                 \
    }                                                                                    \
    int sk_run_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,   \
                    int nout, sk_kctx *ctx)                                              \
    {                                                                                    \
        return binary_run(n, in, nin, out, nout, ctx);                                   \
    }
BINARY_ENTRY(add)
BINARY_ENTRY(sub)
BINARY_ENTRY(mul)
BINARY_ENTRY(div)
BINARY_ENTRY(equal)

/* ---- Pow: the exponent may have another numeric type ---------------------- */

int sk_infer_pow(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                 int nout, sk_kctx *ctx)
{
    if (nin != 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects 2 inputs");
    int ia = pow_index(in[0]->dtype), ib = pow_index(in[1]->dtype);
    if (ia < 0 || ib < 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "%s ** %s is not supported",
                        sk_dtype_name(in[0]->dtype), sk_dtype_name(in[1]->dtype));
    out[0].dtype = in[0]->dtype;
    return bcast_infer(n, in, nin, &out[0].shape, ctx);
}

int sk_run_pow(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out, int nout,
               sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    int ia = pow_index(in[0]->dtype), ib = pow_index(in[1]->dtype);
    if (ia < 0 || ib < 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "%s ** %s is not supported",
                        sk_dtype_name(in[0]->dtype), sk_dtype_name(in[1]->dtype));
    return bin_apply(n, pow_table[ia][ib], in[0], in[1], &out[0], ctx);
}

/* ---- PRelu: the slope broadcasts to X, never the other way ---------------- */

/* Older exporters give a [C] slope for an [N,C,...] X meaning per channel. */
static sk_shape prelu_slope_shape(const sk_tensor *x, const sk_tensor *slope)
{
    sk_shape s = slope->shape;
    if (!sk_broadcast_to(&s, &x->shape) && s.rank == 1 && x->shape.rank >= 2 &&
        s.dim[0] == x->shape.dim[1]) {
        s.rank = x->shape.rank - 1;
        for (int d = 1; d < s.rank; d++)
            s.dim[d] = 1;
    }
    return s;
}

int sk_infer_prelu(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                   int nout, sk_kctx *ctx)
{
    if (nin != 2 || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects X and slope");
    int rc = same_type_inputs(n, in, nin, 2, ctx);
    if (rc)
        return rc;
    sk_shape s = prelu_slope_shape(in[0], in[1]);
    if (!sk_broadcast_to(&s, &in[0]->shape)) {
        char a[96], b[96];
        return sk_kfail(ctx, n, SK_ESHAPE, "slope %s does not broadcast to X %s",
                        sk_shape_str(&in[1]->shape, a, sizeof a),
                        sk_shape_str(&in[0]->shape, b, sizeof b));
    }
    out[0].dtype = in[0]->dtype;
    out[0].shape = in[0]->shape;
    return 0;
}

int sk_run_prelu(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                 int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    sk_tensor slope = *in[1];
    slope.shape = prelu_slope_shape(in[0], in[1]);
    brow_fn fn = same_type_fn(n->op, in[0]->dtype);
    if (!fn)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    return bin_apply(n, fn, in[0], &slope, &out[0], ctx);
}

/* ---- Sum, Max, Min, Mean: fold the inputs pairwise into the output -------- */

static int variadic_infer(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    if (nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects an output");
    int rc = same_type_inputs(n, in, nin, 1, ctx);
    if (rc)
        return rc;
    if (n->op == SK_OP_MEAN && in[0]->dtype != SK_F32 && in[0]->dtype != SK_F64)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    out[0].dtype = in[0]->dtype;
    return bcast_infer(n, in, nin, &out[0].shape, ctx);
}

static int variadic_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    (void)nout;
    brow_fn fn = same_type_fn(n->op, in[0]->dtype);
    if (!fn)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    int rc;
    if (nin == 1) {
        sk_ref_copy(&out[0], in[0]);
        rc = 0;
    } else {
        rc = bin_apply(n, fn, in[0], in[1], &out[0], ctx);
    }
    /* The accumulator has the output's shape, so reading and writing it in
     * one pass touches each element once, at the same index. */
    for (int i = 2; i < nin && rc == 0; i++)
        rc = bin_apply(n, fn, &out[0], in[i], &out[0], ctx);
    if (rc == 0 && n->op == SK_OP_MEAN && nin > 1) {
        int64_t cnt = sk_shape_numel(&out[0].shape);
        if (out[0].dtype == SK_F32) {
            float *o = out[0].data, s = 1.0f / (float)nin;
            for (int64_t k = 0; k < cnt; k++)
                o[k] *= s;
        } else {
            double *o = out[0].data;
            for (int64_t k = 0; k < cnt; k++)
                o[k] /= nin;
        }
    }
    return rc;
}

#define VARIADIC_ENTRY(fn)                                                               \
    int sk_infer_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out, \
                      int nout, sk_kctx *ctx)                                            \
    {                                                                                    \
        return variadic_infer(n, in, nin, out, nout, ctx);                               \
    }                                                                                    \
    int sk_run_##fn(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,   \
                    int nout, sk_kctx *ctx)                                              \
    {                                                                                    \
        return variadic_run(n, in, nin, out, nout, ctx);                                 \
    }
VARIADIC_ENTRY(sum)
VARIADIC_ENTRY(max)
VARIADIC_ENTRY(min)
VARIADIC_ENTRY(mean)

/* ---- Where(cond, X, Y) ----------------------------------------------------- */

int sk_infer_where(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                   int nout, sk_kctx *ctx)
{
    if (nin != 3 || !in[0] || !in[1] || !in[2] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects condition, X and Y");
    if (in[0]->dtype != SK_BOOL)
        return sk_kfail(ctx, n, SK_EINVAL, "condition must be bool, not %s",
                        sk_dtype_name(in[0]->dtype));
    if (in[1]->dtype != in[2]->dtype)
        return sk_kfail(ctx, n, SK_EINVAL, "X is %s but Y is %s", sk_dtype_name(in[1]->dtype),
                        sk_dtype_name(in[2]->dtype));
    if (sk_dtype_size(in[1]->dtype) == 0)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(in[1]->dtype));
    out[0].dtype = in[1]->dtype;
    return bcast_infer(n, in, nin, &out[0].shape, ctx);
}

typedef struct {
    const uint8_t *c;
    const char *x, *y;
    char *o;
    size_t es;
    int ic, ix, iy;
} where_job;

#define WHERE_ROW(T)                                                             \
    do {                                                                         \
        const T *x = (const T *)(j->x + in_off[1] * (int64_t)sizeof(T));         \
        const T *y = (const T *)(j->y + in_off[2] * (int64_t)sizeof(T));         \
        T *o = (T *)(j->o + off * (int64_t)sizeof(T));                           \
        for (int64_t k = 0; k < cnt; k++)                                        \
            o[k] = c[k * j->ic] ? x[k * j->ix] : y[k * j->iy];                   \
    } while (0)

static void where_runs(void *arg, int64_t cnt, int64_t off, const int64_t *in_off)
{
    const where_job *j = arg;
    const uint8_t *c = j->c + in_off[0];
    switch (j->es) {
    case 1: WHERE_ROW(uint8_t); break;
    case 4: WHERE_ROW(uint32_t); break;
    default: WHERE_ROW(uint64_t); break;
    }
}

int sk_run_where(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                 int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    const sk_shape *shapes[3] = {&in[0]->shape, &in[1]->shape, &in[2]->shape};
    sk_bcast bc;
    size_t es = sk_dtype_size(out[0].dtype);
    if (es != 1 && es != 4 && es != 8)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "dtype %s is not supported",
                        sk_dtype_name(out[0].dtype));
    if (sk_bcast_init(&bc, &out[0].shape, shapes, 3) != 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "inputs do not broadcast to the output shape");
    where_job j = {in[0]->data, in[1]->data, in[2]->data, out[0].data,
                   es,          bc.inc[0],   bc.inc[1],   bc.inc[2]};
    sk_bcast_parallel(&bc, ctx->pool, BIN_GRAIN, where_runs, &j);
    return 0;
}
