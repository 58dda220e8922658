"""Calibration folders for skipserve-quantize's tests and models/accuracy.sh:
PNG files the tool reads like any user's folder.

  /usr/bin/python3 tests/quant/make_calib.py fashion OUT_DIR [--count 200]
      the first COUNT Fashion-MNIST *training* images (Debian's
      dataset-fashion-mnist), 28x28 gray, light garment on black, as the
      model was trained: model.json's "invert": "auto" leaves them as they are
  /usr/bin/python3 tests/quant/make_calib.py scenes OUT_DIR [--count 16]
      COUNT seeded *training* scenes of models/scenes.py (the test scenes are
      the evaluation set), 128x128 gray
"""
import argparse
import os
import sys

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "models"))
import fmnist  # noqa: E402
import scenes  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["fashion", "scenes"])
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if a.kind == "fashion":
        x, _ = fmnist.load("train")
        n = a.count or 200
        for i in range(n):
            Image.fromarray(x[i]).save(os.path.join(a.out, "train_%05d.png" % i))
    else:
        n = a.count or 16
        imgs, _ = scenes.make_batch("train", scenes.TEST_SEED, 0, n)
        for i in range(n):
            Image.fromarray(imgs[i]).save(os.path.join(a.out, "scene_%04d.png" % i))
    print("make_calib: %d %s images in %s" % (n, a.kind, a.out))


if __name__ == "__main__":
    main()
