/* fast_velt.h — element-wise vector loops (Add/Sub/Mul/Div with the
 * three broadcast stride cases, Relu, Clip, Sigmoid, Tanh, Erf), written once
 * against fast_simd.h and instantiated by avx2/f32_velt__avx2.c and
 * avx512/f32_velt__avx512f.c.
 *
 * Why fast: two vectors per iteration keep two loads, one op and one store
 * in flight per cycle; the tail is one masked vector instead of a scalar
 * loop; the broadcast operand of a [N,C,H,W] + [1,C,1,1] run is a register;
 * Sigmoid / Tanh / Erf use the polynomial forms of fast_simd.h instead
 * of a libm call per element. Every loop reads element i before it writes
 * it, so in-place (o == a) is safe. */

/* ---- binary ---------------------------------------------------------------- */

#define SK_VBIN(name, VOP, SOP)                                                         \
    void SK_UK(name)(size_t n, const float *a, int ia, const float *b, int ib, float *o) \
    {                                                                                   \
        size_t i = 0;                                                                   \
        if (ia && ib) {                                                                 \
            for (; i + 2 * SK_VW <= n; i += 2 * SK_VW) {                                \
                vf x0 = v_ld(a + i), x1 = v_ld(a + i + SK_VW);                          \
                vf y0 = v_ld(b + i), y1 = v_ld(b + i + SK_VW);                          \
                v_st(o + i, VOP(x0, y0));                                               \
                v_st(o + i + SK_VW, VOP(x1, y1));                                       \
            }                                                                           \
            for (; i + SK_VW <= n; i += SK_VW)                                          \
                v_st(o + i, VOP(v_ld(a + i), v_ld(b + i)));                             \
            if (i < n)                                                                  \
                v_st_n(o + i,                                                           \
                       VOP(v_ld_n(a + i, n - i, v_set1(1.0f)),                          \
                           v_ld_n(b + i, n - i, v_set1(1.0f))),                         \
                       n - i);                                                          \
        } else if (ia) {                                                                \
            const vf y = v_set1(b[0]);                                                  \
            for (; i + 2 * SK_VW <= n; i += 2 * SK_VW) {                                \
                vf x0 = v_ld(a + i), x1 = v_ld(a + i + SK_VW);                          \
                v_st(o + i, VOP(x0, y));                                                \
                v_st(o + i + SK_VW, VOP(x1, y));                                        \
            }                                                                           \
            for (; i + SK_VW <= n; i += SK_VW)                                          \
                v_st(o + i, VOP(v_ld(a + i), y));                                       \
            if (i < n)                                                                  \
                v_st_n(o + i, VOP(v_ld_n(a + i, n - i, v_set1(1.0f)), y), n - i);       \
        } else if (ib) {                                                                \
            const vf x = v_set1(a[0]);                                                  \
            for (; i + 2 * SK_VW <= n; i += 2 * SK_VW) {                                \
                vf y0 = v_ld(b + i), y1 = v_ld(b + i + SK_VW);                          \
                v_st(o + i, VOP(x, y0));                                                \
                v_st(o + i + SK_VW, VOP(x, y1));                                        \
            }                                                                           \
            for (; i + SK_VW <= n; i += SK_VW)                                          \
                v_st(o + i, VOP(x, v_ld(b + i)));                                       \
            if (i < n)                                                                  \
                v_st_n(o + i, VOP(x, v_ld_n(b + i, n - i, v_set1(1.0f))), n - i);       \
        } else {                                                                        \
            const float s = SOP(a[0], b[0]);                                            \
            const vf v = v_set1(s);                                                     \
            for (; i + SK_VW <= n; i += SK_VW)                                          \
                v_st(o + i, v);                                                         \
            for (; i < n; i++)                                                          \
                o[i] = s;                                                               \
        }                                                                               \
    }

static inline float s_add(float x, float y) { return x + y; }
static inline float s_sub(float x, float y) { return x - y; }
static inline float s_mul(float x, float y) { return x * y; }
static inline float s_div(float x, float y) { return x / y; }

SK_VBIN(vadd, v_add, s_add)
SK_VBIN(vsub, v_sub, s_sub)
SK_VBIN(vmul, v_mul, s_mul)
SK_VBIN(vdiv, v_div, s_div)

/* ---- unary ----------------------------------------------------------------- */

/* SK_VUNARY_BODY (fast_simd.h) runs each loop below. */

/* MAXPS returns its second operand when one is NaN: Relu(NaN) = 0 and
 * Relu(-0) = +0, as the reference's x > 0 ? x : 0. */
static inline vf v_relu(vf x) { return v_max(x, v_zero()); }

void SK_UK(vrelu)(size_t n, const float *x, float *y) { SK_VUNARY_BODY(v_relu) }
void SK_UK(vsigmoid)(size_t n, const float *x, float *y) { SK_VUNARY_BODY(v_sigmoid) }
void SK_UK(vtanh)(size_t n, const float *x, float *y) { SK_VUNARY_BODY(v_tanh) }
void SK_UK(verf)(size_t n, const float *x, float *y) { SK_VUNARY_BODY(v_erf) }

/* min(max(x, lo), hi) with x as the second operand of the max so NaN stays
 * NaN, and lo > hi giving hi, both as the reference Clip. */
void SK_UK(vclamp)(size_t n, const float *x, float *y, float lo, float hi)
{
    const vf vlo = v_set1(lo), vhi = v_set1(hi);
#define SK_CLAMP(v) v_min(vhi, v_max(vlo, v))
    SK_VUNARY_BODY(SK_CLAMP)
#undef SK_CLAMP
}
