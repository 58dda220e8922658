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
#include "ref_util.h"

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

/* One item: Y (row stride ldy) = Softmax(Q' Kt) V, Q' already scaled,
 * with the unfused graph's reference operations in its order. */
static void ref_item(int64_t M, int64_t D, int64_t L, int64_t E, const float *qs,
                     const float *kt, const float *v, float *s, float *y, int64_t ldy)
{
    sk_ref_gemm_f32((int)M, (int)L, (int)D, qs, (int)D, kt, (int)L, s, (int)L, 0);
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
    sk_ref_gemm_f32((int)M, (int)E, (int)L, s, (int)L, v, (int)E, y, (int)ldy, 0);
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
        ref_item(M, D, L, E, qs, K + b * D * L, V + b * L * E, s, Y + b * M * E, E);
    }
    free(heap);
    return 0;
}

/* ---- _AttentionHeads (QKV, q_start, q_end, k_start, k_end, v_start, v_end) ----
 * The same attention per head, with Q, K and V read where torch's packed
 * in-projection leaves them (engine/passes/fuse_attention.c folds the
 * Slice -> Reshape -> Transpose of each into this node): QKV [S, B, W];
 * part p's columns are [start_p, end_p) of W under Slice's rules (negative
 * from the end, clamped), H * D of them; head h of batch item b reads its
 * D columns at h * D of them, every row s. Y [S, B * H, D], row (s, b * H + h)
 * — the layout of the Transpose(perm 1, 0, 2) that followed the unfused
 * attention, so the out-projection reads it as it was — or, with
 * "batch_first" 1, Y [B, S, H * D] (the out-projection moved behind the
 * Transpose that came after it, fuse_attention.c). Attributes "heads" H,
 * "head_dim" D, "batch_first", "q_op", "q_const" as _AttentionFused; with
 * "qkv_batch_first" 1 QKV is [B, S, W] (row s of item b at (b S + s) W). */
static int part_bounds(const sk_node *n, const sk_tensor *b, const sk_tensor *e, int64_t W,
                       int64_t want, const char *what, int64_t *off, sk_kctx *ctx)
{
    if (!b || !e || !b->data || !e->data)
        return sk_kfail(ctx, n, SK_ENEEDVALUE, "the %s bounds must be known", what);
    if (!sk_ref_is_index_type(b->dtype) || !sk_ref_is_index_type(e->dtype) ||
        sk_shape_numel(&b->shape) != 1 || sk_shape_numel(&e->shape) != 1)
        return sk_kfail(ctx, n, SK_EINVAL, "the %s bounds must be one int32/int64 each", what);
    int64_t lo = sk_ref_int_at(b, 0), hi = sk_ref_int_at(e, 0);
    if (lo < 0)
        lo += W;
    if (hi < 0)
        hi += W;
    lo = lo < 0 ? 0 : lo > W ? W : lo;
    hi = hi < 0 ? 0 : hi > W ? W : hi;
    if (hi - lo != want)
        return sk_kfail(ctx, n, SK_ESHAPE,
                        "%s takes columns [%lld, %lld) of QKV's %lld, not heads x head_dim = %lld",
                        what, (long long)lo, (long long)hi, (long long)W, (long long)want);
    *off = lo;
    return 0;
}

int sk_attention_heads_geometry(const sk_node *n, const sk_tensor *const *in, int nin,
                                sk_attention_heads_geom *h, sk_kctx *ctx)
{
    static const char *parts[3] = {"Q", "K", "V"};
    if (nin < 7 || !in[0])
        return sk_kfail(ctx, n, SK_EINVAL, "expects QKV and the start and end of Q, K and V");
    if (in[0]->dtype != SK_F32)
        return sk_kfail(ctx, n, SK_EUNSUPPORTED, "QKV is %s; only float32 is supported",
                        sk_dtype_name(in[0]->dtype));
    const sk_shape *x = &in[0]->shape;
    h->qkv_first = sk_attr_int(n, "qkv_batch_first", 0) != 0;
    h->H = sk_attr_int(n, "heads", 0);
    h->D = sk_attr_int(n, "head_dim", 0);
    if (x->rank != 3 || h->H <= 0 || h->D <= 0 || h->H > (1 << 16) || h->D > (1 << 16))
        return sk_kfail(ctx, n, SK_ESHAPE, "wants QKV [S, B, W] and heads, head_dim > 0");
    h->S = x->dim[h->qkv_first ? 1 : 0];
    h->B = x->dim[h->qkv_first ? 0 : 1];
    h->W = x->dim[2];
    if (h->S > (1 << 30) || h->B > (1 << 30) / h->H)
        return sk_kfail(ctx, n, SK_ESHAPE, "QKV is too large");
    h->batch_first = sk_attr_int(n, "batch_first", 0) != 0;
    h->ldy = h->batch_first ? h->H * h->D : h->B * h->H * h->D;
    h->ldx = h->qkv_first ? h->W : h->B * h->W;
    h->xb = h->qkv_first ? h->S * h->W : h->W;
    for (int p = 0; p < 3; p++) {
        int rc = part_bounds(n, in[1 + 2 * p], in[2 + 2 * p], h->W, h->H * h->D, parts[p],
                             &h->off[p], ctx);
        if (rc)
            return rc;
    }
    return 0;
}

size_t sk_ref_scratch_attention_heads(const sk_node *n, const sk_tensor *const *in, int nin,
                                      const sk_tensor *out, int nout, int nthreads)
{
    (void)out;
    (void)nout;
    (void)nthreads;
    sk_attention_heads_geom h;
    char e[8];
    sk_kctx ctx = {e, sizeof e, NULL, NULL, 0, NULL};
    if (sk_attention_heads_geometry(n, in, nin, &h, &ctx))
        return 0;
    /* Q', Kt, V and the scores of one head */
    return sizeof(float) * (size_t)(3 * h.S * h.D + h.S * h.S);
}

int sk_infer_attention_heads(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx)
{
    (void)nout;
    sk_attention_heads_geom h;
    int rc = sk_attention_heads_geometry(n, in, nin, &h, ctx);
    if (rc)
        return rc;
    out[0].dtype = SK_F32;
    out[0].shape = h.batch_first ? (sk_shape){3, {h.B, h.S, h.H * h.D}}
                                 : (sk_shape){3, {h.S, h.B * h.H, h.D}};
    return 0;
}

int sk_run_attention_heads(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                           int nout, sk_kctx *ctx)
{
    (void)nout;
    sk_attention_heads_geom h;
    int rc = sk_attention_heads_geometry(n, in, nin, &h, ctx);
    if (rc)
        return rc;
    const int64_t S = h.S, D = h.D, ld = h.ldx;
    void *heap;
    float *qs = sk_nn_scratch(ctx, sizeof(float) * (size_t)(3 * S * D + S * S), &heap);
    if (!qs)
        return sk_kfail(ctx, n, SK_ENOMEM, "out of memory for the attention scores");
    float *kt = qs + S * D, *v = kt + S * D, *s = v + S * D;
    int q_op = (int)sk_attr_int(n, "q_op", 0);
    float c = sk_attr_float(n, "q_const", 1.0f);
    const float *X = in[0]->data;
    for (int64_t it = 0; it < h.B * h.H; it++) {
        const float *base = X + (it / h.H) * h.xb + (it % h.H) * D;
        for (int64_t r = 0; r < S; r++)
            for (int64_t d = 0; d < D; d++) {
                float q = base[r * ld + h.off[0] + d];
                qs[r * D + d] = q_op == 1 ? q / c : q_op == 2 ? q * c : q;
                kt[d * S + r] = base[r * ld + h.off[1] + d];
                v[r * D + d] = base[r * ld + h.off[2] + d];
            }
        ref_item(S, D, S, D, qs, kt, v, s, (float *)out[0].data + sk_attention_heads_y(&h, it),
                 h.ldy);
    }
    free(heap);
    return 0;
}
