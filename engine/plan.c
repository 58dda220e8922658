/* plan.c — bind input shapes, infer, fold constants, drop dead steps, lay
 * out the arena by liveness, run. See plan.h. */
#include "plan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"
#include "kernels/config.h"
#include "kernels/switches.h"
#include "threadpool.h"

enum { V_NONE = 0, V_CONST, V_FOLDED, V_RUNTIME };

typedef struct step {
    int node;
    sk_kernel_fn fn;
    int nin, nout;
    const sk_tensor **in; /* points into plan->vals (NULL = omitted) */
    sk_tensor *out;       /* copies of plan->vals entries (or scratch) */
} step;

struct sk_plan {
    const sk_graph *g;
    sk_pool *pool;
    /* the kernels of the level the steps were chosen at (NULL: scalar),
     * handed to every step in its sk_kctx */
    const sk_kconfig *kcfg;
    sk_tensor *vals; /* per graph value: dtype, shape, data */
    uint8_t *kind;
    step *steps;
    int nsteps;
    sk_tensor *scratch; /* per step, per omitted output: anonymous tensors */
    int nscratch;
    void *arena;
    size_t arena_bytes;
    void *scratch_mem; /* one step's scratch, reused by every step */
    size_t scratch_bytes;
    /* sk_plan_create_shared: the plan whose arena / scratch this one runs
     * in when they are large enough (then not freed here) */
    const struct sk_plan *share;
    int arena_borrowed, scratch_borrowed;
    sk_tensor *inputs; /* as bound */
    sk_tensor *outputs;
    uint64_t *prof_ns; /* per step, when profiling */
    int prof_runs;
    /* the profile's clock (session 18, i1t): SKIPSERVE_PROFILE_CLOCK=thread
     * at sk_plan_profile takes the calling thread's CPU time — on a loaded
     * VM a 1-thread run's steps are descheduled for much of their wall
     * time; with more threads it counts only the caller's share, so
     * 1-thread runs only */
    clockid_t prof_clock;
    sk_observe_fn observe; /* sk_plan_observe: called after each step */
    void *observe_user;
};

#define ALIGN64(x) (((x) + 63) & ~(size_t)63)

static void plan_free_steps(sk_plan *p)
{
    for (int s = 0; s < p->nsteps; s++) {
        free(p->steps[s].in);
        free(p->steps[s].out);
    }
    free(p->steps);
    p->steps = NULL;
    p->nsteps = 0;
}

void sk_plan_free(sk_plan *p)
{
    if (!p)
        return;
    if (p->vals)
        for (int v = 0; v < p->g->nvalues; v++)
            if (p->kind[v] == V_FOLDED)
                sk_free(p->vals[v].data);
    plan_free_steps(p);
    free(p->scratch);
    free(p->vals);
    free(p->kind);
    free(p->inputs);
    free(p->outputs);
    if (!p->arena_borrowed)
        sk_free(p->arena);
    if (!p->scratch_borrowed)
        sk_free(p->scratch_mem);
    free(p->prof_ns);
    free(p);
}

/* A model's shapes may ask for any size up to SK_MAX_NUMEL elements (8 TiB
 * of int64). Anything over the machine's physical memory is refused before
 * it is allocated: with overcommit, a huge allocation may succeed and the
 * process die when the fill touches it. */
static size_t phys_mem_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0 || (size_t)pages > SIZE_MAX / (size_t)page)
        return SIZE_MAX;
    return (size_t)pages * (size_t)page;
}

static int check_fits_memory(size_t bytes, const char *what, const char *name, char *err,
                             size_t errlen)
{
    size_t phys = phys_mem_bytes();
    if (bytes <= phys)
        return 0;
    return sk_errf(err, errlen, SK_ENOMEM,
                   "%s '%s' needs %.1f GiB, more than this machine's %.1f GiB of memory", what,
                   name, (double)bytes / (1 << 30), (double)phys / (1 << 30));
}

static int check_bound_shape(const sk_value *decl, const sk_tensor *t, char *err, size_t errlen)
{
    char a[96], b[96];
    if (t->dtype != decl->dtype && decl->dtype != SK_DT_UNDEFINED)
        return sk_errf(err, errlen, SK_ESHAPE, "input '%s' must be %s, got %s", decl->name,
                       sk_dtype_name(decl->dtype), sk_dtype_name(t->dtype));
    if (sk_shape_numel(&t->shape) < 0)
        return sk_errf(err, errlen, SK_ESHAPE, "input '%s': shape %s is negative or too large",
                       decl->name, sk_shape_str(&t->shape, a, sizeof a));
    if (decl->shape.rank < 0)
        return 0;
    int ok = decl->shape.rank == t->shape.rank;
    for (int i = 0; ok && i < t->shape.rank; i++)
        if (decl->shape.dim[i] >= 0 && decl->shape.dim[i] != t->shape.dim[i])
            ok = 0;
    if (!ok)
        return sk_errf(err, errlen, SK_ESHAPE, "input '%s' has shape %s, the model expects %s",
                       decl->name, sk_shape_str(&t->shape, a, sizeof a),
                       sk_shape_str(&decl->shape, b, sizeof b));
    return 0;
}

/* Infer node ni; fold it when all its inputs are known. Appends a step
 * otherwise. */
static int plan_node(sk_plan *p, int ni, char *err, size_t errlen)
{
    const sk_graph *g = p->g;
    const sk_node *n = &g->nodes[ni];
    const sk_op_info *info = sk_op_get(n->op);
    sk_kctx ctx = {err, errlen, p->pool, NULL, 0, NULL}; /* folds run ref */
    char sb[96];
    if (!info)
        return sk_errf(err, errlen, SK_EUNSUPPORTED, "node '%s' has no kernel", n->name);

    const sk_tensor **in = calloc((size_t)n->nin + 1, sizeof *in);
    sk_tensor *out = calloc((size_t)n->nout + 1, sizeof *out);
    if (!in || !out) {
        free(in);
        free(out);
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory planning node '%s'", n->name);
    }
    int known = 1;
    for (int k = 0; k < n->nin; k++) {
        int v = n->in[k];
        if (v < 0)
            continue;
        if (p->kind[v] == V_NONE) {
            free(in);
            free(out);
            return sk_errf(err, errlen, SK_EINVAL,
                           "%s node '%s' reads '%s' before it is defined (graph not validated?)",
                           info->name, n->name, g->values[v].name);
        }
        in[k] = &p->vals[v];
        if (p->kind[v] == V_RUNTIME)
            known = 0;
    }
    int rc = info->infer(n, in, n->nin, out, n->nout, &ctx);
    if (rc < 0)
        goto fail;
    for (int o = 0; o < n->nout; o++) {
        if (sk_shape_numel(&out[o].shape) < 0 || !sk_dtype_size(out[o].dtype)) {
            rc = sk_errf(err, errlen, SK_ESHAPE,
                         "%s node '%s': output %d has an invalid shape %s or dtype",
                         info->name, n->name, o, sk_shape_str(&out[o].shape, sb, sizeof sb));
            goto fail;
        }
    }
    if (n->op == SK_OP_SHAPE)
        known = 1; /* needs only the (known) shape of its input */

    if (known) {
        /* constant folding: run the reference kernel now, keep the result */
        for (int o = 0; o < n->nout; o++)
            if ((rc = check_fits_memory(sk_tensor_bytes(&out[o]), "folding node", n->name, err,
                                        errlen)) < 0)
                goto fail;
        for (int o = 0; o < n->nout; o++) {
            out[o].data = sk_alloc(sk_tensor_bytes(&out[o]));
            if (!out[o].data) {
                rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory folding node '%s'", n->name);
                goto fail_data;
            }
        }
        rc = info->run(n, in, n->nin, out, n->nout, &ctx);
        if (rc < 0)
            goto fail_data;
        for (int o = 0; o < n->nout; o++) {
            int v = n->out[o];
            if (v < 0) {
                sk_free(out[o].data);
                continue;
            }
            p->vals[v] = out[o];
            p->kind[v] = V_FOLDED;
        }
        free(in);
        free(out);
        return 0;
    }
    for (int o = 0; o < n->nout; o++) {
        int v = n->out[o];
        if (v >= 0) {
            p->vals[v] = out[o];
            p->kind[v] = V_RUNTIME;
        }
    }
    step *st = &p->steps[p->nsteps++];
    st->node = ni;
    st->fn = sk_dispatch_run(n);
    st->nin = n->nin;
    st->nout = n->nout;
    st->in = in;
    st->out = out;
    return 0;

fail_data:
    for (int o = 0; o < n->nout; o++)
        sk_free(out[o].data);
fail:
    free(in);
    free(out);
    return rc;
}

/* Greedy-by-size placement (as in TFLite's arena planner): biggest buffers
 * first, each at the lowest offset that overlaps no placed buffer whose
 * lifetime intersects its own. Near-optimal for the chain-plus-skip shapes of
 * ResNets and U-Nets, and O(n^2) in buffers, which is small. */
typedef struct buf {
    size_t size, off;
    int first, last; /* step range during which it is live */
    sk_tensor *t;    /* where to store the data pointer, NULL: a plan value */
    int value;
} buf;

static int by_size_desc(const void *a, const void *b)
{
    const buf *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return x->first - y->first;
}

static int by_off(const void *a, const void *b)
{
    const buf *x = *(const buf *const *)a, *y = *(const buf *const *)b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Whether input `slot` of an op may be overwritten by its output: the
 * inplace column of the op's row (ops.h). */
static int inplace_op(sk_op op, int slot)
{
    const sk_op_info *info = sk_op_get(op);
    return info && slot < info->inplace;
}

/* In-place element-wise steps: when an input of the same type and size dies
 * at this step (and is neither a graph input nor output), the output takes
 * its buffer. alias[v] = the value whose buffer v uses, or -1. The owner's
 * lifetime grows to cover every value aliased to it. */
static void plan_inplace(sk_plan *p, const int *first, int *last, int *alias)
{
    const sk_graph *g = p->g;
    (void)first;
    for (int v = 0; v < g->nvalues; v++)
        alias[v] = -1;
    for (int s = 0; s < p->nsteps; s++) {
        const sk_node *n = &g->nodes[p->steps[s].node];
        int o = n->nout == 1 ? n->out[0] : -1;
        if (o < 0)
            continue;
        for (int k = 0; k < n->nin && alias[o] < 0; k++) {
            int v = n->in[k];
            if (v < 0 || !inplace_op(n->op, k) || p->kind[v] != V_RUNTIME || last[v] != s)
                continue;
            int root = alias[v] >= 0 ? alias[v] : v;
            int io = 0;
            for (int i = 0; i < g->ninputs; i++)
                io |= g->inputs[i] == v || g->inputs[i] == root;
            for (int i = 0; i < g->noutputs; i++)
                io |= g->outputs[i] == v || g->outputs[i] == root;
            if (io || p->vals[v].dtype != p->vals[o].dtype ||
                sk_tensor_bytes(&p->vals[v]) != sk_tensor_bytes(&p->vals[o]))
                continue;
            alias[o] = root;
            if (last[o] > last[root])
                last[root] = last[o];
        }
    }
}

static int plan_arena(sk_plan *p, char *err, size_t errlen)
{
    const sk_graph *g = p->g;
    int nv = g->nvalues;
    int *first = malloc(sizeof(int) * (size_t)nv), *last = malloc(sizeof(int) * (size_t)nv);
    buf *bufs = NULL;
    buf **placed = NULL;
    int *alias = NULL;
    int nb = 0, rc = 0;
    if (!first || !last) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory planning the arena");
        goto out;
    }
    for (int v = 0; v < nv; v++)
        first[v] = last[v] = -2;
    for (int i = 0; i < g->ninputs; i++)
        if (p->kind[g->inputs[i]] == V_RUNTIME)
            first[g->inputs[i]] = last[g->inputs[i]] = -1;
    int nscr = 0;
    for (int s = 0; s < p->nsteps; s++) {
        const sk_node *n = &g->nodes[p->steps[s].node];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0 && p->kind[n->in[k]] == V_RUNTIME)
                last[n->in[k]] = s;
        for (int o = 0; o < n->nout; o++) {
            if (n->out[o] < 0)
                nscr++;
            else
                first[n->out[o]] = last[n->out[o]] = s;
        }
    }
    for (int i = 0; i < g->noutputs; i++)
        if (p->kind[g->outputs[i]] == V_RUNTIME)
            last[g->outputs[i]] = p->nsteps; /* read after the last step */

    alias = malloc(sizeof(int) * (size_t)nv);
    if (!alias) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory planning the arena");
        goto out;
    }
    plan_inplace(p, first, last, alias);

    bufs = calloc((size_t)nv + (size_t)nscr + 1, sizeof *bufs);
    placed = calloc((size_t)nv + (size_t)nscr + 1, sizeof *placed);
    p->scratch = calloc((size_t)nscr + 1, sizeof *p->scratch);
    if (!bufs || !placed || !p->scratch) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory planning the arena");
        goto out;
    }
    for (int v = 0; v < nv; v++) {
        if (p->kind[v] != V_RUNTIME || first[v] == -2 || alias[v] >= 0)
            continue;
        bufs[nb++] = (buf){ALIGN64(sk_tensor_bytes(&p->vals[v])), 0, first[v], last[v], NULL, v};
    }
    for (int s = 0; s < p->nsteps; s++) {
        step *st = &p->steps[s];
        const sk_node *n = &g->nodes[st->node];
        for (int o = 0; o < n->nout; o++)
            if (n->out[o] < 0) {
                p->scratch[p->nscratch] = st->out[o];
                bufs[nb++] = (buf){ALIGN64(sk_tensor_bytes(&st->out[o])), 0, s, s,
                                   &p->scratch[p->nscratch], -1};
                p->nscratch++;
            }
    }
    qsort(bufs, (size_t)nb, sizeof *bufs, by_size_desc);
    size_t total = 0, limit = phys_mem_bytes();
    int np = 0;
    for (int i = 0; i < nb; i++) {
        buf *b = &bufs[i];
        size_t off = 0;
        /* placed[] is kept sorted by offset: slide past every overlapping
         * live buffer */
        for (int j = 0; j < np; j++) {
            buf *q = placed[j];
            if (q->last < b->first || b->last < q->first)
                continue;
            if (q->off + q->size <= off || off + b->size <= q->off)
                continue;
            off = q->off + q->size;
        }
        /* offsets stay <= limit, so off + size cannot wrap */
        if (b->size > limit || off > limit - b->size) {
            rc = sk_errf(err, errlen, SK_ENOMEM,
                         "the activations need more than this machine's %.1f GiB of memory",
                         (double)limit / (1 << 30));
            goto out;
        }
        b->off = off;
        placed[np++] = b;
        qsort(placed, (size_t)np, sizeof *placed, by_off);
        if (off + b->size > total)
            total = off + b->size;
    }
    p->arena_bytes = total;
    if (p->share && total <= p->share->arena_bytes) {
        p->arena = p->share->arena;
        p->arena_borrowed = 1;
    } else {
        p->arena = sk_alloc(total ? total : 64);
    }
    if (!p->arena) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "cannot allocate a %zu-byte arena", total);
        goto out;
    }
    for (int i = 0; i < nb; i++) {
        char *d = (char *)p->arena + bufs[i].off;
        if (bufs[i].value >= 0)
            p->vals[bufs[i].value].data = d;
        else
            bufs[i].t->data = d;
    }
    for (int v = 0; v < nv; v++)
        if (alias[v] >= 0)
            p->vals[v].data = p->vals[alias[v]].data;
    /* refresh the steps' output copies with their arena pointers */
    int si = 0;
    for (int s = 0; s < p->nsteps; s++) {
        step *st = &p->steps[s];
        const sk_node *n = &g->nodes[st->node];
        for (int o = 0; o < n->nout; o++)
            st->out[o] = n->out[o] >= 0 ? p->vals[n->out[o]] : p->scratch[si++];
    }
out:
    free(first);
    free(last);
    free(alias);
    free(bufs);
    free(placed);
    return rc;
}

/* Drop steps whose outputs neither a graph output nor a later step reads. */
static void plan_prune(sk_plan *p)
{
    const sk_graph *g = p->g;
    char *need = calloc((size_t)g->nvalues + 1, 1);
    if (!need)
        return;
    for (int i = 0; i < g->noutputs; i++)
        need[g->outputs[i]] = 1;
    int w = p->nsteps;
    for (int s = p->nsteps - 1; s >= 0; s--) {
        const sk_node *n = &g->nodes[p->steps[s].node];
        int keep = 0;
        for (int o = 0; o < n->nout; o++)
            if (n->out[o] >= 0 && need[n->out[o]])
                keep = 1;
        if (!keep) {
            free(p->steps[s].in);
            free(p->steps[s].out);
            p->steps[s].node = -1;
            w--;
            continue;
        }
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                need[n->in[k]] = 1;
    }
    int j = 0;
    for (int s = 0; s < p->nsteps; s++)
        if (p->steps[s].node >= 0)
            p->steps[j++] = p->steps[s];
    p->nsteps = j;
    (void)w;
    free(need);
}

int sk_plan_create(const sk_graph *g, const sk_tensor *inputs, sk_pool *pool, sk_plan **out,
                   char *err, size_t errlen)
{
    return sk_plan_create_shared(g, inputs, pool, NULL, out, err, errlen);
}

int sk_plan_create_shared(const sk_graph *g, const sk_tensor *inputs, sk_pool *pool,
                          const sk_plan *share, sk_plan **out, char *err, size_t errlen)
{
    int rc;
    *out = NULL;
    sk_plan *p = calloc(1, sizeof *p);
    if (!p)
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory");
    p->g = g;
    p->pool = pool;
    if (share && (share->arena_borrowed || share->scratch_borrowed)) {
        /* its memory is a third plan's: that plan's lifetime is what the
         * sharing plans would depend on, and `share` cannot promise it */
        free(p);
        return sk_errf(err, errlen, SK_EINVAL,
                       "sk_plan_create_shared: the plan to share runs in another plan's memory "
                       "itself; share the plan that owns it");
    }
    p->share = share;
    p->kcfg = sk_kconfig_for(sk_cpu_level());
    p->vals = calloc((size_t)g->nvalues + 1, sizeof *p->vals);
    p->kind = calloc((size_t)g->nvalues + 1, 1);
    p->steps = calloc((size_t)g->nnodes + 1, sizeof *p->steps);
    p->inputs = calloc((size_t)g->ninputs + 1, sizeof *p->inputs);
    p->outputs = calloc((size_t)g->noutputs + 1, sizeof *p->outputs);
    if (!p->vals || !p->kind || !p->steps || !p->inputs || !p->outputs) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory");
        goto fail;
    }
    for (int v = 0; v < g->nvalues; v++) {
        const sk_value *val = &g->values[v];
        if (sk_value_is_const(val)) { /* data NULL when released after packing */
            p->vals[v] = (sk_tensor){val->dtype, val->shape, val->data};
            p->kind[v] = V_CONST;
        }
    }
    for (int i = 0; i < g->ninputs; i++) {
        int v = g->inputs[i];
        const sk_tensor *t = &inputs[i];
        if ((rc = check_bound_shape(&g->values[v], t, err, errlen)) < 0)
            goto fail;
        p->inputs[i] = (sk_tensor){t->dtype, t->shape, NULL};
        p->vals[v] = p->inputs[i];
        if (t->data) {
            size_t bytes = sk_tensor_bytes(t);
            void *d = sk_alloc(bytes);
            if (!d) {
                rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory pinning '%s'",
                             g->values[v].name);
                goto fail;
            }
            if (bytes)
                memcpy(d, t->data, bytes);
            p->vals[v].data = d;
            p->kind[v] = V_FOLDED;
        } else {
            p->kind[v] = V_RUNTIME;
        }
    }
    for (int ni = 0; ni < g->nnodes; ni++)
        if ((rc = plan_node(p, ni, err, errlen)) < 0)
            goto fail;
    for (int i = 0; i < g->noutputs; i++)
        if (p->kind[g->outputs[i]] == V_NONE) {
            rc = sk_errf(err, errlen, SK_EINVAL, "graph output '%s' is never computed",
                         g->values[g->outputs[i]].name);
            goto fail;
        }
    plan_prune(p);
    for (int s = 0; s < p->nsteps; s++) {
        const step *st = &p->steps[s];
        size_t b = sk_dispatch_scratch(&g->nodes[st->node], st->in, st->nin, st->out, st->nout,
                                       sk_pool_size(pool));
        if (b > p->scratch_bytes)
            p->scratch_bytes = b;
    }
    if ((rc = check_fits_memory(p->scratch_bytes, "the scratch of plan step", "(largest)", err,
                                errlen)) < 0)
        goto fail;
    if (p->scratch_bytes && share && p->scratch_bytes <= share->scratch_bytes) {
        p->scratch_mem = share->scratch_mem;
        p->scratch_borrowed = 1;
    } else if (p->scratch_bytes && !(p->scratch_mem = sk_alloc(p->scratch_bytes))) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "cannot allocate %zu bytes of scratch",
                     p->scratch_bytes);
        goto fail;
    }
    if ((rc = plan_arena(p, err, errlen)) < 0)
        goto fail;
    for (int i = 0; i < g->noutputs; i++)
        p->outputs[i] = p->vals[g->outputs[i]];
    for (int i = 0; i < g->ninputs; i++)
        p->inputs[i].data = p->vals[g->inputs[i]].data;
    p->share = NULL; /* only read while planning */
    *out = p;
    return 0;
fail:
    sk_plan_free(p);
    return rc;
}

/* The input copy on every pool thread (sk_kconfig.input_pcopy_min;
 * session 21 x2t): n slices of whole 64-byte lines. */
typedef struct pcopy_job {
    char *dst;
    const char *src;
    size_t bytes, n;
} pcopy_job;

static void pcopy_task(void *arg, size_t b, size_t e)
{
    const pcopy_job *c = arg;
    for (size_t i = b; i < e; i++) {
        size_t lines = (c->bytes + 63) / 64, o0 = lines * i / c->n * 64,
               o1 = i + 1 == c->n ? c->bytes : lines * (i + 1) / c->n * 64;
        if (o1 > o0)
            memcpy(c->dst + o0, c->src + o0, o1 - o0);
    }
}

static void copy_input(const sk_plan *p, void *dst, const void *src, size_t bytes)
{
    const long min = p->kcfg ? p->kcfg->input_pcopy_min : 0;
    const int T = sk_pool_size(p->pool);
    const char *sw = sk_sw()->input_pcopy;
    if (min > 0 && T > 1 && bytes >= (size_t)min && !(sw && !strcmp(sw, "0"))) {
        pcopy_job c = {dst, src, bytes, (size_t)T};
        sk_parallel_for(p->pool, (size_t)T, 1, pcopy_task, &c);
        return;
    }
    memcpy(dst, src, bytes);
}

int sk_plan_run(sk_plan *p, const void *const *input_data, char *err, size_t errlen)
{
    const sk_graph *g = p->g;
    for (int i = 0; i < g->ninputs; i++) {
        int v = g->inputs[i];
        if (p->kind[v] != V_RUNTIME || !p->vals[v].data)
            continue; /* pinned, or never read */
        if (!input_data || !input_data[i])
            return sk_errf(err, errlen, SK_EINVAL, "input '%s' was not given",
                           g->values[v].name);
        size_t bytes = sk_tensor_bytes(&p->vals[v]);
        if (bytes && p->vals[v].data != input_data[i])
            copy_input(p, p->vals[v].data, input_data[i], bytes);
    }
    sk_kctx ctx = {err, errlen, p->pool, p->scratch_mem, p->scratch_bytes, p->kcfg};
    struct timespec t0, t1;
    clockid_t pclk = p->prof_clock;
    for (int s = 0; s < p->nsteps; s++) {
        step *st = &p->steps[s];
        if (p->prof_ns)
            clock_gettime(pclk, &t0);
        int rc = st->fn(&g->nodes[st->node], st->in, st->nin, st->out, st->nout, &ctx);
        if (rc < 0)
            return rc;
        if (p->prof_ns) {
            clock_gettime(pclk, &t1);
            p->prof_ns[s] += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
                                        (t1.tv_nsec - t0.tv_nsec));
        }
        if (p->observe) {
            const sk_node *n = &g->nodes[st->node];
            for (int k = 0; k < st->nout && k < n->nout; k++)
                if (n->out[k] >= 0)
                    p->observe(p->observe_user, g->values[n->out[k]].name, &st->out[k]);
        }
    }
    p->prof_runs += p->prof_ns != NULL;
    return 0;
}

void sk_plan_observe(sk_plan *p, sk_observe_fn fn, void *user)
{
    p->observe = fn;
    p->observe_user = user;
}

int sk_plan_profile(sk_plan *p, int on)
{
    const char *pc = getenv("SKIPSERVE_PROFILE_CLOCK");
    p->prof_clock = pc && !strcmp(pc, "thread") ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    free(p->prof_ns);
    p->prof_ns = NULL;
    p->prof_runs = 0;
    if (on && !(p->prof_ns = calloc((size_t)p->nsteps + 1, sizeof *p->prof_ns)))
        return SK_ENOMEM;
    return 0;
}

void sk_plan_profile_dump(const sk_plan *p, FILE *f, int top, const int64_t *node_macs)
{
    if (!p->prof_ns || !p->prof_runs || p->nsteps <= 0)
        return;
    int *order = malloc(sizeof(int) * (size_t)p->nsteps);
    if (!order)
        return;
    uint64_t total = 0;
    for (int s = 0; s < p->nsteps; s++) {
        order[s] = s;
        total += p->prof_ns[s];
    }
    for (int i = 1; i < p->nsteps; i++) /* insertion sort, longest first */
        for (int j = i; j > 0 && p->prof_ns[order[j]] > p->prof_ns[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    char sb[96];
    fprintf(f, "profile: %d runs, %.3f ms per run\n", p->prof_runs,
            (double)total / p->prof_runs / 1e6);
    for (int i = 0; i < p->nsteps && i < top; i++) {
        int s = order[i];
        const sk_node *n = &p->g->nodes[p->steps[s].node];
        double ns = (double)p->prof_ns[s] / p->prof_runs;
        char rate[24] = "";
        if (node_macs && node_macs[p->steps[s].node] > 0 && ns > 0)
            snprintf(rate, sizeof rate, "%6.1f GFLOP/s",
                     2.0 * (double)node_macs[p->steps[s].node] / ns);
        /* last column: the step's first output value, the name ORT's profiler
         * also reports, so the two can be joined layer by layer */
        fprintf(f, "  %8.3f ms %5.1f%%  %4d %-14s %-20s %-14s %-18s %s\n", ns / 1e6,
                100.0 * (double)p->prof_ns[s] / (double)(total ? total : 1), s, sk_op_name(n->op),
                sk_dispatch_describe_t(n, p->steps[s].nout ? p->steps[s].out[0].shape.dim[0] : -1,
                                       sk_pool_size(p->pool)),
                rate,
                p->steps[s].nout ? sk_shape_str(&p->steps[s].out[0].shape, sb, sizeof sb) : "",
                n->nout > 0 && n->out[0] >= 0 ? p->g->values[n->out[0]].name : "");
    }
    free(order);
}

int sk_plan_noutputs(const sk_plan *p) { return p->g->noutputs; }

const sk_tensor *sk_plan_output(const sk_plan *p, int i)
{
    return i >= 0 && i < p->g->noutputs ? &p->outputs[i] : NULL;
}

const char *sk_plan_output_name(const sk_plan *p, int i)
{
    return i >= 0 && i < p->g->noutputs ? p->g->values[p->g->outputs[i]].name : NULL;
}

const sk_tensor *sk_plan_input(const sk_plan *p, int i)
{
    return i >= 0 && i < p->g->ninputs ? &p->inputs[i] : NULL;
}

size_t sk_plan_arena_bytes(const sk_plan *p)
{
    return (p->arena_borrowed ? 0 : p->arena_bytes) + (p->scratch_borrowed ? 0 : p->scratch_bytes);
}
int sk_plan_nsteps(const sk_plan *p) { return p->nsteps; }

void sk_plan_dump(const sk_plan *p, FILE *f)
{
    const sk_graph *g = p->g;
    char sb[96];
    int nconst = 0;
    for (int v = 0; v < g->nvalues; v++)
        nconst += p->kind[v] == V_FOLDED;
    fprintf(f, "plan: %d steps (of %d nodes; %d values folded), arena %.2f MiB\n", p->nsteps,
            g->nnodes, nconst, (double)p->arena_bytes / (1024.0 * 1024.0));
    for (int s = 0; s < p->nsteps; s++) {
        const step *st = &p->steps[s];
        const sk_node *n = &g->nodes[st->node];
        fprintf(f, "%4d %-18s %-28s [%s] ", s, sk_op_name(n->op), n->name,
                sk_dispatch_describe_t(n, st->nout ? st->out[0].shape.dim[0] : -1,
                                       sk_pool_size(p->pool)));
        for (int k = 0; k < n->nin; k++) {
            if (n->in[k] < 0 || p->kind[n->in[k]] != V_RUNTIME)
                continue; /* weights and folded constants are not activations */
            fprintf(f, "%s", sk_shape_str(&p->vals[n->in[k]].shape, sb, sizeof sb));
            fprintf(f, " ");
        }
        fprintf(f, "-> ");
        for (int o = 0; o < st->nout; o++)
            fprintf(f, "%s%s", o ? " " : "", sk_shape_str(&st->out[o].shape, sb, sizeof sb));
        fprintf(f, "\n");
    }
}
