#!/bin/sh
# serve-load.sh — the server under load, against the engine alone (PERF.md
# "For the server": images/s, p50/p90/p99 latency, mean batch size, errors,
# and server throughput / the engine's own batched throughput).
#
#   bench/serve-load.sh [--clients "1 4 16"] [--seconds 10] [--threads T]
#                       [--models DIR] [--out FILE]
#
# For each model of the repository (default models/: the classifier gets
# tests/data/shirt.png, the segmenter tests/data/scene.png as
# format=indices): the engine alone (skipserve-bench at batch B = the
# largest client count, capped at the model's max_batch, T threads) gives
# images/s and the batch compute time; then build/skipserve (T engine
# threads) on a free 127.0.0.1 port takes each client count for S seconds
# from build/skipserve-load (closed loop, keep-alive, one image a request);
# /metrics before and after gives the mean engine batch. Every row says
# server images/s / engine images/s (PERF.md target >= 0.9 at 16 clients)
# and p99 / batch compute time (target <= 3). The load generator and the
# image decoding share the machine's cores with the engine: on a 2-core VM
# that is most of the gap. Traffic goes to 127.0.0.1 only and every step
# stops by itself.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${PY:-python3}
CLIENTS="1 4 16"; SECONDS_EACH=10; THREADS=$(nproc); MODELS=models; OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
    --clients) CLIENTS=$2; shift 2 ;;
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --models) MODELS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: $0 [--clients \"1 4 16\"] [--seconds S] [--threads T] [--models DIR] [--out F]" >&2
       exit 2 ;;
    esac
done
for b in skipserve skipserve-bench skipserve-load; do
    [ -x "$BUILD/$b" ] || { echo "serve-load: build $BUILD/$b first (make)" >&2; exit 1; }
done
TMP=$(mktemp -d)
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
say() { if [ -n "$OUT" ]; then echo "$1" | tee -a "$OUT"; else echo "$1"; fi; }
field() { printf '%s' "$1" | $PY -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$2"; }
calc() { $PY -c "print($1)"; }
maxc=0
for c in $CLIENTS; do [ "$c" -gt "$maxc" ] && maxc=$c; done

# the server, once, with every model
"$BUILD/skipserve" --host 127.0.0.1 --port 0 --models "$MODELS" --threads "$THREADS" \
    >"$TMP/server.out" 2>"$TMP/server.err" &
SPID=$!
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/server.err" | head -1)
    [ -n "$PORT" ] && break
    sleep 0.1
done
[ -n "$PORT" ] || { echo "serve-load: the server did not start:" >&2; cat "$TMP/server.err" >&2; exit 1; }
for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "127.0.0.1:$PORT/readyz")" = 200 ] && break
    sleep 0.1
done
curl -s "127.0.0.1:$PORT/models" >"$TMP/models.json"

# batch_sum MODEL -> "sum count" of skipserve_batch_size for that model
batch_sum() {
    curl -s "127.0.0.1:$PORT/metrics" | $PY -c '
import sys
m = sys.argv[1]; s = c = 0.0
for line in sys.stdin:
    if line.startswith("skipserve_batch_size_sum{") and "model=\"%s\"" % m in line: s = float(line.split()[-1])
    if line.startswith("skipserve_batch_size_count{") and "model=\"%s\"" % m in line: c = float(line.split()[-1])
print(s, c)' "$1"
}

say "serve-load: $(date -u '+%Y-%m-%d %H:%M UTC'), $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1), $(nproc) CPUs, engine threads $THREADS, $SECONDS_EACH s per row"
say ""
say "| model | clients | server img/s | engine img/s (batch) | ratio | p50 ms | p90 ms | p99 ms | batch ms | p99 / batch | mean batch | non-200 + errors |"
say "|---|---|---|---|---|---|---|---|---|---|---|---|"
$PY -c '
import json, sys
for m in json.load(open(sys.argv[1]))["models"]:
    print(m["name"], m["task"], m["max_batch"])' "$TMP/models.json" >"$TMP/list"
while read -r name task maxb; do
    if [ "$task" = classify ]; then
        img=tests/data/shirt.png; path="/classify?model=$name&top_k=1"
    else
        img=tests/data/scene.png; path="/segment?model=$name&format=indices"
    fi
    [ -f "$img" ] || { echo "serve-load: $img missing" >&2; exit 1; }
    B=$maxc
    [ "$B" -gt "$maxb" ] && B=$maxb
    ej=$("$BUILD/skipserve-bench" "$MODELS/$name/model.onnx" --batch "$B" --threads "$THREADS" --runs 10 --json 2>/dev/null | tail -1)
    bms=$(field "$ej" median_ms)
    eips=$(calc "round($B * 1000 / $bms, 1)")
    for c in $CLIENTS; do
        set -- $(batch_sum "$name")
        s0=$1 n0=$2
        lj=$("$BUILD/skipserve-load" --port "$PORT" --path "$path" --file "$img" --clients "$c" \
            --seconds "$SECONDS_EACH" --json || true)
        set -- $(batch_sum "$name")
        mb=$(calc "round(($1 - $s0) / max($2 - $n0, 1), 2)")
        ips=$(field "$lj" images_per_s)
        p99=$(field "$lj" p99_ms)
        bad=$(calc "$(field "$lj" status_4xx) + $(field "$lj" status_5xx) + $(field "$lj" errors)")
        say "| $name | $c | $ips | $eips ($B) | $(calc "round($ips / $eips, 2)") | $(field "$lj" p50_ms) | $(field "$lj" p90_ms) | $p99 | $bms | $(calc "round($p99 / $bms, 2)") | $mb | $bad |"
    done
done <"$TMP/list"
