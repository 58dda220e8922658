/* conv.c — reference Conv (1-D, 2-D, 3-D; groups, dilations, strides, pads,
 * auto_pad, optional bias), as im2col per image and group followed by the
 * reference GEMM. A 1x1 stride-1 unpadded conv reads the input directly. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"
#include "ref_gemm.h"
#include "threadpool.h"

typedef struct conv_geom {
    int64_t N, C, M, group, Cg, Mg;
    int64_t P;  /* output pixels per channel */
    int64_t Kc; /* GEMM depth: Cg * kernel volume */
    int direct; /* 1x1, stride 1, no pad: the input is already the column matrix */
    sk_win w;
    sk_shape out;
} conv_geom;

static int conv_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, conv_geom *g)
{
    int rc = sk_nn_conv_operands(n, in, nin, nout, ctx, "M,C/group");
    if (rc)
        return rc;
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    const sk_tensor *B = nin > 2 ? in[2] : NULL;
    char s1[96], s2[96];
    for (int i = 0; i < xs->rank; i++)
        if (xs->dim[i] < 0 || ws->dim[i] < 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "X %s or W %s has a bad dimension",
                            sk_shape_str(xs, s1, sizeof s1), sk_shape_str(ws, s2, sizeof s2));
    g->N = xs->dim[0];
    g->C = xs->dim[1];
    g->M = ws->dim[0];
    g->group = sk_attr_int(n, "group", 1);
    if (g->group < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "group = %lld", (long long)g->group);
    /* more groups than channels can never fit, and would overflow Cg * group */
    if (g->group > g->C)
        return sk_kfail(ctx, n, SK_ESHAPE, "group %lld is more than X %s's %lld channels",
                        (long long)g->group, sk_shape_str(xs, s1, sizeof s1), (long long)g->C);
    g->Cg = ws->dim[1];
    if (g->Cg * g->group != g->C)
        return sk_kfail(ctx, n, SK_ESHAPE,
                        "weight has %lld input channels per group x group %lld = %lld, but X "
                        "%s has %lld channels",
                        (long long)g->Cg, (long long)g->group, (long long)(g->Cg * g->group),
                        sk_shape_str(xs, s1, sizeof s1), (long long)g->C);
    if (g->M % g->group)
        return sk_kfail(ctx, n, SK_ESHAPE, "%lld output channels do not split into %lld groups",
                        (long long)g->M, (long long)g->group);
    g->Mg = g->M / g->group;
    if (B && (B->shape.rank != 1 || B->shape.dim[0] != g->M))
        return sk_kfail(ctx, n, SK_ESHAPE, "bias %s must be [%lld]",
                        sk_shape_str(&B->shape, s1, sizeof s1), (long long)g->M);
    int nsp = xs->rank - 2;
    const int64_t *ks;
    int nk = sk_attr_ints(n, "kernel_shape", &ks);
    if (nk >= 0) {
        if (nk != nsp)
            return sk_kfail(ctx, n, SK_ESHAPE, "kernel_shape has %d values for %d spatial dims",
                            nk, nsp);
        for (int i = 0; i < nsp; i++)
            if (ks[i] != ws->dim[2 + i])
                return sk_kfail(ctx, n, SK_ESHAPE, "kernel_shape does not match W %s",
                                sk_shape_str(ws, s1, sizeof s1));
    }
    if ((rc = sk_win_resolve(n, ctx, xs, ws->dim + 2, 0, &g->w)))
        return rc;
    const sk_win *w = &g->w;
    g->out.rank = xs->rank;
    g->out.dim[0] = g->N;
    g->out.dim[1] = g->M;
    for (int i = 0; i < nsp; i++)
        g->out.dim[2 + i] = w->out[SK_NN_SP - nsp + i];
    /* Every size the kernel indexes with must be representable: the output,
     * the weights, the input, and the column matrix (Kc x P). */
    g->P = sk_win_out_size(w);
    int64_t kk = sk_win_k_size(w), col;
    if (sk_shape_numel(&g->out) < 0 || sk_shape_numel(xs) < 0 || sk_shape_numel(ws) < 0 ||
        !sk_nn_mul(g->Cg, kk, &g->Kc) || !sk_nn_mul(g->Kc, g->P, &col))
        return sk_kfail(ctx, n, SK_ESHAPE, "sizes overflow: X %s, W %s",
                        sk_shape_str(xs, s1, sizeof s1), sk_shape_str(ws, s2, sizeof s2));
    if (g->P > INT_MAX || g->Kc > INT_MAX || g->Mg > INT_MAX)
        return sk_kfail(ctx, n, SK_ESHAPE, "a GEMM dimension passes INT_MAX");
    g->direct = kk == 1;
    for (int a = 0; a < SK_NN_SP; a++)
        if (w->stride[a] != 1 || w->pb[a] != 0 || w->pe[a] != 0)
            g->direct = 0;
    return 0;
}

int sk_infer_conv(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    conv_geom g;
    int rc = conv_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = g.out;
    return 0;
}

/* First output index o along an axis whose input index o*s + off is >= 0,
 * and one past the last with o*s + off < in; clamped to [0, out]. */
static void valid_range(int64_t off, int64_t s, int64_t in, int64_t out, int64_t *lo,
                        int64_t *hi)
{
    int64_t a = off >= 0 ? 0 : sk_nn_ceildiv(-off, s);
    int64_t b = in - 1 - off < 0 ? 0 : sk_nn_floordiv(in - 1 - off, s) + 1;
    *lo = a < out ? a : out;
    *hi = b < *lo ? *lo : (b < out ? b : out);
}

/* col[(c, kd, kh, kw), (od, oh, ow)] = x[c, od*s - p + kd*d, ...] or 0 in the
 * padding. x holds Cg channels of one image. */
static void im2col(const float *x, int64_t Cg, const sk_win *w, float *col)
{
    const int64_t D = w->in[0], H = w->in[1], Wd = w->in[2];
    const int64_t oD = w->out[0], oH = w->out[1], oW = w->out[2];
    float *row = col;
    for (int64_t c = 0; c < Cg; c++)
        for (int64_t kd = 0; kd < w->k[0]; kd++)
            for (int64_t kh = 0; kh < w->k[1]; kh++)
                for (int64_t kw = 0; kw < w->k[2]; kw++) {
                    int64_t offw = kw * w->dil[2] - w->pb[2], lo, hi;
                    valid_range(offw, w->stride[2], Wd, oW, &lo, &hi);
                    float *r = row;
                    for (int64_t od = 0; od < oD; od++) {
                        int64_t id = od * w->stride[0] - w->pb[0] + kd * w->dil[0];
                        for (int64_t oh = 0; oh < oH; oh++, r += oW) {
                            int64_t ih = oh * w->stride[1] - w->pb[1] + kh * w->dil[1];
                            if (id < 0 || id >= D || ih < 0 || ih >= H) {
                                memset(r, 0, (size_t)oW * sizeof(float));
                                continue;
                            }
                            const float *xr = x + ((c * D + id) * H + ih) * Wd + offw;
                            for (int64_t ow = 0; ow < lo; ow++)
                                r[ow] = 0.0f;
                            for (int64_t ow = lo; ow < hi; ow++)
                                r[ow] = xr[ow * w->stride[2]];
                            for (int64_t ow = hi; ow < oW; ow++)
                                r[ow] = 0.0f;
                        }
                    }
                    row += oD * oH * oW;
                }
}

typedef struct conv_job {
    const conv_geom *g;
    const float *x, *wt, *bias;
    float *y;
    const float *col; /* row-split mode: shared column matrix */
    float *yg;
    const float *wg;
    float *scratch; /* pair-split mode: nthreads column buffers */
    int nthreads;
} conv_job;

/* y rows [m0, m1) of one image/group = bias + W rows * col. */
static void conv_rows(const conv_geom *g, const float *wg, const float *col, const float *bias,
                      float *yg, int64_t m0, int64_t m1)
{
    for (int64_t m = m0; m < m1; m++) {
        float b = bias ? bias[m] : 0.0f, *yr = yg + m * g->P;
        for (int64_t p = 0; p < g->P; p++)
            yr[p] = b;
    }
    sk_ref_gemm_f32((int)(m1 - m0), (int)g->P, (int)g->Kc, wg + m0 * g->Kc, (int)g->Kc, col,
                    (int)g->P, yg + m0 * g->P, (int)g->P, 1);
}

static void conv_rows_task(void *arg, size_t begin, size_t end)
{
    conv_job *j = arg;
    conv_rows(j->g, j->wg, j->col, j->bias, j->yg, (int64_t)begin, (int64_t)end);
}

/* One (image, group) pair, with its own column buffer `scratch`. */
static void conv_one(const conv_job *j, int64_t ng, float *scratch, sk_pool *pool)
{
    const conv_geom *g = j->g;
    int64_t img = ng / g->group, grp = ng % g->group;
    int64_t in_px = sk_win_in_size(&g->w);
    const float *xg = j->x + (img * g->C + grp * g->Cg) * in_px;
    const float *col = xg;
    if (!g->direct) {
        im2col(xg, g->Cg, &g->w, scratch);
        col = scratch;
    }
    const float *wg = j->wt + grp * g->Mg * g->Kc;
    const float *bias = j->bias ? j->bias + grp * g->Mg : NULL;
    float *yg = j->y + (img * g->M + grp * g->Mg) * g->P;
    if (pool && sk_pool_size(pool) > 1 && g->Mg >= 16) {
        conv_job rj = *j;
        rj.col = col;
        rj.wg = wg;
        rj.bias = bias;
        rj.yg = yg;
        sk_parallel_for(pool, (size_t)g->Mg, 8, conv_rows_task, &rj);
    } else {
        conv_rows(g, wg, col, bias, yg, 0, g->Mg);
    }
}

/* Many small groups (depthwise): worker t of nt takes an equal share of the
 * (image, group) pairs, with column buffer t. */
static void conv_pairs_task(void *arg, size_t begin, size_t end)
{
    const conv_job *j = arg;
    const int64_t pairs = j->g->N * j->g->group, nt = j->nthreads;
    for (size_t t = begin; t < end; t++) {
        float *scratch = j->scratch ? j->scratch + (int64_t)t * j->g->Kc * j->g->P : NULL;
        for (int64_t ng = (int64_t)t * pairs / nt; ng < ((int64_t)t + 1) * pairs / nt; ng++)
            conv_one(j, ng, scratch, NULL);
    }
}

/* Column buffers a run uses: one per worker when split over (image, group)
 * pairs, one otherwise, none for the direct 1x1 path. */
static int64_t conv_nbuf(const conv_geom *g, int nthreads, int *split_pairs)
{
    *split_pairs = nthreads > 1 && g->Mg < 16 && g->N * g->group > 1;
    return g->direct ? 0 : *split_pairs ? nthreads : 1;
}

size_t sk_ref_scratch_conv(SK_REF_SCRATCH_ARGS)
{
    conv_geom g;
    sk_kctx quiet = sk_nn_quiet_ctx();
    int split;
    (void)out;
    if (conv_setup(n, in, nin, nout, &quiet, &g))
        return 0;
    return (size_t)(conv_nbuf(&g, nthreads, &split) * g.Kc * g.P) * sizeof(float);
}

int sk_run_conv(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                int nout, sk_kctx *ctx)
{
    conv_geom g;
    int rc = conv_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    if (sk_shape_numel(&g.out) == 0)
        return 0;
    conv_job j = {.g = &g,
                  .x = in[0]->data,
                  .wt = in[1]->data,
                  .bias = nin > 2 && in[2] ? in[2]->data : NULL,
                  .y = out[0].data};
    const int nt = sk_pool_size(ctx->pool);
    int split_pairs;
    const int64_t nbuf = conv_nbuf(&g, nt, &split_pairs);
    void *heap = NULL;
    float *scratch = NULL;
    if (nbuf && !(scratch = sk_nn_scratch(ctx, (size_t)(nbuf * g.Kc * g.P) * sizeof(float),
                                          &heap)))
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory for the %lld x %lld column buffer",
                        (long long)g.Kc, (long long)g.P);
    if (split_pairs) {
        j.scratch = scratch;
        j.nthreads = nt;
        sk_parallel_for(ctx->pool, (size_t)nt, 1, conv_pairs_task, &j);
    } else {
        for (int64_t ng = 0; ng < g.N * g.group; ng++)
            conv_one(&j, ng, scratch, ctx->pool);
    }
    free(heap);
    return 0;
}
