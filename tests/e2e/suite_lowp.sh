#!/bin/bash
# suite_lowp.sh — the real server with low-precision models (issue 19):
# fashion-resnet converted by models/lowp_convert.py to float16 (a float16
# graph input, fed by the server's float32 preprocessing) and to dynamic
# INT8 (DynamicQuantizeLinear + ConvInteger / MatMulInteger) — the two forms
# that need no calibration — served next to the float32 original. Each must
# answer the test images with the float32 model's top label, and scores
# within 0.02 (FP16) / 0.05 (INT8) of it.
SUITE=lowp
. tests/e2e/lib.sh

if ! $PY -c 'import onnx, numpy' 2>/dev/null; then
    echo "e2e lowp: SKIPPED ($PY has no onnx / numpy)"
    exit 0
fi
REPO=$TMP/models
for f in fp32 fp16 dynamic; do
    mkdir -p "$REPO/fashion-$f"
    cp models/fashion-resnet/model.json models/fashion-resnet/labels.txt "$REPO/fashion-$f/"
done
cp models/fashion-resnet/model.onnx "$REPO/fashion-fp32/"
$PY - "$REPO" <<'PYEOF' || { ko "convert fashion-resnet"; finish; exit 1; }
import sys, onnx
sys.path.insert(0, "models")
import lowp_convert
m = onnx.load("models/fashion-resnet/model.onnx")
for form in ("fp16", "dynamic"):
    onnx.save(lowp_convert.convert(m, form), "%s/fashion-%s/model.onnx" % (sys.argv[1], form))
PYEOF
ok "fashion-resnet converted to fp16 and dynamic int8"
start lowp --models "$REPO" --threads 1 || { finish; exit 1; }

for img in shirt.png shirt.jpg; do
    curl -s --max-time 30 --data-binary @"tests/data/$img" \
        "127.0.0.1:$PORT/classify?model=fashion-fp32&top_k=10" >"$TMP/ref.json"
    for f in fp16 dynamic; do
        tol=0.02
        [ $f = dynamic ] && tol=0.05
        t "$f: $img classified like float32 (top label, scores within $tol)" 200 \
          "j['model'] == 'fashion-$f' and (lambda r, p: p[0]['label'] == r[0]['label'] and all(abs(a['score'] - {x['label']: x['score'] for x in r}[a['label']]) <= $tol for a in p))(__import__('json').load(open('$TMP/ref.json'))['predictions'][0], j['predictions'][0])" \
          --data-binary @"tests/data/$img" "127.0.0.1:$PORT/classify?model=fashion-$f&top_k=10"
    done
done
stop_ok lowp "$PID"
finish
