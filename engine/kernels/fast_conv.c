/* fast_conv.c — the fast _ConvFused kernel: the strategy table (one row
 * per sk_conv_kind, fast.h), the entry that runs a node's strategy, and
 * what the strategies share: operand setup, scratch, the GEMM run.
 *
 * The strategies live one per file: fast_conv_im2col.c (implicit-im2col
 * GEMM), fast_conv_pixrows.c (the same GEMM transposed for 7x7 maps),
 * fast_winograd.c (F(2x2) and F(4x4)), fast_dwconv.c (depthwise direct).
 * _GemmFused: fast_gemm_fused.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast_conv.h"
#include "threadpool.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void sk_conv_priv_free(void *v)
{
    sk_conv_priv *p = v;
    if (!p)
        return;
    sk_gemm_packed_a_free(&p->w);
    sk_gemm_packed_b_free(&p->wt);
    sk_conv_priv_free(p->bf16_form);
    free(p);
}

static size_t wino_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads)
{
    /* the tiles of the output, so the plan sizes the blocking the run takes */
    int64_t m = pv->w.groups == 36 ? 4 : 2, tiles = 0;
    if (out && out->shape.rank == 4)
        tiles = out->shape.dim[0] * ((out->shape.dim[2] + m - 1) / m) *
                ((out->shape.dim[3] + m - 1) / m);
    return sk_wino_scratch_floats_tiles(pv->cfg, &pv->w, tiles, nthreads);
}

static size_t dw_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads)
{
    (void)pv;
    (void)out;
    return sk_dw_scratch_floats(nthreads);
}

/* Every strategy once; prepack.c picks the kind, dispatch.c names it and
 * sizes its scratch, sk_fast_run_conv_fused runs it. */
static const sk_conv_strategy strategies[] = {
    {SK_CONV_GEMM, "im2col-gemm", 0, sk_conv_im2col_scratch, sk_fast_run_conv_im2col},
    {SK_CONV_WINOGRAD, "winograd-f2x2-3x3", 0, wino_scratch, sk_fast_run_conv_wino},
    {SK_CONV_DEPTHWISE, "depthwise-direct", 1, dw_scratch, sk_fast_run_conv_dw},
    {SK_CONV_PIXROWS, "im2col-gemm-pixrows", 0, sk_conv_pixrows_scratch,
     sk_fast_run_conv_pixrows},
    {SK_CONV_WINOGRAD4, "winograd-f4x4-3x3", 0, wino_scratch, sk_fast_run_conv_wino},
    {SK_CONV_BF16, "bf16-im2col-gemm", 0, sk_conv_im2col_scratch, sk_fast_run_conv_im2col},
    {SK_CONV_NCHW1X1, "gemm-nchw-1x1", 0, sk_conv_nchw1x1_scratch, sk_fast_run_conv_nchw1x1},
    {SK_CONV_DIRECT, "direct-nchw", 1, sk_conv_direct_scratch, sk_fast_run_conv_direct},
    {SK_CONV_DIRECT_BC, "direct-bcast", 0, sk_conv_direct_bc_scratch,
     sk_fast_run_conv_direct_bc},
};

/* Does a conv of this batch run by pixel rows instead of its planned kind
 * (fast.h pix_max_n)? Sizing, running and naming the step all ask here. */
int sk_conv_runs_pixrows(const sk_conv_priv *pv, int64_t batch)
{
    return pv && pv->pix_max_n > 0 && batch <= pv->pix_max_n;
}

/* Precision bf16: a Winograd conv's BF16 form runs from bf16_min_t
 * threads on (prepack.c bf16_form, opt-in: SKIPSERVE_BF16_WINO_T;
 * bench/RESULTS.md session 17).
 * Pixel rows, where they apply, come first (sk_fast_run_conv_fused).
 * Sizing, running and naming the step all ask here. */
const sk_conv_priv *sk_conv_runs_bf16(const sk_conv_priv *pv, int64_t batch, int nthreads)
{
    if (!pv || !pv->bf16_form || pv->bf16_min_t <= 0 || nthreads < pv->bf16_min_t ||
        sk_conv_runs_pixrows(pv, batch))
        return NULL;
    return pv->bf16_form;
}

const sk_conv_strategy *sk_conv_strategy_of(sk_conv_kind kind)
{
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++)
        if (strategies[i].kind == kind)
            return &strategies[i];
    return &strategies[0];
}


/* Output pixels per image of a conv output (N, M, spatial...); 0 if unknown. */
static int64_t conv_out_pixels(const sk_tensor *out)
{
    if (!out || out->shape.rank < 3)
        return 0;
    int64_t P = 1;
    for (int a = 2; a < out->shape.rank; a++)
        P *= out->shape.dim[a];
    return P;
}

int sk_conv_gemm_begin(const sk_node *n, const sk_tensor *const *in, int nin,
                       const sk_tensor *out, sk_kctx *ctx, conv_src *s, int64_t *N, int64_t *M,
                       const sk_tensor **B, const sk_tensor **R, int *rc)
{
    *rc = sk_conv_src_setup(n, in, nin, out, n->priv, ctx, s, N, M);
    if (*rc || *N * *M * s->P == 0)
        return 0;
    *B = nin > 2 ? in[2] : NULL;
    *R = nin > 3 ? in[3] : NULL;
    return 1;
}

size_t sk_conv_gemm_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads,
                            sk_conv_extra_fn extra)
{
    int64_t P = conv_out_pixels(out);
    return sk_gemm_scratch_floats(pv->cfg, nthreads) +
           (P > 0 ? extra(pv, P, out->shape.dim[0], nthreads) : 0);
}

size_t sk_fused_scratch_floats(const sk_node *n, const sk_tensor *out, int nthreads)
{
    if (!n->priv)
        return 0;
    if (n->op == SK_OP_CONV_FUSED) {
        const sk_conv_priv *pv = n->priv;
        size_t f = sk_conv_strategy_of(pv->kind)->scratch(pv, out, nthreads);
        if (out && sk_conv_runs_pixrows(pv, out->shape.dim[0])) {
            size_t fp = sk_conv_pixrows_scratch(pv, out, nthreads); /* may run instead */
            f = fp > f ? fp : f;
        }
        const sk_conv_priv *alt = sk_conv_runs_bf16(pv, out ? out->shape.dim[0] : 0, nthreads);
        if (alt) { /* runs instead (fast.h bf16_form) */
            size_t fb = sk_conv_strategy_of(alt->kind)->scratch(alt, out, nthreads);
            f = fb > f ? fb : f;
        }
        return f;
    }
    if (n->op == SK_OP_MATMUL_FUSED)
        return sk_matmul_fused_scratch_floats(n, out, nthreads);
    const sk_gemm_cfg *cfg = NULL;
    if (n->op == SK_OP_GEMM_FUSED)
        cfg = ((const sk_gemm_priv *)n->priv)->cfg;
    return sk_gemm_scratch_floats(cfg, nthreads);
}

float *sk_fast_scratch(const sk_node *n, sk_kctx *ctx, size_t floats, float **heap)
{
    *heap = NULL;
    if (ctx->scratch && ctx->scratch_bytes >= floats * sizeof(float))
        return ctx->scratch;
    if (!(*heap = sk_alloc(floats * sizeof(float))))
        sk_kfail(ctx, n, SK_ENOMEM, "out of memory for %zu bytes of scratch",
                 floats * sizeof(float));
    return *heap;
}


/* The GEMM job on the pool with its packing buffers from sk_fast_scratch. */
int sk_fast_run_job(const sk_node *n, const sk_gemm_job *j, sk_kctx *ctx)
{
    float *heap,
        *scratch = sk_fast_scratch(n, ctx, sk_gemm_job_scratch_floats(j, sk_pool_size(ctx->pool)),
                                   &heap);
    if (!scratch)
        return SK_ENOMEM;
    sk_gemm_run(ctx->pool, j, scratch); /* cannot fail: scratch given */
    sk_free(heap);
    return 0;
}

int sk_conv2d_setup(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    sk_kctx *ctx, sk_conv2d *g)
{
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    sk_win w;
    memset(g, 0, sizeof *g);
    int rc = sk_win_resolve(n, ctx, xs, ws->dim + 2, 0, &w);
    if (rc)
        return rc;
    const sk_tensor *R = nin > 3 ? in[3] : NULL;
    if (R && !sk_shape_equal(&R->shape, &out[0].shape))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual shape differs from the output");
    g->x = in[0]->data;
    g->w = in[1]->data;
    g->bias = nin > 2 && in[2] ? in[2]->data : NULL;
    g->res = R ? R->data : NULL;
    g->y = out[0].data;
    sk_fused_act(n, &g->lo, &g->hi);
    g->N = xs->dim[0];
    g->C = xs->dim[1];
    g->M = ws->dim[0];
    /* a 2-D window sits in the last two of the normalized three axes */
    g->H = w.in[1];
    g->W = w.in[2];
    g->oH = w.out[1];
    g->oW = w.out[2];
    g->kh = w.k[1];
    g->kw = w.k[2];
    g->sh = w.stride[1];
    g->sw = w.stride[2];
    g->dh = w.dil[1];
    g->dw = w.dil[2];
    g->pt = w.pb[1];
    g->pl = w.pb[2];
    return 0;
}

int sk_conv_src_setup(const sk_node *n, const sk_tensor *const *in, int nin, const sk_tensor *out,
                      const sk_conv_priv *pv, sk_kctx *ctx, conv_src *s, int64_t *N, int64_t *M)
{
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    memset(s, 0, sizeof *s);
    int rc = sk_win_resolve(n, ctx, xs, ws->dim + 2, 0, &s->w);
    if (rc)
        return rc;
    *N = xs->dim[0];
    *M = ws->dim[0];
    s->x = in[0]->data;
    s->C = xs->dim[1];
    s->Cg = ws->dim[1];
    s->group = sk_attr_int(n, "group", 1);
    if (s->group < 1 || s->Cg * s->group != s->C)
        return sk_kfail(ctx, n, SK_ESHAPE, "X has %lld channels, W %lld per group x %lld groups",
                        (long long)s->C, (long long)s->Cg, (long long)s->group);
    s->in_px = sk_win_in_size(&s->w);
    s->kvol = sk_win_k_size(&s->w);
    s->P = sk_win_out_size(&s->w);
    s->direct = s->kvol == 1;
    for (int a = 0; a < SK_NN_SP; a++)
        if (s->w.stride[a] != 1 || s->w.pb[a] != 0 || s->w.pe[a] != 0)
            s->direct = 0;
    int64_t Mg = *M / s->group, Kc = s->Cg * s->kvol;
    if (pv->kind == SK_CONV_PIXROWS ? Mg != pv->wt.N || Kc != pv->wt.K || s->group != 1
                                    : Mg != pv->w.M || Kc != pv->w.K || s->group != pv->w.groups)
        return sk_kfail(ctx, n, SK_EINVAL, "packed weights do not match W");
    const sk_tensor *R = nin > 3 ? in[3] : NULL;
    if (*N * *M * s->P != 0 && R && !sk_shape_equal(&R->shape, &out[0].shape))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual shape differs from the output");
    return 0;
}

void sk_pad_row(float *d, size_t len, const float *xrow, int64_t W, int64_t pl, int64_t s,
                int64_t p)
{
    const int64_t a = p - pl;
    if (!xrow) {
        memset(d, 0, len * sizeof(float));
        return;
    }
    int64_t j0 = a >= 0 ? 0 : (-a + s - 1) / s, src0 = j0 * s + a;
    int64_t cnt = src0 < W ? (W - 1 - src0) / s + 1 : 0;
    if (j0 > (int64_t)len)
        j0 = (int64_t)len;
    if (cnt > (int64_t)len - j0)
        cnt = (int64_t)len - j0;
    memset(d, 0, (size_t)j0 * sizeof(float));
    if (s == 1)
        memcpy(d + j0, xrow + src0, (size_t)cnt * sizeof(float));
    else
        sk_gather_stride2(d + j0, xrow + src0, cnt);
    memset(d + j0 + cnt, 0, (len - (size_t)(j0 + cnt)) * sizeof(float));
}

/* dst[q] = src[2q] for q in [0, n): two 4-float loads, keep the evens. */
void sk_gather_stride2(float *dst, const float *src, int64_t n)
{
    int64_t q = 0;
#if defined(__SSE2__)
    for (; q + 5 <= n; q += 4) { /* reads src[2q .. 2q+7], within src[2n-2] */
        __m128 a = _mm_loadu_ps(src + 2 * q), b = _mm_loadu_ps(src + 2 * q + 4);
        _mm_storeu_ps(dst + q, _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)));
    }
#endif
    for (; q < n; q++)
        dst[q] = src[2 * q];
}

int sk_fast_run_conv_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    if (!pv || nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_run_conv_fused(n, in, nin, out, nout, ctx);
    if (in[0]->shape.rank > 0 && sk_conv_runs_pixrows(pv, in[0]->shape.dim[0]))
        return sk_fast_run_conv_pixrows_alt(n, in, nin, out, ctx); /* small batch: see fast.h */
    const int64_t batch = in[0]->shape.rank > 0 ? in[0]->shape.dim[0] : 0;
    const sk_conv_priv *alt = sk_conv_runs_bf16(pv, batch, sk_pool_size(ctx->pool));
    if (alt) { /* the BF16 form (fast.h bf16_form): the node as if packed so */
        sk_node na = *n;
        na.priv = (void *)alt;
        return sk_conv_strategy_of(alt->kind)->run(&na, in, nin, out, ctx);
    }
    return sk_conv_strategy_of(pv->kind)->run(n, in, nin, out, ctx);
}
