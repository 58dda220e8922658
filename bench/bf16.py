#!/usr/bin/python3
"""bench/bf16.py — BF16 against our FP32 (issue 22), in alternating rounds.

For each model, batch and thread count, four configurations of
skipserve-bench run one after another in each round (one median of --runs
runs each), so that a burst of load on the shared machine hits all four:
  exact  FP32, SKIPSERVE_WINOGRAD=0 (im2col GEMM only: shared/PERF.md's
         "exact path")
  fp32   FP32 default (Winograd where it applies)
  bf16   --precision bf16 (every non-depthwise conv on the vdpbf16ps GEMM)
  bf16w  --precision bf16, SKIPSERVE_BF16_WINOGRAD=1 (3x3 stride-1 convs
         stay on FP32 Winograd)
Prints per row the best round median of each (ms) and the speed-ups
(ratio of times, > 1: the bf16 configuration is faster), plus bf16's
GFLOP/s and % of the bf16 ceiling (--peak, measured once per row).
Each skipserve-bench call takes /work/notes/bench.lock when it exists.

  bench/bf16.py MODEL.onnx ... [--batches 1 8] [--threads 1 2] [--runs 5]
                [--rounds 2] [--build build]
"""
import argparse
import json
import os
import subprocess
import sys

LOCK = "/work/notes/bench.lock"
CONFIGS = ("exact", "fp32", "bf16", "bf16w")


def run(bench, model, b, t, runs, cfg, peak=False):
    env = dict(os.environ)
    args = [bench, model, "--batch", str(b), "--threads", str(t), "--runs", str(runs), "--json"]
    if cfg == "exact":
        env["SKIPSERVE_WINOGRAD"] = "0"
    if cfg in ("bf16", "bf16w"):
        args += ["--precision", "bf16"]
    if cfg == "bf16w":
        env["SKIPSERVE_BF16_WINOGRAD"] = "1"
    if peak:
        args.append("--peak")
    if os.path.exists(LOCK):
        args = ["flock", LOCK] + args
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    if not j["outputs_ok"]:
        sys.exit("%s %s: outputs not sane" % (model, cfg))
    return j


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--build", default="build")
    a = ap.parse_args()
    bench = os.path.join(a.build, "skipserve-bench")
    print("%-34s %2s %2s %8s %8s %8s %8s  %10s %9s %10s  %s" % (
        "model", "b", "T", "exact", "fp32", "bf16", "bf16w", "bf16/exact", "bf16/fp32",
        "bf16w/fp32", "bf16 GFLOP/s (% of bf16 ceiling)"), flush=True)
    for m in a.models:
        name = os.path.basename(os.path.dirname(m)) or m
        for b in a.batches:
            for t in a.threads:
                best = {c: None for c in CONFIGS}
                for _ in range(a.rounds):
                    for c in CONFIGS:
                        ms = run(bench, m, b, t, a.runs, c)["median_ms"]
                        best[c] = ms if best[c] is None else min(best[c], ms)
                pk = run(bench, m, b, t, 3, "bf16", peak=True)
                gf = pk["gmac"] * 2 / (best["bf16"] / 1e3)
                ceil = pk.get("peak_bf16_avx512bf16_gops", 0)
                print("%-34s %2d %2d %8.2f %8.2f %8.2f %8.2f  %10.2f %9.2f %10.2f  %.1f (%.0f%% of %.0f)" % (
                    name, b, t, best["exact"], best["fp32"], best["bf16"], best["bf16w"],
                    best["exact"] / best["bf16"], best["fp32"] / best["bf16"],
                    best["fp32"] / best["bf16w"], gf, 100 * gf / ceil if ceil else 0, ceil),
                    flush=True)


if __name__ == "__main__":
    main()
