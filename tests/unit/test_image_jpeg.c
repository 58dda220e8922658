/* test_image_jpeg.c — JPEG decoding (image_jpeg.c, exif.c), and a
 * cross-check of both decoders against PIL.
 *
 * JPEG inputs come from TurboJPEG's compressor, with EXIF APP1 segments and
 * hostile SOF sizes spliced in by hand; expected colours and pixel positions
 * are derived by hand. The PIL cross-check decodes files written by PIL
 * (/usr/bin/python3) and compares with PIL's own decode, alpha compositing
 * and EXIF transpose; it is skipped when python3-pil is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "tests/unit/image_testutil.h"

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

/* ---- header probe (image_probe.c) ------------------------------------- */

/* Offset of the first marker m after SOI, found by stepping over segment
 * lengths (TurboJPEG writes no stray bytes): an independent walk. */
static size_t find_marker(const bytes *j, uint8_t m)
{
    size_t i = 2;
    while (i + 4 <= j->n && j->p[i] == 0xff) {
        if (j->p[i + 1] == m)
            return i;
        i += 2 + ((size_t)j->p[i + 2] << 8 | j->p[i + 3]);
    }
    fail_msg("marker %02x not found", m);
    return 0;
}

/* Size and coefficient bytes from the header alone: baseline with one
 * interleaved scan needs no coefficient buffer; progressive needs
 * ceil32(w) * ceil32(h) * 2 bytes * components; cut files say what their
 * header says, and nothing before the frame header. */
static void test_image_probe(void **state)
{
    (void)state;
    enum { W = 37, H = 23 };
    uint8_t px[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        px[i] = (uint8_t)(i * 7);
    uint32_t w = 0, h = 0;
    size_t coef = 1;
    bytes b = make_jpeg(px, W, H, TJPF_RGB, TJSAMP_420, 90, 0);
    assert_int_equal(sk_image_probe(b.p, b.n, &w, &h, &coef), 0);
    assert_int_equal(w, W);
    assert_int_equal(h, H);
    assert_int_equal(coef, 0);
    assert_int_equal(sk_image_probe(b.p, b.n, &w, &h, NULL), 0); /* coef optional */
    /* EXIF in front of the tables: the walk steps over it */
    bytes e = with_exif(&b, 6, 1);
    coef = 1;
    assert_int_equal(sk_image_probe(e.p, e.n, &w, &h, &coef), 0);
    assert_int_equal(w, W);
    assert_int_equal(coef, 0);
    free(e.p);
    /* every cut: -1 until the frame header's 6 bytes are in; then the size,
     * with a coefficient buffer assumed until the scan header's Ns is in */
    const size_t sof = find_marker(&b, 0xc0), sos = find_marker(&b, 0xda);
    const size_t full = (size_t)64 * 32 * 2 * 3;
    for (size_t cut = 0; cut <= sos + 6; cut++) {
        coef = 7;
        int rc = sk_image_probe(b.p, cut, &w, &h, &coef);
        if (cut < sof + 10) {
            if (rc != -1)
                fail_msg("cut at %zu (SOF at %zu): rc %d", cut, sof, rc);
            continue;
        }
        if (rc != 0 || w != W || h != H)
            fail_msg("cut at %zu: rc %d, %ux%u", cut, rc, w, h);
        if (coef != (cut < sos + 5 ? full : 0))
            fail_msg("cut at %zu (SOS at %zu): coef %zu", cut, sos, coef);
    }
    free(b.p);
    /* progressive: the whole image's coefficients */
    b = make_jpeg(px, W, H, TJPF_RGB, TJSAMP_420, 90, TJFLAG_PROGRESSIVE);
    assert_int_equal(sk_image_probe(b.p, b.n, &w, &h, &coef), 0);
    assert_int_equal(w, W);
    assert_int_equal(h, H);
    assert_int_equal(coef, full);
    free(b.p);
    /* grayscale baseline: one component, one scan */
    b = make_jpeg(px, W, H, TJPF_GRAY, TJSAMP_GRAY, 90, 0);
    coef = 1;
    assert_int_equal(sk_image_probe(b.p, b.n, &w, &h, &coef), 0);
    assert_int_equal(coef, 0);
    /* a zero height (set later by DNL) does not say */
    size_t f = find_marker(&b, 0xc0);
    b.p[f + 5] = b.p[f + 6] = 0;
    assert_int_equal(sk_image_probe(b.p, b.n, &w, &h, &coef), -1);
    free(b.p);
    /* PNG: IHDR */
    sk_image img = {W, H, 3, px};
    uint8_t *png = NULL;
    size_t pn = 0;
    assert_int_equal(sk_png_encode(&img, &png, &pn), 0);
    coef = 1;
    w = h = 0;
    assert_int_equal(sk_image_probe(png, pn, &w, &h, &coef), 0);
    assert_int_equal(w, W);
    assert_int_equal(h, H);
    assert_int_equal(coef, 0);
    assert_int_equal(sk_image_probe(png, 23, &w, &h, &coef), -1);
    free(png);
    assert_int_equal(sk_image_probe((const uint8_t *)"GIF89a....", 10, &w, &h, &coef), -1);
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
        cmocka_unit_test(test_jpeg_rgb_gray_progressive),
        cmocka_unit_test(test_jpeg_exif_orientation),
        cmocka_unit_test(test_jpeg_cmyk),
        cmocka_unit_test(test_jpeg_truncated),
        cmocka_unit_test(test_jpeg_too_large),
        cmocka_unit_test(test_image_probe),
        cmocka_unit_test(test_pil_crosscheck),
    };
    return cmocka_run_group_tests_name("image_jpeg", tests, NULL, NULL);
}
