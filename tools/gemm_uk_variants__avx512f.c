/* gemm_uk_variants__avx512f.c — AVX-512 SGEMM tile shapes for
 * skipserve-gemm-bench: R rows x V zmm columns of accumulators, no
 * epilogue, C stored once. Written as plain loops over register arrays
 * (gcc -O2 keeps them in registers inside the K loop); compiled with
 * AVX-512 flags, called only where the CPU has AVX-512. */
#include <immintrin.h>
#include <stddef.h>

/* Session 19 (gk): the accumulators as named variables (X-macros over the
 * rows), not an array: gcc -O2 kept the array of session 10's version in
 * memory (every variant read 48-64 GFLOP/s on the session-19 Xeon, a
 * quarter of its FMA ceiling), so the tile shapes did not compare. */
#define UKR4(X) X(0) X(1) X(2) X(3)
#define UKR6(X) UKR4(X) X(4) X(5)
#define UKR8(X) UKR6(X) X(6) X(7)
#define UKR12(X) UKR8(X) X(8) X(9) X(10) X(11)
#define UKR14(X) UKR12(X) X(12) X(13)
#define UKD2(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define UKD3(r) UKD2(r) __m512 c##r##2 = _mm512_setzero_ps();
#define UKD4(r) UKD3(r) __m512 c##r##3 = _mm512_setzero_ps();
#define UKF2(r)                                                \
    {                                                          \
        const __m512 av = _mm512_set1_ps(a[k * R_ + (r)]);    \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);           \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);           \
    }
#define UKF3(r)                                                \
    {                                                          \
        const __m512 av = _mm512_set1_ps(a[k * R_ + (r)]);    \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);           \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);           \
        c##r##2 = _mm512_fmadd_ps(av, b2, c##r##2);           \
    }
#define UKF4(r)                                                \
    {                                                          \
        const __m512 av = _mm512_set1_ps(a[k * R_ + (r)]);    \
        c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);           \
        c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);           \
        c##r##2 = _mm512_fmadd_ps(av, b2, c##r##2);           \
        c##r##3 = _mm512_fmadd_ps(av, b3, c##r##3);           \
    }
#define UKS2(r)                                                \
    _mm512_storeu_ps(c + (size_t)(r) * ldc, c##r##0);         \
    _mm512_storeu_ps(c + (size_t)(r) * ldc + 16, c##r##1);
#define UKS3(r) UKS2(r) _mm512_storeu_ps(c + (size_t)(r) * ldc + 32, c##r##2);
#define UKS4(r) UKS3(r) _mm512_storeu_ps(c + (size_t)(r) * ldc + 48, c##r##3);
#define UKB2 const __m512 b0 = _mm512_load_ps(b + k * 32), b1 = _mm512_load_ps(b + k * 32 + 16);
#define UKB3                                                                                \
    const __m512 b0 = _mm512_load_ps(b + k * 48), b1 = _mm512_load_ps(b + k * 48 + 16),     \
                 b2 = _mm512_load_ps(b + k * 48 + 32);
#define UKB4                                                                                \
    const __m512 b0 = _mm512_load_ps(b + k * 64), b1 = _mm512_load_ps(b + k * 64 + 16),     \
                 b2 = _mm512_load_ps(b + k * 64 + 32), b3 = _mm512_load_ps(b + k * 64 + 48);

#define SK_BENCH_UK(R, ROWS, V, NAME)                                                        \
    void NAME(size_t kc, const float *a, const float *b, float *c, size_t ldc)               \
    {                                                                                        \
        enum { R_ = R };                                                                     \
        ROWS(UKD##V)                                                                         \
        for (size_t k = 0; k < kc; k++) {                                                    \
            UKB##V                                                                           \
            ROWS(UKF##V)                                                                     \
        }                                                                                    \
        ROWS(UKS##V)                                                                         \
    }

void sk_bench_uk_8x32(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_12x32(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_14x32(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_6x64(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_8x48(size_t kc, const float *a, const float *b, float *c, size_t ldc);
void sk_bench_uk_4x64(size_t kc, const float *a, const float *b, float *c, size_t ldc);

SK_BENCH_UK(8, UKR8, 2, sk_bench_uk_8x32)
SK_BENCH_UK(12, UKR12, 2, sk_bench_uk_12x32)
SK_BENCH_UK(14, UKR14, 2, sk_bench_uk_14x32)
SK_BENCH_UK(6, UKR6, 4, sk_bench_uk_6x64)
SK_BENCH_UK(8, UKR8, 3, sk_bench_uk_8x48)
SK_BENCH_UK(4, UKR4, 4, sk_bench_uk_4x64)
