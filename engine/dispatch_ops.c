/* dispatch_ops.c — which fast non-conv kernel (kernels/fast_ops.h) a plan
 * step runs, and the scratch it needs. The kernels of each level are in
 * kernels/config.c; the plan hands its level's config to every step.
 *
 * sk_dispatch_run(n) decides from the node alone, so the choice here is by
 * op and attributes; a kernel handed shapes it does not cover runs the
 * reference kernel instead (and its scratch is sized for both).
 * SKIPSERVE_FAST_OPS=0 turns these kernels off (A/B benchmarks: the
 * fused Conv / Gemm kernels stay on): sk_kconfig.fast_ops. */
#include <stddef.h>

#include "cpu.h"
#include "kernels/gemm.h"
#include "graph.h"
#include "kernels/fast_ops.h"
#include "kernels/ref/nn_util.h"
#include "ops.h"

typedef int (*plan_fn)(const sk_kconfig *, const sk_node *, const sk_tensor *const *, int,
                       const sk_tensor *, int, int, size_t *);

/* The fast kernel family of an op (by op and attributes only). */
static sk_kernel_fn pick(const sk_node *n, plan_fn *plan)
{
    switch (n->op) {
    case SK_OP_ADD:
    case SK_OP_SUB:
    case SK_OP_MUL:
    case SK_OP_DIV:
        *plan = sk_fops_plan_binary;
        return sk_fops_run_binary;
    case SK_OP_RELU:
    case SK_OP_CLIP:
    case SK_OP_SIGMOID:
    case SK_OP_TANH:
    case SK_OP_ERF:
        *plan = sk_fops_plan_unary;
        return sk_fops_run_unary;
    case SK_OP_SOFTMAX:
    case SK_OP_LOG_SOFTMAX:
        *plan = sk_fops_plan_softmax;
        return sk_fops_run_softmax;
    case SK_OP_LAYER_NORM:
        *plan = sk_fops_plan_layer_norm;
        return sk_fops_run_layer_norm;
    case SK_OP_MAX_POOL:
        if (n->nout > 1 && n->out[1] >= 0)
            return NULL; /* Indices wanted: the reference computes them */
        *plan = sk_fops_plan_max_pool;
        return sk_fops_run_max_pool;
    case SK_OP_AVERAGE_POOL:
        *plan = sk_fops_plan_average_pool;
        return sk_fops_run_average_pool;
    case SK_OP_GLOBAL_AVERAGE_POOL:
    case SK_OP_GLOBAL_MAX_POOL:
        *plan = sk_fops_plan_global_pool;
        return sk_fops_run_global_pool;
    case SK_OP_MATMUL:
        *plan = sk_fops_plan_matmul;
        return sk_fops_run_matmul;
    case SK_OP_GEMM: /* the passes fuse and pre-pack most; the rest come here */
        *plan = sk_fops_plan_gemm;
        return sk_fops_run_gemm;
    case SK_OP_CONV_TRANSPOSE:
        *plan = sk_fops_plan_conv_transpose;
        return sk_fops_run_conv_transpose;
    case SK_OP_CONCAT:
        *plan = sk_fops_plan_concat;
        return sk_fops_run_concat;
    case SK_OP_TRANSPOSE:
        *plan = sk_fops_plan_transpose;
        return sk_fops_run_transpose;
    case SK_OP_RESIZE:
        *plan = sk_fops_plan_resize;
        return sk_fops_run_resize;
    default:
        return NULL;
    }
}

sk_kernel_fn sk_dispatch_ops(const sk_node *n, const sk_tensor *const *in, int nin,
                             const sk_tensor *out, int nout)
{
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    if (!kc || !kc->fast_ops)
        return NULL;
    plan_fn plan = NULL;
    sk_kernel_fn fn = pick(n, &plan);
    if (!fn || !in || !out)
        return fn;
    size_t bytes = 0;
    return plan(kc, n, in, nin, out, nout, 1, &bytes) ? fn : NULL;
}

size_t sk_dispatch_ops_scratch(const sk_node *n, const sk_tensor *const *in, int nin,
                               const sk_tensor *out, int nout, int nthreads)
{
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    if (!kc || !kc->fast_ops)
        return 0;
    plan_fn plan = NULL;
    if (!pick(n, &plan))
        return 0;
    if (!in || !out)
        return 0;
    size_t fast = 0, ref = sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
    if (!plan(kc, n, in, nin, out, nout, nthreads, &fast))
        fast = 0;
    return fast > ref ? fast : ref;
}
