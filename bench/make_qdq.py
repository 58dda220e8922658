#!/usr/bin/python3
"""make_qdq.py FP32.onnx OUT.onnx — the QDQ INT8 twin of a float32 model for
bench/compare-ort.sh --precision int8: models/lowp_convert.py's "qdq" form
(uint8 activations per tensor, int8 symmetric per-channel weights, int32
biases), calibrated with min/max ranges that onnxruntime measures on the
model's test_data_set_*/input_0.pb (beside the model) or, without those, on
4 seeded normal(0, 1) inputs of the input's shape with the batch set to 1.
Both tools then run the same file. Needs /usr/bin/python3 (onnx, numpy),
node and bench/.ort (onnxruntime-node)."""
import glob
import os
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "models"))
sys.path.insert(0, os.path.join(ROOT, "tests", "zoo"))
import lowp_convert  # noqa: E402
import ort_util  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402


def calibrate(model, x, work):
    """min/max of the input and of every node output, run by onnxruntime
    (the same measure tests/zoo/lowp_models.py takes; that script runs its
    checks on import, so it is not imported here)"""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                m.graph.output.append(helper.make_tensor_value_info(o, TensorProto.FLOAT, None))
                have.add(o)
    p = os.path.join(work, "calib.onnx")
    onnx.save(m, p)
    outs = ort_util.run_ort([(p, {m.graph.input[0].name: x}, work)])[0]
    if outs is None:
        sys.exit("make_qdq: onnxruntime could not run the calibration model")
    r = {o.name: (float(a.min()), float(a.max())) for o, a in zip(m.graph.output, outs)}
    r[m.graph.input[0].name] = (float(x.min()), float(x.max()))
    return r


def inputs(model_path, model):
    pbs = sorted(glob.glob(os.path.join(os.path.dirname(model_path), "test_data_set_*",
                                        "input_0.pb")))
    if pbs:
        return np.concatenate([numpy_helper.to_array(onnx.load_tensor(p)) for p in pbs])
    dims = [d.dim_value if d.dim_value > 0 else 1
            for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(0).standard_normal([4] + dims[1:]).astype(np.float32)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    ort_util.ensure_ort()
    model = onnx.load(src)
    x = inputs(src, model)
    with tempfile.TemporaryDirectory() as work:
        ranges = calibrate(model, x, work)
    onnx.save(lowp_convert.convert(model, "qdq", ranges), dst)


if __name__ == "__main__":
    main()
