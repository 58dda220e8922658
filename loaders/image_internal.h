/* image_internal.h — helpers shared by the image decoders (image_decode.c,
 * image_png.c, image_jpeg.c, exif.c). Not part of the public loaders API. */
#ifndef SK_LOADERS_IMAGE_INTERNAL_H
#define SK_LOADERS_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "loaders/image.h"

/* 0 when w x h fits the limit, else SK_ETOOLARGE / SK_EFORMAT with a message.
 * Called with header dimensions only, before any pixel buffer exists. */
int sk_img_check_size(const char *what, uint32_t w, uint32_t h, size_t max_pixels, char *err,
                      size_t errlen);

/* Convert one row of n pixels with `cin` 8-bit channels (1 gray, 2 gray+alpha,
 * 3 RGB, 4 RGBA) into `cout` channels (1 or 3): alpha composited over `bg`
 * (gray images use bg[0]), gray replicated to RGB, RGB reduced to ITU-R
 * BT.601 luma. `src` and `dst` may not overlap. */
void sk_img_convert_row(const uint8_t *src, int cin, uint8_t *dst, int cout, size_t n,
                        const uint8_t bg[3]);

/* BT.601 luma, rounded half up: round(0.299 R + 0.587 G + 0.114 B). */
static inline uint8_t sk_img_luma(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((299u * r + 587u * g + 114u * b + 500u) / 1000u);
}

int sk_png_decode(const uint8_t *buf, size_t len, int channels, size_t max_pixels,
                  const uint8_t bg[3], sk_image *out, char *err, size_t errlen);
int sk_jpeg_decode(const uint8_t *buf, size_t len, int channels, size_t max_pixels,
                   sk_image *out, char *err, size_t errlen);

/* What the JPEG marker walk (exif.c) learns before decoding. */
typedef struct sk_jpeg_info {
    int orientation;  /* EXIF orientation 1..8 (1 when absent or invalid) */
    int adobe;        /* an Adobe APP14 segment is present (CMYK stored inverted) */
    int has_eoi;      /* an EOI marker follows the first SOS: the file is not cut short */
} sk_jpeg_info;

/* The one walk over a JPEG's marker segments after SOI, as libjpeg reads
 * them: stray bytes before a marker and fill bytes are skipped, markers
 * without a length (TEM, RSTn, SOI, a stuffed 00) passed over. For each
 * segment with a length, seg(ctx, marker, payload, n, avail) is called: n
 * the payload bytes the segment declares, avail how many of them buf holds
 * (avail < n: the file is cut inside this segment, and the walk ends after
 * the call). The walk ends at EOI, at a declared length < 2, after the
 * first SOS (its payload is the scan header), or when seg returns nonzero.
 * Returns the offset past the last whole segment visited (after an SOS:
 * where its entropy-coded data starts). Never reads outside buf[0..len). */
typedef int (*sk_jpeg_seg_fn)(void *ctx, unsigned marker, const uint8_t *payload, size_t n,
                              size_t avail);
size_t sk_jpeg_walk(const uint8_t *buf, size_t len, sk_jpeg_seg_fn seg, void *ctx);

/* Walk the JPEG segments up to the first scan, then look for EOI; never
 * reads outside buf[0..len). Lenient: judging a broken structure is left to
 * libjpeg, this only gathers facts. */
void sk_jpeg_scan(const uint8_t *buf, size_t len, sk_jpeg_info *info);

/* EXIF orientation from the payload of an APP1 segment (after the marker
 * length): 1..8, or 0 when it is not EXIF or carries no valid orientation. */
int sk_exif_orientation(const uint8_t *p, size_t n);

/* The window [x0, x0 + ww) x [y0, y0 + wh) of src resized to rw x rh
 * (image_resize.c; area / bilinear per axis), into dst (malloc'ed).
 * 0 or SK_ENOMEM. */
int sk_img_resize_window(const sk_image *src, int64_t rw, int64_t rh, int64_t x0, int64_t y0,
                         int ww, int wh, sk_image *dst);

/* Apply EXIF orientation o (1..8) to img in place (may swap w and h).
 * Returns 0 or SK_ENOMEM. */
int sk_img_orient(sk_image *img, int o);

#endif
