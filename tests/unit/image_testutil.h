/* image_testutil.h — helpers shared by the image unit tests
 * (test_image.c, test_image_jpeg.c, test_image_ops.c): byte buffers, the
 * PNG CRC-32, decode-and-compare. Include after <cmocka.h>. */
#ifndef SK_TESTS_IMAGE_TESTUTIL_H
#define SK_TESTS_IMAGE_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/sk.h"
#include "loaders/image.h"

#define MAXPX ((size_t)40 * 1000 * 1000)

static inline const uint8_t *white(void)
{
    static const uint8_t w[3] = {255, 255, 255};
    return w;
}
#define WHITE (white())

/* ---- byte buffers ---------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static inline void put(bytes *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static inline void put8(bytes *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    put(b, &x, 1);
}

static inline void put32be(bytes *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

/* ---- PNG assembled by hand ------------------------------------------- */

/* CRC-32 (ISO 3309, reflected, poly 0xEDB88320) as the PNG spec's annex. */
static inline uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static inline sk_image decode_ok(const bytes *b, int channels, const uint8_t bg[3])
{
    sk_image img;
    char err[256] = "";
    int rc = sk_image_decode(b->p, b->n, channels, MAXPX, bg, &img, err, sizeof err);
    if (rc != 0)
        fail_msg("decode failed (%d): %s", rc, err);
    assert_int_equal(img.c, channels);
    return img;
}

static inline void expect_px(const sk_image *img, const uint8_t *want, int tol)
{
    size_t n = (size_t)img->w * img->h * img->c;
    for (size_t i = 0; i < n; i++)
        if (abs((int)img->px[i] - (int)want[i]) > tol)
            fail_msg("byte %zu (pixel %zu ch %zu): got %d want %d", i, i / img->c,
                     i % img->c, img->px[i], want[i]);
}

static inline void expect_color_at(const sk_image *img, int x, int y, const uint8_t *want,
                                   int tol)
{
    const uint8_t *p = img->px + ((size_t)y * img->w + x) * img->c;
    for (int c = 0; c < img->c; c++)
        if (abs((int)p[c] - (int)want[c]) > tol)
            fail_msg("pixel (%d,%d) ch %d: got %d want %d", x, y, c, p[c], want[c]);
}

static inline double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#endif
