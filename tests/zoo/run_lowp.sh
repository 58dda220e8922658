#!/bin/sh
# tests/zoo/run_lowp.sh — the low-precision half of `make test-zoo`, with
# onnxruntime (onnxruntime-node, installed by npm into bench/.ort/) as the
# oracle; needs /usr/bin/python3 with onnx and numpy, node and npm, not torch:
#   1. the com.microsoft quantized ops on small graphs (make_ms_ops.py),
#      integer outputs within one step (--int-atol 1), at every SIMD level;
#   2. the default models converted to fp16 / fp16w / qdq / qop / dynamic
#      (models/lowp_convert.py) against onnxruntime (lowp_models.py).
#   BUILD (default build); LOWP_DIR (default $BUILD/lowp-zoo)
set -u
BUILD=${BUILD:-build}
PY=/usr/bin/python3
DIR=${LOWP_DIR:-$BUILD/lowp-zoo}
RUNNER=$BUILD/skipserve-conformance
[ -x "$RUNNER" ] && [ -x "$BUILD/skipserve-run" ] ||
    { echo "zoo-lowp: build $RUNNER and $BUILD/skipserve-run first" >&2; exit 1; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "zoo-lowp: FAILED — node and npm are needed for onnxruntime-node (apt-get install nodejs npm)" >&2
    exit 1
fi
rm -rf "$DIR/ms_ops"
mkdir -p "$DIR"
$PY tests/zoo/make_ms_ops.py "$DIR/ms_ops" || { echo "zoo-lowp: make_ms_ops.py failed" >&2; exit 1; }
for isa in scalar avx2 avx512; do
    SKIPSERVE_ISA=$isa "$RUNNER" --all-must-pass --int-atol 1 "$DIR/ms_ops" >"$DIR/ms_ops-$isa.log" ||
        { cat "$DIR/ms_ops-$isa.log"; echo "zoo-lowp: FAILED (com.microsoft ops at $isa)" >&2; exit 1; }
    echo "zoo-lowp: com.microsoft ops at $isa: $(tail -1 "$DIR/ms_ops-$isa.log")"
done
exact=$("$RUNNER" "$DIR/ms_ops" | tail -1)
echo "zoo-lowp: bit-identical to onnxruntime (no --int-atol): $exact"
BUILD=$BUILD $PY tests/zoo/lowp_models.py "$DIR/models" || { echo "zoo-lowp: FAILED" >&2; exit 1; }
echo "zoo-lowp: all pass"
