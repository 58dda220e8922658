/* kserve_binary.h — the Open Inference Protocol (KServe v2) request and
 * answer bodies, with Triton's binary tensor data extension: a JSON header
 * (Inference-Header-Content-Length bytes of it when that header is sent)
 * followed by raw tensor buffers in the order their tensors appear.
 *
 * Pure parsing and writing, no HTTP: the fuzz target drives it directly. */
#ifndef SRV_KSERVE_BINARY_H
#define SRV_KSERVE_BINARY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/server.h"

/* The protocol's datatypes. The table in kserve_binary.c gives each its
 * name and element size; a model's accepted types are decided in kserve.c. */
typedef enum {
    SRV_KDT_BOOL = 0,
    SRV_KDT_UINT8,
    SRV_KDT_UINT16,
    SRV_KDT_UINT32,
    SRV_KDT_UINT64,
    SRV_KDT_INT8,
    SRV_KDT_INT16,
    SRV_KDT_INT32,
    SRV_KDT_INT64,
    SRV_KDT_FP16,
    SRV_KDT_FP32,
    SRV_KDT_FP64,
    SRV_KDT_BF16,
    SRV_KDT_BYTES, /* elements of any length: 4-byte LE length + bytes in binary */
    SRV_KDT_COUNT
} srv_kdtype;

const char *srv_kdtype_name(srv_kdtype t);
int srv_kdtype_size(srv_kdtype t); /* bytes per element; 0 for BYTES */
int srv_kdtype_parse(const char *s); /* -1 when unknown */

#define SRV_K_MAX_RANK 8
#define SRV_K_MAX_TENSORS 64
/* No tensor may claim more elements than this (a shape is client input). */
#define SRV_K_MAX_ELEMS ((uint64_t)1 << 40)

typedef struct srv_ktensor {
    const char *name; /* into the JSON tree */
    srv_kdtype dtype;
    int rank;
    int64_t shape[SRV_K_MAX_RANK];
    uint64_t count;     /* product of shape */
    json_t *data;       /* JSON "data" (borrowed), NULL when binary */
    const uint8_t *bin; /* binary: its slice of the body */
    size_t bin_len;
    int binary;
} srv_ktensor;

typedef struct srv_koutreq {
    const char *name; /* into the JSON tree */
    int binary;       /* parameters.binary_data: -1 absent, 0, 1 */
    int classification; /* parameters.classification: top k, 0 absent */
} srv_koutreq;

typedef struct srv_kreq {
    json_t *root;
    const char *id; /* "id", NULL when absent */
    srv_ktensor *in;
    int nin;
    srv_koutreq *out;
    int nout;
    int binary_output;  /* parameters.binary_data_output */
    int classification; /* parameters.classification (request level), 0 absent */
} srv_kreq;

/* Parse an infer body. header_len: the Inference-Header-Content-Length
 * value (NULL when the request had none: the whole body is JSON). Each
 * binary input gets its slice of what follows the JSON, in input order;
 * the slices must use up exactly those bytes. Errors are SRV_E_BAD_REQUEST
 * with a message naming the field. *q is filled either way (free it). */
srv_err srv_kreq_parse(const uint8_t *body, size_t len, const char *header_len, srv_kreq *q,
                       srv_error *e);
void srv_kreq_free(srv_kreq *q);

/* An FP32, FP16 or BF16 tensor's values into dst as float32 (t->count
 * floats): JSON numbers, flat or nested in any arrays (row-major; for the
 * half types rounded once to the type), or its binary slice (halves widened
 * exactly). */
srv_err srv_ktensor_f32(const srv_ktensor *t, float *dst, srv_error *e);

typedef struct srv_kbytes {
    const uint8_t *p;
    size_t len;
    int json; /* a JSON string (its text, not decoded) rather than raw bytes */
} srv_kbytes;
/* A BYTES tensor's t->count elements into out: from the binary slice
 * (length-prefixed, must fill it exactly), or JSON strings / {"b64": s}
 * objects (out[i].json = 1: the caller decides whether to base64-decode). */
srv_err srv_ktensor_bytes(const srv_ktensor *t, srv_kbytes *out, srv_error *e);

/* One output tensor of an answer. */
typedef struct srv_koutput {
    const char *name;
    srv_kdtype dtype; /* SRV_KDT_FP32 or SRV_KDT_BYTES */
    int rank;
    int64_t shape[SRV_K_MAX_RANK];
    const float *f32;   /* FP32: product(shape) values */
    char *const *strs;  /* BYTES: product(shape) NUL-terminated strings */
    int binary;         /* as raw bytes after the JSON */
} srv_koutput;

/* The answer body: JSON {"model_name","model_version","id"?,"outputs"}
 * then, when any output is binary, their buffers in output order.
 * *json_len: the JSON's length when buffers follow (the answer's
 * Inference-Header-Content-Length), 0 when the body is all JSON. JSON has
 * no NaN or infinity: such FP32 values are written null (binary_data
 * carries them as they are). */
srv_err srv_kresp_write(const char *model, const char *version, const char *id,
                        const srv_koutput *o, int n, uint8_t **body, size_t *len,
                        size_t *json_len, srv_error *e);

#endif
