/* quantize_qdq.c — an FP32 ONNX model rewritten in the QDQ form (the form
 * onnxruntime's static quantizer writes, which ORT and skipserve's int8
 * path both fold into quantized operators):
 *
 *   - weights of Conv / ConvTranspose / Gemm / MatMul (float initializers)
 *     become int8 initializers, symmetric (zero point 0, range -127..127;
 *     -64..64 with --reduce-range),
 *     one scale per output channel (axis 0 for Conv, 1 for ConvTranspose,
 *     0 / 1 for Gemm by transB, the last for MatMul), read through a
 *     DequantizeLinear whose output keeps the weight's name;
 *   - biases become int32 with scale s_x * s_w[c], zero point 0 (the QDQ
 *     convention: QLinearConv's bias), when the op's input is quantized;
 *   - every float activation a quantizable op reads or writes gets a
 *     QuantizeLinear -> DequantizeLinear pair (uint8 asymmetric by default,
 *     int8 with --activations s8), except a Conv/Gemm/MatMul/Add output
 *     read only by a Relu/Clip: that activation fuses into the producer, so
 *     the pair goes after the Relu (as ORT's quantizer does);
 *   - scales are shared (one range, the union of the members') where the
 *     int8 engine then needs no requantization: a residual Add's output
 *     (after its Relu, when fused) and its operands, a Concat's inputs and
 *     output — never mixing a non-negative group with a signed one (see
 *     uf_join) — and the input and output of data-movement ops (MaxPool,
 *     Flatten, Reshape, Transpose, Squeeze, Unsqueeze), which ORT also
 *     wants equal to drop their Q/DQ.
 * The model is edited as protobuf-c structures and packed again, so every
 * other field (opsets, metadata, value_info, other initializers) is kept. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sk.h"
#include "loaders/onnx_internal.h"
#include "tools/quantize.h"

/* A CLI tool: an allocation failure ends it with a message (exit 2). */
static void *xmalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "skipserve-quantize: out of memory\n");
        exit(2);
    }
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "skipserve-quantize: out of memory\n");
        exit(2);
    }
    return q;
}

static char *xfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xfmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* --- protobuf helpers -------------------------------------------------------- */

static Onnx__TensorProto *mk_tensor(char *name, int dtype, const int64_t *dims, int ndims,
                                    const void *data, size_t bytes)
{
    Onnx__TensorProto *t = xmalloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = name;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)ndims;
    t->dims = xmalloc((size_t)(ndims ? ndims : 1) * sizeof *t->dims);
    if (ndims)
        memcpy(t->dims, dims, (size_t)ndims * sizeof *dims);
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = xmalloc(bytes);
    memcpy(t->raw_data.data, data, bytes);
    return t;
}

/* op(in...) -> out, with an "axis" attribute when axis != NO_AXIS. Takes
 * ownership of the strings. */
#define NO_AXIS INT64_MIN
static Onnx__NodeProto *mk_node(const char *op, char *name, char *in0, char *in1, char *in2,
                                char *out, int64_t axis)
{
    Onnx__NodeProto *n = xmalloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = xfmt("%s", op);
    n->name = name;
    n->n_input = 3;
    n->input = xmalloc(3 * sizeof *n->input);
    n->input[0] = in0;
    n->input[1] = in1;
    n->input[2] = in2;
    n->n_output = 1;
    n->output = xmalloc(sizeof *n->output);
    n->output[0] = out;
    if (axis != NO_AXIS) {
        Onnx__AttributeProto *a = xmalloc(sizeof *a);
        onnx__attribute_proto__init(a);
        a->name = xfmt("axis");
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = axis;
        n->n_attribute = 1;
        n->attribute = xmalloc(sizeof *n->attribute);
        n->attribute[0] = a;
    }
    return n;
}

static const Onnx__AttributeProto *node_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
            return n->attribute[i];
    return NULL;
}

static int64_t attr_i(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = node_attr(n, name);
    return a && a->has_i ? a->i : def;
}

static float attr_f(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = node_attr(n, name);
    return a && a->has_f ? a->f : def;
}

static int is_op(const Onnx__NodeProto *n, const char *const *ops)
{
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return 0;
    for (; *ops; ops++)
        if (!strcmp(n->op_type, *ops))
            return 1;
    return 0;
}

static const char *const WEIGHTED[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", NULL};
/* ops whose float output gets Q/DQ */
static const char *const QOUT[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Mul",
                                   "Relu", "Clip", "LeakyRelu", "Sigmoid", "Concat", "MaxPool",
                                   "AveragePool", "GlobalAveragePool", "Resize", "Flatten",
                                   "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Slice",
                                   NULL};
/* an activation fused into its producer when it is the only reader */
static const char *const FUSED_ACT[] = {"Relu", "Clip", NULL};
static const char *const FUSES_ACT[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", NULL};
/* output scale = input scale: exact in int8 (the values are a subset of
 * the input's; Resize's interpolations stay inside the input's range) */
static const char *const MOVES[] = {"MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze",
                                    "Unsqueeze", "Slice", "Resize", NULL};
static const char *const QUANTIZED[] = {"QuantizeLinear", "DequantizeLinear", "QLinearConv",
                                        "QLinearMatMul", "ConvInteger", "MatMulInteger",
                                        "DynamicQuantizeLinear", NULL};

/* --- the tensors of the graph ------------------------------------------------ */

/* One activation tensor: its statistic, union-find group, final params. */
typedef struct act {
    char *name;
    qz_stat *st;
    int producer; /* node index, -1 for a graph input */
    const Onnx__NodeProto *pnode; /* the producer (NULL for a graph input) */
    int nreaders;
    int quant;    /* gets a Q/DQ pair */
    int is_output;
    int parent;   /* union-find */
    float scale;
    int zp;
} act;

typedef struct ctx {
    Onnx__GraphProto *g;
    act *a;
    int na, cap;
    const qz_opts *o;
} ctx;

static int act_find(const ctx *c, const char *name)
{
    for (int i = 0; i < c->na; i++)
        if (!strcmp(c->a[i].name, name))
            return i;
    return -1;
}

static int act_add(ctx *c, const char *name, int producer)
{
    int i = act_find(c, name);
    if (i >= 0)
        return i;
    if (c->na == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 128;
        c->a = xrealloc(c->a, (size_t)c->cap * sizeof *c->a);
    }
    act *x = &c->a[c->na];
    memset(x, 0, sizeof *x);
    x->name = xfmt("%s", name); /* own copy: the node's output may be renamed */
    x->producer = producer;
    x->parent = c->na;
    return c->na++;
}

static int uf_root(ctx *c, int i)
{
    while (c->a[i].parent != i)
        i = c->a[i].parent = c->a[c->a[i].parent].parent;
    return i;
}

/* Does the group of root r hold a tensor that goes below zero? */
static int group_signed(ctx *c, int r)
{
    for (int k = 0; k < c->na; k++)
        if (c->a[k].quant && uf_root(c, k) == r && c->a[k].st->min < 0)
            return 1;
    return 0;
}

/* One scale for x and y — unless one group is non-negative (ReLU outputs)
 * and the other signed: joined, the signed range would lift the zero
 * point off the bottom, where the QuantizeLinear is itself the ReLU (ORT
 * then drops the Relu and runs QLinearConv / QLinearAdd; with such groups
 * joined it left the stem conv and every Add+Relu of fashion-resnet in
 * float), and halve the ReLU outputs' resolution. */
static void uf_join(ctx *c, const char *x, const char *y)
{
    int i = act_find(c, x), j = act_find(c, y);
    if (i < 0 || j < 0 || !c->a[i].quant || !c->a[j].quant)
        return;
    i = uf_root(c, i);
    j = uf_root(c, j);
    if (i != j && group_signed(c, i) == group_signed(c, j))
        c->a[j].parent = i;
}

static int find_init(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name))
            return (int)i;
    return -1;
}

/* Nodes reading `name` (count). */
static int readers(const Onnx__GraphProto *g, const char *name, int *only)
{
    int n = 0;
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_input; k++)
            if (!strcmp(g->node[i]->input[k], name)) {
                n++;
                *only = (int)i;
                break;
            }
    return n;
}

/* The tensor a fused activation's Q/DQ sits on: `name`, or the output of
 * the Relu/Clip that is its one reader when that fusion applies. */
static const char *effective(ctx *c, const char *name)
{
    int i = act_find(c, name);
    if (i >= 0 && c->a[i].quant)
        return name;
    int only = -1;
    if (readers(c->g, name, &only) == 1 && is_op(c->g->node[only], FUSED_ACT))
        return c->g->node[only]->output[0];
    return name;
}

/* --- weights ------------------------------------------------------------------- */

typedef struct wq {
    float *scale; /* per channel (or [0] per tensor) */
    int nch;
} wq;

/* Quantize initializer `wi` along `axis` (-1: per tensor) into new
 * initializers + a DequantizeLinear named as the weight. */
static int quant_weight(ctx *c, sk_ext_ctx *ext, int wi, int axis, Onnx__NodeProto ***pre,
                        int *npre, wq *out, char *err, size_t errlen)
{
    Onnx__TensorProto *tp = c->g->initializer[wi];
    sk_tensor t;
    int owned = 0;
    char what[300];
    snprintf(what, sizeof what, "initializer '%s'", tp->name);
    int rc = sk_onnx_tensor_decode(tp, ext, what, &t, &owned, err, errlen);
    if (rc < 0)
        return rc;
    if (t.dtype != SK_F32 || axis >= t.shape.rank) {
        if (owned)
            sk_free(t.data);
        return 1; /* not a float weight: left as it is */
    }
    int64_t n = sk_shape_numel(&t.shape);
    int64_t nch = axis < 0 ? 1 : t.shape.dim[axis], inner = 1;
    for (int d = axis + 1; d < t.shape.rank && axis >= 0; d++)
        inner *= t.shape.dim[d];
    if (axis < 0)
        inner = n;
    const float *w = t.data;
    int8_t *q = xmalloc((size_t)n);
    float *sc = xmalloc((size_t)nch * sizeof *sc);
    int8_t *zp = xmalloc((size_t)nch);
    for (int64_t i = 0; i < n; i++) { /* sc[] holds max |w| per channel first */
        float *m = &sc[(i / inner) % nch];
        if (fabsf(w[i]) > *m)
            *m = fabsf(w[i]);
    }
    /* --reduce-range (session 18): 7 bits, -64..64 (AVX2 without VNNI) */
    float qmax = c->o->reduce_range ? 64.0f : 127.0f;
    for (int64_t ch = 0; ch < nch; ch++)
        sc[ch] = sc[ch] > 0 ? sc[ch] / qmax : 1.0f; /* an all-zero channel: any scale */
    for (int64_t i = 0; i < n; i++) {
        float v = nearbyintf(w[i] / sc[(i / inner) % nch]);
        q[i] = (int8_t)(v > qmax ? qmax : v < -qmax ? -qmax : v);
    }
    const char *nm = tp->name;
    int64_t cdim = nch;
    Onnx__TensorProto *tq = mk_tensor(xfmt("%s_quantized", nm), ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
                                      tp->dims, (int)tp->n_dims, q, (size_t)n);
    Onnx__TensorProto *ts = mk_tensor(xfmt("%s_scale", nm), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                      &cdim, axis < 0 ? 0 : 1, sc, (size_t)nch * 4);
    Onnx__TensorProto *tz = mk_tensor(xfmt("%s_zero_point", nm),
                                      ONNX__TENSOR_PROTO__DATA_TYPE__INT8, &cdim, axis < 0 ? 0 : 1,
                                      zp, (size_t)nch);
    Onnx__NodeProto *dq = mk_node("DequantizeLinear", xfmt("%s_DequantizeLinear", nm),
                                  xfmt("%s", tq->name), xfmt("%s", ts->name), xfmt("%s", tz->name),
                                  xfmt("%s", nm), axis < 0 ? NO_AXIS : axis);
    *pre = xrealloc(*pre, (size_t)(*npre + 1) * sizeof **pre);
    (*pre)[(*npre)++] = dq;
    /* the float initializer gives way to the three new ones */
    c->g->initializer[wi] = tq;
    c->g->initializer = xrealloc(c->g->initializer, (c->g->n_initializer + 2) * sizeof tp);
    c->g->initializer[c->g->n_initializer++] = ts;
    c->g->initializer[c->g->n_initializer++] = tz;
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (owned)
        sk_free(t.data);
    free(q);
    free(zp);
    out->scale = sc;
    out->nch = (int)nch;
    return 0;
}

/* Bias initializer -> int32 with scale sx * sw[c]. */
static void quant_bias(ctx *c, sk_ext_ctx *ext, int bi, float sx, const wq *w,
                       Onnx__NodeProto ***pre, int *npre)
{
    Onnx__TensorProto *tp = c->g->initializer[bi];
    sk_tensor t;
    int owned = 0;
    char e[256];
    if (sk_onnx_tensor_decode(tp, ext, "bias", &t, &owned, e, sizeof e) < 0)
        return; /* left float; the weight's error would have shown first */
    int64_t n = sk_shape_numel(&t.shape);
    if (t.dtype != SK_F32 || t.shape.rank != 1 || (w->nch > 1 && n != w->nch)) {
        if (owned)
            sk_free(t.data);
        return;
    }
    int per = w->nch > 1;
    int32_t *q = xmalloc((size_t)n * 4);
    float *sc = xmalloc((size_t)n * 4);
    int32_t *zp = xmalloc((size_t)n * 4);
    const float *b = t.data;
    for (int64_t i = 0; i < n; i++) {
        sc[i] = sx * w->scale[per ? i : 0];
        double v = nearbyint((double)b[i] / sc[i]);
        q[i] = (int32_t)(v > 2147483647.0 ? 2147483647.0 : v < -2147483647.0 ? -2147483647.0 : v);
    }
    const char *nm = tp->name;
    int64_t dim = n;
    Onnx__TensorProto *tq = mk_tensor(xfmt("%s_quantized", nm), ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
                                      &dim, 1, q, (size_t)n * 4);
    Onnx__TensorProto *ts = mk_tensor(xfmt("%s_scale", nm), ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                      &dim, per ? 1 : 0, sc, per ? (size_t)n * 4 : 4);
    Onnx__TensorProto *tz = mk_tensor(xfmt("%s_zero_point", nm),
                                      ONNX__TENSOR_PROTO__DATA_TYPE__INT32, &dim, per ? 1 : 0, zp,
                                      per ? (size_t)n * 4 : 4);
    Onnx__NodeProto *dq = mk_node("DequantizeLinear", xfmt("%s_DequantizeLinear", nm),
                                  xfmt("%s", tq->name), xfmt("%s", ts->name), xfmt("%s", tz->name),
                                  xfmt("%s", nm), per ? 0 : NO_AXIS);
    *pre = xrealloc(*pre, (size_t)(*npre + 1) * sizeof **pre);
    (*pre)[(*npre)++] = dq;
    c->g->initializer[bi] = tq;
    c->g->initializer = xrealloc(c->g->initializer, (c->g->n_initializer + 2) * sizeof tp);
    c->g->initializer[c->g->n_initializer++] = ts;
    c->g->initializer[c->g->n_initializer++] = tz;
    onnx__tensor_proto__free_unpacked(tp, NULL);
    if (owned)
        sk_free(t.data);
    free(q);
    free(sc);
    free(zp);
}

/* --- the rewrite ----------------------------------------------------------------- */

static void act_params(act *x, float lo, float hi, int s8)
{
    float sc = (hi - lo) / 255.0f;
    if (!(sc > 0) || !isfinite(sc))
        sc = 1.0f; /* a constant-zero tensor: any scale is exact */
    float z = (s8 ? -128.0f : 0.0f) - lo / sc;
    z = nearbyintf(z);
    int zmin = s8 ? -128 : 0, zmax = s8 ? 127 : 255;
    x->scale = sc;
    x->zp = z < zmin ? zmin : z > zmax ? zmax : (int)z;
}

int qz_write_qdq(const char *in, const char *out, qz_stats *st, const qz_opts *o, char *err,
                 size_t errlen)
{
    void *buf = NULL;
    size_t len = 0;
    int rc = sk_read_file(in, &buf, &len, err, errlen);
    if (rc < 0)
        return rc;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    if (!m || !m->graph)
        return sk_errf(err, errlen, SK_EFORMAT, "%s: not an ONNX model (protobuf parse failed)",
                       in);
    ctx c = {m->graph, NULL, 0, 0, o};
    Onnx__GraphProto *g = m->graph;
    Onnx__NodeProto **pre = NULL, **nodes = NULL;
    int npre = 0;
    size_t nnode0 = g->n_node;
    wq *wqs = xmalloc((nnode0 ? nnode0 : 1) * sizeof *wqs);
    char *dir = xfmt("%s", in), *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    sk_ext_ctx ext = {dir, NULL, NULL, 0, NULL};
    int64_t opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++)
        if (!m->opset_import[i]->domain || !m->opset_import[i]->domain[0] ||
            !strcmp(m->opset_import[i]->domain, "ai.onnx"))
            opset = m->opset_import[i]->version;
    if (opset < 13) {
        rc = sk_errf(err, errlen, SK_EUNSUPPORTED,
                     "%s: opset %lld: per-channel DequantizeLinear needs opset 13 or later "
                     "(re-export the model at opset 13+)", in, (long long)opset);
        goto out;
    }
    for (size_t i = 0; i < g->n_node; i++)
        if (is_op(g->node[i], QUANTIZED)) {
            rc = sk_errf(err, errlen, SK_EINVAL,
                         "%s is already quantized (node '%s' is %s): give the FP32 model", in,
                         g->node[i]->name ? g->node[i]->name : "", g->node[i]->op_type);
            goto out;
        }

    /* 1. the activations: graph inputs and outputs of quantizable ops,
     * those the calibration saw (float32) */
    for (size_t i = 0; i < g->n_input; i++)
        if (find_init(g, g->input[i]->name) < 0) {
            int k = act_add(&c, g->input[i]->name, -1);
            c.a[k].st = qz_stats_find(st, c.a[k].name);
            c.a[k].quant = c.a[k].st != NULL;
        }
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        if (!is_op(n, QOUT) || n->n_output < 1 || !n->output[0][0])
            continue;
        int k = act_add(&c, n->output[0], (int)i);
        act *x = &c.a[k];
        x->pnode = n;
        x->st = qz_stats_find(st, x->name);
        int only = -1;
        x->nreaders = readers(g, x->name, &only);
        for (size_t j = 0; j < g->n_output; j++)
            x->is_output |= !strcmp(g->output[j]->name, x->name);
        x->quant = x->st != NULL && isfinite(x->st->min);
        if (x->quant && !x->is_output && x->nreaders == 1 && is_op(n, FUSES_ACT) &&
            is_op(g->node[only], FUSED_ACT))
            x->quant = 0; /* fused: the Q/DQ goes after the activation */
    }
    /* 2. shared scales */
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        if (n->n_output < 1)
            continue;
        static const char *const ADD[] = {"Add", NULL}, *const CAT[] = {"Concat", NULL};
        if (is_op(n, MOVES) && n->n_input >= 1)
            uf_join(&c, n->input[0], n->output[0]);
        else if (!o->no_share && (is_op(n, ADD) || is_op(n, CAT))) {
            /* y = Relu(a + skip): the skip (a ReLU output) shares y's scale,
             * so an int8 epilogue adds its codes without rescaling; the
             * signed conv branch a keeps its own (uf_join). A Concat's
             * operands of y's sign share its scale: a copy, no requant. */
            const char *y = effective(&c, n->output[0]);
            for (size_t k = 0; k < n->n_input; k++)
                uf_join(&c, y, n->input[k]);
        }
    }
    for (int i = 0; i < c.na; i++)
        if (c.a[i].quant) {
            int r = uf_root(&c, i);
            float lo = 0, hi = 0;
            for (int j = 0; j < c.na; j++)
                if (c.a[j].quant && uf_root(&c, j) == r) {
                    /* a graph output keeps its whole range: clipping the
                     * top logits would turn the argmax into a tie */
                    const qz_stat *s = c.a[j].st;
                    lo = fminf(lo, c.a[j].is_output ? (float)s->min : s->lo);
                    hi = fmaxf(hi, c.a[j].is_output ? (float)s->max : s->hi);
                }
            act_params(&c.a[i], lo, hi, o->s8);
        }
    /* 3. weights and biases */
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        if (!is_op(n, WEIGHTED) || n->n_input < 2)
            continue;
        int wi = find_init(g, n->input[1]);
        if (wi < 0)
            continue; /* a computed weight stays float */
        int axis = 0, rank = (int)g->initializer[wi]->n_dims;
        if (!strcmp(n->op_type, "ConvTranspose"))
            axis = 1;
        else if (!strcmp(n->op_type, "Gemm"))
            axis = attr_i(n, "transB", 0) ? 0 : 1;
        else if (!strcmp(n->op_type, "MatMul")) {
            if (rank != 2)
                continue;
            axis = 1;
        }
        if (o->per_tensor)
            axis = -1;
        rc = quant_weight(&c, &ext, wi, axis, &pre, &npre, &wqs[i], err, errlen);
        if (rc < 0)
            goto out;
        if (rc == 0 && o->report) {
            float lo = INFINITY, hi = 0;
            for (int k = 0; k < wqs[i].nch; k++) {
                lo = fminf(lo, wqs[i].scale[k]);
                hi = fmaxf(hi, wqs[i].scale[k]);
            }
            printf("weight %-49s %-18s int8 symmetric, %d scale%s %.5g..%.5g\n", n->input[1],
                   n->op_type, wqs[i].nch, wqs[i].nch > 1 ? "s (per channel)" : "", lo, hi);
        }
        int xi = act_find(&c, n->input[0]);
        int gemm_ok = strcmp(n->op_type, "Gemm") ||
                      (attr_f(n, "alpha", 1) == 1 && attr_f(n, "beta", 1) == 1);
        if (rc == 0 && n->n_input >= 3 && n->input[2][0] && xi >= 0 && c.a[xi].quant && gemm_ok) {
            int bi = find_init(g, n->input[2]), only;
            if (bi >= 0 && readers(g, n->input[2], &only) == 1)
                quant_bias(&c, &ext, bi, c.a[xi].scale, &wqs[i], &pre, &npre);
        }
    }
    /* drop graph inputs that named a replaced initializer (IR < 4 models) */
    size_t ni = 0;
    for (size_t i = 0; i < g->n_input; i++) {
        int keep = find_init(g, g->input[i]->name) >= 0 || act_find(&c, g->input[i]->name) >= 0;
        if (keep)
            g->input[ni++] = g->input[i];
        else
            onnx__value_info_proto__free_unpacked(g->input[i], NULL);
    }
    g->n_input = ni;
    /* 4. the new node list: weight DQs, input Q/DQs, then each node followed
     * by its outputs' Q/DQ; readers take the dequantized names */
    size_t cap = (size_t)npre + g->n_node + 2 * (size_t)c.na, nn = 0;
    nodes = xmalloc(cap * sizeof *nodes);
    for (int i = 0; i < npre; i++)
        nodes[nn++] = pre[i];
    int ty = o->s8 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT8 : ONNX__TENSOR_PROTO__DATA_TYPE__UINT8;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_input; k++) {
            int j = act_find(&c, n->input[k]);
            if (j >= 0 && c.a[j].quant && !c.a[j].is_output) {
                char *s = xfmt("%s_DequantizeLinear_Output", n->input[k]);
                free(n->input[k]);
                n->input[k] = s;
            }
        }
        nodes[nn++] = n;
        /* Q/DQ of what this node produced; at node 0 also the graph inputs'
         * (the acts list them first) */
        for (int j = 0; j < c.na; j++) {
            act *x = &c.a[j];
            int here = x->producer == (int)i;
            if (i == 0 && x->producer == -1)
                here = 2; /* a graph input: its pair goes before node 0 */
            if (!x->quant || !here)
                continue;
            const char *nm = x->name;
            char *src = xfmt("%s", nm), *dst;
            if (x->is_output) {
                /* the producer writes NAME_fp32; the DQ gives back NAME */
                free(src);
                src = xfmt("%s_fp32", nm);
                for (size_t k = 0; k < n->n_output; k++)
                    if (!strcmp(n->output[k], nm)) {
                        free(n->output[k]);
                        n->output[k] = xfmt("%s", src);
                    }
                dst = xfmt("%s", nm);
            } else
                dst = xfmt("%s_DequantizeLinear_Output", nm);
            float sc = x->scale;
            uint8_t zb = (uint8_t)(o->s8 ? (uint8_t)(int8_t)x->zp : (uint8_t)x->zp);
            Onnx__TensorProto *ts = mk_tensor(xfmt("%s_scale", nm),
                                              ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, NULL, 0, &sc, 4);
            Onnx__TensorProto *tz = mk_tensor(xfmt("%s_zero_point", nm), ty, NULL, 0, &zb, 1);
            g->initializer = xrealloc(g->initializer, (g->n_initializer + 2) * sizeof ts);
            g->initializer[g->n_initializer++] = ts;
            g->initializer[g->n_initializer++] = tz;
            Onnx__NodeProto *q = mk_node("QuantizeLinear", xfmt("%s_QuantizeLinear", nm), src,
                                         xfmt("%s", ts->name), xfmt("%s", tz->name),
                                         xfmt("%s_QuantizeLinear_Output", nm), NO_AXIS);
            Onnx__NodeProto *dq = mk_node("DequantizeLinear", xfmt("%s_DequantizeLinear", nm),
                                          xfmt("%s_QuantizeLinear_Output", nm),
                                          xfmt("%s", ts->name), xfmt("%s", tz->name), dst, NO_AXIS);
            if (here == 2) { /* before node 0: shift it */
                nodes[nn - 1] = q;
                nodes[nn++] = dq;
                nodes[nn++] = n;
            } else {
                nodes[nn++] = q;
                nodes[nn++] = dq;
            }
        }
    }
    free(g->node);
    g->node = nodes;
    g->n_node = nn;
    nodes = NULL;
    if (o->report) {
        printf("%-56s %-18s %11s %11s %11s %11s %11s %4s\n", "activation", "producer", "min",
               "max", "calib lo", "calib hi", "scale", "zp");
        for (int i = 0; i < c.na; i++) {
            act *x = &c.a[i];
            if (!x->st)
                continue;
            const char *op = x->pnode ? x->pnode->op_type : "(graph input)";
            if (x->quant)
                printf("%-56s %-18s %11.5g %11.5g %11.5g %11.5g %11.5g %4d\n", x->name, op,
                       x->st->min, x->st->max, x->st->lo, x->st->hi, x->scale, x->zp);
            else
                printf("%-56s %-18s %11.5g %11.5g   (fused into the Relu/Clip after it)\n",
                       x->name, op, x->st->min, x->st->max);
        }
    }
    /* 5. pack and write */
    size_t sz = onnx__model_proto__get_packed_size(m);
    uint8_t *outb = malloc(sz ? sz : 1);
    if (!outb) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory packing the model");
        goto out;
    }
    onnx__model_proto__pack(m, outb);
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(outb, 1, sz, f) != sz || fclose(f) != 0) {
        if (f)
            fclose(f);
        rc = sk_errf(err, errlen, SK_EIO, "cannot write %s", out);
        free(outb);
        goto out;
    }
    free(outb);
    rc = 0;
out:
    for (size_t i = 0; i < nnode0; i++)
        free(wqs[i].scale);
    free(wqs);
    free(pre);
    free(nodes);
    for (int i = 0; i < c.na; i++)
        free(c.a[i].name);
    free(c.a);
    sk_ext_ctx_free(&ext);
    free(dir);
    onnx__model_proto__free_unpacked(m, NULL);
    return rc;
}
