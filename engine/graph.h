/* graph.h — the engine's own graph IR.
 *
 * Values are numbered; a node lists the value ids it reads and writes (-1 for
 * an omitted optional input). Constants (initializers, folded values) carry
 * their data. The graph owns every string, attribute and constant it holds,
 * except data borrowed from an mmap'ed external-data file, which it unmaps
 * when freed. */
#ifndef SK_GRAPH_H
#define SK_GRAPH_H

#include "ops.h"
#include "sk.h"

typedef enum {
    SK_ATTR_INT,
    SK_ATTR_FLOAT,
    SK_ATTR_STRING,
    SK_ATTR_INTS,
    SK_ATTR_FLOATS,
    SK_ATTR_TENSOR,
} sk_attr_type;

typedef struct sk_attr {
    char *name;
    sk_attr_type type;
    int64_t i;
    float f;
    char *s;
    int n; /* element count of ints / floats */
    int64_t *ints;
    float *floats;
    sk_tensor t; /* SK_ATTR_TENSOR: data owned by the attribute */
} sk_attr;

typedef struct sk_node {
    sk_op op;
    char *name;
    int opset; /* opset of the node's domain, for ops whose meaning changed */
    int nin, nout;
    int *in;  /* value ids, -1 = omitted optional input */
    int *out; /* value ids */
    int nattr;
    sk_attr *attr;
    /* Load-time state shared read-only by every plan (e.g. weights packed
     * for a fast kernel); freed with priv_free when the graph is freed. */
    void *priv;
    void (*priv_free)(void *);
} sk_node;

typedef struct sk_value {
    char *name;
    sk_dtype dtype;
    sk_shape shape;  /* declared; dims may be SK_DIM_SYMBOLIC; rank -1 = unknown */
    void *data;      /* non-NULL for a constant */
    int data_owned;  /* 1: sk_free(data) on graph free; 0: borrowed (mmap) */
    int producer;    /* node index, -1 for inputs and constants */
    int released;    /* a constant whose data the packer freed: its one reader
                        runs on packed weights (passes/prepack.c); data NULL */
} sk_value;

/* A constant: it has data, or had it until the packer released it. */
static inline int sk_value_is_const(const sk_value *v) { return v->data != NULL || v->released; }

typedef struct sk_mapping {
    void *addr;
    size_t len;
} sk_mapping;

typedef struct sk_graph {
    sk_value *values;
    int nvalues, cap_values;
    sk_node *nodes;
    int nnodes, cap_nodes;
    int *inputs; /* runtime inputs (initializers excluded) */
    int ninputs;
    int *outputs;
    int noutputs;
    int opset; /* default-domain opset of the model */
    sk_mapping *maps;
    int nmaps;
} sk_graph;

/* Input `slot` of node n as a constant, for the weight packers: the value,
 * or NULL when the slot is absent; an input present without data (not a
 * constant, or released) clears *ok. */
static inline const sk_value *sk_const_in(const sk_graph *g, const sk_node *n, int slot, int *ok)
{
    int v = slot < n->nin ? n->in[slot] : -1;
    if (v < 0)
        return NULL;
    if (!g->values[v].data)
        *ok = 0;
    return &g->values[v];
}

sk_graph *sk_graph_new(void);
void sk_graph_free(sk_graph *g);

/* Value by name, created if absent. Returns the id or a negative code. */
int sk_graph_value(sk_graph *g, const char *name);
int sk_graph_find(const sk_graph *g, const char *name); /* -1 when absent */

/* Set a value's constant data. owned=1: the graph frees it with sk_free. */
int sk_graph_set_const(sk_graph *g, int id, sk_dtype dt, const sk_shape *s, void *data,
                       int owned);
/* Copy `data` into a new owned constant value named `name` (a unique name is
 * made when name is NULL or already names a value: never an existing one).
 * Returns the id. */
int sk_graph_add_const(sk_graph *g, const char *name, sk_dtype dt, const sk_shape *s,
                       const void *data);

int sk_graph_add_input(sk_graph *g, int id);
int sk_graph_add_output(sk_graph *g, int id);
/* Remember an mmap to unmap on free. */
int sk_graph_add_mapping(sk_graph *g, void *addr, size_t len);
/* After the packing: unmap each mapping no constant points into any more;
 * drop the resident pages of the others (MADV_DONTNEED: a private
 * read-only file mapping reads them back from the file when a borrowed
 * constant is read again). The file pages the packer read stop counting
 * in the resident set. */
void sk_graph_release_mappings(sk_graph *g);

/* Append a node; copies name and id arrays. Returns its index or < 0. */
int sk_graph_add_node(sk_graph *g, sk_op op, const char *name, int nin, const int *in,
                      int nout, const int *out);
/* Add an attribute to node `ni` (strings/arrays are copied). */
int sk_node_set_int(sk_graph *g, int ni, const char *name, int64_t v);
int sk_node_set_float(sk_graph *g, int ni, const char *name, float v);
int sk_node_set_string(sk_graph *g, int ni, const char *name, const char *v);
int sk_node_set_ints(sk_graph *g, int ni, const char *name, const int64_t *v, int n);
int sk_node_set_floats(sk_graph *g, int ni, const char *name, const float *v, int n);
int sk_node_set_tensor(sk_graph *g, int ni, const char *name, const sk_tensor *t);
/* Replace input slot `slot` of node ni (grows the input list with -1s). */
int sk_node_set_input(sk_graph *g, int ni, int slot, int value_id);
void sk_node_remove_attr(sk_graph *g, int ni, const char *name);

/* Attribute lookup for kernels. */
const sk_attr *sk_attr_find(const sk_node *n, const char *name);
int64_t sk_attr_int(const sk_node *n, const char *name, int64_t def);
float sk_attr_float(const sk_node *n, const char *name, float def);
const char *sk_attr_str(const sk_node *n, const char *name, const char *def);
/* Number of ints (and *v set), or -1 when absent. */
int sk_attr_ints(const sk_node *n, const char *name, const int64_t **v);
int sk_attr_floats(const sk_node *n, const char *name, const float **v);

/* Fill producer links and check the graph: every input defined (by a graph
 * input, a constant or an earlier/other node), no value produced twice, no
 * cycle, outputs defined. Orders g->nodes topologically. */
int sk_graph_validate(sk_graph *g, char *err, size_t errlen);

/* Drop nodes whose outputs no graph output needs. Returns how many. */
int sk_graph_eliminate_dead(sk_graph *g);

/* One line per node: op, name, input -> output names with shapes. */
void sk_graph_dump(const sk_graph *g, FILE *f);

#endif
