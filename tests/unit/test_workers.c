/* test_workers.c — the server's prep workers (server/workers.c): answers
 * ("first") run before queued decodes, FIFO within each class, the depth
 * counts what waits, stop runs everything queued before it returns, and a
 * push after stop runs on the caller's thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "server/workers.c"

typedef struct item {
    srv_work work; /* first member */
    int id;
    pthread_t ran_on;
} item;

static int order[64];
static atomic_int norder;
static atomic_int gate_open;

static void record(srv_work *w)
{
    item *it = (item *)w;
    it->ran_on = pthread_self();
    order[atomic_fetch_add(&norder, 1)] = it->id;
}

/* Holds the only worker until gate_open, so the others queue up. */
static void gate(srv_work *w)
{
    while (!atomic_load(&gate_open))
        usleep(1000);
    record(w);
}

static void test_answers_first_fifo_within(void **state)
{
    (void)state;
    atomic_store(&norder, 0);
    atomic_store(&gate_open, 0);
    srv_workers *p = srv_workers_create(1);
    assert_non_null(p);
    assert_int_equal(srv_workers_threads(p), 1);
    item g = {.work.run = gate, .id = 0};
    srv_workers_push(p, &g.work, 0);
    while (srv_workers_depth(p) != 0) /* the worker has taken the gate */
        usleep(1000);
    usleep(20000);
    item it[6];
    int first[6] = {0, 0, 1, 0, 1, 1};
    for (int i = 0; i < 6; i++) {
        it[i] = (item){.work.run = record, .id = i + 1};
        srv_workers_push(p, &it[i].work, first[i]);
    }
    assert_int_equal(srv_workers_depth(p), 6);
    atomic_store(&gate_open, 1);
    srv_workers_stop(p); /* returns once everything queued has run */
    assert_int_equal(atomic_load(&norder), 7);
    int want[7] = {0, 3, 5, 6, 1, 2, 4};
    for (int i = 0; i < 7; i++)
        assert_int_equal(order[i], want[i]);
    assert_int_equal(srv_workers_depth(p), 0);
    srv_workers_destroy(p);
}

static void test_push_after_stop_runs_inline(void **state)
{
    (void)state;
    atomic_store(&norder, 0);
    srv_workers *p = srv_workers_create(2);
    assert_non_null(p);
    srv_workers_stop(p);
    item it = {.work.run = record, .id = 9};
    srv_workers_push(p, &it.work, 0);
    assert_int_equal(atomic_load(&norder), 1);
    assert_true(pthread_equal(it.ran_on, pthread_self()));
    srv_workers_destroy(p);
}

static void test_many_threads_run_all_once(void **state)
{
    (void)state;
    atomic_store(&norder, 0);
    srv_workers *p = srv_workers_create(4);
    assert_non_null(p);
    item it[64];
    for (int i = 0; i < 64; i++) {
        it[i] = (item){.work.run = record, .id = i};
        srv_workers_push(p, &it[i].work, i & 1);
    }
    srv_workers_destroy(p);
    assert_int_equal(atomic_load(&norder), 64);
    int seen[64] = {0};
    for (int i = 0; i < 64; i++)
        seen[order[i]]++;
    for (int i = 0; i < 64; i++)
        assert_int_equal(seen[i], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_first_fifo_within),
        cmocka_unit_test(test_push_after_stop_runs_inline),
        cmocka_unit_test(test_many_threads_run_all_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
