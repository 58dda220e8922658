/* qu8_qc8w_dwrow_8x32c__avx512vnni.c — the int8 depthwise row kernel
 * (qdwconv.h, the row form) on AVX512-VNNI, 32 channels a step: per tap and
 * pixel 32 input bytes widened to int16 by one vpmovzxbw from memory, then
 * two vpdpwssd against the pair layout (sk_qdw_pack_w32: (w, 0) for the even
 * channels, (0, w) for the odd), each summing one channel's product per
 * int32 lane — 3 instructions for 32 channels where the BW kernel spends 6
 * (vpmovzxbd, vpmaddwd, vpaddd per 16). The even / odd accumulators are
 * put back in channel order by two vpermt2d a pixel, then the qepi16
 * epilogue as the BW kernel: the same integers, the reference's bits.
 * int8 x (flipped bytes) and the channels past the last 32-block go to the
 * BW kernel. */
#include <immintrin.h>

#include "kernels/qdwconv.h"
#include "qu8_requant16__avx512f.h"

#define DWP_MAC(i)                                                                         \
    do {                                                                                   \
        __m512i x_ = _mm512_cvtepu8_epi16(                                                 \
            _mm256_loadu_si256((const __m256i *)(const void *)(b + (i) * rs + c)));        \
        e##i = _mm512_dpwssd_epi32(e##i, x_, we);                                          \
        o##i = _mm512_dpwssd_epi32(o##i, x_, wo);                                          \
    } while (0)

/* the 32 channels' bias and multipliers, loaded once a tile (the stores
 * go through uint8_t pointers, which may alias p->bias: per pixel they
 * were loaded again) */
typedef struct dwp_epi {
    __m512i b0, b1;
    __m512 m0, m1;
} dwp_epi;

static inline void dwp_store(__m512i ev, __m512i od, size_t c, uint8_t *y, const uint8_t *res,
                             const dwp_epi *k, const qepi16 *e)
{
    /* lanes j of ev / od are channels 2j / 2j + 1: back in channel order */
    const __m512i lo_i = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_i =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int h = 0; h < 2; h++) {
        size_t ch = c + 16 * (size_t)h;
        __m512i acc = _mm512_add_epi32(_mm512_permutex2var_epi32(ev, h ? hi_i : lo_i, od),
                                       h ? k->b1 : k->b0);
        __m512 mult = h ? k->m1 : k->m0;
        __m512i v = res ? qepi16_res(acc, mult, qepi16_rload(res + ch, 0xffff, e), e)
                        : qepi16_plain(acc, mult, e);
        _mm_storeu_si128((__m128i *)(void *)(y + ch), _mm512_cvtepi32_epi8(v));
    }
}

/* MR (a constant: 8, 4 or 1) pixels, the 32 channels from c */
static inline __attribute__((always_inline)) void
dwp_row(const size_t MR, size_t c, size_t kh, size_t kw, const uint8_t *const *rows,
        const size_t *rstep, const size_t *qstep, const int32_t *wb, uint8_t *y, size_t ldy,
        const uint8_t *res, size_t ldr, const sk_qgemm_params *p, const qepi16 *e)
{
    __m512i z = _mm512_setzero_si512();
    __m512i e0 = z, e1 = z, e2 = z, e3 = z, e4 = z, e5 = z, e6 = z, e7 = z;
    __m512i o0 = z, o1 = z, o2 = z, o3 = z, o4 = z, o5 = z, o6 = z, o7 = z;
    const int32_t *wt = wb;
    for (size_t r = 0; r < kh; r++) {
        const uint8_t *b = rows[r];
        size_t rs = rstep[r], qs = qstep[r];
        for (size_t q = 0; q < kw; q++, b += qs, wt += 32) {
            __m512i we = _mm512_loadu_si512((const void *)wt);
            __m512i wo = _mm512_loadu_si512((const void *)(wt + 16));
            DWP_MAC(0);
            if (MR > 1) {
                DWP_MAC(1);
                DWP_MAC(2);
                DWP_MAC(3);
            }
            if (MR > 4) {
                DWP_MAC(4);
                DWP_MAC(5);
                DWP_MAC(6);
                DWP_MAC(7);
            }
        }
    }
    __m512i ea[8] = {e0, e1, e2, e3, e4, e5, e6, e7}, oa[8] = {o0, o1, o2, o3, o4, o5, o6, o7};
    dwp_epi k = {_mm512_loadu_si512((const void *)(p->bias + c)),
                 _mm512_loadu_si512((const void *)(p->bias + c + 16)), _mm512_loadu_ps(p->mult + c),
                 _mm512_loadu_ps(p->mult + c + 16)};
    for (size_t i = 0; i < MR; i++)
        dwp_store(ea[i], oa[i], c, y + i * ldy, res ? res + i * ldr : NULL, &k, e);
}

void sk_qu8_qc8w_dwrow_8x32c__avx512vnni(size_t n, size_t c0, size_t nc, size_t kh, size_t kw,
                                         const uint8_t *const *rows, const size_t *rstep,
                                         const size_t *qstep, const int32_t *w,
                                         const int32_t *w_pairs, uint8_t flip, uint8_t *y,
                                         size_t ldy, const uint8_t *res, size_t ldr,
                                         const sk_qgemm_params *p)
{
    size_t c = c0, end = c0 + nc, ks = kh * kw;
    if (c % 32) /* a part starting mid-block: its first 16 channels on the BW kernel */
        c = c + 16 < end ? c + 16 : end;
    if (flip || !w_pairs)
        c = end;
    if (c > c0)
        sk_qu8_qc8w_dwrow_8x16c__avx512bw(n, c0, c - c0, kh, kw, rows, rstep, qstep, w, w_pairs,
                                          flip, y, ldy, res, ldr, p);
    qepi16 e;
    qepi16_init(&e, p);
    const uint8_t *rw[SK_QDW_ROW_MAXK];
    for (; c + 32 <= end; c += 32) {
        const int32_t *wb = w_pairs + (c / 32) * ks * 32;
        for (size_t r = 0; r < kh; r++)
            rw[r] = rows[r];
        for (size_t i = 0; i < n;) {
            size_t m = n - i >= 8 ? 8 : n - i >= 4 ? 4 : 1;
            uint8_t *yi = y + i * ldy;
            const uint8_t *ri = res ? res + i * ldr : NULL;
            if (m == 8)
                dwp_row(8, c, kh, kw, rw, rstep, qstep, wb, yi, ldy, ri, ldr, p, &e);
            else if (m == 4)
                dwp_row(4, c, kh, kw, rw, rstep, qstep, wb, yi, ldy, ri, ldr, p, &e);
            else
                dwp_row(1, c, kh, kw, rw, rstep, qstep, wb, yi, ldy, ri, ldr, p, &e);
            for (size_t r = 0; r < kh; r++)
                rw[r] += m * rstep[r];
            i += m;
        }
    }
    if (c < end) /* the channels past the last full block */
        sk_qu8_qc8w_dwrow_8x16c__avx512bw(n, c, end - c, kh, kw, rows, rstep, qstep, w, w_pairs,
                                          flip, y, ldy, res, ldr, p);
}
