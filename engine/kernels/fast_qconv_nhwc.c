/* fast_qconv_nhwc.c — QLinearConv / _QConvFused on channels-last uint8
 * activations through an indirection buffer (qigemm.h), issue 22 session 13.
 *
 * Why: the NCHW path (fast_qconv.c) gathers kh*kw copies of its input into
 * im2col columns and interleaves them into c4 panels per run — a third of
 * an int8 ResNet's time. Here the input stays where it is: for each output
 * pixel and tap the microkernel reads the C contiguous channel bytes of the
 * input pixel (or a zero-point row for the padding) through a table of
 * offsets built once per input shape, and writes C' contiguous bytes per
 * output pixel. Nothing is packed per run. Since session 15 the pointers
 * are computed instead (arith_ptrs; the table stays for
 * SKIPSERVE_INT8_ARITH_PTR=0 and kernels of more than 64 taps), and a tile
 * of one output row inside the image gives the kernel only its window
 * origin (the level's dk entry).
 *
 * The tensors keep their NCHW shapes; which of x, the residual and y lie in
 * memory as NHWC is pv->io_nhwc, set at load by passes/qlayout.c for the
 * values that run between two such convs. One that does not (the region's
 * edges: the input, the head, a pool, a concat) is transposed here: x and
 * the residual into scratch before the convolution, y tile by tile while it
 * is in cache.
 *
 * Tasks: (chunk of 8 or 16 pixel tiles of the batch, part of the output
 * channel blocks); a task resolves its tiles' pointers once and runs every
 * channel block over them, so a block's weights are reused across the
 * chunk's tiles while they are in L1/L2. Every output byte is one
 * microkernel call over all taps and channels: the same bits as the
 * reference at any thread count. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "fast_qconv.h"
#include "kernels/ref/nn_util.h"
#include "threadpool.h"

/* tiles per chunk: 8, or CHUNK_MAX where a block's weights outgrow L1 */
#define CHUNK_TILES 8
#define CHUNK_MAX 16
/* default budget of a conv's edge copies (sk_qconv_priv.edge_cap) */
#define EDGE_BYTES ((size_t)8 << 20)

typedef struct sk_qind_cache {
    sk_qind_geo geo;
    int32_t off[]; /* sk_qind_entries(geo, MR) */
} sk_qind_cache;

int64_t sk_qconv_attr2(const sk_node *n, const char *name, int i)
{
    const int64_t *v;
    return sk_attr_ints(n, name, &v) == 2 ? v[i] : 1;
}

size_t sk_qconv_edge_cap(void)
{
    const char *eb = getenv("SKIPSERVE_INT8_EDGE_BYTES");
    return eb && atol(eb) > 0 ? (size_t)atol(eb) : EDGE_BYTES;
}

int sk_qconv_pack_nhwc(sk_qconv_priv *pv, const sk_node *n, const int8_t *w,
                       const sk_kconfig *kc)
{
    const sk_qigemm_cfg *c = &kc->qigemm;
    /* fewer than 4 input channels (an RGB stem): one padded c4 group per
     * tap leaves the kernel paced by its per-tap pointer loads; the NCHW
     * path's gathered K = 3 x 49 is faster there (ResNet-50's 7x7 stem
     * 0.82 vs 1.25 ms at b1, 6.6 vs 9.4 at b8; the U-Net's 3x3 0.84 vs
     * 0.94). Its output is an edge for the region after it.
     * Session 14 (u8): a stride-1 stem takes this path all the same: its
     * output is its input's size x C_out / 3, and that edge cost the conv
     * after it a transpose (U-Net QDQ b1 1T: stem 0.81 -> 0.89 ms, the next
     * conv 2.6 -> 2.0 ms, the model 26.7 -> 26.1 ms). */
    size_t ks = (size_t)(pv->kh * pv->kw), C = (size_t)(pv->Cg + 3) & ~(size_t)3;
    /* ... except as patches (session 14): a 7x7 stem's 147 bytes a pixel
     * make a 1x1 conv of 148 channels, its output NHWC for the pool and
     * layer 1. Kept to kernels of >= 25 taps: the 3x3 C = 3 convs (the
     * U-Net's first) were not measured this way. */
    int patch = pv->Cg < 4 && ks >= 25 && pv->Cg * (int64_t)ks <= 1024;
    int stem_s1 = sk_qconv_attr2(n, "strides", 0) == 1 && sk_qconv_attr2(n, "strides", 1) == 1;
    /* SKIPSERVE_INT8_ARITH_PTR (A/B timing, tests): 0 the indirection table
     * only, 1 pointers by arithmetic, 2 and interior tiles on dk, 3 (default)
     * and a kernel row as one tap there */
    const char *ap = getenv("SKIPSERVE_INT8_ARITH_PTR");
    int arith_ptr = ap && ap[0] >= '0' && ap[0] <= '2' && !ap[1] ? ap[0] - '0' : 3;
    /* Session 15, padded stems: a conv of 1-3 channels on a level with dk
     * copies its NCHW input into an NHWC one of 4-byte pixels with the pads
     * written out as zero-point pixels, so every full tile of one output
     * row is inside the image and runs dk (a tile crossing rows takes the
     * computed per-pixel pointers; with 7-pixel tiles dk is off), a kernel row as one tap (7x7: 7 taps of 7 groups,
     * no per-pixel gather; 3x3: 3 of 3). Instead of patch mode and of the
     * padded-channel indirection (SKIPSERVE_INT8_PAD_STEM=0: those). */
    const char *ps = getenv("SKIPSERVE_INT8_PAD_STEM");
    int pad_in = pv->Cg < 4 && c->dk && arith_ptr == 3 && ks <= 64 &&
                 sk_qconv_attr2(n, "dilations", 1) == 1 && !(ps && !strcmp(ps, "0"));
    /* session 16 (qfl): a stem the padded-stem path takes (any stride:
     * MobileNet-style 3x3 s2) is not turned away here;
     * SKIPSERVE_INT8_PAD_STEM_ANY=0 keeps session 15's rule (A/B) */
    const char *pa = getenv("SKIPSERVE_INT8_PAD_STEM_ANY");
    int pad_any = pad_in && !(pa && !strcmp(pa, "0"));
    if (!c->uk || pv->group != 1 || pv->x_s8 || (pv->Cg < 4 && !patch && !stem_s1 && !pad_any) ||
        pv->Cg > (1 << 20))
        return 0;
    pv->arith_ptr = arith_ptr;
    pv->pad_in = pad_in;
    if (pv->pad_in)
        patch = 0;
    pv->Cp = (int64_t)C;
    size_t kw_bytes = patch ? ((size_t)pv->Cg * ks + 3) & ~(size_t)3 : C * ks;
    pv->kp = patch ? (int64_t)kw_bytes : 0;
    /* packed weights in huge pages (engine/sk.c sk_alloc_weights) */
    pv->wi = sk_alloc_weights(sk_qigemm_packed_w_bytes(c, (size_t)pv->M, kw_bytes, 1) + 64);
    pv->zrow = malloc(C + 64);
    if (!pv->wi || !pv->zrow)
        return SK_ENOMEM;
    if (patch) /* W [M][Cg][kh][kw] is already [M][Cg * kh * kw]: one tap */
        sk_qigemm_pack_w(c, (size_t)pv->M, kw_bytes, (size_t)pv->Cg * ks, 1, w, pv->wi);
    else
        sk_qigemm_pack_w(c, (size_t)pv->M, C, (size_t)pv->Cg, ks, w, pv->wi);
    memset(pv->zrow, pv->x_zp_u8, C + 64);
    pv->sh = sk_qconv_attr2(n, "strides", 0);
    pv->sw = sk_qconv_attr2(n, "strides", 1);
    pv->dh = sk_qconv_attr2(n, "dilations", 0);
    pv->dw = sk_qconv_attr2(n, "dilations", 1);
    pv->ig = *c;
    /* session 19 (ami): where the level's kernel is AMX-INT8, a conv of
     * fewer than SKIPSERVE_INT8_AMX_MINC (default 64) input channels a tap
     * keeps the VNNI one — same packing, same bits: below 64 every 16-group
     * chunk is a tail the kernel copies (A and B) and the stems' 4-byte
     * pixels waste the tile (MobileNetV2 QDQ b8 1T 1.10x, b1 1.055x over
     * AMX everywhere; ResNet-50 b1 1T 1.07x, bench/RESULTS.md session 19
     * ami); SKIPSERVE_INT8_AMX=0 keeps it everywhere (A/B); both read here,
     * at load */
    const char *amx = getenv("SKIPSERVE_INT8_AMX");
    const char *amc = getenv("SKIPSERVE_INT8_AMX_MINC");
    long minc = amc ? atol(amc) : 64;
    if (kc->qigemm_vnni.uk && ((amx && !strcmp(amx, "0")) || (long)C < minc))
        pv->ig = kc->qigemm_vnni;
    /* session 18 (a2q): AVX2 without VNNI — the vpmaddubsw kernel where no
     * packed weight pair can saturate it (7-bit weights: --reduce-range),
     * else the level's exact int16 one; same packing, same bits */
    if (kc->qigemm_pairs.uk && kc->qigemm_pairs.nr == c->nr &&
        sk_qigemm_pairs_fit(pv->wi, sk_qigemm_packed_w_bytes(c, (size_t)pv->M, kw_bytes, 1)))
        pv->ig = kc->qigemm_pairs;
    else if (kc->qigemm16.uk) { /* the others: exact, weights widened here once */
        const sk_qigemm_cfg *c16 = &kc->qigemm16;
        sk_free(pv->wi); /* first: its space is handed out again for w16 */
        int16_t *w16 = sk_alloc_weights(2 * sk_qigemm_packed_w_bytes(c16, (size_t)pv->M, kw_bytes, 1) + 64);
        pv->wi = (int8_t *)(void *)w16;
        if (!w16)
            return SK_ENOMEM;
        if (patch)
            sk_qigemm_pack_w16(c16, (size_t)pv->M, kw_bytes, (size_t)pv->Cg * ks, 1, w, w16);
        else
            sk_qigemm_pack_w16(c16, (size_t)pv->M, C, (size_t)pv->Cg, ks, w, w16);
        pv->ig = *c16;
        pv->w16 = 1;
    }
    /* SKIPSERVE_INT8_EDGE_BYTES=n (read at load): the edge copies' budget
     * (tests force image-by-image groups with 1) */
    pv->edge_cap = sk_qconv_edge_cap();
    const char *pf = getenv("SKIPSERVE_INT8_PREFETCH"); /* =0: off (A/B timing) */
    pv->prefetch = !(pf && !strcmp(pf, "0"));
    const char *st = getenv("SKIPSERVE_INT8_SHORT_TILES"); /* =0: MR-pixel tiles only (A/B) */
    pv->short_tiles = !(st && !strcmp(st, "0"));
    return 1;
}

void sk_qconv_free_nhwc(sk_qconv_priv *pv)
{
    sk_free(pv->wi);
    free(pv->zrow);
    for (int i = 0; i < SK_QIND_CACHED; i++)
        free(atomic_load(&pv->ind[i]));
}

/* ---- scratch ---------------------------------------------------------------- */

#define al64 sk_qal64

/* Scratch for a run's own indirection table (a shape past the cached ones):
 * none where no table is ever read — patch mode, or pointers computed
 * (arith_ptrs: any kernel of <= 64 taps unless SKIPSERVE_INT8_ARITH_PTR=0);
 * a 256x256 3x3 conv's table is 2.4 MB. */
static size_t table_bytes(const sk_qconv_priv *pv, size_t tiles, size_t ks, size_t MR)
{
    if (pv->kp || (pv->arith_ptr && ks <= 64))
        return 0;
    return al64(tiles * ks * MR * 4);
}

/* a thread's part: the pointers of a chunk, and its output rows when y is NCHW */
static size_t per_thread(const sk_qconv_priv *pv, size_t ks)
{
    size_t MR = (size_t)pv->ig.mr;
    return al64(CHUNK_MAX * ks * MR * sizeof(void *)) + al64(CHUNK_MAX * MR * (size_t)pv->M) +
           (pv->kp ? al64(CHUNK_MAX * MR * (size_t)pv->kp + 64) : 0);
}

/* x is transposed to NHWC at the edge (not in patch mode: read NCHW) */
static int x_edge(const sk_qconv_priv *pv)
{
    return !(pv->io_nhwc & SK_QNHWC_X) && !pv->kp;
}

/* the NHWC copies of an NCHW x (xb bytes) and residual (rb): only at edges */
size_t sk_qnhwc_edge_bytes(const sk_qconv_priv *pv, size_t xb, size_t rb)
{
    return (x_edge(pv) ? al64(xb) : 0) +
           (pv->has_res && !(pv->io_nhwc & SK_QNHWC_R) ? al64(rb) : 0);
}

/* images whose edge copies are made and convolved together: all of them
 * without an edge; else as many as fit EDGE_BYTES (at least one), so a
 * batch's edge copy does not grow with the batch (the U-Net's 64-channel
 * 256x256 concat at batch 8 would take 33 MB) */
size_t sk_qnhwc_edge_images(const sk_qconv_priv *pv, size_t N, size_t xb1, size_t rb1)
{
    size_t e = sk_qnhwc_edge_bytes(pv, xb1, rb1);
    if (!e || !N)
        return N ? N : 1;
    size_t nb = pv->edge_cap / e;
    return nb < 1 ? 1 : nb > N ? N : nb;
}

/* x's H (W) is at most OH * stride + dilation * (k - 1) for any pads: the
 * plan's scratch is sized from the output alone, and the run picks its
 * image groups from the same bound, so it never needs more */
size_t sk_qnhwc_bound_hw(const sk_qconv_priv *pv, size_t OH, size_t OW)
{
    return (OH * (size_t)pv->sh + (size_t)(pv->dh * (pv->kh - 1))) *
           (OW * (size_t)pv->sw + (size_t)(pv->dw * (pv->kw - 1)));
}

size_t sk_qsplit_parts(int nth, size_t units, size_t nblk)
{
    size_t nparts = 1;
    if (nth > 1 && units < 4 * (size_t)nth) {
        nparts = (4 * (size_t)nth + units - 1) / units;
        nparts = nparts > nblk ? nblk : nparts;
    }
    return nparts;
}

size_t sk_qconv_scratch_nhwc(const sk_qconv_priv *pv, const sk_tensor *out, int nthreads)
{
    size_t N = (size_t)out->shape.dim[0], OH = (size_t)out->shape.dim[2],
           OW = (size_t)out->shape.dim[3], M = (size_t)pv->M, C = (size_t)pv->Cp;
    size_t HW = sk_qnhwc_bound_hw(pv, OH, OW);
    size_t ks = pv->kp ? 1 : (size_t)(pv->kh * pv->kw), MR = (size_t)pv->ig.mr;
    size_t tiles = (OH * OW + MR - 1) / MR;
    size_t nb = sk_qnhwc_edge_images(pv, N, HW * C, OH * OW * M);
    size_t b = sk_qnhwc_edge_bytes(pv, nb * HW * C, nb * OH * OW * M) +
               table_bytes(pv, tiles, ks, MR);
    return b + per_thread(pv, ks) * (size_t)(nthreads > 0 ? nthreads : 1) + 64;
}

/* ---- layout edges ------------------------------------------------------------ */

#if defined(__SSE2__)
#include <emmintrin.h>
/* one 16 x 16 byte block: d[j * ld + i] = s[i * ls + j]. Four rounds of
 * "row pair (2k, 2k+1) -> unpacklo to k, unpackhi to k + 8" rotate the 8
 * bits of (row, column) one step each along a cycle; after four the row
 * and column come out bit-reversed and swapped, so the rows are loaded
 * and stored in bit-reversed order. 32 unpacks per 256 bytes. */
static void tr16(const uint8_t *s, size_t ls, uint8_t *d, size_t ld)
{
    static const uint8_t rev[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
    __m128i a[16], b[16];
    for (int i = 0; i < 16; i++)
        a[i] = _mm_loadu_si128((const __m128i *)(s + rev[i] * ls));
    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 8; k++) {
            b[k] = _mm_unpacklo_epi8(a[2 * k], a[2 * k + 1]);
            b[k + 8] = _mm_unpackhi_epi8(a[2 * k], a[2 * k + 1]);
        }
        memcpy(a, b, sizeof a);
    }
    for (int i = 0; i < 16; i++)
        _mm_storeu_si128((__m128i *)(d + rev[i] * ld), a[i]);
}
#endif

/* d[j * ld + i] = s[i * ls + j] for i < rows, j < cols */
static void tr_bytes(const uint8_t *s, size_t ls, uint8_t *d, size_t ld, size_t rows,
                     size_t cols)
{
    size_t i0 = 0;
#if defined(__SSE2__)
    for (; i0 + 16 <= rows; i0 += 16)
        for (size_t j = 0; j + 16 <= cols; j += 16)
            tr16(s + i0 * ls + j, ls, d + j * ld + i0, ld);
    size_t j0 = cols & ~(size_t)15;
    for (size_t i = 0; i < i0; i++) /* the columns right of the blocks */
        for (size_t j = j0; j < cols; j++)
            d[j * ld + i] = s[i * ls + j];
#endif
    for (size_t i = i0; i < rows; i++) /* the rows below them */
        for (size_t j = 0; j < cols; j++)
            d[j * ld + i] = s[i * ls + j];
}

typedef struct tr_job {
    const uint8_t *s;
    uint8_t *d;
    size_t C, P; /* per image: s is [C][P], d is [P][Cd] */
    size_t Cd;   /* >= C: channels Cd - C of each pixel get `pad` */
    uint8_t pad;
} tr_job;

/* 64 x 64 byte tiles of one image */
static void tr_range(void *arg, size_t begin, size_t end)
{
    const tr_job *j = arg;
    size_t pb = (j->P + 63) / 64, cb = (j->C + 63) / 64;
    for (size_t t = begin; t < end; t++) {
        size_t img = t / (pb * cb), r = t % (pb * cb);
        size_t p0 = (r / cb) * 64, c0 = (r % cb) * 64;
        size_t np = j->P - p0 < 64 ? j->P - p0 : 64, nc = j->C - c0 < 64 ? j->C - c0 : 64;
        const uint8_t *s = j->s + img * j->C * j->P;
        uint8_t *d = j->d + img * j->Cd * j->P;
        tr_bytes(s + c0 * j->P + p0, j->P, d + p0 * j->Cd + c0, j->Cd, nc, np);
        if (j->Cd > j->C && c0 + nc == j->C) /* 1-3 bytes a pixel: no memset call */
            for (size_t p = p0; p < p0 + np; p++)
                for (size_t k = j->C; k < j->Cd; k++)
                    d[p * j->Cd + k] = j->pad;
    }
}

static void to_nhwc(sk_pool *pool, const uint8_t *s, uint8_t *d, size_t N, size_t C, size_t P,
                    size_t Cd, uint8_t pad)
{
    tr_job j = {s, d, C, P, Cd, pad};
    sk_parallel_for(pool, N * ((P + 63) / 64) * ((C + 63) / 64), 1, tr_range, &j);
}

/* Session 15 (pv->pad_in): image rows of Cg <= 3 planes -> rows of Wp
 * 4-byte pixels (channels, then the zero point) inside a frame of Hp x Wp
 * zero-point pixels, the image at (pt, pl): the padded NHWC input. */
typedef struct trp_job {
    const uint8_t *s;
    uint8_t *d;
    size_t Cg, H, W, Hp, Wp, pt, pl;
    uint8_t zp;
} trp_job;

static void trp_range(void *arg, size_t begin, size_t end)
{
    const trp_job *j = arg;
    size_t HW = j->H * j->W;
    for (size_t r = begin; r < end; r++) {
        size_t img = r / j->Hp, hp = r % j->Hp;
        uint8_t *d = j->d + r * j->Wp * 4;
        memset(d, j->zp, j->Wp * 4);
        if (hp < j->pt || hp - j->pt >= j->H || j->pl >= j->Wp)
            continue;
        const uint8_t *s = j->s + img * j->Cg * HW + (hp - j->pt) * j->W;
        size_t wn = j->W < j->Wp - j->pl ? j->W : j->Wp - j->pl, w = 0;
        d += j->pl * 4;
#if defined(__SSE2__)
        if (j->Cg == 3) /* 16 pixels: (a b) and (c zp) byte pairs, then pairs of pairs */
            for (__m128i z = _mm_set1_epi8((char)j->zp); w + 16 <= wn; w += 16) {
                __m128i a = _mm_loadu_si128((const __m128i *)(s + w));
                __m128i b = _mm_loadu_si128((const __m128i *)(s + HW + w));
                __m128i c = _mm_loadu_si128((const __m128i *)(s + 2 * HW + w));
                __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
                __m128i cz0 = _mm_unpacklo_epi8(c, z), cz1 = _mm_unpackhi_epi8(c, z);
                _mm_storeu_si128((__m128i *)(d + 4 * w), _mm_unpacklo_epi16(ab0, cz0));
                _mm_storeu_si128((__m128i *)(d + 4 * w + 16), _mm_unpackhi_epi16(ab0, cz0));
                _mm_storeu_si128((__m128i *)(d + 4 * w + 32), _mm_unpacklo_epi16(ab1, cz1));
                _mm_storeu_si128((__m128i *)(d + 4 * w + 48), _mm_unpackhi_epi16(ab1, cz1));
            }
#endif
        for (; w < wn; w++)
            for (size_t c = 0; c < j->Cg; c++)
                d[4 * w + c] = s[c * HW + w];
    }
}

/* session 17: the two above for the depthwise path (fast_qdwconv.c) */
void sk_qnhwc_tr_bytes(const uint8_t *s, size_t ls, uint8_t *d, size_t ld, size_t rows,
                       size_t cols)
{
    tr_bytes(s, ls, d, ld, rows, cols);
}

void sk_qnhwc_to_nhwc(sk_pool *pool, const uint8_t *s, uint8_t *d, size_t N, size_t C, size_t P)
{
    to_nhwc(pool, s, d, N, C, P, C, 0);
}

/* ---- run ---------------------------------------------------------------------- */

typedef struct nh_job {
    const sk_qconv_priv *pv;
    const sk_qgemm_params *p;
    const uint8_t *x;    /* NHWC, image 0 */
    const uint8_t *res;  /* NHWC or NULL */
    uint8_t *y;          /* the output tensor */
    const int32_t *off;  /* the indirection table; NULL: 1x1 stride 1 unpadded */
    size_t P, M, C, ks, xsz; /* xsz: bytes of one input image */
    size_t npix, ntiles; /* pixels of the image group, tiles of tr of them */
    size_t ct, nchunk, nparts, nblk; /* tiles per chunk, chunks */
    uint8_t *scratch;    /* per thread */
    size_t per_thread;
    int y_nchw;
    int lut_mode;
    int prefetch;
    /* patch mode: x is NCHW (Cg planes of H x W); ks above is 1, C is kp */
    size_t H, W, OW;
    int64_t sh, sw, dh, dw, pt, pl;
    int arith;              /* session 15: pointers by arith_ptrs, no table */
    sk_qigemm_dk_fn dk;     /* and full interior tiles on dk (NULL: none) */
    size_t tr;              /* pixels a tile: MR, or MR - 1 on uk_short */
} nh_job;

/* Patch mode: output pixel p's Cg * kh * kw input bytes, in ONNX's weight
 * order (channel, row, column), from the NCHW image x into d (kp bytes;
 * the pad bytes past them get x's zero point: their weights are 0).
 * Outside the image: the zero point. A tap row inside the image with 8
 * readable bytes is one 8-byte copy (kw <= 8); the next row's copy writes
 * over its excess (d has 8 bytes of slack past kp). */
static void gather_patch(const nh_job *j, const uint8_t *x, size_t p, uint8_t *d)
{
    const sk_qconv_priv *pv = j->pv;
    int64_t H = (int64_t)j->H, W = (int64_t)j->W, kh = pv->kh, kw = pv->kw;
    int64_t ih0 = (int64_t)(p / j->OW) * j->sh - j->pt, iw0 = (int64_t)(p % j->OW) * j->sw - j->pl;
    uint8_t zp = pv->x_zp_u8;
    int fast = kw <= 8 && j->dw == 1 && iw0 >= 0 && iw0 + 8 <= W;
    uint8_t *d0 = d;
    if (fast && ih0 >= 0 && ih0 + (kh - 1) * j->dh < H) { /* the window inside: most pixels */
        size_t step = (size_t)(j->dh * W);
        for (int64_t c = 0; c < pv->Cg; c++) {
            const uint8_t *src = x + ((size_t)c * (size_t)H + (size_t)ih0) * (size_t)W + iw0;
            for (int64_t ky = 0; ky < kh; ky++, d += kw, src += step) {
                uint64_t v;
                memcpy(&v, src, 8);
                memcpy(d, &v, 8);
            }
        }
        for (uint8_t *e = d0 + pv->kp; d < e; d++)
            *d = zp;
        return;
    }
    for (int64_t c = 0; c < pv->Cg; c++)
        for (int64_t ky = 0; ky < kh; ky++, d += kw) {
            int64_t ih = ih0 + ky * j->dh;
            if (ih < 0 || ih >= H) {
                memset(d, zp, (size_t)kw);
                continue;
            }
            const uint8_t *row = x + ((size_t)c * (size_t)H + (size_t)ih) * (size_t)W;
            if (fast) {
                uint64_t v;
                memcpy(&v, row + iw0, 8);
                memcpy(d, &v, 8);
                continue;
            }
            for (int64_t kx = 0; kx < kw; kx++) {
                int64_t iw = iw0 + kx * j->dw;
                d[kx] = iw < 0 || iw >= W ? zp : row[iw];
            }
        }
    for (uint8_t *e = d0 + pv->kp; d < e; d++)
        *d = zp;
}

/* Session 15: a tile's pointers by arithmetic instead of from the table:
 * the table's int32 offsets of a 256 x 256 3x3 conv are 2.4 MB, read once a
 * run from memory, and their loads were ~10% of the U-Net's int8 time
 * (perf, b1 1T). Tile of n <= MR pixels starting at pixel g of the group's
 * sequence; the same pointers as the table (the zero-point row for taps in
 * the padding; rows past n repeat pixel n - 1, as the table's last tile
 * does). A tile of one output row whose taps all fall inside the image
 * needs no pointers at all where the level has a dk kernel: its window
 * origin is returned (pixel r, tap t at origin + toff[t] + r * sw * C). */
/* Whether the windows of `span` consecutive output pixels of one row, the
 * first at input (ih0, iw0), lie inside the image (no padding read). */
static inline int win_inside(const nh_job *j, int64_t ih0, int64_t iw0, size_t span)
{
    const sk_qconv_priv *pv = j->pv;
    return ih0 >= 0 && iw0 >= 0 && ih0 + (pv->kh - 1) * j->dh < (int64_t)j->H &&
           iw0 + (int64_t)(span - 1) * j->sw + (pv->kw - 1) * j->dw < (int64_t)j->W;
}

static const uint8_t *arith_ptrs(const nh_job *j, size_t g, size_t n, const size_t *toff,
                                 const uint8_t **ptr)
{
    const sk_qconv_priv *pv = j->pv;
    size_t MR = (size_t)pv->ig.mr, ks = j->ks, P = j->P, C = j->C;
    size_t pi = g / P, pp = g % P, oh = pp / j->OW, ow0 = pp % j->OW;
    const uint8_t *x = j->x + pi * j->xsz;
    int64_t ih0 = (int64_t)oh * j->sh - j->pt, iw0 = (int64_t)ow0 * j->sw - j->pl;
    if (ow0 + n <= j->OW && win_inside(j, ih0, iw0, n)) {
        const uint8_t *base = x + ((size_t)ih0 * j->W + (size_t)iw0) * C;
        size_t step = (size_t)j->sw * C;
        if (j->dk && n == MR) /* dk reads MR rows: never past the image */
            return base;
        for (size_t t = 0; t < ks; t++)
            for (size_t r = 0; r < MR; r++)
                ptr[t * MR + r] = base + toff[t] + (r < n ? r : n - 1) * step;
        return NULL;
    }
    /* pixel by pixel (the tile crosses a row or an image, or reaches the
     * padding): a window inside the image by its offsets, else tap by tap
     * with the image's bounds checked */
    size_t OH = P / j->OW, ow = ow0;
    for (size_t r = 0; r < MR; r++) {
        if (r >= n) { /* past the last pixel: repeat it */
            for (size_t t = 0; t < ks; t++)
                ptr[t * MR + r] = ptr[t * MR + n - 1];
            continue;
        }
        if (r > 0 && ++ow == j->OW) { /* the next output row */
            ow = 0;
            if (++oh == OH) { /* the tile crosses into the next image */
                oh = 0;
                x += j->xsz;
            }
        }
        ih0 = (int64_t)oh * j->sh - j->pt;
        iw0 = (int64_t)ow * j->sw - j->pl;
        const uint8_t **o = ptr + r;
        if (win_inside(j, ih0, iw0, 1)) {
            const uint8_t *base = x + ((size_t)ih0 * j->W + (size_t)iw0) * C;
            for (size_t t = 0; t < ks; t++)
                o[t * MR] = base + toff[t];
            continue;
        }
        for (int64_t ky = 0; ky < pv->kh; ky++) {
            int64_t ih = ih0 + ky * j->dh;
            int rin = ih >= 0 && ih < (int64_t)j->H;
            for (int64_t kx = 0; kx < pv->kw; kx++, o += MR) {
                int64_t iw = iw0 + kx * j->dw;
                *o = rin && iw >= 0 && iw < (int64_t)j->W
                         ? x + ((size_t)ih * j->W + (size_t)iw) * C
                         : pv->zrow;
            }
        }
    }
    return NULL;
}

/* A chunk is ct consecutive tiles of the batch's tile sequence (image after
 * image, tr pixels each (MR, or 7 with short tiles), an image's last tile
 * partial): it may span images,
 * so a late layer's few pixels per image still share one pass over each
 * weight block. In NHWC the chunk's output pixels are one contiguous run
 * (image i's pixel p is row i * P + p). */
static void nh_range(void *arg, int tid, size_t begin, size_t end)
{
    const nh_job *j = arg;
    const sk_qconv_priv *pv = j->pv;
    size_t MR = (size_t)pv->ig.mr, NR = (size_t)pv->ig.nr, ks = j->ks, M = j->M, P = j->P;
    const uint8_t **ptr = (const uint8_t **)(void *)(j->scratch + (size_t)tid * j->per_thread);
    uint8_t *ybuf = (uint8_t *)ptr + al64(CHUNK_MAX * ks * MR * sizeof(void *));
    size_t row[CHUNK_MAX], rows[CHUNK_MAX]; /* each tile's first output row, pixel count */
    /* arith_ptrs: the taps' byte offsets from a window's first pixel; the
     * window origins of the chunk's tiles that run on dk (else NULL) */
    size_t toff[64];
    const uint8_t *dx0[CHUNK_MAX];
    sk_qigemm_uk_fn uk = j->tr < MR ? pv->ig.uk_short : pv->ig.uk;
    if (pv->ig.task_begin) /* AMX: the tile configuration, once per task (qigemm.h) */
        pv->ig.task_begin();
    for (size_t t = 0; j->arith && t < ks; t++)
        toff[t] = ((t / (size_t)pv->kw) * (size_t)j->dh * j->W +
                   (t % (size_t)pv->kw) * (size_t)j->dw) * j->C;
    /* On dk with dilation 1 across: a kernel row's kw taps are kw adjacent
     * pixels, kw * C contiguous bytes, and the packed weights of taps
     * (ky, 0 .. kw-1) are those of one tap of kw * C channels — so dk runs
     * kh taps of kw * C / 4 groups: the C = 4 RGB stem's 9 taps of one group
     * become 3 of 3 (integer sums: the same bits in any order). */
    size_t dks = ks, dkg = j->C / 4, dtoff[64];
    if (j->dk && j->dw == 1 && pv->arith_ptr > 2) {
        dks = (size_t)pv->kh;
        dkg = (size_t)pv->kw * j->C / 4;
        for (size_t t = 0; t < dks; t++)
            dtoff[t] = toff[t * (size_t)pv->kw];
    } else
        memcpy(dtoff, toff, (j->arith ? ks : 0) * sizeof *toff);
    for (size_t t = begin; t < end; t++) {
        size_t ch = t / j->nparts, part = t % j->nparts;
        size_t t0 = ch * j->ct, ntl = j->ntiles - t0 < j->ct ? j->ntiles - t0 : j->ct;
        size_t b0 = part * j->nblk / j->nparts, b1 = (part + 1) * j->nblk / j->nparts;
        /* the chunk's pointers, tile after tile: [tile][tap][MR] */
        for (size_t i = 0; i < ntl; i++) {
            /* tile t holds pixels t * tr .. of the group's pixel sequence
             * (image after image): a map of P % MR != 0 pixels does not
             * leave a short tile per image (7x7 at batch 8: 49 tiles of 8,
             * not 8 x (6 of 8 + 1 of 1)) */
            size_t g = (t0 + i) * j->tr, img = g / P, p0 = g % P;
            const uint8_t *x = j->x + img * j->xsz;
            const uint8_t **pt = ptr + i * ks * MR;
            row[i] = g;
            rows[i] = j->npix - g < j->tr ? j->npix - g : j->tr;
            dx0[i] = NULL;
            if (j->arith) {
                dx0[i] = arith_ptrs(j, g, rows[i], toff, pt);
                continue;
            }
            if (p0 % MR == 0 && p0 + rows[i] <= P) { /* one table tile of one image */
                size_t ti = p0 / MR;
                if (pv->kp) {
                    uint8_t *pr = ybuf + al64(CHUNK_MAX * MR * M) + i * MR * j->C;
                    for (size_t r = 0; r < MR; r++) {
                        pt[r] = pr + (r < rows[i] ? r : rows[i] - 1) * j->C;
                        if (r < rows[i])
                            gather_patch(j, x, p0 + r, pr + r * j->C);
                    }
                } else if (j->off) {
                    const int32_t *o = j->off + ti * ks * MR;
                    for (size_t k = 0; k < ks * MR; k++)
                        pt[k] = o[k] < 0 ? pv->zrow : x + o[k];
                } else {
                    for (size_t r = 0; r < MR; r++)
                        pt[r] = x + (p0 + (r < rows[i] ? r : rows[i] - 1)) * j->C;
                }
                continue;
            }
            /* pixel by pixel: the tile crosses an image or a table tile */
            for (size_t r = 0, pi = img, pp = p0; r < MR; r++) {
                if (r > 0 && r < rows[i] && ++pp == P) {
                    pp = 0;
                    pi++;
                }
                const uint8_t *xi = j->x + pi * j->xsz;
                if (pv->kp) {
                    uint8_t *pr = ybuf + al64(CHUNK_MAX * MR * M) + i * MR * j->C;
                    pt[r] = pr + (r < rows[i] ? r : rows[i] - 1) * j->C;
                    if (r < rows[i])
                        gather_patch(j, xi, pp, pr + r * j->C);
                } else if (j->off) {
                    const int32_t *o = j->off + pp / MR * ks * MR + pp % MR;
                    for (size_t k = 0; k < ks; k++)
                        pt[k * MR + r] = o[k * MR] < 0 ? pv->zrow : xi + o[k * MR];
                } else {
                    pt[r] = xi + pp * j->C;
                }
            }
        }
        size_t g0 = row[0], np = row[ntl - 1] + rows[ntl - 1] - g0; /* the chunk's rows */
        uint8_t *yd = j->y_nchw ? ybuf : j->y + g0 * M;
        /* the chunk's residual and output rows asked for in address order
         * before the blocks read / write 32-byte pieces of them block by
         * block (a stride-M pattern the hardware prefetchers serve badly
         * from DRAM): ResNet-50 b8 1.20x, b1 1.12x (bench/RESULTS.md) */
        if (j->prefetch && j->res)
            for (size_t k = 0; k < np * M; k += 64)
                __builtin_prefetch(j->res + g0 * M + k, 0, 3);
        if (j->prefetch && !j->y_nchw)
            for (size_t k = 0; k < np * M; k += 64)
                __builtin_prefetch(yd + k, 1, 3);
        for (size_t b = b0; b < b1; b++) {
            size_t n0 = b * NR, nc = M - n0 < NR ? M - n0 : NR;
            const int8_t *wb = pv->wi + b * ks * j->C * NR * (pv->w16 ? 2 : 1);
            for (size_t i = 0; i < ntl; i++) {
                size_t o = (row[i] - g0) * M + n0;
                const uint8_t *rs = j->res ? j->res + row[i] * M + n0 : NULL;
                if (dx0[i])
                    j->dk(rows[i], nc, dkg, dks, dx0[i], (size_t)j->sw * j->C, dtoff, wb,
                          yd + o, M, rs, M, n0, j->p);
                else
                    uk(rows[i], nc, j->C / 4, ks, ptr + i * ks * MR, wb, yd + o, M, rs, M, n0,
                       j->p);
            }
        }
        size_t c0 = b0 * NR, c1 = b1 * NR < M ? b1 * NR : M;
        if (j->p->lut) { /* the merged table, on the chunk while it is in cache */
            uint8_t flip = j->p->out_s8 ? 0x80 : 0;
            if (c0 == 0 && c1 == M)
                sk_u8_lut(j->lut_mode, j->p->lut, flip, yd, yd, np * M);
            else
                for (size_t i = 0; i < np; i++)
                    sk_u8_lut(j->lut_mode, j->p->lut, flip, yd + i * M + c0, yd + i * M + c0,
                              c1 - c0);
        }
        if (j->y_nchw) { /* the region's edge: the chunk's channels back to planes */
            for (size_t g = g0; g < g0 + np;) {
                size_t img = g / P, p = g % P, n = P - p < g0 + np - g ? P - p : g0 + np - g;
                tr_bytes(yd + (g - g0) * M + c0, M, j->y + img * M * P + c0 * P + p, P, n,
                         c1 - c0);
                g += n;
            }
        }
    }
    if (pv->ig.task_end)
        pv->ig.task_end();
}

/* the table of this geometry: a cached one, a new cached one (first run of
 * a shape while a slot is free), or one built in `spare` */
static const int32_t *indirection(const sk_qconv_priv *pv, const sk_qind_geo *g, int32_t *spare)
{
    sk_qconv_priv *mpv = (sk_qconv_priv *)pv; /* the cache is the one mutable member */
    size_t n = sk_qind_entries(g, pv->ig.mr);
    sk_qind_cache *nc = NULL;
    for (int i = 0; i < SK_QIND_CACHED; i++) {
        sk_qind_cache *c = atomic_load(&mpv->ind[i]);
        if (c && !memcmp(&c->geo, g, sizeof *g)) {
            free(nc);
            return c->off;
        }
        if (c)
            continue;
        if (!nc && !(nc = malloc(sizeof *nc + n * sizeof(int32_t))))
            break;
        nc->geo = *g;
        sk_qind_build(g, pv->ig.mr, nc->off);
        sk_qind_cache *expect = NULL;
        if (atomic_compare_exchange_strong(&mpv->ind[i], &expect, nc))
            return nc->off;
        /* another run filled the slot first: it may hold this shape */
        if (!memcmp(&expect->geo, g, sizeof *g)) {
            free(nc);
            return expect->off;
        }
    }
    free(nc);
    sk_qind_build(g, pv->ig.mr, spare);
    return spare;
}

int sk_qconv_run_nhwc(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      sk_kctx *ctx)
{
    const sk_qconv_priv *pv = n->priv;
    /* the reference cannot read NHWC values: a node of the region that
     * cannot run here fails instead of computing on the wrong layout */
    if (in[0]->shape.rank != 4 || in[0]->dtype != SK_U8 ||
        out->dtype != (pv->final_s8 ? SK_I8 : SK_U8) || in[3]->shape.dim[0] != pv->M ||
        in[3]->shape.dim[1] != pv->Cg || in[0]->shape.dim[1] != pv->Cg ||
        (pv->has_res && (nin < 10 || !in[9] || in[9]->dtype != out->dtype)))
        return SK_EINVAL;
    sk_win w;
    int rc = sk_win_resolve(n, ctx, &in[0]->shape, in[3]->shape.dim + 2, 0, &w);
    if (rc)
        return rc;
    /* C: the NHWC pixel's channel stride (Cg, or Cg padded to 4 at the edge) */
    size_t N = (size_t)in[0]->shape.dim[0], C = (size_t)pv->Cp, M = (size_t)pv->M;
    size_t H = (size_t)w.in[1], W = (size_t)w.in[2], OH = (size_t)w.out[1],
           OW = (size_t)w.out[2], P = OH * OW, ks = pv->kp ? 1 : (size_t)(pv->kh * pv->kw);
    size_t MR = (size_t)pv->ig.mr, NR = (size_t)pv->ig.nr;
    if (!N || !P)
        return 0;
    if (H * W * C >= ((size_t)1 << 31))
        return SK_ETOOLARGE; /* int32 offsets */
    /* pv->pad_in: x becomes Hp x Wp pixels with no pads (<= bound_hw) */
    int padx = pv->pad_in && x_edge(pv) && C == 4;
    size_t Hp = H, Wp = W, ptop = (size_t)w.pb[1], pleft = (size_t)w.pb[2];
    if (padx) {
        Hp = (OH - 1) * (size_t)w.stride[1] + (size_t)(w.dil[1] * (pv->kh - 1)) + 1;
        Wp = (OW - 1) * (size_t)w.stride[2] + (size_t)(w.dil[2] * (pv->kw - 1)) + 1;
    }
    int nth = sk_pool_size(ctx->pool);
    size_t nb = sk_qnhwc_edge_images(pv, N, sk_qnhwc_bound_hw(pv, OH, OW) * C, P * M);
    size_t need = sk_qnhwc_edge_bytes(pv, nb * Hp * Wp * C, nb * P * M) +
                  table_bytes(pv, (P + MR - 1) / MR, ks, MR) + per_thread(pv, ks) * (size_t)nth + 64;
    if (!ctx->scratch || ctx->scratch_bytes < need)
        return SK_EINVAL;
    uint8_t *s0 = (uint8_t *)(((uintptr_t)ctx->scratch + 63) & ~(uintptr_t)63);
    uint8_t *s = s0 + sk_qnhwc_edge_bytes(pv, nb * Hp * Wp * C, nb * P * M);
    int direct = pv->kp || (ks == 1 && w.stride[1] == 1 && w.stride[2] == 1 && w.pb[1] == 0 &&
                 w.pb[2] == 0 && H == OH && W == OW);
    const int32_t *off = NULL;
    /* session 15: no table where the pointers are computed (arith_ptrs) */
    int arith = pv->arith_ptr && !direct && !pv->kp && ks <= 64;
    if (!direct && !arith) {
        sk_qind_geo g = {(int64_t)H, (int64_t)W, (int64_t)C, (int64_t)OH, (int64_t)OW,
                         pv->kh, pv->kw, w.stride[1], w.stride[2], w.dil[1], w.dil[2],
                         w.pb[1], w.pb[2]};
        off = indirection(pv, &g, (int32_t *)(void *)s);
    }
    s += table_bytes(pv, (P + MR - 1) / MR, ks, MR);
    size_t nblk = (M + NR - 1) / NR;
    size_t ct = (pv->kp ? (size_t)pv->kp : ks * C) * NR * (pv->w16 ? 2 : 1) > ((size_t)32 << 10)
                    ? CHUNK_MAX
                    : CHUNK_TILES;
    sk_qgemm_params p = pv->prm;
    p.bias = pv->bias;
    p.mult = pv->mult;
    /* x's bytes per image: Cg planes (NCHW) or Cp = Cg channels a pixel */
    size_t xs = (size_t)pv->Cg * H * W;
    for (size_t b0 = 0; b0 < N; b0 += nb) {
        size_t ni = N - b0 < nb ? N - b0 : nb;
        const uint8_t *X = (const uint8_t *)in[0]->data + b0 * xs;
        const uint8_t *R = pv->has_res ? (const uint8_t *)in[9]->data + b0 * P * M : NULL;
        uint8_t *e = s0;
        if (padx) {
            trp_job tj = {X, e, (size_t)pv->Cg, H, W, Hp, Wp, ptop, pleft, pv->x_zp_u8};
            sk_parallel_for(ctx->pool, ni * Hp, 1, trp_range, &tj);
            X = e;
            e += al64(ni * Hp * Wp * C);
        } else if (x_edge(pv)) {
            to_nhwc(ctx->pool, X, e, ni, (size_t)pv->Cg, H * W, C, pv->x_zp_u8);
            X = e;
            e += al64(ni * H * W * C);
        }
        if (R && !(pv->io_nhwc & SK_QNHWC_R)) {
            to_nhwc(ctx->pool, R, e, ni, M, P, M, 0);
            R = e;
        }
        /* session 15: tiles of MR - 1 pixels where that leaves 5% fewer
         * rows to compute (7 x 7 maps at batch 1 and 2: 49 rows, not 56) */
        size_t tr = MR, np8 = (ni * P + MR - 1) / MR * MR;
        if (pv->ig.uk_short && pv->short_tiles &&
            (ni * P + MR - 2) / (MR - 1) * (MR - 1) * 20 <= np8 * 19)
            tr = MR - 1;
        size_t ntiles = (ni * P + tr - 1) / tr, nchunk = (ntiles + ct - 1) / ct;
        /* few chunks (late layers at batch 1): split the channel blocks too */
        size_t nparts = sk_qsplit_parts(nth, nchunk, nblk);
        nh_job j = {pv, &p, X, R, (uint8_t *)out->data + b0 * P * M, off, P, M,
                    pv->kp ? (size_t)pv->kp : C, ks, pv->kp ? xs : Hp * Wp * C, ni * P, ntiles, ct,
                    nchunk, nparts, nblk, s, per_thread(pv, ks), !(pv->io_nhwc & SK_QNHWC_Y),
                    p.lut ? pv->q.lut_mode : 0, pv->prefetch, Hp, Wp, OW, w.stride[1],
                    w.stride[2], w.dil[1], w.dil[2], padx ? 0 : w.pb[1], padx ? 0 : w.pb[2], arith,
                    arith && pv->arith_ptr > 1 && tr == MR ? pv->ig.dk : NULL, tr};
        sk_parallel_for_tid(ctx->pool, nchunk * nparts, 1, nh_range, &j);
    }
    return 0;
}
