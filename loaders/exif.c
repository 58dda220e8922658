/* exif.c — the one walk over a JPEG's marker segments (sk_jpeg_walk), and
 * the few facts the decoder needs from it: EXIF orientation (APP1), the
 * Adobe APP14 marker (inverted CMYK), and whether an EOI marker follows the
 * scan data (a cut-off upload has none). The header probe (image_probe.c)
 * walks the same way for the frame size and scan layout.
 *
 * Everything here reads untrusted bytes: every offset is checked against the
 * segment or buffer length before it is dereferenced, with subtractions
 * arranged so no sum can overflow. */
#include <string.h>

#include "loaders/image_internal.h"

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int sk_exif_orientation(const uint8_t *p, size_t n)
{
    /* "Exif\0\0", then a TIFF header: byte order, 42, offset of IFD0. */
    if (n < 6 + 8 || memcmp(p, "Exif\0\0", 6) != 0)
        return 0;
    const uint8_t *t = p + 6;
    size_t tn = n - 6;
    int le;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 0;
    if (rd16(t + 2, le) != 42)
        return 0;
    size_t ifd = rd32(t + 4, le);
    if (ifd > tn - 2)
        return 0;
    unsigned count = rd16(t + ifd, le);
    size_t avail = (tn - ifd - 2) / 12; /* whole 12-byte entries present */
    if (count > avail)
        count = (unsigned)avail;
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *e = t + ifd + 2 + 12 * (size_t)i;
        if (rd16(e, le) != 0x0112)
            continue;
        unsigned type = rd16(e + 2, le);
        uint32_t cnt = rd32(e + 4, le);
        uint32_t v;
        if (type == 3 && cnt >= 1) /* SHORT, stored left-justified in the value field */
            v = rd16(e + 8, le);
        else if (type == 4 && cnt >= 1) /* LONG: not per spec, but seen in the wild */
            v = rd32(e + 8, le);
        else
            return 0;
        return v >= 1 && v <= 8 ? (int)v : 0;
    }
    return 0;
}

size_t sk_jpeg_walk(const uint8_t *buf, size_t len, sk_jpeg_seg_fn seg, void *ctx)
{
    size_t pos = 2; /* after SOI */
    while (pos < len) {
        /* Like libjpeg, skip stray bytes before a marker, then fill bytes. */
        while (pos < len && buf[pos] != 0xff)
            pos++;
        while (pos < len && buf[pos] == 0xff)
            pos++;
        if (pos >= len)
            return pos;
        unsigned m = buf[pos++];
        if (m == 0x00 || m == 0x01 || m == 0xd8 || (m >= 0xd0 && m <= 0xd7))
            continue; /* stuffed zero, TEM, SOI, RSTn: no length field */
        if (m == 0xd9 || len - pos < 2)
            return pos; /* EOI before any scan, or cut before the length */
        size_t seglen = rd16(buf + pos, 0);
        if (seglen < 2)
            return pos;
        size_t avail = seglen <= len - pos ? seglen - 2 : len - pos - 2;
        int stop = seg(ctx, m, buf + pos + 2, seglen - 2, avail);
        if (avail < seglen - 2)
            return len; /* cut inside this segment */
        pos += seglen;
        if (stop || m == 0xda)
            return pos;
    }
    return pos;
}

/* sk_jpeg_scan's view of each segment. */
typedef struct scan_ctx {
    sk_jpeg_info *info;
    int have_exif, sos;
} scan_ctx;

static int scan_seg(void *arg, unsigned m, const uint8_t *payload, size_t n, size_t avail)
{
    scan_ctx *c = arg;
    if (avail < n)
        return 1; /* cut inside a header segment: has_eoi stays 0 */
    if (m == 0xe1 && !c->have_exif) {
        int o = sk_exif_orientation(payload, n);
        if (o) {
            c->info->orientation = o;
            c->have_exif = 1;
        }
    } else if (m == 0xee && n >= 5 && memcmp(payload, "Adobe", 5) == 0) {
        c->info->adobe = 1;
    } else if (m == 0xda) {
        c->sos = 1;
    }
    return 0;
}

void sk_jpeg_scan(const uint8_t *buf, size_t len, sk_jpeg_info *info)
{
    info->orientation = 1;
    info->adobe = 0;
    info->has_eoi = 0;
    scan_ctx c = {info, 0, 0};
    size_t pos = sk_jpeg_walk(buf, len, scan_seg, &c);
    if (!c.sos)
        return;
    /* Entropy-coded data escapes 0xFF as FF 00, so FF D9 after the first
     * scan header can only be the EOI marker (later scans of a progressive
     * file and their tables come before it). */
    const uint8_t *q = buf + pos, *end = buf + len;
    while (q < end && (q = memchr(q, 0xff, (size_t)(end - q))) != NULL && q + 1 < end) {
        if (q[1] == 0xd9) {
            info->has_eoi = 1;
            return;
        }
        q++;
    }
}
