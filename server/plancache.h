/* plancache.h — plans of one model's graph keyed by input shape, for
 * segmenters that run at each image's own size (native.h). Bounded by a
 * count and by arena bytes; least recently used plans are evicted first,
 * and a plan handed out (pinned) is never evicted until it is given back.
 * Thread-safe (one lock), though today only the model's batcher thread
 * takes plans. Hits, misses, evictions, plans and bytes held go to the
 * metrics under the model's name. */
#ifndef SRV_PLANCACHE_H
#define SRV_PLANCACHE_H

#include <stddef.h>

#include "engine/graph.h"
#include "engine/plan.h"

struct sk_pool;
typedef struct srv_plan_cache srv_plan_cache;

/* max_plans >= 1; max_bytes 0: no byte bound. `model` names the metrics
 * series (copied). */
srv_plan_cache *srv_plan_cache_new(const char *model, int max_plans, size_t max_bytes);
/* Frees every plan; none may be pinned. */
void srv_plan_cache_free(srv_plan_cache *c);

/* The plan for a batch-1 input of c x h x w, pinned: from the cache, or
 * created (sk_plan_create) and inserted, evicting unpinned plans past the
 * bounds. NULL with err filled when the graph cannot be planned at that
 * shape. Give it back with srv_plan_cache_release. Planning folds
 * constant nodes with kernels on `pool`: call it where a run could be
 * (under the server's engine lock). */
sk_plan *srv_plan_cache_get(srv_plan_cache *c, const sk_graph *g, struct sk_pool *pool, int ch,
                            int h, int w, char *err, size_t errlen);
/* Unpin p; if the cache is over its bounds, unpinned plans (p included)
 * are evicted now, so the bounds hold whenever nothing runs. */
void srv_plan_cache_release(srv_plan_cache *c, sk_plan *p);

typedef struct srv_plan_cache_stats {
    long hits, misses, evictions;
    int plans;
    size_t bytes;
} srv_plan_cache_stats;
void srv_plan_cache_stats_get(srv_plan_cache *c, srv_plan_cache_stats *s);

#endif
