#!/bin/sh
# tests/zoo/run.sh — `make test-zoo`: export the model zoo with PyTorch
# (models/export_zoo.py: random weights, fixed seeds, opsets 13 and 17, PyTorch's
# outputs for batch 1 and 3 beside each model) and check that skipserve
# computes the same outputs (max-abs-normalized error <= 1e-4) at every SIMD
# level the CPU has.
#   BUILD        build folder holding skipserve-conformance (default: build)
#   ZOO_DIR      where the exports go (default: models/zoo, git-ignored)
#   ZOO_ONLY     space-separated model names to export (default: all)
#   ZOO_REEXPORT=1  export again even when a model folder is already there
#   ZOO_OPT      graph passes level for the runner (default 1, as the server; 0 = reference)
#   ZOO_THREADS  runner threads (default 2); ZOO_TIMEOUT seconds per model (default 300)
#   ZOO_ISAS     SIMD levels to check (default "scalar avx2 avx512"; levels the CPU lacks are skipped)
#   ZOO_SCALAR_OPSETS  opsets the scalar level checks (default "13 17"; CI sets "17": the
#                reference kernels are the slow half of the run, and the opset-13 graphs
#                differ from 17 in the loader's work, which the fast levels still check)
set -u
BUILD=${BUILD:-build}
ZOO_DIR=${ZOO_DIR:-models/zoo}
PY=/usr/bin/python3
RUNNER=$BUILD/skipserve-conformance

if [ ! -x "$RUNNER" ]; then
    echo "zoo: $RUNNER is missing: build it first (make BUILD=$BUILD)" >&2
    exit 1
fi
if ! $PY -c 'import torch, torchvision, onnx' 2>/dev/null; then
    echo "zoo: SKIPPED — $PY cannot import torch, torchvision and onnx" \
         "(apt-get install python3-torch python3-torchvision python3-onnx; make deps-torch)"
    exit 0
fi

LOGDIR=${TMPDIR:-/tmp}/skipserve-zoo-logs.$$
mkdir -p "$ZOO_DIR" "$LOGDIR"
trap 'rm -rf "$LOGDIR"' EXIT
names=${ZOO_ONLY:-$($PY -c 'import sys; sys.path.insert(0, "models"); import export_zoo; print(" ".join(export_zoo.ZOO))')}
for name in $names; do
    ops=$($PY -c 'import sys; sys.path.insert(0, "models"); import export_zoo; print(" ".join(map(str, export_zoo.ZOO_OPSETS.get(sys.argv[1], (13, 17)))))' "$name")
    for op in $ops; do
        dir=$ZOO_DIR/$name-op$op
        if [ "${ZOO_REEXPORT:-0}" = 1 ] || [ ! -f "$dir/test_data_set_1/output_0.pb" ]; then
            if ! $PY models/export_zoo.py --only "$name" --opset $op --out "$ZOO_DIR" \
                    >"$LOGDIR/$name-op$op.log" 2>&1; then
                echo "zoo: export of $name opset $op failed:" >&2
                tail -20 "$LOGDIR/$name-op$op.log" >&2
                exit 1
            fi
            tail -1 "$LOGDIR/$name-op$op.log"
        fi
    done
done

# Every SIMD level the CPU has (the issue's "at every ISA level"): scalar
# (the reference kernels, about 7 minutes on 2 cores), avx2, avx512. A level
# the CPU (or OS) lacks would fall back to a lower one and repeat its run,
# so it is skipped with a note; the engine's own detection decides
# (--print-level). ZOO_ISAS overrides the list.
for isa in ${ZOO_ISAS:-scalar avx2 avx512}; do
    got=$(SKIPSERVE_ISA=$isa "$RUNNER" --print-level)
    if [ "$got" != "$isa" ]; then
        echo "zoo: skipping $isa: this CPU lacks it (it runs $got; the kernels are unit-tested on emulated intrinsics)"
        continue
    fi
    dir=$ZOO_DIR
    if [ "$isa" = scalar ] && [ "${ZOO_SCALAR_OPSETS:-13 17}" != "13 17" ]; then
        dir=$LOGDIR/scalar-zoo # links to the folders of the chosen opsets
        mkdir -p "$dir"
        for op in $ZOO_SCALAR_OPSETS; do
            for m in "$ZOO_DIR"/*-op$op; do
                [ -d "$m" ] && ln -s "$(cd "$m" && pwd)" "$dir/"
            done
        done
    fi
    echo "zoo: checking $dir with $RUNNER at SKIPSERVE_ISA=$isa"
    out=$LOGDIR/conformance-$isa.txt
    { SKIPSERVE_ISA=$isa "$RUNNER" --max-abs-norm --rtol 1e-4 --all-must-pass --opt "${ZOO_OPT:-1}" \
        --threads "${ZOO_THREADS:-2}" --timeout "${ZOO_TIMEOUT:-300}" "$dir"
      echo $? >"$LOGDIR/rc"; } | tee "$out"
    rc=$(cat "$LOGDIR/rc")
    # Any failing or unsupported (skipped) model fails the zoo, and so does
    # the runner's exit code (--all-must-pass).
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
    passed=$(echo "$summary" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    failed=$(echo "$summary" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
    skipped=$(echo "$summary" | sed -n 's/.* \([0-9]*\) skipped.*/\1/p')
    if [ "$rc" -ne 0 ] || [ -z "$summary" ] || [ "${passed:-0}" -eq 0 ] ||
       [ "${failed:-1}" -ne 0 ] || [ "${skipped:-0}" -ne 0 ]; then
        echo "zoo: FAILED at $isa (exit $rc; ${summary:-no summary line from $RUNNER})" >&2
        exit 1
    fi
done
echo "zoo: all models pass"
