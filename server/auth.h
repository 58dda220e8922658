/* auth.h — optional API keys (--api-keys FILE): requests carry
 * "Authorization: Bearer <key>"; paths listed in --auth-open (the probes
 * by default) need none. Keys are compared in constant time. */
#ifndef SRV_AUTH_H
#define SRV_AUTH_H

#include <stddef.h>

/* Longest key; keys are RFC 6750 b64token characters. */
#define SRV_AUTH_KEY_MAX 256
/* Shortest key: a guessable key is no key. */
#define SRV_AUTH_KEY_MIN 16

typedef struct srv_auth srv_auth;

/* Read the key file: one key per line, blank lines and lines starting with
 * '#' skipped, surrounding spaces trimmed. `open_paths` is a comma-separated
 * list of paths answered without a key. NULL with err filled on a missing
 * or unreadable file, no key, or a key that is too short, too long or has a
 * character a Bearer token cannot carry (the error names the line, never
 * the key). */
srv_auth *srv_auth_load(const char *path, const char *open_paths, char *err, size_t errlen);
void srv_auth_free(srv_auth *a);
int srv_auth_nkeys(const srv_auth *a);

/* Whether a request for `path` (without query) may go on: 1 when the path
 * is open or `authorization` is "Bearer <one of the keys>", else 0. */
int srv_auth_allows(const srv_auth *a, const char *path, const char *authorization);

#endif
