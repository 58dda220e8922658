/* passes.c — sk_graph_optimize and the helpers the passes share. */
#include "passes.h"

#include <stdio.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string.h>

#include "ops.h"
#include "pass_util.h"

int sk_pass_is_const(const sk_graph *g, int v)
{
    return v >= 0 && v < g->nvalues && g->values[v].data != NULL;
}

int sk_pass_is_output(const sk_graph *g, int v)
{
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == v)
            return 1;
    return 0;
}

void sk_pass_drop_unused(sk_graph *g, int v)
{
    if (v < 0 || !g->values[v].data || sk_pass_uses(g, v, NULL))
        return;
    if (g->values[v].data_owned)
        sk_free(g->values[v].data);
    g->values[v].data = NULL; /* borrowed (a mapping): let go */
    g->values[v].data_owned = 0;
}

void sk_pass_release_weight(sk_graph *g, int ni, int k)
{
    const sk_node *n = &g->nodes[ni];
    int v = k < n->nin ? n->in[k] : -1, only = -1;
    const char *keep = getenv("SKIPSERVE_KEEP_WEIGHTS");
    if ((keep && strcmp(keep, "0") != 0) || v < 0 || !g->values[v].data ||
        sk_pass_is_output(g, v) || sk_pass_uses(g, v, &only) != 1 || only != ni)
        return;
    int64_t numel = sk_shape_numel(&g->values[v].shape);
    size_t bytes = numel > 0 ? (size_t)numel * sk_dtype_size(g->values[v].dtype) : 0;
    int owned = g->values[v].data_owned;
    if (owned)
        sk_free(g->values[v].data);
    g->values[v].data = NULL; /* borrowed from a mapping: let go */
    g->values[v].data_owned = 0;
    g->values[v].released = 1;
#if defined(__GLIBC__)
    /* session 20 (hp): the packed weights no longer reuse the heap space
     * the raw ones free (sk_alloc_weights maps blocks of its own), so give
     * that space back as it is freed: ResNet-101 QDQ peaked 66 -> 83 MiB
     * without this, 55 with it. Weights of 256 KiB and more only (a trim
     * walks the heap and locks every arena: ~1-2 ms, so once per 8 MiB of
     * such weights freed, not per weight — the review of hp) */
    static size_t untrimmed; /* loads run one at a time (the repository thread) */
    if (owned && bytes >= ((size_t)256 << 10) && (untrimmed += bytes) >= ((size_t)8 << 20)) {
        untrimmed = 0;
        malloc_trim(0);
    }
#endif
}

int sk_pass_uses(const sk_graph *g, int v, int *only)
{
    int uses = 0, who = -1;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] == v) {
                uses++;
                who = ni;
            }
    }
    for (int i = 0; i < g->noutputs; i++)
        if (g->outputs[i] == v) {
            uses++;
            who = -1;
        }
    if (only)
        *only = uses == 1 ? who : -1;
    return uses;
}

int sk_pass_kill(sk_pass *p, int ni)
{
    sk_graph *g = p->g;
    for (int k = 0; k < g->nodes[ni].nin; k++)
        g->nodes[ni].in[k] = -1;
    for (int o = 0; o < g->nodes[ni].nout; o++) {
        if (g->nodes[ni].out[o] < 0)
            continue;
        char name[48];
        int id;
        do {
            snprintf(name, sizeof name, "_fused_away%d", p->fresh++);
        } while (sk_graph_find(g, name) >= 0);
        if ((id = sk_graph_value(g, name)) < 0)
            return id;
        g->nodes[ni].out[o] = id;
    }
    return 0;
}

/* ---- driver -------------------------------------------------------------- */

/* Free constants nothing reads any more (the originals of folded weights). */
static void free_unused_consts(sk_graph *g)
{
    char *used = calloc((size_t)g->nvalues + 1, 1);
    if (!used)
        return;
    for (int ni = 0; ni < g->nnodes; ni++)
        for (int k = 0; k < g->nodes[ni].nin; k++)
            if (g->nodes[ni].in[k] >= 0)
                used[g->nodes[ni].in[k]] = 1;
    for (int i = 0; i < g->noutputs; i++)
        used[g->outputs[i]] = 1;
    for (int v = 0; v < g->nvalues; v++) {
        sk_value *val = &g->values[v];
        if (!used[v] && val->data) {
            if (val->data_owned)
                sk_free(val->data);
            val->data = NULL; /* borrowed from a mapping: let go */
            val->data_owned = 0;
        }
    }
    free(used);
}

/* p->shape[0..1] of the graph as it is now (both shape walks). */
static int walk_shapes(sk_pass *p)
{
    for (int i = 0; i < 2; i++) {
        free(p->shape[i]);
        p->shape[i] = malloc(sizeof(sk_shape) * ((size_t)p->g->nvalues + 1));
        int rc = p->shape[i] ? sk_pass_shapes(p->g, i, p->shape[i]) : SK_ENOMEM;
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory optimizing the graph");
    }
    return 0;
}

int sk_graph_optimize(sk_graph *g, int level, char *err, size_t errlen)
{
    sk_load_opts o = {.level = level, .precision = SK_PREC_FP32};
    return sk_graph_optimize_opts(g, &o, err, errlen);
}

const char *sk_precision_name(sk_precision p) { return p == SK_PREC_BF16 ? "bf16" : "fp32"; }

int sk_graph_optimize_opts(sk_graph *g, sk_load_opts *opts, char *err, size_t errlen)
{
    int level = opts->level;
    opts->bf16_convs = 0;
    opts->bf16_form_convs = 0;
    if (level <= 0)
        return 0;
    int rc = sk_graph_validate(g, err, errlen);
    if (rc < 0)
        return rc;
    sk_pass p;
    memset(&p, 0, sizeof p);
    p.g = g;
    p.err = err;
    p.errlen = errlen;
    p.precision = opts->precision == SK_PREC_BF16 && sk_bf16_available() ? SK_PREC_BF16
                                                                          : SK_PREC_FP32;
    /* QDQ convolutions become QLinearConv before fold.c turns their int8
     * weights into float32; the DequantizeLinear nodes left unread go */
    if ((rc = sk_pass_qdq(&p)) < 0)
        goto out;
    sk_graph_eliminate_dead(g);
    if ((rc = sk_pass_fold(&p)) < 0)
        goto out;
    sk_graph_eliminate_dead(g);
    if ((rc = sk_graph_validate(g, err, errlen)) < 0)
        goto out;
    if ((rc = walk_shapes(&p)) < 0)
        goto out;
    if ((rc = sk_pass_fuse(&p)) < 0)
        goto out;
    if ((rc = sk_pass_qfuse(&p)) < 0)
        goto out;
    if ((rc = sk_pass_fuse_irblock(&p)) < 0) /* needs fuse.c's _ConvFused nodes */
        goto out;
    /* fused nodes now read their residuals: re-sort, drop the merged nodes */
    if ((rc = sk_graph_validate(g, err, errlen)) < 0)
        goto out;
    sk_graph_eliminate_dead(g);
    if ((rc = sk_graph_validate(g, err, errlen)) < 0)
        goto out;
    /* the packer picks conv strategies by output size: shapes of the
     * rewritten graph */
    if ((rc = walk_shapes(&p)) < 0)
        goto out;
    if ((rc = sk_pass_prepack(&p)) < 0)
        goto out;
    opts->bf16_convs = p.nbf16;
    opts->bf16_form_convs = p.nbf16_form;
    if ((rc = sk_pass_qpack(&p)) < 0)
        goto out;
    if ((rc = sk_pass_qlayout(&p)) < 0)
        goto out;
    free_unused_consts(g);
    sk_graph_release_mappings(g);
#if defined(__GLIBC__)
    /* give the freed raw weights back to the system: the large ones were
     * mmap'ed and are gone already, the rest sit free in malloc's heap */
    malloc_trim(0);
#endif
out:
    free(p.shape[0]);
    free(p.shape[1]);
    return rc;
}
