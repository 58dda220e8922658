/* request.h — turn a request body into images (encoded bytes) or a tensor,
 * plus the options a body may carry (model, top_k, format). Supports raw
 * PNG/JPEG, multipart/form-data and JSON (base64 images or a tensor). */
#ifndef SRV_REQUEST_H
#define SRV_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

typedef struct srv_blob {
    const uint8_t *data;
    size_t len;
    uint8_t *owned; /* non-NULL when data was decoded (base64): free it */
} srv_blob;

typedef struct srv_input {
    srv_blob *images;
    int nimages;

    int has_tensor;
    int64_t shape[4];
    float *tensor;  /* numel(shape) floats */

    /* Options found in the body (NULL / -1 when absent). */
    char *model, *format;
    long top_k;
    int has_top_k;
} srv_input;

/* Parse `body` per `content_type` (may be NULL). Images point into body or
 * into owned buffers; the caller keeps body alive while using them. At most
 * max_images images are accepted (413 beyond). */
srv_err srv_request_parse(const char *content_type, const uint8_t *body, size_t len,
                          int max_images, srv_input *in, srv_error *e);
void srv_input_free(srv_input *in);

/* Width and height from a PNG's IHDR or a JPEG's SOF marker, without
 * decoding. Returns 0, or -1 when the header does not say (not an image,
 * cut short before the size). EXIF rotation does not change w*h. *coef
 * (may be NULL) gets the bytes the decoder will hold besides the pixels:
 * for a progressive or multi-scan JPEG (or one whose first scan header is
 * not in the bytes) an upper bound of its whole-image coefficient buffer,
 * else 0. */
int srv_image_dims(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h, size_t *coef);

/* Media type of a Content-Type value, lower-cased, without parameters. */
void srv_media_type(const char *content_type, char *out, size_t len);

#endif
