/* kserve.c — the Open Inference Protocol (KServe v2) over HTTP, so that
 * tritonclient, the kserve client, perf_analyzer and the gateways that
 * speak it work unchanged: the /v2 routes, server and model metadata,
 * health, Triton's model config and statistics, the repository endpoints
 * (index here; load / unload run on repository.c's thread), and the
 * protocol's error body. Infer is kserve_infer.c.
 *
 * A model has one input, [N,C,H,W] FP32 — or a BYTES tensor [N] of
 * PNG/JPEG files, decoded and preprocessed as /classify does (OpenVINO
 * Model Server's convention) — and one output; each version the repository
 * serves is a model of its own (model.h). */
#include "server/kserve.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/kserve_int.h"
#include "server/model.h"
#include "server/repository.h"

#define SERVER_NAME "skipserve"
#define SERVER_VERSION "0.1.0"

/* --- paths ---------------------------------------------------------------- */


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

kpath srv_kpath_parse(const char *url)
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
        p.kind = KP_REPO;
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

void srv_kserve_fail(srv_req *r, srv_err kind, const char *fmt, const char *arg)
{
    srv_error e;
    srv_fail(&e, kind, fmt, arg);
    srv_respond_error(r, &e);
}

/* --- models --------------------------------------------------------------- */

/* The model a path names, ready to serve, with a reference (unref it):
 * NULL with e filled (404 unknown model or version, 503 loading or failed). */
srv_model *srv_kserve_find_model(srv_server *srv, const kpath *p, srv_error *e)
{
    srv_model *m = srv_models_find(srv->models, p->model, p->version, e);
    if (!m && e->kind == SRV_E_UNKNOWN_MODEL && !p->version[0])
        srv_fail(e, SRV_E_UNKNOWN_MODEL,
                 "no model named %.128s (POST /v2/repository/index lists them)", p->model);
    return m;
}

const char *srv_kserve_input_name(const srv_model *m)
{
    return m->graph->values[m->graph->inputs[0]].name;
}

const char *srv_kserve_output_name(const srv_model *m)
{
    return m->graph->values[m->graph->outputs[0]].name;
}

/* Per-image output shape: [K] for a classifier, [K,H,W] for a segmenter. */
int srv_kserve_output_dims(const srv_model *m, int64_t *d)
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
    int no = srv_kserve_output_dims(m, out);
    json_t *o = json_pack("{s:s,s:o,s:s,s:[{s:s,s:s,s:o}],s:[{s:s,s:s,s:o}]}", "name", m->name,
                          "versions", versions_json(ms, m), "platform", "onnx", "inputs", "name",
                          srv_kserve_input_name(m), "datatype", "FP32", "shape",
                          dims_json(-1, in, 3), "outputs", "name", srv_kserve_output_name(m),
                          "datatype", "FP32", "shape", dims_json(-1, out, no));
    /* the arithmetic inside (tensors in and out stay FP32): an extra
     * field, which KServe clients ignore */
    if (o)
        json_object_set_new(o, "precision", json_string(srv_precision_name(m->precision)));
    return o;
}

/* Triton's model configuration, the fields perf_analyzer and tritonclient
 * read: with max_batch_size > 0, dims leave out the batch dimension. */
static json_t *model_config(const srv_model *m)
{
    int64_t in[3] = {m->pp.channels, m->pp.height, m->pp.width}, out[3];
    int no = srv_kserve_output_dims(m, out);
    json_t *pref = json_array();
    for (int i = 0; i < m->nplans; i++)
        json_array_append_new(pref, json_integer(m->plan_size[i]));
    return json_pack(
        "{s:s,s:s,s:s,s:i,s:[{s:s,s:s,s:s,s:o}],s:[{s:s,s:s,s:o}],"
        "s:{s:i,s:o,s:{s:i}},s:{s:{s:i}},s:[{s:i,s:s}]}",
        "name", m->name, "platform", "onnx", "backend", "skipserve", "max_batch_size",
        m->max_batch, "input", "name", srv_kserve_input_name(m), "data_type", "TYPE_FP32", "format",
        "FORMAT_NCHW", "dims", dims_json(0, in, 3), "output", "name", srv_kserve_output_name(m),
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
        srv_model *m = srv_kserve_find_model(r->srv, p, &e); /* 404 / 503 as for metadata */
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
    kpath p = srv_kpath_parse(r->url);
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
        srv_model *m = srv_kserve_find_model(srv, &p, &e);
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
        srv_kserve_fail(r, SRV_E_NOT_FOUND, "no such endpoint: %.100s", r->url);
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
        else if (st == SRV_MODEL_READY)
            json_object_set_new(o, "precision", json_string(srv_precision_name(m->precision)));
        json_array_append_new(list, o);
    }
    srv_models_unlock(ms);
    srv_respond_json(r, 200, list);
}

void srv_kserve_wake(srv_req *r)
{
    r->state = SRV_REQ_RESUMED;
    MHD_resume_connection(r->conn);
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
    srv_kserve_wake(c->r);
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
        srv_kserve_fail(r, SRV_E_NOT_FOUND, "no such endpoint: %.100s", u);
        return;
    }
    if (strcmp(slash, "/unload") == 0)
        op = SRV_REPO_UNLOAD;
    char name[SRV_MODEL_NAME_MAX + 1];
    size_t n = (size_t)(slash - s);
    if (n == 0 || n > SRV_MODEL_NAME_MAX || !srv_model_name_ok(s, n) ||
        (n <= 2 && strncmp(s, "..", n) == 0)) {
        srv_kserve_fail(r, SRV_E_BAD_REQUEST,
             "model name must be 1-128 letters, digits, - _ . (not . or ..): %.100s", u);
        return;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    repo_call *c = calloc(1, sizeof *c);
    if (!c) {
        srv_kserve_fail(r, SRV_E_INTERNAL, "%s", "out of memory");
        return;
    }
    c->r = r;
    r->ext = c;
    r->state = SRV_REQ_WAITING; /* suspended before the job can resume it */
    MHD_suspend_connection(r->conn);
    if (srv_repo_submit(r->srv, op, name, repo_done, c)) {
        srv_fail(&c->err, SRV_E_NOT_READY, "the repository is not accepting changes (%s)",
                 atomic_load(&r->srv->draining) ? "draining" : "still loading");
        srv_kserve_wake(r);
    }
}

static void not_found(srv_req *r) { srv_kserve_fail(r, SRV_E_NOT_FOUND, "no such endpoint: %.100s", r->url); }

static const srv_route R_GET = {"/v2/...", "GET, HEAD", "v2", 0, get, NULL, get_done, 0};
static const srv_route R_INFER = {"/v2/models/{m}/infer", "POST", "v2_infer", 1, srv_kserve_infer,
                                  srv_kserve_infer_resume, srv_kserve_infer_free, 0};
static const srv_route R_REPO = {"/v2/repository/...", "POST", "v2_repository", 0, repo,
                                 repo_resume, repo_free, 0};
static const srv_route R_NONE = {"/v2/...", "GET, HEAD, POST", "v2", 0, not_found, NULL, NULL, 0};

int srv_kserve_owns(const srv_route *rt)
{
    return rt == &R_GET || rt == &R_INFER || rt == &R_REPO || rt == &R_NONE;
}

const srv_route *srv_kserve_route(const char *url)
{
    kpath p = srv_kpath_parse(url);
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
    case KP_REPO:
        return &R_REPO;
    default:
        return &R_NONE;
    }
}
