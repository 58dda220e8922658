#!/bin/sh
# run.sh — every malformed model must be refused by skipserve-run with a
# non-zero exit (not a crash), exactly one line on stderr holding the
# expected words, and no leak or memory error (valgrind, when installed).
# The models are generated into $BUILD/bad_models by make_bad.py.
BUILD=${BUILD:-build}
RUN=$BUILD/skipserve-run
OUT=$BUILD/bad_models
HERE=$(dirname "$0")
PY=/usr/bin/python3

if ! [ -x "$RUN" ]; then
    echo "bad_models: $RUN is not built" >&2
    exit 1
fi
if ! $PY -c "import onnx, numpy" 2>/dev/null; then
    echo "bad_models: SKIP (needs $PY with onnx and numpy: apt-get install python3-onnx python3-numpy)"
    exit 0
fi
rm -rf "$OUT"
$PY "$HERE/make_bad.py" "$OUT" >/dev/null || { echo "bad_models: generator failed" >&2; exit 1; }

VG=""
if command -v valgrind >/dev/null 2>&1 && [ -z "$NO_VALGRIND" ]; then
    VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --log-file=$OUT/valgrind.log"
fi

pass=0
fail=0
# check NAME EXPECTED-SUBSTRING [extra args...]
check() {
    name=$1
    want=$2
    shift 2
    model=$OUT/$name.onnx
    : >"$OUT/valgrind.log"
    $VG "$RUN" "$model" --threads 1 "$@" >"$OUT/stdout" 2>"$OUT/stderr"
    rc=$?
    lines=$(wc -l <"$OUT/stderr")
    why=""
    if [ $rc -eq 0 ]; then
        why="exit 0 (accepted a bad model)"
    elif [ $rc -eq 99 ]; then
        why="valgrind found errors: $(head -c 600 "$OUT/valgrind.log")"
    elif [ $rc -ge 128 ]; then
        why="crashed (exit $rc)"
    elif [ "$lines" -ne 1 ]; then
        why="$lines lines on stderr, want 1: $(head -c 300 "$OUT/stderr")"
    elif ! grep -qF -- "$want" "$OUT/stderr"; then
        why="stderr lacks '$want': $(cat "$OUT/stderr")"
    fi
    if [ -z "$why" ]; then
        pass=$((pass + 1))
        echo "ok   $name: $(cat "$OUT/stderr")"
    else
        fail=$((fail + 1))
        echo "FAIL $name: $why"
    fi
}

check missing          "No such file"
check empty            "has no graph"
check truncated        "not a valid ONNX model"
check bitflip          "not a valid ONNX model"
check bitflip_op       "unsupported op: relu (node 'relu1', opset 13)"
check unsupported      "unsupported ops: Foo (node 'n1', opset 13), Bar (node 'n2', opset 13)"
check custom_domain    "unsupported op: Gelu (node 'g1', domain 'com.example': custom domains are not supported)"
check conv_mismatch    "node 'conv1': weight has 2 input channels" --input-pb "$OUT/conv_mismatch.input.pb"
check pool_huge_window "node 'pool1': a 1600000000-tap window over 81 outputs is too much work" --input-pb "$OUT/pool_huge_window.input.pb"
check overflow_input   "overflows"
check overflow_init    "more than 2^40 elements"
check negative_dim     "negative dimension (-3)"
check absurd_dim       "absurd dimension"
check raw_size         "raw_data has 20 bytes, its shape needs 24"
check cycle            "cycle"
check undefined_input  "reads 'ghost'"
check uint16_input     "has dtype uint16, which is not supported"
check q_zero_scale     "QuantizeLinear node 'q1': y_scale[0] = 0; a scale must be finite and non-zero" --input-pb "$OUT/q_zero_scale.input.pb"
check q_zp_int32       "QuantizeLinear node 'q2': y_zero_point is int32; only int8 and uint8" --input-pb "$OUT/q_zp_int32.input.pb"
check dq_zp_mismatch   "DequantizeLinear node 'dq1': x is int8 but x_zero_point is uint8" --input-pb "$OUT/dq_zp_mismatch.input.pb"
check q_axis_range     "QuantizeLinear node 'q3': axis 5 is out of range for y of rank 4" --input-pb "$OUT/q_axis_range.input.pb"
check dq_scale_length  "DequantizeLinear node 'dq2': x_scale has 3 values but x [1,4,2,2] has 4 along axis 1" --input-pb "$OUT/dq_scale_length.input.pb"
check q_blocked        "QuantizeLinear node 'q4': blocked quantization (block_size = 2, opset 21) is not supported" --input-pb "$OUT/q_blocked.input.pb"
check qlinearconv_w_scale_length "QLinearConv node 'qc1': w_scale has 3 values but w [4,4,1,1] has 4 along axis 0" --input-pb "$OUT/qlinearconv_w_scale_length.input.pb"
check dq_float8        "initializer 'w8' has dtype float8e4m3fn, which is not supported"
check ms_op_default_domain "unsupported op: QLinearSigmoid (node 'qs1', opset 13)"
check tensor_attr_empty "ConstantOfShape 'cos1': attribute 'value' is of type tensor but holds none"
check ext_missing      "cannot open external data file 'no_such_weights.bin'"
check ext_short        "is too short (40 bytes, needs 64)"
check ext_offset       "is too short (64 bytes, needs 96)"
check ext_escape       "leaves the model's folder"
check ext_absolute     "leaves the model's folder"
# A good model without its input: refused too (inputs are never invented).
check good             "model input 'x'"
# ...and with it, it runs (so the refusals above are not a broken binary).
if $VG "$RUN" "$OUT/good.onnx" --threads 1 --input-pb "$OUT/good.input.pb" >"$OUT/stdout" 2>"$OUT/stderr" &&
    grep -q "output 'y' float32 \[1,4\]" "$OUT/stdout"; then
    pass=$((pass + 1))
    echo "ok   good model runs: $(head -1 "$OUT/stdout")"
else
    fail=$((fail + 1))
    echo "FAIL good model does not run: $(cat "$OUT/stderr")"
fi

echo "bad_models: $pass passed, $fail failed${VG:+ (under valgrind)}"
[ $fail -eq 0 ]
