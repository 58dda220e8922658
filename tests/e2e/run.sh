#!/bin/sh
# run.sh — end-to-end tests of the real skipserve binary with curl.
#   BUILD=build sh tests/e2e/run.sh        (make test-e2e does this)
# Starts the server on a free loopback port (--port 0) with the repository's
# models (E2E_MODELS overrides; tiny generated models when none exist), checks
# every endpoint, input form and error row of shared/API.md, concurrency with
# batching, client disconnects, limits, and SIGTERM draining under load.
# Ends with "N passed, N failed"; exits non-zero when anything failed.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

SUITE=e2e
. tests/e2e/lib.sh

[ -x "$BIN" ] || { echo "e2e: $BIN not built"; echo "0 passed, 1 failed"; exit 1; }
sh tests/deps.sh curl python3 python3-pil >/dev/null || { echo "e2e: missing packages"; exit 1; }

# --- inputs and models ---------------------------------------------------------
IMG=$TMP/img
mkdir -p "$IMG"
$PY $E2E/make_images.py "$IMG" || { echo "e2e: cannot make test images"; exit 1; }
head -c 5000000 /dev/zero >"$TMP/5mb.bin"
head -c 300000 /dev/urandom >"$TMP/300k.bin"

MODELS=${E2E_MODELS:-models}
if ! ls "$MODELS"/*/model.onnx >/dev/null 2>&1; then
    MODELS=$BUILD/e2e-models
    if ! ls "$MODELS"/*/model.onnx >/dev/null 2>&1; then
        echo "e2e: no models in ${E2E_MODELS:-models}/; generating tiny ones in $MODELS"
        if ! nice -n 10 $PY $E2E/make_tiny_models.py "$MODELS" >"$TMP/tiny.log" 2>&1; then
            echo "e2e: SKIP — no repository models and no torch to make tiny ones"
            tail -3 "$TMP/tiny.log"
            echo "0 passed, 0 failed"
            exit 0
        fi
    fi
fi
echo "e2e: models from $MODELS, binary $BIN"

# --- command line ----------------------------------------------------------------
help=$("$BIN" --help)
missing=
for f in port host models model threads http-threads prep-threads max-body max-pixels timeout-ms \
    drain-timeout max-batch max-delay-us max-queue log-format max-buffered max-connections \
    conn-timeout api-keys auth-open tls-cert tls-key; do
    env=SKIPSERVE_$(echo "$f" | tr a-z- A-Z_)
    echo "$help" | grep -q -- "--$f " || missing="$missing --$f"
    echo "$help" | grep -q -- "$env" || missing="$missing $env"
done
[ -z "$missing" ] && ok "--help documents every flag and its env twin" || ko "--help lacks:$missing"
"$BIN" --no-such-flag >/dev/null 2>&1
[ $? = 2 ] && ok "unknown flag exits 2" || ko "unknown flag exits 2"

# --- server A: the main battery --------------------------------------------------
start A --models "$MODELS" --http-threads 4 --max-body 4M --max-pixels 40000000 \
    --log-format json || { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
A=127.0.0.1:$PORT
APID=$PID

t "GET /healthz" 200 "j == {'status': 'ok'}" "$A/healthz" && ctype_is application/json "healthz JSON"
t "GET /readyz when ready" 200 "j['status'] == 'ready'" "$A/readyz"
t "HEAD /healthz" 200 "" -I "$A/healthz"
t "GET /models" 200 "len(j['models']) >= 1 and all(set(m) >= {'name','task','input_shape','max_batch','labels','status'} and m['status'] == 'ready' for m in j['models'])" "$A/models"
cp "$TMP/body" "$TMP/models.json"
CLS=$($PY -c "import json,sys; m=[x for x in json.load(open(sys.argv[1]))['models'] if x['task']=='classify']; print(m[0]['name'] if m else '')" "$TMP/models.json")
SEG=$($PY -c "import json,sys; m=[x for x in json.load(open(sys.argv[1]))['models'] if x['task']=='segment']; print(m[0]['name'] if m else '')" "$TMP/models.json")
NCLS=$($PY -c "import json,sys; print(next((x['labels'] for x in json.load(open(sys.argv[1]))['models'] if x['name']==sys.argv[2]), 0))" "$TMP/models.json" "$CLS")
NSEG=$($PY -c "import json,sys; print(next((x['labels'] for x in json.load(open(sys.argv[1]))['models'] if x['name']==sys.argv[2]), 0))" "$TMP/models.json" "$SEG")
echo "e2e: classify model '${CLS:-none}' ($NCLS classes), segment model '${SEG:-none}' ($NSEG classes)"
[ -n "$CLS" ] && ok "a classify model is served" || ko "a classify model is served"
[ -n "$SEG" ] && ok "a segment model is served" || ko "a segment model is served"

tensor_json() { # tensor_json MODEL N [C H W override] -> file with a zero tensor
    $PY - "$TMP/models.json" "$@" <<'EOF'
import json, sys
models = {m['name']: m for m in json.load(open(sys.argv[1]))['models']}
_, c, h, w = models[sys.argv[2]]['input_shape']
n = int(sys.argv[3])
if len(sys.argv) > 4:
    c, h, w = map(int, sys.argv[4:7])
print(json.dumps({"tensor": {"shape": [n, c, h, w], "data": [0.25] * (n * c * h * w)}}))
EOF
}

# Classify answers: predictions per image, top_k entries, sorted probabilities.
PRED="j['model'] == '$CLS' and all(len(p) == K and all(set(x) == {'label','index','score'} and 0 <= x['score'] <= 1 and 0 <= x['index'] < $NCLS and isinstance(x['label'], str) for x in p) and all(p[i]['score'] >= p[i+1]['score'] for i in range(len(p)-1)) and sum(x['score'] for x in p) <= 1.0001 for p in j['predictions']) and set(j['timing_ms']) == {'decode','queue','infer','total'} and j['batch_size'] >= 1"
K5=$((NCLS < 5 ? NCLS : 5))
p() { echo "${PRED//K/$2} and len(j['predictions']) == $1"; } # p NIMAGES TOPK

if [ -n "$CLS" ]; then
    C="$A/classify?model=$CLS"
    t "classify PNG (image/png)" 200 "$(p 1 $K5)" -H 'Content-Type: image/png' --data-binary @"$IMG/gray.png" "$C" &&
        ctype_is application/json "classify answers JSON"
    t "classify, curl's default Content-Type (sniffed)" 200 "$(p 1 $K5)" --data-binary @"$IMG/rgb.png" "$C"
    t "classify octet-stream JPEG (sniffed)" 200 "$(p 1 $K5)" -H 'Content-Type: application/octet-stream' --data-binary @"$IMG/base.jpg" "$C"
    for f in rgba.png gray_alpha.png palette.png gray16.png rgb16.png base.jpg prog.jpg gray.jpg cmyk.jpg exif6.jpg; do
        t "classify $f" 200 "$(p 1 $K5)" --data-binary @"$IMG/$f" "$C"
    done
    INVERT=$($PY -c "import json,sys; print(json.load(open(sys.argv[1])).get('input', {}).get('invert', ''))" "$MODELS/$CLS/model.json" 2>/dev/null)
    if [ "$INVERT" = auto ]; then
        curl -s --max-time 30 --data-binary @"$IMG/gray.png" "$C&top_k=$NCLS" >"$TMP/pos.json"
        t "invert=auto: a negative scores like the positive" 200 "[(x['index'], round(x['score'], 4)) for x in j['predictions'][0]] == [(x['index'], round(x['score'], 4)) for x in json.load(open('$TMP/pos.json'))['predictions'][0]]" \
            --data-binary @"$IMG/gray_neg.png" "$C&top_k=$NCLS"
    fi
    t "model omitted (one classify model)" 200 "" --data-binary @"$IMG/gray.png" "$A/classify?top_k=1"
    t "top_k=2" 200 "$(p 1 2)" --data-binary @"$IMG/gray.png" "$C&top_k=2"
    t "top_k=all classes" 200 "$(p 1 $NCLS) and isclose(sum(x['score'] for x in j['predictions'][0]), 1, 1e-3)" --data-binary @"$IMG/gray.png" "$C&top_k=$NCLS"
    # Answers per image, in input order, equal to single-image answers.
    for f in gray.png rgb2.png prog.jpg; do
        curl -s --max-time 30 --data-binary @"$IMG/$f" "$C&top_k=1" >"$TMP/single_$f.json"
    done
    t "multipart: 3 files -> 3 answers in order" 200 "$(p 3 1) and [q[0]['index'] for q in j['predictions']] == [json.load(open(f))['predictions'][0][0]['index'] for f in ['$TMP/single_gray.png.json','$TMP/single_rgb2.png.json','$TMP/single_prog.jpg.json']]" \
        -F "a=@$IMG/gray.png" -F "b=@$IMG/rgb2.png;type=image/png" -F "image=@$IMG/prog.jpg" -F top_k=1 "$C"
    t "multipart model field" 200 "$(p 1 $K5)" -F "model=$CLS" -F "image=@$IMG/gray.png" "$A/classify"
    B64=$(base64 -w0 "$IMG/gray.png")
    B64J=$(base64 -w0 "$IMG/base.jpg")
    t "JSON image (base64)" 200 "$(p 1 $K5)" -H 'Content-Type: application/json' -d "{\"image\":\"$B64\",\"model\":\"$CLS\"}" "$A/classify"
    t "JSON images list + top_k" 200 "$(p 2 1)" -H 'Content-Type: application/json' -d "{\"images\":[\"$B64\",\"$B64J\"],\"top_k\":1}" "$C"
    t "JSON data URL" 200 "$(p 1 $K5)" -H 'Content-Type: application/json' -d "{\"image\":\"data:image/png;base64,$B64\"}" "$C"
    tensor_json "$CLS" 2 >"$TMP/t2.json"
    t "JSON tensor [2,C,H,W]" 200 "$(p 2 $K5)" -H 'Content-Type: application/json' --data-binary @"$TMP/t2.json" "$C"
    # Errors (API.md's table), each with its status and code.
    e "405 GET /classify" 405 method_not_allowed "$A/classify"
    [ "$(header Allow)" = POST ] && ok "405 carries Allow: POST" || ko "405 carries Allow: POST ($(header Allow))"
    e "405 POST /healthz" 405 method_not_allowed -d x "$A/healthz"
    [ "$(header Allow)" = "GET,HEAD" ] && ok "405 carries Allow: GET, HEAD" || ko "Allow on /healthz ($(header Allow))"
    e "404 unknown path" 404 not_found "$A/nope"
    e "404 unknown model (query)" 404 unknown_model --data-binary @"$IMG/gray.png" "$A/classify?model=no-such-model"
    e "404 unknown model (JSON)" 404 unknown_model -H 'Content-Type: application/json' -d "{\"image\":\"$B64\",\"model\":\"nope\"}" "$A/classify"
    e "415 text/plain" 415 unsupported_media_type -H 'Content-Type: text/plain' --data-binary @"$IMG/gray.png" "$C"
    e "415 image/gif" 415 unsupported_media_type -H 'Content-Type: image/gif' --data-binary @"$IMG/gray.png" "$C"
    e "400 not an image" 400 bad_image --data-binary @"$IMG/garbage.bin" "$C"
    e "400 truncated JPEG" 400 bad_image -H 'Content-Type: image/jpeg' --data-binary @"$IMG/trunc.jpg" "$C"
    e "400 truncated PNG" 400 bad_image -H 'Content-Type: image/png' --data-binary @"$IMG/trunc.png" "$C"
    e "400 PNG Content-Type, garbage body" 400 bad_image -H 'Content-Type: image/png' --data-binary @"$IMG/garbage.bin" "$C"
    e "400 bad base64" 400 bad_image -H 'Content-Type: application/json' -d '{"image":"@@not base64@@"}' "$C"
    e "400 data URL that is not base64" 400 bad_image -H 'Content-Type: application/json' -d '{"image":"data:image/png,abc"}' "$C"
    e "400 base64 of garbage" 400 bad_image -H 'Content-Type: application/json' -d "{\"image\":\"$(base64 -w0 "$IMG/garbage.bin")\"}" "$C"
    e "400 multipart with a broken file" 400 bad_image -F "image=@$IMG/gray.png" -F "image=@$IMG/trunc.jpg" "$C"
    e "400 malformed JSON" 400 bad_request -H 'Content-Type: application/json' -d '{"image": ' "$C"
    e "400 JSON without image" 400 bad_request -H 'Content-Type: application/json' -d '{"foo": 1}' "$C"
    e "400 JSON wrong type" 400 bad_request -H 'Content-Type: application/json' -d '{"image": 5}' "$C"
    e "400 JSON not an object" 400 bad_request -H 'Content-Type: application/json' -d '[1,2]' "$C"
    e "400 JSON top_k wrong type" 400 bad_request -H 'Content-Type: application/json' -d "{\"image\":\"$B64\",\"top_k\":\"x\"}" "$C"
    e "400 top_k=0" 400 bad_request --data-binary @"$IMG/gray.png" "$C&top_k=0"
    e "400 top_k over classes" 400 bad_request --data-binary @"$IMG/gray.png" "$C&top_k=$((NCLS + 1))"
    e "400 top_k not a number" 400 bad_request --data-binary @"$IMG/gray.png" "$C&top_k=abc"
    e "400 empty body" 400 bad_request -H 'Content-Type: image/png' --data-binary '' "$C"
    e "400 multipart without boundary" 400 bad_request -H 'Content-Type: multipart/form-data' --data-binary @"$IMG/gray.png" "$C"
    e "400 multipart without files" 400 bad_request -F top_k=1 "$C"
    e "422 tensor of the wrong shape" 422 bad_tensor -H 'Content-Type: application/json' -d '{"tensor":{"shape":[1,3,5,5],"data":[0]}}' "$C"
    tensor_json "$CLS" 1 1 2 2 >"$TMP/tbad.json"
    e "422 tensor shape not the model's" 422 bad_tensor -H 'Content-Type: application/json' --data-binary @"$TMP/tbad.json" "$C"
    e "422 tensor data count wrong" 422 bad_tensor -H 'Content-Type: application/json' -d '{"tensor":{"shape":[1,1,2,2],"data":[1,2,3]}}' "$C"
    e "400 tensor data not numbers" 400 bad_request -H 'Content-Type: application/json' -d '{"tensor":{"shape":[1,1,1,2],"data":[1,"a"]}}' "$C"
    e "413 body over --max-body (Content-Length)" 413 too_large --data-binary @"$TMP/5mb.bin" "$C"
    e "413 body over --max-body (chunked)" 413 too_large -H 'Transfer-Encoding: chunked' --data-binary @"$TMP/5mb.bin" "$C"
    e "413 100000x100000 PNG header" 413 too_large --data-binary @"$IMG/huge.png" "$C"
    # Transfer-Encoding wins over Content-Length (RFC 9112): the chunked body
    # is read whole, not into a buffer sized by the 1-byte Content-Length
    t "Content-Length: 1 with a chunked body: the body is read as chunked" 200 "len(j['predictions']) == 1" \
        -H 'Content-Length: 1' -H 'Transfer-Encoding: chunked' --data-binary @"$IMG/rgb.png" "$C"
    [ -n "$SEG" ] && e "400 segment model on /classify" 400 bad_request --data-binary @"$IMG/gray.png" "$A/classify?model=$SEG"
fi

if [ -n "$SEG" ]; then
    S="$A/segment?model=$SEG"
    t "segment PNG -> palette PNG of the input size" 200 "png(raw)[0:2] == (60, 40) and png(raw)[3] == 3" --data-binary @"$IMG/gray.png" "$S" &&
        ctype_is image/png "segment answers image/png"
    t "segment RGB JPEG -> mask of its size" 200 "png(raw)[0:2] == (80, 60)" --data-binary @"$IMG/prog.jpg" "$S"
    t "segment EXIF-rotated JPEG -> 40x60 mask" 200 "png(raw)[0:2] == (40, 60)" --data-binary @"$IMG/exif6.jpg" "$S"
    SEGJ="j['model'] == '$SEG' and (j['width'], j['height']) == (W, H) and len(j['classes']) == $NSEG and sum(c['pixels'] for c in j['classes']) == W*H and isclose(sum(c['fraction'] for c in j['classes']), 1, 1e-3) and all(set(c) == {'index','label','pixels','fraction'} for c in j['classes']) and png(b64(j['mask_png']))[0:2] == (W, H) and set(j['timing_ms']) == {'decode','queue','infer','total'}"
    sj() { local s=${SEGJ//W/$1}; echo "${s//H/$2}"; }
    t "segment format=json" 200 "$(sj 64 48)" --data-binary @"$IMG/rgb.png" "$S&format=json" &&
        ctype_is application/json "segment json content type"
    t "segment format=overlay" 200 "png(raw)[0:2] == (45, 30) and png(raw)[3] == 2" --data-binary @"$IMG/rgba.png" "$S&format=overlay" &&
        ctype_is image/png "overlay is image/png"
    t "segment format=indices" 200 "len(raw) == 60*40 and max(raw) < $NSEG" --data-binary @"$IMG/gray.png" "$S&format=indices"
    [ "$(header X-Width)x$(header X-Height)" = 60x40 ] && ok "indices carry X-Width/X-Height" || ko "indices headers ($(header X-Width)x$(header X-Height))"
    ctype_is application/octet-stream "indices are application/octet-stream"
    t "segment multipart, 2 images, json" 200 "isinstance(j, list) and len(j) == 2 and (j[0]['width'], j[0]['height']) == (64, 48) and (j[1]['width'], j[1]['height']) == (50, 70)" \
        -F "image=@$IMG/rgb.png" -F "image=@$IMG/rgb2.png" -F format=json "$S"
    t "segment JSON body with format" 200 "isinstance(j, dict) and (j['width'], j['height']) == (60, 40)" -H 'Content-Type: application/json' -d "{\"image\":\"$(base64 -w0 "$IMG/gray.png")\",\"format\":\"json\"}" "$S"
    tensor_json "$SEG" 1 >"$TMP/ts.json"
    t "segment tensor -> mask at model size" 200 "len(raw) > 8 and png(raw)[3] == 3" -H 'Content-Type: application/json' --data-binary @"$TMP/ts.json" "$S"
    e "422 several images, format=png" 422 bad_request -F "image=@$IMG/rgb.png" -F "image=@$IMG/rgb2.png" "$S"
    e "400 unknown format" 400 bad_request --data-binary @"$IMG/gray.png" "$S&format=gif"
    e "405 GET /segment" 405 method_not_allowed "$A/segment"
    e "400 truncated JPEG (segment)" 400 bad_image --data-binary @"$IMG/trunc.jpg" "$S"
fi

# A 1 x 30,000,000 picture (within --max-pixels, 260 KB as PNG): preprocessing
# streams rows (loaders/image_resize.c), so it costs megabytes, not the 15 GB
# of a 128-wide float copy of every source row; its 30M-row mask encodes
# (libpng's default side limit is 1M).
if [ -n "$SEG" ] && [ -n "$CLS" ]; then
    t "classify a 1x30000000 PNG" 200 "len(j['predictions'][0]) >= 1" --data-binary @"$IMG/tall.png" "$A/classify?model=$CLS"
    t "segment a 1x30000000 PNG (json)" 200 "(j['width'], j['height']) == (1, 30000000) and sum(c['pixels'] for c in j['classes']) == 30000000" \
        --data-binary @"$IMG/tall.png" "$A/segment?model=$SEG&format=json"
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$APID/status")
    [ "${hwm:-9999999}" -lt 1048576 ] && ok "peak RSS after the tall image under 1 GiB (${hwm} kB)" ||
        ko "peak RSS after the tall image under 1 GiB (${hwm} kB)"
fi

# The README's samples (tests/data, written by models/make_samples.py) give
# PyTorch's answers when the repository's models serve them.
SAMPLES=${E2E_SAMPLES:-tests/data}
if [ -f "$SAMPLES/expected.json" ] && [ -n "$CLS" ] && [ -n "$SEG" ] &&
    $PY -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not (j['shirt.png']['model'] == sys.argv[2] and j['scene.png']['model'] == sys.argv[3]))" \
        "$SAMPLES/expected.json" "$CLS" "$SEG" 2>/dev/null; then
    X="json.load(open('$SAMPLES/expected.json'))"
    t "README sample: shirt.png top-1 as PyTorch's" 200 "j['predictions'][0][0]['label'] == $X['shirt.png']['top5'][0]['label'] and isclose(j['predictions'][0][0]['score'], $X['shirt.png']['top5'][0]['score'], 0.02)" \
        --data-binary @"$SAMPLES/shirt.png" "$A/classify"
    t "README sample: shirt.jpg top-1 as PyTorch's" 200 "j['predictions'][0][0]['label'] == $X['shirt.jpg']['top1']" \
        --data-binary @"$SAMPLES/shirt.jpg" "$A/classify"
    t "README sample: scene.png mask (PNG) is PyTorch's argmax" 200 "png(raw)[3] == 3 and (arr(raw) == arr('$SAMPLES/scene_torch.png')).mean() >= 0.99" \
        --data-binary @"$SAMPLES/scene.png" "$A/segment"
    t "README sample: scene.png class counts near PyTorch's" 200 "all(abs(c['pixels'] - $X['scene.png']['torch_classes'].get(c['label'], 0)) <= 0.01 * j['width'] * j['height'] for c in j['classes'])" \
        --data-binary @"$SAMPLES/scene.png" "$A/segment?format=json"
else
    echo "e2e: no $SAMPLES/expected.json for these models; README sample checks skipped"
fi

# Robustness: hang-ups and idle connections must not hurt anyone else.
$PY $E2E/sock.py cut-body "$PORT"
t "serves after a client hung up mid-body" 200 "" "$A/healthz"
[ -n "$SEG" ] && for _ in 1 2 3 4; do $PY $E2E/sock.py cut-wait "$PORT" "/segment?model=$SEG" "$IMG/prog.jpg"; done
[ -n "$CLS" ] && $PY $E2E/sock.py cut-wait "$PORT" "/classify?model=$CLS" "$IMG/gray.png"
sleep 0.3
if [ -n "$SEG" ]; then QURL="$A/segment?model=$SEG&format=indices"; else QURL="$A/classify?model=$CLS"; fi
t "serves after clients hung up while queued" 200 "" --data-binary @"$IMG/gray.png" "$QURL"
$PY $E2E/sock.py idle "$PORT" 40 3 &
IDLE=$!
sleep 0.5
t "answers while 40 idle connections are open" 200 "" --max-time 3 --data-binary @"$IMG/gray.png" "$A/classify?model=$CLS&top_k=1"
wait $IDLE
n=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "$A/healthz" "$A/readyz" | tr -d '\n')
[ "$n" = 10 ] && ok "keep-alive: two requests, one connection" || ko "keep-alive (connects: $n)"

# 64 concurrent requests: all answered, each like its single-image answer, and
# batches of more than one image seen in /metrics.
if [ -n "$CLS" ]; then
    files=(gray.png rgb.png base.jpg prog.jpg)
    for f in "${files[@]}"; do
        curl -s --max-time 30 --data-binary @"$IMG/$f" "$A/classify?model=$CLS&top_k=1" >"$TMP/ref_$f.json"
    done
    before_n=$(metric "$PORT" "skipserve_batch_size_count{model=\"$CLS\"}")
    before_1=$(metric "$PORT" "skipserve_batch_size_bucket{model=\"$CLS\",le=\"1\"}")
    conc=()
    for i in $(seq 0 63); do
        f=${files[$((i % 4))]}
        curl -s --max-time 60 -o "$TMP/c$i.json" -w '%{http_code}' --data-binary @"$IMG/$f" \
            "$A/classify?model=$CLS&top_k=1" >"$TMP/c$i.code" &
        conc+=($!)
    done
    wait "${conc[@]}"
    bad=0
    for i in $(seq 0 63); do
        f=${files[$((i % 4))]}
        if [ "$(cat "$TMP/c$i.code")" != 200 ] || ! jc "$TMP/c$i.json" "j['predictions'][0][0]['index'] == json.load(open('$TMP/ref_$f.json'))['predictions'][0][0]['index'] and isclose(j['predictions'][0][0]['score'], json.load(open('$TMP/ref_$f.json'))['predictions'][0][0]['score'], 1e-3)" >/dev/null; then
            bad=$((bad + 1))
        fi
    done
    [ $bad = 0 ] && ok "64 concurrent requests all answered correctly" || ko "64 concurrent: $bad wrong"
    after_n=$(metric "$PORT" "skipserve_batch_size_count{model=\"$CLS\"}")
    after_1=$(metric "$PORT" "skipserve_batch_size_bucket{model=\"$CLS\",le=\"1\"}")
    batches=$((after_n - before_n))
    singles=$((after_1 - before_1))
    echo "    64 requests ran in $batches engine batches ($singles of one image)"
    [ "$batches" -gt 0 ] && [ "$singles" -lt "$batches" ] && ok "batch sizes > 1 in /metrics" ||
        ko "batch sizes > 1 in /metrics ($batches batches, $singles single)"
    # The load generator of bench/serve-load.sh (tools/loadgen.c), bounded
    # by count: 8 keep-alive clients, 240 requests, every answer a 200.
    if [ -x "$BUILD/skipserve-load" ]; then
        if "$BUILD/skipserve-load" --port "$PORT" --path "/classify?model=$CLS&top_k=1" \
            --file "$IMG/gray.png" --clients 8 --requests 240 --seconds 60 >"$TMP/load.txt"; then
            grep -q ": 240 answers 200" "$TMP/load.txt" && ok "skipserve-load: 240 requests from 8 clients, all 200" ||
                ko "skipserve-load: $(cat "$TMP/load.txt")"
        else
            ko "skipserve-load: $(cat "$TMP/load.txt")"
        fi
    fi
fi

# Metrics: every family API.md names, and the requests we made.
t "GET /metrics" 200 "" "$A/metrics" && ctype_is text/plain "metrics are text/plain"
for m in skipserve_requests_total skipserve_request_duration_seconds_bucket \
    skipserve_queue_duration_seconds_bucket skipserve_infer_duration_seconds_bucket \
    skipserve_batch_size_bucket skipserve_queue_depth skipserve_inflight_requests skipserve_model_info \
    skipserve_buffered_bytes skipserve_prep_queue_depth; do
    grep -q "^$m" "$TMP/body" && ok "metric $m" || ko "metric $m"
done
grep -q "^skipserve_model_info{model=\"$CLS\",task=\"classify\",precision=\"fp32\"} 1" "$TMP/body" && ok "model_info for $CLS" || ko "model_info for $CLS"
grep -q "^skipserve_requests_total{endpoint=\"classify\",model=\"$CLS\",code=\"200\"} [1-9]" "$TMP/body" &&
    ok "requests_total counts classify 200s" || ko "requests_total counts classify 200s"
grep -q "^skipserve_requests_total{endpoint=\"classify\",model=\"\",code=\"415\"} [1-9]" "$TMP/body" &&
    ok "requests_total counts errors by code" || ko "requests_total counts errors by code"
grep -q 'model="no-such-model"' "$TMP/body" && ko "unknown model names stay out of labels" || ok "unknown model names stay out of labels"

# Access log: one JSON line per request.
if $PY -c "
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(lines) > 100, len(lines)
need = {'method', 'path', 'model', 'status', 'bytes', 'ms', 'batch_size'}
assert all(need <= set(l) for l in lines)
assert any(l['path'] == '/classify' and l['status'] == 200 and l['batch_size'] >= 1 for l in lines)
assert any(l['status'] == 413 for l in lines)
" "$TMP/A.out"; then ok "access log: a JSON line per request"; else ko "access log: a JSON line per request"; fi
# Every path above (answers, errors, hang-ups) gave back what it reserved.
wait_buffered_zero && ok "memory budget balanced after every kind of request" ||
    ko "memory budget: $(buffered) bytes still held after server A's tests"
stop_ok A "$APID"

# --- server D: an engine failure is a 500 and the process keeps serving -------
if [ -n "$CLS" ]; then
    SKIPSERVE_FAULT_INJECT=infer start D --models "$MODELS" ||
        { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
    e "500 internal when inference fails" 500 internal --data-binary @"$IMG/gray.png" "127.0.0.1:$PORT/classify?model=$CLS"
    t "still serving after a 500" 200 "j['status'] == 'ready'" "127.0.0.1:$PORT/readyz"
    grep -q "inference failed\|batch of 1 failed" "$TMP/D.err" && ok "the 500 is logged" || ko "the 500 is logged"
    stop_ok D "$PID"
fi

# --- server P: decode and encode stay off the HTTP threads ------------------------
# One HTTP thread, one prep worker. Two 1 x 30,000,000 segmentations (decode,
# resize, a 30M-pixel mask as PNG in JSON: a second or more of CPU each) keep
# the worker busy; meanwhile the HTTP thread answers /healthz, /readyz and
# /metrics at once. Relative, not absolute: a probe must take under a fifth
# of the slow requests' time (before prep.c it waited for a decode to end).
if [ -n "$SEG" ]; then
    start P --models "$MODELS" --http-threads 1 --prep-threads 1 --max-buffered 2G --timeout-ms 60000 ||
        { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
    P="127.0.0.1:$PORT"
    grep -q "1 prep threads" "$TMP/P.err" && ok "--prep-threads 1 is logged" || ko "--prep-threads 1 is logged"
    slow=()
    for i in 1 2; do
        curl -s --max-time 60 -o /dev/null -w '%{http_code} %{time_total}\n' --data-binary @"$IMG/tall.png" \
            "$P/segment?model=$SEG&format=json" >"$TMP/slow$i" &
        slow+=($!)
    done
    sleep 0.3
    depth=$(metric "$PORT" skipserve_prep_queue_depth)
    probes=""
    for path in healthz readyz metrics healthz; do
        probes="$probes $(curl -s --max-time 60 -o /dev/null -w '%{http_code}:%{time_total}' "$P/$path")"
    done
    wait "${slow[@]}"
    read -r c1 s1 <"$TMP/slow1"; read -r c2 s2 <"$TMP/slow2"
    [ "$c1 $c2" = "200 200" ] && ok "slow segmentations answered 200 ($s1 s, $s2 s)" ||
        ko "slow segmentations answered 200 ($c1 $c2)"
    if $PY -c "
import sys
slow = min(float(sys.argv[1]), float(sys.argv[2]))
probes = [p.split(':') for p in sys.argv[3].split()]
sys.exit(not (all(c == '200' for c, _ in probes) and max(float(t) for _, t in probes) < slow / 5))
" "$s1" "$s2" "$probes"; then
        ok "probes answered while images decode (${probes# }; slow ${s1}s)"
    else
        ko "probes answered while images decode (${probes# }; slow ${s1}s, ${s2}s)"
    fi
    [ "${depth:-0}" -ge 1 ] && ok "skipserve_prep_queue_depth shows the waiting request ($depth)" ||
        ko "skipserve_prep_queue_depth shows the waiting request (${depth:-none})"
    stop_ok P "$PID"
fi

# --- server E: the memory budget (--max-buffered) ---------------------------------
# 2 MiB for every request together; a body of big.jpg (~585 KB) costs its
# size, decoding it almost nothing. Refusals are 429 (413 when one request
# alone needs more than the budget), nothing crashes, and every byte comes
# back when requests finish or clients hang up.
if [ -n "$CLS" ]; then
    SKIPSERVE_MAX_BUFFERED=2M start E --models "$MODELS" --max-body 1M --http-threads 4 ||
        { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
    E=127.0.0.1:$PORT
    EPID=$PID
    [ "$(buffered)" = 0 ] && ok "budget: nothing held at idle" || ko "budget: $(buffered) bytes held at idle"
    t "budget: a large body that fits is served" 200 "$(p 1 1)" --data-binary @"$IMG/big.jpg" "$E/classify?top_k=1"
    wait_buffered_zero && ok "budget: all given back after an answer" || ko "budget: $(buffered) bytes still held after an answer"
    e "413 when one request needs more than the whole budget" 413 too_large --data-binary @"$IMG/wide.png" "$E/classify"
    # 600x500 for a 1-channel model: 5 bytes a pixel (1.5 MB) fit in 2 MiB;
    # progressive, + 2 bytes a sample of 3 components (1.9 MB) do not
    t "budget: a 600x500 baseline JPEG fits" 200 "$(p 1 1)" --data-binary @"$IMG/base600.jpg" "$E/classify?top_k=1"
    e "413 the same JPEG progressive: its coefficient buffer is charged" 413 too_large --data-binary @"$IMG/prog600.jpg" "$E/classify"
    # A client that announces 900000 bytes, sends 1 KB and stalls holds its
    # first 64 KiB buffer, not the announced size (bodies are reserved as
    # they arrive: a slow sender cannot hold memory it has not sent).
    HOLD1=$TMP/hold1-release
    $PY $E2E/sock.py hold "$PORT" 1 900000 1024 "$HOLD1" &
    H1=$!
    for _ in $(seq 200); do [ "$(buffered)" -gt 0 ] && break; sleep 0.05; done
    b=$(buffered)
    [ "$b" -gt 0 ] && [ "$b" -le 65536 ] && ok "budget: a stalled body holds what it sent (${b} bytes), not its Content-Length" ||
        ko "budget: 1 KB sent of 900000 holds ${b} bytes"
    touch "$HOLD1"
    wait $H1
    wait_buffered_zero && ok "budget: given back when the staller hangs up" || ko "budget: $(buffered) bytes held after the staller left"
    # Two clients announce 900000-byte bodies, send 880000 and stall: their
    # buffers have grown to the full 900000: 1.8M of 2M reserved.
    HOLD=$TMP/hold-release
    $PY $E2E/sock.py hold "$PORT" 2 900000 880000 "$HOLD" &
    HPID=$!
    for _ in $(seq 200); do [ "$(buffered)" -ge 1800000 ] && break; sleep 0.05; done
    [ "$(buffered)" -ge 1800000 ] && ok "budget: bodies nearly sent hold their full size" || ko "budget: nearly-sent bodies reserve $(buffered)"
    e "429 when the body does not fit (Expect: 100-continue)" 429 overloaded -H 'Expect: 100-continue' --data-binary @"$IMG/big.jpg" "$E/classify"
    [ "$(header Retry-After)" = 1 ] && ok "budget 429 carries Retry-After" || ko "budget 429 carries Retry-After"
    e "429 when the body does not fit (no Expect: read, dropped, answered)" 429 overloaded -H 'Expect:' --data-binary @"$IMG/big.jpg" "$E/classify"
    e "429 when a chunked body outgrows the budget" 429 overloaded -H 'Expect:' -H 'Transfer-Encoding: chunked' --data-binary @"$IMG/big.jpg" "$E/classify"
    t "small requests still pass beside the stalled ones" 200 "$(p 1 1)" --data-binary @"$IMG/gray.png" "$E/classify?top_k=1"
    touch "$HOLD"
    wait $HPID
    wait_buffered_zero && ok "budget: given back when clients hang up mid-body" || ko "budget: $(buffered) bytes held after hang-ups"
    t "a large body is served again once memory is free" 200 "$(p 1 1)" --data-binary @"$IMG/big.jpg" "$E/classify?top_k=1"
    # 16 clients upload big.jpg at once, slowly (~1.5 s each): 3 fit.
    burst=()
    for i in $(seq 0 15); do
        curl -s --max-time 60 --limit-rate 400k -o "$TMP/m$i.json" -w '%{http_code}' \
            --data-binary @"$IMG/big.jpg" "$E/classify?top_k=1" >"$TMP/m$i.code" &
        burst+=($!)
    done
    wait "${burst[@]}"
    n200=0 n429=0 nother=0
    for i in $(seq 0 15); do
        case "$(cat "$TMP/m$i.code")" in
        200) jc "$TMP/m$i.json" "$(p 1 1)" >/dev/null && n200=$((n200 + 1)) || nother=$((nother + 1)) ;;
        429) jc "$TMP/m$i.json" "j['error']['code'] == 'overloaded'" >/dev/null && n429=$((n429 + 1)) || nother=$((nother + 1)) ;;
        *) nother=$((nother + 1)) ;;
        esac
    done
    echo "    16 concurrent large bodies: $n200 answered, $n429 refused 429, $nother other"
    [ $nother = 0 ] && [ $n200 -ge 1 ] && [ $n429 -ge 1 ] && ok "budget: concurrent large bodies get 200 or 429, some of each" ||
        ko "budget: concurrent large bodies ($n200 x 200, $n429 x 429, $nother other)"
    wait_buffered_zero && ok "budget: all given back after the burst" || ko "budget: $(buffered) bytes held after the burst"
    t "still serving after the burst" 200 "$(p 1 1)" --data-binary @"$IMG/big.jpg" "$E/classify?top_k=1"
    kill -0 "$EPID" 2>/dev/null && ok "budget: the server is alive" || ko "budget: the server died"
    stop_ok E "$EPID"
fi

# --- server B: queue limits, deadlines, env twins ----------------------------------
# A copy of the classify model whose batcher waits 3 s to fill a batch of 8.
if [ -n "$CLS" ]; then
    MB=$TMP/models-b
    mkdir -p "$MB/$CLS"
    for f in "$MODELS/$CLS"/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$MB/$CLS/"; done
    rm -f "$MB/$CLS/model.json"
    $PY - "$MODELS/$CLS/model.json" "$MB/$CLS/model.json" <<'EOF'
import json, os, sys
j = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
j["batching"] = {"max_batch": 8, "max_queue": 8, "max_delay_us": 3000000, "idle_dispatch": False}
json.dump(j, open(sys.argv[2], "w"))
EOF
    # "eager": the same model on the same 3 s window, idle_dispatch left on
    mkdir -p "$MB/eager"
    ln -s "$(cd "$MODELS/$CLS" && pwd)/model.onnx" "$MB/eager/model.onnx"
    $PY - "$MB/$CLS/model.json" "$MB/eager/model.json" <<'EOF2'
import json, sys
j = json.load(open(sys.argv[1]))
j["batching"] = {"max_batch": 8, "max_queue": 8, "max_delay_us": 3000000}
json.dump(j, open(sys.argv[2], "w"))
EOF2
    [ -f "$MODELS/$CLS/labels.txt" ] && ln -s "$(cd "$MODELS/$CLS" && pwd)/labels.txt" "$MB/eager/labels.txt"
    # a folder whose name a metric label could not carry: skipped, said why
    mkdir -p "$MB/bad name\"x"
    ln -s "$(cd "$MODELS/$CLS" && pwd)/model.onnx" "$MB/bad name\"x/model.onnx"
    SKIPSERVE_MAX_BODY=200k SKIPSERVE_TIMEOUT_MS=400 SKIPSERVE_MODELS=$MB start B ||
        { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
    B=127.0.0.1:$PORT
    BPID=$PID
    t "a repository folder named 'bad name\"x' is not served" 200 "sorted(m['name'] for m in j['models']) == sorted(['$CLS', 'eager'])" "$B/models"
    # idle_dispatch: with nothing else on its way, a lone request does not
    # sit out the 3 s fill window (and the plain window model does: 504 below)
    t "idle_dispatch: a lone request on a 3 s batch window is answered at once" 200 "j['timing_ms']['queue'] < 1000" \
        --data-binary @"$IMG/gray.png" "$B/classify?model=eager"
    t "/models shows idle_dispatch" 200 "{m['name']: m['idle_dispatch'] for m in j['models']} == {'$CLS': False, 'eager': True}" "$B/models"
    grep -q 'skipping folder "bad?name?x"' "$TMP/B.err" && ok "the skipped folder is logged" || ko "the skipped folder is logged"
    e "413 via SKIPSERVE_MAX_BODY=200k" 413 too_large --data-binary @"$TMP/300k.bin" "$B/classify?model=$CLS"
    six=()
    for i in 1 2 3 4 5 6; do six+=(-F "image=@$IMG/gray.png"); done
    curl -s --max-time 30 -o "$TMP/b1.json" -w '%{http_code}' "${six[@]}" "$B/classify?model=$CLS" >"$TMP/b1.code" &
    B1=$!
    if wait_metric "$PORT" "skipserve_queue_depth{model=\"$CLS\"}" 6; then ok "6 images queued"; else ko "6 images queued"; fi
    e "429 when the queue is full" 429 overloaded -F "image=@$IMG/gray.png" -F "image=@$IMG/rgb.png" -F "image=@$IMG/base.jpg" "$B/classify?model=$CLS"
    [ -n "$(header Retry-After)" ] && ok "429 carries Retry-After" || ko "429 carries Retry-After"
    nine=()
    for i in $(seq 9); do nine+=(-F "image=@$IMG/gray.png"); done
    e "413 more images than the queue holds" 413 too_large "${nine[@]}" "$B/classify?model=$CLS"
    wait $B1
    grep -q "POST /classify model=$CLS status=429 .*error=overloaded" "$TMP/B.out" &&
        ok "text access log line for the 429" || ko "text access log line for the 429"
    if [ "$(cat "$TMP/b1.code")" = 504 ] && jc "$TMP/b1.json" "j['error']['code'] == 'timeout'"; then
        ok "504 timeout: deadline passed while queued"
    else
        ko "504 timeout ($(cat "$TMP/b1.code"))"
    fi
    stop_ok B "$BPID"

    # --- server C: SIGTERM under load ----------------------------------------------
    rm -rf "$MB/eager" # one classify model again: requests name none
    $PY - "$MB/$CLS/model.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["batching"] = {"max_batch": 64, "max_queue": 256, "max_delay_us": 3000000, "idle_dispatch": False}
json.dump(j, open(sys.argv[1], "w"))
EOF
    start C --models "$MB" --drain-timeout 20s --timeout-ms 30000 ||
        { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
    Cp=127.0.0.1:$PORT
    CPID=$PID
    FLAG=$TMP/signalled
    $PY $E2E/sock.py after-flag "$PORT" "$FLAG" GET /readyz >"$TMP/ka1.txt" &
    K1=$!
    $PY $E2E/sock.py after-flag "$PORT" "$FLAG" POST /classify "$IMG/gray.png" >"$TMP/ka2.txt" &
    K2=$!
    load=()
    for i in $(seq 0 23); do
        f=${files[$((i % 4))]}
        curl -s --max-time 60 -o "$TMP/d$i.json" -w '%{http_code}' --data-binary @"$IMG/$f" "$Cp/classify?top_k=1" >"$TMP/d$i.code" &
        load+=($!)
    done
    if wait_metric "$PORT" "skipserve_queue_depth{model=\"$CLS\"}" 24; then ok "24 requests queued before SIGTERM"; else ko "24 requests queued before SIGTERM"; fi
    sleep 0.3 # the two keep-alive clients have done their first request
    kill -TERM "$CPID"
    sleep 0.3
    touch "$FLAG"
    # refused, not accepted into a backlog nobody reads: curl's exit status 7
    # (could not connect), not 28 (timed out) — the quiesced listening socket
    # is shut down at once and closed only after the daemon stops
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$Cp/healthz")
    cst=$?
    [ "$code" = 000 ] && [ $cst = 7 ] && ok "no new connections after SIGTERM (refused)" ||
        ko "new connection after SIGTERM: answered $code, curl exit $cst"
    wait "${load[@]}"
    bad=0
    for i in $(seq 0 23); do
        f=${files[$((i % 4))]}
        [ "$(cat "$TMP/d$i.code")" = 200 ] && jc "$TMP/d$i.json" "j['predictions'][0][0]['index'] == json.load(open('$TMP/ref_$f.json'))['predictions'][0][0]['index']" >/dev/null || bad=$((bad + 1))
    done
    [ $bad = 0 ] && ok "SIGTERM: all 24 accepted requests answered in full" || ko "SIGTERM: $bad of 24 not answered"
    wait $K1 $K2
    [ "$(cat "$TMP/ka1.txt")" = "200 503 not_ready" ] && ok "/readyz is 503 while draining" || ko "/readyz while draining: $(cat "$TMP/ka1.txt")"
    [ "$(cat "$TMP/ka2.txt")" = "200 503 not_ready" ] && ok "new work while draining: 503 not_ready" || ko "new work while draining: $(cat "$TMP/ka2.txt")"
    stop_ok C "$CPID"
fi

finish
