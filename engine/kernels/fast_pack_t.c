/* fast_pack_t.c — GEMM panels packed by the level's 8x8 transpose
 * (fast_pack_t.h). A panel of w rows x kc depth from rows `ld` apart is
 * transpose(rows, kc) into [kc][w]; the rows past the matrix are zeroed
 * afterwards, as the scalar packers leave them. */
#include "kernels/fast_pack_t.h"
#include "kernels/switches.h"

#include <stdlib.h>
#include <string.h>

/* 8-row panels and (session 19) the 12-row ones of _MatMulFused on Intel
 * (config.h gemm_mr12): the transpose writes any panel width; test_pack_t
 * checks 12-row panels against the scalar packer. */
int sk_fast_pack_t_on(const sk_gemm_cfg *cfg,
                      void (*transpose)(size_t, size_t, const float *, size_t, float *, size_t))
{
    const char *e = sk_sw()->pack_t;
    return transpose && cfg && !cfg->kpair && (cfg->mr % 8 == 0 || cfg->mr == 12) && cfg->nr % 8 == 0 &&
           !(e && strcmp(e, "0") == 0);
}

/* One panel: `rows` (<= w) source rows at src into dst [kc][w]. */
static void panel_t(const sk_fast_rows_t *o, const float *src, int rows, int kc, int w,
                    float *dst)
{
    if (rows > 0)
        o->transpose((size_t)rows, (size_t)kc, src, o->ld, dst, (size_t)w);
    if (rows < w)
        for (int k = 0; k < kc; k++)
            memset(dst + (size_t)k * (size_t)w + (size_t)rows, 0,
                   (size_t)(w - rows) * sizeof(float));
}

/* Rows r0 .. r0 + nrows of the batch's matrix (each row's kc values from
 * k0), as panels of w rows transposed: A's M rows or B's N columns, both
 * stored as rows ld apart. */
static void pack_rows_t(const sk_fast_rows_t *o, int batch, int r0, int nrows, int k0, int kc,
                        int w, float *dst)
{
    const float *base = o->p + (size_t)batch * o->stride + (size_t)k0;
    for (int p = 0; p * w < nrows; p++) {
        int rows = nrows - p * w < w ? nrows - p * w : w;
        panel_t(o, base + (size_t)(r0 + p * w) * o->ld, rows, kc, w,
                dst + (size_t)p * (size_t)kc * (size_t)w);
    }
}

void sk_fast_pack_a_rows_t(const void *ctx, int batch, int m0, int mb, int k0, int kc, int mr,
                           float *dst)
{
    pack_rows_t(ctx, batch, m0, mb, k0, kc, mr, dst);
}

void sk_fast_pack_b_rows_t(const void *ctx, int batch, int k0, int kc, int n0, int nb, int nr,
                           float *dst, float *tmp)
{
    (void)tmp;
    pack_rows_t(ctx, batch, n0, nb, k0, kc, nr, dst);
}
