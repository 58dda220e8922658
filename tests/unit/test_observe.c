/* test_observe.c — sk_plan_observe (engine/plan.h), the hook
 * skipserve-quantize records activation ranges with: one call per value a
 * step produces, after the step, in step order, with the value's name and
 * its data; nothing once turned off; folded (constant) nodes are no steps.
 * Expected values derived by hand from Relu / Add / Neg. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/plan.h"

typedef struct seen {
    int n;
    char name[8][16];
    float v[8][4];
} seen;

static void record(void *user, const char *name, const sk_tensor *t)
{
    seen *s = user;
    assert_true(s->n < 8);
    assert_int_equal(t->dtype, SK_F32);
    assert_int_equal(sk_shape_numel(&t->shape), 4);
    snprintf(s->name[s->n], sizeof s->name[0], "%s", name);
    memcpy(s->v[s->n], t->data, sizeof s->v[0]);
    s->n++;
}

/* x[1,4] -> r = Relu(x) -> y = Add(r, x) -> z = Neg(y); output z. The
 * constant c = Neg(k) (k an initializer) folds at plan time. */
static sk_graph *chain(void)
{
    char err[256];
    sk_graph *g = sk_graph_new();
    int x = sk_graph_value(g, "x"), r = sk_graph_value(g, "r"), y = sk_graph_value(g, "y"),
        z = sk_graph_value(g, "z"), c = sk_graph_value(g, "c"), w = sk_graph_value(g, "w");
    g->values[x].dtype = SK_F32;
    g->values[x].shape = (sk_shape){2, {1, 4}};
    sk_graph_add_input(g, x);
    sk_shape s = {2, {1, 4}};
    float kv[4] = {1, 2, 3, 4};
    int k = sk_graph_add_const(g, "k", SK_F32, &s, kv);
    sk_graph_add_node(g, SK_OP_RELU, "relu", 1, &x, 1, &r);
    sk_graph_add_node(g, SK_OP_ADD, "add", 2, (int[]){r, x}, 1, &y);
    sk_graph_add_node(g, SK_OP_NEG, "neg", 1, &y, 1, &z);
    sk_graph_add_node(g, SK_OP_NEG, "negk", 1, &k, 1, &c);
    sk_graph_add_node(g, SK_OP_ADD, "addc", 2, (int[]){z, c}, 1, &w);
    sk_graph_add_output(g, w);
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    return g;
}

static void test_every_produced_value_once_in_order(void **state)
{
    (void)state;
    char err[256];
    sk_graph *g = chain();
    sk_tensor in = {SK_F32, {2, {1, 4}}, NULL};
    sk_plan *p;
    assert_int_equal(sk_plan_create(g, &in, NULL, &p, err, sizeof err), 0);
    seen s = {0};
    sk_plan_observe(p, record, &s);
    float x[4] = {-2, -0.5f, 0, 3};
    const void *data[1] = {x};
    assert_int_equal(sk_plan_run(p, data, err, sizeof err), 0);
    /* r, y, z, w: the folded "c" is no step */
    assert_int_equal(s.n, 4);
    const char *names[4] = {"r", "y", "z", "w"};
    const float want[4][4] = {{0, 0, 0, 3}, {-2, -0.5f, 0, 6}, {2, 0.5f, 0, -6},
                              {1, -1.5f, -3, -10}};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(s.name[i], names[i]);
        for (int j = 0; j < 4; j++)
            assert_true(s.v[i][j] == want[i][j]);
    }
    /* off: a second run calls nothing */
    sk_plan_observe(p, NULL, NULL);
    s.n = 0;
    assert_int_equal(sk_plan_run(p, data, err, sizeof err), 0);
    assert_int_equal(s.n, 0);
    sk_plan_free(p);
    sk_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_produced_value_once_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
