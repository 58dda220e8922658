/* preprocess.c — a decoded picture -> the model's input tensor: channel
 * count, resize (stretch, shorter side + center crop as torchvision, or
 * letterbox), invert, scale / mean / std, as model.json's preprocessing
 * says (server/README.md) — and the invert policy's "auto" rule.
 * The resize itself is image_resize.c. */
#include <stdint.h>
#include <stdlib.h>

#include "engine/sk.h"
#include "loaders/image.h"
#include "loaders/image_internal.h"

/* Mean of the image border, every channel: > 128 means a light
 * background (a dark garment photographed on white, where Fashion-MNIST
 * has light-on-dark). */
static int border_is_light(const sk_image *im)
{
    uint64_t sum = 0, n = 0;
    for (int y = 0; y < im->h; y++) {
        int step = (y == 0 || y == im->h - 1) ? 1 : (im->w > 1 ? im->w - 1 : 1);
        for (int x = 0; x < im->w; x += step) {
            const uint8_t *px = im->px + ((size_t)y * im->w + x) * im->c;
            for (int c = 0; c < im->c; c++)
                sum += px[c];
            n += (uint64_t)im->c;
        }
    }
    return n && sum > 128 * n;
}

int sk_preprocess_invert(sk_invert policy, const sk_image *img)
{
    if (policy == SK_INVERT_AUTO)
        return border_is_light(img);
    return policy == SK_INVERT_YES;
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
        if (sk_img_resize_window(im, rw, rh, x0, y0, ww, wh, &r)) {
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
