/* fuzz_image.c — libFuzzer target for the image decoders (PNG, JPEG, EXIF)
 * and what the server does next with a decoded image (resize to a tensor,
 * PNG re-encode). Build and run: see tests/fuzz/README.md. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/sk.h"
#include "loaders/image.h"

/* Small enough that each input decodes fast, large enough for real files. */
#define FUZZ_MAX_PIXELS ((size_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t bg[3] = {255, 255, 255};
    char err[256];
    for (int channels = 1; channels <= 3; channels += 2) {
        sk_image img;
        if (sk_image_decode(data, size, channels, FUZZ_MAX_PIXELS, bg, &img, err, sizeof err))
            continue;
        /* the first bytes pick a resize mode so all three get exercised */
        sk_preprocess pp = {.width = 17, .height = 13, .channels = 3,
                            .resize = (sk_resize_mode)(size % 3), .resize_to = 19,
                            .scale = 1.0f / 255, .mean = {0.5f, 0.5f, 0.5f},
                            .std = {0.25f, 0.25f, 0.25f}, .invert = (int)(size & 1),
                            .pad = 114};
        float t[3 * 17 * 13];
        if (sk_image_to_tensor(&img, &pp, t, err, sizeof err))
            abort();
        if (img.w * (size_t)img.h <= 4096) {
            uint8_t *png = NULL;
            size_t n = 0;
            if (sk_png_encode(&img, &png, &n))
                abort();
            free(png);
        }
        sk_image_free(&img);
    }
    return 0;
}
