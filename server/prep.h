/* prep.h — the workers that do a request's CPU work off the HTTP threads:
 * parsing, image decode and preprocessing before the batch, answer encoding
 * (top-k JSON, mask PNG, overlay) after it. The HTTP threads only move
 * bytes and answer cheap routes, so /healthz, /readyz and /metrics stay
 * prompt while big images decode, and a slow encode never holds up other
 * connections of the same HTTP thread.
 *
 * A FIFO of intrusive items (no allocation, so pushing cannot fail) served
 * by --prep-threads workers. */
#ifndef SRV_PREP_H
#define SRV_PREP_H

typedef struct srv_work srv_work;
struct srv_work {
    srv_work *next;             /* queue link, prep-owned while queued */
    void (*run)(srv_work *w);   /* called once, on a worker, without locks */
};

typedef struct srv_prep srv_prep;

/* threads <= 0: online CPUs. NULL when no thread could be started. */
srv_prep *srv_prep_create(int threads);
int srv_prep_threads(const srv_prep *p);
/* Queue w: first != 0 puts it ahead of every item queued without it (an
 * answer to encode before another request to decode); FIFO within each
 * class. Once srv_prep_stop has begun, w runs at once on the caller's
 * thread. */
void srv_prep_push(srv_prep *p, srv_work *w, int first);
/* Items queued and not yet started. */
long srv_prep_depth(srv_prep *p);
/* Run everything queued (and whatever that queues), then join the
 * workers. Idempotent. */
void srv_prep_stop(srv_prep *p);
/* Stop, then free. */
void srv_prep_destroy(srv_prep *p);

#endif
