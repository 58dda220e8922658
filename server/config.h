/* config.h — command-line flags, each with an environment twin. */
#ifndef SRV_CONFIG_H
#define SRV_CONFIG_H

#include <stddef.h>
#include <stdio.h>

typedef struct srv_model_arg {
    char *name;
    char *path; /* a model folder or a .onnx file */
} srv_model_arg;

/* Arithmetic precision of a model (model.json "precision", --precision). */
typedef enum { SRV_PREC_FP32 = 0, SRV_PREC_BF16 = 1, SRV_PREC_INT8 = 2 } srv_precision;
const char *srv_precision_name(int p); /* "fp32" | "bf16" | "int8" */
int srv_precision_parse(const char *s); /* the name's srv_precision, or -1 */

typedef struct srv_config {
    int port;
    char *host;
    char *models_dir;
    int models_dir_set;    /* --models / SKIPSERVE_MODELS given explicitly */
    srv_model_arg *model_args;
    int nmodel_args;
    int poll_repository_s; /* rescan --models every this many seconds; 0 = only on SIGHUP */
    int threads;           /* engine pool; 0 = online CPUs */
    int http_threads;      /* 0 = online CPUs */
    int prep_threads;      /* 0 = online CPUs */
    size_t max_body;
    size_t max_pixels;
    size_t max_buffered;   /* all requests together: bodies, images, tensors, answers */
    int timeout_ms;
    int drain_timeout_ms;
    int max_batch, max_delay_us, max_queue; /* model.json overrides */
    int log_json;
    int max_connections;
    int conn_timeout_s;
    char *api_keys;        /* key file (auth.h); NULL: no access control */
    char *auth_open;       /* paths that need no key, comma-separated */
    char *tls_cert, *tls_key; /* PEM files; both or neither */
    int no_ui;             /* --no-ui: no demo page at / and /ui */
    int precision;         /* --precision: srv_precision for every model; -1: model.json's */
} srv_config;

/* Defaults, then environment, then argv (later wins). Returns 0, 1 when
 * --help / --version was printed (exit 0), or -1 with err filled. */
int srv_config_parse(srv_config *c, int argc, char **argv, char *err, size_t errlen);
void srv_config_free(srv_config *c);

/* A model name the API, logs and metric labels can carry unescaped: 1 to
 * SRV_MODEL_NAME_MAX characters of letters, digits, '-', '_', '.'. Names
 * from --model and from the repository's folder names alike. */
#define SRV_MODEL_NAME_MAX 128
int srv_model_name_ok(const char *name, size_t len);
void srv_config_usage(FILE *f);

#endif
