/* f32_cdir__avx512f.c — the direct NCHW conv's band loop at the avx512
 * level (sk_f32_cdir_band__avx512f): tiles of 4 output channels x 6
 * vectors of 16 pixels (24 zmm accumulators, 6 inputs, 1 broadcast; on the
 * ResNet stem 1.07x the 4 x 4 tile, 6 x 4 1.05x, 8 x 3 1.07x, 8 x 2 1.05x:
 * bench/ab.py, 5 rounds, session 16). The loop lives in ../fast_cdir_uk.h. */
#if defined(__x86_64__)
#define SK_FAST_AVX512 1
#include "../fast_simd.h"
#include "kernels/fast.h"

#define SK_CDIR_MR 4
#define SK_CDIR_PR 6
#include "../fast_cdir_uk.h"

/* the broadcast direct conv (fast_cdirb_uk.h): 14 pixels x 32 channels
 * (28-, 14-wide rows), and 7 pixels x 64 channels (7-wide rows); 28 zmm
 * accumulators each */
#define SK_CDIRB_NAME cdirb_tile
#define SK_CDIRB_PT 14
#define SK_CDIRB_NV 2
#include "../fast_cdirb_uk.h"
#undef SK_CDIRB_NAME
#undef SK_CDIRB_PT
#undef SK_CDIRB_NV
#define SK_CDIRB_NAME cdirb_tile7
#define SK_CDIRB_PT 7
#define SK_CDIRB_NV 4
#include "../fast_cdirb_uk.h"

#endif
