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

#include "kernels/gemm.h"

#define SK_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

void sk_f32_gemm_8x32__avx512f(size_t kc, const float *a, const float *b, float *c,
                               size_t ldc, int flags, const sk_ukernel_params *p)
{
    /* C (when accumulating) and the residual are read after the K loop,
     * usually from far away in memory: start fetching them now. */
    if (flags & SK_UK_ACCUM)
        for (int r = 0; r < 8; r++) {
            _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + r * ldc + 31), _MM_HINT_T0);
        }
    if ((flags & SK_UK_EPI) && p->res)
        for (int r = 0; r < 8; r++) {
            _mm_prefetch((const char *)(p->res + r * p->ldres), _MM_HINT_T0);
            _mm_prefetch((const char *)(p->res + r * p->ldres + 31), _MM_HINT_T0);
        }
#define SK_DECL(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
    SK_ROWS(SK_DECL)
#undef SK_DECL

#define SK_FMA(r)                                           \
    {                                                       \
        const __m512 av = _mm512_set1_ps(a[(off) * 8 + r]); \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);         \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);         \
    }
#define SK_STEP(o)                                          \
    do {                                                    \
        const size_t off = (o);                             \
        const __m512 b0 = _mm512_load_ps(b + off * 32);     \
        const __m512 b1 = _mm512_load_ps(b + off * 32 + 16); \
        SK_ROWS(SK_FMA)                                     \
    } while (0)

    size_t k = kc;
    for (; k >= 2; k -= 2) {
        SK_STEP(0);
        SK_STEP(1);
        a += 16;
        b += 64;
    }
    if (k) {
        SK_STEP(0);
    }
#undef SK_STEP
#undef SK_FMA

    if (flags & SK_UK_ACCUM) {
#define SK_ACC(r)                                                          \
    c##r##0 = _mm512_add_ps(c##r##0, _mm512_loadu_ps(c + (r) * ldc));      \
    c##r##1 = _mm512_add_ps(c##r##1, _mm512_loadu_ps(c + (r) * ldc + 16));
        SK_ROWS(SK_ACC)
#undef SK_ACC
    }
    if (flags & SK_UK_EPI) {
        /* still in registers: bias, skip connection and activation are free
         * of any extra pass over memory */
        if (p->bias_row) {
#define SK_BR(r)                                                  \
    {                                                             \
        const __m512 v = _mm512_set1_ps(p->bias_row[r]);          \
        c##r##0 = _mm512_add_ps(c##r##0, v);                      \
        c##r##1 = _mm512_add_ps(c##r##1, v);                      \
    }
            SK_ROWS(SK_BR)
#undef SK_BR
        }
        if (p->bias_col) {
            const __m512 v0 = _mm512_loadu_ps(p->bias_col);
            const __m512 v1 = _mm512_loadu_ps(p->bias_col + 16);
#define SK_BC(r)                         \
    c##r##0 = _mm512_add_ps(c##r##0, v0); \
    c##r##1 = _mm512_add_ps(c##r##1, v1);
            SK_ROWS(SK_BC)
#undef SK_BC
        }
        if (p->res) {
            const float *rp = p->res;
            const size_t lr = p->ldres;
#define SK_RES(r)                                                               \
    c##r##0 = _mm512_add_ps(c##r##0, _mm512_loadu_ps(rp + (r) * lr));          \
    c##r##1 = _mm512_add_ps(c##r##1, _mm512_loadu_ps(rp + (r) * lr + 16));
            SK_ROWS(SK_RES)
#undef SK_RES
        }
        /* max(lo, x), min(hi, x) return x when x is NaN: NaNs pass through */
        const __m512 lo = _mm512_set1_ps(p->min), hi = _mm512_set1_ps(p->max);
#define SK_CLAMP(r)                                              \
    c##r##0 = _mm512_min_ps(hi, _mm512_max_ps(lo, c##r##0));     \
    c##r##1 = _mm512_min_ps(hi, _mm512_max_ps(lo, c##r##1));
        SK_ROWS(SK_CLAMP)
#undef SK_CLAMP
    }
#define SK_STORE(r)                                  \
    _mm512_storeu_ps(c + (r) * ldc, c##r##0);        \
    _mm512_storeu_ps(c + (r) * ldc + 16, c##r##1);
    SK_ROWS(SK_STORE)
#undef SK_STORE
}
