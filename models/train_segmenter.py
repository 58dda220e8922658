#!/usr/bin/python3
"""Train the default segmenter, models/scenes-unet/, on generated Fashion-MNIST scenes.

A 4-level U-Net (resunet.py: residual encoder, Concat skips, ConvTranspose
2x2 up-sampling, BatchNorm + ReLU) predicting 8 classes per pixel of a
128x128 grayscale scene (scenes.py): background, Top (T-shirt/top, Pullover,
Coat and Shirt merged), Trouser, Dress, Sandal, Sneaker, Bag, Ankle boot. Training
scenes are generated on the fly from the Fashion-MNIST train split (scene
seed --seed, fresh scenes for every step, never repeated); the 1000 test
scenes (seed scenes.TEST_SEED) use the test split only and are seen once, at
the end. Two stages, both seeded:

1. The encoder's first three levels are fashion-resnet's (--init), which
   tells garments apart but has only seen black backgrounds. It is first
   fine-tuned as a classifier on 40x40 patches of one garment over a scene
   background (scenes.garment_patch; --pre-steps x --pre-batch patches): per
   garment this costs a quarter of a U-Net crop, and recognizing garments is
   the sample-hungry part of the task. This stage keeps the 10 Fashion-MNIST
   classes; the U-Net's ctx head starts from its linear head, merged rows
   averaged (resunet.load_classifier).
2. The U-Net trains on 48x48 crops, each centred (+-4 px) on one garment of
   a fresh 128x128 scene (two crops per scene, --batch crops per step): a crop
   costs a seventh of a scene, which is ~90% background. Loss: per-pixel
   cross-entropy plus --aux x the cross-entropy of the sliding classifier head
   (resunet.py "ctx") at 1/4 resolution. The network is fully convolutional
   and BatchNorm is a fixed affine map at inference, so the model trained on
   crops runs unchanged on whole scenes (--full-frac > 0 adds whole-scene
   steps at the end; 0 by default: they did not help).
Tensors are channels-last (faster convolutions on CPU in PyTorch 1.13).

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
import fmnist  # noqa: E402
from resunet import ResUNet  # noqa: E402
from train_classifier import FashionResNet  # noqa: E402

# The classifier's input normalization: the encoder starts from its weights.
MEAN, STD = fmnist.MEAN, fmnist.STD


def to_input(imgs_u8):
    x = torch.from_numpy(np.array(imgs_u8, np.float32)).div_(255.0)
    return ((x - MEAN) / STD).unsqueeze(1)


CROP = 48


def garment_crops(seed, index0, n):
    """2n CROPxCROP crops from n fresh training scenes: each centred (+-4 px)
    on one garment's box, two different garments of a scene when it has two."""
    ci = np.empty((2 * n, CROP, CROP), np.uint8)
    cl = np.empty((2 * n, CROP, CROP), np.uint8)
    for i in range(n):
        boxes = []
        img, lab = scenes.make_scene("train", seed, index0 + i, boxes)
        rng = np.random.default_rng([seed, 99, index0 + i])
        order = rng.permutation(len(boxes)) if boxes else []
        for j in range(2):
            if len(order):
                x0, y0, x1, y1 = boxes[order[j % len(order)]]
                cx = (x0 + x1) // 2 + int(rng.integers(-4, 5))
                cy = (y0 + y1) // 2 + int(rng.integers(-4, 5))
            else:
                cy, cx = rng.integers(0, scenes.SIZE, 2)
            y0 = int(np.clip(cy - CROP // 2, 0, scenes.SIZE - CROP))
            x0 = int(np.clip(cx - CROP // 2, 0, scenes.SIZE - CROP))
            ci[2 * i + j] = img[y0:y0 + CROP, x0:x0 + CROP]
            cl[2 * i + j] = lab[y0:y0 + CROP, x0:x0 + CROP]
    return ci, cl


def pretrain_classifier(clf, args, log):
    """Stage 1: fine-tune fashion-resnet on single garments at scene scale over
    scene backgrounds (scenes.garment_patch, 40x40, classification loss). The
    classifier only knows black backgrounds; this is the cheap place (a
    quarter of a U-Net crop's compute per garment) to learn the textures."""
    clf.train()
    opt = torch.optim.SGD(clf.parameters(), lr=args.pre_lr, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.pre_lr,
                                                total_steps=args.pre_steps, pct_start=0.15)
    b = args.pre_batch
    t0 = time.time()
    acc_avg = 0.0
    for step in range(args.pre_steps):
        pairs = [scenes.garment_patch("train", args.seed, step * b + i) for i in range(b)]
        x = to_input(np.stack([p for p, _ in pairs]))
        y = torch.tensor([c for _, c in pairs])
        logits = clf(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        acc = (logits.argmax(1) == y).float().mean().item()
        acc_avg = 0.95 * acc_avg + 0.05 * acc if step else acc
        if (step + 1) % 50 == 0:
            log("pre %d: loss %.4f train-acc %.4f (%.0fs)" % (step + 1, loss.item(), acc_avg,
                                                            time.time() - t0))
    # held out: patches of another seed (train split garments, new compositions)
    clf.eval()
    pairs = [scenes.garment_patch("train", args.seed + 1000, i) for i in range(1000)]
    with torch.no_grad():
        pred = clf(to_input(np.stack([p for p, _ in pairs]))).argmax(1).numpy()
    val = float((pred == np.array([c for _, c in pairs])).mean())
    log("pre: validation accuracy %.4f on 1000 patches, %.0fs" % (val, time.time() - t0))
    return time.time() - t0


def confusion(pred, lab, n=scenes.NUM_CLASSES):
    return np.bincount(lab.ravel().astype(np.int64) * n + pred.ravel(),
                       minlength=n * n).reshape(n, n)


def iou_from_confusion(cm):
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


@torch.no_grad()
def evaluate(model, count, batch=50, split="test", seed=scenes.TEST_SEED):
    model.eval()
    cm = np.zeros((scenes.NUM_CLASSES, scenes.NUM_CLASSES), np.int64)
    for s in range(0, count, batch):
        imgs, labs = scenes.make_batch(split, seed, s, min(batch, count - s))
        x = to_input(imgs).contiguous(memory_format=torch.channels_last)
        pred = model(x).argmax(1).numpy()
        cm += confusion(pred, labs)
    return cm


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=32, help="crops per step (full scenes: /4)")
    ap.add_argument("--full-frac", type=float, default=0.0,
                    help="fraction of steps (the last ones) on full 128x128 scenes")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--aux", type=float, default=0.4, help="weight of the 1/4-resolution loss")
    ap.add_argument("--pre-steps", type=int, default=800,
                    help="stage 1: classifier fine-tuning steps on background patches")
    ap.add_argument("--pre-batch", type=int, default=128)
    ap.add_argument("--pre-lr", type=float, default=0.05)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--widths", default="16,32,64,128", help="channels of the 4 levels "
                    "(the first three must match the classifier's)")
    ap.add_argument("--init", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   "fashion-resnet"),
                    help="classifier folder whose weights.pth starts the encoder ('' = none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1,
                    help="1 is the most work per CPU second for these small tensors")
    ap.add_argument("--test-count", type=int, default=1000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "scenes-unet"))
    ap.add_argument("--bench", action="store_true", help="time 10 steps and exit")
    ap.add_argument("--val-every", type=int, default=0,
                    help="every N steps, log mIoU on 100 validation scenes (train split, "
                         "another seed; monitoring only)")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training: load OUT/weights.pth, evaluate and export again")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    widths = [int(v) for v in args.widths.split(",")]
    model = ResUNet(scenes.NUM_CLASSES, widths)
    os.makedirs(args.out, exist_ok=True)
    log_lines = []

    def log(msg):
        print(msg, flush=True)
        log_lines.append(msg)

    init_note = "random init"
    pre_s = 0.0
    if args.init and not args.export_only:
        with open(os.path.join(args.init, "torch_metrics.json")) as f:
            cm_ = json.load(f)
        clf = FashionResNet(tuple(cm_["widths"]), tuple(cm_["blocks"]))
        clf.load_state_dict(torch.load(os.path.join(args.init, "weights.pth")))
        init_note = "encoder from %s (test accuracy %.4f)" % (
            os.path.relpath(args.init), cm_["test_accuracy"])
        if args.pre_steps:
            log("stage 1: %s, %d steps of %d background patches, lr %g"
                % (init_note, args.pre_steps, args.pre_batch, args.pre_lr))
            pre_s = pretrain_classifier(clf, args, log)
            init_note += " fine-tuned on background patches"
        model.load_classifier(clf, scenes.FINE_TO_LABEL)
    model = model.to(memory_format=torch.channels_last)
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps,
                                                pct_start=0.15)
    full_from = int(args.steps * (1 - args.full_frac))
    log("UNet (residual encoder) widths=%s levels=4 up=convtranspose params=%d steps=%d "
        "(full scenes from %d) batch=%d crop=%d lr=%g wd=%g seed=%d threads=%d; %s"
        % (widths, nparams, args.steps, full_from, args.batch, CROP, args.lr, args.wd,
           args.seed, args.threads, init_note))
    t0 = time.time()
    model.train()
    loss_avg = 0.0
    weights = os.path.join(args.out, "weights.pth")
    if args.export_only:
        model.load_state_dict(torch.load(weights))
        with open(os.path.join(args.out, "torch_metrics.json")) as f:
            train_s0 = json.load(f)["train_seconds"]
        with open(os.path.join(args.out, "train_log.txt")) as f:
            log_lines[:] = [l for l in f.read().splitlines()
                            if l.startswith(("stage", "pre", "UNet", "step"))]
    for step in range(0 if args.export_only else args.steps):
        # scene indices never repeat: crop steps use batch/2 scenes, full steps batch/4
        if step < full_from:
            n = args.batch // 2
            first = step * n
            imgs, labs = garment_crops(args.seed, first, n)
        else:
            n = max(1, args.batch // 4)
            first = full_from * (args.batch // 2) + (step - full_from) * n
            imgs, labs = scenes.make_batch("train", args.seed, first, n)
        x = to_input(imgs).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(labs.astype(np.int64))
        logits, ctx = model.forward_aux(x)
        # auxiliary loss on the 1/4-resolution class map (labels sampled at the
        # centre of each 4x4 cell): trains the sliding classifier head directly
        loss = F.cross_entropy(logits, y) + args.aux * F.cross_entropy(ctx, y[:, 2::4, 2::4])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_avg = 0.98 * loss_avg + 0.02 * loss.item() if step else loss.item()
        if args.bench and step in (9, full_from + 9):
            dt = time.time() - t0
            print("10 %s steps: %.2fs" % ("full" if step > full_from else "crop", dt))
            if step > full_from:
                return
            full_from = step + 1  # time full-scene steps next
            t0 = time.time()
        if (step + 1) % 100 == 0:
            with torch.no_grad():
                pa = (logits.argmax(1) == y).float().mean().item()
            log("step %d: loss %.4f pixel-acc %.4f lr %.2e (%.0fs)"
                % (step + 1, loss_avg, pa, sched.get_last_lr()[0], time.time() - t0))
        if args.val_every and (step + 1) % args.val_every == 0:
            v = iou_from_confusion(evaluate(model, 100, split="train", seed=args.seed + 1000))
            log("step %d: validation mIoU %.4f  [%s]" % (step + 1, np.nanmean(v),
                                                       " ".join("%.2f" % a for a in v)))
            model.train()
    if args.export_only:
        train_s = train_s0
    else:
        train_s = time.time() - t0 + pre_s
        torch.save(model.state_dict(), weights)

    cm = evaluate(model, args.test_count)
    iou = iou_from_confusion(cm)
    miou = float(np.nanmean(iou))
    pixel_acc = float(np.diag(cm).sum() / cm.sum())
    log("test mIoU %.4f pixel-acc %.4f (%d scenes), training %.0fs (both stages)"
        % (miou, pixel_acc, args.test_count, train_s))
    for c in range(scenes.NUM_CLASSES):
        log("  %-12s IoU %.4f" % (scenes.LABELS[c], iou[c]))
    export(model, args, miou, iou, pixel_acc, train_s, nparams, widths)
    with open(os.path.join(args.out, "train_log.txt"), "w") as f:
        f.write("\n".join(log_lines) + "\n")


def export(model, args, miou, iou, pixel_acc, train_s, nparams, widths):
    out = args.out
    onnx_path = os.path.join(out, "model.onnx")
    model = model.to(memory_format=torch.contiguous_format)
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
               "num_classes": scenes.NUM_CLASSES,
               "test_scenes": args.test_count, "test_seed": scenes.TEST_SEED,
               "test_scenes_sha256": digest, "input_mean": MEAN, "input_std": STD,
               "per_class_iou": dict(zip(scenes.LABELS, [float(v) for v in iou])),
               "train_seconds": round(train_s), "params": nparams, "widths": widths,
               "full_frac": args.full_frac,
               "steps": args.steps, "batch": args.batch, "crop": CROP, "aux": args.aux,
               "pre_steps": args.pre_steps, "pre_batch": args.pre_batch, "pre_lr": args.pre_lr, "seed": args.seed,
               "threads": args.threads, "torch": torch.__version__}
    with open(os.path.join(out, "torch_metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
