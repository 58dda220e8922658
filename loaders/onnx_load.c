/* onnx_load.c — ONNX ModelProto -> engine graph.
 *
 * Order: decode the protobuf, list every unsupported op (one message), import
 * initializers (constants), graph inputs, nodes (Constant nodes become
 * constant values, other nodes are rewritten to canonical form by
 * onnx_opset.c), graph outputs; validate; free the protobuf. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loaders/onnx.h"
#include "loaders/onnx_internal.h"

typedef struct loader {
    const Onnx__GraphProto *gp;
    sk_graph *g;
    sk_ext_ctx ext;
    int64_t ir;
    int opset;
    Onnx__OperatorSetIdProto *const *ops; /* the model's opset_import */
    size_t nops;
    const char **used; /* sorted: names read by a node or a graph output */
    size_t nused;
    const char **inits; /* sorted: initializer names */
    size_t ninits;
    const char **outs; /* sorted: graph output names */
    size_t nouts;
    int nanon; /* counter for generated names */
    /* float16 / bfloat16 graph inputs: node inputs reading value half_from[i]
     * read half_to[i] (the input rounded to the half type) instead */
    int *half_from, *half_to;
    int nhalf;
    struct named_type *types; /* declared element types, for CastLike */
    size_t ntypes;
    const sk_skel *skel; /* NULL: every initializer's bytes are in the protobuf */
    const sk_src *src;   /* where the skeleton's payloads are */
    char *err;
    size_t errlen;
} loader;

/* --- small helpers ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int in_set(const char **set, size_t n, const char *name)
{
    return n && name && bsearch(&name, set, n, sizeof *set, cmp_str) != NULL;
}

static int is_default_domain(const char *d)
{
    return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

/* Growing string for the unsupported-op list. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed;
} strbuf;

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf *b, const char *fmt, ...)
{
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof tmp)
        n = (int)sizeof tmp - 1;
    size_t need = b->len + (size_t)n + 1;
    if (need > b->cap) {
        size_t cap = need * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, tmp, (size_t)n + 1);
    b->len += (size_t)n;
}

/* The model's opset_import version of a non-default domain (0: none). */
static int domain_opset(const loader *L, const char *dom)
{
    for (size_t i = 0; i < L->nops; i++)
        if (L->ops[i]->domain && strcmp(L->ops[i]->domain, dom) == 0 && L->ops[i]->has_version)
            return (int)L->ops[i]->version;
    return 0;
}

static const char *node_label(const Onnx__NodeProto *np, size_t i, char *buf, size_t len)
{
    if (np->name && *np->name)
        return np->name;
    snprintf(buf, len, "#%zu", i);
    return buf;
}

/* --- unsupported ops, all at once --------------------------------------- */

/* What to do about an op skipserve does not run, for the few that users
 * meet with quantized / half models. */
static const char *op_hint(const char *op, const char *domain)
{
    static const struct {
        const char *op, *hint;
    } hints[] = {
        {"QGemm", "quantize Gemm in QDQ form, or keep it float32"},
        {"DynamicQuantizeMatMul", "save the model before onnxruntime's graph optimizations"},
        {"MatMulIntegerToFloat", "save the model before onnxruntime's graph optimizations"},
        {"QLinearSoftmax", "keep Softmax float32 (op_types_to_quantize)"},
        {"QLinearWhere", "keep Where float32"},
        {"QuantizeBFP", "use int8/uint8 QuantizeLinear"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++)
        if (strcmp(op, hints[i].op) == 0)
            return hints[i].hint;
    if (!is_default_domain(domain) && strcmp(domain, "com.microsoft") != 0)
        return "custom domains are not supported";
    return NULL;
}

static int check_ops(loader *L)
{
    strbuf b = {0};
    int count = 0;
    for (size_t i = 0; i < L->gp->n_node; i++) {
        const Onnx__NodeProto *np = L->gp->node[i];
        const char *op = np->op_type ? np->op_type : "";
        const char *dom = np->domain ? np->domain : "";
        char lbl[32];
        const char *name = node_label(np, i, lbl, sizeof lbl);
        const char *sep = count ? ", " : "";
        sk_op k = sk_op_from_name(op);
        int ok;
        if (is_default_domain(dom))
            ok = strcmp(op, "Constant") == 0 || strcmp(op, "Upsample") == 0 ||
                 (k != SK_OP_NONE && !*sk_op_domain(k));
        else
            ok = k != SK_OP_NONE && strcmp(sk_op_domain(k), dom) == 0;
        if (ok)
            continue;
        const char *hint = op_hint(op, dom);
        if (is_default_domain(dom))
            sb_printf(&b, "%s%s (node '%s', opset %d%s%s)", sep, op, name, L->opset,
                      hint ? ": " : "", hint ? hint : "");
        else {
            char ver[32] = "";
            if (domain_opset(L, dom) > 0)
                snprintf(ver, sizeof ver, ", opset %d", domain_opset(L, dom));
            sb_printf(&b, "%s%s (node '%s', domain '%s'%s%s%s)", sep, op, name, dom, ver,
                      hint ? ": " : "", hint ? hint : "");
        }
        count++;
    }
    if (!count)
        return 0;
    int rc = sk_errf(L->err, L->errlen, SK_EUNSUPPORTED, "unsupported op%s: %s",
                     count > 1 ? "s" : "", b.s && !b.failed ? b.s : "(out of memory)");
    free(b.s);
    return rc;
}

/* --- name sets -------------------------------------------------------------- */

static int build_sets(loader *L)
{
    const Onnx__GraphProto *gp = L->gp;
    size_t nused = gp->n_output;
    for (size_t i = 0; i < gp->n_node; i++)
        nused += gp->node[i]->n_input;
    L->used = malloc((nused ? nused : 1) * sizeof *L->used);
    L->inits = malloc((gp->n_initializer ? gp->n_initializer : 1) * sizeof *L->inits);
    L->outs = malloc((gp->n_output ? gp->n_output : 1) * sizeof *L->outs);
    if (!L->used || !L->inits || !L->outs)
        return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    for (size_t i = 0; i < gp->n_node; i++)
        for (size_t k = 0; k < gp->node[i]->n_input; k++)
            L->used[L->nused++] = gp->node[i]->input[k];
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *nm = gp->output[i]->name ? gp->output[i]->name : "";
        L->used[L->nused++] = nm;
        L->outs[L->nouts++] = nm;
    }
    for (size_t i = 0; i < gp->n_initializer; i++)
        L->inits[L->ninits++] = gp->initializer[i]->name ? gp->initializer[i]->name : "";
    qsort(L->used, L->nused, sizeof *L->used, cmp_str);
    qsort(L->inits, L->ninits, sizeof *L->inits, cmp_str);
    qsort(L->outs, L->nouts, sizeof *L->outs, cmp_str);
    for (size_t i = 1; i < L->ninits; i++)
        if (strcmp(L->inits[i - 1], L->inits[i]) == 0)
            return sk_errf(L->err, L->errlen, SK_EFORMAT, "initializer '%s' is defined twice",
                           L->inits[i]);
    return 0;
}

/* --- constants ---------------------------------------------------------------- */

/* Give value `name` the constant `t`. A constant that is also a graph output
 * is stored under a hidden name and copied out by an Identity node, so every
 * graph output is produced by a node. Takes ownership of t->data (owned=1)
 * in every case. */
static int define_const(loader *L, const char *name, sk_tensor *t, int owned)
{
    sk_graph *g = L->g;
    int rc;
    int id = sk_graph_find(g, name);
    int taken = 0;
    for (int i = 0; id >= 0 && i < g->ninputs; i++)
        taken |= g->inputs[i] == id;
    if (id >= 0 && (taken || g->values[id].data || g->values[id].producer >= 0)) {
        rc = sk_errf(L->err, L->errlen, SK_EFORMAT, "value '%s' is defined twice", name);
        goto fail;
    }
    int as_output = in_set(L->outs, L->nouts, name);
    char hidden[300];
    const char *cname = name;
    if (as_output) {
        snprintf(hidden, sizeof hidden, "%s#const", name);
        cname = hidden;
    }
    id = sk_graph_value(g, cname);
    if (id < 0) {
        rc = sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
        goto fail;
    }
    rc = sk_graph_set_const(g, id, t->dtype, &t->shape, t->data, owned);
    if (rc < 0) {
        sk_errf(L->err, L->errlen, rc, "cannot store constant '%s'", name);
        goto fail;
    }
    if (as_output) {
        int out = sk_graph_value(g, name);
        if (out < 0 || sk_graph_add_node(g, SK_OP_IDENTITY, name, 1, &id, 1, &out) < 0)
            return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    }
    return 0;
fail:
    if (owned)
        sk_free(t->data);
    return rc;
}

static int import_initializers(loader *L)
{
    const Onnx__GraphProto *gp = L->gp;
    if (gp->n_sparse_initializer)
        return sk_errf(L->err, L->errlen, SK_EUNSUPPORTED, "sparse initializers are not supported");
    size_t nraw = 0;
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        const char *name = tp->name ? tp->name : "";
        if (!*name)
            return sk_errf(L->err, L->errlen, SK_EFORMAT, "initializer #%zu has no name", i);
        char what[300];
        snprintf(what, sizeof what, "initializer '%s'", name);
        sk_tensor t;
        int owned;
        /* a payload the skeleton left in the file: read straight into t */
        sk_raw_ref ref;
        if (L->skel && nraw < L->skel->nraw && L->skel->raw[nraw].init == i) {
            const sk_skel_raw *r = &L->skel->raw[nraw++];
            ref = (sk_raw_ref){L->src, r->off, r->len};
            L->ext.raw = &ref;
        }
        int rc = sk_onnx_tensor_decode(tp, &L->ext, what, &t, &owned, L->err, L->errlen);
        L->ext.raw = NULL;
        if (rc < 0)
            return rc;
        rc = define_const(L, name, &t, owned);
        if (rc < 0)
            return rc;
        /* The bytes are copied: give the protobuf's buffer back now, so a
         * large model's weights are not held twice while loading (a
         * buffer the skeleton did not leave in the file). The protobuf is
         * ours (unpacked by this load) and uses malloc. */
        if (tp->has_raw_data && tp->raw_data.data) {
            Onnx__TensorProto *mt = (Onnx__TensorProto *)tp;
            free(mt->raw_data.data);
            mt->raw_data.data = NULL;
            mt->raw_data.len = 0;
            mt->has_raw_data = 0;
        }
    }
    return 0;
}

/* Constant node -> constant value (no node). */
static int import_constant(loader *L, const Onnx__NodeProto *np, const char *label)
{
    if (np->n_output != 1 || !np->output[0] || !*np->output[0])
        return sk_errf(L->err, L->errlen, SK_EFORMAT, "Constant node '%s' needs one output",
                       label);
    if (np->n_attribute != 1)
        return sk_errf(L->err, L->errlen, SK_EFORMAT,
                       "Constant node '%s' needs exactly one value attribute", label);
    const Onnx__AttributeProto *a = np->attribute[0];
    const char *an = a->name ? a->name : "";
    char what[300];
    snprintf(what, sizeof what, "Constant node '%s'", label);
    sk_tensor t = {0};
    int owned = 1;
    size_t n = 0;
    if (strcmp(an, "value") == 0 && a->t) {
        int rc = sk_onnx_tensor_decode(a->t, &L->ext, what, &t, &owned, L->err, L->errlen);
        if (rc < 0)
            return rc;
        return define_const(L, np->output[0], &t, owned);
    }
    if (strcmp(an, "value_float") == 0 || strcmp(an, "value_int") == 0) {
        t.shape.rank = 0;
        n = 1;
    } else if (strcmp(an, "value_floats") == 0) {
        n = a->n_floats;
    } else if (strcmp(an, "value_ints") == 0) {
        n = a->n_ints;
    } else {
        return sk_errf(L->err, L->errlen, SK_EUNSUPPORTED,
                       "Constant node '%s': attribute '%s' is not supported", label, an);
    }
    if (n > SK_MAX_NUMEL)
        return sk_errf(L->err, L->errlen, SK_EFORMAT, "%s is too large", what);
    int is_float = strncmp(an, "value_float", 11) == 0;
    if (strcmp(an, "value_floats") == 0 || strcmp(an, "value_ints") == 0) {
        t.shape.rank = 1;
        t.shape.dim[0] = (int64_t)n;
    }
    t.dtype = is_float ? SK_F32 : SK_I64;
    t.data = sk_alloc(n ? n * 8 : 1);
    if (!t.data)
        return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    if (strcmp(an, "value_float") == 0)
        *(float *)t.data = a->f;
    else if (strcmp(an, "value_int") == 0)
        *(int64_t *)t.data = a->i;
    else if (is_float && n)
        memcpy(t.data, a->floats, n * sizeof(float));
    else if (n)
        memcpy(t.data, a->ints, n * sizeof(int64_t));
    return define_const(L, np->output[0], &t, 1);
}

/* --- graph inputs ------------------------------------------------------------- */

/* A float16 / bfloat16 graph input is a float32 input (what the server's
 * preprocessing and every kernel use) followed by a Cast to the half type,
 * which rounds the fed values as a client casting to float16 would; the
 * graph's nodes read the rounded value. */
static int half_input(loader *L, int id, int et)
{
    sk_graph *g = L->g;
    char nm[300];
    snprintf(nm, sizeof nm, "%s#%s", g->values[id].name, sk_onnx_dtype_name(et));
    int r = sk_graph_value(g, nm);
    int *f = realloc(L->half_from, (size_t)(L->nhalf + 1) * sizeof *f);
    if (f)
        L->half_from = f;
    int *t = realloc(L->half_to, (size_t)(L->nhalf + 1) * sizeof *t);
    if (t)
        L->half_to = t;
    if (r < 0 || !f || !t)
        return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    int ni = sk_graph_add_node(g, SK_OP_CAST, nm, 1, &id, 1, &r);
    if (ni < 0 || sk_node_set_int(g, ni, "to", et) < 0)
        return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    g->nodes[ni].opset = 13;
    g->values[id].dtype = SK_F32;
    L->half_from[L->nhalf] = id;
    L->half_to[L->nhalf++] = r;
    return 0;
}

static int import_inputs(loader *L)
{
    const Onnx__GraphProto *gp = L->gp;
    sk_graph *g = L->g;
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        const char *name = vi->name ? vi->name : "";
        /* IR < 4 lists every initializer as a graph input too; in later IRs
         * such an input is an overridable default. Either way a server
         * treats it as a weight. */
        if (in_set(L->inits, L->ninits, name))
            continue;
        if (!*name)
            return sk_errf(L->err, L->errlen, SK_EFORMAT, "graph input #%zu has no name", i);
        const Onnx__TypeProto *tp = vi->type;
        if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
            return sk_errf(L->err, L->errlen, SK_EUNSUPPORTED,
                           "graph input '%s' is not a tensor", name);
        const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
        int et = tt->has_elem_type ? tt->elem_type : 0;
        if (!sk_dtype_supported(et))
            return sk_errf(L->err, L->errlen, SK_EUNSUPPORTED,
                           "graph input '%s' has dtype %s, which is not supported", name,
                           sk_onnx_dtype_name(et));
        sk_shape s = {.rank = -1};
        if (tt->shape) {
            const Onnx__TensorShapeProto *sp = tt->shape;
            if (sp->n_dim > SK_MAX_RANK)
                return sk_errf(L->err, L->errlen, SK_EUNSUPPORTED,
                               "graph input '%s' has rank %zu; the most is %d", name, sp->n_dim,
                               SK_MAX_RANK);
            s.rank = (int)sp->n_dim;
            int64_t prod = 1;
            for (size_t k = 0; k < sp->n_dim; k++) {
                const Onnx__TensorShapeProto__Dimension *d = sp->dim[k];
                if (d->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
                    s.dim[k] = SK_DIM_SYMBOLIC;
                    continue;
                }
                int64_t v = d->dim_value;
                if (v < 0)
                    return sk_errf(L->err, L->errlen, SK_EFORMAT,
                                   "graph input '%s' has a negative dimension (%lld)", name,
                                   (long long)v);
                if (v > SK_MAX_NUMEL)
                    return sk_errf(L->err, L->errlen, SK_EFORMAT,
                                   "graph input '%s' has an absurd dimension (%lld)", name,
                                   (long long)v);
                if (v && prod > SK_MAX_NUMEL / v)
                    return sk_errf(L->err, L->errlen, SK_EFORMAT,
                                   "graph input '%s': the product of its dimensions overflows "
                                   "(more than 2^40 elements)",
                                   name);
                prod *= v;
                s.dim[k] = v;
            }
        }
        int id = sk_graph_find(g, name);
        if (id >= 0)
            return sk_errf(L->err, L->errlen, SK_EFORMAT, "graph input '%s' is listed twice",
                           name);
        id = sk_graph_value(g, name);
        if (id < 0 || sk_graph_add_input(g, id) < 0)
            return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
        g->values[id].dtype = (sk_dtype)et;
        g->values[id].shape = s;
        if (et == SK_F16 || et == SK_BF16) {
            int rc = half_input(L, id, et);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* --- nodes ---------------------------------------------------------------------- */

static const char *attr_type_name(int t)
{
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: return "strings";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "graph";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return "graphs";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return "tensors";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return "sparse tensor";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS: return "sparse tensors";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: return "type";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS: return "types";
    default: return "unknown";
    }
}

/* Old writers leave AttributeProto.type unset: guess it from the field set. */
static int attr_type(const Onnx__AttributeProto *a)
{
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED)
        return a->type;
    if (a->has_f)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (a->has_i)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (a->has_s)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (a->t)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (a->g)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (a->n_floats)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (a->n_ints)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (a->n_strings)
        return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS; /* an empty list */
}

static int import_attr(loader *L, int ni, const Onnx__AttributeProto *a, const char *op,
                       const char *label)
{
    sk_graph *g = L->g;
    const char *an = a->name ? a->name : "";
    int rc = 0;
    switch (attr_type(a)) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: rc = sk_node_set_float(g, ni, an, a->f); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: rc = sk_node_set_int(g, ni, an, a->i); break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
        /* bytes, not NUL-terminated */
        char *s = malloc(a->s.len + 1);
        if (!s)
            return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
        if (a->s.len)
            memcpy(s, a->s.data, a->s.len);
        s[a->s.len] = 0;
        rc = sk_node_set_string(g, ni, an, s);
        free(s);
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        if (a->n_ints > (size_t)1 << 30)
            return sk_errf(L->err, L->errlen, SK_EFORMAT, "%s '%s': attribute '%s' is too long",
                           op, label, an);
        rc = sk_node_set_ints(g, ni, an, a->ints, (int)a->n_ints);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        if (a->n_floats > (size_t)1 << 30)
            return sk_errf(L->err, L->errlen, SK_EFORMAT, "%s '%s': attribute '%s' is too long",
                           op, label, an);
        rc = sk_node_set_floats(g, ni, an, a->floats, (int)a->n_floats);
        break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        char what[300];
        snprintf(what, sizeof what, "%s '%s' attribute '%s'", op, label, an);
        sk_tensor t;
        int owned;
        if (!a->t) /* the type says TENSOR, the field is absent */
            return sk_errf(L->err, L->errlen, SK_EFORMAT,
                           "%s '%s': attribute '%s' is of type tensor but holds none", op, label,
                           an);
        rc = sk_onnx_tensor_decode(a->t, &L->ext, what, &t, &owned, L->err, L->errlen);
        if (rc < 0)
            return rc;
        rc = sk_node_set_tensor(g, ni, an, &t);
        if (owned)
            sk_free(t.data);
        break;
    }
    default:
        return sk_errf(L->err, L->errlen, SK_EUNSUPPORTED,
                       "%s '%s': attribute '%s' of type %s is not supported", op, label, an,
                       attr_type_name(attr_type(a)));
    }
    if (rc < 0)
        return sk_errf(L->err, L->errlen, rc, "%s '%s': cannot store attribute '%s'", op, label,
                       an);
    return 0;
}

/* Optional outputs nobody reads (BatchNorm's training statistics, Dropout's
 * mask) are dropped so kernels only compute what inference needs. */
static int trim_unused_outputs(sk_op op)
{
    return op == SK_OP_BATCH_NORM || op == SK_OP_DROPOUT;
}

static int vi_type(const Onnx__ValueInfoProto *vi)
{
    const Onnx__TypeProto *tp = vi->type;
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type &&
        tp->tensor_type->has_elem_type)
        return tp->tensor_type->elem_type;
    return 0;
}

/* The ONNX element types the model declares: graph inputs/outputs,
 * value_info, initializers, and the outputs of Cast and Constant nodes —
 * what a CastLike target can be known by without type inference. Built once
 * (on the first CastLike) and searched by name, so a model of many CastLike
 * nodes costs n log n, not n^2. */
typedef struct named_type {
    const char *name;
    int type;
} named_type;

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const named_type *)a)->name, ((const named_type *)b)->name);
}

static int build_types(loader *L)
{
    const Onnx__GraphProto *gp = L->gp;
    size_t cap = gp->n_initializer + gp->n_input + gp->n_output + gp->n_value_info + gp->n_node;
    named_type *t = malloc((cap ? cap : 1) * sizeof *t);
    if (!t)
        return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < gp->n_initializer; i++)
        if (gp->initializer[i]->name)
            t[n++] = (named_type){gp->initializer[i]->name, gp->initializer[i]->data_type};
    const Onnx__ValueInfoProto *const *lists[3] = {(const Onnx__ValueInfoProto *const *)gp->input,
                                                   (const Onnx__ValueInfoProto *const *)gp->output,
                                                   (const Onnx__ValueInfoProto *const *)gp->value_info};
    size_t counts[3] = {gp->n_input, gp->n_output, gp->n_value_info};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++)
            if (lists[l][i]->name && vi_type(lists[l][i]))
                t[n++] = (named_type){lists[l][i]->name, vi_type(lists[l][i])};
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        if (np->n_output < 1 || !np->output[0] || !np->op_type)
            continue;
        for (size_t k = 0; k < np->n_attribute; k++) {
            const Onnx__AttributeProto *a = np->attribute[k];
            if (!a->name)
                continue;
            if (!strcmp(np->op_type, "Cast") && !strcmp(a->name, "to") && a->has_i)
                t[n++] = (named_type){np->output[0], (int)a->i};
            else if (!strcmp(np->op_type, "Constant") && !strcmp(a->name, "value") && a->t)
                t[n++] = (named_type){np->output[0], a->t->data_type};
            else
                continue;
            break;
        }
    }
    qsort(t, n, sizeof *t, cmp_named);
    L->types = t;
    L->ntypes = n;
    return 0;
}

/* The declared ONNX element type of `name`, 0 when unknown (<0: no memory). */
static int declared_type(loader *L, const char *name)
{
    if (!L->types) {
        int rc = build_types(L);
        if (rc < 0)
            return rc;
    }
    named_type key = {name, 0};
    const named_type *f = bsearch(&key, L->types, L->ntypes, sizeof key, cmp_named);
    return f ? f->type : 0;
}

/* CastLike whose target type the model declares -> Cast(to = that type), so
 * a float16 target rounds like a Cast to float16 (float16 values are stored
 * as float32, and the target's storage dtype alone would not say so). */
static int castlike_to_cast(loader *L, const Onnx__NodeProto *np, int ni)
{
    if (np->n_input < 2 || !np->input[1])
        return 0;
    int t = declared_type(L, np->input[1]);
    if (t < 0)
        return t;
    if (t == 0 || !sk_dtype_supported(t))
        return 0;
    sk_graph *g = L->g;
    g->nodes[ni].op = SK_OP_CAST;
    g->nodes[ni].nin = 1;
    if (sk_node_set_int(g, ni, "to", t) < 0)
        return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    return 0;
}

static int import_node(loader *L, size_t idx)
{
    const Onnx__NodeProto *np = L->gp->node[idx];
    sk_graph *g = L->g;
    char lblbuf[32];
    const char *label = node_label(np, idx, lblbuf, sizeof lblbuf);
    const char *op_type = np->op_type ? np->op_type : "";
    if (strcmp(op_type, "Constant") == 0)
        return import_constant(L, np, label);
    int upsample = strcmp(op_type, "Upsample") == 0; /* becomes a Resize */
    sk_op op = upsample ? SK_OP_RESIZE : sk_op_from_name(op_type);

    if (np->n_input > 1024 || np->n_output > 1024)
        return sk_errf(L->err, L->errlen, SK_EFORMAT, "%s '%s' has too many inputs or outputs",
                       op_type, label);
    int nin = (int)np->n_input, nout = (int)np->n_output;
    /* Trailing omitted outputs ("") are simply absent. */
    while (nout > 0 && (!np->output[nout - 1] || !*np->output[nout - 1]))
        nout--;
    if (trim_unused_outputs(op))
        while (nout > 1 && !in_set(L->used, L->nused, np->output[nout - 1]))
            nout--;
    if (nout == 0)
        return sk_errf(L->err, L->errlen, SK_EFORMAT, "%s '%s' has no output", op_type, label);
    int *ids = malloc((size_t)(nin + nout + 1) * sizeof *ids);
    if (!ids)
        return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    for (int k = 0; k < nin; k++) {
        const char *nm = np->input[k];
        ids[k] = (!nm || !*nm) ? -1 : sk_graph_value(g, nm);
        if (nm && *nm && ids[k] < 0) {
            free(ids);
            return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
        }
        for (int h = 0; h < L->nhalf; h++)
            if (ids[k] == L->half_from[h])
                ids[k] = L->half_to[h];
    }
    for (int k = 0; k < nout; k++) {
        const char *nm = np->output[k];
        char anon[64];
        if (!nm || !*nm) {
            /* an omitted output in the middle: give it a private name */
            snprintf(anon, sizeof anon, "#unused%d", L->nanon++);
            nm = anon;
        }
        ids[nin + k] = sk_graph_value(g, nm);
        if (ids[nin + k] < 0) {
            free(ids);
            return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
        }
    }
    int ni = sk_graph_add_node(g, op, label, nin, ids, nout, ids + nin);
    free(ids);
    if (ni < 0)
        return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    g->nodes[ni].opset = L->opset;
    for (size_t k = 0; k < np->n_attribute; k++) {
        int rc = import_attr(L, ni, np->attribute[k], op_type, label);
        if (rc < 0)
            return rc;
    }
    if (upsample)
        return sk_onnx_upsample(g, ni, L->err, L->errlen);
    if (op == SK_OP_CAST_LIKE) {
        int rc = castlike_to_cast(L, np, ni);
        if (rc < 0)
            return rc;
    }
    return sk_onnx_canonicalize(g, ni, L->opset, L->err, L->errlen);
}

static int import_outputs(loader *L)
{
    const Onnx__GraphProto *gp = L->gp;
    if (gp->n_output == 0)
        return sk_errf(L->err, L->errlen, SK_EFORMAT, "the graph has no outputs");
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        int id = sk_graph_find(L->g, name);
        if (id < 0)
            return sk_errf(L->err, L->errlen, SK_EFORMAT,
                           "graph output '%s' is not produced by any node", name);
        if (sk_graph_add_output(L->g, id) < 0)
            return sk_errf(L->err, L->errlen, SK_ENOMEM, "out of memory");
    }
    return 0;
}

/* --- entry points ------------------------------------------------------------ */

static int load_model(const Onnx__ModelProto *m, const char *dir, const sk_skel *skel,
                      const sk_src *src, sk_graph **out, char *err, size_t errlen)
{
    if (!m->graph)
        return sk_errf(err, errlen, SK_EFORMAT, "the model has no graph");
    loader L = {.gp = m->graph, .skel = skel, .src = src, .err = err, .errlen = errlen};
    if (skel && skel->nraw && skel->raw[skel->nraw - 1].init >= m->graph->n_initializer)
        return sk_errf(err, errlen, SK_EFORMAT, "initializers changed under the skeleton");
    L.ir = m->has_ir_version ? m->ir_version : 0;
    L.opset = 1; /* the oldest models carry no opset_import */
    L.ops = (Onnx__OperatorSetIdProto *const *)m->opset_import;
    L.nops = m->n_opset_import;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *os = m->opset_import[i];
        if (is_default_domain(os->domain) && os->has_version)
            L.opset = (int)os->version;
    }
    if (L.opset < 1 || L.opset > 1000)
        return sk_errf(err, errlen, SK_EFORMAT, "bad opset version %d", L.opset);
    int rc = check_ops(&L);
    if (rc < 0)
        return rc;
    L.g = sk_graph_new();
    if (!L.g)
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory");
    L.g->opset = L.opset;
    L.ext.dir = dir;
    L.ext.g = L.g;
    rc = build_sets(&L);
    if (rc == 0)
        rc = import_initializers(&L);
    if (rc == 0)
        rc = import_inputs(&L);
    for (size_t i = 0; rc == 0 && i < L.gp->n_node; i++)
        rc = import_node(&L, i);
    if (rc == 0)
        rc = import_outputs(&L);
    if (rc == 0)
        rc = sk_graph_validate(L.g, err, errlen);
    sk_ext_ctx_free(&L.ext);
    free(L.used);
    free(L.half_from);
    free(L.half_to);
    free(L.types);
    free(L.inits);
    free(L.outs);
    if (rc < 0) {
        sk_graph_free(L.g);
        return rc;
    }
    *out = L.g;
    return 0;
}

/* Decode and import. `owned` (may be NULL) is freed as soon as the bytes are
 * decoded, so a file's bytes and its decoded form never both wait for the
 * weights to be copied. */
static int load_bytes(const void *buf, size_t len, void *owned, const char *dir, sk_graph **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(owned);
    if (!m)
        return sk_errf(err, errlen, SK_EFORMAT,
                       "not a valid ONNX model (protobuf decoding failed: truncated or corrupt)");
    int rc = load_model(m, dir, NULL, NULL, out, err, errlen);
    onnx__model_proto__free_unpacked(m, NULL);
    return rc;
}

/* The skeleton's way (onnx_skel.c): unpack the model without its large
 * payloads, read each into its tensor from src. 1: the walk or the
 * skeleton's unpack gave up, nothing was loaded (load the whole bytes:
 * that gives the message). */
static int load_skel(const sk_src *src, const char *dir, sk_graph **out, char *err,
                     size_t errlen)
{
    *out = NULL;
    sk_skel sk;
    int rc = sk_skel_build(src, &sk);
    if (rc == -1)
        return 1;
    if (rc < 0)
        return sk_errf(err, errlen, rc, "out of memory reading the model");
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, sk.len, sk.bytes);
    free(sk.bytes);
    sk.bytes = NULL;
    if (!m) {
        sk_skel_free(&sk);
        return 1;
    }
    rc = load_model(m, dir, &sk, src, out, err, errlen);
    onnx__model_proto__free_unpacked(m, NULL);
    sk_skel_free(&sk);
    return rc;
}

int sk_onnx_load_buffer(const void *buf, size_t len, const char *dir, sk_graph **out, char *err,
                        size_t errlen)
{
    sk_src src = {.fd = -1, .mem = buf, .size = len, .path = "model"};
    int rc = load_skel(&src, dir, out, err, errlen);
    return rc == 1 ? load_bytes(buf, len, NULL, dir, out, err, errlen) : rc;
}

int sk_onnx_load(const char *path, sk_graph **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t msglen = errlen > 64 ? errlen : 64;
    char *dir = strdup(path);
    char *msg = malloc(msglen);
    if (!dir || !msg) {
        free(dir);
        free(msg);
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    const char *mdir = slash ? dir : ".";
    /* The file is read in place (pread, onnx_skel.c) when its structure
     * walks; otherwise, or when it is no regular file, whole as before. */
    int rc = 1, fd = open(path, O_RDONLY);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        sk_src src = {.fd = fd, .size = (uint64_t)st.st_size, .path = path};
        rc = load_skel(&src, mdir, out, msg, msglen);
    }
    if (fd >= 0)
        close(fd);
    if (rc == 1) {
        void *buf;
        size_t len;
        rc = sk_read_file(path, &buf, &len, err, errlen); /* its message names the path */
        if (rc == 0 && (rc = load_bytes(buf, len, buf, mdir, out, msg, msglen)) < 0)
            sk_errf(err, errlen, rc, "%s: %s", path, msg);
    } else if (rc < 0) {
        sk_errf(err, errlen, rc, "%s: %s", path, msg);
    }
    free(msg);
    free(dir);
    return rc;
}
