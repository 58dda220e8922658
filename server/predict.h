/* predict.h — POST /classify and /segment: with the connection suspended,
 * a prep worker parses, decodes and preprocesses, the model's batcher runs
 * the batch, a prep worker builds the answer and resumes the connection;
 * the HTTP thread only queues it. */
#ifndef SRV_PREDICT_H
#define SRV_PREDICT_H

#include "server/http.h"

void srv_predict_classify(srv_req *r);
void srv_predict_segment(srv_req *r);
/* Called on the first handler call after a prep worker resumed r. */
void srv_predict_resume(srv_req *r);
void srv_predict_free(srv_req *r);

/* Shared with the KServe route (kserve.c), so its requests are decoded,
 * counted and batched exactly as /classify's. */
struct srv_model;
/* Decode one PNG/JPEG and preprocess it for m into dst (m->in_floats
 * floats), its decode peak reserved against --max-buffered meanwhile. */
srv_err srv_predict_image(srv_req *r, const struct srv_model *m, const uint8_t *data, size_t len,
                          float *dst, srv_error *e);
/* r leaves srv->preparing (set by the route when its body was in): once,
 * just before its batcher submit or on refusal; the last one out wakes the
 * batchers (idle_dispatch). */
void srv_predict_prepared(srv_req *r);

#endif
