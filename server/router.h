/* router.h — path and method -> handler. A handler answers (srv_respond*)
 * or suspends the connection; body routes are called once the whole body
 * is in r->body. */
#ifndef SRV_ROUTER_H
#define SRV_ROUTER_H

#include "server/http.h"

typedef struct srv_route {
    const char *path;
    const char *allow;    /* methods, as the Allow header lists them */
    const char *endpoint; /* metrics label */
    int body;             /* 1: needs the request body (POST) */
    void (*handle)(srv_req *r);
    void (*resume)(srv_req *r);  /* after the connection was resumed */
    void (*cleanup)(srv_req *r); /* on completion, whatever happened */
    int open; /* served without an API key: static files that hold no data */
} srv_route;

/* NULL when no route has this path. */
const srv_route *srv_route_find(const char *url);
int srv_route_allows(const srv_route *rt, const char *method);

#endif
