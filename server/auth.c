/* auth.c — see auth.h. Why constant time: comparing a guess with memcmp
 * stops at the first differing byte, and the time it takes tells a
 * patient attacker how many leading bytes were right. Here every guess is
 * compared with every key over SRV_AUTH_KEY_MAX zero-padded bytes, OR-ing
 * the differences, so the time depends only on the number of keys. */
#include "server/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "server/log.h"

typedef struct {
    unsigned char bytes[SRV_AUTH_KEY_MAX]; /* zero-padded */
    size_t len;
} auth_key;

struct srv_auth {
    auth_key *keys;
    int nkeys;
    char **open; /* paths answered without a key */
    int nopen;
};

/* RFC 6750's b64token: ALPHA DIGIT - . _ ~ + / then any '='. */
static int b64token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static int add_open_paths(srv_auth *a, const char *list)
{
    char *copy = strdup(list ? list : ""), *save = NULL;
    if (!copy)
        return -1;
    for (char *p = strtok_r(copy, ", ", &save); p; p = strtok_r(NULL, ", ", &save)) {
        char **o = realloc(a->open, (size_t)(a->nopen + 1) * sizeof *o);
        if (!o) {
            free(copy);
            return -1;
        }
        a->open = o;
        size_t n = strlen(p);
        if (n > 1 && p[n - 1] == '/')
            p[n - 1] = '\0'; /* "/healthz/" is "/healthz", as the router has it */
        if (!(a->open[a->nopen] = strdup(p))) {
            free(copy);
            return -1;
        }
        a->nopen++;
    }
    free(copy);
    return 0;
}

srv_auth *srv_auth_load(const char *path, const char *open_paths, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "--api-keys %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & S_IROTH))
        srv_log_msg("warning: --api-keys %s is readable by every user (chmod 600 it)", path);
    srv_auth *a = calloc(1, sizeof *a);
    char line[1024];
    int lineno = 0, bad = 0;
    while (a && !bad && fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            snprintf(err, errlen, "--api-keys %s line %d: longer than %d characters", path, lineno,
                     SRV_AUTH_KEY_MAX);
            bad = 1;
            break;
        }
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        n = strlen(s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
            s[--n] = '\0';
        if (n == 0 || s[0] == '#')
            continue;
        if (n < SRV_AUTH_KEY_MIN || n > SRV_AUTH_KEY_MAX) {
            snprintf(err, errlen, "--api-keys %s line %d: a key is %d to %d characters, this one %zu",
                     path, lineno, SRV_AUTH_KEY_MIN, SRV_AUTH_KEY_MAX, n);
            bad = 1;
            break;
        }
        for (size_t i = 0; i < n && !bad; i++)
            if (!b64token_char((unsigned char)s[i])) {
                snprintf(err, errlen,
                         "--api-keys %s line %d: character %zu cannot be in a Bearer token "
                         "(letters, digits, - . _ ~ + / =)",
                         path, lineno, i + 1);
                bad = 1;
            }
        if (bad)
            break;
        auth_key *k = realloc(a->keys, (size_t)(a->nkeys + 1) * sizeof *k);
        if (!k) {
            bad = 1;
            snprintf(err, errlen, "out of memory reading --api-keys");
            break;
        }
        a->keys = k;
        memset(&k[a->nkeys], 0, sizeof *k);
        memcpy(k[a->nkeys].bytes, s, n);
        k[a->nkeys].len = n;
        a->nkeys++;
    }
    memset(line, 0, sizeof line);
    fclose(f);
    if (!a) {
        snprintf(err, errlen, "out of memory reading --api-keys");
        return NULL;
    }
    if (!bad && a->nkeys == 0) {
        snprintf(err, errlen, "--api-keys %s holds no key", path);
        bad = 1;
    }
    if (!bad && add_open_paths(a, open_paths)) {
        snprintf(err, errlen, "out of memory reading --auth-open");
        bad = 1;
    }
    if (bad) {
        srv_auth_free(a);
        return NULL;
    }
    return a;
}

void srv_auth_free(srv_auth *a)
{
    if (!a)
        return;
    if (a->keys)
        memset(a->keys, 0, (size_t)a->nkeys * sizeof *a->keys);
    free(a->keys);
    for (int i = 0; i < a->nopen; i++)
        free(a->open[i]);
    free(a->open);
    free(a);
}

int srv_auth_nkeys(const srv_auth *a) { return a ? a->nkeys : 0; }

static int path_open(const srv_auth *a, const char *path)
{
    size_t n = strlen(path);
    if (n > 1 && path[n - 1] == '/')
        n--;
    for (int i = 0; i < a->nopen; i++)
        if (strlen(a->open[i]) == n && strncmp(a->open[i], path, n) == 0)
            return 1;
    return 0;
}

int srv_auth_allows(const srv_auth *a, const char *path, const char *authorization)
{
    if (!a || (path && path_open(a, path)))
        return 1;
    if (!authorization)
        return 0;
    /* "Bearer" is case-insensitive (RFC 7235 2.1), then one or more spaces */
    if (strncasecmp(authorization, "Bearer", 6) != 0 || authorization[6] != ' ')
        return 0;
    const char *tok = authorization + 6;
    while (*tok == ' ')
        tok++;
    size_t n = strlen(tok);
    while (n && tok[n - 1] == ' ')
        n--;
    /* the token's own length is the caller's to know: leaving early on it
     * tells nothing about the keys */
    if (n == 0 || n > SRV_AUTH_KEY_MAX)
        return 0;
    unsigned char guess[SRV_AUTH_KEY_MAX] = {0};
    memcpy(guess, tok, n);
    unsigned found = 0;
    for (int k = 0; k < a->nkeys; k++) {
        unsigned diff = (unsigned)(a->keys[k].len ^ n);
        for (size_t i = 0; i < SRV_AUTH_KEY_MAX; i++)
            diff |= (unsigned)(a->keys[k].bytes[i] ^ guess[i]);
        found |= (diff == 0);
    }
    memset(guess, 0, sizeof guess);
    return found != 0;
}
