/* fast_conv.c — the fast _ConvFused and _GemmFused kernels.
 *
 * Convolution (any group count, 1-3 spatial dims) is one packed GEMM per
 * (image, group): Y[Mg x P] = W[Mg x Cg*kvol] * col[Cg*kvol x P], with the
 * weights packed once at load (priv) and the column matrix never built:
 * the GEMM driver asks for one kc x nc block at a time and conv_pack_b
 * gathers it straight from the image into the panel layout (implicit
 * im2col). A 1x1 stride-1 unpadded conv reads rows of X directly. Bias,
 * the residual Add and Relu/Clip run in the microkernel's epilogue. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast.h"
#include "fast_ops.h"
#include "ref/nn_util.h"
#include "threadpool.h"

void sk_conv_priv_free(void *v)
{
    sk_conv_priv *p = v;
    if (!p)
        return;
    sk_gemm_packed_a_free(&p->w);
    sk_gemm_packed_b_free(&p->wt);
    free(p);
}

void sk_gemm_priv_free(void *v)
{
    sk_gemm_priv *p = v;
    if (!p)
        return;
    sk_gemm_packed_b_free(&p->w);
    sk_free(p->bias);
    free(p);
}

static size_t shared_b_floats(const sk_conv_priv *pv, int64_t P, int64_t items, int T);
static size_t pixrows_floats(const sk_conv_priv *pv, int64_t P, int64_t items, int T);

/* Output pixels per image of a conv output (N, M, spatial...); 0 if unknown. */
static int64_t out_pixels(const sk_tensor *out)
{
    if (!out || out->shape.rank < 3)
        return 0;
    int64_t P = 1;
    for (int a = 2; a < out->shape.rank; a++)
        P *= out->shape.dim[a];
    return P;
}

size_t sk_fused_scratch_floats(const sk_node *n, const sk_tensor *out, int nthreads)
{
    if (!n->priv)
        return 0;
    const sk_gemm_cfg *cfg = NULL;
    if (n->op == SK_OP_CONV_FUSED) {
        const sk_conv_priv *pv = n->priv;
        if (pv->kind == SK_CONV_WINOGRAD || pv->kind == SK_CONV_WINOGRAD4)
            return sk_wino_scratch_floats(pv->cfg, &pv->w, nthreads);
        if (pv->kind == SK_CONV_DEPTHWISE)
            return sk_dw_scratch_floats(nthreads);
        int64_t P = out_pixels(out);
        size_t extra = 0;
        if (pv->kind == SK_CONV_PIXROWS)
            extra = P > 0 ? pixrows_floats(pv, P, out->shape.dim[0], nthreads) : 0;
        else if (P > 0)
            extra = shared_b_floats(pv, P, out->shape.dim[0], nthreads);
        return sk_gemm_scratch_floats(pv->cfg, nthreads) + extra;
    }
    else if (n->op == SK_OP_GEMM_FUSED)
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
static int run_job(const sk_node *n, const sk_gemm_job *j, sk_kctx *ctx)
{
    float *heap,
        *scratch = sk_fast_scratch(n, ctx, sk_gemm_scratch_floats(j->cfg, sk_pool_size(ctx->pool)),
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

/* ---- implicit im2col ----------------------------------------------------- */

typedef struct conv_src {
    const float *x;
    int64_t C, Cg, group, in_px;
    sk_win w;
    int64_t kvol, P;
    int direct; /* 1x1, stride 1, no padding: col == X */
} conv_src;

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* tmp[0..nb) = column row (c, kd, kh, kw) over output pixels [n0, n0+nb),
 * one output row segment at a time: padding is zero-filled, the rest
 * copied (stride 1), de-interleaved (stride 2) or gathered. */
static void gather_row(const conv_src *s, const float *xc, int64_t kd, int64_t kh, int64_t kw,
                       const int64_t *o0, int nb, float *tmp)
{
    const sk_win *w = &s->w;
    const int64_t oW = w->out[2];
    const int64_t D = w->in[0], H = w->in[1], W = w->in[2];
    const int64_t sw = w->stride[2];
    int64_t od = o0[0], oh = o0[1], ow = o0[2];
    int64_t last_iw0 = INT64_MIN, lo = 0, hi = 0;
    int t = 0;
    while (t < nb) {
        int run = (int)(oW - ow < nb - t ? oW - ow : nb - t);
        int64_t id = od * w->stride[0] - w->pb[0] + kd * w->dil[0];
        int64_t ih = oh * w->stride[1] - w->pb[1] + kh * w->dil[1];
        float *dst = tmp + t;
        if (id < 0 || id >= D || ih < 0 || ih >= H) {
            memset(dst, 0, (size_t)run * sizeof(float));
        } else {
            const float *row = xc + (id * H + ih) * W;
            int64_t iw0 = ow * sw - w->pb[2] + kw * w->dil[2];
            if (iw0 != last_iw0) { /* most segments start at ow = 0: divide once */
                /* q in [lo, hi) reads inside the row: 0 <= iw0 + q*sw < W */
                lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
                hi = iw0 >= W ? 0 : (W - iw0 + sw - 1) / sw;
                last_iw0 = iw0;
            }
            int64_t l = lo < run ? lo : run, h = hi < run ? hi : run;
            if (h < l)
                h = l;
            for (int64_t q = 0; q < l; q++)
                dst[q] = 0.0f;
            if (sw == 1)
                memcpy(dst + l, row + iw0 + l, (size_t)(h - l) * sizeof(float));
            else if (sw == 2)
                sk_gather_stride2(dst + l, row + iw0 + 2 * l, h - l);
            else
                for (int64_t q = l; q < h; q++)
                    dst[q] = row[iw0 + q * sw];
            for (int64_t q = h; q < run; q++)
                dst[q] = 0.0f;
        }
        t += run;
        ow = 0;
        if (++oh == w->out[1]) {
            oh = 0;
            od++;
        }
    }
}

/* A 1x1 conv's column block is nb pixels of kc channel planes: kc short
 * runs a plane apart, too many streams for the hardware prefetcher, so in
 * a network (activations in L3 or DRAM) the copy waited on every line. The
 * packers prefetch the run PF_ROWS planes ahead when planes are large
 * (>= PF_MIN_PIXELS): 5-8% off ResNet-50's 1x1 convs at 56x56 and 28x28,
 * nothing at 14x14 (A/B interleaved runs). The same for the gathered
 * columns of strided convs (the input rows of the channel ahead) was 5%
 * slower and is not done. */
#define PF_ROWS 8
#define PF_MIN_PIXELS 512

static void prefetch_floats(const float *p, int64_t n)
{
#if defined(__SSE2__)
    for (int64_t q = 0; q < n; q += 16)
        _mm_prefetch((const char *)(p + q), _MM_HINT_T0);
#else
    (void)p;
    (void)n;
#endif
}

/* Rows [k0, k0+kc) of columns [n0, n0+nb) into nr-wide panels pstride
 * floats apart (kc * nr for the driver's blocks, K * nr for whole panels). */
static void conv_pack_cols(const conv_src *s, int batch, int k0, int kc, int n0, int nb, int nr,
                           float *dst, size_t pstride, float *tmp)
{
    int64_t img = batch / s->group, grp = batch % s->group;
    const float *xg = s->x + (img * s->C + grp * s->Cg) * s->in_px;
    const int full = nb / nr, tail = nb - full * nr;
    const int64_t kh_n = s->w.k[1], kw_n = s->w.k[2], oHW = s->w.out[1] * s->w.out[2];
    /* where the block starts, in output pixels and in (c, kd, kh, kw): the
     * loop below steps these instead of dividing per row */
    const int64_t o0[3] = {n0 / oHW, (n0 % oHW) / s->w.out[2], n0 % s->w.out[2]};
    int64_t c = k0 / s->kvol, r0 = k0 % s->kvol;
    int64_t kw = r0 % kw_n, kh = (r0 / kw_n) % kh_n, kd = r0 / (kw_n * kh_n);
    if (tail) /* the gather row past nb stays zero: the last panel's padding */
        memset(tmp + nb, 0, (size_t)(nr - tail) * sizeof(float));
    for (int kk = 0; kk < kc; kk++) {
        const float *src;
        if (s->direct) {
            src = xg + (int64_t)(k0 + kk) * s->P + n0;
            if (s->P >= PF_MIN_PIXELS && k0 + kk + PF_ROWS < s->Cg) /* see PF_ROWS */
                prefetch_floats(src + PF_ROWS * s->P, nb);
        } else {
            gather_row(s, xg + c * s->in_px, kd, kh, kw, o0, nb, tmp);
            src = tmp;
            if (++kw == kw_n) {
                kw = 0;
                if (++kh == kh_n) {
                    kh = 0;
                    if (++kd == s->w.k[0]) {
                        kd = 0;
                        c++;
                    }
                }
            }
        }
        float *d = dst + (size_t)kk * (size_t)nr;
        for (int p = 0; p < full; p++)
            sk_gemm_copy_row(d + (size_t)p * pstride, src + (size_t)p * (size_t)nr, nr);
        if (tail) {
            float *dt = d + (size_t)full * pstride;
            if (s->direct) {
                memcpy(dt, src + (size_t)full * (size_t)nr, (size_t)tail * sizeof(float));
                memset(dt + tail, 0, (size_t)(nr - tail) * sizeof(float));
            } else {
                sk_gemm_copy_row(dt, src + (size_t)full * (size_t)nr, nr);
            }
        }
    }
}

static void conv_pack_b(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                        float *dst, float *tmp)
{
    conv_pack_cols(ctx, batch, k0, kc, n0, nb, nr, dst, (size_t)kc * (size_t)nr, tmp);
}

/* ---- shared columns for few, wide GEMMs ----------------------------------
 * With few column blocks per thread (batch 1, 7x7 and 14x14 layers, or
 * many threads) the driver splits the output channels too, and every
 * channel chunk would gather the same columns again: a 3x3 stride-2 conv at
 * 7x7 then spent more time gathering than multiplying on 2 threads.
 * Instead the threads gather the column matrices of several images once,
 * in parallel (tasks of a few panels x a range of K rows, so that every
 * thread has some even at batch 1), into whole-K panels, and one GEMM job
 * reads them shared, split both ways by the driver's cost model. */
#define SHARED_B_MAX ((size_t)4 << 20) /* floats of columns (16 MiB) at most */
#define SHARED_B_CHUNK 4               /* panels per gather task */
#define SHARED_B_MIN_K 32              /* K rows per gather task at least */

static size_t round16f(size_t n) { return (n + 15) & ~(size_t)15; }

/* Floats of one image's packed column matrix: K rows x P columns in nr-wide
 * panels. */
static size_t shared_b_cols(int64_t K, int64_t P, int64_t nr)
{
    return (size_t)((P + nr - 1) / nr) * (size_t)nr * (size_t)K;
}

static size_t shared_b_tmp(int64_t nr) { return round16f((size_t)(SHARED_B_CHUNK + 2) * (size_t)nr); }

/* Images gathered together: all of them if their columns fit SHARED_B_MAX. */
static int64_t shared_b_images(size_t cols, int64_t items)
{
    int64_t g = (int64_t)(SHARED_B_MAX / cols);
    return g < 1 ? 1 : g < items ? g : items;
}

/* Scratch floats past the GEMM's for the shared columns of `items` images
 * of P output pixels, or 0 when the run does not take this path. */
static size_t shared_b_floats(const sk_conv_priv *pv, int64_t P, int64_t items, int T)
{
    const sk_gemm_cfg *cfg = pv->cfg;
    int64_t nr = cfg->nr;
    if (T < 2 || pv->w.groups != 1 || P <= 0 || items * ((P + 2 * nr - 1) / (2 * nr)) >= 4L * T)
        return 0;
    size_t cols = shared_b_cols(pv->w.K, P, nr);
    if (cols > SHARED_B_MAX)
        return 0;
    return round16f(cols * (size_t)shared_b_images(cols, items)) + (size_t)T * shared_b_tmp(nr);
}

typedef struct shared_b {
    const conv_src *s;
    int64_t img0;
    int K, P, nr, pgroups, kchunks, kch;
    size_t cols; /* floats between images */
    float *data, *tmp;
    size_t tmp_stride;
} shared_b;

/* Task u: image u / (pgroups * kchunks), a group of SHARED_B_CHUNK panels,
 * a range of kch rows. */
static void shared_b_task(void *arg, int tid, size_t u0, size_t u1)
{
    const shared_b *b = arg;
    const int span = SHARED_B_CHUNK * b->nr;
    const size_t pstride = (size_t)b->K * (size_t)b->nr;
    for (size_t u = u0; u < u1; u++) {
        int64_t img = (int64_t)(u / ((size_t)b->pgroups * (size_t)b->kchunks));
        int r = (int)(u % ((size_t)b->pgroups * (size_t)b->kchunks));
        int n0 = (r / b->kchunks) * span, k0 = (r % b->kchunks) * b->kch;
        int nb = b->P - n0 < span ? b->P - n0 : span;
        int kc = b->K - k0 < b->kch ? b->K - k0 : b->kch;
        float *dst = b->data + (size_t)img * b->cols + (size_t)(n0 / b->nr) * pstride +
                     (size_t)k0 * (size_t)b->nr;
        conv_pack_cols(b->s, (int)(b->img0 + img), k0, kc, n0, nb, b->nr, dst, pstride,
                       b->tmp + (size_t)tid * b->tmp_stride);
    }
}

/* The job of sk_fast_run_conv_fused over shared columns, a group of images
 * at a time. */
static int run_shared_b(const sk_node *n, sk_gemm_job *j, const conv_src *s, int64_t N, int64_t M,
                        sk_kctx *ctx, float *region)
{
    const int nr = j->cfg->nr, T = sk_pool_size(ctx->pool);
    shared_b b;
    memset(&b, 0, sizeof b);
    b.s = s;
    b.K = j->K;
    b.P = (int)s->P;
    b.nr = nr;
    b.cols = shared_b_cols(j->K, s->P, nr);
    const int64_t G = shared_b_images(b.cols, N);
    b.data = region;
    b.tmp = region + round16f(b.cols * (size_t)G);
    b.tmp_stride = shared_b_tmp(nr);
    b.pgroups = (int)((s->P + SHARED_B_CHUNK * nr - 1) / (SHARED_B_CHUNK * nr));
    /* enough K ranges that every thread gathers: 4 tasks per thread */
    int64_t want = (4L * T + G * b.pgroups - 1) / (G * b.pgroups);
    int64_t kch = (j->K + want - 1) / want;
    b.kch = (int)(kch < SHARED_B_MIN_K ? SHARED_B_MIN_K : kch);
    b.kchunks = (j->K + b.kch - 1) / b.kch;
    sk_gemm_packed_b pb = {j->cfg, j->K, (int)s->P, region};
    const size_t img_out = (size_t)(M * s->P);
    for (int64_t i0 = 0; i0 < N; i0 += G) {
        int64_t g = N - i0 < G ? N - i0 : G;
        b.img0 = i0;
        sk_parallel_for_tid(ctx->pool, (size_t)(g * b.pgroups * b.kchunks), 1, shared_b_task, &b);
        sk_gemm_job one = *j;
        one.nbatch = (int)g;
        one.pack_b = NULL;
        one.b_ctx = NULL;
        one.b_packed = &pb;
        one.b_stride = b.cols;
        one.c = j->c + (size_t)i0 * img_out;
        if (j->epi.res)
            one.epi.res = j->epi.res + (size_t)i0 * img_out;
        int rc = run_job(n, &one, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- pixel rows (SK_CONV_PIXROWS) ----------------------------------------
 * For few output pixels the GEMM runs transposed: Y' [P x M] = col' W'.
 * For a group of images at once, the threads gather the column matrices
 * into pixel-row panels (row g*P + p holds pixel p of image g: a[q][k * mr
 * + r] = col_g(k, p) for g*P + p = q * mr + r, the A operand over the full
 * K), the driver multiplies them by W' packed at load (B panels of nr
 * output channels) into Y' [G*P x M], and one pass per image transposes Y'
 * into Y with bias, residual and clamp (fops transpose_epi: 8x8 blocks
 * through registers). A group shares one read of W' (9.4 MiB for a 3x3
 * 512-channel layer) instead of one per image.
 *
 * The gather reads through an offset table built once per group: for each
 * tap (kd, kh, kw) and panel row, where that row's input value sits in
 * channel 0 of the group (-1: padding). A panel's mr values of column row
 * k are then mr table reads and loads, written to consecutive floats of the
 * panel; gathering output rows of 7 pixels (gather_row) and scattering them
 * lane by lane into 9 panels took 17% of a 3x3 stride-2 layer at 7x7. */
#define PIXROWS_KCHUNK 32 /* column rows per gather task */
#define PIXROWS_MCHUNK 64 /* output channels per transpose task */
#define PIXROWS_MAX ((size_t)4 << 20) /* floats of a group's panels and Y' */

static size_t pixrows_a_floats(int64_t rows, int64_t K, int mr)
{
    return round16f((size_t)((rows + mr - 1) / mr) * (size_t)mr * (size_t)K);
}

/* Floats of the offset table: kvol x the padded rows, int64 each. */
static size_t pixrows_tab_floats(int64_t rows, int64_t kvol, int mr)
{
    return round16f((size_t)((rows + mr - 1) / mr) * (size_t)mr * (size_t)kvol * 2);
}

/* Images per group: as many as fit PIXROWS_MAX, at least one. */
static int64_t pixrows_images(const sk_conv_priv *pv, int64_t P, int64_t items)
{
    int64_t g = items > 0 ? items : 1;
    while (g > 1 && pixrows_a_floats(g * P, pv->wt.K, pv->cfg->mr) +
                            (size_t)(g * P) * (size_t)pv->wt.N > PIXROWS_MAX)
        g--;
    return g;
}

/* Scratch past the GEMM's: a group's panels, its Y', the offset table. */
static size_t pixrows_floats(const sk_conv_priv *pv, int64_t P, int64_t items, int T)
{
    (void)T;
    int64_t rows = pixrows_images(pv, P, items) * P;
    return pixrows_a_floats(rows, pv->wt.K, pv->cfg->mr) +
           round16f((size_t)rows * (size_t)pv->wt.N) +
           pixrows_tab_floats(rows, pv->kvol, pv->cfg->mr);
}

typedef struct pixrows {
    const conv_src *s;
    int64_t img0, G; /* the group: images img0 .. img0 + G - 1 */
    int K, M, P, mr;
    int64_t rows_pad; /* G * P rounded up to mr */
    float *a, *yt, *y;
    int64_t *tab; /* tab[t * rows_pad + row]: offset in channel 0, or -1 */
    const float *bias, *res;
    float lo, hi;
    const sk_fops_uk *uk;
} pixrows;

/* The offset table of the group for every tap (see above). */
static void pixrows_table(const pixrows *pr)
{
    const conv_src *s = pr->s;
    const sk_win *w = &s->w;
    const int64_t rows = pr->G * pr->P, oHW = w->out[1] * w->out[2];
    for (int64_t q = 0; q < pr->rows_pad; q++) {
        int64_t g = q / pr->P, p = q % pr->P;
        int64_t o[3] = {p / oHW, (p / w->out[2]) % w->out[1], p % w->out[2]};
        int64_t t = 0;
        for (int64_t kd = 0; kd < w->k[0]; kd++)
            for (int64_t kh = 0; kh < w->k[1]; kh++)
                for (int64_t kw = 0; kw < w->k[2]; kw++, t++) {
                    int64_t i[3], kk[3] = {kd, kh, kw}, off = -1;
                    int in = q < rows;
                    for (int a = 0; a < 3; a++) {
                        i[a] = o[a] * w->stride[a] - w->pb[a] + kk[a] * w->dil[a];
                        in = in && i[a] >= 0 && i[a] < w->in[a];
                    }
                    if (in)
                        off = g * s->C * s->in_px + (i[0] * w->in[1] + i[1]) * w->in[2] + i[2];
                    pr->tab[t * pr->rows_pad + q] = off;
                }
    }
}

/* d[r] = xc[o[r]], or 0 where o[r] < 0 (padding). Branch-free: the load
 * reads xc[0] for padding and the select drops it, so the border pixels'
 * pattern costs no mispredictions. */
static inline void pixrows_gather(float *restrict d, const float *xc, const int64_t *o, int mr)
{
#if defined(__GNUC__)
#pragma GCC unroll 8
#endif
    for (int r = 0; r < mr; r++) {
        int64_t i = o[r];
        uint64_t keep = ~(uint64_t)(i >> 63); /* 0 for padding */
        uint32_t v;
        memcpy(&v, xc + (i & (int64_t)keep), sizeof v);
        v &= (uint32_t)keep;
        memcpy(d + r, &v, sizeof v);
    }
}

/* Column rows [c0, c1) * PIXROWS_KCHUNK of every panel: for one panel the
 * writes run along consecutive floats (a[q][k * mr + r]); the reads are
 * the panel's pixels in one channel plane, which stays in cache across the
 * kvol taps of that channel. */
static void pixrows_pack_task(void *arg, int tid, size_t c0, size_t c1)
{
    (void)tid;
    const pixrows *pr = arg;
    const conv_src *s = pr->s;
    const int mr = pr->mr;
    const size_t pstride = (size_t)pr->K * (size_t)mr;
    const float *x = s->x + pr->img0 * s->C * s->in_px;
    const int64_t k0 = (int64_t)c0 * PIXROWS_KCHUNK;
    const int64_t k1 = (int64_t)c1 * PIXROWS_KCHUNK < pr->K ? (int64_t)c1 * PIXROWS_KCHUNK : pr->K;
    for (int64_t q = 0; q * mr < pr->rows_pad; q++) {
        float *d = pr->a + (size_t)q * pstride + (size_t)k0 * (size_t)mr;
        int64_t c = k0 / s->kvol, t = k0 % s->kvol;
        for (int64_t k = k0; k < k1; k++, d += mr) {
            const float *xc = x + c * s->in_px;
            const int64_t *o = pr->tab + t * pr->rows_pad + q * mr;
            if (mr == 6) /* the AVX2 tile: a constant count unrolls */
                pixrows_gather(d, xc, o, 6);
            else
                pixrows_gather(d, xc, o, mr);
            if (++t == s->kvol) {
                t = 0;
                c++;
            }
        }
    }
}

/* Task u: image u / mchunks of the group, PIXROWS_MCHUNK output channels. */
static void pixrows_out_task(void *arg, int tid, size_t u0, size_t u1)
{
    (void)tid;
    const pixrows *pr = arg;
    const size_t P = (size_t)pr->P, M = (size_t)pr->M;
    const size_t mchunks = (M + PIXROWS_MCHUNK - 1) / PIXROWS_MCHUNK;
    for (size_t u = u0; u < u1; u++) {
        size_t g = u / mchunks, m0 = (u % mchunks) * PIXROWS_MCHUNK;
        size_t m1 = m0 + PIXROWS_MCHUNK < M ? m0 + PIXROWS_MCHUNK : M;
        pr->uk->transpose_epi(P, m1 - m0, pr->yt + g * P * M + m0, M, pr->y + g * M * P + m0 * P,
                              P, pr->bias ? pr->bias + m0 : NULL,
                              pr->res ? pr->res + g * M * P + m0 * P : NULL, pr->lo, pr->hi);
    }
}

static int run_pixrows(const sk_node *n, const sk_conv_priv *pv, const conv_src *s, int64_t N,
                       const sk_tensor *B, const sk_tensor *R, float *y, sk_kctx *ctx)
{
    const sk_gemm_cfg *cfg = pv->cfg;
    const int T = sk_pool_size(ctx->pool);
    const sk_fops_uk *uk = &pv->kc->ops;
    const size_t gemm = sk_gemm_scratch_floats(cfg, T);
    if (!uk)
        return sk_kfail(ctx, n, SK_EINVAL, "no transpose kernel at level %s",
                        sk_isa_name(cfg->isa));
    float *own,
        *scratch = sk_fast_scratch(n, ctx, gemm + pixrows_floats(pv, s->P, N, T), &own);
    if (!scratch)
        return SK_ENOMEM;
    const int64_t G = pixrows_images(pv, s->P, N);
    pixrows pr;
    memset(&pr, 0, sizeof pr);
    pr.s = s;
    pr.K = pv->wt.K;
    pr.M = pv->wt.N;
    pr.P = (int)s->P;
    pr.mr = cfg->mr;
    pr.a = scratch + gemm;
    pr.yt = pr.a + pixrows_a_floats(G * s->P, pr.K, pr.mr);
    pr.tab = (int64_t *)(pr.yt + round16f((size_t)(G * s->P) * (size_t)pr.M));
    pr.bias = B ? B->data : NULL;
    pr.uk = uk;
    sk_fused_act(n, &pr.lo, &pr.hi);
    const size_t img_size = (size_t)pr.M * (size_t)pr.P;
    const size_t mchunks = (size_t)((pr.M + PIXROWS_MCHUNK - 1) / PIXROWS_MCHUNK);
    for (int64_t i0 = 0; i0 < N; i0 += G) {
        pr.img0 = i0;
        pr.G = N - i0 < G ? N - i0 : G;
        pr.y = y + (size_t)i0 * img_size;
        pr.res = R ? (const float *)R->data + (size_t)i0 * img_size : NULL;
        pr.rows_pad = (pr.G * pr.P + pr.mr - 1) / pr.mr * pr.mr;
        pixrows_table(&pr);
        sk_gemm_packed_a pa = {cfg, (int)(pr.G * pr.P), pr.K, 1, 0, pr.a};
        sk_gemm_job j;
        sk_gemm_job_init(&j, cfg, (int)(pr.G * pr.P), pr.M, pr.K, 1);
        j.a_packed = &pa;
        j.b_packed = &pv->wt;
        j.c = pr.yt;
        j.ldc = (size_t)pr.M;
        sk_parallel_for_tid(ctx->pool, (size_t)((pr.K + PIXROWS_KCHUNK - 1) / PIXROWS_KCHUNK), 1,
                            pixrows_pack_task, &pr);
        sk_gemm_run(ctx->pool, &j, scratch); /* cannot fail: scratch given */
        sk_parallel_for_tid(ctx->pool, (size_t)pr.G * mchunks, 1, pixrows_out_task, &pr);
    }
    sk_free(own);
    return 0;
}

int sk_fast_run_conv_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    if (!pv || nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_run_conv_fused(n, in, nin, out, nout, ctx);
    if (pv->kind == SK_CONV_WINOGRAD || pv->kind == SK_CONV_WINOGRAD4)
        return sk_fast_run_conv_wino(n, in, nin, out, ctx);
    if (pv->kind == SK_CONV_DEPTHWISE)
        return sk_fast_run_conv_dw(n, in, nin, out, ctx);
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    conv_src s;
    memset(&s, 0, sizeof s);
    int rc = sk_win_resolve(n, ctx, xs, ws->dim + 2, 0, &s.w);
    if (rc)
        return rc;
    int64_t N = xs->dim[0], M = ws->dim[0];
    s.x = in[0]->data;
    s.C = xs->dim[1];
    s.Cg = ws->dim[1];
    s.group = sk_attr_int(n, "group", 1);
    if (s.group < 1 || s.Cg * s.group != s.C)
        return sk_kfail(ctx, n, SK_ESHAPE, "X has %lld channels, W %lld per group x %lld groups",
                        (long long)s.C, (long long)s.Cg, (long long)s.group);
    s.in_px = sk_win_in_size(&s.w);
    s.kvol = sk_win_k_size(&s.w);
    s.P = sk_win_out_size(&s.w);
    s.direct = s.kvol == 1;
    for (int a = 0; a < SK_NN_SP; a++)
        if (s.w.stride[a] != 1 || s.w.pb[a] != 0 || s.w.pe[a] != 0)
            s.direct = 0;
    int64_t Mg = M / s.group, Kc = s.Cg * s.kvol;
    if (pv->kind == SK_CONV_PIXROWS ? Mg != pv->wt.N || Kc != pv->wt.K || s.group != 1
                                    : Mg != pv->w.M || Kc != pv->w.K || s.group != pv->w.groups)
        return sk_kfail(ctx, n, SK_EINVAL, "packed weights do not match W");
    if (N * M * s.P == 0)
        return 0;
    const sk_tensor *B = nin > 2 ? in[2] : NULL, *R = nin > 3 ? in[3] : NULL;
    if (R && !sk_shape_equal(&R->shape, &out[0].shape))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual shape differs from the output");
    if (pv->kind == SK_CONV_PIXROWS)
        return run_pixrows(n, pv, &s, N, B, R, out[0].data, ctx);

    sk_gemm_job j;
    sk_gemm_job_init(&j, pv->cfg, (int)Mg, (int)s.P, (int)Kc, (int)(N * s.group));
    j.a_packed = &pv->w;
    j.pack_b = conv_pack_b;
    j.b_ctx = &s;
    j.c = out[0].data;
    j.ldc = (size_t)s.P;
    j.c_stride = (size_t)(Mg * s.P);
    sk_fused_act(n, &j.epi.min, &j.epi.max);
    if (B) {
        j.epi.bias = B->data;
        j.bias_stride = (size_t)Mg;
    }
    if (R) {
        j.epi.res = R->data;
        j.epi.ldres = (size_t)s.P;
        j.res_stride = (size_t)(Mg * s.P);
    }
    const int T = sk_pool_size(ctx->pool);
    size_t extra = shared_b_floats(pv, s.P, N, T);
    size_t gemm = sk_gemm_scratch_floats(pv->cfg, T);
    if (extra && ctx->scratch && ctx->scratch_bytes >= (gemm + extra) * sizeof(float))
        return run_shared_b(n, &j, &s, N, M, ctx, (float *)ctx->scratch + gemm);
    return run_job(n, &j, ctx);
}

/* ---- Gemm: Y = A * (alpha B') + beta C, B' packed at load --------------- */

/* One row of A (batch 1): the threads split B's panels, each a GEMV
 * (fops gemv_panel) plus the epilogue on its nv real columns. */
typedef struct gemv_job {
    const float *a, *bias, *res;
    const sk_gemm_packed_b *b;
    float *y, lo, hi;
    void (*panel)(size_t K, const float *a, const float *b, float *y);
} gemv_job;

#define GEMV_MAX_NR 32 /* nr of the widest GEMM (AVX-512) */

static void gemv_task(void *arg, size_t p0, size_t p1)
{
    const gemv_job *g = arg;
    const int nr = g->b->cfg->nr, K = g->b->K, N = g->b->N;
    _Alignas(64) float tmp[GEMV_MAX_NR];
    for (size_t p = p0; p < p1; p++) {
        g->panel((size_t)K, g->a, g->b->data + p * (size_t)K * (size_t)nr, tmp);
        int col = (int)p * nr, nv = N - col < nr ? N - col : nr;
        for (int j = 0; j < nv; j++) {
            float v = tmp[j];
            if (g->bias)
                v += g->bias[col + j];
            if (g->res)
                v += g->res[col + j];
            if (v < g->lo) /* as sk_gemm_epi_apply: a NaN passes */
                v = g->lo;
            if (v > g->hi)
                v = g->hi;
            g->y[col + j] = v;
        }
    }
}

int sk_fast_run_gemm_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    const sk_gemm_priv *pv = n->priv;
    if (!pv || nin < 2 || !in[0] || nout < 1)
        return sk_run_gemm_fused(n, in, nin, out, nout, ctx);
    const sk_tensor *A = in[0], *R = nin > 3 ? in[3] : NULL;
    if (A->shape.rank != 2 || A->shape.dim[1] != pv->w.K || out[0].shape.dim[1] != pv->w.N)
        return sk_kfail(ctx, n, SK_ESHAPE, "A does not match the packed B");
    int M = (int)A->shape.dim[0], N = pv->w.N, K = pv->w.K;
    if (R && !sk_shape_equal(&R->shape, &out[0].shape))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual shape differs from the output");
    const sk_fops_uk *uk = &pv->kc->ops;
    /* gemv_panel reads panels of two vectors: 16 floats at AVX2, 32 at AVX-512 */
    if (M == 1 && uk && pv->cfg->nr == (pv->cfg->isa == SK_ISA_AVX512 ? 32 : 16)) {
        gemv_job g = {A->data, pv->bias, R ? R->data : NULL, &pv->w, out[0].data, 0, 0,
                      uk->gemv_panel};
        sk_fused_act(n, &g.lo, &g.hi);
        size_t panels = (size_t)((N + pv->cfg->nr - 1) / pv->cfg->nr);
        /* ~4 tasks per thread, at least 4 panels (256 KB of B at K = 1024) each */
        size_t grain = panels / (4 * (size_t)sk_pool_size(ctx->pool));
        sk_parallel_for(ctx->pool, panels, grain < 4 ? 4 : grain, gemv_task, &g);
        return 0;
    }
    sk_gemm_rowmajor ra = {A->data, (size_t)K, 0};
    sk_gemm_job j;
    sk_gemm_job_init(&j, pv->cfg, M, N, K, 1);
    j.pack_a = sk_gemm_pack_a_rowmajor;
    j.a_ctx = &ra;
    j.b_packed = &pv->w;
    j.c = out[0].data;
    j.ldc = (size_t)N;
    sk_fused_act(n, &j.epi.min, &j.epi.max);
    if (pv->bias) {
        j.epi.bias = pv->bias;
        j.epi.bias_per_col = 1;
    }
    if (R) {
        j.epi.res = R->data;
        j.epi.ldres = (size_t)N;
    }
    return run_job(n, &j, ctx);
}
