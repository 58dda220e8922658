/* fast_conv_im2col.c — the GEMM strategy of _ConvFused (SK_CONV_GEMM,
 * "im2col-gemm"): one packed GEMM per (image, group),
 * Y[Mg x P] = W[Mg x Cg*kvol] * col[Cg*kvol x P], with the weights packed
 * once at load (priv) and the column matrix never built: the GEMM driver
 * asks for one kc x nc block at a time and conv_pack_b gathers it straight
 * from the image into the panel layout (implicit im2col). A 1x1 stride-1
 * unpadded conv reads rows of X directly. Bias, the residual Add and
 * Relu/Clip run in the microkernel's epilogue. With few column blocks per
 * thread the columns are gathered once and shared (below). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast_conv.h"
#include "switches.h"
#include "threadpool.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* im2col-gemm jobs run in A-panel order since the process started (tests:
 * that the path ran, and did not where the rule says not) */
static _Atomic size_t aorder_jobs;
size_t sk_im2col_aorder_jobs(void)
{
    return atomic_load_explicit(&aorder_jobs, memory_order_relaxed);
}
/* ... and on the wide column blocks (sk_kconfig.im2col_wide) */
static _Atomic size_t wide_jobs;
size_t sk_im2col_wide_jobs(void)
{
    return atomic_load_explicit(&wide_jobs, memory_order_relaxed);
}

/* SKIPSERVE_BF16_TAPS=0: the BF16 stride-1 convs gather rows as the others
 * (A/B timing; switches.c's table, reloaded by tests / ab_inproc) */
static int switch_is0(const char *e)
{
    return e && !strcmp(e, "0");
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

/* The BF16 form of conv_pack_cols (K-pair panels, kernels/bf16.h): rows
 * [k0, k0+kc), k0 even, as ceil(kc/2) pair rows of panels pstride words
 * apart. Each pair row is converted from its two float rows straight into
 * the panels, one pass: from the image rows themselves for a direct 1x1
 * conv, else from two gathered rows in tmp (2 * nb floats and more). The
 * float block is never written: gathering it and converting it in place
 * cost a second pass over a block twice the size. */
/* A stride-1 conv whose output rows are as wide as its input rows (3x3
 * pad 1, and any "same" kernel): its tap rows are the input plane shifted,
 * with zeros where the window leaves the image, so the pair row of two
 * taps is read straight from the planes by masked loads (taps2), no
 * gather row. 2-D only (the depth axis of the window unused). */
static int conv_taps_fit(const conv_src *s)
{
    const sk_win *w = &s->w;
    return s->taps2 && !s->direct && w->stride[1] == 1 && w->stride[2] == 1 &&
           w->out[2] == w->in[2] && w->in[0] == 1 && w->out[0] == 1 && w->k[0] == 1 &&
           w->pb[0] == 0 && w->in[1] < INT32_MAX / 4 && w->in[2] < INT32_MAX / 4;
}

/* conv_pack_pairs for conv_taps_fit: tmp holds the block's output rows and
 * columns (2 * nb int32). */
static void conv_pack_taps(const conv_src *s, int batch, int k0, int kc, int n0, int nb, int nr,
                           float *dst, size_t pstride, float *tmp)
{
    const sk_win *w = &s->w;
    int64_t img = batch / s->group, grp = batch % s->group;
    const float *xg = s->x + (img * s->C + grp * s->Cg) * s->in_px;
    const int oW = (int)w->out[2], oH = (int)w->out[1], kw_n = (int)w->k[2];
    int32_t *oh = (int32_t *)tmp, *ow = oh + round16f((size_t)nb);
    for (int j = 0; j < nb; j++) {
        int64_t p = n0 + j;
        oh[j] = (int32_t)((p / oW) % oH);
        ow[j] = (int32_t)(p % oW);
    }
    sk_bf16_tap t[2];
    for (int kk = 0; kk < kc; kk += 2) {
        for (int h = 0; h < 2 && kk + h < kc; h++) {
            int64_t k = k0 + kk + h, c = k / s->kvol, r = k % s->kvol;
            t[h].dh = (int)((r / kw_n) * w->dil[1] - w->pb[1]);
            t[h].dw = (int)((r % kw_n) * w->dil[2] - w->pb[2]);
            t[h].x = xg + c * s->in_px + n0 + (int64_t)t[h].dh * w->in[2] + t[h].dw;
        }
        s->taps2(dst + (size_t)(kk / 2) * (size_t)nr, pstride, nr, &t[0], kk + 1 < kc ? &t[1] : NULL,
                 oh, ow, nb, (int)w->in[1], (int)w->in[2]);
    }
}

static void conv_pack_pairs(const conv_src *s, int batch, int k0, int kc, int n0, int nb, int nr,
                            float *dst, size_t pstride, float *tmp)
{
    if (conv_taps_fit(s)) {
        conv_pack_taps(s, batch, k0, kc, n0, nb, nr, dst, pstride, tmp);
        return;
    }
    int64_t img = batch / s->group, grp = batch % s->group;
    const float *xg = s->x + (img * s->C + grp * s->Cg) * s->in_px;
    const int64_t kh_n = s->w.k[1], kw_n = s->w.k[2], oHW = s->w.out[1] * s->w.out[2];
    const int64_t o0[3] = {n0 / oHW, (n0 % oHW) / s->w.out[2], n0 % s->w.out[2]};
    int64_t c = k0 / s->kvol, r0 = k0 % s->kvol;
    int64_t kw = r0 % kw_n, kh = (r0 / kw_n) % kh_n, kd = r0 / (kw_n * kh_n);
    float *const rows[2] = {tmp, tmp + round16f((size_t)nb)};
    for (int kk = 0; kk < kc; kk += 2) {
        const float *src[2] = {NULL, NULL};
        for (int h = 0; h < 2 && kk + h < kc; h++) {
            if (s->direct) {
                src[h] = xg + (int64_t)(k0 + kk + h) * s->P + n0;
                if (s->P >= PF_MIN_PIXELS && k0 + kk + h + PF_ROWS < s->Cg) /* see PF_ROWS */
                    prefetch_floats(src[h] + PF_ROWS * s->P, nb);
                continue;
            }
            gather_row(s, xg + c * s->in_px, kd, kh, kw, o0, nb, rows[h]);
            src[h] = rows[h];
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
        s->pack2(dst + (size_t)(kk / 2) * (size_t)nr, pstride, nr, src[0], src[1], nb);
    }
}

static void conv_pack_b(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                        float *dst, float *tmp)
{
    const conv_src *s = ctx;
    if (s->pack2) /* panels of ceil(kc/2) pair slots (sk_gemm_kslots) */
        conv_pack_pairs(s, batch, k0, kc, n0, nb, nr, dst, (size_t)(kc + 1) / 2 * (size_t)nr,
                        tmp);
    else
        conv_pack_cols(s, batch, k0, kc, n0, nb, nr, dst, (size_t)kc * (size_t)nr, tmp);
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

/* Floats of one image's packed column matrix: K rows (or K-pair slots)
 * x P columns in nr-wide panels. */
static size_t shared_b_cols(const sk_gemm_cfg *cfg, int64_t K, int64_t P, int64_t nr)
{
    return (size_t)((P + nr - 1) / nr) * (size_t)nr * sk_gemm_kslots(cfg, (int)K);
}

/* a gather task's row buffer: two rows for the BF16 pairs */
static size_t shared_b_tmp(int64_t nr)
{
    return 2 * round16f((size_t)(SHARED_B_CHUNK + 2) * (size_t)nr);
}

/* Images gathered together: all of them if their columns fit SHARED_B_MAX. */
static int64_t shared_b_images(size_t cols, int64_t items)
{
    int64_t g = (int64_t)(SHARED_B_MAX / cols);
    return g < 1 ? 1 : g < items ? g : items;
}

/* Column blocks per thread below which the columns are shared: 4. For the
 * BF16 GEMM (K-pair configs) SKIPSERVE_BF16_SHARED_B=n sets another limit
 * (A/B, session 17): its multiply costs half, so gathering a block again
 * for a second row chunk weighs twice as much — 8 takes ResNet's 28x28
 * layers at batch 1 and 2 threads. Not the default: ResNet-18 b1 2T read
 * 0.974x with it (in-process A/B, 80 rounds, load 1.8-3; bench/RESULTS.md,
 * session 17). */
#define SHARED_B_BLOCKS 4             /* FP32's limit */
#define SHARED_B_BF16 SHARED_B_BLOCKS /* BF16's default: the same */
/* Read once per process: the plan sizes its scratch by this limit and
 * the run decides by it again, so the two must agree. */
static int64_t shared_b_bf16_limit = SHARED_B_BF16;
static pthread_once_t shared_b_once = PTHREAD_ONCE_INIT;
static void shared_b_env_read(void)
{
    const char *e = getenv("SKIPSERVE_BF16_SHARED_B");
    if (e && *e)
        shared_b_bf16_limit = atoi(e);
}
static int64_t shared_b_blocks(const sk_gemm_cfg *cfg)
{
    if (!cfg->kpair)
        return SHARED_B_BLOCKS;
    pthread_once(&shared_b_once, shared_b_env_read);
    return shared_b_bf16_limit;
}

/* Scratch floats past the GEMM's for the shared columns of `items` images
 * of P output pixels, or 0 when the run does not take this path. */
static size_t shared_b_floats(const sk_conv_priv *pv, int64_t P, int64_t items, int T)
{
    const sk_gemm_cfg *cfg = pv->cfg;
    int64_t nr = cfg->nr;
    if (T < 2 || pv->w.groups != 1 || P <= 0 ||
        items * ((P + 2 * nr - 1) / (2 * nr)) >= shared_b_blocks(cfg) * T)
        return 0;
    size_t cols = shared_b_cols(cfg, pv->w.K, P, nr);
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
    const int pairs = b->s->pack2 != NULL;
    const size_t pstride = (pairs ? (size_t)(b->K + 1) / 2 : (size_t)b->K) * (size_t)b->nr;
    for (size_t u = u0; u < u1; u++) {
        int64_t img = (int64_t)(u / ((size_t)b->pgroups * (size_t)b->kchunks));
        int r = (int)(u % ((size_t)b->pgroups * (size_t)b->kchunks));
        int n0 = (r / b->kchunks) * span, k0 = (r % b->kchunks) * b->kch;
        int nb = b->P - n0 < span ? b->P - n0 : span;
        int kc = b->K - k0 < b->kch ? b->K - k0 : b->kch;
        /* pairs: k0 is even (kch is, below), its slot k0 / 2 */
        float *dst = b->data + (size_t)img * b->cols + (size_t)(n0 / b->nr) * pstride +
                     (size_t)(pairs ? k0 / 2 : k0) * (size_t)b->nr;
        float *tmp = b->tmp + (size_t)tid * b->tmp_stride;
        if (pairs)
            conv_pack_pairs(b->s, (int)(b->img0 + img), k0, kc, n0, nb, b->nr, dst, pstride, tmp);
        else
            conv_pack_cols(b->s, (int)(b->img0 + img), k0, kc, n0, nb, b->nr, dst, pstride, tmp);
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
    b.cols = shared_b_cols(j->cfg, j->K, s->P, nr);
    const int64_t G = shared_b_images(b.cols, N);
    b.data = region;
    b.tmp = region + round16f(b.cols * (size_t)G);
    b.tmp_stride = shared_b_tmp(nr);
    b.pgroups = (int)((s->P + SHARED_B_CHUNK * nr - 1) / (SHARED_B_CHUNK * nr));
    /* enough K ranges that every thread gathers: 4 tasks per thread */
    int64_t want = (4L * T + G * b.pgroups - 1) / (G * b.pgroups);
    int64_t kch = (j->K + want - 1) / want;
    b.kch = (int)(kch < SHARED_B_MIN_K ? SHARED_B_MIN_K : kch);
    b.kch += s->pack2 ? b.kch & 1 : 0; /* BF16 pairs must not straddle two tasks */
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
        int rc = sk_fast_run_job(n, &one, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

/* The GEMM's K block for FP32 im2col-gemm (issue 24, session 14): up to
 * IM2COL_KC rows instead of the level's kc (256). Inside a network the
 * packed weights come from DRAM and every 256-row block re-loads and
 * re-adds C: on the Zen 5 of session 14 blocks of 512 made ResNet-50's
 * im2col steps 2-9% faster at batch 1 and 8 (bench/RESULTS.md), where the
 * same change for every GEMM slowed Winograd F(4x4) — so only this
 * strategy takes it. The packed B block grows with it (kc x nc floats a
 * thread: 512 KiB). Equal blocks, as the driver's; BF16 keeps the driver's
 * blocks (its tests emulate them). SKIPSERVE_IM2COL_KC=n sets the limit
 * (A/B; 0: the level's kc). */
#define IM2COL_KC 512
static int im2col_kc(const sk_conv_priv *pv)
{
    const char *e = sk_sw()->im2col_kc;
    int kc = e && *e ? atoi(e) : IM2COL_KC;
    return pv->cfg->kpair || kc <= pv->cfg->kc ? 0 : kc;
}

/* The wide column blocks (sk_kconfig.im2col_wide; session 21, the AVX2
 * level on Intel): FP32 jobs of one K block of at most im2col_wide_k rows
 * (ResNet's 1x1 convs from 64-256 channels at 56x56 and 28x28) run the
 * planner's column split with nc 784 instead of 192, so each tile row of
 * C and the residual continues along 784 columns (3 KB runs a row) where
 * the 192-column blocks broke every row into 768-byte pieces, too short
 * for the hardware prefetchers to follow; B packed per block is K x 784
 * floats, <= 784 KB at K 256 (the L2 is 2 MB). ResNet-50 b8 1T: its 56x56
 * im2col steps 90.2 / 87.1 ms against 95.5 / 96.1 (thread clock, 2 rounds),
 * the model 1.012-1.02x in process; b1 1T ~1.01x; MobileNetV2 b8 1T
 * neutral (bench/RESULTS.md session 21 a2r). The blocking changes only
 * which tiles run together: the same FMA chain per element, the same bits
 * (test_im2col_wide). */
static const sk_gemm_cfg *im2col_wide_cfg(const sk_conv_priv *pv)
{
    return !pv->cfg->kpair && pv->kc->im2col_wide_k > 0 && pv->w.K <= pv->kc->im2col_wide_k
               ? &pv->kc->im2col_wide
               : NULL;
}

/* Floats of the GEMM's scratch with im2col_kc's blocks (a job with a
 * packing callback: sk_gemm_job_scratch_floats), or the wide blocks'. */
static size_t im2col_gemm_floats(const sk_conv_priv *pv, int T)
{
    sk_gemm_job j;
    sk_gemm_job_init(&j, pv->cfg, 1, 1, 1, 1);
    j.kc = im2col_kc(pv);
    j.pack_b = conv_pack_b;
    size_t f = sk_gemm_job_scratch_floats(&j, T);
    const sk_gemm_cfg *wide = im2col_wide_cfg(pv);
    if (wide) {
        sk_gemm_job_init(&j, wide, 1, 1, 1, 1);
        j.pack_b = conv_pack_b;
        size_t fw = sk_gemm_job_scratch_floats(&j, T);
        f = fw > f ? fw : f;
    }
    return f;
}

size_t sk_conv_im2col_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads)
{
    /* the level's GEMM scratch, the shared columns, and what the longer
     * K blocks add to the GEMM's */
    return sk_conv_gemm_scratch(pv, out, nthreads, shared_b_floats) +
           (im2col_gemm_floats(pv, nthreads) - sk_gemm_scratch_floats(pv->cfg, nthreads));
}

int sk_fast_run_conv_im2col(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    conv_src s;
    int64_t N, M;
    const sk_tensor *B, *R;
    int rc;
    if (!sk_conv_gemm_begin(n, in, nin, out, ctx, &s, &N, &M, &B, &R, &rc))
        return rc;
    const int64_t Mg = M / s.group, Kc = s.Cg * s.kvol;
    sk_gemm_job j;
    sk_gemm_job_init(&j, pv->cfg, (int)Mg, (int)s.P, (int)Kc, (int)(N * s.group));
    s.pack2 = pv->cfg->kpair ? pv->kc->bf16_pack2 : NULL;
    s.taps2 = pv->cfg->kpair && !switch_is0(sk_sw()->bf16_taps) ? pv->kc->bf16_taps2 : NULL;
    j.a_packed = &pv->w;
    j.pack_b = conv_pack_b;
    j.b_ctx = &s;
    j.kc = im2col_kc(pv);
    /* A-panel order where the level measured it faster (config.c
     * fill_intel: every job, or (2) those with a residual Add — C and the
     * residual walked along rows, where the default order reads them in
     * 16-column strips down 72 rows, lines the prefetchers do not follow);
     * SKIPSERVE_IM2COL_AORDER=0 / =1 overrides (A/B, per run) */
    {
        const char *ao = sk_sw()->im2col_aorder;
        const int dflt = pv->kc->im2col_aorder == 1 || (pv->kc->im2col_aorder == 2 && R);
        j.aorder = !pv->cfg->kpair && (ao && *ao ? atoi(ao) != 0 : dflt);
        if (j.aorder)
            atomic_fetch_add_explicit(&aorder_jobs, 1, memory_order_relaxed);
    }
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
    size_t gemm = im2col_gemm_floats(pv, T);
    /* FP32 batch 1 at 14x14 on 2-3 threads: the column split rather than
     * shared columns (gemm_split.c). Only where it was measured (bench/
     * RESULTS.md, session 18): sk_gemm_split_cols would also take 7x7 maps
     * at AVX2, 28x28 on 4+ threads..., never timed; BF16 keeps the old
     * path too. SKIPSERVE_IM2COL_COLSPLIT=0: the old path (A/B, per run) */
    j.split_cols = !pv->cfg->kpair && s.P == 196 && T <= 3 &&
                   !switch_is0(sk_sw()->im2col_colsplit);
    {
        /* (session 21 x2t) the row split where the level's config says so
         * for weights of at least im2col_rows_bytes (Intel AVX-512: 1 MB,
         * ResNet-50 / -101's 1x1 1024 <-> 256 and the 512 -> 1024 / 2 at
         * 14x14): each thread streams half the weights and packs every
         * column itself. 1x1 only (the measured steps; a 3x3 would have
         * every thread gather all 9C rows of columns). SKIPSERVE_IM2COL_
         * COLSPLIT=rows every such job, =cols none (A/B; switches.h) */
        const char *cs = sk_sw()->im2col_colsplit;
        const double wbytes = 4.0 * (double)Mg * (double)Kc;
        int rows = pv->kc->im2col_rows_bytes > 0 && s.kvol == 1 &&
                   wbytes >= (double)pv->kc->im2col_rows_bytes;
        if (cs && !strcmp(cs, "rows"))
            rows = 1;
        else if (cs && !strcmp(cs, "cols"))
            rows = 0;
        if (j.split_cols && rows)
            j.split_cols = SK_GEMM_SPLIT_ROWS;
    }
    int nbw, nbl;
    if (j.split_cols == SK_GEMM_SPLIT_ROWS && !sk_gemm_split_cols(&j, T, &nbw, &nbl))
        j.split_cols = 1; /* the columns do not fit one block (AVX2's nc): by columns */
    if (sk_gemm_split_cols(&j, T, &nbw, &nbl))
        extra = 0;
    else
        j.split_cols = 0;
    if (extra && ctx->scratch && ctx->scratch_bytes >= (gemm + extra) * sizeof(float))
        return run_shared_b(n, &j, &s, N, M, ctx, (float *)ctx->scratch + gemm);
    const sk_gemm_cfg *wide = j.split_cols ? NULL : im2col_wide_cfg(pv);
    if (wide) { /* one K block (K <= its kc): the level's blocks, nc wider */
        j.cfg = wide;
        j.kc = 0;
        atomic_fetch_add_explicit(&wide_jobs, 1, memory_order_relaxed);
    }
    return sk_fast_run_job(n, &j, ctx);
}
