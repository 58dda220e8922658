/* qgemm.c — the int8 GEMM's packing, its scalar reference microkernel and
 * the threaded driver (layout and arithmetic: qgemm.h). */
#include "qgemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "sk.h"
#include "threadpool.h"

size_t sk_qgemm_packed_a_bytes(const sk_qgemm_cfg *c, size_t M, size_t K)
{
    size_t panels = (M + (size_t)c->mr - 1) / (size_t)c->mr;
    return panels * (size_t)c->mr * sk_qgemm_kp(K);
}

void sk_qgemm_pack_a(const sk_qgemm_cfg *c, size_t M, size_t K, const int8_t *w, size_t ldw,
                     int8_t *dst)
{
    size_t MR = (size_t)c->mr, Kp = sk_qgemm_kp(K);
    for (size_t m0 = 0; m0 < M; m0 += MR)
        for (size_t g = 0; g < Kp / 4; g++)
            for (size_t r = 0; r < MR; r++)
                for (size_t i = 0; i < 4; i++) {
                    size_t m = m0 + r, k = 4 * g + i;
                    *dst++ = m < M && k < K ? w[m * ldw + k] : 0;
                }
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* 16 columns of 4 rows -> 64 bytes, column by column (4 bytes each) */
static inline void interleave16(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2,
                                const uint8_t *r3, __m128i flip, uint8_t *d)
{
    __m128i a = _mm_xor_si128(_mm_loadu_si128((const __m128i *)r0), flip);
    __m128i b = _mm_xor_si128(_mm_loadu_si128((const __m128i *)r1), flip);
    __m128i c = _mm_xor_si128(_mm_loadu_si128((const __m128i *)r2), flip);
    __m128i e = _mm_xor_si128(_mm_loadu_si128((const __m128i *)r3), flip);
    __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
    __m128i ce0 = _mm_unpacklo_epi8(c, e), ce1 = _mm_unpackhi_epi8(c, e);
    _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(ab0, ce0));
    _mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(ab0, ce0));
    _mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(ab1, ce1));
    _mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(ab1, ce1));
}
#endif

/* one k group: 4 rows (NULL: past K, zeros) -> the group's NR x 4 bytes in
 * a panel of columns [p0, p0 + nv) (nv <= NR real columns) */
static void pack_group(size_t NR, const uint8_t *const rows[4], size_t p0, size_t nv,
                       uint8_t flip, uint8_t *d)
{
    size_t j0 = 0;
#if defined(__SSE2__)
    if (rows[0] && rows[1] && rows[2] && rows[3]) { /* 16 columns per SSE2 step */
        __m128i fl = _mm_set1_epi8((char)flip);
        for (; j0 + 16 <= nv; j0 += 16)
            interleave16(rows[0] + p0 + j0, rows[1] + p0 + j0, rows[2] + p0 + j0,
                         rows[3] + p0 + j0, fl, d + 4 * j0);
    }
#endif
    for (size_t i = 0; i < 4; i++) {
        size_t j = j0;
        if (rows[i])
            for (; j < nv; j++)
                d[4 * j + i] = rows[i][p0 + j] ^ flip;
        for (; j < NR; j++)
            d[4 * j + i] = 0;
    }
}

void sk_qgemm_pack_b(const sk_qgemm_cfg *c, size_t K, size_t n0, size_t ncols, size_t N,
                     const uint8_t *x, size_t ldx, uint8_t flip, uint8_t *dst)
{
    size_t NR = (size_t)c->nr, Kp = sk_qgemm_kp(K);
    for (size_t p0 = n0; p0 < n0 + ncols; p0 += NR) {
        size_t nv = N - p0 < NR ? N - p0 : NR; /* real columns of this panel */
        for (size_t g = 0; g < Kp / 4; g++) {
            /* rows past K read as 0 so their (zero) weights meet a known value */
            const uint8_t *rows[4];
            for (size_t i = 0; i < 4; i++)
                rows[i] = 4 * g + i < K ? x + (4 * g + i) * ldx : NULL;
            pack_group(NR, rows, p0, nv, flip, dst + g * NR * 4);
        }
        dst += NR * Kp;
    }
}

void sk_qgemm_pack_b_group(const sk_qgemm_cfg *c, size_t K, size_t g, size_t N,
                           const uint8_t *const rows[4], uint8_t flip, uint8_t *dst)
{
    size_t NR = (size_t)c->nr, Kp = sk_qgemm_kp(K);
    for (size_t p0 = 0, pan = 0; p0 < N; p0 += NR, pan++)
        pack_group(NR, rows, p0, N - p0 < NR ? N - p0 : NR, flip,
                   dst + pan * NR * Kp + g * NR * 4);
}

void sk_qgemm_row_sums(size_t M, size_t K, const int8_t *w, size_t ldw, int32_t *sums)
{
    for (size_t m = 0; m < M; m++) {
        int32_t s = 0;
        for (size_t k = 0; k < K; k++)
            s += w[m * ldw + k];
        sums[m] = s;
    }
}

int sk_qgemm_fold_requant(size_t R, size_t K, size_t per, const int32_t *sums,
                          const int32_t *b, int32_t xzp_u8, float xsc, const float *ws,
                          size_t nws, float ysc, int32_t *bias, float *mult)
{
    int fits = 1;
    for (size_t r = 0; r < R; r++) {
        size_t c = r / per;
        int64_t folded = (b ? b[c] : 0) - (int64_t)xzp_u8 * sums[r];
        if (llabs(folded) + (int64_t)255 * 128 * (int64_t)K >= ((int64_t)1 << 31))
            fits = 0;
        bias[r] = (int32_t)folded;
        float ws_c = ws[nws == 1 ? 0 : c];
        mult[r] = xsc * ws_c / ysc;
        if (!isfinite(mult[r]) || ws_c == 0.0f)
            fits = 0;
    }
    return fits;
}

void sk_qgemm_params_plain(sk_qgemm_params *p, int out_s8, int32_t yzp)
{
    float lo = out_s8 ? -128.f : 0.f, hi = out_s8 ? 127.f : 255.f;
    p->y1_zp = (float)yzp;
    p->lo1 = p->lo = lo;
    p->hi1 = p->hi = hi;
    p->out_s8 = p->res_s8 = out_s8;
}

void sk_qgemm_weights_free(sk_qgemm_weights *qw)
{
    sk_free(qw->pa);
    free(qw->bias);
    free(qw->mult);
    memset(qw, 0, sizeof *qw);
}

int sk_qgemm_weights_kmajor(sk_qgemm_weights *qw, const sk_qgemm_cfg *q, size_t R, size_t K,
                            const int8_t *w, size_t per, const int32_t *b, int32_t xzp_u8,
                            float xsc, const float *ws, size_t nws, float ysc, int out_s8,
                            int32_t yzp)
{
    memset(qw, 0, sizeof *qw);
    int8_t *wt = malloc(R * K + 1);
    int32_t *sums = malloc(R * sizeof *sums + 1);
    /* packed weights in huge pages (engine/sk.c sk_alloc_weights) */
    qw->pa = sk_alloc_weights(sk_qgemm_packed_a_bytes(q, R, K) + 64);
    qw->bias = malloc(R * sizeof *qw->bias + 1);
    qw->mult = malloc(R * sizeof *qw->mult + 1);
    if (!wt || !sums || !qw->pa || !qw->bias || !qw->mult) {
        free(wt);
        free(sums);
        sk_qgemm_weights_free(qw);
        return -2; /* SK_ENOMEM */
    }
    for (size_t k = 0; k < K; k++) /* row r of A = column r of w */
        for (size_t r = 0; r < R; r++)
            wt[r * K + k] = w[k * R + r];
    sk_qgemm_pack_a(q, R, K, wt, K, qw->pa);
    sk_qgemm_row_sums(R, K, wt, K, sums);
    free(wt);
    int fits = sk_qgemm_fold_requant(R, K, per, sums, b, xzp_u8, xsc, ws, nws, ysc, qw->bias,
                                     qw->mult);
    free(sums);
    if (!fits) {
        sk_qgemm_weights_free(qw);
        return 0;
    }
    qw->prm.bias = qw->bias;
    qw->prm.mult = qw->mult;
    sk_qgemm_params_plain(&qw->prm, out_s8, yzp);
    return 1;
}

void sk_qu8_qc8w_gemm_ref(int MR, int NR, size_t mr, size_t nr, size_t kg, const int8_t *a,
                          const uint8_t *b, void *y, size_t ldy, const void *res, size_t ldr,
                          size_t m0, const sk_qgemm_params *p)
{
    for (size_t r = 0; r < mr; r++)
        for (size_t j = 0; j < nr; j++) {
            int32_t acc = 0;
            for (size_t g = 0; g < kg; g++)
                for (size_t i = 0; i < 4; i++)
                    acc += (int32_t)a[(g * (size_t)MR + r) * 4 + i] *
                           (int32_t)b[(g * (size_t)NR + j) * 4 + i];
            acc += p->bias[m0 + r];
            int32_t rv = 0;
            if (res) {
                const uint8_t *rp = (const uint8_t *)res + r * ldr + j;
                rv = p->res_s8 ? (int32_t)(int8_t)*rp : (int32_t)*rp;
            }
            int32_t v = sk_qgemm_requant1(acc, p->mult[m0 + r], res != NULL, rv, p);
            uint8_t *yp = (uint8_t *)y + r * ldy + j;
            *yp = (uint8_t)(p->out_s8 ? (uint8_t)(int8_t)v : (uint8_t)v);
        }
}

/* --- table lookups (the _QLut epilogue) ---------------------------------- */

void sk_u8_lut(int lut_mode, const uint8_t *lut, uint8_t flip, const uint8_t *x, uint8_t *y,
               size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (lut_mode == SK_LUT_AVX2) {
        sk_u8_lut__avx2(lut, flip, x, y, n);
        return;
    }
    if (lut_mode == SK_LUT_VBMI) {
        sk_u8_lut__avx512vbmi(lut, flip, x, y, n);
        return;
    }
#else
    (void)lut_mode;
#endif
    uint8_t tmp[64];
    for (size_t c0 = 0; c0 < n; c0 += sizeof tmp) {
        size_t k = n - c0 < sizeof tmp ? n - c0 : sizeof tmp;
        for (size_t c = 0; c < k; c++) /* into a local: a byte store to y may alias lut */
            tmp[c] = lut[x[c0 + c] ^ flip];
        memcpy(y + c0, tmp, k);
    }
}

/* --- driver: threads over (row panel, column panel) tiles ---------------- */

typedef struct qjob {
    const sk_qgemm_cfg *c;
    size_t M, N, kg, mpan, npan;
    const int8_t *pa;
    const uint8_t *pb;
    size_t pb_stride; /* bytes between two items' B panels */
    uint8_t *y;
    size_t ldy, y_stride;
    const uint8_t *res;
    size_t ldr, r_stride;
    const sk_qgemm_params *p;
    int lut_mode; /* the table epilogue's loop (sk_qgemm_cfg.lut_mode) */
} qjob;

static void qjob_range(void *arg, size_t begin, size_t end)
{
    const qjob *j = arg;
    size_t MR = (size_t)j->c->mr, NR = (size_t)j->c->nr, per = j->mpan * j->npan;
    for (size_t t = begin; t < end; t++) {
        /* item, then column-panel major: consecutive tiles share a B panel */
        size_t it = t / per, tt = t % per;
        size_t np = tt / j->mpan, mp = tt % j->mpan;
        size_t m0 = mp * MR, n0 = np * NR;
        size_t mr = j->M - m0 < MR ? j->M - m0 : MR, nr = j->N - n0 < NR ? j->N - n0 : NR;
        const int8_t *a = j->pa + mp * MR * 4 * j->kg;
        const uint8_t *b = j->pb + it * j->pb_stride + np * NR * 4 * j->kg;
        uint8_t *y = j->y + it * j->y_stride + m0 * j->ldy + n0;
        const uint8_t *res = j->res ? j->res + it * j->r_stride + m0 * j->ldr + n0 : NULL;
        if (j->c->uk)
            j->c->uk(mr, nr, j->kg, a, b, y, j->ldy, res, j->ldr, m0, j->p);
        else
            sk_qu8_qc8w_gemm_ref(j->c->mr, j->c->nr, mr, nr, j->kg, a, b, y, j->ldy, res,
                                 j->ldr, m0, j->p);
        if (j->p->lut) {
            uint8_t flip = j->p->out_s8 ? 0x80 : 0;
            for (size_t r = 0; r < mr; r++)
                sk_u8_lut(j->lut_mode, j->p->lut, flip, y + r * j->ldy, y + r * j->ldy, nr);
        }
    }
}

void sk_qgemm_run_batch(const sk_qgemm_cfg *c, struct sk_pool *pool, size_t items, size_t M,
                        size_t N, size_t K, const int8_t *pa, const uint8_t *pb,
                        size_t pb_stride, void *y, size_t ldy, size_t y_stride, const void *res,
                        size_t ldr, size_t r_stride, const sk_qgemm_params *p)
{
    if (!M || !N || !items)
        return;
    qjob j = {c, M, N, sk_qgemm_kp(K) / 4, (M + (size_t)c->mr - 1) / (size_t)c->mr,
              (N + (size_t)c->nr - 1) / (size_t)c->nr, pa, pb, pb_stride, y, ldy, y_stride,
              res, ldr, r_stride, p, p->lut ? c->lut_mode : 0};
    size_t tiles = items * j.mpan * j.npan;
    /* a tile is mr * nr * K MACs; aim for >= ~64K MACs per chunk */
    size_t per = (size_t)c->mr * (size_t)c->nr * (K ? K : 1);
    size_t grain = per >= 65536 ? 1 : 65536 / per;
    sk_parallel_for(pool, tiles, grain, qjob_range, &j);
}

void sk_qgemm_run(const sk_qgemm_cfg *c, struct sk_pool *pool, size_t M, size_t N, size_t K,
                  const int8_t *pa, const uint8_t *pb, void *y, size_t ldy, const void *res,
                  size_t ldr, const sk_qgemm_params *p)
{
    sk_qgemm_run_batch(c, pool, 1, M, N, K, pa, pb, 0, y, ldy, 0, res, ldr, 0, p);
}
