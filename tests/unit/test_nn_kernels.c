/* test_nn_kernels.c — the NN reference kernels against independent
 * references: the reference GEMM against a textbook triple loop; Conv and
 * ConvTranspose against direct loops written from the ONNX definitions (the
 * kernels use im2col / col2im + GEMM) over many random geometries; pools,
 * Resize, Pad, Softmax and BatchNorm against values derived by hand; and the
 * error paths (bad shapes, dtypes, unknown values, overflow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graph.h"
#include "engine/kernels/ref/nn_util.h"
#include "engine/kernels/ref/ref_gemm.h"
#include "engine/ops.h"
#include "engine/threadpool.h"

/* ---- helpers ------------------------------------------------------------- */

static uint32_t rng_state = 12345u;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}
static int rnd_int(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static float rnd_float(void) { return (float)rnd() / (float)(1u << 24) * 2.0f - 1.0f; }
static void fill(float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = rnd_float();
}

/* A one-node graph: the kernels only read the node's attributes and opset. */
typedef struct tnode {
    sk_graph *g;
    int ni;
} tnode;

static tnode mk_node(sk_op op, int opset)
{
    tnode t = {sk_graph_new(), 0};
    assert_non_null(t.g);
    int in = sk_graph_value(t.g, "x"), out = sk_graph_value(t.g, "y");
    t.ni = sk_graph_add_node(t.g, op, "n", 1, &in, 1, &out);
    assert_true(t.ni >= 0);
    t.g->nodes[t.ni].opset = opset;
    return t;
}
static const sk_node *node(const tnode *t) { return &t->g->nodes[t->ni]; }
static void set_ints(tnode *t, const char *name, const int64_t *v, int n)
{
    assert_true(sk_node_set_ints(t->g, t->ni, name, v, n) >= 0);
}
static void set_int(tnode *t, const char *name, int64_t v)
{
    assert_true(sk_node_set_int(t->g, t->ni, name, v) >= 0);
}
static void set_str(tnode *t, const char *name, const char *v)
{
    assert_true(sk_node_set_string(t->g, t->ni, name, v) >= 0);
}

static sk_tensor tensor(sk_dtype dt, void *data, int rank, const int64_t *dims)
{
    sk_tensor t = {.dtype = dt, .data = data};
    t.shape.rank = rank;
    for (int i = 0; i < rank; i++)
        t.shape.dim[i] = dims[i];
    return t;
}

static char errbuf[512];

static sk_kctx mkctx(sk_pool *pool)
{
    sk_kctx c;
    memset(&c, 0, sizeof c);
    c.err = errbuf;
    c.errlen = sizeof errbuf;
    c.pool = pool;
    errbuf[0] = 0;
    return c;
}

/* 1: hand kernels exactly the scratch sk_ref_nn_scratch asks for (ASan
 * catches an estimate that is too small); 0: none, so they use the heap. */
static int use_scratch = 1;

/* infer, allocate outputs, run. Returns the first non-zero code. */
static int run_op(const tnode *t, const sk_tensor *const *in, int nin, sk_tensor *out,
                  int nout, sk_pool *pool)
{
    const sk_op_info *info = sk_op_get(node(t)->op);
    sk_kctx ctx = mkctx(pool);
    int rc = info->infer(node(t), in, nin, out, nout, &ctx);
    if (rc)
        return rc;
    for (int j = 0; j < nout; j++) {
        out[j].data = calloc(sk_tensor_bytes(&out[j]) + 1, 1);
        assert_non_null(out[j].data);
    }
    size_t sb = sk_ref_nn_scratch(node(t), in, nin, out, nout, sk_pool_size(pool));
    if (use_scratch && sb) {
        ctx.scratch = aligned_alloc(64, (sb + 63) & ~(size_t)63);
        assert_non_null(ctx.scratch);
        ctx.scratch_bytes = sb;
    }
    rc = info->run(node(t), in, nin, out, nout, &ctx);
    free(ctx.scratch);
    return rc;
}

static void free_out(sk_tensor *out, int nout, tnode *t)
{
    for (int j = 0; j < nout; j++)
        free(out[j].data);
    sk_graph_free(t->g);
}

static void assert_close(const float *got, const float *want, int64_t n, double rtol, double atol)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - (double)want[i]) <= atol + rtol * fabs((double)want[i]))) {
            print_error("element %lld: got %.7g want %.7g\n", (long long)i, (double)got[i],
                        (double)want[i]);
            fail();
        }
}

/* ---- sk_ref_gemm_f32 vs the textbook triple loop ------------------------- */

static void test_ref_gemm(void **state)
{
    (void)state;
    const int sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 130, 9}, {8, 257, 33}, {2, 3, 0}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
        int M = sizes[c][0], N = sizes[c][1], K = sizes[c][2];
        int lda = K + 3, ldb = N + 2, ldc = N + 5; /* strides wider than the matrices */
        float *A = malloc(sizeof(float) * (size_t)(M * lda + 1));
        float *B = malloc(sizeof(float) * (size_t)(K * ldb + 1));
        float *C = malloc(sizeof(float) * (size_t)(M * ldc));
        float *want = malloc(sizeof(float) * (size_t)(M * ldc));
        fill(A, M * lda);
        fill(B, K * ldb);
        for (int acc = 0; acc < 2; acc++) {
            fill(C, M * ldc);
            memcpy(want, C, sizeof(float) * (size_t)(M * ldc));
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = acc ? want[i * ldc + j] : 0.0;
                    for (int k = 0; k < K; k++)
                        s += (double)A[i * lda + k] * B[k * ldb + j];
                    want[i * ldc + j] = (float)s;
                }
            sk_ref_gemm_f32(M, N, K, A, lda, B, ldb, C, ldc, acc);
            assert_close(C, want, M * ldc, 1e-5, 1e-5); /* padding columns untouched too */
        }
        free(A);
        free(B);
        free(C);
        free(want);
    }
}

/* ---- Conv vs direct loops from the ONNX definition ------------------------ */

typedef struct conv_cfg {
    int nsp, N, C, M, group, bias;
    int64_t in[3], k[3], s[3], d[3], pads[6];
    const char *auto_pad; /* NULL = explicit pads */
} conv_cfg;

static void conv_direct(const conv_cfg *c, const float *x, const float *w, const float *b,
                        float *y, const int64_t *out, const int64_t *pb)
{
    int64_t in3[3] = {1, 1, 1}, k3[3] = {1, 1, 1}, s3[3] = {1, 1, 1}, d3[3] = {1, 1, 1};
    int64_t o3[3] = {1, 1, 1}, p3[3] = {0, 0, 0};
    for (int i = 0; i < c->nsp; i++) {
        int a = 3 - c->nsp + i;
        in3[a] = c->in[i], k3[a] = c->k[i], s3[a] = c->s[i], d3[a] = c->d[i];
        o3[a] = out[i], p3[a] = pb[i];
    }
    int Cg = c->C / c->group, Mg = c->M / c->group;
    int64_t yi = 0;
    for (int n = 0; n < c->N; n++)
        for (int m = 0; m < c->M; m++)
            for (int64_t o0 = 0; o0 < o3[0]; o0++)
                for (int64_t o1 = 0; o1 < o3[1]; o1++)
                    for (int64_t o2 = 0; o2 < o3[2]; o2++) {
                        double acc = b ? b[m] : 0.0;
                        int grp = m / Mg;
                        for (int ci = 0; ci < Cg; ci++)
                            for (int64_t a0 = 0; a0 < k3[0]; a0++)
                                for (int64_t a1 = 0; a1 < k3[1]; a1++)
                                    for (int64_t a2 = 0; a2 < k3[2]; a2++) {
                                        int64_t i0 = o0 * s3[0] - p3[0] + a0 * d3[0];
                                        int64_t i1 = o1 * s3[1] - p3[1] + a1 * d3[1];
                                        int64_t i2 = o2 * s3[2] - p3[2] + a2 * d3[2];
                                        if (i0 < 0 || i0 >= in3[0] || i1 < 0 || i1 >= in3[1] ||
                                            i2 < 0 || i2 >= in3[2])
                                            continue;
                                        int64_t xc = (int64_t)n * c->C + grp * Cg + ci;
                                        int64_t wc = (int64_t)m * Cg + ci;
                                        acc += (double)x[((xc * in3[0] + i0) * in3[1] + i1) *
                                                             in3[2] + i2] *
                                               w[((wc * k3[0] + a0) * k3[1] + a1) * k3[2] + a2];
                                    }
                        y[yi++] = (float)acc;
                    }
}

static void check_conv(const conv_cfg *c, sk_pool *pool)
{
    tnode t = mk_node(SK_OP_CONV, 13);
    int64_t xd[5] = {c->N, c->C}, wd[5] = {c->M, c->C / c->group};
    for (int i = 0; i < c->nsp; i++) {
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->k[i];
    }
    set_ints(&t, "strides", c->s, c->nsp);
    set_ints(&t, "dilations", c->d, c->nsp);
    set_int(&t, "group", c->group);
    if (c->auto_pad)
        set_str(&t, "auto_pad", c->auto_pad);
    else
        set_ints(&t, "pads", c->pads, 2 * c->nsp);
    /* Output size and begin pads, straight from the spec's formulas. */
    int64_t out[3], pb[3];
    for (int i = 0; i < c->nsp; i++) {
        int64_t ext = (c->k[i] - 1) * c->d[i] + 1;
        if (c->auto_pad && strncmp(c->auto_pad, "SAME", 4) == 0) {
            out[i] = (c->in[i] + c->s[i] - 1) / c->s[i];
            int64_t tot = (out[i] - 1) * c->s[i] + ext - c->in[i];
            tot = tot < 0 ? 0 : tot;
            pb[i] = strcmp(c->auto_pad, "SAME_UPPER") == 0 ? tot / 2 : (tot + 1) / 2;
        } else if (c->auto_pad) { /* VALID */
            out[i] = (c->in[i] - ext) / c->s[i] + 1;
            pb[i] = 0;
        } else {
            out[i] = (c->in[i] + c->pads[i] + c->pads[c->nsp + i] - ext) / c->s[i] + 1;
            pb[i] = c->pads[i];
        }
    }
    int64_t nx = c->N * c->C, nw = wd[0] * wd[1], ny = (int64_t)c->N * c->M;
    for (int i = 0; i < c->nsp; i++) {
        nx *= c->in[i];
        nw *= c->k[i];
        ny *= out[i];
    }
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)c->M), *want = malloc(sizeof(float) * (size_t)ny);
    fill(x, nx);
    fill(w, nw);
    fill(b, c->M);
    int64_t bd[1] = {c->M};
    sk_tensor X = tensor(SK_F32, x, 2 + c->nsp, xd), W = tensor(SK_F32, w, 2 + c->nsp, wd);
    sk_tensor B = tensor(SK_F32, b, 1, bd);
    const sk_tensor *in[3] = {&X, &W, &B};
    sk_tensor y[1];
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, c->bias ? 3 : 2, y, 1, pool), 0);
    assert_int_equal(y[0].shape.rank, 2 + c->nsp);
    assert_int_equal(y[0].shape.dim[1], c->M);
    for (int i = 0; i < c->nsp; i++)
        assert_int_equal(y[0].shape.dim[2 + i], out[i]);
    conv_direct(c, x, w, c->bias ? b : NULL, want, out, pb);
    assert_close(y[0].data, want, ny, 1e-4, 1e-4);
    free(x);
    free(w);
    free(b);
    free(want);
    free_out(y, 1, &t);
}

static void random_conv(conv_cfg *c, int nsp)
{
    static const char *const modes[] = {NULL, NULL, "SAME_UPPER", "SAME_LOWER", "VALID"};
    memset(c, 0, sizeof *c);
    c->nsp = nsp;
    c->N = rnd_int(1, 2);
    c->group = rnd_int(1, 3);
    c->C = c->group * rnd_int(1, 3);
    c->M = c->group * rnd_int(1, 3);
    c->bias = rnd_int(0, 1);
    c->auto_pad = modes[rnd_int(0, 4)];
    for (int i = 0; i < nsp; i++) {
        c->k[i] = rnd_int(1, 3);
        c->d[i] = rnd_int(1, 2);
        c->s[i] = rnd_int(1, 3);
        c->in[i] = (c->k[i] - 1) * c->d[i] + rnd_int(1, nsp == 3 ? 4 : 8);
        c->pads[i] = rnd_int(0, 2);
        c->pads[nsp + i] = rnd_int(0, 2);
    }
}

static void test_conv_random(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(2);
    for (int it = 0; it < 150; it++) {
        conv_cfg c;
        random_conv(&c, 1 + it % 3);
        use_scratch = it % 4 < 2;
        check_conv(&c, it % 2 ? pool : NULL);
    }
    sk_pool_destroy(pool);
}

/* Shapes that take the special paths: 1x1 direct, depthwise, wide channels
 * (row split under a pool), a ResNet stem. */
static void test_conv_paths(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(2);
    conv_cfg cases[] = {
        {2, 2, 16, 24, 1, 1, {7, 9}, {1, 1}, {1, 1}, {1, 1}, {0}, NULL},
        {2, 2, 8, 8, 8, 1, {10, 7}, {3, 3}, {1, 2}, {1, 1}, {1, 1, 1, 1}, NULL},
        {2, 1, 4, 8, 4, 0, {10, 7}, {3, 5}, {2, 2}, {1, 2}, {0, 2, 1, 2}, NULL},
        {2, 1, 24, 40, 1, 1, {12, 12}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, NULL},
        {2, 1, 3, 8, 1, 0, {23, 23}, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        use_scratch = 0;
        check_conv(&cases[i], NULL);
        use_scratch = 1;
        check_conv(&cases[i], NULL);
        check_conv(&cases[i], pool);
    }
    sk_pool_destroy(pool);
}

static void test_conv_errors(void **state)
{
    (void)state;
    tnode t = mk_node(SK_OP_CONV, 13);
    int64_t xd[4] = {1, 3, 8, 8}, wd[4] = {4, 2, 3, 3};
    float dummy[1];
    sk_tensor X = tensor(SK_F32, dummy, 4, xd), W = tensor(SK_F32, dummy, 4, wd);
    const sk_tensor *in[2] = {&X, &W};
    sk_tensor y[1];
    sk_kctx ctx = mkctx(NULL);
    /* 2 weight channels x group 1 != 3 input channels */
    assert_int_equal(sk_infer_conv(node(&t), in, 2, y, 1, &ctx), SK_ESHAPE);
    assert_non_null(strstr(errbuf, "input channels per group"));
    /* integer data is refused, not misread */
    wd[1] = 3;
    W = tensor(SK_F32, dummy, 4, wd);
    X.dtype = SK_I64;
    assert_int_equal(sk_infer_conv(node(&t), in, 2, y, 1, &ctx), SK_EUNSUPPORTED);
    assert_non_null(strstr(errbuf, "float32"));
    X.dtype = SK_F32;
    /* a kernel larger than the input */
    wd[2] = 9;
    W = tensor(SK_F32, dummy, 4, wd);
    assert_int_equal(sk_infer_conv(node(&t), in, 2, y, 1, &ctx), SK_ESHAPE);
    /* sizes whose product overflows */
    int64_t big[4] = {1 << 20, 3, 1 << 20, 1 << 20};
    wd[2] = 3;
    X = tensor(SK_F32, dummy, 4, big);
    W = tensor(SK_F32, dummy, 4, wd);
    assert_int_equal(sk_infer_conv(node(&t), in, 2, y, 1, &ctx), SK_ESHAPE);
    sk_graph_free(t.g);
}

/* ---- ConvTranspose vs a direct scatter from the definition ---------------- */

typedef struct convt_cfg {
    int nsp, N, C, M, group, bias;
    int64_t in[3], k[3], s[3], d[3], pads[6], opad[3];
} convt_cfg;

static void check_convt(const convt_cfg *c, sk_pool *pool)
{
    tnode t = mk_node(SK_OP_CONV_TRANSPOSE, 13);
    int Cg = c->C / c->group, Mg = c->M / c->group;
    int64_t xd[5] = {c->N, c->C}, wd[5] = {c->C, Mg}, out[3] = {1, 1, 1};
    int64_t in3[3] = {1, 1, 1}, k3[3] = {1, 1, 1}, s3[3] = {1, 1, 1}, d3[3] = {1, 1, 1},
            p3[3] = {0, 0, 0};
    int64_t nx = c->N * c->C, nw = (int64_t)c->C * Mg, ny = (int64_t)c->N * c->M;
    for (int i = 0; i < c->nsp; i++) {
        int a = 3 - c->nsp + i;
        xd[2 + i] = c->in[i];
        wd[2 + i] = c->k[i];
        out[a] = c->s[i] * (c->in[i] - 1) + c->opad[i] + (c->k[i] - 1) * c->d[i] + 1 -
                 c->pads[i] - c->pads[c->nsp + i];
        in3[a] = c->in[i], k3[a] = c->k[i], s3[a] = c->s[i], d3[a] = c->d[i],
        p3[a] = c->pads[i];
        nx *= c->in[i];
        nw *= c->k[i];
        ny *= out[a];
    }
    set_ints(&t, "strides", c->s, c->nsp);
    set_ints(&t, "dilations", c->d, c->nsp);
    set_ints(&t, "pads", c->pads, 2 * c->nsp);
    set_ints(&t, "output_padding", c->opad, c->nsp);
    set_int(&t, "group", c->group);
    float *x = malloc(sizeof(float) * (size_t)nx), *w = malloc(sizeof(float) * (size_t)nw);
    float *b = malloc(sizeof(float) * (size_t)c->M);
    double *acc = calloc((size_t)ny, sizeof(double));
    float *want = malloc(sizeof(float) * (size_t)ny);
    fill(x, nx);
    fill(w, nw);
    fill(b, c->M);
    /* Every input pixel scatters x * w into the output positions it reaches. */
    int64_t xi = 0;
    for (int n = 0; n < c->N; n++)
        for (int ch = 0; ch < c->C; ch++)
            for (int64_t i0 = 0; i0 < in3[0]; i0++)
                for (int64_t i1 = 0; i1 < in3[1]; i1++)
                    for (int64_t i2 = 0; i2 < in3[2]; i2++, xi++)
                        for (int mg = 0; mg < Mg; mg++)
                            for (int64_t a0 = 0; a0 < k3[0]; a0++)
                                for (int64_t a1 = 0; a1 < k3[1]; a1++)
                                    for (int64_t a2 = 0; a2 < k3[2]; a2++) {
                                        int64_t o0 = i0 * s3[0] - p3[0] + a0 * d3[0];
                                        int64_t o1 = i1 * s3[1] - p3[1] + a1 * d3[1];
                                        int64_t o2 = i2 * s3[2] - p3[2] + a2 * d3[2];
                                        if (o0 < 0 || o0 >= out[0] || o1 < 0 || o1 >= out[1] ||
                                            o2 < 0 || o2 >= out[2])
                                            continue;
                                        int64_t m = (int64_t)(ch / Cg) * Mg + mg;
                                        int64_t wi = (((int64_t)ch * Mg + mg) * k3[0] + a0) *
                                                         k3[1] * k3[2] +
                                                     a1 * k3[2] + a2;
                                        acc[(((n * c->M + m) * out[0] + o0) * out[1] + o1) *
                                                out[2] +
                                            o2] += (double)x[xi] * w[wi];
                                    }
    int64_t per = ny / ((int64_t)c->N * c->M);
    for (int64_t i = 0; i < ny; i++)
        want[i] = (float)(acc[i] + (c->bias ? b[(i / per) % c->M] : 0.0));
    int64_t bd[1] = {c->M};
    sk_tensor X = tensor(SK_F32, x, 2 + c->nsp, xd), W = tensor(SK_F32, w, 2 + c->nsp, wd);
    sk_tensor B = tensor(SK_F32, b, 1, bd);
    const sk_tensor *in[3] = {&X, &W, &B};
    sk_tensor y[1];
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, c->bias ? 3 : 2, y, 1, pool), 0);
    assert_int_equal(sk_shape_numel(&y[0].shape), ny);
    assert_close(y[0].data, want, ny, 1e-4, 1e-4);
    free(x);
    free(w);
    free(b);
    free(acc);
    free(want);
    free_out(y, 1, &t);
}

static void test_conv_transpose_random(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(2);
    for (int it = 0; it < 120; it++) {
        convt_cfg c;
        memset(&c, 0, sizeof c);
        c.nsp = 1 + it % 3;
        c.N = rnd_int(1, 2);
        c.group = rnd_int(1, 3);
        c.C = c.group * rnd_int(1, 3);
        c.M = c.group * rnd_int(1, 3);
        c.bias = rnd_int(0, 1);
        for (int i = 0; i < c.nsp; i++) {
            c.in[i] = rnd_int(1, c.nsp == 3 ? 3 : 6);
            c.k[i] = rnd_int(1, 3);
            c.s[i] = rnd_int(1, 3);
            c.d[i] = rnd_int(1, 2);
            c.opad[i] = rnd_int(0, c.s[i] - 1); /* the spec requires opad < stride */
            c.pads[i] = rnd_int(0, c.k[i] - 1);
            c.pads[c.nsp + i] = rnd_int(0, c.k[i] - 1);
            /* keep at least one output */
            int64_t full = c.s[i] * (c.in[i] - 1) + c.opad[i] + (c.k[i] - 1) * c.d[i] + 1;
            if (full - c.pads[i] - c.pads[c.nsp + i] < 1)
                c.pads[i] = c.pads[c.nsp + i] = 0;
        }
        use_scratch = it % 4 < 2;
        check_convt(&c, it % 2 ? pool : NULL);
    }
    sk_pool_destroy(pool);
}

/* output_shape larger than the scatter reach adds rows at the end, exactly as
 * output_padding would (total padding -1 -> pads begin 0, end -1). */
static void test_conv_transpose_output_shape(void **state)
{
    (void)state;
    int64_t xd[3] = {1, 1, 2}, wd[3] = {1, 1, 2}, os[1] = {5}, st[1] = {2};
    float x[2] = {1, 2}, w[2] = {10, 100};
    sk_tensor X = tensor(SK_F32, x, 3, xd), W = tensor(SK_F32, w, 3, wd);
    const sk_tensor *in[2] = {&X, &W};
    tnode t = mk_node(SK_OP_CONV_TRANSPOSE, 13);
    set_ints(&t, "output_shape", os, 1);
    set_ints(&t, "strides", st, 1);
    sk_tensor y[1];
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 2, y, 1, NULL), 0);
    assert_int_equal(y[0].shape.dim[2], 5);
    const float want[5] = {10, 100, 20, 200, 0};
    assert_close(y[0].data, want, 5, 0, 0);
    free_out(y, 1, &t);
}

/* ---- pools: hand-derived values ----------------------------------------- */

static void test_pools(void **state)
{
    (void)state;
    /* 1x1x3x4 input 1..12 */
    int64_t xd[4] = {1, 1, 3, 4}, k[2] = {2, 2}, s[2] = {2, 2}, pads[4] = {1, 1, 0, 0};
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)(i + 1);
    sk_tensor X = tensor(SK_F32, x, 4, xd);
    const sk_tensor *in[1] = {&X};

    /* MaxPool 2x2 stride 2, pad top/left 1, ceil_mode: windows start at
     * rows -1, 1 and cols -1, 1, 3 (the last col window starts in the input). */
    tnode t = mk_node(SK_OP_MAX_POOL, 12);
    set_ints(&t, "kernel_shape", k, 2);
    set_ints(&t, "strides", s, 2);
    set_ints(&t, "pads", pads, 4);
    set_int(&t, "ceil_mode", 1);
    sk_tensor y[2];
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 1, y, 2, NULL), 0);
    assert_int_equal(y[0].shape.dim[2], 2);
    assert_int_equal(y[0].shape.dim[3], 3);
    const float wmax[6] = {1, 3, 4, 9, 11, 12};
    const int64_t widx[6] = {0, 2, 3, 8, 10, 11};
    assert_close(y[0].data, wmax, 6, 0, 0);
    assert_int_equal(y[1].dtype, SK_I64);
    assert_memory_equal(y[1].data, widx, sizeof widx);
    free_out(y, 2, &t);

    /* AveragePool, same geometry: without pads counted, then with. */
    for (int cip = 0; cip < 2; cip++) {
        t = mk_node(SK_OP_AVERAGE_POOL, 11);
        set_ints(&t, "kernel_shape", k, 2);
        set_ints(&t, "strides", s, 2);
        set_ints(&t, "pads", pads, 4);
        set_int(&t, "ceil_mode", 1);
        set_int(&t, "count_include_pad", cip);
        memset(y, 0, sizeof y);
        assert_int_equal(run_op(&t, in, 1, y, 1, NULL), 0);
        /* window (rows -1..0, cols -1..0) holds {1}; (-1..0, 1..2) {2,3};
         * (-1..0, 3..4) {4}; (1..2, -1..0) {5,9}; (1..2, 1..2) {6,7,10,11};
         * (1..2, 3..4) {8,12}. With pads counted, only taps inside
         * [-1, 3) x [-1, 4) count: col 4 is past the (zero) end pad. */
        const float excl[6] = {1, 2.5f, 4, 7, 8.5f, 10};
        const float incl[6] = {1 / 4.0f, 5 / 4.0f, 4 / 2.0f, 14 / 4.0f, 34 / 4.0f, 20 / 2.0f};
        assert_close(y[0].data, cip ? incl : excl, 6, 1e-6, 0);
        free_out(y, 1, &t);
    }

    /* Global pools over 3x4 */
    t = mk_node(SK_OP_GLOBAL_AVERAGE_POOL, 1);
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 1, y, 1, NULL), 0);
    assert_int_equal(y[0].shape.rank, 4);
    assert_true(((float *)y[0].data)[0] == 6.5f);
    free_out(y, 1, &t);
    t = mk_node(SK_OP_GLOBAL_MAX_POOL, 1);
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 1, y, 1, NULL), 0);
    assert_true(((float *)y[0].data)[0] == 12.0f);
    free_out(y, 1, &t);
}

/* ---- MatMul broadcasting against per-batch dot products ------------------- */

static void test_matmul_broadcast(void **state)
{
    (void)state;
    /* A [2,1,3,4] x B [5,4,2] -> [2,5,3,2]; A 1-D [4] x B [3,4,5] -> [3,5] */
    int64_t ad[4] = {2, 1, 3, 4}, bd[3] = {5, 4, 2};
    float a[24], b[40];
    fill(a, 24);
    fill(b, 40);
    tnode t = mk_node(SK_OP_MATMUL, 13);
    sk_tensor A = tensor(SK_F32, a, 4, ad), B = tensor(SK_F32, b, 3, bd);
    const sk_tensor *in[2] = {&A, &B};
    sk_tensor y[1];
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 2, y, 1, NULL), 0);
    const int64_t want_shape[4] = {2, 5, 3, 2};
    assert_int_equal(y[0].shape.rank, 4);
    assert_memory_equal(y[0].shape.dim, want_shape, sizeof want_shape);
    const float *yv = y[0].data;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 5; j++)
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 2; c++) {
                    double s = 0;
                    for (int k = 0; k < 4; k++)
                        s += (double)a[(i * 3 + r) * 4 + k] * b[(j * 4 + k) * 2 + c];
                    assert_true(fabs(yv[((i * 5 + j) * 3 + r) * 2 + c] - s) < 1e-5);
                }
    free_out(y, 1, &t);

    int64_t vd[1] = {4}, b3[3] = {2, 4, 5};
    t = mk_node(SK_OP_MATMUL, 13);
    A = tensor(SK_F32, a, 1, vd);
    B = tensor(SK_F32, b, 3, b3);
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 2, y, 1, NULL), 0);
    assert_int_equal(y[0].shape.rank, 2);
    assert_int_equal(y[0].shape.dim[0], 2);
    assert_int_equal(y[0].shape.dim[1], 5);
    yv = y[0].data;
    for (int i = 0; i < 2; i++)
        for (int c = 0; c < 5; c++) {
            double s = 0;
            for (int k = 0; k < 4; k++)
                s += (double)a[k] * b[(i * 4 + k) * 5 + c];
            assert_true(fabs(yv[i * 5 + c] - s) < 1e-5);
        }
    free_out(y, 1, &t);

    /* incompatible batch dims */
    int64_t e1[3] = {3, 2, 4}, e2[3] = {2, 4, 2};
    t = mk_node(SK_OP_MATMUL, 13);
    A = tensor(SK_F32, a, 3, e1);
    B = tensor(SK_F32, b, 3, e2);
    sk_kctx ctx = mkctx(NULL);
    assert_int_equal(sk_infer_matmul(node(&t), in, 2, y, 1, &ctx), SK_ESHAPE);
    sk_graph_free(t.g);
}

/* ---- Softmax (opset 11 coerces to 2-D), BatchNorm --------------------------- */

static void test_softmax_legacy(void **state)
{
    (void)state;
    /* [2,2,2], axis 1: opset 11 normalizes each image's 4 values together,
     * opset 13 each pair along axis 1. */
    int64_t xd[3] = {2, 2, 2};
    float x[8] = {0, 0, 0, 0, 1, 2, 3, 4};
    sk_tensor X = tensor(SK_F32, x, 3, xd);
    const sk_tensor *in[1] = {&X};
    for (int v = 0; v < 2; v++) {
        tnode t = mk_node(SK_OP_SOFTMAX, v ? 13 : 11);
        set_int(&t, "axis", 1);
        sk_tensor y[1];
        memset(y, 0, sizeof y);
        assert_int_equal(run_op(&t, in, 1, y, 1, NULL), 0);
        const float *yv = y[0].data;
        if (!v) {
            double z = exp(1) + exp(2) + exp(3) + exp(4);
            const float want[8] = {0.25f, 0.25f, 0.25f, 0.25f, (float)(exp(1) / z),
                                   (float)(exp(2) / z), (float)(exp(3) / z),
                                   (float)(exp(4) / z)};
            assert_close(yv, want, 8, 1e-6, 1e-7);
        } else {
            float hi = (float)(1 / (1 + exp(-2))), lo = 1 - hi;
            const float want[8] = {0.5f, 0.5f, 0.5f, 0.5f, lo, lo, hi, hi};
            assert_close(yv, want, 8, 1e-6, 1e-7);
        }
        free_out(y, 1, &t);
    }
}

static void test_batch_norm(void **state)
{
    (void)state;
    int64_t xd[3] = {1, 2, 2}, cd[1] = {2};
    float x[4] = {1, 2, 3, 4}, sc[2] = {2, 1}, bi[2] = {0, 1}, mu[2] = {1, 3}, var[2] = {4, 1};
    sk_tensor X = tensor(SK_F32, x, 3, xd), S = tensor(SK_F32, sc, 1, cd),
              B = tensor(SK_F32, bi, 1, cd), M = tensor(SK_F32, mu, 1, cd),
              V = tensor(SK_F32, var, 1, cd);
    const sk_tensor *in[5] = {&X, &S, &B, &M, &V};
    tnode t = mk_node(SK_OP_BATCH_NORM, 15);
    sk_node_set_float(t.g, t.ni, "epsilon", 0.0f);
    sk_tensor y[3];
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 5, y, 1, NULL), 0);
    /* channel 0: (x - 1) / 2 * 2; channel 1: (x - 3) / 1 + 1 */
    const float want[4] = {0, 1, 1, 2};
    assert_close(y[0].data, want, 4, 1e-6, 1e-6);
    free_out(y, 1, &t);
    /* training outputs are refused */
    t = mk_node(SK_OP_BATCH_NORM, 15);
    set_int(&t, "training_mode", 1);
    sk_kctx ctx = mkctx(NULL);
    assert_int_equal(sk_infer_batch_norm(node(&t), in, 5, y, 3, &ctx), SK_EUNSUPPORTED);
    sk_graph_free(t.g);
}

/* ---- Resize --------------------------------------------------------------- */

static void test_resize(void **state)
{
    (void)state;
    int64_t xd[4] = {1, 1, 1, 2}, sd[1] = {4};
    float x[2] = {1, 3};
    sk_tensor X = tensor(SK_F32, x, 4, xd);
    int64_t sizes[4] = {1, 1, 1, 4};
    sk_tensor Z = tensor(SK_I64, sizes, 1, sd);
    const sk_tensor *in[4] = {&X, NULL, NULL, &Z};
    sk_tensor y[1];

    /* linear, half_pixel, 2 -> 4: x_in = (o + 0.5) / 2 - 0.5 = -0.25, 0.25,
     * 0.75, 1.25, clamped to [0, 1] */
    tnode t = mk_node(SK_OP_RESIZE, 13);
    set_str(&t, "mode", "linear");
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 4, y, 1, NULL), 0);
    const float lin[4] = {1, 1.5f, 2.5f, 3};
    assert_close(y[0].data, lin, 4, 1e-6, 0);
    free_out(y, 1, &t);

    /* align_corners: x_in = o / 3 */
    t = mk_node(SK_OP_RESIZE, 13);
    set_str(&t, "mode", "linear");
    set_str(&t, "coordinate_transformation_mode", "align_corners");
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 4, y, 1, NULL), 0);
    const float ac[4] = {1, 1 + 2 / 3.0f, 1 + 4 / 3.0f, 3};
    assert_close(y[0].data, ac, 4, 1e-6, 0);
    free_out(y, 1, &t);

    /* nearest asymmetric round_prefer_ceil: x_in = 0, .5, 1, 1.5 -> 0,1,1,2->1 */
    t = mk_node(SK_OP_RESIZE, 13);
    set_str(&t, "coordinate_transformation_mode", "asymmetric");
    set_str(&t, "nearest_mode", "round_prefer_ceil");
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 4, y, 1, NULL), 0);
    const float nr[4] = {1, 3, 3, 3};
    assert_close(y[0].data, nr, 4, 0, 0);
    free_out(y, 1, &t);

    /* tf_half_pixel_for_nn keeps an unscaled axis as it is (onnxruntime
     * 1.30's output, bench/.ort, for x = 0..11 as [1, 3, 2, 2] and scales
     * [1, 1, 1, 2]): row 0 of channel 0 below; (o + 0.5) / 1 applied to the
     * kept axes would read channel 1 / row 1 instead */
    {
        int64_t xd3[4] = {1, 3, 2, 2}, sd3[1] = {4};
        float x3[12], sc3[4] = {1, 1, 1, 2};
        for (int i = 0; i < 12; i++)
            x3[i] = (float)i;
        sk_tensor X3 = tensor(SK_F32, x3, 4, xd3), S3 = tensor(SK_F32, sc3, 1, sd3);
        const sk_tensor *in3[3] = {&X3, NULL, &S3};
        static const char *const modes[3][2] = {
            {"nearest", "round_prefer_ceil"}, {"nearest", "ceil"}, {"linear", NULL}};
        static const float want[3][8] = {{0, 1, 1, 1, 2, 3, 3, 3},
                                         {1, 1, 1, 1, 3, 3, 3, 3},
                                         {0.25f, 0.75f, 1, 1, 2.25f, 2.75f, 3, 3}};
        for (int m = 0; m < 3; m++) {
            t = mk_node(SK_OP_RESIZE, 13);
            set_str(&t, "mode", modes[m][0]);
            set_str(&t, "coordinate_transformation_mode", "tf_half_pixel_for_nn");
            if (modes[m][1])
                set_str(&t, "nearest_mode", modes[m][1]);
            memset(y, 0, sizeof y);
            assert_int_equal(run_op(&t, in3, 3, y, 1, NULL), 0);
            assert_int_equal(sk_shape_numel(&y[0].shape), 24);
            assert_close(y[0].data, want[m], 8, 1e-6, 0);
            free_out(y, 1, &t);
        }
    }

    /* sizes unknown at plan time */
    t = mk_node(SK_OP_RESIZE, 13);
    Z.data = NULL;
    sk_kctx ctx = mkctx(NULL);
    assert_int_equal(sk_infer_resize(node(&t), in, 4, y, 1, &ctx), SK_ENEEDVALUE);
    sk_graph_free(t.g);
}

/* ---- Pad ------------------------------------------------------------------- */

static void test_pad_modes(void **state)
{
    (void)state;
    int64_t xd[1] = {3}, pd[1] = {2}, pads[2] = {2, 3};
    int32_t x[3] = {1, 2, 3}; /* Pad moves bytes: any element type works */
    sk_tensor X = tensor(SK_I32, x, 1, xd), P = tensor(SK_I64, pads, 1, pd);
    const sk_tensor *in[2] = {&X, &P};
    static const char *const modes[4] = {"constant", "reflect", "edge", "wrap"};
    static const int32_t want[4][8] = {
        {0, 0, 1, 2, 3, 0, 0, 0},
        {3, 2, 1, 2, 3, 2, 1, 2},
        {1, 1, 1, 2, 3, 3, 3, 3},
        {2, 3, 1, 2, 3, 1, 2, 3},
    };
    for (int m = 0; m < 4; m++) {
        tnode t = mk_node(SK_OP_PAD, 19);
        set_str(&t, "mode", modes[m]);
        sk_tensor y[1];
        memset(y, 0, sizeof y);
        assert_int_equal(run_op(&t, in, 2, y, 1, NULL), 0);
        assert_int_equal(y[0].dtype, SK_I32);
        assert_int_equal(y[0].shape.dim[0], 8);
        assert_memory_equal(y[0].data, want[m], sizeof want[m]);
        free_out(y, 1, &t);
    }
    /* negative pads crop */
    int64_t crop[2] = {-1, 0};
    P.data = crop;
    tnode t = mk_node(SK_OP_PAD, 13);
    sk_tensor y[1];
    memset(y, 0, sizeof y);
    assert_int_equal(run_op(&t, in, 2, y, 1, NULL), 0);
    const int32_t cw[2] = {2, 3};
    assert_int_equal(y[0].shape.dim[0], 2);
    assert_memory_equal(y[0].data, cw, sizeof cw);
    free_out(y, 1, &t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ref_gemm),
        cmocka_unit_test(test_conv_random),
        cmocka_unit_test(test_conv_paths),
        cmocka_unit_test(test_conv_errors),
        cmocka_unit_test(test_conv_transpose_random),
        cmocka_unit_test(test_conv_transpose_output_shape),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_matmul_broadcast),
        cmocka_unit_test(test_softmax_legacy),
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_pad_modes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
