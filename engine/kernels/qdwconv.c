/* qdwconv.c — the int8 depthwise kernel's weight packing and its scalar
 * reference (qdwconv.h), the arithmetic the SIMD kernels reproduce. */
#include "qdwconv.h"

#include <string.h>

void sk_qdw_pack_w(size_t C, size_t ks, const int8_t *w, int32_t *dst)
{
    memset(dst, 0, sk_qdw_packed_w_elems(C, ks) * sizeof(int32_t));
    for (size_t c = 0; c < C; c++)
        for (size_t t = 0; t < ks; t++) /* the int16 pair (w, 0): low half w */
            dst[(c / SK_QDW_CB) * ks * SK_QDW_CB + t * SK_QDW_CB + c % SK_QDW_CB] =
                (int32_t)(uint16_t)(int16_t)w[c * ks + t];
}

void sk_qdw_pack_w32(size_t C, size_t ks, const int8_t *w, int32_t *dst)
{
    for (size_t b = 0; b < C / 32; b++)
        for (size_t t = 0; t < ks; t++)
            for (size_t j = 0; j < 16; j++) {
                int32_t *d = dst + (b * ks + t) * 32;
                d[j] = (int32_t)(uint16_t)(int16_t)w[(b * 32 + 2 * j) * ks + t];
                d[16 + j] = (int32_t)((uint32_t)(uint16_t)(int16_t)w[(b * 32 + 2 * j + 1) * ks + t]
                                      << 16);
            }
}

void sk_qu8_qc8w_dwconv__scalar(size_t n, size_t c0, size_t nc, size_t ks,
                                const uint8_t *const *x, const int32_t *w, uint8_t flip,
                                uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr,
                                const sk_qgemm_params *p)
{
    for (size_t i = 0; i < n; i++)
        for (size_t c = c0; c < c0 + nc; c++) {
            const int32_t *wc = w + (c / SK_QDW_CB) * ks * SK_QDW_CB + c % SK_QDW_CB;
            int32_t acc = p->bias[c];
            for (size_t t = 0; t < ks; t++)
                acc += (int32_t)(uint8_t)(x[i * ks + t][c] ^ flip) *
                       (int32_t)(int16_t)(wc[t * SK_QDW_CB] & 0xffff);
            int32_t r = 0;
            if (res)
                r = p->res_s8 ? (int32_t)(int8_t)res[i * ldr + c] : (int32_t)res[i * ldr + c];
            int32_t v = sk_qgemm_requant1(acc, p->mult[c], res != NULL, r, p);
            y[i * ldy + c] = (uint8_t)(p->out_s8 ? (uint8_t)(int8_t)v : (uint8_t)v);
        }
}

/* the row form (qdwconv.h) as the pointer form over the pointers it means */
void sk_qu8_qc8w_dwrow__scalar(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                               const uint8_t *const *rows, const size_t *rstep,
                               const size_t *qstep, const int32_t *w, const int32_t *w_pairs, uint8_t flip, uint8_t *y,
                               size_t ldy, const uint8_t *res, size_t ldr,
                               const sk_qgemm_params *p)
{
    (void)w_pairs; /* the pair layout: the VNNI row kernel's only */
    const uint8_t *ptr[SK_QDW_ROW_MAXK];
    size_t ks = kh * kw;
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < kh; r++)
            for (size_t q = 0; q < kw; q++)
                ptr[r * kw + q] = rows[r] + i * rstep[r] + q * qstep[r];
        sk_qu8_qc8w_dwconv__scalar(1, c0, nc, ks, ptr, w, flip, y + i * ldy, ldy,
                                   res ? res + i * ldr : NULL, ldr, p);
    }
}
