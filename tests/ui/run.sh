#!/bin/bash
# run.sh — the demo page in a real browser (make test-ui): starts the real
# server on loopback, takes the references from the HTTP API with curl (and
# PIL for the mask's pixels), then drives headless Chromium (Debian's
# chromium, through playwright-core from npm) over the page: upload an image
# for each task, wait for the answer, check the DOM and the overlay canvas's
# pixels against the references. Screenshots land in $UI_ARTIFACTS
# (default $BUILD/ui-artifacts).
set -u
SUITE=ui
. tests/e2e/lib.sh
ART=${UI_ARTIFACTS:-$BUILD/ui-artifacts}
NODE_DIR=$BUILD/ui-node
[ -x "$BIN" ] || { echo "ui: $BIN not built"; echo "0 passed, 1 failed"; exit 1; }
# node and npm: the machine's Node.js (nodesource's nodejs carries npm and
# conflicts with Debian's npm package; Debian's nodejs + npm do as well)
command -v node >/dev/null || sh tests/deps.sh nodejs >/dev/null
command -v npm >/dev/null || sh tests/deps.sh npm >/dev/null
sh tests/deps.sh chromium python3-pil python3-numpy >/dev/null && command -v npm >/dev/null ||
    { echo "ui: missing packages (chromium, node, npm)"; echo "0 passed, 1 failed"; exit 1; }
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
    mkdir -p "$NODE_DIR"
    # --ignore-scripts: playwright-core downloads nothing itself; Debian's
    # chromium is the browser
    (cd "$NODE_DIR" && npm install --ignore-scripts --no-audit --no-fund playwright-core@1 >&2) ||
        { echo "ui: npm install playwright-core failed"; echo "0 passed, 1 failed"; exit 1; }
fi
cp tests/ui/ui_test.mjs "$NODE_DIR/" # ESM resolves packages beside the script
mkdir -p "$ART"

MODELS=${E2E_MODELS:-models}
start U --models "$MODELS" || { finish; exit 1; }
UPID=$PID
B=127.0.0.1:$PORT
REFS=$TMP/refs
mkdir -p "$REFS"
cp tests/data/shirt.png tests/data/scene.png "$REFS/"
head -c 300 tests/data/shirt.png >"$REFS/truncated.png"
curl -sf "$B/models" -o "$REFS/models.json"
CLS=$($PY -c "import json,sys; print([m['name'] for m in json.load(open(sys.argv[1]))['models'] if m.get('task') == 'classify'][0])" "$REFS/models.json")
SEG=$($PY -c "import json,sys; print([m['name'] for m in json.load(open(sys.argv[1]))['models'] if m.get('task') == 'segment'][0])" "$REFS/models.json")
curl -sf --data-binary @tests/data/shirt.png "$B/classify?model=$CLS" -o "$REFS/classify.json"
curl -sf --data-binary @tests/data/scene.png "$B/segment?model=$SEG&format=json" -o "$REFS/segment.json"
curl -sf --data-binary @tests/data/scene.png "$B/segment?model=$SEG&format=png" -o "$REFS/mask.png"
curl -s --data-binary @"$REFS/truncated.png" "$B/classify?model=$CLS" -o "$REFS/bad.json"
# sampled pixels: a grid plus one pixel of every class present, each with
# the mask's palette colour there and the photo's gray value
$PY - "$REFS" <<'PYEOF' || { ko "references"; finish; exit 1; }
import json, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
mask = Image.open(f"{d}/mask.png")
assert mask.mode == "P", mask.mode
pal = mask.getpalette()
palette = [pal[3 * i:3 * i + 3] for i in range(len(pal) // 3)]
idx = np.array(mask)
photo = np.array(Image.open(f"{d}/scene.png").convert("L"))
h, w = idx.shape
pts = [(x, y) for y in range(3, h, h // 6) for x in range(5, w, w // 6)]
for c in np.unique(idx):
    ys, xs = np.nonzero(idx == c)
    pts.append((int(xs[len(xs) // 2]), int(ys[len(ys) // 2])))
samples = [[x, y, palette[idx[y, x]], int(photo[y, x])] for x, y in pts]
json.dump(samples, open(f"{d}/samples.json", "w"))
json.dump(palette, open(f"{d}/palette.json", "w"))
PYEOF
node "$NODE_DIR/ui_test.mjs" "http://$B" "$REFS" "$ART" | tee "$TMP/ui.log"
grep -q '^ok   ' "$TMP/ui.log" && PASS=$((PASS + $(grep -c '^ok   ' "$TMP/ui.log")))
FAIL=$((FAIL + $(grep -c '^FAIL ' "$TMP/ui.log")))
grep -q ' passed, ' "$TMP/ui.log" || ko "the browser test did not finish"
# the downloaded mask is the API's mask, pixel for pixel
$PY -c "
import sys, numpy as np
from PIL import Image
a, b = (np.array(Image.open(p)) for p in sys.argv[1:3])
sys.exit(0 if a.shape == b.shape and (a == b).all() else 1)
" "$ART/downloaded-mask.png" "$REFS/mask.png" && ok "downloaded mask = /segment?format=png, pixel for pixel" ||
    ko "downloaded mask differs from the API's"
# --no-ui: the page is gone, the API is not
start N --models "$MODELS" --no-ui || { finish; exit 1; }
e "--no-ui: / is 404" 404 not_found "127.0.0.1:$PORT/"
e "--no-ui: /ui/app.js is 404" 404 not_found "127.0.0.1:$PORT/ui/app.js"
t "--no-ui: the API still answers" 200 "" --data-binary @tests/data/shirt.png "127.0.0.1:$PORT/classify"
stop_ok N "$PID"
stop_ok U "$UPID"
echo "ui: screenshots in $ART"
finish
