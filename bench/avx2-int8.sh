#!/bin/bash
# bench/avx2-int8.sh MODEL BATCH THREADS ROUNDS RUNS — INT8 at the AVX2 level
# without VNNI against our AVX2 FP32 (session 18), four variants alternating
# each round, every one a skipserve-bench process at SKIPSERVE_ISA=avx2:
#   fp32   models/zoo/MODEL-op17/model.onnx
#   exact  its model-int8-qdq.onnx with SKIPSERVE_INT8_UK=avx2 (8-bit weights:
#          the exact int16 NHWC kernel)
#   w7     the same graph with its int8 weights halved to 7 bits
#          ($BUILD/rr/MODEL-int8-w7.onnx, made here once: a speed-only twin,
#          numbers not meaningful) -> the vpmaddubsw kernel, as a
#          skipserve-quantize --reduce-range file runs
#   nchw   the 8-bit file with SKIPSERVE_INT8_NHWC=0 (the NCHW path before)
# Prints the median ms of each and FP32 / variant. Run it under
# `flock /work/notes/bench.lock`. Needs /usr/bin/python3 with onnx.
set -eu
m=$1; B=$2; T=$3; R=$4; N=$5
BUILD=${BUILD:-build}; D=models/zoo/$m-op17; W7=$BUILD/rr/$m-int8-w7.onnx
if [ ! -f "$W7" ]; then
    mkdir -p "$BUILD/rr"
    /usr/bin/python3 - "$D/model-int8-qdq.onnx" "$W7" <<'PY'
import sys, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1]); g = m.graph
at = {t.name: i for i, t in enumerate(g.initializer)}
for n in g.node:  # the int8 weights read by a DequantizeLinear, halved
    i = at.get(n.input[0]) if n.op_type == "DequantizeLinear" else None
    if i is not None and g.initializer[i].data_type == onnx.TensorProto.INT8:
        a = numpy_helper.to_array(g.initializer[i]).astype(np.int32)
        a = np.clip(np.round(a / 2), -64, 64).astype(np.int8)
        g.initializer[i].CopyFrom(numpy_helper.from_array(a, g.initializer[i].name))
onnx.save(m, sys.argv[2])
PY
fi
run() { env SKIPSERVE_ISA=avx2 "$@" --batch "$B" --threads "$T" --runs "$N" --warmup 1 | awk '/median/{print $2}'; }
r3() { echo "$1/$2" | bc -l | cut -c1-4; }
for r in $(seq "$R"); do
    f=$(run "$BUILD/skipserve-bench" "$D/model.onnx")
    e=$(run SKIPSERVE_INT8_UK=avx2 "$BUILD/skipserve-bench" "$D/model-int8-qdq.onnx")
    w=$(run SKIPSERVE_INT8_UK=avx2 "$BUILD/skipserve-bench" "$W7")
    o=$(run SKIPSERVE_INT8_UK=avx2 SKIPSERVE_INT8_NHWC=0 "$BUILD/skipserve-bench" "$D/model-int8-qdq.onnx")
    echo "$m b$B ${T}T round $r: fp32 $f | int8 exact $e ($(r3 $f $e)) | int8 w7 maddubs $w ($(r3 $f $w)) | old NCHW $o ($(r3 $f $o))"
done
