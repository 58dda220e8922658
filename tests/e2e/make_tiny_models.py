"""make_tiny_models.py OUTDIR — two tiny untrained models (a residual
classifier on 1x28x28 and a U-Net-shaped segmenter on 1x128x128, 11
classes) for running the end-to-end tests when the repository's trained
models are not there. Needs python3-torch and python3-onnx."""
import json
import os
import sys

import torch
import torch.nn as nn

out = sys.argv[1]
torch.manual_seed(0)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        y = torch.relu(self.bn(self.c1(x)))
        y = torch.relu(self.c2(y) + y)
        return self.fc(y.mean(dim=(2, 3)))


class Segmenter(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, padding=1, stride=2)
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.head = nn.Conv2d(16, 11, 1)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        u = self.up(torch.relu(self.down(a)))
        return self.head(torch.cat([a, u], 1))


for name, model, shape in [("tiny-classify", Classifier(), (1, 1, 28, 28)),
                           ("tiny-segment", Segmenter(), (1, 1, 128, 128))]:
    model.eval()
    os.makedirs(f"{out}/{name}", exist_ok=True)
    torch.onnx.export(model, torch.randn(*shape), f"{out}/{name}/model.onnx",
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, opset_version=13)
labels = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
          "Bag", "Ankle boot"]
with open(f"{out}/tiny-classify/labels.txt", "w") as f:
    f.write("\n".join(labels) + "\n")
json.dump({"task": "classify", "input": {"color": "gray", "invert": "auto"},
           "labels": "labels.txt"}, open(f"{out}/tiny-classify/model.json", "w"))
with open(f"{out}/tiny-segment/labels.txt", "w") as f:
    f.write("\n".join(f"class{i}" for i in range(11)) + "\n")
json.dump({"task": "segment", "input": {"color": "gray"}, "labels": "labels.txt"},
          open(f"{out}/tiny-segment/model.json", "w"))
