#!/usr/bin/python3
"""ab.py — interleaved A/B timing of two engine variants on one model.

    bench/ab.py MODEL.onnx [--batch B] [--threads T] [--rounds R] [--runs N]
                A B [C ...]

Each variant is `[NAME=VALUE ...] sk[:BINARY] [ARG ...]` (skipserve-bench,
default $BUILD/skipserve-bench, with the given environment and extra
arguments, e.g. `--precision bf16`) or `ort`
(bench/ort_bench.js). All variants run on the same saved input, one after
the other, R rounds of N runs each. This VM's speed changes in plateaus of
a few seconds (the host), so variants timed minutes apart are not
comparable; alternating every round, and comparing within rounds, is.

Prints each round's medians, then per variant the median of its round
medians and its best round, and for each variant against the first: the
geometric mean of the per-round ratios (first / variant: > 1 means the
variant is faster), in how many rounds it was faster, and the median of
its process CPU time per run (all threads, spinning included: at 2
threads a variant that waits less or moves less data between the cores
spends less).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

import sk_variant

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(spec, model, inp, batch, threads, runs):
    env, what, extra = sk_variant.parse(spec)
    if what is None or (extra and not sk_variant.is_sk(what)):
        sys.exit(f"ab.py: bad variant {spec!r}: want [NAME=VALUE ...] sk[:BINARY] [ARG ...] | ort")
    if what == "ort":
        out = os.path.join(os.path.dirname(inp), "ort.f32")
        return ["node", os.path.join(ROOT, "bench/ort_bench.js"), model, inp, str(batch),
                str(threads), str(runs), out], env
    if sk_variant.is_sk(what):
        return [sk_variant.sk_binary(what), model, "--batch", str(batch), "--threads", str(threads), "--runs",
                str(runs), "--load-input", inp, "--json"] + extra, env
    sys.exit(f"ab.py: bad variant {spec!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("variants", nargs="+")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--runs", type=int, default=15)
    a = ap.parse_args()
    if len(a.variants) < 2:
        ap.error("give at least two variants")
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.f32")
        bench = sk_variant.sk_binary()
        subprocess.run([bench, a.model, "--batch", str(a.batch), "--runs", "1",
                        "--save-input", inp], check=True, stdout=subprocess.DEVNULL)
        cmds = [command(v, a.model, inp, a.batch, a.threads, a.runs) for v in a.variants]
        med = [[] for _ in cmds]
        cpu = [[] for _ in cmds]  # process CPU time per run (skipserve-bench only)
        print("| round | " + " | ".join(a.variants) + " |")
        print("|---|" + "---|" * len(cmds))
        for r in range(a.rounds):
            for i, (cmd, env) in enumerate(cmds):
                p = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                res = json.loads(p.stdout.strip().splitlines()[-1])
                med[i].append(float(res["median_ms"]))
                if "cpu_ms" in res:
                    cpu[i].append(float(res["cpu_ms"]))
            print(f"| {r + 1} | " + " | ".join(f"{m[-1]:.2f}" for m in med) + " |", flush=True)
    print()
    print(f"{a.model}, batch {a.batch}, {a.threads} threads, {a.rounds} rounds x {a.runs} runs")
    print()
    print("| variant | median of rounds ms | best round ms | first / variant (geo. mean) "
          "| rounds faster than first | process CPU ms per run (median of rounds) |")
    print("|---|---|---|---|---|---|")
    for i, v in enumerate(a.variants):
        ratios = [x / y for x, y in zip(med[0], med[i])]
        geo = math.exp(sum(math.log(q) for q in ratios) / len(ratios))
        wins = sum(q > 1 for q in ratios)
        print(f"| {v} | {statistics.median(med[i]):.2f} | {min(med[i]):.2f} | "
              f"{geo:.3f} | {wins if i else '-'} of {a.rounds} | "
              f"{f'{statistics.median(cpu[i]):.2f}' if cpu[i] else '-'} |")


if __name__ == "__main__":
    main()
