/* http.c — libmicrohttpd glue. One context per request; the body is
 * streamed into a buffer capped at --max-body; anything over is answered
 * 413 (at once when Content-Length says so, else after discarding the
 * rest, which libmicrohttpd requires, up to a second --max-body, past which
 * the connection is closed). Every byte a request holds — body, decoded
 * image, tensors, answer — is reserved against one --max-buffered budget,
 * so memory stays bounded however many clients send at once; a request
 * that does not fit is answered 429. Inference requests are suspended
 * from body-complete to answer while prep workers and the batcher work on
 * them (predict.c), so no HTTP thread blocks on decode, inference or
 * encoding. */
#include "server/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/auth.h"
#include "server/kserve.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/router.h"

const char *srv_query(srv_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *srv_header(srv_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, key);
}

/* Whether n more bytes fit beside the cur already held: SRV_OK, 413 or 429. */
static srv_err budget_verdict(size_t max, size_t cur, size_t n, const char *what, srv_error *e)
{
    if (n > max)
        return srv_fail(e, SRV_E_TOO_LARGE, "%s needs %zu bytes, over --max-buffered (%zu bytes)",
                        what, n, max);
    /* cur may pass max: answers are counted even when over budget. */
    if (cur > max || n > max - cur)
        return srv_fail(e, SRV_E_OVERLOADED,
                        "requests in flight hold %zu bytes and %s needs %zu more, over "
                        "--max-buffered (%zu bytes); retry later",
                        cur, what, n, max);
    return SRV_OK;
}

srv_err srv_req_reserve(srv_req *r, size_t n, const char *what, srv_error *e)
{
    srv_server *srv = r->srv;
    size_t max = srv->cfg->max_buffered;
    size_t cur = atomic_load(&srv->buffered);
    do {
        srv_err k = budget_verdict(max, cur, n, what, e);
        if (k != SRV_OK)
            return k;
    } while (!atomic_compare_exchange_weak(&srv->buffered, &cur, cur + n));
    r->charged += n;
    return SRV_OK;
}

srv_err srv_req_fits(srv_req *r, size_t n, const char *what, srv_error *e)
{
    return budget_verdict(r->srv->cfg->max_buffered, atomic_load(&r->srv->buffered), n, what, e);
}

void srv_req_release(srv_req *r, size_t n)
{
    if (n > r->charged)
        n = r->charged; /* never give back more than r took */
    r->charged -= n;
    atomic_fetch_sub(&r->srv->buffered, n);
}

void srv_req_drop_body(srv_req *r)
{
    free(r->body);
    srv_req_release(r, r->cap);
    r->body = NULL;
    r->len = r->cap = 0;
}

int srv_respond(srv_req *r, int status, const char *ctype, void *body, size_t len,
                const char *const *headers)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    r->status = status;
    r->resp_bytes = len;
    if (!resp) {
        free(body);
        r->broken = 1;
        return -1;
    }
    /* libmicrohttpd holds the answer until the client has read it: count it,
     * never refuse it (the work is done), so a crowd of slow readers makes
     * new requests wait instead of memory grow. */
    atomic_fetch_add(&r->srv->buffered, len);
    r->charged += len;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    for (int i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    /* While draining, ask keep-alive clients to reconnect elsewhere. */
    if (atomic_load(&r->srv->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    int rc = MHD_queue_response(r->conn, (unsigned)status, resp) == MHD_YES ? 0 : -1;
    MHD_destroy_response(resp);
    r->state = SRV_REQ_ANSWERED;
    if (rc)
        r->broken = 1;
    return rc;
}

int srv_respond_json(srv_req *r, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(v);
    if (!s) {
        srv_error e;
        srv_fail(&e, SRV_E_INTERNAL, "out of memory");
        return srv_respond_error(r, &e);
    }
    return srv_respond(r, status, "application/json", s, strlen(s), NULL);
}

int srv_respond_error(srv_req *r, const srv_error *e)
{
    if (e->kind == SRV_E_INTERNAL) /* API.md: every 500 leaves a log line */
        srv_log_msg("%s %s: 500 internal: %s", r->method ? r->method : "-",
                    r->url ? r->url : "-", e->msg);
    size_t len;
    /* the Open Inference Protocol's routes answer {"error": "..."} (the
     * request id is in the X-Request-Id header there) */
    char *s = srv_kserve_owns(r->route) ? srv_kserve_error_json(e, &len)
                                        : srv_error_json(e, r->id, &len);
    const char *hdr[5] = {NULL};
    if (e->kind == SRV_E_UNAUTHORIZED) {
        /* RFC 6750 3: a wrong key is "invalid_token"; no key, just the
         * scheme, so the client knows what to send */
        hdr[0] = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        hdr[1] = srv_header(r, MHD_HTTP_HEADER_AUTHORIZATION)
                     ? "Bearer realm=\"skipserve\", error=\"invalid_token\""
                     : "Bearer realm=\"skipserve\"";
    } else if (e->kind == SRV_E_METHOD && r->route) {
        hdr[0] = MHD_HTTP_HEADER_ALLOW;
        hdr[1] = r->route->allow;
    } else if (e->kind == SRV_E_OVERLOADED || e->kind == SRV_E_NOT_READY) {
        hdr[0] = MHD_HTTP_HEADER_RETRY_AFTER;
        hdr[1] = "1";
    }
    r->err_code = srv_err_code(e->kind);
    if (!s) {
        r->broken = 1;
        return -1;
    }
    return srv_respond(r, srv_err_status(e->kind), "application/json", s, len, hdr);
}

static int respond_kind(srv_req *r, srv_err kind, const char *msg)
{
    srv_error e;
    srv_fail(&e, kind, "%s", msg);
    return srv_respond_error(r, &e);
}

/* A body refused before it arrives (over --max-body or the budget, no key,
 * not ready). A client that waits for "100 Continue" is answered now and
 * sends nothing; any other is already sending, and an answer now would be
 * followed by a close with unread data, which can make its kernel drop the
 * answer (curl then sees a reset, status 000): read the body into nothing
 * and answer at its end, keeping the connection. The callers bound what is
 * read so (at most twice --max-body: the discard path closes past that).
 * Session 18: bodies over --max-body and over the budget were answered at
 * once too — e2e's 413 checks failed now and then under load. */
static void refuse_body(srv_req *r, const srv_error *e)
{
    const char *expect = srv_header(r, MHD_HTTP_HEADER_EXPECT);
    if (expect && strcasecmp(expect, "100-continue") == 0) {
        srv_respond_error(r, e);
        return;
    }
    r->pending = *e;
    r->state = SRV_REQ_DISCARD;
}

/* First call: headers are in. Decide what to do before any body arrives.
 * Answering now makes libmicrohttpd close the connection after the answer
 * (the body is never read), so only refusals of a body happen here; other
 * answers wait for the end of the request so keep-alive survives. */
static void on_headers(srv_req *r)
{
    srv_server *srv = r->srv;
    const srv_route *rt = r->route;
    r->state = SRV_REQ_DEFERRED;
    /* Access control first: an unknown path or a wrong method tells a
     * client without a key nothing. A body sent anyway is read into
     * nothing (bounded by --max-body) so the 401 arrives, not a reset. */
    if (!(rt && rt->open) &&
        !srv_auth_allows(srv->auth, r->url, srv_header(r, MHD_HTTP_HEADER_AUTHORIZATION))) {
        srv_error e;
        srv_fail(&e, SRV_E_UNAUTHORIZED, "%s",
                 srv_header(r, MHD_HTTP_HEADER_AUTHORIZATION)
                     ? "the API key is not valid"
                     : "an API key is required: send \"Authorization: Bearer <key>\"");
        refuse_body(r, &e);
        return;
    }
    if (!rt) {
        srv_fail(&r->pending, SRV_E_NOT_FOUND, "no such path: %.100s", r->url);
        return;
    }
    if (!srv_route_allows(rt, r->method)) {
        srv_fail(&r->pending, SRV_E_METHOD, "%.16s is not allowed on %s; use %s", r->method,
                 rt->path, rt->allow);
        return;
    }
    if (!rt->body)
        return; /* a GET: answered at the end */
    /* With Transfer-Encoding the body is chunked and libmicrohttpd ignores
     * Content-Length (RFC 9112 6.3): so do we, or a short Content-Length
     * would size the buffer for less than arrives. */
    const char *cl = srv_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING)
                         ? NULL
                         : srv_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long n = 0;
    if (cl) {
        char *end;
        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > srv->cfg->max_body) {
            /* up to twice --max-body read into nothing, then the 413; a
             * larger one is answered now and the connection closed (the
             * client may see a reset rather than read it all) */
            srv_error e;
            srv_fail(&e, SRV_E_TOO_LARGE, "body of %.20s bytes is over --max-body (%zu bytes)",
                     cl, srv->cfg->max_body);
            if (errno || end == cl || n > 2 * (unsigned long long)srv->cfg->max_body)
                srv_respond_error(r, &e);
            else
                refuse_body(r, &e);
            return;
        }
    }
    if (atomic_load(&srv->draining) || !atomic_load(&srv->ready)) {
        /* refused like a body over the budget: read into nothing (at most
         * --max-body, checked above) and answered at its end, so the 503
         * and its Retry-After arrive rather than a reset */
        srv_error e;
        srv_fail(&e, SRV_E_NOT_READY, "%s",
                 atomic_load(&srv->draining) ? "draining: the server is shutting down"
                                             : "models are still loading");
        refuse_body(r, &e);
        return;
    }
    if (n > 0) {
        /* Admitted if it fits now; reserved as it arrives (append), so a
         * client that announces much and sends little holds little */
        srv_error e;
        if (srv_req_fits(r, (size_t)n, "the body", &e) != SRV_OK) {
            refuse_body(r, &e);
            return;
        }
        r->declared = (size_t)n;
    }
    r->state = SRV_REQ_BODY;
}

/* Append a body chunk. The buffer grows as the body comes, doubling from
 * 64 KiB up to the Content-Length (chunked: --max-body), each growth
 * reserved first: a request holds at most twice what it has sent. SRV_OK,
 * or the error to answer with. */
static srv_err append(srv_req *r, const char *data, size_t n, srv_error *e)
{
    size_t max = r->srv->cfg->max_body;
    if (n > max - r->len)
        return srv_fail(e, SRV_E_TOO_LARGE, "body is over --max-body (%zu bytes)", max);
    /* the last growth stops at the Content-Length; should more arrive
     * than it said (it cannot: libmicrohttpd frames the body), grow on
     * to --max-body rather than write past the buffer */
    size_t limit = r->declared && r->len + n <= r->declared ? r->declared : max;
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 65536;
        while (cap < r->len + n)
            cap = cap > limit / 2 ? limit : cap * 2;
        if (cap > limit)
            cap = limit; /* the last growth is exact: Content-Length */
        srv_err k = srv_req_reserve(r, cap - r->cap, "the body", e);
        if (k != SRV_OK)
            return k;
        uint8_t *b = realloc(r->body, cap);
        if (!b) {
            srv_req_release(r, cap - r->cap);
            return srv_fail(e, SRV_E_INTERNAL, "out of memory for the body");
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return SRV_OK;
}

static enum MHD_Result dispatch(srv_server *srv, srv_req *r, const char *url,
                                const char *method, const char *upload_data,
                                size_t *upload_size);

/* Every answer path goes through dispatch(); a response that could not be
 * queued closes the connection rather than leave the client waiting. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    srv_server *srv = cls;
    srv_req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->srv = srv;
        r->conn = conn;
        r->url = url;
        r->method = method;
        r->t_start = srv_now();
        r->route = srv_route_find(url);
        srv_reqid_take(srv_header(r, "X-Request-Id"), r->id);
        atomic_fetch_add(&srv->inflight, 1);
        *con_cls = r;
        on_headers(r);
        return r->broken ? MHD_NO : MHD_YES;
    }
    enum MHD_Result rc = dispatch(srv, r, url, method, upload_data, upload_size);
    return r->broken ? MHD_NO : rc;
}

static enum MHD_Result dispatch(srv_server *srv, srv_req *r, const char *url,
                                const char *method, const char *upload_data,
                                size_t *upload_size)
{
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->state == SRV_REQ_BODY) {
            if (append(r, upload_data, n, &r->pending) == SRV_OK)
                return MHD_YES;
            /* Refused: stop buffering; answer once the client is done. */
            r->discarded = r->len;
            srv_req_drop_body(r);
            r->state = SRV_REQ_DISCARD;
        }
        r->discarded += n;
        if (r->discarded > 2 * srv->cfg->max_body) {
            srv_err k = r->pending.kind != SRV_OK ? r->pending.kind : SRV_E_TOO_LARGE;
            srv_log_msg("%s %s: refused body goes on past twice --max-body; closing the "
                        "connection",
                        method, url);
            r->status = srv_err_status(k);
            r->err_code = srv_err_code(k);
            return MHD_NO;
        }
        return MHD_YES;
    }
    switch (r->state) {
    case SRV_REQ_BODY:
        r->state = SRV_REQ_HEADERS; /* handle() moves it on */
        r->route->handle(r);
        return MHD_YES;
    case SRV_REQ_DISCARD:
        srv_respond_error(r, &r->pending);
        return MHD_YES;
    case SRV_REQ_RESUMED:
        r->route->resume(r);
        return MHD_YES;
    case SRV_REQ_DEFERRED:
        if (r->pending.kind != SRV_OK)
            srv_respond_error(r, &r->pending);
        else
            r->route->handle(r);
        return MHD_YES;
    case SRV_REQ_WAITING:
        return MHD_YES; /* spurious call before the suspension took hold */
    default:
        /* A handler queued nothing: never leave the client hanging. */
        if (r->state != SRV_REQ_ANSWERED)
            respond_kind(r, SRV_E_INTERNAL, "no answer was produced");
        return MHD_YES;
    }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    srv_server *srv = cls;
    srv_req *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    double secs = srv_now() - r->t_start;
    /* The client went away before an answer: nginx's 499 convention. An
     * answer the client did not read in full keeps its status. */
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->status == 0)
        r->status = 499;
    const char *endpoint = r->route ? r->route->endpoint : "other";
    const char *model = r->model ? r->model : "";
    srv_metrics_request(endpoint, model, r->status, secs);

    char client[INET6_ADDRSTRLEN] = "-";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, client,
                      sizeof client);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      client, sizeof client);
    }
    srv_access a = {.method = r->method,
                    .path = r->url,
                    .model = model,
                    .client = client,
                    .status = r->status,
                    .bytes = r->resp_bytes,
                    .ms = secs * 1e3,
                    .batch_size = r->batch_size,
                    .images = r->images,
                    .error_code = r->err_code,
                    .request_id = r->id};
    srv_log_access(&a);

    if (r->route && r->route->cleanup)
        r->route->cleanup(r);
    srv_req_drop_body(r);
    srv_req_release(r, r->charged); /* the answer, and anything a handler left */
    free(r);
    atomic_fetch_sub(&srv->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    srv_log_msg("http: %s", msg);
}

/* A PEM file for --tls-cert / --tls-key, whole and NUL-terminated (what
 * libmicrohttpd's MHD_OPTION_HTTPS_MEM_* take). */
static char *read_pem(const char *path, const char *flag, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, n = 0; /* a certificate chain is a few KB */
    char *buf = malloc(cap + 1);
    if (buf)
        n = fread(buf, 1, cap + 1, f);
    int bad = !buf || ferror(f) || n > cap || n == 0;
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s %s: %s", flag, path,
                 !buf ? "out of memory" : n > cap ? "larger than 1 MiB" : "empty or unreadable");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (!strstr(buf, "-----BEGIN ")) {
        snprintf(err, errlen, "%s %s: not a PEM file (no -----BEGIN line)", flag, path);
        free(buf);
        return NULL;
    }
    char *fit = realloc(buf, n + 1); /* hold the file, not the 1 MiB cap */
    return fit ? fit : buf;
}

/* The PEM copies (the key wiped first), at stop or after a failed start. */
static void drop_pems(srv_server *srv)
{
    free(srv->tls_cert_pem);
    if (srv->tls_key_pem)
        explicit_bzero(srv->tls_key_pem, strlen(srv->tls_key_pem));
    free(srv->tls_key_pem);
    srv->tls_cert_pem = srv->tls_key_pem = NULL;
}

int srv_http_start(srv_server *srv, char *err, size_t errlen)
{
    const srv_config *c = srv->cfg;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, c->host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)c->port);
    } else if (inet_pton(AF_INET6, c->host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)c->port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "--host %s is not an IPv4 or IPv6 address", c->host);
        return -1;
    }
    if (c->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            snprintf(err, errlen, "--tls-cert: this libmicrohttpd was built without TLS");
            return -1;
        }
        srv->tls_cert_pem = read_pem(c->tls_cert, "--tls-cert", err, errlen);
        srv->tls_key_pem = srv->tls_cert_pem ? read_pem(c->tls_key, "--tls-key", err, errlen) : NULL;
        if (!srv->tls_key_pem) {
            drop_pems(srv);
            return -1;
        }
        flags |= MHD_USE_TLS;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = c->http_threads > 0 ? (unsigned)c->http_threads
                                           : (unsigned)(ncpu > 0 ? ncpu : 1);
    srv->daemon = MHD_start_daemon(
        flags, (uint16_t)c->port, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER,
        mhd_log, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->conn_timeout_s,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U,
        /* ignored without MHD_USE_TLS; the last option pair when it is set */
        c->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, srv->tls_cert_pem,
        MHD_OPTION_HTTPS_MEM_KEY, srv->tls_key_pem, MHD_OPTION_END);
    if (!srv->daemon) {
        snprintf(err, errlen, "cannot listen on %s:%d (%s)", c->host, c->port,
                 c->tls_cert ? "bad --tls-cert / --tls-key, or the port is taken"
                 : errno     ? strerror(errno)
                             : "libmicrohttpd refused the options");
        drop_pems(srv);
        return -1;
    }
    return 0;
}

int srv_http_port(srv_server *srv)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : srv->cfg->port;
}

void srv_http_quiesce(srv_server *srv)
{
    if (!srv->daemon)
        return;
    MHD_socket fd = MHD_quiesce_daemon(srv->daemon);
    if (fd == MHD_INVALID_SOCKET)
        return;
    /* New connections must be refused now (a load balancer then tries
     * another replica), but the descriptor may not be closed yet: the
     * daemon's threads can still be polling or accepting on it until
     * MHD_stop_daemon returns, and a number closed under them could be
     * reused by the next socket or file this process opens (libmicrohttpd's
     * manual, MHD_quiesce_daemon). On Linux, shutdown() of a listening
     * socket stops it listening: new connections get a reset, connections
     * still in its backlog too, and the number stays ours until srv_http_stop. */
    shutdown(fd, SHUT_RDWR);
    srv->quiesced_fd = fd;
    srv->quiesced_fd_set = 1;
}

void srv_http_stop(srv_server *srv)
{
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    if (srv->quiesced_fd_set)
        close(srv->quiesced_fd);
    srv->quiesced_fd_set = 0;
    drop_pems(srv);
}
