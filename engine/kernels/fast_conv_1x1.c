/* fast_conv_1x1.c — the NCHW 1x1 strategy of _ConvFused (SK_CONV_NCHW1X1,
 * "gemm-nchw-1x1", issue 24): Y[M x N*P] = W[M x C] * X[C x N*P] for a 1x1,
 * stride-1, unpadded, ungrouped conv, with W packed once at load (the A
 * panels of im2col-gemm) and X's channel planes read in place as B by the
 * microkernel (kernels/gemm_nchw.h): no per-run packing, no transpose, no
 * scratch. The columns are the pixels of all the batch's images in a row
 * (image n's pixel p is column n*P + p), so a 7x7 map at batch 8 fills
 * 392 / 416 lanes where one GEMM per image fills 49 / 64; a 32-column tile
 * that crosses an image boundary loads its lanes from both images under
 * masks. Bias, the residual and Relu/Clip run in the kernel's epilogue and
 * write Y's NCHW rows directly.
 *
 * Why it exists, and why it is opt-in (bench/RESULTS.md, session 14): the
 * 1x1 convs on 7x7 / 14x14 maps pack their activations per GEMM
 * (im2col-gemm: 5-8% of such a layer) or gather them as pixel rows and
 * transpose the output back (~7%), and the 14x14 ones pad 196 columns to
 * the last 32-wide panel. Reading X in place removes all three, but on the
 * Zen 5 machine of session 14 it measured 10% slower at 14x14 and 25-30%
 * slower at 7x7 (isolated layers and whole ResNet-50 / MobileNetV2, batch
 * 1 and 8): the plane-strided, mostly line-splitting B rows of a 32-column
 * strip are re-read from L2 by every A panel where the packed panel sits
 * aligned in L1, and a 7x7 image fills 49 of 64 lanes. So prepack.c takes
 * it only under SKIPSERVE_NCHW1X1=force (A/B, tests); the kernel alone runs
 * at the packed kernel's speed with B in cache (~210 GFLOP/s).
 *
 * Loop nest of one task (a block of NCHW_NC columns, a range of A panels):
 *   for each K block (the GEMM driver's blocks, so the bits equal
 *   im2col-gemm's):
 *     for each A panel (8 output channels x kc: stays in L1)
 *       for each 32-column tile of the block (kc x NC of X: stays in L2)
 * Threads split column blocks, and output channels when there are fewer
 * than 4 blocks per thread (batch 1). */
#include <stdint.h>
#include <string.h>

#include "fast_conv.h"
#include "kernels/gemm_nchw.h"
#include "threadpool.h"

#define NCHW_NC 256 /* columns per block: 8 tiles, kc x 256 of X = 256 KiB */
#define NCHW_TILE 32
#define NCHW_MAX_TILES (NCHW_NC / NCHW_TILE)

typedef struct nchw_run {
    const float *x, *res, *bias, *a;
    float *y;
    int64_t K, M, P, NP; /* NP = N * P columns */
    size_t astride;      /* floats between A panels */
    int kcb;             /* K block */
    int mpanels, chunk_panels, mchunks;
    int64_t cblocks;
    sk_gemm_nchw_fn uk;
    float lo, hi;
} nchw_run;

/* The segments of the 16 columns [g, g + 16) (kernels/gemm_nchw.h): lanes
 * from image g / P, then from the next image, none past column NP. A
 * segment without lanes points at its vector's first one (never read). */
static void nchw_vector(const nchw_run *r, int64_t g, sk_gemm_nchw_cols *cl, int v)
{
    int64_t n = g / r->P, p = g % r->P;
    int64_t avail = r->NP - g < 16 ? r->NP - g : 16;
    if (avail <= 0) { /* past the end: nothing loaded or stored */
        n = 0;
        p = 0;
        avail = 0;
    }
    int64_t len0 = r->P - p < avail ? r->P - p : avail, rem = avail - len0;
    cl->b[v][0] = r->x + n * r->K * r->P + p;
    cl->c[v][0] = r->y + n * r->M * r->P + p;
    cl->res[v][0] = r->res ? r->res + n * r->M * r->P + p : NULL;
    cl->mask[v][0] = (uint32_t)((1u << len0) - 1u);
    cl->mask[v][1] = 0;
    cl->b[v][1] = cl->b[v][0];
    cl->c[v][1] = cl->c[v][0];
    cl->res[v][1] = cl->res[v][0];
    if (rem > 0) { /* lane L of image n + 1 is its pixel L - len0 (P >= 16: one image) */
        cl->b[v][1] = r->x + (n + 1) * r->K * r->P - len0;
        cl->c[v][1] = r->y + (n + 1) * r->M * r->P - len0;
        cl->res[v][1] = r->res ? r->res + (n + 1) * r->M * r->P - len0 : NULL;
        cl->mask[v][1] = (uint32_t)(((1u << rem) - 1u) << len0);
    }
}

static void nchw_task(void *arg, int tid, size_t t0, size_t t1)
{
    (void)tid;
    const nchw_run *r = arg;
    for (size_t t = t0; t < t1; t++) {
        int64_t cb = (int64_t)t / r->mchunks;
        int mci = (int)((int64_t)t % r->mchunks);
        int64_t g0 = cb * NCHW_NC, g1 = g0 + NCHW_NC < r->NP ? g0 + NCHW_NC : r->NP;
        int p0 = mci * r->chunk_panels;
        int p1 = p0 + r->chunk_panels < r->mpanels ? p0 + r->chunk_panels : r->mpanels;
        sk_gemm_nchw_cols tiles[NCHW_MAX_TILES];
        int nt = 0;
        for (int64_t g = g0; g < g1; g += NCHW_TILE, nt++) {
            nchw_vector(r, g, &tiles[nt], 0);
            nchw_vector(r, g + 16, &tiles[nt], 1);
            tiles[nt].simple = tiles[nt].mask[0][0] == 0xffffu && tiles[nt].mask[1][0] == 0xffffu;
        }
        sk_gemm_nchw_args ga;
        memset(&ga, 0, sizeof ga);
        ga.ldb = (size_t)r->P;
        ga.ldc = (size_t)r->P;
        ga.has_res = r->res != NULL;
        ga.lo = r->lo;
        ga.hi = r->hi;
        for (int64_t k0 = 0; k0 < r->K; k0 += r->kcb) {
            int64_t kc = r->K - k0 < r->kcb ? r->K - k0 : r->kcb;
            ga.kc = (size_t)kc;
            ga.boff = (size_t)(k0 * r->P);
            ga.flags = (k0 ? SK_UK_ACCUM : 0) | (k0 + kc == r->K ? SK_UK_EPI : 0);
            for (int ip = p0; ip < p1; ip++) {
                int64_t row0 = (int64_t)ip * 8;
                const float *a = r->a + (size_t)ip * r->astride + (size_t)k0 * 8;
                ga.rows = (int)(r->M - row0 < 8 ? r->M - row0 : 8);
                ga.coff = (size_t)(row0 * r->P);
                ga.bias = r->bias ? r->bias + row0 : NULL;
                for (int i = 0; i < nt; i++)
                    r->uk(a, &tiles[i], &ga);
            }
        }
    }
}

/* The run's geometry fits this strategy: a direct 1x1 conv, group 1, the
 * A panels 8 rows (the kernel's), at least 16 pixels per image (a vector
 * spans at most two images). */
static int nchw_fits(const sk_conv_priv *pv, const conv_src *s)
{
    return pv->kc && pv->kc->gemm_nchw && s->direct && s->group == 1 && pv->cfg->mr == 8 &&
           !pv->cfg->kpair && s->P >= 16;
}

size_t sk_conv_nchw1x1_scratch(const sk_conv_priv *pv, const sk_tensor *out, int nthreads)
{
    /* none of its own; im2col-gemm's for a run whose shapes do not fit */
    return sk_conv_im2col_scratch(pv, out, nthreads);
}

int sk_fast_run_conv_nchw1x1(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    conv_src s;
    int64_t N, M;
    const sk_tensor *B, *R;
    int rc;
    if (!sk_conv_gemm_begin(n, in, nin, out, ctx, &s, &N, &M, &B, &R, &rc))
        return rc;
    if (!nchw_fits(pv, &s))
        return sk_fast_run_conv_im2col(n, in, nin, out, ctx);
    nchw_run r;
    memset(&r, 0, sizeof r);
    r.x = s.x;
    r.y = out[0].data;
    r.res = R ? R->data : NULL;
    r.bias = B ? B->data : NULL;
    r.a = pv->w.data;
    r.K = s.Cg;
    r.M = M;
    r.P = s.P;
    r.NP = N * s.P;
    r.astride = (size_t)r.K * 8;
    r.uk = pv->kc->gemm_nchw;
    sk_fused_act(n, &r.lo, &r.hi);
    /* the GEMM driver's K blocks (gemm.c sk_gemm_run): equal, <= kc */
    int64_t nkb = (r.K + pv->cfg->kc - 1) / pv->cfg->kc;
    r.kcb = (int)((r.K + nkb - 1) / nkb);
    r.mpanels = (int)((M + 7) / 8);
    r.cblocks = (r.NP + NCHW_NC - 1) / NCHW_NC;
    const int T = sk_pool_size(ctx->pool);
    int mchunks = 1;
    if (T > 1 && r.cblocks < 4L * T) { /* few column blocks: split channels too */
        int64_t want = (4L * T + r.cblocks - 1) / r.cblocks;
        mchunks = (int)(want < r.mpanels ? want : r.mpanels);
    }
    r.chunk_panels = (r.mpanels + mchunks - 1) / mchunks;
    r.mchunks = (r.mpanels + r.chunk_panels - 1) / r.chunk_panels;
    sk_parallel_for_tid(ctx->pool, (size_t)(r.cblocks * r.mchunks), 1, nchw_task, &r);
    return 0;
}
