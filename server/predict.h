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

#endif
