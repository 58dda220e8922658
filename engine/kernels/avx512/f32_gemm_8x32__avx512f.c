/* f32_gemm_8x32__avx512f.c — the AVX-512 SGEMM microkernel.
 *
 * Why 8 x 32: 8 rows x 2 zmm = 16 accumulators; two FMA pipes with a 4-cycle
 * latency need >= 8 in flight, so 16 keep both pipes busy with room to
 * spare, and 16 + 2 (B row) + 1 (broadcast) registers stay far below the 32
 * zmm. Each k step is 2 B loads + 8 broadcasts for 16 FMAs (10 loads per 8
 * FMA cycles, within 2 loads/cycle). 8 rows divide every channel count of
 * ResNet / U-Net exactly (64, 128, ...), so no A rows are wasted on padding,
 * which a 14-row kernel would (64 = 4x14 + 8: 9% waste). */
#include <immintrin.h>

#include "kernels/avx512/f32_tile_8x32__avx512f.h"
#include "kernels/gemm.h"

#define SK_MR 8
#define SK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

void sk_f32_gemm_8x32__avx512f(size_t kc, const float *a, const float *b, float *c,
                               size_t ldc, int flags, const sk_ukernel_params *p)
{
    SK_TILE_8X32_PREFETCH();
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL

    SK_TILE_X32_KLOOP();

    SK_TILE_8X32_EPILOGUE();
}
