/* dispatch_ops.c — which fast non-conv kernel (kernels/fast_ops.h) a plan
 * step runs, and the scratch it needs. The kernels of each level are in
 * kernels/config.c; the plan hands its level's config to every step.
 *
 * sk_dispatch_run(n) decides from the node alone, so the choice here is by
 * op (the fast column of its ops.h row) and attributes; a kernel handed shapes it does not cover runs the
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

typedef sk_fast_plan_fn plan_fn;

/* The fast kernel family of an op: the fast column of its ops.h row (by op
 * and attributes only). */
static sk_kernel_fn pick(const sk_node *n, plan_fn *plan)
{
    const sk_op_info *info = sk_op_get(n->op);
    if (!info || !info->fast_run)
        return NULL;
    if (n->op == SK_OP_MAX_POOL && n->nout > 1 && n->out[1] >= 0)
        return NULL; /* Indices wanted: the reference computes them */
    *plan = info->fast_plan;
    return info->fast_run;
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
