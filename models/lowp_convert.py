#!/usr/bin/python3
"""lowp_convert.py — convert a float32 ONNX CNN (Conv, ConvTranspose, Gemm,
Relu, Add, Concat, pools, Flatten) to the low-precision forms users bring,
with python3-onnx and numpy only (no onnxruntime quantizer here):

  fp16         every float tensor float16: weights, graph input and output
               (onnxconverter-common's float16 conversion)
  fp16w        float16 weights each followed by a Cast to float32 (an
               "FP16-weight" export; activations stay float32)
  qdq          QuantizeLinear/DequantizeLinear pairs (ORT's QuantFormat.QDQ):
               activations uint8 asymmetric per tensor from calibration
               ranges, weights int8 symmetric per output channel, biases
               int32 at scale x_scale * w_scale
  qop          QOperator form: QLinearConv, QLinearMatMul (Gemm: + float bias
               after a DequantizeLinear), com.microsoft QLinearAdd /
               QLinearConcat / QLinearAveragePool / QLinearGlobalAveragePool;
               a Relu after Conv/Add is folded into the output range;
               ConvTranspose runs float32 between DequantizeLinear and
               QuantizeLinear
  dynamic      ORT's dynamic form: DynamicQuantizeLinear + ConvInteger /
               MatMulInteger (uint8 weights per tensor, as ORT's CPU
               ConvInteger needs) + Cast + Mul by the scales + Add bias

Calibration ranges (min/max of every activation) come from `ranges`, a dict
tensor name -> (min, max) that the caller measures (tests/zoo/lowp_models.py
runs onnxruntime on calibration images with every tensor made an output).

  convert(model, form, ranges=None) -> ModelProto
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MS = "com.microsoft"


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _act_qparams(rng):
    """uint8 asymmetric: [min(0, lo), max(0, hi)] over 255 steps."""
    lo, hi = min(0.0, float(rng[0])), max(0.0, float(rng[1]))
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(np.rint(-lo / scale), 0, 255))
    return np.float32(scale), np.uint8(zp)


def _weight_q_int8(w, axis):
    """int8 symmetric per channel along `axis`: scale = max|w| / 127."""
    wm = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    s = np.abs(wm).max(axis=1) / 127.0
    s[s == 0] = 1.0
    s = s.astype(np.float32)
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.rint(w / s.reshape(shape)), -127, 127).astype(np.int8)
    return q, s


def _weight_q_uint8(w):
    """uint8 asymmetric per tensor (ConvInteger / MatMulInteger weights)."""
    s, z = _act_qparams((w.min(), w.max()))
    q = np.clip(np.rint(w / s) + int(z), 0, 255).astype(np.uint8)
    return q, s, z


class _G:
    def __init__(self, model):
        self.m = model
        self.g = model.graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in self.g.initializer}
        self.nodes, self.new_inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return "%s__%d" % (base.replace("/", "_"), self.n)

    def init(self, base, arr):
        nm = self.name(base)
        self.new_inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def node(self, op, ins, outs=None, domain=None, **kw):
        outs = outs or [self.name(op)]
        self.nodes.append(helper.make_node(op, ins, outs, domain=domain, **kw))
        return outs[0]

    def finish(self, inputs, outputs, opsets):
        g = helper.make_graph(self.nodes, self.g.name, inputs, outputs,
                              initializer=self.new_inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])
        m.ir_version = self.m.ir_version
        return m


def _fp16(model, weights_only):
    g = model.graph
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.initializer[:]
    casts = []
    # Resize's roi / scales stay float32 (their type is not the data's)
    keep = {i for n in g.node if n.op_type == "Resize" for i in n.input[1:3]}
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if a.dtype == np.float32 and t.name not in keep:
            if weights_only:
                m.graph.initializer.append(numpy_helper.from_array(a.astype(np.float16),
                                                                   t.name + "_fp16"))
                casts.append(helper.make_node("Cast", [t.name + "_fp16"], [t.name],
                                              to=TensorProto.FLOAT))
                continue
            a = a.astype(np.float16)
        m.graph.initializer.append(numpy_helper.from_array(a, t.name))
    if weights_only:
        nodes = casts + list(g.node)
        del m.graph.node[:]
        m.graph.node.extend(nodes)
        return m
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = TensorProto.FLOAT16
    for n in m.graph.node:  # Constant float tensors / Cast targets
        for a in n.attribute:
            if a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = TensorProto.FLOAT16
            # a Constant float tensor (Clip's min/max in torchvision's
            # exports) takes the data's type, unless it is a Resize roi/scales
            if (n.op_type == "Constant" and a.name == "value" and
                    a.t.data_type == TensorProto.FLOAT and n.output[0] not in keep):
                arr = numpy_helper.to_array(a.t).astype(np.float16)
                a.t.CopyFrom(numpy_helper.from_array(arr, a.t.name))
    return m


def _consumers(g):
    c = {}
    for n in g.node:
        for i in n.input:
            c.setdefault(i, []).append(n)
    return c


def _qdq(model, ranges):
    G = _G(model)
    g = model.graph
    dq_of = {}

    def act(name):
        """DequantizeLinear(QuantizeLinear(name)) with name's range."""
        if name not in dq_of:
            s, z = _act_qparams(ranges[name])
            sn, zn = G.init(name + "_scale", s), G.init(name + "_zp", z)
            q = G.node("QuantizeLinear", [name, sn, zn])
            dq_of[name] = (G.node("DequantizeLinear", [q, sn, zn]), s)
        return dq_of[name]

    for n in g.node:
        a = _attrs(n)
        if n.op_type in ("Conv", "ConvTranspose", "Gemm") and n.input[1] in G.inits:
            x, xs = act(n.input[0])
            w = G.inits[n.input[1]]
            axis = 1 if n.op_type == "ConvTranspose" else 0
            if n.op_type == "Gemm" and not a.get("transB", 0):
                axis = 1
            wq, ws = _weight_q_int8(w, axis)
            wsn = G.init(n.input[1] + "_scale", ws)
            wdq = G.node("DequantizeLinear", [G.init(n.input[1] + "_q", wq), wsn,
                                              G.init(n.input[1] + "_zp", np.zeros_like(ws, np.int8))],
                         axis=axis)
            ins = [x, wdq]
            if len(n.input) > 2 and n.input[2]:
                b = G.inits[n.input[2]]
                if n.op_type == "ConvTranspose" and a.get("group", 1) != 1:
                    ins.append(G.init(n.input[2], b))
                else:
                    bs = (xs * ws).astype(np.float32)
                    bq = np.rint(b / bs).astype(np.int32)
                    ins.append(G.node("DequantizeLinear",
                                      [G.init(n.input[2] + "_q", bq), G.init(n.input[2] + "_s", bs),
                                       G.init(n.input[2] + "_zp", np.zeros(bs.shape, np.int32))],
                                      axis=0))
            G.node(n.op_type, ins, list(n.output), **a)
        elif n.op_type in ("Add", "Concat", "AveragePool", "GlobalAveragePool", "MaxPool",
                           "Relu", "Flatten", "Resize", "MatMul"):
            # Resize: only its data is quantized (roi, scales, sizes are not
            # activations, even when a sub-graph computes them)
            data = n.input[:1] if n.op_type == "Resize" else n.input
            ins = [act(i)[0] if i in data and i in ranges and i not in G.inits else
                   (G.init(i, G.inits[i]) if i in G.inits else i) for i in n.input]
            G.node(n.op_type, ins, list(n.output), domain=n.domain or None, **a)
        else:  # any other op stays float32, its inputs as they are
            ins = [G.init(i, G.inits[i]) if i in G.inits else i for i in n.input]
            G.node(n.op_type, ins, list(n.output), domain=n.domain or None, **a)
    return G.finish(list(g.input), list(g.output), [("", max(13, _opset(model)))])


def _opset(model):
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _qop(model, ranges):
    G = _G(model)
    g = model.graph
    cons = _consumers(g)
    outputs = {o.name for o in g.output}
    q_of = {}  # float tensor name -> (quantized name, scale name, zp name)

    def qparams_names(name):
        s, z = _act_qparams(ranges[name])
        return G.init(name + "_scale", s), G.init(name + "_zp", z), s

    def quantized(name):
        if name not in q_of:
            sn, zn, _ = qparams_names(name)
            q_of[name] = (G.node("QuantizeLinear", [name, sn, zn]), sn, zn)
        return q_of[name]

    def fused_out(n):
        """The output whose range the op takes: a lone Relu reader's."""
        out = n.output[0]
        rd = cons.get(out, [])
        if len(rd) == 1 and rd[0].op_type == "Relu" and out not in outputs:
            return rd[0].output[0]
        return out

    float_avail = {i.name for i in g.input}
    for n in g.node:
        a = _attrs(n)
        op = n.op_type
        if op == "Relu":
            if n.input[0] in q_of and n.output[0] in q_of:
                continue  # folded into its producer's output range
            x = quantized(n.input[0])
            f = G.node("DequantizeLinear", list(x))
            G.node("Relu", [f], [n.output[0]])
            float_avail.add(n.output[0])
            continue
        if op in ("Conv", "Add", "Gemm", "ConvTranspose", "Concat", "AveragePool",
                  "GlobalAveragePool", "Flatten"):
            out = fused_out(n) if op in ("Conv", "Add") else n.output[0]
        if op == "Conv":
            x, xs, xz = quantized(n.input[0])
            xsv = float(numpy_helper.to_array([t for t in G.new_inits if t.name == xs][0]))
            wq, ws = _weight_q_int8(G.inits[n.input[1]], 0)
            ysn, yzn, _ = qparams_names(out)
            ins = [x, xs, xz, G.init(n.input[1] + "_q", wq), G.init(n.input[1] + "_s", ws),
                   G.init(n.input[1] + "_zp", np.zeros(ws.shape, np.int8)), ysn, yzn]
            if len(n.input) > 2 and n.input[2]:
                ins.append(G.init(n.input[2] + "_q",
                                  np.rint(G.inits[n.input[2]] / (xsv * ws)).astype(np.int32)))
            y = G.node("QLinearConv", ins, **a)
            q_of[out] = (y, ysn, yzn)
            if out != n.output[0]:
                q_of[n.output[0]] = q_of[out]
        elif op == "Add":
            A, B = quantized(n.input[0]), quantized(n.input[1])
            ysn, yzn, _ = qparams_names(out)
            y = G.node("QLinearAdd", list(A) + list(B) + [ysn, yzn], domain=MS)
            q_of[out] = (y, ysn, yzn)
            if out != n.output[0]:
                q_of[n.output[0]] = q_of[out]
        elif op == "Concat":
            ysn, yzn, _ = qparams_names(n.output[0])
            ins = [ysn, yzn]
            for i in n.input:
                ins += list(quantized(i))
            q_of[n.output[0]] = (G.node("QLinearConcat", ins, domain=MS, **a), ysn, yzn)
        elif op in ("AveragePool", "GlobalAveragePool"):
            x = quantized(n.input[0])
            ysn, yzn, _ = qparams_names(n.output[0])
            qop_name = "QLinear" + op
            y = G.node(qop_name, list(x) + [ysn, yzn], domain=MS, channels_last=0, **a)
            q_of[n.output[0]] = (y, ysn, yzn)
        elif op == "Flatten":
            x, xs, xz = quantized(n.input[0])
            q_of[n.output[0]] = (G.node("Flatten", [x], **a), xs, xz)
        elif op == "ConvTranspose":
            x = quantized(n.input[0])
            f = G.node("DequantizeLinear", list(x))
            ins = [f] + [G.init(i, G.inits[i]) for i in n.input[1:] if i]
            G.node("ConvTranspose", ins, [n.output[0]], **a)
            float_avail.add(n.output[0])
        elif op == "Gemm":
            # A [N,K] x B^T: QLinearMatMul on B as [K,M] int8 per tensor, then
            # the float bias after DequantizeLinear (ORT itself would write QGemm)
            x = quantized(n.input[0])
            w = G.inits[n.input[1]]
            if a.get("transB", 0):
                w = w.T
            ws = np.float32(max(np.abs(w).max() / 127.0, 1e-12))
            wq = np.clip(np.rint(w / ws), -127, 127).astype(np.int8)
            mm_out = n.output[0] + "_mm"
            lo, hi = ranges[n.output[0]]
            if len(n.input) > 2 and n.input[2]:  # the range before the bias
                b = G.inits[n.input[2]]
                lo, hi = lo - float(b.max()), hi - float(b.min())
            ranges = dict(ranges)
            ranges[mm_out] = (lo, hi)
            ysn, yzn, _ = qparams_names(mm_out)
            y = G.node("QLinearMatMul", list(x) + [G.init(n.input[1] + "_q", wq),
                                                   G.init(n.input[1] + "_s", ws),
                                                   G.init(n.input[1] + "_zp", np.int8(0)),
                                                   ysn, yzn])
            f = G.node("DequantizeLinear", [y, ysn, yzn])
            if len(n.input) > 2 and n.input[2]:
                G.node("Add", [f, G.init(n.input[2], G.inits[n.input[2]])], [n.output[0]])
            else:
                G.node("Identity", [f], [n.output[0]])
            float_avail.add(n.output[0])
        elif op == "MaxPool" and len(n.output) == 1:
            # order-preserving: runs on the quantized values as they are
            x, xs, xz = quantized(n.input[0])
            q_of[n.output[0]] = (G.node("MaxPool", [x], **a), xs, xz)
        else:
            # any other op runs float32: its quantized inputs are dequantized
            ins = []
            for i in n.input:
                if not i or i in G.inits or i in float_avail:
                    ins.append(G.init(i, G.inits[i]) if i in G.inits else i)
                else:
                    ins.append(G.node("DequantizeLinear", list(q_of[i])))
            G.node(op, ins, list(n.output), domain=n.domain or None, **a)
            float_avail.update(n.output)
            continue
    for o in g.output:  # quantized results back to float
        if o.name in q_of and not any(o.name in nd.output for nd in G.nodes):
            G.node("DequantizeLinear", list(q_of[o.name]), [o.name])
    return G.finish(list(g.input), list(g.output),
                    [("", max(13, _opset(model))), (MS, 1)])


def _dynamic(model):
    G = _G(model)
    g = model.graph
    for n in g.node:
        a = _attrs(n)
        op = n.op_type
        if op in ("Conv", "Gemm"):
            w = G.inits[n.input[1]]
            if op == "Gemm" and a.get("transB", 0):
                w = w.T
            wq, ws, wz = _weight_q_uint8(w)
            xq = G.name("xq")
            xs = G.name("xs")
            xz = G.name("xz")
            G.node("DynamicQuantizeLinear", [n.input[0]], [xq, xs, xz])
            integer = "ConvInteger" if op == "Conv" else "MatMulInteger"
            kw = a if op == "Conv" else {}
            acc = G.node(integer, [xq, G.init(n.input[1] + "_q", wq), xz,
                                   G.init(n.input[1] + "_zp", wz)], **kw)
            f = G.node("Cast", [acc], to=TensorProto.FLOAT)
            scale = G.node("Mul", [xs, G.init(n.input[1] + "_s", ws)])
            has_b = len(n.input) > 2 and n.input[2]
            y = G.node("Mul", [f, scale], None if has_b else [n.output[0]])
            if has_b:
                b = G.inits[n.input[2]]
                if op == "Conv":
                    b = b.reshape(1, -1, *([1] * (len(w.shape) - 2)))
                G.node("Add", [y, G.init(n.input[2], b)], [n.output[0]])
        else:
            ins = [G.init(i, G.inits[i]) if i in G.inits else i for i in n.input]
            G.node(op, ins, list(n.output), **a)
    return G.finish(list(g.input), list(g.output), [("", max(11, _opset(model)))])


def convert(model, form, ranges=None):
    if form == "fp16":
        return _fp16(model, False)
    if form == "fp16w":
        return _fp16(model, True)
    if form == "qdq":
        return _qdq(model, ranges)
    if form == "qop":
        return _qop(model, ranges)
    if form == "dynamic":
        return _dynamic(model)
    raise ValueError(form)
