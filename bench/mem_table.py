#!/usr/bin/python3
"""mem_table.py — what a loaded model keeps resident (session 20, branch mem).

    /usr/bin/python3 bench/mem_table.py [--base DIR] [--models a,b,...]
        [--precisions fp32,int8,bf16] [--batch 1] [--threads 2] [--server]

Engine rows: `skipserve-bench MODEL --runs 1 --warmup 0 --json` per zoo
model (models/zoo/<name>-op17/) and precision — fp32 (model.onnx), int8
(model-int8-qdq.onnx), bf16 (model.onnx with --precision bf16) —: the peak
resident set (max_rss_mb: the load, the passes or the run, whichever is
largest), the resident set after the run (rss_mb: what stays while
serving) and the arena, against PERF.md's bound "weights + activation arena
+ 64 MiB" (weights: the file's size). With --base DIR the same runs of
DIR/skipserve-bench (an older build) come first in each row.

--server: `skipserve --port 0` on the default repository (models/) and on
ViT-B/16 alone, VmHWM and VmRSS of the process once /readyz answers (the
plans for every batch size built and warmed up), with DIR/skipserve too
when --base is given.

Memory only: nothing here is timed, so it needs no bench lock."""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
ZOO = os.path.join(ROOT, "models", "zoo")
DEFAULT_MODELS = ["resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_v2",
                  "vit_small", "vit_b_16", "unet-convtranspose", "unet-bilinear"]


def mib(path):
    return os.path.getsize(path) / (1 << 20)


def bench(binary, model, prec, batch, threads):
    f = os.path.join(ZOO, model + "-op17",
                     "model-int8-qdq.onnx" if prec == "int8" else "model.onnx")
    if not os.path.exists(f):
        return None, f
    cmd = [binary, f, "--batch", str(batch), "--threads", str(threads), "--runs", "1",
           "--warmup", "0", "--json"]
    if prec == "bf16":
        cmd += ["--precision", "bf16"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr)
        return None, f
    return json.loads(out.stdout.strip().splitlines()[-1]), f


def engine_table(a):
    cols = ["model", "precision", "file MiB"]
    if a.base:
        cols += ["before: peak", "before: after load+run"]
    cols += ["peak", "after load+run", "arena", "weights + arena + 64", "within"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for m in a.models.split(","):
        for p in a.precisions.split(","):
            new, f = bench(os.path.join(BUILD, "skipserve-bench"), m, p, a.batch, a.threads)
            if not new:
                continue
            row = [m, p, "%.0f" % mib(f)]
            if a.base:
                old, _ = bench(os.path.join(a.base, "skipserve-bench"), m, p, a.batch, a.threads)
                row += ["%.0f" % old["max_rss_mb"], "%.0f" % old["rss_mb"]] if old else ["-", "-"]
            bound = mib(f) + new["arena_mb"] + 64
            row += ["%.0f" % new["max_rss_mb"], "%.0f" % new["rss_mb"], "%.0f" % new["arena_mb"],
                    "%.0f" % bound, "yes" if new["max_rss_mb"] <= bound else "no"]
            print("| " + " | ".join(row) + " |")
            sys.stdout.flush()


def server_mem(binary, args):
    proc = subprocess.Popen([binary, "--port", "0", "--threads", "2"] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = None
    t0 = time.time()
    try:
        while port is None and time.time() - t0 < 60:
            line = proc.stdout.readline()
            mt = re.search(r"listening on \S+:(\d+)", line)
            if mt:
                port = int(mt.group(1))
        while time.time() - t0 < 300:
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2)
                break
            except Exception:
                time.sleep(0.2)
        st = open("/proc/%d/status" % proc.pid).read()
        kb = {k: int(v) for k, v in re.findall(r"^(VmHWM|VmRSS|RssAnon|RssFile):\s+(\d+)", st,
                                               re.M)}
        return {k: v / 1024 for k, v in kb.items()}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def server_table(a):
    runs = [("default repository (models/)", ["--models", os.path.join(ROOT, "models")]),
            ("vit_b_16 alone", ["--model", "vit=" + os.path.join(ZOO, "vit_b_16-op17",
                                                                  "model.onnx")])]
    print("| server | build | peak (VmHWM) MiB | resident (VmRSS) MiB | anon | file |")
    print("|---|---|---|---|---|---|")
    for name, args in runs:
        builds = ([("before", a.base)] if a.base else []) + [("after", BUILD)]
        for tag, d in builds:
            r = server_mem(os.path.join(d, "skipserve"), args)
            print("| %s | %s | %.0f | %.0f | %.0f | %.0f |" % (
                name, tag, r["VmHWM"], r["VmRSS"], r["RssAnon"], r["RssFile"]))
            sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", help="folder of an older build's skipserve-bench / skipserve")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--precisions", default="fp32,int8,bf16")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--server", action="store_true")
    a = ap.parse_args()
    if a.server:
        server_table(a)
    else:
        engine_table(a)


if __name__ == "__main__":
    main()
