/* f32_tile_8x32__avx512f.h — what the AVX-512 8 x 32 GEMM microkernels do
 * around their K loop, shared by the FP32 (f32_gemm_8x32__avx512f.c) and
 * BF16 (bf16_gemm_8x32__avx512bf16.c) kernels, whose accumulators are the
 * same sixteen float32 zmm c00 .. c71 (row r: c<r>0, c<r>1): the prefetch
 * of C and the residual before the loop, the epilogue after it; and the
 * FP32 K loop the 8- and 7-row FP32 kernels share. Macros, not
 * functions: the accumulators are the kernel's named locals and must stay
 * in registers. Needs SK_ROWS(X) = X(0) .. X(7) and `c, ldc, flags, p`. */
#ifndef SK_F32_TILE_8X32_AVX512F_H
#define SK_F32_TILE_8X32_AVX512F_H

#include <immintrin.h>
#include <stdint.h>

/* The hint of the GEMM's software prefetch of the next weights
 * (sk_ukernel_params.pf): T0. On the Zen 5 of session 16 T0, T1 and T2
 * measured alike within noise, T0 a little ahead (process CPU time, 1x1
 * chains at batch 1: 14x14 10.76 ms off -> 10.12 / 10.20 / 10.34 with T0 /
 * T1 / T2; 7x7 7.94 -> 7.15 / 7.26 / 7.40; bench/RESULTS.md). */
#ifndef SK_GEMM_PF_HINT
#define SK_GEMM_PF_HINT _MM_HINT_T0
#endif

/* The FP32 K loop of an MR x 32 tile (the 8- and 7-row kernels): per k
 * step two B loads and MR broadcasts of A feed 2 * MR FMAs, two k steps an
 * iteration; with the driver's next-weights prefetch (p->pf) one or two
 * lines of it per iteration. Needs SK_MR (A panel rows), SK_ROWS over
 * 0 .. SK_MR-1, accumulators c<r>0 / c<r>1, and `kc, a, b, p`. */
#define SK_TILE_X32_FMA(r)                                         \
    {                                                              \
        const __m512 av_ = _mm512_set1_ps(a[off_ * SK_MR + (r)]); \
        c##r##0 = _mm512_fmadd_ps(av_, b0_, c##r##0);              \
        c##r##1 = _mm512_fmadd_ps(av_, b1_, c##r##1);              \
    }
#define SK_TILE_X32_STEP(o)                                     \
    do {                                                        \
        const size_t off_ = (o);                                \
        const __m512 b0_ = _mm512_load_ps(b + off_ * 32);       \
        const __m512 b1_ = _mm512_load_ps(b + off_ * 32 + 16);  \
        SK_ROWS(SK_TILE_X32_FMA)                                \
    } while (0)
/* Session 19 (gk), the Intel config's A-panel prefetch (p->apf bytes
 * ahead; gemm.c): one line per iteration (two k steps: 64 bytes of an
 * 8-row panel), a second one past 8 rows. On the Intel Xeon of session 19
 * the A panels stream from L2 (a block of 16-25 panels) while a B panel of
 * 512 K rows (64 KB) no longer fits the 48 KB L1; the hardware prefetcher
 * left the 8-row tile at 181 GFLOP/s there, 195 with lines 512 bytes ahead
 * (standalone loops), and ResNet-50's GEMM shapes ran 1.01-1.06x in the
 * driver (bench/RESULTS.md). Only lines are touched: the same bits. */
#define SK_TILE_X32_APF()                                                          \
    do {                                                                           \
        _mm_prefetch((const char *)a + apf_, _MM_HINT_T0);                         \
        if (SK_MR * 8 > 64)                                                        \
            _mm_prefetch((const char *)a + apf_ + 64, _MM_HINT_T0);                \
    } while (0)
#define SK_TILE_X32_KLOOP()                                                        \
    do {                                                                           \
        size_t k_ = kc;                                                            \
        const size_t apf_ = p ? p->apf : 0;                                        \
        if (p && p->pf) { /* the driver's next weights: a line or two per 2 k */   \
            /* addresses as integers: the last step may pass pf_end (a          \
             * prefetch never faults; a pointer past its object would be UB) */ \
            uintptr_t pf_ = (uintptr_t)p->pf, pfe_ = (uintptr_t)p->pf_end;         \
            const size_t ps_ = p->pf_step;                                         \
            if (apf_)                                                              \
                for (; k_ >= 2; k_ -= 2) {                                         \
                    if (pf_ < pfe_) {                                              \
                        _mm_prefetch((const char *)pf_, SK_GEMM_PF_HINT);          \
                        _mm_prefetch((const char *)(pf_ + ps_ - 64), SK_GEMM_PF_HINT); \
                        pf_ += ps_;                                                \
                    }                                                              \
                    SK_TILE_X32_APF();                                             \
                    SK_TILE_X32_STEP(0);                                           \
                    SK_TILE_X32_STEP(1);                                           \
                    a += 2 * SK_MR;                                                \
                    b += 64;                                                       \
                }                                                                  \
            for (; k_ >= 2; k_ -= 2) {                                             \
                if (pf_ < pfe_) {                                                  \
                    _mm_prefetch((const char *)pf_, SK_GEMM_PF_HINT);              \
                    _mm_prefetch((const char *)(pf_ + ps_ - 64), SK_GEMM_PF_HINT); \
                    pf_ += ps_;                                                    \
                }                                                                  \
                SK_TILE_X32_STEP(0);                                               \
                SK_TILE_X32_STEP(1);                                               \
                a += 2 * SK_MR;                                                    \
                b += 64;                                                           \
            }                                                                      \
        }                                                                          \
        if (apf_)                                                                  \
            for (; k_ >= 2; k_ -= 2) {                                             \
                SK_TILE_X32_APF();                                                 \
                SK_TILE_X32_STEP(0);                                               \
                SK_TILE_X32_STEP(1);                                               \
                a += 2 * SK_MR;                                                    \
                b += 64;                                                           \
            }                                                                      \
        for (; k_ >= 2; k_ -= 2) {                                                 \
            SK_TILE_X32_STEP(0);                                                   \
            SK_TILE_X32_STEP(1);                                                   \
            a += 2 * SK_MR;                                                        \
            b += 64;                                                               \
        }                                                                          \
        if (k_)                                                                    \
            SK_TILE_X32_STEP(0);                                                   \
    } while (0)

/* C (when accumulating) and the residual are read after the K loop,
 * usually from far away in memory: start fetching them now. */
#define SK_TILE_8X32_PREFETCH()                                                     \
    do {                                                                            \
        if (flags & SK_UK_ACCUM)                                                    \
            for (int r_ = 0; r_ < 8; r_++) {                                        \
                _mm_prefetch((const char *)(c + r_ * ldc), _MM_HINT_T0);            \
                _mm_prefetch((const char *)(c + r_ * ldc + 31), _MM_HINT_T0);       \
            }                                                                       \
        if ((flags & SK_UK_EPI) && p->res)                                          \
            for (int r_ = 0; r_ < 8; r_++) {                                        \
                _mm_prefetch((const char *)(p->res + r_ * p->ldres), _MM_HINT_T0);  \
                _mm_prefetch((const char *)(p->res + r_ * p->ldres + 31),           \
                             _MM_HINT_T0);                                          \
            }                                                                       \
    } while (0)

/* The same for a tile of any SK_ROWS (the 12-row kernel). */
#define SK_TILE_PF_ROW(r)                                                                \
    if (flags & SK_UK_ACCUM) {                                                           \
        _mm_prefetch((const char *)(c + (r) * ldc), _MM_HINT_T0);                        \
        _mm_prefetch((const char *)(c + (r) * ldc + 31), _MM_HINT_T0);                   \
    }                                                                                    \
    if ((flags & SK_UK_EPI) && p->res) {                                                 \
        _mm_prefetch((const char *)(p->res + (r) * p->ldres), _MM_HINT_T0);              \
        _mm_prefetch((const char *)(p->res + (r) * p->ldres + 31), _MM_HINT_T0);         \
    }
#define SK_TILE_X32_PREFETCH() \
    do {                       \
        SK_ROWS(SK_TILE_PF_ROW) \
    } while (0)

#define SK_TILE_ACC(r)                                                     \
    c##r##0 = _mm512_add_ps(c##r##0, _mm512_loadu_ps(c + (r) * ldc));      \
    c##r##1 = _mm512_add_ps(c##r##1, _mm512_loadu_ps(c + (r) * ldc + 16));
#define SK_TILE_BR(r)                                    \
    {                                                    \
        const __m512 v = _mm512_set1_ps(p->bias_row[r]); \
        c##r##0 = _mm512_add_ps(c##r##0, v);             \
        c##r##1 = _mm512_add_ps(c##r##1, v);             \
    }
#define SK_TILE_BC(r)                     \
    c##r##0 = _mm512_add_ps(c##r##0, v0); \
    c##r##1 = _mm512_add_ps(c##r##1, v1);
#define SK_TILE_RES(r)                                                 \
    c##r##0 = _mm512_add_ps(c##r##0, _mm512_loadu_ps(rp + (r) * lr)); \
    c##r##1 = _mm512_add_ps(c##r##1, _mm512_loadu_ps(rp + (r) * lr + 16));
#define SK_TILE_CLAMP(r)                                     \
    c##r##0 = _mm512_min_ps(hi, _mm512_max_ps(lo, c##r##0)); \
    c##r##1 = _mm512_min_ps(hi, _mm512_max_ps(lo, c##r##1));
#define SK_TILE_STORE(r)                          \
    _mm512_storeu_ps(c + (r) * ldc, c##r##0);     \
    _mm512_storeu_ps(c + (r) * ldc + 16, c##r##1);

/* Still in registers: accumulate into C, then bias, the skip connection
 * and the activation cost no extra pass over memory; then store. */
#define SK_TILE_8X32_EPILOGUE()                                              \
    do {                                                                     \
        if (flags & SK_UK_ACCUM) {                                           \
            SK_ROWS(SK_TILE_ACC)                                             \
        }                                                                    \
        if (flags & SK_UK_EPI) {                                             \
            if (p->bias_row) {                                               \
                SK_ROWS(SK_TILE_BR)                                          \
            }                                                                \
            if (p->bias_col) {                                               \
                const __m512 v0 = _mm512_loadu_ps(p->bias_col);              \
                const __m512 v1 = _mm512_loadu_ps(p->bias_col + 16);         \
                SK_ROWS(SK_TILE_BC)                                          \
            }                                                                \
            if (p->res) {                                                    \
                const float *rp = p->res;                                    \
                const size_t lr = p->ldres;                                  \
                SK_ROWS(SK_TILE_RES)                                         \
            }                                                                \
            /* max(lo, x), min(hi, x) return x when x is NaN: NaNs pass */   \
            const __m512 lo = _mm512_set1_ps(p->min), hi = _mm512_set1_ps(p->max); \
            SK_ROWS(SK_TILE_CLAMP)                                           \
        }                                                                    \
        SK_ROWS(SK_TILE_STORE)                                               \
    } while (0)

#endif
