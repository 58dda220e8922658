/* fast_conv_pixrows.c — the pixel-rows strategy of _ConvFused
 * (SK_CONV_PIXROWS, "im2col-gemm-pixrows"): for few output pixels per
 * image (7x7 maps) the GEMM runs transposed so that pixels fill the
 * microkernel's rows (fast.h, engine/kernels/README.md). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast_conv.h"
#include "fast_ops.h"
#include "switches.h"
#include "threadpool.h"

/* ---- pixel rows (SK_CONV_PIXROWS) ----------------------------------------
 * For few output pixels the GEMM runs transposed: Y' [P x M] = col' W'.
 * For a group of images at once, the threads gather the column matrices
 * into pixel-row panels (row g*P + p holds pixel p of image g: a[q][k * mr
 * + r] = col_g(k, p) for g*P + p = q * mr + r, the A operand over the full
 * K), the driver multiplies them by W' packed at load (B panels of nr
 * output channels) into Y' [G*P x M], and one pass per image transposes Y'
 * into Y with bias, residual and clamp (fops transpose_epi: 8x8 blocks
 * through registers). A group shares one read of W' (9.4 MiB for a 3x3
 * 512-channel layer) instead of one per image.
 *
 * The gather reads through an offset table built once per group: for each
 * tap (kd, kh, kw) and panel row, where that row's input value sits in
 * channel 0 of the group (-1: padding). A panel's mr values of column row
 * k are then mr table reads and loads, written to consecutive floats of the
 * panel; gathering output rows of 7 pixels (gather_row) and scattering them
 * lane by lane into 9 panels took 17% of a 3x3 stride-2 layer at 7x7. */
#define PIXROWS_KCHUNK 32 /* column rows per gather task */
#define PIXROWS_MCHUNK 64 /* output channels per transpose task */
#define PIXROWS_MAX ((size_t)4 << 20) /* floats of a group's panels and Y' */
#define SK_PIXROWS_MR_MAX 8            /* the BF16 pairs' row buffer (mr 8) */

/* The GEMM's K block for pixel rows: W' (the B operand, packed at load)
 * is read once per run, usually from DRAM, and the driver's 256-row blocks
 * (kc, sized for a packed panel in L1) cut each of its panels into 32 KB
 * pieces read in an interleaved order, and make the few rows of Y' (49 at
 * batch 1) be re-read and re-added once per block. Blocks of up to
 * PIXROWS_KC rows (whole K for K <= 2048: a 256 KB slice of an AVX-512
 * panel, which the 6-7 row tiles of a 7x7 image re-read from L2) measured
 * 1.14x on a chain of ResNet-50's 7x7 1x1 convs at batch 1 (weights cold,
 * as in a network), neutral at batch 8 (bench/RESULTS.md, session 14).
 * Equal blocks, as the driver's; the bits differ from im2col-gemm's where
 * K > cfg->kc (another summation order, same values to ~1e-6).
 * FP32 only: the BF16 tests hold its pixel rows to the driver's blocks.
 * SKIPSERVE_PIXROWS_KC=n sets the limit (A/B; 0: the driver's kc). */
#define PIXROWS_KC 2048
static int pixrows_kc(const sk_gemm_cfg *cfg)
{
    const char *e = sk_sw()->pixrows_kc;
    if (cfg->kpair)
        return 0;
    int kc = e && *e ? atoi(e) : PIXROWS_KC;
    if (kc <= 0)
        return 0;
    return kc < cfg->kc ? cfg->kc : kc;
}

/* the 7-row kernel of pv's config: FP32's, or BF16's (bf16_gemm_mr7) */
static sk_gemm_ukernel pixrows_uk7(const sk_conv_priv *pv)
{
    return pv->cfg->kpair ? pv->kc->bf16_gemm_mr7 : pv->kc->gemm_mr7;
}

/* (session 19, r12) two 7-row panels a tile (config.h gemm_mr7x2): FP32
 * only, where the config has it (Intel AVX-512);
 * SKIPSERVE_PIXROWS_MR14=0 off (A/B, tests; read per run). */
static sk_gemm_ukernel pixrows_uk14(const sk_conv_priv *pv)
{
    const char *e = sk_sw()->pixrows_mr14;
    if (pv->cfg->kpair || (e && !strcmp(e, "0")))
        return NULL;
    return pv->kc->gemm_mr7x2;
}

/* The A panels' rows for a group of `rows` pixel rows: 7 (config.h
 * gemm_mr7) where 7-row panels pad fewer rows than the level's 8-row ones
 * — a 7x7 map at batch 1-7: 49 rows are 7 panels of 7, where 8-row panels
 * leave one row that the driver's mtail runs over every weight panel of
 * the block again after the panel loop (issue 24 session 16,
 * bench/RESULTS.md). Then the group's panels and table take no more room
 * than the 8-row sizing below reserves. 8-row levels only, FP32 and (session
 * 17) BF16; the bits are the 8-row kernel's (one FMA / vdpbf16ps chain per
 * element either way).
 * SKIPSERVE_PIXROWS_MR7=0 keeps 8-row panels (A/B, tests; read per run). */
static int pixrows_mr(const sk_conv_priv *pv, int64_t rows, sk_gemm_ukernel uk14)
{
    const sk_gemm_cfg *cfg = pv->cfg;
    const char *e = sk_sw()->pixrows_mr7;
    if (!pixrows_uk7(pv) || cfg->mr != 8 || (e && !strcmp(e, "0")))
        return cfg->mr;
    const int64_t pad7 = (rows + 6) / 7 * 7, pad8 = (rows + 7) / 8 * 8;
    /* (session 19, r12) with the two-panel kernel also where both pad
     * alike (batch 8: 392 rows, 56 panels of 7 or 49 of 8): 14-row tiles
     * read each weight slice once per 14 rows instead of 8 */
    if (pad7 == pad8 && uk14)
        return 7;
    return pad7 < pad8 ? 7 : 8;
}

static size_t pixrows_a_floats(int64_t rows, int64_t K, int mr)
{
    return round16f((size_t)((rows + mr - 1) / mr) * (size_t)mr * (size_t)K);
}

/* Floats of the offset table: kvol x the padded rows, int64 each. */
static size_t pixrows_tab_floats(int64_t rows, int64_t kvol, int mr)
{
    return round16f((size_t)((rows + mr - 1) / mr) * (size_t)mr * (size_t)kvol * 2);
}

/* Floats of the BF16 run table (session 18, bfl; pixrows_runs): one
 * sk_bf16_run per tap and panel, then a flag per panel. */
static size_t pixrows_run_floats(const sk_conv_priv *pv, int64_t rows)
{
    if (!pv->cfg->kpair)
        return 0;
    const size_t panels = (size_t)((rows + 6) / 7); /* 7- or 8-row panels (pixrows_mr) */
    return round16f((panels * (size_t)pv->kvol * sizeof(sk_bf16_run) + panels + 3) / 4);
}

/* Images per group: as many as fit PIXROWS_MAX, at least one. */
static int64_t pixrows_images(const sk_conv_priv *pv, int64_t P, int64_t items)
{
    int64_t g = items > 0 ? items : 1;
    while (g > 1 && pixrows_a_floats(g * P, pv->wt.K, pv->cfg->mr) +
                            (size_t)(g * P) * (size_t)pv->wt.N > PIXROWS_MAX)
        g--;
    return g;
}

/* Scratch past the GEMM's: a group's panels, its Y', the offset table. */
static size_t pixrows_floats_base(const sk_conv_priv *pv, int64_t P, int64_t items)
{
    int64_t rows = pixrows_images(pv, P, items) * P;
    return pixrows_a_floats(rows, pv->wt.K, pv->cfg->mr) +
           round16f((size_t)rows * (size_t)pv->wt.N) +
           pixrows_tab_floats(rows, pv->kvol, pv->cfg->mr) +
           pixrows_run_floats(pv, rows);
}

/* The one-job path's per-thread A (pixrows_one_task; session 19 mend19):
 * T copies of the group's A where that path may run (FP32 1x1 convs on
 * 2+ threads, by default where config.c sets pixrows_one_on, or
 * SKIPSERVE_PIXROWS_ONE=1); 0 elsewhere, and then the path does not run */
/* SKIPSERVE_PIXROWS_ONE as a run decides it, once (switches.c): -1 unset
 * (config.c's choice and the rule of pixrows_one_on), 0 off, 1 on */
static int pixrows_one_switch(void)
{
    const char *e = sk_sw()->pixrows_one;
    return e && *e ? strcmp(e, "0") != 0 : -1;
}

static size_t pixrows_one_a_floats(const sk_conv_priv *pv, int64_t P, int64_t items, int T,
                                   int one_sw)
{
    const int maybe = one_sw >= 0 ? one_sw : pv->kc && pv->kc->pixrows_one_on;
    if (T < 2 || pv->cfg->kpair || pv->kvol != 1 || !maybe)
        return 0;
    return (size_t)T * pixrows_a_floats(pixrows_images(pv, P, items) * P, pv->wt.K, pv->cfg->mr);
}

static size_t pixrows_floats(const sk_conv_priv *pv, int64_t P, int64_t items, int T)
{
    return pixrows_floats_base(pv, P, items) +
           pixrows_one_a_floats(pv, P, items, T, pixrows_one_switch());
}

typedef struct pixrows {
    const conv_src *s;
    int64_t img0, G; /* the group: images img0 .. img0 + G - 1 */
    int K, M, P, mr;
    int64_t rows_pad; /* G * P rounded up to mr */
    float *a, *yt, *y;
    int64_t *tab; /* tab[t * rows_pad + row]: offset in channel 0, or -1 */
    const float *bias, *res;
    float lo, hi;
    const sk_fast_uk *uk;
    sk_bf16_pack2_fn pack2; /* BF16 config: two gathered rows to a pair row, else NULL */
    /* BF16 (session 18): panels whose taps are runs of input pixels
     * (pixrows_runs) gather through runs2; NULL: every panel by the table */
    sk_bf16_runs2_fn runs2;
    int run_step;          /* the conv's column stride (1 or 2) */
    sk_bf16_run *runs;     /* runs[q * kvol + t] */
    unsigned char *is_run; /* per panel: 1 where every tap is a run */
} pixrows;

/* The offset table of the group for every tap (see above). */
static void pixrows_table(const pixrows *pr)
{
    const conv_src *s = pr->s;
    const sk_win *w = &s->w;
    const int64_t rows = pr->G * pr->P, oHW = w->out[1] * w->out[2];
    for (int64_t q = 0; q < pr->rows_pad; q++) {
        int64_t g = q / pr->P, p = q % pr->P;
        int64_t o[3] = {p / oHW, (p / w->out[2]) % w->out[1], p % w->out[2]};
        int64_t t = 0;
        for (int64_t kd = 0; kd < w->k[0]; kd++)
            for (int64_t kh = 0; kh < w->k[1]; kh++)
                for (int64_t kw = 0; kw < w->k[2]; kw++, t++) {
                    int64_t i[3], kk[3] = {kd, kh, kw}, off = -1;
                    int in = q < rows;
                    for (int a = 0; a < 3; a++) {
                        i[a] = o[a] * w->stride[a] - w->pb[a] + kk[a] * w->dil[a];
                        in = in && i[a] >= 0 && i[a] < w->in[a];
                    }
                    if (in)
                        off = g * s->C * s->in_px + (i[0] * w->in[1] + i[1]) * w->in[2] + i[2];
                    pr->tab[t * pr->rows_pad + q] = off;
                }
    }
}

/* BF16 (session 18, bfl): for each panel and tap, whether the panel's
 * live rows read input pixels run_step apart (o[r] = off + step * r), as
 * every panel of a 7x7 conv at stride 1 or 2 does on 7-row panels (one
 * output row); then runs2 gathers and converts it with masked vector
 * loads. A panel with any other tap (a panel across two output rows of a
 * stride-2 conv or two images) keeps the table gather. Serial, once per
 * group: kvol x rows_pad entries. */
static _Atomic size_t run_panels; /* panels found runs (tests) */
size_t sk_conv_pixrows_bf16_run_panels(void)
{
    return atomic_load_explicit(&run_panels, memory_order_relaxed);
}

static void pixrows_runs(const pixrows *pr)
{
    size_t n = 0;
    const int mr = pr->mr, kvol = (int)pr->s->kvol, st = pr->run_step;
    for (int64_t q = 0; q * mr < pr->rows_pad; q++) {
        int ok = mr <= 8 && (st == 1 || st == 2);
        for (int t = 0; t < kvol; t++) {
            const int64_t *o = pr->tab + t * pr->rows_pad + q * mr;
            sk_bf16_run *r = &pr->runs[q * kvol + t];
            r->off = 0;
            r->mask = 0;
            for (int i = 0; i < mr && ok; i++) {
                if (o[i] < 0)
                    continue;
                if (!r->mask)
                    r->off = o[i] - (int64_t)st * i;
                ok = o[i] == r->off + (int64_t)st * i;
                r->mask |= 1u << (st * i);
            }
        }
        pr->is_run[q] = (unsigned char)ok;
        n += (size_t)ok;
    }
    atomic_fetch_add_explicit(&run_panels, n, memory_order_relaxed);
}

/* d[r] = xc[o[r]], or 0 where o[r] < 0 (padding). Branch-free: the load
 * reads xc[0] for padding and the select drops it, so the border pixels'
 * pattern costs no mispredictions. */
static inline void pixrows_gather(float *restrict d, const float *xc, const int64_t *o, int mr)
{
#if defined(__GNUC__)
#pragma GCC unroll 8
#endif
    for (int r = 0; r < mr; r++) {
        int64_t i = o[r];
        uint64_t keep = ~(uint64_t)(i >> 63); /* 0 for padding */
        uint32_t v;
        memcpy(&v, xc + (i & (int64_t)keep), sizeof v);
        v &= (uint32_t)keep;
        memcpy(d + r, &v, sizeof v);
    }
}

/* The BF16 form of the task below (K-pair A panels, kernels/bf16.h): the
 * two rows of a pair gathered into two mr-float rows, then converted
 * into the pair slot, one pass. k0 is even (PIXROWS_KCHUNK): the pairs of
 * a task are its own. */
static void pixrows_pack_pairs(const pixrows *pr, const float *x, int64_t k0, int64_t k1)
{
    const conv_src *s = pr->s;
    const int mr = pr->mr;
    const size_t pstride = (size_t)(pr->K + 1) / 2 * (size_t)mr;
    _Alignas(64) float rows[2][SK_PIXROWS_MR_MAX];
    for (int64_t q = 0; q * mr < pr->rows_pad; q++) {
        float *d = pr->a + (size_t)q * pstride + (size_t)(k0 / 2) * (size_t)mr;
        if (pr->runs2 && pr->is_run[q]) { /* session 18: runs, one pass */
            pr->runs2(d, mr, pr->run_step, x, (size_t)s->in_px, pr->runs + q * s->kvol,
                      (int)s->kvol, k0, k1);
            continue;
        }
        int64_t c = k0 / s->kvol, t = k0 % s->kvol;
        for (int64_t k = k0; k < k1; k += 2, d += mr) {
            for (int h = 0; h < 2 && k + h < k1; h++) {
                pixrows_gather(rows[h], x + c * s->in_px, pr->tab + t * pr->rows_pad + q * mr, mr);
                if (++t == s->kvol) {
                    t = 0;
                    c++;
                }
            }
            pr->pack2(d, 0, mr, rows[0], k + 1 < k1 ? rows[1] : NULL, mr);
        }
    }
}

/* Column rows [c0, c1) * PIXROWS_KCHUNK of every panel: for one panel the
 * writes run along consecutive floats (a[q][k * mr + r]); the reads are
 * the panel's pixels in one channel plane, which stays in cache across the
 * kvol taps of that channel. */
static void pixrows_pack_range(const pixrows *pr, int64_t k0, int64_t k1, int64_t qa, int64_t qb)
{
    const conv_src *s = pr->s;
    const int mr = pr->mr;
    const size_t pstride = (size_t)pr->K * (size_t)mr;
    const float *x = s->x + pr->img0 * s->C * s->in_px;
    for (int64_t q = qa; q < qb; q++) {
        float *d = pr->a + (size_t)q * pstride + (size_t)k0 * (size_t)mr;
        int64_t c = k0 / s->kvol, t = k0 % s->kvol;
        /* a 1x1 stride-1 conv (col == X) whose panel holds mr consecutive
         * pixels of one image: each column row is mr consecutive floats of
         * one channel plane, one vector copy instead of mr table reads and
         * loads (issue 24: the 7x7 projections of MobileNetV2, K = 960) */
        const int64_t q0 = q * mr, g0 = q0 / pr->P;
        if (s->direct && q0 + mr <= pr->G * pr->P && (q0 + mr - 1) / pr->P == g0) {
            const float *xp = x + g0 * s->C * s->in_px + (q0 - g0 * pr->P) + k0 * s->in_px;
            for (int64_t k = k0; k < k1; k++, d += mr, xp += s->in_px)
                if (mr == 8)
                    memcpy(d, xp, 8 * sizeof(float));
                else if (mr == 7)
                    memcpy(d, xp, 7 * sizeof(float));
                else if (mr == 6)
                    memcpy(d, xp, 6 * sizeof(float));
                else
                    memcpy(d, xp, (size_t)mr * sizeof(float));
        } else {
            for (int64_t k = k0; k < k1; k++, d += mr) {
                const float *xc = x + c * s->in_px;
                const int64_t *o = pr->tab + t * pr->rows_pad + q * mr;
                if (mr == 6) /* the AVX2 tile: a constant count unrolls */
                    pixrows_gather(d, xc, o, 6);
                else
                    pixrows_gather(d, xc, o, mr);
                if (++t == s->kvol) {
                    t = 0;
                    c++;
                }
            }
        }
    }
}

static void pixrows_pack_task(void *arg, int tid, size_t c0, size_t c1)
{
    (void)tid;
    const pixrows *pr = arg;
    const int64_t k0 = (int64_t)c0 * PIXROWS_KCHUNK;
    const int64_t k1 = (int64_t)c1 * PIXROWS_KCHUNK < pr->K ? (int64_t)c1 * PIXROWS_KCHUNK : pr->K;
    if (pr->pack2) {
        pixrows_pack_pairs(pr, pr->s->x + pr->img0 * pr->s->C * pr->s->in_px, k0, k1);
        return;
    }
    pixrows_pack_range(pr, k0, k1, 0, pr->rows_pad / pr->mr);
}

/* Task u: image u / mchunks of the group, PIXROWS_MCHUNK output channels. */
static void pixrows_out_task(void *arg, int tid, size_t u0, size_t u1)
{
    (void)tid;
    const pixrows *pr = arg;
    const size_t P = (size_t)pr->P, M = (size_t)pr->M;
    const size_t mchunks = (M + PIXROWS_MCHUNK - 1) / PIXROWS_MCHUNK;
    for (size_t u = u0; u < u1; u++) {
        size_t g = u / mchunks, m0 = (u % mchunks) * PIXROWS_MCHUNK;
        size_t m1 = m0 + PIXROWS_MCHUNK < M ? m0 + PIXROWS_MCHUNK : M;
        pr->uk->transpose_epi(P, m1 - m0, pr->yt + g * P * M + m0, M, pr->y + g * M * P + m0 * P,
                              P, pr->bias ? pr->bias + m0 : NULL,
                              pr->res ? pr->res + g * M * P + m0 * P : NULL, pr->lo, pr->hi);
    }
}

/* Pixel rows in one pool job (session 19, issue 24; FP32): on the Intel
 * Xeon the three jobs above — gather, GEMM, transpose — scaled poorly to 2
 * threads at batch 1 (MobileNetV2's 960 -> 160 at 7x7: gather 23 -> 25,
 * GEMM 240 -> 178, transpose 7 -> 10 kcycles from 1 to 2 threads; each job
 * read what the other core wrote in the job before, and a job start cost
 * ~7 kcycles). Here each thread takes an equal share of the group's
 * mr x nr tiles (pixrows_one_task: a run of whole column or row panels,
 * with at most a part of one at each end), gathers the A panels of the
 * rows its tiles cover itself, multiplies them on its own (sk_gemm_run
 * serially on sub-jobs of whole panels: the same microkernels, K blocks
 * and edge kernels per element, so the same bits), and transposes the
 * blocks of Y' it wrote into Y while they are in its cache. The price: at
 * batch 1 a thread whose share spans a whole column panel gathers all of
 * A (duplicated across threads, each into its own copy: T x A of scratch;
 * A is 31-188 KB on MobileNetV2's 7x7 layers). */
typedef struct pixrows_one {
    pixrows *pr;
    const sk_gemm_job *j; /* the whole group's job: operands, epilogue, kc */
    float *scratch;
    size_t per_thread; /* GEMM scratch floats a thread */
    float *abuf;       /* T per-thread copies of A's layout (mend19) */
    size_t a_per_thread;
    int T;
} pixrows_one;

/* Y' rows [r0, r1) x columns [m0, m0 + cols) into Y (bias, residual, clamp),
 * split where the rows cross images. */
static void pixrows_out_block(const pixrows *pr, size_t r0, size_t r1, size_t m0, size_t cols)
{
    const size_t M = (size_t)pr->M, P = (size_t)pr->P;
    for (size_t r = r0; r < r1;) {
        const size_t g = r / P, p0 = r - g * P, re = (g + 1) * P < r1 ? (g + 1) * P : r1;
        pr->uk->transpose_epi(re - r, cols, pr->yt + r * M + m0, M,
                              pr->y + g * M * P + m0 * P + p0, P,
                              pr->bias ? pr->bias + m0 : NULL,
                              pr->res ? pr->res + g * M * P + m0 * P + p0 : NULL, pr->lo, pr->hi);
        r = re;
    }
}

/* Row panels [qa, qb) x column panels [ca, cb) of the group's product:
 * a serial sub-job of whole panels, then its block of Y' into Y. */
static void pixrows_one_block(const pixrows_one *o, float *scratch, float *a, int64_t qa,
                              int64_t qb, int64_t ca, int64_t cb)
{
    const pixrows *pr = o->pr;
    const sk_gemm_job *j = o->j;
    const int mr = pr->mr, nr = j->cfg->nr;
    const int64_t rows = pr->G * pr->P;
    const int64_t r0 = qa * mr, r1 = qb * mr < rows ? qb * mr : rows;
    const int64_t m0 = ca * nr, m1 = cb * nr < pr->M ? cb * nr : pr->M;
    if (r1 <= r0 || m1 <= m0)
        return;
    sk_gemm_packed_a pa = *j->a_packed;
    pa.M = (int)(r1 - r0);
    pa.data = a + (size_t)qa * (size_t)pr->K * (size_t)mr; /* this thread's A */
    sk_gemm_packed_b pb = *j->b_packed;
    pb.N = (int)(m1 - m0);
    pb.data += (size_t)ca * sk_gemm_kslots(j->cfg, pr->K) * (size_t)nr;
    sk_gemm_job sub = *j;
    sub.M = (int)(r1 - r0);
    sub.N = (int)(m1 - m0);
    sub.a_packed = &pa;
    sub.b_packed = &pb;
    sub.c = j->c + (size_t)r0 * j->ldc + (size_t)m0;
    sk_gemm_run(NULL, &sub, scratch);
    pixrows_out_block(pr, (size_t)r0, (size_t)r1, (size_t)m0, (size_t)(m1 - m0));
}

static void pixrows_one_task(void *arg, int tid, size_t u0, size_t u1)
{
    const pixrows_one *o = arg;
    const pixrows *pr = o->pr;
    const int nr = o->j->cfg->nr;
    const int64_t R = pr->rows_pad / pr->mr, C = (pr->M + nr - 1) / nr, tiles = R * C;
    /* the order of the tiles the shares cut: column-panel-major when there
     * are more column panels than row panels (batch 1, >= 8 column panels:
     * a share is a run of output channels over all pixels, gathering all
     * of A and reading its part of W'), else row-panel-major (a run of
     * pixels — of images at batch 8 — over all channels, gathering only its
     * rows, reading all of W'). Measured at b1 2T against the other order
     * and against cutting by bytes repeated (A rows < W' columns: column
     * order for the 160-channel projections too, 0.87x there) */
    const int colmaj = C > R;
    const int64_t L = colmaj ? R : C; /* tiles along the inner axis */
    float *scratch = o->scratch + (size_t)tid * o->per_thread;
    /* the A panels go to this thread's own copy of A's layout: shares
     * overlap in rows (column order: a share over 2+ column panels needs
     * all of A), and gathering into the shared A while another thread
     * reads it was a data race (the review of session 19, item 3) */
    pixrows prt = *pr;
    prt.a = o->abuf + (size_t)tid * o->a_per_thread;
    for (size_t u = u0; u < u1; u++) {
        /* share u of T: tiles [t0, t1) of that order */
        const int64_t t0 = tiles * (int64_t)u / o->T, t1 = tiles * (int64_t)(u + 1) / o->T;
        if (t1 <= t0)
            continue;
        /* outer panels o0 .. o1, inner [a, L) of o0 and [0, b) of o1 */
        const int64_t o0 = t0 / L, a = t0 % L, o1 = (t1 - 1) / L, b = (t1 - 1) % L + 1;
        /* the rows its tiles cover */
        const int64_t qa = colmaj ? (o0 == o1 ? a : 0) : o0;
        const int64_t qb = colmaj ? (o0 == o1 ? b : R) : o1 + 1;
        pixrows_pack_range(&prt, 0, pr->K, qa, qb);
        /* blocks (outer range) x (inner range), in the order's axes */
        int64_t bo[3][4], nb = 0;
        if (o0 == o1) {
            bo[nb][0] = o0, bo[nb][1] = o0 + 1, bo[nb][2] = a, bo[nb][3] = b, nb++;
        } else {
            int64_t f = o0, l = o1 + 1; /* whole outer panels [f, l) */
            if (a > 0) {
                bo[nb][0] = o0, bo[nb][1] = o0 + 1, bo[nb][2] = a, bo[nb][3] = L, nb++;
                f++;
            }
            if (b < L)
                l--;
            if (l > f)
                bo[nb][0] = f, bo[nb][1] = l, bo[nb][2] = 0, bo[nb][3] = L, nb++;
            if (b < L)
                bo[nb][0] = o1, bo[nb][1] = o1 + 1, bo[nb][2] = 0, bo[nb][3] = b, nb++;
        }
        for (int64_t i = 0; i < nb; i++) {
            if (colmaj) /* outer: column panels, inner: row panels */
                pixrows_one_block(o, scratch, prt.a, bo[i][2], bo[i][3], bo[i][0], bo[i][1]);
            else
                pixrows_one_block(o, scratch, prt.a, bo[i][0], bo[i][1], bo[i][2], bo[i][3]);
        }
    }
}

/* Whether a group runs as one job (pixrows_one_task): FP32 (the BF16
 * gather packs K pairs across all panels) 1x1 stride-1 unpadded convs,
 * whose gather is a copy of channel rows (ResNet-50's 3x3 at 7x7, whose
 * table gather of 49 x 4608 floats each thread would repeat, measured
 * 0.995x at batch 1 on 2 threads), by default where config.c measured it
 * (Intel), or SKIPSERVE_PIXROWS_ONE=0 / =1 (read per run). By default not
 * where the shares run in column order over an A of more than
 * PIXROWS_ONE_A_MAX bytes, which every thread would gather whole
 * (ResNet-50's 2048 -> 512 at 7x7: 400 KB; MobileNetV2's, measured: up to
 * 188 KB). */
/* groups run as one job since the process started (tests: that the path
 * ran, and did not where the rule says not) */
static _Atomic size_t one_jobs;
size_t sk_pixrows_one_jobs(void) { return atomic_load_explicit(&one_jobs, memory_order_relaxed); }

#define PIXROWS_ONE_A_MAX ((size_t)256 << 10)
static int pixrows_one_on(const sk_conv_priv *pv, const pixrows *pr, int one_sw)
{
    if (pr->pack2 || !pr->s->direct)
        return 0;
    if (one_sw >= 0)
        return one_sw;
    const int64_t R = pr->rows_pad / pr->mr, C = (pr->M + pv->cfg->nr - 1) / pv->cfg->nr;
    if (C > R && (size_t)pr->rows_pad * (size_t)pr->K * sizeof(float) > PIXROWS_ONE_A_MAX)
        return 0;
    return pv->kc->pixrows_one_on;
}

static int run_pixrows(const sk_node *n, const sk_conv_priv *pv, const conv_src *s, int64_t N,
                       const sk_tensor *B, const sk_tensor *R, float *y, sk_kctx *ctx)
{
    const sk_gemm_cfg *cfg = pv->cfg;
    const int T = sk_pool_size(ctx->pool);
    const sk_fast_uk *uk = &pv->kc->ops;
    const size_t gemm = sk_gemm_scratch_floats(cfg, T);
    if (!uk)
        return sk_kfail(ctx, n, SK_EINVAL, "no transpose kernel at level %s",
                        sk_isa_name(cfg->isa));
    const int one_sw = pixrows_one_switch(); /* one decision for the A and the path */
    const size_t base = pixrows_floats_base(pv, s->P, N),
                 one_a = pixrows_one_a_floats(pv, s->P, N, T, one_sw);
    float *own, *scratch = sk_fast_scratch(n, ctx, gemm + base + one_a, &own);
    if (!scratch)
        return SK_ENOMEM;
    const int64_t G = pixrows_images(pv, s->P, N);
    pixrows pr;
    memset(&pr, 0, sizeof pr);
    pr.s = s;
    pr.K = pv->wt.K;
    pr.M = pv->wt.N;
    pr.P = (int)s->P;
    pr.mr = cfg->mr;
    pr.a = scratch + gemm;
    pr.yt = pr.a + pixrows_a_floats(G * s->P, pr.K, pr.mr);
    pr.tab = (int64_t *)(pr.yt + round16f((size_t)(G * s->P) * (size_t)pr.M));
    pr.bias = B ? B->data : NULL;
    pr.uk = uk;
    pr.pack2 = cfg->kpair ? pv->kc->bf16_pack2 : NULL;
    /* SKIPSERVE_BF16_PIXRUNS=0 (read per run): the table gather (A/B, tests) */
    const char *er = sk_sw()->bf16_pixruns;
    pr.runs2 = pr.pack2 && !(er && !strcmp(er, "0")) ? pv->kc->bf16_runs2 : NULL;
    if (pr.pack2 && pr.mr > SK_PIXROWS_MR_MAX) {
        sk_free(own);
        return sk_kfail(ctx, n, SK_EINVAL, "BF16 pixel rows: tile of %d rows", pr.mr);
    }
    sk_fused_act(n, &pr.lo, &pr.hi);
    const int kc = pixrows_kc(cfg);
    const size_t img_size = (size_t)pr.M * (size_t)pr.P;
    const size_t mchunks = (size_t)((pr.M + PIXROWS_MCHUNK - 1) / PIXROWS_MCHUNK);
    for (int64_t i0 = 0; i0 < N; i0 += G) {
        pr.img0 = i0;
        pr.G = N - i0 < G ? N - i0 : G;
        pr.y = y + (size_t)i0 * img_size;
        pr.res = R ? (const float *)R->data + (size_t)i0 * img_size : NULL;
        /* 7-row panels: the level's blocking with the 7-row kernel; no
         * edge kernels (theirs read 8-row panels) — a last partial row
         * panel goes through run_tail_tile, a narrow last column panel
         * runs the full kernel */
        const sk_gemm_cfg *gcfg = cfg;
        sk_gemm_cfg cfg7;
        sk_gemm_ukernel uk14 = pixrows_uk14(pv);
        pr.mr = pixrows_mr(pv, pr.G * pr.P, uk14);
        if (pr.mr == 7) {
            cfg7 = sk_gemm_cfg_mr7(cfg, pixrows_uk7(pv));
            cfg7.uk2 = uk14;
            gcfg = &cfg7;
        }
        pr.rows_pad = (pr.G * pr.P + pr.mr - 1) / pr.mr * pr.mr;
        pixrows_table(&pr);
        if (pr.runs2) {
            pr.run_step = (int)s->w.stride[SK_NN_SP - 1];
            pr.runs = (sk_bf16_run *)(pr.tab + pixrows_tab_floats(G * s->P, pv->kvol, cfg->mr) / 2);
            pr.is_run = (unsigned char *)(pr.runs + (pr.rows_pad / pr.mr) * pv->kvol);
            pixrows_runs(&pr);
        }
        sk_gemm_packed_a pa = {gcfg, (int)(pr.G * pr.P), pr.K, 1, 0, pr.a};
        sk_gemm_job j;
        sk_gemm_job_init(&j, gcfg, (int)(pr.G * pr.P), pr.M, pr.K, 1);
        j.a_packed = &pa;
        j.b_packed = &pv->wt;
        j.c = pr.yt;
        j.ldc = (size_t)pr.M;
        j.kc = kc;
        if (T > 1 && one_a && pixrows_one_on(pv, &pr, one_sw)) {
            atomic_fetch_add_explicit(&one_jobs, 1, memory_order_relaxed);
            pixrows_one o = {&pr,
                             &j,
                             scratch,
                             sk_gemm_scratch_floats(gcfg, 1),
                             scratch + gemm + base,
                             one_a / (size_t)T,
                             T};
            sk_parallel_for_tid(ctx->pool, (size_t)T, 1, pixrows_one_task, &o);
            continue;
        }
        sk_parallel_for_tid(ctx->pool, (size_t)((pr.K + PIXROWS_KCHUNK - 1) / PIXROWS_KCHUNK), 1,
                            pixrows_pack_task, &pr);
        sk_gemm_run(ctx->pool, &j, scratch); /* cannot fail: scratch given */
        sk_parallel_for_tid(ctx->pool, (size_t)pr.G * mchunks, 1, pixrows_out_task, &pr);
    }
    sk_free(own);
    return 0;
}

size_t sk_conv_pixrows_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads)
{
    return sk_conv_gemm_scratch(pv, out, nthreads, pixrows_floats);
}

int sk_fast_run_conv_pixrows(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, sk_kctx *ctx)
{
    conv_src s;
    int64_t N, M;
    const sk_tensor *B, *R;
    int rc;
    if (!sk_conv_gemm_begin(n, in, nin, out, ctx, &s, &N, &M, &B, &R, &rc))
        return rc;
    return run_pixrows(n, n->priv, &s, N, B, R, out[0].data, ctx);
}

int sk_fast_run_conv_pixrows_alt(const sk_node *n, const sk_tensor *const *in, int nin,
                                 sk_tensor *out, sk_kctx *ctx)
{
    sk_conv_priv pv = *(const sk_conv_priv *)n->priv; /* the same packs, read as pixel rows */
    pv.kind = SK_CONV_PIXROWS;
    conv_src s;
    int64_t N, M;
    int rc = sk_conv_src_setup(n, in, nin, out, &pv, ctx, &s, &N, &M);
    if (rc || N * M * s.P == 0)
        return rc;
    return run_pixrows(n, &pv, &s, N, nin > 2 ? in[2] : NULL, nin > 3 ? in[3] : NULL,
                       out[0].data, ctx);
}
