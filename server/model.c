/* model.c — load one model folder: model.json (every key optional; the ONNX
 * input shape fills the gaps), the graph, labels, and one plan per batch
 * size we run (powers of two up to max_batch, plus max_batch itself). */
#include "server/model.h"

#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/kernels/config.h"
#include "engine/passes/passes.h"
#include "engine/threadpool.h"
#include "loaders/onnx.h"
#include "server/batcher.h"
#include "server/log.h"
#include "server/plancache.h"
#include "server/tile.h"

const char *srv_task_name(srv_task t) { return t == SRV_TASK_SEGMENT ? "segment" : "classify"; }

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

srv_model *srv_model_new(const char *name, const char *version, const char *path,
                         const char *parent)
{
    srv_model *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->name = strdup(name);
    m->version = strdup(version);
    atomic_init(&m->refs, 1);
    atomic_init(&m->status, SRV_MODEL_LOADING);
    if (is_dir(path)) {
        m->dir = strdup(path);
        m->onnx_path = path_join(path, "model.onnx");
        m->json_path = path_join(path, "model.json");
        /* a version folder without its own settings or labels takes its
         * model folder's (Triton keeps config beside the versions) */
        if (parent && m->json_path && !is_file(m->json_path)) {
            free(m->json_path);
            m->json_path = path_join(parent, "model.json");
        }
        char *labels = path_join(path, "labels.txt");
        if (parent && labels && !is_file(labels)) {
            free(m->dir);
            m->dir = strdup(parent);
        }
        free(labels);
    } else {
        /* foo/bar.onnx: settings from foo/bar.json, labels relative to foo/. */
        const char *slash = strrchr(path, '/');
        m->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        m->onnx_path = strdup(path);
        size_t n = strlen(path);
        const char *dot = strrchr(path, '.');
        if (!dot || (slash && dot < slash))
            dot = path + n;
        m->json_path = malloc((size_t)(dot - path) + 6);
        if (m->json_path)
            snprintf(m->json_path, (size_t)(dot - path) + 6, "%.*s.json", (int)(dot - path), path);
    }
    if (!m->name || !m->version || !m->dir || !m->onnx_path || !m->json_path) {
        srv_model_unref(m);
        return NULL;
    }
    srv_model_stamp(m, m->stamp, sizeof m->stamp);
    return m;
}

void srv_model_stamp(const srv_model *m, char *out, size_t n)
{
    struct stat a, b;
    int ha = stat(m->onnx_path, &a) == 0, hb = stat(m->json_path, &b) == 0;
    int k = snprintf(out, n, "%lld.%09ld:%lld|%lld.%09ld:%lld",
                     ha ? (long long)a.st_mtim.tv_sec : 0, ha ? a.st_mtim.tv_nsec : 0,
                     ha ? (long long)a.st_size : -1, hb ? (long long)b.st_mtim.tv_sec : 0,
                     hb ? b.st_mtim.tv_nsec : 0, hb ? (long long)b.st_size : -1);
    /* the int8 file a precision-int8 load read: replacing it reloads too */
    struct stat c;
    if (m->int8_path && k > 0 && (size_t)k < n) {
        int hc = stat(m->int8_path, &c) == 0;
        snprintf(out + k, n - (size_t)k, "|%lld.%09ld:%lld", hc ? (long long)c.st_mtim.tv_sec : 0,
                 hc ? c.st_mtim.tv_nsec : 0, hc ? (long long)c.st_size : -1);
    }
}

/* --- model.json ----------------------------------------------------------- */

/* 0: absent, 1: a number in [lo, hi] stored in *v, -1: anything else. */
static int json_num(json_t *o, const char *key, double lo, double hi, double *v)
{
    json_t *x = json_object_get(o, key);
    *v = 0;
    if (!x)
        return 0;
    if (!json_is_number(x) || json_number_value(x) < lo || json_number_value(x) > hi)
        return -1;
    *v = json_number_value(x);
    return 1;
}

/* mean/std: a number (every channel) or a list of 1 or C numbers. */
static int json_vec3(json_t *o, const char *key, float v[3])
{
    json_t *x = json_object_get(o, key);
    if (!x)
        return 0;
    if (json_is_number(x)) {
        v[0] = v[1] = v[2] = (float)json_number_value(x);
        return 1;
    }
    if (!json_is_array(x) || json_array_size(x) < 1 || json_array_size(x) > 3)
        return -1;
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(x, i < json_array_size(x) ? i : 0);
        if (!json_is_number(e))
            return -1;
        v[i] = (float)json_number_value(e);
    }
    return 1;
}

typedef struct model_json {
    int task; /* -1 unset */
    int native;          /* -1 unset, else input.native */
    int native_plans;    /* input.native_plans (0: default) */
    double native_cache_mb; /* input.native_cache_mb (0: default) */
    int width, height, channels;
    int has_softmax;
    int softmax;
    json_t *labels; /* borrowed from root */
    int precision;  /* "precision": srv_precision, -1 unset */
    const char *int8_model; /* "int8_model", borrowed from root */
} model_json;

/* "precision" and "int8_model": the QDQ file sits in the model's folder
 * (a plain relative name: no "/" at the start, no ".." part). */
static int parse_precision(srv_model *m, json_t *root, model_json *mj, char *err, size_t errlen)
{
    json_t *p = json_object_get(root, "precision"), *q = json_object_get(root, "int8_model");
    if (p && (!json_is_string(p) || (mj->precision = srv_precision_parse(json_string_value(p))) < 0))
        return snprintf(err, errlen, "%s: precision must be \"fp32\", \"bf16\" or \"int8\"",
                        m->json_path),
               -1;
    if (q) {
        const char *f = json_is_string(q) ? json_string_value(q) : NULL;
        if (!f || !*f || f[0] == '/' || !strcmp(f, "..") || !strncmp(f, "../", 3) ||
            strstr(f, "/../") || (strlen(f) >= 3 && !strcmp(f + strlen(f) - 3, "/..")))
            return snprintf(err, errlen,
                            "%s: int8_model must name a file inside the model's folder", m->json_path),
                   -1;
        mj->int8_model = f;
    }
    if (mj->precision == SRV_PREC_INT8 && !mj->int8_model)
        return snprintf(err, errlen,
                        "%s: precision int8 needs \"int8_model\": the quantized (QDQ) file "
                        "skipserve-quantize writes",
                        m->json_path),
               -1;
    return 0;
}

static int parse_model_json(srv_model *m, json_t *root, model_json *mj, char *err, size_t errlen)
{
#define BAD(...) return snprintf(err, errlen, __VA_ARGS__), -1
    if (!json_is_object(root))
        BAD("%s: not a JSON object", m->json_path);
    json_t *t = json_object_get(root, "task");
    if (t) {
        if (json_is_string(t) && strcmp(json_string_value(t), "classify") == 0)
            mj->task = SRV_TASK_CLASSIFY;
        else if (json_is_string(t) && strcmp(json_string_value(t), "segment") == 0)
            mj->task = SRV_TASK_SEGMENT;
        else
            BAD("%s: task must be \"classify\" or \"segment\"", m->json_path);
    }
    json_t *in = json_object_get(root, "input");
    if (in) {
        if (!json_is_object(in))
            BAD("%s: input must be an object", m->json_path);
        double v;
        int k;
        if ((k = json_num(in, "width", 1, 16384, &v)) < 0)
            BAD("%s: input.width must be 1..16384", m->json_path);
        if (k)
            mj->width = (int)v;
        if ((k = json_num(in, "height", 1, 16384, &v)) < 0)
            BAD("%s: input.height must be 1..16384", m->json_path);
        if (k)
            mj->height = (int)v;
        json_t *c = json_object_get(in, "color");
        if (c) {
            if (json_is_string(c) && strcmp(json_string_value(c), "rgb") == 0)
                mj->channels = 3;
            else if (json_is_string(c) && strcmp(json_string_value(c), "gray") == 0)
                mj->channels = 1;
            else
                BAD("%s: input.color must be \"rgb\" or \"gray\"", m->json_path);
        }
        json_t *r = json_object_get(in, "resize");
        if (r) {
            const char *s = json_is_string(r) ? json_string_value(r) : "";
            if (strcmp(s, "stretch") == 0)
                m->pp.resize = SK_RESIZE_STRETCH;
            else if (strcmp(s, "shorter_then_center_crop") == 0)
                m->pp.resize = SK_RESIZE_SHORTER_THEN_CENTER_CROP;
            else if (strcmp(s, "letterbox") == 0)
                m->pp.resize = SK_RESIZE_LETTERBOX;
            else
                BAD("%s: input.resize must be stretch, shorter_then_center_crop or letterbox",
                    m->json_path);
        }
        if ((k = json_num(in, "resize_to", 0, 65536, &v)) < 0)
            BAD("%s: input.resize_to must be a size in pixels", m->json_path);
        if (k)
            m->pp.resize_to = (int)v;
        if ((k = json_num(in, "scale", -1e30, 1e30, &v)) < 0)
            BAD("%s: input.scale must be a number", m->json_path);
        if (k)
            m->pp.scale = (float)v;
        if (json_vec3(in, "mean", m->pp.mean) < 0)
            BAD("%s: input.mean must be a number or a list of 1-3 numbers", m->json_path);
        if (json_vec3(in, "std", m->pp.std) < 0)
            BAD("%s: input.std must be a number or a list of 1-3 numbers", m->json_path);
        for (int i = 0; i < 3; i++)
            if (m->pp.std[i] == 0.0f)
                BAD("%s: input.std must not be 0", m->json_path);
        json_t *inv = json_object_get(in, "invert");
        if (inv) {
            if (json_is_boolean(inv))
                m->invert = json_is_true(inv) ? SRV_INVERT_YES : SRV_INVERT_NO;
            else if (json_is_string(inv) && strcmp(json_string_value(inv), "auto") == 0)
                m->invert = SRV_INVERT_AUTO;
            else
                BAD("%s: input.invert must be true, false or \"auto\"", m->json_path);
        }
        float bg[3] = {255, 255, 255};
        if (json_vec3(in, "background", bg) < 0)
            BAD("%s: input.background must be 0..255 or [r,g,b]", m->json_path);
        for (int i = 0; i < 3; i++) {
            if (bg[i] < 0 || bg[i] > 255)
                BAD("%s: input.background must be 0..255 or [r,g,b]", m->json_path);
            m->background[i] = (uint8_t)bg[i];
        }
        json_t *nat = json_object_get(in, "native");
        if (nat && !json_is_boolean(nat))
            BAD("%s: input.native must be true or false", m->json_path);
        if (nat)
            mj->native = json_is_true(nat);
        if ((k = json_num(in, "multiple", 1, 1024, &v)) < 0 || v != (int)v)
            BAD("%s: input.multiple must be a whole number 1..1024", m->json_path);
        if (k)
            m->native_multiple = (int)v;
        if ((k = json_num(in, "native_max_pixels", 1, 1e9, &v)) < 0)
            BAD("%s: input.native_max_pixels must be 1..1000000000", m->json_path);
        if (k)
            m->native_max_pixels = (long)v;
        if ((k = json_num(in, "native_plans", 1, 256, &v)) < 0 || v != (int)v)
            BAD("%s: input.native_plans must be 1..256", m->json_path);
        if (k)
            mj->native_plans = (int)v;
        if ((k = json_num(in, "native_cache_mb", 1, 1e7, &v)) < 0)
            BAD("%s: input.native_cache_mb must be 1..10000000", m->json_path);
        if (k)
            mj->native_cache_mb = v;
        if ((k = json_num(in, "pad", 0, 255, &v)) < 0)
            BAD("%s: input.pad must be 0..255", m->json_path);
        if (k)
            m->pp.pad = (uint8_t)v;
    }
    mj->labels = json_object_get(root, "labels");
    if (mj->labels && !json_is_string(mj->labels) && !json_is_array(mj->labels))
        BAD("%s: labels must be a file name or a list of strings", m->json_path);
    json_t *o = json_object_get(root, "output");
    if (o) {
        json_t *s = json_object_get(o, "softmax");
        if (!json_is_object(o) || (s && !json_is_boolean(s)))
            BAD("%s: output.softmax must be true or false", m->json_path);
        if (s) {
            mj->has_softmax = 1;
            mj->softmax = json_is_true(s);
        }
    }
    if (parse_precision(m, root, mj, err, errlen))
        return -1;
    json_t *b = json_object_get(root, "batching");
    if (b) {
        double v;
        int k;
        if (!json_is_object(b))
            BAD("%s: batching must be an object", m->json_path);
        if ((k = json_num(b, "max_batch", 1, 256, &v)) < 0)
            BAD("%s: batching.max_batch must be 1..256", m->json_path);
        if (k)
            m->max_batch = (int)v;
        if ((k = json_num(b, "max_delay_us", 0, 1e7, &v)) < 0)
            BAD("%s: batching.max_delay_us must be 0..10000000", m->json_path);
        if (k)
            m->max_delay_us = (int)v;
        json_t *idle = json_object_get(b, "idle_dispatch");
        if (idle && !json_is_boolean(idle))
            BAD("%s: batching.idle_dispatch must be true or false", m->json_path);
        if (idle)
            m->idle_dispatch = json_is_true(idle);
        if ((k = json_num(b, "max_queue", 1, 1e6, &v)) < 0)
            BAD("%s: batching.max_queue must be 1..1000000", m->json_path);
        if (k)
            m->max_queue = (int)v;
    }
    json_t *tl = json_object_get(root, "tiling");
    if (tl) {
        double v;
        int k;
        if (!json_is_object(tl))
            BAD("%s: tiling must be an object", m->json_path);
        json_t *d = json_object_get(tl, "default");
        if (d && !json_is_boolean(d))
            BAD("%s: tiling.default must be true or false", m->json_path);
        if (d)
            m->tile_default = json_is_true(d);
        if ((k = json_num(tl, "overlap", 0, 4096, &v)) < 0 || v != (int)v)
            BAD("%s: tiling.overlap must be a whole number of pixels, 0..4096", m->json_path);
        if (k)
            m->tile_overlap = (int)v;
        json_t *w = json_object_get(tl, "window");
        int win = !w                 ? m->tile_window
                  : json_is_string(w) ? srv_window_parse(json_string_value(w))
                                      : -1;
        if (win < 0)
            BAD("%s: tiling.window must be \"linear\" or \"cosine\"", m->json_path);
        m->tile_window = win;
    }
    return 0;
#undef BAD
}

/* --- labels --------------------------------------------------------------- */

static int load_labels(srv_model *m, json_t *spec, char *err, size_t errlen)
{
    char **labels = calloc((size_t)m->nclasses, sizeof *labels);
    if (!labels)
        return -1;
    m->labels = labels;
    int have = 0;
    if (spec && json_is_array(spec)) {
        for (size_t i = 0; i < json_array_size(spec) && (int)i < m->nclasses; i++) {
            json_t *e = json_array_get(spec, i);
            if (!json_is_string(e))
                return snprintf(err, errlen, "%s: labels must be strings", m->json_path), -1;
            labels[i] = strdup(json_string_value(e));
        }
        have = (int)json_array_size(spec);
    } else {
        const char *file = spec ? json_string_value(spec) : "labels.txt";
        char *path = file[0] == '/' ? strdup(file) : path_join(m->dir, file);
        FILE *f = path ? fopen(path, "r") : NULL;
        if (!f && spec) {
            snprintf(err, errlen, "labels file %s: %s", path ? path : file, strerror(errno));
            free(path);
            return -1;
        }
        free(path);
        if (f) {
            char line[1024];
            while (fgets(line, sizeof line, f)) {
                size_t n = strcspn(line, "\r\n");
                line[n] = '\0';
                if (have < m->nclasses)
                    labels[have] = strdup(line);
                have++;
            }
            fclose(f);
            /* A trailing blank line is not a class. */
            while (have > 0 && have <= m->nclasses && labels[have - 1][0] == '\0')
                free(labels[--have]), labels[have] = NULL;
        }
    }
    if (have && have != m->nclasses)
        srv_log_msg("model %s: %d labels for %d classes; missing ones are named by index",
                    m->name, have, m->nclasses);
    for (int i = 0; i < m->nclasses; i++) {
        if (!labels[i]) {
            char b[16];
            snprintf(b, sizeof b, "%d", i);
            labels[i] = strdup(b);
        }
    }
    return 0;
}

/* --- plans ---------------------------------------------------------------- */

int srv_model_plan_for(const srv_model *m, int n)
{
    /* The smallest plan that holds n, if padding wastes at most a quarter
     * of it; otherwise the largest plan that n fills (the rest runs next). */
    int up = -1, down = 0;
    for (int i = 0; i < m->nplans; i++) {
        if (m->plan_size[i] >= n && up < 0)
            up = i;
        if (m->plan_size[i] <= n)
            down = i;
    }
    if (up >= 0 && (m->plan_size[up] - n) * 4 <= m->plan_size[up])
        return up;
    return m->plan_size[down] <= n ? down : (up >= 0 ? up : m->nplans - 1);
}

/* share: a plan whose arena this one may run in (sk_plan_create_shared) */
static int make_plan(srv_model *m, srv_server *srv, int batch, const sk_plan *share,
                     sk_plan **out, char *err, size_t errlen)
{
    sk_tensor in = {.dtype = SK_F32,
                    .shape = {.rank = 4,
                              .dim = {batch, m->pp.channels, m->pp.height, m->pp.width}},
                    .data = NULL};
    return sk_plan_create_shared(m->graph, &in, srv->pool, share, out, err, errlen);
}

/* Producer of the graph's first output is a Softmax: scores are ready. */
static int ends_in_softmax(const sk_graph *g)
{
    if (g->noutputs < 1)
        return 0;
    for (int i = 0; i < g->nnodes; i++)
        for (int j = 0; j < g->nodes[i].nout; j++)
            if (g->nodes[i].out[j] == g->outputs[0])
                return g->nodes[i].op == SK_OP_SOFTMAX;
    return 0;
}

static int check_output(srv_model *m, const sk_tensor *o, int batch, int task, char *err,
                        size_t errlen)
{
    char sb[96];
    sk_shape_str(&o->shape, sb, sizeof sb);
    if (o->dtype != SK_F32 || o->shape.rank < 2 || o->shape.dim[0] != batch)
        return snprintf(err, errlen, "model %s: output %s for batch %d is not float [N,...]",
                        m->name, sb, batch),
               -1;
    if (task == SRV_TASK_SEGMENT && o->shape.rank != 4)
        return snprintf(err, errlen, "model %s: segment output %s is not [N,classes,H,W]",
                        m->name, sb),
               -1;
    return 0;
}

/* --- loading, one job a function --------------------------------------------- */

/* Settings before model.json: the flags' defaults. */
static void set_defaults(srv_model *m, const srv_config *cfg)
{
    m->pp.scale = 1.0f / 255.0f;
    for (int i = 0; i < 3; i++) {
        m->pp.mean[i] = 0.0f;
        m->pp.std[i] = 1.0f;
        m->background[i] = 255;
    }
    m->pp.resize = SK_RESIZE_STRETCH;
    m->max_batch = cfg->max_batch;
    m->max_delay_us = cfg->max_delay_us;
    m->idle_dispatch = 1;
    m->max_queue = cfg->max_queue;
    m->tile_overlap = -1; /* a quarter of the input's shorter side, once known */
    m->tile_window = SRV_WINDOW_COSINE;
    /* 32: five halvings (a ResNet-style encoder's stride; a 4-level U-Net
     * needs 8 or 16, which 32 also satisfies); 1 MP: the plan arena of a
     * small U-Net at that size is already hundreds of MB (README). */
    m->native_multiple = 32;
    m->native_max_pixels = 1L << 20;
}

/* model.json, when there is one: *root keeps the labels mj borrows. */
static int read_model_json(srv_model *m, model_json *mj, json_t **root, char *err, size_t errlen)
{
    if (!is_file(m->json_path))
        return 0;
    json_error_t je;
    *root = json_load_file(m->json_path, 0, &je);
    if (!*root)
        return snprintf(err, errlen, "%s:%d: %s", m->json_path, je.line, je.text), -1;
    return parse_model_json(m, *root, mj, err, errlen);
}

/* The precision the model runs at: --precision over model.json's; bf16
 * only where the CPU has AVX512-BF16, int8 only with an int8_model file
 * (each fallback to FP32 is one log line). *int8_path: the file to load
 * instead of model.onnx (malloc'ed), or NULL. */
static int choose_precision(srv_model *m, const model_json *mj, const srv_config *cfg,
                            char **int8_path, char *err, size_t errlen)
{
    int want = cfg->precision >= 0 ? cfg->precision : mj->precision >= 0 ? mj->precision : 0;
    m->precision = want;
    *int8_path = NULL;
    if (want == SRV_PREC_BF16 && !sk_bf16_available()) {
        srv_log_msg("model %s: precision bf16 asked, but this CPU has no AVX512-BF16 (or "
                    "SKIPSERVE_ISA is below avx512): running FP32",
                    m->name);
        m->precision = SRV_PREC_FP32;
    } else if (want == SRV_PREC_INT8 && !mj->int8_model) {
        srv_log_msg("model %s: --precision int8, but its model.json names no int8_model: "
                    "running FP32",
                    m->name);
        m->precision = SRV_PREC_FP32;
    } else if (want == SRV_PREC_INT8) {
        size_t n = strlen(m->dir) + strlen(mj->int8_model) + 2;
        if (!(*int8_path = malloc(n)))
            return snprintf(err, errlen, "out of memory"), -1;
        snprintf(*int8_path, n, "%s/%s", m->dir, mj->int8_model);
    }
    return 0;
}

/* Load, then fold BatchNorm, fuse Conv+Add+Relu and pack weights once for
 * the CPU level in force: every plan of this model shares them. */
static int load_graph(srv_model *m, const model_json *mj, const srv_config *cfg, char *err,
                      size_t errlen)
{
    char *int8_path = NULL;
    const char *path = m->onnx_path;
    if (choose_precision(m, mj, cfg, &int8_path, err, errlen))
        return -1;
    if (int8_path) {
        path = int8_path;
        /* stamp the int8 file before reading it: a change from here on is
         * seen by the next rescan (the repository poll reloads the model) */
        free(m->int8_path);
        if (!(m->int8_path = strdup(int8_path))) {
            free(int8_path);
            return snprintf(err, errlen, "out of memory"), -1;
        }
        srv_model_stamp(m, m->stamp, sizeof m->stamp);
    }
    sk_load_opts lo = {.level = 1,
                       .precision = m->precision == SRV_PREC_BF16 ? SK_PREC_BF16 : SK_PREC_FP32};
    int rc = sk_onnx_load(path, &m->graph, err, errlen) ||
             sk_graph_optimize_opts(m->graph, &lo, err, errlen);
    free(int8_path);
    if (rc)
        return -1;
    m->bf16_convs = lo.bf16_convs;
    if (m->precision != SRV_PREC_FP32)
        srv_log_msg("model %s: precision %s%s%s", m->name, srv_precision_name(m->precision),
                    m->precision == SRV_PREC_BF16 ? " (convolutions in bf16, fp32 sums), kernel "
                                                  : "",
                    m->precision == SRV_PREC_BF16 ? sk_bf16_kernel_note() : "");
    const sk_graph *g = m->graph;
    if (g->ninputs != 1 || g->noutputs < 1)
        return snprintf(err, errlen, "model %s: needs exactly one input and an output (has %d, %d)",
                        m->name, g->ninputs, g->noutputs),
               -1;
    const sk_value *iv = &g->values[g->inputs[0]];
    if (iv->shape.rank != 4 && iv->shape.rank != -1) {
        char sb[96];
        return snprintf(err, errlen, "model %s: input %s has shape %s, not [N,C,H,W]", m->name,
                        iv->name, sk_shape_str(&iv->shape, sb, sizeof sb)),
               -1;
    }
    return 0;
}

/* The input's channels and size (the ONNX file's declared dims win;
 * model.json must agree), and the native-size setting. */
static int input_geometry(srv_model *m, const model_json *mj, char *err, size_t errlen)
{
    const sk_value *iv = &m->graph->values[m->graph->inputs[0]];
    int dims[3] = {mj->channels, mj->height, mj->width};
    const char *what[3] = {"channels (color)", "height", "width"};
    for (int i = 0; i < 3 && iv->shape.rank == 4; i++) {
        int64_t d = iv->shape.dim[i + 1];
        if (d > 0 && dims[i] && dims[i] != d)
            return snprintf(err, errlen, "model %s: model.json %s %d but the ONNX input says %lld",
                            m->name, what[i], dims[i], (long long)d),
                   -1;
        if (d > 0)
            dims[i] = (int)d;
    }
    if (!dims[0])
        dims[0] = 3;
    /* Symbolic H and W: run each image at its own size (native.h) unless
     * model.json says not. Batch-1 plans per shape, from a bounded cache. */
    int dyn_hw = iv->shape.rank == 4 && iv->shape.dim[2] <= 0 && iv->shape.dim[3] <= 0;
    m->native = dyn_hw && mj->native != 0;
    if (mj->native == 1 && !dyn_hw)
        return snprintf(err, errlen,
                        "model %s: input.native needs an ONNX input with symbolic H and W",
                        m->name),
               -1;
    if (m->native) {
        int plans = mj->native_plans ? mj->native_plans : 8;
        double mb = mj->native_cache_mb ? mj->native_cache_mb : 2048;
        m->native_cache = srv_plan_cache_new(m->name, plans, (size_t)(mb * 1048576.0));
        if (!m->native_cache)
            return snprintf(err, errlen, "model %s: out of memory", m->name), -1;
    }
    if (!dims[1] || !dims[2]) {
        srv_log_msg("model %s: input size not fixed by the ONNX file or model.json; using 224",
                    m->name);
        dims[1] = dims[1] ? dims[1] : 224;
        dims[2] = dims[2] ? dims[2] : 224;
    }
    if (dims[0] != 1 && dims[0] != 3)
        return snprintf(err, errlen,
                        "model %s: input has %d channels; only 1 (gray) or 3 (rgb) images",
                        m->name, dims[0]),
               -1;
    m->pp.channels = dims[0];
    m->pp.height = dims[1];
    m->pp.width = dims[2];
    m->in_floats = (size_t)dims[0] * (size_t)dims[1] * (size_t)dims[2];
    if (iv->shape.rank == 4 && iv->shape.dim[0] == 1 && m->max_batch > 1) {
        srv_log_msg("model %s: ONNX input has a fixed batch of 1; batching disabled", m->name);
        m->max_batch = 1;
    }
    return 0;
}

/* One plan per batch size (1, 2, 4, ... below max_batch, then max_batch),
 * all in the largest one's arena, each warmed up once; the first plan's output says the task (when
 * model.json does not), the classes and the mask size. A batch size that
 * does not plan or answers the wrong shape caps max_batch below it. */
static int make_plans(srv_model *m, srv_server *srv, int *task, char *err, size_t errlen)
{
    m->nplans = 0;
    for (int b = 1; b < m->max_batch && m->nplans < SRV_MAX_PLANS - 1; b *= 2)
        m->plan_size[m->nplans++] = b;
    m->plan_size[m->nplans++] = m->max_batch;

    /* 1. every plan, checked by its output's shape (known once planned) */
    for (int i = 0; i < m->nplans; i++) {
        int b = m->plan_size[i];
        char perr[256];
        if (make_plan(m, srv, b, NULL, &m->plans[i], perr, sizeof perr)) {
            if (i == 0)
                return snprintf(err, errlen, "model %s: %s", m->name, perr), -1;
            /* Exported with a batch-1 reshape, say: serve the sizes that work. */
            srv_log_msg("model %s: no plan for batch %d (%s); max batch %d", m->name, b, perr,
                        m->plan_size[i - 1]);
            m->nplans = i;
            m->max_batch = m->plan_size[i - 1];
            break;
        }
        const sk_tensor *o = sk_plan_output(m->plans[i], 0);
        if (i == 0 && *task < 0) {
            int spatial = o->shape.rank == 4 && (o->shape.dim[2] > 1 || o->shape.dim[3] > 1);
            *task = spatial ? SRV_TASK_SEGMENT : SRV_TASK_CLASSIFY;
        }
        if (check_output(m, o, b, *task, perr, sizeof perr)) {
            if (i == 0)
                return snprintf(err, errlen, "%s", perr), -1;
            srv_log_msg("%s; max batch %d", perr, m->plan_size[i - 1]);
            sk_plan_free(m->plans[i]);
            m->plans[i] = NULL;
            m->nplans = i;
            m->max_batch = m->plan_size[i - 1];
            break;
        }
        if (i == 0) {
            int64_t per = sk_shape_numel(&o->shape) / b;
            m->out_floats = (size_t)per;
            if (*task == SRV_TASK_SEGMENT) {
                m->nclasses = (int)o->shape.dim[1];
                m->out_h = (int)o->shape.dim[2];
                m->out_w = (int)o->shape.dim[3];
                if (m->nclasses < 1 || m->nclasses > 256)
                    return snprintf(err, errlen, "model %s: %d classes; a mask holds 1..256",
                                    m->name, m->nclasses),
                           -1;
            } else {
                m->nclasses = (int)per;
            }
        }
    }
    /* 2. the smaller plans run in the largest one's arena and scratch: the
     * model's one batcher runs one batch at a time and copies its outputs
     * out before the next (batcher.c), so they never overlap. The model
     * then holds its activations once, not once per batch size (ViT-B/16:
     * 90 -> 47 MiB; the default U-Net 68 -> 34 MiB). Not yet run: their own
     * arenas were never touched. model_free frees the largest plan last. */
    const sk_plan *big = m->plans[m->nplans - 1];
    for (int i = 0; i + 1 < m->nplans; i++) {
        sk_plan *shared = NULL;
        char perr[256];
        if (make_plan(m, srv, m->plan_size[i], big, &shared, perr, sizeof perr) == 0) {
            sk_plan_free(m->plans[i]);
            m->plans[i] = shared;
        }
    }
    /* 3. a warm-up run each: first-touch the arena and any lazily packed
     * weights */
    for (int i = 0; i < m->nplans; i++) {
        int b = m->plan_size[i];
        char perr[256];
        float *zeros = calloc((size_t)b * m->in_floats, sizeof *zeros);
        const void *ins[1] = {zeros};
        pthread_mutex_lock(&srv->engine_lock);
        int r = zeros ? sk_plan_run(m->plans[i], ins, perr, sizeof perr) : SK_ENOMEM;
        pthread_mutex_unlock(&srv->engine_lock);
        free(zeros);
        if (r)
            return snprintf(err, errlen, "model %s: warm-up at batch %d: %s", m->name, b, perr), -1;
    }
    return 0;
}

/* Native size for a segmenter only; and a size that is a multiple of
 * input.multiple must plan: 3 and 5 times it, so that a stride the
 * multiple does not cover shows as a shape mismatch (a Concat of a skip
 * with an up-sampled map) now rather than on a user's image. */
static int check_native(srv_model *m, srv_server *srv, char *err, size_t errlen)
{
    if (m->native && m->task != SRV_TASK_SEGMENT) {
        m->native = 0; /* a classifier's answer does not depend on the image's size */
        srv_plan_cache_free(m->native_cache);
        m->native_cache = NULL;
    }
    if (!m->native)
        return 0;
    sk_plan *probe = NULL;
    char perr[256];
    int ph = 3 * m->native_multiple, pw = 5 * m->native_multiple;
    sk_tensor in = {.dtype = SK_F32,
                    .shape = {.rank = 4, .dim = {1, m->pp.channels, ph, pw}},
                    .data = NULL};
    if (sk_plan_create(m->graph, &in, srv->pool, &probe, perr, sizeof perr))
        return snprintf(err, errlen,
                        "no plan at %dx%d (input.multiple %d times 5 x 3): %s; "
                        "input.multiple must be a multiple of the network's total stride",
                        pw, ph, m->native_multiple, perr),
               -1;
    sk_plan_free(probe);
    srv_log_msg("model %s: symbolic H and W: segments at the image's own size rounded up to "
                "%d, up to %ld pixels (%s beyond)",
                m->name, m->native_multiple, m->native_max_pixels,
                m->out_w == m->pp.width && m->out_h == m->pp.height ? "tiles" : "resized");
    return 0;
}

int srv_model_load(srv_model *m, const srv_config *cfg, srv_server *srv, char *err,
                   size_t errlen)
{
    model_json mj = {.task = -1, .native = -1, .precision = -1};
    json_t *root = NULL;
    int task = -1, rc = -1;
    set_defaults(m, cfg);
    if (read_model_json(m, &mj, &root, err, errlen) || load_graph(m, &mj, cfg, err, errlen) ||
        input_geometry(m, &mj, err, errlen))
        goto out;
    task = mj.task;
    if (make_plans(m, srv, &task, err, errlen))
        goto out;
    m->task = (srv_task)task;
    if (check_native(m, srv, err, errlen))
        goto out;
    if (m->max_queue < m->max_batch)
        m->max_queue = m->max_batch;
    m->apply_softmax = m->task == SRV_TASK_CLASSIFY && !ends_in_softmax(m->graph) &&
                       (!mj.has_softmax || mj.softmax);
    if (load_labels(m, mj.labels, err, errlen))
        goto out;
    m->batcher = srv_batcher_create(m, srv, err, errlen);
    if (!m->batcher)
        goto out;
    rc = 0;
out:
    json_decref(root);
    if (rc) {
        snprintf(m->error, sizeof m->error, "%s", err);
        atomic_store(&m->status, SRV_MODEL_FAILED);
    } else {
        atomic_store(&m->status, SRV_MODEL_READY);
    }
    return rc;
}

static void model_free(srv_model *m)
{
    if (atomic_load(&m->retired)) {
        srv_models *ms = m->owner;
        srv_models_lock(ms);
        for (int i = 0; i < ms->nretired; i++)
            if (ms->retired[i] == m)
                ms->retired[i] = ms->retired[--ms->nretired];
        srv_models_unlock(ms);
        srv_log_msg("model %s version %s: its last request is answered; memory freed", m->name,
                    m->version);
    }
    if (m->batcher)
        srv_batcher_destroy(m->batcher);
    srv_plan_cache_free(m->native_cache);
    for (int i = 0; i < m->nplans; i++) /* in order: the largest, whose arena the others share, last */
        sk_plan_free(m->plans[i]);
    if (m->graph)
        sk_graph_free(m->graph);
    for (int i = 0; m->labels && i < m->nclasses; i++)
        free(m->labels[i]);
    free(m->labels);
    free(m->name);
    free(m->version);
    free(m->onnx_path);
    free(m->json_path);
    free(m->int8_path);
    free(m->dir);
    free(m);
#ifdef __GLIBC__
    /* hand the freed plans and weights back to the system now: a replaced
     * version's memory must not stay in the process's heap */
    malloc_trim(0);
#endif
}

void srv_model_ref(srv_model *m) { atomic_fetch_add(&m->refs, 1); }

void srv_model_unref(srv_model *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        model_free(m);
}
