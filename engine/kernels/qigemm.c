/* qigemm.c — the NHWC int8 conv's weight packing, its scalar reference
 * microkernel and the indirection table (contract: qigemm.h). */
#include "qigemm.h"

#include <stdlib.h>

size_t sk_qigemm_packed_w_bytes(const sk_qigemm_cfg *c, size_t M, size_t C, size_t ks)
{
    size_t NR = (size_t)c->nr;
    return (M + NR - 1) / NR * ks * C * NR;
}

void sk_qigemm_pack_w(const sk_qigemm_cfg *c, size_t M, size_t C, size_t Cs, size_t ks,
                      const int8_t *w, int8_t *dst)
{
    size_t NR = (size_t)c->nr;
    for (size_t n0 = 0; n0 < M; n0 += NR)
        for (size_t t = 0; t < ks; t++)
            for (size_t g = 0; g < C / 4; g++)
                for (size_t j = 0; j < NR; j++)
                    for (size_t i = 0; i < 4; i++) {
                        size_t m = n0 + j, ch = 4 * g + i;
                        *dst++ = m < M && ch < Cs ? w[(m * Cs + ch) * ks + t] : 0;
                    }
}

void sk_qu8_qc8w_igemm_ref(int MR, int NR, size_t mr, size_t nc, size_t kg, size_t ks,
                           const uint8_t *const *a, const int8_t *w, uint8_t *y, size_t ldy,
                           const uint8_t *res, size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < nc; j++) {
            int32_t acc = 0;
            for (size_t t = 0; t < ks; t++) {
                const uint8_t *x = a[t * (size_t)MR + r];
                const int8_t *wt = w + t * kg * 4 * (size_t)NR;
                for (size_t g = 0; g < kg; g++)
                    for (size_t i = 0; i < 4; i++)
                        acc += (int32_t)x[4 * g + i] * (int32_t)wt[(g * (size_t)NR + j) * 4 + i];
            }
            acc += p->bias[n0 + j];
            int32_t rv = 0;
            if (res) {
                uint8_t rb = res[r * ldr + j];
                rv = p->res_s8 ? (int32_t)(int8_t)rb : (int32_t)rb;
            }
            int32_t v = sk_qgemm_requant1(acc, p->mult[n0 + j], res != NULL, rv, p);
            y[r * ldy + j] = (uint8_t)(p->out_s8 ? (uint8_t)(int8_t)v : (uint8_t)v);
        }
}

void sk_qigemm_pack_w16(const sk_qigemm_cfg *c, size_t M, size_t C, size_t Cs, size_t ks,
                        const int8_t *w, int16_t *dst)
{
    size_t NR = (size_t)c->nr;
    for (size_t n0 = 0; n0 < M; n0 += NR)
        for (size_t t = 0; t < ks; t++)
            for (size_t g = 0; g < C / 4; g++)
                for (size_t odd = 0; odd < 2; odd++) /* (w0, w2), then (w1, w3) */
                    for (size_t j = 0; j < NR; j++)
                        for (size_t i = odd; i < 4; i += 2) {
                            size_t m = n0 + j, ch = 4 * g + i;
                            *dst++ = m < M && ch < Cs ? w[(m * Cs + ch) * ks + t] : 0;
                        }
}

int sk_qigemm_pairs_fit(const int8_t *w, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2) {
        int a = w[i], b = w[i + 1];
        if (((a > 0 && b > 0) || (a < 0 && b < 0)) && abs(a) + abs(b) > 128)
            return 0;
    }
    return 1;
}

size_t sk_qind_entries(const sk_qind_geo *g, int MR)
{
    size_t P = (size_t)(g->OH * g->OW), tiles = (P + (size_t)MR - 1) / (size_t)MR;
    return tiles * (size_t)(g->kh * g->kw) * (size_t)MR;
}

void sk_qind_build(const sk_qind_geo *g, int MR, int32_t *off)
{
    /* pixel by pixel with the output position stepped, not divided: a
     * 256x256 3x3 table is 590K entries, built at the first run of a shape */
    size_t P = (size_t)(g->OH * g->OW), ks = (size_t)(g->kh * g->kw), R = (size_t)MR;
    int64_t dy[64], dx[64]; /* the taps' offsets; larger kernels below */
    int small = ks <= 64;
    for (size_t t = 0; small && t < ks; t++) {
        dy[t] = (int64_t)(t / (size_t)g->kw) * g->dh - g->pt;
        dx[t] = (int64_t)(t % (size_t)g->kw) * g->dw - g->pl;
    }
    int64_t oh = 0, ow = 0;
    for (size_t p = 0; p < (P + R - 1) / R * R; p++) {
        size_t tile = p / R, r = p % R;
        int32_t *o = off + tile * ks * R + r;
        for (size_t t = 0; t < ks; t++) {
            int64_t ty = small ? dy[t] : (int64_t)(t / (size_t)g->kw) * g->dh - g->pt;
            int64_t tx = small ? dx[t] : (int64_t)(t % (size_t)g->kw) * g->dw - g->pl;
            int64_t ih = oh * g->sh + ty, iw = ow * g->sw + tx;
            o[t * R] = ih < 0 || ih >= g->H || iw < 0 || iw >= g->W
                           ? -1
                           : (int32_t)((ih * g->W + iw) * g->C);
        }
        if (p + 1 < P && ++ow == g->OW) { /* past the last pixel: repeat it */
            ow = 0;
            oh++;
        }
    }
}
