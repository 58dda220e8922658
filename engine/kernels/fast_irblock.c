/* fast_irblock.c — _IRBlockFused (kernels/fast.h): MobileNetV2's
 * expand 1x1 -> depthwise 3x3 -> project 1x1 by row blocks of the output.
 *
 * Why: run as three convolutions, the expanded tensor (6x the block's
 * input channels: 96 x 112 x 112 = 4.8 MB at batch 1) is written by the
 * expand GEMM and read back by the depthwise pass from memory, and the
 * depthwise output again by the projection, which packs it into GEMM
 * panels first. Here one task owns R output rows of one image:
 *   1. X's input rows those R rows need (with the 3x3 halo) are packed as
 *      GEMM B panels whose columns are already the depthwise kernel's
 *      padded layout (below), and the expand GEMM writes E for just those
 *      rows into a per-thread buffer (kept in L2: the block size is chosen
 *      from a budget); the padding cells are zeroed after it;
 *   2. the depthwise flat loop (fast_dw_uk.h dw_flat / dw_out) runs each
 *      channel's rows of E and its output goes straight into B panels of
 *      the projection;
 *   3. the projection GEMM (packed W2) writes the R rows of Y with bias,
 *      residual and clamp in its epilogue.
 * The expanded tensor never exists in memory; the halo rows are computed
 * by both blocks that read them.
 *
 * Layout of a block's E columns (the flat loop's phase planes, see
 * fast_dwconv.c dw_flat_setup), for R output rows:
 *   stride 1: Hb = R + 2 padded rows of Wq = W + 1 cells, cell 0 the left
 *     pad, cells 1..W the input columns; the right pad of a row is the
 *     next row's cell 0 (one shared zero column: a 7-wide map computes 8
 *     columns, not 9), plus one trailing zero cell. Tap (i, j) of output
 *     (oh, ow) reads cell (oh + i) * Wq + ow + j.
 *   stride 2: the padded rows and columns split by parity into 4 phase
 *     planes of (R + 1) x (oW + 1) cells (plane (a, c): padded row 2r + a,
 *     column 2q + c), so every tap is one constant offset again.
 * Every value is computed by the same kernels in the same order as the
 * unfused graph's fast path (the GEMM microkernels over the same K blocks,
 * the flat depthwise sums), so the result is bit-identical to it and does
 * not depend on the block size or the thread count (tests/unit/test_irblock.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast.h"
#include "kernels/fast_conv.h"
#include "threadpool.h"
#include "kernels/switches.h"

/* Floats of the per-thread working set (X panels, E rows, the depthwise
 * output panels) a block aims to stay under: 768 KB of Zen 4's 1 MiB L2,
 * the rest for the packed weights streaming through (512 KB measured 3-10%
 * slower on the 56x56 blocks, 1 MB no faster; bench/RESULTS.md session 13).
 * SKIPSERVE_IRBLOCK_BUDGET=floats, read at load, moves it (tuning). */
#define IR_BUDGET_FLOATS (192 * 1024)
#define IR_MAX_R 64 /* rows per block: the segment table of ir_block */

typedef struct ir_geo {
    int64_t R;      /* output rows per block */
    int64_t chunks, crows; /* chunks per image, output rows per chunk */
    int64_t Wq;     /* cells per row of a (phase) plane */
    int64_t maxpos; /* E cells of the largest block */
} ir_geo;

/* E cells of a block of r output rows. */
static int64_t ir_cells(int64_t s, int64_t r, int64_t Wq)
{
    return s == 1 ? (r + 2) * Wq + 1 : 4 * (r + 1) * Wq;
}

static size_t ir_round(int64_t n, int64_t m) { return (size_t)((n + m - 1) / m * m); }

/* Floats one thread needs for blocks of r rows. */
static size_t ir_floats(const sk_irblock_priv *pv, int64_t oW, int64_t r, int64_t Wq)
{
    const int64_t nr = pv->kc->gemm.nr, cells = ir_cells(pv->stride, r, Wq);
    const size_t ld = round16f((size_t)cells) + 32;
    return (size_t)pv->C * ir_round(cells, nr) + (size_t)pv->E * ld + 2 * ld +
           (size_t)pv->E * ir_round(r * oW, nr) + ir_round(r * oW, nr) + 16;
}

/* Rows per block: the largest count within the budget. A task runs a
 * chunk of consecutive blocks of one image (stride 1 carries the two halo
 * rows from block to block, so only a chunk's first block computes them
 * twice); images are cut into about 2T / N chunks for T threads. */
static ir_geo ir_plan(const sk_irblock_priv *pv, int64_t N, int64_t oH, int64_t oW, int T)
{
    ir_geo g;
    const size_t budget = pv->budget > 0 ? (size_t)pv->budget : IR_BUDGET_FLOATS;
    g.Wq = oW + 1; /* stride 1: W + 1 with W = oW; stride 2: ceil((2 oW + 1) / 2) */
    g.chunks = 1;
    if (T > 1 && N > 0)
        g.chunks = (2 * (int64_t)T + N - 1) / N;
    if (g.chunks > oH)
        g.chunks = oH > 0 ? oH : 1;
    g.crows = (oH + g.chunks - 1) / g.chunks;
    g.chunks = g.crows > 0 ? (oH + g.crows - 1) / g.crows : 1;
    g.R = g.crows < IR_MAX_R ? g.crows : IR_MAX_R;
    while (g.R > 1 && ir_floats(pv, oW, g.R, g.Wq) > budget)
        g.R--;
    if (g.R < 1)
        g.R = 1;
    g.maxpos = ir_cells(pv->stride, g.R, g.Wq);
    return g;
}

typedef struct ir_run {
    const sk_irblock_priv *pv;
    const sk_gemm_cfg *cfg;
    const sk_dw_flat_uk *fl;
    const float *x, *b1, *wd, *bd, *b2, *res;
    float *y, *scratch;
    int64_t N, H, W, oH, oW;
    ir_geo geo;
    size_t per_thread, gemm_floats;
    float emin, emax, dmin, dmax, lo, hi;
    /* per thread (NULL: none kept): the image, end row and rows of the
     * last block it ran in this job, 3 values a thread (ir_task) */
    int64_t *last;
} ir_run;

/* One input row's cells in a block's E layout: step 1, the n values from
 * X[k] + src to cell pos; step 2, its n even columns to pos and n2 odd
 * columns to pos2 (the row's w = n + n2 values, or its first ones). */
typedef struct ir_seg {
    int64_t pos, pos2, src, n, n2;
    int step;
} ir_seg;

/* A run of cells no segment writes (padding): zero in B and in E. */
typedef struct ir_zero {
    int64_t pos, n;
} ir_zero;

/* The input segments of a block of r output rows from row r0, and its
 * GEMM column range [*g0, *g1): stride 1 the real rows only (the pad rows
 * are zeroed) from local row 2 when `carry` (rows 0, 1 are the previous
 * block's last two), stride 2 every cell. Returns the segment count (one
 * per input row: at most 2r + 1). */
static int ir_segments(const ir_run *ir, int64_t r0, int64_t r, int64_t Wq, int64_t carry,
                       ir_seg *sg, int64_t *g0, int64_t *g1)
{
    int ns = 0;
    if (ir->pv->stride == 1) {
        int64_t first = -1, last = -1;
        for (int64_t lr = carry ? 2 : 0; lr < r + 2; lr++) {
            int64_t ih = r0 + lr - 1;
            if (ih < 0 || ih >= ir->H)
                continue;
            if (first < 0)
                first = lr;
            last = lr;
            sg[ns++] = (ir_seg){lr * Wq + 1, 0, ih * ir->W, ir->W, 0, 1};
        }
        *g0 = first < 0 ? (carry ? 2 : 0) * Wq : first * Wq;
        *g1 = first < 0 ? *g0 : (last + 1) * Wq;
        return ns;
    }
    const int64_t PQ = (r + 1) * Wq;
    for (int64_t lr = 0; lr < 2 * r + 1; lr++) {
        int64_t ih = 2 * r0 + lr - 1, a = lr & 1, rq = lr >> 1;
        if (ih < 0 || ih >= ir->H)
            continue;
        /* plane c = 1: padded columns 2q + 1 = input 2q (evens); plane
         * c = 0: padded 2q = input 2q - 1 (odds), from q = 1 */
        int64_t ne = (ir->W + 1) / 2, no = ir->W / 2;
        if (ne > Wq)
            ne = Wq;
        if (no > Wq - 1)
            no = Wq - 1;
        sg[ns++] = (ir_seg){(a * 2 + 1) * PQ + rq * Wq, (a * 2) * PQ + rq * Wq + 1, ih * ir->W,
                            ne, no > 0 ? no : 0, 2};
    }
    *g0 = 0;
    *g1 = 4 * PQ;
    return ns;
}

/* One block: image b, output rows [r0, r0 + r); carry (stride 1): 0, or
 * the rows of the previous block of this image, which ended at r0 and was
 * the last one this thread ran: its E rows carry, carry + 1 are this
 * block's rows 0, 1. */
static void ir_block(const ir_run *ir, int64_t b, int64_t r0, int64_t r, int64_t carry, float *ws)
{
    const sk_irblock_priv *pv = ir->pv;
    const sk_gemm_cfg *cfg = ir->cfg;
    const int64_t nr = cfg->nr, C = pv->C, E = pv->E, Wq = ir->geo.Wq, oW = ir->oW;
    const int64_t cells = ir_cells(pv->stride, r, Wq);
    const size_t ld = round16f((size_t)ir_cells(pv->stride, ir->geo.R, Wq)) + 32;
    const size_t pb = ir_round(r * oW, nr); /* output pixels in whole panels */
    float *gs = ws, *bx = gs + ir->gemm_floats;
    float *e = bx + (size_t)C * ir_round(ir->geo.maxpos, nr);
    float *line = e + (size_t)E * ld, *tmp = line + ld;
    float *dp = tmp + ld, *dl = dp + (size_t)E * ir_round(ir->geo.R * oW, nr);

    ir_seg segs[2 * (2 * IR_MAX_R + 1)];
    int64_t g0, g1;
    int ns = ir_segments(ir, r0, r, Wq, carry, segs, &g0, &g1);
    if (carry) /* the halo rows: from the end of the previous block to the start */
        for (int64_t c = 0; c < E; c++)
            memmove(e + (size_t)c * ld, e + (size_t)c * ld + carry * Wq,
                    sizeof(float) * (size_t)(2 * Wq));

    /* the padding: the cells from z_lo (after the carried rows) no
     * segment writes, as runs */
    const int64_t npan0 = (g1 - g0 + nr - 1) / nr, zend = g0 + npan0 * nr > cells
                                                               ? g0 + npan0 * nr
                                                               : cells;
    const int64_t z_lo = carry ? 2 * Wq : 0;
    unsigned char *mask = (unsigned char *)tmp; /* tmp is free until the depthwise pass */
    memset(mask, 0, (size_t)zend);
    for (int i = 0; i < ns; i++) {
        memset(mask + segs[i].pos, 1, (size_t)segs[i].n);
        if (segs[i].step == 2)
            memset(mask + segs[i].pos2, 1, (size_t)segs[i].n2);
    }
    ir_zero zr[2 * (2 * IR_MAX_R + 1) + 2];
    int nz = 0;
    for (int64_t q = z_lo; q < zend;) {
        if (mask[q]) {
            q++;
            continue;
        }
        int64_t q1 = q;
        while (q1 < zend && !mask[q1])
            q1++;
        zr[nz++] = (ir_zero){q, q1 - q};
        q = q1;
    }

    /* 1. X's cells as B panels over columns [g0, g1), then E = the expand,
     * over whole panels: the columns past g1 are zero in B and E has room
     * for them, so every tile is a full microkernel tile */
    const int64_t ncol = g1 - g0, npan = (ncol + nr - 1) / nr;
    const float *xb = ir->x + b * C * ir->H * ir->W;
    if (!pv->w1.data) { /* no expand (E = X): X's cells straight into E */
        for (int64_t c = 0; c < E; c++) {
            float *ec = e + (size_t)c * ld;
            const float *xk = xb + c * ir->H * ir->W;
            for (int i = 0; i < nz && zr[i].pos < cells; i++) {
                int64_t n = zr[i].pos + zr[i].n > cells ? cells - zr[i].pos : zr[i].n;
                memset(ec + zr[i].pos, 0, sizeof(float) * (size_t)n);
            }
            for (int i = 0; i < ns; i++) {
                const ir_seg *sq = &segs[i];
                if (sq->step == 1)
                    ir->fl->copy(ec + sq->pos, xk + sq->src, (size_t)sq->n);
                else
                    ir->fl->split(ec + sq->pos, ec + sq->pos2, xk + sq->src,
                                  (size_t)(sq->n + sq->n2), (size_t)sq->n, (size_t)sq->n2);
            }
        }
    } else {
        for (int64_t k = 0; k < C && ncol > 0; k++) {
            const float *xk = xb + k * ir->H * ir->W;
            for (int i = 0; i < nz; i++) { /* the padding cells in [g0, g0 + npan * nr) */
                int64_t z0 = zr[i].pos > g0 ? zr[i].pos : g0, z1 = zr[i].pos + zr[i].n;
                if (z1 > g0 + npan * nr)
                    z1 = g0 + npan * nr;
                for (int64_t q = z0; q < z1; q++)
                    line[q - g0] = 0.0f;
            }
            for (int i = 0; i < ns; i++) {
                const ir_seg *sq = &segs[i];
                if (sq->step == 1)
                    ir->fl->copy(line + sq->pos - g0, xk + sq->src, (size_t)sq->n);
                else
                    ir->fl->split(line + sq->pos - g0, line + sq->pos2 - g0, xk + sq->src,
                                  (size_t)(sq->n + sq->n2), (size_t)sq->n, (size_t)sq->n2);
            }
            for (int64_t p = 0; p < npan; p++)
                sk_gemm_copy_row(bx + (size_t)(p * C + k) * (size_t)nr, line + p * nr, (int)nr);
        }
        if (ncol > 0) {
            sk_gemm_packed_b pb_x = {cfg, (int)C, (int)(npan * nr), bx};
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfg, (int)E, (int)(npan * nr), (int)C, 1);
            j.a_packed = &pv->w1;
            j.b_packed = &pb_x;
            j.c = e + g0;
            j.ldc = ld;
            j.epi.bias = ir->b1;
            j.epi.min = ir->emin;
            j.epi.max = ir->emax;
            sk_gemm_run(NULL, &j, gs);
        }
        /* the padding cells: zero (the GEMM wrote clamp(B1) there) */
        for (int64_t c = 0; c < E; c++) {
            float *ec = e + (size_t)c * ld;
            for (int i = 0; i < nz && zr[i].pos < cells; i++) {
                int64_t n = zr[i].pos + zr[i].n > cells ? cells - zr[i].pos : zr[i].n;
                if (n == 1)
                    ec[zr[i].pos] = 0.0f;
                else
                    memset(ec + zr[i].pos, 0, sizeof(float) * (size_t)n);
            }
        }
    }

    /* 2. the depthwise conv per channel, its rows into the projection's B panels */
    ptrdiff_t off[9];
    const int64_t PQ = (r + 1) * Wq;
    for (int64_t i = 0; i < 3; i++)
        for (int64_t jj = 0; jj < 3; jj++)
            off[i * 3 + jj] = pv->stride == 1
                                  ? (ptrdiff_t)(i * Wq + jj)
                                  : (ptrdiff_t)(((i & 1) * 2 + (jj & 1)) * PQ + (i >> 1) * Wq +
                                                (jj >> 1));
    const int64_t nflat = (r - 1) * Wq + oW, npix = r * oW;
    memset(dl + npix, 0, sizeof(float) * (pb - (size_t)npix));
    for (int64_t c = 0; c < E; c++) {
        ir->fl->flat(tmp, e + (size_t)c * ld, off, ir->wd + c * 9, 9, (size_t)nflat, ir->bd[c]);
        ir->fl->out(dl, (size_t)oW, tmp, (size_t)Wq, (size_t)oW, (size_t)r, NULL, ir->dmin,
                    ir->dmax);
        for (size_t p = 0; p < pb / (size_t)nr; p++)
            sk_gemm_copy_row(dp + (p * (size_t)E + (size_t)c) * (size_t)nr, dl + p * (size_t)nr,
                             (int)nr);
    }

    /* 3. the projection into Y's rows [r0, r0 + r) */
    const int64_t oHW = ir->oH * oW;
    sk_gemm_packed_b pb_d = {cfg, (int)E, (int)npix, dp};
    sk_gemm_job j;
    sk_gemm_job_init(&j, cfg, (int)pv->M, (int)npix, (int)E, 1);
    j.a_packed = &pv->w2;
    j.b_packed = &pb_d;
    j.c = ir->y + b * pv->M * oHW + r0 * oW;
    j.ldc = (size_t)oHW;
    j.epi.bias = ir->b2;
    if (ir->res) {
        j.epi.res = ir->res + b * pv->M * oHW + r0 * oW;
        j.epi.ldres = (size_t)oHW;
    }
    j.epi.min = ir->lo;
    j.epi.max = ir->hi;
    sk_gemm_run(NULL, &j, gs);
}

static void ir_task(void *arg, int tid, size_t t0, size_t t1)
{
    const ir_run *ir = arg;
    float *ws = ir->scratch + (size_t)tid * ir->per_thread;
    for (size_t t = t0; t < t1; t++) {
        const int64_t b = (int64_t)t / ir->geo.chunks, c0 = ((int64_t)t % ir->geo.chunks) *
                                                          ir->geo.crows;
        const int64_t c1 = c0 + ir->geo.crows < ir->oH ? c0 + ir->geo.crows : ir->oH;
        int64_t *last = ir->last ? ir->last + 3 * (size_t)tid : NULL;
        for (int64_t r0 = c0; r0 < c1; r0 += ir->geo.R) {
            int64_t r = c1 - r0 < ir->geo.R ? c1 - r0 : ir->geo.R, carry = 0;
            if (ir->pv->stride == 1 && r0 > c0)
                carry = ir->geo.R;
            else if (ir->pv->stride == 1 && last && last[0] == b && last[1] == r0)
                carry = last[2]; /* the chunk before, run by this thread just now */
            ir_block(ir, b, r0, r, carry, ws);
            if (last) {
                last[0] = b;
                last[1] = r0 + r;
                last[2] = r;
            }
        }
    }
}

static size_t ir_thread_floats(const sk_irblock_priv *pv, const ir_geo *g, int64_t oW)
{
    return round16f(sk_gemm_scratch_floats(&pv->kc->gemm, 1)) + ir_floats(pv, oW, g->R, g->Wq);
}

size_t sk_irblock_scratch_floats(const sk_node *n, const sk_tensor *const *in, int nin,
                                 const sk_tensor *out, int nthreads)
{
    (void)in;
    (void)nin;
    const sk_irblock_priv *pv = n->priv;
    if (!pv || !out || out->shape.rank != 4)
        return 0;
    ir_geo g = ir_plan(pv, out->shape.dim[0], out->shape.dim[2], out->shape.dim[3], nthreads);
    return ir_thread_floats(pv, &g, out->shape.dim[3]) * (size_t)(nthreads > 0 ? nthreads : 1);
}

int sk_fast_run_irblock(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx)
{
    const sk_irblock_priv *pv = n->priv;
    int64_t oH, oW;
    int rc = sk_irblock_check(n, in, nin, ctx, &oH, &oW);
    if (rc)
        return rc;
    if (!pv->kc->dw_flat.flat || in[0]->shape.dim[1] != pv->C || in[3]->shape.dim[0] != pv->E ||
        in[6]->shape.dim[0] != pv->M)
        return sk_run_irblock_fused(n, in, nin, out, nout, ctx);
    ir_run ir;
    memset(&ir, 0, sizeof ir);
    ir.pv = pv;
    ir.cfg = &pv->kc->gemm;
    ir.fl = &pv->kc->dw_flat;
    ir.x = in[0]->data;
    ir.b1 = in[1] ? in[2]->data : NULL;
    ir.wd = in[3]->data;
    ir.bd = in[4]->data;
    ir.b2 = in[6]->data;
    ir.res = nin > 7 && in[7] ? in[7]->data : NULL;
    ir.y = out[0].data;
    ir.N = in[0]->shape.dim[0];
    ir.H = in[0]->shape.dim[2];
    ir.W = in[0]->shape.dim[3];
    ir.oH = oH;
    ir.oW = oW;
    ir.emin = sk_attr_float(n, "exp_min", -INFINITY);
    ir.emax = sk_attr_float(n, "exp_max", INFINITY);
    ir.dmin = sk_attr_float(n, "dw_min", -INFINITY);
    ir.dmax = sk_attr_float(n, "dw_max", INFINITY);
    sk_fused_act(n, &ir.lo, &ir.hi);
    if (ir.N == 0 || oH == 0 || oW == 0 || pv->M == 0)
        return 0;
    const int T = sk_pool_size(ctx->pool);
    ir.geo = ir_plan(pv, ir.N, oH, oW, T);
    ir.gemm_floats = round16f(sk_gemm_scratch_floats(ir.cfg, 1));
    ir.per_thread = ir_thread_floats(pv, &ir.geo, oW);
    float *heap;
    ir.scratch = sk_fast_scratch(n, ctx, ir.per_thread * (size_t)T, &heap);
    if (!ir.scratch)
        return SK_ENOMEM;
    /* (session 21 x2t) a chunk whose first rows follow the chunk this
     * thread ran just before (the pool's contiguous shares: at batch 1 on
     * 2 threads, chunks 0-1 and 2-3) carries its two halo rows of E from
     * it instead of computing them again, as the blocks inside a chunk do:
     * MobileNetV2 b1 2T's 28x28 blocks (7-row chunks) computed 9 E rows
     * for 7. The same values either way (the expand GEMM's tiles are
     * computed alike whichever columns a block starts at). */
    int64_t last[3 * 64];
    ir.last = NULL;
    const char *cs = sk_sw()->irblock_carry; /* =0 off, =1 on at any level (tests) */
    if (T > 1 && T <= 64 && pv->stride == 1 &&
        (cs && *cs ? strcmp(cs, "0") != 0 : pv->kc->irblock_carry)) {
        for (int t = 0; t < 3 * T; t++)
            last[t] = -1;
        ir.last = last;
    }
    sk_parallel_for_tid(ctx->pool, (size_t)(ir.N * ir.geo.chunks), 1, ir_task, &ir);
    sk_free(heap);
    return 0;
}

void sk_irblock_priv_free(void *p)
{
    sk_irblock_priv *pv = p;
    if (!pv)
        return;
    sk_gemm_packed_a_free(&pv->w1);
    sk_gemm_packed_a_free(&pv->w2);
    free(pv);
}
