/* config.c — the kernel configuration of each ISA level (config.h), filled
 * once from what this build compiled, what the CPU runs, and the switches.
 *
 * The fill is the only place that names per-level kernels: the drivers
 * (fast_*.c, gemm.c) call whatever the config they are handed holds. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fast.h"
#include "fast_ops.h"
#include "fast_qconv.h"
#include "bf16.h"

/* which BF16 GEMM kernel the AVX-512 config chose, and why (fill_bf16) */
static const char *bf16_kernel_note = "none (no AVX512-BF16 at the AVX-512 level)";

#if defined(__x86_64__)
/* One level's table from its kernel-name suffix: sfx names the vector
 * loops (sk_f32_vadd__avx2), the 8x8 transpose is the AVX2 one at both
 * levels (memory-bound). */
#define KCONFIG_OPS(sfx, level)                                                            \
    {                                                                                      \
        .isa = level, .vadd = sk_f32_vadd__##sfx, .vsub = sk_f32_vsub__##sfx,              \
        .vmul = sk_f32_vmul__##sfx, .vdiv = sk_f32_vdiv__##sfx,                            \
        .vrelu = sk_f32_vrelu__##sfx, .vclamp = sk_f32_vclamp__##sfx,                      \
        .vsigmoid = sk_f32_vsigmoid__##sfx, .vtanh = sk_f32_vtanh__##sfx,                  \
        .verf = sk_f32_verf__##sfx, .rmax = sk_f32_rmax__##sfx, .rsum = sk_f32_rsum__##sfx, \
        .vexpsub_sum = sk_f32_vexpsub_sum__##sfx, .vaffine = sk_f32_vaffine__##sfx,        \
        .rsumsqdev = sk_f32_rsumsqdev__##sfx, .vlnorm = sk_f32_vlnorm__##sfx,              \
        .vmax_acc = sk_f32_vmax_acc__##sfx, .vadd_acc = sk_f32_vadd_acc__##sfx,            \
        .vmax_taps = sk_f32_vmax_taps__##sfx, .vsum_taps = sk_f32_vsum_taps__##sfx,        \
        .deinterleave2 = sk_f32_deinterleave2__##sfx,                                      \
        .interleave2 = sk_f32_interleave2__##sfx, .vblend = sk_f32_vblend__##sfx,          \
        .vup2_linear = sk_f32_vup2_linear__##sfx, .gemv_panel = sk_f32_gemv_panel__##sfx,  \
        .gemm_ntail = sk_f32_gemm_ntail__##sfx, .gemm_mtail = sk_f32_gemm_mtail__##sfx,    \
        .transpose = sk_f32_transpose__avx2,                                               \
        .transpose_epi = sk_f32_transpose_epi__avx2,                                       \
        .vgelu_erf = sk_f32_vgelu_erf__##sfx, .vgelu_tanh = sk_f32_vgelu_tanh__##sfx,      \
    }

/* kc: a kc x nr panel of B (16 KiB with nr = 16) stays in a 32 KiB L1.
 * mc: an mc x kc block of A (72 KiB) and the kc x nc block of B (192 KiB)
 * share a 512 KiB L2. Chosen by measurement on Zen 3 (bench/RESULTS.md). */
#define KCONFIG_FILL(sfx, level, gemm_uk, MR, NR, KC, MC, NC)                               \
    {                                                                                       \
        .isa = level, .fast_ops = 1,                                                        \
        .gemm = {level, MR, NR, KC, MC, NC, gemm_uk, sk_f32_gemm_ntail__##sfx,              \
                 sk_f32_gemm_mtail__##sfx, 0, NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0},       \
        .ops = KCONFIG_OPS(sfx, level),                                                     \
        .wino2 = {sk_f32_wino_cols__##sfx, sk_f32_wino_in__##sfx, sk_f32_wino_out__##sfx,    \
                  sk_f32_wino_epi__##sfx, NULL, sk_f32_wino_colsw__##sfx},                  \
        .wino4 = {sk_f32_wino4_cols__##sfx, sk_f32_wino4_in__##sfx, sk_f32_wino4_out__##sfx, \
                  NULL, sk_f32_wino4_epi__##sfx, sk_f32_wino4_colsw__##sfx},                \
        .dw_rows = sk_f32_dw_rows__##sfx,                                                   \
        .dw_flat = {sk_f32_dw_flat__##sfx, sk_f32_dw_out__##sfx, sk_f32_dw_copy__##sfx,      \
                    sk_f32_dw_split__##sfx},                                                \
        .dw_cl = {sk_f32_dw_cl__##sfx, KCONFIG_VW_##sfx},                                   \
    }

/* vector lanes of a level's fast_simd.h build (dw_cl blocks) */
#define KCONFIG_VW_avx2 8
#define KCONFIG_VW_avx512f 16

/* Indexed by sk_isa; the scalar level has no entry (reference kernels). */
static sk_kconfig configs[] = {
    [SK_ISA_AVX2] = KCONFIG_FILL(avx2, SK_ISA_AVX2, sk_f32_gemm_6x16__avx2_fma, 6, 16, 256, 72,
                                 192),
    [SK_ISA_AVX512] = KCONFIG_FILL(avx512f, SK_ISA_AVX512, sk_f32_gemm_8x32__avx512f, 8, 32, 256,
                                   128, 256),
};
#define NCONFIGS ((int)(sizeof configs / sizeof configs[0]))

/* The switches, applied to every level once. SKIPSERVE_GEMM_BLOCKS:
 * mc and nc are rounded up to the level's mr / nr; out-of-range values are
 * ignored (the packed layouts do not depend on the blocking). */
/* Session 18 (a2q): the NHWC int8 conv where the level's int8 GEMM is the
 * widening AVX2 one (no VNNI: Skylake .. Comet Lake, Zen 1-3, or
 * SKIPSERVE_INT8_UK=avx2), so the int8 region stays channels-last as at the
 * VNNI levels: qigemm the exact int16 kernel, qigemm_pairs the vpmaddubsw one
 * for convs whose weight pairs fit (sk_qigemm_pairs_fit; same layout),
 * qigemm16 the exact kernel on weights widened at load for the others
 * (fast_qconv_nhwc.c; qigemm stays for the ConvTranspose's c4 packing).
 * SKIPSERVE_INT8_MADDUBS=0 / SKIPSERVE_INT8_W16=0: without those (A/B, tests). */
static void fill_qigemm_avx2(int off)
{
    const sk_qigemm_cfg exact = {.mr = 4, .nr = 16, .uk = sk_qu8_qc8w_igemm_4x16c4__avx2,
                                 .name = "qu8_qc8w_igemm_4x16c4__avx2",
                                 .dk = sk_qu8_qc8w_dconv_4x16c4__avx2};
    const sk_qigemm_cfg pairs = {.mr = 6, .nr = 16,
                                 .uk = sk_qu8_qc8w_igemm_6x16c4__avx2_maddubs,
                                 .name = "qu8_qc8w_igemm_6x16c4__avx2_maddubs",
                                 .dk = sk_qu8_qc8w_dconv_6x16c4__avx2_maddubs};
    const sk_qigemm_cfg w16 = {.mr = 4, .nr = 16, .uk = sk_qu8_qc8w_igemm_4x16c4__avx2_w16,
                               .name = "qu8_qc8w_igemm_4x16c4__avx2_w16",
                               .dk = sk_qu8_qc8w_dconv_4x16c4__avx2_w16};
    const char *mb = getenv("SKIPSERVE_INT8_MADDUBS"), *ww = getenv("SKIPSERVE_INT8_W16");
    for (int i = SK_ISA_AVX2; i < NCONFIGS; i++) {
        if (off || configs[i].qgemm.uk != sk_qu8_qc8w_gemm_4x8c4__avx2)
            continue;
        configs[i].qigemm = exact;
        if (!(mb && !strcmp(mb, "0")))
            configs[i].qigemm_pairs = pairs;
        if (!(ww && !strcmp(ww, "0")))
            configs[i].qigemm16 = w16;
    }
}

/* The int8 GEMM of each level from the CPU's features: the AVX-512 level
 * takes AVX512-VNNI where present; a level without it AVX-VNNI (Alder Lake,
 * Zen 4) and else the widening AVX2 kernel. SKIPSERVE_INT8_UK=avx2 forces
 * the AVX2 kernel at every level, =avxvnni AVX-VNNI where the CPU has it
 * (A/B timing, and to exercise them in whole models). */
static void fill_qgemm(void)
{
    const sk_cpu_features *f = sk_cpu_features_get();
    const char *e = getenv("SKIPSERVE_INT8_UK");
    const sk_qgemm_cfg vnni512 = {8, 32, sk_qu8_qc8w_gemm_8x32c4__avx512vnni,
                                  "qu8_qc8w_gemm_8x32c4__avx512vnni", 0};
    const sk_qgemm_cfg vnni256 = {6, 16, sk_qu8_qc8w_gemm_6x16c4__avxvnni,
                                  "qu8_qc8w_gemm_6x16c4__avxvnni", 0};
    const sk_qgemm_cfg avx2 = {4, 8, sk_qu8_qc8w_gemm_4x8c4__avx2, "qu8_qc8w_gemm_4x8c4__avx2",
                                0};
    int force_avx2 = e && !strcmp(e, "avx2"), force_vnni256 = e && !strcmp(e, "avxvnni");
    for (int i = SK_ISA_AVX2; i < NCONFIGS; i++) {
        sk_qgemm_cfg q = f->avxvnni && !force_avx2 ? vnni256 : avx2;
        if (i == SK_ISA_AVX512 && f->avx512vnni && !force_avx2 && !force_vnni256)
            q = vnni512;
        q.lut_mode = i == SK_ISA_AVX512 && f->avx512vbmi ? SK_LUT_VBMI : SK_LUT_SCALAR;
        if (!q.lut_mode && !(getenv("SKIPSERVE_LUT_AVX2") && !strcmp(getenv("SKIPSERVE_LUT_AVX2"), "0")))
            q.lut_mode = SK_LUT_AVX2; /* session 15: vpshufb lookups (qgemm.h) */
        configs[i].qgemm = q;
    }
    /* the NHWC indirection kernel (qigemm.h): AVX512-VNNI and AVX-VNNI (the
     * AVX2 kernel without VNNI: fill_qigemm_avx2); SKIPSERVE_INT8_NHWC=0
     * turns it off (A/B timing, tests) */
    const char *nh = getenv("SKIPSERVE_INT8_NHWC");
    const sk_qigemm_cfg ig512 = {8, 32, sk_qu8_qc8w_igemm_8x32c4__avx512vnni,
                                 "qu8_qc8w_igemm_8x32c4__avx512vnni",
                                 sk_qu8_qc8w_dconv_8x32c4__avx512vnni,
                                 sk_qu8_qc8w_igemm_7x32c4__avx512vnni, NULL, NULL};
    const sk_qigemm_cfg ig256 = {6, 16, sk_qu8_qc8w_igemm_6x16c4__avxvnni,
                                 "qu8_qc8w_igemm_6x16c4__avxvnni", NULL, NULL, NULL, NULL};
    const sk_qigemm_cfg amx = {32, 32, sk_qu8_qc8w_igemm_32x32c4__amx,
                               "qu8_qc8w_igemm_32x32c4__amx", sk_qu8_qc8w_dconv_32x32c4__amx,
                               NULL, sk_amx_task_begin, sk_amx_task_end};
    int off = nh && !strcmp(nh, "0");
    for (int i = SK_ISA_AVX2; i < NCONFIGS; i++) {
        /* the level's NCHW kernel says which NHWC one goes with it (the
         * AVX2 one without VNNI: fill_qigemm_avx2, session 18) */
        sk_qigemm_cfg ig = {0};
        if (!off && configs[i].qgemm.uk == sk_qu8_qc8w_gemm_8x32c4__avx512vnni)
            ig = ig512;
        else if (!off && configs[i].qgemm.uk == sk_qu8_qc8w_gemm_6x16c4__avxvnni)
            ig = ig256;
        /* session 19 (ami): where the CPU has AMX-INT8 (and the OS grants
         * the tile state: sk_cpu_amx_request, asked here) the AVX-512
         * level's NHWC kernel is the AMX one —
         * same packing (nr 32), same bytes; SKIPSERVE_INT8_UK=avx512vnni
         * keeps the VNNI kernel (A/B timing, tests; read at the fill) */
        if (ig.uk == sk_qu8_qc8w_igemm_8x32c4__avx512vnni && f->amx_tile && f->amx_int8 &&
            !(e && !strcmp(e, "avx512vnni")) && sk_cpu_amx_request()) {
            configs[i].qigemm_vnni = ig;
            ig = amx;
        }
        configs[i].qigemm = ig;
    }
    fill_qigemm_avx2(off);
}

static void apply_switches(void)
{
    fill_qgemm();
    const char *fo = getenv("SKIPSERVE_FAST_OPS");
    const char *nt = getenv("SKIPSERVE_GEMM_NTAIL");
    const char *mt = getenv("SKIPSERVE_GEMM_MTAIL");
    const char *e = getenv("SKIPSERVE_GEMM_BLOCKS");
    int kc, mc, nc;
    int blocks = e && sscanf(e, "%d,%d,%d", &kc, &mc, &nc) == 3 && kc >= 16 && kc <= 4096 &&
                 mc >= 1 && mc <= 4096 && nc >= 1 && nc <= 8192;
    for (int i = SK_ISA_AVX2; i < NCONFIGS; i++) {
        sk_kconfig *c = &configs[i];
        if (fo && !strcmp(fo, "0"))
            c->fast_ops = 0;
        if (nt && !strcmp(nt, "0"))
            c->gemm.ntail = NULL;
        if (mt && !strcmp(mt, "0"))
            c->gemm.mtail = NULL;
        if (blocks) {
            c->gemm.kc = kc;
            c->gemm.mc = (mc + c->gemm.mr - 1) / c->gemm.mr * c->gemm.mr;
            c->gemm.nc = (nc + c->gemm.nr - 1) / c->gemm.nr * c->gemm.nr;
        }
    }
}
/* BF16 at the AVX-512 level when the CPU has AVX512-BF16: the FP32
 * tile (8 rows divide every ResNet / U-Net channel count) and blocking,
 * kc in K rows (pairs: kc / 2); the edge kernels for a narrow last panel
 * (ntail) and a block's last rows (mtail), SKIPSERVE_GEMM_NTAIL=0 /
 * SKIPSERVE_GEMM_MTAIL=0 off as for FP32. */
static void fill_bf16(void)
{
    if (!sk_cpu_features_get()->avx512bf16 || NCONFIGS <= SK_ISA_AVX512)
        return;
    sk_kconfig *c = &configs[SK_ISA_AVX512];
    c->bf16_gemm = c->gemm;
    c->bf16_gemm.uk = sk_bf16_gemm_8x32__avx512bf16;
    const char *nt = getenv("SKIPSERVE_GEMM_NTAIL");
    c->bf16_gemm.ntail = nt && !strcmp(nt, "0") ? NULL : sk_bf16_gemm_ntail__avx512bf16;
    const char *mt = getenv("SKIPSERVE_GEMM_MTAIL");
    c->bf16_gemm.mtail = mt && !strcmp(mt, "0") ? NULL : sk_bf16_gemm_mtail__avx512bf16;
    c->bf16_gemm.kpair = 1;
    c->bf16_gemm_mr7 = sk_bf16_gemm_7x32__avx512bf16;
    c->bf16_pack2 = sk_bf16_pack2__avx512bf16;
    c->bf16_taps2 = sk_bf16_taps2__avx512bf16;
    c->bf16_runs2 = sk_bf16_runs2__avx512bf16;
    /* Session 19: AMX-BF16 where the CPU has it and the OS granted the tile
     * state (Sapphire / Granite Rapids): there vdpbf16ps zmm runs at half
     * the FP32 FMA rate (skipserve-bench --peak on the Granite Rapids-class
     * Xeon: 121 G pair-MAC/s against FP32's 242 GFLOP/s a core; ResNet-50
     * b1 1T 1.55x slower in bf16 than FP32), TDPBF16PS at 16x its MACs an
     * instruction (bench/RESULTS.md session 19). The 32 x 32 tile on
     * AMX-chunk A panels (bf16.h; kchunk 32: K blocks on chunk boundaries),
     * the B panels and gathers of the vdpbf16ps path; K blocks of 512 rows
     * (a 32-column B panel 32 KB, the 128 x 512 A block 128 KB; L2 2 MB).
     * Its own edge kernels (a last panel of <= 16 columns, a block's last
     * rows: masked stores, no buffered tail tile; SKIPSERVE_GEMM_NTAIL=0 /
     * SKIPSERVE_GEMM_MTAIL=0 off) and no 7-row twin (prepack.c keeps BF16
     * convs off pixel rows on a kchunk config). SKIPSERVE_BF16_UK=avx512bf16
     * keeps the vdpbf16ps kernels (A/B, tests). */
    const sk_cpu_features *f = sk_cpu_features_get();
    const char *uk = getenv("SKIPSERVE_BF16_UK");
    const int amx = f->amx_tile && f->amx_bf16;
    bf16_kernel_note = "AVX512-BF16 vdpbf16ps, 8 x 32 tile";
    if (amx && uk && !strcmp(uk, "avx512bf16"))
        bf16_kernel_note = "AVX512-BF16 vdpbf16ps, 8 x 32 tile; AMX-BF16 off: "
                           "SKIPSERVE_BF16_UK=avx512bf16";
    else if (amx && !sk_cpu_amx_request())
        bf16_kernel_note = "AVX512-BF16 vdpbf16ps, 8 x 32 tile; the CPU has AMX-BF16 but the "
                           "OS refused the tile-data permission (arch_prctl XTILEDATA)";
    else if (amx) {
        /* the tile-data permission is asked here (sk_cpu_amx_request,
         * mend19), only when this config is about to choose AMX */
        bf16_kernel_note = "AMX-BF16 TDPBF16PS, 32 x 32 tile";
        c->bf16_gemm.task_begin = sk_amx_task_begin;
        c->bf16_gemm.task_end = sk_amx_task_end;
        c->bf16_gemm.mr = 32;
        c->bf16_gemm.nr = 32;
        c->bf16_gemm.kc = 512;
        c->bf16_gemm.mc = 128;
        c->bf16_gemm.nc = 256;
        c->bf16_gemm.uk = sk_bf16_gemm_32x32__amx;
        c->bf16_gemm.ntail = nt && !strcmp(nt, "0") ? NULL : sk_bf16_gemm_ntail__amx;
        c->bf16_gemm.mtail = mt && !strcmp(mt, "0") ? NULL : sk_bf16_gemm_mtail__amx;
        c->bf16_gemm.narrow = NULL;
        c->bf16_gemm.kchunk = 32;
        /* SKIPSERVE_BF16_AMX_BLOCKS="kc,mc,nc" (tuning): kc a multiple of
         * 32, mc of 32, nc of 32; out-of-range values ignored */
        const char *bb = getenv("SKIPSERVE_BF16_AMX_BLOCKS");
        int kc = 0, mc = 0, nc = 0;
        if (bb && sscanf(bb, "%d,%d,%d", &kc, &mc, &nc) == 3 && kc >= 32 && kc <= 8192 &&
            kc % 32 == 0 && mc >= 32 && mc <= 4096 && mc % 32 == 0 && nc >= 32 && nc <= 8192 &&
            nc % 32 == 0) {
            c->bf16_gemm.kc = kc;
            c->bf16_gemm.mc = mc;
            c->bf16_gemm.nc = nc;
        }
        c->bf16_gemm_mr7 = NULL;
        c->bf16_runs2 = NULL;
    }
}

/* the narrow last column panel (gemm.h sk_gemm_narrow_fn) at the AVX-512
 * FP32 level; gemm.c reads SKIPSERVE_GEMM_NARROW=0 per run */
static void fill_narrow(void)
{
    if (NCONFIGS > SK_ISA_AVX512)
        configs[SK_ISA_AVX512].gemm.narrow = sk_f32_gemm_narrow_64x8__avx512f;
}

/* the 1x1 NCHW kernel (gemm_nchw.h) where the AVX-512 level exists */
static void fill_nchw(void)
{
    if (NCONFIGS > SK_ISA_AVX512)
        configs[SK_ISA_AVX512].gemm_nchw = sk_f32_gemm_nchw_8x32__avx512f;
}

/* (issue 24, session 19 c1i) Choices measured on Intel at the AVX-512
 * level, on the Xeon of session 19 (family 6 model 167, 2 MB L2, a mesh
 * between cores; bench/RESULTS.md session 19 c1i); Zen keeps its own.
 * - FP32 im2col-gemm in A-panel order (gemm.c run_task): ResNet-50's
 *   im2col steps at b1 1T 1.01-1.37x (thread-clock profiles): the A panel
 *   stays in L1, and C and the residual go along 8 rows of C, streams the
 *   hardware prefetchers follow, where the default order walked down 16 A
 *   panels and touched 16 new lines of rows far apart per tile.
 * - the register-row 3x3 depthwise loop (fill_dwreg; session 19 mbi:
 *   MobileNetV2's 14x14 / 7x7 depthwise steps 1.5-4x), where AMD Zen keeps
 *   the flat path and the channel lanes it measured. Session 21 (mv2a):
 *   the AVX2 level's pair (avx2/f32_dwreg__avx2.c) likewise on Intel:
 *   MobileNetV2 b8 1T 1.03x as an AVX2 CPU (bench/cpuid_avx2.c), b1
 *   neutral (bench/RESULTS.md session 21 mv2a).
 * - FP32 pixel rows as one pool job a group (fast_conv_pixrows.c
 *   pixrows_one_task; mbi: the 7x7 1x1 steps 1.16-1.32x at b1 2T); the
 *   AVX2 level (Intel CPUs without AVX-512, unmeasured) keeps three jobs.
 * - (session 19, r12) FP32 pixel rows' 7-row panels two at a time
 *   (gemm_mr7x2, f32_gemm_7x32x2__avx512f.c): each weight slice read from
 *   L2 4 times per 49 rows instead of 7 (bench/RESULTS.md session 19 r12).
 * - (session 20, r2t) the stride-2 direct-bcast conv's wide tile (14
 *   pixels x 32 channels) in K slices of 64 KB of a block's weights
 *   (cdirb_kb; fast_conv_s2b.c cdirb_order), where Zen slices only past
 *   256 KB: ResNet's 3x3/2 128 -> 128 @28 (a 147 KB block, unsliced
 *   before) 1.13x at 1 thread, 1.27x at 2; 256 -> 256 @14 1.01x / 1.07x;
 *   the 7-pixel tile (512 @7) keeps 256 KB (64 KB: 0.90x) (bench/RESULTS.md
 *   session 20 r2t).
 * Measured on one Granite-Rapids-class Xeon only (the review of session
 * 19, item 6): the test is the vendor, so every Intel AVX-512 CPU —
 * Skylake-SP to Sapphire Rapids, client parts — gets these choices
 * unmeasured there (their L1 / L2 and mesh differ); the same holds for
 * fill_mr12's 12-row MatMul kernel, L2 K rule and A prefetch.
 * Session 21 (a2r), the AVX2 level on Intel, measured on the same Xeon as
 * an AVX2 + FMA CPU (bench/cpuid_avx2.c; in-process A/B, bench/RESULTS.md
 * session 21 a2r) — an Intel CPU without AVX-512 (client parts, Xeons up
 * to Broadwell) takes them unmeasured:
 * - the 6x16 tile that touches the driver's next weights
 *   (sk_f32_gemm_6x16__avx2_fma_pf; gemm.c pf_piece, Winograd's
 *   wino_pf_piece): ResNet-50 b1 1T 1.12x with the residual order below,
 *   ResNet-101 b1 1T 1.17x / 2T 1.23x, ResNet-18 / -34 b1 1T 1.25x /
 *   1.30x, same bits;
 * - im2col-gemm in A-panel order for convs with a residual Add only
 *   (im2col_aorder = 2): ResNet-50 b8 1T 1.03-1.06x; every job in that
 *   order (= 1) read 0.97-0.99x on ResNet-50 / -101 b1 in session 20;
 * - the direct NCHW conv in 4 x 3 tiles (fill_cdir);
 * - im2col-gemm jobs of one K block (K <= kc) on column blocks of
 *   IM2COL_WIDE_NC (im2col_wide, fast_conv_im2col.c): ResNet-50 b8 1T
 *   1.01-1.02x, its 56x56 steps ~7%.
 */
#define IM2COL_WIDE_NC 784
static void fill_intel(void)
{
    if (sk_cpu_features_get()->intel)
        configs[SK_ISA_AVX2].dw_reg_on = 1; /* session 21 mv2a: see fill_dwreg */
    if (NCONFIGS > SK_ISA_AVX512 && sk_cpu_features_get()->intel) {
        configs[SK_ISA_AVX512].im2col_aorder = 1;
        configs[SK_ISA_AVX512].dw_reg_on = 1;
        configs[SK_ISA_AVX512].pixrows_one_on = 1;
        configs[SK_ISA_AVX512].gemm_mr7x2 = sk_f32_gemm_7x32x2__avx512f;
        configs[SK_ISA_AVX512].cdirb_kb = 64;
        /* session 21 (x2t): the graph input copied by every pool thread
         * (plan.c sk_plan_run), 256 KB and up — MobileNetV2's 602 KB
         * input took 38 us on the caller alone with its lines in L3 */
        configs[SK_ISA_AVX512].input_pcopy_min = 256 << 10;
        configs[SK_ISA_AVX512].irblock_carry = 1; /* fast_irblock.c */
        /* session 21 (x2t): ResNet-101 b1 2T, each step's fastest of 12
         * (bench/ab_steps.py): the 14x14 1x1 256 -> 1024 +add steps 1.087x
         * split by rows, 1024 -> 256 1.039x (the Winograd 3x3 after them
         * 0.988x); MobileNetV2's 14x14 weights (<= 221 KB) keep columns */
        configs[SK_ISA_AVX512].im2col_rows_bytes = 1 << 20;
    }
    if (sk_cpu_features_get()->intel) {
        /* session 21 (a2s): the prefetch into L2 for convs and _GemmFused,
         * into L1 for _MatMulFused (avx2/f32_gemm_6x16__avx2_fma.c _pfl2) */
        configs[SK_ISA_AVX2].gemm.uk = sk_f32_gemm_6x16__avx2_fma_pfl2;
        configs[SK_ISA_AVX2].gemm_mm_uk = sk_f32_gemm_6x16__avx2_fma_pf;
        configs[SK_ISA_AVX2].im2col_aorder = 2;
        configs[SK_ISA_AVX2].im2col_wide_k = 1; /* its blocks: fill_im2col_wide */
    }
}

/* the direct NCHW conv (fast_conv_s2.c, fast_cdir_uk.h) and MaxPool's
 * 3-wide stride-2 rows (fast_pool_uk.h) at both levels (session 16) */
static void fill_cdir(void)
{
    configs[SK_ISA_AVX2].cdir_band = sk_f32_cdir_band__avx2;
    /* session 21 (a2r): the 4 x 3 tile on Intel (avx2/f32_cdir_4x3__avx2.c:
     * ResNet's stem 1.11x as an AVX2 CPU); AMD keeps the 4 x 2 one */
    if (sk_cpu_features_get()->intel)
        configs[SK_ISA_AVX2].cdir_band = sk_f32_cdir_band_4x3__avx2;
    configs[SK_ISA_AVX2].cdir_vw = 8;
    configs[SK_ISA_AVX2].ops.vmax3 = sk_f32_vmax3__avx2;
    configs[SK_ISA_AVX2].ops.hmax3s2 = sk_f32_hmax3s2__avx2;
    configs[SK_ISA_AVX2].ops.maxpool3s2p1 = sk_f32_maxpool3s2p1__avx2;
    configs[SK_ISA_AVX2].cdirb_tile = sk_f32_cdirb_tile__avx2;
    configs[SK_ISA_AVX2].cdirb_pt = 6;
    configs[SK_ISA_AVX2].cdirb_nc = 16;
    configs[SK_ISA_AVX2].cdirb_tile_acc = sk_f32_cdirb_tile_acc__avx2;
    if (NCONFIGS > SK_ISA_AVX512) {
        configs[SK_ISA_AVX512].cdir_band = sk_f32_cdir_band__avx512f;
        configs[SK_ISA_AVX512].cdir_vw = 16;
        configs[SK_ISA_AVX512].ops.vmax3 = sk_f32_vmax3__avx512f;
        configs[SK_ISA_AVX512].ops.hmax3s2 = sk_f32_hmax3s2__avx512f;
        configs[SK_ISA_AVX512].ops.maxpool3s2p1 = sk_f32_maxpool3s2p1__avx512f;
        configs[SK_ISA_AVX512].cdirb_tile = sk_f32_cdirb_tile__avx512f;
        configs[SK_ISA_AVX512].cdirb_pt = 14;
        configs[SK_ISA_AVX512].cdirb_nc = 32;
        configs[SK_ISA_AVX512].cdirb_tile2 = sk_f32_cdirb_tile7__avx512f;
        configs[SK_ISA_AVX512].cdirb_pt2 = 7;
        configs[SK_ISA_AVX512].cdirb_nc2 = 64;
        configs[SK_ISA_AVX512].cdirb_tile_acc = sk_f32_cdirb_tile_acc__avx512f;
        configs[SK_ISA_AVX512].cdirb_tile2_acc = sk_f32_cdirb_tile7_acc__avx512f;
    }
}

/* the 7-row f32 kernel of pixel rows (config.h gemm_mr7), AVX-512 only */
static void fill_mr7(void)
{
    if (NCONFIGS > SK_ISA_AVX512)
        configs[SK_ISA_AVX512].gemm_mr7 = sk_f32_gemm_7x32__avx512f;
}

/* Session 19 (gk), the Intel Xeon of that session (family 6 model 167, 48 KB
 * L1d, 2 MB L2; bench/RESULTS.md): _MatMulFused on 12-row A panels, and
 * its K rule from the L2 (gemm.ablock_bytes: half of it for the block of
 * A a whole-K block keeps in L2). Measured there on ViT-B/16's Linear
 * layers at batch 1 (bench/vit_gemm_ab.c, thread CPU time): the 12-row
 * tile 1.06-1.08x on QKV / proj / FFN1, and FFN2 (K 3072) 1.04x with
 * blocks of 1024 where the whole K (the 2.4 MB block of A past the L2,
 * re-read from L3 for every weight panel) ran 0.84-0.91x of the level's
 * 256. AMD (Zen 3-5, where the whole K measured 1.01-1.03x and 8-row
 * panels were tuned) keeps both unset. */
static void fill_mr12(void)
{
    const sk_cpu_features *f = sk_cpu_features_get();
    if (NCONFIGS <= SK_ISA_AVX512 || !f->intel || f->l2_bytes < (256 << 10))
        return;
    configs[SK_ISA_AVX512].gemm_mr12 = sk_f32_gemm_12x32__avx512f;
    configs[SK_ISA_AVX512].gemm.ablock_bytes = f->l2_bytes / 2;
    configs[SK_ISA_AVX512].gemm.apf = 512; /* f32_tile_8x32__avx512f.h SK_TILE_X32_APF */
}

/* Session 21 (vit2): the same L2 budget for _MatMulFused's blocks in the
 * AVX2 config on Intel (an AVX2 + FMA CPU: this Xeon under
 * bench/cpuid_avx2.c, or SKIPSERVE_ISA=avx2) — only fast_matmul_fused.c
 * reads ablock_bytes, so the 6 x 16 kernel, its blocks and every other
 * strategy stay as they were. What it buys there (bench/vit_gemm_ab.c at
 * the avx2 level, thread CPU time, weights cold; bench/RESULTS.md session
 * 21 vit2): ViT-B/16's FFN2 (K = 3072) at batch 1 in 3 K blocks of 1024
 * instead of the whole K (A's 2.4 MB block past the 2 MB L2, re-read from
 * L3 for every weight panel) 1.08-1.10x; at batch 8 the row slices of
 * QKV / FFN1 (1.04-1.07x) and FFN2's wide blocks (1.11-1.13x). AMD Zen
 * keeps it unset (its AVX2 config unchanged). */
static void fill_avx2_intel(void)
{
    const sk_cpu_features *f = sk_cpu_features_get();
    if (!f->intel || f->l2_bytes < (256 << 10))
        return;
    configs[SK_ISA_AVX2].gemm.ablock_bytes = f->l2_bytes / 2;
    /* _MatMulFused runs the 6 x 16 tile that prefetches the next weights
     * into L1 (fill_intel's gemm_mm_uk; the convs' gemm.uk prefetches into
     * L2): vit_gemm_ab at avx2, b1, weights cold, proj 1.07x, QKV 1.04x,
     * FFN1 1.03x, FFN2 in K blocks of 1024 0.98-1.00x; same bits */
}

/* the int8 depthwise kernel of each level (session 17, qdwconv.h) */
static void fill_qdw(void)
{
    if (!sk_qdw_enabled()) /* SKIPSERVE_INT8_DW=0, parsed in one place (fast_qdwconv.c) */
        return;
    configs[SK_ISA_AVX2].qdw =
        (sk_qdw_cfg){sk_qu8_qc8w_dwconv_4x8c__avx2, "qu8_qc8w_dwconv_4x8c__avx2",
                     sk_qu8_qc8w_dwrow_4x8c__avx2, 0};
    if (NCONFIGS > SK_ISA_AVX512 && sk_cpu_features_get()->avx512bw)
        configs[SK_ISA_AVX512].qdw =
            (sk_qdw_cfg){sk_qu8_qc8w_dwconv_4x16c__avx512bw, "qu8_qc8w_dwconv_4x16c__avx512bw",
                         sk_qu8_qc8w_dwrow_8x16c__avx512bw, 0};
    /* session 17: with AVX512-VNNI the row kernel of 32-channel pairs
     * (SKIPSERVE_INT8_DW_PAIRS=0: the BW one, A/B) */
    const char *pr = getenv("SKIPSERVE_INT8_DW_PAIRS");
    if (NCONFIGS > SK_ISA_AVX512 && configs[SK_ISA_AVX512].qdw.uk &&
        sk_cpu_features_get()->avx512vnni && !(pr && !strcmp(pr, "0"))) {
        configs[SK_ISA_AVX512].qdw.row = sk_qu8_qc8w_dwrow_8x32c__avx512vnni;
        configs[SK_ISA_AVX512].qdw.pairs = 1;
    }
}

/* the register-row 3x3 depthwise loop (session 19, fast_dwconv.c dw_reg)
 * at the AVX-512 level and (session 21, mv2a) the AVX2 level; on by
 * default only on Intel (fill_intel).
 * SKIPSERVE_DW_REG=0 / =1 (prepack.c, at load) override the default. */
static void fill_dwreg(void)
{
    /* session 21 (mv2a): the AVX2 pair, avx2/f32_dwreg__avx2.c; on by
     * default on Intel (fill_intel) */
    configs[SK_ISA_AVX2].dw_reg3 = sk_f32_dw_reg3__avx2;
    configs[SK_ISA_AVX2].dw_reg3w = sk_f32_dw_reg3w__avx2;
    if (NCONFIGS > SK_ISA_AVX512) {
        configs[SK_ISA_AVX512].dw_reg3 = sk_f32_dw_reg3__avx512f;
        configs[SK_ISA_AVX512].dw_reg3w = sk_f32_dw_reg3w__avx512f;
    }
}

/* (session 21, mv2a) where the AVX2 level runs the plain 6x16 kernel
 * (it and the AVX2 ntail / mtail take no weight prefetch), gemm.c skips
 * computing the prefetch (gemm.h no_pf): same work in the kernels, same
 * bits; MobileNetV2 b8 1T under the AVX2 mask 1.01x in process
 * (bench/RESULTS.md session 21 mv2a). Run after every choice of the
 * level's kernel: a kernel that prefetches keeps it. */
static void fill_nopf(void)
{
    configs[SK_ISA_AVX2].gemm.no_pf = configs[SK_ISA_AVX2].gemm.uk == sk_f32_gemm_6x16__avx2_fma;
    /* (session 21, mv2b) where the AVX2 level's kernel prefetches (branch
     * a2r's 6x16 tile on Intel), jobs of K < 128 skip it: MobileNetV2's
     * 1x1 expansions (K 16-96; their tiles are 16-96 k steps, and
     * pf_piece's three divisions a tile plus the prefetch cost more than
     * they save) — under the AVX2 mask, with that tile, in process:
     * MobileNetV2 b1 1T 1.017x, b8 1T 1.017x against prefetching in every
     * job (A/A 0.996 / 1.002), ResNet-50 / -18 b1 1T 1.000x / 1.003x
     * (bench/RESULTS.md session 21 mv2b).
     * Without a prefetching kernel (no_pf) nothing changes. */
    if (sk_cpu_features_get()->intel)
        configs[SK_ISA_AVX2].gemm.pf_min_k = 128;
}

/* im2col's wide column blocks (fill_intel) as a copy of the level's GEMM
 * config once every rule above has set it (the kernel, no_pf, pf_min_k):
 * IM2COL_WIDE_NC columns, for jobs of one K block */
static void fill_im2col_wide(void)
{
    sk_kconfig *k = &configs[SK_ISA_AVX2];
    if (!k->im2col_wide_k)
        return;
    k->im2col_wide = k->gemm;
    k->im2col_wide.nc = IM2COL_WIDE_NC;
    k->im2col_wide_k = k->gemm.kc;
}

static void fill_all(void)
{
    fill_dwreg();
    apply_switches();
    fill_bf16();
    fill_nchw();
    fill_intel();
    fill_narrow();
    fill_cdir();
    fill_mr7();
    fill_mr12();
    fill_avx2_intel();
    fill_qdw();
    fill_nopf();
    fill_im2col_wide();
}
static pthread_once_t fill_once = PTHREAD_ONCE_INIT;
#endif

const sk_kconfig *sk_kconfig_for(sk_isa isa)
{
#if defined(__x86_64__)
    if ((int)isa < SK_ISA_AVX2 || (int)isa >= NCONFIGS || isa > sk_cpu_detected())
        return NULL;
    pthread_once(&fill_once, fill_all);
    return &configs[isa];
#else
    (void)isa;
    return NULL;
#endif
}

const char *sk_bf16_kernel_note(void)
{
    sk_kconfig_for(sk_cpu_level()); /* filled once (x86-64) */
    return bf16_kernel_note;
}

const sk_gemm_cfg *sk_gemm_config(sk_isa isa)
{
    const sk_kconfig *c = sk_kconfig_for(isa);
    return c ? &c->gemm : NULL;
}

const sk_fast_uk *sk_fast_uk_for(sk_isa isa)
{
    const sk_kconfig *c = sk_kconfig_for(isa);
    return c ? &c->ops : NULL;
}

const sk_qgemm_cfg *sk_qgemm_config(sk_isa isa)
{
    const sk_kconfig *c = sk_kconfig_for(isa);
    return c ? &c->qgemm : NULL;
}
