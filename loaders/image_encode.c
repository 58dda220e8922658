/* image_encode.c — the PNG answers of /segment: palette masks, gray/RGB
 * images, the 50% class-colour overlay, the class palette and the
 * nearest-neighbour mask resize.
 *
 * libpng writes into a growing memory buffer (png_set_write_fn). zlib level 1:
 * masks are long runs that compress well anyway, and encode time is on the
 * request path. */
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sk.h"
#include "loaders/image.h"

typedef struct membuf {
    uint8_t *buf;
    size_t len, cap;
} membuf;

/* Everything written between setjmp and longjmp lives in this struct, owned
 * by the caller of png_write_all (see the same pattern in image_png.c). */
typedef struct png_wjob {
    membuf mb;
    png_structp png;
    png_infop info;
    int w, h, color_type;
    const uint8_t *px;
    size_t stride;
    const uint8_t (*palette)[3];
    int ncolors;
} png_wjob;

static void write_mem(png_structp png, png_bytep data, size_t n)
{
    membuf *m = png_get_io_ptr(png);
    if (n > m->cap - m->len) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap - m->len < n) {
            if (cap > SIZE_MAX / 2)
                png_error(png, "PNG output too large");
            cap *= 2;
        }
        uint8_t *p = realloc(m->buf, cap);
        if (!p)
            png_error(png, "out of memory");
        m->buf = p;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, data, n);
    m->len += n;
}

static void flush_mem(png_structp png)
{
    (void)png;
}

static void on_error(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int png_write_all(png_wjob *j)
{
    png_structp png = j->png;
    if (setjmp(png_jmpbuf(png)))
        return 1;
    png_set_write_fn(png, &j->mb, write_mem, flush_mem);
    /* libpng refuses sides over 1,000,000 by default, but a mask is the
     * size of the input image, which --max-pixels bounds by area only:
     * a 1 x 2,000,000 picture is valid and its mask must encode too.
     * PNG's own limit is 2^31 - 1. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_compression_level(png, 1);
    png_set_IHDR(png, j->info, (png_uint_32)j->w, (png_uint_32)j->h, 8, j->color_type,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (j->color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        for (int i = 0; i < j->ncolors; i++) {
            pal[i].red = j->palette[i][0];
            pal[i].green = j->palette[i][1];
            pal[i].blue = j->palette[i][2];
        }
        png_set_PLTE(png, j->info, pal, j->ncolors);
        /* Filters do not help index data; "none" is what the spec advises. */
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    }
    png_write_info(png, j->info);
    for (int y = 0; y < j->h; y++)
        png_write_row(png, j->px + (size_t)y * j->stride);
    png_write_end(png, NULL);
    return 0;
}

static int png_encode(int w, int h, int color_type, const uint8_t *px, size_t stride,
                      const uint8_t (*palette)[3], int ncolors, uint8_t **out, size_t *outlen)
{
    png_wjob j = {.w = w, .h = h, .color_type = color_type, .px = px, .stride = stride,
                  .palette = palette, .ncolors = ncolors};
    j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, on_error, on_warning);
    if (j.png)
        j.info = png_create_info_struct(j.png);
    if (!j.png || !j.info) {
        png_destroy_write_struct(&j.png, NULL);
        return SK_ENOMEM;
    }
    int failed = png_write_all(&j);
    png_destroy_write_struct(&j.png, &j.info);
    if (failed) {
        free(j.mb.buf);
        return SK_ENOMEM;
    }
    *out = j.mb.buf;
    *outlen = j.mb.len;
    return 0;
}

int sk_png_encode_palette(const uint8_t *idx, int w, int h, const uint8_t (*palette)[3],
                          int ncolors, uint8_t **out, size_t *outlen)
{
    if (!idx || !palette || !out || !outlen || w <= 0 || h <= 0 || ncolors < 1 ||
        ncolors > 256)
        return SK_EINVAL;
    /* An index past the palette makes a PNG that decoders reject. */
    const size_t n = (size_t)w * h;
    for (size_t i = 0; i < n; i++)
        if (idx[i] >= ncolors)
            return SK_EINVAL;
    return png_encode(w, h, PNG_COLOR_TYPE_PALETTE, idx, (size_t)w, palette, ncolors, out,
                      outlen);
}

int sk_png_encode(const sk_image *img, uint8_t **out, size_t *outlen)
{
    if (!img || !img->px || !out || !outlen || img->w <= 0 || img->h <= 0 ||
        (img->c != 1 && img->c != 3))
        return SK_EINVAL;
    return png_encode(img->w, img->h, img->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                      img->px, (size_t)img->w * img->c, NULL, 0, out, outlen);
}

int sk_mask_overlay(const sk_image *img, const uint8_t *mask, const uint8_t (*palette)[3],
                    sk_image *out)
{
    if (!img || !img->px || !mask || !palette || !out || img->w <= 0 || img->h <= 0 ||
        (img->c != 1 && img->c != 3))
        return SK_EINVAL;
    const size_t n = (size_t)img->w * img->h;
    uint8_t *px = malloc(n * 3);
    if (!px)
        return SK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *col = palette[mask[i]];
        for (int ch = 0; ch < 3; ch++) {
            unsigned v = img->c == 3 ? img->px[3 * i + ch] : img->px[i];
            px[3 * i + ch] = (uint8_t)((v + col[ch] + 1) / 2);
        }
    }
    out->w = img->w;
    out->h = img->h;
    out->c = 3;
    out->px = px;
    return 0;
}

int sk_mask_resize(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
    if (!src || !dst || sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return SK_EINVAL;
    /* Sample at output pixel centres: sx = floor((x + 0.5) * sw / dw). */
    int *xs = malloc(sizeof(int) * dw);
    if (!xs)
        return SK_ENOMEM;
    for (int x = 0; x < dw; x++)
        xs[x] = (int)(((2 * (int64_t)x + 1) * sw) / (2 * (int64_t)dw));
    for (int y = 0; y < dh; y++) {
        const int sy = (int)(((2 * (int64_t)y + 1) * sh) / (2 * (int64_t)dh));
        const uint8_t *s = src + (size_t)sy * sw;
        uint8_t *d = dst + (size_t)y * dw;
        for (int x = 0; x < dw; x++)
            d[x] = s[xs[x]];
    }
    free(xs);
    return 0;
}

/* The PASCAL VOC colour map: the bits of the index are spread over the high
 * bits of R, G and B (bit 0 -> R7, bit 1 -> G7, bit 2 -> B7, bit 3 -> R6, ...).
 * That is a bijection of 0..255 into RGB, so all 256 colours differ, index 0
 * is black, and VOC-trained U-Nets get their familiar colours. */
void sk_palette(uint8_t (*palette)[3], int ncolors)
{
    for (int i = 0; i < ncolors && i < 256; i++) {
        unsigned r = 0, g = 0, b = 0, c = (unsigned)i;
        for (int j = 7; j >= 0; j--) {
            r |= ((c >> 0) & 1u) << j;
            g |= ((c >> 1) & 1u) << j;
            b |= ((c >> 2) & 1u) << j;
            c >>= 3;
        }
        palette[i][0] = (uint8_t)r;
        palette[i][1] = (uint8_t)g;
        palette[i][2] = (uint8_t)b;
    }
}
