#!/bin/sh
# compare-ort.sh — skipserve vs ONNX Runtime (CPU provider) on the same model
# files and the same non-zero inputs, run alternately; prints a markdown
# table: median ms of each, the ratio ORT_ms / skipserve_ms (> 1: skipserve
# faster), both peak RSS, and the largest difference between the outputs
# relative to ORT's output range, and each tool's share of the FP32 ceiling
# (2 x the model's direct-convolution GMAC over its best median, against
# `skipserve-bench --peak` at the row's thread count; Winograd layers do
# fewer multiplications, so skipserve's default path can pass 100%).
#
#   bench/compare-ort.sh [--models "resnet18 resnet50 ..."] [--batches "1 8"]
#                        [--threads "1 2"] [--runs N] [--rounds R] [--out FILE]
#                        [--precision fp32|int8|bf16] [--cpu native|avx2]
#
# --cpu avx2 (session 20): both tools run under $BUILD/cpuid_avx2.so
# (bench/cpuid_avx2.c, LD_PRELOAD: CPUID shows no AVX-512 / AVX-VNNI / AMX
# bit, so ORT's MLAS and skipserve's engine/cpu.c both pick their AVX2 + FMA
# kernels) with GLIBC_TUNABLES masking glibc's AVX-512 string functions too;
# the header line says so, and a row whose skipserve run did not report the
# avx2 level stops the script. The ceiling column is then the AVX2 one.
#
# --precision int8: both tools run the same QDQ file, made once beside the
# FP32 model by bench/make_qdq.py (models/lowp_convert.py's qdq form,
# calibrated by onnxruntime on the model's test data) as model-int8-qdq.onnx;
# --precision bf16: ORT runs the FP32 file (it has no BF16 convolution on
# x86), skipserve-bench the same file with --precision bf16. Either adds two
# columns: skipserve's FP32 median of the same rounds and FP32 / that
# precision's median (the "x our own FP32" target of issue 22).
#
# Installs onnxruntime-node (npm, --ignore-scripts: its install script would
# download GPU files) into bench/.ort/ (git-ignored) and exports missing
# models with models/export_zoo.py into $ZOO (default models/zoo). Needs
# $BUILD/skipserve-bench (default build/). The ratio of each row is the
# faster median of each tool over R rounds (default 3), so a burst of load
# on a shared machine does not decide a row; "rounds won" counts the rounds
# whose skipserve median beat the ORT median of the same round (a row near
# 1.0 with 1/3 or 2/3 is a tie). bench/ab.py alternates more finely.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
ZOO=${ZOO:-models/zoo}
MODELS="resnet18 resnet34 resnet50 resnet101 unet-convtranspose vit_small vit_b_16"
BATCHES="1 8"
THREADS="1 2"
RUNS=10
ROUNDS=3
OUT=""
PREC=fp32
CPU=native
while [ $# -gt 0 ]; do
    case "$1" in
    --models) MODELS=$2; shift 2 ;;
    --batches) BATCHES=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --precision) PREC=$2; shift 2 ;;
    --cpu) CPU=$2; shift 2 ;;
    *) echo "usage: $0 [--models M] [--batches B] [--threads T] [--runs N] [--rounds R] [--out F] [--precision fp32|int8|bf16] [--cpu native|avx2]" >&2
       exit 2 ;;
    esac
done
case "$PREC" in fp32|int8|bf16) ;; *) echo "compare-ort: --precision fp32|int8|bf16" >&2; exit 2 ;; esac
BENCH=$BUILD/skipserve-bench
[ -x "$BENCH" ] || { echo "compare-ort: build $BENCH first (make BUILD=$BUILD)" >&2; exit 1; }
# RUN: the prefix of both tools' commands (--cpu avx2: the CPUID library)
RUN=""
cpu_note=""
case "$CPU" in
native) ;;
avx2)
    so=$(pwd)/$BUILD/cpuid_avx2.so
    [ -f "$so" ] || { echo "compare-ort: build $so first (make BUILD=$BUILD $BUILD/cpuid_avx2.so)" >&2; exit 1; }
    RUN="env LD_PRELOAD=$so GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
    cpu_note=", cpu avx2 (both tools under bench/cpuid_avx2.c: CPUID without AVX-512 / AVX-VNNI / AMX, glibc's AVX-512 off)"
    ;;
*) echo "compare-ort: --cpu native|avx2" >&2; exit 2 ;;
esac
if [ ! -d bench/.ort/node_modules/onnxruntime-node ]; then
    mkdir -p bench/.ort
    (cd bench/.ort && npm install --ignore-scripts --no-audit --no-fund onnxruntime-node >&2)
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3
field() { # field JSON-LINE KEY
    printf '%s' "$1" | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$2"
}
min() { $PY -c 'import sys; print(min(float(a) for a in sys.argv[1:]))' "$@"; }
# won "SK_MS..." "ORT_MS...": rounds in which skipserve's median beat ORT's
# of the same round, as "k/R" (this VM's speed moves in plateaus of seconds;
# a round's two medians share one)
won() {
    $PY -c 'import sys; a, b = sys.argv[1].split(), sys.argv[2].split(); print("%d/%d" % (sum(float(x) < float(y) for x, y in zip(a, b)), len(a)))' "$1" "$2"
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
{
    echo "compare-ort: $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), precision $PREC$cpu_note"
    echo
    if [ "$PREC" = fp32 ]; then
        echo "| model | batch | threads | skipserve ms | ORT ms | ORT/skipserve | rounds won | skipserve % ceiling | ORT % ceiling | skipserve RSS MB | ORT RSS MB | max diff |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    else
        echo "| model | batch | threads | skipserve $PREC ms | ORT ms | ORT/skipserve | rounds won | skipserve % FP32 ceiling | ORT % FP32 ceiling | skipserve RSS MB | ORT RSS MB | max diff | skipserve fp32 ms | fp32/$PREC |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    fi
} | tee ${OUT:+"$OUT"}

for m in $MODELS; do
    model=$ZOO/$m-op17/model.onnx
    if [ ! -f "$model" ]; then
        echo "compare-ort: exporting $m" >&2
        nice -n 10 $PY models/export_zoo.py --only "$m" --opset 17 --out "$ZOO" >&2
    fi
    fp32_model=$model
    sk_prec=""
    if [ "$PREC" = int8 ]; then
        model=$ZOO/$m-op17/model-int8-qdq.onnx
        if [ ! -f "$model" ]; then
            echo "compare-ort: making $model" >&2
            nice -n 10 $PY bench/make_qdq.py "$fp32_model" "$model" >&2
        fi
    elif [ "$PREC" = bf16 ]; then
        sk_prec="--precision bf16"
    fi
    for b in $BATCHES; do
        for t in $THREADS; do
            sk_ms=""; ort_ms=""; sk_rss=0; ort_rss=0; f32_ms=""
            r=0
            while [ $r -lt "$ROUNDS" ]; do
                # shellcheck disable=SC2086 # sk_prec: zero or two words
                # shellcheck disable=SC2086 # RUN: zero or three words
                j=$($RUN "$BENCH" "$model" --batch "$b" --threads "$t" --runs "$RUNS" --json --peak \
                    $sk_prec --save-input "$TMP/in.f32" --save-output "$TMP/sk.f32")
                gmac=$(field "$j" gmac)
                peak=$(field "$j" peak_gflops)
                sk_ms="$sk_ms $(field "$j" median_ms)"
                sk_rss=$(field "$j" max_rss_mb)
                [ "$(field "$j" outputs_ok)" = "True" ] || echo "compare-ort: skipserve outputs not sane on $m" >&2
                if [ "$CPU" = avx2 ] && [ "$(field "$j" isa)" != avx2 ]; then
                    echo "compare-ort: --cpu avx2 but skipserve ran at $(field "$j" isa)" >&2; exit 1
                fi
                o=$($RUN node bench/ort_bench.js "$model" "$TMP/in.f32" "$b" "$t" "$RUNS" "$TMP/ort.f32")
                ort_ms="$ort_ms $(field "$o" median_ms)"
                ort_rss=$(field "$o" max_rss_mb)
                if [ "$PREC" != fp32 ]; then
                    f=$($RUN "$BENCH" "$fp32_model" --batch "$b" --threads "$t" --runs "$RUNS" --json \
                        --load-input "$TMP/in.f32")
                    f32_ms="$f32_ms $(field "$f" median_ms)"
                fi
                r=$((r + 1))
            done
            diff=$($PY bench/outdiff.py "$TMP/sk.f32" "$TMP/ort.f32")
            s=$(min $sk_ms); o=$(min $ort_ms)
            ratio=$($PY -c "print('%.2f' % ($o / $s))")
            won=$(won "$sk_ms" "$ort_ms")
            pct=$($PY -c "g, p = $gmac, $peak; print('%.0f%% | %.0f%%' % (2e5 * g / $s / p, 2e5 * g / $o / p))")
            extra=""
            if [ "$PREC" != fp32 ]; then
                f=$(min $f32_ms)
                extra=$($PY -c "print(' %.1f | %.2f |' % ($f, $f / $s))")
            fi
            printf '| %s | %s | %s | %.1f | %.1f | %s | %s | %s | %.0f | %.0f | %s |%s\n' \
                "$m" "$b" "$t" "$s" "$o" "$ratio" "$won" "$pct" "$sk_rss" "$ort_rss" "$diff" "$extra" |
                tee -a ${OUT:+"$OUT"}
        done
    done
done
