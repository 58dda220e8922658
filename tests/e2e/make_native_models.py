"""make_native_models.py DIR — segmenters with symbolic H and W (input
["N", 1, "H", "W"]) for suite_native.sh, written with onnx.helper (no
torch), whose answers native_ref.py computes with numpy:
  dynconv3/    one 3x3 convolution (zero padding), 3 classes; input.multiple
               left at its default (32), native_plans 3 (the LRU test),
               native_max_pixels 300000 (past it: tiles of 64x64)
  dynstride/   a small U-Net of stride 4: 3x3 conv, two 3x3 stride-2 convs
               (+ReLU), two 2x2 stride-2 ConvTransposes each added to the
               skip of its resolution, a 1x1 head; input.multiple 4
  dynstride-bad/  the same with input.multiple 2: must fail to load
  dynbytes/    dynconv3 with native_cache_mb 1 (a plan is evicted as soon as
               it is given back when larger)
  fixed3/      dynconv3's weights with a fixed 64x64 input (not native)
  dynodd/      dynconv3 plus a constant [1, 3, 96, 1]: only a rounded height
               of 96 plans (the load check's 3 x 32 does), others answer 422
Normalisation x = (pixel/255 - 0.5) / 0.25: the tensor's 0 (the padding)
is no pixel value's, so padding with a pixel would show at the borders.
Weights go to weights.npz beside each model."""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

out = sys.argv[1]
rng = np.random.default_rng(23)


def t(name, a):
    return helper.make_tensor(name, TensorProto.FLOAT, a.shape, a.astype(np.float32).flatten())


def save(name, nodes, inits, weights, inp_shape, cfg_input, extra=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, inp_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "OH", "OW"])
    g = helper.make_graph(nodes, name, [x], [y], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(d, "model.onnx"))
    cfg = {"task": "segment",
           "input": dict({"width": 64, "height": 64, "color": "gray", "resize": "stretch",
                          "scale": 1 / 255, "mean": 0.5, "std": 0.25, "invert": False},
                         **cfg_input),
           "labels": ["a", "b", "c"],
           "batching": {"max_batch": 4, "max_delay_us": 1000, "max_queue": 64}}
    if extra:
        cfg.update(extra)
    json.dump(cfg, open(os.path.join(d, "model.json"), "w"), indent=1)
    np.savez(os.path.join(d, "weights.npz"), **weights)


W3 = rng.normal(0, 1, (3, 1, 3, 3)).astype(np.float32)
B3 = np.array([0.3, -0.1, 0.0], dtype=np.float32)
conv3 = [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1] * 4)]
dyn = ["N", 1, "H", "W"]
save("dynconv3", conv3, [t("w", W3), t("b", B3)], {"kind": "conv3", "w": W3, "b": B3}, dyn,
     {"native_plans": 3, "native_max_pixels": 300000})
save("dynbytes", conv3, [t("w", W3), t("b", B3)], {"kind": "conv3", "w": W3, "b": B3}, dyn,
     {"native_cache_mb": 1})
save("fixed3", conv3, [t("w", W3), t("b", B3)], {"kind": "conv3", "w": W3, "b": B3},
     ["N", 1, 64, 64], {})

# Conv + a constant [1, 3, 96, 1]: plans only when the rounded height is 96
# (the load check's 3 x 32 is), so other heights reach the 422 path
HB = rng.normal(0, 0.1, (1, 3, 96, 1)).astype(np.float32)
conv3_y0 = [helper.make_node("Conv", ["x", "w", "b"], ["y0"], kernel_shape=[3, 3], pads=[1] * 4)]
save("dynodd", conv3_y0 + [helper.make_node("Add", ["y0", "hb"], ["y"])],
     [t("w", W3), t("b", B3), t("hb", HB)], {"kind": "conv3", "w": W3, "b": B3}, dyn,
     {"height": 96})
# stride 4: s0 = conv(x); d1 = relu(conv_s2(s0)); d2 = relu(conv_s2(d1));
# u1 = convT(d2) + d1; u0 = convT(u1) + s0; y = conv1x1(u0)
C = 4
P = {"w0": rng.normal(0, 0.6, (C, 1, 3, 3)), "b0": rng.normal(0, 0.1, C),
     "w1": rng.normal(0, 0.4, (C, C, 3, 3)), "b1": rng.normal(0, 0.1, C),
     "w2": rng.normal(0, 0.4, (C, C, 3, 3)), "b2": rng.normal(0, 0.1, C),
     "t1": rng.normal(0, 0.5, (C, C, 2, 2)), "c1": rng.normal(0, 0.1, C),
     "t0": rng.normal(0, 0.5, (C, C, 2, 2)), "c0": rng.normal(0, 0.1, C),
     "wh": rng.normal(0, 0.8, (3, C, 1, 1)), "bh": rng.normal(0, 0.1, 3)}
P = {k: v.astype(np.float32) for k, v in P.items()}
N = helper.make_node
stride_nodes = [
    N("Conv", ["x", "w0", "b0"], ["s0"], kernel_shape=[3, 3], pads=[1] * 4),
    N("Conv", ["s0", "w1", "b1"], ["d1p"], kernel_shape=[3, 3], pads=[1] * 4, strides=[2, 2]),
    N("Relu", ["d1p"], ["d1"]),
    N("Conv", ["d1", "w2", "b2"], ["d2p"], kernel_shape=[3, 3], pads=[1] * 4, strides=[2, 2]),
    N("Relu", ["d2p"], ["d2"]),
    N("ConvTranspose", ["d2", "t1", "c1"], ["u1p"], kernel_shape=[2, 2], strides=[2, 2]),
    N("Add", ["u1p", "d1"], ["u1"]),
    N("ConvTranspose", ["u1", "t0", "c0"], ["u0p"], kernel_shape=[2, 2], strides=[2, 2]),
    N("Add", ["u0p", "s0"], ["u0"]),
    N("Conv", ["u0", "wh", "bh"], ["y"], kernel_shape=[1, 1]),
]
inits = [t(k, v) for k, v in P.items()]
save("dynstride", stride_nodes, inits, dict(P, kind="stride4"), dyn, {"multiple": 4})
save("dynstride-bad", stride_nodes, inits, dict(P, kind="stride4"), dyn, {"multiple": 2})
