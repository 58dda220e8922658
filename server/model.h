/* model.h — the model repository: find models, read model.json (defaults
 * from the ONNX input shape), labels, and the cache of plans per batch size. */
#ifndef SRV_MODEL_H
#define SRV_MODEL_H

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

typedef enum { SRV_INVERT_NO = 0, SRV_INVERT_YES = 1, SRV_INVERT_AUTO = 2 } srv_invert;

typedef struct srv_model {
    char *name;
    char *onnx_path;
    char *json_path; /* may not exist */
    char *dir;       /* labels and other relative paths resolve here */
    atomic_int status; /* srv_model_status; fields below are valid once READY */
    char error[256];

    srv_task task;
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

    int max_batch, max_delay_us, max_queue;
    int idle_dispatch; /* run the queue at once when no other request is on its way */
    int nplans;
    int plan_size[SRV_MAX_PLANS]; /* ascending; the last is max_batch */
    sk_plan *plans[SRV_MAX_PLANS];

    struct srv_batcher *batcher;
} srv_model;

typedef struct srv_models {
    srv_model **m;
    int n;
} srv_models;

/* Wake every ready model's batcher (srv_batcher_kick). */
void srv_models_kick(srv_models *ms);

/* Build the list from --models / --model without loading anything. */
int srv_models_scan(const srv_config *cfg, srv_models *out, char *err, size_t errlen);
/* Read model.json, the ONNX file and labels; create and warm every plan. */
int srv_model_load(srv_model *m, const srv_config *cfg, srv_server *srv, char *err,
                   size_t errlen);
void srv_models_free(srv_models *ms);

/* Model for a request: by name, or the only ready model of `task` when
 * name is NULL/empty. Fills e on failure. */
srv_model *srv_models_pick(const srv_models *ms, const char *name, srv_task task, srv_error *e);

/* Plan index and batch size to use for `n` waiting images (<= max_batch). */
int srv_model_plan_for(const srv_model *m, int n);

#endif
