#!/bin/sh
# layers.sh — one convolution layer at a time: the conv strategies the
# prepack pass chooses between, on the layer shapes of ResNet, U-Net and
# MobileNet. Exports single-Conv ONNX models with PyTorch into $OUT (default
# bench/.layers, git-ignored) and runs skipserve-bench on each twice — with
# SKIPSERVE_WINOGRAD=0 (implicit-im2col GEMM), =force2 (Winograd
# F(2x2, 3x3)) and =force4 (F(4x4, 3x3)) — printing a markdown table of the
# best ms of each and the ratios to the GEMM. Depthwise layers run the direct kernel (there is no switch: the
# GEMM time of depthwise layers is in bench/RESULTS.md's history).
#   BUILD (default build), RUNS (default 15), THREADS (default 1)
set -eu
BUILD=${BUILD:-build}
OUT=${OUT:-bench/.layers}
RUNS=${RUNS:-15}
THREADS=${THREADS:-1}
BENCH=$BUILD/skipserve-bench
PY=/usr/bin/python3
[ -x "$BENCH" ] || { echo "layers: build $BENCH first (make BUILD=$BUILD)" >&2; exit 1; }
mkdir -p "$OUT"
# C, M, H(=W), kernel, stride, groups
SHAPES="8,8,256,3,1,1 16,16,256,3,1,1 32,32,256,3,1,1 64,32,256,3,1,1 64,64,128,3,1,1
128,128,64,3,1,1 256,256,32,3,1,1 64,64,56,3,1,1 128,128,28,3,1,1 256,256,14,3,1,1
512,512,7,3,1,1 32,32,112,3,1,32 96,96,112,3,2,96 144,144,56,3,1,144 960,960,7,3,1,960"
$PY - "$OUT" $SHAPES <<'PYEOF'
import os, sys, torch
out = sys.argv[1]
for s in sys.argv[2:]:
    C, M, H, k, st, g = map(int, s.split(","))
    f = os.path.join(out, f"conv_{C}_{M}_{H}_k{k}s{st}g{g}.onnx")
    if not os.path.exists(f):
        torch.manual_seed(0)
        m = torch.nn.Conv2d(C, M, k, stride=st, padding=k // 2, groups=g)
        torch.onnx.export(m, torch.randn(1, C, H, H), f, opset_version=13,
                          input_names=["x"], output_names=["y"])
PYEOF
best() { "$BENCH" "$1" --threads "$THREADS" --runs "$RUNS" --json |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["min_ms"])'; }
echo "| layer (C -> M, HxW, k, stride, groups) | GMAC | GEMM ms | F(2x2) / direct ms | F(4x4) ms | speed-up F(2x2) | speed-up F(4x4) |"
echo "|---|---|---|---|---|---|---|"
for s in $SHAPES; do
    IFS=, read C M H k st g <<EOT
$s
EOT
    f=$OUT/conv_${C}_${M}_${H}_k${k}s${st}g${g}.onnx
    gmac=$($PY -c "print(round($C // $g * $M * $k * $k * ($H // $st) ** 2 / 1e9, 3))")
    b=$(SKIPSERVE_WINOGRAD=force2 best "$f")
    if [ "$g" = 1 ]; then
        a=$(SKIPSERVE_WINOGRAD=0 best "$f")
        c=$(SKIPSERVE_WINOGRAD=force4 best "$f")
        echo "| $C -> $M, ${H}x$H, ${k}x$k, s$st | $gmac | $a | $b | $c |" \
             "$($PY -c "print(round($a / $b, 2))") | $($PY -c "print(round($a / $c, 2))") |"
    else
        echo "| $C -> $M, ${H}x$H, ${k}x$k, s$st, depthwise | $gmac | - | $b | - | - | - |"
    fi
done
