/* config.c — flags and their environment twins, table-driven so that
 * --help, the environment and argv can never disagree about an option. */
#include "server/config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    OPT_INT, OPT_SIZE, OPT_MS, OPT_STR, OPT_MODEL, OPT_LOGFMT, OPT_FLAG, OPT_PRECISION
} opt_type;

typedef struct opt {
    const char *flag; /* without the leading "--" */
    const char *env;
    opt_type type;
    size_t off;       /* offset of the field in srv_config */
    long long lo, hi; /* range for numbers */
    const char *arg, *help;
} opt;

#define F(field) offsetof(srv_config, field)

const char *srv_precision_name(int p)
{
    return p == SRV_PREC_BF16 ? "bf16" : p == SRV_PREC_INT8 ? "int8" : "fp32";
}

int srv_precision_parse(const char *s)
{
    if (!strcmp(s, "fp32"))
        return SRV_PREC_FP32;
    if (!strcmp(s, "bf16"))
        return SRV_PREC_BF16;
    if (!strcmp(s, "int8"))
        return SRV_PREC_INT8;
    return -1;
}

static const opt OPTS[] = {
    {"port", "SKIPSERVE_PORT", OPT_INT, F(port), 0, 65535, "N",
     "TCP port to listen on (default 8080; 0 picks a free one and logs it)"},
    {"host", "SKIPSERVE_HOST", OPT_STR, F(host), 0, 0, "ADDR",
     "IPv4 or IPv6 address to bind (default 0.0.0.0)"},
    {"models", "SKIPSERVE_MODELS", OPT_STR, F(models_dir), 0, 0, "DIR",
     "model repository: every DIR/<name>/model.onnx is served as <name> (default ./models;\n"
     "                        not scanned when --model is given unless --models is given too)"},
    {"model", "SKIPSERVE_MODEL", OPT_MODEL, F(model_args), 0, 0, "NAME=PATH",
     "serve one model; PATH is a model folder or a .onnx file; repeatable\n"
     "                        (the environment twin takes a comma-separated list)"},
    {"poll-repository", "SKIPSERVE_POLL_REPOSITORY", OPT_INT, F(poll_repository_s), 0, 86400,
     "SECONDS", "rescan --models this often, loading new or changed versions and\n"
     "                        unloading removed ones (default 0: only on SIGHUP)"},
    {"threads", "SKIPSERVE_THREADS", OPT_INT, F(threads), 0, 1024, "N",
     "engine worker threads (default 0 = online CPUs)"},
    {"http-threads", "SKIPSERVE_HTTP_THREADS", OPT_INT, F(http_threads), 0, 1024, "N",
     "HTTP threads: connections, bodies and the cheap routes (default 0 = online CPUs)"},
    {"prep-threads", "SKIPSERVE_PREP_THREADS", OPT_INT, F(prep_threads), 0, 1024, "N",
     "workers that parse, decode and preprocess requests and encode answers\n"
     "                        (default 0 = online CPUs)"},
    {"max-body", "SKIPSERVE_MAX_BODY", OPT_SIZE, F(max_body), 1, (long long)1 << 40, "BYTES",
     "largest request body; k/M/G suffixes are powers of 1024 (default 16M)"},
    {"max-buffered", "SKIPSERVE_MAX_BUFFERED", OPT_SIZE, F(max_buffered), 1, (long long)1 << 42,
     "BYTES", "memory all requests together may hold: bodies, decoded images, tensors and\n"
     "                        answers; a request that would pass it is answered 429 (default 512M)"},
    {"max-pixels", "SKIPSERVE_MAX_PIXELS", OPT_SIZE, F(max_pixels), 1, (long long)1 << 40, "N",
     "largest image (width*height), checked from the header (default 40000000)"},
    {"timeout-ms", "SKIPSERVE_TIMEOUT_MS", OPT_INT, F(timeout_ms), 1, INT_MAX, "MS",
     "a request still queued this long after arrival is answered 504 (default 10000)"},
    {"drain-timeout", "SKIPSERVE_DRAIN_TIMEOUT", OPT_MS, F(drain_timeout_ms), 0, INT_MAX, "DUR",
     "on SIGTERM/SIGINT, time to finish accepted work; 30, 30s or 500ms (default 30s)"},
    {"max-batch", "SKIPSERVE_MAX_BATCH", OPT_INT, F(max_batch), 1, 256, "N",
     "default largest batch (model.json batching.max_batch overrides; default 8)"},
    {"max-delay-us", "SKIPSERVE_MAX_DELAY_US", OPT_INT, F(max_delay_us), 0, 10000000, "US",
     "default longest wait to fill a batch (model.json overrides; default 2000)"},
    {"max-queue", "SKIPSERVE_MAX_QUEUE", OPT_INT, F(max_queue), 1, 1000000, "N",
     "default queue capacity in images; beyond it 429 (model.json overrides; default 256)"},
    {"log-format", "SKIPSERVE_LOG_FORMAT", OPT_LOGFMT, F(log_json), 0, 0, "text|json",
     "access log line format on stdout (default text)"},
    {"max-connections", "SKIPSERVE_MAX_CONNECTIONS", OPT_INT, F(max_connections), 1, 1000000,
     "N", "concurrent connections; more are refused at accept; the descriptor limit\n"
     "                        is raised to fit (default 4096)"},
    {"conn-timeout", "SKIPSERVE_CONN_TIMEOUT", OPT_INT, F(conn_timeout_s), 1, 86400, "S",
     "close a connection idle this many seconds: no byte received or sent\n"
     "                        (default 30)"},
    {"api-keys", "SKIPSERVE_API_KEYS", OPT_STR, F(api_keys), 0, 0, "FILE",
     "require \"Authorization: Bearer KEY\" with a KEY from FILE (one per line, # comments;\n"
     "                        16-256 characters); without it, no access control"},
    {"auth-open", "SKIPSERVE_AUTH_OPEN", OPT_STR, F(auth_open), 0, 0, "PATHS",
     "comma-separated paths answered without a key when --api-keys is set\n"
     "                        (default /healthz,/readyz,/v2/health/live,/v2/health/ready;\n"
     "                        add /metrics for a Prometheus without a token)"},
    {"tls-cert", "SKIPSERVE_TLS_CERT", OPT_STR, F(tls_cert), 0, 0, "FILE",
     "serve HTTPS with this PEM certificate (chain) and --tls-key; most deployments\n"
     "                        terminate TLS at the ingress instead"},
    {"tls-key", "SKIPSERVE_TLS_KEY", OPT_STR, F(tls_key), 0, 0, "FILE",
     "the PEM private key of --tls-cert"},
    {"precision", "SKIPSERVE_PRECISION", OPT_PRECISION, F(precision), 0, 0, "fp32|bf16|int8",
     "arithmetic of every model, over model.json's \"precision\": bf16 needs AVX512-BF16\n"
     "                        (else FP32, logged); int8 loads model.json's \"int8_model\" file\n"
     "                        (a model without one stays FP32, logged). Default: model.json's"},
    {"no-ui", "SKIPSERVE_NO_UI", OPT_FLAG, F(no_ui), 0, 0, "",
     "no demo page at / and /ui (takes no value; the environment twin takes 1 or 0)"},
};
#define NOPTS (sizeof OPTS / sizeof OPTS[0])

void srv_config_usage(FILE *f)
{
    fprintf(f, "usage: skipserve [options]\n"
               "HTTP inference server for ONNX ResNet / U-Net models (see server/README.md).\n\n"
               "Every option also reads an environment variable (shown in brackets);\n"
               "a flag on the command line wins over the environment.\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        char head[64];
        snprintf(head, sizeof head, "--%s %s", OPTS[i].flag, OPTS[i].arg);
        fprintf(f, "  %-20s  %s\n  %-20s  [%s]\n", head, OPTS[i].help, "", OPTS[i].env);
    }
    fprintf(f, "  %-20s  %s\n", "--help", "print this help and exit");
    fprintf(f, "  %-20s  %s\n", "--version", "print the version and exit");
}

/* "16M", "40000000", "1k": k/M/G (optionally followed by i/iB/B) are 1024-based. */
static int parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (shift) {
        if (*end == 'i')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
    }
    if (*end)
        return -1;
    if (shift && v > (ULLONG_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

/* "30" and "30s" are seconds, "500ms" milliseconds. */
static int parse_ms(const char *s, long long *out)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        return -1;
    double v = strtod(s, &end);
    if (errno || end == s)
        return -1;
    if (strcmp(end, "ms") == 0)
        ;
    else if (*end == '\0' || strcmp(end, "s") == 0)
        v *= 1000.0;
    else
        return -1;
    if (v > INT_MAX)
        return -1;
    *out = (long long)v;
    return 0;
}

int srv_model_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > SRV_MODEL_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];
        if (!(('a' <= ch && ch <= 'z') || ('A' <= ch && ch <= 'Z') || ('0' <= ch && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.'))
            return 0;
    }
    return 1;
}

static int add_model_arg(srv_config *c, const char *spec, char *err, size_t errlen)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) {
        snprintf(err, errlen, "--model wants NAME=PATH, got \"%s\"", spec);
        return -1;
    }
    if (!srv_model_name_ok(spec, (size_t)(eq - spec))) {
        snprintf(err, errlen, "model name \"%.*s\" may hold only letters, digits, - _ . (at most %d)",
                 (int)(eq - spec), spec, SRV_MODEL_NAME_MAX);
        return -1;
    }
    srv_model_arg *m = realloc(c->model_args, (size_t)(c->nmodel_args + 1) * sizeof *m);
    if (!m)
        return -1;
    c->model_args = m;
    m[c->nmodel_args].name = strndup(spec, (size_t)(eq - spec));
    m[c->nmodel_args].path = strdup(eq + 1);
    c->nmodel_args++;
    return 0;
}

static int set_opt(srv_config *c, const opt *o, const char *val, const char *from, char *err,
                   size_t errlen)
{
    char *field = (char *)c + o->off;
    switch (o->type) {
    case OPT_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end || v < o->lo || v > o->hi) {
            snprintf(err, errlen, "%s: \"%s\" is not an integer in %lld..%lld", from, val, o->lo,
                     o->hi);
            return -1;
        }
        *(int *)(void *)field = (int)v;
        return 0;
    }
    case OPT_SIZE: {
        unsigned long long v;
        if (parse_size(val, &v) || v < (unsigned long long)o->lo ||
            v > (unsigned long long)o->hi) {
            snprintf(err, errlen, "%s: \"%s\" is not a size in %lld..%lld", from, val, o->lo,
                     o->hi);
            return -1;
        }
        *(size_t *)(void *)field = (size_t)v;
        return 0;
    }
    case OPT_MS: {
        long long v;
        if (parse_ms(val, &v)) {
            snprintf(err, errlen, "%s: \"%s\" is not a duration (30, 30s, 500ms)", from, val);
            return -1;
        }
        *(int *)(void *)field = (int)v;
        return 0;
    }
    case OPT_STR: {
        char **s = (char **)(void *)field;
        free(*s);
        *s = strdup(val);
        if (o->off == F(models_dir))
            c->models_dir_set = 1;
        return 0;
    }
    case OPT_MODEL: {
        /* The environment twin holds a comma-separated list. */
        char *copy = strdup(val), *save = NULL;
        int rc = 0;
        for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save))
            rc = add_model_arg(c, tok, err, errlen);
        free(copy);
        return rc;
    }
    case OPT_FLAG:
        if (strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0)
            *(int *)(void *)field = 1;
        else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0 || strcmp(val, "no") == 0)
            *(int *)(void *)field = 0;
        else {
            snprintf(err, errlen, "%s: want 1 or 0, got \"%s\"", from, val);
            return -1;
        }
        return 0;
    case OPT_PRECISION:
        if ((c->precision = srv_precision_parse(val)) < 0) {
            snprintf(err, errlen, "%s: precision must be fp32, bf16 or int8, got \"%s\"", from,
                     val);
            return -1;
        }
        return 0;
    case OPT_LOGFMT:
        if (strcmp(val, "text") == 0)
            c->log_json = 0;
        else if (strcmp(val, "json") == 0)
            c->log_json = 1;
        else {
            snprintf(err, errlen, "%s: log format must be text or json, got \"%s\"", from, val);
            return -1;
        }
        return 0;
    }
    return -1;
}

int srv_config_parse(srv_config *c, int argc, char **argv, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->port = 8080;
    c->host = strdup("0.0.0.0");
    c->models_dir = strdup("./models");
    c->max_body = (size_t)16 << 20;
    c->max_pixels = 40000000;
    c->max_buffered = (size_t)512 << 20;
    c->timeout_ms = 10000;
    c->drain_timeout_ms = 30000;
    c->max_batch = 8;
    c->max_delay_us = 2000;
    c->max_queue = 256;
    c->max_connections = 4096;
    c->conn_timeout_s = 30;
    c->auth_open = strdup("/healthz,/readyz,/v2/health/live,/v2/health/ready");
    c->precision = -1;

    for (size_t i = 0; i < NOPTS; i++) {
        const char *v = getenv(OPTS[i].env);
        if (v && *v && set_opt(c, &OPTS[i], v, OPTS[i].env, err, errlen))
            return -1;
    }
    /* A --model on the command line replaces the environment's list. */
    int argv_models = 0;
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            srv_config_usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("skipserve 0.1\n");
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", arg);
            return -1;
        }
        const char *name = arg + 2, *val = NULL;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const opt *o = NULL;
        for (size_t i = 0; i < NOPTS; i++)
            if (strlen(OPTS[i].flag) == nlen && strncmp(OPTS[i].flag, name, nlen) == 0)
                o = &OPTS[i];
        if (!o) {
            snprintf(err, errlen, "unknown option \"%s\" (see --help)", arg);
            return -1;
        }
        if (eq)
            val = eq + 1;
        else if (o->type == OPT_FLAG)
            val = "1";
        else if (a + 1 < argc)
            val = argv[++a];
        else {
            snprintf(err, errlen, "option --%s needs a value", o->flag);
            return -1;
        }
        if (o->type == OPT_MODEL && !argv_models) {
            for (int i = 0; i < c->nmodel_args; i++) {
                free(c->model_args[i].name);
                free(c->model_args[i].path);
            }
            c->nmodel_args = 0;
            argv_models = 1;
            if (add_model_arg(c, val, err, errlen))
                return -1;
            continue;
        }
        if (o->type == OPT_MODEL) {
            if (add_model_arg(c, val, err, errlen))
                return -1;
            continue;
        }
        char from[64];
        snprintf(from, sizeof from, "--%s", o->flag);
        if (set_opt(c, o, val, from, err, errlen))
            return -1;
    }
    if (!c->tls_cert != !c->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together (%s given alone)",
                 c->tls_cert ? "--tls-cert" : "--tls-key");
        return -1;
    }
    return 0;
}

void srv_config_free(srv_config *c)
{
    free(c->host);
    free(c->models_dir);
    for (int i = 0; i < c->nmodel_args; i++) {
        free(c->model_args[i].name);
        free(c->model_args[i].path);
    }
    free(c->model_args);
    free(c->api_keys);
    free(c->auth_open);
    free(c->tls_cert);
    free(c->tls_key);
    memset(c, 0, sizeof *c);
}
