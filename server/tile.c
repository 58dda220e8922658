/* tile.c — see tile.h. The blend: each tile's logits are multiplied by a
 * window w(x, y) = wx(x) * wy(y) and summed; the mask is the argmax of the
 * sum (dividing by the sum of weights would not change an argmax, so it is
 * never computed). Along a side that meets a neighbouring tile the window
 * ramps from 0 at the tile's edge to 1 across the overlap (linearly, or as
 * half a cosine); along a side on the image's border it stays 1. So the
 * tile's outermost pixels — the ones the network computed from its own zero
 * padding rather than from the picture — count for nothing wherever another
 * tile saw them from inside, and two ramps over an overlap of L pixels sum
 * to (L-1)/L or more (never 0, for L >= 2: every pixel keeps a weight). */
#include "server/tile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct srv_tiler {
    const sk_image *img;
    sk_preprocess pp; /* stretch to the tile's own size: identity */
    int K, W, H, tw, th;
    int nx, ny, *xs, *ys;
    float *wcol, *wrow; /* nx x tw, ny x th window factors */
    float *band;        /* K x th x W logits of rows band_y0 .. band_y0 + th - 1 */
    int band_y0;
    uint8_t *mask;      /* W x H */
    int next, taken, last_fill;
    sk_image tile;      /* one tile's pixels, edges replicated past the image */
};

int srv_window_parse(const char *s)
{
    if (strcmp(s, "linear") == 0)
        return SRV_WINDOW_LINEAR;
    if (strcmp(s, "cosine") == 0)
        return SRV_WINDOW_COSINE;
    return -1;
}

int srv_tile_positions(int len, int t, int overlap, int *pos)
{
    if (len <= t || t <= overlap) {
        if (pos)
            pos[0] = 0;
        return 1;
    }
    int n = (len - overlap + (t - overlap) - 1) / (t - overlap);
    if (n < 2)
        n = 2;
    for (int i = 0; pos && i < n; i++)
        pos[i] = (int)((int64_t)i * (len - t) / (n - 1)); /* exact ends: 0 and len - t */
    return n;
}

/* 0 at the edge pixel (i = 0), 1 from i = L on. */
static float ramp(int i, int L, srv_window win)
{
    if (i >= L)
        return 1.0f;
    double u = (double)i / L;
    return (float)(win == SRV_WINDOW_COSINE ? 0.5 - 0.5 * cos(M_PI * u) : u);
}

/* Window factors of each tile along one side. */
static void side_weights(const int *pos, int n, int t, srv_window win, float *w)
{
    for (int k = 0; k < n; k++) {
        int lo = k > 0 ? pos[k - 1] + t - pos[k] : 0;     /* overlap with the previous */
        int hi = k < n - 1 ? pos[k] + t - pos[k + 1] : 0; /* with the next */
        for (int i = 0; i < t; i++) {
            float v = 1.0f;
            if (lo >= 2)
                v *= ramp(i, lo, win);
            if (hi >= 2)
                v *= ramp(t - 1 - i, hi, win);
            w[(size_t)k * t + i] = v;
        }
    }
}

size_t srv_tiler_bytes(int w, int h, const sk_preprocess *pp, int nclasses)
{
    size_t tw = (size_t)pp->width, th = (size_t)pp->height;
    return (size_t)w * h + (size_t)nclasses * w * th * sizeof(float) +
           ((size_t)w + h + tw + th) * (sizeof(float) + sizeof(int)) * 2 + tw * th * 3 + 4096;
}

void srv_tiler_free(srv_tiler *t)
{
    if (!t)
        return;
    free(t->xs);
    free(t->ys);
    free(t->wcol);
    free(t->wrow);
    free(t->band);
    free(t->mask);
    free(t->tile.px);
    free(t);
}

srv_tiler *srv_tiler_new(const sk_image *img, const sk_preprocess *pp, int nclasses, int overlap,
                         srv_window window, char *err, size_t errlen)
{
    if (!img || !img->px || img->w < 1 || img->h < 1 || nclasses < 1 || nclasses > 256 ||
        pp->width < 2 || pp->height < 2) {
        snprintf(err, errlen, "tiling: bad image, class count or tile size");
        return NULL;
    }
    int tmin = pp->width < pp->height ? pp->width : pp->height;
    if (overlap < 0 || overlap > tmin / 2) {
        snprintf(err, errlen, "tile overlap must be 0..%d (half the model's %dx%d input)",
                 tmin / 2, pp->width, pp->height);
        return NULL;
    }
    srv_tiler *t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    t->img = img;
    t->pp = *pp;
    t->pp.resize = SK_RESIZE_STRETCH;
    t->K = nclasses;
    t->W = img->w;
    t->H = img->h;
    t->tw = pp->width;
    t->th = pp->height;
    t->nx = srv_tile_positions(t->W, t->tw, overlap, NULL);
    t->ny = srv_tile_positions(t->H, t->th, overlap, NULL);
    t->xs = malloc((size_t)t->nx * sizeof *t->xs);
    t->ys = malloc((size_t)t->ny * sizeof *t->ys);
    t->wcol = malloc((size_t)t->nx * t->tw * sizeof *t->wcol);
    t->wrow = malloc((size_t)t->ny * t->th * sizeof *t->wrow);
    t->band = calloc((size_t)t->K * t->th * t->W, sizeof *t->band);
    t->mask = malloc((size_t)t->W * t->H);
    t->tile.w = t->tw;
    t->tile.h = t->th;
    t->tile.c = img->c;
    t->tile.px = malloc((size_t)t->tw * t->th * img->c);
    if (!t->xs || !t->ys || !t->wcol || !t->wrow || !t->band || !t->mask || !t->tile.px)
        goto oom;
    srv_tile_positions(t->W, t->tw, overlap, t->xs);
    srv_tile_positions(t->H, t->th, overlap, t->ys);
    side_weights(t->xs, t->nx, t->tw, window, t->wcol);
    side_weights(t->ys, t->ny, t->th, window, t->wrow);
    return t;
oom:
    srv_tiler_free(t);
    snprintf(err, errlen, "tiling: out of memory for a %dx%d image", img->w, img->h);
    return NULL;
}

int srv_tiler_total(const srv_tiler *t) { return t->nx * t->ny; }
int srv_tiler_filled(const srv_tiler *t) { return t->next; }

int srv_tiler_fill(srv_tiler *t, float *in, int n, char *err, size_t errlen)
{
    int total = t->nx * t->ny, c = t->img->c, k = 0;
    size_t per = (size_t)t->pp.channels * t->tw * t->th;
    for (; k < n && t->next < total; k++, t->next++) {
        int x0 = t->xs[t->next % t->nx], y0 = t->ys[t->next / t->nx];
        for (int ty = 0; ty < t->th; ty++) {
            int sy = y0 + ty < t->H ? y0 + ty : t->H - 1;
            const uint8_t *src = t->img->px + (size_t)sy * t->W * c;
            uint8_t *dst = t->tile.px + (size_t)ty * t->tw * c;
            int inside = t->W - x0 < t->tw ? t->W - x0 : t->tw;
            memcpy(dst, src + (size_t)x0 * c, (size_t)inside * c);
            for (int tx = inside; tx < t->tw; tx++) /* a side shorter than a tile */
                memcpy(dst + (size_t)tx * c, src + (size_t)(t->W - 1) * c, (size_t)c);
        }
        if (sk_image_to_tensor(&t->tile, &t->pp, in + (size_t)k * per, err, errlen))
            return -1;
    }
    t->last_fill = k;
    return k;
}

/* Rows band_y0 .. end - 1 are final: argmax them into the mask, then move
 * the band down to start at `end`. */
static void finish_rows(srv_tiler *t, int end)
{
    size_t plane = (size_t)t->th * t->W;
    for (int y = t->band_y0; y < end; y++) {
        const float *row = t->band + (size_t)(y - t->band_y0) * t->W;
        uint8_t *m = t->mask + (size_t)y * t->W;
        for (int x = 0; x < t->W; x++) {
            int best = 0;
            float bv = row[x];
            for (int c = 1; c < t->K; c++) {
                float v = row[(size_t)c * plane + x];
                if (v > bv) { /* first maximum wins, as the untiled mask */
                    bv = v;
                    best = c;
                }
            }
            m[x] = (uint8_t)best;
        }
    }
    int d = end - t->band_y0;
    if (d <= 0)
        return;
    for (int c = 0; c < t->K; c++) {
        float *p = t->band + (size_t)c * plane;
        if (d < t->th)
            memmove(p, p + (size_t)d * t->W, (size_t)(t->th - d) * t->W * sizeof *p);
        int keep = d < t->th ? t->th - d : 0;
        memset(p + (size_t)keep * t->W, 0, (size_t)(t->th - keep) * t->W * sizeof *p);
    }
    t->band_y0 = end;
}

void srv_tiler_take(srv_tiler *t, const float *out, int n)
{
    size_t per = (size_t)t->K * t->tw * t->th, plane = (size_t)t->th * t->W;
    for (int i = 0; i < n && i < t->last_fill; i++) {
        int k = t->taken++, ix = k % t->nx, iy = k / t->nx;
        int x0 = t->xs[ix], y0 = t->ys[iy];
        int ww = t->W - x0 < t->tw ? t->W - x0 : t->tw;
        int hh = t->H - y0 < t->th ? t->H - y0 : t->th;
        const float *wc = t->wcol + (size_t)ix * t->tw, *wr = t->wrow + (size_t)iy * t->th;
        const float *o = out + (size_t)i * per;
        int by = y0 - t->band_y0; /* the band starts at this tile row (finish_rows) */
        for (int c = 0; c < t->K; c++)
            for (int ty = 0; ty < hh; ty++) {
                const float *src = o + ((size_t)c * t->th + ty) * t->tw;
                float *dst = t->band + (size_t)c * plane + (size_t)(by + ty) * t->W + x0;
                float wy = wr[ty];
                for (int tx = 0; tx < ww; tx++)
                    dst[tx] += wy * wc[tx] * src[tx];
            }
        if (ix == t->nx - 1) /* a row of tiles is done: rows above the next are final */
            finish_rows(t, iy + 1 < t->ny ? t->ys[iy + 1] : t->H);
    }
    t->last_fill = 0;
}

uint8_t *srv_tiler_mask(srv_tiler *t)
{
    if (t->taken < t->nx * t->ny)
        return NULL;
    uint8_t *m = t->mask;
    t->mask = NULL;
    return m;
}
