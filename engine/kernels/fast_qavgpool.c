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

static void qavg_range(void *arg, size_t b, size_t e)
{
    const qavg_job *j = arg;
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
