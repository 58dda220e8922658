#!/bin/sh
# scaling.sh — thread-scaling table: skipserve at each ISA level and ONNX
# Runtime on the same model files and inputs, at 1..N threads.
#
#   bench/scaling.sh --models "A.onnx B.onnx" [--batches "1 8"]
#                    [--threads "1 2 4 8 16"] [--isas "avx2 avx512"]
#                    [--ort node|py|none] [--runs N] [--out FILE]
#
# Each row: median ms, GFLOP/s, speed-up over the same ISA at the first
# thread count, ORT's median on the same input (ORT_ms / skipserve_ms > 1:
# skipserve faster) and the largest output difference relative to ORT's
# range. --ort py uses bench/ort_bench.py (the `onnxruntime` wheel), node
# bench/ort_bench.js (see compare-ort.sh for its install). A model's name in
# the table is its file name, or its folder's for model.onnx.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${PY:-python3}
MODELS=""; BATCHES="1 8"; THREADS="1 2 4 8 16"; ISAS="avx2 avx512"; ORT=none; RUNS=10; OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
    --models) MODELS=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --isas) ISAS=$2; shift 2 ;;
    --ort) ORT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 --models M [--batches B] [--threads T] [--isas I] [--ort node|py|none] [--runs N] [--out F]" >&2
       exit 2 ;;
    esac
done
[ -n "$MODELS" ] || { echo "scaling: --models is required" >&2; exit 2; }
BENCH=$BUILD/skipserve-bench
[ -x "$BENCH" ] || { echo "scaling: build $BENCH first" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
field() { printf '%s' "$1" | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$2"; }
calc() { $PY -c "print($1)"; }
say() { if [ -n "$OUT" ]; then echo "$1" | tee -a "$OUT"; else echo "$1"; fi; }

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
[ -n "$OUT" ] && [ -s "$OUT" ] || {
say "scaling: $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu, $(nproc) CPUs"
say ""
say "| model | batch | threads | isa | skipserve ms | GFLOP/s | speed-up | ORT ms | ORT/skipserve | max diff |"
say "|---|---|---|---|---|---|---|---|---|---|"
}
for model in $MODELS; do
    name=$(basename "$model" .onnx)
    [ "$name" = model ] && name=$(basename "$(dirname "$model")")
    for b in $BATCHES; do
        for isa in $ISAS; do
            base=""
            for t in $THREADS; do
                j=$("$BENCH" "$model" --batch "$b" --threads "$t" --isa "$isa" --runs "$RUNS" --json \
                    --save-input "$TMP/in.f32" --save-output "$TMP/sk.f32")
                ms=$(field "$j" median_ms); gf=$(field "$j" gflops)
                [ -n "$base" ] || base=$ms
                up=$(calc "'%.2f' % ($base / $ms)")
                o_ms=-; ratio=-; diff=-
                if [ "$ORT" != none ]; then
                    if [ "$ORT" = py ]; then
                        o=$($PY bench/ort_bench.py "$model" "$TMP/in.f32" "$b" "$t" "$RUNS" "$TMP/ort.f32")
                    else
                        o=$(node bench/ort_bench.js "$model" "$TMP/in.f32" "$b" "$t" "$RUNS" "$TMP/ort.f32")
                    fi
                    o_ms=$(calc "'%.1f' % $(field "$o" median_ms)")
                    ratio=$(calc "'%.2f' % ($o_ms / $ms)")
                    diff=$($PY bench/outdiff.py "$TMP/sk.f32" "$TMP/ort.f32")
                fi
                say "$(printf '| %s | %s | %s | %s | %.1f | %.0f | %s | %s | %s | %s |' \
                    "$name" "$b" "$t" "$isa" "$ms" "$gf" "$up" "$o_ms" "$ratio" "$diff")"
            done
        done
    done
done
