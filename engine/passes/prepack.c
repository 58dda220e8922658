/* prepack.c — pack the weights of every fused node into the GEMM panel
 * layout of the active ISA level, once, into sk_node.priv. Nothing is packed
 * at the scalar level (the reference kernels read W as it is). */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels/fast.h"
#include "kernels/bf16.h"
#include "passes.h"
#include "pass_util.h"

static int all_ones(const sk_node *n, const char *name)
{
    const int64_t *v;
    int nv = sk_attr_ints(n, name, &v);
    for (int i = 0; i < nv; i++)
        if (v[i] != 1)
            return 0;
    return 1;
}

/* Winograd for 3x3, stride-1, undilated, ungrouped convs with at least 32
 * input and output channels: below that its transforms cost more than the
 * multiplies it saves (measured per layer shape in bench/RESULTS.md: 16 ->
 * 16 channels at 256x256 is 12% slower, 32 -> 32 30% faster; every ResNet /
 * U-Net shape from 7x7 to 256x256 with >= 32 channels is faster).
 * Returns the output tile size m of F(m x m, 3x3), or 0 for no Winograd:
 * F(4x4) multiplies 2.25 times per output and channel pair, F(2x2) 4
 * times, but F(4x4)'s tiles are 4x larger, so on small maps its B panels
 * (nr tiles side by side) run part empty: a 7x7 map is 4 tiles of 4x4 in a
 * panel of 16 (AVX2) against 16 tiles of 2x2 — 2.25x the lane work. The
 * choice compares the lanes each variant multiplies for one image (output
 * size from the load-time shape walk; F(2x2) when it is unknown) and
 * takes F(4x4) when that is at most WINO4_RATIO of F(2x2)'s, the margin
 * paying for its larger transforms.
 * SKIPSERVE_WINOGRAD=0 turns Winograd off (A/B measurements, or results
 * that must not depend on it); =2 or =4 fixes the variant; =force, =force2
 * and =force4 also drop the channel threshold (tests). */
#define WINO_MIN_CHANNELS 32
#define WINO4_RATIO 0.8
static int use_winograd(const sk_node *n, const sk_value *w, int64_t group, int64_t oh,
                        int64_t ow, const sk_gemm_cfg *cfg)
{
    const char *env = getenv("SKIPSERVE_WINOGRAD");
    if (!env)
        env = "";
    if (!strcmp(env, "0"))
        return 0;
    if (w->shape.rank != 4 || w->shape.dim[2] != 3 || w->shape.dim[3] != 3 || group != 1 ||
        !all_ones(n, "strides") || !all_ones(n, "dilations"))
        return 0;
    int force = !strncmp(env, "force", 5);
    const char *v = force ? env + 5 : env;
    if (!force && (w->shape.dim[0] < WINO_MIN_CHANNELS || w->shape.dim[1] < WINO_MIN_CHANNELS))
        return 0;
    if (!strcmp(v, "2") || !strcmp(v, "4"))
        return v[0] - '0';
    if (oh <= 0 || ow <= 0)
        return 2;
    int64_t nr = cfg->nr, lanes[2];
    for (int i = 0; i < 2; i++) {
        int64_t m = 2 + 2 * i, tiles = ((oh + m - 1) / m) * ((ow + m - 1) / m);
        lanes[i] = (m + 2) * (m + 2) * ((tiles + nr - 1) / nr * nr);
    }
    return (double)lanes[1] <= WINO4_RATIO * (double)lanes[0] ? 4 : 2;
}

/* Pixel rows (SK_CONV_PIXROWS, fast.h) when the output has few pixels per
 * image: the microkernel tile is mr x nr (6 x 16 with AVX2), so 49 pixels
 * (7x7) as GEMM columns pad to 64 — 31% of the multiply-adds wasted — but
 * as rows to 54 (10%). Chosen for at most 4 * nr pixels when the padded
 * product is >= 10% smaller that way round; P is the output pixels per
 * image from the load-time shape walk (0: unknown or depends on a symbolic
 * input dim — then never). Measured on ResNet-50 (bench/RESULTS.md): its
 * seven 7x7 GEMM convs 15-25% faster each; its 14x14 ones (196 pixels, 5%
 * less padding) 15-25% slower, the transposed output and the extra pass
 * over it costing more than the padding saved — so larger outputs (where
 * only a small M could make the rule fire) keep the usual orientation.
 * SKIPSERVE_PIXROWS=0 turns it off; =force takes it for every ungrouped
 * GEMM conv (tests). */
static int use_pixrows(int64_t M, int64_t group, int64_t P, const sk_gemm_cfg *cfg)
{
    const char *env = getenv("SKIPSERVE_PIXROWS");
    /* an AMX config (kchunk) has no pixel-rows A gather: im2col-gemm */
    if (group != 1 || cfg->kchunk || (env && !strcmp(env, "0")))
        return 0;
    if (env && !strcmp(env, "force"))
        return 1;
    int64_t mr = cfg->mr, nr = cfg->nr;
    if (P <= 0 || P > 4 * nr)
        return 0;
    int64_t cols = (M + mr - 1) / mr * mr * ((P + nr - 1) / nr * nr);
    int64_t rows = (P + mr - 1) / mr * mr * ((M + nr - 1) / nr * nr);
    return cols * 10 >= rows * 11;
}

/* The NCHW 1x1 strategy (SK_CONV_NCHW1X1, fast_conv_1x1.c): a 1x1,
 * stride-1, unpadded, ungrouped conv at a level with the kernel (AVX-512),
 * output P >= 16 pixels per image or unknown, only under
 * SKIPSERVE_NCHW1X1=force: it measured slower than im2col-gemm / pixel
 * rows on every ResNet-50 and MobileNetV2 shape (bench/RESULTS.md, session
 * 14), so no default rule takes it. */
static int use_nchw1x1(const sk_node *n, const sk_value *w, int64_t group, int64_t P,
                       const sk_kconfig *kc)
{
    const char *env = getenv("SKIPSERVE_NCHW1X1");
    if (!env || strcmp(env, "force") || !kc->gemm_nchw || kc->gemm.mr != 8 || group != 1 ||
        w->shape.rank < 3 || !all_ones(n, "strides"))
        return 0;
    for (int i = 2; i < w->shape.rank; i++)
        if (w->shape.dim[i] != 1)
            return 0;
    const int64_t *pads;
    int np = sk_attr_ints(n, "pads", &pads);
    for (int i = 0; i < np; i++)
        if (pads[i] != 0)
            return 0;
    const char *ap = sk_attr_str(n, "auto_pad", "NOTSET");
    if (ap && strcmp(ap, "NOTSET") && strcmp(ap, "VALID"))
        return 0;
    return P == 0 || P >= 16;
}

/* The direct NCHW conv (SK_CONV_DIRECT, fast_conv_s2.c; issue 24, session
 * 16): 2-D, group 1, dilation 1, the same stride (1 or 2) on both axes, at
 * most SK_CDIR_MAX_TAPS taps, at a level with the band loop. By default
 * only stride-2 convs of at most 4 input channels — the RGB stems (ResNet's
 * 7x7 s2 3 -> 64: K = 147 deep, where im2col-gemm spent its time gathering;
 * bench/RESULTS.md, session 16). SKIPSERVE_CONV_DIRECT=0 never (A/B: the
 * old path), =force every conv the loop covers (tests). */
#define CDIR_MAX_C 4
static int use_cdir(const sk_node *n, const sk_value *w, int64_t group, const sk_kconfig *kc)
{
    const char *env = getenv("SKIPSERVE_CONV_DIRECT");
    if ((env && !strcmp(env, "0")) || !kc->cdir_band || w->shape.rank != 4 || group != 1 ||
        !all_ones(n, "dilations") || w->shape.dim[2] * w->shape.dim[3] > SK_CDIR_MAX_TAPS)
        return 0;
    const int64_t *st;
    int ns = sk_attr_ints(n, "strides", &st);
    int64_t s = ns == 2 ? st[0] : ns <= 0 ? 1 : -1; /* absent (-1) or empty: 1 */
    if ((s != 1 && s != 2) || (ns == 2 && st[1] != s))
        return 0;
    if (env && !strcmp(env, "force"))
        return 1;
    return s == 2 && w->shape.dim[1] <= CDIR_MAX_C;
}

/* The broadcast direct conv (SK_CONV_DIRECT_BC, fast_conv_s2b.c; issue 24,
 * session 16): 2-D, group 1, dilation 1, stride 2 on both axes, at a level
 * with the tile whose channel block is the GEMM's nr (W' is packed as its
 * B panels). By default for kernels larger than 1x1 with more than
 * CDIR_MAX_C input channels — ResNet's stride-2 3x3 convs, where
 * im2col-gemm gathered its columns
 * (bench/RESULTS.md, session 16); the RGB stems take use_cdir.
 * SKIPSERVE_CONV_BCAST=0 never (A/B), =force every stride-2 conv (tests). */
static int use_cdirb(const sk_node *n, const sk_value *w, int64_t group, int64_t ow,
                     const sk_kconfig *kc)
{
    const char *env = getenv("SKIPSERVE_CONV_BCAST"), *d = getenv("SKIPSERVE_CONV_DIRECT");
    int force = env && !strcmp(env, "force");
    if ((env && !strcmp(env, "0")) || !kc->cdirb_tile || kc->cdirb_nc != kc->gemm.nr ||
        w->shape.rank != 4 || group != 1 || !all_ones(n, "dilations"))
        return 0;
    const int64_t *st;
    if (sk_attr_ints(n, "strides", &st) != 2 || st[0] != 2 || st[1] != 2)
        return 0;
    if (force)
        return 1;
    if (d && !strcmp(d, "force")) /* the tests of use_cdir's loop */
        return 0;
    /* 1x1 s2 (the down-sampling convs): slower than im2col-gemm, the
     * padded copy of X costing more than the gather it saves; outputs
     * narrower than a tile (7x7) leave lanes idle: pixel rows win there;
     * the AVX2 tile (6 pixels x 16 channels, 8 loads per 12 FMAs) is
     * 1.1-1.2x slower than im2col-gemm: AVX-512 only *by default* */
    return kc->isa >= SK_ISA_AVX512 && w->shape.dim[1] > CDIR_MAX_C &&
           w->shape.dim[2] * w->shape.dim[3] > 1 &&
           (ow >= kc->cdirb_pt || (kc->cdirb_tile2 && ow >= kc->cdirb_pt2) /* narrower rows: the second tile */);
}

/* For a Winograd F(m x m) conv (group 1) on a known oh x ow output: the
 * largest batch (up to 16) at which pixel rows multiply at most
 * WINO_PIX_RATIO x the lanes Winograd does, 0 for none. Winograd's tiles
 * of all the batch's images share B panels of nr tiles, so on small maps
 * it pads at batch 1 and not at 8: with AVX-512 (nr 32) one 7x7 image is
 * 16 tiles in a panel of 32, 16 x 32 = 512 lanes per channel pair, where
 * pixel rows do 9 x 56 = 504 and no transforms. Measured on ResNet-50's
 * 512 x 7x7 3x3 layers (bench/RESULTS.md, dw2): pixel rows 1.25x faster at
 * batch 1, Winograd 1.15x at batch 8. With AVX2 (nr 16) the panel is full
 * at batch 1 and this returns 0. SKIPSERVE_WINO_PIXROWS=0: never (A/B). */
#define WINO_PIX_RATIO 1.2
static int64_t wino_pixrows_max_n(int m, int64_t kvol, int64_t oh, int64_t ow,
                                  const sk_gemm_cfg *cfg)
{
    const char *e = getenv("SKIPSERVE_WINO_PIXROWS");
    if ((e && !strcmp(e, "0")) || m == 0 || oh <= 0 || ow <= 0)
        return 0;
    const int64_t nr = cfg->nr, mr = cfg->mr, P = oh * ow;
    const int64_t tiles = ((oh + m - 1) / m) * ((ow + m - 1) / m);
    int64_t best = 0;
    for (int64_t N = 1; N <= 16; N++) {
        int64_t wl = (m + 2) * (m + 2) * ((N * tiles + nr - 1) / nr * nr);
        int64_t pl = kvol * ((N * P + mr - 1) / mr * mr);
        if ((double)pl > WINO_PIX_RATIO * (double)wl)
            break;
        best = N;
    }
    return best;
}

/* The output shape of conv node n when both shape walks give it the same
 * spatial dims, all known (rank >= 3); NULL when unknown or when they
 * disagree (the size depends on a symbolic input dim). */
static const sk_shape *out_spatial(const sk_pass *p, const sk_node *n)
{
    int v = n->nout > 0 ? n->out[0] : -1;
    if (v < 0 || !p->shape[0] || !p->shape[1])
        return NULL;
    const sk_shape *a = &p->shape[0][v], *b = &p->shape[1][v];
    if (a->rank < 3 || a->rank != b->rank)
        return NULL;
    for (int i = 2; i < a->rank; i++)
        if (a->dim[i] <= 0 || a->dim[i] != b->dim[i])
            return NULL;
    return a;
}

/* Output pixels per image, or 0 when out_spatial does not know them. */
static int64_t out_pixels(const sk_shape *s)
{
    int64_t px = s ? 1 : 0;
    for (int i = 2; s && i < s->rank; i++)
        px *= s->dim[i];
    return px;
}

/* With precision bf16, whether a 3x3 stride-1 conv that Winograd would
 * take (m = 2 or 4, use_winograd) stays on FP32 Winograd instead of the
 * BF16 GEMM: SKIPSERVE_BF16_WINOGRAD=0 never, =1 always, =4 only where
 * F(4x4) was chosen (it multiplies 2.25 times per output against the
 * direct 9, more than bf16's 2x; F(2x2)'s 4 times is less). Default: 4
 * (measured in bench/RESULTS.md, issue 22). */
/* Session 14 (u8): by default only where F(4x4) was chosen *and* the layer
 * does at least SK_BF16_WINO_MACS multiply-adds per image (direct count):
 * the U-Net's 3x3 layers (0.3-1.2 G each) run 1.1-1.3x faster on F(4x4)
 * than on the BF16 GEMM, every ResNet 3x3 layer (116 M: 56x56x64x64,
 * 28x28x128x128) 1.1-1.2x slower (bench/RESULTS.md, session 14); =4 keeps
 * every F(4x4) layer (the rule before). */
#define SK_BF16_WINO_MACS ((int64_t)200 << 20)
/* Session 19: on the AMX-BF16 config (kchunk) the default keeps none —
 * TDPBF16PS is ~14x the FP32 FMA loop's ceiling, so F(4x4)'s 2.25
 * multiplies against the direct 9 no longer pay: U-Net b1 1T 69.5 -> 56.2
 * ms, 2T 36.0 -> 29.1 with every conv on the AMX GEMM (bench/bf16.py,
 * bench/RESULTS.md session 19); the switch's values still apply. */
static int bf16_keeps_winograd(int m, int64_t macs, const sk_gemm_cfg *bcfg)
{
    const char *e = getenv("SKIPSERVE_BF16_WINOGRAD");
    if (m == 0 || (e && !strcmp(e, "0")))
        return 0;
    if (e && !strcmp(e, "1"))
        return 1;
    if (e && !strcmp(e, "4"))
        return m == 4;
    return m == 4 && macs >= SK_BF16_WINO_MACS && !bcfg->kchunk;
}

/* Session 17 (bfx), opt-in: SKIPSERVE_BF16_WINO_T=n (n > 0) also packs a
 * 3x3 layer that keeps F(4x4) in bf16 (above) for the BF16 GEMM (an eighth
 * of the Winograd pack's bytes) and runs it that way from n threads on
 * (fast.h bf16_form, fast_conv.c sk_conv_runs_bf16; the threads are known
 * only at run time, so both forms are kept). Measured on the U-Net, where
 * F(4x4) wins at one thread: at batch 1 on two threads the BF16 form's
 * median was 1.02-1.03x faster on a quiet machine, F(4x4)'s fastest runs
 * 1.15x faster, and F(4x4) 1.12-1.15x faster whenever another job held a
 * core (bench/RESULTS.md, session 17) — no clear winner, so the default
 * (0) keeps the rule above at every thread count. */
#define SK_BF16_WINO_T 0
static int bf16_wino_min_threads(void)
{
    const char *e = getenv("SKIPSERVE_BF16_WINO_T");
    return e && *e ? atoi(e) : SK_BF16_WINO_T;
}

/* pv->bf16_form: the conv (Mg x K, `group` groups) packed as SK_CONV_BF16 */
static int bf16_form(sk_conv_priv *pv, const sk_value *w, const sk_kconfig *kc, int64_t Mg,
                    int64_t K, int64_t group)
{
    sk_conv_priv *a = calloc(1, sizeof *a);
    if (!a)
        return SK_ENOMEM;
    a->kind = SK_CONV_BF16;
    a->kc = kc;
    a->cfg = &kc->bf16_gemm;
    a->kvol = pv->kvol;
    pv->bf16_form = a; /* freed with pv, packed or not */
    return sk_bf16_pack_a(a->cfg, w->data, (size_t)K, (int)Mg, (int)K, (int)group, &a->w);
}

int sk_bf16_available(void)
{
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    return kc && kc->bf16_gemm.uk != NULL;
}

/* The depthwise kernel's A/B switches, read once at load (the kernel does
 * not look them up): SKIPSERVE_DW_FLAT=0 keeps the row loops,
 * SKIPSERVE_DW_CL=0 turns the channel lanes off, SKIPSERVE_DW_CL_MAXPX=n
 * moves their plane limit (measurement). */
static void dw_switches(sk_conv_priv *pv, const sk_kconfig *kc)
{
    const char *fl = getenv("SKIPSERVE_DW_FLAT"), *cl = getenv("SKIPSERVE_DW_CL");
    const char *mp = getenv("SKIPSERVE_DW_CL_MAXPX"), *rg = getenv("SKIPSERVE_DW_REG");
    pv->dw_flat = !(fl && !strcmp(fl, "0"));
    /* session 19: the register-row 3x3 loop where the level has it, by
     * default where config.c says (Intel); =0 off, =1 on any CPU */
    pv->dw_reg = kc->dw_reg3 && (rg && *rg ? strcmp(rg, "0") != 0 : kc->dw_reg_on);
    pv->dw_cl_maxpx = cl && !strcmp(cl, "0") ? 0 : mp && *mp ? atoll(mp) : SK_DW_CL_MAXPX;
}

static int pack_conv(sk_pass *p, sk_node *n, const sk_kconfig *kc)
{
    const sk_gemm_cfg *cfg = &kc->gemm;
    const sk_graph *g = p->g;
    const sk_value *w = &g->values[n->in[1]];
    int64_t M = w->shape.dim[0], Cg = w->shape.dim[1], kvol = 1;
    for (int i = 2; i < w->shape.rank; i++)
        kvol *= w->shape.dim[i];
    int64_t group = sk_attr_int(n, "group", 1);
    if (group < 1 || M % group || Cg * kvol > (1 << 30) || M > (1 << 30))
        return 0; /* the reference kernel reports what is wrong */
    sk_conv_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return SK_ENOMEM;
    pv->kind = SK_CONV_GEMM;
    pv->cfg = cfg;
    pv->kc = kc;
    pv->kvol = kvol;
    int64_t Mg = M / group, K = Cg * kvol;
    const sk_shape *os = out_spatial(p, n);
    int64_t oh = os && os->rank == 4 ? os->dim[2] : 0, ow = os && os->rank == 4 ? os->dim[3] : 0;
    int rc = 0, wino;
    if (w->shape.rank == 4 && Cg == 1 && group == M) {
        /* depthwise: the direct kernel reads W as it is */
        pv->kind = SK_CONV_DEPTHWISE;
        dw_switches(pv, kc);
    } else if (p->precision == SK_PREC_BF16 && kc->bf16_gemm.uk &&
               !bf16_keeps_winograd(use_winograd(n, w, group, oh, ow, cfg),
                                    oh * ow * M * K, &kc->bf16_gemm)) {
        /* BF16: every other conv on the K-pair GEMM (bf16.h), 7x7 maps as
         * pixel rows like FP32 (W' as K-pair B panels) */
        pv->cfg = &kc->bf16_gemm;
        if (use_pixrows(M, group, out_pixels(os), pv->cfg)) {
            pv->kind = SK_CONV_PIXROWS;
            rc = sk_bf16_pack_b(pv->cfg, w->data, 1, (size_t)K, (int)K, (int)M, &pv->wt);
        } else {
            pv->kind = SK_CONV_BF16;
            rc = sk_bf16_pack_a(pv->cfg, w->data, (size_t)K, (int)Mg, (int)K, (int)group, &pv->w);
        }
        p->nbf16 += rc == 0;
    } else if (use_cdirb(n, w, group, ow, kc)) {
        /* W' (k, m) = W[m][k] as B panels, as pixel rows */
        pv->kind = SK_CONV_DIRECT_BC;
        pv->cdir.C = Cg;
        pv->cdir.kh = w->shape.dim[2];
        pv->cdir.kw = w->shape.dim[3];
        pv->cdir.s = 2;
        rc = sk_gemm_pack_b(cfg, w->data, 1, (size_t)K, (int)K, (int)M, 1.0f, &pv->wt);
    } else if (use_cdir(n, w, group, kc)) {
        /* reads W as given: nothing to pack */
        pv->kind = SK_CONV_DIRECT;
        pv->cdir.C = Cg;
        pv->cdir.kh = w->shape.dim[2];
        pv->cdir.kw = w->shape.dim[3];
        const int64_t *st;
        pv->cdir.s = sk_attr_ints(n, "strides", &st) == 2 ? st[0] : 1;
    } else if ((wino = use_winograd(n, w, group, oh, ow, cfg)) != 0) {
        pv->kind = wino == 4 ? SK_CONV_WINOGRAD4 : SK_CONV_WINOGRAD;
        rc = sk_wino_pack(cfg, w->data, (int)M, (int)Cg, wino, &pv->w);
        /* small batches of small maps: W' too, pixel rows then (see above) */
        int64_t pn = rc == 0 && group == 1 ? wino_pixrows_max_n(wino, kvol, oh, ow, cfg) : 0;
        if (pn > 0 && (rc = sk_gemm_pack_b(cfg, w->data, 1, (size_t)K, (int)K, (int)M, 1.0f,
                                           &pv->wt)) == 0)
            pv->pix_max_n = pn;
        /* precision bf16 kept it on Winograd: its BF16 form too (bf16_form) */
        if (rc == 0 && p->precision == SK_PREC_BF16 && kc->bf16_gemm.uk &&
            (pv->bf16_min_t = bf16_wino_min_threads()) > 0)
            rc = bf16_form(pv, w, kc, Mg, K, group);
        p->nbf16_form += rc == 0 && pv->bf16_form;
    } else if (use_nchw1x1(n, w, group, out_pixels(os), kc)) {
        pv->kind = SK_CONV_NCHW1X1; /* A panels as im2col-gemm's */
        rc = sk_gemm_pack_a(cfg, w->data, (size_t)K, (int)Mg, (int)K, (int)group, 1.0f, &pv->w);
    } else if (use_pixrows(M, group, out_pixels(os), cfg)) {
        /* W' (k, m) = W[m][k] */
        pv->kind = SK_CONV_PIXROWS;
        rc = sk_gemm_pack_b(cfg, w->data, 1, (size_t)K, (int)K, (int)M, 1.0f, &pv->wt);
    } else {
        rc = sk_gemm_pack_a(cfg, w->data, (size_t)K, (int)Mg, (int)K, (int)group, 1.0f, &pv->w);
    }
    if (rc) {
        sk_conv_priv_free(pv); /* a Winograd pack may be done when W' failed */
        return SK_ENOMEM;
    }
    n->priv = pv;
    n->priv_free = sk_conv_priv_free;
    p->npacked++;
    return 0;
}

/* Free the raw weights of node n (input 1) once they are packed: the fast
 * kernel reads only their shape, and nothing else reads them when n is
 * their one reader and they are no graph output. Weights borrowed from an
 * external-data mapping are let go the same way (the mapping is unmapped
 * at the end of the passes when nothing else points into it,
 * sk_graph_release_mappings). At the level of the load
 * the fast kernel never falls back to the reference for a packed node (its
 * shapes are the packer's; a mismatch is an error), so the raw copy was
 * dead weight: ResNet-50 ~100 MB of its RSS. A plan run at another level
 * (only tests switch levels after a load) gets an error, not zeros.
 * Depthwise convs read W as it is and keep it. SKIPSERVE_KEEP_WEIGHTS=1
 * keeps them all. */
static void release_weights(sk_pass *p, int ni) { sk_pass_release_weight(p->g, ni, 1); }

static int pack_gemm(sk_pass *p, sk_node *n, const sk_kconfig *kc)
{
    const sk_gemm_cfg *cfg = &kc->gemm;
    const sk_graph *g = p->g;
    const sk_value *b = &g->values[n->in[1]];
    int tb = sk_attr_int(n, "transB", 0) != 0;
    int64_t K = b->shape.dim[tb ? 1 : 0], N = b->shape.dim[tb ? 0 : 1];
    if (K > (1 << 30) || N > (1 << 30))
        return 0;
    float alpha = sk_attr_float(n, "alpha", 1.0f), beta = sk_attr_float(n, "beta", 1.0f);
    sk_gemm_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return SK_ENOMEM;
    pv->cfg = cfg;
    pv->kc = kc;
    /* B'(k, n) = B[k][n], or B[n][k] when transposed */
    size_t sk = tb ? 1 : (size_t)N, sn = tb ? (size_t)K : 1;
    if (sk_gemm_pack_b(cfg, b->data, sk, sn, (int)K, (int)N, alpha, &pv->w)) {
        free(pv);
        return SK_ENOMEM;
    }
    int cv = n->nin > 2 ? n->in[2] : -1;
    if (cv >= 0) {
        const float *c = g->values[cv].data;
        int64_t cn = sk_shape_numel(&g->values[cv].shape);
        pv->bias = sk_alloc(sizeof(float) * (size_t)(N > 0 ? N : 1));
        if (!pv->bias) {
            sk_gemm_priv_free(pv);
            return SK_ENOMEM;
        }
        for (int64_t j = 0; j < N; j++)
            pv->bias[j] = beta * c[cn == 1 ? 0 : j];
    }
    n->priv = pv;
    n->priv_free = sk_gemm_priv_free;
    p->npacked++;
    return 0;
}

/* ConvTranspose W [C, M, kh, kw]: A = W^T, row (m, kh, kw), column c. */
static int pack_convt(sk_pass *p, sk_node *n, const sk_kconfig *kc)
{
    const sk_gemm_cfg *cfg = &kc->gemm;
    const sk_value *w = &p->g->values[n->in[1]];
    if (!sk_fast_convt_supported(n, &w->shape))
        return 0;
    int64_t C = w->shape.dim[0], R = w->shape.dim[1] * w->shape.dim[2] * w->shape.dim[3];
    if (C > (1 << 30) || R > (1 << 30))
        return 0;
    float *t = malloc(sizeof(float) * (size_t)(C * R > 0 ? C * R : 1));
    sk_conv_priv *pv = calloc(1, sizeof *pv);
    if (!t || !pv) {
        free(t);
        free(pv);
        return SK_ENOMEM;
    }
    const float *src = w->data;
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            t[r * C + c] = src[c * R + r];
    pv->kind = SK_CONV_GEMM;
    pv->cfg = cfg;
    pv->kc = kc;
    int rc = sk_gemm_pack_a(cfg, t, (size_t)C, (int)R, (int)C, 1, 1.0f, &pv->w);
    free(t);
    if (rc) {
        free(pv);
        return SK_ENOMEM;
    }
    n->priv = pv;
    n->priv_free = sk_convt_priv_free;
    p->npacked++;
    return 0;
}

int sk_pass_prepack(sk_pass *p)
{
    const sk_kconfig *kc = sk_kconfig_for(sk_cpu_level());
    if (!kc)
        return 0;
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        int rc = 0;
        if (n->priv || n->nin < 2 || !sk_pass_is_const(g, n->in[1]))
            continue;
        if (n->op == SK_OP_CONV_FUSED)
            rc = pack_conv(p, n, kc);
        else if (n->op == SK_OP_GEMM_FUSED || n->op == SK_OP_MATMUL_FUSED)
            rc = pack_gemm(p, n, kc); /* _MatMulFused: W [K, N], no trans, bias [N] */
        else if (n->op == SK_OP_CONV_TRANSPOSE && !sk_pass_is_const(g, n->in[0]))
            rc = pack_convt(p, n, kc);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory packing the weights of '%s'",
                           n->name);
        if (n->priv &&
            (n->op == SK_OP_GEMM_FUSED || n->op == SK_OP_MATMUL_FUSED ||
             (n->op == SK_OP_CONV_FUSED &&
              !sk_conv_strategy_of(((const sk_conv_priv *)n->priv)->kind)->reads_w)))
            release_weights(p, ni);
    }
    return 0;
}
