/* fast_qnhwc.c — the 8-bit MaxPool and Concat on channels-last values
 * (issue 22, session 13).
 *
 * Why: the NHWC int8 convs (fast_qconv_nhwc.c) transpose at every value
 * they share with a node that reads NCHW: in a QDQ U-Net or ResNet those
 * are the uint8 MaxPool after a conv and the 8-bit Concat of the skips
 * (with the _QLut that requantizes a Concat input, which is per byte and
 * so layout-free). passes/qlayout.c lets such a node join an NHWC region;
 * here it runs on the channels-last bytes:
 *   MaxPool: each output pixel's C bytes are the max of its window's valid
 *     input pixels' C-byte rows (16 bytes per SSE2 max), threaded over
 *     output pixels; a max is exact, so the bytes are the reference's.
 *   Concat on channels: each output pixel is its inputs' channel rows side
 *     by side; an input that is NCHW (a _QConvTranspose's output) is
 *     transposed while it is copied, and an NCHW output is written so.
 * Both are load-time contracts (the neighbours read and write these
 * layouts), so a node here never falls back to the NCHW reference: a
 * shape it cannot run is an error. */
#include <string.h>

#include "kernels/fast_ops.h"
#include "kernels/fast_qnhwc.h"
#include "threadpool.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ---- MaxPool ------------------------------------------------------------ */

/* dst = max(dst, src) over n bytes; flip = 0x80 orders int8 as unsigned */
static void max_row(uint8_t *dst, const uint8_t *src, size_t n, uint8_t flip)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i f = _mm_set1_epi8((char)flip);
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(dst + i)), f);
        __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), f);
        _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(_mm_max_epu8(a, b), f));
    }
#endif
    for (; i < n; i++)
        if ((uint8_t)(src[i] ^ flip) > (uint8_t)(dst[i] ^ flip))
            dst[i] = src[i];
}

typedef struct mp_job {
    const sk_win *w;
    const uint8_t *x;
    uint8_t *y;
    size_t C;
    uint8_t flip;
} mp_job;

#define MP_TAPS 64 /* windows up to 8x8 take the register path below */

/* output pixels [b, e) of the batch, pixel r = (image, oh, ow); the output
 * position is stepped, not divided, per pixel (session 14) */
static void mp_range(void *arg, size_t b, size_t e)
{
    const mp_job *j = arg;
    const sk_win *w = j->w;
    size_t H = (size_t)w->in[1], W = (size_t)w->in[2], OH = (size_t)w->out[1],
           OW = (size_t)w->out[2], C = j->C;
    size_t img = b / (OH * OW), oh = b / OW % OH, ow = b % OW;
    for (size_t r = b; r < e; r++) {
        const uint8_t *x = j->x + img * H * W * C;
        uint8_t *y = j->y + r * C;
        /* the window's valid taps */
        const uint8_t *tap[MP_TAPS];
        size_t nt = 0;
        int few = w->k[1] * w->k[2] <= MP_TAPS;
        for (int64_t i = 0; i < w->k[1]; i++) {
            int64_t ih = (int64_t)oh * w->stride[1] - w->pb[1] + i * w->dil[1];
            if (ih < 0 || ih >= (int64_t)H)
                continue;
            for (int64_t t = 0; t < w->k[2]; t++) {
                int64_t iw = (int64_t)ow * w->stride[2] - w->pb[2] + t * w->dil[2];
                if (iw < 0 || iw >= (int64_t)W)
                    continue;
                const uint8_t *src = x + ((size_t)ih * W + (size_t)iw) * C;
                if (few)
                    tap[nt] = src;
                else if (!nt)
                    memcpy(y, src, C);
                else
                    max_row(y, src, C, j->flip);
                nt++;
            }
        }
        size_t c = 0;
#if defined(__SSE2__)
        /* each 16 channels' max over the taps in a register, stored once:
         * ResNet's stem pool (9 taps of 64 bytes) went through a memcpy
         * and eight max_row calls a pixel */
        const __m128i f = _mm_set1_epi8((char)j->flip);
        for (; few && c + 16 <= C; c += 16) {
            __m128i m = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(tap[0] + c)), f);
            for (size_t t = 1; t < nt; t++)
                m = _mm_max_epu8(m, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(tap[t] + c)), f));
            _mm_storeu_si128((__m128i *)(y + c), _mm_xor_si128(m, f));
        }
#endif
        for (; few && c < C; c++) {
            uint8_t m = tap[0][c];
            for (size_t t = 1; t < nt; t++)
                if ((uint8_t)(tap[t][c] ^ j->flip) > (uint8_t)(m ^ j->flip))
                    m = tap[t][c];
            y[c] = m;
        }
        if (++ow == OW) {
            ow = 0;
            if (++oh == OH) {
                oh = 0;
                img++;
            }
        }
    }
}

int sk_fast_run_max_pool_nhwc(const sk_node *n, const sk_tensor *const *in, int nin,
                              sk_tensor *out, int nout, sk_kctx *ctx)
{
    sk_tensor chk = {0};
    int rc = sk_op_get(n->op)->infer(n, in, nin, &chk, 1, ctx);
    if (rc)
        return rc;
    if (nin < 1 || (in[0]->dtype != SK_U8 && in[0]->dtype != SK_I8))
        return sk_kfail(ctx, n, -1, "channels-last MaxPool needs 8-bit input");
    /* sk_qpool_geometry admits uint8; int8 has the same windows */
    sk_tensor u = *in[0];
    u.dtype = SK_U8;
    const sk_tensor *ui[1] = {&u};
    sk_win w;
    /* every window holds an input: passes/qlayout.c joins only such pools */
    if (!sk_qpool_geometry(n, ui, 1, nout, &w))
        return sk_kfail(ctx, n, -1,
                        "channels-last MaxPool needs 2-D windows that each hold an input");
    if (out[0].dtype != in[0]->dtype)
        return sk_kfail(ctx, n, -1, "channels-last MaxPool: output type differs from input");
    mp_job j = {&w, in[0]->data, out[0].data, (size_t)in[0]->shape.dim[1],
                in[0]->dtype == SK_I8 ? 0x80 : 0};
    size_t npix = (size_t)(in[0]->shape.dim[0] * w.out[1] * w.out[2]);
    size_t work = j.C * (size_t)(w.k[1] * w.k[2]) + 1;
    if (npix > 0 && j.C > 0)
        sk_parallel_for(ctx->pool, npix, work < 8192 ? 8192 / work : 1, mp_range, &j);
    return 0;
}

/* ---- Concat on channels ------------------------------------------------- */

#define CAT_PIX 64 /* pixels per task: an NCHW side reads 64-byte runs */

/* d[j * ds + i] = s[i * ss + j] for i < ni, j < nj: the byte transpose of an
 * NCHW side, 16 x 16 blocks through SSE2 unpacks, the rim byte by byte */
static void tr_bytes(const uint8_t *s, size_t ss, uint8_t *d, size_t ds, size_t ni, size_t nj)
{
    size_t i0 = 0;
#if defined(__SSE2__)
    for (; i0 + 16 <= ni; i0 += 16) {
        size_t j0 = 0;
        for (; j0 + 16 <= nj; j0 += 16) {
            __m128i r[16], t[16];
            for (int k = 0; k < 16; k++)
                r[k] = _mm_loadu_si128((const __m128i *)(s + (i0 + k) * ss + j0));
            /* four rounds of interleaving: bytes, 16-, 32-, 64-bit pairs */
            for (int k = 0; k < 8; k++) {
                t[k] = _mm_unpacklo_epi8(r[2 * k], r[2 * k + 1]);
                t[k + 8] = _mm_unpackhi_epi8(r[2 * k], r[2 * k + 1]);
            }
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 4; k++) {
                    r[h * 8 + k] = _mm_unpacklo_epi16(t[h * 8 + 2 * k], t[h * 8 + 2 * k + 1]);
                    r[h * 8 + k + 4] = _mm_unpackhi_epi16(t[h * 8 + 2 * k], t[h * 8 + 2 * k + 1]);
                }
            for (int q = 0; q < 4; q++)
                for (int k = 0; k < 2; k++) {
                    t[q * 4 + k] = _mm_unpacklo_epi32(r[q * 4 + 2 * k], r[q * 4 + 2 * k + 1]);
                    t[q * 4 + k + 2] = _mm_unpackhi_epi32(r[q * 4 + 2 * k], r[q * 4 + 2 * k + 1]);
                }
            for (int q = 0; q < 8; q++) {
                r[q * 2] = _mm_unpacklo_epi64(t[q * 2], t[q * 2 + 1]);
                r[q * 2 + 1] = _mm_unpackhi_epi64(t[q * 2], t[q * 2 + 1]);
            }
            /* r[k] now holds column j0 + k of the 16 rows */
            for (int k = 0; k < 16; k++)
                _mm_storeu_si128((__m128i *)(d + (j0 + (size_t)k) * ds + i0), r[k]);
        }
        for (size_t i = i0; i < i0 + 16; i++)
            for (size_t j = j0; j < nj; j++)
                d[j * ds + i] = s[i * ss + j];
    }
#endif
    for (size_t i = i0; i < ni; i++)
        for (size_t j = 0; j < nj; j++)
            d[j * ds + i] = s[i * ss + j];
}

/* np rows of n bytes, src rows n apart, dst rows ld apart: 16-byte moves
 * inline where n is a multiple of 16 (the U-Net's 32- to 256-channel
 * pixels: a libc call per 32-byte pixel cost more than the copy) */
static void copy_rows(uint8_t *d, size_t ld, const uint8_t *s, size_t n, size_t np)
{
#if defined(__SSE2__)
    if (n % 16 == 0) {
        for (size_t p = 0; p < np; p++, d += ld, s += n)
            for (size_t i = 0; i < n; i += 16)
                _mm_storeu_si128((__m128i *)(d + i), _mm_loadu_si128((const __m128i *)(s + i)));
        return;
    }
#endif
    for (size_t p = 0; p < np; p++)
        memcpy(d + p * ld, s + p * n, n);
}

typedef struct cat_job {
    const sk_tensor *const *in;
    int nin;
    uint64_t nhwc;
    uint8_t *o;
    size_t Ct, P, nblk;
} cat_job;

/* tasks [b, e): task t = (image, block of CAT_PIX pixels) */
static void cat_range(void *arg, size_t b, size_t e)
{
    const cat_job *j = arg;
    int onhwc = (j->nhwc & SK_QNHWC_OUT) != 0;
    size_t P = j->P, Ct = j->Ct;
    for (size_t t = b; t < e; t++) {
        size_t img = t / j->nblk, p0 = t % j->nblk * CAT_PIX;
        size_t np = P - p0 < CAT_PIX ? P - p0 : CAT_PIX;
        size_t off = 0;
        for (int i = 0; i < j->nin; i++) {
            size_t Ci = (size_t)j->in[i]->shape.dim[1];
            const uint8_t *x = (const uint8_t *)j->in[i]->data + img * Ci * P;
            int inhwc = (int)(j->nhwc >> i & 1);
            if (onhwc) {
                uint8_t *o = j->o + (img * P + p0) * Ct + off;
                if (inhwc)
                    copy_rows(o, Ct, x + p0 * Ci, Ci, np);
                else /* rows = channels (stride P) -> rows = pixels (stride Ct) */
                    tr_bytes(x + p0, P, o, Ct, Ci, np);
            } else {
                uint8_t *o = j->o + (img * Ct + off) * P + p0;
                if (inhwc) /* rows = pixels (stride Ci) -> rows = channels (stride P) */
                    tr_bytes(x + p0 * Ci, Ci, o, P, np, Ci);
                else
                    for (size_t c = 0; c < Ci; c++)
                        memcpy(o + c * P, x + c * P + p0, np);
            }
            off += Ci;
        }
    }
}

int sk_fast_run_concat_nhwc(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx)
{
    const sk_qnhwc_priv *pv = n->priv;
    sk_tensor chk = {0};
    int rc = sk_op_get(n->op)->infer(n, in, nin, &chk, 1, ctx);
    if (rc)
        return rc;
    /* the reference's infer checked the shapes agree off the axis */
    if (nout < 1 || nin > SK_QNHWC_MAXIN || out[0].shape.rank != 4 ||
        sk_dtype_size(out[0].dtype) != 1 ||
        (sk_attr_int(n, "axis", 0) != 1 && sk_attr_int(n, "axis", 0) != -3))
        return sk_kfail(ctx, n, -1, "channels-last Concat needs 8-bit 4-D inputs on axis 1");
    const sk_shape *os = &out[0].shape;
    size_t P = (size_t)(os->dim[2] * os->dim[3]);
    cat_job j = {in, nin, pv->nhwc, out[0].data, (size_t)os->dim[1], P,
                 (P + CAT_PIX - 1) / CAT_PIX};
    size_t tasks = (size_t)os->dim[0] * j.nblk;
    if (tasks > 0 && j.Ct > 0)
        sk_parallel_for(ctx->pool, tasks, 1, cat_range, &j);
    return 0;
}
