/* f32_gemm_7x16__avx2_fma.c — (session 21, a2s) the AVX2 + FMA3 SGEMM tile
 * on 7-row A panels: pixel rows of 7x7 maps (config.h gemm_mr7,
 * fast_conv_pixrows.c), whose 49 pixels are 7 panels of 7 where the 6-row
 * tile leaves 8 panels and a 1-row tail that the driver's mtail runs over
 * every weight panel of the block again.
 *
 * Registers: 7 rows x 2 ymm = 14 accumulators; with both B vectors and the
 * broadcast A value that is 17 of the 16 ymm registers. So each k step runs
 * the two B columns one after the other: B vector 0 and the 7 broadcasts,
 * then B vector 1 and the 7 broadcasts again (14 + 1 + 1 registers). That
 * is 16 loads for 14 FMAs a k step, under the 3 loads a cycle of this Intel
 * core (the FMAs take 7 cycles on its two 256-bit FMA pipes, the loads ~5.3);
 * a compiler barrier between the halves keeps gcc from merging the repeated
 * broadcasts into 7 live registers (which would spill). Each element is the
 * same FMA chain as the 6 x 16 tile's (one FMA per k from zero, then C,
 * bias, residual, clamp in that order): the same bits. With the driver's
 * next-weights prefetch (sk_ukernel_params.pf) as the _pf 6 x 16 tile. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/gemm.h"

void sk_f32_gemm_7x16__avx2_fma(size_t kc, const float *a, const float *b, float *c,
                                size_t ldc, int flags, const sk_ukernel_params *p)
{
    if (flags & SK_UK_ACCUM)
        for (int r = 0; r < 7; r++) {
            _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + r * ldc + 15), _MM_HINT_T0);
        }
    if ((flags & SK_UK_EPI) && p->res)
        for (int r = 0; r < 7; r++) {
            _mm_prefetch((const char *)(p->res + r * p->ldres), _MM_HINT_T0);
            _mm_prefetch((const char *)(p->res + r * p->ldres + 15), _MM_HINT_T0);
        }
    __m256 c00 = _mm256_setzero_ps();
    __m256 c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps();
    __m256 c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps();
    __m256 c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps();
    __m256 c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps();
    __m256 c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps();
    __m256 c51 = _mm256_setzero_ps();
    __m256 c60 = _mm256_setzero_ps();
    __m256 c61 = _mm256_setzero_ps();

    /* one k step as one asm block: gcc's own allocation of the 14
     * accumulators + B + the broadcast (all 16 ymm registers) rotated
     * them between registers and spilled one every two k steps */
#define SK_STEP(off)                                                   \
    __asm__("vmovaps 0(%[b]), %%ymm14\n\t" \
            "vbroadcastss 0(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c00]\n\t" \
            "vbroadcastss 4(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c10]\n\t" \
            "vbroadcastss 8(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c20]\n\t" \
            "vbroadcastss 12(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c30]\n\t" \
            "vbroadcastss 16(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c40]\n\t" \
            "vbroadcastss 20(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c50]\n\t" \
            "vbroadcastss 24(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c60]\n\t" \
            "vmovaps 32(%[b]), %%ymm14\n\t" \
            "vbroadcastss 0(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c01]\n\t" \
            "vbroadcastss 4(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c11]\n\t" \
            "vbroadcastss 8(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c21]\n\t" \
            "vbroadcastss 12(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c31]\n\t" \
            "vbroadcastss 16(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c41]\n\t" \
            "vbroadcastss 20(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c51]\n\t" \
            "vbroadcastss 24(%[a]), %%ymm15\n\t" \
            "vfmadd231ps %%ymm14, %%ymm15, %[c61]\n\t" \
            : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21), \
              [c30] "+x"(c30), \
              [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51), \
              [c60] "+x"(c60), \
              [c61] "+x"(c61) \
            : [a] "r"(a + (off) * 7), [b] "r"(b + (off) * 16) \
            : "xmm14", "xmm15", "memory")

    size_t k = kc;
    if (p && p->pf) {
        /* addresses as integers: the last step may pass pf_end (a prefetch
         * never faults; a pointer past its object would be UB) */
        uintptr_t pf = (uintptr_t)p->pf;
        const uintptr_t pfe = (uintptr_t)p->pf_end;
        const size_t ps = p->pf_step;
        for (; k >= 2; k -= 2) {
            if (pf < pfe) {
                _mm_prefetch((const char *)pf, _MM_HINT_T0);
                _mm_prefetch((const char *)(pf + ps - 64), _MM_HINT_T0);
                pf += ps;
            }
            SK_STEP(0);
            SK_STEP(1);
            a += 14;
            b += 32;
        }
    }
    for (; k >= 2; k -= 2) {
        SK_STEP(0);
        SK_STEP(1);
        a += 14;
        b += 32;
    }
    for (; k; k--) {
        SK_STEP(0);
        a += 7;
        b += 16;
    }
#undef SK_STEP

    float *c0 = c, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc, *c4 = c3 + ldc,
          *c5 = c4 + ldc, *c6 = c5 + ldc;
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
        c60 = _mm256_add_ps(c60, _mm256_loadu_ps(c6));
        c61 = _mm256_add_ps(c61, _mm256_loadu_ps(c6 + 8));
    }
    if (flags & SK_UK_EPI) {
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
            v = _mm256_broadcast_ss(p->bias_row + 6);
            c60 = _mm256_add_ps(c60, v), c61 = _mm256_add_ps(c61, v);
        }
        if (p->bias_col) {
            const __m256 v0 = _mm256_loadu_ps(p->bias_col), v1 = _mm256_loadu_ps(p->bias_col + 8);
            c00 = _mm256_add_ps(c00, v0), c01 = _mm256_add_ps(c01, v1);
            c10 = _mm256_add_ps(c10, v0), c11 = _mm256_add_ps(c11, v1);
            c20 = _mm256_add_ps(c20, v0), c21 = _mm256_add_ps(c21, v1);
            c30 = _mm256_add_ps(c30, v0), c31 = _mm256_add_ps(c31, v1);
            c40 = _mm256_add_ps(c40, v0), c41 = _mm256_add_ps(c41, v1);
            c50 = _mm256_add_ps(c50, v0), c51 = _mm256_add_ps(c51, v1);
            c60 = _mm256_add_ps(c60, v0), c61 = _mm256_add_ps(c61, v1);
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
            r += lr;
            c60 = _mm256_add_ps(c60, _mm256_loadu_ps(r)), c61 = _mm256_add_ps(c61, _mm256_loadu_ps(r + 8));
        }
        /* max(lo, x) and min(hi, x) return x when x is NaN: NaNs pass through */
        const __m256 lo = _mm256_set1_ps(p->min), hi = _mm256_set1_ps(p->max);
        c00 = _mm256_min_ps(hi, _mm256_max_ps(lo, c00)), c01 = _mm256_min_ps(hi, _mm256_max_ps(lo, c01));
        c10 = _mm256_min_ps(hi, _mm256_max_ps(lo, c10)), c11 = _mm256_min_ps(hi, _mm256_max_ps(lo, c11));
        c20 = _mm256_min_ps(hi, _mm256_max_ps(lo, c20)), c21 = _mm256_min_ps(hi, _mm256_max_ps(lo, c21));
        c30 = _mm256_min_ps(hi, _mm256_max_ps(lo, c30)), c31 = _mm256_min_ps(hi, _mm256_max_ps(lo, c31));
        c40 = _mm256_min_ps(hi, _mm256_max_ps(lo, c40)), c41 = _mm256_min_ps(hi, _mm256_max_ps(lo, c41));
        c50 = _mm256_min_ps(hi, _mm256_max_ps(lo, c50)), c51 = _mm256_min_ps(hi, _mm256_max_ps(lo, c51));
        c60 = _mm256_min_ps(hi, _mm256_max_ps(lo, c60)), c61 = _mm256_min_ps(hi, _mm256_max_ps(lo, c61));
    }
    _mm256_storeu_ps(c0, c00), _mm256_storeu_ps(c0 + 8, c01);
    _mm256_storeu_ps(c1, c10), _mm256_storeu_ps(c1 + 8, c11);
    _mm256_storeu_ps(c2, c20), _mm256_storeu_ps(c2 + 8, c21);
    _mm256_storeu_ps(c3, c30), _mm256_storeu_ps(c3 + 8, c31);
    _mm256_storeu_ps(c4, c40), _mm256_storeu_ps(c4 + 8, c41);
    _mm256_storeu_ps(c5, c50), _mm256_storeu_ps(c5 + 8, c51);
    _mm256_storeu_ps(c6, c60), _mm256_storeu_ps(c6 + 8, c61);
}
