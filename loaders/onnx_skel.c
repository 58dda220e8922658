/* onnx_skel.c — an ONNX file's structure without its weights (the
 * skeleton), and where each initializer's raw_data lies in the file.
 *
 * protobuf-c copies every bytes field when it unpacks, so unpacking a whole
 * ModelProto held the file's bytes and a decoded copy of every weight at
 * once: twice the weights at load (ResNet-50: 197 MiB peak for 97 MiB of
 * weights; ViT-B/16 664 MiB for 330). The file is walked here at the wire
 * level instead: the skeleton is the file's bytes with every
 * graph.initializer[i].raw_data of SK_SKEL_MIN_RAW bytes or more left out
 * (the lengths of the enclosing TensorProto, GraphProto re-encoded), and
 * the payloads' places are listed. The loader unpacks the skeleton (a few
 * hundred KB) and tensor_pb.c reads each payload from the file straight into
 * the tensor that keeps it, so the load's peak is the weights and one
 * skeleton. The file is read with pread, never mapped: a file truncated
 * while it loads is an I/O error, not a SIGBUS.
 *
 * Anything the walk does not expect (a group wire type, a length past its
 * message, a second `graph` field, which protobuf would merge) makes it
 * give up (-1): the caller then unpacks the whole file as before, which
 * gives the usual message for a broken file. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loaders/onnx_internal.h"

int sk_src_read(const sk_src *s, uint64_t off, void *dst, size_t n, char *err, size_t errlen)
{
    if (off > s->size || n > s->size - off)
        return sk_errf(err, errlen, SK_EIO, "cannot read '%s': it is shorter than it was",
                       s->path ? s->path : "model");
    if (s->mem) {
        memcpy(dst, s->mem + off, n);
        return 0;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(s->fd, (char *)dst + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return sk_errf(err, errlen, SK_EIO, "cannot read '%s': %s",
                           s->path ? s->path : "model",
                           r < 0 ? strerror(errno) : "it is shorter than it was");
        got += (size_t)r;
    }
    return 0;
}

/* --- a window over the source ---------------------------------------------- */

#define WIN ((size_t)64 << 10)

typedef struct rd {
    const sk_src *s;
    uint8_t *win; /* fd sources: WIN bytes from wstart */
    uint64_t wstart;
    size_t wlen;
    int io_err; /* a read failed: give up (the full read reports it) */
} rd;

/* Pointer to bytes [off, off + n) (n <= WIN), or NULL. */
static const uint8_t *rd_at(rd *r, uint64_t off, size_t n)
{
    if (off > r->s->size || n > r->s->size - off)
        return NULL;
    if (r->s->mem)
        return r->s->mem + off;
    if (off < r->wstart || off + n > r->wstart + r->wlen) {
        size_t len = r->s->size - off < WIN ? (size_t)(r->s->size - off) : WIN;
        if (sk_src_read(r->s, off, r->win, len, NULL, 0) < 0) {
            r->io_err = 1;
            return NULL;
        }
        r->wstart = off;
        r->wlen = len;
    }
    return r->win + (off - r->wstart);
}

/* A varint of at most `max` bytes, as strict as protobuf-c's unpack or
 * stricter (a file protobuf-c refuses must not load through the skeleton;
 * one the walk refuses falls back to protobuf-c): tags and length prefixes
 * take at most 5 bytes (protobuf-c: "error parsing tag/wiretype", "error
 * parsing length for length-prefixed data"), values at most 10, whose 10th
 * byte may only hold bit 63 (0 or 1). */
#define VARINT_TAG 5
#define VARINT_LEN 5
#define VARINT_VAL 10
static int rd_varint_n(rd *r, uint64_t *off, uint64_t end, uint64_t *v, int max)
{
    uint64_t x = 0;
    for (int i = 0; i < max; i++) {
        if (*off >= end)
            return -1;
        const uint8_t *b = rd_at(r, *off, 1);
        if (!b)
            return -1;
        (*off)++;
        if (i == 9 && *b > 1)
            return -1;
        x |= (uint64_t)(*b & 0x7f) << (7 * i);
        if (!(*b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* --- the output ------------------------------------------------------------- */

typedef struct obuf {
    uint8_t *p;
    size_t len, cap;
} obuf;

static int ob_put(obuf *o, const void *d, size_t n)
{
    if (n > o->cap - o->len) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap - o->len < n)
            cap *= 2;
        uint8_t *p = realloc(o->p, cap);
        if (!p)
            return SK_ENOMEM;
        o->p = p;
        o->cap = cap;
    }
    if (n)
        memcpy(o->p + o->len, d, n);
    o->len += n;
    return 0;
}

static int ob_varint(obuf *o, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return ob_put(o, b, n);
}

/* Source bytes [off, off + n) to the output, through the window. */
static int ob_copy(obuf *o, rd *r, uint64_t off, uint64_t n)
{
    while (n) {
        size_t k = n < WIN ? (size_t)n : WIN;
        const uint8_t *b = rd_at(r, off, k);
        if (!b)
            return -1;
        int rc = ob_put(o, b, k);
        if (rc < 0)
            return rc;
        off += k;
        n -= k;
    }
    return 0;
}

/* --- the walk ------------------------------------------------------------- */

enum { LV_MODEL, LV_GRAPH, LV_TENSOR };

typedef struct walk {
    rd r;
    sk_skel *sk;
    size_t cap_raw;
    int graphs;
    size_t ninit;
    /* the initializer being walked: its last raw_data (protobuf: the last
     * occurrence of a field wins) */
    int have_raw;
    uint64_t raw_off, raw_len;
} walk;

static int walk_msg(walk *w, uint64_t off, uint64_t end, int lv, obuf *out);

/* A length-delimited field [off, off + len) whose tag is `tag`: walk it as
 * level lv into its own buffer, then append tag, new length, bytes. */
static int walk_sub(walk *w, uint64_t tag, uint64_t off, uint64_t len, int lv, obuf *out)
{
    obuf sub = {0};
    int rc = walk_msg(w, off, off + len, lv, &sub);
    if (rc == 0 && (rc = ob_varint(out, tag)) == 0 && (rc = ob_varint(out, sub.len)) == 0)
        rc = ob_put(out, sub.p, sub.len);
    free(sub.p);
    return rc;
}

static int push_raw(walk *w, size_t init, uint64_t off, uint64_t len)
{
    sk_skel *sk = w->sk;
    if (sk->nraw == w->cap_raw) {
        size_t cap = w->cap_raw ? 2 * w->cap_raw : 64;
        sk_skel_raw *p = realloc(sk->raw, cap * sizeof *p);
        if (!p)
            return SK_ENOMEM;
        sk->raw = p;
        w->cap_raw = cap;
    }
    sk->raw[sk->nraw++] = (sk_skel_raw){init, off, (size_t)len};
    return 0;
}

static int walk_msg(walk *w, uint64_t off, uint64_t end, int lv, obuf *out)
{
    while (off < end) {
        uint64_t start = off, tag, v;
        if (rd_varint_n(&w->r, &off, end, &tag, VARINT_TAG) < 0)
            return -1;
        uint64_t field = tag >> 3;
        int rc;
        if (field == 0)
            return -1;
        switch (tag & 7) {
        case 0: /* varint */
            if (rd_varint_n(&w->r, &off, end, &v, VARINT_VAL) < 0)
                return -1;
            break;
        case 1: /* 64-bit */
        case 5: /* 32-bit */ {
            uint64_t n = (tag & 7) == 1 ? 8 : 4;
            if (end - off < n)
                return -1;
            off += n;
            break;
        }
        case 2: { /* length-delimited */
            uint64_t len;
            /* protobuf-c >= 1.5 also refuses lengths over INT_MAX */
            if (rd_varint_n(&w->r, &off, end, &len, VARINT_LEN) < 0 || len > end - off ||
                len > INT_MAX)
                return -1;
            if (lv == LV_MODEL && field == 7) { /* ModelProto.graph */
                if (w->graphs++)
                    return -1;
                if ((rc = walk_sub(w, tag, off, len, LV_GRAPH, out)) < 0)
                    return rc;
            } else if (lv == LV_GRAPH && field == 5) { /* GraphProto.initializer */
                size_t init = w->ninit++;
                w->have_raw = 0;
                if ((rc = walk_sub(w, tag, off, len, LV_TENSOR, out)) < 0)
                    return rc;
                if (w->have_raw && (rc = push_raw(w, init, w->raw_off, w->raw_len)) < 0)
                    return rc;
            } else if (lv == LV_TENSOR && field == 9) { /* TensorProto.raw_data */
                w->have_raw = len >= SK_SKEL_MIN_RAW;
                w->raw_off = off;
                w->raw_len = len;
                if (!w->have_raw && (rc = ob_copy(out, &w->r, start, off + len - start)) < 0)
                    return rc;
            } else if ((rc = ob_copy(out, &w->r, start, off + len - start)) < 0) {
                return rc;
            }
            off += len;
            continue;
        }
        default: /* groups (3, 4) and unknown wire types */
            return -1;
        }
        if ((rc = ob_copy(out, &w->r, start, off - start)) < 0)
            return rc;
    }
    return off == end ? 0 : -1;
}

void sk_skel_free(sk_skel *sk)
{
    free(sk->bytes);
    free(sk->raw);
    memset(sk, 0, sizeof *sk);
}

int sk_skel_build(const sk_src *src, sk_skel *sk)
{
    memset(sk, 0, sizeof *sk);
    walk w = {.r = {.s = src}, .sk = sk};
    if (!src->mem && !(w.r.win = malloc(WIN)))
        return SK_ENOMEM;
    obuf out = {0};
    int rc = walk_msg(&w, 0, src->size, LV_MODEL, &out);
    free(w.r.win);
    if (rc == 0 && w.r.io_err)
        rc = -1;
    if (rc < 0) {
        free(out.p);
        sk_skel_free(sk);
        return rc == SK_ENOMEM ? rc : -1;
    }
    sk->bytes = out.p;
    sk->len = out.len;
    return 0;
}
