#!/bin/bash
# suite_repository.sh — the model repository on the real binary: Triton's
# <name>/<version>/ layout beside the flat one, version policies, the KServe
# repository endpoints (index, load, unload; unsafe names refused), and
# reloads under load: a new version found by --poll-repository and a
# changed one found on SIGHUP, while tests/load/curl_load.sh keeps /segment
# and /v2/.../infer busy — 0 failed requests, each replaced version freed
# once its last request is answered, and RSS back to its level after.
#   BUILD=build bash tests/e2e/suite_repository.sh   (make test-e2e runs it)
set -u
SUITE=repository
. tests/e2e/lib.sh

[ -x "$BIN" ] || { echo "repository: $BIN not built"; echo "0 passed, 1 failed"; exit 1; }
sh tests/deps.sh curl python3 >/dev/null || { echo "repository: missing packages"; exit 1; }
if ! ls models/fashion-resnet/model.onnx models/scenes-unet/model.onnx >/dev/null 2>&1; then
    echo "repository: SKIP — the repository models are not there"
    echo "0 passed, 0 failed"
    exit 0
fi

R=$TMP/repo
mkdir -p "$R/fashion/1" "$R/fashion/2" "$R/fashion/3" "$R/seg/1" "$R/flat" "$R/bad name"
cp models/fashion-resnet/labels.txt "$R/fashion/"
# versions 1-3 of the classifier; the policy keeps the latest two
sed 's/^{/{"version_policy": {"latest": {"num_versions": 2}},/' models/fashion-resnet/model.json \
    >"$R/fashion/model.json"
for v in 1 2 3; do cp models/fashion-resnet/model.onnx "$R/fashion/$v/"; done
# the other two policies; a version folder with a leading zero is no version
mkdir -p "$R/spec/1" "$R/spec/2" "$R/spec/3" "$R/all/1" "$R/all/7" "$R/all/07"
for v in spec/1 spec/2 spec/3 all/1 all/7 all/07; do cp models/fashion-resnet/model.onnx "$R/$v/"; done
echo '{"version_policy": {"specific": {"versions": [1, 3, 9]}}, "input": {"invert": "auto"}}' >"$R/spec/model.json"
echo '{"version_policy": {"all": {}}}' >"$R/all/model.json"
cp models/scenes-unet/model.json models/scenes-unet/labels.txt "$R/seg/"
cp models/scenes-unet/model.onnx "$R/seg/1/"
cp models/fashion-resnet/model.onnx models/fashion-resnet/model.json models/fashion-resnet/labels.txt "$R/flat/"
cp models/fashion-resnet/model.onnx "$R/bad name/"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; } # kB
index() { curl -s --max-time 10 -X POST "127.0.0.1:$PORT/v2/repository/index"; }
# wait_index PYEXPR : until the index (j) satisfies it (60 s: loads are slow on a busy machine)
wait_index() {
    for _ in $(seq 600); do
        index | jc - "$1" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    index
    echo
    return 1
}

"$BIN" --help | grep -A3 -- '--poll-repository SECONDS' | grep -q SKIPSERVE_POLL_REPOSITORY &&
    ok "--help documents --poll-repository and its env twin" || ko "--help lacks --poll-repository"
start A --models "$R" --poll-repository 1 --http-threads 4 --prep-threads 2 --max-batch 8 ||
    { echo "0 passed, 1 failed"; exit 1; }
A=127.0.0.1:$PORT
APID=$PID

# --- layout and policy ---------------------------------------------------------
t "index: versions by policy (latest 2, specific [1,3,9], all), flat layout as version 1, bad names skipped" 200 \
    "sorted((m['name'], m['version'], m['state']) for m in j) == [('all', '1', 'READY'), ('all', '7', 'READY'), ('fashion', '2', 'READY'), ('fashion', '3', 'READY'), ('flat', '1', 'READY'), ('seg', '1', 'READY'), ('spec', '1', 'READY'), ('spec', '3', 'READY')]" \
    -X POST "$A/v2/repository/index"
t "model metadata lists the served versions" 200 "j['versions'] == ['2', '3']" "$A/v2/models/fashion"
t "versions sort as numbers" 200 "j['versions'] == ['1', '7']" "$A/v2/models/all"
t "a specific version answers infer (class 6, no labels file: named by index)" 200 "j['model_version'] == '1' and j['outputs'][0]['data'][0].endswith(':6:6')" \
    -d "{\"inputs\":[{\"name\":\"input\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"$(base64 -w0 tests/data/shirt.png)\"]}],\"parameters\":{\"classification\":1}}" \
    "$A/v2/models/spec/versions/1/infer"
t "a version the policy leaves out is 404" 404 "isinstance(j['error'], str)" "$A/v2/models/fashion/versions/1/ready"
t "version 2 answers /ready" 200 "j['ready'] is True and j['version'] == '2'" "$A/v2/models/fashion/versions/2/ready"
t "/classify uses the newest version" 200 "j['predictions'][0][0]['label'] == 'Shirt'" \
    --data-binary @tests/data/shirt.png "$A/classify?model=fashion"
t "/models shows each version" 200 "[m['version'] for m in j['models'] if m['name'] == 'fashion'] == ['2', '3']" "$A/models"

# --- load / unload -------------------------------------------------------------
t "unload" 200 "j == {}" -X POST "$A/v2/repository/models/flat/unload"
t "an unloaded model is 404 on infer" 404 "'flat' in j['error']" \
    -d '{"inputs":[{"name":"input","shape":[1],"datatype":"BYTES","data":["x"]}]}' \
    "$A/v2/models/flat/infer"
kill -HUP "$APID"
sleep 1.5
t "a rescan does not bring back what was unloaded" 200 "'flat' not in [m['name'] for m in j]" \
    -X POST "$A/v2/repository/index"
t "load" 200 "j == {}" -X POST "$A/v2/repository/models/flat/load"
t "loaded again: ready" 200 "j['ready'] is True" "$A/v2/models/flat/ready"
t "load of a model the repository lacks: 404" 404 "'nothere' in j['error']" \
    -X POST "$A/v2/repository/models/nothere/load"
t "unload of a model not served: 404" 404 "isinstance(j['error'], str)" \
    -X POST "$A/v2/repository/models/nothere/unload"
t "unsafe name '..' refused" 400 "'name' in j['error']" --path-as-is \
    -X POST "$A/v2/repository/models/../load"
t "unsafe name '%2e%2e' refused" 400 "'name' in j['error']" -X POST "$A/v2/repository/models/%2e%2e/load"
t "a name with a slash finds no endpoint" 404 "isinstance(j['error'], str)" \
    -X POST "$A/v2/repository/models/a%2Fb/load"
t "unsafe folder name refused" 400 "'name' in j['error']" -X POST "$A/v2/repository/models/bad%20name/load"

# --- reload under load ---------------------------------------------------------
$PY - "$TMP/infer.json" <<'PY'
import base64, json, sys
img = base64.b64encode(open("tests/data/scene.png", "rb").read()).decode()
json.dump({"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "data": [img]}],
           "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]},
          open(sys.argv[1], "w"))
PY
# steady state first, then the baseline
sh tests/load/curl_load.sh /segment -u "http://$A" -i tests/data/scene.png -n 60 -c 4 -q model=seg \
    >/dev/null 2>&1
sleep 0.5
RSS0=$(rss "$APID")
# Rounds of curl_load.sh (each runs to its count, so its tally is exact) until
# both reloads are done, then one more: the load spans the whole reload window.
load_rounds() { # OUT PATH IMAGE CLIENTS [QUERY]
    local out=$1 last=0
    while [ $last = 0 ]; do
        [ -e "$TMP/reloaded" ] && last=1
        sh tests/load/curl_load.sh "$2" -u "http://$A" -i "$3" -n 24 -c "$4" -t 60 ${5:+-q "$5"} \
            >>"$out" 2>&1 || echo "ROUND FAILED" >>"$out"
    done
}
load_rounds "$TMP/load1.txt" /segment tests/data/scene.png 3 model=seg &
L1=$!
load_rounds "$TMP/load2.txt" /v2/models/seg/infer "$TMP/infer.json" 2 &
L2=$!
sleep 1
# 1: a new version, found by --poll-repository
mkdir "$R/seg/2"
cp models/scenes-unet/model.onnx "$R/seg/2/model.onnx.tmp" && mv "$R/seg/2/model.onnx.tmp" "$R/seg/2/model.onnx"
wait_index "sorted(m['version'] for m in j if m['name'] == 'seg') == ['2'] and all(m['state'] == 'READY' for m in j)" &&
    ok "poll: version 2 loaded beside version 1, then served alone" || ko "poll: version 2 took over"
# 2: the same version changed in place, found on SIGHUP
cp models/scenes-unet/model.onnx "$R/seg/2/model.onnx.tmp" && touch -d '+1 minute' "$R/seg/2/model.onnx.tmp" &&
    mv "$R/seg/2/model.onnx.tmp" "$R/seg/2/model.onnx"
kill -HUP "$APID"
for _ in $(seq 600); do
    [ "$(grep -c 'model seg version 2: its last request is answered; memory freed' "$TMP/A.err")" -ge 1 ] && break
    sleep 0.1
done
grep -q 'model seg version 1: its last request is answered; memory freed' "$TMP/A.err" &&
    ok "version 1 freed after its last request" || ko "version 1 freed"
grep -q 'model seg version 2: its last request is answered; memory freed' "$TMP/A.err" &&
    ok "SIGHUP: changed version 2 reloaded, the old copy freed" || ko "SIGHUP reload of a changed version"
touch "$TMP/reloaded"
wait $L1 $L2
for f in load1 load2; do
    rounds=$(grep -c '^failed' "$TMP/$f.txt")
    answered=$(awk '$1 == "requests" {n += $2} END {print n + 0}' "$TMP/$f.txt")
    echo "    $f: $rounds rounds, $answered requests answered; $(grep -h '^status' "$TMP/$f.txt" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
done
! grep -q "ROUND FAILED" "$TMP/load1.txt" && ! grep -v '^failed      0' "$TMP/load1.txt" | grep -q '^failed' &&
    [ "$(grep -c '^failed      0' "$TMP/load1.txt")" -ge 2 ] &&
    ok "reload under load: /segment, 0 failed requests" || ko "reload under load: /segment failures"
! grep -q "ROUND FAILED" "$TMP/load2.txt" && ! grep -v '^failed      0' "$TMP/load2.txt" | grep -q '^failed' &&
    [ "$(grep -c '^failed      0' "$TMP/load2.txt")" -ge 2 ] &&
    ok "reload under load: KServe infer, 0 failed requests" || ko "reload under load: KServe infer failures"
# the same from the server's side: every answer on those paths a 200
grep -E '"path":"(/segment|/v2/models/seg/infer)"|POST (/segment|/v2/models/seg/infer) ' "$TMP/A.out" |
    grep -o 'status[=":]*[0-9]*' | grep -o '[0-9]*$' | sort | uniq -c >"$TMP/codes"
sed 's/^/    access log: /' "$TMP/codes"
n200=$(awk '$2 == 200 {print $1}' "$TMP/codes")
other=$(awk '$2 != 200 {n += $1} END {print n + 0}' "$TMP/codes")
n499=$(awk '$2 == 499 {n += $1} END {print n + 0}' "$TMP/codes")
[ "${n200:-0}" -ge 50 ] && [ "$other" = 0 ] && [ "${n499:-0}" = 0 ] &&
    ok "access log: ${n200} answers 200 through the reloads, none failed" ||
    ko "access log: answers other than 200 during the reloads"
sleep 0.5
RSS1=$(rss "$APID")
# both versions were resident during each switch; afterwards one is
[ "$RSS1" -le $((RSS0 * 6 / 5)) ] && ok "RSS back to its level ($RSS0 kB before, $RSS1 kB after)" ||
    ko "RSS after the reloads: $RSS1 kB, before $RSS0 kB"
t "the reloaded model answers" 200 "j['ready'] is True and j['version'] == '2'" "$A/v2/models/seg/ready"
wait_buffered_zero && ok "every reservation given back" || ko "buffered bytes left: $(buffered)"
stop_ok A $APID

# --- SIGTERM during a reload ------------------------------------------------------
# A request waits in version 1's 5 s fill window; version 2 replaces it; a
# SIGTERM with --drain-timeout 0 must answer the request queued on the
# replaced version now (503), not leave it suspended past the drain.
R2=$TMP/repo2
mkdir -p "$R2/d/1"
cp models/fashion-resnet/model.onnx "$R2/d/1/"
cp models/fashion-resnet/labels.txt "$R2/d/"
$PY -c 'import json, sys; j = json.load(open(sys.argv[1])); j["batching"] = {"max_batch": 8, "max_delay_us": 5000000, "idle_dispatch": False}; json.dump(j, open(sys.argv[2], "w"))' \
    models/fashion-resnet/model.json "$R2/d/model.json"
start B --models "$R2" --drain-timeout 0 || { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
BPID=$PID
t0=$(date +%s.%N)
curl -s -o "$TMP/d.body" -w '%{http_code}' --max-time 20 --data-binary @tests/data/shirt.png \
    "127.0.0.1:$PORT/classify?model=d" >"$TMP/d.code" &
CP=$!
wait_metric "$PORT" 'skipserve_queue_depth{model="d"}' 1 || echo "    (the request did not show in the queue)"
mkdir "$R2/d/2" && cp models/fashion-resnet/model.onnx "$R2/d/2/"
kill -HUP "$BPID"
for _ in $(seq 300); do
    grep -q 'model d version 2: .*serving' "$TMP/B.err" && break
    sleep 0.1
done
kill -TERM "$BPID"
wait $CP
t1=$(date +%s.%N)
secs=$($PY -c "print(round($t1 - $t0, 2))")
[ "$(cat "$TMP/d.code")" = 503 ] && $PY -c "import sys; sys.exit(0 if $t1 - $t0 < 4.5 else 1)" &&
    ok "SIGTERM mid-reload: the request queued on the replaced version answered 503 at once (${secs} s)" ||
    ko "SIGTERM mid-reload: status $(cat "$TMP/d.code") after ${secs} s"
for _ in $(seq 100); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
wait "$BPID" && ok "B: exit status 0 after the drain" || ko "B: exit status after the drain"

finish
