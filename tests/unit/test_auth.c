/* test_auth.c — server/auth.c (API keys: the key file's rules, Bearer
 * parsing, open paths) and server/reqid.c (which client ids are kept, made
 * ids unique and well-formed). The server objects are not in the test
 * libraries, so the sources are compiled into this test. Expectations come
 * from RFC 6750 (b64token, the Bearer scheme) and the rules in auth.h /
 * reqid.h, not from running the code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "server/auth.c"
#include "server/reqid.c"

/* log.c needs jansson, which unit tests do not link. */
static int g_warned;
void srv_log_msg(const char *fmt, ...)
{
    (void)fmt;
    g_warned++;
}

static char g_dir[] = "/tmp/skipserve-test-auth.XXXXXX";

static const char *write_keys(const char *name, const char *text, int mode)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
    return path;
}

#define KEY1 "abcdefghijklmnop0123"
#define KEY2 "second-key_XYZ.0123~+/=="

static void test_allows(void **state)
{
    (void)state;
    char err[256] = "";
    const char *p = write_keys("good", "# comment line\n\n" KEY1 "\n  \t" KEY2 "  \r\n# end\n", 0600);
    g_warned = 0;
    srv_auth *a = srv_auth_load(p, "/healthz, /readyz/,/metrics", err, sizeof err);
    assert_non_null(a);
    assert_int_equal(srv_auth_nkeys(a), 2);
    assert_int_equal(g_warned, 0); /* mode 600: no warning */

    assert_true(srv_auth_allows(a, "/classify", "Bearer " KEY1));
    assert_true(srv_auth_allows(a, "/classify", "Bearer " KEY2));
    assert_true(srv_auth_allows(a, "/classify", "bearer " KEY1));    /* scheme is case-insensitive */
    assert_true(srv_auth_allows(a, "/classify", "BEARER   " KEY1 " ")); /* spaces around */
    assert_false(srv_auth_allows(a, "/classify", NULL));
    assert_false(srv_auth_allows(a, "/classify", ""));
    assert_false(srv_auth_allows(a, "/classify", "Bearer"));
    assert_false(srv_auth_allows(a, "/classify", "Bearer "));
    assert_false(srv_auth_allows(a, "/classify", "Basic " KEY1));
    assert_false(srv_auth_allows(a, "/classify", "Bearer" KEY1));       /* no space */
    assert_false(srv_auth_allows(a, "/classify", "Bearer ABCDEFGHIJKLMNOP0123")); /* key is case-sensitive */
    assert_false(srv_auth_allows(a, "/classify", "Bearer abcdefghijklmnop012"));  /* a prefix */
    assert_false(srv_auth_allows(a, "/classify", "Bearer " KEY1 "4"));  /* longer */
    assert_false(srv_auth_allows(a, "/classify", "Bearer " KEY1 KEY2)); /* two keys glued */
    char huge[600] = "Bearer ";
    memset(huge + 7, 'a', 500);
    assert_false(srv_auth_allows(a, "/classify", huge));

    /* open paths, with or without the trailing slash, need nothing */
    assert_true(srv_auth_allows(a, "/healthz", NULL));
    assert_true(srv_auth_allows(a, "/healthz/", NULL));
    assert_true(srv_auth_allows(a, "/readyz", NULL));
    assert_true(srv_auth_allows(a, "/metrics", "Bearer wrong"));
    assert_false(srv_auth_allows(a, "/healthzz", NULL));
    assert_false(srv_auth_allows(a, "/health", NULL));
    assert_false(srv_auth_allows(a, "/", NULL));
    srv_auth_free(a);

    /* no access control at all */
    assert_true(srv_auth_allows(NULL, "/classify", NULL));
}

static void test_load_errors(void **state)
{
    (void)state;
    char err[256];
    struct {
        const char *text, *want;
    } cases[] = {
        {"short-key\n", "line 1: a key is 16 to 256"},
        {"# only a comment\n\n", "holds no key"},
        {"", "holds no key"},
        {KEY1 "\nkey with spaces in it\n", "line 2: character 4 cannot"}, /* inner space */
        {KEY1 "\nabcdefghijklmnop\"0123\n", "line 2: character 17 cannot be in a Bearer token"},
        {"abcdefghijklmnop\xc3\xa9\n", "character 17"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        const char *p = write_keys("bad", cases[i].text, 0600);
        srv_auth *a = srv_auth_load(p, "/healthz", err, sizeof err);
        if (a || !strstr(err, cases[i].want))
            fail_msg("case %zu: want an error with \"%s\", got \"%s\"", i, cases[i].want, err);
    }
    /* a key over 256 characters, and a line over the reader's buffer */
    char longkey[300];
    memset(longkey, 'k', 257);
    strcpy(longkey + 257, "\n");
    assert_null(srv_auth_load(write_keys("long", longkey, 0600), "", err, sizeof err));
    assert_non_null(strstr(err, "this one 257"));
    char *huge = malloc(5000);
    memset(huge, 'k', 4998);
    strcpy(huge + 4998, "\n");
    assert_null(srv_auth_load(write_keys("huge", huge, 0600), "", err, sizeof err));
    assert_non_null(strstr(err, "line 1"));
    free(huge);
    /* exactly 16 and 256 are fine */
    char edge[300];
    memset(edge, 'x', 256);
    strcpy(edge + 256, "\n0123456789abcdef\n");
    srv_auth *a = srv_auth_load(write_keys("edge", edge, 0600), "", err, sizeof err);
    assert_non_null(a);
    assert_int_equal(srv_auth_nkeys(a), 2);
    assert_true(srv_auth_allows(a, "/x", "Bearer 0123456789abcdef"));
    assert_false(srv_auth_allows(a, "/healthz", NULL)); /* open list empty */
    srv_auth_free(a);
    /* missing file; error never holds the key text */
    assert_null(srv_auth_load("/nonexistent/keys", "", err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
    /* world-readable: loads, with a warning */
    g_warned = 0;
    a = srv_auth_load(write_keys("open", KEY1 "\n", 0644), "", err, sizeof err);
    assert_non_null(a);
    assert_int_equal(g_warned, 1);
    srv_auth_free(a);
}

static void test_reqid_take(void **state)
{
    (void)state;
    char out[SRV_REQID_MAX + 1];
    assert_int_equal(srv_reqid_take("abc-123", out), 1);
    assert_string_equal(out, "abc-123");
    assert_int_equal(srv_reqid_take("550e8400-e29b-41d4-a716-446655440000", out), 1);
    char id128[SRV_REQID_MAX + 2];
    memset(id128, 'z', 129);
    id128[128] = '\0';
    assert_int_equal(srv_reqid_take(id128, out), 1);
    assert_string_equal(out, id128);
    id128[128] = 'z';
    id128[129] = '\0'; /* 129: too long */
    const char *bad[] = {NULL, "", id128, "has space", "tab\there", "quote\"d", "back\\slash",
                         "new\nline", "caf\xc3\xa9", "\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(srv_reqid_take(bad[i], out), 0);
        assert_int_equal(strlen(out), 32); /* replaced by a made one */
        assert_true(strspn(out, "0123456789abcdef") == 32);
    }
}

static int cmp_ids(const void *a, const void *b) { return strcmp(a, b); }

static void test_reqid_unique(void **state)
{
    (void)state;
    enum { N = 100000 };
    char(*ids)[33] = malloc(sizeof(*ids) * N);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        char out[SRV_REQID_MAX + 1];
        srv_reqid_make(out);
        assert_int_equal(strlen(out), 32);
        assert_true(strspn(out, "0123456789abcdef") == 32);
        memcpy(ids[i], out, 33);
    }
    /* the random half is the same within a process, the other half varies */
    assert_memory_equal(ids[0], ids[N - 1], 16);
    assert_memory_not_equal(ids[0] + 16, ids[1] + 16, 16);
    qsort(ids, N, sizeof *ids, cmp_ids);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

int main(void)
{
    if (!mkdtemp(g_dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allows),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_reqid_take),
        cmocka_unit_test(test_reqid_unique),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
