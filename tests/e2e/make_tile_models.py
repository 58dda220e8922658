"""make_tile_models.py DIR — small segmenters for suite_tile.sh, written
with onnx.helper (no torch needed), whose answers a test can compute on its
own with numpy:
  pixseg/    1 x 256 x 256 gray -> 3 classes, a 1x1 convolution: each
             pixel's class depends on that pixel alone
  pixseg-linear/  the same, with model.json tiling {default: true,
             window: linear, overlap: 40}
  conv3seg/  1 x 64 x 64 gray -> 3 classes, one 3x3 convolution with zero
             padding: a pixel's class depends on its 3x3 neighbourhood
The weights are in weights.json beside each model for the reference."""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

out = sys.argv[1]

# logits_c = w_c * x + b_c for x = pixel / 255 (the 1x1 model); chosen so
# every class wins somewhere in 0..1
W1 = np.array([[-3.0], [0.0], [4.0]], dtype=np.float32)
B1 = np.array([1.0, 0.2, -2.6], dtype=np.float32)
rng = np.random.default_rng(3)
W3 = rng.normal(0, 1, (3, 1, 3, 3)).astype(np.float32)
B3 = np.array([0.3, -0.1, 0.0], dtype=np.float32)


def model(name, size, w, b, pad, tiling=None, max_batch=16):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    k = w.shape[-1] if w.ndim == 4 else 1
    wt = w if w.ndim == 4 else w.reshape(3, 1, 1, 1)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, size, size])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, size, size])
    conv = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[k, k],
                            pads=[pad] * 4)
    g = helper.make_graph([conv], name, [x], [y],
                          [helper.make_tensor("w", TensorProto.FLOAT, wt.shape, wt.flatten()),
                           helper.make_tensor("b", TensorProto.FLOAT, [3], b)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(d, "model.onnx"))
    cfg = {"task": "segment",
           "input": {"width": size, "height": size, "color": "gray", "resize": "stretch",
                     "scale": 1 / 255, "mean": 0, "std": 1, "invert": False},
           "labels": ["low", "mid", "high"],
           "batching": {"max_batch": max_batch, "max_delay_us": 1000, "max_queue": 256}}
    if tiling:
        cfg["tiling"] = tiling
    json.dump(cfg, open(os.path.join(d, "model.json"), "w"), indent=1)
    json.dump({"w": wt.tolist(), "b": b.tolist()}, open(os.path.join(d, "weights.json"), "w"))


model("pixseg", 256, W1, B1, 0)
model("pixseg-linear", 256, W1, B1, 0, {"default": True, "window": "linear", "overlap": 40})
model("conv3seg", 64, W3, B3, 1)
