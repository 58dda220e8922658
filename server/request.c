/* request.c — body -> images or tensor. Errors follow API.md: not an image
 * or bad base64 -> bad_image; malformed JSON / missing field / wrong type ->
 * bad_request; unknown Content-Type -> unsupported_media_type. */
#include "server/request.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loaders/image.h"
#include "server/base64.h"
#include "server/multipart.h"

void srv_media_type(const char *ct, char *out, size_t len)
{
    size_t o = 0;
    if (len == 0)
        return;
    for (; ct && *ct && *ct != ';' && o + 1 < len; ct++)
        if (*ct != ' ' && *ct != '\t')
            out[o++] = (char)tolower((unsigned char)*ct);
    out[o] = '\0';
}

/* The header probe lives with the decoders (loaders/image_probe.c), on the
 * JPEG marker walk they use. */
int srv_image_dims(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h, size_t *coef)
{
    return sk_image_probe(p, len, w, h, coef);
}

void srv_input_free(srv_input *in)
{
    for (int i = 0; i < in->nimages; i++)
        free(in->images[i].owned);
    free(in->images);
    free(in->tensor);
    free(in->model);
    free(in->format);
    memset(in, 0, sizeof *in);
}

static srv_err add_image(srv_input *in, const uint8_t *p, size_t n, uint8_t *owned, int max,
                         srv_error *e)
{
    if (in->nimages >= max) {
        free(owned);
        return srv_fail(e, SRV_E_TOO_LARGE, "more than %d images in one request", max);
    }
    srv_blob *b = realloc(in->images, (size_t)(in->nimages + 1) * sizeof *b);
    if (!b) {
        free(owned);
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    }
    in->images = b;
    b[in->nimages].data = p;
    b[in->nimages].len = n;
    b[in->nimages].owned = owned;
    in->nimages++;
    return SRV_OK;
}

static srv_err set_top_k(srv_input *in, const char *s, size_t n, srv_error *e)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return srv_fail(e, SRV_E_BAD_REQUEST, "top_k must be a positive integer");
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (*end || end == buf)
        return srv_fail(e, SRV_E_BAD_REQUEST, "top_k must be a positive integer");
    in->top_k = v;
    in->has_top_k = 1;
    return SRV_OK;
}

static char *dup_trim(const uint8_t *p, size_t n)
{
    while (n && isspace(p[n - 1]))
        n--;
    while (n && isspace(*p))
        p++, n--;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* --- multipart ------------------------------------------------------------ */

typedef struct mp_ctx {
    srv_input *in;
    int max;
} mp_ctx;

static srv_err on_part(void *arg, const srv_part *p, srv_error *e)
{
    mp_ctx *c = arg;
    srv_input *in = c->in;
    if (!p->has_filename && strncmp(p->ctype, "image/", 6) != 0) {
        /* A plain form field: an option, if we know its name. */
        if (strcmp(p->name, "model") == 0) {
            free(in->model);
            in->model = dup_trim(p->data, p->len);
            return SRV_OK;
        }
        if (strcmp(p->name, "format") == 0) {
            free(in->format);
            in->format = dup_trim(p->data, p->len);
            return SRV_OK;
        }
        if (strcmp(p->name, "top_k") == 0) {
            char *s = dup_trim(p->data, p->len);
            srv_err r = s ? set_top_k(in, s, strlen(s), e) : SRV_E_INTERNAL;
            free(s);
            return r;
        }
    }
    /* A browser's empty file input: filename="" and no bytes. */
    if (p->len == 0 && p->has_filename && p->filename[0] == '\0')
        return SRV_OK;
    if (p->len == 0)
        return srv_fail(e, SRV_E_BAD_IMAGE, "form part \"%s\" is empty", p->name);
    return add_image(in, p->data, p->len, NULL, c->max, e);
}

/* --- JSON ----------------------------------------------------------------- */

static srv_err b64_image(srv_input *in, json_t *v, const char *what, int max, srv_error *e)
{
    if (!json_is_string(v))
        return srv_fail(e, SRV_E_BAD_REQUEST, "%s must be a base64 string", what);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    /* Accept a data URL: "data:image/png;base64,...." */
    if (srv_data_url_payload(s, n, &s, &n) < 0)
        return srv_fail(e, SRV_E_BAD_IMAGE, "%s is a data URL without base64 data", what);
    uint8_t *out;
    size_t olen;
    if (srv_base64_decode(s, n, &out, &olen))
        return srv_fail(e, SRV_E_BAD_IMAGE, "%s is not valid base64", what);
    if (olen == 0) {
        free(out);
        return srv_fail(e, SRV_E_BAD_IMAGE, "%s is empty", what);
    }
    return add_image(in, out, olen, out, max, e);
}

/* Flatten nested number arrays into in->tensor (capacity cap). */
static srv_err flatten(json_t *a, float *dst, size_t cap, size_t *n, int depth, srv_error *e)
{
    if (depth > 8)
        return srv_fail(e, SRV_E_BAD_REQUEST, "tensor.data is nested too deeply");
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
    {
        if (json_is_array(x)) {
            srv_err r = flatten(x, dst, cap, n, depth + 1, e);
            if (r)
                return r;
            continue;
        }
        if (!json_is_number(x))
            return srv_fail(e, SRV_E_BAD_REQUEST, "tensor.data must hold only numbers");
        double d = json_number_value(x);
        if (!isfinite(d) || fabs(d) > 3.4e38)
            return srv_fail(e, SRV_E_BAD_TENSOR, "tensor.data holds a value out of float range");
        if (*n >= cap)
            return srv_fail(e, SRV_E_BAD_TENSOR, "tensor.data has more values than its shape");
        dst[(*n)++] = (float)d;
    }
    return SRV_OK;
}

static srv_err parse_tensor(srv_input *in, json_t *t, size_t body_len, srv_error *e)
{
    if (!json_is_object(t))
        return srv_fail(e, SRV_E_BAD_REQUEST, "tensor must be an object {shape, data}");
    json_t *shape = json_object_get(t, "shape"), *data = json_object_get(t, "data");
    if (!json_is_array(shape) || !json_is_array(data))
        return srv_fail(e, SRV_E_BAD_REQUEST, "tensor needs \"shape\" and \"data\" lists");
    if (json_array_size(shape) != 4)
        return srv_fail(e, SRV_E_BAD_TENSOR, "tensor.shape must be [N,C,H,W]");
    size_t numel = 1;
    for (size_t i = 0; i < 4; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d))
            return srv_fail(e, SRV_E_BAD_REQUEST, "tensor.shape must hold integers");
        json_int_t v = json_integer_value(d);
        if (v < 1 || v > (1 << 20))
            return srv_fail(e, SRV_E_BAD_TENSOR, "tensor.shape[%zu] = %lld is out of range", i,
                            (long long)v);
        in->shape[i] = v;
        numel *= (size_t)v;
        /* Each value takes at least two body bytes ("0,"): a shape the body
         * cannot fill is refused before anything is allocated (and before
         * the product can overflow: each factor is <= 2^20). */
        if (numel > body_len / 2 + 1)
            return srv_fail(e, SRV_E_BAD_TENSOR,
                            "tensor.shape needs more values than the body can hold");
    }
    in->tensor = malloc(numel * sizeof(float));
    if (!in->tensor)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory for the tensor");
    size_t n = 0;
    srv_err r = flatten(data, in->tensor, numel, &n, 0, e);
    if (r)
        return r;
    if (n != numel)
        return srv_fail(e, SRV_E_BAD_TENSOR, "tensor.data has %zu values; shape needs %zu", n,
                        numel);
    in->has_tensor = 1;
    return SRV_OK;
}

static srv_err parse_json(srv_input *in, const uint8_t *body, size_t len, int max, srv_error *e)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return srv_fail(e, SRV_E_BAD_REQUEST, "malformed JSON at line %d column %d: %s", je.line,
                        je.column, je.text);
    srv_err r = SRV_OK;
    if (!json_is_object(root)) {
        r = srv_fail(e, SRV_E_BAD_REQUEST, "the JSON body must be an object");
        goto out;
    }
    json_t *v;
    if ((v = json_object_get(root, "model"))) {
        if (!json_is_string(v)) {
            r = srv_fail(e, SRV_E_BAD_REQUEST, "model must be a string");
            goto out;
        }
        in->model = strdup(json_string_value(v));
    }
    if ((v = json_object_get(root, "format"))) {
        if (!json_is_string(v)) {
            r = srv_fail(e, SRV_E_BAD_REQUEST, "format must be a string");
            goto out;
        }
        in->format = strdup(json_string_value(v));
    }
    if ((v = json_object_get(root, "top_k"))) {
        if (!json_is_integer(v)) {
            r = srv_fail(e, SRV_E_BAD_REQUEST, "top_k must be an integer");
            goto out;
        }
        in->top_k = (long)json_integer_value(v);
        in->has_top_k = 1;
    }
    json_t *img = json_object_get(root, "image"), *imgs = json_object_get(root, "images"),
           *ten = json_object_get(root, "tensor");
    if (!!img + !!imgs + !!ten != 1) {
        r = srv_fail(e, SRV_E_BAD_REQUEST,
                     "the JSON body needs exactly one of \"image\", \"images\", \"tensor\"");
        goto out;
    }
    if (img)
        r = b64_image(in, img, "image", max, e);
    else if (imgs) {
        if (!json_is_array(imgs) || json_array_size(imgs) == 0) {
            r = srv_fail(e, SRV_E_BAD_REQUEST, "images must be a non-empty list");
            goto out;
        }
        size_t i;
        json_array_foreach(imgs, i, v)
        {
            char what[32];
            snprintf(what, sizeof what, "images[%zu]", i);
            if ((r = b64_image(in, v, what, max, e)))
                break;
        }
    } else {
        r = parse_tensor(in, ten, len, e);
    }
out:
    json_decref(root);
    return r;
}

srv_err srv_request_parse(const char *content_type, const uint8_t *body, size_t len,
                          int max_images, srv_input *in, srv_error *e)
{
    char mt[96];
    memset(in, 0, sizeof *in);
    srv_media_type(content_type, mt, sizeof mt);
    if (strcmp(mt, "application/json") == 0 || strcmp(mt, "text/json") == 0 ||
        (strlen(mt) > 5 && strcmp(mt + strlen(mt) - 5, "+json") == 0)) {
        if (len == 0)
            return srv_fail(e, SRV_E_BAD_REQUEST, "empty body; expected a JSON object");
        return parse_json(in, body, len, max_images, e);
    }
    if (strcmp(mt, "multipart/form-data") == 0) {
        mp_ctx c = {in, max_images};
        srv_err r = srv_multipart_parse(content_type, body, len, on_part, &c, e);
        if (r == SRV_OK && in->nimages == 0)
            r = srv_fail(e, SRV_E_BAD_REQUEST, "the form has no image file part");
        return r;
    }
    int declared = strcmp(mt, "image/png") == 0 || strcmp(mt, "image/jpeg") == 0 ||
                   strcmp(mt, "image/jpg") == 0 || strcmp(mt, "image/pjpeg") == 0;
    /* curl --data-binary sends application/x-www-form-urlencoded by default:
     * sniff it like octet-stream rather than refuse the most common client. */
    int sniffed = mt[0] == '\0' || strcmp(mt, "application/octet-stream") == 0 ||
                  strcmp(mt, "application/x-www-form-urlencoded") == 0;
    if (!declared && !sniffed)
        return srv_fail(e, SRV_E_MEDIA_TYPE,
                        "Content-Type %.60s is not supported; send image/png, image/jpeg, "
                        "application/json or multipart/form-data",
                        mt);
    if (len == 0)
        return srv_fail(e, SRV_E_BAD_REQUEST, "empty body; expected a PNG or JPEG image");
    if (sk_image_sniff(body, len) == SK_IMG_UNKNOWN)
        return srv_fail(e, SRV_E_BAD_IMAGE, "the body is neither a PNG nor a JPEG image");
    return add_image(in, body, len, NULL, max_images, e);
}
