/* conv_transpose.h — the geometry of a ConvTranspose, shared by the
 * reference kernel (ref/conv_transpose.c) and the fast one (fast_convt.c)
 * so the attribute rules (strides, dilations, pads, output_padding,
 * output_shape, auto_pad, groups) are read and checked in one place. */
#ifndef SK_REF_CONV_TRANSPOSE_H
#define SK_REF_CONV_TRANSPOSE_H

#include "nn_util.h"

typedef struct sk_convt_geom {
    int64_t N, C, M, group, Cg, Mg;
    int64_t Pin;  /* input pixels per channel */
    int64_t Rows; /* column-matrix rows: Mg * kernel volume */
    sk_win w;     /* in = X's spatial dims, out = Y's; pads may be negative */
    sk_shape out;
} sk_convt_geom;

/* 0, or an error through ctx (sk_nn_quiet_ctx() to only test). Guarantees
 * sizes that do not overflow and Rows, Pin, Cg <= INT_MAX. */
int sk_convt_geometry(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_kctx *ctx, sk_convt_geom *g);

#endif
