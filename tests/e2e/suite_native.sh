#!/bin/bash
# suite_native.sh — native-size segmentation: a segmenter whose ONNX input
# has symbolic H and W runs at the picture's own size (rounded up to
# input.multiple, zero-padded, cropped back), with plans cached per shape.
# References: numpy (native_ref.py) for models written with onnx.helper
# (make_native_models.py), PyTorch (native_unet.py) for the repository's
# U-Net exported with dynamic H and W.
#  - every pixel right at odd sizes: a 3x3 conv (default multiple 32) and a
#    stride-4 U-Net-like model (multiple 4); native=0 resizes (control)
#  - formats png / json / overlay keep the picture's size
#  - LRU: more shapes than the cache holds; hits / misses / evictions exact,
#    plans held stay at the bound, RSS bounded over 24 large shapes
#  - a byte bound smaller than one plan: the plan goes when its run ends
#  - concurrency: several shapes at once from curl, all right
#  - past native_max_pixels: tiles (exact for the 3x3 model), or with tile=0
#    the resize; a fixed-size model is untouched
#  - a wrong input.multiple fails at load, with the reason; a shape the
#    network cannot run answers 422 with the engine's reason
#  - the U-Net: native masks equal PyTorch's on every clear pixel
set -u
SUITE=native
. tests/e2e/lib.sh
[ -x "$BIN" ] || { echo "native: $BIN not built"; echo "0 passed, 1 failed"; exit 1; }
REF="$PY $E2E/native_ref.py"
TM=$TMP/models
$PY $E2E/make_native_models.py "$TM" || { ko "cannot write the test models"; finish; exit 1; }
mkdir -p "$TMP/bad" && mv "$TM/dynstride-bad" "$TMP/bad/"
MODELS=${E2E_MODELS:-models}
UNET=0
if [ -f "$MODELS/scenes-unet/weights.pth" ]; then
    # PyTorch for the export and the reference (CI's test-zoo installs it too)
    sh tests/deps.sh python3-torch >/dev/null &&
        $PY $E2E/native_unet.py export "$MODELS" "$TM" && UNET=1 ||
        ko "cannot export the U-Net with dynamic H and W"
else
    echo "skip: no $MODELS/scenes-unet/weights.pth: the U-Net checks do not run"
fi
start N --models "$TM" || { finish; exit 1; }
T=127.0.0.1:$PORT
NPID=$PID

seg() { # seg MODEL IMAGE QUERY OUT : POST, raw indices into OUT; prints the status
    curl -s -o "$4" -D "$TMP/hdr" -w '%{http_code}' --max-time 60 --data-binary @"$2" \
        "$T/segment?model=$1&format=indices&$3"
}
exact() { # exact NAME MODEL IMAGE QUERY MULTIPLE
    local code out
    code=$(seg "$2" "$3" "$4" "$TMP/mask.bin")
    if [ "$code" = 200 ] && out=$($REF check "$TM/$2" "$3" "$TMP/mask.bin" "$5"); then
        ok "$1 ($out)"
    else
        ko "$1 (status $code: ${out:-})"
    fi
}
pc() { metric "$PORT" "skipserve_plan_cache_$1{model=\"$2\"}"; } # pc hits_total MODEL
img() { [ -f "$TMP/i$1x$2.png" ] || $REF image "$TMP/i$1x$2.png" "$1" "$2"; echo "$TMP/i$1x$2.png"; }

t "/models shows native size" 200 \
    "{m['name']: m.get('native') for m in j['models']}.get('dynconv3') == {'multiple': 32, 'max_pixels': 300000} and {m['name']: m.get('native') for m in j['models']}.get('dynstride') == {'multiple': 4, 'max_pixels': 1048576} and 'native' not in [m for m in j['models'] if m['name'] == 'fixed3'][0]" \
    "$T/models"

# --- every pixel at odd sizes ------------------------------------------------
for s in "37 23" "101 67" "250 131"; do
    set -- $s
    exact "3x3 conv, ${1}x$2 (multiple 32: run at $(((($1 + 31) / 32) * 32))x$(((($2 + 31) / 32) * 32)))" \
        dynconv3 "$(img "$1" "$2")" "" 1
done
[ "$(header X-Width)x$(header X-Height)" = 250x131 ] && ok "indices: X-Width/X-Height are the picture's" ||
    ko "indices headers $(header X-Width)x$(header X-Height)"
for s in "1 1" "5 3" "37 23" "101 67" "250 131" "333 97"; do
    set -- $s
    exact "stride-4 model, ${1}x$2 (multiple 4)" dynstride "$(img "$1" "$2")" "" 4
done
code=$(seg dynconv3 "$(img 101 67)" "native=0" "$TMP/mask.bin")
[ "$code" = 200 ] && [ "$(stat -c %s "$TMP/mask.bin")" = 6767 ] &&
    ! $REF check "$TM/dynconv3" "$(img 101 67)" "$TMP/mask.bin" 1 >/dev/null &&
    ok "control: native=0 resizes to 64x64 and back (the check sees it: not the native answer)" ||
    ko "control: native=0 answered $code or matched the native reference"
e "native=maybe" 400 bad_request --data-binary @"$(img 37 23)" "$T/segment?model=dynconv3&native=maybe"
t "png answer at the picture's size" 200 "png(raw)[:2] == (333, 97)" --data-binary @"$(img 333 97)" \
    "$T/segment?model=dynstride"
t "json answer at the picture's size" 200 \
    "j['width'] == 333 and j['height'] == 97 and sum(c['pixels'] for c in j['classes']) == 333 * 97" \
    --data-binary @"$(img 333 97)" "$T/segment?model=dynstride&format=json"
t "overlay answer at the picture's size" 200 "png(raw)[:2] == (250, 131)" --data-binary @"$(img 250 131)" \
    "$T/segment?model=dynstride&format=overlay"

# --- the LRU ---------------------------------------------------------------------
# dynconv3 holds 3 plans (native_plans 3), now those of the three sizes
# above (run at 64x32, 128x96, 256x160). The key is the rounded shape:
# A 70x20 and A2 71x25 both run at 96x32; B 96x64, C 160x96, D 224x64.
# In the order A B C D D A C B A2:
#   A B C  miss, each evicts one of the three     misses 3  evictions 3
#   D      miss, evicts A (the least recent)       misses 4  evictions 4
#   D      hit                                     hits 1
#   A      miss, evicts B                          misses 5  evictions 5
#   C      hit (C, D, A held)                      hits 2
#   B      miss, evicts D                          misses 6  evictions 6
#   A2     hit: another size, A's shape            hits 3
h0=$(pc hits_total dynconv3) m0=$(pc misses_total dynconv3) e0=$(pc evictions_total dynconv3)
declare -A SZ=([A]="70 20" [B]="77 45" [C]="130 70" [D]="200 33" [A2]="71 25")
allok=1
for k in A B C D D A C B A2; do
    set -- ${SZ[$k]}
    code=$(seg dynconv3 "$(img "$1" "$2")" "" "$TMP/mask.bin")
    [ "$code" = 200 ] && $REF check "$TM/dynconv3" "$(img "$1" "$2")" "$TMP/mask.bin" 1 >/dev/null || allok=0
done
[ $allok = 1 ] && ok "LRU: 9 requests of 5 sizes (4 shapes) with 3 plans held, every pixel right" ||
    ko "LRU: a wrong answer"
dh=$(($(pc hits_total dynconv3) - h0)) dm=$(($(pc misses_total dynconv3) - m0))
de=$(($(pc evictions_total dynconv3) - e0))
[ "$dh/$dm/$de" = 3/6/6 ] && ok "LRU: hits 3, misses 6, evictions 6 (least recently used first)" ||
    ko "LRU counts: hits $dh misses $dm evictions $de, want 3/6/6"
[ "$(pc plans dynconv3)" = 3 ] && ok "LRU: 3 plans held (the bound)" || ko "plans held $(pc plans dynconv3)"

# RSS: 24 large shapes through a 3-plan cache. Unbounded, the arenas alone
# would be up to 24 of the largest plan; bounded, RSS grows by about 3.
$REF image "$TMP/big.png" 1000 280
rss0=$(awk '/^VmRSS/ {print $2}' /proc/$NPID/status)
allok=1
for i in $(seq 0 23); do
    w=$((264 + 32 * i)) h=$((280 - (i % 3))) # growing: the last 3 held are the largest
    $PY -c "from PIL import Image; Image.open('$TMP/big.png').crop((0, 0, $w, $h)).save('$TMP/crop.png')"
    code=$(seg dynconv3 "$TMP/crop.png" "" "$TMP/mask.bin")
    [ "$code" = 200 ] || allok=0
    # every answer checked would take a while on 2 cores: every fourth
    if [ $((i % 4)) = 0 ]; then
        $REF check "$TM/dynconv3" "$TMP/crop.png" "$TMP/mask.bin" 1 >/dev/null || allok=0
    fi
done
rss1=$(awk '/^VmRSS/ {print $2}' /proc/$NPID/status)
grow=$(((rss1 - rss0) / 1024))
arena_mb=$(($(pc bytes dynconv3) / 1048576))
[ $allok = 1 ] && ok "24 large shapes (up to 1000x280): all answered, sampled answers exact" ||
    ko "24 large shapes: a failure"
[ "$(pc plans dynconv3)" = 3 ] && ok "plans held still 3 (arenas $arena_mb MB)" ||
    ko "plans held $(pc plans dynconv3)"
big_plan=$(($(pc bytes dynconv3) / 3 / 1024))
bound=$((big_plan * 3 / 1024 + 64))
[ $grow -lt $bound ] && [ $grow -lt $((big_plan * 24 / 1024)) ] &&
    ok "RSS grew $grow MB over 24 shapes (bound $bound MB; 24 arenas up to $((big_plan * 24 / 1024)) MB)" ||
    ko "RSS grew $grow MB (bound $bound MB, 24 arenas $((big_plan * 24 / 1024)) MB)"

# A byte bound below one plan's arena: it runs, then goes.
e1=$(pc evictions_total dynbytes)
exact "native_cache_mb 1: a 600x400 picture (its plan is larger)" dynbytes "$(img 600 400)" "" 1
[ "$(pc plans dynbytes)" = 0 ] && [ "$(($(pc evictions_total dynbytes) - e1))" = 1 ] &&
    ok "byte bound: the plan was evicted when its run ended (0 held)" ||
    ko "byte bound: $(pc plans dynbytes) held, evictions +$(($(pc evictions_total dynbytes) - e1))"

# --- concurrency -------------------------------------------------------------------
# Seven requests at once, five shapes over two models, two of them twice
# (equal shapes may share a run, different ones never).
jobs=("dynstride 123 45" "dynstride 64 64" "dynstride 123 45" "dynconv3 99 77" "dynconv3 150 20"
    "dynconv3 99 77" "dynstride 17 211")
for i in "${!jobs[@]}"; do
    set -- ${jobs[$i]}
    img "$2" "$3" >/dev/null
done
pids=()
for i in "${!jobs[@]}"; do
    set -- ${jobs[$i]}
    curl -s -o "$TMP/c$i.bin" -w '%{http_code}' --max-time 60 --data-binary @"$TMP/i$2x$3.png" \
        "$T/segment?model=$1&format=indices" >"$TMP/c$i.code" &
    pids+=($!)
done
wait "${pids[@]}"
allok=1
for i in "${!jobs[@]}"; do
    set -- ${jobs[$i]}
    mult=1
    [ "$1" = dynstride ] && mult=4
    [ "$(cat "$TMP/c$i.code")" = 200 ] &&
        $REF check "$TM/$1" "$TMP/i$2x$3.png" "$TMP/c$i.bin" $mult >/dev/null || { allok=0; echo "    job $i: ${jobs[$i]}"; }
done
[ $allok = 1 ] && ok "concurrency: 7 requests of 5 shapes on 2 models at once, every pixel right" ||
    ko "concurrency: a wrong or failed answer"

# --- past native_max_pixels (300000 for dynconv3) ----------------------------------------
# 700x600 rounds to 704x608 = 428032 pixels: tiles of the model's 64x64.
m1=$(pc misses_total dynconv3) h1=$(pc hits_total dynconv3)
t1=$(metric "$PORT" 'skipserve_tiles_total{model="dynconv3"}')
exact "past native_max_pixels: 700x600 runs as tiles (exact for a 3x3 conv)" dynconv3 "$(img 700 600)" "" 1
t2=$(metric "$PORT" 'skipserve_tiles_total{model="dynconv3"}')
[ $((t2 - t1)) -gt 100 ] && [ "$(pc misses_total dynconv3)$(pc hits_total dynconv3)" = "$m1$h1" ] &&
    ok "the fallback ran $((t2 - t1)) tiles and no native plan" ||
    ko "fallback: tiles +$((t2 - t1)), plan cache misses $m1 -> $(pc misses_total dynconv3)"
code=$(seg dynconv3 "$(img 700 600)" "tile=0" "$TMP/mask.bin")
[ "$code" = 200 ] && [ "$(stat -c %s "$TMP/mask.bin")" = 420000 ] &&
    [ "$(metric "$PORT" 'skipserve_tiles_total{model="dynconv3"}')" = "$t2" ] &&
    ok "past the limit with tile=0: the resize (a 700x600 mask, no tiles)" || ko "tile=0 past the limit: $code"
code=$(seg fixed3 "$(img 101 67)" "" "$TMP/mask.bin")
[ "$code" = 200 ] && ! $REF check "$TM/fixed3" "$(img 101 67)" "$TMP/mask.bin" 1 >/dev/null &&
    [ -z "$(curl -s "$T/metrics" | grep 'plan_cache.*fixed3')" ] &&
    ok "a fixed-size model still resizes (no plan cache)" || ko "fixed-size model: $code"

# --- a shape the network cannot run: 422 with the engine's reason, nothing held
t "a height the model cannot run (100x100 -> 128x128): 422 with the reason" 422 \
    "j['error']['code'] == 'bad_request' and 'cannot run at 128x128' in j['error']['message'] and 'broadcast' in j['error']['message']" \
    --data-binary @"$(img 100 100)" "$T/segment?model=dynodd"
t "the same model at a height it can run (100x90 -> 128x96)" 200 "png(raw)[:2] == (100, 90)" \
    --data-binary @"$(img 100 90)" "$T/segment?model=dynodd"

# --- a wrong multiple fails at load ---------------------------------------------------
"$BIN" --host 127.0.0.1 --port 0 --models "$TMP/bad" >/dev/null 2>"$TMP/bad.err" &
BP=$!
PIDS+=("$BP")
for _ in $(seq 100); do kill -0 $BP 2>/dev/null || break; sleep 0.1; done
grep -q "input.multiple must be a multiple of the network's total stride" "$TMP/bad.err" &&
    ok "input.multiple 2 for a stride-4 model: load fails and says why" ||
    ko "bad multiple: $(tail -2 "$TMP/bad.err")"

# --- the U-Net --------------------------------------------------------------------
if [ $UNET = 1 ]; then
    $PY -c "
from PIL import Image
im = Image.open('tests/data/scene.png'); big = Image.new('L', (301, 203))
for y in range(0, 203, 100):
    for x in range(0, 301, 110): big.paste(im, (x, y))
big.save('$TMP/mosaic.png')
im.crop((5, 9, 128, 128)).save('$TMP/odd.png')"
    for p in tests/data/scene.png "$TMP/odd.png" "$TMP/mosaic.png"; do
        code=$(seg scenes-native "$p" "" "$TMP/mask.bin")
        if [ "$code" = 200 ] && out=$($PY $E2E/native_unet.py check "$MODELS" "$p" "$TMP/mask.bin"); then
            ok "U-Net at native size, $(basename "$p"): PyTorch's mask ($out)"
        else ko "U-Net $(basename "$p"): status $code: ${out:-}"; fi
    done
fi

wait_buffered_zero && ok "memory budget back to zero" || ko "still held: $(buffered)"
stop_ok N "$NPID"
finish
