/* test_fast_ops_uk.c — every vector microkernel of the fast non-conv kernels
 * (sk_fast_uk, engine/kernels/fast_ops.h) against scalar formulas written
 * here, for every length from 0 to 70 (all vector tails of 8 and 16 lanes,
 * the 2x and 4x unrolled loops) and a few long rows, with inputs at
 * unaligned offsets. Tables tested: AVX2 and AVX-512 when the CPU has
 * them, and always "emu512": the AVX-512 mapping of fast_simd.h
 * compiled in this file against avx512_emu.h (a C emulation of the
 * intrinsics it uses), so the 16-lane code paths, mask tails and permute
 * indices are checked even on a CPU without AVX-512.
 * Exact equality wherever the kernel's operations are the formula's
 * (element-wise IEEE ops, FMA, max, data movement); relative 2e-6 against
 * libm for exp / erf / tanh / sigmoid; the float-sum error bound for the
 * reductions and the GEMV; the GEMM's narrow-panel and last-rows tiles
 * bit for bit against the full microkernel's arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels/fast_ops.h"

/* ---- the AVX-512 loops on emulated intrinsics ------------------------------- */
#define SK_FAST_EMULATE 1
#define SK_FAST_AVX512 1
#define SK_UK(name) emu512_##name
#include "avx512_emu.h"
#include "kernels/fast_simd.h"
#include "kernels/fast_velt.h"
#include "kernels/fast_vrow.h"

/* the 8x8 transpose has no 16-lane version: every level uses AVX2's */
static void scalar_transpose(size_t rows, size_t cols, const float *s, size_t lds, float *d,
                             size_t ldd)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            d[j * ldd + i] = s[i * lds + j];
}

static const sk_fast_uk emu512 = {
    .isa = SK_ISA_AVX512, .vadd = emu512_vadd, .vsub = emu512_vsub, .vmul = emu512_vmul,
    .vdiv = emu512_vdiv, .vrelu = emu512_vrelu, .vclamp = emu512_vclamp,
    .vsigmoid = emu512_vsigmoid, .vtanh = emu512_vtanh, .verf = emu512_verf,
    .rmax = emu512_rmax, .rsum = emu512_rsum, .vexpsub_sum = emu512_vexpsub_sum,
    .vaffine = emu512_vaffine, .rsumsqdev = emu512_rsumsqdev, .vlnorm = emu512_vlnorm,
    .vmax_acc = emu512_vmax_acc, .vadd_acc = emu512_vadd_acc, .vmax_taps = emu512_vmax_taps,
    .vsum_taps = emu512_vsum_taps, .deinterleave2 = emu512_deinterleave2,
    .interleave2 = emu512_interleave2, .vblend = emu512_vblend,
    .vup2_linear = emu512_vup2_linear, .gemv_panel = emu512_gemv_panel,
    .gemm_ntail = emu512_gemm_ntail, .gemm_mtail = emu512_gemm_mtail,
    .transpose = scalar_transpose,
};

/* ---- helpers ------------------------------------------------------------------- */

static uint64_t rng = 0x853c49e6748fea9bull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#define MAXN 2100
#define OFF 3 /* unaligned starts */
static float bufa[MAXN + 64], bufb[MAXN + 64], bufc[MAXN + 64], bufo[2 * MAXN + 64];
static float expect[2 * MAXN + 64];

static void fill(float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = frand() * scale;
}

static const size_t long_lens[] = {255, 256, 257, 1000, 2048};
static size_t len_at(int k) { return k <= 70 ? (size_t)k : long_lens[k - 71]; }
#define NLENS 76

#define EXACT(got, want, what, n, i)                                                        \
    do {                                                                                    \
        float g_ = (got), w_ = (want);                                                      \
        if (!(g_ == w_ || (isnan(g_) && isnan(w_))))                                        \
            fail_msg("%s %s n=%zu [%zu]: %.9g, expected %.9g", uk_name, what, (size_t)(n),  \
                     (size_t)(i), (double)g_, (double)w_);                                  \
    } while (0)

static const char *uk_name;

static void check_uk(const sk_fast_uk *uk)
{
    float *a = bufa + OFF, *b = bufb + OFF, *c = bufc + OFF, *o = bufo + OFF;
    for (int k = 0; k < NLENS; k++) {
        size_t n = len_at(k);
        fill(a, n, 3.0f);
        fill(b, n, 3.0f);
        for (size_t i = 0; i < n; i++)
            b[i] += b[i] < 0 ? -0.5f : 0.5f;
        /* binary, three stride cases */
        sk_fast_vbin_fn bins[4] = {uk->vadd, uk->vsub, uk->vmul, uk->vdiv};
        for (int op = 0; op < 4; op++)
            for (int s = 0; s < 3; s++) {
                int ia = s != 2, ib = s != 1;
                bins[op](n, a, ia, b, ib, o);
                for (size_t i = 0; i < n; i++) {
                    float x = a[ia ? i : 0], y = b[ib ? i : 0];
                    float w = op == 0 ? x + y : op == 1 ? x - y : op == 2 ? x * y : x / y;
                    EXACT(o[i], w, "binary", n, i);
                }
            }
        /* Relu / Clip, NaN kept by Clip, zeroed by Relu */
        if (n > 2)
            a[1] = NAN;
        uk->vrelu(n, a, o);
        for (size_t i = 0; i < n; i++)
            EXACT(o[i], a[i] > 0 ? a[i] : 0.0f, "relu", n, i);
        for (int lohi = 0; lohi < 2; lohi++) {
            float lo = lohi ? 0.5f : -1.0f, hi = lohi ? -0.5f : 2.0f;
            uk->vclamp(n, a, o, lo, hi);
            for (size_t i = 0; i < n; i++) {
                float v = a[i] < lo ? lo : a[i];
                EXACT(o[i], v > hi ? hi : v, "clamp", n, i);
            }
        }
        fill(a, n, 3.0f);
        /* reductions */
        if (n > 0) {
            float mx = -INFINITY;
            double s = 0, sa = 0, sq = 0, m = 0.25;
            for (size_t i = 0; i < n; i++) {
                mx = a[i] > mx ? a[i] : mx;
                s += a[i];
                sa += fabs(a[i]);
                sq += ((double)a[i] - m) * ((double)a[i] - m);
            }
            EXACT(uk->rmax(n, a), mx, "rmax", n, 0);
            double tol = (double)(n + 4) * FLT_EPSILON * sa;
            if (fabs(uk->rsum(n, a) - s) > tol)
                fail_msg("%s rsum n=%zu: %g vs %g", uk_name, n, (double)uk->rsum(n, a), s);
            if (fabs(uk->rsumsqdev(n, a, (float)m) - sq) > (double)(n + 4) * 4 * FLT_EPSILON * sq)
                fail_msg("%s rsumsqdev n=%zu", uk_name, n);
            double es = 0;
            float sum = uk->vexpsub_sum(n, a, 1.0f, o);
            for (size_t i = 0; i < n; i++) {
                double e = expf(a[i] - 1.0f);
                es += e;
                if (fabs(o[i] - e) > 2e-6 * e)
                    fail_msg("%s vexpsub n=%zu [%zu]: %g vs %g", uk_name, n, i, (double)o[i], e);
            }
            if (fabs(sum - es) > 1e-5 * es)
                fail_msg("%s vexpsub sum n=%zu: %g vs %g", uk_name, n, (double)sum, es);
        }
        /* affine rows */
        uk->vaffine(n, a, 0.7f, -0.3f, o);
        for (size_t i = 0; i < n; i++)
            EXACT(o[i], fmaf(a[i], 0.7f, -0.3f), "affine", n, i);
        for (int withb = 0; withb < 2; withb++) {
            uk->vlnorm(n, a, 0.1f, 1.7f, b, withb ? c : NULL, o);
            for (size_t i = 0; i < n; i++) {
                float t = (a[i] - 0.1f) * 1.7f;
                EXACT(o[i], withb ? fmaf(t, b[i], c[i]) : t * b[i], "lnorm", n, i);
            }
        }
        uk->vblend(n, a, 0.25f, b, 0.75f, o);
        for (size_t i = 0; i < n; i++)
            EXACT(o[i], fmaf(b[i], 0.75f, a[i] * 0.25f), "blend", n, i);
        /* pooling */
        memcpy(o, b, n * sizeof(float));
        uk->vmax_acc(n, a, o);
        for (size_t i = 0; i < n; i++)
            EXACT(o[i], b[i] > a[i] ? b[i] : a[i], "max_acc", n, i);
        memcpy(o, b, n * sizeof(float));
        uk->vadd_acc(n, a, o);
        for (size_t i = 0; i < n; i++)
            EXACT(o[i], b[i] + a[i], "add_acc", n, i);
        const float *taps[3] = {a, b, c};
        for (int nt = 1; nt <= 3; nt++) {
            uk->vmax_taps(n, taps, nt, o);
            for (size_t i = 0; i < n; i++) {
                float w = a[i];
                for (int t = 1; t < nt; t++)
                    w = w > taps[t][i] ? w : taps[t][i];
                EXACT(o[i], w, "max_taps", n, i);
            }
            uk->vsum_taps(n, taps, nt, o);
            for (size_t i = 0; i < n; i++) {
                float w = a[i];
                for (int t = 1; t < nt; t++)
                    w += taps[t][i];
                EXACT(o[i], w, "sum_taps", n, i);
            }
        }
        /* shuffles: a and b of 2n from a row of bufo-sized data */
        uk->interleave2(n, a, b, 0.5f, o);
        for (size_t i = 0; i < n; i++) {
            EXACT(o[2 * i], a[i] + 0.5f, "interleave2", n, 2 * i);
            EXACT(o[2 * i + 1], b[i] + 0.5f, "interleave2", n, 2 * i + 1);
        }
        uk->deinterleave2(n, o, expect, expect + MAXN);
        for (size_t i = 0; i < n; i++) {
            EXACT(expect[i], a[i] + 0.5f, "deinterleave2 even", n, i);
            EXACT(expect[MAXN + i], b[i] + 0.5f, "deinterleave2 odd", n, i);
        }
        uk->vup2_linear(n, a, o);
        for (size_t i = 0; i < n; i++) {
            float we = i == 0 ? a[0] : fmaf(a[i], 0.75f, 0.25f * a[i - 1]);
            float wo = i + 1 == n ? a[i] : fmaf(a[i], 0.75f, 0.25f * a[i + 1]);
            EXACT(o[2 * i], we, "up2_linear", n, 2 * i);
            EXACT(o[2 * i + 1], wo, "up2_linear", n, 2 * i + 1);
        }
    }
}

/* exp-based math against libm over a sweep, both signs, tails included */
static void check_math(const sk_fast_uk *uk)
{
    enum { N = 40001 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = -20.0f + 40.0f * (float)i / (N - 1);
    for (int f = 0; f < 3; f++) {
        (f == 0 ? uk->verf : f == 1 ? uk->vtanh : uk->vsigmoid)(N, x, y);
        for (int i = 0; i < N; i++) {
            float r = f == 0   ? erff(x[i])
                      : f == 1 ? tanhf(x[i])
                               : (x[i] >= 0 ? 1.0f / (1.0f + expf(-x[i]))
                                            : expf(x[i]) / (1.0f + expf(x[i])));
            if (fabsf(y[i] - r) > 2e-6f * fabsf(r) + 1e-37f)
                fail_msg("%s %s(%g) = %.9g, libm %.9g", uk_name,
                         f == 0 ? "erf" : f == 1 ? "tanh" : "sigmoid", (double)x[i],
                         (double)y[i], (double)r);
        }
    }
}

static void check_transpose(const sk_fast_uk *uk)
{
    static float src[70 * 75], dst[75 * 72];
    for (size_t rows = 1; rows < 70; rows += 7)
        for (size_t cols = 1; cols < 75; cols += 9) {
            fill(src, rows * 75, 1.0f);
            uk->transpose(rows, cols, src, 75, dst, 72);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < cols; j++)
                    EXACT(dst[j * 72 + i], src[i * 75 + j], "transpose", rows * cols, i);
        }
}

/* gemv_panel: one B panel of 2 vectors (16 lanes at AVX2, 32 at AVX-512)
 * times a, every K up to 70 and long ones (the 4-step loop and its tail),
 * against a double sum; its four partial sums reorder the float sum, so
 * the tolerance is the K-term error bound. */
static void check_gemv(const sk_fast_uk *uk)
{
    const size_t lanes = uk->isa == SK_ISA_AVX512 ? 32 : 16;
    static float panel[2048 * 32 + 64];
    float y[32 + 1];
    for (int kk = 0; kk <= 75; kk++) {
        size_t K = len_at(kk);
        fill(bufa, K, 1.0f);
        fill(panel, K * lanes, 1.0f);
        y[lanes] = 12345.0f; /* the kernel writes lanes floats, no more */
        uk->gemv_panel(K, bufa, panel, y);
        for (size_t j = 0; j < lanes; j++) {
            double want = 0, mag = 0;
            for (size_t k = 0; k < K; k++) {
                want += (double)bufa[k] * panel[k * lanes + j];
                mag += fabs((double)bufa[k] * panel[k * lanes + j]);
            }
            if (fabs(y[j] - want) > (double)(K + 4) * 4 * FLT_EPSILON * mag)
                fail_msg("%s gemv_panel K=%zu lane %zu: %.9g, want %.9g", uk_name, K, j,
                         (double)y[j], want);
        }
        assert_true(y[lanes] == 12345.0f);
    }
}

/* gemm_ntail: the GEMM's narrow last column panel. Each element must be
 * exactly the full microkernel's computation: an FMA chain from zero over
 * k in order (fmaf here), then + old C, + row or column bias, + residual,
 * clamp — so a conv's output does not depend on which panel a pixel lands
 * in. Every row count 1 .. 2 mr, every column count 1 .. nr/2, K across the
 * loop (0 .. 70 and long), each flag combination; the C window has a border
 * of sentinels the kernel must not touch (masked tail stores). */
static void check_gemm_ntail(const sk_fast_uk *uk)
{
    const int mr = uk->isa == SK_ISA_AVX512 ? 8 : 6, nr = uk->isa == SK_ISA_AVX512 ? 32 : 16;
    const size_t ldc = (size_t)nr / 2 + 5, crows = (size_t)(2 * mr + 2);
    static float a0[2048 * 8], a1[2048 * 8], b[2048 * 32] __attribute__((aligned(64)));
    static float c[(16 + 2) * 21], c0[(16 + 2) * 21], bias_row[16], bias_col[16], res[16 * 21];
    const int ks[] = {0, 1, 2, 3, 5, 8, 17, 64, 70, 257, 2048};
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (int rows = 1; rows <= 2 * mr; rows++)
            for (int cols = 1; cols <= nr / 2; cols++) {
                size_t K = (size_t)ks[ki];
                int flags = (rows + cols + (int)ki) % 4; /* ACCUM, EPI, both, none */
                fill(a0, K * (size_t)mr, 1.0f);
                fill(a1, K * (size_t)mr, 1.0f);
                fill(b, K * (size_t)nr, 1.0f);
                fill(c0, crows * ldc, 2.0f);
                fill(bias_row, 16, 1.0f);
                fill(bias_col, 16, 1.0f);
                fill(res, 16 * ldc, 1.0f);
                memcpy(c, c0, sizeof c);
                sk_ukernel_params p = {NULL, NULL, NULL, ldc, -INFINITY, INFINITY, NULL, NULL, 0, 0, NULL, NULL, NULL, 0};
                if (flags & SK_UK_EPI) {
                    if (cols % 3 == 0)
                        p.bias_row = bias_row;
                    if (cols % 3 == 1)
                        p.bias_col = bias_col;
                    if (rows % 2)
                        p.res = res;
                    if (cols % 2) {
                        p.min = -0.5f;
                        p.max = (rows % 3) ? 0.75f : INFINITY;
                    }
                }
                /* one A panel (a1 == a0) when rows <= mr, as the driver calls it */
                const float *pa1 = rows > mr ? a1 : a0;
                uk->gemm_ntail(K, a0, pa1, b, c + ldc + 1, ldc, rows, cols, flags, &p);
                for (size_t i = 0; i < crows; i++)
                    for (size_t jj = 0; jj < ldc; jj++) {
                        float got = c[i * ldc + jj];
                        int r = (int)i - 1, col = (int)jj - 1;
                        if (r < 0 || r >= rows || col < 0 || col >= cols) {
                            if (memcmp(&got, &c0[i * ldc + jj], sizeof got))
                                fail_msg("%s gemm_ntail K=%zu %dx%d: wrote outside at (%zu,%zu)",
                                         uk_name, K, rows, cols, i, jj);
                            continue;
                        }
                        const float *ar = r < mr ? a0 + r : pa1 + (r - mr);
                        float want = 0.0f;
                        for (size_t k = 0; k < K; k++)
                            want = fmaf(ar[k * (size_t)mr], b[k * (size_t)nr + (size_t)col], want);
                        if (flags & SK_UK_ACCUM)
                            want = want + c0[i * ldc + jj];
                        if (flags & SK_UK_EPI) {
                            if (p.bias_row)
                                want += bias_row[r];
                            if (p.bias_col)
                                want += bias_col[col];
                            if (p.res)
                                want += res[(size_t)r * ldc + (size_t)col];
                            want = want < p.min ? p.min : want;
                            want = want > p.max ? p.max : want;
                        }
                        if (memcmp(&got, &want, sizeof got))
                            fail_msg("%s gemm_ntail K=%zu rows %d cols %d flags %d (%d,%d): "
                                     "%.9g, want %.9g",
                                     uk_name, K, rows, cols, flags, r, col, (double)got,
                                     (double)want);
                    }
            }
}

/* gemm_mtail: the last rows of a block across several B panels. The same
 * exactness as gemm_ntail; every row count 1 .. mr-1, 1 .. 6 panels (whole
 * groups, a leftover single panel), the real columns ending anywhere in
 * the last panel, B panels a stride apart, C and the residual with a row
 * stride and a border of sentinels. */
static void check_gemm_mtail(const sk_fast_uk *uk)
{
    const int mr = uk->isa == SK_ISA_AVX512 ? 8 : 6, nr = uk->isa == SK_ISA_AVX512 ? 32 : 16;
    enum { MAXP = 6, MAXK = 300 };
    static float a[MAXK * 8], b[MAXP * (MAXK * 32 + 32)] __attribute__((aligned(64)));
    static float c[10 * (MAXP * 32 + 3)], c0[10 * (MAXP * 32 + 3)], bias_row[8],
        bias_col[MAXP * 32], res[8 * (MAXP * 32 + 3)];
    const int ks[] = {0, 1, 3, 4, 7, 64, 257, 300};
    int trial = 0;
    for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++)
        for (int rows = 1; rows < mr; rows++)
            for (int np = 1; np <= MAXP; np++) {
                const size_t K = (size_t)ks[ki], bstride = K * (size_t)nr + (size_t)nr;
                const size_t ldc = (size_t)(np * nr + 3), crows = (size_t)rows + 2;
                const int ncols = np * nr - (trial * 5) % nr; /* the last panel 1 .. nr real */
                const int flags = trial % 4;
                trial++;
                fill(a, K * (size_t)mr, 1.0f);
                fill(b, (size_t)np * bstride, 1.0f);
                fill(c0, crows * ldc, 2.0f);
                fill(bias_row, 8, 1.0f);
                fill(bias_col, (size_t)np * (size_t)nr, 1.0f);
                fill(res, (size_t)rows * ldc, 1.0f);
                memcpy(c, c0, sizeof c);
                sk_ukernel_params p = {NULL, NULL, NULL, ldc, -INFINITY, INFINITY, NULL, NULL, 0, 0, NULL, NULL, NULL, 0};
                if (flags & SK_UK_EPI) {
                    if (trial % 3 == 0)
                        p.bias_row = bias_row;
                    if (trial % 3 == 1)
                        p.bias_col = bias_col;
                    if (np % 2)
                        p.res = res;
                    if (trial % 5 < 3) {
                        p.min = 0.0f;
                        p.max = (trial % 5 == 1) ? 0.5f : INFINITY;
                    }
                }
                uk->gemm_mtail(K, a, b, bstride, np, c + ldc + 1, ldc, rows, ncols, flags, &p);
                for (size_t i = 0; i < crows; i++)
                    for (size_t jj = 0; jj < ldc; jj++) {
                        float got = c[i * ldc + jj];
                        int r = (int)i - 1, col = (int)jj - 1;
                        if (r < 0 || r >= rows || col < 0 || col >= ncols) {
                            if (memcmp(&got, &c0[i * ldc + jj], sizeof got))
                                fail_msg("%s gemm_mtail K=%zu rows %d panels %d cols %d: wrote "
                                         "outside at (%zu,%zu)",
                                         uk_name, K, rows, np, ncols, i, jj);
                            continue;
                        }
                        const float *bp = b + (size_t)(col / nr) * bstride + (size_t)(col % nr);
                        float want = 0.0f;
                        for (size_t k = 0; k < K; k++)
                            want = fmaf(a[k * (size_t)mr + (size_t)r], bp[k * (size_t)nr], want);
                        if (flags & SK_UK_ACCUM)
                            want = want + c0[i * ldc + jj];
                        if (flags & SK_UK_EPI) {
                            if (p.bias_row)
                                want += bias_row[r];
                            if (p.bias_col)
                                want += bias_col[col];
                            if (p.res)
                                want += res[(size_t)r * ldc + (size_t)col];
                            want = want < p.min ? p.min : want;
                            want = want > p.max ? p.max : want;
                        }
                        if (memcmp(&got, &want, sizeof got))
                            fail_msg("%s gemm_mtail K=%zu rows %d panels %d cols %d flags %d "
                                     "(%d,%d): %.9g, want %.9g",
                                     uk_name, K, rows, np, ncols, flags, r, col, (double)got,
                                     (double)want);
                    }
            }
}

static void run_table(const sk_fast_uk *uk, const char *name)
{
    uk_name = name;
    check_uk(uk);
    check_math(uk);
    check_transpose(uk);
    check_gemv(uk);
    check_gemm_ntail(uk);
    check_gemm_mtail(uk);
    print_message("  %s: every microkernel matches\n", name);
}

static void test_emulated_avx512(void **state)
{
    (void)state;
    run_table(&emu512, "emu512");
}

static void test_cpu_levels(void **state)
{
    (void)state;
    int ran = 0;
    for (int L = SK_ISA_AVX2; L <= (int)sk_cpu_detected(); L++) {
        const sk_fast_uk *uk = sk_fast_uk_for((sk_isa)L);
        assert_non_null(uk);
        assert_int_equal(uk->isa, L);
        run_table(uk, sk_isa_name((sk_isa)L));
        ran++;
    }
    if (!ran)
        print_message("  no vector level on this CPU: only the emulation ran\n");
    assert_null(sk_fast_uk_for(SK_ISA_SCALAR));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emulated_avx512),
        cmocka_unit_test(test_cpu_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
