/* image_png.c — PNG decode with libpng from a memory buffer.
 *
 * Every colour type and bit depth is expanded by libpng to 8-bit gray,
 * gray+alpha, RGB or RGBA (palette -> RGB, tRNS -> alpha, 16-bit scaled with
 * rounding: v8 = round(v16 * 255 / 65535)); sk_img_convert_row then composites
 * alpha over the caller's background and maps to the requested channels.
 * Gamma, sRGB and ICC chunks are ignored: pixel values are used as stored.
 *
 * The image size comes from the IHDR bytes, checked against max_pixels before
 * libpng is even created, so a hostile header costs no allocation. */
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sk.h"
#include "loaders/image_internal.h"

/* Ancillary chunks (iCCP, zTXt, ...) that libpng may buffer, at most. */
#define SK_PNG_CHUNK_MAX (8u << 20)

typedef struct png_src {
    const uint8_t *buf;
    size_t len, pos;
    int truncated;
    char msg[200];
} png_src;

static void png_read_mem(png_structp png, png_bytep data, size_t n)
{
    png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos) {
        s->truncated = 1;
        png_error(png, "unexpected end of data");
    }
    memcpy(data, s->buf + s->pos, n);
    s->pos += n;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    if (!s->msg[0])
        snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

/* Warnings (bad CRC in an ancillary chunk, unknown sRGB profile, ...) do not
 * stop the decode: the pixels are still what the file says. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Everything the decode writes between setjmp and a possible longjmp lives
 * here, owned by sk_png_decode's frame. C leaves non-volatile automatics of
 * the function that called setjmp indeterminate after longjmp; this struct is
 * not one (png_read_pixels holds only a pointer to it), so no volatile
 * juggling is needed and cleanup sees exactly what was allocated. */
typedef struct png_job {
    png_src src;
    png_structp png;
    png_infop info;
    int channels;
    const uint8_t *bg;
    uint8_t *px, *raw;
    png_bytep *rows;
    int oom;
    png_uint_32 w, h;
} png_job;

/* Returns 0, or 1 after a libpng error (details in j). */
static int png_read_pixels(png_job *j)
{
    png_structp png = j->png;
    png_infop info = j->info;
    if (setjmp(png_jmpbuf(png)))
        return 1;

    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (depth == 16)
        png_set_scale_16(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int cin = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (cin < 1 || cin > 4 || rowbytes != (size_t)w * cin) {
        snprintf(j->src.msg, sizeof j->src.msg, "unsupported pixel layout (%d channels)", cin);
        return 1;
    }
    const int c = j->channels;
    j->px = malloc((size_t)w * h * c);
    j->raw = malloc(passes > 1 ? rowbytes * h : rowbytes);
    if (passes > 1)
        j->rows = malloc(sizeof(png_bytep) * h);
    if (!j->px || !j->raw || (passes > 1 && !j->rows)) {
        j->oom = 1;
        return 1;
    }
    if (passes > 1) {
        /* Adam7: every pass revisits every row, so hold the whole image. */
        for (png_uint_32 y = 0; y < h; y++)
            j->rows[y] = j->raw + rowbytes * y;
        png_read_image(png, j->rows);
        for (png_uint_32 y = 0; y < h; y++)
            sk_img_convert_row(j->rows[y], cin, j->px + (size_t)y * w * c, c, w, j->bg);
    } else {
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(png, j->raw, NULL);
            sk_img_convert_row(j->raw, cin, j->px + (size_t)y * w * c, c, w, j->bg);
        }
    }
    /* The chunks after the image data are not read: a file cut short after
     * its last IDAT still has every pixel. */
    j->w = w;
    j->h = h;
    return 0;
}

int sk_png_decode(const uint8_t *buf, size_t len, int channels, size_t max_pixels,
                  const uint8_t bg[3], sk_image *out, char *err, size_t errlen)
{
    /* signature(8) + chunk length(4) + "IHDR"(4) + width(4) + height(4) */
    if (len < 24)
        return sk_errf(err, errlen, SK_EFORMAT,
                       "PNG data is truncated: %zu bytes, too short for the IHDR header", len);
    if (memcmp(buf + 12, "IHDR", 4) != 0)
        return sk_errf(err, errlen, SK_EFORMAT, "corrupt PNG: the first chunk is not IHDR");
    int rc = sk_img_check_size("PNG image", be32(buf + 16), be32(buf + 20), max_pixels, err,
                               errlen);
    if (rc)
        return rc;

    png_job j = {.src = {.buf = buf, .len = len}, .channels = channels, .bg = bg};
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j.src, png_on_error, png_on_warning);
    if (j.png)
        j.info = png_create_info_struct(j.png);
    if (!j.png || !j.info) {
        png_destroy_read_struct(&j.png, NULL, NULL);
        return sk_errf(err, errlen, SK_ENOMEM, "out of memory creating the PNG decoder");
    }
    /* libpng re-checks the IHDR against these; ours above already passed. */
    size_t lim = max_pixels < 0x7fffffff ? max_pixels : 0x7fffffff;
    png_set_user_limits(j.png, (png_uint_32)lim, (png_uint_32)lim);
    png_set_chunk_malloc_max(j.png, SK_PNG_CHUNK_MAX);
    png_set_read_fn(j.png, &j.src, png_read_mem);

    int failed = png_read_pixels(&j);
    png_destroy_read_struct(&j.png, &j.info, NULL);
    free(j.raw);
    free(j.rows);
    if (failed) {
        free(j.px);
        if (j.oom)
            return sk_errf(err, errlen, SK_ENOMEM, "out of memory decoding a PNG image");
        if (j.src.truncated)
            return sk_errf(err, errlen, SK_EFORMAT,
                           "PNG data is truncated: it ends after %zu bytes, before the image "
                           "is complete",
                           len);
        return sk_errf(err, errlen, SK_EFORMAT, "corrupt PNG: %s", j.src.msg);
    }
    out->w = (int)j.w;
    out->h = (int)j.h;
    out->c = channels;
    out->px = j.px;
    return 0;
}
