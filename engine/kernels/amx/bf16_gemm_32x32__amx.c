/* bf16_gemm_32x32__amx.c — the BF16 GEMM microkernel on AMX-BF16 (Intel
 * Sapphire / Granite Rapids; session 19, branch amx). Layout: kernels/bf16.h
 * ("AMX chunks"): B is the K-pair panel of the vdpbf16ps path unchanged (pair
 * slot s of a 32-column panel = 32 words at s * 32), which is exactly two
 * TDPBF16PS B tiles (16 slots x 16 columns, rows 128 bytes apart); A panels
 * of 32 rows hold each chunk of 16 pair slots (32 K rows) row-major, [32
 * rows][16 words] (the last chunk of a panel [32][rem]), so a chunk's rows
 * 0-15 and 16-31 are two A tiles of 64-byte rows.
 *
 * The tile: C 32 x 32 as four 16 x 16 fp32 tiles (tmm0-3), A tmm4-5, B
 * tmm6-7: per chunk 4 tile loads (4 KB) for 4 TDPBF16PS (32 x 32 x 32 MACs,
 * 16x the MACs of a zmm vdpbf16ps per instruction). Why it is fast
 * (measured, bench/RESULTS.md session 19): on this Granite Rapids-class
 * Xeon vdpbf16ps zmm runs at 121 G pair-MAC/s a core, half the FP32 FMA
 * loop; the AMX ceiling loop (peak_bf16__amx.c) at several T/s.
 *
 * Bits: TDPBF16PS as measured here (tests/unit/bf16_amx_emu.h; not the
 * SDM's older per-pair pseudo-code): per instruction and element two fp32
 * chains from +0, the even halves' and the odd halves' products over the
 * chunk's 16 pairs in order (FMA, RNE, DAZ/FTZ), then C += (even + odd).
 * C is loaded as the accumulator when the driver accumulates (SK_UK_ACCUM),
 * so one element's sum is a chain of per-chunk sums over the whole K in
 * chunk order, whatever the driver's K blocks (cfg->kchunk = 32 keeps them
 * on chunk boundaries) or the thread count. A last chunk of rem < 16 pairs
 * is copied into zero-padded tiles (the zeros are part of the sum: +0 pairs).
 *
 * The tile configuration (palette 1, eight 16 x 64-byte tiles) is loaded
 * by the caller at the start of each GEMM task and released at its end
 * (sk_amx_task_begin / _end, amx_tile.h); the process asked the kernel for
 * the tile state when config.c chose this kernel (sk_cpu_amx_request). Compiled with -mamx-tile -mamx-bf16
 * (Makefile rule for *__amx.c), called only through a config whose CPU has
 * AMX-BF16 and the granted state (config.c). */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/bf16.h"

#include "amx_tile.h"

/* the GEMM task hooks (sk_gemm_cfg.task_begin / task_end, amx_tile.h): the
 * kernels below assume the configuration these load */
void sk_amx_task_begin(void) { sk_amx_load_config(); }
void sk_amx_task_end(void) { sk_amx_release(); }

#define SK_AMX_MR 32
#define SK_AMX_NR 32

/* One chunk: A rows 0-15 / 16-31 at a / a + 16 x 16 words (64-byte rows),
 * B columns 0-15 / 16-31 at b / b + 16 (128-byte rows), into tiles 0-3;
 * half: columns 0-15 only (tiles 0 and 2, B tile 6) */
static inline __attribute__((always_inline)) void amx_chunk(const uint32_t *a, const uint32_t *b,
                                                            int half)
{
    _tile_loadd(4, a, 64);
    _tile_loadd(6, b, 128);
    _tile_dpbf16ps(0, 4, 6);
    if (!half) {
        _tile_loadd(7, b + 16, 128);
        _tile_dpbf16ps(1, 4, 7);
    }
    _tile_loadd(5, a + 16 * 16, 64);
    _tile_dpbf16ps(2, 5, 6);
    if (!half)
        _tile_dpbf16ps(3, 5, 7);
}

/* The chunks of one K block into the accumulator tiles 0-3 (C rows 0-15 /
 * 16-31 x columns 0-15 / 16-31), already holding C or zero. half: only
 * columns 0-15 (tiles 0 and 2, B tile 6): an edge panel of <= 16 columns */
static inline __attribute__((always_inline)) void amx_chunks(size_t kc, const float *a,
                                                             const float *b, int half)
{
    const size_t pairs = (kc + 1) / 2, nfull = pairs / 16, rem = pairs % 16;
    const uint32_t *ap = (const uint32_t *)a, *bp = (const uint32_t *)b;
    for (size_t q = 0; q < nfull; q++) {
        amx_chunk(ap, bp, half);
        ap += SK_AMX_MR * 16;
        bp += 16 * SK_AMX_NR;
    }
    if (rem) {
        /* the last chunk, [32][rem] of A and rem slots of B, zero-padded */
        _Alignas(64) uint32_t at[SK_AMX_MR * 16], bt[16 * SK_AMX_NR];
        /* masked AVX-512 copies, not memset / memcpy: tmm0-3 hold live
         * accumulators here, and a call may clobber tiles (amx_tile.h) */
        const __mmask16 mr = (__mmask16)((1u << rem) - 1);
        for (int r = 0; r < SK_AMX_MR; r++)
            _mm512_store_si512((void *)(at + r * 16),
                               _mm512_maskz_loadu_epi32(mr, ap + (size_t)r * rem));
        for (size_t s = 0; s < 16; s++) {
            const __m512i z = _mm512_setzero_si512();
            _mm512_store_si512((void *)(bt + s * SK_AMX_NR),
                               s < rem ? _mm512_loadu_si512(bp + s * SK_AMX_NR) : z);
            _mm512_store_si512((void *)(bt + s * SK_AMX_NR + 16),
                               s < rem ? _mm512_loadu_si512(bp + s * SK_AMX_NR + 16) : z);
        }
        SK_AMX_MEM_BARRIER();
        amx_chunk(at, bt, half);
    }
}

/* the epilogue of the FP32 kernels (f32_tile_8x32__avx512f.h) on rows x
 * (m0 | m1) of t (32 x 32) into c: + bias, + residual, clamp (NaN passes);
 * the masks keep every read and write inside the edge's columns */
static inline __attribute__((always_inline)) void amx_epilogue(const float *t, float *c,
                                                               size_t ldc, int rows, __mmask16 m0,
                                                               __mmask16 m1,
                                                               const sk_ukernel_params *p)
{
    const __m512 lo = _mm512_set1_ps(p->min), hi = _mm512_set1_ps(p->max);
    const __m512 bc0 = p->bias_col ? _mm512_maskz_loadu_ps(m0, p->bias_col) : _mm512_setzero_ps();
    const __m512 bc1 =
        p->bias_col ? _mm512_maskz_loadu_ps(m1, p->bias_col + 16) : _mm512_setzero_ps();
    for (int r = 0; r < rows; r++) {
        __m512 v0 = _mm512_load_ps(t + r * SK_AMX_NR), v1 = _mm512_load_ps(t + r * SK_AMX_NR + 16);
        if (p->bias_row) {
            const __m512 br = _mm512_set1_ps(p->bias_row[r]);
            v0 = _mm512_add_ps(v0, br);
            v1 = _mm512_add_ps(v1, br);
        }
        if (p->bias_col) {
            v0 = _mm512_add_ps(v0, bc0);
            v1 = _mm512_add_ps(v1, bc1);
        }
        if (p->res) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, p->res + r * p->ldres));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, p->res + r * p->ldres + 16));
        }
        v0 = _mm512_min_ps(hi, _mm512_max_ps(lo, v0));
        v1 = _mm512_min_ps(hi, _mm512_max_ps(lo, v1));
        _mm512_mask_storeu_ps(c + r * ldc, m0, v0);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, v1);
    }
}

void sk_bf16_gemm_32x32__amx(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                             int flags, const sk_ukernel_params *p)
{
    const size_t ldcb = ldc * sizeof(float);
    if (flags & SK_UK_ACCUM) {
        _tile_loadd(0, c, ldcb);
        _tile_loadd(1, c + 16, ldcb);
        _tile_loadd(2, c + 16 * ldc, ldcb);
        _tile_loadd(3, c + 16 * ldc + 16, ldcb);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    amx_chunks(kc, a, b, 0);
    if (!(flags & SK_UK_EPI)) {
        _tile_stored(0, c, ldcb);
        _tile_stored(1, c + 16, ldcb);
        _tile_stored(2, c + 16 * ldc, ldcb);
        _tile_stored(3, c + 16 * ldc + 16, ldcb);
        SK_AMX_MEM_BARRIER();
        return;
    }
    _Alignas(64) float t[SK_AMX_MR * SK_AMX_NR];
    _tile_stored(0, t, SK_AMX_NR * sizeof(float));
    _tile_stored(1, t + 16, SK_AMX_NR * sizeof(float));
    _tile_stored(2, t + 16 * SK_AMX_NR, SK_AMX_NR * sizeof(float));
    _tile_stored(3, t + 16 * SK_AMX_NR + 16, SK_AMX_NR * sizeof(float));
    SK_AMX_MEM_BARRIER();
    amx_epilogue(t, c, ldc, SK_AMX_MR, 0xffff, 0xffff, p);
}

/* An edge tile: rows (<= 32) x cols (<= 32) of c from one A panel and one
 * B panel, through a 32 x 32 buffer: C (when accumulating) copied in and
 * loaded as the accumulator, the chunks, the epilogue or a plain store of
 * the edge only — each element the full kernel's chain and epilogue (the
 * same bits); an edge of <= 16 columns runs half the tiles. Replaces the
 * driver's buffered tail tile (a full tile, two copies of the edge and the
 * scalar epilogue) */
static void amx_edge(size_t kc, const float *a, const float *b, float *c, size_t ldc, int rows,
                     int cols, int flags, const sk_ukernel_params *p)
{
    const __mmask16 m0 = (__mmask16)(cols >= 16 ? 0xffff : (1u << cols) - 1);
    const __mmask16 m1 = (__mmask16)(cols >= 32 ? 0xffff : cols > 16 ? (1u << (cols - 16)) - 1 : 0);
    const int half = cols <= 16;
    _Alignas(64) float t[SK_AMX_MR * SK_AMX_NR];
    if (flags & SK_UK_ACCUM) {
        for (int r = 0; r < SK_AMX_MR; r++) {
            _mm512_store_ps(t + r * SK_AMX_NR,
                            r < rows ? _mm512_maskz_loadu_ps(m0, c + r * ldc) : _mm512_setzero_ps());
            _mm512_store_ps(t + r * SK_AMX_NR + 16, r < rows
                                                        ? _mm512_maskz_loadu_ps(m1, c + r * ldc + 16)
                                                        : _mm512_setzero_ps());
        }
        SK_AMX_MEM_BARRIER();
        _tile_loadd(0, t, SK_AMX_NR * sizeof(float));
        _tile_loadd(1, t + 16, SK_AMX_NR * sizeof(float));
        _tile_loadd(2, t + 16 * SK_AMX_NR, SK_AMX_NR * sizeof(float));
        _tile_loadd(3, t + 16 * SK_AMX_NR + 16, SK_AMX_NR * sizeof(float));
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    if (half)
        amx_chunks(kc, a, b, 1);
    else
        amx_chunks(kc, a, b, 0);
    _tile_stored(0, t, SK_AMX_NR * sizeof(float));
    _tile_stored(1, t + 16, SK_AMX_NR * sizeof(float));
    _tile_stored(2, t + 16 * SK_AMX_NR, SK_AMX_NR * sizeof(float));
    _tile_stored(3, t + 16 * SK_AMX_NR + 16, SK_AMX_NR * sizeof(float));
    SK_AMX_MEM_BARRIER();
    if (flags & SK_UK_EPI) {
        amx_epilogue(t, c, ldc, rows, m0, m1, p);
        return;
    }
    for (int r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, _mm512_load_ps(t + r * SK_AMX_NR));
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, _mm512_load_ps(t + r * SK_AMX_NR + 16));
    }
}

/* sk_gemm_mtail_fn: the block's last 1-31 rows across npanels B panels
 * (the A panel's rows past the matrix are zero) */
void sk_bf16_gemm_mtail__amx(size_t kc, const float *a, const float *b, size_t bstride,
                             int npanels, float *c, size_t ldc, int rows, int ncols, int flags,
                             const sk_ukernel_params *p)
{
    for (int q = 0; q < npanels && q * SK_AMX_NR < ncols; q++) {
        const int cols = ncols - q * SK_AMX_NR < SK_AMX_NR ? ncols - q * SK_AMX_NR : SK_AMX_NR;
        sk_ukernel_params pq = *p;
        if (pq.bias_col)
            pq.bias_col += q * SK_AMX_NR;
        if (pq.res)
            pq.res += q * SK_AMX_NR;
        amx_edge(kc, a, b + (size_t)q * bstride, c + q * SK_AMX_NR, ldc, rows, cols, flags, &pq);
    }
}

/* sk_gemm_ntail_fn: a last panel of <= 16 columns, rows (<= 64) from the A
 * panels a0 (rows 0-31) and a1 (32-63) */
void sk_bf16_gemm_ntail__amx(size_t kc, const float *a0, const float *a1, const float *b,
                             float *c, size_t ldc, int rows, int cols, int flags,
                             const sk_ukernel_params *p)
{
    amx_edge(kc, a0, b, c, ldc, rows < SK_AMX_MR ? rows : SK_AMX_MR, cols, flags, p);
    if (rows > SK_AMX_MR) {
        sk_ukernel_params p1 = *p;
        if (p1.bias_row)
            p1.bias_row += SK_AMX_MR;
        if (p1.res)
            p1.res += SK_AMX_MR * p1.ldres;
        amx_edge(kc, a1, b, c + SK_AMX_MR * ldc, ldc, rows - SK_AMX_MR, cols, flags, &p1);
    }
}
