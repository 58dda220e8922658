/* kserve.c — the Open Inference Protocol (KServe v2) over HTTP, so that
 * tritonclient, the kserve client, perf_analyzer and the gateways that
 * speak it work unchanged.
 *
 * Infer follows /classify's path (predict.c): the HTTP thread suspends the
 * connection once the body is in; a prep worker parses the body
 * (kserve_binary.c), decodes images or copies tensors, and submits to the
 * model's batcher; after the batch a prep worker writes the answer and
 * resumes; the HTTP thread queues it. Every byte is reserved against
 * --max-buffered as there, and the access log and metrics see the request
 * like any other (endpoint label "v2_infer").
 *
 * Every model has one version, "1" (the repository layout with versions
 * comes with repository.c). A model has one input, [N,C,H,W] FP32 — or a
 * BYTES tensor [N] of PNG/JPEG files, decoded and preprocessed as /classify
 * does (OpenVINO Model Server's convention) — and one output. */
#include "server/kserve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/base64.h"
#include "server/batcher.h"
#include "server/kserve_binary.h"
#include "server/model.h"
#include "server/predict.h"
#include "server/prep.h"
#include "server/repository.h"
#include "server/tasks.h"

#define SERVER_NAME "skipserve"
#define SERVER_VERSION "0.1.0"

/* --- paths ---------------------------------------------------------------- */

typedef enum {
    KP_BAD = 0, /* no such endpoint */
    KP_SERVER,  /* /v2 */
    KP_LIVE,
    KP_READY,
    KP_MODEL, /* /v2/models/{m}[/versions/{v}] */
    KP_MODEL_READY,
    KP_MODEL_CONFIG,
    KP_INFER,
    KP_STATS, /* /v2/models/stats (model ""), /v2/models/{m}[/versions/{v}]/stats */
    KP_REPO_INDEX,
} kpath_kind;

typedef struct kpath {
    kpath_kind kind;
    char model[SRV_MODEL_NAME_MAX + 1];
    char version[24]; /* "" when the path names none */
} kpath;

/* Copy one path segment [s, end) into out (n bytes); 0 when it fits. */
static int segment(const char *s, const char *end, char *out, size_t n)
{
    size_t len = (size_t)(end - s);
    if (len == 0 || len >= n)
        return -1;
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

static kpath parse_path(const char *url)
{
    kpath p = {.kind = KP_BAD};
    size_t n = strlen(url);
    if (n > 3 && url[n - 1] == '/')
        n--; /* a trailing slash is tolerated, as on the other routes */
    const char *end = url + n;
#define IS(lit) (n == sizeof(lit) - 1 && strncmp(url, lit, n) == 0)
    if (IS("/v2"))
        p.kind = KP_SERVER;
    else if (IS("/v2/health/live"))
        p.kind = KP_LIVE;
    else if (IS("/v2/health/ready"))
        p.kind = KP_READY;
    else if (IS("/v2/models/stats"))
        p.kind = KP_STATS;
    else if (IS("/v2/repository/index") || strncmp(url, "/v2/repository/models/", 22) == 0)
        p.kind = KP_REPO_INDEX;
#undef IS
    if (p.kind != KP_BAD || strncmp(url, "/v2/models/", 11) != 0)
        return p;
    const char *s = url + 11, *slash = memchr(s, '/', (size_t)(end - s));
    if (segment(s, slash ? slash : end, p.model, sizeof p.model))
        return p;
    s = slash;
    if (s && strncmp(s, "/versions/", 10) == 0) {
        s += 10;
        slash = memchr(s, '/', (size_t)(end - s));
        if (segment(s, slash ? slash : end, p.version, sizeof p.version))
            return p;
        s = slash;
    }
    size_t rest = s ? (size_t)(end - s) : 0;
    if (!s)
        p.kind = KP_MODEL;
    else if (rest == 6 && strncmp(s, "/ready", 6) == 0)
        p.kind = KP_MODEL_READY;
    else if (rest == 7 && strncmp(s, "/config", 7) == 0)
        p.kind = KP_MODEL_CONFIG;
    else if (rest == 6 && strncmp(s, "/infer", 6) == 0)
        p.kind = KP_INFER;
    else if (rest == 6 && strncmp(s, "/stats", 6) == 0)
        p.kind = KP_STATS;
    return p;
}

/* --- errors --------------------------------------------------------------- */

char *srv_kserve_error_json(const srv_error *e, size_t *len)
{
    /* printable ASCII only, as errors.c does: messages quote client input */
    char msg[sizeof e->msg];
    size_t i = 0;
    for (; e->msg[i] && i + 1 < sizeof msg; i++) {
        unsigned char ch = (unsigned char)e->msg[i];
        msg[i] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
    }
    msg[i] = '\0';
    json_t *o = json_pack("{s:s}", "error", msg[0] ? msg : "error");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        s = strdup("{\"error\":\"error\"}");
    if (s && len)
        *len = strlen(s);
    return s;
}

static void fail(srv_req *r, srv_err kind, const char *fmt, const char *arg)
{
    srv_error e;
    srv_fail(&e, kind, fmt, arg);
    srv_respond_error(r, &e);
}

/* --- models --------------------------------------------------------------- */

/* The model a path names, ready to serve, with a reference (unref it):
 * NULL with e filled (404 unknown model or version, 503 loading or failed). */
static srv_model *find_model(srv_server *srv, const kpath *p, srv_error *e)
{
    srv_model *m = srv_models_find(srv->models, p->model, p->version, e);
    if (!m && e->kind == SRV_E_UNKNOWN_MODEL && !p->version[0])
        srv_fail(e, SRV_E_UNKNOWN_MODEL,
                 "no model named %.128s (POST /v2/repository/index lists them)", p->model);
    return m;
}

static const char *input_name(const srv_model *m)
{
    return m->graph->values[m->graph->inputs[0]].name;
}

static const char *output_name(const srv_model *m)
{
    return m->graph->values[m->graph->outputs[0]].name;
}

/* Per-image output shape: [K] for a classifier, [K,H,W] for a segmenter. */
static int output_dims(const srv_model *m, int64_t *d)
{
    if (m->task == SRV_TASK_SEGMENT) {
        d[0] = m->nclasses;
        d[1] = m->out_h;
        d[2] = m->out_w;
        return 3;
    }
    d[0] = (int64_t)m->out_floats;
    return 1;
}

static json_t *dims_json(int64_t first, const int64_t *d, int n)
{
    json_t *a = json_array();
    if (first)
        json_array_append_new(a, json_integer(first));
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(d[i]));
    return a;
}

/* The ready versions of m's name, oldest first. */
static json_t *versions_json(srv_models *ms, const srv_model *m)
{
    json_t *a = json_array();
    srv_models_lock(ms);
    for (int i = 0; i < ms->n; i++) {
        const srv_model *x = ms->m[i];
        if (strcmp(x->name, m->name) || atomic_load(&x->status) != SRV_MODEL_READY)
            continue;
        size_t at = json_array_size(a), dup = 0;
        for (size_t k = 0; k < json_array_size(a); k++) {
            const char *v = json_string_value(json_array_get(a, k));
            int c = srv_version_cmp(x->version, v);
            dup |= c == 0;
            if (c < 0 && at == json_array_size(a))
                at = k;
        }
        if (!dup)
            json_array_insert_new(a, at, json_string(x->version));
    }
    srv_models_unlock(ms);
    return a;
}

static json_t *model_metadata(srv_models *ms, const srv_model *m)
{
    int64_t in[3] = {m->pp.channels, m->pp.height, m->pp.width}, out[3];
    int no = output_dims(m, out);
    return json_pack("{s:s,s:o,s:s,s:[{s:s,s:s,s:o}],s:[{s:s,s:s,s:o}]}", "name", m->name,
                     "versions", versions_json(ms, m), "platform", "onnx", "inputs", "name",
                     input_name(m), "datatype", "FP32", "shape", dims_json(-1, in, 3),
                     "outputs", "name", output_name(m), "datatype", "FP32", "shape",
                     dims_json(-1, out, no));
}

/* Triton's model configuration, the fields perf_analyzer and tritonclient
 * read: with max_batch_size > 0, dims leave out the batch dimension. */
static json_t *model_config(const srv_model *m)
{
    int64_t in[3] = {m->pp.channels, m->pp.height, m->pp.width}, out[3];
    int no = output_dims(m, out);
    json_t *pref = json_array();
    for (int i = 0; i < m->nplans; i++)
        json_array_append_new(pref, json_integer(m->plan_size[i]));
    return json_pack(
        "{s:s,s:s,s:s,s:i,s:[{s:s,s:s,s:s,s:o}],s:[{s:s,s:s,s:o}],"
        "s:{s:i,s:o,s:{s:i}},s:{s:{s:i}},s:[{s:i,s:s}]}",
        "name", m->name, "platform", "onnx", "backend", "skipserve", "max_batch_size",
        m->max_batch, "input", "name", input_name(m), "data_type", "TYPE_FP32", "format",
        "FORMAT_NCHW", "dims", dims_json(0, in, 3), "output", "name", output_name(m),
        "data_type", "TYPE_FP32", "dims", dims_json(0, out, no), "dynamic_batching",
        "max_queue_delay_microseconds", m->max_delay_us, "preferred_batch_size", pref,
        "default_queue_policy", "max_queue_size", m->max_queue, "version_policy", "latest",
        "num_versions", 1, "instance_group", "count", 1, "kind", "KIND_CPU");
}

/* Triton's statistics extension: one entry per model version. */
static json_t *stat_json(srv_stat *st)
{
    return json_pack("{s:I,s:I}", "count", (json_int_t)atomic_load(&st->n), "ns",
                     (json_int_t)atomic_load(&st->ns));
}

static json_t *model_stats(srv_model *m)
{
    srv_model_stats *st = &m->stats;
    json_t *batches = json_array();
    for (int i = 0; i < m->nplans; i++) {
        json_int_t n = (json_int_t)atomic_load(&st->batch[i].n);
        if (n == 0)
            continue;
        /* input and output copies are inside the engine run: counted, 0 ns */
        json_array_append_new(
            batches, json_pack("{s:i,s:{s:I,s:i},s:o,s:{s:I,s:i}}", "batch_size",
                               m->plan_size[i], "compute_input", "count", n, "ns", 0,
                               "compute_infer", stat_json(&st->batch[i]), "compute_output",
                               "count", n, "ns", 0));
    }
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:{s:o,s:o,s:o,s:o,s:o,s:o,s:{s:i,s:i},s:{s:i,s:i}},"
                     "s:o}",
                     "name", m->name, "version", m->version, "last_inference",
                     (json_int_t)atomic_load(&st->last_inference_ms), "inference_count",
                     (json_int_t)atomic_load(&st->inference_count), "execution_count",
                     (json_int_t)atomic_load(&st->execution_count), "inference_stats", "success",
                     stat_json(&st->success), "fail", stat_json(&st->fail), "queue",
                     stat_json(&st->queue), "compute_input", stat_json(&st->compute_input),
                     "compute_infer", stat_json(&st->compute_infer), "compute_output",
                     stat_json(&st->compute_output), "cache_hit", "count", 0, "ns", 0,
                     "cache_miss", "count", 0, "ns", 0, "batch_stats", batches);
}

/* GET .../stats: every ready version listed (of p->model, or all). */
static void stats(srv_req *r, const kpath *p)
{
    srv_models *ms = r->srv->models;
    srv_error e;
    if (p->model[0]) {
        srv_model *m = find_model(r->srv, p, &e); /* 404 / 503 as for metadata */
        if (!m) {
            srv_respond_error(r, &e);
            return;
        }
        r->ext = m;
        r->model = m->name;
    }
    json_t *list = json_array();
    srv_models_lock(ms);
    for (int i = 0; i < ms->n; i++) {
        srv_model *m = ms->m[i];
        if (atomic_load(&m->status) != SRV_MODEL_READY ||
            (p->model[0] && strcmp(m->name, p->model)) ||
            (p->version[0] && strcmp(m->version, p->version)))
            continue;
        json_array_append_new(list, model_stats(m));
    }
    srv_models_unlock(ms);
    srv_respond_json(r, 200, json_pack("{s:o}", "model_stats", list));
}

/* --- GET endpoints -------------------------------------------------------- */

static void get(srv_req *r)
{
    srv_server *srv = r->srv;
    kpath p = parse_path(r->url);
    srv_error e;
    switch (p.kind) {
    case KP_SERVER:
        srv_respond_json(r, 200,
                         json_pack("{s:s,s:s,s:[s,s,s,s]}", "name", SERVER_NAME, "version",
                                   SERVER_VERSION, "extensions", "binary_tensor_data",
                                   "classification", "model_repository", "statistics"));
        return;
    case KP_LIVE:
        srv_respond_json(r, 200, json_pack("{s:b}", "live", 1));
        return;
    case KP_READY:
        if (atomic_load(&srv->draining) || !atomic_load(&srv->ready)) {
            const char *why = atomic_load(&srv->draining) ? "draining: the server is shutting down"
                                                          : "models are still loading";
            srv_fail(&e, SRV_E_NOT_READY, "%s", why);
            srv_respond_error(r, &e);
        } else {
            srv_respond_json(r, 200, json_pack("{s:b}", "ready", 1));
        }
        return;
    case KP_STATS:
        stats(r, &p);
        return;
    case KP_MODEL:
    case KP_MODEL_READY:
    case KP_MODEL_CONFIG: {
        srv_model *m = find_model(srv, &p, &e);
        if (m) {
            r->ext = m; /* held until completion: r->model is logged then */
            r->model = m->name;
        }
        if (!m)
            srv_respond_error(r, &e); /* ready: 404 unknown, 503 loading or failed */
        else if (p.kind == KP_MODEL_READY)
            srv_respond_json(r, 200, json_pack("{s:s,s:s,s:b}", "name", m->name, "version",
                                               m->version, "ready", 1));
        else
            srv_respond_json(r, 200, p.kind == KP_MODEL ? model_metadata(srv->models, m)
                                                         : model_config(m));
        return;
    }
    default:
        fail(r, SRV_E_NOT_FOUND, "no such endpoint: %.100s", r->url);
        return;
    }
}

static void get_done(srv_req *r)
{
    srv_model_unref(r->ext);
    r->ext = NULL;
}

/* POST /v2/repository/index: every model version listed and its state
 * (a version being reloaded shows twice: the one serving and the one
 * loading). */
static void repo_index(srv_req *r)
{
    srv_models *ms = r->srv->models;
    json_t *list = json_array();
    srv_models_lock(ms);
    for (int i = 0; ms && i < ms->n; i++) {
        srv_model *m = ms->m[i];
        int st = atomic_load(&m->status);
        json_t *o = json_pack("{s:s,s:s,s:s}", "name", m->name, "version", m->version,
                              "state",
                              st == SRV_MODEL_READY    ? "READY"
                              : st == SRV_MODEL_FAILED ? "UNAVAILABLE"
                                                       : "LOADING");
        if (st == SRV_MODEL_FAILED)
            json_object_set_new(o, "reason", json_string(m->error));
        json_array_append_new(list, o);
    }
    srv_models_unlock(ms);
    srv_respond_json(r, 200, list);
}

/* --- infer ---------------------------------------------------------------- */

typedef struct srv_kserve {
    srv_work work; /* first: the prep queue's item */
    srv_req *r;
    kpath path;
    const char *header_len; /* Inference-Header-Content-Length, read on the HTTP thread */
    srv_model *model;
    char *id;       /* echoed */
    int binary_out; /* the output goes as raw bytes */
    int classify_k; /* classification extension: top k, 0 = the raw tensor */
    int n;          /* images in the batch job */
    float *input, *output;
    srv_job job;
    double decode_ms;
    srv_error err;
    uint8_t *body; /* the answer */
    size_t len, json_len;
} srv_kserve;

/* Free what k holds but its model reference: r->model (its name) is
 * logged at completion. */
static void infer_release(srv_kserve *k)
{
    free(k->id);
    free(k->input);
    free(k->output);
    free(k->body);
    k->id = NULL;
    k->input = k->output = NULL;
    k->body = NULL;
}

static void infer_free(srv_req *r)
{
    srv_kserve *k = r->ext;
    if (!k)
        return;
    infer_release(k);
    srv_model_unref(k->model); /* the last request of a replaced version frees it */
    free(k);
    r->ext = NULL;
}

static void wake(srv_req *r)
{
    r->state = SRV_REQ_RESUMED;
    MHD_resume_connection(r->conn);
}

/* Upper bound of the JSON tree's allocations, as predict.c bounds them:
 * under 64 bytes per value plus copies of the text. */
static size_t parse_bytes(const uint8_t *body, size_t len)
{
    size_t seps = 1;
    for (size_t i = 0; i < len; i++)
        seps += body[i] == ',' || body[i] == '[' || body[i] == ':';
    return 2 * len + 64 * seps;
}

/* The images of a BYTES input, decoded and preprocessed into k->input.
 * JSON elements are base64 (or a data: URL): JSON strings cannot carry raw
 * image bytes. */
static srv_err images_in(srv_req *r, srv_kserve *k, const srv_ktensor *t, srv_error *e)
{
    srv_kbytes *el = calloc((size_t)k->n, sizeof *el);
    if (!el)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    srv_err rc = srv_ktensor_bytes(t, el, e);
    for (int i = 0; rc == SRV_OK && i < k->n; i++) {
        const uint8_t *p = el[i].p;
        size_t len = el[i].len;
        uint8_t *owned = NULL;
        size_t charged = 0;
        if (el[i].json) {
            const char *s;
            size_t sl;
            if (srv_data_url_payload((const char *)p, len, &s, &sl) < 0 ||
                (rc = srv_req_reserve(r, sl, "decoding base64", e)) != SRV_OK) {
                rc = rc ? rc : srv_fail(e, SRV_E_BAD_IMAGE, "image %d: bad data URL", i);
                break;
            }
            charged = sl;
            if (srv_base64_decode(s, sl, &owned, &len)) {
                srv_req_release(r, charged);
                rc = srv_fail(e, SRV_E_BAD_IMAGE,
                              "image %d: not base64 (BYTES in JSON carry base64 image files)", i);
                break;
            }
            p = owned;
        }
        rc = srv_predict_image(r, k->model, p, len, k->input + (size_t)i * k->model->in_floats,
                               e);
        free(owned);
        srv_req_release(r, charged);
        if (rc != SRV_OK && k->n > 1) {
            char m[sizeof e->msg];
            snprintf(m, sizeof m, "%s", e->msg);
            srv_fail(e, rc, "element %d: %s", i, m);
        }
    }
    free(el);
    return rc;
}

/* Prep worker: the request up to its batcher submit. SRV_OK: the batcher
 * owns r now. */
static srv_err infer_start(srv_req *r, srv_kserve *k, srv_kreq *q, srv_error *e)
{
    srv_server *srv = r->srv;
    double t0 = srv_now();
    /* only the JSON part makes a tree: binary buffers are read in place */
    size_t jlen = r->len;
    if (k->header_len) {
        char *end;
        unsigned long long v = strtoull(k->header_len, &end, 10);
        if (*end == '\0' && v < jlen)
            jlen = (size_t)v; /* the parser checks the value properly */
    }
    size_t parsing = parse_bytes(r->body, jlen);
    srv_err rc = srv_req_reserve(r, parsing, "parsing the JSON body", e);
    if (rc)
        return rc;
    if ((rc = srv_kreq_parse(r->body, r->len, k->header_len, q, e)))
        return rc;
    srv_model *m = find_model(srv, &k->path, e);
    if (!m)
        return e->kind;
    k->model = m;
    r->model = m->name;

    const char *iname = input_name(m), *oname = output_name(m);
    if (q->nin != 1)
        return srv_fail(e, SRV_E_BAD_REQUEST, "model %s takes one input (%.64s), not %d", m->name,
                        iname, q->nin);
    const srv_ktensor *t = &q->in[0];
    if (strcmp(t->name, iname) != 0)
        return srv_fail(e, SRV_E_BAD_REQUEST, "unknown input %.64s: model %s takes %.64s",
                        t->name, m->name, iname);
    k->binary_out = q->binary_output;
    k->classify_k = q->classification;
    for (int i = 0; i < q->nout; i++) {
        const srv_koutreq *o = &q->out[i];
        if (strcmp(o->name, oname) != 0)
            return srv_fail(e, SRV_E_BAD_REQUEST, "unknown output %.64s: model %s has %.64s",
                            o->name, m->name, oname);
        if (i > 0)
            return srv_fail(e, SRV_E_BAD_REQUEST, "output %.64s is requested twice", o->name);
        if (o->binary >= 0)
            k->binary_out = o->binary;
        if (o->classification)
            k->classify_k = o->classification;
    }
    if (k->classify_k && m->task != SRV_TASK_CLASSIFY)
        return srv_fail(e, SRV_E_BAD_REQUEST,
                        "classification: model %s is a segment model; ask for its tensor",
                        m->name);
    if (k->classify_k > m->nclasses)
        return srv_fail(e, SRV_E_BAD_REQUEST, "classification must be 1..%d for model %s",
                        m->nclasses, m->name);

    int64_t n;
    if (t->dtype == SRV_KDT_FP32) {
        const int64_t *s = t->shape;
        if (t->rank != 4 || s[0] < 1 || s[1] != m->pp.channels || s[2] != m->pp.height ||
            s[3] != m->pp.width) {
            char got[96] = "";
            for (int i = 0, o = 0; i < t->rank && o < 80; i++)
                o += snprintf(got + o, sizeof got - (size_t)o, "%s%lld", i ? "," : "",
                              (long long)s[i]);
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: shape [%s] does not fit model %s: [-1,%d,%d,%d]",
                            t->name, got, m->name, m->pp.channels, m->pp.height, m->pp.width);
        }
        n = s[0];
    } else if (t->dtype == SRV_KDT_BYTES) {
        if (!(t->rank == 1 || (t->rank == 2 && t->shape[1] == 1)) || t->shape[0] < 1)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "input %.64s: BYTES images take shape [N] (one PNG/JPEG file each)",
                            t->name);
        n = t->shape[0];
    } else {
        return srv_fail(e, SRV_E_BAD_REQUEST,
                        "input %.64s: datatype %s is not supported by model %s; it takes FP32 "
                        "[-1,%d,%d,%d] or BYTES [N] of PNG/JPEG files",
                        t->name, srv_kdtype_name(t->dtype), m->name, m->pp.channels,
                        m->pp.height, m->pp.width);
    }
    if (n > m->max_queue)
        return srv_fail(e, SRV_E_TOO_LARGE, "%lld images in one request; model %s takes at most %d",
                        (long long)n, m->name, m->max_queue);
    k->n = (int)n;
    r->images = k->n;
    if (srv_batcher_depth(m->batcher) + k->n > m->max_queue)
        return srv_fail(e, SRV_E_OVERLOADED, "model %s has its queue full (%d images); retry later",
                        m->name, m->max_queue);
    size_t tensors = (size_t)n * (m->in_floats + m->out_floats) * sizeof(float);
    if ((rc = srv_req_reserve(r, tensors, "the request's tensors", e)))
        return rc;
    k->input = malloc((size_t)n * m->in_floats * sizeof *k->input);
    k->output = malloc((size_t)n * m->out_floats * sizeof *k->output);
    if (!k->input || !k->output)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    if (t->dtype == SRV_KDT_FP32)
        rc = srv_ktensor_f32(t, k->input, e);
    else
        rc = images_in(r, k, t, e);
    if (rc)
        return rc;
    if (q->id && !(k->id = strdup(q->id)))
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    /* Nothing of the body is needed while the job waits. */
    srv_kreq_free(q);
    srv_req_release(r, parsing);
    srv_req_drop_body(r);
    k->decode_ms = (srv_now() - t0) * 1e3;

    srv_job *j = &k->job;
    j->n = k->n;
    j->input = k->input;
    j->output = k->output;
    j->t_enqueue = srv_now();
    j->deadline = r->t_start + srv->cfg->timeout_ms * 1e-3;
    j->done = NULL; /* set by the caller */
    j->ctx = r;
    return SRV_OK;
}

static void infer_finish(srv_work *w);

static void job_done(srv_job *j)
{
    srv_req *r = j->ctx;
    srv_kserve *k = r->ext;
    k->work.run = infer_finish;
    srv_prep_push(r->srv->prep, &k->work, 1);
}

static void prep_start(srv_work *w)
{
    srv_kserve *k = (srv_kserve *)w;
    srv_req *r = k->r;
    srv_kreq q;
    memset(&q, 0, sizeof q);
    srv_err rc = infer_start(r, k, &q, &k->err);
    srv_kreq_free(&q);
    if (rc == SRV_OK) {
        k->job.done = job_done;
        srv_predict_prepared(r);
        rc = srv_batcher_submit(k->model->batcher, &k->job, &k->err);
        if (rc == SRV_OK)
            return; /* job_done takes it from here */
    }
    srv_predict_prepared(r);
    wake(r);
}

/* Prep worker, after the batch: the answer. */
static void infer_finish(srv_work *w)
{
    srv_kserve *k = (srv_kserve *)w;
    srv_req *r = k->r;
    const srv_model *m = k->model;
    srv_job *j = &k->job;
    if (j->err.kind != SRV_OK) {
        srv_model_stats_request(&k->model->stats, 0, srv_now() - r->t_start, j->queue_s, 0, 0,
                                0);
        k->err = j->err;
        wake(r);
        return;
    }
    double t_out = srv_now();
    srv_koutput o = {.name = output_name(m), .binary = k->binary_out};
    char **strs = NULL;
    float *p = NULL;
    int *idx = NULL;
    size_t nstr = 0;
    if (k->classify_k) {
        /* "score:index:label", best first: /classify's scores and order */
        int kk = k->classify_k;
        nstr = (size_t)k->n * (size_t)kk;
        strs = calloc(nstr, sizeof *strs);
        p = malloc((size_t)m->nclasses * sizeof *p);
        idx = malloc((size_t)m->nclasses * sizeof *idx);
        for (int i = 0; strs && p && idx && i < k->n; i++) {
            srv_classify_topk(m, k->output + (size_t)i * m->out_floats, kk, p, idx);
            for (int c = 0; c < kk; c++) {
                const char *label = m->labels[idx[c]];
                size_t len = strlen(label) + 48;
                char *s = malloc(len);
                if (s)
                    snprintf(s, len, "%.9g:%d:%s", (double)p[idx[c]], idx[c], label);
                strs[(size_t)i * kk + c] = s;
            }
        }
        int ok = strs && p && idx;
        for (size_t i = 0; ok && i < nstr; i++)
            ok = strs[i] != NULL;
        if (!ok) {
            srv_fail(&k->err, SRV_E_INTERNAL, "out of memory");
            goto out;
        }
        o.dtype = SRV_KDT_BYTES;
        o.strs = strs;
        o.rank = 2;
        o.shape[0] = k->n;
        o.shape[1] = kk;
    } else {
        o.dtype = SRV_KDT_FP32;
        o.f32 = k->output;
        o.shape[0] = k->n;
        o.rank = 1 + output_dims(m, o.shape + 1);
    }
    srv_kresp_write(m->name, m->version, k->id, &o, 1, &k->body, &k->len, &k->json_len,
                    &k->err);
out:
    srv_model_stats_request(&k->model->stats, k->err.kind == SRV_OK, srv_now() - r->t_start,
                            j->queue_s, k->decode_ms * 1e-3, j->infer_s, srv_now() - t_out);
    for (size_t i = 0; strs && i < nstr; i++)
        free(strs[i]);
    free(strs);
    free(p);
    free(idx);
    wake(r);
}

/* HTTP thread, body complete. */
static void infer(srv_req *r)
{
    srv_kserve *k = calloc(1, sizeof *k);
    if (!k) {
        fail(r, SRV_E_INTERNAL, "%s", "out of memory");
        return;
    }
    r->ext = k;
    k->r = r;
    k->path = parse_path(r->url);
    k->header_len = srv_header(r, "Inference-Header-Content-Length"); /* any case */
    const char *enc = srv_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (enc && strcasecmp(enc, "identity") != 0) {
        fail(r, SRV_E_MEDIA_TYPE,
             "Content-Encoding %.32s is not supported: send the body uncompressed", enc);
        return;
    }
    r->preparing = 1;
    atomic_fetch_add(&r->srv->preparing, 1);
    r->state = SRV_REQ_WAITING; /* suspend before queueing: a worker may resume at once */
    MHD_suspend_connection(r->conn);
    k->work.run = prep_start;
    srv_prep_push(r->srv->prep, &k->work, 0);
}

static void infer_resume(srv_req *r)
{
    srv_kserve *k = r->ext;
    if (k->err.kind != SRV_OK) {
        srv_respond_error(r, &k->err);
    } else {
        r->batch_size = k->job.batch_size;
        char hl[24], bs[16];
        snprintf(hl, sizeof hl, "%zu", k->json_len);
        snprintf(bs, sizeof bs, "%d", k->job.batch_size);
        const char *hdr[] = {"X-Batch-Size", bs,
                             k->json_len ? "Inference-Header-Content-Length" : NULL, hl, NULL};
        uint8_t *body = k->body;
        k->body = NULL; /* srv_respond takes it over */
        srv_respond(r, 200, k->json_len ? "application/octet-stream" : "application/json", body,
                    k->len, hdr);
    }
    infer_release(k); /* the rest goes at completion (infer_free) */
}

/* --- routes --------------------------------------------------------------- */

/* POST /v2/repository/models/{m}/load | unload: done on the repository
 * thread (a load reads and warms a model: seconds) with the connection
 * suspended, then answered 200 {} or the error. */
typedef struct repo_call {
    srv_req *r;
    srv_error err;
} repo_call;

static void repo_done(void *ctx, const srv_error *e)
{
    repo_call *c = ctx;
    c->err = *e;
    wake(c->r);
}

static void repo_resume(srv_req *r)
{
    repo_call *c = r->ext;
    if (c->err.kind != SRV_OK)
        srv_respond_error(r, &c->err);
    else
        srv_respond_json(r, 200, json_object());
}

static void repo_free(srv_req *r)
{
    free(r->ext);
    r->ext = NULL;
}

static void repo(srv_req *r)
{
    const char *u = r->url, *pre = "/v2/repository/models/";
    if (strcmp(u, "/v2/repository/index") == 0 || strcmp(u, "/v2/repository/index/") == 0) {
        repo_index(r);
        return;
    }
    /* {m}: a name as the repository allows them (no '/', not "." or "..":
     * nothing a client sends reaches a path but a folder name we listed) */
    const char *s = u + strlen(pre), *slash = strchr(s, '/');
    srv_repo_op op = SRV_REPO_LOAD;
    if (!slash || (strcmp(slash, "/load") && strcmp(slash, "/unload"))) {
        fail(r, SRV_E_NOT_FOUND, "no such endpoint: %.100s", u);
        return;
    }
    if (strcmp(slash, "/unload") == 0)
        op = SRV_REPO_UNLOAD;
    char name[SRV_MODEL_NAME_MAX + 1];
    size_t n = (size_t)(slash - s);
    if (n == 0 || n > SRV_MODEL_NAME_MAX || !srv_model_name_ok(s, n) ||
        (n <= 2 && strncmp(s, "..", n) == 0)) {
        fail(r, SRV_E_BAD_REQUEST,
             "model name must be 1-128 letters, digits, - _ . (not . or ..): %.100s", u);
        return;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    repo_call *c = calloc(1, sizeof *c);
    if (!c) {
        fail(r, SRV_E_INTERNAL, "%s", "out of memory");
        return;
    }
    c->r = r;
    r->ext = c;
    r->state = SRV_REQ_WAITING; /* suspended before the job can resume it */
    MHD_suspend_connection(r->conn);
    if (srv_repo_submit(r->srv, op, name, repo_done, c)) {
        srv_fail(&c->err, SRV_E_NOT_READY, "the repository is not accepting changes (%s)",
                 atomic_load(&r->srv->draining) ? "draining" : "still loading");
        wake(r);
    }
}

static void not_found(srv_req *r) { fail(r, SRV_E_NOT_FOUND, "no such endpoint: %.100s", r->url); }

static const srv_route R_GET = {"/v2/...", "GET, HEAD", "v2", 0, get, NULL, get_done};
static const srv_route R_INFER = {"/v2/models/{m}/infer", "POST", "v2_infer", 1, infer,
                                  infer_resume, infer_free};
static const srv_route R_REPO = {"/v2/repository/...", "POST", "v2_repository", 0, repo,
                                 repo_resume, repo_free};
static const srv_route R_NONE = {"/v2/...", "GET, HEAD, POST", "v2", 0, not_found, NULL, NULL};

int srv_kserve_owns(const srv_route *rt)
{
    return rt == &R_GET || rt == &R_INFER || rt == &R_REPO || rt == &R_NONE;
}

const srv_route *srv_kserve_route(const char *url)
{
    kpath p = parse_path(url);
    switch (p.kind) {
    case KP_SERVER:
    case KP_LIVE:
    case KP_READY:
    case KP_MODEL:
    case KP_MODEL_READY:
    case KP_MODEL_CONFIG:
    case KP_STATS:
        return &R_GET;
    case KP_INFER:
        return &R_INFER;
    case KP_REPO_INDEX:
        return &R_REPO;
    default:
        return &R_NONE;
    }
}
