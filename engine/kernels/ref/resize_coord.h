/* resize_coord.h — Resize's coordinate_transformation_mode rules, shared by
 * the reference kernel (ref/resize.c) and the fast one (fast_resize.c) so
 * both map output to input coordinates identically. */
#ifndef SK_RESIZE_COORD_H
#define SK_RESIZE_COORD_H

#include <stdint.h>

/* Order = the names' order in both kernels' lookup tables. */
typedef enum {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYMMETRIC,
    CT_PYTORCH_HALF_PIXEL,
    CT_ALIGN_CORNERS,
    CT_ASYMMETRIC,
    CT_TF_HALF_PIXEL_FOR_NN,
    CT_TF_CROP_AND_RESIZE,
} sk_resize_coord;

/* Output coordinate x -> input coordinate along one axis of `in` input and
 * `out` output elements. `len` is the unfloored output length (in * scale),
 * which align_corners divides by, as the ONNX reference does; roi0/roi1 are
 * used by tf_crop_and_resize only. */
static inline double sk_resize_source(sk_resize_coord coord, double x, double scale, int64_t in,
                                      int64_t out, double len, double roi0, double roi1)
{
    switch (coord) {
    case CT_HALF_PIXEL:
        return (x + 0.5) / scale - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: {
        double adj = (double)out / (scale * (double)in);
        double offset = (double)in * 0.5 * (1.0 - adj);
        return offset + (x + 0.5) / scale - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL:
        return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case CT_ALIGN_CORNERS:
        return len == 1.0 ? 0.0 : x * (double)(in - 1) / (len - 1.0);
    case CT_ASYMMETRIC:
        return x / scale;
    case CT_TF_HALF_PIXEL_FOR_NN:
        /* An axis kept as it is (scale 1, same length) maps each index to
         * itself, as onnxruntime does (every other mode but
         * tf_crop_and_resize already does by its formula); (x + 0.5) / 1
         * would read the next image / channel / row under the ceil nearest
         * modes and blend two rows in linear mode. */
        return scale == 1.0 && in == out ? x : (x + 0.5) / scale;
    case CT_TF_CROP_AND_RESIZE:
        if (out > 1)
            return roi0 * (double)(in - 1) +
                   x * (roi1 - roi0) * (double)(in - 1) / (double)(out - 1);
        return 0.5 * (roi0 + roi1) * (double)(in - 1);
    }
    return x;
}

#endif
