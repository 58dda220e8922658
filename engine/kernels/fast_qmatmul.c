/* fast_qmatmul.c — QLinearMatMul with constant int8 B on the int8 GEMM
 * (fast_qmatmul.h). Per run: A's rows packed as c4 column panels (threads
 * over panels), one GEMM over all rows (threads over tiles) into Y^T in
 * scratch, then a blocked byte transpose into Y (threads over row blocks). */
#include "fast_qmatmul.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ref/quant_util.h"
#include "threadpool.h"

void sk_qmatmul_priv_free(void *p)
{
    sk_qmatmul_priv *q = p;
    if (!q)
        return;
    sk_qgemm_weights_free(&q->w);
    free(q);
}

static int scalar8(const sk_value *v) { return v && sk_q_is8(v->dtype) && sk_shape_numel(&v->shape) == 1; }
static int scalarf(const sk_value *v) { return v && v->dtype == SK_F32 && sk_shape_numel(&v->shape) == 1; }

int sk_qmatmul_pack(const sk_graph *g, sk_node *n, const sk_kconfig *kc)
{
    if (!kc || !kc->qgemm.uk || n->nin < 8 || n->in[0] < 0 || n->nout != 1)
        return 0;
    int ok = 1;
    const sk_value *as = sk_const_in(g, n, 1, &ok), *az = sk_const_in(g, n, 2, &ok),
                   *b = sk_const_in(g, n, 3, &ok), *bs = sk_const_in(g, n, 4, &ok),
                   *bz = sk_const_in(g, n, 5, &ok), *ys = sk_const_in(g, n, 6, &ok),
                   *yz = sk_const_in(g, n, 7, &ok);
    if (!ok || !b || b->dtype != SK_I8 || b->shape.rank != 2 || !scalarf(as) || !scalarf(ys) ||
        !scalar8(az) || !scalar8(yz) || !bs || bs->dtype != SK_F32)
        return 0;
    size_t K = (size_t)b->shape.dim[0], N = (size_t)b->shape.dim[1];
    int64_t nbs = sk_shape_numel(&bs->shape);
    if (K < 1 || N < 1 || K > ((size_t)1 << 15) || (nbs != 1 && nbs != (int64_t)N))
        return 0;
    if (bz) { /* symmetric B only */
        if (bz->dtype != SK_I8 || sk_shape_numel(&bz->shape) != nbs)
            return 0;
        for (int64_t i = 0; i < nbs; i++)
            if (((const int8_t *)bz->data)[i] != 0)
                return 0;
    }
    sk_dtype at = az->dtype, yt = yz->dtype;
    float asc = *(const float *)as->data, ysc = *(const float *)ys->data;
    int32_t azp = sk_q_load(at, az->data, 0), yzp = sk_q_load(yt, yz->data, 0);
    int32_t azp_u8 = at == SK_I8 ? azp + 128 : azp;

    sk_qmatmul_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return SK_ENOMEM;
    pv->q = kc->qgemm;
    /* B [K][N] is K-major: A row j = column j of B */
    int rc = sk_qgemm_weights_kmajor(&pv->w, &pv->q, N, K, b->data, 1, NULL, azp_u8, asc,
                                     bs->data, (size_t)nbs, ysc, yt == SK_I8, yzp);
    if (rc != 1) {
        free(pv);
        return rc;
    }
    pv->K = K;
    pv->N = N;
    pv->a_s8 = at == SK_I8;
    pv->y_s8 = yt == SK_I8;
    n->priv = pv;
    n->priv_free = sk_qmatmul_priv_free;
    return 1;
}

static size_t rows_of(const sk_tensor *a)
{
    size_t r = 1;
    for (int i = 0; i < a->shape.rank - 1; i++)
        r *= (size_t)a->shape.dim[i];
    return r;
}

static size_t panels_bytes(const sk_qmatmul_priv *pv, size_t R)
{
    size_t npan = (R + (size_t)pv->q.nr - 1) / (size_t)pv->q.nr;
    return (npan * sk_qgemm_b_panel_bytes(&pv->q, pv->K) + 63) & ~(size_t)63;
}

size_t sk_fast_qmatmul_scratch(const sk_node *n, const sk_tensor *const *in, int nin)
{
    const sk_qmatmul_priv *pv = n->priv;
    if (!pv || nin < 1 || !in[0] || in[0]->shape.rank < 2)
        return 0;
    size_t R = rows_of(in[0]);
    return panels_bytes(pv, R) + R * pv->N + 64;
}

typedef struct qmm_job {
    const sk_qmatmul_priv *pv;
    const uint8_t *a;
    uint8_t *pb, *yt, *y;
    size_t R;
} qmm_job;

/* panel p: rows r0 .. r0+nr-1 of A, k group g = bytes 4g .. 4g+3 of each */
static void pack_range(void *arg, size_t begin, size_t end)
{
    const qmm_job *j = arg;
    const sk_qmatmul_priv *pv = j->pv;
    size_t NR = (size_t)pv->q.nr, K = pv->K, Kp = sk_qgemm_kp(K);
    uint8_t flip = pv->a_s8 ? 0x80 : 0;
    for (size_t p = begin; p < end; p++) {
        uint8_t *dst = j->pb + p * NR * Kp;
        for (size_t c = 0; c < NR; c++) {
            size_t r = p * NR + c;
            const uint8_t *src = j->a + r * K;
            for (size_t g = 0; g < Kp / 4; g++) {
                uint8_t *d = dst + (g * NR + c) * 4;
                for (size_t i = 0; i < 4; i++) {
                    size_t k = 4 * g + i;
                    d[i] = r < j->R && k < K ? (uint8_t)(src[k] ^ flip) : 0;
                }
            }
        }
    }
}

/* rows [begin, end) of Y from columns of Y^T (N x R), 32 x 32 blocks */
static void transpose_range(void *arg, size_t begin, size_t end)
{
    const qmm_job *j = arg;
    size_t N = j->pv->N, R = j->R;
    for (size_t r0 = begin; r0 < end; r0 += 32) {
        size_t r1 = r0 + 32 < end ? r0 + 32 : end;
        for (size_t n0 = 0; n0 < N; n0 += 32) {
            size_t n1 = n0 + 32 < N ? n0 + 32 : N;
            for (size_t r = r0; r < r1; r++)
                for (size_t n = n0; n < n1; n++)
                    j->y[r * N + n] = j->yt[n * R + r];
        }
    }
}

int sk_fast_run_qmatmul(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    const sk_qmatmul_priv *pv = n->priv;
    const sk_op_info *info = sk_op_get(n->op);
    sk_tensor chk = {0};
    int rc = info->infer(n, in, nin, &chk, 1, ctx); /* the reference's checks */
    if (rc)
        return rc;
    if (!pv || nout < 1 || in[0]->shape.rank < 2 || in[0]->dtype != (pv->a_s8 ? SK_I8 : SK_U8) ||
        chk.dtype != (pv->y_s8 ? SK_I8 : SK_U8) || in[3]->shape.rank != 2 ||
        (size_t)in[3]->shape.dim[0] != pv->K || (size_t)in[3]->shape.dim[1] != pv->N)
        return info->run(n, in, nin, out, nout, ctx);
    size_t R = rows_of(in[0]);
    if (R == 0)
        return 0;
    size_t pbytes = panels_bytes(pv, R);
    if (!ctx->scratch || ctx->scratch_bytes < pbytes + R * pv->N)
        return info->run(n, in, nin, out, nout, ctx);
    size_t npan = (R + (size_t)pv->q.nr - 1) / (size_t)pv->q.nr;
    uint8_t *pb = ctx->scratch, *yt = pb + pbytes;
    /* one row: Y^T is Y, the GEMM writes it in place */
    qmm_job j = {pv, in[0]->data, pb, R == 1 ? out[0].data : yt, out[0].data, R};
    sk_parallel_for(ctx->pool, npan, 1, pack_range, &j);
    sk_qgemm_run(&pv->q, ctx->pool, pv->N, R, pv->K, pv->w.pa, pb, j.yt, R, NULL, 0, &pv->w.prm);
    if (R > 1)
        sk_parallel_for(ctx->pool, R, 32, transpose_range, &j);
    return 0;
}
