#!/bin/sh
# tests/models/run.sh — `make test-models`: the two default models THROUGH THE
# ENGINE (skipserve-eval, built from tests/models/eval.c), against the numbers
# PyTorch measured at training time (models/*/torch_metrics.json):
#   - fashion-resnet on all 10,000 Fashion-MNIST test images (Debian's
#     dataset-fashion-mnist): accuracy within 0.1 point of PyTorch's, argmax
#     agreement with PyTorch >= 99.9%;
#   - scenes-unet on the 1000 seeded test scenes (tests/models/make_scenes.py,
#     needs /usr/bin/python3 with numpy and PIL): mIoU within 0.005 of PyTorch's
#     (as many classes as the model's labels.txt has lines);
#   - both models' test_data_set_0 (PyTorch outputs): max-abs-normalized error <= 1e-4,
#     on the optimized graph (--opt 1, as the server runs it; the accuracy checks
#     use it too) and on the graph as loaded (--opt 0, reference kernels);
#   - where the CPU has AVX512-BF16, both accuracy checks again with
#     --precision bf16 against the BF16 targets (accuracy within 0.5 point,
#     argmax agreement >= 99%, mIoU within 0.01; ~45 s on 2 Zen 4 cores).
# Prints a closing line "N passed, N failed"; exits 1 when a check fails.
#   BUILD       build folder with skipserve-eval (default: build)
#   FASHION_MNIST_DIR  data set folder (default: /usr/share/datasets/fashion-mnist)
set -u
BUILD=${BUILD:-build}
EVAL=$BUILD/skipserve-eval
DATA=$BUILD/models-data
FM=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
PY=/usr/bin/python3
CLS=models/fashion-resnet
SEG=models/scenes-unet
passed=0
failed=0
LOG=$DATA/eval.log
# 1 where the CPU has AVX512-BF16: the BF16 checks run (issue 22)
BF16=$(grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null && echo 1 || echo 0)

# jget KEY FILE: a scalar of the JSON files the training scripts write
# (one "key": value per line).
jget() {
    sed -n "s/^ *\"$1\": *\\([-0-9.eE+]*\\),\\{0,1\\}\$/\\1/p" "$2" | head -1
}

# run_eval LABEL ARGS...: count the PASS/FAIL lines; an error (exit 2, or no
# verdict at all) counts as one failure.
run_eval() {
    label=$1
    shift
    "$EVAL" "$@" >"$LOG" 2>&1
    rc=$?
    cat "$LOG"
    p=$(grep -c '^PASS' "$LOG")
    f=$(grep -c '^FAIL' "$LOG")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $label: skipserve-eval exited $rc"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

fail() {
    echo "FAIL $1"
    failed=$((failed + 1))
}

if [ ! -x "$EVAL" ]; then
    echo "models: $EVAL is missing: build it first (make BUILD=$BUILD $EVAL)" >&2
    exit 1
fi
mkdir -p "$DATA"

# --- fashion-resnet on the 10k test images -----------------------------------
for f in t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -s "$DATA/$f" ]; then
        gzip -dc "$FM/$f.gz" >"$DATA/$f.tmp" && mv "$DATA/$f.tmp" "$DATA/$f" ||
            { rm -f "$DATA/$f.tmp"; echo "models: cannot read $FM/$f.gz" \
              "(apt-get install dataset-fashion-mnist)" >&2; }
    fi
done
if [ -s "$DATA/t10k-images-idx3-ubyte" ] && [ -s "$DATA/t10k-labels-idx1-ubyte" ]; then
    run_eval "fashion-resnet accuracy" classify $CLS/model.onnx \
        "$DATA/t10k-images-idx3-ubyte" "$DATA/t10k-labels-idx1-ubyte" \
        --mean "$(jget input_mean $CLS/torch_metrics.json)" \
        --std "$(jget input_std $CLS/torch_metrics.json)" \
        --torch-acc "$(jget test_accuracy $CLS/torch_metrics.json)" \
        --torch-argmax $CLS/torch_test_argmax.bin --batch 50
    # BF16 (issue 22): the same images on the BF16 kernels, against the BF16
    # targets (accuracy within 0.5 point, argmax agreement >= 99%); only
    # where the CPU has AVX512-BF16
    if [ "$BF16" = 1 ]; then
        run_eval "fashion-resnet accuracy bf16" classify $CLS/model.onnx \
            "$DATA/t10k-images-idx3-ubyte" "$DATA/t10k-labels-idx1-ubyte" \
            --mean "$(jget input_mean $CLS/torch_metrics.json)" \
            --std "$(jget input_std $CLS/torch_metrics.json)" \
            --torch-acc "$(jget test_accuracy $CLS/torch_metrics.json)" \
            --torch-argmax $CLS/torch_test_argmax.bin --batch 50 --precision bf16
    fi
else
    fail "fashion-resnet accuracy: Fashion-MNIST test set unavailable"
fi
for opt in 0 1; do
    run_eval "fashion-resnet test data" testdata $CLS/model.onnx $CLS/test_data_set_0 --opt $opt
done

# --- scenes-unet on the 1000 test scenes -------------------------------------
if [ -x "$PY" ] && $PY -c 'import numpy, PIL' 2>/dev/null; then
    if $PY tests/models/make_scenes.py "$DATA"; then
        run_eval "scenes-unet mIoU" segment $SEG/model.onnx "$DATA/scenes.u8" "$DATA/labels.u8" \
            --mean "$(jget input_mean $SEG/torch_metrics.json)" \
            --std "$(jget input_std $SEG/torch_metrics.json)" \
            --torch-miou "$(jget test_miou $SEG/torch_metrics.json)" \
            --count "$(jget test_scenes $SEG/torch_metrics.json)" \
            --classes "$(grep -c . $SEG/labels.txt)" --batch 10
        [ "$BF16" = 1 ] && run_eval "scenes-unet mIoU bf16" segment $SEG/model.onnx \
            "$DATA/scenes.u8" "$DATA/labels.u8" \
            --mean "$(jget input_mean $SEG/torch_metrics.json)" \
            --std "$(jget input_std $SEG/torch_metrics.json)" \
            --torch-miou "$(jget test_miou $SEG/torch_metrics.json)" \
            --count "$(jget test_scenes $SEG/torch_metrics.json)" \
            --classes "$(grep -c . $SEG/labels.txt)" --batch 10 --precision bf16
    else
        fail "scenes-unet mIoU: tests/models/make_scenes.py failed"
    fi
else
    fail "scenes-unet mIoU: $PY with numpy and PIL is needed to generate the test scenes" \
         "(apt-get install python3-numpy python3-pil)"
fi
for opt in 0 1; do
    run_eval "scenes-unet test data" testdata $SEG/model.onnx $SEG/test_data_set_0 --opt $opt
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
