#!/bin/sh
# tests/quant/run.sh — `make test-quant` (part of `make test`): skipserve-quantize
# on the two default models, checked by tests/quant/check.py against
# onnxruntime and the FP32 model, and its refusals of bad input.
#   1. fashion-resnet, 200 Fashion-MNIST training images (make_calib.py),
#      minmax: QDQ structure; skipserve vs onnxruntime on 500 test images
#      within 2 output steps, argmax agreement >= 99%; top-1 drop <= 1 pt;
#      the same with percentile:99.99 and s8 activations, entropy, and
#      --per-tensor --no-share (one weight scale; Add scales not shared),
#      and --reduce-range (session 18: 7-bit weights, -64..64);
#   2. scenes-unet, 8 training scenes: structure; 8 test scenes, skipserve
#      vs onnxruntime within 6 steps (measured 4.0: a one-step rounding
#      difference early in the U-Net travels through 23 layers), mIoU drop
#      <= 0.02;
#   3. bad input: usage errors exit 1; malformed ONNX, missing model, empty
#      or missing calibration folder, an unreadable image, an unsupported op,
#      an already-quantized model, a model.json that does not fit the model
#      exit 2 with one "skipserve-quantize: ..." line and write no output;
#      one malformed-input run and one whole quantization under valgrind
#      (no error, no definite leak).
#   BUILD (default build)
set -u
BUILD=${BUILD:-build}
PY=/usr/bin/python3
Q=$BUILD/skipserve-quantize
W=$BUILD/quant-test
passed=0
failed=0
ok() { echo "PASS $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
[ -x "$Q" ] && [ -x "$BUILD/skipserve-run" ] || { echo "quant: build $Q first" >&2; exit 1; }
mkdir -p "$W"
[ -d "$W/calib-fashion" ] || $PY tests/quant/make_calib.py fashion "$W/calib-fashion" --count 200 ||
    { echo "quant: make_calib.py failed (apt-get install dataset-fashion-mnist)" >&2; exit 1; }
[ -d "$W/calib-scenes" ] || $PY tests/quant/make_calib.py scenes "$W/calib-scenes" --count 8 ||
    { echo "quant: make_calib.py failed" >&2; exit 1; }

# check LABEL ARGS...: count check.py's PASS / FAIL lines
check() {
    label=$1
    shift
    $PY tests/quant/check.py "$@" >"$W/check.log" 2>&1
    rc=$?
    cat "$W/check.log"
    p=$(grep -c '^PASS' "$W/check.log")
    f=$(grep -c '^FAIL' "$W/check.log")
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { bad "$label: check.py exited $rc"; return; }
    passed=$((passed + p))
    failed=$((failed + f))
}

# --- 1. fashion-resnet in three calibrations --------------------------------------
# method, activations, then flags given to both the tool and check.py
for cfg in "minmax u8" "percentile:99.99 s8" "entropy u8" "minmax u8 --per-tensor --no-share" \
    "minmax u8 --reduce-range"; do
    # shellcheck disable=SC2086
    set -- $cfg
    m=$1 act=$2
    shift 2
    out=$W/fashion-$m-$act$(echo "$*" | tr -d ' ').onnx
    if "$Q" models/fashion-resnet --calib "$W/calib-fashion" --calib-method "$m" \
        --activations "$act" "$@" --out "$out" >"$W/q.log" 2>&1; then
        check "fashion $m $act $*" classify models/fashion-resnet/model.onnx "$out" --build "$BUILD" \
            --work "$W/fashion-$act" --count 500 --steps 2 --agree 0.99 --max-drop 1 --act "$act" "$@"
    else
        cat "$W/q.log"
        bad "skipserve-quantize fashion-resnet $m $act $*"
    fi
done
# --report lists every quantized activation and every weight
"$Q" models/fashion-resnet --calib "$W/calib-fashion" --out "$W/r.onnx" --report >"$W/report.txt" 2>&1
n_w=$(grep -c '^weight .*per channel' "$W/report.txt")
n_a=$(grep -c 'Relu_output_0 ' "$W/report.txt")
[ "$n_w" -eq 10 ] && [ "$n_a" -ge 4 ] && ok "--report: $n_w per-channel weights, ranges listed" ||
    bad "--report: $n_w weights (want 10), $n_a Relu ranges"

# --- 2. scenes-unet -------------------------------------------------------------------
if "$Q" models/scenes-unet --calib "$W/calib-scenes" --out "$W/scenes.onnx" >"$W/q.log" 2>&1; then
    check "scenes" segment models/scenes-unet/model.onnx "$W/scenes.onnx" --build "$BUILD" \
        --work "$W/scenes" --count 8 --steps 6 --agree 0.99 --max-drop 0.02
else
    cat "$W/q.log"
    bad "skipserve-quantize scenes-unet"
fi

# --- 3. bad input -----------------------------------------------------------------------
mkdir -p "$W/empty" "$W/badimg"
head -c 3000 /dev/urandom >"$W/garbage.onnx"
cp "$W/calib-fashion/train_00000.png" "$W/badimg/a.png"
printf 'PNG? not really' >"$W/badimg/b.png"
printf '{"input": {"color": "rgb"}}' >"$W/rgb.json"
$PY - "$W/unsupported.onnx" <<'PYEOF'
import sys
from onnx import TensorProto, helper
g = helper.make_graph([helper.make_node("Relu", ["input"], ["r"]),
                       helper.make_node("NoSuchOp", ["r"], ["logits"])], "g",
                      [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 28, 28])],
                      [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, 28, 28])])
open(sys.argv[1], "wb").write(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
                              .SerializeToString())
PYEOF
# refuse RC WANT_TEXT ARGS...: exit status RC, one message with WANT_TEXT, no output file
refuse() {
    want_rc=$1
    text=$2
    shift 2
    rm -f "$W/out.onnx"
    "$Q" "$@" --out "$W/out.onnx" >"$W/r.log" 2>&1
    rc=$?
    if [ "$rc" -eq "$want_rc" ] && grep -q -- "$text" "$W/r.log" && [ ! -e "$W/out.onnx" ]; then
        ok "refused ($rc): $(grep -m1 -- "$text" "$W/r.log")"
    else
        bad "expected exit $want_rc and '$text' for: $*; got exit $rc: $(head -c 300 "$W/r.log")"
    fi
}
refuse 1 usage models/fashion-resnet
refuse 1 "calib-method must be" models/fashion-resnet --calib "$W/calib-fashion" --calib-method kl
refuse 1 "percentile must be" models/fashion-resnet --calib "$W/calib-fashion" --calib-method percentile:20
refuse 1 "activations must be" models/fashion-resnet --calib "$W/calib-fashion" --activations u4
refuse 2 "skipserve-quantize: .*garbage.onnx" "$W/garbage.onnx" --calib "$W/calib-fashion"
refuse 2 "skipserve-quantize: .*nonexistent" "$W/nonexistent.onnx" --calib "$W/calib-fashion"
refuse 2 "holds no PNG or JPEG" models/fashion-resnet --calib "$W/empty"
refuse 2 "cannot open it" models/fashion-resnet --calib "$W/no-such-folder"
refuse 2 "calibration image .*b.png" models/fashion-resnet --calib "$W/badimg"
refuse 2 "NoSuchOp" "$W/unsupported.onnx" --calib "$W/calib-fashion"
refuse 2 "already quantized" "$W/fashion-minmax-u8.onnx" --calib "$W/badimg/../calib-fashion"
refuse 2 "model.json says 3x28x28" models/fashion-resnet --calib "$W/calib-fashion" --model-json "$W/rgb.json"

if command -v valgrind >/dev/null; then
    mkdir -p "$W/calib-small"
    cp "$W"/calib-fashion/train_0000[0-1].png "$W/calib-small/"
    for args in "$W/garbage.onnx --calib $W/calib-small" \
        "models/fashion-resnet --calib $W/calib-small --calib-method entropy --report"; do
        # shellcheck disable=SC2086
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "$Q" $args --out "$W/vg.onnx" >"$W/vg.log" 2>&1
        rc=$?
        [ "$rc" -ne 99 ] && [ "$rc" -lt 128 ] && ok "valgrind clean (exit $rc): skipserve-quantize $args" ||
            { tail -30 "$W/vg.log"; bad "valgrind: skipserve-quantize $args (exit $rc)"; }
    done
else
    echo "quant: valgrind not installed, memory checks skipped"
fi
echo "quant: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
