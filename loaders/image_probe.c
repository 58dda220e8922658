/* image_probe.c — an image's size and decode cost from its header, before
 * any decode: the server charges a request's memory with it (and a tiled
 * request decides its route) without decoding. PNG: the IHDR chunk. JPEG:
 * the marker walk the decoder's own scan uses (exif.c), to the first SOFn
 * for the size and on to the first SOS for the scan layout. */
#include <string.h>

#include "loaders/image.h"
#include "loaders/image_internal.h"

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }

/* Bytes of a whole-image coefficient buffer (2-byte coefficients, every
 * component at full resolution, sides rounded up to a 32-pixel MCU: an
 * upper bound) for a w x h JPEG of nf components. */
static size_t jpeg_coef_bytes(uint32_t w, uint32_t h, uint32_t nf)
{
    return ((size_t)w + 31) / 32 * 32 * (((size_t)h + 31) / 32 * 32) * 2 * nf;
}

/* What the walk finds: the first frame header, and whether the first scan
 * interleaves all of its components. */
typedef struct probe {
    uint32_t w, h, nf;
    int progressive;
    int bad;        /* a frame header too short, or height / width / nf 0 */
    int one_scan;   /* the first SOS holds every component of a baseline frame */
} probe;

static int probe_seg(void *arg, unsigned m, const uint8_t *s, size_t n, size_t avail)
{
    probe *pr = arg;
    if (m == 0xDA) { /* SOS: Ns first */
        pr->one_scan = pr->nf && !pr->progressive && avail >= 1 && s[0] >= pr->nf;
        return 1;
    }
    /* SOF0..SOF15, less DHT (C4), JPG (C8) and DAC (CC): P, Y, X, Nf */
    if (!pr->nf && m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
        if (n < 6 || avail < 6) {
            pr->bad = 1;
            return 1;
        }
        pr->h = be16(s + 1);
        pr->w = be16(s + 3);
        pr->nf = s[5];
        pr->progressive = (m & 3) == 2; /* SOF2, SOF6, SOF10, SOF14 */
        if (!pr->h || !pr->w || !pr->nf) {
            pr->bad = 1; /* height 0: set later by DNL */
            return 1;
        }
    }
    return 0;
}

int sk_image_probe(const uint8_t *p, size_t len, uint32_t *w, uint32_t *h, size_t *coef)
{
    size_t coef_dummy;
    if (!coef)
        coef = &coef_dummy;
    *coef = 0;
    switch (sk_image_sniff(p, len)) {
    case SK_IMG_PNG:
        /* Signature (8), then the IHDR chunk: length (4), "IHDR", w, h. */
        if (len < 24 || memcmp(p + 12, "IHDR", 4) != 0)
            return -1;
        *w = be32(p + 16);
        *h = be32(p + 20);
        return 0;
    case SK_IMG_JPEG: {
        /* A progressive frame, or a first scan with fewer components than
         * the frame (multi-scan), makes libjpeg keep every coefficient of
         * the image until the last scan. Where the walk cannot reach the
         * SOS, assume it does. */
        probe pr;
        memset(&pr, 0, sizeof pr);
        sk_jpeg_walk(p, len, probe_seg, &pr);
        if (pr.bad || !pr.nf)
            return -1;
        *w = pr.w;
        *h = pr.h;
        if (!pr.one_scan)
            *coef = jpeg_coef_bytes(pr.w, pr.h, pr.nf);
        return 0;
    }
    default:
        return -1;
    }
}
