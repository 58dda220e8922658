/* multipart.h — a small multipart/form-data parser over a complete body.
 * Parts are reported in order; their data points into the body. */
#ifndef SRV_MULTIPART_H
#define SRV_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

typedef struct srv_part {
    char name[64];       /* form field name ("" when absent; truncated) */
    int has_filename;    /* a file part (filename= present) */
    char filename[128];
    char ctype[64];      /* part Content-Type, lower-cased ("" when absent) */
    const uint8_t *data;
    size_t len;
} srv_part;

typedef srv_err (*srv_part_fn)(void *arg, const srv_part *p, srv_error *e);

/* Returns SRV_OK, SRV_E_BAD_REQUEST (malformed body or missing boundary),
 * or whatever fn returned. */
srv_err srv_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
                            srv_part_fn fn, void *arg, srv_error *e);

#endif
