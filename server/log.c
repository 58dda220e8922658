/* log.c — each line is formatted whole and written with one write() so
 * lines from concurrent HTTP threads never interleave. */
#include "server/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_json;

void srv_log_init(int json) { g_json = json; }

static void timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

void srv_log_msg(const char *fmt, ...)
{
    char msg[1024], ts[40], line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    timestamp(ts, sizeof ts);
    int n;
    if (g_json) {
        json_t *o = json_pack("{s:s,s:s,s:s}", "ts", ts, "level", "info", "msg", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        n = snprintf(line, sizeof line, "%s\n", s ? s : msg);
        free(s);
        json_decref(o);
    } else {
        n = snprintf(line, sizeof line, "%s skipserve: %s\n", ts, msg);
    }
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1, line[n - 1] = '\n';
    write_all(2, line, (size_t)n);
}

/* Paths come from clients: keep the text format one line of printable ASCII. */
static void clean(char *dst, size_t len, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < len; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c <= 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
    }
    dst[i] = '\0';
}

void srv_log_access(const srv_access *a)
{
    char ts[40], path[256], line[1024];
    timestamp(ts, sizeof ts);
    clean(path, sizeof path, a->path);
    int n;
    if (g_json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:f,s:i,s:i,s:s*,s:s*,s:s*}", "ts", ts,
                              "method", a->method ? a->method : "-", "path", path, "model",
                              a->model ? a->model : "", "status", a->status, "bytes",
                              (json_int_t)a->bytes, "ms", a->ms, "batch_size", a->batch_size,
                              "images", a->images, "error", a->error_code, "client", a->client,
                              "request_id", a->request_id);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
        n = snprintf(line, sizeof line, "%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        char method[16];
        clean(method, sizeof method, a->method ? a->method : "-");
        n = snprintf(line, sizeof line,
                     "%s %s %s model=%s status=%d bytes=%zu ms=%.3f batch=%d images=%d%s%s "
                     "client=%s id=%s\n",
                     ts, method, path, a->model && *a->model ? a->model : "-", a->status,
                     a->bytes, a->ms, a->batch_size, a->images, a->error_code ? " error=" : "",
                     a->error_code ? a->error_code : "", a->client ? a->client : "-",
                     a->request_id ? a->request_id : "-");
    }
    if (n > (int)sizeof line - 1)
        n = (int)sizeof line - 1, line[n - 1] = '\n';
    write_all(1, line, (size_t)n);
}
