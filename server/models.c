/* models.c — the list of models being served: reads under its lock,
 * reference counts (the list holds one, each request one), the newest ready
 * version of a name, adding and removing while requests run (reloads,
 * repository.c), the retired versions drain must still stop, and the
 * statistics counters. model.c loads one model. */
#include "server/model.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/batcher.h"
#include "server/repository.h"

int srv_version_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1; /* digits without leading zeros: longer is larger */
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

void srv_stat_add(srv_stat *s, double seconds)
{
    atomic_fetch_add(&s->n, 1);
    atomic_fetch_add(&s->ns, (unsigned long long)(seconds > 0 ? seconds * 1e9 : 0));
}

void srv_model_stats_request(srv_model_stats *st, int ok, double total, double queue,
                             double input, double infer, double output)
{
    srv_stat_add(ok ? &st->success : &st->fail, total);
    srv_stat_add(&st->queue, queue);
    if (!ok)
        return;
    srv_stat_add(&st->compute_input, input);
    srv_stat_add(&st->compute_infer, infer);
    srv_stat_add(&st->compute_output, output);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&st->last_inference_ms, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void srv_models_lock(srv_models *ms) { pthread_mutex_lock(&ms->lock); }
void srv_models_unlock(srv_models *ms) { pthread_mutex_unlock(&ms->lock); }

int srv_models_add(srv_models *ms, srv_model *m)
{
    srv_models_lock(ms);
    srv_model **p = realloc(ms->m, (size_t)(ms->n + 1) * sizeof *p);
    if (p) {
        ms->m = p;
        ms->m[ms->n++] = m;
        m->owner = ms;
    }
    srv_models_unlock(ms);
    return p ? 0 : -1;
}

void srv_models_remove(srv_models *ms, srv_model *m)
{
    int found = 0;
    srv_models_lock(ms);
    for (int i = 0; i < ms->n; i++) {
        if (ms->m[i] == m) {
            memmove(ms->m + i, ms->m + i + 1, (size_t)(ms->n - i - 1) * sizeof *ms->m);
            ms->n--;
            found = 1;
            break;
        }
    }
    /* remembered until freed, for drain; without room it is only not
     * stopped early (its requests still finish on it) */
    srv_model **p = found ? realloc(ms->retired, (size_t)(ms->nretired + 1) * sizeof *p) : NULL;
    if (p) {
        ms->retired = p;
        ms->retired[ms->nretired++] = m;
        atomic_store(&m->retired, 1);
    }
    srv_models_unlock(ms);
    if (found)
        srv_model_unref(m);
}

void srv_models_stop_all(srv_models *ms, int abort)
{
    srv_models_lock(ms);
    int n = ms->n + ms->nretired;
    srv_model **all = malloc((size_t)(n ? n : 1) * sizeof *all);
    if (!all)
        n = 0;
    for (int i = 0; i < n; i++) {
        all[i] = i < ms->n ? ms->m[i] : ms->retired[i - ms->n];
        srv_model_ref(all[i]); /* a retired one may be freed by its last request meanwhile */
    }
    srv_models_unlock(ms);
    for (int i = 0; i < n; i++)
        if (all[i]->batcher)
            srv_batcher_stop(all[i]->batcher, abort);
    for (int i = 0; i < n; i++) {
        if (all[i]->batcher)
            srv_batcher_join(all[i]->batcher);
        srv_model_unref(all[i]);
    }
    free(all);
}

int srv_models_scan(const srv_config *cfg, srv_models *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_init(&out->lock, NULL);
    srv_repo_entry *ents = NULL;
    int n = 0;
    if (srv_repo_list(cfg, NULL, &ents, &n, err, errlen))
        return -1;
    for (int i = 0; i < n; i++) {
        srv_model *m = srv_model_new(ents[i].name, ents[i].version, ents[i].path, ents[i].parent);
        if (!m || srv_models_add(out, m)) {
            if (m)
                srv_model_unref(m);
            srv_repo_entries_free(ents, n);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        m->fixed = ents[i].fixed;
    }
    srv_repo_entries_free(ents, n);
    if (out->n == 0) {
        snprintf(err, errlen, "no models: %s holds no <name>/model.onnx and no --model was given",
                 cfg->models_dir);
        return -1;
    }
    return 0;
}

void srv_models_free(srv_models *ms)
{
    for (int i = 0; i < ms->n; i++)
        srv_model_unref(ms->m[i]);
    free(ms->m);
    free(ms->retired);
    pthread_mutex_destroy(&ms->lock);
    memset(ms, 0, sizeof *ms);
}

/* Under the lock: the newest version of `name` that is ready, else the
 * newest of any status (NULL when no entry has that name). */
static srv_model *newest(const srv_models *ms, const char *name)
{
    srv_model *best = NULL;
    for (int i = 0; i < ms->n; i++) {
        srv_model *m = ms->m[i];
        if (strcmp(m->name, name) != 0)
            continue;
        int ready = atomic_load(&m->status) == SRV_MODEL_READY;
        int best_ready = best && atomic_load(&best->status) == SRV_MODEL_READY;
        if (!best || (ready && !best_ready) ||
            (ready == best_ready && srv_version_cmp(m->version, best->version) > 0))
            best = m;
    }
    return best;
}

srv_model *srv_models_find(srv_models *ms, const char *name, const char *version, srv_error *e)
{
    srv_models_lock(ms);
    srv_model *m = NULL;
    if (version && *version) {
        int named = 0;
        for (int i = 0; i < ms->n; i++) {
            if (strcmp(ms->m[i]->name, name) != 0)
                continue;
            named = 1;
            /* a version being reloaded is listed twice: prefer the ready one */
            if (strcmp(ms->m[i]->version, version) == 0 &&
                (!m || atomic_load(&ms->m[i]->status) == SRV_MODEL_READY))
                m = ms->m[i];
        }
        if (!m && named) {
            srv_fail(e, SRV_E_UNKNOWN_MODEL, "model %s has no version %.24s", name, version);
            srv_models_unlock(ms);
            return NULL;
        }
    } else {
        m = newest(ms, name);
    }
    if (!m) {
        srv_fail(e, SRV_E_UNKNOWN_MODEL, "no model named \"%.100s\" (GET /models lists them)",
                 name);
    } else if (atomic_load(&m->status) == SRV_MODEL_READY) {
        srv_model_ref(m);
        srv_models_unlock(ms);
        return m;
    } else if (atomic_load(&m->status) == SRV_MODEL_FAILED) {
        srv_fail(e, SRV_E_NOT_READY, "model %s failed to load: %.180s", m->name, m->error);
    } else {
        srv_fail(e, SRV_E_NOT_READY, "model %s is not loaded", m->name);
    }
    srv_models_unlock(ms);
    return NULL;
}

srv_model *srv_models_pick(srv_models *ms, const char *name, srv_task task, srv_error *e)
{
    if (name && *name) {
        srv_model *m = srv_models_find(ms, name, NULL, e);
        if (m && m->task != task) {
            srv_fail(e, SRV_E_BAD_REQUEST, "model %s is a %s model; use /%s", m->name,
                     srv_task_name(m->task), srv_task_name(m->task));
            srv_model_unref(m);
            return NULL;
        }
        return m;
    }
    srv_model *found = NULL;
    int count = 0;
    srv_models_lock(ms);
    for (int i = 0; i < ms->n; i++) {
        srv_model *m = ms->m[i];
        if (atomic_load(&m->status) == SRV_MODEL_READY && m->task == task &&
            newest(ms, m->name) == m) {
            found = m;
            count++;
        }
    }
    if (count == 1)
        srv_model_ref(found);
    srv_models_unlock(ms);
    if (count == 1)
        return found;
    if (count == 0)
        srv_fail(e, SRV_E_UNKNOWN_MODEL, "no %s model is loaded", srv_task_name(task));
    else
        srv_fail(e, SRV_E_BAD_REQUEST, "%d %s models are loaded; choose one with ?model=NAME",
                 count, srv_task_name(task));
    return NULL;
}

void srv_models_kick(srv_models *ms)
{
    if (!ms)
        return;
    srv_models_lock(ms);
    for (int i = 0; i < ms->n; i++)
        if (atomic_load(&ms->m[i]->status) == SRV_MODEL_READY && ms->m[i]->batcher)
            srv_batcher_kick(ms->m[i]->batcher);
    srv_models_unlock(ms);
}
