/* image_resize.c — separable resize (the image -> tensor step that uses it
 * is preprocess.c).
 *
 * Each axis gets its own filter: area averaging (box filter with fractional
 * edge weights) when that axis shrinks by more than 2x, else bilinear with
 * half-pixel centres (align_corners=False), edges clamped. At exactly 2x the
 * two agree (each output is the mean of two inputs).
 *
 * The resize computes a window of a virtual full-size result, so a
 * shorter-side resize of a very elongated image followed by a center crop
 * never materialises the (possibly huge) uncropped image; and it streams
 * rows, so its memory is the output plus a few rows whatever the source's
 * shape (sk_img_resize_window). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sk.h"
#include "loaders/image.h"
#include "loaders/image_internal.h"

/* Contributions of input samples to a run of output samples along one axis.
 * Three weights per output — first, interior, last: an area window's inner
 * samples all weigh the same, so the table is O(outputs) however far the
 * axis shrinks (a 1 x 40M image to 128 rows would otherwise hold 40M). */
typedef struct taps {
    int *start; /* first input index, per output */
    int *n;     /* number of inputs, per output */
    float *w;   /* 3 per output: first, interior, last (summing to 1) */
    int64_t sum_n; /* sum of n: the work of one pass along this axis */
} taps;

static void taps_free(taps *t)
{
    free(t->start);
    free(t->n);
    free(t->w);
    t->start = t->n = NULL;
    t->w = NULL;
}

/* Weight k of output i. */
static inline float tap_w(const taps *t, int i, int k)
{
    const float *w = t->w + 3 * (size_t)i;
    return k == 0 ? w[0] : k == t->n[i] - 1 ? w[2] : w[1];
}

/* Outputs first .. first+count-1 of an in -> out resize (out may pass
 * INT32_MAX: a shorter-side resize of a 1 x 9M image is 2.3G tall, of
 * which only the crop's window is computed). */
static int taps_make(taps *t, int in, int64_t out, int64_t first, int count)
{
    const double scale = (double)in / (double)out;
    const int area = scale > 2.0;
    t->start = malloc(sizeof(int) * count);
    t->n = malloc(sizeof(int) * count);
    t->w = malloc(sizeof(float) * 3 * (size_t)count);
    t->sum_n = 0;
    if (!t->start || !t->n || !t->w) {
        taps_free(t);
        return SK_ENOMEM;
    }
    for (int i = 0; i < count; i++) {
        const int64_t o = first + i;
        float *w = t->w + 3 * (size_t)i;
        if (area) {
            double a = (double)o * scale, b = (double)(o + 1) * scale;
            if (b > in)
                b = in;
            int j0 = (int)floor(a), j1 = (int)ceil(b);
            if (j1 > in)
                j1 = in;
            if (j1 <= j0)
                j1 = j0 + 1;
            /* every sample strictly inside [a, b) covers 1; the edges
             * cover a fraction; normalised by the exact sum */
            double sum = 0, first_w = 0, last_w = 0;
            for (int j = j0; j < j1; j++) {
                double lo = a > j ? a : j, hi = b < j + 1 ? b : j + 1;
                if (j == j0)
                    first_w = hi - lo;
                if (j == j1 - 1)
                    last_w = hi - lo;
                sum += hi - lo;
            }
            w[0] = (float)((double)(float)first_w / sum);
            w[1] = (float)(1.0 / sum);
            w[2] = (float)((double)(float)last_w / sum);
            t->start[i] = j0;
            t->n[i] = j1 - j0;
        } else {
            double s = (o + 0.5) * scale - 0.5;
            if (s < 0)
                s = 0;
            if (s > in - 1)
                s = in - 1;
            int j0 = (int)s;
            double f = s - j0;
            t->start[i] = j0;
            if (f > 0 && j0 + 1 < in) {
                w[0] = (float)(1.0 - f);
                w[2] = (float)f;
                t->n[i] = 2;
            } else {
                w[0] = 1.0f;
                t->n[i] = 1;
            }
            w[1] = 0.0f;
        }
        t->sum_n += t->n[i];
    }
    return 0;
}

static inline uint8_t to_u8(float v)
{
    v += 0.5f;
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

/* d[x*c + ch] = sum over k of tap_w(x, k) * s[(start[x] + k)*c + ch], for
 * x < count: one row through taps t, summed in k order (first, the
 * interior run at one weight, last: no per-tap weight lookup, and RGB
 * in three accumulators, so the loop is the old per-tap table's speed). */
static void hpass_u8(float *restrict d, const uint8_t *s, const taps *t, int count, int c)
{
    for (int x = 0; x < count; x++) {
        const uint8_t *sp = s + (size_t)t->start[x] * c;
        const float *w = t->w + 3 * (size_t)x;
        const int n = t->n[x];
        if (c == 3) {
            float r = w[0] * sp[0], g = w[0] * sp[1], b = w[0] * sp[2];
            for (int k = 1; k < n - 1; k++) {
                r += w[1] * sp[3 * k];
                g += w[1] * sp[3 * k + 1];
                b += w[1] * sp[3 * k + 2];
            }
            if (n > 1) {
                r += w[2] * sp[3 * (n - 1)];
                g += w[2] * sp[3 * (n - 1) + 1];
                b += w[2] * sp[3 * (n - 1) + 2];
            }
            d[3 * x] = r;
            d[3 * x + 1] = g;
            d[3 * x + 2] = b;
        } else {
            float v = w[0] * sp[0];
            for (int k = 1; k < n - 1; k++)
                v += w[1] * sp[k];
            if (n > 1)
                v += w[2] * sp[n - 1];
            d[x] = v;
        }
    }
}

/* The source row sy through the horizontal taps, from a two-row cache:
 * the rows consecutive outputs need overlap by at most their shared edge
 * (area) or one row (bilinear), and only move forwards. */
typedef struct rowcache {
    float *row[2];
    int key[2];
} rowcache;

static const float *hrow(rowcache *rc, const sk_image *src, const taps *tx, int ww, int sy)
{
    for (int i = 0; i < 2; i++)
        if (rc->key[i] == sy)
            return rc->row[i];
    int v = rc->key[0] < rc->key[1] ? 0 : 1; /* the older row */
    hpass_u8(rc->row[v], src->px + (size_t)sy * src->w * src->c, tx, ww, src->c);
    rc->key[v] = sy;
    return rc->row[v];
}

/* dst (ww x wh, allocated here) = window at (x0, y0) of src resized to
 * rw x rh. Streams: besides the output it holds two or three rows, never
 * an intermediate image, so a 1 x 40M or 40M x 1 picture (within
 * --max-pixels, a few KB as PNG) costs O(width) memory, not gigabytes.
 * Horizontal pass first (each touched source row once, through rowcache)
 * unless the vertical-first order is 4x less work: a source much taller
 * than wide for its output (1 x 40M to 128 x 128 reads 40M pixels instead
 * of widening 40M rows to 128 floats each). The two orders round
 * differently (a float's last bit, so at most +-1 in an output byte: 26 of
 * 3000 random sizes up to 300 x 5000 took the second, none off by more);
 * the first is the previous, table-per-tap code's result bit for bit. */
int sk_img_resize_window(const sk_image *src, int64_t rw, int64_t rh, int64_t x0, int64_t y0,
                         int ww, int wh, sk_image *dst)
{
    const int c = src->c;
    taps tx = {0}, ty = {0};
    float *buf = NULL;
    uint8_t *px = malloc((size_t)ww * wh * c);
    const size_t trow = (size_t)ww * c;
    int rc = SK_ENOMEM;
    if (!px || taps_make(&tx, src->w, rw, x0, ww) || taps_make(&ty, src->h, rh, y0, wh))
        goto fail;
    const int ylo = ty.start[0], yhi = ty.start[wh - 1] + ty.n[wh - 1];
    const int xlo = tx.start[0], xhi = tx.start[ww - 1] + tx.n[ww - 1];
    const double cost_h = (double)(yhi - ylo) * (double)tx.sum_n + (double)ty.sum_n * ww;
    const double cost_v = (double)ty.sum_n * (xhi - xlo) + (double)wh * (double)tx.sum_n;
    if (4 * cost_v >= cost_h) {
        buf = malloc(sizeof(float) * trow * 3);
        if (!buf)
            goto fail;
        float *acc = buf + 2 * trow;
        rowcache cache = {{buf, buf + trow}, {-1, -1}};
        for (int y = 0; y < wh; y++) {
            memset(acc, 0, sizeof(float) * trow);
            for (int k = 0; k < ty.n[y]; k++) {
                const float wk = tap_w(&ty, y, k);
                const float *row = hrow(&cache, src, &tx, ww, ty.start[y] + k);
                for (size_t i = 0; i < trow; i++)
                    acc[i] += wk * row[i];
            }
            uint8_t *d = px + (size_t)y * trow;
            for (size_t i = 0; i < trow; i++)
                d[i] = to_u8(acc[i]);
        }
    } else {
        /* vertical first, over the touched columns only: one float row */
        const size_t cols = (size_t)(xhi - xlo) * c;
        buf = malloc(sizeof(float) * (cols + trow));
        if (!buf)
            goto fail;
        float *acc = buf, *out = buf + cols;
        for (int y = 0; y < wh; y++) {
            memset(acc, 0, sizeof(float) * cols);
            for (int k = 0; k < ty.n[y]; k++) {
                const float wk = tap_w(&ty, y, k);
                const uint8_t *s = src->px + ((size_t)(ty.start[y] + k) * src->w + xlo) * c;
                for (size_t i = 0; i < cols; i++)
                    acc[i] += wk * s[i];
            }
            for (int x = 0; x < ww; x++) { /* few pixels: this path's rows are narrow */
                const float *sp = acc + (size_t)(tx.start[x] - xlo) * c;
                for (int ch = 0; ch < c; ch++) {
                    float v = 0;
                    for (int k = 0; k < tx.n[x]; k++)
                        v += tap_w(&tx, x, k) * sp[k * c + ch];
                    out[(size_t)x * c + ch] = v;
                }
            }
            uint8_t *d = px + (size_t)y * trow;
            for (size_t i = 0; i < trow; i++)
                d[i] = to_u8(out[i]);
        }
    }
    dst->w = ww;
    dst->h = wh;
    dst->c = c;
    dst->px = px;
    px = NULL;
    rc = 0;
fail:
    free(px);
    free(buf);
    taps_free(&tx);
    taps_free(&ty);
    return rc;
}

int sk_image_resize(const sk_image *src, int w, int h, sk_image *dst)
{
    if (!src || !dst || !src->px || src->w <= 0 || src->h <= 0 || w <= 0 || h <= 0 ||
        (src->c != 1 && src->c != 3))
        return SK_EINVAL;
    return sk_img_resize_window(src, w, h, 0, 0, w, h, dst);
}
