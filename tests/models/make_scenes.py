#!/usr/bin/python3
"""Write the 1000 segmentation test scenes (models/scenes.py, test split,
seed scenes.TEST_SEED) as raw uint8 files for skipserve-eval, and check they
are byte-identical to the scenes PyTorch's mIoU was measured on (sha256
recorded in models/scenes-unet/torch_metrics.json at training time).

    make_scenes.py OUTDIR [METRICS.json]   -> OUTDIR/scenes.u8, OUTDIR/labels.u8 (N*128*128 bytes each)
Needs numpy and PIL only (no torch). Exit 1 when the scenes differ."""
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "models"))
import scenes  # noqa: E402


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    metrics_path = (sys.argv[2] if len(sys.argv) == 3 else
                    os.path.join(ROOT, "models", "scenes-unet", "torch_metrics.json"))
    with open(metrics_path) as f:
        metrics = json.load(f)
    n = metrics["test_scenes"]
    imgs, labs = scenes.make_batch("test", metrics["test_seed"], 0, n)
    digest = hashlib.sha256(imgs.tobytes() + labs.tobytes()).hexdigest()
    if digest != metrics["test_scenes_sha256"]:
        sys.exit("make_scenes: the generated test scenes differ from the ones PyTorch was "
                 "evaluated on (sha256 %s, expected %s): numpy/PIL changed the generator's "
                 "output; retrain or re-evaluate with models/train_segmenter.py"
                 % (digest, metrics["test_scenes_sha256"]))
    imgs.tofile(os.path.join(out, "scenes.u8"))
    labs.tofile(os.path.join(out, "labels.u8"))
    print("make_scenes: %d scenes -> %s (sha256 ok)" % (n, out))


if __name__ == "__main__":
    main()
