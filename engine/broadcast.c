/* broadcast.c — broadcast shapes, broadcast walks and strided copies. */
#include "broadcast.h"

#include <string.h>

#include "threadpool.h"

int sk_broadcast_shape(const sk_shape *const *in, int nin, sk_shape *out, char *err,
                       size_t errlen)
{
    int rank = 0;
    if (nin < 1)
        return sk_errf(err, errlen, SK_EINVAL, "broadcast of no shapes");
    for (int i = 0; i < nin; i++) {
        if (in[i]->rank < 0 || in[i]->rank > SK_MAX_RANK)
            return sk_errf(err, errlen, SK_ESHAPE, "broadcast input %d has rank %d", i,
                           in[i]->rank);
        if (in[i]->rank > rank)
            rank = in[i]->rank;
    }
    sk_shape s;
    s.rank = rank;
    for (int d = 0; d < rank; d++) {
        int64_t r = 1;
        int from = -1; /* input that set r, for the message */
        for (int i = 0; i < nin; i++) {
            int k = d - (rank - in[i]->rank);
            if (k < 0)
                continue;
            int64_t x = in[i]->dim[k];
            if (x == 1)
                continue;
            if (x < 0) { /* symbolic: only a concrete dim can refine it */
                if (r == 1) {
                    r = x;
                    from = i;
                }
                continue;
            }
            if (r == 1 || r < 0) {
                r = x;
                from = i;
            } else if (r != x) {
                char a[96], b[96];
                return sk_errf(err, errlen, SK_ESHAPE,
                               "shapes %s and %s do not broadcast (dim %d: %lld vs %lld)",
                               sk_shape_str(in[from], a, sizeof a),
                               sk_shape_str(in[i], b, sizeof b), d, (long long)r,
                               (long long)x);
            }
        }
        s.dim[d] = r;
    }
    *out = s;
    return 0;
}

int sk_broadcast_to(const sk_shape *from, const sk_shape *to)
{
    if (from->rank < 0 || from->rank > to->rank)
        return 0;
    for (int k = 0; k < from->rank; k++) {
        int64_t x = from->dim[k], y = to->dim[k + to->rank - from->rank];
        if (x != 1 && x != y)
            return 0;
    }
    return 1;
}

int sk_bcast_init(sk_bcast *b, const sk_shape *out, const sk_shape *const *in, int nin)
{
    int64_t st[SK_BCAST_MAX_IN][SK_MAX_RANK];
    memset(b, 0, sizeof *b);
    if (nin < 0 || nin > SK_BCAST_MAX_IN || out->rank < 0 || out->rank > SK_MAX_RANK)
        return SK_EINVAL;
    b->nin = nin;
    b->numel = sk_shape_numel(out);
    if (b->numel < 0)
        return SK_ESHAPE;
    for (int i = 0; i < nin; i++) {
        if (!sk_broadcast_to(in[i], out))
            return SK_ESHAPE;
        int64_t s = 1;
        for (int d = out->rank - 1; d >= 0; d--) {
            int k = d - (out->rank - in[i]->rank);
            int64_t x = k >= 0 ? in[i]->dim[k] : 1;
            st[i][d] = (x == 1) ? 0 : s;
            s *= x;
        }
    }
    b->rank = 1;
    b->dim[0] = 1;
    if (b->numel == 0) {
        b->dim[0] = 0;
        return 0;
    }
    /* Drop 1-dims, then merge dim d into the previous one when every input
     * steps over both as over one dim of their product. */
    int r = 0;
    for (int d = 0; d < out->rank; d++) {
        int64_t x = out->dim[d];
        if (x == 1)
            continue;
        int merge = r > 0;
        for (int i = 0; i < nin && merge; i++)
            merge = b->stride[i][r - 1] == st[i][d] * x;
        if (merge) {
            b->dim[r - 1] *= x;
            for (int i = 0; i < nin; i++)
                b->stride[i][r - 1] = st[i][d];
        } else {
            b->dim[r] = x;
            for (int i = 0; i < nin; i++)
                b->stride[i][r] = st[i][d];
            r++;
        }
    }
    if (r > 0)
        b->rank = r;
    else
        for (int i = 0; i < nin; i++)
            b->stride[i][0] = 0;
    for (int i = 0; i < nin; i++)
        b->inc[i] = (int)b->stride[i][b->rank - 1];
    return 0;
}

void sk_bcast_walk(const sk_bcast *b, int64_t begin, int64_t end, sk_bcast_fn fn, void *arg)
{
    if (end > b->numel)
        end = b->numel;
    if (begin >= end)
        return;
    const int r = b->rank;
    const int64_t inner = b->dim[r - 1];
    int64_t idx[SK_MAX_RANK] = {0};
    int64_t base[SK_BCAST_MAX_IN] = {0}, off[SK_BCAST_MAX_IN];
    int64_t rem = begin / inner, col = begin % inner;
    for (int d = r - 2; d >= 0; d--) {
        idx[d] = rem % b->dim[d];
        rem /= b->dim[d];
        for (int i = 0; i < b->nin; i++)
            base[i] += idx[d] * b->stride[i][d];
    }
    int64_t pos = begin;
    for (;;) {
        int64_t n = inner - col;
        if (n > end - pos)
            n = end - pos;
        for (int i = 0; i < b->nin; i++)
            off[i] = base[i] + col * b->inc[i];
        fn(arg, n, pos, off);
        pos += n;
        col = 0;
        if (pos >= end)
            break;
        for (int d = r - 2; d >= 0; d--) {
            idx[d]++;
            for (int i = 0; i < b->nin; i++)
                base[i] += b->stride[i][d];
            if (idx[d] < b->dim[d])
                break;
            idx[d] = 0;
            for (int i = 0; i < b->nin; i++)
                base[i] -= b->stride[i][d] * b->dim[d];
        }
    }
}

typedef struct {
    const sk_bcast *b;
    sk_bcast_fn fn;
    void *arg;
} walk_job;

static void walk_range(void *p, size_t begin, size_t end)
{
    walk_job *j = p;
    sk_bcast_walk(j->b, (int64_t)begin, (int64_t)end, j->fn, j->arg);
}

void sk_bcast_parallel(const sk_bcast *b, struct sk_pool *pool, int64_t grain, sk_bcast_fn fn,
                       void *arg)
{
    if (b->numel <= 0)
        return;
    if (!pool || b->numel <= grain) {
        sk_bcast_walk(b, 0, b->numel, fn, arg);
        return;
    }
    walk_job j = {b, fn, arg};
    sk_parallel_for(pool, (size_t)b->numel, grain > 0 ? (size_t)grain : 1, walk_range, &j);
}

/* Inner loop of a strided copy for one element size; T is a type of that
 * size (memcpy keeps it free of alignment and aliasing assumptions). */
#define SK_STRIDED_ROW(T)                                                     \
    for (int64_t k = 0; k < n; k++) {                                          \
        T v;                                                                   \
        memcpy(&v, s + (k * is) * (int64_t)sizeof(T), sizeof(T));              \
        memcpy(o + k * (int64_t)sizeof(T), &v, sizeof(T));                     \
    }

static void strided_row(char *o, const char *s, size_t esize, int64_t n, int64_t is)
{
    if (is == 1) {
        memcpy(o, s, (size_t)n * esize);
        return;
    }
    switch (esize) {
    case 1: SK_STRIDED_ROW(uint8_t) break;
    case 2: SK_STRIDED_ROW(uint16_t) break;
    case 4: SK_STRIDED_ROW(uint32_t) break;
    case 8: SK_STRIDED_ROW(uint64_t) break;
    default:
        for (int64_t k = 0; k < n; k++)
            memcpy(o + k * (int64_t)esize, s + k * is * (int64_t)esize, esize);
    }
}

void sk_strided_copy(void *out, const void *in, size_t esize, int rank, const int64_t *dim,
                     const int64_t *stride)
{
    int64_t md[SK_MAX_RANK], ms[SK_MAX_RANK];
    int r = 0;
    for (int d = 0; d < rank; d++) {
        if (dim[d] == 0)
            return;
        if (dim[d] == 1)
            continue;
        if (r > 0 && ms[r - 1] == stride[d] * dim[d]) {
            md[r - 1] *= dim[d];
            ms[r - 1] = stride[d];
        } else {
            md[r] = dim[d];
            ms[r] = stride[d];
            r++;
        }
    }
    if (r == 0) {
        memcpy(out, in, esize);
        return;
    }
    const int64_t inner = md[r - 1], is = ms[r - 1];
    int64_t idx[SK_MAX_RANK] = {0};
    const char *s = in;
    char *o = out;
    for (;;) {
        strided_row(o, s, esize, inner, is);
        o += inner * (int64_t)esize;
        int d = r - 2;
        for (; d >= 0; d--) {
            idx[d]++;
            s += ms[d] * (int64_t)esize;
            if (idx[d] < md[d])
                break;
            s -= ms[d] * md[d] * (int64_t)esize;
            idx[d] = 0;
        }
        if (d < 0)
            break;
    }
}
