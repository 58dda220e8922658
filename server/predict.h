/* predict.h — POST /classify and /segment: parse, decode and preprocess on
 * the HTTP thread, queue in the model's batcher with the connection
 * suspended, answer when the batcher resumes it. */
#ifndef SRV_PREDICT_H
#define SRV_PREDICT_H

#include "server/http.h"

void srv_predict_classify(srv_req *r);
void srv_predict_segment(srv_req *r);
/* Called on the first handler call after the batcher resumed r. */
void srv_predict_resume(srv_req *r);
void srv_predict_free(srv_req *r);

#endif
