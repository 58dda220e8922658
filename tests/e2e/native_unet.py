"""native_unet.py — the repository's scenes-unet with dynamic H and W, and
PyTorch's answer on a picture, for suite_native.sh:
  native_unet.py export MODELS_DIR OUT_DIR
      rebuild models/resunet.py's ResUNet from scenes-unet/weights.pth and
      export it with input ["N", 1, "H", "W"] into OUT_DIR/scenes-native/
      (model.json: scenes-unet's, input.multiple 8: three stride-2 levels)
  native_unet.py check MODELS_DIR IMAGE MASK
      PyTorch on the picture normalised as model.json says, zero-padded at
      the right and bottom to a multiple of 8, cropped back, argmax; exit 0
      when MASK (raw indices) agrees on every pixel whose top two logits are
      more than 1e-3 apart (float32 rounding in two engines only moves
      logits by ~1e-5 here, so a disagreement beyond that is a real one).
      Prints the agreement and the counts."""
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

MULTIPLE = 8


def load(models):
    sys.path.insert(0, os.path.abspath(models))
    from resunet import ResUNet  # noqa: E402
    src = os.path.join(models, "scenes-unet")
    info = json.load(open(os.path.join(src, "torch_metrics.json")))
    net = ResUNet(info["num_classes"], tuple(info["widths"]))
    net.load_state_dict(torch.load(os.path.join(src, "weights.pth"), map_location="cpu"))
    net.eval()
    return net, src


def export(models, out):
    net, src = load(models)
    d = os.path.join(out, "scenes-native")
    os.makedirs(d, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(net, torch.zeros(1, 1, 128, 128), os.path.join(d, "model.onnx"),
                          opset_version=13, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N", 2: "H", 3: "W"},
                                        "logits": {0: "N", 2: "H", 3: "W"}})
    cfg = json.load(open(os.path.join(src, "model.json")))
    cfg["input"]["multiple"] = MULTIPLE
    json.dump(cfg, open(os.path.join(d, "model.json"), "w"), indent=1)
    shutil.copy(os.path.join(src, "labels.txt"), d)


def check(models, image, mask_path):
    net, src = load(models)
    cfg = json.load(open(os.path.join(src, "model.json")))["input"]
    px = np.asarray(Image.open(image).convert("L"), dtype=np.float32)
    x = (px * np.float32(cfg["scale"]) - np.float32(cfg["mean"][0])) / np.float32(cfg["std"][0])
    h, w = x.shape
    t = torch.from_numpy(x)[None, None]
    t = F.pad(t, (0, -w % MULTIPLE, 0, -h % MULTIPLE))  # zeros right and bottom
    with torch.no_grad():
        lg = net(t)[0, :, :h, :w].numpy()
    ref = lg.argmax(0)
    got = np.fromfile(mask_path, dtype=np.uint8)
    if got.size != ref.size:
        print(f"mask has {got.size} bytes, want {ref.size}")
        return 1
    got = got.reshape(h, w)
    s = np.sort(lg, 0)
    close = (s[-1] - s[-2]) < 1e-3
    bad = (got != ref) & ~close
    print(f"agreement {(got == ref).mean():.5f}, {int(bad.sum())} of {ref.size} differ beyond "
          f"near-ties ({int(close.sum())} near-ties)")
    return 1 if bad.any() else 0


if sys.argv[1] == "export":
    export(sys.argv[2], sys.argv[3])
else:
    sys.exit(check(*sys.argv[2:5]))
