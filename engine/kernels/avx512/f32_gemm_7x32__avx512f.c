/* f32_gemm_7x32__avx512f.c — the AVX-512 SGEMM microkernel on 7-row A
 * panels, for the pixel-rows conv of a 7x7 map (fast_conv_pixrows.c,
 * issue 24 session 16).
 *
 * Why 7 rows: at batch 1 a 7x7 output is 49 pixel rows = 6 panels of 8
 * and one row left, which the 8-row driver runs as `mtail` across every B
 * panel of the block *after* the panel loop — so it re-reads the block's
 * weights (W', 1.5 MB per task at K = 1536) from L3 at one row's FMAs per
 * 128-byte B row, load-bound. 7 panels of 7 rows have no tail: each B
 * panel slice is read from DRAM once and reused by the 7 tiles from L2.
 * 14 accumulators still hide the 4-cycle FMA latency on two pipes (>= 8
 * needed), and per k step 2 B loads + 7 broadcasts feed 14 FMAs: the same
 * FMAs per row as 8 x 32. Each element is one FMA chain from zero over k in
 * order, then the same epilogue as f32_gemm_8x32__avx512f: the same bits
 * as the 8-row kernel and its mtail. */
#include <immintrin.h>

#include "kernels/avx512/f32_tile_8x32__avx512f.h"
#include "kernels/gemm.h"

#define SK_MR 7
#define SK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6)

void sk_f32_gemm_7x32__avx512f(size_t kc, const float *a, const float *b, float *c,
                               size_t ldc, int flags, const sk_ukernel_params *p)
{
    SK_TILE_8X32_PREFETCH(); /* prefetches an 8th row too: harmless, never faults */
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL

    SK_TILE_X32_KLOOP();

    SK_TILE_8X32_EPILOGUE();
}
