/* ops.h — the op enum and the per-op function table.
 *
 * Every op is one X-macro row: X(ENUM, "OnnxName", fn, scratch, fast, inplace).
 *   fn       declares
 *              int sk_infer_<fn>(const sk_node *, const sk_tensor *const *in,
 *                                int nin, sk_tensor *out, int nout, sk_kctx *ctx);
 *              int sk_run_<fn>  (same signature; out[i].data is allocated);
 *   scratch  the work buffer of the reference kernel: sk_ref_scratch_<scratch>
 *            (kernels/ref/nn_util.h, fast.h for `fused`), or none;
 *   fast     the fast kernel family dispatch picks above the scalar level:
 *            sk_fast_run_<fast> / sk_fast_plan_<fast> (kernels/fast_ops.h),
 *            or none (nodes with weights packed at load are routed first,
 *            dispatch.c);
 *   inplace  how many leading inputs the output may overwrite as the kernel
 *            goes (element i of the output depends only on element i of
 *            that input): 1 for unary element-wise ops, 2 for Add / Sub /
 *            Mul / Div, 0 otherwise; the plan then lets the output take a
 *            dying input's buffer (plan.c).
 * The table (ops.c) holds all of them, so dispatch and the scratch sizing
 * read a row instead of switching on ops. The rows live in the per-family
 * lists below so each kernel file owns its list. Kernels see the canonical (newest-opset) form of each op; the ONNX
 * loader rewrites older forms (attributes that became inputs) before that:
 *   Clip(X, min?, max?); Split(X, split?) attr axis; Squeeze/Unsqueeze(X, axes?);
 *   ReduceMean/Sum/Max(X, axes?) attrs keepdims, noop_with_empty_axes;
 *   Pad(X, pads, constant_value?, axes?) attr mode; Upsample -> Resize;
 *   Resize(X, roi?, scales?, sizes?); Dropout(X, ratio?, training_mode?).
 * Where semantics (not just placement) changed, the kernel reads
 * node->opset (Softmax/LogSoftmax < 13 coerce to 2-D, Resize 10).
 *
 * infer: `in[i]` is NULL for an omitted optional input; in[i]->data is
 * non-NULL when the value is known at plan time (a constant). Fill
 * out[j].dtype and out[j].shape. Return SK_ENEEDVALUE when a shape depends on
 * an input whose value is not known.
 * run: compute out from in. Both return 0 or a negative SK_E* code, with a
 * message written through sk_kfail(). */
#ifndef SK_OPS_H
#define SK_OPS_H

#include "sk.h"

struct sk_node;
struct sk_pool;
struct sk_kconfig;

/* Per-call context handed to kernels. */
typedef struct sk_kctx {
    char *err;
    size_t errlen;
    struct sk_pool *pool; /* thread pool (threadpool.h); NULL = run serially */
    /* Scratch for this step (e.g. an im2col buffer), 64-byte aligned, of the
     * size sk_dispatch_scratch() asked for at plan time; shared by all steps
     * of a plan (one step runs at a time), so never kept across calls. */
    void *scratch;
    size_t scratch_bytes;
    /* The kernels of the plan's ISA level (kernels/config.h), NULL at the
     * scalar level: fast kernels run what this holds and never look a
     * level up themselves; with NULL they run the reference. */
    const struct sk_kconfig *kcfg;
} sk_kctx;

/* Write a message prefixed with the node's op and name; returns code. */
int sk_kfail(sk_kctx *ctx, const struct sk_node *n, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Neural-network ops: engine/kernels/ref/{conv,pool,gemm,norm,resize,pad}.c */
#define SK_OPS_NN(X)                                                                      \
    X(CONV, "Conv", conv, conv, none, 0)                                                  \
    X(CONV_TRANSPOSE, "ConvTranspose", conv_transpose, conv_transpose, conv_transpose, 0) \
    X(MAX_POOL, "MaxPool", max_pool, none, max_pool, 0)                                   \
    X(AVERAGE_POOL, "AveragePool", average_pool, none, average_pool, 0)                   \
    X(GLOBAL_AVERAGE_POOL, "GlobalAveragePool", global_avg_pool, none, global_pool, 0)    \
    X(GLOBAL_MAX_POOL, "GlobalMaxPool", global_max_pool, none, global_pool, 0)            \
    X(GEMM, "Gemm", gemm, gemm, gemm, 0)                                                  \
    X(MATMUL, "MatMul", matmul, none, matmul, 0)                                          \
    X(BATCH_NORM, "BatchNormalization", batch_norm, none, none, 0)                        \
    X(LAYER_NORM, "LayerNormalization", layer_norm, layer_norm, layer_norm, 0)            \
    X(SOFTMAX, "Softmax", softmax, none, softmax, 0)                                      \
    X(LOG_SOFTMAX, "LogSoftmax", log_softmax, none, softmax, 0)                           \
    X(RESIZE, "Resize", resize, resize, resize, 0)                                        \
    X(PAD, "Pad", pad, pad, none, 0)

/* Element-wise ops: engine/kernels/ref/{unary,binary}.c */
#define SK_OPS_ELEMENTWISE(X)                                   \
    X(RELU, "Relu", relu, none, unary, 1)                       \
    X(LEAKY_RELU, "LeakyRelu", leaky_relu, none, none, 1)       \
    X(PRELU, "PRelu", prelu, none, none, 0)                     \
    X(CLIP, "Clip", clip, none, unary, 1)                       \
    X(SIGMOID, "Sigmoid", sigmoid, none, unary, 1)              \
    X(HARD_SIGMOID, "HardSigmoid", hard_sigmoid, none, none, 1) \
    X(HARD_SWISH, "HardSwish", hard_swish, none, none, 1)       \
    X(TANH, "Tanh", tanh, none, unary, 1)                       \
    X(ELU, "Elu", elu, none, none, 1)                           \
    X(SELU, "Selu", selu, none, none, 1)                        \
    X(SOFTPLUS, "Softplus", softplus, none, none, 1)            \
    X(ERF, "Erf", erf, none, unary, 1)                          \
    X(EXP, "Exp", exp, none, none, 1)                           \
    X(LOG, "Log", log, none, none, 1)                           \
    X(SQRT, "Sqrt", sqrt, none, none, 1)                        \
    X(POW, "Pow", pow, none, none, 0)                           \
    X(NEG, "Neg", neg, none, none, 1)                           \
    X(ABS, "Abs", abs, none, none, 1)                           \
    X(RECIPROCAL, "Reciprocal", reciprocal, none, none, 1)      \
    X(ADD, "Add", add, none, binary, 2)                         \
    X(SUB, "Sub", sub, none, binary, 2)                         \
    X(MUL, "Mul", mul, none, binary, 2)                         \
    X(DIV, "Div", div, none, binary, 2)                         \
    X(SUM, "Sum", sum, none, none, 0)                           \
    X(MAX, "Max", max, none, none, 0)                           \
    X(MIN, "Min", min, none, none, 0)                           \
    X(MEAN, "Mean", mean, none, none, 0)                        \
    X(EQUAL, "Equal", equal, none, none, 0)                     \
    X(WHERE, "Where", where, none, none, 0)

/* Shape and data-movement ops: engine/kernels/ref/{shape,reduce}.c */
#define SK_OPS_SHAPE(X)                                                       \
    X(FLATTEN, "Flatten", flatten, none, none, 0)                             \
    X(RESHAPE, "Reshape", reshape, none, none, 0)                             \
    X(TRANSPOSE, "Transpose", transpose, none, transpose, 0)                  \
    X(CONCAT, "Concat", concat, none, concat, 0)                              \
    X(SPLIT, "Split", split, none, none, 0)                                   \
    X(SLICE, "Slice", slice, none, none, 0)                                   \
    X(SQUEEZE, "Squeeze", squeeze, none, none, 0)                             \
    X(UNSQUEEZE, "Unsqueeze", unsqueeze, none, none, 0)                       \
    X(GATHER, "Gather", gather, none, none, 0)                                \
    X(EXPAND, "Expand", expand, none, none, 0)                                \
    X(SHAPE, "Shape", shape, none, none, 0)                                   \
    X(CONSTANT_OF_SHAPE, "ConstantOfShape", constant_of_shape, none, none, 0) \
    X(IDENTITY, "Identity", identity, none, none, 0)                          \
    X(DROPOUT, "Dropout", dropout, none, none, 0)                             \
    X(CAST, "Cast", cast, none, none, 0)                                      \
    X(CAST_LIKE, "CastLike", cast_like, none, none, 0)                        \
    X(REDUCE_MEAN, "ReduceMean", reduce_mean, none, none, 0)                  \
    X(REDUCE_SUM, "ReduceSum", reduce_sum, none, none, 0)                     \
    X(REDUCE_MAX, "ReduceMax", reduce_max, none, none, 0)

/* Quantization and integer ops: engine/kernels/ref/{quant,qlinear}.c */
#define SK_OPS_QUANT(X)                                                                         \
    X(QUANTIZE_LINEAR, "QuantizeLinear", quantize_linear, none, quantize, 0)                      \
    X(DEQUANTIZE_LINEAR, "DequantizeLinear", dequantize_linear, none, dequantize, 0)                \
    X(DYNAMIC_QUANTIZE_LINEAR, "DynamicQuantizeLinear", dynamic_quantize_linear, none, none, 0) \
    X(CONV_INTEGER, "ConvInteger", conv_integer, none, none, 0)                                 \
    X(QLINEAR_CONV, "QLinearConv", qlinear_conv, qlinear_conv, none, 0)                         \
    X(MATMUL_INTEGER, "MatMulInteger", matmul_integer, none, none, 0)                           \
    X(QLINEAR_MATMUL, "QLinearMatMul", qlinear_matmul, qlinear_matmul, none, 0)

/* com.microsoft ops onnxruntime's quantizer writes (the loader accepts them
 * in that domain only: sk_op_domain): engine/kernels/ref/qlinear_ms.c */
#define SK_OPS_MS(X)                                                                              \
    X(QLINEAR_ADD, "QLinearAdd", qlinear_binary, qlinear_ms, none, 0)                             \
    X(QLINEAR_MUL, "QLinearMul", qlinear_binary, qlinear_ms, none, 0)                             \
    X(QLINEAR_GLOBAL_AVERAGE_POOL, "QLinearGlobalAveragePool", qlinear_pool, qlinear_ms, none, 0) \
    X(QLINEAR_AVERAGE_POOL, "QLinearAveragePool", qlinear_pool, qlinear_ms, none, 0)              \
    X(QLINEAR_CONCAT, "QLinearConcat", qlinear_concat, none, none, 0)                             \
    X(QLINEAR_SIGMOID, "QLinearSigmoid", qlinear_lut, none, none, 0)                              \
    X(QLINEAR_LEAKY_RELU, "QLinearLeakyRelu", qlinear_lut, none, none, 0)

/* Ops created by engine passes (engine/passes/), never by loaders (names
 * starting with '_' never match an ONNX op_type): engine/kernels/ref/fused.c,
 * described in engine/kernels/fast.h. */
#define SK_OPS_FUSED(X)                                     \
    X(CONV_FUSED, "_ConvFused", conv_fused, fused, none, 0) \
    X(GEMM_FUSED, "_GemmFused", gemm_fused, fused, none, 0) \
    X(QCONV_FUSED, "_QConvFused", qconv_fused, none, none, 0) \
    X(QLUT, "_QLut", qlut, none, qlut, 0)                     \
    X(MATMUL_FUSED, "_MatMulFused", matmul_fused, fused, none, 0) \
    X(ATTENTION_FUSED, "_AttentionFused", attention_fused, attention_fused, attention, 0) \
    X(QCONV_TRANSPOSE, "_QConvTranspose", qconv_transpose, none, none, 0) \
    X(QAVG_POOL, "_QAvgPool", qavgpool, none, qavgpool, 0) \
    X(IRBLOCK_FUSED, "_IRBlockFused", irblock_fused, irblock_fused, none, 0) \
    X(ATTENTION_HEADS, "_AttentionHeads", attention_heads, attention_heads, attention_heads, 0) \
    X(QCONV_DEQUANT, "_QConvDequant", qconv_dequant, none, none, 0) \
    X(QRESIZE, "_QResize", qresize, none, qresize, 0)

#define SK_OPS_ALL(X)      \
    SK_OPS_NN(X)           \
    SK_OPS_ELEMENTWISE(X)  \
    SK_OPS_SHAPE(X)        \
    SK_OPS_QUANT(X)        \
    SK_OPS_MS(X)           \
    SK_OPS_FUSED(X)

typedef enum {
    SK_OP_NONE = 0,
#define SK_X_ENUM(e, name, ...) SK_OP_##e,
    SK_OPS_ALL(SK_X_ENUM)
#undef SK_X_ENUM
    SK_OP_COUNT
} sk_op;

typedef int (*sk_kernel_fn)(const struct sk_node *n, const sk_tensor *const *in, int nin,
                            sk_tensor *out, int nout, sk_kctx *ctx);

#define SK_X_DECL(e, name, fn, ...)                                                       \
    int sk_infer_##fn(const struct sk_node *, const sk_tensor *const *, int, sk_tensor *, \
                      int, sk_kctx *);                                                  \
    int sk_run_##fn(const struct sk_node *, const sk_tensor *const *, int, sk_tensor *,   \
                    int, sk_kctx *);
SK_OPS_ALL(SK_X_DECL)
#undef SK_X_DECL

/* Bytes of work buffer a kernel needs for these shapes and threads. */
typedef size_t (*sk_scratch_fn)(const struct sk_node *n, const sk_tensor *const *in, int nin,
                                const sk_tensor *out, int nout, int nthreads);
/* A fast kernel's plan (kernels/fast_ops.h): 1 when it covers these shapes
 * at the level of kc (its scratch bytes in *scratch). */
typedef int (*sk_fast_plan_fn)(const struct sk_kconfig *kc, const struct sk_node *n,
                               const sk_tensor *const *in, int nin, const sk_tensor *out,
                               int nout, int nthreads, size_t *scratch);

typedef struct sk_op_info {
    const char *name; /* ONNX op_type */
    sk_kernel_fn infer;
    sk_kernel_fn run;
    sk_scratch_fn scratch;     /* the reference kernel's scratch, or NULL: none */
    sk_kernel_fn fast_run;     /* the fast kernel family, or NULL */
    sk_fast_plan_fn fast_plan; /* its plan (NULL with fast_run) */
    int inplace;               /* leading inputs the output may overwrite */
} sk_op_info;

const sk_op_info *sk_op_get(sk_op op);
/* The kernel a plan runs for node n: a fast kernel chosen by CPU dispatch
 * (engine/dispatch.c) when one applies, else the reference run. */
sk_kernel_fn sk_dispatch_run(const struct sk_node *n);
/* Scratch bytes the dispatched kernel needs for these (inferred) shapes with
 * `nthreads` workers; 0 for none. The plan reserves the maximum over its
 * steps once, so runs never allocate. */
size_t sk_dispatch_scratch(const struct sk_node *n, const sk_tensor *const *in, int nin,
                           const sk_tensor *out, int nout, int nthreads);
/* What runs node n, for plan dumps and profiles: "ref", "fast", or the conv
 * strategy ("im2col-gemm", "winograd-f2x2-3x3", "depthwise-direct", "gemm",
 * "gemm+col2im"): at this batch (a conv the prepack pass gave Winograd runs
 * by pixel rows at small batches); batch < 0: the kind the pass chose. */
const char *sk_dispatch_describe(const struct sk_node *n, int64_t batch);
/* The same for a run on `nthreads` threads (precision bf16: a Winograd
 * conv runs its BF16 form from some thread count on, kernels/fast.h
 * bf16_form). */
const char *sk_dispatch_describe_t(const struct sk_node *n, int64_t batch, int nthreads);
sk_op sk_op_from_name(const char *onnx_op_type); /* SK_OP_NONE when unknown */
/* The ONNX domain an op belongs to: "" (ai.onnx) or "com.microsoft". */
const char *sk_op_domain(sk_op op);
const char *sk_op_name(sk_op op);

#endif
