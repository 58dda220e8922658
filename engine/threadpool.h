/* threadpool.h — one persistent pool of workers, created once.
 * Kernels split work with sk_parallel_for; a NULL pool runs serially.
 *
 * The calling thread takes part in every sk_parallel_for (it is worker 0).
 * Idle workers spin for a short while (so back-to-back kernels of one
 * inference do not pay a wake-up each) and then sleep on a condition
 * variable: an idle server burns no CPU. One sk_parallel_for runs at a time
 * per pool; a call made while another thread's call is in progress runs
 * serially on its caller (still correct, just not parallel). */
#ifndef SK_THREADPOOL_H
#define SK_THREADPOOL_H

#include <stddef.h>

typedef struct sk_pool sk_pool;

/* fn(arg, begin, end) is called on disjoint ranges covering [0, n). */
typedef void (*sk_range_fn)(void *arg, size_t begin, size_t end);
/* Same, with the index in [0, sk_pool_size(p)) of the thread running the
 * range, so a kernel can use per-thread scratch without locks. */
typedef void (*sk_range_tid_fn)(void *arg, int tid, size_t begin, size_t end);

sk_pool *sk_pool_create(int nthreads); /* nthreads <= 0: online CPUs */
void sk_pool_destroy(sk_pool *p);
int sk_pool_size(const sk_pool *p); /* 1 for NULL */
/* Split [0,n) into chunks of at least `grain` items. Of the job's C
 * chunks, thread t runs those of its share [t*C/T, (t+1)*C/T) first, in
 * order, then helps with the others' (order tasks by the data they touch). */
void sk_parallel_for(sk_pool *p, size_t n, size_t grain, sk_range_fn fn, void *arg);
void sk_parallel_for_tid(sk_pool *p, size_t n, size_t grain, sk_range_tid_fn fn, void *arg);

/* Online CPUs (at least 1). */
int sk_cpu_count(void);

#endif
