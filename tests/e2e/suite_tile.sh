#!/bin/bash
# suite_tile.sh — tiled segmentation (/segment?tile=1) against references
# computed on the whole image with numpy (tile_ref.py), with models whose
# answer is known in closed form (make_tile_models.py: a 1x1 and a 3x3
# convolution) and with the repository's U-Net:
#  - a 1x1 model: tiled mask = per-pixel argmax everywhere (placement, the
#    short-side padding, cropping, both windows, overlaps, model.json default)
#  - a 3x3 model (zero padding inside each tile): tiled mask = the whole-image
#    convolution everywhere, on blocks, a gradient and a constant picture —
#    no seams; with no overlap the seams show (the check has teeth)
#  - the U-Net: a picture that fits one tile answers byte for byte as
#    without tiling; a mosaic of the test scene agrees with the scene's own
#    mask repeated
#  - a 40 MP picture answers correctly with bounded memory (VmHWM), its
#    progress visible in skipserve_tiles_pending
#  - fairness: small requests are answered while a large tiled job runs
#  - errors: tile with a tensor / several images / a bad value / overlap
set -u
SUITE=tile
. tests/e2e/lib.sh
[ -x "$BIN" ] || { echo "tile: $BIN not built"; echo "0 passed, 1 failed"; exit 1; }
REF="$PY $E2E/tile_ref.py"
TM=$TMP/models
$PY $E2E/make_tile_models.py "$TM" || { ko "cannot write the test models"; finish; exit 1; }
MODELS=${E2E_MODELS:-models}
[ -f "$MODELS/scenes-unet/model.onnx" ] && cp -r "$MODELS/scenes-unet" "$TM/"
start T --models "$TM" --max-pixels 40000000 || { finish; exit 1; }
T=127.0.0.1:$PORT
TPID=$PID

seg() { # seg MODEL IMAGE QUERY OUT : POST, raw indices into OUT; prints the status
    curl -s -o "$4" -w '%{http_code}' --max-time 120 --data-binary @"$2" \
        "$T/segment?model=$1&format=indices&$3"
}
exact() { # exact NAME MODEL IMAGE QUERY
    local code
    code=$(seg "$2" "$3" "$4" "$TMP/mask.bin")
    if [ "$code" = 200 ] && out=$($REF check "$TM/$2" "$3" "$TMP/mask.bin"); then ok "$1 ($out)"; else
        ko "$1 (status $code: $out)"; fi
}

for kind in blocks gradient constant; do
    $REF image "$TMP/$kind.png" 1000 700 "$kind"
done
$REF image "$TMP/short.png" 1300 90 blocks  # shorter than a 256 tile
$REF image "$TMP/narrow.png" 70 900 gradient # narrower than a 64 tile

exact "1x1 model, 1000x700 blocks, default overlap (cosine)" pixseg "$TMP/blocks.png" "tile=1"
exact "1x1 model, overlap 0" pixseg "$TMP/blocks.png" "tile=1&tile_overlap=0"
exact "1x1 model, overlap 128 (half a tile)" pixseg "$TMP/blocks.png" "tile=1&tile_overlap=128"
exact "1x1 model, 1300x90: shorter than a tile" pixseg "$TMP/short.png" "tile=1"
exact "model.json tiling.default (linear window, overlap 40): tiled without asking" \
    pixseg-linear "$TMP/blocks.png" ""
code=$(seg pixseg-linear "$TMP/blocks.png" "tile=0" "$TMP/mask.bin")
[ "$code" = 200 ] && [ "$(stat -c %s "$TMP/mask.bin")" = 700000 ] &&
    ! $REF check "$TM/pixseg-linear" "$TMP/blocks.png" "$TMP/mask.bin" >/dev/null &&
    ok "tile=0 overrides the default (resized: not the per-pixel answer)" || ko "tile=0 override"
for kind in blocks gradient constant; do
    exact "3x3 model, $kind, no seams" conv3seg "$TMP/$kind.png" "tile=1"
done
exact "3x3 model, 70x900: narrower than a tile" conv3seg "$TMP/narrow.png" "tile=1"
exact "3x3 model, gradient, overlap 2 (the shortest ramp)" \
    conv3seg "$TMP/gradient.png" "tile=1&tile_overlap=2"
code=$(seg conv3seg "$TMP/blocks.png" "tile=1&tile_overlap=0" "$TMP/mask.bin")
[ "$code" = 200 ] && ! $REF check "$TM/conv3seg" "$TMP/blocks.png" "$TMP/mask.bin" >/dev/null &&
    ok "control: tiles that do not overlap leave seams the check sees" ||
    ko "control: no-overlap tiling matched the reference (the check would miss seams)"

if [ -d "$TM/scenes-unet" ]; then
    curl -s -o "$TMP/a.png" --data-binary @tests/data/scene.png "$T/segment?model=scenes-unet"
    curl -s -o "$TMP/b.png" --data-binary @tests/data/scene.png "$T/segment?model=scenes-unet&tile=1"
    cmp -s "$TMP/a.png" "$TMP/b.png" && [ -s "$TMP/a.png" ] &&
        ok "U-Net: a picture of the input's size answers the same bytes with tile=1" ||
        ko "U-Net: tile=1 on a 128x128 picture differs from untiled"
    $PY -c "
from PIL import Image
im = Image.open('tests/data/scene.png'); big = Image.new('L', (1000, 700))
for y in range(0, 700, 128):
    for x in range(0, 1000, 128): big.paste(im, (x, y))
big.save('$TMP/mosaic.png')"
    curl -s -o "$TMP/mosaic_mask.png" --data-binary @"$TMP/mosaic.png" "$T/segment?model=scenes-unet&tile=1"
    agree=$($REF agree "$TMP/mosaic_mask.png" "$TMP/a.png" 128)
    $PY -c "import sys; sys.exit(0 if float('$agree') >= 0.995 else 1)" &&
        ok "U-Net: a 1000x700 mosaic of the scene, tiled, agrees with the scene's mask ($agree)" ||
        ko "U-Net mosaic agreement $agree < 0.995"
    t "overlay format with tiles" 200 "png(raw)[:2] == (1000, 700)" --data-binary @"$TMP/mosaic.png" \
        "$T/segment?model=scenes-unet&tile=1&format=overlay"
    t "json format with tiles" 200 "j['width'] == 1000 and sum(c['pixels'] for c in j['classes']) == 700000" \
        --data-binary @"$TMP/mosaic.png" "$T/segment?model=scenes-unet&tile=1&format=json"

    # Fairness: one large tiled job does not hold the queue. Small requests
    # sent while it runs are answered before it ends.
    $PY -c "
from PIL import Image
im = Image.open('tests/data/scene.png'); big = Image.new('L', (2560, 1920))
for y in range(0, 1920, 128):
    for x in range(0, 2560, 128): big.paste(im, (x, y))
big.save('$TMP/large.png')"
    before=$(metric "$PORT" 'skipserve_tiles_total{model="scenes-unet"}')
    curl -s -o "$TMP/large_mask.png" -w '%{http_code}' --max-time 300 --data-binary @"$TMP/large.png" \
        "$T/segment?model=scenes-unet&tile=1" >"$TMP/large.code" &
    LJ=$!
    for _ in $(seq 200); do
        [ "$(metric "$PORT" 'skipserve_tiles_pending{model="scenes-unet"}')" -gt 0 ] 2>/dev/null && break
        sleep 0.05
    done
    pend0=$(metric "$PORT" 'skipserve_tiles_pending{model="scenes-unet"}')
    [ "$pend0" -gt 0 ] && ok "progress: skipserve_tiles_pending shows the job ($pend0 tiles)" ||
        ko "tiles_pending never rose"
    smallok=0
    for i in $(seq 10); do
        c=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @tests/data/scene.png "$T/segment?model=scenes-unet")
        [ "$c" = 200 ] && smallok=$((smallok + 1))
    done
    pend1=$(metric "$PORT" 'skipserve_tiles_pending{model="scenes-unet"}')
    kill -0 $LJ 2>/dev/null && still=1 || still=0
    [ $smallok = 10 ] && [ "$pend1" -gt 0 ] && [ $still = 1 ] &&
        ok "fairness: 10 small requests answered while the large job still had $pend1 tiles to run" ||
        ko "fairness: small ok $smallok, tiles pending after them $pend1, job running $still"
    wait $LJ
    [ "$(cat "$TMP/large.code")" = 200 ] && ok "the large tiled job (2560x1920, 540 tiles) answers 200" ||
        ko "large job: $(cat "$TMP/large.code")"
    after=$(metric "$PORT" 'skipserve_tiles_total{model="scenes-unet"}')
    [ $((after - before)) = 540 ] && ok "tiles_total counts its 540 tiles" || ko "tiles_total +$((after - before))"
    [ "$(metric "$PORT" 'skipserve_tiles_pending{model="scenes-unet"}')" = 0 ] &&
        ok "tiles_pending back to 0" || ko "tiles_pending not 0"
fi

# 40 MP: the pixel limit's default. Memory: the picture, the mask and one
# band of logits (3 x 8000 x 256 floats), not the logits of the image.
$REF image "$TMP/40mp.png" 8000 5000 pattern
hwm0=$(awk '/^VmHWM/ {print $2}' /proc/$TPID/status)
exact "40 MP picture (8000x5000, 1x1 model): every pixel right" pixseg "$TMP/40mp.png" "tile=1"
hwm1=$(awk '/^VmHWM/ {print $2}' /proc/$TPID/status)
grow=$(((hwm1 - hwm0) / 1024))
# picture 40 MB + mask 40 MB + band 24.6 MB + answer 40 MB = 145 MB; twice that is the bound
[ $grow -lt 290 ] && ok "40 MP: peak RSS grew by $grow MiB (bound 290)" || ko "40 MP: peak RSS grew by $grow MiB"

e "tile=1 with a tensor" 422 bad_request -H 'Content-Type: application/json' \
    -d '{"tensor": {"shape": [1,1,64,64], "data": ['"$(seq -s, 4096 | sed 's/[0-9]*/0/g')"']}}' \
    "$T/segment?model=conv3seg&tile=1"
e "tile=1 with two images" 422 bad_request -F a=@"$TMP/blocks.png" -F b=@"$TMP/blocks.png" \
    "$T/segment?model=pixseg&tile=1&format=json"
e "tile=yes" 400 bad_request --data-binary @"$TMP/blocks.png" "$T/segment?model=pixseg&tile=yes"
e "tile_overlap over half a tile" 400 bad_request --data-binary @"$TMP/blocks.png" \
    "$T/segment?model=pixseg&tile=1&tile_overlap=129"
e "tile_overlap not a number" 400 bad_request --data-binary @"$TMP/blocks.png" \
    "$T/segment?model=pixseg&tile=1&tile_overlap=x"
wait_buffered_zero && ok "memory budget back to zero" || ko "still held: $(buffered)"
stop_ok T "$TPID"
finish
