/* gemm_nchw.c — the contract of kernels/gemm_nchw.h in plain C: what the
 * AVX-512 kernel computes, lane by lane (fmaf chains from zero in k
 * order, then + old C, bias, residual, clamp). The unit tests hold the
 * vector kernel to these bits; no plan runs it. */
#include "kernels/gemm_nchw.h"

#include <math.h>

/* the segment of vector v holding lane L, or -1 (lane unused) */
static int seg_of(const sk_gemm_nchw_cols *cl, int v, int L)
{
    for (int s = 0; s < 2; s++)
        if (cl->mask[v][s] >> L & 1u)
            return s;
    return -1;
}

void sk_f32_gemm_nchw_8x32__scalar(const float *a, const sk_gemm_nchw_cols *cl,
                                   const sk_gemm_nchw_args *g)
{
    for (int v = 0; v < 2; v++)
        for (int L = 0; L < 16; L++) {
            int s = seg_of(cl, v, L);
            if (s < 0)
                continue;
            const float *b = cl->b[v][s] + g->boff + L;
            for (int r = 0; r < g->rows; r++) {
                const size_t o = g->coff + (size_t)r * g->ldc + (size_t)L;
                float acc = 0.0f;
                for (size_t k = 0; k < g->kc; k++)
                    acc = fmaf(a[k * 8 + (size_t)r], b[k * g->ldb], acc);
                float *c = cl->c[v][s] + o;
                if (g->flags & SK_UK_ACCUM)
                    acc += *c;
                if (g->flags & SK_UK_EPI) {
                    if (g->bias)
                        acc += g->bias[r];
                    if (g->has_res)
                        acc += cl->res[v][s][o];
                    /* as max_ps(lo, x) then min_ps(hi, x): NaN passes */
                    acc = acc < g->lo ? g->lo : acc;
                    acc = acc > g->hi ? g->hi : acc;
                }
                *c = acc;
            }
        }
}
