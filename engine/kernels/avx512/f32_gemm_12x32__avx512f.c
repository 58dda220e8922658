/* f32_gemm_12x32__avx512f.c — the AVX-512 SGEMM microkernel on 12-row A
 * panels (config.h gemm_mr12; session 19, branch gk): the same K loop and
 * epilogue as f32_gemm_8x32__avx512f on 12 rows, 24 zmm accumulators.
 *
 * Why 12 rows (measured on the Intel Xeon of session 19, family 6 model
 * 167, bench/RESULTS.md): with the A panels streaming from L2 (a 200-row
 * block of a transformer's tokens, 25 panels, each tile reading its own
 * 8 KB) the 8-row tile ran at 219 GFLOP/s against 235 with A in L1, the
 * 12-row one at 237 either way (FMA ceiling 240-244): per k step 2 B loads
 * and 12 broadcasts feed 24 FMAs, half again the work per tile start and
 * per B load of the 8-row tile. 24 + 2 (B row) + broadcasts stay within
 * the 32 zmm. Each element is one FMA chain from zero over k in order,
 * then the same epilogue (+ C, bias, residual, clamp) as the 8-row kernel:
 * the same bits, whichever tile an element lands in. */
#include <immintrin.h>

#include "kernels/avx512/f32_tile_8x32__avx512f.h"
#include "kernels/gemm.h"

#define SK_MR 12
#define SK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

void sk_f32_gemm_12x32__avx512f(size_t kc, const float *a, const float *b, float *c,
                                size_t ldc, int flags, const sk_ukernel_params *p)
{
    SK_TILE_X32_PREFETCH();
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL

    SK_TILE_X32_KLOOP();

    SK_TILE_8X32_EPILOGUE();
}
