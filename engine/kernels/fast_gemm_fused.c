/* fast_gemm_fused.c — the fast _GemmFused kernel (classifier heads):
 * Y = A * (alpha B') + beta C with B' packed at load (alpha folded in) and
 * beta * C as a column bias; one row of A (batch 1) runs as GEMVs over
 * B's panels, more rows as one packed GEMM job. */
#include <stdlib.h>
#include <string.h>

#include "fast_conv.h"
#include "fast_ops.h"
#include "threadpool.h"

void sk_gemm_priv_free(void *v)
{
    sk_gemm_priv *p = v;
    if (!p)
        return;
    sk_gemm_packed_b_free(&p->w);
    sk_free(p->bias);
    free(p);
}

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
    const sk_fast_uk *uk = &pv->kc->ops;
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
    return sk_fast_run_job(n, &j, ctx);
}
