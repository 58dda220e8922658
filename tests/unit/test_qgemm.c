/* test_qgemm.c — the int8 GEMM (engine/kernels/qgemm.h): every microkernel
 * the CPU runs (AVX512-VNNI, AVX-VNNI, the widening AVX2 one) and the scalar
 * reference of each packed layout, bit for bit against a naive computation
 * written here from the operators' definitions:
 *   acc = sum_k (x[k][n] - x_zp) * w[m][k] + bias[m]           (int32)
 *   y1  = saturate(round_half_even((float)acc * mult[m]) + y1_zp)
 * as QLinearConv (ref/qlinear.c), then, with a residual r, QLinearAdd's
 *   y   = saturate(round_half_even(((y1 - y1_zp) * s1 + (r - r_zp) * sr) / s2) + y_zp)
 * and ReLU as max(y, y_zp). Inputs include the extremes (x = 255 with
 * w = -128 / 127 next to each other: the pairs vpmaddubsw would saturate),
 * int8 and uint8 activations, outputs and residuals, odd M / N / K around
 * every tile size, and 1, 2 and 3 threads. Outputs sit in a larger buffer
 * filled with a sentinel: every byte outside the M x N block must survive.
 * The two VNNI kernels also run as compiled with vpdpbusd emulated
 * (qgemm_emu.h), so a CPU without VNNI still checks their logic. */
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
#include "kernels/config.h"
#include "kernels/qgemm.h"
#include "kernels/ref/quant_util.h"
#include "qgemm_emu.h"
#include "threadpool.h"

static uint32_t rng = 12345;
static uint32_t rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

/* a byte biased toward the extremes */
static uint8_t rbyte(void)
{
    uint32_t r = rnd() % 8;
    return r == 0 ? 0 : r == 1 ? 255 : r == 2 ? 127 : r == 3 ? 128 : (uint8_t)rnd();
}

typedef struct tcase {
    size_t M, N, K;
    int x_s8, out_s8, res, res_s8, relu;
} tcase;

typedef struct tdata {
    uint8_t *x;      /* K x N, raw bytes (int8 when x_s8) */
    int8_t *w;       /* M x K */
    int32_t *bias;   /* original bias */
    float *mult;
    uint8_t *r;      /* M x N residual */
    int32_t x_zp, y1_zp, r_zp, y_zp;
    float s1, sr, s2;
} tdata;

static int32_t xval(const tcase *c, const uint8_t *x, size_t i)
{
    return c->x_s8 ? (int32_t)(int8_t)x[i] : (int32_t)x[i];
}

/* the definition, element by element */
static void naive(const tcase *c, const tdata *d, uint8_t *y)
{
    sk_dtype ot = c->out_s8 ? SK_I8 : SK_U8;
    for (size_t m = 0; m < c->M; m++)
        for (size_t n = 0; n < c->N; n++) {
            int64_t acc = d->bias[m];
            for (size_t k = 0; k < c->K; k++)
                acc += (int64_t)(xval(c, d->x, k * c->N + n) - d->x_zp) * d->w[m * c->K + k];
            int32_t v = sk_q_round_sat((float)acc * d->mult[m], d->y1_zp, ot);
            int32_t zp = d->y1_zp;
            if (c->res) {
                int32_t rv = c->res_s8 ? (int8_t)d->r[m * c->N + n] : d->r[m * c->N + n];
                float f = (float)(v - d->y1_zp) * d->s1 + (float)(rv - d->r_zp) * d->sr;
                v = sk_q_round_sat(f / d->s2, d->y_zp, ot);
                zp = d->y_zp;
            }
            if (c->relu && v < zp)
                v = zp;
            y[m * c->N + n] = (uint8_t)v;
        }
}

/* run one config (uk NULL: the scalar reference of its layout) on `threads` */
static void run_cfg(const sk_qgemm_cfg *cfg, const tcase *c, const tdata *d, int threads,
                    const uint8_t *want)
{
    size_t M = c->M, N = c->N, K = c->K;
    int8_t *pa = malloc(sk_qgemm_packed_a_bytes(cfg, M, K) + 1);
    size_t npan = (N + (size_t)cfg->nr - 1) / (size_t)cfg->nr;
    uint8_t *pb = malloc(npan * sk_qgemm_b_panel_bytes(cfg, K) + 1);
    int32_t *sums = malloc(M * sizeof *sums), *bias = malloc(M * sizeof *bias);
    assert_non_null(pa);
    assert_non_null(pb);
    sk_qgemm_pack_a(cfg, M, K, d->w, K, pa);
    int32_t xzp = c->x_s8 ? d->x_zp + 128 : d->x_zp; /* u8 view of int8 data */
    sk_qgemm_pack_b(cfg, K, 0, npan * (size_t)cfg->nr, N, d->x, N, c->x_s8 ? 0x80 : 0, pb);
    sk_qgemm_row_sums(M, K, d->w, K, sums);
    for (size_t m = 0; m < M; m++)
        bias[m] = d->bias[m] - xzp * sums[m];
    float tlo = c->out_s8 ? -128.f : 0.f, thi = c->out_s8 ? 127.f : 255.f;
    sk_qgemm_params p = {.bias = bias, .mult = d->mult, .y1_zp = (float)d->y1_zp,
                         .lo1 = tlo, .hi1 = thi, .out_s8 = c->out_s8, .res_s8 = c->res_s8,
                         .y1_scale = d->s1, .r_scale = d->sr, .r_zp = (float)d->r_zp,
                         .y_scale = d->s2, .y_zp = (float)d->y_zp, .lo = tlo, .hi = thi};
    if (c->relu) {
        if (c->res)
            p.lo = (float)d->y_zp;
        else
            p.lo1 = (float)d->y1_zp;
    }
    /* the output and residual inside wider buffers with guard rows/cells */
    size_t ldy = N + 7, rows = M + 2, guard = 0xA5;
    uint8_t *ybuf = malloc(rows * ldy), *rbuf = NULL;
    memset(ybuf, (int)guard, rows * ldy);
    uint8_t *y = ybuf + ldy + 3;
    if (c->res) {
        rbuf = malloc(rows * ldy);
        memset(rbuf, 0x5A, rows * ldy);
        for (size_t m = 0; m < M; m++)
            memcpy(rbuf + (m + 1) * ldy + 3 + m * 0, d->r + m * N, N);
    }
    sk_pool *pool = threads > 1 ? sk_pool_create(threads) : NULL;
    sk_qgemm_run(cfg, pool, M, N, K, pa, pb, y, ldy, c->res ? rbuf + ldy + 3 : NULL, ldy, &p);
    sk_pool_destroy(pool);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < ldy; j++) {
            uint8_t got = ybuf[i * ldy + j];
            int inside = i >= 1 && i <= M && j >= 3 && j < 3 + N;
            uint8_t exp = inside ? want[(i - 1) * N + (j - 3)] : (uint8_t)guard;
            if (got != exp) {
                fail_msg("%s t=%d M=%zu N=%zu K=%zu x_s8=%d out_s8=%d res=%d/%d relu=%d: "
                         "row %zu col %zu got %d want %d%s",
                         cfg->uk ? cfg->name : "ref", threads, M, N, K, c->x_s8, c->out_s8,
                         c->res, c->res_s8, c->relu, i, j, got, exp,
                         inside ? "" : " (guard cell)");
            }
        }
    free(ybuf);
    free(rbuf);
    free(pa);
    free(pb);
    free(sums);
    free(bias);
}

/* every microkernel this CPU runs, with its layout; reference twins below */
static int kernels(sk_qgemm_cfg *out)
{
    int n = 0;
    const sk_cpu_features *f = sk_cpu_features_get();
#if defined(__x86_64__)
    if (sk_cpu_detected() >= SK_ISA_AVX2)
        out[n++] = (sk_qgemm_cfg){4, 8, sk_qu8_qc8w_gemm_4x8c4__avx2, "4x8c4__avx2", 0};
    if (sk_cpu_detected() >= SK_ISA_AVX2 && f->avxvnni)
        out[n++] = (sk_qgemm_cfg){6, 16, sk_qu8_qc8w_gemm_6x16c4__avxvnni, "6x16c4__avxvnni", 0};
    if (sk_cpu_detected() >= SK_ISA_AVX512 && f->avx512vnni)
        out[n++] = (sk_qgemm_cfg){8, 32, sk_qu8_qc8w_gemm_8x32c4__avx512vnni,
                                  "8x32c4__avx512vnni", 0};
    /* the VNNI kernels again with vpdpbusd emulated (qgemm_emu.h): their
     * logic checked wherever AVX2 / AVX-512BW runs, VNNI or not */
    if (sk_cpu_detected() >= SK_ISA_AVX2)
        out[n++] = (sk_qgemm_cfg){6, 16, sk_qu8_qc8w_gemm_6x16c4__avxvnni_emu,
                                  "6x16c4__avxvnni (dpbusd emulated in AVX2)", 0};
    if (sk_cpu_detected() >= SK_ISA_AVX512)
        out[n++] = (sk_qgemm_cfg){8, 32, sk_qu8_qc8w_gemm_8x32c4__avx512vnni_emu,
                                  "8x32c4__avx512vnni (dpbusd emulated in AVX-512BW)", 0};
#endif
    (void)f;
    return n;
}

static void one_case(const tcase *c)
{
    tdata d;
    size_t M = c->M, N = c->N, K = c->K;
    d.x = malloc(K * N + 1);
    d.w = malloc(M * K + 1);
    d.bias = malloc(M * sizeof *d.bias);
    d.mult = malloc(M * sizeof *d.mult);
    d.r = malloc(M * N + 1);
    for (size_t i = 0; i < K * N; i++)
        d.x[i] = rbyte();
    for (size_t i = 0; i < M * K; i++)
        d.w[i] = (int8_t)rbyte();
    for (size_t i = 0; i < M * N; i++)
        d.r[i] = (uint8_t)rnd();
    /* multipliers that spread the output over the type's range */
    float spread = 1.0f / (64.0f * (float)(K < 4 ? 4 : K) * 20.0f);
    for (size_t m = 0; m < M; m++) {
        d.bias[m] = (int32_t)(rnd() % 20001) - 10000;
        d.mult[m] = spread * (0.5f + (float)(rnd() % 1000) / 500.0f);
    }
    d.x_zp = c->x_s8 ? (int32_t)(rnd() % 256) - 128 : (int32_t)(rnd() % 256);
    d.y1_zp = c->out_s8 ? (int32_t)(rnd() % 64) - 32 : (int32_t)(rnd() % 64) + 96;
    d.y_zp = c->out_s8 ? (int32_t)(rnd() % 64) - 32 : (int32_t)(rnd() % 64) + 96;
    d.r_zp = c->res_s8 ? (int32_t)(rnd() % 64) - 32 : (int32_t)(rnd() % 64) + 96;
    d.s1 = 0.02f + (float)(rnd() % 100) * 1e-4f;
    d.sr = 0.015f + (float)(rnd() % 100) * 1e-4f;
    d.s2 = 0.03f + (float)(rnd() % 100) * 1e-4f;
    uint8_t *want = malloc(M * N + 1);
    naive(c, &d, want);

    sk_qgemm_cfg ks[6];
    int nk = kernels(ks);
    /* the reference kernel on each layout (and on one of its own, 3 x 5) */
    sk_qgemm_cfg refs[7] = {{3, 5, NULL, "ref3x5", 0}};
    int nr = 1;
    for (int i = 0; i < nk; i++)
        refs[nr++] = (sk_qgemm_cfg){ks[i].mr, ks[i].nr, NULL, "ref", 0};
    for (int i = 0; i < nr; i++)
        run_cfg(&refs[i], c, &d, 1, want);
    for (int i = 0; i < nk; i++)
        for (int t = 1; t <= 3; t++)
            run_cfg(&ks[i], c, &d, t, want);
    free(want);
    free(d.x);
    free(d.w);
    free(d.bias);
    free(d.mult);
    free(d.r);
}

static void test_odd_sizes(void **state)
{
    (void)state;
    static const size_t Ms[] = {1, 3, 4, 5, 6, 7, 8, 9, 13, 17};
    static const size_t Ns[] = {1, 7, 8, 9, 15, 16, 17, 31, 33, 49, 70};
    static const size_t Ks[] = {1, 2, 3, 4, 5, 9, 27, 64};
    int cnt = 0;
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof *Ns; ni++)
            for (size_t ki = 0; ki < sizeof Ks / sizeof *Ks; ki++) {
                int f = (int)rnd();
                tcase c = {Ms[mi], Ns[ni], Ks[ki], f & 1, (f >> 1) & 1, (f >> 2) & 1,
                           (f >> 3) & 1, (f >> 4) & 1};
                one_case(&c);
                cnt++;
            }
    print_message("  %d shapes, kernels + reference layouts, 1-3 threads\n", cnt);
}

static void test_flags_and_layers(void **state)
{
    (void)state;
    /* every flag combination on a few sizes, then ResNet-like layers */
    for (int f = 0; f < 32; f++) {
        tcase c = {11, 45, 37, f & 1, (f >> 1) & 1, (f >> 2) & 1, (f >> 3) & 1, (f >> 4) & 1};
        one_case(&c);
    }
    tcase layers[] = {{64, 196, 576, 0, 0, 1, 0, 1}, {64, 49, 1152, 1, 1, 0, 0, 1},
                      {24, 300, 147, 0, 0, 0, 0, 1}, {40, 100, 4608, 0, 0, 1, 1, 1}};
    for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
        one_case(&layers[i]);
}

static void test_levels_have_kernels(void **state)
{
    (void)state;
    /* each level's config names a kernel the CPU runs, of a layout it packs */
    for (int L = SK_ISA_AVX2; L <= (int)sk_cpu_detected(); L++) {
        const sk_qgemm_cfg *q = sk_qgemm_config((sk_isa)L);
        assert_non_null(q);
        assert_non_null(q->uk);
        assert_true(q->mr >= 1 && q->nr >= 8);
        print_message("  %s: %s\n", sk_isa_name((sk_isa)L), q->name);
    }
    assert_null(sk_qgemm_config(SK_ISA_SCALAR));
    if (sk_cpu_detected() < SK_ISA_AVX512 || !sk_cpu_features_get()->avx512vnni)
        print_message("  no AVX512-VNNI on this CPU: its kernel ran with vpdpbusd emulated "
                      "(where AVX-512BW is)\n");
    if (!sk_cpu_features_get()->avxvnni)
        print_message("  no AVX-VNNI on this CPU: its kernel ran with vpdpbusd emulated\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_have_kernels),
        cmocka_unit_test(test_odd_sizes),
        cmocka_unit_test(test_flags_and_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
