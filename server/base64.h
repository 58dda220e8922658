/* base64.h — RFC 4648 base64, the standard and URL-safe alphabets. */
#ifndef SRV_BASE64_H
#define SRV_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Decode; whitespace is skipped, '=' padding optional. *out is malloc'ed.
 * Returns 0 or -1 (invalid character, bad length or padding). */
int srv_base64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen);
/* Encode with padding into a malloc'ed NUL-terminated string. */
char *srv_base64_encode(const uint8_t *p, size_t len, size_t *outlen);

#endif
