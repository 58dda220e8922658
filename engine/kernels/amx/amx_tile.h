/* amx_tile.h — the tile-state helpers shared by the AMX kernels
 * (the kernels/amx/ files named __amx only: needs -mamx-tile; session 19, branch mend19).
 *
 * The x86-64 ABI makes the tile configuration and tile data caller-saved
 * (LLVM's X86PreTileConfig), Linux drops the tile state while a signal
 * handler runs, and TILERELEASE (or another AMX user on the thread) clears
 * it: a "loaded once per thread" flag can be stale, and the next tile load
 * would fault. So the tile configuration is loaded at the start of each
 * GEMM task that runs AMX kernels (sk_gemm_cfg.task_begin, gemm.c run_task;
 * fast_winograd.c wino_task) and released at its end (task_end), which also
 * hands the 8 KB of tile data back (else every worker thread that ran one
 * bf16 request keeps it live, saved and restored at every context switch).
 * Cost: one LDTILECFG + TILERELEASE per task, not per tile (measured: no
 * visible change on ResNet-50 bf16 b1 1T/2T, bench/RESULTS.md session 19
 * mend19). No libc call may run while tiles hold live accumulators: the
 * kernels copy with AVX-512 instead of memset / memcpy. */
#ifndef SK_AMX_TILE_H
#define SK_AMX_TILE_H

#include <immintrin.h>
#include <stdint.h>

/* gcc's _tile_loadd / _tile_stored are asm statements without memory
 * operands (and _tile_loadconfig declares only the config's first 8 bytes
 * read): the compiler does not know they read or write memory, so stores
 * into a buffer a tile load reads next (the zero-padded last chunk) could
 * be dropped or sunk, and reads of a buffer a tile store just wrote (the
 * epilogue's) hoisted. This barrier orders them (the first version without
 * it read garbage in the padded chunk under the driver: NaN rows; and an
 * ldtilecfg of a half-written config: SIGILL at the first tile load). */
#define SK_AMX_MEM_BARRIER() __asm__ __volatile__("" ::: "memory")

typedef struct {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} sk_amx_tilecfg;

/* palette 1, tiles 0-7 of 16 rows x 64 bytes (the only shape the kernels
 * use), the rest unused; built field by field (no memset call) */
static inline __attribute__((always_inline)) void sk_amx_load_config(void)
{
    _Alignas(64) sk_amx_tilecfg t;
    t.palette = 1;
    t.start_row = 0;
    for (int i = 0; i < 14; i++)
        t.reserved[i] = 0;
    for (int i = 0; i < 16; i++) {
        t.colsb[i] = i < 8 ? 64 : 0;
        t.rows[i] = i < 8 ? 16 : 0;
    }
    SK_AMX_MEM_BARRIER();
    _tile_loadconfig(&t);
}

static inline __attribute__((always_inline)) void sk_amx_release(void) { _tile_release(); }

#endif
