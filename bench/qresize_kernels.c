/* qresize_kernels.c — the channels-last int8 linear Resize kernels
 * (engine/kernels/fast_qresize.h) timed against each other on one 2x
 * half-pixel up-sample of H x W x C bytes (the U-Net-bilinear's shapes by
 * default), single-threaded, the variants interleaved and each one's best
 * of R repetitions kept (this VM's contention only adds time). Checks that
 * every variant wrote the same bytes. x86-64, not in `make all`:
 *   cc -O2 -I. -Iengine bench/qresize_kernels.c build/libskengine.a -lm -pthread \
 *      -o build/qresize-kernels && build/qresize-kernels [C W H REPS]
 * (session 16, branch qfl; bench/RESULTS.md) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/fast_qresize.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* the taps of an exact 2x half-pixel up-sample of n inputs (as sk_qrs_tap
 * gives them: edges clamped, 1/4 and 3/4 in 11 bits) */
static void taps2x(int n, int32_t *t)
{
    for (int o = 0; o < 2 * n; o++, t += 3) {
        int i = o / 2, e = o % 2 == 0;
        if (o == 0 || o == 2 * n - 1) {
            t[0] = t[1] = o ? n - 1 : 0;
            t[2] = 0;
        } else {
            t[0] = e ? i - 1 : i;
            t[1] = e ? i : i + 1;
            t[2] = e ? 1536 : 512;
        }
    }
}

int main(int argc, char **argv)
{
    int C = argc > 1 ? atoi(argv[1]) : 64, W = argc > 2 ? atoi(argv[2]) : 128,
        H = argc > 3 ? atoi(argv[3]) : 16, R = argc > 4 ? atoi(argv[4]) : 60;
    if (C < 1 || W < 2 || H < 2 || R < 1)
        return fprintf(stderr, "usage: qresize-kernels [C W H REPS]\n"), 1;
    int oW = 2 * W, oH = 2 * H, cp = (C + 31) & ~31;
    size_t ny = (size_t)oH * (size_t)oW * (size_t)C;
    uint8_t *x = malloc((size_t)H * W * C), *y = malloc(ny), *y0 = malloc(ny);
    int32_t *tw = malloc(sizeof(int32_t) * 3 * (size_t)oW), *th = malloc(sizeof(int32_t) * 3 * (size_t)oH);
    int32_t *slot[2] = {malloc(4 * (size_t)oW * cp), malloc(4 * (size_t)oW * cp)};
    if (!x || !y || !y0 || !tw || !th || !slot[0] || !slot[1])
        return fprintf(stderr, "out of memory\n"), 1;
    srand(1);
    for (size_t i = 0; i < (size_t)H * W * C; i++)
        x[i] = (uint8_t)rand();
    taps2x(W, tw);
    taps2x(H, th);
    sk_qrs q;
    memset(&q, 0, sizeof q);
    q.m = 1.0f / 4194304.0f; /* x_s = y_s */
    q.xzp = 128;
    q.yzp = 3;
    const char *name[5] = {"px__avx2 (s15)", "px16__avx2", "px32__avx512bw", "rows16 avx2",
                           "rows32 avx512bw"};
    sk_qu8_resize_px_fn px[3] = {sk_qu8_resize_px__avx2, sk_qu8_resize_px16__avx2,
                                 sk_qu8_resize_px32__avx512bw};
    sk_qu8_resize_hrow_fn hr[2] = {sk_qu8_resize_hrow16__avx2, sk_qu8_resize_hrow32__avx512bw};
    sk_qu8_resize_vblend_fn vb[2] = {sk_qu8_resize_vblend16__avx2, sk_qu8_resize_vblend32__avx512bw};
    double best[5] = {1e30, 1e30, 1e30, 1e30, 1e30};
    /* the 32-byte variants are AVX-512BW code: SIGILL elsewhere */
    __builtin_cpu_init();
    int bw = __builtin_cpu_supports("avx512bw");
    for (int rep = 0; rep < R; rep++)
        for (int k = 0; k < 5; k++) {
            if (!bw && (k == 2 || k == 4))
                continue;
            double t0 = now();
            if (k < 3) {
                for (int oh = 0; oh < oH; oh++) {
                    const uint8_t *a = x + (size_t)th[3 * oh] * W * C,
                                  *b = x + (size_t)th[3 * oh + 1] * W * C;
                    for (int o = 0; o < oW; o++)
                        px[k]((size_t)C, a + tw[3 * o] * C, a + tw[3 * o + 1] * C,
                              b + tw[3 * o] * C, b + tw[3 * o + 1] * C, tw[3 * o + 2],
                              th[3 * oh + 2], &q, y + ((size_t)oh * oW + o) * C);
                }
            } else { /* the two-slot cache of fast_qresize.c */
                int64_t tag[2] = {-1, -2};
                for (int oh = 0; oh < oH; oh++) {
                    int s[2];
                    for (int u = 0; u < 2; u++) {
                        int key = th[3 * oh + u], fill;
                        s[u] = sk_qrs_slot(tag, key, u ? s[0] : -1, &fill);
                        if (fill)
                            hr[k - 3]((size_t)C, (size_t)oW, x + (size_t)key * W * C, tw, &q,
                                      slot[s[u]]);
                    }
                    vb[k - 3]((size_t)C, (size_t)oW, slot[s[0]], slot[s[1]], th[3 * oh + 2], &q,
                              y + (size_t)oh * oW * C);
                }
            }
            double t = now() - t0;
            if (t < best[k])
                best[k] = t;
            if (rep == 0 && k == 0)
                memcpy(y0, y, ny);
            else if (rep == 0 && memcmp(y0, y, ny) != 0)
                return fprintf(stderr, "%s: other bytes than %s\n", name[k], name[0]), 1;
        }
    for (int k = 0; k < 5; k++)
        if (!bw && (k == 2 || k == 4))
            printf("C %d, %dx%d -> %dx%d: %-16s n/a (no AVX-512BW)\n", C, H, W, oH, oW, name[k]);
        else
            printf("C %d, %dx%d -> %dx%d: %-16s %.3f ns per output (%.2fx session 15's)\n", C, H, W,
               oH, oW, name[k], best[k] * 1e9 / (double)ny, best[0] / best[k]);
    return 0;
}
