/* fast_attention.c — the fast _AttentionFused kernel (fast.h):
 * Y = Softmax(Q' Kt) V, one block of score rows at a time.
 *
 * Why: unfused, the scores of every head ([b.., M, L]: ViT-B/16 batch 8 is
 * 96 x 197 x 197 floats, 15 MB) are written by one MatMul, read and written
 * by the scale (a Div on Q) and by Softmax, and read by the second MatMul,
 * each pass over memory, and the plan's arena holds them. Here a task takes
 * `rb` rows of one item: S = Q' Kt into a per-thread block (rb x L <= 256
 * KB, L2-resident), scale, max, exp and
 * normalise in place with the level's row loops, then Y rows = S V by the
 * packed GEMM, all while S is in cache. Q' is never written: the scale
 * multiplies S (the same value for a power-of-two c such as sqrt(64)).
 * Each task runs two serial GEMM jobs (pool NULL) on its thread's scratch;
 * Kt and V are packed again per task (1/rb of the task's multiplies).
 * Measured (vit_small, batch 8, 1 thread, Zen 4 under load): the 12 layers'
 * attention 26-28 ms fused against 27.5 ms for MatMul + Div + Softmax +
 * MatMul — the scores fit the caches there, so the gain is the memory (the
 * arena no longer holds them: 15 MB for ViT-B/16 at batch 8), not time. */
#include <limits.h>
#include <math.h>

#include "graph.h"
#include "kernels/fast.h"
#include "kernels/fast_ops.h"
#include "kernels/fast_pack_t.h"
#include "threadpool.h"

/* Rows per task: all M rows of an item when its score block fits 256 KB
 * (Kt and V then packed once per item: ViT's 197 x 197 is 155 KB), halved
 * while there are fewer than 4 tasks per thread (ViT-small at batch 1 has
 * 3 heads), a multiple of the tile's mr. Measured on vit_small batch 8, 1
 * thread: whole heads 26 ms for the 12 layers' attention, 64-row blocks
 * 28 ms, 32-row blocks 41 ms. */
static int rows_per_task(const sk_gemm_cfg *cfg, int64_t items, int64_t M, int64_t L,
                         int nthreads)
{
    int64_t cap = L > 0 ? 65536 / L : M, rb = M < cap ? M : cap;
    if (rb < cfg->mr)
        rb = cfg->mr;
    while (rb > 32 && items * ((M + rb - 1) / rb) < 4 * (int64_t)nthreads)
        rb = (rb + 1) / 2;
    rb = (rb + cfg->mr - 1) / cfg->mr * cfg->mr;
    return (int)rb;
}

static size_t per_thread_floats(const sk_gemm_cfg *cfg, int rb, int64_t L)
{
    return sk_gemm_scratch_floats(cfg, 1) + sk_fast_pad((size_t)rb * (size_t)L);
}

static int covered(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in, int nin,
                   const sk_tensor *out, int nout, sk_attention_geom *g)
{
    (void)n;
    if (!kc || nin < 3 || nout < 1 || !sk_attention_geometry(in, nin, g))
        return 0;
    for (int i = 0; i < 3; i++)
        if (in[i]->dtype != SK_F32)
            return 0;
    return out[0].dtype == SK_F32 && g->items <= INT_MAX;
}

int sk_fast_plan_attention(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in,
                           int nin, const sk_tensor *out, int nout, int nthreads,
                           size_t *scratch)
{
    sk_attention_geom g;
    *scratch = 0;
    if (!covered(kc, n, in, nin, out, nout, &g))
        return 0;
    int T = nthreads > 0 ? nthreads : 1, rb = rows_per_task(&kc->gemm, g.items, g.M, g.L, T);
    *scratch = per_thread_floats(&kc->gemm, rb, g.L) * (size_t)T * sizeof(float);
    return 1;
}

typedef struct att_job {
    const sk_gemm_cfg *cfg;
    const sk_fast_uk *uk;
    const float *q, *k, *v;
    float *y, *scratch, scale;
    int64_t M, D, L, E, nblk;
    int rb;
    size_t per_thread;
    /* _AttentionHeads (heads > 0): q, k, v point at Q, K, V's first
     * column in QKV, item b * heads + h reads b * hg->xb + h * D past
     * them, every row ld floats on; K's rows are Kt's columns; Y rows ldy
     * apart from sk_attention_heads_y(). heads 0: _AttentionFused. */
    int64_t heads;
    size_t ld, ldy;
    const sk_attention_heads_geom *hg;
    int pack_t; /* pack Q, Kt and S by 8x8 transposes (sk_fast_pack_t_on) */
} att_job;

/* Kt panels packed from K's rows (_AttentionHeads): column n of Kt is row
 * n of K, so this is a transpose into the nr-wide panels. */
static void pack_b_krows(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                         float *dst, float *tmp)
{
    (void)batch;
    (void)tmp;
    const sk_gemm_rowmajor *b = ctx;
    for (int p = 0; p * nr < nb; p++) {
        float *dp = dst + (size_t)p * (size_t)kc * (size_t)nr;
        for (int c = 0; c < nr; c++) {
            int col = p * nr + c;
            if (col >= nb) {
                for (int k = 0; k < kc; k++)
                    dp[(size_t)k * (size_t)nr + (size_t)c] = 0.0f;
                continue;
            }
            const float *src = b->p + (size_t)(n0 + col) * b->ld + (size_t)k0;
            for (int k = 0; k < kc; k++)
                dp[(size_t)k * (size_t)nr + (size_t)c] = src[k];
        }
    }
}

static void att_tasks(void *arg, int tid, size_t t0, size_t t1)
{
    const att_job *j = arg;
    float *gs = j->scratch + (size_t)tid * j->per_thread;
    float *s = gs + sk_gemm_scratch_floats(j->cfg, 1);
    const size_t L = (size_t)j->L;
    for (size_t t = t0; t < t1; t++) {
        int64_t b = (int64_t)t / j->nblk, r0 = ((int64_t)t % j->nblk) * j->rb;
        int rows = (int)(j->M - r0 < j->rb ? j->M - r0 : j->rb);
        /* item b's Q rows, Kt (or K's rows), V and Y rows */
        const float *q, *k, *v;
        float *y;
        size_t ldq, ldk, ldv, ldy;
        if (j->heads) {
            int64_t at = (b / j->heads) * j->hg->xb + (b % j->heads) * j->D;
            q = j->q + at + r0 * (int64_t)j->ld;
            k = j->k + at;
            v = j->v + at;
            y = j->y + sk_attention_heads_y(j->hg, b) + r0 * (int64_t)j->ldy;
            ldq = ldk = ldv = j->ld;
            ldy = j->ldy;
        } else {
            q = j->q + (b * j->M + r0) * j->D;
            k = j->k + b * j->D * j->L;
            v = j->v + b * j->L * j->E;
            y = j->y + (b * j->M + r0) * j->E;
            ldq = (size_t)j->D;
            ldk = L;
            ldv = ldy = (size_t)j->E;
        }
        /* S = Q[b][r0 .. r0+rows) Kt[b] */
        sk_gemm_rowmajor ra = {q, ldq, 0};
        sk_gemm_rowmajor rk = {k, ldk, 0};
        /* the same panels by 8x8 register transposes (fast_pack_t.h) */
        sk_fast_rows_t ta = {q, ldq, 0, j->uk->transpose}, tk = {k, ldk, 0, j->uk->transpose};
        sk_gemm_job g;
        sk_gemm_job_init(&g, j->cfg, rows, (int)j->L, (int)j->D, 1);
        g.pack_a = j->pack_t ? sk_fast_pack_a_rows_t : sk_gemm_pack_a_rowmajor;
        g.a_ctx = j->pack_t ? (const void *)&ta : (const void *)&ra;
        g.pack_b = j->heads ? (j->pack_t ? sk_fast_pack_b_rows_t : pack_b_krows)
                            : sk_gemm_pack_b_rowmajor;
        g.b_ctx = j->heads && j->pack_t ? (const void *)&tk : (const void *)&rk;
        g.c = s;
        g.ldc = L;
        sk_gemm_run(NULL, &g, gs);
        /* softmax(scale * S) per row, in place */
        for (int r = 0; r < rows; r++) {
            float *x = s + (size_t)r * L;
            if (j->scale != 1.0f)
                j->uk->vaffine(L, x, j->scale, 0.0f, x);
            float mx = j->uk->rmax(L, x);
            float sum = j->uk->vexpsub_sum(L, x, mx, x);
            j->uk->vaffine(L, x, (float)(1.0 / (double)sum), 0.0f, x);
        }
        /* Y[b][r0 .. r0+rows) = S V[b] */
        sk_gemm_rowmajor rs = {s, L, 0};
        sk_gemm_rowmajor rv = {v, ldv, 0};
        sk_fast_rows_t ts = {s, L, 0, j->uk->transpose};
        sk_gemm_job_init(&g, j->cfg, rows, (int)j->E, (int)j->L, 1);
        g.pack_a = j->pack_t ? sk_fast_pack_a_rows_t : sk_gemm_pack_a_rowmajor;
        g.a_ctx = j->pack_t ? (const void *)&ts : (const void *)&rs;
        g.pack_b = sk_gemm_pack_b_rowmajor;
        g.b_ctx = &rv;
        g.c = y;
        g.ldc = ldy;
        sk_gemm_run(NULL, &g, gs);
    }
}

int sk_fast_run_attention(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          int nout, sk_kctx *ctx)
{
    sk_attention_geom g;
    const sk_kconfig *kc = ctx->kcfg;
    if (!covered(kc, n, in, nin, out, nout, &g))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    if (g.items == 0 || g.M == 0 || g.E == 0)
        return 0;
    int T = sk_pool_size(ctx->pool), rb = rows_per_task(&kc->gemm, g.items, g.M, g.L, T);
    size_t per = per_thread_floats(&kc->gemm, rb, g.L);
    float *scratch = sk_fast_ctx_scratch(ctx, per * (size_t)T * sizeof(float));
    if (!scratch)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    int q_op = (int)sk_attr_int(n, "q_op", 0);
    float c = sk_attr_float(n, "q_const", 1.0f);
    float scale = q_op == 1 ? (float)(1.0 / (double)c) : q_op == 2 ? c : 1.0f;
    att_job j = {&kc->gemm, &kc->ops, in[0]->data, in[1]->data, in[2]->data, out[0].data,
                 scratch, scale, g.M, g.D, g.L, g.E, (g.M + rb - 1) / rb, rb, per, 0, 0, 0,
                 NULL, sk_fast_pack_t_on(&kc->gemm, kc->ops.transpose)};
    if (g.L == 0) { /* softmax over nothing: the reference's NaN-free zeros */
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    }
    sk_parallel_for_tid(ctx->pool, (size_t)(g.items * j.nblk), 1, att_tasks, &j);
    return 0;
}

/* ---- _AttentionHeads: the same tasks on Q, K, V read in place ------------- */

static int heads_covered(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in,
                         int nin, sk_attention_heads_geom *h)
{
    char e[8];
    sk_kctx ctx = {e, sizeof e, NULL, NULL, 0, NULL};
    return kc && sk_attention_heads_geometry(n, in, nin, h, &ctx) == 0 &&
           h->B * h->H <= INT_MAX && h->W <= INT_MAX;
}

int sk_fast_plan_attention_heads(const sk_kconfig *kc, const sk_node *n,
                                 const sk_tensor *const *in, int nin, const sk_tensor *out,
                                 int nout, int nthreads, size_t *scratch)
{
    (void)out;
    (void)nout;
    sk_attention_heads_geom h;
    *scratch = 0;
    if (!heads_covered(kc, n, in, nin, &h))
        return 0;
    int T = nthreads > 0 ? nthreads : 1, rb = rows_per_task(&kc->gemm, h.B * h.H, h.S, h.S, T);
    *scratch = per_thread_floats(&kc->gemm, rb, h.S) * (size_t)T * sizeof(float);
    return 1;
}

int sk_fast_run_attention_heads(const sk_node *n, const sk_tensor *const *in, int nin,
                                sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_attention_heads_geom h;
    const sk_kconfig *kc = ctx->kcfg;
    if (!heads_covered(kc, n, in, nin, &h))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    if (h.S == 0 || h.B == 0)
        return 0;
    int T = sk_pool_size(ctx->pool), rb = rows_per_task(&kc->gemm, h.B * h.H, h.S, h.S, T);
    size_t per = per_thread_floats(&kc->gemm, rb, h.S);
    float *scratch = sk_fast_ctx_scratch(ctx, per * (size_t)T * sizeof(float));
    if (!scratch)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    int q_op = (int)sk_attr_int(n, "q_op", 0);
    float c = sk_attr_float(n, "q_const", 1.0f);
    float scale = q_op == 1 ? (float)(1.0 / (double)c) : q_op == 2 ? c : 1.0f;
    const float *x = in[0]->data;
    att_job j = {&kc->gemm, &kc->ops, x + h.off[0], x + h.off[1], x + h.off[2], out[0].data,
                 scratch, scale, h.S, h.D, h.S, h.D, (h.S + rb - 1) / rb, rb, per,
                 h.H, (size_t)h.ldx, (size_t)h.ldy, &h,
                 sk_fast_pack_t_on(&kc->gemm, kc->ops.transpose)};
    sk_parallel_for_tid(ctx->pool, (size_t)(h.B * h.H * j.nblk), 1, att_tasks, &j);
    return 0;
}
