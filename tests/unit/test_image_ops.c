/* test_image_ops.c — resize, image -> tensor preprocessing, PNG encoders,
 * palette, overlay and mask resize (image_resize.c, image_encode.c).
 * Expected values are derived by hand in the comments; encoder output is
 * checked by walking its chunks (with the test's own CRC-32) and decoding it.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/image_testutil.h"

/* ---- resize ----------------------------------------------------------- */

static sk_image make_img(int w, int h, int c, const uint8_t *px)
{
    sk_image im = {w, h, c, malloc((size_t)w * h * c)};
    assert_non_null(im.px);
    memcpy(im.px, px, (size_t)w * h * c);
    return im;
}

static void test_resize_constant(void **state)
{
    (void)state;
    enum { W = 37, H = 23 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H; i++) {
        px[3 * i] = 77;
        px[3 * i + 1] = 128;
        px[3 * i + 2] = 201;
    }
    sk_image src = make_img(W, H, 3, px);
    const int sizes[][2] = {{5, 3}, {100, 50}, {20, 20}, {1, 1}, {37, 23}, {8, 90}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        sk_image d;
        assert_int_equal(sk_image_resize(&src, sizes[k][0], sizes[k][1], &d), 0);
        assert_int_equal(d.w, sizes[k][0]);
        assert_int_equal(d.h, sizes[k][1]);
        for (int i = 0; i < d.w * d.h; i++) {
            assert_int_equal(d.px[3 * i], 77);
            assert_int_equal(d.px[3 * i + 1], 128);
            assert_int_equal(d.px[3 * i + 2], 201);
        }
        sk_image_free(&d);
    }
    sk_image_free(&src);
}

static void test_resize_area_and_bilinear(void **state)
{
    (void)state;
    sk_image d;
    /* 2x2 checkerboard -> 1x1 is its mean */
    const uint8_t cb[4] = {0, 200, 200, 0};
    sk_image s = make_img(2, 2, 1, cb);
    assert_int_equal(sk_image_resize(&s, 1, 1, &d), 0);
    assert_int_equal(d.px[0], 100);
    sk_image_free(&d);
    sk_image_free(&s);
    /* 4x4 checkerboard -> 1x1 (4x shrink, area path) */
    uint8_t cb4[16];
    for (int i = 0; i < 16; i++)
        cb4[i] = ((i / 4 + i % 4) & 1) ? 200 : 0;
    s = make_img(4, 4, 1, cb4);
    assert_int_equal(sk_image_resize(&s, 1, 1, &d), 0);
    assert_int_equal(d.px[0], 100);
    sk_image_free(&d);
    sk_image_free(&s);

    /* 4x shrink averages all four inputs (bilinear would read pixels 1, 2
     * only and give 0): [0 0 0 100 | 0 0 0 0] -> [25, 0] */
    const uint8_t spike[8] = {0, 0, 0, 100, 0, 0, 0, 0};
    s = make_img(8, 1, 1, spike);
    assert_int_equal(sk_image_resize(&s, 2, 1, &d), 0);
    assert_int_equal(d.px[0], 25);
    assert_int_equal(d.px[1], 0);
    sk_image_free(&d);
    sk_image_free(&s);

    /* 2.5x: output 0 covers [0, 2.5): (10 + 20 + 0.5*30) / 2.5 = 18;
     * output 1 covers [2.5, 5): (0.5*30 + 40 + 50) / 2.5 = 42 */
    const uint8_t ramp[5] = {10, 20, 30, 40, 50};
    s = make_img(5, 1, 1, ramp);
    assert_int_equal(sk_image_resize(&s, 2, 1, &d), 0);
    assert_int_equal(d.px[0], 18);
    assert_int_equal(d.px[1], 42);
    sk_image_free(&d);
    sk_image_free(&s);

    /* bilinear up, half-pixel centres: x' = (x + .5) / 2 - .5 = -.25 (clamped
     * to 0), .25, .75, 1.25 (clamped to 1) over [0, 100] */
    const uint8_t two[2] = {0, 100};
    s = make_img(2, 1, 1, two);
    assert_int_equal(sk_image_resize(&s, 4, 1, &d), 0);
    const uint8_t up[4] = {0, 25, 75, 100};
    assert_memory_equal(d.px, up, 4);
    sk_image_free(&d);
    /* the same along y */
    s.w = 1;
    s.h = 2;
    assert_int_equal(sk_image_resize(&s, 1, 4, &d), 0);
    assert_memory_equal(d.px, up, 4);
    sk_image_free(&d);
    sk_image_free(&s);

    /* 1.5x shrink stays bilinear: x' = .25, 1.75 over [10, 20, 40]:
     * .75*10 + .25*20 = 12.5 -> 13, .25*20 + .75*40 = 35 */
    const uint8_t three[3] = {10, 20, 40};
    s = make_img(3, 1, 1, three);
    assert_int_equal(sk_image_resize(&s, 2, 1, &d), 0);
    assert_int_equal(d.px[0], 13);
    assert_int_equal(d.px[1], 35);
    sk_image_free(&d);
    sk_image_free(&s);

    sk_image bad = {0};
    assert_int_equal(sk_image_resize(&bad, 2, 2, &d), SK_EINVAL);
}

/* ---- tensor ----------------------------------------------------------- */

/* The resize's definition, in double precision and written out per axis
 * (not the streamed code's passes): output o of an in -> out axis averages
 * the input over [o*s, (o+1)*s) when s = in/out > 2, else interpolates
 * linearly at (o + 0.5) * s - 0.5, clamped. Returns weights over all in. */
static void axis_weights(int in, int out, int o, double *w)
{
    const double s = (double)in / out;
    for (int j = 0; j < in; j++)
        w[j] = 0;
    if (s > 2) {
        double a = o * s, b = (o + 1) * s < in ? (o + 1) * s : in;
        for (int j = 0; j < in; j++) {
            double lo = a > j ? a : j, hi = b < j + 1 ? b : j + 1;
            if (hi > lo)
                w[j] = (hi - lo) / (b - a);
        }
    } else {
        double x = (o + 0.5) * s - 0.5;
        x = x < 0 ? 0 : x > in - 1 ? in - 1 : x;
        int j = (int)x;
        double f = x - j;
        w[j] += 1 - f;
        if (f > 0)
            w[j + 1] += f;
    }
}

/* Very tall and very wide sources (the streamed vertical-first and
 * horizontal-first orders) against axis_weights, within 1 of rounding. */
static void test_resize_extreme_aspect(void **state)
{
    (void)state;
    const int cases[][5] = {/* sw, sh, c, w, h */
                            {1, 60000, 1, 16, 12},  {3, 20011, 3, 8, 16}, {20011, 3, 3, 16, 8},
                            {60000, 1, 1, 12, 16},  {2, 5000, 1, 50, 7},  {7, 9000, 3, 9, 300}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const int sw = cases[t][0], sh = cases[t][1], c = cases[t][2], w = cases[t][3],
                  h = cases[t][4];
        sk_image src = {sw, sh, c, malloc((size_t)sw * sh * c)};
        assert_non_null(src.px);
        for (size_t i = 0; i < (size_t)sw * sh * c; i++)
            src.px[i] = (uint8_t)((i * 2654435761u) >> 13);
        sk_image d;
        assert_int_equal(sk_image_resize(&src, w, h, &d), 0);
        double *wx = malloc(sizeof(double) * (size_t)sw * w), *wy = malloc(sizeof(double) * sh);
        assert_non_null(wx);
        assert_non_null(wy);
        for (int x = 0; x < w; x++)
            axis_weights(sw, w, x, wx + (size_t)x * sw);
        int worst = 0;
        for (int y = 0; y < h; y++) {
            axis_weights(sh, h, y, wy);
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++) {
                    double v = 0;
                    for (int j = 0; j < sh; j++) {
                        if (wy[j] == 0)
                            continue;
                        double r = 0;
                        for (int i = 0; i < sw; i++)
                            r += wx[(size_t)x * sw + i] * src.px[((size_t)j * sw + i) * c + ch];
                        v += wy[j] * r;
                    }
                    int e = abs((int)d.px[((size_t)y * w + x) * c + ch] - (int)floor(v + 0.5));
                    worst = e > worst ? e : worst;
                }
        }
        if (worst > 1)
            fail_msg("%dx%dx%d -> %dx%d: off by %d", sw, sh, c, w, h, worst);
        free(wx);
        free(wy);
        sk_image_free(&d);
        sk_image_free(&src);
    }
}

static sk_preprocess raw_pp(int w, int h, int c, sk_resize_mode mode)
{
    sk_preprocess pp = {.width = w, .height = h, .channels = c, .resize = mode, .scale = 1.0f,
                        .mean = {0, 0, 0}, .std = {1, 1, 1}};
    return pp;
}

static void test_tensor_normalize(void **state)
{
    (void)state;
    const uint8_t px[3] = {128, 64, 255};
    sk_image img = make_img(1, 1, 3, px);
    sk_preprocess pp = raw_pp(2, 2, 3, SK_RESIZE_STRETCH);
    pp.scale = 1.0f / 255.0f;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    memcpy(pp.mean, mean, sizeof mean);
    memcpy(pp.std, sd, sizeof sd);
    float out[12];
    char err[128];
    assert_int_equal(sk_image_to_tensor(&img, &pp, out, err, sizeof err), 0);
    for (int c = 0; c < 3; c++) {
        double want = (px[c] / 255.0 - mean[c]) / sd[c];
        for (int i = 0; i < 4; i++)
            assert_float_equal(out[c * 4 + i], want, 1e-5);
    }
    /* invert: 255 - v before scaling; gray model from RGB: luma(128,64,255)
     * = 38.27 + 37.57 + 29.07 = 104.9 -> 105; inverted 150 */
    sk_preprocess pg = raw_pp(1, 1, 1, SK_RESIZE_STRETCH);
    pg.invert = 1;
    pg.scale = 0.5f;
    pg.mean[0] = 10;
    pg.std[0] = 4;
    assert_int_equal(sk_image_to_tensor(&img, &pg, out, err, sizeof err), 0);
    assert_float_equal(out[0], (150 * 0.5 - 10) / 4.0, 1e-5);
    /* zero std refused */
    pg.std[0] = 0;
    assert_int_equal(sk_image_to_tensor(&img, &pg, out, err, sizeof err), SK_EINVAL);
    sk_image_free(&img);
}

static void test_tensor_letterbox(void **state)
{
    (void)state;
    float out[64];
    char err[128];
    uint8_t px[4 * 2];
    memset(px, 100, sizeof px);
    /* 4x2 into 8x8: scale 2 -> 8x4, centred: rows 2..5 image, others pad */
    sk_image wide = make_img(4, 2, 1, px);
    sk_preprocess pp = raw_pp(8, 8, 1, SK_RESIZE_LETTERBOX);
    pp.pad = 7;
    assert_int_equal(sk_image_to_tensor(&wide, &pp, out, err, sizeof err), 0);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            assert_float_equal(out[y * 8 + x], (y >= 2 && y < 6) ? 100 : 7, 0);
    sk_image_free(&wide);
    /* 2x6 into 8x8: scale 4/3 -> round(2.67) = 3 x 8, x offset (8-3)/2 = 2 */
    uint8_t tp[12];
    memset(tp, 100, sizeof tp);
    sk_image tall = make_img(2, 6, 1, tp);
    assert_int_equal(sk_image_to_tensor(&tall, &pp, out, err, sizeof err), 0);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            assert_float_equal(out[y * 8 + x], (x >= 2 && x < 5) ? 100 : 7, 0);
    /* invert flips the photo's pixels but not the pad, which is already the
     * model's background: 255 - 100 = 155 inside, 7 outside */
    pp.invert = 1;
    assert_int_equal(sk_image_to_tensor(&tall, &pp, out, err, sizeof err), 0);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++)
            assert_float_equal(out[y * 8 + x], (x >= 2 && x < 5) ? 155 : 7, 0);
    sk_image_free(&tall);
}

static void test_tensor_center_crop(void **state)
{
    (void)state;
    float out[16];
    char err[128];
    /* 8x4, column x holds 10x: short side already 4 = resize_to, so no
     * resize; crop offset round((8 - 4) / 2) = 2 -> columns 2..5 */
    uint8_t px[8 * 4];
    for (int i = 0; i < 32; i++)
        px[i] = (uint8_t)(10 * (i % 8));
    sk_image img = make_img(8, 4, 1, px);
    sk_preprocess pp = raw_pp(4, 4, 1, SK_RESIZE_SHORTER_THEN_CENTER_CROP);
    pp.resize_to = 4;
    assert_int_equal(sk_image_to_tensor(&img, &pp, out, err, sizeof err), 0);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            assert_float_equal(out[y * 4 + x], 10 * (x + 2), 0);
    sk_image_free(&img);
    /* 9x4: offset round(2.5) = 2 with ties to even (torchvision) */
    uint8_t p9[9 * 4];
    for (int i = 0; i < 36; i++)
        p9[i] = (uint8_t)(10 * (i % 9));
    img = make_img(9, 4, 1, p9);
    assert_int_equal(sk_image_to_tensor(&img, &pp, out, err, sizeof err), 0);
    for (int x = 0; x < 4; x++)
        assert_float_equal(out[x], 10 * (x + 2), 0);
    sk_image_free(&img);
    /* 16x8 with resize_to 4: 2x shrink to 8x4 (pairs averaged: column x of
     * the result = mean of source columns 2x, 2x+1 = 10 * (2x + .5)), then
     * columns 2..5 -> 45, 65, 85, 105 */
    uint8_t p16[16 * 8];
    for (int i = 0; i < 128; i++)
        p16[i] = (uint8_t)(10 * (i % 16));
    img = make_img(16, 8, 1, p16);
    assert_int_equal(sk_image_to_tensor(&img, &pp, out, err, sizeof err), 0);
    const float want[4] = {45, 65, 85, 105};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            assert_float_equal(out[y * 4 + x], want[x], 0);
    /* resize_to 0 means max(width, height); stretch of the same image to 4x4
     * averages 4 columns: 10 * (4x + 1.5) */
    sk_preprocess ps = raw_pp(4, 4, 1, SK_RESIZE_STRETCH);
    assert_int_equal(sk_image_to_tensor(&img, &ps, out, err, sizeof err), 0);
    for (int x = 0; x < 4; x++)
        assert_float_equal(out[x], 10 * (4 * x + 1.5), 0.51);
    sk_image_free(&img);
    /* 1 x 300000, shorter side to 8000: the virtual resized image is 8000
     * x 2.4e9 (past INT32_MAX) and only its centre 4x4 is computed: every
     * column is the one source column; row o samples the source at
     * (o + .5) * 300000 / 2.4e9 - .5, bilinear (offset round((2.4e9 -
     * 4) / 2) = 1199999998) */
    enum { TALL = 300000 };
    uint8_t *pt = malloc(TALL);
    assert_non_null(pt);
    for (int i = 0; i < TALL; i++)
        pt[i] = (uint8_t)(i * 7 % 251);
    img = make_img(1, TALL, 1, pt);
    free(pt);
    pp.resize_to = 8000;
    assert_int_equal(sk_image_to_tensor(&img, &pp, out, err, sizeof err), 0);
    for (int y = 0; y < 4; y++) {
        double sy = (1199999998.0 + y + 0.5) * TALL / 2.4e9 - 0.5;
        int j = (int)sy;
        double f = sy - j, v = (1 - f) * img.px[j] + f * img.px[j + 1];
        for (int x = 0; x < 4; x++)
            assert_float_equal(out[y * 4 + x], floor(v + 0.5), 1);
    }
    sk_image_free(&img);
}

/* ---- encoders --------------------------------------------------------- */

static uint32_t rd32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Find a chunk by walking the file's chunk list; also checks every CRC. */
static const uint8_t *find_chunk(const uint8_t *png, size_t n, const char *type, uint32_t *len)
{
    size_t pos = 8;
    while (pos + 12 <= n) {
        uint32_t l = rd32be(png + pos);
        assert_true(pos + 12 + l <= n);
        assert_int_equal(crc32_png(png + pos + 4, l + 4), rd32be(png + pos + 8 + l));
        if (memcmp(png + pos + 4, type, 4) == 0) {
            *len = l;
            return png + pos + 8;
        }
        pos += 12 + l;
    }
    return NULL;
}

static void test_encode_palette(void **state)
{
    (void)state;
    uint8_t pal[5][3];
    sk_palette(pal, 5);
    const uint8_t idx[6] = {0, 1, 2, 3, 4, 1};
    uint8_t *png = NULL;
    size_t n = 0;
    assert_int_equal(sk_png_encode_palette(idx, 3, 2, (const uint8_t(*)[3])pal, 5, &png, &n), 0);
    uint32_t len;
    const uint8_t *ihdr = find_chunk(png, n, "IHDR", &len);
    assert_non_null(ihdr);
    assert_int_equal(rd32be(ihdr), 3);
    assert_int_equal(rd32be(ihdr + 4), 2);
    assert_int_equal(ihdr[8], 8); /* bit depth */
    assert_int_equal(ihdr[9], 3); /* palette */
    const uint8_t *plte = find_chunk(png, n, "PLTE", &len);
    assert_non_null(plte);
    assert_int_equal(len, 15);
    assert_memory_equal(plte, pal, 15);
    assert_non_null(find_chunk(png, n, "IEND", &len));
    /* decoded colours are the palette entries of each index */
    bytes b = {png, n, n};
    sk_image img = decode_ok(&b, 3, WHITE);
    for (int i = 0; i < 6; i++)
        assert_memory_equal(img.px + 3 * i, pal[idx[i]], 3);
    sk_image_free(&img);
    free(png);
    /* an index past the palette is refused */
    const uint8_t badidx[1] = {5};
    assert_int_equal(
        sk_png_encode_palette(badidx, 1, 1, (const uint8_t(*)[3])pal, 5, &png, &n), SK_EINVAL);
}

static void test_encode_rgb_gray(void **state)
{
    (void)state;
    enum { W = 13, H = 7 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        px[i] = (uint8_t)(i * 37 + 11);
    for (int c = 1; c <= 3; c += 2) {
        sk_image img = make_img(W, H, c, px);
        uint8_t *png;
        size_t n;
        assert_int_equal(sk_png_encode(&img, &png, &n), 0);
        uint32_t len;
        const uint8_t *ihdr = find_chunk(png, n, "IHDR", &len);
        assert_int_equal(ihdr[8], 8);
        assert_int_equal(ihdr[9], c == 1 ? 0 : 2);
        bytes b = {png, n, n};
        sk_image back = decode_ok(&b, c, WHITE);
        assert_int_equal(back.w, W);
        assert_int_equal(back.h, H);
        assert_memory_equal(back.px, px, (size_t)W * H * c);
        sk_image_free(&back);
        sk_image_free(&img);
        free(png);
    }
}

static void test_palette_overlay_mask_resize(void **state)
{
    (void)state;
    uint8_t pal[256][3];
    sk_palette(pal, 256);
    /* PASCAL VOC colour map values */
    const uint8_t voc[][4] = {{0, 0, 0, 0},      {1, 128, 0, 0},    {2, 0, 128, 0},
                              {3, 128, 128, 0},  {15, 192, 128, 128}, {20, 0, 64, 128},
                              {255, 224, 224, 192}};
    for (size_t i = 0; i < sizeof voc / sizeof voc[0]; i++)
        assert_memory_equal(pal[voc[i][0]], voc[i] + 1, 3);
    for (int i = 0; i < 256; i++)
        for (int j = i + 1; j < 256; j++)
            assert_memory_not_equal(pal[i], pal[j], 3);

    /* overlay: (v + colour + 1) / 2 per channel */
    const uint8_t px[6] = {100, 50, 200, 10, 20, 30};
    const uint8_t mask[2] = {1, 0};
    sk_image img = make_img(2, 1, 3, px), ov;
    assert_int_equal(sk_mask_overlay(&img, mask, (const uint8_t(*)[3])pal, &ov), 0);
    assert_int_equal(ov.c, 3);
    const uint8_t want[6] = {114, 25, 100, 5, 10, 15};
    assert_memory_equal(ov.px, want, 6);
    sk_image_free(&ov);
    sk_image_free(&img);
    const uint8_t gpx[1] = {101};
    const uint8_t gm[1] = {2};
    img = make_img(1, 1, 1, gpx);
    assert_int_equal(sk_mask_overlay(&img, gm, (const uint8_t(*)[3])pal, &ov), 0);
    const uint8_t gw[3] = {51, 115, 51};
    assert_memory_equal(ov.px, gw, 3);
    sk_image_free(&ov);
    sk_image_free(&img);

    /* nearest neighbour at pixel centres */
    const uint8_t m2[4] = {1, 2, 3, 4};
    uint8_t m4[16];
    assert_int_equal(sk_mask_resize(m2, 2, 2, m4, 4, 4), 0);
    const uint8_t w4[16] = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
    assert_memory_equal(m4, w4, 16);
    uint8_t m4s[16], back[4];
    for (int i = 0; i < 16; i++)
        m4s[i] = (uint8_t)i;
    /* 4 -> 2: centres at 1.0 and 3.0 -> rows/cols 1 and 3 */
    assert_int_equal(sk_mask_resize(m4s, 4, 4, back, 2, 2), 0);
    const uint8_t wb[4] = {5, 7, 13, 15};
    assert_memory_equal(back, wb, 4);
}

/* The invert policy: auto inverts when the border's mean over every
 * channel is above 128 (hand-made borders), never / always ignore it. */
static void test_preprocess_invert(void **state)
{
    (void)state;
    /* 3x3 gray: the 8 border pixels and a centre that must not count */
    uint8_t light[9] = {200, 200, 200, 200, 0, 200, 200, 200, 200};
    uint8_t dark[9] = {20, 20, 20, 20, 255, 20, 20, 20, 20};
    /* border mean exactly 128: not light */
    uint8_t even[9] = {128, 128, 128, 128, 255, 128, 128, 128, 128};
    sk_image L = {3, 3, 1, light}, D = {3, 3, 1, dark}, E = {3, 3, 1, even};
    assert_int_equal(sk_preprocess_invert(SK_INVERT_AUTO, &L), 1);
    assert_int_equal(sk_preprocess_invert(SK_INVERT_AUTO, &D), 0);
    assert_int_equal(sk_preprocess_invert(SK_INVERT_AUTO, &E), 0);
    assert_int_equal(sk_preprocess_invert(SK_INVERT_NO, &L), 0);
    assert_int_equal(sk_preprocess_invert(SK_INVERT_YES, &D), 1);
    /* RGB: (250, 250, 0) on the border averages 166 > 128 */
    uint8_t rgb[2 * 2 * 3] = {250, 250, 0, 250, 250, 0, 250, 250, 0, 250, 250, 0};
    sk_image R = {2, 2, 3, rgb};
    assert_int_equal(sk_preprocess_invert(SK_INVERT_AUTO, &R), 1);
    rgb[0] = rgb[3] = rgb[6] = rgb[9] = 100; /* (100+250+0)/3 = 116 */
    assert_int_equal(sk_preprocess_invert(SK_INVERT_AUTO, &R), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_constant),
        cmocka_unit_test(test_resize_area_and_bilinear),
        cmocka_unit_test(test_resize_extreme_aspect),
        cmocka_unit_test(test_tensor_normalize),
        cmocka_unit_test(test_tensor_letterbox),
        cmocka_unit_test(test_tensor_center_crop),
        cmocka_unit_test(test_encode_palette),
        cmocka_unit_test(test_encode_rgb_gray),
        cmocka_unit_test(test_palette_overlay_mask_resize),
        cmocka_unit_test(test_preprocess_invert),
    };
    return cmocka_run_group_tests_name("image_ops", tests, NULL, NULL);
}
