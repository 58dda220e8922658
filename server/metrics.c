/* metrics.c — a small fixed registry: each family keeps a list of series
 * keyed by their rendered label set. One mutex guards all of it; updates
 * are a few additions, far cheaper than the request they describe. */
#include "server/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/batcher.h"
#include "server/model.h"
#include "server/workers.h"

/* Seconds, from half a millisecond (a small batch) to 10 s (a deadline). */
static const double SEC_BUCKETS[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,    0.25,  0.5,    1.0,   2.5,   5.0,   10.0};
static const double BATCH_BUCKETS[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define NSEC (sizeof SEC_BUCKETS / sizeof SEC_BUCKETS[0])
#define NBATCH (sizeof BATCH_BUCKETS / sizeof BATCH_BUCKETS[0])
#define MAXB 16

typedef struct series {
    struct series *next;
    char *labels;
    double count, sum;
    double bucket[MAXB]; /* non-cumulative; summed at render time */
} series;

typedef struct family {
    const char *name, *help, *type;
    const double *bounds;
    size_t nbounds;
    series *head;
} family;

static family F_REQ = {"skipserve_requests_total", "HTTP requests answered, by status code.",
                       "counter", NULL, 0, NULL};
static family F_DUR = {"skipserve_request_duration_seconds",
                       "Time from request headers to the answer sent.", "histogram",
                       SEC_BUCKETS, NSEC, NULL};
static family F_QUEUE = {"skipserve_queue_duration_seconds",
                         "Time an image waited in the batcher queue.", "histogram", SEC_BUCKETS,
                         NSEC, NULL};
static family F_INFER = {"skipserve_infer_duration_seconds", "Engine time for one batch.",
                         "histogram", SEC_BUCKETS, NSEC, NULL};
static family F_BATCH = {"skipserve_batch_size", "Images per engine batch.", "histogram",
                         BATCH_BUCKETS, NBATCH, NULL};

static family F_TILES = {"skipserve_tiles_total",
                         "Tiles of tiled segmentations run through the engine.", "counter", NULL,
                         0, NULL};
/* a gauge: the value is the series' sum */
static family F_TILES_PENDING = {"skipserve_tiles_pending",
                                 "Tiles of admitted tiled segmentations not run yet.", "gauge",
                                 NULL, 0, NULL};

/* Native-size segmentation's plan cache (plancache.h). */
static family F_PC_HITS = {"skipserve_plan_cache_hits_total",
                           "Native-size runs that found their shape's plan cached.", "counter",
                           NULL, 0, NULL};
static family F_PC_MISSES = {"skipserve_plan_cache_misses_total",
                             "Native-size runs that had to plan their shape.", "counter", NULL, 0,
                             NULL};
static family F_PC_EVICT = {"skipserve_plan_cache_evictions_total",
                            "Plans evicted from the cache (least recently used first).",
                            "counter", NULL, 0, NULL};
static family F_PC_PLANS = {"skipserve_plan_cache_plans", "Plans held by the cache.", "gauge",
                            NULL, 0, NULL};
static family F_PC_BYTES = {"skipserve_plan_cache_bytes",
                            "Arena bytes of the plans held by the cache.", "gauge", NULL, 0,
                            NULL};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void srv_metrics_init(void) {}

static void free_family(family *f)
{
    for (series *s = f->head, *n; s; s = n) {
        n = s->next;
        free(s->labels);
        free(s);
    }
    f->head = NULL;
}

void srv_metrics_free(void)
{
    free_family(&F_REQ);
    free_family(&F_DUR);
    free_family(&F_QUEUE);
    free_family(&F_INFER);
    free_family(&F_BATCH);
    free_family(&F_TILES);
    free_family(&F_TILES_PENDING);
    free_family(&F_PC_HITS);
    free_family(&F_PC_MISSES);
    free_family(&F_PC_EVICT);
    free_family(&F_PC_PLANS);
    free_family(&F_PC_BYTES);
}

/* Caller holds g_lock. */
static series *get_series(family *f, const char *labels)
{
    for (series *s = f->head; s; s = s->next)
        if (strcmp(s->labels, labels) == 0)
            return s;
    series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->labels = strdup(labels);
    if (!s->labels) {
        free(s);
        return NULL;
    }
    /* Append so output order is first-seen order. */
    series **p = &f->head;
    while (*p)
        p = &(*p)->next;
    *p = s;
    return s;
}

static void observe(family *f, const char *labels, double v)
{
    pthread_mutex_lock(&g_lock);
    series *s = get_series(f, labels);
    if (s) {
        s->count += 1;
        s->sum += v;
        for (size_t i = 0; i < f->nbounds; i++) {
            if (v <= f->bounds[i]) {
                s->bucket[i] += 1;
                break;
            }
        }
    }
    pthread_mutex_unlock(&g_lock);
}

void srv_metrics_request(const char *endpoint, const char *model, int status, double seconds)
{
    char l[256];
    snprintf(l, sizeof l, "endpoint=\"%s\",model=\"%s\",code=\"%d\"", endpoint, model, status);
    observe(&F_REQ, l, 0);
    snprintf(l, sizeof l, "endpoint=\"%s\",model=\"%s\"", endpoint, model);
    observe(&F_DUR, l, seconds);
}

static void model_observe(family *f, const char *model, double v)
{
    char l[160];
    snprintf(l, sizeof l, "model=\"%s\"", model);
    observe(f, l, v);
}

void srv_metrics_queue(const char *model, double s) { model_observe(&F_QUEUE, model, s); }
void srv_metrics_infer(const char *model, double s) { model_observe(&F_INFER, model, s); }
void srv_metrics_batch(const char *model, int n) { model_observe(&F_BATCH, model, n); }

void srv_metrics_tiles(const char *model, int planned, int done)
{
    char l[160];
    snprintf(l, sizeof l, "model=\"%s\"", model);
    pthread_mutex_lock(&g_lock);
    series *t = get_series(&F_TILES, l), *p = get_series(&F_TILES_PENDING, l);
    if (t)
        t->count += done;
    if (p)
        p->sum += planned - done;
    pthread_mutex_unlock(&g_lock);
}

void srv_metrics_plan_cache(const char *model, int hit, int miss, int evicted, int dplans,
                            double dbytes)
{
    char l[160];
    snprintf(l, sizeof l, "model=\"%s\"", model);
    pthread_mutex_lock(&g_lock);
    series *s;
    /* every series of a model with a cache shows, zeros included */
    if ((s = get_series(&F_PC_HITS, l)))
        s->count += hit;
    if ((s = get_series(&F_PC_MISSES, l)))
        s->count += miss;
    if ((s = get_series(&F_PC_EVICT, l)))
        s->count += evicted;
    if ((s = get_series(&F_PC_PLANS, l)))
        s->sum += dplans;
    if ((s = get_series(&F_PC_BYTES, l)))
        s->sum += dbytes;
    pthread_mutex_unlock(&g_lock);
}

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = b->oom ? -1 : vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void render_family(buf *b, const family *f)
{
    bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
    for (const series *s = f->head; s; s = s->next) {
        if (!f->bounds) {
            bprintf(b, "%s{%s} %.0f\n", f->name, s->labels,
                    strcmp(f->type, "gauge") == 0 ? s->sum : s->count);
            continue;
        }
        double cum = 0;
        for (size_t i = 0; i < f->nbounds; i++) {
            cum += s->bucket[i];
            bprintf(b, "%s_bucket{%s,le=\"%g\"} %.0f\n", f->name, s->labels, f->bounds[i], cum);
        }
        bprintf(b, "%s_bucket{%s,le=\"+Inf\"} %.0f\n", f->name, s->labels, s->count);
        bprintf(b, "%s_sum{%s} %.9g\n%s_count{%s} %.0f\n", f->name, s->labels, s->sum, f->name,
                s->labels, s->count);
    }
}

/* Under the models lock: -1 when an earlier entry has m[i]'s name, else 1
 * when some entry of that name is ready, 0 when none is. */
static int first_of_name(const srv_models *ms, int i)
{
    for (int j = 0; j < i; j++)
        if (strcmp(ms->m[j]->name, ms->m[i]->name) == 0)
            return -1;
    for (int j = i; j < ms->n; j++)
        if (strcmp(ms->m[j]->name, ms->m[i]->name) == 0 &&
            atomic_load(&ms->m[j]->status) == SRV_MODEL_READY)
            return 1;
    return 0;
}

char *srv_metrics_render(srv_server *srv, size_t *len)
{
    buf b = {.cap = 8192};
    b.p = malloc(b.cap);
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&g_lock);
    render_family(&b, &F_REQ);
    render_family(&b, &F_DUR);
    render_family(&b, &F_QUEUE);
    render_family(&b, &F_INFER);
    render_family(&b, &F_BATCH);
    render_family(&b, &F_TILES);
    render_family(&b, &F_TILES_PENDING);
    render_family(&b, &F_PC_HITS);
    render_family(&b, &F_PC_MISSES);
    render_family(&b, &F_PC_EVICT);
    render_family(&b, &F_PC_PLANS);
    render_family(&b, &F_PC_BYTES);
    pthread_mutex_unlock(&g_lock);

    srv_models *ms = srv->models;
    bprintf(&b, "# HELP skipserve_queue_depth Images waiting in the model's batcher queue.\n"
                "# TYPE skipserve_queue_depth gauge\n");
    /* A model being reloaded is listed twice (old and new version): one
     * series per name, the queues summed. */
    if (ms)
        srv_models_lock(ms);
    for (int i = 0; ms && i < ms->n; i++) {
        if (first_of_name(ms, i) < 0)
            continue;
        int depth = 0;
        for (int j = i; j < ms->n; j++)
            if (strcmp(ms->m[j]->name, ms->m[i]->name) == 0 &&
                atomic_load(&ms->m[j]->status) == SRV_MODEL_READY)
                depth += srv_batcher_depth(ms->m[j]->batcher);
        bprintf(&b, "skipserve_queue_depth{model=\"%s\"} %d\n", ms->m[i]->name, depth);
    }
    if (ms)
        srv_models_unlock(ms);
    bprintf(&b, "# HELP skipserve_inflight_requests HTTP requests being handled.\n"
                "# TYPE skipserve_inflight_requests gauge\n"
                "skipserve_inflight_requests %ld\n",
            atomic_load(&srv->inflight));
    bprintf(&b, "# HELP skipserve_prep_queue_depth Requests waiting for a prep worker (decode "
                "or answer encoding).\n"
                "# TYPE skipserve_prep_queue_depth gauge\n"
                "skipserve_prep_queue_depth %ld\n",
            srv->workers ? srv_workers_depth(srv->workers) : 0L);
    bprintf(&b, "# HELP skipserve_buffered_bytes Memory held by requests (bodies, images, "
                "tensors, answers), against --max-buffered.\n"
                "# TYPE skipserve_buffered_bytes gauge\n"
                "skipserve_buffered_bytes %zu\n",
            atomic_load(&srv->buffered));
    bprintf(&b, "# HELP skipserve_model_info Loaded models (value 1), with the precision "
                "each runs at.\n"
                "# TYPE skipserve_model_info gauge\n");
    if (ms)
        srv_models_lock(ms);
    for (int i = 0; ms && i < ms->n; i++)
        if (first_of_name(ms, i) == 1)
            bprintf(&b, "skipserve_model_info{model=\"%s\",task=\"%s\",precision=\"%s\"} 1\n",
                    ms->m[i]->name, srv_task_name(ms->m[i]->task),
                    srv_precision_name(ms->m[i]->precision));
    if (ms)
        srv_models_unlock(ms);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
