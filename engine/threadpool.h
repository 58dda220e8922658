/* threadpool.h — one persistent pool of workers, created once.
 * Kernels split work with sk_parallel_for; a NULL pool runs serially. */
#ifndef SK_THREADPOOL_H
#define SK_THREADPOOL_H

#include <stddef.h>

typedef struct sk_pool sk_pool;

/* fn(arg, begin, end) is called on disjoint ranges covering [0, n). */
typedef void (*sk_range_fn)(void *arg, size_t begin, size_t end);

sk_pool *sk_pool_create(int nthreads); /* nthreads <= 0: online CPUs */
void sk_pool_destroy(sk_pool *p);
int sk_pool_size(const sk_pool *p); /* 1 for NULL */
/* Split [0,n) into chunks of at least `grain` items. */
void sk_parallel_for(sk_pool *p, size_t n, size_t grain, sk_range_fn fn, void *arg);

#endif
