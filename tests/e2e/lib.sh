# lib.sh — the helpers every e2e suite shares (sourced, bash):
#   SUITE=name; . tests/e2e/lib.sh
# Sets BUILD, BIN, E2E, PY, TMP (removed at exit), PASS/FAIL counters, and
# t / e / header / ctype_is / start / stop_ok / metric / wait_metric. A suite
# ends with `finish`, which prints "N passed, N failed" and sets the status.
BUILD=${BUILD:-build}
BIN=$BUILD/skipserve
E2E=tests/e2e
PY=/usr/bin/python3
PASS=0
FAIL=0
PIDS=()

TMP=$(mktemp -d "${TMPDIR:-/tmp}/skipserve-${SUITE:-e2e}.XXXXXX")
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
ko() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }
jc() { $PY $E2E/jcheck.py "$@"; }

# t NAME STATUS PYEXPR CURL-ARGS... : request, then check status and (if not
# empty) a Python expression over the body (j = JSON, raw = bytes).
# Leaves the body in $TMP/body and headers in $TMP/hdr.
t() {
    local name=$1 want=$2 expr=$3
    shift 3
    local code
    code=$(curl -s --max-time 30 -o "$TMP/body" -D "$TMP/hdr" -w '%{http_code}' "$@")
    if [ "$code" != "$want" ]; then
        ko "$name (status $code, want $want)"
        head -c 300 "$TMP/body" | sed 's/^/    /'
        echo
        return 1
    fi
    if [ -n "$expr" ] && ! jc "$TMP/body" "$expr"; then
        ko "$name"
        return 1
    fi
    ok "$name"
}

# e NAME STATUS CODE CURL-ARGS... : an error answer per API.md.
e() {
    local name=$1 want=$2 ecode=$3
    shift 3
    t "$name" "$want" "j['error']['code'] == '$ecode' and len(j['error']['message']) > 0" "$@" &&
        ctype_is application/json "$name: JSON content type"
}

header() { grep -i "^$1:" "$TMP/hdr" | head -1 | cut -d: -f2- | tr -d ' \r'; }
ctype_is() {
    case "$(header Content-Type)" in
    "$1"*) ok "$2" ;;
    *) ko "$2 (Content-Type $(header Content-Type))" ;;
    esac
}

# start NAME ARGS... : start the server, wait until ready; sets PORT and PID.
start() {
    local name=$1
    shift
    "$BIN" --host 127.0.0.1 --port 0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!
    PIDS+=("$PID")
    PORT=
    for _ in $(seq 100); do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$TMP/$name.err" | head -1)
        [ -n "$PORT" ] && break
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$PORT" ]; then
        echo "e2e: server $name did not start:"
        sed 's/^/    /' "$TMP/$name.err"
        return 1
    fi
    for _ in $(seq 1200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "127.0.0.1:$PORT/readyz")" = 200 ] && return 0
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "e2e: server $name never became ready:"
    sed 's/^/    /' "$TMP/$name.err"
    return 1
}

# stop_ok NAME PID : SIGTERM, then the process must exit 0 within 30 s.
stop_ok() {
    local name=$1 pid=$2
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        ko "$name: exits after SIGTERM"
        kill -9 "$pid"
        return
    fi
    wait "$pid"
    local st=$?
    if [ $st = 0 ]; then ok "$name: exit status 0 after SIGTERM"; else
        ko "$name: exit status $st after SIGTERM"
        tail -20 "$TMP/$name.err" | sed 's/^/    /'
    fi
}

metric() { # metric PORT 'name{labels}' -> value (0 when absent)
    curl -s --max-time 10 "127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k {v = $2} END {print v + 0}'
}

buffered() { metric "$PORT" skipserve_buffered_bytes; } # bytes held against --max-buffered
wait_buffered_zero() { # until every reservation is given back (10 s)
    for _ in $(seq 200); do
        [ "$(buffered)" = 0 ] && return 0
        sleep 0.05
    done
    return 1
}

wait_metric() { # wait_metric PORT 'series' VALUE : until series >= VALUE (10 s)
    for _ in $(seq 200); do
        [ "$(metric "$1" "$2")" -ge "$3" ] 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

finish() {
    echo "$PASS passed, $FAIL failed"
    [ "$FAIL" = 0 ]
}
