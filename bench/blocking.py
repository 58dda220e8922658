#!/usr/bin/python3
"""blocking.py — the GEMM's cache blocking (kc, mc, nc) on this machine:
runs `skipserve-gemm-bench gemm` once per setting of SKIPSERVE_GEMM_BLOCKS,
all settings in turn, --rounds times, and prints per ResNet layer shape the
best GFLOP/s of each setting at one thread and the chosen ISA (B packed at
run time, as a conv does), and each setting's geometric mean against the
first (the default). Best-of-rounds, alternated: the shared machine's
speed moves in plateaus, so only settings timed in the same rounds compare.

    bench/blocking.py [--isa avx512] [--rounds 3] [--threads 1] default 384,128,256 ...

A setting is `default` (the level's own) or `kc,mc,nc`."""
import argparse
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--isa", default="avx512")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--build", default=os.environ.get("BUILD", "build"))
    ap.add_argument("settings", nargs="+")
    a = ap.parse_args()
    exe = os.path.join(ROOT, a.build, "skipserve-gemm-bench")
    pat = re.compile(r"gemm (\S+) (\d+) thread\(s\) M (\d+) N (\d+) K (\d+): B packed at run ([\d.]+)")
    best = {}  # (setting, shape) -> GFLOP/s
    shapes = []
    for _ in range(a.rounds):
        for s in a.settings:
            env = dict(os.environ)
            env.pop("SKIPSERVE_GEMM_BLOCKS", None)
            if s != "default":
                env["SKIPSERVE_GEMM_BLOCKS"] = s
            out = subprocess.run([exe, "gemm"], env=env, capture_output=True, text=True,
                                 check=True).stdout
            for m in pat.finditer(out):
                if m.group(1) != a.isa or int(m.group(2)) != a.threads:
                    continue
                shape = "%s x %s x %s" % (m.group(3), m.group(4), m.group(5))
                if shape not in shapes:
                    shapes.append(shape)
                g = float(m.group(6))
                best[(s, shape)] = max(best.get((s, shape), 0.0), g)
    if not shapes:
        sys.exit("blocking: no %s rows at %d thread(s)" % (a.isa, a.threads))
    print("| M x N x K | " + " | ".join(a.settings) + " |")
    print("|---|" + "---|" * len(a.settings))
    for sh in shapes:
        print("| %s | " % sh + " | ".join("%.1f" % best[(s, sh)] for s in a.settings) + " |")
    geo = []
    for s in a.settings:
        r = [best[(s, sh)] / best[(a.settings[0], sh)] for sh in shapes]
        geo.append(math.exp(sum(math.log(x) for x in r) / len(r)))
    print("| geo. mean vs %s | " % a.settings[0] + " | ".join("%.3f" % g for g in geo) + " |")


if __name__ == "__main__":
    main()
