#!/bin/sh
# run_image.sh [SECONDS] — build the image-decoder fuzz target with clang
# (libFuzzer + ASan + UBSan) into $BUILD/fuzz and run it for SECONDS (60),
# seeded with the repository's test images. Crashes land in $BUILD/fuzz/.
set -e
BUILD=${BUILD:-build}
SECS=${1:-60}
OUT=$BUILD/fuzz
mkdir -p "$OUT/corpus"
clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. -Iengine \
    tests/fuzz/fuzz_image.c loaders/image_decode.c loaders/image_png.c loaders/image_jpeg.c \
    loaders/exif.c loaders/image_resize.c loaders/image_encode.c engine/sk.c \
    $(pkg-config --cflags --libs libpng libturbojpeg) -lm -o "$OUT/fuzz_image"
for f in tests/data/*.png tests/data/*.jpg tests/data/*.jpeg; do
    [ -f "$f" ] && cp "$f" "$OUT/corpus/" || true
done
# small seeds of every colour type / JPEG flavour, when PIL is at hand
/usr/bin/python3 - "$OUT/corpus" <<'PY' || echo "no PIL: seeding from tests/data only"
import sys
from PIL import Image
d = sys.argv[1]
im = Image.new('RGB', (23, 17))
for y in range(17):
    for x in range(23):
        im.putpixel((x, y), (x * 11 % 256, y * 15 % 256, (x ^ y) * 9 % 256))
ra = im.copy(); ra.putalpha(Image.linear_gradient('L').resize((23, 17)))
for mode, img in [('rgb', im), ('l', im.convert('L')), ('la', ra.convert('LA')),
                  ('rgba', ra), ('p', im.quantize(8)), ('1', im.convert('1')),
                  ('i16', im.convert('I').point(lambda v: v * 200).convert('I;16'))]:
    img.save('%s/seed_%s.png' % (d, mode))
im.quantize(8).save('%s/seed_ptrns.png' % d, transparency=2)
im.save('%s/seed.jpg' % d, quality=80)
im.save('%s/seed_prog.jpg' % d, quality=80, progressive=True)
im.convert('L').save('%s/seed_l.jpg' % d)
im.convert('CMYK').save('%s/seed_cmyk.jpg' % d)
ex = Image.Exif(); ex[0x0112] = 6
im.save('%s/seed_exif.jpg' % d, exif=ex.tobytes())
PY
cd "$OUT"
./fuzz_image -max_total_time="$SECS" -max_len=65536 -rss_limit_mb=1024 -timeout=5 corpus
