/* broadcast.h — numpy-style broadcasting and N-d strided walks for kernels.
 *
 * Shapes are aligned on the right; a dim of 1 stretches to match the other
 * side. sk_bcast prepares a walk over an output shape that reads up to
 * SK_BCAST_MAX_IN inputs: dims of size 1 are dropped and adjacent dims that
 * every input steps through the same way are merged, so the common cases
 * collapse to one loop:
 *   same shapes            -> one run of numel elements, every inc 1
 *   scalar operand         -> one run, that operand's inc 0
 *   [N,C,H,W] + [1,C,1,1]  -> N*C runs of H*W, the bias's inc 0
 * A kernel supplies a run function that processes `n` contiguous output
 * elements whose inputs advance by inc 0 (broadcast) or 1 (contiguous). */
#ifndef SK_BROADCAST_H
#define SK_BROADCAST_H

#include "sk.h"

struct sk_pool;

#define SK_BCAST_MAX_IN 4

/* Broadcast shape of `nin` shapes (numpy rules). Symbolic dims (< 0) match a
 * 1 or another symbolic dim and yield to a concrete dim. Returns 0, or
 * SK_ESHAPE with a message naming the clashing dims. */
int sk_broadcast_shape(const sk_shape *const *in, int nin, sk_shape *out, char *err,
                       size_t errlen);

/* 1 when `from` broadcasts to exactly `to` (unidirectional, as PRelu's slope
 * and MatMul batch dims need), else 0. */
int sk_broadcast_to(const sk_shape *from, const sk_shape *to);

typedef struct sk_bcast {
    int nin;
    int rank;        /* after dropping 1s and merging; >= 1 */
    int64_t numel;   /* output elements */
    int64_t dim[SK_MAX_RANK];
    int64_t stride[SK_BCAST_MAX_IN][SK_MAX_RANK]; /* in elements; 0 = broadcast */
    int inc[SK_BCAST_MAX_IN]; /* stride along the innermost dim: 0 or 1 */
} sk_bcast;

/* Prepare a walk over `out` (concrete dims) reading inputs each of which
 * broadcasts to `out`. Returns 0, or SK_ESHAPE / SK_EINVAL. */
int sk_bcast_init(sk_bcast *b, const sk_shape *out, const sk_shape *const *in, int nin);

/* One contiguous run of output elements [out_off, out_off + n); input i
 * starts at element in_off[i] and advances by b->inc[i]. */
typedef void (*sk_bcast_fn)(void *arg, int64_t n, int64_t out_off, const int64_t *in_off);

/* Call fn on the runs that cover output elements [begin, end). */
void sk_bcast_walk(const sk_bcast *b, int64_t begin, int64_t end, sk_bcast_fn fn, void *arg);

/* sk_bcast_walk over every output element, split across `pool` (NULL:
 * serial) in chunks of at least `grain` elements. */
void sk_bcast_parallel(const sk_bcast *b, struct sk_pool *pool, int64_t grain, sk_bcast_fn fn,
                       void *arg);

/* Copy a strided view into a contiguous output: out element (i0..ir-1) =
 * in[sum i_d * stride[d]] where strides are in elements and may be 0
 * (broadcast) or negative (reversed). `in` points at the view's first
 * element. Works for element sizes 1, 2, 4, 8 (others: byte copies). Used by
 * Transpose, Slice and Expand. */
void sk_strided_copy(void *out, const void *in, size_t esize, int rank, const int64_t *dim,
                     const int64_t *stride);

#endif
