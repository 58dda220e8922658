/* onnx_builder.h — build small ONNX models in memory with protobuf-c, for
 * unit tests (included by tests/unit/test_loader.c; header-only so the
 * Makefile's one-binary-per-test_*.c rule still holds). */
#ifndef SK_TEST_ONNX_BUILDER_H
#define SK_TEST_ONNX_BUILDER_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/onnx.h"
#include "onnx.pb-c.h"

/* --- a tiny model builder ------------------------------------------------------
 * Every allocation is remembered and freed by mb_free, so the protobuf
 * structs can point at each other freely. */

typedef struct mb {
    void *allocs[512];
    int nallocs;
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto os;
    Onnx__OperatorSetIdProto *osp[1];
    Onnx__NodeProto *nodes[16];
    Onnx__TensorProto *inits[16];
    Onnx__ValueInfoProto *ins[8], *outs[8];
} mb;

static void *mb_keep(mb *b, size_t n)
{
    void *p = calloc(1, n);
    assert_non_null(p);
    assert_true(b->nallocs < 512);
    b->allocs[b->nallocs++] = p;
    return p;
}

static char *mb_str(mb *b, const char *s)
{
    char *p = mb_keep(b, strlen(s) + 1);
    memcpy(p, s, strlen(s) + 1);
    return p;
}

static void mb_init(mb *b, int64_t ir, int opset)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->m);
    onnx__graph_proto__init(&b->g);
    onnx__operator_set_id_proto__init(&b->os);
    b->os.domain = "";
    b->os.has_version = 1;
    b->os.version = opset;
    b->osp[0] = &b->os;
    b->m.has_ir_version = 1;
    b->m.ir_version = ir;
    b->m.n_opset_import = 1;
    b->m.opset_import = b->osp;
    b->m.graph = &b->g;
    b->g.name = "t";
    b->g.node = b->nodes;
    b->g.initializer = b->inits;
    b->g.input = b->ins;
    b->g.output = b->outs;
}

static void mb_free(mb *b)
{
    for (int i = 0; i < b->nallocs; i++)
        free(b->allocs[i]);
}

/* dims: rank entries; a negative entry means "symbolic" (dim_param "N"). */
static Onnx__ValueInfoProto *mb_vi(mb *b, const char *name, int et, int rank,
                                   const int64_t *dims)
{
    Onnx__ValueInfoProto *v = mb_keep(b, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = mb_str(b, name);
    Onnx__TypeProto *tp = mb_keep(b, sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = mb_keep(b, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = et;
    if (rank >= 0) {
        Onnx__TensorShapeProto *sp = mb_keep(b, sizeof *sp);
        onnx__tensor_shape_proto__init(sp);
        sp->n_dim = (size_t)rank;
        sp->dim = mb_keep(b, sizeof *sp->dim * (size_t)(rank + 1));
        for (int i = 0; i < rank; i++) {
            Onnx__TensorShapeProto__Dimension *d = mb_keep(b, sizeof *d);
            onnx__tensor_shape_proto__dimension__init(d);
            if (dims[i] < 0) {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
                d->dim_param = "N";
            } else {
                d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
                d->dim_value = dims[i];
            }
            sp->dim[i] = d;
        }
        tt->shape = sp;
    }
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    return v;
}

static void mb_input(mb *b, const char *name, int et, int rank, const int64_t *dims)
{
    b->ins[b->g.n_input++] = mb_vi(b, name, et, rank, dims);
}

static void mb_output(mb *b, const char *name)
{
    b->outs[b->g.n_output++] = mb_vi(b, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, -1, NULL);
}

static Onnx__TensorProto *mb_tensor(mb *b, const char *name, int dt, int rank,
                                    const int64_t *dims)
{
    Onnx__TensorProto *t = mb_keep(b, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = mb_str(b, name);
    t->has_data_type = 1;
    t->data_type = dt;
    t->n_dims = (size_t)rank;
    t->dims = mb_keep(b, sizeof(int64_t) * (size_t)(rank + 1));
    if (rank)
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)rank);
    return t;
}

static void mb_raw(mb *b, Onnx__TensorProto *t, const void *data, size_t n)
{
    t->has_raw_data = 1;
    t->raw_data.len = n;
    t->raw_data.data = mb_keep(b, n + 1);
    memcpy(t->raw_data.data, data, n);
}

static Onnx__NodeProto *mb_node(mb *b, const char *op, const char *name, const char *in0,
                                const char *in1, const char *out)
{
    Onnx__NodeProto *n = mb_keep(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = mb_str(b, op);
    n->name = mb_str(b, name);
    n->input = mb_keep(b, 3 * sizeof(char *));
    if (in0)
        n->input[n->n_input++] = mb_str(b, in0);
    if (in1)
        n->input[n->n_input++] = mb_str(b, in1);
    n->output = mb_keep(b, 2 * sizeof(char *));
    n->output[n->n_output++] = mb_str(b, out);
    n->attribute = mb_keep(b, 8 * sizeof(Onnx__AttributeProto *));
    b->nodes[b->g.n_node++] = n;
    return n;
}

static Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = mb_keep(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = mb_str(b, name);
    a->has_type = 1;
    a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void mb_attr_ints(mb *b, Onnx__NodeProto *n, const char *name, int cnt,
                         const int64_t *v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)cnt;
    a->ints = mb_keep(b, sizeof(int64_t) * (size_t)(cnt + 1));
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}

static void mb_attr_float(mb *b, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static void mb_attr_str(mb *b, Onnx__NodeProto *n, const char *name, const char *s)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(s);
    a->s.data = (uint8_t *)mb_str(b, s);
}

/* Pack and load. Returns the loader's status; *g set on success. */
static int mb_load(mb *b, const char *dir, sk_graph **g, char *err, size_t errlen)
{
    size_t n = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *buf = malloc(n + 1);
    assert_non_null(buf);
    onnx__model_proto__pack(&b->m, buf);
    int rc = sk_onnx_load_buffer(buf, n, dir, g, err, errlen);
    free(buf);
    return rc;
}

static sk_graph *mb_load_ok(mb *b)
{
    char err[512] = "";
    sk_graph *g = NULL;
    int rc = mb_load(b, NULL, &g, err, sizeof err);
    if (rc != 0)
        fail_msg("load failed (%d): %s", rc, err);
    return g;
}

#endif
