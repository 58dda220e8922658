/* qlayout.c — channels-last int8 activations between int8 convolutions
 * (issue 22, session 13).
 *
 * The NHWC int8 conv (kernels/fast_qconv_nhwc.c) reads its input and
 * residual and writes its output in either layout; an NCHW one costs a
 * transpose inside the conv (an edge). This pass gives a value the NHWC
 * layout when every node that touches it runs the NHWC path: its producer
 * and all its readers are packed QLinearConv / _QConvFused nodes with the
 * NHWC kernel (sk_qconv_priv.ig), each reading it as the conv input (slot 0)
 * or the residual (slot 9), and it is not a graph output. The producer then
 * writes it NHWC and its readers read it so (sk_qconv_priv.io_nhwc); the
 * value keeps its NCHW shape, so shape inference and plan memory do not
 * change, and nothing else ever sees its bytes.
 *
 * The rule at the region's edges: anything else (the input of a conv whose
 * C % 4 != 0, padded at its edge; an RGB stem, on the NCHW path; the uint8 MaxPool, _QLut, Concat, Resize, ConvTranspose, the head's DQ, a
 * graph output) stays NCHW and the conv next to it transposes — one pass
 * over the bytes, against the kh*kw copies of the NCHW im2col it replaces,
 * so an edge never costs more than the NCHW conv it sits in.
 *
 * Session 13 (int8e): the 8-bit MaxPool, _QLut and Concat no longer end a
 * region (sk_pass_qlayout below; SKIPSERVE_INT8_JOIN=0 keeps the rule
 * above): a U-Net's encoder conv -> pool -> conv and its skip Concats stay
 * channels-last (kernels/fast_qnhwc.c). A ResNet's stem pool does not: its
 * RGB stem conv runs the NCHW path, so the pool's input is NCHW.
 *
 * Session 14 (u8): the packed _QConvTranspose with an NHWC form joins as a
 * pass-through node (input and output NHWC together: kernels/fast_qconvt.c
 * runs it per tap on the NHWC conv kernel), and the packed QDQ head
 * _QConvDequant reads its input channels-last (its output is float, NCHW).
 *
 * Session 17 (dw8): a depthwise conv on the int8 depthwise kernel
 * (sk_qconv_priv.dwk, kernels/fast_qdwconv.c) is an NHWC conv here like
 * the igemm ones: MobileNet's expand -> depthwise -> project stays
 * channels-last. */
#include <stdlib.h>
#include <string.h>

#include "kernels/fast_qconv.h"
#include "kernels/fast_qconv_dequant.h"
#include "kernels/fast_qconvt.h"
#include "kernels/fast_qnhwc.h"
#include "pass_util.h"

static const sk_qconv_priv *nhwc_conv(const sk_node *n)
{
    if ((n->op != SK_OP_QLINEAR_CONV && n->op != SK_OP_QCONV_FUSED) || !n->priv)
        return NULL;
    const sk_qconv_priv *pv = n->priv;
    return pv->ig.uk || pv->dwk.uk ? pv : NULL; /* session 17: depthwise too */
}

/* every read of v is an NHWC conv's input or residual (and there is one) */
static int nhwc_readers(const sk_graph *g, int v)
{
    int reads = 0;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        for (int k = 0; k < n->nin; k++) {
            if (n->in[k] != v)
                continue;
            const sk_qconv_priv *pv = nhwc_conv(n);
            /* an input of C % 4 != 0 channels is padded by its conv's edge */
            if (!pv || (k != 0 && !(k == 9 && pv->has_res)) || (k == 0 && pv->Cp != pv->Cg))
                return 0;
            reads++;
        }
    }
    return reads > 0;
}

/* the region of session 13 (int8n): convs only (SKIPSERVE_INT8_JOIN=0) */
static int sk_pass_qlayout_convs(sk_pass *p)
{
    sk_graph *g = p->g;
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        if (!nhwc_conv(n) || n->nout != 1 || n->out[0] < 0)
            continue;
        int v = n->out[0];
        if (sk_pass_is_output(g, v) || !nhwc_readers(g, v))
            continue;
        ((sk_qconv_priv *)n->priv)->io_nhwc |= SK_QNHWC_Y;
        for (int ri = 0; ri < g->nnodes; ri++) {
            sk_node *r = &g->nodes[ri];
            for (int k = 0; k < r->nin; k++)
                if (r->in[k] == v)
                    ((sk_qconv_priv *)r->priv)->io_nhwc |= k == 0 ? SK_QNHWC_X : SK_QNHWC_R;
        }
    }
    return 0;
}

/* Session 13 (int8e): the 8-bit MaxPool, _QLut and Concat between NHWC
 * convs join the region instead of being its edges. Node kinds: */
enum { QL_NONE, QL_CONV, QL_POOL, QL_LUT, QL_CAT, QL_HEAD, QL_CONVT, QL_RESIZE };

/* a MaxPool whose every window holds an input whatever the input size
 * (pads < kernel, floor mode, no dilation, explicit pads) and no Indices:
 * fast_qnhwc.c then runs every input it is given */
static int pool_joins(const sk_node *n)
{
    const int64_t *ks, *pads, *dil;
    if (n->nin < 1 || (n->nout > 1 && n->out[1] >= 0) || sk_attr_ints(n, "kernel_shape", &ks) != 2 ||
        sk_attr_int(n, "ceil_mode", 0) != 0)
        return 0;
    const char *ap = sk_attr_str(n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "VALID") != 0)
        return 0;
    int nd = sk_attr_ints(n, "dilations", &dil);
    for (int i = 0; i < nd; i++)
        if (dil[i] != 1)
            return 0;
    int np = sk_attr_ints(n, "pads", &pads);
    if (np >= 0 && np != 4)
        return 0;
    for (int i = 0; i < np; i++)
        if (pads[i] < 0 || pads[i] >= ks[i % 2])
            return 0;
    return ks[0] > 0 && ks[1] > 0;
}

static int convt_joins(void)
{
    const char *e = getenv("SKIPSERVE_INT8_CONVT_NHWC");
    return !(e && strcmp(e, "0") == 0);
}

static int resize_joins(void)
{
#if defined(__x86_64__)
    const char *e = getenv("SKIPSERVE_INT8_RESIZE_NHWC");
    return !(e && strcmp(e, "0") == 0);
#else
    return 0;
#endif
}

static int kind_of(const sk_graph *g, const sk_node *n)
{
    if (nhwc_conv(n))
        return QL_CONV;
    /* the 8-bit ones: qdq.c made them from QDQ patterns; a float MaxPool or
     * Concat never sits between two int8 convs without a Q / DQ */
    if (n->op == SK_OP_MAX_POOL && !n->priv && pool_joins(n))
        return QL_POOL;
    if (n->op == SK_OP_QLUT && n->nin == 2 && n->in[1] >= 0 && sk_pass_is_const(g, n->in[1]))
        return QL_LUT;
    if (n->op == SK_OP_CONCAT && !n->priv && n->nin >= 1 && n->nin <= SK_QNHWC_MAXIN &&
        sk_attr_int(n, "axis", 0) == 1)
        return QL_CAT;
    /* session 14: the packed int8 head reads channels-last input of C % 4
     * == 0 (its panels gather 4-byte groups); its output is float, NCHW */
    /* session 14: the packed _QConvTranspose with an NHWC form reads and
     * writes channels-last (both or neither); SKIPSERVE_INT8_CONVT_NHWC=0
     * keeps it an edge (A/B) */
    if (n->op == SK_OP_QCONV_TRANSPOSE && n->priv && ((const sk_qconvt_priv *)n->priv)->ig.uk &&
        convt_joins())
        return QL_CONVT;
    /* session 15 (qft): the int8 linear Resize passes its layout through
     * as a pool does (kernels/fast_qresize.c reads and writes channels-last
     * on x86-64); SKIPSERVE_INT8_RESIZE_NHWC=0 keeps it an edge (A/B) */
    if (n->op == SK_OP_QRESIZE && !n->priv && resize_joins())
        return QL_RESIZE;
    if (n->op == SK_OP_QCONV_DEQUANT && n->priv &&
        ((const sk_qconvdq_priv *)n->priv)->C % 4 == 0)
        return QL_HEAD;
    return QL_NONE;
}

/* reads of v at slots that take NHWC bytes (and at least one): a conv's
 * input (C % 4 == 0) or residual, a pool's or _QLut's input, any Concat input */
static int nhwc_readers2(const sk_graph *g, const int *kind, int v)
{
    int reads = 0;
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        for (int k = 0; k < n->nin; k++) {
            if (n->in[k] != v)
                continue;
            int ok = 0;
            switch (kind[ni]) {
            case QL_CONV: {
                const sk_qconv_priv *pv = n->priv;
                ok = (k == 0 && pv->Cp == pv->Cg) || (k == 9 && pv->has_res);
                break;
            }
            case QL_POOL:
            case QL_LUT:
            case QL_HEAD:
            case QL_CONVT:
            case QL_RESIZE:
                ok = k == 0;
                break;
            case QL_CAT:
                ok = 1;
                break;
            default:
                break;
            }
            if (!ok)
                return 0;
            reads++;
        }
    }
    return reads > 0;
}

/* SKIPSERVE_INT8_JOIN=0: pools, _QLut and Concats stay the region's edges
 * (A/B timing, bit-identity checks); read at load */
static int sk_qnhwc_joins(void)
{
    const char *e = getenv("SKIPSERVE_INT8_JOIN");
    return !(e && strcmp(e, "0") == 0);
}

static sk_qnhwc_priv *cat_priv(sk_node *n)
{
    if (!n->priv) {
        n->priv = calloc(1, sizeof(sk_qnhwc_priv));
        n->priv_free = free;
    }
    return n->priv;
}

int sk_pass_qlayout(sk_pass *p)
{
    sk_graph *g = p->g;
    if (!sk_qnhwc_joins())
        return sk_pass_qlayout_convs(p);
    int *kind = calloc((size_t)g->nnodes + 1, sizeof(int));
    char *nh = calloc((size_t)g->nvalues + 1, 1);
    if (!kind || !nh) {
        free(kind);
        free(nh);
        return -1;
    }
    for (int ni = 0; ni < g->nnodes; ni++)
        kind[ni] = kind_of(g, &g->nodes[ni]);
    /* candidates: produced (output 0) by such a node, read only NHWC */
    for (int ni = 0; ni < g->nnodes; ni++) {
        const sk_node *n = &g->nodes[ni];
        if (kind[ni] == QL_NONE || kind[ni] == QL_HEAD || n->nout < 1 || n->out[0] < 0)
            continue;
        int v = n->out[0];
        nh[v] = !sk_pass_is_output(g, v) && nhwc_readers2(g, kind, v);
    }
    /* a pool or _QLut passes its layout through: its input and output
     * agree, or both stay NCHW (the conv beside them transposes) */
    for (int changed = 1; changed;) {
        changed = 0;
        for (int ni = 0; ni < g->nnodes; ni++) {
            const sk_node *n = &g->nodes[ni];
            if (kind[ni] != QL_POOL && kind[ni] != QL_LUT && kind[ni] != QL_CONVT &&
                kind[ni] != QL_RESIZE)
                continue;
            int x = n->in[0], y = n->out[0];
            if (x >= 0 && y >= 0 && nh[x] != nh[y]) {
                nh[x] = nh[y] = 0;
                changed = 1;
            }
        }
    }
    for (int ni = 0; ni < g->nnodes; ni++) {
        sk_node *n = &g->nodes[ni];
        int y = n->nout >= 1 ? n->out[0] : -1;
        switch (kind[ni]) {
        case QL_CONV: {
            sk_qconv_priv *pv = n->priv;
            if (y >= 0 && nh[y])
                pv->io_nhwc |= SK_QNHWC_Y;
            if (n->in[0] >= 0 && nh[n->in[0]])
                pv->io_nhwc |= SK_QNHWC_X;
            if (n->nin > 9 && pv->has_res && n->in[9] >= 0 && nh[n->in[9]])
                pv->io_nhwc |= SK_QNHWC_R;
            break;
        }
        case QL_POOL:
        case QL_RESIZE: /* input and output agree (the loop above) */
        case QL_CAT: {
            uint64_t m = y >= 0 && nh[y] ? SK_QNHWC_OUT : 0;
            for (int k = 0; k < n->nin; k++)
                if (n->in[k] >= 0 && nh[n->in[k]])
                    m |= (uint64_t)1 << k;
            if (!m)
                break;
            sk_qnhwc_priv *pv = cat_priv(n);
            if (!pv) {
                free(kind);
                free(nh);
                return -1;
            }
            pv->nhwc = m;
            if (n->op == SK_OP_QRESIZE)
                pv->qrs_off = sk_qrs_switches();
            break;
        }
        case QL_CONVT: /* input and output agree (the loop above) */
            if (y >= 0 && nh[y])
                ((sk_qconvt_priv *)n->priv)->nhwc = 1;
            break;
        case QL_HEAD:
            if (n->in[0] >= 0 && nh[n->in[0]])
                ((sk_qconvdq_priv *)n->priv)->x_nhwc = 1;
            break;
        default: /* _QLut: per byte, any layout */
            break;
        }
    }
    free(kind);
    free(nh);
    return 0;
}
