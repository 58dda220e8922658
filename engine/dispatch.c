/* dispatch.c — pick the kernel a plan runs for a node, and the scratch it
 * needs. Called once per plan step, at plan time.
 *
 * At the scalar level every op runs its reference kernel. Above it:
 *   1. nodes the load-time passes (engine/passes/) gave packed weights
 *      (sk_node.priv, packed for the level active at load): _ConvFused and
 *      _GemmFused run engine/kernels/fast_conv.c, ConvTranspose
 *      engine/kernels/fast_convt.c;
 *   2. other ops with a fast kernel in engine/kernels/fast_ops*.c (chosen by
 *      sk_dispatch_ops from the op and attributes: element-wise, pools,
 *      MatMul, ConvTranspose without packed weights, Concat, ...);
 *   3. the reference kernel.
 * A fast kernel handed shapes it does not cover calls the reference itself. */
#include "cpu.h"
#include "graph.h"
#include "kernels/fast.h"
#include "kernels/fast_ops.h"
#include "kernels/fast_qconv.h"
#include "kernels/fast_qconvt.h"
#include "kernels/fast_qconv_dequant.h"
#include "kernels/fast_qmatmul.h"
#include "kernels/fast_qnhwc.h"
#include "kernels/ref/nn_util.h"
#include "ops.h"

sk_kernel_fn sk_dispatch_run(const sk_node *n)
{
    const sk_op_info *info = sk_op_get(n->op);
    if (!info)
        return NULL;
    if (sk_cpu_level() == SK_ISA_SCALAR)
        return info->run;
    if (n->priv) {
        switch (n->op) {
        case SK_OP_CONV_FUSED:
            return sk_fast_run_conv_fused;
        case SK_OP_GEMM_FUSED:
            return sk_fast_run_gemm_fused;
        case SK_OP_MATMUL_FUSED:
            return sk_fast_run_matmul_fused;
        case SK_OP_CONV_TRANSPOSE: /* W^T packed: on even with SKIPSERVE_FAST_OPS=0 */
            return sk_fast_run_conv_transpose;
        case SK_OP_IRBLOCK_FUSED: /* expand + depthwise + project (passes/fuse_irblock.c) */
            return sk_fast_run_irblock;
        case SK_OP_QLINEAR_CONV: /* int8 weights packed (passes/qfuse.c) */
        case SK_OP_QCONV_FUSED:
            return sk_fast_run_qconv;
        case SK_OP_QCONV_TRANSPOSE: /* int8 weights packed (passes/qfuse.c) */
            return sk_fast_run_qconvt;
        case SK_OP_QLINEAR_MATMUL: /* constant int8 B packed (passes/qfuse.c) */
            return sk_fast_run_qmatmul;
        case SK_OP_QCONV_DEQUANT: /* the QDQ head, int8 weights packed (passes/qfuse.c) */
            return sk_fast_run_qconvdq;
        case SK_OP_MAX_POOL: /* channels-last 8-bit values (passes/qlayout.c) */
            return sk_fast_run_max_pool_nhwc;
        case SK_OP_CONCAT:
            return sk_fast_run_concat_nhwc;
        case SK_OP_QRESIZE: /* channels-last bytes (passes/qlayout.c, session 15) */
            return sk_fast_run_qresize;
        default:
            break;
        }
    }
    sk_kernel_fn fn = sk_dispatch_ops(n, NULL, 0, NULL, 0);
    return fn ? fn : info->run;
}

size_t sk_dispatch_scratch(const sk_node *n, const sk_tensor *const *in, int nin,
                           const sk_tensor *out, int nout, int nthreads)
{
    sk_kernel_fn fn = sk_dispatch_run(n);
    if (fn == sk_fast_run_conv_fused || fn == sk_fast_run_gemm_fused ||
        fn == sk_fast_run_matmul_fused)
        return sk_fused_scratch_floats(n, nout > 0 ? out : NULL, nthreads) * sizeof(float);
    if (n->priv && n->op == SK_OP_CONV_TRANSPOSE && fn == sk_fast_run_conv_transpose) {
        /* the packed kernel's need, or the reference's it falls back to */
        size_t fast = 0, ref = sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
        if (!sk_fast_plan_conv_transpose(NULL, n, in, nin, out, nout, nthreads, &fast))
            fast = 0;
        return fast > ref ? fast : ref;
    }
    if (fn == sk_fast_run_qconv) {
        /* the packed columns, or the reference's need it falls back to */
        size_t fast = sk_fast_qconv_scratch(n, nout > 0 ? out : NULL, nthreads),
               ref = sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
        return fast > ref ? fast : ref;
    }
    if (fn == sk_fast_run_qconvt)
        return sk_fast_qconvt_scratch(n, in, nin);
    if (fn == sk_fast_run_qconvdq) {
        size_t fast = sk_fast_qconvdq_scratch(n, in, nin),
               ref = sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
        return fast > ref ? fast : ref;
    }
    if (fn == sk_fast_run_qmatmul) {
        size_t fast = sk_fast_qmatmul_scratch(n, in, nin),
               ref = sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
        return fast > ref ? fast : ref;
    }
    if (fn == sk_fast_run_irblock) {
        size_t fast = sk_irblock_scratch_floats(n, in, nin, nout > 0 ? out : NULL, nthreads) *
                      sizeof(float),
               ref = sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
        return fast > ref ? fast : ref;
    }
    const sk_op_info *info = sk_op_get(n->op);
    if (info && fn != info->run)
        return sk_dispatch_ops_scratch(n, in, nin, out, nout, nthreads);
    return sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
}

const char *sk_dispatch_describe_t(const sk_node *n, int64_t batch, int nthreads)
{
    if (sk_dispatch_run(n) == sk_fast_run_conv_fused && batch >= 0) {
        const sk_conv_priv *alt = sk_conv_runs_bf16(n->priv, batch, nthreads);
        if (alt)
            return sk_conv_strategy_of(alt->kind)->name;
    }
    return sk_dispatch_describe(n, batch);
}

const char *sk_dispatch_describe(const sk_node *n, int64_t batch)
{
    sk_kernel_fn fn = sk_dispatch_run(n);
    const sk_op_info *info = sk_op_get(n->op);
    if (fn == sk_fast_run_conv_fused) {
        const sk_conv_priv *pv = n->priv;
        if (batch >= 0 && sk_conv_runs_pixrows(pv, batch))
            return sk_conv_strategy_of(SK_CONV_PIXROWS)->name;
        return sk_conv_strategy_of(pv->kind)->name;
    }
    if (fn == sk_fast_run_gemm_fused || fn == sk_fast_run_matmul_fused)
        return "gemm";
    if (fn == sk_fast_run_qconv && n->priv && ((const sk_qconv_priv *)n->priv)->dwk.uk)
        return "int8-dwconv"; /* session 17 */
    if (fn == sk_fast_run_qconv)
        return "int8-gemm";
    if (fn == sk_fast_run_qconvt) /* session 14: channels-last per tap on the NHWC kernel */
        return ((const sk_qconvt_priv *)n->priv)->nhwc ? "int8-igemm+nhwc" : "int8-gemm+scatter";
    if (fn == sk_fast_run_qmatmul)
        return "int8-gemm";
    if (fn == sk_fast_run_qconvdq)
        return "int8-gemm+dq";
    if (fn == sk_fast_run_irblock)
        return "irblock";
    if (n->priv && n->op == SK_OP_CONV_TRANSPOSE && fn == sk_fast_run_conv_transpose)
        return "gemm+col2im";
    if (fn == sk_fast_run_max_pool_nhwc || fn == sk_fast_run_concat_nhwc)
        return "nhwc";
    return info && fn == info->run ? "ref" : "fast";
}
