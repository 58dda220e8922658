/* fast_ops_matmul.c — fast MatMul (float32, numpy semantics: batch dims
 * broadcast, 1-D operands) on the packed SGEMM of gemm.h.
 *
 * Why fast: the reference runs one scalar i-k-j product per matrix on one
 * thread; here all the matrices of the batch are one sk_gemm job, so the
 * register-blocked microkernel (6x16 AVX2 / 8x32 AVX-512) does the math,
 * operands are packed panel by panel into per-thread scratch as the product
 * runs (no transposed copies, no allocation), and the pool splits items,
 * column blocks and row panels. Weights shared by a batch of activations
 * ([B, M, K] x [K, N], ViT's Linear layers) make one (B*M) x N product, so
 * the weights are packed once, not once per item. */
#include <limits.h>
#include <string.h>

#include "gemm.h"
#include "kernels/fast_ops.h"
#include "threadpool.h"

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

int sk_fops_plan_matmul(const sk_node *n, const sk_tensor *const *in, int nin,
                        const sk_tensor *out, int nout, int nthreads, size_t *scratch)
{
    (void)n;
    (void)out;
    mm_geom g;
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_level());
    *scratch = 0;
    if (nout < 1 || !cfg || !mm_geometry(in, nin, &g))
        return 0;
    *scratch = sk_gemm_scratch_floats(cfg, nthreads) * sizeof(float);
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

int sk_fops_run_matmul(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    mm_geom g;
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_level());
    if (nout < 1 || !cfg || !mm_geometry(in, nin, &g) || out[0].dtype != SK_F32)
        return sk_fops_ref(n, in, nin, out, nout, ctx);
    if (g.M == 0 || g.N == 0 || g.nmat == 0)
        return 0;
    float *scratch =
        sk_fops_scratch(ctx, sk_gemm_scratch_floats(cfg, sk_pool_size(ctx->pool)) * sizeof(float));
    if (!scratch)
        return sk_fops_ref(n, in, nin, out, nout, ctx);
    mm_src sa = {&g, in[0]->data, (size_t)g.K, 0}, sb = {&g, in[1]->data, (size_t)g.N, 1};
    sk_gemm_job j;
    memset(&j, 0, sizeof j);
    j.cfg = cfg;
    j.M = (int)g.M;
    j.N = (int)g.N;
    j.K = (int)g.K;
    j.nbatch = (int)g.nmat;
    j.pack_a = mm_pack_a;
    j.a_ctx = &sa;
    j.pack_b = mm_pack_b;
    j.b_ctx = &sb;
    j.c = out[0].data;
    j.ldc = (size_t)g.N;
    j.c_stride = (size_t)(g.M * g.N);
    sk_gemm_epi_none(&j.epi);
    if (sk_gemm_run(ctx->pool, &j, scratch) < 0)
        return sk_fops_ref(n, in, nin, out, nout, ctx);
    return 0;
}
