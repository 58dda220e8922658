/* test_dw_uk.c — the depthwise flat path's vector loops
 * (engine/kernels/fast_dw_uk.h: dw_flat, dw_out, dw_copy, dw_split) and
 * the channel-lane loop (dw_cl) alone,
 * every length around the 8-, 4-, 2-, 1-vector blocks and the masked tail:
 * bit for bit the scalar fmaf chain / copies, nothing written past the end
 * (sentinels). Levels: AVX2 and AVX-512 where the CPU has them, and always
 * "emu512", the AVX-512 build of the header against avx512_emu.h, so the
 * 16-lane code is checked on CPUs without AVX-512. The whole convolution
 * (these loops inside fast_dwconv.c against the reference conv, every
 * thread count) is in test_fast_conv.c (test_depthwise_flat). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels/config.h"
#include "kernels/fast.h"

#define SK_FAST_EMULATE 1
#define SK_FAST_AVX512 1
#define SK_UK(name) emu512_##name
#include "avx512_emu.h"
#include "kernels/fast_simd.h"
#include "kernels/fast_dw_uk.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float frand(void) { return (float)((double)(rnd() % 200001) / 100000.0 - 1.0); }
static int irand(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

static void check_flat_uk(const char *name, const sk_dw_flat_uk *fl)
{
    enum { SRC = 4096, G = 40 };
    float *src = malloc(sizeof(float) * SRC), *t = malloc(sizeof(float) * (600 + G));
    float *d0 = malloc(sizeof(float) * (200 + G)), *d1 = malloc(sizeof(float) * (200 + G));
    float *res = malloc(sizeof(float) * 600);
    for (int i = 0; i < SRC; i++)
        src[i] = frand();
    for (int i = 0; i < 600; i++)
        res[i] = frand();
    {
        for (size_t n = 1; n <= 560; n += (n < 300 ? 1 : 37)) {
            int ntaps = irand(1, 25);
            ptrdiff_t off[25];
            float w[25];
            for (int k = 0; k < ntaps; k++) {
                off[k] = irand(0, SRC - 600);
                w[k] = frand();
            }
            float b = frand();
            for (size_t q = 0; q < n + G; q++)
                t[q] = -777.0f;
            fl->flat(t, src, off, w, ntaps, n, b);
            for (size_t q = 0; q < n; q++) {
                float a = b;
                for (int k = 0; k < ntaps; k++)
                    a = fmaf(w[k], src[q + (size_t)off[k]], a);
                if (memcmp(&a, &t[q], sizeof a))
                    fail_msg("[%s] dw_flat n=%zu t[%zu] = %.9g, scalar %.9g",
                             name, n, q, t[q], a);
            }
            for (size_t q = n; q < n + G; q++)
                assert_true(t[q] == -777.0f);
            /* epilogue: 3 rows of m columns out of a run with row stride n / 3 */
            size_t m = n / 3 > 0 ? (size_t)irand(1, (int)(n / 3)) : 0, ld = n / 3;
            if (m) {
                float lo = -0.5f, hi = 0.75f;
                const float *rr = (n & 1) ? res : NULL;
                for (size_t q = 0; q < 3 * m + G; q++)
                    d0[q % (200 + G)] = -777.0f;
                if (3 * m + G <= 200 + G) {
                    fl->out(d0, m, t, ld, m, 3, rr, lo, hi);
                    for (size_t rw = 0; rw < 3; rw++)
                        for (size_t q = 0; q < m; q++) {
                            float v = t[rw * ld + q] + (rr ? rr[rw * m + q] : 0.0f);
                            v = v < lo ? lo : v > hi ? hi : v;
                            assert_true(d0[rw * m + q] == v);
                        }
                    for (size_t q = 3 * m; q < 3 * m + G; q++)
                        assert_true(d0[q] == -777.0f);
                }
            }
        }
        for (size_t w = 1; w <= 150; w++) {
            size_t ne = (size_t)irand(0, (int)((w + 1) / 2)), no = (size_t)irand(0, (int)(w / 2));
            for (size_t q = 0; q < 200 + G; q++)
                d0[q] = d1[q] = -777.0f;
            fl->split(d0, d1, src + 3, w, ne, no);
            for (size_t q = 0; q < 200 + G; q++) {
                assert_true(d0[q] == (q < ne ? src[3 + 2 * q] : -777.0f));
                assert_true(d1[q] == (q < no ? src[4 + 2 * q] : -777.0f));
            }
            for (size_t q = 0; q < 200 + G; q++)
                d0[q] = -777.0f;
            fl->copy(d0, src + 5, w);
            for (size_t q = 0; q < 200 + G; q++)
                assert_true(d0[q] == (q < w ? src[5 + q] : -777.0f));
        }
    }
    free(src);
    free(t);
    free(d0);
    free(d1);
    free(res);
}


static void test_dw_flat_uk(void **state)
{
    (void)state;
    const sk_dw_flat_uk emu = {emu512_dw_flat, emu512_dw_out, emu512_dw_copy, emu512_dw_split};
    check_flat_uk("emu512", &emu);
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)l);
        assert_non_null(kc);
        assert_non_null(kc->dw_flat.flat);
        check_flat_uk(sk_isa_name((sk_isa)l), &kc->dw_flat);
    }
}

/* dw_cl (the channel-lane loop): every output pixel count around the
 * 8-pixel blocks, random row / column strides and tap offsets, bit for bit
 * the scalar fmaf chain per lane from b, nothing written past the last
 * pixel. */
static void check_cl_uk(const char *name, const sk_dw_cl_uk *cl)
{
    enum { SRC = 1 << 16, G = 40, MAXPX = 70 };
    const int vw = cl->vw;
    float *src = malloc(sizeof(float) * SRC), *t = malloc(sizeof(float) * (size_t)(MAXPX * vw + G));
    float *w = malloc(sizeof(float) * (size_t)(25 * vw)), *b = malloc(sizeof(float) * (size_t)vw);
    for (int i = 0; i < SRC; i++)
        src[i] = frand();
    for (int it = 0; it < 300; it++) {
        size_t oH = (size_t)irand(1, 7), oW = (size_t)irand(1, 10);
        size_t ldc = (size_t)(irand(1, 2) * vw), ldr = oW * ldc + (size_t)(irand(0, 3) * vw);
        int ntaps = irand(1, 25);
        ptrdiff_t off[25];
        for (int k = 0; k < ntaps; k++)
            off[k] = (ptrdiff_t)irand(0, 200) * vw + irand(0, 1);
        for (int i = 0; i < ntaps * vw; i++)
            w[i] = frand();
        for (int l = 0; l < vw; l++)
            b[l] = frand();
        size_t n = oH * oW;
        for (size_t q = 0; q < n * (size_t)vw + G; q++)
            t[q] = -777.0f;
        cl->run(t, src, off, w, ntaps, oH, oW, ldr, ldc, b);
        for (size_t q = 0; q < n; q++)
            for (int l = 0; l < vw; l++) {
                const float *s = src + (q / oW) * ldr + (q % oW) * ldc + l;
                float a = b[l];
                for (int k = 0; k < ntaps; k++)
                    a = fmaf(w[k * vw + l], s[off[k]], a);
                if (memcmp(&a, &t[q * (size_t)vw + (size_t)l], sizeof a))
                    fail_msg("[%s] dw_cl %zux%zu pixel %zu lane %d = %.9g, scalar %.9g", name, oH,
                             oW, q, l, t[q * (size_t)vw + (size_t)l], a);
            }
        for (size_t q = n * (size_t)vw; q < n * (size_t)vw + G; q++)
            assert_true(t[q] == -777.0f);
    }
    free(src);
    free(t);
    free(w);
    free(b);
}

static void test_dw_cl_uk(void **state)
{
    (void)state;
    const sk_dw_cl_uk emu = {emu512_dw_cl, 16};
    check_cl_uk("emu512", &emu);
    for (int l = SK_ISA_AVX2; l <= (int)sk_cpu_detected(); l++) {
        const sk_kconfig *kc = sk_kconfig_for((sk_isa)l);
        assert_non_null(kc);
        assert_non_null(kc->dw_cl.run);
        assert_int_equal(kc->dw_cl.vw, l == SK_ISA_AVX2 ? 8 : 16);
        check_cl_uk(sk_isa_name((sk_isa)l), &kc->dw_cl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dw_flat_uk),
        cmocka_unit_test(test_dw_cl_uk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
