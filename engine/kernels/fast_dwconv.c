/* fast_dwconv.c — depthwise 2-D convolution (group = C = M), direct.
 *
 * Why not the GEMM: a depthwise conv is C independent 1-row GEMMs with
 * K = kh * kw (9) — nothing to block or reuse, and the GEMM path pays a
 * full 6-row microkernel tile and an im2col gather per 9 MACs (MobileNetV2
 * ran at 12 GFLOP/s that way). Here an output row's interior columns (where
 * every tap reads inside the input) are one vector loop whose accumulator
 * takes bias, all kh * kw taps and the epilogue (residual, Relu/Clip) in
 * registers — one load and one FMA per tap, one store per output vector;
 * the few border columns are summed one by one. A stride-2 conv first
 * splits each input row into even and odd columns, so its taps read
 * contiguous memory too. Planes (image, channel) are split over the thread
 * pool. */
#include <stdint.h>
#include <string.h>

#include "fast.h"
#include "ref/nn_util.h"
#include "threadpool.h"

#define DW_PAD_MAX 16384  /* floats of a zero-padded plane copy (64 KiB) */
#define DW_SPLIT_MAX 2048 /* widest input row split into even/odd */
#define DW_KH_MAX 7        /* kernel rows with split buffers; taller: scalar */
#define DW_TAPS_MAX 64     /* kernel taps the vector row takes */

typedef void (*dw_rows_fn)(float *y, size_t ldy, const float *const *src, size_t lds,
                           const float *w, int ntaps, size_t n, size_t rows, float b,
                           const float *res, float lo, float hi);

static dw_rows_fn dw_rows_for(sk_isa isa)
{
#if defined(__x86_64__)
    if (isa == SK_ISA_AVX2)
        return sk_f32_dw_rows__avx2;
    if (isa == SK_ISA_AVX512)
        return sk_f32_dw_rows__avx512f;
#else
    (void)isa;
#endif
    return NULL;
}

typedef struct dw_run {
    dw_rows_fn rows;
    const float *x, *w, *bias, *res;
    float *y, lo, hi, *scratch;
    int64_t C, H, W, oH, oW, kh, kw, sh, sw, dh, dw, pt, pl;
} dw_run;

/* ow range [lo, hi) whose input column ow*s + off lies in [0, W). */
static void tap_range(int64_t off, int64_t s, int64_t W, int64_t oW, int64_t *lo, int64_t *hi)
{
    *lo = off >= 0 ? 0 : (-off + s - 1) / s;
    *hi = W - off <= 0 ? 0 : (W - off - 1) / s + 1;
    if (*hi > oW)
        *hi = oW;
    if (*lo > *hi)
        *lo = *hi;
}

/* One output column by the definition: the border columns, and every
 * column of the shapes the vector row does not take. */
static float dw_point(const dw_run *r, const float *xp, const float *wc, float b, int64_t oh,
                      int64_t ow)
{
    float acc = b;
    for (int64_t i = 0; i < r->kh; i++) {
        int64_t ih = oh * r->sh - r->pt + i * r->dh;
        if (ih < 0 || ih >= r->H)
            continue;
        for (int64_t j = 0; j < r->kw; j++) {
            int64_t iw = ow * r->sw - r->pl + j * r->dw;
            if (iw >= 0 && iw < r->W)
                acc += wc[i * r->kw + j] * xp[ih * r->W + iw];
        }
    }
    return acc;
}

/* Planes that fit DW_PAD_MAX: copy the plane once into a zero-padded
 * buffer holding every row and column a tap reads (columns of a stride-2
 * conv stored evens first, then odds), so every output row is one vector
 * call over all its columns and all kh * kw taps, with no border cases.
 * Returns 0 when the plane does not fit. */
static int dw_plane_padded(const dw_run *r, const float *xp, const float *wc, float b, float *yp,
                           const float *rp, float *scratch)
{
    const int64_t Hp = (r->oH - 1) * r->sh + (r->kh - 1) * r->dh + 1;
    const int64_t Wp = (r->oW - 1) * r->sw + (r->kw - 1) * r->dw + 1;
    if ((r->sw != 1 && r->sw != 2) || r->kh * r->kw > DW_TAPS_MAX || Hp * Wp > DW_PAD_MAX)
        return 0;
    float *pad = scratch, *tmp = scratch + DW_PAD_MAX; /* tmp: one padded row */
    const int64_t E = r->sw == 2 ? (Wp + 1) / 2 : Wp; /* odds start at E */
    for (int64_t pr = 0; pr < Hp; pr++) {
        float *dst = pad + pr * Wp;
        int64_t ih = pr - r->pt;
        if (ih < 0 || ih >= r->H) {
            memset(dst, 0, sizeof(float) * (size_t)Wp);
            continue;
        }
        /* the padded row: zeros, the input's columns [c0, c1) at pl + c0 */
        float *row = r->sw == 2 ? tmp : dst;
        int64_t c0 = r->pl > 0 ? 0 : -r->pl, c1 = r->W < Wp - r->pl ? r->W : Wp - r->pl;
        if (c1 < c0)
            c1 = c0;
        int64_t a = r->pl + c0, z = r->pl + c1; /* padded columns [a, z) hold data */
        if (a > Wp)
            a = z = Wp;
        memset(row, 0, sizeof(float) * (size_t)a);
        memcpy(row + a, xp + ih * r->W + c0, sizeof(float) * (size_t)(c1 - c0));
        memset(row + z, 0, sizeof(float) * (size_t)(Wp - z));
        if (r->sw == 2) {
            sk_gather_stride2(dst, row, E);
            sk_gather_stride2(dst + E, row + 1, Wp / 2);
        }
    }
    const float *src[DW_TAPS_MAX];
    float w[DW_TAPS_MAX];
    const int nt = (int)(r->kh * r->kw);
    for (int64_t i = 0; i < r->kh; i++)
        for (int64_t j = 0; j < r->kw; j++)
            w[i * r->kw + j] = wc[i * r->kw + j];
    for (int64_t i = 0; i < r->kh; i++) {
        const float *prow = pad + i * r->dh * Wp;
        for (int64_t j = 0; j < r->kw; j++) {
            int64_t off = j * r->dw; /* padded column of ow: ow * sw + off */
            src[i * r->kw + j] =
                r->sw == 2 ? ((off & 1) ? prow + E + off / 2 : prow + off / 2) : prow + off;
        }
    }
    r->rows(yp, (size_t)r->oW, src, (size_t)(r->sh * Wp), w, nt, (size_t)r->oW, (size_t)r->oH, b,
            rp, r->lo, r->hi);
    return 1;
}

/* Per-thread scratch: the padded plane, one padded row, the split rows. */
#define DW_SCRATCH ((size_t)DW_PAD_MAX * 2 + (size_t)DW_KH_MAX * DW_SPLIT_MAX)

size_t sk_dw_scratch_floats(int nthreads)
{
    return DW_SCRATCH * (size_t)(nthreads > 0 ? nthreads : 1);
}

static void dw_plane(const dw_run *r, int64_t plane, float *scratch)
{
    const int64_t c = plane % r->C;
    const float *xp = r->x + plane * r->H * r->W, *wc = r->w + c * r->kh * r->kw;
    const float b = r->bias ? r->bias[c] : 0.0f;
    float *yp = r->y + plane * r->oH * r->oW;
    const float *rp = r->res ? r->res + plane * r->oH * r->oW : NULL;
    if (dw_plane_padded(r, xp, wc, b, yp, rp, scratch))
        return;
    /* larger planes, row by row: interior columns [lo, hi): every tap column inside [0, W) */
    int64_t lo, hi;
    {
        int64_t l0, h0, l1, h1;
        tap_range(-r->pl, r->sw, r->W, r->oW, &l0, &h0);
        tap_range((r->kw - 1) * r->dw - r->pl, r->sw, r->W, r->oW, &l1, &h1);
        lo = l0 > l1 ? l0 : l1;
        hi = h0 < h1 ? h0 : h1;
        if (lo > hi)
            lo = hi;
    }
    const int split = r->sw == 2 && r->W <= DW_SPLIT_MAX && r->kh <= DW_KH_MAX;
    const int vec = (r->sw == 1 || split) && r->kh * r->kw <= DW_TAPS_MAX && hi > lo;
    const int64_t half = (r->W + 1) / 2; /* split rows: evens [0, half), odds after */
    float *split_buf = scratch + 2 * DW_PAD_MAX;
    const float *src[DW_TAPS_MAX];
    float w[DW_TAPS_MAX];
    for (int64_t oh = 0; oh < r->oH; oh++) {
        float *y = yp + oh * r->oW;
        const float *res = rp ? rp + oh * r->oW : NULL;
        if (vec) {
            int nt = 0;
            for (int64_t i = 0; i < r->kh; i++) {
                int64_t ih = oh * r->sh - r->pt + i * r->dh;
                if (ih < 0 || ih >= r->H)
                    continue;
                const float *xr = xp + ih * r->W;
                float *sb = split_buf + (split ? i * DW_SPLIT_MAX : 0);
                if (split) {
                    sk_gather_stride2(sb, xr, half);
                    sk_gather_stride2(sb + half, xr + 1, r->W / 2);
                }
                for (int64_t j = 0; j < r->kw; j++) {
                    int64_t off = j * r->dw - r->pl; /* column of ow: ow * sw + off */
                    if (!split) {
                        src[nt] = xr + lo + off;
                    } else {
                        /* 2*ow + off = 2*(ow + f) + (off & 1), f = floor(off / 2) */
                        int64_t f = off >= 0 ? off / 2 : -((-off + 1) / 2);
                        src[nt] = ((off & 1) ? sb + half : sb) + lo + f;
                    }
                    w[nt++] = wc[i * r->kw + j];
                }
            }
            r->rows(y + lo, 0, src, 0, w, nt, (size_t)(hi - lo), 1, b, res ? res + lo : NULL, r->lo,
                    r->hi);
        }
        for (int64_t ow = 0; ow < r->oW; ow++) {
            if (vec && ow == lo)
                ow = hi;
            if (ow >= r->oW)
                break;
            float v = dw_point(r, xp, wc, b, oh, ow);
            if (res)
                v += res[ow];
            if (v < r->lo)
                v = r->lo;
            if (v > r->hi)
                v = r->hi;
            y[ow] = v;
        }
    }
}

static void dw_task(void *arg, int tid, size_t p0, size_t p1)
{
    const dw_run *r = arg;
    for (size_t p = p0; p < p1; p++)
        dw_plane(r, (int64_t)p, r->scratch + (size_t)tid * DW_SCRATCH);
}

int sk_fast_run_conv_dw(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    sk_win w;
    int rc = sk_win_resolve(n, ctx, xs, ws->dim + 2, 0, &w);
    if (rc)
        return rc;
    dw_run r;
    memset(&r, 0, sizeof r);
    /* the prepack pass picks this only for 2-D, one filter per channel */
    r.rows = dw_rows_for(pv->cfg->isa);
    if (xs->rank != 4 || ws->dim[1] != 1 || ws->dim[0] != xs->dim[1] || !r.rows)
        return sk_run_conv_fused(n, in, nin, out, 1, ctx);
    const sk_tensor *R = nin > 3 ? in[3] : NULL;
    if (R && !sk_shape_equal(&R->shape, &out[0].shape))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual shape differs from the output");
    r.x = in[0]->data;
    r.w = in[1]->data;
    r.bias = nin > 2 && in[2] ? in[2]->data : NULL;
    r.res = R ? R->data : NULL;
    r.y = out[0].data;
    sk_fused_act(n, &r.lo, &r.hi);
    r.C = xs->dim[1];
    r.H = w.in[1];
    r.W = w.in[2];
    r.oH = w.out[1];
    r.oW = w.out[2];
    r.kh = w.k[1];
    r.kw = w.k[2];
    r.sh = w.stride[1];
    r.sw = w.stride[2];
    r.dh = w.dil[1];
    r.dw = w.dil[2];
    r.pt = w.pb[1];
    r.pl = w.pb[2];
    size_t planes = (size_t)(xs->dim[0] * r.C);
    if (planes == 0 || r.oH * r.oW == 0)
        return 0;
    size_t need = sk_dw_scratch_floats(sk_pool_size(ctx->pool)) * sizeof(float);
    float *heap = NULL;
    r.scratch = ctx->scratch && ctx->scratch_bytes >= need ? ctx->scratch : NULL;
    if (!r.scratch && !(r.scratch = heap = sk_alloc(need)))
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory for %zu bytes of buffers", need);
    sk_parallel_for_tid(ctx->pool, planes, 1, dw_task, &r);
    sk_free(heap);
    return 0;
}
