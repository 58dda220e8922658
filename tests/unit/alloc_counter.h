/* alloc_counter.h — count heap allocations, to prove a planned run allocates
 * nothing. glibc lets a program interpose malloc and friends; the counters
 * only move while `counting` is set. Not under a sanitizer, which owns
 * malloc itself: HAVE_COUNTER is then left undefined and callers skip the
 * check. Include once, in a test's .c file (or its one shared header). */
#ifndef SK_TEST_ALLOC_COUNTER_H
#define SK_TEST_ALLOC_COUNTER_H

#include <stddef.h>

#include "engine/sk.h" /* SK_ASAN, SK_TSAN */

#if defined(__GLIBC__) && !defined(SK_ASAN) && !defined(SK_TSAN)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static volatile int counting;
static volatile long nallocs;
void *malloc(size_t n)
{
    if (counting)
        nallocs++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    if (counting)
        nallocs++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    if (counting)
        nallocs++;
    return __libc_realloc(p, n);
}
/* sk_alloc's aligned blocks (arenas, folded constants) */
int posix_memalign(void **out, size_t al, size_t n)
{
    if (counting)
        nallocs++;
    *out = __libc_memalign(al, n);
    return *out ? 0 : 12 /* ENOMEM */;
}
#define HAVE_COUNTER 1
#endif

#endif
