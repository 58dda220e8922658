/* reqid.c — see reqid.h. */
#include "server/reqid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static uint64_t g_seed[2];
static atomic_uint_fast64_t g_counter;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* splitmix64's finalizer: a bijection of 64-bit words, so distinct
 * counters give distinct ids while consecutive ones look unrelated. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void seed_once(void)
{
    if (getrandom(g_seed, sizeof g_seed, 0) != (ssize_t)sizeof g_seed) {
        /* no entropy source: time and pid still keep replicas apart */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g_seed[0] = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32));
        g_seed[1] = mix64((uint64_t)ts.tv_sec + g_seed[0]);
    }
}

void srv_reqid_make(char *out)
{
    pthread_once(&g_once, seed_once);
    uint64_t n = atomic_fetch_add(&g_counter, 1);
    snprintf(out, SRV_REQID_MAX + 1, "%016llx%016llx", (unsigned long long)g_seed[1],
             (unsigned long long)mix64(g_seed[0] + n));
}

int srv_reqid_take(const char *h, char *out)
{
    size_t n = h ? strlen(h) : 0;
    int ok = n >= 1 && n <= SRV_REQID_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        ok = c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    }
    if (ok) {
        memcpy(out, h, n + 1);
        return 1;
    }
    srv_reqid_make(out);
    return 0;
}
