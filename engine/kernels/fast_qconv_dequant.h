/* fast_qconv_dequant.h — _QConvDequant (ref/qconv_dequant.c) on the int8
 * GEMM with a float32 epilogue: a QDQ model's head, the last 1x1 conv that
 * turns uint8 features into float logits (passes/qdq_head.c), issue 22.
 *
 * Why a kernel of its own: the head used to run in float behind a
 * DequantizeLinear of a whole feature map — the U-Net's 32 x 256 x 256 map
 * dequantized (8 MB of float written and read back) and then a float 1x1
 * conv of 21 outputs (bench/RESULTS.md, session 14: ~3.9 of ~34 ms at batch
 * 1, 1 thread). Here the uint8 map (2 MB) is read once, the int32 sums stay
 * in registers, and the epilogue writes the float output directly.
 *
 * Layout: qgemm.h's 8x32c4 (A = the weights, 8 output channels a panel,
 * packed at load; B = 32 pixels a panel, packed per panel into a 16 KB
 * buffer on the stack from NCHW rows, or gathered from channels-last pixels
 * when passes/qlayout.c put the conv in an NHWC region); the output is
 * NCHW float rows of 32 pixels. Per output element, one call sums all of K
 * from zero, so the bits depend neither on the thread count nor on the
 * input layout, and are the reference's: (float)(acc + bias) * mult with
 * mult = x_scale * w_scale[m] (sk_qgemm_fold_requant with y_scale 1: the
 * division by 1 is exact).
 *
 * The AVX-512 level: vpdpbusd where the level's int8 GEMM is the
 * AVX512-VNNI one, else the same sums by AVX512BW vpmaddwd (bit for bit:
 * SKIPSERVE_INT8_UK=avxvnni / avx2 at that level give the same output).
 * Since session 15 (qft) the AVX2 level too, on the same panels: 256-bit
 * vpdpbusd with AVX-VNNI, else widened vpmaddwd (before, the pass left the
 * head in float there); at the scalar level the reference runs it. */
#ifndef SK_KERNELS_FAST_QCONV_DEQUANT_H
#define SK_KERNELS_FAST_QCONV_DEQUANT_H

#include "graph.h"
#include "kernels/config.h"
#include "kernels/qgemm.h"
#include "ops.h"

/* input channels the stack panel holds (32 pixels x 512 bytes = 16 KB) */
#define SK_QCONVDQ_MAXC 512

/* the Gemm form (session 14, qgm: x [N, K], w [M, K], y [N, M]): K a
 * multiple of 4 (its rows are gathered as c4 groups) up to this bound (the
 * packed rows, 32 x K bytes a panel, are the plan's scratch; int32 sums stay exact:
 * 255 * 127 * 16384 < 2^31) */
#define SK_QGEMMDQ_MAXK 16384
/* whether a Gemm of K inputs gets the packed kernel at level kc */
int sk_qgemmdq_fits(const sk_kconfig *kc, int64_t K);

typedef struct sk_qconvdq_priv {
    int64_t C, M;  /* input channels (K), output channels */
    int8_t *pa;    /* A panels (8 rows x Kp each) */
    int32_t *bias; /* B[m] - x_zp(u8) * sum_c w[m][c] */
    float *mult;   /* x_scale * w_scale[m] */
    int x_s8;
    int x_nhwc; /* passes/qlayout.c: x lies channels-last (shape still NCHW) */
    int gemm;   /* w [M, K]: x [N, K] rows are the pixels, y [N, M] */
    int gemv;   /* gemm with VNNI: batches < SK_QGEMMDQ_GEMV_N run the GEMV kernel */
    /* the microkernel: one of the two builds below */
    void (*uk)(size_t mr, size_t nr, size_t kg, const int8_t *a, const uint8_t *b, float *y,
               size_t ldy, const int32_t *bias, const float *mult);
    /* the channels-last B panel gather (AVX-512 gathers, or scalar at AVX2) */
    void (*pack_nhwc)(const uint8_t *x, size_t C, size_t np, uint8_t flip, uint8_t *dst);
} sk_qconvdq_priv;

/* Whether the pass should make _QConvDequant at level kc (NULL: scalar). */
int sk_qconvdq_pays(const sk_kconfig *kc);
/* 1 packed, 0 left on the reference, < 0 no memory */
int sk_qconvdq_pack(const sk_graph *g, sk_node *n, const sk_kconfig *kc);
int sk_fast_run_qconvdq(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                        int nout, sk_kctx *ctx);
/* scratch bytes of a run on inputs in (the Gemm form's packed rows) */
size_t sk_fast_qconvdq_scratch(const sk_node *n, const sk_tensor *const *in, int nin);

/* the kernels (x86-64 builds): rows m0.. of A panel a (mr <= 8), columns
 * of B panel b (nr <= 32), y row r at y + r * ldy floats; bias / mult
 * point at row m0's. avx512bw: the same bits without VNNI. */
void sk_qu8_qc8w_gemm_f32_8x32c4__avx512vnni(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                             const uint8_t *b, float *y, size_t ldy,
                                             const int32_t *bias, const float *mult);
void sk_qu8_qc8w_gemm_f32_8x32c4__avx512bw(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                           const uint8_t *b, float *y, size_t ldy,
                                           const int32_t *bias, const float *mult);
/* session 15 (qft), the AVX2 level on the same panels and bits: AVX-VNNI
 * (256-bit vpdpbusd) where the level's int8 GEMM is the AVX-VNNI one, else
 * vpmaddwd on bytes widened to 16 bits (exact for any int8 weights, as
 * qgemm's AVX2 kernel; avx2/qu8_qc8w_gemm_f32_8x32c4__avx2.c) */
void sk_qu8_qc8w_gemm_f32_8x32c4__avxvnni(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                          const uint8_t *b, float *y, size_t ldy,
                                          const int32_t *bias, const float *mult);
void sk_qu8_qc8w_gemm_f32_8x32c4__avx2(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                       const uint8_t *b, float *y, size_t ldy,
                                       const int32_t *bias, const float *mult);
void sk_qu8_pack_nhwc_32c4__scalar(const uint8_t *x, size_t C, size_t np, uint8_t flip,
                                   uint8_t *dst);
/* the Gemm form at batch < SK_QGEMMDQ_GEMV_N, with VNNI (session 14,
 * qgm): outputs [m_begin, m_end) of one row x, weights as the vector
 * operand (avx512/qu8_qc8w_gemv_f32_8c4__avx512vnni.c) */
#define SK_QGEMMDQ_GEMV_N 4
void sk_qu8_qc8w_gemv_f32_8c4__avx512vnni(size_t m_begin, size_t m_end, size_t kg,
                                          const int8_t *pa, const uint8_t *x, uint8_t flip,
                                          float *y, const int32_t *bias, const float *mult);
/* the B panel of np <= 32 channels-last pixels (C bytes each, C % 4 == 0,
 * C <= SK_QCONVDQ_MAXC), bytes ^ flip, pixels past np zero */
void sk_qu8_pack_nhwc_32c4__avx512f(const uint8_t *x, size_t C, size_t np, uint8_t flip,
                                    uint8_t *dst);

#endif
