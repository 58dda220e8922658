"""Checks a model written by skipserve-quantize (tests/quant/run.sh):

  structure  every Conv / ConvTranspose / Gemm weight is an int8 initializer
             behind a DequantizeLinear, symmetric (zero point 0, values in
             -127..127 and reaching +-127; --reduce-range: -64..64 reaching
             +-64), one scale per output channel (--per-tensor: one);
             every bias an int32 initializer with scale = input scale *
             weight scale (float32), zero point 0; every activation Q/DQ pair
             uint8 (or int8) with the same scale and zero point on both
             nodes; every Concat's inputs and output, and every Add's output
             and non-negative inputs (all of them when no ReLU follows), carry
             one scale and zero point (unless --no-share);
  fusion     onnxruntime, with all its graph optimizations, runs every Conv as
             QLinearConv and every Add as QLinearAdd (ort_fusion.js saves the
             graph it runs): the Q/DQ placement and shared scales leave no
             group in float;
  runtimes   the INT8 model through skipserve (skipserve-run) and through
             onnxruntime (tests/zoo/ort_run.js) on the same inputs: logits
             within --steps output quantization steps, argmax agreement
             >= --agree;
  accuracy   FP32 and INT8 (skipserve) on the first --count test images /
             scenes: top-1 drop <= --max-drop points (classify) or mIoU drop
             <= --max-drop (segment).

  /usr/bin/python3 tests/quant/check.py classify|segment FP32.onnx INT8.onnx
      --build BUILD --work DIR [--count N] [--steps S] [--agree A] [--max-drop D]
      [--act u8|s8]
Prints PASS/FAIL lines; exit 1 when a check fails."""
import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "models"))
sys.path.insert(0, os.path.join(ROOT, "tests", "zoo"))
import fmnist  # noqa: E402
import ort_util  # noqa: E402
import scenes  # noqa: E402

MEAN, STD = 0.286, 0.353  # model.json of both default models
failed = 0


def verdict(ok, line):
    global failed
    print(("PASS " if ok else "FAIL ") + line)
    failed += not ok


def check_structure(path, act, per_tensor, shared, reduce_range=False):
    m = onnx.load(path)
    g = m.graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    act_ty = np.int8 if act == "s8" else np.uint8
    problems = []
    nweights = 0

    def dq_of(name):
        n = prod.get(name)
        if n is None or n.op_type != "DequantizeLinear":
            return None
        return n

    scale_of = {}
    for n in g.node:
        if n.op_type == "QuantizeLinear":
            s, z = init[n.input[1]], init[n.input[2]]
            if s.ndim != 0 or z.dtype != act_ty:
                problems.append("%s: activation scale not scalar or zero point not %s" % (
                    n.name, act_ty.__name__))
            scale_of[n.output[0]] = (float(s), int(z))
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in scale_of:
            s, z = float(init[n.input[1]]), int(init[n.input[2]])
            if (s, z) != scale_of[n.input[0]]:
                problems.append("%s: DQ params differ from its Q" % n.name)
    for n in g.node:
        if n.op_type not in ("Conv", "ConvTranspose", "Gemm"):
            continue
        dq = dq_of(n.input[1])
        if dq is None:
            problems.append("%s %s: weight is not behind a DequantizeLinear" % (n.op_type, n.name))
            continue
        nweights += 1
        q, s, z = init[dq.input[0]], init[dq.input[1]], init[dq.input[2]]
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        want_axis = 1 if n.op_type == "ConvTranspose" else 0
        if n.op_type == "Gemm":
            tb = next((a.i for a in n.attribute if a.name == "transB"), 0)
            want_axis = 0 if tb else 1
        if q.dtype != np.int8 or z.dtype != np.int8 or np.any(z != 0) or q.min() < -127:
            problems.append("%s: weight not int8 symmetric (zero point 0, -127..127)" % n.name)
        # --reduce-range (session 18): 7 bits, -64..64, and the range used
        # (each channel's largest weight at +-64, as the scale max|w| / 64 puts it)
        if reduce_range and (np.abs(q.astype(np.int32)).max() != 64 or q.min() < -64):
            problems.append("%s: --reduce-range but weights span %d..%d, not -64..64" % (
                n.name, q.min(), q.max()))
        if not reduce_range and np.abs(q.astype(np.int32)).max() != 127:
            problems.append("%s: weights span %d..%d, not up to +-127" % (n.name, q.min(), q.max()))
        if per_tensor:
            if s.ndim != 0:
                problems.append("%s: --per-tensor but %d weight scales" % (n.name, s.size))
        elif s.ndim != 1 or s.shape[0] != q.shape[want_axis] or axis != want_axis:
            problems.append("%s: weight scale not per output channel (axis %d, %d scales)" % (
                n.name, axis, s.size))
        if len(n.input) > 2 and n.input[2]:
            bq = dq_of(n.input[2])
            xdq = dq_of(n.input[0])
            if bq is None or xdq is None:
                problems.append("%s: bias or input not quantized" % n.name)
                continue
            b, bs, bz = init[bq.input[0]], init[bq.input[1]], init[bq.input[2]]
            want = np.float32(init[xdq.input[1]]) * s.astype(np.float32)
            if b.dtype != np.int32 or np.any(bz != 0) or not np.array_equal(bs, want):
                problems.append("%s: bias not int32 with scale sx*sw and zero point 0" % n.name)
    # shared scales: a residual Add's / a Concat's inputs and its output (after
    # the Relu that fused into it) carry one scale and zero point
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)

    def qparams_of_output(name):
        rs = readers.get(name, [])
        if len(rs) == 1 and rs[0].op_type in ("Relu", "Clip"):
            rs = readers.get(rs[0].output[0], [])
        for r in rs:
            if r.op_type == "QuantizeLinear":
                return scale_of[r.output[0]]
        if name.endswith("_fp32"):
            return qparams_of_output(name)
        return None

    nshared = 0
    for n in g.node:
        if n.op_type not in ("Add", "Concat"):
            continue
        ins = [dq_of(i) for i in n.input]
        if any(d is None or d.input[0] not in scale_of for d in ins):
            continue  # e.g. an Add of a constant
        # operands of the output's sign class share its scale: non-negative
        # (zero point at the bottom: ReLU outputs) or signed; a group never
        # mixes the two (the signed conv branch of Relu(conv + skip))
        qmin = -128 if act == "s8" else 0
        out = qparams_of_output(n.output[0])
        members = [scale_of[d.input[0]] for d in ins]
        if out is not None:
            members = [p for p in members if (p[1] == qmin) == (out[1] == qmin)]
        params = set(members)
        if out is not None:
            params.add(out)
        if shared and len(params) != 1:
            problems.append("%s %s: inputs/output scales differ %s" % (n.op_type, n.name, params))
        nshared += 1
    if shared and nshared == 0:
        problems.append("no Add / Concat with quantized inputs found")
    verdict(not problems and nweights > 0,
            "structure of %s: %d weighted ops, int8 %s symmetric weights, int32 "
            "biases, matching Q/DQ pairs, %d Add/Concat %s%s" % (
                os.path.basename(path), nweights, "per-tensor" if per_tensor else "per-channel",
                nshared,
                "with one shared scale" if shared else "(sharing off)",
                "; " + "; ".join(problems[:5]) if problems else ""))
    out = g.output[0].name
    dq = prod[out]
    return float(init[dq.input[1]]) if dq.op_type == "DequantizeLinear" else None


def run_sk(build, model, x, work, tag):
    inp = os.path.join(work, "in.pb")
    outp = os.path.join(work, "out_%s.pb" % tag)
    t = numpy_helper.from_array(x, "input")
    with open(inp, "wb") as f:
        f.write(t.SerializeToString())
    r = subprocess.run([os.path.join(build, "skipserve-run"), model, "--input-pb", inp,
                        "--output-pb", outp], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("skipserve-run %s: %s" % (model, r.stderr.strip()))
    tp = onnx.TensorProto()
    with open(outp, "rb") as f:
        tp.ParseFromString(f.read())
    return numpy_helper.to_array(tp)


def run_ort(model, x, work):
    ort_util.ensure_ort()
    res = ort_util.run_ort([(model, {"input": x}, os.path.join(work, "ort"))])[0]
    if res is None:
        raise RuntimeError("onnxruntime could not run " + model)
    return res[0]


def miou(pred, lab, nc):
    ious = []
    for c in range(nc):
        inter = np.sum((pred == c) & (lab == c))
        union = np.sum((pred == c) | (lab == c))
        if union:
            ious.append(inter / union)
    return float(np.mean(ious))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["classify", "segment"])
    ap.add_argument("fp32")
    ap.add_argument("int8")
    ap.add_argument("--build", default="build")
    ap.add_argument("--work", required=True)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--steps", type=float, default=2)
    ap.add_argument("--agree", type=float, default=0.99)
    ap.add_argument("--max-drop", type=float, default=1.0)
    ap.add_argument("--act", default="u8")
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--per-tensor", action="store_true", help="the model was made with --per-tensor")
    ap.add_argument("--no-share", action="store_true", help="the model was made with --no-share")
    ap.add_argument("--reduce-range", action="store_true",
                    help="the model was made with --reduce-range (7-bit weights)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    step = check_structure(a.int8, a.act, a.per_tensor, not a.no_share, a.reduce_range)
    if a.kind == "classify":
        x, y = fmnist.load("test")
        x, y = x[:a.count], y[:a.count].astype(np.int64)
    else:
        x, y = scenes.make_batch("test", scenes.TEST_SEED, 0, a.count)
    xin = ((x.astype(np.float32) / 255.0 - MEAN) / STD)[:, None].astype(np.float32)
    fp = run_sk(a.build, a.fp32, xin, a.work, "fp32")
    q = run_sk(a.build, a.int8, xin, a.work, "int8")
    if not a.no_ort and a.act == "u8":  # ORT's CPU QDQ fusion is for uint8 activations
        ort_util.ensure_ort()
        opt = os.path.join(a.work, "ort_optimized.onnx")
        r = subprocess.run(["node", os.path.join(HERE, "ort_fusion.js"), a.int8, opt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            verdict(False, "onnxruntime could not open %s: %s" % (a.int8, r.stderr.strip()))
        else:
            ops = [n.op_type for n in onnx.load(opt).graph.node]
            src = [n.op_type for n in onnx.load(a.int8).graph.node]
            want = {"QLinearConv": src.count("Conv"), "QLinearAdd": src.count("Add")}
            got = {k: ops.count(k) for k in want}
            verdict(got == want, "onnxruntime folds the QDQ groups into integer ops: %s "
                    "(want one per Conv / Add: %s); float Conv/Add left: %d" % (
                        got, want, sum(ops.count(k) for k in ("Conv", "FusedConv", "Add"))))
    if not a.no_ort:
        o = run_ort(a.int8, xin, a.work)
        diff = float(np.abs(q - o).max())
        agree = float((q.argmax(1) == o.argmax(1)).mean())
        verdict(step is not None and diff <= a.steps * step and agree >= a.agree,
                "%s INT8 skipserve vs onnxruntime: max diff %.4g = %.2f output steps (bound %g), "
                "argmax agreement %.4f (bound %g)" % (a.kind, diff, diff / step, a.steps, agree,
                                                       a.agree))
    if a.kind == "classify":
        acc_f = float((fp.argmax(1) == y).mean()) * 100
        acc_q = float((q.argmax(1) == y).mean()) * 100
        agree = float((fp.argmax(1) == q.argmax(1)).mean())
        verdict(acc_f - acc_q <= a.max_drop,
                "fashion-resnet top-1 on %d test images: FP32 %.2f%%, INT8 %.2f%% (drop bound "
                "%g pt), INT8/FP32 argmax agreement %.4f" % (a.count, acc_f, acc_q, a.max_drop,
                                                              agree))
    else:
        nc = fp.shape[1]
        m_f, m_q = miou(fp.argmax(1), y, nc), miou(q.argmax(1), y, nc)
        agree = float((fp.argmax(1) == q.argmax(1)).mean())
        verdict(m_f - m_q <= a.max_drop,
                "scenes-unet mIoU on %d test scenes: FP32 %.4f, INT8 %.4f (drop bound %g), "
                "pixel agreement %.4f" % (a.count, m_f, m_q, a.max_drop, agree))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
