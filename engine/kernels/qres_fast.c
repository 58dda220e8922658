/* qres_fast.c — the division of the int8 residual epilogue made cheaper
 * where that changes no output byte (qgemm.h: sk_qgemm_res_fast): first
 * the FMA form fma(t, res_a, fma(r, res_b, res_c)) (session 16: 2
 * operations for 5), else a multiply by 1 / y_scale, else the division.
 *
 * Why: with a fused skip connection the epilogue divides by the output
 * scale (v / y_scale, the QLinearAdd / Q(DQ + DQ) definition), and vdivps
 * on a zmm has several times the reciprocal throughput of a multiply. A
 * multiply by the reciprocal is not the division in general (it can be one
 * ulp off), but the epilogue's inputs are few: t is an integer in
 * [lo1, hi1] and the residual one byte, so the whole function
 * (t, r) -> output byte is checked here, once per layer, for every pair, in
 * the kernel's order of operations; a layer where any pair differs keeps
 * the division. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/qgemm.h"

/* the reference below must round t * y1_scale and the sum separately, as
 * the kernel does: clang contracts a * b + c into an FMA by default where
 * the target has one (arm64, -mfma), which would check the kernel against
 * another function. gcc -std=c11 does not contract (and warns on this
 * pragma, so it is clang's only). */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* the output value for conv result t (an integer, y1_zp removed) and
 * residual value r in the AVX-512 epilogue's operations
 * (qu8_requant16__avx512f.h) of mode SK_QRES_DIV / MUL / FMA */
static int32_t res_out(const sk_qgemm_params *p, int mode, float t, float r)
{
    float v = t * p->y1_scale + (r - p->r_zp) * p->r_scale;
    float q = mode == SK_QRES_FMA   ? fmaf(t, p->res_a, fmaf(r, p->res_b, p->res_c))
              : mode == SK_QRES_MUL ? v * p->y_rcp
                                    : v / p->y_scale;
    float lo = p->lo - p->y_zp, hi = p->hi - p->y_zp;
    q = q < lo ? lo : q > hi ? hi : q;
    return (int32_t)nearbyintf(q) + (int32_t)p->y_zp;
}

/* mode's output equals the division's for every (t, r) the layer meets */
static int same_as_div(const sk_qgemm_params *p, int mode)
{
    int r0 = p->res_s8 ? -128 : 0, same = 1;
    for (float t = p->lo1 - p->y1_zp; same && t <= p->hi1 - p->y1_zp; t += 1.0f)
        for (int r = r0; same && r < r0 + 256; r++)
            same = res_out(p, mode, t, (float)r) == res_out(p, SK_QRES_DIV, t, (float)r);
    return same;
}

int sk_qgemm_res_fast(sk_qgemm_params *p)
{
    p->res_mode = SK_QRES_DIV;
    p->y_rcp = 1.0f / p->y_scale;
    p->res_a = p->y1_scale / p->y_scale;
    p->res_b = p->r_scale / p->y_scale;
    p->res_c = -p->r_zp * p->res_b;
    if (!isfinite(p->y_rcp) || !isfinite(p->y_scale) || p->y_scale == 0.0f)
        return p->res_mode;
    /* session 16: the FMA form first (fewer operations), where exact */
    const char *e = getenv("SKIPSERVE_INT8_RES_FMA");
    if (!(e && !strcmp(e, "0")) && isfinite(p->res_a) && isfinite(p->res_b) &&
        isfinite(p->res_c) && same_as_div(p, SK_QRES_FMA))
        p->res_mode = SK_QRES_FMA;
    else if (same_as_div(p, SK_QRES_MUL))
        p->res_mode = SK_QRES_MUL;
    return p->res_mode;
}
