/* http.h — the libmicrohttpd front end: daemon start/stop, the per-request
 * context, and the helpers every handler answers with. */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "server/reqid.h"
#include "server/server.h"

struct srv_route;
struct srv_predict;

typedef enum {
    SRV_REQ_HEADERS = 0, /* first call not done yet */
    SRV_REQ_BODY,        /* streaming the body into the buffer */
    SRV_REQ_DISCARD,     /* body refused (`pending`: 413 or 429): discarding the rest */
    SRV_REQ_DEFERRED,    /* answer (`pending`, or a GET handler) once the request is in */
    SRV_REQ_WAITING,     /* suspended: with the prep workers or in a batcher (predict.c) */
    SRV_REQ_RESUMED,     /* answer or error ready; sent on the next call */
    SRV_REQ_ANSWERED,    /* a response is queued */
} srv_req_state;

typedef struct srv_req {
    srv_server *srv;
    struct MHD_Connection *conn;
    const char *method, *url; /* MHD-owned, valid until completion */
    const struct srv_route *route;
    double t_start;
    srv_req_state state;
    char id[SRV_REQID_MAX + 1]; /* X-Request-Id: the client's, or made here */

    uint8_t *body;
    size_t len, cap, discarded;
    size_t declared;   /* Content-Length (0: chunked or none): the buffer's final size */
    size_t charged;    /* bytes reserved against --max-buffered, given back at completion */
    srv_error pending; /* SRV_REQ_DEFERRED / _DISCARD: an error to send, or SRV_OK */
    int broken;        /* an answer could not be queued: close the connection */
    int preparing;     /* counted in srv->preparing (predict.c) */

    /* For the access log and metrics (model: a loaded model's name only). */
    int status;
    size_t resp_bytes;
    const char *err_code;
    const char *model;
    int batch_size, images;

    struct srv_predict *pred; /* owned by predict.c */
    void *ext;                /* owned by the route (kserve.c) */
} srv_req;

int srv_http_start(srv_server *srv, char *err, size_t errlen);
/* Stop accepting connections (existing ones keep being served). */
void srv_http_quiesce(srv_server *srv);
void srv_http_stop(srv_server *srv);
/* Port actually bound (for --port 0). */
int srv_http_port(srv_server *srv);

/* Queue an answer. body is malloc'ed and taken over (freed by MHD). Extra
 * headers: NULL-terminated name, value pairs. Returns 0 or -1. */
int srv_respond(srv_req *r, int status, const char *ctype, void *body, size_t len,
                const char *const *headers);
/* An error answer per API.md, with Allow / Retry-After where they belong. */
int srv_respond_error(srv_req *r, const srv_error *e);
/* A JSON answer from a jansson value (decref'ed here). */
struct json_t;
int srv_respond_json(srv_req *r, int status, struct json_t *v);

/* The memory budget (--max-buffered), shared by every request. Reserve n
 * more bytes for r: SRV_OK, SRV_E_OVERLOADED (429: the others hold too much
 * right now) or SRV_E_TOO_LARGE (413: n alone is over the budget), with e
 * filled; `what` names the use in the message. */
srv_err srv_req_reserve(srv_req *r, size_t n, const char *what, srv_error *e);
/* The same verdict as srv_req_reserve for n more bytes now, reserving
 * nothing (a body is admitted by its Content-Length, then reserved as it
 * arrives). */
srv_err srv_req_fits(srv_req *r, size_t n, const char *what, srv_error *e);
/* Give back n bytes reserved by r (whatever is left goes at completion). */
void srv_req_release(srv_req *r, size_t n);
/* Free the body and give its bytes back. */
void srv_req_drop_body(srv_req *r);

/* Query argument (NULL when absent). */
const char *srv_query(srv_req *r, const char *key);
const char *srv_header(srv_req *r, const char *key);

#endif
