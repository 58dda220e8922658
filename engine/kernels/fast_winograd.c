/* fast_winograd.c — 3x3, stride-1 convolution by Winograd F(2x2, 3x3) and
 * F(4x4, 3x3).
 *
 * Why: a 3x3 conv computes each m x m block of outputs with m*m*9 MACs per
 * (input, output) channel pair. Winograd's minimal filtering (Lavin & Gray,
 * 2015) gets the same block from (m+2)^2 MACs on transformed data:
 *
 *     Y = A' [ (G g G') .* (B' d B) ] A    d: (m+2)^2 input tile, g: 3x3 filter
 *
 * and, summed over input channels, the nxi = (m+2)^2 element-wise products
 * become nxi independent GEMMs  M_xi[M x T] = U_xi[M x C] * V_xi[C x T]
 * over the T tiles — 2.25x (m = 2: 16 for 36) or 4x (m = 4: 36 for 144)
 * fewer multiplies, run by the same packed microkernel as every other conv.
 * The transforms (fast_wino_uk.h) are a few adds and FMAs per element (B,
 * A) or done once at load (G), and cost O(C*T + M*T) against the GEMMs'
 * O(M*C*T). Which m a layer gets is decided at load (prepack.c); it is
 * known here from U's group count.
 *
 * Layout (per thread, per block of `tb` tiles; batch 1 on small maps: one
 * block of every tile, wino_one_block):
 *   V  nxi x ceil(tb/nr) panels of C x nr: the input transform writes the
 *      microkernel's B-panel layout directly, so there is no packing step;
 *   Mb nxi x mch x tb: one chunk of mch output channels of the products,
 *      consumed by the output transform (+ bias, + residual, clamp) while it
 *      is still in L2.
 * U (the transformed weights) is packed once at load as nxi groups of M x C
 * A panels (sk_wino_pack).
 *
 * Numerics: F(2x2)'s transforms have coefficients 0, +-1/2, +-1, F(4x4)'s
 * up to 8 in A and 1/24 in G, so the result differs from direct summation
 * by ~1e-6 (F(2x2)) or ~1e-5 (F(4x4)) of the output range (checked against
 * the reference conv in tests/unit/test_fast_conv.c and the model zoo at
 * rtol 1e-4). SKIPSERVE_WINOGRAD=0 at load turns it off. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fast.h"
#include "ref/nn_util.h"
#include "switches.h"
#include "threadpool.h"
#include "fast_wino_phases.h"

#define WINO_NR_MAX 32 /* widest microkernel tile (AVX-512: 32 columns) */

/* ---- weights: U = G g G' ------------------------------------------------ */

/* G of F(2x2, 3x3) and of F(4x4, 3x3) (points 0, +-1, +-2, infinity). */
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};

int sk_wino_pack(const sk_gemm_cfg *cfg, const float *w, int M, int C, int m,
                 sk_gemm_packed_a *out)
{
    if (m != 2 && m != 4)
        return SK_EINVAL;
    const int a = m + 2, nxi = a * a;
    const double(*G)[3] = m == 2 ? G2 : G4;
    size_t mc = (size_t)M * (size_t)C;
    float *u = malloc(sizeof(float) * (nxi * mc > 0 ? nxi * mc : 1));
    if (!u)
        return SK_ENOMEM;
    for (size_t i = 0; i < mc; i++) {
        const float *g = w + i * 9;
        double t[6][3];
        for (int r = 0; r < a; r++) /* t = G g, in double: one rounding */
            for (int j = 0; j < 3; j++)
                t[r][j] = G[r][0] * g[j] + G[r][1] * g[3 + j] + G[r][2] * g[6 + j];
        for (int r = 0; r < a; r++) /* U = t G' */
            for (int c = 0; c < a; c++)
                u[(size_t)(r * a + c) * mc + i] =
                    (float)(t[r][0] * G[c][0] + t[r][1] * G[c][1] + t[r][2] * G[c][2]);
    }
    int rc = sk_gemm_pack_a(cfg, u, (size_t)C, M, C, nxi, 1.0f, out);
    free(u);
    return rc;
}

/* ---- blocking ------------------------------------------------------------ */

/* Output channels per chunk: balanced chunks of at most 8 A panels. */
static int wino_mch(const sk_gemm_cfg *cfg, int M)
{
    int mr = cfg->mr, panels = (M + mr - 1) / mr;
    int nch = (panels + 7) / 8;
    if (nch < 1)
        nch = 1;
    return (panels + nch - 1) / nch * mr;
}

/* Tiles per block: V (nxi x C x tb) and one chunk of the products (nxi x
 * mch x tb) together in about a 512 KiB L2 (the best of 128, 256 and 512
 * KiB in a sweep over the ResNet / U-Net layer shapes with F(2x2)), so the
 * GEMMs read V and the output transform reads Mb from L2; 1 to 8 panels. */
static int wino_tb(const sk_gemm_cfg *cfg, int M, int C, int nxi)
{
    int nr = cfg->nr;
    long tb = 131072L / ((long)nxi * ((C > 0 ? C : 1) + wino_mch(cfg, M)));
    tb = tb / nr * nr;
    if (tb < nr)
        tb = nr;
    if (tb > 8 * nr)
        tb = 8 * nr;
    return (int)tb;
}

/* One tile block for all of a small batch's tiles (batch 1 on 14x14 and
 * 28x28 maps): with blocks of tb tiles every block streams all of U, and
 * there U is the larger operand (14x14, 256 channels, F(2x2): U 4 MiB, the
 * 49 tiles' V 1 MiB; 28x28, 128 channels, F(4x4): 2.3 and 1.2 MiB) and no
 * longer in any cache when the layer starts (a ResNet's weights are
 * 50-100x L2), so 2 blocks read it twice, the second time from L3 at
 * best. One block reads each U panel once and runs it over every tile
 * panel; the split over threads is then by output channels (after the
 * shared input transform), each thread streaming only its chunks of U.
 * Taken when all tiles fit 8 panels, their V at most WINO_ONE_MAX_V bytes
 * and U at least as large as V (else the V re-read per channel chunk costs
 * more than U's second pass: 56x56 maps keep their blocks). The products of
 * a chunk then stay within WINO_ONE_MAX_MB bytes (fewer channels per chunk).
 * Splitting the tiles between the threads instead (a private V each, 25
 * + 24 tiles) was faster on the layer alone (U then sits in L3) and
 * slower in ResNet-34 (each thread streams all of U): not kept. ResNet-34
 * batch 1 (bench/RESULTS.md, session 14): 1 thread 36.98 -> 35.16 ms
 * (median of rounds, 5 of 6 won), 2 threads 25.45 -> 24.29 ms (best
 * rounds), process CPU time 53.0 -> 50.4 ms.
 * SKIPSERVE_WINO_ONE=0: the usual blocks (A/B). */
#define WINO_ONE_MAX_V (1280L * 1024)
#define WINO_ONE_MAX_MB (512L * 1024)
static int wino_one_block(const sk_gemm_cfg *cfg, const sk_gemm_packed_a *u, int64_t ntiles)
{
    const char *e = sk_sw()->wino_one;
    if (e && !strcmp(e, "0"))
        return 0;
    const int64_t nr = cfg->nr, nxi = u->groups;
    int64_t tball = (ntiles + nr - 1) / nr * nr;
    if (ntiles <= wino_tb(cfg, u->M, u->K, u->groups) || tball > 8 * nr)
        return 0;
    double vbytes = 4.0 * (double)nxi * (double)u->K * (double)tball;
    double ubytes = 4.0 * (double)nxi * (double)u->K * (double)u->M;
    return vbytes <= (double)WINO_ONE_MAX_V && ubytes >= vbytes ? (int)tball : 0;
}

/* Output channels per chunk of the one-block run: balanced chunks of at
 * most 8 A panels whose products (nxi x mch x tb) fit WINO_ONE_MAX_MB. */
static int wino_one_mch(const sk_gemm_cfg *cfg, int M, int nxi, int tb)
{
    int mr = cfg->mr, panels = (M + mr - 1) / mr;
    long maxp = WINO_ONE_MAX_MB / (4L * nxi * tb * mr);
    if (maxp < 1)
        maxp = 1;
    if (maxp > 8)
        maxp = 8;
    int nch = (int)((panels + maxp - 1) / maxp);
    return (panels + nch - 1) / nch * mr;
}

/* The blocking of a run: tiles per block and output channels per chunk,
 * and whether the block is the one of every tile (wino_one_block). */
static void wino_blocking(const sk_gemm_cfg *cfg, const sk_gemm_packed_a *u, int64_t ntiles,
                          int *tb, int *mch, int *one)
{
    int t = ntiles > 0 ? wino_one_block(cfg, u, ntiles) : 0;
    *one = t > 0;
    *tb = t > 0 ? t : wino_tb(cfg, u->M, u->K, u->groups);
    *mch = t > 0 ? wino_one_mch(cfg, u->M, u->groups, t) : wino_mch(cfg, u->M);
}

/* Scratch: V areas (one per thread; one in all for the one-block run),
 * then one product area Mb per thread. */
static size_t wino_area(size_t n) { return (n + 15) & ~(size_t)15; }

size_t sk_wino_scratch_floats_tiles(const sk_gemm_cfg *cfg, const sk_gemm_packed_a *u,
                                    int64_t ntiles, int nthreads)
{
    size_t nxi = (size_t)u->groups, nt = (size_t)(nthreads > 0 ? nthreads : 1);
    int tb, mch, one;
    wino_blocking(cfg, u, ntiles, &tb, &mch, &one);
    size_t v = wino_area(nxi * (size_t)u->K * (size_t)tb);
    size_t mb = wino_area(nxi * (size_t)mch * (size_t)tb);
    return v * (one ? 1 : nt) + mb * nt;
}

int sk_wino_tile_block(const sk_gemm_cfg *cfg, const sk_gemm_packed_a *u, int64_t ntiles)
{
    int tb, mch, one;
    wino_blocking(cfg, u, ntiles, &tb, &mch, &one);
    return tb;
}

size_t sk_wino_scratch_floats(const sk_gemm_cfg *cfg, const sk_gemm_packed_a *u, int nthreads)
{
    return sk_wino_scratch_floats_tiles(cfg, u, 0, nthreads);
}

/* ---- the run ------------------------------------------------------------- */

typedef struct wino_run {
    sk_wino_uk k; /* the transforms of the level the weights were packed for */
    const sk_gemm_cfg *cfg;
    const sk_gemm_packed_a *u;
    sk_conv2d g;
    int m, a, nxi;          /* output tile m x m, input tile a x a, a*a products */
    int64_t th, tw, ntiles; /* tile rows / columns per image, tiles in all */
    int tb, mch;
    int64_t nchunks, msplit; /* M chunks; groups of them per tile block */
    int shared_v;            /* input transformed once per block, before the tasks */
    int one;                 /* one block of every tile, one V area (wino_one_block) */
    int vchunks, vch;        /* channel ranges of that transform: count, channels */
    int vorder_panel;        /* its units panel-major (SKIPSERVE_WINO_VORDER=0, A/B) */
    int in_pf_ahead;         /* input transform prefetches V / X this many channels ahead */
    int u_prefetch;          /* U's next slice prefetched (SKIPSERVE_WINO_PREFETCH=0: off) */
    float *scratch;
    size_t varea, mbarea; /* floats per V area, per product area */
    int nv;               /* V areas */
    /* k.colsw, or NULL with SKIPSERVE_WINO_GATHER=0 (A/B: interior lanes
     * through k.cols, border tiles one float at a time) */
    void (*colsw)(const float *row, long iw0, long W, int n, float *d, int nr);
#ifdef SK_WINO_PHASES
    wp_class *wp; /* this layer shape's timers (fast_wino_phases.h) */
#endif
} wino_run;

/* A run of lanes that lie in one tile row of one image. */
typedef struct wino_seg {
    int lane, len;
    int64_t img, ty, tx0;
} wino_seg;

/* Split tiles [t0, t0+n) into tile-row segments; returns the count. */
static int wino_segs(const wino_run *r, int64_t t0, int n, wino_seg *s)
{
    int ns = 0, lane = 0;
    while (lane < n) {
        int64_t t = t0 + lane, per = r->th * r->tw;
        int64_t img = t / per, rem = t % per, ty = rem / r->tw, tx = rem % r->tw;
        int len = (int)(r->tw - tx < n - lane ? r->tw - tx : n - lane);
        s[ns].lane = lane;
        s[ns].len = len;
        s[ns].img = img;
        s[ns].ty = ty;
        s[ns].tx0 = tx;
        ns++;
        lane += len;
    }
    return ns;
}

/* d[(i*a + j)*nr + lane] = x(m ty + i - pt, m tx + j - pl) of channel c for
 * the n lanes of the panel, zero outside the image; lanes n..nr stay as
 * the caller zeroed them. Interior rows go through the vector column
 * gather; border tiles are copied one by one. */
static void wino_gather(const wino_run *r, int64_t c, const wino_seg *segs, int nseg, int nr,
                        float *d)
{
    const int m = r->m, a = r->a;
    for (int si = 0; si < nseg; si++) {
        const wino_seg *s = &segs[si];
        const float *xc = r->g.x + (s->img * r->g.C + c) * r->g.H * r->g.W;
        int64_t iw0 = m * s->tx0 - r->g.pl;
        if (r->colsw) { /* the whole segment, borders included, in vectors */
            for (int i = 0; i < a; i++) {
                float *dst = d + i * a * nr + s->lane;
                int64_t ih = m * s->ty + i - r->g.pt;
                if (ih < 0 || ih >= r->g.H)
                    for (int j = 0; j < a; j++)
                        memset(dst + j * nr, 0, sizeof(float) * (size_t)s->len);
                else
                    r->colsw(xc + ih * r->g.W, (long)iw0, (long)r->g.W, s->len, dst, nr);
            }
            continue;
        }
        /* lanes [lo, hi) read only inside the row: iw0 + m l >= 0 and
         * iw0 + m l + a - 1 < W; the (few) others are bordered */
        int64_t lo = iw0 >= 0 ? 0 : (-iw0 + m - 1) / m;
        int64_t hi = r->g.W - a - iw0 < 0 ? 0 : (r->g.W - a - iw0) / m + 1;
        if (hi > s->len)
            hi = s->len;
        if (lo > hi)
            lo = hi;
        for (int i = 0; i < a; i++) {
            float *dst = d + i * a * nr + s->lane;
            int64_t ih = m * s->ty + i - r->g.pt;
            if (ih < 0 || ih >= r->g.H) {
                for (int j = 0; j < a; j++)
                    memset(dst + j * nr, 0, sizeof(float) * (size_t)s->len);
                continue;
            }
            const float *row = xc + ih * r->g.W;
            if (hi > lo)
                r->k.cols(row + iw0 + m * lo, (int)(hi - lo), dst + lo, nr);
            for (int l = 0; l < s->len; l++) {
                if (l == lo && hi > lo)
                    l = (int)hi;
                if (l >= s->len)
                    break;
                for (int j = 0; j < a; j++) {
                    int64_t iw = iw0 + j + m * l;
                    dst[j * nr + l] = iw >= 0 && iw < r->g.W ? row[iw] : 0.0f;
                }
            }
        }
    }
}

/* Output row m of every segment: the m x m results interleaved into output
 * rows with bias, residual and clamp (the vector epilogue). */
static void wino_store(const wino_run *r, int64_t ch, const wino_seg *segs, int nseg,
                       const float *y, int nr)
{
    const int m = r->m;
    float b = r->g.bias ? r->g.bias[ch] : 0.0f;
    for (int si = 0; si < nseg; si++) {
        const wino_seg *s = &segs[si];
        int64_t ow0 = m * s->tx0;
        int ncol = (int)(r->g.oW - ow0 < m * s->len ? r->g.oW - ow0 : m * s->len);
        for (int i = 0; i < m; i++) {
            int64_t oh = m * s->ty + i;
            if (oh >= r->g.oH)
                break;
            const float *yi = y + (size_t)(m * i) * (size_t)nr + s->lane;
            size_t off = (size_t)(((s->img * r->g.M + ch) * r->g.oH + oh) * r->g.oW + ow0);
            const float *res = r->g.res ? r->g.res + off : NULL;
            if (m == 2)
                r->k.epi2(r->g.y + off, yi, yi + nr, (size_t)ncol, b, res, r->g.lo, r->g.hi);
            else
                r->k.epi4(r->g.y + off, yi, yi + nr, yi + 2 * nr, yi + 3 * nr, (size_t)ncol, b,
                          res, r->g.lo, r->g.hi);
        }
    }
}

/* Prefetch for writing (x86 PREFETCHW: the line in this core's cache,
 * owned, before the store needs it; a no-op elsewhere). */
static inline void wino_pfw(const void *p)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__ volatile("prefetchw %0" ::"m"(*(const char *)p));
#else
    (void)p;
#endif
}

/* Input-transform prefetch, WINO_PF_AHEAD channels ahead (issue 24,
 * session 17): the V lines that channel will write (nxi rows of nr floats,
 * one per xi group, a panel apart) for writing, and the input rows its
 * tiles read. Why: with 2+ threads in the one-block run every line of V
 * was read by both cores in the layer before, so each store waited for the
 * other core's copy to be invalidated, and X was partly written by the
 * other core — line by line, 16 or 36 streams at once, which the hardware
 * prefetcher does not follow. The chain of four 14x14 x 256 layers
 * (bench/.layers/wino_256_14.onnx): the input transform took 3.3x the CPU
 * time on 2 threads that it took on 1, while two 1-thread processes at once
 * did not slow each other (bench/RESULTS.md session 17). Touches lines
 * only: same bits. SKIPSERVE_WINO_PFW=0 turns it off (A/B), =n prefetches
 * n channels ahead. */
#define WINO_PF_AHEAD 2

/* Prefetches never change values, so a test cannot see a range that
 * strays outside U, V or X from the outputs: each range is checked (two
 * compares a call) and a stray one counted here; test_fast_conv asserts
 * the count stays 0 (fast.h). */
_Atomic long sk_wino_pf_strays;
static void wino_pf_check(const void *p, const void *e, const void *lo, const void *hi)
{
    if (p && ((uintptr_t)p < ((uintptr_t)lo & ~(uintptr_t)63) || (uintptr_t)e > (uintptr_t)hi ||
              (uintptr_t)e < (uintptr_t)p))
        atomic_fetch_add_explicit(&sk_wino_pf_strays, 1, memory_order_relaxed);
}

static void wino_input_pf(const wino_run *r, float *V, size_t vstride, int64_t c,
                          const wino_seg *segs, int nseg)
{
    const int nr = r->cfg->nr;
    const float *v = V + (size_t)c * (size_t)nr;
    /* the last line written: inside the V areas */
    wino_pf_check(v, v + (size_t)(r->nxi - 1) * vstride + (size_t)nr, r->scratch,
                  r->scratch + (size_t)r->nv * r->varea);
    for (int xi = 0; xi < r->nxi; xi++)
        for (int k = 0; k < nr; k += 16) /* a line per 16 floats */
            wino_pfw(v + (size_t)xi * vstride + k);
    /* the rows of the panel's tiles: from the first segment's top row to
     * the last one's bottom row, contiguous in the channel's plane */
    const wino_seg *s0 = &segs[0], *s1 = &segs[nseg - 1];
    if (s0->img != s1->img)
        s1 = s0; /* two images in one panel (batch > 1): the first's rows */
    int64_t h0 = r->m * s0->ty - r->g.pt, h1 = r->m * s1->ty + r->a - r->g.pt;
    h0 = h0 < 0 ? 0 : h0;
    h1 = h1 > r->g.H ? r->g.H : h1;
    if (h1 <= h0)
        return;
    const char *x = (const char *)(r->g.x + ((s0->img * r->g.C + c) * r->g.H + h0) * r->g.W);
    size_t bytes = sizeof(float) * (size_t)((h1 - h0) * r->g.W);
    wino_pf_check(x, x + bytes, r->g.x, r->g.x + r->g.N * r->g.C * r->g.H * r->g.W);
    for (size_t o = 0; o < bytes; o += 64)
        __builtin_prefetch(x + o, 0, 3);
}

/* Input transform of tiles [t0, t0+nt) (npan panels), panels [pa, pb),
 * channels [ca, cb), straight into B panels: V[xi][p] is C x nr. */
static void wino_input(const wino_run *r, float *V, int64_t t0, int nt, int pa, int pb, int64_t ca,
                       int64_t cb)
{
    const int nr = r->cfg->nr;
    const int npan = (nt + nr - 1) / nr;
    const size_t pan = (size_t)r->g.C * (size_t)nr; /* floats per B panel */
    _Alignas(64) float d[36 * WINO_NR_MAX];
    wino_seg segs[WINO_NR_MAX];
    for (int p = pa; p < pb; p++) {
        int n = nt - p * nr < nr ? nt - p * nr : nr;
        int nseg = wino_segs(r, t0 + (int64_t)p * nr, n, segs);
        if (n < nr) /* the last panel's missing tiles: zero, never written */
            memset(d, 0, sizeof d);
        if (r->in_pf_ahead)
            for (int64_t c = ca; c < cb && c < ca + r->in_pf_ahead; c++)
                wino_input_pf(r, V + (size_t)p * pan, (size_t)npan * pan, c, segs, nseg);
        for (int64_t c = ca; c < cb; c++) {
            if (r->in_pf_ahead && c + r->in_pf_ahead < cb)
                wino_input_pf(r, V + (size_t)p * pan, (size_t)npan * pan, c + r->in_pf_ahead, segs,
                              nseg);
            wino_gather(r, c, segs, nseg, nr, d);
            float *v = V + (size_t)p * pan + (size_t)c * (size_t)nr;
            r->k.in(d, v, (size_t)npan * pan, nr);
        }
    }
}

/* Software prefetch of U (issue 24, session 17). At batch 1 a slice of U
 * (one xi group's A panels of one channel chunk: 16-64 KB) feeds one or
 * two tile panels, so the first microkernel call that touches it waits on
 * DRAM / L3 line by line, the next calls find it cached: the weight stream
 * runs in bursts at the rate one core's demand misses allow (as gemm.c's
 * prefetch of the next weights, session 16, measured for the GEMM convs).
 * Each call of the xi loop is handed its piece of the slice the task
 * multiplies next (xi + 1 of the same chunk; after the last xi, the next
 * chunk's first slice), spread evenly over the calls, so U arrives while
 * the GEMMs compute. The microkernel only touches the lines: same bits.
 * SKIPSERVE_WINO_PREFETCH=0 turns it off (A/B). */
/* gemm.c's piece rule (sk_gemm_pf_piece: one slice, call t of n), taken
 * call after call by sk_gemm_pf_seq (session 21, a2s) */

/* Output channel chunks [c0, c1) (of mch rows) of tiles [t0, t0+nt) from
 * their transformed input V: per chunk nxi GEMMs into Mb, then the output
 * transform. */
static void wino_multiply(const wino_run *r, const float *V, float *Mb, int64_t t0, int nt,
                          int64_t c0, int64_t c1, int tid)
{
    (void)tid;
    const sk_gemm_cfg *cfg = r->cfg;
    const int nr = cfg->nr, mr = cfg->mr, tb = r->tb, nxi = r->nxi;
    const int npan = (nt + nr - 1) / nr;
    const int64_t C = r->g.C;
    const size_t pan = (size_t)C * (size_t)nr;
    _Alignas(64) float d[16 * WINO_NR_MAX];
    wino_seg segs[WINO_NR_MAX];
    const int64_t mpad = (r->g.M + mr - 1) / mr * mr;
    const size_t ustride = (size_t)C * (size_t)mr; /* floats per A panel */
    sk_ukernel_params prm;
    memset(&prm, 0, sizeof prm);
    for (int64_t m0 = c0 * r->mch; m0 < mpad && m0 < c1 * r->mch; m0 += r->mch) {
        int rows = (int)(mpad - m0 < r->mch ? mpad - m0 : r->mch);
        long wt0 = WP_NOW();
        /* the chunk after this one (in task order: usually this thread's) */
        int64_t nm0 = m0 + r->mch;
        int nrows = nm0 < mpad ? (int)(mpad - nm0 < r->mch ? mpad - nm0 : r->mch) : 0;
        for (int xi = 0; xi < nxi; xi++) {
            const float *ua = r->u->data + (size_t)xi * r->u->group_stride +
                              (size_t)(m0 / mr) * ustride;
            const float *vb = V + (size_t)xi * (size_t)npan * pan;
            float *mc = Mb + (size_t)xi * (size_t)r->mch * (size_t)tb;
            /* U slice to prefetch during this xi's calls */
            const float *un = NULL;
            size_t unb = 0;
            if (r->u_prefetch && xi + 1 < nxi) {
                un = ua + r->u->group_stride;
                unb = sizeof(float) * (size_t)rows * (size_t)C;
            } else if (r->u_prefetch && nrows > 0) {
                un = r->u->data + (size_t)(nm0 / mr) * ustride;
                unb = sizeof(float) * (size_t)nrows * (size_t)C;
            }
            const int ncall = npan * (rows / mr);
            /* the calls' pieces in turn (session 21, a2s: sk_gemm_pf_seq,
             * the same pieces without a tile's three divisions) */
            sk_gemm_pf_seq pfs;
            sk_gemm_pf_seq_init(&pfs, un, unb, ncall);
            for (int p = 0; p < npan; p++)
                for (int im = 0; im < rows; im += mr) {
                    /* unconditional: un == NULL clears prm.pf, so the last
                     * slice's calls do not re-prefetch the one in use */
                    sk_gemm_pf_seq_next(&prm, &pfs, (size_t)C);
                    wino_pf_check(prm.pf, prm.pf_end, r->u->data,
                                  r->u->data + (size_t)r->u->groups * r->u->group_stride);
                    cfg->uk((size_t)C, ua + (size_t)(im / mr) * ustride, vb + (size_t)p * pan,
                            mc + (size_t)im * (size_t)tb + (size_t)p * (size_t)nr, (size_t)tb,
                            0, &prm);
                }
        }
        int64_t m1 = m0 + rows < r->g.M ? m0 + rows : r->g.M;
        WP_ADD(r, tid, WP_GEMM, wt0);
        wt0 = WP_NOW();
        for (int p = 0; p < npan; p++) {
            int n = nt - p * nr < nr ? nt - p * nr : nr;
            int nseg = wino_segs(r, t0 + (int64_t)p * nr, n, segs);
            for (int64_t ch = m0; ch < m1; ch++) {
                const float *mm = Mb + (size_t)(ch - m0) * (size_t)tb + (size_t)p * (size_t)nr;
                size_t ms = (size_t)r->mch * (size_t)tb;
                r->k.out(mm, ms, d, nr);
                wino_store(r, ch, segs, nseg, d, nr);
            }
        }
        WP_ADD(r, tid, WP_OUT, wt0);
    }
}

/* V area i (a thread's, or a block's with shared_v) and thread tid's Mb. */
static float *wino_v(const wino_run *r, int i)
{
    return r->scratch + (size_t)(r->one ? 0 : i) * r->varea;
}
static float *wino_mb(const wino_run *r, int tid)
{
    return r->scratch + (size_t)r->nv * r->varea + (size_t)tid * r->mbarea;
}

static int wino_block_tiles(const wino_run *r, int64_t b, int64_t *first)
{
    *first = b * r->tb;
    return (int)(r->ntiles - *first < r->tb ? r->ntiles - *first : r->tb);
}

/* Task t = (tile block t / msplit, group t % msplit of the M chunks): with
 * few tile blocks (small images at batch 1) the output channels are split
 * too. The block's input is transformed by the task itself, or, with
 * shared_v, was transformed beforehand by all threads into the V area of
 * thread b (wino_input_task). */
static void wino_task(void *arg, int tid, size_t t0, size_t t1)
{
    const wino_run *r = arg;
    if (r->cfg->task_begin) /* the AMX tile state (gemm.h) */
        r->cfg->task_begin();
    for (size_t t = t0; t < t1; t++) {
        int64_t b = (int64_t)(t / (size_t)r->msplit), g = (int64_t)(t % (size_t)r->msplit), first;
        int nt = wino_block_tiles(r, b, &first);
        int64_t per = (r->nchunks + r->msplit - 1) / r->msplit;
        int64_t c0 = g * per, c1 = c0 + per < r->nchunks ? c0 + per : r->nchunks;
        if (c0 >= c1)
            continue;
        float *V = wino_v(r, r->shared_v ? (int)b : tid);
        if (!r->shared_v) {
            long wt0 = WP_NOW();
            wino_input(r, V, first, nt, 0, (nt + r->cfg->nr - 1) / r->cfg->nr, 0, r->g.C);
            WP_ADD(r, tid, WP_IN, wt0);
        }
        wino_multiply(r, V, wino_mb(r, tid), first, nt, c0, c1, tid);
    }
    if (r->cfg->task_end)
        r->cfg->task_end();
}

/* Unit u of the shared input transform: (block, channel range, panel),
 * channel-major. Why that order: the pool gives thread t the units of its
 * share [t*n/T, (t+1)*n/T) first, and the multiply tasks after it are
 * output-channel chunks in order, so thread t wrote (about) channels
 * [t*M/T, (t+1)*M/T) of this layer's output — which the next Winograd
 * layer of the same width transforms, channel-major, on the same thread,
 * from that core's own caches. Panel-major (SKIPSERVE_WINO_VORDER=0, the
 * order before session 15) gave thread 0 every channel of the first
 * panel's tiles: half of them written by the other core. Same values
 * either way (a unit's arithmetic does not depend on who runs it).
 * ResNet-34 / -50 batch 1, 2 threads: 1.017-1.055x / 1.006-1.067x in two
 * A/B runs (16 / 15 of 22 rounds won), ResNet-18 even (bench/RESULTS.md,
 * session 15, branch thr3). */
static void wino_input_task(void *arg, int tid, size_t u0, size_t u1)
{
    const wino_run *r = arg;
    (void)tid;
    long wt0 = WP_NOW();
    const int nr = r->cfg->nr, pmax = r->tb / nr, porder = r->vorder_panel;
    for (size_t u = u0; u < u1; u++) {
        int64_t b = (int64_t)(u / ((size_t)pmax * (size_t)r->vchunks)), first;
        int rem = (int)(u % ((size_t)pmax * (size_t)r->vchunks));
        int p = porder ? rem / r->vchunks : rem % pmax;
        int64_t ca = (int64_t)(porder ? rem % r->vchunks : rem / pmax) * r->vch;
        int nt = wino_block_tiles(r, b, &first);
        if (p * nr >= nt || ca >= r->g.C)
            continue;
        int64_t cb = ca + r->vch < r->g.C ? ca + r->vch : r->g.C;
        wino_input(r, wino_v(r, (int)b), first, nt, p, p + 1, ca, cb);
    }
    WP_ADD(r, tid, WP_IN, wt0);
}

int sk_fast_run_conv_wino(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          sk_kctx *ctx)
{
    const sk_conv_priv *pv = n->priv;
    const sk_shape *xs = &in[0]->shape, *ws = &in[1]->shape;
    wino_run r;
    memset(&r, 0, sizeof r);
    if (xs->rank != 4 || ws->rank != 4)
        return sk_run_conv_fused(n, in, nin, out, 1, ctx);
    int rc = sk_conv2d_setup(n, in, nin, out, ctx, &r.g);
    if (rc)
        return rc;
    /* the prepack pass only picks Winograd for these; anything else (a
     * hand-edited graph) goes to the reference */
    if (r.g.kh != 3 || r.g.kw != 3 || r.g.sh != 1 || r.g.sw != 1 || r.g.dh != 1 || r.g.dw != 1 ||
        ws->dim[1] != r.g.C || r.g.M != pv->w.M || r.g.C != pv->w.K ||
        (pv->w.groups != 16 && pv->w.groups != 36))
        return sk_run_conv_fused(n, in, nin, out, 1, ctx);
    r.k = pv->w.groups == 16 ? pv->kc->wino2 : pv->kc->wino4;
    r.cfg = pv->cfg;
    r.u = &pv->w;
    const char *ge = sk_sw()->wino_gather;
    const int gather_off = ge && strcmp(ge, "0") == 0;
    r.colsw = gather_off ? NULL : r.k.colsw;
    /* switches.c's table (reloaded by tests), so a test can compare both
     * orders in one process */
    const char *vo = sk_sw()->wino_vorder;
    r.vorder_panel = vo && strcmp(vo, "0") == 0;
    const char *pfe = sk_sw()->wino_prefetch;
    r.u_prefetch = !(pfe && strcmp(pfe, "0") == 0);
    const char *pfw = sk_sw()->wino_pfw;
    r.in_pf_ahead = pfw ? atoi(pfw) : WINO_PF_AHEAD; /* channels ahead; 0 off (A/B), at most 64 */
    r.in_pf_ahead = r.in_pf_ahead < 0 ? 0 : r.in_pf_ahead > 64 ? 64 : r.in_pf_ahead;
    r.m = pv->w.groups == 16 ? 2 : 4;
    r.a = r.m + 2;
    r.nxi = r.a * r.a;
    r.th = (r.g.oH + r.m - 1) / r.m;
    r.tw = (r.g.oW + r.m - 1) / r.m;
    r.ntiles = r.g.N * r.th * r.tw;
    if (r.ntiles == 0 || r.g.M == 0)
        return 0;

    WP_CALL(&r);
    int nthreads = sk_pool_size(ctx->pool);
    size_t need = sk_wino_scratch_floats_tiles(r.cfg, r.u, r.ntiles, nthreads);
    float *heap;
    if (!(r.scratch = sk_fast_scratch(n, ctx, need, &heap)))
        return SK_ENOMEM;
    wino_blocking(r.cfg, r.u, r.ntiles, &r.tb, &r.mch, &r.one);
    r.nv = r.one ? 1 : nthreads;
    r.varea = wino_area((size_t)r.nxi * (size_t)r.g.C * (size_t)r.tb);
    r.mbarea = wino_area((size_t)r.nxi * (size_t)r.mch * (size_t)r.tb);
    /* smaller blocks when there are too few to keep every thread busy
     * (not the one block: its threads split the output channels) */
    while (!r.one && r.tb > r.cfg->nr && (r.ntiles + r.tb - 1) / r.tb < 2 * nthreads)
        r.tb -= r.cfg->nr;
    int64_t nblocks = (r.ntiles + r.tb - 1) / r.tb;
    /* and smaller channel chunks when even one chunk per task leaves
     * threads idle (7x7 layers at batch 1: one block of 16 tiles, 8 chunks
     * for 16 threads) */
    const int64_t panels = (r.g.M + r.cfg->mr - 1) / r.cfg->mr;
    if (nthreads > 1 && nblocks * ((panels * r.cfg->mr + r.mch - 1) / r.mch) < 2 * nthreads) {
        int64_t want = (2 * nthreads + nblocks - 1) / nblocks;
        if (want > panels)
            want = panels;
        r.mch = (int)((panels + want - 1) / want * r.cfg->mr);
    }
    r.nchunks = (panels * r.cfg->mr + r.mch - 1) / r.mch;
    /* with few tile blocks the output channel chunks are split over tasks
     * too: the split with the shortest finish time on nthreads, a task
     * costing its chunks' GEMMs (mch rows each) plus the input transform
     * it repeats (about 4 rows' worth of multiply-adds per tile and
     * channel). When that splits at all and each block fits one thread's
     * V area, the shared transform below replaces the repeats and every
     * chunk becomes its own task. */
    r.msplit = 1;
    if (nthreads > 1 && nblocks < 2 * nthreads) {
        double best = -1;
        for (int64_t ms = 1; ms <= r.nchunks; ms++) {
            int64_t rounds = (nblocks * ms + nthreads - 1) / nthreads;
            double t = (double)rounds * (double)((r.nchunks + ms - 1) / ms * r.mch + 4);
            if (best < 0 || t < best) {
                best = t;
                r.msplit = ms;
            }
        }
    }
    /* Split channels repeat the block's input transform in every task, and
     * with many threads (16 tasks of one 7x7 block) that is as much work as
     * their GEMMs: when the blocks' V fit the threads' V areas (one block
     * per thread at most), all threads transform them first, each a few
     * panels x channels, and the tasks then only read them. */
    /* A block or two per thread (49 tiles = blocks of 32 and 17 at 2
     * threads): one task per block leaves the threads as uneven as the
     * blocks and nothing to rebalance a late one with; every (block,
     * chunk) its own task after the shared transform evens that out.
     * SKIPSERVE_WINO_SPLIT=0: as before (A/B). */
    const char *se = sk_sw()->wino_split;
    const int split_off = se && strcmp(se, "0") == 0;
    if (!split_off && nthreads > 1 && nblocks <= nthreads && r.nchunks > 1)
        r.msplit = r.nchunks;
    if (r.msplit > 1 && nblocks <= nthreads) {
        const int pmax = r.tb / r.cfg->nr;
        int64_t want = (4L * nthreads + nblocks * pmax - 1) / (nblocks * pmax);
        int64_t vch = (r.g.C + want - 1) / want;
        r.vch = (int)(vch < 16 ? 16 : vch);
        r.vchunks = (int)((r.g.C + r.vch - 1) / r.vch);
        r.shared_v = 1;
        r.msplit = r.nchunks; /* no transform repeated: one chunk per task balances best */
        long wt0 = WP_WNOW();
        sk_parallel_for_tid(ctx->pool, (size_t)(nblocks * pmax * r.vchunks), 1, wino_input_task,
                            &r);
        WP_WALL(&r, WP_WIN, wt0);
    }
    long wt1 = WP_WNOW();
    sk_parallel_for_tid(ctx->pool, (size_t)(nblocks * r.msplit), 1, wino_task, &r);
    WP_WALL(&r, WP_WMUL, wt1);
    WP_END(&r);
    sk_free(heap);
    return 0;
}
