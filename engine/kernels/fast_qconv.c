/* fast_qconv.c — QLinearConv / _QConvFused on the int8 GEMM (fast_qconv.h).
 *
 * Per (image, group): the columns are gathered straight into the GEMM's
 * c4 B panels (implicit im2col; out-of-image taps take x's zero point, so
 * they add nothing; int8 x is flipped to uint8 on the way; a 1x1 stride-1
 * unpadded conv interleaves X's channel rows), the threads splitting the
 * panels; then sk_qgemm_run splits the output tiles over them. Everything
 * per element is integer arithmetic plus the epilogue of qgemm.h, so the
 * result equals the reference kernels' bit for bit at any thread count. */
#include "fast_qconv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ref/nn_util.h"
#include "kernels/ref/quant_util.h"
#include "threadpool.h"

void sk_qconv_priv_free(void *p)
{
    sk_qconv_priv *q = p;
    if (!q)
        return;
    sk_free(q->pa);
    sk_qconv_free_nhwc(q);
    sk_free(q->dww);
    sk_free(q->dww_pairs);
    free(q->bias);
    free(q->mult);
    free(q);
}

/* a constant value's data, or NULL (absent input: ok = 1, data NULL) */
static const sk_value *cval(const sk_graph *g, const sk_node *n, int slot, int *ok)
{
    int v = slot < n->nin ? n->in[slot] : -1;
    if (v < 0)
        return NULL;
    const sk_value *val = &g->values[v];
    if (!val->data)
        *ok = 0;
    return val;
}

static int scalar_of(const sk_value *v, sk_dtype want, int32_t *zp)
{
    if (!v) {
        *zp = 0;
        return 1;
    }
    if (v->dtype != want || sk_shape_numel(&v->shape) != 1)
        return 0;
    *zp = sk_q_load(want, v->data, 0);
    return 1;
}

static int fscalar(const sk_value *v, float *s)
{
    if (!v || v->dtype != SK_F32 || sk_shape_numel(&v->shape) != 1)
        return 0;
    *s = *(const float *)v->data;
    return isfinite(*s) && *s != 0.0f;
}

/* Session 17: a merged table that is a clamp to [a, b] in the conv's own
 * output type — what passes/qdq_act.c writes for a ReLU6 / Clip / Relu —
 * is folded into the epilogue's clamp instead of a lookup pass over every
 * output byte: clamp(clamp(v, lo, hi), a, b) = clamp(v, max(lo, a),
 * min(hi, b)) when those bounds meet (else the table stays).
 * SKIPSERVE_INT8_LUT_CLAMP=0 at load keeps every table (A/B). */
static int lut_clamp(const uint8_t *t, int s8, int32_t *a, int32_t *b)
{
    const char *e = getenv("SKIPSERVE_INT8_LUT_CLAMP");
    if (e && !strcmp(e, "0"))
        return 0;
    int32_t va = s8 ? (int8_t)t[0] : t[0], vb = s8 ? (int8_t)t[255] : t[255];
    if (va > vb)
        return 0;
    for (int i = 0; i < 256; i++) { /* index: the byte, + 128 for int8 */
        int32_t v = s8 ? i - 128 : i, want = v < va ? va : v > vb ? vb : v;
        if ((s8 ? (int8_t)t[i] : t[i]) != want)
            return 0;
    }
    *a = va;
    *b = vb;
    return 1;
}

int sk_qconv_pack(const sk_graph *g, sk_node *n, const sk_kconfig *kc, int pblock)
{
    if (!kc || !kc->qgemm.uk || n->nin < 8 || n->in[0] < 0 || n->nout != 1)
        return 0;
    int ok = 1;
    const sk_value *xs = cval(g, n, 1, &ok), *xz = cval(g, n, 2, &ok), *w = cval(g, n, 3, &ok),
                   *ws = cval(g, n, 4, &ok), *wz = cval(g, n, 5, &ok), *ys = cval(g, n, 6, &ok),
                   *yz = cval(g, n, 7, &ok), *b = cval(g, n, 8, &ok);
    int has_res = n->op == SK_OP_QCONV_FUSED && n->nin > 9 && n->in[9] >= 0;
    const sk_value *rs = NULL, *rz = NULL, *cs = NULL, *cz = NULL;
    if (has_res) {
        rs = cval(g, n, 10, &ok);
        rz = cval(g, n, 11, &ok);
        cs = cval(g, n, 12, &ok);
        cz = cval(g, n, 13, &ok);
    }
    if (!ok || !w || !xs || !ws || !ys || !xz || w->dtype != SK_I8 || w->shape.rank != 4)
        return 0;
    /* x's type is its zero point's; y's (and the fused output's) likewise */
    sk_dtype xt = xz->dtype, yt = yz ? yz->dtype : xt;
    if (!sk_q_is8(xt) || !sk_q_is8(yt))
        return 0;
    int64_t M = w->shape.dim[0], Cg = w->shape.dim[1], kh = w->shape.dim[2],
            kw = w->shape.dim[3];
    int64_t group = sk_attr_int(n, "group", 1);
    if (M < 1 || Cg < 1 || group < 1 || M % group)
        return 0;
    int64_t nws = sk_shape_numel(&ws->shape);
    if (ws->dtype != SK_F32 || (nws != 1 && nws != M))
        return 0;
    if (wz) { /* symmetric weights only: every zero point 0 */
        if (wz->dtype != SK_I8 || sk_shape_numel(&wz->shape) != nws)
            return 0;
        for (int64_t i = 0; i < nws; i++)
            if (((const int8_t *)wz->data)[i] != 0)
                return 0;
    }
    if (b && (b->dtype != SK_I32 || sk_shape_numel(&b->shape) != M))
        return 0;
    float xsc, ysc;
    int32_t xzp, yzp;
    if (!fscalar(xs, &xsc) || !fscalar(ys, &ysc) || !scalar_of(xz, xt, &xzp) ||
        !scalar_of(yz, yt, &yzp))
        return 0;
    float rsc = 0, csc = 0;
    int32_t rzp = 0, czp = 0;
    if (has_res && (!fscalar(rs, &rsc) || !fscalar(cs, &csc) || !rz || rz->dtype != yt ||
                    !scalar_of(rz, yt, &rzp) || (cz && !scalar_of(cz, yt, &czp))))
        return 0;
    size_t K = (size_t)(Cg * kh * kw);
    if (K > ((size_t)1 << 15))
        return 0;
    int32_t xzp_u8 = xt == SK_I8 ? xzp + 128 : xzp;

    sk_qconv_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return SK_ENOMEM;
    pv->q = kc->qgemm;
    pv->M = M;
    pv->Cg = Cg;
    pv->group = group;
    pv->Mg = M / group;
    pv->kh = kh;
    pv->kw = kw;
    pv->K = K;
    pv->pa_group = sk_qgemm_packed_a_bytes(&pv->q, (size_t)pv->Mg, K);
    pv->bias = malloc(sizeof(int32_t) * (size_t)M);
    pv->mult = malloc(sizeof(float) * (size_t)M);
    int32_t *sums = malloc(sizeof(int32_t) * (size_t)M);
    if (!pv->bias || !pv->mult || !sums) {
        free(sums);
        sk_qconv_priv_free(pv);
        return SK_ENOMEM;
    }
    const int8_t *W = w->data;
    pv->x_s8 = xt == SK_I8;
    pv->x_zp_u8 = (uint8_t)xzp_u8;
    int nh = sk_qconv_pack_nhwc(pv, n, W, kc);
    if (nh == 0) /* session 17: a depthwise conv on the level's dw kernel */
        nh = sk_qdw_pack(pv, n, W, kc);
    if (nh < 0) {
        free(sums);
        sk_qconv_priv_free(pv);
        return SK_ENOMEM;
    }
    /* the NCHW panels only where the NHWC path (its own packing) does not
     * run; packed weights in huge pages (engine/sk.c sk_alloc_weights),
     * allocated after the NHWC packing so that no unused piece sits
     * between its weights */
    if (!nh && !(pv->pa = sk_alloc_weights(pv->pa_group * (size_t)group + 64))) {
        free(sums);
        sk_qconv_priv_free(pv);
        return SK_ENOMEM;
    }
    for (int64_t gi = 0; gi < group && !nh; gi++)
        sk_qgemm_pack_a(&pv->q, (size_t)pv->Mg, K, W + (size_t)(gi * pv->Mg) * K, K,
                        pv->pa + (size_t)gi * pv->pa_group);
    sk_qgemm_row_sums((size_t)M, K, W, K, sums);
    int fits = sk_qgemm_fold_requant((size_t)M, K, 1, sums,
                                     b ? (const int32_t *)b->data : NULL, xzp_u8, xsc,
                                     ws->data, (size_t)nws, ysc, pv->bias, pv->mult);
    free(sums);
    if (!fits) {
        sk_qconv_priv_free(pv);
        return 0;
    }
    int relu = n->op == SK_OP_QCONV_FUSED && sk_attr_int(n, "relu", 0) != 0;
    sk_qgemm_params *p = &pv->prm;
    sk_qgemm_params_plain(p, yt == SK_I8, yzp);
    if (has_res) {
        p->y1_scale = ysc;
        p->r_scale = rsc;
        p->r_zp = (float)rzp;
        p->y_scale = csc;
        p->y_zp = (float)czp;
        if (relu)
            p->lo = (float)czp;
        sk_qgemm_res_fast(p); /* the division as a multiply where exact */
    } else if (relu) {
        p->lo1 = (float)yzp;
    }
    pv->x_s8 = xt == SK_I8;
    pv->x_zp_u8 = (uint8_t)xzp_u8;
    pv->has_res = has_res;
    pv->final_s8 = yt == SK_I8;
    if (n->op == SK_OP_QCONV_FUSED && n->nin > 14 && n->in[14] >= 0) {
        int tok = 1;
        const sk_value *t = cval(g, n, 14, &tok);
        if (!tok || t->dtype != SK_U8 || sk_shape_numel(&t->shape) != 256) {
            sk_qconv_priv_free(pv);
            return 0;
        }
        p->lut = t->data;
        pv->final_s8 = sk_attr_int(n, "lut_int8", 0) != 0;
        int32_t ta, tb; /* the table's clamp (b is the bias) */
        float *lo = has_res ? &p->lo : &p->lo1, *hi = has_res ? &p->hi : &p->hi1;
        if (pv->final_s8 == (yt == SK_I8) && lut_clamp(t->data, pv->final_s8, &ta, &tb) &&
            fmaxf(*lo, (float)ta) <= fminf(*hi, (float)tb)) {
            *lo = fmaxf(*lo, (float)ta);
            *hi = fminf(*hi, (float)tb);
            p->lut = NULL;
        }
    }
    pv->pblock = pblock;
    n->priv = pv;
    n->priv_free = sk_qconv_priv_free;
    return 1;
}

/* ---- run ------------------------------------------------------------------ */

typedef struct qpack_job {
    const sk_qconv_priv *pv;
    const uint8_t *x; /* channel 0 of the group in this image */
    const sk_win *w;
    size_t P, H, W, OH, OW;
    uint8_t *cols;    /* per thread: 4 column rows of P bytes */
    uint8_t *dst;     /* the B panels */
    int direct;       /* 1x1, stride 1, no pads: X's rows are the columns */
    size_t x_stride;  /* bytes between two images of x */
    size_t d_stride;  /* bytes between two images' panels */
    size_t ngroups;   /* k groups per image */
} qpack_job;

/* row k = (channel, tap) of the column matrix into row[0, P): the input
 * pixel each output pixel reads there, x's zero point where the tap falls
 * in the padding (flipped to uint8); whole output rows are memcpy'd at
 * stride 1 */
static void qcol_row(const qpack_job *j, const uint8_t *x, size_t k, uint8_t *row)
{
    const sk_qconv_priv *pv = j->pv;
    const sk_win *w = j->w;
    size_t kvol = (size_t)(pv->kh * pv->kw), OW = j->OW;
    uint8_t flip = pv->x_s8 ? 0x80 : 0, zp = pv->x_zp_u8;
    int64_t sh = w->stride[1], sw = w->stride[2], W = (int64_t)j->W;
    size_t ch = k / kvol, t = k % kvol;
    int64_t i = (int64_t)(t / (size_t)pv->kw), jx = (int64_t)(t % (size_t)pv->kw);
    int64_t off = jx * w->dil[2] - w->pb[2];
    /* output columns whose tap lands inside the row: [lo, hi) */
    int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
    int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
    if (hi > (int64_t)OW)
        hi = (int64_t)OW;
    if (lo > hi)
        lo = hi;
    const uint8_t *plane = x + ch * j->H * j->W;
    for (size_t oh = 0; oh < j->OH; oh++, row += OW) {
        int64_t ih = (int64_t)oh * sh - w->pb[1] + i * w->dil[1];
        if (ih < 0 || ih >= (int64_t)j->H) {
            memset(row, zp, OW);
            continue;
        }
        const uint8_t *src = plane + ih * W; /* tap of column ow: src[ow * sw + off] */
        memset(row, zp, (size_t)lo);
        if (sw == 1 && !flip && hi > lo) {
            memcpy(row + lo, src + lo + off, (size_t)(hi - lo));
        } else {
            for (int64_t ow = lo; ow < hi; ow++)
                row[ow] = src[ow * sw + off] ^ flip;
        }
        memset(row + hi, zp, OW - (size_t)hi);
    }
}

/* what row k of the column matrix reads, computed once per run for the
 * blocked path (the divisions it takes cost more than a block's copies):
 * its input plane, the row offset of its tap (ih = oh * sh + dy) and the
 * column offset (iw = ow * sw + off), valid for output columns [lo, hi) */
typedef struct qtap {
    size_t plane;
    int64_t dy, off, lo, hi;
} qtap;

static void qtaps(const qpack_job *j, qtap *t)
{
    const sk_qconv_priv *pv = j->pv;
    const sk_win *w = j->w;
    size_t kvol = (size_t)(pv->kh * pv->kw);
    int64_t sw = w->stride[2], W = (int64_t)j->W;
    for (size_t k = 0; k < pv->K; k++) {
        size_t tp = k % kvol;
        int64_t i = (int64_t)(tp / (size_t)pv->kw), jx = (int64_t)(tp % (size_t)pv->kw);
        int64_t off = jx * w->dil[2] - w->pb[2];
        int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
        int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
        if (hi > (int64_t)j->OW)
            hi = (int64_t)j->OW;
        if (lo > hi)
            lo = hi;
        t[k] = (qtap){(k / kvol) * j->H * j->W, i * w->dil[1] - w->pb[1], off, lo, hi};
    }
}

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* the short copies and fills of a block's rows (an output row of a late
 * layer is 7-56 bytes, its padding 0-3): inline, as a libc call per piece
 * cost more than the bytes (10% of ResNet-18 QDQ in memmove / memset) */
static inline void put_bytes(uint8_t *d, const uint8_t *src, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(d + i), _mm_loadu_si128((const __m128i *)(src + i)));
#endif
    for (; i < n; i++)
        d[i] = src[i];
}

static inline void fill_bytes(uint8_t *d, uint8_t v, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    __m128i vv = _mm_set1_epi8((char)v);
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(d + i), vv);
#endif
    for (; i < n; i++)
        d[i] = v;
}

/* d[i] = src[2 i] ^ flip for i < n; src[2 n - 1] must be readable (the
 * caller's row holds it): stride-2 convs (the stem, the downsampling 3x3
 * and 1x1) */
static inline void put_even(uint8_t *d, const uint8_t *src, size_t n, uint8_t flip)
{
    size_t i = 0;
#if defined(__SSE2__)
    __m128i lo = _mm_set1_epi16(0x00ff), fl = _mm_set1_epi8((char)flip);
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + 2 * i)), lo);
        __m128i b = _mm_and_si128(_mm_loadu_si128((const __m128i *)(src + 2 * i + 16)), lo);
        _mm_storeu_si128((__m128i *)(d + i), _mm_xor_si128(_mm_packus_epi16(a, b), fl));
    }
#endif
    for (; i < n; i++)
        d[i] = src[2 * i] ^ flip;
}

/* row k (tap t) of the column matrix restricted to the n output pixels
 * from (oh, ow0) on, across output rows, into row[0, n): qcol_row for a
 * block */
static void qcol_part(const qpack_job *j, const uint8_t *x, const qtap *t, size_t oh,
                      size_t ow0, size_t n, uint8_t *row)
{
    size_t OW = j->OW;
    uint8_t flip = j->pv->x_s8 ? 0x80 : 0, zp = j->pv->x_zp_u8;
    int64_t sh = j->w->stride[1], sw = j->w->stride[2], off = t->off, W = (int64_t)j->W;
    const uint8_t *plane = x + t->plane;
    for (; n; oh++, ow0 = 0) {
        size_t ow1 = OW - ow0 < n ? OW : ow0 + n, len = ow1 - ow0;
        int64_t ih = (int64_t)oh * sh + t->dy;
        if (ih < 0 || ih >= (int64_t)j->H) {
            fill_bytes(row, zp, len);
        } else {
            /* [ow0, l) padding, [l, h) inside the row, [h, ow1) padding */
            int64_t l = t->lo < (int64_t)ow0 ? (int64_t)ow0
                        : t->lo > (int64_t)ow1 ? (int64_t)ow1 : t->lo;
            int64_t h = t->hi < l ? l : t->hi > (int64_t)ow1 ? (int64_t)ow1 : t->hi;
            const uint8_t *src = plane + ih * W;
            fill_bytes(row, zp, (size_t)l - ow0);
            uint8_t *d = row + ((size_t)l - ow0);
            if (sw == 1 && !flip) {
                put_bytes(d, src + l + off, (size_t)(h - l));
            } else if (sw == 2 && h > l) {
                /* pairs while src[2 ow + off + 1] is inside the row */
                int64_t hp = (W - off) / 2 < h ? (W - off) / 2 : h;
                hp = hp < l ? l : hp;
                put_even(d, src + 2 * l + off, (size_t)(hp - l), flip);
                for (int64_t ow = hp; ow < h; ow++)
                    d[ow - l] = src[ow * 2 + off] ^ flip;
            } else {
                for (int64_t ow = l; ow < h; ow++)
                    *d++ = src[ow * sw + off] ^ flip;
            }
            fill_bytes(row + ((size_t)h - ow0), zp, ow1 - (size_t)h);
        }
        row += len;
        n -= len;
    }
}

/* k groups [begin, end): their four column rows gathered into this
 * thread's 4 x P rows (or read from X for a direct 1x1 conv), then packed
 * into every B panel while they are in cache */
static void qgroup_range(void *arg, int tid, size_t begin, size_t end)
{
    const qpack_job *j = arg;
    const sk_qconv_priv *pv = j->pv;
    uint8_t *tmp = j->cols + (size_t)tid * 4 * j->P;
    for (size_t t = begin; t < end; t++) {
        size_t img = t / j->ngroups, g = t % j->ngroups;
        const uint8_t *x = j->x + img * j->x_stride;
        const uint8_t *rows[4];
        for (size_t i = 0; i < 4; i++) {
            size_t k = 4 * g + i;
            if (k >= pv->K) {
                rows[i] = NULL;
            } else if (j->direct) {
                rows[i] = x + k * j->P;
            } else {
                qcol_row(j, x, k, tmp + i * j->P);
                rows[i] = tmp + i * j->P;
            }
        }
        sk_qgemm_pack_b_group(&pv->q, pv->K, g, j->P, rows,
                              j->direct && pv->x_s8 ? 0x80 : 0, j->dst + img * j->d_stride);
    }
}

/* ---- the blocked path --------------------------------------------------
 * Why: the path above gathers and packs the columns of the whole image
 * (K x P bytes: 19 MB for a 32-channel 3x3 conv at 256x256) before the
 * GEMM reads them back, so every byte goes to memory and back. Here a task
 * is (image, block of output columns): its thread gathers and packs only
 * that block's panels (about PBLOCK_BYTES, kept in L2) and multiplies them
 * by all of A at once. Every element is still one microkernel call over
 * all of K (the same bits). Tasks are whole blocks, so it is used when
 * there are enough of them to share (or on one thread). */
#define PBLOCK_BYTES ((size_t)192 * 1024)

typedef struct qblock_job {
    qpack_job pk;          /* geometry; x = channel 0 of the group, image 0 */
    size_t nb, nblk;       /* columns per block (multiple of NR), blocks per image */
    size_t per_thread;     /* scratch bytes of one thread */
    uint8_t *scratch;
    const int8_t *pa;
    const sk_qgemm_params *p;
    const qtap *taps;      /* K (unused by a direct conv) */
    uint8_t *y;            /* the group's first output row, image 0 */
    const uint8_t *res;
    size_t y_stride;       /* bytes between two images of y (and res) */
} qblock_job;

static void qblock_range(void *arg, int tid, size_t begin, size_t end)
{
    const qblock_job *j = arg;
    const qpack_job *pk = &j->pk;
    const sk_qconv_priv *pv = pk->pv;
    uint8_t *panels = j->scratch + (size_t)tid * j->per_thread;
    uint8_t *tmp = panels + j->nb * sk_qgemm_kp(pv->K) + 64;
    size_t P = pk->P, ngroups = sk_qgemm_kp(pv->K) / 4;
    for (size_t t = begin; t < end; t++) {
        size_t img = t / j->nblk, p0 = (t % j->nblk) * j->nb;
        size_t nc = P - p0 < j->nb ? P - p0 : j->nb;
        size_t oh = p0 / pk->OW, ow0 = p0 % pk->OW;
        const uint8_t *x = pk->x + img * pk->x_stride;
        for (size_t g = 0; g < ngroups; g++) {
            const uint8_t *rows[4];
            for (size_t i = 0; i < 4; i++) {
                size_t k = 4 * g + i;
                if (k >= pv->K) {
                    rows[i] = NULL;
                } else if (pk->direct) {
                    rows[i] = x + k * P + p0;
                } else {
                    qcol_part(pk, x, j->taps + k, oh, ow0, nc, tmp + i * j->nb);
                    rows[i] = tmp + i * j->nb;
                }
            }
            sk_qgemm_pack_b_group(&pv->q, pv->K, g, nc, rows,
                                  pk->direct && pv->x_s8 ? 0x80 : 0, panels);
        }
        size_t yo = img * j->y_stride + p0;
        sk_qgemm_run(&pv->q, NULL, (size_t)pv->Mg, nc, pv->K, j->pa, panels, j->y + yo, P,
                     j->res ? j->res + yo : NULL, P, j->p);
    }
}

/* columns per block for K (a multiple of NR), or 0 for the unblocked path */
static size_t block_cols(const sk_qconv_priv *pv, size_t P, size_t images, int nthreads)
{
    size_t NR = (size_t)pv->q.nr, Kp = sk_qgemm_kp(pv->K);
    if (pv->pblock < 0)
        return 0;
    size_t nb = pv->pblock > 0 ? (size_t)pv->pblock : PBLOCK_BYTES / Kp;
    nb = (nb + NR - 1) / NR * NR;
    if (nb < NR)
        nb = NR;
    size_t whole = (P + NR - 1) / NR * NR;
    if (nb > whole)
        nb = whole;
    size_t tasks = images * ((P + nb - 1) / nb);
    /* few whole-block tasks would leave threads idle: the unblocked path
     * splits the GEMM's tiles instead */
    if (pv->pblock == 0 && nthreads > 1 && tasks < 4 * (size_t)nthreads)
        return 0;
    return nb;
}

/* per thread: a block's panels, four column rows; then the K taps */
static size_t block_per_thread(const sk_qconv_priv *pv, size_t nb)
{
    return (nb * sk_qgemm_kp(pv->K) + 64 + 4 * nb + 63) & ~(size_t)63;
}

static size_t block_scratch(const sk_qconv_priv *pv, size_t nb, int nthreads)
{
    return block_per_thread(pv, nb) * (size_t)(nthreads > 0 ? nthreads : 1) +
           pv->K * sizeof(qtap);
}

static int is_direct(const sk_qconv_priv *pv, const sk_win *w)
{
    return pv->kh == 1 && pv->kw == 1 && w->stride[1] == 1 && w->stride[2] == 1 &&
           w->pb[1] == 0 && w->pb[2] == 0 && w->pe[1] == 0 && w->pe[2] == 0;
}

/* images whose panels are packed and multiplied together: up to 2 MiB of
 * panels, so the small late layers of a batch cost two thread
 * synchronizations per conv instead of two per image, while a large layer's
 * panels (one image: up to a few MiB) are still read back from L2/L3 right
 * after packing (16 MiB was slower at batch 8 on ResNet-18); at least one */
static size_t chunk_images(size_t panels, size_t N)
{
    size_t c = ((size_t)2 << 20) / (panels ? panels : 1);
    c = c < 1 ? 1 : c;
    return c < N ? c : (N ? N : 1);
}

size_t sk_fast_qconv_scratch(const sk_node *n, const sk_tensor *out, int nthreads)
{
    const sk_qconv_priv *pv = n->priv;
    if (!pv || !out || out->shape.rank != 4)
        return 0;
    if (pv->ig.uk)
        return sk_qconv_scratch_nhwc(pv, out, nthreads);
    if (pv->dwk.uk)
        return sk_qdw_scratch(pv, out, nthreads);
    size_t P = (size_t)(out->shape.dim[2] * out->shape.dim[3]);
    size_t npan = (P + (size_t)pv->q.nr - 1) / (size_t)pv->q.nr;
    size_t panels = npan * sk_qgemm_b_panel_bytes(&pv->q, pv->K) + 64;
    /* the panels of a chunk of images, then four column rows per thread
     * (unused by direct 1x1 convs); or the blocked path's, if larger */
    size_t flat = chunk_images(panels, (size_t)out->shape.dim[0]) * panels +
                  4 * P * (size_t)(nthreads > 0 ? nthreads : 1);
    size_t nb = block_cols(pv, P, (size_t)out->shape.dim[0], nthreads);
    size_t blk = nb ? block_scratch(pv, nb, nthreads) : 0;
    return flat > blk ? flat : blk;
}

int sk_fast_run_qconv(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx)
{
    const sk_qconv_priv *pv = n->priv;
    const sk_op_info *info = sk_op_get(n->op);
    /* the reference checks every shape and type; it also runs what this does not cover */
    sk_tensor chk = {0};
    int rc = info->infer(n, in, nin, &chk, 1, ctx);
    if (rc)
        return rc;
    if (pv && pv->ig.uk) /* channels-last through an indirection buffer */
        return sk_qconv_run_nhwc(n, in, nin, out, ctx);
    if (pv && pv->dwk.uk) /* session 17: depthwise, channels in the lanes */
        return sk_qdw_run(n, in, nin, out, ctx);
    if (!pv || nout < 1 || in[0]->shape.rank != 4 || nin < 8 || in[0]->dtype !=
        (pv->x_s8 ? SK_I8 : SK_U8) || chk.dtype != (pv->final_s8 ? SK_I8 : SK_U8) ||
        in[3]->shape.dim[0] != pv->M || in[3]->shape.dim[1] != pv->Cg ||
        (pv->has_res && (nin < 10 || !in[9])))
        return info->run(n, in, nin, out, nout, ctx);
    sk_win w;
    if ((rc = sk_win_resolve(n, ctx, &in[0]->shape, in[3]->shape.dim + 2, 0, &w)))
        return rc;
    size_t H = (size_t)w.in[1], W = (size_t)w.in[2], OW = (size_t)w.out[2];
    size_t P = (size_t)(w.out[1] * w.out[2]);
    size_t N = (size_t)in[0]->shape.dim[0], C = (size_t)in[0]->shape.dim[1];
    size_t NR = (size_t)pv->q.nr, npan = (P + NR - 1) / NR;
    size_t panels = npan * sk_qgemm_b_panel_bytes(&pv->q, pv->K) + 64;
    int direct = is_direct(pv, &w);
    size_t chunk = chunk_images(panels, N);
    size_t need = chunk * panels + (direct ? 0 : 4 * P * (size_t)sk_pool_size(ctx->pool));
    if (!ctx->scratch || ctx->scratch_bytes < need)
        return info->run(n, in, nin, out, nout, ctx);
    uint8_t *cols = (uint8_t *)ctx->scratch + chunk * panels;
    const uint8_t *X = in[0]->data;
    uint8_t *Y = out[0].data;
    const uint8_t *R = pv->has_res ? in[9]->data : NULL;
    size_t M = (size_t)pv->M, Mg = (size_t)pv->Mg, Cg = (size_t)pv->Cg;
    size_t ngroups = sk_qgemm_kp(pv->K) / 4;
    int nth = sk_pool_size(ctx->pool);
    size_t nb = block_cols(pv, P, N, nth);
    if (nb && ctx->scratch_bytes >= block_scratch(pv, nb, nth)) {
        for (size_t gi = 0; gi < (size_t)pv->group; gi++) {
            sk_qgemm_params p = pv->prm;
            p.bias = pv->bias + gi * Mg;
            p.mult = pv->mult + gi * Mg;
            size_t yo = gi * Mg * P;
            qtap *taps = (qtap *)((uint8_t *)ctx->scratch + block_per_thread(pv, nb) * (size_t)nth);
            qblock_job j = {{pv, X + gi * Cg * H * W, &w, P, H, W, (size_t)w.out[1], OW, NULL,
                             NULL, direct, C * H * W, 0, ngroups},
                            nb, (P + nb - 1) / nb, block_per_thread(pv, nb), ctx->scratch,
                            pv->pa + gi * pv->pa_group, &p, taps, Y + yo, R ? R + yo : NULL,
                            M * P};
            if (!direct)
                qtaps(&j.pk, taps);
            sk_parallel_for_tid(ctx->pool, N * j.nblk, 1, qblock_range, &j);
        }
        return 0;
    }
    for (size_t b0 = 0; b0 < N; b0 += chunk) {
        size_t nb = N - b0 < chunk ? N - b0 : chunk;
        for (size_t gi = 0; gi < (size_t)pv->group; gi++) {
            qpack_job j = {pv,    X + (b0 * C + gi * Cg) * H * W, &w, P, H, W, (size_t)w.out[1],
                           OW,    cols, ctx->scratch, direct, C * H * W, panels, ngroups};
            sk_parallel_for_tid(ctx->pool, nb * ngroups, 1, qgroup_range, &j);
            sk_qgemm_params p = pv->prm;
            p.bias = pv->bias + gi * Mg;
            p.mult = pv->mult + gi * Mg;
            size_t yo = (b0 * M + gi * Mg) * P;
            sk_qgemm_run_batch(&pv->q, ctx->pool, nb, Mg, P, pv->K, pv->pa + gi * pv->pa_group,
                               ctx->scratch, panels, Y + yo, P, M * P, R ? R + yo : NULL, P,
                               M * P, &p);
        }
    }
    return 0;
}
