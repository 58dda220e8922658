/* test_qigemm.c — the NHWC int8 conv microkernel (engine/kernels/qigemm.h):
 * the AVX512-VNNI, AVX-VNNI and (session 18) AVX2 kernels — the exact int16
 * ones (weights widened in registers, and on the c4w16 packing,
 * sk_qigemm_pack_w16) and the vpmaddubsw one on weights that pass
 * sk_qigemm_pairs_fit — and
 * the scalar reference of each
 * layout, driven tile
 * by tile through the indirection table (sk_qind_build) and the packed
 * weights (sk_qigemm_pack_w), bit for bit against a convolution written here
 * from the QLinearConv definition on NCHW data (then QLinearAdd with a
 * residual, ReLU as max(y, zero point)):
 *   acc = bias[m] + sum_{c,ky,kx} (x[c][ih][iw] - x_zp) * w[m][c][ky][kx]
 * with out-of-image taps contributing 0. Random geometries (1x1, 2x3, 3x3
 * s1/s2, 5x5, 7x7 s2, asymmetric pads, dilations, C = 4..68, M = 1..70
 * around the 32-channel tile, maps smaller than the kernel), plus ResNet
 * layer shapes; uint8 activations (what the NHWC path takes), uint8 / int8
 * outputs and residuals, extreme bytes. The output and the residual sit in
 * rows wider than M with guard bytes around every pixel row: the guard
 * cells must survive. Thread counts are covered by test_qconv.c, which runs
 * the same kernels inside plans on 1 and 3 threads. */
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
#include "kernels/qigemm.h"
#include "kernels/ref/quant_util.h"

static uint32_t rng = 424242;
static uint32_t rnd(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}
static int irand(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }
static uint8_t rbyte(void)
{
    uint32_t r = rnd() % 8;
    return r == 0 ? 0 : r == 1 ? 255 : r == 2 ? 127 : r == 3 ? 128 : (uint8_t)rnd();
}

typedef struct gcase {
    int C, M, H, W, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    int out_s8, res, relu;
} gcase;

typedef struct gdata {
    uint8_t *x;    /* NCHW, one image */
    int8_t *w;     /* [M][C][kh][kw] */
    int32_t *bias;
    float *mult;
    uint8_t *r;    /* [M][OH][OW] */
    int32_t x_zp, y1_zp, r_zp, y_zp;
    float s1, sr, s2;
    int OH, OW;
} gdata;

/* the definition on NCHW data; y is [P][M] (NHWC) to compare directly */
static void naive(const gcase *c, const gdata *d, uint8_t *y)
{
    sk_dtype ot = c->out_s8 ? SK_I8 : SK_U8;
    for (int oh = 0; oh < d->OH; oh++)
        for (int ow = 0; ow < d->OW; ow++)
            for (int m = 0; m < c->M; m++) {
                int64_t acc = d->bias[m];
                for (int ch = 0; ch < c->C; ch++)
                    for (int ky = 0; ky < c->kh; ky++)
                        for (int kx = 0; kx < c->kw; kx++) {
                            int ih = oh * c->sh - c->pt + ky * c->dh;
                            int iw = ow * c->sw - c->pl + kx * c->dw;
                            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                                continue;
                            int32_t xv = d->x[(ch * c->H + ih) * c->W + iw];
                            acc += (int64_t)(xv - d->x_zp) *
                                   d->w[((m * c->C + ch) * c->kh + ky) * c->kw + kx];
                        }
                int32_t v = sk_q_round_sat((float)acc * d->mult[m], d->y1_zp, ot), zp = d->y1_zp;
                if (c->res) {
                    uint8_t rb = d->r[(m * d->OH + oh) * d->OW + ow];
                    int32_t rv = c->out_s8 ? (int8_t)rb : rb;
                    float f = (float)(v - d->y1_zp) * d->s1 + (float)(rv - d->r_zp) * d->sr;
                    v = sk_q_round_sat(f / d->s2, d->y_zp, ot);
                    zp = d->y_zp;
                }
                if (c->relu && v < zp)
                    v = zp;
                y[(oh * d->OW + ow) * c->M + m] = (uint8_t)v;
            }
}

/* one layout (uk NULL: the reference of MR x NR) over the whole image */
static int nres_mul; /* residual runs where the kernel multiplied by 1 / y_scale */
static int nres_fma; /* and where it took the FMA form (session 16) */
static int ndk_tiles; /* tiles run on a level's dk kernel */
static int nshort_tiles; /* and on its uk_short */

/* the kernel on qigemm.h's c4w16 packing (session 18) */
static int is_w16(const sk_qigemm_cfg *cfg)
{
#if defined(__x86_64__)
    return cfg->uk == sk_qu8_qc8w_igemm_4x16c4__avx2_w16;
#else
    (void)cfg;
    return 0;
#endif
}

/* fast: let sk_qgemm_res_fast pick the residual's multiply where exact */
static void run_cfg(const sk_qigemm_cfg *cfg, const gcase *c, const gdata *d,
                    const uint8_t *want, int fast)
{
    size_t C = (size_t)c->C, M = (size_t)c->M, ks = (size_t)(c->kh * c->kw);
    size_t MR = (size_t)cfg->mr, NR = (size_t)cfg->nr, P = (size_t)(d->OH * d->OW);
    if (cfg->task_begin) /* AMX: the tile configuration, as nh_range loads it */
        cfg->task_begin();
    /* NHWC input with 8 guard bytes before and after */
    uint8_t *xb = malloc(C * (size_t)(c->H * c->W) + 16), *x = xb + 8;
    memset(xb, 0x3C, C * (size_t)(c->H * c->W) + 16);
    for (size_t ch = 0; ch < C; ch++)
        for (size_t p = 0; p < (size_t)(c->H * c->W); p++)
            x[p * C + ch] = d->x[ch * (size_t)(c->H * c->W) + p];
    uint8_t *zrow = malloc(C);
    memset(zrow, d->x_zp, C);
    sk_qind_geo g = {c->H, c->W, c->C, d->OH, d->OW, c->kh, c->kw,
                     c->sh, c->sw, c->dh, c->dw, c->pt, c->pl};
    int32_t *off = malloc(sk_qind_entries(&g, cfg->mr) * sizeof *off);
    sk_qind_build(&g, cfg->mr, off);
    /* session 18: the w16 kernel reads int16 pairs packed at load, blocks
     * twice as far apart (qigemm.h's c4w16) */
    size_t wm = is_w16(cfg) ? 2 : 1;
    int8_t *wp = malloc(wm * sk_qigemm_packed_w_bytes(cfg, M, C, ks));
    if (wm == 2)
        sk_qigemm_pack_w16(cfg, M, C, C, ks, d->w, (int16_t *)(void *)wp);
    else
        sk_qigemm_pack_w(cfg, M, C, C, ks, d->w, wp);
    int32_t *bias = malloc(M * sizeof *bias);
    for (size_t m = 0; m < M; m++) {
        int32_t s = 0;
        for (size_t k = 0; k < C * ks; k++)
            s += d->w[m * C * ks + k];
        bias[m] = d->bias[m] - d->x_zp * s;
    }
    float tlo = c->out_s8 ? -128.f : 0.f, thi = c->out_s8 ? 127.f : 255.f;
    sk_qgemm_params p = {.bias = bias, .mult = d->mult, .y1_zp = (float)d->y1_zp,
                         .lo1 = tlo, .hi1 = thi, .out_s8 = c->out_s8, .res_s8 = c->out_s8,
                         .y1_scale = d->s1, .r_scale = d->sr, .r_zp = (float)d->r_zp,
                         .y_scale = d->s2, .y_zp = (float)d->y_zp, .lo = tlo, .hi = thi};
    if (c->relu) {
        if (c->res)
            p.lo = (float)d->y_zp;
        else
            p.lo1 = (float)d->y1_zp;
    }
    if (c->res && fast) {
        int mode = sk_qgemm_res_fast(&p);
        nres_mul += mode == SK_QRES_MUL;
        nres_fma += mode == SK_QRES_FMA;
    }
    /* pixel rows of ldy = M + 7 bytes, 3 guard bytes before each row's M */
    size_t ldy = M + 7, guard = 0xA5;
    uint8_t *ybuf = malloc((P + 2) * ldy), *rbuf = malloc((P + 2) * ldy);
    memset(ybuf, (int)guard, (P + 2) * ldy);
    memset(rbuf, 0x5A, (P + 2) * ldy);
    for (size_t px = 0; px < P; px++)
        for (size_t m = 0; m < M; m++)
            rbuf[(px + 1) * ldy + 3 + m] = d->r[m * P + px];
    uint8_t *y = ybuf + ldy + 3, *r = rbuf + ldy + 3;
    const uint8_t **ptr = malloc(ks * MR * sizeof *ptr);
    /* dk (session 15): a tile of one output row whose taps all fall inside
     * the image is given by its window origin and the taps' offsets (with
     * dilation 1 across, odd tiles as kh taps of kw * C bytes, as
     * fast_qconv_nhwc.c runs it) */
    size_t toff[64], rowoff[8];
    for (size_t t = 0; t < (size_t)c->kh && t < 8; t++)
        rowoff[t] = t * (size_t)(c->dh * c->W) * C;
    for (size_t t = 0; t < ks && t < 64; t++)
        toff[t] = ((t / (size_t)c->kw) * (size_t)(c->dh * c->W) +
                   (t % (size_t)c->kw) * (size_t)c->dw) * C;
    for (size_t p0 = 0, tile = 0; p0 < P; p0 += MR, tile++) {
        size_t mr = P - p0 < MR ? P - p0 : MR;
        int oh = (int)(p0 / (size_t)d->OW), ow0 = (int)(p0 % (size_t)d->OW);
        int ih0 = oh * c->sh - c->pt, iw0 = ow0 * c->sw - c->pl;
        const uint8_t *x0 = NULL;
        if (cfg->uk && cfg->dk && ks <= 64 && mr == MR && ow0 + (int)mr <= d->OW && ih0 >= 0 &&
            iw0 >= 0 &&
            ih0 + (c->kh - 1) * c->dh < c->H &&
            iw0 + ((int)mr - 1) * c->sw + (c->kw - 1) * c->dw < c->W)
            x0 = x + ((size_t)ih0 * (size_t)c->W + (size_t)iw0) * C;
        ndk_tiles += x0 != NULL;
        for (size_t i = 0; i < ks * MR; i++) {
            int32_t o = off[tile * ks * MR + i];
            ptr[i] = o < 0 ? zrow : x + o;
        }
        for (size_t n0 = 0; n0 < M; n0 += NR) {
            size_t nc = M - n0 < NR ? M - n0 : NR;
            const int8_t *wb = wp + n0 / NR * ks * C * NR * wm;
            uint8_t *yt = y + p0 * ldy + n0;
            const uint8_t *rt = c->res ? r + p0 * ldy + n0 : NULL;
            if (x0 && c->dw == 1 && tile % 2) /* a kernel row as one tap of kw * C bytes */
                cfg->dk(mr, nc, (size_t)c->kw * C / 4, (size_t)c->kh, x0, (size_t)c->sw * C,
                        rowoff, wb, yt, ldy, rt, ldy, n0, &p);
            else if (x0)
                cfg->dk(mr, nc, C / 4, ks, x0, (size_t)c->sw * C, toff, wb, yt, ldy, rt, ldy,
                        n0, &p);
            else if (cfg->uk)
                cfg->uk(mr, nc, C / 4, ks, ptr, wb, yt, ldy, rt, ldy, n0, &p);
            else
                sk_qu8_qc8w_igemm_ref(cfg->mr, cfg->nr, mr, nc, C / 4, ks, ptr, wb, yt, ldy,
                                      rt, ldy, n0, &p);
        }
    }
    /* uk_short (session 15): again, in tiles of MR - 1 pixels, each pixel's
     * pointers taken from the table (the row layout stays MR wide) */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            if (!cfg->uk || !cfg->uk_short)
                break;
            memset(ybuf, (int)guard, (P + 2) * ldy);
            for (size_t p0 = 0; p0 < P; p0 += MR - 1) {
                size_t mr = P - p0 < MR - 1 ? P - p0 : MR - 1;
                for (size_t r = 0; r < MR; r++) {
                    size_t pp = p0 + (r < mr ? r : mr - 1);
                    for (size_t t = 0; t < ks; t++) {
                        int32_t o = off[pp / MR * ks * MR + t * MR + pp % MR];
                        ptr[t * MR + r] = o < 0 ? zrow : x + o;
                    }
                }
                for (size_t n0 = 0; n0 < M; n0 += NR)
                    cfg->uk_short(mr, M - n0 < NR ? M - n0 : NR, C / 4, ks, ptr,
                                  wp + n0 / NR * ks * C * NR, y + p0 * ldy + n0, ldy,
                                  c->res ? r + p0 * ldy + n0 : NULL, ldy, n0, &p);
                nshort_tiles++;
            }
        }
        for (size_t i = 0; i < P + 2; i++)
            for (size_t j = 0; j < ldy; j++) {
                int inside = i >= 1 && i <= P && j >= 3 && j < 3 + M;
                uint8_t exp = inside ? want[(i - 1) * M + (j - 3)] : (uint8_t)guard;
                if (ybuf[i * ldy + j] != exp)
                    fail_msg("%s C%d M%d %dx%d k%dx%d s%d,%d d%d,%d pads %d,%d,%d,%d "
                             "out_s8 %d res "
                             "%d relu %d: pixel %zu byte %zu got %d want %d%s",
                             cfg->uk ? cfg->name : "ref", c->C, c->M, c->H, c->W, c->kh, c->kw,
                             c->sh, c->sw, c->dh, c->dw, c->pt, c->pl, c->pb, c->pr, c->out_s8,
                             c->res, c->relu, i, j, ybuf[i * ldy + j], exp,
                             inside ? ""
                             : pass ? " (guard cell, uk_short)"
                                    : " (guard cell)");
            }
    }
    if (cfg->task_end)
        cfg->task_end();
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(xb[i], 0x3C); /* the kernel never writes its input */
    free(ptr);
    free(xb);
    free(zrow);
    free(off);
    free(wp);
    free(bias);
    free(ybuf);
    free(rbuf);
}

/* session 18: weights drawn so every same-sign byte pair has |a| + |b| <=
 * 128 (7-bit values and the pairs at the bound: 64 + 64, -100 - 28, -128 or
 * 127 beside a weight of the other sign), the maddubs kernel added */
static int w7_cases;

/* one pair that vpmaddubsw sums exactly for any u8 activations */
static void w7_pair(int8_t *a, int8_t *b)
{
    int r = (int)(rnd() % 8), x = irand(-64, 64);
    int s = x < 0 ? -1 : 1, bound = 128 - abs(x);
    int v = r == 0 ? 64 : r == 1 ? -100 : r == 2 ? -128 : r == 3 ? 127 : x;
    int u = r == 0   ? 64
            : r == 1 ? -28
            : r == 2 ? irand(0, 127)           /* -128 beside a positive weight */
            : r == 3 ? -irand(0, 128)          /* 127 beside a negative one */
            : r == 4 ? s * bound               /* same sign, at the bound */
            : r == 5 ? -s * irand(0, 127)      /* the other sign, any size */
                     : s * irand(0, bound);    /* same sign, within it */
    *a = (int8_t)v;
    *b = (int8_t)u;
}

static int kernels(sk_qigemm_cfg *out)
{
    int n = 0;
#if defined(__x86_64__)
    if (sk_cpu_detected() >= SK_ISA_AVX512 && sk_cpu_features_get()->avx512vnni)
        out[n++] = (sk_qigemm_cfg){8, 32, sk_qu8_qc8w_igemm_8x32c4__avx512vnni,
                                   "igemm_8x32c4__avx512vnni",
                                   sk_qu8_qc8w_dconv_8x32c4__avx512vnni,
                                   sk_qu8_qc8w_igemm_7x32c4__avx512vnni, NULL, NULL};
    /* session 19 (ami): AMX-INT8 on the 8x32 kernel's packing, 32-pixel tiles */
    if (sk_cpu_detected() >= SK_ISA_AVX512 && sk_cpu_features_get()->amx_tile &&
        sk_cpu_features_get()->amx_int8 && sk_cpu_amx_request())
        out[n++] = (sk_qigemm_cfg){32, 32, sk_qu8_qc8w_igemm_32x32c4__amx, "igemm_32x32c4__amx",
                                   sk_qu8_qc8w_dconv_32x32c4__amx, NULL, sk_amx_task_begin,
                                   sk_amx_task_end};
    if (sk_cpu_detected() >= SK_ISA_AVX2 && sk_cpu_features_get()->avxvnni)
        out[n++] = (sk_qigemm_cfg){6, 16, sk_qu8_qc8w_igemm_6x16c4__avxvnni,
                                   "igemm_6x16c4__avxvnni", NULL, NULL, NULL, NULL};
    /* session 18: AVX2 without VNNI (every AVX2 CPU runs them): the exact
     * int16 kernel always, the vpmaddubsw one only on weights that pass
     * sk_qigemm_pairs_fit (w7_cases: the cases generated to pass it) */
    if (sk_cpu_detected() >= SK_ISA_AVX2) {
        out[n++] = (sk_qigemm_cfg){.mr = 4, .nr = 16, .uk = sk_qu8_qc8w_igemm_4x16c4__avx2,
                                   .name = "igemm_4x16c4__avx2",
                                   .dk = sk_qu8_qc8w_dconv_4x16c4__avx2};
        out[n++] = (sk_qigemm_cfg){.mr = 4, .nr = 16, .uk = sk_qu8_qc8w_igemm_4x16c4__avx2_w16,
                                   .name = "igemm_4x16c4__avx2_w16",
                                   .dk = sk_qu8_qc8w_dconv_4x16c4__avx2_w16};
        if (w7_cases)
            out[n++] = (sk_qigemm_cfg){.mr = 6, .nr = 16,
                                       .uk = sk_qu8_qc8w_igemm_6x16c4__avx2_maddubs,
                                       .name = "igemm_6x16c4__avx2_maddubs",
                                       .dk = sk_qu8_qc8w_dconv_6x16c4__avx2_maddubs};
    }
#endif
    return n;
}

static int nkernels_run;

static void one_case(gcase *c)
{
    gdata d;
    d.OH = (c->H + c->pt + c->pb - c->dh * (c->kh - 1) - 1) / c->sh + 1;
    d.OW = (c->W + c->pl + c->pr - c->dw * (c->kw - 1) - 1) / c->sw + 1;
    assert_true(d.OH > 0 && d.OW > 0);
    size_t C = (size_t)c->C, M = (size_t)c->M, HW = (size_t)(c->H * c->W);
    size_t K = C * (size_t)(c->kh * c->kw), P = (size_t)(d.OH * d.OW);
    d.x = malloc(C * HW);
    d.w = malloc(M * K);
    d.bias = malloc(M * sizeof *d.bias);
    d.mult = malloc(M * sizeof *d.mult);
    d.r = malloc(M * P);
    for (size_t i = 0; i < C * HW; i++)
        d.x[i] = rbyte();
    for (size_t i = 0; i < M * K; i++)
        d.w[i] = (int8_t)rbyte();
    if (w7_cases) /* [m][c][t]: the packed pair is channels (2j, 2j+1) of a tap */
        for (size_t m = 0; m < M; m++)
            for (size_t ch = 0; ch + 1 < C; ch += 2)
                for (size_t t = 0; t < K / C; t++)
                    w7_pair(&d.w[(m * C + ch) * (K / C) + t], &d.w[(m * C + ch + 1) * (K / C) + t]);
    for (size_t i = 0; i < M * P; i++)
        d.r[i] = (uint8_t)rnd();
    float spread = 1.0f / (64.0f * (float)(K < 4 ? 4 : K) * 20.0f);
    for (size_t m = 0; m < M; m++) {
        d.bias[m] = (int32_t)(rnd() % 20001) - 10000;
        d.mult[m] = spread * (0.5f + (float)(rnd() % 1000) / 500.0f);
    }
    d.x_zp = (int32_t)(rnd() % 256);
    d.y1_zp = c->out_s8 ? irand(-32, 31) : irand(96, 159);
    d.y_zp = c->out_s8 ? irand(-32, 31) : irand(96, 159);
    d.r_zp = c->out_s8 ? irand(-32, 31) : irand(96, 159);
    d.s1 = 0.02f + (float)(rnd() % 100) * 1e-4f;
    d.sr = 0.015f + (float)(rnd() % 100) * 1e-4f;
    d.s2 = 0.03f + (float)(rnd() % 100) * 1e-4f;
    uint8_t *want = malloc(P * M);
    naive(c, &d, want);
    if (w7_cases) { /* the generator's promise, checked on the packed bytes */
        sk_qigemm_cfg c6x16 = {.mr = 6, .nr = 16}; /* the maddubs kernel's layout */
        int8_t *wp = malloc(sk_qigemm_packed_w_bytes(&c6x16, M, C, K / C));
        sk_qigemm_pack_w(&c6x16, M, C, C, K / C, d.w, wp);
        assert_true(sk_qigemm_pairs_fit(wp, sk_qigemm_packed_w_bytes(&c6x16, M, C, K / C)));
        free(wp);
    }
    sk_qigemm_cfg ks[6];
    int n = kernels(ks);
    for (int i = 0; i < n; i++) {
        run_cfg(&ks[i], c, &d, want, 0);
        if (c->res) { /* the FMA form where exact, then the multiply without it */
            run_cfg(&ks[i], c, &d, want, 1);
            setenv("SKIPSERVE_INT8_RES_FMA", "0", 1);
            run_cfg(&ks[i], c, &d, want, 1);
            unsetenv("SKIPSERVE_INT8_RES_FMA");
        }
        sk_qigemm_cfg ref = ks[i];
        ref.uk = NULL;
        run_cfg(&ref, c, &d, want, 0);
    }
    /* a reference of another layout: the contract is not tied to 8 x 32 */
    sk_qigemm_cfg odd = {3, 5, NULL, "ref3x5", NULL, NULL, NULL, NULL};
    run_cfg(&odd, c, &d, want, 0);
    nkernels_run += n;
    free(d.x);
    free(d.w);
    free(d.bias);
    free(d.mult);
    free(d.r);
    free(want);
}

static void test_random(void **state)
{
    (void)state;
    static const int kk[][2] = {{1, 1}, {3, 3}, {2, 3}, {5, 5}, {7, 7}, {1, 3}};
    for (int i = 0; i < 150; i++) {
        gcase c;
        memset(&c, 0, sizeof c);
        c.C = 4 * irand(1, 17);
        c.M = irand(1, 70);
        int k = irand(0, 5);
        c.kh = kk[k][0];
        c.kw = kk[k][1];
        c.sh = irand(1, 2);
        c.sw = irand(1, 2);
        c.dh = irand(0, 3) ? 1 : 2;
        c.dw = irand(0, 3) ? 1 : 2;
        c.pt = irand(0, c.kh - 1 < 3 ? c.kh - 1 : 3);
        c.pl = irand(0, c.kw - 1 < 3 ? c.kw - 1 : 3);
        c.pb = irand(0, c.kh - 1 < 3 ? c.kh - 1 : 3);
        c.pr = irand(0, c.kw - 1 < 3 ? c.kw - 1 : 3);
        /* some maps smaller than the (dilated) kernel, held up by the pads */
        int minh = c.dh * (c.kh - 1) + 1 - c.pt - c.pb, minw = c.dw * (c.kw - 1) + 1 - c.pl - c.pr;
        c.H = irand(minh < 1 ? 1 : minh, 12);
        c.W = irand(minw < 1 ? 1 : minw, 12);
        c.out_s8 = irand(0, 1);
        c.res = irand(0, 1);
        c.relu = irand(0, 1);
        one_case(&c);
    }
    /* session 19 (ami): rows of >= 32 output pixels and up to 34 groups a
     * tap, so the 32-pixel AMX kernel's dk form (a full tile inside one
     * row), its in-place strided tile loads and K chunks past the first 16
     * groups (with and without a tail) all run */
    for (int i = 0; i < 24; i++) {
        gcase c;
        memset(&c, 0, sizeof c);
        c.C = 4 * irand(1, 34);
        c.M = irand(1, 70);
        int k = irand(0, 5);
        c.kh = kk[k][0];
        c.kw = kk[k][1];
        c.sh = irand(1, 2);
        c.sw = 1;
        c.dh = 1;
        c.dw = irand(0, 3) ? 1 : 2;
        c.pt = c.pb = c.kh / 2;
        c.pl = c.pr = c.kw / 2;
        c.H = irand(c.kh, c.kh + 2);
        c.W = irand(33, 44);
        c.out_s8 = irand(0, 1);
        c.res = irand(0, 1);
        c.relu = irand(0, 1);
        one_case(&c);
    }
    print_message("  174 geometries, %d SIMD kernel runs (+ references), %d residual runs "
                  "multiplying, %d in the FMA form, %d tiles on a dk kernel, %d on uk_short\n",
                  nkernels_run, nres_mul, nres_fma, ndk_tiles, nshort_tiles);
    sk_qigemm_cfg ks[6];
    int n = kernels(ks);
    if (n > 0)
        assert_true(nres_mul > 0 && nres_fma > 0); /* the multiply and FMA paths too */
    if (n > 0 && ks[0].dk)
        assert_true(ndk_tiles > 0); /* and the pointer-free entry */
    if (n > 0 && ks[0].uk_short)
        assert_true(nshort_tiles > 0); /* and the short tiles */
}

/* sk_qgemm_res_fast against the definition: for random residual layers
 * (scales, zero points, types, ReLU), the FMA form (session 16: t * a + (r *
 * b + c), a = y1_scale / y_scale, b = r_scale / y_scale, c = -r_zp * b, each
 * fused) is chosen exactly when it gives the same byte as QLinearAdd's
 * formula with v / y_scale for every conv output t and residual byte, else
 * the multiply v * (1 / y_scale) exactly when that does (computed here with
 * ref/quant_util.h's rounding, not qres_fast.c's); with
 * SKIPSERVE_INT8_RES_FMA=0 never the FMA form. Every answer must occur, or
 * the check would be vacuous. */
static void test_res_fast(void **state)
{
    (void)state;
    int nmul = 0, ndiv = 0, nfma = 0;
    for (int i = 0; i < 600; i++) {
        int nofma = i >= 300; /* the second half under SKIPSERVE_INT8_RES_FMA=0 */
        if (nofma)
            setenv("SKIPSERVE_INT8_RES_FMA", "0", 1);
        int s8 = irand(0, 1), relu = irand(0, 1);
        sk_dtype ot = s8 ? SK_I8 : SK_U8;
        int32_t lo = s8 ? -128 : 0, hi = s8 ? 127 : 255;
        int32_t y1zp = irand(lo, hi), rzp = irand(lo, hi), yzp = irand(lo, hi);
        float s1 = (float)irand(1, 100000) * 1e-6f, sr = (float)irand(1, 100000) * 1e-6f;
        float s2 = (float)irand(1, 100000) * 1e-6f;
        sk_qgemm_params p = {.y1_zp = (float)y1zp, .lo1 = (float)lo, .hi1 = (float)hi,
                             .out_s8 = s8, .res_s8 = s8, .y1_scale = s1, .r_scale = sr,
                             .r_zp = (float)rzp, .y_scale = s2, .y_zp = (float)yzp,
                             .lo = relu ? (float)yzp : (float)lo, .hi = (float)hi};
        int mode = sk_qgemm_res_fast(&p);
        float rcp = 1.0f / s2, fa = s1 / s2, fb = sr / s2, fc = -(float)rzp * fb;
        int same = 1, fsame = !nofma;
        for (int32_t t = lo; t <= hi && (same || fsame); t++)
            for (int32_t r = lo; r <= hi && (same || fsame); r++) {
                float f = (float)(t - y1zp) * s1 + (float)(r - rzp) * sr;
                float g = fmaf((float)(t - y1zp), fa, fmaf((float)r, fb, fc));
                int32_t a = sk_q_round_sat(f / s2, yzp, ot), b = sk_q_round_sat(f * rcp, yzp, ot);
                int32_t e = sk_q_round_sat(g, yzp, ot);
                if (relu) {
                    a = a < yzp ? yzp : a;
                    b = b < yzp ? yzp : b;
                    e = e < yzp ? yzp : e;
                }
                same = same && a == b;
                fsame = fsame && a == e;
            }
        assert_int_equal(mode, fsame ? SK_QRES_FMA : same ? SK_QRES_MUL : SK_QRES_DIV);
        nfma += fsame;
        nmul += !fsame && same;
        ndiv += !fsame && !same;
    }
    unsetenv("SKIPSERVE_INT8_RES_FMA");
    print_message("  600 residual layers: FMA form %d, multiply %d, divide %d\n", nfma, nmul,
                  ndiv);
    assert_true(nfma > 0);
    assert_true(nmul > 0 && ndiv > 0);
}

static void test_resnet_layers(void **state)
{
    (void)state;
    gcase cs[] = {
        {64, 64, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1},   /* 3x3 + skip + ReLU */
        {64, 128, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1},  /* 3x3 s2 */
        {64, 256, 14, 14, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1},  /* 1x1 expand + skip */
        {256, 128, 14, 14, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0}, /* 1x1 s2 downsample */
        {4, 64, 30, 30, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 0, 0, 1},    /* a 7x7 s2 stem, C=4 */
        {512, 512, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1},   /* the last stage */
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++)
        one_case(&cs[i]);
}

/* Session 18: the maddubs kernel on weights that pass sk_qigemm_pairs_fit
 * (pairs at the bound included), every geometry of test_random's kind and
 * the ResNet layers, bit for bit against the definition, through uk, dk
 * and the reference of its layout (w7_cases adds it to kernels()) */
static void test_maddubs_fit(void **state)
{
    (void)state;
    static const int kk[][2] = {{1, 1}, {3, 3}, {2, 3}, {7, 7}, {1, 3}};
    w7_cases = 1;
    int before = nkernels_run, dk0 = ndk_tiles;
    for (int i = 0; i < 60; i++) {
        gcase c;
        memset(&c, 0, sizeof c);
        c.C = 4 * irand(1, 17);
        c.M = irand(1, 40);
        int k = irand(0, 4);
        c.kh = kk[k][0];
        c.kw = kk[k][1];
        c.sh = c.sw = irand(1, 2);
        c.dh = c.dw = irand(0, 3) ? 1 : 2;
        c.pt = c.pb = irand(0, c.kh / 2);
        c.pl = c.pr = irand(0, c.kw / 2);
        c.H = c.dh * (c.kh - 1) + irand(1, 8);
        c.W = c.dw * (c.kw - 1) + irand(1, 10);
        c.out_s8 = irand(0, 1);
        c.res = irand(0, 1);
        c.relu = irand(0, 1);
        one_case(&c);
    }
    gcase l = {64, 64, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1};
    one_case(&l);
    w7_cases = 0;
    print_message("  61 geometries on 7-bit-pair weights: %d SIMD kernel runs, %d dk tiles\n",
                  nkernels_run - before, ndk_tiles - dk0);
    if (sk_cpu_detected() >= SK_ISA_AVX2)
        assert_true(ndk_tiles > dk0);
}

/* Session 18: the pair rule itself at its bounds, and what it guards: a
 * weight pair of 127, 127 against activations of 255 sums to 64770, which
 * vpmaddubsw saturates to 32767 — the maddubs kernel must give a wrong byte
 * there (else this test could not tell a skipped rule), the exact kernel
 * the reference's */
static void test_maddubs_saturates(void **state)
{
    (void)state;
    static const int8_t fit[][2] = {{64, 64}, {-64, -64}, {-128, 127}, {127, -128}, {100, 28},
                                    {0, -128}, {-128, 0}, {1, 127}, {-1, -127}};
    static const int8_t over[][2] = {{65, 64}, {-64, -65}, {-128, -1}, {127, 2}, {127, 127}};
    for (size_t i = 0; i < sizeof fit / sizeof *fit; i++) {
        int8_t w[4] = {fit[i][0], fit[i][1], 0, 0};
        assert_int_equal(sk_qigemm_pairs_fit(w, 4), 1);
    }
    for (size_t i = 0; i < sizeof over / sizeof *over; i++) {
        int8_t w[8] = {0, 0, 0, 0, 1, 2, over[i][0], over[i][1]};
        assert_int_equal(sk_qigemm_pairs_fit(w, 8), 0);
    }
    /* a 1x1 conv, C = 4, M = 16: channel j's weights (127, 127, j, -j) */
    int8_t wsrc[16 * 4];
    for (int j = 0; j < 16; j++) {
        wsrc[4 * j] = 127;
        wsrc[4 * j + 1] = 127;
        wsrc[4 * j + 2] = (int8_t)j;
        wsrc[4 * j + 3] = (int8_t)-j;
    }
    /* the maddubs kernel's layout; the packings depend on nr only, so the
     * 4x16 kernels read the same bytes */
    sk_qigemm_cfg c6x16 = {.mr = 6, .nr = 16};
    int8_t wp[16 * 4];
    sk_qigemm_pack_w(&c6x16, 16, 4, 4, 1, wsrc, wp);
    assert_int_equal(sk_qigemm_pairs_fit(wp, sizeof wp), 0);
    uint8_t x[4] = {255, 255, 255, 255};
    const uint8_t *a[6] = {x, x, x, x, x, x};
    int32_t bias[16] = {0};
    float mult[16];
    for (int j = 0; j < 16; j++)
        mult[j] = 1.0f / 512.0f;
    sk_qgemm_params p = {.bias = bias, .mult = mult, .lo1 = 0, .hi1 = 255, .lo = 0, .hi = 255};
    uint8_t ref[6 * 16], y[6 * 16];
    sk_qu8_qc8w_igemm_ref(6, 16, 6, 16, 1, 1, a, wp, ref, 16, NULL, 0, 0, &p);
    assert_int_equal(ref[0], 127); /* 64770 / 512 = 126.504 -> 127 */
#if defined(__x86_64__)
    if (sk_cpu_detected() >= SK_ISA_AVX2) {
        memset(y, 0xA5, sizeof y);
        sk_qu8_qc8w_igemm_4x16c4__avx2(4, 16, 1, 1, a, wp, y, 16, NULL, 0, 0, &p);
        assert_memory_equal(y, ref, 4 * 16);
        int16_t w16[16 * 4];
        sk_qigemm_pack_w16(&c6x16, 16, 4, 4, 1, wsrc, w16);
        memset(y, 0xA5, sizeof y);
        sk_qu8_qc8w_igemm_4x16c4__avx2_w16(4, 16, 1, 1, a, (const int8_t *)(const void *)w16, y,
                                           16, NULL, 0, 0, &p);
        assert_memory_equal(y, ref, 4 * 16);
        memset(y, 0xA5, sizeof y);
        sk_qu8_qc8w_igemm_6x16c4__avx2_maddubs(6, 16, 1, 1, a, wp, y, 16, NULL, 0, 0, &p);
        int wrong = 0;
        for (int i = 0; i < 6 * 16; i++)
            wrong += y[i] != ref[i];
        assert_int_equal(wrong, 6 * 16); /* every pixel, every channel saturated */
    }
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_resnet_layers),
        cmocka_unit_test(test_res_fast),
        cmocka_unit_test(test_maddubs_fit),
        cmocka_unit_test(test_maddubs_saturates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
