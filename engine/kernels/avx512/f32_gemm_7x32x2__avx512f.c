/* f32_gemm_7x32x2__avx512f.c — the AVX-512 SGEMM microkernel on two 7-row
 * A panels at once (a 14 x 32 tile: panel a, then panel p->a2; config.h
 * gemm_mr7x2, sk_gemm_cfg.uk2; session 19, branch r12), for the pixel-rows
 * conv of a 7x7 map (fast_conv_pixrows.c), whose 49 rows are 7 panels of 7.
 *
 * Why: in pixel rows the weights are B; a B panel slice of K block x 32
 * floats (1536 x 32 = 196 KB for ResNet-50's 3x3 512 -> 512) does not stay
 * in the 48 KB L1 of the Intel Xeon of session 19, so the 7-row kernel
 * re-read it from L2 once per 7 rows (7 times per slice). Two panels a tile
 * read it 4 times (3 pairs and the 7th panel alone), and per k step 2 B loads
 * and 14 broadcasts feed 28 FMAs instead of 14 (28 accumulators + 2 B + 1
 * broadcast = 31 of the 32 zmm). Measured in bench/RESULTS.md (session 19,
 * r12). Each element is one FMA chain from zero over k in order, then the
 * same epilogue as the 7- and 8-row kernels: the same bits, whichever
 * tile an element lands in. No A-panel prefetch (p->apf is ignored, as in
 * the 12-row kernel); the driver's next-weights prefetch comes as two
 * ranges (p->pf.., p->pf2..: the pieces of the two 7-row tiles). */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/avx512/f32_tile_8x32__avx512f.h"
#include "kernels/gemm.h"

#define SK_ROWS(X) \
    X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#define SK_ROWS_A(X) X(0, 0) X(1, 1) X(2, 2) X(3, 3) X(4, 4) X(5, 5) X(6, 6)
#define SK_ROWS_A2(X) X(7, 0) X(8, 1) X(9, 2) X(10, 3) X(11, 4) X(12, 5) X(13, 6)

#define SK_X2_FMA_A(r, i)                                            \
    {                                                                \
        const __m512 av_ = _mm512_set1_ps(a[off_ * 7 + (i)]);       \
        c##r##0 = _mm512_fmadd_ps(av_, b0_, c##r##0);                \
        c##r##1 = _mm512_fmadd_ps(av_, b1_, c##r##1);                \
    }
#define SK_X2_FMA_A2(r, i)                                           \
    {                                                                \
        const __m512 av_ = _mm512_set1_ps(a2[off_ * 7 + (i)]);      \
        c##r##0 = _mm512_fmadd_ps(av_, b0_, c##r##0);                \
        c##r##1 = _mm512_fmadd_ps(av_, b1_, c##r##1);                \
    }
#define SK_X2_STEP(o)                                           \
    do {                                                        \
        const size_t off_ = (o);                                \
        const __m512 b0_ = _mm512_load_ps(b + off_ * 32);       \
        const __m512 b1_ = _mm512_load_ps(b + off_ * 32 + 16);  \
        SK_ROWS_A(SK_X2_FMA_A)                                  \
        SK_ROWS_A2(SK_X2_FMA_A2)                                \
    } while (0)

void sk_f32_gemm_7x32x2__avx512f(size_t kc, const float *a, const float *b, float *c,
                                 size_t ldc, int flags, const sk_ukernel_params *p)
{
    const float *a2 = p->a2;
    SK_TILE_X32_PREFETCH();
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL

    size_t k = kc;
    if (p->pf || p->pf2) {
        /* addresses as integers: the last step may pass the end (a
         * prefetch never faults; a pointer past its object would be UB) */
        uintptr_t pf = (uintptr_t)p->pf, pfe = (uintptr_t)p->pf_end;
        uintptr_t pf2 = (uintptr_t)p->pf2, pfe2 = (uintptr_t)p->pf2_end;
        const size_t ps = p->pf_step, ps2 = p->pf2_step;
        for (; k >= 2; k -= 2) {
            if (pf < pfe) {
                _mm_prefetch((const char *)pf, SK_GEMM_PF_HINT);
                _mm_prefetch((const char *)(pf + ps - 64), SK_GEMM_PF_HINT);
                pf += ps;
            }
            if (pf2 < pfe2) {
                _mm_prefetch((const char *)pf2, SK_GEMM_PF_HINT);
                _mm_prefetch((const char *)(pf2 + ps2 - 64), SK_GEMM_PF_HINT);
                pf2 += ps2;
            }
            SK_X2_STEP(0);
            SK_X2_STEP(1);
            a += 14;
            a2 += 14;
            b += 64;
        }
    }
    for (; k >= 2; k -= 2) {
        SK_X2_STEP(0);
        SK_X2_STEP(1);
        a += 14;
        a2 += 14;
        b += 64;
    }
    if (k)
        SK_X2_STEP(0);

    SK_TILE_8X32_EPILOGUE();
}
