/* ops.c — the op table: ONNX name -> enum -> infer/run functions, the
 * reference kernel's scratch and the fast kernel family (ops.h rows). */
#include "ops.h"

#include <stdarg.h>
#include <string.h>

#include "graph.h"
#include "kernels/fast.h"
#include "kernels/fast_ops.h"
#include "kernels/ref/nn_util.h"

/* a `none` column */
#define sk_ref_scratch_none NULL
#define sk_fast_run_none NULL
#define sk_fast_plan_none NULL

static const sk_op_info op_table[SK_OP_COUNT] = {
    [SK_OP_NONE] = {"(none)", NULL, NULL, NULL, NULL, NULL, 0},
#define SK_X_ROW(e, nm, fn, scratch, fast, inplace)                                  \
    [SK_OP_##e] = {nm, sk_infer_##fn, sk_run_##fn, sk_ref_scratch_##scratch,          \
                   sk_fast_run_##fast, sk_fast_plan_##fast, inplace},
    SK_OPS_ALL(SK_X_ROW)
#undef SK_X_ROW
};

const sk_op_info *sk_op_get(sk_op op)
{
    if ((int)op <= SK_OP_NONE || op >= SK_OP_COUNT)
        return NULL;
    return &op_table[op];
}

const char *sk_op_name(sk_op op)
{
    const sk_op_info *i = sk_op_get(op);
    return i ? i->name : "(invalid)";
}

sk_op sk_op_from_name(const char *name)
{
    /* Fused ops (created by passes) share no ONNX name; a linear scan over
     * ~60 names at load time is cheaper than any table to maintain. */
    for (int op = SK_OP_NONE + 1; op < SK_OP_COUNT; op++)
        if (strcmp(op_table[op].name, name) == 0 && name[0] != '_')
            return (sk_op)op;
    return SK_OP_NONE;
}

const char *sk_op_domain(sk_op op)
{
    switch (op) {
#define SK_X_MS(e, ...) case SK_OP_##e:
        SK_OPS_MS(SK_X_MS)
#undef SK_X_MS
        return "com.microsoft";
    default:
        return "";
    }
}

int sk_kfail(sk_kctx *ctx, const sk_node *n, int code, const char *fmt, ...)
{
    if (ctx && ctx->err && ctx->errlen) {
        /* fused ops are named "_ConvFused" so no ONNX name can match them;
         * users read "ConvFused node 'conv1'" */
        const char *op = sk_op_name(n->op);
        int o = snprintf(ctx->err, ctx->errlen, "%s node '%s': ", op + (op[0] == '_'),
                         n->name ? n->name : "");
        if (o < 0)
            o = 0;
        if ((size_t)o < ctx->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ctx->err + o, ctx->errlen - (size_t)o, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}
