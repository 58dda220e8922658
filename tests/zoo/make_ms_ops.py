#!/usr/bin/python3
"""make_ms_ops.py OUTDIR — backend-style tests of the com.microsoft quantized
ops (QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool,
QLinearConcat, QLinearSigmoid, QLinearLeakyRelu) with ONNX Runtime's outputs
as the reference (no ONNX node tests exist for them). Small graphs, random
int8 / uint8 data, constant scales and zero points. Run with
  skipserve-conformance --all-must-pass --int-atol 1 OUTDIR
(onnxruntime's SIMD paths use fixed-point multipliers and approximate
sigmoid tables; one quantization step is the documented difference —
also for two QDQ graphs around MatMul and Resize that onnxruntime fuses —
make test-zoo prints how many values differ at all).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
import ort_util  # noqa: E402

OUT = sys.argv[1]
rng = np.random.RandomState(5)
N = helper.make_node
MS = "com.microsoft"


def q(shape, dt):
    lo, hi = (0, 256) if dt == np.uint8 else (-128, 128)
    return rng.randint(lo, hi, size=shape).astype(dt)


def sc(v):
    return np.array(v, np.float32)


def zp(v, dt):
    return np.array(v, dt)


cases = []


def case(name, nodes, inputs, inits, out_name, out_type=None):
    """inputs: [(name, array)] fed at run time; inits: [(name, array)]."""
    d = os.path.join(OUT, "test_ms_" + name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    tt = lambda a: onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype]
    vin = [helper.make_tensor_value_info(n, tt(a), a.shape) for n, a in inputs]
    vout = [helper.make_tensor_value_info(out_name, out_type or tt(inputs[0][1]), None)]
    g = helper.make_graph(nodes, name, vin, vout,
                          initializer=[numpy_helper.from_array(a, n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid(MS, 1)])
    onnx.save(m, os.path.join(d, "model.onnx"))
    for k, (n, a) in enumerate(inputs):
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % k), "wb") as f:
            f.write(numpy_helper.from_array(a, n).SerializeToString())
    cases.append((d, dict(inputs), out_name))


for dt, tag in ((np.uint8, "u8"), (np.int8, "i8")):
    z = (128 if dt == np.uint8 else 0)
    for op in ("QLinearAdd", "QLinearMul"):
        for bshape, btag in (((1, 4, 5, 5), ""), ((1, 4, 1, 1), "_bcast")):
            case("%s_%s%s" % (op.lower(), tag, btag),
                 [N(op, ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["c"], domain=MS)],
                 [("a", q((1, 4, 5, 5), dt)), ("b", q(bshape, dt))],
                 [("as", sc(0.05)), ("az", zp(z + 3, dt)), ("bs", sc(0.02)),
                  ("bz", zp(z - 7, dt)), ("cs", sc(0.07 if op == "QLinearAdd" else 0.9)),
                  ("cz", zp(z + 1, dt))], "c")
    case("qlinearglobalaveragepool_" + tag,
         [N("QLinearGlobalAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS,
            channels_last=0)],
         [("x", q((2, 3, 7, 7), dt))],
         [("xs", sc(0.1)), ("xz", zp(z + 5, dt)), ("ys", sc(0.03)), ("yz", zp(z - 2, dt))], "y")
    for cip in (0, 1):
        case("qlinearaveragepool_%s_cip%d" % (tag, cip),
             [N("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS,
                kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                count_include_pad=cip)],
             [("x", q((1, 3, 8, 8), dt))],
             [("xs", sc(0.1)), ("xz", zp(z + 5, dt)), ("ys", sc(0.08)),
              ("yz", zp(z - 2, dt))], "y")
    # power-of-two scales: exact .5 ties, where onnxruntime's rint(v + zp)
    # (zp odd) and rint(v) + zp differ — _QAvgPool rounds as onnxruntime
    case("qlinearaveragepool_%s_pow2" % tag,
         [N("QLinearAveragePool", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS,
            kernel_shape=[2, 2], strides=[2, 2])],
         [("x", q((1, 4, 8, 8), dt))],
         [("xs", sc(0.0625)), ("xz", zp(z + 5, dt)), ("ys", sc(0.125)),
          ("yz", zp(z - 3, dt))], "y")
    case("qlinearconcat_" + tag,
         [N("QLinearConcat", ["ys", "yz", "x1", "s1", "z1", "x2", "s2", "z2", "x3", "s3", "z3"],
            ["y"], domain=MS, axis=1)],
         [("x1", q((1, 2, 4, 4), dt)), ("x2", q((1, 3, 4, 4), dt)), ("x3", q((1, 1, 4, 4), dt))],
         [("ys", sc(0.05)), ("yz", zp(z, dt)), ("s1", sc(0.05)), ("z1", zp(z, dt)),
          ("s2", sc(0.11)), ("z2", zp(z + 9, dt)), ("s3", sc(0.013)), ("z3", zp(z - 20, dt))], "y")
    case("qlinearsigmoid_" + tag,
         [N("QLinearSigmoid", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS)],
         [("x", np.arange(256).astype(np.int64).astype(dt).reshape(1, 256))],
         [("xs", sc(0.05)), ("xz", zp(z + 3, dt)), ("ys", sc(1 / 256.0)),
          ("yz", zp(0 if dt == np.uint8 else -128, dt))], "y")
    case("qlinearleakyrelu_" + tag,
         [N("QLinearLeakyRelu", ["x", "xs", "xz", "ys", "yz"], ["y"], domain=MS, alpha=0.1)],
         [("x", np.arange(256).astype(np.int64).astype(dt).reshape(1, 256))],
         [("xs", sc(0.05)), ("xz", zp(z + 3, dt)), ("ys", sc(0.04)), ("yz", zp(z - 30, dt))],
         "y")

# QDQ around MatMul (int8 weights per column) and Resize (nearest and
# linear): onnxruntime fuses DQ -> MatMul -> Q into its integer kernel and
# moves Resize into the quantized domain; skipserve runs the graph as written.
xm = (rng.randn(2, 3, 8) * 2).astype(np.float32).reshape(1, 2, 3, 8)
wm = rng.randint(-127, 128, size=(8, 6)).astype(np.int8)
for mode in ("nearest", "linear"):
    case("qdq_matmul_resize_" + mode,
         [N("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
          N("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
          N("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=1),
          N("MatMul", ["xd", "wd"], ["m"]),
          N("QuantizeLinear", ["m", "ms", "mz"], ["mq"]),
          N("DequantizeLinear", ["mq", "ms", "mz"], ["md"]),
          N("Resize", ["md", "", "scales"], ["r"], mode=mode),
          N("QuantizeLinear", ["r", "ms", "mz"], ["y"])],
         [("x", xm)],
         [("xs", sc(0.03)), ("xz", np.uint8(128)), ("w", wm),
          ("ws", np.linspace(0.005, 0.02, 6).astype(np.float32)), ("wz", np.zeros(6, np.int8)),
          ("ms", sc(0.2)), ("mz", np.uint8(120)),
          ("scales", np.array([1, 1, 2, 2], np.float32))], "y", TensorProto.UINT8)

# QDQ linear Resize as the U-Net's decoder has it (2x half_pixel; y_scale a
# little off x_scale) and align_corners by sizes: skipserve's _QResize
# (fixed-point weights) within one step of onnxruntime
for dt, tag in ((np.uint8, "u8"), (np.int8, "i8")):
    z = (0 if dt == np.uint8 else -10)
    for coord, key, val in (("half_pixel", "scales", np.array([1, 1, 2, 2], np.float32)),
                            ("align_corners", "sizes", np.array([1, 3, 11, 17], np.int64))):
        case("qdq_resize_linear_%s_%s" % (coord, tag),
             [N("DequantizeLinear", ["x", "xs", "xz"], ["xd"]),
              N("Resize", ["xd", "", "scales" if key == "scales" else "", key][:3 + (key == "sizes")],
                ["r"], mode="linear", coordinate_transformation_mode=coord),
              N("QuantizeLinear", ["r", "ys", "yz"], ["y"])],
             [("x", q((1, 3, 6, 9), dt))],
             [("xs", sc(0.0026027)), ("xz", zp(z, dt)), ("ys", sc(0.0025977)), ("yz", zp(z, dt)),
              (key, val)], "y")

# (session 17) depthwise convs (group == C == M), what MobileNet holds: the
# QOperator QLinearConv and the QDQ Conv -> Clip(0, 6) -> Q form, uint8 and
# int8 activations, 3x3 stride 1 and 2 (odd sizes), 5x5, channels around the
# vector widths; skipserve runs them on its int8 depthwise kernel
for dt, tag in ((np.uint8, "u8"), (np.int8, "i8")):
    z = 128 if dt == np.uint8 else 3
    for C, k, s, p, H, W in ((24, 3, 1, 1, 9, 11), (40, 3, 2, 1, 13, 9), (19, 5, 1, 2, 7, 8)):
        w = rng.randint(-127, 128, size=(C, 1, k, k)).astype(np.int8)
        ws = np.linspace(0.002, 0.02, C).astype(np.float32)
        b = rng.randint(-3000, 3000, size=C).astype(np.int32)
        geo = dict(group=C, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])
        case("qlinearconv_dw_%s_c%d_k%d_s%d" % (tag, C, k, s),
             [N("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                **geo)],
             [("x", q((2, C, H, W), dt))],
             [("xs", sc(0.02)), ("xz", zp(z, dt)), ("w", w), ("ws", ws),
              ("wz", np.zeros(C, np.int8)), ("ys", sc(0.05)), ("yz", zp(z - 5, dt)), ("b", b)], "y")
        case("qdq_dwconv_relu6_%s_c%d_k%d_s%d" % (tag, C, k, s),
             [N("DequantizeLinear", ["x", "xs", "xz"], ["xd"]),
              N("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
              N("DequantizeLinear", ["b", "bs", "bz"], ["bd"], axis=0),
              N("Conv", ["xd", "wd", "bd"], ["c"], **geo),
              N("Clip", ["c", "lo", "hi"], ["r"]),
              N("QuantizeLinear", ["r", "ys", "yz"], ["y"])],
             [("x", q((2, C, H, W), dt))],
             [("xs", sc(0.02)), ("xz", zp(z, dt)), ("w", w), ("ws", ws),
              ("wz", np.zeros(C, np.int8)), ("b", b), ("bs", (0.02 * ws).astype(np.float32)),
              ("bz", np.zeros(C, np.int32)), ("lo", sc(0.0)), ("hi", sc(6.0)),
              # 0.03 and zero point 5 / -100: ReLU6 is a clamp to [5, 205] /
              # [-100, 100], inside the type, so the folded clamp (fast_qconv.c
              # lut_clamp) moves the bounds (6/255 and 0 / -128 would make it
              # the identity)
              ("ys", sc(0.03)), ("yz", zp(5 if dt == np.uint8 else -100, dt))], "y")

ort_util.ensure_ort()
res = ort_util.run_ort([(os.path.join(d, "model.onnx"), feeds, d) for d, feeds, _ in cases])
bad = 0
for (d, _, oname), r in zip(cases, res):
    if r is None:
        print("make_ms_ops: onnxruntime failed on %s" % d, file=sys.stderr)
        bad += 1
        continue
    with open(os.path.join(d, "test_data_set_0", "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(r[0], oname).SerializeToString())
    for fn in os.listdir(d):
        if fn.startswith("ort"):
            os.unlink(os.path.join(d, fn))
sys.exit(1 if bad else 0)
