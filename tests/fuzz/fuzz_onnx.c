/* fuzz_onnx.c — libFuzzer target for what the server does with a model
 * file: parse it (protobuf-c + the ONNX loader's checks and rewrites), run
 * the load-time passes (fusion, weight packing), plan it for a small batch
 * and run the plan once on deterministic inputs — every kernel the mutated
 * graph reaches, at the ISA level the input's size picks (scalar or the
 * CPU's best), so both the reference and the fast kernels see it.
 *
 * A graph whose planned values would pass FUZZ_MAX_FLOATS, or whose
 * convolutions and matrix products pass FUZZ_MAX_MACS, is skipped before
 * planning: the loader accepts any size the machine could hold (the server
 * caps it at physical memory), which is not a bug but would read as an
 * out-of-memory or a timeout here. Build and run: see tests/fuzz/README.md. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/cpu.h"
#include "engine/graph.h"
#include "engine/passes/passes.h"
#include "engine/plan.h"
#include "engine/sk.h"
#include "loaders/onnx.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    /* odd sizes at the reference level, even ones at the CPU's best */
    sk_cpu_set_level((size & 1) ? SK_ISA_SCALAR : sk_cpu_detected());
    sk_graph *g = NULL;
    if (sk_onnx_load_buffer(data, size, NULL, &g, err, sizeof err) < 0) {
        if (g || !err[0]) /* a failed load leaves no graph and says why */
            abort();
        return 0;
    }
    sk_tensor *in = calloc((size_t)g->ninputs + 1, sizeof *in);
    void **bufs = calloc((size_t)g->ninputs + 1, sizeof *bufs);
    sk_plan *plan = NULL;
    if (!in || !bufs || make_inputs(g, in, bufs) < 0 || within_caps(g, in) < 0)
        goto out;
    if (sk_graph_optimize(g, 1, err, sizeof err) < 0)
        goto out;
    int rc = sk_plan_create(g, in, NULL, &plan, err, sizeof err);
    if (rc == SK_ENEEDVALUE) { /* a shape depends on an input's value */
        for (int i = 0; i < g->ninputs; i++)
            in[i].data = bufs[i];
        rc = sk_plan_create(g, in, NULL, &plan, err, sizeof err);
    }
    if (rc < 0) {
        if (plan)
            abort();
        goto out;
    }
    (void)sk_plan_run(plan, (const void *const *)bufs, err, sizeof err);
out:
    sk_plan_free(plan);
    for (int i = 0; bufs && i < g->ninputs; i++)
        sk_free(bufs[i]);
    free(bufs);
    free(in);
    sk_graph_free(g);
    return 0;
}
