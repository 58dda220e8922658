/* peak_scalar.c — the scalar level's ceiling (see peak.h): 12 independent
 * float chains, each from its own start value, that the compiler keeps in
 * registers. */
#include "kernels/peak.h"

double sk_peak_fma_scalar(long iters, float *sum)
{
    float a[12];
    for (int j = 0; j < 12; j++)
        a[j] = 1.0f + 0.125f * (float)j;
    for (long i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++)
            a[j] = a[j] * SK_PEAK_MUL + SK_PEAK_ADD;
    float s = 0;
    for (int j = 0; j < 12; j++)
        s += a[j];
    *sum = s;
    return (double)iters * 12.0 * 2.0;
}
