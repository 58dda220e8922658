#!/bin/bash
# suite_access.sh — request ids (X-Request-Id), API keys (--api-keys,
# Bearer, 401 + WWW-Authenticate, open probe paths) and the TLS listener
# (--tls-cert / --tls-key), against the real binary on loopback.
#   BUILD=build bash tests/e2e/suite_access.sh   (make test-e2e runs it)
set -u
SUITE=access
. tests/e2e/lib.sh
[ -x "$BIN" ] || { echo "access: $BIN not built"; echo "0 passed, 1 failed"; exit 1; }
MODELS=${E2E_MODELS:-models}
ls "$MODELS"/*/model.onnx >/dev/null 2>&1 || MODELS=$BUILD/e2e-models
SHIRT=tests/data/shirt.png

# --- request ids -------------------------------------------------------------
start R --models "$MODELS" --log-format json || { finish; exit 1; }
R=127.0.0.1:$PORT
RPID=$PID
t "classify without an id" 200 "" --data-binary @$SHIRT "$R/classify"
made=$(header X-Request-Id)
[[ "$made" =~ ^[0-9a-f]{32}$ ]] && ok "a made id is 32 hex digits ($made)" || ko "made id: '$made'"
t "classify again" 200 "" --data-binary @$SHIRT "$R/classify"
[ "$(header X-Request-Id)" != "$made" ] && ok "each request gets its own id" || ko "ids repeat"
t "client id kept" 200 "" -H 'X-Request-Id: trace-42.abc_DEF' --data-binary @$SHIRT "$R/classify"
[ "$(header X-Request-Id)" = trace-42.abc_DEF ] && ok "client id echoed in the header" ||
    ko "client id echoed: '$(header X-Request-Id)'"
e "error body carries the id" 404 unknown_model -H 'X-Request-Id: err-id-7' \
    --data-binary @$SHIRT "$R/classify?model=nope"
jc "$TMP/body" "j['error']['request_id'] == 'err-id-7'" && ok "JSON error: request_id == X-Request-Id" ||
    ko "JSON error: request_id"
e "a made id in the error body" 404 not_found "$R/nowhere"
jc "$TMP/body" "j['error']['request_id'] == '$(header X-Request-Id)'" &&
    ok "made id: body and header agree" || ko "made id: body and header disagree"
long=$(printf 'x%.0s' $(seq 129))
t "129-character id" 200 "" -H "X-Request-Id: $long" "$R/healthz"
[[ "$(header X-Request-Id)" =~ ^[0-9a-f]{32}$ ]] && ok "an over-long id is replaced" || ko "over-long id kept"
t "id with a quote" 200 "" -H 'X-Request-Id: a"b' "$R/healthz"
[[ "$(header X-Request-Id)" =~ ^[0-9a-f]{32}$ ]] && ok "an id with a quote is replaced" || ko "quoted id kept"
exact=$(printf 'y%.0s' $(seq 128))
t "128-character id" 200 "" -H "X-Request-Id: $exact" "$R/healthz"
[ "$(header X-Request-Id)" = "$exact" ] && ok "a 128-character id is kept" || ko "128-character id replaced"
sleep 0.3
if $PY -c "
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {l.get('request_id'): l for l in lines}
assert by['trace-42.abc_DEF']['path'] == '/classify' and by['trace-42.abc_DEF']['status'] == 200
assert by['err-id-7']['status'] == 404
assert by['$made']['status'] == 200
assert all(l.get('request_id') for l in lines)
" "$TMP/R.out"; then ok "access log (JSON): every line has its request_id"; else ko "access log request_id"; fi
stop_ok R "$RPID"
start R2 --models "$MODELS" || { finish; exit 1; }
curl -s -o /dev/null -H 'X-Request-Id: text-log-id' "127.0.0.1:$PORT/healthz"
sleep 0.3
grep -q 'GET /healthz .* id=text-log-id$' "$TMP/R2.out" && ok "access log (text): id=<request id>" ||
    ko "text access log lacks id= ($(tail -1 "$TMP/R2.out"))"
stop_ok R2 "$PID"

# --- API keys ------------------------------------------------------------------
KEY1=k1-0123456789abcdefghij
KEY2=k2_ZYXWVUTSRQPONMLKJIHG.~+/
printf '# two keys, one a rotation\n%s\n\n  %s\n' "$KEY1" "$KEY2" >"$TMP/keys"
chmod 600 "$TMP/keys"
start K --models "$MODELS" --api-keys "$TMP/keys" --auth-open /healthz,/readyz,/metrics ||
    { finish; exit 1; }
K=127.0.0.1:$PORT
KPID=$PID
grep -q "access control: 2 API key(s)" "$TMP/K.err" && ok "start-up log: 2 keys" || ko "start-up log"
e "no key: 401" 401 unauthorized --data-binary @$SHIRT "$K/classify"
[ "$(header WWW-Authenticate)" = 'Bearerrealm="skipserve"' ] && ok "WWW-Authenticate: Bearer realm" ||
    ko "WWW-Authenticate: '$(header WWW-Authenticate)'"
e "wrong key: 401" 401 unauthorized -H 'Authorization: Bearer k1-0123456789abcdefghiX' \
    --data-binary @$SHIRT "$K/classify"
header WWW-Authenticate | grep -q 'error="invalid_token"' && ok "wrong key: error=invalid_token" ||
    ko "wrong key: '$(header WWW-Authenticate)'"
e "Basic scheme: 401" 401 unauthorized -u "user:$KEY1" "$K/models"
t "key 1" 200 "j['predictions'][0][0]['label'] == 'Shirt'" -H "Authorization: Bearer $KEY1" \
    --data-binary @$SHIRT "$K/classify"
t "key 2, lower-case scheme" 200 "len(j['models']) >= 1" -H "Authorization: bearer $KEY2" "$K/models"
e "unknown path without a key: 401, not 404" 401 unauthorized "$K/no/such/path"
e "unknown path with a key: 404" 404 not_found -H "Authorization: Bearer $KEY1" "$K/no/such/path"
e "segment without a key" 401 unauthorized --data-binary @tests/data/scene.png "$K/segment"
t "healthz open" 200 "" "$K/healthz"
t "readyz open" 200 "" "$K/readyz"
t "metrics open (--auth-open)" 200 "" "$K/metrics"
grep -q 'skipserve_requests_total{endpoint="classify",model="",code="401"} [1-9]' "$TMP/body" &&
    ok "401s counted in requests_total" || ko "401s not counted"
# a refused upload is read into nothing: the 401 arrives and keep-alive
# survives for the next request on the same connection
out=$(curl -s -o /dev/null -w '%{http_code} %{num_connects}\n' --data-binary @$SHIRT \
    "$K/classify" --next -s -o /dev/null -w '%{http_code} %{num_connects}\n' "$K/healthz")
[ "$out" = "$(printf '401 1\n200 0')" ] && ok "401 on an upload keeps the connection" ||
    ko "401 keep-alive: $(echo $out)"
stop_ok K "$KPID"
start K2 --models "$MODELS" --api-keys "$TMP/keys" || { finish; exit 1; }
e "metrics need a key by default" 401 unauthorized "127.0.0.1:$PORT/metrics"
t "readyz open by default" 200 "" "127.0.0.1:$PORT/readyz"
stop_ok K2 "$PID"
# start-up refusals: a clear line, exit 1, never the key in the message
printf 'abcde\n' >"$TMP/kfile"
chmod 600 "$TMP/kfile"
"$BIN" --port 0 --host 127.0.0.1 --models "$MODELS" --api-keys "$TMP/kfile" >/dev/null 2>"$TMP/short.err"
st=$?
[ $st = 1 ] && grep -q "line 1: a key is 16 to 256 characters" "$TMP/short.err" && ! grep -q abcde "$TMP/short.err" &&
    ok "short key refused at start (exit 1, names the line)" || ko "short key: exit $st: $(cat "$TMP/short.err")"
"$BIN" --port 0 --host 127.0.0.1 --models "$MODELS" --api-keys "$TMP/missing" >/dev/null 2>"$TMP/miss.err"
st=$?
[ $st = 1 ] && grep -q "No such file" "$TMP/miss.err" && ok "missing key file refused at start" ||
    ko "missing key file: exit $st"

# --- TLS -------------------------------------------------------------------------
if command -v openssl >/dev/null; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj /CN=localhost \
        -addext subjectAltName=IP:127.0.0.1 2>/dev/null
    # start() polls plain http: wait on the log line instead
    "$BIN" --host 127.0.0.1 --port 0 --models "$MODELS" --tls-cert "$TMP/cert.pem" \
        --tls-key "$TMP/key.pem" >"$TMP/T.out" 2>"$TMP/T.err" &
    TPID=$!
    PIDS+=("$TPID")
    for _ in $(seq 300); do grep -q ready "$TMP/T.err" && break; sleep 0.1; done
    TP=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\) with TLS.*/\1/p' "$TMP/T.err" | head -1)
    [ -n "$TP" ] && ok "TLS listener up (log says with TLS)" || ko "TLS listener: $(cat "$TMP/T.err")"
    t "https classify, verified against the cert" 200 "j['predictions'][0][0]['label'] == 'Shirt'" \
        --cacert "$TMP/cert.pem" --data-binary @$SHIRT "https://127.0.0.1:$TP/classify"
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$TP/healthz")
    [ "$code" != 200 ] && ok "plain HTTP on the TLS port gets no answer ($code)" || ko "plain HTTP answered 200"
    t "https still serves after the plain-HTTP attempt" 200 "" --cacert "$TMP/cert.pem" \
        "https://127.0.0.1:$TP/readyz"
    stop_ok T "$TPID"
    "$BIN" --port 0 --tls-cert "$TMP/cert.pem" >/dev/null 2>"$TMP/t1.err"
    st=$?
    [ $st = 2 ] && grep -q "go together" "$TMP/t1.err" && ok "--tls-cert alone: exit 2" || ko "--tls-cert alone: exit $st"
    echo "not a key" >"$TMP/bad.pem"
    "$BIN" --port 0 --host 127.0.0.1 --models "$MODELS" --tls-cert "$TMP/cert.pem" \
        --tls-key "$TMP/bad.pem" >/dev/null 2>"$TMP/t2.err"
    st=$?
    [ $st = 1 ] && grep -q "not a PEM file" "$TMP/t2.err" && ok "a non-PEM key: exit 1, clear line" ||
        ko "bad key: exit $st: $(cat "$TMP/t2.err")"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
        -keyout "$TMP/key2.pem" -out "$TMP/cert2.pem" -subj /CN=other 2>/dev/null
    "$BIN" --port 0 --host 127.0.0.1 --models "$MODELS" --tls-cert "$TMP/cert.pem" \
        --tls-key "$TMP/key2.pem" >/dev/null 2>"$TMP/t3.err"
    st=$?
    [ $st = 1 ] && grep -q "cannot listen" "$TMP/t3.err" && ok "a key that does not match the cert: exit 1" ||
        ko "mismatched key: exit $st: $(cat "$TMP/t3.err")"
else
    ko "openssl missing (make deps installs it)"
fi
finish
