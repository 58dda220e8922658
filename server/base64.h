/* base64.h — RFC 4648 base64, the standard and URL-safe alphabets. */
#ifndef SRV_BASE64_H
#define SRV_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Decode; whitespace is skipped, '=' padding optional. *out is malloc'ed.
 * Returns 0 or -1 (invalid character, bad length or padding). */
int srv_base64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen);
/* An RFC 2397 data URL, "data:[<mediatype>];base64,<data>": *payload and
 * *plen are set to <data>. Returns 1 for such a URL, 0 when s is not a data
 * URL (payload = s), -1 for a data URL that is not base64 or has no ','. */
int srv_data_url_payload(const char *s, size_t len, const char **payload, size_t *plen);
/* Encode with padding into a malloc'ed NUL-terminated string. */
char *srv_base64_encode(const uint8_t *p, size_t len, size_t *outlen);

#endif
