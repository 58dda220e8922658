/* test_bf16_amx.c — the AMX-BF16 GEMM (session 19: kernels/amx/,
 * bf16.h's AMX chunks) bit for bit against a scalar emulation of
 * TDPBF16PS (bf16_amx_emu.h, written from the SDM and checked on this
 * hardware, not from the kernel):
 *   - the load-time pack of A into AMX chunks against the layout written
 *     out here (chunk c of width w at c * 16 * mr words, row r at r * w);
 *   - the 32 x 32 microkernel: K rows 1..100 and around chunk and block
 *     sizes, every flag (accumulate, epilogue) and epilogue term (row and
 *     column bias, residual, clamp), denormal-producing operands, C with a
 *     row stride and guard cells;
 *   - the GEMM driver on the AMX config: M and N tails (the buffered tail
 *     tiles), K over several blocks (the blocks start on chunks), 1, 2 and
 *     3 threads — the same bits whatever the thread count — and against a
 *     double product of the unrounded operands within the bf16 bound.
 * Runs where the CPU has AMX-BF16 and the OS grants the tile state; skipped
 * with a message elsewhere, or with SKIPSERVE_BF16_UK=avx512bf16. */
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

#include "bf16_amx_emu.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float frnd(void) { return (float)((int)(rnd() % 20001) - 10000) / 5000.0f; }
/* values whose products and sums reach the denormal range (~2^-126):
 * magnitudes 2^-70 .. 2^-56, some exactly tiny, some ordinary */
static float frnd_tiny(void)
{
    uint32_t r = rnd() % 4;
    if (r == 0)
        return frnd();
    float m = 1.0f + (float)(rnd() % 128) / 128.0f;
    return (rnd() & 1 ? -1.0f : 1.0f) * ldexpf(m, -56 - (int)(rnd() % 15));
}

static const sk_kconfig *amx_config(void)
{
    const sk_kconfig *kc = sk_kconfig_for(SK_ISA_AVX512);
    return kc && kc->bf16_gemm.uk && kc->bf16_gemm.kchunk > 0 ? kc : NULL; /* the AMX config */
}

/* The AMX config's plain-C parts — the chunk layout of the A panels
 * (sk_bf16_a_word, bf16.c's packer), the driver's K blocks rounded to
 * chunks (gemm.c, cfg->kchunk) and its 32 x 32 buffered tail tile — need
 * no AMX: a copy of the config's shape (32 x 32, kpair, kchunk 32) with a
 * scalar kernel built on the emulation runs them on every CPU (the review
 * of session 19, item 9). emu_chunk_uk reads the panels as the AMX kernel
 * does: A chunk q of a panel at q * 16 * 32 words, [32 rows][w words], w
 * = 16 but for the last; B pair slot s at s * 32 words. */
static void emu_chunk_uk(size_t kc, const float *a, const float *b, float *c, size_t ldc,
                         int flags, const sk_ukernel_params *p)
{
    const size_t pairs = (kc + 1) / 2;
    const uint32_t *aw = (const uint32_t *)a, *bw = (const uint32_t *)b;
    for (int i = 0; i < 32; i++)
        for (int j = 0; j < 32; j++) {
            float acc = (flags & SK_UK_ACCUM) ? c[(size_t)i * ldc + j] : 0.0f;
            for (size_t q = 0; 16 * q < pairs; q++) {
                const size_t w = pairs - 16 * q < 16 ? pairs - 16 * q : 16;
                uint32_t ar[16], bc[16];
                for (size_t t = 0; t < 16; t++) {
                    ar[t] = t < w ? aw[q * 16 * 32 + (size_t)i * w + t] : 0;
                    bc[t] = t < w ? bw[(16 * q + t) * 32 + (size_t)j] : 0;
                }
                acc = emu_amx_elem(acc, ar, bc, 1);
            }
            if (flags & SK_UK_EPI) {
                if (p->bias_row)
                    acc += p->bias_row[i];
                if (p->bias_col)
                    acc += p->bias_col[j];
                if (p->res)
                    acc += p->res[(size_t)i * p->ldres + j];
                acc = fmaxf(p->min, acc);
                acc = fminf(p->max, acc);
            }
            c[(size_t)i * ldc + j] = acc;
        }
}

static sk_gemm_cfg emu_config(void)
{
    sk_gemm_cfg c;
    memset(&c, 0, sizeof c);
    c.isa = SK_ISA_SCALAR;
    c.mr = 32;
    c.nr = 32;
    c.kc = 512;
    c.mc = 128;
    c.nc = 256;
    c.uk = emu_chunk_uk; /* no edge kernels: tails take the buffered tile */
    c.kpair = 1;
    c.kchunk = 32;
    return c;
}

/* the configs to check: the emulated one everywhere, the AMX one (and its
 * pack2) where the CPU has it */
static int configs_to_check(sk_gemm_cfg *emu, const sk_gemm_cfg *cfgs[2],
                            sk_bf16_pack2_fn pack2s[2])
{
    *emu = emu_config();
    cfgs[0] = emu;
    pack2s[0] = sk_bf16_pack2_scalar;
    const sk_kconfig *kc = amx_config();
    if (!kc) {
        print_message("no AMX-BF16 config on this CPU: the emulated config only\n");
        return 1;
    }
    cfgs[1] = &kc->bf16_gemm;
    pack2s[1] = kc->bf16_pack2;
    return 2;
}

static void test_pack_layout(void **state)
{
    (void)state;
    sk_gemm_cfg emu;
    const sk_gemm_cfg *cfgs[2];
    sk_bf16_pack2_fn pack2s[2];
    const int ncfg = configs_to_check(&emu, cfgs, pack2s);
    for (int v = 0; v < ncfg; v++) {
    const sk_gemm_cfg *cfg = cfgs[v];
    assert_int_equal(cfg->mr, 32);
    assert_int_equal(cfg->kchunk, 32);
    const int Ks[] = {1, 2, 31, 32, 33, 64, 95, 147, 577};
    for (size_t t = 0; t < sizeof Ks / sizeof Ks[0]; t++) {
        const int K = Ks[t], M = 45, G = 2, mr = 32, panels = 2;
        float *A = malloc(sizeof(float) * (size_t)G * M * K);
        for (size_t i = 0; i < (size_t)G * M * K; i++)
            A[i] = frnd();
        sk_gemm_packed_a pa;
        assert_int_equal(sk_bf16_pack_a(cfg, A, (size_t)K, M, K, G, &pa), 0);
        const size_t slots = ((size_t)K + 1) / 2;
        const uint32_t *d = (const uint32_t *)pa.data;
        for (int g = 0; g < G; g++)
            for (int p = 0; p < panels; p++)
                for (int r = 0; r < mr; r++)
                    for (size_t s = 0; s < slots; s++) {
                        /* chunk c covers slots [16c, 16c + w) */
                        size_t c = s / 16, w = slots - 16 * c < 16 ? slots - 16 * c : 16;
                        size_t at = (size_t)g * pa.group_stride + (size_t)p * slots * mr +
                                    c * 16 * mr + (size_t)r * w + (s - 16 * c);
                        int m = p * mr + r, k = 2 * (int)s;
                        uint32_t want = 0;
                        if (m < M) {
                            const float *row = A + ((size_t)g * M + m) * K;
                            want = sk_bf16_pair(row[k], k + 1 < K ? row[k + 1] : 0.0f);
                        }
                        if (d[at] != want)
                            fail_msg("K %d g %d panel %d row %d slot %zu: %08x, want %08x", K, g,
                                     p, r, s, d[at], want);
                    }
        sk_gemm_packed_a_free(&pa);
        free(A);
    }
    }
}

/* the kernel's element: C from +0 (or its old value when accumulating),
 * a TDPBF16PS step per chunk, then the FP32 kernels' epilogue */
static float emu_uk(const float *A, const float *B, int K, int i, int j, float c0, int flags,
                    const sk_ukernel_params *p)
{
    float c = (flags & SK_UK_ACCUM) ? c0 : 0.0f;
    for (int k0 = 0; k0 < K; k0 += 32) {
        uint32_t a[16], b[16];
        for (int q = 0; q < 16; q++) {
            int k = k0 + 2 * q;
            a[q] = sk_bf16_pair(k < K ? A[(size_t)i * K + k] : 0.0f,
                                k + 1 < K ? A[(size_t)i * K + k + 1] : 0.0f);
            b[q] = sk_bf16_pair(k < K ? B[(size_t)k * 32 + j] : 0.0f,
                                k + 1 < K ? B[(size_t)(k + 1) * 32 + j] : 0.0f);
        }
        c = emu_amx_elem(c, a, b, 1);
    }
    if (flags & SK_UK_EPI) {
        if (p->bias_row)
            c += p->bias_row[i];
        if (p->bias_col)
            c += p->bias_col[j];
        if (p->res)
            c += p->res[(size_t)i * p->ldres + j];
        c = fmaxf(p->min, c); /* no NaN here */
        c = fminf(p->max, c);
    }
    return c;
}

static void test_microkernel(void **state)
{
    (void)state;
    const sk_kconfig *kc = amx_config();
    if (!kc) {
        print_message("skipped: no AMX-BF16 config on this CPU\n");
        return;
    }
    const sk_gemm_cfg *cfg = &kc->bf16_gemm;
    int Ks[120], nk = 0;
    for (int k = 1; k <= 100; k++)
        Ks[nk++] = k;
    const int more[] = {127, 128, 129, 160, 255, 256, 511, 512, 513, 1023};
    for (size_t t = 0; t < sizeof more / sizeof more[0]; t++)
        Ks[nk++] = more[t];
    const size_t ldc = 37;
    for (int t = 0; t < nk; t++) {
        const int K = Ks[t], tiny = t % 5 == 4;
        float *A = malloc(sizeof(float) * 32 * (size_t)K), *B = malloc(sizeof(float) * (size_t)K * 32);
        for (size_t i = 0; i < 32 * (size_t)K; i++) {
            A[i] = tiny ? frnd_tiny() : frnd();
            B[i] = tiny ? frnd_tiny() : frnd();
        }
        sk_gemm_packed_a pa;
        sk_gemm_packed_b pb;
        assert_int_equal(sk_bf16_pack_a(cfg, A, (size_t)K, 32, K, 1, &pa), 0);
        assert_int_equal(sk_bf16_pack_b(cfg, B, 32, 1, K, 32, &pb), 0);
        float brow[32], bcol[32], res[32 * 32];
        for (int i = 0; i < 32; i++) {
            brow[i] = frnd();
            bcol[i] = frnd();
        }
        for (int i = 0; i < 32 * 32; i++)
            res[i] = frnd();
        for (int flags = 0; flags < 4; flags++)
            for (int epi = 0; epi < (flags & SK_UK_EPI ? 3 : 1); epi++) {
                sk_ukernel_params p = {0};
                p.min = -INFINITY;
                p.max = INFINITY;
                if (epi == 1) {
                    p.bias_row = brow;
                    p.res = res;
                    p.ldres = 32;
                    p.min = -2.0f;
                    p.max = 3.0f;
                } else if (epi == 2) {
                    p.bias_col = bcol;
                    p.min = 0.0f;
                }
                float *C = malloc(sizeof(float) * (32 * ldc + 16)), *C0 = malloc(sizeof(float) * 32 * ldc);
                for (size_t i = 0; i < 32 * ldc + 16; i++)
                    C[i] = tiny && i % 3 ? frnd_tiny() : frnd();
                memcpy(C0, C, sizeof(float) * 32 * ldc);
                /* a task of kernel calls: the tile configuration in, the
                 * tile state released after (gemm.h task_begin / _end) */
                if (cfg->task_begin)
                    cfg->task_begin();
                cfg->uk((size_t)K, pa.data, pb.data, C, ldc, flags, &p);
                if (cfg->task_end)
                    cfg->task_end();
                for (int i = 0; i < 32; i++)
                    for (size_t j = 0; j < ldc; j++) {
                        float got = C[i * ldc + j];
                        if (j >= 32) { /* between the rows: untouched */
                            assert_true(emu_bits(got) == emu_bits(C0[i * ldc + j]));
                            continue;
                        }
                        float want = emu_uk(A, B, K, i, (int)j, C0[i * ldc + j], flags, &p);
                        if (emu_bits(got) != emu_bits(want))
                            fail_msg("K %d flags %d epi %d: C[%d][%zu] = %a, emulated %a", K,
                                     flags, epi, i, j, (double)got, (double)want);
                    }
                free(C);
                free(C0);
            }
        sk_gemm_packed_a_free(&pa);
        sk_gemm_packed_b_free(&pb);
        free(A);
        free(B);
    }
}

/* the edge kernels (ntail: <= 16 columns, rows up to 64 from two A
 * panels; mtail: 1-31 rows across 1-3 B panels, the last partial) against
 * the same emulation, every flag and epilogue; cells outside the edge
 * untouched */
static void test_edges(void **state)
{
    (void)state;
    const sk_kconfig *kc = amx_config();
    if (!kc || !kc->bf16_gemm.ntail || !kc->bf16_gemm.mtail) {
        print_message("skipped: no AMX-BF16 edge kernels\n");
        return;
    }
    const sk_gemm_cfg *cfg = &kc->bf16_gemm;
    const int Ks[] = {1, 7, 32, 33, 95, 200};
    const size_t ldc = 101;
    for (size_t t = 0; t < sizeof Ks / sizeof Ks[0]; t++) {
        const int K = Ks[t], M = 64, N = 96;
        float *A = malloc(sizeof(float) * M * (size_t)K), *B = malloc(sizeof(float) * (size_t)K * N);
        for (size_t i = 0; i < (size_t)M * K; i++)
            A[i] = t % 3 == 2 ? frnd_tiny() : frnd();
        for (size_t i = 0; i < (size_t)K * N; i++)
            B[i] = t % 3 == 2 ? frnd_tiny() : frnd();
        sk_gemm_packed_a pa;
        sk_gemm_packed_b pb;
        assert_int_equal(sk_bf16_pack_a(cfg, A, (size_t)K, M, K, 1, &pa), 0);
        assert_int_equal(sk_bf16_pack_b(cfg, B, N, 1, K, N, &pb), 0);
        const size_t astride = ((size_t)K + 1) / 2 * 32, bstride = astride;
        float brow[64], bcol[96], *res = malloc(sizeof(float) * 64 * 96);
        for (int i = 0; i < 64; i++)
            brow[i] = frnd();
        for (int i = 0; i < 96; i++)
            bcol[i] = frnd();
        for (int i = 0; i < 64 * 96; i++)
            res[i] = frnd();
        float *C = malloc(sizeof(float) * 64 * ldc), *C0 = malloc(sizeof(float) * 64 * ldc);
        /* emu_uk reads A as 32-row panels' rows and B as a 32-column panel:
         * emulate through row / column copies of the panel's operands */
        float *Ap = malloc(sizeof(float) * 32 * (size_t)K), *Bp = malloc(sizeof(float) * (size_t)K * 32);
        for (int kind = 0; kind < 2; kind++)
            for (int flags = 0; flags < 4; flags++)
                for (int epi = 0; epi < (flags & SK_UK_EPI ? 3 : 1); epi++)
                    for (int trial = 0; trial < 4; trial++) {
                        int rows = kind ? 1 + (int)(rnd() % 31) : 1 + (int)(rnd() % 64);
                        int cols = kind ? 1 + (int)(rnd() % 96) : 1 + (int)(rnd() % 16);
                        sk_ukernel_params p = {0};
                        p.min = -INFINITY;
                        p.max = INFINITY;
                        if (epi == 1) {
                            p.bias_row = brow;
                            p.res = res;
                            p.ldres = 96;
                            p.min = -2.0f;
                            p.max = 3.0f;
                        } else if (epi == 2) {
                            p.bias_col = bcol;
                            p.min = 0.0f;
                        }
                        for (size_t i = 0; i < 64 * ldc; i++)
                            C[i] = frnd();
                        memcpy(C0, C, sizeof(float) * 64 * ldc);
                        if (cfg->task_begin)
                            cfg->task_begin();
                        if (kind)
                            cfg->mtail((size_t)K, pa.data, pb.data, bstride, (cols + 31) / 32, C,
                                       ldc, rows, cols, flags, &p);
                        else
                            cfg->ntail((size_t)K, pa.data, pa.data + astride, pb.data, C, ldc,
                                       rows, cols, flags, &p);
                        if (cfg->task_end)
                            cfg->task_end();
                        for (int i = 0; i < 64; i++)
                            for (size_t j = 0; j < ldc; j++) {
                                float got = C[i * ldc + j], want = C0[i * ldc + j];
                                if (i < rows && (int)j < cols) {
                                    /* element (i, j): row i of A, column j of B */
                                    const int pi = i % 32, pj = (int)j % 32;
                                    for (int k = 0; k < K; k++) {
                                        Ap[(size_t)pi * K + k] = A[(size_t)i * K + k];
                                        Bp[(size_t)k * 32 + pj] = B[(size_t)k * N + j];
                                    }
                                    sk_ukernel_params pe = p;
                                    /* emu_uk indexes bias / res by the tile's (pi, pj) */
                                    if (pe.bias_row)
                                        pe.bias_row += i - pi;
                                    if (pe.bias_col)
                                        pe.bias_col += (int)j - pj;
                                    if (pe.res)
                                        pe.res += (size_t)(i - pi) * pe.ldres + ((int)j - pj);
                                    want = emu_uk(Ap, Bp, K, pi, pj, C0[i * ldc + j], flags, &pe);
                                }
                                if (emu_bits(got) != emu_bits(want))
                                    fail_msg("%s K %d rows %d cols %d flags %d epi %d: C[%d][%zu] = "
                                             "%a, want %a",
                                             kind ? "mtail" : "ntail", K, rows, cols, flags, epi, i,
                                             j, (double)got, (double)want);
                            }
                    }
        free(Ap);
        free(Bp);
        free(C);
        free(C0);
        free(res);
        sk_gemm_packed_a_free(&pa);
        sk_gemm_packed_b_free(&pb);
        free(A);
        free(B);
    }
}

typedef struct bsrc {
    const float *B;
    size_t ldb;
    sk_bf16_pack2_fn pack2;
} bsrc;

/* row-major B block into nr-column K-pair panels, one pair row at a time
 * (what the conv's packer does after its gather) */
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

static void test_driver(void **state)
{
    (void)state;
    sk_gemm_cfg emu;
    const sk_gemm_cfg *cfgs[2];
    sk_bf16_pack2_fn pack2s[2];
    const int ncfg = configs_to_check(&emu, cfgs, pack2s);
    for (int v = 0; v < ncfg; v++) {
    const sk_gemm_cfg *cfg = cfgs[v];
    const int shapes[][3] = {{32, 32, 32},  {13, 45, 7},   {64, 49, 147},  {17, 200, 577},
                             {40, 33, 1153}, {96, 96, 256}, {9, 31, 513},   {1, 1, 1},
                             {256, 196, 576}, {64, 784, 64}};
    for (int threads = 1; threads <= 3; threads++) {
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
            bsrc bs = {B, (size_t)N, pack2s[v]};
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
                    float want = emu_amx_dot(A, (size_t)K, B, (size_t)N, K, i, c);
                    want += bias[i];
                    want += res[(size_t)i * N + c];
                    want = want < -3.0f ? -3.0f : want > 4.0f ? 4.0f : want;
                    if (emu_bits(got) != emu_bits(want))
                        fail_msg("config %d, M %d N %d K %d, %d threads: C[%d][%d] = %a, emulated %a", v, M, N,
                                 K, threads, i, c, (double)got, (double)want);
                    /* against the exact product of the unrounded operands:
                     * each operand rounds to 8 significant bits, a product
                     * errs by <= (2^-7 + 2^-16) |a b|; the float32 sums add
                     * at most (K/2 + K/16 + 6) * 2^-24 of sum |terms| (each
                     * product in one of two chains of <= 16, chunk sums, the
                     * chain of chunks, bias, residual); the clamp only
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
            if (threads == 1 && s == 4)
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
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_layout),
        cmocka_unit_test(test_microkernel),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_driver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
