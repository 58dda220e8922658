/* kserve_binary.c — KServe v2 infer bodies: the JSON header, the binary
 * tensor extension's buffers after it, and the answer written the same
 * way. Everything here reads client bytes: every length is checked against
 * what is actually there before it is used. */
#include "server/kserve_binary.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/half.h"

static const struct {
    const char *name;
    int size;
} KDT[SRV_KDT_COUNT] = {
    [SRV_KDT_BOOL] = {"BOOL", 1},   [SRV_KDT_UINT8] = {"UINT8", 1},
    [SRV_KDT_UINT16] = {"UINT16", 2}, [SRV_KDT_UINT32] = {"UINT32", 4},
    [SRV_KDT_UINT64] = {"UINT64", 8}, [SRV_KDT_INT8] = {"INT8", 1},
    [SRV_KDT_INT16] = {"INT16", 2}, [SRV_KDT_INT32] = {"INT32", 4},
    [SRV_KDT_INT64] = {"INT64", 8}, [SRV_KDT_FP16] = {"FP16", 2},
    [SRV_KDT_FP32] = {"FP32", 4},   [SRV_KDT_FP64] = {"FP64", 8},
    [SRV_KDT_BF16] = {"BF16", 2},   [SRV_KDT_BYTES] = {"BYTES", 0},
};

const char *srv_kdtype_name(srv_kdtype t)
{
    return (unsigned)t < SRV_KDT_COUNT ? KDT[t].name : "?";
}

int srv_kdtype_size(srv_kdtype t) { return (unsigned)t < SRV_KDT_COUNT ? KDT[t].size : 0; }

int srv_kdtype_parse(const char *s)
{
    for (int i = 0; i < SRV_KDT_COUNT; i++)
        if (strcmp(s, KDT[i].name) == 0)
            return i;
    return -1;
}

void srv_kreq_free(srv_kreq *q)
{
    json_decref(q->root);
    free(q->in);
    free(q->out);
    memset(q, 0, sizeof *q);
}

/* A JSON integer in [lo, hi] (protocol int64 parameters). */
static int get_int(json_t *v, long long lo, long long hi, long long *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

static srv_err parse_input(json_t *o, int i, srv_ktensor *t, srv_error *e)
{
    if (!json_is_object(o))
        return srv_fail(e, SRV_E_BAD_REQUEST, "inputs[%d] must be an object", i);
    json_t *name = json_object_get(o, "name");
    if (!json_is_string(name))
        return srv_fail(e, SRV_E_BAD_REQUEST, "inputs[%d].name must be a string", i);
    t->name = json_string_value(name);
    json_t *dt = json_object_get(o, "datatype");
    int d = json_is_string(dt) ? srv_kdtype_parse(json_string_value(dt)) : -1;
    if (d < 0)
        return srv_fail(e, SRV_E_BAD_REQUEST,
                        "input %.64s: datatype must be one of the protocol's (BOOL, UINT8..64, "
                        "INT8..64, FP16, FP32, FP64, BF16, BYTES), not %.32s",
                        t->name, json_is_string(dt) ? json_string_value(dt) : "that");
    t->dtype = (srv_kdtype)d;
    json_t *shape = json_object_get(o, "shape");
    size_t rank = json_is_array(shape) ? json_array_size(shape) : 0;
    if (!json_is_array(shape) || rank > SRV_K_MAX_RANK)
        return srv_fail(e, SRV_E_BAD_REQUEST, "input %.64s: shape must be a list of at most %d sizes",
                        t->name, SRV_K_MAX_RANK);
    t->rank = (int)rank;
    t->count = 1;
    for (size_t k = 0; k < rank; k++) {
        long long v;
        if (get_int(json_array_get(shape, k), 0, (long long)SRV_K_MAX_ELEMS, &v))
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: shape[%zu] must be a non-negative integer", t->name, k);
        t->shape[k] = v;
        /* both factors are at most 2^40: check before the product overflows */
        if (v && t->count > SRV_K_MAX_ELEMS / (uint64_t)v)
            return srv_fail(e, SRV_E_BAD_REQUEST, "input %.64s: shape holds too many elements",
                            t->name);
        t->count *= (uint64_t)v;
    }
    json_t *params = json_object_get(o, "parameters");
    if (params && !json_is_object(params))
        return srv_fail(e, SRV_E_BAD_REQUEST, "input %.64s: parameters must be an object", t->name);
    json_t *bds = params ? json_object_get(params, "binary_data_size") : NULL;
    json_t *data = json_object_get(o, "data");
    if (bds) {
        long long v;
        if (get_int(bds, 0, INT64_MAX, &v))
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: binary_data_size must be a non-negative integer",
                            t->name);
        if (data)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: has both data and binary_data_size", t->name);
        int size = srv_kdtype_size(t->dtype);
        if (size && (uint64_t)v != t->count * (uint64_t)size)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: binary_data_size %lld, but shape and %s make %llu "
                            "bytes",
                            t->name, v, srv_kdtype_name(t->dtype),
                            (unsigned long long)(t->count * (uint64_t)size));
        t->binary = 1;
        t->bin_len = (size_t)v;
    } else {
        if (!json_is_array(data))
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: data must be a list (or send it binary, with "
                            "parameters.binary_data_size)",
                            t->name);
        t->data = data;
    }
    return SRV_OK;
}

static srv_err parse_output(json_t *o, int i, srv_koutreq *r, srv_error *e)
{
    if (!json_is_object(o))
        return srv_fail(e, SRV_E_BAD_REQUEST, "outputs[%d] must be an object", i);
    json_t *name = json_object_get(o, "name");
    if (!json_is_string(name))
        return srv_fail(e, SRV_E_BAD_REQUEST, "outputs[%d].name must be a string", i);
    r->name = json_string_value(name);
    r->binary = -1;
    json_t *params = json_object_get(o, "parameters");
    if (params && !json_is_object(params))
        return srv_fail(e, SRV_E_BAD_REQUEST, "output %.64s: parameters must be an object",
                        r->name);
    json_t *bd = params ? json_object_get(params, "binary_data") : NULL;
    if (bd) {
        if (!json_is_boolean(bd))
            return srv_fail(e, SRV_E_BAD_REQUEST, "output %.64s: binary_data must be true or false",
                            r->name);
        r->binary = json_is_true(bd);
    }
    json_t *cl = params ? json_object_get(params, "classification") : NULL;
    long long k;
    if (cl && get_int(cl, 1, 1 << 20, &k))
        return srv_fail(e, SRV_E_BAD_REQUEST,
                        "output %.64s: classification must be a positive integer", r->name);
    r->classification = cl ? (int)k : 0;
    return SRV_OK;
}

srv_err srv_kreq_parse(const uint8_t *body, size_t len, const char *header_len, srv_kreq *q,
                       srv_error *e)
{
    memset(q, 0, sizeof *q);
    size_t jlen = len;
    if (header_len) {
        /* digits only: strtoull would take a sign or spaces */
        const char *s = header_len;
        unsigned long long v = 0;
        int ok = *s != '\0';
        for (; *s && ok; s++) {
            ok = *s >= '0' && *s <= '9' && v <= (ULLONG_MAX - 9) / 10;
            v = v * 10 + (unsigned)(*s - '0');
        }
        if (!ok)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "Inference-Header-Content-Length must be a number of bytes");
        if (v > len)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "Inference-Header-Content-Length is %llu but the body has %zu bytes", v,
                            len);
        jlen = (size_t)v;
    }
    if (jlen == 0)
        return srv_fail(e, SRV_E_BAD_REQUEST, "empty body: expected a JSON inference request");
    json_error_t je;
    q->root = json_loadb((const char *)body, jlen, JSON_REJECT_DUPLICATES, &je);
    if (!q->root)
        return srv_fail(e, SRV_E_BAD_REQUEST, "malformed JSON at byte %d: %s", je.position,
                        je.text);
    if (!json_is_object(q->root))
        return srv_fail(e, SRV_E_BAD_REQUEST, "the request must be a JSON object");

    json_t *id = json_object_get(q->root, "id");
    if (id && !json_is_string(id))
        return srv_fail(e, SRV_E_BAD_REQUEST, "id must be a string");
    q->id = id ? json_string_value(id) : NULL;

    json_t *params = json_object_get(q->root, "parameters");
    if (params && !json_is_object(params))
        return srv_fail(e, SRV_E_BAD_REQUEST, "parameters must be an object");
    /* Unknown parameters (timeout, priority, sequence_id...) are tolerated. */
    json_t *bdo = params ? json_object_get(params, "binary_data_output") : NULL;
    if (bdo && !json_is_boolean(bdo))
        return srv_fail(e, SRV_E_BAD_REQUEST, "parameters.binary_data_output must be true or false");
    q->binary_output = json_is_true(bdo);
    json_t *cl = params ? json_object_get(params, "classification") : NULL;
    long long k;
    if (cl && get_int(cl, 1, 1 << 20, &k))
        return srv_fail(e, SRV_E_BAD_REQUEST, "parameters.classification must be a positive integer");
    q->classification = cl ? (int)k : 0;

    json_t *ins = json_object_get(q->root, "inputs");
    if (!json_is_array(ins) || json_array_size(ins) == 0)
        return srv_fail(e, SRV_E_BAD_REQUEST, "inputs must be a non-empty list");
    if (json_array_size(ins) > SRV_K_MAX_TENSORS)
        return srv_fail(e, SRV_E_BAD_REQUEST, "at most %d inputs", SRV_K_MAX_TENSORS);
    q->nin = (int)json_array_size(ins);
    q->in = calloc((size_t)q->nin, sizeof *q->in);
    if (!q->in)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    const uint8_t *bin = body + jlen;
    size_t left = len - jlen;
    for (int i = 0; i < q->nin; i++) {
        srv_ktensor *t = &q->in[i];
        srv_err rc = parse_input(json_array_get(ins, (size_t)i), i, t, e);
        if (rc)
            return rc;
        for (int j = 0; j < i; j++)
            if (strcmp(q->in[j].name, t->name) == 0)
                return srv_fail(e, SRV_E_BAD_REQUEST, "input %.64s is given twice", t->name);
        if (!t->binary)
            continue;
        if (t->bin_len > left)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: binary_data_size %zu but only %zu bytes are left in "
                            "the body",
                            t->name, t->bin_len, left);
        t->bin = bin;
        bin += t->bin_len;
        left -= t->bin_len;
    }
    if (left)
        return srv_fail(e, SRV_E_BAD_REQUEST,
                        "%zu bytes follow the JSON that no input's binary_data_size accounts for",
                        left);

    json_t *outs = json_object_get(q->root, "outputs");
    if (outs && !json_is_array(outs))
        return srv_fail(e, SRV_E_BAD_REQUEST, "outputs must be a list");
    if (outs && json_array_size(outs) > SRV_K_MAX_TENSORS)
        return srv_fail(e, SRV_E_BAD_REQUEST, "at most %d outputs", SRV_K_MAX_TENSORS);
    q->nout = outs ? (int)json_array_size(outs) : 0;
    if (q->nout) {
        q->out = calloc((size_t)q->nout, sizeof *q->out);
        if (!q->out)
            return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    }
    for (int i = 0; i < q->nout; i++) {
        srv_err rc = parse_output(json_array_get(outs, (size_t)i), i, &q->out[i], e);
        if (rc)
            return rc;
    }
    return SRV_OK;
}

/* --- tensor data ---------------------------------------------------------- */

/* Depth-first over nested arrays; each leaf goes to leaf(). The depth is
 * bounded by jansson's parser (2048), so recursion is bounded. */
typedef struct walk {
    uint64_t n, want;
    int (*leaf)(struct walk *w, json_t *v);
    void *dst;
} walk;

static int walk_data(walk *w, json_t *v)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int rc = walk_data(w, json_array_get(v, i));
            if (rc)
                return rc;
        }
        return 0;
    }
    if (w->n >= w->want)
        return -2; /* more values than the shape says */
    if (w->leaf(w, v))
        return -1;
    w->n++;
    return 0;
}

static int leaf_f32(walk *w, json_t *v)
{
    if (!json_is_number(v))
        return -1;
    ((float *)w->dst)[w->n] = (float)json_number_value(v);
    return 0;
}

/* FP16 / BF16 data in JSON: a decimal number, rounded once to the half
 * type (as the client's own conversion would), then widened exactly. */
static int leaf_f16(walk *w, json_t *v)
{
    if (!json_is_number(v))
        return -1;
    ((float *)w->dst)[w->n] = sk_f16_to_f32(sk_f32_to_f16(sk_f64_to_f32_odd(json_number_value(v))));
    return 0;
}

static int leaf_bf16(walk *w, json_t *v)
{
    if (!json_is_number(v))
        return -1;
    ((float *)w->dst)[w->n] =
        sk_bf16_to_f32(sk_f32_to_bf16(sk_f64_to_f32_odd(json_number_value(v))));
    return 0;
}

static srv_err count_error(const srv_ktensor *t, int rc, uint64_t got, srv_error *e)
{
    if (rc == -1)
        return srv_fail(e, SRV_E_BAD_REQUEST, "input %.64s: data holds a value that is not %s",
                        t->name, t->dtype == SRV_KDT_BYTES ? "a string" : "a number");
    return srv_fail(e, SRV_E_BAD_REQUEST,
                    "input %.64s: shape says %llu values, data holds %s%llu", t->name,
                    (unsigned long long)t->count, rc == -2 ? "more than " : "",
                    (unsigned long long)got);
}

srv_err srv_ktensor_f32(const srv_ktensor *t, float *dst, srv_error *e)
{
    if (t->binary) {
        /* the protocol's byte order is little-endian, as on every CPU we
         * build for (x86-64, arm64); bin_len was checked against count */
        if (t->dtype == SRV_KDT_FP32) {
            memcpy(dst, t->bin, t->bin_len);
            return SRV_OK;
        }
        for (uint64_t i = 0; i < t->count; i++) { /* halves widen exactly */
            uint16_t h;
            memcpy(&h, t->bin + 2 * i, 2);
            dst[i] = t->dtype == SRV_KDT_FP16 ? sk_f16_to_f32(h) : sk_bf16_to_f32(h);
        }
        return SRV_OK;
    }
    walk w = {.want = t->count,
              .leaf = t->dtype == SRV_KDT_FP16   ? leaf_f16
                      : t->dtype == SRV_KDT_BF16 ? leaf_bf16
                                                 : leaf_f32,
              .dst = dst};
    int rc = walk_data(&w, t->data);
    if (rc || w.n != t->count)
        return count_error(t, rc, w.n, e);
    return SRV_OK;
}

static int leaf_bytes(walk *w, json_t *v)
{
    srv_kbytes *o = (srv_kbytes *)w->dst + w->n;
    /* KServe v1's {"b64": "..."} and a plain string are both accepted */
    if (json_is_object(v) && json_object_size(v) == 1)
        v = json_object_get(v, "b64");
    if (!json_is_string(v))
        return -1;
    o->p = (const uint8_t *)json_string_value(v);
    o->len = json_string_length(v);
    o->json = 1;
    return 0;
}

srv_err srv_ktensor_bytes(const srv_ktensor *t, srv_kbytes *out, srv_error *e)
{
    if (!t->binary) {
        walk w = {.want = t->count, .leaf = leaf_bytes, .dst = out};
        int rc = walk_data(&w, t->data);
        if (rc || w.n != t->count)
            return count_error(t, rc, w.n, e);
        return SRV_OK;
    }
    const uint8_t *p = t->bin;
    size_t left = t->bin_len;
    for (uint64_t i = 0; i < t->count; i++) {
        if (left < 4)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: binary data ends before element %llu of %llu", t->name,
                            (unsigned long long)i, (unsigned long long)t->count);
        uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24;
        p += 4;
        left -= 4;
        if (n > left)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: element %llu claims %u bytes, %zu are left", t->name,
                            (unsigned long long)i, n, left);
        out[i] = (srv_kbytes){.p = p, .len = n, .json = 0};
        p += n;
        left -= n;
    }
    if (left)
        return srv_fail(e, SRV_E_BAD_REQUEST,
                        "input %.64s: %zu bytes after its %llu elements in binary_data_size",
                        t->name, left, (unsigned long long)t->count);
    return SRV_OK;
}

/* --- answer --------------------------------------------------------------- */

static uint64_t numel(const srv_koutput *o)
{
    uint64_t n = 1;
    for (int k = 0; k < o->rank; k++)
        n *= (uint64_t)o->shape[k];
    return n;
}

/* Bytes of o's binary buffer. */
static size_t bin_size(const srv_koutput *o)
{
    uint64_t n = numel(o);
    if (o->dtype != SRV_KDT_BYTES)
        return (size_t)n * (size_t)srv_kdtype_size(o->dtype);
    size_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += 4 + strlen(o->strs[i]);
    return s;
}

/* A JSON string of s; bytes that are not UTF-8 (a label file in Latin-1,
 * say) become '?', as JSON text must be UTF-8. Binary outputs carry the
 * bytes as they are. */
static json_t *string_json(const char *s)
{
    json_t *v = json_string(s);
    if (v)
        return v;
    char *c = strdup(s);
    if (!c)
        return NULL;
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(c);
    free(c);
    return v;
}

static json_t *data_json(const srv_koutput *o)
{
    uint64_t n = numel(o);
    json_t *a = json_array();
    for (uint64_t i = 0; a && i < n; i++) {
        json_t *v;
        if (o->dtype == SRV_KDT_BYTES)
            v = string_json(o->strs[i]);
        else
            v = isfinite(o->f32[i]) ? json_real(o->f32[i]) : json_null();
        if (!v || json_array_append_new(a, v)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

srv_err srv_kresp_write(const char *model, const char *version, const char *id,
                        const srv_koutput *o, int n, uint8_t **body, size_t *len,
                        size_t *json_len, srv_error *e)
{
    *body = NULL;
    *len = *json_len = 0;
    json_t *outs = json_array();
    json_t *root = json_pack("{s:s,s:s}", "model_name", model, "model_version", version);
    if (root && id)
        json_object_set_new(root, "id", json_string(id));
    size_t binlen = 0;
    for (int i = 0; outs && root && i < n; i++) {
        json_t *shape = json_array();
        for (int k = 0; shape && k < o[i].rank; k++)
            json_array_append_new(shape, json_integer(o[i].shape[k]));
        json_t *t = json_pack("{s:s,s:s,s:o}", "name", o[i].name, "datatype",
                              srv_kdtype_name(o[i].dtype), "shape", shape);
        if (t && o[i].binary) {
            size_t b = bin_size(&o[i]);
            binlen += b;
            json_object_set_new(t, "parameters", json_pack("{s:I}", "binary_data_size",
                                                           (json_int_t)b));
        } else if (t) {
            json_t *d = data_json(&o[i]);
            if (!d) {
                json_decref(t);
                t = NULL;
            } else
                json_object_set_new(t, "data", d);
        }
        if (!t || json_array_append_new(outs, t)) {
            json_decref(outs);
            outs = NULL;
        }
    }
    char *s = NULL;
    if (root && outs && json_object_set_new(root, "outputs", outs) == 0)
        s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9));
    else
        json_decref(outs);
    json_decref(root);
    if (!s)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory building the answer");
    size_t sl = strlen(s);
    if (!binlen) {
        *body = (uint8_t *)s;
        *len = sl;
        return SRV_OK;
    }
    uint8_t *b = realloc(s, sl + binlen);
    if (!b) {
        free(s);
        return srv_fail(e, SRV_E_INTERNAL, "out of memory building the answer");
    }
    uint8_t *p = b + sl;
    for (int i = 0; i < n; i++) {
        if (!o[i].binary)
            continue;
        uint64_t cnt = numel(&o[i]);
        if (o[i].dtype != SRV_KDT_BYTES) {
            size_t sz = (size_t)cnt * (size_t)srv_kdtype_size(o[i].dtype);
            memcpy(p, o[i].f32, sz);
            p += sz;
            continue;
        }
        for (uint64_t j = 0; j < cnt; j++) {
            uint32_t l = (uint32_t)strlen(o[i].strs[j]);
            p[0] = (uint8_t)l;
            p[1] = (uint8_t)(l >> 8);
            p[2] = (uint8_t)(l >> 16);
            p[3] = (uint8_t)(l >> 24);
            memcpy(p + 4, o[i].strs[j], l);
            p += 4 + l;
        }
    }
    *body = b;
    *len = sl + binlen;
    *json_len = sl;
    return SRV_OK;
}
