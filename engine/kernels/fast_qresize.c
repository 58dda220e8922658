/* fast_qresize.c — _QResize (ref/qresize.c, the int8 linear Resize of a QDQ
 * model) threaded over output rows, with the reference's integer
 * arithmetic (ref/qresize.h), so the same bits at every level and thread
 * count. Separable as fast_resize.c: each input row is interpolated along W
 * once into int32 (lx0 * (a - zp) + lx1 * (b - zp), a per-thread 2-row
 * cache: a 2x up-sample reuses each for two output rows), then the two H
 * taps are blended and requantized 8 outputs at a time by
 * sk_qu8_resize_vrow__avx2 (the fast kernels run only at the AVX2 level and
 * above). No float round trip: the bytes in, the bytes out. */
#include <stdlib.h>
#include <string.h>

#include "kernels/fast_ops.h"
#include "kernels/fast_qnhwc.h"
#include "kernels/fast_qresize.h"
#include "kernels/ref/qresize.h"
#include "threadpool.h"

/* the scalar form of the vector row (tails, and the definition) */
void sk_qu8_resize_vrow__scalar(size_t n, const int32_t *t, const int32_t *b, int32_t l1,
                                const sk_qrs *q, uint8_t *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = sk_qrs_out(q, (SK_QRS_ONE - l1) * t[i] + l1 * b[i]);
}

/* the row kernels of the level: AVX2 on x86-64 (the fast kernels run at
 * the AVX2 level and above), the scalar forms elsewhere (arm64 builds) */
#if defined(__x86_64__)
#define QRS_VROW sk_qu8_resize_vrow__avx2
#else
#define QRS_VROW sk_qu8_resize_vrow__scalar
#endif

typedef struct qrs_job {
    const sk_qrs *q;
    const int32_t *th, *tw; /* per output: i0, i1, l1 */
    const uint8_t *x;
    uint8_t *y;
    int32_t *rows; /* per thread: two W-interpolated rows of oW int32 */
    size_t rstride;
    int up2; /* W taps of an exact 2x half-pixel up-sample */
} qrs_job;

static void qrs_build(const sk_qrs *q, int a, int64_t in, int64_t out, int32_t *t)
{
    for (int64_t o = 0; o < out; o++)
        sk_qrs_tap(q, a, in, out, o, &t[3 * o], &t[3 * o + 1], &t[3 * o + 2]);
}

/* input row `key` (= plane * H + ih) along W into a cache slot (see
 * fast_resize.c's rz_row: `keep` is the slot the caller still reads) */
static int qrs_row(const qrs_job *j, int32_t *slot[2], int64_t tag[2], int64_t key, int keep)
{
    if (tag[0] == key)
        return 0;
    if (tag[1] == key)
        return 1;
    int s = keep >= 0 ? 1 - keep : (tag[0] < tag[1] ? 0 : 1);
    tag[s] = key;
    const sk_qrs *q = j->q;
    const uint8_t *x = j->x + (size_t)key * (size_t)q->W;
    int32_t *d = slot[s], zp = q->xzp, flip = q->s8 ? 0x80 : 0;
    const int32_t *tw = j->tw;
#if defined(__x86_64__)
    if (j->up2) {
        sk_qu8_resize_hup2__avx2((size_t)q->W, x, zp, flip, d);
        return s;
    }
#endif
    for (int64_t o = 0; o < q->oW; o++, tw += 3)
        d[o] = (SK_QRS_ONE - tw[2]) * ((x[tw[0]] ^ flip) - zp) + tw[2] * ((x[tw[1]] ^ flip) - zp);
    return s;
}

static void qrs_range(void *arg, int tid, size_t b, size_t e)
{
    const qrs_job *j = arg;
    const sk_qrs *q = j->q;
    int32_t *slot[2] = {j->rows + (size_t)tid * 2 * j->rstride,
                        j->rows + ((size_t)tid * 2 + 1) * j->rstride};
    int64_t tag[2] = {-1, -2};
    for (size_t r = b; r < e; r++) {
        int64_t p = (int64_t)r / q->oH, oh = (int64_t)r % q->oH;
        const int32_t *th = j->th + 3 * oh;
        int sa = qrs_row(j, slot, tag, p * q->H + th[0], -1);
        int sb = th[2] ? qrs_row(j, slot, tag, p * q->H + th[1], sa) : sa;
        QRS_VROW((size_t)q->oW, slot[sa], slot[sb], th[2], q, j->y + r * (size_t)q->oW);
    }
}

/* the W taps are those sk_qu8_resize_hup2__avx2 computes */
static int qrs_is_up2(const int32_t *t, int64_t in, int64_t out)
{
    if (out != 2 * in)
        return 0;
    for (int64_t o = 0; o < out; o++, t += 3) {
        int64_t i = o / 2;
        int ok;
        if (o == 0 || o == out - 1)
            ok = t[0] == (o ? in - 1 : 0) && t[2] == 0;
        else if (o % 2 == 0)
            ok = t[0] == i - 1 && t[1] == i && t[2] == 1536;
        else
            ok = t[0] == i && t[1] == i + 1 && t[2] == 512;
        if (!ok)
            return 0;
    }
    return 1;
}

/* channels-last (passes/qlayout.c put the node in an NHWC region: its
 * n->priv is an sk_qnhwc_priv, x and y both NHWC): tasks of output rows
 * (image, oh); the pixel kernels need no scratch (this path must run
 * whatever the plan sized, dispatch.c routes it here even with
 * SKIPSERVE_FAST_OPS=0); the row cache below uses the plan's scratch when
 * sk_fast_plan_qresize sized it, else the pixel kernels run */
#if defined(__x86_64__)
/* W taps precomputed for up to this many output columns, on the run's
 * stack (48 KB): one double-precision tap per pixel cost ~0.5 ms of the
 * U-Net's last up-sample */
#define QRS_NHWC_TW 4096
typedef struct qrs_nhwc_job {
    const sk_qrs *q;
    int64_t C;
    const uint8_t *x;
    uint8_t *y;
    const int32_t *tw; /* oW x (i0, i1, l1), or NULL: computed per pixel */
    sk_qu8_resize_px_fn px; /* the level's pixel kernel */
} qrs_nhwc_job;

static void qrs_nhwc_range(void *arg, size_t b, size_t e)
{
    const qrs_nhwc_job *j = arg;
    const sk_qrs *q = j->q;
    size_t C = (size_t)j->C;
    for (size_t r = b; r < e; r++) {
        int64_t img = (int64_t)r / q->oH, oh = (int64_t)r % q->oH;
        int32_t h0, h1, lh;
        sk_qrs_tap(q, 0, q->H, q->oH, oh, &h0, &h1, &lh);
        const uint8_t *x = j->x + (size_t)img * (size_t)(q->H * q->W) * C;
        const uint8_t *r0 = x + (size_t)h0 * (size_t)q->W * C, *r1 = x + (size_t)h1 * (size_t)q->W * C;
        uint8_t *y = j->y + r * (size_t)q->oW * C;
        for (int64_t ow = 0; ow < q->oW; ow++, y += C) {
            int32_t w0, w1, lw;
            if (j->tw) {
                w0 = j->tw[3 * ow];
                w1 = j->tw[3 * ow + 1];
                lw = j->tw[3 * ow + 2];
            } else {
                sk_qrs_tap(q, 1, q->W, q->oW, ow, &w0, &w1, &lw);
            }
            j->px(C, r0 + w0 * C, r0 + w1 * C, r1 + w0 * C, r1 + w1 * C, lw, lh, q, y);
        }
    }
}

/* session 16, AVX-512: the row cache (sk_qu8_resize_hrow32__avx512bw): per
 * thread two input rows interpolated along W, tagged by (image, ih) as the
 * NCHW path's qrs_row, each output row the H blend of its two */
typedef struct qrs_rows_job {
    qrs_nhwc_job b;
    int32_t *rows; /* per thread: two slots of rstride int32 */
    size_t rstride;
    sk_qu8_resize_hrow_fn hrow; /* the level's pair: 32 or 16 channels */
    sk_qu8_resize_vblend_fn vblend;
} qrs_rows_job;

/* int32 per cached row: C rounded up to the level's block (32 at AVX-512,
 * 16 at AVX2; 32 serves both) */
static size_t qrs_rows_stride(const sk_qrs *q, int64_t C)
{
    return sk_fast_pad((size_t)q->oW * (size_t)((C + 31) & ~(int64_t)31));
}

static int qrs_rows_slot(const qrs_rows_job *j, int32_t *slot[2], int64_t tag[2], int64_t key,
                         int keep)
{
    int fill, s = sk_qrs_slot(tag, key, keep, &fill);
    size_t C = (size_t)j->b.C;
    if (fill)
        j->hrow(C, (size_t)j->b.q->oW, j->b.x + (size_t)key * (size_t)j->b.q->W * C, j->b.tw,
                j->b.q, slot[s]);
    return s;
}

static void qrs_rows_range(void *arg, int tid, size_t b, size_t e)
{
    const qrs_rows_job *j = arg;
    const sk_qrs *q = j->b.q;
    int32_t *slot[2] = {j->rows + (size_t)tid * 2 * j->rstride,
                        j->rows + ((size_t)tid * 2 + 1) * j->rstride};
    int64_t tag[2] = {-1, -2};
    for (size_t r = b; r < e; r++) {
        int64_t img = (int64_t)r / q->oH, oh = (int64_t)r % q->oH;
        int32_t h0, h1, lh;
        sk_qrs_tap(q, 0, q->H, q->oH, oh, &h0, &h1, &lh);
        int sa = qrs_rows_slot(j, slot, tag, img * q->H + h0, -1);
        int sb = lh ? qrs_rows_slot(j, slot, tag, img * q->H + h1, sa) : sa;
        j->vblend((size_t)j->b.C, (size_t)q->oW, slot[sa], slot[sb], lh, q,
                  j->b.y + r * (size_t)q->oW * (size_t)j->b.C);
    }
}

/* the row cache where it runs: a level with kernels, the W taps tabled,
 * a cached row of at most 1 MB (the two stay near L2 size; the U-Net's
 * largest is 64 KB), the scratch planned (else the pixel kernels);
 * SKIPSERVE_INT8_RESIZE_ROWS=0 turns it off (A/B) */
static int qrs_rows_on(const sk_kconfig *kc, const sk_node *n, const sk_qrs *q, int64_t C)
{
    const sk_qnhwc_priv *pv = n->priv;
    return kc && kc->isa >= SK_ISA_AVX2 && q->oW <= QRS_NHWC_TW &&
           qrs_rows_stride(q, C) * sizeof(int32_t) <= ((size_t)1 << 20) &&
           !(pv->qrs_off & (SK_QRS_OFF_ROWS | SK_QRS_OFF_MADD));
}

/* the pixel kernel: session 16's vpmaddwd forms (AVX-512 BW at that level),
 * or with SKIPSERVE_INT8_RESIZE_MADD=0 session 15's (A/B; same bits) */
static sk_qu8_resize_px_fn qrs_px(const sk_kctx *ctx, const sk_node *n)
{
    const sk_qnhwc_priv *pv = n->priv;
    if (pv->qrs_off & SK_QRS_OFF_MADD)
        return sk_qu8_resize_px__avx2;
    if (ctx->kcfg && ctx->kcfg->isa >= SK_ISA_AVX512)
        return sk_qu8_resize_px32__avx512bw;
    return sk_qu8_resize_px16__avx2;
}
#endif

int sk_qrs_slot(int64_t tag[2], int64_t key, int keep, int *fill)
{
    *fill = 0;
    if (tag[0] == key)
        return 0;
    if (tag[1] == key)
        return 1;
    int s = keep >= 0 ? 1 - keep : (tag[0] < tag[1] ? 0 : 1);
    tag[s] = key;
    *fill = 1;
    return s;
}

uint32_t sk_qrs_switches(void)
{
    const char *e = getenv("SKIPSERVE_INT8_RESIZE_ROWS"), *m = getenv("SKIPSERVE_INT8_RESIZE_MADD");
    return (e && strcmp(e, "0") == 0 ? SK_QRS_OFF_ROWS : 0) |
           (m && strcmp(m, "0") == 0 ? SK_QRS_OFF_MADD : 0);
}

static int qrs_nhwc(const sk_node *n)
{
    const sk_qnhwc_priv *pv = n->priv;
    return pv && (pv->nhwc & SK_QNHWC_OUT);
}

static size_t qrs_scratch(const sk_qrs *q, int nthreads)
{
    size_t rs = sk_fast_pad((size_t)q->oW);
    return (3 * sk_fast_pad((size_t)q->oH) + 3 * rs +
            2 * rs * (size_t)(nthreads > 0 ? nthreads : 1)) * sizeof(int32_t);
}

int sk_fast_plan_qresize(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in,
                         int nin, const sk_tensor *out, int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)out;
    sk_qrs q;
    sk_shape os;
    sk_kctx quiet = {0};
    *scratch = 0;
    if (!in || sk_qrs_setup(n, in, nin, nout, &quiet, &q, &os))
        return 0;
    *scratch = qrs_scratch(&q, nthreads);
#if defined(__x86_64__)
    if (qrs_nhwc(n) && qrs_rows_on(kc, n, &q, in[0]->shape.dim[1])) { /* the NHWC row cache */
        size_t rows = 2 * qrs_rows_stride(&q, in[0]->shape.dim[1]) *
                      (size_t)(nthreads > 0 ? nthreads : 1) * sizeof(int32_t);
        *scratch = rows > *scratch ? rows : *scratch;
    }
#endif
    return 1;
}

int sk_fast_run_qresize(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    sk_qrs q;
    sk_shape os;
    int rc = sk_qrs_setup(n, in, nin, nout, ctx, &q, &os);
    if (rc)
        return rc;
    if (q.NC * q.oH * q.oW == 0)
        return 0;
    if (qrs_nhwc(n)) {
#if defined(__x86_64__)
        int64_t N = in[0]->shape.dim[0], C = in[0]->shape.dim[1];
        int32_t tw[3 * QRS_NHWC_TW];
        qrs_nhwc_job nj = {&q, C, in[0]->data, out[0].data, q.oW <= QRS_NHWC_TW ? tw : NULL,
                           qrs_px(ctx, n)};
        if (nj.tw)
            qrs_build(&q, 1, q.W, q.oW, tw);
        size_t per = (size_t)(q.oW * C), grain = per < 8192 ? 8192 / per : 1;
        if (qrs_rows_on(ctx->kcfg, n, &q, C)) {
            int w = ctx->kcfg->isa >= SK_ISA_AVX512;
            qrs_rows_job rj = {nj, NULL, qrs_rows_stride(&q, C),
                               w ? sk_qu8_resize_hrow32__avx512bw : sk_qu8_resize_hrow16__avx2,
                               w ? sk_qu8_resize_vblend32__avx512bw : sk_qu8_resize_vblend16__avx2};
            size_t need = 2 * rj.rstride * (size_t)sk_pool_size(ctx->pool) * sizeof(int32_t);
            if (ctx->scratch && ctx->scratch_bytes >= need) {
                rj.rows = ctx->scratch;
                /* at least two output rows a task: a 2x up-sample reads
                 * each cached row twice */
                sk_parallel_for_tid(ctx->pool, (size_t)(N * q.oH), grain < 2 ? 2 : grain,
                                    qrs_rows_range, &rj);
                return 0;
            }
        }
        sk_parallel_for(ctx->pool, (size_t)(N * q.oH), grain, qrs_nhwc_range, &nj);
        return 0;
#else
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "channels-last input without the AVX2 kernel");
#endif
    }
    int32_t *mem = sk_fast_ctx_scratch(ctx, qrs_scratch(&q, sk_pool_size(ctx->pool)));
    if (!mem)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    qrs_job j = {&q, mem, mem + 3 * sk_fast_pad((size_t)q.oH), in[0]->data, out[0].data, NULL,
                 sk_fast_pad((size_t)q.oW), 0};
    j.rows = (int32_t *)j.tw + 3 * j.rstride;
    qrs_build(&q, 0, q.H, q.oH, (int32_t *)j.th);
    qrs_build(&q, 1, q.W, q.oW, (int32_t *)j.tw);
    j.up2 = qrs_is_up2(j.tw, q.W, q.oW);
    size_t grain = (size_t)q.oW < 8192 ? 8192 / (size_t)q.oW : 1;
    sk_parallel_for_tid(ctx->pool, (size_t)(q.NC * q.oH), grain, qrs_range, &j);
    return 0;
}
