/* f32_cdir__avx2.c — the direct NCHW conv's band loop at the avx2 level
 * (sk_f32_cdir_band__avx2): tiles of 4 output channels x 2 vectors of 8
 * pixels (8 ymm accumulators of 16 registers). The loop lives in
 * ../fast_cdir_uk.h. */
#if defined(__x86_64__)
#define SK_FAST_AVX2 1
#include "../fast_simd.h"
#include "kernels/fast.h"

#define SK_CDIR_MR 4
#define SK_CDIR_PR 2
#include "../fast_cdir_uk.h"

/* the broadcast direct conv (fast_cdirb_uk.h): 6 pixels x 2 vectors */
#define SK_CDIRB_NAME cdirb_tile
#define SK_CDIRB_PT 6
#define SK_CDIRB_NV 2
#include "../fast_cdirb_uk.h"

#endif
