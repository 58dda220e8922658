/* predict.c — one inference request from body to answer.
 *
 * HTTP thread: body complete -> note the options, suspend, hand to the
 * prep workers. Prep worker: parse, decode, preprocess, submit to the
 * model's batcher (or keep the error). Batcher: runs the batch, hands the
 * request back to the prep workers. Prep worker: builds the answer, resumes
 * the connection. HTTP thread: queues the answer. From the suspend to the
 * resume exactly one thread owns the request at a time. */
#include "server/predict.h"

#include <stdlib.h>
#include <string.h>

#include "loaders/image.h"
#include "server/batcher.h"
#include "server/model.h"
#include "server/native.h"
#include "server/workers.h"
#include "server/request.h"
#include "server/metrics.h"
#include "server/tasks.h"
#include "server/tile.h"

/* Most images one request may carry, before the model's queue says less. */
#define MAX_IMAGES 1024

typedef struct srv_predict {
    srv_work work; /* on the prep queue: start, then finish */
    srv_req *r;
    srv_task task;
    /* Read on the HTTP thread: a worker does not touch the connection. */
    const char *ctype, *q_model, *q_top_k, *q_format, *q_tile, *q_overlap, *q_native;
    srv_model *model;
    srv_input in;
    int top_k;
    srv_seg_format fmt;
    int *sizes;     /* width, height per image */
    sk_image image; /* kept for overlay */
    float *input, *output;
    srv_job job;
    double decode_ms;
    size_t charged; /* bytes of --max-buffered held for the fields above */
    /* The outcome the HTTP thread sends: err, or answer (+ timing). */
    srv_error err;
    srv_answer answer;
    double total_ms;
    /* Tiled segmentation (tile.h): tiles go through the batcher a batch at a
     * time; p->image is the picture they are cut from. */
    srv_tiler *tiler;
    int tiles_done;
    double queue_ms, infer_ms; /* summed over the tile batches */
    /* Native size (native.h): the image's own w x h, run at H x W. */
    int native, nat_w, nat_h, nat_W, nat_H;
} srv_predict;

/* Free what p holds but its model reference: r->model (its name) is
 * logged at completion. */
static void release(srv_req *r, srv_predict *p)
{
    srv_input_free(&p->in);
    free(p->sizes);
    p->sizes = NULL;
    sk_image_free(&p->image);
    free(p->input);
    free(p->output);
    free(p->answer.body);
    p->input = p->output = NULL;
    p->answer.body = NULL;
    if (p->tiler) {
        int left = srv_tiler_total(p->tiler) - p->tiles_done;
        if (left) /* ended early: its tiles are no longer pending */
            srv_metrics_tiles(p->model->name, -left, 0);
        srv_tiler_free(p->tiler);
        p->tiler = NULL;
    }
    srv_req_release(r, p->charged);
    p->charged = 0;
}

void srv_predict_free(srv_req *r)
{
    srv_predict *p = r->pred;
    if (!p)
        return;
    release(r, p);
    srv_model_unref(p->model); /* the last request of a replaced version frees it */
    free(p);
    r->pred = NULL;
}

/* Upper bound of the bytes a decode of this image holds at its peak: the
 * pixels (w*h*channels) plus at most 4 bytes a pixel beside them (a CMYK
 * JPEG's buffer, an interlaced PNG's rows, an EXIF-rotated copy), plus a
 * progressive or multi-scan JPEG's coefficient buffer (2 bytes a sample of
 * every component: up to 8 bytes a pixel, from srv_image_dims). An image
 * over --max-pixels costs nothing: the decoder refuses it from its header.
 * A header that does not say is charged the largest image allowed (no
 * coefficients: libjpeg-turbo refuses the one legal JPEG of that kind, a
 * height set later by DNL). */
static size_t decode_bytes(const srv_blob *b, int channels, size_t max_pixels)
{
    uint32_t w, h;
    size_t npx = max_pixels, coef = 0;
    if (srv_image_dims(b->data, b->len, &w, &h, &coef) == 0) {
        uint64_t n = (uint64_t)w * h;
        if (n > max_pixels)
            return 0;
        npx = (size_t)n;
    }
    return npx * (size_t)(channels + 4) + coef + 4096;
}

/* Upper bound of what parsing a JSON body allocates beside the body: the
 * tree (jansson takes under 64 bytes per value, and every value but the
 * first follows a ',', '[' or ':'), copies of its strings and the bytes
 * they decode to, and a tensor's floats (at most 2 per 2 body bytes).
 * Multipart and raw bodies are parsed in place. */
static size_t parse_bytes(const char *ctype, const uint8_t *body, size_t len)
{
    char mt[96];
    srv_media_type(ctype, mt, sizeof mt);
    if (!strstr(mt, "json"))
        return 0;
    size_t seps = 1;
    for (size_t i = 0; i < len; i++)
        seps += body[i] == ',' || body[i] == '[' || body[i] == ':';
    return 4 * len + 64 * seps;
}

/* What making a segment answer for a w x h mask holds at its peak: the
 * mask, and per format an encoded PNG (json: plus its base64 and the JSON
 * text; overlay: plus the RGB blend) — under 8 bytes a pixel. */
static size_t answer_bytes(int w, int h) { return (size_t)w * (size_t)h * 8 + 65536; }

/* Reserve for p (given back in srv_predict_free). */
static srv_err reserve(srv_req *r, srv_predict *p, size_t n, const char *what, srv_error *e)
{
    srv_err k = srv_req_reserve(r, n, what, e);
    if (k == SRV_OK)
        p->charged += n;
    return k;
}

static void unreserve(srv_req *r, srv_predict *p, size_t n)
{
    if (n > p->charged)
        n = p->charged;
    p->charged -= n;
    srv_req_release(r, n);
}

static srv_err decode_images(srv_req *r, srv_predict *p, srv_error *e)
{
    srv_model *m = p->model;
    srv_server *srv = r->srv;
    int n = p->in.nimages;
    for (int i = 0; i < n; i++) {
        sk_image im = {0};
        char err[256];
        const srv_blob *b = &p->in.images[i];
        size_t need = decode_bytes(b, m->pp.channels, srv->cfg->max_pixels);
        srv_err k = reserve(r, p, need, "decoding the image", e);
        if (k != SRV_OK)
            return k;
        int rc = sk_image_decode(b->data, b->len, m->pp.channels, srv->cfg->max_pixels,
                                 m->background, &im, err, sizeof err);
        const char *which = n > 1 ? "image " : "image";
        char idx[16] = "";
        if (n > 1)
            snprintf(idx, sizeof idx, "%d", i);
        if (rc == SK_ETOOLARGE)
            return srv_fail(e, SRV_E_TOO_LARGE, "%s%s: %s", which, idx, err);
        if (rc == SK_ENOMEM)
            return srv_fail(e, SRV_E_INTERNAL, "%s%s: out of memory decoding", which, idx);
        if (rc)
            return srv_fail(e, SRV_E_BAD_IMAGE, "%s%s: %s", which, idx, err);
        sk_preprocess pp = m->pp;
        pp.invert = sk_preprocess_invert((sk_invert)m->invert, &im);
        rc = sk_image_to_tensor(&im, &pp, p->input + (size_t)i * m->in_floats, err, sizeof err);
        p->sizes[2 * i] = im.w;
        p->sizes[2 * i + 1] = im.h;
        if (rc) {
            sk_image_free(&im);
            return srv_fail(e, SRV_E_INTERNAL, "preprocessing failed: %s", err);
        }
        if (p->task == SRV_TASK_SEGMENT &&
            (k = reserve(r, p, answer_bytes(im.w, im.h), "the answer", e)) != SRV_OK) {
            sk_image_free(&im);
            return k;
        }
        /* Only the picture an overlay needs stays while the job waits. */
        size_t keep = (size_t)im.w * im.h * 3;
        if (p->fmt == SRV_FMT_OVERLAY && n == 1 && im.c == 3) {
            p->image = im;
            unreserve(r, p, need > keep ? need - keep : 0);
        } else if (p->fmt == SRV_FMT_OVERLAY && n == 1) {
            /* A gray model still overlays the picture in its own colours. */
            sk_image_free(&im);
            unreserve(r, p, need);
            need = decode_bytes(b, 3, srv->cfg->max_pixels);
            if ((k = reserve(r, p, need, "decoding the image", e)) != SRV_OK)
                return k;
            rc = sk_image_decode(b->data, b->len, 3, srv->cfg->max_pixels, m->background,
                                 &p->image, err, sizeof err);
            if (rc)
                return srv_fail(e, SRV_E_INTERNAL, "image: second decode failed: %s", err);
            unreserve(r, p, need > keep ? need - keep : 0);
        } else {
            sk_image_free(&im);
            unreserve(r, p, need);
        }
    }
    return SRV_OK;
}

srv_err srv_predict_image(srv_req *r, const srv_model *m, const uint8_t *data, size_t len,
                          float *dst, srv_error *e)
{
    srv_blob b = {.data = data, .len = len};
    size_t need = decode_bytes(&b, m->pp.channels, r->srv->cfg->max_pixels);
    srv_err k = srv_req_reserve(r, need, "decoding the image", e);
    if (k != SRV_OK)
        return k;
    sk_image im = {0};
    char err[256];
    int rc = sk_image_decode(data, len, m->pp.channels, r->srv->cfg->max_pixels, m->background,
                             &im, err, sizeof err);
    if (rc == SK_ETOOLARGE)
        k = srv_fail(e, SRV_E_TOO_LARGE, "image: %s", err);
    else if (rc == SK_ENOMEM)
        k = srv_fail(e, SRV_E_INTERNAL, "image: out of memory decoding");
    else if (rc)
        k = srv_fail(e, SRV_E_BAD_IMAGE, "image: %s", err);
    else {
        /* the same steps as decode_images, so both routes answer alike */
        sk_preprocess pp = m->pp;
        pp.invert = sk_preprocess_invert((sk_invert)m->invert, &im);
        if (sk_image_to_tensor(&im, &pp, dst, err, sizeof err))
            k = srv_fail(e, SRV_E_INTERNAL, "preprocessing failed: %s", err);
    }
    sk_image_free(&im);
    srv_req_release(r, need);
    return k;
}

/* Hand r back to its HTTP thread, which answers from p->err / p->answer. */
static void wake(srv_req *r)
{
    r->state = SRV_REQ_RESUMED;
    MHD_resume_connection(r->conn);
}

static void finish(srv_work *w);

/* Batcher thread: the answer is built on a prep worker, not here (the
 * batcher's one thread only runs the engine). */
static void job_done(srv_job *j)
{
    srv_req *r = j->ctx;
    r->pred->work.run = finish;
    srv_workers_push(r->srv->workers, &r->pred->work, 1);
}

/* srv->preparing counts requests whose body is in and that are not yet
 * queued (parsing, decoding): batchers with idle_dispatch wait their fill
 * window only while it is > 0. predict() counts r in; it leaves once, just
 * before its submit (so the submit's signal finds the count without it)
 * or on refusal; the last one out wakes every batcher. */
void srv_predict_prepared(srv_req *r)
{
    if (r->preparing) {
        r->preparing = 0;
        if (atomic_fetch_sub(&r->srv->preparing, 1) == 1)
            srv_models_kick(r->srv->models);
    }
}

/* --- tiled segmentation -------------------------------------------------------
 * One image larger than the model's input runs as overlapping tiles of the
 * input's size at its own resolution (tile.h). Fairness: a request has one
 * batch of at most max_batch tiles in the queue at a time; the next goes in
 * when it comes back, so other requests queue behind at most one batch of
 * tiles. Later batches are not refused for a full queue (admitted), and
 * each batch's --timeout-ms counts from its own enqueue. */

static void job_done(srv_job *j);

/* Decode the request's one picture into p->image, kept for the job (the
 * tiled route cuts its tiles from it, the native-size route pads it; an
 * overlay needs its colours, so it is decoded in RGB then). Of the decode's
 * peak, only the kept pixels stay reserved. */
static srv_err decode_kept(srv_req *r, srv_predict *p, srv_error *e)
{
    srv_server *srv = r->srv;
    srv_model *m = p->model;
    const srv_blob *b = &p->in.images[0];
    int channels = p->fmt == SRV_FMT_OVERLAY ? 3 : m->pp.channels;
    size_t need = decode_bytes(b, channels, srv->cfg->max_pixels);
    srv_err k = reserve(r, p, need, "decoding the image", e);
    if (k != SRV_OK)
        return k;
    char err[256];
    int rc = sk_image_decode(b->data, b->len, channels, srv->cfg->max_pixels, m->background,
                             &p->image, err, sizeof err);
    if (rc == SK_ETOOLARGE)
        return srv_fail(e, SRV_E_TOO_LARGE, "image: %s", err);
    if (rc == SK_ENOMEM)
        return srv_fail(e, SRV_E_INTERNAL, "image: out of memory decoding");
    if (rc)
        return srv_fail(e, SRV_E_BAD_IMAGE, "image: %s", err);
    size_t keep = (size_t)p->image.w * p->image.h * channels;
    unreserve(r, p, need > keep ? need - keep : 0);
    return SRV_OK;
}

/* 1: tile this request, 0: the usual resize, -1: e says why not. */
static int tiling_wanted(srv_predict *p, srv_error *e)
{
    srv_model *m = p->model;
    const char *q = p->q_tile;
    int asked = q != NULL, want = m->tile_default;
    if (q) {
        if (strcmp(q, "1") == 0 || strcmp(q, "true") == 0)
            want = 1;
        else if (strcmp(q, "0") == 0 || strcmp(q, "false") == 0)
            want = 0;
        else
            return srv_fail(e, SRV_E_BAD_REQUEST, "tile must be 0 or 1"), -1;
    }
    if (!want)
        return 0;
    /* the model.json default tiles what it can; an explicit tile=1 says
     * why it cannot */
    if (p->in.has_tensor)
        return asked ? srv_fail(e, SRV_E_UNPROCESSABLE, "tile=1 needs an image, not a tensor"), -1
                     : 0;
    if (p->in.nimages != 1)
        return asked ? srv_fail(e, SRV_E_UNPROCESSABLE,
                                "tile=1 takes one image per request, not %d", p->in.nimages), -1
                     : 0;
    if (m->out_w != m->pp.width || m->out_h != m->pp.height)
        return asked ? srv_fail(e, SRV_E_UNPROCESSABLE,
                                "model %s answers a %dx%d mask for its %dx%d input; tiles need "
                                "a mask of the input's size",
                                m->name, m->out_w, m->out_h, m->pp.width, m->pp.height), -1
                     : 0;
    /* An image that fits in one tile is answered exactly as without tiling */
    uint32_t w, h;
    size_t coef;
    const srv_blob *b = &p->in.images[0];
    if (srv_image_dims(b->data, b->len, &w, &h, &coef) == 0 && w <= (uint32_t)m->pp.width &&
        h <= (uint32_t)m->pp.height)
        return 0;
    return 1;
}

/* p's job: n images from p->input into p->output, enqueued now, due at
 * `deadline` (srv_now seconds). */
static srv_job *job_of(srv_req *r, srv_predict *p, int n, double deadline)
{
    srv_job *j = &p->job;
    memset(j, 0, sizeof *j);
    j->n = n;
    j->input = p->input;
    j->output = p->output;
    j->t_enqueue = srv_now();
    j->deadline = deadline;
    j->done = job_done;
    j->ctx = r;
    return j;
}

/* Preprocess the next batch of tiles and queue it. */
static srv_err submit_tiles(srv_req *r, srv_predict *p, srv_error *e)
{
    srv_model *m = p->model;
    char err[256];
    int n = srv_tiler_fill(p->tiler, p->input, m->max_batch, err, sizeof err);
    if (n <= 0)
        return srv_fail(e, SRV_E_INTERNAL, "tiling: %s", n < 0 ? err : "no tile left");
    /* each batch of tiles has --timeout-ms from its own enqueue */
    srv_job *j = job_of(r, p, n, srv_now() + r->srv->cfg->timeout_ms * 1e-3);
    j->admitted = srv_tiler_filled(p->tiler) > n; /* the first batch is admitted as any */
    return srv_batcher_submit(m->batcher, j, e);
}

static srv_err start_tiled(srv_req *r, srv_predict *p, double t0, srv_error *e)
{
    srv_model *m = p->model;
    const srv_blob *b = &p->in.images[0];
    int overlap = m->tile_overlap >= 0
                      ? m->tile_overlap
                      : (m->pp.width < m->pp.height ? m->pp.width : m->pp.height) / 4;
    if (p->q_overlap) {
        char *end;
        long v = strtol(p->q_overlap, &end, 10);
        if (!*p->q_overlap || *end || v < 0 || v > 1 << 20)
            return srv_fail(e, SRV_E_BAD_REQUEST, "tile_overlap must be a number of pixels");
        overlap = (int)v;
    }
    r->images = 1;
    /* The picture stays for the whole job: the tiles are cut from it. */
    srv_err k = decode_kept(r, p, e);
    if (k != SRV_OK)
        return k;
    char err[256];
    int w = p->image.w, h = p->image.h;
    sk_preprocess pp = m->pp;
    pp.invert = sk_preprocess_invert((sk_invert)m->invert, &p->image);
    size_t tensors = (size_t)m->max_batch * (m->in_floats + m->out_floats) * sizeof(float);
    if ((k = reserve(r, p, srv_tiler_bytes(w, h, &pp, m->nclasses) + answer_bytes(w, h) + tensors,
                     "tiled segmentation", e)) != SRV_OK)
        return k;
    p->tiler = srv_tiler_new(&p->image, &pp, m->nclasses, overlap, (srv_window)m->tile_window, err,
                             sizeof err);
    if (!p->tiler)
        return srv_fail(e, strstr(err, "overlap") ? SRV_E_BAD_REQUEST : SRV_E_INTERNAL, "%s",
                        err);
    p->input = malloc((size_t)m->max_batch * m->in_floats * sizeof *p->input);
    p->output = malloc((size_t)m->max_batch * m->out_floats * sizeof *p->output);
    if (!p->input || !p->output)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    srv_metrics_tiles(m->name, srv_tiler_total(p->tiler), 0);
    /* the encoded bytes are no longer needed */
    size_t owned = b->owned ? b->len : 0;
    srv_input_free(&p->in);
    unreserve(r, p, owned);
    srv_req_drop_body(r);
    p->decode_ms = (srv_now() - t0) * 1e3;
    srv_predict_prepared(r);
    return submit_tiles(r, p, e);
}

/* Prep worker, a batch of tiles back: blend it, then queue the next batch
 * or, after the last, answer. 1 when r was handed on (queued again). */
static int tiles_back(srv_req *r, srv_predict *p)
{
    srv_job *j = &p->job;
    srv_model *m = p->model;
    p->queue_ms += j->queue_s * 1e3;
    p->infer_ms += j->infer_s * 1e3;
    srv_tiler_take(p->tiler, p->output, j->n);
    p->tiles_done += j->n;
    srv_metrics_tiles(m->name, 0, j->n);
    if (srv_tiler_filled(p->tiler) < srv_tiler_total(p->tiler))
        return submit_tiles(r, p, &p->err) == SRV_OK;
    srv_timing t = {.decode = p->decode_ms,
                    .queue = p->queue_ms,
                    .infer = p->infer_ms,
                    .total = (srv_now() - r->t_start) * 1e3};
    p->total_ms = t.total;
    double t_out = srv_now();
    srv_segment_mask_answer(m, srv_tiler_mask(p->tiler), p->image.w, p->image.h,
                            p->fmt == SRV_FMT_OVERLAY ? &p->image : NULL, p->fmt, &t, j->batch_size,
                            &p->answer, &p->err);
    srv_model_stats_request(&m->stats, p->err.kind == SRV_OK, srv_now() - r->t_start,
                            p->queue_ms * 1e-3, p->decode_ms * 1e-3, p->infer_ms * 1e-3,
                            srv_now() - t_out);
    return 0;
}

/* --- native size ----------------------------------------------------------------
 * A segmenter with symbolic H and W runs one image at its own size rounded
 * up to input.multiple (native.h), on its shape's plan from the model's
 * cache; the batcher runs such a job alone (batcher.c run_native). */

/* Asked once tiling_wanted said 0 (not asked for, tile=0, or a picture
 * within one tile). 2: native, 1: tiles (past native_max_pixels), 0: the
 * usual resize, -1: e says why not. */
static int native_wanted(srv_predict *p, srv_error *e)
{
    srv_model *m = p->model;
    if (!m->native || p->in.has_tensor || p->in.nimages != 1)
        return 0;
    if (p->q_native) {
        if (strcmp(p->q_native, "0") == 0 || strcmp(p->q_native, "false") == 0)
            return 0;
        if (strcmp(p->q_native, "1") != 0 && strcmp(p->q_native, "true") != 0)
            return srv_fail(e, SRV_E_BAD_REQUEST, "native must be 0 or 1"), -1;
    }
    uint32_t w, h;
    size_t coef;
    const srv_blob *b = &p->in.images[0];
    if (srv_image_dims(b->data, b->len, &w, &h, &coef) != 0)
        return 0; /* the decoder will say what is wrong with it */
    /* a JPEG's EXIF rotation may swap the sides: the rounded area is the same */
    uint64_t W = (uint64_t)srv_native_round((int)(w < 65536 ? w : 65536), m->native_multiple);
    uint64_t H = (uint64_t)srv_native_round((int)(h < 65536 ? h : 65536), m->native_multiple);
    if (W * H <= (uint64_t)m->native_max_pixels)
        return 2;
    /* Too large: tiles of the model's input size when its mask has the
     * input's size and the request did not say tile=0, else the resize. */
    int tile_off = p->q_tile && (strcmp(p->q_tile, "0") == 0 || strcmp(p->q_tile, "false") == 0);
    return !tile_off && m->out_w == m->pp.width && m->out_h == m->pp.height ? 1 : 0;
}

static srv_err start_native(srv_req *r, srv_predict *p, double t0, srv_error *e)
{
    srv_server *srv = r->srv;
    srv_model *m = p->model;
    const srv_blob *b = &p->in.images[0];
    r->images = 1;
    if (srv_batcher_depth(m->batcher) + 1 > m->max_queue)
        return srv_fail(e, SRV_E_OVERLOADED, "model %s has its queue full (%d images); retry later",
                        m->name, m->max_queue);
    srv_err k = decode_kept(r, p, e);
    if (k != SRV_OK)
        return k;
    char err[256];
    int w = p->image.w, h = p->image.h;
    int W = srv_native_round(w, m->native_multiple), H = srv_native_round(h, m->native_multiple);
    p->native = 1;
    p->nat_w = w;
    p->nat_h = h;
    p->nat_W = W;
    p->nat_H = H;
    /* The input and the logits (at most K x H x W: a mask of the input's
     * size or smaller) live until the answer. */
    size_t inf = (size_t)m->pp.channels * H * W, outf = (size_t)m->nclasses * H * W;
    if ((k = reserve(r, p, (inf + outf) * sizeof(float) + answer_bytes(w, h), "the request's tensors",
                     e)) != SRV_OK)
        return k;
    p->input = malloc(inf * sizeof *p->input);
    p->output = malloc(outf * sizeof *p->output);
    if (!p->input || !p->output)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    sk_preprocess pp = m->pp;
    pp.invert = sk_preprocess_invert((sk_invert)m->invert, &p->image);
    if (srv_native_tensor(&p->image, &pp, H, W, p->input, err, sizeof err))
        return srv_fail(e, SRV_E_INTERNAL, "preprocessing failed: %s", err);
    if (p->fmt != SRV_FMT_OVERLAY) { /* only an overlay needs the picture again */
        sk_image_free(&p->image);
        unreserve(r, p, (size_t)w * h * m->pp.channels); /* what decode_kept left reserved */
    }
    size_t owned = b->owned ? b->len : 0;
    srv_input_free(&p->in);
    unreserve(r, p, owned);
    srv_req_drop_body(r);
    p->decode_ms = (srv_now() - t0) * 1e3;

    srv_job *j = job_of(r, p, 1, r->t_start + srv->cfg->timeout_ms * 1e-3);
    j->h = H;
    j->w = W;
    j->out_cap = outf;
    srv_predict_prepared(r);
    return srv_batcher_submit(m->batcher, j, e);
}

/* Prep worker: the native job is back; crop its mask and answer. */
static void native_back(srv_req *r, srv_predict *p)
{
    srv_job *j = &p->job;
    srv_model *m = p->model;
    srv_timing t = {.decode = p->decode_ms,
                    .queue = j->queue_s * 1e3,
                    .infer = j->infer_s * 1e3,
                    .total = (srv_now() - r->t_start) * 1e3};
    p->total_ms = t.total;
    uint8_t *mask = srv_native_mask(p->output, m->nclasses, j->out_h, j->out_w, p->nat_H,
                                    p->nat_W, p->nat_w, p->nat_h);
    if (!mask) {
        srv_fail(&p->err, SRV_E_INTERNAL, "out of memory for a %dx%d mask", p->nat_w, p->nat_h);
        return;
    }
    srv_segment_mask_answer(m, mask, p->nat_w, p->nat_h, p->image.px ? &p->image : NULL, p->fmt,
                            &t, j->batch_size, &p->answer, &p->err);
}

/* Prep worker: everything up to the batcher. SRV_OK: submitted, and r
 * belongs to the batcher (not to be touched here any more); else e. */
static srv_err start(srv_req *r, srv_error *e)
{
    srv_server *srv = r->srv;
    srv_predict *p = r->pred;
    srv_task task = p->task;
    double t0 = srv_now();

    const char *ctype = p->ctype;
    size_t parsing = parse_bytes(ctype, r->body, r->len);
    srv_err rc = reserve(r, p, parsing, "parsing the JSON body", e);
    if (rc)
        return rc;
    rc = srv_request_parse(ctype, r->body, r->len, MAX_IMAGES, &p->in, e);
    if (rc)
        return rc;
    /* Keep base64-decoded images reserved until they are decoded; a
     * tensor is reserved again below, with the output. */
    size_t owned = 0;
    for (int i = 0; i < p->in.nimages; i++)
        owned += p->in.images[i].owned ? p->in.images[i].len : 0;
    unreserve(r, p, parsing > owned ? parsing - owned : 0);
    /* Options: the body's win over the query string's. */
    const char *name = p->in.model ? p->in.model : p->q_model;
    srv_model *m = srv_models_pick(srv->models, name, task, e);
    if (!m)
        return e->kind;
    p->model = m;
    r->model = m->name;

    int n = p->in.has_tensor ? (int)p->in.shape[0] : p->in.nimages;
    if (task == SRV_TASK_CLASSIFY) {
        p->top_k = m->nclasses < 5 ? m->nclasses : 5;
        const char *q = p->q_top_k;
        long k = p->top_k;
        if (p->in.has_top_k)
            k = p->in.top_k;
        else if (q) {
            char *end;
            k = strtol(q, &end, 10);
            if (!*q || *end)
                return srv_fail(e, SRV_E_BAD_REQUEST, "top_k must be an integer");
        }
        if (k < 1 || k > m->nclasses)
            return srv_fail(e, SRV_E_BAD_REQUEST, "top_k must be 1..%d for model %s",
                            m->nclasses, m->name);
        p->top_k = (int)k;
    } else {
        const char *f = p->in.format ? p->in.format : p->q_format;
        int fmt = f ? srv_seg_format_parse(f) : SRV_FMT_PNG;
        if (fmt < 0)
            return srv_fail(e, SRV_E_BAD_REQUEST,
                            "format must be png, json, overlay or indices");
        p->fmt = (srv_seg_format)fmt;
        if (n > 1 && p->fmt != SRV_FMT_JSON)
            return srv_fail(e, SRV_E_UNPROCESSABLE,
                            "%d images in one request: only format=json can answer them", n);
        if (p->in.has_tensor && p->fmt == SRV_FMT_OVERLAY)
            return srv_fail(e, SRV_E_UNPROCESSABLE,
                            "format=overlay needs an image, not a tensor");
        if ((rc = tiling_wanted(p, e)) < 0)
            return e->kind;
        if (rc == 0 && (rc = native_wanted(p, e)) < 0)
            return e->kind;
        if (rc == 1)
            return start_tiled(r, p, t0, e);
        if (rc == 2)
            return start_native(r, p, t0, e);
    }
    if (n > m->max_queue)
        return srv_fail(e, SRV_E_TOO_LARGE, "%d images in one request; model %s takes at most %d",
                        n, m->name, m->max_queue);
    r->images = n;
    /* Refuse before decoding when the queue is already too full. */
    if (srv_batcher_depth(m->batcher) + n > m->max_queue)
        return srv_fail(e, SRV_E_OVERLOADED, "model %s has its queue full (%d images); retry later",
                        m->name, m->max_queue);

    /* The tensors live until the answer is made. (A JSON tensor body is
     * already parsed: its floats become the input tensor below.) */
    size_t tensors = (size_t)n * (m->in_floats + m->out_floats) * sizeof(float);
    if ((rc = reserve(r, p, tensors, "the request's tensors", e)) != SRV_OK)
        return rc;
    p->sizes = malloc((size_t)n * 2 * sizeof *p->sizes);
    p->output = malloc((size_t)n * m->out_floats * sizeof *p->output);
    if (!p->sizes || !p->output)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    if (p->in.has_tensor) {
        const int64_t *s = p->in.shape;
        if (s[1] != m->pp.channels || s[2] != m->pp.height || s[3] != m->pp.width)
            return srv_fail(e, SRV_E_BAD_TENSOR,
                            "tensor shape [%lld,%lld,%lld,%lld] does not fit model %s input "
                            "[N,%d,%d,%d]",
                            (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3],
                            m->name, m->pp.channels, m->pp.height, m->pp.width);
        p->input = p->in.tensor;
        p->in.tensor = NULL;
        for (int i = 0; i < n; i++) {
            p->sizes[2 * i] = m->out_w ? m->out_w : m->pp.width;
            p->sizes[2 * i + 1] = m->out_h ? m->out_h : m->pp.height;
            if (task == SRV_TASK_SEGMENT &&
                (rc = reserve(r, p, answer_bytes(p->sizes[2 * i], p->sizes[2 * i + 1]),
                              "the answer", e)) != SRV_OK)
                return rc;
        }
    } else {
        p->input = malloc((size_t)n * m->in_floats * sizeof *p->input);
        if (!p->input)
            return srv_fail(e, SRV_E_INTERNAL, "out of memory");
        if ((rc = decode_images(r, p, e)))
            return rc;
    }
    /* The encoded bytes are no longer needed while the job waits. */
    srv_input_free(&p->in);
    unreserve(r, p, owned);
    srv_req_drop_body(r);
    p->decode_ms = (srv_now() - t0) * 1e3;

    srv_job *j = job_of(r, p, n, r->t_start + srv->cfg->timeout_ms * 1e-3);
    srv_predict_prepared(r);
    return srv_batcher_submit(m->batcher, j, e);
}

static void prep_start(srv_work *w)
{
    srv_predict *p = (srv_predict *)w; /* work is the first member */
    srv_req *r = p->r;
    if (start(r, &p->err) != SRV_OK) {
        srv_predict_prepared(r); /* refused before its submit: no batcher waits for it */
        wake(r);
    }
}

/* Prep worker, after the batch: the answer, ready for the HTTP thread. */
static void finish(srv_work *w)
{
    srv_predict *p = (srv_predict *)w;
    srv_req *r = p->r;
    srv_job *j = &p->job;
    if (j->err.kind != SRV_OK) {
        srv_model_stats_request(&p->model->stats, 0, srv_now() - r->t_start, j->queue_s, 0, 0,
                                0);
        p->err = j->err;
        wake(r);
        return;
    }
    if (p->tiler) {
        if (!tiles_back(r, p))
            wake(r);
        return;
    }
    if (p->native) {
        native_back(r, p);
        wake(r);
        return;
    }
    double t_out = srv_now();
    srv_timing t = {.decode = p->decode_ms,
                    .queue = j->queue_s * 1e3,
                    .infer = j->infer_s * 1e3,
                    .total = (srv_now() - r->t_start) * 1e3};
    p->total_ms = t.total;
    if (p->task == SRV_TASK_CLASSIFY)
        srv_classify_answer(p->model, p->output, j->n, p->top_k, &t, j->batch_size, &p->answer,
                            &p->err);
    else
        srv_segment_answer(p->model, p->output, j->n, p->sizes,
                           p->image.px ? &p->image : NULL, p->fmt, &t, j->batch_size,
                           &p->answer, &p->err);
    srv_model_stats_request(&p->model->stats, p->err.kind == SRV_OK, srv_now() - r->t_start,
                            j->queue_s, p->decode_ms * 1e-3, j->infer_s, srv_now() - t_out);
    wake(r);
}

/* HTTP thread, body complete: read what the worker needs from the
 * connection, suspend it, queue the work. */
static void predict(srv_req *r, srv_task task)
{
    srv_predict *p = calloc(1, sizeof *p);
    if (!p) {
        srv_error e;
        srv_fail(&e, SRV_E_INTERNAL, "out of memory");
        srv_respond_error(r, &e);
        return;
    }
    r->pred = p;
    p->r = r;
    p->task = task;
    p->ctype = srv_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    p->q_model = srv_query(r, "model");
    p->q_top_k = srv_query(r, "top_k");
    p->q_format = srv_query(r, "format");
    p->q_tile = srv_query(r, "tile");
    p->q_overlap = srv_query(r, "tile_overlap");
    p->q_native = srv_query(r, "native");
    r->preparing = 1;
    atomic_fetch_add(&r->srv->preparing, 1);
    /* Suspend before queueing: a worker may resume r at any moment after. */
    r->state = SRV_REQ_WAITING;
    MHD_suspend_connection(r->conn);
    p->work.run = prep_start;
    srv_workers_push(r->srv->workers, &p->work, 0);
}

void srv_predict_classify(srv_req *r) { predict(r, SRV_TASK_CLASSIFY); }
void srv_predict_segment(srv_req *r) { predict(r, SRV_TASK_SEGMENT); }

void srv_predict_resume(srv_req *r)
{
    srv_predict *p = r->pred;
    srv_job *j = &p->job;
    if (p->err.kind != SRV_OK) {
        srv_respond_error(r, &p->err);
    } else {
        r->batch_size = j->batch_size;
        srv_answer a = p->answer;
        p->answer.body = NULL; /* srv_respond takes it over */
        char w[16], h[16], bs[16], tm[32];
        snprintf(w, sizeof w, "%d", a.width);
        snprintf(h, sizeof h, "%d", a.height);
        snprintf(bs, sizeof bs, "%d", j->batch_size);
        snprintf(tm, sizeof tm, "%.3f", p->total_ms);
        const char *hdr[] = {"X-Batch-Size", bs, "X-Total-Ms", tm,
                             a.width ? "X-Width" : NULL, w, "X-Height", h, NULL};
        srv_respond(r, 200, a.ctype, a.body, a.len, hdr);
    }
    release(r, p); /* the rest goes at completion (srv_predict_free) */
}
