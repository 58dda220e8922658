#!/bin/sh
# scale.sh — `make test-scale`: three skipserve replicas behind Debian's nginx,
# all on loopback, under steady load from tests/load/classify.sh and segment.sh:
#   1. SIGTERM one replica: it drains and exits 0, and ZERO client requests
#      fail (nginx retries its 503s and refused connects on the others);
#   2. SIGKILL one: the failures are counted and printed; at most the
#      requests in flight on it may fail (bound: the client concurrency);
#   3. start the killed one again under load: it rejoins (its own /metrics
#      count 200s) and no request fails.
# nginx runs from its own prefix in a temporary folder (not the system
# service) with docker/nginx.conf itself, only the addresses swapped (see
# gen_conf). Every step is bounded in time; ends with "N passed, N failed".
#   BUILD=build sh tests/load/scale.sh        (SCALE_C classify concurrency,
#   default 8; SCALE_SEG_C segment concurrency, default 4;
#   SCALE_NGINX_CONF another nginx.conf of the same shape, for experiments)
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BIN=$BUILD/skipserve
NGINX=${NGINX:-/usr/sbin/nginx}
PY=/usr/bin/python3
C=${SCALE_C:-8}
SEG_C=${SCALE_SEG_C:-4}
CONF=${SCALE_NGINX_CONF:-docker/nginx.conf}
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
ko() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" = 0 ]; exit $?; }

for b in "$BIN" "$NGINX"; do
    [ -x "$b" ] || { ko "$b is missing (make all; make test-scale installs Debian's nginx)"; finish; }
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/skipserve-scale.XXXXXX")
declare -a RPID=() RPORT=()
NPID=
cleanup() {
    for p in "${RPID[@]}"; do [ -n "$p" ] && { kill -9 "$p"; wait "$p"; } 2>/dev/null; done
    [ -n "$NPID" ] && kill -QUIT "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
# nginx's workers run as nobody and must reach their temp folders in here.
chmod 755 "$TMP"

# --- models: the first classify and (if any) segment model of models/ ----------
model_of() {
    $PY -c 'import json, glob, os, sys
for f in sorted(glob.glob("models/*/model.json")):
    if json.load(open(f)).get("task") == sys.argv[1]:
        print(os.path.basename(os.path.dirname(f))); break' "$1"
}
CLS=$(model_of classify)
SEG=$(model_of segment)
[ -n "$CLS" ] || { ko "no classify model in models/"; finish; }
mkdir -p "$TMP/models"
for m in $CLS $SEG; do ln -s "$PWD/models/$m" "$TMP/models/$m"; done

# --- ports: three replicas and nginx -------------------------------------------------
read -r -a PORTS <<<"$($PY -c 'import socket
ss = [socket.socket() for _ in range(4)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')"
RPORT=("${PORTS[@]:0:3}")
NPORT=${PORTS[3]}

# start_replica I: a replica on its fixed port (so nginx finds it again after a
# restart). One engine and one prep thread each: three share 2 CPUs here.
start_replica() {
    "$BIN" --host 127.0.0.1 --port "${RPORT[$1]}" --models "$TMP/models" --threads 1 \
        --prep-threads 1 --http-threads 2 --drain-timeout 10s \
        >>"$TMP/r$1.out" 2>>"$TMP/r$1.err" &
    RPID[$1]=$!
}
wait_ready() { # wait_ready I: /readyz 200 within 30 s
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "127.0.0.1:${RPORT[$1]}/readyz")" = 200 ] &&
            return 0
        kill -0 "${RPID[$1]}" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
served() { # served I: classify requests replica I answered 200 since it started
    curl -s --max-time 5 "127.0.0.1:${RPORT[$1]}/metrics" |
        awk '/^skipserve_requests_total\{/ && /endpoint="classify"/ && /code="200"/ { n += $2 }
             END { print n + 0 }'
}

for i in 0 1 2; do start_replica $i; done
for i in 0 1 2; do
    wait_ready $i || { sed 's/^/    /' "$TMP/r$i.err"; ko "replica $i ready"; finish; }
done
ok "3 replicas ready on 127.0.0.1:${RPORT[0]},${RPORT[1]},${RPORT[2]} (models $CLS $SEG)"

# --- nginx: docker/nginx.conf with loopback addresses --------------------------------
# The only changes: the example's replica lines become the three loopback
# replicas (keeping their max_fails/fail_timeout), `listen 80` a loopback
# port, the probes' allowed network 127.0.0.1.
gen_conf() {
    awk -v p0="${RPORT[0]}" -v p1="${RPORT[1]}" -v p2="${RPORT[2]}" -v np="$NPORT" '
    /^[ \t]*server 10\.0\.0\.[0-9]+:8080/ {
        if (done++) next
        split(p0 " " p1 " " p2, ps, " ")
        for (k = 1; k <= 3; k++) { l = $0; sub(/10\.0\.0\.[0-9]+:8080/, "127.0.0.1:" ps[k], l); print l }
        next
    }
    /^[ \t]*listen 80;/ { sub(/listen 80;/, "listen 127.0.0.1:" np ";") }
    /^[ \t]*allow 10\.0\.0\.0\/8;/ { sub(/10\.0\.0\.0\/8/, "127.0.0.1") }
    { print }' "$CONF"
}
N=$TMP/nginx
mkdir -p "$N/logs"
gen_conf >"$N/skipserve.conf"
cat >"$N/nginx.conf" <<EOF
# test wrapper: its own prefix, pid, logs and temp folders; the http{} part
# is docker/nginx.conf (generated into skipserve.conf)
daemon off;
worker_processes 1;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
events { worker_connections 1024; }
http {
    log_format scale '\$status \$upstream_addr \$upstream_status';
    access_log $N/logs/access.log scale;
    log_format ids '\$skipserve_request_id \$upstream_http_x_request_id';
    access_log $N/logs/ids.log ids;
    client_body_temp_path $N/body;
    proxy_temp_path $N/proxy;
    fastcgi_temp_path $N/fastcgi;
    uwsgi_temp_path $N/uwsgi;
    scgi_temp_path $N/scgi;
    include $N/skipserve.conf;
}
EOF
changed=$(diff "$CONF" "$N/skipserve.conf" | grep -c '^>')
if [ "$(grep -c "server 127.0.0.1:" "$N/skipserve.conf")" = 3 ] && [ "$changed" = 5 ] &&
    "$NGINX" -p "$N" -c "$N/nginx.conf" -t >"$N/t.log" 2>&1; then
    ok "nginx -t: $CONF with 5 lines changed (3 replicas, listen, allow)"
else
    sed 's/^/    /' "$N/t.log"
    diff "$CONF" "$N/skipserve.conf" | sed 's/^/    /'
    ko "nginx config from $CONF ($changed lines changed)"
    finish
fi
"$NGINX" -p "$N" -c "$N/nginx.conf" 2>>"$N/logs/error.log" &
NPID=$!
up=
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "127.0.0.1:$NPORT/readyz")" = 200 ] &&
        { up=1; break; }
    sleep 0.1
done
[ -n "$up" ] && ok "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$NPORT, /readyz through it" ||
    { tail -5 "$N/logs/error.log"; ko "nginx up"; finish; }

# --- load ---------------------------------------------------------------------------
URL=http://127.0.0.1:$NPORT
LPIDS=
# load_start NAME SECONDS: in the background through nginx, classify.sh at
# concurrency C and, with a segment model, segment.sh at SEG_C: segmentations
# take ~100x longer, so a replica stopped under load has real work in flight.
load_start() {
    LOG0=$(wc -l <"$N/logs/access.log")
    sh tests/load/classify.sh -u "$URL" -n 50000 -c "$C" -t "$2" -q "model=$CLS" \
        >"$TMP/$1.sum" 2>&1 &
    LPIDS=$!
    : >"$TMP/$1.seg"
    if [ -n "$SEG" ]; then
        sh tests/load/segment.sh -u "$URL" -n 5000 -c "$SEG_C" -t "$2" -q "model=$SEG" \
            >"$TMP/$1.seg" 2>&1 &
        LPIDS="$LPIDS $!"
    fi
}
load_wait() { # load_wait NAME: wait; print the summaries; sets FAILED, ANSWERED, RETRIED
    for p in $LPIDS; do wait "$p"; done
    sed 's/^/    classify: /' "$TMP/$1.sum"
    sed 's/^/    segment:  /' "$TMP/$1.seg"
    # a run with no summary (nothing answered) counts as one failure
    FAILED=$(cat "$TMP/$1.sum" "$TMP/$1.seg" | awk '/^failed/ { f += $2; n++ } END { print f + (n < 1 + (s != "")) }' s="$SEG")
    ANSWERED=$(cat "$TMP/$1.sum" "$TMP/$1.seg" | awk '/^requests/ { n += $2 } END { print n + 0 }')
    # nginx lists every replica it tried: "a:p, b:p" is a retried request
    tail -n +"$((LOG0 + 1))" "$N/logs/access.log" >"$TMP/$1.access"
    RETRIED=$(grep -c ',' "$TMP/$1.access")
    echo "    nginx: $RETRIED of $(wc -l <"$TMP/$1.access") requests retried on another replica;" \
        "upstream answers:$(awk '{ for (k = 2; k <= NF; k++) if ($k !~ /:/) { s = $k; sub(/,/, "", s); n[s]++ } }
            END { for (s in n) printf " %s:%d", s, n[s] }' "$TMP/$1.access")"
}
to_replica() { # to_replica NAME I: requests of a phase that replica I answered 200
    # a line is "status addr, addr status, status": the k-th address answered the k-th status
    awk -v a="127.0.0.1:${RPORT[$2]}" '{
        for (k = 2; k <= NF; k++) if ($k ~ /^[0-9.]+:[0-9]+,?$/) { s = $k; sub(/,/, "", s); addr[++m] = s }
        for (k = 1; k <= m; k++) if (addr[k] == a && $(NF - m + k) ~ /^200/) n++
        m = 0
    } END { print n + 0 }' "$TMP/$1.access"
}

# Request ids through nginx: the client's kept, else nginx's own, and the
# replica answers with the id nginx logged.
rid() { curl -s -o /dev/null -D - --max-time 10 "$@" --data-binary @tests/data/shirt.png \
    "$URL/classify?model=$CLS" | tr -d '\r' | awk 'tolower($1) == "x-request-id:" { print $2 }'; }
id1=$(rid -H 'X-Request-Id: scale-check-1')
id2=$(rid)
[ "$id1" = scale-check-1 ] && echo "$id2" | grep -Eq '^[0-9a-f]{32}$' &&
    grep -q "^$id2 $id2\$" "$N/logs/ids.log" &&
    ok "X-Request-Id through nginx: the client's kept, else nginx's (\$request_id $id2) reaches the replica" ||
    ko "X-Request-Id through nginx: got '$id1' and '$id2'"

# The zero-failure assertions below mean something only if the load scripts
# count failures: 6 requests for a model no replica has must all count.
sh tests/load/classify.sh -u "$URL" -n 6 -c 2 -t 20 -q model=no-such-model >"$TMP/neg.sum" 2>&1
st=$?
[ $st = 1 ] && grep -q '^failed *6$' "$TMP/neg.sum" && grep -q ' 404:6' "$TMP/neg.sum" &&
    ok "classify.sh counts failures: 6 of 6 for an unknown model (404), exit 1" ||
    { sed 's/^/    /' "$TMP/neg.sum"; ko "classify.sh on an unknown model: exit $st"; }

echo "scale: warm-up, 4 s: classify at concurrency $C${SEG:+, segment at $SEG_C}"
load_start warm 4
load_wait warm
spread=$(for i in 0 1 2; do served $i; done | tr '\n' ' ')
[ "$FAILED" = 0 ] && ! echo " $spread" | grep -q ' 0 ' &&
    ok "warm-up: $ANSWERED requests, 0 failed, every replica served (200s: $spread)" ||
    ko "warm-up: failed $FAILED, 200s per replica: $spread"

# --- 1. SIGTERM: drains, zero failed ---------------------------------------------------
echo "scale: SIGTERM replica 0 after 3 s of a 12 s load"
load_start term 12
sleep 3
before=$(served 0)
t0=$(date +%s.%N)
kill -TERM "${RPID[0]}"
# its drain is bounded by --drain-timeout 10s (+2 s for answers); past 20 s
# it hangs: SIGKILL it and fail rather than wait forever
for _ in $(seq 200); do kill -0 "${RPID[0]}" 2>/dev/null || break; sleep 0.1; done
kill -9 "${RPID[0]}" 2>/dev/null
wait "${RPID[0]}"
st=$?
t1=$(date +%s.%N)
RPID[0]=
load_wait term
[ "$st" = 0 ] && ok "SIGTERM: replica 0 drained and exited 0 in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s, having served $before" ||
    ko "SIGTERM: replica 0 exit status $st"
grep -q 'drain' "$TMP/r0.err" || ko "replica 0 logged no drain"
[ "$before" -gt 0 ] || ko "replica 0 served nothing before its SIGTERM"
if [ "$FAILED" = 0 ] && [ "${ANSWERED:-0}" -gt 0 ]; then
    ok "SIGTERM phase: $ANSWERED requests, 0 failed ($RETRIED retried by nginx)"
else
    ko "SIGTERM phase: $FAILED of $ANSWERED requests failed"
fi
SIGTERM_LINE="$ANSWERED requests, $FAILED failed, $RETRIED retried"

# --- 2. SIGKILL: count what fails ------------------------------------------------------
start_replica 0
wait_ready 0 && ok "replica 0 started again" || { ko "replica 0 restart"; finish; }
echo "scale: SIGKILL replica 1 after 3 s of a 12 s load"
load_start kill 12
sleep 3
kill -9 "${RPID[1]}"
wait "${RPID[1]}" 2>/dev/null
RPID[1]=
load_wait kill
INFLIGHT=$((C + ${SEG:+$SEG_C}+0))
if [ "${FAILED:-x}" -le "$INFLIGHT" ] 2>/dev/null; then
    ok "SIGKILL phase: $ANSWERED requests, $FAILED failed (bound: $INFLIGHT in flight), $RETRIED retried by nginx"
else
    ko "SIGKILL phase: $FAILED failed, more than the $INFLIGHT that can be in flight"
fi
SIGKILL_LINE="$ANSWERED requests, $FAILED failed, $RETRIED retried"

# --- 3. rejoin: start the killed replica again under load ------------------------------
echo "scale: replica 1 starts again 1 s into a 14 s load"
load_start rejoin 14
sleep 1
start_replica 1
load_wait rejoin
got=$(served 1)
[ "$got" -gt 0 ] && ok "rejoin: replica 1 answered $got classify requests (its /metrics; $(to_replica rejoin 1) requests of both tasks in nginx's log)" ||
    ko "rejoin: replica 1 served nothing ($(tail -3 "$TMP/r1.err"))"
[ "$(served 0)" -gt 0 ] && ok "replica 0 (restarted after SIGTERM) serves again: $(served 0) requests" ||
    ko "replica 0 serves nothing after its restart"
[ "$FAILED" = 0 ] && ok "rejoin phase: $ANSWERED requests, 0 failed ($RETRIED retried by nginx)" ||
    ko "rejoin phase: $FAILED of $ANSWERED failed"

echo "scale: summary (classify at $C${SEG:+ + segment at $SEG_C} in flight, 3 replicas of 1 engine thread, $(nproc) CPUs):"
echo "    SIGTERM phase: $SIGTERM_LINE"
echo "    SIGKILL phase: $SIGKILL_LINE"
for i in 0 1 2; do [ -n "${RPID[$i]}" ] && kill -TERM "${RPID[$i]}"; done
sleep 0.5 # idle now: they exit at once; cleanup SIGKILLs any that does not
finish
