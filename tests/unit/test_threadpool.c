/* test_threadpool.c — the persistent pool: every index covered exactly once
 * for many (threads, n, grain) combinations, ranges respect the grain, the
 * caller takes part, nested and concurrent calls are safe, idle workers burn
 * no CPU, and a pool with sleeping workers is destroyed cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "threadpool.h"

typedef struct cover {
    atomic_int *hits;
    size_t n, grain;
    atomic_int bad_range; /* a non-final range shorter than the grain */
    atomic_int bad_tid;
    atomic_int tids_seen; /* bit per tid */
    int nthreads;
    sk_pool *pool;
    int nested;
} cover;

static void cover_fn(void *arg, int tid, size_t b, size_t e)
{
    cover *c = arg;
    if (tid < 0 || tid >= c->nthreads)
        atomic_fetch_add(&c->bad_tid, 1);
    else
        atomic_fetch_or(&c->tids_seen, 1 << tid);
    if (e <= b || e > c->n || (e - b < c->grain && e != c->n))
        atomic_fetch_add(&c->bad_range, 1);
    for (size_t i = b; i < e && i < c->n; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

static void check_cover(sk_pool *p, int nthreads, size_t n, size_t grain)
{
    cover c;
    memset(&c, 0, sizeof c);
    c.hits = calloc(n + 1, sizeof *c.hits);
    assert_non_null(c.hits);
    c.n = n;
    c.grain = grain;
    c.nthreads = nthreads;
    sk_parallel_for_tid(p, n, grain, cover_fn, &c);
    for (size_t i = 0; i < n; i++)
        if (atomic_load(&c.hits[i]) != 1)
            fail_msg("threads %d n %zu grain %zu: index %zu hit %d times", nthreads, n, grain,
                     i, atomic_load(&c.hits[i]));
    assert_int_equal(atomic_load(&c.bad_range), 0);
    assert_int_equal(atomic_load(&c.bad_tid), 0);
    free(c.hits);
}

static void test_cover_exactly_once(void **state)
{
    (void)state;
    static const int threads[] = {1, 2, 3, 4, 8};
    static const size_t ns[] = {0, 1, 2, 3, 7, 16, 63, 64, 65, 1000, 1001, 100003};
    static const size_t grains[] = {0, 1, 2, 3, 7, 64, 1000, 200000};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        sk_pool *p = sk_pool_create(threads[t]);
        assert_non_null(p);
        assert_int_equal(sk_pool_size(p), threads[t]);
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (size_t g = 0; g < sizeof grains / sizeof *grains; g++)
                check_cover(p, threads[t], ns[i], grains[g]);
        sk_pool_destroy(p);
    }
}

static void test_null_pool_runs_serially(void **state)
{
    (void)state;
    assert_int_equal(sk_pool_size(NULL), 1);
    check_cover(NULL, 1, 1000, 7);
}

/* plain sk_parallel_for, with uneven work: later items cost more */
typedef struct uneven {
    atomic_long sum;
} uneven;

static void uneven_fn(void *arg, size_t b, size_t e)
{
    uneven *u = arg;
    for (size_t i = b; i < e; i++) {
        volatile long x = 0;
        for (size_t k = 0; k < i; k++)
            x += (long)k;
        atomic_fetch_add(&u->sum, (long)i);
        (void)x;
    }
}

static void test_uneven_plain(void **state)
{
    (void)state;
    sk_pool *p = sk_pool_create(3);
    assert_non_null(p);
    uneven u;
    atomic_init(&u.sum, 0);
    size_t n = 3000;
    sk_parallel_for(p, n, 1, uneven_fn, &u);
    assert_int_equal(atomic_load(&u.sum), (long)(n * (n - 1) / 2));
    sk_pool_destroy(p);
}

/* one thread: everything runs on the caller */
typedef struct self_check {
    pthread_t caller;
    atomic_int other;
} self_check;

static void self_fn(void *arg, size_t b, size_t e)
{
    (void)b;
    (void)e;
    self_check *s = arg;
    if (!pthread_equal(pthread_self(), s->caller))
        atomic_fetch_add(&s->other, 1);
}

static void test_one_thread_is_caller(void **state)
{
    (void)state;
    sk_pool *p = sk_pool_create(1);
    assert_non_null(p);
    self_check s;
    s.caller = pthread_self();
    atomic_init(&s.other, 0);
    sk_parallel_for(p, 1000, 1, self_fn, &s);
    assert_int_equal(atomic_load(&s.other), 0);
    sk_pool_destroy(p);
}

static void test_default_size_is_cpu_count(void **state)
{
    (void)state;
    sk_pool *p = sk_pool_create(0);
    assert_non_null(p);
    assert_int_equal(sk_pool_size(p), sk_cpu_count());
    sk_pool_destroy(p);
    p = sk_pool_create(-3);
    assert_non_null(p);
    assert_int_equal(sk_pool_size(p), sk_cpu_count());
    sk_pool_destroy(p);
}

/* Chunks that block: the workers must take some, so several tids appear. */
static void sleepy_fn(void *arg, int tid, size_t b, size_t e)
{
    cover *c = arg;
    atomic_fetch_or(&c->tids_seen, 1 << tid);
    for (size_t i = b; i < e; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        atomic_fetch_add(&c->hits[i], 1);
    }
}

static void test_workers_take_part(void **state)
{
    (void)state;
    sk_pool *p = sk_pool_create(4);
    assert_non_null(p);
    cover c;
    memset(&c, 0, sizeof c);
    c.hits = calloc(64, sizeof *c.hits);
    assert_non_null(c.hits);
    sk_parallel_for_tid(p, 64, 1, sleepy_fn, &c);
    int seen = atomic_load(&c.tids_seen), count = 0;
    for (int t = 0; t < 4; t++)
        count += (seen >> t) & 1;
    assert_true(seen & 1); /* the caller took part */
    assert_true(count >= 2);
    for (int i = 0; i < 64; i++)
        assert_int_equal(atomic_load(&c.hits[i]), 1);
    free(c.hits);
    sk_pool_destroy(p);
}

/* A kernel that itself calls sk_parallel_for on the same pool. */
static void outer_fn(void *arg, int tid, size_t b, size_t e)
{
    (void)tid;
    cover *c = arg;
    for (size_t i = b; i < e; i++) {
        cover inner;
        memset(&inner, 0, sizeof inner);
        atomic_int hits[10];
        for (int k = 0; k < 10; k++)
            atomic_init(&hits[k], 0);
        inner.hits = hits;
        inner.n = 10;
        inner.grain = 1;
        inner.nthreads = c->nthreads;
        sk_parallel_for_tid(c->pool, 10, 1, cover_fn, &inner);
        int ok = atomic_load(&inner.bad_range) == 0 && atomic_load(&inner.bad_tid) == 0;
        for (int k = 0; k < 10; k++)
            ok &= atomic_load(&hits[k]) == 1;
        if (ok)
            atomic_fetch_add(&c->hits[i], 1);
    }
}

static void test_nested_calls(void **state)
{
    (void)state;
    sk_pool *p = sk_pool_create(3);
    assert_non_null(p);
    cover c;
    memset(&c, 0, sizeof c);
    c.hits = calloc(100, sizeof *c.hits);
    assert_non_null(c.hits);
    c.n = 100;
    c.nthreads = 3;
    c.pool = p;
    sk_parallel_for_tid(p, 100, 1, outer_fn, &c);
    for (int i = 0; i < 100; i++)
        assert_int_equal(atomic_load(&c.hits[i]), 1);
    free(c.hits);
    sk_pool_destroy(p);
}

/* Two threads share a pool: both calls must complete correctly. */
typedef struct concurrent {
    sk_pool *p;
    int ok;
} concurrent;

static void *concurrent_main(void *v)
{
    concurrent *cc = v;
    cc->ok = 1;
    for (int r = 0; r < 200; r++) {
        cover c;
        memset(&c, 0, sizeof c);
        atomic_int hits[333];
        for (int k = 0; k < 333; k++)
            atomic_init(&hits[k], 0);
        c.hits = hits;
        c.n = 333;
        c.grain = 5;
        c.nthreads = sk_pool_size(cc->p);
        sk_parallel_for_tid(cc->p, 333, 5, cover_fn, &c);
        for (int k = 0; k < 333; k++)
            if (atomic_load(&hits[k]) != 1)
                cc->ok = 0;
    }
    return NULL;
}

static void test_concurrent_callers(void **state)
{
    (void)state;
    sk_pool *p = sk_pool_create(3);
    assert_non_null(p);
    concurrent a = {p, 0}, b = {p, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, concurrent_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, concurrent_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_true(a.ok);
    assert_true(b.ok);
    sk_pool_destroy(p);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_idle_burns_no_cpu(void **state)
{
    (void)state;
    sk_pool *p = sk_pool_create(4);
    assert_non_null(p);
    check_cover(p, 4, 10000, 1); /* workers have run, and now go idle */
    struct timespec settle = {0, 50000000};
    nanosleep(&settle, NULL);
    double c0 = cpu_seconds();
    struct timespec idle = {0, 400000000};
    nanosleep(&idle, NULL);
    double used = cpu_seconds() - c0;
    /* three spinning workers would use ~1.2 s of CPU here */
    if (used > 0.04)
        fail_msg("idle pool used %.3f s of CPU in 0.4 s", used);
    check_cover(p, 4, 10000, 1); /* sleeping workers wake for new work */
    sk_pool_destroy(p);
}

static void test_destroy_idle_and_fresh(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++) {
        sk_pool *p = sk_pool_create(1 + i % 5);
        assert_non_null(p);
        sk_pool_destroy(p); /* workers may not have started waiting yet */
    }
    sk_pool *p = sk_pool_create(4);
    assert_non_null(p);
    check_cover(p, 4, 500, 1);
    struct timespec ts = {0, 150000000};
    nanosleep(&ts, NULL); /* workers past their spin, asleep */
    sk_pool_destroy(p);
    sk_pool_destroy(NULL);
}

/* SKIPSERVE_SPIN_US=0: every wait sleeps at once, so every job goes through
 * the condition variables (wake and done) — back-to-back jobs of every size
 * still cover each index once; and the long default spin still lets an
 * oversubscribed pool (more threads than CPUs) finish. */
static void test_no_spin_and_oversubscribed(void **state)
{
    (void)state;
    setenv("SKIPSERVE_SPIN_US", "0", 1);
    sk_pool *p = sk_pool_create(3);
    unsetenv("SKIPSERVE_SPIN_US");
    assert_non_null(p);
    for (size_t n = 1; n < 3000; n = n * 3 + 1)
        for (int rep = 0; rep < 20; rep++)
            check_cover(p, 3, n, 1);
    sk_pool_destroy(p);
    int over = 4 * sk_cpu_count();
    p = sk_pool_create(over);
    assert_non_null(p);
    for (int rep = 0; rep < 50; rep++)
        check_cover(p, over, 1000, 1);
    sk_pool_destroy(p);
}

/* A worker that gets no CPU (here: held 400 ms in a signal handler, as a
 * shared machine's scheduler can hold it for a slice) must not hold up a
 * job: the caller claims every chunk and returns without waiting for it;
 * the worker wakes later, finds the job closed, and takes the next one. */
static atomic_int held_in, held_out;
static void hold_handler(int sig)
{
    (void)sig;
    atomic_store(&held_in, 1);
    struct timespec ts = {0, 400000000};
    nanosleep(&ts, NULL);
    atomic_store(&held_out, 1);
}

static pthread_t worker_self;
static atomic_int worker_found;
/* chunks that sleep 2 ms, so the worker takes some; it notes its thread */
static void note_worker(void *arg, int tid, size_t b, size_t e)
{
    (void)arg;
    if (tid == 1 && !atomic_load(&worker_found)) {
        worker_self = pthread_self();
        atomic_store(&worker_found, 1);
    }
    for (size_t i = b; i < e; i++) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void test_stalled_worker_does_not_hold_the_job(void **state)
{
    (void)state;
    sk_pool *p = sk_pool_create(2);
    assert_non_null(p);
    atomic_store(&worker_found, 0);
    for (int tries = 0; tries < 50 && !atomic_load(&worker_found); tries++)
        sk_parallel_for_tid(p, 8, 1, note_worker, NULL);
    if (!atomic_load(&worker_found))
        skip(); /* the worker never took a chunk (a very busy machine) */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = hold_handler;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
    atomic_store(&held_in, 0);
    atomic_store(&held_out, 0);
    assert_int_equal(pthread_kill(worker_self, SIGUSR1), 0);
    while (!atomic_load(&held_in)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    double t0 = wall_seconds();
    for (int rep = 0; rep < 20; rep++)
        check_cover(p, 2, 1000, 1);
    double took = wall_seconds() - t0;
    int still_held = !atomic_load(&held_out);
    while (!atomic_load(&held_out)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* done while the worker was still held (or at least quickly) */
    if (!still_held && took > 0.2)
        fail_msg("20 jobs of 1000 empty chunks waited %.3f s for the held worker", took);
    check_cover(p, 2, 1000, 1); /* the worker is back and takes part again */
    signal(SIGUSR1, SIG_DFL);
    sk_pool_destroy(p);
}

/* A job of few items (a kernel's own tasks, e.g. 10 GEMM blocks on 2
 * threads) is claimed one item at a time, so neither thread can end up
 * with a chunk more than the other; a large job is still grouped, and a
 * grain is still honoured. */
typedef struct ranges {
    atomic_int calls, longest;
} ranges;

static void range_fn(void *arg, int tid, size_t b, size_t e)
{
    (void)tid;
    ranges *r = arg;
    atomic_fetch_add(&r->calls, 1);
    int len = (int)(e - b), cur = atomic_load(&r->longest);
    while (len > cur && !atomic_compare_exchange_weak(&r->longest, &cur, len))
        ;
}

static void run_ranges(sk_pool *p, size_t n, size_t grain, ranges *r)
{
    atomic_store(&r->calls, 0);
    atomic_store(&r->longest, 0);
    sk_parallel_for_tid(p, n, grain, range_fn, r);
}

static void test_small_jobs_claimed_per_item(void **state)
{
    (void)state;
    static const int threads[] = {2, 3};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        sk_pool *p = sk_pool_create(threads[t]);
        assert_non_null(p);
        ranges r;
        for (size_t n = 2; n <= (size_t)threads[t] * 16; n++) {
            run_ranges(p, n, 1, &r);
            if (atomic_load(&r.calls) != (int)n || atomic_load(&r.longest) != 1)
                fail_msg("threads %d n %zu: %d calls, longest range %d (want %zu, 1)",
                         threads[t], n, atomic_load(&r.calls), atomic_load(&r.longest), n);
        }
        /* the grain still sets the smallest chunk */
        run_ranges(p, 20, 4, &r);
        assert_int_equal(atomic_load(&r.calls), 5);
        assert_int_equal(atomic_load(&r.longest), 4);
        /* a large job of cheap items is cut into about 4 chunks a thread */
        run_ranges(p, 10000, 1, &r);
        assert_true(atomic_load(&r.calls) <= threads[t] * 4);
        assert_true(atomic_load(&r.longest) >= 10000 / (threads[t] * 4));
        sk_pool_destroy(p);
    }
}

/* Claim order: each thread takes its own contiguous share of the chunks
 * first (thread t: [t*n/T, (t+1)*n/T)), so a thread works on the same part
 * of the data in consecutive kernels; only then does it take what is left
 * of the others'. Whatever the timing, each thread's first chunk lies in its
 * own share: thread 1 reaches the caller's share only after emptying its
 * own, and the caller thread 1's only after emptying its own, so a thread
 * that finds its share empty finds nothing else either. (Which thread runs
 * how much is timing: the caller can lose its CPU for the whole job.) With
 * SKIPSERVE_POOL_RANGES=0 chunks come from one counter (coverage only). */
typedef struct first_claim {
    atomic_long first[2];
} first_claim;

static void claim_fn(void *arg, int tid, size_t b, size_t e)
{
    first_claim *f = arg;
    long want = -1;
    atomic_compare_exchange_strong(&f->first[tid], &want, (long)b);
    double t0 = wall_seconds();
    while (wall_seconds() - t0 < 50e-6 * (double)(e - b))
        ;
}

static void test_ranges_start_own(void **state)
{
    (void)state;
    setenv("SKIPSERVE_POOL_RANGES", "0", 1);
    sk_pool *p = sk_pool_create(3);
    unsetenv("SKIPSERVE_POOL_RANGES");
    assert_non_null(p);
    static const size_t ns[] = {1, 2, 7, 48, 49, 1001, 100003};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        check_cover(p, 3, ns[i], 1);
    sk_pool_destroy(p);

    p = sk_pool_create(2);
    assert_non_null(p);
    int both_took = 0;
    for (int rep = 0; rep < 20; rep++) {
        first_claim f;
        atomic_init(&f.first[0], -1);
        atomic_init(&f.first[1], -1);
        sk_parallel_for_tid(p, 16, 1, claim_fn, &f);
        long c = atomic_load(&f.first[0]), w = atomic_load(&f.first[1]);
        if (c >= 8 || w >= 16 || (w >= 0 && w < 8) || (c < 0 && w < 0))
            fail_msg("rep %d: first chunks: the caller's %ld, the worker's %ld (want [0, 8) and "
                     "[8, 16), -1 for a thread that ran none)",
                     rep, c, w);
        both_took |= c >= 0 && w >= 0;
    }
    sk_pool_destroy(p);
    if (!both_took)
        skip(); /* never both threads in one job (a very busy machine) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cover_exactly_once),
        cmocka_unit_test(test_null_pool_runs_serially),
        cmocka_unit_test(test_uneven_plain),
        cmocka_unit_test(test_one_thread_is_caller),
        cmocka_unit_test(test_default_size_is_cpu_count),
        cmocka_unit_test(test_workers_take_part),
        cmocka_unit_test(test_nested_calls),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_idle_burns_no_cpu),
        cmocka_unit_test(test_destroy_idle_and_fresh),
        cmocka_unit_test(test_no_spin_and_oversubscribed),
        cmocka_unit_test(test_stalled_worker_does_not_hold_the_job),
        cmocka_unit_test(test_small_jobs_claimed_per_item),
        cmocka_unit_test(test_ranges_start_own),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
