/* test_broadcast.c — numpy broadcasting: shape rules (and their errors), the
 * merged walk of sk_bcast, strided copies, and the element-wise kernels that
 * use them. Expected values are worked out by hand, or by a naive
 * index-by-index broadcast written here from the numpy rule (unravel the
 * output index, use 0 on an input's size-1 dims). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/broadcast.h"
#include "engine/graph.h"
#include "engine/ops.h"
#include "engine/threadpool.h"

static sk_shape shp(int rank, ...)
{
    sk_shape s = {.rank = rank};
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        s.dim[i] = va_arg(ap, int);
    va_end(ap);
    return s;
}

static int bshape(sk_shape *out, int nin, const sk_shape *a, const sk_shape *b,
                  const sk_shape *c, char *err, size_t errlen)
{
    const sk_shape *in[3] = {a, b, c};
    return sk_broadcast_shape(in, nin, out, err, errlen);
}

static void assert_shape(const sk_shape *s, int rank, const int64_t *dims)
{
    assert_int_equal(s->rank, rank);
    for (int i = 0; i < rank; i++)
        assert_int_equal(s->dim[i], dims[i]);
}

/* ---- shape rules ---------------------------------------------------------- */

static void test_shape_rules(void **state)
{
    (void)state;
    sk_shape o, a, b, c;
    char err[256];

    a = shp(3, 3, 4, 5), b = shp(1, 5);
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), 0);
    assert_shape(&o, 3, (int64_t[]){3, 4, 5});

    /* both sides stretch: [2,1,4] + [3,1] -> [2,3,4] */
    a = shp(3, 2, 1, 4), b = shp(2, 3, 1);
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), 0);
    assert_shape(&o, 3, (int64_t[]){2, 3, 4});

    /* a rank-0 scalar broadcasts to anything */
    a = shp(0), b = shp(2, 2, 3);
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), 0);
    assert_shape(&o, 2, (int64_t[]){2, 3});
    assert_int_equal(bshape(&o, 2, &a, &a, NULL, err, sizeof err), 0);
    assert_int_equal(o.rank, 0);

    /* three inputs, each supplying one dim */
    a = shp(3, 1, 3, 1), b = shp(3, 2, 1, 1), c = shp(1, 4);
    assert_int_equal(bshape(&o, 3, &a, &b, &c, err, sizeof err), 0);
    assert_shape(&o, 3, (int64_t[]){2, 3, 4});

    /* 0 stretches from 1 like any size, and stays 0 */
    a = shp(2, 0, 3), b = shp(2, 1, 3);
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), 0);
    assert_shape(&o, 2, (int64_t[]){0, 3});

    /* a symbolic dim yields to a concrete one and survives a 1 */
    a = shp(2, SK_DIM_SYMBOLIC, 3), b = shp(2, 1, 3);
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), 0);
    assert_shape(&o, 2, (int64_t[]){SK_DIM_SYMBOLIC, 3});
    b = shp(2, 5, 3);
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), 0);
    assert_shape(&o, 2, (int64_t[]){5, 3});
}

static void test_shape_errors(void **state)
{
    (void)state;
    sk_shape o, a, b, c;
    char err[256];

    a = shp(2, 2, 3), b = shp(2, 3, 2);
    err[0] = 0;
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), SK_ESHAPE);
    assert_non_null(strstr(err, "[2,3]"));
    assert_non_null(strstr(err, "[3,2]"));

    /* 0 does not broadcast against 3 */
    a = shp(1, 0), b = shp(1, 3);
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), SK_ESHAPE);

    /* trailing dims 4 vs 5 clash even though leading dims would fit */
    a = shp(3, 2, 3, 4), b = shp(1, 5);
    assert_int_equal(bshape(&o, 2, &a, &b, NULL, err, sizeof err), SK_ESHAPE);

    /* the third input clashes with the first two */
    a = shp(2, 1, 4), b = shp(2, 3, 1), c = shp(1, 2);
    assert_int_equal(bshape(&o, 3, &a, &b, &c, err, sizeof err), SK_ESHAPE);

    assert_int_equal(bshape(&o, 0, &a, &b, NULL, err, sizeof err), SK_EINVAL);
}

static void test_broadcast_to(void **state)
{
    (void)state;
    sk_shape x = shp(4, 2, 3, 4, 5);
    sk_shape s1 = shp(3, 3, 1, 1), s2 = shp(1, 5), s3 = shp(1, 3), s4 = shp(5, 1, 2, 3, 4, 5);
    sk_shape s5 = shp(0);
    assert_true(sk_broadcast_to(&s1, &x));
    assert_true(sk_broadcast_to(&s2, &x));
    assert_true(sk_broadcast_to(&s5, &x));
    assert_false(sk_broadcast_to(&s3, &x)); /* 3 against the last dim 5 */
    assert_false(sk_broadcast_to(&s4, &x)); /* higher rank never shrinks */
    assert_false(sk_broadcast_to(&x, &s1));  /* unidirectional */
}

/* ---- the merged walk ------------------------------------------------------- */

static void test_bcast_merging(void **state)
{
    (void)state;
    sk_bcast b;
    sk_shape out = shp(3, 2, 3, 4), same = shp(3, 2, 3, 4), scalar = shp(0);
    const sk_shape *in2[2] = {&same, &same};
    assert_int_equal(sk_bcast_init(&b, &out, in2, 2), 0);
    assert_int_equal(b.rank, 1); /* one flat run */
    assert_int_equal(b.dim[0], 24);
    assert_int_equal(b.inc[0], 1);
    assert_int_equal(b.inc[1], 1);

    in2[1] = &scalar;
    assert_int_equal(sk_bcast_init(&b, &out, in2, 2), 0);
    assert_int_equal(b.rank, 1);
    assert_int_equal(b.inc[0], 1);
    assert_int_equal(b.inc[1], 0);

    /* per-channel bias: [2,3,4,5] + [1,3,1,1] -> 6 runs of 20, bias inc 0 */
    sk_shape act = shp(4, 2, 3, 4, 5), bias = shp(4, 1, 3, 1, 1);
    const sk_shape *in3[2] = {&act, &bias};
    assert_int_equal(sk_bcast_init(&b, &act, in3, 2), 0);
    assert_int_equal(b.rank, 3);
    assert_int_equal(b.dim[0], 2);
    assert_int_equal(b.dim[1], 3);
    assert_int_equal(b.dim[2], 20);
    assert_int_equal(b.stride[1][1], 1); /* the bias steps once per channel */
    assert_int_equal(b.stride[1][0], 0);
    assert_int_equal(b.inc[1], 0);

    /* an input that does not broadcast to out is refused */
    sk_shape bad = shp(1, 4);
    const sk_shape *in4[1] = {&bad};
    sk_shape o2 = shp(2, 2, 3);
    assert_int_equal(sk_bcast_init(&b, &o2, in4, 1), SK_ESHAPE);
}

/* Naive numpy reference: element offset in `in` for output index `lin`. */
static int64_t naive_offset(const sk_shape *out, const sk_shape *in, int64_t lin)
{
    int64_t off = 0, stride = 1;
    for (int d = out->rank - 1; d >= 0; d--) {
        int64_t i = lin % out->dim[d];
        lin /= out->dim[d];
        int k = d - (out->rank - in->rank);
        if (k >= 0) {
            if (in->dim[k] != 1)
                off += i * stride;
            stride *= in->dim[k];
        }
    }
    return off;
}

typedef struct {
    const sk_bcast *b;
    int64_t *seen_a, *seen_b; /* per output element: input offsets seen */
    int64_t *hits;
} walk_rec;

static void record_runs(void *arg, int64_t n, int64_t off, const int64_t *in_off)
{
    walk_rec *r = arg;
    for (int64_t k = 0; k < n; k++) {
        r->seen_a[off + k] = in_off[0] + k * r->b->inc[0];
        r->seen_b[off + k] = in_off[1] + k * r->b->inc[1];
        r->hits[off + k]++; /* distinct elements per thread: no race */
    }
}

static unsigned rng_state = 12345;
static int rnd(int n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (int)((rng_state >> 16) % (unsigned)n);
}

/* Random shapes, walked serially and by a 3-thread pool with a tiny grain:
 * every output element is visited once, with the naive input offsets. */
static void test_walk_matches_naive(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(3);
    assert_non_null(pool);
    static const int sizes[] = {1, 2, 3, 5, 7};
    for (int iter = 0; iter < 400; iter++) {
        sk_shape out = {.rank = rnd(6)};
        for (int d = 0; d < out.rank; d++)
            out.dim[d] = sizes[rnd(5)];
        sk_shape a = {.rank = rnd(out.rank + 1)}, b = {.rank = rnd(out.rank + 1)};
        for (int k = 0; k < a.rank; k++)
            a.dim[k] = rnd(3) ? out.dim[k + out.rank - a.rank] : 1;
        for (int k = 0; k < b.rank; k++)
            b.dim[k] = rnd(3) ? out.dim[k + out.rank - b.rank] : 1;
        /* the output shape is the broadcast of a, b and a full-rank shape */
        const sk_shape *ins[2] = {&a, &b};
        sk_bcast bc;
        assert_int_equal(sk_bcast_init(&bc, &out, ins, 2), 0);
        int64_t numel = sk_shape_numel(&out);
        int64_t *sa = calloc((size_t)numel, 8), *sb = calloc((size_t)numel, 8);
        int64_t *hits = calloc((size_t)numel, 8);
        walk_rec r = {&bc, sa, sb, hits};
        for (int pass = 0; pass < 2; pass++) {
            memset(hits, 0, (size_t)numel * 8);
            if (pass == 0)
                sk_bcast_walk(&bc, 0, numel, record_runs, &r);
            else
                sk_bcast_parallel(&bc, pool, 3, record_runs, &r);
            for (int64_t i = 0; i < numel; i++) {
                assert_int_equal(hits[i], 1);
                assert_int_equal(sa[i], naive_offset(&out, &a, i));
                assert_int_equal(sb[i], naive_offset(&out, &b, i));
            }
        }
        /* a walk over a sub-range starts mid-row correctly */
        if (numel > 3) {
            memset(hits, 0, (size_t)numel * 8);
            sk_bcast_walk(&bc, 1, numel - 1, record_runs, &r);
            assert_int_equal(hits[0], 0);
            assert_int_equal(hits[numel - 1], 0);
            for (int64_t i = 1; i < numel - 1; i++) {
                assert_int_equal(hits[i], 1);
                assert_int_equal(sb[i], naive_offset(&out, &b, i));
            }
        }
        free(sa);
        free(sb);
        free(hits);
    }
    sk_pool_destroy(pool);
}

static void test_strided_copy(void **state)
{
    (void)state;
    /* transpose of [[0,1,2],[3,4,5]]: out [3,2] reads strides (1, 3) */
    int32_t in[6] = {0, 1, 2, 3, 4, 5}, out[6];
    sk_strided_copy(out, in, 4, 2, (int64_t[]){3, 2}, (int64_t[]){1, 3});
    int32_t t[6] = {0, 3, 1, 4, 2, 5};
    assert_memory_equal(out, t, sizeof t);
    /* reversed rows, every other column: start at in[2*4+0]... of a [3,4] */
    int64_t m[12], o2[6];
    for (int i = 0; i < 12; i++)
        m[i] = 100 + i;
    sk_strided_copy(o2, &m[8], 8, 2, (int64_t[]){3, 2}, (int64_t[]){-4, 2});
    int64_t want[6] = {108, 110, 104, 106, 100, 102};
    assert_memory_equal(o2, want, sizeof want);
    /* broadcast a byte column [2,1] to [2,3] */
    uint8_t col[2] = {7, 9}, o3[6];
    sk_strided_copy(o3, col, 1, 2, (int64_t[]){2, 3}, (int64_t[]){1, 0});
    uint8_t w3[6] = {7, 7, 7, 9, 9, 9};
    assert_memory_equal(o3, w3, sizeof w3);
}

/* ---- element-wise kernels ------------------------------------------------ */

static char g_err[512];

static sk_tensor tens(sk_dtype dt, sk_shape s, void *data)
{
    sk_tensor t = {dt, s, data};
    return t;
}

/* infer, check the shape, allocate, run; returns the output (caller frees). */
static sk_tensor run_op(sk_op op, const sk_tensor *ins, int nin, sk_pool *pool, int expect_rc)
{
    sk_node n = {.op = op, .name = "t", .opset = 17, .nin = nin, .nout = 1};
    const sk_tensor *in[4];
    for (int i = 0; i < nin; i++)
        in[i] = &ins[i];
    sk_kctx ctx = {.err = g_err, .errlen = sizeof g_err, .pool = pool};
    sk_tensor out = {0};
    const sk_op_info *info = sk_op_get(op);
    int rc = info->infer(&n, in, nin, &out, 1, &ctx);
    assert_int_equal(rc, expect_rc);
    if (rc)
        return out;
    out.data = calloc(1, sk_tensor_bytes(&out) + 1);
    assert_int_equal(info->run(&n, in, nin, &out, 1, &ctx), 0);
    return out;
}

static void test_add_int_broadcast(void **state)
{
    (void)state;
    /* [2,3] + [3]: rows plus a row vector */
    int32_t a[6] = {1, 2, 3, 4, 5, 6}, b[3] = {10, 20, 30};
    sk_tensor in[2] = {tens(SK_I32, shp(2, 2, 3), a), tens(SK_I32, shp(1, 3), b)};
    sk_tensor o = run_op(SK_OP_ADD, in, 2, NULL, 0);
    assert_shape(&o.shape, 2, (int64_t[]){2, 3});
    int32_t want[6] = {11, 22, 33, 14, 25, 36};
    assert_memory_equal(o.data, want, sizeof want);
    free(o.data);

    /* [2,1] - [1,3] (outer difference) in int64 */
    int64_t c[2] = {100, 200}, d[3] = {1, 2, 3};
    sk_tensor in2[2] = {tens(SK_I64, shp(2, 2, 1), c), tens(SK_I64, shp(2, 1, 3), d)};
    o = run_op(SK_OP_SUB, in2, 2, NULL, 0);
    int64_t want2[6] = {99, 98, 97, 199, 198, 197};
    assert_memory_equal(o.data, want2, sizeof want2);
    free(o.data);

    /* uint8 wraps: 250 + 10 = 4 (mod 256) */
    uint8_t u[2] = {250, 3}, v[1] = {10};
    sk_tensor in3[2] = {tens(SK_U8, shp(1, 2), u), tens(SK_U8, shp(0), v)};
    o = run_op(SK_OP_ADD, in3, 2, NULL, 0);
    assert_int_equal(((uint8_t *)o.data)[0], 4);
    assert_int_equal(((uint8_t *)o.data)[1], 13);
    free(o.data);

    /* mismatched dtypes and shapes are refused at infer */
    float f[3] = {0};
    sk_tensor in4[2] = {tens(SK_I32, shp(1, 3), b), tens(SK_F32, shp(1, 3), f)};
    run_op(SK_OP_ADD, in4, 2, NULL, SK_EINVAL);
    sk_tensor in5[2] = {tens(SK_I32, shp(2, 2, 3), a), tens(SK_I32, shp(1, 2), b)};
    run_op(SK_OP_MUL, in5, 2, NULL, SK_ESHAPE);
}

static void test_div_truncates(void **state)
{
    (void)state;
    /* C truncation toward zero: -7/2 = -3, 7/-2 = -3, -7/-2 = 3 */
    int32_t a[4] = {-7, 7, -7, 7}, b[4] = {2, -2, -2, 2};
    sk_tensor in[2] = {tens(SK_I32, shp(1, 4), a), tens(SK_I32, shp(1, 4), b)};
    sk_tensor o = run_op(SK_OP_DIV, in, 2, NULL, 0);
    int32_t want[4] = {-3, -3, 3, 3};
    assert_memory_equal(o.data, want, sizeof want);
    free(o.data);

    float x[2] = {1.0f, -3.0f}, y[1] = {4.0f};
    sk_tensor fin[2] = {tens(SK_F32, shp(1, 2), x), tens(SK_F32, shp(0), y)};
    o = run_op(SK_OP_DIV, fin, 2, NULL, 0);
    assert_true(((float *)o.data)[0] == 0.25f);
    assert_true(((float *)o.data)[1] == -0.75f);
    free(o.data);
}

/* A large per-channel Mul, with a real pool, against the naive rule. */
static void test_mul_per_channel_pool(void **state)
{
    (void)state;
    sk_pool *pool = sk_pool_create(3);
    const int N = 2, C = 5, HW = 4099; /* odd size, > one grain in total */
    float *x = malloc(sizeof(float) * (size_t)(N * C * HW)), s[5];
    for (int i = 0; i < N * C * HW; i++)
        x[i] = (float)(i % 97) - 40.0f;
    for (int c = 0; c < C; c++)
        s[c] = 0.5f * (float)(c + 1);
    sk_tensor in[2] = {tens(SK_F32, shp(4, N, C, 1, HW), x), tens(SK_F32, shp(3, C, 1, 1), s)};
    sk_tensor o = run_op(SK_OP_MUL, in, 2, pool, 0);
    for (int i = 0; i < N * C * HW; i++) {
        int c = (i / HW) % C;
        assert_true(((float *)o.data)[i] == x[i] * 0.5f * (float)(c + 1));
    }
    free(o.data);
    free(x);
    sk_pool_destroy(pool);
}

static void test_variadic_and_where(void **state)
{
    (void)state;
    /* Sum of [2,1], [3] and a scalar: out[i][j] = a[i] + b[j] + c */
    float a[2] = {1, 2}, b[3] = {10, 20, 30}, c[1] = {100};
    sk_tensor in[3] = {tens(SK_F32, shp(2, 2, 1), a), tens(SK_F32, shp(1, 3), b),
                       tens(SK_F32, shp(0), c)};
    sk_tensor o = run_op(SK_OP_SUM, in, 3, NULL, 0);
    float want[6] = {111, 121, 131, 112, 122, 132};
    assert_memory_equal(o.data, want, sizeof want);
    free(o.data);

    o = run_op(SK_OP_MEAN, in, 3, NULL, 0);
    for (int i = 0; i < 6; i++)
        assert_float_equal(((float *)o.data)[i], want[i] / 3.0f, 1e-5);
    free(o.data);

    o = run_op(SK_OP_MAX, in, 2, NULL, 0);
    float wmax[6] = {10, 20, 30, 10, 20, 30};
    assert_memory_equal(o.data, wmax, sizeof wmax);
    free(o.data);

    /* Max propagates NaN like numpy.maximum */
    float na[2] = {NAN, 1}, nb[2] = {1, NAN};
    sk_tensor nin[2] = {tens(SK_F32, shp(1, 2), na), tens(SK_F32, shp(1, 2), nb)};
    o = run_op(SK_OP_MAX, nin, 2, NULL, 0);
    assert_true(isnan(((float *)o.data)[0]) && isnan(((float *)o.data)[1]));
    free(o.data);

    /* Where(cond [2,1], x [1,3], y scalar) -> [2,3] */
    uint8_t cond[2] = {1, 0};
    int64_t xv[3] = {1, 2, 3}, yv[1] = {-1};
    sk_tensor w[3] = {tens(SK_BOOL, shp(2, 2, 1), cond), tens(SK_I64, shp(2, 1, 3), xv),
                      tens(SK_I64, shp(0), yv)};
    o = run_op(SK_OP_WHERE, w, 3, NULL, 0);
    assert_shape(&o.shape, 2, (int64_t[]){2, 3});
    int64_t ww[6] = {1, 2, 3, -1, -1, -1};
    assert_memory_equal(o.data, ww, sizeof ww);
    free(o.data);

    /* Equal broadcasts and yields bool */
    int32_t e1[4] = {1, 2, 3, 4}, e2[2] = {1, 4};
    sk_tensor eq[2] = {tens(SK_I32, shp(2, 2, 2), e1), tens(SK_I32, shp(1, 2), e2)};
    o = run_op(SK_OP_EQUAL, eq, 2, NULL, 0);
    assert_int_equal(o.dtype, SK_BOOL);
    uint8_t we[4] = {1, 0, 0, 1};
    assert_memory_equal(o.data, we, sizeof we);
    free(o.data);
}

static void test_prelu_and_pow(void **state)
{
    (void)state;
    /* PRelu with a [C,1,1] slope on [1,2,1,2] */
    float x[4] = {-1, 2, -3, 4}, s[2] = {0.5f, 0.25f};
    sk_tensor in[2] = {tens(SK_F32, shp(4, 1, 2, 1, 2), x), tens(SK_F32, shp(3, 2, 1, 1), s)};
    sk_tensor o = run_op(SK_OP_PRELU, in, 2, NULL, 0);
    float want[4] = {-0.5f, 2, -0.75f, 4};
    assert_memory_equal(o.data, want, sizeof want);
    free(o.data);
    /* the slope may not grow X */
    sk_tensor bad[2] = {tens(SK_F32, shp(1, 2), s), tens(SK_F32, shp(2, 2, 2), x)};
    run_op(SK_OP_PRELU, bad, 2, NULL, SK_ESHAPE);

    /* float ** int64 and int32 ** int32 */
    float b[3] = {2, -3, 0.5f};
    int64_t e[3] = {3, 2, -1};
    sk_tensor p[2] = {tens(SK_F32, shp(1, 3), b), tens(SK_I64, shp(1, 3), e)};
    o = run_op(SK_OP_POW, p, 2, NULL, 0);
    float wp[3] = {8, 9, 2};
    assert_memory_equal(o.data, wp, sizeof wp);
    free(o.data);
    int32_t ib[2] = {3, -2}, ie[1] = {3};
    sk_tensor q[2] = {tens(SK_I32, shp(1, 2), ib), tens(SK_I32, shp(0), ie)};
    o = run_op(SK_OP_POW, q, 2, NULL, 0);
    int32_t wq[2] = {27, -8};
    assert_memory_equal(o.data, wq, sizeof wq);
    free(o.data);
}

/* Expand broadcasts both ways; shape-from-value ops need the value at infer. */
static void test_expand_and_needvalue(void **state)
{
    (void)state;
    /* [3,1] expanded by shape [2,1,4] -> [2,3,4], column values repeated */
    float col[3] = {1, 2, 3};
    int64_t target[3] = {2, 1, 4};
    sk_tensor in[2] = {tens(SK_F32, shp(2, 3, 1), col), tens(SK_I64, shp(1, 3), target)};
    sk_tensor o = run_op(SK_OP_EXPAND, in, 2, NULL, 0);
    assert_shape(&o.shape, 3, (int64_t[]){2, 3, 4});
    for (int i = 0; i < 24; i++)
        assert_true(((float *)o.data)[i] == col[(i / 4) % 3]);
    free(o.data);
    /* 3 against 5 on the middle dim does not broadcast */
    int64_t clash[2] = {5, 1};
    sk_tensor bad[2] = {tens(SK_F32, shp(2, 3, 1), col), tens(SK_I64, shp(1, 2), clash)};
    run_op(SK_OP_EXPAND, bad, 2, NULL, SK_ESHAPE);

    /* the same inputs without their values: the planner must be told */
    sk_tensor unknown[2] = {tens(SK_F32, shp(2, 3, 1), col), tens(SK_I64, shp(1, 3), NULL)};
    run_op(SK_OP_EXPAND, unknown, 2, NULL, SK_ENEEDVALUE);
    run_op(SK_OP_RESHAPE, unknown, 2, NULL, SK_ENEEDVALUE);
    sk_tensor shape_only[1] = {tens(SK_I64, shp(1, 2), NULL)};
    run_op(SK_OP_CONSTANT_OF_SHAPE, shape_only, 1, NULL, SK_ENEEDVALUE);
    /* an empty shape tensor is known without data: ConstantOfShape -> scalar 0 */
    sk_tensor empty[1] = {tens(SK_I64, shp(1, 0), NULL)};
    o = run_op(SK_OP_CONSTANT_OF_SHAPE, empty, 1, NULL, 0);
    assert_int_equal(o.shape.rank, 0);
    assert_int_equal(o.dtype, SK_F32);
    assert_true(((float *)o.data)[0] == 0.0f);
    free(o.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_rules),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_broadcast_to),
        cmocka_unit_test(test_bcast_merging),
        cmocka_unit_test(test_walk_matches_naive),
        cmocka_unit_test(test_strided_copy),
        cmocka_unit_test(test_add_int_broadcast),
        cmocka_unit_test(test_div_truncates),
        cmocka_unit_test(test_mul_per_channel_pool),
        cmocka_unit_test(test_variadic_and_where),
        cmocka_unit_test(test_prelu_and_pow),
        cmocka_unit_test(test_expand_and_needvalue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
