/* fast_qconv_dequant.c — _QConvDequant on the int8 GEMM with a float
 * epilogue (fast_qconv_dequant.h): weights packed at load, then per task a
 * run of 32-pixel panels, each packed into a stack buffer (NCHW rows through
 * qgemm's packer, or channels-last pixels gathered) and multiplied by every
 * 8-row A panel while it is in L1. */
#include "fast_qconv_dequant.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/ref/quant_util.h"
#include "threadpool.h"

#define QCD_MR 8
#define QCD_NR 32

int sk_qconvdq_pays(const sk_kconfig *kc)
{
    if (!kc)
        return 1; /* the scalar level: the reference */
#if defined(__x86_64__)
    /* session 15 (qft): the AVX2 level too (AVX-VNNI or widening AVX2
     * kernels on the same panels) */
    return kc->isa == SK_ISA_AVX512 || kc->isa == SK_ISA_AVX2;
#else
    return 0;
#endif
}

int sk_qgemmdq_fits(const sk_kconfig *kc, int64_t K)
{
    if (!kc)
        return 1; /* the scalar level: the reference, any K */
    return sk_qconvdq_pays(kc) && K >= 4 && K % 4 == 0 && K <= SK_QGEMMDQ_MAXK;
}

/* the channels-last B panel without AVX-512 gathers (the AVX2 level):
 * sk_qu8_pack_nhwc_32c4__avx512f's bytes, pixel j's 4 channels of group g
 * at dst[g * 128 + 4j], pixels past np zero */
void sk_qu8_pack_nhwc_32c4__scalar(const uint8_t *x, size_t C, size_t np, uint8_t flip,
                                   uint8_t *dst)
{
    for (size_t g = 0; g < C / 4; g++, dst += 128) {
        memset(dst + 4 * np, 0, 4 * (QCD_NR - np));
        for (size_t j = 0; j < np; j++)
            for (size_t t = 0; t < 4; t++)
                dst[4 * j + t] = x[j * C + 4 * g + t] ^ flip;
    }
}

static void priv_free(void *p)
{
    sk_qconvdq_priv *q = p;
    if (!q)
        return;
    sk_free(q->pa);
    free(q->bias);
    free(q->mult);
    free(q);
}

int sk_qconvdq_pack(const sk_graph *g, sk_node *n, const sk_kconfig *kc)
{
    if (!kc || !sk_qconvdq_pays(kc) || n->nin < 6 || n->in[0] < 0 || n->nout != 1)
        return 0;
    int ok = 1;
    const sk_value *xs = sk_const_in(g, n, 1, &ok), *xz = sk_const_in(g, n, 2, &ok),
                   *w = sk_const_in(g, n, 3, &ok), *ws = sk_const_in(g, n, 4, &ok),
                   *wz = sk_const_in(g, n, 5, &ok), *b = sk_const_in(g, n, 6, &ok);
    int gemm = w && w->shape.rank == 2;
    if (!ok || !xs || !xz || !w || !ws || w->dtype != SK_I8 || (w->shape.rank != 4 && !gemm) ||
        !sk_q_is8(xz->dtype) || xs->dtype != SK_F32 || ws->dtype != SK_F32 ||
        sk_shape_numel(&xs->shape) != 1 || sk_shape_numel(&xz->shape) != 1)
        return 0;
    int64_t M = w->shape.dim[0], C = w->shape.dim[1], nws = sk_shape_numel(&ws->shape);
    if (M < 1 || C < 1 || (nws != 1 && nws != M) ||
        (gemm ? !sk_qgemmdq_fits(kc, C)
              : C > SK_QCONVDQ_MAXC || w->shape.dim[2] != 1 || w->shape.dim[3] != 1))
        return 0;
    if (wz) { /* symmetric weights only: the zero point is not subtracted per product */
        if (wz->dtype != SK_I8 || sk_shape_numel(&wz->shape) != nws)
            return 0;
        for (int64_t i = 0; i < nws; i++)
            if (((const int8_t *)wz->data)[i] != 0)
                return 0;
    }
    if (b && (b->dtype != SK_I32 || sk_shape_numel(&b->shape) != M))
        return 0;
    int x_s8 = xz->dtype == SK_I8;
    int32_t xzp = sk_q_load(xz->dtype, xz->data, 0), xzp_u8 = x_s8 ? xzp + 128 : xzp;
    sk_qgemm_cfg cfg = {QCD_MR, QCD_NR, NULL, "qcd", 0};
    sk_qconvdq_priv *pv = calloc(1, sizeof *pv);
    int32_t *sums = malloc((size_t)M * sizeof *sums);
    if (pv) {
        /* packed weights in huge pages (engine/sk.c sk_alloc_weights) */
        pv->pa = sk_alloc_weights(sk_qgemm_packed_a_bytes(&cfg, (size_t)M, (size_t)C));
        pv->bias = malloc((size_t)M * sizeof *pv->bias);
        pv->mult = malloc((size_t)M * sizeof *pv->mult);
    }
    if (!pv || !sums || !pv->pa || !pv->bias || !pv->mult) {
        priv_free(pv);
        free(sums);
        return SK_ENOMEM;
    }
    sk_qgemm_pack_a(&cfg, (size_t)M, (size_t)C, w->data, (size_t)C, pv->pa);
    sk_qgemm_row_sums((size_t)M, (size_t)C, w->data, (size_t)C, sums);
    /* y_scale 1: mult = x_scale * w_scale[m] / 1, the reference's product */
    int fits = sk_qgemm_fold_requant((size_t)M, (size_t)C, 1, sums,
                                     b ? (const int32_t *)b->data : NULL, xzp_u8,
                                     *(const float *)xs->data, ws->data, (size_t)nws, 1.0f,
                                     pv->bias, pv->mult);
    free(sums);
    if (!fits) {
        priv_free(pv);
        return 0;
    }
    /* a QDQ Gemm's alpha (session 15): the reference's (x_s * w_s) * alpha */
    float alpha = sk_attr_float(n, "alpha", 1.0f);
    if (alpha != 1.0f)
        for (int64_t m = 0; m < M; m++)
            pv->mult[m] *= alpha;
    pv->C = C;
    pv->M = M;
    pv->x_s8 = x_s8;
    pv->gemm = gemm;
#if defined(__x86_64__)
    /* vpdpbusd where the level's int8 GEMM uses it (the CPU has VNNI) */
    pv->uk = kc->qgemm.uk == sk_qu8_qc8w_gemm_8x32c4__avx512vnni
                 ? sk_qu8_qc8w_gemm_f32_8x32c4__avx512vnni
                 : sk_qu8_qc8w_gemm_f32_8x32c4__avx512bw;
    pv->pack_nhwc = sk_qu8_pack_nhwc_32c4__avx512f;
    if (kc->isa == SK_ISA_AVX2) { /* session 15: 256-bit kernels, the same bits */
        pv->uk = kc->qgemm.uk == sk_qu8_qc8w_gemm_6x16c4__avxvnni
                     ? sk_qu8_qc8w_gemm_f32_8x32c4__avxvnni
                     : sk_qu8_qc8w_gemm_f32_8x32c4__avx2;
        pv->pack_nhwc = sk_qu8_pack_nhwc_32c4__scalar;
    }
    /* SKIPSERVE_QGEMM_GEMV=0 at load: batch 1 on the GEMM kernel (A/B) */
    const char *gv = getenv("SKIPSERVE_QGEMM_GEMV");
    pv->gemv = gemm && pv->uk == sk_qu8_qc8w_gemm_f32_8x32c4__avx512vnni &&
               !(gv && strcmp(gv, "0") == 0);
#endif
    n->priv = pv;
    n->priv_free = priv_free;
    return 1;
}

typedef struct qcd_job {
    const sk_qconvdq_priv *pv;
    const uint8_t *x;
    float *y;
    size_t P, npan;
} qcd_job;

#if defined(__x86_64__)
/* tasks [b, e): task t = (image, panel of 32 pixels) */
static void qcd_range(void *arg, size_t b, size_t e)
{
    const qcd_job *j = arg;
    const sk_qconvdq_priv *pv = j->pv;
    size_t C = (size_t)pv->C, M = (size_t)pv->M, P = j->P, Kp = sk_qgemm_kp(C);
    sk_qgemm_cfg cfg = {QCD_MR, QCD_NR, NULL, "qcd", 0};
    uint8_t flip = pv->x_s8 ? 0x80 : 0;
    _Alignas(64) uint8_t panel[QCD_NR * SK_QCONVDQ_MAXC];
    for (size_t t = b; t < e; t++) {
        size_t img = t / j->npan, p0 = t % j->npan * QCD_NR;
        size_t np = P - p0 < QCD_NR ? P - p0 : QCD_NR;
        const uint8_t *x = j->x + img * C * P;
        if (pv->x_nhwc)
            pv->pack_nhwc(x + p0 * C, C, np, flip, panel);
        else
            sk_qgemm_pack_b(&cfg, C, p0, np, P, x, P, flip, panel);
        float *y = j->y + img * M * P + p0;
        for (size_t m0 = 0; m0 < M; m0 += QCD_MR)
            pv->uk(
                M - m0 < QCD_MR ? M - m0 : QCD_MR, np, Kp / 4, pv->pa + m0 * Kp, panel,
                y + m0 * P, P, pv->bias + m0, pv->mult + m0);
    }
}
#endif

#if defined(__x86_64__)
/* the Gemm form: x's rows packed up front (N x K bytes: one pass, serial),
 * then tasks over (panel of 32 rows, block of QCDG_MB output columns) — a
 * batch-1 head still spreads over the threads; every output is one uk call
 * summing all of K, so the bits do not depend on the split. The uk writes
 * an 8 x 32 tile of y^T, transposed into y [N, M] while in L1. */
#define QCDG_MB 64
typedef struct qcdg_job {
    const sk_qconvdq_priv *pv;
    const uint8_t *panels; /* panel i at i * 32 * Kp (NULL: GEMV on x's rows) */
    const uint8_t *x;
    float *y;
    size_t N, nmb;
} qcdg_job;

static void qcdg_range(void *arg, size_t b, size_t e)
{
    const qcdg_job *j = arg;
    const sk_qconvdq_priv *pv = j->pv;
    size_t M = (size_t)pv->M, Kp = sk_qgemm_kp((size_t)pv->C);
    _Alignas(64) float tile[QCD_MR * QCD_NR];
    for (size_t t = b; t < e; t++) {
        size_t pan = t / j->nmb, m1 = t % j->nmb * QCDG_MB, p0 = pan * QCD_NR;
        size_t np = j->N - p0 < QCD_NR ? j->N - p0 : QCD_NR;
        size_t me = M - m1 < QCDG_MB ? M : m1 + QCDG_MB;
        if (!j->panels) { /* small batch: each row on the GEMV kernel */
            for (size_t p = 0; p < np; p++)
                sk_qu8_qc8w_gemv_f32_8c4__avx512vnni(m1, me, Kp / 4, pv->pa,
                                                     j->x + (p0 + p) * Kp,
                                                     pv->x_s8 ? 0x80 : 0, j->y + (p0 + p) * M,
                                                     pv->bias, pv->mult);
            continue;
        }
        const uint8_t *panel = j->panels + pan * QCD_NR * Kp;
        for (size_t m0 = m1; m0 < me; m0 += QCD_MR) {
            size_t mr = me - m0 < QCD_MR ? me - m0 : QCD_MR;
            pv->uk(mr, np, Kp / 4, pv->pa + m0 * Kp, panel, tile, QCD_NR, pv->bias + m0,
                   pv->mult + m0);
            for (size_t p = 0; p < np; p++)
                for (size_t r = 0; r < mr; r++)
                    j->y[(p0 + p) * M + m0 + r] = tile[r * QCD_NR + p];
        }
    }
}

static int qcdg_run(const sk_node *n, const sk_tensor *X, sk_tensor *Y, sk_kctx *ctx)
{
    const sk_qconvdq_priv *pv = n->priv;
    size_t N = (size_t)X->shape.dim[0], C = (size_t)pv->C, Kp = sk_qgemm_kp(C);
    size_t npan = (N + QCD_NR - 1) / QCD_NR;
    if (npan == 0)
        return 0;
    if (pv->gemv && N < SK_QGEMMDQ_GEMV_N) { /* K % 4 == 0: Kp == C, rows read in place */
        qcdg_job j = {pv, NULL, X->data, Y->data, N, ((size_t)pv->M + QCDG_MB - 1) / QCDG_MB};
        sk_parallel_for(ctx->pool, j.nmb, 1, qcdg_range, &j);
        return 0;
    }
    /* the packed rows live in the plan's scratch (sk_fast_qconvdq_scratch) */
    size_t need = npan * QCD_NR * Kp;
    uintptr_t a = ((uintptr_t)ctx->scratch + 63) & ~(uintptr_t)63;
    if (!ctx->scratch || ctx->scratch_bytes < need + 64)
        return sk_kfail(ctx, n, SK_ENOMEM, "scratch of %zu bytes for %zu packed rows",
                        ctx->scratch_bytes, npan * QCD_NR);
    uint8_t *panels = (uint8_t *)a;
    const uint8_t *x = X->data;
    for (size_t i = 0; i < npan; i++) {
        size_t np = N - i * QCD_NR < QCD_NR ? N - i * QCD_NR : QCD_NR;
        pv->pack_nhwc(x + i * QCD_NR * C, C, np, pv->x_s8 ? 0x80 : 0,
                      panels + i * QCD_NR * Kp);
    }
    qcdg_job j = {pv, panels, x, Y->data, N, ((size_t)pv->M + QCDG_MB - 1) / QCDG_MB};
    sk_parallel_for(ctx->pool, npan * j.nmb, 1, qcdg_range, &j);
    return 0;
}
#endif

size_t sk_fast_qconvdq_scratch(const sk_node *n, const sk_tensor *const *in, int nin)
{
    const sk_qconvdq_priv *pv = n->priv;
    if (!pv || !pv->uk || !pv->gemm || nin < 1 || !in[0] || in[0]->shape.rank != 2)
        return 0; /* the conv form and the GEMV read x in place */
    size_t N = (size_t)in[0]->shape.dim[0];
    if (pv->gemv && N < SK_QGEMMDQ_GEMV_N)
        return 0;
    size_t npan = (N + QCD_NR - 1) / QCD_NR;
    return npan ? npan * QCD_NR * sk_qgemm_kp((size_t)pv->C) + 64 : 0;
}

int sk_fast_run_qconvdq(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    const sk_qconvdq_priv *pv = n->priv;
    const sk_op_info *info = sk_op_get(n->op);
    sk_tensor chk = {0};
    int rc = info->infer(n, in, nin, &chk, 1, ctx); /* the reference's checks */
    if (rc)
        return rc;
    int x_s8 = pv && in[0]->dtype == SK_I8;
    if (!pv || !pv->uk || nout < 1 || in[0]->dtype != (pv->x_s8 ? SK_I8 : SK_U8) || x_s8 != pv->x_s8 ||
        in[0]->shape.dim[1] != pv->C || chk.shape.dim[1] != pv->M) {
        if (pv && pv->x_nhwc) /* the neighbours' layout is a load-time contract */
            return sk_kfail(ctx, n, SK_EINVAL, "channels-last input of another form");
        return info->run(n, in, nin, out, nout, ctx);
    }
#if defined(__x86_64__)
    if (pv->gemm) /* the reference's checks passed: x [N, K], y [N, M] */
        return in[0]->shape.rank == 2 ? qcdg_run(n, in[0], &out[0], ctx)
                                      : info->run(n, in, nin, out, nout, ctx);
    size_t N = (size_t)in[0]->shape.dim[0],
           P = (size_t)(in[0]->shape.dim[2] * in[0]->shape.dim[3]);
    qcd_job j = {pv, in[0]->data, out[0].data, P, (P + QCD_NR - 1) / QCD_NR};
    /* ~256 K multiply-adds a task: the head's 21 x 32 is ~12 panels */
    size_t per = (size_t)(pv->M * pv->C) * QCD_NR, grain = per >= ((size_t)1 << 18)
                                                                 ? 1
                                                                 : ((size_t)1 << 18) / per;
    if (N * j.npan > 0)
        sk_parallel_for(ctx->pool, N * j.npan, grain, qcd_range, &j);
    return 0;
#else
    return info->run(n, in, nin, out, nout, ctx);
#endif
}
