/* peak_int8__amx.c — the AMX-INT8 ceiling (peak_lowp.h; session 19, branch
 * ami): TDPBUSD on six 16 x 16 int32 accumulator tiles (tmm0-5) from one A
 * (u8) and one B (s8) tile (tmm6-7, every byte 1) loaded once: no loads in
 * the loop, six independent chains, as peak_bf16__amx.c. Each instruction
 * is 16 x 16 x 64 multiply-adds. The chains start at j (tiles loaded from
 * memory) and lane [0][0] of each is returned, so test_peak can check that
 * six chains ran. */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/amx/amx_tile.h"
#include "kernels/bf16.h"
#include "kernels/peak_lowp.h"


double sk_peak_int8_amx(long iters, int64_t *sum)
{
    sk_amx_load_config();
    _Alignas(64) int32_t c[6][256];
    _Alignas(64) uint8_t ab[1024];
    memset(ab, 1, sizeof ab);
    for (int j = 0; j < 6; j++)
        for (int i = 0; i < 256; i++)
            c[j][i] = j;
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
        _tile_dpbusd(0, 6, 7);
        _tile_dpbusd(1, 6, 7);
        _tile_dpbusd(2, 6, 7);
        _tile_dpbusd(3, 6, 7);
        _tile_dpbusd(4, 6, 7);
        _tile_dpbusd(5, 6, 7);
    }
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
    _tile_stored(2, c[2], 64);
    _tile_stored(3, c[3], 64);
    _tile_stored(4, c[4], 64);
    _tile_stored(5, c[5], 64);
    SK_AMX_MEM_BARRIER();
    sk_amx_release();
    int64_t s = 0;
    for (int j = 0; j < 6; j++)
        s += c[j][0];
    *sum = s;
    return (double)iters * 6.0 * 16.0 * 16.0 * 64.0 * 2.0;
}
