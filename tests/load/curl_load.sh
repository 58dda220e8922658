#!/bin/sh
# curl_load.sh — closed-loop load with curl alone, as users write it.
#   sh tests/load/curl_load.sh PATH [options]      (classify.sh / segment.sh call this)
# Sends N POSTs of one image to URL/PATH with at most C in flight (curl's own
# --parallel: one process, keep-alive connections reused), stops after N
# requests or DURATION seconds, whichever comes first, and prints throughput,
# p50/p90/p99/max latency (curl's time_total) and counts by HTTP status.
# Exit status: 0 when every request answered 2xx, 1 when any failed (non-2xx or
# a transport error, shown as status 000), 2 on a usage error.
#
# Options (each has an environment twin, the flag wins):
#   -u URL       server base URL                  (LOAD_URL, default http://127.0.0.1:8080)
#   -i IMAGE     request body file                (LOAD_IMAGE)
#   -n N         number of requests               (LOAD_N, default 200)
#   -c C         concurrency                      (LOAD_C, default 8)
#   -t SECONDS   duration cap                     (LOAD_DURATION, default 60)
#   -q QUERY     query string, e.g. 'model=x&top_k=1'   (LOAD_QUERY)
#   -o FILE      also keep the raw per-request lines "status seconds" (LOAD_RAW)
# Traffic goes to loopback only (127.0.0.1, localhost, [::1]); to load a
# deployment of your own on another host, set LOAD_ALLOW_REMOTE=1.
set -eu

path=${1:?usage: curl_load.sh PATH [-u URL] [-i IMAGE] [-n N] [-c C] [-t SECONDS] [-q QUERY] [-o FILE]}
shift
url=${LOAD_URL:-http://127.0.0.1:8080}
image=${LOAD_IMAGE:-}
n=${LOAD_N:-200}
c=${LOAD_C:-8}
dur=${LOAD_DURATION:-60}
query=${LOAD_QUERY:-}
raw=${LOAD_RAW:-}
while getopts u:i:n:c:t:q:o: opt; do
    case $opt in
    u) url=$OPTARG ;; i) image=$OPTARG ;; n) n=$OPTARG ;; c) c=$OPTARG ;;
    t) dur=$OPTARG ;; q) query=$OPTARG ;; o) raw=$OPTARG ;;
    *) exit 2 ;;
    esac
done

die() { echo "curl_load: $*" >&2; exit 2; }
[ -n "$image" ] && [ -r "$image" ] || die "no readable image (-i IMAGE)"
case $n$c in *[!0-9]*) die "-n and -c take whole numbers" ;; esac
[ "$n" -ge 1 ] && [ "$c" -ge 1 ] || die "-n and -c must be at least 1"
url=${url%/}
host=$(echo "$url" | sed -E 's#^[a-z]+://##; s#^([^@/]*@)?##; s#^(\[[^]]*\]|[^:/]*).*#\1#')
case $host in
127.0.0.1 | localhost | "[::1]") ;;
*) [ "${LOAD_ALLOW_REMOTE:-0}" = 1 ] || die "refusing to load $host: loopback only (set LOAD_ALLOW_REMOTE=1 for your own host)" ;;
esac
command -v curl >/dev/null || die "curl is not installed"

target="$url$path${query:+?$query}"
case $(head -c 4 "$image" | od -An -tx1 | tr -d ' ') in
89504e47) ctype=image/png ;;
ffd8ff*) ctype=image/jpeg ;;
*) ctype=application/octet-stream ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/curl_load.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# One config line pair per request: curl pairs each url with its output.
awk -v n="$n" -v t="$target" 'BEGIN { for (i = 0; i < n; i++) printf "url = \"%s\"\noutput = \"/dev/null\"\n", t }' \
    >"$tmp/urls"

t0=$(date +%s.%N)
set +e
timeout --signal=INT "$dur" stdbuf -oL curl -s --parallel --parallel-immediate --parallel-max "$c" \
    --max-time "$dur" -H "Content-Type: $ctype" -H 'Expect:' --data-binary @"$image" \
    -w '%{http_code} %{time_total}\n' --config "$tmp/urls" >"$tmp/lines" 2>"$tmp/err"
rc=$?
set -e
t1=$(date +%s.%N)
[ -n "$raw" ] && cp "$tmp/lines" "$raw"

capped=0
[ $rc = 124 ] || [ $rc = 130 ] && capped=1
sort -k2,2g "$tmp/lines" | awk -v n="$n" -v c="$c" -v t0="$t0" -v t1="$t1" -v target="$target" \
    -v capped="$capped" '
# a line cut short by the duration cap (curl killed mid-write) is skipped
!/^[0-9][0-9][0-9] [0-9.]+$/ { next }
{ m++; lat[m] = $2 * 1000; by[$1]++; if ($1 !~ /^2/) bad++ }
function pct(p,  k) { k = int(p / 100 * m + 0.999999); if (k < 1) k = 1; return lat[k] }
END {
    wall = t1 - t0
    printf "target      %s\n", target
    printf "requests    %d of %d answered, concurrency %d, %.2f s%s\n", m, n, c, wall,
        capped ? " (stopped at the duration cap)" : ""
    m += 0
    if (m == 0) { print "no request answered"; exit 1 }
    printf "throughput  %.1f req/s\n", m / wall
    printf "latency ms  p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", pct(50), pct(90), pct(99), lat[m]
    printf "status     "
    for (s in by) printf " %s:%d", s, by[s]
    printf "\n"
    printf "failed      %d\n", bad + 0
    exit (bad > 0 || m < n && !capped) ? 1 : 0
}'
