/* test_base64.c — server/base64.c: RFC 4648 base64 decode (standard and
 * URL-safe alphabets, optional padding, whitespace), encode, and RFC 2397
 * data URLs. The server objects are not in the test libraries, so the
 * source is compiled into this test. Expected values: RFC 4648 section 10's
 * test vectors, and bytes worked out by hand in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/base64.c"

/* Decode s; assert it succeeds and yields exactly want[0..wlen). */
static void dec_ok(const char *s, const void *want, size_t wlen)
{
    uint8_t *out = NULL;
    size_t olen = 12345;
    if (srv_base64_decode(s, strlen(s), &out, &olen) != 0)
        fail_msg("\"%s\" was refused", s);
    assert_non_null(out);
    if (olen != wlen)
        fail_msg("\"%s\" decoded to %zu bytes, want %zu", s, olen, wlen);
    assert_memory_equal(out, want, wlen);
    free(out);
}

static void dec_bad(const char *s)
{
    uint8_t *out = NULL;
    size_t olen = 0;
    if (srv_base64_decode(s, strlen(s), &out, &olen) == 0) {
        free(out);
        fail_msg("\"%s\" was accepted (%zu bytes)", s, olen);
    }
}

/* RFC 4648, section 10. */
static const struct {
    const char *plain, *b64, *nopad;
} RFC[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};
#define NRFC (sizeof RFC / sizeof RFC[0])

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < NRFC; i++) {
        dec_ok(RFC[i].b64, RFC[i].plain, strlen(RFC[i].plain));
        dec_ok(RFC[i].nopad, RFC[i].plain, strlen(RFC[i].plain)); /* padding is optional */
        size_t n = 99;
        char *enc = srv_base64_encode((const uint8_t *)RFC[i].plain, strlen(RFC[i].plain), &n);
        assert_non_null(enc);
        assert_string_equal(enc, RFC[i].b64);
        assert_int_equal(n, strlen(RFC[i].b64));
        free(enc);
    }
}

static void test_whitespace_is_skipped(void **state)
{
    (void)state;
    /* MIME-style line breaks, and blanks anywhere (even inside a quantum). */
    dec_ok("Zm9v\r\nYmFy", "foobar", 6);
    dec_ok("Zm9v\nYmFy\n", "foobar", 6);
    dec_ok(" Zm 9v\tYm Fy ", "foobar", 6);
    dec_ok("Zg=\n=", "f", 1);
    dec_ok(" \r\n\t ", "", 0);
}

static void test_both_alphabets(void **state)
{
    (void)state;
    /* 0xFB 0xFF = 11111011 11111111 -> 111110 111111 1111(00) = 62, 63, 60:
     * "+/8=" in the standard alphabet, "-_8=" in the URL-safe one. */
    const uint8_t fbff[2] = {0xFB, 0xFF};
    dec_ok("+/8=", fbff, 2);
    dec_ok("-_8=", fbff, 2);
    dec_ok("-_8", fbff, 2);
    /* 0xFF 0xFF 0xFF -> four 63s: "////" / "____"; mixed alphabets too. */
    const uint8_t ff3[3] = {0xFF, 0xFF, 0xFF};
    dec_ok("////", ff3, 3);
    dec_ok("____", ff3, 3);
    dec_ok("/_/_", ff3, 3);
    /* 0x00 0x10 0x83 -> 000000 000001 000010 000011 = "ABCD". */
    const uint8_t abcd[3] = {0x00, 0x10, 0x83};
    dec_ok("ABCD", abcd, 3);
    /* The encoder writes the standard alphabet. */
    char *enc = srv_base64_encode(fbff, 2, NULL);
    assert_string_equal(enc, "+/8=");
    free(enc);
}

static void test_binary_round_trip(void **state)
{
    (void)state;
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t n = 0; n <= 256; n += 1 + n / 3) {
        size_t elen;
        char *enc = srv_base64_encode(all, n, &elen);
        assert_non_null(enc);
        assert_int_equal(elen, (n + 2) / 3 * 4); /* 4 symbols per started 3 bytes */
        assert_int_equal(strlen(enc), elen);
        dec_ok(enc, all, n);
        free(enc);
    }
}

static void test_invalid_input(void **state)
{
    (void)state;
    dec_bad("Zm9v!");        /* not in either alphabet */
    dec_bad("Zm9v.YmFy");
    dec_bad("Zm9v\x80");     /* high bytes */
    dec_bad("Zm9vYmFy\x01");
    dec_bad("Z");            /* one symbol: 6 bits, no whole byte */
    dec_bad("Zm9vY");        /* ditto after a full quantum */
    dec_bad("Zg=");          /* "Zg" needs "==" when padded */
    dec_bad("Zm9v=");        /* padding after a complete quantum */
    dec_bad("Zg===");        /* too much padding */
    dec_bad("=");
    dec_bad("Zg==Zg==");     /* data after padding */
    dec_bad("Zm=9v");
    dec_bad("@@not base64@@");
}

static void test_data_url(void **state)
{
    (void)state;
    const char *p;
    size_t n;
    const char *url = "data:image/png;base64,iVBORw0K";
    assert_int_equal(srv_data_url_payload(url, strlen(url), &p, &n), 1);
    assert_int_equal(n, 8);
    assert_memory_equal(p, "iVBORw0K", 8);
    /* "iVBORw0K" is the PNG signature's first 6 bytes: 89 50 4E 47 0D 0A. */
    const uint8_t sig[6] = {0x89, 'P', 'N', 'G', '\r', '\n'};
    dec_ok("iVBORw0K", sig, 6);

    /* RFC 2397: the media type may be omitted; parameters may come first;
     * the scheme and ";base64" are case-insensitive. */
    const char *bare = "data:;base64,Zm9v";
    assert_int_equal(srv_data_url_payload(bare, strlen(bare), &p, &n), 1);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "Zm9v", 4);
    const char *params = "DATA:image/jpeg;name=x.jpg;BASE64,Zg==";
    assert_int_equal(srv_data_url_payload(params, strlen(params), &p, &n), 1);
    assert_int_equal(n, 4);
    assert_memory_equal(p, "Zg==", 4);
    const char *empty = "data:image/png;base64,";
    assert_int_equal(srv_data_url_payload(empty, strlen(empty), &p, &n), 1);
    assert_int_equal(n, 0);

    /* Not a data URL: the string itself is the payload. */
    const char *plain = "Zm9vYmFy";
    assert_int_equal(srv_data_url_payload(plain, strlen(plain), &p, &n), 0);
    assert_ptr_equal(p, plain);
    assert_int_equal(n, 8);
    assert_int_equal(srv_data_url_payload("data", 4, &p, &n), 0);

    /* Data URLs that carry no base64. */
    const char *bad[] = {"data:image/png;base64", "data:image/png,Zm9v", "data:,Zm9v",
                         "data:text/plain;charset=base64,Zm9v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (srv_data_url_payload(bad[i], strlen(bad[i]), &p, &n) != -1)
            fail_msg("\"%s\" should be refused", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),    cmocka_unit_test(test_whitespace_is_skipped),
        cmocka_unit_test(test_both_alphabets),     cmocka_unit_test(test_binary_round_trip),
        cmocka_unit_test(test_invalid_input),      cmocka_unit_test(test_data_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
