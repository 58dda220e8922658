/* fast_gelu_uk.h — GELU over a row, both forms transformers export, written
 * once against fast_simd.h and instantiated by avx2/f32_vgelu__avx2.c
 * and avx512/f32_vgelu__avx512f.c (sk_fast_uk.vgelu_erf / vgelu_tanh):
 *   erf form  (nn.GELU()):                  0.5 x (1 + erf(x / sqrt 2))
 *   tanh form (nn.GELU(approximate="tanh")): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * Why: an exported GELU is 5 (erf) or 9 (tanh) element-wise nodes, each a
 * pass over the FFN's widest activation ([tokens, 4 * dim]); the fused
 * MatMul (fast_matmul_fused.c) runs this once on rows it just wrote, while
 * they are still in cache. Two vectors per iteration as the other unary
 * loops (the polynomials are latency-bound). In place (y == x) is safe. */

static inline vf v_gelu_erf(vf x)
{
    vf e = v_erf(v_mul(x, v_set1(0.70710678118654752f)));
    return v_mul(v_mul(x, v_set1(0.5f)), v_add(e, v_set1(1.0f)));
}

static inline vf v_gelu_tanh(vf x)
{
    vf x3 = v_mul(v_mul(x, x), x);
    vf u = v_mul(v_fma(x3, v_set1(0.044715f), x), v_set1(0.79788456080286536f));
    return v_mul(v_mul(x, v_set1(0.5f)), v_add(v_tanh(u), v_set1(1.0f)));
}

void SK_UK(vgelu_erf)(size_t n, const float *x, float *y) { SK_VUNARY_BODY(v_gelu_erf) }
void SK_UK(vgelu_tanh)(size_t n, const float *x, float *y) { SK_VUNARY_BODY(v_gelu_tanh) }

