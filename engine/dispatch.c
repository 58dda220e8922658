/* dispatch.c — pick the kernel a plan runs for a node. Until CPU-specific
 * kernels are registered, every op runs its reference kernel. */
#include "graph.h"
#include "ops.h"

sk_kernel_fn sk_dispatch_run(const sk_node *n)
{
    const sk_op_info *info = sk_op_get(n->op);
    return info ? info->run : NULL;
}
