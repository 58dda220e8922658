/* fast_qnhwc.h — the 8-bit MaxPool and Concat on channels-last values
 * (issue 22, session 13; passes/qlayout.c decides which values are NHWC). */
#ifndef SK_FAST_QNHWC_H
#define SK_FAST_QNHWC_H

#include <stdint.h>

#include "kernels/ref/nn_util.h"
#include "ops.h"

/* n->priv of a MaxPool / Concat that passes/qlayout.c put in an NHWC
 * region: bit i of `nhwc` = input i lies NHWC in memory (its shape stays
 * NCHW), SK_QNHWC_OUT = the output does. A MaxPool has both or neither;
 * a Concat may mix (an NCHW input is transposed while it is copied). */
typedef struct sk_qnhwc_priv {
    uint64_t nhwc;
    uint32_t qrs_off; /* a _QResize's A/B switches, SK_QRS_OFF_*, read at load */
} sk_qnhwc_priv;
#define SK_QNHWC_OUT ((uint64_t)1 << 63)
#define SK_QNHWC_MAXIN 63
/* SKIPSERVE_INT8_RESIZE_ROWS=0: no row cache; SKIPSERVE_INT8_RESIZE_MADD=0:
 * session 15's pixel kernel (and no row cache). Read once when the pass
 * marks the node (sk_qrs_switches, fast_qresize.c), not per run: a getenv
 * per run raced with tests' setenv and could change between plan and run */
#define SK_QRS_OFF_ROWS 1u
#define SK_QRS_OFF_MADD 2u
uint32_t sk_qrs_switches(void);

int sk_fast_run_max_pool_nhwc(const sk_node *n, const sk_tensor *const *in, int nin,
                              sk_tensor *out, int nout, sk_kctx *ctx);
int sk_fast_run_concat_nhwc(const sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx);

/* fast_qpool.c: the window of a 2-D 8-bit MaxPool when every window holds
 * an input (else 0) */
int sk_qpool_geometry(const sk_node *n, const sk_tensor *const *in, int nin, int nout,
                      sk_win *w);

#endif
