/* qgemm.h — the int8 GEMM: u8 activations x s8 weights -> int32, requantized
 * per output channel in the microkernel's epilogue (issue 22).
 *
 *   Y[m][n] = requant(sum_k W[m][k] * X[k][n] + bias[m])
 *
 * W (M x K, int8, the weights of a conv / QLinearMatMul) is packed once at
 * load; X (K x N, uint8: im2col columns, or an int8 tensor flipped to uint8
 * by x ^ 0x80, zero point + 128) is packed per run. Both layouts group K by 4
 * ("c4"), the unit of vpdpbusd, which sums 4 u8 x s8 products into one int32
 * lane:
 *   A panel (rows m0 .. m0+mr-1): for each k group g, mr rows x 4 bytes
 *     W[m0+r][4g .. 4g+3]                      (mr * Kp bytes, Kp = K up to 4)
 *   B panel (cols n0 .. n0+nr-1): for each k group g, nr cols x 4 bytes
 *     X[4g .. 4g+3][n0+j]                      (nr * Kp bytes)
 * Rows / columns / k past the edges are packed as 0 (never stored).
 * The activation zero point is not subtracted per product: the caller folds
 * -x_zp * sum_k W[m][k] (sk_qgemm_row_sums) into bias[m] at load, so the K
 * loop is pure vpdpbusd. Weights must have zero point 0 (symmetric, what
 * quantizers write for int8 weights); other weights stay on the reference.
 *
 * Requantization, the float arithmetic onnxruntime's QLinearConv reference
 * and ref/qlinear.c use, in this order (no FMA contraction: the build is
 * -std=c11, whose default is -ffp-contract=off):
 *   t  = clamp(nearbyint((float)acc * mult[m]) + y1_zp, lo1, hi1)
 * then, without a residual, y = clamp(t, lo, hi); with one (the skip
 * connection, QLinearAdd / DQ-Add-Q semantics):
 *   v  = (float)(t - y1_zp) * y1_scale + (float)(r - r_zp) * r_scale
 *   y  = clamp(nearbyint(v / y_scale) + y_zp, lo, hi)
 * lo/hi hold the output type's range narrowed by a fused ReLU (lo = y_zp) or
 * Clip. acc + bias must fit int32: the loader checks |bias| + 255*128*K.
 *
 * Threads split the output into (mr x nr) tiles; every element is computed
 * by one microkernel call from zero over all of K in order, so the bits do
 * not depend on the thread count or on which tile an element lands in. */
#ifndef SK_KERNELS_QGEMM_H
#define SK_KERNELS_QGEMM_H

#include <stddef.h>
#include <stdint.h>

struct sk_pool;

/* The epilogue of one GEMM. Per-row arrays have at least M entries. */
typedef struct sk_qgemm_params {
    const int32_t *bias;  /* bias[m] with -x_zp * rowsum folded in */
    const float *mult;    /* x_scale * w_scale[m] / y1_scale, in float32 */
    float y1_zp;          /* zero point of the conv's own output */
    float lo1, hi1;       /* its clamp (type range; + activation without residual) */
    int out_s8;           /* Y is int8 (else uint8) */
    /* fused residual: res != NULL. The residual has Y's layout (ldr). */
    int res_s8;           /* residual int8 (else uint8) */
    float y1_scale, r_scale, r_zp, y_scale, y_zp;
    float lo, hi;         /* final clamp (with residual) */
    /* NULL, or a 256-byte table applied to every output byte last (by the
     * driver, on each tile while it is in L1): y = lut[y (+ 128 when int8)]
     * — a following QDQ ReLU / requantization merged exactly */
    const uint8_t *lut;
    /* with a residual, how the AVX-512 kernels (NHWC and NCHW, through
     * qu8_requant16__avx512f.h) compute v / y_scale (the 256-bit kernels and
     * the scalar reference always divide): SK_QRES_DIV the
     * division; SK_QRES_MUL v * y_rcp, y_rcp = 1 / y_scale. Set at load by
     * sk_qgemm_res_fast, only where every (t, r) pair the layer can meet
     * gives the division's output byte (checked exhaustively). */
    int res_mode;
    float y_rcp;
    /* session 16, SK_QRES_FMA: q = fma(t, res_a, fma(r, res_b, res_c)) with
     * res_a = y1_scale / y_scale, res_b = r_scale / y_scale, res_c = -r_zp *
     * res_b — 3 operations fewer a vector than the multiply (the residual
     * epilogue of a K = 64 1x1 conv is ~16 operations against 16 vpdpbusd) */
    float res_a, res_b, res_c;
} sk_qgemm_params;

enum { SK_QRES_DIV, SK_QRES_MUL, SK_QRES_FMA };

/* Picks p->res_mode for a layer with a residual (its lo1/hi1, y1 / r / y
 * scales and zero points, lo/hi and res_s8 set): the FMA form where its
 * output equals the division's for every t in [lo1, hi1] and every residual
 * byte (SKIPSERVE_INT8_RES_FMA=0: never, A/B), else the multiply where that
 * does — 256 x 256 cases at most each, ~0.4 ms at load (qres_fast.c).
 * Returns the mode chosen. */
int sk_qgemm_res_fast(sk_qgemm_params *p);

/* One microkernel call: the tile of rows m0 .. m0+mr-1 (mr <= MR) and columns
 * n0 .. n0+nr-1 (nr <= NR) from one A panel and one B panel of kg k groups.
 * y / res point at element (m0, n0), rows ldy / ldr bytes apart; m0 indexes
 * the per-row parameters. */
typedef void (*sk_qgemm_uk_fn)(size_t mr, size_t nr, size_t kg, const int8_t *a,
                               const uint8_t *b, void *y, size_t ldy, const void *res,
                               size_t ldr, size_t m0, const sk_qgemm_params *p);

/* A level's int8 GEMM (a member of sk_kconfig). uk NULL: the scalar
 * reference of the same layout (sk_qu8_qc8w_gemm_ref). */
typedef struct sk_qgemm_cfg {
    int mr, nr;
    sk_qgemm_uk_fn uk;
    const char *name; /* the kernel's name, for --dump and the benches */
    int lut_mode;     /* the loop of table lookups (sk_u8_lut): SK_LUT_SCALAR,
                         SK_LUT_VBMI (AVX-512 VBMI) or SK_LUT_AVX2 (vpshufb) */
} sk_qgemm_cfg;

static inline size_t sk_qgemm_kp(size_t K) { return (K + 3) & ~(size_t)3; }

/* Bytes of the packed A (all panels) and of one packed B panel. */
size_t sk_qgemm_packed_a_bytes(const sk_qgemm_cfg *c, size_t M, size_t K);
static inline size_t sk_qgemm_b_panel_bytes(const sk_qgemm_cfg *c, size_t K)
{
    return (size_t)c->nr * sk_qgemm_kp(K);
}
/* W row-major (row m at w + m * ldw) -> A panels. */
void sk_qgemm_pack_a(const sk_qgemm_cfg *c, size_t M, size_t K, const int8_t *w, size_t ldw,
                     int8_t *dst);
/* X row-major K x N (row k at x + k * ldx), each byte ^ flip (0, or 0x80
 * for int8 data) -> the B panels of columns [n0, n0 + ncols) (whole panels:
 * n0 a multiple of nr), panel after panel. */
void sk_qgemm_pack_b(const sk_qgemm_cfg *c, size_t K, size_t n0, size_t ncols, size_t N,
                     const uint8_t *x, size_t ldx, uint8_t flip, uint8_t *dst);
/* k group g (rows 4g .. 4g+3 of X, each a row of N bytes; NULL past K) of
 * every B panel of X's N columns: lets a caller gather im2col rows four at
 * a time and pack them while they are in cache. */
void sk_qgemm_pack_b_group(const sk_qgemm_cfg *c, size_t K, size_t g, size_t N,
                           const uint8_t *const rows[4], uint8_t flip, uint8_t *dst);
/* sums[m] = sum_k W[m][k] */
void sk_qgemm_row_sums(size_t M, size_t K, const int8_t *w, size_t ldw, int32_t *sums);
/* The per-row requantization constants of a layer with constant symmetric
 * int8 weights, rows r = 0 .. R-1 of K terms, `per` consecutive rows per
 * output channel c = r / per (ConvTranspose: kh*kw rows a channel):
 *   bias[r] = b[c] (0 when b is NULL) - x_zp(as u8) * sums[r]
 *   mult[r] = x_scale * w_scale[c, or 0 when nws == 1] / y_scale
 * the multiplier in float32 exactly as ref/qlinear.c computes it. Returns 0
 * when an accumulator could leave int32 (|acc| <= 255 * 128 * K) or a
 * multiplier is not finite or its weight scale is 0: the layer then stays on
 * the reference kernel. */
int sk_qgemm_fold_requant(size_t R, size_t K, size_t per, const int32_t *sums,
                          const int32_t *b, int32_t xzp_u8, float xsc, const float *ws,
                          size_t nws, float ysc, int32_t *bias, float *mult);
/* p's output side for an output of type int8 (else uint8) with zero point
 * yzp and no residual: clamps to the type's range */
void sk_qgemm_params_plain(sk_qgemm_params *p, int out_s8, int32_t yzp);

/* Constant symmetric int8 weights made ready at load: the GEMM's A panels
 * and the per-row requantization (sk_qgemm_fold_requant) behind a plain
 * output side (sk_qgemm_params_plain), what _QConvTranspose and
 * QLinearMatMul run with. */
typedef struct sk_qgemm_weights {
    int8_t *pa;
    int32_t *bias;
    float *mult;
    sk_qgemm_params prm; /* bias / mult point at the two above */
} sk_qgemm_weights;
/* From weights stored K-major, w[k * R + r] (ConvTranspose's [C][M*kh*kw],
 * MatMul's B [K][N]); per, b, x / w / y parameters as sk_qgemm_fold_requant.
 * 1 made, 0 the layer does not fit the int8 GEMM (nothing kept), SK_ENOMEM
 * (-2). */
int sk_qgemm_weights_kmajor(sk_qgemm_weights *qw, const sk_qgemm_cfg *q, size_t R, size_t K,
                            const int8_t *w, size_t per, const int32_t *b, int32_t xzp_u8,
                            float xsc, const float *ws, size_t nws, float ysc, int out_s8,
                            int32_t yzp);
void sk_qgemm_weights_free(sk_qgemm_weights *qw);

/* Y (M x N, rows ldy bytes) from packed A and packed B (all N's panels),
 * tiles over the pool's threads. res: NULL, or the residual (rows ldr). */
void sk_qgemm_run(const sk_qgemm_cfg *c, struct sk_pool *pool, size_t M, size_t N, size_t K,
                  const int8_t *pa, const uint8_t *pb, void *y, size_t ldy, const void *res,
                  size_t ldr, const sk_qgemm_params *p);

/* The same for `items` independent products sharing A (a batch of images):
 * item i reads B at pb + i * pb_stride and writes Y at y + i * y_stride
 * (residual at res + i * r_stride); one split of all their tiles over the
 * threads, so a batch costs one synchronization, not one per image. */
void sk_qgemm_run_batch(const sk_qgemm_cfg *c, struct sk_pool *pool, size_t items, size_t M,
                        size_t N, size_t K, const int8_t *pa, const uint8_t *pb,
                        size_t pb_stride, void *y, size_t ldy, size_t y_stride, const void *res,
                        size_t ldr, size_t r_stride, const sk_qgemm_params *p);

/* The scalar reference microkernel of an (MR x NR) layout: the arithmetic
 * every SIMD kernel must reproduce bit for bit. */
void sk_qu8_qc8w_gemm_ref(int MR, int NR, size_t mr, size_t nr, size_t kg, const int8_t *a,
                          const uint8_t *b, void *y, size_t ldy, const void *res, size_t ldr,
                          size_t m0, const sk_qgemm_params *p);

/* The SIMD microkernels (x86-64 builds; called through a level's config). */
void sk_qu8_qc8w_gemm_8x32c4__avx512vnni(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                         const uint8_t *b, void *y, size_t ldy, const void *res,
                                         size_t ldr, size_t m0, const sk_qgemm_params *p);
void sk_qu8_qc8w_gemm_6x16c4__avxvnni(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                      const uint8_t *b, void *y, size_t ldy, const void *res,
                                      size_t ldr, size_t m0, const sk_qgemm_params *p);
void sk_qu8_qc8w_gemm_4x8c4__avx2(size_t mr, size_t nr, size_t kg, const int8_t *a,
                                  const uint8_t *b, void *y, size_t ldy, const void *res,
                                  size_t ldr, size_t m0, const sk_qgemm_params *p);

/* y[i] = lut[x[i] ^ flip], i < n (x == y allowed): AVX-512 VBMI (x86-64
 * builds). sk_u8_lut runs it when its config says the CPU has VBMI
 * (sk_qgemm_cfg.lut_mode, at the AVX-512 level), else the scalar loop. */
void sk_u8_lut__avx512vbmi(const uint8_t *lut, uint8_t flip, const uint8_t *x, uint8_t *y,
                           size_t n);
void sk_u8_lut(int lut_mode, const uint8_t *lut, uint8_t flip, const uint8_t *x, uint8_t *y,
               size_t n);
/* session 15 (qft): the same by AVX2 vpshufb (avx2/u8_lut__avx2.c), run
 * when `lut_mode` (sk_qgemm_cfg.lut_mode) is SK_LUT_AVX2: config.c sets that
 * at the AVX2 level and at an AVX-512 level without VBMI
 * (SKIPSERVE_LUT_AVX2=0 at start-up: the scalar loop, A/B) */
enum { SK_LUT_SCALAR, SK_LUT_VBMI, SK_LUT_AVX2 }; /* sk_qgemm_cfg.lut_mode */
void sk_u8_lut__avx2(const uint8_t *lut, uint8_t flip, const uint8_t *x, uint8_t *y, size_t n);

/* The requantization of one accumulator (acc + bias already summed), as
 * above; r is the residual byte's value (ignored without residual). */
#include <math.h>
static inline int32_t sk_qgemm_requant1(int32_t acc, float mult, int has_res, int32_t r,
                                        const sk_qgemm_params *p)
{
    float t = nearbyintf((float)acc * mult) + p->y1_zp;
    t = t < p->lo1 ? p->lo1 : t > p->hi1 ? p->hi1 : t;
    if (has_res) {
        float v = (t - p->y1_zp) * p->y1_scale + ((float)r - p->r_zp) * p->r_scale;
        t = nearbyintf(v / p->y_scale) + p->y_zp;
        t = t < p->lo ? p->lo : t > p->hi ? p->hi : t;
    }
    return (int32_t)t;
}

#endif
