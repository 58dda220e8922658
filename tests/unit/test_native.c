/* test_native.c — native-size segmentation's pieces, included from
 * server/: the geometry (native.c: rounding, the zero-padded tensor, the
 * cropped argmax) against formulas written out here, and the plan cache
 * (plancache.c) on a small graph with symbolic H and W: LRU order, the
 * count and byte bounds, pinned plans never evicted, the counters and the
 * gauges (a stand-in for the server's metrics) back to zero when freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "server/native.c"
#include "server/plancache.c"

/* --- the metrics stand-in: what plancache.c reports ---------------------- */
static long g_hits, g_misses, g_evicted, g_plans;
static double g_bytes;
void srv_metrics_plan_cache(const char *model, int hit, int miss, int evicted, int dplans,
                            double dbytes)
{
    assert_string_equal(model, "m");
    g_hits += hit;
    g_misses += miss;
    g_evicted += evicted;
    g_plans += dplans;
    g_bytes += dbytes;
}

static void test_round(void **state)
{
    (void)state;
    assert_int_equal(srv_native_round(1, 32), 32);
    assert_int_equal(srv_native_round(32, 32), 32);
    assert_int_equal(srv_native_round(33, 32), 64);
    assert_int_equal(srv_native_round(7, 1), 7);
    assert_int_equal(srv_native_round(7, 0), 7); /* no multiple: itself */
    assert_int_equal(srv_native_round(65535, 8), 65536);
}

/* Every element of the padded tensor: (px * scale - mean) / std inside the
 * picture, 0 outside, channel by channel (the in-place spread must not
 * clobber a row it has not moved yet). */
static void check_tensor(int C, int w, int h, int W, int H)
{
    sk_image im = {w, h, C, malloc((size_t)w * h * C)};
    for (size_t i = 0; i < (size_t)w * h * C; i++)
        im.px[i] = (uint8_t)(i * 37 + i / 7);
    sk_preprocess pp = {.width = 5, .height = 9, /* ignored: the picture's own size is used */
                        .channels = C, .resize = SK_RESIZE_LETTERBOX, .scale = 1 / 255.0f,
                        .mean = {0.5f, 0.25f, 0.75f}, .std = {0.25f, 0.5f, 2.0f}};
    float *t = malloc((size_t)C * H * W * sizeof *t);
    for (size_t i = 0; i < (size_t)C * H * W; i++)
        t[i] = 12345.0f; /* whatever malloc gave: every element must be written */
    char err[128];
    assert_int_equal(srv_native_tensor(&im, &pp, H, W, t, err, sizeof err), 0);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                float want = 0.0f;
                if (x < w && y < h)
                    want = (im.px[((size_t)y * w + x) * C + c] / 255.0f - pp.mean[c]) / pp.std[c];
                float got = t[((size_t)c * H + y) * W + x];
                if (!(got == want || (want != 0 && got > want - 1e-5f && got < want + 1e-5f)))
                    fail_msg("C%d %dx%d in %dx%d: [%d,%d,%d] = %g, want %g", C, w, h, W, H, c, y,
                             x, got, want);
            }
    free(t);
    free(im.px);
}

static void test_tensor(void **state)
{
    (void)state;
    check_tensor(1, 37, 23, 64, 32);
    check_tensor(3, 37, 23, 64, 32);
    check_tensor(3, 1, 1, 32, 32);
    check_tensor(3, 64, 32, 64, 32); /* already a multiple: no padding */
    check_tensor(1, 5, 40, 8, 40);   /* width padded only */
    sk_image im = {40, 10, 1, calloc(400, 1)};
    sk_preprocess pp = {.channels = 1, .scale = 1, .std = {1, 1, 1}};
    float t[64 * 64];
    char err[128];
    assert_int_not_equal(srv_native_tensor(&im, &pp, 8, 32, t, err, sizeof err), 0);
    assert_non_null(strstr(err, "does not fit"));
    free(im.px);
}

/* The cropped argmax: logits of a 64x32 input (full size, or a quarter-size
 * output read at the nearest position) for a 37x23 picture. */
static void test_mask(void **state)
{
    (void)state;
    enum { K = 4, W = 64, H = 32, w = 37, h = 23 };
    for (int div = 1; div <= 4; div *= 4) {
        int ow = W / div, oh = H / div;
        float *lg = malloc((size_t)K * oh * ow * sizeof *lg);
        for (int i = 0; i < K * oh * ow; i++)
            lg[i] = (float)((i * 7919) % 1000) / 10.0f; /* ties possible: first one wins */
        uint8_t *m = srv_native_mask(lg, K, oh, ow, H, W, w, h);
        assert_non_null(m);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int oy = y / div, ox = x / div, best = 0;
                for (int k = 1; k < K; k++)
                    if (lg[((size_t)k * oh + oy) * ow + ox] > lg[((size_t)best * oh + oy) * ow + ox])
                        best = k;
                assert_int_equal(m[y * w + x], best);
            }
        free(m);
        free(lg);
    }
}

/* y = -x over [1, 1, H, W], H and W symbolic: a plan per shape, its arena
 * about 8 bytes a pixel. */
static sk_graph *neg_graph(void)
{
    sk_graph *g = sk_graph_new();
    int x = sk_graph_value(g, "x"), y = sk_graph_value(g, "y");
    g->values[x].dtype = SK_F32;
    g->values[x].shape = (sk_shape){4, {1, 1, SK_DIM_SYMBOLIC, SK_DIM_SYMBOLIC}};
    sk_graph_add_input(g, x);
    sk_graph_add_node(g, SK_OP_NEG, "neg", 1, &x, 1, &y);
    sk_graph_add_output(g, y);
    char err[128];
    assert_int_equal(sk_graph_validate(g, err, sizeof err), 0);
    return g;
}

static sk_plan *get(srv_plan_cache *c, const sk_graph *g, int h, int w)
{
    char err[256];
    sk_plan *p = srv_plan_cache_get(c, g, NULL, 1, h, w, err, sizeof err);
    if (!p)
        fail_msg("%dx%d: %s", w, h, err);
    /* the plan is the shape asked for, and runs */
    const sk_tensor *in = sk_plan_input(p, 0);
    assert_int_equal(in->shape.dim[2], h);
    assert_int_equal(in->shape.dim[3], w);
    float *x = malloc((size_t)h * w * sizeof *x);
    for (int i = 0; i < h * w; i++)
        x[i] = (float)i;
    const void *ins[1] = {x};
    assert_int_equal(sk_plan_run(p, ins, err, sizeof err), 0);
    const float *y = sk_plan_output(p, 0)->data;
    assert_true(y[h * w - 1] == -(float)(h * w - 1));
    free(x);
    return p;
}

static void reset(void) { g_hits = g_misses = g_evicted = g_plans = 0, g_bytes = 0; }

static void stats_are(srv_plan_cache *c, long hits, long misses, long evictions, int plans)
{
    srv_plan_cache_stats s;
    srv_plan_cache_stats_get(c, &s);
    assert_int_equal(s.hits, hits);
    assert_int_equal(s.misses, misses);
    assert_int_equal(s.evictions, evictions);
    assert_int_equal(s.plans, plans);
    /* the metrics saw the same */
    assert_int_equal(g_hits, hits);
    assert_int_equal(g_misses, misses);
    assert_int_equal(g_evicted, evictions);
    assert_int_equal(g_plans, plans);
    assert_true(g_bytes == (double)s.bytes);
}

static void test_lru(void **state)
{
    (void)state;
    reset();
    sk_graph *g = neg_graph();
    srv_plan_cache *c = srv_plan_cache_new("m", 2, 0);
    sk_plan *a = get(c, g, 8, 8);
    srv_plan_cache_release(c, a);
    sk_plan *b = get(c, g, 8, 16);
    srv_plan_cache_release(c, b);
    stats_are(c, 0, 2, 0, 2);
    assert_ptr_equal(get(c, g, 8, 8), a); /* a hit: a is now the most recent */
    srv_plan_cache_release(c, a);
    sk_plan *d = get(c, g, 16, 16); /* evicts b, the least recent */
    srv_plan_cache_release(c, d);
    stats_are(c, 1, 3, 1, 2);
    assert_ptr_equal(get(c, g, 8, 8), a); /* still held */
    srv_plan_cache_release(c, a);
    b = get(c, g, 8, 16); /* b again: a miss, evicts d (a was used since) */
    stats_are(c, 2, 4, 2, 2);
    srv_plan_cache_release(c, NULL); /* not a plan of the cache: ignored */
    srv_plan_cache_release(c, b);
    stats_are(c, 2, 4, 2, 2);
    srv_plan_cache_free(c);
    assert_int_equal(g_plans, 0);
    assert_true(g_bytes == 0);
    sk_graph_free(g);
}

/* The bug this guards against: a plan being run evicted (freed) by another
 * shape's insertion. */
static void test_pinned(void **state)
{
    (void)state;
    reset();
    sk_graph *g = neg_graph();
    srv_plan_cache *c = srv_plan_cache_new("m", 1, 0);
    sk_plan *a = get(c, g, 8, 8);   /* pinned */
    sk_plan *b = get(c, g, 16, 8);  /* over the bound, but both are pinned */
    sk_plan *d = get(c, g, 24, 8);  /* the array grows past max_plans + 1 */
    stats_are(c, 0, 3, 0, 3);
    srv_plan_cache_release(c, a); /* a goes now: over the bound and unpinned */
    stats_are(c, 0, 3, 1, 2);
    char err[256];
    float x[16 * 8] = {1};
    const void *ins[1] = {x};
    assert_int_equal(sk_plan_run(b, ins, err, sizeof err), 0); /* b was never freed */
    assert_true(((const float *)sk_plan_output(b, 0)->data)[0] == -1.0f);
    srv_plan_cache_release(c, d);
    stats_are(c, 0, 3, 2, 1);
    srv_plan_cache_release(c, b); /* one held, the bound: it stays */
    stats_are(c, 0, 3, 2, 1);
    srv_plan_cache_free(c);
    assert_int_equal(g_plans, 0);
    sk_graph_free(g);
}

static void test_bytes(void **state)
{
    (void)state;
    reset();
    sk_graph *g = neg_graph();
    /* 64 KiB: an 8x8 plan fits several times, a 128x128 one (2 x 64 KiB of
     * floats) does not fit at all */
    srv_plan_cache *c = srv_plan_cache_new("m", 8, 65536);
    sk_plan *a = get(c, g, 8, 8);
    srv_plan_cache_release(c, a);
    sk_plan *big = get(c, g, 128, 128);
    srv_plan_cache_stats s;
    srv_plan_cache_stats_get(c, &s);
    assert_true(s.bytes > 65536); /* held while pinned */
    srv_plan_cache_release(c, big); /* then evicted; the small one goes first (older) */
    srv_plan_cache_stats_get(c, &s);
    assert_true(s.bytes <= 65536);
    assert_int_equal(s.plans, 0);
    assert_int_equal(s.evictions, 2);
    a = get(c, g, 8, 8);
    srv_plan_cache_release(c, a);
    srv_plan_cache_stats_get(c, &s);
    assert_int_equal(s.plans, 1);
    assert_true(s.bytes > 0 && s.bytes <= 65536);
    srv_plan_cache_free(c);
    assert_true(g_bytes == 0);
    sk_graph_free(g);
}

static void test_bad_shape(void **state)
{
    (void)state;
    reset();
    sk_graph *g = neg_graph();
    srv_plan_cache *c = srv_plan_cache_new("m", 2, 0);
    char err[256] = "";
    /* 3 channels for a 1-channel input: the engine refuses; nothing is held */
    assert_null(srv_plan_cache_get(c, g, NULL, 3, 8, 8, err, sizeof err));
    assert_true(err[0] != '\0');
    stats_are(c, 0, 1, 0, 0);
    srv_plan_cache_free(c);
    sk_graph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round),  cmocka_unit_test(test_tensor),
        cmocka_unit_test(test_mask),   cmocka_unit_test(test_lru),
        cmocka_unit_test(test_pinned), cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_bad_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
