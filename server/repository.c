/* repository.c — the model repository's layout and version policy, and
 * the thread that applies changes to the served models while they serve.
 *
 * Layout, per folder <name> of --models:
 *   <name>/<version>/model.onnx   versions: positive integers; model.json
 *                                 and labels.txt from the version folder,
 *                                 else from <name>/ (Triton keeps config
 *                                 beside the versions)
 *   <name>/model.onnx             the flat layout: version 1
 * <name>/model.json's "version_policy" picks versions as Triton's does:
 *   {"latest": {"num_versions": N}} (default N = 1), {"all": {}},
 *   {"specific": {"versions": [1, 3]}}. */
#include "server/repository.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "server/log.h"
#include "server/model.h"

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

static int file_in(const char *dir, const char *name)
{
    char *p = join(dir, name);
    struct stat st;
    int ok = p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return ok;
}

/* A version folder's name: 1 to 18 digits, no leading zero. */
static int version_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || s[0] == '0')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int push(srv_repo_entry **v, int *n, const char *name, const char *version,
                const char *path, const char *parent, int fixed)
{
    srv_repo_entry *p = realloc(*v, (size_t)(*n + 1) * sizeof *p);
    if (!p)
        return -1;
    *v = p;
    srv_repo_entry *e = &p[(*n)++];
    e->name = strdup(name);
    e->version = strdup(version);
    e->path = strdup(path);
    e->parent = parent ? strdup(parent) : NULL;
    e->fixed = fixed;
    return e->name && e->version && e->path && (!parent || e->parent) ? 0 : -1;
}

void srv_repo_entries_free(srv_repo_entry *e, int n)
{
    for (int i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].version);
        free(e[i].path);
        free(e[i].parent);
    }
    free(e);
}

static int cmp_version(const void *a, const void *b)
{
    return srv_version_cmp(*(char *const *)a, *(char *const *)b);
}

/* Which of the sorted versions v[0..n) the policy in <dir>/model.json
 * keeps: keep[i] = 1. A policy that does not parse keeps the latest, with
 * a log line. */
static void apply_policy(const char *name, const char *dir, char **v, int n, int *keep)
{
    for (int i = 0; i < n; i++)
        keep[i] = i == n - 1; /* default: latest 1 */
    char *path = join(dir, "model.json");
    json_t *root = path ? json_load_file(path, 0, NULL) : NULL;
    free(path);
    json_t *pol = json_object_get(root, "version_policy");
    if (!pol) {
        json_decref(root);
        return;
    }
    json_t *latest = json_object_get(pol, "latest"), *all = json_object_get(pol, "all"),
           *spec = json_object_get(pol, "specific");
    json_t *num = json_object_get(latest, "num_versions"), *list = json_object_get(spec, "versions");
    if (json_is_object(all)) {
        for (int i = 0; i < n; i++)
            keep[i] = 1;
    } else if (json_is_integer(num) && json_integer_value(num) >= 1) {
        for (int i = 0; i < n; i++)
            keep[i] = n - i <= json_integer_value(num);
    } else if (json_is_array(list)) {
        for (int i = 0; i < n; i++) {
            keep[i] = 0;
            for (size_t k = 0; k < json_array_size(list); k++) {
                json_t *x = json_array_get(list, k);
                char b[24];
                snprintf(b, sizeof b, "%lld", json_is_integer(x) ? (long long)json_integer_value(x) : -1LL);
                keep[i] |= strcmp(b, v[i]) == 0;
            }
        }
    } else {
        srv_log_msg("model %s: model.json version_policy must be {\"latest\": {\"num_versions\": "
                    "N}}, {\"all\": {}} or {\"specific\": {\"versions\": [...]}}; serving the "
                    "latest version",
                    name);
    }
    json_decref(root);
}

/* One folder of the repository: its versions, or the flat layout. */
static int scan_model(const char *name, const char *dir, srv_repo_entry **out, int *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char **v = NULL;
    int nv = 0, rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!version_ok(de->d_name))
            continue;
        char *sub = join(dir, de->d_name);
        if (sub && file_in(sub, "model.onnx")) {
            char **p = realloc(v, (size_t)(nv + 1) * sizeof *p);
            if (p && (p[nv] = strdup(de->d_name)))
                v = p, nv++;
            else if (p)
                v = p;
        }
        free(sub);
    }
    closedir(d);
    if (nv == 0) {
        if (file_in(dir, "model.onnx"))
            rc = push(out, n, name, "1", dir, NULL, 0);
        free(v);
        return rc;
    }
    qsort(v, (size_t)nv, sizeof *v, cmp_version);
    int *keep = calloc((size_t)nv, sizeof *keep);
    if (keep)
        apply_policy(name, dir, v, nv, keep);
    for (int i = 0; i < nv; i++) {
        if (keep && keep[i] && rc == 0) {
            char *sub = join(dir, v[i]);
            rc = sub ? push(out, n, name, v[i], sub, dir, 0) : -1;
            free(sub);
        }
        free(v[i]);
    }
    free(keep);
    free(v);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    const srv_repo_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : srv_version_cmp(x->version, y->version);
}

int srv_repo_list(const srv_config *cfg, const char *only, srv_repo_entry **out, int *n,
                  char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    for (int i = 0; i < cfg->nmodel_args; i++) {
        const srv_model_arg *a = &cfg->model_args[i];
        struct stat st;
        if (only && strcmp(only, a->name) != 0)
            continue;
        if (stat(a->path, &st) != 0) {
            snprintf(err, errlen, "--model %s=%s: no such file or folder", a->name, a->path);
            srv_repo_entries_free(*out, *n);
            *out = NULL, *n = 0;
            return -1;
        }
        if (push(out, n, a->name, "1", a->path, NULL, 1))
            goto oom;
    }
    if (cfg->nmodel_args && !cfg->models_dir_set)
        goto done;
    DIR *d = opendir(cfg->models_dir);
    if (!d) {
        if (cfg->nmodel_args == 0) {
            snprintf(err, errlen, "model repository %s: %s", cfg->models_dir, strerror(errno));
            srv_repo_entries_free(*out, *n);
            *out = NULL, *n = 0;
            return -1;
        }
        goto done;
    }
    struct dirent *de;
    int fixed = *n;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || (only && strcmp(only, de->d_name) != 0))
            continue;
        if (!srv_model_name_ok(de->d_name, strlen(de->d_name))) {
            /* it would break metric label values and log lines */
            char shown[44];
            size_t k = 0;
            for (; de->d_name[k] && k < 40; k++)
                shown[k] = srv_model_name_ok(de->d_name + k, 1) ? de->d_name[k] : '?';
            shown[k] = '\0';
            srv_log_msg("model repository: skipping folder \"%s%s\": a model name may hold only "
                        "letters, digits, - _ . (at most %d)",
                        shown, de->d_name[k] ? "..." : "", SRV_MODEL_NAME_MAX);
            continue;
        }
        int dup = 0; /* --model wins over a folder of the same name */
        for (int j = 0; j < fixed; j++)
            dup |= strcmp((*out)[j].name, de->d_name) == 0;
        char *sub = dup ? NULL : join(cfg->models_dir, de->d_name);
        if (sub && scan_model(de->d_name, sub, out, n)) {
            free(sub);
            closedir(d);
            goto oom;
        }
        free(sub);
    }
    closedir(d);
done:
    if (*n > 1)
        qsort(*out, (size_t)*n, sizeof **out, cmp_entry);
    return 0;
oom:
    snprintf(err, errlen, "out of memory listing the model repository");
    srv_repo_entries_free(*out, *n);
    *out = NULL, *n = 0;
    return -1;
}

/* --- the repository thread ------------------------------------------------ */

typedef struct repo_job {
    struct repo_job *next;
    srv_repo_op op;
    char name[SRV_MODEL_NAME_MAX + 1];
    void (*done)(void *ctx, const srv_error *e);
    void *ctx;
} repo_job;

struct srv_repo {
    srv_server *srv;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    repo_job *head, *tail;
    int stop;
    /* names unloaded by request: rescans leave them out until a load */
    char **unloaded;
    int nunloaded;
};

static int is_unloaded(struct srv_repo *rp, const char *name)
{
    for (int i = 0; i < rp->nunloaded; i++)
        if (strcmp(rp->unloaded[i], name) == 0)
            return i;
    return -1;
}

/* Load one version beside what is served; on success it replaces every
 * other entry of the same name and version. */
static int load_version(srv_server *srv, const srv_repo_entry *en, srv_error *e)
{
    srv_models *ms = srv->models;
    srv_model *m = srv_model_new(en->name, en->version, en->path, en->parent);
    if (!m)
        return srv_fail(e, SRV_E_INTERNAL, "out of memory"), -1;
    m->fixed = en->fixed;
    srv_model_ref(m); /* ours, beside the list's */
    if (srv_models_add(ms, m)) {
        srv_model_unref(m);
        srv_model_unref(m);
        return srv_fail(e, SRV_E_INTERNAL, "out of memory"), -1;
    }
    char err[512];
    double t0 = srv_now();
    int rc = srv_model_load(m, srv->cfg, srv, err, sizeof err);
    /* the others of this name and version: replaced (success), or older
     * failed attempts (failure; a served version stays) */
    for (;;) {
        srv_model *old = NULL;
        srv_models_lock(ms);
        for (int i = 0; i < ms->n && !old; i++) {
            srv_model *x = ms->m[i];
            if (x != m && strcmp(x->name, m->name) == 0 && strcmp(x->version, m->version) == 0 &&
                (rc == 0 || atomic_load(&x->status) == SRV_MODEL_FAILED))
                old = x;
        }
        srv_models_unlock(ms);
        if (!old)
            break;
        srv_models_remove(ms, old); /* its last request frees it */
    }
    if (rc) {
        srv_log_msg("model %s version %s: %s", m->name, m->version, err);
        srv_fail(e, SRV_E_BAD_REQUEST, "model %s version %s failed to load: %.180s", m->name,
                 m->version, err);
    } else {
        srv_log_msg("model %s version %s: %s, input %dx%dx%d, loaded and warmed in %.0f ms; "
                    "serving",
                    m->name, m->version, srv_task_name(m->task), m->pp.channels, m->pp.height,
                    m->pp.width, (srv_now() - t0) * 1e3);
    }
    srv_model_unref(m);
    return rc ? -1 : 0;
}

/* Bring the served set of `only` (NULL: every model not unloaded by
 * request) in line with the repository. */
static int apply(struct srv_repo *rp, const char *only, int force, srv_error *e)
{
    srv_server *srv = rp->srv;
    srv_models *ms = srv->models;
    srv_repo_entry *en = NULL;
    int n = 0, failed = 0;
    char err[512];
    if (srv_repo_list(srv->cfg, only, &en, &n, err, sizeof err)) {
        srv_log_msg("rescan: %s", err);
        return srv_fail(e, SRV_E_INTERNAL, "%s", err), -1;
    }
    if (only && n == 0) {
        srv_fail(e, SRV_E_UNKNOWN_MODEL, "no model %s in the repository (%s)", only,
                 srv->cfg->models_dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (!only && is_unloaded(rp, en[i].name) >= 0)
            continue;
        /* already served (or failed) from these very files: nothing to do */
        char stamp[sizeof ms->m[0]->stamp];
        int same = 0;
        srv_models_lock(ms);
        for (int k = 0; k < ms->n; k++) {
            srv_model *x = ms->m[k];
            if (strcmp(x->name, en[i].name) || strcmp(x->version, en[i].version))
                continue;
            srv_model_stamp(x, stamp, sizeof stamp);
            int st = atomic_load(&x->status);
            same |= strcmp(stamp, x->stamp) == 0 &&
                    (st == SRV_MODEL_READY || (st == SRV_MODEL_FAILED && !force));
        }
        srv_models_unlock(ms);
        if (same)
            continue;
        failed |= load_version(srv, &en[i], e) != 0;
    }
    /* served versions the repository no longer names */
    for (;;) {
        srv_model *gone = NULL;
        srv_models_lock(ms);
        for (int k = 0; k < ms->n && !gone; k++) {
            srv_model *x = ms->m[k];
            if ((only && strcmp(x->name, only)) || x->fixed)
                continue;
            int want = 0;
            for (int i = 0; i < n && !want; i++)
                want = !strcmp(en[i].name, x->name) && !strcmp(en[i].version, x->version) &&
                       (only || is_unloaded(rp, x->name) < 0);
            if (!want)
                gone = x;
        }
        srv_models_unlock(ms);
        if (!gone)
            break;
        srv_log_msg("model %s version %s: no longer in the repository; unloading once its "
                    "requests are answered",
                    gone->name, gone->version);
        srv_models_remove(ms, gone);
    }
    srv_repo_entries_free(en, n);
    return failed ? -1 : 0;
}

static int unload(struct srv_repo *rp, const char *name, srv_error *e)
{
    srv_models *ms = rp->srv->models;
    int found = 0;
    for (;;) {
        srv_model *x = NULL;
        srv_models_lock(ms);
        for (int k = 0; k < ms->n && !x; k++)
            if (strcmp(ms->m[k]->name, name) == 0)
                x = ms->m[k];
        srv_models_unlock(ms);
        if (!x)
            break;
        found = 1;
        srv_log_msg("model %s version %s: unloaded by request; freed once its requests are "
                    "answered",
                    x->name, x->version);
        srv_models_remove(ms, x);
    }
    if (!found)
        return srv_fail(e, SRV_E_UNKNOWN_MODEL, "no model named %s is served", name), -1;
    if (is_unloaded(rp, name) < 0) {
        char **p = realloc(rp->unloaded, (size_t)(rp->nunloaded + 1) * sizeof *p);
        if (p && (p[rp->nunloaded] = strdup(name)))
            rp->nunloaded++;
        if (p)
            rp->unloaded = p;
    }
    return 0;
}

static void run_job(struct srv_repo *rp, repo_job *j)
{
    srv_error e = {.kind = SRV_OK};
    if (j->op == SRV_REPO_RESCAN) {
        apply(rp, NULL, 0, &e);
        e.kind = SRV_OK; /* a rescan reports in the log; one broken model fails nothing else */
    } else if (j->op == SRV_REPO_LOAD) {
        int k = is_unloaded(rp, j->name);
        if (apply(rp, j->name, 1, &e) == 0 && k >= 0) {
            free(rp->unloaded[k]);
            rp->unloaded[k] = rp->unloaded[--rp->nunloaded];
        }
    } else {
        unload(rp, j->name, &e);
    }
    if (j->done)
        j->done(j->ctx, &e);
}

static void *repo_main(void *arg)
{
    struct srv_repo *rp = arg;
    int poll = rp->srv->cfg->poll_repository_s;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    next.tv_sec += poll;
    pthread_mutex_lock(&rp->mu);
    while (!rp->stop) {
        if (!rp->head) {
            int rc = poll > 0 ? pthread_cond_timedwait(&rp->cv, &rp->mu, &next)
                              : pthread_cond_wait(&rp->cv, &rp->mu);
            if (rc == ETIMEDOUT && !rp->head && !rp->stop) {
                pthread_mutex_unlock(&rp->mu);
                repo_job poll_job = {.op = SRV_REPO_RESCAN};
                run_job(rp, &poll_job);
                clock_gettime(CLOCK_MONOTONIC, &next);
                next.tv_sec += poll;
                pthread_mutex_lock(&rp->mu);
            }
            continue;
        }
        repo_job *j = rp->head;
        rp->head = j->next;
        if (!rp->head)
            rp->tail = NULL;
        pthread_mutex_unlock(&rp->mu);
        run_job(rp, j);
        free(j);
        pthread_mutex_lock(&rp->mu);
    }
    /* answer what is still queued */
    while (rp->head) {
        repo_job *j = rp->head;
        rp->head = j->next;
        srv_error e;
        srv_fail(&e, SRV_E_NOT_READY, "the server is shutting down");
        pthread_mutex_unlock(&rp->mu);
        if (j->done)
            j->done(j->ctx, &e);
        free(j);
        pthread_mutex_lock(&rp->mu);
    }
    rp->tail = NULL;
    pthread_mutex_unlock(&rp->mu);
    return NULL;
}

int srv_repo_start(srv_server *srv)
{
    struct srv_repo *rp = calloc(1, sizeof *rp);
    if (!rp)
        return -1;
    rp->srv = srv;
    pthread_mutex_init(&rp->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rp->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&rp->thread, NULL, repo_main, rp)) {
        pthread_cond_destroy(&rp->cv);
        pthread_mutex_destroy(&rp->mu);
        free(rp);
        return -1;
    }
    srv->repo = rp;
    return 0;
}

void srv_repo_stop(srv_server *srv)
{
    struct srv_repo *rp = srv->repo;
    if (!rp)
        return;
    pthread_mutex_lock(&rp->mu);
    int joined = rp->stop;
    rp->stop = 1;
    pthread_cond_signal(&rp->cv);
    pthread_mutex_unlock(&rp->mu);
    if (!joined)
        pthread_join(rp->thread, NULL);
}

void srv_repo_free(srv_server *srv)
{
    struct srv_repo *rp = srv->repo;
    if (!rp)
        return;
    srv_repo_stop(srv);
    srv->repo = NULL;
    for (int i = 0; i < rp->nunloaded; i++)
        free(rp->unloaded[i]);
    free(rp->unloaded);
    pthread_cond_destroy(&rp->cv);
    pthread_mutex_destroy(&rp->mu);
    free(rp);
}

int srv_repo_submit(srv_server *srv, srv_repo_op op, const char *name,
                    void (*done)(void *ctx, const srv_error *e), void *ctx)
{
    struct srv_repo *rp = srv->repo;
    repo_job *j = rp ? calloc(1, sizeof *j) : NULL;
    if (!j)
        return -1;
    j->op = op;
    snprintf(j->name, sizeof j->name, "%s", name ? name : "");
    j->done = done;
    j->ctx = ctx;
    pthread_mutex_lock(&rp->mu);
    int stopped = rp->stop;
    if (!stopped) {
        if (rp->tail)
            rp->tail->next = j;
        else
            rp->head = j;
        rp->tail = j;
        pthread_cond_signal(&rp->cv);
    }
    pthread_mutex_unlock(&rp->mu);
    if (stopped)
        free(j);
    return stopped ? -1 : 0;
}
