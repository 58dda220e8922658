#!/usr/bin/python3
"""make_1x1_models.py — the single-layer and chain models of bench/RESULTS.md
session 14 (issue 24, 1x1 convs on small maps), into bench/.layers/
(git-ignored):

  pw_C_M_S[_res].onnx  one 1x1 conv C -> M on an S x S map + bias
                       (+ a residual input r) + Relu: ResNet-50 / MobileNetV2
                       shapes, weights warm when timed alone
  pw_chain7.onnx       12 1x1 convs 2048 <-> 512 on 7x7 (+ bias, Relu):
                       48 MB of weights, cold in cache as in a network
  pw_chain14.onnx      16 1x1 convs 1024 <-> 256 on 14x14: 17 MB

Batch is symbolic. Seeded normal weights / sqrt(fan-in). Needs python3-onnx
and numpy (/usr/bin/python3). Time them with bench/ab.py, e.g.
  bench/ab.py bench/.layers/pw_chain7.onnx --threads 1 "SKIPSERVE_PIXROWS_KC=0 sk" sk ort
"""
import os

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".layers")
rng = np.random.default_rng(0)


def conv(C, M, i, src):
    W = (rng.standard_normal((M, C, 1, 1)) / np.sqrt(C)).astype(np.float32)
    B = (rng.standard_normal(M) * 0.1).astype(np.float32)
    node = h.make_node("Conv", [src, f"W{i}", f"B{i}"], [f"c{i}"], kernel_shape=[1, 1])
    return node, [nh.from_array(W, f"W{i}"), nh.from_array(B, f"B{i}")]


def save(nodes, inits, inputs, out, M, S, name):
    y = h.make_tensor_value_info(out, T.FLOAT, ["N", M, S, S])
    g = h.make_graph(nodes, "g", inputs, [y], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, os.path.join(OUT, name))


def single(C, M, S, res):
    node, inits = conv(C, M, 0, "x")
    nodes, last = [node], "c0"
    inputs = [h.make_tensor_value_info("x", T.FLOAT, ["N", C, S, S])]
    if res:
        inputs.append(h.make_tensor_value_info("r", T.FLOAT, ["N", M, S, S]))
        nodes.append(h.make_node("Add", [last, "r"], ["a0"]))
        last = "a0"
    nodes.append(h.make_node("Relu", [last], ["y"]))
    save(nodes, inits, inputs, "y", M, S, f"pw_{C}_{M}_{S}{'_res' if res else ''}.onnx")


def chain(S, chans, n, name):
    nodes, inits, cur = [], [], "x"
    for i in range(n):
        node, w = conv(chans[i % 2], chans[(i + 1) % 2], i, cur)
        nodes += [node, h.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        inits += w
        cur = f"r{i}"
    inputs = [h.make_tensor_value_info("x", T.FLOAT, ["N", chans[0], S, S])]
    save(nodes, inits, inputs, cur, chans[n % 2], S, name)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    for C, M, S, res in [(1024, 256, 14, 0), (256, 1024, 14, 1), (2048, 512, 7, 0),
                         (512, 2048, 7, 1), (512, 128, 28, 0), (576, 96, 14, 1),
                         (960, 160, 7, 1), (384, 64, 14, 1)]:
        single(C, M, S, res)
    chain(7, [2048, 512], 12, "pw_chain7.onnx")
    chain(14, [1024, 256], 16, "pw_chain14.onnx")
