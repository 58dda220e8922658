#!/usr/bin/python3
"""layers_vs_ort.py — join skipserve's per-step profile with ONNX Runtime's
per-node profile of the same model, for bench/layers-vs-ort.sh:

    layers_vs_ort.py MODEL.onnx ORT.json SK_PROFILE.txt [SK_PROFILE.txt ...]

SK_PROFILE is `skipserve-bench --profile-top N` output (one line per step,
the step's first output value last); with several files the smallest time
of each step is taken. ORT.json is ort_profile.js's trace: the median of
each node's "_kernel_time" events. Steps are joined on the output value
name (ORT's events carry node names: those are mapped to the node's first
output). Where the two fuse differently (skipserve names a Conv + Add + Relu
step after the Relu's output, ORT after one of the Convs'), the ONNX graph
is walked back from the unmatched name through up to three producers to a
name ORT reports. Prints markdown: each strategy and output shape summed,
then the steps with the largest skipserve - ORT difference first."""
import collections
import json
import re
import sys

import onnx


def ort_times(path):
    ev = json.load(open(path))
    runs = collections.defaultdict(list)
    for e in ev:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            name = re.sub(r"_nchwc$", "", e["name"][: -len("_kernel_time")])
            runs[name].append(e["dur"] / 1000.0)
    return {k: sorted(v)[len(v) // 2] for k, v in runs.items()}


LINE = re.compile(r"\s+([\d.]+) ms\s+[\d.]+%\s+\d+ (\S+)\s+(\S+)\s.*\[([\d,]*)\]\s+(\S+)\s*$")


def sk_times(paths):
    steps = {}
    for p in paths:
        for line in open(p):
            m = LINE.match(line)
            if m:
                ms, op, how, shape, name = float(m.group(1)), m.group(2), m.group(3), m.group(4), m.group(5)
                old = steps.get(name)
                if old is None or ms < old[0]:
                    steps[name] = (ms, op, how, shape)
    return steps


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    model = onnx.load(sys.argv[1], load_external_data=False)
    # ORT names events after nodes: its NCHWc rewrite names a node after
    # its output (+ "_nchwc"), other nodes keep the ONNX node name
    by_node = {n.name: n.output[0] for n in model.graph.node if n.name and n.output}
    ort = {by_node.get(k, k): v for k, v in ort_times(sys.argv[2]).items()}
    sk = sk_times(sys.argv[3:])
    producer = {o: n for n in model.graph.node for o in n.output}
    taken = set(k for k in sk if k in ort)
    rows = []
    for name, (ms, op, how, shape) in sk.items():
        key = name if name in ort else None
        frontier = [name]
        for _ in range(3):  # Relu <- Add <- Conv
            if key:
                break
            nxt = []
            for v in frontier:
                n = producer.get(v)
                for i in (n.input if n else []):
                    if i in ort and i not in taken:
                        key = i
                        break
                    nxt.append(i)
                if key:
                    break
            frontier = nxt
        if key:
            taken.add(key)
        rows.append((ms, ort.get(key), how, shape, name))
    sk_total = sum(r[0] for r in rows)
    ort_total = sum(ort.values())
    print(f"skipserve steps {sk_total:.2f} ms, ORT nodes {ort_total:.2f} ms "
          f"(ORT nodes not joined: {ort_total - sum(r[1] or 0 for r in rows):.2f} ms)\n")
    print("| strategy | output | steps | skipserve ms | ORT ms | difference |")
    print("|---|---|---|---|---|---|")
    groups = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for ms, o, how, shape, _ in rows:
        g = groups[(how, shape)]
        g[0] += 1
        g[1] += ms
        g[2] += o or 0.0
    for (how, shape), (n, s, o) in sorted(groups.items(), key=lambda kv: kv[1][2] - kv[1][1]):
        print(f"| {how} | {shape} | {n} | {s:.2f} | {o:.2f} | {s - o:+.2f} |")
    print("\n| step (output value) | strategy | skipserve ms | ORT ms | difference |")
    print("|---|---|---|---|---|")
    for ms, o, how, shape, name in sorted(rows, key=lambda r: (r[1] or 0) - r[0]):
        print(f"| {name} | {how} | {ms:.3f} | {'-' if o is None else f'{o:.3f}'} | "
              f"{ms - (o or 0):+.3f} |")


if __name__ == "__main__":
    main()
