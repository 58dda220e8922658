#!/usr/bin/python3
"""layers_vs_ort.py — join skipserve's per-step profile with ONNX Runtime's
per-node profile of the same model, for bench/layers-vs-ort.sh:

    layers_vs_ort.py [--check] MODEL.onnx ORT.json ORT_OPT.onnx SK_PROFILE.txt [SK_PROFILE.txt ...]

SK_PROFILE is `skipserve-bench --profile-top N` output (one line per step,
the step's first output value last); with several files the smallest time
of each step is taken. ORT.json is ort_profile.js's trace (the fastest of
each node's "_kernel_time" events: layers-vs-ort.sh profiles one run per
skipserve process, so both sides give each step's fastest run) and
ORT_OPT.onnx the graph ORT ran (its optimizedModelFilePath, written by
ort_profile.js).

ORT renames what it rewrites: QDQ models run as QLinearConv / QLinearAdd /
NhwcMaxPool nodes called _token_N whose outputs are new names, FP32 models
as NCHWc nodes. So each node ORT ran is first mapped to a value of the
original model (its "key"):
  1. a node named after an original node (NCHWc: plus "_nchwc") or an output
     name the original model has -> that value;
  2. a quantized node -> the output of the original QuantizeLinear whose scale
     initializer it takes as its output scale (initializer names survive
     ORT's rewrites; a DequantizeLinear goes with the Q that made its input);
     QGemm with a float output -> the Gemm that reads its weight;
  3. otherwise (NhwcMaxPool, Flatten, Transpose, reorders) the key of its
     input, moved forward in the original graph to the first node of the same
     op (Nhwc/QLinear prefixes dropped) within a few hops; a node with no
     such op (a layout Transpose) keeps its input's key and is counted as ORT
     layout work.
Then each skipserve step owns the original values its output is computed
from back to the previous steps' outputs (skipserve fuses Conv + Add + Relu
and QDQ pairs, ORT fuses them otherwise); an ORT key goes to the step whose
output it is, else to the first step owning it. Prints markdown: the join's
coverage, each strategy and output shape summed, then the steps with the
largest skipserve - ORT difference first. --check (tests/zoo/run_lowp.sh):
exit 1 unless every ORT node joined a step and each step holds as many of
ORT's conv nodes as it has Convs (ConvTranspose included)."""
import collections
import json
import re
import sys

import onnx

import sk_variant

# where a quantized op of ORT's takes the scale of its output (ONNX / com.microsoft)
OUT_SCALE = {"QuantizeLinear": 1, "DequantizeLinear": 1, "QLinearConv": 6, "QLinearAdd": 6,
             "QLinearMul": 6, "QLinearMatMul": 6, "QGemm": 7, "QLinearConcat": 0,
             "QLinearGlobalAveragePool": 3, "QLinearAveragePool": 3, "QLinearLeakyRelu": 3,
             "QLinearSigmoid": 3, "QLinearSoftmax": 3, "QLinearConvTranspose": 6}


def ort_events(path):
    """(per-node fastest ms, node names and op types of the first run in order)"""
    ev = [e for e in json.load(open(path))
          if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")]
    ev.sort(key=lambda e: e["ts"])
    runs = collections.defaultdict(list)
    order, first_run = [], True  # the first run: the events before a name repeats
    for e in ev:
        name = e["name"][: -len("_kernel_time")]
        first_run = first_run and name not in runs
        if first_run:
            order.append((name, e.get("args", {}).get("op_name", "")))
        runs[name].append(e["dur"] / 1000.0)
    return {k: min(v) for k, v in runs.items()}, order


def base_op(op):
    for p in ("Nhwc", "QLinear"):
        if op.startswith(p):
            op = op[len(p):]
    return op


def ort_keys(orig, opt, order):
    """trace name -> (original value name, 'layout' or '')"""
    inits = {i.name for i in orig.graph.initializer}
    produced = {o: n for n in orig.graph.node for o in n.output}
    consumers = collections.defaultdict(list)
    for n in orig.graph.node:
        for i in n.input:
            consumers[i].append(n)
    by_node = {n.name: n.output[0] for n in orig.graph.node if n.name and n.output}
    q_of_scale = {n.input[1]: n.output[0] for n in orig.graph.node
                  if n.op_type == "QuantizeLinear" and len(n.input) > 1}
    # the trace names unnamed nodes OpType_index; the saved graph lists the
    # nodes in the order the sequential executor ran them: align on op types
    nodes = list(opt.graph.node)
    if len(nodes) != len(order) or any(n.op_type != op for n, (_, op) in zip(nodes, order)):
        sys.exit(f"layers_vs_ort: ORT's saved graph ({len(nodes)} nodes) does not match its "
                 f"trace ({len(order)} nodes of the first run)")
    key_of_value = {}  # ORT value -> original value
    keys = {}
    for n, (tname, _) in zip(nodes, order):
        key, layout = None, ""
        nm = re.sub(r"_nchwc$", "", n.name)
        if nm in by_node:
            key = by_node[nm]
        elif nm in produced:
            key = nm
        if key is None:
            key = next((o for o in n.output if o in produced), None)
        if key is None and n.op_type in OUT_SCALE and len(n.input) > OUT_SCALE[n.op_type]:
            key = q_of_scale.get(n.input[OUT_SCALE[n.op_type]])
        if key is None and n.op_type == "QGemm":  # float output: the Gemm reading its weight
            for c in consumers.get(n.input[3], []):
                for g in consumers.get(c.output[0], []):
                    key = g.output[0]
        if key is None:  # follow the input, then forward to the same op
            src = next((key_of_value[i] for i in n.input if i in key_of_value),
                       next((i for i in n.input if i in produced and i not in inits), None))
            key, layout = src, "layout"
            frontier = [src] if src else []
            for _ in range(4):
                hit = next((c.output[0] for v in frontier for c in consumers.get(v, [])
                            if c.op_type == base_op(n.op_type)), None)
                if hit:
                    key, layout = hit, ""
                    break
                frontier = [c.output[0] for v in frontier for c in consumers.get(v, [])]
        if key:
            key_of_value.update((o, key) for o in n.output)
        keys[tname] = (key, layout)
    return keys


LINE = sk_variant.PROFILE_LINE


def sk_times(paths):
    steps = {}
    for p in paths:
        for line in open(p):
            m = LINE.match(line)
            if m:
                ms, idx, op, how, shape, name = (float(m.group(1)), int(m.group(2)), m.group(3),
                                                 m.group(4), m.group(6), m.group(7))
                gop = float(m.group(5)) * ms if m.group(5) else 0.0  # GOP x ms: the step's MACs
                old = steps.get(name)
                if old is None or ms < old[0]:
                    steps[name] = (ms, op, how, shape, idx, gop)
    return steps


def owned(orig, sk):
    """step output -> (the original values it is computed from back to the
    other steps' outputs, what its Convs / Gemms / Adds are)"""
    produced = {o: n for n in orig.graph.node for o in n.output}
    inits = {i.name: i for i in orig.graph.initializer}

    def weight(v):  # a weight's dims, through its DequantizeLinear
        n = produced.get(v)
        v = n.input[0] if n is not None and n.op_type == "DequantizeLinear" else v
        return list(inits[v].dims) if v in inits else []

    own = {}
    for name in sk:
        seen, todo, what = set(), [name], []
        while todo:
            v = todo.pop()
            if v in seen or (v != name and v in sk):
                continue
            seen.add(v)
            n = produced.get(v)
            if n is None:
                continue
            seen.update(n.output)
            todo.extend(i for i in n.input if i in produced)
            a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
            w = weight(n.input[1]) if len(n.input) > 1 else []
            if n.op_type == "Conv" and len(w) == 4:
                st = a.get("strides", [1])[0]
                what.append(f"{w[2]}x{w[3]}{f'/{st}' if st > 1 else ''} {w[1]}->{w[0]}")
            elif n.op_type in ("Gemm", "MatMul") and len(w) == 2:
                what.append(f"{n.op_type} {w[0]}x{w[1]}")
            elif n.op_type == "Add":
                what.append("+add")
        own[name] = (seen, " ".join(sorted(what, key=lambda x: x == "+add")))
    return own


def main():
    args = sys.argv[1:]
    check = bool(args) and args[0] == "--check"
    args = args[1:] if check else args
    if len(args) < 4:
        sys.exit(__doc__)
    orig = onnx.load(args[0], load_external_data=False)
    opt = onnx.load(args[2], load_external_data=False)
    times, order = ort_events(args[1])
    keys = ort_keys(orig, opt, order)
    sk = sk_times(args[3:])
    own = owned(orig, sk)
    by_step = collections.defaultdict(float)
    convs = collections.Counter()  # ORT's conv nodes per step
    op_of = dict(order)
    layout = collections.defaultdict(float)
    unjoined = collections.defaultdict(float)
    first = sorted(sk, key=lambda s: sk[s][4])
    for tname, ms in times.items():
        key, lay = keys.get(tname, (None, ""))
        step = key if key in sk else next((s for s in first if key in own[s][0]), None)
        if step is None:
            unjoined[f"{tname} ({key})"] += ms
            continue
        by_step[step] += ms
        convs[step] += "Conv" in op_of.get(tname, "")
        if lay:
            layout[step] += ms
    rows = [(ms, by_step.get(name), how, shape, name, gop)
            for name, (ms, op, how, shape, _, gop) in sk.items()]
    sk_total = sum(r[0] for r in rows)
    ort_total = sum(times.values())
    print(f"skipserve steps {sk_total:.2f} ms, ORT nodes {ort_total:.2f} ms (ORT nodes not "
          f"joined: {sum(unjoined.values()):.2f} ms; ORT layout Transposes / reorders with no "
          f"ONNX op: {sum(layout.values()):.2f} ms, counted in the steps they feed from)\n")
    for k, v in sorted(unjoined.items(), key=lambda kv: -kv[1]):
        print(f"- not joined: {k} {v:.3f} ms")
    print("| strategy | output | steps | skipserve ms | ORT ms | difference |")
    print("|---|---|---|---|---|---|")
    groups = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for ms, o, how, shape, _, _ in rows:
        g = groups[(how, shape)]
        g[0] += 1
        g[1] += ms
        g[2] += o or 0.0
    for (how, shape), (n, s, o) in sorted(groups.items(), key=lambda kv: kv[1][2] - kv[1][1]):
        print(f"| {how} | {shape} | {n} | {s:.2f} | {o:.2f} | {s - o:+.2f} |")
    print("\n| step (output value) | conv | strategy | output | skipserve ms | ORT ms | difference "
          "| skipserve GOP/s | ORT GOP/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for ms, o, how, shape, name, gop in sorted(rows, key=lambda r: (r[1] or 0) - r[0]):
        rate = f"{gop / ms:.0f} | {gop / o:.0f}" if gop and ms and o else "- | -"
        print(f"| {name} | {own[name][1]} | {how} | [{shape}] | {ms:.3f} | "
              f"{'-' if o is None else f'{o:.3f}'} | {ms - (o or 0):+.3f} | {rate} |")
    if check:
        # each step must hold as many of ORT's conv nodes as it has Convs
        produced = {o: n for n in orig.graph.node for o in n.output}
        wrong = [n for n in sk if convs[n] != sum(
            "Conv" in produced[v].op_type for v in own[n][0] if v in produced and
            produced[v].output[0] == v)]
        if unjoined or wrong or not sk:
            sys.exit(f"layers_vs_ort: join check FAILED: {len(unjoined)} ORT nodes not joined, "
                     f"steps whose ORT conv nodes do not match their Convs: {wrong[:5]}")
        print(f"\nlayers_vs_ort: join check passed ({len(sk)} steps, {len(times)} ORT nodes)")


if __name__ == "__main__":
    main()
