/* gemm.c — the packed, blocked, threaded SGEMM driver (see gemm.h).
 *
 * Loop nest of one task (an item, a block of <= nbw columns, a range of
 * A panels):
 *   for each K block (kc):        pack the B block (kc x nb) once
 *     for each M block (mc):      its A block stays in L2
 *       for each B panel (nr):    the kc x nr panel stays in L1
 *         for each A panel (mr):  microkernel on one mr x nr tile
 * The first K block writes C, later ones accumulate, the last applies the
 * epilogue while the tile is in registers. How columns and rows are cut
 * into tasks for the pool's threads: plan_split below. */
#include "kernels/gemm.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/config.h"
#include "kernels/ref/ref_gemm.h"
#include "kernels/switches.h"
#include "sk.h"
#include "threadpool.h"

#define SK_UK_MAX_TILE (32 * 32) /* largest mr * nr of any config (AMX BF16: 32 x 32) */

void sk_gemm_epi_none(sk_gemm_epi *e)
{
    memset(e, 0, sizeof *e);
    e->min = -INFINITY;
    e->max = INFINITY;
}

void sk_gemm_epi_apply(const sk_gemm_epi *e, float *c, size_t ldc, int row, int col, int m,
                       int n)
{
    for (int i = 0; i < m; i++) {
        float *cr = c + (size_t)i * ldc;
        const float *rr = e->res ? e->res + (size_t)(row + i) * e->ldres + col : NULL;
        for (int j = 0; j < n; j++) {
            float v = cr[j];
            if (e->bias)
                v += e->bias_per_col ? e->bias[col + j] : e->bias[row + i];
            if (rr)
                v += rr[j];
            /* comparisons are false for NaN: a NaN passes through, as in
             * the vector kernels */
            if (v < e->min)
                v = e->min;
            if (v > e->max)
                v = e->max;
            cr[j] = v;
        }
    }
}

/* ---- packing ----------------------------------------------------------- */

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

int sk_gemm_pack_a(const sk_gemm_cfg *cfg, const float *A, size_t lda, int M, int K,
                   int groups, float alpha, sk_gemm_packed_a *out)
{
    memset(out, 0, sizeof *out);
    int mr = cfg->mr, panels = (M + mr - 1) / mr;
    size_t gs = round16((size_t)panels * (size_t)mr * (size_t)K);
    float *d = sk_alloc_weights((gs * (size_t)groups > 0 ? gs * (size_t)groups : 16) * sizeof(float));
    if (!d)
        return SK_ENOMEM;
    for (int g = 0; g < groups; g++) {
        const float *Ag = A + (size_t)g * (size_t)M * lda;
        float *dg = d + (size_t)g * gs;
        for (int p = 0; p < panels; p++) {
            float *dp = dg + (size_t)p * (size_t)K * (size_t)mr;
            for (int r = 0; r < mr; r++) {
                int row = p * mr + r;
                const float *src = Ag + (size_t)row * lda;
                for (int k = 0; k < K; k++)
                    dp[(size_t)k * (size_t)mr + (size_t)r] = row < M ? alpha * src[k] : 0.0f;
            }
        }
    }
    out->cfg = cfg;
    out->M = M;
    out->K = K;
    out->groups = groups;
    out->group_stride = gs;
    out->data = d;
    return 0;
}

int sk_gemm_pack_b(const sk_gemm_cfg *cfg, const float *B, size_t sk, size_t sn, int K, int N,
                   float alpha, sk_gemm_packed_b *out)
{
    memset(out, 0, sizeof *out);
    int nr = cfg->nr, panels = (N + nr - 1) / nr;
    size_t total = (size_t)panels * (size_t)nr * (size_t)K;
    float *d = sk_alloc_weights((total ? total : 16) * sizeof(float));
    if (!d)
        return SK_ENOMEM;
    for (int p = 0; p < panels; p++) {
        float *dp = d + (size_t)p * (size_t)K * (size_t)nr;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < nr; c++) {
                int col = p * nr + c;
                dp[(size_t)k * (size_t)nr + (size_t)c] =
                    col < N ? alpha * B[(size_t)k * sk + (size_t)col * sn] : 0.0f;
            }
    }
    out->cfg = cfg;
    out->K = K;
    out->N = N;
    out->data = d;
    return 0;
}

void sk_gemm_packed_a_free(sk_gemm_packed_a *p)
{
    if (p) {
        sk_free(p->data);
        p->data = NULL;
    }
}

void sk_gemm_packed_b_free(sk_gemm_packed_b *p)
{
    if (p) {
        sk_free(p->data);
        p->data = NULL;
    }
}

/* ---- the driver -------------------------------------------------------- */

void sk_gemm_job_init(sk_gemm_job *j, const sk_gemm_cfg *cfg, int M, int N, int K, int nbatch)
{
    memset(j, 0, sizeof *j);
    j->cfg = cfg;
    j->M = M;
    j->N = N;
    j->K = K;
    j->nbatch = nbatch;
    sk_gemm_epi_none(&j->epi);
}

/* per-thread floats for K blocks of up to kc rows */
static size_t scratch_per_thread(const sk_gemm_cfg *cfg, int kc)
{
    /* a K-pair config's packers gather two K rows before they convert
     * them: twice the row buffer */
    return round16((size_t)kc * (size_t)cfg->nc) + round16((size_t)cfg->mc * (size_t)kc) +
           round16(((size_t)cfg->nc + 2 * (size_t)cfg->nr) * (cfg->kpair ? 2 : 1));
}

size_t sk_gemm_scratch_floats(const sk_gemm_cfg *cfg, int nthreads)
{
    if (!cfg)
        return 0;
    return scratch_per_thread(cfg, cfg->kc) * (size_t)(nthreads > 0 ? nthreads : 1);
}

/* the K block limit of a job's scratch: its own only when a callback packs */
static int job_scratch_kc(const sk_gemm_job *j)
{
    return j->kc > j->cfg->kc && (j->pack_a || j->pack_b) ? j->kc : j->cfg->kc;
}

size_t sk_gemm_job_scratch_floats(const sk_gemm_job *j, int nthreads)
{
    if (!j->cfg)
        return 0;
    return scratch_per_thread(j->cfg, job_scratch_kc(j)) * (size_t)(nthreads > 0 ? nthreads : 1);
}

typedef struct run_ctx {
    const sk_gemm_job *job;
    int prefetch; /* software prefetch of the next weights (see run_task) */
    int aorder;   /* packed A: A panels outermost in a block (see run_task) */
    sk_gemm_narrow_fn narrow; /* cfg->narrow unless SKIPSERVE_GEMM_NARROW=0 */
    int kcb; /* K block: <= cfg->kc, the blocks of K as equal as possible */
    int nbw, nblocks, mpanels, chunk_panels, mchunks;
    /* 1: the last column block also takes the columns past nblocks * nbw
     * (a narrow last panel: gemm_split.c's column split) */
    int merge_tail;
    float *scratch;
    size_t per_thread;
    size_t apf; /* cfg->apf unless SKIPSERVE_GEMM_APF=0 (session 19) */
    int apf_mink; /* ... for K blocks of at least this many rows */
} run_ctx;

/* The microkernel's view of the epilogue for the tile whose top-left
 * element is (row, col) of the product. */
static inline sk_ukernel_params uk_params(const sk_gemm_epi *e, int row, int col)
{
    sk_ukernel_params up;
    up.bias_row = e->bias && !e->bias_per_col ? e->bias + row : NULL;
    up.bias_col = e->bias && e->bias_per_col ? e->bias + col : NULL;
    up.res = e->res ? e->res + (size_t)row * e->ldres + col : NULL;
    up.ldres = e->ldres;
    up.min = e->min;
    up.max = e->max;
    up.pf = up.pf_end = NULL;
    up.pf_step = 0;
    up.apf = 0;
    up.a2 = NULL;
    up.pf2 = up.pf2_end = NULL;
    up.pf2_step = 0;
    return up;
}

/* ---- software prefetch of the next weights (issue 24, session 16) -------
 * At small M x N (batch 1: 49 or 196 pixels) every weight is used by few
 * tiles, and the first tile to touch a slice of the packed weights waits
 * for DRAM while the following ones find it in L2: the stream runs in
 * bursts at the rate one core's misses allow, then idles. Here each full
 * tile's kernel is handed a piece of the slice the task reads *next* (the
 * next B panel's slice when the weights are B — pixel rows, MatMul
 * weights —, the next M block's A panels when they are A — im2col-gemm),
 * the pieces spread over the current slice's tiles, so the next weights
 * arrive in L2 at an even rate while these tiles compute. Only for an
 * operand packed at load (a_packed / b_packed): one packed per run lies
 * in this thread's scratch, already cached. The arithmetic is untouched:
 * the same bits. SKIPSERVE_GEMM_PREFETCH=0 turns it off (A/B). */
typedef struct pf_range {
    const char *p, *end; /* NULL: none */
} pf_range;

static int prefetch_on(void)
{
    const char *e = sk_sw()->gemm_prefetch;
    return !(e && !strcmp(e, "0"));
}

/* the job's K against cfg->pf_min_k or SKIPSERVE_GEMM_PF_MINK (gemm.h) */
static int prefetch_k(const sk_gemm_cfg *cfg, int K)
{
    const char *e = sk_sw()->gemm_pf_mink;
    const long mk = e && *e ? atol(e) : (long)cfg->pf_min_k;
    return mk <= 0 || K >= mk;
}

/* Piece t of `ntiles` of the next weights: npan slices of `bytes` bytes,
 * `stride` bytes apart from `base`. Tile t takes slice t % npan, and its
 * share of that slice among the tiles that take it. */
static pf_range pf_piece(const char *base, size_t stride, int npan, size_t bytes, int t,
                         int ntiles)
{
    pf_range r = {NULL, NULL};
    if (!base || npan <= 0 || ntiles <= 0 || !bytes)
        return r;
    int s = t % npan, q = t / npan, nparts = (ntiles - s + npan - 1) / npan;
    if (nparts <= 0)
        return r;
    const char *sl = base + (size_t)s * stride;
    size_t b0 = bytes * (size_t)q / (size_t)nparts, b1 = bytes * (size_t)(q + 1) / (size_t)nparts;
    r.p = (const char *)((uintptr_t)(sl + b0) & ~(uintptr_t)63);
    r.end = sl + b1;
    return r;
}

/* pf_piece(base, 0, 1, bytes, t, n) for t = 0, 1, ... in turn without its
 * divisions (session 20, r56): floor(bytes * t / n) kept as a quotient and
 * remainder stepped by bytes / n and bytes % n — the same pieces. A-order
 * tiles of short K (ResNet's 56x56 1x1 convs, K = 64: ~500 FMA cycles a
 * tile) spent 3% of the conv in pf_piece, mostly its three divisions. */
typedef struct pf_iter {
    const char *base;
    size_t q, r, dq, dr, n;
} pf_iter;

static inline void pf_iter_init(pf_iter *it, const char *base, size_t bytes, int ntiles)
{
    it->base = bytes && ntiles > 0 ? base : NULL;
    it->n = ntiles > 0 ? (size_t)ntiles : 1;
    it->q = it->r = 0;
    it->dq = bytes / it->n;
    it->dr = bytes % it->n;
}

/* the next tile's piece (at most n of them) */
static inline pf_range pf_iter_next(pf_iter *it)
{
    pf_range r = {NULL, NULL};
    if (!it->base)
        return r;
    const char *b0 = it->base + it->q;
    it->q += it->dq;
    it->r += it->dr;
    if (it->r >= it->n) {
        it->r -= it->n;
        it->q++;
    }
    r.p = (const char *)((uintptr_t)b0 & ~(uintptr_t)63);
    r.end = it->base + it->q;
    return r;
}

/* pf_piece(base, stride, npan, bytes, t, ntiles) for t = 0, 1, ... in turn
 * without its divisions (session 21, a2s; pf_iter for npan > 1): the
 * default order's tiles, one call each, spent 1.2% of ResNet-50 b1 1T at
 * the AVX2 level in pf_piece (two integer divisions and a modulo a tile:
 * ~60 cycles against ~400 of FMAs in a K = 64 tile). With ntiles = Q npan
 * + R, slice s is cut into Q + 1 parts for s < R and Q parts otherwise,
 * and tile t takes part t / npan of slice t % npan: two quotient /
 * remainder steppers (one per part count) advanced once a cycle of npan
 * tiles give the same pieces. */
typedef struct pf_cyc {
    const char *base, *sl; /* NULL: none; slice s's start */
    size_t stride;
    int npan, s, R;
    struct {
        size_t q, r, dq, dr, n;
    } it[2]; /* parts: [0] Q + 1 (s < R), [1] Q */
} pf_cyc;

static inline void pf_cyc_init(pf_cyc *c, const char *base, size_t stride, int npan,
                               size_t bytes, int ntiles)
{
    c->base = base && npan > 0 && ntiles > 0 && bytes ? base : NULL;
    c->sl = NULL;
    c->stride = 0;
    c->npan = 1;
    c->s = c->R = 0;
    if (!c->base)
        return;
    c->sl = base;
    c->stride = stride;
    c->npan = npan;
    c->s = 0;
    c->R = ntiles % npan;
    const int Q = ntiles / npan;
    for (int i = 0; i < 2; i++) {
        size_t n = (size_t)(i ? Q : Q + 1);
        if (!n) /* Q = 0: every tile's slice has s < R */
            n = 1;
        c->it[i].n = n;
        c->it[i].dq = bytes / n;
        c->it[i].dr = bytes % n;
        c->it[i].q = c->it[i].r = 0;
    }
}

static inline pf_range pf_cyc_next(pf_cyc *c)
{
    pf_range r = {NULL, NULL};
    if (!c->base)
        return r;
    const int i = c->s < c->R ? 0 : 1;
    size_t q1 = c->it[i].q + c->it[i].dq;
    if (c->it[i].r + c->it[i].dr >= c->it[i].n)
        q1++;
    r.p = (const char *)((uintptr_t)(c->sl + c->it[i].q) & ~(uintptr_t)63);
    r.end = c->sl + q1;
    c->sl += c->stride;
    if (++c->s == c->npan) { /* the next part of every slice */
        c->s = 0;
        c->sl = c->base;
        for (int k = 0; k < 2; k++) {
            c->it[k].q += c->it[k].dq;
            c->it[k].r += c->it[k].dr;
            if (c->it[k].r >= c->it[k].n) {
                c->it[k].r -= c->it[k].n;
                c->it[k].q++;
            }
        }
    }
    return r;
}

/* The kernel's view of a piece: at most two lines per two k steps. */
static inline void pf_params(sk_ukernel_params *up, pf_range r, size_t kc)
{
    size_t iters = kc / 2, lines;
    if (!r.p || r.end <= r.p || !iters)
        return;
    lines = ((size_t)(r.end - r.p) + 63) / 64;
    /* ceil(lines / iters) where it matters (1, 2 or more) without a
     * division: one per tile showed in short-K tiles (see pf_iter) */
    size_t per = lines <= iters ? 1 : lines <= 2 * iters ? 2 : 3;
    if (per > 2) { /* more than the loop can touch: its first part */
        per = 2;
        r.end = r.p + iters * 128;
    }
    up->pf = r.p;
    up->pf_end = r.end;
    up->pf_step = per * 64;
}

void sk_gemm_pf_piece(sk_ukernel_params *up, const void *next, size_t bytes, int t, int n,
                      size_t kc)
{
    up->pf = up->pf_end = NULL;
    up->pf_step = 0;
    pf_params(up, pf_piece(next, 0, 1, bytes, t, n), kc);
}

void sk_gemm_pf_seq_init(sk_gemm_pf_seq *s, const void *next, size_t bytes, int n)
{
    pf_iter it;
    pf_iter_init(&it, (const char *)next, bytes, n);
    s->base = it.base;
    s->q = it.q;
    s->r = it.r;
    s->dq = it.dq;
    s->dr = it.dr;
    s->n = it.n;
}

void sk_gemm_pf_seq_next(sk_ukernel_params *up, sk_gemm_pf_seq *s, size_t kc)
{
    pf_iter it = {s->base, s->q, s->r, s->dq, s->dr, s->n};
    up->pf = up->pf_end = NULL;
    up->pf_step = 0;
    pf_params(up, pf_iter_next(&it), kc);
    s->q = it.q;
    s->r = it.r;
}

/* base's blocking run by an mr-row kernel uk, without base's edge kernels
 * (theirs read base->mr-row panels) or its two-panel kernel. The M block
 * is at least one panel: one below mr (SKIPSERVE_GEMM_BLOCKS' mc 8 with
 * 12 rows) would round to 0 and run_task's `ic += mc` would never end. */
static sk_gemm_cfg cfg_rows(const sk_gemm_cfg *base, int mr, sk_gemm_ukernel uk)
{
    sk_gemm_cfg c = *base;
    c.mr = mr;
    c.mc = base->mc / mr * mr < mr ? mr : base->mc / mr * mr;
    c.uk = uk;
    c.uk2 = NULL;
    c.ntail = NULL;
    c.mtail = NULL;
    c.narrow = NULL;
    return c;
}

sk_gemm_cfg sk_gemm_cfg_mr7(const sk_gemm_cfg *base, sk_gemm_ukernel uk7)
{
    return cfg_rows(base, 7, uk7);
}

sk_gemm_cfg sk_gemm_cfg_mr12(const sk_gemm_cfg *base, sk_gemm_ukernel uk12)
{
    sk_gemm_cfg c = cfg_rows(base, 12, uk12);
    /* no A-panel prefetch: on the 12-row tile it measured 0.98-1.00x
     * (ViT-B/16's Linear layers, session 19) — the tile already hides A */
    c.apf = 0;
    return c;
}

/* A tail tile (fewer than mr rows or nr columns): compute the full tile
 * into a buffer, copy the valid part, apply the epilogue there. Kept out of
 * line so the common full-tile path stays a few instructions. */
static void run_tail_tile(const sk_gemm_job *j, const sk_gemm_epi *e, const float *a,
                          const float *b, float *ct, int row, int col, int mv, int nv, size_t kc,
                          int flags, const sk_ukernel_params *up)
{
    const int nr = j->cfg->nr;
    _Alignas(64) float tmp[SK_UK_MAX_TILE];
    if (flags & SK_UK_ACCUM)
        for (int i = 0; i < mv; i++)
            memcpy(tmp + i * nr, ct + (size_t)i * j->ldc, (size_t)nv * sizeof(float));
    j->cfg->uk(kc, a, b, tmp, (size_t)nr, flags & SK_UK_ACCUM, up);
    for (int i = 0; i < mv; i++)
        memcpy(ct + (size_t)i * j->ldc, tmp + i * nr, (size_t)nv * sizeof(float));
    if (flags & SK_UK_EPI)
        sk_gemm_epi_apply(e, ct, j->ldc, row, col, mv, nv);
}

static inline void run_tile(const sk_gemm_job *j, const sk_gemm_epi *e, const float *a,
                            const float *b, float *c, int row, int col, size_t kc, int flags,
                            pf_range pf, size_t apf)
{
    const sk_gemm_cfg *cfg = j->cfg;
    int mr = cfg->mr, nr = cfg->nr;
    int mv = j->M - row < mr ? j->M - row : mr;
    int nv = j->N - col < nr ? j->N - col : nr;
    float *ct = c + (size_t)row * j->ldc + col;
    sk_ukernel_params up = uk_params(e, row, col);
    if (mv == mr && nv == nr) {
        pf_params(&up, pf, kc);
        up.apf = apf;
        cfg->uk(kc, a, b, ct, j->ldc, flags, &up);
    }
    else
        run_tail_tile(j, e, a, b, ct, row, col, mv, nv, kc, flags, &up);
}

/* Two full mr x nr tiles, rows [row, row + 2 * mr), by cfg->uk2 (the A
 * panels at a and a + astride); pf / pf2 the two tiles' prefetch pieces. */
static inline void run_tile2(const sk_gemm_job *j, const sk_gemm_epi *e, const float *a,
                             size_t astride, const float *b, float *c, int row, int col,
                             size_t kc, int flags, pf_range pf, pf_range pf2)
{
    sk_ukernel_params up = uk_params(e, row, col), up2 = uk_params(e, row, col);
    pf_params(&up, pf, kc);
    pf_params(&up2, pf2, kc);
    up.a2 = a + astride;
    up.pf2 = up2.pf;
    up.pf2_end = up2.pf_end;
    up.pf2_step = up2.pf_step;
    j->cfg->uk2(kc, a, b, c + (size_t)row * j->ldc + col, j->ldc, flags, &up);
}

/* The last column panel with at most nr/2 real columns (cfg->ntail, see
 * sk_gemm_ntail_fn): 2 * mr rows of the block [ic, ic + mb) at a time. */
static void run_ntail(const sk_gemm_job *j, const sk_gemm_epi *e, const float *ap,
                      size_t astride, const float *bpan, float *c, int ic, int mb, int col,
                      size_t kc, int flags, sk_gemm_narrow_fn narrow)
{
    const int mr = j->cfg->mr, nv = j->N - col;
    if (narrow && nv <= 8) { /* rows in the lanes: the whole block at once */
        sk_ukernel_params up = uk_params(e, ic, col);
        narrow(kc, ap, astride, bpan, c + (size_t)ic * j->ldc + col, j->ldc, mb, nv, flags, &up);
        return;
    }
    for (int im = 0; im < mb; im += 2 * mr) {
        int row = ic + im, rows = mb - im < 2 * mr ? mb - im : 2 * mr;
        const float *a0 = ap + (size_t)(im / mr) * astride;
        sk_ukernel_params up = uk_params(e, row, col);
        j->cfg->ntail(kc, a0, rows > mr ? a0 + astride : a0, bpan, c + (size_t)row * j->ldc + col,
                      j->ldc, rows, nv, flags, &up);
    }
}

/* Rows [row, row + rows) (fewer than mr: the last A panel of a block)
 * across the block's panels that hold columns [col, col + ncols)
 * (cfg->mtail, see sk_gemm_mtail_fn). */
static void run_mtail(const sk_gemm_job *j, const sk_gemm_epi *e, const float *a,
                      const float *bp, size_t bstride, float *c, int row, int rows, int col,
                      int ncols, size_t kc, int flags)
{
    const int nr = j->cfg->nr;
    sk_ukernel_params up = uk_params(e, row, col);
    j->cfg->mtail(kc, a, bp, bstride, (ncols + nr - 1) / nr, c + (size_t)row * j->ldc + col,
                  j->ldc, rows, ncols, flags, &up);
}

static void run_task(void *arg, int tid, size_t begin, size_t end)
{
    run_ctx *rc = arg;
    const sk_gemm_job *j = rc->job;
    const sk_gemm_cfg *cfg = j->cfg;
    const int mr = cfg->mr, nr = cfg->nr;
    float *bbuf = rc->scratch + (size_t)tid * rc->per_thread;
    const size_t skc = (size_t)job_scratch_kc(j); /* the rows the buffers hold */
    float *abuf = bbuf + round16(skc * (size_t)cfg->nc);
    float *tmp = abuf + round16((size_t)cfg->mc * skc);
    /* prefetch (see pf_piece) the weights of the items that read them
     * first on this thread: the items of a batch share them (a group's A,
     * one B), so a later item finds them in cache, and prefetching them
     * again only spends L1 (ResNet-101 b8 read 5% slower that way) */
    const int first_item = (int)(begin / ((size_t)rc->nblocks * (size_t)rc->mchunks));
    if (cfg->task_begin)
        cfg->task_begin();
    for (size_t t = begin; t < end; t++) {
        int item = (int)(t / ((size_t)rc->nblocks * (size_t)rc->mchunks));
        const int pf_a = rc->prefetch && j->a_packed && item < first_item + j->a_packed->groups;
        const int pf_b = rc->prefetch && j->b_packed && (j->b_stride || item == first_item);
        int r = (int)(t % ((size_t)rc->nblocks * (size_t)rc->mchunks));
        int nbi = r / rc->mchunks, mci = r % rc->mchunks;
        int n0 = nbi * rc->nbw, nb = j->N - n0 < rc->nbw ? j->N - n0 : rc->nbw;
        if (rc->merge_tail && nbi == rc->nblocks - 1)
            nb = j->N - n0;
        int p0 = mci * rc->chunk_panels;
        int p1 = p0 + rc->chunk_panels < rc->mpanels ? p0 + rc->chunk_panels : rc->mpanels;
        int m0 = p0 * mr, m1 = p1 * mr < j->M ? p1 * mr : j->M;
        int grp = j->a_packed ? item % j->a_packed->groups : 0;
        float *c = j->c + (size_t)item * j->c_stride;
        sk_gemm_epi e = j->epi;
        if (e.bias && !e.bias_per_col)
            e.bias += (size_t)grp * j->bias_stride;
        if (e.res)
            e.res += (size_t)item * j->res_stride;
        for (int pc = 0; pc < j->K; pc += rc->kcb) {
            int kc = j->K - pc < rc->kcb ? j->K - pc : rc->kcb;
            int flags = (pc ? SK_UK_ACCUM : 0) | (pc + kc == j->K ? SK_UK_EPI : 0);
            const size_t apf = kc >= rc->apf_mink ? rc->apf : 0; /* this K block's */
            const float *bp;
            size_t bstride;
            if (j->pack_b) {
                j->pack_b(j->b_ctx, item, pc, kc, n0, nb, nr, bbuf, tmp);
                bp = bbuf;
                bstride = sk_gemm_kslots(cfg, kc) * (size_t)nr;
            } else {
                bstride = sk_gemm_kslots(cfg, j->K) * (size_t)nr;
                bp = j->b_packed->data + (size_t)item * j->b_stride + (size_t)(n0 / nr) * bstride +
                     sk_gemm_kslots(cfg, pc) * (size_t)nr;
            }
            for (int ic = m0; ic < m1; ic += cfg->mc) {
                int mb = m1 - ic < cfg->mc ? m1 - ic : cfg->mc;
                const float *ap;
                size_t astride;
                if (j->pack_a) {
                    j->pack_a(j->a_ctx, item, ic, mb, pc, kc, mr, abuf);
                    ap = abuf;
                    astride = sk_gemm_kslots(cfg, kc) * (size_t)mr;
                } else {
                    astride = sk_gemm_kslots(cfg, j->K) * (size_t)mr;
                    ap = j->a_packed->data + (size_t)grp * j->a_packed->group_stride +
                         (size_t)(ic / mr) * astride + sk_gemm_kslots(cfg, pc) * (size_t)mr;
                }
                /* rows past the block's last whole A panel go to mtail,
                 * a last panel of <= nr/2 columns to ntail (all rows) */
                const int tail_rows = cfg->mtail ? mb % mr : 0, mfull = mb - tail_rows;
                const int npm = (mfull + mr - 1) / mr, npb = (nb + nr - 1) / nr;
                /* the next weights (see pf_piece): packed A — the next M
                 * block's panels, or the next K block's first; packed B —
                 * the next panel's slice, or the next K block's first (in
                 * the first M block only: later ones find B in L2) */
                const char *pfa = NULL;
                size_t pfa_bytes = 0;
                int pfa_n = 0;
                if (pf_a && !j->pack_a) {
                    int nic = ic + cfg->mc < m1 ? ic + cfg->mc : m0, npc = pc;
                    if (nic == m0)
                        npc = pc + kc < j->K ? pc + kc : -1;
                    if (npc >= 0) {
                        int nkc = j->K - npc < rc->kcb ? j->K - npc : rc->kcb;
                        int nmb = m1 - nic < cfg->mc ? m1 - nic : cfg->mc;
                        pfa = (const char *)(j->a_packed->data +
                                             (size_t)grp * j->a_packed->group_stride +
                                             (size_t)(nic / mr) * astride +
                                             sk_gemm_kslots(cfg, npc) * (size_t)mr);
                        pfa_bytes = sk_gemm_kslots(cfg, nkc) * (size_t)mr * sizeof(float);
                        pfa_n = (nmb + mr - 1) / mr;
                    }
                }
                if (rc->aorder && !j->pack_a) {
                    /* A-panel order (packed A, the weights of im2col-gemm):
                     * each A panel — a slice of the weights — stays in L1
                     * across the block's B panels, read from L2, and the
                     * next panel streams in meanwhile; the default order
                     * runs each B panel across every A panel instead.
                     * Each tile is computed alike: the same bits. */
                    int ncut = nb; /* columns before an ntail panel */
                    for (int jn = 0; jn < nb; jn += nr)
                        if (cfg->ntail && j->N - (n0 + jn) <= nr / 2) {
                            ncut = jn;
                            break;
                        }
                    const int npf = (ncut + nr - 1) / nr;
                    for (int im = 0; im < mfull; im += mr) {
                        const char *nx = NULL;
                        size_t nxb = 0;
                        if (pf_a && im + mr < mfull) {
                            nx = (const char *)(ap + (size_t)(im / mr + 1) * astride);
                            nxb = sk_gemm_kslots(cfg, kc) * (size_t)mr * sizeof(float);
                        } else if (pfa) {
                            nx = pfa;
                            nxb = pfa_bytes;
                        }
                        pf_iter it;
                        pf_iter_init(&it, nx, nxb, npf);
                        for (int jn = 0; jn < ncut; jn += nr)
                            run_tile(j, &e, ap + (size_t)(im / mr) * astride,
                                     bp + (size_t)(jn / nr) * bstride, c, ic + im, n0 + jn,
                                     (size_t)kc, flags, pf_iter_next(&it), apf);
                    }
                    if (ncut < nb)
                        run_ntail(j, &e, ap, astride, bp + (size_t)(ncut / nr) * bstride, c, ic,
                                  mb, n0 + ncut, (size_t)kc, flags, rc->narrow);
                    if (tail_rows && ncut > 0)
                        run_mtail(j, &e, ap + (size_t)(mfull / mr) * astride, bp, bstride, c,
                                  ic + mfull, tail_rows, n0, ncut, (size_t)kc, flags);
                    continue;
                }
                const int pfb_on = pf_b && !j->pack_b && ic == m0;
                int ncols = nb;
                pf_cyc pcyc;
                pf_cyc_init(&pcyc, pfa, astride * sizeof(float), pfa_n, pfa_bytes, npm * npb);
                for (int jn = 0; jn < nb; jn += nr) {
                    const float *bpan = bp + (size_t)(jn / nr) * bstride;
                    if (cfg->ntail && j->N - (n0 + jn) <= nr / 2) {
                        run_ntail(j, &e, ap, astride, bpan, c, ic, mb, n0 + jn, (size_t)kc, flags,
                                  rc->narrow);
                        ncols = jn;
                        continue;
                    }
                    const char *pfb = NULL;
                    size_t pfb_bytes = 0;
                    if (pfb_on) {
                        if (jn + nr < nb)
                            pfb = (const char *)(bpan + bstride);
                        else if (pc + kc < j->K && m1 - m0 <= cfg->mc)
                            pfb = (const char *)(bp + sk_gemm_kslots(cfg, kc) * (size_t)nr);
                        int nkc = pfb && jn + nr >= nb ? (j->K - pc - kc < rc->kcb
                                                              ? j->K - pc - kc
                                                              : rc->kcb)
                                                       : kc;
                        pfb_bytes = sk_gemm_kslots(cfg, nkc) * (size_t)nr * sizeof(float);
                    }
                    /* (session 19, r12) two full tiles at once where the
                     * config has a two-panel kernel: the B panel slice is
                     * read once per pair of A panels */
                    const int pair = cfg->uk2 && n0 + jn + nr <= j->N;
                    /* the pieces in tile order (pf_cyc): packed A's run
                     * on across the block's B panels (tile im / mr + npm *
                     * (jn / nr)), packed B's restart at each B panel */
                    if (!pfa)
                        pf_cyc_init(&pcyc, pfb, 0, 1, pfb_bytes, npm);
                    for (int im = 0; im < mfull; im += mr) {
                        pf_range pf = pf_cyc_next(&pcyc);
                        if (pair && im + 2 * mr <= mfull && ic + im + 2 * mr <= j->M) {
                            pf_range pf2 = pf_cyc_next(&pcyc);
                            run_tile2(j, &e, ap + (size_t)(im / mr) * astride, astride, bpan, c,
                                      ic + im, n0 + jn, (size_t)kc, flags, pf, pf2);
                            im += mr;
                            continue;
                        }
                        run_tile(j, &e, ap + (size_t)(im / mr) * astride, bpan, c, ic + im,
                                 n0 + jn, (size_t)kc, flags, pf,
                                 apf);
                    }
                }
                if (tail_rows && ncols > 0)
                    run_mtail(j, &e, ap + (size_t)(mfull / mr) * astride, bp, bstride, c,
                              ic + mfull, tail_rows, n0, ncols, (size_t)kc, flags);
            }
        }
        if (j->post) /* the block this task wrote, final now (gemm.h) */
            j->post(j->post_ctx, item, c + (size_t)m0 * j->ldc + n0, j->ldc, m1 - m0, nb);
    }
    if (cfg->task_end)
        cfg->task_end();
}

/* How a job is cut into tasks: column blocks of nbw (<= nc) and row chunks
 * of chunk_panels A panels, for T threads. Every column block re-reads its
 * rows of A and every row chunk its columns of B, so the split weighs the
 * estimated finish time (the largest task, or the tasks per thread times
 * the mean task, plus a margin for a late thread) against those re-reads:
 * a byte of A or B streamed again from a shared cache costs
 * SPLIT_FLOP_PER_BYTE flops of time, twice that when the operand is packed
 * at run time (a gather, not a read).
 * Few wide tasks when B is large (deep 3x3 layers: weights in A), row
 * chunks when A is large and B small (pixel rows: weights in B). With one
 * thread: one row chunk, nc-wide blocks. */
#define SPLIT_FLOP_PER_BYTE 2.0

/* (issue 24 session 17) An operand larger than SPLIT_L2_BYTES is not in
 * this core's L2 when the thread's next task reads it again: every re-read
 * streams it from L3 (or the other core), at ~12 GB/s a core measured, or
 * ~16 flops of a core's time a byte. Pixel rows of a 3x3 512-channel conv
 * at 7x7 (ResNet-18/34's last stage, batch 1): A is 49 x 4608 floats, 903
 * KB; the split cut W' into 8 column blocks (4 tasks a thread, each
 * streaming all of A) where 2 (one a thread, A's K blocks reused from L2
 * across its 8 weight panels) ran a chain of four such layers ~20% faster
 * at 2 threads (each job's fastest of 40 runs, load 3-4); inside ResNet-50
 * / -18 those jobs read 1.03-1.05x, at the noise of that machine
 * (bench/RESULTS.md, session 17). The 2-block split has no task left to
 * steal from a late thread, which the margin below weighs.
 * SKIPSERVE_GEMM_SPLIT_FAR=0: every re-read at SPLIT_FLOP_PER_BYTE (A/B). */
#define SPLIT_L2_BYTES (512.0 * 1024)
#define SPLIT_FLOP_PER_BYTE_FAR 16.0
static int split_far(void);

/* SKIPSERVE_GEMM_SPLIT=balance (opt-in, issue 24 session 14): estimate a
 * split's finish by dealing its tasks, in the pool's order and with their
 * real sizes (the last column block and row chunk are short), to the least
 * loaded thread — the default counts rounds of the *mean* task, so it sees
 * ResNet-50's 784-pixel layer at batch 1 as 4 equal blocks (224, 224, 224,
 * 112 columns: 448 vs 336 per thread) and prefers 2 row chunks that gather
 * every B panel twice. Not the default: the 2-thread wall time could not
 * be A/B'd on a quiet machine (bench/RESULTS.md). Read once per process. */
#define SPLIT_SIM_MAX_T SK_GEMM_SPLIT_MAX_T
#define SPLIT_SIM_MAX_TASKS_PER_T 16
static int split_balance(void);

/* The default finish estimate (issue 24 session 17): the split played
 * out in the pool's claim order with each task's padded size
 * (gemm_split.c), where every task is its own chunk of the pool
 * (threadpool.c: up to 16 tasks a thread; more are grouped, and the mean
 * model above holds well there). SKIPSERVE_GEMM_SPLIT_POOL=0: the mean
 * model everywhere (A/B). Read once per process. */
#define SPLIT_POOL_MAX_TASKS_PER_T 16
static int split_pool(void);

/* The switches above, read once per process (a getenv per GEMM job
 * was measurable on small jobs): switches.c's table, since session 21
 * (sk_switches_reload re-reads it; sk_gemm_split_env_reload, the old
 * name, too). And (session 19, mend19) the A-panel prefetch's:
 * SKIPSERVE_GEMM_APF (unset: the config's distance; 0 off; n bytes
 * ahead) and SKIPSERVE_GEMM_APF_MINK (the shortest K block that takes
 * it, 128). */
static int split_far(void) { return sk_sw()->gemm_split_far_on; }
static int split_balance(void) { return sk_sw()->gemm_split_balance; }
static int split_pool(void) { return sk_sw()->gemm_split_pool_on; }
void sk_gemm_split_env_reload(void) { sk_switches_reload(); }

/* The busiest thread's elements (rows x columns) when the tasks (items x
 * column blocks x row chunks, row chunks fastest, as run_task numbers
 * them) go one by one to the least loaded of T threads. */
static double split_sim_finish(const sk_gemm_job *j, int T, int ppb, int nblocks, int cpp,
                               int mchunks)
{
    const int mr = j->cfg->mr, nr = j->cfg->nr;
    double load[SPLIT_SIM_MAX_T] = {0}, worst = 0;
    long ntasks = (long)j->nbatch * nblocks * mchunks;
    for (long t = 0; t < ntasks; t++) {
        int r = (int)(t % ((long)nblocks * mchunks));
        int c0 = (r / mchunks) * ppb * nr, r0 = (r % mchunks) * cpp * mr;
        double cols = j->N - c0 < ppb * nr ? j->N - c0 : ppb * nr;
        double rows = j->M - r0 < cpp * mr ? j->M - r0 : cpp * mr;
        int least = 0;
        for (int q = 1; q < T; q++)
            if (load[q] < load[least])
                least = q;
        load[least] += cols * rows;
    }
    for (int q = 0; q < T; q++)
        if (load[q] > worst)
            worst = load[q];
    return worst;
}

static void plan_split_compute(const sk_gemm_job *j, int T, run_ctx *rc)
{
    const sk_gemm_cfg *cfg = j->cfg;
    const int mr = cfg->mr, nr = cfg->nr;
    const int npanels = (j->N + nr - 1) / nr, max_ppb = cfg->nc / nr > 0 ? cfg->nc / nr : 1;
    rc->mpanels = (j->M + mr - 1) / mr;
    int best_ppb = npanels < max_ppb ? npanels : max_ppb, best_cpp = rc->mpanels;
    if (T > 1) {
        /* bytes an element of the packed operands: BF16 jobs (K pairs) 2 */
        const double eb = cfg->kpair ? 2.0 : 4.0;
        const double a_bytes = eb * j->M * j->K * (j->pack_a ? 2 : 1);
        const double b_bytes = eb * j->K * j->N * (j->pack_b ? 2 : 1);
        /* padded elements (whole mr x nr tiles), as the pool model counts */
        const double total = (double)rc->mpanels * mr * npanels * nr * j->nbatch,
                     kf = 2.0 * j->K;
        /* flops of time a byte re-read costs, A's and B's (see SPLIT_L2_BYTES) */
        const int weigh_far = split_far();
        const double a_flops_per_byte = weigh_far && eb * j->M * j->K > SPLIT_L2_BYTES
                                            ? SPLIT_FLOP_PER_BYTE_FAR
                                            : SPLIT_FLOP_PER_BYTE;
        const double b_flops_per_byte = weigh_far && eb * j->K * j->N > SPLIT_L2_BYTES
                                            ? SPLIT_FLOP_PER_BYTE_FAR
                                            : SPLIT_FLOP_PER_BYTE;
        const int sim = split_balance() && T <= SPLIT_SIM_MAX_T;
        const int pool = split_pool() && T <= SK_GEMM_SPLIT_MAX_T;
        double best = -1;
        int prev_nb = 0;
        for (int nbk = (npanels + max_ppb - 1) / max_ppb; nbk <= npanels; nbk++) {
            int ppb = (npanels + nbk - 1) / nbk, nblocks = (npanels + ppb - 1) / ppb;
            if (nblocks == prev_nb)
                continue;
            prev_nb = nblocks;
            long per = (long)j->nbatch * nblocks;
            for (int k = 0; k <= 4; k++) { /* 1 row chunk, or about k tasks per thread */
                long want = k ? ((long)k * T + per - 1) / per : 1;
                int mc = want < rc->mpanels ? (int)want : rc->mpanels;
                int cpp = (rc->mpanels + mc - 1) / mc, mchunks = (rc->mpanels + cpp - 1) / cpp;
                long ntasks = per * mchunks;
                double cols = (double)(ppb < npanels ? ppb : npanels) * nr; /* padded */
                double rows = (double)(cpp < rc->mpanels ? cpp : rc->mpanels) * mr;
                /* whole rounds of mean tasks, or the largest, plus half
                 * the largest again: a thread that starts late (a wake-up,
                 * another process) delays the end by up to one task */
                double finish = (double)((ntasks + T - 1) / T) * total / (double)ntasks;
                if (cols * rows > finish)
                    finish = cols * rows;
                if (sim && ntasks <= (long)SPLIT_SIM_MAX_TASKS_PER_T * T)
                    finish = split_sim_finish(j, T, ppb, nblocks, cpp, mchunks);
                else if (pool && ntasks <= (long)SPLIT_POOL_MAX_TASKS_PER_T * T) {
                    /* -1: T beyond the model (then the mean model's estimate) */
                    double f = sk_gemm_split_pool_busiest_elems(j, T, ppb, nblocks, cpp, mchunks);
                    if (f >= 0)
                        finish = f;
                }
                finish += 0.5 * cols * rows * (1.0 - 1.0 / T);
                double reread =
                    (double)j->nbatch * (nblocks * a_bytes * a_flops_per_byte +
                                       mchunks * b_bytes * b_flops_per_byte);
                double cost = finish * kf + reread / T;
                if (best < 0 || cost < best) {
                    best = cost;
                    best_ppb = ppb;
                    best_cpp = cpp;
                }
            }
        }
    }
    rc->nbw = best_ppb * nr;
    rc->nblocks = (j->N + rc->nbw - 1) / rc->nbw;
    rc->chunk_panels = best_cpp;
    rc->mchunks = (rc->mpanels + best_cpp - 1) / best_cpp;
}

/* ---- the split, remembered per job shape (issue 24, session 19 mv1) ----
 * plan_split_compute weighs every candidate split, playing each out in
 * the pool's order (gemm_split.c), on every GEMM job of every run, on
 * the calling thread between jobs (the critical path): on the Intel Xeon
 * of session 19, 72 us of thread CPU time a MobileNetV2 b1 2T run (~1.8%
 * of a quiet run), 157 us at b8 2T — most of it at b1 on the column-split
 * jobs, whose pick sk_gemm_run then overrode and which no longer plan at
 * all; with this cache the rest costs ~1 us a run (bench/RESULTS.md,
 * session 19 mv1). Its result depends only on the key below (the
 * config's tile and block sizes, the shape, the thread count, whether
 * the operands are packed per run, and the split switches), so each
 * thread keeps the last SPLIT_CACHE_N distinct keys' splits, direct-
 * mapped (a collision recomputes): no lock, nothing allocated, the same
 * split as computing it. SKIPSERVE_GEMM_SPLIT_CACHE=0: compute every
 * time (A/B; read with the other split switches). */
#define SPLIT_CACHE_N 128
typedef struct split_key {
    int mr, nr, nc, kpair, M, N, K, nbatch, T, packs, env;
} split_key;
typedef struct split_entry {
    split_key key;
    int valid, nbw, nblocks, mpanels, chunk_panels, mchunks;
} split_entry;
static _Thread_local split_entry split_cache[SPLIT_CACHE_N];

static void plan_split(const sk_gemm_job *j, int T, run_ctx *rc)
{
    if (T <= 1 || !sk_sw()->gemm_split_cache_on) {
        plan_split_compute(j, T, rc);
        return;
    }
    split_key k;
    memset(&k, 0, sizeof k); /* no padding in it, but compared by bytes */
    k.mr = j->cfg->mr;
    k.nr = j->cfg->nr;
    k.nc = j->cfg->nc;
    k.kpair = j->cfg->kpair;
    k.M = j->M;
    k.N = j->N;
    k.K = j->K;
    k.nbatch = j->nbatch;
    k.T = T;
    k.packs = (j->pack_a ? 1 : 0) | (j->pack_b ? 2 : 0);
    k.env = split_far() | split_balance() << 1 | split_pool() << 2;
    uint32_t h = 2166136261u;
    const unsigned char *kb = (const unsigned char *)&k;
    for (size_t i = 0; i < sizeof k; i++)
        h = (h ^ kb[i]) * 16777619u;
    split_entry *e = &split_cache[h % SPLIT_CACHE_N];
    if (e->valid && !memcmp(&e->key, &k, sizeof k)) {
        rc->nbw = e->nbw;
        rc->nblocks = e->nblocks;
        rc->mpanels = e->mpanels;
        rc->chunk_panels = e->chunk_panels;
        rc->mchunks = e->mchunks;
        return;
    }
    plan_split_compute(j, T, rc);
    e->key = k;
    e->valid = 1;
    e->nbw = rc->nbw;
    e->nblocks = rc->nblocks;
    e->mpanels = rc->mpanels;
    e->chunk_panels = rc->chunk_panels;
    e->mchunks = rc->mchunks;
}

void sk_gemm_plan_split(const sk_gemm_job *j, int T, int *nbw, int *chunk_panels)
{
    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    plan_split(j, T, &rc);
    *nbw = rc.nbw;
    *chunk_panels = rc.chunk_panels;
}

int sk_gemm_run(sk_pool *pool, const sk_gemm_job *j, float *scratch)
{
    const sk_gemm_cfg *cfg = j->cfg;
    if (j->M <= 0 || j->N <= 0 || j->nbatch <= 0)
        return 0;
    if (j->K <= 0) { /* no products: C is the epilogue of zero */
        for (int b = 0; b < j->nbatch; b++) {
            float *c = j->c + (size_t)b * j->c_stride;
            int grp = j->a_packed ? b % j->a_packed->groups : 0;
            sk_gemm_epi e = j->epi;
            if (e.bias && !e.bias_per_col)
                e.bias += (size_t)grp * j->bias_stride;
            if (e.res)
                e.res += (size_t)b * j->res_stride;
            for (int i = 0; i < j->M; i++)
                memset(c + (size_t)i * j->ldc, 0, (size_t)j->N * sizeof(float));
            sk_gemm_epi_apply(&e, c, j->ldc, 0, 0, j->M, j->N);
            if (j->post)
                j->post(j->post_ctx, b, c, j->ldc, j->M, j->N);
        }
        return 0;
    }
    int T = sk_pool_size(pool);
    run_ctx rc;
    memset(&rc, 0, sizeof rc);
    rc.job = j;
    rc.prefetch = prefetch_on() && !cfg->no_pf && prefetch_k(cfg, j->K);
    /* the A-panel prefetch of the Intel config (session 19, gk); the
     * switches read once (switches.c; sk_switches_reload re-reads them for
     * bench/ab_inproc.c) */
    const sk_switches *sw = sk_sw();
    {
        long d = sw->gemm_apf_set ? sw->gemm_apf_dist : cfg->apf;
        rc.apf = cfg->apf > 0 && d > 0 && d <= 65536 ? (size_t)d : 0;
        rc.apf_mink = sw->gemm_apf_mink_v;
    }
    const char *ao = sw->gemm_aorder;
    rc.aorder = (ao && !strcmp(ao, "1")) || (j->aorder && !(ao && !strcmp(ao, "0")));
    /* the rows-in-lanes narrow panel (issue 24 session 17): 8-row FP32
     * panels only; switches.c's table (bench/ab_inproc.c reloads it) */
    const char *nw = sw->gemm_narrow;
    if (cfg->narrow && cfg->mr == 8 && cfg->nr == 32 && !cfg->kpair && !(nw && !strcmp(nw, "0")))
        rc.narrow = cfg->narrow;
    {
        int nbw, nbl; /* the column split where the job asks for it (gemm_split.c);
                       * else the planner's (no need to plan what is overridden) */
        if (!sk_gemm_split_cols(j, T, &nbw, &nbl)) {
            plan_split(j, T, &rc);
        } else {
            rc.mpanels = (j->M + cfg->mr - 1) / cfg->mr;
            rc.nbw = nbw;
            rc.nblocks = nbl;
            rc.merge_tail = 1;
            rc.chunk_panels = rc.mpanels;
            rc.mchunks = 1;
            if (j->split_cols == SK_GEMM_SPLIT_ROWS) {
                rc.merge_tail = 0;
                rc.chunk_panels = (rc.mpanels + T - 1) / T;
                rc.mchunks = (rc.mpanels + rc.chunk_panels - 1) / rc.chunk_panels;
            }
            /* a thread's block is 3-4 B panels of 64 KB (K blocks of 512:
             * not in L1) against 32 A panels of 16 KB: A-panel order keeps
             * each A panel in L1 across the few B panels instead of reading
             * a B panel from L2 for every tile (session 18: ResNet-101 b1
             * 2T 1.03x with it; SKIPSERVE_GEMM_AORDER=0 turns it off) */
            rc.aorder = !(ao && !strcmp(ao, "0"));
        }
    }
    /* K = 576 as 3 x 192 rather than 256 + 256 + 64: a short last block
     * pays the C reload and per-tile overhead for few FMAs */
    const int kcmax = j->kc > 0 ? j->kc : cfg->kc;
    int nkb = (j->K + kcmax - 1) / kcmax;
    rc.kcb = (j->K + nkb - 1) / nkb;
    if (cfg->kpair) /* K-pair panels: blocks start at even k (gemm.h) */
        rc.kcb += rc.kcb & 1;
    if (cfg->kchunk > 1) { /* AMX chunks: blocks start at chunk boundaries */
        rc.kcb = (rc.kcb + cfg->kchunk - 1) / cfg->kchunk * cfg->kchunk;
        if (rc.kcb > kcmax) /* the scratch holds kcmax rows */
            rc.kcb = kcmax / cfg->kchunk * cfg->kchunk;
        if (rc.kcb < cfg->kchunk)
            rc.kcb = cfg->kchunk;
    }
    rc.per_thread = sk_gemm_job_scratch_floats(j, 1);
    float *own = NULL;
    if (!scratch) {
        own = sk_alloc(sk_gemm_job_scratch_floats(j, T) * sizeof(float));
        if (!own)
            return SK_ENOMEM;
        scratch = own;
    }
    rc.scratch = scratch;
    size_t tasks = (size_t)j->nbatch * (size_t)rc.nblocks * (size_t)rc.mchunks;
    sk_parallel_for_tid(pool, tasks, 1, run_task, &rc);
    sk_free(own);
    return 0;
}

/* ---- plain row-major operands ------------------------------------------ */

void sk_gemm_pack_a_rowmajor(const void *ctx, int batch, int m0, int mb, int k0, int kc, int mr,
                             float *dst)
{
    const sk_gemm_rowmajor *a = ctx;
    const float *base = a->p + (size_t)batch * a->stride;
    for (int p = 0; p * mr < mb; p++) {
        float *dp = dst + (size_t)p * (size_t)kc * (size_t)mr;
        for (int r = 0; r < mr; r++) {
            int row = p * mr + r;
            if (row >= mb) {
                for (int k = 0; k < kc; k++)
                    dp[(size_t)k * (size_t)mr + (size_t)r] = 0.0f;
                continue;
            }
            const float *src = base + (size_t)(m0 + row) * a->ld + k0;
            for (int k = 0; k < kc; k++)
                dp[(size_t)k * (size_t)mr + (size_t)r] = src[k];
        }
    }
}

void sk_gemm_pack_b_rowmajor(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                             float *dst, float *tmp)
{
    (void)tmp;
    const sk_gemm_rowmajor *b = ctx;
    const float *base = b->p + (size_t)batch * b->stride;
    int full = nb / nr, tail = nb - full * nr;
    size_t pstride = (size_t)kc * (size_t)nr;
    for (int k = 0; k < kc; k++) {
        const float *src = base + (size_t)(k0 + k) * b->ld + n0;
        float *d = dst + (size_t)k * (size_t)nr;
        for (int p = 0; p < full; p++)
            sk_gemm_copy_row(d + (size_t)p * pstride, src + (size_t)p * (size_t)nr, nr);
        if (tail) {
            float *dt = d + (size_t)full * pstride;
            memcpy(dt, src + (size_t)full * (size_t)nr, (size_t)tail * sizeof(float));
            memset(dt + tail, 0, (size_t)(nr - tail) * sizeof(float));
        }
    }
}

int sk_gemm_f32(const sk_gemm_cfg *cfg, sk_pool *pool, int M, int N, int K, const float *A,
                size_t lda, const float *B, size_t ldb, float *C, size_t ldc,
                const sk_gemm_epi *epi)
{
    sk_gemm_epi none;
    if (!epi) {
        sk_gemm_epi_none(&none);
        epi = &none;
    }
    if (M <= 0 || N <= 0)
        return 0;
    if (!cfg) {
        sk_ref_gemm_f32(M, N, K, A, (int)lda, B, (int)ldb, C, (int)ldc, 0);
        sk_gemm_epi_apply(epi, C, ldc, 0, 0, M, N);
        return 0;
    }
    sk_gemm_rowmajor ra = {A, lda, 0}, rb = {B, ldb, 0};
    sk_gemm_job j;
    sk_gemm_job_init(&j, cfg, M, N, K, 1);
    j.pack_a = sk_gemm_pack_a_rowmajor;
    j.a_ctx = &ra;
    j.pack_b = sk_gemm_pack_b_rowmajor;
    j.b_ctx = &rb;
    j.c = C;
    j.ldc = ldc;
    j.epi = *epi;
    return sk_gemm_run(pool, &j, NULL);
}
