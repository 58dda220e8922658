/* stream_read.c — how fast one core reads a buffer of packed weights
 * (issue 24, session 16: are the batch-1 1x1 / 7x7 layers bound by weight
 * bytes per second?). Reads a buffer of S bytes front to back with 512-bit
 * loads into 8 independent vaddps chains (no FMA: the loop is only the
 * read), repeats it until >= 0.2 s have passed, and prints GB/s — for
 * buffer sizes that sit in L1, L2, L3 and DRAM, with and without a
 * software prefetch D bytes ahead (a DRAM buffer is rotated through a
 * 512 MB ring so that every pass is cold, as a network's weights are).
 *
 *   cc -O2 -mavx512f -o build/stream-read bench/stream_read.c
 *   flock /work/notes/bench.lock build/stream-read
 *
 * Not built by `make all`: a measurement, not a part of the engine. */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One pass over n bytes at p; pf > 0: prefetcht0 pf bytes ahead each line. */
static __m512 pass(const char *p, size_t n, size_t pf)
{
    __m512 s[8];
    for (int i = 0; i < 8; i++)
        s[i] = _mm512_setzero_ps();
    for (size_t o = 0; o < n; o += 512) {
        if (pf) {
            for (int i = 0; i < 8; i++)
                _mm_prefetch(p + o + pf + 64 * i, _MM_HINT_T0);
        }
        for (int i = 0; i < 8; i++)
            s[i] = _mm512_add_ps(s[i], _mm512_load_ps((const float *)(p + o + 64 * i)));
    }
    for (int i = 1; i < 8; i++)
        s[0] = _mm512_add_ps(s[0], s[i]);
    return s[0];
}

int main(void)
{
    const size_t ring = (size_t)512 << 20;
    char *buf = aligned_alloc(4096, ring + ((size_t)1 << 20));
    if (!buf)
        return 1;
    memset(buf, 1, ring + ((size_t)1 << 20));
    const size_t sizes[] = {(size_t)16 << 10, (size_t)512 << 10, (size_t)4 << 20,
                            (size_t)16 << 20, (size_t)4 << 20};
    const char *where[] = {"L1", "L2", "L3", "L3/DRAM", "DRAM (ring)"};
    const size_t pfs[] = {0, 1024, 4096};
    __m512 sink = _mm512_setzero_ps();
    for (int si = 0; si < 5; si++) {
        for (int pi = 0; pi < 3; pi++) {
            size_t n = sizes[si], off = 0, bytes = 0;
            int cold = si == 4;
            double t0 = now(), t = t0;
            while (t - t0 < 0.2) {
                sink = _mm512_add_ps(sink, pass(buf + off, n, pfs[pi]));
                bytes += n;
                if (cold)
                    off = (off + n) % ring;
                t = now();
            }
            printf("%-12s %8zu KB  prefetch %4zu B ahead: %6.1f GB/s\n", where[si], n >> 10,
                   pfs[pi], (double)bytes / (t - t0) * 1e-9);
        }
    }
    float f[16];
    _mm512_storeu_ps(f, sink);
    return f[0] == 12345.0f; /* keep the sums */
}
