#!/bin/sh
# tests/zoo/run_lowp.sh — the low-precision half of `make test-zoo`, with
# onnxruntime (onnxruntime-node, installed by npm into bench/.ort/) as the
# oracle; needs /usr/bin/python3 with onnx and numpy, node and npm, not torch:
#   1. the com.microsoft quantized ops on small graphs (make_ms_ops.py),
#      integer outputs within one step (--int-atol 1), at every SIMD level;
#      QLinearAveragePool on random geometries bit for bit (make_ms_avgpool.py);
#   2. the default models converted to fp16 / fp16w / qdq / qop / dynamic
#      (models/lowp_convert.py) against onnxruntime (lowp_models.py);
#   3. the int8 kernels' bits across microkernels; 4. bench/layers-vs-ort's join.
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
# the 6 depthwise QLinearConvs (dw8) are bit-identical to onnxruntime: no
# --int-atol for them, every level. The 6 QDQ ReLU6 depthwise convs are
# not (onnxruntime rounds a float conv, we an int8 sum or a float sum in
# another order, then Q: 1-2
# of ~2000 values one step apart on a non-identity table), so they stay
# within --int-atol 1 above
for isa in scalar avx2 avx512; do
    SKIPSERVE_ISA=$isa "$RUNNER" --all-must-pass --filter qlinearconv_dw "$DIR/ms_ops" \
        >"$DIR/ms_dw-$isa.log" ||
        { cat "$DIR/ms_dw-$isa.log"
          echo "zoo-lowp: FAILED (depthwise QLinearConv not bit-identical at $isa)" >&2; exit 1; }
done
echo "zoo-lowp: depthwise QLinearConv bit-identical to onnxruntime at every level: $(tail -1 "$DIR/ms_dw-avx512.log")"
exact=$("$RUNNER" "$DIR/ms_ops" | tail -1)
echo "zoo-lowp: bit-identical to onnxruntime (no --int-atol): $exact"
# 1b. (session 16) QLinearAveragePool on random geometries: onnxruntime's
#     own arithmetic, so every value equal (no --int-atol), reference and
#     optimized, every level
rm -rf "$DIR/ms_avgpool"
$PY tests/zoo/make_ms_avgpool.py "$DIR/ms_avgpool" ||
    { echo "zoo-lowp: make_ms_avgpool.py failed" >&2; exit 1; }
for isa in scalar avx2 avx512; do
    for opt in 0 1; do
        SKIPSERVE_ISA=$isa "$RUNNER" --all-must-pass --opt $opt --threads 2 "$DIR/ms_avgpool" \
            >"$DIR/ms_avgpool-$isa-$opt.log" ||
            { cat "$DIR/ms_avgpool-$isa-$opt.log"
              echo "zoo-lowp: FAILED (QLinearAveragePool not bit-identical at $isa, opt $opt)" >&2
              exit 1; }
    done
done
echo "zoo-lowp: QLinearAveragePool bit-identical to onnxruntime: $(tail -1 "$DIR/ms_avgpool-avx512-1.log")"
BUILD=$BUILD $PY tests/zoo/lowp_models.py "$DIR/models" || { echo "zoo-lowp: FAILED" >&2; exit 1; }
# a model steps 3-4 need and lowp_models.py did not write: a failure,
# unless LOWP_ONLY / LOWP_FORMS narrowed what it converts
missing() {
    if [ -z "${LOWP_ONLY:-}${LOWP_FORMS:-}" ]; then
        echo "zoo-lowp: FAILED — $1 was not produced" >&2
        exit 1
    fi
    echo "zoo-lowp: $1 skipped (LOWP_ONLY / LOWP_FORMS)"
}
# 3. the int8 kernels (issue 22) give the same bits with every int8
#    microkernel (AMX-INT8 where the CPU has it, AVX512-VNNI, AVX-VNNI, AVX2
#    forced by SKIPSERVE_INT8_UK; a
#    CPU without one runs the next it has) and, for the QOperator models
#    (integer to the end), at the avx2 and scalar (reference) levels too;
#    session 18: the QDQ models at the avx2 level (and with the AVX2 int8
#    kernels there) as well — their int8 rewrites no longer depend on the
#    level (ConvTranspose, depthwise), and their float tails give the same
#    bytes on these inputs
for form in qop qdq; do
    for m in fashion-resnet scenes-unet; do
        d=$DIR/models/$m/$form
        [ -f "$d/model.onnx" ] && [ -f "$d/in.pb" ] || { missing "$d/model.onnx"; continue; }
        levels="avx512 avx512:avx512vnni avx512:avxvnni avx512:avx2 avx2 avx2:avx2"
        [ "$form/$m" = qop/fashion-resnet ] && levels="$levels scalar"
        ref=""
        for lv in $levels; do
            isa=${lv%%:*}
            uk=""; [ "$lv" != "$isa" ] && uk=${lv#*:}
            SKIPSERVE_ISA=$isa SKIPSERVE_INT8_UK=$uk "$BUILD/skipserve-run" "$d/model.onnx" \
                --input-pb "$d/in.pb" --output-pb "$d/out-$isa-$uk.pb" >/dev/null ||
                { echo "zoo-lowp: FAILED running $m $form at $lv" >&2; exit 1; }
            sum=$(md5sum <"$d/out-$isa-$uk.pb")
            [ -z "$ref" ] && ref=$sum
            [ "$sum" = "$ref" ] ||
                { echo "zoo-lowp: FAILED — $m $form at $lv differs from ${levels%% *}" >&2; exit 1; }
        done
        echo "zoo-lowp: $m $form: identical output at $levels"
    done
done
# 4. bench/layers-vs-ort.sh joins ORT's per-node profile to our steps
#    (session 16): every ORT node of the QDQ model (its renamed QLinearConv
#    / QLinearAdd / NhwcMaxPool nodes) and of the FP32 model (NCHWc) lands
#    in a step, each step holding as many ORT conv nodes as it has Convs
#    (one profiled run each side: ~3 s)
for m in "$DIR/models/fashion-resnet/qdq/model.onnx" models/fashion-resnet/model.onnx; do
    [ -f "$m" ] || { missing "$m"; continue; }
    LVO_CHECK=1 BUILD=$BUILD bench/layers-vs-ort.sh "$m" 1 1 1 >"$DIR/layers-join.log" 2>&1 ||
        { cat "$DIR/layers-join.log"; echo "zoo-lowp: FAILED — layers-vs-ort join on $m" >&2; exit 1; }
    echo "zoo-lowp: $m: $(tail -1 "$DIR/layers-join.log")"
done
echo "zoo-lowp: all pass"
