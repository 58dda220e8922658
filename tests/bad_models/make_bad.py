#!/usr/bin/python3
"""make_bad.py OUTDIR — write malformed ONNX models that skipserve-run must refuse.

Each case is a small model (plus an input .pb where the refusal can only come
at plan time). run.sh lists the cases with the message each must produce.
Written at test time so no binaries are committed."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def save(name, model):
    onnx.save(model, os.path.join(OUT, name))


def model(nodes, inputs, outputs, inits=(), opset=13, ir=8):
    g = helper.make_graph(nodes, "bad", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def vi(name, dims, et=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, et, dims)


def write_pb(name, arr, tname):
    t = numpy_helper.from_array(arr, tname)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(t.SerializeToString())


# A valid model, the base for the byte-level damage below.
good = model([helper.make_node("Relu", ["x"], ["r"], name="relu1"),
              helper.make_node("Sigmoid", ["r"], ["y"], name="sig1")],
             [vi("x", [1, 4])], [vi("y", [1, 4])])
save("good.onnx", good)
write_pb("good.input.pb", np.arange(4, dtype=np.float32).reshape(1, 4) - 2, "x")
raw = good.SerializeToString()

# Truncated: half of the bytes.
with open(os.path.join(OUT, "truncated.onnx"), "wb") as f:
    f.write(raw[: len(raw) // 2])

# Bit-flipped: the first single-bit flip (scanning from the start, top bit
# first) that makes the bytes undecodable as a ModelProto. Deterministic.
def undecodable(b):
    try:
        onnx.ModelProto().ParseFromString(b)
        return False
    except Exception:
        return True

flipped = None
for i in range(len(raw)):
    for bit in (7, 6, 5, 4, 3, 2, 1, 0):
        b = bytearray(raw)
        b[i] ^= 1 << bit
        if undecodable(bytes(b)):
            flipped = bytes(b)
            break
    if flipped:
        break
with open(os.path.join(OUT, "bitflip.onnx"), "wb") as f:
    f.write(flipped)

# Bit-flipped op name: 'Relu' -> 'relu' (bit 5 of 'R').
b = bytearray(raw)
i = raw.index(b"Relu")
b[i] ^= 0x20
with open(os.path.join(OUT, "bitflip_op.onnx"), "wb") as f:
    f.write(bytes(b))

# Empty file.
open(os.path.join(OUT, "empty.onnx"), "wb").close()

# Two unsupported ops: one message must list both, with node names.
save("unsupported.onnx", model(
    [helper.make_node("Foo", ["x"], ["a"], name="n1"),
     helper.make_node("Relu", ["a"], ["b"], name="ok"),
     helper.make_node("Bar", ["b"], ["y"], name="n2")],
    [vi("x", [1, 4])], [vi("y", [1, 4])]))

# Custom domain.
save("custom_domain.onnx", model(
    [helper.make_node("Gelu", ["x"], ["y"], name="g1", domain="com.example")],
    [vi("x", [1, 4])], [vi("y", [1, 4])]))

# Conv weight channels (2) do not match the input (3): the planner refuses.
w = numpy_helper.from_array(np.ones((4, 2, 3, 3), np.float32), "w")
save("conv_mismatch.onnx", model(
    [helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", kernel_shape=[3, 3])],
    [vi("x", [1, 3, 8, 8])], [vi("y", None)], inits=[w]))
write_pb("conv_mismatch.input.pb", np.ones((1, 3, 8, 8), np.float32), "x")

# A pool window of 1.6e9 taps (pads keep the output at 9x9): without a cap
# this is 1.3e11 steps of work from a 200-byte model; refused at plan time.
save("pool_huge_window.onnx", model(
    [helper.make_node("MaxPool", ["x"], ["y"], name="pool1", kernel_shape=[40000, 40000],
                      pads=[20000, 20000, 20000, 20000])],
    [vi("x", [1, 1, 8, 8])], [vi("y", None)]))
write_pb("pool_huge_window.input.pb", np.ones((1, 1, 8, 8), np.float32), "x")

# Dims whose product overflows (each dim alone is plausible).
save("overflow_input.onnx", model([helper.make_node("Relu", ["x"], ["y"])],
                                  [vi("x", [1 << 21, 1 << 21, 1 << 21])], [vi("y", None)]))
big = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 30, 1 << 30, 1 << 30])
save("overflow_init.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])],
                                 [vi("x", [1])], [vi("y", None)], inits=[big]))

# Negative and absurd dims.
save("negative_dim.onnx", model([helper.make_node("Relu", ["x"], ["y"])],
                                [vi("x", [-3, 4])], [vi("y", None)]))
absurd = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 50])
save("absurd_dim.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])],
                              [vi("x", [1])], [vi("y", None)], inits=[absurd]))

# raw_data shorter than the shape needs.
short = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3], raw_data=b"\0" * 20)
save("raw_size.onnx", model([helper.make_node("Add", ["x", "w"], ["y"])],
                            [vi("x", [2, 3])], [vi("y", None)], inits=[short]))

# A cycle: b = Add(x, c); c = Relu(b).
save("cycle.onnx", model(
    [helper.make_node("Add", ["x", "c"], ["b"], name="add1"),
     helper.make_node("Relu", ["b"], ["c"], name="relu1")],
    [vi("x", [1, 4])], [vi("c", [1, 4])]))

# A node reads a value nothing defines.
save("undefined_input.onnx", model(
    [helper.make_node("Add", ["x", "ghost"], ["y"], name="add1")],
    [vi("x", [1, 4])], [vi("y", [1, 4])]))

# An attribute whose type says TENSOR but that holds no tensor (found by
# tests/fuzz: the loader dereferenced the missing tensor and crashed).
cos = helper.make_node("ConstantOfShape", ["x"], ["y"], name="cos1")
a = cos.attribute.add()
a.name = "value"
a.type = onnx.AttributeProto.TENSOR
save("tensor_attr_empty.onnx", model([cos], [vi("x", [2], TensorProto.INT64)], [vi("y", None)]))

# An input type skipserve does not compute in (float16 is, since issue 19).
save("uint16_input.onnx", model([helper.make_node("Relu", ["x"], ["y"])],
                                [vi("x", [1, 4], TensorProto.UINT16)],
                                [vi("y", None, TensorProto.UINT16)]))


# --- quantized models with bad parameters (issue 19): refused when the graph
# is planned (the server plans at load), each with one line naming the node.
def qmodel(name, nodes, inits, x_dtype=np.float32, shape=(1, 4, 2, 2), opset=13, out_et=None):
    et = onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[np.dtype(x_dtype)]
    save(name + ".onnx", model(nodes, [vi("x", list(shape), et)],
                               [vi("y", None, out_et or TensorProto.UINT8)],
                               inits=[numpy_helper.from_array(np.asarray(a), n)
                                      for n, a in inits], opset=opset))
    write_pb(name + ".input.pb", np.ones(shape, x_dtype), "x")


Q = helper.make_node
qmodel("q_zero_scale", [Q("QuantizeLinear", ["x", "s", "z"], ["y"], name="q1")],
       [("s", np.float32(0)), ("z", np.uint8(0))])
qmodel("q_zp_int32", [Q("QuantizeLinear", ["x", "s", "z"], ["y"], name="q2")],
       [("s", np.float32(0.1)), ("z", np.int32(0))])
qmodel("dq_zp_mismatch", [Q("DequantizeLinear", ["x", "s", "z"], ["y"], name="dq1")],
       [("s", np.float32(0.1)), ("z", np.uint8(0))], x_dtype=np.int8,
       out_et=TensorProto.FLOAT)
qmodel("q_axis_range", [Q("QuantizeLinear", ["x", "s", "z"], ["y"], name="q3", axis=5)],
       [("s", np.full(4, 0.1, np.float32)), ("z", np.zeros(4, np.uint8))])
qmodel("dq_scale_length", [Q("DequantizeLinear", ["x", "s", "z"], ["y"], name="dq2")],
       [("s", np.full(3, 0.1, np.float32)), ("z", np.zeros(3, np.int8))], x_dtype=np.int8,
       out_et=TensorProto.FLOAT)
qmodel("q_blocked", [Q("QuantizeLinear", ["x", "s", "z"], ["y"], name="q4", axis=1,
                       block_size=2)],
       [("s", np.full((1, 2, 2, 2), 0.1, np.float32)), ("z", np.zeros((1, 2, 2, 2), np.uint8))],
       opset=21)
qmodel("qlinearconv_w_scale_length",
       [Q("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], name="qc1")],
       [("xs", np.float32(0.1)), ("xz", np.uint8(0)), ("w", np.ones((4, 4, 1, 1), np.int8)),
        ("ws", np.full(3, 0.1, np.float32)), ("wz", np.zeros(3, np.int8)),
        ("ys", np.float32(0.1)), ("yz", np.uint8(0))], x_dtype=np.uint8)
# float8 weights: not an engine dtype (load error naming the type)
f8 = TensorProto(name="w8", data_type=17, dims=[4])
f8.raw_data = bytes(4)
save("dq_float8.onnx", model(
    [helper.make_node("DequantizeLinear", ["w8", "s"], ["y"], name="dq3")],
    [vi("x", [4])], [vi("y", None)],
    inits=[f8, numpy_helper.from_array(np.float32(0.1), "s")], opset=19))
# a com.microsoft op written in the default domain
save("ms_op_default_domain.onnx", model(
    [helper.make_node("QLinearSigmoid", ["x", "s", "z", "s", "z"], ["y"], name="qs1")],
    [vi("x", [4], TensorProto.UINT8)], [vi("y", None, TensorProto.UINT8)],
    inits=[numpy_helper.from_array(np.float32(0.1), "s"),
           numpy_helper.from_array(np.uint8(0), "z")]))


def ext_model(name, location, nbytes_file, offset=0):
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4])
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", "64")):
        e = t.external_data.add()
        e.key, e.value = k, v
    save(name, model([helper.make_node("Add", ["x", "w"], ["y"])],
                     [vi("x", [4, 4])], [vi("y", None)], inits=[t]))
    if nbytes_file is not None:
        with open(os.path.join(OUT, location), "wb") as f:
            f.write(b"\0" * nbytes_file)


ext_model("ext_missing.onnx", "no_such_weights.bin", None)
ext_model("ext_short.onnx", "short_weights.bin", 40)
ext_model("ext_offset.onnx", "offset_weights.bin", 64, offset=32)
ext_model("ext_escape.onnx", "../escape_weights.bin", None)
ext_model("ext_absolute.onnx", "/etc/passwd", None)
print("wrote bad models into", OUT)
