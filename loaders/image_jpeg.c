/* image_jpeg.c — JPEG decode with the TurboJPEG API (libjpeg-turbo 2.1: the
 * tj* functions; tj3 arrived in 3.0).
 *
 * Order: marker walk (EXIF orientation, Adobe flag, EOI present?), header,
 * pixel limit, then decode. Policy on damaged files, since an HTTP client
 * must get 400 bad_image for them and never a half-grey image:
 *  - no EOI marker after the scan data -> SK_EFORMAT "truncated";
 *  - libjpeg fatal error -> SK_EFORMAT with libjpeg's message;
 *  - libjpeg warning whose text says "premature end" (JWRN_JPEG_EOF,
 *    JWRN_HIT_MARKER: scan data missing) -> SK_EFORMAT;
 *  - other warnings (extraneous bytes before a marker, odd JFIF version,
 *    bad ICC chunk) -> accepted: the pixels are complete.
 *
 * CMYK/YCCK files are decoded to CMYK and converted with the naive formula
 * R = (255 - C) * (255 - K) / 255 (no colour management). Files with an Adobe
 * APP14 marker store inverted CMYK (255 = no ink; Photoshop's convention,
 * followed the same way by PIL and Firefox), so their values are used
 * un-inverted: R = C' * K' / 255. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <turbojpeg.h>

#include "engine/sk.h"
#include "loaders/image_internal.h"

static int mentions_premature_end(const char *msg)
{
    static const char needle[] = "premature end";
    size_t n = sizeof needle - 1;
    for (; msg && *msg; msg++)
        if (strncasecmp(msg, needle, n) == 0)
            return 1;
    return 0;
}

static inline uint8_t mul255(unsigned a, unsigned b)
{
    return (uint8_t)((a * b + 127u) / 255u);
}

static void cmyk_to_rgb(const uint8_t *src, uint8_t *dst, size_t n, int inverted)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = src + 4 * i;
        unsigned c = s[0], m = s[1], y = s[2], k = s[3];
        if (!inverted) {
            c = 255u - c;
            m = 255u - m;
            y = 255u - y;
            k = 255u - k;
        }
        dst[3 * i] = mul255(c, k);
        dst[3 * i + 1] = mul255(m, k);
        dst[3 * i + 2] = mul255(y, k);
    }
}

int sk_jpeg_decode(const uint8_t *buf, size_t len, int channels, size_t max_pixels,
                   sk_image *out, char *err, size_t errlen)
{
    sk_jpeg_info info;
    sk_jpeg_scan(buf, len, &info);

    tjhandle tj = tjInitDecompress();
    if (!tj)
        return sk_errf(err, errlen, SK_ENOMEM, "cannot create a JPEG decoder: %s",
                       tjGetErrorStr2(NULL));
    int rc = 0, w = 0, h = 0, subsamp = 0, cs = 0, hdr_ok, is_cmyk, pf;
    size_t npx;
    uint8_t *px = NULL, *cmyk = NULL;

    /* A cut-off file may parse as a "tables-only" stream: success, 0x0. */
    hdr_ok = tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &subsamp, &cs) == 0;
    if (!hdr_ok || w <= 0 || h <= 0) {
        if (!info.has_eoi)
            rc = sk_errf(err, errlen, SK_EFORMAT,
                         "JPEG data is truncated: it ends after %zu bytes, inside the header",
                         len);
        else
            rc = sk_errf(err, errlen, SK_EFORMAT, "corrupt JPEG header: %s",
                         hdr_ok ? "no image in the data" : tjGetErrorStr2(tj));
        goto done;
    }
    if ((rc = sk_img_check_size("JPEG image", (uint32_t)w, (uint32_t)h, max_pixels, err,
                                errlen)))
        goto done;
    if (!info.has_eoi) {
        rc = sk_errf(err, errlen, SK_EFORMAT,
                     "JPEG data is truncated: it ends after %zu bytes, before the "
                     "end-of-image marker",
                     len);
        goto done;
    }

    is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    pf = is_cmyk ? TJPF_CMYK : channels == 1 ? TJPF_GRAY : TJPF_RGB;
    npx = (size_t)w * h;
    px = malloc(npx * channels);
    if (is_cmyk)
        cmyk = malloc(npx * 4);
    if (!px || (is_cmyk && !cmyk)) {
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory for a %dx%d JPEG image", w, h);
        goto done;
    }
    /* LIMITSCANS: refuse progressive files with absurd scan counts (a CPU
     * exhaustion trick); ACCURATEDCT: libjpeg-turbo's default, made explicit. */
    if (tjDecompress2(tj, buf, (unsigned long)len, is_cmyk ? cmyk : px, w, 0, h, pf,
                      TJFLAG_ACCURATEDCT | TJFLAG_LIMITSCANS) < 0) {
        const char *msg = tjGetErrorStr2(tj);
        if (tjGetErrorCode(tj) == TJERR_FATAL) {
            rc = sk_errf(err, errlen, SK_EFORMAT, "corrupt JPEG: %s", msg);
            goto done;
        }
        if (mentions_premature_end(msg)) {
            rc = sk_errf(err, errlen, SK_EFORMAT, "JPEG data is truncated or corrupt: %s", msg);
            goto done;
        }
        /* any other warning: the image is complete, keep it */
    }
    if (is_cmyk) {
        if (channels == 3) {
            cmyk_to_rgb(cmyk, px, npx, info.adobe);
        } else {
            /* convert one row at a time through a small RGB buffer */
            uint8_t rgb[3 * 256];
            for (size_t i = 0; i < npx; i += 256) {
                size_t n = npx - i < 256 ? npx - i : 256;
                cmyk_to_rgb(cmyk + 4 * i, rgb, n, info.adobe);
                sk_img_convert_row(rgb, 3, px + i, 1, n, NULL);
            }
        }
    }
    out->w = w;
    out->h = h;
    out->c = channels;
    out->px = px;
    px = NULL;
    if ((rc = sk_img_orient(out, info.orientation)) != 0) {
        sk_image_free(out);
        rc = sk_errf(err, errlen, SK_ENOMEM, "out of memory rotating a %dx%d JPEG image", w, h);
    }
done:
    free(px);
    free(cmyk);
    tjDestroy(tj);
    return rc;
}
