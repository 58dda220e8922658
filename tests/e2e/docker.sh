#!/bin/sh
# docker.sh — build the container image and check that it serves:
#   sh tests/e2e/docker.sh            (make test-docker; not part of make test)
# Uses podman (Debian's, as root). With no registry reachable, the
# debian:bookworm base image is made with debootstrap when missing. The image
# is built with chroot isolation, run with runc on a free loopback port
# (crun cannot set rlimits in this kind of nested container; runc can when
# given explicit --ulimit values), and asked for /healthz, /readyz, /models,
# /classify and /segment; then stopped with SIGTERM, which must drain and
# exit 0. Every step is bounded in time. Ends with "N passed, N failed".
#   IMAGE=skipserve:e2e  PODMAN_GLOBAL="--runtime runc --cgroup-manager=cgroupfs"
#   PODMAN_RUN="--ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -u

IMAGE=${IMAGE:-localhost/skipserve:e2e}
BASE=${BASE:-debian:bookworm}
PODMAN_GLOBAL=${PODMAN_GLOBAL:---runtime runc --cgroup-manager=cgroupfs}
PODMAN_RUN=${PODMAN_RUN:---ulimit nofile=4096:4096 --ulimit nproc=4096:4096}
BUILD=${BUILD:-build}
PY=/usr/bin/python3
E2E=tests/e2e
NAME=skipserve-e2e-$$
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok   $1"; }
ko() { FAIL=$((FAIL + 1)); echo "FAIL $1"; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" = 0 ]; exit $?; }
pm() { podman $PODMAN_GLOBAL "$@"; }

sh tests/deps.sh podman runc debootstrap curl python3-pil >/dev/null ||
    { ko "packages podman runc debootstrap"; finish; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/skipserve-docker.XXXXXX")
cleanup() {
    pm rm -f -t 0 "$NAME" >/dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT

# --- base image -------------------------------------------------------------------
if ! podman image exists "$BASE"; then
    echo "docker: making $BASE with debootstrap (a few minutes)"
    ROOTFS=$TMP/rootfs
    if timeout 900 debootstrap --variant=minbase bookworm "$ROOTFS" http://deb.debian.org/debian \
        >"$TMP/debootstrap.log" 2>&1 &&
        tar -C "$ROOTFS" -c . | timeout 300 podman import - "$BASE" >/dev/null; then
        ok "base image $BASE made with debootstrap"
    else
        tail -5 "$TMP/debootstrap.log"
        ko "base image $BASE"
        finish
    fi
    rm -rf "$ROOTFS"
fi

# --- build ------------------------------------------------------------------------
echo "docker: building $IMAGE"
if timeout 1800 nice -n 10 podman build --isolation=chroot --build-arg DEBIAN="$BASE" \
    --ignorefile docker/Dockerfile.dockerignore -f docker/Dockerfile -t "$IMAGE" . \
    >"$TMP/build.log" 2>&1; then
    ok "image builds (podman build --isolation=chroot)"
else
    tail -20 "$TMP/build.log" | sed 's/^/    /'
    ko "image builds"
    finish
fi
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
echo "    image size: $((size / 1048576)) MiB"

# The models baked in: what the server reads, not weights, scripts or test data.
pm run --rm $PODMAN_RUN --entrypoint find "$IMAGE" /models -type f >"$TMP/files.txt" 2>&1
extra=$(grep -E '\.(pth|py|bin)$|test_data_set_|train_log' "$TMP/files.txt" | head -3)
[ -z "$extra" ] && ok "image /models: $(grep -c 'model.onnx$' "$TMP/files.txt") model(s), no weights, scripts or test data" ||
    ko "image /models holds $extra"

# --- models: the ones baked in, else tiny ones mounted over /models ---------------------
MOUNT=()
if ! ls models/*/model.onnx >/dev/null 2>&1; then
    TINY=$BUILD/e2e-models
    if ! ls "$TINY"/*/model.onnx >/dev/null 2>&1; then
        nice -n 10 $PY $E2E/make_tiny_models.py "$TINY" >"$TMP/tiny.log" 2>&1 ||
            { tail -3 "$TMP/tiny.log"; ko "no repository models and no tiny ones"; finish; }
    fi
    echo "docker: the repository has no models; mounting $TINY over /models"
    chmod -R a+rX "$TINY"
    MOUNT=(-v "$(cd "$TINY" && pwd):/models:ro")
fi

# --- run --------------------------------------------------------------------------
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if timeout 120 podman $PODMAN_GLOBAL run -d --name "$NAME" $PODMAN_RUN -p "127.0.0.1:$PORT:8080" \
    "${MOUNT[@]}" "$IMAGE" >"$TMP/run.log" 2>&1; then
    ok "container starts (podman $PODMAN_GLOBAL run $PODMAN_RUN)"
else
    sed 's/^/    /' "$TMP/run.log"
    ko "container starts"
    finish
fi
U=127.0.0.1:$PORT
ready=
for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$U/readyz")" = 200 ] && { ready=1; break; }
    [ "$(pm inspect "$NAME" --format '{{.State.Running}}' 2>/dev/null)" = true ] || break
    sleep 0.2
done
if [ -n "$ready" ]; then ok "/readyz 200 through the published port"; else
    pm logs "$NAME" 2>&1 | tail -10 | sed 's/^/    /'
    ko "/readyz 200 through the published port"
    finish
fi
code=$(curl -s -o "$TMP/h.json" -w '%{http_code}' --max-time 5 "$U/healthz")
[ "$code" = 200 ] && ok "/healthz 200" || ko "/healthz ($code)"
curl -s --max-time 5 "$U/models" >"$TMP/models.json"
model_of() {
    $PY -c "import json,sys; m=[x['name'] for x in json.load(open(sys.argv[1]))['models'] if x.get('task')==sys.argv[2]]; print(m[0] if m else '')" "$TMP/models.json" "$1" 2>/dev/null
}
CLS=$(model_of classify)
SEG=$(model_of segment)
[ -n "$CLS" ] && [ -n "$SEG" ] && ok "/models lists a classify ($CLS) and a segment ($SEG) model" ||
    ko "/models: classify '$CLS', segment '$SEG'"

IMG=$TMP/img
mkdir -p "$IMG"
$PY $E2E/make_images.py "$IMG" >/dev/null
CIMG=tests/data/shirt.png
[ -f "$CIMG" ] || CIMG=$IMG/gray.png
SIMG=tests/data/scene.png
[ -f "$SIMG" ] || SIMG=$IMG/rgb.png
code=$(curl -s -o "$TMP/c.json" -w '%{http_code}' --max-time 30 --data-binary @"$CIMG" "$U/classify?model=$CLS")
if [ "$code" = 200 ] && $PY $E2E/jcheck.py "$TMP/c.json" "j['model'] == '$CLS' and len(j['predictions'][0]) >= 1 and 0 < j['predictions'][0][0]['score'] <= 1"; then
    ok "POST /classify $(basename "$CIMG") -> $($PY -c "import json; p=json.load(open('$TMP/c.json'))['predictions'][0][0]; print(p['label'], round(p['score'], 3))")"
else
    ko "POST /classify ($code)"
fi
code=$(curl -s -o "$TMP/s.png" -w '%{http_code}' --max-time 30 --data-binary @"$SIMG" "$U/segment?model=$SEG")
want=$($PY -c "from PIL import Image, ImageOps; im = ImageOps.exif_transpose(Image.open('$SIMG')); print(im.size)")
if [ "$code" = 200 ] && $PY $E2E/jcheck.py "$TMP/s.png" "str(png(raw)[0:2]) == '$want' and png(raw)[3] == 3"; then
    ok "POST /segment $(basename "$SIMG") -> palette PNG mask $want"
else
    ko "POST /segment ($code, want a palette PNG of $want)"
fi

# --- stop: SIGTERM, drain, exit 0 -------------------------------------------------------
timeout 60 podman $PODMAN_GLOBAL stop -t 35 "$NAME" >/dev/null 2>&1
st=$(pm inspect "$NAME" --format '{{.State.ExitCode}}' 2>/dev/null)
[ "$st" = 0 ] && ok "podman stop: SIGTERM drains, exit status 0" || ko "podman stop: exit status '$st'"
pm logs "$NAME" 2>&1 | grep -q '"msg":"stopped"' && ok "the log ends with a drained stop" ||
    ko "no drained stop in the log"
finish
