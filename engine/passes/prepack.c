/* prepack.c — pack the weights of every fused node into the GEMM panel
 * layout of the active ISA level, once, into sk_node.priv. Nothing is packed
 * at the scalar level (the reference kernels read W as it is). */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels/fast.h"
#include "pass_util.h"

static int all_ones(const sk_node *n, const char *name)
{
    const int64_t *v;
    int nv = sk_attr_ints(n, name, &v);
    for (int i = 0; i < nv; i++)
        if (v[i] != 1)
            return 0;
    return 1;
}

/* Winograd F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped convs with
 * at least 32 input and output channels: below that its transforms cost
 * more than the multiplies it saves (measured per layer shape in
 * bench/RESULTS.md: 16 -> 16 channels at 256x256 is 12% slower, 32 -> 32
 * 30% faster; every ResNet / U-Net shape from 7x7 to 256x256 with >= 32
 * channels is faster). SKIPSERVE_WINOGRAD=0 turns it off (A/B
 * measurements, or results that must not depend on it);
 * SKIPSERVE_WINOGRAD=force drops the channel threshold (tests). */
#define WINO_MIN_CHANNELS 32
static int use_winograd(const sk_node *n, const sk_value *w, int64_t group)
{
    const char *env = getenv("SKIPSERVE_WINOGRAD");
    if (env && !strcmp(env, "0"))
        return 0;
    if (w->shape.rank != 4 || w->shape.dim[2] != 3 || w->shape.dim[3] != 3 || group != 1 ||
        !all_ones(n, "strides") || !all_ones(n, "dilations"))
        return 0;
    if (env && !strcmp(env, "force"))
        return 1;
    return w->shape.dim[0] >= WINO_MIN_CHANNELS && w->shape.dim[1] >= WINO_MIN_CHANNELS;
}

static int pack_conv(sk_pass *p, sk_node *n, const sk_gemm_cfg *cfg)
{
    const sk_graph *g = p->g;
    const sk_value *w = &g->values[n->in[1]];
    int64_t M = w->shape.dim[0], Cg = w->shape.dim[1], kvol = 1;
    for (int i = 2; i < w->shape.rank; i++)
        kvol *= w->shape.dim[i];
    int64_t group = sk_attr_int(n, "group", 1);
    if (group < 1 || M % group || Cg * kvol > (1 << 30) || M > (1 << 30))
        return 0; /* the reference kernel reports what is wrong */
    sk_conv_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return SK_ENOMEM;
    pv->kind = SK_CONV_GEMM;
    pv->cfg = cfg;
    int64_t Mg = M / group, K = Cg * kvol;
    int rc = 0;
    if (w->shape.rank == 4 && Cg == 1 && group == M) {
        /* depthwise: the direct kernel reads W as it is */
        pv->kind = SK_CONV_DEPTHWISE;
    } else if (use_winograd(n, w, group)) {
        pv->kind = SK_CONV_WINOGRAD;
        rc = sk_wino_pack(cfg, w->data, (int)M, (int)Cg, &pv->w);
    } else {
        rc = sk_gemm_pack_a(cfg, w->data, (size_t)K, (int)Mg, (int)K, (int)group, 1.0f, &pv->w);
    }
    if (rc) {
        free(pv);
        return SK_ENOMEM;
    }
    n->priv = pv;
    n->priv_free = sk_conv_priv_free;
    p->npacked++;
    return 0;
}

static int pack_gemm(sk_pass *p, sk_node *n, const sk_gemm_cfg *cfg)
{
    const sk_graph *g = p->g;
    const sk_value *b = &g->values[n->in[1]];
    int tb = sk_attr_int(n, "transB", 0) != 0;
    int64_t K = b->shape.dim[tb ? 1 : 0], N = b->shape.dim[tb ? 0 : 1];
    if (K > (1 << 30) || N > (1 << 30))
        return 0;
    float alpha = sk_attr_float(n, "alpha", 1.0f), beta = sk_attr_float(n, "beta", 1.0f);
    sk_gemm_priv *pv = calloc(1, sizeof *pv);
    if (!pv)
        return SK_ENOMEM;
    pv->cfg = cfg;
    /* B'(k, n) = B[k][n], or B[n][k] when transposed */
    size_t sk = tb ? 1 : (size_t)N, sn = tb ? (size_t)K : 1;
    if (sk_gemm_pack_b(cfg, b->data, sk, sn, (int)K, (int)N, alpha, &pv->w)) {
        free(pv);
        return SK_ENOMEM;
    }
    int cv = n->nin > 2 ? n->in[2] : -1;
    if (cv >= 0) {
        const float *c = g->values[cv].data;
        int64_t cn = sk_shape_numel(&g->values[cv].shape);
        pv->bias = sk_alloc(sizeof(float) * (size_t)(N > 0 ? N : 1));
        if (!pv->bias) {
            sk_gemm_priv_free(pv);
            return SK_ENOMEM;
        }
        for (int64_t j = 0; j < N; j++)
            pv->bias[j] = beta * c[cn == 1 ? 0 : j];
    }
    n->priv = pv;
    n->priv_free = sk_gemm_priv_free;
    p->npacked++;
    return 0;
}

/* ConvTranspose W [C, M, kh, kw]: A = W^T, row (m, kh, kw), column c. */
static int pack_convt(sk_pass *p, sk_node *n, const sk_gemm_cfg *cfg)
{
    const sk_value *w = &p->g->values[n->in[1]];
    if (!sk_fast_convt_supported(n, &w->shape))
        return 0;
    int64_t C = w->shape.dim[0], R = w->shape.dim[1] * w->shape.dim[2] * w->shape.dim[3];
    if (C > (1 << 30) || R > (1 << 30))
        return 0;
    float *t = malloc(sizeof(float) * (size_t)(C * R > 0 ? C * R : 1));
    sk_conv_priv *pv = calloc(1, sizeof *pv);
    if (!t || !pv) {
        free(t);
        free(pv);
        return SK_ENOMEM;
    }
    const float *src = w->data;
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            t[r * C + c] = src[c * R + r];
    pv->kind = SK_CONV_GEMM;
    pv->cfg = cfg;
    int rc = sk_gemm_pack_a(cfg, t, (size_t)C, (int)R, (int)C, 1, 1.0f, &pv->w);
    free(t);
    if (rc) {
        free(pv);
        return SK_ENOMEM;
    }
    n->priv = pv;
    n->priv_free = sk_convt_priv_free;
    p->npacked++;
    return 0;
}

int sk_pass_prepack(sk_pass *p)
{
    const sk_gemm_cfg *cfg = sk_gemm_config(sk_cpu_level());
    if (!cfg)
        return 0;
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        int rc = 0;
        if (n->priv || n->nin < 2 || !sk_pass_is_const(g, n->in[1]))
            continue;
        if (n->op == SK_OP_CONV_FUSED)
            rc = pack_conv(p, n, cfg);
        else if (n->op == SK_OP_GEMM_FUSED)
            rc = pack_gemm(p, n, cfg);
        else if (n->op == SK_OP_CONV_TRANSPOSE && !sk_pass_is_const(g, n->in[0]))
            rc = pack_convt(p, n, cfg);
        if (rc < 0)
            return sk_errf(p->err, p->errlen, rc, "out of memory packing the weights of '%s'",
                           n->name);
    }
    return 0;
}
