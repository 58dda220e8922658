/* image.h — decode PNG/JPEG, map images to model input tensors, encode PNG
 * answers. Every decoder checks width*height against a limit from the header
 * before it allocates pixels. */
#ifndef SK_LOADERS_IMAGE_H
#define SK_LOADERS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* 8-bit interleaved pixels, row-major, no padding. */
typedef struct sk_image {
    int w, h;
    int c; /* 1 (gray) or 3 (RGB) */
    uint8_t *px;
} sk_image;

typedef enum { SK_IMG_UNKNOWN = 0, SK_IMG_PNG, SK_IMG_JPEG } sk_image_kind;
sk_image_kind sk_image_sniff(const void *buf, size_t len);

/* Decode a PNG or JPEG (sniffed) into `channels` (1 or 3) 8-bit channels.
 * PNG: 8/16-bit, gray, gray+alpha, palette, RGB, RGBA (alpha composited over
 * `background`, 0..255 per channel, for gray images its first entry).
 * JPEG: baseline, progressive, grayscale, CMYK (converted); EXIF orientation
 * applied. Returns 0, SK_EFORMAT (not an image / truncated / corrupt) or
 * SK_ETOOLARGE (w*h > max_pixels, checked before allocation). */
int sk_image_decode(const void *buf, size_t len, int channels, size_t max_pixels,
                    const uint8_t background[3], sk_image *out, char *err, size_t errlen);
void sk_image_free(sk_image *img);

typedef enum {
    SK_RESIZE_STRETCH = 0,                 /* to width x height, aspect ignored */
    SK_RESIZE_SHORTER_THEN_CENTER_CROP,    /* shorter side -> resize_to, crop center */
    SK_RESIZE_LETTERBOX,                   /* fit inside, pad with `pad` value */
} sk_resize_mode;

typedef struct sk_preprocess {
    int width, height;   /* model input size */
    int channels;        /* 1 gray, 3 rgb */
    sk_resize_mode resize;
    int resize_to;       /* shorter side for SHORTER_THEN_CENTER_CROP (0: = max(w,h)) */
    float scale;         /* pixel * scale, then (x - mean) / std */
    float mean[3], std[3];
    int invert;          /* 1: x = 255 - x before scaling (dark-on-light photos) */
    uint8_t pad;         /* letterbox fill, in the model's convention: not inverted */
} sk_preprocess;

/* Resize with area averaging when shrinking by more than 2x, bilinear
 * otherwise. dst->px is malloc'ed (sk_image_free). */
int sk_image_resize(const sk_image *src, int w, int h, sk_image *dst);
/* Image -> float CHW tensor of pp->channels x pp->height x pp->width at `out`. */
int sk_image_to_tensor(const sk_image *img, const sk_preprocess *pp, float *out, char *err,
                       size_t errlen);

/* PNG encoders; *out is malloc'ed (free()). */
int sk_png_encode_palette(const uint8_t *idx, int w, int h, const uint8_t (*palette)[3],
                          int ncolors, uint8_t **out, size_t *outlen);
int sk_png_encode(const sk_image *img, uint8_t **out, size_t *outlen);
/* 50% blend of the class colours over an image: out->px (malloc'ed, free
 * with sk_image_free) is RGB, (image + palette[mask] + 1) / 2 per channel, a
 * gray image taken as R=G=B. `mask` has img->w * img->h class indices and
 * `palette` an entry for every index present (a 256-entry sk_palette is always
 * enough). */
int sk_mask_overlay(const sk_image *img, const uint8_t *mask, const uint8_t (*palette)[3],
                    sk_image *out);
/* Nearest-neighbour resize of a class-index mask. */
int sk_mask_resize(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);
/* Distinct colour per class index (stable, index 0 = black). */
void sk_palette(uint8_t (*palette)[3], int ncolors);

#endif
