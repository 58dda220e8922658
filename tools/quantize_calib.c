/* quantize_calib.c — calibration for skipserve-quantize: the images of a
 * folder, preprocessed as the model's model.json says (the server's
 * preprocessing, loaders/preprocess.c), run through the FP32 engine on the
 * graph as loaded (passes level 0, so every node is one step and every
 * activation is observed through sk_plan_observe), and each activation's
 * range reduced to the [lo, hi] that its scale will cover. */
#include <ctype.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "engine/threadpool.h"
#include "loaders/onnx.h"
#include "loaders/onnx_internal.h"
#include "tools/quantize.h"

#define MAX_PIXELS ((size_t)64 << 20) /* a calibration image's decode limit */

/* --- statistics ---------------------------------------------------------- */

qz_stat *qz_stats_find(const qz_stats *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0)
            return &s->v[i];
    return NULL;
}

void qz_stats_free(qz_stats *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].hist);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* The observer: pass 1 widens [min, max], pass 2 fills the histogram over
 * it. Allocation failures are remembered in s->pass = -1 (the engine's
 * callback cannot fail). */
static void observe(void *user, const char *name, const sk_tensor *t)
{
    qz_stats *s = user;
    if (t->dtype != SK_F32 || s->pass < 0)
        return;
    int64_t n = sk_shape_numel(&t->shape);
    const float *x = t->data;
    qz_stat *st = qz_stats_find(s, name);
    if (!st) {
        if (s->pass != 1)
            return;
        if (s->n == s->cap) {
            int cap = s->cap ? 2 * s->cap : 64;
            qz_stat *v = realloc(s->v, (size_t)cap * sizeof *v);
            if (!v) {
                s->pass = -1;
                return;
            }
            s->v = v;
            s->cap = cap;
        }
        st = &s->v[s->n];
        memset(st, 0, sizeof *st);
        if (!(st->name = strdup(name))) {
            s->pass = -1;
            return;
        }
        st->min = INFINITY;
        st->max = -INFINITY;
        s->n++;
    }
    if (s->pass == 1) {
        for (int64_t i = 0; i < n; i++) {
            if (!isfinite(x[i]))
                continue; /* counted nowhere; a model making NaN has other problems */
            if (x[i] < st->min)
                st->min = x[i];
            if (x[i] > st->max)
                st->max = x[i];
        }
        st->count += (uint64_t)n;
        return;
    }
    if (!st->hist && !(st->hist = calloc(QZ_BINS, sizeof *st->hist))) {
        s->pass = -1;
        return;
    }
    double w = st->max > st->min ? (st->max - st->min) / QZ_BINS : 1.0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        int b = (int)((x[i] - st->min) / w);
        st->hist[b < 0 ? 0 : b >= QZ_BINS ? QZ_BINS - 1 : b]++;
    }
}

/* Value at quantile q (0..1) of the histogram: the upper edge of the bin
 * where the cumulative count passes q. */
static double hist_quantile(const qz_stat *s, double q)
{
    uint64_t total = 0;
    for (int b = 0; b < QZ_BINS; b++)
        total += s->hist[b];
    double w = (s->max - s->min) / QZ_BINS, target = q * (double)total, cum = 0;
    for (int b = 0; b < QZ_BINS; b++) {
        cum += (double)s->hist[b];
        if (cum >= target)
            return s->min + (b + 1) * w;
    }
    return s->max;
}

/* KL(P || Q) of the histogram clipped to bins [a, b) (outside mass folded
 * into the edge bins) against the same bins quantized to `levels` levels,
 * each level's mass spread over its non-empty bins (TensorRT's method). */
static double kl_clip(const uint64_t *h, int a, int b, int levels)
{
    int nb = b - a;
    double *p = malloc((size_t)nb * sizeof *p), *q = calloc((size_t)nb, sizeof *q);
    if (!p || !q) {
        free(p);
        free(q);
        return INFINITY;
    }
    for (int j = 0; j < nb; j++)
        p[j] = (double)h[a + j];
    for (int j = 0; j < a; j++)
        p[0] += (double)h[j];
    for (int j = b; j < QZ_BINS; j++)
        p[nb - 1] += (double)h[j];
    for (int k = 0; k < levels; k++) {
        int j0 = (int)((int64_t)k * nb / levels), j1 = (int)((int64_t)(k + 1) * nb / levels);
        double mass = 0;
        int nz = 0;
        for (int j = j0; j < j1; j++) {
            mass += (double)h[a + j];
            nz += h[a + j] != 0;
        }
        for (int j = j0; j < j1; j++)
            q[j] = (nz && h[a + j]) ? mass / nz : 0;
    }
    double sp = 0, sq = 0, kl = 0;
    for (int j = 0; j < nb; j++) {
        sp += p[j];
        sq += q[j];
    }
    for (int j = 0; j < nb && sp > 0 && sq > 0; j++) {
        if (p[j] <= 0)
            continue;
        double pj = p[j] / sp, qj = q[j] > 0 ? q[j] / sq : 1e-12; /* an edge bin Q left empty */
        kl += pj * log(pj / qj);
    }
    free(p);
    free(q);
    return kl;
}

void qz_calibrate(qz_stat *s, int method, double pct, int s8)
{
    (void)s8; /* u8 and s8 have the same 256 levels: the same clip */
    s->lo = (float)(s->min < 0 ? s->min : 0);
    s->hi = (float)(s->max > 0 ? s->max : 0);
    if (!isfinite(s->min) || !s->hist || s->max <= s->min || method == QZ_MINMAX)
        return;
    if (method == QZ_PERCENTILE) {
        double lo = hist_quantile(s, 1.0 - pct / 100.0), hi = hist_quantile(s, pct / 100.0);
        /* a one-signed tensor keeps 0 as its bound (ReLU outputs: lo = 0) */
        s->lo = (float)(s->min >= 0 ? 0 : fmin(lo, 0));
        s->hi = (float)(s->max <= 0 ? 0 : fmax(hi, 0));
        return;
    }
    /* entropy: clip [f*min, f*max] around zero's bin, f chosen by least KL */
    double w = (s->max - s->min) / QZ_BINS;
    int z = s->min >= 0 ? 0 : s->max <= 0 ? QZ_BINS : (int)(-s->min / w);
    /* the exact zeros (a ReLU output's mass at 0) are represented exactly
     * at any clip; left in, they dominate P and the search clips far too
     * much (top-1 -1.6 pt on fashion-resnet): the KL is taken without them */
    uint64_t *h = malloc(QZ_BINS * sizeof *h);
    if (!h)
        return; /* minmax then */
    memcpy(h, s->hist, QZ_BINS * sizeof *h);
    h[z < QZ_BINS ? z : QZ_BINS - 1] = 0;
    double best = INFINITY, bestf = 1;
    for (int i = 128; i <= QZ_BINS; i += 16) {
        double f = (double)i / QZ_BINS;
        int a = z - (int)(z * f), b = z + (int)((QZ_BINS - z) * f + 0.5);
        if (b > QZ_BINS)
            b = QZ_BINS;
        if (b - a < 256)
            continue;
        double kl = kl_clip(h, a, b, 255);
        if (kl < best) {
            best = kl;
            bestf = f;
        }
    }
    free(h);
    s->lo = (float)(s->min < 0 ? s->min * bestf : 0);
    s->hi = (float)(s->max > 0 ? s->max * bestf : 0);
}

/* --- model.json ----------------------------------------------------------- */

void qz_pre_defaults(qz_pre *p)
{
    memset(p, 0, sizeof *p);
    /* the server's defaults (server/model.c set_defaults) */
    p->pp.scale = 1.0f / 255.0f;
    for (int i = 0; i < 3; i++) {
        p->pp.std[i] = 1.0f;
        p->background[i] = 255;
    }
    p->pp.resize = SK_RESIZE_STRETCH;
    p->invert = SK_INVERT_NO;
}

static int vec3(json_t *o, const char *key, float v[3])
{
    json_t *x = json_object_get(o, key);
    if (!x)
        return 0;
    if (json_is_number(x)) {
        v[0] = v[1] = v[2] = (float)json_number_value(x);
        return 0;
    }
    size_t n = json_is_array(x) ? json_array_size(x) : 0;
    if (n < 1 || n > 3)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(x, i < n ? i : 0);
        if (!json_is_number(e))
            return -1;
        v[i] = (float)json_number_value(e);
    }
    return 0;
}

int qz_pre_load(const char *path, qz_pre *p, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root)
        return sk_errf(err, errlen, SK_EFORMAT, "%s: %s (line %d)", path, je.text, je.line);
    int rc = SK_EFORMAT;
    json_t *in = json_object_get(root, "input"), *x;
    if (!json_is_object(root) || (in && !json_is_object(in))) {
        sk_errf(err, errlen, rc, "%s: not a model.json (object with an \"input\" object)", path);
        goto out;
    }
    if (!in) {
        rc = 0; /* defaults: the model's input size, scale 1/255 */
        goto out;
    }
    json_t *wv = json_object_get(in, "width"), *hv = json_object_get(in, "height");
    if (wv || hv) {
        if (!json_is_integer(wv) || !json_is_integer(hv) || json_integer_value(wv) < 1 ||
            json_integer_value(hv) < 1 || json_integer_value(wv) > 16384 ||
            json_integer_value(hv) > 16384) {
            sk_errf(err, errlen, rc, "%s: input.width and input.height must be 1..16384", path);
            goto out;
        }
        p->pp.width = (int)json_integer_value(wv);
        p->pp.height = (int)json_integer_value(hv);
        p->have_size = 1;
    }
    if ((x = json_object_get(in, "color"))) {
        const char *s = json_is_string(x) ? json_string_value(x) : "";
        p->pp.channels = !strcmp(s, "gray") ? 1 : !strcmp(s, "rgb") ? 3 : 0;
        if (!p->pp.channels) {
            sk_errf(err, errlen, rc, "%s: input.color must be \"rgb\" or \"gray\"", path);
            goto out;
        }
    }
    if ((x = json_object_get(in, "resize"))) {
        const char *s = json_is_string(x) ? json_string_value(x) : "";
        if (!strcmp(s, "stretch"))
            p->pp.resize = SK_RESIZE_STRETCH;
        else if (!strcmp(s, "shorter_then_center_crop"))
            p->pp.resize = SK_RESIZE_SHORTER_THEN_CENTER_CROP;
        else if (!strcmp(s, "letterbox"))
            p->pp.resize = SK_RESIZE_LETTERBOX;
        else {
            sk_errf(err, errlen, rc, "%s: input.resize must be stretch, "
                    "shorter_then_center_crop or letterbox", path);
            goto out;
        }
    }
    if ((x = json_object_get(in, "resize_to")) && json_is_integer(x))
        p->pp.resize_to = (int)json_integer_value(x);
    if ((x = json_object_get(in, "scale")) && json_is_number(x))
        p->pp.scale = (float)json_number_value(x);
    float bg[3] = {255, 255, 255};
    if (vec3(in, "mean", p->pp.mean) < 0 || vec3(in, "std", p->pp.std) < 0 ||
        vec3(in, "background", bg) < 0) {
        sk_errf(err, errlen, rc, "%s: input.mean/std/background must be a number or 1-3 numbers",
                path);
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        if (p->pp.std[i] == 0.0f) {
            sk_errf(err, errlen, rc, "%s: input.std must not be 0", path);
            goto out;
        }
        p->background[i] = (uint8_t)(bg[i] < 0 ? 0 : bg[i] > 255 ? 255 : bg[i]);
    }
    if ((x = json_object_get(in, "invert"))) {
        if (json_is_boolean(x))
            p->invert = json_is_true(x) ? SK_INVERT_YES : SK_INVERT_NO;
        else if (json_is_string(x) && !strcmp(json_string_value(x), "auto"))
            p->invert = SK_INVERT_AUTO;
        else {
            sk_errf(err, errlen, rc, "%s: input.invert must be true, false or \"auto\"", path);
            goto out;
        }
    }
    if ((x = json_object_get(in, "pad")) && json_is_integer(x))
        p->pp.pad = (uint8_t)json_integer_value(x);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* --- the calibration run --------------------------------------------------- */

static int is_image_name(const char *s)
{
    const char *dot = strrchr(s, '.');
    if (!dot || s[0] == '.')
        return 0;
    char e[8] = {0};
    for (int i = 0; i < 7 && dot[1 + i]; i++)
        e[i] = (char)tolower((unsigned char)dot[1 + i]);
    return !strcmp(e, "png") || !strcmp(e, "jpg") || !strcmp(e, "jpeg");
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The image file names of dir, sorted (free each and the array). */
static int list_images(const char *dir, char ***out, int *n, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return sk_errf(err, errlen, SK_EIO, "calibration folder %s: cannot open it", dir);
    char **v = NULL;
    int cnt = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_image_name(e->d_name))
            continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 256;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            v = nv;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        if (!(v[cnt] = malloc(len))) {
            rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory listing %s", dir);
            break;
        }
        snprintf(v[cnt++], len, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (!rc && cnt == 0)
        rc = sk_errf(err, errlen, SK_EINVAL,
                     "calibration folder %s holds no PNG or JPEG image (*.png, *.jpg, *.jpeg)",
                     dir);
    if (rc) {
        for (int i = 0; i < cnt; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    qsort(v, (size_t)cnt, sizeof *v, cmp_str);
    *out = v;
    *n = cnt;
    return 0;
}

/* Image file -> preprocessed CHW floats at x. */
static int load_one(const char *path, qz_pre *pre, float *x, char *err, size_t errlen)
{
    void *buf = NULL;
    size_t len = 0;
    char e2[256];
    int rc = sk_read_file(path, &buf, &len, e2, sizeof e2);
    if (rc < 0)
        return sk_errf(err, errlen, rc, "calibration image %s: %s", path, e2);
    sk_image img = {0};
    rc = sk_image_decode(buf, len, pre->pp.channels, MAX_PIXELS, pre->background, &img, e2,
                         sizeof e2);
    free(buf);
    if (rc < 0)
        return sk_errf(err, errlen, rc, "calibration image %s: %s", path, e2);
    sk_preprocess pp = pre->pp;
    pp.invert = sk_preprocess_invert(pre->invert, &img);
    rc = sk_image_to_tensor(&img, &pp, x, e2, sizeof e2);
    sk_image_free(&img);
    if (rc < 0)
        return sk_errf(err, errlen, rc, "calibration image %s: %s", path, e2);
    return 0;
}

int qz_calib_run(const char *onnx_path, const char *calib_dir, qz_pre *pre, int method,
                 int threads, qz_stats *st, int *nimages, char *err, size_t errlen)
{
    char **files = NULL;
    int nfiles = 0, rc;
    sk_graph *g = NULL;
    sk_pool *pool = NULL;
    sk_plan *plan = NULL;
    float *x = NULL;
    if ((rc = list_images(calib_dir, &files, &nfiles, err, errlen)) < 0)
        return rc;
    if ((rc = sk_onnx_load(onnx_path, &g, err, errlen)) < 0)
        goto out;
    /* Every node output becomes a graph output before the passes run: the
     * fusion passes never absorb a value a graph output needs, so each ONNX
     * node stays one step and is observed, while Conv / Gemm still get the
     * fast packed kernels (level 0, the graph as loaded, runs convolutions
     * on the reference kernels: ~20x slower calibration on ResNet-50). The
     * cost: no activation buffer is reused (the sum of all activations of
     * one image). */
    for (int i = 0, nn = g->nnodes; i < nn; i++)
        for (int k = 0; k < g->nodes[i].nout; k++) {
            int v = g->nodes[i].out[k], dup = 0;
            for (int j = 0; j < g->noutputs && v >= 0; j++)
                dup |= g->outputs[j] == v;
            if (v >= 0 && !dup && (rc = sk_graph_add_output(g, v)) < 0) {
                sk_errf(err, errlen, rc, "out of memory");
                goto out;
            }
        }
    if ((rc = sk_graph_optimize(g, 1, err, errlen)) < 0)
        goto out;
    if (g->ninputs != 1) {
        rc = sk_errf(err, errlen, SK_EUNSUPPORTED,
                     "%s has %d runtime inputs: calibration from images needs exactly one",
                     onnx_path, g->ninputs);
        goto out;
    }
    const sk_value *iv = &g->values[g->inputs[0]];
    if (iv->dtype != SK_F32 || iv->shape.rank != 4) {
        rc = sk_errf(err, errlen, SK_EUNSUPPORTED,
                     "input '%s' is not a float32 NCHW image tensor (rank 4)", iv->name);
        goto out;
    }
    /* size and channels: model.json's, else the model's declared ones */
    int64_t c = iv->shape.dim[1], h = iv->shape.dim[2], w = iv->shape.dim[3];
    if (!pre->have_size) {
        if (h <= 0 || w <= 0) {
            rc = sk_errf(err, errlen, SK_EINVAL,
                         "input '%s' has a symbolic height/width: give input.width/height "
                         "in model.json (--model-json)", iv->name);
            goto out;
        }
        pre->pp.width = (int)w;
        pre->pp.height = (int)h;
    }
    if (!pre->pp.channels)
        pre->pp.channels = c == 3 ? 3 : 1;
    if ((c > 0 && c != pre->pp.channels) || (h > 0 && h != pre->pp.height) ||
        (w > 0 && w != pre->pp.width)) {
        rc = sk_errf(err, errlen, SK_ESHAPE,
                     "model.json says %dx%dx%d but input '%s' is [N,%lld,%lld,%lld]",
                     pre->pp.channels, pre->pp.height, pre->pp.width, iv->name, (long long)c,
                     (long long)h, (long long)w);
        goto out;
    }
    sk_tensor bind = {SK_F32, {4, {1, pre->pp.channels, pre->pp.height, pre->pp.width}}, NULL};
    if (threads != 1)
        pool = sk_pool_create(threads);
    if ((rc = sk_plan_create(g, &bind, pool, &plan, err, errlen)) < 0)
        goto out;
    if (!(x = sk_alloc(sk_tensor_bytes(&bind)))) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory");
        goto out;
    }
    sk_plan_observe(plan, observe, st);
    sk_tensor xin = bind;
    xin.data = x;
    int passes = method == QZ_MINMAX ? 1 : 2;
    for (int pass = 1; pass <= passes; pass++) {
        st->pass = pass;
        for (int i = 0; i < nfiles; i++) {
            if ((rc = load_one(files[i], pre, x, err, errlen)) < 0)
                goto out;
            observe(st, iv->name, &xin); /* the graph input is no step's output */
            const void *data[1] = {x};
            if ((rc = sk_plan_run(plan, data, err, errlen)) < 0)
                goto out;
            if (st->pass < 0) {
                rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory for the statistics");
                goto out;
            }
        }
    }
    *nimages = nfiles;
    rc = 0;
out:
    sk_free(x);
    if (plan)
        sk_plan_free(plan);
    if (pool)
        sk_pool_destroy(pool);
    sk_graph_free(g);
    for (int i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    return rc;
}
