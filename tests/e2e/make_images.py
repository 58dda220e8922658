"""make_images.py OUTDIR — inputs for the end-to-end tests, made fresh each
run: every PNG/JPEG flavour the decoder must take, EXIF-rotated JPEG, and
broken files (truncated, absurd header). Needs python3-pil."""
import io
import struct
import sys
import zlib

from PIL import Image, ImageDraw

out = sys.argv[1]


def scene(w, h, mode="L", seed=0):
    """A light background with dark shapes: a shirt-like blob and a bar."""
    im = Image.new("RGB", (w, h), (225, 220, 210))
    d = ImageDraw.Draw(im)
    d.rectangle([w // 5, h // 6, w * 3 // 5, h * 5 // 6], fill=(40 + seed * 30, 60, 90))
    d.ellipse([w // 2, h // 3, w * 9 // 10, h * 2 // 3], fill=(200, 40 + seed * 40, 40))
    return im.convert(mode)


def save(im, name, **kw):
    im.save(f"{out}/{name}", **kw)


# PNG flavours.
save(scene(60, 40, "L"), "gray.png")
# The same picture as a negative (light-on-dark), for input.invert = "auto".
save(Image.eval(scene(60, 40, "L"), lambda v: 255 - v), "gray_neg.png")
save(scene(64, 48, "RGB", 1), "rgb.png")
save(scene(50, 70, "RGB", 2), "rgb2.png")
rgba = scene(45, 30, "RGBA")
rgba.putalpha(Image.new("L", rgba.size, 128))
save(rgba, "rgba.png")
save(scene(40, 40, "LA"), "gray_alpha.png")
save(scene(48, 36, "RGB").convert("P", palette=Image.ADAPTIVE, colors=16), "palette.png")
save(scene(52, 34, "L").convert("I;16"), "gray16.png")
# 16-bit RGB needs raw writing (PIL cannot save it): build the PNG by hand.
def png16_rgb(w, h):
    rows = b""
    for y in range(h):
        row = b"\0"
        for x in range(w):
            v = (x * 1000 + y * 500) & 0xFFFF
            row += struct.pack(">HHH", v, 65535 - v, (v * 7) & 0xFFFF)
        rows += row
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
open(f"{out}/rgb16.png", "wb").write(png16_rgb(30, 20))

# JPEG flavours.
save(scene(64, 48, "RGB"), "base.jpg", quality=90)
save(scene(80, 60, "RGB", 1), "prog.jpg", quality=85, progressive=True)
save(scene(40, 30, "L"), "gray.jpg", quality=90)
save(scene(32, 24, "CMYK"), "cmyk.jpg", quality=90)
# EXIF orientation 6 (rotate 90 clockwise to display): stored 60x40, shown 40x60.
exif = Image.Exif()
exif[0x0112] = 6
save(scene(60, 40, "RGB"), "exif6.jpg", quality=90, exif=exif.tobytes())

# A 64x48 JPEG padded to ~585 KB with comment segments: a large body that
# costs almost nothing to decode (for the --max-buffered tests).
small = open(f"{out}/base.jpg", "rb").read()
com = b"".join(b"\xff\xfe" + struct.pack(">H", 65002) + bytes((i * 7 + k) % 251 for k in range(65000))
               for i in range(9))
open(f"{out}/big.jpg", "wb").write(small[:2] + com + small[2:])
# Same picture, baseline and progressive: the progressive decode holds every
# coefficient (6 bytes a pixel at 4:4:4) until its last scan, which the
# --max-buffered charge must count (server E).
save(scene(600, 500, "RGB"), "base600.jpg", quality=90)
save(scene(600, 500, "RGB"), "prog600.jpg", quality=90, progressive=True)
# Few bytes, many pixels: 1000x1000 gray needs megabytes once decoded.
save(Image.new("L", (1000, 1000), 128), "wide.png")

# Broken inputs.
data = open(f"{out}/prog.jpg", "rb").read()
open(f"{out}/trunc.jpg", "wb").write(data[: len(data) // 3])
big = scene(200, 150, "RGB", 1)
buf = io.BytesIO()
big.save(buf, "PNG", compress_level=0)
png = buf.getvalue()
open(f"{out}/trunc.png", "wb").write(png[: len(png) // 2])
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
open(f"{out}/huge.png", "wb").write(
    b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))
# Tall and thin: 1 x 30,000,000 gray, within --max-pixels 40M and ~60 KB as
# PNG. A resize that widened every source row before the vertical pass
# held 128 x 30M floats (15 GB) for the 128x128 segmenter.
TALL = 30_000_000
open(f"{out}/tall.png", "wb").write(
    b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, TALL, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"".join(b"\0" + bytes([v]) for v in range(256)) * (TALL // 256)
                                   + b"\0\x80" * (TALL % 256), 9))
    + chunk(b"IEND", b""))
open(f"{out}/garbage.bin", "wb").write(b"this is not an image at all\n" * 10)
