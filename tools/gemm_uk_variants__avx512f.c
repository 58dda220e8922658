/* gemm_uk_variants__avx512f.c — AVX-512 SGEMM tile shapes for
 * skipserve-gemm-bench: R rows x V zmm columns of accumulators, no
 * epilogue, C stored once. Written as plain loops over register arrays
 * (gcc -O2 keeps them in registers inside the K loop); compiled with
 * AVX-512 flags, called only where the CPU has AVX-512. */
#include <immintrin.h>
#include <stddef.h>

#define SK_BENCH_UK(R, V, NAME)                                                              \
    void NAME(size_t kc, const float *a, const float *b, float *c, size_t ldc)               \
    {                                                                                        \
        __m512 acc[R][V];                                                                    \
        for (int r = 0; r < R; r++)                                                          \
            for (int v = 0; v < V; v++)                                                      \
                acc[r][v] = _mm512_setzero_ps();                                             \
        for (size_t k = 0; k < kc; k++) {                                                    \
            __m512 bv[V];                                                                    \
            for (int v = 0; v < V; v++)                                                      \
                bv[v] = _mm512_load_ps(b + k * V * 16 + (size_t)v * 16);                     \
            for (int r = 0; r < R; r++) {                                                    \
                const __m512 av = _mm512_set1_ps(a[k * R + (size_t)r]);                      \
                for (int v = 0; v < V; v++)                                                  \
                    acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);                       \
            }                                                                                \
        }                                                                                    \
        for (int r = 0; r < R; r++)                                                          \
            for (int v = 0; v < V; v++)                                                      \
                _mm512_storeu_ps(c + (size_t)r * ldc + (size_t)v * 16, acc[r][v]);           \
    }

void sk_bench_uk_8x32(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_12x32(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_14x32(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_6x64(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_8x48(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_4x64(size_t kc, const float *a, const float *b, float *c, size_t ldc);

SK_BENCH_UK(8, 2, sk_bench_uk_8x32)
SK_BENCH_UK(12, 2, sk_bench_uk_12x32)
SK_BENCH_UK(14, 2, sk_bench_uk_14x32)
SK_BENCH_UK(6, 4, sk_bench_uk_6x64)
SK_BENCH_UK(8, 3, sk_bench_uk_8x48)
SK_BENCH_UK(4, 4, sk_bench_uk_4x64)
