/* bf16_tile_x32__avx512bf16.h — the K loop of the BF16 GEMM microkernels
 * on SK_MR-row A panels x 32 columns (8x32 for the GEMMs, 7x32 for pixel
 * rows of 7x7 maps), written once for both (layout: kernels/bf16.h).
 *
 * The includer defines SK_MR (the panel's rows), SK_ROWS(X) (X(0) ..
 * X(SK_MR-1)) and declares c<r>0 / c<r>1 for every row, with kc, a, b
 * and p the kernel's arguments; SK_GEMM_PF_HINT comes from
 * f32_tile_8x32__avx512f.h. Per pair step: 2 B loads + SK_MR broadcast
 * pairs for 2 * SK_MR vdpbf16ps, each lane a chain from zero over the
 * pairs in order — so every element gets the same bits whatever SK_MR is
 * (and with or without the prefetch). */
#ifndef SK_BF16_TILE_X32_AVX512BF16_H
#define SK_BF16_TILE_X32_AVX512BF16_H

#include <immintrin.h>
#include <stdint.h>

/* one pair step: pair slot `off_` of A (SK_MR words) and of B (32 words) */
#define SK_BF16_X32_DP(r)                                                     \
    {                                                                         \
        const __m512bh av_ = (__m512bh)_mm512_set1_epi32(ap_[off_ * SK_MR + (r)]); \
        c##r##0 = _mm512_dpbf16_ps(c##r##0, av_, b0_);                        \
        c##r##1 = _mm512_dpbf16_ps(c##r##1, av_, b1_);                        \
    }
#define SK_BF16_X32_STEP(o)                                                     \
    do {                                                                        \
        const size_t off_ = (o);                                                \
        const __m512bh b0_ = (__m512bh)_mm512_load_si512(b + off_ * 32);        \
        const __m512bh b1_ = (__m512bh)_mm512_load_si512(b + off_ * 32 + 16);   \
        SK_ROWS(SK_BF16_X32_DP)                                                 \
    } while (0)
/* With the driver's next-weights prefetch (p->pf, gemm.c pf_params): the
 * driver paces it for FP32's two K rows an iteration, one or two lines
 * each; an iteration here does two pair steps = four K rows, so it takes
 * two of those steps (session 17: the BF16 kernels ignored p->pf before). */
#define SK_BF16_X32_KLOOP()                                                            \
    do {                                                                               \
        const int32_t *ap_ = (const int32_t *)a;                                       \
        size_t pairs_ = (kc + 1) / 2;                                                  \
        if (p && p->pf) {                                                              \
            /* addresses as integers (a prefetch never faults; a pointer past       \
             * its object would be UB), as f32_tile_8x32__avx512f.h */               \
            uintptr_t pf_ = (uintptr_t)p->pf, pfe_ = (uintptr_t)p->pf_end;             \
            const size_t ps_ = p->pf_step;                                             \
            for (; pairs_ >= 2; pairs_ -= 2) {                                         \
                if (pf_ < pfe_) {                                                      \
                    _mm_prefetch((const char *)pf_, SK_GEMM_PF_HINT);                  \
                    _mm_prefetch((const char *)(pf_ + ps_ - 64), SK_GEMM_PF_HINT);     \
                    _mm_prefetch((const char *)(pf_ + ps_), SK_GEMM_PF_HINT);          \
                    _mm_prefetch((const char *)(pf_ + 2 * ps_ - 64), SK_GEMM_PF_HINT); \
                    pf_ += 2 * ps_;                                                    \
                }                                                                      \
                SK_BF16_X32_STEP(0);                                                   \
                SK_BF16_X32_STEP(1);                                                   \
                ap_ += 2 * SK_MR;                                                      \
                b += 64;                                                               \
            }                                                                          \
            /* kc = 1-2 (mod 4): the last pair step's one FP32 step of it */           \
            if (pairs_ && pf_ < pfe_) {                                                \
                _mm_prefetch((const char *)pf_, SK_GEMM_PF_HINT);                      \
                _mm_prefetch((const char *)(pf_ + ps_ - 64), SK_GEMM_PF_HINT);         \
            }                                                                          \
        }                                                                              \
        for (; pairs_ >= 2; pairs_ -= 2) {                                             \
            SK_BF16_X32_STEP(0);                                                       \
            SK_BF16_X32_STEP(1);                                                       \
            ap_ += 2 * SK_MR;                                                          \
            b += 64;                                                                   \
        }                                                                              \
        if (pairs_)                                                                    \
            SK_BF16_X32_STEP(0);                                                       \
    } while (0)

#endif
