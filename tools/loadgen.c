/* loadgen.c — skipserve-load: a closed-loop HTTP load generator for the
 * server (PERF.md "For the server"). C clients, each one keep-alive
 * connection sending the same POST and waiting for its answer before the
 * next, so the figures are the server's, not a script's: images/s,
 * latency p50 / p90 / p99 / max, answers by status, transport errors.
 *
 *   skipserve-load --port P --path /classify --file IMG [--clients N]
 *                  [--seconds S] [--requests R] [--host 127.0.0.1]
 *                  [--content-type T] [--images K] [--json]
 *
 * Stops by itself: after S seconds (default 10) or R answers, whichever
 * comes first. --images K: answers count as K images each (a multipart
 * body of K files). Exit 0 when every answer was 200 and no connection
 * failed, 1 otherwise, 2 on bad usage. Plain sockets and pthreads only. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef struct client {
    pthread_t th;
    double *lat; /* seconds, one per 200 answer */
    size_t nlat, cap;
    long status[6]; /* answers by status class: 1xx..5xx (index 1..5) */
    long errors;    /* connect / send / receive failures, malformed answers */
} client;

static struct {
    struct sockaddr_in addr;
    const char *req; /* the whole request: headers + body */
    size_t reqlen;
    double deadline;
    long max_requests;
    atomic_long issued;
} G;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&G.addr, sizeof G.addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Read one answer: status line, headers, Content-Length bytes of body.
 * Returns the status, or -1 on a transport error or an answer this tool
 * cannot frame (no Content-Length). *close_after: the server said
 * "Connection: close". buf holds bytes already read past the last answer. */
typedef struct rbuf {
    char b[65536 + 1]; /* + a NUL after the bytes held, for the header scan */
    size_t len;
} rbuf;

static int read_answer(int fd, rbuf *rb, int *close_after)
{
    char *end;
    const size_t cap = sizeof rb->b - 1;
    while (!(end = memmem(rb->b, rb->len, "\r\n\r\n", 4))) {
        if (rb->len == cap)
            return -1; /* headers over 64 KiB */
        ssize_t k = recv(fd, rb->b + rb->len, cap - rb->len, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        rb->len += (size_t)k;
    }
    char saved = *end; /* scan the headers only: NUL at their end */
    *end = '\0';
    size_t hlen = (size_t)(end - rb->b) + 4;
    int status = 0;
    if (sscanf(rb->b, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    long long clen = -1;
    *close_after = 0;
    for (char *line = strstr(rb->b, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, "Content-Length:", 15) == 0)
            clen = atoll(h + 15);
        else if (strncasecmp(h, "Connection:", 11) == 0) {
            const char *le = strstr(h, "\r\n"), *c = strstr(h, "close");
            *close_after = c && (!le || c < le); /* the last line ends at the NUL */
        }
    }
    *end = saved;
    if (clen < 0)
        return -1;
    /* skip the body: what is buffered, then the rest from the socket */
    size_t have = rb->len - hlen;
    if ((long long)have >= clen) {
        size_t used = hlen + (size_t)clen;
        memmove(rb->b, rb->b + used, rb->len - used);
        rb->len -= used;
        return status;
    }
    long long left = clen - (long long)have;
    rb->len = 0;
    while (left > 0) {
        ssize_t k = recv(fd, rb->b, left < (long long)cap ? (size_t)left : cap, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        left -= k;
    }
    return status;
}

static void *client_main(void *arg)
{
    client *c = arg;
    rbuf *rb = malloc(sizeof *rb);
    if (!rb)
        return NULL;
    int fd = -1;
    while (now_s() < G.deadline) {
        if (G.max_requests > 0 && atomic_fetch_add(&G.issued, 1) >= G.max_requests)
            break;
        if (fd < 0) {
            rb->len = 0;
            if ((fd = connect_server()) < 0) {
                c->errors++;
                usleep(10000);
                continue;
            }
        }
        double t0 = now_s();
        int close_after = 0;
        int st = send_all(fd, G.req, G.reqlen) == 0 ? read_answer(fd, rb, &close_after) : -1;
        double dt = now_s() - t0;
        if (st < 100 || st > 599) {
            c->errors++;
            close(fd);
            fd = -1;
            continue;
        }
        c->status[st / 100]++;
        if (st == 200) {
            if (c->nlat == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 4096;
                double *l = realloc(c->lat, cap * sizeof *l);
                if (!l)
                    break;
                c->lat = l;
                c->cap = cap;
            }
            c->lat[c->nlat++] = dt;
        }
        if (close_after) {
            close(fd);
            fd = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    free(rb);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void usage(void)
{
    fprintf(stderr, "usage: skipserve-load --port P --path /classify --file IMG [--clients N] "
                    "[--seconds S] [--requests R] [--host 127.0.0.1] [--content-type T] "
                    "[--images K] [--json]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *path = NULL, *file = NULL, *ctype = NULL;
    int port = 0, clients = 16, images = 1, json = 0;
    double seconds = 10;
    long requests = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--host"))
            host = v;
        else if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--path"))
            path = v;
        else if (!strcmp(a, "--file"))
            file = v;
        else if (!strcmp(a, "--content-type"))
            ctype = v;
        else if (!strcmp(a, "--clients"))
            clients = atoi(v);
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--requests"))
            requests = atol(v);
        else if (!strcmp(a, "--images"))
            images = atoi(v);
        else
            usage();
    }
    if (!path || !file || port <= 0 || port > 65535 || clients < 1 || clients > 1024 ||
        !(seconds > 0) || seconds > 3600 || requests < 0 || images < 1)
        usage();
    memset(&G.addr, 0, sizeof G.addr);
    G.addr.sin_family = AF_INET;
    G.addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &G.addr.sin_addr) != 1) {
        fprintf(stderr, "skipserve-load: --host wants an IPv4 address, got '%s'\n", host);
        return 2;
    }

    /* the request, built once */
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "skipserve-load: %s: %s\n", file, strerror(errno));
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long blen = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (blen < 0 || blen > (64L << 20)) {
        fprintf(stderr, "skipserve-load: %s: unreadable or over 64 MiB\n", file);
        fclose(f);
        return 2;
    }
    if (!ctype) {
        const char *dot = strrchr(file, '.');
        ctype = dot && !strcasecmp(dot, ".png")    ? "image/png"
                : dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg")) ? "image/jpeg"
                : dot && !strcasecmp(dot, ".json") ? "application/json"
                                                   : "application/octet-stream";
    }
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: %s\r\n"
                      "Content-Length: %ld\r\n\r\n",
                      path, host, port, ctype, blen);
    if (hl <= 0 || hl >= (int)sizeof head)
        usage();
    char *req = malloc((size_t)hl + (size_t)blen);
    if (!req || fread(req + hl, 1, (size_t)blen, f) != (size_t)blen) {
        fprintf(stderr, "skipserve-load: cannot read %s\n", file);
        fclose(f);
        return 2;
    }
    fclose(f);
    memcpy(req, head, (size_t)hl);
    G.req = req;
    G.reqlen = (size_t)hl + (size_t)blen;
    G.max_requests = requests;

    client *cl = calloc((size_t)clients, sizeof *cl);
    if (!cl)
        return 1;
    double t0 = now_s();
    G.deadline = t0 + seconds;
    for (int i = 0; i < clients; i++)
        if (pthread_create(&cl[i].th, NULL, client_main, &cl[i]) != 0) {
            fprintf(stderr, "skipserve-load: cannot start client thread %d\n", i);
            return 1;
        }
    for (int i = 0; i < clients; i++)
        pthread_join(cl[i].th, NULL);
    double wall = now_s() - t0;

    size_t n = 0;
    long st[6] = {0}, errors = 0;
    for (int i = 0; i < clients; i++) {
        n += cl[i].nlat;
        errors += cl[i].errors;
        for (int k = 0; k < 6; k++)
            st[k] += cl[i].status[k];
    }
    double *all = malloc((n ? n : 1) * sizeof *all);
    if (!all)
        return 1;
    size_t o = 0;
    for (int i = 0; i < clients; i++) {
        memcpy(all + o, cl[i].lat, cl[i].nlat * sizeof *all);
        o += cl[i].nlat;
        free(cl[i].lat);
    }
    qsort(all, n, sizeof *all, cmp_double);
    double ips = (double)n * images / wall;
    if (json)
        printf("{\"clients\": %d, \"seconds\": %.3f, \"ok\": %zu, \"images_per_s\": %.1f, "
               "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, "
               "\"status_4xx\": %ld, \"status_5xx\": %ld, \"errors\": %ld}\n",
               clients, wall, n, ips, pct(all, n, .5) * 1e3, pct(all, n, .9) * 1e3,
               pct(all, n, .99) * 1e3, n ? all[n - 1] * 1e3 : 0, st[4], st[5], errors);
    else
        printf("%d clients, %.2f s: %zu answers 200 (%.1f images/s); latency ms p50 %.2f p90 "
               "%.2f p99 %.2f max %.2f; 4xx %ld, 5xx %ld, transport errors %ld\n",
               clients, wall, n, ips, pct(all, n, .5) * 1e3, pct(all, n, .9) * 1e3,
               pct(all, n, .99) * 1e3, n ? all[n - 1] * 1e3 : 0, st[4], st[5], errors);
    free(all);
    free(cl);
    free(req);
    long bad = st[1] + st[3] + st[4] + st[5] + errors;
    return bad == 0 && n > 0 ? 0 : 1;
}
