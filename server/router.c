/* router.c — the route table, and the small GET endpoints: liveness,
 * readiness, the model list and Prometheus metrics. */
#include "server/router.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/kserve.h"
#include "server/metrics.h"
#include "server/model.h"
#include "server/predict.h"
#include "server/ui.h"

static void healthz(srv_req *r)
{
    srv_respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void readyz(srv_req *r)
{
    srv_server *s = r->srv;
    if (atomic_load(&s->draining)) {
        srv_error e;
        srv_fail(&e, SRV_E_NOT_READY, "draining: the server is shutting down");
        srv_respond_error(r, &e);
    } else if (!atomic_load(&s->ready)) {
        srv_error e;
        srv_fail(&e, SRV_E_NOT_READY, "models are still loading");
        srv_respond_error(r, &e);
    } else {
        srv_respond_json(r, 200, json_pack("{s:s}", "status", "ready"));
    }
}

static const char *status_name(int st)
{
    return st == SRV_MODEL_READY ? "ready" : st == SRV_MODEL_FAILED ? "failed" : "loading";
}

static void models(srv_req *r)
{
    srv_models *ms = r->srv->models;
    json_t *list = json_array();
    if (ms)
        srv_models_lock(ms); /* a reload may change the list meanwhile */
    for (int i = 0; ms && i < ms->n; i++) {
        srv_model *m = ms->m[i];
        int st = atomic_load(&m->status);
        json_t *o = json_pack("{s:s,s:s,s:s}", "name", m->name, "version", m->version, "status",
                              status_name(st));
        if (st == SRV_MODEL_READY) {
            json_object_set_new(o, "task", json_string(srv_task_name(m->task)));
            json_object_set_new(o, "input_shape",
                                json_pack("[i,i,i,i]", -1, m->pp.channels, m->pp.height,
                                          m->pp.width));
            json_object_set_new(o, "color", json_string(m->pp.channels == 1 ? "gray" : "rgb"));
            json_object_set_new(o, "precision", json_string(srv_precision_name(m->precision)));
            json_object_set_new(o, "max_batch", json_integer(m->max_batch));
            json_object_set_new(o, "max_delay_us", json_integer(m->max_delay_us));
            json_object_set_new(o, "idle_dispatch", json_boolean(m->idle_dispatch));
            json_object_set_new(o, "max_queue", json_integer(m->max_queue));
            json_object_set_new(o, "labels", json_integer(m->nclasses));
            if (m->native) /* segments at the image's own size (server/native.h) */
                json_object_set_new(o, "native", json_pack("{s:i,s:I}", "multiple",
                                                           m->native_multiple, "max_pixels",
                                                           (json_int_t)m->native_max_pixels));
        } else if (st == SRV_MODEL_FAILED) {
            json_object_set_new(o, "error", json_string(m->error));
        }
        json_array_append_new(list, o);
    }
    if (ms)
        srv_models_unlock(ms);
    srv_respond_json(r, 200, json_pack("{s:o}", "models", list));
}

static void metrics(srv_req *r)
{
    size_t len = 0;
    char *text = srv_metrics_render(r->srv, &len);
    if (!text) {
        srv_error e;
        srv_fail(&e, SRV_E_INTERNAL, "out of memory rendering metrics");
        srv_respond_error(r, &e);
        return;
    }
    srv_respond(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
}

static const srv_route ROUTES[] = {
    {"/classify", "POST", "classify", 1, srv_predict_classify, srv_predict_resume,
     srv_predict_free, 0},
    {"/segment", "POST", "segment", 1, srv_predict_segment, srv_predict_resume,
     srv_predict_free, 0},
    {"/healthz", "GET, HEAD", "healthz", 0, healthz, NULL, NULL, 0},
    {"/readyz", "GET, HEAD", "readyz", 0, readyz, NULL, NULL, 0},
    {"/models", "GET, HEAD", "models", 0, models, NULL, NULL, 0},
    {"/metrics", "GET, HEAD", "metrics", 0, metrics, NULL, NULL, 0},
    {"/", "GET, HEAD", "ui", 0, srv_ui_get, NULL, NULL, 1},
    {"/ui", "GET, HEAD", "ui", 0, srv_ui_get, NULL, NULL, 1},
    {"/ui/app.js", "GET, HEAD", "ui", 0, srv_ui_get, NULL, NULL, 1},
    {"/ui/app.css", "GET, HEAD", "ui", 0, srv_ui_get, NULL, NULL, 1},
};

const srv_route *srv_route_find(const char *url)
{
    /* MHD hands us the path without the query string. A trailing slash is
     * tolerated: "/classify/" is "/classify". */
    size_t n = strlen(url);
    if (strncmp(url, "/v2", 3) == 0 && (url[3] == '\0' || url[3] == '/'))
        return srv_kserve_route(url); /* the Open Inference Protocol's tree */
    if (n > 1 && url[n - 1] == '/')
        n--;
    for (size_t i = 0; i < sizeof ROUTES / sizeof ROUTES[0]; i++)
        if (strlen(ROUTES[i].path) == n && strncmp(ROUTES[i].path, url, n) == 0)
            return &ROUTES[i];
    return NULL;
}

int srv_route_allows(const srv_route *rt, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = rt->allow; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, method, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
        while (*p == ' ')
            p++;
    }
    return 0;
}
