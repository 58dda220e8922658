#!/usr/bin/python3
"""steps_by_shape.py — a 1-thread per-layer profile that a loaded machine
does not spoil (issue 22, session 18).

    bench/steps_by_shape.py MODEL.onnx [--batch B] [--rounds R] [ARG ...]

Runs R `skipserve-bench --threads 1 --profile` processes with
SKIPSERVE_PROFILE_CLOCK=thread (each step timed on the thread's CPU clock,
so the minutes another job holds the core do not count), keeps each step's
fastest round, and prints the steps grouped by op, strategy and output
shape: steps, ms, share, GOP/s (2 x multiply-adds / time). ARG ... go to
skipserve-bench (e.g. --precision bf16). Why: at load 5-9 on the 2 vCPUs a
1-thread run's wall time was 1.5-3x its CPU time, and per-step wall
minima still moved 10-20% between rounds; the thread clock's sum came
within 1% of the process CPU time a run (ResNet-50 QDQ b1: 12.04 vs 12.15 ms).
What it cannot see: cache and memory-bandwidth losses to the other jobs.
"""
import argparse
import collections
import os
import re
import subprocess

import sk_variant


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    a, extra = ap.parse_known_args()
    env = dict(os.environ, SKIPSERVE_PROFILE_CLOCK="thread")
    best, info, cpu = {}, {}, []
    for _ in range(a.rounds):
        out = subprocess.run([sk_variant.sk_binary(), a.model, "--batch", str(a.batch), "--threads",
                              "1", "--runs", "5", "--warmup", "1", "--profile", "--profile-top",
                              "1000"] + extra, env=env, capture_output=True, text=True, check=True)
        for line in out.stdout.splitlines():
            m = sk_variant.PROFILE_LINE.match(line)
            if m:
                k, t = int(m.group(2)), float(m.group(1))
                if k not in best or t < best[k]:
                    best[k] = t
                    gop = float(m.group(5) or 0) * t / 1000
                    info[k] = (m.group(3), m.group(4), m.group(6), gop)
            c = re.search(r"process CPU time per run: median ([\d.]+)", line)
            if c:
                cpu.append(float(c.group(1)))
    if not best:
        raise SystemExit("steps_by_shape: no profile lines")
    groups = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for k, t in best.items():
        op, strategy, shape, gop = info[k]
        g = groups[(op, strategy, shape)]
        g[0] += 1
        g[1] += t
        g[2] += gop
    total = sum(best.values())
    print("| op | strategy | output | steps | ms | share | GOP/s |")
    print("|---|---|---|---|---|---|---|")
    for (op, strategy, shape), (n, t, gop) in sorted(groups.items(), key=lambda x: -x[1][1]):
        print("| %s | %s | [%s] | %d | %.3f | %.1f%% | %s |" % (
            op, strategy, shape, n, t, 100 * t / total, "%.0f" % (gop / t * 1000) if gop and t else "-"))
    allgop = sum(i[3] for i in info.values())
    print("| sum of step minima | | | %d | %.3f | | %.0f |" % (len(best), total, allgop / total * 1000))
    if cpu:
        print("\nprocess CPU time a run, fastest round median: %.3f ms" % min(cpu))


if __name__ == "__main__":
    main()
