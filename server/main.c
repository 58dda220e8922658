/* main.c — skipserve: parse flags, start HTTP (so /healthz answers while
 * models load), load and warm every model, then serve until SIGTERM/SIGINT
 * and drain: stop accepting, /readyz 503, finish accepted work within
 * --drain-timeout, exit 0. */
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/threadpool.h"
#include "server/auth.h"
#include "server/batcher.h"
#include "server/config.h"
#include "server/http.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/model.h"
#include "server/workers.h"
#include "server/repository.h"
#include "server/server.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int queued_images(srv_models *ms)
{
    int n = 0;
    srv_models_lock(ms);
    for (int i = 0; i < ms->n; i++)
        if (ms->m[i]->batcher)
            n += srv_batcher_depth(ms->m[i]->batcher);
    srv_models_unlock(ms);
    return n;
}

/* Wait until no request is in flight, or `deadline` (srv_now seconds), or
 * a second signal. Returns 1 when idle. */
static int wait_idle(srv_server *srv, double deadline, sigset_t *sigs)
{
    struct timespec zero = {0, 0};
    while (srv_now() < deadline) {
        if (atomic_load(&srv->inflight) == 0 && queued_images(srv->models) == 0)
            return 1;
        int sig = sigtimedwait(sigs, NULL, &zero);
        if (sig > 0 && sig != SIGHUP) { /* SIGHUP (rescan) does not cut the drain */
            srv_log_msg("second signal: stop draining now");
            return 0;
        }
        sleep_ms(10);
    }
    return atomic_load(&srv->inflight) == 0;
}

static void drain(srv_server *srv, sigset_t *sigs)
{
    const srv_config *c = srv->cfg;
    atomic_store(&srv->draining, 1);
    srv_http_quiesce(srv);
    srv_log_msg("draining: %ld requests in flight, %d images queued, up to %d ms",
                atomic_load(&srv->inflight), queued_images(srv->models), c->drain_timeout_ms);
    int idle = wait_idle(srv, srv_now() + c->drain_timeout_ms * 1e-3, sigs);
    /* Whatever is still queued is answered 503; a batch already running
     * finishes and is answered normally. Joining the workers guarantees no
     * connection stays suspended (libmicrohttpd cannot stop with one). */
    srv_models_stop_all(srv->models, 1); /* versions a reload replaced included */
    /* The prep workers finish what they hold: answers of the batches just
     * run, and requests still decoding (their submit now answers 503). */
    srv_workers_stop(srv->workers);
    if (!idle) {
        /* Let the answers just produced reach their clients. */
        wait_idle(srv, srv_now() + 2.0, sigs);
        srv_log_msg("drain timeout: queued work was answered 503; %ld requests still open "
                    "are cut off",
                    atomic_load(&srv->inflight));
    }
}

/* Each connection is a descriptor: raise the soft limit to what
 * --max-connections needs (plus model files, logs, the listener), up to the
 * hard limit; where the hard limit is lower, serve fewer connections and
 * say so rather than fail accept() later. */
static void fit_fd_limit(srv_config *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)c->max_connections + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want) {
        int fit = rl.rlim_cur > 128 ? (int)(rl.rlim_cur - 64) : 64;
        srv_log_msg("--max-connections %d needs %llu descriptors, the limit is %llu: serving "
                    "at most %d connections (raise ulimit -n)",
                    c->max_connections, (unsigned long long)want,
                    (unsigned long long)rl.rlim_cur, fit);
        c->max_connections = fit;
    }
}

int main(int argc, char **argv)
{
    srv_config cfg;
    char err[512] = "";
    int rc = srv_config_parse(&cfg, argc, argv, err, sizeof err);
    if (rc) {
        if (rc < 0)
            fprintf(stderr, "skipserve: %s\n", err);
        srv_config_free(&cfg);
        return rc < 0 ? 2 : 0;
    }
    srv_log_init(cfg.log_json);

    /* Every thread inherits this mask; only main takes the signals. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP); /* rescan the model repository */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv_server srv;
    memset(&srv, 0, sizeof srv);
    srv.cfg = &cfg;
    pthread_mutex_init(&srv.engine_lock, NULL);
    atomic_init(&srv.ready, 0);
    atomic_init(&srv.draining, 0);
    atomic_init(&srv.inflight, 0);
    atomic_init(&srv.preparing, 0);
    atomic_init(&srv.buffered, 0);
    srv_metrics_init();
    fit_fd_limit(&cfg);
    if (cfg.api_keys) {
        srv.auth = srv_auth_load(cfg.api_keys, cfg.auth_open, err, sizeof err);
        if (!srv.auth) {
            srv_log_msg("%s", err);
            srv_config_free(&cfg);
            return 1;
        }
        srv_log_msg("access control: %d API key(s); open without a key: %s",
                    srv_auth_nkeys(srv.auth), *cfg.auth_open ? cfg.auth_open : "(nothing)");
    }
    /* Only the end-to-end tests set this: it makes every engine run fail so
     * the 500 path can be checked against the real binary. */
    const char *fault = getenv("SKIPSERVE_FAULT_INJECT");
    srv.fault_infer = fault && strcmp(fault, "infer") == 0;
    if (srv.fault_infer)
        srv_log_msg("SKIPSERVE_FAULT_INJECT=infer: every inference will fail (test hook)");

    srv_models models;
    if (srv_models_scan(&cfg, &models, err, sizeof err)) {
        srv_log_msg("%s", err);
        srv_config_free(&cfg);
        return 1;
    }
    srv.models = &models;
    srv.pool = sk_pool_create(cfg.threads);
    srv.workers = srv_workers_create(cfg.prep_threads);
    if (!srv.pool || !srv.workers) {
        srv_log_msg("cannot create the %s threads", srv.pool ? "prep" : "engine");
        return 1;
    }
    if (srv_http_start(&srv, err, sizeof err)) {
        srv_log_msg("%s", err);
        srv_models_free(&models);
        srv_workers_destroy(srv.workers);
        sk_pool_destroy(srv.pool);
        srv_config_free(&cfg);
        return 1;
    }
    srv_log_msg("listening on %s:%d%s (%d engine threads, %d prep threads); loading %d model(s)",
                cfg.host, srv_http_port(&srv), cfg.tls_cert ? " with TLS" : "",
                sk_pool_size(srv.pool),
                srv_workers_threads(srv.workers), models.n);

    int failed = 0;
    for (int i = 0; i < models.n && !failed; i++) {
        srv_model *m = models.m[i];
        double t0 = srv_now();
        if (srv_model_load(m, &cfg, &srv, err, sizeof err)) {
            srv_log_msg("model %s: %s", m->name, err);
            failed = 1;
            break;
        }
        srv_log_msg("model %s: %s, input %dx%dx%d, %d classes, batch sizes up to %d, "
                    "loaded and warmed in %.0f ms",
                    m->name, srv_task_name(m->task), m->pp.channels, m->pp.height, m->pp.width,
                    m->nclasses, m->max_batch, (srv_now() - t0) * 1e3);
    }
    int status = 0;
    if (failed) {
        status = 1;
        atomic_store(&srv.draining, 1);
    } else {
        atomic_store(&srv.ready, 1);
        srv_log_msg("ready");
        if (srv_repo_start(&srv))
            srv_log_msg("cannot start the repository thread: no reloads");
        int sig;
        while (sigwait(&sigs, &sig) != 0 || sig == SIGHUP)
            if (sig == SIGHUP && srv_repo_submit(&srv, SRV_REPO_RESCAN, NULL, NULL, NULL) == 0)
                srv_log_msg("SIGHUP: rescanning the model repository");
        srv_repo_stop(&srv); /* a load under way finishes first */
        srv_log_msg("%s received", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    }
    drain(&srv, &sigs);
    srv_http_stop(&srv);
    srv_repo_free(&srv);
    srv_models_free(&models);
    srv_workers_destroy(srv.workers);
    sk_pool_destroy(srv.pool);
    srv_metrics_free();
    srv_auth_free(srv.auth);
    pthread_mutex_destroy(&srv.engine_lock);
    srv_log_msg("stopped");
    srv_config_free(&cfg);
    return status;
}
