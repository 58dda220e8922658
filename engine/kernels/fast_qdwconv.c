/* fast_qdwconv.c — QLinearConv / _QConvFused with group == C == M (the
 * depthwise convs of MobileNet-class models) on the int8 depthwise kernel
 * of the level (qdwconv.h), channels-last (issue 22, session 17).
 *
 * Why: as a grouped conv, each channel was a GEMM of one 1 x kh*kw row by
 * kh*kw x P columns (fast_qconv.c), 5-10x slower than the float depthwise
 * kernel, so passes/qdq_act.c left these convs float and every MobileNetV2
 * block left the int8 region twice. Here the channels are the lanes.
 *
 * The node keeps sk_qconv_priv (fast_qconv.h): bias / mult / prm folded as
 * for every int8 conv, io_nhwc set by passes/qlayout.c, which treats this
 * conv as a member of the NHWC region like the igemm ones; zrow holds C
 * bytes of x's zero point as stored (the kernel flips int8 x itself). An
 * NCHW x or residual (the region's edge) is transposed into scratch first,
 * an NCHW y row by row from a per-thread buffer.
 *
 * Tasks: (image, output row, part of the channels — parts only where there
 * are fewer than 4 rows a thread, cut at 32-channel blocks); a task runs
 * the row's interior (every tap inside the input's columns) on the level's
 * row kernel — tap addresses by arithmetic, a kernel row in the top / bottom
 * pads the zero-point row — and the pixels left and right of it on the
 * pointer kernel (their tap pointers into the image or zrow; one pixel each
 * side, pads 1, as one 2-pixel tile). Kernels of more than
 * SK_QDW_ROW_MAXK taps run every pixel on pointers. Every output byte is
 * one kernel call over all taps: the reference's bits at any thread count.
 * (Tried: the border pixels on the row kernel through a zero-point-padded
 * copy of their input columns — slower at batch 1, the copies are small.) */
#include <stdlib.h>
#include <string.h>

#include "fast_qconv.h"
#include "kernels/ref/nn_util.h"
#include "threadpool.h"

/* attributes, the edge budget, scratch rounding, the image groups and the
 * channel split: fast_qconv_nhwc.c's (fast_qconv.h), the same rules */
#define attr2 sk_qconv_attr2
#define al64 sk_qal64
#define bound_hw sk_qnhwc_bound_hw
#define edge_bytes sk_qnhwc_edge_bytes
#define edge_images sk_qnhwc_edge_images

int sk_qdw_enabled(void)
{
    const char *e = getenv("SKIPSERVE_INT8_DW");
    return !(e && !strcmp(e, "0"));
}

int sk_qdw_pack(sk_qconv_priv *pv, const sk_node *n, const int8_t *w, const sk_kconfig *kc)
{
    size_t C = (size_t)pv->M, ks = (size_t)(pv->kh * pv->kw);
    if (!kc->qdw.uk || pv->group != pv->M || pv->Cg != 1 || !sk_qdw_enabled() ||
        C > ((size_t)1 << 20) || ks > 1024)
        return 0;
    /* packed weights in huge pages (engine/sk.c sk_alloc_weights) */
    pv->dww = sk_alloc_weights(sk_qdw_packed_w_elems(C, ks) * sizeof(int32_t) + 64);
    pv->zrow = malloc(C + 64);
    if (!pv->dww || !pv->zrow)
        return SK_ENOMEM;
    sk_qdw_pack_w(C, ks, w, pv->dww);
    if (kc->qdw.pairs && C >= 32) { /* the VNNI row kernel's 32-channel pairs */
        pv->dww_pairs = sk_alloc_weights(sk_qdw_packed_w32_elems(C, ks) * sizeof(int32_t) + 64);
        if (!pv->dww_pairs)
            return SK_ENOMEM;
        sk_qdw_pack_w32(C, ks, w, pv->dww_pairs);
    }
    /* the zero point as x stores it: the kernel flips int8 bytes it reads */
    memset(pv->zrow, pv->x_zp_u8 ^ (pv->x_s8 ? 0x80 : 0), C + 64);
    pv->Cp = 1; /* = Cg: qlayout.c's "no padded channels" test */
    pv->sh = attr2(n, "strides", 0);
    pv->sw = attr2(n, "strides", 1);
    pv->dh = attr2(n, "dilations", 0);
    pv->dw = attr2(n, "dilations", 1);
    pv->edge_cap = sk_qconv_edge_cap();
    pv->dwk = kc->qdw;
    return 1;
}

/* ---- scratch ------------------------------------------------------------------ */


/* a thread's row: its tap pointers, and its output row when y is NCHW */
static size_t per_thread(const sk_qconv_priv *pv, size_t OW)
{
    return al64(OW * (size_t)(pv->kh * pv->kw) * sizeof(void *)) +
           (pv->io_nhwc & SK_QNHWC_Y ? 0 : al64(OW * (size_t)pv->M));
}

size_t sk_qdw_scratch(const sk_qconv_priv *pv, const sk_tensor *out, int nthreads)
{
    size_t N = (size_t)out->shape.dim[0], OH = (size_t)out->shape.dim[2],
           OW = (size_t)out->shape.dim[3], C = (size_t)pv->M;
    size_t HW = bound_hw(pv, OH, OW);
    size_t nb = edge_images(pv, N, HW * C, OH * OW * C);
    return edge_bytes(pv, nb * HW * C, nb * OH * OW * C) +
           per_thread(pv, OW) * (size_t)(nthreads > 0 ? nthreads : 1) + 64;
}

/* ---- run ------------------------------------------------------------------------- */

typedef struct dw_job {
    const sk_qconv_priv *pv;
    const sk_qgemm_params *p;
    const uint8_t *x, *res; /* NHWC, the group's first image */
    uint8_t *y;             /* the output tensor at the group's first image */
    size_t H, W, C, OH, OW, ks, cpart, nparts;
    int64_t sh, sw, dh, dw, pt, pl;
    uint8_t flip;
    int y_nchw, lut_mode;
    uint8_t *scratch;
    size_t per_thread;
} dw_job;

static void dw_range(void *arg, int tid, size_t begin, size_t end)
{
    const dw_job *j = arg;
    const sk_qconv_priv *pv = j->pv;
    size_t C = j->C, OW = j->OW, ks = j->ks, P = j->OH * OW;
    uint8_t *s = j->scratch + (size_t)tid * j->per_thread;
    const uint8_t **ptr = (const uint8_t **)(void *)s;
    uint8_t *ybuf = s + al64(OW * ks * sizeof(void *));
    for (size_t task = begin; task < end; task++) {
        size_t part = task % j->nparts, row = task / j->nparts;
        size_t img = row / j->OH, oh = row % j->OH;
        size_t c0 = part * j->cpart, nc = C - c0 < j->cpart ? C - c0 : j->cpart;
        if (c0 >= C)
            continue;
        const uint8_t *xi = j->x + img * j->H * j->W * C;
        size_t yo = (img * P + oh * OW) * C;
        uint8_t *yd = j->y_nchw ? ybuf : j->y + yo;
        const uint8_t *rd = j->res ? j->res + yo : NULL;
        /* the row's interior [lo, hi): every tap inside the input's columns,
         * on the row form; the pixels left and right of it on pointers */
        size_t lo = 0, hi = 0;
        if (pv->dwk.row && ks <= SK_QDW_ROW_MAXK) {
            int64_t span = (pv->kw - 1) * j->dw, last = (int64_t)j->W - 1 + j->pl - span;
            lo = (size_t)((j->pl + j->sw - 1) / j->sw);
            hi = last < 0 ? 0 : (size_t)(last / j->sw) + 1;
            hi = hi > OW ? OW : hi;
            lo = lo > hi ? hi : lo;
        }
        /* pointers of the other pixels: pixel ow's tap (r, q) at ptr[ow * ks + r * kw + q] */
        for (size_t r = 0, t = 0; r < (size_t)pv->kh; r++) {
            int64_t ih = (int64_t)oh * j->sh - j->pt + (int64_t)r * j->dh;
            int row_in = ih >= 0 && ih < (int64_t)j->H;
            for (size_t q = 0; q < (size_t)pv->kw; q++, t++)
                for (size_t ow = lo ? 0 : hi; ow < OW; ow = ow + 1 == lo ? hi : ow + 1) {
                    int64_t iw = (int64_t)ow * j->sw - j->pl + (int64_t)q * j->dw;
                    ptr[ow * ks + t] = row_in && iw >= 0 && iw < (int64_t)j->W
                                           ? xi + ((size_t)ih * j->W + (size_t)iw) * C
                                           : pv->zrow;
                }
        }
        int both = lo == 1 && OW - hi == 1 && hi > 1;
        if (both) {
            /* one border pixel each side (pads 1, 3x3): one call of 2
             * pixels OW - 1 apart, the right one's pointers moved next to
             * the left one's (pixel 1 is interior: its slots are free) */
            memcpy(ptr + ks, ptr + (OW - 1) * ks, ks * sizeof *ptr);
            pv->dwk.uk(2, c0, nc, ks, ptr, pv->dww, j->flip, yd, (OW - 1) * C, rd,
                       (OW - 1) * C, j->p);
        } else if (lo) {
            pv->dwk.uk(lo, c0, nc, ks, ptr, pv->dww, j->flip, yd, C, rd, C, j->p);
        }
        if (hi > lo) {
            const uint8_t *rows[SK_QDW_ROW_MAXK];
            size_t rstep[SK_QDW_ROW_MAXK], qstep[SK_QDW_ROW_MAXK];
            for (size_t r = 0; r < (size_t)pv->kh; r++) {
                int64_t ih = (int64_t)oh * j->sh - j->pt + (int64_t)r * j->dh;
                int in = ih >= 0 && ih < (int64_t)j->H;
                size_t iw0 = (size_t)((int64_t)lo * j->sw - j->pl);
                rows[r] = in ? xi + ((size_t)ih * j->W + iw0) * C : pv->zrow;
                rstep[r] = in ? (size_t)j->sw * C : 0;
                qstep[r] = in ? (size_t)j->dw * C : 0;
            }
            pv->dwk.row(hi - lo, c0, nc, (size_t)pv->kh, (size_t)pv->kw, rows, rstep, qstep,
                        pv->dww, pv->dww_pairs, j->flip, yd + lo * C, C, rd ? rd + lo * C : NULL, C, j->p);
        }
        if (hi < OW && !both)
            pv->dwk.uk(OW - hi, c0, nc, ks, ptr + hi * ks, pv->dww, j->flip, yd + hi * C, C,
                       rd ? rd + hi * C : NULL, C, j->p);
        if (j->p->lut) { /* the merged table, while the row is in cache */
            uint8_t flip = j->p->out_s8 ? 0x80 : 0;
            if (nc == C)
                sk_u8_lut(j->lut_mode, j->p->lut, flip, yd, yd, OW * C);
            else
                for (size_t i = 0; i < OW; i++)
                    sk_u8_lut(j->lut_mode, j->p->lut, flip, yd + i * C + c0, yd + i * C + c0, nc);
        }
        if (j->y_nchw) /* the region's edge: the row's channels back to planes */
            sk_qnhwc_tr_bytes(ybuf + c0, C, j->y + img * C * P + c0 * P + oh * OW, P, OW, nc);
    }
}

int sk_qdw_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
               sk_kctx *ctx)
{
    const sk_qconv_priv *pv = n->priv;
    /* the reference cannot read NHWC values: a node of the region that
     * cannot run here fails instead of computing on the wrong layout */
    if (in[0]->shape.rank != 4 || in[0]->dtype != (pv->x_s8 ? SK_I8 : SK_U8) ||
        out->dtype != (pv->final_s8 ? SK_I8 : SK_U8) || in[3]->shape.dim[0] != pv->M ||
        in[3]->shape.dim[1] != 1 || in[0]->shape.dim[1] != pv->M ||
        (pv->has_res && (nin < 10 || !in[9] || in[9]->dtype != out->dtype)))
        return SK_EINVAL;
    sk_win w;
    int rc = sk_win_resolve(n, ctx, &in[0]->shape, in[3]->shape.dim + 2, 0, &w);
    if (rc)
        return rc;
    size_t N = (size_t)in[0]->shape.dim[0], C = (size_t)pv->M;
    size_t H = (size_t)w.in[1], W = (size_t)w.in[2], OH = (size_t)w.out[1],
           OW = (size_t)w.out[2], P = OH * OW;
    if (!N || !P)
        return 0;
    int nth = sk_pool_size(ctx->pool);
    size_t nb = edge_images(pv, N, bound_hw(pv, OH, OW) * C, P * C);
    size_t need = edge_bytes(pv, nb * H * W * C, nb * P * C) + per_thread(pv, OW) * (size_t)nth + 64;
    if (!ctx->scratch || ctx->scratch_bytes < need)
        return SK_EINVAL;
    uint8_t *s0 = (uint8_t *)(((uintptr_t)ctx->scratch + 63) & ~(uintptr_t)63);
    uint8_t *s = s0 + edge_bytes(pv, nb * H * W * C, nb * P * C);
    sk_qgemm_params p = pv->prm;
    p.bias = pv->bias;
    p.mult = pv->mult;
    for (size_t b0 = 0; b0 < N; b0 += nb) {
        size_t ni = N - b0 < nb ? N - b0 : nb;
        const uint8_t *X = (const uint8_t *)in[0]->data + b0 * H * W * C;
        const uint8_t *R = pv->has_res ? (const uint8_t *)in[9]->data + b0 * P * C : NULL;
        uint8_t *e = s0;
        if (!(pv->io_nhwc & SK_QNHWC_X)) {
            sk_qnhwc_to_nhwc(ctx->pool, X, e, ni, C, H * W);
            X = e;
            e += al64(ni * H * W * C);
        }
        if (R && !(pv->io_nhwc & SK_QNHWC_R)) {
            sk_qnhwc_to_nhwc(ctx->pool, R, e, ni, C, P);
            R = e;
        }
        /* few rows (late layers at batch 1): split the channels too */
        size_t rows = ni * OH, nblk = (C + SK_QDW_CB - 1) / SK_QDW_CB;
        size_t nparts = sk_qsplit_parts(nth, rows, nblk);
        /* parts of whole 32-channel blocks where they can be (the VNNI row kernel) */
        size_t cpart = (nblk + nparts - 1) / nparts * SK_QDW_CB;
        cpart = cpart % 32 && cpart < C ? cpart + SK_QDW_CB : cpart;
        dw_job j = {pv, &p, X, R, (uint8_t *)out->data + b0 * P * C, H, W, C, OH, OW,
                    (size_t)(pv->kh * pv->kw), cpart, nparts, w.stride[1], w.stride[2],
                    w.dil[1], w.dil[2], w.pb[1], w.pb[2], pv->x_s8 ? 0x80 : 0,
                    !(pv->io_nhwc & SK_QNHWC_Y), p.lut ? pv->q.lut_mode : 0, s,
                    per_thread(pv, OW)};
        sk_parallel_for_tid(ctx->pool, rows * nparts, 1, dw_range, &j);
    }
    return 0;
}
