/* ab_inproc.c — A/B of engine switches inside one process, run by run
 * (issue 24, session 17: batch 1 at 2 threads on a shared 2-core machine).
 *
 *   build/ab-inproc MODEL.onnx BATCH THREADS ROUNDS VARIANT VARIANT...
 *
 * A VARIANT is one or more space-separated NAME=VALUE words (set before
 * the run, unset after) or `-` (no switch). Each round runs every variant once on the same plan and input,
 * in turn, so neighbouring runs share the machine's state; only switches
 * the engine reads per run (getenv at the kernel: SKIPSERVE_GEMM_SPLIT_POOL,
 * SKIPSERVE_GEMM_PREFETCH, SKIPSERVE_IM2COL_KC, ...) make sense here.
 * Why: with other jobs on the two CPUs, separate processes (bench/ab.py)
 * land in different load plateaus, and a 2-thread process's worker loses
 * its CPU for whole slices; here each variant's minimum and lower quartile
 * over many alternating runs, and the per-round ratio to the first
 * variant (geometric mean, rounds won), are what the other jobs disturb
 * least. Checks each variant's outputs against the first (bytes): a
 * faster variant that computes something else shows.
 *
 *   cc -O2 -I. -Iengine -o build/ab-inproc bench/ab_inproc.c \
 *       build/libskloaders.a build/libskengine.a -lprotobuf-c -lm -pthread
 *   flock /work/notes/bench.lock build/ab-inproc MODEL 1 2 200 - SKIPSERVE_GEMM_SPLIT_POOL=0
 *
 * Not built by `make all`: a measurement, not a part of the engine. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "engine/graph.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "loaders/onnx.h"
#include "threadpool.h"

#define MAXV 8

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + 1e-6 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Each NAME=VALUE word of v (space-separated) into the environment, or
 * out of it; "-" sets nothing. */
static void set_variant(const char *v, int on)
{
    char buf[512], *save = NULL;
    snprintf(buf, sizeof buf, "%s", v);
    for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(w, '=');
        if (!eq)
            continue;
        *eq = 0;
        if (on)
            setenv(w, eq + 1, 1);
        else
            unsetenv(w);
    }
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: ab-inproc MODEL.onnx BATCH THREADS ROUNDS VARIANT VARIANT...\n");
        return 2;
    }
    const int batch = atoi(argv[2]), threads = atoi(argv[3]), rounds = atoi(argv[4]);
    const int nv = argc - 5 < MAXV ? argc - 5 : MAXV;
    char err[512];
    sk_graph *g = NULL;
    if (batch < 1 || threads < 1 || rounds < 1 || sk_onnx_load(argv[1], &g, err, sizeof err)) {
        fprintf(stderr, "ab-inproc: %s\n", g ? err : "bad arguments or model");
        return 1;
    }
    sk_load_opts lo = {.level = 1, .precision = SK_PREC_FP32};
    if (sk_graph_optimize_opts(g, &lo, err, sizeof err) || g->ninputs < 1) {
        fprintf(stderr, "ab-inproc: optimize: %s\n", err);
        return 1;
    }
    sk_tensor *in = calloc((size_t)g->ninputs, sizeof *in);
    void **data = calloc((size_t)g->ninputs, sizeof *data);
    for (int i = 0; i < g->ninputs; i++) {
        const sk_value *v = &g->values[g->inputs[i]];
        in[i].dtype = v->dtype;
        in[i].shape = v->shape;
        if (v->shape.rank > 0 && v->shape.dim[0] < 0)
            in[i].shape.dim[0] = batch;
        size_t bytes = sk_tensor_bytes(&in[i]);
        float *f = data[i] = malloc(bytes ? bytes : 4);
        for (size_t k = 0; k < bytes / 4; k++) /* fixed pseudo-random input */
            f[k] = (float)((k * 2654435761u) % 1000) / 500.0f - 1.0f;
    }
    sk_pool *pool = sk_pool_create(threads);
    sk_plan *p = NULL;
    if (!pool || sk_plan_create(g, in, pool, &p, err, sizeof err)) {
        fprintf(stderr, "ab-inproc: plan: %s\n", err);
        return 1;
    }
    const sk_tensor *out = sk_plan_output(p, 0);
    size_t obytes = out ? sk_tensor_bytes(out) : 0;
    unsigned char *ref = malloc(obytes + 1);
    double *t = malloc(sizeof(double) * (size_t)rounds * (size_t)nv);
    int same[MAXV] = {0};
    for (int r = -2; r < rounds; r++) /* two rounds of warm-up */
        for (int v = 0; v < nv; v++) {
            set_variant(argv[5 + v], 1);
            double t0 = now_ms();
            if (sk_plan_run(p, (const void *const *)data, err, sizeof err)) {
                fprintf(stderr, "ab-inproc: run: %s\n", err);
                return 1;
            }
            double dt = now_ms() - t0;
            set_variant(argv[5 + v], 0);
            if (r == -1 && v == 0)
                memcpy(ref, out->data, obytes);
            if (r == -1 && v > 0)
                same[v] = !memcmp(ref, out->data, obytes);
            if (r >= 0)
                t[(size_t)r * nv + v] = dt;
        }
    printf("%s: batch %d, %d threads, %d rounds, ISA %s\n\n", argv[1], batch, threads, rounds,
           sk_isa_name(sk_cpu_level()));
    printf("| variant | min ms | p25 ms | median ms | first / variant (geo. mean of rounds) | "
           "rounds faster | outputs = first |\n|---|---|---|---|---|---|---|\n");
    double *s = malloc(sizeof(double) * (size_t)rounds);
    for (int v = 0; v < nv; v++) {
        double lr = 0;
        int won = 0;
        for (int r = 0; r < rounds; r++) {
            s[r] = t[(size_t)r * nv + v];
            lr += log(t[(size_t)r * nv] / s[r]);
            won += s[r] < t[(size_t)r * nv];
        }
        qsort(s, (size_t)rounds, sizeof *s, cmp_double);
        printf("| %s | %.3f | %.3f | %.3f | %.3f | %s%d of %d | %s |\n", argv[5 + v], s[0],
               s[rounds / 4], s[rounds / 2], exp(lr / rounds), v ? "" : "(", won, rounds,
               v ? (same[v] ? "yes" : "NO") : "-");
    }
    return 0;
}
