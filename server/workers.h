/* workers.h — the pool of workers that do a request's CPU work off the HTTP threads:
 * parsing, image decode and preprocessing before the batch, answer encoding
 * (top-k JSON, mask PNG, overlay) after it. The HTTP threads only move
 * bytes and answer cheap routes, so /healthz, /readyz and /metrics stay
 * prompt while big images decode, and a slow encode never holds up other
 * connections of the same HTTP thread.
 *
 * A FIFO of intrusive items (no allocation, so pushing cannot fail) served
 * by --prep-threads workers. */
#ifndef SRV_WORKERS_H
#define SRV_WORKERS_H

typedef struct srv_work srv_work;
struct srv_work {
    srv_work *next;             /* queue link, pool-owned while queued */
    void (*run)(srv_work *w);   /* called once, on a worker, without locks */
};

typedef struct srv_workers srv_workers;

/* threads <= 0: online CPUs. NULL when no thread could be started. */
srv_workers *srv_workers_create(int threads);
int srv_workers_threads(const srv_workers *p);
/* Queue w: first != 0 puts it ahead of every item queued without it (an
 * answer to encode before another request to decode); FIFO within each
 * class. Once srv_workers_stop has begun, w runs at once on the caller's
 * thread. */
void srv_workers_push(srv_workers *p, srv_work *w, int first);
/* Items queued and not yet started. */
long srv_workers_depth(srv_workers *p);
/* Run everything queued (and whatever that queues), then join the
 * workers. Idempotent. */
void srv_workers_stop(srv_workers *p);
/* Stop, then free. */
void srv_workers_destroy(srv_workers *p);

#endif
