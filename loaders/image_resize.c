/* image_resize.c — separable resize and the image -> float CHW tensor step.
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
 * shape (resize_window). */
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
static int resize_window(const sk_image *src, int64_t rw, int64_t rh, int64_t x0, int64_t y0,
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
    return resize_window(src, w, h, 0, 0, w, h, dst);
}

/* round(d / 2) with ties to even, like Python's round() in torchvision's
 * center_crop; d may be negative (crop larger than the image). */
static int64_t half_round_even(int64_t d)
{
    int64_t q = d >= 0 ? d / 2 : -((-d + 1) / 2); /* floor(d / 2) */
    if (d - 2 * q == 1 && (q & 1))
        q++;
    return q;
}

int sk_image_to_tensor(const sk_image *img, const sk_preprocess *pp, float *out, char *err,
                       size_t errlen)
{
    if (!img || !img->px || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3))
        return sk_errf(err, errlen, SK_EINVAL, "to_tensor: empty or invalid image");
    if (!pp || pp->width <= 0 || pp->height <= 0 || (pp->channels != 1 && pp->channels != 3))
        return sk_errf(err, errlen, SK_EINVAL, "to_tensor: invalid preprocessing settings");
    const int W = pp->width, H = pp->height, C = pp->channels;
    for (int ch = 0; ch < C; ch++)
        if (!(pp->std[ch] != 0.0f))
            return sk_errf(err, errlen, SK_EINVAL, "to_tensor: std[%d] is zero", ch);

    /* Match the model's channel count first. */
    sk_image conv = {0};
    const sk_image *im = img;
    if (img->c != C) {
        conv.px = malloc((size_t)img->w * img->h * C);
        if (!conv.px)
            return sk_errf(err, errlen, SK_ENOMEM, "to_tensor: out of memory");
        conv.w = img->w;
        conv.h = img->h;
        conv.c = C;
        for (int y = 0; y < img->h; y++)
            sk_img_convert_row(img->px + (size_t)y * img->w * img->c, img->c,
                               conv.px + (size_t)y * img->w * C, C, (size_t)img->w, NULL);
        im = &conv;
    }
    const int64_t iw = im->w, ih = im->h;

    /* Geometry: the image resized to rw x rh; the window of it that lands in
     * the W x H output starts at (x0, y0) in resized coordinates and at
     * (ox, oy) in the output. Output pixels outside it get pp->pad. */
    int64_t rw, rh;
    int64_t x0 = 0, y0 = 0;
    int ox = 0, oy = 0, ww, wh;
    switch (pp->resize) {
    case SK_RESIZE_SHORTER_THEN_CENTER_CROP: {
        int64_t s = pp->resize_to > 0 ? pp->resize_to : (W > H ? W : H);
        /* torchvision Resize(int): short side = s, long side truncated */
        if (iw <= ih) {
            rw = s;
            rh = s * ih / iw;
        } else {
            rh = s;
            rw = s * iw / ih;
        }
        if (rw < 1)
            rw = 1;
        if (rh < 1)
            rh = 1;
        /* rw or rh may pass INT32_MAX (s * 9M for a 1 x 9M image): only
         * the window is computed, with 64-bit positions */
        int64_t offx = half_round_even(rw - W), offy = half_round_even(rh - H);
        x0 = offx > 0 ? offx : 0;
        y0 = offy > 0 ? offy : 0;
        int64_t x1 = offx + W < rw ? offx + W : rw, y1 = offy + H < rh ? offy + H : rh;
        ww = (int)(x1 - x0);
        wh = (int)(y1 - y0);
        ox = (int)(x0 - offx);
        oy = (int)(y0 - offy);
        break;
    }
    case SK_RESIZE_LETTERBOX:
        if ((int64_t)W * ih <= (int64_t)H * iw) { /* width is the tight side */
            rw = W;
            rh = (ih * W * 2 + iw) / (2 * iw); /* round(ih * W / iw) */
        } else {
            rh = H;
            rw = (iw * H * 2 + ih) / (2 * ih);
        }
        if (rw < 1)
            rw = 1;
        if (rh < 1)
            rh = 1;
        ww = (int)rw;
        wh = (int)rh;
        ox = (W - ww) / 2;
        oy = (H - wh) / 2;
        break;
    default: /* SK_RESIZE_STRETCH */
        rw = W;
        rh = H;
        ww = W;
        wh = H;
        break;
    }

    sk_image r = {0};
    const sk_image *src = im;
    if (rw != iw || rh != ih || ww != iw || wh != ih) {
        if (resize_window(im, rw, rh, x0, y0, ww, wh, &r)) {
            free(conv.px);
            return sk_errf(err, errlen, SK_ENOMEM, "to_tensor: out of memory resizing");
        }
        src = &r;
    }

    /* (v' * scale - mean) / std for every byte value v, v' = v or 255 - v */
    float lut[3][256];
    for (int ch = 0; ch < C; ch++)
        for (int v = 0; v < 256; v++) {
            float x = (float)(pp->invert ? 255 - v : v);
            lut[ch][v] = (x * pp->scale - pp->mean[ch]) / pp->std[ch];
        }
    for (int ch = 0; ch < C; ch++) {
        float *plane = out + (size_t)ch * H * W;
        /* the pad is the model's background (Fashion-MNIST: 0 = dark), so
         * it is not inverted with the photo */
        const float padv = ((float)pp->pad * pp->scale - pp->mean[ch]) / pp->std[ch];
        for (int y = 0; y < H; y++) {
            float *o = plane + (size_t)y * W;
            const int sy = y - oy;
            if (sy < 0 || sy >= wh) {
                for (int x = 0; x < W; x++)
                    o[x] = padv;
                continue;
            }
            const uint8_t *s = src->px + (size_t)sy * ww * C + ch;
            for (int x = 0; x < W; x++) {
                const int sx = x - ox;
                o[x] = sx >= 0 && sx < ww ? lut[ch][s[(size_t)sx * C]] : padv;
            }
        }
    }
    free(r.px);
    free(conv.px);
    return 0;
}
