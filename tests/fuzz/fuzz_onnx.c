/* fuzz_onnx.c — libFuzzer target for what the server does with a model
 * file: parse it (protobuf-c + the ONNX loader's checks and rewrites), run
 * the load-time passes (fusion, weight packing), plan it for a small batch
 * and run the plan once on deterministic inputs — twice: as loaded on the
 * scalar reference kernels, and through the passes (fusion, packing) on the
 * CPU's best kernels on a 2-thread pool. When every node is an op whose
 * output moves continuously with its inputs (continuous_op) and the weights
 * are of a trained network's scale (well_scaled), the two runs' float
 * outputs must agree to 1e-3 of the reference's range (finite outputs
 * only): a differential test of the fast kernels and passes on mutated
 * graphs.
 *
 * A graph whose planned values would pass FUZZ_MAX_FLOATS, or whose
 * convolutions and matrix products pass FUZZ_MAX_MACS, is skipped before
 * planning: the loader accepts any size the machine could hold (the server
 * caps it at physical memory), which is not a bug but would read as an
 * out-of-memory or a timeout here.
 *
 * The skeleton walk (loaders/onnx_skel.c; built here with a small
 * SK_SKEL_MIN_RAW so most payloads leave the skeleton) is checked on every
 * input: walked from the buffer and from a file (a memfd, read through the
 * 64 KiB window), the two skeletons and payload lists are the same bytes;
 * when the whole-file protobuf-c unpack takes the input, the skeleton
 * unpacks too and, its payloads put back, packs to the same bytes; when
 * protobuf-c refuses it, the skeleton does not unpack either. Half the
 * inputs' fast-path runs load through that file's /proc/self/fd path
 * (sk_onnx_load: pread of the payloads) instead of the buffer.
 * Build and run: see tests/fuzz/README.md. */
#define _GNU_SOURCE /* memfd_create */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/cpu.h"
#include "engine/graph.h"
#include "engine/ops.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "engine/sk.h"
#include "engine/threadpool.h"
#include "loaders/onnx.h"
#include "loaders/onnx_internal.h"
#include "onnx.pb-c.h"

#define FUZZ_MAX_FLOATS ((int64_t)4 << 20) /* per value, and in all */
#define FUZZ_MAX_MACS ((int64_t)200 << 20)
#define FUZZ_MAX_INPUT_ELEMS ((int64_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs of the declared shapes (symbolic dims -> 2), filled with small
 * values every dtype can hold: int64 shape-like inputs get 1s. Returns -1
 * when a shape is unknown or too large. */
static int make_inputs(const sk_graph *g, sk_tensor *in, void **bufs)
{
    for (int i = 0; i < g->ninputs; i++) {
        const sk_value *v = &g->values[g->inputs[i]];
        if (v->shape.rank < 0)
            return -1;
        in[i].dtype = v->dtype;
        in[i].shape = v->shape;
        for (int d = 0; d < v->shape.rank; d++)
            if (in[i].shape.dim[d] == SK_DIM_SYMBOLIC)
                in[i].shape.dim[d] = 2;
        int64_t n = sk_shape_numel(&in[i].shape);
        size_t es = sk_dtype_size(v->dtype);
        if (n < 0 || n > FUZZ_MAX_INPUT_ELEMS || es == 0)
            return -1;
        bufs[i] = sk_alloc((size_t)(n ? n : 1) * es);
        if (!bufs[i])
            return -1;
        unsigned char *b = bufs[i];
        for (int64_t k = 0; k < n; k++) {
            switch (v->dtype) {
            case SK_F32: {
                float f = (float)((k * 37) % 19) * 0.125f - 1.0f;
                memcpy(b + k * 4, &f, 4);
                break;
            }
            case SK_F64: {
                double f = (double)((k * 37) % 19) * 0.125 - 1.0;
                memcpy(b + k * 8, &f, 8);
                break;
            }
            case SK_I64: {
                int64_t x = 1;
                memcpy(b + k * 8, &x, 8);
                break;
            }
            case SK_I32: {
                int32_t x = 1;
                memcpy(b + k * 4, &x, 4);
                break;
            }
            default:
                memset(b + k * es, 1, es);
                break;
            }
        }
        in[i].data = NULL;
    }
    return 0;
}

/* Shapes as the planner will see them, summed: -1 when over the caps. */
static int within_caps(const sk_graph *g, const sk_tensor *in)
{
    sk_shape *shapes = calloc((size_t)g->nvalues, sizeof *shapes);
    sk_dtype *dtypes = calloc((size_t)g->nvalues, sizeof *dtypes);
    int ok = shapes && dtypes && sk_graph_infer_shapes(g, in, shapes, dtypes) == 0;
    int64_t total = 0, macs = 0;
    for (int v = 0; ok && v < g->nvalues; v++) {
        if (shapes[v].rank < 0)
            continue;
        int64_t n = sk_shape_numel(&shapes[v]);
        if (n < 0 || n > FUZZ_MAX_FLOATS || (total += n) > FUZZ_MAX_FLOATS)
            ok = 0;
    }
    for (int ni = 0; ok && ni < g->nnodes; ni++) {
        int64_t m = sk_node_macs(g, ni, shapes);
        if (m < 0 || m > FUZZ_MAX_MACS || (macs += m) > FUZZ_MAX_MACS)
            ok = 0;
    }
    free(shapes);
    free(dtypes);
    return ok ? 0 : -1;
}

/* Ops whose float output moves continuously with their float inputs, so a
 * graph of only these must give the same numbers on the fast path as on
 * the reference path, up to rounding. Div, Log, Pow, Cast, Equal, ... can
 * turn a rounding difference into any difference and are left out. */
static int continuous_op(sk_op op)
{
    switch (op) {
    case SK_OP_CONV: case SK_OP_CONV_TRANSPOSE: case SK_OP_MAX_POOL: case SK_OP_AVERAGE_POOL:
    case SK_OP_GLOBAL_AVERAGE_POOL: case SK_OP_GLOBAL_MAX_POOL: case SK_OP_GEMM:
    case SK_OP_MATMUL: case SK_OP_BATCH_NORM: case SK_OP_SOFTMAX: case SK_OP_RESIZE:
    case SK_OP_PAD: case SK_OP_RELU: case SK_OP_LEAKY_RELU: case SK_OP_PRELU: case SK_OP_CLIP:
    case SK_OP_SIGMOID: case SK_OP_HARD_SIGMOID: case SK_OP_HARD_SWISH: case SK_OP_TANH:
    case SK_OP_ELU: case SK_OP_SELU: case SK_OP_SOFTPLUS: case SK_OP_ERF: case SK_OP_NEG:
    case SK_OP_ABS: case SK_OP_ADD: case SK_OP_SUB: case SK_OP_MUL: case SK_OP_SUM:
    case SK_OP_MAX: case SK_OP_MIN: case SK_OP_MEAN: case SK_OP_FLATTEN: case SK_OP_RESHAPE:
    case SK_OP_TRANSPOSE: case SK_OP_CONCAT: case SK_OP_SPLIT: case SK_OP_SLICE:
    case SK_OP_SQUEEZE: case SK_OP_UNSQUEEZE: case SK_OP_GATHER: case SK_OP_EXPAND:
    case SK_OP_SHAPE: case SK_OP_CONSTANT_OF_SHAPE: case SK_OP_IDENTITY: case SK_OP_DROPOUT:
    case SK_OP_REDUCE_MEAN: case SK_OP_REDUCE_SUM: case SK_OP_REDUCE_MAX:
        return 1;
    default:
        return 0;
    }
}

/* Weights a trained network could have: every float constant within
 * +-FUZZ_MAX_WEIGHT and every BatchNormalization epsilon at least
 * FUZZ_MIN_BN_EPS (folding multiplies the conv weights by 1/sqrt(var+eps)).
 * Only then is the differential fair to Winograd: its transforms mix a
 * tile's weights and inputs, so its rounding error is relative to the
 * largest |weight * input| in the tile, not to the output; one mutated
 * weight of 1e23 that direct summation multiplies by an exact 0 leaves
 * 1e-2 of error in outputs of range 5 (regress/onnx/winograd-weight-1e23,
 * which passes because of this check; with SKIPSERVE_WINOGRAD=0 the same
 * graph agrees to 1e-6). */
#define FUZZ_MAX_WEIGHT 1e3
#define FUZZ_MIN_BN_EPS 1e-6
static int well_scaled(const sk_graph *g)
{
    for (int v = 0; v < g->nvalues; v++) {
        const sk_value *x = &g->values[v];
        if (!x->data || x->dtype != SK_F32 || x->shape.rank < 0)
            continue;
        int64_t n = sk_shape_numel(&x->shape);
        for (int64_t k = 0; k < n; k++) {
            float f = ((const float *)x->data)[k];
            if (!(fabsf(f) <= FUZZ_MAX_WEIGHT))
                return 0;
        }
    }
    for (int ni = 0; ni < g->nnodes; ni++)
        if (g->nodes[ni].op == SK_OP_BATCH_NORM &&
            !(sk_attr_float(&g->nodes[ni], "epsilon", 1e-5f) >= FUZZ_MIN_BN_EPS))
            return 0;
    return 1;
}

typedef struct result {
    int ran;        /* the plan ran to the end */
    int continuous; /* every node is a continuous_op and the graph is
                       well_scaled (reference run only) */
    int nout;
    int64_t numel[8];
    float *out[8]; /* float32 outputs copied; NULL for others */
} result;

static void result_free(result *r)
{
    for (int i = 0; i < r->nout; i++)
        free(r->out[i]);
}

/* The skeleton against the whole-file parse (see the top). fd: a file
 * holding the same bytes, or -1. */
static void skel_check(const uint8_t *data, size_t size, int fd)
{
    sk_src msrc = {.fd = -1, .mem = data, .size = size, .path = "model"};
    sk_skel sk;
    int rc = sk_skel_build(&msrc, &sk);
    if (rc == SK_ENOMEM)
        return;
    if (fd >= 0) {
        sk_src fsrc = {.fd = fd, .size = size, .path = "model"};
        sk_skel fk;
        int frc = sk_skel_build(&fsrc, &fk);
        if (frc == SK_ENOMEM)
            goto whole;
        int same = frc == rc;
        if (same && rc == 0) {
            same = fk.len == sk.len && (!sk.len || !memcmp(fk.bytes, sk.bytes, sk.len)) &&
                   fk.nraw == sk.nraw;
            for (size_t i = 0; same && i < sk.nraw; i++)
                same = fk.raw[i].init == sk.raw[i].init && fk.raw[i].off == sk.raw[i].off &&
                       fk.raw[i].len == sk.raw[i].len;
        }
        if (frc == 0)
            sk_skel_free(&fk);
        if (!same) {
            fprintf(stderr, "fuzz_onnx: the skeleton from the file differs from the buffer's\n");
            abort();
        }
    }
whole:;
    if (rc < 0)
        return; /* the walk gave up: the load unpacks the whole file */
    Onnx__ModelProto *full = onnx__model_proto__unpack(NULL, size, data);
    Onnx__ModelProto *sm = onnx__model_proto__unpack(NULL, sk.len, sk.bytes);
    if (!full != !sm) {
        fprintf(stderr, "fuzz_onnx: protobuf-c %s the file but %s its skeleton\n",
                full ? "takes" : "refuses", sm ? "takes" : "refuses");
        abort();
    }
    if (full) {
        size_t ninit = sm->graph ? sm->graph->n_initializer : 0;
        ProtobufCBinaryData *saved = calloc(sk.nraw + 1, sizeof *saved);
        protobuf_c_boolean *had = calloc(sk.nraw + 1, sizeof *had);
        if (!saved || !had)
            abort();
        for (size_t i = 0; i < sk.nraw; i++) {
            const sk_skel_raw *r = &sk.raw[i];
            if (r->init >= ninit || (i && r->init <= sk.raw[i - 1].init) || r->off > size ||
                r->len > size - r->off) {
                fprintf(stderr, "fuzz_onnx: skeleton payload %zu: initializer %zu of %zu, "
                                "bytes %llu + %zu of %zu\n", i, r->init, ninit,
                        (unsigned long long)r->off, r->len, size);
                abort();
            }
            Onnx__TensorProto *t = sm->graph->initializer[r->init];
            saved[i] = t->raw_data;
            had[i] = t->has_raw_data;
            t->raw_data.data = (uint8_t *)data + r->off;
            t->raw_data.len = r->len;
            t->has_raw_data = 1;
        }
        size_t na = onnx__model_proto__get_packed_size(full);
        size_t nb = onnx__model_proto__get_packed_size(sm);
        uint8_t *a = malloc(na + 1), *b = malloc(nb + 1);
        if (!a || !b)
            abort();
        onnx__model_proto__pack(full, a);
        onnx__model_proto__pack(sm, b);
        if (na != nb || memcmp(a, b, na)) {
            fprintf(stderr, "fuzz_onnx: skeleton + payloads (%zu bytes packed) differ from the "
                            "whole parse (%zu)\n", nb, na);
            abort();
        }
        free(a);
        free(b);
        for (size_t i = sk.nraw; i-- > 0;) { /* back: the same initializer may repeat */
            Onnx__TensorProto *t = sm->graph->initializer[sk.raw[i].init];
            t->raw_data = saved[i];
            t->has_raw_data = had[i];
        }
        free(saved);
        free(had);
    }
    onnx__model_proto__free_unpacked(full, NULL);
    onnx__model_proto__free_unpacked(sm, NULL);
    sk_skel_free(&sk);
}

/* The input as a file: a memfd, rewritten for each input; its
 * /proc/self/fd path in `path`. -1 when memfd_create is missing. */
static int as_file(const uint8_t *data, size_t size, char *path, size_t pathlen)
{
    static int fd = -2;
    if (fd == -2)
        fd = memfd_create("fuzz_onnx", 0);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, 0) < 0)
        abort();
    for (size_t off = 0; off < size;) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    snprintf(path, pathlen, "/proc/self/fd/%d", fd);
    return fd;
}

/* Load, optimize at `opt`, plan and run once at ISA `level`; a failure
 * anywhere is fine (the error path is what is being fuzzed) as long as it
 * is clean. */
static void run_once(const uint8_t *data, size_t size, const char *path, sk_isa level, int opt,
                     sk_pool *pool, result *r)
{
    char err[512];
    memset(r, 0, sizeof *r);
    sk_cpu_set_level(level);
    sk_graph *g = NULL;
    if ((path ? sk_onnx_load(path, &g, err, sizeof err)
              : sk_onnx_load_buffer(data, size, NULL, &g, err, sizeof err)) < 0) {
        if (g || !err[0]) /* a failed load leaves no graph and says why */
            abort();
        return;
    }
    sk_tensor *in = calloc((size_t)g->ninputs + 1, sizeof *in);
    void **bufs = calloc((size_t)g->ninputs + 1, sizeof *bufs);
    sk_plan *plan = NULL;
    if (!in || !bufs || make_inputs(g, in, bufs) < 0 || within_caps(g, in) < 0)
        goto out;
    r->continuous = 1;
    for (int ni = 0; ni < g->nnodes; ni++)
        r->continuous &= continuous_op(g->nodes[ni].op);
    r->continuous = r->continuous && well_scaled(g);
    if (sk_graph_optimize(g, opt, err, sizeof err) < 0)
        goto out;
    int rc = sk_plan_create(g, in, pool, &plan, err, sizeof err);
    if (rc == SK_ENEEDVALUE) { /* a shape depends on an input's value */
        for (int i = 0; i < g->ninputs; i++)
            in[i].data = bufs[i];
        rc = sk_plan_create(g, in, pool, &plan, err, sizeof err);
    }
    if (rc < 0) {
        if (plan)
            abort();
        goto out;
    }
    if (sk_plan_run(plan, (const void *const *)bufs, err, sizeof err) < 0)
        goto out;
    r->ran = 1;
    r->nout = sk_plan_noutputs(plan);
    if (r->nout > 8)
        r->nout = 8;
    for (int i = 0; i < r->nout; i++) {
        const sk_tensor *t = sk_plan_output(plan, i);
        r->numel[i] = sk_shape_numel(&t->shape);
        if (t->dtype != SK_F32 || r->numel[i] <= 0)
            continue;
        r->out[i] = malloc((size_t)r->numel[i] * sizeof(float));
        if (r->out[i])
            memcpy(r->out[i], t->data, (size_t)r->numel[i] * sizeof(float));
    }
out:
    sk_plan_free(plan);
    for (int i = 0; bufs && i < g->ninputs; i++)
        sk_free(bufs[i]);
    free(bufs);
    free(in);
    sk_graph_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the reference: scalar kernels, graph as loaded; then the fast path:
     * the CPU's best level, the load-time passes (fusion, packing), and
     * two threads, so the kernels' work splits see odd shapes too */
    static sk_pool *pool;
    if (!pool && !(pool = sk_pool_create(2)))
        abort();
    char path[64];
    int fd = as_file(data, size, path, sizeof path);
    skel_check(data, size, fd);
    /* half the inputs (by a hash of the length and the last byte, which
     * mutations move) load the fast path's graph from the file */
    uint32_t h = ((uint32_t)size ^ (size ? data[size - 1] : 0u)) * 2654435761u;
    int via_file = fd >= 0 && (h >> 31);
    result ref, fast;
    run_once(data, size, NULL, SK_ISA_SCALAR, 0, NULL, &ref);
    run_once(data, size, via_file ? path : NULL, sk_cpu_detected(), 1, pool, &fast);
    if (ref.ran && fast.ran && ref.continuous && ref.nout == fast.nout) {
        for (int i = 0; i < ref.nout; i++) {
            if (!ref.out[i] || !fast.out[i] || ref.numel[i] != fast.numel[i])
                continue;
            double range = 1, worst = 0;
            int finite = 1;
            for (int64_t k = 0; k < ref.numel[i]; k++) {
                double a = ref.out[i][k];
                finite &= isfinite(a) && isfinite(fast.out[i][k]);
                if (fabs(a) > range)
                    range = fabs(a);
            }
            if (!finite)
                continue; /* where infinities and NaNs land is not compared */
            for (int64_t k = 0; k < ref.numel[i]; k++) {
                double d = fabs((double)fast.out[i][k] - ref.out[i][k]);
                if (d > worst)
                    worst = d;
            }
            if (worst > 1e-3 * range) {
                fprintf(stderr, "fuzz_onnx: output %d: fast path differs from the reference by "
                                "%g (range %g)\n", i, worst, range);
                abort();
            }
        }
    }
    result_free(&ref);
    result_free(&fast);
    return 0;
}
