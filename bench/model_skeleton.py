#!/usr/bin/python3
"""Ship a model's graph without its weights, refill them with random values.

    model_skeleton.py strip MODEL.onnx SKEL.onnx
    model_skeleton.py fill  SKEL.onnx MODEL.onnx [--seed N]

For timing runs on another machine whose copy limit is smaller than the
model (ResNet-50 is 100 MB of FP32 weights): `strip` keeps every node,
attribute and small initializer (shape constants, anything under 4096
elements) and empties the large float initializers, recording their dims;
`fill` writes them back as seeded normal noise scaled by 1/sqrt(fan-in)
(fan-in = the product of all dims but the first), so activations stay
finite and far from denormals through a hundred layers. Speed does not
depend on the weight values; an accuracy check against PyTorch needs the real
file (models/export_zoo.py).
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import numpy_helper

BIG = 4096
MARK = "skeleton:"  # doc_string of an emptied initializer


def strip(src, dst):
    m = onnx.load(src)
    n = 0
    for t in m.graph.initializer:
        count = int(np.prod(t.dims)) if len(t.dims) else 1
        if t.data_type == onnx.TensorProto.FLOAT and count >= BIG:
            dims = list(t.dims)
            name = t.name
            t.Clear()
            t.name = name
            t.dims.extend(dims)
            t.data_type = onnx.TensorProto.FLOAT
            t.doc_string = MARK
            n += 1
    onnx.save(m, dst)
    print("%s: emptied %d initializers -> %s" % (src, n, dst))


def fill(src, dst, seed):
    m = onnx.load(src)
    rng = np.random.default_rng(seed)
    n = 0
    for i, t in enumerate(m.graph.initializer):
        if t.doc_string != MARK:
            continue
        dims = list(t.dims)
        fan_in = int(np.prod(dims[1:])) if len(dims) > 1 else dims[0]
        a = rng.standard_normal(dims, dtype=np.float32) / np.float32(np.sqrt(fan_in))
        new = numpy_helper.from_array(a, t.name)
        m.graph.initializer[i].CopyFrom(new)
        n += 1
    onnx.save(m, dst)
    print("%s: filled %d initializers -> %s" % (src, n, dst))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["strip", "fill"])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    strip(a.src, a.dst) if a.cmd == "strip" else fill(a.src, a.dst, a.seed)


if __name__ == "__main__":
    sys.exit(main())
