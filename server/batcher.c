/* batcher.c — dynamic batching. Deadlines are checked when a job leaves
 * the queue, so a request never waits behind a long batch only to be told
 * it timed out. Images of one job are contiguous in the batch and a job is
 * never split across collected batches; a job larger than max_batch runs
 * alone, in plan-sized chunks. */
#include "server/batcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/log.h"
#include "server/metrics.h"
#include "server/model.h"
#include "server/plancache.h"

struct srv_batcher {
    srv_model *m;
    srv_server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    srv_job *head, *tail;
    int queued; /* images */
    int stop;
    int joined;
    float *in_buf; /* max_batch * in_floats, padding included */
};

static void abs_time(double monotonic_s, struct timespec *ts)
{
    ts->tv_sec = (time_t)monotonic_s;
    ts->tv_nsec = (long)((monotonic_s - (double)ts->tv_sec) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Every job of a run gets its times and outcome, then done(). */
static void hand_back(srv_batcher *b, srv_job *jobs, int total, double t_start, double infer,
                      srv_err fail, const char *err)
{
    for (srv_job *j = jobs, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        j->queue_s = t_start - j->t_enqueue;
        j->infer_s = infer;
        j->batch_size = total;
        if (fail == SRV_E_UNPROCESSABLE)
            srv_fail(&j->err, fail, "%s", err);
        else if (fail)
            srv_fail(&j->err, fail, "inference failed: %s", err);
        else
            j->err.kind = SRV_OK;
        srv_metrics_queue(b->m->name, j->queue_s);
        j->done(j);
    }
}

/* Native-size jobs (all of one shape, the worker never mixes them): each
 * image runs alone on its shape's batch-1 plan from the model's cache,
 * pinned while it runs. Equal shapes share the lookup, not an engine
 * batch: a plan per shape and batch size would multiply the cache, and an
 * image of this size already fills the engine's GEMMs. */
static void run_native(srv_batcher *b, srv_job *jobs, int total, double t_start)
{
    srv_model *m = b->m;
    char err[320] = "";
    srv_err fail = SRV_OK;
    double infer = 0;
    int h = jobs->h, w = jobs->w;
    /* Planning may fold nodes with kernels on the shared thread pool: under
     * the engine lock, like every run. */
    pthread_mutex_lock(&b->srv->engine_lock);
    sk_plan *plan = srv_plan_cache_get(m->native_cache, m->graph, b->srv->pool, m->pp.channels,
                                       h, w, err, sizeof err);
    pthread_mutex_unlock(&b->srv->engine_lock);
    if (!plan) {
        char why[256];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, sizeof err, "model %s cannot run at %dx%d (input.multiple %d): %s",
                 m->name, w, h, m->native_multiple, why);
        srv_log_msg("%s", err);
        fail = SRV_E_UNPROCESSABLE;
    }
    size_t inf = (size_t)m->pp.channels * h * w;
    for (srv_job *j = jobs; j && !fail; j = j->next) {
        for (int i = 0; i < j->n && !fail; i++) {
            const void *ins[1] = {j->input + (size_t)i * inf};
            double t0 = srv_now();
            pthread_mutex_lock(&b->srv->engine_lock);
            int rc = b->srv->fault_infer
                         ? sk_errf(err, sizeof err, SK_EINVAL, "fault injected (SKIPSERVE_FAULT_INJECT)")
                         : sk_plan_run(plan, ins, err, sizeof err);
            pthread_mutex_unlock(&b->srv->engine_lock);
            double dt = srv_now() - t0;
            infer += dt;
            if (rc) {
                srv_log_msg("model %s: native %dx%d run failed: %s", m->name, w, h, err);
                fail = SRV_E_INTERNAL;
                break;
            }
            srv_metrics_infer(m->name, dt);
            srv_metrics_batch(m->name, 1);
            const sk_tensor *o = sk_plan_output(plan, 0);
            if (o->dtype != SK_F32 || o->shape.rank != 4 || o->shape.dim[0] != 1 ||
                o->shape.dim[1] != m->nclasses ||
                (size_t)sk_shape_numel(&o->shape) > j->out_cap) {
                char sb[96];
                snprintf(err, sizeof err, "model %s at %dx%d answers %s, not [1,%d,H,W] within "
                         "the input's size", m->name, w, h,
                         sk_shape_str(&o->shape, sb, sizeof sb), m->nclasses);
                fail = SRV_E_UNPROCESSABLE;
                break;
            }
            j->out_h = (int)o->shape.dim[2];
            j->out_w = (int)o->shape.dim[3];
            memcpy(j->output + (size_t)i * j->out_cap, o->data,
                   (size_t)sk_shape_numel(&o->shape) * sizeof(float));
        }
    }
    if (plan)
        srv_plan_cache_release(m->native_cache, plan);
    hand_back(b, jobs, total, t_start, infer, fail, err);
}

/* Run the images of `jobs` (a list) in plan-sized chunks. */
static void run_batch(srv_batcher *b, srv_job *jobs, int total, double t_start)
{
    if (jobs->h) {
        run_native(b, jobs, total, t_start);
        return;
    }
    srv_model *m = b->m;
    size_t inf = m->in_floats, outf = m->out_floats;
    srv_job *cj = jobs; /* cursor: job and image within it */
    int ci = 0;
    char err[256];
    srv_err fail = SRV_OK;
    double infer = 0;

    for (int done = 0; done < total && fail == SRV_OK;) {
        int k = srv_model_plan_for(m, total - done);
        int size = m->plan_size[k];
        int take = total - done < size ? total - done : size;

        /* Gather `take` images (possibly from several jobs); zero the padding. */
        srv_job *gj = cj;
        int gi = ci;
        for (int i = 0; i < take; i++) {
            while (gi >= gj->n) {
                gj = gj->next;
                gi = 0;
            }
            memcpy(b->in_buf + (size_t)i * inf, gj->input + (size_t)gi * inf,
                   inf * sizeof(float));
            gi++;
        }
        if (take < size)
            memset(b->in_buf + (size_t)take * inf, 0, (size_t)(size - take) * inf * sizeof(float));

        const void *ins[1] = {b->in_buf};
        double t0 = srv_now();
        pthread_mutex_lock(&b->srv->engine_lock);
        int rc = b->srv->fault_infer
                     ? sk_errf(err, sizeof err, SK_EINVAL, "fault injected (SKIPSERVE_FAULT_INJECT)")
                     : sk_plan_run(m->plans[k], ins, err, sizeof err);
        pthread_mutex_unlock(&b->srv->engine_lock);
        double dt = srv_now() - t0;
        infer += dt;
        if (rc) {
            srv_log_msg("model %s: batch of %d failed: %s", m->name, take, err);
            fail = SRV_E_INTERNAL;
            break;
        }
        srv_metrics_infer(m->name, dt);
        srv_metrics_batch(m->name, take);
        srv_stat_add(&m->stats.batch[k], dt); /* the statistics extension (kserve.c) */
        atomic_fetch_add(&m->stats.execution_count, 1);
        atomic_fetch_add(&m->stats.inference_count, (unsigned long long)take);

        const sk_tensor *o = sk_plan_output(m->plans[k], 0);
        const float *od = o->data;
        for (int i = 0; i < take; i++) {
            while (ci >= cj->n) {
                cj = cj->next;
                ci = 0;
            }
            memcpy(cj->output + (size_t)ci * outf, od + (size_t)i * outf, outf * sizeof(float));
            ci++;
        }
        done += take;
    }

    hand_back(b, jobs, total, t_start, infer, fail, err);
}

static void *worker(void *arg)
{
    srv_batcher *b = arg;
    srv_model *m = b->m;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->stop)
            pthread_cond_wait(&b->cond, &b->lock);
        if (!b->head)
            break;
        /* Fill window: up to max_delay_us after the oldest job arrived, but
         * with idle_dispatch only while another request is on its way
         * (body in, decoding): waiting for nothing only adds latency.
         * A request is counted out just before it is queued, so the signal
         * of its submit finds the count without it. */
        double until = b->head->t_enqueue + m->max_delay_us * 1e-6;
        /* A native-size job runs alone on its shape's plan whoever comes
         * (run_native): waiting for company only adds latency. */
        while (b->queued < m->max_batch && !b->stop && b->head && !b->head->h) {
            if (srv_now() >= until)
                break;
            if (m->idle_dispatch && atomic_load(&b->srv->preparing) == 0)
                break;
            struct timespec ts;
            abs_time(until, &ts);
            pthread_cond_timedwait(&b->cond, &b->lock, &ts);
        }
        if (!b->head)
            continue;

        double now = srv_now();
        srv_job *batch = NULL, **btail = &batch, *expired = NULL;
        int total = 0;
        while (b->head) {
            srv_job *j = b->head;
            if (j->deadline < now) {
                b->head = j->next;
                j->next = expired;
                expired = j;
            } else if (total == 0 || (total + j->n <= m->max_batch && j->h == batch->h &&
                                      j->w == batch->w)) {
                /* never two shapes in one run: the first job of another
                 * shape ends the batch (the queue stays first in, first out) */
                b->head = j->next;
                j->next = NULL;
                *btail = j;
                btail = &j->next;
                total += j->n;
            } else {
                break;
            }
            b->queued -= j->n;
        }
        if (!b->head)
            b->tail = NULL;
        pthread_mutex_unlock(&b->lock);

        for (srv_job *j = expired, *next; j; j = next) {
            next = j->next;
            j->next = NULL;
            j->queue_s = now - j->t_enqueue;
            srv_fail(&j->err, SRV_E_TIMEOUT, "waited %.0f ms in the queue, over --timeout-ms",
                     j->queue_s * 1e3);
            srv_metrics_queue(m->name, j->queue_s);
            j->done(j);
        }
        if (batch)
            run_batch(b, batch, total, now);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

srv_batcher *srv_batcher_create(srv_model *m, srv_server *srv, char *err, size_t errlen)
{
    srv_batcher *b = calloc(1, sizeof *b);
    if (!b)
        goto oom;
    b->m = m;
    b->srv = srv;
    b->in_buf = malloc((size_t)m->max_batch * m->in_floats * sizeof(float));
    if (!b->in_buf)
        goto oom;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&b->lock, NULL);
    int rc = pthread_create(&b->thread, NULL, worker, b);
    if (rc) {
        snprintf(err, errlen, "model %s: cannot start batcher thread: %s", m->name,
                 strerror(rc));
        pthread_cond_destroy(&b->cond);
        pthread_mutex_destroy(&b->lock);
        free(b->in_buf);
        free(b);
        return NULL;
    }
    return b;
oom:
    if (b)
        free(b->in_buf);
    free(b);
    snprintf(err, errlen, "model %s: out of memory for the batcher", m->name);
    return NULL;
}

srv_err srv_batcher_submit(srv_batcher *b, srv_job *j, srv_error *e)
{
    srv_model *m = b->m;
    srv_err r = SRV_OK;
    pthread_mutex_lock(&b->lock);
    if (b->stop)
        r = srv_fail(e, SRV_E_NOT_READY, "the server is shutting down");
    else if (j->n > m->max_queue && !j->admitted)
        r = srv_fail(e, SRV_E_TOO_LARGE, "%d images in one request; model %s queues at most %d",
                     j->n, m->name, m->max_queue);
    else if (b->queued + j->n > m->max_queue && !j->admitted)
        r = srv_fail(e, SRV_E_OVERLOADED, "model %s has %d images queued (max %d); retry later",
                     m->name, b->queued, m->max_queue);
    else {
        j->next = NULL;
        if (b->tail)
            b->tail->next = j;
        else
            b->head = j;
        b->tail = j;
        b->queued += j->n;
        pthread_cond_signal(&b->cond);
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

void srv_batcher_kick(srv_batcher *b)
{
    pthread_mutex_lock(&b->lock);
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

int srv_batcher_depth(srv_batcher *b)
{
    pthread_mutex_lock(&b->lock);
    int n = b->queued;
    pthread_mutex_unlock(&b->lock);
    return n;
}

void srv_batcher_stop(srv_batcher *b, int abort)
{
    srv_job *list = NULL;
    pthread_mutex_lock(&b->lock);
    b->stop = 1;
    if (abort) {
        list = b->head;
        b->head = b->tail = NULL;
        b->queued = 0;
    }
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    for (srv_job *j = list, *next; j; j = next) {
        next = j->next;
        j->next = NULL;
        srv_fail(&j->err, SRV_E_NOT_READY, "the server shut down before this request ran");
        j->done(j);
    }
}

void srv_batcher_join(srv_batcher *b)
{
    /* Only main calls join/destroy, so the flag needs no lock. */
    if (!b->joined) {
        pthread_join(b->thread, NULL);
        b->joined = 1;
    }
}

void srv_batcher_destroy(srv_batcher *b)
{
    if (!b)
        return;
    srv_batcher_stop(b, 0);
    srv_batcher_join(b);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->lock);
    free(b->in_buf);
    free(b);
}
