/* fast.h — load-time state of the fused ops (sk_node.priv, built by
 * engine/passes/ and read-only afterwards) and the fast kernels dispatch.c
 * picks for them.
 *
 * Fused ops (ops.h SK_OPS_FUSED), created only by passes:
 *   _ConvFused (X, W, B?, R?) -> Y
 *       Conv attributes, plus "activation" ("Relu" | "Clip"), "act_min",
 *       "act_max" and, when an Add was merged, "fused_add" (its node name).
 *       Y = clamp(Conv(X, W, B) + R, act_min, act_max).
 *   _GemmFused (A, B, C?, R?) -> Y
 *       Gemm attributes plus the same activation attributes.
 * The fast kernels pack their activation operand into sk_kctx.scratch,
 * which the plan reserves from sk_dispatch_scratch (dispatch.c), so a run
 * allocates nothing. */
#ifndef SK_KERNELS_FAST_H
#define SK_KERNELS_FAST_H

#include "kernels/gemm.h"
#include "graph.h"
#include "kernels/config.h"
#include "ops.h"

/* How a _ConvFused node runs, chosen at load (engine/passes/prepack.c):
 *   SK_CONV_GEMM      implicit-im2col GEMM; w = Mg x (Cg * kernel volume)
 *                     per group (fast_conv.c)
 *   SK_CONV_WINOGRAD  3x3 stride 1, group 1: Winograd F(2x2, 3x3); w = the
 *                     16 transformed M x C matrices as groups
 *                     (fast_winograd.c)
 *   SK_CONV_WINOGRAD4 the same by Winograd F(4x4, 3x3): 36 groups
 *   SK_CONV_DEPTHWISE 2-D, one filter per channel (group = C = M): direct
 *                     row FMAs reading W as it is; w unused (fast_dwconv.c)
 *   SK_CONV_PIXROWS   group 1, few output pixels (7x7 maps): the same GEMM
 *                     transposed, Y' [P x M] = col' [P x K] * W' [K x M],
 *                     so pixels fill the microkernel's mr rows and output
 *                     channels its nr columns (49 pixels pad to 54 rows
 *                     instead of 64 columns); wt = W' packed as B, w unused;
 *                     the output is transposed back with the epilogue
 *                     (fast_conv.c) */
typedef enum {
    SK_CONV_GEMM = 1,
    SK_CONV_WINOGRAD = 2,
    SK_CONV_DEPTHWISE = 3,
    SK_CONV_PIXROWS = 4,
    SK_CONV_WINOGRAD4 = 5,
    /* 1x1 stride 1 unpadded, group 1: the GEMM with X's planes read in
     * place as B (kernels/gemm_nchw.h); w as for SK_CONV_GEMM
     * (fast_conv_1x1.c) */
    SK_CONV_NCHW1X1 = 6,
    /* 2-D, group 1: by default stride 2 with at most 4 input channels
     * (the RGB stems), stride 1 or 2 under SKIPSERVE_CONV_DIRECT=force
     * (prepack.c use_cdir): direct NCHW conv over phase-split input
     * rows reading W as given (fast_conv_s2.c, fast_cdir_uk.h); w unused */
    SK_CONV_DIRECT = 7,
    /* 2-D, group 1, stride 2, dilation 1, more than 4 input channels
     * (prepack.c use_cdirb): output channels in the lanes, input values
     * broadcast from a padded copy of X (fast_conv_s2b.c,
     * fast_cdirb_uk.h); wt = W' packed as the GEMM's B (as pixel rows) */
    SK_CONV_DIRECT_BC = 8,
    /* precision bf16 (bf16.h): the im2col GEMM on the K-pair BF16 kernel;
     * w = bf16 pairs, cfg = &kc->bf16_gemm (fast_conv_im2col.c) */
    SK_CONV_BF16 = 16
} sk_conv_kind;

/* kc: the kernels of the level the weights were packed for (the run uses
 * them whatever the active level is now); cfg = &kc->gemm. */
/* Depthwise planes of at most this many output pixels run as channel
 * lanes (fast_dwconv.c; 28x28 measured slower, 14x14 faster). */
#define SK_DW_CL_MAXPX 196

typedef struct sk_conv_priv {
    sk_conv_kind kind;
    const sk_kconfig *kc;
    const sk_gemm_cfg *cfg;
    sk_gemm_packed_a w;
    sk_gemm_packed_b wt;
    int64_t kvol; /* taps per input channel (kernel volume) */
    /* Winograd kinds only: > 0 when wt also holds W' for pixel rows, run
     * instead for batches N <= pix_max_n (prepack.c wino_pixrows_max_n:
     * a 7x7 map's tiles fill half an AVX-512 panel at batch 1) */
    int64_t pix_max_n;
    /* depthwise only, set at load by prepack.c from the A/B switches:
     * SKIPSERVE_DW_FLAT=0 keeps the row loops (dw_flat off),
     * SKIPSERVE_DW_CL=0 the channel lanes off (dw_cl_maxpx 0), and
     * SKIPSERVE_DW_CL_MAXPX=n the largest plane the lanes take */
    int dw_flat;
    int64_t dw_cl_maxpx;
    int dw_reg; /* 1: the register-row 3x3 loop where the config has it (session 19) */
    /* SK_CONV_DIRECT and SK_CONV_DIRECT_BC (prepack.c): input channels, kernel and
     * stride, for sizing the per-run scratch before a run */
    struct {
        int64_t C, kh, kw, s;
    } cdir;
    /* precision bf16, Winograd kinds only, with SKIPSERVE_BF16_WINO_T=n
     * (prepack.c bf16_form; off by default): the same
     * conv packed for the BF16 GEMM (kind SK_CONV_BF16), run instead of
     * Winograd where sk_conv_runs_bf16 says — at bf16_min_t threads or
     * more (0: never); NULL when the conv has no BF16 form. Owned. */
    struct sk_conv_priv *bf16_form;
    int bf16_min_t;
} sk_conv_priv;

typedef struct sk_gemm_priv {
    const sk_kconfig *kc;
    const sk_gemm_cfg *cfg;
    sk_gemm_packed_b w; /* alpha * B', K x N */
    float *bias;        /* beta * C broadcast to N values, or NULL */
} sk_gemm_priv;

/* A convolution strategy: one row per sk_conv_kind (the table is in
 * fast_conv.c), read everywhere the kind used to be switched on —
 * prepack.c keeps W when reads_w, dispatch.c names the step and sizes its
 * scratch, sk_fast_run_conv_fused runs it. Adding a strategy: a kind, a
 * file with its run and scratch, one row. */
typedef struct sk_conv_strategy {
    sk_conv_kind kind;
    const char *name; /* in plan dumps (sk_dispatch_describe) */
    int reads_w;      /* runs from W as given: the pass keeps the weights */
    /* floats of per-run scratch for this output (NULL: sizes unknown) */
    size_t (*scratch)(const sk_conv_priv *pv, const sk_tensor *out, int nthreads);
    int (*run)(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
               sk_kctx *ctx);
} sk_conv_strategy;

/* The row of a kind (the im2col GEMM's for an unknown kind). */
const sk_conv_strategy *sk_conv_strategy_of(sk_conv_kind kind);
/* 1 where a conv of this batch runs by pixel rows instead of its kind */
int sk_conv_runs_pixrows(const sk_conv_priv *pv, int64_t batch);
/* the BF16 form a Winograd conv runs instead at this batch and thread
 * count (fast.h bf16_form), or NULL: it runs as its kind */
const sk_conv_priv *sk_conv_runs_bf16(const sk_conv_priv *pv, int64_t batch, int nthreads);

void sk_conv_priv_free(void *p);
void sk_gemm_priv_free(void *p);

/* Clamp bounds of a fused node (-inf, +inf when it has no activation). */
void sk_fused_act(const sk_node *n, float *lo, float *hi);

/* Floats of per-run scratch the fast kernel of n needs with `nthreads`
 * threads for this output (0 when n has no priv; out may be NULL). */
size_t sk_fused_scratch_floats(const sk_node *n, const sk_tensor *out, int nthreads);
/* Per-run scratch of `floats` floats for a fast kernel of n: the plan's
 * (ctx->scratch, when it holds that many: it does when the plan asked
 * sk_dispatch_scratch), else a heap block returned in *heap for the caller
 * to sk_free (*heap stays NULL otherwise). NULL, with ctx's error set, when
 * out of memory. */
float *sk_fast_scratch(const sk_node *n, sk_kctx *ctx, size_t floats, float **heap);

/* Bytes of scratch the reference kernel of a fused node needs. */
size_t sk_ref_scratch_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                            const sk_tensor *out, int nout, int nthreads);

/* A 2-D _ConvFused node's operands and geometry, resolved at run time
 * (fast_conv.c): pads and strides from the attributes (auto_pad applied),
 * the residual checked against the output, the clamp from the activation.
 * For the direct kernels (Winograd, depthwise). X and W must be rank 4. */
typedef struct sk_conv2d {
    const float *x, *w, *bias, *res; /* bias, res: NULL when absent */
    float *y, lo, hi;
    int64_t N, C, M, H, W, oH, oW;
    int64_t kh, kw, sh, sw, dh, dw, pt, pl; /* kernel, strides, dilations, top/left pads */
} sk_conv2d;
int sk_conv2d_setup(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                    sk_kctx *ctx, sk_conv2d *g);

/* Winograd F(m x m, 3x3), m = 2 or 4 (fast_winograd.c): pack U = G g G' of
 * W [M, C, 3, 3] as (m+2)^2 groups; scratch of a run for a packed U; the run
 * itself (called by sk_fast_run_conv_fused; m from U's group count). */
int sk_wino_pack(const sk_gemm_cfg *cfg, const float *w, int M, int C, int m,
                 sk_gemm_packed_a *out);
size_t sk_wino_scratch_floats(const sk_gemm_cfg *cfg, const sk_gemm_packed_a *u, int nthreads);
/* prefetch ranges (U's pieces, V's lines, X's rows) found outside U, V or X
 * since start: 0 unless a bug (tested by test_fast_conv) */
extern _Atomic long sk_wino_pf_strays;
/* The same for a run of ntiles output tiles (0: unknown), whose blocking
 * may differ (batch 1 on small maps: one block of every tile). */
size_t sk_wino_scratch_floats_tiles(const sk_gemm_cfg *cfg, const sk_gemm_packed_a *u,
                                    int64_t ntiles, int nthreads);
/* Tiles per block of that run (all of them: the one-block run; tests). */
int sk_wino_tile_block(const sk_gemm_cfg *cfg, const sk_gemm_packed_a *u, int64_t ntiles);
int sk_fast_run_conv_wino(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                          sk_kctx *ctx);

/* The vector transforms of fast_wino_uk.h, one set per ISA level. */
#define SK_WINO_UK_PROTOS(sfx)                                                                   \
    void sk_f32_wino_cols__##sfx(const float *row, int n, float *d, int nr);                    \
    void sk_f32_wino_in__##sfx(const float *d, float *v, size_t vstride, int nr);               \
    void sk_f32_wino_out__##sfx(const float *mb, size_t mstride, float *y, int nr);             \
    void sk_f32_wino_epi__##sfx(float *out, const float *y0, const float *y1, size_t n, float b, \
                                const float *res, float lo, float hi);                          \
    void sk_f32_wino4_cols__##sfx(const float *row, int n, float *d, int nr);                   \
    void sk_f32_wino4_in__##sfx(const float *d, float *v, size_t vstride, int nr);              \
    void sk_f32_wino4_out__##sfx(const float *mb, size_t mstride, float *y, int nr);            \
    void sk_f32_wino4_epi__##sfx(float *out, const float *y0, const float *y1, const float *y2,  \
                                 const float *y3, size_t n, float b, const float *res, float lo, \
                                 float hi);                                                      \
    void sk_f32_wino_colsw__##sfx(const float *row, long iw0, long W, int n, float *d, int nr);  \
    void sk_f32_wino4_colsw__##sfx(const float *row, long iw0, long W, int n, float *d, int nr);
SK_WINO_UK_PROTOS(avx2)
SK_WINO_UK_PROTOS(avx512f)

/* Depthwise conv (fast_dwconv.c) and its vector loops per ISA. */
size_t sk_dw_scratch_floats(int nthreads);
/* Planes the channel-lane path has run in this process (tests). */
size_t sk_dw_cl_planes(void);
/* Runs of the direct-bcast conv in the K-sliced order since the process
 * started (fast_conv_s2b.c; tests check that a geometry took it). */
size_t sk_conv_direct_bc_sliced_runs(void);
/* ... and in the opt-in row-outer order (SKIPSERVE_CONV_BCAST_ROWS=1, session 19) */
size_t sk_conv_direct_bc_rows_runs(void);
/* BF16 pixel-rows panels gathered as input runs (fast_conv_pixrows.c,
 * session 18) since the process started: tests check a geometry took them. */
size_t sk_conv_pixrows_bf16_run_panels(void);
int sk_fast_run_conv_dw(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        sk_kctx *ctx);
#define SK_DW_UK_PROTOS(sfx)                                                                     \
    void sk_f32_dw_rows__##sfx(float *y, size_t ldy, const float *const *src, size_t lds,       \
                               const float *w, int ntaps, size_t n, size_t rows, float b,      \
                               const float *res, float lo, float hi);                         \
    void sk_f32_dw_flat__##sfx(float *t, const float *src, const ptrdiff_t *off, const float *w, \
                               int ntaps, size_t n, float b);                                   \
    void sk_f32_dw_out__##sfx(float *y, size_t ldy, const float *t, size_t ldt, size_t n,       \
                              size_t rows, const float *res, float lo, float hi);              \
    void sk_f32_dw_copy__##sfx(float *d, const float *x, size_t n);                               \
    void sk_f32_dw_split__##sfx(float *de, float *dodd, const float *x, size_t w, size_t ne,      \
                                size_t no);                                                       \
    void sk_f32_dw_cl__##sfx(float *t, const float *pad, const ptrdiff_t *off, const float *w,   \
                             int ntaps, size_t oH, size_t oW, size_t ldr, size_t ldc,           \
                             const float *b);
SK_DW_UK_PROTOS(avx2)
SK_DW_UK_PROTOS(avx512f)
void sk_f32_dw_reg3__avx512f(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                             const float *w, const float *b, float *y, const float *res,
                             float lo, float hi);
void sk_f32_dw_reg3w__avx512f(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                              const float *w, const float *b, float *y, const float *res,
                              float lo, float hi);
void sk_f32_dw_reg3__avx2(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                          const float *w, const float *b, float *y, const float *res, float lo,
                          float hi);
void sk_f32_dw_reg3w__avx2(const sk_dw_reg_geo *g, size_t p0, size_t p1, const float *x,
                           const float *w, const float *b, float *y, const float *res, float lo,
                           float hi);
/* Planes run by the register-row loops since the process started (tests). */
size_t sk_dw_reg_planes(void);
/* (mend19) pixel-row groups run as one job (fast_conv_pixrows.c) and
 * im2col-gemm jobs in A-panel order (fast_conv_im2col.c) since the process
 * started (tests) */
size_t sk_pixrows_one_jobs(void);
size_t sk_im2col_aorder_jobs(void);
size_t sk_im2col_wide_jobs(void); /* (session 21) on the wide column blocks */

/* The direct NCHW conv (fast_conv_s2.c): its band loop per ISA. */
void sk_f32_cdir_band__avx2(const sk_cdir_band *b);
/* 4 channels x 3 pixel vectors (session 21: Intel at the avx2 level) */
void sk_f32_cdir_band_4x3__avx2(const sk_cdir_band *b);
void sk_f32_cdir_band__avx512f(const sk_cdir_band *b);
#define SK_CDIRB_UK_PROTOS(sfx)                                                                \
    void sk_f32_cdirb_tile__##sfx(size_t K, const float *x, const int32_t *koff, const float *w, \
                                  size_t ldw, size_t wstep, float *t, size_t ldt);       \
    void sk_f32_cdirb_tile_acc__##sfx(size_t K, const float *x, const int32_t *koff,           \
                                      const float *w, size_t ldw, size_t wstep, float *t,      \
                                      size_t ldt);
SK_CDIRB_UK_PROTOS(avx2)
SK_CDIRB_UK_PROTOS(avx512f)
void sk_f32_cdirb_tile7__avx512f(size_t K, const float *x, const int32_t *koff, const float *w,
                                 size_t ldw, size_t wstep, float *t, size_t ldt);
void sk_f32_cdirb_tile7_acc__avx512f(size_t K, const float *x, const int32_t *koff,
                                     const float *w, size_t ldw, size_t wstep, float *t,
                                     size_t ldt);
/* MaxPool's 3-wide stride-2 rows (fast_pool_uk.h, sk_fast_uk.vmax3 / .hmax3s2). */
#define SK_POOL_UK_PROTOS(sfx)                                                                 \
    void sk_f32_vmax3__##sfx(size_t n, const float *a, const float *b, const float *c,        \
                             float *y);                                                       \
    void sk_f32_hmax3s2__##sfx(size_t n, const float *t, size_t tlen, float *y);               \
    void sk_f32_maxpool3s2p1__##sfx(const float *x, size_t H, size_t W, float *y, size_t oW,  \
                                    size_t oh0, size_t oh1);
SK_POOL_UK_PROTOS(avx2)
SK_POOL_UK_PROTOS(avx512f)

/* dst[q] = src[2q] for q in [0, n) (fast_conv.c). */
void sk_gather_stride2(float *dst, const float *src, int64_t n);
/* d[0..len) = phase p of a zero-padded input row of W floats, stride s
 * (1 or 2), left pad pl: d[j] = xrow[j*s + p - pl] where that lies inside
 * the row, else 0; xrow NULL: a pad row, all zeros. */
void sk_pad_row(float *d, size_t len, const float *xrow, int64_t W, int64_t pl, int64_t s,
                int64_t p);

int sk_fast_run_conv_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx);
/* ConvTranspose: the one fast kernel is sk_fast_run_conv_transpose
 * (fast_convt.c, fast_ops.h); for a constant W of a 2-D group-1 node the
 * prepack pass packs W^T at load (priv: A = (M * kh * kw) x C) when
 * sk_fast_convt_supported, and the kernel uses it. */
int sk_fast_convt_supported(const sk_node *n, const sk_shape *w);
void sk_convt_priv_free(void *p);

int sk_fast_run_gemm_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx);

/* _MatMulFused (A, W, bias?, R?) -> Y (engine/passes/fuse_matmul.c): a
 * MatMul by a constant 2-D W [K, N] (a transformer's Linear layer) with
 * its bias Add, residual Add and activation merged:
 *   Y = gelu(clamp(MatMul(A, W) + bias + R, act_min, act_max))
 * attributes "activation" ("Relu" | "Clip" | "Gelu" | "GeluTanh", for
 * dumps), "act_min", "act_max", "gelu" (SK_GELU_*), "fused_add". Its load-time
 * state is an sk_gemm_priv (W packed as B, the bias), as _GemmFused's.
 * Reference: kernels/ref/fused_matmul.c; fast: fast_matmul_fused.c. */
enum { SK_GELU_NONE = 0, SK_GELU_ERF = 1, SK_GELU_TANH = 2 };
/* One GELU value as the unfused exported graph computes it (kind SK_GELU_*;
 * SK_GELU_NONE returns x). */
float sk_gelu_ref(int kind, float x);
int sk_fast_run_matmul_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                             sk_tensor *out, int nout, sk_kctx *ctx);

/* _AttentionFused (Q, Kt, V) -> Y (engine/passes/fuse_attention.c): the
 * attention core, Y = Softmax(Q' Kt, last axis) V with Q' = Q / c ("q_op"
 * 1), Q * c (2) or Q (0), c = "q_const"; Q [b.., M, D], Kt [b.., D, L],
 * V [b.., L, E], the same batch dims. Reference kernels/ref/fused_attention.c;
 * fast fast_attention.c (a block of score rows at a time, never the whole
 * [b.., M, L] matrix). */
typedef struct sk_attention_geom {
    int64_t items, M, D, L, E;
} sk_attention_geom;
/* 1 when Q, Kt, V (in[0..2]) have shapes the op takes (dtypes not checked). */
int sk_attention_geometry(const sk_tensor *const *in, int nin, sk_attention_geom *g);
size_t sk_ref_scratch_attention_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                                      const sk_tensor *out, int nout, int nthreads);


/* _IRBlockFused (X, W1?, B1?, Wd, Bd, W2, B2, R?) -> Y
 * (engine/passes/fuse_irblock.c): MobileNetV2's inverted-residual block
 * merged into one node — expand 1x1 (W1 [E, C, 1, 1], bias B1, clamp
 * "exp_min" .. "exp_max"), depthwise 3x3 with pads 1 and stride "strides"
 * (1 or 2) (Wd [E, 1, 3, 3], Bd, clamp "dw_min" .. "dw_max"), project 1x1
 * (W2 [M, E, 1, 1], B2) + the residual R when the block has one, clamp
 * "act_min" .. "act_max"; without W1 and B1 the block has no expansion
 * (E = X, MobileNetV2's first block):
 *   Y = clamp(W2 * clamp(dw(clamp(W1 * X + B1)) + Bd) + B2 + R)
 * Reference: kernels/ref/fused_irblock.c (the three convolutions one after
 * the other); fast: fast_irblock.c (by row blocks of the output, the
 * expanded rows in a per-thread buffer, never the whole E x H x W tensor).
 * Its load-time state: */
typedef struct sk_irblock_priv {
    const sk_kconfig *kc;
    sk_gemm_packed_a w1, w2; /* expand and project weights as GEMM A panels
                              * (w1.data NULL: no expand) */
    int64_t C, E, M;         /* input, expanded, output channels */
    int stride;              /* of the depthwise conv: 1 or 2 */
    long budget;             /* per-thread floats (SKIPSERVE_IRBLOCK_BUDGET; 0: default) */
} sk_irblock_priv;
void sk_irblock_priv_free(void *p);
int sk_fast_run_irblock(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx);
/* Floats of scratch of the fast kernel for this input and output (and
 * threads); 0 when a shape is unknown. */
size_t sk_irblock_scratch_floats(const sk_node *n, const sk_tensor *const *in, int nin,
                                 const sk_tensor *out, int nthreads);
/* The block geometry both kernels check: 0, or an SK_E* code with ctx's
 * error set. */
size_t sk_ref_scratch_irblock_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                                    const sk_tensor *out, int nout, int nthreads);
int sk_irblock_check(const sk_node *n, const sk_tensor *const *in, int nin, sk_kctx *ctx,
                     int64_t *oH, int64_t *oW);
/* _AttentionHeads (QKV, q_start, q_end, k_start, k_end, v_start, v_end) -> Y
 * (engine/passes/fuse_attention.c): _AttentionFused per head with Q, K and
 * V read in place from torch's packed in-projection QKV [S, B, W] — part
 * p is columns [start_p, end_p) of W (Slice's rules), head h of item b
 * its D columns at h * D — instead of three Slice -> Reshape -> Transpose
 * copies; Y [S, B * H, D] (row s, b * H + h), what the Transpose after the
 * unfused attention made, or with "batch_first" 1 Y [B, S, H * D]; with
 * "qkv_batch_first" 1 QKV is [B, S, W] (the in-projection ran before the
 * Transpose that fed it, fuse_attention.c).
 * Attributes "heads" H, "head_dim" D, "batch_first", "q_op", "q_const". Reference kernels/ref/fused_attention.c, fast fast_attention.c. */
typedef struct sk_attention_heads_geom {
    int64_t S, B, W, H, D;
    int64_t off[3];  /* first column of Q, K, V in W */
    int batch_first; /* attribute "batch_first": Y [B, S, H * D] */
    int64_t ldy;     /* floats between Y's rows of one head */
    int qkv_first;   /* attribute "qkv_batch_first": QKV [B, S, W] */
    int64_t ldx, xb; /* floats between QKV's rows of one item, between items */
} sk_attention_heads_geom;
/* Where head `item` (b * H + h) starts in Y. */
static inline int64_t sk_attention_heads_y(const sk_attention_heads_geom *h, int64_t item)
{
    int64_t b = item / h->H;
    return (h->batch_first ? b * h->S * h->H * h->D : b * h->H * h->D) + (item % h->H) * h->D;
}
/* 0, or a negative SK_E* code with the message through ctx. */
int sk_attention_heads_geometry(const sk_node *n, const sk_tensor *const *in, int nin,
                                sk_attention_heads_geom *h, sk_kctx *ctx);
size_t sk_ref_scratch_attention_heads(const sk_node *n, const sk_tensor *const *in, int nin,
                                      const sk_tensor *out, int nout, int nthreads);

#endif
