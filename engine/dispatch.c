/* dispatch.c — pick the kernel a plan runs for a node, and the scratch it
 * needs.
 *
 * Fast kernels need load-time state that engine/passes/ attaches to the
 * node (packed weights in sk_node.priv, packed for the ISA level active at
 * load); without it, or at the scalar level, the reference kernel runs. The
 * choice is made once per plan step, at plan time. */
#include "cpu.h"
#include "graph.h"
#include "kernels/fast.h"
#include "kernels/ref/nn_util.h"
#include "ops.h"

sk_kernel_fn sk_dispatch_run(const sk_node *n)
{
    const sk_op_info *info = sk_op_get(n->op);
    if (!info)
        return NULL;
    if (sk_cpu_level() == SK_ISA_SCALAR || !n->priv)
        return info->run;
    switch (n->op) {
    case SK_OP_CONV_FUSED:
        return sk_fast_run_conv_fused;
    case SK_OP_GEMM_FUSED:
        return sk_fast_run_gemm_fused;
    default:
        return info->run;
    }
}

size_t sk_dispatch_scratch(const sk_node *n, const sk_tensor *const *in, int nin,
                           const sk_tensor *out, int nout, int nthreads)
{
    sk_kernel_fn fn = sk_dispatch_run(n);
    if (fn == sk_fast_run_conv_fused || fn == sk_fast_run_gemm_fused)
        return sk_fused_scratch_floats(n, nthreads) * sizeof(float);
    if (n->op == SK_OP_CONV_FUSED || n->op == SK_OP_GEMM_FUSED)
        return sk_ref_scratch_fused(n, in, nin, out, nout, nthreads);
    return sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
}
