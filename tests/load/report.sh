#!/bin/sh
# report.sh — `make load`: a short standard load scenario against a freshly
# started server, written as a markdown report (default build/load-report.md).
#   BUILD=build sh tests/load/report.sh [OUT.md]
# Measures the engine alone first (skipserve-bench at each model's max_batch,
# capped at 16), then starts build/skipserve on a free 127.0.0.1 port with
# models/ and, for each task, runs the curl script (classify.sh / segment.sh,
# closed loop at C=8 and C=16) and wrk with post_image.lua for 5 s at 16
# connections, so a row reads "the server reaches X% of what the engine alone does".
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

# The engine alone first, before the server exists: an idle server's engine
# threads still spin for a while after warm-up and would share the 2 cores.
# Model per task from model.json (the first folder of each task, by name).
model_of() { # model_of TASK -> "name max_batch"
    /usr/bin/python3 -c 'import json, sys, glob, os
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "model.json"))):
    j = json.load(open(f))
    if j.get("task") == sys.argv[2]:
        print(os.path.basename(os.path.dirname(f)), j.get("batching", {}).get("max_batch", 8)); break' "$MODELS" "$1"
}
for task in classify segment; do
    set -- $(model_of $task)
    [ $# = 2 ] || continue
    maxb=$2
    [ "$maxb" -gt 16 ] && maxb=16
    # "median 49.128 ms, min 47.504 ms over 10 runs" -> images/s at the median and the best run
    "$BUILD/skipserve-bench" "$MODELS/$1/model.onnx" --batch "$maxb" --threads "$THREADS" --runs 10 2>&1 |
        sed -n 's/.*median \([0-9.]*\) ms, min \([0-9.]*\) ms.*/\1 \2/p' |
        awk -v name="$1" -v b="$maxb" '{ printf "%s %s %.0f %.0f\n", name, b, b / $1 * 1000, b / $2 * 1000 }' \
            >"$TMP/engine.$task"
    echo "load: engine alone, $1 at batch $maxb: $(cut -d' ' -f3 "$TMP/engine.$task") images/s" \
        "(median; best run $(cut -d' ' -f4 "$TMP/engine.$task"))"
done
load0=$(cut -d' ' -f1-3 /proc/loadavg)

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

failed=0
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
isa=$(grep -q avx512f /proc/cpuinfo && echo AVX-512 || echo AVX2)
{
    echo "# skipserve load report"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu, $isa), --threads $THREADS;"
    echo "load generator and server share the machine (load average before the server: $load0;"
    echo "other users of the machine count too). Commands: tests/load/classify.sh,"
    echo "segment.sh (curl --parallel), wrk -s tests/load/post_image.lua."
    echo
    echo "| task | model | client | requests | conc. | req/s | p50 ms | p90 ms | p99 ms | max ms | failed | engine alone img/s, median / best | server / engine median |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT"

for task in classify segment; do
    [ -f "$TMP/engine.$task" ] || continue
    read -r name maxb eng best <"$TMP/engine.$task"
    if [ $task = classify ]; then img=tests/data/shirt.png n=2000; else img=tests/data/scene.png n=300; fi
    row() { # row CLIENT N C SUMMARY-FILE
        awk -v task=$task -v name="$name" -v client="$1" -v n="$2" -v c="$3" -v eng="$eng" -v best="$best" -v b="$maxb" '
            /^throughput/ { rps = $2 }
            /^latency/ { p50 = $4; p90 = $6; p99 = $8; mx = $10 }
            /^failed/ { f = $2 }
            /requests in/ { n = $1 }
            END { printf "| %s | %s | %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s / %s (batch %s) | %.2f |\n",
                  task, name, client, n, c, rps, p50, p90, p99, mx, f, eng, best, b, rps / eng }' "$4" >>"$OUT"
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
    echo "Engine alone: skipserve-bench at the batch shown, 10 runs before the server starts;"
    echo "images/s = batch / run time, at the median run and the best one (the run least"
    echo "disturbed by other users of the machine: the two far apart mean a busy machine)."
    echo "The server also decodes, preprocesses and encodes, on the same cores"
    echo "as the load generator: server / engine is what is left of the engine's throughput"
    echo "once HTTP, PNG and the client share the CPUs."
} >>"$OUT"
echo "load: report in $OUT"
cat "$OUT"
[ $failed = 0 ] || { echo "load: some requests failed" >&2; exit 1; }
