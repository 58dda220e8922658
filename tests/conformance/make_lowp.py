#!/usr/bin/python3
"""make_lowp.py OUTDIR — backend-style tests for float16 / bfloat16 that the
ONNX 1.12 node tests do not cover, with references computed here by numpy
(float16: IEEE round-to-nearest-even, float64 -> float16 in one rounding) and
a nearest-candidate search in float64 (bfloat16: round-to-nearest-even; ONNX
1.12's own bfloat16 test data truncates and is stored as uint16, see
README.md).

Edge values: ties at every exponent, subnormals, the float16 overflow
threshold (65504 / 65519.99 / 65520), inf, NaN, -0, float64 values whose
float32 rounding would make a false tie. Also a float16 model (float16
initializers, a float16 graph input fed float16 data, float16 outputs made
by Cast). Each test is OUTDIR/test_lowp_<name>/...; run with
  skipserve-conformance --all-must-pass OUTDIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
np.seterr(over="ignore")  # float16 overflow to inf is what is tested
rng = np.random.RandomState(11)
N = helper.make_node
BF16 = TensorProto.BFLOAT16


def bf16_bits(a):
    """float32 array -> bfloat16 bits, nearest-even: of the two bfloat16
    neighbours (the truncation and the next one away from zero), the one
    nearer in exact float64 arithmetic; on a tie the one with an even last
    bit. The largest finite neighbour's successor is inf (0x7f80)."""
    a = np.ascontiguousarray(a, dtype=np.float32).ravel()
    out = np.zeros(a.shape, np.uint16)
    for i, v in enumerate(a):
        u = int(np.array(v, np.float32).view(np.uint32))
        if np.isnan(v):
            out[i] = (u >> 16) | 0x40
            continue
        lo = u >> 16
        hi = lo + 1
        if np.isinf(v) or (u & 0xffff) == 0:
            out[i] = lo
            continue
        def val(b):
            f = np.array(b << 16, np.uint32).view(np.float32)
            return abs(float(f)) if not np.isinf(f) else 2.0 ** 128
        dlo, dhi = abs(abs(float(v)) - val(lo)), abs(val(hi) - abs(float(v)))
        out[i] = lo if dlo < dhi or (dlo == dhi and lo % 2 == 0) else hi
    return out


def bf16_value(a):
    return (bf16_bits(a).astype(np.uint32) << 16).view(np.float32)


def tensor(name, a):
    """(ndarray) or ('bf16', bits) -> TensorProto."""
    if isinstance(a, tuple):
        bits = a[1]
        t = TensorProto(name=name, data_type=BF16, dims=list(bits.shape))
        t.raw_data = bits.astype("<u2").tobytes()
        return t
    return numpy_helper.from_array(a, name)


def ttype(a):
    if isinstance(a, tuple):
        return BF16
    return onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype]


def shape(a):
    return list(a[1].shape if isinstance(a, tuple) else a.shape)


def case(name, opset, nodes, inputs, outputs, inits=()):
    d = os.path.join(OUT, "test_lowp_" + name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    vin = [helper.make_tensor_value_info(n, ttype(a), shape(a)) for n, a in inputs]
    vout = [helper.make_tensor_value_info(n, ttype(a), None) for n, a in outputs]
    g = helper.make_graph(nodes, name, vin, vout, initializer=[tensor(n, a) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(m, os.path.join(d, "model.onnx"))
    for kind, lst in (("input", inputs), ("output", outputs)):
        for k, (n, a) in enumerate(lst):
            with open(os.path.join(d, "test_data_set_0", "%s_%d.pb" % (kind, k)), "wb") as f:
                f.write(tensor(n, a).SerializeToString())


def f32(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


# float32 values around every float16 rounding rule.
e = [1.0, 1.0 + 2**-11, 1.0 + 3 * 2**-11, 1.0 + 2**-11 + 2**-20, 2048.0 + 1, 2048.0 + 3,
     65504.0, 65519.99, 65520.0, 70000.0, -65520.0, 2**-14, 2**-24, 2**-25, 1.5 * 2**-25,
     3 * 2**-25, 2**-26, 2**-14 - 2**-25, 2**-14 - 2**-26, -2**-24 * 5.5, 0.0, -0.0,
     np.inf, -np.inf, np.nan, 1e-10, -1e-10, 0.1, 1 / 3]
edges = np.array(e, dtype=np.float32)
edges = np.concatenate([edges, -edges, rng.randn(64).astype(np.float32) * 1000,
                        rng.randn(64).astype(np.float32) * 1e-5])
case("cast_f32_to_f16_edges", 13, [N("Cast", ["x"], ["y"], to=TensorProto.FLOAT16)],
     [("x", edges)], [("y", edges.astype(np.float16))])
case("cast_f32_to_f16_to_f32", 13,
     [N("Cast", ["x"], ["h"], to=TensorProto.FLOAT16), N("Cast", ["h"], ["y"], to=1)],
     [("x", edges)], [("y", edges.astype(np.float16).astype(np.float32))])

# float64 -> float16 in one rounding: 1 + 2^-11 + 2^-40 is above the tie, but
# rounds to the tie 1 + 2^-11 in float32 (which would then round down).
d = np.array([1 + 2**-11 + 2**-40, 1 + 2**-11 - 2**-40, 1 + 3 * 2**-11 - 2**-40,
              2**-25 + 2**-60, 65520 - 2**-30, 1e300, -1e300, 1e-300], dtype=np.float64)
d = np.concatenate([d, rng.randn(32) * 10])
case("cast_f64_to_f16_single_rounding", 13, [N("Cast", ["x"], ["y"], to=TensorProto.FLOAT16)],
     [("x", d)], [("y", d.astype(np.float16))])

# bfloat16: ties (odd and even), overflow to inf, NaN, subnormals.
b = f32([0x3f808000, 0x3f818000, 0x3f808001, 0x3f817fff, 0x7f7fffff, 0x7f7f8000, 0xff7f8000,
         0x00008000, 0x00018000, 0x00000001, 0x80000000])
b = np.concatenate([b, edges[np.isfinite(edges)], np.array([np.inf, -np.inf], np.float32)])
case("cast_f32_to_bf16", 13, [N("Cast", ["x"], ["y"], to=BF16)], [("x", b)],
     [("y", ("bf16", bf16_bits(b)))])
case("cast_bf16_to_f32", 13, [N("Cast", ["x"], ["y"], to=1)],
     [("x", ("bf16", bf16_bits(b)))],
     [("y", bf16_value(b))])
like = ("bf16", bf16_bits(np.zeros(1, np.float32)))
case("castlike_f32_to_bf16", 15, [N("CastLike", ["x", "like"], ["y"])],
     [("x", b), ("like", like)], [("y", ("bf16", bf16_bits(b)))])
case("castlike_f32_to_f16_initializer", 15, [N("CastLike", ["x", "like"], ["y"])],
     [("x", edges)], [("y", edges.astype(np.float16))],
     inits=[("like", np.zeros(1, np.float16))])

# A float16 graph: float16 input and weights, computed as float32 and cast
# back to float16 at the end (as an fp16 model with float32 islands is).
x = (rng.randn(2, 8) * 3).astype(np.float16)
w = (rng.randn(8, 5) * 0.5).astype(np.float16)
bias = rng.randn(5).astype(np.float16)
y = x.astype(np.float32) @ w.astype(np.float32) + bias.astype(np.float32)
case("f16_graph", 13,
     [N("Cast", ["x"], ["xf"], to=1), N("Cast", ["w"], ["wf"], to=1),
      N("Cast", ["b"], ["bf"], to=1), N("MatMul", ["xf", "wf"], ["m"]),
      N("Add", ["m", "bf"], ["s"]), N("Cast", ["s"], ["y"], to=TensorProto.FLOAT16)],
     [("x", x)], [("y", y.astype(np.float16))], inits=[("w", w), ("b", bias)])
# a bfloat16 initializer read through int32_data (one bit pattern per int32)
wb = rng.randn(6).astype(np.float32)
bits = bf16_bits(wb)
d = os.path.join(OUT, "test_lowp_bf16_int32_data")
os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
init = TensorProto(name="w", data_type=BF16, dims=[6])
init.int32_data.extend(int(v) for v in bits)
xin = rng.randn(6).astype(np.float32)
g = helper.make_graph([N("Cast", ["w"], ["wf"], to=1), N("Add", ["x", "wf"], ["y"])], "bf16i32",
                      [helper.make_tensor_value_info("x", 1, [6])],
                      [helper.make_tensor_value_info("y", 1, [6])], initializer=[init])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
          os.path.join(d, "model.onnx"))
ref = xin + bf16_value(wb)
for kind, n, a in (("input", "x", xin), ("output", "y", ref)):
    with open(os.path.join(d, "test_data_set_0", kind + "_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(a, n).SerializeToString())
