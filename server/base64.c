/* base64.c — strict enough to reject garbage (so a wrong field is a
 * bad_image, not a mysterious decode failure), lenient about line breaks,
 * padding and the URL-safe alphabet that browsers and Python both emit. */
#include "server/base64.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int srv_base64_decode(const char *s, size_t len, uint8_t **out, size_t *outlen)
{
    uint8_t *o = malloc(len / 4 * 3 + 3);
    if (!o)
        return -1;
    size_t n = 0, pad = 0;
    uint32_t acc = 0;
    int bits = 0, k = 0; /* k: symbols in the current quantum */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = val(c);
        if (v < 0 || pad) /* data after padding */
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        k = (k + 1) & 3;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* A lone symbol in the last quantum encodes no whole byte. */
    if (k == 1 || pad > 2 || (pad && (k + pad) % 4 != 0))
        goto bad;
    *out = o;
    *outlen = n;
    return 0;
bad:
    free(o);
    return -1;
}

int srv_data_url_payload(const char *s, size_t len, const char **payload, size_t *plen)
{
    *payload = s;
    *plen = len;
    if (len < 5 || strncasecmp(s, "data:", 5) != 0)
        return 0;
    const char *comma = memchr(s, ',', len);
    /* The parameters before the comma must end in ";base64". */
    if (!comma || comma - s < 12 || strncasecmp(comma - 7, ";base64", 7) != 0)
        return -1;
    *payload = comma + 1;
    *plen = len - (size_t)(comma + 1 - s);
    return 1;
}

char *srv_base64_encode(const uint8_t *p, size_t len, size_t *outlen)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (len + 2) / 3 * 4;
    char *o = malloc(n + 1);
    if (!o)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        o[j++] = A[(v >> 18) & 63];
        o[j++] = A[(v >> 12) & 63];
        o[j++] = i + 1 < len ? A[(v >> 6) & 63] : '=';
        o[j++] = i + 2 < len ? A[v & 63] : '=';
    }
    o[j] = '\0';
    if (outlen)
        *outlen = j;
    return o;
}
