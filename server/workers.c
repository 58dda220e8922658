/* workers.c — a plain FIFO thread pool for the request work of workers.h. One
 * mutex and one condition variable: the items are milliseconds of decode
 * or encode each, so a lock per item costs nothing next to them. */
#include "server/workers.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct srv_workers {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* Two FIFOs: answers of finished batches go first (they free memory
     * and end a client's wait), then new requests to decode. */
    srv_work *head[2], *tail[2];
    long depth;
    int stopping; /* workers finish the queue and leave; pushes run inline */
    int nthreads;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    srv_workers *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head[0] && !p->head[1] && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        int q = p->head[0] ? 0 : 1;
        srv_work *w = p->head[q];
        if (!w)
            break; /* stopping and nothing left */
        p->head[q] = w->next;
        if (!p->head[q])
            p->tail[q] = NULL;
        p->depth--;
        pthread_mutex_unlock(&p->lock);
        w->run(w);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

srv_workers *srv_workers_create(int threads)
{
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    srv_workers *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = calloc((size_t)threads, sizeof *p->threads);
    if (!p->threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads == 0) {
        srv_workers_destroy(p);
        return NULL;
    }
    return p;
}

int srv_workers_threads(const srv_workers *p) { return p->nthreads; }

void srv_workers_push(srv_workers *p, srv_work *w, int first)
{
    int q = first ? 0 : 1;
    w->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        w->run(w);
        return;
    }
    if (p->tail[q])
        p->tail[q]->next = w;
    else
        p->head[q] = w;
    p->tail[q] = w;
    p->depth++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

long srv_workers_depth(srv_workers *p)
{
    pthread_mutex_lock(&p->lock);
    long d = p->depth;
    pthread_mutex_unlock(&p->lock);
    return d;
}

void srv_workers_stop(srv_workers *p)
{
    pthread_mutex_lock(&p->lock);
    int join = !p->stopping;
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (join) /* workers leave only with the queue empty */
        for (int i = 0; i < p->nthreads; i++)
            pthread_join(p->threads[i], NULL);
}

void srv_workers_destroy(srv_workers *p)
{
    if (!p)
        return;
    srv_workers_stop(p);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}
