#!/bin/sh
# soak.sh — `make soak` (not CI): a long run of mixed traffic against one
# freshly started server, to see memory, latency and errors over time.
#   BUILD=build sh tests/load/soak.sh [OUT.md]     (default build/soak-report.md)
# SOAK_SECONDS (600) in rounds of SOAK_ROUND (30) seconds; each round runs the
# curl scripts side by side at 32 in flight together: classify 24, segment 6,
# and 2 sending bad requests, about 5% of all (their count is set from the
# previous round's good answers). The bad kinds rotate by round: bytes that
# are no image (400 bad_image), a truncated PNG (400), an unknown model (404).
# After each round: the server's RSS, open fds and held bytes
# (skipserve_buffered_bytes), p99 per task, and the machine's load average
# (other users of a shared machine show there). Fails when a good request failed,
# a bad one got anything but its 4xx, the server died, its held bytes did not
# return to 0, or RSS grew more than 25% from the first round to the last.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
OUT=${1:-$BUILD/soak-report.md}
SECS=${SOAK_SECONDS:-600}
ROUND=${SOAK_ROUND:-30}
MODELS=${SOAK_MODELS:-models}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/skipserve-soak.XXXXXX")
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

model_of() { # model_of TASK -> the first model folder of that task
    /usr/bin/python3 -c 'import json, sys, glob, os
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*", "model.json"))):
    if json.load(open(f)).get("task") == sys.argv[2]:
        print(os.path.basename(os.path.dirname(f))); break' "$MODELS" "$1"
}
CLS=$(model_of classify)
SEG=$(model_of segment)
[ -n "$CLS" ] && [ -n "$SEG" ] || { echo "soak: needs a classify and a segment model in $MODELS" >&2; exit 1; }

"$BUILD/skipserve" --host 127.0.0.1 --port 0 --models "$MODELS" >/dev/null 2>"$TMP/server.err" &
SPID=$!
PORT=
for _ in $(seq 300); do
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/server.err" | head -1)
    [ -n "$PORT" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$PORT/readyz")" = 200 ] && break
    kill -0 "$SPID" 2>/dev/null || { cat "$TMP/server.err" >&2; exit 1; }
    sleep 0.1
done
URL=http://127.0.0.1:$PORT
head -c 2000 /dev/urandom >"$TMP/noise.bin"
head -c 300 tests/data/shirt.png >"$TMP/truncated.png"

rss() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$SPID/status"; }
fds() { ls "/proc/$SPID/fd" | wc -l; }
held() { curl -s --max-time 5 "$URL/metrics" | awk '$1 == "skipserve_buffered_bytes" { print $2 + 0 }'; }
field() { awk -v k="$1" -v n="$2" '$1 == k { print $n }' "$3"; }

rounds=$(((SECS + ROUND - 1) / ROUND))
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
    echo "# skipserve soak"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu), server with default flags,"
    echo "$rounds rounds of $ROUND s: classify ($CLS) at 24 in flight, segment ($SEG) at 6, 2 sending"
    echo "bad requests (~5%); load generator and server on the same machine."
    echo
    echo "| round | end s | load avg 1 min | RSS MiB | fds | classify n | p99 ms | segment n | p99 ms | bad n (kind: statuses) | failed |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
} >"$OUT"

echo "soak: $URL, $rounds rounds of $ROUND s, RSS at start $(rss) MiB"
rss0=
nbad=50
failed_total=0
t0=$(date +%s)
r=1
while [ $r -le $rounds ]; do
    case $((r % 3)) in
    1) bimg=$TMP/noise.bin bq="model=$CLS" want=400 kind=noise ;;
    2) bimg=$TMP/truncated.png bq="model=$CLS" want=400 kind=truncated ;;
    0) bimg=tests/data/shirt.png bq="model=no-such-model" want=404 kind=unknown-model ;;
    esac
    sh tests/load/classify.sh -u "$URL" -n $((ROUND * 2000)) -c 24 -t "$ROUND" -q "model=$CLS" >"$TMP/c" 2>&1 &
    p1=$!
    sh tests/load/segment.sh -u "$URL" -n $((ROUND * 500)) -c 6 -t "$ROUND" -q "model=$SEG" >"$TMP/s" 2>&1 &
    p2=$!
    sh tests/load/curl_load.sh /classify -u "$URL" -i "$bimg" -n "$nbad" -c 2 -t "$ROUND" -q "$bq" \
        -o "$TMP/b.raw" >"$TMP/b" 2>&1 &
    p3=$!
    wait $p1 || true
    wait $p2 || true
    wait $p3 || true
    kill -0 "$SPID" 2>/dev/null || { echo "soak: the server died in round $r" >&2; tail -5 "$TMP/server.err" >&2; exit 1; }
    m=$(rss)
    [ -n "$rss0" ] || rss0=$m
    cn=$(field requests 2 "$TMP/c")
    sn=$(field requests 2 "$TMP/s")
    # no summary line: nothing answered in the round, which counts as a failure
    cf=$(field failed 2 "$TMP/c")
    cf=${cf:-1}
    sf=$(field failed 2 "$TMP/s")
    sf=${sf:-1}
    bn=$(wc -l <"$TMP/b.raw")
    # a bad request fails the soak unless it got exactly its 4xx
    bf=$(awk -v w=$want '$1 != w' "$TMP/b.raw" | wc -l)
    bs=$(awk '{ n[$1]++ } END { for (s in n) printf "%s%s:%d", sep, s, n[s]; sep = " " }' "$TMP/b.raw")
    f=$((cf + sf + bf))
    failed_total=$((failed_total + f))
    printf '| %d | %d | %s | %d | %d | %d | %s | %d | %s | %d (%s: %s) | %d |\n' $r $(($(date +%s) - t0)) \
        "$(cut -d' ' -f1 /proc/loadavg)" "$m" "$(fds)" \
        "$cn" "$(field latency 8 "$TMP/c")" "$sn" "$(field latency 8 "$TMP/s")" "$bn" $kind "$bs" $f >>"$OUT"
    tail -1 "$OUT"
    nbad=$(((cn + sn) * 5 / 95))
    [ $nbad -ge 1 ] || nbad=1
    r=$((r + 1))
done

sleep 1
h=$(held)
m=$(rss)
{
    echo
    echo "RSS $rss0 MiB after round 1, $m MiB at the end; held bytes after the load: $h;"
    echo "failed requests (good ones not 200, bad ones not their 4xx): $failed_total."
} >>"$OUT"
echo "soak: report in $OUT"
status=0
[ "$failed_total" = 0 ] || { echo "soak: $failed_total requests failed" >&2; status=1; }
[ "$h" = 0 ] || { echo "soak: $h bytes still held after the load" >&2; status=1; }
[ "$m" -le $((rss0 * 125 / 100)) ] || { echo "soak: RSS grew from $rss0 to $m MiB" >&2; status=1; }
kill -TERM "$SPID"
wait "$SPID" || { echo "soak: the server did not stop cleanly" >&2; status=1; }
SPID=
exit $status
