/* batcher.h — one bounded queue and one worker thread per model. The
 * worker waits until max_batch images are queued or the oldest has waited
 * max_delay_us, runs them as one engine batch, and hands each job back
 * through its done() callback; nothing blocks per waiting request. */
#ifndef SRV_BATCHER_H
#define SRV_BATCHER_H

#include "server/server.h"

struct srv_model;
typedef struct srv_batcher srv_batcher;
typedef struct srv_job srv_job;

struct srv_job {
    srv_job *next;             /* queue link (batcher-owned while queued) */
    int n;                     /* images; they stay together in one batch */
    const float *input;        /* n * model->in_floats */
    float *output;             /* n * model->out_floats, filled on success */
    double t_enqueue, deadline; /* srv_now() seconds */
    void (*done)(srv_job *j);  /* called once, from the worker, without locks */
    void *ctx;
    int h, w;                  /* native size (native.h): each image is C x h x w, run
                                  alone on a plan of that shape; 0: the model's plans */
    size_t out_cap;            /* native: floats `output` holds per image */
    int admitted;              /* a later part of an admitted request (the next tiles
                                  of a tiled one): not refused for a full queue, which it
                                  passes by at most max_batch images */

    /* Set before done(). */
    srv_error err;             /* kind SRV_OK on success */
    double queue_s, infer_s;
    int batch_size;            /* images in the engine batch it ran in */
    int out_h, out_w;          /* native: the logits' spatial size */
};

srv_batcher *srv_batcher_create(struct srv_model *m, srv_server *srv, char *err, size_t errlen);
/* SRV_OK (done() will be called), or SRV_E_OVERLOADED / SRV_E_TOO_LARGE /
 * SRV_E_NOT_READY with e filled (done() will not be called). */
srv_err srv_batcher_submit(srv_batcher *b, srv_job *j, srv_error *e);
int srv_batcher_depth(srv_batcher *b); /* images queued */
/* Wake the worker to re-check its fill window (idle_dispatch). */
void srv_batcher_kick(srv_batcher *b);
/* Refuse new jobs. abort=1 also answers every queued job 503 now;
 * abort=0 lets the worker finish them. */
void srv_batcher_stop(srv_batcher *b, int abort);
/* Wait for the worker to exit (after srv_batcher_stop): every job it took
 * has had done() called. Idempotent. Submits after this answer 503. */
void srv_batcher_join(srv_batcher *b);
/* Stop (finishing queued work), join the worker, free. */
void srv_batcher_destroy(srv_batcher *b);

#endif
