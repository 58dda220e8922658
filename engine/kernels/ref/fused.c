/* fused.c — reference kernels of the fused ops (see engine/kernels/fast.h):
 * exactly the composition of the reference Conv / Gemm, Add and Relu/Clip,
 * so a fused graph can be checked against the unfused one and the fast
 * kernels against these. */
#include <math.h>

#include "graph.h"
#include "kernels/fast.h"
#include "nn_util.h"
#include "ops.h"

void sk_fused_act(const sk_node *n, float *lo, float *hi)
{
    *lo = sk_attr_float(n, "act_min", -INFINITY);
    *hi = sk_attr_float(n, "act_max", INFINITY);
}

static int residual_check(const sk_node *n, const sk_tensor *const *in, int nin,
                          const sk_tensor *y, sk_kctx *ctx)
{
    if (nin < 4 || !in[3])
        return 0;
    char a[96], b[96];
    if (in[3]->dtype != SK_F32)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "residual is %s; only float32 is supported",
                        sk_dtype_name(in[3]->dtype));
    if (!sk_shape_equal(&in[3]->shape, &y->shape))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual %s differs from the output %s",
                        sk_shape_str(&in[3]->shape, a, sizeof a),
                        sk_shape_str(&y->shape, b, sizeof b));
    return 0;
}

size_t sk_ref_scratch_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                            const sk_tensor *out, int nout, int nthreads)
{
    (void)nout;
    if (n->op == SK_OP_CONV_FUSED)
        return sk_ref_scratch_conv(n, in, nin > 3 ? 3 : nin, out, 1, nthreads);
    if (n->op == SK_OP_GEMM_FUSED)
        return sk_ref_scratch_gemm(n, in, nin > 3 ? 3 : nin, out, 1, nthreads);
    return 0;
}

/* y = clamp(y + r, lo, hi), NaNs passing through as in the fast kernels */
static void add_clamp(const sk_node *n, float *y, const float *r, int64_t count)
{
    float lo, hi;
    sk_fused_act(n, &lo, &hi);
    for (int64_t i = 0; i < count; i++) {
        float v = y[i];
        if (r)
            v += r[i];
        if (v < lo)
            v = lo;
        if (v > hi)
            v = hi;
        y[i] = v;
    }
}

/* The fused ops are their base op (inputs 0..2) plus the residual (input
 * 3) and the clamp: one infer and one run for both, around the base's
 * kernel. */
typedef int (*base_fn)(const sk_node *, const sk_tensor *const *, int, sk_tensor *, int,
                       sk_kctx *);

/* base (infer or run of Conv / Gemm) on inputs 0..2, then the residual
 * check; a run then adds the residual and clamps. */
static int fused(base_fn base, int run, const sk_node *n, const sk_tensor *const *in, int nin,
                 sk_tensor *out, sk_kctx *ctx)
{
    if (run && nin > 1 && in[1] && !in[1]->data) /* see prepack.c release_weights */
        return sk_kfail(ctx, n, SK_EINVAL,
                        "its weights were released after packing them for the SIMD level of "
                        "the load; run it at that level");
    int rc = base(n, in, nin > 3 ? 3 : nin, out, 1, ctx);
    if (rc)
        return rc;
    if ((rc = residual_check(n, in, nin, &out[0], ctx)))
        return rc;
    if (run)
        add_clamp(n, out[0].data, nin > 3 && in[3] ? in[3]->data : NULL,
                  sk_shape_numel(&out[0].shape));
    return 0;
}

int sk_infer_conv_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    (void)nout;
    return fused(sk_infer_conv, 0, n, in, nin, out, ctx);
}

int sk_run_conv_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    (void)nout;
    return fused(sk_run_conv, 1, n, in, nin, out, ctx);
}

int sk_infer_gemm_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    (void)nout;
    return fused(sk_infer_gemm, 0, n, in, nin, out, ctx);
}

int sk_run_gemm_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    (void)nout;
    return fused(sk_run_gemm, 1, n, in, nin, out, ctx);
}
