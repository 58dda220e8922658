/* tile.h — tiled segmentation: an image larger than the model's input is
 * cut into overlapping tiles of the input's size at the image's own
 * resolution; their logits are blended in the overlaps by a window and the
 * mask is assembled row band by row band, so the memory held is the image,
 * the mask and one band of logits (classes x image width x tile height),
 * never the logits of the whole image. The tiler knows nothing of HTTP or
 * batching: it fills input tensors and takes output tensors, in order. */
#ifndef SRV_TILE_H
#define SRV_TILE_H

#include <stddef.h>
#include <stdint.h>

#include "loaders/image.h"

typedef enum { SRV_WINDOW_LINEAR = 0, SRV_WINDOW_COSINE = 1 } srv_window;
/* "linear" | "cosine" -> window; -1 when unknown. */
int srv_window_parse(const char *s);

/* Where n tiles of size t go along a side of length len, each pair of
 * neighbours overlapping by at least `overlap` (0 <= overlap < t): one tile
 * at 0 when len <= t; else n = ceil((len - overlap) / (t - overlap)) tiles
 * spread evenly from 0 to len - t. Fills pos[] when given; returns n. */
int srv_tile_positions(int len, int t, int overlap, int *pos);

typedef struct srv_tiler srv_tiler;

/* `img` is borrowed (it must outlive the tiler). `pp` is the model's
 * preprocessing with the invert decision already made; tiles are
 * pp->width x pp->height. The model's output per tile is nclasses x
 * pp->height x pp->width logits. NULL with err filled on bad arguments or
 * out of memory. */
srv_tiler *srv_tiler_new(const sk_image *img, const sk_preprocess *pp, int nclasses, int overlap,
                         srv_window window, char *err, size_t errlen);
void srv_tiler_free(srv_tiler *t);

/* Bytes a tiler for a w x h image holds at most (mask, logit band, window,
 * one tile's pixels), for the memory budget. */
size_t srv_tiler_bytes(int w, int h, const sk_preprocess *pp, int nclasses);

int srv_tiler_total(const srv_tiler *t);  /* tiles in all */
int srv_tiler_filled(const srv_tiler *t); /* tiles handed out so far */

/* Preprocess the next tiles (at most n) into `in` (one model input per
 * tile, back to back); returns how many, 0 when every tile was handed out,
 * -1 with err filled. */
int srv_tiler_fill(srv_tiler *t, float *in, int n, char *err, size_t errlen);
/* Blend the outputs of the n tiles the last fill handed out; rows no later
 * tile reaches become mask rows. */
void srv_tiler_take(srv_tiler *t, const float *out, int n);
/* Once every tile is taken: the w x h class-index mask (malloc'ed, the
 * caller frees it); NULL before. */
uint8_t *srv_tiler_mask(srv_tiler *t);

#endif
