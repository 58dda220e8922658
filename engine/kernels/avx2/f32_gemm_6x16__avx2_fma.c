/* f32_gemm_6x16__avx2_fma.c — the AVX2 + FMA3 SGEMM microkernel.
 *
 * Why 6 x 16: 6 rows x 2 ymm = 12 accumulators, plus 2 registers for the B
 * row and 1 for the broadcast A value = 15 of the 16 ymm registers. Two FMA
 * pipes with a 4-cycle latency need >= 8 independent accumulators to stay
 * busy; 12 leave slack. Each k step does 2 B loads + 6 broadcasts for 12
 * FMAs, well under the 2-3 loads per cycle Zen 3 / Skylake sustain, so the
 * loop is FMA-bound: 16 floats of B are reused 6 times from registers and
 * each A value 16 times. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/gemm.h"

/* The next weights' lines of one prefetch step (the first and last line of
 * pf_step bytes) and the step after it; pfon 2: into L2 (prefetcht1, see
 * sk_f32_gemm_6x16__avx2_fma_pfl2), else L1. A hint needs a constant, so
 * each branch names its own. */
static inline __attribute__((always_inline)) uintptr_t pf_lines(uintptr_t pf, uintptr_t pfe,
                                                                  size_t ps, const int pfon)
{
    if (pf >= pfe)
        return pf;
    if (pfon == 2) {
        _mm_prefetch((const char *)pf, _MM_HINT_T1);
        _mm_prefetch((const char *)(pf + ps - 64), _MM_HINT_T1);
    } else {
        _mm_prefetch((const char *)pf, _MM_HINT_T0);
        _mm_prefetch((const char *)(pf + ps - 64), _MM_HINT_T0);
    }
    return pf + ps;
}

/* The tile, with (pfon 1: into L1, 2: into L2) or without the driver's next-weights prefetch
 * (sk_ukernel_params.pf / pf_end / pf_step, gemm.c pf_params: one or two
 * lines per two k steps). Inlined into the two kernels below, so the one
 * without it compiles to the loop it always was. */
static inline __attribute__((always_inline)) void
gemm_6x16(size_t kc, const float *a, const float *b, float *c, size_t ldc, int flags,
          const sk_ukernel_params *p, const int pfon)
{
    /* C (when accumulating) and the residual are read after the K loop,
     * usually from far away in memory: start fetching them now so the
     * misses overlap the FMAs instead of stalling the tile's end. */
    if (flags & SK_UK_ACCUM)
        for (int r = 0; r < 6; r++) {
            _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + r * ldc + 15), _MM_HINT_T0);
        }
    if ((flags & SK_UK_EPI) && p->res)
        for (int r = 0; r < 6; r++) {
            _mm_prefetch((const char *)(p->res + r * p->ldres), _MM_HINT_T0);
            _mm_prefetch((const char *)(p->res + r * p->ldres + 15), _MM_HINT_T0);
        }
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

#define SK_STEP(off)                                                   \
    do {                                                               \
        const __m256 b0 = _mm256_load_ps(b + (off) * 16);              \
        const __m256 b1 = _mm256_load_ps(b + (off) * 16 + 8);          \
        __m256 av = _mm256_broadcast_ss(a + (off) * 6 + 0);            \
        c00 = _mm256_fmadd_ps(av, b0, c00);                            \
        c01 = _mm256_fmadd_ps(av, b1, c01);                            \
        av = _mm256_broadcast_ss(a + (off) * 6 + 1);                   \
        c10 = _mm256_fmadd_ps(av, b0, c10);                            \
        c11 = _mm256_fmadd_ps(av, b1, c11);                            \
        av = _mm256_broadcast_ss(a + (off) * 6 + 2);                   \
        c20 = _mm256_fmadd_ps(av, b0, c20);                            \
        c21 = _mm256_fmadd_ps(av, b1, c21);                            \
        av = _mm256_broadcast_ss(a + (off) * 6 + 3);                   \
        c30 = _mm256_fmadd_ps(av, b0, c30);                            \
        c31 = _mm256_fmadd_ps(av, b1, c31);                            \
        av = _mm256_broadcast_ss(a + (off) * 6 + 4);                   \
        c40 = _mm256_fmadd_ps(av, b0, c40);                            \
        c41 = _mm256_fmadd_ps(av, b1, c41);                            \
        av = _mm256_broadcast_ss(a + (off) * 6 + 5);                   \
        c50 = _mm256_fmadd_ps(av, b0, c50);                            \
        c51 = _mm256_fmadd_ps(av, b1, c51);                            \
    } while (0)

    size_t k = kc;
    if (pfon && p && p->pf) {
        /* addresses as integers: the last step may pass pf_end (a prefetch
         * never faults; a pointer past its object would be UB) */
        uintptr_t pf = (uintptr_t)p->pf;
        const uintptr_t pfe = (uintptr_t)p->pf_end;
        const size_t ps = p->pf_step;
        for (; k >= 4; k -= 4) {
            pf = pf_lines(pf, pfe, ps, pfon);
            SK_STEP(0);
            SK_STEP(1);
            pf = pf_lines(pf, pfe, ps, pfon);
            SK_STEP(2);
            SK_STEP(3);
            a += 24;
            b += 64;
        }
    }
    for (; k >= 4; k -= 4) {
        SK_STEP(0);
        SK_STEP(1);
        SK_STEP(2);
        SK_STEP(3);
        a += 24;
        b += 64;
    }
    for (; k; k--) {
        SK_STEP(0);
        a += 6;
        b += 16;
    }
#undef SK_STEP

    float *c0 = c, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc, *c4 = c3 + ldc,
          *c5 = c4 + ldc;
    if (flags & SK_UK_ACCUM) {
        c00 = _mm256_add_ps(c00, _mm256_loadu_ps(c0));
        c01 = _mm256_add_ps(c01, _mm256_loadu_ps(c0 + 8));
        c10 = _mm256_add_ps(c10, _mm256_loadu_ps(c1));
        c11 = _mm256_add_ps(c11, _mm256_loadu_ps(c1 + 8));
        c20 = _mm256_add_ps(c20, _mm256_loadu_ps(c2));
        c21 = _mm256_add_ps(c21, _mm256_loadu_ps(c2 + 8));
        c30 = _mm256_add_ps(c30, _mm256_loadu_ps(c3));
        c31 = _mm256_add_ps(c31, _mm256_loadu_ps(c3 + 8));
        c40 = _mm256_add_ps(c40, _mm256_loadu_ps(c4));
        c41 = _mm256_add_ps(c41, _mm256_loadu_ps(c4 + 8));
        c50 = _mm256_add_ps(c50, _mm256_loadu_ps(c5));
        c51 = _mm256_add_ps(c51, _mm256_loadu_ps(c5 + 8));
    }
    if (flags & SK_UK_EPI) {
        /* the tile is still in registers: bias, skip connection and
         * activation cost no extra pass over memory */
        if (p->bias_row) {
            __m256 v = _mm256_broadcast_ss(p->bias_row + 0);
            c00 = _mm256_add_ps(c00, v), c01 = _mm256_add_ps(c01, v);
            v = _mm256_broadcast_ss(p->bias_row + 1);
            c10 = _mm256_add_ps(c10, v), c11 = _mm256_add_ps(c11, v);
            v = _mm256_broadcast_ss(p->bias_row + 2);
            c20 = _mm256_add_ps(c20, v), c21 = _mm256_add_ps(c21, v);
            v = _mm256_broadcast_ss(p->bias_row + 3);
            c30 = _mm256_add_ps(c30, v), c31 = _mm256_add_ps(c31, v);
            v = _mm256_broadcast_ss(p->bias_row + 4);
            c40 = _mm256_add_ps(c40, v), c41 = _mm256_add_ps(c41, v);
            v = _mm256_broadcast_ss(p->bias_row + 5);
            c50 = _mm256_add_ps(c50, v), c51 = _mm256_add_ps(c51, v);
        }
        if (p->bias_col) {
            const __m256 v0 = _mm256_loadu_ps(p->bias_col), v1 = _mm256_loadu_ps(p->bias_col + 8);
            c00 = _mm256_add_ps(c00, v0), c01 = _mm256_add_ps(c01, v1);
            c10 = _mm256_add_ps(c10, v0), c11 = _mm256_add_ps(c11, v1);
            c20 = _mm256_add_ps(c20, v0), c21 = _mm256_add_ps(c21, v1);
            c30 = _mm256_add_ps(c30, v0), c31 = _mm256_add_ps(c31, v1);
            c40 = _mm256_add_ps(c40, v0), c41 = _mm256_add_ps(c41, v1);
            c50 = _mm256_add_ps(c50, v0), c51 = _mm256_add_ps(c51, v1);
        }
        if (p->res) {
            const float *r = p->res;
            const size_t lr = p->ldres;
            c00 = _mm256_add_ps(c00, _mm256_loadu_ps(r)), c01 = _mm256_add_ps(c01, _mm256_loadu_ps(r + 8));
            r += lr;
            c10 = _mm256_add_ps(c10, _mm256_loadu_ps(r)), c11 = _mm256_add_ps(c11, _mm256_loadu_ps(r + 8));
            r += lr;
            c20 = _mm256_add_ps(c20, _mm256_loadu_ps(r)), c21 = _mm256_add_ps(c21, _mm256_loadu_ps(r + 8));
            r += lr;
            c30 = _mm256_add_ps(c30, _mm256_loadu_ps(r)), c31 = _mm256_add_ps(c31, _mm256_loadu_ps(r + 8));
            r += lr;
            c40 = _mm256_add_ps(c40, _mm256_loadu_ps(r)), c41 = _mm256_add_ps(c41, _mm256_loadu_ps(r + 8));
            r += lr;
            c50 = _mm256_add_ps(c50, _mm256_loadu_ps(r)), c51 = _mm256_add_ps(c51, _mm256_loadu_ps(r + 8));
        }
        /* max(lo, x) and min(hi, x) return x when x is NaN: NaNs pass through */
        const __m256 lo = _mm256_set1_ps(p->min), hi = _mm256_set1_ps(p->max);
        c00 = _mm256_min_ps(hi, _mm256_max_ps(lo, c00)), c01 = _mm256_min_ps(hi, _mm256_max_ps(lo, c01));
        c10 = _mm256_min_ps(hi, _mm256_max_ps(lo, c10)), c11 = _mm256_min_ps(hi, _mm256_max_ps(lo, c11));
        c20 = _mm256_min_ps(hi, _mm256_max_ps(lo, c20)), c21 = _mm256_min_ps(hi, _mm256_max_ps(lo, c21));
        c30 = _mm256_min_ps(hi, _mm256_max_ps(lo, c30)), c31 = _mm256_min_ps(hi, _mm256_max_ps(lo, c31));
        c40 = _mm256_min_ps(hi, _mm256_max_ps(lo, c40)), c41 = _mm256_min_ps(hi, _mm256_max_ps(lo, c41));
        c50 = _mm256_min_ps(hi, _mm256_max_ps(lo, c50)), c51 = _mm256_min_ps(hi, _mm256_max_ps(lo, c51));
    }
    _mm256_storeu_ps(c0, c00), _mm256_storeu_ps(c0 + 8, c01);
    _mm256_storeu_ps(c1, c10), _mm256_storeu_ps(c1 + 8, c11);
    _mm256_storeu_ps(c2, c20), _mm256_storeu_ps(c2 + 8, c21);
    _mm256_storeu_ps(c3, c30), _mm256_storeu_ps(c3 + 8, c31);
    _mm256_storeu_ps(c4, c40), _mm256_storeu_ps(c4 + 8, c41);
    _mm256_storeu_ps(c5, c50), _mm256_storeu_ps(c5 + 8, c51);
}

void sk_f32_gemm_6x16__avx2_fma(size_t kc, const float *a, const float *b, float *c,
                                size_t ldc, int flags, const sk_ukernel_params *p)
{
    gemm_6x16(kc, a, b, c, ldc, flags, p, 0);
}

/* Session 21 (a2r): the same tile touching the driver's next weights as it
 * computes (the AVX-512 kernels have done so since session 16; config.c
 * fill_intel takes it at the AVX2 level on Intel). At batch 1 a slice of
 * the packed weights feeds few tiles, and the first tile to read each line
 * waited on L3 / DRAM. Only lines are touched: the same bits. */
void sk_f32_gemm_6x16__avx2_fma_pf(size_t kc, const float *a, const float *b, float *c,
                                   size_t ldc, int flags, const sk_ukernel_params *p)
{
    gemm_6x16(kc, a, b, c, ldc, flags, p, 1);
}

/* Session 21 (a2s): the same tile touching the next weights with
 * prefetcht1 (into L2, not L1): the Intel AVX2 config's gemm.uk, for the
 * convolutions and _GemmFused; _MatMulFused keeps the _pf tile
 * (config.h gemm_mm_uk). The next weights are read a tile or a B panel
 * later, and in L1 they competed with the tile's own panels. In process as
 * an AVX2 CPU (bench/RESULTS.md session 21 a2s; per-run throwaway switch):
 * ResNet-50 b1 1T 1.005-1.017x (3 runs, A/A 0.998-1.000), ResNet-18 b1 1T
 * 1.018-1.022x (A/A 1.010), ResNet-101 b1 1T 1.002-1.007x, ResNet-50 b8 1T
 * and b1 2T, MobileNetV2 b1 1T within noise; ViT-B/16 b1 1T 0.990-0.996x
 * (A/A 0.997-1.006): hence not for _MatMulFused. Same bits. */
void sk_f32_gemm_6x16__avx2_fma_pfl2(size_t kc, const float *a, const float *b, float *c,
                                     size_t ldc, int flags, const sk_ukernel_params *p)
{
    gemm_6x16(kc, a, b, c, ldc, flags, p, 2);
}
