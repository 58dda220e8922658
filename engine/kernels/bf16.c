/* bf16.c — the BF16 path's load-time packing and the scalar form of its
 * activation conversion (layout: bf16.h). */
#include "kernels/bf16.h"

#include "sk.h"

/* words of `n` whole-K panels of width w (a group / a matrix), rounded to
 * 16 as the FP32 packs are */
static size_t panel_words(const sk_gemm_cfg *cfg, int n, int w, int K)
{
    return ((size_t)n * (size_t)w * sk_gemm_kslots(cfg, K) + 15) & ~(size_t)15;
}

int sk_bf16_pack_a(const sk_gemm_cfg *cfg, const float *A, size_t lda, int M, int K, int groups,
                   sk_gemm_packed_a *out)
{
    memset(out, 0, sizeof *out);
    const int mr = cfg->mr, panels = (M + mr - 1) / mr;
    const size_t slots = sk_gemm_kslots(cfg, K), gs = panel_words(cfg, panels, mr, K);
    size_t total = gs * (size_t)groups;
    uint32_t *d = sk_alloc_weights((total > 0 ? total : 16) * sizeof(uint32_t));
    if (!d)
        return SK_ENOMEM;
    memset(d, 0, (total > 0 ? total : 16) * sizeof(uint32_t)); /* rows past M */
    for (int g = 0; g < groups; g++) {
        const float *Ag = A + (size_t)g * (size_t)M * lda;
        uint32_t *dg = d + (size_t)g * gs;
        for (int p = 0; p < panels; p++) {
            uint32_t *dp = dg + (size_t)p * slots * (size_t)mr;
            for (int r = 0; r < mr && p * mr + r < M; r++) {
                const float *src = Ag + (size_t)(p * mr + r) * lda;
                for (int k = 0; k < K; k += 2)
                    dp[sk_bf16_a_word(cfg, slots, k / 2, r)] =
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

int sk_bf16_pack_b(const sk_gemm_cfg *cfg, const float *B, size_t sk, size_t sn, int K, int N,
                   sk_gemm_packed_b *out)
{
    memset(out, 0, sizeof *out);
    const int nr = cfg->nr, panels = (N + nr - 1) / nr;
    const size_t slots = sk_gemm_kslots(cfg, K), total = panel_words(cfg, panels, nr, K);
    uint32_t *d = sk_alloc_weights((total > 0 ? total : 16) * sizeof(uint32_t));
    if (!d)
        return SK_ENOMEM;
    memset(d, 0, (total > 0 ? total : 16) * sizeof(uint32_t)); /* columns past N */
    for (int p = 0; p < panels; p++) {
        uint32_t *dp = d + (size_t)p * slots * (size_t)nr;
        for (int c = 0; c < nr && p * nr + c < N; c++) {
            const float *src = B + (size_t)(p * nr + c) * sn;
            for (int k = 0; k < K; k += 2)
                dp[(size_t)(k / 2) * (size_t)nr + (size_t)c] =
                    sk_bf16_pair(src[(size_t)k * sk], k + 1 < K ? src[(size_t)(k + 1) * sk] : 0.0f);
        }
    }
    out->cfg = cfg;
    out->K = K;
    out->N = N;
    out->data = (float *)d;
    return 0;
}

void sk_bf16_pack2_scalar(float *dst, size_t pstride, int nr, const float *lo, const float *hi,
                          int nb)
{
    for (int q = 0; q * nr < nb; q++) {
        float *d = dst + (size_t)q * pstride;
        for (int c = 0; c < nr; c++) {
            int j = q * nr + c;
            uint32_t w = j < nb ? sk_bf16_pair(lo[j], hi ? hi[j] : 0.0f) : 0;
            memcpy(d + c, &w, 4);
        }
    }
}

/* one tap row's value at block pixel j (sk_bf16_taps2_fn) */
static float tap_value(const sk_bf16_tap *t, const int32_t *oh, const int32_t *ow, int j, int H,
                       int W)
{
    int ih = oh[j] + t->dh, iw = ow[j] + t->dw;
    return ih >= 0 && ih < H && iw >= 0 && iw < W ? t->x[j] : 0.0f;
}

void sk_bf16_taps2_scalar(float *dst, size_t pstride, int nr, const sk_bf16_tap *t0,
                          const sk_bf16_tap *t1, const int32_t *oh, const int32_t *ow, int nb,
                          int H, int W)
{
    for (int q = 0; q * nr < nb; q++) {
        float *d = dst + (size_t)q * pstride;
        for (int c = 0; c < nr; c++) {
            int j = q * nr + c;
            uint32_t w = j < nb ? sk_bf16_pair(tap_value(t0, oh, ow, j, H, W),
                                               t1 ? tap_value(t1, oh, ow, j, H, W) : 0.0f)
                                : 0;
            memcpy(d + c, &w, 4);
        }
    }
}
