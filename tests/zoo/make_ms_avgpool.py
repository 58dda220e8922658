#!/usr/bin/python3
"""make_ms_avgpool.py OUTDIR — random com.microsoft QLinearAveragePool graphs
(issue 22, session 16) with ONNX Runtime's outputs as the reference, for
  skipserve-conformance --all-must-pass OUTDIR          (no --int-atol)
skipserve runs the op as _QAvgPool with onnxruntime's own arithmetic
(engine/kernels/ref/qavgpool.h, ort_float), so every value must be equal:
1-D, 2-D and 3-D windows, random shapes, kernels, strides, pads (< kernel, as
onnxruntime requires), ceil_mode, count_include_pad, uint8 and int8, scales
random or powers of two (exact .5 ties, where the rounding of v + y_zp
shows), and whole-plane kernels without pads (onnxruntime's integer global
path). Seeded: the same graphs every run.
"""
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
import ort_util  # noqa: E402

OUT = sys.argv[1]
COUNT = int(os.environ.get("MS_AVGPOOL_CASES", "48"))
rng = np.random.RandomState(16)
cases = []
for i in range(COUNT):
    dt = np.uint8 if i % 2 else np.int8
    nsp = 2 if i % 6 not in (1, 4) else (1 if i % 6 == 1 else 3)
    # the whole-plane cases (i % 8 == 3) are all odd: choose their type and
    # rank on their own so int8 and 3-D global windows are compared too
    # (i = 3, 11, 19, 27, 35, 43: u8 2-D, s8 2-D, u8 3-D, s8 2-D, u8 2-D, s8 3-D)
    if i % 8 == 3:
        dt = np.int8 if i % 16 == 11 else np.uint8
        nsp = 3 if i % 24 == 19 else nsp
    sp = [int(rng.randint(1, 12 if nsp < 3 else 6)) for _ in range(nsp)]
    if i % 8 == 3:  # whole plane, no pads: onnxruntime's MLAS global path
        k, st, pads = sp[:], [1] * nsp, [0] * (2 * nsp)
    else:
        k = [int(rng.randint(1, min(s, 4) + 1)) for s in sp]
        st = [int(rng.randint(1, 4)) for _ in range(nsp)]
        pads = [int(rng.randint(0, kk)) for kk in k] + [int(rng.randint(0, kk)) for kk in k]
    shape = [int(rng.randint(1, 3)), int(rng.randint(1, 6))] + sp
    lo, hi = (0, 256) if dt == np.uint8 else (-128, 128)
    x = rng.randint(lo, hi, size=shape).astype(dt)
    if i % 3 == 0:  # powers of two: .5 ties
        xs, ys = np.float32(2.0 ** -rng.randint(3, 6)), np.float32(2.0 ** -rng.randint(2, 5))
    else:
        xs = np.float32(rng.uniform(0.004, 0.1))
        ys = np.float32(xs * rng.uniform(0.3, 3.0))
    xz, yz = np.array(rng.randint(lo, hi), dt), np.array(rng.randint(lo, hi), dt)
    attrs = dict(kernel_shape=k, strides=st, pads=pads, ceil_mode=int(rng.randint(0, 2)),
                 count_include_pad=int(rng.randint(0, 2)))
    node = helper.make_node("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"],
                            domain="com.microsoft", **attrs)
    tt = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(dt)]
    g = helper.make_graph([node], "qlap%d" % i, [helper.make_tensor_value_info("x", tt, shape)],
                          [helper.make_tensor_value_info("y", tt, None)],
                          initializer=[numpy_helper.from_array(np.array(xs), "xs"),
                                       numpy_helper.from_array(xz, "xz"),
                                       numpy_helper.from_array(np.array(ys), "ys"),
                                       numpy_helper.from_array(yz, "yz")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("com.microsoft", 1)])
    d = os.path.join(OUT, "test_ms_qlap_%02d" % i)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    onnx.save(m, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "test_data_set_0", "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(x, "x").SerializeToString())
    cases.append((d, x))

ort_util.ensure_ort()
res = ort_util.run_ort([(os.path.join(d, "model.onnx"), {"x": x}, d) for d, x in cases])
bad = 0
for (d, _), r in zip(cases, res):
    if r is None:
        print("make_ms_avgpool: onnxruntime failed on %s" % d, file=sys.stderr)
        bad += 1
        continue
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(r[0], "y").SerializeToString())
    for fn in os.listdir(d):
        if fn.startswith("ort"):
            os.unlink(os.path.join(d, fn))
sys.exit(1 if bad else 0)
