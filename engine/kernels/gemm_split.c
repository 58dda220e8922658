/* gemm_split.c — how long a GEMM split takes as the thread pool runs it
 * (issue 24 session 17, batch 1 at 2 threads).
 *
 * gemm.c's plan_split weighs candidate splits (column blocks x row chunks)
 * by their finish time. Its first estimate counts rounds of the *mean*
 * task; but the tasks of a split differ (the last column block and row
 * chunk are short, and a short block still pays for whole panels), and the
 * pool does not deal them to whoever is free: each thread first runs its
 * own contiguous share of the task numbers, then takes what is left of
 * the others' (threadpool.c). So at batch 1 ResNet-50's 1x1 1024->256
 * conv on 14x14 (196 pixel columns) was cut into a 128-column and a
 * 68-column block x 4 row chunks: thread 0 got the four wide tasks,
 * thread 1 the four narrow ones (~88 us against ~62 us each, measured),
 * and one thread idled ~70 us of the ~340 us. Here each split is played
 * out in the pool's order with each task's padded size (whole mr x nr
 * tiles: the microkernel computes a partial tile at full cost), so an
 * even split over row chunks wins there.
 *
 * The model of the pool: every thread starts at time 0; the thread that
 * is free first (the lowest id on a tie) claims the next task of its own
 * share [t*n/T, (t+1)*n/T), or when that is empty the next unclaimed task
 * of thread t+1's share, t+2's, ... (mod T). This is the pool's order
 * when each task is its own chunk, which threadpool.c does for up to
 * SINGLE_ITEMS_PER_THREAD (16) tasks a thread; callers use this model
 * only there. */
#include "kernels/gemm.h"

#include <stddef.h>

/* padded rows x columns of task t (items x column blocks x row chunks,
 * row chunks fastest: run_task's numbering) */
static double task_size(const sk_gemm_job *j, int ppb, int nblocks, int cpp, int mchunks,
                        long t)
{
    const int mr = j->cfg->mr, nr = j->cfg->nr;
    long r = t % ((long)nblocks * mchunks);
    int c0 = (int)(r / mchunks) * ppb * nr, r0 = (int)(r % mchunks) * cpp * mr;
    int cols = j->N - c0 < ppb * nr ? j->N - c0 : ppb * nr;
    int rows = j->M - r0 < cpp * mr ? j->M - r0 : cpp * mr;
    cols = (cols + nr - 1) / nr * nr;
    rows = (rows + mr - 1) / mr * mr;
    return (double)cols * (double)rows;
}

double sk_gemm_split_pool_busiest_elems(const sk_gemm_job *j, int T, int ppb, int nblocks, int cpp,
                                 int mchunks)
{
    const long n = (long)j->nbatch * nblocks * mchunks;
    if (T < 1 || T > SK_GEMM_SPLIT_MAX_T || n <= 0)
        return -1;
    long next[SK_GEMM_SPLIT_MAX_T], end[SK_GEMM_SPLIT_MAX_T];
    double busy[SK_GEMM_SPLIT_MAX_T];
    for (int q = 0; q < T; q++) {
        next[q] = n * q / T;
        end[q] = n * (q + 1) / T;
        busy[q] = 0;
    }
    for (long claimed = 0; claimed < n; claimed++) {
        int q = 0; /* the thread free first */
        for (int u = 1; u < T; u++)
            if (busy[u] < busy[q])
                q = u;
        int s = q; /* its share, or the nearest share with tasks left */
        for (int k = 0; k < T && next[s] >= end[s]; k++)
            s = (q + k + 1) % T;
        busy[q] += task_size(j, ppb, nblocks, cpp, mchunks, next[s]++);
    }
    double worst = 0;
    for (int q = 0; q < T; q++)
        if (busy[q] > worst)
            worst = busy[q];
    return worst;
}

/* ---- the column split (issue 24 session 18, batch 1 at 2 threads) -------
 * A 1x1 conv at 14x14 and batch 1 (ResNet-50/101's third stage: 196 pixel
 * columns, 1024 x 256 or 256 x 1024 weights) ran as shared columns
 * (fast_conv_im2col.c): both threads gather half of the column matrix,
 * wait for each other, and then each multiplies half of the weight rows
 * by the *whole* matrix, half of which sits in the other core's L2 (read
 * across cores at 32-37 GB/s, bench/xcore_read.c) and which, at 917 KB
 * for K = 1024, does not stay in a 1 MB L2 beside the weights. Split by
 * columns instead, each thread packs its own columns from the input (the
 * columns the same thread wrote in the previous layer, when that layer
 * was split the same way), multiplies the whole weights by them, and
 * writes its own output columns: nothing a core reads was written by the
 * other, no barrier between packing and multiplying. Both threads stream
 * all the weights (the same lines, at once, from L3 / DRAM) where the row
 * split streamed half each; measured faster at 2 threads anyway
 * (bench/RESULTS.md, session 18). The 196 columns are 6 full 32-column
 * panels and 4 columns: 3 panels a thread, the second also the 4-column
 * panel (the narrow kernel, cheap), where the cost model's panel-sized
 * blocks could only cut 4 + 3 panels. */
int sk_gemm_split_cols(const sk_gemm_job *j, int T, int *nbw, int *nblocks)
{
    const int nr = j->cfg->nr, full = j->N / nr, rem = j->N % nr;
    if (j->split_cols == SK_GEMM_SPLIT_ROWS) {
        /* the row split: every column in one block (within nc), the
         * weights' rows in T chunks (gemm.c) */
        const int np = (j->N + nr - 1) / nr, mp = (j->M + j->cfg->mr - 1) / j->cfg->mr;
        if (j->nbatch != 1 || T < 2 || np * nr > j->cfg->nc || mp < T)
            return 0;
        *nbw = np * nr;
        *nblocks = 1;
        return 1;
    }
    if (!j->split_cols || j->nbatch != 1 || T < 2 || full < T || rem > nr / 2 ||
        !(j->cfg->ntail || j->cfg->narrow))
        return 0;
    const int ppb = (full + T - 1) / T, nbl = (full + ppb - 1) / ppb;
    /* one block a thread; the widest (the last, with the narrow panel)
     * packed within the per-thread buffer of nc columns */
    if (nbl != T || (ppb + (rem ? 1 : 0)) * nr > j->cfg->nc)
        return 0;
    *nbw = ppb * nr;
    *nblocks = nbl;
    return 1;
}
