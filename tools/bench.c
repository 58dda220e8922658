/* bench.c — skipserve-bench: time the engine on one ONNX model.
 *
 *   skipserve-bench MODEL.onnx [--batch B] [--threads T] [--runs R] [--warmup W]
 *                   [--level 0|1] [--isa scalar|avx2|avx512] [--peak] [--verify] [--profile]
 *                   [--profile-top N]
 *                   [--save-input F] [--load-input F] [--save-output F] [--json] [--mem]
 *
 * Loads the model, runs the load-time passes (--level, default 1), plans it
 * for batch B on a pool of T threads (default: SKIPSERVE_THREADS, else the
 * online CPUs), fills the inputs with seeded non-zero random values, warms
 * up, and times R runs: median and min ms, GMAC (Conv / ConvTranspose / Gemm
 * / MatMul multiply-adds of the planned shapes), GFLOP/s, and — with --peak —
 * the FP32 ceiling measured by the same tool (an FMA loop with 12
 * independent vector accumulators on each of the T threads) and the share of
 * it reached. The process CPU time per run is printed too: on a shared
 * machine, for one thread, it is what the wall time would be unloaded. Every run's outputs are checked to be finite and not all zero;
 * --verify also runs the unoptimized graph with the reference kernels on the
 * same input and reports the largest error relative to the output's range.
 * Raw float32 files (--save-input / --load-input / --save-output) let
 * bench/compare-ort.sh feed ONNX Runtime the same input and compare. --mem
 * prints the resident set phase by phase (load, passes, plan, runs) on
 * stderr: each phase's peak, the anonymous and file pages after it, and
 * the constants the graph still holds. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "engine/graph.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "kernels/config.h"
#include "kernels/peak.h"
#include "kernels/peak_lowp.h"
#include "loaders/onnx.h"
#include "threadpool.h"

typedef struct args {
    const char *model, *save_input, *load_input, *save_output;
    int batch, threads, runs, warmup, level, peak, verify, json, profile, profile_top;
    int isa; /* -1: as detected / SKIPSERVE_ISA */
    int bf16; /* --precision bf16 */
    int mem;  /* --mem: the resident set after each phase */
} args;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int usage(void)
{
    fprintf(stderr, "usage: skipserve-bench MODEL.onnx [--batch B] [--threads T] [--runs R] "
                    "[--warmup W] [--level 0|1] [--isa scalar|avx2|avx512] [--precision fp32|bf16] "
                    "[--peak] [--verify] [--profile] [--profile-top N] "
                    "[--save-input F] [--load-input F] [--save-output F] [--json] [--mem]\n");
    return 2;
}

static int parse(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->batch = 1;
    a->runs = 10;
    a->warmup = 2;
    a->level = 1;
    a->isa = -1;
    const char *env = getenv("SKIPSERVE_THREADS");
    a->threads = env && atoi(env) > 0 ? atoi(env) : 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(s, "--batch") && more)
            a->batch = atoi(argv[++i]);
        else if (!strcmp(s, "--threads") && more)
            a->threads = atoi(argv[++i]);
        else if (!strcmp(s, "--runs") && more)
            a->runs = atoi(argv[++i]);
        else if (!strcmp(s, "--warmup") && more)
            a->warmup = atoi(argv[++i]);
        else if (!strcmp(s, "--level") && more)
            a->level = atoi(argv[++i]);
        else if (!strcmp(s, "--isa") && more) {
            if ((a->isa = sk_isa_parse(argv[++i])) < 0)
                return usage();
        } else if (!strcmp(s, "--precision") && more) {
            const char *v = argv[++i];
            if (strcmp(v, "fp32") && strcmp(v, "bf16"))
                return usage(); /* int8: pass the quantized file itself */
            a->bf16 = !strcmp(v, "bf16");
        } else if (!strcmp(s, "--save-input") && more)
            a->save_input = argv[++i];
        else if (!strcmp(s, "--load-input") && more)
            a->load_input = argv[++i];
        else if (!strcmp(s, "--save-output") && more)
            a->save_output = argv[++i];
        else if (!strcmp(s, "--peak"))
            a->peak = 1;
        else if (!strcmp(s, "--verify"))
            a->verify = 1;
        else if (!strcmp(s, "--profile"))
            a->profile = 1;
        else if (!strcmp(s, "--profile-top") && more) {
            a->profile = 1; /* implies --profile; N steps listed (default 25) */
            a->profile_top = atoi(argv[++i]);
        }
        else if (!strcmp(s, "--json"))
            a->json = 1;
        else if (!strcmp(s, "--mem"))
            a->mem = 1;
        else if (s[0] != '-' && !a->model)
            a->model = s;
        else
            return usage();
    }
    if (!a->model || a->batch < 1 || a->runs < 1 || a->warmup < 0)
        return usage();
    if (a->threads <= 0)
        a->threads = sk_cpu_count();
    return 0;
}

/* ---- the ceiling ---------------------------------------------------------- */

typedef struct peak_job {
    sk_isa isa;
    long iters;
    double flops[256];
    double secs[256];
    float sink[256]; /* the chains' results, so they are used */
} peak_job;

static void peak_task(void *arg, int tid, size_t b, size_t e)
{
    peak_job *j = arg;
    for (size_t i = b; i < e; i++) {
        double t = now_s();
        float sum;
        j->flops[tid] += sk_peak_fma(j->isa, j->iters, &sum);
        j->sink[tid] += sum;
        j->secs[tid] += now_s() - t;
    }
}

/* Best of several short rounds: the machine is shared, so the least
 * disturbed round is the one that shows what the cores can do. */
static double measure_peak(sk_pool *pool, int threads)
{
    peak_job j;
    double best = 0;
    for (int round = 0; round < 30; round++) {
        memset(&j, 0, sizeof j);
        j.isa = sk_cpu_level();
        j.iters = 200000;
        double t = now_s();
        sk_parallel_for_tid(pool, (size_t)threads, 1, peak_task, &j);
        t = now_s() - t;
        double f = 0;
        for (int i = 0; i < 256; i++)
            f += j.flops[i];
        if (f / t > best)
            best = f / t;
    }
    return best / 1e9;
}

/* ---- the int8 / bf16 ceilings (kernels/peak_lowp.h) ------------------------ */

/* LP_AVX2W (session 18): the exact AVX2 form, vpmaddwd on widened pairs */
/* LP_AMX (session 19): TDPBF16PS, the AMX-BF16 tile product; LP_AMXI8
 * (session 19 ami): TDPBUSD, the AMX-INT8 one */
typedef enum {
    LP_VNNI512, LP_AVXVNNI, LP_AVX2, LP_BF16, LP_AVX2W, LP_AMX, LP_AMXI8, LP_COUNT
} lowp_kind;
static const char *const lowp_name[LP_COUNT] = {
    "int8 vpdpbusd zmm (AVX512-VNNI)", "int8 vpdpbusd ymm (AVX-VNNI)",
    "int8 vpmaddubsw+vpmaddwd ymm (AVX2)", "bf16 vdpbf16ps zmm (AVX512-BF16)",
    "int8 2x vpmaddwd ymm, widened (AVX2 exact)", "bf16 tdpbf16ps tiles (AMX-BF16)",
    "int8 tdpbusd tiles (AMX-INT8)"};
static const char *const lowp_key[LP_COUNT] = {"int8_avx512vnni", "int8_avxvnni", "int8_avx2",
                                               "bf16_avx512bf16", "int8w_avx2", "bf16_amx",
                                               "int8_amx"};

/* 1 when this CPU runs loop k (and SKIPSERVE_ISA does not forbid its level) */
static int lowp_have(lowp_kind k)
{
#if !defined(__x86_64__)
    (void)k;
    return 0; /* the loops are x86 kernels (not built elsewhere) */
#else
    const sk_cpu_features *f = sk_cpu_features_get();
    sk_isa l = sk_cpu_level();
    switch (k) {
    case LP_VNNI512: return l >= SK_ISA_AVX512 && f->avx512vnni;
    case LP_AVXVNNI: return l >= SK_ISA_AVX2 && f->avxvnni;
    case LP_AVX2: return l >= SK_ISA_AVX2;
    case LP_AVX2W: return l >= SK_ISA_AVX2;
    case LP_BF16: return l >= SK_ISA_AVX512 && f->avx512bf16;
    case LP_AMX: return l >= SK_ISA_AVX512 && f->amx_bf16 && sk_cpu_amx_request();
    case LP_AMXI8: return l >= SK_ISA_AVX512 && f->amx_tile && f->amx_int8 && sk_cpu_amx_request();
    default: return 0;
    }
#endif
}

typedef struct lowp_job {
    lowp_kind kind;
    long iters;
    double ops[256];
    double sink[256];
} lowp_job;

static void lowp_task(void *arg, int tid, size_t b, size_t e)
{
    lowp_job *j = arg;
    for (size_t i = b; i < e; i++) {
        int64_t s = 0;
        double d = 0;
#if defined(__x86_64__)
        switch (j->kind) {
        case LP_VNNI512: j->ops[tid] += sk_peak_int8_avx512vnni(j->iters, &s); break;
        case LP_AVXVNNI: j->ops[tid] += sk_peak_int8_avxvnni(j->iters, &s); break;
        case LP_AVX2: j->ops[tid] += sk_peak_int8_avx2(j->iters, &s); break;
        case LP_AVX2W: j->ops[tid] += sk_peak_int8w_avx2(j->iters, &s); break;
        case LP_AMX: j->ops[tid] += sk_peak_bf16_amx(j->iters / 8, &d); break;
        case LP_AMXI8: j->ops[tid] += sk_peak_int8_amx(j->iters / 8, &s); break;
        default: j->ops[tid] += sk_peak_bf16_avx512bf16(j->iters, &d); break;
        }
#endif
        j->sink[tid] += (double)s + d;
    }
}

/* Best of short rounds on `threads` threads, in GOP/s (all threads). */
static double measure_lowp(sk_pool *pool, int threads, lowp_kind k)
{
    lowp_job j;
    double best = 0;
    for (int round = 0; round < 15; round++) {
        memset(&j, 0, sizeof j);
        j.kind = k;
        j.iters = 200000;
        double t = now_s();
        sk_parallel_for_tid(pool, (size_t)threads, 1, lowp_task, &j);
        t = now_s() - t;
        double ops = 0;
        for (int i = 0; i < 256; i++)
            ops += j.ops[i];
        if (ops / t > best)
            best = ops / t;
    }
    return best / 1e9;
}

/* ---- inputs and outputs --------------------------------------------------- */

static uint64_t rng = 0x853c49e6748fea9bull;
static float frand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    /* uniform in [-1, 1), never exactly zero */
    float v = (float)((double)(rng >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    return v == 0.0f ? 0.5f : v;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

static int read_file(const char *path, void *p, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t got = fread(p, 1, n, f);
    fclose(f);
    return got == n ? 0 : -1;
}

/* 1 when every output is finite and not all zero */
static int outputs_sane(const sk_plan *p)
{
    for (int i = 0; i < sk_plan_noutputs(p); i++) {
        const sk_tensor *t = sk_plan_output(p, i);
        if (t->dtype != SK_F32)
            continue;
        int64_t n = sk_shape_numel(&t->shape);
        const float *d = t->data;
        int nonzero = n == 0;
        for (int64_t k = 0; k < n; k++) {
            if (!isfinite(d[k]))
                return 0;
            nonzero |= d[k] != 0.0f;
        }
        if (!nonzero)
            return 0;
    }
    return 1;
}

/* ---- --mem: what the resident set is made of, phase by phase ------------- */

typedef struct mem_now {
    double rss, anon, file, hwm; /* MiB: VmRSS, RssAnon, RssFile, VmHWM */
} mem_now;

static mem_now mem_read(void)
{
    mem_now m = {0};
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            m.rss = (double)kb / 1024.0;
        else if (sscanf(line, "RssAnon: %ld", &kb) == 1)
            m.anon = (double)kb / 1024.0;
        else if (sscanf(line, "RssFile: %ld", &kb) == 1)
            m.file = (double)kb / 1024.0;
        else if (sscanf(line, "VmHWM: %ld", &kb) == 1)
            m.hwm = (double)kb / 1024.0;
    }
    if (f)
        fclose(f);
    return m;
}

/* Linux >= 4.0: "5" resets VmHWM to the current RSS, so the next phase's
 * peak is its own */
static void mem_reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* bytes of the constants the graph still holds (owned or mapped) */
static double graph_const_mib(const sk_graph *g)
{
    double b = 0;
    for (int v = 0; v < g->nvalues; v++)
        if (g->values[v].data)
            b += (double)sk_shape_numel(&g->values[v].shape) *
                 (double)sk_dtype_size(g->values[v].dtype);
    return b / (1024.0 * 1024.0);
}

static double mem_peak_mib; /* the largest VmHWM of the phases: resetting it resets ru_maxrss */

static void mem_phase(const args *a, const char *phase, const sk_graph *g)
{
    if (!a->mem)
        return;
    mem_now m = mem_read();
    if (m.hwm > mem_peak_mib)
        mem_peak_mib = m.hwm;
    fprintf(stderr,
            "mem %-6s: peak %7.1f MiB, now %7.1f MiB (anon %7.1f, file %6.1f)", phase, m.hwm,
            m.rss, m.anon, m.file);
    if (g)
        fprintf(stderr, "; graph constants %7.1f MiB", graph_const_mib(g));
    fprintf(stderr, "\n");
    mem_reset_peak();
}

static int plan_for(const sk_graph *g, int batch, sk_pool *pool, sk_tensor *in, sk_plan **p,
                    char *err, size_t errlen)
{
    for (int i = 0; i < g->ninputs; i++) {
        const sk_value *v = &g->values[g->inputs[i]];
        if (v->shape.rank < 0)
            return sk_errf(err, errlen, SK_EINVAL, "input '%s' has no declared shape", v->name);
        in[i].dtype = v->dtype;
        in[i].shape = v->shape;
        in[i].data = NULL;
        for (int d = 0; d < v->shape.rank; d++)
            if (v->shape.dim[d] < 0) {
                if (d != 0)
                    return sk_errf(err, errlen, SK_EINVAL,
                                   "input '%s' has a symbolic dimension %d besides the batch",
                                   v->name, d);
                in[i].shape.dim[d] = batch;
            }
    }
    return sk_plan_create(g, in, pool, p, err, errlen);
}

int main(int argc, char **argv)
{
    args a;
    char err[512];
    if (parse(argc, argv, &a))
        return 2;
    if (a.isa >= 0)
        sk_cpu_set_level((sk_isa)a.isa);
    sk_graph *g = NULL;
    mem_phase(&a, "start", NULL);
    double t0 = now_s();
    if (sk_onnx_load(a.model, &g, err, sizeof err)) {
        fprintf(stderr, "skipserve-bench: %s\n", err);
        return 1;
    }
    double t_load = now_s() - t0;
    mem_phase(&a, "load", g);
    t0 = now_s();
    sk_load_opts lo = {.level = a.level, .precision = a.bf16 ? SK_PREC_BF16 : SK_PREC_FP32};
    if (sk_graph_optimize_opts(g, &lo, err, sizeof err)) {
        fprintf(stderr, "skipserve-bench: optimize: %s\n", err);
        return 1;
    }
    if (a.bf16 && !sk_bf16_available())
        fprintf(stderr, "skipserve-bench: --precision bf16: this CPU (or --isa) has no "
                        "AVX512-BF16; running FP32\n");
    else if (a.bf16)
        fprintf(stderr,
                "skipserve-bench: precision bf16: %d convolutions on the BF16 GEMM (%s), %d "
                "Winograd ones with a BF16 form for >= SKIPSERVE_BF16_WINO_T threads\n",
                lo.bf16_convs, sk_bf16_kernel_note(), lo.bf16_form_convs);
    double t_opt = now_s() - t0;
    mem_phase(&a, "passes", g);
    sk_pool *pool = sk_pool_create(a.threads);
    sk_tensor *in = calloc((size_t)g->ninputs + 1, sizeof *in);
    sk_plan *p = NULL;
    if (!pool || !in || plan_for(g, a.batch, pool, in, &p, err, sizeof err)) {
        fprintf(stderr, "skipserve-bench: plan: %s\n", err);
        return 1;
    }
    mem_phase(&a, "plan", g);

    /* MACs of the planned shapes */
    sk_shape *sh = malloc(sizeof(sk_shape) * ((size_t)g->nvalues + 1));
    sk_dtype *dt = malloc(sizeof(sk_dtype) * ((size_t)g->nvalues + 1));
    int64_t macs = 0, *node_macs = calloc((size_t)g->nnodes + 1, sizeof *node_macs);
    if (sh && dt && node_macs && sk_graph_infer_shapes(g, in, sh, dt) == 0)
        for (int ni = 0; ni < g->nnodes; ni++)
            macs += node_macs[ni] = sk_node_macs(g, ni, sh);

    void **data = calloc((size_t)g->ninputs + 1, sizeof *data);
    for (int i = 0; i < g->ninputs; i++) {
        size_t bytes = sk_tensor_bytes(&in[i]);
        data[i] = malloc(bytes ? bytes : 1);
        if (in[i].dtype == SK_F32) {
            float *f = data[i];
            for (size_t k = 0; k < bytes / 4; k++)
                f[k] = frand();
        } else {
            memset(data[i], 0, bytes);
        }
    }
    if (a.load_input && g->ninputs > 0 &&
        read_file(a.load_input, data[0], sk_tensor_bytes(&in[0]))) {
        fprintf(stderr, "skipserve-bench: cannot read %zu bytes from %s\n",
                sk_tensor_bytes(&in[0]), a.load_input);
        return 1;
    }
    if (a.save_input && g->ninputs > 0)
        write_file(a.save_input, data[0], sk_tensor_bytes(&in[0]));

    for (int r = 0; r < a.warmup; r++)
        if (sk_plan_run(p, (const void *const *)data, err, sizeof err)) {
            fprintf(stderr, "skipserve-bench: run: %s\n", err);
            return 1;
        }
    if (a.profile && sk_plan_profile(p, 1)) {
        fprintf(stderr, "skipserve-bench: out of memory\n");
        return 1;
    }
    double *ms = malloc(sizeof(double) * (size_t)a.runs);
    double *cms = malloc(sizeof(double) * (size_t)a.runs);
    double *seq = malloc(sizeof(double) * (size_t)a.runs); /* in run order */
    int sane = 1;
    for (int r = 0; r < a.runs; r++) {
        double t = now_s(), c = cpu_s();
        if (sk_plan_run(p, (const void *const *)data, err, sizeof err)) {
            fprintf(stderr, "skipserve-bench: run: %s\n", err);
            return 1;
        }
        ms[r] = seq[r] = (now_s() - t) * 1e3;
        cms[r] = (cpu_s() - c) * 1e3;
        sane &= outputs_sane(p);
    }
    mem_phase(&a, "runs", g);
    qsort(ms, (size_t)a.runs, sizeof *ms, cmp_double);
    qsort(cms, (size_t)a.runs, sizeof *cms, cmp_double);
    double cpu_median = cms[a.runs / 2];
    double median = a.runs % 2 ? ms[a.runs / 2] : 0.5 * (ms[a.runs / 2 - 1] + ms[a.runs / 2]);
    double gmac = (double)macs / 1e9, gflops = 2.0 * gmac / (median / 1e3);
    if (a.save_output && sk_plan_noutputs(p) > 0) {
        const sk_tensor *o = sk_plan_output(p, 0);
        write_file(a.save_output, o->data, sk_tensor_bytes(o));
    }

    if (a.profile && !a.json)
        sk_plan_profile_dump(p, stdout, a.profile_top > 0 ? a.profile_top : 25, node_macs);

    double verify_err = -1;
    if (a.verify) {
        /* the same model, unoptimized, reference kernels, same input */
        sk_isa keep = sk_cpu_level();
        sk_cpu_set_level(SK_ISA_SCALAR);
        sk_graph *gr = NULL;
        sk_plan *pr = NULL;
        sk_tensor *inr = calloc((size_t)g->ninputs + 1, sizeof *inr);
        if (sk_onnx_load(a.model, &gr, err, sizeof err) ||
            plan_for(gr, a.batch, pool, inr, &pr, err, sizeof err) ||
            sk_plan_run(pr, (const void *const *)data, err, sizeof err)) {
            fprintf(stderr, "skipserve-bench: verify: %s\n", err);
            return 1;
        }
        verify_err = 0;
        for (int i = 0; i < sk_plan_noutputs(p); i++) {
            const sk_tensor *x = sk_plan_output(p, i), *y = sk_plan_output(pr, i);
            int64_t n = sk_shape_numel(&x->shape);
            if (x->dtype != SK_F32 || n != sk_shape_numel(&y->shape))
                continue;
            const float *xd = x->data, *yd = y->data;
            double range = 0;
            for (int64_t k = 0; k < n; k++)
                range = fmax(range, fabs(yd[k]));
            for (int64_t k = 0; k < n; k++)
                verify_err = fmax(verify_err, fabs(xd[k] - yd[k]) / (range > 0 ? range : 1));
        }
        sk_plan_free(pr);
        sk_graph_free(gr);
        free(inr);
        sk_cpu_set_level(keep);
    }
    double peak = a.peak ? measure_peak(pool, a.threads) : 0;
    double lowp[LP_COUNT] = {0};
    for (int k = 0; a.peak && k < LP_COUNT; k++)
        lowp[k] = lowp_have((lowp_kind)k) ? measure_lowp(pool, a.threads, (lowp_kind)k) : 0;
    /* the ceiling of the arithmetic this run used: bf16 when its convs ran there */
    const sk_kconfig *bkc = sk_kconfig_for(sk_cpu_level());
    const int amx = bkc && bkc->bf16_gemm.kchunk > 0; /* the AMX-BF16 kernel (session 19) */
    double run_peak = a.bf16 && lo.bf16_convs ? lowp[amx ? LP_AMX : LP_BF16] : peak;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;
    if (mem_peak_mib > rss_mb)
        rss_mb = mem_peak_mib;
    /* the resident set now, after the runs: the packed weights, the arena
     * and the model as they stay while serving (the peak is the load's:
     * the file and the unpacked weights) */
    double rss_now_mb = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    long pages_total, pages_res;
    if (statm && fscanf(statm, "%ld %ld", &pages_total, &pages_res) == 2)
        rss_now_mb = (double)pages_res * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
    if (statm)
        fclose(statm);
    double arena_mb = (double)sk_plan_arena_bytes(p) / (1024.0 * 1024.0);
    const char *isa = sk_isa_name(sk_cpu_level());
    if (a.json) {
        printf("{\"model\": \"%s\", \"batch\": %d, \"threads\": %d, \"isa\": \"%s\", "
               "\"level\": %d, \"runs\": %d, \"median_ms\": %.3f, \"min_ms\": %.3f, "
               "\"cpu_ms\": %.3f, \"gmac\": %.4f, \"gflops\": %.2f",
               a.model, a.batch, a.threads, isa, a.level, a.runs, median, ms[0], cpu_median,
               gmac, gflops);
        if (a.peak) {
            printf(", \"peak_gflops\": %.2f, \"pct_peak\": %.1f", peak, 100.0 * gflops / run_peak);
            for (int k = 0; k < LP_COUNT; k++)
                if (lowp[k] > 0)
                    printf(", \"peak_%s_gops\": %.2f", lowp_key[k], lowp[k]);
        }
        printf(", \"precision\": \"%s\"", a.bf16 && lo.bf16_convs ? "bf16" : "fp32");
        if (a.verify)
            printf(", \"max_rel_err\": %.3g", verify_err);
        printf(", \"outputs_ok\": %s, \"arena_mb\": %.2f, \"max_rss_mb\": %.1f, "
               "\"rss_mb\": %.1f, \"load_s\": %.3f, \"optimize_s\": %.3f, \"runs_ms\": [",
               sane ? "true" : "false", arena_mb, rss_mb, rss_now_mb, t_load, t_opt);
        for (int r = 0; r < a.runs; r++) /* in order: shows this VM's speed levels */
            printf("%s%.3f", r ? ", " : "", seq[r]);
        printf("]}\n");
    } else {
        printf("%s: batch %d, %d thread%s, %s, level %d, precision %s\n", a.model, a.batch,
               a.threads, a.threads == 1 ? "" : "s", isa, a.level,
               a.bf16 && lo.bf16_convs ? "bf16" : "fp32");
        printf("  median %.3f ms, min %.3f ms over %d runs (process CPU time per run: median "
               "%.3f ms)\n",
               median, ms[0], a.runs, cpu_median);
        printf("  %.3f GMAC, %.1f GFLOP/s", gmac, gflops);
        if (a.peak)
            printf(", %s ceiling %.1f GFLOP/s (%d thread%s): %.1f%%",
                   run_peak == peak ? "FP32" : "BF16", run_peak, a.threads,
                   a.threads == 1 ? "" : "s", 100.0 * gflops / run_peak);
        printf("\n");
        if (a.peak) {
            printf("  ceilings per core: FP32 FMA %.1f GFLOP/s", peak / a.threads);
            for (int k = 0; k < LP_COUNT; k++)
                if (lowp[k] > 0)
                    printf("; %s %.1f GOP/s", lowp_name[k], lowp[k] / a.threads);
            printf("\n");
        }
        if (a.verify)
            printf("  max error vs reference: %.3g of the output range\n", verify_err);
        printf("  outputs %s; arena %.1f MiB, peak RSS %.1f MiB, RSS after the runs %.1f MiB; "
               "load %.2f s, passes %.2f s\n",
               sane ? "finite and non-zero" : "NOT SANE (NaN/Inf or all zero)", arena_mb,
               rss_mb, rss_now_mb, t_load, t_opt);
    }
    for (int i = 0; i < g->ninputs; i++)
        free(data[i]);
    free(data);
    free(ms);
    free(cms);
    free(seq);
    free(sh);
    free(dt);
    free(node_macs);
    free(in);
    sk_plan_free(p);
    sk_graph_free(g);
    sk_pool_destroy(pool);
    return sane ? 0 : 1;
}
