#!/bin/sh
# k8s_check.sh — `make test-k8s`: docker/k8s.yaml and docker/k8s-hpa-queue.yaml
# checked without a cluster (what each step covers: tests/deploy/README.md):
#   1. kubectl reads every document as a Kubernetes object (annotate --local)
#      and decodes the Deployment into its compiled-in apps/v1 type
#      (set env --local), offline: create --dry-run=client needs an API server;
#   2. k8s_schema.py: every field and type against python3-kubernetes' models;
#   3. k8s_values.py: the values agree (threads/CPU, grace/preStop/drain,
#      ports, labels, HPA/PDB) and the real server accepts the environment and
#      serves the probe and metric paths;
#   4. the checks are not vacuous: planted mistakes must fail them.
# Ends with "N passed, N failed".
#   BUILD=build KUBECTL=kubectl sh tests/deploy/k8s_check.sh
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
KUBECTL=${KUBECTL:-kubectl}
PY=/usr/bin/python3
D=tests/deploy
M=docker/k8s.yaml
V=docker/k8s-hpa-queue.yaml
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
ko() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/skipserve-k8s.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# kubectl must not reach for a real cluster from here, whatever ~/.kube says
export KUBECONFIG=$TMP/none

# --- 1. kubectl, offline -------------------------------------------------------------------
kv=$("$KUBECTL" version --client 2>/dev/null | head -1 | sed 's/.*GitVersion:"\([^"]*\)".*/\1/; s/Client Version: //')
if "$KUBECTL" annotate --local -f $M -f $V skipserve/checked=yes -o name >"$TMP/names" 2>"$TMP/err" &&
    [ "$(sort "$TMP/names" | tr '\n' ' ')" = "deployment.apps/skipserve horizontalpodautoscaler.autoscaling/skipserve horizontalpodautoscaler.autoscaling/skipserve poddisruptionbudget.policy/skipserve service/skipserve " ]; then
    ok "kubectl $kv reads $(wc -l <"$TMP/names") objects: $(tr '\n' ' ' <"$TMP/names")"
else
    cat "$TMP/names" "$TMP/err"
    ko "kubectl annotate --local -f $M -f $V"
fi
$PY -c 'import sys, yaml
d = [x for x in yaml.safe_load_all(open(sys.argv[1])) if x and x["kind"] == "Deployment"]
yaml.safe_dump(d[0], open(sys.argv[2], "w"))' $M "$TMP/dep.yaml"
if "$KUBECTL" set env --local -f "$TMP/dep.yaml" SKIPSERVE_CHECK=1 -o yaml >"$TMP/dep.out" 2>"$TMP/err" &&
    grep -q 'name: SKIPSERVE_CHECK' "$TMP/dep.out"; then
    ok "kubectl decodes the Deployment into apps/v1 (set env --local)"
else
    cat "$TMP/err"
    ko "kubectl set env --local on the Deployment"
fi

# --- 2, 3. schema and values ------------------------------------------------------------------
$PY $D/k8s_schema.py $M $V >"$TMP/schema" 2>&1 && ok "schema: $(grep -c fits "$TMP/schema") documents fit the API types" ||
    { cat "$TMP/schema"; ko "schema"; }
if $PY $D/k8s_values.py "$BUILD/skipserve" models $M $V >"$TMP/values" 2>&1; then
    ok "values: $(grep -c '^ok' "$TMP/values") agreements (tests/deploy/k8s_values.py)"
else
    grep -v '^ok' "$TMP/values"
    ko "values"
fi

# --- 4. planted mistakes must fail ------------------------------------------------------------
plant() { # plant NAME SED-EXPR CHECKER: the checker must fail on the changed manifest
    sed "$2" $M >"$TMP/bad.yaml"
    cp docker/Dockerfile "$TMP/Dockerfile" # k8s_values reads the Dockerfile beside the manifest
    cmp -s $M "$TMP/bad.yaml" && { ko "planted $1: the edit did not apply"; return; }
    case $3 in
    schema) $PY $D/k8s_schema.py "$TMP/bad.yaml" >/dev/null 2>&1 ;;
    values) $PY $D/k8s_values.py "$BUILD/skipserve" models "$TMP/bad.yaml" >/dev/null 2>&1 ;;
    esac && ko "planted $1: $3 check passed it" || ok "planted $1: $3 check fails"
}
plant "misspelt field (averageUtilisation)" 's/averageUtilization/averageUtilisation/' schema
plant "string replica count" 's/replicas: 2/replicas: "2"/' schema
plant "grace below preStop + drain" 's/terminationGracePeriodSeconds: 45/terminationGracePeriodSeconds: 30/' values
plant "threads above the CPU limit" 's/SKIPSERVE_THREADS, value: "4"/SKIPSERVE_THREADS, value: "8"/' values
plant "readiness path the server lacks" 's|path: /readyz|path: /ready|' values
plant "env name skipserve does not read" 's/SKIPSERVE_TIMEOUT_MS/SKIPSERVE_TIMEOUT/' values
# API keys on, /metrics left closed: Prometheus' scrape would get 401
KEYS='            - {name: SKIPSERVE_API_KEYS, value: /etc/skipserve/api-keys}'
plant "API keys with /metrics closed" "/name: SKIPSERVE_MAX_BUFFERED/a\\
$KEYS" values

# --- the documented API-key variant passes (keys on, probes and /metrics open) ------------
sed "/name: SKIPSERVE_MAX_BUFFERED/a\\
$KEYS\\
            - {name: SKIPSERVE_AUTH_OPEN, value: \"/healthz,/readyz,/metrics\"}" $M >"$TMP/keys.yaml"
if grep -q SKIPSERVE_AUTH_OPEN "$TMP/keys.yaml" &&
    $PY $D/k8s_values.py "$BUILD/skipserve" models "$TMP/keys.yaml" >"$TMP/values" 2>&1; then
    ok "the API-key variant in k8s.yaml's comment: $(grep -c '^ok' "$TMP/values") agreements, probes and /metrics answered without a key"
else
    grep -v '^ok' "$TMP/values"
    ko "the API-key variant"
fi

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
