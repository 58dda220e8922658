/* threadpool.c — placeholder serial pool; the persistent worker pool of
 * issue "Fast engine" replaces it behind the same API. */
#include "threadpool.h"

#include <stdlib.h>

struct sk_pool {
    int n;
};

sk_pool *sk_pool_create(int nthreads)
{
    sk_pool *p = calloc(1, sizeof *p);
    if (p)
        p->n = nthreads > 0 ? nthreads : 1;
    return p;
}

void sk_pool_destroy(sk_pool *p) { free(p); }

int sk_pool_size(const sk_pool *p) { return p ? p->n : 1; }

void sk_parallel_for(sk_pool *p, size_t n, size_t grain, sk_range_fn fn, void *arg)
{
    (void)p;
    (void)grain;
    if (n)
        fn(arg, 0, n);
}
