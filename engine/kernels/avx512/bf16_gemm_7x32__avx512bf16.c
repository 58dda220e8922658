/* bf16_gemm_7x32__avx512bf16.c — the BF16 GEMM microkernel on 7-row A
 * panels, for pixel rows of 7x7 maps (fast_conv_pixrows.c; config.h
 * bf16_gemm_mr7), the twin of f32_gemm_7x32__avx512f.c.
 *
 * Why: at batch 1 a 7x7 output is 49 pixel rows, 6 panels of 8 and one
 * row left, which the 8-row driver runs as mtail over every weight panel
 * of the block again after the panel loop, at one row's work per weight
 * load. 7 panels of 7 have no tail. 14 vdpbf16ps chains per pair step
 * (2 B loads + 7 broadcasts) still cover the latency on two pipes. Each
 * element is the 8-row kernel's chain (bf16_tile_x32__avx512bf16.h) and
 * epilogue: the same bits. */
#include <immintrin.h>

#include "kernels/avx512/bf16_tile_x32__avx512bf16.h"
#include "kernels/avx512/f32_tile_8x32__avx512f.h"
#include "kernels/bf16.h"

#define SK_MR 7
#define SK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6)

void sk_bf16_gemm_7x32__avx512bf16(size_t kc, const float *a, const float *b, float *c,
                                   size_t ldc, int flags, const sk_ukernel_params *p)
{
    SK_TILE_8X32_PREFETCH(); /* prefetches an 8th row too: harmless, never faults */
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL
    SK_BF16_X32_KLOOP();

    SK_TILE_8X32_EPILOGUE();
}
