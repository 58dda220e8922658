/* alloc_counter.h — count heap allocations, to prove a planned run allocates
 * nothing. glibc lets a program interpose malloc and friends; the counters
 * only move while `counting` is set. Not under a sanitizer, which owns
 * malloc itself: HAVE_COUNTER is then left undefined and callers skip the
 * check. Include once, in a test's .c file (or its one shared header). */
#ifndef SK_TEST_ALLOC_COUNTER_H
#define SK_TEST_ALLOC_COUNTER_H

#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SK_NO_MALLOC_HOOK 1
#endif
#endif
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && \
    !defined(SK_NO_MALLOC_HOOK)
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
