/* reqid.h — request ids: the client's X-Request-Id when it is a sane
 * token, else one made here. Echoed in the response header, the JSON error
 * body and the access log line, so one id follows a request through a load
 * balancer, the server and the client's own logs. */
#ifndef SRV_REQID_H
#define SRV_REQID_H

#include <stddef.h>

/* Longest id accepted from a client (nginx's $request_id is 32, a UUID 36;
 * tracing headers that carry more belong in their own headers). */
#define SRV_REQID_MAX 128

/* A client's id is kept when it is 1..SRV_REQID_MAX visible ASCII
 * characters other than '"' and '\\' (so it goes into a header, a JSON
 * string and a log field unchanged); otherwise — absent, too long, spaces,
 * control or non-ASCII bytes — a new one is made. out: SRV_REQID_MAX + 1
 * bytes. Returns 1 when the client's id was kept, 0 when one was made. */
int srv_reqid_take(const char *header, char *out);

/* A new id: 32 lowercase hex digits, unique within the process (a counter
 * through a bijective mix) and, with a random per-process half, across
 * replicas. */
void srv_reqid_make(char *out);

#endif
