/* conv_transpose.c — reference ConvTranspose (1-D, 2-D, 3-D; groups,
 * strides, dilations, pads, output_padding, output_shape, auto_pad, optional
 * bias): per image and group, col = W_g^T * X_g with the reference GEMM, then
 * col2im scatters the columns into the output. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "conv_transpose.h"
#include "graph.h"
#include "nn_util.h"
#include "ops.h"
#include "ref_gemm.h"
#include "threadpool.h"

/* The geometry of one ConvTranspose, checked; the reference and
 * kernels/fast_convt.c both start from it (conv_transpose.h). */
int sk_convt_geometry(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, sk_convt_geom *g)
{
    int rc = sk_nn_conv_operands(n, in, nin, nout, ctx, "C,M/group");
    if (rc)
        return rc;
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    const sk_tensor *B = nin > 2 ? in[2] : NULL;
    char s1[96], s2[96];
    int nsp = xs->rank - 2;
    if (nsp > SK_NN_SP)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "only 1-D, 2-D and 3-D are supported");
    for (int i = 0; i < xs->rank; i++)
        if (xs->dim[i] < (i < 2 ? 0 : 1) || ws->dim[i] < 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "X %s or W %s has a bad dimension",
                            sk_shape_str(xs, s1, sizeof s1), sk_shape_str(ws, s2, sizeof s2));
    g->N = xs->dim[0];
    g->C = xs->dim[1];
    g->group = sk_attr_int(n, "group", 1);
    if (g->group < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "group = %lld", (long long)g->group);
    if (ws->dim[0] != g->C || g->C % g->group)
        return sk_kfail(ctx, n, SK_ESHAPE,
                        "weight %s must have X's %lld channels first, divisible by group %lld",
                        sk_shape_str(ws, s1, sizeof s1), (long long)g->C, (long long)g->group);
    g->Cg = g->C / g->group;
    g->Mg = ws->dim[1];
    g->M = g->Mg * g->group;
    if (B && (B->shape.rank != 1 || B->shape.dim[0] != g->M))
        return sk_kfail(ctx, n, SK_ESHAPE, "bias %s must be [%lld]",
                        sk_shape_str(&B->shape, s1, sizeof s1), (long long)g->M);
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
    int64_t st[SK_NN_SP], dl[SK_NN_SP], pads[2 * SK_NN_SP], opad[SK_NN_SP];
    if ((rc = sk_nn_ints(n, ctx, "strides", nsp, 1, 1, st)) ||
        (rc = sk_nn_ints(n, ctx, "dilations", nsp, 1, 1, dl)) ||
        (rc = sk_nn_ints(n, ctx, "pads", 2 * nsp, 0, 0, pads)) ||
        (rc = sk_nn_ints(n, ctx, "output_padding", nsp, 0, 0, opad)))
        return rc;
    sk_autopad ap = SK_PAD_NOTSET;
    if ((rc = sk_nn_autopad(n, ctx, &ap)))
        return rc;
    const int64_t *oshape;
    int nos = sk_attr_ints(n, "output_shape", &oshape);
    if (nos > 0 && nos != nsp && nos != nsp + 2)
        return sk_kfail(ctx, n, SK_ESHAPE, "output_shape has %d values for %d spatial dims",
                        nos, nsp);
    if (nos == nsp + 2)
        oshape += 2; /* (N, C, spatial...) form: only the spatial part matters */

    sk_win *w = &g->w;
    memset(w, 0, sizeof(*w));
    w->nsp = nsp;
    for (int a = 0; a < SK_NN_SP; a++)
        w->in[a] = w->out[a] = w->k[a] = w->stride[a] = w->dil[a] = 1;
    for (int i = 0; i < nsp; i++) {
        int a = SK_NN_SP - nsp + i;
        int64_t in_ = xs->dim[2 + i], k = ws->dim[2 + i];
        if (k > SK_MAX_NUMEL || dl[i] > SK_MAX_NUMEL / k || st[i] > SK_MAX_NUMEL / in_ ||
            opad[i] > SK_MAX_NUMEL || pads[i] > SK_MAX_NUMEL || pads[nsp + i] > SK_MAX_NUMEL)
            return sk_kfail(ctx, n, SK_ESHAPE, "spatial dim %d is absurdly large", i);
        /* The full (unpadded) extent the scatter touches. */
        int64_t full = st[i] * (in_ - 1) + opad[i] + dl[i] * (k - 1) + 1, out, pb, pe;
        if (nos > 0 || ap == SK_PAD_SAME_UPPER || ap == SK_PAD_SAME_LOWER) {
            out = nos > 0 ? oshape[i] : in_ * st[i];
            if (out < 1 || out > SK_MAX_NUMEL)
                return sk_kfail(ctx, n, SK_ESHAPE, "output_shape[%d] = %lld", i,
                                (long long)out);
            int64_t total = full - out; /* negative: output grows past the scatter */
            int64_t half = sk_nn_floordiv(total, 2);
            pb = ap == SK_PAD_SAME_UPPER ? half : total - half;
            pe = total - pb;
        } else {
            pb = ap == SK_PAD_VALID ? 0 : pads[i];
            pe = ap == SK_PAD_VALID ? 0 : pads[nsp + i];
            out = full - pb - pe;
            if (out < 1)
                return sk_kfail(ctx, n, SK_ESHAPE,
                                "pads %lld+%lld leave no output along spatial dim %d (%lld)",
                                (long long)pb, (long long)pe, i, (long long)full);
        }
        w->in[a] = in_;
        w->out[a] = out;
        w->k[a] = k;
        w->stride[a] = st[i];
        w->dil[a] = dl[i];
        w->pb[a] = pb;
        w->pe[a] = pe;
    }
    g->out.rank = xs->rank;
    g->out.dim[0] = g->N;
    g->out.dim[1] = g->M;
    for (int i = 0; i < nsp; i++)
        g->out.dim[2 + i] = w->out[SK_NN_SP - nsp + i];
    g->Pin = sk_win_in_size(w);
    int64_t col;
    if (sk_shape_numel(&g->out) < 0 || sk_shape_numel(xs) < 0 || sk_shape_numel(ws) < 0 ||
        !sk_nn_mul(g->Mg, sk_win_k_size(w), &g->Rows) || !sk_nn_mul(g->Rows, g->Pin, &col))
        return sk_kfail(ctx, n, SK_ESHAPE, "sizes overflow: X %s, W %s",
                        sk_shape_str(xs, s1, sizeof s1), sk_shape_str(ws, s2, sizeof s2));
    if (g->Rows > INT_MAX || g->Pin > INT_MAX || g->Cg > INT_MAX)
        return sk_kfail(ctx, n, SK_ESHAPE, "a GEMM dimension passes INT_MAX");
    return 0;
}

int sk_infer_conv_transpose(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_convt_geom g;
    int rc = sk_convt_geometry(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = g.out;
    return 0;
}

/* y[m, id*s - p + kd*d, ...] += col[(m, kd, kh, kw), (id, ih, iw)] for every
 * target inside the output. y holds the Mg channels of one image/group. */
static void col2im(const float *col, int64_t Mg, const sk_win *w, float *y)
{
    const int64_t D = w->in[0], H = w->in[1], Wd = w->in[2];
    const int64_t oD = w->out[0], oH = w->out[1], oW = w->out[2];
    const float *row = col;
    for (int64_t m = 0; m < Mg; m++)
        for (int64_t kd = 0; kd < w->k[0]; kd++)
            for (int64_t kh = 0; kh < w->k[1]; kh++)
                for (int64_t kw = 0; kw < w->k[2]; kw++, row += D * H * Wd)
                    for (int64_t id = 0; id < D; id++) {
                        int64_t od = id * w->stride[0] - w->pb[0] + kd * w->dil[0];
                        if (od < 0 || od >= oD)
                            continue;
                        for (int64_t ih = 0; ih < H; ih++) {
                            int64_t oh = ih * w->stride[1] - w->pb[1] + kh * w->dil[1];
                            if (oh < 0 || oh >= oH)
                                continue;
                            const float *r = row + (id * H + ih) * Wd;
                            float *yr = y + ((m * oD + od) * oH + oh) * oW;
                            for (int64_t iw = 0; iw < Wd; iw++) {
                                int64_t ow = iw * w->stride[2] - w->pb[2] + kw * w->dil[2];
                                if (ow >= 0 && ow < oW)
                                    yr[ow] += r[iw];
                            }
                        }
                    }
}

typedef struct convt_rows_job {
    const float *a, *x;
    float *col;
    int Pin, Cg;
} convt_rows_job;

static void convt_rows_task(void *arg, size_t begin, size_t end)
{
    const convt_rows_job *j = arg;
    sk_ref_gemm_f32((int)(end - begin), j->Pin, j->Cg, j->a + begin * (size_t)j->Cg, j->Cg,
                    j->x, j->Pin, j->col + begin * (size_t)j->Pin, j->Pin, 0);
}

/* Scratch: the transposed weights of every group, then one column matrix. */
static size_t convt_scratch_floats(const sk_convt_geom *g)
{
    return (size_t)(g->group * g->Rows * g->Cg + g->Rows * g->Pin);
}

size_t sk_ref_scratch_conv_transpose(SK_REF_SCRATCH_ARGS)
{
    sk_convt_geom g;
    sk_kctx quiet = sk_nn_quiet_ctx();
    (void)out;
    (void)nthreads;
    if (sk_convt_geometry(n, in, nin, nout, &quiet, &g))
        return 0;
    return convt_scratch_floats(&g) * sizeof(float);
}

int sk_run_conv_transpose(const sk_node *n, const sk_tensor *const *in, int nin,
                          sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_convt_geom g;
    int rc = sk_convt_geometry(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    int64_t total = sk_shape_numel(&g.out);
    if (total == 0)
        return 0;
    const float *x = in[0]->data, *wt = in[1]->data;
    const float *bias = nin > 2 && in[2] ? in[2]->data : NULL;
    float *y = out[0].data;
    int64_t opx = sk_win_out_size(&g.w);
    /* W_g is Cg x Rows; the GEMM wants its transpose, Rows x Cg. */
    void *heap;
    float *wT = sk_nn_scratch(ctx, convt_scratch_floats(&g) * sizeof(float), &heap);
    if (!wT)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory for the column buffer");
    float *col = wT + g.group * g.Rows * g.Cg;
    for (int64_t grp = 0; grp < g.group; grp++) {
        const float *src = wt + grp * g.Cg * g.Rows;
        float *dst = wT + grp * g.Rows * g.Cg;
        for (int64_t c = 0; c < g.Cg; c++)
            for (int64_t r = 0; r < g.Rows; r++)
                dst[r * g.Cg + c] = src[c * g.Rows + r];
    }
    for (int64_t m = 0; m < g.N * g.M; m++) {
        float b = bias ? bias[m % g.M] : 0.0f, *ym = y + m * opx;
        for (int64_t p = 0; p < opx; p++)
            ym[p] = b;
    }
    for (int64_t img = 0; img < g.N; img++)
        for (int64_t grp = 0; grp < g.group; grp++) {
            convt_rows_job j = {.a = wT + grp * g.Rows * g.Cg,
                                .x = x + (img * g.C + grp * g.Cg) * g.Pin,
                                .col = col,
                                .Pin = (int)g.Pin,
                                .Cg = (int)g.Cg};
            sk_parallel_for(ctx->pool, (size_t)g.Rows, 16, convt_rows_task, &j);
            col2im(col, g.Mg, &g.w, y + (img * g.M + grp * g.Mg) * opx);
        }
    free(heap);
    return 0;
}
