/* fast_qconvt.h — the int8 ConvTranspose (_QConvTranspose, made from QDQ
 * by passes/qdq_ops.c; reference ref/qconv_transpose.c) on the int8 GEMM
 * (qgemm.h), for the up-convolutions of U-Nets: 2-D, group 1, stride equal
 * to the kernel (2x2 / 2 as torch's ConvTranspose2d(k=2, s=2) exports),
 * dilation 1, any pads, no output_padding / output_shape.
 *
 * Why only kernel == stride: then every output pixel receives exactly one
 * tap, so the GEMM's rows (output channel, ky, kx) can be requantized in the
 * microkernel's epilogue and scattered as bytes — no int32 col2im pass and
 * no int32 output mode in the microkernels. Overlapping ConvTransposes keep
 * the reference (the pass leaves them in float; see qdq_ops.c).
 *
 * Weights packed at load (sk_qconvt_pack, from passes/qfuse.c's packing
 * pass): A[(m, ky, kx)][c] = W[c][m][ky][kx], the activation zero point
 * folded into the int32 bias of every row, mult per row = x_s * w_s[m] /
 * y_s. Bit for bit the reference's arithmetic (same rounding, saturation). */
#ifndef SK_KERNELS_FAST_QCONVT_H
#define SK_KERNELS_FAST_QCONVT_H

#include "graph.h"
#include "kernels/config.h"
#include "kernels/qgemm.h"
#include "kernels/qigemm.h"
#include "ops.h"

typedef struct sk_qconvt_priv {
    sk_qgemm_cfg q;
    int64_t C, M, kh, kw; /* in channels, out channels, kernel */
    size_t rows;          /* M * kh * kw: the GEMM's M */
    sk_qgemm_weights w;   /* rows: A panels, B[m] - x_zp(u8) * row sum, multipliers */
    int x_s8, y_s8;
    /* Session 14: channels-last in and out (passes/qlayout.c sets nhwc when
     * the neighbours read / write NHWC). Made at load where the level has
     * the NHWC int8 conv kernel (ig.uk), x and y are uint8, C % 4 == 0 and
     * there are no pads: per kernel tap t = (ky, kx) a 1x1 conv of the input
     * pixels on ig's kernel, pixel (iy, ix) -> output pixel (iy*kh + ky,
     * ix*kw + kx), so a tile of a row's pixels writes with pixel stride
     * kw * M; the per-tap bias / mult are the NCHW rows (m, ky, kx)'s. */
    sk_qigemm_cfg ig;     /* uk NULL: no NHWC form */
    int8_t *wi;           /* per tap, sk_qigemm_pack_w blocks of [M][C] */
    int32_t *tbias;       /* [kh*kw][M] */
    float *tmult;         /* [kh*kw][M] */
    sk_qgemm_params *tprm; /* [kh*kw]: the plain output side with those */
    int nhwc;
} sk_qconvt_priv;

void sk_qconvt_priv_free(void *p);
/* a ConvTranspose node's attributes are the form above (kernel kh x kw) */
int sk_qconvt_supported(const sk_node *n, int64_t kh, int64_t kw);
/* Whether the QDQ pass rewrites to the int8 form at level kc (NULL: the
 * scalar level). Session 13 said no with the widening AVX2 kernel (U-Net
 * up-convs at SKIPSERVE_ISA=avx2 on Zen 4, 1 thread: 15.1 ms float (+ Q)
 * vs 19.9 ms int8, 6.5 ms with AVX-VNNI); since session 18 (ctq) yes at
 * every level: the float form is not the integer bytes (fast_qconvt.c). */
int sk_qconvt_pays(const sk_kconfig *kc);
/* 1 packed, 0 left on the reference (unsupported form), < 0 no memory */
int sk_qconvt_pack(const sk_graph *g, sk_node *n, const sk_kconfig *kc);
int sk_fast_run_qconvt(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx);
size_t sk_fast_qconvt_scratch(const sk_node *n, const sk_tensor *const *in, int nin);

#endif
