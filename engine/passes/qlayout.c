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
 * so an edge never costs more than the NCHW conv it sits in. */
#include "kernels/fast_qconv.h"
#include "pass_util.h"

static const sk_qconv_priv *nhwc_conv(const sk_node *n)
{
    if ((n->op != SK_OP_QLINEAR_CONV && n->op != SK_OP_QCONV_FUSED) || !n->priv)
        return NULL;
    const sk_qconv_priv *pv = n->priv;
    return pv->ig.uk ? pv : NULL;
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

int sk_pass_qlayout(sk_pass *p)
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
