/* repository.h — the model repository: what --models and --model name
 * (Triton's layout <name>/<version>/model.onnx with a version policy, or
 * the flat <name>/model.onnx, served as version 1), and live changes to
 * the served set: rescans (SIGHUP, --poll-repository) and the KServe
 * load / unload requests, run one at a time on one repository thread.
 *
 * A new or changed version is loaded and warmed beside what is served,
 * then put in the list; a replaced or removed version leaves the list at
 * once, and the requests that already hold it finish on it; its memory
 * goes with the last of them (srv_model_unref). */
#ifndef SRV_REPOSITORY_H
#define SRV_REPOSITORY_H

#include "server/config.h"
#include "server/server.h"

typedef struct srv_repo_entry {
    char *name, *version;
    char *path;   /* a model folder or a .onnx file */
    char *parent; /* the <name> folder of a versioned layout, else NULL */
    int fixed;    /* from --model */
} srv_repo_entry;

/* Every model version to serve, sorted by name then version: --model's
 * (version 1), then the folders of --models (when scanned, see config.h).
 * only: one model name, or NULL for all. 0, or -1 with err filled (the
 * repository folder cannot be read and no --model is given). */
int srv_repo_list(const srv_config *cfg, const char *only, srv_repo_entry **out, int *n,
                  char *err, size_t errlen);
void srv_repo_entries_free(srv_repo_entry *e, int n);

typedef enum { SRV_REPO_RESCAN = 0, SRV_REPO_LOAD, SRV_REPO_UNLOAD } srv_repo_op;

/* Start the repository thread (polling every cfg->poll_repository_s
 * seconds when > 0). 0 or -1. */
int srv_repo_start(srv_server *srv);
/* Finish the operation under way, answer the queued ones 503, join; later
 * submits are refused. Idempotent. */
void srv_repo_stop(srv_server *srv);
/* Stop, then free (once no HTTP thread can submit: after the daemon stops). */
void srv_repo_free(srv_server *srv);
/* Queue an operation. name: the model for LOAD / UNLOAD. done (may be
 * NULL) is called once on the repository thread with the outcome (kind
 * SRV_OK, or why not). Returns 0, or -1 when the thread is not running
 * (done is not called). */
int srv_repo_submit(srv_server *srv, srv_repo_op op, const char *name,
                    void (*done)(void *ctx, const srv_error *e), void *ctx);

#endif
