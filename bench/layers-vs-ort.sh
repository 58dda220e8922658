#!/bin/sh
# layers-vs-ort.sh — where skipserve and ONNX Runtime differ, layer by layer:
# runs skipserve-bench --profile and ORT's own profiler (ort_profile.js) on
# the same model and input, then bench/layers_vs_ort.py joins the two (ORT's
# nodes followed back through the graph it ran, saved by ort_profile.js, to
# the model's values, so QDQ models' QLinearConv nodes join too) and prints
# markdown tables (per strategy and shape, then per step, largest
# skipserve - ORT difference first).
#   bench/layers-vs-ort.sh MODEL.onnx [BATCH] [THREADS] [RUNS]
# Needs bench/.ort (compare-ort.sh installs it) and $BUILD/skipserve-bench.
# LVO_CHECK=1: fail unless the join is complete (tests/zoo/run_lowp.sh).
# LVO_CPU=avx2 (session 20): both sides under $BUILD/cpuid_avx2.so, as
# `compare-ort.sh --cpu avx2` (bench/cpuid_avx2.c: an AVX2 + FMA CPU).
# Both profilers time each step alone (ORT's adds a little per node), and
# each step's time is its fastest of RUNS runs, so the sums are below the
# whole-run medians of compare-ort.sh.
set -eu
BUILD=${BUILD:-build}
MODEL=${1:?usage: bench/layers-vs-ort.sh MODEL.onnx [BATCH] [THREADS] [RUNS]}
B=${2:-1}; T=${3:-2}; R=${4:-20}
[ -d bench/.ort/node_modules/onnxruntime-node ] ||
    { echo "layers-vs-ort: run bench/compare-ort.sh once to install onnxruntime-node" >&2; exit 1; }
RUN=""
case "${LVO_CPU:-native}" in
native) ;;
avx2)
    so=$(pwd)/$BUILD/cpuid_avx2.so
    [ -f "$so" ] || { echo "layers-vs-ort: build $so first" >&2; exit 1; }
    RUN="env LD_PRELOAD=$so GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD" ;;
*) echo "layers-vs-ort: LVO_CPU=native|avx2" >&2; exit 2 ;;
esac
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck disable=SC2086 # RUN: zero or three words
$RUN "$BUILD/skipserve-bench" "$MODEL" --batch "$B" --threads "$T" --runs 2 --save-input "$TMP/in.f32" >/dev/null
# per step the fastest of R runs on both sides: R skipserve processes of one
# profiled run each (after 2 warm-up runs), ORT's fastest event of each node
# over R runs — per-step averages moved 2x between runs with other
# engineers' jobs on the 2 vCPUs (session 16)
i=0
while [ "$i" -lt "$R" ]; do
    i=$((i + 1))
    $RUN "$BUILD/skipserve-bench" "$MODEL" --batch "$B" --threads "$T" --runs 1 \
        --load-input "$TMP/in.f32" --profile-top 100000 >"$TMP/sk$i.txt"
done
$RUN node bench/ort_profile.js "$MODEL" "$TMP/in.f32" "$B" "$T" "$R" "$TMP/ort.json" "$TMP/ort.onnx" 2>/dev/null
/usr/bin/python3 bench/layers_vs_ort.py ${LVO_CHECK:+--check} "$MODEL" "$TMP/ort.json" "$TMP/ort.onnx" "$TMP"/sk*.txt
