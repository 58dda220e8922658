/* fast_matmul.c — fast MatMul (float32, numpy semantics: batch dims
 * broadcast, 1-D operands) on the packed SGEMM of gemm.h.
 *
 * Why fast: the reference runs one scalar i-k-j product per matrix on one
 * thread; here all the matrices of the batch are one sk_gemm job, so the
 * register-blocked microkernel (6x16 AVX2 / 8x32 AVX-512) does the math,
 * operands are packed panel by panel into per-thread scratch as the product
 * runs (no transposed copies, no allocation) — A once per run (see
 * sk_fast_prepack_a), B block by block — and the pool splits items, column
 * blocks and row panels. Weights shared by a batch of activations
 * ([B, M, K] x [K, N], ViT's Linear layers) make one (B*M) x N product, so
 * the weights are packed once, not once per item. */
#include <limits.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/fast_ops.h"
#include "threadpool.h"

/* ---- A packed once per run ----------------------------------------------------- */

size_t sk_fast_prepack_a_floats(const sk_gemm_cfg *cfg, int items, int M, int K)
{
    size_t panels = (size_t)(M + cfg->mr - 1) / (size_t)cfg->mr;
    return sk_fast_pad(panels * (size_t)cfg->mr * (size_t)K) * (size_t)items;
}

typedef struct prepack_job {
    sk_gemm_pack_a_fn pack_a;
    const void *ctx;
    int M, K, mr, panels;
    size_t gs;
    float *dst;
} prepack_job;

static void prepack_range(void *arg, size_t b, size_t e)
{
    const prepack_job *j = arg;
    for (size_t t = b; t < e; t++) {
        int item = (int)(t / (size_t)j->panels), p = (int)(t % (size_t)j->panels);
        int m0 = p * j->mr, mb = j->M - m0 < j->mr ? j->M - m0 : j->mr;
        j->pack_a(j->ctx, item, m0, mb, 0, j->K, j->mr,
                  j->dst + (size_t)item * j->gs + (size_t)p * (size_t)j->K * (size_t)j->mr);
    }
}

void sk_fast_prepack_a(sk_pool *pool, const sk_gemm_cfg *cfg, sk_gemm_pack_a_fn pack_a,
                       const void *ctx, int items, int M, int K, float *dst,
                       sk_gemm_packed_a *out)
{
    prepack_job j = {pack_a, ctx, M, K, cfg->mr, (M + cfg->mr - 1) / cfg->mr,
                     sk_fast_prepack_a_floats(cfg, 1, M, K), dst};
    memset(out, 0, sizeof *out);
    out->cfg = cfg;
    out->M = M;
    out->K = K;
    out->groups = items;
    out->group_stride = j.gs;
    out->data = dst;
    size_t tasks = (size_t)items * (size_t)j.panels;
    size_t per = (size_t)K * (size_t)cfg->mr;
    if (tasks > 0 && K > 0)
        sk_parallel_for(pool, tasks, per < 8192 ? 8192 / per : 1, prepack_range, &j);
}

/* ---- MatMul ---------------------------------------------------------------------- */

typedef struct mm_geom {
    int64_t M, N, K, nmat;
    int nb;                                   /* batch rank of the output */
    int64_t bdim[SK_MAX_RANK];                /* output batch dims */
    int64_t sa[SK_MAX_RANK], sb[SK_MAX_RANK]; /* batch strides, 0 = broadcast */
} mm_geom;

/* The reference's geometry (gemm.c matmul_setup); 0 when not covered. */
static int mm_geometry(const sk_tensor *const *in, int nin, mm_geom *g)
{
    if (nin < 2 || !in[0] || !in[1] || in[0]->dtype != SK_F32 || in[1]->dtype != SK_F32)
        return 0;
    const sk_shape *as = &in[0]->shape, *bs = &in[1]->shape;
    if (as->rank < 1 || bs->rank < 1 || sk_shape_numel(as) < 0 || sk_shape_numel(bs) < 0)
        return 0;
    int a1 = as->rank == 1, b1 = bs->rank == 1;
    g->M = a1 ? 1 : as->dim[as->rank - 2];
    g->K = as->dim[as->rank - 1];
    int64_t kb = b1 ? bs->dim[0] : bs->dim[bs->rank - 2];
    g->N = b1 ? 1 : bs->dim[bs->rank - 1];
    if (kb != g->K || g->M > INT_MAX || g->N > INT_MAX || g->K > INT_MAX)
        return 0;
    int ra = a1 ? 0 : as->rank - 2, rb = b1 ? 0 : bs->rank - 2;
    g->nb = ra > rb ? ra : rb;
    int64_t stra = g->M * g->K, strb = g->K * g->N;
    g->nmat = 1;
    for (int i = g->nb - 1; i >= 0; i--) {
        int ia = i - (g->nb - ra), ib = i - (g->nb - rb);
        int64_t da = ia >= 0 ? as->dim[ia] : 1, db = ib >= 0 ? bs->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return 0;
        g->bdim[i] = da == 1 ? db : da;
        g->sa[i] = da == 1 ? 0 : stra;
        g->sb[i] = db == 1 ? 0 : strb;
        stra *= da;
        strb *= db;
        g->nmat *= g->bdim[i];
    }
    /* B shared by every item and A's items dense ([197,1,768] x [768,2304]
     * from a sequence-first Linear): one product with nmat * M rows, so B
     * is packed once instead of once per item. */
    int fold = g->nmat > 1;
    for (int i = 0; i < g->nb; i++)
        if (g->sb[i] != 0 || (g->sa[i] == 0 && g->bdim[i] > 1))
            fold = 0;
    if (fold && g->nmat * g->M <= INT_MAX) {
        g->M *= g->nmat;
        g->nmat = 1;
        g->nb = 0;
    }
    return g->nmat <= INT_MAX;
}

int sk_fast_plan_matmul(const sk_kconfig *kc, const sk_node *n,
                        const sk_tensor *const *in, int nin, const sk_tensor *out,
                        int nout, int nthreads, size_t *scratch)
{
    (void)n;
    (void)out;
    mm_geom g;
    const sk_gemm_cfg *cfg = kc ? &kc->gemm : NULL;
    *scratch = 0;
    if (nout < 1 || !cfg || !mm_geometry(in, nin, &g))
        return 0;
    *scratch = (sk_gemm_scratch_floats(cfg, nthreads) +
                sk_fast_prepack_a_floats(cfg, (int)g.nmat, (int)g.M, (int)g.K)) *
               sizeof(float);
    return 1;
}

/* Packing callbacks: item `batch` of the job is output matrix `batch`,
 * whose operands sit at the broadcast offsets of its batch index. */
typedef struct mm_src {
    const mm_geom *g;
    const float *p;
    size_t ld;
    int is_b;
} mm_src;

static const float *mm_item(const mm_src *s, int batch)
{
    const mm_geom *g = s->g;
    int64_t off = 0, rem = batch;
    for (int i = g->nb - 1; i >= 0; i--) {
        int64_t idx = rem % g->bdim[i];
        rem /= g->bdim[i];
        off += idx * (s->is_b ? g->sb[i] : g->sa[i]);
    }
    return s->p + off;
}

static void mm_pack_a(const void *ctx, int batch, int m0, int mb, int k0, int kc, int mr,
                      float *dst)
{
    const mm_src *s = ctx;
    sk_gemm_rowmajor r = {mm_item(s, batch), s->ld, 0};
    sk_gemm_pack_a_rowmajor(&r, 0, m0, mb, k0, kc, mr, dst);
}

static void mm_pack_b(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                      float *dst, float *tmp)
{
    const mm_src *s = ctx;
    sk_gemm_rowmajor r = {mm_item(s, batch), s->ld, 0};
    sk_gemm_pack_b_rowmajor(&r, 0, k0, kc, n0, nb, nr, dst, tmp);
}

int sk_fast_run_matmul(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    mm_geom g;
    const sk_gemm_cfg *cfg = sk_fast_gemm_of(ctx);
    if (nout < 1 || !cfg || !mm_geometry(in, nin, &g) || out[0].dtype != SK_F32)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    if (g.M == 0 || g.N == 0 || g.nmat == 0)
        return 0;
    size_t gemm_floats = sk_gemm_scratch_floats(cfg, sk_pool_size(ctx->pool));
    float *scratch = sk_fast_ctx_scratch(
        ctx, (gemm_floats + sk_fast_prepack_a_floats(cfg, (int)g.nmat, (int)g.M, (int)g.K)) *
                 sizeof(float));
    if (!scratch)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    mm_src sa = {&g, in[0]->data, (size_t)g.K, 0}, sb = {&g, in[1]->data, (size_t)g.N, 1};
    sk_gemm_packed_a pa;
    sk_fast_prepack_a(ctx->pool, cfg, mm_pack_a, &sa, (int)g.nmat, (int)g.M, (int)g.K,
                      scratch + gemm_floats, &pa);
    sk_gemm_job j;
    sk_gemm_job_init(&j, cfg, (int)g.M, (int)g.N, (int)g.K, (int)g.nmat);
    j.a_packed = &pa;
    j.pack_b = mm_pack_b;
    j.b_ctx = &sb;
    j.c = out[0].data;
    j.ldc = (size_t)g.N;
    j.c_stride = (size_t)(g.M * g.N);
    if (sk_gemm_run(ctx->pool, &j, scratch) < 0)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    return 0;
}

/* ---- Gemm without packed weights ----------------------------------------------- */

/* Y = A' B' + C for alpha = beta = 1 (what exporters write), A' / B'
 * optionally transposed, C absent, a scalar, a row [N] / [1,N], a column
 * [M,1] or a full [M,N] matrix: bias and residual of the GEMM epilogue.
 * Gemm nodes the load-time passes could not fuse (a bias that is not yet a
 * constant, a B computed at run time) come here instead of the scalar
 * reference. */
typedef struct gm_geom {
    int64_t M, N, K;
    int ta, tb;
    int cform; /* 0 none, 1 scalar, 2 row, 3 column, 4 full */
} gm_geom;

static int gm_geometry(const sk_node *n, const sk_tensor *const *in, int nin, gm_geom *g)
{
    if (nin < 2 || !in[0] || !in[1] || in[0]->dtype != SK_F32 || in[1]->dtype != SK_F32 ||
        in[0]->shape.rank != 2 || in[1]->shape.rank != 2)
        return 0;
    if (sk_attr_float(n, "alpha", 1.0f) != 1.0f || sk_attr_float(n, "beta", 1.0f) != 1.0f)
        return 0;
    g->ta = sk_attr_int(n, "transA", 0) != 0;
    g->tb = sk_attr_int(n, "transB", 0) != 0;
    const sk_shape *as = &in[0]->shape, *bs = &in[1]->shape;
    g->M = as->dim[g->ta ? 1 : 0];
    g->K = as->dim[g->ta ? 0 : 1];
    g->N = bs->dim[g->tb ? 0 : 1];
    if (bs->dim[g->tb ? 1 : 0] != g->K || g->M > INT_MAX || g->N > INT_MAX || g->K > INT_MAX ||
        g->M < 0 || g->N < 0 || g->K < 0)
        return 0;
    const sk_tensor *C = nin > 2 ? in[2] : NULL;
    g->cform = 0;
    if (!C)
        return 1;
    const sk_shape *cs = &C->shape;
    int64_t cr = cs->rank == 2 ? cs->dim[0] : 1, cc = cs->rank >= 1 ? cs->dim[cs->rank - 1] : 1;
    if (C->dtype != SK_F32 || cs->rank > 2 || (cr != 1 && cr != g->M) || (cc != 1 && cc != g->N))
        return 0;
    g->cform = cr == 1 && cc == 1 ? 1 : cr == 1 ? 2 : cc == 1 ? 3 : 4;
    return 1;
}

static size_t gm_scratch(const gm_geom *g, const sk_gemm_cfg *cfg, int nthreads)
{
    return (sk_gemm_scratch_floats(cfg, nthreads) + sk_fast_pad((size_t)g->N) +
            sk_fast_prepack_a_floats(cfg, 1, (int)g->M, (int)g->K)) *
           sizeof(float);
}

int sk_fast_plan_gemm(const sk_kconfig *kc, const sk_node *n,
                      const sk_tensor *const *in, int nin, const sk_tensor *out,
                      int nout, int nthreads, size_t *scratch)
{
    (void)out;
    gm_geom g;
    const sk_gemm_cfg *cfg = kc ? &kc->gemm : NULL;
    *scratch = 0;
    if (nout < 1 || !cfg || !gm_geometry(n, in, nin, &g))
        return 0;
    *scratch = gm_scratch(&g, cfg, nthreads);
    return 1;
}

/* A stored transposed (K x M, row stride ld): a panel row is contiguous. */
static void gm_pack_a_t(const void *ctx, int batch, int m0, int mb, int k0, int kc, int mr,
                        float *dst)
{
    (void)batch;
    const sk_gemm_rowmajor *a = ctx;
    for (int p = 0; p * mr < mb; p++) {
        float *dp = dst + (size_t)p * (size_t)kc * (size_t)mr;
        int r0 = m0 + p * mr, rows = mb - p * mr < mr ? mb - p * mr : mr;
        for (int k = 0; k < kc; k++) {
            float *d = dp + (size_t)k * (size_t)mr;
            memcpy(d, a->p + (size_t)(k0 + k) * a->ld + (size_t)r0, (size_t)rows * sizeof(float));
            for (int r = rows; r < mr; r++)
                d[r] = 0.0f;
        }
    }
}

/* B stored transposed (N x K, row stride ld): each panel column is a
 * contiguous run of a row, written with stride nr inside the L1-sized
 * panel. */
static void gm_pack_b_t(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
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

int sk_fast_run_gemm(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    gm_geom g;
    const sk_gemm_cfg *cfg = sk_fast_gemm_of(ctx);
    if (nout < 1 || !cfg || !gm_geometry(n, in, nin, &g) || out[0].dtype != SK_F32)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    if (g.M == 0 || g.N == 0)
        return 0;
    float *scratch = sk_fast_ctx_scratch(ctx, gm_scratch(&g, cfg, sk_pool_size(ctx->pool)));
    if (!scratch)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    sk_gemm_rowmajor ra = {in[0]->data, (size_t)(g.ta ? g.M : g.K), 0};
    sk_gemm_rowmajor rb = {in[1]->data, (size_t)(g.tb ? g.K : g.N), 0};
    sk_gemm_job j;
    sk_gemm_job_init(&j, cfg, (int)g.M, (int)g.N, (int)g.K, 1);
    sk_gemm_packed_a pa;
    float *cvec = scratch + sk_gemm_scratch_floats(cfg, sk_pool_size(ctx->pool));
    sk_fast_prepack_a(ctx->pool, cfg, g.ta ? gm_pack_a_t : sk_gemm_pack_a_rowmajor, &ra, 1,
                      (int)g.M, (int)g.K, cvec + sk_fast_pad((size_t)g.N), &pa);
    j.a_packed = &pa;
    j.pack_b = g.tb ? gm_pack_b_t : sk_gemm_pack_b_rowmajor;
    j.b_ctx = &rb;
    j.c = out[0].data;
    j.ldc = (size_t)g.N;
    const float *c = nin > 2 && in[2] ? in[2]->data : NULL;
    switch (g.cform) {
    case 1: /* one value for every column */
        for (int64_t i = 0; i < g.N; i++)
            cvec[i] = c[0];
        j.epi.bias = cvec;
        j.epi.bias_per_col = 1;
        break;
    case 2:
        j.epi.bias = c;
        j.epi.bias_per_col = 1;
        break;
    case 3:
        j.epi.bias = c;
        break;
    case 4:
        j.epi.res = c;
        j.epi.ldres = (size_t)g.N;
        break;
    }
    if (sk_gemm_run(ctx->pool, &j, scratch) < 0)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    return 0;
}
