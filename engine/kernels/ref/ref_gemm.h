/* ref_gemm.h — the scalar reference matrix product that Conv, ConvTranspose,
 * Gemm and MatMul build on, and that fast GEMMs are tested against. */
#ifndef SK_REF_GEMM_H
#define SK_REF_GEMM_H

/* Row-major C[M x N] (+)= A[M x K] * B[K x N]; lda/ldb/ldc are row strides in
 * elements. accumulate = 0 overwrites C, 1 adds to it. C must not overlap A
 * or B. */
void sk_ref_gemm_f32(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float *C, int ldc, int accumulate);

#endif
