/* cast.c — reference kernel of Cast (and CastLike) between float32, float64,
 * float16, bfloat16, int8, uint8, int32, int64 and bool. float16 / bfloat16
 * values are held in float32 tensors (sk.h): a Cast to them gives a float32
 * output rounded to the half type (engine/half.h: nearest-even, subnormals,
 * inf/NaN, no double rounding from float64); a Cast from them is a cast from
 * float32. Values pass through a small buffer of double (from
 * float types) or int64 (from integer types and bool), so int64 -> int32
 * never loses bits to a double. Float -> integer truncates toward zero as C
 * does; NaN gives 0 and out-of-range values saturate to the int64 range
 * before wrapping to a narrower type (ONNX leaves both undefined). */
#include <stdint.h>
#include <string.h>

#include "graph.h"
#include "half.h"
#include "ops.h"
#include "ref_util.h"

#define CAST_CHUNK 512

static int cast_type_ok(sk_dtype t) { return sk_dtype_size(t) != 0; }
static int is_half(int64_t t) { return t == SK_F16 || t == SK_BF16; }
static int is_float(sk_dtype t) { return t == SK_F32 || t == SK_F64; }

int sk_infer_cast(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    if (nin < 1 || !in[0] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects an input");
    const sk_attr *to = sk_attr_find(n, "to");
    if (!to)
        return sk_kfail(ctx, n, SK_EINVAL, "the 'to' attribute is required");
    if (!cast_type_ok(in[0]->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "casting from %s is not supported",
                        sk_dtype_name(in[0]->dtype));
    if (to->i < 0 || to->i > 64 || !cast_type_ok((sk_dtype)to->i))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED,
                        "casting to ONNX type %lld is not supported (float32/64, float16, "
                        "bfloat16, int8, uint8, int32, int64 and bool are)",
                        (long long)to->i);
    out[0].dtype = is_half(to->i) ? SK_F32 : (sk_dtype)to->i;
    out[0].shape = in[0]->shape;
    return 0;
}

/* Load cnt values of type t into f (float sources) or i (the rest). */
static void load(sk_dtype t, const void *src, int64_t cnt, double *f, int64_t *i)
{
    switch (t) {
    case SK_F32:
        for (int64_t k = 0; k < cnt; k++)
            f[k] = ((const float *)src)[k];
        break;
    case SK_F64: memcpy(f, src, (size_t)cnt * sizeof(double)); break;
    case SK_I8:
        for (int64_t k = 0; k < cnt; k++)
            i[k] = ((const int8_t *)src)[k];
        break;
    case SK_U8:
        for (int64_t k = 0; k < cnt; k++)
            i[k] = ((const uint8_t *)src)[k];
        break;
    case SK_BOOL:
        for (int64_t k = 0; k < cnt; k++)
            i[k] = ((const uint8_t *)src)[k] != 0;
        break;
    case SK_I32:
        for (int64_t k = 0; k < cnt; k++)
            i[k] = ((const int32_t *)src)[k];
        break;
    case SK_I64: memcpy(i, src, (size_t)cnt * sizeof(int64_t)); break;
    default: break;
    }
}

/* Store: from doubles (from_float) or int64s into type t. Narrowing integer
 * conversions wrap modulo 2^bits (two's complement), as numpy does. */
#define STORE_INT(T)                                                       \
    for (int64_t k = 0; k < cnt; k++)                                      \
        ((T *)dst)[k] = (T)(from_float ? sk_ref_d2i(f[k]) : i[k])
static void store(sk_dtype t, void *dst, int64_t cnt, int from_float, const double *f,
                  const int64_t *i)
{
    switch (t) {
    case SK_F32:
        for (int64_t k = 0; k < cnt; k++)
            ((float *)dst)[k] = from_float ? (float)f[k] : (float)i[k];
        break;
    case SK_F64:
        for (int64_t k = 0; k < cnt; k++)
            ((double *)dst)[k] = from_float ? f[k] : (double)i[k];
        break;
    case SK_BOOL:
        for (int64_t k = 0; k < cnt; k++)
            ((uint8_t *)dst)[k] = from_float ? f[k] != 0 : i[k] != 0;
        break;
    case SK_I8: STORE_INT(int8_t); break;
    case SK_U8: STORE_INT(uint8_t); break;
    case SK_I32: STORE_INT(int32_t); break;
    case SK_I64: STORE_INT(int64_t); break;
    default: break;
    }
}

/* Round cnt values to the half type `to` into float32 dst. */
static void store_half(int64_t to, float *dst, int64_t cnt, sk_dtype st, const double *f,
                       const int64_t *i)
{
    for (int64_t k = 0; k < cnt; k++) {
        /* float32 sources are exact in double; float64 and int64 sources go
         * through float32 rounded to odd so the half rounding is the only one */
        float v = st == SK_F32 ? (float)f[k]
                               : sk_f64_to_f32_odd(is_float(st) ? f[k] : (double)i[k]);
        dst[k] = to == SK_F16 ? sk_round_f16(v) : sk_round_bf16(v);
    }
}

int sk_run_cast(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                int nout, sk_kctx *ctx)
{
    (void)nin;
    (void)nout;
    sk_dtype st = in[0]->dtype, dt = out[0].dtype;
    int64_t to = n->op == SK_OP_CAST ? sk_attr_int(n, "to", 0) : 0;
    if (is_half(to) && cast_type_ok(st)) {
        int64_t cnt = sk_shape_numel(&in[0]->shape);
        size_t ses = sk_dtype_size(st);
        double f[CAST_CHUNK];
        int64_t iv[CAST_CHUNK];
        for (int64_t b = 0; b < cnt; b += CAST_CHUNK) {
            int64_t m = cnt - b < CAST_CHUNK ? cnt - b : CAST_CHUNK;
            load(st, (const char *)in[0]->data + (size_t)b * ses, m, f, iv);
            store_half(to, (float *)out[0].data + b, m, st, f, iv);
        }
        return 0;
    }
    if (!cast_type_ok(st) || !cast_type_ok(dt))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "cast %s -> %s is not supported",
                        sk_dtype_name(st), sk_dtype_name(dt));
    int64_t cnt = sk_shape_numel(&in[0]->shape);
    if (st == dt) {
        sk_ref_copy(&out[0], in[0]);
        return 0;
    }
    size_t ses = sk_dtype_size(st), des = sk_dtype_size(dt);
    double f[CAST_CHUNK];
    int64_t iv[CAST_CHUNK];
    for (int64_t b = 0; b < cnt; b += CAST_CHUNK) {
        int64_t m = cnt - b < CAST_CHUNK ? cnt - b : CAST_CHUNK;
        load(st, (const char *)in[0]->data + (size_t)b * ses, m, f, iv);
        store(dt, (char *)out[0].data + (size_t)b * des, m, is_float(st), f, iv);
    }
    return 0;
}

/* CastLike(input, target_type): Cast to target_type's dtype. The loader turns
 * a CastLike whose target's declared ONNX type it knows into a Cast (so a
 * float16 target rounds); this kernel serves the rest, where the target is a
 * computed value and its storage dtype is all there is to go by. */
int sk_infer_cast_like(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "expects input and target_type");
    if (!cast_type_ok(in[0]->dtype) || !cast_type_ok(in[1]->dtype))
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "cast %s -> %s is not supported",
                        sk_dtype_name(in[0]->dtype), sk_dtype_name(in[1]->dtype));
    out[0].dtype = in[1]->dtype;
    out[0].shape = in[0]->shape;
    return 0;
}

int sk_run_cast_like(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    return sk_run_cast(n, in, nin, out, nout, ctx);
}
