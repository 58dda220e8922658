/* ab_inproc.c — A/B of engine variants inside one process, alternating run
 * by run (issues 22 and 24, session 17: branches bfx and g2t wrote one each
 * the same afternoon; this is the one kept, taking both's variant forms).
 *
 *   ab-inproc MODEL.onnx BATCH THREADS RUNS VARIANT VARIANT ...
 *
 * A variant is `[NAME=VALUE,...][:bf16]` ("-" for none; the NAME=VALUE
 * words may be separated by commas or spaces): the environment
 * set while its graph is loaded, optimized and run, the outer values put
 * back after each, ":bf16" for --precision bf16. What takes effect:
 * load-time switches (SKIPSERVE_BF16_WINO_T, SKIPSERVE_WINOGRAD, ...) and
 * the kernels' run-time ones (kernels/switches.h: the GEMM split's
 * SKIPSERVE_GEMM_SPLIT_FAR / _POOL / =balance, SKIPSERVE_PIXROWS_*,
 * SKIPSERVE_MATMUL_*, ...; read once per process, re-read here around
 * every run with sk_switches_reload). What does NOT: switches read once per process
 * keep the first value the process saw — config.c's (SKIPSERVE_GEMM_MTAIL,
 * _NTAIL, _BLOCKS, SKIPSERVE_INT8_UK, SKIPSERVE_FAST_OPS, ...) and
 * SKIPSERVE_BF16_SHARED_B (the plan sizes its scratch by it) — and the
 * pool's (SKIPSERVE_SPIN_US, SKIPSERVE_POOL_RANGES) never apply: the one
 * pool is created before any variant. A/B those in separate processes
 * (ab.py). Every variant gets its
 * own graph and plan on one shared pool and the same random input; then
 * RUNS rounds, each running every variant once in turn (the order rotating
 * each round). Why: on the shared 2-vCPU VM a 2-thread run is slowed 1.5-3x
 * whenever another job holds a core, in bursts of seconds; separate
 * processes (ab.py) see different bursts, runs alternated every ~10 ms see
 * the same ones. Prints per variant the median and the 10th percentile of
 * its run times, and the median of the per-round ratios first / variant
 * (> 1: the variant is faster). Checks that every variant's first output
 * is finite, and prints its largest difference from the first variant's
 * (0 where the two compute the same bits).
 *
 * AB_CLOCK=cpu (session 18 mvt): time each run in process CPU time
 * instead of the wall clock — for 1-thread runs on a loaded machine, where
 * the wall clock counts other jobs' time slices (the pool's idle workers
 * at 2+ threads spin and count too: wall time there).
 *
 * Not built by `make all` (a measurement):
 *   cc -O2 -I. -Iengine bench/ab_inproc.c build/libskloaders.a build/libskengine.a \
 *      -lprotobuf-c -lpng16 -lturbojpeg -lm -pthread -o build/ab-inproc */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/graph.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "kernels/gemm.h"
#include "loaders/onnx.h"
#include "threadpool.h"
#include "kernels/switches.h"

#define MAX_VARIANTS 8
#define MAX_ENV 8

typedef struct variant {
    const char *spec;
    char *names[MAX_ENV], *values[MAX_ENV];
    char *outer[MAX_ENV]; /* the values before env_set(.., 1) (NULL: unset) */
    int nenv, bf16;
    sk_graph *g;
    sk_plan *p;
    double *ms;
} variant;

/* AB_CLOCK=cpu (session 18, i1t): the process's CPU time instead of the
 * wall clock — on a VM at load 8-9 a 1-thread run is descheduled for
 * most of its wall time, and its CPU time still tells the variants apart
 * (only meaningful at 1 thread: a spinning pool's wait counts as CPU) */
static double now_ms(void)
{
    static int cpu = -1;
    if (cpu < 0) {
        const char *c = getenv("AB_CLOCK");
        cpu = c && !strcmp(c, "cpu");
    }
    struct timespec t;
    clock_gettime(cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* "A=1,B=2:bf16" or "A=1 B=2" -> names / values / bf16 */
static int parse_variant(variant *v, const char *spec)
{
    memset(v, 0, sizeof *v);
    v->spec = spec;
    char *s = strdup(spec), *colon = strchr(s, ':');
    if (colon) {
        if (strcmp(colon + 1, "bf16"))
            return -1;
        v->bf16 = 1;
        *colon = 0;
    }
    if (!strcmp(s, "-") || !*s)
        return 0;
    for (char *tok = strtok(s, ", "); tok; tok = strtok(NULL, ", ")) {
        char *eq = strchr(tok, '=');
        if (!eq || v->nenv == MAX_ENV)
            return -1;
        *eq = 0;
        v->names[v->nenv] = tok;
        v->values[v->nenv++] = eq + 1;
    }
    return 0;
}

/* on: set the variant's words, keeping the outer values; off: put the
 * outer values back (unset where there was none). Then the kernels'
 * run-time switches are re-read (switches.c reads them once otherwise). */
static void env_set(variant *v, int on)
{
    for (int i = 0; i < v->nenv; i++)
        if (on) {
            const char *o = getenv(v->names[i]);
            v->outer[i] = o ? strdup(o) : NULL;
            setenv(v->names[i], v->values[i], 1);
        } else {
            if (v->outer[i])
                setenv(v->names[i], v->outer[i], 1);
            else
                unsetenv(v->names[i]);
            free(v->outer[i]);
            v->outer[i] = NULL;
        }
    sk_switches_reload();
}

int main(int argc, char **argv)
{
    char err[512];
    if (argc < 7 || argc - 5 > MAX_VARIANTS) {
        fprintf(stderr, "usage: ab-inproc MODEL.onnx BATCH THREADS RUNS VARIANT VARIANT ... "
                        "(VARIANT: [NAME=VALUE,...][:bf16] or -; at most %d)\n", MAX_VARIANTS);
        return 2;
    }
    const char *model = argv[1];
    int batch = atoi(argv[2]), threads = atoi(argv[3]), runs = atoi(argv[4]);
    int nv = argc - 5;
    if (batch < 1 || threads < 1 || runs < 1)
        return 2;
    variant v[MAX_VARIANTS];
    sk_pool *pool = sk_pool_create(threads);
    sk_tensor in;
    void *data = NULL;
    for (int i = 0; i < nv; i++) {
        if (parse_variant(&v[i], argv[5 + i])) {
            fprintf(stderr, "ab-inproc: bad variant '%s'\n", argv[5 + i]);
            return 2;
        }
        env_set(&v[i], 1);
        sk_load_opts lo = {.level = 1, .precision = v[i].bf16 ? SK_PREC_BF16 : SK_PREC_FP32};
        if (sk_onnx_load(model, &v[i].g, err, sizeof err) ||
            sk_graph_optimize_opts(v[i].g, &lo, err, sizeof err)) {
            fprintf(stderr, "ab-inproc: %s: %s\n", v[i].spec, err);
            return 1;
        }
        const sk_graph *g = v[i].g;
        if (g->ninputs != 1) {
            fprintf(stderr, "ab-inproc: models with one input only\n");
            return 1;
        }
        const sk_value *iv = &g->values[g->inputs[0]];
        memset(&in, 0, sizeof in);
        in.dtype = iv->dtype;
        in.shape = iv->shape;
        if (iv->shape.rank > 0 && iv->shape.dim[0] < 0)
            in.shape.dim[0] = batch;
        if (sk_plan_create(g, &in, pool, &v[i].p, err, sizeof err)) {
            fprintf(stderr, "ab-inproc: plan %s: %s\n", v[i].spec, err);
            return 1;
        }
        env_set(&v[i], 0);
        v[i].ms = malloc(sizeof(double) * (size_t)runs);
    }
    size_t n = (size_t)sk_shape_numel(&in.shape);
    data = malloc(n * sizeof(float) + 1);
    uint64_t r = 88172645463325252ull;
    for (size_t k = 0; k < n; k++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        ((float *)data)[k] = (float)(r >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
    }
    const void *inputs[1] = {data};
    double *ratio = malloc(sizeof(double) * (size_t)runs * (size_t)nv);
    for (int round = -2; round < runs; round++) { /* two warm-up rounds */
        double t[MAX_VARIANTS];
        for (int q = 0; q < nv; q++) {
            int i = (q + (round > 0 ? round : 0)) % nv;
            env_set(&v[i], 1);
            double t0 = now_ms();
            if (sk_plan_run(v[i].p, inputs, err, sizeof err)) {
                fprintf(stderr, "ab-inproc: run %s: %s\n", v[i].spec, err);
                return 1;
            }
            t[i] = now_ms() - t0;
            env_set(&v[i], 0);
        }
        if (round < 0)
            continue;
        for (int i = 0; i < nv; i++) {
            v[i].ms[round] = t[i];
            ratio[(size_t)i * (size_t)runs + (size_t)round] = t[0] / t[i];
        }
    }
    const sk_tensor *o0 = sk_plan_output(v[0].p, 0);
    size_t no = (size_t)sk_shape_numel(&o0->shape);
    printf("%s: batch %d, %d threads, %d rounds alternating run by run\n\n", model, batch, threads,
           runs);
    printf("| variant | median ms | p10 ms | first / variant (median of rounds) | rounds faster than first "
           "| max |out - first| |\n"
           "|---|---|---|---|---|---|\n");
    for (int i = 0; i < nv; i++) {
        const sk_tensor *o = sk_plan_output(v[i].p, 0);
        double diff = 0;
        int finite = 1;
        for (size_t k = 0; k < no; k++) {
            float a = ((const float *)o->data)[k], b = ((const float *)o0->data)[k];
            finite &= isfinite(a);
            if (fabs((double)a - b) > diff)
                diff = fabs((double)a - b);
        }
        int won = 0;
        for (int k = 0; k < runs; k++)
            won += ratio[(size_t)i * (size_t)runs + (size_t)k] > 1.0;
        qsort(v[i].ms, (size_t)runs, sizeof(double), cmp_double);
        qsort(ratio + (size_t)i * (size_t)runs, (size_t)runs, sizeof(double), cmp_double);
        printf("| %s | %.3f | %.3f | %.3f | %d of %d | %.3g%s |\n", v[i].spec, v[i].ms[runs / 2],
               v[i].ms[runs / 10], ratio[(size_t)i * (size_t)runs + (size_t)runs / 2], won, runs, diff,
               finite ? "" : " (NOT FINITE)");
    }
    for (int i = 0; i < nv; i++) {
        sk_plan_free(v[i].p);
        sk_graph_free(v[i].g);
        free(v[i].ms);
    }
    free(ratio);
    free(data);
    sk_pool_destroy(pool);
    return 0;
}
