/* fast_copy.c — fast Concat (any axis, any dtype) and Transpose (any
 * perm; any element size when the innermost dim stays innermost, 4-byte
 * elements otherwise).
 *
 * Why fast: Concat's reference is one serial memcpy per block; here the
 * output bytes are cut into equal chunks copied by all threads, so a U-Net
 * skip Concat of two 8 MB halves uses every core's bandwidth. Transpose's
 * reference walks every element with an N-d index; here dims that move
 * together are merged first, then either whole contiguous rows are copied
 * (ViT's [B,S,H,D] -> [B,H,S,D] head split: rows of D floats) or the two
 * dims that swap the innermost position are moved as 8x8 register tiles
 * (sk_f32_transpose__avx2; ViT's K^T), threaded over the remaining dims and
 * row blocks. */
#include <string.h>

#include "kernels/fast_ops.h"
#include "kernels/ref/ref_util.h"
#include "threadpool.h"

#define COPY_CHUNK ((size_t)64 * 1024) /* bytes per Concat task */

/* ---- Concat ------------------------------------------------------------------ */

static int concat_axis(const sk_node *n, const sk_tensor *const *in, int nin,
                       const sk_tensor *out)
{
    if (nin < 1 || !out)
        return -1;
    const sk_shape *os = &out[0].shape;
    const sk_attr *ax = sk_attr_find(n, "axis");
    int axis = ax ? sk_ref_axis(ax->i, os->rank) : -1;
    if (axis < 0 || sk_dtype_size(out[0].dtype) == 0 || sk_shape_numel(os) < 0)
        return -1;
    int64_t sum = 0;
    for (int i = 0; i < nin; i++) {
        if (!in[i] || in[i]->dtype != out[0].dtype || in[i]->shape.rank != os->rank)
            return -1;
        for (int d = 0; d < os->rank; d++)
            if (d != axis && in[i]->shape.dim[d] != os->dim[d])
                return -1;
        sum += in[i]->shape.dim[axis];
    }
    return sum == os->dim[axis] ? axis : -1;
}

int sk_fast_plan_concat(const sk_kconfig *kc, const sk_node *n,
                        const sk_tensor *const *in, int nin, const sk_tensor *out,
                        int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)nthreads;
    *scratch = 0;
    return nout >= 1 && concat_axis(n, in, nin, out) >= 0;
}

typedef struct concat_job {
    const sk_tensor *const *in;
    int nin;
    size_t inner_bytes; /* bytes of one unit along the axis */
    size_t row_bytes;   /* bytes of one outer row of the output */
    int axis;
    char *o;
    size_t total;
} concat_job;

/* Output bytes [b*CHUNK, e*CHUNK): find the (outer row, input) block the
 * start falls in, then copy block pieces until the range ends. */
static void concat_range(void *arg, size_t b, size_t e)
{
    const concat_job *j = arg;
    size_t pos = b * COPY_CHUNK, end = e * COPY_CHUNK < j->total ? e * COPY_CHUNK : j->total;
    size_t row = pos / j->row_bytes, in_row = pos % j->row_bytes;
    int i = 0;
    size_t blk = (size_t)j->in[0]->shape.dim[j->axis] * j->inner_bytes;
    while (in_row >= blk) {
        in_row -= blk;
        blk = (size_t)j->in[++i]->shape.dim[j->axis] * j->inner_bytes;
    }
    while (pos < end) {
        size_t take = blk - in_row < end - pos ? blk - in_row : end - pos;
        if (take)
            memcpy(j->o + pos, (const char *)j->in[i]->data + row * blk + in_row, take);
        pos += take;
        in_row += take;
        if (in_row == blk && pos < end) {
            in_row = 0;
            if (++i == j->nin) {
                i = 0;
                row++;
            }
            blk = (size_t)j->in[i]->shape.dim[j->axis] * j->inner_bytes;
        }
    }
}

int sk_fast_run_concat(const sk_node *n, const sk_tensor *const *in, int nin, sk_tensor *out,
                       int nout, sk_kctx *ctx)
{
    int axis = nout >= 1 ? concat_axis(n, in, nin, out) : -1;
    if (axis < 0 || !sk_fast_uk_of(ctx))
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    const sk_shape *os = &out[0].shape;
    size_t inner = sk_dtype_size(out[0].dtype);
    for (int d = axis + 1; d < os->rank; d++)
        inner *= (size_t)os->dim[d];
    concat_job j = {in, nin, inner, inner * (size_t)os->dim[axis], axis, out[0].data,
                    sk_tensor_bytes(&out[0])};
    if (j.total == 0)
        return 0;
    sk_parallel_for(ctx->pool, (j.total + COPY_CHUNK - 1) / COPY_CHUNK, 1, concat_range, &j);
    return 0;
}

/* ---- Transpose ---------------------------------------------------------------- */

/* The copy with size-1 dims dropped and dims that stay adjacent merged:
 * output dim k has extent dim[k] and reads the input with stride is[k]
 * (elements); the output is contiguous. */
typedef struct tp_geom {
    int rank;
    int64_t dim[SK_MAX_RANK], is[SK_MAX_RANK], os[SK_MAX_RANK];
    size_t es;
    int64_t total;
} tp_geom;

static int tp_geometry(const sk_node *n, const sk_tensor *const *in, int nin, tp_geom *g)
{
    if (nin < 1 || !in[0] || (g->es = sk_dtype_size(in[0]->dtype)) == 0)
        return 0;
    const sk_shape *s = &in[0]->shape;
    if ((g->total = sk_shape_numel(s)) < 0)
        return 0;
    int perm[SK_MAX_RANK], seen[SK_MAX_RANK] = {0};
    const int64_t *p;
    int k = sk_attr_ints(n, "perm", &p);
    if (k >= 0 && k != s->rank)
        return 0;
    for (int d = 0; d < s->rank; d++) {
        perm[d] = k < 0 ? s->rank - 1 - d : (int)p[d];
        if (k >= 0 && (p[d] < 0 || p[d] >= s->rank || seen[p[d]]++))
            return 0;
    }
    int64_t stride[SK_MAX_RANK], st = 1;
    for (int d = s->rank - 1; d >= 0; d--) {
        stride[d] = st;
        st *= s->dim[d];
    }
    g->rank = 0;
    for (int d = 0; d < s->rank; d++) {
        int64_t ext = s->dim[perm[d]], str = stride[perm[d]];
        if (ext == 1)
            continue;
        if (g->rank > 0 && g->is[g->rank - 1] == str * ext) {
            g->dim[g->rank - 1] *= ext; /* next to its predecessor in the input too */
            g->is[g->rank - 1] = str;
        } else {
            g->dim[g->rank] = ext;
            g->is[g->rank++] = str;
        }
    }
    st = 1;
    for (int d = g->rank - 1; d >= 0; d--) {
        g->os[d] = st;
        st *= g->dim[d];
    }
    /* a tiled transpose moves 4-byte lanes */
    return g->rank == 0 || g->is[g->rank - 1] == 1 || g->es == 4;
}

int sk_fast_plan_transpose(const sk_kconfig *kc, const sk_node *n,
                           const sk_tensor *const *in, int nin, const sk_tensor *out,
                           int nout, int nthreads, size_t *scratch)
{
    (void)kc;
    (void)nthreads;
    tp_geom g;
    *scratch = 0;
    return nout >= 1 && tp_geometry(n, in, nin, &g) && out[0].dtype == in[0]->dtype;
}

typedef struct tp_job {
    const sk_fast_uk *uk;
    const tp_geom *g;
    const char *x;
    char *y;
    int q;          /* tiled case: the output dim that is the input's innermost */
    int64_t nblk;   /* row blocks of the last output dim per outer index */
} tp_job;

#define TP_BLOCK 64

/* Offsets of the outer index `t` over the dims other than skip1, skip2. */
static void tp_offsets(const tp_geom *g, int64_t t, int skip1, int skip2, int64_t *src,
                       int64_t *dst)
{
    *src = *dst = 0;
    for (int d = g->rank - 1; d >= 0; d--) {
        if (d == skip1 || d == skip2)
            continue;
        int64_t idx = t % g->dim[d];
        t /= g->dim[d];
        *src += idx * g->is[d];
        *dst += idx * g->os[d];
    }
}

/* Innermost dim kept: task = a range of output rows of dim[rank-1]; the
 * source offset steps like an odometer (no divisions per row). */
static void tp_rows(void *arg, size_t b, size_t e)
{
    const tp_job *j = arg;
    const tp_geom *g = j->g;
    const int last = g->rank - 1;
    const size_t L = (size_t)g->dim[last] * g->es;
    int64_t idx[SK_MAX_RANK], src = 0, t = (int64_t)b;
    for (int d = last - 1; d >= 0; d--) {
        idx[d] = t % g->dim[d];
        t /= g->dim[d];
        src += idx[d] * g->is[d];
    }
    char *y = j->y + b * L;
    for (size_t r = b; r < e; r++, y += L) {
        memcpy(y, j->x + (size_t)src * g->es, L);
        for (int d = last - 1; d >= 0; d--) {
            src += g->is[d];
            if (++idx[d] < g->dim[d])
                break;
            src -= g->is[d] * g->dim[d];
            idx[d] = 0;
        }
    }
}

/* Innermost dim moved: task = (outer index, block of TP_BLOCK values of the
 * last output dim), a rows x cols tile transpose with rows along the last
 * output dim (input stride is[last]) and cols along dim q (input stride 1). */
static void tp_tiles(void *arg, size_t b, size_t e)
{
    const tp_job *j = arg;
    const tp_geom *g = j->g;
    const int last = g->rank - 1;
    for (size_t t = b; t < e; t++) {
        int64_t outer = (int64_t)t / j->nblk, blk = (int64_t)t % j->nblk;
        int64_t src, dst;
        tp_offsets(g, outer, j->q, last, &src, &dst);
        int64_t r0 = blk * TP_BLOCK;
        int64_t rows = g->dim[last] - r0 < TP_BLOCK ? g->dim[last] - r0 : TP_BLOCK;
        const float *s = (const float *)j->x + src + r0 * g->is[last];
        float *d = (float *)j->y + dst + r0;
        j->uk->transpose((size_t)rows, (size_t)g->dim[j->q], s, (size_t)g->is[last], d,
                         (size_t)g->os[j->q]);
    }
}

int sk_fast_run_transpose(const sk_node *n, const sk_tensor *const *in, int nin,
                          sk_tensor *out, int nout, sk_kctx *ctx)
{
    tp_geom g;
    const sk_fast_uk *uk = sk_fast_uk_of(ctx);
    if (!uk || nout < 1 || !tp_geometry(n, in, nin, &g) || out[0].dtype != in[0]->dtype)
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    if (g.total == 0)
        return 0;
    tp_job j = {uk, &g, in[0]->data, out[0].data, -1, 1};
    if (g.rank == 0 || (g.rank == 1 && g.is[0] == 1)) {
        memcpy(j.y, j.x, (size_t)g.total * g.es);
        return 0;
    }
    int last = g.rank - 1;
    if (g.is[last] == 1) {
        size_t L = (size_t)g.dim[last] * g.es;
        size_t rows = (size_t)(g.total / g.dim[last]);
        sk_parallel_for(ctx->pool, rows, L < COPY_CHUNK ? COPY_CHUNK / L : 1, tp_rows, &j);
        return 0;
    }
    for (int d = 0; d < last; d++)
        if (g.is[d] == 1)
            j.q = d;
    if (j.q < 0) /* cannot happen: some dim is the input's innermost */
        return sk_fast_ref(n, in, nin, out, nout, ctx);
    j.nblk = (g.dim[last] + TP_BLOCK - 1) / TP_BLOCK;
    size_t tasks = (size_t)(g.total / (g.dim[last] * g.dim[j.q]) * j.nblk);
    size_t tile = (size_t)(TP_BLOCK * g.dim[j.q]) * g.es;
    sk_parallel_for(ctx->pool, tasks, tile < COPY_CHUNK ? COPY_CHUNK / tile : 1, tp_tiles, &j);
    return 0;
}
