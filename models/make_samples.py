#!/usr/bin/python3
"""Write the sample images of tests/data/ (README curl lines, e2e tests) and
PyTorch's answers for them.

- shirt.png / shirt.jpg: a photo-like picture of a real Fashion-MNIST test
  garment (class "Shirt"): inverted to a dark garment on a light background
  (how a product photo looks), tinted blue, upscaled to 224x224 RGB on a soft
  light-grey gradient with a little noise. Served through fashion-resnet's
  model.json (gray, "invert": "auto", letterbox 28x28) it becomes the
  light-on-dark 28x28 image the model was trained on again.
- scene.png / scene.jpg: a test scene of models/scenes.py (128x128 gray): the
  first with 3+ garment classes that PyTorch segments >= 97% right.
- scene_labels.png: its true per-pixel classes (8-bit gray PNG, values 0..7,
  scenes.LABELS).
- scene_torch.png: PyTorch's per-pixel argmax for scene.png (same format).
- expected.json: PyTorch's answers: fashion-resnet's softmax for shirt.png
  (preprocessed here the way model.json says: luma, border mean > 128 ->
  invert, area resize to 28x28), scenes-unet's class pixel counts on
  scene.png and its pixel agreement with the true labels.

    /usr/bin/python3 models/make_samples.py [--out tests/data]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fmnist  # noqa: E402
import scenes  # noqa: E402
from train_classifier import FashionResNet  # noqa: E402
from train_segmenter import MEAN as SEG_MEAN, STD as SEG_STD  # noqa: E402
from resunet import ResUNet  # noqa: E402

SHIRT = 6


def photo_like(img28, rng):
    """Dark-on-light RGB 'product photo' of a light-on-dark 28x28 garment."""
    big = Image.fromarray(img28).resize((224, 224), Image.BICUBIC)
    g = np.asarray(big, np.float32) / 255.0              # 1 = garment
    yy, xx = np.mgrid[0:224, 0:224].astype(np.float32) / 223.0
    bg = 0.97 - 0.08 * (0.6 * yy + 0.4 * xx)              # light grey gradient
    tint = np.array([0.25, 0.35, 0.75], np.float32)        # a blue shirt
    rgb = bg[..., None] * (1 - g[..., None]) + (tint * (1.0 - 0.5 * g[..., None])) * g[..., None]
    rgb = rgb * 255.0 + rng.normal(0, 2.0, rgb.shape)
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")


def classifier_input(img):
    """model.json's mapping, emulated: luma, auto-invert, area resize to 28x28."""
    gray = np.asarray(img.convert("L"), np.float32)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    inverted = bool(border.mean() > 128)
    if inverted:
        gray = 255.0 - gray
    small = Image.fromarray(np.clip(np.rint(gray), 0, 255).astype(np.uint8))
    small = np.asarray(small.resize((28, 28), Image.BOX), np.float32)
    x = (small / 255.0 - fmnist.MEAN) / fmnist.STD
    return torch.from_numpy(x)[None, None], inverted


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "tests", "data"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(5)

    with open(os.path.join(HERE, "fashion-resnet", "torch_metrics.json")) as f:
        m = json.load(f)
    cls = FashionResNet(tuple(m["widths"]), tuple(m["blocks"]))
    cls.load_state_dict(torch.load(os.path.join(HERE, "fashion-resnet", "weights.pth")))
    cls.eval()
    xte, yte = fmnist.load("test")
    chosen = None
    for k in np.nonzero(yte == SHIRT)[0]:
        photo = photo_like(xte[k], rng)
        x, inverted = classifier_input(photo)
        with torch.no_grad():
            p = torch.softmax(cls(x), 1)[0]
        if inverted and int(p.argmax()) == SHIRT and float(p[SHIRT]) > 0.9:
            chosen = (int(k), photo, p)
            break
    if chosen is None:
        sys.exit("make_samples: no confidently classified shirt found")
    k, photo, p = chosen
    photo.save(os.path.join(args.out, "shirt.png"))
    photo.save(os.path.join(args.out, "shirt.jpg"), quality=92)
    x_jpg, _ = classifier_input(Image.open(os.path.join(args.out, "shirt.jpg")))
    with torch.no_grad():
        p_jpg = torch.softmax(cls(x_jpg), 1)[0]

    seg = ResUNet(scenes.NUM_CLASSES, _seg_widths())
    seg.load_state_dict(torch.load(os.path.join(HERE, "scenes-unet", "weights.pth")))
    seg.eval()
    # the first test scene with 3 or more garment classes that PyTorch gets
    # >= 97% of the pixels right: a demo that shows several classes
    for idx in range(1000):
        img, lab = scenes.make_scene("test", scenes.TEST_SEED, idx)
        if len(np.unique(lab)) < 4:
            continue
        x = (torch.from_numpy(img.astype(np.float32)) / 255.0 - SEG_MEAN) / SEG_STD
        with torch.no_grad():
            pred = seg(x[None, None]).argmax(1)[0].numpy().astype(np.uint8)
        if (pred == lab).mean() >= 0.97:
            break
    Image.fromarray(img).save(os.path.join(args.out, "scene.png"))
    Image.fromarray(img).save(os.path.join(args.out, "scene.jpg"), quality=95)
    Image.fromarray(lab).save(os.path.join(args.out, "scene_labels.png"))
    Image.fromarray(pred).save(os.path.join(args.out, "scene_torch.png"))

    top = torch.argsort(p, descending=True)[:5]
    expected = {
        "shirt.png": {"model": "fashion-resnet", "fashion_mnist_test_index": k,
                      "true_label": fmnist.CLASSES[SHIRT], "inverted": True,
                      "top5": [{"label": fmnist.CLASSES[int(i)], "index": int(i),
                                "score": round(float(p[i]), 4)} for i in top]},
        "shirt.jpg": {"top1": fmnist.CLASSES[int(p_jpg.argmax())],
                      "score": round(float(p_jpg.max()), 4)},
        "scene.png": {"model": "scenes-unet", "test_scene_index": idx,
                      "true_classes": sorted({scenes.LABELS[int(c)] for c in np.unique(lab)}),
                      "torch_classes": {scenes.LABELS[int(c)]: int((pred == c).sum())
                                        for c in np.unique(pred)},
                      "torch_pixel_accuracy": round(float((pred == lab).mean()), 4)},
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(json.dumps(expected, indent=1))


def _seg_widths():
    with open(os.path.join(HERE, "scenes-unet", "torch_metrics.json")) as f:
        return json.load(f)["widths"]


if __name__ == "__main__":
    main()
