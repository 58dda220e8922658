/* bf16.c — the BF16 path's load-time packing and the scalar form of its
 * activation conversion (layout: bf16.h). */
#include "kernels/bf16.h"

#include "sk.h"

int sk_bf16_pack_a(const sk_gemm_cfg *cfg, const float *A, size_t lda, int M, int K, int groups,
                   sk_gemm_packed_a *out)
{
    memset(out, 0, sizeof *out);
    const int mr = cfg->mr, panels = (M + mr - 1) / mr;
    /* the FP32 panel size, K rounded up to even so the last pair has a slot */
    const size_t K2 = (size_t)K + ((size_t)K & 1);
    size_t gs = ((size_t)panels * (size_t)mr * K2 + 15) & ~(size_t)15;
    size_t total = gs * (size_t)groups;
    uint32_t *d = sk_alloc((total > 0 ? total : 16) * sizeof(float));
    if (!d)
        return SK_ENOMEM;
    memset(d, 0, (total > 0 ? total : 16) * sizeof(float));
    for (int g = 0; g < groups; g++) {
        const float *Ag = A + (size_t)g * (size_t)M * lda;
        uint32_t *dg = d + (size_t)g * gs;
        for (int p = 0; p < panels; p++) {
            /* panel stride K * mr as the driver computes it (gemm.c) */
            uint32_t *dp = dg + (size_t)p * (size_t)K * (size_t)mr;
            for (int r = 0; r < mr; r++) {
                int row = p * mr + r;
                if (row >= M)
                    continue;
                const float *src = Ag + (size_t)row * lda;
                for (int k = 0; k < K; k += 2)
                    dp[(size_t)k * (size_t)mr + (size_t)r] =
                        sk_bf16_pair(src[k], k + 1 < K ? src[k + 1] : 0.0f);
            }
        }
    }
    out->cfg = cfg;
    out->M = M;
    out->K = K;
    out->groups = groups;
    out->group_stride = gs;
    out->data = (float *)d;
    return 0;
}

void sk_bf16_pairs_scalar(float *dst, int kc, int nr, int npanels, size_t pstride)
{
    for (int q = 0; q < npanels; q++) {
        float *base = dst + (size_t)q * pstride;
        for (int k = 0; k < kc; k += 2) {
            float *r0 = base + (size_t)k * (size_t)nr;
            const float *r1 = k + 1 < kc ? r0 + nr : NULL;
            for (int c = 0; c < nr; c++) {
                uint32_t w = sk_bf16_pair(r0[c], r1 ? r1[c] : 0.0f);
                memcpy(r0 + c, &w, 4);
            }
        }
    }
}
