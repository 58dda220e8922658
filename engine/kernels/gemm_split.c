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
