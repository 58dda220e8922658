/* test_image.c — image decode / resize / tensor / encode.
 *
 * References are independent of the code under test:
 *  - PNG inputs are assembled byte by byte here (own CRC-32, Adler-32, stored
 *    deflate blocks, Adam7 pass layout), expected pixels derived by hand;
 *  - JPEG inputs come from TurboJPEG's compressor, with EXIF APP1 segments
 *    and hostile SOF sizes spliced in by hand; expected colours by hand;
 *  - an optional cross-check decodes files written by PIL (/usr/bin/python3)
 *    and compares with PIL's own decode, alpha compositing and EXIF
 *    transpose; it is skipped when python3-pil is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "engine/sk.h"
#include "loaders/image.h"

static const uint8_t BLACK[3] = {0, 0, 0};
static const uint8_t WHITE[3] = {255, 255, 255};
#define MAXPX ((size_t)40 * 1000 * 1000)

/* ---- byte buffers ---------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put8(bytes *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    put(b, &x, 1);
}

static void put32be(bytes *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

/* ---- PNG assembled by hand ------------------------------------------- */

/* CRC-32 (ISO 3309, reflected, poly 0xEDB88320) as the PNG spec's annex. */
static uint32_t crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void png_chunk(bytes *b, const char *type, const uint8_t *data, size_t n)
{
    put32be(b, (uint32_t)n);
    size_t start = b->n;
    put(b, type, 4);
    if (n)
        put(b, data, n);
    put32be(b, crc32_png(b->p + start, n + 4));
}

/* zlib stream of stored (uncompressed) deflate blocks, RFC 1950/1951. */
static void zlib_stored(bytes *z, const uint8_t *raw, size_t n)
{
    put8(z, 0x78);
    put8(z, 0x01);
    size_t off = 0;
    do {
        size_t k = n - off > 65535 ? 65535 : n - off;
        put8(z, off + k == n ? 1 : 0); /* BFINAL, BTYPE=00 */
        put8(z, k & 0xff);
        put8(z, k >> 8);
        put8(z, ~k & 0xff);
        put8(z, (~k >> 8) & 0xff);
        put(z, raw + off, k);
        off += k;
    } while (off < n);
    uint32_t a = 1, bsum = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + raw[i]) % 65521;
        bsum = (bsum + a) % 65521;
    }
    put32be(z, bsum << 16 | a);
}

static int png_nch(int ctype)
{
    switch (ctype) {
    case 0: return 1;
    case 2: return 3;
    case 3: return 1;
    case 4: return 2;
    default: return 4;
    }
}

/* Append the filter-0 scanlines of the sub-image (x0 + k*dx, y0 + j*dy). */
static void png_pack(bytes *raw, const uint16_t *s, int w, int h, int nch, int depth, int x0,
                     int y0, int dx, int dy)
{
    if (x0 >= w || y0 >= h)
        return; /* empty Adam7 pass: no bytes at all */
    for (int y = y0; y < h; y += dy) {
        put8(raw, 0);
        unsigned acc = 0, nbits = 0;
        for (int x = x0; x < w; x += dx) {
            for (int c = 0; c < nch; c++) {
                unsigned v = s[((size_t)y * w + x) * nch + c];
                if (depth == 16) {
                    put8(raw, v >> 8);
                    put8(raw, v & 0xff);
                } else if (depth == 8) {
                    put8(raw, v);
                } else {
                    acc = acc << depth | v;
                    nbits += depth;
                    if (nbits == 8) {
                        put8(raw, acc);
                        acc = nbits = 0;
                    }
                }
            }
        }
        if (nbits)
            put8(raw, acc << (8 - nbits));
    }
}

/* A complete PNG. samples: w*h*nch values at `depth` bits. */
static bytes make_png(int w, int h, int depth, int ctype, int interlace, const uint16_t *s,
                      const uint8_t *plte, int nplte, const uint8_t *trns, int ntrns)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    bytes b = {0}, ihdr = {0}, raw = {0}, z = {0};
    put(&b, sig, 8);
    put32be(&ihdr, (uint32_t)w);
    put32be(&ihdr, (uint32_t)h);
    put8(&ihdr, depth);
    put8(&ihdr, ctype);
    put8(&ihdr, 0);
    put8(&ihdr, 0);
    put8(&ihdr, interlace);
    png_chunk(&b, "IHDR", ihdr.p, ihdr.n);
    if (nplte)
        png_chunk(&b, "PLTE", plte, 3 * (size_t)nplte);
    if (ntrns)
        png_chunk(&b, "tRNS", trns, (size_t)ntrns);
    const int nch = png_nch(ctype);
    if (!interlace) {
        png_pack(&raw, s, w, h, nch, depth, 0, 0, 1, 1);
    } else {
        /* Adam7 passes: x0, y0, dx, dy */
        static const int p[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                    {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
        for (int i = 0; i < 7; i++)
            png_pack(&raw, s, w, h, nch, depth, p[i][0], p[i][1], p[i][2], p[i][3]);
    }
    zlib_stored(&z, raw.p, raw.n);
    png_chunk(&b, "IDAT", z.p, z.n);
    png_chunk(&b, "IEND", NULL, 0);
    free(ihdr.p);
    free(raw.p);
    free(z.p);
    return b;
}

static sk_image decode_ok(const bytes *b, int channels, const uint8_t bg[3])
{
    sk_image img;
    char err[256] = "";
    int rc = sk_image_decode(b->p, b->n, channels, MAXPX, bg, &img, err, sizeof err);
    if (rc != 0)
        fail_msg("decode failed (%d): %s", rc, err);
    assert_int_equal(img.c, channels);
    return img;
}

static void expect_px(const sk_image *img, const uint8_t *want, int tol)
{
    size_t n = (size_t)img->w * img->h * img->c;
    for (size_t i = 0; i < n; i++)
        if (abs((int)img->px[i] - (int)want[i]) > tol)
            fail_msg("byte %zu (pixel %zu ch %zu): got %d want %d", i, i / img->c,
                     i % img->c, img->px[i], want[i]);
}

/* ---- PNG colour types -------------------------------------------------- */

static void test_sniff(void **state)
{
    (void)state;
    const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const uint8_t jpg[4] = {0xff, 0xd8, 0xff, 0xe0};
    assert_int_equal(sk_image_sniff(png, 8), SK_IMG_PNG);
    assert_int_equal(sk_image_sniff(png, 7), SK_IMG_UNKNOWN);
    assert_int_equal(sk_image_sniff(jpg, 4), SK_IMG_JPEG);
    assert_int_equal(sk_image_sniff(jpg, 2), SK_IMG_UNKNOWN);
    assert_int_equal(sk_image_sniff("GIF89a", 6), SK_IMG_UNKNOWN);
    assert_int_equal(sk_image_sniff(NULL, 0), SK_IMG_UNKNOWN);
}

static void test_png_gray8(void **state)
{
    (void)state;
    const uint16_t s[6] = {0, 1, 127, 128, 254, 255};
    bytes b = make_png(3, 2, 8, 0, 0, s, NULL, 0, NULL, 0);
    sk_image g = decode_ok(&b, 1, WHITE);
    assert_int_equal(g.w, 3);
    assert_int_equal(g.h, 2);
    const uint8_t want1[6] = {0, 1, 127, 128, 254, 255};
    expect_px(&g, want1, 0);
    sk_image rgb = decode_ok(&b, 3, WHITE);
    uint8_t want3[18];
    for (int i = 0; i < 6; i++)
        want3[3 * i] = want3[3 * i + 1] = want3[3 * i + 2] = want1[i];
    expect_px(&rgb, want3, 0);
    sk_image_free(&g);
    sk_image_free(&rgb);
    free(b.p);
}

static void test_png_gray_low_depths(void **state)
{
    (void)state;
    /* 1, 2, 4 bits scale to 8 bits by v * 255 / (2^d - 1): 255, 85, 17. */
    const uint16_t s1[9] = {0, 1, 1, 0, 1, 0, 0, 0, 1};
    const uint8_t w1[9] = {0, 255, 255, 0, 255, 0, 0, 0, 255};
    const uint16_t s2[5] = {0, 1, 2, 3, 1};
    const uint8_t w2[5] = {0, 85, 170, 255, 85};
    const uint16_t s4[5] = {0, 1, 7, 14, 15};
    const uint8_t w4[5] = {0, 17, 119, 238, 255};
    bytes b1 = make_png(9, 1, 1, 0, 0, s1, NULL, 0, NULL, 0);
    bytes b2 = make_png(5, 1, 2, 0, 0, s2, NULL, 0, NULL, 0);
    bytes b4 = make_png(5, 1, 4, 0, 0, s4, NULL, 0, NULL, 0);
    sk_image i1 = decode_ok(&b1, 1, WHITE), i2 = decode_ok(&b2, 1, WHITE),
             i4 = decode_ok(&b4, 1, WHITE);
    expect_px(&i1, w1, 0);
    expect_px(&i2, w2, 0);
    expect_px(&i4, w4, 0);
    sk_image_free(&i1);
    sk_image_free(&i2);
    sk_image_free(&i4);
    free(b1.p);
    free(b2.p);
    free(b4.p);
}

static void test_png_gray16(void **state)
{
    (void)state;
    /* v8 = round(v16 * 255 / 65535) = round(v16 / 257). 0x12FF -> 18.92 -> 19
     * (dropping the low byte would give 18); 128 -> 0.498 -> 0; 129 -> 1. */
    const uint16_t s[6] = {0, 65535, 0x12ff, 128, 129, 32896};
    const uint8_t want[6] = {0, 255, 19, 0, 1, 128};
    bytes b = make_png(6, 1, 16, 0, 0, s, NULL, 0, NULL, 0);
    sk_image g = decode_ok(&b, 1, WHITE);
    expect_px(&g, want, 0);
    sk_image_free(&g);
    free(b.p);
}

static void test_png_gray_alpha(void **state)
{
    (void)state;
    /* gray 200 at alpha 128: over 0 -> 200*128/255 = 100.39 -> 100;
     * over 255 -> (200*128 + 255*127)/255 = 227.39 -> 227. */
    const uint16_t s[6] = {200, 128, 200, 0, 200, 255};
    bytes b = make_png(3, 1, 8, 4, 0, s, NULL, 0, NULL, 0);
    sk_image k = decode_ok(&b, 1, BLACK), w = decode_ok(&b, 1, WHITE);
    const uint8_t wk[3] = {100, 0, 200}, ww[3] = {227, 255, 200};
    expect_px(&k, wk, 0);
    expect_px(&w, ww, 0);
    /* as RGB: composited over background[0] then replicated */
    sk_image c = decode_ok(&b, 3, WHITE);
    const uint8_t wc[9] = {227, 227, 227, 255, 255, 255, 200, 200, 200};
    expect_px(&c, wc, 0);
    sk_image_free(&k);
    sk_image_free(&w);
    sk_image_free(&c);
    free(b.p);

    /* 16-bit gray+alpha: 65535 at alpha 32896 (= 128 in 8 bits) over 0 -> 128 */
    const uint16_t s16[2] = {65535, 32896};
    bytes b16 = make_png(1, 1, 16, 4, 0, s16, NULL, 0, NULL, 0);
    sk_image g16 = decode_ok(&b16, 1, BLACK);
    assert_int_equal(g16.px[0], 128);
    sk_image_free(&g16);
    free(b16.p);
}

static void test_png_rgb_and_luma(void **state)
{
    (void)state;
    const uint16_t s[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
    bytes b = make_png(4, 1, 8, 2, 0, s, NULL, 0, NULL, 0);
    sk_image rgb = decode_ok(&b, 3, WHITE);
    const uint8_t w3[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
    expect_px(&rgb, w3, 0);
    /* BT.601: .299*255 = 76.2, .587*255 = 149.7, .114*255 = 29.1,
     * .299*10 + .587*20 + .114*30 = 18.15 */
    sk_image g = decode_ok(&b, 1, WHITE);
    const uint8_t w1[4] = {76, 150, 29, 18};
    expect_px(&g, w1, 0);
    sk_image_free(&rgb);
    sk_image_free(&g);
    free(b.p);

    /* 16-bit RGB: each sample round(v/257) */
    const uint16_t s16[3] = {0xffff, 0x12ff, 0x0081};
    bytes b16 = make_png(1, 1, 16, 2, 0, s16, NULL, 0, NULL, 0);
    sk_image i16 = decode_ok(&b16, 3, WHITE);
    const uint8_t w16[3] = {255, 19, 1};
    expect_px(&i16, w16, 0);
    sk_image_free(&i16);
    free(b16.p);
}

static void test_png_rgba(void **state)
{
    (void)state;
    /* (255,0,0) at alpha 128 over (0,0,255): R = 255*128/255 = 128, G = 0,
     * B = 255*127/255 = 127. Alpha 0 gives the background, 255 the pixel. */
    const uint16_t s[12] = {255, 0, 0, 128, 9, 9, 9, 0, 1, 2, 3, 255};
    const uint8_t bg[3] = {0, 0, 255};
    bytes b = make_png(3, 1, 8, 6, 0, s, NULL, 0, NULL, 0);
    sk_image c = decode_ok(&b, 3, bg);
    const uint8_t want[9] = {128, 0, 127, 0, 0, 255, 1, 2, 3};
    expect_px(&c, want, 0);
    /* gray: luma of the composited colour: .299*128 + .114*127 = 52.8 -> 53;
     * luma(0,0,255) = 29; luma(1,2,3) = 1.816 -> 2 */
    sk_image g = decode_ok(&b, 1, bg);
    const uint8_t wg[3] = {53, 29, 2};
    expect_px(&g, wg, 0);
    sk_image_free(&c);
    sk_image_free(&g);
    free(b.p);
}

static void test_png_palette_trns(void **state)
{
    (void)state;
    const uint8_t plte[9] = {10, 20, 30, 200, 100, 50, 0, 255, 0};
    const uint8_t trns[3] = {255, 0, 128};
    const uint16_t s[4] = {0, 1, 2, 0};
    bytes b = make_png(2, 2, 8, 3, 0, s, plte, 3, trns, 3);
    /* entry 1 fully transparent -> background; entry 2 at 128 over white:
     * (0*128 + 255*127)/255 = 127, 255, 127 */
    sk_image c = decode_ok(&b, 3, WHITE);
    const uint8_t want[12] = {10, 20, 30, 255, 255, 255, 127, 255, 127, 10, 20, 30};
    expect_px(&c, want, 0);
    sk_image_free(&c);
    free(b.p);

    /* palette without tRNS at 2 bits per index, 5 pixels (not byte aligned) */
    const uint16_t s2[5] = {2, 1, 0, 1, 2};
    bytes b2 = make_png(5, 1, 2, 3, 0, s2, plte, 3, NULL, 0);
    sk_image c2 = decode_ok(&b2, 3, BLACK);
    const uint8_t want2[15] = {0, 255, 0, 200, 100, 50, 10, 20, 30, 200, 100, 50, 0, 255, 0};
    expect_px(&c2, want2, 0);
    sk_image_free(&c2);
    free(b2.p);
}

static void test_png_trns_gray_rgb(void **state)
{
    (void)state;
    /* tRNS on gray/RGB marks one colour fully transparent */
    const uint8_t trns_g[2] = {0, 80};
    const uint16_t sg[3] = {80, 81, 0};
    bytes bg = make_png(3, 1, 8, 0, 0, sg, NULL, 0, trns_g, 2);
    const uint8_t bgc[3] = {7, 8, 9};
    sk_image g = decode_ok(&bg, 1, bgc);
    const uint8_t wg[3] = {7, 81, 0};
    expect_px(&g, wg, 0);
    sk_image_free(&g);
    free(bg.p);

    const uint8_t trns_c[6] = {0, 1, 0, 2, 0, 3};
    const uint16_t sc[6] = {1, 2, 3, 3, 2, 1};
    bytes bc = make_png(2, 1, 8, 2, 0, sc, NULL, 0, trns_c, 6);
    sk_image c = decode_ok(&bc, 3, bgc);
    const uint8_t wc[6] = {7, 8, 9, 3, 2, 1};
    expect_px(&c, wc, 0);
    sk_image_free(&c);
    free(bc.p);
}

static void test_png_interlaced(void **state)
{
    (void)state;
    /* 11x10 crosses every Adam7 pass, partial last blocks included */
    enum { W = 11, H = 10 };
    uint16_t s[W * H * 3];
    uint8_t want[W * H * 3];
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++)
            want[3 * i + c] = (uint8_t)(s[3 * i + c] = (uint16_t)((i * 7 + c * 50) & 255));
    bytes b = make_png(W, H, 8, 2, 1, s, NULL, 0, NULL, 0);
    sk_image img = decode_ok(&b, 3, WHITE);
    assert_int_equal(img.w, W);
    assert_int_equal(img.h, H);
    expect_px(&img, want, 0);
    sk_image_free(&img);
    free(b.p);

    /* interlaced 1-bit gray, 9x9 */
    uint16_t s1[81];
    uint8_t w1[81];
    for (int i = 0; i < 81; i++) {
        s1[i] = (uint16_t)((i * 5 / 3) & 1);
        w1[i] = s1[i] ? 255 : 0;
    }
    bytes b1 = make_png(9, 9, 1, 0, 1, s1, NULL, 0, NULL, 0);
    sk_image i1 = decode_ok(&b1, 1, WHITE);
    expect_px(&i1, w1, 0);
    sk_image_free(&i1);
    free(b1.p);
}

/* ---- PNG errors --------------------------------------------------------- */

static void test_png_truncated(void **state)
{
    (void)state;
    enum { W = 20, H = 20 };
    uint16_t s[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        s[i] = (uint16_t)(i & 255);
    bytes b = make_png(W, H, 8, 2, 0, s, NULL, 0, NULL, 0);
    /* IDAT payload: 8 sig + 25 IHDR + 8 (IDAT length, type) */
    const size_t idat_data = 8 + 25 + 8;
    const size_t idat_len = (size_t)W * H * 3 + H + 2 + 5 + 4; /* raw + zlib + 1 block + adler */
    char err[256];
    sk_image img;
    for (size_t cut = 0; cut < idat_data + idat_len; cut += (cut < 64 ? 1 : 37)) {
        err[0] = 0;
        int rc = sk_image_decode(b.p, cut, 3, MAXPX, WHITE, &img, err, sizeof err);
        if (rc != SK_EFORMAT)
            fail_msg("cut at %zu: rc %d (%s)", cut, rc, err);
        assert_null(img.px);
        if (cut >= 8 && !strstr(err, "truncated"))
            fail_msg("cut at %zu: message lacks 'truncated': %s", cut, err);
    }
    /* the whole file decodes */
    sk_image ok = decode_ok(&b, 3, WHITE);
    sk_image_free(&ok);
    free(b.p);
}

static void test_png_corrupt(void **state)
{
    (void)state;
    const uint16_t s[4] = {1, 2, 3, 4};
    bytes b = make_png(2, 2, 8, 0, 0, s, NULL, 0, NULL, 0);
    char err[256];
    sk_image img;
    /* bad IHDR CRC */
    b.p[29] ^= 0xff;
    assert_int_equal(sk_image_decode(b.p, b.n, 1, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EFORMAT);
    b.p[29] ^= 0xff;
    /* invalid colour type 5 (CRC recomputed so only the value is wrong) */
    b.p[25] = 5;
    uint32_t c = crc32_png(b.p + 12, 17);
    b.p[29] = (uint8_t)(c >> 24);
    b.p[30] = (uint8_t)(c >> 16);
    b.p[31] = (uint8_t)(c >> 8);
    b.p[32] = (uint8_t)c;
    assert_int_equal(sk_image_decode(b.p, b.n, 1, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EFORMAT);
    assert_null(img.px);
    free(b.p);
    /* not an image at all */
    assert_int_equal(sk_image_decode("hello world", 11, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EFORMAT);
    assert_int_equal(sk_image_decode("", 0, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EFORMAT);
    assert_int_equal(sk_image_decode("x", 1, 2, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EINVAL);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* signature + IHDR only: the size check must answer before any image data. */
static bytes png_header_only(uint32_t w, uint32_t h)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    bytes b = {0}, ihdr = {0};
    put(&b, sig, 8);
    put32be(&ihdr, w);
    put32be(&ihdr, h);
    put8(&ihdr, 8);
    put8(&ihdr, 2);
    put8(&ihdr, 0);
    put8(&ihdr, 0);
    put8(&ihdr, 0);
    png_chunk(&b, "IHDR", ihdr.p, ihdr.n);
    free(ihdr.p);
    return b;
}

static void test_png_too_large(void **state)
{
    (void)state;
    char err[256];
    sk_image img;
    bytes huge = png_header_only(100000, 100000);
    assert_int_equal(crc32_png((const uint8_t *)"IEND", 4), 0xae426082u); /* CRC self-check */
    double t0 = now_s();
    int rc = sk_image_decode(huge.p, huge.n, 3, MAXPX, WHITE, &img, err, sizeof err);
    double dt = now_s() - t0;
    assert_int_equal(rc, SK_ETOOLARGE);
    assert_null(img.px);
    assert_true(dt < 0.05);
    assert_non_null(strstr(err, "100000x100000"));
    free(huge.p);

    /* one dimension alone over the limit, and one past 2^31 */
    bytes wide = png_header_only(0x7fffffffu, 1);
    assert_int_equal(sk_image_decode(wide.p, wide.n, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_ETOOLARGE);
    free(wide.p);
    bytes wider = png_header_only(0x80000001u, 1);
    assert_int_equal(sk_image_decode(wider.p, wider.n, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_ETOOLARGE);
    free(wider.p);

    /* The limit decides before the data is looked at: 5000x5000 with no
     * IDAT is "too large" under 1 MP and "truncated" under 40 MP. */
    bytes mid = png_header_only(5000, 5000);
    assert_int_equal(sk_image_decode(mid.p, mid.n, 3, 1000000, WHITE, &img, err, sizeof err),
                     SK_ETOOLARGE);
    assert_int_equal(sk_image_decode(mid.p, mid.n, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EFORMAT);
    free(mid.p);

    /* exactly at the limit passes */
    const uint16_t s[6] = {0};
    bytes b = make_png(3, 2, 8, 0, 0, s, NULL, 0, NULL, 0);
    assert_int_equal(sk_image_decode(b.p, b.n, 1, 6, WHITE, &img, err, sizeof err), 0);
    sk_image_free(&img);
    assert_int_equal(sk_image_decode(b.p, b.n, 1, 5, WHITE, &img, err, sizeof err),
                     SK_ETOOLARGE);
    free(b.p);
}

/* ---- JPEG ------------------------------------------------------------- */

static bytes make_jpeg(const uint8_t *px, int w, int h, int pf, int subsamp, int quality,
                       int flags)
{
    tjhandle tj = tjInitCompress();
    assert_non_null(tj);
    unsigned char *jb = NULL;
    unsigned long jn = 0;
    if (tjCompress2(tj, px, w, 0, h, pf, &jb, &jn, subsamp, quality, flags) != 0)
        fail_msg("tjCompress2: %s", tjGetErrorStr2(tj));
    bytes b = {0};
    put(&b, jb, jn);
    tjFree(jb);
    tjDestroy(tj);
    return b;
}

/* TIFF integers in either byte order */
static void put16e(bytes *b, int le, unsigned v)
{
    put8(b, le ? v & 0xff : v >> 8);
    put8(b, le ? v >> 8 : v & 0xff);
}

static void put32e(bytes *b, int le, uint32_t v)
{
    put16e(b, le, le ? v & 0xffff : v >> 16);
    put16e(b, le, le ? v >> 16 : v & 0xffff);
}

/* Insert an APP1 EXIF segment holding only IFD0 / Orientation after SOI. */
static bytes with_exif(const bytes *j, int orientation, int little_endian)
{
    bytes t = {0}, out = {0};
    const int le = little_endian;
    put(&t, "Exif\0\0", 6);
    put(&t, le ? "II" : "MM", 2);
    put16e(&t, le, 42);
    put32e(&t, le, 8u);      /* IFD0 right after the header */
    put16e(&t, le, 2);       /* two entries: an unrelated tag first, then Orientation */
    put16e(&t, le, 0x010f);  /* Make, ASCII, count 4, inline "skp" */
    put16e(&t, le, 2);
    put32e(&t, le, 4u);
    put(&t, "skp", 4);
    put16e(&t, le, 0x0112);
    put16e(&t, le, 3);       /* SHORT */
    put32e(&t, le, 1u);
    put16e(&t, le, orientation);
    put16e(&t, le, 0);
    put32e(&t, le, 0u);      /* no next IFD */
    put(&out, j->p, 2); /* SOI */
    put8(&out, 0xff);
    put8(&out, 0xe1);
    put8(&out, (t.n + 2) >> 8);
    put8(&out, (t.n + 2) & 0xff);
    put(&out, t.p, t.n);
    put(&out, j->p + 2, j->n - 2);
    free(t.p);
    return out;
}

/* 32x16 RGB, quadrants A B / C D */
static const uint8_t QA[3] = {200, 30, 30}, QB[3] = {30, 200, 30}, QC[3] = {30, 30, 200},
                     QD[3] = {220, 220, 220};

static bytes quadrant_jpeg(void)
{
    enum { W = 32, H = 16 };
    uint8_t px[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *q = y < H / 2 ? (x < W / 2 ? QA : QB) : (x < W / 2 ? QC : QD);
            memcpy(px + 3 * (y * W + x), q, 3);
        }
    return make_jpeg(px, W, H, TJPF_RGB, TJSAMP_444, 100, 0);
}

static void expect_color_at(const sk_image *img, int x, int y, const uint8_t *want, int tol)
{
    const uint8_t *p = img->px + ((size_t)y * img->w + x) * img->c;
    for (int c = 0; c < img->c; c++)
        if (abs((int)p[c] - (int)want[c]) > tol)
            fail_msg("pixel (%d,%d) ch %d: got %d want %d", x, y, c, p[c], want[c]);
}

static void expect_quadrants(const sk_image *img, const uint8_t *tl, const uint8_t *tr,
                             const uint8_t *bl, const uint8_t *br)
{
    const int w = img->w, h = img->h;
    expect_color_at(img, w / 4, h / 4, tl, 6);
    expect_color_at(img, 3 * w / 4, h / 4, tr, 6);
    expect_color_at(img, w / 4, 3 * h / 4, bl, 6);
    expect_color_at(img, 3 * w / 4, 3 * h / 4, br, 6);
}

static void test_jpeg_rgb_gray_progressive(void **state)
{
    (void)state;
    bytes j = quadrant_jpeg();
    sk_image c = decode_ok(&j, 3, WHITE);
    assert_int_equal(c.w, 32);
    assert_int_equal(c.h, 16);
    expect_quadrants(&c, QA, QB, QC, QD);
    /* gray from colour: BT.601 luma of each quadrant colour, by hand:
     * A .299*200 + .587*30 + .114*30 = 80.83; B 132.13; C 49.43; D 220 */
    sk_image g = decode_ok(&j, 1, WHITE);
    const uint8_t ga[1] = {81}, gb[1] = {132}, gc[1] = {49}, gd[1] = {220};
    expect_quadrants(&g, ga, gb, gc, gd);
    sk_image_free(&c);
    sk_image_free(&g);
    free(j.p);

    /* progressive, 4:2:0 */
    enum { W = 32, H = 16 };
    uint8_t px[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            memcpy(px + 3 * (y * W + x), y < H / 2 ? (x < W / 2 ? QA : QB) : (x < W / 2 ? QC : QD),
                   3);
    bytes p = make_jpeg(px, W, H, TJPF_RGB, TJSAMP_420, 95, TJFLAG_PROGRESSIVE);
    /* a progressive file has several SOS markers; SOF2 marks it */
    int sof2 = 0;
    for (size_t i = 0; i + 1 < p.n; i++)
        sof2 |= p.p[i] == 0xff && p.p[i + 1] == 0xc2;
    assert_true(sof2);
    sk_image pc = decode_ok(&p, 3, WHITE);
    expect_quadrants(&pc, QA, QB, QC, QD);
    sk_image_free(&pc);
    free(p.p);

    /* grayscale JPEG, to gray and replicated to RGB */
    uint8_t gpx[16 * 16];
    for (int i = 0; i < 256; i++)
        gpx[i] = (i % 16) < 8 ? 40 : 210;
    bytes gj = make_jpeg(gpx, 16, 16, TJPF_GRAY, TJSAMP_GRAY, 100, 0);
    sk_image g1 = decode_ok(&gj, 1, WHITE), g3 = decode_ok(&gj, 3, WHITE);
    const uint8_t d40[3] = {40, 40, 40}, d210[3] = {210, 210, 210};
    expect_color_at(&g1, 3, 5, d40, 3);
    expect_color_at(&g1, 12, 5, d210, 3);
    expect_color_at(&g3, 3, 5, d40, 3);
    expect_color_at(&g3, 12, 5, d210, 3);
    sk_image_free(&g1);
    sk_image_free(&g3);
    free(gj.p);
}

static void test_jpeg_exif_orientation(void **state)
{
    (void)state;
    bytes j = quadrant_jpeg();
    /* Displayed quadrants for each EXIF orientation of stored [A B; C D]:
     * 2 mirror: [B A; D C]; 3 rotate 180: [D C; B A]; 4 flip: [C D; A B];
     * 5 transpose: [A C; B D]; 6 rotate 90 CW: [C A; D B];
     * 7 transverse: [D B; C A]; 8 rotate 90 CCW: [B D; A C]. */
    const uint8_t *want[9][4] = {
        {0},
        {QA, QB, QC, QD},
        {QB, QA, QD, QC},
        {QD, QC, QB, QA},
        {QC, QD, QA, QB},
        {QA, QC, QB, QD},
        {QC, QA, QD, QB},
        {QD, QB, QC, QA},
        {QB, QD, QA, QC},
    };
    for (int o = 1; o <= 8; o++) {
        for (int le = 0; le < 2; le++) {
            bytes e = with_exif(&j, o, le);
            sk_image img = decode_ok(&e, 3, WHITE);
            if (o >= 5) {
                assert_int_equal(img.w, 16);
                assert_int_equal(img.h, 32);
            } else {
                assert_int_equal(img.w, 32);
                assert_int_equal(img.h, 16);
            }
            expect_quadrants(&img, want[o][0], want[o][1], want[o][2], want[o][3]);
            sk_image_free(&img);
            free(e.p);
        }
    }
    /* orientation 6 in exact pixels: displayed (x, y) = stored (y, H-1-x) */
    bytes e6 = with_exif(&j, 6, 0);
    sk_image st = decode_ok(&j, 3, WHITE), r6 = decode_ok(&e6, 3, WHITE);
    for (int y = 0; y < r6.h; y++)
        for (int x = 0; x < r6.w; x++)
            assert_memory_equal(r6.px + 3 * (y * r6.w + x),
                                st.px + 3 * ((st.h - 1 - x) * st.w + y), 3);
    sk_image_free(&st);
    sk_image_free(&r6);
    free(e6.p);

    /* an invalid orientation value is ignored */
    bytes e9 = with_exif(&j, 9, 0);
    sk_image i9 = decode_ok(&e9, 3, WHITE);
    assert_int_equal(i9.w, 32);
    expect_quadrants(&i9, QA, QB, QC, QD);
    sk_image_free(&i9);
    free(e9.p);
    /* so is orientation 6 behind an IFD0 offset that points past the
     * segment (SOI, APP1 marker + length, "Exif\0\0", "MM", 42: byte 16) */
    bytes eb = with_exif(&j, 6, 0);
    const uint32_t offs[] = {0xf0u, 0x7f0000f0u, 0xfffffffeu, 0xffffffffu, 30u};
    for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
        eb.p[16] = (uint8_t)(offs[k] >> 24);
        eb.p[17] = (uint8_t)(offs[k] >> 16);
        eb.p[18] = (uint8_t)(offs[k] >> 8);
        eb.p[19] = (uint8_t)offs[k];
        sk_image ib = decode_ok(&eb, 3, WHITE);
        assert_int_equal(ib.w, 32);
        sk_image_free(&ib);
    }
    free(eb.p);
    free(j.p);
}

static void test_jpeg_cmyk(void **state)
{
    (void)state;
    /* TurboJPEG writes CMYK as YCCK with an Adobe APP14 marker, so (like
     * Photoshop files) the samples are inverted: 255 = no ink. Wanted inks:
     * left half pure red (C0 M255 Y255 K0), right half 50% black (K128). */
    enum { W = 16, H = 8 };
    uint8_t px[W * H * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = px + 4 * (y * W + x);
            const uint8_t red[4] = {255 - 0, 255 - 255, 255 - 255, 255 - 0};
            const uint8_t gray[4] = {255, 255, 255, 255 - 128};
            memcpy(p, x < W / 2 ? red : gray, 4);
        }
    bytes j = make_jpeg(px, W, H, TJPF_CMYK, TJSAMP_444, 100, 0);
    int adobe = 0;
    for (size_t i = 0; i + 5 < j.n; i++)
        adobe |= memcmp(j.p + i, "Adobe", 5) == 0;
    assert_true(adobe);
    sk_image c = decode_ok(&j, 3, WHITE);
    /* red: (255,0,0); K128: 255*127/255 = 127 each */
    const uint8_t red[3] = {255, 0, 0}, g127[3] = {127, 127, 127};
    expect_color_at(&c, 3, 4, red, 4);
    expect_color_at(&c, 12, 4, g127, 4);
    sk_image g = decode_ok(&j, 1, WHITE);
    const uint8_t lr[1] = {76}, lg[1] = {127};
    expect_color_at(&g, 3, 4, lr, 4);
    expect_color_at(&g, 12, 4, lg, 4);
    sk_image_free(&c);
    sk_image_free(&g);
    free(j.p);
}

static void test_jpeg_truncated(void **state)
{
    (void)state;
    bytes j = quadrant_jpeg();
    char err[256];
    sk_image img;
    size_t cuts[] = {2, 3, 20, 100, j.n / 3, j.n / 2, j.n - 40, j.n - 2, j.n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        err[0] = 0;
        int rc = sk_image_decode(j.p, cuts[i], 3, MAXPX, WHITE, &img, err, sizeof err);
        if (rc != SK_EFORMAT)
            fail_msg("cut at %zu of %zu: rc %d (%s)", cuts[i], j.n, rc, err);
        assert_null(img.px);
        if (cuts[i] >= 3 && !strstr(err, "truncated"))
            fail_msg("cut at %zu: message lacks 'truncated': %s", cuts[i], err);
    }
    /* A file whose scan data lost its middle but kept its EOI: libjpeg warns
     * "premature end of data segment"; that is a bad image too. */
    size_t sos = 0;
    for (size_t i = 2; i + 1 < j.n; i++)
        if (j.p[i] == 0xff && j.p[i + 1] == 0xda) {
            sos = i;
            break;
        }
    assert_true(sos > 0);
    size_t hdr = sos + 2 + ((size_t)j.p[sos + 2] << 8 | j.p[sos + 3]);
    bytes cut = {0};
    put(&cut, j.p, hdr + 10);
    put(&cut, j.p + j.n - 2, 2); /* FF D9 */
    err[0] = 0;
    assert_int_equal(sk_image_decode(cut.p, cut.n, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EFORMAT);
    assert_null(img.px);
    free(cut.p);
    /* garbage after SOI */
    const uint8_t junk[8] = {0xff, 0xd8, 0xff, 0x12, 0x34, 0x56, 0x78, 0x9a};
    assert_int_equal(sk_image_decode(junk, 8, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EFORMAT);
    free(j.p);
}

static void test_jpeg_too_large(void **state)
{
    (void)state;
    bytes j = quadrant_jpeg();
    /* SOF0: FF C0, length(2), precision(1), height(2), width(2) */
    size_t sof = 0;
    for (size_t i = 2; i + 9 < j.n; i++)
        if (j.p[i] == 0xff && j.p[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    assert_int_equal(j.p[sof + 5] << 8 | j.p[sof + 6], 16);
    assert_int_equal(j.p[sof + 7] << 8 | j.p[sof + 8], 32);
    j.p[sof + 5] = j.p[sof + 7] = 0xea; /* 60000 = 0xEA60 */
    j.p[sof + 6] = j.p[sof + 8] = 0x60;
    char err[256];
    sk_image img;
    double t0 = now_s();
    assert_int_equal(sk_image_decode(j.p, j.n, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_ETOOLARGE);
    assert_true(now_s() - t0 < 0.05);
    assert_null(img.px);
    assert_non_null(strstr(err, "60000x60000"));
    free(j.p);
}

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

/* ---- PIL cross-check -------------------------------------------------- */

static const char *PIL_SCRIPT =
    "import sys, os, io\n"
    "try:\n"
    "    from PIL import Image, ImageOps\n"
    "except Exception:\n"
    "    sys.exit(77)\n"
    "d = sys.argv[1]\n"
    "man = open(os.path.join(d, 'manifest.txt'), 'w')\n"
    "W, H = 37, 23\n"
    "rgb = Image.new('RGB', (W, H))\n"
    "rgba = Image.new('RGBA', (W, H))\n"
    "for y in range(H):\n"
    "    for x in range(W):\n"
    "        rgb.putpixel((x, y), ((x * 7) % 256, (y * 11) % 256, (x * y) % 256))\n"
    "        rgba.putpixel((x, y), ((x * 7) % 256, (y * 11) % 256, (x * y) % 256,\n"
    "                               (x * 13 + y * 5) % 256))\n"
    "def flat(im):\n"
    "    bg = Image.new('RGBA', im.size, (255, 255, 255, 255))\n"
    "    return Image.alpha_composite(bg, im.convert('RGBA')).convert('RGB')\n"
    "def case(name, im, fmt, expected, tol, **kw):\n"
    "    buf = io.BytesIO(); im.save(buf, fmt, **kw)\n"
    "    open(os.path.join(d, name + '.bin'), 'wb').write(buf.getvalue())\n"
    "    if callable(expected):\n"
    "        expected = expected(Image.open(io.BytesIO(buf.getvalue())))\n"
    "    c = 1 if expected.mode == 'L' else 3\n"
    "    open(os.path.join(d, name + '.raw'), 'wb').write(expected.tobytes())\n"
    "    man.write('%s %d %d %d %d\\n' % (name, expected.width, expected.height, c, tol))\n"
    "case('png_rgb', rgb, 'PNG', rgb, 0)\n"
    "case('png_rgb_gray', rgb, 'PNG', rgb.convert('L'), 1)\n"
    "case('png_rgba', rgba, 'PNG', flat(rgba), 1)\n"
    "case('png_la', rgba.convert('LA'), 'PNG', flat(rgba.convert('LA')).convert('L'), 1)\n"
    "pal = rgb.quantize(16)\n"
    "case('png_pal_trns', pal, 'PNG', lambda im: flat(im), 1, transparency=3)\n"
    "g16 = Image.new('I;16', (W, H))\n"
    "for y in range(H):\n"
    "    for x in range(W):\n"
    "        g16.putpixel((x, y), (x * 1777 + y * 523) % 65536)\n"
    "e16 = Image.new('L', (W, H))\n"
    "for y in range(H):\n"
    "    for x in range(W):\n"
    "        e16.putpixel((x, y), ((x * 1777 + y * 523) % 65536 + 128) // 257)\n"
    "case('png_gray16', g16, 'PNG', e16, 0)\n"
    "case('png_1bit', rgb.convert('1'), 'PNG', lambda im: im.convert('L'), 0)\n"
    "dec = lambda mode: (lambda im: im.convert(mode))\n"
    "case('jpg_rgb', rgb, 'JPEG', dec('RGB'), 2, quality=90)\n"
    "case('jpg_rgb_gray', rgb, 'JPEG', lambda im: im.convert('RGB').convert('L'), 3, quality=90)\n"
    "case('jpg_prog', rgb, 'JPEG', dec('RGB'), 2, quality=90, progressive=True)\n"
    "case('jpg_gray', rgb.convert('L'), 'JPEG', dec('L'), 1, quality=90)\n"
    "case('jpg_cmyk', rgb.convert('CMYK'), 'JPEG', dec('RGB'), 3, quality=95)\n"
    "for o in range(1, 9):\n"
    "    ex = Image.Exif(); ex[0x0112] = o\n"
    "    case('jpg_exif%d' % o, rgb, 'JPEG',\n"
    "         lambda im: ImageOps.exif_transpose(im).convert('RGB'), 2, quality=90,\n"
    "         exif=ex.tobytes())\n"
    "man.close()\n";

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    *n = fread(p, 1, (size_t)sz, f);
    fclose(f);
    return p;
}

static void test_pil_crosscheck(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0)
        skip();
    char dir[] = "/tmp/sk_test_image_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/gen.py", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(PIL_SCRIPT, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", path, dir);
    int st = system(cmd);
    if (st != 0) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) {
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
            skip();
        fail_msg("PIL generator failed (status %d)", st);
    }
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *man = fopen(path, "r");
    assert_non_null(man);
    char name[64];
    int w, h, c, tol, ncases = 0;
    while (fscanf(man, "%63s %d %d %d %d", name, &w, &h, &c, &tol) == 5) {
        size_t n, rn;
        snprintf(path, sizeof path, "%s/%s.bin", dir, name);
        uint8_t *data = slurp(path, &n);
        snprintf(path, sizeof path, "%s/%s.raw", dir, name);
        uint8_t *want = slurp(path, &rn);
        assert_non_null(data);
        assert_non_null(want);
        assert_int_equal(rn, (size_t)w * h * c);
        sk_image img;
        char err[256];
        int rc = sk_image_decode(data, n, c, MAXPX, WHITE, &img, err, sizeof err);
        if (rc)
            fail_msg("%s: decode failed: %s", name, err);
        if (img.w != w || img.h != h)
            fail_msg("%s: got %dx%d want %dx%d", name, img.w, img.h, w, h);
        int worst = 0;
        for (size_t i = 0; i < rn; i++) {
            int d = abs((int)img.px[i] - (int)want[i]);
            worst = d > worst ? d : worst;
        }
        if (worst > tol)
            fail_msg("%s: max abs difference %d > %d", name, worst, tol);
        sk_image_free(&img);
        free(data);
        free(want);
        ncases++;
    }
    fclose(man);
    assert_int_equal(ncases, 20);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_png_gray8),
        cmocka_unit_test(test_png_gray_low_depths),
        cmocka_unit_test(test_png_gray16),
        cmocka_unit_test(test_png_gray_alpha),
        cmocka_unit_test(test_png_rgb_and_luma),
        cmocka_unit_test(test_png_rgba),
        cmocka_unit_test(test_png_palette_trns),
        cmocka_unit_test(test_png_trns_gray_rgb),
        cmocka_unit_test(test_png_interlaced),
        cmocka_unit_test(test_png_truncated),
        cmocka_unit_test(test_png_corrupt),
        cmocka_unit_test(test_png_too_large),
        cmocka_unit_test(test_jpeg_rgb_gray_progressive),
        cmocka_unit_test(test_jpeg_exif_orientation),
        cmocka_unit_test(test_jpeg_cmyk),
        cmocka_unit_test(test_jpeg_truncated),
        cmocka_unit_test(test_jpeg_too_large),
        cmocka_unit_test(test_resize_constant),
        cmocka_unit_test(test_resize_area_and_bilinear),
        cmocka_unit_test(test_tensor_normalize),
        cmocka_unit_test(test_tensor_letterbox),
        cmocka_unit_test(test_tensor_center_crop),
        cmocka_unit_test(test_encode_palette),
        cmocka_unit_test(test_encode_rgb_gray),
        cmocka_unit_test(test_palette_overlay_mask_resize),
        cmocka_unit_test(test_pil_crosscheck),
    };
    return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
