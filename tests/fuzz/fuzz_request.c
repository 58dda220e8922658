/* fuzz_request.c — libFuzzer target for the request-body parsers the
 * server runs on untrusted bytes before any image is decoded: JSON (jansson;
 * base64 images, data URLs, tensors, options), multipart/form-data, raw
 * bodies, and the PNG/JPEG header peek that sizes an image before decoding.
 * The first byte picks the Content-Type (the boundary of the multipart ones
 * is "XyZ"), the rest is the body. Checks what the callers rely on: an
 * error leaves nothing to free and says why; on success every image lies
 * inside the body or in its own decoded buffer, the count is within the
 * limit, and a tensor's four dims are positive and cover its float data (an
 * error part-way may leave images for srv_input_free to free). Build
 * and run: see tests/fuzz/README.md. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/base64.h"
#include "server/request.h"

#define FUZZ_MAX_IMAGES 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ctypes[] = {
    NULL,
    "application/json",
    "application/json; charset=utf-8",
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data; boundary=\"XyZ\"",
    "multipart/form-data",
    "image/png",
    "image/jpeg",
    "application/octet-stream",
    "text/plain",
};

static int inside(const uint8_t *p, size_t n, const uint8_t *base, size_t len)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *ct = ctypes[data[0] % (sizeof ctypes / sizeof ctypes[0])];
    /* a copy of exactly the body's length, so ASan sees any read past it */
    size_t len = size - 1;
    uint8_t *body = malloc(len ? len : 1);
    if (!body)
        return 0;
    memcpy(body, data + 1, len);

    srv_input in;
    memset(&in, 0, sizeof in);
    srv_error e;
    memset(&e, 0, sizeof e);
    srv_err rc = srv_request_parse(ct, body, len, FUZZ_MAX_IMAGES, &in, &e);
    if (rc != SRV_OK) {
        if (!e.msg[0])
            abort();
    } else {
        if (in.nimages < 0 || in.nimages > FUZZ_MAX_IMAGES)
            abort();
        if (!in.nimages && !in.has_tensor)
            abort(); /* success means something to run */
        for (int i = 0; i < in.nimages; i++) {
            const srv_blob *b = &in.images[i];
            if (b->owned ? b->data != b->owned : !inside(b->data, b->len, body, len))
                abort();
            uint32_t w, h; /* 0 x 0 headers are the decoder's to refuse */
            (void)srv_image_dims(b->data, b->len, &w, &h, NULL);
            volatile uint8_t x = 0; /* touch every byte: ASan checks the range */
            for (size_t k = 0; k < b->len; k++)
                x ^= b->data[k];
            (void)x;
        }
        if (in.has_tensor) {
            size_t n = 1;
            for (int d = 0; d < 4; d++) {
                if (in.shape[d] <= 0)
                    abort();
                n *= (size_t)in.shape[d];
            }
            volatile float s = 0;
            for (size_t k = 0; k < n; k++)
                s += in.tensor[k];
            (void)s;
        }
    }
    srv_input_free(&in);

    /* the base64 and data-URL helpers on the raw body too */
    const char *payload;
    size_t plen;
    if (srv_data_url_payload((const char *)body, len, &payload, &plen) >= 0) {
        uint8_t *out = NULL;
        size_t outlen = 0;
        if (srv_base64_decode(payload, plen, &out, &outlen) == 0) {
            if (outlen > plen)
                abort();
            free(out);
        } else if (out) {
            abort();
        }
    }
    free(body);
    return 0;
}
