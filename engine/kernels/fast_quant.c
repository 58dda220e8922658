/* fast_quant.c — QuantizeLinear (float32 -> uint8/int8) and
 * DequantizeLinear (uint8/int8 -> float32) per tensor, threaded and
 * vectorized (issue 22).
 *
 * Why: in QDQ graphs the Q / DQ nodes the passes cannot fold (the model's
 * input QuantizeLinear, the Q after a float ConvTranspose, DQ into the
 * float head) ran on the serial reference, one nearbyintf and one divide at
 * a time: ~13% of ResNet-18 QDQ batch 1 and ~16% of the U-Net.
 *
 * Same bits as ref/quant.c (quant_util.h): q = sat(round_half_even(x / s)
 * + zp), x = (float)(q - zp) * s. The vector form divides (never multiplies
 * by 1/s, which rounds differently), converts with cvtps2dq (MXCSR's
 * round-to-nearest-even, the mode nearbyintf uses), adds zp in int32 and
 * saturates with packs; x / s is first clamped to +-512 (any value beyond
 * saturates either way: |zp| <= 255) and NaN is zeroed (the reference maps
 * NaN to the saturated zero point). Per-axis scales, int32 inputs and other
 * forms run the reference. SSE2 is the x86-64 baseline, so no per-ISA file
 * is needed; other targets run the same loop through sk_q_round_sat. */
#include <string.h>

#include "kernels/fast_ops.h"
#include "kernels/qgemm.h"
#include "kernels/ref/quant_util.h"
#include "threadpool.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define QCHUNK ((size_t)16384) /* elements per task */

typedef struct qjob {
    const void *x;
    void *y;
    size_t n;
    float scale;
    int32_t zp;
    int s8; /* the 8-bit side is int8 (else uint8) */
} qjob;

/* the 8-bit type, scale and zero point of a per-tensor Q / DQ: 1, or 0 when
 * the node is not that form (per axis, runtime zero point of another shape) */
static int per_tensor_q(const sk_tensor *const *in, int nin, sk_dtype qt, qjob *j)
{
    if (nin < 2 || !in[1] || in[1]->dtype != SK_F32 || sk_shape_numel(&in[1]->shape) != 1 ||
        !in[1]->data || !sk_q_is8(qt))
        return 0;
    const sk_tensor *z = nin > 2 ? in[2] : NULL;
    if (z && (z->dtype != qt || sk_shape_numel(&z->shape) != 1 || !z->data))
        return 0;
    j->scale = *(const float *)in[1]->data;
    j->zp = z ? sk_q_load(qt, z->data, 0) : 0;
    j->s8 = qt == SK_I8;
    return 1;
}

static void quant_range(void *arg, size_t b, size_t e)
{
    const qjob *j = arg;
    size_t i = b * QCHUNK, end = e * QCHUNK < j->n ? e * QCHUNK : j->n;
    const float *x = j->x;
    uint8_t *y = j->y;
#if defined(__SSE2__)
    __m128 s = _mm_set1_ps(j->scale), lo = _mm_set1_ps(-512.f), hi = _mm_set1_ps(512.f);
    __m128i zp = _mm_set1_epi32(j->zp);
    for (; i + 16 <= end; i += 16) {
        __m128i q[4];
        for (int k = 0; k < 4; k++) {
            __m128 v = _mm_div_ps(_mm_loadu_ps(x + i + 4 * k), s);
            v = _mm_and_ps(v, _mm_cmpord_ps(v, v)); /* NaN -> 0 -> the zero point */
            v = _mm_min_ps(_mm_max_ps(v, lo), hi);
            q[k] = _mm_add_epi32(_mm_cvtps_epi32(v), zp);
        }
        __m128i a = _mm_packs_epi32(q[0], q[1]), c = _mm_packs_epi32(q[2], q[3]);
        _mm_storeu_si128((__m128i *)(y + i),
                         j->s8 ? _mm_packs_epi16(a, c) : _mm_packus_epi16(a, c));
    }
#endif
    sk_dtype qt = j->s8 ? SK_I8 : SK_U8;
    for (; i < end; i++)
        y[i] = (uint8_t)sk_q_round_sat(x[i] / j->scale, j->zp, qt);
}

static void dequant_range(void *arg, size_t b, size_t e)
{
    const qjob *j = arg;
    size_t i = b * QCHUNK, end = e * QCHUNK < j->n ? e * QCHUNK : j->n;
    const uint8_t *x = j->x;
    float *y = j->y;
#if defined(__SSE2__)
    /* int8 bytes are read as uint8 after ^ 0x80 (value + 128), so the zero
     * point moves by 128 too: q - zp is unchanged */
    __m128i flip = _mm_set1_epi8(j->s8 ? (char)0x80 : 0), z0 = _mm_setzero_si128();
    __m128i zp = _mm_set1_epi32(j->s8 ? j->zp + 128 : j->zp);
    __m128 s = _mm_set1_ps(j->scale);
    for (; i + 16 <= end; i += 16) {
        __m128i u = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(x + i)), flip);
        __m128i w0 = _mm_unpacklo_epi8(u, z0), w1 = _mm_unpackhi_epi8(u, z0);
        __m128i d[4] = {_mm_unpacklo_epi16(w0, z0), _mm_unpackhi_epi16(w0, z0),
                        _mm_unpacklo_epi16(w1, z0), _mm_unpackhi_epi16(w1, z0)};
        for (int k = 0; k < 4; k++)
            _mm_storeu_ps(y + i + 4 * k,
                          _mm_mul_ps(_mm_cvtepi32_ps(_mm_sub_epi32(d[k], zp)), s));
    }
#endif
    for (; i < end; i++) {
        int32_t q = j->s8 ? (int32_t)(int8_t)x[i] : (int32_t)x[i];
        y[i] = (float)(q - j->zp) * j->scale;
    }
}

static void run_chunks(sk_pool *pool, qjob *j, sk_range_fn fn)
{
    size_t chunks = (j->n + QCHUNK - 1) / QCHUNK;
    if (chunks <= 1)
        fn(j, 0, chunks); /* small tensors: no pool round trip */
    else
        sk_parallel_for(pool, chunks, 1, fn, j);
}

int sk_fast_plan_quantize(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in,
                          int nin, const sk_tensor *out, int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)n;
    (void)nthreads;
    *scratch = 0;
    qjob j;
    /* a runtime scale (data NULL at plan time) is still a fast case at run */
    return nout >= 1 && nin >= 2 && in[0] && in[0]->dtype == SK_F32 && in[1] &&
           sk_shape_numel(&in[1]->shape) == 1 &&
           (!in[1]->data || per_tensor_q(in, nin, out[0].dtype, &j));
}

int sk_fast_run_quantize(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                         int nout, sk_kctx *ctx)
{
    /* the reference's checks (attributes, types, a finite non-zero scale) */
    sk_tensor chk = {0};
    int rc = sk_op_get(n->op)->infer(n, in, nin, &chk, 1, ctx);
    if (rc)
        return rc;
    qjob j;
    if (nout < 1 || in[0]->dtype != SK_F32 || !per_tensor_q(in, nin, chk.dtype, &j) ||
        out[0].dtype != chk.dtype)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    j.x = in[0]->data;
    j.y = out[0].data;
    j.n = (size_t)sk_shape_numel(&in[0]->shape);
    run_chunks(ctx->pool, &j, quant_range);
    return 0;
}

int sk_fast_plan_dequantize(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in,
                            int nin, const sk_tensor *out, int nout, int nthreads,
                            size_t *scratch)
{
    (void)kc;
    (void)n;
    (void)out;
    (void)nthreads;
    *scratch = 0;
    return nout >= 1 && nin >= 2 && in[0] && sk_q_is8(in[0]->dtype) && in[1] &&
           sk_shape_numel(&in[1]->shape) == 1;
}

int sk_fast_run_dequantize(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_tensor chk = {0};
    int rc = sk_op_get(n->op)->infer(n, in, nin, &chk, 1, ctx);
    if (rc)
        return rc;
    qjob j;
    if (nout < 1 || out[0].dtype != SK_F32 || !per_tensor_q(in, nin, in[0]->dtype, &j))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    j.x = in[0]->data;
    j.y = out[0].data;
    j.n = (size_t)sk_shape_numel(&in[0]->shape);
    run_chunks(ctx->pool, &j, dequant_range);
    return 0;
}

/* ---- _QLut (passes/qdq.c's 256-entry tables): the same lookups, threaded */

typedef struct lut_job {
    const uint8_t *x, *t;
    uint8_t *y;
    size_t n;
    uint8_t flip;
    int lut_mode;
} lut_job;

static void lut_range(void *arg, size_t b, size_t e)
{
    const lut_job *j = arg;
    size_t end = e * QCHUNK < j->n ? e * QCHUNK : j->n, i = b * QCHUNK;
    if (end > i)
        sk_u8_lut(j->lut_mode, j->t, j->flip, j->x + i, j->y + i, end - i);
}

int sk_fast_plan_qlut(const sk_kconfig *kc, const sk_node *n, const sk_tensor *const *in,
                      int nin, const sk_tensor *out, int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)n;
    (void)in;
    (void)nin;
    (void)out;
    (void)nout;
    (void)nthreads;
    *scratch = 0;
    return 1; /* every _QLut: the run checks through the reference's infer */
}

int sk_fast_run_qlut(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                     int nout, sk_kctx *ctx)
{
    sk_tensor chk = {0};
    int rc = sk_op_get(n->op)->infer(n, in, nin, &chk, 1, ctx);
    if (rc)
        return rc;
    if (nout < 1 || !in[1]->data)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    lut_job j = {in[0]->data, in[1]->data, out[0].data, (size_t)sk_shape_numel(&in[0]->shape),
                 in[0]->dtype == SK_I8 ? 0x80 : 0, ctx->kcfg ? ctx->kcfg->qgemm.lut_mode : 0};
    size_t chunks = (j.n + QCHUNK - 1) / QCHUNK;
    if (chunks <= 1)
        lut_range(&j, 0, chunks);
    else
        sk_parallel_for(ctx->pool, chunks, 1, lut_range, &j);
    return 0;
}
