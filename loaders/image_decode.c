/* image_decode.c — format sniffing, the decode entry point and the pixel
 * helpers both decoders share (size check, channel conversion, orientation).
 * The format-specific code is in image_png.c and image_jpeg.c. */
#include <stdlib.h>
#include <string.h>

#include "engine/sk.h"
#include "loaders/image_internal.h"

sk_image_kind sk_image_sniff(const void *buf, size_t len)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t *p = buf;
    if (!p)
        return SK_IMG_UNKNOWN;
    if (len >= 8 && memcmp(p, png_sig, 8) == 0)
        return SK_IMG_PNG;
    /* SOI followed by the first marker's 0xFF */
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return SK_IMG_JPEG;
    return SK_IMG_UNKNOWN;
}

int sk_image_decode(const void *buf, size_t len, int channels, size_t max_pixels,
                    const uint8_t background[3], sk_image *out, char *err, size_t errlen)
{
    static const uint8_t white[3] = {255, 255, 255};
    if (!out)
        return sk_errf(err, errlen, SK_EINVAL, "sk_image_decode: no output image");
    memset(out, 0, sizeof *out);
    if (channels != 1 && channels != 3)
        return sk_errf(err, errlen, SK_EINVAL, "image channels must be 1 or 3, not %d",
                       channels);
    if (!background)
        background = white;
    switch (sk_image_sniff(buf, len)) {
    case SK_IMG_PNG:
        return sk_png_decode(buf, len, channels, max_pixels, background, out, err, errlen);
    case SK_IMG_JPEG:
        return sk_jpeg_decode(buf, len, channels, max_pixels, out, err, errlen);
    default:
        return sk_errf(err, errlen, SK_EFORMAT,
                       "data is not a PNG or JPEG image (%zu bytes, unknown signature)", len);
    }
}

void sk_image_free(sk_image *img)
{
    if (!img)
        return;
    free(img->px);
    img->px = NULL;
    img->w = img->h = img->c = 0;
}

int sk_img_check_size(const char *what, uint32_t w, uint32_t h, size_t max_pixels, char *err,
                      size_t errlen)
{
    if (w == 0 || h == 0)
        return sk_errf(err, errlen, SK_EFORMAT, "%s header gives an empty image (%ux%u)", what,
                       (unsigned)w, (unsigned)h);
    uint64_t n = (uint64_t)w * h;
    /* The second test keeps w*h*4 bytes (CMYK / RGBA scratch) inside size_t
     * whatever limit the caller passes. */
    if (n > max_pixels || n > SIZE_MAX / 8 || w > INT32_MAX || h > INT32_MAX)
        return sk_errf(err, errlen, SK_ETOOLARGE,
                       "%s is %ux%u = %llu pixels, over the limit of %zu pixels", what,
                       (unsigned)w, (unsigned)h, (unsigned long long)n, max_pixels);
    return 0;
}

/* Round (c*a + bg*(255-a)) / 255: the numerator is never k*255 + 127.5, so
 * +127 rounds to nearest. */
static inline uint8_t blend(unsigned c, unsigned bg, unsigned a)
{
    return (uint8_t)((c * a + bg * (255u - a) + 127u) / 255u);
}

void sk_img_convert_row(const uint8_t *src, int cin, uint8_t *dst, int cout, size_t n,
                        const uint8_t bg[3])
{
    size_t i;
    switch (cin * 10 + cout) {
    case 11:
    case 33:
        memcpy(dst, src, n * (size_t)cin);
        break;
    case 13:
        for (i = 0; i < n; i++)
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
        break;
    case 21:
        for (i = 0; i < n; i++)
            dst[i] = blend(src[2 * i], bg[0], src[2 * i + 1]);
        break;
    case 23:
        for (i = 0; i < n; i++) {
            uint8_t v = blend(src[2 * i], bg[0], src[2 * i + 1]);
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = v;
        }
        break;
    case 31:
        for (i = 0; i < n; i++)
            dst[i] = sk_img_luma(src[3 * i], src[3 * i + 1], src[3 * i + 2]);
        break;
    case 41:
        for (i = 0; i < n; i++) {
            const uint8_t *s = src + 4 * i;
            dst[i] = sk_img_luma(blend(s[0], bg[0], s[3]), blend(s[1], bg[1], s[3]),
                                 blend(s[2], bg[2], s[3]));
        }
        break;
    case 43:
        for (i = 0; i < n; i++) {
            const uint8_t *s = src + 4 * i;
            dst[3 * i] = blend(s[0], bg[0], s[3]);
            dst[3 * i + 1] = blend(s[1], bg[1], s[3]);
            dst[3 * i + 2] = blend(s[2], bg[2], s[3]);
        }
        break;
    default:
        break; /* callers only pass the pairs above */
    }
}

/* EXIF orientation: for each output pixel (x, y) of the displayed image, the
 * stored pixel it comes from. W, H are the stored (decoded) sizes. */
int sk_img_orient(sk_image *img, int o)
{
    if (o <= 1 || o > 8)
        return 0;
    const int W = img->w, H = img->h, c = img->c;
    const int swap = o >= 5; /* 5..8 transpose the axes */
    const int ow = swap ? H : W, oh = swap ? W : H;
    uint8_t *dst = malloc((size_t)W * H * c);
    if (!dst)
        return SK_ENOMEM;
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x; sy = y; break;          /* mirror horizontal */
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;  /* rotate 180 */
            case 4: sx = x; sy = H - 1 - y; break;          /* mirror vertical */
            case 5: sx = y; sy = x; break;                  /* transpose */
            case 6: sx = y; sy = H - 1 - x; break;          /* rotate 90 CW */
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;  /* transverse */
            default: sx = W - 1 - y; sy = x; break;         /* 8: rotate 90 CCW */
            }
            memcpy(dst + ((size_t)y * ow + x) * c, img->px + ((size_t)sy * W + sx) * c,
                   (size_t)c);
        }
    }
    free(img->px);
    img->px = dst;
    img->w = ow;
    img->h = oh;
    return 0;
}
