/* fused_matmul.c — reference kernel of _MatMulFused (engine/kernels/fast.h),
 * the transformer's Linear layer as engine/passes/fuse_matmul.c merges it:
 *   Y = gelu(clamp(MatMul(A, W) + bias + R, act_min, act_max))
 * with W [K, N] (a constant 2-D weight), bias [N] and R (Y's shape) optional,
 * and "gelu" 0 (none), 1 (erf form) or 2 (tanh form). Exactly the reference
 * MatMul, then the same float operations the unfused graph does, in its
 * order, so the fused graph is checked against the unfused one and the fast
 * kernel against this. */
#include <math.h>

#include "graph.h"
#include "kernels/fast.h"
#include "ops.h"

/* GELU as torch exports it: erf form Div(x, sqrt 2) -> Erf -> Add 1 ->
 * Mul x -> Mul 0.5; tanh form 0.5 * (x * (1 + tanh(c (x + 0.044715 x^3)))). */
float sk_gelu_ref(int kind, float x)
{
    if (kind == SK_GELU_ERF)
        return (x * (erff(x / 1.41421356237309505f) + 1.0f)) * 0.5f;
    if (kind == SK_GELU_TANH) {
        float x3 = (x * x) * x;
        float u = 0.79788456080286536f * (x + 0.044715f * x3);
        return 0.5f * (x * (1.0f + tanhf(u)));
    }
    return x;
}

/* The optional operands against the MatMul's output y: bias [N] (any rank
 * whose dims but the last are 1), R of y's shape, float32. */
static int operands_check(const sk_node *n, const sk_tensor *const *in, int nin,
                          const sk_tensor *y, sk_kctx *ctx)
{
    char a[96], b[96];
    int64_t N = y->shape.rank > 0 ? y->shape.dim[y->shape.rank - 1] : 1;
    const sk_tensor *bias = nin > 2 ? in[2] : NULL, *r = nin > 3 ? in[3] : NULL;
    if (bias && (bias->dtype != SK_F32 || sk_shape_numel(&bias->shape) != N ||
                 (bias->shape.rank > 0 && bias->shape.dim[bias->shape.rank - 1] != N)))
        return sk_kfail(ctx, n, SK_ESHAPE, "bias %s %s is not %lld float32 values",
                        sk_dtype_name(bias->dtype), sk_shape_str(&bias->shape, a, sizeof a),
                        (long long)N);
    if (r && r->dtype != SK_F32)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "residual is %s; only float32 is supported",
                        sk_dtype_name(r->dtype));
    if (r && !sk_shape_equal(&r->shape, &y->shape))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual %s differs from the output %s",
                        sk_shape_str(&r->shape, a, sizeof a), sk_shape_str(&y->shape, b, sizeof b));
    return 0;
}

int sk_infer_matmul_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    (void)nout;
    int rc = sk_infer_matmul(n, in, nin > 2 ? 2 : nin, out, 1, ctx);
    return rc ? rc : operands_check(n, in, nin, &out[0], ctx);
}

int sk_run_matmul_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    (void)nout;
    if (nin > 1 && in[1] && !in[1]->data) /* see prepack.c release_weights */
        return sk_kfail(ctx, n, SK_EINVAL,
                        "its weights were released after packing them for the SIMD level of "
                        "the load; run it at that level");
    int rc = sk_run_matmul(n, in, nin > 2 ? 2 : nin, out, 1, ctx);
    if (rc || (rc = operands_check(n, in, nin, &out[0], ctx)))
        return rc;
    const float *bias = nin > 2 && in[2] ? in[2]->data : NULL;
    const float *r = nin > 3 && in[3] ? in[3]->data : NULL;
    float lo, hi, *y = out[0].data;
    sk_fused_act(n, &lo, &hi);
    int gelu = (int)sk_attr_int(n, "gelu", 0);
    int64_t count = sk_shape_numel(&out[0].shape);
    int64_t N = out[0].shape.rank > 0 ? out[0].shape.dim[out[0].shape.rank - 1] : 1;
    for (int64_t i = 0; i < count; i++) {
        float v = y[i];
        if (bias)
            v += bias[N > 0 ? i % N : 0];
        if (r)
            v += r[i];
        if (v < lo) /* NaN passes, as sk_gemm_epi_apply */
            v = lo;
        if (v > hi)
            v = hi;
        y[i] = sk_gelu_ref(gelu, v);
    }
    return 0;
}
