/* fast_qconvt.c — _QConvTranspose on the int8 GEMM (fast_qconvt.h).
 *
 * Per chunk of images: X's channel rows (C x H*W, already the GEMM's K x N)
 * are packed into c4 panels (int8 x flipped to uint8), one GEMM per image
 * gives the requantized rows (m, ky, kx) x (iy, ix) in scratch, and a byte
 * scatter puts row (m, ky, kx) at output pixels (iy*s + ky - pad, ix*s + kx
 * - pad) — each output pixel exactly once, as kernel == stride. */
#include "fast_qconvt.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ref/conv_transpose.h"
#include "kernels/ref/quant_util.h"
#include "threadpool.h"

void sk_qconvt_priv_free(void *p)
{
    sk_qconvt_priv *q = p;
    if (!q)
        return;
    sk_qgemm_weights_free(&q->w);
    sk_free(q->wi);
    free(q->tbias);
    free(q->tmult);
    free(q->tprm);
    free(q);
}

/* the attributes the scatter supports: group 1, stride == kernel,
 * dilation 1, no output_padding / output_shape / auto_pad */
int sk_qconvt_supported(const sk_node *n, int64_t kh, int64_t kw)
{
    const int64_t *a;
    int na;
    if (sk_attr_int(n, "group", 1) != 1 || sk_attr_ints(n, "output_shape", &a) > 0)
        return 0;
    const char *ap = sk_attr_str(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") != 0)
        return 0;
    if ((na = sk_attr_ints(n, "strides", &a)) != 2 || a[0] != kh || a[1] != kw)
        return 0;
    if ((na = sk_attr_ints(n, "dilations", &a)) > 0 && (na != 2 || a[0] != 1 || a[1] != 1))
        return 0;
    if ((na = sk_attr_ints(n, "output_padding", &a)) > 0 && (na != 2 || a[0] || a[1]))
        return 0;
    return 1;
}

/* Session 18 (ctq): yes at every level. Until then the widening AVX2 int8
 * GEMM (SKIPSERVE_INT8_UK=avx2, CPUs without VNNI) left the QDQ form in
 * float (DQ -> float ConvTranspose -> Q), whose float sums round a value
 * near a .5 step to the other integer: the U-Net ConvTranspose QDQ model's
 * uint8 activations after ups.1 differed from the scalar reference and the
 * VNNI levels, 33 k of its 2.75 M float outputs by up to 0.003. The int8
 * form is integer-exact, so every level now gives the reference's bytes. */
int sk_qconvt_pays(const sk_kconfig *kc)
{
    (void)kc;
    return 1;
}

static int no_pads(const sk_node *n)
{
    const int64_t *a;
    int na = sk_attr_ints(n, "pads", &a);
    for (int i = 0; i < na; i++)
        if (a[i] != 0)
            return 0;
    return 1;
}

/* the NHWC form's weights and per-tap epilogues (fast_qconvt.h); 0 made,
 * < 0 no memory (the NCHW form stays either way) */
static int pack_nhwc(sk_qconvt_priv *pv, const sk_qigemm_cfg *ig, const int8_t *w,
                     const int32_t *b, int32_t xzp_u8, float xsc, const float *ws, size_t nws,
                     float ysc, int32_t yzp)
{
    size_t C = (size_t)pv->C, M = (size_t)pv->M, KV = (size_t)(pv->kh * pv->kw);
    size_t wb = sk_qigemm_packed_w_bytes(ig, M, C, 1);
    int8_t *wt = malloc(M * C);
    int32_t *sums = malloc(M * sizeof *sums);
    pv->wi = sk_alloc_weights(KV * wb + 64); /* huge pages (engine/sk.c) */
    pv->tbias = malloc(KV * M * sizeof *pv->tbias);
    pv->tmult = malloc(KV * M * sizeof *pv->tmult);
    pv->tprm = calloc(KV, sizeof *pv->tprm);
    if (!wt || !sums || !pv->wi || !pv->tbias || !pv->tmult || !pv->tprm) {
        free(wt);
        free(sums);
        return SK_ENOMEM;
    }
    int ok = 1;
    for (size_t t = 0; t < KV && ok; t++) {
        /* tap t's 1x1 weights [M][C] = W[c][m][t] */
        for (size_t m = 0; m < M; m++)
            for (size_t c = 0; c < C; c++)
                wt[m * C + c] = w[(c * M + m) * KV + t];
        sk_qigemm_pack_w(ig, M, C, C, 1, wt, pv->wi + t * wb);
        sk_qgemm_row_sums(M, C, wt, C, sums);
        /* the NCHW form's rows (m, t): the same fold, so the same bits */
        ok = sk_qgemm_fold_requant(M, C, 1, sums, b, xzp_u8, xsc, ws, nws, ysc,
                                   pv->tbias + t * M, pv->tmult + t * M);
        sk_qgemm_params_plain(&pv->tprm[t], 0, yzp);
        pv->tprm[t].bias = pv->tbias + t * M;
        pv->tprm[t].mult = pv->tmult + t * M;
    }
    free(wt);
    free(sums);
    if (ok) {
        pv->ig = *ig;
    } else { /* the fold does not fit: the NCHW path runs, its packs go now */
        sk_free(pv->wi);
        free(pv->tbias);
        free(pv->tmult);
        free(pv->tprm);
        pv->wi = NULL;
        pv->tbias = NULL;
        pv->tmult = NULL;
        pv->tprm = NULL;
    }
    return 0;
}

int sk_qconvt_pack(const sk_graph *g, sk_node *n, const sk_kconfig *kc)
{
    if (!kc || !kc->qgemm.uk || n->nin < 8 || n->in[0] < 0 || n->nout != 1)
        return 0;
    int ok = 1;
    const sk_value *xs = sk_const_in(g, n, 1, &ok), *xz = sk_const_in(g, n, 2, &ok),
                   *w = sk_const_in(g, n, 3, &ok), *ws = sk_const_in(g, n, 4, &ok),
                   *wz = sk_const_in(g, n, 5, &ok), *ys = sk_const_in(g, n, 6, &ok),
                   *yz = sk_const_in(g, n, 7, &ok), *b = sk_const_in(g, n, 8, &ok);
    if (!ok || !xs || !xz || !w || !ws || !ys || !yz || w->dtype != SK_I8 || w->shape.rank != 4)
        return 0;
    sk_dtype xt = xz->dtype, yt = yz->dtype;
    if (!sk_q_is8(xt) || !sk_q_is8(yt) || xs->dtype != SK_F32 || ys->dtype != SK_F32 ||
        ws->dtype != SK_F32 || sk_shape_numel(&xs->shape) != 1 ||
        sk_shape_numel(&ys->shape) != 1 || sk_shape_numel(&xz->shape) != 1 ||
        sk_shape_numel(&yz->shape) != 1)
        return 0;
    int64_t C = w->shape.dim[0], M = w->shape.dim[1], kh = w->shape.dim[2],
            kw = w->shape.dim[3], nws = sk_shape_numel(&ws->shape);
    if (C < 1 || M < 1 || !sk_qconvt_supported(n, kh, kw) || (nws != 1 && nws != M) ||
        (size_t)C > ((size_t)1 << 15))
        return 0;
    if (wz) {
        if (wz->dtype != SK_I8 || sk_shape_numel(&wz->shape) != nws)
            return 0;
        for (int64_t i = 0; i < nws; i++)
            if (((const int8_t *)wz->data)[i] != 0)
                return 0;
    }
    if (b && (b->dtype != SK_I32 || sk_shape_numel(&b->shape) != M))
        return 0;
    float xsc = *(const float *)xs->data, ysc = *(const float *)ys->data;
    int32_t xzp = sk_q_load(xt, xz->data, 0), yzp = sk_q_load(yt, yz->data, 0);
    int32_t xzp_u8 = xt == SK_I8 ? xzp + 128 : xzp;
    size_t K = (size_t)C, KV = (size_t)(kh * kw), rows = (size_t)M * KV;

    sk_qconvt_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return SK_ENOMEM;
    pv->q = kc->qgemm;
    /* A row (m, ky, kx) = W[.][m][ky][kx]: W's [C][M*KV] is K-major */
    int rc = sk_qgemm_weights_kmajor(&pv->w, &pv->q, rows, K, w->data, KV,
                                     b ? (const int32_t *)b->data : NULL, xzp_u8, xsc, ws->data,
                                     (size_t)nws, ysc, yt == SK_I8, yzp);
    if (rc != 1) {
        free(pv);
        return rc;
    }
    pv->C = C;
    pv->M = M;
    pv->kh = kh;
    pv->kw = kw;
    pv->rows = rows;
    pv->x_s8 = xt == SK_I8;
    pv->y_s8 = yt == SK_I8;
    n->priv = pv;
    n->priv_free = sk_qconvt_priv_free;
    if (kc->qigemm.uk && !pv->x_s8 && !pv->y_s8 && C % 4 == 0 && no_pads(n) &&
        pack_nhwc(pv, &kc->qigemm, w->data, b ? (const int32_t *)b->data : NULL, xzp_u8, xsc,
                  ws->data, (size_t)nws, ysc, yzp) < 0)
        return SK_ENOMEM; /* n->priv is freed with the node */
    return 1;
}

/* bytes per image: X's panels, then the GEMM's rows x pixels */
static size_t per_image(const sk_qconvt_priv *pv, size_t P)
{
    size_t npan = (P + (size_t)pv->q.nr - 1) / (size_t)pv->q.nr;
    size_t panels = (npan * sk_qgemm_b_panel_bytes(&pv->q, (size_t)pv->C) + 63) & ~(size_t)63;
    return panels + ((pv->rows * P + 63) & ~(size_t)63);
}

/* images per chunk: their scratch within ~4 MiB (at least one) */
static size_t chunk_of(size_t per, size_t N)
{
    size_t c = ((size_t)4 << 20) / (per ? per : 1);
    c = c < 1 ? 1 : c;
    return c < N ? c : (N ? N : 1);
}

size_t sk_fast_qconvt_scratch(const sk_node *n, const sk_tensor *const *in, int nin)
{
    const sk_qconvt_priv *pv = n->priv;
    if (!pv || pv->nhwc || nin < 1 || !in[0] || in[0]->shape.rank != 4)
        return 0; /* the NHWC form writes the output directly */
    size_t P = (size_t)(in[0]->shape.dim[2] * in[0]->shape.dim[3]);
    size_t per = per_image(pv, P);
    return chunk_of(per, (size_t)in[0]->shape.dim[0]) * per;
}

typedef struct qct_job {
    const sk_qconvt_priv *pv;
    const uint8_t *x;  /* the chunk's first image */
    uint8_t *y;        /* its output */
    uint8_t *scratch;
    size_t P, H, W, OH, OW, per, panels, npan;
    int64_t pt, pl;
} qct_job;

/* task = (image, panel): pack X's columns */
static void pack_range(void *arg, size_t begin, size_t end)
{
    const qct_job *j = arg;
    const sk_qconvt_priv *pv = j->pv;
    size_t NR = (size_t)pv->q.nr, C = (size_t)pv->C;
    for (size_t t = begin; t < end; t++) {
        size_t img = t / j->npan, pan = t % j->npan, n0 = pan * NR;
        size_t nc = j->P - n0 < NR ? j->P - n0 : NR;
        sk_qgemm_pack_b(&pv->q, C, n0, nc, j->P, j->x + img * C * j->P, j->P,
                        pv->x_s8 ? 0x80 : 0,
                        j->scratch + img * j->per + pan * sk_qgemm_b_panel_bytes(&pv->q, C));
    }
}

/* task = (image, output channel): the rows (m, ky, kx) to their pixels */
static void scatter_range(void *arg, size_t begin, size_t end)
{
    const qct_job *j = arg;
    const sk_qconvt_priv *pv = j->pv;
    size_t M = (size_t)pv->M, kh = (size_t)pv->kh, kw = (size_t)pv->kw;
    for (size_t t = begin; t < end; t++) {
        size_t img = t / M, m = t % M;
        const uint8_t *rows = j->scratch + img * j->per + j->panels + m * kh * kw * j->P;
        uint8_t *y = j->y + (img * M + m) * j->OH * j->OW;
        for (size_t ky = 0; ky < kh; ky++)
            for (size_t iy = 0; iy < j->H; iy++) {
                int64_t oy = (int64_t)(iy * kh + ky) - j->pt;
                if (oy < 0 || oy >= (int64_t)j->OH)
                    continue;
                uint8_t *dst = y + (size_t)oy * j->OW;
                for (size_t kx = 0; kx < kw; kx++) {
                    const uint8_t *src = rows + (ky * kw + kx) * j->P + iy * j->W;
                    int64_t ox = (int64_t)kx - j->pl;
                    size_t ix = 0;
                    for (; ox < 0 && ix < j->W; ix++, ox += (int64_t)kw)
                        ;
                    for (; ix < j->W && ox < (int64_t)j->OW; ix++, ox += (int64_t)kw)
                        dst[ox] = src[ix];
                }
            }
    }
}

typedef struct qct_nhwc_job {
    const sk_qconvt_priv *pv;
    const uint8_t *x;
    uint8_t *y;
    size_t H, W, OW;
} qct_nhwc_job;

/* tasks [b, e): task t = (image, input row iy); per tap, per tile of MR
 * pixels of the row, per block of NR output channels one microkernel call
 * writing MR output pixels kw * M bytes apart */
static void nhwc_range(void *arg, size_t b, size_t e)
{
    const qct_nhwc_job *j = arg;
    const sk_qconvt_priv *pv = j->pv;
    size_t C = (size_t)pv->C, M = (size_t)pv->M, kh = (size_t)pv->kh, kw = (size_t)pv->kw;
    size_t MR = (size_t)pv->ig.mr, NR = (size_t)pv->ig.nr, W = j->W;
    size_t wb = sk_qigemm_packed_w_bytes(&pv->ig, M, C, 1);
    const uint8_t *ptr[64];
    if (pv->ig.task_begin) /* AMX: the tile configuration, once per task (qigemm.h) */
        pv->ig.task_begin();
    for (size_t t = b; t < e; t++) {
        size_t img = t / j->H, iy = t % j->H;
        const uint8_t *xr = j->x + (img * j->H + iy) * W * C;
        uint8_t *yi = j->y + img * j->H * kh * j->OW * M;
        for (size_t ix0 = 0; ix0 < W; ix0 += MR) {
            size_t mr = W - ix0 < MR ? W - ix0 : MR;
            for (size_t r = 0; r < MR; r++) /* rows past mr repeat a valid pixel */
                ptr[r] = xr + (ix0 + (r < mr ? r : mr - 1)) * C;
            for (size_t ky = 0; ky < kh; ky++)
                for (size_t kx = 0; kx < kw; kx++) {
                    size_t tap = ky * kw + kx;
                    uint8_t *yo = yi + ((iy * kh + ky) * j->OW + ix0 * kw + kx) * M;
                    for (size_t n0 = 0; n0 < M; n0 += NR)
                        pv->ig.uk(mr, M - n0 < NR ? M - n0 : NR, C / 4, 1, ptr,
                                  pv->wi + tap * wb + n0 / NR * C * NR, yo + n0, kw * M, NULL,
                                  0, n0, &pv->tprm[tap]);
                }
        }
    }
    if (pv->ig.task_end)
        pv->ig.task_end();
}

int sk_fast_run_qconvt(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    const sk_qconvt_priv *pv = n->priv;
    const sk_op_info *info = sk_op_get(n->op);
    sk_tensor chk = {0};
    int rc = info->infer(n, in, nin, &chk, 1, ctx); /* the reference's checks */
    if (rc)
        return rc;
    if (!pv || nout < 1 || in[0]->shape.rank != 4 || in[0]->dtype != (pv->x_s8 ? SK_I8 : SK_U8) ||
        chk.dtype != (pv->y_s8 ? SK_I8 : SK_U8) || in[0]->shape.dim[1] != pv->C ||
        in[3]->shape.dim[1] != pv->M) {
        if (pv && pv->nhwc) /* its neighbours read / write channels-last bytes */
            return sk_kfail(ctx, n, SK_EINVAL, "channels-last ConvTranspose of another form");
        return info->run(n, in, nin, out, nout, ctx);
    }
    size_t N = (size_t)in[0]->shape.dim[0], H = (size_t)in[0]->shape.dim[2],
           W = (size_t)in[0]->shape.dim[3], P = H * W;
    size_t OH = (size_t)chk.shape.dim[2], OW = (size_t)chk.shape.dim[3];
    if (pv->nhwc) { /* the layout is a load-time contract: never the NCHW path */
        if (!pv->ig.uk || OH != H * (size_t)pv->kh || OW != W * (size_t)pv->kw ||
            (size_t)pv->ig.mr > 64)
            return sk_kfail(ctx, n, SK_EINVAL, "channels-last ConvTranspose of another form");
        qct_nhwc_job j = {pv, in[0]->data, out[0].data, H, W, OW};
        if (N * H > 0 && W > 0)
            sk_parallel_for(ctx->pool, N * H, 1, nhwc_range, &j);
        return 0;
    }
    const int64_t *pads;
    int64_t pt = 0, pl = 0;
    if (sk_attr_ints(n, "pads", &pads) == 4) {
        pt = pads[0];
        pl = pads[1];
    }
    size_t per = per_image(pv, P), chunk = chunk_of(per, N);
    if (!ctx->scratch || ctx->scratch_bytes < chunk * per || N == 0 || P == 0)
        return N == 0 || P == 0 ? 0 : info->run(n, in, nin, out, nout, ctx);
    size_t npan = (P + (size_t)pv->q.nr - 1) / (size_t)pv->q.nr;
    size_t panels = (npan * sk_qgemm_b_panel_bytes(&pv->q, (size_t)pv->C) + 63) & ~(size_t)63;
    for (size_t b0 = 0; b0 < N; b0 += chunk) {
        size_t nb = N - b0 < chunk ? N - b0 : chunk;
        qct_job j = {pv,   (const uint8_t *)in[0]->data + b0 * (size_t)pv->C * P,
                     (uint8_t *)out[0].data + b0 * (size_t)pv->M * OH * OW,
                     ctx->scratch, P, H, W, OH, OW, per, panels, npan, pt, pl};
        sk_parallel_for(ctx->pool, nb * npan, 1, pack_range, &j);
        sk_qgemm_run_batch(&pv->q, ctx->pool, nb, pv->rows, P, (size_t)pv->C, pv->w.pa,
                           ctx->scratch, per, (uint8_t *)ctx->scratch + panels, P, per, NULL,
                           0, 0, &pv->w.prm);
        sk_parallel_for(ctx->pool, nb * (size_t)pv->M, 1, scatter_range, &j);
    }
    return 0;
}
