/* metrics.h — Prometheus counters, gauges and histograms with API.md's
 * names. Label values are only ever endpoint names, loaded model names and
 * status numbers, so a client cannot grow the series count. */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include <stddef.h>

#include "server/server.h"

void srv_metrics_init(void);
void srv_metrics_free(void);

/* A finished HTTP request (model "" when none applies). */
void srv_metrics_request(const char *endpoint, const char *model, int status, double seconds);
void srv_metrics_queue(const char *model, double seconds);
void srv_metrics_infer(const char *model, double seconds);
void srv_metrics_batch(const char *model, int size);
/* Tiled segmentation's progress: `planned` tiles more to run (negative for
 * those of a request that ended early), `done` tiles run. */
void srv_metrics_tiles(const char *model, int planned, int done);
/* Native-size plan cache (plancache.c): hit / miss / evicted counts to
 * add, and the change in plans and arena bytes held. */
void srv_metrics_plan_cache(const char *model, int hit, int miss, int evicted, int dplans,
                            double dbytes);

/* The whole exposition as a malloc'ed string (gauges read live). */
char *srv_metrics_render(srv_server *srv, size_t *len);

#endif
