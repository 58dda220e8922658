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

/* Invert policy of a model (model.json "invert"): never, always, or auto —
 * invert a picture whose border is light on average (> 128 over every
 * channel of the outermost rows and columns), for models trained on
 * light-on-dark images. Returns the sk_preprocess.invert to use for img. */
typedef enum { SK_INVERT_NO = 0, SK_INVERT_YES = 1, SK_INVERT_AUTO = 2 } sk_invert;
int sk_preprocess_invert(sk_invert policy, const sk_image *img);

/* Width, height and decode cost of a PNG or JPEG from its header alone,
 * before any decode (image_probe.c): PNG's IHDR, a JPEG's first SOFn
 * through the marker walk the decoder uses. *coef: bytes of the
 * whole-image coefficient buffer libjpeg keeps for a progressive or
 * multi-scan JPEG (2 bytes a sample of every component, sides rounded up
 * to a 32-pixel MCU: an upper bound), 0 for a single interleaved
 * baseline scan or a PNG; coef may be NULL. 0, or -1 when the header does
 * not say (not an image, truncated, height set later by DNL). */
int sk_image_probe(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h, size_t *coef);

/* Resize with area averaging when shrinking by more than 2x, bilinear
 * otherwise. dst->px is malloc'ed (sk_image_free). */
int sk_image_resize(const sk_image *src, int w, int h, sk_image *dst);
/* Image -> float CHW tensor of pp->channels x pp->height x pp->width at
 * `out` (preprocess.c). */
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
