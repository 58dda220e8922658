/* sk.h — public types of the skipserve engine: status codes, dtypes, shapes,
 * tensors. The engine knows nothing of HTTP, images or protobuf; loaders build
 * an sk_graph (graph.h), plans run it (plan.h). */
#ifndef SK_H
#define SK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Status codes: 0 or negative. Every fallible call also fills a message
 * buffer (char *err, size_t errlen) with one human sentence. */
enum {
    SK_OK = 0,
    SK_EINVAL = -1,       /* bad argument / malformed graph */
    SK_ENOMEM = -2,       /* allocation failed or size overflow */
    SK_EUNSUPPORTED = -3, /* op, attribute value or dtype we do not implement */
    SK_EIO = -4,          /* file missing, unreadable, too short */
    SK_EFORMAT = -5,      /* bytes are not a valid model / tensor */
    SK_ESHAPE = -6,       /* shapes do not fit together */
    SK_ENEEDVALUE = -7,   /* shape inference needs the value of a non-constant input */
    SK_ETOOLARGE = -8,    /* input over a configured limit (pixels, bytes) */
};

/* Element types. The numbers are ONNX TensorProto.DataType so loaders can
 * pass them through; the engine computes in F32 and the integer types that
 * shape sub-graphs and quantized models need. SK_F16 / SK_BF16 are storage
 * formats only (2 bytes: .pb files, engine/half.h conversions): a graph's
 * float16 / bfloat16 values live in float32 tensors holding exactly the
 * half values (loaders widen them; Cast to a half type rounds). */
typedef enum {
    SK_DT_UNDEFINED = 0,
    SK_F32 = 1,
    SK_U8 = 2,
    SK_I8 = 3,
    SK_I32 = 6,
    SK_I64 = 7,
    SK_BOOL = 9, /* one byte, 0 or 1 */
    SK_F16 = 10, /* IEEE binary16 bits (storage only, see above) */
    SK_F64 = 11,
    SK_BF16 = 16, /* bfloat16 bits (storage only) */
} sk_dtype;

size_t sk_dtype_size(sk_dtype t);      /* 0 for unsupported types */
const char *sk_dtype_name(sk_dtype t); /* "float32", ... or "unsupported" */
int sk_dtype_supported(int onnx_type);

#define SK_MAX_RANK 8
#define SK_DIM_SYMBOLIC (-1) /* a dim_param (e.g. the batch "N") in a declared shape */

typedef struct sk_shape {
    int rank;
    int64_t dim[SK_MAX_RANK];
} sk_shape;

/* Largest element count a tensor may have (2^40): far above any real model,
 * low enough that count * 8 bytes can never overflow size_t. */
#define SK_MAX_NUMEL ((int64_t)1 << 40)

/* Product of dims; -1 when a dim is negative/symbolic or the product passes
 * SK_MAX_NUMEL (for an empty tensor: the product of its non-zero dims). A
 * rank-0 shape has one element. */
int64_t sk_shape_numel(const sk_shape *s);
int sk_shape_equal(const sk_shape *a, const sk_shape *b);
/* "[1,3,224,224]" (symbolic dims print as N) into buf; returns buf. */
char *sk_shape_str(const sk_shape *s, char *buf, size_t len);

/* A tensor view: the engine never owns `data` through this struct. */
typedef struct sk_tensor {
    sk_dtype dtype;
    sk_shape shape;
    void *data;
} sk_tensor;

static inline size_t sk_tensor_bytes(const sk_tensor *t)
{
    int64_t n = sk_shape_numel(&t->shape);
    return n < 0 ? 0 : (size_t)n * sk_dtype_size(t->dtype);
}

/* SK_ASAN: defined where this file is compiled with AddressSanitizer
 * (gcc's __SANITIZE_ADDRESS__, clang's __has_feature), SK_TSAN likewise
 * for ThreadSanitizer — the one test the engine (sk.c: no weight blocks
 * under ASan) and the tests (alloc_counter.h, test_load_memory.c) use. */
#if defined(__SANITIZE_ADDRESS__)
#define SK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SK_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SK_TSAN 1
#endif
#endif

/* 64-byte aligned allocation for tensors and arenas (free with sk_free).
 * Blocks of 2 MiB and more start on a 2 MiB boundary and are advised as
 * transparent huge pages (unless SKIPSERVE_HUGEPAGES=0; posix_memalign, so
 * they can be recycled heap — only sk_alloc_weights maps blocks). */
void *sk_alloc(size_t bytes);
/* sk_alloc for packed weights (kept as long as their graph): pieces of any
 * size carved from shared 2 MiB-aligned blocks advised as huge pages, so
 * the weights of small layers sit in huge pages too; 64-byte aligned, the
 * size rounded up to 64; free with sk_free (a block is unmapped when its
 * last piece is freed; a 2 MiB page of a block that no live piece touches
 * any more is given back at once, MADV_DONTNEED). Plain sk_alloc where
 * SKIPSERVE_HUGEPAGES=0 (or sk_weight_blocks_enabled() is 0). */
void *sk_alloc_weights(size_t bytes);
/* Frees what sk_alloc / sk_alloc_weights returned (NULL: nothing). A
 * pointer into a weight block that is not a live piece's start (a second
 * sk_free of a piece, or a pointer inside one) aborts with a message in
 * every build, as glibc's free does on a double free it sees: going on
 * would unmap a block other graphs still read, or hide a use after free.
 * Not every double free is seen: once a freed piece's bytes were handed out
 * again at the same address, a stale second sk_free frees the new owner. */
void sk_free(void *p);
/* 1 where sk_alloc_weights now carves weight blocks: compiled in (Linux
 * with MADV_HUGEPAGE, not under ASan: SK_ASAN) and SKIPSERVE_HUGEPAGES is
 * not 0; tests ask this instead of restating the rule */
int sk_weight_blocks_enabled(void);
/* 1 if p lies in one of the mapped 2 MiB-aligned blocks, with its start
 * and size (tests: the block is advised huge) */
int sk_huge_block_of(const void *p, void **base, size_t *size);

/* snprintf into an error buffer (NULL-safe); returns `code` so callers can
 * write `return sk_errf(err, errlen, SK_EINVAL, "...", ...)`. */
int sk_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
