/* fast_qpool.c — MaxPool on uint8 data (2-D, no Indices), threaded
 * (issue 22).
 *
 * Why: passes/qdq.c turns DQ -> MaxPool -> Q into a MaxPool on the uint8
 * tensor (the max commutes with the monotonic DQ and Q), which then ran on
 * the serial per-tap reference: a quarter of ResNet-18 QDQ batch 1 (the
 * 3x3 stride-2 pool over 64 x 112 x 112). Here each output row is the
 * vertical max of its valid input rows (16 bytes per SSE2 max), then the
 * horizontal max of each window's valid columns. A max is exact, so the
 * bytes are the reference's; a window with no valid tap (possible only
 * with pads >= the kernel) and other ranks run the reference. Hooked into
 * fast_pool.c's MaxPool for uint8 inputs. */
#include <string.h>

#include "kernels/fast_ops.h"
#include "kernels/ref/nn_util.h"
#include "threadpool.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* the window geometry, or 0 when this path does not cover the node */
static int qpool_geometry(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                          sk_win *w)
{
    if (nin < 1 || !in[0] || in[0]->dtype != SK_U8 || nout < 1 || in[0]->shape.rank != 4 ||
        sk_shape_numel(&in[0]->shape) < 0)
        return 0;
    if (n->nout > 1 && n->out[1] >= 0)
        return 0; /* Indices: the reference */
    const int64_t *ks;
    if (sk_attr_ints(n, "kernel_shape", &ks) != 2)
        return 0;
    sk_kctx quiet = sk_nn_quiet_ctx();
    if (sk_win_resolve(n, &quiet, &in[0]->shape, ks, sk_attr_int(n, "ceil_mode", 0) != 0, w))
        return 0;
    if (w->in[2] > ((int64_t)1 << 30) || w->out[2] > ((int64_t)1 << 30) || w->out[1] < 0)
        return 0;
    /* every window along each axis must hold at least one input */
    for (int a = 1; a <= 2; a++)
        for (int64_t o = 0; o < w->out[a]; o++) {
            int64_t v = 0;
            for (int64_t i = 0; i < w->k[a] && !v; i++) {
                int64_t t = o * w->stride[a] - w->pb[a] + i * w->dil[a];
                v = t >= 0 && t < w->in[a];
            }
            if (!v)
                return 0;
        }
    return 1;
}

int sk_fast_plan_max_pool_u8(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                             int nthreads, size_t *scratch)
{
    sk_win w;
    *scratch = 0;
    if (!qpool_geometry(n, in, nin, nout, &w))
        return 0;
    /* one vertical-max row per thread, 64 bytes of slack for hmax_row */
    *scratch = (((size_t)w.in[2] + 127) & ~(size_t)63) * (size_t)(nthreads > 0 ? nthreads : 1);
    return 1;
}

typedef struct qpool_job {
    const sk_win *w;
    const uint8_t *x;
    uint8_t *y;
    uint8_t *rows; /* per thread */
    size_t row_bytes;
} qpool_job;

/* dst = max(dst, src) over n bytes */
static void max_into(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm_max_epu8(_mm_loadu_si128((const __m128i *)(dst + i)),
                                      _mm_loadu_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++)
        dst[i] = src[i] > dst[i] ? src[i] : dst[i];
}

/* y[ow] for ow in [o0, o1): each window's valid columns of the vertical max v */
static void hmax_cols(const sk_win *w, const uint8_t *v, size_t W, uint8_t *y, size_t o0,
                      size_t o1)
{
    for (size_t ow = o0; ow < o1; ow++) {
        int64_t iw0 = (int64_t)ow * w->stride[2] - w->pb[2];
        uint8_t m = 0; /* every window holds a tap (qpool_geometry) and 0 is the least */
        for (int64_t t = 0; t < w->k[2]; t++) {
            int64_t iw = iw0 + t * w->dil[2];
            if (iw >= 0 && iw < (int64_t)W && v[iw] > m)
                m = v[iw];
        }
        y[ow] = m;
    }
}

#if defined(__SSE2__)
/* the bytes p[0], p[2], ..., p[30] (odd = 0) or p[1], p[3], ..., p[31] */
static inline __m128i every2(const uint8_t *p, int odd)
{
    __m128i a = _mm_loadu_si128((const __m128i *)p), b = _mm_loadu_si128((const __m128i *)(p + 16));
    if (odd) {
        a = _mm_srli_epi16(a, 8);
        b = _mm_srli_epi16(b, 8);
    } else {
        __m128i lo = _mm_set1_epi16(0xff);
        a = _mm_and_si128(a, lo);
        b = _mm_and_si128(b, lo);
    }
    return _mm_packus_epi16(a, b);
}
#endif

/* The horizontal max of one output row. Stride 2, kernel 2 or 3, no
 * dilation (ResNet's 3x3 s2 stem pool, 2x2 s2 pools): 16 windows per step
 * over the columns whose windows lie inside the row, from the even and odd
 * bytes of v — the per-tap scalar loop took ~7 cycles an output, 0.43 ms
 * of ResNet-50 QDQ's 14 at batch 1. v has 64 readable bytes past W. */
static void hmax_row(const sk_win *w, const uint8_t *v, size_t W, size_t OW, uint8_t *y)
{
    size_t o0 = 0, o1 = 0;
#if defined(__SSE2__)
    int64_t k = w->k[2], pb = w->pb[2];
    if (w->stride[2] == 2 && w->dil[2] == 1 && (k == 2 || k == 3)) {
        /* the windows [2 ow - pb, 2 ow - pb + k) inside [0, W): ow in [o0, o1) */
        int64_t num = (int64_t)W - k + pb;
        o1 = num < 0 ? 0 : (size_t)(num / 2 + 1) > OW ? OW : (size_t)(num / 2 + 1);
        o0 = (size_t)((pb + 1) / 2);
        if (o0 > o1)
            o0 = o1;
        size_t ow = o0;
        for (; ow + 16 <= o1; ow += 16) {
            const uint8_t *s = v + 2 * ow - (size_t)pb;
            __m128i m = _mm_max_epu8(every2(s, 0), every2(s, 1));
            if (k == 3)
                m = _mm_max_epu8(m, every2(s + 2, 0));
            _mm_storeu_si128((__m128i *)(y + ow), m);
        }
        o1 = ow;
    }
#endif
    hmax_cols(w, v, W, y, 0, o0);
    hmax_cols(w, v, W, y, o1, OW);
}

/* output rows [b, e) of all planes: row r = (plane, oh) */
static void qpool_rows(void *arg, int tid, size_t b, size_t e)
{
    const qpool_job *j = arg;
    const sk_win *w = j->w;
    size_t H = (size_t)w->in[1], W = (size_t)w->in[2], OH = (size_t)w->out[1],
           OW = (size_t)w->out[2];
    uint8_t *v = j->rows + (size_t)tid * j->row_bytes;
    for (size_t r = b; r < e; r++) {
        size_t plane = r / OH, oh = r % OH;
        const uint8_t *x = j->x + plane * H * W;
        int first = 1;
        for (int64_t i = 0; i < w->k[1]; i++) {
            int64_t ih = (int64_t)oh * w->stride[1] - w->pb[1] + i * w->dil[1];
            if (ih < 0 || ih >= (int64_t)H)
                continue;
            if (first)
                memcpy(v, x + (size_t)ih * W, W);
            else
                max_into(v, x + (size_t)ih * W, W);
            first = 0;
        }
        hmax_row(w, v, W, OW, j->y + r * OW);
    }
}

int sk_fast_run_max_pool_u8(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_win w;
    size_t bytes = 0;
    if (!sk_fast_uk_of(ctx) || !qpool_geometry(n, in, nin, nout, &w) ||
        out[0].dtype != SK_U8 ||
        !sk_fast_plan_max_pool_u8(n, in, nin, nout, sk_pool_size(ctx->pool), &bytes))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    uint8_t *rows = sk_fast_ctx_scratch(ctx, bytes);
    if (!rows)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    qpool_job j = {&w, in[0]->data, out[0].data, rows, ((size_t)w.in[2] + 127) & ~(size_t)63};
    size_t nrows = (size_t)(in[0]->shape.dim[0] * in[0]->shape.dim[1] * w.out[1]);
    size_t work = (size_t)(w.in[2] * w.k[1]) + 1;
    if (nrows > 0 && w.out[2] > 0)
        sk_parallel_for_tid(ctx->pool, nrows, work < 4096 ? 4096 / work : 1, qpool_rows, &j);
    return 0;
}

/* qpool_geometry for fast_qnhwc.c's channels-last MaxPool */
int sk_qpool_geometry(const sk_node *n, const sk_tensor *const *in, int nin, int nout, sk_win *w)
{
    return qpool_geometry(n, in, nin, nout, w);
}
