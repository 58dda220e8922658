/* sk.c — dtype table, shape helpers, aligned allocation, error formatting. */
#include "sk.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

size_t sk_dtype_size(sk_dtype t)
{
    switch (t) {
    case SK_F32: return 4;
    case SK_F64: return 8;
    case SK_I32: return 4;
    case SK_I64: return 8;
    case SK_F16:
    case SK_BF16: return 2;
    case SK_U8:
    case SK_I8:
    case SK_BOOL: return 1;
    default: return 0;
    }
}

const char *sk_dtype_name(sk_dtype t)
{
    switch (t) {
    case SK_F32: return "float32";
    case SK_F64: return "float64";
    case SK_I32: return "int32";
    case SK_I64: return "int64";
    case SK_U8: return "uint8";
    case SK_I8: return "int8";
    case SK_BOOL: return "bool";
    case SK_F16: return "float16";
    case SK_BF16: return "bfloat16";
    default: return "unsupported";
    }
}

int sk_dtype_supported(int onnx_type)
{
    return sk_dtype_size((sk_dtype)onnx_type) != 0;
}

int64_t sk_shape_numel(const sk_shape *s)
{
    int64_t n = 1;
    int empty = 0;
    if (s->rank < 0 || s->rank > SK_MAX_RANK)
        return -1;
    /* The non-zero dims must multiply within the limit even when a zero dim
     * makes the tensor empty, so that kernels may multiply any subset of a
     * valid shape's dims without overflowing ([0, 2^62, 2^62] is refused). */
    for (int i = 0; i < s->rank; i++) {
        int64_t d = s->dim[i];
        if (d < 0)
            return -1;
        if (d == 0) {
            empty = 1;
            continue;
        }
        if (n > SK_MAX_NUMEL / d)
            return -1;
        n *= d;
    }
    return empty ? 0 : n;
}

int sk_shape_equal(const sk_shape *a, const sk_shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dim[i] != b->dim[i])
            return 0;
    return 1;
}

char *sk_shape_str(const sk_shape *s, char *buf, size_t len)
{
    size_t o = 0;
    if (len == 0)
        return buf;
    buf[0] = 0;
    if (s->rank < 0) {
        snprintf(buf, len, "?");
        return buf;
    }
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < s->rank && o < len; i++) {
        if (s->dim[i] == SK_DIM_SYMBOLIC)
            o += (size_t)snprintf(buf + o, len - o, "%sN", i ? "," : "");
        else
            o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "",
                                  (long long)s->dim[i]);
    }
    if (o < len)
        snprintf(buf + o, len - o, "]");
    return buf;
}

/* Blocks of HUGE_PAGE bytes and more (the arena, big folded constants)
 * start on a 2 MiB boundary and ask for transparent huge pages: at batch 1
 * a ResNet streams ~100-180 MB of packed weights per run, and with 4 KiB
 * pages every 4 KiB of it is a page walk (the L2 TLB covers 8 MiB). Where
 * THP is "madvise" (Debian's default) only such advice gets huge pages;
 * where it is "never" the advice does nothing.
 *
 * Packed weights (sk_alloc_weights, session 20 branch hp) of any size are
 * carved by a bump pointer from weight blocks mapped for them (mmap, 2 MiB
 * aligned, advised huge, WEIGHT_BLOCK or the piece's size rounded to 2 MiB):
 * before, each weight under 2 MiB (most of ResNet's convs) was its own
 * malloc piece in 4 KiB pages, and a weight over 2 MiB could be recycled
 * heap already faulted in 4 KiB pages (the passes free the raw weights,
 * which raises glibc's mmap threshold: ResNet-101 had 188 of its ~250 MB
 * in huge pages, one ab_inproc graph 0 of 48 MB). A block is unmapped when
 * its last piece is freed, a 2 MiB page of it when no live piece touches it
 * (session 21); only the freed pieces at a block's end are reused (weights
 * live as long as their graph). SKIPSERVE_HUGEPAGES=0 turns all of it off
 * (posix_memalign without advice); read at each allocation of weights or
 * of 2 MiB and more (loads, not runs: tests flip it between loads). */
#define HUGE_PAGE ((size_t)2 << 20)

static int huge_pages_wanted(void)
{
    const char *e = getenv("SKIPSERVE_HUGEPAGES"); /* per call: at load */
    return !(e && strcmp(e, "0") == 0);
}

/* not under ASan (SK_ASAN, sk.h): pieces of our own mappings would hide
 * overreads between packed weights and their use after free from it */
#if defined(__linux__) && defined(MADV_HUGEPAGE) && !defined(SK_ASAN)
#define SK_HUGE_BLOCKS 1
/* A piece handed out of a block: [off, off + len) from its base; len 0
 * once freed. */
typedef struct {
    size_t off, len;
} hpiece;
/* One mapped weight block: [base, base + size), 2 MiB aligned, `used`
 * bytes handed out from its start, `live` pieces not yet freed. Its pieces
 * in address order (bump order: `pc`, `npc`), and per 2 MiB page the live
 * pieces that touch it (`pg`). Session 21 (sw21):
 *   - sk_free of a pointer that is not a live piece's start aborts (it
 *     used to decrement `live` silently: a double free could unmap a
 *     block another graph still reads);
 *   - a page no live piece touches is given back (MADV_DONTNEED) when its
 *     last piece goes: a model's small pieces fill the tails of other
 *     models' blocks (first fit), so an unloaded model's pieces used to
 *     stay resident until every model sharing a block went
 *     (tests/unit/test_hugepages.c: test_unload_gives_back);
 *   - the freed pieces at the end of the block are handed out again (was:
 *     only the last piece), so a packer that frees what it just packed
 *     leaves no hole.
 * Sorted by base. */
typedef struct {
    char *base;
    size_t size, used;
    long live;
    hpiece *pc;
    size_t npc, cappc;
    uint32_t *pg;
} hblock;

static pthread_mutex_t hb_mu = PTHREAD_MUTEX_INITIALIZER;
static hblock *hb;
static size_t hb_n, hb_cap;

/* index of the block holding p, or -1 (hb_mu held) */
static long hb_find(const void *p)
{
    size_t lo = 0, hi = hb_n;
    const char *c = p;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < hb[mid].base)
            hi = mid;
        else if (c >= hb[mid].base + hb[mid].size)
            lo = mid + 1;
        else
            return (long)mid;
    }
    return -1;
}

/* n bytes from block b's tail (the caller checked they fit); NULL when the
 * piece table cannot grow (hb_mu held) */
static void *hb_take(hblock *b, size_t n)
{
    if (b->npc == b->cappc) {
        size_t nc = b->cappc ? 2 * b->cappc : 16;
        hpiece *t = realloc(b->pc, nc * sizeof *t);
        if (!t)
            return NULL;
        b->pc = t;
        b->cappc = nc;
    }
    const size_t off = b->used;
    b->pc[b->npc++] = (hpiece){off, n};
    b->used += n;
    b->live++;
    for (size_t q = off / HUGE_PAGE; q <= (off + n - 1) / HUGE_PAGE; q++)
        b->pg[q]++;
    return b->base + off;
}

/* a new empty block of `size` bytes (a multiple of HUGE_PAGE), registered;
 * its index, or -1 on failure (hb_mu held) */
static long hb_map(size_t size)
{
    if (hb_n == hb_cap) {
        size_t nc = hb_cap ? 2 * hb_cap : 64;
        hblock *n = realloc(hb, nc * sizeof *n);
        if (!n)
            return -1;
        hb = n;
        hb_cap = nc;
    }
    size_t span = size + HUGE_PAGE;
    if (span < size)
        return -1;
    uint32_t *pg = calloc(size / HUGE_PAGE, sizeof *pg);
    if (!pg)
        return -1;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        free(pg);
        return -1;
    }
    char *base = (char *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (base > m)
        munmap(m, (size_t)(base - m));
    if (m + span > base + size)
        munmap(base + size, (size_t)(m + span - (base + size)));
    madvise(base, size, MADV_HUGEPAGE); /* advice only: ignore errors */
    size_t i = hb_n;
    while (i > 0 && hb[i - 1].base > base) {
        hb[i] = hb[i - 1];
        i--;
    }
    hb[i] = (hblock){base, size, 0, 0, NULL, 0, 0, pg};
    hb_n++;
    return (long)i;
}

/* unmap block i and drop it (hb_mu held) */
static void hb_unmap(size_t i)
{
    munmap(hb[i].base, hb[i].size);
    free(hb[i].pc);
    free(hb[i].pg);
    memmove(hb + i, hb + i + 1, (hb_n - i - 1) * sizeof *hb);
    hb_n--;
}

#define WEIGHT_BLOCK ((size_t)32 << 20)

static size_t round_huge(size_t n) { return (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1); }

/* n (a multiple of 64, > 0) bytes in a mapped block; NULL when mapping fails */
static void *hb_alloc(size_t n)
{
    if (round_huge(n) < n)
        return NULL;
    pthread_mutex_lock(&hb_mu);
    void *p = NULL;
    for (size_t i = 0; i < hb_n && !p; i++) /* first fit in a block's tail */
        if (hb[i].size - hb[i].used >= n)
            p = hb_take(&hb[i], n);
    /* a weight block is mapped WEIGHT_BLOCK at least: the next weights go
     * on where the last ended, so only the last 2 MiB page a block has
     * touched is partly unused (pages never touched are never resident);
     * 2 MiB blocks per piece left a part-used huge page behind every
     * weight of 2.4 MB (ViT-B/16: +64 MB resident) */
    if (!p) {
        long i = hb_map(round_huge(n) < WEIGHT_BLOCK ? WEIGHT_BLOCK : round_huge(n));
        if (i >= 0 && !(p = hb_take(&hb[i], n)))
            hb_unmap((size_t)i);
    }
    pthread_mutex_unlock(&hb_mu);
    return p;
}

/* index of block b's live piece starting at off, or -1 */
static long hb_piece(const hblock *b, size_t off)
{
    size_t lo = 0, hi = b->npc;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->pc[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->npc && b->pc[lo].off == off && b->pc[lo].len ? (long)lo : -1;
}

/* 1 if p was in a mapped block (and is now released), 0 if not; aborts
 * where p is in a block but not a live piece's start */
static int hb_release(void *p)
{
    pthread_mutex_lock(&hb_mu);
    long i = hb_n ? hb_find(p) : -1;
    if (i < 0) {
        pthread_mutex_unlock(&hb_mu);
        return 0;
    }
    hblock *b = &hb[i];
    const size_t off = (size_t)((char *)p - b->base);
    long k = hb_piece(b, off);
    if (k < 0) {
        fprintf(stderr,
                "skipserve: sk_free(%p): not a live piece of the weight block at %p "
                "(freed twice, or a pointer inside a piece)\n",
                p, (void *)b->base);
        abort();
    }
    const size_t len = b->pc[k].len;
    b->pc[k].len = 0;
    if (--b->live == 0) {
        hb_unmap((size_t)i);
        pthread_mutex_unlock(&hb_mu);
        return 1;
    }
    for (size_t q = off / HUGE_PAGE; q <= (off + len - 1) / HUGE_PAGE; q++)
        if (--b->pg[q] == 0) /* no live piece on it: give it back */
            madvise(b->base + q * HUGE_PAGE, HUGE_PAGE, MADV_DONTNEED);
    while (b->npc && !b->pc[b->npc - 1].len) /* freed pieces at the end: handed out again */
        b->npc--;
    b->used = b->npc ? b->pc[b->npc - 1].off + b->pc[b->npc - 1].len : 0;
    pthread_mutex_unlock(&hb_mu);
    return 1;
}
#endif

static void *alloc_any(size_t bytes, int weights)
{
    void *p = NULL;
    /* round up so vector kernels may read a full 64-byte line past a tail */
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < bytes)
        return NULL;
    if (!n)
        n = 64;
#ifdef SK_HUGE_BLOCKS
    if (weights && huge_pages_wanted() && (p = hb_alloc(n)))
        return p;
#else
    (void)weights;
#endif
    size_t align = n >= HUGE_PAGE ? HUGE_PAGE : 64;
    if (posix_memalign(&p, align, n) != 0)
        return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == HUGE_PAGE && huge_pages_wanted())
        madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE); /* advice only: ignore errors */
#endif
    return p;
}

void *sk_alloc(size_t bytes) { return alloc_any(bytes, 0); }

void *sk_alloc_weights(size_t bytes) { return alloc_any(bytes, 1); }

void sk_free(void *p)
{
    if (!p)
        return;
#ifdef SK_HUGE_BLOCKS
    if (hb_release(p))
        return;
#endif
    free(p);
}

int sk_weight_blocks_enabled(void)
{
#ifdef SK_HUGE_BLOCKS
    return huge_pages_wanted();
#else
    return 0;
#endif
}

int sk_huge_block_of(const void *p, void **base, size_t *size)
{
#ifdef SK_HUGE_BLOCKS
    pthread_mutex_lock(&hb_mu);
    long i = hb_n ? hb_find(p) : -1;
    if (i >= 0) {
        if (base)
            *base = hb[i].base;
        if (size)
            *size = hb[i].size;
    }
    pthread_mutex_unlock(&hb_mu);
    return i >= 0;
#else
    (void)p, (void)base, (void)size;
    return 0;
#endif
}


int sk_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
