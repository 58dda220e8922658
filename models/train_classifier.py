#!/usr/bin/python3
"""Train the default classifier, models/fashion-resnet/, on Fashion-MNIST.

A small ResNet with basic blocks: a 3x3 stem, three stages (identity skips
inside a stage, 1x1 stride-2 projection skips where the width doubles),
BatchNorm + ReLU, global average pooling and a linear head. Trained with SGD
(Nesterov) and a one-cycle learning rate, random-crop (pad 2) + horizontal
flip augmentation, all seeds fixed. Evaluated once, at the end, on the 10k
test images (no model selection on the test set).

Run (from the repository root):
    nice -n 10 /usr/bin/python3 models/train_classifier.py
Writes models/fashion-resnet/{model.onnx, model.json, labels.txt,
torch_test_argmax.bin, torch_metrics.json, test_data_set_0/, train_log.txt}.
"""
import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import export_util  # noqa: E402


class BasicBlock(nn.Module):
    """Two 3x3 convs; identity skip, or 1x1 stride-s projection when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = x if self.proj is None else self.proj(x)
        return F.relu(y + skip)


class FashionResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks=(1, 1, 1), num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True))
        layers = []
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(cin, w, stride))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def normalize(x_u8):
    return (torch.from_numpy(np.array(x_u8)).float().div_(255.0) - fmnist.MEAN) / fmnist.STD


def augment(xb, rng):
    """Random crop with 2-pixel zero padding (in normalized units: background
    value) and random horizontal flip; per sample, from a seeded numpy rng."""
    n = xb.shape[0]
    bg = (0.0 - fmnist.MEAN) / fmnist.STD
    padded = F.pad(xb, (2, 2, 2, 2), value=bg)
    out = torch.empty_like(xb)
    dx = rng.integers(0, 5, n)
    dy = rng.integers(0, 5, n)
    flip = rng.random(n) < 0.5
    for i in range(n):
        p = padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
        out[i] = torch.flip(p, dims=[2]) if flip[i] else p
    return out


@torch.no_grad()
def predict(model, x, batch=500):
    model.eval()
    logits = [model(x[i:i + batch]) for i in range(0, x.shape[0], batch)]
    return torch.cat(logits)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--widths", default="16,32,64")
    ap.add_argument("--blocks", default="1,1,1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (smoke test)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "fashion-resnet"))
    ap.add_argument("--bench", action="store_true", help="time 20 batches and exit")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training: load OUT/weights.pth, evaluate and export again")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    seed_all(args.seed)
    rng = np.random.default_rng(args.seed)

    xtr_u8, ytr = fmnist.load("train")
    xte_u8, yte = fmnist.load("test")
    if args.limit:
        xtr_u8, ytr = xtr_u8[:args.limit], ytr[:args.limit]
    xtr = normalize(xtr_u8).unsqueeze(1)
    xte = normalize(xte_u8).unsqueeze(1)
    ytr_t = torch.from_numpy(ytr.astype(np.int64))

    widths = tuple(int(v) for v in args.widths.split(","))
    blocks = tuple(int(v) for v in args.blocks.split(","))
    model = FashionResNet(widths, blocks)
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=args.wd)
    steps_per_epoch = (xtr.shape[0] + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch,
                                                pct_start=0.25)
    os.makedirs(args.out, exist_ok=True)
    log_lines = []

    def log(msg):
        print(msg, flush=True)
        log_lines.append(msg)

    weights = os.path.join(args.out, "weights.pth")
    if args.export_only:
        model.load_state_dict(torch.load(weights))
        with open(os.path.join(args.out, "torch_metrics.json")) as f:
            train_s = json.load(f)["train_seconds"]
        with open(os.path.join(args.out, "train_log.txt")) as f:
            log_lines = [l for l in f.read().splitlines() if not l.startswith(("test accuracy", "  "))]
    else:
        log("FashionResNet widths=%s blocks=%s params=%d epochs=%d batch=%d lr=%g wd=%g seed=%d threads=%d"
            % (widths, blocks, nparams, args.epochs, args.batch, args.lr, args.wd, args.seed,
               args.threads))
        t0 = time.time()
        for epoch in range(args.epochs):
            model.train()
            perm = torch.from_numpy(rng.permutation(xtr.shape[0]))
            tot, correct, loss_sum = 0, 0, 0.0
            for b in range(steps_per_epoch):
                idx = perm[b * args.batch:(b + 1) * args.batch]
                xb = augment(xtr[idx], rng)
                yb = ytr_t[idx]
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                tot += yb.shape[0]
                correct += (logits.argmax(1) == yb).sum().item()
                loss_sum += loss.item() * yb.shape[0]
                if args.bench and b == 19:
                    dt = time.time() - t0
                    print("20 batches: %.2fs -> epoch ~%.0fs" % (dt, dt / 20 * steps_per_epoch))
                    return
            log("epoch %d: loss %.4f train-acc %.4f  (%.0fs)"
                % (epoch + 1, loss_sum / tot, correct / tot, time.time() - t0))
        train_s = time.time() - t0

    logits = predict(model, xte)
    pred = logits.argmax(1).numpy().astype(np.uint8)
    acc = float((pred == yte).mean())
    per_class = [float((pred[yte == c] == c).mean()) for c in range(10)]
    log("test accuracy %.4f (10000 images), training %.0fs" % (acc, train_s))
    for c in range(10):
        log("  %-12s %.4f" % (fmnist.CLASSES[c], per_class[c]))

    model.eval()
    if not args.export_only:
        torch.save(model.state_dict(), weights)
    export(model, args, xte, acc, per_class, pred, train_s, nparams, widths, blocks)
    with open(os.path.join(args.out, "train_log.txt"), "w") as f:
        f.write("\n".join(log_lines) + "\n")


def export(model, args, xte, acc, per_class, pred, train_s, nparams, widths, blocks):
    out = args.out
    onnx_path = os.path.join(out, "model.onnx")
    export_util.export_onnx(model, torch.zeros(1, 1, 28, 28), onnx_path, opset=13,
                            output_name="logits")
    # Fixed test batch: the first 4 test images, exactly as the server would feed them.
    x4 = xte[:4].contiguous()
    with torch.no_grad():
        y4 = model(x4)
    export_util.save_test_data(os.path.join(out, "test_data_set_0"),
                               {"input": x4.numpy()}, {"logits": y4.numpy()})
    export_util.check_onnx(onnx_path, x4.numpy(), y4.numpy())

    with open(os.path.join(out, "labels.txt"), "w") as f:
        f.write("\n".join(fmnist.CLASSES) + "\n")
    cfg = {
        "task": "classify",
        "input": {"width": 28, "height": 28, "color": "gray", "resize": "letterbox",
                  "pad": 0, "scale": 1.0 / 255.0, "mean": [fmnist.MEAN], "std": [fmnist.STD],
                  "invert": "auto"},
        "labels": "labels.txt",
        "output": {"softmax": True},
        "batching": {"max_batch": 32, "max_delay_us": 2000, "max_queue": 256},
    }
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "torch_test_argmax.bin"), "wb") as f:
        f.write(pred.tobytes())
    metrics = {"test_accuracy": acc, "test_images": int(pred.shape[0]),
               "per_class_accuracy": dict(zip(fmnist.CLASSES, per_class)),
               "train_seconds": round(train_s), "params": nparams,
               "widths": list(widths), "blocks": list(blocks), "epochs": args.epochs,
               "seed": args.seed, "threads": args.threads,
               "input_mean": fmnist.MEAN, "input_std": fmnist.STD,
               "torch": torch.__version__}
    with open(os.path.join(out, "torch_metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
