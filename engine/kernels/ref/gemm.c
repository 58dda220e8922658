/* gemm.c — the scalar reference matrix product, and the Gemm and MatMul ops
 * built on it. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "nn_util.h"
#include "ops.h"
#include "ref_gemm.h"

/* Columns per block: a K x 128 panel of B stays in L2 while every row of A
 * sweeps it, and the row of C being updated stays in L1. */
#define GEMM_NB 128

void sk_ref_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc, int accumulate)
{
    for (int j0 = 0; j0 < N; j0 += GEMM_NB) {
        int nb = N - j0 < GEMM_NB ? N - j0 : GEMM_NB;
        for (int i = 0; i < M; i++) {
            float *c = C + (size_t)i * ldc + j0;
            const float *a = A + (size_t)i * lda;
            if (!accumulate)
                memset(c, 0, (size_t)nb * sizeof(float));
            /* i-k-j: the inner loop streams contiguous rows of B and C, which
             * the compiler vectorizes. */
            for (int k = 0; k < K; k++) {
                const float *b = B + (size_t)k * ldb + j0;
                float av = a[k];
                for (int j = 0; j < nb; j++)
                    c[j] += av * b[j];
            }
        }
    }
}

/* ---- Gemm: Y = alpha * A' * B' + beta * C ------------------------------- */

typedef struct gemm_geom {
    int64_t M, N, K;
    int ta, tb;
} gemm_geom;

static int gemm_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, gemm_geom *g)
{
    int rc;
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs inputs A and B and one output");
    const sk_tensor *A = in[0], *B = in[1], *C = nin > 2 ? in[2] : NULL;
    if ((rc = sk_nn_need_f32(n, ctx, A, "A")) || (rc = sk_nn_need_f32(n, ctx, B, "B")) ||
        (C && (rc = sk_nn_need_f32(n, ctx, C, "C"))))
        return rc;
    if (A->shape.rank != 2 || B->shape.rank != 2)
        return sk_kfail(ctx, n, SK_ESHAPE, "A and B must be 2-D (got rank %d and %d)",
                        A->shape.rank, B->shape.rank);
    g->ta = sk_attr_int(n, "transA", 0) != 0;
    g->tb = sk_attr_int(n, "transB", 0) != 0;
    g->M = A->shape.dim[g->ta ? 1 : 0];
    g->K = A->shape.dim[g->ta ? 0 : 1];
    int64_t kb = B->shape.dim[g->tb ? 1 : 0];
    g->N = B->shape.dim[g->tb ? 0 : 1];
    if (kb != g->K)
        return sk_kfail(ctx, n, SK_ESHAPE,
                        "inner dimensions differ: A' is %lldx%lld, B' is %lldx%lld",
                        (long long)g->M, (long long)g->K, (long long)kb, (long long)g->N);
    if (g->M > INT_MAX || g->N > INT_MAX || g->K > INT_MAX)
        return sk_kfail(ctx, n, SK_ESHAPE, "matrix dimension too large");
    if (C) {
        const sk_shape *cs = &C->shape;
        int ok = cs->rank <= 2;
        if (ok && cs->rank >= 1 && cs->dim[cs->rank - 1] != 1 && cs->dim[cs->rank - 1] != g->N)
            ok = 0;
        if (ok && cs->rank == 2 && cs->dim[0] != 1 && cs->dim[0] != g->M)
            ok = 0;
        if (!ok) {
            char b[96];
            return sk_kfail(ctx, n, SK_ESHAPE, "C %s does not broadcast to %lldx%lld",
                            sk_shape_str(cs, b, sizeof b), (long long)g->M, (long long)g->N);
        }
    }
    return 0;
}

int sk_infer_gemm(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    gemm_geom g;
    int rc = gemm_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape.rank = 2;
    out[0].shape.dim[0] = g.M;
    out[0].shape.dim[1] = g.N;
    return 0;
}

/* dst (c x r) = transpose of src (r x c). */
static void transpose(const float *src, int64_t r, int64_t c, float *dst)
{
    for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < c; j++)
            dst[j * r + i] = src[i * c + j];
}

/* Scratch: A and / or B untransposed, so the GEMM sees plain row-major. */
static size_t gemm_scratch_floats(const gemm_geom *g)
{
    return (size_t)((g->ta ? g->M * g->K : 0) + (g->tb ? g->K * g->N : 0));
}

size_t sk_ref_scratch_gemm(SK_REF_SCRATCH_ARGS)
{
    gemm_geom g;
    sk_kctx quiet = sk_nn_quiet_ctx();
    (void)out;
    (void)nthreads;
    if (gemm_setup(n, in, nin, nout, &quiet, &g))
        return 0;
    return gemm_scratch_floats(&g) * sizeof(float);
}

int sk_run_gemm(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                int nout, sk_kctx *ctx)
{
    gemm_geom g;
    int rc = gemm_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    float alpha = sk_attr_float(n, "alpha", 1.0f), beta = sk_attr_float(n, "beta", 1.0f);
    const sk_tensor *C = nin > 2 ? in[2] : NULL;
    float *y = out[0].data;
    if (g.M == 0 || g.N == 0)
        return 0;
    const float *a = in[0]->data, *b = in[1]->data;
    void *heap = NULL;
    float *scratch = NULL;
    if ((g.ta || g.tb) &&
        !(scratch = sk_nn_scratch(ctx, gemm_scratch_floats(&g) * sizeof(float), &heap)))
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory");
    if (g.ta) {
        transpose(a, g.K, g.M, scratch);
        a = scratch;
    }
    if (g.tb) {
        float *bt = scratch + (g.ta ? g.M * g.K : 0);
        transpose(b, g.N, g.K, bt);
        b = bt;
    }
    sk_ref_gemm_f32((int)g.M, (int)g.N, (int)g.K, a, (int)g.K, b, (int)g.N, y, (int)g.N, 0);
    free(heap);

    const float *c = C ? C->data : NULL;
    int64_t cr = 1, cc = 1; /* C's rows and columns as broadcast */
    if (C && C->shape.rank >= 1)
        cc = C->shape.dim[C->shape.rank - 1];
    if (C && C->shape.rank == 2)
        cr = C->shape.dim[0];
    for (int64_t i = 0; i < g.M; i++) {
        float *yr = y + i * g.N;
        const float *crow = c ? c + (cr == 1 ? 0 : i) * cc : NULL;
        for (int64_t j = 0; j < g.N; j++) {
            float v = alpha * yr[j];
            if (crow)
                v += beta * crow[cc == 1 ? 0 : j];
            yr[j] = v;
        }
    }
    return 0;
}

/* ---- MatMul: numpy matmul with broadcast batch dimensions ---------------- */

typedef struct matmul_geom {
    int64_t M, N, K;
    int nb;                  /* batch rank of the output */
    int64_t bdim[SK_MAX_RANK]; /* output batch dims */
    int64_t sa[SK_MAX_RANK], sb[SK_MAX_RANK]; /* batch strides in elements, 0 = broadcast */
    sk_shape out;
} matmul_geom;

static int matmul_setup(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                        sk_kctx *ctx, matmul_geom *g)
{
    int rc;
    if (nin < 2 || !in[0] || !in[1] || nout < 1)
        return sk_kfail(ctx, n, SK_EINVAL, "needs inputs A and B and one output");
    const sk_shape *as = &in[0]->shape, *bs = &in[1]->shape;
    if ((rc = sk_nn_need_f32(n, ctx, in[0], "A")) || (rc = sk_nn_need_f32(n, ctx, in[1], "B")))
        return rc;
    if (as->rank < 1 || bs->rank < 1)
        return sk_kfail(ctx, n, SK_ESHAPE, "operands must have rank >= 1");
    /* A 1-D A is a row vector, a 1-D B a column vector; the unit dim is
     * dropped from the result. */
    int a1 = as->rank == 1, b1 = bs->rank == 1;
    g->M = a1 ? 1 : as->dim[as->rank - 2];
    g->K = as->dim[as->rank - 1];
    int64_t kb = b1 ? bs->dim[0] : bs->dim[bs->rank - 2];
    g->N = b1 ? 1 : bs->dim[bs->rank - 1];
    char s1[96], s2[96];
    if (kb != g->K)
        return sk_kfail(ctx, n, SK_ESHAPE, "inner dimensions differ: A %s, B %s",
                        sk_shape_str(as, s1, sizeof s1), sk_shape_str(bs, s2, sizeof s2));
    if (g->M > INT_MAX || g->N > INT_MAX || g->K > INT_MAX)
        return sk_kfail(ctx, n, SK_ESHAPE, "matrix dimension too large");
    int ra = a1 ? 0 : as->rank - 2, rb = b1 ? 0 : bs->rank - 2;
    g->nb = ra > rb ? ra : rb;
    int64_t stra = g->M * g->K, strb = g->K * g->N;
    for (int i = g->nb - 1; i >= 0; i--) {
        int ia = i - (g->nb - ra), ib = i - (g->nb - rb);
        int64_t da = ia >= 0 ? as->dim[ia] : 1, db = ib >= 0 ? bs->dim[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return sk_kfail(ctx, n, SK_ESHAPE, "batch dimensions do not broadcast: A %s, B %s",
                            sk_shape_str(as, s1, sizeof s1), sk_shape_str(bs, s2, sizeof s2));
        g->bdim[i] = da == 1 ? db : da;
        g->sa[i] = da == 1 ? 0 : stra;
        g->sb[i] = db == 1 ? 0 : strb;
        stra *= da;
        strb *= db;
    }
    sk_shape *o = &g->out;
    o->rank = 0;
    for (int i = 0; i < g->nb; i++)
        o->dim[o->rank++] = g->bdim[i];
    if (!a1)
        o->dim[o->rank++] = g->M;
    if (!b1)
        o->dim[o->rank++] = g->N;
    if (sk_shape_numel(o) < 0)
        return sk_kfail(ctx, n, SK_ESHAPE, "output %s is too large",
                        sk_shape_str(o, s1, sizeof s1));
    return 0;
}

int sk_infer_matmul(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    int nout, sk_kctx *ctx)
{
    matmul_geom g;
    int rc = matmul_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = g.out;
    return 0;
}

int sk_run_matmul(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_kctx *ctx)
{
    matmul_geom g;
    int rc = matmul_setup(n, in, nin, nout, ctx, &g);
    if (rc)
        return rc;
    int64_t total = sk_shape_numel(&g.out);
    if (total == 0)
        return 0;
    const float *a = in[0]->data, *b = in[1]->data;
    float *y = out[0].data;
    int64_t idx[SK_MAX_RANK] = {0};
    int64_t nmat = total / (g.M * g.N);
    for (int64_t m = 0; m < nmat; m++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < g.nb; i++) {
            oa += idx[i] * g.sa[i];
            ob += idx[i] * g.sb[i];
        }
        sk_ref_gemm_f32((int)g.M, (int)g.N, (int)g.K, a + oa, (int)g.K, b + ob, (int)g.N,
                        y + m * g.M * g.N, (int)g.N, 0);
        for (int i = g.nb - 1; i >= 0; i--) {
            if (++idx[i] < g.bdim[i])
                break;
            idx[i] = 0;
        }
    }
    return 0;
}
