"""native_ref.py — references for suite_native.sh, numpy only:
  native_ref.py image OUT.png W H       a gray test picture (random blocks)
  native_ref.py check MODEL_DIR IMAGE MASK [MULTIPLE]
      exit 0 when MASK (raw uint8, format=indices) is, on every pixel, the
      argmax of the model (weights.npz) run on the picture normalised as
      model.json says: conv3 at the picture's own size (zero padding at its
      border: what native size promises for a network of 3x3 convolutions);
      stride4 on the picture zero-padded at the right and bottom to
      MULTIPLE, then cropped. Near-ties (top two logits within 1e-4) are not
      counted. Prints the count of differing pixels."""
import json
import sys

import numpy as np
from PIL import Image

from tile_ref import compare_mask


def make(path, w, h):
    rng = np.random.default_rng(w * 7919 + h)
    levels = np.array([5, 50, 100, 128, 160, 210, 250], dtype=np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    a = levels[((x // 5) * 13 + (y // 3) * 7 + rng.integers(0, 3, (h, w))) % 7]
    Image.fromarray(a).save(path)


def conv(x, w, b, stride=1, pad=1):
    """x [Ci,H,W], w [Co,Ci,k,k]: ONNX Conv with symmetric zero padding."""
    co, ci, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    H = (x.shape[1] + 2 * pad - k) // stride + 1
    W = (x.shape[2] + 2 * pad - k) // stride + 1
    y = np.zeros((co, H, W), dtype=np.float64) + b[:, None, None]
    for dy in range(k):
        for dx in range(k):
            patch = xp[:, dy:dy + stride * (H - 1) + 1:stride, dx:dx + stride * (W - 1) + 1:stride]
            y += np.einsum("oi,ihw->ohw", w[:, :, dy, dx].astype(np.float64), patch)
    return y


def convT2(x, w, b):
    """ConvTranspose kernel 2, stride 2: w [Ci,Co,2,2]."""
    ci, H, W = x.shape
    co = w.shape[1]
    y = np.zeros((co, 2 * H, 2 * W)) + b[:, None, None]
    for i in range(2):
        for j in range(2):
            y[:, i::2, j::2] += np.einsum("io,ihw->ohw", w[:, :, i, j].astype(np.float64), x)
    return y


def logits(model_dir, x, multiple):
    p = np.load(f"{model_dir}/weights.npz")
    kind = str(p["kind"])
    if kind == "conv3":
        return conv(x[None], p["w"], p["b"])
    h, w = x.shape
    H, W = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    xp = np.zeros((1, H, W))
    xp[0, :h, :w] = x
    s0 = conv(xp, p["w0"], p["b0"])
    d1 = np.maximum(conv(s0, p["w1"], p["b1"], 2), 0)
    d2 = np.maximum(conv(d1, p["w2"], p["b2"], 2), 0)
    u1 = convT2(d2, p["t1"], p["c1"]) + d1
    u0 = convT2(u1, p["t0"], p["c0"]) + s0
    y = conv(u0, p["wh"], p["bh"], 1, 0)
    return y[:, :h, :w]


def check(model_dir, image, mask_path, multiple=1):
    cfg = json.load(open(f"{model_dir}/model.json"))["input"]
    px = np.asarray(Image.open(image).convert("L"), dtype=np.float64)
    x = (px * cfg["scale"] - cfg["mean"]) / cfg["std"]
    return compare_mask(logits(model_dir, x, int(multiple)), mask_path)


cmd = sys.argv[1]
if cmd == "image":
    make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif cmd == "check":
    sys.exit(check(*sys.argv[2:]))
else:
    sys.exit(f"unknown command {cmd}")
