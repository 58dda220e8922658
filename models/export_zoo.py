#!/usr/bin/python3
"""Export the model zoo skipserve is checked against (issue 2 item 7, issue 5 item 6).

Every model is exported with a dynamic batch dimension, fixed seeds and (by
default) RANDOM weights — no model hub is reachable here. Beside each
model.onnx, PyTorch's own outputs are saved in the ONNX node-test layout:
test_data_set_0/ (batch 1) and test_data_set_1/ (batch 3), input_0.pb and
output_0.pb as TensorProto files, so `skipserve-conformance` can check the
engine on them.

    export_zoo.py                       all models, opsets 13 and 17 -> models/zoo/<name>-op<N>/
    export_zoo.py --only resnet50 --opset 17
    export_zoo.py --repository [--only NAME ...] [--weights resnet50.pth]   (default: resnet50)
        -> models/<name>/ (model.onnx, model.json for 224x224 center crop with
           ImageNet mean/std, labels.txt from torchvision's category metadata,
           README.md saying where the weights came from)

Random BatchNorm statistics are drawn too (seeded), so that BatchNorm is not
the identity and folding it is actually tested. Run with /usr/bin/python3.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_util  # noqa: E402
from unet import UNet  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class OutOnly(nn.Module):
    """torchvision segmentation models return a dict; export its "out" tensor."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


def _tv(name):
    import torchvision.models as tvm
    return getattr(tvm, name)(weights=None)


def _vit():
    """vit_b_16 whose attention the ONNX exporter can trace: in eval mode
    torch 1.13 routes nn.MultiheadAttention to a fused native kernel
    (aten::_native_multi_head_attention) that has no ONNX export. A non-zero
    dropout probability keeps it on the composite path; in eval mode dropout
    does nothing, so the outputs are the same."""
    import torch
    m = _tv("vit_b_16")
    for mod in m.modules():
        if isinstance(mod, torch.nn.MultiheadAttention) and not mod.dropout:
            mod.dropout = 1e-12
    return m


def _vit_small(approximate="none"):
    """A DeiT-tiny-sized ViT at 224 (patch 16, dim 192, 12 blocks, 3 heads,
    MLP 768; ~5.7 M parameters) from torchvision's VisionTransformer, the
    same graph as vit_b_16 at a twelfth of the work. approximate="tanh"
    swaps every GELU for its tanh form (the exporter writes Tanh, Pow/Mul,
    Add instead of Erf), so both GELU forms are exported and checked."""
    import torch
    from torchvision.models.vision_transformer import VisionTransformer
    m = VisionTransformer(image_size=224, patch_size=16, num_layers=12, num_heads=3,
                          hidden_dim=192, mlp_dim=768)
    for mod in m.modules():
        if isinstance(mod, torch.nn.MultiheadAttention) and not mod.dropout:
            mod.dropout = 1e-12  # composite attention path, as in _vit
    if approximate != "none":
        for name, mod in list(m.named_modules()):
            for cname, child in list(mod.named_children()):
                if isinstance(child, torch.nn.GELU):
                    setattr(mod, cname, torch.nn.GELU(approximate=approximate))
    return m


def _fcn():
    from torchvision.models.segmentation import fcn_resnet50
    return OutOnly(fcn_resnet50(weights=None, weights_backbone=None, aux_loss=False))


def _imagenet_labels():
    from torchvision.models import ResNet50_Weights
    return ResNet50_Weights.IMAGENET1K_V1.meta["categories"]


def _voc_labels():
    from torchvision.models.segmentation import FCN_ResNet50_Weights
    return FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1.meta["categories"]


# name -> (constructor, input CHW, task, labels function)
ZOO = {
    "resnet18": (lambda: _tv("resnet18"), (3, 224, 224), "classify", _imagenet_labels),
    "resnet34": (lambda: _tv("resnet34"), (3, 224, 224), "classify", _imagenet_labels),
    "resnet50": (lambda: _tv("resnet50"), (3, 224, 224), "classify", _imagenet_labels),
    "resnet101": (lambda: _tv("resnet101"), (3, 224, 224), "classify", _imagenet_labels),
    "resnext50_32x4d": (lambda: _tv("resnext50_32x4d"), (3, 224, 224), "classify",
                        _imagenet_labels),
    "mobilenet_v2": (lambda: _tv("mobilenet_v2"), (3, 224, 224), "classify", _imagenet_labels),
    "unet-convtranspose": (lambda: UNet(3, 21, 32, 4, "convtranspose"), (3, 256, 256),
                           "segment", _voc_labels),
    "unet-bilinear": (lambda: UNet(3, 21, 32, 4, "bilinear"), (3, 256, 256), "segment",
                      _voc_labels),
    "fcn_resnet50": (_fcn, (3, 224, 224), "segment", _voc_labels),
    "vit_b_16": (_vit, (3, 224, 224), "classify", _imagenet_labels),
    "vit_small": (_vit_small, (3, 224, 224), "classify", _imagenet_labels),
    "vit_small_tanh": (lambda: _vit_small("tanh"), (3, 224, 224), "classify",
                       _imagenet_labels),
}

# Opsets make test-zoo exports a model at (default 13 and 17). The tanh-GELU
# ViT differs from vit_small only in its GELU nodes, which are the same at
# both opsets (vit_small-op13 covers the LayerNormalization decomposition):
# one opset keeps test-zoo inside its CI budget. ViT-B/16 likewise: its
# opset-13 graph is vit_small-op13's (the same decomposed LayerNorm, Erf,
# attention nodes) at 12x the width, and costs ~100 s of export and ~90 s
# of checks (the scalar level most) per opset.
ZOO_OPSETS = {"vit_small_tanh": (17,), "vit_b_16": (17,)}


def seed_all(seed):
    np.random.seed(seed)
    torch.manual_seed(seed)


def randomize_bn(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def randomize_zero_init(model, seed):
    """Transformers start with zeros and ones that would make the check
    vacuous: torchvision's VisionTransformer zero-initializes its classifier
    head (every logit 0 for every input, so any engine "matches" PyTorch),
    and its LayerNorms (weight 1, bias 0) and attention / MLP biases (0)
    leave the scale, shift and bias paths of the graph untested. Draw them
    (seeded) instead. Models without these modules are unchanged."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.LayerNorm) and m.elementwise_affine:
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        elif isinstance(m, nn.MultiheadAttention):
            if m.in_proj_bias is not None:
                m.in_proj_bias.data.copy_(torch.randn(m.in_proj_bias.shape, generator=g) * 0.1)
            if m.out_proj.bias is not None:
                m.out_proj.bias.data.copy_(torch.randn(m.out_proj.bias.shape, generator=g) * 0.1)
    heads = getattr(model, "heads", None)
    if heads is not None and hasattr(heads, "head"):
        h = heads.head
        h.weight.data.copy_(torch.randn(h.weight.shape, generator=g) / h.in_features ** 0.5)
        h.bias.data.copy_(torch.randn(h.bias.shape, generator=g) * 0.1)


def build(name, seed, weights=None):
    make, chw, task, labels = ZOO[name]
    seed_all(seed)
    model = make()
    if weights:
        state = torch.load(weights, map_location="cpu")
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        target = model.m if isinstance(model, OutOnly) else model
        target.load_state_dict(state)
    else:
        randomize_bn(model, seed + 1)
        randomize_zero_init(model, seed + 3)
    model.eval()
    return model, chw, task, labels


def output_name(task):
    return "logits" if task == "classify" else "out"


def export_one(name, opset, folder, seed, weights=None):
    t0 = time.time()
    model, chw, task, _ = build(name, seed, weights)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    oname = output_name(task)
    export_util.export_onnx(model, torch.zeros(1, *chw), path, opset, output_name=oname)
    g = torch.Generator().manual_seed(seed + 2)
    for k, n in enumerate((1, 3)):
        x = torch.randn(n, *chw, generator=g)
        with torch.no_grad():
            y = model(x)
        export_util.save_test_data(os.path.join(folder, "test_data_set_%d" % k),
                                   {"input": x.numpy()}, {oname: y.numpy()})
    size = os.path.getsize(path)
    print("%-24s opset %d  %7.1f MB  %5.1fs -> %s" % (name, opset, size / 1e6, time.time() - t0,
                                                    folder), flush=True)
    return model, task


def write_repository_entry(name, opset, out_root, seed, weights):
    folder = os.path.join(out_root, name)
    model, task = export_one(name, opset, folder, seed, weights)
    _, chw, _, labels_fn = ZOO[name]
    labels = labels_fn()
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    h, w = chw[1], chw[2]
    inp = {"width": w, "height": h, "color": "rgb", "scale": 1.0 / 255.0,
           "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    if task == "classify":
        inp.update({"resize": "shorter_then_center_crop", "resize_to": 256})
    else:
        inp.update({"resize": "stretch"})
    cfg = {"task": task, "input": inp, "labels": "labels.txt",
           "output": {"softmax": task == "classify"},
           "batching": {"max_batch": 8, "max_delay_us": 2000, "max_queue": 256}}
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    origin = ("pretrained weights from `%s` (supplied by the user)" % os.path.basename(weights)
              if weights else
              "**RANDOM weights** (seed %d): its answers are meaningless; it exists to "
              "exercise the server and the engine. Re-run with `--weights FILE.pth` "
              "(a torchvision state_dict) for a real model." % seed)
    readme = """# %s

torchvision `%s` exported to ONNX (opset %d, dynamic batch, input `input`
N x %d x %d x %d float, output `%s`) by `models/export_zoo.py --repository --only %s%s`.

Weights: %s

Input mapping (model.json): RGB, %s, scale 1/255, ImageNet mean %s / std %s.
Labels: %s (from torchvision's own category metadata).

Files: `model.onnx`, `model.json`, `labels.txt`, `test_data_set_0/` (batch 1) and
`test_data_set_1/` (batch 3): random inputs and PyTorch's outputs (TensorProto).
This folder is generated and stays out of git (models/.gitignore).
""" % (name, name, opset, chw[0], h, w, output_name(task), name,
       " --weights FILE.pth" if weights else "", origin,
       "shorter side to 256 then 224x224 center crop" if task == "classify"
       else "stretched to %dx%d" % (w, h),
       IMAGENET_MEAN, IMAGENET_STD,
       "%d ImageNet classes" % len(labels) if task == "classify"
       else "%d Pascal VOC classes" % len(labels))
    with open(os.path.join(folder, "README.md"), "w") as f:
        f.write(readme)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", action="append", choices=sorted(ZOO),
                    help="export only this model (repeatable)")
    ap.add_argument("--opset", type=int, action="append", choices=range(7, 18),
                    metavar="N", help="opset (repeatable; default 13 and 17, or 13 "
                    "with --repository)")
    ap.add_argument("--out", help="output folder (default models/zoo, or models with "
                    "--repository)")
    ap.add_argument("--repository", action="store_true",
                    help="write model repository entries models/<name>/ with model.json")
    ap.add_argument("--weights", help="a state_dict .pth to load instead of random weights "
                    "(needs exactly one --only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = args.only or (["resnet50"] if args.repository else list(ZOO))
    if args.weights and len(names) != 1:
        ap.error("--weights needs exactly one --only NAME")
    if args.repository:
        opsets = args.opset or [13]
        if len(opsets) != 1:
            ap.error("--repository writes one entry per model: give one --opset")
        out = args.out or HERE
        for name in names:
            write_repository_entry(name, opsets[0], out, args.seed, args.weights)
        return
    out = args.out or os.path.join(HERE, "zoo")
    for name in names:
        for opset in args.opset or [13, 17]:
            export_one(name, opset, os.path.join(out, "%s-op%d" % (name, opset)), args.seed,
                       args.weights)


if __name__ == "__main__":
    main()
