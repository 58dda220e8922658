/* test_load_memory.c — one copy of the weights (session 20, branch mem).
 *
 * The loader reads an initializer's raw_data from the file straight into
 * its tensor (loaders/onnx_skel.c), so a load holds the weights once, and
 * the passes free what the plan no longer reads (engine/README.md,
 * "Memory"). Checked here without timing:
 *   - the skeleton's values are the file's (every encoding, the last of
 *     two raw_data fields, a small payload kept in the skeleton), from a
 *     buffer and from a file, and a file cut inside a payload is refused;
 *   - a 48 MiB model loads with its resident set growing by the weights
 *     once (before: twice), the file is not mapped after the load, and
 *     after the passes and a run the resident set is the packed weights +
 *     the arena + a few MiB; its output matches a double-precision
 *     evaluation written here;
 *   - external data: the mapping is gone after the passes when every
 *     weight in it was packed, and kept (its pages dropped, read back from
 *     the file) when a depthwise conv still reads its weights there — both
 *     compute what the double-precision loops here compute;
 *   - plans of several batch sizes in one arena (sk_plan_create_shared)
 *     give, run in any order, the bytes of plans with arenas of their own.
 * The resident-set checks read /proc/self (Linux); elsewhere they are
 * skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h> /* RUNNING_ON_VALGRIND (the valgrind package: tests/deps) */
#endif
#endif

#include "cpu.h"
#include "engine/half.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "loaders/onnx.h"
#include "loaders/onnx_internal.h" /* sk_skel_build */
#include "onnx.pb-c.h"
#include "tests/unit/onnx_builder.h"

/* --- /proc/self ----------------------------------------------------------- */

static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = atol(line + kl + 1);
    if (f)
        fclose(f);
    return v;
}

/* Reset VmHWM to the current RSS (Linux >= 4.0); 0 when it worked. */
static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    ok &= fclose(f) == 0;
    long rss = status_kb("VmRSS"), hwm = status_kb("VmHWM");
    return ok && rss > 0 && hwm >= 0 && hwm <= rss + 1024 ? 0 : -1;
}

/* 1 when /proc/self/maps has a mapping of `path`. */
static int is_mapped(const char *path)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[1024];
    int found = 0;
    while (f && fgets(line, sizeof line, f))
        found |= strstr(line, path) != NULL;
    if (f)
        fclose(f);
    return found;
}

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *pack_model(mb *b, size_t *n)
{
    *n = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *buf = malloc(*n + 1);
    assert_non_null(buf);
    onnx__model_proto__pack(&b->m, buf);
    return buf;
}

static const sk_value *value(const sk_graph *g, const char *name)
{
    int id = sk_graph_find(g, name);
    if (id < 0)
        fail_msg("no value '%s'", name);
    return &g->values[id];
}

/* --- wire-level helpers for what protobuf-c never writes ---------------------- */

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
} wbuf;

static void w_put(wbuf *w, const void *d, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->p = realloc(w->p, w->cap);
        assert_non_null(w->p);
    }
    memcpy(w->p + w->n, d, n);
    w->n += n;
}

static void w_varint(wbuf *w, uint64_t v)
{
    do {
        uint8_t b = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        w_put(w, &b, 1);
        v >>= 7;
    } while (v);
}

static void w_field(wbuf *w, unsigned field, const void *d, size_t n)
{
    w_varint(w, (uint64_t)field << 3 | 2);
    w_varint(w, n);
    w_put(w, d, n);
}

/* --- the skeleton's values ----------------------------------------------------- */

#define NBIG 3000 /* 12000 bytes of float32: past SK_SKEL_MIN_RAW, left in the file */

/* A model of five initializers, each an Add's second operand (x + c = y_c
 * with x zero shows c): big float32 raw, big float16 raw, big int8 raw
 * (Cast to float), small float32 raw (stays in the skeleton), float_data. */
static uint8_t *encodings_model(size_t *n, float *f32, uint16_t *f16, int8_t *i8, float *small,
                                float *typed)
{
    mb b;
    mb_init(&b, 8, 13);
    int64_t dn[1] = {NBIG}, d4[1] = {4};
    for (int i = 0; i < NBIG; i++) {
        f32[i] = (float)(i % 97) * 0.25f - 7.0f;
        f16[i] = sk_f32_to_f16((float)(i % 31) - 15.0f);
        i8[i] = (int8_t)(i % 251 - 125);
        typed[i] = (float)i * -0.5f;
    }
    for (int i = 0; i < 4; i++)
        small[i] = 1.5f * (float)i + 0.25f;
    Onnx__TensorProto *t = mb_tensor(&b, "c_f32", 1, 1, dn);
    mb_raw(&b, t, f32, sizeof(float) * NBIG);
    b.inits[b.g.n_initializer++] = t;
    t = mb_tensor(&b, "c_f16", 10, 1, dn);
    mb_raw(&b, t, f16, 2 * NBIG);
    b.inits[b.g.n_initializer++] = t;
    t = mb_tensor(&b, "c_i8", 3, 1, dn);
    mb_raw(&b, t, i8, NBIG);
    b.inits[b.g.n_initializer++] = t;
    t = mb_tensor(&b, "c_small", 1, 1, d4);
    mb_raw(&b, t, small, sizeof(float) * 4);
    b.inits[b.g.n_initializer++] = t;
    t = mb_tensor(&b, "c_typed", 1, 1, dn);
    t->n_float_data = NBIG;
    t->float_data = typed;
    b.inits[b.g.n_initializer++] = t;
    mb_input(&b, "x", 1, 1, dn);
    mb_node(&b, "Add", "a1", "x", "c_f32", "y1");
    mb_output(&b, "y1");
    uint8_t *buf = pack_model(&b, n);
    mb_free(&b);
    return buf;
}

static void check_encodings(const sk_graph *g, const float *f32, const uint16_t *f16,
                            const int8_t *i8, const float *small, const float *typed)
{
    assert_memory_equal(value(g, "c_f32")->data, f32, sizeof(float) * NBIG);
    const float *h = value(g, "c_f16")->data; /* widened at load: exact */
    for (int i = 0; i < NBIG; i++)
        assert_true(h[i] == sk_f16_to_f32(f16[i]));
    assert_memory_equal(value(g, "c_i8")->data, i8, NBIG);
    assert_memory_equal(value(g, "c_small")->data, small, sizeof(float) * 4);
    assert_memory_equal(value(g, "c_typed")->data, typed, sizeof(float) * NBIG);
}

static void test_skeleton_values(void **state)
{
    (void)state;
    static float f32[NBIG], small[4], typed[NBIG];
    static uint16_t f16[NBIG];
    static int8_t i8[NBIG];
    size_t n;
    uint8_t *buf = encodings_model(&n, f32, f16, i8, small, typed);
    char err[512] = "";
    sk_graph *g = NULL;
    /* from a buffer */
    if (sk_onnx_load_buffer(buf, n, NULL, &g, err, sizeof err))
        fail_msg("%s", err);
    check_encodings(g, f32, f16, i8, small, typed);
    sk_graph_free(g);
    /* from a file: read, never mapped */
    char dir[] = "/tmp/sk_test_loadmem_XXXXXX", path[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    write_file(path, buf, n);
    if (sk_onnx_load(path, &g, err, sizeof err))
        fail_msg("%s", err);
    check_encodings(g, f32, f16, i8, small, typed);
    assert_int_equal(g->nmaps, 0);
    assert_false(is_mapped(path));
    sk_graph_free(g);
    /* cut inside the first payload: refused with the whole-file message */
    write_file(path, buf, n / 3);
    assert_int_equal(sk_onnx_load(path, &g, err, sizeof err), SK_EFORMAT);
    assert_null(g);
    assert_non_null(strstr(err, "truncated or corrupt"));
    unlink(path);
    rmdir(dir);
    free(buf);
}

/* raw_data twice in one TensorProto: protobuf keeps the last. "w" has a
 * big payload then another big one; "v" a big one then a small one (4
 * values: the big one would not even fit its shape). */
static void test_last_raw_data_wins(void **state)
{
    (void)state;
    static float first[2048], second[2048];
    float v4[4] = {3.0f, -1.0f, 0.5f, 42.0f};
    for (int i = 0; i < 2048; i++) {
        first[i] = 1.0f;
        second[i] = (float)i;
    }
    mb b;
    mb_init(&b, 8, 13);
    int64_t dw[1] = {2048}, dv[1] = {4};
    Onnx__TensorProto *tw = mb_tensor(&b, "w", 1, 1, dw);
    mb_raw(&b, tw, first, sizeof first);
    Onnx__TensorProto *tv = mb_tensor(&b, "v", 1, 1, dv);
    mb_raw(&b, tv, first, sizeof first);
    mb_input(&b, "x", 1, 1, dw);
    mb_input(&b, "x4", 1, 1, dv);
    mb_node(&b, "Add", "aw", "x", "w", "yw");
    mb_node(&b, "Add", "av", "x4", "v", "yv");
    mb_output(&b, "yw");
    mb_output(&b, "yv");
    /* the graph without initializers, then each initializer appended as
     * its packed bytes plus a second raw_data field (a message's fields may
     * come in any order and repeat: the bytes merge) */
    wbuf graph = {0}, model = {0};
    size_t gn = onnx__graph_proto__get_packed_size(&b.g);
    uint8_t *gb = malloc(gn);
    assert_non_null(gb);
    onnx__graph_proto__pack(&b.g, gb);
    w_put(&graph, gb, gn);
    free(gb);
    Onnx__TensorProto *ts[2] = {tw, tv};
    const void *again[2] = {second, v4};
    size_t again_n[2] = {sizeof second, sizeof v4};
    for (int i = 0; i < 2; i++) {
        wbuf t = {0};
        size_t tn = onnx__tensor_proto__get_packed_size(ts[i]);
        uint8_t *tb = malloc(tn);
        assert_non_null(tb);
        onnx__tensor_proto__pack(ts[i], tb);
        w_put(&t, tb, tn);
        free(tb);
        w_field(&t, 9, again[i], again_n[i]);
        w_field(&graph, 5, t.p, t.n);
        free(t.p);
    }
    b.m.graph = NULL;
    size_t mn = onnx__model_proto__get_packed_size(&b.m);
    uint8_t *mbuf = malloc(mn);
    assert_non_null(mbuf);
    onnx__model_proto__pack(&b.m, mbuf);
    w_put(&model, mbuf, mn);
    free(mbuf);
    w_field(&model, 7, graph.p, graph.n);
    free(graph.p);
    mb_free(&b);

    char err[512] = "";
    sk_graph *g = NULL;
    if (sk_onnx_load_buffer(model.p, model.n, NULL, &g, err, sizeof err))
        fail_msg("%s", err);
    assert_memory_equal(value(g, "w")->data, second, sizeof second);
    assert_memory_equal(value(g, "v")->data, v4, sizeof v4);
    sk_graph_free(g);
    free(model.p);
}

/* --- the walk as strict as protobuf-c ----------------------------------------- */

/* v in exactly `nb` bytes (non-canonical padding when v needs fewer); the
 * last byte may carry more than 7 bits of v's top (the 10th-byte case). */
static void w_varint_n(wbuf *w, uint64_t v, int nb, uint8_t last)
{
    for (int i = 0; i < nb - 1; i++) {
        uint8_t b = (uint8_t)((v & 0x7f) | 0x80);
        w_put(w, &b, 1);
        v >>= 7;
    }
    uint8_t b = (uint8_t)(v & 0x7f) | last;
    w_put(w, &b, 1);
}

/* The model's top-level fields copied, ModelProto.graph (7) re-spelled:
 * its tag in tag_bytes, its length prefix in len_bytes (0: as canonical);
 * `extra` bytes appended at the top level. */
static uint8_t *respell_graph(const uint8_t *m, size_t n, int tag_bytes, int len_bytes,
                              const void *extra, size_t nextra, size_t *out_n)
{
    wbuf w = {0};
    size_t off = 0;
    while (off < n) {
        uint64_t tag = 0, v = 0;
        int sh = 0;
        do
            tag |= (uint64_t)(m[off] & 0x7f) << sh, sh += 7;
        while (m[off++] & 0x80);
        size_t start = off;
        sh = 0;
        do
            v |= (uint64_t)(m[off] & 0x7f) << sh, sh += 7;
        while (m[off++] & 0x80);
        if ((tag & 7) == 0) { /* varint: v is the value */
            w_varint(&w, tag);
            w_put(&w, m + start, off - start);
            continue;
        }
        assert_int_equal(tag & 7, 2);
        if (tag == (7 << 3 | 2)) {
            w_varint_n(&w, tag, tag_bytes ? tag_bytes : 1, 0);
            w_varint_n(&w, v, len_bytes ? len_bytes : (v < 128 ? 1 : v < 16384 ? 2 : 3), 0);
        } else {
            w_varint(&w, tag);
            w_varint(&w, v);
        }
        w_put(&w, m + off, v);
        off += v;
    }
    if (nextra)
        w_put(&w, extra, nextra);
    *out_n = w.n;
    return w.p;
}

/* 1 when protobuf-c's whole-file unpack (the reference) takes it. */
static int protobuf_c_takes(const uint8_t *b, size_t n)
{
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, n, b);
    onnx__model_proto__free_unpacked(m, NULL);
    return m != NULL;
}

static int skel_takes(const uint8_t *b, size_t n)
{
    sk_src src = {.fd = -1, .mem = b, .size = n, .path = "model"};
    sk_skel sk;
    int rc = sk_skel_build(&src, &sk);
    if (rc == 0)
        sk_skel_free(&sk);
    return rc == 0;
}

/* Load the bytes from a buffer and from a file: both loaded with the
 * expected values (ok) or both refused. */
static void load_both(const uint8_t *b, size_t n, int ok, const float *f32, const uint16_t *f16,
                      const int8_t *i8, const float *small, const float *typed)
{
    char err[512] = "", dir[] = "/tmp/sk_test_loadmem_XXXXXX", path[600];
    sk_graph *g = NULL;
    int rc = sk_onnx_load_buffer(b, n, NULL, &g, err, sizeof err);
    if (ok) {
        if (rc)
            fail_msg("buffer: %s", err);
        check_encodings(g, f32, f16, i8, small, typed);
    } else {
        assert_int_equal(rc, SK_EFORMAT);
        assert_null(g);
    }
    sk_graph_free(g);
    g = NULL;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    write_file(path, b, n);
    rc = sk_onnx_load(path, &g, err, sizeof err);
    unlink(path);
    rmdir(dir);
    if (ok) {
        if (rc)
            fail_msg("file: %s", err);
        check_encodings(g, f32, f16, i8, small, typed);
    } else {
        assert_int_equal(rc, SK_EFORMAT);
        assert_null(g);
    }
    sk_graph_free(g);
}

/* The walk re-encodes the tags and length prefixes of graph and
 * initializer fields and leaves payloads out unread: a spelling protobuf-c
 * refuses there must not load through the skeleton. protobuf-c (the
 * reference here) refuses tags and length prefixes over 5 bytes and
 * varints over 10; the walk also refuses a 10th byte over 1 (bits past 64:
 * protobuf-c takes them, and so does the load, by unpacking the whole
 * file). */
static void test_wire_strictness(void **state)
{
    (void)state;
    static float f32[NBIG], small[4], typed[NBIG];
    static uint16_t f16[NBIG];
    static int8_t i8[NBIG];
    size_t n, m;
    uint8_t *buf = encodings_model(&n, f32, f16, i8, small, typed);
    /* graph's length prefix / tag in 5 bytes: legal, loads */
    for (int k = 0; k < 2; k++) {
        uint8_t *b = respell_graph(buf, n, k ? 5 : 0, k ? 0 : 5, NULL, 0, &m);
        assert_true(protobuf_c_takes(b, m));
        assert_true(skel_takes(b, m));
        load_both(b, m, 1, f32, f16, i8, small, typed);
        free(b);
    }
    /* in 6 bytes: protobuf-c refuses; so must the walk, and the load */
    for (int k = 0; k < 2; k++) {
        uint8_t *b = respell_graph(buf, n, k ? 6 : 0, k ? 0 : 6, NULL, 0, &m);
        assert_false(protobuf_c_takes(b, m));
        assert_false(skel_takes(b, m));
        load_both(b, m, 0, f32, f16, i8, small, typed);
        free(b);
    }
    /* an unknown varint field (99) at the top level, 10 bytes */
    for (int last = 0; last < 3; last++) {
        wbuf x = {0};
        w_varint(&x, 99 << 3 | 0);
        w_varint_n(&x, 0x7fffffffffffffffull, 10, (uint8_t)last);
        uint8_t *b = respell_graph(buf, n, 0, 0, x.p, x.n, &m);
        assert_true(protobuf_c_takes(b, m));
        /* 10th byte 0 or 1: the walk takes it; 2: it gives up, the load
         * unpacks the whole file and takes it as protobuf-c does */
        assert_int_equal(skel_takes(b, m), last <= 1);
        load_both(b, m, 1, f32, f16, i8, small, typed);
        free(b);
        free(x.p);
    }
    /* 11 bytes: refused by both */
    {
        wbuf x = {0};
        w_varint(&x, 99 << 3 | 0);
        w_varint_n(&x, 5, 11, 0);
        uint8_t *b = respell_graph(buf, n, 0, 0, x.p, x.n, &m);
        assert_false(protobuf_c_takes(b, m));
        assert_false(skel_takes(b, m));
        load_both(b, m, 0, f32, f16, i8, small, typed);
        free(b);
        free(x.p);
    }
    free(buf);
}

/* --- a 48 MiB model: the resident set through load, passes and a run ----------- */

#define C 1024
#define LAYERS 12
#define PIX 4 /* 2 x 2 pixels */

static float wval(int l, int m, int c) { return (float)(((l * 131 + m * 7 + c * 13) % 201) - 100) * 3e-4f; }

/* What the test holds, freed by big_teardown also when an assert stops it
 * half-way (it held ~46 MiB then). */
static struct {
    char dir[32], path[600];
    sk_graph *g;
    sk_plan *p;
    double *ref, *nxt;
    float *x;
} big;

static int big_teardown(void **state)
{
    (void)state;
    sk_plan_free(big.p);
    sk_graph_free(big.g);
    free(big.ref);
    free(big.nxt);
    free(big.x);
    if (big.path[0])
        unlink(big.path);
    if (big.dir[0])
        rmdir(big.dir);
    unsetenv("SKIPSERVE_HUGEPAGES");
    memset(&big, 0, sizeof big);
    return 0;
}

static void test_big_model_resident_set(void **state)
{
    (void)state;
    setenv("SKIPSERVE_HUGEPAGES", "0", 1); /* page-exact resident sets */
    char *dir = big.dir, *path = big.path;
    snprintf(big.dir, sizeof big.dir, "/tmp/sk_test_loadmem_XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = 0;
        fail_msg("mkdtemp");
    }
    snprintf(path, sizeof big.path, "%s/model.onnx", dir);
    const size_t wbytes = (size_t)LAYERS * C * C * sizeof(float); /* 48 MiB */
    {
        mb b;
        mb_init(&b, 8, 13);
        int64_t dw[4] = {C, C, 1, 1}, dx[4] = {1, C, 2, 2};
        float *w = malloc(sizeof(float) * C * C);
        assert_non_null(w);
        char name[32], in[32], out[32];
        for (int l = 0; l < LAYERS; l++) {
            for (int m = 0; m < C; m++)
                for (int c = 0; c < C; c++)
                    w[m * C + c] = wval(l, m, c);
            snprintf(name, sizeof name, "w%d", l);
            Onnx__TensorProto *t = mb_tensor(&b, name, 1, 4, dw);
            mb_raw(&b, t, w, sizeof(float) * C * C);
            b.inits[b.g.n_initializer++] = t;
            snprintf(in, sizeof in, l ? "h%d" : "x", l);
            snprintf(out, sizeof out, l == LAYERS - 1 ? "y" : "h%d", l + 1);
            mb_node(&b, "Conv", name, in, name, out);
        }
        free(w);
        mb_input(&b, "x", 1, 4, dx);
        mb_output(&b, "y");
        size_t n;
        uint8_t *buf = pack_model(&b, &n);
        mb_free(&b);
        write_file(path, buf, n);
        free(buf);
    }
    /* the reference: the 12 layers in double */
    double *ref = big.ref = malloc(sizeof(double) * C * PIX);
    double *nxt = big.nxt = malloc(sizeof(double) * C * PIX);
    float *x = big.x = malloc(sizeof(float) * C * PIX);
    assert_true(ref && nxt && x);
    for (int i = 0; i < C * PIX; i++)
        ref[i] = x[i] = (float)((i * 37) % 19 - 9) * 0.1f;
    for (int l = 0; l < LAYERS; l++) {
        for (int m = 0; m < C; m++)
            for (int p = 0; p < PIX; p++) {
                double s = 0;
                for (int c = 0; c < C; c++)
                    s += (double)wval(l, m, c) * ref[c * PIX + p];
                nxt[m * PIX + p] = s;
            }
        double *t = ref;
        ref = nxt;
        nxt = t;
    }

    long rss0 = status_kb("VmRSS");
    int measure = rss0 > 0 && reset_peak() == 0;
    /* ASan's shadow and quarantine and valgrind's own copy of every heap
     * block are resident too (the load's peak read +112 / +67 MiB there) */
#ifdef SK_ASAN
    measure = 0;
#endif
#ifdef RUNNING_ON_VALGRIND
    if (RUNNING_ON_VALGRIND)
        measure = 0;
#endif
    if (!measure)
        fprintf(stderr, "  (no /proc/self/clear_refs, a sanitizer or valgrind: resident-set checks "
                        "skipped)\n");
    const long wkb = (long)(wbytes / 1024);
    char err[512] = "";
    if (sk_onnx_load(path, &big.g, err, sizeof err))
        fail_msg("%s", err);
    sk_graph *g = big.g;
    assert_false(is_mapped(path));
    long load_peak = status_kb("VmHWM") - rss0;
    if (measure) {
        fprintf(stderr, "  load: peak +%ld KiB for %ld KiB of weights\n", load_peak, wkb);
        /* the weights once (+ the skeleton and the graph); the whole-file
         * read held them twice */
        assert_true(load_peak <= wkb + wkb / 16 + 4096);
        reset_peak();
    }
    sk_load_opts lo = {.level = 1, .precision = SK_PREC_FP32};
    if (sk_graph_optimize_opts(g, &lo, err, sizeof err))
        fail_msg("%s", err);
    long pass_peak = status_kb("VmHWM") - rss0, pass_end = status_kb("VmRSS") - rss0;
    sk_tensor in = {SK_F32, {4, {1, C, 2, 2}}, NULL};
    if (sk_plan_create(g, &in, NULL, &big.p, err, sizeof err))
        fail_msg("plan: %s", err);
    sk_plan *p = big.p;
    const void *data[1] = {x};
    if (sk_plan_run(p, data, err, sizeof err))
        fail_msg("run: %s", err);
    long run_end = status_kb("VmRSS") - rss0;
    long arena_kb = (long)(sk_plan_arena_bytes(p) / 1024);
    if (measure) {
        fprintf(stderr,
                "  passes: peak +%ld KiB, end +%ld KiB; after a run +%ld KiB (arena %ld KiB)\n",
                pass_peak, pass_end, run_end, arena_kb);
        /* packing allocates each layer's panels before its raw weights go:
         * the peak is the weights and one layer (4 MiB) more */
        assert_true(pass_peak <= wkb + wkb / 16 + 4096 + 4096);
        /* one copy of the weights stays (the GEMM panels), and the arena */
        assert_true(pass_end <= wkb + wkb / 16 + 4096);
        assert_true(run_end <= wkb + wkb / 16 + arena_kb + 4096);
    }
    const sk_tensor *o = sk_plan_output(p, 0);
    assert_int_equal(sk_shape_numel(&o->shape), C * PIX);
    const float *y = o->data;
    double range = 0, worst = 0;
    for (int i = 0; i < C * PIX; i++)
        range = fmax(range, fabs(ref[i]));
    for (int i = 0; i < C * PIX; i++)
        worst = fmax(worst, fabs((double)y[i] - ref[i]));
    assert_true(range > 0);
    assert_true(worst <= 1e-4 * range);
    /* big_teardown frees the rest (ref / nxt were swapped: both go) */
}

/* --- external data: the mapping after the passes ------------------------------ */

#define EC 64

/* model.onnx + w.bin: Conv 1x1 (EC -> EC, w1) then, with `dw`, a depthwise
 * 3x3 (w2, one filter per channel, pads 1), every weight in w.bin. */
static void write_ext(const char *dir, int dw, float *w1, float *w2)
{
    char p[600];
    for (int i = 0; i < EC * EC; i++)
        w1[i] = (float)((i * 29) % 23 - 11) * 0.01f;
    for (int i = 0; i < EC * 9; i++)
        w2[i] = (float)((i * 17) % 13 - 6) * 0.05f;
    snprintf(p, sizeof p, "%s/w.bin", dir);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(w1, sizeof(float), EC * EC, f), EC * EC);
    assert_int_equal(fwrite(w2, sizeof(float), EC * 9, f), EC * 9);
    static const float pad[64]; /* a kernel may read a line past a tail */
    assert_int_equal(fwrite(pad, sizeof pad, 1, f), 1);
    assert_int_equal(fclose(f), 0);

    mb b;
    mb_init(&b, 8, 13);
    int64_t d1[4] = {EC, EC, 1, 1}, d2[4] = {EC, 1, 3, 3}, dx[4] = {1, EC, 8, 8};
    char off2[32], len1[32], len2[32];
    snprintf(off2, sizeof off2, "%d", EC * EC * 4);
    snprintf(len1, sizeof len1, "%d", EC * EC * 4);
    snprintf(len2, sizeof len2, "%d", EC * 9 * 4);
    const char *kv[2][3][2] = {{{"location", "w.bin"}, {"offset", "0"}, {"length", len1}},
                               {{"location", "w.bin"}, {"offset", off2}, {"length", len2}}};
    const char *names[2] = {"w1", "w2"};
    const int64_t *dims[2] = {d1, d2};
    for (int k = 0; k < 1 + dw; k++) {
        Onnx__TensorProto *t = mb_tensor(&b, names[k], 1, 4, dims[k]);
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        t->external_data = mb_keep(&b, 3 * sizeof *t->external_data);
        for (int i = 0; i < 3; i++) {
            Onnx__StringStringEntryProto *e = mb_keep(&b, sizeof *e);
            onnx__string_string_entry_proto__init(e);
            e->key = (char *)kv[k][i][0];
            e->value = (char *)kv[k][i][1];
            t->external_data[t->n_external_data++] = e;
        }
        b.inits[b.g.n_initializer++] = t;
    }
    mb_input(&b, "x", 1, 4, dx);
    mb_node(&b, "Conv", "c1", "x", "w1", dw ? "h" : "y");
    if (dw) {
        Onnx__NodeProto *n = mb_node(&b, "Conv", "c2", "h", "w2", "y");
        int64_t pads[4] = {1, 1, 1, 1}, ks[2] = {3, 3};
        mb_attr_ints(&b, n, "pads", 4, pads);
        mb_attr_ints(&b, n, "kernel_shape", 2, ks);
        Onnx__AttributeProto *a = mb_attr(&b, n, "group", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
        a->has_i = 1;
        a->i = EC;
    }
    mb_output(&b, "y");
    size_t n;
    uint8_t *buf = pack_model(&b, &n);
    mb_free(&b);
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    write_file(p, buf, n);
    free(buf);
}

static void test_external_mapping_released(void **state)
{
    (void)state;
    static float w1[EC * EC], w2[EC * 9], x[EC * 64];
    static double h[EC * 64], ref[EC * 64];
    for (int dw = 0; dw <= 1; dw++) {
        char dir[] = "/tmp/sk_test_loadmem_XXXXXX", path[600], bin[600];
        assert_non_null(mkdtemp(dir));
        write_ext(dir, dw, w1, w2);
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        snprintf(bin, sizeof bin, "%s/w.bin", dir);
        for (int i = 0; i < EC * 64; i++)
            x[i] = (float)((i * 11) % 17 - 8) * 0.125f;
        for (int m = 0; m < EC; m++)
            for (int p = 0; p < 64; p++) {
                double s = 0;
                for (int c = 0; c < EC; c++)
                    s += (double)w1[m * EC + c] * x[c * 64 + p];
                h[m * 64 + p] = ref[m * 64 + p] = s;
            }
        if (dw)
            for (int c = 0; c < EC; c++)
                for (int i = 0; i < 8; i++)
                    for (int j = 0; j < 8; j++) {
                        double s = 0;
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++) {
                                int ii = i + u - 1, jj = j + v - 1;
                                if (ii >= 0 && ii < 8 && jj >= 0 && jj < 8)
                                    s += (double)w2[c * 9 + u * 3 + v] * h[c * 64 + ii * 8 + jj];
                            }
                        ref[c * 64 + i * 8 + j] = s;
                    }
        char err[512] = "";
        sk_graph *g = NULL;
        if (sk_onnx_load(path, &g, err, sizeof err))
            fail_msg("%s", err);
        assert_int_equal(g->nmaps, 1);
        assert_true(is_mapped(bin));
        if (sk_graph_optimize(g, 1, err, sizeof err))
            fail_msg("%s", err);
        int fast = sk_cpu_level() != SK_ISA_SCALAR; /* the scalar level packs nothing */
        if (fast && !dw) {
            /* the conv's weights were packed: nothing points into w.bin */
            assert_int_equal(g->nmaps, 0);
            assert_false(is_mapped(bin));
        }
        if (dw) /* the depthwise conv reads w2 where it lies */
            assert_int_equal(g->nmaps, 1);
        sk_tensor in = {SK_F32, {4, {1, EC, 8, 8}}, NULL};
        sk_plan *p = NULL;
        if (sk_plan_create(g, &in, NULL, &p, err, sizeof err))
            fail_msg("plan: %s", err);
        const void *data[1] = {x};
        if (sk_plan_run(p, data, err, sizeof err))
            fail_msg("run: %s", err);
        const float *y = sk_plan_output(p, 0)->data;
        double range = 0, worst = 0;
        for (int i = 0; i < EC * 64; i++)
            range = fmax(range, fabs(ref[i]));
        for (int i = 0; i < EC * 64; i++)
            worst = fmax(worst, fabs((double)y[i] - ref[i]));
        assert_true(range > 0 && worst <= 1e-5 * range);
        sk_plan_free(p);
        sk_graph_free(g);
        assert_false(is_mapped(bin));
        unlink(path);
        unlink(bin);
        rmdir(dir);
    }
}

/* --- one arena for a model's plans (sk_plan_create_shared) ---------------------- */

/* x [N, 8, 12, 12] -> Conv 3x3 (8 -> 32) + Relu -> Conv 3x3 (32 -> 32, the
 * Winograd size) + the first conv's output + Relu -> Conv 1x1 (32 -> 16):
 * convs of several strategies, a skip connection, scratch. */
static sk_graph *small_net(void)
{
    mb b;
    mb_init(&b, 8, 13);
    int64_t da[4] = {32, 8, 3, 3}, db[4] = {32, 32, 3, 3}, dc[4] = {16, 32, 1, 1};
    int64_t dx[4] = {-1, 8, 12, 12}, pads[4] = {1, 1, 1, 1};
    const char *names[3] = {"wa", "wb", "wc"};
    const int64_t *dims[3] = {da, db, dc};
    static float w[32 * 32 * 9];
    for (int k = 0; k < 3; k++) {
        int64_t n = dims[k][0] * dims[k][1] * dims[k][2] * dims[k][3];
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)((i * (7 + k) + k) % 29 - 14) * 0.02f;
        Onnx__TensorProto *t = mb_tensor(&b, names[k], 1, 4, dims[k]);
        mb_raw(&b, t, w, sizeof(float) * (size_t)n);
        b.inits[b.g.n_initializer++] = t;
    }
    mb_input(&b, "x", 1, 4, dx);
    Onnx__NodeProto *n = mb_node(&b, "Conv", "ca", "x", "wa", "a");
    mb_attr_ints(&b, n, "pads", 4, pads);
    mb_node(&b, "Relu", "ra", "a", NULL, "ar");
    n = mb_node(&b, "Conv", "cb", "ar", "wb", "bb");
    mb_attr_ints(&b, n, "pads", 4, pads);
    mb_node(&b, "Add", "add", "bb", "ar", "s");
    mb_node(&b, "Relu", "rs", "s", NULL, "sr");
    mb_node(&b, "Conv", "cc", "sr", "wc", "y");
    mb_output(&b, "y");
    size_t len;
    uint8_t *buf = pack_model(&b, &len);
    mb_free(&b);
    char err[512] = "";
    sk_graph *g = NULL;
    if (sk_onnx_load_buffer(buf, len, NULL, &g, err, sizeof err) ||
        sk_graph_optimize(g, 1, err, sizeof err))
        fail_msg("%s", err);
    free(buf);
    return g;
}

static sk_plan *plan_n(const sk_graph *g, int n, const sk_plan *share)
{
    char err[512] = "";
    sk_tensor in = {SK_F32, {4, {n, 8, 12, 12}}, NULL};
    sk_plan *p = NULL;
    if (sk_plan_create_shared(g, &in, NULL, share, &p, err, sizeof err))
        fail_msg("plan: %s", err);
    return p;
}

static void test_plans_share_one_arena(void **state)
{
    (void)state;
    sk_graph *g = small_net();
    const int sizes[3] = {1, 2, 4};
    const size_t in1 = 8 * 12 * 12, out1 = 16 * 12 * 12;
    sk_plan *own[3], *shared[3], *own8;
    for (int i = 0; i < 3; i++)
        own[i] = plan_n(g, sizes[i], NULL);
    shared[2] = plan_n(g, 4, NULL);
    for (int i = 0; i < 2; i++)
        shared[i] = plan_n(g, sizes[i], shared[2]);
    /* the shared plans' outputs lie in the batch-4 plan's arena */
    for (int i = 0; i < 2; i++) {
        const char *o = sk_plan_output(shared[i], 0)->data;
        const char *big = sk_plan_output(shared[2], 0)->data;
        size_t span = sk_plan_arena_bytes(shared[2]);
        assert_true((o >= big ? (size_t)(o - big) : (size_t)(big - o)) < span);
    }
    /* runs of the sizes interleaved, each input new: the same bytes as the
     * plans with arenas of their own */
    float *x = malloc(sizeof(float) * 4 * in1), *ref = malloc(sizeof(float) * 4 * out1);
    assert_true(x && ref);
    const int order[7] = {2, 0, 1, 0, 2, 1, 2};
    char err[512] = "";
    for (int r = 0; r < 7; r++) {
        int k = order[r];
        for (size_t i = 0; i < (size_t)sizes[k] * in1; i++)
            x[i] = (float)((i * 13 + (size_t)r * 5) % 37 - 18) * 0.05f;
        const void *data[1] = {x};
        if (sk_plan_run(own[k], data, err, sizeof err))
            fail_msg("run: %s", err);
        memcpy(ref, sk_plan_output(own[k], 0)->data, sizeof(float) * (size_t)sizes[k] * out1);
        if (sk_plan_run(shared[k], data, err, sizeof err))
            fail_msg("run: %s", err);
        assert_memory_equal(sk_plan_output(shared[k], 0)->data, ref,
                            sizeof(float) * (size_t)sizes[k] * out1);
    }
    /* a plan that borrows is no plan to share: its memory's owner is a
     * third plan, whose lifetime `share` cannot promise — refused, clearly */
    sk_plan *bad = (sk_plan *)1;
    sk_tensor in8 = {SK_F32, {4, {8, 8, 12, 12}}, NULL};
    assert_int_equal(sk_plan_create_shared(g, &in8, NULL, shared[0], &bad, err, sizeof err),
                     SK_EINVAL);
    assert_null(bad);
    assert_non_null(strstr(err, "share the plan that owns it"));
    /* what each plan reports is the memory it owns: the borrowers none */
    assert_true(sk_plan_arena_bytes(shared[2]) > 0);
    assert_int_equal(sk_plan_arena_bytes(shared[2]), sk_plan_arena_bytes(own[2]));
    for (int i = 0; i < 2; i++)
        assert_int_equal(sk_plan_arena_bytes(shared[i]), 0);
    /* a plan larger than the one it shares gets an arena of its own (it
     * reports memory it owns) and computes what an unshared plan does */
    sk_plan *bigger = plan_n(g, 8, shared[2]);
    own8 = plan_n(g, 8, NULL);
    assert_true(sk_plan_arena_bytes(bigger) > 0);
    const void *data[1] = {NULL};
    float *x8 = calloc(8 * in1, sizeof(float));
    assert_non_null(x8);
    for (size_t i = 0; i < 8 * in1; i++)
        x8[i] = (float)((i * 7) % 23 - 11) * 0.05f;
    data[0] = x8;
    if (sk_plan_run(own8, data, err, sizeof err))
        fail_msg("run: %s", err);
    float *ref8 = malloc(sizeof(float) * 8 * out1);
    assert_non_null(ref8);
    memcpy(ref8, sk_plan_output(own8, 0)->data, sizeof(float) * 8 * out1);
    if (sk_plan_run(bigger, data, err, sizeof err))
        fail_msg("run: %s", err);
    assert_memory_equal(sk_plan_output(bigger, 0)->data, ref8, sizeof(float) * 8 * out1);
    free(ref8);
    sk_plan_free(own8);
    sk_plan_free(bigger);
    free(x8);
    for (int i = 0; i < 3; i++) {
        sk_plan_free(own[i]);
        sk_plan_free(shared[i]); /* the batch-4 plan, whose arena they share, last */
    }
    free(x);
    free(ref);
    sk_graph_free(g);
}

int main(void)
{
    (void)mb_load_ok; /* onnx_builder.h helpers this file does not need */
    (void)mb_attr_str;
    (void)mb_attr_float;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skeleton_values),
        cmocka_unit_test(test_last_raw_data_wins),
        cmocka_unit_test(test_wire_strictness),
        cmocka_unit_test_teardown(test_big_model_resident_set, big_teardown),
        cmocka_unit_test(test_external_mapping_released),
        cmocka_unit_test(test_plans_share_one_arena),
    };
    return cmocka_run_group_tests_name("load_memory", tests, NULL, NULL);
}
