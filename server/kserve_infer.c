/* kserve_infer.c — POST /v2/models/{m}[/versions/{v}]/infer, on
 * /classify's path (predict.c): the HTTP thread suspends the connection
 * once the body is in; a prep worker parses it (kserve_binary.c), copies
 * the tensor or decodes the images, and submits to the model's batcher;
 * after the batch a prep worker writes the answer and resumes; the HTTP
 * thread queues it. Every byte is reserved against --max-buffered as
 * there. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/base64.h"
#include "server/batcher.h"
#include "server/kserve_binary.h"
#include "server/kserve_int.h"
#include "server/predict.h"
#include "server/workers.h"
#include "server/tasks.h"

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

void srv_kserve_infer_free(srv_req *r)
{
    srv_kserve *k = r->ext;
    if (!k)
        return;
    infer_release(k);
    srv_model_unref(k->model); /* the last request of a replaced version frees it */
    free(k);
    r->ext = NULL;
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
    srv_model *m = srv_kserve_find_model(srv, &k->path, e);
    if (!m)
        return e->kind;
    k->model = m;
    r->model = m->name;

    const char *iname = srv_kserve_input_name(m), *oname = srv_kserve_output_name(m);
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
    /* FP16 / BF16 data is widened exactly to the float32 the engine takes
     * (a float16 model's input Cast rounds it back: the same values) */
    int floats = t->dtype == SRV_KDT_FP32 || t->dtype == SRV_KDT_FP16 || t->dtype == SRV_KDT_BF16;
    if (floats) {
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
                        "(or FP16, BF16) [-1,%d,%d,%d] or BYTES [N] of PNG/JPEG files",
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
    if (floats)
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
    srv_workers_push(r->srv->workers, &k->work, 1);
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
    srv_kserve_wake(r);
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
        srv_kserve_wake(r);
        return;
    }
    double t_out = srv_now();
    srv_koutput o = {.name = srv_kserve_output_name(m), .binary = k->binary_out};
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
        o.rank = 1 + srv_kserve_output_dims(m, o.shape + 1);
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
    srv_kserve_wake(r);
}

/* HTTP thread, body complete. */
void srv_kserve_infer(srv_req *r)
{
    srv_kserve *k = calloc(1, sizeof *k);
    if (!k) {
        srv_kserve_fail(r, SRV_E_INTERNAL, "%s", "out of memory");
        return;
    }
    r->ext = k;
    k->r = r;
    k->path = srv_kpath_parse(r->url);
    k->header_len = srv_header(r, "Inference-Header-Content-Length"); /* any case */
    const char *enc = srv_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (enc && strcasecmp(enc, "identity") != 0) {
        srv_kserve_fail(r, SRV_E_MEDIA_TYPE,
             "Content-Encoding %.32s is not supported: send the body uncompressed", enc);
        return;
    }
    r->preparing = 1;
    atomic_fetch_add(&r->srv->preparing, 1);
    r->state = SRV_REQ_WAITING; /* suspend before queueing: a worker may resume at once */
    MHD_suspend_connection(r->conn);
    k->work.run = prep_start;
    srv_workers_push(r->srv->workers, &k->work, 0);
}

void srv_kserve_infer_resume(srv_req *r)
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
