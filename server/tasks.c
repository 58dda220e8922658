/* tasks.c — postprocessing, run on a prep worker after the batch so the
 * batcher's single worker only ever runs the engine. */
#include "server/tasks.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "server/base64.h"

#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(6))

int srv_seg_format_parse(const char *s)
{
    static const char *names[] = {"png", "json", "overlay", "indices"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static json_t *timing_json(const srv_timing *t)
{
    return json_pack("{s:f,s:f,s:f,s:f}", "decode", t->decode, "queue", t->queue, "infer",
                     t->infer, "total", t->total);
}

static srv_err finish_json(json_t *root, srv_answer *a, srv_error *e)
{
    char *s = root ? json_dumps(root, JSON_FLAGS) : NULL;
    json_decref(root);
    if (!s)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory building the answer");
    a->ctype = "application/json";
    a->body = s;
    a->len = strlen(s);
    return SRV_OK;
}

/* --- classify ------------------------------------------------------------- */

void srv_classify_topk(const srv_model *m, const float *x, int top_k, float *p, int *idx)
{
    int k = m->nclasses;
    if (m->apply_softmax) {
        /* Subtract the max so exp never overflows. */
        float mx = x[0];
        for (int c = 1; c < k; c++)
            mx = x[c] > mx ? x[c] : mx;
        double sum = 0;
        for (int c = 0; c < k; c++)
            sum += (p[c] = expf(x[c] - mx));
        for (int c = 0; c < k; c++)
            p[c] = (float)(p[c] / sum);
    } else {
        memcpy(p, x, (size_t)k * sizeof *p);
    }
    /* Partial selection sort: top_k is small. Ties keep the lower index. */
    for (int c = 0; c < k; c++)
        idx[c] = c;
    for (int j = 0; j < top_k && j < k; j++) {
        int best = j;
        for (int c = j + 1; c < k; c++) {
            float a1 = p[idx[c]], b1 = p[idx[best]];
            if (a1 > b1 || (a1 == b1 && idx[c] < idx[best]) || (isnan(b1) && !isnan(a1)))
                best = c;
        }
        int tmp = idx[j];
        idx[j] = idx[best];
        idx[best] = tmp;
    }
}

srv_err srv_classify_answer(const srv_model *m, const float *out, int n, int top_k,
                            const srv_timing *t, int batch_size, srv_answer *a, srv_error *e)
{
    int k = m->nclasses;
    float *p = malloc((size_t)k * sizeof *p);
    int *idx = malloc((size_t)k * sizeof *idx);
    json_t *preds = json_array();
    if (!p || !idx || !preds) {
        free(p);
        free(idx);
        json_decref(preds);
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        srv_classify_topk(m, out + (size_t)i * m->out_floats, top_k, p, idx);
        json_t *list = json_array();
        for (int j = 0; j < top_k && j < k; j++) {
            double score = isfinite(p[idx[j]]) ? p[idx[j]] : 0.0;
            json_array_append_new(list, json_pack("{s:s,s:i,s:f}", "label", m->labels[idx[j]],
                                                  "index", idx[j], "score", score));
        }
        json_array_append_new(preds, list);
    }
    free(p);
    free(idx);
    json_t *root = json_pack("{s:s,s:o,s:o,s:i}", "model", m->name, "predictions", preds,
                             "timing_ms", timing_json(t), "batch_size", batch_size);
    return finish_json(root, a, e);
}

/* --- segment -------------------------------------------------------------- */

/* Argmax over classes of one [K,H,W] output, resized to w x h. */
static uint8_t *mask_for(const srv_model *m, const float *x, int w, int h)
{
    size_t hw = (size_t)m->out_h * (size_t)m->out_w;
    uint8_t *small = malloc(hw);
    uint8_t *big = malloc((size_t)w * (size_t)h);
    if (!small || !big) {
        free(small);
        free(big);
        return NULL;
    }
    for (size_t i = 0; i < hw; i++) {
        int best = 0;
        float bv = x[i];
        for (int c = 1; c < m->nclasses; c++) {
            float v = x[(size_t)c * hw + i];
            if (v > bv) {
                bv = v;
                best = c;
            }
        }
        small[i] = (uint8_t)best;
    }
    if (w == m->out_w && h == m->out_h) {
        free(big);
        return small;
    }
    int rc = sk_mask_resize(small, m->out_w, m->out_h, big, w, h);
    free(small);
    if (rc) {
        free(big);
        return NULL;
    }
    return big;
}

static json_t *segment_json(const srv_model *m, const uint8_t *mask, int w, int h,
                            const uint8_t (*pal)[3], const srv_timing *t, int batch_size)
{
    size_t counts[256] = {0}, total = (size_t)w * (size_t)h;
    for (size_t i = 0; i < total; i++)
        counts[mask[i]]++;
    json_t *classes = json_array();
    for (int c = 0; c < m->nclasses; c++)
        json_array_append_new(classes,
                              json_pack("{s:i,s:s,s:I,s:f}", "index", c, "label", m->labels[c],
                                        "pixels", (json_int_t)counts[c], "fraction",
                                        total ? (double)counts[c] / (double)total : 0.0));
    uint8_t *png = NULL;
    size_t plen = 0;
    if (sk_png_encode_palette(mask, w, h, pal, m->nclasses, &png, &plen)) {
        json_decref(classes);
        return NULL;
    }
    char *b64 = srv_base64_encode(png, plen, NULL);
    free(png);
    if (!b64) {
        json_decref(classes);
        return NULL;
    }
    json_t *o = json_pack("{s:s,s:i,s:i,s:o,s:s,s:o,s:i}", "model", m->name, "width", w,
                          "height", h, "classes", classes, "mask_png", b64, "timing_ms",
                          timing_json(t), "batch_size", batch_size);
    free(b64);
    return o;
}

static void set_answer(srv_answer *a, const char *ctype, void *body, size_t len, int w, int h)
{
    a->ctype = ctype;
    a->body = body;
    a->len = len;
    a->width = w;
    a->height = h;
}

/* One w x h mask (taken over) -> the answer in `fmt`; with `list`, its
 * JSON object is appended there instead. */
static srv_err mask_answer(const srv_model *m, uint8_t *mask, int w, int h,
                           const sk_image *image, srv_seg_format fmt, const uint8_t (*pal)[3],
                           const srv_timing *t, int batch_size, json_t *list, srv_answer *a,
                           srv_error *e)
{
    srv_err r = SRV_OK;
    switch (fmt) {
    case SRV_FMT_JSON: {
        json_t *o = segment_json(m, mask, w, h, pal, t, batch_size);
        if (!o)
            r = srv_fail(e, SRV_E_INTERNAL, "cannot encode the mask");
        else if (list)
            json_array_append_new(list, o);
        else
            r = finish_json(o, a, e);
        break;
    }
    case SRV_FMT_PNG: {
        uint8_t *png;
        size_t plen;
        if (sk_png_encode_palette(mask, w, h, pal, m->nclasses, &png, &plen))
            r = srv_fail(e, SRV_E_INTERNAL, "cannot encode the mask PNG");
        else
            set_answer(a, "image/png", png, plen, w, h);
        break;
    }
    case SRV_FMT_OVERLAY: {
        sk_image ov = {0};
        uint8_t *png;
        size_t plen;
        if (!image || image->w != w || image->h != h || sk_mask_overlay(image, mask, pal, &ov))
            r = srv_fail(e, SRV_E_INTERNAL, "cannot blend the overlay");
        else if (sk_png_encode(&ov, &png, &plen))
            r = srv_fail(e, SRV_E_INTERNAL, "cannot encode the overlay PNG");
        else
            set_answer(a, "image/png", png, plen, w, h);
        sk_image_free(&ov);
        break;
    }
    case SRV_FMT_INDICES:
        set_answer(a, "application/octet-stream", mask, (size_t)w * (size_t)h, w, h);
        mask = NULL;
        break;
    }
    free(mask);
    return r;
}

srv_err srv_segment_mask_answer(const srv_model *m, uint8_t *mask, int w, int h,
                                const sk_image *image, srv_seg_format fmt, const srv_timing *t,
                                int batch_size, srv_answer *a, srv_error *e)
{
    uint8_t(*pal)[3] = malloc(256 * sizeof *pal);
    if (!pal) {
        free(mask);
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    }
    sk_palette(pal, 256);
    srv_err r = mask_answer(m, mask, w, h, image, fmt, (const uint8_t(*)[3])pal, t, batch_size,
                            NULL, a, e);
    free(pal);
    return r;
}

srv_err srv_segment_answer(const srv_model *m, const float *out, int n, const int *sizes,
                           const sk_image *image, srv_seg_format fmt, const srv_timing *t,
                           int batch_size, srv_answer *a, srv_error *e)
{
    uint8_t(*pal)[3] = malloc(256 * sizeof *pal);
    if (!pal)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory");
    sk_palette(pal, 256);
    srv_err r = SRV_OK;
    json_t *list = fmt == SRV_FMT_JSON && n > 1 ? json_array() : NULL;
    for (int i = 0; i < n && r == SRV_OK; i++) {
        int w = sizes[2 * i], h = sizes[2 * i + 1];
        uint8_t *mask = mask_for(m, out + (size_t)i * m->out_floats, w, h);
        if (!mask) {
            r = srv_fail(e, SRV_E_INTERNAL, "out of memory for a %dx%d mask", w, h);
            break;
        }
        r = mask_answer(m, mask, w, h, image, fmt, (const uint8_t(*)[3])pal, t, batch_size, list,
                        a, e);
    }
    free(pal);
    if (list) {
        if (r == SRV_OK)
            return finish_json(list, a, e);
        json_decref(list);
    }
    return r;
}
