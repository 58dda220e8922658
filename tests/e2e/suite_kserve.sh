#!/bin/bash
# suite_kserve.sh — the KServe v2 / Open Inference Protocol endpoints on the
# real binary, spoken to by tests/e2e/kserve_client.py, which puts
# tritonclient's bytes on the wire (JSON and binary tensors, mixed, binary
# outputs, classification, BYTES images, the error cases, keep-alive).
# Expected values: the models' PyTorch test data and the same server's
# /classify and /segment answers for the same images.
#   BUILD=build bash tests/e2e/suite_kserve.sh     (make test-e2e runs it)
set -u
SUITE=kserve
. tests/e2e/lib.sh

[ -x "$BIN" ] || { echo "kserve: $BIN not built"; echo "0 passed, 1 failed"; exit 1; }
sh tests/deps.sh curl python3 python3-numpy python3-onnx >/dev/null ||
    { echo "kserve: missing packages"; echo "0 passed, 1 failed"; exit 1; }
if ! ls models/fashion-resnet/model.onnx models/scenes-unet/model.onnx >/dev/null 2>&1; then
    echo "kserve: SKIP — the repository models are not there"
    echo "0 passed, 0 failed"
    exit 0
fi

K="$PY $E2E/kserve_client.py"
check() { # check PORT CASE DESCRIPTION
    if $K "$1" "$2"; then ok "$3"; else ko "$3"; fi
}

start K --models models --http-threads 2 --prep-threads 2 || { echo "0 passed, 1 failed"; exit 1; }
KPID=$PID
KPORT=$PORT
check $KPORT meta "metadata: /v2, health, model metadata (+/versions/1), ready, config, index, 404/405 as {\"error\"}"
check $KPORT tensor_binary "infer: binary FP32 in and out (tritonclient's default) equals PyTorch's outputs"
check $KPORT tensor_json "infer: JSON FP32 nested and flat, JSON out, id echoed, unknown parameters tolerated"
check $KPORT tensor_half "infer: FP16 and BF16 inputs (binary and JSON) equal the FP32 answer for the same values"
check $KPORT mixed "infer: binary in / JSON out, JSON in / binary out, header name in any case"
check $KPORT classification "classification extension and BYTES PNG/JPEG images: equal to /classify and /segment"
check $KPORT errors "errors: wrong shape / datatype, header past the body, short body, unknown output, ... (400 {\"error\"})"
check $KPORT keepalive "keep-alive: 20 infers and probes on one connection"
check $KPORT stats "statistics extension: requests, images, engine runs, times, per batch size"

# Same metrics and access log as /classify.
n=$(metric $KPORT 'skipserve_requests_total{endpoint="v2_infer",model="fashion-resnet",code="200"}')
[ "$n" -ge 30 ] 2>/dev/null && ok "metrics count v2_infer answers by model ($n)" ||
    ko "metrics count v2_infer answers ($n)"
n=$(metric $KPORT 'skipserve_requests_total{endpoint="v2_infer",model="",code="404"}')
[ "$n" -ge 1 ] 2>/dev/null && ok "an unknown model is counted without a model label" ||
    ko "unknown model metric ($n)"
grep -q 'POST /v2/models/fashion-resnet/infer model=fashion-resnet status=200 .* batch=[0-9]* images=1' \
    "$TMP/K.out" && ok "access log line per infer" || ko "access log line per infer"
wait_buffered_zero && ok "every reservation given back after the KServe requests" ||
    ko "buffered bytes left: $(buffered)"
stop_ok K $KPID

start L --models models --max-body 1M --timeout-ms 1 ||
    { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
check $PORT too_large "413 {\"error\"} for a body over --max-body"
check $PORT timeout "504 {\"error\"} for a request queued past --timeout-ms"
stop_ok L $PID

# the segmenter with a queue of one image (model.json's batching wins over flags)
mkdir -p "$TMP/oq/scenes-unet"
cp models/scenes-unet/model.onnx models/scenes-unet/labels.txt "$TMP/oq/scenes-unet/"
$PY -c 'import json, sys; j = json.load(open(sys.argv[1])); j["batching"] = {"max_batch": 1, "max_queue": 1, "max_delay_us": 0}; json.dump(j, open(sys.argv[2], "w"))' \
    models/scenes-unet/model.json "$TMP/oq/scenes-unet/model.json"
start O --models "$TMP/oq" ||
    { echo "$PASS passed, $((FAIL + 1)) failed"; exit 1; }
check $PORT overload "429 {\"error\"} + Retry-After when the queue is full (16 clients, queue of 1)"
stop_ok O $PID

finish
