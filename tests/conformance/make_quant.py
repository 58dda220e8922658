#!/usr/bin/python3
"""make_quant.py OUTDIR — backend-style tests of the quantization forms the
ONNX 1.12 node tests do not cover, with numpy references written from the
operator definitions (integers in int64, the requantization multiplier
x_scale * w_scale / y_scale in float32 as onnxruntime computes it, rounding
half to even by np.rint):
  QuantizeLinear-19 / -21 per axis, int8, ties and saturation, output_dtype,
  a float16 scale; DequantizeLinear-21 per axis 0, int32 (bias) input;
  QLinearConv with int8 weights per output channel, bias, stride, padding,
  groups (depthwise), int8 activations; QLinearMatMul with per-column b;
  MatMulInteger with per-row a / per-column b zero points; ConvInteger with
  per-channel weight zero points.
Each test is OUTDIR/test_quant_<name>/...; run with
  skipserve-conformance --all-must-pass OUTDIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1]
rng = np.random.RandomState(19)
N = helper.make_node
f32 = np.float32


def case(name, opset, nodes, inputs, outputs, inits=()):
    d = os.path.join(OUT, "test_quant_" + name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    tt = lambda a: onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype]
    vin = [helper.make_tensor_value_info(n, tt(a), a.shape) for n, a in inputs]
    vout = [helper.make_tensor_value_info(n, tt(a), None) for n, a in outputs]
    g = helper.make_graph(nodes, name, vin, vout,
                          initializer=[numpy_helper.from_array(a, n) for n, a in inits])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)]),
              os.path.join(d, "model.onnx"))
    for kind, lst in (("input", inputs), ("output", outputs)):
        for k, (n, a) in enumerate(lst):
            with open(os.path.join(d, "test_data_set_0", "%s_%d.pb" % (kind, k)), "wb") as f:
                f.write(numpy_helper.from_array(a, n).SerializeToString())


def bshape(s, axis, rank):
    sh = [1] * rank
    sh[axis] = -1
    return np.asarray(s).reshape(sh)


def quant(x, s, z, dt, axis=1):
    lo, hi = (-128, 127) if dt == np.int8 else (0, 255)
    s = f32(s) if np.ndim(s) == 0 else bshape(s.astype(f32), axis, x.ndim)
    z = z if np.ndim(z) == 0 else bshape(z, axis, x.ndim)
    q = np.rint((x.astype(f32) / s).astype(f32)).astype(np.int64) + np.asarray(z, np.int64)
    return np.clip(q, lo, hi).astype(dt)


# QuantizeLinear-19 per axis, int8: exact ties (x = (k + 0.5) * s) and saturation
s = np.array([0.5, 0.25, 2.0], f32)
z = np.array([0, -3, 100], np.int8)
x = np.concatenate([(np.arange(-6, 6) + 0.5).reshape(1, 1, 12) * bshape(s, 1, 3),
                    (rng.randn(1, 3, 12) * 300).astype(f32)], axis=2).astype(f32)
case("q19_axis_int8_ties", 19, [N("QuantizeLinear", ["x", "s", "z"], ["y"], axis=1)],
     [("x", x)], [("y", quant(x, s, z, np.int8))], inits=[("s", s), ("z", z)])
# axis = -1 (last axis)
s3 = np.array([0.1, 0.2, 0.3, 0.4], f32)
x3 = (rng.randn(2, 3, 4) * 20).astype(f32)
case("q13_axis_last_uint8", 13, [N("QuantizeLinear", ["x", "s", "z"], ["y"], axis=-1)],
     [("x", x3)], [("y", quant(x3, s3, np.array([0, 10, 128, 255], np.uint8), np.uint8, 2))],
     inits=[("s", s3), ("z", np.array([0, 10, 128, 255], np.uint8))])
# QuantizeLinear-21 without a zero point: output_dtype says int8
xs = (rng.randn(5, 6) * 4).astype(f32)
case("q21_output_dtype_int8", 21,
     [N("QuantizeLinear", ["x", "s"], ["y"], output_dtype=TensorProto.INT8)],
     [("x", xs)], [("y", quant(xs, f32(0.05), 0, np.int8))], inits=[("s", f32(0.05))])
# a float16 scale (held as float32 by skipserve: the same value)
sh = np.float16(0.0999755859375)
case("q19_f16_scale", 19, [N("QuantizeLinear", ["x", "s", "z"], ["y"])],
     [("x", xs)], [("y", quant(xs, f32(sh), np.uint8(128), np.uint8))],
     inits=[("s", np.array(sh, np.float16)), ("z", np.uint8(128))])
# DequantizeLinear-21 per axis 0, int8; and an int32 (bias) input
q = rng.randint(-128, 128, size=(3, 5)).astype(np.int8)
sd = np.array([0.5, 0.01, 3.0], f32)
zd = np.array([1, -2, 0], np.int8)
case("dq21_axis0_int8", 21, [N("DequantizeLinear", ["x", "s", "z"], ["y"], axis=0)],
     [("x", q)], [("y", ((q.astype(np.int32) - zd.reshape(3, 1)).astype(f32) * sd.reshape(3, 1)))],
     inits=[("s", sd), ("z", zd)])
qb = rng.randint(-100000, 100000, size=(7,)).astype(np.int32)
case("dq13_int32", 13, [N("DequantizeLinear", ["x", "s"], ["y"])],
     [("x", qb)], [("y", qb.astype(f32) * f32(0.001))], inits=[("s", f32(0.001))])


def conv_int(x, w, xz, wz, stride, pad, group):
    """int64 direct convolution of (x - xz) and (w - wz[m]), NCHW."""
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64) - int(xz), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    wi = w.astype(np.int64) - np.asarray(wz, np.int64).reshape(-1, 1, 1, 1)
    y = np.zeros((n, m, oh, ow), np.int64)
    mg = m // group
    for o in range(m):
        gi = o // mg
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, gi * cg:(gi + 1) * cg, i:i + stride * oh:stride, j:j + stride * ow:stride]
                y[:, o] += np.einsum("nchw,c->nhw", patch, wi[o, :, i, j])
    return y


def requant(acc, mult, yz, dt):
    lo, hi = (-128, 127) if dt == np.int8 else (0, 255)
    v = np.rint((acc.astype(f32) * mult).astype(f32)).astype(np.int64) + int(yz)
    return np.clip(v, lo, hi).astype(dt)


for name, xdt, group, cin, cout in (("qlinearconv_perchannel", np.uint8, 1, 3, 4),
                                     ("qlinearconv_int8x_depthwise", np.int8, 4, 4, 4)):
    lo, hi = (0, 256) if xdt == np.uint8 else (-128, 128)
    x = rng.randint(lo, hi, size=(2, cin, 7, 6)).astype(xdt)
    w = rng.randint(-127, 128, size=(cout, cin // group, 3, 3)).astype(np.int8)
    xs_, xz_ = f32(0.02), xdt(7 if xdt == np.uint8 else -5)
    ws_ = np.array([0.01, 0.003, 0.02, 0.007], f32)
    wz_ = np.zeros(cout, np.int8)
    ys_, yz_ = f32(0.05), xdt(120 if xdt == np.uint8 else 3)
    b = rng.randint(-2000, 2000, size=(cout,)).astype(np.int32)
    acc = conv_int(x, w, xz_, wz_, 2, 1, group) + b.reshape(1, -1, 1, 1)
    mult = (xs_ * ws_ / ys_).astype(f32).reshape(1, -1, 1, 1)
    y = requant(acc, mult, yz_, xdt)
    case(name, 10, [N("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                      strides=[2, 2], pads=[1, 1, 1, 1], group=group, kernel_shape=[3, 3])],
         [("x", x)], [("y", y)],
         inits=[("xs", xs_), ("xz", xz_), ("w", w), ("ws", ws_), ("wz", wz_), ("ys", ys_),
                ("yz", yz_), ("b", b)])

# ConvInteger with a per-channel weight zero point
x = rng.randint(0, 256, size=(1, 2, 5, 5)).astype(np.uint8)
w = rng.randint(0, 256, size=(3, 2, 2, 2)).astype(np.uint8)
wz = np.array([128, 0, 17], np.uint8)
case("convinteger_wzp_perchannel", 10, [N("ConvInteger", ["x", "w", "xz", "wz"], ["y"])],
     [("x", x)], [("y", conv_int(x, w, 9, wz, 1, 0, 1).astype(np.int32))],
     inits=[("w", w), ("xz", np.uint8(9)), ("wz", wz)])

# QLinearMatMul with int8 b per column; MatMulInteger with per-row / per-column zero points
a = rng.randint(0, 256, size=(2, 3, 8)).astype(np.uint8)
bm = rng.randint(-128, 128, size=(8, 5)).astype(np.int8)
bs = np.array([0.01, 0.02, 0.005, 0.03, 0.015], f32)
acc = np.einsum("bmk,kn->bmn", a.astype(np.int64) - 100, bm.astype(np.int64))
case("qlinearmatmul_b_percolumn", 10,
     [N("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
     [("a", a)], [("y", requant(acc, (f32(0.03) * bs / f32(0.2)).astype(f32), 128, np.uint8))],
     inits=[("as", f32(0.03)), ("az", np.uint8(100)), ("b", bm), ("bs", bs),
            ("bz", np.zeros(5, np.int8)), ("ys", f32(0.2)), ("yz", np.uint8(128))])
a2 = rng.randint(0, 256, size=(4, 6)).astype(np.uint8)
az = np.array([0, 1, 200, 255], np.uint8)
bz = np.array([-3, 0, 5], np.int8)
b2 = rng.randint(-128, 128, size=(6, 3)).astype(np.int8)
ref = (a2.astype(np.int64) - az.reshape(4, 1)) @ (b2.astype(np.int64) - bz.reshape(1, 3))
case("matmulinteger_row_col_zp", 10, [N("MatMulInteger", ["a", "b", "az", "bz"], ["y"])],
     [("a", a2)], [("y", ref.astype(np.int32))], inits=[("b", b2), ("az", az), ("bz", bz)])
