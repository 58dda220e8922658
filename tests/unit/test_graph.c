/* test_graph.c — the IR: value naming, attributes, validation (undefined
 * inputs, duplicate producers, cycles), topological order, dead nodes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/half.h"

static int val(sk_graph *g, const char *name) { return sk_graph_value(g, name); }

static int node1(sk_graph *g, sk_op op, const char *name, const char *in0, const char *in1,
                 const char *out)
{
    int in[2] = {val(g, in0), in1 ? val(g, in1) : -1};
    int o = val(g, out);
    return sk_graph_add_node(g, op, name, in1 ? 2 : 1, in, 1, &o);
}

static void test_value_names_are_unique(void **state)
{
    (void)state;
    sk_graph *g = sk_graph_new();
    int a = val(g, "a"), b = val(g, "b");
    assert_int_not_equal(a, b);
    assert_int_equal(val(g, "a"), a);
    assert_int_equal(sk_graph_find(g, "b"), b);
    assert_int_equal(sk_graph_find(g, "zzz"), -1);
    /* many values: the index must keep finding all of them after it grows */
    char nm[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(nm, sizeof nm, "v%d", i);
        assert_true(val(g, nm) >= 0);
    }
    for (int i = 0; i < 5000; i += 7) {
        snprintf(nm, sizeof nm, "v%d", i);
        int id = sk_graph_find(g, nm);
        assert_true(id >= 0);
        assert_string_equal(g->values[id].name, nm);
    }
    assert_int_equal(g->nvalues, 5002);
    sk_graph_free(g);
}

static void test_attributes(void **state)
{
    (void)state;
    sk_graph *g = sk_graph_new();
    int n = node1(g, SK_OP_RELU, "r", "x", NULL, "y");
    int64_t pads[4] = {1, 2, 3, 4};
    float fl[2] = {0.5f, 2.0f};
    assert_int_equal(sk_node_set_int(g, n, "axis", -1), 0);
    assert_int_equal(sk_node_set_float(g, n, "alpha", 0.25f), 0);
    assert_int_equal(sk_node_set_string(g, n, "mode", "reflect"), 0);
    assert_int_equal(sk_node_set_ints(g, n, "pads", pads, 4), 0);
    assert_int_equal(sk_node_set_floats(g, n, "scales", fl, 2), 0);
    const sk_node *nd = &g->nodes[n];
    assert_int_equal(sk_attr_int(nd, "axis", 7), -1);
    assert_int_equal(sk_attr_int(nd, "missing", 7), 7);
    assert_true(sk_attr_float(nd, "alpha", 0) == 0.25f);
    assert_string_equal(sk_attr_str(nd, "mode", "constant"), "reflect");
    const int64_t *pv;
    assert_int_equal(sk_attr_ints(nd, "pads", &pv), 4);
    assert_int_equal(pv[3], 4);
    assert_int_equal(sk_attr_ints(nd, "nope", &pv), -1);
    /* a wrong-typed lookup falls back to the default */
    assert_int_equal(sk_attr_int(nd, "mode", 3), 3);
    /* setting again replaces */
    sk_node_set_int(g, n, "axis", 2);
    assert_int_equal(sk_attr_int(&g->nodes[n], "axis", 0), 2);
    sk_node_remove_attr(g, n, "axis");
    assert_null(sk_attr_find(&g->nodes[n], "axis"));
    sk_graph_free(g);
}

static void test_validate_orders_topologically(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    sk_graph_add_input(g, val(g, "x"));
    /* added out of order: z = relu(y), y = relu(x) */
    node1(g, SK_OP_RELU, "second", "y", NULL, "z");
    node1(g, SK_OP_RELU, "first", "x", NULL, "y");
    sk_graph_add_output(g, val(g, "z"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    assert_string_equal(g->nodes[0].name, "first");
    assert_string_equal(g->nodes[1].name, "second");
    assert_int_equal(g->values[sk_graph_find(g, "z")].producer, 1);
    sk_graph_free(g);
}

static void test_validate_rejects_undefined(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    sk_graph_add_input(g, val(g, "x"));
    node1(g, SK_OP_ADD, "add", "x", "ghost", "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), SK_EINVAL);
    assert_non_null(strstr(err, "ghost"));
    sk_graph_free(g);
}

static void test_validate_rejects_duplicate_producer(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    sk_graph_add_input(g, val(g, "x"));
    node1(g, SK_OP_RELU, "a", "x", NULL, "y");
    node1(g, SK_OP_SIGMOID, "b", "x", NULL, "y");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), SK_EINVAL);
    assert_non_null(strstr(err, "produced twice"));
    sk_graph_free(g);
}

static void test_validate_rejects_cycle(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    sk_graph_add_input(g, val(g, "x"));
    node1(g, SK_OP_ADD, "a", "x", "c", "b");
    node1(g, SK_OP_RELU, "r", "b", NULL, "c");
    sk_graph_add_output(g, val(g, "c"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), SK_EINVAL);
    assert_non_null(strstr(err, "cycle"));
    sk_graph_free(g);
}

static void test_validate_rejects_undefined_output(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    sk_graph_add_input(g, val(g, "x"));
    sk_graph_add_output(g, val(g, "nowhere"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), SK_EINVAL);
    assert_non_null(strstr(err, "nowhere"));
    sk_graph_free(g);
}

static void test_dead_nodes_removed(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = sk_graph_new();
    sk_graph_add_input(g, val(g, "x"));
    node1(g, SK_OP_RELU, "live", "x", NULL, "y");
    node1(g, SK_OP_SIGMOID, "dead1", "x", NULL, "d1");
    node1(g, SK_OP_TANH, "dead2", "d1", NULL, "d2");
    sk_graph_add_output(g, val(g, "y"));
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    assert_int_equal(sk_graph_eliminate_dead(g), 2);
    assert_int_equal(g->nnodes, 1);
    assert_string_equal(g->nodes[0].name, "live");
    assert_int_equal(g->values[sk_graph_find(g, "d1")].producer, -1);
    sk_graph_free(g);
}

static void test_shape_helpers(void **state)
{
    (void)state;
    sk_shape s = {4, {2, 3, 4, 5}};
    assert_int_equal(sk_shape_numel(&s), 120);
    sk_shape scalar = {0, {0}};
    assert_int_equal(sk_shape_numel(&scalar), 1);
    sk_shape neg = {2, {3, -1}};
    assert_int_equal(sk_shape_numel(&neg), -1);
    sk_shape huge = {3, {1 << 20, 1 << 20, 1 << 20}};
    assert_int_equal(sk_shape_numel(&huge), -1); /* 2^60 > SK_MAX_NUMEL */
    sk_shape empty = {3, {1 << 20, 0, 1 << 10}};
    assert_int_equal(sk_shape_numel(&empty), 0);
    /* An empty tensor's other dims are still bounded (2^50 > SK_MAX_NUMEL),
     * so a kernel multiplying a subset of them cannot overflow. */
    sk_shape empty_huge = {3, {1 << 20, 0, 1 << 30}};
    assert_int_equal(sk_shape_numel(&empty_huge), -1);
    sk_shape empty_huge2 = {3, {0, (int64_t)1 << 62, (int64_t)1 << 62}};
    assert_int_equal(sk_shape_numel(&empty_huge2), -1);
    char buf[64];
    sk_shape sym = {2, {SK_DIM_SYMBOLIC, 10}};
    assert_string_equal(sk_shape_str(&sym, buf, sizeof buf), "[N,10]");
    assert_int_equal(sk_dtype_size(SK_I64), 8);
    assert_int_equal(sk_dtype_size((sk_dtype)8 /* string */), 0);
}

static void test_op_names_round_trip(void **state)
{
    (void)state;
    assert_int_equal(sk_op_from_name("Conv"), SK_OP_CONV);
    assert_int_equal(sk_op_from_name("BatchNormalization"), SK_OP_BATCH_NORM);
    assert_int_equal(sk_op_from_name("NoSuchOp"), SK_OP_NONE);
    for (int op = SK_OP_NONE + 1; op < SK_OP_COUNT; op++) {
        const char *nm = sk_op_name((sk_op)op);
        if (nm[0] != '_') /* fused ops have no ONNX name */
            assert_int_equal(sk_op_from_name(nm), op);
    }
}

/* Every float16 and bfloat16 bit pattern survives half -> float32 -> half
 * (NaNs stay NaNs), and float32 -> float16 agrees with a rounding written
 * here from the definition: the nearest of the two neighbouring halves found
 * by scanning, ties to the even encoding. */
static void test_half_conversions(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = sk_f16_to_f32((uint16_t)h), g = sk_bf16_to_f32((uint16_t)h);
        int hnan = ((h >> 10) & 0x1f) == 31 && (h & 0x3ff);
        int bnan = ((h >> 7) & 0xff) == 255 && (h & 0x7f);
        if (hnan)
            assert_true(f != f && (sk_f32_to_f16(f) & 0x7fff) > 0x7c00);
        else
            assert_int_equal(sk_f32_to_f16(f), h);
        if (bnan)
            assert_true(g != g);
        else
            assert_int_equal(sk_f32_to_bf16(g), h);
    }
    /* positive finite halves in order: for x between two neighbours a < b,
     * check the rounding against |x-a| vs |x-b| (computed in double) */
    for (uint32_t h = 0; h < 0x7bff; h += 7) {
        double a = sk_f16_to_f32((uint16_t)h), b = sk_f16_to_f32((uint16_t)(h + 1));
        const double fr[5] = {0.25, 0.5, 0.75, 1e-3, 0.999};
        for (int k = 0; k < 5; k++) {
            float x = (float)(a + (b - a) * fr[k]);
            double da = x - a, db = b - x;
            uint16_t want = da < db ? (uint16_t)h : da > db ? (uint16_t)(h + 1)
                                                           : (uint16_t)(h & 1 ? h + 1 : h);
            assert_int_equal(sk_f32_to_f16(x), want);
            assert_int_equal(sk_f32_to_f16(-x), want | 0x8000);
        }
    }
    assert_int_equal(sk_f32_to_f16(65519.99f), 0x7bff);
    assert_int_equal(sk_f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(sk_f32_to_bf16(0x1.ff8p127f), 0x7f80); /* bf16 overflow -> inf */
}

/* A pass's made-up constant name that a model's tensor already has must
 * not replace that tensor's data (qdq.c names its tables "_qlut_table_N"):
 * add_const makes a new value under another name. */
static void test_add_const_never_reuses_a_value(void **state)
{
    (void)state;
    sk_graph *g = sk_graph_new();
    sk_shape s = {1, {2}};
    const float model[2] = {1.0f, 2.0f};
    const uint8_t table[2] = {7, 9};
    int mv = sk_graph_add_const(g, "_qlut_table_3", SK_F32, &s, model);
    assert_true(mv >= 0);
    int tv = sk_graph_add_const(g, "_qlut_table_3", SK_U8, &s, table);
    assert_true(tv >= 0);
    assert_int_not_equal(tv, mv);
    assert_string_not_equal(g->values[tv].name, "_qlut_table_3");
    assert_int_equal(sk_graph_find(g, "_qlut_table_3"), mv);
    assert_int_equal(g->values[mv].dtype, SK_F32);
    assert_memory_equal(g->values[mv].data, model, sizeof model);
    assert_int_equal(g->values[tv].dtype, SK_U8);
    assert_memory_equal(g->values[tv].data, table, sizeof table);
    /* the made-up name is found under its own name again */
    assert_int_equal(sk_graph_find(g, g->values[tv].name), tv);
    sk_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_names_are_unique),
        cmocka_unit_test(test_add_const_never_reuses_a_value),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test(test_half_conversions),
        cmocka_unit_test(test_validate_orders_topologically),
        cmocka_unit_test(test_validate_rejects_undefined),
        cmocka_unit_test(test_validate_rejects_duplicate_producer),
        cmocka_unit_test(test_validate_rejects_cycle),
        cmocka_unit_test(test_validate_rejects_undefined_output),
        cmocka_unit_test(test_dead_nodes_removed),
        cmocka_unit_test(test_shape_helpers),
        cmocka_unit_test(test_op_names_round_trip),
    };
    return cmocka_run_group_tests_name("graph", tests, NULL, NULL);
}
