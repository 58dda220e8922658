/* multipart.c — RFC 7578 bodies: "--boundary" CRLF headers CRLF CRLF data
 * CRLF "--boundary" ... "--boundary--". Only what form uploads need: the
 * boundary parameter, Content-Disposition name/filename and Content-Type. */
#include "server/multipart.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#define MAX_BOUNDARY 70
#define MAX_HEADERS 8192

static const uint8_t *find(const uint8_t *hay, size_t hlen, const uint8_t *needle, size_t nlen)
{
    if (nlen == 0 || hlen < nlen)
        return NULL;
    const uint8_t *end = hay + hlen - nlen;
    for (const uint8_t *p = hay; p <= end;) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, nlen) == 0)
            return p;
        p++;
    }
    return NULL;
}

static int is_ws(char c) { return c == ' ' || c == '\t'; }

/* Value of parameter `key` (case-insensitive) in a header value such as
 * `form-data; name="x"; filename="a; b.png"` (RFC 2045 / 7578 syntax: the
 * first token, then `; attr=value` pairs, value a token or a quoted string
 * with backslash escapes). Quoted strings are skipped whole, so a filename
 * holding "; name=" cannot pose as another parameter. Returns 1 when
 * present; out (truncated to outlen - 1) holds the unquoted value. */
static int header_param(const char *v, size_t vlen, const char *key, char *out, size_t outlen)
{
    size_t klen = strlen(key), i = 0;
    while (i < vlen && v[i] != ';') /* the media type / disposition type */
        i++;
    while (i < vlen) {
        i++; /* the ';' */
        while (i < vlen && is_ws(v[i]))
            i++;
        size_t a0 = i;
        while (i < vlen && v[i] != '=' && v[i] != ';')
            i++;
        size_t a1 = i;
        while (a1 > a0 && is_ws(v[a1 - 1]))
            a1--;
        if (i >= vlen || v[i] == ';')
            continue; /* an attribute without a value */
        i++;          /* the '=' */
        while (i < vlen && is_ws(v[i]))
            i++;
        int match = a1 - a0 == klen && strncasecmp(v + a0, key, klen) == 0;
        size_t o = 0;
        if (i < vlen && v[i] == '"') {
            for (i++; i < vlen && v[i] != '"'; i++) {
                if (v[i] == '\\' && i + 1 < vlen)
                    i++;
                if (match && o + 1 < outlen)
                    out[o++] = v[i];
            }
        } else {
            size_t t0 = i;
            while (i < vlen && v[i] != ';')
                i++;
            size_t t1 = i;
            while (t1 > t0 && is_ws(v[t1 - 1]))
                t1--;
            for (size_t k = t0; match && k < t1; k++)
                if (o + 1 < outlen)
                    out[o++] = v[k];
        }
        if (match) {
            if (outlen)
                out[o] = '\0';
            return 1;
        }
        while (i < vlen && v[i] != ';') /* anything after a quoted string */
            i++;
    }
    return 0;
}

static void parse_headers(const char *h, size_t len, srv_part *p)
{
    while (len > 0) {
        const char *eol = memchr(h, '\n', len);
        size_t ll = eol ? (size_t)(eol - h) : len;
        size_t line = ll;
        if (line && h[line - 1] == '\r')
            line--;
        const char *colon = memchr(h, ':', line);
        if (colon) {
            size_t nlen = (size_t)(colon - h);
            const char *v = colon + 1;
            size_t vlen = line - nlen - 1;
            while (vlen && (*v == ' ' || *v == '\t'))
                v++, vlen--;
            if (nlen == 19 && strncasecmp(h, "content-disposition", 19) == 0) {
                header_param(v, vlen, "name", p->name, sizeof p->name);
                p->has_filename = header_param(v, vlen, "filename", p->filename,
                                               sizeof p->filename);
            } else if (nlen == 12 && strncasecmp(h, "content-type", 12) == 0) {
                size_t o = 0;
                for (size_t i = 0; i < vlen && v[i] != ';' && o + 1 < sizeof p->ctype; i++)
                    if (v[i] != ' ' && v[i] != '\t')
                        p->ctype[o++] = (char)tolower((unsigned char)v[i]);
                p->ctype[o] = '\0';
            }
        }
        if (!eol)
            break;
        len -= ll + 1;
        h = eol + 1;
    }
}

srv_err srv_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                            srv_part_fn fn, void *arg, srv_error *e)
{
    char boundary[MAX_BOUNDARY + 2];
    if (!content_type ||
        !header_param(content_type, strlen(content_type), "boundary", boundary, sizeof boundary))
        return srv_fail(e, SRV_E_BAD_REQUEST, "multipart/form-data without a boundary parameter");
    size_t blen = strlen(boundary);
    if (blen == 0 || blen > MAX_BOUNDARY)
        return srv_fail(e, SRV_E_BAD_REQUEST, "multipart boundary must be 1..70 characters");

    uint8_t delim[MAX_BOUNDARY + 5]; /* CRLF "--" boundary */
    delim[0] = '\r';
    delim[1] = '\n';
    delim[2] = delim[3] = '-';
    memcpy(delim + 4, boundary, blen);
    size_t dlen = blen + 4;

    /* The first delimiter may open the body (no CRLF before it). */
    const uint8_t *p;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
        p = body + dlen - 2;
    else {
        p = find(body, len, delim, dlen);
        if (!p)
            return srv_fail(e, SRV_E_BAD_REQUEST, "multipart body has no boundary line");
        p += dlen;
    }
    const uint8_t *end = body + len;
    int nparts = 0;
    for (;;) {
        /* After a delimiter: "--" closes the body, else padding then CRLF. */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return srv_fail(e, SRV_E_BAD_REQUEST, "malformed multipart body (after boundary)");
        p += 2;
        const uint8_t *hend = find(p, (size_t)(end - p), (const uint8_t *)"\r\n\r\n", 4);
        const uint8_t *data;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hend = p; /* a part with no headers */
            data = p + 2;
        } else {
            if (!hend || hend - p > MAX_HEADERS)
                return srv_fail(e, SRV_E_BAD_REQUEST, "malformed multipart part headers");
            data = hend + 4;
        }
        const uint8_t *next = find(data, (size_t)(end - data), delim, dlen);
        if (!next)
            return srv_fail(e, SRV_E_BAD_REQUEST, "multipart body ends inside a part");
        srv_part part;
        memset(&part, 0, sizeof part);
        parse_headers((const char *)p, (size_t)(hend - p), &part);
        part.data = data;
        part.len = (size_t)(next - data);
        srv_err r = fn(arg, &part, e);
        if (r != SRV_OK)
            return r;
        nparts++;
        p = next + dlen;
    }
    if (nparts == 0)
        return srv_fail(e, SRV_E_BAD_REQUEST, "multipart body has no parts");
    return SRV_OK;
}
