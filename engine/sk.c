/* sk.c — dtype table, shape helpers, aligned allocation, error formatting. */
#include "sk.h"

#include <stdarg.h>
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

/* Blocks of HUGE_PAGE bytes and more (packed weights, the arena) start on a
 * 2 MiB boundary and ask for transparent huge pages: at batch 1 a ResNet
 * streams ~160 MB of packed weights per run, and with 4 KiB pages every
 * 4 KiB of it is a page walk (the L2 TLB covers 8 MiB). Where THP is
 * "madvise" (Debian's default) only such advice gets huge pages; where it
 * is "never" the advice does nothing. SKIPSERVE_HUGEPAGES=0 turns it off. */
#define HUGE_PAGE ((size_t)2 << 20)

static int huge_pages_wanted(void)
{
    const char *e = getenv("SKIPSERVE_HUGEPAGES"); /* per call: big blocks are few */
    return !(e && strcmp(e, "0") == 0);
}

void *sk_alloc(size_t bytes)
{
    void *p = NULL;
    /* round up so vector kernels may read a full 64-byte line past a tail */
    size_t n = (bytes + 63) & ~(size_t)63;
    if (n < bytes)
        return NULL;
    size_t align = n >= HUGE_PAGE ? HUGE_PAGE : 64;
    if (posix_memalign(&p, align, n ? n : 64) != 0)
        return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == HUGE_PAGE && huge_pages_wanted())
        madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE); /* advice only: ignore errors */
#endif
    return p;
}

void sk_free(void *p) { free(p); }

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
