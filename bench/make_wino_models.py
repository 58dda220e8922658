#!/usr/bin/python3
"""make_wino_models.py — the 3x3 conv chains of bench/RESULTS.md session 15
(issue 24 item 3, branch thr3: Winograd at 2 threads), into bench/.layers/
(git-ignored):

  wino_C_S.onnx   two ResNet basic blocks on an S x S map, C channels:
                  4 3x3 stride-1 convs (+ bias, Relu), the input added back
                  after every second one — the shapes ResNet-18/34 run by
                  Winograd F(4x4) (56x56 64-ch, 28x28 128-ch) and F(2x2)
                  (14x14 256-ch), and (session 16) 7x7 512-ch, the
                  layer ResNet-18/34 run as pixel rows at batch 1 (38 MB
                  of weights: cold); 4 distinct weight sets, so U streams
                  from L3 between layers as in the network

Batch is symbolic. Seeded normal weights / sqrt(fan-in). Needs python3-onnx
and numpy (/usr/bin/python3). Time them with bench/ab.py, e.g.
  bench/ab.py bench/.layers/wino_64_56.onnx --threads 2 "SKIPSERVE_WINO_VORDER=0 sk" sk
"""
import os

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".layers")
rng = np.random.default_rng(0)


def chain(C, S):
    nodes, inits, cur, skip = [], [], "x", "x"
    for i in range(4):
        W = (rng.standard_normal((C, C, 3, 3)) / np.sqrt(9 * C)).astype(np.float32)
        B = (rng.standard_normal(C) * 0.1).astype(np.float32)
        inits += [nh.from_array(W, f"W{i}"), nh.from_array(B, f"B{i}")]
        nodes.append(h.make_node("Conv", [cur, f"W{i}", f"B{i}"], [f"c{i}"],
                                 kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        cur = f"c{i}"
        if i % 2 == 1:  # the basic block's skip connection
            nodes.append(h.make_node("Add", [cur, skip], [f"a{i}"]))
            cur = f"a{i}"
        nodes.append(h.make_node("Relu", [cur], [f"r{i}"]))
        cur = f"r{i}"
        if i % 2 == 1:
            skip = cur
    x = h.make_tensor_value_info("x", T.FLOAT, ["N", C, S, S])
    y = h.make_tensor_value_info(cur, T.FLOAT, ["N", C, S, S])
    g = h.make_graph(nodes, "g", [x], [y], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, os.path.join(OUT, f"wino_{C}_{S}.onnx"))


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for C, S in ((64, 56), (128, 28), (256, 14), (512, 7)):
        chain(C, S)
