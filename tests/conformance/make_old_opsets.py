#!/usr/bin/python3
"""make_old_opsets.py OUTDIR — backend-style tests for the older opset forms the
ONNX loader rewrites (loaders/onnx_opset.c): attributes that later became
inputs, Upsample, Resize-10, legacy broadcasting, Cast-1 string types, ...

The ONNX node tests only cover current opsets and onnx's version converter
cannot go down, so these models are written by hand at their old opset and
the expected outputs are computed here with numpy from the operator
definitions. Each test is OUTDIR/test_old_<name>/{model.onnx,
test_data_set_0/{input,output}_K.pb}; run them with
  skipserve-conformance OUTDIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
rng = np.random.RandomState(7)
F = TensorProto.FLOAT


def case(name, opset, nodes, inputs, outputs, inits=(), ir=3):
    """inputs / outputs: lists of (name, array). Initializers are repeated as
    graph inputs when ir < 4, as IR 3 writers did."""
    d = os.path.join(OUT, "test_old_" + name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    def tt(a):
        return onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype]

    vin = [helper.make_tensor_value_info(n, tt(a), a.shape) for n, a in inputs]
    init = [numpy_helper.from_array(a, n) for n, a in inits]
    if ir < 4:
        vin += [helper.make_tensor_value_info(n, tt(a), a.shape) for n, a in inits]
    vout = [helper.make_tensor_value_info(n, tt(a), None) for n, a in outputs]
    g = helper.make_graph(nodes, name, vin, vout, initializer=init)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    onnx.save(m, os.path.join(d, "model.onnx"))
    for k, (n, a) in enumerate(inputs):
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % k), "wb") as f:
            f.write(numpy_helper.from_array(a, n).SerializeToString())
    for k, (n, a) in enumerate(outputs):
        with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % k), "wb") as f:
            f.write(numpy_helper.from_array(a, n).SerializeToString())


def randf(*shape):
    return rng.randn(*shape).astype(np.float32)


N = helper.make_node

# Clip-6: min/max attributes.
x = randf(3, 4) * 3
case("clip6", 6, [N("Clip", ["x"], ["y"], min=-1.0, max=0.5)], [("x", x)],
     [("y", np.clip(x, -1, 0.5))])
case("clip6_max_only", 6, [N("Clip", ["x"], ["y"], max=0.0)], [("x", x)],
     [("y", np.minimum(x, 0))])

# Squeeze-1 / Unsqueeze-1: axes attribute.
x = randf(1, 3, 1, 2)
case("squeeze1", 1, [N("Squeeze", ["x"], ["y"], axes=[0, 2])], [("x", x)],
     [("y", x.reshape(3, 2))])
x = randf(3, 2)
case("unsqueeze1", 1, [N("Unsqueeze", ["x"], ["y"], axes=[0, 3])], [("x", x)],
     [("y", x.reshape(1, 3, 2, 1))])

# Split-2: split attribute.
x = randf(2, 6)
case("split2", 2, [N("Split", ["x"], ["a", "b"], axis=1, split=[2, 4])], [("x", x)],
     [("a", x[:, :2]), ("b", x[:, 2:])])

# ReduceMean-1 / ReduceSum-1 / ReduceMax-1: axes attribute.
x = randf(2, 3, 4)
case("reducemean1", 1, [N("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)], [("x", x)],
     [("y", x.mean(axis=1))])
case("reducesum11", 11, [N("ReduceSum", ["x"], ["y"], axes=[0, 2], keepdims=1)], [("x", x)],
     [("y", x.sum(axis=(0, 2), keepdims=True))])
case("reducemax13", 13, [N("ReduceMax", ["x"], ["y"], axes=[-1])], [("x", x)],
     [("y", x.max(axis=-1, keepdims=True))], ir=7)
case("reducemean1_all", 1, [N("ReduceMean", ["x"], ["y"])], [("x", x)],
     [("y", x.mean(keepdims=True))])

# Pad-2: pads / value attributes, three modes.
x = randf(1, 2, 3, 4)
pads = [0, 0, 1, 2, 0, 0, 2, 1]
npads = [(0, 0), (0, 0), (1, 2), (2, 1)]
case("pad2_constant", 2, [N("Pad", ["x"], ["y"], pads=pads, value=1.5)], [("x", x)],
     [("y", np.pad(x, npads, constant_values=1.5))])
case("pad2_reflect", 2, [N("Pad", ["x"], ["y"], pads=pads, mode="reflect")], [("x", x)],
     [("y", np.pad(x, npads, mode="reflect"))])
case("pad2_edge", 2, [N("Pad", ["x"], ["y"], pads=pads, mode="edge")], [("x", x)],
     [("y", np.pad(x, npads, mode="edge"))])


def upsample_nearest(x, scales):
    """Upsample / Resize-10 nearest: x_in = floor(x_out / scale)."""
    out = x
    for ax, s in enumerate(scales):
        n = out.shape[ax]
        m = int(np.floor(n * s))
        idx = np.minimum(np.floor(np.arange(m) / s).astype(int), n - 1)
        out = np.take(out, idx, axis=ax)
    return out


def upsample_linear(x, scales):
    """Asymmetric linear: x_in = x_out / scale, neighbours clamped."""
    out = x.astype(np.float64)
    for ax, s in enumerate(scales):
        n = out.shape[ax]
        m = int(np.floor(n * s))
        pos = np.arange(m) / s
        lo = np.minimum(np.floor(pos).astype(int), n - 1)
        hi = np.minimum(lo + 1, n - 1)
        w = (pos - lo).reshape([-1 if i == ax else 1 for i in range(out.ndim)])
        out = np.take(out, lo, axis=ax) * (1 - w) + np.take(out, hi, axis=ax) * w
    return out.astype(np.float32)


x = randf(1, 2, 3, 4)
sc = np.array([1, 1, 2, 3], np.float32)
case("upsample7_nearest", 7, [N("Upsample", ["x"], ["y"], scales=list(sc), mode="nearest")],
     [("x", x)], [("y", upsample_nearest(x, sc))])
case("upsample7_linear", 7, [N("Upsample", ["x"], ["y"], scales=list(sc), mode="linear")],
     [("x", x)], [("y", upsample_linear(x, sc))])
case("upsample9_nearest", 9, [N("Upsample", ["x", "s"], ["y"], mode="nearest")], [("x", x)],
     [("y", upsample_nearest(x, sc))], inits=[("s", sc)])
case("upsample9_linear", 9, [N("Upsample", ["x", "s"], ["y"], mode="linear")], [("x", x)],
     [("y", upsample_linear(x, sc))], inits=[("s", sc)])
case("upsample1_nearest", 1, [N("Upsample", ["x"], ["y"], height_scale=2.0, width_scale=3.0)],
     [("x", x)], [("y", upsample_nearest(x, sc))])
case("resize10_up_nearest", 10, [N("Resize", ["x", "s"], ["y"], mode="nearest")], [("x", x)],
     [("y", upsample_nearest(x, sc))], inits=[("s", sc)])
case("resize10_up_linear", 10, [N("Resize", ["x", "s"], ["y"], mode="linear")], [("x", x)],
     [("y", upsample_linear(x, sc))], inits=[("s", sc)])
# Resize-10 down-sampling, nearest: the ONNX Resize-10 test's numbers.
x = np.array([[[[1, 2, 3, 4], [5, 6, 7, 8]]]], np.float32)
down = np.array([1, 1, 0.6, 0.6], np.float32)
case("resize10_down_nearest", 10, [N("Resize", ["x", "s"], ["y"], mode="nearest")],
     [("x", x)], [("y", np.array([[[[1, 3]]]], np.float32))], inits=[("s", down)])
case("resize10_down_linear", 10, [N("Resize", ["x", "s"], ["y"], mode="linear")],
     [("x", x)], [("y", upsample_linear(x, down))], inits=[("s", down)])

# Dropout-7 (ratio attribute) and Dropout-1 (is_test): identity in inference.
x = randf(2, 5)
case("dropout7", 7, [N("Dropout", ["x"], ["y"], ratio=0.3)], [("x", x)], [("y", x)])
case("dropout1", 1, [N("Dropout", ["x"], ["y"], ratio=0.3, is_test=1)], [("x", x)], [("y", x)])

# BatchNormalization-6 (is_test, spatial) and -1 (consumed_inputs), 5 outputs
# of which only Y is read.
x = randf(2, 3, 2, 2)
s, b, mu, var = randf(3), randf(3), randf(3), np.abs(randf(3)) + 0.5
y = (x - mu.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5) * \
    s.reshape(1, 3, 1, 1) + b.reshape(1, 3, 1, 1)
bn_in = ["x", "s", "b", "mu", "var"]
inits = [("s", s), ("b", b), ("mu", mu), ("var", var)]
case("batchnorm6", 6, [N("BatchNormalization", bn_in, ["y", "m1", "v1", "sm", "sv"],
                         epsilon=1e-5, is_test=1, spatial=1, momentum=0.9)],
     [("x", x)], [("y", y)], inits=inits)
case("batchnorm1", 1, [N("BatchNormalization", bn_in, ["y"], epsilon=1e-5, is_test=1,
                         consumed_inputs=[0, 0, 0, 1, 1])],
     [("x", x)], [("y", y)], inits=inits)

# Reshape-1 (shape attribute), Slice-1 (starts/ends/axes attributes),
# Concat-1 (axis defaults to 1), Cast-1 ('to' as a string).
x = randf(2, 3, 4)
case("reshape1", 1, [N("Reshape", ["x"], ["y"], shape=[4, -1])], [("x", x)],
     [("y", x.reshape(4, -1))])
case("slice1", 1, [N("Slice", ["x"], ["y"], starts=[1, 0], ends=[3, -1], axes=[2, 0])],
     [("x", x)], [("y", x[:-1, :, 1:3])])
a, b2 = randf(2, 3), randf(2, 2)
case("concat1_default_axis", 1, [N("Concat", ["a", "b"], ["y"])], [("a", a), ("b", b2)],
     [("y", np.concatenate([a, b2], axis=1))])
case("cast1_string_to", 1, [N("Cast", ["x"], ["y"], to="INT32")], [("x", x * 10)],
     [("y", (x * 10).astype(np.int32))])

# Legacy broadcasting (opset < 7): B aligned at `axis`, not at the end.
a, bb = randf(2, 3, 4, 5), randf(3, 4)
case("add6_broadcast_axis", 6, [N("Add", ["a", "b"], ["y"], broadcast=1, axis=1)],
     [("a", a), ("b", bb)], [("y", a + bb.reshape(1, 3, 4, 1))])
bw = randf(3)
case("mul6_broadcast_axis_const", 6, [N("Mul", ["a", "w"], ["y"], broadcast=1, axis=1)],
     [("a", a)], [("y", a * bw.reshape(1, 3, 1, 1))], inits=[("w", bw)])
b5 = randf(5)
case("sub6_broadcast_suffix", 6, [N("Sub", ["a", "b"], ["y"], broadcast=1)],
     [("a", a), ("b", b5)], [("y", a - b5)])
a2, w2, c2 = randf(2, 3), randf(3, 4), randf(4)
case("gemm6_broadcast", 6, [N("Gemm", ["a", "w", "c"], ["y"], broadcast=1, alpha=0.5, beta=2.0)],
     [("a", a2)], [("y", 0.5 * a2 @ w2 + 2.0 * c2)], inits=[("w", w2), ("c", c2)])

# Softmax-11: coerced to 2-D at `axis` (kept as opset 11 for the kernel).
x = randf(2, 3, 4)
e = np.exp(x.reshape(2, 12) - x.reshape(2, 12).max(axis=1, keepdims=True))
case("softmax11_axis1", 11, [N("Softmax", ["x"], ["y"], axis=1)], [("x", x)],
     [("y", (e / e.sum(axis=1, keepdims=True)).reshape(2, 3, 4))], ir=6)

# Constant-1 (value tensor) and Constant-12 (value_floats, value_int).
x = randf(3)
cv = randf(3)
case("constant1", 1, [N("Constant", [], ["c"], value=numpy_helper.from_array(cv)),
                      N("Add", ["x", "c"], ["y"])], [("x", x)], [("y", x + cv)])
case("constant12_floats", 12, [N("Constant", [], ["c"], value_floats=[1.0, 2.0, 3.0]),
                               N("Mul", ["x", "c"], ["y"])], [("x", x)],
     [("y", x * np.array([1, 2, 3], np.float32))], ir=7)
case("constant12_int_as_shape", 12,
     [N("Constant", [], ["s"], value_ints=[3, 1]), N("Reshape", ["x", "s"], ["y"])],
     [("x", x)], [("y", x.reshape(3, 1))], ir=7)
print("wrote old-opset tests into", OUT)
