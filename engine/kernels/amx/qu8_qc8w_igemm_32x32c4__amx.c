/* qu8_qc8w_igemm_32x32c4__amx.c — the NHWC int8 conv microkernel on
 * AMX-INT8 (Intel Sapphire / Granite Rapids; session 19, branch ami).
 * Contract and weight layout: qigemm.h, with MR = 32, NR = 32 — the same
 * "c4 by tap" packing as the AVX512-VNNI 8x32 kernel: per 4-channel group a
 * 128-byte row of 32 channels x 4 bytes, so 16 groups of channels 0-15 are
 * one TDPBUSD B tile (16 rows of 64 bytes, 128 bytes apart) and channels
 * 16-31 the tile 64 bytes on. A tile: 16 pixels x 64 bytes (16 groups) of
 * one tap; C: tmm0-3 = pixels 0-15 / 16-31 x channels 0-15 / 16-31 (int32),
 * A tmm4-5, B tmm6-7: per 16 groups 4 tile loads for 4 TDPBUSD (32 x 32 x
 * 64 MACs; one zmm vpdpbusd is 16 x 4).
 *
 * A: a tap's 32 pixel rows come from the indirection buffer (or, for dk,
 * x0 + toff[t] + r * step). Where a tap's rows are equally spaced (the dk
 * form always; an interior tile of the indirection buffer mostly) and the
 * 16 groups are whole, the A tiles are loaded in place with that stride —
 * on the uk form each 16-row half on its own stride where the 32 are not
 * (a tile crossing an output row), the other half copied (measured:
 * ResNet-50 QDQ b1 1T 1.055x, U-Net 1.03x, b8 equal; RESULTS.md session 19
 * ami); otherwise the chunk's rows are copied into a 64-byte-row buffer, the
 * groups past kg as zeros (a K tail: kg % 16 != 0), and the B rows of a
 * tail copied into a zero-padded buffer as well (never read past the
 * packed weights).
 *
 * Bits: TDPBUSD is u8 x s8 -> int32 without saturation (wrapping adds);
 * integer sums are the same in any order, so the bias added in the epilogue
 * and the requantization of qepi16 (qu8_requant16__avx512f.h) give the
 * bytes of the VNNI kernels and the scalar reference. Tiles of <= 16
 * pixels run tiles 0-1 only, <= 16 channels tiles 0 / 2 only.
 *
 * The tile configuration is amx_tile.h's (every tile 16 rows x 64 bytes),
 * loaded by the caller's task (sk_qigemm_cfg.task_begin) and released at
 * its end (task_end). Compiled by the
 * Makefile's *__amx.c rule; called only through a config whose CPU has
 * AMX-INT8 and the granted tile state (config.c). */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/amx/amx_tile.h"
#include "kernels/avx512/qu8_requant16__avx512f.h"
#include "kernels/bf16.h"
#include "kernels/qigemm.h"


static inline void store32(uint8_t *y, __mmask32 k, __m512i v0, __m512i v1)
{
    __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(v0)),
                                        _mm512_cvtepi32_epi8(v1), 1);
    _mm256_mask_storeu_epi8(y, k, b);
}

/* one chunk of ng (<= 16) groups: A rows pa / pb (16 pixels each, stride sa
 * bytes), B at w (rows 128 bytes apart) */
#define AMX_DP(two, wide)                                                                  \
    do {                                                                                   \
        _tile_dpbusd(0, 4, 6);                                                             \
        if (wide)                                                                          \
            _tile_dpbusd(1, 4, 7);                                                         \
        if (two) {                                                                         \
            _tile_dpbusd(2, 5, 6);                                                         \
            if (wide)                                                                      \
                _tile_dpbusd(3, 5, 7);                                                     \
        }                                                                                  \
    } while (0)

static inline __attribute__((always_inline)) void
igemm_amx(const int hv, const int two, const int wide, size_t mr, size_t nc, size_t kg, size_t ks,
          const uint8_t *const *a, const uint8_t *x0, size_t step, const size_t *toff,
          const int8_t *w, uint8_t *y, size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
          const sk_qgemm_params *p)
{
    _Alignas(64) uint8_t ab[32 * 64];
    _Alignas(64) int8_t bb[16 * 128];
    _Alignas(64) int32_t cb[32 * 32];
    const int nrows = two ? 32 : 16;
    _tile_zero(0);
    if (wide)
        _tile_zero(1);
    if (two) {
        _tile_zero(2);
        if (wide)
            _tile_zero(3);
    }
    for (size_t t = 0; t < ks; t++) {
        const uint8_t *px[32];
        ptrdiff_t d, d1 = 0;
        int even, even1 = 0;
        if (a) {
            for (int r = 0; r < nrows; r++)
                px[r] = a[t * 32 + r];
            d = px[1] - px[0];
            even = 1;
            for (int r = 2; r < nrows; r++)
                even &= px[r] - px[r - 1] == d;
            if (hv && !even) {
                /* each 16-row half on its own stride */
                even = 1;
                for (int r = 2; r < 16; r++)
                    even &= px[r] - px[r - 1] == d;
                if (two) {
                    d1 = px[17] - px[16];
                    even1 = 1;
                    for (int r = 18; r < 32; r++)
                        even1 &= px[r] - px[r - 1] == d1;
                }
            } else {
                d1 = d;
                even1 = even;
            }
        } else {
            px[0] = x0 + toff[t];
            for (int r = 1; r < nrows; r++)
                px[r] = px[r - 1] + step;
            d = d1 = (ptrdiff_t)step;
            even = even1 = 1;
        }
        for (size_t g0 = 0; g0 < kg; g0 += 16) {
            const size_t ng = kg - g0 < 16 ? kg - g0 : 16;
            if (ng == 16 && even && (!two || even1)) {
                _tile_loadd(4, px[0] + 4 * g0, d);
                if (two)
                    _tile_loadd(5, px[16] + 4 * g0, d1);
                _tile_loadd(6, w, 128);
                if (wide)
                    _tile_loadd(7, w + 64, 128);
            } else if (hv && two && ng == 16 && (even || even1)) {
                /* one half in place, the other copied */
                const int cp = even ? 16 : 0;
                for (int r = cp; r < cp + 16; r++)
                    _mm512_store_si512(ab + 64 * r, _mm512_loadu_si512(px[r] + 4 * g0));
                SK_AMX_MEM_BARRIER();
                if (even)
                    _tile_loadd(4, px[0] + 4 * g0, d);
                else
                    _tile_loadd(4, ab, 64);
                if (even1)
                    _tile_loadd(5, px[16] + 4 * g0, d1);
                else
                    _tile_loadd(5, ab + 16 * 64, 64);
                _tile_loadd(6, w, 128);
                if (wide)
                    _tile_loadd(7, w + 64, 128);
            } else {
                const __mmask64 km = ng == 16 ? ~(__mmask64)0 : ((__mmask64)1 << (4 * ng)) - 1;
                for (int r = 0; r < nrows; r++)
                    _mm512_store_si512(ab + 64 * r, _mm512_maskz_loadu_epi8(km, px[r] + 4 * g0));
                const int8_t *wb = w;
                if (ng < 16) {
                    /* no memcpy / memset: tiles 0-3 hold live sums (amx_tile.h) */
                    for (size_t i = 0; i < 32; i++)
                        _mm512_store_si512(bb + 64 * i, i < 2 * ng ? _mm512_loadu_si512(w + 64 * i)
                                                                   : _mm512_setzero_si512());
                    wb = bb;
                }
                SK_AMX_MEM_BARRIER();
                _tile_loadd(4, ab, 64);
                if (two)
                    _tile_loadd(5, ab + 16 * 64, 64);
                _tile_loadd(6, wb, 128);
                if (wide)
                    _tile_loadd(7, wb + 64, 128);
            }
            AMX_DP(two, wide);
            w += ng * 128;
        }
    }
    _tile_stored(0, cb, 128);
    if (wide)
        _tile_stored(1, cb + 16, 128);
    if (two) {
        _tile_stored(2, cb + 16 * 32, 128);
        if (wide)
            _tile_stored(3, cb + 16 * 32 + 16, 128);
    }
    SK_AMX_MEM_BARRIER();
    __mmask16 k0 = (__mmask16)(nc >= 16 ? 0xffff : (1u << nc) - 1);
    __mmask16 k1 = (__mmask16)(nc >= 32 ? 0xffff : nc > 16 ? (1u << (nc - 16)) - 1 : 0);
    const __m512i bias0 = _mm512_maskz_loadu_epi32(k0, p->bias + n0);
    const __m512i bias1 = _mm512_maskz_loadu_epi32(k1, p->bias + n0 + 16);
    const __m512 mult0 = _mm512_maskz_loadu_ps(k0, p->mult + n0);
    const __m512 mult1 = _mm512_maskz_loadu_ps(k1, p->mult + n0 + 16);
    qepi16 e;
    qepi16_init(&e, p);
    const __mmask32 k = (__mmask32)k0 | (__mmask32)k1 << 16;
    for (size_t r = 0; r < mr; r++) {
        __m512i c0 = _mm512_add_epi32(_mm512_load_si512(cb + 32 * r), bias0);
        __m512i c1 = wide ? _mm512_add_epi32(_mm512_load_si512(cb + 32 * r + 16), bias1) : bias1;
        if (!res)
            store32(y + r * ldy, k, qepi16_plain(c0, mult0, &e), qepi16_plain(c1, mult1, &e));
        else
            store32(y + r * ldy, k,
                    qepi16_res(c0, mult0, qepi16_rload(res + r * ldr, k0, &e), &e),
                    qepi16_res(c1, mult1, qepi16_rload(res + r * ldr + 16, k1, &e), &e));
    }
}

static inline __attribute__((always_inline)) void
igemm_any(const int hv, size_t mr, size_t nc, size_t kg, size_t ks, const uint8_t *const *a,
          const uint8_t *x0, size_t step, const size_t *toff, const int8_t *w, uint8_t *y,
          size_t ldy, const uint8_t *res, size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    if (mr > 16) {
        if (nc > 16)
            igemm_amx(hv, 1, 1, mr, nc, kg, ks, a, x0, step, toff, w, y, ldy, res, ldr, n0, p);
        else
            igemm_amx(hv, 1, 0, mr, nc, kg, ks, a, x0, step, toff, w, y, ldy, res, ldr, n0, p);
    } else {
        if (nc > 16)
            igemm_amx(hv, 0, 1, mr, nc, kg, ks, a, x0, step, toff, w, y, ldy, res, ldr, n0, p);
        else
            igemm_amx(hv, 0, 0, mr, nc, kg, ks, a, x0, step, toff, w, y, ldy, res, ldr, n0, p);
    }
}

void sk_qu8_qc8w_igemm_32x32c4__amx(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *const *a, const int8_t *w, uint8_t *y,
                                    size_t ldy, const uint8_t *res, size_t ldr, size_t n0,
                                    const sk_qgemm_params *p)
{
    igemm_any(1, mr, nc, kg, ks, a, NULL, 0, NULL, w, y, ldy, res, ldr, n0, p);
}

void sk_qu8_qc8w_dconv_32x32c4__amx(size_t mr, size_t nc, size_t kg, size_t ks,
                                    const uint8_t *x0, size_t step, const size_t *toff,
                                    const int8_t *w, uint8_t *y, size_t ldy, const uint8_t *res,
                                    size_t ldr, size_t n0, const sk_qgemm_params *p)
{
    igemm_any(0, mr, nc, kg, ks, NULL, x0, step, toff, w, y, ldy, res, ldr, n0, p);
}
