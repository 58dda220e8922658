/* fused_attention.c — reference kernel of _AttentionFused (kernels/fast.h),
 * the attention core of a transformer as engine/passes/fuse_attention.c
 * merges it:
 *   Y = MatMul(Softmax(MatMul(Q', Kt), axis -1), V),  Q' = Q / c, Q * c or Q
 * ("q_op" 1, 2 or 0, "q_const" c), Q [b.., M, D], Kt [b.., D, L],
 * V [b.., L, E] with the same batch dims b.. (no broadcasting). Exactly the
 * unfused graph's reference operations in its order, one batch item at a
 * time (scratch: Q' and the scores of one item), so the fused graph is
 * checked against the unfused one and the fast kernel against this. */
#include <math.h>
#include <stdlib.h>

#include "graph.h"
#include "kernels/fast.h"
#include "nn_util.h"
#include "ops.h"
#include "ref_gemm.h"

int sk_attention_geometry(const sk_tensor *const *in, int nin, sk_attention_geom *g)
{
    if (nin < 3 || !in[0] || !in[1] || !in[2])
        return 0;
    const sk_shape *q = &in[0]->shape, *k = &in[1]->shape, *v = &in[2]->shape;
    int r = q->rank;
    if (r < 2 || k->rank != r || v->rank != r)
        return 0;
    g->items = 1;
    for (int i = 0; i < r - 2; i++) {
        if (k->dim[i] != q->dim[i] || v->dim[i] != q->dim[i])
            return 0;
        g->items *= q->dim[i];
    }
    g->M = q->dim[r - 2];
    g->D = q->dim[r - 1];
    g->L = k->dim[r - 1];
    g->E = v->dim[r - 1];
    if (k->dim[r - 2] != g->D || v->dim[r - 2] != g->L)
        return 0;
    return g->items >= 0 && g->M >= 0 && g->D >= 0 && g->L >= 0 && g->E >= 0 &&
           g->M <= (1 << 30) && g->D <= (1 << 30) && g->L <= (1 << 30) && g->E <= (1 << 30);
}

static int check(const sk_node *n, const sk_tensor *const *in, int nin, sk_attention_geom *g,
                 sk_kctx *ctx)
{
    for (int i = 0; i < 3; i++)
        if (nin > i && in[i] && in[i]->dtype != SK_F32)
            return sk_kfail(ctx, n, SK_EUNSUPPORTED, "input %d is %s; only float32 is supported",
                            i, sk_dtype_name(in[i]->dtype));
    if (!sk_attention_geometry(in, nin, g))
        return sk_kfail(ctx, n, SK_ESHAPE,
                        "Q [.., M, D], K^T [.., D, L] and V [.., L, E] do not match (same rank, "
                        "same batch dims)");
    return 0;
}

size_t sk_ref_scratch_attention_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                                      const sk_tensor *out, int nout, int nthreads)
{
    (void)n;
    (void)out;
    (void)nout;
    (void)nthreads;
    sk_attention_geom g;
    if (!sk_attention_geometry(in, nin, &g))
        return 0;
    return sizeof(float) * (size_t)(g.M * g.D + g.M * g.L);
}

int sk_infer_attention_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    (void)nout;
    sk_attention_geom g;
    int rc = check(n, in, nin, &g, ctx);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = in[0]->shape;
    out[0].shape.dim[out[0].shape.rank - 1] = g.E;
    return 0;
}

int sk_run_attention_fused(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                           int nout, sk_kctx *ctx)
{
    (void)nout;
    sk_attention_geom g;
    int rc = check(n, in, nin, &g, ctx);
    if (rc)
        return rc;
    int64_t M = g.M, D = g.D, L = g.L, E = g.E;
    void *heap;
    float *qs = sk_nn_scratch(ctx, sizeof(float) * (size_t)(M * D + M * L), &heap);
    if (!qs)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory for the attention scores");
    float *s = qs + M * D;
    int q_op = (int)sk_attr_int(n, "q_op", 0);
    float c = sk_attr_float(n, "q_const", 1.0f);
    const float *Q = in[0]->data, *K = in[1]->data, *V = in[2]->data;
    float *Y = out[0].data;
    for (int64_t b = 0; b < g.items; b++) {
        const float *q = Q + b * M * D;
        for (int64_t i = 0; i < M * D; i++)
            qs[i] = q_op == 1 ? q[i] / c : q_op == 2 ? q[i] * c : q[i];
        sk_ref_gemm_f32((int)M, (int)L, (int)D, qs, (int)D, K + b * D * L, (int)L, s, (int)L, 0);
        for (int64_t r = 0; r < M; r++) { /* as the reference Softmax */
            float *x = s + r * L, mx = -INFINITY;
            for (int64_t k = 0; k < L; k++)
                if (x[k] > mx)
                    mx = x[k];
            double sum = 0.0;
            for (int64_t k = 0; k < L; k++)
                sum += exp((double)(x[k] - mx));
            for (int64_t k = 0; k < L; k++)
                x[k] = (float)(exp((double)(x[k] - mx)) / sum);
        }
        sk_ref_gemm_f32((int)M, (int)E, (int)L, s, (int)L, V + b * L * E, (int)E, Y + b * M * E,
                        (int)E, 0);
    }
    free(heap);
    return 0;
}
