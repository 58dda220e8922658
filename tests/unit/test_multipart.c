/* test_multipart.c — server/multipart.c, the multipart/form-data parser:
 * the boundary parameter (quoted, among others, length limits), CRLF
 * delimiters, preamble and epilogue, parts without headers or filename,
 * binary data holding boundary-like bytes, and malformed bodies. The server
 * objects are not in the test libraries, so the source is compiled into
 * this test. Expected parts are read off the bodies by hand, per RFC 2046
 * section 5.1 (delimiter = CRLF "--" boundary; the CRLF before it belongs to
 * the delimiter, not to the data) and RFC 7578 (Content-Disposition name and
 * filename). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "server/multipart.c"

/* errors.c needs jansson, which unit tests do not link: the one function
 * the parser uses, with the same contract. */
srv_err srv_fail(srv_error *e, srv_err kind, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->kind = kind;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return kind;
}

#define MAXP 8

typedef struct got {
    int n;
    srv_part p[MAXP];
    uint8_t *data[MAXP]; /* copies, so the checks do not trust the pointers */
    srv_err fail_at_2;   /* returned for the second part, when set */
} got;

static srv_err collect(void *arg, const srv_part *p, srv_error *e)
{
    got *g = arg;
    if (g->n == 1 && g->fail_at_2)
        return srv_fail(e, g->fail_at_2, "callback refused part 2");
    assert_true(g->n < MAXP);
    g->p[g->n] = *p;
    g->data[g->n] = malloc(p->len + 1);
    assert_non_null(g->data[g->n]);
    memcpy(g->data[g->n], p->data, p->len);
    g->n++;
    return SRV_OK;
}

static void got_free(got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->data[i]);
    memset(g, 0, sizeof *g);
}

static srv_err parse(const char *ctype, const void *body, size_t len, got *g, srv_error *e)
{
    memset(g, 0, sizeof *g);
    memset(e, 0, sizeof *e);
    return srv_multipart_parse(ctype, body, len, collect, g, e);
}

static srv_err parse_str(const char *ctype, const char *body, got *g, srv_error *e)
{
    return parse(ctype, body, strlen(body), g, e);
}

static void part_is(const got *g, int i, const char *name, int has_filename,
                    const char *filename, const char *ctype, const void *data, size_t len)
{
    assert_true(i < g->n);
    assert_string_equal(g->p[i].name, name);
    assert_int_equal(g->p[i].has_filename, has_filename);
    assert_string_equal(g->p[i].filename, filename);
    assert_string_equal(g->p[i].ctype, ctype);
    if (g->p[i].len != len)
        fail_msg("part %d: %zu bytes, want %zu", i, g->p[i].len, len);
    assert_memory_equal(g->data[i], data, len);
}

static void part_str(const got *g, int i, const char *name, int has_filename,
                     const char *filename, const char *ctype, const char *data)
{
    part_is(g, i, name, has_filename, filename, ctype, data, strlen(data));
}

/* RFC 7578 section 4 style: a plain field and a file, as browsers and
 * curl -F send them. */
static void test_form_fields_and_files(void **state)
{
    (void)state;
    got g;
    srv_error e;
    const char *body = "--AaB03x\r\n"
                       "Content-Disposition: form-data; name=\"submit-name\"\r\n"
                       "\r\n"
                       "Larry\r\n"
                       "--AaB03x\r\n"
                       "Content-Disposition: form-data; name=\"files\"; filename=\"file1.txt\"\r\n"
                       "Content-Type: text/plain\r\n"
                       "\r\n"
                       "... contents of file1.txt ...\r\n"
                       "--AaB03x--\r\n";
    assert_int_equal(parse_str("multipart/form-data; boundary=AaB03x", body, &g, &e), SRV_OK);
    assert_int_equal(g.n, 2);
    part_str(&g, 0, "submit-name", 0, "", "", "Larry");
    part_str(&g, 1, "files", 1, "file1.txt", "text/plain", "... contents of file1.txt ...");
    got_free(&g);
}

/* RFC 2046 section 5.1.1's example: a quoted boundary with a space, a
 * preamble and an epilogue to ignore, a first part with no header lines at
 * all, and a second whose data ends in a line break of its own. */
static void test_rfc2046_example(void **state)
{
    (void)state;
    got g;
    srv_error e;
    const char *body = "This is the preamble.  It is to be ignored, though it\r\n"
                       "is a handy place for composition agents to include an\r\n"
                       "explanatory note to non-MIME conformant readers.\r\n"
                       "\r\n"
                       "--simple boundary\r\n"
                       "\r\n"
                       "This is implicitly typed plain US-ASCII text.\r\n"
                       "It does NOT end with a linebreak.\r\n"
                       "--simple boundary\r\n"
                       "Content-type: text/plain; charset=us-ascii\r\n"
                       "\r\n"
                       "This is explicitly typed plain US-ASCII text.\r\n"
                       "It DOES end with a linebreak.\r\n"
                       "\r\n"
                       "--simple boundary--\r\n"
                       "\r\n"
                       "This is the epilogue.  It is also to be ignored.\r\n";
    assert_int_equal(parse_str("multipart/mixed; boundary=\"simple boundary\"", body, &g, &e),
                     SRV_OK);
    assert_int_equal(g.n, 2);
    part_str(&g, 0, "", 0, "", "",
             "This is implicitly typed plain US-ASCII text.\r\n"
             "It does NOT end with a linebreak.");
    part_str(&g, 1, "", 0, "", "text/plain",
             "This is explicitly typed plain US-ASCII text.\r\n"
             "It DOES end with a linebreak.\r\n");
    got_free(&g);
}

static void test_boundary_parameter(void **state)
{
    (void)state;
    got g;
    srv_error e;
    const char *body = "--b0\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b0--";
    /* Quoted, unquoted, case of the attribute, other parameters around it,
     * blanks around '=' and ';'. */
    const char *ok[] = {
        "multipart/form-data; boundary=b0",
        "multipart/form-data; boundary=\"b0\"",
        "multipart/form-data; BOUNDARY=b0",
        "multipart/form-data;boundary=b0",
        "multipart/form-data; charset=utf-8; boundary=b0",
        "multipart/form-data; boundary=b0; charset=utf-8",
        "multipart/form-data; boundary = b0 ",
        "multipart/form-data; xboundary=zz; boundary=b0",     /* not a prefix match */
        "multipart/form-data; note=\"boundary=zz\"; boundary=b0", /* not inside quotes */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        if (parse_str(ok[i], body, &g, &e) != SRV_OK)
            fail_msg("Content-Type \"%s\": %s", ok[i], e.msg);
        assert_int_equal(g.n, 1);
        part_str(&g, 0, "a", 0, "", "", "x");
        got_free(&g);
    }
    const char *bad[] = {
        NULL,
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary",
        "multipart/form-data; xboundary=b0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_str(bad[i], body, &g, &e) != SRV_E_BAD_REQUEST)
            fail_msg("Content-Type \"%s\" should be refused", bad[i] ? bad[i] : "(none)");
        assert_int_equal(e.kind, SRV_E_BAD_REQUEST);
        assert_true(strlen(e.msg) > 0);
        assert_int_equal(g.n, 0);
    }
}

/* RFC 2046: a boundary is 1 to 70 characters. */
static void test_boundary_length(void **state)
{
    (void)state;
    got g;
    srv_error e;
    char b70[71], b71[72], ct[128], body[256];
    memset(b70, 'q', 70);
    b70[70] = '\0';
    memset(b71, 'q', 71);
    b71[71] = '\0';
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b70);
    snprintf(body, sizeof body, "--%s\r\n\r\nv\r\n--%s--", b70, b70);
    assert_int_equal(parse_str(ct, body, &g, &e), SRV_OK);
    assert_int_equal(g.n, 1);
    part_str(&g, 0, "", 0, "", "", "v");
    got_free(&g);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b71);
    snprintf(body, sizeof body, "--%s\r\n\r\nv\r\n--%s--", b71, b71);
    assert_int_equal(parse_str(ct, body, &g, &e), SRV_E_BAD_REQUEST);
}

/* Bytes that look like the boundary but are not a delimiter (which is CRLF
 * "--" boundary) stay in the data, as do NULs, bare CR / LF and a trailing
 * CRLF that precedes the delimiter's own. */
static void test_binary_data_with_boundary_like_bytes(void **state)
{
    (void)state;
    got g;
    srv_error e;
    static const uint8_t data[] = {
        0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0x00, 0xff,
        '-', '-', 'X', 'y', 'Z',                      /* "--XyZ" without CRLF */
        '\n', '-', '-', 'X', 'y', 'Z',                /* LF only, no CR */
        '\r', '-', '-', 'X', 'y', 'Z',                /* CR only */
        '\r', '\n', '-', '-', 'X', 'y',               /* CRLF + a prefix of it */
        '\r', '\n', '-', 'X', 'y', 'Z',               /* one dash */
        '\r', '\n', '\r', '\n', 0x00, '\r', '\n',     /* ends in CRLF itself */
    };
    const char *head = "--XyZ\r\n"
                       "Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
                       "Content-Type: image/png\r\n\r\n";
    const char *tail = "\r\n--XyZ--\r\n";
    size_t hl = strlen(head), tl = strlen(tail);
    uint8_t *body = malloc(hl + sizeof data + tl);
    assert_non_null(body);
    memcpy(body, head, hl);
    memcpy(body + hl, data, sizeof data);
    memcpy(body + hl + sizeof data, tail, tl);
    assert_int_equal(parse("multipart/form-data; boundary=XyZ", body, hl + sizeof data + tl, &g,
                           &e),
                     SRV_OK);
    assert_int_equal(g.n, 1);
    part_is(&g, 0, "image", 1, "a.png", "image/png", data, sizeof data);
    /* The data points into the body, not into a copy. */
    assert_ptr_equal(g.p[0].data, body + hl);
    got_free(&g);
    free(body);
}

static void test_several_files_and_empty_parts(void **state)
{
    (void)state;
    got g;
    srv_error e;
    const char *body = "--zz\r\n"
                       "Content-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
                       "Content-Type: image/jpeg\r\n\r\n"
                       "AAA\r\n"
                       "--zz\r\n"
                       "Content-Disposition: form-data; name=\"image\"; filename=\"b.png\"\r\n"
                       "Content-Type: image/png\r\n\r\n"
                       "BB\r\n"
                       "--zz\r\n"
                       "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n"
                       "\r\n"
                       "--zz\r\n"
                       "Content-Disposition: form-data; name=\"top_k\"\r\n\r\n"
                       "3\r\n"
                       "--zz--";
    assert_int_equal(parse_str("multipart/form-data; boundary=zz", body, &g, &e), SRV_OK);
    assert_int_equal(g.n, 4);
    part_str(&g, 0, "image", 1, "a.jpg", "image/jpeg", "AAA");
    part_str(&g, 1, "image", 1, "b.png", "image/png", "BB");
    part_str(&g, 2, "empty", 1, "", "application/octet-stream", ""); /* filename="" */
    part_str(&g, 3, "top_k", 0, "", "", "3");
    got_free(&g);
}

static void test_header_details(void **state)
{
    (void)state;
    got g;
    srv_error e;
    /* Header names and parameter names in any case; a filename holding
     * "; name=" and an escaped quote; Content-Type lower-cased without its
     * parameters; unknown headers ignored; blanks after the boundary
     * (RFC 2046 transport padding). */
    const char *body =
        "--B  \r\n"
        "CONTENT-DISPOSITION: form-data; filename=\"x; name=evil \\\"q\\\".png\"; NAME=\"real\"\r\n"
        "X-Other: 1\r\n"
        "content-type: Image/PNG; foo=bar\r\n"
        "\r\n"
        "D\r\n"
        "--B\t\r\n"
        "Content-Disposition: form-data; name=token\r\n"
        "\r\n"
        "t\r\n"
        "--B--";
    assert_int_equal(parse_str("multipart/form-data; boundary=B", body, &g, &e), SRV_OK);
    assert_int_equal(g.n, 2);
    part_str(&g, 0, "real", 1, "x; name=evil \"q\".png", "image/png", "D");
    part_str(&g, 1, "token", 0, "", "", "t");
    got_free(&g);

    /* A name longer than the field is truncated, not overflowed. */
    char longname[200], body2[400];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    snprintf(body2, sizeof body2,
             "--B\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\nv\r\n--B--", longname);
    assert_int_equal(parse_str("multipart/form-data; boundary=B", body2, &g, &e), SRV_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(strlen(g.p[0].name), sizeof g.p[0].name - 1);
    assert_memory_equal(g.p[0].name, longname, sizeof g.p[0].name - 1);
    got_free(&g);
}

static void test_malformed_bodies(void **state)
{
    (void)state;
    got g;
    srv_error e;
    const char *ct = "multipart/form-data; boundary=b";
    const struct {
        const char *body, *why;
    } bad[] = {
        {"", "empty body"},
        {"no delimiter at all", "no boundary line"},
        {"--b--", "no parts"},
        {"--b\r\n\r\ndata", "no delimiter after the part"},
        {"--b\r\n\r\ndata\r\n--b", "close delimiter missing (\"--\")"},
        {"--b\r\n\r\ndata\r\n--b\r\n", "ends after a delimiter, without a part"},
        {"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n", "headers never end"},
        {"--bX\r\n\r\ndata\r\n--b--", "first boundary followed by junk"},
        {"--b\n\ndata\n--b--\n", "LF-only line breaks"},
        {"--b\r\n\r\ndata\r\n--bjunk", "delimiter followed by junk"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        srv_err r = parse_str(ct, bad[i].body, &g, &e);
        if (r != SRV_E_BAD_REQUEST)
            fail_msg("%s: got %d, want bad_request", bad[i].why, (int)r);
        assert_true(strlen(e.msg) > 0);
        got_free(&g);
    }

    /* Part headers over 8 KiB are refused. */
    size_t n = 9000;
    char *big = malloc(n + 64);
    assert_non_null(big);
    strcpy(big, "--b\r\nX-Pad: ");
    size_t l = strlen(big);
    memset(big + l, 'p', n);
    strcpy(big + l + n, "\r\n\r\nv\r\n--b--");
    assert_int_equal(parse_str(ct, big, &g, &e), SRV_E_BAD_REQUEST);
    got_free(&g);
    free(big);
}

/* Whatever the callback answers stops the parse and is returned. */
static void test_callback_error_stops(void **state)
{
    (void)state;
    got g;
    srv_error e;
    const char *body = "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n--b--";
    memset(&g, 0, sizeof g);
    memset(&e, 0, sizeof e);
    g.fail_at_2 = SRV_E_BAD_IMAGE;
    assert_int_equal(srv_multipart_parse("multipart/form-data; boundary=b",
                                         (const uint8_t *)body, strlen(body), collect, &g, &e),
                     SRV_E_BAD_IMAGE);
    assert_int_equal(g.n, 1);
    assert_string_equal(e.msg, "callback refused part 2");
    got_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_fields_and_files),
        cmocka_unit_test(test_rfc2046_example),
        cmocka_unit_test(test_boundary_parameter),
        cmocka_unit_test(test_boundary_length),
        cmocka_unit_test(test_binary_data_with_boundary_like_bytes),
        cmocka_unit_test(test_several_files_and_empty_parts),
        cmocka_unit_test(test_header_details),
        cmocka_unit_test(test_malformed_bodies),
        cmocka_unit_test(test_callback_error_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
