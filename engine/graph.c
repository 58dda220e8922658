/* graph.c — building, validating, pruning and printing the engine IR. */
#include "graph.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static char *dupstr(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s ? s : "", n);
    return d;
}

/* Grow *arr (of elem bytes) to hold at least need items. */
static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p)
        return SK_ENOMEM;
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

/* ---- name index: open addressing over value ids ------------------------- */

typedef struct name_index {
    int *slot; /* value id + 1, 0 = empty */
    int cap;   /* power of two */
} name_index;

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s)
        h = (h ^ (uint8_t)*s++) * 16777619u;
    return h;
}

/* The index lives beside the graph (not in the public struct) so the IR
 * stays plain data; it is rebuilt lazily when the value count outgrows it. */
struct graph_extra {
    name_index idx;
    int indexed; /* values inserted into idx so far */
    int const_seq;
};

static struct graph_extra *extra(const sk_graph *g)
{
    return (struct graph_extra *)((const char *)g + sizeof(sk_graph));
}

sk_graph *sk_graph_new(void)
{
    sk_graph *g = calloc(1, sizeof(sk_graph) + sizeof(struct graph_extra));
    if (g)
        g->opset = 13;
    return g;
}

static void attr_free(sk_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
    sk_free(a->t.data);
}

/* What a node owns: its name, edges, attributes and kernel data. */
static void node_free(sk_node *n)
{
    free(n->name);
    free(n->in);
    free(n->out);
    for (int a = 0; a < n->nattr; a++)
        attr_free(&n->attr[a]);
    free(n->attr);
    if (n->priv && n->priv_free)
        n->priv_free(n->priv);
}

void sk_graph_free(sk_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nnodes; i++) {
        sk_node *n = &g->nodes[i];
        node_free(n);
    }
    for (int i = 0; i < g->nvalues; i++) {
        free(g->values[i].name);
        if (g->values[i].data_owned)
            sk_free(g->values[i].data);
    }
    for (int i = 0; i < g->nmaps; i++)
        munmap(g->maps[i].addr, g->maps[i].len);
    free(g->maps);
    free(g->values);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(extra(g)->idx.slot);
    free(g);
}

static int index_insert(name_index *ix, const sk_graph *g, int id)
{
    uint32_t m = (uint32_t)ix->cap - 1;
    for (uint32_t h = hash_str(g->values[id].name) & m;; h = (h + 1) & m) {
        if (!ix->slot[h]) {
            ix->slot[h] = id + 1;
            return 0;
        }
    }
}

static int index_sync(sk_graph *g)
{
    struct graph_extra *x = extra(g);
    if (g->nvalues * 2 >= x->idx.cap) {
        int cap = x->idx.cap ? x->idx.cap : 64;
        while (g->nvalues * 2 >= cap)
            cap *= 2;
        int *slot = calloc((size_t)cap, sizeof *slot);
        if (!slot)
            return SK_ENOMEM;
        free(x->idx.slot);
        x->idx.slot = slot;
        x->idx.cap = cap;
        x->indexed = 0;
    }
    for (; x->indexed < g->nvalues; x->indexed++)
        index_insert(&x->idx, g, x->indexed);
    return 0;
}

int sk_graph_find(const sk_graph *g, const char *name)
{
    const struct graph_extra *x = extra(g);
    if (!name || !x->idx.cap)
        return -1;
    uint32_t m = (uint32_t)x->idx.cap - 1;
    for (uint32_t h = hash_str(name) & m; x->idx.slot[h]; h = (h + 1) & m) {
        int id = x->idx.slot[h] - 1;
        if (strcmp(g->values[id].name, name) == 0)
            return id;
    }
    return -1;
}

int sk_graph_value(sk_graph *g, const char *name)
{
    int id = sk_graph_find(g, name);
    if (id >= 0)
        return id;
    if (grow((void **)&g->values, &g->cap_values, g->nvalues + 1, sizeof(sk_value)))
        return SK_ENOMEM;
    sk_value *v = &g->values[g->nvalues];
    memset(v, 0, sizeof *v);
    v->name = dupstr(name);
    if (!v->name)
        return SK_ENOMEM;
    v->shape.rank = -1;
    v->producer = -1;
    id = g->nvalues++;
    if (index_sync(g))
        return SK_ENOMEM;
    return id;
}

int sk_graph_set_const(sk_graph *g, int id, sk_dtype dt, const sk_shape *s, void *data,
                       int owned)
{
    if (id < 0 || id >= g->nvalues)
        return SK_EINVAL;
    sk_value *v = &g->values[id];
    if (v->data_owned)
        sk_free(v->data);
    v->dtype = dt;
    v->shape = *s;
    v->data = data;
    v->data_owned = owned;
    return 0;
}

int sk_graph_add_const(sk_graph *g, const char *name, sk_dtype dt, const sk_shape *s,
                       const void *data)
{
    char buf[96];
    if (!name) {
        do {
            snprintf(buf, sizeof buf, "_const%d", extra(g)->const_seq++);
        } while (sk_graph_find(g, buf) >= 0);
        name = buf;
    } else if (sk_graph_find(g, name) >= 0) {
        /* a new value, always: a pass's made-up name ("_qlut_table_7") may
         * already name one of the model's tensors, whose data and users a
         * same-named constant would silently replace */
        do {
            snprintf(buf, sizeof buf, "%.60s_%d", name, extra(g)->const_seq++);
        } while (sk_graph_find(g, buf) >= 0);
        name = buf;
    }
    int64_t n = sk_shape_numel(s);
    size_t es = sk_dtype_size(dt);
    if (n < 0 || es == 0)
        return SK_EINVAL;
    void *d = sk_alloc((size_t)n * es);
    if (!d)
        return SK_ENOMEM;
    if (n)
        memcpy(d, data, (size_t)n * es);
    int id = sk_graph_value(g, name);
    if (id < 0) {
        sk_free(d);
        return id;
    }
    sk_graph_set_const(g, id, dt, s, d, 1);
    return id;
}

static int push_id(int **arr, int *n, int id)
{
    int *p = realloc(*arr, (size_t)(*n + 1) * sizeof(int));
    if (!p)
        return SK_ENOMEM;
    p[(*n)++] = id;
    *arr = p;
    return 0;
}

int sk_graph_add_input(sk_graph *g, int id) { return push_id(&g->inputs, &g->ninputs, id); }
int sk_graph_add_output(sk_graph *g, int id) { return push_id(&g->outputs, &g->noutputs, id); }

int sk_graph_add_mapping(sk_graph *g, void *addr, size_t len)
{
    sk_mapping *m = realloc(g->maps, (size_t)(g->nmaps + 1) * sizeof *m);
    if (!m)
        return SK_ENOMEM;
    m[g->nmaps].addr = addr;
    m[g->nmaps].len = len;
    g->maps = m;
    g->nmaps++;
    return 0;
}

void sk_graph_release_mappings(sk_graph *g)
{
    for (int i = 0; i < g->nmaps;) {
        const char *a = g->maps[i].addr;
        size_t len = g->maps[i].len;
        int used = 0;
        for (int v = 0; v < g->nvalues && !used; v++) {
            const char *d = g->values[v].data;
            used = !g->values[v].data_owned && d && d >= a && d < a + len;
        }
        if (used) {
#ifdef MADV_DONTNEED
            madvise(g->maps[i].addr, len, MADV_DONTNEED);
#endif
            i++;
            continue;
        }
        munmap(g->maps[i].addr, len);
        g->maps[i] = g->maps[--g->nmaps];
    }
}

int sk_graph_add_node(sk_graph *g, sk_op op, const char *name, int nin, const int *in,
                      int nout, const int *out)
{
    if (grow((void **)&g->nodes, &g->cap_nodes, g->nnodes + 1, sizeof(sk_node)))
        return SK_ENOMEM;
    sk_node *n = &g->nodes[g->nnodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->opset = g->opset;
    n->name = dupstr(name);
    n->in = malloc(sizeof(int) * (size_t)(nin > 0 ? nin : 1));
    n->out = malloc(sizeof(int) * (size_t)(nout > 0 ? nout : 1));
    if (!n->name || !n->in || !n->out) {
        free(n->name);
        free(n->in);
        free(n->out);
        return SK_ENOMEM;
    }
    if (nin)
        memcpy(n->in, in, sizeof(int) * (size_t)nin);
    if (nout)
        memcpy(n->out, out, sizeof(int) * (size_t)nout);
    n->nin = nin;
    n->nout = nout;
    return g->nnodes++;
}

/* ---- attributes ----------------------------------------------------------- */

static sk_attr *new_attr(sk_graph *g, int ni, const char *name, sk_attr_type t)
{
    if (ni < 0 || ni >= g->nnodes)
        return NULL;
    sk_node *n = &g->nodes[ni];
    sk_node_remove_attr(g, ni, name);
    sk_attr *a = realloc(n->attr, (size_t)(n->nattr + 1) * sizeof *a);
    if (!a)
        return NULL;
    n->attr = a;
    a = &a[n->nattr];
    memset(a, 0, sizeof *a);
    a->name = dupstr(name);
    if (!a->name)
        return NULL;
    a->type = t;
    n->nattr++;
    return a;
}

int sk_node_set_int(sk_graph *g, int ni, const char *name, int64_t v)
{
    sk_attr *a = new_attr(g, ni, name, SK_ATTR_INT);
    if (!a)
        return SK_ENOMEM;
    a->i = v;
    return 0;
}

int sk_node_set_float(sk_graph *g, int ni, const char *name, float v)
{
    sk_attr *a = new_attr(g, ni, name, SK_ATTR_FLOAT);
    if (!a)
        return SK_ENOMEM;
    a->f = v;
    return 0;
}

int sk_node_set_string(sk_graph *g, int ni, const char *name, const char *v)
{
    sk_attr *a = new_attr(g, ni, name, SK_ATTR_STRING);
    if (!a || !(a->s = dupstr(v)))
        return SK_ENOMEM;
    return 0;
}

/* A malloc'd copy of n elements (one element's room when n is 0, so an
 * empty list is still a non-NULL pointer). */
static void *dup_array(const void *v, int n, size_t size)
{
    void *p = malloc(size * (size_t)(n ? n : 1));
    if (p && n)
        memcpy(p, v, size * (size_t)n);
    return p;
}

int sk_node_set_ints(sk_graph *g, int ni, const char *name, const int64_t *v, int n)
{
    sk_attr *a = new_attr(g, ni, name, SK_ATTR_INTS);
    if (!a || !(a->ints = dup_array(v, n, sizeof *v)))
        return SK_ENOMEM;
    a->n = n;
    return 0;
}

int sk_node_set_floats(sk_graph *g, int ni, const char *name, const float *v, int n)
{
    sk_attr *a = new_attr(g, ni, name, SK_ATTR_FLOATS);
    if (!a || !(a->floats = dup_array(v, n, sizeof *v)))
        return SK_ENOMEM;
    a->n = n;
    return 0;
}

int sk_node_set_tensor(sk_graph *g, int ni, const char *name, const sk_tensor *t)
{
    size_t bytes = sk_tensor_bytes(t);
    sk_attr *a = new_attr(g, ni, name, SK_ATTR_TENSOR);
    if (!a)
        return SK_ENOMEM;
    a->t = *t;
    a->t.data = sk_alloc(bytes);
    if (!a->t.data)
        return SK_ENOMEM;
    if (bytes)
        memcpy(a->t.data, t->data, bytes);
    return 0;
}

int sk_node_set_input(sk_graph *g, int ni, int slot, int value_id)
{
    if (ni < 0 || ni >= g->nnodes || slot < 0)
        return SK_EINVAL;
    sk_node *n = &g->nodes[ni];
    if (slot >= n->nin) {
        int *p = realloc(n->in, sizeof(int) * (size_t)(slot + 1));
        if (!p)
            return SK_ENOMEM;
        for (int i = n->nin; i <= slot; i++)
            p[i] = -1;
        n->in = p;
        n->nin = slot + 1;
    }
    n->in[slot] = value_id;
    return 0;
}

void sk_node_remove_attr(sk_graph *g, int ni, const char *name)
{
    sk_node *n = &g->nodes[ni];
    for (int i = 0; i < n->nattr; i++) {
        if (strcmp(n->attr[i].name, name) == 0) {
            attr_free(&n->attr[i]);
            n->attr[i] = n->attr[n->nattr - 1];
            n->nattr--;
            return;
        }
    }
}

const sk_attr *sk_attr_find(const sk_node *n, const char *name)
{
    for (int i = 0; i < n->nattr; i++)
        if (strcmp(n->attr[i].name, name) == 0)
            return &n->attr[i];
    return NULL;
}

int64_t sk_attr_int(const sk_node *n, const char *name, int64_t def)
{
    const sk_attr *a = sk_attr_find(n, name);
    return a && a->type == SK_ATTR_INT ? a->i : def;
}

float sk_attr_float(const sk_node *n, const char *name, float def)
{
    const sk_attr *a = sk_attr_find(n, name);
    if (!a)
        return def;
    if (a->type == SK_ATTR_FLOAT)
        return a->f;
    if (a->type == SK_ATTR_INT) /* some exporters write 0 for 0.0 */
        return (float)a->i;
    return def;
}

const char *sk_attr_str(const sk_node *n, const char *name, const char *def)
{
    const sk_attr *a = sk_attr_find(n, name);
    return a && a->type == SK_ATTR_STRING ? a->s : def;
}

int sk_attr_ints(const sk_node *n, const char *name, const int64_t **v)
{
    const sk_attr *a = sk_attr_find(n, name);
    if (!a || a->type != SK_ATTR_INTS)
        return -1;
    *v = a->ints;
    return a->n;
}

int sk_attr_floats(const sk_node *n, const char *name, const float **v)
{
    const sk_attr *a = sk_attr_find(n, name);
    if (!a || a->type != SK_ATTR_FLOATS)
        return -1;
    *v = a->floats;
    return a->n;
}

/* ---- validation ----------------------------------------------------------- */

int sk_graph_validate(sk_graph *g, char *err, size_t errlen)
{
    int rc = 0;
    int *state = NULL, *order = NULL, *pending = NULL, *queue = NULL;
    int *cons_start = NULL, *cons = NULL;
    state = calloc((size_t)g->nvalues + 1, sizeof *state);
    order = malloc(sizeof(int) * ((size_t)g->nnodes + 1));
    pending = calloc((size_t)g->nnodes + 1, sizeof *pending);
    queue = malloc(sizeof(int) * ((size_t)g->nnodes + 1));
    cons_start = calloc((size_t)g->nvalues + 2, sizeof *cons_start);
    if (!state || !order || !pending || !queue || !cons_start) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory validating the graph");
        goto out;
    }
    /* 1. producers: each value written once, and never also an input/const */
    for (int v = 0; v < g->nvalues; v++)
        g->values[v].producer = -1;
    for (int i = 0; i < g->ninputs; i++)
        state[g->inputs[i]] = 1;
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        for (int o = 0; o < n->nout; o++) {
            int v = n->out[o];
            if (v < 0)
                continue;
            sk_value *val = &g->values[v];
            if (val->producer >= 0 || state[v] || sk_value_is_const(val)) {
                rc = sk_errf(err, errlen, SK_EINVAL,
                             "value '%s' is produced twice (again by %s node '%s')",
                             val->name, sk_op_name(n->op), n->name);
                goto out;
            }
            val->producer = ni;
        }
    }
    /* 2. every input defined */
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        for (int k = 0; k < n->nin; k++) {
            int v = n->in[k];
            if (v < 0)
                continue;
            sk_value *val = &g->values[v];
            if (!state[v] && !sk_value_is_const(val) && val->producer < 0) {
                rc = sk_errf(err, errlen, SK_EINVAL,
                             "%s node '%s' reads '%s', which no node, input or initializer "
                             "defines",
                             sk_op_name(n->op), n->name, val->name);
                goto out;
            }
            if (val->producer >= 0)
                pending[ni]++;
        }
    }
    for (int i = 0; i < g->noutputs; i++) {
        sk_value *val = &g->values[g->outputs[i]];
        if (!state[g->outputs[i]] && !sk_value_is_const(val) && val->producer < 0) {
            rc = sk_errf(err, errlen, SK_EINVAL, "graph output '%s' is never defined", val->name);
            goto out;
        }
    }
    /* 3. Kahn's algorithm over node->node edges; leftovers form a cycle */
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0 && g->values[n->in[k]].producer >= 0)
                cons_start[n->in[k] + 1]++;
    }
    for (int v = 0; v < g->nvalues; v++)
        cons_start[v + 1] += cons_start[v];
    cons = malloc(sizeof(int) * ((size_t)cons_start[g->nvalues] + 1));
    if (!cons) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory validating the graph");
        goto out;
    }
    {
        int *fill = calloc((size_t)g->nvalues + 1, sizeof *fill);
        if (!fill) {
            rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory validating the graph");
            goto out;
        }
        for (int ni = 0; ni < g->nnodes; ni++) {
            sk_node *n = &g->nodes[ni];
            for (int k = 0; k < n->nin; k++) {
                int v = n->in[k];
                if (v >= 0 && g->values[v].producer >= 0)
                    cons[cons_start[v] + fill[v]++] = ni;
            }
        }
        free(fill);
    }
    int qh = 0, qt = 0, done = 0;
    for (int ni = 0; ni < g->nnodes; ni++)
        if (!pending[ni])
            queue[qt++] = ni;
    while (qh < qt) {
        int ni = queue[qh++];
        order[done++] = ni;
        sk_node *n = &g->nodes[ni];
        for (int o = 0; o < n->nout; o++) {
            int v = n->out[o];
            if (v < 0)
                continue;
            for (int c = cons_start[v]; c < cons_start[v + 1]; c++)
                if (--pending[cons[c]] == 0)
                    queue[qt++] = cons[c];
        }
    }
    if (done != g->nnodes) {
        for (int ni = 0; ni < g->nnodes; ni++)
            if (pending[ni]) {
                rc = sk_errf(err, errlen, SK_EINVAL,
                             "the graph has a cycle through %s node '%s'",
                             sk_op_name(g->nodes[ni].op), g->nodes[ni].name);
                goto out;
            }
    }
    /* 4. reorder nodes topologically and refresh producers (a graph of no
     * nodes has none to move, and g->nodes may be NULL) */
    if (g->nnodes > 0) {
        sk_node *sorted = malloc(sizeof(sk_node) * ((size_t)g->nnodes + 1));
        if (!sorted) {
            rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory validating the graph");
            goto out;
        }
        for (int i = 0; i < g->nnodes; i++)
            sorted[i] = g->nodes[order[i]];
        memcpy(g->nodes, sorted, sizeof(sk_node) * (size_t)g->nnodes);
        free(sorted);
        for (int ni = 0; ni < g->nnodes; ni++)
            for (int o = 0; o < g->nodes[ni].nout; o++)
                if (g->nodes[ni].out[o] >= 0)
                    g->values[g->nodes[ni].out[o]].producer = ni;
    }
out:
    free(state);
    free(order);
    free(pending);
    free(queue);
    free(cons_start);
    free(cons);
    return rc;
}

int sk_graph_eliminate_dead(sk_graph *g)
{
    /* nodes are in topological order: walk backwards marking needed values */
    char *need = calloc((size_t)g->nvalues + 1, 1);
    char *keep = calloc((size_t)g->nnodes + 1, 1);
    if (!need || !keep) {
        free(need);
        free(keep);
        return 0;
    }
    for (int i = 0; i < g->noutputs; i++)
        need[g->outputs[i]] = 1;
    for (int ni = g->nnodes - 1; ni >= 0; ni--) {
        sk_node *n = &g->nodes[ni];
        for (int o = 0; o < n->nout && !keep[ni]; o++)
            if (n->out[o] >= 0 && need[n->out[o]])
                keep[ni] = 1;
        if (keep[ni])
            for (int k = 0; k < n->nin; k++)
                if (n->in[k] >= 0)
                    need[n->in[k]] = 1;
    }
    int w = 0, removed = 0;
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        if (keep[ni]) {
            g->nodes[w++] = *n;
            continue;
        }
        removed++;
        node_free(n);
    }
    g->nnodes = w;
    for (int v = 0; v < g->nvalues; v++)
        g->values[v].producer = -1;
    for (int ni = 0; ni < g->nnodes; ni++)
        for (int o = 0; o < g->nodes[ni].nout; o++)
            if (g->nodes[ni].out[o] >= 0)
                g->values[g->nodes[ni].out[o]].producer = ni;
    free(need);
    free(keep);
    return removed;
}

void sk_graph_dump(const sk_graph *g, FILE *f)
{
    char sb[96];
    fprintf(f, "graph: %d nodes, %d values, opset %d\n", g->nnodes, g->nvalues, g->opset);
    for (int i = 0; i < g->ninputs; i++) {
        const sk_value *v = &g->values[g->inputs[i]];
        fprintf(f, "  input  %s %s %s\n", v->name, sk_dtype_name(v->dtype),
                sk_shape_str(&v->shape, sb, sizeof sb));
    }
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        fprintf(f, "  %-20s %-24s (", sk_op_name(n->op), n->name);
        for (int k = 0; k < n->nin; k++)
            fprintf(f, "%s%s", k ? ", " : "", n->in[k] >= 0 ? g->values[n->in[k]].name : "-");
        fprintf(f, ") -> (");
        for (int o = 0; o < n->nout; o++)
            fprintf(f, "%s%s", o ? ", " : "", n->out[o] >= 0 ? g->values[n->out[o]].name : "-");
        fprintf(f, ")\n");
    }
    for (int i = 0; i < g->noutputs; i++) {
        const sk_value *v = &g->values[g->outputs[i]];
        fprintf(f, "  output %s %s %s\n", v->name, sk_dtype_name(v->dtype),
                sk_shape_str(&v->shape, sb, sizeof sb));
    }
}
