/* onnx_internal.h — shared between the ONNX loader's files (not public).
 *
 *   tensor_pb.c   TensorProto -> tensor (raw / typed / external data), .pb files
 *   onnx_load.c   ModelProto -> sk_graph
 *   onnx_opset.c  older opset forms -> the canonical forms kernels expect */
#ifndef SK_LOADERS_ONNX_INTERNAL_H
#define SK_LOADERS_ONNX_INTERNAL_H

#include "engine/graph.h"
#include "onnx.pb-c.h"

/* External data files opened during one load. Each file is mmap'ed once and
 * handed to the graph (sk_graph_add_mapping), which unmaps it when freed. */
typedef struct sk_ext_file {
    char *location;
    void *addr; /* NULL for an empty file */
    size_t size;
} sk_ext_file;

/* Where a model's bytes come from: a file read with pread (fd), or a
 * caller's buffer (mem). `path` names it in messages. */
typedef struct sk_src {
    int fd;
    const uint8_t *mem;
    uint64_t size;
    const char *path;
} sk_src;

/* Bytes [off, off + n) of the source; SK_EIO when it is shorter. */
int sk_src_read(const sk_src *s, uint64_t off, void *dst, size_t n, char *err, size_t errlen);

/* A model without the payloads of its large initializers (onnx_skel.c). */
/* raw_data shorter than this stays in the skeleton; the fuzz build
 * (tests/fuzz/run.sh) sets a small one so most payloads leave it */
#ifndef SK_SKEL_MIN_RAW
#define SK_SKEL_MIN_RAW 4096
#endif
typedef struct sk_skel_raw {
    size_t init;  /* index in graph.initializer */
    uint64_t off; /* the raw_data payload in the source */
    size_t len;
} sk_skel_raw;

typedef struct sk_skel {
    uint8_t *bytes; /* a ModelProto: the source without the payloads below */
    size_t len;
    sk_skel_raw *raw; /* ascending init */
    size_t nraw;
} sk_skel;

/* 0: *sk built; -1: the source is not the ModelProto the walk expects
 * (unpack it whole: that gives the message); SK_ENOMEM. */
int sk_skel_build(const sk_src *src, sk_skel *sk);
void sk_skel_free(sk_skel *sk);

/* The raw_data of the TensorProto being decoded, when it was left out of
 * the skeleton: tensor_pb.c reads it from `src` into the tensor. */
typedef struct sk_raw_ref {
    const sk_src *src;
    uint64_t off;
    size_t len;
} sk_raw_ref;

typedef struct sk_ext_ctx {
    const char *dir; /* model folder; NULL: external data is refused */
    sk_graph *g;     /* receives the mappings; NULL: data is copied instead */
    sk_ext_file *files;
    int nfiles;
    const sk_raw_ref *raw; /* set around one decode: the tensor's raw_data is there */
} sk_ext_ctx;

void sk_ext_ctx_free(sk_ext_ctx *x); /* frees the cache, not the mappings */

/* Decode a TensorProto. On success t->data is set (never NULL, even for zero
 * elements) and *owned tells whether it is sk_alloc'ed (1) or points into an
 * mmap'ed external file (0). `what` names the tensor in messages
 * ("initializer 'w'"). */
int sk_onnx_tensor_decode(const Onnx__TensorProto *tp, sk_ext_ctx *ext, const char *what,
                          sk_tensor *t, int *owned, char *err, size_t errlen);

/* Dims of a TensorProto -> shape, validated (rank, negative, absurd, overflow). */
int sk_onnx_dims(const int64_t *dims, size_t n, const char *what, sk_shape *s, char *err,
                 size_t errlen);

/* Rewrite node `ni` (just imported at default-domain opset `opset`) into the
 * canonical form ops.h describes: attributes that later became inputs turn
 * into constant inputs, Upsample becomes Resize, obsolete attributes go. */
int sk_onnx_canonicalize(sk_graph *g, int ni, int opset, char *err, size_t errlen);
/* Upsample (any opset; imported with op SK_OP_RESIZE) -> Resize-13. */
int sk_onnx_upsample(sk_graph *g, int ni, char *err, size_t errlen);

/* ONNX name of a TensorProto.DataType ("float16", ...), for messages. */
const char *sk_onnx_dtype_name(int onnx_type);

/* Whole file into a malloc'ed buffer (free()). SK_EIO with a message naming
 * the path when it is missing or unreadable. */
int sk_read_file(const char *path, void **buf, size_t *len, char *err, size_t errlen);

#endif
