/* fast_matmul_fused.c — the fast _MatMulFused kernel (fast.h): a
 * transformer's Linear layer, Y = gelu(clamp(A W + bias + R)).
 *
 * Why fast: W was packed into B panels at load (passes/prepack.c, as for
 * _GemmFused), so a run packs only the activations — once, in parallel
 * (sk_fast_prepack_a), not once per column block; A's leading dims fold
 * into the rows ([B, 197, 768] is one 197B x 768 product); bias and the
 * residual (the transformer's skip connection) are added by the
 * microkernel's epilogue on the tile in registers instead of two more
 * passes over Y; GELU runs over each thread's rows right after the product
 * instead of the 5 (erf) or 9 (tanh) element-wise nodes of the export. */
#include <limits.h>

#include <stdlib.h>
#include <string.h>

#include "fast_conv.h"
#include "fast_ops.h"
#include "fast_pack_t.h"
#include "switches.h"
#include "threadpool.h"

/* Rows of the product for an output of Y's shape (N columns). */
static int64_t fused_rows(const sk_tensor *out, int64_t N)
{
    int64_t numel = out ? sk_shape_numel(&out->shape) : -1;
    return numel >= 0 && N > 0 ? numel / N : -1;
}

/* The M block (issue 24, session 18 mvt): every row of the product in one
 * block when they are at most MATMUL_MC rows (a batch-1 transformer's
 * tokens: 197), instead of the level's mc (128: 197 rows were blocks of
 * 128 and 69). The driver streams each weight panel (kc x nr, from DRAM:
 * the weights are read once per run) through L1 once per M block and
 * prefetches the next panel only in a task's first M block, so the second
 * block re-read every panel of the first one's from L2 without a
 * prefetch. In one block each panel is read once, prefetched, by all the
 * rows. On the Zen 5 of session 18 (bench/vit_gemm_ab.c, thread CPU time,
 * weights cold, with MATMUL_KC's blocks) ViT-B/16's QKV, FFN1 and FFN2
 * products ran 1.06x faster; A's larger block (197 x kc) is the packed
 * activations, already in L2 / L3. Only the loop order changes: the same
 * bits. SKIPSERVE_MATMUL_MC=n sets the limit, read at plan and run (A/B;
 * 0: the level's mc). */
#define MATMUL_MC 256
/* Session 19 (gk): on the 12-row kernel where the level's config has one
 * (config.h gemm_mr12: Intel), the M block then whole 12-row panels. */
static int mr12_on(void)
{
    const char *e = sk_sw()->matmul_mr12;
    return !(e && !strcmp(e, "0"));
}
/* Session 20 (vb8): a product of more rows than MATMUL_MC (a batch of
 * tokens: ViT-B/16 at batch 8 is 1576 rows) as row slices of at most
 * MATMUL_MC rows, whole A panels each, run one after the other as
 * batch-1-sized jobs — each slice one M block and its whole K in one
 * block, so its block of A (<= 256 x K floats) stays in L2 while every
 * weight panel streams past it once (prefetched), as at batch 1. The one
 * job over all rows runs the level's blocks instead (K blocks of 256,
 * 120-row M blocks, 256-column tasks): all 1576 rows of A re-read from L3
 * per column block, and the C block of every row (1576 x 256 floats, 1.6
 * MB) re-read and re-written per K block. On the Intel Xeon of session 20
 * (bench/vit_gemm_ab.c, 1576 rows, thread CPU time; bench/RESULTS.md) the
 * slices ran QKV / proj / FFN1 1.08-1.10x faster; FFN2 (K = 3072: the
 * slice's whole K, 2.8 MB, past the budget; in K blocks of 256-1024
 * 0.89-0.95x) keeps the one job. Only where the config carries the L2
 * budget for A (ablock_bytes: the Intel configs of fill_mr12), where the
 * slice's whole K fits it and K, N are large enough (below); AMD keeps the
 * one job. Each element is then one
 * FMA chain over the whole K instead of the level's 256-row blocks summed
 * (another order, within ~1e-6; the same across thread counts).
 * SKIPSERVE_MATMUL_SLICE=0 turns it off, =n sets the slice's row limit
 * (whole panels; read per run: A/B). Returns a slice's rows, 0 for one
 * job. */
int64_t sk_matmul_fused_slice_rows(const sk_gemm_cfg *cfg, int mr, int64_t M, int K, int N)
{
    const char *e = sk_sw()->matmul_slice;
    const int64_t lim = e && *e ? atoll(e) : MATMUL_MC;
    /* K of at least two of the level's K blocks and N of two of its column
     * blocks: what the slices save is the one job's C re-read per K block
     * and A re-read per column block. vit_small's FFN2 (K 768, N 192: one
     * column block) read 1.00-1.03x in slices at b8 1T but 0.95x at 2T
     * (7 jobs of 34 M multiply-adds on the pool, 1 of 10 rounds) */
    if (cfg->kpair || cfg->ablock_bytes <= 0 || lim < mr || M <= lim || mr <= 0 ||
        K < 2 * cfg->kc || N < 2 * cfg->nc)
        return 0;
    /* near-equal slices of whole panels: 1576 rows = 132 12-row panels
     * as 6 slices of 19 panels (228 rows) and a last of 208 rows */
    const int64_t panels = (M + mr - 1) / mr, maxp = lim / mr;
    const int64_t nsl = (panels + maxp - 1) / maxp;
    const int64_t rows = (panels + nsl - 1) / nsl * mr;
    /* only where the slice's whole K fits the L2 budget (K = 768: 240 x
     * 768 floats, 737 KB of 1 MB) */
    if ((rows + 15) / 16 * 16 * (int64_t)K * (int64_t)sizeof(float) > cfg->ablock_bytes)
        return 0;
    return rows;
}

/* Session 20 (vb8): the blocks of a product of more than MATMUL_MC rows
 * that runs as one job (the slices' whole K does not fit the L2 budget:
 * ViT-B/16's FFN2 at batch 8, 1576 x 768 x 3072, K blocks of 256) on a
 * config with that budget (Intel): column blocks of all N columns while
 * the kc x nc block of B fits the budget (768: 768 KB of 1 MB), and M
 * blocks of MATMUL_WIDE_MC rows. The level's 256-column, 120-row blocks
 * read A (1576 x 3072 floats) from L3 once per column block and each K
 * block's C in 1 KB pieces of 3 KB rows; with whole rows A is read once,
 * C's rows are contiguous, and the small A block (36 x 256 floats, 36 KB)
 * stays in L1 across the block's B panels (read from L2). bench/vit_gemm_ab
 * (1576-row FFN2, thread CPU time, session 20): nc 768 with mc 120 /
 * 84 / 60 / 36 / 24 1.02-1.04 / 1.05 / 1.06-1.07 / 1.10 / 1.10x the
 * level's blocks. Only the loop order changes: the same bits.
 * SKIPSERVE_MATMUL_WIDE=0: the level's blocks (read per run, A/B). */
#define MATMUL_WIDE_MC 36
static void wide_blocks(sk_gemm_cfg *c, int N, int T)
{
    const char *e = sk_sw()->matmul_wide;
    if ((e && !strcmp(e, "0")) || c->ablock_bytes <= 0 || c->kpair || N <= c->nc || T < 1)
        return;
    /* a thread's share of the columns */
    int64_t nc = (((int64_t)N + T - 1) / T + c->nr - 1) / c->nr * c->nr;
    const int64_t fit = c->ablock_bytes / ((int64_t)c->kc * (int64_t)sizeof(float)) / c->nr * c->nr;
    if (nc > fit)
        nc = fit;
    if (nc <= c->nc)
        return;
    c->nc = (int)nc;
    c->mc = MATMUL_WIDE_MC / c->mr * c->mr > 0 ? MATMUL_WIDE_MC / c->mr * c->mr : c->mr;
}

/* the job's config; *slice the rows of each row slice, 0 for one job */
static sk_gemm_cfg matmul_cfg(const sk_gemm_priv *pv, int64_t M, int K, int T, int64_t *slice_out)
{
    const sk_gemm_cfg *cfg = pv->cfg;
    sk_gemm_cfg c = *cfg;
    /* (session 21, a2s) the level's MatMul tile where it has its own
     * (config.h gemm_mm_uk: Intel AVX2) */
    if (pv->kc && pv->kc->gemm_mm_uk && cfg == &pv->kc->gemm && !cfg->kpair) {
        c.uk = pv->kc->gemm_mm_uk;
        c.no_pf = 0; /* gemm.uk's flag; the MatMul tile takes the prefetch */
    }
    if (pv->kc && pv->kc->gemm_mr12 && cfg == &pv->kc->gemm && !cfg->kpair && mr12_on())
        c = sk_gemm_cfg_mr12(cfg, pv->kc->gemm_mr12);
    const int64_t slice = sk_matmul_fused_slice_rows(&c, c.mr, M, K, pv->w.N);
    *slice_out = slice;
    if (slice > 0)
        M = slice; /* each slice's job: its rows in one M block */
    const char *e = sk_sw()->matmul_mc;
    const int64_t lim = e && *e ? atoll(e) : MATMUL_MC;
    const int64_t rows = (M + c.mr - 1) / c.mr * c.mr;
    /* (12-row panels: up to MATMUL_MC rows of the product, 264 rows of
     * panels for 256) */
    if (rows > c.mc && (rows <= lim || (c.mr != cfg->mr && M <= lim)) && rows <= 65536)
        c.mc = (int)rows;
    else if (slice == 0 && M > MATMUL_MC)
        wide_blocks(&c, pv->w.N, T);
    return c;
}

size_t sk_matmul_fused_scratch_floats(const sk_node *n, const sk_tensor *out, int nthreads)
{
    const sk_gemm_priv *pv = n->priv;
    int64_t M = fused_rows(out, pv->w.N);
    int64_t slice;
    const sk_gemm_cfg gc = matmul_cfg(pv, M > 0 ? M : 0, pv->w.K, nthreads, &slice);
    size_t f = sk_gemm_scratch_floats(&gc, nthreads);
    if (M > 0 && M <= INT_MAX)
        f += sk_fast_prepack_a_floats(&gc, 1, (int)M, pv->w.K);
    return f;
}

typedef struct gelu_job {
    void (*fn)(size_t n, const float *x, float *y);
    float *y;
    size_t N;
} gelu_job;

static void gelu_rows(void *arg, size_t r0, size_t r1)
{
    const gelu_job *g = arg;
    for (size_t r = r0; r < r1; r++)
        g->fn(g->N, g->y + r * g->N, g->y + r * g->N);
}

/* GELU on a block of C the GEMM task just finished (sk_gemm_job.post):
 * its rows of `cols` floats are still in L1 / L2, where the pass over the
 * whole output after the product read them back from L3 (ViT-B/16's FFN
 * output is 197 x 3072 floats, 2.4 MB). SKIPSERVE_GELU_POST=0: that pass
 * (A/B timing). The same row loop on the same elements: the same bits. */
static void gelu_post(const void *ctx, int batch, float *c, size_t ldc, int rows, int cols)
{
    (void)batch;
    void (*fn)(size_t, const float *, float *) = *(void (*const *)(size_t, const float *, float *))ctx;
    for (int r = 0; r < rows; r++)
        fn((size_t)cols, c + (size_t)r * ldc, c + (size_t)r * ldc);
}

/* The GEMM's K block (issue 24, session 18 mvt): the whole of K up to
 * MATMUL_KC rows instead of the level's kc (256). Both operands are packed
 * before the job (the weights at load, A per run), so a longer block costs
 * no scratch; what it saves is the C tile's reload, re-add and store per
 * block (197 x N floats of C re-read 2 - 11 more times a product), the
 * tile calls and edge-kernel passes per block. On the Zen 5 of session 18
 * (bench/vit_gemm_ab.c, thread CPU time, weights cold) ViT-B/16's K = 768
 * products ran 1.06-1.10x faster in one block, FFN2's K = 3072 1.01-1.03x;
 * the in-model A/B is in bench/RESULTS.md. The same change as pixel rows'
 * and im2col-gemm's (fast_conv_pixrows.c PIXROWS_KC, fast_conv_im2col.c
 * IM2COL_KC): each element is one FMA chain over K in order instead of
 * per-block partial sums added together, another summation order (within
 * ~1e-6 relative, tested against the reference). FP32 only: a K-pair
 * (BF16) config keeps the driver's blocks, as the BF16 tests emulate them.
 * Only for products of at most MATMUL_MC rows (above: one M block): with
 * more rows (batch 8: 1576) the level's 128-row M blocks of A would grow
 * to 128 x K floats (1.5 MB at K = 3072), past L2, and be re-streamed for
 * every weight panel — there the level's kc stays (ViT-B/16 b8 measured
 * 1.00-1.01x with it at 1 thread, unclear at 2).
 * The row bound is the constant MATMUL_MC, not SKIPSERVE_MATMUL_MC: an A/B
 * of the M block alone (SKIPSERVE_MATMUL_MC=0) keeps this K rule as it is.
 * SKIPSERVE_MATMUL_KC=n sets the limit, read per run (A/B; 0: the
 * level's kc). */
#define MATMUL_KC 3072
/* Session 19 (gk): where the config carries an L2 budget for A's block
 * (cfg->ablock_bytes, config.c: half the L2, on Intel) and the switch is
 * unset, the longest block is the K rows whose rows x K floats of A fit
 * the budget (at least the level's kc, else the level's), K cut in equal
 * blocks of at most that: ViT-B/16 at 197 rows with a 2 MB L2 keeps K =
 * 768 whole and runs FFN2's 3072 as 3 x 1024. The whole 3072 (A's 2.4 MB
 * block past that L2, re-streamed from L3 for every weight panel) ran
 * 0.84-0.91x of the level's blocks there (bench/RESULTS.md, session 19). */
int sk_matmul_fused_kc(const sk_gemm_cfg *cfg, int64_t M, int K)
{
    const char *e = sk_sw()->matmul_kc;
    int lim = e && *e ? atoi(e) : MATMUL_KC;
    if (cfg->kpair || lim <= cfg->kc || M > MATMUL_MC)
        return 0;
    if (!(e && *e) && cfg->ablock_bytes > 0 && M > 0 && K > 0) {
        const int64_t rows = (M + 15) / 16 * 16;
        const int64_t fit = cfg->ablock_bytes / (rows * (int64_t)sizeof(float));
        if (fit < cfg->kc)
            return 0;
        const int64_t nblk = (K + fit - 1) / fit;
        return (int)((K + nblk - 1) / nblk);
    }
    return K < lim ? K : lim;
}

static int gelu_post_on(void)
{
    const char *e = sk_sw()->gelu_post;
    return !(e && strcmp(e, "0") == 0);
}

int sk_fast_run_matmul_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    const sk_gemm_priv *pv = n->priv;
    if (!pv || nin < 2 || !in[0] || nout < 1 || in[0]->dtype != SK_F32)
        return sk_run_matmul_fused(n, in, nin, out, nout, ctx);
    const sk_tensor *A = in[0], *R = nin > 3 ? in[3] : NULL;
    const int K = pv->w.K, N = pv->w.N;
    const sk_shape *as = &A->shape;
    int64_t M = fused_rows(&out[0], N);
    if (as->rank < 1 || as->dim[as->rank - 1] != K || M < 0 || M > INT_MAX ||
        sk_shape_numel(as) != M * K)
        return sk_kfail(ctx, n, SK_ESHAPE, "A does not match the packed weights (K = %d)", K);
    if (R && (R->dtype != SK_F32 || !sk_shape_equal(&R->shape, &out[0].shape)))
        return sk_kfail(ctx, n, SK_ESHAPE, "residual shape differs from the output");
    if (M == 0 || N == 0)
        return 0;
    int64_t slice;
    const sk_gemm_cfg gcfg = matmul_cfg(pv, M, K, sk_pool_size(ctx->pool), &slice); /* the job's tile and blocks */
    size_t gemm_floats = sk_gemm_scratch_floats(&gcfg, sk_pool_size(ctx->pool));
    float *heap, *scratch = sk_fast_scratch(
                     n, ctx, gemm_floats + sk_fast_prepack_a_floats(&gcfg, 1, (int)M, K), &heap);
    if (!scratch)
        return SK_ENOMEM;
    sk_gemm_rowmajor ra = {A->data, (size_t)K, 0};
    sk_fast_rows_t rt = {A->data, (size_t)K, 0, pv->kc->ops.transpose};
    sk_gemm_packed_a pa;
    if (sk_fast_pack_t_on(&gcfg, rt.transpose))
        sk_fast_prepack_a(ctx->pool, &gcfg, sk_fast_pack_a_rows_t, &rt, 1, (int)M, K,
                          scratch + gemm_floats, &pa);
    else
        sk_fast_prepack_a(ctx->pool, &gcfg, sk_gemm_pack_a_rowmajor, &ra, 1, (int)M, K,
                          scratch + gemm_floats, &pa);
    const int64_t srows = slice > 0 ? slice : M;
    sk_gemm_job j;
    sk_gemm_job_init(&j, &gcfg, (int)srows, N, K, 1);
    j.a_packed = &pa;
    j.b_packed = &pv->w;
    j.kc = sk_matmul_fused_kc(&gcfg, srows, K);
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
    int gelu = (int)sk_attr_int(n, "gelu", SK_GELU_NONE);
    const sk_fast_uk *uk = &pv->kc->ops;
    void (*gelu_fn)(size_t, const float *, float *) =
        gelu == SK_GELU_TANH ? uk->vgelu_tanh : uk->vgelu_erf;
    if (gelu != SK_GELU_NONE && gelu_post_on()) {
        j.post = gelu_post;
        j.post_ctx = &gelu_fn;
        gelu = SK_GELU_NONE; /* done by the tasks */
    }
    /* one job, or one per row slice (sk_matmul_fused_slice_rows): slice r0's A
     * panels start at panel r0 / mr of the packed A, its C and residual
     * rows at row r0 */
    const size_t apanel = sk_gemm_kslots(&gcfg, K) * (size_t)gcfg.mr;
    sk_gemm_packed_a ps = pa;
    for (int64_t r0 = 0; r0 < M; r0 += srows) {
        sk_gemm_job js = j;
        js.M = (int)(M - r0 < srows ? M - r0 : srows);
        ps.M = js.M;
        ps.data = pa.data + (size_t)(r0 / gcfg.mr) * apanel;
        js.a_packed = &ps;
        js.c = j.c + (size_t)r0 * (size_t)N;
        if (R)
            js.epi.res = j.epi.res + (size_t)r0 * (size_t)N;
        sk_gemm_run(ctx->pool, &js, scratch); /* cannot fail: scratch given */
    }
    sk_free(heap);
    if (gelu != SK_GELU_NONE) {
        gelu_job g = {gelu_fn, out[0].data, (size_t)N};
        /* rows of >= 16 KB per task: enough to hide the pool's hand-off */
        size_t grain = (size_t)(4096 / N) + 1;
        sk_parallel_for(ctx->pool, (size_t)M, grain, gelu_rows, &g);
    }
    return 0;
}
