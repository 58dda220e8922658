/* tensor_pb.c — ONNX TensorProto <-> sk_tensor: initializers, Constant
 * values and the backend test-data .pb files.
 *
 * Data comes from raw_data (little-endian bytes; an initializer's large
 * raw_data is read from the model file straight into the tensor, see
 * onnx_skel.c), from the typed repeated fields, or from an external file
 * beside the model. External files are
 * mmap'ed once per load and the tensors point into the mapping, so a large
 * model's weights are paged in by the kernel instead of copied. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/half.h"
#include "loaders/onnx.h"
#include "loaders/onnx_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian and is used as is: skipserve needs a little-endian host"
#endif

const char *sk_onnx_dtype_name(int t)
{
    static const char *names[] = {
        "undefined", "float32", "uint8",  "int8",   "uint16",    "int16",      "int32",
        "int64",     "string",  "bool",   "float16", "float64",  "uint32",     "uint64",
        "complex64", "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz",
        "float8e5m2", "float8e5m2fnuz", "uint4", "int4", "float4e2m1",
    };
    if (t >= 0 && t < (int)(sizeof names / sizeof names[0]))
        return names[t];
    return "unknown";
}

int sk_read_file(const char *path, void **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return sk_errf(err, errlen, SK_EIO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sk_errf(err, errlen, SK_EIO, "'%s' is not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory reading '%s' (%zu bytes)", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(p);
            close(fd);
            return sk_errf(err, errlen, SK_EIO, "cannot read '%s': %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    *buf = p;
    *len = n;
    return 0;
}

int sk_onnx_dims(const int64_t *dims, size_t n, const char *what, sk_shape *s, char *err,
                 size_t errlen)
{
    if (n > SK_MAX_RANK)
        return sk_errf(err, errlen, SK_EUNSUPPORTED, "%s has rank %zu; the most is %d", what, n,
                       SK_MAX_RANK);
    s->rank = (int)n;
    for (size_t i = 0; i < n; i++) {
        if (dims[i] < 0)
            return sk_errf(err, errlen, SK_EFORMAT, "%s has a negative dimension (%lld)", what,
                           (long long)dims[i]);
        if (dims[i] > SK_MAX_NUMEL)
            return sk_errf(err, errlen, SK_EFORMAT, "%s has an absurd dimension (%lld)", what,
                           (long long)dims[i]);
        s->dim[i] = dims[i];
    }
    if (sk_shape_numel(s) < 0) {
        char buf[256];
        return sk_errf(err, errlen, SK_EFORMAT, "%s: shape %s has more than 2^40 elements", what,
                       sk_shape_str(s, buf, sizeof buf));
    }
    return 0;
}

/* --- external data -------------------------------------------------------- */

void sk_ext_ctx_free(sk_ext_ctx *x)
{
    for (int i = 0; i < x->nfiles; i++)
        free(x->files[i].location);
    free(x->files);
    x->files = NULL;
    x->nfiles = 0;
}

/* A location must stay inside the model's folder: no absolute path, no "..". */
static int location_ok(const char *loc)
{
    if (!loc || !*loc || loc[0] == '/')
        return 0;
    const char *p = loc;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        if (!e)
            break;
        p = e + 1;
    }
    return 1;
}

static int parse_u64(const char *s, int64_t *v)
{
    if (!s || !*s)
        return -1;
    int64_t x = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || x > (INT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (*p - '0');
    }
    *v = x;
    return 0;
}

/* Find or open+map the file `loc`. */
static int ext_file(sk_ext_ctx *x, const char *loc, const char *what, sk_ext_file **out,
                    char *err, size_t errlen)
{
    for (int i = 0; i < x->nfiles; i++)
        if (strcmp(x->files[i].location, loc) == 0) {
            *out = &x->files[i];
            return 0;
        }
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", x->dir, loc) >= sizeof path)
        return sk_errf(err, errlen, SK_EINVAL, "external data path '%s' is too long", loc);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return sk_errf(err, errlen, SK_EIO, "%s: cannot open external data file '%s': %s", what,
                       loc, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sk_errf(err, errlen, SK_EIO, "external data '%s' is not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    void *addr = NULL;
    if (size > 0) {
        addr = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (addr == MAP_FAILED) {
            int e = errno;
            close(fd);
            return sk_errf(err, errlen, SK_EIO, "cannot map external data '%s': %s", path,
                           strerror(e));
        }
    }
    close(fd);
    sk_ext_file *nf = realloc(x->files, (size_t)(x->nfiles + 1) * sizeof *nf);
    char *dup = strdup(loc);
    if (!nf || !dup || (addr && sk_graph_add_mapping(x->g, addr, size) < 0)) {
        if (nf)
            x->files = nf;
        free(dup);
        if (addr)
            munmap(addr, size);
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory mapping '%s'", path);
    }
    x->files = nf;
    nf[x->nfiles] = (sk_ext_file){dup, addr, size};
    *out = &nf[x->nfiles++];
    return 0;
}

static int decode_external(const Onnx__TensorProto *tp, sk_ext_ctx *x, const char *what,
                           size_t nbytes, sk_tensor *t, int *owned, char *err, size_t errlen)
{
    if (!x || !x->dir || !x->g)
        return sk_errf(err, errlen, SK_EUNSUPPORTED,
                       "%s uses external data, which is only allowed in a model file", what);
    const char *loc = NULL;
    int64_t off = 0, len = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = tp->external_data[i];
        if (!kv->key)
            continue;
        if (strcmp(kv->key, "location") == 0)
            loc = kv->value;
        else if (strcmp(kv->key, "offset") == 0 && parse_u64(kv->value, &off) < 0)
            return sk_errf(err, errlen, SK_EFORMAT, "%s: bad external data offset '%s'", what,
                           kv->value ? kv->value : "");
        else if (strcmp(kv->key, "length") == 0 && parse_u64(kv->value, &len) < 0)
            return sk_errf(err, errlen, SK_EFORMAT, "%s: bad external data length '%s'", what,
                           kv->value ? kv->value : "");
    }
    if (!loc)
        return sk_errf(err, errlen, SK_EFORMAT, "%s: external data without a location", what);
    if (!location_ok(loc))
        return sk_errf(err, errlen, SK_EFORMAT,
                       "%s: external data location '%s' leaves the model's folder", what, loc);
    if (len >= 0 && (uint64_t)len != nbytes)
        return sk_errf(err, errlen, SK_EFORMAT,
                       "%s: external data length %lld does not match its shape (%zu bytes)",
                       what, (long long)len, nbytes);
    sk_ext_file *f;
    int rc = ext_file(x, loc, what, &f, err, errlen);
    if (rc < 0)
        return rc;
    if ((uint64_t)off > f->size || nbytes > f->size - (size_t)off)
        return sk_errf(err, errlen, SK_EIO,
                       "%s: external data file '%s' is too short (%zu bytes, needs %lld)", what,
                       loc, f->size, (long long)off + (long long)nbytes);
    size_t esz = sk_dtype_size(t->dtype);
    /* Borrow the mapping when the data is aligned for its type and a
     * vector kernel reading a 64-byte line past the tail (as sk_alloc
     * allows) stays inside the file. */
    if (nbytes > 0 && (size_t)off % esz == 0 && f->size - (size_t)off - nbytes >= 64) {
        t->data = (char *)f->addr + off;
        *owned = 0;
        return 0;
    }
    /* Empty, or misaligned for the element type: copy. */
    t->data = sk_alloc(nbytes ? nbytes : 1);
    if (!t->data)
        return sk_errf(err, errlen, SK_ENOMEM, "%s: out of memory", what);
    if (nbytes)
        memcpy(t->data, (char *)f->addr + off, nbytes);
    *owned = 1;
    return 0;
}

/* --- decode ------------------------------------------------------------------ */

/* Widen n float16 / bfloat16 values (little-endian bytes `raw`, or one bit
 * pattern per int32) into float32. Exact: every half value is a float32 value. */
static void widen_half(sk_dtype dt, const uint8_t *raw, const int32_t *i32, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t b;
        if (raw)
            memcpy(&b, raw + 2 * i, 2); /* any alignment (an external file's offset) */
        else
            b = (uint16_t)i32[i];
        dst[i] = dt == SK_F16 ? sk_f16_to_f32(b) : sk_bf16_to_f32(b);
    }
}

/* A float16 / bfloat16 tensor becomes float32 here, at load (the engine
 * computes in float32; loaders/README.md says why this beats keeping half
 * weights). raw_data (2 bytes per value), int32_data (one bit pattern per
 * int32, as the ONNX spec stores them) and external data are all read. */
static int decode_half(const Onnx__TensorProto *tp, sk_ext_ctx *ext, const char *what,
                       sk_dtype src, sk_tensor *t, char *err, size_t errlen)
{
    size_t numel = (size_t)sk_shape_numel(&t->shape);
    const uint8_t *raw = NULL;
    const int32_t *i32 = NULL;
    sk_tensor ht = {.dtype = src, .shape = t->shape};
    int howned = 0;
    const sk_raw_ref *ref = ext ? ext->raw : NULL;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        int rc = decode_external(tp, ext, what, numel * 2, &ht, &howned, err, errlen);
        if (rc < 0)
            return rc;
        raw = ht.data;
    } else if (ref) {
        /* left in the file (onnx_skel.c): read the half bytes, then widen */
        if (ref->len != numel * 2)
            return sk_errf(err, errlen, SK_EFORMAT,
                           "%s: raw_data has %zu bytes, its shape needs %zu", what, ref->len,
                           numel * 2);
        if (!(ht.data = malloc(ref->len ? ref->len : 1)))
            return sk_errf(err, errlen, SK_ENOMEM, "%s: out of memory (%zu bytes)", what,
                           ref->len);
        int rc = sk_src_read(ref->src, ref->off, ht.data, ref->len, err, errlen);
        if (rc < 0) {
            free(ht.data);
            return rc;
        }
        howned = 2; /* malloc'ed */
        raw = ht.data;
    } else if (tp->has_raw_data && (tp->raw_data.len > 0 || numel == 0)) {
        if (tp->raw_data.len != numel * 2)
            return sk_errf(err, errlen, SK_EFORMAT,
                           "%s: raw_data has %zu bytes, its shape needs %zu", what,
                           tp->raw_data.len, numel * 2);
        raw = tp->raw_data.data;
    } else {
        if (tp->n_int32_data != numel)
            return sk_errf(err, errlen, SK_EFORMAT,
                           "%s: int32_data has %zu values, its shape needs %zu", what,
                           tp->n_int32_data, numel);
        i32 = tp->int32_data;
    }
    float *d = sk_alloc(numel ? numel * 4 : 1);
    if (numel && d)
        widen_half(src, raw, i32, numel, d);
    if (howned == 2)
        free(ht.data);
    else if (howned)
        sk_free(ht.data);
    if (!d)
        return sk_errf(err, errlen, SK_ENOMEM, "%s: out of memory (%zu bytes)", what, numel * 4);
    t->data = d;
    return 0;
}

int sk_onnx_tensor_decode(const Onnx__TensorProto *tp, sk_ext_ctx *ext, const char *what,
                          sk_tensor *t, int *owned, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    *owned = 1;
    int dt = tp->has_data_type ? tp->data_type : 0;
    if (dt == 0)
        return sk_errf(err, errlen, SK_EFORMAT, "%s has no data type", what);
    if (!sk_dtype_supported(dt))
        return sk_errf(err, errlen, SK_EUNSUPPORTED,
                       "%s has dtype %s, which is not supported (float32/64, float16, "
                       "bfloat16, int8, uint8, int32, int64 and bool are)",
                       what, sk_onnx_dtype_name(dt));
    t->dtype = (sk_dtype)dt;
    int rc = sk_onnx_dims(tp->dims, tp->n_dims, what, &t->shape, err, errlen);
    if (rc < 0)
        return rc;
    if (dt == SK_F16 || dt == SK_BF16) {
        t->dtype = SK_F32;
        return decode_half(tp, ext, what, (sk_dtype)dt, t, err, errlen);
    }
    size_t numel = (size_t)sk_shape_numel(&t->shape);
    size_t esz = sk_dtype_size(t->dtype);
    size_t nbytes = numel * esz;

    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return decode_external(tp, ext, what, nbytes, t, owned, err, errlen);

    size_t have;
    const char *field;
    const sk_raw_ref *ref = ext ? ext->raw : NULL;
    if (ref || (tp->has_raw_data && (tp->raw_data.len > 0 || numel == 0))) {
        have = ref ? ref->len : tp->raw_data.len;
        field = "raw_data";
        if (have != nbytes)
            return sk_errf(err, errlen, SK_EFORMAT,
                           "%s: raw_data has %zu bytes, its shape needs %zu", what, have, nbytes);
    } else {
        switch (t->dtype) {
        case SK_F32: have = tp->n_float_data, field = "float_data"; break;
        case SK_F64: have = tp->n_double_data, field = "double_data"; break;
        case SK_I64: have = tp->n_int64_data, field = "int64_data"; break;
        default: have = tp->n_int32_data, field = "int32_data"; break;
        }
        if (have == 0 && numel > 0)
            return sk_errf(err, errlen, SK_EFORMAT, "%s has no data (its shape needs %zu values)",
                           what, numel);
        if (have != numel)
            return sk_errf(err, errlen, SK_EFORMAT, "%s: %s has %zu values, its shape needs %zu",
                           what, field, have, numel);
    }
    void *d = sk_alloc(nbytes ? nbytes : 1);
    if (!d)
        return sk_errf(err, errlen, SK_ENOMEM, "%s: out of memory (%zu bytes)", what, nbytes);
    if (nbytes == 0) {
        /* nothing to copy (and the source may be NULL) */
    } else if (ref) {
        int rc = sk_src_read(ref->src, ref->off, d, nbytes, err, errlen);
        if (rc < 0) {
            sk_free(d);
            return rc;
        }
    } else if (strcmp(field, "raw_data") == 0) {
        memcpy(d, tp->raw_data.data, nbytes);
    } else if (t->dtype == SK_F32) {
        memcpy(d, tp->float_data, nbytes);
    } else if (t->dtype == SK_F64) {
        memcpy(d, tp->double_data, nbytes);
    } else if (t->dtype == SK_I64) {
        memcpy(d, tp->int64_data, nbytes);
    } else if (t->dtype == SK_I32) {
        memcpy(d, tp->int32_data, nbytes);
    } else {
        /* uint8 / int8 / bool: one int32 per element. */
        uint8_t *b = d;
        for (size_t i = 0; i < numel; i++)
            b[i] = t->dtype == SK_BOOL ? (tp->int32_data[i] != 0) : (uint8_t)tp->int32_data[i];
    }
    if (t->dtype == SK_BOOL) {
        uint8_t *b = d;
        for (size_t i = 0; i < numel; i++)
            b[i] = b[i] != 0;
    }
    t->data = d;
    return 0;
}

/* --- .pb files ------------------------------------------------------------ */

int sk_tensor_pb_read(const char *path, sk_tensor *t, char *name, size_t namelen, char *err,
                      size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (name && namelen)
        name[0] = 0;
    void *buf;
    size_t len;
    int rc = sk_read_file(path, &buf, &len, err, errlen);
    if (rc < 0)
        return rc;
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    free(buf);
    if (!tp)
        return sk_errf(err, errlen, SK_EFORMAT, "'%s' is not a valid TensorProto file", path);
    char what[300];
    snprintf(what, sizeof what, "tensor file '%s'", path);
    int owned;
    rc = sk_onnx_tensor_decode(tp, NULL, what, t, &owned, err, errlen);
    if (rc == 0 && name && namelen)
        snprintf(name, namelen, "%s", tp->name ? tp->name : "");
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return rc;
}

int sk_tensor_pb_write(const char *path, const sk_tensor *t, const char *name, char *err,
                       size_t errlen)
{
    if (!sk_dtype_size(t->dtype))
        return sk_errf(err, errlen, SK_EUNSUPPORTED, "cannot write a %s tensor",
                       sk_dtype_name(t->dtype));
    int64_t numel = sk_shape_numel(&t->shape);
    if (numel < 0 || t->shape.rank < 0)
        return sk_errf(err, errlen, SK_EINVAL, "cannot write a tensor of unknown shape");
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[SK_MAX_RANK];
    for (int i = 0; i < t->shape.rank; i++)
        dims[i] = t->shape.dim[i];
    tp.n_dims = (size_t)t->shape.rank;
    tp.dims = dims;
    tp.has_data_type = 1;
    tp.data_type = (int32_t)t->dtype;
    tp.name = (char *)(name ? name : "");
    tp.has_raw_data = 1;
    tp.raw_data.len = (size_t)numel * sk_dtype_size(t->dtype);
    tp.raw_data.data = t->data;
    size_t n = onnx__tensor_proto__get_packed_size(&tp);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory writing '%s'", path);
    onnx__tensor_proto__pack(&tp, buf);
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return sk_errf(err, errlen, SK_EIO, "cannot create '%s': %s", path, strerror(errno));
    }
    size_t w = fwrite(buf, 1, n, f);
    free(buf);
    if (fclose(f) != 0 || w != n)
        return sk_errf(err, errlen, SK_EIO, "cannot write '%s'", path);
    return 0;
}
