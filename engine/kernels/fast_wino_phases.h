/* fast_wino_phases.h — per-phase timing of the Winograd run (issue 24,
 * session 17), compiled in only with -DSK_WINO_PHASES (a measurement
 * build: `make BUILD=build-ph EXTRA_CFLAGS=-DSK_WINO_PHASES`), so the
 * shipped build has no clock reads. At exit it prints, per layer shape
 * (variant, C, M, output size), per call: the wall time of the shared
 * input-transform job and of the multiply job (as the calling thread saw
 * them, barriers included), and per thread the time spent in the input
 * transform, the GEMMs and the output transform + epilogue; what a
 * thread did not spend in them inside the two jobs is idle (waiting,
 * claiming, or descheduled). Included by fast_winograd.c only. */
#ifndef SK_WINO_PHASES
#define WP_NOW() 0L
#define WP_WNOW() 0L
#define WP_ADD(r, tid, ph, t0) ((void)(t0))
#define WP_WALL(r, ph, t0) ((void)(t0))
#define WP_CALL(r) ((void)0)
#define WP_END(r) ((void)0)
#else
#include <stdio.h>
#include <string.h>
#include <time.h>
#define WP_THREADS 16
#define WP_CLASSES 16
enum { WP_IN, WP_GEMM, WP_OUT, WP_WIN, WP_WMUL, WP_N };
typedef struct wp_class {
    int used, m, C, M, oH, N;
    long calls;
    long t[WP_THREADS][8]; /* ns; WP_WIN / WP_WMUL in slot 0; rows of 64 B */
    long cur[WP_THREADS][8], best[WP_THREADS][8]; /* this call; the fastest call */
} wp_class;
static wp_class wp_tab[WP_CLASSES];
/* SK_WINO_PHASES_CPU=1: the threads' phases in thread CPU time (what a
 * descheduled thread did not run is not counted), the walls stay wall */
static int wp_cpu = -1;
static long wp_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}
static long wp_now(void)
{
    if (wp_cpu < 0) {
        const char *e = getenv("SK_WINO_PHASES_CPU");
        wp_cpu = e && *e == '1';
    }
    return wp_clock(wp_cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC);
}
static long wp_wall(void)
{
    return wp_clock(CLOCK_MONOTONIC);
}
/* a thread id or a shape past the table is dropped, not lumped into the
 * last slot (two threads adding to one slot race; two shapes in one class
 * mislead): said once on stderr */
static void wp_warn(const char *what)
{
    static int said;
    if (!said) {
        said = 1;
        fprintf(stderr, "wino-phases: %s past the table (%d threads, %d shapes): dropped\n", what,
                WP_THREADS, WP_CLASSES);
    }
}
static void wp_dump(void)
{
    static const char *nm[] = {"in", "gemm", "out"};
    for (int i = 0; i < WP_CLASSES; i++) {
        const wp_class *c = &wp_tab[i];
        if (!c->used)
            continue;
        double k = 1e-3 / (double)c->calls; /* us per call */
        fprintf(stderr, "wino-phases F(%dx%d) %d->%d @%dx%d b%d calls %ld: wall in %.1f mul %.1f us",
                c->m, c->m, c->C, c->M, c->oH, c->oH, c->N, c->calls, c->t[0][WP_WIN] * k,
                c->t[0][WP_WMUL] * k);
        for (int t = 0; t < WP_THREADS; t++) {
            long s = c->t[t][WP_IN] + c->t[t][WP_GEMM] + c->t[t][WP_OUT];
            if (!s)
                continue;
            fprintf(stderr, " | t%d", t);
            for (int p = 0; p < 3; p++)
                fprintf(stderr, " %s %.1f", nm[p], c->t[t][p] * k);
            fprintf(stderr, " idle %.1f",
                    (c->t[0][WP_WIN] + c->t[0][WP_WMUL] - s) * k);
        }
        fprintf(stderr, "\n");
        /* the fastest call: the phases when no other process took a CPU */
        fprintf(stderr, "  fastest call: wall in %.1f mul %.1f us", c->best[0][WP_WIN] * 1e-3,
                c->best[0][WP_WMUL] * 1e-3);
        for (int t = 0; t < WP_THREADS; t++) {
            long s = c->best[t][WP_IN] + c->best[t][WP_GEMM] + c->best[t][WP_OUT];
            if (!s)
                continue;
            fprintf(stderr, " | t%d", t);
            for (int p = 0; p < 3; p++)
                fprintf(stderr, " %s %.1f", nm[p], c->best[t][p] * 1e-3);
            fprintf(stderr, " idle %.1f", (c->best[0][WP_WIN] + c->best[0][WP_WMUL] - s) * 1e-3);
        }
        fprintf(stderr, "\n");
    }
}
static wp_class *wp_class_of(int m, int C, int M, int oH, int N)
{
    static int reg;
    if (!reg) {
        reg = 1;
        atexit(wp_dump);
    }
    for (int i = 0; i < WP_CLASSES; i++) {
        wp_class *c = &wp_tab[i];
        if (c->used && c->m == m && c->C == C && c->M == M && c->oH == oH && c->N == N)
            return c;
        if (!c->used) {
            c->used = 1, c->m = m, c->C = C, c->M = M, c->oH = oH, c->N = N;
            return c;
        }
    }
    wp_warn("a shape");
    return NULL;
}
#define WP_NOW() wp_now()
static void wp_add(wp_class *c, int tid, int ph, long d)
{
    if (!c)
        return;
    if (tid < 0 || tid >= WP_THREADS) {
        wp_warn("a thread");
        return;
    }
    c->t[tid][ph] += d;
    c->cur[tid][ph] += d;
}
static void wp_end(wp_class *c)
{
    if (!c)
        return;
    long w = c->cur[0][WP_WIN] + c->cur[0][WP_WMUL], b = c->best[0][WP_WIN] + c->best[0][WP_WMUL];
    if (!b || w < b)
        memcpy(c->best, c->cur, sizeof c->best);
}
#define WP_ADD(r, tid, ph, t0) wp_add((r)->wp, tid, ph, wp_now() - (t0))
#define WP_WALL(r, ph, t0) wp_add((r)->wp, 0, ph, wp_wall() - (t0))
#define WP_END(r) wp_end((r)->wp)
#define WP_WNOW() wp_wall()
#define WP_CALL(r)                                                                                 \
    ((r)->wp = wp_class_of((r)->m, (int)(r)->g.C, (int)(r)->g.M, (int)(r)->g.oH, (int)(r)->g.N),  \
     (void)((r)->wp && ((r)->wp->calls++, memset((r)->wp->cur, 0, sizeof (r)->wp->cur), 1)))
#endif
