"""Accuracy of the default models at FP32, INT8 (skipserve-quantize) and BF16,
on their full test sets, through skipserve's engine (skipserve-run, the
optimized graph as the server runs it). `make accuracy` runs it (not in CI:
~10 min on 2 cores).

  /usr/bin/python3 models/accuracy.py [--build build] [--out DIR]
      [--images 10000] [--scenes 1000] [--calib-images 200] [--calib-scenes 16]
      [--methods minmax,percentile,entropy] [--bf16 auto|yes|no] [--threads T]

Rows: FP32 (model.onnx); INT8 per calibration method (skipserve-quantize
MODEL_DIR --calib ... --calib-method M: calibration images are Fashion-MNIST
*training* images / seeded *training* scenes, never the test data); BF16 =
model.onnx with `skipserve-run --precision bf16` (the flag the BF16 work adds;
--bf16 auto runs the row when skipserve-run lists the flag in its usage).
fashion-resnet: top-1 on the 10,000 test images and argmax agreement with
FP32; scenes-unet: mIoU (8 classes, classes present in the label or the
prediction of the whole set) on the 1000 seeded test scenes and pixel
agreement with FP32. Targets (issue 22): INT8 top-1 drop <= 0.5 pt, mIoU drop
<= 0.01, BF16 top-1 agreement with FP32 >= 99%. Writes DIR/accuracy.json and
prints a markdown table."""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
sys.path.insert(0, HERE)
import fmnist  # noqa: E402
import scenes  # noqa: E402

MEAN, STD = 0.286, 0.353  # both models' model.json


def run_model(build, model, x, work, extra, chunk, threads):
    """Logits of x through skipserve-run, `chunk` images a run."""
    outs = []
    inp, outp = os.path.join(work, "in.pb"), os.path.join(work, "out.pb")
    for s in range(0, len(x), chunk):
        with open(inp, "wb") as f:
            f.write(numpy_helper.from_array(x[s:s + chunk], "input").SerializeToString())
        cmd = [os.path.join(build, "skipserve-run"), model, "--input-pb", inp, "--output-pb",
               outp] + extra
        if threads:
            cmd += ["--threads", str(threads)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
        tp = onnx.TensorProto()
        with open(outp, "rb") as f:
            tp.ParseFromString(f.read())
        o = numpy_helper.to_array(tp)
        outs.append(o.argmax(1).astype(np.uint8))  # keep only the answers: bounded memory
    return np.concatenate(outs)


def miou(pred, lab, nc):
    ious = []
    for c in range(nc):
        inter = np.count_nonzero((pred == c) & (lab == c))
        union = np.count_nonzero((pred == c) | (lab == c))
        if union:
            ious.append(inter / union)
    return float(np.mean(ious))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--out", default=None)
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--scenes", type=int, default=1000)
    ap.add_argument("--calib-images", type=int, default=200)
    ap.add_argument("--calib-scenes", type=int, default=16)
    ap.add_argument("--methods", default="minmax,percentile,entropy")
    ap.add_argument("--bf16", choices=["auto", "yes", "no"], default="auto")
    ap.add_argument("--threads", type=int, default=0)
    # session 18: also each method with 7-bit weights (skipserve-quantize
    # --reduce-range: what AVX2 CPUs without VNNI run on vpmaddubsw)
    ap.add_argument("--reduce-range", action="store_true")
    a = ap.parse_args()
    out = a.out or os.path.join(a.build, "accuracy")
    os.makedirs(out, exist_ok=True)
    run = os.path.join(a.build, "skipserve-run")
    quant = os.path.join(a.build, "skipserve-quantize")
    usage = subprocess.run([run], capture_output=True, text=True).stderr
    bf16 = a.bf16 == "yes" or (a.bf16 == "auto" and "--precision" in usage)

    from PIL import Image
    cf, cs = os.path.join(out, "calib-fashion"), os.path.join(out, "calib-scenes")
    if not os.path.isdir(cf):
        os.makedirs(cf)
        xt, _ = fmnist.load("train")
        for i in range(a.calib_images):
            Image.fromarray(xt[i]).save(os.path.join(cf, "train_%05d.png" % i))
    if not os.path.isdir(cs):
        os.makedirs(cs)
        imgs, _ = scenes.make_batch("train", scenes.TEST_SEED, 0, a.calib_scenes)
        for i in range(a.calib_scenes):
            Image.fromarray(imgs[i]).save(os.path.join(cs, "scene_%04d.png" % i))

    # the two test sets, preprocessed as model.json says (the same arithmetic
    # as loaders/preprocess.c for an image already at the model's size)
    x, y = fmnist.load("test")
    x, y = x[:a.images], y[:a.images]
    xf = ((x.astype(np.float32) / 255.0 - MEAN) / STD)[:, None].astype(np.float32)
    si, sl = scenes.make_batch("test", scenes.TEST_SEED, 0, a.scenes)
    xs = ((si.astype(np.float32) / 255.0 - MEAN) / STD)[:, None].astype(np.float32)
    nc = scenes.NUM_CLASSES

    rows = [("FP32", None, [])]
    for m in [m for m in a.methods.split(",") if m]:
        rows.append(("INT8 " + m, m, []))
        if a.reduce_range:
            rows.append(("INT8 " + m + " reduce-range", m, ["--reduce-range"]))
    if bf16:
        rows.append(("BF16", None, ["--precision", "bf16"]))
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), "unknown")
    res = {"cpu": cpu, "rows": []}
    ref = {}
    for label, method, extra in rows:
        r = {"row": label}
        for name, xx, chunk in (("fashion-resnet", xf, 1000), ("scenes-unet", xs, 50)):
            model = os.path.join(HERE, name, "model.onnx")
            if method:
                rr = [e for e in extra if e == "--reduce-range"]
                model = os.path.join(out, "%s.int8.%s%s.onnx" % (name, method,
                                                                 ".rr" if rr else ""))
                calib = cf if name == "fashion-resnet" else cs
                t0 = time.time()
                q = subprocess.run([quant, os.path.join(HERE, name), "--calib", calib,
                                    "--calib-method", method, "--out", model] + rr,
                                   capture_output=True, text=True)
                if q.returncode != 0:
                    raise RuntimeError("skipserve-quantize: " + q.stderr.strip())
                r[name + " quantize s"] = round(time.time() - t0, 1)
            t0 = time.time()
            pred = run_model(a.build, model, xx, out,
                             [e for e in extra if e != "--reduce-range"], chunk, a.threads)
            r[name + " run s"] = round(time.time() - t0, 1)
            if label == "FP32":
                ref[name] = pred
            agree = float((pred == ref[name]).mean())
            if name == "fashion-resnet":
                r["top1"] = float((pred == y).mean()) * 100
                r["top1 agreement"] = agree
            else:
                r["miou"] = miou(pred, sl, nc)
                r["pixel agreement"] = agree
        res["rows"].append(r)
        print("%-20s top-1 %.2f%% (agreement %.4f)  mIoU %.4f (pixel agreement %.4f)" % (
            label, r["top1"], r["top1 agreement"], r["miou"], r["pixel agreement"]), flush=True)
    if not bf16:
        res["bf16"] = ("not run: %s has no --precision flag (the BF16 work adds it); run "
                       "`/usr/bin/python3 models/accuracy.py --bf16 yes` once it has" % run)
    with open(os.path.join(out, "accuracy.json"), "w") as f:
        json.dump(res, f, indent=1)
    f32 = res["rows"][0]
    print("\nCPU: %s; %d test images, %d test scenes; calibration %d training images / %d "
          "training scenes\n" % (res["cpu"], a.images, a.scenes, a.calib_images, a.calib_scenes))
    print("| precision | fashion-resnet top-1 | drop | argmax = FP32 | scenes-unet mIoU | drop "
          "| pixels = FP32 |")
    print("|---|---|---|---|---|---|---|")
    for r in res["rows"]:
        print("| %s | %.2f%% | %+.2f pt | %.2f%% | %.4f | %+.4f | %.2f%% |" % (
            r["row"], r["top1"], f32["top1"] - r["top1"], 100 * r["top1 agreement"], r["miou"],
            f32["miou"] - r["miou"], 100 * r["pixel agreement"]))
    if "bf16" in res:
        print("| BF16 | %s |" % res["bf16"])


if __name__ == "__main__":
    main()
