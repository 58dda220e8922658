/* switches.c — the kernels' run-time switches read once (switches.h). */
#include "switches.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static sk_switches table;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* a private copy of the variable's value (NULL unset or out of memory:
 * then the switch reads as unset, its default) */
static const char *copy_env(const char *name)
{
    const char *e = getenv(name);
    return e ? strdup(e) : NULL;
}

static void fill(void)
{
    pthread_mutex_lock(&mu);
#define SK_SWITCH_READ(f, name)     \
    free((char *)table.f);          \
    table.f = copy_env(name);
    SK_SWITCH_LIST(SK_SWITCH_READ)
#undef SK_SWITCH_READ
    const char *ap = table.gemm_apf, *mk = table.gemm_apf_mink;
    table.gemm_apf_set = ap && *ap;
    table.gemm_apf_dist = table.gemm_apf_set ? atol(ap) : 0;
    table.gemm_apf_mink_v = mk && *mk ? atoi(mk) : 128;
    const char *e = table.gemm_split_cache;
    table.gemm_split_cache_on = !(e && !strcmp(e, "0"));
    e = table.gemm_split_far;
    table.gemm_split_far_on = !(e && !strcmp(e, "0"));
    e = table.gemm_split;
    table.gemm_split_balance = e && strcmp(e, "balance") == 0;
    e = table.gemm_split_pool;
    table.gemm_split_pool_on = !(e && !strcmp(e, "0"));
    pthread_mutex_unlock(&mu);
}

const sk_switches *sk_sw(void)
{
    pthread_once(&once, fill);
    return &table;
}

void sk_switches_reload(void)
{
    pthread_once(&once, fill);
    fill();
}
