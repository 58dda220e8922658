/* image_resize.c — separable resize and the image -> float CHW tensor step.
 *
 * Each axis gets its own filter: area averaging (box filter with fractional
 * edge weights) when that axis shrinks by more than 2x, else bilinear with
 * half-pixel centres (align_corners=False), edges clamped. At exactly 2x the
 * two agree (each output is the mean of two inputs).
 *
 * The resize computes a window of a virtual full-size result, so a
 * shorter-side resize of a very elongated image followed by a center crop
 * never materialises the (possibly huge) uncropped image. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sk.h"
#include "loaders/image.h"
#include "loaders/image_internal.h"

/* Contributions of input samples to a run of output samples along one axis. */
typedef struct taps {
    int *start; /* first input index, per output */
    int *n;     /* number of inputs, per output */
    float *w;   /* maxn weights per output, summing to 1 */
    int maxn;
} taps;

static void taps_free(taps *t)
{
    free(t->start);
    free(t->n);
    free(t->w);
    t->start = t->n = NULL;
    t->w = NULL;
}

/* Outputs first .. first+count-1 of an in -> out resize. */
static int taps_make(taps *t, int in, int out, int first, int count)
{
    const double scale = (double)in / out;
    const int area = scale > 2.0;
    t->maxn = area ? (int)ceil(scale) + 1 : 2;
    t->start = malloc(sizeof(int) * count);
    t->n = malloc(sizeof(int) * count);
    t->w = malloc(sizeof(float) * count * (size_t)t->maxn);
    if (!t->start || !t->n || !t->w) {
        taps_free(t);
        return SK_ENOMEM;
    }
    for (int i = 0; i < count; i++) {
        const int o = first + i;
        float *w = t->w + (size_t)i * t->maxn;
        if (area) {
            double a = o * scale, b = (o + 1) * scale;
            if (b > in)
                b = in;
            int j0 = (int)floor(a), j1 = (int)ceil(b);
            if (j1 > in)
                j1 = in;
            if (j1 - j0 > t->maxn)
                j1 = j0 + t->maxn;
            double sum = 0;
            for (int j = j0; j < j1; j++) {
                double lo = a > j ? a : j, hi = b < j + 1 ? b : j + 1;
                w[j - j0] = (float)(hi - lo);
                sum += hi - lo;
            }
            for (int j = j0; j < j1; j++)
                w[j - j0] = (float)(w[j - j0] / sum);
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
                w[1] = (float)f;
                t->n[i] = 2;
            } else {
                w[0] = 1.0f;
                t->n[i] = 1;
            }
        }
    }
    return 0;
}

static inline uint8_t to_u8(float v)
{
    v += 0.5f;
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

/* dst (ww x wh, allocated here) = window at (x0, y0) of src resized to rw x rh. */
static int resize_window(const sk_image *src, int rw, int rh, int x0, int y0, int ww, int wh,
                         sk_image *dst)
{
    const int c = src->c, sw = src->w, sh = src->h;
    taps tx = {0}, ty = {0};
    float *tmp = NULL, *acc = NULL;
    uint8_t *px = malloc((size_t)ww * wh * c);
    const size_t trow = (size_t)ww * c;
    int rc = SK_ENOMEM, ylo, yhi;
    if (!px || taps_make(&tx, sw, rw, x0, ww) || taps_make(&ty, sh, rh, y0, wh))
        goto fail;
    /* Horizontal pass over only the source rows the vertical taps touch. */
    ylo = ty.start[0];
    yhi = ty.start[wh - 1] + ty.n[wh - 1];
    tmp = malloc(sizeof(float) * trow * (size_t)(yhi - ylo));
    acc = malloc(sizeof(float) * trow);
    if (!tmp || !acc)
        goto fail;
    for (int y = ylo; y < yhi; y++) {
        const uint8_t *s = src->px + (size_t)y * sw * c;
        float *d = tmp + (size_t)(y - ylo) * trow;
        if (c == 3) {
            for (int x = 0; x < ww; x++) {
                const float *w = tx.w + (size_t)x * tx.maxn;
                const uint8_t *sp = s + (size_t)tx.start[x] * 3;
                float r = 0, g = 0, b = 0;
                for (int k = 0; k < tx.n[x]; k++) {
                    r += w[k] * sp[3 * k];
                    g += w[k] * sp[3 * k + 1];
                    b += w[k] * sp[3 * k + 2];
                }
                d[3 * x] = r;
                d[3 * x + 1] = g;
                d[3 * x + 2] = b;
            }
        } else {
            for (int x = 0; x < ww; x++) {
                const float *w = tx.w + (size_t)x * tx.maxn;
                const uint8_t *sp = s + tx.start[x];
                float v = 0;
                for (int k = 0; k < tx.n[x]; k++)
                    v += w[k] * sp[k];
                d[x] = v;
            }
        }
    }
    for (int y = 0; y < wh; y++) {
        const float *w = ty.w + (size_t)y * ty.maxn;
        memset(acc, 0, sizeof(float) * trow);
        for (int k = 0; k < ty.n[y]; k++) {
            const float *row = tmp + (size_t)(ty.start[y] + k - ylo) * trow;
            for (size_t i = 0; i < trow; i++)
                acc[i] += w[k] * row[i];
        }
        uint8_t *d = px + (size_t)y * trow;
        for (size_t i = 0; i < trow; i++)
            d[i] = to_u8(acc[i]);
    }
    dst->w = ww;
    dst->h = wh;
    dst->c = c;
    dst->px = px;
    px = NULL;
    rc = 0;
fail:
    free(px);
    free(tmp);
    free(acc);
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
static int half_round_even(int d)
{
    int q = d >= 0 ? d / 2 : -((-d + 1) / 2); /* floor(d / 2) */
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
    int x0 = 0, y0 = 0, ox = 0, oy = 0, ww, wh;
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
        if (rw > INT32_MAX || rh > INT32_MAX) {
            free(conv.px);
            return sk_errf(err, errlen, SK_EINVAL, "to_tensor: resize_to %d is too large",
                           pp->resize_to);
        }
        int offx = half_round_even((int)rw - W), offy = half_round_even((int)rh - H);
        x0 = offx > 0 ? offx : 0;
        y0 = offy > 0 ? offy : 0;
        int x1 = offx + W < rw ? offx + W : (int)rw, y1 = offy + H < rh ? offy + H : (int)rh;
        ww = x1 - x0;
        wh = y1 - y0;
        ox = x0 - offx;
        oy = y0 - offy;
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
        if (resize_window(im, (int)rw, (int)rh, x0, y0, ww, wh, &r)) {
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
