/* kserve_int.h — shared by the KServe files only (kserve.c: routes,
 * metadata, repository; kserve_infer.c: infer): the parsed /v2 path and
 * the model helpers both use. */
#ifndef SRV_KSERVE_INT_H
#define SRV_KSERVE_INT_H

#include <stdint.h>

#include "server/http.h"
#include "server/model.h"

typedef enum {
    KP_BAD = 0, /* no such endpoint */
    KP_SERVER,  /* /v2 */
    KP_LIVE,
    KP_READY,
    KP_MODEL, /* /v2/models/{m}[/versions/{v}] */
    KP_MODEL_READY,
    KP_MODEL_CONFIG,
    KP_INFER,
    KP_STATS, /* /v2/models/stats (model ""), /v2/models/{m}[/versions/{v}]/stats */
    KP_REPO,
} kpath_kind;

typedef struct kpath {
    kpath_kind kind;
    char model[SRV_MODEL_NAME_MAX + 1];
    char version[24]; /* "" when the path names none */
} kpath;

kpath srv_kpath_parse(const char *url);
/* The model a path names, ready, with a reference (unref it); NULL with e
 * filled: 404 unknown model or version, 503 loading or failed. */
srv_model *srv_kserve_find_model(srv_server *srv, const kpath *p, srv_error *e);
const char *srv_kserve_input_name(const srv_model *m);
const char *srv_kserve_output_name(const srv_model *m);
/* Per-image output shape into d: [K] (classify) or [K,H,W]; its rank. */
int srv_kserve_output_dims(const srv_model *m, int64_t *d);
/* Answer r with an error of kind, fmt taking one string. */
void srv_kserve_fail(srv_req *r, srv_err kind, const char *fmt, const char *arg);
/* Hand a suspended r back to its HTTP thread (state RESUMED). */
void srv_kserve_wake(srv_req *r);

/* POST /v2/models/{m}[/versions/{v}]/infer (kserve_infer.c): the handler,
 * its resume and its cleanup. */
void srv_kserve_infer(srv_req *r);
void srv_kserve_infer_resume(srv_req *r);
void srv_kserve_infer_free(srv_req *r);

#endif
