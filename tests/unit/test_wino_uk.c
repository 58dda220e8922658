/* test_wino_uk.c — the vector transforms of Winograd F(2x2, 3x3) and
 * F(4x4, 3x3) (engine/kernels/fast_wino_uk.h) against the transform
 * matrices written out here as plain matrix products: B' d B, A' m A, the
 * stride-2 / stride-4 column gathers and the interleaving epilogues, for
 * every lane count and tail.
 * Levels: AVX2 when the CPU has it, AVX-512 when it has it, and always
 * "emu512" — the AVX-512 build of the same header against avx512_emu.h, so
 * the 32-lane code is checked on CPUs without AVX-512.
 * The whole-convolution check (these kernels inside fast_winograd.c vs the
 * reference conv) is in test_fast_conv.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu.h"
#include "kernels/fast.h"

#define SK_FAST_EMULATE 1
#define SK_FAST_AVX512 1
#define SK_UK(name) emu512_##name
#include "avx512_emu.h"
#include "kernels/fast_simd.h"
#include "kernels/fast_wino_uk.h"

typedef struct impl {
    const char *name;
    int nr;
    void (*cols)(const float *row, int n, float *d, int nr);
    void (*in)(const float *d, float *v, size_t vstride, int nr);
    void (*out)(const float *mb, size_t mstride, float *y, int nr);
    void (*epi)(float *out, const float *y0, const float *y1, size_t n, float b,
                const float *res, float lo, float hi);
    void (*cols4)(const float *row, int n, float *d, int nr);
    void (*in4)(const float *d, float *v, size_t vstride, int nr);
    void (*out4)(const float *mb, size_t mstride, float *y, int nr);
    void (*epi4)(float *out, const float *y0, const float *y1, const float *y2, const float *y3,
                 size_t n, float b, const float *res, float lo, float hi);
    void (*colsw)(const float *row, long iw0, long W, int n, float *d, int nr);
    void (*colsw4)(const float *row, long iw0, long W, int n, float *d, int nr);
} impl;

/* the eight kernels named p<kernel>s, e.g. sk_f32_wino_in__avx2 */
#define IMPL(label, nr, p, s)                                                                \
    (impl)                                                                                   \
    {                                                                                        \
        label, nr, p##wino_cols##s, p##wino_in##s, p##wino_out##s, p##wino_epi##s,           \
            p##wino4_cols##s, p##wino4_in##s, p##wino4_out##s, p##wino4_epi##s,              \
            p##wino_colsw##s, p##wino4_colsw##s                                              \
    }

static int impls(impl *out)
{
    int n = 0;
    out[n++] = IMPL("emu512", 32, emu512_, );
#if defined(__x86_64__)
    if (sk_cpu_detected() >= SK_ISA_AVX2)
        out[n++] = IMPL("avx2", 16, sk_f32_, __avx2);
    if (sk_cpu_detected() >= SK_ISA_AVX512)
        out[n++] = IMPL("avx512", 32, sk_f32_, __avx512f);
#endif
    return n;
}

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng % 2000001) / 1000000.0 - 1.0);
}

static const double BT[4][4] = {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}};
static const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, -1, -1}};

/* The column gather of tile step m and width a = m + 2 (d[j*nr + l] =
 * row[j + m l]) for every lane count: it reads exactly row[0 .. m n + 1],
 * so the row is a malloc of that size and a read past it shows under
 * valgrind or a `make SAN=address` build (both run on this test when the
 * kernels change); lanes >= n stay untouched. */
typedef void (*cols_fn)(const float *row, int n, float *d, int nr);
static void check_cols(const impl *im, cols_fn cols, int m)
{
    const int a = m + 2;
    float d[6 * 32];
    for (int n = 0; n <= im->nr; n++) {
        size_t len = (size_t)(m * n + 2);
        float *row = malloc(sizeof(float) * len);
        assert_non_null(row);
        for (size_t i = 0; i < len; i++)
            row[i] = frand();
        for (int i = 0; i < 6 * 32; i++)
            d[i] = -7.0f;
        cols(row, n, d, im->nr);
        for (int j = 0; j < a; j++)
            for (int l = 0; l < im->nr; l++) {
                float want = l < n ? row[j + m * l] : -7.0f;
                if (d[j * im->nr + l] != want)
                    fail_msg("%s m=%d n=%d d[%d][%d] = %g, want %g", im->name, m, n, j, l,
                             d[j * im->nr + l], want);
            }
        free(row);
    }
}

static void test_cols(void **state)
{
    (void)state;
    impl im[3];
    int ni = impls(im);
    for (int k = 0; k < ni; k++) {
        check_cols(&im[k], im[k].cols, 2);
        check_cols(&im[k], im[k].cols4, 4);
    }
}

/* The windowed gather of a whole tile row (d[j*nr + l] = x(iw0 + m l + j),
 * x = row inside [0, W), 0 outside): every lane count, rows of 1-70 floats,
 * starts 3 left of the row (padding) to 2 right, tiles running past the
 * right end; the row is a malloc of exactly W floats (the masked loads must
 * not touch the rest: valgrind / SAN=address), lanes >= n untouched. */
typedef void (*colsw_fn)(const float *row, long iw0, long W, int n, float *d, int nr);
static void check_colsw(const impl *im, colsw_fn colsw, int m)
{
    const int a = m + 2;
    float d[6 * 32];
    for (long W = 1; W <= 70; W += (W < 20 ? 1 : 7)) {
        float *row = malloc(sizeof(float) * (size_t)W);
        assert_non_null(row);
        for (long i = 0; i < W; i++)
            row[i] = frand();
        for (long iw0 = -3; iw0 <= 2; iw0++)
            for (int n = 0; n <= im->nr; n++) {
                for (int i = 0; i < 6 * 32; i++)
                    d[i] = -7.0f;
                colsw(row, iw0, W, n, d, im->nr);
                for (int j = 0; j < a; j++)
                    for (int l = 0; l < im->nr; l++) {
                        long x = iw0 + m * l + j;
                        float want = l >= n ? -7.0f : x >= 0 && x < W ? row[x] : 0.0f;
                        if (d[j * im->nr + l] != want)
                            fail_msg("%s m=%d W=%ld iw0=%ld n=%d d[%d][%d] = %g, want %g",
                                     im->name, m, W, iw0, n, j, l, d[j * im->nr + l], want);
                    }
            }
        free(row);
    }
}

static void test_colsw(void **state)
{
    (void)state;
    impl im[3];
    int ni = impls(im);
    for (int k = 0; k < ni; k++) {
        check_colsw(&im[k], im[k].colsw, 2);
        check_colsw(&im[k], im[k].colsw4, 4);
    }
}

/* colsw on the hardware's masked loads with the row against unmapped
 * pages: first at the very start of a page whose predecessor is
 * PROT_NONE (the left padding, iw0 < 0), then ending at the last float
 * before a PROT_NONE page (tiles past the right end). A load whose mask
 * let one float outside the row through would fault here; valgrind
 * cannot run the AVX-512 level, this can. Values checked as above. */
static void check_colsw_guard(const impl *im, colsw_fn colsw, int m)
{
    const long pg = sysconf(_SC_PAGESIZE);
    char *map = mmap(NULL, (size_t)(3 * pg), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map, (size_t)pg, PROT_NONE), 0);
    assert_int_equal(mprotect(map + 2 * pg, (size_t)pg, PROT_NONE), 0);
    float d[6 * 32];
    for (long W = 1; W <= 64; W += 3)
        for (int side = 0; side < 2; side++) {
            float *row = side ? (float *)(map + 2 * pg) - W : (float *)(map + pg);
            for (long i = 0; i < W; i++)
                row[i] = frand();
            long iw0 = side ? W - 3 - (long)m * (im->nr / 2) : -1;
            for (int n = 1; n <= im->nr; n += 5) {
                colsw(row, iw0, W, n, d, im->nr);
                for (int j = 0; j < m + 2; j++)
                    for (int l = 0; l < n; l++) {
                        long x = iw0 + m * l + j;
                        float want = x >= 0 && x < W ? row[x] : 0.0f;
                        if (d[j * im->nr + l] != want)
                            fail_msg("%s guard m=%d W=%ld side=%d n=%d d[%d][%d]", im->name, m,
                                     W, side, n, j, l);
                    }
            }
        }
    munmap(map, (size_t)(3 * pg));
}

static void test_colsw_guard(void **state)
{
    (void)state;
    impl im[3];
    int ni = impls(im);
    for (int k = 0; k < ni; k++) {
        check_colsw_guard(&im[k], im[k].colsw, 2);
        check_colsw_guard(&im[k], im[k].colsw4, 4);
    }
}

static void test_in_out(void **state)
{
    (void)state;
    impl im[3];
    int ni = impls(im);
    for (int k = 0; k < ni; k++) {
        int nr = im[k].nr;
        size_t stride = (size_t)nr + 5; /* planes apart, as the panels are */
        float *d = malloc(sizeof(float) * 16 * (size_t)nr);
        float *v = malloc(sizeof(float) * 16 * stride);
        float *y = malloc(sizeof(float) * 4 * (size_t)nr);
        for (int rep = 0; rep < 20; rep++) {
            for (int i = 0; i < 16 * nr; i++)
                d[i] = frand();
            im[k].in(d, v, stride, nr);
            for (int l = 0; l < nr; l++)
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        double want = 0; /* (B' d B)[a][b] */
                        for (int i = 0; i < 4; i++)
                            for (int j = 0; j < 4; j++)
                                want += BT[a][i] * d[(i * 4 + j) * nr + l] * BT[b][j];
                        double got = v[(size_t)(a * 4 + b) * stride + l];
                        if (fabs(got - want) > 4e-7 * 4)
                            fail_msg("%s in: lane %d V[%d][%d] = %.8g, want %.8g", im[k].name,
                                     l, a, b, got, want);
                    }
            /* the output transform reads the 16 planes at `stride` */
            for (size_t i = 0; i < 16 * stride; i++)
                v[i] = frand();
            im[k].out(v, stride, y, nr);
            for (int l = 0; l < nr; l++)
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        double want = 0; /* (A' m A)[a][b] */
                        for (int i = 0; i < 4; i++)
                            for (int j = 0; j < 4; j++)
                                want += AT[a][i] * v[(size_t)(i * 4 + j) * stride + l] * AT[b][j];
                        double got = y[(2 * a + b) * nr + l];
                        if (fabs(got - want) > 4e-7 * 9)
                            fail_msg("%s out: lane %d Y[%d][%d] = %.8g, want %.8g", im[k].name,
                                     l, a, b, got, want);
                    }
        }
        free(d);
        free(v);
        free(y);
    }
}

static void test_epi(void **state)
{
    (void)state;
    impl im[3];
    int ni = impls(im);
    float y0[40], y1[40], res[80], out[84];
    for (int k = 0; k < ni; k++)
        for (size_t n = 0; n <= 2 * (size_t)im[k].nr + 3 && n <= 80; n++)
            for (int mode = 0; mode < 3; mode++) {
                for (int i = 0; i < 40; i++) {
                    y0[i] = frand();
                    y1[i] = frand();
                }
                for (int i = 0; i < 80; i++)
                    res[i] = frand();
                for (int i = 0; i < 84; i++)
                    out[i] = 99.0f;
                float b = frand(), lo = mode == 1 ? 0.0f : -INFINITY;
                float hi = mode == 2 ? 0.25f : INFINITY;
                const float *r = mode == 0 ? NULL : res;
                im[k].epi(out, y0, y1, n, b, r, lo, hi);
                for (size_t q = 0; q < 84; q++) {
                    float want = 99.0f;
                    if (q < n) {
                        want = (q % 2 ? y1[q / 2] : y0[q / 2]) + b;
                        if (r)
                            want += r[q];
                        want = want < lo ? lo : want > hi ? hi : want;
                    }
                    if (out[q] != want)
                        fail_msg("%s epi n=%zu mode %d: out[%zu] = %.8g, want %.8g",
                                 im[k].name, n, mode, q, out[q], want);
                }
            }
}

/* ---- F(4x4, 3x3) ---------------------------------------------------------- */

static const double BT4[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                 {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
static const double AT4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

/* B' d B and A' m A against the matrices in double. The bound: each output
 * is a sum of at most 36 products of |coefficient| <= 25 (B') or 64 (A')
 * with inputs in [-1, 1], rounded a few times on the way. */
static void test_in_out4(void **state)
{
    (void)state;
    impl im[3];
    int ni = impls(im);
    for (int k = 0; k < ni; k++) {
        int nr = im[k].nr;
        size_t stride = (size_t)nr + 5;
        float *d = malloc(sizeof(float) * 36 * (size_t)nr);
        float *v = malloc(sizeof(float) * 36 * stride);
        float *y = malloc(sizeof(float) * 16 * (size_t)nr);
        for (int rep = 0; rep < 20; rep++) {
            for (int i = 0; i < 36 * nr; i++)
                d[i] = frand();
            im[k].in4(d, v, stride, nr);
            for (int l = 0; l < nr; l++)
                for (int a = 0; a < 6; a++)
                    for (int b = 0; b < 6; b++) {
                        double want = 0, mag = 0; /* (B' d B)[a][b] */
                        for (int i = 0; i < 6; i++)
                            for (int j = 0; j < 6; j++) {
                                double t = BT4[a][i] * d[(i * 6 + j) * nr + l] * BT4[b][j];
                                want += t;
                                mag += fabs(t);
                            }
                        double got = v[(size_t)(a * 6 + b) * stride + l];
                        if (fabs(got - want) > 8 * FLT_EPSILON * mag)
                            fail_msg("%s in4: lane %d V[%d][%d] = %.8g, want %.8g", im[k].name,
                                     l, a, b, got, want);
                    }
            for (size_t i = 0; i < 36 * stride; i++)
                v[i] = frand();
            im[k].out4(v, stride, y, nr);
            for (int l = 0; l < nr; l++)
                for (int a = 0; a < 4; a++)
                    for (int b = 0; b < 4; b++) {
                        double want = 0, mag = 0; /* (A' m A)[a][b] */
                        for (int i = 0; i < 6; i++)
                            for (int j = 0; j < 6; j++) {
                                double t = AT4[a][i] * v[(size_t)(i * 6 + j) * stride + l] * AT4[b][j];
                                want += t;
                                mag += fabs(t);
                            }
                        double got = y[(4 * a + b) * nr + l];
                        if (fabs(got - want) > 8 * FLT_EPSILON * mag)
                            fail_msg("%s out4: lane %d Y[%d][%d] = %.8g, want %.8g", im[k].name,
                                     l, a, b, got, want);
                    }
        }
        free(d);
        free(v);
        free(y);
    }
}

/* One output row of 4-wide blocks: out[q] = y_{q%4}[q/4] + b (+ res[q]),
 * clamped; every length up to four vectors and past, so the vector loop,
 * the masked tail and their seam are all covered; nothing past n written. */
static void test_epi4(void **state)
{
    (void)state;
    impl im[3];
    int ni = impls(im);
    float y[4][40], res[160], out[164];
    for (int k = 0; k < ni; k++)
        for (size_t n = 0; n <= 4 * (size_t)im[k].nr + 5 && n <= 160; n++)
            for (int mode = 0; mode < 3; mode++) {
                for (int c = 0; c < 4; c++)
                    for (int i = 0; i < 40; i++)
                        y[c][i] = frand();
                for (int i = 0; i < 160; i++)
                    res[i] = frand();
                for (int i = 0; i < 164; i++)
                    out[i] = 99.0f;
                float b = frand(), lo = mode == 1 ? 0.0f : -INFINITY;
                float hi = mode == 2 ? 0.25f : INFINITY;
                const float *r = mode == 0 ? NULL : res;
                im[k].epi4(out, y[0], y[1], y[2], y[3], n, b, r, lo, hi);
                for (size_t q = 0; q < 164; q++) {
                    float want = 99.0f;
                    if (q < n) {
                        want = y[q % 4][q / 4] + b;
                        if (r)
                            want += r[q];
                        want = want < lo ? lo : want > hi ? hi : want;
                    }
                    if (out[q] != want)
                        fail_msg("%s epi4 n=%zu mode %d: out[%zu] = %.8g, want %.8g",
                                 im[k].name, n, mode, q, out[q], want);
                }
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cols),
        cmocka_unit_test(test_colsw),
        cmocka_unit_test(test_colsw_guard),
        cmocka_unit_test(test_in_out),
        cmocka_unit_test(test_epi),
        cmocka_unit_test(test_in_out4),
        cmocka_unit_test(test_epi4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
