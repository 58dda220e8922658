/* f32_cdir_4x3__avx2.c — the direct NCHW conv's band loop at the avx2 level
 * with tiles of 4 output channels x 3 vectors of 8 pixels
 * (sk_f32_cdir_band_4x3__avx2): 12 ymm accumulators, 3 pixel vectors and
 * a broadcast weight — all 16 registers. Session 21 (a2r): on the Intel
 * Xeon of sessions 19-21 as an AVX2 CPU (bench/cpuid_avx2.c), ResNet's 7x7
 * s2 stem (3 -> 64 at 112x112, batch 1, 1 thread) took 2.65-2.76 ms with
 * the 4 x 2 tile (8 accumulators: as many as two 4-cycle FMA pipes keep
 * in flight, no slack) and 2.39-2.45 ms with this one (thread CPU time,
 * three alternating rounds of 10 runs); 3 x 4 and 2 x 6 took 3.5-4.1 ms
 * (64 channels are not a multiple of 3; 6 loads a tap). config.c
 * fill_cdir takes it on Intel; AMD keeps the 4 x 2 tile it measured. Each
 * output is the same FMA chain over the taps as in the 4 x 2 tile: the
 * same bits. The loop lives in ../fast_cdir_uk.h. */
#if defined(__x86_64__)
#define SK_FAST_AVX2 1
#define SK_UK(name) sk_f32_##name##_4x3__avx2
#include "../fast_simd.h"
#include "kernels/fast.h"

#define SK_CDIR_MR 4
#define SK_CDIR_PR 3
#include "../fast_cdir_uk.h"
#endif
