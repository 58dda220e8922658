/* test_loader.c — the ONNX loader on models built in memory with protobuf-c:
 * initializer encodings (raw_data and every typed field), external data
 * (mmap, missing, short, escaping), IR < 4 initializer-inputs, Constant node
 * forms, symbolic dims, opset rewrites (Clip-6, Squeeze-11, Split-11,
 * ReduceMean-13, Pad-2, Upsample-9, Resize-10), unsupported ops listed
 * together, and TensorProto file round trips. Expected values are written
 * out by hand from the ONNX operator definitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "engine/plan.h"
#include "loaders/onnx.h"
#include "engine/passes/passes.h"
#include "onnx.pb-c.h"
#include "tests/unit/onnx_builder.h"

static const sk_value *value(const sk_graph *g, const char *name)
{
    int id = sk_graph_find(g, name);
    assert_true(id >= 0);
    return &g->values[id];
}

static int find_node(const sk_graph *g, sk_op op)
{
    for (int i = 0; i < g->nnodes; i++)
        if (g->nodes[i].op == op)
            return i;
    fail_msg("no %s node", sk_op_name(op));
    return -1;
}

/* Plan with one float input and run; copies output 0 into out. */
static void run1(const sk_graph *g, const sk_shape *s, const float *x, float *out, size_t n,
                 sk_shape *oshape)
{
    char err[512] = "";
    sk_tensor in = {SK_F32, *s, NULL};
    sk_plan *p = NULL;
    if (sk_plan_create(g, &in, NULL, &p, err, sizeof err) != 0)
        fail_msg("plan: %s", err);
    const void *data[1] = {x};
    if (sk_plan_run(p, data, err, sizeof err) != 0)
        fail_msg("run: %s", err);
    const sk_tensor *o = sk_plan_output(p, 0);
    assert_int_equal(o->dtype, SK_F32);
    assert_int_equal(sk_shape_numel(&o->shape), (int64_t)n);
    memcpy(out, o->data, n * sizeof(float));
    if (oshape)
        *oshape = o->shape;
    sk_plan_free(p);
}

/* --- initializers ---------------------------------------------------------------- */

static void test_initializer_encodings(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 8, 13);
    int64_t d23[2] = {2, 3}, d3[1] = {3};
    const float fv[6] = {1.5f, -2, 3, 0.25f, 1e-3f, -7};

    Onnx__TensorProto *t = mb_tensor(&b, "f_raw", 1, 2, d23);
    mb_raw(&b, t, fv, sizeof fv);
    b.inits[b.g.n_initializer++] = t;

    t = mb_tensor(&b, "f_typed", 1, 2, d23);
    t->n_float_data = 6;
    t->float_data = (float *)fv;
    b.inits[b.g.n_initializer++] = t;

    int64_t iv[3] = {-1, 1LL << 40, 7};
    t = mb_tensor(&b, "i64_raw", 7, 1, d3);
    mb_raw(&b, t, iv, sizeof iv);
    b.inits[b.g.n_initializer++] = t;
    t = mb_tensor(&b, "i64_typed", 7, 1, d3);
    t->n_int64_data = 3;
    t->int64_data = iv;
    b.inits[b.g.n_initializer++] = t;

    int32_t i32[3] = {-5, 0, 123456};
    t = mb_tensor(&b, "i32", 6, 1, d3);
    t->n_int32_data = 3;
    t->int32_data = i32;
    b.inits[b.g.n_initializer++] = t;

    double dv[3] = {0.1, -2.5, 1e300};
    t = mb_tensor(&b, "f64", 11, 1, d3);
    t->n_double_data = 3;
    t->double_data = dv;
    b.inits[b.g.n_initializer++] = t;

    int32_t bv[3] = {0, 1, 5}; /* bool: any non-zero is true */
    t = mb_tensor(&b, "b", 9, 1, d3);
    t->n_int32_data = 3;
    t->int32_data = bv;
    b.inits[b.g.n_initializer++] = t;

    int32_t u8v[3] = {0, 200, 255};
    t = mb_tensor(&b, "u8", 2, 1, d3);
    t->n_int32_data = 3;
    t->int32_data = u8v;
    b.inits[b.g.n_initializer++] = t;

    int32_t i8v[3] = {-128, -3, 127};
    t = mb_tensor(&b, "i8", 3, 1, d3);
    t->n_int32_data = 3;
    t->int32_data = i8v;
    b.inits[b.g.n_initializer++] = t;

    t = mb_tensor(&b, "scalar", 1, 0, NULL); /* rank 0: one element */
    mb_raw(&b, t, fv, sizeof(float));
    b.inits[b.g.n_initializer++] = t;

    mb_input(&b, "x", 1, 2, d23);
    mb_node(&b, "Add", "add", "x", "f_raw", "y");
    mb_output(&b, "y");
    sk_graph *g = mb_load_ok(&b);

    const sk_value *v = value(g, "f_raw");
    assert_int_equal(v->dtype, SK_F32);
    assert_int_equal(v->shape.rank, 2);
    assert_int_equal(v->shape.dim[0], 2);
    assert_int_equal(v->shape.dim[1], 3);
    assert_memory_equal(v->data, fv, sizeof fv);
    assert_memory_equal(value(g, "f_typed")->data, fv, sizeof fv);
    assert_memory_equal(value(g, "i64_raw")->data, iv, sizeof iv);
    assert_memory_equal(value(g, "i64_typed")->data, iv, sizeof iv);
    assert_int_equal(value(g, "i64_typed")->dtype, SK_I64);
    assert_memory_equal(value(g, "i32")->data, i32, sizeof i32);
    assert_memory_equal(value(g, "f64")->data, dv, sizeof dv);
    const uint8_t bexp[3] = {0, 1, 1}, u8exp[3] = {0, 200, 255};
    const int8_t i8exp[3] = {-128, -3, 127};
    assert_int_equal(value(g, "b")->dtype, SK_BOOL);
    assert_memory_equal(value(g, "b")->data, bexp, 3);
    assert_memory_equal(value(g, "u8")->data, u8exp, 3);
    assert_memory_equal(value(g, "i8")->data, i8exp, 3);
    assert_int_equal(value(g, "scalar")->shape.rank, 0);
    assert_true(*(const float *)value(g, "scalar")->data == 1.5f);
    /* initializers are weights, never runtime inputs */
    assert_int_equal(g->ninputs, 1);
    assert_string_equal(g->values[g->inputs[0]].name, "x");

    /* and the constant is used: y = x + f_raw */
    sk_shape s = {2, {2, 3}};
    float x[6] = {1, 1, 1, 1, 1, 1}, y[6];
    run1(g, &s, x, y, 6, NULL);
    for (int i = 0; i < 6; i++)
        assert_true(y[i] == fv[i] + 1.0f);
    sk_graph_free(g);
    mb_free(&b);
}

/* float16 / bfloat16 initializers (raw_data and int32_data forms) become
 * float32 holding the same values; a float16 graph input is a float32 input
 * rounded to float16 on entry. Expected values are worked out by hand from
 * the IEEE encodings. */
static void test_half_initializers_and_inputs(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 8, 13);
    int64_t d4[1] = {4};
    /* float16: 1.5, -2.25, 65504 (largest), 2^-24 (smallest subnormal) */
    const uint16_t h[4] = {0x3e00, 0xc080, 0x7bff, 0x0001};
    const float hval[4] = {1.5f, -2.25f, 65504.0f, 5.9604644775390625e-8f};
    Onnx__TensorProto *t = mb_tensor(&b, "h_raw", 10, 1, d4);
    mb_raw(&b, t, h, sizeof h);
    b.inits[b.g.n_initializer++] = t;
    int32_t hi32[4] = {0x3e00, 0xc080, 0x7bff, 0x0001};
    t = mb_tensor(&b, "h_i32", 10, 1, d4);
    t->n_int32_data = 4;
    t->int32_data = hi32;
    b.inits[b.g.n_initializer++] = t;
    /* bfloat16: 1.0, -3.0, 2^-126 * 1.5 bits 0x00c0, +inf */
    int32_t bf[4] = {0x3f80, 0xc040, 0x00c0, 0x7f80};
    const float bval[4] = {1.0f, -3.0f, 1.763241e-38f, INFINITY};
    t = mb_tensor(&b, "bf", 16, 1, d4);
    t->n_int32_data = 4;
    t->int32_data = bf;
    b.inits[b.g.n_initializer++] = t;

    mb_input(&b, "x", 10, 1, d4); /* float16 graph input */
    mb_node(&b, "Add", "add", "x", "h_raw", "y");
    mb_output(&b, "y");
    sk_graph *g = mb_load_ok(&b);
    assert_int_equal(value(g, "h_raw")->dtype, SK_F32);
    assert_memory_equal(value(g, "h_raw")->data, hval, sizeof hval);
    assert_memory_equal(value(g, "h_i32")->data, hval, sizeof hval);
    assert_int_equal(value(g, "bf")->dtype, SK_F32);
    const float *bv = value(g, "bf")->data;
    assert_true(bv[0] == bval[0] && bv[1] == bval[1] && isinf(bv[3]) && bv[3] > 0);
    assert_true(bv[2] == 0x1.8p-126f);
    /* the input is float32 to callers, rounded to float16 before the Add:
     * 1 + 2^-12 -> 1 (tie to even), 3.0009765625 (3 + 2^-10) -> 3 (tie, even),
     * 0.1 -> 0.0999755859375, 70000 -> inf */
    assert_int_equal(value(g, "x")->dtype, SK_F32);
    sk_shape s = {1, {4}};
    float x[4] = {1.0f + 0x1p-12f, 3.0f + 0x1p-10f, 0.1f, 70000.0f}, y[4];
    run1(g, &s, x, y, 4, NULL);
    assert_true(y[0] == 1.0f + 1.5f);
    assert_true(y[1] == 3.0f - 2.25f);
    assert_true(y[2] == 0.0999755859375f + 65504.0f);
    assert_true(isinf(y[3]));
    sk_graph_free(g);
    mb_free(&b);
}

/* float16 weights behind a Cast and int32 biases behind a DequantizeLinear
 * are folded into float32 constants at load (engine/passes/fold.c): no Cast
 * or DequantizeLinear is left to run, the Conv is fused, and the result is
 * the float32 convolution of the half / dequantized values. */
static void test_weight_conversions_fold_at_load(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 8, 13);
    int64_t dw[4] = {4, 2, 1, 1}, db[1] = {4}, dx[4] = {1, 2, 1, 3};
    /* w = 0.5, -1, 2, 0.25, 1.5, -0.5, 3, 1 as float16 bits */
    const uint16_t wh[8] = {0x3800, 0xbc00, 0x4000, 0x3400, 0x3e00, 0xb800, 0x4200, 0x3c00};
    const float w[8] = {0.5f, -1, 2, 0.25f, 1.5f, -0.5f, 3, 1};
    Onnx__TensorProto *t = mb_tensor(&b, "w_h", 10, 4, dw);
    mb_raw(&b, t, wh, sizeof wh);
    b.inits[b.g.n_initializer++] = t;
    const int32_t bq[4] = {2, -4, 0, 7}; /* x 0.5 */
    t = mb_tensor(&b, "b_q", 6, 1, db);
    mb_raw(&b, t, bq, sizeof bq);
    b.inits[b.g.n_initializer++] = t;
    const float half = 0.5f;
    t = mb_tensor(&b, "b_s", 1, 0, NULL);
    mb_raw(&b, t, &half, sizeof half);
    b.inits[b.g.n_initializer++] = t;
    mb_input(&b, "x", 1, 4, dx);
    Onnx__NodeProto *c = mb_node(&b, "Cast", "cast_w", "w_h", NULL, "w");
    Onnx__AttributeProto *a = mb_attr(&b, c, "to", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = 1;
    mb_node(&b, "DequantizeLinear", "dq_b", "b_q", "b_s", "b");
    Onnx__NodeProto *cv = mb_node(&b, "Conv", "conv", "x", "w", "y");
    cv->input[cv->n_input++] = mb_str(&b, "b");
    mb_output(&b, "y");
    sk_graph *g = mb_load_ok(&b);
    char err[256];
    assert_int_equal(sk_graph_optimize(g, 1, err, sizeof err), 0);
    for (int i = 0; i < g->nnodes; i++)
        assert_true(g->nodes[i].op != SK_OP_CAST && g->nodes[i].op != SK_OP_DEQUANTIZE_LINEAR);
    find_node(g, SK_OP_CONV_FUSED);
    sk_shape s = {4, {1, 2, 1, 3}};
    const float x[6] = {1, 2, 3, -1, 0.5f, 4}; /* channel 0 then channel 1 */
    float y[12];
    run1(g, &s, x, y, 12, NULL);
    for (int m = 0; m < 4; m++)
        for (int p = 0; p < 3; p++)
            assert_true(y[m * 3 + p] == w[m * 2] * x[p] + w[m * 2 + 1] * x[3 + p] + bq[m] * 0.5f);
    sk_graph_free(g);
    mb_free(&b);
}

static void test_initializer_errors(void **state)
{
    (void)state;
    int64_t d23[2] = {2, 3};
    float five[5] = {0};
    char err[512];
    sk_graph *g = NULL;
    struct {
        int dt, field; /* field 0: raw of 20 bytes, 1: 5 floats, 2: nothing */
        int code;
        const char *want;
    } cases[] = {
        {1, 0, SK_EFORMAT, "raw_data has 20 bytes, its shape needs 24"},
        {1, 1, SK_EFORMAT, "float_data has 5 values, its shape needs 6"},
        {1, 2, SK_EFORMAT, "has no data"},
        {10, 0, SK_EFORMAT, "raw_data has 20 bytes, its shape needs 12"}, /* float16 */
        {4, 0, SK_EUNSUPPORTED, "uint16"},
        {0, 0, SK_EFORMAT, "no data type"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mb b;
        mb_init(&b, 8, 13);
        Onnx__TensorProto *t = mb_tensor(&b, "w", cases[c].dt, 2, d23);
        if (!cases[c].dt)
            t->has_data_type = 0;
        if (cases[c].field == 0)
            mb_raw(&b, t, five, 20);
        else if (cases[c].field == 1) {
            t->n_float_data = 5;
            t->float_data = five;
        }
        b.inits[b.g.n_initializer++] = t;
        mb_input(&b, "x", 1, 2, d23);
        mb_node(&b, "Add", "add", "x", "w", "y");
        mb_output(&b, "y");
        err[0] = 0;
        assert_int_equal(mb_load(&b, NULL, &g, err, sizeof err), cases[c].code);
        assert_null(g);
        if (!strstr(err, cases[c].want))
            fail_msg("case %zu: '%s' lacks '%s'", c, err, cases[c].want);
        mb_free(&b);
    }
}

/* --- external data ------------------------------------------------------------------ */

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* A model whose weight w [4] lives in `loc` at `offset`. */
static void write_ext_model(const char *dir, const char *loc, const char *offset,
                            const char *length)
{
    mb b;
    mb_init(&b, 8, 13);
    int64_t d4[1] = {4};
    Onnx__TensorProto *t = mb_tensor(&b, "w", 1, 1, d4);
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    const char *kv[3][2] = {{"location", loc}, {"offset", offset}, {"length", length}};
    t->external_data = mb_keep(&b, 3 * sizeof *t->external_data);
    for (int i = 0; i < 3; i++) {
        if (!kv[i][1])
            continue;
        Onnx__StringStringEntryProto *e = mb_keep(&b, sizeof *e);
        onnx__string_string_entry_proto__init(e);
        e->key = (char *)kv[i][0];
        e->value = (char *)kv[i][1];
        t->external_data[t->n_external_data++] = e;
    }
    b.inits[b.g.n_initializer++] = t;
    mb_input(&b, "x", 1, 1, d4);
    mb_node(&b, "Add", "add", "x", "w", "y");
    mb_output(&b, "y");
    size_t n = onnx__model_proto__get_packed_size(&b.m);
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    onnx__model_proto__pack(&b.m, buf);
    char path[512];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    write_bytes(path, buf, n);
    free(buf);
    mb_free(&b);
}

static void rm_tree(const char *dir)
{
    const char *files[] = {"model.onnx", "w.bin", "short.bin"};
    char p[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void test_external_data(void **state)
{
    (void)state;
    char dir[] = "/tmp/sk_test_loader_XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* w.bin: 4096 bytes of junk, the 4 weights, 64 bytes of junk, the
     * weights again at the very end */
    static float file[1024 + 4 + 16 + 4];
    for (int i = 0; i < 1048; i++)
        file[i] = -999.0f;
    const float w[4] = {0.5f, -1.5f, 2.0f, 8.0f};
    memcpy(&file[1024], w, sizeof w);
    memcpy(&file[1044], w, sizeof w);
    char p[512];
    snprintf(p, sizeof p, "%s/w.bin", dir);
    write_bytes(p, file, sizeof file);
    write_ext_model(dir, "w.bin", "4096", "16");
    snprintf(p, sizeof p, "%s/model.onnx", dir);

    char err[512] = "";
    sk_graph *g = NULL;
    if (sk_onnx_load(p, &g, err, sizeof err) != 0)
        fail_msg("%s", err);
    const sk_value *v = value(g, "w");
    assert_memory_equal(v->data, w, sizeof w);
    /* mapped, not copied: the graph holds one mapping and borrows the data */
    assert_int_equal(v->data_owned, 0);
    assert_int_equal(g->nmaps, 1);
    assert_true((const char *)v->data >= (const char *)g->maps[0].addr &&
                (const char *)v->data + 16 <= (const char *)g->maps[0].addr + g->maps[0].len);
    sk_shape s = {1, {4}};
    float x[4] = {1, 2, 3, 4}, y[4];
    run1(g, &s, x, y, 4, NULL);
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == x[i] + w[i]);
    sk_graph_free(g);

    /* no length key: the shape says how much */
    write_ext_model(dir, "w.bin", "4096", NULL);
    assert_int_equal(sk_onnx_load(p, &g, err, sizeof err), 0);
    assert_memory_equal(value(g, "w")->data, w, sizeof w);
    sk_graph_free(g);

    /* at the end of the file a kernel reading a line past the tail would
     * leave the mapping: copied instead; unaligned for float: copied too */
    const char *copied[2] = {"4176", "4098"};
    for (int c = 0; c < 2; c++) {
        write_ext_model(dir, "w.bin", copied[c], "16");
        assert_int_equal(sk_onnx_load(p, &g, err, sizeof err), 0);
        assert_int_equal(value(g, "w")->data_owned, 1);
        if (c == 0)
            assert_memory_equal(value(g, "w")->data, w, sizeof w);
        sk_graph_free(g);
    }

    struct {
        const char *loc, *off, *len;
        int code;
        const char *want;
    } bad[] = {
        {"missing.bin", "0", "16", SK_EIO, "cannot open external data file 'missing.bin'"},
        {"short.bin", "0", "16", SK_EIO, "is too short (8 bytes, needs 16)"},
        {"w.bin", "4184", "16", SK_EIO, "is too short (4192 bytes, needs 4200)"},
        {"w.bin", "0", "12", SK_EFORMAT, "length 12 does not match"},
        {"../w.bin", "0", "16", SK_EFORMAT, "leaves the model's folder"},
        {"sub/../../w.bin", "0", "16", SK_EFORMAT, "leaves the model's folder"},
        {"/tmp/w.bin", "0", "16", SK_EFORMAT, "leaves the model's folder"},
        {"w.bin", "-4", "16", SK_EFORMAT, "bad external data offset"},
    };
    FILE *f;
    snprintf(p, sizeof p, "%s/short.bin", dir);
    write_bytes(p, w, 8);
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        write_ext_model(dir, bad[c].loc, bad[c].off, bad[c].len);
        err[0] = 0;
        assert_int_equal(sk_onnx_load(p, &g, err, sizeof err), bad[c].code);
        assert_null(g);
        if (!strstr(err, bad[c].want))
            fail_msg("case %zu: '%s' lacks '%s'", c, err, bad[c].want);
    }
    /* from a buffer without a folder, external data is refused */
    write_ext_model(dir, "w.bin", "4096", "16");
    f = fopen(p, "rb");
    assert_non_null(f);
    static uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(sk_onnx_load_buffer(buf, n, NULL, &g, err, sizeof err), SK_EUNSUPPORTED);
    assert_non_null(strstr(err, "external data"));
    assert_int_equal(sk_onnx_load_buffer(buf, n, dir, &g, err, sizeof err), 0);
    sk_graph_free(g);
    rm_tree(dir);
}

/* --- graph inputs ------------------------------------------------------------------- */

static void test_ir3_initializer_inputs_are_constants(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 3, 6);
    int64_t d2[1] = {2};
    const float wv[2] = {10, 20};
    Onnx__TensorProto *t = mb_tensor(&b, "w", 1, 1, d2);
    mb_raw(&b, t, wv, sizeof wv);
    b.inits[b.g.n_initializer++] = t;
    mb_input(&b, "x", 1, 1, d2);
    mb_input(&b, "w", 1, 1, d2); /* IR 3: the initializer repeated as an input */
    mb_node(&b, "Mul", "mul", "x", "w", "y");
    mb_output(&b, "y");
    sk_graph *g = mb_load_ok(&b);
    assert_int_equal(g->ninputs, 1);
    assert_string_equal(g->values[g->inputs[0]].name, "x");
    assert_non_null(value(g, "w")->data);
    sk_shape s = {1, {2}};
    float x[2] = {3, -1}, y[2];
    run1(g, &s, x, y, 2, NULL);
    assert_true(y[0] == 30 && y[1] == -20);
    sk_graph_free(g);
    mb_free(&b);
}

static void test_symbolic_dims(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 8, 13);
    int64_t dims[3] = {-1, 3, 4};
    mb_input(&b, "x", 1, 3, dims);
    mb_node(&b, "Relu", "r", "x", NULL, "y");
    mb_output(&b, "y");
    sk_graph *g = mb_load_ok(&b);
    const sk_value *x = value(g, "x");
    assert_int_equal(x->shape.rank, 3);
    assert_int_equal(x->shape.dim[0], SK_DIM_SYMBOLIC);
    assert_int_equal(x->shape.dim[1], 3);
    assert_int_equal(x->shape.dim[2], 4);
    /* any batch binds */
    sk_shape s = {3, {5, 3, 4}};
    float in[60], out[60];
    for (int i = 0; i < 60; i++)
        in[i] = (float)(i - 30);
    run1(g, &s, in, out, 60, NULL);
    for (int i = 0; i < 60; i++)
        assert_true(out[i] == (in[i] > 0 ? in[i] : 0));
    sk_graph_free(g);
    mb_free(&b);
}

/* --- Constant nodes ------------------------------------------------------------------ */

static void test_constant_forms(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 8, 13);
    int64_t d1[1] = {1};
    mb_input(&b, "x", 1, 1, d1);
    Onnx__NodeProto *n;

    n = mb_node(&b, "Constant", "c_t", NULL, NULL, "ct");
    Onnx__AttributeProto *a = mb_attr(&b, n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
    int64_t d2[1] = {2};
    a->t = mb_tensor(&b, "", 1, 1, d2);
    float tv[2] = {4, 5};
    a->t->n_float_data = 2;
    a->t->float_data = tv;

    n = mb_node(&b, "Constant", "c_f", NULL, NULL, "cf");
    mb_attr_float(&b, n, "value_float", 2.5f);

    n = mb_node(&b, "Constant", "c_fs", NULL, NULL, "cfs");
    a = mb_attr(&b, n, "value_floats", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    float fs[3] = {1, 2, 3};
    a->n_floats = 3;
    a->floats = fs;

    n = mb_node(&b, "Constant", "c_i", NULL, NULL, "ci");
    a = mb_attr(&b, n, "value_int", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = -7;

    n = mb_node(&b, "Constant", "c_is", NULL, NULL, "cis");
    int64_t is[2] = {1, 1LL << 33};
    mb_attr_ints(&b, n, "value_ints", 2, is);

    /* y = x + cf; the tensor constant is also a graph output */
    mb_node(&b, "Add", "add", "x", "cf", "y");
    mb_output(&b, "y");
    mb_output(&b, "ct");
    sk_graph *g = mb_load_ok(&b);

    for (int i = 0; i < g->nnodes; i++) /* Constant nodes become values, not nodes */
        assert_true(g->nodes[i].op == SK_OP_ADD || g->nodes[i].op == SK_OP_IDENTITY);
    const sk_value *v = value(g, "cf");
    assert_int_equal(v->dtype, SK_F32);
    assert_int_equal(v->shape.rank, 0);
    assert_true(*(const float *)v->data == 2.5f);
    v = value(g, "cfs");
    assert_int_equal(v->shape.rank, 1);
    assert_int_equal(v->shape.dim[0], 3);
    assert_memory_equal(v->data, fs, sizeof fs);
    v = value(g, "ci");
    assert_int_equal(v->dtype, SK_I64);
    assert_int_equal(v->shape.rank, 0);
    assert_int_equal(*(const int64_t *)v->data, -7);
    v = value(g, "cis");
    assert_int_equal(v->dtype, SK_I64);
    assert_int_equal(v->shape.dim[0], 2);
    assert_memory_equal(v->data, is, sizeof is);

    char err[512];
    sk_tensor in = {SK_F32, {1, {1}}, NULL};
    sk_plan *p = NULL;
    if (sk_plan_create(g, &in, NULL, &p, err, sizeof err) != 0)
        fail_msg("plan: %s", err);
    float x = 1.0f;
    const void *data[1] = {&x};
    assert_int_equal(sk_plan_run(p, data, err, sizeof err), 0);
    assert_true(*(const float *)sk_plan_output(p, 0)->data == 3.5f);
    assert_string_equal(sk_plan_output_name(p, 1), "ct");
    assert_memory_equal(sk_plan_output(p, 1)->data, tv, sizeof tv);
    sk_plan_free(p);
    sk_graph_free(g);
    mb_free(&b);

    /* value_string is not a tensor skipserve computes with */
    mb_init(&b, 8, 13);
    mb_input(&b, "x", 1, 1, d1);
    n = mb_node(&b, "Constant", "c_s", NULL, NULL, "cs");
    mb_attr_str(&b, n, "value_string", "hello");
    mb_node(&b, "Relu", "r", "x", NULL, "y");
    mb_output(&b, "y");
    g = NULL;
    assert_int_equal(mb_load(&b, NULL, &g, err, sizeof err), SK_EUNSUPPORTED);
    assert_non_null(strstr(err, "value_string"));
    mb_free(&b);
}

/* --- opset rewrites ---------------------------------------------------------------- */

static const float *const_input(const sk_graph *g, int ni, int slot, sk_dtype dt, int64_t n)
{
    const sk_node *nd = &g->nodes[ni];
    assert_true(slot < nd->nin);
    assert_true(nd->in[slot] >= 0);
    const sk_value *v = &g->values[nd->in[slot]];
    assert_non_null(v->data);
    assert_int_equal(v->dtype, dt);
    assert_int_equal(sk_shape_numel(&v->shape), n);
    return v->data;
}

static void test_clip6_attrs_become_inputs(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 3, 6);
    int64_t d5[1] = {5};
    mb_input(&b, "x", 1, 1, d5);
    Onnx__NodeProto *n = mb_node(&b, "Clip", "clip", "x", NULL, "y");
    mb_attr_float(&b, n, "min", -1.0f);
    mb_attr_float(&b, n, "max", 2.0f);
    mb_output(&b, "y");
    sk_graph *g = mb_load_ok(&b);
    int ni = find_node(g, SK_OP_CLIP);
    assert_int_equal(g->nodes[ni].opset, 6);
    assert_null(sk_attr_find(&g->nodes[ni], "min"));
    assert_null(sk_attr_find(&g->nodes[ni], "max"));
    const sk_value *mn = &g->values[g->nodes[ni].in[1]];
    assert_int_equal(mn->shape.rank, 0); /* Clip-11 min/max are scalars */
    assert_true(*const_input(g, ni, 1, SK_F32, 1) == -1.0f);
    assert_true(*const_input(g, ni, 2, SK_F32, 1) == 2.0f);
    sk_shape s = {1, {5}};
    float x[5] = {-3, -1, 0.5f, 2, 9}, y[5];
    const float want[5] = {-1, -1, 0.5f, 2, 2};
    run1(g, &s, x, y, 5, NULL);
    assert_memory_equal(y, want, sizeof want);
    sk_graph_free(g);
    mb_free(&b);

    /* max only: min stays omitted */
    mb_init(&b, 3, 6);
    mb_input(&b, "x", 1, 1, d5);
    n = mb_node(&b, "Clip", "clip", "x", NULL, "y");
    mb_attr_float(&b, n, "max", 0.0f);
    mb_output(&b, "y");
    g = mb_load_ok(&b);
    ni = find_node(g, SK_OP_CLIP);
    assert_int_equal(g->nodes[ni].in[1], -1);
    assert_true(*const_input(g, ni, 2, SK_F32, 1) == 0.0f);
    const float want2[5] = {-3, -1, 0, 0, 0};
    run1(g, &s, x, y, 5, NULL);
    assert_memory_equal(y, want2, sizeof want2);
    sk_graph_free(g);
    mb_free(&b);
}

static void test_squeeze11_axes_become_input(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 6, 11);
    int64_t d[3] = {1, 3, 1};
    mb_input(&b, "x", 1, 3, d);
    Onnx__NodeProto *n = mb_node(&b, "Squeeze", "sq", "x", NULL, "y");
    int64_t axes[2] = {0, -1};
    mb_attr_ints(&b, n, "axes", 2, axes);
    mb_output(&b, "y");
    sk_graph *g = mb_load_ok(&b);
    int ni = find_node(g, SK_OP_SQUEEZE);
    assert_null(sk_attr_find(&g->nodes[ni], "axes"));
    const int64_t *ax = (const int64_t *)const_input(g, ni, 1, SK_I64, 2);
    assert_int_equal(ax[0], 0);
    assert_int_equal(ax[1], -1);
    sk_shape s = {3, {1, 3, 1}}, os;
    float x[3] = {1, 2, 3}, y[3];
    run1(g, &s, x, y, 3, &os);
    assert_int_equal(os.rank, 1);
    assert_int_equal(os.dim[0], 3);
    sk_graph_free(g);
    mb_free(&b);
}

static void test_more_attr_to_input_rewrites(void **state)
{
    (void)state;
    mb b;
    int64_t d[2] = {2, 4};
    /* Split-11 'split', ReduceMean-13 'axes', Pad-2 'pads' + 'value' */
    mb_init(&b, 6, 11);
    mb_input(&b, "x", 1, 2, d);
    Onnx__NodeProto *n = mb_node(&b, "Split", "sp", "x", NULL, "a");
    n->output[n->n_output++] = mb_str(&b, "b2");
    int64_t split[2] = {1, 3}, one[1] = {1};
    mb_attr_ints(&b, n, "split", 2, split);
    Onnx__AttributeProto *a = mb_attr(&b, n, "axis", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = 1;
    mb_output(&b, "a");
    mb_output(&b, "b2");
    sk_graph *g = mb_load_ok(&b);
    int ni = find_node(g, SK_OP_SPLIT);
    const int64_t *sv = (const int64_t *)const_input(g, ni, 1, SK_I64, 2);
    assert_int_equal(sv[0], 1);
    assert_int_equal(sv[1], 3);
    assert_null(sk_attr_find(&g->nodes[ni], "split"));
    sk_graph_free(g);
    mb_free(&b);

    mb_init(&b, 8, 13);
    mb_input(&b, "x", 1, 2, d);
    n = mb_node(&b, "ReduceMean", "rm", "x", NULL, "y");
    mb_attr_ints(&b, n, "axes", 1, one);
    mb_output(&b, "y");
    g = mb_load_ok(&b);
    ni = find_node(g, SK_OP_REDUCE_MEAN);
    assert_int_equal(*(const int64_t *)const_input(g, ni, 1, SK_I64, 1), 1);
    sk_shape s = {2, {2, 4}}, os;
    float x[8] = {1, 2, 3, 4, 10, 20, 30, 40}, y[2];
    run1(g, &s, x, y, 2, &os);
    assert_true(y[0] == 2.5f && y[1] == 25.0f); /* keepdims=1: [2,1] */
    assert_int_equal(os.rank, 2);
    sk_graph_free(g);
    mb_free(&b);

    mb_init(&b, 3, 2);
    mb_input(&b, "x", 1, 2, d);
    n = mb_node(&b, "Pad", "pad", "x", NULL, "y");
    int64_t pads[4] = {0, 1, 0, 2};
    mb_attr_ints(&b, n, "pads", 4, pads);
    mb_attr_float(&b, n, "value", 9.0f);
    mb_output(&b, "y");
    g = mb_load_ok(&b);
    ni = find_node(g, SK_OP_PAD);
    assert_memory_equal(const_input(g, ni, 1, SK_I64, 4), pads, sizeof pads);
    assert_true(*const_input(g, ni, 2, SK_F32, 1) == 9.0f);
    float py[2 * 7];
    run1(g, &s, x, py, 14, &os);
    const float pwant[14] = {9, 1, 2, 3, 4, 9, 9, 9, 10, 20, 30, 40, 9, 9};
    assert_memory_equal(py, pwant, sizeof pwant);
    sk_graph_free(g);
    mb_free(&b);
}

static void test_upsample_and_resize10_become_resize13(void **state)
{
    (void)state;
    mb b;
    int64_t d[4] = {1, 1, 2, 2}, d4[1] = {4};
    const float scales[4] = {1, 1, 2, 3};
    mb_init(&b, 4, 9);
    mb_input(&b, "x", 1, 4, d);
    Onnx__TensorProto *t = mb_tensor(&b, "scales", 1, 1, d4);
    mb_raw(&b, t, scales, sizeof scales);
    b.inits[b.g.n_initializer++] = t;
    Onnx__NodeProto *n = mb_node(&b, "Upsample", "up", "x", "scales", "y");
    mb_attr_str(&b, n, "mode", "nearest");
    mb_output(&b, "y");
    sk_graph *g = mb_load_ok(&b);
    int ni = find_node(g, SK_OP_RESIZE);
    const sk_node *nd = &g->nodes[ni];
    assert_int_equal(nd->in[1], -1); /* roi */
    assert_memory_equal(const_input(g, ni, 2, SK_F32, 4), scales, sizeof scales);
    assert_string_equal(sk_attr_str(nd, "coordinate_transformation_mode", ""), "asymmetric");
    /* no nearest_mode and opset 10: the kernel rounds per axis (floor when
     * the axis grows, ceil when it shrinks), as Upsample/Resize-10 did */
    assert_null(sk_attr_find(nd, "nearest_mode"));
    assert_int_equal(nd->opset, 10);
    assert_string_equal(sk_attr_str(nd, "mode", ""), "nearest");
    sk_shape s = {4, {1, 1, 2, 2}}, os;
    float x[4] = {1, 2, 3, 4}, y[24];
    /* nearest up-sampling by (2, 3) repeats each pixel 2x3 times */
    const float want[24] = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                            3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
    run1(g, &s, x, y, 24, &os);
    assert_memory_equal(y, want, sizeof want);
    assert_int_equal(os.dim[2], 4);
    assert_int_equal(os.dim[3], 6);
    sk_graph_free(g);
    mb_free(&b);

    /* Resize-10 down-sampling: x_in = x_out / 0.6, rounded up (the ONNX
     * Resize-10 test: [[1,2,3,4],[5,6,7,8]] -> [[1,3]]) */
    int64_t dd[4] = {1, 1, 2, 4};
    const float down[4] = {1, 1, 0.6f, 0.6f};
    mb_init(&b, 5, 10);
    mb_input(&b, "x", 1, 4, dd);
    t = mb_tensor(&b, "scales", 1, 1, d4);
    mb_raw(&b, t, down, sizeof down);
    b.inits[b.g.n_initializer++] = t;
    n = mb_node(&b, "Resize", "rs", "x", "scales", "y");
    mb_attr_str(&b, n, "mode", "nearest");
    mb_output(&b, "y");
    g = mb_load_ok(&b);
    ni = find_node(g, SK_OP_RESIZE);
    assert_null(sk_attr_find(&g->nodes[ni], "nearest_mode"));
    sk_shape s2 = {4, {1, 1, 2, 4}};
    float x2[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y2[2];
    run1(g, &s2, x2, y2, 2, &os);
    assert_true(y2[0] == 1 && y2[1] == 3);
    sk_graph_free(g);
    mb_free(&b);
}

/* --- refusals ------------------------------------------------------------------------ */

static void test_unsupported_ops_listed_together(void **state)
{
    (void)state;
    mb b;
    mb_init(&b, 8, 13);
    int64_t d[1] = {4};
    mb_input(&b, "x", 1, 1, d);
    mb_node(&b, "Foo", "n1", "x", NULL, "a");
    mb_node(&b, "Relu", "ok", "a", NULL, "b");
    mb_node(&b, "Bar", "n2", "b", NULL, "y");
    mb_output(&b, "y");
    char err[512] = "";
    sk_graph *g = NULL;
    assert_int_equal(mb_load(&b, NULL, &g, err, sizeof err), SK_EUNSUPPORTED);
    assert_null(g);
    assert_string_equal(err, "unsupported ops: Foo (node 'n1', opset 13), Bar (node 'n2', opset 13)");
    mb_free(&b);
}

static void test_garbage_is_refused(void **state)
{
    (void)state;
    char err[512] = "";
    sk_graph *g = NULL;
    const uint8_t junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    assert_int_equal(sk_onnx_load_buffer(junk, sizeof junk, NULL, &g, err, sizeof err),
                     SK_EFORMAT);
    assert_null(g);
    assert_int_equal(sk_onnx_load_buffer(junk, 0, NULL, &g, err, sizeof err), SK_EFORMAT);
    assert_non_null(strstr(err, "no graph"));
    assert_int_equal(sk_onnx_load("/nonexistent/model.onnx", &g, err, sizeof err), SK_EIO);
    assert_non_null(strstr(err, "/nonexistent/model.onnx"));
}

/* --- TensorProto files ------------------------------------------------------------------- */

static void test_tensor_pb_round_trip(void **state)
{
    (void)state;
    char path[] = "/tmp/sk_test_pb_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    int64_t v[6] = {1, -2, 3, 1LL << 50, 0, 7};
    sk_tensor t = {SK_I64, {2, {3, 2}}, v};
    char err[256] = "", name[64];
    assert_int_equal(sk_tensor_pb_write(path, &t, "ids", err, sizeof err), 0);
    sk_tensor r;
    assert_int_equal(sk_tensor_pb_read(path, &r, name, sizeof name, err, sizeof err), 0);
    assert_string_equal(name, "ids");
    assert_int_equal(r.dtype, SK_I64);
    assert_true(sk_shape_equal(&r.shape, &t.shape));
    assert_memory_equal(r.data, v, sizeof v);
    sk_free(r.data);
    /* a file that is not a TensorProto */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("\xff\xff\xff\xff", f);
    fclose(f);
    assert_int_equal(sk_tensor_pb_read(path, &r, NULL, 0, err, sizeof err), SK_EFORMAT);
    assert_null(r.data);
    unlink(path);
}

static void test_backend_test_data_is_read(void **state)
{
    (void)state;
    /* ONNX's own Relu test: output = max(input, 0), checked here elementwise */
    const char *dir = "/usr/share/libonnx-testdata/data/node/test_relu/test_data_set_0";
    char p[512], err[256];
    snprintf(p, sizeof p, "%s/input_0.pb", dir);
    if (access(p, R_OK) != 0)
        skip();
    sk_tensor in, out;
    assert_int_equal(sk_tensor_pb_read(p, &in, NULL, 0, err, sizeof err), 0);
    snprintf(p, sizeof p, "%s/output_0.pb", dir);
    assert_int_equal(sk_tensor_pb_read(p, &out, NULL, 0, err, sizeof err), 0);
    assert_int_equal(in.dtype, SK_F32);
    assert_true(sk_shape_equal(&in.shape, &out.shape));
    int64_t n = sk_shape_numel(&in.shape);
    assert_true(n > 1);
    for (int64_t i = 0; i < n; i++) {
        float x = ((float *)in.data)[i];
        assert_true(((float *)out.data)[i] == (x > 0 ? x : 0));
    }
    sk_free(in.data);
    sk_free(out.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initializer_encodings),
        cmocka_unit_test(test_initializer_errors),
        cmocka_unit_test(test_half_initializers_and_inputs),
        cmocka_unit_test(test_weight_conversions_fold_at_load),
        cmocka_unit_test(test_external_data),
        cmocka_unit_test(test_ir3_initializer_inputs_are_constants),
        cmocka_unit_test(test_symbolic_dims),
        cmocka_unit_test(test_constant_forms),
        cmocka_unit_test(test_clip6_attrs_become_inputs),
        cmocka_unit_test(test_squeeze11_axes_become_input),
        cmocka_unit_test(test_more_attr_to_input_rewrites),
        cmocka_unit_test(test_upsample_and_resize10_become_resize13),
        cmocka_unit_test(test_unsupported_ops_listed_together),
        cmocka_unit_test(test_garbage_is_refused),
        cmocka_unit_test(test_tensor_pb_round_trip),
        cmocka_unit_test(test_backend_test_data_is_read),
    };
    return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
