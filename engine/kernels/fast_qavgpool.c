/* fast_qavgpool.c — _QAvgPool (ref/qavgpool.c) threaded over the N*C
 * planes: the integer window sums of ref/qavgpool.h (the full-row case a
 * plain byte sum the compiler vectorizes), no float round trip. Same bits
 * as the reference at any thread count (each plane is one task's). */
#include "kernels/fast_ops.h"
#include "kernels/ref/qavgpool.h"
#include "threadpool.h"

typedef struct qavg_job {
    const sk_qavg *q;
    const uint8_t *x;
    uint8_t *y;
} qavg_job;

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* a window that is the whole plane (GlobalAveragePool, or AveragePool with
 * the kernel of the input): no pads, every tap valid */
static int whole_plane(const sk_win *w)
{
    for (int a = 0; a < SK_NN_SP; a++)
        if (w->out[a] != 1 || w->k[a] != w->in[a] || w->pb[a] != 0 || w->pe[a] != 0 ||
            (w->k[a] > 1 && w->dil[a] != 1))
            return 0;
    return 1;
}

/* planes [p0, p1) of a whole-plane window: the same integer sum as
 * sk_qavg_planes (the bytes in the uint8 view, x ^ 0x80 for int8), 16 bytes
 * per SSE2 psadbw — ResNet-50's 2048 7x7 planes took ~150 cycles each
 * through the general window loops (session 14) */
static void qavg_whole(const sk_qavg *q, const uint8_t *x, uint8_t *y, int64_t p0, int64_t p1)
{
    int64_t n = sk_win_in_size(&q->w);
    int32_t zp = q->x_s8 ? q->xzp + 128 : q->xzp;
    uint8_t flip = q->x_s8 ? 0x80 : 0;
    for (int64_t p = p0; p < p1; p++) {
        const uint8_t *xc = x + p * n;
        int64_t i = 0;
        uint32_t s = 0;
#if defined(__SSE2__)
        __m128i v = _mm_setzero_si128(), f = _mm_set1_epi8((char)flip), z = _mm_setzero_si128();
        for (; i + 16 <= n; i += 16)
            v = _mm_add_epi64(
                v, _mm_sad_epu8(_mm_xor_si128(_mm_loadu_si128((const __m128i *)(xc + i)), f), z));
        s = (uint32_t)_mm_cvtsi128_si32(v) + (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(v, 8));
#endif
        for (; i < n; i++)
            s += (uint32_t)(xc[i] ^ flip);
        int32_t acc = (int32_t)s - (int32_t)n * zp;
        y[p] = sk_qavg_out(q, acc, n);
    }
}

static void qavg_range(void *arg, size_t b, size_t e)
{
    const qavg_job *j = arg;
    if (whole_plane(&j->q->w))
        qavg_whole(j->q, j->x, j->y, (int64_t)b, (int64_t)e);
    else
        sk_qavg_planes(j->q, j->x, j->y, (int64_t)b, (int64_t)e);
}

int sk_fast_plan_qavgpool(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in,
                          int nin, const sk_tensor *out, int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)n;
    (void)in;
    (void)nin;
    (void)out;
    (void)nout;
    (void)nthreads;
    *scratch = 0;
    return 1; /* every _QAvgPool: the run checks through the reference's setup */
}

int sk_fast_run_qavgpool(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                         int nout, sk_kctx *ctx)
{
    sk_qavg q;
    sk_shape os;
    int rc = sk_qavg_setup(n, in, nin, nout, ctx, &q, &os);
    if (rc)
        return rc;
    qavg_job j = {&q, in[0]->data, out[0].data};
    /* planes per task: ~16K window taps of work each */
    int64_t per = sk_win_out_size(&q.w) * sk_win_k_size(&q.w);
    size_t grain = per >= 16384 ? 1 : (size_t)(16384 / (per > 0 ? per : 1));
    sk_parallel_for(ctx->pool, (size_t)q.NC, grain, qavg_range, &j);
    return 0;
}
