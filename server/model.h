/* model.h — the model repository: find models, read model.json (defaults
 * from the ONNX input shape), labels, and the cache of plans per batch size. */
#ifndef SRV_MODEL_H
#define SRV_MODEL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/graph.h"
#include "engine/plan.h"
#include "loaders/image.h"
#include "server/server.h"

typedef enum { SRV_TASK_CLASSIFY = 0, SRV_TASK_SEGMENT = 1 } srv_task;
const char *srv_task_name(srv_task t);

typedef enum { SRV_MODEL_LOADING = 0, SRV_MODEL_READY = 1, SRV_MODEL_FAILED = 2 } srv_model_status;

#define SRV_MAX_PLANS 16

/* the loaders' invert policy (loaders/image.h sk_invert), value for value */
typedef enum {
    SRV_INVERT_NO = SK_INVERT_NO,
    SRV_INVERT_YES = SK_INVERT_YES,
    SRV_INVERT_AUTO = SK_INVERT_AUTO
} srv_invert;

/* Triton's statistics extension, per model version: a count and the
 * nanoseconds spent, cumulative since load. */
typedef struct srv_stat {
    atomic_ullong n, ns;
} srv_stat;

typedef struct srv_model_stats {
    /* per request that reached the model: success / fail (arrival to
     * answer), queue, compute_input (parse + decode + preprocess),
     * compute_infer (its batch's engine time), compute_output (answer) */
    srv_stat success, fail, queue, compute_input, compute_infer, compute_output;
    atomic_ullong inference_count; /* images run */
    atomic_ullong execution_count; /* engine runs */
    atomic_llong last_inference_ms; /* wall clock, ms since the epoch */
    srv_stat batch[SRV_MAX_PLANS];  /* engine runs and time per plan (batch size) */
} srv_model_stats;

void srv_stat_add(srv_stat *s, double seconds);
/* One request's figures (seconds), as it is answered. */
void srv_model_stats_request(srv_model_stats *st, int ok, double total, double queue,
                             double input, double infer, double output);

typedef struct srv_model {
    char *name;
    char *version;   /* "1" in the flat layout, else its folder's name (digits) */
    char stamp[160]; /* size and mtime of model.onnx and model.json at load (and
                        of int8_path, once chosen): a rescan reloads the
                        version when they change */
    int fixed;       /* from --model: rescans leave it alone */
    atomic_int retired; /* taken out of the list (a reload replaced it) */
    struct srv_models *owner; /* the list it was added to (for its retired list) */
    atomic_int refs; /* the list's reference, plus one per request or reader
                        holding it; the last srv_model_unref frees it */
    char *onnx_path;
    char *json_path; /* may not exist */
    char *int8_path; /* precision int8: the file loaded instead of model.onnx
                        (model.json's int8_model), else NULL; in the stamp */
    char *dir;       /* labels and other relative paths resolve here */
    atomic_int status; /* srv_model_status; fields below are valid once READY */
    char error[256];

    srv_task task;
    int precision;   /* srv_precision the model runs at (after any fallback) */
    int bf16_convs;  /* convolutions on the BF16 kernels (precision bf16) */
    sk_graph *graph;
    sk_preprocess pp;
    srv_invert invert;
    uint8_t background[3]; /* alpha is composited over this */
    size_t in_floats;      /* C*H*W per image */

    int nclasses;
    char **labels;        /* nclasses entries */
    int apply_softmax;
    int out_h, out_w;     /* segment: spatial size of the logits */
    size_t out_floats;    /* per image */

    int tile_default;  /* model.json tiling.default: /segment tiles unless tile=0 */
    int tile_overlap;  /* pixels between neighbouring tiles (tiling.overlap) */
    int tile_window;   /* srv_window (tiling.window) */

    /* Native size (native.h): an ONNX input with symbolic H and W runs at
     * each image's own size, rounded up to native_multiple, with plans
     * from native_cache. native_max_pixels: past it, tiles or a resize. */
    int native;             /* model.json input.native; on by default when H, W are symbolic */
    int native_multiple;    /* input.multiple (default 32) */
    long native_max_pixels; /* input.native_max_pixels, of the rounded size */
    struct srv_plan_cache *native_cache;

    int max_batch, max_delay_us, max_queue;
    int idle_dispatch; /* run the queue at once when no other request is on its way */
    int nplans;
    int plan_size[SRV_MAX_PLANS]; /* ascending; the last is max_batch */
    sk_plan *plans[SRV_MAX_PLANS];

    struct srv_batcher *batcher;
    srv_model_stats stats;
} srv_model;

/* The models being served. Reloads (repository.c) add and remove entries
 * while requests run: m and n are read and changed under lock only, and a
 * model outlives its removal until the last request holding it is done. */
typedef struct srv_models {
    srv_model **m;
    int n;
    /* taken out of the list, still held by requests: drain stops their
     * batchers too (a model leaves this list when it is freed) */
    srv_model **retired;
    int nretired;
    pthread_mutex_t lock;
} srv_models;

/* Stop every batcher, listed or retired (abort: answer queued jobs 503
 * now), then join them: no request stays queued (drain, main.c). */
void srv_models_stop_all(srv_models *ms, int abort);

void srv_models_lock(srv_models *ms);
void srv_models_unlock(srv_models *ms);
/* A new, unloaded model (refs 1). path: a folder or a .onnx file; parent
 * (may be NULL): the <name> folder of a versioned layout, whose model.json
 * and labels.txt serve when the version folder has none. */
srv_model *srv_model_new(const char *name, const char *version, const char *path,
                         const char *parent);
void srv_model_ref(srv_model *m);
/* Drop a reference; the last one frees the model (its batcher is stopped
 * and joined first: no job can be queued on it any more). */
void srv_model_unref(srv_model *m);
/* Append m (taking over its reference) under the lock. */
int srv_models_add(srv_models *ms, srv_model *m);
/* Take m out of the list (under the lock) and drop the list's reference;
 * requests holding it finish on it. */
void srv_models_remove(srv_models *ms, srv_model *m);
/* -1, 0, 1 as version a sorts before, equal to, after b (numerically). */
int srv_version_cmp(const char *a, const char *b);
/* The stamp of m's files now (compare with m->stamp). */
void srv_model_stamp(const srv_model *m, char *out, size_t n);

/* Wake every ready model's batcher (srv_batcher_kick). */
void srv_models_kick(srv_models *ms);

/* Build the list from --models / --model without loading anything. */
int srv_models_scan(const srv_config *cfg, srv_models *out, char *err, size_t errlen);
/* Read model.json, the ONNX file and labels; create and warm every plan. */
int srv_model_load(srv_model *m, const srv_config *cfg, srv_server *srv, char *err,
                   size_t errlen);
void srv_models_free(srv_models *ms);

/* Model for a request, with a reference taken (srv_model_unref it when
 * done): by name (its newest ready version), or the only ready model of
 * `task` when name is NULL/empty. Fills e on failure. */
srv_model *srv_models_pick(srv_models *ms, const char *name, srv_task task, srv_error *e);

/* Model `name` at `version` (NULL or "": the newest ready one), ready,
 * with a reference taken; NULL with e filled: 404 unknown name or version,
 * 503 loading or failed. */
srv_model *srv_models_find(srv_models *ms, const char *name, const char *version, srv_error *e);

/* Plan index and batch size to use for `n` waiting images (<= max_batch). */
int srv_model_plan_for(const srv_model *m, int n);

#endif
