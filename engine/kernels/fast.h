/* fast.h — load-time state of the fused ops (sk_node.priv, built by
 * engine/passes/ and read-only afterwards) and the fast kernels dispatch.c
 * picks for them.
 *
 * Fused ops (ops.h SK_OPS_FUSED), created only by passes:
 *   _ConvFused (X, W, B?, R?) -> Y
 *       Conv attributes, plus "activation" ("Relu" | "Clip"), "act_min",
 *       "act_max" and, when an Add was merged, "fused_add" (its node name).
 *       Y = clamp(Conv(X, W, B) + R, act_min, act_max).
 *   _GemmFused (A, B, C?, R?) -> Y
 *       Gemm attributes plus the same activation attributes.
 * The fast kernels pack their activation operand into sk_kctx.scratch,
 * which the plan reserves from sk_dispatch_scratch (dispatch.c), so a run
 * allocates nothing. */
#ifndef SK_KERNELS_FAST_H
#define SK_KERNELS_FAST_H

#include "gemm.h"
#include "graph.h"
#include "ops.h"

typedef enum { SK_CONV_GEMM = 1 } sk_conv_kind;

typedef struct sk_conv_priv {
    sk_conv_kind kind;
    const sk_gemm_cfg *cfg;
    sk_gemm_packed_a w; /* Mg x (Cg * kernel volume) per group */
} sk_conv_priv;

typedef struct sk_gemm_priv {
    const sk_gemm_cfg *cfg;
    sk_gemm_packed_b w; /* alpha * B', K x N */
    float *bias;        /* beta * C broadcast to N values, or NULL */
} sk_gemm_priv;

void sk_conv_priv_free(void *p);
void sk_gemm_priv_free(void *p);

/* Clamp bounds of a fused node (-inf, +inf when it has no activation). */
void sk_fused_act(const sk_node *n, float *lo, float *hi);

/* Floats of per-run scratch the fast kernel of n needs with `nthreads`
 * threads (0 when n has no priv). */
size_t sk_fused_scratch_floats(const sk_node *n, int nthreads);
/* Bytes of scratch the reference kernel of a fused node needs. */
size_t sk_ref_scratch_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                            const sk_tensor *out, int nout, int nthreads);

int sk_fast_run_conv_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx);
/* ConvTranspose, 2-D, group 1, explicit pads (priv: W^T packed as A,
 * (M * kh * kw) x C); scratch: the GEMM's plus one image's columns. */
int sk_fast_convt_supported(const sk_node *n, const sk_shape *w);
size_t sk_fast_convt_scratch_floats(const sk_node *n, const sk_tensor *const *in,
                                    const sk_tensor *out, int nthreads);
int sk_fast_run_conv_transpose(const sk_node *n, const sk_tensor *const *in, int nin,
                               sk_tensor *out, int nout, sk_kctx *ctx);
void sk_convt_priv_free(void *p);

int sk_fast_run_gemm_fused(const sk_node *n, const sk_tensor *const *in, int nin,
                           sk_tensor *out, int nout, sk_kctx *ctx);

#endif
