/* test_bf16.c — the BF16 path (kernels/bf16.h) bit for bit against a
 * scalar emulation of the instructions, written from the Intel SDM's
 * pseudo-code: VCVTNEPS2BF16 (round to nearest even, denormal inputs read
 * as zero, NaN quieted) and VDPBF16PS (per 32-bit lane: acc += a.odd *
 * b.odd, then acc += a.even * b.even, each a fused multiply-add rounded to
 * nearest even; denormal inputs read as zero, denormal results flushed to
 * zero).
 *   - sk_bf16_round on hand-worked values (ties, carries into the
 *     exponent, overflow to inf, denormals, NaN);
 *   - the pair-row conversion (two float rows to one row of pair words):
 *     the scalar one against the layout, the vector one against it bit
 *     for bit; random and special values, partial panels, panel strides,
 *     guard cells; the stride-1 two-tap gather the same way; the
 *     load-time packs of the weights against the layout;
 *   - the 8x32 microkernel and its 7-row twin (pixel rows): every flag and
 *     epilogue, pair counts 1..40, denormal-producing operands, with and
 *     without the driver's prefetch, guard cells around C; the narrow-panel
 *     kernel (ntail): 1-16 rows x 1-16 columns, and the last-rows kernel
 *     (mtail): 1-7 rows x 1-6 panels, the rest of C untouched;
 *   - the whole GEMM driver on the BF16 config: odd K across several K
 *     blocks, M and N tails, 1 and 3 threads, against the emulation of the
 *     driver's blocking (the same bits), and against a double product of
 *     the unrounded operands within the bound derived in bench/RESULTS.md.
 * The vector parts run only where the CPU has AVX512-BF16 (skipped, with a
 * message, elsewhere); the emulation checks run everywhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels/bf16.h"
#include "kernels/config.h"
#include "sk.h"
#include "threadpool.h"

#include "bf16_emu.h"

static uint32_t bits(float f) { return emu_bits(f); }
static float fbits(uint32_t x) { return emu_fbits(x); }
#define dp_lane emu_dp_lane

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float frnd(void) { return (float)((int)(rnd() % 20001) - 10000) / 5000.0f; }

static const sk_kconfig *bf16_config(void)
{
    const sk_kconfig *kc = sk_kconfig_for(SK_ISA_AVX512);
    return kc && kc->bf16_gemm.uk ? kc : NULL;
}

static void test_round(void **state)
{
    (void)state;
    /* 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even -> 1 */
    assert_int_equal(sk_bf16_round(1.0f + 0x1p-8f), 0x3f80);
    /* 1 + 3 * 2^-8 ties between 1 + 2^-7 (odd) and 1 + 2^-6: -> 0x3f82 */
    assert_int_equal(sk_bf16_round(1.0f + 3 * 0x1p-8f), 0x3f82);
    /* just above the tie rounds up */
    assert_int_equal(sk_bf16_round(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    /* 0x3fffffff (just under 2) carries into the exponent: 2.0 */
    assert_int_equal(sk_bf16_round(fbits(0x3fffffffu)), 0x4000);
    /* FLT_MAX rounds to inf; -0 stays -0 */
    assert_int_equal(sk_bf16_round(fbits(0x7f7fffffu)), 0x7f80);
    assert_int_equal(sk_bf16_round(-0.0f), 0x8000);
    /* denormals read as zero of their sign */
    assert_int_equal(sk_bf16_round(fbits(0x007fffffu)), 0x0000);
    assert_int_equal(sk_bf16_round(fbits(0x80000001u)), 0x8000);
    /* NaN stays NaN, quiet */
    uint16_t n = sk_bf16_round(fbits(0x7f800001u));
    assert_true((n & 0x7f80) == 0x7f80 && (n & 0x7f) && (n & 0x40));
    assert_int_equal(sk_bf16_pair(1.0f, -2.0f), 0xc0003f80u);
}

/* an interesting float: random, special, a tie, denormal */
static float special(void)
{
    switch (rnd() % 10) {
    case 0: return fbits(rnd() % 0x00800000u | (rnd() & 1u) << 31); /* denormal */
    case 1: return fbits((rnd() & 0xffff0000u) | 0x8000u); /* exact tie */
    case 2: return fbits(0x7f800000u | (rnd() & 0x7fffffu)); /* inf / NaN */
    case 3: return fbits(rnd() << 8 ^ rnd()); /* any bits */
    default: return frnd();
    }
}

/* The scalar pair-row conversion against bf16.h's definition of the
 * layout, and the vector one against it bit for bit: panel widths 8 (pixel
 * rows' A panels), 16, 32 (B panels); nb from 1 to three panels and a bit
 * (partial 16-column groups, whole zero groups); a missing hi row; panels
 * pstride words apart with gaps between them and guard cells after, which
 * must keep their values. lo / hi are exactly nb floats (a read past nb,
 * as a direct 1x1 source row would end there, shows under valgrind). */
static void test_pack2(void **state)
{
    (void)state;
    const sk_kconfig *kc = bf16_config();
    if (!kc)
        print_message("vector part skipped: no AVX512-BF16 on this CPU\n");
    static const int widths[] = {7, 8, 16, 32}; /* 7: pixel rows' 7-row panels */
    for (size_t wi = 0; wi < 4; wi++) {
        const int nr = widths[wi];
        for (int nb = 1; nb <= 3 * nr + 5; nb += (nb < 40 ? 1 : 7)) {
            for (int nohi = 0; nohi < 2; nohi++) {
                const int panels = (nb + nr - 1) / nr;
                const size_t pstride = (size_t)nr + 5 + (rnd() % 3) * 16, guard = 40;
                const size_t n = pstride * (size_t)panels + guard;
                float *lo = malloc(sizeof(float) * (size_t)nb), *hi = malloc(sizeof(float) * (size_t)nb);
                float *d1 = malloc(n * sizeof(float)), *d2 = malloc(n * sizeof(float));
                for (int j = 0; j < nb; j++) {
                    lo[j] = special();
                    hi[j] = special();
                }
                for (size_t i = 0; i < n; i++)
                    d1[i] = d2[i] = fbits(0x7fc0dead); /* a canary */
                const float *h = nohi ? NULL : hi;
                sk_bf16_pack2_scalar(d1, pstride, nr, lo, h, nb);
                for (size_t i = 0; i < n; i++) {
                    size_t q = i / pstride, c = i % pstride;
                    uint32_t want = 0x7fc0deadu; /* gaps, guard */
                    if (q < (size_t)panels && c < (size_t)nr) {
                        int j = (int)(q * (size_t)nr + c);
                        want = j < nb ? (uint32_t)sk_bf16_round(lo[j]) |
                                            (uint32_t)(h ? sk_bf16_round(h[j]) : 0) << 16
                                      : 0;
                    }
                    if (bits(d1[i]) != want)
                        fail_msg("scalar nr %d nb %d hi %d: word %zu is %08x, want %08x", nr, nb,
                                 !nohi, i, bits(d1[i]), want);
                }
                if (kc) {
                    kc->bf16_pack2(d2, pstride, nr, lo, h, nb);
                    for (size_t i = 0; i < n; i++)
                        if (bits(d1[i]) != bits(d2[i]))
                            fail_msg("nr %d nb %d hi %d: word %zu is %08x, scalar %08x", nr, nb,
                                     !nohi, i, bits(d2[i]), bits(d1[i]));
                }
                free(lo);
                free(hi);
                free(d1);
                free(d2);
            }
        }
    }
}

/* The stride-1 two-tap gather: the scalar one against the definition of a
 * conv's tap row (input pixel (oh + dh, ow + dw), zero outside the image),
 * the vector one bit for bit against it; blocks starting mid-row, every
 * tap offset of a 3x3 (and 5x5 dilated-like) window, a missing hi tap,
 * panel strides and guard cells, a plane with a canary border that must
 * never be read into a pair. */
static void test_taps2(void **state)
{
    (void)state;
    const sk_kconfig *kc = bf16_config();
    if (!kc)
        print_message("vector part skipped: no AVX512-BF16 on this CPU\n");
    const int sizes[][2] = {{14, 14}, {7, 7}, {5, 9}, {56, 3}, {1, 20}};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        const int H = sizes[si][0], W = sizes[si][1], P = H * W, border = 3 * W + 8;
        float *plane = malloc(sizeof(float) * (size_t)(P + 2 * border));
        for (int i = 0; i < P + 2 * border; i++)
            plane[i] = fbits(0x7fc0beef); /* a NaN canary outside the image */
        float *x = plane + border;
        for (int i = 0; i < P; i++)
            x[i] = special();
        for (int rep = 0; rep < 12; rep++) {
            const int nr = rep & 1 ? 32 : 16;
            const int n0 = (int)(rnd() % (unsigned)P), nb = 1 + (int)(rnd() % (unsigned)(P - n0));
            int32_t *oh = malloc(sizeof(int32_t) * (size_t)nb), *ow = malloc(sizeof(int32_t) * (size_t)nb);
            for (int j = 0; j < nb; j++) {
                oh[j] = (n0 + j) / W;
                ow[j] = (n0 + j) % W;
            }
            sk_bf16_tap t[2];
            for (int h = 0; h < 2; h++) {
                t[h].dh = (int)(rnd() % 5) - 2;
                t[h].dw = (int)(rnd() % 5) - 2;
                t[h].x = x + n0 + t[h].dh * W + t[h].dw;
            }
            const int nohi = rep % 5 == 4, panels = (nb + nr - 1) / nr;
            const size_t pstride = (size_t)nr + 16, n = pstride * (size_t)panels + 32;
            float *d1 = malloc(n * sizeof(float)), *d2 = malloc(n * sizeof(float));
            for (size_t i = 0; i < n; i++)
                d1[i] = d2[i] = fbits(0x7fc0dead);
            sk_bf16_taps2_scalar(d1, pstride, nr, &t[0], nohi ? NULL : &t[1], oh, ow, nb, H, W);
            for (size_t i = 0; i < n; i++) {
                size_t q = i / pstride, c = i % pstride;
                uint32_t want = 0x7fc0deadu;
                if (q < (size_t)panels && c < (size_t)nr) {
                    int j = (int)(q * (size_t)nr + c);
                    float v[2] = {0, 0};
                    for (int h = 0; h < 2 - nohi && j < nb; h++) {
                        int ih = oh[j] + t[h].dh, iw = ow[j] + t[h].dw;
                        v[h] = ih >= 0 && ih < H && iw >= 0 && iw < W ? x[ih * W + iw] : 0.0f;
                    }
                    want = j < nb ? sk_bf16_pair(v[0], v[1]) : 0;
                }
                if (bits(d1[i]) != want)
                    fail_msg("scalar %dx%d n0 %d nb %d: word %zu is %08x, want %08x", H, W, n0,
                             nb, i, bits(d1[i]), want);
            }
            if (kc) {
                kc->bf16_taps2(d2, pstride, nr, &t[0], nohi ? NULL : &t[1], oh, ow, nb, H, W);
                for (size_t i = 0; i < n; i++)
                    if (bits(d1[i]) != bits(d2[i]))
                        fail_msg("%dx%d n0 %d nb %d nr %d: word %zu is %08x, scalar %08x", H, W,
                                 n0, nb, nr, i, bits(d2[i]), bits(d1[i]));
            }
            free(oh);
            free(ow);
            free(d1);
            free(d2);
        }
        free(plane);
    }
}

/* The load-time packs against the layout of bf16.h: pair (k, k+1) of row
 * (column) i in slot k/2 of its panel, panels ceil(K/2) slots apart (half
 * the FP32 pack's words), zeros past M (N), odd K paired with zero. */
static void test_pack_weights(void **state)
{
    (void)state;
    const sk_kconfig *kc = sk_kconfig_for(SK_ISA_AVX512);
    sk_gemm_cfg cfg = kc ? kc->gemm : (sk_gemm_cfg){.mr = 8, .nr = 32, .kc = 256};
    cfg.kpair = 1;
    const int dims[][3] = {{8, 2, 1}, {13, 7, 2}, {64, 147, 1}, {9, 1, 3}, {40, 256, 1}};
    for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
        const int M = dims[t][0], K = dims[t][1], G = dims[t][2];
        float *A = malloc(sizeof(float) * (size_t)(M * K * G));
        for (int i = 0; i < M * K * G; i++)
            A[i] = special();
        sk_gemm_packed_a pa;
        assert_int_equal(sk_bf16_pack_a(&cfg, A, (size_t)K, M, K, G, &pa), 0);
        const int panels = (M + cfg.mr - 1) / cfg.mr, slots = (K + 1) / 2;
        assert_true(pa.group_stride == (((size_t)panels * (size_t)cfg.mr * (size_t)slots + 15) & ~(size_t)15));
        const uint32_t *w = (const uint32_t *)pa.data;
        for (int g = 0; g < G; g++)
            for (int i = 0; i < panels * cfg.mr; i++)
                for (int p = 0; p < slots; p++) {
                    const float *row = A + ((size_t)g * M + (size_t)i) * (size_t)K;
                    uint32_t want = i < M ? sk_bf16_pair(row[2 * p], 2 * p + 1 < K ? row[2 * p + 1] : 0) : 0;
                    uint32_t got = w[(size_t)g * pa.group_stride + (size_t)(i / cfg.mr) * (size_t)slots * (size_t)cfg.mr + (size_t)p * (size_t)cfg.mr + (size_t)(i % cfg.mr)];
                    if (got != want)
                        fail_msg("pack_a M %d K %d: g %d row %d pair %d: %08x, want %08x", M, K,
                                 g, i, p, got, want);
                }
        sk_gemm_packed_a_free(&pa);
        /* the same matrix as W' (k, n) = A[n][k] for pixel rows: K x M */
        sk_gemm_packed_b pb;
        assert_int_equal(sk_bf16_pack_b(&cfg, A, 1, (size_t)K, K, M, &pb), 0);
        const int bpanels = (M + cfg.nr - 1) / cfg.nr;
        w = (const uint32_t *)pb.data;
        for (int n = 0; n < bpanels * cfg.nr; n++)
            for (int p = 0; p < slots; p++) {
                const float *col = A + (size_t)n * (size_t)K;
                uint32_t want = n < M ? sk_bf16_pair(col[2 * p], 2 * p + 1 < K ? col[2 * p + 1] : 0) : 0;
                uint32_t got = w[(size_t)(n / cfg.nr) * (size_t)slots * (size_t)cfg.nr + (size_t)p * (size_t)cfg.nr + (size_t)(n % cfg.nr)];
                if (got != want)
                    fail_msg("pack_b K %d N %d: col %d pair %d: %08x, want %08x", K, M, n, p, got,
                             want);
            }
        sk_gemm_packed_b_free(&pb);
        free(A);
    }
}

/* What the kernel stores at *cc (row r, column j) for the sum acc: the
 * old value added (SK_UK_ACCUM), then the epilogue (SK_UK_EPI). */
static void emu_store(float acc, float *cc, int r, int j, int flags, const sk_ukernel_params *p)
{
    if (flags & SK_UK_ACCUM)
        acc += *cc;
    if (flags & SK_UK_EPI) {
        if (p->bias_row)
            acc += p->bias_row[r];
        if (p->bias_col)
            acc += p->bias_col[j];
        if (p->res)
            acc += p->res[(size_t)r * p->ldres + (size_t)j];
        /* the kernel's min(hi, max(lo, x)): NaN passes through */
        if (acc < p->min)
            acc = p->min;
        if (acc > p->max)
            acc = p->max;
    }
    *cc = acc;
}

/* The microkernel's tile (mr rows) by emulation: c (ldc) as the kernel
 * leaves it. */
static void emu_tile(size_t kc, const uint32_t *a, const uint32_t *b, float *c, size_t ldc,
                     int flags, const sk_ukernel_params *p, int mr)
{
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < 32; j++) {
            float acc = 0.0f;
            for (size_t k = 0; k < kc; k += 2) /* pair slot k / 2 */
                acc = dp_lane(acc, a[k / 2 * (size_t)mr + (size_t)r], b[k / 2 * 32 + (size_t)j]);
            emu_store(acc, c + r * ldc + (size_t)j, r, j, flags, p);
        }
}

static void test_microkernel(void **state)
{
    (void)state;
    const sk_kconfig *kc = bf16_config();
    if (!kc) {
        print_message("skipped: no AVX512-BF16 on this CPU\n");
        return;
    }
    const size_t ldc = 37, guard = 16;
    /* the 8-row kernel and the 7-row one (pixel rows, bf16_gemm_mr7); with
     * and without the driver's prefetch (p.pf: the same bits) */
    for (int mr = 8; mr >= 7; mr--)
    for (int kcn = 1; kcn <= 80; kcn += (kcn < 12 ? 1 : 7)) {
        for (int flags = 0; flags < 4; flags++) {
            for (int tiny = 0; tiny < 2; tiny++) {
                size_t ka = ((size_t)kcn + 1) & ~(size_t)1;
                uint32_t *a = sk_alloc(ka * 8 * 4), *b = sk_alloc(ka * 32 * 4);
                for (size_t i = 0; i < ka * 8; i++)
                    a[i] = sk_bf16_pair(frnd(), frnd());
                for (size_t i = 0; i < ka * 32; i++)
                    b[i] = sk_bf16_pair(frnd(), frnd());
                if (tiny) /* products near 2^-126: denormal sums to flush; raw bf16
                           * denormals in the operands to read as zero */
                    for (size_t i = 0; i < ka * 8; i += 3)
                        a[i] = (rnd() & 1) ? 0x00400001u | (rnd() & 0x80008000u)
                                           : sk_bf16_pair(0x1p-70f * frnd(), 0x1p-60f * frnd());
                if (tiny)
                    for (size_t i = 0; i < ka * 32; i += 2)
                        b[i] = sk_bf16_pair(0x1p-57f * frnd(), 0x1p-66f * frnd());
                float bias_r[8], bias_c[32], res[8 * 40];
                for (int i = 0; i < 8; i++)
                    bias_r[i] = frnd();
                for (int i = 0; i < 32; i++)
                    bias_c[i] = frnd();
                for (int i = 0; i < 8 * 40; i++)
                    res[i] = frnd();
                sk_ukernel_params p = {NULL, NULL, NULL, 40, -INFINITY, INFINITY, NULL, NULL, 0, 0, NULL, NULL, NULL, 0};
                if (rnd() & 1) { /* prefetch some lines of b (any address is allowed) */
                    p.pf = (const char *)b;
                    p.pf_end = (const char *)(b + ka * 32);
                    p.pf_step = 64 * (1 + rnd() % 2);
                }
                if (flags & SK_UK_EPI) {
                    int e = (int)(rnd() % 4);
                    p.bias_row = e & 1 ? bias_r : NULL;
                    p.bias_col = e & 2 ? bias_c : NULL;
                    p.res = rnd() & 1 ? res : NULL;
                    p.min = rnd() & 1 ? 0.0f : -1.5f;
                    p.max = rnd() & 1 ? INFINITY : 2.0f;
                }
                size_t n = 8 * ldc + 2 * guard;
                float *c1 = malloc(n * 4), *c2 = malloc(n * 4);
                for (size_t i = 0; i < n; i++)
                    c1[i] = c2[i] = frnd();
                sk_gemm_ukernel uk = mr == 8 ? kc->bf16_gemm.uk : kc->bf16_gemm_mr7;
                assert_non_null(uk);
                uk((size_t)kcn, (const float *)a, (const float *)b, c1 + guard, ldc, flags, &p);
                emu_tile((size_t)kcn, a, b, c2 + guard, ldc, flags, &p, mr);
                for (size_t i = 0; i < n; i++)
                    if (bits(c1[i]) != bits(c2[i]))
                        fail_msg("mr %d kc %d flags %d tiny %d: C word %zd is %a (%08x), "
                                 "emulated %a (%08x)",
                                 mr, kcn, flags, tiny, (ptrdiff_t)i - (ptrdiff_t)guard, (double)c1[i],
                                 bits(c1[i]), (double)c2[i], bits(c2[i]));
                free(c1);
                free(c2);
                sk_free(a);
                sk_free(b);
            }
        }
    }
}

/* The narrow-panel kernel (ntail): rows 1-16 of two A panels times the
 * first 1-16 columns of a B panel, every flag and epilogue, against the
 * emulation; C's cells outside rows x cols (and guard cells) untouched. */
static void test_ntail(void **state)
{
    (void)state;
    const sk_kconfig *kc = bf16_config();
    if (!kc || !kc->bf16_gemm.ntail) {
        print_message("skipped: no AVX512-BF16 on this CPU (or SKIPSERVE_GEMM_NTAIL=0)\n");
        return;
    }
    const size_t ldc = 37, guard = 16;
    for (int kcn = 1; kcn <= 70; kcn += (kcn < 6 ? 1 : 13)) {
        const size_t slots = ((size_t)kcn + 1) / 2;
        uint32_t *a = sk_alloc(slots * 16 * 4), *b = sk_alloc(slots * 32 * 4);
        for (size_t i = 0; i < slots * 16; i++)
            a[i] = sk_bf16_pair(frnd(), frnd());
        for (size_t i = 0; i < slots * 32; i++)
            b[i] = sk_bf16_pair(frnd(), frnd());
        for (int rows = 1; rows <= 16; rows += (rows < 9 ? 1 : 7))
            for (int cols = 1; cols <= 16; cols += 5)
                for (int flags = 0; flags < 4; flags++) {
                    float bias_r[16], bias_c[16], res[16 * 40];
                    for (int i = 0; i < 16; i++)
                        bias_r[i] = bias_c[i] = frnd();
                    for (int i = 0; i < 16 * 40; i++)
                        res[i] = frnd();
                    sk_ukernel_params p = {NULL, NULL, NULL, 40, -INFINITY, INFINITY, NULL, NULL, 0, 0, NULL, NULL, NULL, 0};
                    if (flags & SK_UK_EPI) {
                        p.bias_row = rnd() & 1 ? bias_r : NULL;
                        p.bias_col = rnd() & 1 ? bias_c : NULL;
                        p.res = rnd() & 1 ? res : NULL;
                        p.min = rnd() & 1 ? 0.0f : -1.5f;
                        p.max = rnd() & 1 ? INFINITY : 2.0f;
                    }
                    size_t n = 16 * ldc + 2 * guard;
                    float *c1 = malloc(n * 4), *c2 = malloc(n * 4);
                    for (size_t i = 0; i < n; i++)
                        c1[i] = c2[i] = frnd();
                    /* a1 is the second panel: a + slots * 8 words */
                    const uint32_t *a1 = rows > 8 ? a + slots * 8 : a;
                    kc->bf16_gemm.ntail((size_t)kcn, (const float *)a, (const float *)a1,
                                        (const float *)b, c1 + guard, ldc, rows, cols, flags, &p);
                    for (int r = 0; r < rows; r++)
                        for (int j = 0; j < cols; j++) {
                            const uint32_t *ar = r < 8 ? a + r : a1 + (r - 8);
                            float acc = 0.0f;
                            for (size_t q = 0; q < slots; q++)
                                acc = dp_lane(acc, ar[q * 8], b[q * 32 + (size_t)j]);
                            emu_store(acc, c2 + guard + (size_t)r * ldc + j, r, j, flags, &p);
                        }
                    for (size_t i = 0; i < n; i++)
                        if (bits(c1[i]) != bits(c2[i]))
                            fail_msg("ntail kc %d rows %d cols %d flags %d: C word %zd is %a, "
                                     "emulated %a",
                                     kcn, rows, cols, flags, (ptrdiff_t)i - (ptrdiff_t)guard,
                                     (double)c1[i], (double)c2[i]);
                    free(c1);
                    free(c2);
                }
        sk_free(a);
        sk_free(b);
    }
}

/* The last-rows kernel (mtail): 1-7 rows of one A panel across 1-6 B
 * panels (the grouped panels and the ones left over), the last panel part
 * full, every flag and epilogue, against the emulation; the rest of C
 * untouched. */
static void test_mtail(void **state)
{
    (void)state;
    const sk_kconfig *kc = bf16_config();
    if (!kc || !kc->bf16_gemm.mtail) {
        print_message("skipped: no AVX512-BF16 on this CPU (or SKIPSERVE_GEMM_MTAIL=0)\n");
        return;
    }
    const size_t ldc = 200, guard = 16;
    for (int kcn = 1; kcn <= 40; kcn += (kcn < 4 ? 1 : 17)) {
        const size_t slots = ((size_t)kcn + 1) / 2, bstride = slots * 32 + 32;
        uint32_t *a = sk_alloc(slots * 8 * 4), *b = sk_alloc(bstride * 6 * 4);
        for (size_t i = 0; i < slots * 8; i++)
            a[i] = sk_bf16_pair(frnd(), frnd());
        for (size_t i = 0; i < bstride * 6; i++)
            b[i] = sk_bf16_pair(frnd(), frnd());
        for (int rows = 1; rows <= 7; rows++)
            for (int np = 1; np <= 6; np++)
                for (int flags = 0; flags < 4; flags++) {
                    const int ncols = (np - 1) * 32 + 1 + (int)(rnd() % 32);
                    float bias_r[8], bias_c[192], res[8 * 200];
                    for (int i = 0; i < 8; i++)
                        bias_r[i] = frnd();
                    for (int i = 0; i < 192; i++)
                        bias_c[i] = frnd();
                    for (int i = 0; i < 8 * 200; i++)
                        res[i] = frnd();
                    sk_ukernel_params p = {NULL, NULL, NULL, 200, -INFINITY, INFINITY, NULL, NULL, 0, 0, NULL, NULL, NULL, 0};
                    if (flags & SK_UK_EPI) {
                        p.bias_row = rnd() & 1 ? bias_r : NULL;
                        p.bias_col = rnd() & 1 ? bias_c : NULL;
                        p.res = rnd() & 1 ? res : NULL;
                        p.min = rnd() & 1 ? 0.0f : -1.5f;
                        p.max = rnd() & 1 ? INFINITY : 2.0f;
                    }
                    size_t n = 8 * ldc + 2 * guard;
                    float *c1 = malloc(n * 4), *c2 = malloc(n * 4);
                    for (size_t i = 0; i < n; i++)
                        c1[i] = c2[i] = frnd();
                    kc->bf16_gemm.mtail((size_t)kcn, (const float *)a, (const float *)b, bstride,
                                        np, c1 + guard, ldc, rows, ncols, flags, &p);
                    for (int r = 0; r < rows; r++)
                        for (int j = 0; j < ncols; j++) {
                            const uint32_t *bp = b + (size_t)(j / 32) * bstride + (size_t)(j % 32);
                            float acc = 0.0f;
                            for (size_t q = 0; q < slots; q++)
                                acc = dp_lane(acc, a[q * 8 + (size_t)r], bp[q * 32]);
                            emu_store(acc, c2 + guard + (size_t)r * ldc + j, r, j, flags, &p);
                        }
                    for (size_t i = 0; i < n; i++)
                        if (bits(c1[i]) != bits(c2[i]))
                            fail_msg("mtail kc %d rows %d panels %d cols %d flags %d: C word %zd "
                                     "is %a, emulated %a",
                                     kcn, rows, np, ncols, flags, (ptrdiff_t)i - (ptrdiff_t)guard,
                                     (double)c1[i], (double)c2[i]);
                    free(c1);
                    free(c2);
                }
        sk_free(a);
        sk_free(b);
    }
}

/* ---- the driver ----------------------------------------------------------- */

typedef struct bsrc {
    const float *B;
    size_t ldb;
    sk_bf16_pack2_fn pack2;
} bsrc;

/* row-major B block into nr-column K-pair panels, one pair row at a time
 * from its two float rows (what the conv's packer does after its gather) */
static void pack_b_pairs(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                         float *dst, float *tmp)
{
    (void)batch;
    (void)tmp;
    const bsrc *s = ctx;
    for (int k = 0; k < kc; k += 2) {
        const float *lo = s->B + (size_t)(k0 + k) * s->ldb + (size_t)n0;
        s->pack2(dst + (size_t)(k / 2) * (size_t)nr, (size_t)(kc + 1) / 2 * (size_t)nr, nr, lo,
                 k + 1 < kc ? lo + s->ldb : NULL, nb);
    }
}

/* C[i][j] as the driver computes it: per K block of kcb rows (the
 * driver's rule, rounded to even), a vdpbf16ps chain from zero, + the
 * previous blocks' sum; then bias (row), residual, clamp. */
static float emu_driver(const float *A, const float *B, int N, int K, int kcfg, int i, int j,
                        const float *bias, const float *res, float lo, float hi)
{
    const int kcb = emu_kblock(K, kcfg);
    float c = 0.0f;
    for (int pc = 0; pc < K; pc += kcb) {
        int kc = K - pc < kcb ? K - pc : kcb;
        float acc = 0.0f;
        for (int k = pc; k < pc + kc; k += 2) {
            uint32_t a = sk_bf16_pair(A[(size_t)i * K + k], k + 1 < K ? A[(size_t)i * K + k + 1] : 0);
            uint32_t b = sk_bf16_pair(B[(size_t)k * N + j], k + 1 < K ? B[(size_t)(k + 1) * N + j] : 0);
            acc = dp_lane(acc, a, b);
        }
        c = pc ? acc + c : acc;
    }
    c += bias[i];
    c += res[(size_t)i * N + j];
    return c < lo ? lo : c > hi ? hi : c;
}

static void test_driver(void **state)
{
    (void)state;
    const sk_kconfig *kc = bf16_config();
    if (!kc) {
        print_message("skipped: no AVX512-BF16 on this CPU\n");
        return;
    }
    const sk_gemm_cfg *cfg = &kc->bf16_gemm;
    const int shapes[][3] = {{8, 32, 2},    {13, 45, 7},   {64, 49, 147}, {17, 200, 577},
                             {24, 33, 1153}, {40, 96, 256}, {9, 31, 513},  {1, 1, 1}};
    for (int threads = 1; threads <= 3; threads += 2) {
        sk_pool *pool = sk_pool_create(threads);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)K * N);
            float *C = malloc(sizeof(float) * ((size_t)M * N + 32));
            float *bias = malloc(sizeof(float) * (size_t)M), *res = malloc(sizeof(float) * (size_t)M * N);
            for (size_t i = 0; i < (size_t)M * K; i++)
                A[i] = frnd();
            for (size_t i = 0; i < (size_t)K * N; i++)
                B[i] = frnd();
            for (int i = 0; i < M; i++)
                bias[i] = frnd();
            for (size_t i = 0; i < (size_t)M * N; i++)
                res[i] = frnd();
            for (int i = 0; i < 32; i++)
                C[(size_t)M * N + i] = 12345.0f; /* guard cells past C */
            sk_gemm_packed_a pa;
            assert_int_equal(sk_bf16_pack_a(cfg, A, (size_t)K, M, K, 1, &pa), 0);
            bsrc bs = {B, (size_t)N, kc->bf16_pack2};
            sk_gemm_job j;
            sk_gemm_job_init(&j, cfg, M, N, K, 1);
            j.a_packed = &pa;
            j.pack_b = pack_b_pairs;
            j.b_ctx = &bs;
            j.c = C;
            j.ldc = (size_t)N;
            j.epi.bias = bias;
            j.epi.res = res;
            j.epi.ldres = (size_t)N;
            j.epi.min = -3.0f;
            j.epi.max = 4.0f;
            assert_int_equal(sk_gemm_run(pool, &j, NULL), 0);
            double worst = 0;
            for (int i = 0; i < M; i++)
                for (int c = 0; c < N; c++) {
                    float got = C[(size_t)i * N + c];
                    float want = emu_driver(A, B, N, K, cfg->kc, i, c, bias, res, -3.0f, 4.0f);
                    if (bits(got) != bits(want))
                        fail_msg("M %d N %d K %d, %d threads: C[%d][%d] = %a, emulated %a", M, N,
                                 K, threads, i, c, (double)got, (double)want);
                    /* against the exact product of the unrounded operands:
                     * each operand rounds to 8 significant bits, relative
                     * error <= 2^-8, a product <= 2^-7 + 2^-16, the float32 sums add at most
                     * (K/2 + 3) * 2^-24 of the sum of |terms| (two roundings
                     * per pair, then bias, residual); the clamp only
                     * shrinks errors */
                    double exact = bias[i] + res[(size_t)i * N + c], mag = fabs(bias[i]) +
                                                                      fabs(res[(size_t)i * N + c]);
                    for (int k = 0; k < K; k++) {
                        double t = (double)A[(size_t)i * K + k] * B[(size_t)k * N + c];
                        exact += t;
                        mag += fabs(t);
                    }
                    exact = exact < -3 ? -3 : exact > 4 ? 4 : exact;
                    double bound = (0x1p-7 + 0x1p-16 + (K + 6) * 0x1p-24) * mag;
                    double e = fabs(got - exact);
                    if (e > bound)
                        fail_msg("M %d N %d K %d: C[%d][%d] error %g over the bound %g", M, N, K,
                                 i, c, e, bound);
                    if (mag > 0 && e / mag > worst)
                        worst = e / mag;
                }
            for (int i = 0; i < 32; i++)
                assert_true(C[(size_t)M * N + i] == 12345.0f);
            if (threads == 1 && s == 3)
                print_message("M %d N %d K %d: worst error %.3g of sum |a b| (bound %.3g)\n", M,
                              N, K, worst, 0x1p-7 + 0x1p-16 + (K + 6) * 0x1p-24);
            sk_gemm_packed_a_free(&pa);
            free(A);
            free(B);
            free(C);
            free(bias);
            free(res);
        }
        sk_pool_destroy(pool);
    }
}

int main(void)
{
    /* session 19: these are the vdpbf16ps kernels' tests; on a CPU with
     * AMX-BF16 the default config is the AMX kernel (test_bf16_amx.c), so
     * keep the AVX512-BF16 one here (read at the config's fill) */
    setenv("SKIPSERVE_BF16_UK", "avx512bf16", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_pack2),
        cmocka_unit_test(test_taps2),
        cmocka_unit_test(test_pack_weights),
        cmocka_unit_test(test_microkernel),
        cmocka_unit_test(test_ntail),
        cmocka_unit_test(test_mtail),
        cmocka_unit_test(test_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
