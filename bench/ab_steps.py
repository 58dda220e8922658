#!/usr/bin/python3
"""ab_steps.py — A/B of engine variants step by step, each step's fastest run.

    bench/ab_steps.py MODEL.onnx [--batch B] [--threads T] [--rounds R] [--top N]
                      A B [C ...]

Each variant is `[NAME=VALUE ...] sk[:BINARY]` as in ab.py. Every round runs
each variant once, in turn, as one `skipserve-bench --runs 1 --profile`
process (after its 2 warm-up runs) on the same saved input; per variant each
step keeps its fastest round. Why: with other engineers' jobs on the 2 vCPUs
(load 3-5) whole-run medians of the same binary moved 1.5x between rounds,
while a step's fastest of R runs moved by a few percent (session 16) — so
this compares kernels on a loaded machine where ab.py cannot; the sum of
fastest steps is not a run time (ab.py on a quiet machine gives that).

Prints the sum of the steps' fastest times per variant and its ratio to the
first variant, then the N steps whose times differ most (first / variant).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import sk_variant


def run(spec, model, inp, batch, threads):
    env, what, extra = sk_variant.parse(spec)
    if not sk_variant.is_sk(what):
        sys.exit(f"ab_steps: variant '{spec}' is not [NAME=VALUE ...] sk[:BINARY]")
    out = subprocess.run([sk_variant.sk_binary(what), model, "--batch", str(batch), "--threads",
                          str(threads), "--runs", "1", "--load-input", inp, "--profile-top",
                          "100000"] + extra, env=env, check=True, capture_output=True,
                         text=True).stdout
    steps = {}
    for line in out.splitlines():
        m = sk_variant.PROFILE_LINE.match(line)
        if m:
            steps[(int(m.group(2)), m.group(7))] = (float(m.group(1)), m.group(6))
    if not steps:
        sys.exit(f"ab_steps: no profile from '{spec}'")
    return steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("variants", nargs="+")
    a = ap.parse_args()
    if len(a.variants) < 2:
        sys.exit("ab_steps: give at least two variants")
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.f32")
        binary = sk_variant.sk_binary()
        subprocess.run([binary, a.model, "--batch", str(a.batch), "--runs", "1",
                        "--save-input", inp], check=True, capture_output=True)
        best = [{} for _ in a.variants]
        for _ in range(a.rounds):
            for v, spec in enumerate(a.variants):
                for k, (ms, shape) in run(spec, a.model, inp, a.batch, a.threads).items():
                    if k not in best[v] or ms < best[v][k][0]:
                        best[v][k] = (ms, shape)
    keys = sorted(set(best[0]).intersection(*best[1:]))
    if len(keys) != len(best[0]):
        print("ab_steps: the variants' plans differ; only the common steps are compared")
    tot = [sum(b[k][0] for k in keys) for b in best]
    print(f"{a.model}: batch {a.batch}, {a.threads} thread(s), {a.rounds} rounds, "
          f"each step's fastest\n")
    print("| variant | sum of steps ms | first / variant |")
    print("|---|---|---|")
    for spec, t in zip(a.variants, tot):
        print(f"| {spec} | {t:.3f} | {tot[0] / t:.3f} |")
    print("\n| step | output | " + " | ".join(a.variants) + " | first / last |")
    print("|---" * (len(a.variants) + 3) + "|")
    rows = sorted(keys, key=lambda k: -abs(best[0][k][0] - best[-1][k][0]))
    for k in rows[: a.top]:
        print(f"| {k[0]} {k[1]} | [{best[0][k][1]}] | " +
              " | ".join(f"{b[k][0]:.3f}" for b in best) +
              f" | {best[0][k][0] / best[-1][k][0]:.3f} |")


if __name__ == "__main__":
    main()
