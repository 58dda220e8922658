/* fast_pool.c — fast MaxPool and AveragePool (float32, 1-D to 3-D, any
 * kernel, stride, dilation, pads, ceil_mode, count_include_pad; MaxPool
 * without the Indices output).
 *
 * Why fast: the reference walks the whole window for every output, with
 * bounds checks per tap. Here one output row (n, c, od, oh) is made in
 * three contiguous passes over short rows that stay in L1:
 *   1. vertical: reduce the (kd, kh) input rows the window covers into a
 *      row T padded with the neutral element (-inf / 0) on both sides, so
 *      later passes need no bounds checks;
 *   2. phases: for stride s, split T into s rows T_p[i] = T[i*s + p]
 *      (a vector deinterleave for s = 2), so that tap kw of every output
 *      is a contiguous row: T_{(kw*d) % s} shifted by (kw*d) / s;
 *   3. horizontal: reduce the kw shifted rows, vector-wide.
 * Rows are split over the pool. For 3x3 s2 (ResNet stem) each input value
 * is loaded ~1.5 times in pass 1 instead of 2.25 times scalar; for 2x2 s2
 * (U-Net) the passes are two vector maxes and a shuffle per output vector. */
#include <math.h>
#include <string.h>

#include "kernels/fast_ops.h"
#include "kernels/ref/nn_util.h"
#include "kernels/switches.h"
#include "threadpool.h"

#define POOL_MAX_TAPS 64

typedef struct pool_geom {
    sk_win w;
    int64_t NC;
    size_t tlen;   /* padded row length, a multiple of the stride */
    size_t plen;   /* length of one phase row */
    size_t per_thread; /* floats */
} pool_geom;

/* Geometry as the reference computes it (sk_win_resolve); 0 when the fast
 * path does not cover the node (the reference then runs and reports any
 * error). */
static int pool_geometry(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                         pool_geom *g)
{
    if (nin < 1 || !in[0] || in[0]->dtype != SK_F32 || nout < 1)
        return 0;
    if (n->op == SK_OP_MAX_POOL && nout > 1 && n->nout > 1 && n->out[1] >= 0)
        return 0;
    const sk_shape *xs = &in[0]->shape;
    if (xs->rank < 3 || xs->rank > 5 || sk_shape_numel(xs) < 0)
        return 0;
    const int64_t *ks;
    if (sk_attr_ints(n, "kernel_shape", &ks) != xs->rank - 2)
        return 0;
    sk_kctx quiet = sk_nn_quiet_ctx();
    if (sk_win_resolve(n, &quiet, xs, ks, sk_attr_int(n, "ceil_mode", 0) != 0, &g->w))
        return 0;
    const sk_win *w = &g->w;
    if (w->k[2] > POOL_MAX_TAPS || w->in[2] > ((int64_t)1 << 30) || w->out[2] > ((int64_t)1 << 30))
        return 0;
    g->NC = xs->dim[0] * xs->dim[1];
    /* T index t holds input column t - pb; the last tap reads index
     * (out-1)*s + (k-1)*d. */
    int64_t s = w->stride[2];
    int64_t need = w->pb[2] + w->in[2];
    int64_t last = (w->out[2] - 1) * s + (w->k[2] - 1) * w->dil[2] + 1;
    if (last > need)
        need = last;
    if (need > ((int64_t)1 << 30))
        return 0;
    g->tlen = (size_t)((need + s - 1) / s * s);
    g->plen = g->tlen / (size_t)s;
    g->per_thread = sk_fast_pad(g->tlen) + (s > 1 ? sk_fast_pad(g->tlen) : 0) +
                    sk_fast_pad((size_t)w->out[2]);
    return 1;
}

static size_t pool_scratch(const pool_geom *g, int nthreads)
{
    return (sk_fast_pad((size_t)g->w.out[2]) + g->per_thread * (size_t)(nthreads > 0 ? nthreads : 1)) *
           sizeof(float);
}

static int pool_plan(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                     int nthreads, size_t *scratch)
{
    pool_geom g;
    *scratch = 0;
    if (!pool_geometry(n, in, nin, nout, &g))
        return 0;
    *scratch = pool_scratch(&g, nthreads);
    return 1;
}

int sk_fast_plan_max_pool(const sk_kconfig *kc, const sk_node *n,
                          const sk_tensor *const *in, int nin, const sk_tensor *out,
                          int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)out;
    if (nin >= 1 && in[0] && in[0]->dtype == SK_U8) /* fast_qpool.c */
        return sk_fast_plan_max_pool_u8(n, in, nin, nout, nthreads, scratch);
    return pool_plan(n, in, nin, nout, nthreads, scratch);
}

int sk_fast_plan_average_pool(const sk_kconfig *kc, const sk_node *n,
                              const sk_tensor *const *in, int nin, const sk_tensor *out,
                              int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)out;
    return pool_plan(n, in, nin, nout, nthreads, scratch);
}

/* Window taps of axis a at output o inside the input (valid) and inside
 * input + pads (padded): the AveragePool divisors, as the reference. */
static void axis_taps(const sk_win *w, int a, int64_t o, int64_t *valid, int64_t *padded)
{
    *valid = *padded = 0;
    for (int64_t k = 0; k < w->k[a]; k++) {
        int64_t i = o * w->stride[a] - w->pb[a] + k * w->dil[a];
        *valid += i >= 0 && i < w->in[a];
        *padded += i >= -w->pb[a] && i < w->in[a] + w->pe[a];
    }
}

typedef struct pool_job {
    const sk_fast_uk *uk;
    const pool_geom *g;
    const float *x;
    float *y;
    float *scratch;    /* per-thread areas after the shared count row */
    const float *cntw; /* AveragePool: divisor part of each output column */
    int is_max, include_pad;
    int s2; /* MaxPool 3-wide stride-2 rows by vmax3 / hmax3s2 (pool_rows_s2) */
} pool_job;

/* MaxPool whose last axis is 3 taps, stride 2, dilation 1 (ResNet's 3x3
 * s2 pad 1; session 16): the window's input rows folded three at a time
 * into T (vmax3), then every output of the row from T's three shifted taps
 * in one pass (hmax3s2) — no de-interleaved copy, no tap list. The same
 * values as pool_rows (a max is exact in any order). SKIPSERVE_POOL_S2=0
 * keeps pool_rows (A/B). */
static void pool_rows_s2(void *arg, int tid, size_t b, size_t e)
{
    const pool_job *j = arg;
    const pool_geom *g = j->g;
    const sk_win *w = &g->w;
    const sk_fast_uk *uk = j->uk;
    const size_t W = (size_t)w->in[2], oW = (size_t)w->out[2], pb = (size_t)w->pb[2];
    float *T = j->scratch + (size_t)tid * g->per_thread, *Tx = T + pb;
    for (size_t i = 0; i < pb; i++)
        T[i] = -INFINITY;
    for (size_t i = pb + W; i < g->tlen; i++)
        T[i] = -INFINITY;
    const int64_t oD = w->out[0], oH = w->out[1];
    const size_t plane = (size_t)(w->in[0] * w->in[1]) * W;
    for (size_t r = b; r < e; r++) {
        const int64_t oh = (int64_t)(r % (size_t)oH), od = (int64_t)(r / (size_t)oH % (size_t)oD);
        const float *xc = j->x + r / (size_t)(oH * oD) * plane;
        const float *pend[3];
        int np = 0, have = 0; /* rows waiting; whether Tx holds a max yet */
        for (int64_t kd = 0; kd < w->k[0]; kd++) {
            int64_t id = od * w->stride[0] - w->pb[0] + kd * w->dil[0];
            if (id < 0 || id >= w->in[0])
                continue;
            for (int64_t kh = 0; kh < w->k[1]; kh++) {
                int64_t ih = oh * w->stride[1] - w->pb[1] + kh * w->dil[1];
                if (ih < 0 || ih >= w->in[1])
                    continue;
                pend[np++] = xc + (size_t)(id * w->in[1] + ih) * W;
                if (np == 3 - have) { /* fold: Tx = max(Tx or a row, two rows) */
                    uk->vmax3(W, have ? Tx : pend[0], pend[have ? 0 : 1], pend[have ? 1 : 2], Tx);
                    have = 1;
                    np = 0;
                }
            }
        }
        if (np) /* one or two rows left */
            uk->vmax3(W, have ? Tx : pend[0], pend[0], pend[np - 1], Tx);
        else if (!have) /* a window wholly in the padding */
            for (size_t i = 0; i < W; i++)
                Tx[i] = -INFINITY;
        uk->hmax3s2(oW, T, g->tlen, j->y + r * oW);
    }
}

static void pool_rows(void *arg, int tid, size_t b, size_t e)
{
    const pool_job *j = arg;
    const pool_geom *g = j->g;
    const sk_win *w = &g->w;
    const sk_fast_uk *uk = j->uk;
    const size_t W = (size_t)w->in[2], oW = (size_t)w->out[2], pb = (size_t)w->pb[2];
    const size_t s = (size_t)w->stride[2];
    float *T = j->scratch + (size_t)tid * g->per_thread;
    float *P = T + sk_fast_pad(g->tlen);
    float *cnt = s > 1 ? P + sk_fast_pad(g->tlen) : P;
    const float init = j->is_max ? -INFINITY : 0.0f;
    const float *tap[POOL_MAX_TAPS];
    for (size_t i = 0; i < pb; i++)
        T[i] = init;
    for (size_t i = pb + W; i < g->tlen; i++)
        T[i] = init;
    /* tap kw reads phase (kw*d) % s at offset (kw*d) / s */
    const float *base = s > 1 ? P : T;
    for (int64_t kw = 0; kw < w->k[2]; kw++) {
        size_t pos = (size_t)(kw * w->dil[2]);
        tap[kw] = base + (pos % s) * g->plen + pos / s;
    }
    const int64_t oD = w->out[0], oH = w->out[1];
    const size_t plane = (size_t)(w->in[0] * w->in[1]) * W;
    for (size_t r = b; r < e; r++) {
        const int64_t oh = (int64_t)(r % (size_t)oH), od = (int64_t)(r / (size_t)oH % (size_t)oD);
        const size_t nc = r / (size_t)(oH * oD);
        const float *xc = j->x + nc * plane;
        int rows = 0;
        for (int64_t kd = 0; kd < w->k[0]; kd++) {
            int64_t id = od * w->stride[0] - w->pb[0] + kd * w->dil[0];
            if (id < 0 || id >= w->in[0])
                continue;
            for (int64_t kh = 0; kh < w->k[1]; kh++) {
                int64_t ih = oh * w->stride[1] - w->pb[1] + kh * w->dil[1];
                if (ih < 0 || ih >= w->in[1])
                    continue;
                const float *row = xc + (size_t)(id * w->in[1] + ih) * W;
                if (rows++ == 0)
                    memcpy(T + pb, row, W * sizeof(float));
                else if (j->is_max)
                    uk->vmax_acc(W, row, T + pb);
                else
                    uk->vadd_acc(W, row, T + pb);
            }
        }
        if (rows == 0)
            for (size_t i = 0; i < W; i++)
                T[pb + i] = init;
        if (s == 2) {
            uk->deinterleave2(g->plen, T, P, P + g->plen);
        } else if (s > 2) {
            for (size_t p = 0; p < s; p++)
                for (size_t i = 0; i < g->plen; i++)
                    P[p * g->plen + i] = T[i * s + p];
        }
        float *y = j->y + r * oW;
        if (j->is_max) {
            uk->vmax_taps(oW, tap, (int)w->k[2], y);
            continue;
        }
        uk->vsum_taps(oW, tap, (int)w->k[2], y);
        int64_t vd, pd, vh, ph;
        axis_taps(w, 0, od, &vd, &pd);
        axis_taps(w, 1, oh, &vh, &ph);
        const float cdh = (float)(j->include_pad ? pd * ph : vd * vh);
        /* divisor 0 (a window wholly in the padding, whose sum is 0):
         * 0 / inf gives the reference's 0 */
        for (size_t i = 0; i < oW; i++) {
            float c = cdh * j->cntw[i];
            cnt[i] = c > 0.0f ? c : INFINITY;
        }
        uk->vdiv(oW, y, 1, cnt, 1, y);
    }
}

/* MaxPool 3x3 s2 with top and left pad 1 (ResNet's stem pool; session
 * 16): tasks of (plane, band of output rows) on the level's whole-plane
 * loop (fast_pool_uk.h maxpool3s2p1: rows then columns in registers, no
 * row buffer, no per-row calls). Same values as pool_rows. */
typedef struct pool_p1_job {
    const sk_fast_uk *uk;
    const float *x;
    float *y;
    size_t H, W, oH, oW, bands, nb;
} pool_p1_job;

static void pool_p1_task(void *arg, int tid, size_t u0, size_t u1)
{
    (void)tid;
    const pool_p1_job *j = arg;
    for (size_t u = u0; u < u1; u++) {
        size_t pl = u / j->bands, oh0 = u % j->bands * j->nb;
        size_t oh1 = oh0 + j->nb < j->oH ? oh0 + j->nb : j->oH;
        j->uk->maxpool3s2p1(j->x + pl * j->H * j->W, j->H, j->W, j->y + pl * j->oH * j->oW,
                            j->oW, oh0, oh1);
    }
}

/* SKIPSERVE_POOL_S2=0: neither stride-2 loop (A/B) */
static int pool_s2_on(void)
{
    const char *e = sk_sw()->pool_s2;
    return !(e && !strcmp(e, "0"));
}

static int pool_p1_fits(const pool_geom *g, const sk_fast_uk *uk)
{
    const sk_win *w = &g->w;
    return uk->maxpool3s2p1 && pool_s2_on() && w->in[0] == 1 && w->k[0] == 1 &&
           w->out[0] == 1 && /* no depth pads: one output plane a channel */
           w->k[1] == 3 && w->k[2] == 3 && w->stride[1] == 2 && w->stride[2] == 2 &&
           w->dil[1] == 1 && w->dil[2] == 1 && w->pb[1] == 1 && w->pb[2] == 1 &&
           w->in[1] >= 1 && w->in[2] >= 1 && 2 * (w->out[1] - 1) <= w->in[1] &&
           2 * (w->out[2] - 1) <= w->in[2];
}

static int pool_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    int nout, sk_kctx *ctx, int is_max)
{
    pool_geom g;
    const sk_fast_uk *uk = sk_fast_uk_of(ctx);
    if (!uk || !pool_geometry(n, in, nin, nout, &g) || out[0].dtype != SK_F32)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    const sk_win *w = &g.w;
    if (is_max && pool_p1_fits(&g, uk)) { /* no scratch: rows max in registers */
        const int T = sk_pool_size(ctx->pool);
        pool_p1_job pj = {uk, in[0]->data, out[0].data, (size_t)w->in[1], (size_t)w->in[2],
                          (size_t)w->out[1], (size_t)w->out[2], 1, (size_t)w->out[1]};
        /* whole planes, or bands of rows where planes are fewer than 4 a thread */
        if (g.NC < 4L * T) {
            size_t want = (size_t)((4L * T + g.NC - 1) / g.NC);
            pj.nb = (pj.oH + want - 1) / want;
            pj.bands = (pj.oH + pj.nb - 1) / pj.nb;
        }
        if (g.NC > 0 && pj.oH > 0 && pj.oW > 0)
            sk_parallel_for_tid(ctx->pool, (size_t)g.NC * pj.bands, 1, pool_p1_task, &pj);
        return 0;
    }
    float *scratch = sk_fast_ctx_scratch(ctx, pool_scratch(&g, sk_pool_size(ctx->pool)));
    if (!scratch)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    pool_job j = {uk, &g, in[0]->data, out[0].data, scratch + sk_fast_pad((size_t)w->out[2]),
                  scratch, is_max, sk_attr_int(n, "count_include_pad", 0) != 0,
                  is_max && uk->hmax3s2 && w->k[2] == 3 && w->stride[2] == 2 && w->dil[2] == 1 &&
                      pool_s2_on()};
    if (!is_max)
        for (int64_t ow = 0; ow < w->out[2]; ow++) {
            int64_t v, p;
            axis_taps(w, 2, ow, &v, &p);
            scratch[ow] = (float)(j.include_pad ? p : v);
        }
    size_t rows = (size_t)(g.NC * w->out[0] * w->out[1]);
    size_t work = (size_t)(w->in[2] * w->k[0] * w->k[1]) + 1;
    if (rows > 0 && w->out[2] > 0)
        sk_parallel_for_tid(ctx->pool, rows, work < 4096 ? 4096 / work : 1,
                            j.s2 ? pool_rows_s2 : pool_rows, &j);
    return 0;
}

int sk_fast_run_max_pool(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                         int nout, sk_kctx *ctx)
{
    if (nin >= 1 && in[0] && in[0]->dtype == SK_U8) /* fast_qpool.c */
        return sk_fast_run_max_pool_u8(n, in, nin, out, nout, ctx);
    return pool_run(n, in, nin, out, nout, ctx, 1);
}

int sk_fast_run_average_pool(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    return pool_run(n, in, nin, out, nout, ctx, 0);
}
