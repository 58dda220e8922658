#!/usr/bin/python3
"""bench/bf16.py — BF16 against our FP32 (issue 22), in alternating rounds.

For each model, batch and thread count, four configurations of
skipserve-bench run one after another in each round (one median of --runs
runs each), so that a burst of load on the shared machine hits all four:
  exact  FP32, SKIPSERVE_WINOGRAD=0 (im2col GEMM only: shared/PERF.md's
         "exact path")
  fp32   FP32 default (Winograd where it applies)
  bf16   --precision bf16, SKIPSERVE_BF16_WINOGRAD=0 (every non-depthwise
         conv on the vdpbf16ps GEMM)
  bf16d  --precision bf16 as shipped (3x3 stride-1 convs that FP32 would
         run by Winograd F(4x4) stay there when they do >= 200 M
         multiply-adds per image; the rest on the BF16 GEMM)
  bf16v  (--with-vdp, session 19) bf16d on the vdpbf16ps kernels where
         the CPU has AMX-BF16 (SKIPSERVE_BF16_UK=avx512bf16): AMX's gain
Prints a markdown row per case: the best round median of each (ms), the
speed-ups (ratio of times, > 1: the bf16 configuration is faster), and
bf16's GFLOP/s against the bf16 ceiling (--peak, measured once per row).
Each row (its rounds of the four, and the --peak run) holds
/work/notes/bench.lock when it exists (the script re-runs itself under
flock for one row: other timings cannot interleave with a row's rounds).

  bench/bf16.py MODEL.onnx ... [--batches 1 8] [--threads 1 2] [--runs 5]
                [--rounds 2] [--build build]
"""
import argparse
import json
import os
import subprocess
import sys

LOCK = "/work/notes/bench.lock"
CONFIGS = ("exact", "fp32", "bf16", "bf16d")


def run(bench, model, b, t, runs, cfg, peak=False):
    env = dict(os.environ)
    args = [bench, model, "--batch", str(b), "--threads", str(t), "--runs", str(runs), "--json"]
    if cfg == "exact":
        env["SKIPSERVE_WINOGRAD"] = "0"
    if cfg in ("bf16", "bf16d", "bf16v"):
        args += ["--precision", "bf16"]
    if cfg == "bf16v":
        env["SKIPSERVE_BF16_UK"] = "avx512bf16"
    if cfg == "bf16":
        env["SKIPSERVE_BF16_WINOGRAD"] = "0"
    if peak:
        args.append("--peak")
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    j = json.loads(out.strip().splitlines()[-1])
    if not j["outputs_ok"]:
        sys.exit("%s %s: outputs not sane" % (model, cfg))
    return j


def row(a, bench, m, b, t):
    name = os.path.basename(os.path.dirname(m)) or m
    configs = CONFIGS + (("bf16v",) if a.with_vdp else ())
    best = {c: None for c in configs}
    for _ in range(a.rounds):
        for c in configs:
            ms = run(bench, m, b, t, a.runs, c)["median_ms"]
            best[c] = ms if best[c] is None else min(best[c], ms)
    pk = run(bench, m, b, t, 3, "bf16", peak=True)
    gf = pk["gmac"] * 2 / (best["bf16"] / 1e3)
    # the ceiling of the kernel bf16 ran on: AMX-BF16's where the CPU has it
    ceil = pk.get("peak_bf16_amx_gops", 0) or pk.get("peak_bf16_avx512bf16_gops", 0)
    vdp = " %.2f | %.2f |" % (best["bf16v"], best["bf16v"] / best["bf16d"]) if a.with_vdp else ""
    print("| %s | %d | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f (%.0f%% of %.0f) |%s" % (
        name, b, t, best["exact"], best["fp32"], best["bf16"], best["bf16d"],
        best["exact"] / best["bf16"], best["exact"] / best["bf16d"], best["fp32"] / best["bf16"],
        best["fp32"] / best["bf16d"], gf, 100 * gf / ceil if ceil else 0, ceil, vdp), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--build", default="build")
    ap.add_argument("--with-vdp", action="store_true",
                    help="also bf16 on the vdpbf16ps kernels (SKIPSERVE_BF16_UK=avx512bf16)")
    ap.add_argument("--row", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    bench = os.path.join(a.build, "skipserve-bench")
    if a.row:  # one row, already under the lock
        row(a, bench, a.models[0], a.batches[0], a.threads[0])
        return
    print("| model | b | T | exact ms | fp32 ms | bf16 ms | bf16d ms | exact/bf16 | exact/bf16d "
          "| fp32/bf16 | fp32/bf16d | bf16 GFLOP/s (%% of the bf16 ceiling at T) |%s\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|%s" % (
              " bf16v ms | bf16v/bf16d |" if a.with_vdp else "",
              "---|---|" if a.with_vdp else ""), flush=True)
    for m in a.models:
        for b in a.batches:
            for t in a.threads:
                cmd = [sys.executable, os.path.abspath(__file__), m, "--batches", str(b),
                       "--threads", str(t), "--runs", str(a.runs), "--rounds", str(a.rounds),
                       "--build", a.build, "--row"] + (["--with-vdp"] if a.with_vdp else [])
                if os.path.exists(LOCK):
                    cmd = ["flock", LOCK] + cmd
                subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
