"""tile_ref.py — references for suite_tile.sh, computed on the whole image
with numpy (no tiles):
  tile_ref.py image OUT.png W H KIND      write a test picture (KIND: blocks,
                                          gradient, constant, pattern)
  tile_ref.py check MODEL_DIR IMAGE MASK  exit 0 when MASK (raw uint8 indices,
      format=indices) equals the model's per-pixel argmax over the whole
      image (a convolution with the model's own weights, zero padding at the
      image's border only); prints the count of differing pixels
  tile_ref.py agree A.png B.png CELL      fraction of pixels of mask A equal to
      mask B repeated every CELL pixels (B is one cell)"""
import json
import sys

import numpy as np
from PIL import Image


def make(path, w, h, kind):
    y, x = np.mgrid[0:h, 0:w]
    if kind == "blocks":
        levels = np.array([10, 60, 120, 160, 200, 250], dtype=np.uint8)
        rng = np.random.default_rng(w * 31 + h)
        a = levels[((x // 7) * 31 + (y // 5) * 17 + rng.integers(0, 2, (h, w))) % 6]
    elif kind == "gradient":
        a = ((x * 255) // max(w - 1, 1) * 0.6 + (y * 255) // max(h - 1, 1) * 0.4).astype(np.uint8)
    elif kind == "constant":
        a = np.full((h, w), 137, dtype=np.uint8)
    else:  # pattern: large blocks, compresses well (the 40 MP picture)
        levels = np.array([10, 60, 120, 160, 200, 250], dtype=np.uint8)
        a = levels[(x // 64 * 7 + y // 48 * 3) % 6]
    Image.fromarray(a.astype(np.uint8)).save(path)


def check(model_dir, image, mask_path):
    wts = json.load(open(f"{model_dir}/weights.json"))
    w = np.array(wts["w"], dtype=np.float32)[:, 0]  # [3, k, k]
    b = np.array(wts["b"], dtype=np.float32)
    x = np.asarray(Image.open(image).convert("L"), dtype=np.float32) / np.float32(255)
    h, wd = x.shape
    k = w.shape[-1]
    r = k // 2
    xp = np.pad(x, r)
    logits = np.zeros((3, h, wd), dtype=np.float32)
    for c in range(3):
        acc = np.full((h, wd), b[c], dtype=np.float32)
        for dy in range(k):
            for dx in range(k):
                acc += w[c, dy, dx] * xp[dy:dy + h, dx:dx + wd]
        logits[c] = acc
    return compare_mask(logits, mask_path)


def compare_mask(logits, mask_path):
    """0 when the raw mask at mask_path is the argmax of logits [K, H, W]
    on every pixel but near-ties; prints the count of differing pixels.
    (native_ref.py uses it too.)"""
    ref = logits.argmax(0).astype(np.uint8)
    got = np.fromfile(mask_path, dtype=np.uint8)
    if got.size != ref.size:
        print(f"mask has {got.size} bytes, want {ref.size}")
        return 1
    got = got.reshape(ref.shape)
    # a pixel whose two best logits are within float rounding of each other
    # may go either way in any engine: those are not counted
    s = np.sort(logits, 0)
    close = (s[-1] - s[-2]) < 1e-4
    bad = (got != ref) & ~close
    print(f"{int(bad.sum())} of {ref.size} pixels differ ({int(close.sum())} near-ties skipped)")
    if bad.any():
        ys, xs = np.nonzero(bad)
        print("first at", list(zip(xs[:5].tolist(), ys[:5].tolist())))
    return 1 if bad.any() else 0


def agree(a_path, b_path, cell):
    a = np.array(Image.open(a_path))
    b = np.array(Image.open(b_path))
    h, w = a.shape
    rep = np.tile(b, (h // cell + 1, w // cell + 1))[:h, :w]
    print(f"{(a == rep).mean():.5f}")
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "check":
        sys.exit(check(*sys.argv[2:5]))
    elif cmd == "agree":
        sys.exit(agree(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        make(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])


if __name__ == "__main__":
    main()
