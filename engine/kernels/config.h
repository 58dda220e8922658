/* config.h — every kernel of one ISA level in one struct, as XNNPACK's
 * configs: the GEMM's tiles, blocking and edge kernels, the element-wise /
 * row / pooling / transpose loops, both Winograd variants' transforms and
 * the depthwise row loop. One sk_kconfig per level, filled once
 * (pthread_once) from CPU detection and the SKIPSERVE_* switches below, and
 * read-only afterwards.
 *
 * Who reads it: the dispatcher (engine/dispatch*.c) and the load-time passes
 * look a level's config up with sk_kconfig_for(); the kernels never do —
 * they receive it: the plan hands the config of its level to every step
 * (sk_kctx.kcfg), the fused convolutions keep the config their weights were
 * packed for (sk_conv_priv.kc, fast.h), a GEMM job carries its sk_gemm_cfg.
 *
 * Adding a level: one more fill in config.c (KCONFIG_FILL with the level's
 * kernel-name suffix) and its kernels in kernels/<level>/. Adding a data
 * type: one more member here, filled per level.
 *
 * Switches read at the fill (so they must be set before the first plan):
 *   SKIPSERVE_GEMM_BLOCKS="kc,mc,nc"  blocking of every level (tuning)
 *   SKIPSERVE_GEMM_NTAIL=0 / SKIPSERVE_GEMM_MTAIL=0  edge tiles on the full
 *                                     microkernel (A/B timing)
 *   SKIPSERVE_FAST_OPS=0              no non-conv fast kernels (A/B timing)
 * Load-time strategy switches (SKIPSERVE_WINOGRAD, SKIPSERVE_PIXROWS) stay
 * with the pass that chooses a convolution's strategy (passes/prepack.c):
 * they are read per model load, and the tests change them between loads. */
#ifndef SK_KERNELS_CONFIG_H
#define SK_KERNELS_CONFIG_H

#include <stddef.h>

#include "cpu.h"
#include "kernels/gemm.h"
#include "kernels/gemm_nchw.h"
#include "kernels/qgemm.h"
#include "kernels/qdwconv.h"
#include "kernels/qigemm.h"

/* ---- vector microkernels of one ISA level -------------------------------
 * n counts floats. Binary: a / b advance by ia / ib (1: contiguous, 0: one
 * value repeated), o may equal a or b. */
typedef void (*sk_fast_vbin_fn)(size_t n, const float *a, int ia, const float *b, int ib,
                                float *o);
typedef struct sk_fast_uk {
    sk_isa isa;
    sk_fast_vbin_fn vadd, vsub, vmul, vdiv;
    /* y = f(x); may be in place. vclamp: min(max(x, lo), hi), NaN kept. */
    void (*vrelu)(size_t n, const float *x, float *y);
    void (*vclamp)(size_t n, const float *x, float *y, float lo, float hi);
    void (*vsigmoid)(size_t n, const float *x, float *y);
    void (*vtanh)(size_t n, const float *x, float *y);
    void (*verf)(size_t n, const float *x, float *y);
    /* reductions over one row */
    float (*rmax)(size_t n, const float *x);
    float (*rsum)(size_t n, const float *x);
    /* y = exp(x - c); returns the sum of y */
    float (*vexpsub_sum)(size_t n, const float *x, float c, float *y);
    /* y = x * s + t */
    void (*vaffine)(size_t n, const float *x, float s, float t, float *y);
    /* sum of (x - mean)^2 */
    float (*rsumsqdev)(size_t n, const float *x, float mean);
    /* y = (x - mean) * inv * gamma + beta (beta may be NULL) */
    void (*vlnorm)(size_t n, const float *x, float mean, float inv, const float *gamma,
                   const float *beta, float *y);
    /* acc = max(acc, x) / acc += x */
    void (*vmax_acc)(size_t n, const float *x, float *acc);
    void (*vadd_acc)(size_t n, const float *x, float *acc);
    /* y[i] = max / sum over t < ntaps of tap[t][i] */
    void (*vmax_taps)(size_t n, const float *const *tap, int ntaps, float *y);
    void (*vsum_taps)(size_t n, const float *const *tap, int ntaps, float *y);
    /* even[i] = x[2i], odd[i] = x[2i+1] for i < n */
    void (*deinterleave2)(size_t n, const float *x, float *even, float *odd);
    /* y[2i] = a[i], y[2i+1] = b[i] (+ c for both), i < n */
    void (*interleave2)(size_t n, const float *a, const float *b, float c, float *y);
    /* y = wa * a + wb * b (two-row blend of bilinear resize) */
    void (*vblend)(size_t n, const float *a, float wa, const float *b, float wb, float *y);
    /* 2x linear up-sampling of one row with half-pixel centres, n inputs ->
     * 2n outputs: y[2i] = .25 x[i-1] + .75 x[i], y[2i+1] = .75 x[i] + .25 x[i+1]
     * with the ends clamped */
    void (*vup2_linear)(size_t n, const float *x, float *y);
    /* y[0, 2 vectors) = a[0, K) times one packed B panel (K rows of nr =
     * two vectors: the GEMM's B layout): the batch-1 Gemm */
    void (*gemv_panel)(size_t K, const float *a, const float *b, float *y);
    /* the GEMM's narrow last column panel (sk_gemm_ntail_fn, gemm.h) */
    sk_gemm_ntail_fn gemm_ntail;
    /* the GEMM's last rows of a block (sk_gemm_mtail_fn, gemm.h) */
    sk_gemm_mtail_fn gemm_mtail;
    /* dst[j * ldd + i] = src[i * lds + j], i < rows, j < cols */
    void (*transpose)(size_t rows, size_t cols, const float *src, size_t lds, float *dst,
                      size_t ldd);
    /* dst[j * ldd + i] = clamp(src[i * lds + j] + bias[j] + res[j * ldd + i],
     * lo, hi); bias, res may be NULL (the pixel-rows conv's output) */
    void (*transpose_epi)(size_t rows, size_t cols, const float *src, size_t lds, float *dst,
                          size_t ldd, const float *bias, const float *res, float lo, float hi);
    /* y = GELU(x), erf and tanh forms (fast_gelu_uk.h); may be in place */
    void (*vgelu_erf)(size_t n, const float *x, float *y);
    void (*vgelu_tanh)(size_t n, const float *x, float *y);
    /* MaxPool 3-wide stride-2 rows (fast_pool_uk.h, session 16):
     * y[i] = max(a[i], b[i], c[i]), i < n; and y[o] = max(t[2o], t[2o+1],
     * t[2o+2]), o < n, t read below tlen (>= 2n + 1) */
    void (*vmax3)(size_t n, const float *a, const float *b, const float *c, float *y);
    void (*hmax3s2)(size_t n, const float *t, size_t tlen, float *y);
    /* MaxPool 3x3 s2, top / left pad 1, output rows [oh0, oh1) of one
     * H x W plane into y (oW floats a row) (fast_pool_uk.h) */
    void (*maxpool3s2p1)(const float *x, size_t H, size_t W, float *y, size_t oW, size_t oh0,
                         size_t oh1);
} sk_fast_uk;

/* ---- Winograd F(m x m, 3x3) transforms (fast_wino_uk.h) ------------------
 * cols gathers a row's tile columns (step m, width m + 2), in and out are
 * the B' d B and A' m A passes; epi interleaves one output row of m-wide
 * blocks with the conv epilogue (epi2 for m = 2, epi4 for m = 4, the other
 * NULL). */
typedef struct sk_wino_uk {
    void (*cols)(const float *row, int n, float *d, int nr);
    void (*in)(const float *d, float *v, size_t vstride, int nr);
    void (*out)(const float *mb, size_t mstride, float *y, int nr);
    void (*epi2)(float *out, const float *y0, const float *y1, size_t n, float b,
                 const float *res, float lo, float hi);
    void (*epi4)(float *out, const float *y0, const float *y1, const float *y2,
                 const float *y3, size_t n, float b, const float *res, float lo, float hi);
    /* cols over a whole tile row, its padding read as zeros (NULL: cols
     * plus scalar border tiles) */
    void (*colsw)(const float *row, long iw0, long W, int n, float *d, int nr);
} sk_wino_uk;

/* ---- depthwise rows (fast_dw_uk.h): see sk_f32_dw_rows__* in fast.h ------ */
typedef void (*sk_dw_rows_fn)(float *y, size_t ldy, const float *const *src, size_t lds,
                              const float *w, int ntaps, size_t n, size_t rows, float b,
                              const float *res, float lo, float hi);
/* the flat plane loops (fast_dw_uk.h, fast_dwconv.c dw_plane_flat): the
 * run over a plane, its epilogue, the phase-plane fill (copy, even/odd split) */
typedef struct sk_dw_flat_uk {
    void (*flat)(float *t, const float *src, const ptrdiff_t *off, const float *w, int ntaps,
                 size_t n, float b);
    void (*out)(float *y, size_t ldy, const float *t, size_t ldt, size_t n, size_t rows,
                const float *res, float lo, float hi);
    void (*copy)(float *d, const float *x, size_t n);
    void (*split)(float *de, float *dodd, const float *x, size_t w, size_t ne, size_t no);
} sk_dw_flat_uk;
/* the channel-lane loop for small planes (fast_dw_uk.h dw_cl, fast_dwconv.c
 * dw_block_cl): vw planes interleaved, one vector per output pixel */
typedef struct sk_dw_cl_uk {
    void (*run)(float *t, const float *pad, const ptrdiff_t *off, const float *w, int ntaps,
                size_t oH, size_t oW, size_t ldr, size_t ldc, const float *b);
    int vw; /* lanes: planes per block */
} sk_dw_cl_uk;

/* the register-row 3x3 depthwise loop (session 19; fast_dwconv.c dw_reg,
 * avx512/f32_dwreg__avx512f.c): one plane, output rows <= 16 wide, straight
 * from the NCHW input to the NCHW output */
typedef struct sk_dw_reg_geo {
    int H, W, oH, oW, sh, sw, pt, pl, C;
} sk_dw_reg_geo;
typedef void (*sk_dw_reg_fn)(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                             const float *w, const float *b, float *y, const float *res,
                             float lo, float hi);

/* ---- bf16: two float K rows (lo: row k, hi: row k+1 or NULL for zero) of
 * nb columns into one pair row of ceil(nb/nr) panels pstride words apart,
 * zero past nb (kernels/bf16.h, sk_bf16_pack2_scalar) ------------------- */
typedef void (*sk_bf16_pack2_fn)(float *dst, size_t pstride, int nr, const float *lo,
                                 const float *hi, int nb);
/* ---- bf16: the same pair row gathered from two taps of a stride-1 conv
 * whose output rows are as wide as its input rows (3x3 pad 1): tap row t
 * at block pixel j is x_t[j] where 0 <= oh[j] + dh_t < H and 0 <= ow[j] +
 * dw_t < W, else zero (padding); x_t points at the block's first pixel
 * already shifted by dh_t * W + dw_t. x1 NULL: the hi row is zero
 * (kernels/bf16.h, sk_bf16_taps2_scalar) ----------------------------------- */
typedef struct sk_bf16_tap {
    const float *x;
    int dh, dw;
} sk_bf16_tap;
typedef void (*sk_bf16_taps2_fn)(float *dst, size_t pstride, int nr, const sk_bf16_tap *t0,
                                 const sk_bf16_tap *t1, const int32_t *oh, const int32_t *ow,
                                 int nb, int H, int W);
/* ---- bf16, session 18 (bfl): the pair rows of one pixel-rows A panel
 * (fast_conv_pixrows.c) whose mr (7 or 8) rows read, for every tap, a run
 * of input pixels `step` (1 or 2: the conv's stride) apart: tap t's lane r
 * is x[c * in_px + run[t].off + step * r] where bit step * r of run[t].mask
 * is set, else zero (padding, rows past the images). K rows [k0, k1) (k0
 * even; row k = channel k / kvol, tap k % kvol; an odd k1 = K pairs its
 * last row with zero) into pair slots k0/2 .. of the panel at dst (slot s
 * at s * mr words). Pixels outside the mask are never read (masked loads).
 * The same words as pixrows' table gather + bf16_pack2 ------------------ */
typedef struct sk_bf16_run {
    int64_t off;   /* lane 0's offset in channel 0 (may lie outside it: lane 0 masked) */
    uint32_t mask; /* live pixels of the run: bit step * r for lane r */
} sk_bf16_run;
typedef void (*sk_bf16_runs2_fn)(float *dst, int mr, int step, const float *x, size_t in_px,
                                 const sk_bf16_run *run, int kvol, int64_t k0, int64_t k1);

/* ---- the direct NCHW convolution (issue 24, session 16; fast_cdir_uk.h,
 * driver fast_conv_s2.c): one band of output rows of every output channel.
 * ph: the band's padded input rows split into their s stride phases,
 * [C][rows][s][ldp] (phase p of padded row r holds padded columns p, p + s,
 * ...; zeros past the data); w: W as given, [M][C][kh][kw]; y, res: the
 * band's first output row of channel 0, channels ldy floats apart, output
 * rows oW apart (res NULL: none; bias NULL: none). Output row j of the band
 * reads padded rows j * s .. j * s + kh - 1. ----------------------------- */
#define SK_CDIR_MAX_TAPS 64
typedef struct sk_cdir_band {
    const float *ph;
    size_t ldp, rows; /* floats a phase row; padded rows a channel */
    int s, C, kh, kw;
    const float *w, *bias, *res;
    size_t M;
    float *y;
    size_t ldy, oW, nrows;
    float lo, hi;
} sk_cdir_band;
typedef void (*sk_cdir_band_fn)(const sk_cdir_band *b);
/* t[p * ldt + j] = sum_k x[2p + koff[k]] * w[k][j] for p < the level's
 * cdirb_pt, j < cdirb_nc; w's k row at w + k * ldw within a panel of ldw
 * columns, the next panel wstep floats on (fast_cdirb_uk.h) */
typedef void (*sk_cdirb_tile_fn)(size_t K, const float *x, const int32_t *koff, const float *w,
                                 size_t ldw, size_t wstep, float *t, size_t ldt);

/* ---- the configuration of one level ------------------------------------- */
typedef struct sk_kconfig {
    sk_isa isa;
    int fast_ops;       /* 0: SKIPSERVE_FAST_OPS=0, the non-conv ops run ref */
    sk_gemm_cfg gemm;   /* f32 GEMM: tile, blocking, full and edge kernels */
    sk_fast_uk ops;     /* element-wise, rows, pooling, resize, transpose */
    sk_wino_uk wino2;   /* Winograd F(2x2, 3x3) */
    sk_wino_uk wino4;   /* Winograd F(4x4, 3x3) */
    sk_dw_rows_fn dw_rows; /* depthwise 2-D conv, one row loop */
    /* BF16 (kernels/bf16.h), filled only where the CPU has AVX512-BF16
     * (bf16_gemm.uk NULL otherwise): the K-pair GEMM, and the gathers'
     * conversion of two float rows to a row of bf16 pairs */
    sk_gemm_cfg bf16_gemm;
    sk_bf16_pack2_fn bf16_pack2;
    sk_bf16_taps2_fn bf16_taps2; /* the stride-1 gather of two taps into a pair row */
    sk_qgemm_cfg qgemm;  /* int8 GEMM (u8 x s8, qgemm.h): the best kernel the CPU runs at
                          * this level (AVX512-VNNI, AVX-VNNI, AVX2 widening) */
    sk_dw_flat_uk dw_flat; /* depthwise: a whole plane as one flat run */
    sk_dw_cl_uk dw_cl;     /* depthwise: small planes, channels in the lanes */
    /* depthwise 3x3, output rows <= 16 wide, from registers (session 19): the
     * AVX-512 level (NULL elsewhere), taken by default where dw_reg_on */
    sk_dw_reg_fn dw_reg3;
    sk_dw_reg_fn dw_reg3w; /* the same at stride 1 for rows of any width (masked loads) */
    int dw_reg_on; /* its default (prepack.c dw_switches): 1 on Intel, where it was measured */
    /* FP32 pixel rows as one pool job a group (fast_conv_pixrows.c
     * pixrows_one_task, session 19): the default, 1 on Intel where measured */
    int pixrows_one_on;
    /* (session 21 x2t) plan.c sk_plan_run copies a graph input of at least
     * this many bytes into the arena on every pool thread (one slice each)
     * instead of on the caller alone; 0: memcpy on the caller. Set in
     * fill_intel for the AVX-512 level only. SKIPSERVE_INPUT_PCOPY=0 off */
    long input_pcopy_min;
    /* (session 21 x2t) fast_conv_im2col.c: batch-1 14x14 FP32 1x1 jobs
     * whose weights take at least this many bytes split by rows (gemm.h
     * SK_GEMM_SPLIT_ROWS) instead of columns on 2-3 threads; 0: never.
     * Set in fill_intel for the AVX-512 level. SKIPSERVE_IM2COL_COLSPLIT=
     * rows / =cols force it (read once: switches.h) */
    long im2col_rows_bytes;
    /* (session 21 x2t) fast_irblock.c: a chunk carries its halo rows of E
     * from the chunk the same thread ran just before; set in fill_intel
     * for the AVX-512 level. SKIPSERVE_IRBLOCK_CARRY=0 off, =1 on at any
     * level (A/B, tests; read once: switches.h) */
    int irblock_carry;
    sk_qigemm_cfg qigemm;  /* int8 conv on NHWC activations through an indirection
                            * buffer (qigemm.h); uk NULL where the level has none */
    /* 1x1 convs with B read in place from NCHW planes (gemm_nchw.h): the
     * AVX-512 level only (8 x 32 over the level's packed A panels); NULL
     * elsewhere, where those convs keep im2col-gemm / pixel rows */
    sk_gemm_nchw_fn gemm_nchw;
    /* 1: FP32 im2col-gemm runs its GEMM in A-panel order (sk_gemm_job
     * aorder; fast_conv_im2col.c): the AVX-512 level on Intel (session 19);
     * 2: only convs with a residual Add: the AVX2 level on Intel (session
     * 21) */
    int im2col_aorder;
    /* (session 21) FP32 im2col-gemm jobs of K <= im2col_wide_k (one K
     * block) on the column split of the planner run on im2col_wide, a copy
     * of gemm with a wider nc: C and the residual in long row runs. 0 /
     * unset elsewhere; set at the AVX2 level on Intel (config.c fill_intel) */
    int im2col_wide_k;
    sk_gemm_cfg im2col_wide;
    /* the direct NCHW conv of strided / few-channel convs (fast_conv_s2.c) */
    sk_cdir_band_fn cdir_band;
    int cdir_vw; /* its pixels a vector */
    /* the broadcast direct conv of stride-2 convs (fast_conv_s2b.c,
     * fast_cdirb_uk.h): one tile of cdirb_pt pixels x cdirb_nc channels */
    sk_cdirb_tile_fn cdirb_tile;
    int cdirb_pt, cdirb_nc;
    /* a second, narrower tile for rows narrower than cdirb_pt (NULL: none):
     * cdirb_pt2 pixels x cdirb_nc2 channels (a multiple of the GEMM's nr) */
    sk_cdirb_tile_fn cdirb_tile2;
    int cdirb_pt2, cdirb_nc2;
    /* the f32 GEMM microkernel on 7-row A panels (same nr, blocking and
     * bits as gemm.uk): pixel rows of 7x7 maps, whose 49 pixels leave one
     * row of 8-row panels (fast_conv_pixrows.c). AVX-512 only (7 x 2 ymm
     * accumulators + B + A do not fit AVX2's 16 registers); NULL elsewhere.
     * SKIPSERVE_PIXROWS_MR7=0 (read per run) keeps 8-row panels (A/B) */
    sk_gemm_ukernel gemm_mr7;
    /* session 19 (r12): the 7-row kernel over two 7-row panels at once (a
     * 14 x 32 tile, sk_gemm_cfg.uk2; same bits as gemm_mr7): FP32 pixel
     * rows on Intel AVX-512 CPUs (config.c fill_intel); NULL elsewhere.
     * SKIPSERVE_PIXROWS_MR14=0 / =1 (read per run) off / on (A/B) */
    sk_gemm_ukernel gemm_mr7x2;
    /* session 19 (gk): the f32 GEMM microkernel on 12-row A panels (same nr,
     * bits as gemm.uk; sk_gemm_cfg_mr12): _MatMulFused's products (A the
     * tokens, packed per run) where config.c measured it faster — Intel
     * AVX-512 CPUs (fast_matmul_fused.c); NULL elsewhere. With it,
     * gemm.ablock_bytes carries the L2 budget of the MatMul's K rule.
     * SKIPSERVE_MATMUL_MR12=0 (read per run) keeps 8-row panels (A/B) */
    sk_gemm_ukernel gemm_mr12;
    /* (session 21, a2s) NULL, or _MatMulFused's microkernel where it differs
     * from gemm.uk (same mr, nr, panels and bits): the AVX2 level on Intel,
     * where gemm.uk prefetches the next weights into L2 (_pfl2) and the
     * MatMul keeps the _pf tile's L1 prefetch (config.c fill_intel) */
    sk_gemm_ukernel gemm_mm_uk;
    /* session 17: the int8 depthwise conv on NHWC activations (qdwconv.h):
     * AVX-512BW 16 channels a vector, AVX2 8; uk NULL where none
     * (SKIPSERVE_INT8_DW=0 at start-up: none, the grouped GEMM) */
    sk_qdw_cfg qdw;
    /* the BF16 GEMM's 7-row twin (kernels/bf16.h, same bits as
     * bf16_gemm.uk): BF16 pixel rows of 7x7 maps; NULL without
     * AVX512-BF16 (then 8-row panels) */
    sk_gemm_ukernel bf16_gemm_mr7;
    /* session 17 (s2r): cdirb_tile / cdirb_tile2 adding to the sums in t
     * (fast_conv_s2b.c's K slices; same bits as one unsplit call) */
    sk_cdirb_tile_fn cdirb_tile_acc, cdirb_tile2_acc;
    /* session 20 (r2t): 0, or the K slice budget (KB of a block's weights)
     * of fast_conv_s2b.c's K-sliced order for cdirb_tile (the wide tile;
     * cdirb_tile2 keeps the default 256): config.c fill_intel */
    int cdirb_kb;
    /* session 18 (a2q): a faster NHWC int8 conv on qigemm's packed layout
     * (same nr and packing; mr 6 where qigemm's is 4) that is exact only for
     * weights whose byte pairs cannot saturate vpmaddubsw
     * (sk_qigemm_pairs_fit — the pair rule, not a weight width: 7-bit
     * weights always pass, some 8-bit sets do too): AVX2 without VNNI, where
     * qigemm is the exact widening kernel; a conv takes it per its weights
     * (fast_qconv_nhwc.c). uk NULL elsewhere or with SKIPSERVE_INT8_MADDUBS=0 */
    sk_qigemm_cfg qigemm_pairs;
    /* session 18: the exact kernel on weights widened at load (qigemm.h's
     * c4w16 layout) for the convs qigemm_pairs cannot take; uk NULL elsewhere
     * or with SKIPSERVE_INT8_W16=0 (then qigemm's in-register widening) */
    sk_qigemm_cfg qigemm16;
    /* session 19 (ami): where qigemm is the AMX-INT8 kernel, the AVX512-VNNI
     * one (same nr and packing): a conv packed while SKIPSERVE_INT8_AMX=0
     * (read at load: in-process A/B) takes it; uk NULL elsewhere */
    sk_qigemm_cfg qigemm_vnni;
    /* session 18 (bfl): BF16 pixel rows' pair rows from input runs (7x7
     * maps, stride 1 and 2: one output row a panel); NULL without AVX512-BF16 */
    sk_bf16_runs2_fn bf16_runs2;
} sk_kconfig;

/* The config of a level; NULL for SK_ISA_SCALAR (reference kernels only),
 * or a level this build has no kernels for or this CPU cannot run. */
const sk_kconfig *sk_kconfig_for(sk_isa isa);

/* The GEMM part of a level's config (NULL as above). */
const sk_gemm_cfg *sk_gemm_config(sk_isa isa);
/* (session 19, mend19) which BF16 GEMM kernel a bf16 load runs on, and
 * why AMX is off where the CPU has it (SKIPSERVE_BF16_UK, or the OS
 * refused the tile-data permission); for the load's log line */
const char *sk_bf16_kernel_note(void);
/* The vector loops of a level (NULL as above; tests and benchmarks). */
const sk_fast_uk *sk_fast_uk_for(sk_isa isa);
/* The int8 GEMM of a level (NULL as above). */
const sk_qgemm_cfg *sk_qgemm_config(sk_isa isa);

#endif
