/* plancache.c — see plancache.h. A short array searched linearly: the
 * count bound is small (tens at most) and a lookup costs nothing next to
 * the run it prepares. Recency is a tick stamped on every use. */
#include "server/plancache.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"

typedef struct entry {
    int ch, h, w;
    sk_plan *plan;
    size_t bytes;
    uint64_t used; /* tick of the last get */
    int pins;
} entry;

struct srv_plan_cache {
    pthread_mutex_t lock;
    char *model;
    int max_plans;
    size_t max_bytes;
    entry *e;
    int n, cap;
    size_t bytes;
    uint64_t tick;
    long hits, misses, evictions;
};

srv_plan_cache *srv_plan_cache_new(const char *model, int max_plans, size_t max_bytes)
{
    srv_plan_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->model = strdup(model);
    c->max_plans = max_plans < 1 ? 1 : max_plans;
    c->max_bytes = max_bytes;
    c->cap = c->max_plans + 1; /* +1: a new plan while every held one is pinned */
    c->e = calloc((size_t)c->cap, sizeof *c->e);
    if (!c->model || !c->e) {
        free(c->model);
        free(c->e);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void srv_plan_cache_free(srv_plan_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        sk_plan_free(c->e[i].plan);
    srv_metrics_plan_cache(c->model, 0, 0, 0, -c->n, -(double)c->bytes);
    pthread_mutex_destroy(&c->lock);
    free(c->e);
    free(c->model);
    free(c);
}

/* Under the lock: evict the least recently used unpinned plans while over
 * a bound. */
static void trim(srv_plan_cache *c)
{
    while (c->n > c->max_plans || (c->max_bytes && c->bytes > c->max_bytes)) {
        int lru = -1;
        for (int i = 0; i < c->n; i++)
            if (!c->e[i].pins && (lru < 0 || c->e[i].used < c->e[lru].used))
                lru = i;
        if (lru < 0)
            return; /* everything left is running */
        entry victim = c->e[lru];
        c->e[lru] = c->e[--c->n];
        c->bytes -= victim.bytes;
        c->evictions++;
        sk_plan_free(victim.plan);
        srv_metrics_plan_cache(c->model, 0, 0, 1, -1, -(double)victim.bytes);
    }
}

sk_plan *srv_plan_cache_get(srv_plan_cache *c, const sk_graph *g, struct sk_pool *pool, int ch,
                            int h, int w, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n; i++) {
        entry *e = &c->e[i];
        if (e->ch == ch && e->h == h && e->w == w) {
            e->pins++;
            e->used = ++c->tick;
            c->hits++;
            sk_plan *p = e->plan;
            pthread_mutex_unlock(&c->lock);
            srv_metrics_plan_cache(c->model, 1, 0, 0, 0, 0);
            return p;
        }
    }
    c->misses++;
    pthread_mutex_unlock(&c->lock);
    srv_metrics_plan_cache(c->model, 0, 1, 0, 0, 0);

    /* Planned outside the cache's lock (the engine only reads the graph);
     * the caller holds the engine lock if planning may touch the pool. */
    sk_tensor in = {.dtype = SK_F32, .shape = {.rank = 4, .dim = {1, ch, h, w}}, .data = NULL};
    sk_plan *p = NULL;
    if (sk_plan_create(g, &in, pool, &p, err, errlen))
        return NULL;
    size_t bytes = sk_plan_arena_bytes(p);

    pthread_mutex_lock(&c->lock);
    /* Make room first, so the array (max_plans + 1 entries) always holds
     * the new plan: only pinned plans can be left past max_plans, and each
     * pin is a run in progress. */
    if (c->n >= c->cap) {
        entry *ne = realloc(c->e, (size_t)(c->cap * 2) * sizeof *ne);
        if (!ne) {
            pthread_mutex_unlock(&c->lock);
            sk_plan_free(p);
            snprintf(err, errlen, "out of memory for the plan cache");
            return NULL;
        }
        c->e = ne;
        c->cap *= 2;
    }
    c->e[c->n++] = (entry){.ch = ch, .h = h, .w = w, .plan = p, .bytes = bytes,
                           .used = ++c->tick, .pins = 1};
    c->bytes += bytes;
    srv_metrics_plan_cache(c->model, 0, 0, 0, 1, (double)bytes);
    trim(c);
    pthread_mutex_unlock(&c->lock);
    return p;
}

void srv_plan_cache_release(srv_plan_cache *c, sk_plan *p)
{
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < c->n; i++)
        if (c->e[i].plan == p && c->e[i].pins > 0) {
            c->e[i].pins--;
            break;
        }
    trim(c);
    pthread_mutex_unlock(&c->lock);
}

void srv_plan_cache_stats_get(srv_plan_cache *c, srv_plan_cache_stats *s)
{
    pthread_mutex_lock(&c->lock);
    s->hits = c->hits;
    s->misses = c->misses;
    s->evictions = c->evictions;
    s->plans = c->n;
    s->bytes = c->bytes;
    pthread_mutex_unlock(&c->lock);
}
