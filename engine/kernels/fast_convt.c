/* fast_convt.c — the fast ConvTranspose (float32, 1-D to 3-D, groups,
 * strides, dilations, explicit pads, output_padding, optional bias;
 * output_shape and SAME auto_pad go to the reference).
 *
 * Per image, one sk_gemm job over the groups computes the column matrix
 *   col_g[(m, kd, kh, kw), pixel] = sum_c W[g*Cg + c, m, k...] * X_g[c, pixel]
 * with X read row-major and A = W^T either packed at load (constant W of a
 * group-1 2-D node: the prepack pass leaves it in sk_conv_priv, for the
 * level it was packed at) or packed once per run straight from W's
 * [C, Mg*kvol] layout (the transpose folded into the A packer). Then:
 *   - kernel == stride, no dilation, pads or output_padding (U-Net's 2x2 s2
 *     up-sampling): every output pixel receives exactly one column entry,
 *     so the output is a pure scatter with the bias added — for k = 2 a
 *     vector interleave of two column rows per output row;
 *   - otherwise: col2im accumulation into bias-filled channels, one channel
 *     per task, in the reference's tap order.
 * Why fast: the reference's scalar GEMM and single-threaded col2im become
 * the packed, threaded microkernel GEMM and a threaded, vectorized
 * scatter. */
#include <limits.h>
#include <string.h>

#include "kernels/fast.h"
#include "kernels/fast_ops.h"
#include "kernels/gemm.h"
#include "kernels/ref/conv_transpose.h"
#include "kernels/ref/nn_util.h"
#include "threadpool.h"

void sk_convt_priv_free(void *v) { sk_conv_priv_free(v); }

/* 1 when the prepack pass may pack W^T of node n at load: 2-D, group 1,
 * explicit pads (the run re-checks the rest of the geometry). */
int sk_fast_convt_supported(const sk_node *n, const sk_shape *w)
{
    const int64_t *v;
    if (w->rank != 4 || sk_attr_int(n, "group", 1) != 1)
        return 0;
    if (sk_attr_ints(n, "output_shape", &v) > 0)
        return 0;
    const char *ap = sk_attr_str(n, "auto_pad", "NOTSET");
    return !strcmp(ap, "NOTSET") || !ap[0];
}

/* The shared geometry (ref/conv_transpose.h) plus what the fast path adds:
 * the kernel volume, output pixels, and whether each input pixel lands on
 * its own kernel-sized output patch (k == stride, no pads or dilation). */
typedef struct ct_geom {
    int64_t N, C, M, group, Cg, Mg, Pin, Rows, kvol, opx;
    sk_win w; /* in = X's spatial dims, out = Y's */
    int direct;
} ct_geom;

/* 1 when the fast path runs this node: the forms the reference checks as
 * valid, less output_shape and auto_pad (the prepack pass refuses them too). */
static int ct_geometry(const sk_node *n, const sk_tensor *const *in, int nin, ct_geom *g)
{
    const char *ap = sk_attr_str(n, "auto_pad", "NOTSET");
    if (sk_attr_find(n, "output_shape") || (strcmp(ap, "NOTSET") && ap[0]))
        return 0;
    sk_convt_geom cg;
    sk_kctx quiet = sk_nn_quiet_ctx();
    if (sk_convt_geometry(n, in, nin, 1, &quiet, &cg))
        return 0;
    *g = (ct_geom){.N = cg.N, .C = cg.C, .M = cg.M, .group = cg.group, .Cg = cg.Cg,
                   .Mg = cg.Mg, .Pin = cg.Pin, .Rows = cg.Rows, .w = cg.w, .direct = 1};
    for (int a = SK_NN_SP - cg.w.nsp; a < SK_NN_SP; a++)
        if (cg.w.k[a] != cg.w.stride[a] || cg.w.dil[a] != 1 || cg.w.pb[a] || cg.w.pe[a] ||
            cg.w.out[a] != cg.w.in[a] * cg.w.stride[a])
            g->direct = 0;
    g->kvol = sk_win_k_size(&g->w);
    g->opx = sk_win_out_size(&g->w);
    int64_t rows_all, col; /* the column matrices of every group */
    return g->group <= INT_MAX && sk_nn_mul(g->group, g->Rows, &rows_all) &&
           sk_nn_mul(rows_all, g->Pin, &col);
}

/* W^T packed at load for node n, when it matches this geometry (else the
 * run falls back to the reference, as it would for any mismatch). */
static int ct_packed_ok(const sk_conv_priv *pv, const ct_geom *g)
{
    return g->group == 1 && pv->w.M == g->Rows && pv->w.K == g->Cg && pv->w.groups == 1;
}

/* Scratch: one image's column matrices, the GEMM's packing buffers, and W^T
 * packed per run unless it was packed at load. */
static size_t ct_scratch(const ct_geom *g, const sk_gemm_cfg *cfg, int packed, int nthreads)
{
    return (sk_fast_pad((size_t)(g->group * g->Rows * g->Pin)) +
            sk_gemm_scratch_floats(cfg, nthreads) +
            (packed ? 0 : sk_fast_prepack_a_floats(cfg, (int)g->group, (int)g->Rows, (int)g->Cg))) *
           sizeof(float);
}

int sk_fast_plan_conv_transpose(const sk_kconfig *kc, const sk_node *n,
                                const sk_tensor *const *in, int nin, const sk_tensor *out,
                                int nout, int nthreads, size_t *scratch)
{
    (void)out;
    ct_geom g;
    const sk_conv_priv *pv = n->priv;
    const sk_gemm_cfg *cfg = pv ? pv->cfg : kc ? &kc->gemm : NULL;
    *scratch = 0;
    if (nout < 1 || !cfg || !ct_geometry(n, in, nin, &g) || (pv && !ct_packed_ok(pv, &g)))
        return 0;
    *scratch = ct_scratch(&g, cfg, pv != NULL, nthreads);
    return 1;
}

/* A of group g is W_g^T: A(r, c) = W[(g*Cg + c) * Rows + r]. Its rows are
 * contiguous in W, so a panel packs with unit-stride reads. */
typedef struct ct_a {
    const float *w;
    int64_t Cg, Rows;
} ct_a;

static void ct_pack_a(const void *ctx, int batch, int m0, int mb, int k0, int kc, int mr,
                      float *dst)
{
    const ct_a *a = ctx;
    const float *wg = a->w + (size_t)batch * (size_t)(a->Cg * a->Rows);
    for (int p = 0; p * mr < mb; p++) {
        float *dp = dst + (size_t)p * (size_t)kc * (size_t)mr;
        int r0 = m0 + p * mr, rows = mb - p * mr < mr ? mb - p * mr : mr;
        for (int k = 0; k < kc; k++) {
            const float *src = wg + (size_t)(k0 + k) * (size_t)a->Rows + (size_t)r0;
            float *d = dp + (size_t)k * (size_t)mr;
            memcpy(d, src, (size_t)rows * sizeof(float));
            for (int r = rows; r < mr; r++)
                d[r] = 0.0f;
        }
    }
}

typedef struct ct_job {
    const sk_fast_uk *uk;
    const ct_geom *g;
    const float *col, *bias;
    float *y; /* this image's output */
} ct_job;

/* Direct scatter: task = one input row (m, id, ih) of one output channel;
 * it writes the kd*kh output rows that row expands to. */
static void ct_scatter(void *arg, size_t b, size_t e)
{
    const ct_job *j = arg;
    const ct_geom *g = j->g;
    const sk_win *w = &g->w;
    const int64_t D = w->in[0], H = w->in[1], W = w->in[2];
    const int64_t kd_ = w->k[0], kh_ = w->k[1], kw_ = w->k[2];
    const int64_t oH = w->out[1], oW = w->out[2];
    for (size_t t = b; t < e; t++) {
        int64_t ih = (int64_t)t % H, id = (int64_t)t / H % D, m = (int64_t)t / (H * D);
        float bias = j->bias ? j->bias[m] : 0.0f;
        int64_t grp = m / g->Mg, mg = m % g->Mg;
        const float *cm = j->col + (size_t)(grp * g->Rows + mg * g->kvol) * (size_t)g->Pin +
                          (size_t)((id * H + ih) * W);
        float *ym = j->y + (size_t)(m * g->opx);
        for (int64_t kd = 0; kd < kd_; kd++)
            for (int64_t kh = 0; kh < kh_; kh++) {
                const float *c0 = cm + (size_t)((kd * kh_ + kh) * kw_) * (size_t)g->Pin;
                float *yr = ym + (size_t)(((id * kd_ + kd) * oH + ih * kh_ + kh) * oW);
                if (kw_ == 2) {
                    j->uk->interleave2((size_t)W, c0, c0 + g->Pin, bias, yr);
                } else {
                    for (int64_t kw = 0; kw < kw_; kw++) {
                        const float *c = c0 + (size_t)kw * (size_t)g->Pin;
                        for (int64_t iw = 0; iw < W; iw++)
                            yr[iw * kw_ + kw] = c[iw] + bias;
                    }
                }
            }
    }
}

/* General col2im: task = one output channel, filled with its bias then
 * accumulated tap by tap in the reference's order. */
static void ct_col2im(void *arg, size_t b, size_t e)
{
    const ct_job *j = arg;
    const ct_geom *g = j->g;
    const sk_win *w = &g->w;
    const int64_t D = w->in[0], H = w->in[1], Wd = w->in[2];
    const int64_t oD = w->out[0], oH = w->out[1], oW = w->out[2];
    for (size_t m = b; m < e; m++) {
        float *y = j->y + m * (size_t)g->opx;
        float bias = j->bias ? j->bias[m] : 0.0f;
        for (int64_t p = 0; p < g->opx; p++)
            y[p] = bias;
        int64_t grp = (int64_t)m / g->Mg, mg = (int64_t)m % g->Mg;
        const float *row = j->col + (size_t)(grp * g->Rows + mg * g->kvol) * (size_t)g->Pin;
        for (int64_t kd = 0; kd < w->k[0]; kd++)
            for (int64_t kh = 0; kh < w->k[1]; kh++)
                for (int64_t kw = 0; kw < w->k[2]; kw++, row += g->Pin) {
                    /* iw range whose ow = iw*s - p + kw*d lands in [0, oW) */
                    int64_t off = kw * w->dil[2] - w->pb[2], s = w->stride[2];
                    int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
                    int64_t hi = off >= oW ? 0 : (oW - off + s - 1) / s;
                    if (hi > Wd)
                        hi = Wd;
                    if (hi < lo)
                        hi = lo;
                    for (int64_t id = 0; id < D; id++) {
                        int64_t od = id * w->stride[0] - w->pb[0] + kd * w->dil[0];
                        if (od < 0 || od >= oD)
                            continue;
                        for (int64_t ih = 0; ih < H; ih++) {
                            int64_t oh = ih * w->stride[1] - w->pb[1] + kh * w->dil[1];
                            if (oh < 0 || oh >= oH)
                                continue;
                            const float *r = row + (id * H + ih) * Wd;
                            float *yr = y + (od * oH + oh) * oW + off;
                            if (s == 1) {
                                j->uk->vadd_acc((size_t)(hi - lo), r + lo, yr + lo);
                            } else {
                                for (int64_t iw = lo; iw < hi; iw++)
                                    yr[iw * s] += r[iw];
                            }
                        }
                    }
                }
    }
}

int sk_fast_run_conv_transpose(const sk_node *n, const sk_tensor *const *in, int nin,
                               sk_tensor *out, int nout, sk_kctx *ctx)
{
    ct_geom g;
    /* a node packed at load runs the kernels of the level it was packed for */
    const sk_conv_priv *pv = n->priv;
    const sk_fast_uk *uk = pv ? &pv->kc->ops : sk_fast_uk_of(ctx);
    const sk_gemm_cfg *cfg = pv ? pv->cfg : sk_fast_gemm_of(ctx);
    if (!uk || !cfg || nout < 1 || out[0].dtype != SK_F32 || !ct_geometry(n, in, nin, &g) ||
        (pv && !ct_packed_ok(pv, &g)))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    if (g.N == 0 || g.M == 0)
        return 0;
    float *col = sk_fast_ctx_scratch(ctx, ct_scratch(&g, cfg, pv != NULL, sk_pool_size(ctx->pool)));
    if (!col)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    float *gemm_scratch = col + sk_fast_pad((size_t)(g.group * g.Rows * g.Pin));
    const float *x = in[0]->data;
    ct_a a = {in[1]->data, g.Cg, g.Rows};
    sk_gemm_packed_a pa; /* W^T of every group, packed once for all images */
    if (pv)
        pa = pv->w;
    else
        sk_fast_prepack_a(ctx->pool, cfg, ct_pack_a, &a, (int)g.group, (int)g.Rows, (int)g.Cg,
                          gemm_scratch + sk_gemm_scratch_floats(cfg, sk_pool_size(ctx->pool)),
                          &pa);
    ct_job cj = {uk, &g, col, nin > 2 && in[2] ? in[2]->data : NULL, NULL};
    for (int64_t img = 0; img < g.N; img++) {
        sk_gemm_rowmajor b = {x + (size_t)(img * g.C * g.Pin), (size_t)g.Pin,
                              (size_t)(g.Cg * g.Pin)};
        sk_gemm_job j;
        sk_gemm_job_init(&j, cfg, (int)g.Rows, (int)g.Pin, (int)g.Cg, (int)g.group);
        j.a_packed = &pa;
        j.pack_b = sk_gemm_pack_b_rowmajor;
        j.b_ctx = &b;
        j.c = col;
        j.ldc = (size_t)g.Pin;
        j.c_stride = (size_t)(g.Rows * g.Pin);
        if (sk_gemm_run(ctx->pool, &j, gemm_scratch) < 0)
            return sk_fast_ref(n, in, nin, out, nout, ctx);
        cj.y = (float *)out[0].data + (size_t)(img * g.M * g.opx);
        if (g.direct) {
            size_t rows = (size_t)(g.M * g.w.in[0] * g.w.in[1]);
            sk_parallel_for(ctx->pool, rows, 8, ct_scatter, &cj);
        } else {
            sk_parallel_for(ctx->pool, (size_t)g.M, 1, ct_col2im, &cj);
        }
    }
    return 0;
}
