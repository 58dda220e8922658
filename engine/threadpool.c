/* threadpool.c — persistent worker pool (see threadpool.h).
 *
 * A job is published by bumping a generation counter under the mutex; workers
 * wait for a new generation by spinning ~spin_ns and then sleeping on
 * `wake`. Work is cut into chunks that every thread, the caller (thread 0)
 * included, claims from one atomic counter, which evens out uneven work.
 * A worker joins a job (`active`) only while it is `open`; when the chunks
 * run out the caller closes it and waits for the workers that joined, not
 * for all of them. Why: on a shared machine a worker may not get a CPU for
 * a whole scheduler slice (milliseconds); before, it owned a static first
 * chunk and the caller had to wait for it to run and report back, so a
 * 0.1 ms GEMM at 2 threads took as long as the other process's slice
 * (skipserve-gemm-bench: 200 GFLOP/s on 1 thread, 15-40 on 2 at a load
 * average of 9). Now the caller takes the chunks nobody claimed.
 *
 * Claim order: each thread first takes the chunks of its own contiguous
 * share ([t*n/T, (t+1)*n/T), one counter per thread on its own cache line),
 * then what is left of the others' shares. A kernel's tasks are ordered by
 * the data they touch (tile blocks, channel chunks), so in consecutive
 * layers of the same shape a thread mostly reads what it wrote itself —
 * from its own L2 rather than the other core's — where one shared counter
 * handed out tasks in the order the threads happened to arrive. Stealing
 * keeps the old balance: a late or descheduled worker's share is run by
 * the others. ResNet-18 / -50, batch 1 and 8, 2 threads: 3-6% faster, 15
 * of 16 rounds won, process CPU time 2-5% lower (bench/RESULTS.md, session
 * 15). SKIPSERVE_POOL_RANGES=0: the one shared counter (A/B). */
#include "threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long an idle thread spins before it sleeps: long enough to bridge the
 * gaps of one inference (between two kernels, and the caller's wait for
 * the last chunk of a worker), short enough that an idle server sleeps
 * almost at once. Every sleep puts a wake-up on the critical path, and in
 * a VM that is a hypervisor round trip of tens to hundreds of microseconds:
 * with 50 us ResNet-50 (batch 1, 2 threads) slept and woke ~230 times per
 * run, with 1 ms ~6 times, ~5% faster (bench/RESULTS.md, session 5).
 * With more threads than CPUs a spinning thread holds a CPU another one
 * needs, so the spin stays short there. SKIPSERVE_SPIN_US overrides both. */
#define SPIN_NS 1000000L
#define SPIN_NS_OVERSUBSCRIBED 50000L
/* Chunks per thread when the range allows: enough to rebalance uneven
 * work, few enough that claiming chunks costs nothing. */
#define CHUNKS_PER_THREAD 4
/* Up to this many items per thread, every item is its own chunk: such
 * small jobs are a kernel's own tasks (GEMM blocks, Winograd tile blocks),
 * already sized to balance over the threads. Grouping them left two
 * threads uneven: 10 GEMM tasks as 5 chunks of 2 gave one thread 6 of
 * the 10, 20 as 7 chunks of 3 gave one 12 (ResNet-50's 28x28 and 56x56
 * 1x1 convs at batch 1, 2 threads). A claim is one atomic add, nothing
 * next to a task of microseconds. */
#define SINGLE_ITEMS_PER_THREAD 16

/* Thread t's own range of a job's chunks, on its own cache line: the
 * counter is claimed by its owner and, once the owner's is empty, by the
 * others (stealing), so the hot case never shares a line. */
typedef struct range_slot {
    _Alignas(64) atomic_size_t next;
    size_t end;
    char pad[64 - sizeof(atomic_size_t) - sizeof(size_t)];
} range_slot;

struct sk_pool {
    int n; /* threads including the caller */
    long spin_ns; /* how long an idle thread spins before it sleeps */
    pthread_t *th;
    int nstarted;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers: new generation or stop */
    pthread_cond_t done; /* caller: pending reached 0 */
    atomic_uint gen;
    atomic_int active; /* workers inside the current job */
    atomic_int open;   /* 1 while the current job takes new workers */
    atomic_int stop;
    atomic_flag busy; /* one sk_parallel_for at a time */

    /* the current job; written before gen is bumped */
    sk_range_tid_fn fn;
    void *arg;
    size_t n_items, chunk, nchunks;
    atomic_size_t next; /* next chunk to claim (SKIPSERVE_POOL_RANGES=0) */
    int ranges;         /* claim order: each thread's own share first */
    range_slot *slot;   /* n slots: thread t's share [next, end) of chunks */
};

typedef struct worker_arg {
    sk_pool *p;
    int tid;
} worker_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int sk_cpu_count(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

static void run_range(sk_pool *p, int tid, range_slot *r)
{
    for (;;) {
        size_t c = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
        if (c >= r->end)
            break;
        size_t b = c * p->chunk, e = b + p->chunk;
        if (e > p->n_items)
            e = p->n_items;
        p->fn(p->arg, tid, b, e);
    }
}

static void run_chunks(sk_pool *p, int tid)
{
    if (p->ranges) {
        /* own range, then the others' leftovers, nearest first */
        for (int k = 0; k < p->n; k++)
            run_range(p, tid, &p->slot[(tid + k) % p->n]);
        return;
    }
    for (;;) {
        size_t c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (c >= p->nchunks)
            break;
        size_t b = c * p->chunk, e = b + p->chunk;
        if (e > p->n_items)
            e = p->n_items;
        p->fn(p->arg, tid, b, e);
    }
}

static void *worker_main(void *v)
{
    worker_arg *wa = v;
    sk_pool *p = wa->p;
    int tid = wa->tid;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        /* spin briefly, then sleep */
        unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
        if (g == seen && !atomic_load(&p->stop)) {
            long t0 = now_ns();
            for (int i = 0;; i++) {
                cpu_relax();
                g = atomic_load_explicit(&p->gen, memory_order_acquire);
                if (g != seen || atomic_load(&p->stop))
                    break;
                if ((i & 63) == 63 && now_ns() - t0 > p->spin_ns)
                    break;
            }
        }
        if (g == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            break;
        seen = g;
        /* Join, then look whether the job still takes workers: the caller
         * closes before it reads `active` (both seq_cst), so either it sees
         * this worker or this worker sees the job closed and leaves without
         * reading it. A job opened since `g` was read is a whole one too
         * (its fields are written before it opens). */
        atomic_fetch_add(&p->active, 1);
        if (atomic_load(&p->open))
            run_chunks(p, tid);
        if (atomic_fetch_sub_explicit(&p->active, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

sk_pool *sk_pool_create(int nthreads)
{
    if (nthreads <= 0)
        nthreads = sk_cpu_count();
    sk_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = nthreads;
    p->spin_ns = nthreads <= sk_cpu_count() ? SPIN_NS : SPIN_NS_OVERSUBSCRIBED;
    const char *e = getenv("SKIPSERVE_SPIN_US");
    if (e && *e) {
        char *end;
        long us = strtol(e, &end, 10);
        if (*end == '\0' && us >= 0 && us <= 1000000)
            p->spin_ns = us * 1000L;
    }
    atomic_init(&p->gen, 0);
    atomic_init(&p->active, 0);
    atomic_init(&p->open, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->next, 0);
    atomic_flag_clear(&p->busy);
    const char *r = getenv("SKIPSERVE_POOL_RANGES");
    p->ranges = !(r && !strcmp(r, "0"));
    p->slot = aligned_alloc(64, sizeof(range_slot) * (size_t)nthreads);
    if (!p->slot) {
        free(p);
        return NULL;
    }
    for (int t = 0; t < nthreads; t++)
        atomic_init(&p->slot[t].next, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (nthreads > 1) {
        p->th = calloc((size_t)nthreads, sizeof *p->th);
        if (!p->th) {
            sk_pool_destroy(p);
            return NULL;
        }
        for (int t = 1; t < nthreads; t++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) {
                wa->p = p;
                wa->tid = t;
            }
            if (!wa || pthread_create(&p->th[t], NULL, worker_main, wa) != 0) {
                free(wa);
                sk_pool_destroy(p);
                return NULL;
            }
            p->nstarted = t;
        }
    }
    return p;
}

void sk_pool_destroy(sk_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t <= p->nstarted; t++)
        pthread_join(p->th[t], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->th);
    free(p->slot);
    free(p);
}

int sk_pool_size(const sk_pool *p) { return p ? p->n : 1; }

void sk_parallel_for_tid(sk_pool *p, size_t n, size_t grain, sk_range_tid_fn fn, void *arg)
{
    if (n == 0)
        return;
    if (grain == 0)
        grain = 1;
    if (!p || p->n <= 1 || n <= grain || atomic_flag_test_and_set(&p->busy)) {
        fn(arg, 0, 0, n);
        return;
    }
    size_t want = (size_t)p->n * CHUNKS_PER_THREAD;
    size_t chunk = (n + want - 1) / want;
    if (n <= (size_t)p->n * SINGLE_ITEMS_PER_THREAD)
        chunk = 1;
    if (chunk < grain)
        chunk = grain;
    p->fn = fn;
    p->arg = arg;
    p->n_items = n;
    p->chunk = chunk;
    p->nchunks = (n + chunk - 1) / chunk;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    for (int t = 0; t < p->n; t++) {
        p->slot[t].end = p->nchunks * (size_t)(t + 1) / (size_t)p->n;
        atomic_store_explicit(&p->slot[t].next, p->nchunks * (size_t)t / (size_t)p->n,
                              memory_order_relaxed);
    }
    atomic_store(&p->open, 1); /* after the fields: a worker that sees it open reads them */

    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    run_chunks(p, 0);

    /* Every chunk is claimed: close the job, then wait for the workers
     * inside it (they have a chunk in hand, or are about to find none).
     * Spin a little, then sleep. */
    atomic_store(&p->open, 0);
    long t0 = now_ns();
    for (int i = 0; atomic_load(&p->active) > 0; i++) {
        cpu_relax();
        if ((i & 63) == 63 && now_ns() - t0 > p->spin_ns) {
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->active) > 0)
                pthread_cond_wait(&p->done, &p->mu);
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
    atomic_flag_clear(&p->busy);
}

typedef struct plain_job {
    sk_range_fn fn;
    void *arg;
} plain_job;

static void plain_task(void *arg, int tid, size_t b, size_t e)
{
    (void)tid;
    plain_job *j = arg;
    j->fn(j->arg, b, e);
}

void sk_parallel_for(sk_pool *p, size_t n, size_t grain, sk_range_fn fn, void *arg)
{
    plain_job j = {fn, arg};
    sk_parallel_for_tid(p, n, grain, plain_task, &j);
}
