/* run_cli.c — skipserve-run: load an ONNX model, run it once on inputs read
 * from TensorProto files, print each output's shape and checksum.
 *
 *   skipserve-run MODEL.onnx [--input-pb IN.pb ...] [--output-pb OUT.pb ...]
 *                 [--dump] [--batch N] [--threads N] [--repeat N] [--opt 0|1]
 *                 [--precision fp32|bf16]
 *
 * Inputs are matched to the model's inputs by the tensor's name, else by
 * position. A missing input is an error: nothing is ever invented. Every
 * failure is one line on stderr and a non-zero exit (1; 2 for usage). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/plan.h"
#include "engine/kernels/config.h"
#include "engine/passes/passes.h"
#include "engine/threadpool.h"
#include "loaders/onnx.h"

#define MAX_FILES 64
#define ERR_LEN 4096

static void die_line(const char *msg)
{
    /* exactly one line, whatever the message holds */
    fputs("skipserve-run: ", stderr);
    for (const char *p = msg; *p; p++)
        fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
    fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    char buf[ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    die_line(buf);
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct args {
    const char *model;
    const char *in[MAX_FILES], *out[MAX_FILES];
    int nin, nout, dump, threads, repeat, opt;
    int bf16; /* --precision bf16 */
    long batch;
} args;

static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->threads = 0;
    a->repeat = 1;
    a->opt = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(s, "--input-pb") && more) {
            if (a->nin == MAX_FILES)
                return fail("too many --input-pb files (at most %d)", MAX_FILES), -1;
            a->in[a->nin++] = argv[++i];
        } else if (!strcmp(s, "--output-pb") && more) {
            if (a->nout == MAX_FILES)
                return fail("too many --output-pb files (at most %d)", MAX_FILES), -1;
            a->out[a->nout++] = argv[++i];
        } else if (!strcmp(s, "--dump")) {
            a->dump = 1;
        } else if (!strcmp(s, "--batch") && more) {
            char *end;
            a->batch = strtol(argv[++i], &end, 10);
            if (*end || a->batch < 1 || a->batch > 4096)
                return fail("--batch needs a number from 1 to 4096"), -1;
        } else if (!strcmp(s, "--precision") && more) {
            const char *v = argv[++i];
            if (strcmp(v, "fp32") && strcmp(v, "bf16"))
                return fail("--precision takes fp32 or bf16 (an int8 model is its own file)"),
                       -1;
            a->bf16 = !strcmp(v, "bf16");
        } else if (!strcmp(s, "--opt") && more) {
            a->opt = atoi(argv[++i]);
        } else if (!strcmp(s, "--threads") && more) {
            a->threads = atoi(argv[++i]);
        } else if (!strcmp(s, "--repeat") && more) {
            a->repeat = atoi(argv[++i]);
            if (a->repeat < 1)
                return fail("--repeat needs a positive number"), -1;
        } else if (s[0] == '-' || a->model) {
            return fail("usage: skipserve-run MODEL.onnx [--input-pb IN.pb ...] "
                        "[--output-pb OUT.pb ...] [--dump] [--batch N] [--threads N] "
                        "[--repeat N] [--opt 0|1] [--precision fp32|bf16]"),
                   -1;
        } else {
            a->model = s;
        }
    }
    if (!a->model)
        return fail("usage: skipserve-run MODEL.onnx [--input-pb IN.pb ...] "
                    "[--output-pb OUT.pb ...] [--dump] [--batch N] [--threads N] "
                    "[--repeat N] [--opt 0|1] [--precision fp32|bf16]"),
               -1;
    return 0;
}

/* Repeat a tensor `n` times along dim 0 (a batch of copies). */
static int tile_batch(sk_tensor *t, long n, char *err, size_t errlen)
{
    if (n <= 1)
        return 0;
    if (t->shape.rank < 1)
        return sk_errf(err, errlen, SK_EINVAL, "--batch needs inputs of rank 1 or more");
    size_t bytes = sk_tensor_bytes(t);
    if (t->shape.dim[0] > SK_MAX_NUMEL / n)
        return sk_errf(err, errlen, SK_ETOOLARGE, "--batch %ld makes an input too large", n);
    sk_shape s = t->shape;
    s.dim[0] *= n;
    if (sk_shape_numel(&s) < 0)
        return sk_errf(err, errlen, SK_ETOOLARGE, "--batch %ld makes an input too large", n);
    char *d = sk_alloc(bytes * (size_t)n + 1);
    if (!d)
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory for --batch %ld", n);
    for (long k = 0; k < n; k++)
        if (bytes)
            memcpy(d + (size_t)k * bytes, t->data, bytes);
    sk_free(t->data);
    t->data = d;
    t->shape = s;
    return 0;
}

static void print_output(const char *name, const sk_tensor *t)
{
    char sb[160];
    int64_t n = sk_shape_numel(&t->shape);
    double sum = 0, asum = 0;
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (t->dtype) {
        case SK_F32: v = ((const float *)t->data)[i]; break;
        case SK_F64: v = ((const double *)t->data)[i]; break;
        case SK_I32: v = ((const int32_t *)t->data)[i]; break;
        case SK_I64: v = (double)((const int64_t *)t->data)[i]; break;
        case SK_I8: v = ((const int8_t *)t->data)[i]; break;
        default: v = ((const uint8_t *)t->data)[i]; break;
        }
        sum += v;
        asum += v < 0 ? -v : v;
    }
    printf("output '%s' %s %s sum=%.9g abs=%.9g\n", name, sk_dtype_name(t->dtype),
           sk_shape_str(&t->shape, sb, sizeof sb), sum, asum);
}

int main(int argc, char **argv)
{
    args a;
    if (parse_args(argc, argv, &a) < 0)
        return 2;
    char err[ERR_LEN];
    int status = 1;
    sk_graph *g = NULL;
    sk_plan *plan = NULL;
    sk_pool *pool = NULL;
    sk_tensor in[MAX_FILES];
    char names[MAX_FILES][256];
    int nread = 0;
    sk_tensor *bind = NULL;
    const void **data = NULL;
    int *slot = NULL;

    sk_load_opts lo = {.level = a.opt, .precision = a.bf16 ? SK_PREC_BF16 : SK_PREC_FP32};
    if (a.bf16 && !sk_bf16_available())
        fprintf(stderr, "skipserve-run: --precision bf16: no AVX512-BF16 here; running FP32\n");
    else if (a.bf16)
        fprintf(stderr, "skipserve-run: precision bf16: kernel %s\n", sk_bf16_kernel_note());
    double t0 = now_ms();
    if (sk_onnx_load(a.model, &g, err, sizeof err) < 0 ||
        sk_graph_optimize_opts(g, &lo, err, sizeof err) < 0) {
        die_line(err);
        goto out;
    }
    double t1 = now_ms();
    for (; nread < a.nin; nread++) {
        if (sk_tensor_pb_read(a.in[nread], &in[nread], names[nread], sizeof names[nread], err,
                              sizeof err) < 0 ||
            tile_batch(&in[nread], a.batch, err, sizeof err) < 0) {
            if (in[nread].data)
                nread++;
            die_line(err);
            goto out;
        }
    }
    /* --input-pb files -> model inputs: by name, else by position */
    bind = calloc((size_t)g->ninputs + 1, sizeof *bind);
    data = calloc((size_t)g->ninputs + 1, sizeof *data);
    slot = malloc(((size_t)g->ninputs + 1) * sizeof *slot);
    if (!bind || !data || !slot) {
        fail("out of memory");
        goto out;
    }
    for (int i = 0; i < g->ninputs; i++)
        slot[i] = -1;
    for (int k = 0; k < nread; k++) {
        int target = -1;
        for (int i = 0; i < g->ninputs; i++)
            if (names[k][0] && strcmp(names[k], g->values[g->inputs[i]].name) == 0)
                target = i;
        if (target < 0 && k < g->ninputs && slot[k] < 0)
            target = k;
        if (target < 0 || slot[target] >= 0) {
            fail("%s: tensor '%s' matches no model input (the model has %d input%s)", a.in[k],
                 names[k], g->ninputs, g->ninputs == 1 ? "" : "s");
            goto out;
        }
        slot[target] = k;
    }
    for (int i = 0; i < g->ninputs; i++) {
        const sk_value *v = &g->values[g->inputs[i]];
        if (slot[i] < 0) {
            char sb[160];
            fail("model input '%s' (%s %s) was not given: pass it with --input-pb FILE.pb",
                 v->name, sk_dtype_name(v->dtype), sk_shape_str(&v->shape, sb, sizeof sb));
            goto out;
        }
        bind[i] = in[slot[i]];
        data[i] = bind[i].data;
        bind[i].data = NULL;
    }
    if (a.threads != 1) {
        pool = sk_pool_create(a.threads);
        if (!pool) {
            fail("cannot create the thread pool");
            goto out;
        }
    }
    int rc = sk_plan_create(g, bind, pool, &plan, err, sizeof err);
    if (rc == SK_ENEEDVALUE) {
        /* a shape depends on an input's value: plan with the inputs pinned */
        for (int i = 0; i < g->ninputs; i++)
            bind[i].data = (void *)data[i];
        rc = sk_plan_create(g, bind, pool, &plan, err, sizeof err);
    }
    if (rc < 0) {
        die_line(err);
        goto out;
    }
    double t2 = now_ms();
    if (a.dump)
        sk_plan_dump(plan, stdout);
    double best = 0;
    for (int r = 0; r < a.repeat; r++) {
        double s = now_ms();
        if (sk_plan_run(plan, data, err, sizeof err) < 0) {
            die_line(err);
            goto out;
        }
        double e = now_ms() - s;
        if (r == 0 || e < best)
            best = e;
    }
    int nout = sk_plan_noutputs(plan);
    if (a.nout > nout) {
        fail("%d --output-pb files given, the model has %d output%s", a.nout, nout,
             nout == 1 ? "" : "s");
        goto out;
    }
    for (int i = 0; i < nout; i++)
        print_output(sk_plan_output_name(plan, i), sk_plan_output(plan, i));
    for (int i = 0; i < a.nout; i++)
        if (sk_tensor_pb_write(a.out[i], sk_plan_output(plan, i), sk_plan_output_name(plan, i),
                               err, sizeof err) < 0) {
            die_line(err);
            goto out;
        }
    printf("time: load %.1f ms, plan %.1f ms, run %.1f ms%s\n", t1 - t0, t2 - t1, best,
           a.repeat > 1 ? " (best)" : "");
    status = 0;
out:
    sk_plan_free(plan);
    if (pool)
        sk_pool_destroy(pool);
    for (int k = 0; k < nread; k++)
        sk_free(in[k].data);
    free(bind);
    free(data);
    free(slot);
    sk_graph_free(g);
    return status;
}
