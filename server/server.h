/* server.h — types shared by the HTTP front end: error kinds (API.md's
 * table), the server-wide state, and small time helpers. */
#ifndef SRV_SERVER_H
#define SRV_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "server/config.h"

/* One entry per row of API.md's error table (plus not_found for paths). */
typedef enum {
    SRV_OK = 0,
    SRV_E_BAD_IMAGE,
    SRV_E_BAD_REQUEST,
    SRV_E_BAD_TENSOR,
    SRV_E_UNPROCESSABLE, /* 422 for a valid request we cannot answer (format) */
    SRV_E_UNKNOWN_MODEL,
    SRV_E_NOT_FOUND,
    SRV_E_UNAUTHORIZED,
    SRV_E_METHOD,
    SRV_E_MEDIA_TYPE,
    SRV_E_TOO_LARGE,
    SRV_E_OVERLOADED,
    SRV_E_NOT_READY,
    SRV_E_TIMEOUT,
    SRV_E_INTERNAL,
} srv_err;

typedef struct srv_error {
    srv_err kind;
    char msg[256];
} srv_error;

/* Fill e and return kind (so callers can `return srv_fail(e, ...)`). */
srv_err srv_fail(srv_error *e, srv_err kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int srv_err_status(srv_err k);
const char *srv_err_code(srv_err k);
/* {"error":{"code":..,"message":..,"request_id":..}} as a malloc'ed
 * string (request_id left out when NULL). */
char *srv_error_json(const srv_error *e, const char *request_id, size_t *len);

/* Monotonic seconds. */
double srv_now(void);

struct srv_models;
struct srv_workers;
struct srv_repo;
struct sk_pool;
struct MHD_Daemon;
struct srv_auth;

typedef struct srv_server {
    srv_config *cfg;
    struct srv_models *models;
    struct sk_pool *pool;
    struct srv_workers *workers; /* decode / encode workers (workers.h) */
    struct srv_repo *repo;  /* the reload thread (repository.h) */
    struct MHD_Daemon *daemon;
    /* the listening socket MHD_quiesce_daemon handed back, shut down but
     * closed only after MHD_stop_daemon (libmicrohttpd's threads may still
     * hold it until then); quiesced_fd_set says whether it is there */
    int quiesced_fd, quiesced_fd_set;
    struct srv_auth *auth;  /* --api-keys; NULL: every request allowed */
    char *tls_cert_pem, *tls_key_pem; /* --tls-*: held while the daemon runs */
    atomic_int ready;       /* every model loaded and warmed */
    atomic_int draining;    /* SIGTERM seen: refuse new work */
    atomic_long inflight;   /* requests between first header and completion */
    atomic_long preparing;  /* requests with their body in, not yet queued
                               (parsing, decoding): work on its way */
    atomic_size_t buffered; /* bytes held by requests, against --max-buffered */
    pthread_mutex_t engine_lock; /* one engine run at a time: the pool is shared */
    int fault_infer;        /* test hook (SKIPSERVE_FAULT_INJECT=infer): runs fail */
} srv_server;

#endif
