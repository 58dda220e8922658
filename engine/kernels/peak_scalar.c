/* peak_scalar.c — the scalar level's ceiling (see peak.h): 12 independent
 * float FMA-like chains the compiler keeps in registers. */
#include "kernels/peak.h"

double sk_peak_fma_scalar(long iters)
{
    float a[12];
    for (int j = 0; j < 12; j++)
        a[j] = 1.0f + (float)j;
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++)
            a[j] = a[j] * 0.99999f + 1e-5f;
    /* the sum is stored to a volatile so the chains are not optimized out */
    float sum = 0;
    for (int j = 0; j < 12; j++)
        sum += a[j];
    volatile float sink = sum;
    (void)sink;
    return (double)iters * 12.0 * 2.0;
}
