#!/usr/bin/python3
"""Train the default segmenter, models/scenes-unet/, on generated Fashion-MNIST scenes.

A 4-level U-Net (unet.py: Concat skips, ConvTranspose 2x2 up-sampling,
BatchNorm + ReLU) predicting 11 classes (background + 10 garments) per pixel
of a 128x128 grayscale scene (scenes.py). Training scenes are generated on the
fly from the Fashion-MNIST train split (scene seed --seed, a fresh scene for
every step, never repeated); the 1000 test scenes (seed scenes.TEST_SEED) use
the test split only and are seen once, at the end.

Run (from the repository root):
    nice -n 10 /usr/bin/python3 models/train_segmenter.py
Writes models/scenes-unet/{model.onnx, model.json, labels.txt,
torch_metrics.json, test_data_set_0/, train_log.txt}.
"""
import argparse
import hashlib
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_util  # noqa: E402
import scenes  # noqa: E402
from unet import UNet  # noqa: E402

# Input normalization, fixed (BatchNorm follows the first conv, so exact values matter little).
MEAN, STD = 0.5, 0.25


def to_input(imgs_u8):
    x = torch.from_numpy(np.array(imgs_u8, np.float32)).div_(255.0)
    return ((x - MEAN) / STD).unsqueeze(1)


def confusion(pred, lab, n=scenes.NUM_CLASSES):
    return np.bincount(lab.ravel().astype(np.int64) * n + pred.ravel(),
                       minlength=n * n).reshape(n, n)


def iou_from_confusion(cm):
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


@torch.no_grad()
def evaluate(model, count, batch=50):
    model.eval()
    cm = np.zeros((scenes.NUM_CLASSES, scenes.NUM_CLASSES), np.int64)
    for s in range(0, count, batch):
        imgs, labs = scenes.make_batch("test", scenes.TEST_SEED, s, min(batch, count - s))
        pred = model(to_input(imgs)).argmax(1).numpy()
        cm += confusion(pred, labs)
    return cm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--test-count", type=int, default=1000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "scenes-unet"))
    ap.add_argument("--bench", action="store_true", help="time 10 steps and exit")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    model = UNet(1, scenes.NUM_CLASSES, args.width, 4, "convtranspose")
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                pct_start=0.15)
    os.makedirs(args.out, exist_ok=True)
    log_lines = []

    def log(msg):
        print(msg, flush=True)
        log_lines.append(msg)

    log("UNet width=%d levels=4 up=convtranspose params=%d steps=%d batch=%d lr=%g wd=%g "
        "seed=%d threads=%d" % (args.width, nparams, args.steps, args.batch, args.lr, args.wd,
                                args.seed, args.threads))
    t0 = time.time()
    model.train()
    loss_avg, acc_avg = 0.0, 0.0
    for step in range(args.steps):
        imgs, labs = scenes.make_batch("train", args.seed, step * args.batch, args.batch)
        x = to_input(imgs)
        y = torch.from_numpy(labs.astype(np.int64))
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_avg = 0.98 * loss_avg + 0.02 * loss.item() if step else loss.item()
        if args.bench and step == 9:
            dt = time.time() - t0
            print("10 steps: %.2fs -> %d steps ~%.0fs" % (dt, args.steps, dt / 10 * args.steps))
            return
        if (step + 1) % 100 == 0:
            with torch.no_grad():
                pa = (logits.argmax(1) == y).float().mean().item()
            log("step %d: loss %.4f pixel-acc %.4f lr %.2e (%.0fs)"
                % (step + 1, loss_avg, pa, sched.get_last_lr()[0], time.time() - t0))
    train_s = time.time() - t0
    torch.save(model.state_dict(), os.path.join(args.out, "weights.pth"))

    cm = evaluate(model, args.test_count)
    iou = iou_from_confusion(cm)
    miou = float(np.nanmean(iou))
    pixel_acc = float(np.diag(cm).sum() / cm.sum())
    log("test mIoU %.4f pixel-acc %.4f (%d scenes), training %.0fs"
        % (miou, pixel_acc, args.test_count, train_s))
    for c in range(scenes.NUM_CLASSES):
        log("  %-12s IoU %.4f" % (scenes.LABELS[c], iou[c]))
    export(model, args, miou, iou, pixel_acc, train_s, nparams)
    with open(os.path.join(args.out, "train_log.txt"), "w") as f:
        f.write("\n".join(log_lines) + "\n")


def export(model, args, miou, iou, pixel_acc, train_s, nparams):
    out = args.out
    onnx_path = os.path.join(out, "model.onnx")
    export_util.export_onnx(model, torch.zeros(1, 1, 128, 128), onnx_path, opset=13,
                            output_name="logits")
    imgs, _ = scenes.make_batch("test", scenes.TEST_SEED, 0, 4)
    x4 = to_input(imgs)
    with torch.no_grad():
        y4 = model(x4)
    export_util.save_test_data(os.path.join(out, "test_data_set_0"),
                               {"input": x4.numpy()}, {"logits": y4.numpy()})
    export_util.check_onnx(onnx_path, x4.numpy(), y4.numpy())
    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(scenes.LABELS) + "\n")
    cfg = {
        "task": "segment",
        "input": {"width": 128, "height": 128, "color": "gray", "resize": "stretch",
                  "scale": 1.0 / 255.0, "mean": [MEAN], "std": [STD], "invert": False},
        "labels": "labels.txt",
        "output": {"softmax": False},
        "batching": {"max_batch": 8, "max_delay_us": 2000, "max_queue": 256},
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    imgs, labs = scenes.make_batch("test", scenes.TEST_SEED, 0, args.test_count)
    digest = hashlib.sha256(imgs.tobytes() + labs.tobytes()).hexdigest()
    metrics = {"test_miou": miou, "test_pixel_accuracy": pixel_acc,
               "test_scenes": args.test_count, "test_seed": scenes.TEST_SEED,
               "test_scenes_sha256": digest, "input_mean": MEAN, "input_std": STD,
               "per_class_iou": dict(zip(scenes.LABELS, [float(v) for v in iou])),
               "train_seconds": round(train_s), "params": nparams, "width": args.width,
               "steps": args.steps, "batch": args.batch, "seed": args.seed,
               "threads": args.threads, "torch": torch.__version__}
    with open(os.path.join(out, "torch_metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
