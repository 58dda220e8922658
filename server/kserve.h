/* kserve.h — the Open Inference Protocol (KServe v2) endpoints under /v2:
 * server and model metadata, health, Triton's model config, and infer
 * (JSON and binary tensors, the classification extension, encoded images
 * as BYTES), on the same prep workers, batchers, budget, metrics and
 * access log as /classify. Errors answer {"error": "..."} as the protocol
 * has them. */
#ifndef SRV_KSERVE_H
#define SRV_KSERVE_H

#include <stddef.h>

#include "server/router.h"

/* The route for a path under /v2 (never NULL: an unknown /v2 path gets a
 * route that answers 404 in the protocol's error format). */
const srv_route *srv_kserve_route(const char *url);

/* Whether rt is one of these routes (NULL: no). */
int srv_kserve_owns(const srv_route *rt);
/* {"error": "<message>"}, malloc'ed: the error body on these routes. */
char *srv_kserve_error_json(const srv_error *e, size_t *len);

#endif
