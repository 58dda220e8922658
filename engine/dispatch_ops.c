/* dispatch_ops.c — which fast non-conv kernel (kernels/fast_ops.h) a plan
 * step runs, the scratch it needs, and the microkernel table of each ISA
 * level.
 *
 * sk_dispatch_run(n) decides from the node alone, so the choice here is by
 * op and attributes; a kernel handed shapes it does not cover runs the
 * reference kernel instead (and its scratch is sized for both).
 * SKIPSERVE_FAST_OPS=0 turns these kernels off (A/B benchmarks: the
 * fused Conv / Gemm kernels stay on), read when the first plan is made. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "gemm.h"
#include "graph.h"
#include "kernels/fast_ops.h"
#include "kernels/ref/nn_util.h"
#include "ops.h"

#define SK_FOPS_TABLE(sfx, level)                                                          \
    {                                                                                      \
        .isa = level, .vadd = sk_f32_vadd__##sfx, .vsub = sk_f32_vsub__##sfx,              \
        .vmul = sk_f32_vmul__##sfx, .vdiv = sk_f32_vdiv__##sfx,                            \
        .vrelu = sk_f32_vrelu__##sfx, .vclamp = sk_f32_vclamp__##sfx,                      \
        .vsigmoid = sk_f32_vsigmoid__##sfx, .vtanh = sk_f32_vtanh__##sfx,                  \
        .verf = sk_f32_verf__##sfx, .rmax = sk_f32_rmax__##sfx, .rsum = sk_f32_rsum__##sfx, \
        .vexpsub_sum = sk_f32_vexpsub_sum__##sfx, .vaffine = sk_f32_vaffine__##sfx,        \
        .rsumsqdev = sk_f32_rsumsqdev__##sfx, .vlnorm = sk_f32_vlnorm__##sfx,              \
        .vmax_acc = sk_f32_vmax_acc__##sfx, .vadd_acc = sk_f32_vadd_acc__##sfx,            \
        .vmax_taps = sk_f32_vmax_taps__##sfx, .vsum_taps = sk_f32_vsum_taps__##sfx,        \
        .deinterleave2 = sk_f32_deinterleave2__##sfx,                                      \
        .interleave2 = sk_f32_interleave2__##sfx, .vblend = sk_f32_vblend__##sfx,          \
        .vup2_linear = sk_f32_vup2_linear__##sfx, .gemv_panel = sk_f32_gemv_panel__##sfx,  \
        .gemm_ntail = sk_f32_gemm_ntail__##sfx, .gemm_mtail = sk_f32_gemm_mtail__##sfx,    \
        .transpose = sk_f32_transpose__avx2,                                               \
        .transpose_epi = sk_f32_transpose_epi__avx2,                                       \
    }

#if defined(__x86_64__)
const sk_fops_uk sk_fops_uk_avx2 = SK_FOPS_TABLE(avx2, SK_ISA_AVX2);
const sk_fops_uk sk_fops_uk_avx512 = SK_FOPS_TABLE(avx512f, SK_ISA_AVX512);
#endif

const sk_fops_uk *sk_fops_uk_for(sk_isa isa)
{
#if defined(__x86_64__)
    if (isa > sk_cpu_detected())
        return NULL;
    if (isa == SK_ISA_AVX2)
        return &sk_fops_uk_avx2;
    if (isa == SK_ISA_AVX512)
        return &sk_fops_uk_avx512;
#else
    (void)isa;
#endif
    return NULL;
}

const sk_fops_uk *sk_fops_uk_get(void) { return sk_fops_uk_for(sk_cpu_level()); }

static int fast_ops_enabled(void)
{
    /* every thread computes the same value; atomic so the race is defined */
    static atomic_int enabled = -1;
    int v = atomic_load_explicit(&enabled, memory_order_relaxed);
    if (v < 0) {
        const char *e = getenv("SKIPSERVE_FAST_OPS");
        v = !(e && !strcmp(e, "0"));
        atomic_store_explicit(&enabled, v, memory_order_relaxed);
    }
    return v;
}

typedef int (*plan_fn)(const sk_node *, const sk_tensor *const *, int, const sk_tensor *, int,
                       int, size_t *);

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
        if (!sk_gemm_config(sk_cpu_level()))
            return NULL;
        *plan = sk_fops_plan_matmul;
        return sk_fops_run_matmul;
    case SK_OP_GEMM: /* the passes fuse and pre-pack most; the rest come here */
        if (!sk_gemm_config(sk_cpu_level()))
            return NULL;
        *plan = sk_fops_plan_gemm;
        return sk_fops_run_gemm;
    case SK_OP_CONV_TRANSPOSE:
        if (!sk_gemm_config(sk_cpu_level()))
            return NULL;
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
    if (!sk_fops_uk_get() || !fast_ops_enabled())
        return NULL;
    plan_fn plan = NULL;
    sk_kernel_fn fn = pick(n, &plan);
    if (!fn || !in || !out)
        return fn;
    size_t bytes = 0;
    return plan(n, in, nin, out, nout, 1, &bytes) ? fn : NULL;
}

size_t sk_dispatch_ops_scratch(const sk_node *n, const sk_tensor *const *in, int nin,
                               const sk_tensor *out, int nout, int nthreads)
{
    if (!sk_fops_uk_get() || !fast_ops_enabled())
        return 0;
    plan_fn plan = NULL;
    if (!pick(n, &plan))
        return 0;
    if (!in || !out)
        return 0;
    size_t fast = 0, ref = sk_ref_nn_scratch(n, in, nin, out, nout, nthreads);
    if (!plan(n, in, nin, out, nout, nthreads, &fast))
        fast = 0;
    return fast > ref ? fast : ref;
}
