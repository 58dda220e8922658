/* fast_qconv.h — the int8 convolution on the int8 GEMM (qgemm.h), for
 * QLinearConv nodes and _QConvFused (a QLinearConv with the skip
 * connection's QLinearAdd and a ReLU merged, engine/passes/qfuse.c).
 *
 *   _QConvFused (x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp, B?, r?, r_s?, r_zp?, c_s?, c_zp?)
 *       the QLinearConv of the first nine inputs (its output y, scale y_s,
 *       zero point y_zp), then with r: QLinearAdd(y, r) -> scale c_s, zero
 *       point c_zp (the output's); attribute relu = 1: max(out, its zero
 *       point); table? (input 14, 256 uint8, attribute lut_int8: its values'
 *       type): every output byte mapped last, out = table[out (+128 for
 *       int8)] — a following _QLut merged. Conv attributes as QLinearConv; "fused_add" names the merged
 *       Add. Reference: ref/qfused.c (the reference QLinearConv, then the
 *       reference QLinearAdd).
 *
 * The weights are packed at load (sk_qconv_pack, called by the pass) when
 * they are int8 constants with zero point 0 and every scale / zero point is
 * a constant; the node's sk_node.priv then holds them, and dispatch routes
 * the node to sk_fast_run_qconv. 2-D convolutions, any groups, strides,
 * pads, dilations; other ranks run the reference. */
#ifndef SK_KERNELS_FAST_QCONV_H
#define SK_KERNELS_FAST_QCONV_H

#include "graph.h"
#include "kernels/config.h"
#include "kernels/qdwconv.h"
#include "kernels/qgemm.h"
#include "ops.h"

typedef struct sk_qconv_priv {
    sk_qgemm_cfg q;        /* the level's int8 GEMM at load */
    int64_t M, Cg, group, Mg, kh, kw;
    size_t K;              /* Cg * kh * kw per group */
    size_t pa_group;       /* bytes of one group's packed A */
    int8_t *pa;            /* group after group */
    int32_t *bias;         /* M: B - x_zp(u8) * row sums */
    float *mult;           /* M: x_s * w_s[m] / y_s */
    sk_qgemm_params prm;   /* zero points, scales, clamps (bias/mult set per group) */
    int x_s8;              /* x is int8: flipped to uint8 while packing */
    uint8_t x_zp_u8;       /* x's zero point in the uint8 view (padding value) */
    int has_res;
    int final_s8;          /* the node's output type (after the table) is int8 */
    /* output columns per block of the blocked path (fast_qconv.c): 0 auto,
     * < 0 off, > 0 forced (SKIPSERVE_INT8_PBLOCK at load, for A/B and tests) */
    int pblock;
    /* The NHWC path (fast_qconv_nhwc.c, qigemm.h): ig.uk != NULL when this
     * conv runs it (then pa is not packed): group 1, uint8 x, C >= 4, the
     * level has the kernel. C % 4 != 0: the edge transpose pads each pixel
     * to Cp channels with x's zero point, the pad weights are 0. */
    sk_qigemm_cfg ig;
    int8_t *wi;            /* weights packed for ig */
    uint8_t *zrow;         /* x's zero point: the padding taps' row — Cg bytes for the
                            * NHWC conv, C (= M) bytes + 64 for the depthwise conv */
    int64_t sh, sw, dh, dw; /* strides, dilations (scratch bounds) */
    int64_t Cp;            /* Cg up to a multiple of 4: NHWC pixels' channel stride */
    size_t edge_cap;       /* bytes of edge copies (x, residual to NHWC) per image group */
    int prefetch;          /* prefetch a chunk's residual / output rows (SKIPSERVE_INT8_PREFETCH) */
    /* which of x, the residual, y are NHWC in memory (their shapes stay
     * NCHW): set by passes/qlayout.c; an NCHW one is transposed at the edge */
    int io_nhwc;
    /* the indirection tables of up to SK_QIND_CACHED input shapes, each
     * built at the first run of its shape and then reused (native-size
     * serving sees a few sizes); a shape past them builds one per run */
    _Atomic(struct sk_qind_cache *) ind[4];
    /* patch mode (session 14), a conv of fewer than 4 input channels and a
     * large kernel (ResNet's 7x7 stem): no indirection; each output pixel's
     * Cg * kh * kw input bytes (ONNX's weight order) are gathered from the
     * NCHW input into a row of kp bytes and the kernel runs as a 1x1 conv of
     * kp channels. 0: the indirection path. */
    int64_t kp;
    /* session 15: the tiles' input pointers by arithmetic instead of the
     * indirection table (1), and tiles of one row inside the image on the
     * level's dk kernel without pointers (2), a kernel row as one tap there
     * (3, the default); 0: the table (SKIPSERVE_INT8_ARITH_PTR, A/B timing) */
    int arith_ptr;
    /* session 15: tiles of MR - 1 pixels on the level's uk_short where they
     * compute fewer rows (SKIPSERVE_INT8_SHORT_TILES=0: off, A/B timing) */
    int short_tiles;
    /* session 15: a 1-3 channel conv's input copied into 4-byte pixels with
     * the pads written out (fast_qconv_nhwc.c; SKIPSERVE_INT8_PAD_STEM=0) */
    int pad_in;
    /* session 17: a depthwise conv (group == C == M) on the level's int8
     * depthwise kernel (fast_qdwconv.c): dwk.uk != NULL, dww its packed
     * weights; zrow, sh / sw / dh / dw, io_nhwc and edge_cap as above */
    sk_qdw_cfg dwk;
    int32_t *dww;
    int32_t *dww_pairs;    /* the pair layout where dwk.pairs (sk_qdw_pack_w32), else NULL */
    /* session 18 (a2q): wi is in qigemm.h's c4w16 layout (int16 pairs,
     * sk_qigemm_pack_w16; blocks ks * Cp * nr * 2 bytes apart) for ig */
    int w16;
} sk_qconv_priv;

#define SK_QIND_CACHED 4
#define SK_QNHWC_X 1 /* x (input 0) is NHWC */
#define SK_QNHWC_R 2 /* the residual (input 9) is NHWC */
#define SK_QNHWC_Y 4 /* y is written NHWC */

/* the NHWC path (fast_qconv_nhwc.c): packing at load (1 packed, 0 not
 * eligible, < 0 no memory), the run, its scratch */
int sk_qconv_pack_nhwc(sk_qconv_priv *pv, const sk_node *n, const int8_t *w,
                       const sk_kconfig *kc);
void sk_qconv_free_nhwc(sk_qconv_priv *pv);
int sk_qconv_run_nhwc(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      sk_kctx *ctx);
size_t sk_qconv_scratch_nhwc(const sk_qconv_priv *pv, const sk_tensor *out, int nthreads);

/* session 17, the depthwise path (fast_qdwconv.c): packing at load (1
 * packed, 0 not eligible — or SKIPSERVE_INT8_DW=0 —, < 0 no memory), run,
 * scratch; sk_qdw_enabled: the switch, also read by passes/qdq_act.c */
int sk_qdw_enabled(void);
int sk_qdw_pack(sk_qconv_priv *pv, const sk_node *n, const int8_t *w, const sk_kconfig *kc);
int sk_qdw_run(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
               sk_kctx *ctx);
size_t sk_qdw_scratch(const sk_qconv_priv *pv, const sk_tensor *out, int nthreads);
/* the NHWC path's byte transposes, for the depthwise path's edges:
 * d[j * ld + i] = s[i * ls + j] (i < rows, j < cols), and N images of C
 * planes of P bytes -> P pixels of C bytes on the pool */
void sk_qnhwc_tr_bytes(const uint8_t *s, size_t ls, uint8_t *d, size_t ld, size_t rows,
                       size_t cols);
void sk_qnhwc_to_nhwc(struct sk_pool *pool, const uint8_t *s, uint8_t *d, size_t N, size_t C,
                      size_t P);
/* fast_qconv_nhwc.c's rules, shared with the depthwise path: a 2-int
 * attribute's i-th value (1 when absent); the edge copies' budget
 * (SKIPSERVE_INT8_EDGE_BYTES, default 8 MB); x's H * W bound for any pads
 * from the output; the bytes of the NCHW -> NHWC edge copies of x (xb) and
 * the residual (rb); the images whose edge copies fit the budget together;
 * into how many channel parts to split each of `units` tasks so that nth
 * threads get >= 4 tasks each (at most nblk parts) */
int64_t sk_qconv_attr2(const sk_node *n, const char *name, int i);
size_t sk_qconv_edge_cap(void);
size_t sk_qnhwc_bound_hw(const sk_qconv_priv *pv, size_t OH, size_t OW);
size_t sk_qnhwc_edge_bytes(const sk_qconv_priv *pv, size_t xb, size_t rb);
size_t sk_qnhwc_edge_images(const sk_qconv_priv *pv, size_t N, size_t xb1, size_t rb1);
size_t sk_qsplit_parts(int nth, size_t units, size_t nblk);
static inline size_t sk_qal64(size_t b) { return (b + 63) & ~(size_t)63; }

void sk_qconv_priv_free(void *p);
/* Build n->priv for a QLinearConv / _QConvFused node whose weights and
 * quantization parameters are constants (values taken from g), with
 * `pblock` as sk_qconv_priv.pblock; returns 1 when packed, 0 when the node
 * stays on the reference (unsupported form), < 0 on allocation failure. */
int sk_qconv_pack(const sk_graph *g, sk_node *n, const sk_kconfig *kc, int pblock);

int sk_fast_run_qconv(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                      int nout, sk_kctx *ctx);
/* bytes of plan scratch a run needs for this output */
size_t sk_fast_qconv_scratch(const sk_node *n, const sk_tensor *out, int nthreads);

#endif
