/* runner.c — ONNX backend-test conformance runner.
 *
 *   skipserve-conformance [--expected FILE] [--filter SUBSTR] [--verbose]
 *       [--rtol R] [--atol A] [--max-abs-norm] [--timeout S] [--no-fork]
 *       [--write-pass FILE] [--all-must-pass] DIR...
 *   skipserve-conformance --print-level   (the SIMD level, after SKIPSERVE_ISA)
 *
 * A DIR is one test (model.onnx + test_data_set_N/{input,output}_K.pb) or a
 * folder of tests. Each test runs in a forked child with a time limit, so a
 * crash or a hang is reported as a failure of that test only. A test is
 * "unsupported" (skipped) when the loader, planner or a kernel refuses an op,
 * attribute or dtype with SK_EUNSUPPORTED. See README.md. */
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/cpu.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "engine/threadpool.h"
#include "loaders/onnx.h"
#include "onnx.pb-c.h"

enum { R_PASS, R_FAIL, R_SKIP };

typedef struct opts {
    const char *expected, *filter, *write_pass;
    int verbose, max_abs_norm, no_fork, timeout, all_must_pass;
    int opt;     /* sk_graph_optimize level (fusion + fast kernels at 1) */
    int threads; /* > 1: run with a thread pool of that size */
    sk_pool *pool; /* made per test: workers would not survive the fork */
    double rtol, atol;
    int int_atol; /* integer outputs may differ by this much (--int-atol) */
} opts;

typedef struct test {
    char *dir, *name;
    char op[64];
    int result;
    char *msg;
} test;

/* Ops whose reference outputs need a looser tolerance, with the reason
 * (also in README.md). */
static const struct {
    const char *op;
    double rtol, atol;
} tol_overrides[] = {
    {NULL, 0, 0},
};

#define MSG_LEN 1024

/* snprintf that truncates silently: paths and messages here are bounded on
 * purpose, and a truncated message is still a message. */
__attribute__((format(printf, 3, 4))) static int fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, len, f, ap);
    va_end(ap);
    return n;
}

/* --- test discovery ------------------------------------------------------ */

static int is_test_dir(const char *dir)
{
    char p[4096];
    struct stat st;
    fmt(p, sizeof p, "%s/model.onnx", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_test(test **tv, int *n, const char *dir)
{
    test *t = realloc(*tv, (size_t)(*n + 1) * sizeof *t);
    if (!t)
        return -1;
    *tv = t;
    t = &t[*n];
    memset(t, 0, sizeof *t);
    t->dir = strdup(dir);
    const char *slash = strrchr(dir, '/');
    t->name = strdup(slash ? slash + 1 : dir);
    if (!t->dir || !t->name)
        return -1;
    (*n)++;
    return 0;
}

static int collect(const char *dir, const char *filter, test **tv, int *n)
{
    char buf[4096];
    fmt(buf, sizeof buf, "%s", dir);
    size_t l = strlen(buf);
    while (l > 1 && buf[l - 1] == '/')
        buf[--l] = 0;
    if (is_test_dir(buf)) {
        const char *base = strrchr(buf, '/');
        base = base ? base + 1 : buf;
        if (filter && !strstr(base, filter))
            return 0;
        return add_test(tv, n, buf);
    }
    DIR *d = opendir(buf);
    if (!d) {
        fprintf(stderr, "skipserve-conformance: cannot open '%s': %s\n", buf, strerror(errno));
        return -1;
    }
    char **names = NULL;
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (filter && !strstr(e->d_name, filter))
            continue;
        char sub[4096];
        fmt(sub, sizeof sub, "%s/%s", buf, e->d_name);
        if (!is_test_dir(sub))
            continue;
        char **nv = realloc(names, (size_t)(nn + 1) * sizeof *nv);
        if (!nv)
            break;
        names = nv;
        names[nn++] = strdup(sub);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp_names);
    int rc = 0;
    for (int i = 0; i < nn; i++) {
        if (rc == 0 && add_test(tv, n, names[i]) < 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

/* --- the op a test is about ------------------------------------------------- */

static void model_op(const char *dir, const char *name, char *op, size_t oplen)
{
    char p[4096];
    fmt(p, sizeof p, "%s/model.onnx", dir);
    fmt(op, oplen, "?");
    FILE *f = fopen(p, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = n > 0 ? malloc((size_t)n) : NULL;
        if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) {
            Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)n, buf);
            if (m && m->graph) {
                for (size_t i = 0; i < m->graph->n_node; i++) {
                    const char *t = m->graph->node[i]->op_type;
                    if (t && strcmp(t, "Constant") != 0) {
                        fmt(op, oplen, "%s", t);
                        break;
                    }
                    if (t)
                        fmt(op, oplen, "%s", t);
                }
            }
            if (m)
                onnx__model_proto__free_unpacked(m, NULL);
        }
        free(buf);
        fclose(f);
    }
    if (strcmp(op, "?") == 0 && strncmp(name, "test_", 5) == 0) {
        /* unreadable model: the test name's first word */
        fmt(op, oplen, "%s", name + 5);
        char *u = strchr(op, '_');
        if (u)
            *u = 0;
    }
}

/* An "_expanded" test runs the function body of the op its sibling test
 * (same name without the suffix) runs: label it with that op. */
static void test_op(const char *dir, const char *name, char *op, size_t oplen)
{
    size_t nl = strlen(name), dl = strlen(dir);
    const char *suf = "_expanded";
    if (nl > 9 && strcmp(name + nl - 9, suf) == 0 && dl > 9) {
        char sib[4096];
        fmt(sib, sizeof sib, "%.*s", (int)(dl - 9), dir);
        if (is_test_dir(sib)) {
            char sop[64];
            model_op(sib, name, sop, sizeof sop);
            fmt(op, oplen, "%s(expanded)", sop);
            return;
        }
    }
    model_op(dir, name, op, oplen);
}

/* --- comparison --------------------------------------------------------------- */

static double elem(const sk_tensor *t, size_t i)
{
    switch (t->dtype) {
    case SK_F32: return ((const float *)t->data)[i];
    case SK_F64: return ((const double *)t->data)[i];
    case SK_I32: return ((const int32_t *)t->data)[i];
    case SK_I64: return (double)((const int64_t *)t->data)[i];
    case SK_U8:
    case SK_BOOL: return ((const uint8_t *)t->data)[i];
    case SK_I8: return ((const int8_t *)t->data)[i];
    default: return NAN;
    }
}

static int compare(const sk_tensor *got, const sk_tensor *ref, const char *oname, int k,
                   const opts *o, double rtol, double atol, char *msg, size_t len)
{
    char a[128], b[128];
    if (got->dtype != ref->dtype)
        return fmt(msg, len, "output %d '%s': dtype %s, expected %s", k, oname,
                        sk_dtype_name(got->dtype), sk_dtype_name(ref->dtype)),
               -1;
    if (!sk_shape_equal(&got->shape, &ref->shape))
        return fmt(msg, len, "output %d '%s': shape %s, expected %s", k, oname,
                        sk_shape_str(&got->shape, a, sizeof a),
                        sk_shape_str(&ref->shape, b, sizeof b)),
               -1;
    int64_t n = sk_shape_numel(&ref->shape);
    int is_float = ref->dtype == SK_F32 || ref->dtype == SK_F64;
    if (n > 0 && !got->data)
        return fmt(msg, len, "output %d '%s' has no data", k, oname), -1;
    if (is_float && o->max_abs_norm) {
        double maxerr = 0, maxref = 0;
        int64_t worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double x = elem(got, (size_t)i), y = elem(ref, (size_t)i);
            double e = fabs(x - y);
            if (isnan(x) != isnan(y) || (isnan(e) && !(isnan(x) && isnan(y))))
                e = INFINITY;
            else if (isnan(e))
                e = 0;
            if (e > maxerr || (e == INFINITY && maxerr != INFINITY))
                maxerr = e, worst = i;
            if (fabs(y) > maxref)
                maxref = fabs(y);
        }
        double norm = maxref > 0 ? maxerr / maxref : maxerr;
        if (maxref > 0 ? norm <= rtol : maxerr <= atol)
            return 0;
        if (maxref == 0)
            return fmt(msg, len, "output %d '%s': reference is all zero, max |err| %.3g > %.3g", k,
                       oname, maxerr, atol),
                   -1;
        return fmt(msg, len,
                        "output %d '%s': max |err| / max |ref| = %.3g > %.3g (max err %.3g at "
                        "%lld: got %.7g, expected %.7g)",
                        k, oname, norm, rtol, maxerr, (long long)worst,
                        elem(got, (size_t)worst), elem(ref, (size_t)worst)),
               -1;
    }
    int64_t bad = 0, first = -1;
    double maxerr = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = elem(got, (size_t)i), y = elem(ref, (size_t)i);
        int ok;
        if (!is_float)
            ok = fabs(x - y) <= o->int_atol;
        else if (isnan(y) || isnan(x))
            ok = isnan(x) && isnan(y);
        else if (isinf(y) || isinf(x))
            ok = x == y;
        else
            ok = fabs(x - y) <= atol + rtol * fabs(y);
        if (!ok) {
            if (first < 0)
                first = i;
            bad++;
        }
        if (is_float && isfinite(x) && isfinite(y) && fabs(x - y) > maxerr)
            maxerr = fabs(x - y);
    }
    if (!bad)
        return 0;
    return fmt(msg, len,
                    "output %d '%s': %lld of %lld values differ; first at %lld: got %.9g, "
                    "expected %.9g (max abs err %.3g)",
                    k, oname, (long long)bad, (long long)n, (long long)first,
                    elem(got, (size_t)first), elem(ref, (size_t)first), maxerr),
           -1;
}

/* --- running one test ------------------------------------------------------ */

typedef struct tensors {
    sk_tensor t[64];
    char name[64][256];
    int n;
} tensors;

static void tensors_free(tensors *ts)
{
    for (int i = 0; i < ts->n; i++)
        sk_free(ts->t[i].data);
    ts->n = 0;
}

/* Read prefix_0.pb, prefix_1.pb, ... Returns 0, or an SK_E* code. */
static int read_pbs(const char *dir, const char *prefix, tensors *ts, char *msg, size_t len)
{
    ts->n = 0;
    for (int k = 0; k < 64; k++) {
        char p[4096];
        fmt(p, sizeof p, "%s/%s_%d.pb", dir, prefix, k);
        if (access(p, F_OK) != 0)
            break;
        int rc = sk_tensor_pb_read(p, &ts->t[k], ts->name[k], sizeof ts->name[k], msg, len);
        if (rc < 0)
            return rc;
        ts->n = k + 1;
    }
    return 0;
}

static int classify(int rc) { return rc == SK_EUNSUPPORTED ? R_SKIP : R_FAIL; }

static int run_dataset(const sk_graph *g, const char *dsdir, const char *op, const opts *o,
                       char *msg, size_t len)
{
    tensors *in = calloc(1, sizeof *in), *ref = calloc(1, sizeof *ref);
    sk_tensor *bind = calloc((size_t)g->ninputs + 1, sizeof *bind);
    const void **data = calloc((size_t)g->ninputs + 1, sizeof *data);
    sk_plan *plan = NULL;
    int result = R_FAIL, rc;
    if (!in || !ref || !bind || !data) {
        fmt(msg, len, "out of memory");
        goto out;
    }
    if ((rc = read_pbs(dsdir, "input", in, msg, len)) < 0 ||
        (rc = read_pbs(dsdir, "output", ref, msg, len)) < 0) {
        result = classify(rc);
        goto out;
    }
    /* input_K.pb -> graph input: by tensor name, else by position */
    int *slot = calloc((size_t)g->ninputs + 1, sizeof *slot);
    if (!slot) {
        fmt(msg, len, "out of memory");
        goto out;
    }
    for (int i = 0; i < g->ninputs; i++)
        slot[i] = -1;
    for (int k = 0; k < in->n; k++) {
        int target = -1;
        for (int i = 0; i < g->ninputs; i++)
            if (in->name[k][0] && strcmp(g->values[g->inputs[i]].name, in->name[k]) == 0)
                target = i;
        if (target < 0 && in->name[k][0] && sk_graph_find(g, in->name[k]) >= 0 &&
            g->values[sk_graph_find(g, in->name[k])].data)
            continue; /* feeds an initializer-backed input: a weight here */
        if (target < 0 && k < g->ninputs && slot[k] < 0)
            target = k;
        if (target < 0 || slot[target] >= 0) {
            fmt(msg, len, "input_%d.pb ('%s') matches no graph input", k, in->name[k]);
            free(slot);
            goto out;
        }
        slot[target] = k;
    }
    for (int i = 0; i < g->ninputs; i++) {
        if (slot[i] < 0) {
            fmt(msg, len, "no input file for graph input '%s'",
                     g->values[g->inputs[i]].name);
            free(slot);
            goto out;
        }
        bind[i] = in->t[slot[i]];
        data[i] = bind[i].data;
        bind[i].data = NULL;
    }
    free(slot);
    rc = sk_plan_create(g, bind, o->pool, &plan, msg, len);
    if (rc == SK_ENEEDVALUE) {
        for (int i = 0; i < g->ninputs; i++)
            bind[i].data = (void *)data[i];
        rc = sk_plan_create(g, bind, o->pool, &plan, msg, len);
    }
    if (rc < 0) {
        result = classify(rc);
        goto out;
    }
    rc = sk_plan_run(plan, data, msg, len);
    if (rc < 0) {
        result = classify(rc);
        goto out;
    }
    if (sk_plan_noutputs(plan) != ref->n) {
        fmt(msg, len, "model has %d outputs, test data %d", sk_plan_noutputs(plan), ref->n);
        goto out;
    }
    double rtol = o->rtol, atol = o->atol;
    for (size_t i = 0; tol_overrides[i].op; i++)
        if (strcmp(tol_overrides[i].op, op) == 0)
            rtol = tol_overrides[i].rtol, atol = tol_overrides[i].atol;
    result = R_PASS;
    for (int k = 0; k < ref->n; k++)
        if (compare(sk_plan_output(plan, k), &ref->t[k], sk_plan_output_name(plan, k), k, o,
                    rtol, atol, msg, len) < 0) {
            result = R_FAIL;
            break;
        }
out:
    sk_plan_free(plan);
    if (in)
        tensors_free(in);
    if (ref)
        tensors_free(ref);
    free(in);
    free(ref);
    free(bind);
    free(data);
    return result;
}

static int run_test_in(const test *t, const opts *o, char *msg, size_t len);

static int run_test(const test *t, const opts *o, char *msg, size_t len)
{
    opts local = *o;
    if (o->threads > 1 && !(local.pool = sk_pool_create(o->threads)))
        return R_FAIL;
    int r = run_test_in(t, &local, msg, len);
    sk_pool_destroy(local.pool);
    return r;
}

static int run_test_in(const test *t, const opts *o, char *msg, size_t len)
{
    char p[4096];
    fmt(p, sizeof p, "%s/model.onnx", t->dir);
    sk_graph *g = NULL;
    int rc = sk_onnx_load(p, &g, msg, len);
    if (rc >= 0)
        rc = sk_graph_optimize(g, o->opt, msg, len);
    if (rc < 0) {
        sk_graph_free(g);
        return classify(rc);
    }
    int result = R_PASS, nsets = 0;
    for (int k = 0; result == R_PASS && k < 1000; k++) {
        fmt(p, sizeof p, "%s/test_data_set_%d", t->dir, k);
        if (access(p, F_OK) != 0)
            break;
        nsets++;
        char m[MSG_LEN];
        result = run_dataset(g, p, t->op, o, m, sizeof m);
        if (result != R_PASS)
            fmt(msg, len, "test_data_set_%d: %s", k, m);
    }
    if (nsets == 0 && result == R_PASS) {
        fmt(msg, len, "no test_data_set_N folder");
        result = R_FAIL;
    }
    sk_graph_free(g);
    return result;
}

/* Fork, run, read "result\tmessage" back through a pipe. */
static void run_isolated(test *t, const opts *o)
{
    char msg[MSG_LEN] = "";
    if (o->no_fork) {
        t->result = run_test(t, o, msg, sizeof msg);
        t->msg = strdup(msg);
        return;
    }
    int fd[2];
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0) {
        t->result = R_FAIL;
        t->msg = strdup("pipe failed");
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        alarm((unsigned)o->timeout);
        int r = run_test(t, o, msg, sizeof msg);
        char out[MSG_LEN + 8];
        int n = fmt(out, sizeof out, "%d\t%s", r, msg);
        if (n > (int)sizeof out - 1)
            n = (int)sizeof out - 1;
        ssize_t w = write(fd[1], out, (size_t)n);
        (void)w;
        _exit(0);
    }
    close(fd[1]);
    if (pid < 0) {
        close(fd[0]);
        t->result = R_FAIL;
        t->msg = strdup("fork failed");
        return;
    }
    char buf[MSG_LEN + 8];
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd[0], buf + got, sizeof buf - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof buf - 1)
            break;
    }
    buf[got] = 0;
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        t->result = R_FAIL;
        if (sig == SIGALRM)
            fmt(msg, sizeof msg, "timed out after %d s", o->timeout);
        else
            fmt(msg, sizeof msg, "crashed (signal %d, %s)", sig, strsignal(sig));
        t->msg = strdup(msg);
        return;
    }
    char *tab = strchr(buf, '\t');
    if (!tab || got == 0) {
        t->result = R_FAIL;
        t->msg = strdup("the test process exited without a result");
        return;
    }
    *tab = 0;
    t->result = atoi(buf);
    t->msg = strdup(tab + 1);
}

/* --- summary --------------------------------------------------------------------- */

typedef struct oprow {
    const char *op;
    int n[3];
} oprow;

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const oprow *)a)->op, ((const oprow *)b)->op);
}

static void print_table(const test *tv, int n)
{
    oprow *rows = calloc((size_t)n + 1, sizeof *rows);
    int nr = 0;
    if (!rows)
        return;
    for (int i = 0; i < n; i++) {
        int r = 0;
        while (r < nr && strcmp(rows[r].op, tv[i].op) != 0)
            r++;
        if (r == nr)
            rows[nr++].op = tv[i].op;
        rows[r].n[tv[i].result]++;
    }
    qsort(rows, (size_t)nr, sizeof *rows, cmp_row);
    printf("\n%-28s %6s %6s %6s\n", "op", "pass", "fail", "skip");
    for (int r = 0; r < nr; r++)
        printf("%-28s %6d %6d %6d\n", rows[r].op, rows[r].n[R_PASS], rows[r].n[R_FAIL],
               rows[r].n[R_SKIP]);
    printf("\n");
    free(rows);
}

/* Every test named in FILE must pass. Returns the number that did not. */
static int check_expected(const char *path, const test *tv, int n, int filtered)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "skipserve-conformance: cannot open '%s': %s\n", path, strerror(errno));
        return 1;
    }
    char line[512];
    int bad = 0;
    while (fgets(line, sizeof line, f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strcspn(s, " \t\r\n#");
        s[l] = 0;
        if (!*s)
            continue;
        int found = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(tv[i].name, s) == 0) {
                found = 1;
                if (tv[i].result != R_PASS) {
                    printf("EXPECTED PASS: %s %s\n", s,
                           tv[i].result == R_FAIL ? "failed" : "was unsupported");
                    bad++;
                }
            }
        if (!found && !filtered) {
            printf("EXPECTED PASS: %s was not found\n", s);
            bad++;
        }
    }
    fclose(f);
    return bad;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: skipserve-conformance [--expected FILE] [--filter SUBSTR] [--verbose]\n"
            "         [--rtol R] [--atol A] [--int-atol N] [--max-abs-norm] [--timeout S]\n"
            "         [--no-fork] [--write-pass FILE] [--all-must-pass] [--opt 0|1] [--threads N] DIR...\n"
            "       skipserve-conformance --print-level\n");
}

int main(int argc, char **argv)
{
    opts o = {.rtol = 1e-4, .atol = 1e-5, .timeout = 120, .opt = 1, .threads = 1};
    test *tv = NULL;
    int n = 0, ndirs = 0;
    const char **dirs = calloc((size_t)argc + 1, sizeof *dirs);
    if (!dirs)
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--expected") && more)
            o.expected = argv[++i];
        else if (!strcmp(a, "--filter") && more)
            o.filter = argv[++i];
        else if (!strcmp(a, "--write-pass") && more)
            o.write_pass = argv[++i];
        else if (!strcmp(a, "--rtol") && more)
            o.rtol = atof(argv[++i]);
        else if (!strcmp(a, "--atol") && more)
            o.atol = atof(argv[++i]);
        else if (!strcmp(a, "--int-atol") && more)
            o.int_atol = atoi(argv[++i]);
        else if (!strcmp(a, "--timeout") && more)
            o.timeout = atoi(argv[++i]);
        else if (!strcmp(a, "--verbose") || !strcmp(a, "-v"))
            o.verbose = 1;
        else if (!strcmp(a, "--max-abs-norm"))
            o.max_abs_norm = 1;
        else if (!strcmp(a, "--no-fork"))
            o.no_fork = 1;
        else if (!strcmp(a, "--all-must-pass"))
            o.all_must_pass = 1;
        else if (!strcmp(a, "--print-level")) { /* the SIMD level it would run at */
            printf("%s\n", sk_isa_name(sk_cpu_level()));
            free(dirs);
            return 0;
        }
        else if (!strcmp(a, "--opt") && more)
            o.opt = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more)
            o.threads = atoi(argv[++i]);
        else if (a[0] == '-') {
            usage();
            return 2;
        } else
            dirs[ndirs++] = a;
    }
    if (ndirs == 0 || o.timeout <= 0) {
        usage();
        return 2;
    }
    for (int i = 0; i < ndirs; i++)
        if (collect(dirs[i], o.filter, &tv, &n) < 0)
            return 2;
    free(dirs);
    int count[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        test *t = &tv[i];
        test_op(t->dir, t->name, t->op, sizeof t->op);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        run_isolated(t, &o);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        count[t->result]++;
        if (t->result == R_FAIL)
            printf("FAIL %s [%s]: %s\n", t->name, t->op, t->msg ? t->msg : "");
        else if (o.verbose && t->result == R_SKIP)
            printf("SKIP %s [%s]: %s\n", t->name, t->op, t->msg ? t->msg : "");
        else if (o.verbose)
            printf("PASS %s [%s] (%.0f ms)\n", t->name, t->op, ms);
        fflush(stdout);
    }
    print_table(tv, n);
    int bad = o.expected ? check_expected(o.expected, tv, n, o.filter != NULL) : 0;
    if (o.write_pass) {
        FILE *f = fopen(o.write_pass, "w");
        if (f) {
            for (int i = 0; i < n; i++)
                if (tv[i].result == R_PASS)
                    fprintf(f, "%s\n", tv[i].name);
            fclose(f);
        }
    }
    if (bad)
        printf("%d test%s of the expected-pass list did not pass\n", bad, bad == 1 ? "" : "s");
    if (o.all_must_pass && (count[R_FAIL] || count[R_SKIP] || n == 0)) {
        printf("--all-must-pass: %s\n", n == 0 ? "no tests found" : "not every test passed");
        bad++;
    }
    printf("%d passed, %d failed, %d skipped\n", count[R_PASS], count[R_FAIL], count[R_SKIP]);
    for (int i = 0; i < n; i++) {
        free(tv[i].dir);
        free(tv[i].name);
        free(tv[i].msg);
    }
    free(tv);
    return bad ? 1 : 0;
}
