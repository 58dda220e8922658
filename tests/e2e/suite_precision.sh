#!/bin/bash
# suite_precision.sh — model precision on the real server (issue 22):
# model.json "precision" / "int8_model" and the --precision flag, what
# /models, /v2/models/{m}, /v2/repository/index and /metrics report, the
# FP32 fallbacks (bf16 without AVX512-BF16: SKIPSERVE_ISA=avx2 hides it;
# --precision int8 for a model without an int8 file), bad values refused
# with a clear error, and BF16 answers next to FP32's: the same top label on
# the test images, scores within 0.02 (bf16 keeps 8 significant bits: each
# product is off by <= 2^-8 relative, ~0.4%, and the logits of this small
# network move by a few 1e-3; the softmax scores by less).
# The int8 model is fashion-resnet's dynamic-INT8 form (models/lowp_convert.py),
# and its folder's model.onnx is garbage: only loading int8_model can work.
# Last, --poll-repository with the int8 file replaced in place: the model
# reloads (model.onnx and model.json unchanged).
SUITE=precision
. tests/e2e/lib.sh

if ! $PY -c 'import onnx, numpy' 2>/dev/null; then
    echo "e2e precision: SKIPPED ($PY has no onnx / numpy)"
    exit 0
fi
BF16=$(grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null && echo bf16 || echo fp32)
REPO=$TMP/models
for f in fp32 bf16 int8 badprec badpath noint8; do
    mkdir -p "$REPO/fashion-$f"
    cp models/fashion-resnet/labels.txt models/fashion-resnet/model.onnx "$REPO/fashion-$f/"
done
BAD=$TMP/bad
echo "not an onnx file" >"$REPO/fashion-int8/model.onnx"
$PY - "$REPO" <<'PYEOF' || { ko "write the models"; finish; exit 1; }
import json, sys, onnx
sys.path.insert(0, "models")
import lowp_convert
repo = sys.argv[1]
onnx.save(lowp_convert.convert(onnx.load("models/fashion-resnet/model.onnx"), "dynamic"),
          repo + "/fashion-int8/model-int8.onnx")
base = json.load(open("models/fashion-resnet/model.json"))
for name, extra in {"fp32": {}, "bf16": {"precision": "bf16"},
                    "int8": {"precision": "int8", "int8_model": "model-int8.onnx"},
                    "badprec": {"precision": "fp8"},
                    "badpath": {"precision": "int8", "int8_model": "../fashion-fp32/model.onnx"},
                    "noint8": {"precision": "int8"}}.items():
    json.dump(dict(base, **extra), open("%s/fashion-%s/model.json" % (repo, name), "w"))
PYEOF
ok "repository: fp32, bf16, int8 (dynamic QDQ file), three bad model.json"
mkdir -p "$BAD"
mv "$REPO/fashion-badprec" "$REPO/fashion-badpath" "$REPO/fashion-noint8" "$BAD/"

# a model that fails to load at start-up stops the server: each bad
# model.json alone, refused with its own message
badjson() { # badjson NAME MESSAGE
    "$BIN" --host 127.0.0.1 --port 0 --model "$1=$BAD/fashion-$1" >"$TMP/$1.out" 2>"$TMP/$1.err"
    local st=$?
    if [ $st != 0 ] && grep -qF "$2" "$TMP/$1.err"; then ok "model.json $1: refused: $2"; else
        ko "model.json $1: refused: $2 (exit $st)"
        sed 's/^/    /' "$TMP/$1.err"
    fi
}
badjson badprec 'precision must be "fp32", "bf16" or "int8"'
badjson badpath "int8_model must name a file inside the model's folder"
badjson noint8 'precision int8 needs "int8_model"'

# --- precision from model.json -------------------------------------------------
start prec --models "$REPO" --threads 1 || { finish; exit 1; }
B=127.0.0.1:$PORT
t "/models: precision of each ready model (bf16 where the CPU has AVX512-BF16: $BF16)" 200 \
  "(lambda d: d['fashion-fp32']['precision'] == 'fp32' and d['fashion-bf16']['precision'] == '$BF16' and d['fashion-int8']['precision'] == 'int8')({m['name']: m for m in j['models']})" \
  "$B/models"
t "/v2/models/fashion-bf16: precision $BF16" 200 "j['name'] == 'fashion-bf16' and j['precision'] == '$BF16'" \
  "$B/v2/models/fashion-bf16"
t "/v2/models/fashion-int8: precision int8" 200 "j['precision'] == 'int8'" "$B/v2/models/fashion-int8"
t "/v2/repository/index: precision of the ready models" 200 \
  "(lambda d: d['fashion-fp32'].get('precision') == 'fp32' and d['fashion-int8'].get('precision') == 'int8')({m['name']: m for m in j})" \
  -X POST "$B/v2/repository/index"
curl -s --max-time 10 "$B/metrics" >"$TMP/metrics.txt"
if grep -q "^skipserve_model_info{model=\"fashion-bf16\",task=\"classify\",precision=\"$BF16\"} 1" "$TMP/metrics.txt" &&
   grep -q '^skipserve_model_info{model="fashion-int8",task="classify",precision="int8"} 1' "$TMP/metrics.txt"; then
    ok "/metrics: skipserve_model_info carries the precision label"
else
    ko "/metrics: skipserve_model_info carries the precision label"
    grep model_info "$TMP/metrics.txt" | sed 's/^/    /'
fi
for img in shirt.png shirt.jpg; do
    curl -s --max-time 30 --data-binary @"tests/data/$img" \
        "$B/classify?model=fashion-fp32&top_k=10" >"$TMP/ref.json"
    for f in bf16 int8; do
        tol=0.02
        [ $f = int8 ] && tol=0.05
        t "$f: $img classified like fp32 (top label, scores within $tol)" 200 \
          "j['model'] == 'fashion-$f' and (lambda r, p: p[0]['label'] == r[0]['label'] and all(abs(a['score'] - {x['label']: x['score'] for x in r}[a['label']]) <= $tol for a in p))(__import__('json').load(open('$TMP/ref.json'))['predictions'][0], j['predictions'][0])" \
          --data-binary @"tests/data/$img" "$B/classify?model=fashion-$f&top_k=10"
    done
done
if [ "$BF16" = bf16 ]; then
    # a batch of the engine's own test inputs through KServe: the same argmax
    # in bf16 as in fp32 for each of them
    $PY - "$TMP" <<'PYEOF'
import json, sys, onnx.numpy_helper as nh, onnx
t = onnx.TensorProto()
t.ParseFromString(open("models/fashion-resnet/test_data_set_0/input_0.pb", "rb").read())
x = nh.to_array(t)
json.dump({"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                       "data": x.ravel().tolist()}]}, open(sys.argv[1] + "/batch.json", "w"))
PYEOF
    curl -s --max-time 30 -d @"$TMP/batch.json" "$B/v2/models/fashion-fp32/infer" >"$TMP/ref_batch.json"
    t "bf16: test_data_set_0 batch through KServe, same argmax per image as fp32" 200 \
      "(lambda a, b: len(a) == len(b) > 0 and a == b)(*[[max(range(10), key=lambda k: o['data'][i * 10 + k]) for i in range(o['shape'][0])] for o in (json.load(open('$TMP/ref_batch.json'))['outputs'][0], j['outputs'][0])])" \
      -d @"$TMP/batch.json" "$B/v2/models/fashion-bf16/infer"
    grep -q "model fashion-bf16: precision bf16" "$TMP/prec.err" &&
        ok "log: fashion-bf16 loaded in bf16" || ko "log: fashion-bf16 loaded in bf16"
fi
stop_ok prec "$PID"

# --- the flag over model.json ----------------------------------------------------
start flag --model "fashion-fp32=$REPO/fashion-fp32" --model "fashion-bf16=$REPO/fashion-bf16" \
    --threads 1 --precision bf16 || { finish; exit 1; }
t "--precision bf16: an fp32 model of model.json runs at $BF16" 200 \
  "(lambda d: d['fashion-fp32']['precision'] == '$BF16' and d['fashion-bf16']['precision'] == '$BF16')({m['name']: m for m in j['models']})" \
  "127.0.0.1:$PORT/models"
stop_ok flag "$PID"
"$BIN" --host 127.0.0.1 --port 0 --precision bf16 --model "fashion-int8=$REPO/fashion-int8" \
    >"$TMP/over.out" 2>"$TMP/over.err"
st=$?
[ $st != 0 ] && grep -q "fashion-int8/model.onnx: not a valid ONNX model" "$TMP/over.err" &&
    ok "--precision bf16 over model.json's int8: model.onnx is loaded (here garbage: refused)" ||
    ko "--precision bf16 over model.json's int8: model.onnx is loaded (exit $st)"

SKIPSERVE_PRECISION=int8 start env --models "$REPO" --threads 1 || { finish; exit 1; }
t "SKIPSERVE_PRECISION=int8: int8 model at int8, a model without int8_model stays fp32" 200 \
  "(lambda d: d['fashion-fp32']['precision'] == 'fp32' and d['fashion-bf16']['precision'] == 'fp32' and d['fashion-int8']['precision'] == 'int8')({m['name']: m for m in j['models']})" \
  "127.0.0.1:$PORT/models"
grep -q "model fashion-fp32: --precision int8, but its model.json names no int8_model: running FP32" "$TMP/env.err" &&
    ok "log: the int8 fallback to FP32 is one clear line" || ko "log: the int8 fallback to FP32 is one clear line"
stop_ok env "$PID"

SKIPSERVE_ISA=avx2 start avx2 --models "$REPO" --threads 1 || { finish; exit 1; }
t "SKIPSERVE_ISA=avx2: bf16 asked, fp32 reported" 200 \
  "(lambda d: d['fashion-bf16']['precision'] == 'fp32')({m['name']: m for m in j['models']})" \
  "127.0.0.1:$PORT/models"
[ "$(grep -c 'precision bf16 asked, but this CPU has no AVX512-BF16' "$TMP/avx2.err")" = 1 ] &&
    ok "log: one line says bf16 fell back to FP32" || ko "log: one line says bf16 fell back to FP32"
t "SKIPSERVE_ISA=avx2: fashion-bf16 still answers like fp32" 200 \
  "j['predictions'][0][0]['label'] == json.load(open('$TMP/ref.json'))['predictions'][0][0]['label']" \
  --data-binary @tests/data/shirt.jpg "127.0.0.1:$PORT/classify?model=fashion-bf16"
stop_ok avx2 "$PID"

"$BIN" --port 0 --models "$REPO" --precision fp16 >"$TMP/bad.out" 2>"$TMP/bad.err"
st=$?
if [ $st != 0 ] && grep -q 'precision must be fp32, bf16 or int8, got "fp16"' "$TMP/bad.err"; then
    ok "--precision fp16: refused at start with a clear error (exit $st)"
else
    ko "--precision fp16: refused at start with a clear error (exit $st)"
    sed 's/^/    /' "$TMP/bad.err"
fi
# --- the repository poll watches the int8 file ----------------------------------
# replacing model.json's int8_model (model.onnx and model.json untouched)
# reloads the model: a broken file is refused with the load error while the
# loaded version keeps answering, then a valid one is loaded
start poll --models "$REPO" --threads 1 --poll-repository 1 || { finish; exit 1; }
B=127.0.0.1:$PORT
served() { grep -c 'model fashion-int8 version 1: .*loaded and warmed' "$TMP/poll.err"; }
wait_log() { # wait_log PATTERN MIN: up to 20 s for MIN lines of the log
    for _ in $(seq 200); do
        [ "$(grep -c -- "$1" "$TMP/poll.err")" -ge "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
n0=$(served)
cp "$REPO/fashion-int8/model.onnx" "$REPO/fashion-int8/broken.tmp" # the garbage file
touch -d '+1 minute' "$REPO/fashion-int8/broken.tmp"
mv "$REPO/fashion-int8/broken.tmp" "$REPO/fashion-int8/model-int8.onnx"
wait_log 'model fashion-int8 version 1: .*model-int8.onnx' 1 &&
    ok "poll: a replaced int8_model file is reloaded (broken here: its load error logged)" ||
    { ko "poll: a replaced int8_model file is reloaded"; sed 's/^/    /' "$TMP/poll.err"; }
t "poll: the loaded int8 version still answers after the failed reload" 200 \
  "j['model'] == 'fashion-int8' and j['predictions'][0][0]['label'] == json.load(open('$TMP/ref.json'))['predictions'][0][0]['label']" \
  --data-binary @tests/data/shirt.jpg "$B/classify?model=fashion-int8"
$PY - "$REPO" <<'PYEOF' || ko "write the int8 file again"
import sys, onnx
sys.path.insert(0, "models")
import lowp_convert
m = lowp_convert.convert(onnx.load("models/fashion-resnet/model.onnx"), "dynamic")
onnx.save(m, sys.argv[1] + "/fashion-int8/int8.tmp")
PYEOF
touch -c -d '+2 minutes' "$REPO/fashion-int8/int8.tmp"
mv "$REPO/fashion-int8/int8.tmp" "$REPO/fashion-int8/model-int8.onnx"
wait_log 'model fashion-int8 version 1: .*loaded and warmed' $((n0 + 1)) &&
    ok "poll: a valid replacement int8 file is reloaded and served (a reload line in the log)" ||
    { ko "poll: a valid replacement int8 file is loaded"; sed 's/^/    /' "$TMP/poll.err"; }
t "poll: the reloaded int8 model answers like fp32, precision int8" 200 \
  "j['model'] == 'fashion-int8' and j['predictions'][0][0]['label'] == json.load(open('$TMP/ref.json'))['predictions'][0][0]['label']" \
  --data-binary @tests/data/shirt.jpg "$B/classify?model=fashion-int8"
t "poll: /v2/models/fashion-int8 still reports precision int8" 200 "j['precision'] == 'int8'" \
  "$B/v2/models/fashion-int8"
stop_ok poll "$PID"
finish
