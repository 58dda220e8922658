/* native.h — native-size segmentation: a segmenter whose ONNX input has
 * symbolic H and W runs at each image's own size instead of a resize. The
 * image is preprocessed at its size, placed at the top-left of a tensor
 * rounded up to the model's stride multiple, the rest filled with 0 (the
 * value the network's own zero padding shows it at its borders), and the
 * mask is the argmax cropped back to the image. Pure functions; the plan
 * cache is plancache.h, the request flow predict.c. */
#ifndef SRV_NATIVE_H
#define SRV_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include "loaders/image.h"

/* len rounded up to a multiple of `multiple` (>= 1). */
int srv_native_round(int len, int multiple);

/* img (w x h) -> pp->channels x H x W floats at `out` (H >= h, W >= w):
 * pp's scale/mean/std/invert applied at the image's own size (pp's width,
 * height and resize are ignored), the image top-left, zeros elsewhere. */
int srv_native_tensor(const sk_image *img, const sk_preprocess *pp, int H, int W, float *out,
                      char *err, size_t errlen);

/* The w x h class-index mask (malloc'ed) of an image placed top-left in an
 * H x W input whose logits are K x oh x ow (ow = W and oh = H for a mask of
 * the input's size; a smaller output is read at the nearest position).
 * First maximum wins, as everywhere. NULL when out of memory. */
uint8_t *srv_native_mask(const float *logits, int K, int oh, int ow, int H, int W, int w, int h);

#endif
