#!/bin/bash
# suite_hostile.sh — hostile connections while well-behaved clients work:
# 2,000 idle keep-alive connections, slowloris headers and bodies (a byte
# every half second), clients that never read their (multi-megabyte)
# answers. Asserts that every good request succeeds, the idle connections
# stay usable, the server keeps serving and gives back every byte it held
# once the hostile clients leave; prints the good clients' throughput with
# the hostile ones beside it as a ratio of their throughput alone (recorded
# in bench/RESULTS.md — a figure, not a pass mark, on a shared 2-core box).
#   BUILD=build bash tests/e2e/suite_hostile.sh   (make test-e2e runs it)
set -u
SUITE=hostile
. tests/e2e/lib.sh
[ -x "$BIN" ] && [ -x "$BUILD/skipserve-load" ] ||
    { echo "hostile: $BIN or skipserve-load not built"; echo "0 passed, 1 failed"; exit 1; }
MODELS=${E2E_MODELS:-models}
ls "$MODELS"/*/model.onnx >/dev/null 2>&1 || MODELS=$BUILD/e2e-models
IDLE=${HOSTILE_IDLE:-2000}
SLOW=${HOSTILE_SLOW:-200}
NOREAD=${HOSTILE_NOREAD:-8}
SECS=${HOSTILE_SECONDS:-5}

# the hostile client needs a descriptor per connection (the server raises
# its own limit to fit --max-connections)
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE + 2 * SLOW + NOREAD + 64)) ]; then
    IDLE=$(($(ulimit -n) - 2 * SLOW - NOREAD - 64))
    echo "hostile: descriptor limit $(ulimit -n): $IDLE idle connections"
fi
$PY -c "
import numpy, sys
from PIL import Image
numpy.random.seed(7)
Image.fromarray(numpy.random.randint(0, 256, (1000, 1000), dtype=numpy.uint8)).save(sys.argv[1])
" "$TMP/big.png" || { ko "cannot make the big image"; finish; exit 1; }

start H --models "$MODELS" || { finish; exit 1; }
HPID=$PID
rss() { awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$HPID/status"; }
rss0=$(rss)
good() { "$BUILD/skipserve-load" --port "$PORT" --path /classify --file tests/data/shirt.png \
    --clients 4 --seconds "$SECS" --json; }
alone=$(good)
[ $? = 0 ] && ok "good clients alone: all 200" || ko "good clients alone: $alone"

FLAG=$TMP/hostile.ready
$PY $E2E/hostile.py "$PORT" "$FLAG" $((SECS + 4)) "$IDLE" "$SLOW" "$SLOW" "$NOREAD" "$TMP/big.png" \
    >"$TMP/hostile.json" 2>"$TMP/hostile.err" &
HOST=$!
for _ in $(seq 600); do [ -e "$FLAG" ] || ! kill -0 $HOST 2>/dev/null && break; sleep 0.1; done
[ -e "$FLAG" ] && ok "hostile clients connected" || ko "hostile clients: $(cat "$TMP/hostile.err")"
sleep 2 # the never-read answers are produced and stuck by now
rss1=$(rss)
with=$(good)
[ $? = 0 ] && ok "good clients beside the hostile ones: all 200" || ko "good clients beside hostile: $with"
t "healthz while under attack" 200 "" "127.0.0.1:$PORT/healthz"
wait $HOST
cat "$TMP/hostile.err"
h=$(cat "$TMP/hostile.json")
echo "hostile: $h"
jc "$TMP/hostile.json" "j['idle_opened'] == $IDLE and j['idle_refused'] == 0" &&
    ok "$IDLE idle keep-alive connections accepted" || ko "idle connections accepted: $h"
jc "$TMP/hostile.json" "j['idle_alive_after'] == j['idle_opened']" &&
    ok "every idle connection still answers after $((SECS + 6)) s" || ko "idle connections dropped: $h"
jc "$TMP/hostile.json" "j['slow_headers'] == $SLOW and j['slow_bodies'] == $SLOW and j['no_read'] == $NOREAD" &&
    ok "slowloris and never-reading clients opened" || ko "hostile opened: $h"
t "healthz after the attack" 200 "" "127.0.0.1:$PORT/healthz"
t "classify after the attack" 200 "j['predictions'][0][0]['label'] == 'Shirt'" \
    --data-binary @tests/data/shirt.png "127.0.0.1:$PORT/classify"
# the hostile connections are gone: nothing stays held or in flight
wait_buffered_zero && ok "memory budget back to zero" || ko "still held: $(buffered) bytes"
for _ in $(seq 100); do
    [ "$(metric "$PORT" skipserve_inflight_requests)" -le 1 ] && break
    sleep 0.1
done
[ "$(metric "$PORT" skipserve_inflight_requests)" -le 1 ] && ok "no request left in flight" ||
    ko "in flight: $(metric "$PORT" skipserve_inflight_requests)"
$PY - "$alone" "$with" "$rss0" "$rss1" "$IDLE" "$SLOW" "$NOREAD" <<'PYEOF'
import json, sys
a, w = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"hostile: good clients (4, /classify) alone {a['images_per_s']:.0f} img/s p99 {a['p99_ms']:.1f} ms;"
      f" beside {sys.argv[5]} idle + {sys.argv[6]}+{sys.argv[6]} slowloris + {sys.argv[7]} never-reading:"
      f" {w['images_per_s']:.0f} img/s p99 {w['p99_ms']:.1f} ms; ratio {w['images_per_s'] / a['images_per_s']:.2f};"
      f" server RSS {sys.argv[3]} -> {sys.argv[4]} MiB")
PYEOF
stop_ok H "$HPID"
finish
