/* peak_bf16__amx.c — the AMX-BF16 ceiling (peak_lowp.h; session 19):
 * TDPBF16PS on six 16 x 16 fp32 accumulator tiles (tmm0-5) from one A and
 * one B tile (tmm6-7, every bf16 SK_PEAK_BF16) loaded once: no loads in the
 * loop, six independent chains (the instruction's latency is several times
 * its issue interval). Each instruction is 16 x 16 x 32 multiply-adds. The
 * chains start at 1 + j/8 (tiles loaded from memory) and lane [0][0] of
 * each is returned, so test_peak can check that six chains ran. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/bf16.h"
#include "kernels/peak_lowp.h"

#include "amx_tile.h"

double sk_peak_bf16_amx(long iters, double *sum)
{
    sk_amx_load_config();
    _Alignas(64) float c[6][256];
    _Alignas(64) uint32_t ab[256];
    const uint32_t w = sk_bf16_pair(SK_PEAK_BF16, SK_PEAK_BF16);
    for (int i = 0; i < 256; i++)
        ab[i] = w;
    for (int j = 0; j < 6; j++)
        for (int i = 0; i < 256; i++)
            c[j][i] = 1.0f + 0.125f * (float)j;
    SK_AMX_MEM_BARRIER(); /* the tile loads read these (asm without memory operands) */
    _tile_loadd(0, c[0], 64);
    _tile_loadd(1, c[1], 64);
    _tile_loadd(2, c[2], 64);
    _tile_loadd(3, c[3], 64);
    _tile_loadd(4, c[4], 64);
    _tile_loadd(5, c[5], 64);
    _tile_loadd(6, ab, 64);
    _tile_loadd(7, ab, 64);
    for (long i = 0; i < iters; i++) {
        _tile_dpbf16ps(0, 6, 7);
        _tile_dpbf16ps(1, 6, 7);
        _tile_dpbf16ps(2, 6, 7);
        _tile_dpbf16ps(3, 6, 7);
        _tile_dpbf16ps(4, 6, 7);
        _tile_dpbf16ps(5, 6, 7);
    }
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
    _tile_stored(2, c[2], 64);
    _tile_stored(3, c[3], 64);
    _tile_stored(4, c[4], 64);
    _tile_stored(5, c[5], 64);
    SK_AMX_MEM_BARRIER();
    sk_amx_release();
    double s = 0;
    for (int j = 0; j < 6; j++)
        s += (double)c[j][0];
    *sum = s;
    return (double)iters * 6.0 * 16.0 * 16.0 * 32.0 * 2.0;
}
