/* native.c — see native.h. */
#include "server/native.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int srv_native_round(int len, int multiple)
{
    if (multiple < 1)
        multiple = 1;
    return (int)(((int64_t)len + multiple - 1) / multiple * multiple);
}

int srv_native_tensor(const sk_image *img, const sk_preprocess *pp, int H, int W, float *out,
                      char *err, size_t errlen)
{
    int w = img->w, h = img->h, C = pp->channels;
    if (w > W || h > H) {
        snprintf(err, errlen, "native: a %dx%d image does not fit %dx%d", w, h, W, H);
        return -1;
    }
    /* At its own size the stretch is the identity: pixels are only
     * converted and normalized. */
    sk_preprocess own = *pp;
    own.width = w;
    own.height = h;
    own.resize = SK_RESIZE_STRETCH;
    if (sk_image_to_tensor(img, &own, out, err, errlen))
        return -1;
    /* Spread the C x h x w block out to C x H x W in place: every row moves
     * to an index at or after its own, so going from the last row of the
     * last channel back to the first never overwrites one not yet moved. */
    for (int c = C - 1; c >= 0; c--) {
        for (int y = h - 1; y >= 0; y--) {
            float *dst = out + ((size_t)c * H + y) * W;
            memmove(dst, out + ((size_t)c * h + y) * w, (size_t)w * sizeof *out);
            memset(dst + w, 0, (size_t)(W - w) * sizeof *out);
        }
        memset(out + ((size_t)c * H + h) * W, 0, (size_t)(H - h) * W * sizeof *out);
    }
    return 0;
}

uint8_t *srv_native_mask(const float *logits, int K, int oh, int ow, int H, int W, int w, int h)
{
    uint8_t *mask = malloc((size_t)w * h);
    if (!mask)
        return NULL;
    size_t plane = (size_t)oh * ow;
    for (int y = 0; y < h; y++) {
        int oy = oh == H ? y : (int)((int64_t)y * oh / H);
        for (int x = 0; x < w; x++) {
            int ox = ow == W ? x : (int)((int64_t)x * ow / W);
            const float *px = logits + (size_t)oy * ow + ox;
            int best = 0;
            float bv = px[0];
            for (int k = 1; k < K; k++)
                if (px[k * plane] > bv) {
                    bv = px[k * plane];
                    best = k;
                }
            mask[(size_t)y * w + x] = (uint8_t)best;
        }
    }
    return mask;
}
