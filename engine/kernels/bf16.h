/* bf16.h — the BF16 path's layout, its scalar rounding and the kernels.
 *
 * A BF16 GEMM (sk_gemm_cfg.kpair = 1) computes C = A * B with A and B
 * rounded to bfloat16 and every product summed in float32 by vdpbf16ps,
 * which multiplies pairs: lane j of the accumulator gains
 * a[2j+1]*b[2j+1], then a[2j]*b[2j] (each step a fused multiply-add,
 * rounded to nearest even; denormal inputs read as zero, denormal results
 * flushed to zero: Intel SDM, VDPBF16PS). The pair is two consecutive K
 * rows, so a panel holds rows (k, k+1), k even, as one 32-bit word per
 * column (low half row k, high half row k+1), the pairs one after the
 * other: pair k/2 of an nr-column panel is the nr words at (k/2) * nr, and
 * kc rows of a panel take sk_gemm_kslots(cfg, kc) = ceil(kc/2) slots of nr
 * (mr) words — half the FP32 panel. The driver (gemm.c) counts its panel
 * strides and K offsets in these slots and starts K blocks at even rows.
 * Packed weights are half their FP32 size; a B block the convolution
 * gathers is half the bytes to write and to hold in L1 / L2.
 *
 * The weights are rounded at load (sk_bf16_pack_a, sk_bf16_pack_b); the
 * activations as the convolution gathers its column block: it reads two
 * K rows of floats (from the image, or from its gather row) and writes
 * their pair row in one pass (sk_kconfig.bf16_pack2). A K not even pairs
 * its last row with zero. Rounding: to nearest even, denormals to zero
 * (as vcvtneps2bf16 does; sk_bf16_round below is its scalar twin). */
#ifndef SK_KERNELS_BF16_H
#define SK_KERNELS_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/config.h"
#include "kernels/gemm.h"

/* float -> bfloat16 bits as vcvtneps2bf16: NaN -> quiet NaN, a denormal
 * -> zero of its sign, else round to nearest even. */
static inline uint16_t sk_bf16_round(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40);
    if ((x & 0x7f800000u) == 0)
        return (uint16_t)((x >> 16) & 0x8000);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

static inline float sk_bf16_float(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* The 32-bit pair word of (lo: row k, hi: row k+1). */
static inline uint32_t sk_bf16_pair(float lo, float hi)
{
    return (uint32_t)sk_bf16_round(lo) | (uint32_t)sk_bf16_round(hi) << 16;
}

/* AMX chunks (session 19; sk_gemm_cfg.kchunk > 0, the AMX-BF16 config):
 * TDPBF16PS reads an A tile as rows of 16 pair words (one M row, 32 K rows
 * each), so such a config's A panels hold each chunk of kchunk / 2 pair
 * slots row-major — [mr rows][kchunk / 2 words], the last chunk of a panel
 * [mr][rest] — in the same words a panel of slots takes (slot s of the
 * chunk c = s / (kchunk/2) starts at c * (kchunk/2) * mr, as sk_gemm_kslots
 * counts), and the driver starts every K block at a chunk (gemm.c). B
 * panels are the layout above: pair slot rows of nr words are TDPBF16PS's B
 * tile rows. Word of pair slot s, row r of an A panel of `slots` slots: */
static inline size_t sk_bf16_a_word(const sk_gemm_cfg *cfg, size_t slots, size_t s, size_t r)
{
    const size_t mr = (size_t)cfg->mr;
    if (cfg->kchunk <= 0)
        return s * mr + r;
    const size_t cs = (size_t)cfg->kchunk / 2, c0 = s / cs * cs;
    const size_t w = slots - c0 < cs ? slots - c0 : cs; /* this chunk's width */
    return c0 * mr + r * w + (s - c0);
}

/* A (groups of M x K, row stride lda) into mr-row K-pair panels (the
 * layout above; group g at g * group_stride words). Returns 0 or
 * SK_ENOMEM. */
int sk_bf16_pack_a(const sk_gemm_cfg *cfg, const float *A, size_t lda, int M, int K, int groups,
                   sk_gemm_packed_a *out);

/* B (K x N, B(k, n) at B[k*sk + n*sn]) into nr-column K-pair panels over
 * the full K, panel q at q * sk_gemm_kslots(cfg, K) * nr words (pixel
 * rows' W'). Returns 0 or SK_ENOMEM. */
int sk_bf16_pack_b(const sk_gemm_cfg *cfg, const float *B, size_t sk, size_t sn, int K, int N,
                   sk_gemm_packed_b *out);

/* sk_bf16_pack2_fn (config.h) in plain C, for tests and as the model of
 * the vector one: one pair row of ceil(nb/nr) panels pstride words apart,
 * word c of panel q = pair(lo[q*nr + c], hi[q*nr + c]) (hi NULL: zero),
 * zero past column nb. Reads lo / hi at [0, nb) only. */
void sk_bf16_pack2_scalar(float *dst, size_t pstride, int nr, const float *lo, const float *hi,
                          int nb);

/* sk_bf16_taps2_fn (config.h) in plain C: the taps' values by their
 * definition, then sk_bf16_pack2_scalar. */
void sk_bf16_taps2_scalar(float *dst, size_t pstride, int nr, const sk_bf16_tap *t0,
                          const sk_bf16_tap *t1, const int32_t *oh, const int32_t *ow, int nb,
                          int H, int W);

/* AMX-BF16 (kernels/amx/, files named __amx; session 19): the 32 x 32
 * tile on AMX-chunk A panels (above) and the K-pair B panels, kc a multiple
 * of 32 except at K's end. The caller brackets each task of kernel calls
 * with sk_amx_task_begin (loads the tile configuration) and
 * sk_amx_task_end (TILERELEASE): sk_gemm_cfg.task_begin / task_end
 * (kernels/amx/amx_tile.h) */
void sk_bf16_gemm_32x32__amx(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                             int flags, const sk_ukernel_params *p);
void sk_amx_task_begin(void);
void sk_amx_task_end(void);
/* its edge kernels (sk_gemm_ntail_fn / sk_gemm_mtail_fn): a last panel of
 * <= 16 columns (rows <= 64 from two A panels), a block's last 1-31 rows
 * across B panels; each element the full kernel's chain and epilogue */
void sk_bf16_gemm_ntail__amx(size_t kc, const float *a0, const float *a1, const float *b,
                             float *c, size_t ldc, int rows, int cols, int flags,
                             const sk_ukernel_params *p);
void sk_bf16_gemm_mtail__amx(size_t kc, const float *a, const float *b, size_t bstride,
                             int npanels, float *c, size_t ldc, int rows, int ncols, int flags,
                             const sk_ukernel_params *p);

/* AVX512-BF16 kernels (kernels/avx512/, files named __avx512bf16) */
void sk_bf16_gemm_8x32__avx512bf16(size_t kc, const float *a, const float *b, float *c,
                                   size_t ldc, int flags, const sk_ukernel_params *p);
/* the same on 7-row A panels (pixel rows of 7x7 maps; config.h
 * bf16_gemm_mr7): the same bits per element */
void sk_bf16_gemm_7x32__avx512bf16(size_t kc, const float *a, const float *b, float *c,
                                   size_t ldc, int flags, const sk_ukernel_params *p);
void sk_bf16_gemm_ntail__avx512bf16(size_t kc, const float *a0, const float *a1, const float *b,
                                    float *c, size_t ldc, int rows, int cols, int flags,
                                    const sk_ukernel_params *p);
void sk_bf16_gemm_mtail__avx512bf16(size_t kc, const float *a, const float *b, size_t bstride,
                                    int npanels, float *c, size_t ldc, int rows, int ncols,
                                    int flags, const sk_ukernel_params *p);
void sk_bf16_pack2__avx512bf16(float *dst, size_t pstride, int nr, const float *lo,
                               const float *hi, int nb);
void sk_bf16_taps2__avx512bf16(float *dst, size_t pstride, int nr, const sk_bf16_tap *t0,
                               const sk_bf16_tap *t1, const int32_t *oh, const int32_t *ow,
                               int nb, int H, int W);
/* pixel rows' pair rows from input runs (config.h sk_bf16_runs2_fn;
 * bf16_pixrun2__avx512bf16.c) */
void sk_bf16_runs2__avx512bf16(float *dst, int mr, int step, const float *x, size_t in_px,
                               const sk_bf16_run *run, int kvol, int64_t k0, int64_t k1);
/* the int8 / bf16 ceiling loops live in peak.h */

#endif
