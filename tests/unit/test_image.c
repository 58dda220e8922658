/* test_image.c — PNG decoding (image_png.c, image_decode.c).
 *
 * The PNG inputs are assembled byte by byte here (own CRC-32, Adler-32,
 * stored deflate blocks, Adam7 pass layout), so neither libpng's encoder nor
 * ours is the reference; expected pixels are derived by hand in comments.
 * JPEG: test_image_jpeg.c; resize/tensor/encode: test_image_ops.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/image_testutil.h"

static const uint8_t BLACK[3] = {0, 0, 0};

/* ---- PNG assembled by hand ------------------------------------------- */

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

    /* rounding, not truncation: 10 at alpha 200 over 0 -> 2000/255 = 7.84 -> 8;
     * over 255 -> (2000 + 255*55)/255 = 62.84 -> 63 */
    const uint16_t sr[2] = {10, 200};
    bytes br = make_png(1, 1, 8, 4, 0, sr, NULL, 0, NULL, 0);
    sk_image r0 = decode_ok(&br, 1, BLACK), r1 = decode_ok(&br, 1, WHITE);
    assert_int_equal(r0.px[0], 8);
    assert_int_equal(r1.px[0], 63);
    sk_image_free(&r0);
    sk_image_free(&r1);
    free(br.p);

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
    /* the whole file decodes, and so does one that lost only its IEND
     * chunk (documented: every pixel is there) */
    sk_image ok = decode_ok(&b, 3, WHITE);
    sk_image_free(&ok);
    bytes noend = {b.p, b.n - 12, b.n};
    ok = decode_ok(&noend, 3, WHITE);
    sk_image_free(&ok);
    /* but a cut inside the last IDAT's CRC is truncation */
    assert_int_equal(sk_image_decode(b.p, b.n - 14, 3, MAXPX, WHITE, &img, err, sizeof err),
                     SK_EFORMAT);
    assert_non_null(strstr(err, "truncated"));
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
    };
    return cmocka_run_group_tests_name("image_png", tests, NULL, NULL);
}
