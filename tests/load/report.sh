#!/bin/sh
# report.sh — `make load`: a short standard load scenario against a freshly
# started server, written as a markdown report (default build/load-report.md).
#   BUILD=build sh tests/load/report.sh [OUT.md]
# Starts build/skipserve on a free 127.0.0.1 port with models/, then for each
# task: the curl script (classify.sh / segment.sh, closed loop at C=8 and
# C=16), wrk with post_image.lua for 5 s at 16 connections, and the engine
# alone (skipserve-bench at the model's max_batch, capped at 16) beside them,
# so a row reads "the server reaches X% of what the engine alone does".
# Fails (exit 1) when any request of the scenario failed. Everything stops by
# itself: request counts and duration caps bound each step.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
OUT=${1:-$BUILD/load-report.md}
MODELS=${LOAD_MODELS:-models}
THREADS=${LOAD_THREADS:-$(nproc)}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/skipserve-load.XXXXXX")
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM
for b in skipserve skipserve-bench; do
    [ -x "$BUILD/$b" ] || { echo "load: build $BUILD/$b first (make)" >&2; exit 1; }
done
command -v wrk >/dev/null || { echo "load: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

"$BUILD/skipserve" --host 127.0.0.1 --port 0 --models "$MODELS" --threads "$THREADS" \
    >/dev/null 2>"$TMP/server.err" &
SPID=$!
PORT=
for _ in $(seq 300); do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/server.err" | head -1)
    [ -n "$PORT" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$PORT/readyz")" = 200 ] && break
    kill -0 "$SPID" 2>/dev/null || { cat "$TMP/server.err" >&2; exit 1; }
    sleep 0.1
done
URL=http://127.0.0.1:$PORT
curl -s "$URL/models" >"$TMP/models.json"
model_of() { # model_of TASK -> "name max_batch"
    /usr/bin/python3 -c 'import json,sys
m=[x for x in json.load(open(sys.argv[1]))["models"] if x["task"]==sys.argv[2]]
print(m[0]["name"], m[0]["max_batch"]) if m else None' "$TMP/models.json" "$1"
}

failed=0
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=$(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)
{
    echo "# skipserve load report"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu, $isa), --threads $THREADS;"
    echo "load generator and server share the machine. Commands: tests/load/classify.sh,"
    echo "segment.sh (curl --parallel), wrk -s tests/load/post_image.lua."
    echo
    echo "| task | model | client | requests | conc. | req/s | p50 ms | p90 ms | p99 ms | max ms | failed | engine alone img/s | server / engine |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT"

for task in classify segment; do
    set -- $(model_of $task)
    [ $# = 2 ] || continue
    name=$1 maxb=$2
    [ "$maxb" -gt 16 ] && maxb=16
    if [ $task = classify ]; then img=tests/data/shirt.png n=1000; else img=tests/data/scene.png n=150; fi
    mfile=$MODELS/$name/model.onnx
    med=$("$BUILD/skipserve-bench" "$mfile" --batch "$maxb" --threads "$THREADS" --runs 10 2>&1 |
        sed -n 's/.*median \([0-9.]*\) ms.*/\1/p')
    eng=$(awk -v b="$maxb" -v m="$med" 'BEGIN { printf "%.0f", b / m * 1000 }')
    row() { # row CLIENT N C SUMMARY-FILE
        awk -v task=$task -v name="$name" -v client="$1" -v n="$2" -v c="$3" -v eng="$eng" -v b="$maxb" '
            /^throughput/ { rps = $2 }
            /^latency/ { p50 = $4; p90 = $6; p99 = $8; mx = $10 }
            /^failed/ { f = $2 }
            /requests in/ { n = $1 }
            END { printf "| %s | %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s (batch %s) | %.2f |\n",
                  task, name, client, n, c, rps, p50, p90, p99, mx, f, eng, b, rps / eng }' "$4" >>"$OUT"
    }
    for c in 8 16; do
        echo "load: $task $name: curl, $n requests at concurrency $c"
        sh tests/load/$task.sh -u "$URL" -i $img -n $n -c $c -t 120 -q "model=$name" >"$TMP/s" || failed=1
        cat "$TMP/s"
        row curl "$n" "$c" "$TMP/s"
    done
    echo "load: $task $name: wrk, 5 s at 16 connections"
    wrk -t2 -c16 -d5s -s tests/load/post_image.lua "$URL/$task?model=$name" -- "$img" >"$TMP/w"
    cat "$TMP/w"
    grep -q '^failed *0 ' "$TMP/w" || failed=1
    row wrk "-" 16 "$TMP/w"
done

{
    echo
    echo "Engine alone: skipserve-bench at the batch shown (median of 10 runs), images/s ="
    echo "batch / median time. The server decodes, preprocesses and encodes on the same"
    echo "cores as the load generator, so server / engine below 1 is expected on 2 CPUs."
} >>"$OUT"
echo "load: report in $OUT"
cat "$OUT"
[ $failed = 0 ] || { echo "load: some requests failed" >&2; exit 1; }
