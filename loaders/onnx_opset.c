/* onnx_opset.c — rewrite older ONNX opset forms into the canonical (newest)
 * forms that kernels implement (see engine/ops.h).
 *
 * Most changes between opsets moved an attribute to an input: those become
 * constant inputs here, so a kernel has one code path. Where the meaning
 * changed (Upsample and Resize-10 coordinates, legacy broadcasting) the
 * rewrite spells the old meaning out in the new form. Softmax/LogSoftmax < 13
 * keep their opset: the kernel reads node->opset for the 2-D coercion. */
#include <stdlib.h>
#include <string.h>

#include "loaders/onnx_internal.h"

#define SK_CANONICAL_OPSET 13

static int oom(char *err, size_t errlen)
{
    return sk_errf(err, errlen, SK_ENOMEM, "out of memory");
}

static const char *nname(const sk_graph *g, int ni)
{
    const char *s = g->nodes[ni].name;
    return s && *s ? s : "?";
}

/* ints attribute `attr` -> int64 [n] constant in input `slot`. */
static int ints_to_input(sk_graph *g, int ni, const char *attr, int slot, char *err,
                         size_t errlen)
{
    const int64_t *v;
    int n = sk_attr_ints(&g->nodes[ni], attr, &v);
    if (n < 0)
        return 0;
    if (slot < g->nodes[ni].nin && g->nodes[ni].in[slot] >= 0) {
        sk_node_remove_attr(g, ni, attr); /* an explicit input wins */
        return 0;
    }
    sk_shape s = {.rank = 1, .dim = {n}};
    int id = sk_graph_add_const(g, NULL, SK_I64, &s, v);
    if (id < 0 || sk_node_set_input(g, ni, slot, id) < 0)
        return oom(err, errlen);
    sk_node_remove_attr(g, ni, attr);
    return 0;
}

/* float attribute -> float32 scalar constant in input `slot`. */
static int float_to_input(sk_graph *g, int ni, const char *attr, int slot, char *err,
                          size_t errlen)
{
    const sk_attr *a = sk_attr_find(&g->nodes[ni], attr);
    if (!a)
        return 0;
    float v = a->type == SK_ATTR_INT ? (float)a->i : a->f;
    sk_shape s = {.rank = 0};
    int id = sk_graph_add_const(g, NULL, SK_F32, &s, &v);
    if (id < 0 || sk_node_set_input(g, ni, slot, id) < 0)
        return oom(err, errlen);
    sk_node_remove_attr(g, ni, attr);
    return 0;
}

static int floats_to_input(sk_graph *g, int ni, const char *attr, int slot, char *err,
                           size_t errlen)
{
    const float *v;
    int n = sk_attr_floats(&g->nodes[ni], attr, &v);
    if (n < 0)
        return 0;
    sk_shape s = {.rank = 1, .dim = {n}};
    int id = sk_graph_add_const(g, NULL, SK_F32, &s, v);
    if (id < 0 || sk_node_set_input(g, ni, slot, id) < 0)
        return oom(err, errlen);
    sk_node_remove_attr(g, ni, attr);
    return 0;
}

/* Rank of a value when it is known at load time (declared input, constant). */
static int known_rank(const sk_graph *g, int id)
{
    if (id < 0)
        return -1;
    const sk_value *v = &g->values[id];
    if (v->data)
        return v->shape.rank;
    for (int i = 0; i < g->ninputs; i++)
        if (g->inputs[i] == id)
            return v->shape.rank;
    return -1;
}

/* Opset < 7 binary ops: broadcast=1 with `axis` aligns B's dims at `axis` of
 * A instead of at the end (numpy). Append 1-dims to B to make it numpy. */
static int legacy_broadcast(sk_graph *g, int ni, char *err, size_t errlen)
{
    const sk_attr *ab = sk_attr_find(&g->nodes[ni], "broadcast");
    const sk_attr *ax = sk_attr_find(&g->nodes[ni], "axis");
    int64_t bc = ab ? ab->i : 0;
    int has_axis = ax != NULL;
    int64_t axis = ax ? ax->i : 0;
    sk_node_remove_attr(g, ni, "broadcast");
    sk_node_remove_attr(g, ni, "axis");
    if (!bc || !has_axis || g->nodes[ni].nin != 2)
        return 0;
    int ra = known_rank(g, g->nodes[ni].in[0]);
    int rb = known_rank(g, g->nodes[ni].in[1]);
    if (ra < 0 || rb < 0)
        return sk_errf(err, errlen, SK_EUNSUPPORTED,
                       "%s '%s' (opset < 7): broadcast with axis needs inputs of known rank",
                       sk_op_name(g->nodes[ni].op), nname(g, ni));
    if (axis < 0)
        axis += ra;
    int64_t trailing = (int64_t)ra - axis - rb;
    if (axis < 0 || trailing < 0)
        return sk_errf(err, errlen, SK_ESHAPE, "%s '%s': broadcast axis %lld does not fit",
                       sk_op_name(g->nodes[ni].op), nname(g, ni), (long long)axis);
    if (trailing == 0)
        return 0;
    int64_t axes[SK_MAX_RANK];
    for (int64_t k = 0; k < trailing && k < SK_MAX_RANK; k++)
        axes[k] = rb + k;
    sk_shape s = {.rank = 1, .dim = {trailing}};
    int axes_id = sk_graph_add_const(g, NULL, SK_I64, &s, axes);
    char name[300];
    snprintf(name, sizeof name, "%s#bcast", nname(g, ni));
    int out = sk_graph_value(g, name);
    if (axes_id < 0 || out < 0)
        return oom(err, errlen);
    int in[2] = {g->nodes[ni].in[1], axes_id};
    int un = sk_graph_add_node(g, SK_OP_UNSQUEEZE, name, 2, in, 1, &out);
    if (un < 0)
        return oom(err, errlen);
    g->nodes[un].opset = SK_CANONICAL_OPSET;
    return sk_node_set_input(g, ni, 1, out) < 0 ? oom(err, errlen) : 0;
}

/* Cast < 6 names the target type with a string. */
static int cast_to_string(sk_graph *g, int ni, char *err, size_t errlen)
{
    const sk_attr *a = sk_attr_find(&g->nodes[ni], "to");
    if (!a || a->type != SK_ATTR_STRING)
        return 0;
    static const char *names[] = {"UNDEFINED", "FLOAT",  "UINT8", "INT8",    "UINT16", "INT16",
                                  "INT32",     "INT64",  "STRING", "BOOL",   "FLOAT16", "DOUBLE"};
    int to = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(a->s, names[i]) == 0)
            to = i;
    if (to < 0)
        return sk_errf(err, errlen, SK_EUNSUPPORTED, "Cast '%s': unknown type '%s'",
                       nname(g, ni), a->s);
    sk_node_remove_attr(g, ni, "to");
    return sk_node_set_int(g, ni, "to", to) < 0 ? oom(err, errlen) : 0;
}

/* Upsample (any version) and Resize-10 -> Resize-13 with the coordinate
 * mapping they used: x_in = x_out / scale ("asymmetric"); nearest takes the
 * floor when up-sampling and the ceiling when down-sampling (what
 * onnxruntime and the Resize-10 backend tests do), decided per axis by the
 * kernel for opset < 11. */
static int to_resize13(sk_graph *g, int ni, int from_upsample, char *err, size_t errlen)
{
    sk_node *n = &g->nodes[ni];
    int rc = 0;
    if (from_upsample && sk_attr_find(n, "height_scale")) {
        /* Upsample-1: NCHW only, separate scale attributes */
        float s[4] = {1, 1, sk_attr_float(n, "height_scale", 1), sk_attr_float(n, "width_scale", 1)};
        sk_shape sh = {.rank = 1, .dim = {4}};
        int id = sk_graph_add_const(g, NULL, SK_F32, &sh, s);
        if (id < 0 || sk_node_set_input(g, ni, 1, id) < 0)
            return oom(err, errlen);
        sk_node_remove_attr(g, ni, "height_scale");
        sk_node_remove_attr(g, ni, "width_scale");
    } else if (from_upsample && sk_attr_find(n, "scales")) {
        rc = floats_to_input(g, ni, "scales", 1, err, errlen);
        if (rc < 0)
            return rc;
    }
    n = &g->nodes[ni];
    if (n->nin < 2 || n->in[1] < 0)
        return sk_errf(err, errlen, SK_EFORMAT, "%s '%s' has no scales", from_upsample ? "Upsample" : "Resize", nname(g, ni));
    int scales = n->in[1];
    /* (X, scales) -> (X, roi = none, scales) */
    if (sk_node_set_input(g, ni, 2, scales) < 0 || sk_node_set_input(g, ni, 1, -1) < 0)
        return oom(err, errlen);
    const char *mode = sk_attr_str(&g->nodes[ni], "mode", "nearest");
    int linear = strcmp(mode, "linear") == 0 || strcmp(mode, "bilinear") == 0;
    if (!linear && strcmp(mode, "nearest") != 0)
        return sk_errf(err, errlen, SK_EUNSUPPORTED, "%s '%s': mode '%s' is not supported",
                       from_upsample ? "Upsample" : "Resize", nname(g, ni), mode);
    sk_node_remove_attr(g, ni, "mode");
    if (sk_node_set_string(g, ni, "mode", linear ? "linear" : "nearest") < 0 ||
        sk_node_set_string(g, ni, "coordinate_transformation_mode", "asymmetric") < 0)
        return oom(err, errlen);
    g->nodes[ni].op = SK_OP_RESIZE;
    /* Nearest keeps opset 10 and no nearest_mode: the Resize kernel then
     * rounds per axis (floor when that axis grows, ceil when it shrinks),
     * which also covers scales known only at run time and mixed up/down. */
    g->nodes[ni].opset = linear ? SK_CANONICAL_OPSET : 10;
    return 0;
}

int sk_onnx_canonicalize(sk_graph *g, int ni, int opset, char *err, size_t errlen)
{
    sk_op op = g->nodes[ni].op;
    int rc = 0;
    if (opset < 6)
        sk_node_remove_attr(g, ni, "consumed_inputs");
    switch (op) {
    case SK_OP_ADD:
    case SK_OP_SUB:
    case SK_OP_MUL:
    case SK_OP_DIV:
    case SK_OP_POW:
    case SK_OP_EQUAL:
        if (opset < 7)
            rc = legacy_broadcast(g, ni, err, errlen);
        break;
    case SK_OP_GEMM:
        if (opset < 7)
            sk_node_remove_attr(g, ni, "broadcast"); /* numpy broadcasting is a superset */
        break;
    case SK_OP_CLIP:
        if (opset < 11) {
            rc = float_to_input(g, ni, "min", 1, err, errlen);
            if (rc == 0)
                rc = float_to_input(g, ni, "max", 2, err, errlen);
        }
        break;
    case SK_OP_SPLIT:
        if (opset < 13)
            rc = ints_to_input(g, ni, "split", 1, err, errlen);
        break;
    case SK_OP_SQUEEZE:
    case SK_OP_UNSQUEEZE:
        if (opset < 13)
            rc = ints_to_input(g, ni, "axes", 1, err, errlen);
        break;
    case SK_OP_REDUCE_SUM:
        if (opset < 13)
            rc = ints_to_input(g, ni, "axes", 1, err, errlen);
        break;
    case SK_OP_REDUCE_MEAN:
    case SK_OP_REDUCE_MAX:
        if (opset < 18)
            rc = ints_to_input(g, ni, "axes", 1, err, errlen);
        break;
    case SK_OP_PAD:
        if (opset < 11) {
            rc = ints_to_input(g, ni, "pads", 1, err, errlen);
            if (rc == 0)
                rc = ints_to_input(g, ni, "paddings", 1, err, errlen); /* Pad-1 */
            if (rc == 0)
                rc = float_to_input(g, ni, "value", 2, err, errlen);
        }
        break;
    case SK_OP_RESHAPE:
        if (opset < 5)
            rc = ints_to_input(g, ni, "shape", 1, err, errlen);
        break;
    case SK_OP_SLICE:
        if (opset < 10) {
            rc = ints_to_input(g, ni, "starts", 1, err, errlen);
            if (rc == 0)
                rc = ints_to_input(g, ni, "ends", 2, err, errlen);
            if (rc == 0)
                rc = ints_to_input(g, ni, "axes", 3, err, errlen);
        }
        break;
    case SK_OP_CONCAT:
        if (opset < 4 && !sk_attr_find(&g->nodes[ni], "axis"))
            rc = sk_node_set_int(g, ni, "axis", 1) < 0 ? oom(err, errlen) : 0;
        break;
    case SK_OP_CAST:
        if (opset < 6)
            rc = cast_to_string(g, ni, err, errlen);
        break;
    case SK_OP_DROPOUT:
        if (opset < 12) {
            sk_node_remove_attr(g, ni, "ratio"); /* inference: identity */
            sk_node_remove_attr(g, ni, "is_test");
        }
        break;
    case SK_OP_BATCH_NORM:
        if (opset < 9) {
            if (sk_attr_int(&g->nodes[ni], "spatial", 1) == 0)
                return sk_errf(err, errlen, SK_EUNSUPPORTED,
                               "BatchNormalization '%s': spatial=0 is not supported",
                               nname(g, ni));
            sk_node_remove_attr(g, ni, "spatial");
            sk_node_remove_attr(g, ni, "is_test");
        }
        break;
    case SK_OP_RESIZE:
        if (opset < 11)
            rc = to_resize13(g, ni, 0, err, errlen);
        break;
    default:
        break;
    }
    return rc;
}

/* Upsample has no enum of its own: the loader maps it here. */
int sk_onnx_upsample(sk_graph *g, int ni, char *err, size_t errlen)
{
    return to_resize13(g, ni, 1, err, errlen);
}
