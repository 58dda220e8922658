/* errors.c — API.md's error table in one place: kind -> status and stable
 * code, and the JSON body every error carries. */
#include "server/server.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
    int status;
    const char *code;
} TABLE[] = {
    [SRV_OK] = {200, "ok"},
    [SRV_E_BAD_IMAGE] = {400, "bad_image"},
    [SRV_E_BAD_REQUEST] = {400, "bad_request"},
    [SRV_E_BAD_TENSOR] = {422, "bad_tensor"},
    [SRV_E_UNPROCESSABLE] = {422, "bad_request"},
    [SRV_E_UNKNOWN_MODEL] = {404, "unknown_model"},
    [SRV_E_NOT_FOUND] = {404, "not_found"},
    [SRV_E_UNAUTHORIZED] = {401, "unauthorized"},
    [SRV_E_METHOD] = {405, "method_not_allowed"},
    [SRV_E_MEDIA_TYPE] = {415, "unsupported_media_type"},
    [SRV_E_TOO_LARGE] = {413, "too_large"},
    [SRV_E_OVERLOADED] = {429, "overloaded"},
    [SRV_E_NOT_READY] = {503, "not_ready"},
    [SRV_E_TIMEOUT] = {504, "timeout"},
    [SRV_E_INTERNAL] = {500, "internal"},
};

srv_err srv_fail(srv_error *e, srv_err kind, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->kind = kind;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return kind;
}

int srv_err_status(srv_err k)
{
    return (unsigned)k < sizeof TABLE / sizeof TABLE[0] ? TABLE[k].status : 500;
}

const char *srv_err_code(srv_err k)
{
    return (unsigned)k < sizeof TABLE / sizeof TABLE[0] ? TABLE[k].code : "internal";
}

char *srv_error_json(const srv_error *e, const char *request_id, size_t *len)
{
    /* Messages may quote client input: keep them printable ASCII so the
     * JSON encoder can never refuse them. */
    char msg[sizeof e->msg];
    size_t i = 0;
    for (; e->msg[i] && i + 1 < sizeof msg; i++) {
        unsigned char ch = (unsigned char)e->msg[i];
        msg[i] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
    }
    msg[i] = '\0';
    json_t *o = json_pack("{s:{s:s,s:s,s:s*}}", "error", "code", srv_err_code(e->kind),
                          "message", msg[0] ? msg : "error", "request_id", request_id);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        /* Out of memory or invalid UTF-8 in the message: still answer. */
        const char *fb = "{\"error\":{\"code\":\"internal\",\"message\":\"error\"}}";
        s = strdup(fb);
    }
    if (s && len)
        *len = strlen(s);
    return s;
}

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
