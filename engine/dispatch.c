/* dispatch.c — pick the kernel a plan runs for a node. Until CPU-specific
 * kernels are registered, every op runs its reference kernel. */
#include "graph.h"
#include "ops.h"

sk_kernel_fn sk_dispatch_run(const sk_node *n)
{
    const sk_op_info *info = sk_op_get(n->op);
    return info ? info->run : NULL;
}

size_t sk_dispatch_scratch(const sk_node *n, const sk_tensor *const *in, int nin,
                           const sk_tensor *out, int nout, int nthreads)
{
    (void)n;
    (void)in;
    (void)nin;
    (void)out;
    (void)nout;
    (void)nthreads;
    return 0;
}
