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

/* Floats of the per-thread working set (X panels, E rows, the depthwise
 * output panels) a block aims to stay under: half of Zen 4's 1 MiB L2,
 * so the packed weights streaming through keep the rest. */
#define IR_BUDGET_FLOATS (128 * 1024)
#define IR_MAX_R 64 /* rows per block: the segment table of ir_block */

typedef struct ir_geo {
    int64_t R;      /* output rows per block */
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
    const size_t ld = round16f((size_t)cells) + 16;
    return (size_t)pv->C * ir_round(cells, nr) + (size_t)pv->E * ld + 2 * ld +
           (size_t)pv->E * ir_round(r * oW, nr) + ir_round(r * oW, nr) + 16;
}

/* Rows per block: the largest count within the budget, then small enough
 * that the pool's threads get about two blocks each. */
static ir_geo ir_plan(const sk_irblock_priv *pv, int64_t N, int64_t oH, int64_t oW, int T)
{
    ir_geo g;
    g.Wq = oW + 1; /* stride 1: W + 1 with W = oW; stride 2: ceil((2 oW + 1) / 2) */
    static long budget = -1;
    if (budget < 0) {
        const char *e = getenv("SKIPSERVE_IRBLOCK_BUDGET");
        budget = e && atol(e) > 0 ? atol(e) : IR_BUDGET_FLOATS;
    }
    g.R = oH < IR_MAX_R ? oH : IR_MAX_R;
    while (g.R > 1 && ir_floats(pv, oW, g.R, g.Wq) > (size_t)budget)
        g.R--;
    if (T > 1 && N > 0) {
        int64_t want = (2 * (int64_t)T + N - 1) / N; /* blocks per image */
        int64_t r = (oH + want - 1) / want;
        if (r < g.R)
            g.R = r > 0 ? r : 1;
    }
    g.maxpos = ir_cells(pv->stride, g.R, g.Wq);
    return g;
}

typedef struct ir_run {
    const sk_irblock_priv *pv;
    const sk_gemm_cfg *cfg;
    const sk_dw_flat_uk *fl;
    const float *x, *b1, *wd, *bd, *b2, *res;
    float *y, *scratch;
    int64_t N, H, W, oH, oW, nblk;
    ir_geo geo;
    size_t per_thread, gemm_floats;
    float emin, emax, dmin, dmax, lo, hi;
} ir_run;

/* A run of input cells copied into a block's E layout: n values from
 * X[k] + src with step 1 or 2, to cell pos. */
typedef struct ir_seg {
    int64_t pos, src, n;
    int step;
} ir_seg;

/* The input segments of a block of r output rows from row r0, and its
 * GEMM column range [*g0, *g1): stride 1 the real rows only (the pad rows
 * are zeroed), stride 2 every cell. Returns the segment count (at most
 * 2 * (2r + 1)). */
static int ir_segments(const ir_run *ir, int64_t r0, int64_t r, int64_t Wq, ir_seg *sg,
                       int64_t *g0, int64_t *g1)
{
    int ns = 0;
    if (ir->pv->stride == 1) {
        int64_t first = -1, last = -1;
        for (int64_t lr = 0; lr < r + 2; lr++) {
            int64_t ih = r0 + lr - 1;
            if (ih < 0 || ih >= ir->H)
                continue;
            if (first < 0)
                first = lr;
            last = lr;
            sg[ns++] = (ir_seg){lr * Wq + 1, ih * ir->W, ir->W, 1};
        }
        *g0 = first < 0 ? 0 : first * Wq;
        *g1 = first < 0 ? 0 : (last + 1) * Wq;
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
        sg[ns++] = (ir_seg){(a * 2 + 1) * PQ + rq * Wq, ih * ir->W, ne, 2};
        if (no > 0)
            sg[ns++] = (ir_seg){(a * 2) * PQ + rq * Wq + 1, ih * ir->W + 1, no, 2};
    }
    *g0 = 0;
    *g1 = 4 * PQ;
    return ns;
}

/* One block: image b, output rows [r0, r0 + r). */
static void ir_block(const ir_run *ir, int64_t b, int64_t r0, int64_t r, float *ws)
{
    const sk_irblock_priv *pv = ir->pv;
    const sk_gemm_cfg *cfg = ir->cfg;
    const int64_t nr = cfg->nr, C = pv->C, E = pv->E, Wq = ir->geo.Wq, oW = ir->oW;
    const int64_t cells = ir_cells(pv->stride, r, Wq);
    const size_t ld = round16f((size_t)ir_cells(pv->stride, ir->geo.R, Wq)) + 16;
    const size_t pb = ir_round(r * oW, nr); /* output pixels in whole panels */
    float *gs = ws, *bx = gs + ir->gemm_floats;
    float *e = bx + (size_t)C * ir_round(ir->geo.maxpos, nr);
    float *line = e + (size_t)E * ld, *tmp = line + ld;
    float *dp = tmp + ld, *dl = dp + (size_t)E * ir_round(ir->geo.R * oW, nr);

    ir_seg segs[2 * (2 * IR_MAX_R + 1)];
    int64_t g0, g1;
    int ns = ir_segments(ir, r0, r, Wq, segs, &g0, &g1);

    /* 1. X's cells as B panels over columns [g0, g1), then E = the expand */
    const int64_t ncol = g1 - g0, npan = (ncol + nr - 1) / nr;
    const float *xb = ir->x + b * C * ir->H * ir->W;
    for (int64_t k = 0; k < C && ncol > 0; k++) {
        const float *xk = xb + k * ir->H * ir->W;
        memset(line, 0, sizeof(float) * (size_t)(npan * nr));
        for (int i = 0; i < ns; i++) {
            float *d = line + segs[i].pos - g0;
            if (segs[i].step == 1)
                ir->fl->copy(d, xk + segs[i].src, (size_t)segs[i].n);
            else
                sk_gather_stride2(d, xk + segs[i].src, segs[i].n);
        }
        for (int64_t p = 0; p < npan; p++)
            sk_gemm_copy_row(bx + (size_t)(p * C + k) * (size_t)nr, line + p * nr, (int)nr);
    }
    if (ncol > 0) {
        sk_gemm_packed_b pb_x = {cfg, (int)C, (int)ncol, bx};
        sk_gemm_job j;
        sk_gemm_job_init(&j, cfg, (int)E, (int)ncol, (int)C, 1);
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
        if (pv->stride == 1) {
            memset(ec, 0, sizeof(float) * (size_t)g0);
            memset(ec + g1, 0, sizeof(float) * (size_t)(cells - g1));
            for (int64_t q = g0; q < g1; q += Wq)
                ec[q] = 0.0f;
        }
    }
    if (pv->stride == 2) {
        /* cells no segment wrote: zero in every channel; a row outside
         * the image is all padding */
        const int64_t PQ = (r + 1) * Wq;
        for (int64_t lr = 0; lr < 2 * r + 2; lr++) {
            int64_t ih = 2 * r0 + lr - 1, a = lr & 1, rq = lr >> 1;
            if (rq > r)
                break;
            int64_t ne = 0, no = 0;
            if (ih >= 0 && ih < ir->H && lr < 2 * r + 1) {
                ne = (ir->W + 1) / 2 < Wq ? (ir->W + 1) / 2 : Wq;
                no = ir->W / 2 < Wq - 1 ? ir->W / 2 : Wq - 1;
            }
            for (int64_t c = 0; c < E; c++) {
                float *ec = e + (size_t)c * ld;
                float *pe = ec + (a * 2 + 1) * PQ + rq * Wq, *po = ec + (a * 2) * PQ + rq * Wq;
                memset(pe + ne, 0, sizeof(float) * (size_t)(Wq - ne));
                po[0] = 0.0f;
                memset(po + 1 + no, 0, sizeof(float) * (size_t)(Wq - 1 - no));
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
        int64_t b = (int64_t)t / ir->nblk, r0 = ((int64_t)t % ir->nblk) * ir->geo.R;
        int64_t r = ir->oH - r0 < ir->geo.R ? ir->oH - r0 : ir->geo.R;
        ir_block(ir, b, r0, r, ws);
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
    ir.b1 = in[2]->data;
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
    ir.nblk = (oH + ir.geo.R - 1) / ir.geo.R;
    ir.gemm_floats = round16f(sk_gemm_scratch_floats(ir.cfg, 1));
    ir.per_thread = ir_thread_floats(pv, &ir.geo, oW);
    float *heap;
    ir.scratch = sk_fast_scratch(n, ctx, ir.per_thread * (size_t)T, &heap);
    if (!ir.scratch)
        return SK_ENOMEM;
    sk_parallel_for_tid(ctx->pool, (size_t)(ir.N * ir.nblk), 1, ir_task, &ir);
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
