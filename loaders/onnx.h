/* onnx.h — read an ONNX ModelProto (protobuf-c, bindings generated at build
 * time from Debian's onnx.proto) into an engine graph, and read/write
 * TensorProto files (the backend test-data format). */
#ifndef SK_LOADERS_ONNX_H
#define SK_LOADERS_ONNX_H

#include "engine/graph.h"

/* Load `path`. External data is resolved relative to the model's folder and
 * mmap'ed. Older opset forms are rewritten to the canonical forms ops.h
 * describes. Unsupported ops are all listed in one message (op, node name,
 * opset). On error *out is NULL and err holds one line. */
int sk_onnx_load(const char *path, sk_graph **out, char *err, size_t errlen);
/* Same from memory; `dir` resolves external data (NULL: none allowed). */
int sk_onnx_load_buffer(const void *buf, size_t len, const char *dir, sk_graph **out,
                        char *err, size_t errlen);

/* TensorProto file <-> tensor. On read, t->data is sk_alloc'ed (sk_free it);
 * `name` (optional, may be NULL) receives the tensor's name. */
int sk_tensor_pb_read(const char *path, sk_tensor *t, char *name, size_t namelen,
                      char *err, size_t errlen);
int sk_tensor_pb_write(const char *path, const sk_tensor *t, const char *name, char *err,
                       size_t errlen);

#endif
