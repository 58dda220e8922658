/* test_kserve_binary.c — server/kserve_binary.c, the KServe v2 infer body
 * parser and answer writer, byte for byte: mixed JSON and binary inputs
 * take their slices after the JSON in input order, BYTES elements are
 * 4-byte little-endian lengths + bytes, nested and flat JSON data, the
 * header length and binary sizes checked against the body, and the answer
 * laid out as tritonclient's InferResult reads it (JSON, then each binary
 * output's bytes in output order). Expected bytes are written out by hand
 * from Triton's binary tensor data extension document. The server sources
 * are compiled into this test (jansson is linked for it alone). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "server/errors.c"
#include "server/kserve_binary.c"

/* JSON then raw bytes, as one body. */
static uint8_t *body_of(const char *json, const void *raw, size_t rawlen, size_t *len)
{
    size_t j = strlen(json);
    uint8_t *b = malloc(j + rawlen + 1);
    memcpy(b, json, j);
    if (rawlen)
        memcpy(b + j, raw, rawlen);
    *len = j + rawlen;
    return b;
}

static void test_mixed_inputs(void **state)
{
    (void)state;
    const char *js = "{\"id\":\"r1\",\"inputs\":["
                     "{\"name\":\"a\",\"shape\":[2],\"datatype\":\"FP32\","
                     "\"parameters\":{\"binary_data_size\":8}},"
                     "{\"name\":\"b\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"ab\"]},"
                     "{\"name\":\"c\",\"shape\":[2,1],\"datatype\":\"BYTES\","
                     "\"parameters\":{\"binary_data_size\":12}}],"
                     "\"outputs\":[{\"name\":\"o\",\"parameters\":{\"binary_data\":false,"
                     "\"classification\":3}}],"
                     "\"parameters\":{\"binary_data_output\":true,\"timeout\":5,\"priority\":1}}";
    /* a: 1.5f, -2.0f little-endian; c: "xyz" and "q" length-prefixed */
    const uint8_t raw[] = {0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0, 3,   0,
                           0,    0,    'x',  'y',  'z',  1,    0,    0,    0,   'q'};
    size_t len;
    uint8_t *b = body_of(js, raw, sizeof raw, &len);
    char hl[16];
    snprintf(hl, sizeof hl, "%zu", strlen(js));
    srv_kreq q;
    srv_error e = {0};
    assert_int_equal(srv_kreq_parse(b, len, hl, &q, &e), SRV_OK);
    assert_string_equal(q.id, "r1");
    assert_int_equal(q.nin, 3);
    assert_int_equal(q.binary_output, 1);
    assert_int_equal(q.nout, 1);
    assert_int_equal(q.out[0].binary, 0);
    assert_int_equal(q.out[0].classification, 3);
    /* slices in input order, right after the JSON */
    assert_true(q.in[0].binary && q.in[0].bin == b + strlen(js) && q.in[0].bin_len == 8);
    assert_false(q.in[1].binary);
    assert_true(q.in[2].binary && q.in[2].bin == b + strlen(js) + 8 && q.in[2].bin_len == 12);
    float f[2];
    assert_int_equal(srv_ktensor_f32(&q.in[0], f, &e), SRV_OK);
    assert_true(f[0] == 1.5f && f[1] == -2.0f);
    srv_kbytes el[2];
    assert_int_equal(srv_ktensor_bytes(&q.in[1], el, &e), SRV_OK);
    assert_true(el[0].json && el[0].len == 2 && memcmp(el[0].p, "ab", 2) == 0);
    assert_int_equal(srv_ktensor_bytes(&q.in[2], el, &e), SRV_OK);
    assert_true(!el[0].json && el[0].len == 3 && memcmp(el[0].p, "xyz", 3) == 0);
    assert_true(el[0].p == b + strlen(js) + 12);
    assert_true(el[1].len == 1 && el[1].p[0] == 'q');
    srv_kreq_free(&q);

    /* one byte short of the declared sizes; one byte too many */
    assert_int_equal(srv_kreq_parse(b, len - 1, hl, &q, &e), SRV_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "binary_data_size 12"));
    srv_kreq_free(&q);
    uint8_t *b2 = body_of(js, raw, sizeof raw, &len);
    b2 = realloc(b2, len + 1);
    b2[len] = 0;
    assert_int_equal(srv_kreq_parse(b2, len + 1, hl, &q, &e), SRV_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "1 bytes follow"));
    srv_kreq_free(&q);
    free(b2);
    /* header length past the body; not a number */
    snprintf(hl, sizeof hl, "%zu", len + 1);
    assert_int_equal(srv_kreq_parse(b, len, hl, &q, &e), SRV_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "Inference-Header-Content-Length"));
    srv_kreq_free(&q);
    assert_int_equal(srv_kreq_parse(b, len, "12a", &q, &e), SRV_E_BAD_REQUEST);
    srv_kreq_free(&q);
    assert_int_equal(srv_kreq_parse(b, len, "+5", &q, &e), SRV_E_BAD_REQUEST);
    srv_kreq_free(&q);
    free(b);
}

static srv_err parse_json(const char *js, srv_kreq *q, srv_error *e)
{
    return srv_kreq_parse((const uint8_t *)js, strlen(js), NULL, q, e);
}

static void test_json_data(void **state)
{
    (void)state;
    srv_kreq q;
    srv_error e = {0};
    float f[4];
    /* nested and flat give the same row-major values; integers are numbers */
    assert_int_equal(parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"FP32\","
                                "\"data\":[[1,2.5],[-3,4e-1]]}]}",
                                &q, &e),
                     SRV_OK);
    assert_int_equal(srv_ktensor_f32(&q.in[0], f, &e), SRV_OK);
    assert_true(f[0] == 1.0f && f[1] == 2.5f && f[2] == -3.0f && f[3] == 0.4f);
    srv_kreq_free(&q);
    assert_int_equal(parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"FP32\","
                                "\"data\":[1,2.5,-3,0.4]}]}",
                                &q, &e),
                     SRV_OK);
    assert_int_equal(srv_ktensor_f32(&q.in[0], f, &e), SRV_OK);
    assert_true(f[3] == 0.4f);
    srv_kreq_free(&q);
    /* counts and kinds that do not fit the shape */
    assert_int_equal(parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"FP32\","
                                "\"data\":[1,2,3]}]}",
                                &q, &e),
                     SRV_OK);
    assert_int_equal(srv_ktensor_f32(&q.in[0], f, &e), SRV_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "shape says 4 values, data holds 3"));
    srv_kreq_free(&q);
    assert_int_equal(parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\","
                                "\"data\":[1,2]}]}",
                                &q, &e),
                     SRV_OK);
    assert_int_equal(srv_ktensor_f32(&q.in[0], f, &e), SRV_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "more than"));
    srv_kreq_free(&q);
    assert_int_equal(parse_json("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\","
                                "\"data\":[1,true]}]}",
                                &q, &e),
                     SRV_OK);
    assert_int_equal(srv_ktensor_f32(&q.in[0], f, &e), SRV_E_BAD_REQUEST);
    srv_kreq_free(&q);
    /* malformed requests, each a 400 with a message */
    const char *bad[] = {
        "[]", "{}", "{\"inputs\":[]}", "{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP8\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[-1],\"datatype\":\"FP32\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\"}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1048576,1048576,2],\"datatype\":\"FP32\",\"data\":[]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],"
        "\"parameters\":{\"binary_data_size\":4}}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\","
        "\"parameters\":{\"binary_data_size\":4}}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]},"
        "{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
        "{\"id\":7,\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],"
        "\"outputs\":[{\"name\":\"o\",\"parameters\":{\"binary_data\":1}}]}",
        "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}],"
        "\"outputs\":[{\"name\":\"o\",\"parameters\":{\"classification\":0}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        assert_int_equal(parse_json(bad[i], &q, &e), SRV_E_BAD_REQUEST);
        assert_true(e.msg[0] != '\0');
        srv_kreq_free(&q);
    }
    /* BYTES: a length running past the slice */
    const char *js = "{\"inputs\":[{\"name\":\"s\",\"shape\":[1],\"datatype\":\"BYTES\","
                     "\"parameters\":{\"binary_data_size\":6}}]}";
    const uint8_t raw[] = {5, 0, 0, 0, 'a', 'b'};
    size_t len;
    uint8_t *b = body_of(js, raw, sizeof raw, &len);
    char hl[16];
    snprintf(hl, sizeof hl, "%zu", strlen(js));
    assert_int_equal(srv_kreq_parse(b, len, hl, &q, &e), SRV_OK);
    srv_kbytes el[1];
    assert_int_equal(srv_ktensor_bytes(&q.in[0], el, &e), SRV_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "claims 5 bytes, 2 are left"));
    srv_kreq_free(&q);
    free(b);
}

static void test_answer_layout(void **state)
{
    (void)state;
    const float f[3] = {1.0f, -0.5f, 2.0f};
    char *strs[2] = {"0.9:6:Shirt", "x"};
    srv_koutput o[3] = {
        {.name = "logits", .dtype = SRV_KDT_FP32, .rank = 2, .shape = {1, 3}, .f32 = f, .binary = 1},
        {.name = "json", .dtype = SRV_KDT_FP32, .rank = 1, .shape = {3}, .f32 = f, .binary = 0},
        {.name = "cls", .dtype = SRV_KDT_BYTES, .rank = 2, .shape = {1, 2}, .strs = strs, .binary = 1},
    };
    uint8_t *body;
    size_t len, jlen;
    srv_error e;
    assert_int_equal(srv_kresp_write("m", "2", "r1", o, 3, &body, &len, &jlen, &e), SRV_OK);
    /* 12 bytes of floats, then 4+11 and 4+1 bytes of strings */
    assert_int_equal(len, jlen + 12 + 15 + 5);
    json_t *j = json_loadb((const char *)body, jlen, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "model_name")), "m");
    assert_string_equal(json_string_value(json_object_get(j, "model_version")), "2");
    assert_string_equal(json_string_value(json_object_get(j, "id")), "r1");
    json_t *outs = json_object_get(j, "outputs");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(outs, 0), "parameters"), "binary_data_size")),
                     12);
    assert_int_equal(json_array_size(json_object_get(json_array_get(outs, 1), "data")), 3);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_array_get(outs, 2), "parameters"), "binary_data_size")),
                     20);
    assert_string_equal(json_string_value(json_object_get(json_array_get(outs, 2), "datatype")),
                        "BYTES");
    json_decref(j);
    const uint8_t want[] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xbf, 0x00, 0x00, 0x00, 0x40,
                            11,   0,    0,    0,    '0',  '.',  '9',  ':',  '6',  ':',  'S',  'h',
                            'i',  'r',  't',  1,    0,    0,    0,    'x'};
    assert_memory_equal(body + jlen, want, sizeof want);
    free(body);
    /* all JSON: no header length; NaN cannot be JSON and is written null */
    const float nan_inf[2] = {0.0f / 0.0f, 1.0f};
    srv_koutput one = {.name = "o", .dtype = SRV_KDT_FP32, .rank = 1, .shape = {2}, .f32 = nan_inf};
    assert_int_equal(srv_kresp_write("m", "1", NULL, &one, 1, &body, &len, &jlen, &e), SRV_OK);
    assert_int_equal(jlen, 0);
    assert_non_null(strstr((char *)body, "\"data\":[null,1"));
    assert_null(strstr((char *)body, "\"id\""));
    free(body);
}

static void test_datatypes(void **state)
{
    (void)state;
    static const char *names[] = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
                                  "INT32", "INT64", "FP16", "FP32", "FP64", "BF16", "BYTES"};
    static const int sizes[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 2, 0};
    for (int i = 0; i < SRV_KDT_COUNT; i++) {
        assert_int_equal(srv_kdtype_parse(names[i]), i);
        assert_string_equal(srv_kdtype_name((srv_kdtype)i), names[i]);
        assert_int_equal(srv_kdtype_size((srv_kdtype)i), sizes[i]);
    }
    assert_int_equal(srv_kdtype_parse("fp32"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_inputs),
        cmocka_unit_test(test_json_data),
        cmocka_unit_test(test_answer_layout),
        cmocka_unit_test(test_datatypes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
