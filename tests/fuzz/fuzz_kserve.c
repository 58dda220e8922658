/* fuzz_kserve.c — the KServe v2 infer body parser and answer writer
 * (server/kserve_binary.c) on arbitrary bytes.
 *
 * Input: byte 0 odd = an Inference-Header-Content-Length follows as 4
 * little-endian bytes (taken as a decimal string, so it may be past the
 * body); the rest is the body. Then: srv_kreq_parse; every FP32 input's
 * values and every BYTES input's elements are read out; the first input is
 * written back as an answer, binary and as JSON.
 * Checks: an error has a message; every binary slice and every BYTES
 * element lies inside the body (and each byte is read), the slices follow
 * each other in input order and use up what follows the JSON; an answer's
 * JSON parses and, with binary outputs, its binary_data_size plus the JSON
 * length is the answer's length. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/kserve_binary.h"

#define CHECK(c)                                                                       \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "fuzz_kserve: check failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

static volatile uint8_t sink;

static void touch(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sink ^= p[i];
}

static void check_answer(const srv_ktensor *t, const float *f32, char *const *strs, int binary)
{
    srv_koutput o = {.name = t->name, .dtype = t->dtype, .rank = t->rank, .binary = binary,
                     .f32 = f32, .strs = strs};
    memcpy(o.shape, t->shape, sizeof o.shape);
    uint8_t *body;
    size_t len, jlen;
    srv_error e;
    if (srv_kresp_write("m", "1", "id", &o, 1, &body, &len, &jlen, &e) != SRV_OK) {
        CHECK(e.msg[0]);
        return;
    }
    json_t *root = json_loadb((const char *)body, jlen ? jlen : len, 0, NULL);
    CHECK(root);
    json_t *out = json_array_get(json_object_get(root, "outputs"), 0);
    CHECK(out);
    if (binary) {
        json_t *bds = json_object_get(json_object_get(out, "parameters"), "binary_data_size");
        CHECK(json_is_integer(bds));
        CHECK(jlen > 0 || json_integer_value(bds) == 0);
        CHECK((size_t)json_integer_value(bds) + (jlen ? jlen : len) == len);
    } else {
        CHECK(jlen == 0);
        CHECK(json_array_size(json_object_get(out, "data")) == t->count);
    }
    json_decref(root);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char hl[16], *hdr = NULL;
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    if (data[0] & 1) {
        if (len < 4)
            return 0;
        uint32_t v = (uint32_t)body[0] | (uint32_t)body[1] << 8 | (uint32_t)body[2] << 16 |
                     (uint32_t)body[3] << 24;
        snprintf(hl, sizeof hl, "%u", v);
        hdr = hl;
        body += 4;
        len -= 4;
    }
    /* a private copy, so ASan catches a read one past the body */
    uint8_t *b = malloc(len ? len : 1);
    if (!b)
        return 0;
    memcpy(b, body, len);
    srv_kreq q;
    srv_error e = {0};
    if (srv_kreq_parse(b, len, hdr, &q, &e) != SRV_OK) {
        CHECK(e.kind != SRV_OK && e.msg[0]);
        srv_kreq_free(&q);
        free(b);
        return 0;
    }
    CHECK(q.nin >= 1 && q.nin <= SRV_K_MAX_TENSORS);
    /* binary slices: consecutive, inside the body, ending at its end */
    const uint8_t *next = NULL;
    for (int i = 0; i < q.nin; i++) {
        const srv_ktensor *t = &q.in[i];
        if (!t->binary) {
            CHECK(t->data != NULL);
            continue;
        }
        CHECK(t->bin >= b && t->bin + t->bin_len <= b + len);
        CHECK(!next || t->bin == next);
        next = t->bin + t->bin_len;
        touch(t->bin, t->bin_len);
    }
    CHECK(!next || next == b + len);
    for (int i = 0; i < q.nin; i++) {
        const srv_ktensor *t = &q.in[i];
        if (t->count > (1u << 20))
            continue;
        if (t->dtype == SRV_KDT_FP32) {
            float *f = malloc((t->count ? t->count : 1) * sizeof *f);
            if (f && srv_ktensor_f32(t, f, &e) == SRV_OK && i == 0 && t->count <= 4096) {
                /* JSON cannot carry NaN: the writer turns it into null */
                check_answer(t, f, NULL, 1);
                check_answer(t, f, NULL, 0);
            }
            free(f);
        } else if (t->dtype == SRV_KDT_BYTES) {
            srv_kbytes *el = calloc(t->count ? t->count : 1, sizeof *el);
            if (el && srv_ktensor_bytes(t, el, &e) == SRV_OK) {
                char **strs = calloc(t->count ? t->count : 1, sizeof *strs);
                for (uint64_t k = 0; k < t->count; k++) {
                    if (!el[k].json)
                        CHECK(el[k].p >= t->bin && el[k].p + el[k].len <= t->bin + t->bin_len);
                    touch(el[k].p, el[k].len);
                    /* strings without NULs, as the server makes them */
                    if (strs && (strs[k] = malloc(el[k].len + 1))) {
                        size_t m = 0;
                        for (size_t j = 0; j < el[k].len; j++)
                            if (el[k].p[j])
                                strs[k][m++] = (char)el[k].p[j];
                        strs[k][m] = '\0';
                    }
                }
                int all = strs != NULL;
                for (uint64_t k = 0; all && k < t->count; k++)
                    all = strs[k] != NULL;
                if (all && i == 0 && t->count <= 4096) {
                    check_answer(t, NULL, strs, 1);
                    check_answer(t, NULL, strs, 0);
                }
                for (uint64_t k = 0; strs && k < t->count; k++)
                    free(strs[k]);
                free(strs);
            }
            free(el);
        }
    }
    for (int i = 0; i < q.nout; i++)
        CHECK(q.out[i].name && q.out[i].binary >= -1 && q.out[i].binary <= 1);
    srv_kreq_free(&q);
    free(b);
    return 0;
}
