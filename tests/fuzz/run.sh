#!/bin/sh
# run.sh TARGET [SECONDS] — build and run the libFuzzer targets.
#   TARGET   image | onnx | request | kserve | all
#   SECONDS  how long to fuzz each target (default 60); 0 = replay only:
#            run every seed and every file of tests/fuzz/regress/TARGET/
#            once and exit (deterministic; `make test-fuzz` does this)
# Everything is built with clang, -fsanitize=fuzzer (coverage) + address +
# undefined, UBSan fatal, into $BUILD (default build-fuzz): the engine and
# loader libraries through the Makefile, so the fuzzer sees their coverage.
# Crashes land in $BUILD/fuzz/crash-*; replay one with
# `$BUILD/fuzz/fuzz_TARGET FILE`, and add it to tests/fuzz/regress/TARGET/
# once fixed.
set -eu
BUILD=${BUILD:-build-fuzz}
TARGET=${1:?usage: tests/fuzz/run.sh image|onnx|request|kserve|all [SECONDS]}
SECS=${2:-60}
OUT=$BUILD/fuzz
HERE=tests/fuzz
PY=/usr/bin/python3
NODE=/usr/share/libonnx-testdata/data/node
SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined'
mkdir -p "$OUT"

# SK_SKEL_MIN_RAW: raw_data of 8 bytes or more leaves the ONNX skeleton
# (loaders/onnx_skel.c; 4096 in the product), so the fuzzer's small models
# exercise the payload path; objects built with another value are rebuilt.
SKEL_MIN_RAW=8
if [ "$(cat "$BUILD/.skel_min_raw" 2>/dev/null)" != "$SKEL_MIN_RAW" ]; then
    rm -f "$BUILD"/obj/loaders/onnx_*.o "$BUILD"/obj/loaders/tensor_pb.o "$BUILD/libskloaders.a"
    mkdir -p "$BUILD"
    echo "$SKEL_MIN_RAW" >"$BUILD/.skel_min_raw"
fi
make -s -j2 CC=clang BUILD="$BUILD" OPT=-O1 SAN=address,undefined \
    EXTRA_CFLAGS="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -DSK_SKEL_MIN_RAW=$SKEL_MIN_RAW" \
    "$BUILD/libskengine.a" "$BUILD/libskloaders.a"

link() { # link NAME SOURCES... : $OUT/fuzz_NAME against the sanitized libraries
    name=$1
    shift
    clang -std=c11 -g -O1 -fsanitize=fuzzer $SAN -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
        -I. -Iengine -I"$BUILD/gen" "$@" "$BUILD/libskloaders.a" "$BUILD/libskengine.a" \
        $(pkg-config --cflags --libs libprotobuf-c libpng libturbojpeg jansson) -lm -pthread \
        -o "$OUT/fuzz_$name"
}

seed_image() { # tests/data images + small PIL-made files of every colour type
    for f in tests/data/*.png tests/data/*.jpg; do
        [ -f "$f" ] && cp "$f" "$1/"
    done
    $PY - "$1" <<'PY' || echo "fuzz: no PIL: image seeds from tests/data only"
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
}

seed_onnx() { # every node-test model, the default classifier, the bad models
    if [ -d "$NODE" ]; then
        for d in "$NODE"/*/; do
            [ -f "$d/model.onnx" ] && cp "$d/model.onnx" "$1/node_$(basename "$d").onnx"
        done
    fi
    cp models/fashion-resnet/model.onnx "$1/fashion-resnet.onnx"
    if $PY tests/bad_models/make_bad.py "$OUT/bad" >/dev/null 2>&1; then
        for f in "$OUT"/bad/*.onnx; do
            [ "$(wc -c <"$f")" -le 400000 ] && cp "$f" "$1/bad_$(basename "$f")"
        done
    else
        echo "fuzz: no python3-onnx: onnx seeds without the bad-model corpus"
    fi
}

seed_request() { # byte 0 picks the Content-Type (ctypes[] in fuzz_request.c)
    printf '\001{"image":"iVBORw0KGgo=","top_k":3,"model":"m"}' >"$1/json_image"
    printf '\001{"images":["data:image/png;base64,iVBORw0KGgo=","/9j/4AAQ"]}' >"$1/json_images"
    printf '\002{"tensor":{"shape":[1,1,2,2],"data":[0.5,1,2,-3]},"format":"png"}' >"$1/json_tensor"
    printf '\003--XyZ\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\211PNG\r\n\032\n\r\n--XyZ\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n2\r\n--XyZ--\r\n' >"$1/multipart"
    printf '\004--XyZ\r\nContent-Disposition: form-data; name="file"; filename="b.jpg"\r\n\r\n\377\330\377\340\r\n--XyZ--\r\n' >"$1/multipart_quoted"
    for f in tests/data/*.png tests/data/*.jpg; do
        [ -f "$f" ] && { printf '\006'; cat "$f"; } >"$1/raw_$(basename "$f")"
    done
}

seed_kserve() { # the bodies tests/e2e/kserve_client.py sends, + a few by hand
    $PY tests/e2e/kserve_client.py seeds "$1" ||
        echo "fuzz: no numpy: kserve seeds written by hand only"
    printf '\000{"inputs":[{"name":"input","shape":[2],"datatype":"FP32","data":[[1],[2.5]]}]}' >"$1/json_nested"
    printf '\001\134\000\000\000{"inputs":[{"name":"i","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":7}}]}\003\000\000\000abc' >"$1/bytes_bin"
}

one() { # one TARGET
    t=$1
    case $t in
    image) link image $HERE/fuzz_image.c ;;
    onnx) link onnx $HERE/fuzz_onnx.c ;;
    request) link request $HERE/fuzz_request.c server/request.c server/multipart.c \
        server/base64.c server/errors.c ;;
    kserve) link kserve $HERE/fuzz_kserve.c server/kserve_binary.c server/errors.c ;;
    *) echo "fuzz: unknown target '$t'" >&2 && exit 2 ;;
    esac
    corpus=$OUT/corpus_$t
    mkdir -p "$corpus"
    "seed_$t" "$corpus"
    regress=$HERE/regress/$t
    [ -d "$regress" ] || regress=
    case $t in
    onnx) opts='-max_len=400000 -rss_limit_mb=2048 -timeout=10' ;;
    *) opts='-max_len=65536 -rss_limit_mb=1024 -timeout=5' ;;
    esac
    if [ "$SECS" = 0 ]; then
        echo "fuzz: $t: replaying $(ls "$corpus" | wc -l) seeds${regress:+ and $(ls "$regress" | wc -l) regressions}"
        (cd "$OUT" && ./fuzz_$t -runs=0 $opts "corpus_$t" ${regress:+"$OLDPWD/$regress"}) \
            >"$OUT/$t.log" 2>&1 || { tail -40 "$OUT/$t.log" >&2; echo "fuzz: $t: FAIL" >&2; exit 1; }
        echo "fuzz: $t: PASS"
    else
        (cd "$OUT" && ./fuzz_$t -max_total_time="$SECS" $opts "corpus_$t" ${regress:+"$OLDPWD/$regress"})
    fi
}

if [ "$TARGET" = all ]; then
    for t in image onnx request kserve; do one $t; done
else
    one "$TARGET"
fi
