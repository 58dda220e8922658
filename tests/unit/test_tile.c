/* test_tile.c — server/tile.c, the tiler of tiled segmentation, with a
 * stand-in "network" computed here: every tile the tiler hands out is run
 * through a per-pixel function of the preprocessed input, and the assembled
 * mask is compared with the same function applied to the whole image at
 * once (the independent reference: no tiles, no windows). A second stand-in
 * also corrupts each tile's outermost pixels (what zero padding does to a
 * real network's border outputs); the window must hide them wherever a
 * neighbouring tile saw those pixels from inside. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "server/tile.c"

enum { K = 3 };

/* logits of class c for input value v (v = pixel / 255) */
static float logit(int c, float v)
{
    return c == 0 ? 1.0f - 3.0f * v : c == 1 ? 0.2f : 4.0f * v - 2.6f;
}

static int ref_class(uint8_t px)
{
    float v = px / 255.0f;
    int best = 0;
    for (int c = 1; c < K; c++)
        if (logit(c, v) > logit(best, v))
            best = c;
    return best;
}

/* the stand-in network on n tiles of tw x th; `bad_edge`: the outermost
 * pixels of every tile say class 1 loudly */
static void run_tiles(const float *in, float *out, int n, int tw, int th, int bad_edge)
{
    for (int i = 0; i < n; i++)
        for (int y = 0; y < th; y++)
            for (int x = 0; x < tw; x++) {
                float v = in[(size_t)i * tw * th + (size_t)y * tw + x];
                int edge = x == 0 || y == 0 || x == tw - 1 || y == th - 1;
                for (int c = 0; c < K; c++)
                    out[(((size_t)i * K + c) * th + y) * tw + x] =
                        bad_edge && edge ? (c == 1 ? 50.0f : -50.0f) : logit(c, v);
            }
}

static sk_image random_image(int w, int h, unsigned seed)
{
    sk_image im = {w, h, 1, malloc((size_t)w * h)};
    srand(seed);
    /* blocks of values away from the class thresholds, so a float's last
     * bit never decides the reference */
    static const uint8_t levels[] = {10, 60, 120, 160, 200, 250};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            im.px[(size_t)y * w + x] = levels[((x / 7) * 31 + (y / 5) * 17 + rand() % 2) % 6];
    return im;
}

static uint8_t *tiled_mask(const sk_image *im, int tw, int th, int overlap, srv_window win,
                           int batch, int bad_edge)
{
    sk_preprocess pp = {.width = tw, .height = th, .channels = 1, .scale = 1.0f / 255,
                        .std = {1, 1, 1}};
    char err[128];
    srv_tiler *t = srv_tiler_new(im, &pp, K, overlap, win, err, sizeof err);
    assert_non_null(t);
    float *in = malloc((size_t)batch * tw * th * sizeof *in);
    float *out = malloc((size_t)batch * K * tw * th * sizeof *out);
    int n, seen = 0;
    while ((n = srv_tiler_fill(t, in, batch, err, sizeof err)) > 0) {
        assert_null(srv_tiler_mask(t)); /* not before the last tile */
        run_tiles(in, out, n, tw, th, bad_edge);
        srv_tiler_take(t, out, n);
        seen += n;
    }
    assert_int_equal(n, 0);
    assert_int_equal(seen, srv_tiler_total(t));
    uint8_t *m = srv_tiler_mask(t);
    assert_non_null(m);
    free(in);
    free(out);
    srv_tiler_free(t);
    return m;
}

static void test_positions(void **state)
{
    (void)state;
    int pos[64];
    assert_int_equal(srv_tile_positions(100, 128, 32, pos), 1);
    assert_int_equal(pos[0], 0);
    assert_int_equal(srv_tile_positions(128, 128, 32, pos), 1);
    /* 300 with 128-tiles overlapping by >= 32: ceil((300-32)/96) = 3 */
    assert_int_equal(srv_tile_positions(300, 128, 32, pos), 3);
    assert_int_equal(pos[0], 0);
    assert_int_equal(pos[2], 300 - 128);
    for (int len = 129; len < 2000; len += 37)
        for (int ov = 0; ov <= 64; ov += 16) {
            int n = srv_tile_positions(len, 128, ov, pos);
            assert_true(n >= 2 && n <= 64);
            assert_int_equal(pos[0], 0);
            assert_int_equal(pos[n - 1], len - 128);
            for (int i = 1; i < n; i++) {
                assert_true(pos[i - 1] + 128 - pos[i] >= ov); /* overlap kept */
                assert_true(pos[i] > pos[i - 1]);
            }
            /* and no more tiles than needed */
            assert_true(n == 2 || (n - 2) * (128 - ov) + 128 < len);
        }
}

static void check_against_reference(int w, int h, int tw, int th, int ov, srv_window win, int batch)
{
    sk_image im = random_image(w, h, (unsigned)(w * 31 + h));
    uint8_t *m = tiled_mask(&im, tw, th, ov, win, batch, 0);
    size_t bad = 0;
    for (size_t i = 0; i < (size_t)w * h; i++)
        bad += m[i] != ref_class(im.px[i]);
    if (bad)
        fail_msg("%dx%d tiles %dx%d overlap %d window %d batch %d: %zu pixels differ", w, h, tw,
                 th, ov, win, batch, bad);
    free(m);
    free(im.px);
}

static void test_per_pixel(void **state)
{
    (void)state;
    check_against_reference(301, 250, 64, 48, 16, SRV_WINDOW_LINEAR, 7);
    check_against_reference(301, 250, 64, 48, 16, SRV_WINDOW_COSINE, 1);
    check_against_reference(64, 48, 64, 48, 8, SRV_WINDOW_LINEAR, 4);  /* one tile */
    check_against_reference(500, 30, 64, 48, 20, SRV_WINDOW_LINEAR, 5); /* shorter than a tile */
    check_against_reference(20, 333, 64, 48, 0, SRV_WINDOW_COSINE, 3);  /* narrower, no overlap */
    check_against_reference(1000, 97, 32, 32, 2, SRV_WINDOW_LINEAR, 64);
}

/* Each tile's border pixels lie; where a neighbour saw them from inside the
 * window gives the liar no weight, so only the image's own border keeps
 * the corrupted class. */
static void test_edges_hidden(void **state)
{
    (void)state;
    int w = 400, h = 260, tw = 64, th = 64;
    for (int win = 0; win < 2; win++) {
        sk_image im = random_image(w, h, 5);
        uint8_t *m = tiled_mask(&im, tw, th, 16, (srv_window)win, 9, 1);
        size_t bad = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int border = x == 0 || y == 0 || x == w - 1 || y == h - 1;
                int want = border ? 1 : ref_class(im.px[(size_t)y * w + x]);
                bad += m[(size_t)y * w + x] != want;
            }
        assert_int_equal(bad, 0);
        free(m);
        free(im.px);
    }
}

static void test_bad_arguments(void **state)
{
    (void)state;
    sk_image im = random_image(100, 100, 1);
    sk_preprocess pp = {.width = 32, .height = 32, .channels = 1, .scale = 1, .std = {1, 1, 1}};
    char err[128];
    assert_null(srv_tiler_new(&im, &pp, K, 17, SRV_WINDOW_LINEAR, err, sizeof err));
    assert_non_null(strstr(err, "0..16"));
    assert_null(srv_tiler_new(&im, &pp, K, -1, SRV_WINDOW_LINEAR, err, sizeof err));
    assert_null(srv_tiler_new(&im, &pp, 0, 8, SRV_WINDOW_LINEAR, err, sizeof err));
    assert_null(srv_tiler_new(&im, &pp, 257, 8, SRV_WINDOW_LINEAR, err, sizeof err));
    assert_int_equal(srv_window_parse("cosine"), SRV_WINDOW_COSINE);
    assert_int_equal(srv_window_parse("linear"), SRV_WINDOW_LINEAR);
    assert_int_equal(srv_window_parse("hann"), -1);
    free(im.px);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_per_pixel),
        cmocka_unit_test(test_edges_hidden),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
