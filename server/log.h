/* log.h — diagnostics on stderr and one access-log line per request on
 * stdout, as text or JSON (--log-format). */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stddef.h>

void srv_log_init(int json);
/* A diagnostic line (start-up, model load, internal errors). */
void srv_log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

typedef struct srv_access {
    const char *method, *path, *model, *client;
    int status;
    size_t bytes;   /* response body */
    double ms;      /* first header to response sent */
    int batch_size; /* 0 when no batch ran */
    int images;
    const char *error_code; /* NULL on success */
    const char *request_id;
} srv_access;
void srv_log_access(const srv_access *a);

#endif
