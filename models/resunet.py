"""The scenes-unet model: a 4-level U-Net whose encoder is fashion-resnet's.

Levels (input 128x128, strides 1, 2, 4, 8):
  enc0  stem 3x3 conv + BN + ReLU, BasicBlock(16)          \\
  enc1  BasicBlock(16 -> 32, stride 2, 1x1 projection)      > fashion-resnet's layers,
  enc2  BasicBlock(32 -> 64, stride 2, 1x1 projection)     /  initialized from its weights
  enc3  BasicBlock(64 -> 128, stride 2, 1x1 projection)    new (the bottleneck)
  ctx   7x7 average pool (stride 1) of enc2, 1x1 conv 64 -> classes: the classifier's
        global-average-pool + linear head made sliding (a 28x28-pixel window, the
        size of a Fashion-MNIST image), initialized from its linear layer (merged
        classes: see load_classifier)
  dec2  ConvTranspose 2x2/2 (128 -> 64), Concat enc2 and ctx, 2x (3x3 conv + BN + ReLU)
  dec1  ConvTranspose 2x2/2 (64 -> 32),  Concat enc1, 2x (3x3 conv + BN + ReLU)
  dec0  ConvTranspose 2x2/2 (32 -> 16),  Concat enc0, 2x (3x3 conv + BN + ReLU)
  head  1x1 conv -> class logits per pixel (8 for scenes-unet: scenes.LABELS)
Starting from a classifier that already tells garments apart is what lets
this train on 2 CPU cores in the time budget (see scenes-unet/README.md).
forward() returns the logits; forward_aux() also returns ctx's logits (at
1/4 resolution) for an auxiliary loss during training."""
import math

import torch
import torch.nn as nn

from train_classifier import BasicBlock, FashionResNet
from unet import double_conv


class ResUNet(nn.Module):
    def __init__(self, num_classes=8, widths=(16, 32, 64, 128)):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(nn.Conv2d(1, w0, 3, 1, 1, bias=False), nn.BatchNorm2d(w0),
                                  nn.ReLU(inplace=True))
        self.enc0 = BasicBlock(w0, w0, 1)
        self.enc1 = BasicBlock(w0, w1, 2)
        self.enc2 = BasicBlock(w1, w2, 2)
        self.enc3 = BasicBlock(w2, w3, 2)
        self.ctx_pool = nn.AvgPool2d(7, stride=1, padding=3, count_include_pad=False)
        self.ctx = nn.Conv2d(w2, num_classes, 1)
        self.up2 = nn.ConvTranspose2d(w3, w2, 2, 2)
        self.dec2 = double_conv(2 * w2 + num_classes, w2)
        self.up1 = nn.ConvTranspose2d(w2, w1, 2, 2)
        self.dec1 = double_conv(2 * w1, w1)
        self.up0 = nn.ConvTranspose2d(w1, w0, 2, 2)
        self.dec0 = double_conv(2 * w0, w0)
        self.head = nn.Conv2d(w0, num_classes, 1)

    def forward_aux(self, x):
        e0 = self.enc0(self.stem(x))
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        ctx = self.ctx(self.ctx_pool(e2))
        d2 = self.dec2(torch.cat([self.up2(e3), e2, ctx], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        d0 = self.dec0(torch.cat([self.up0(d1), e0], 1))
        return self.head(d0), ctx

    def forward(self, x):
        return self.forward_aux(x)[0]

    def load_classifier(self, clf: FashionResNet, fine_to_label=None):
        """Copy fashion-resnet's stem and its three stages into enc0..enc2,
        and its linear head into ctx. fine_to_label[c] is the segmentation
        class of the classifier's class c (default c + 1). A segmentation
        class made of n classifier classes starts from the mean of their
        rows, bias + log n: a linear stand-in for the log-sum-exp of their
        logits (on the Fashion-MNIST test set, merged-class accuracy 96.2%
        with it, 97.1% with the exact log-sum-exp, 93.8% without the log n).
        Background starts at logit 0."""
        if len(clf.layers) != 3:
            raise ValueError("expected a classifier with one block per stage")
        self.stem.load_state_dict(clf.stem.state_dict())
        self.enc0.load_state_dict(clf.layers[0].state_dict())
        self.enc1.load_state_dict(clf.layers[1].state_dict())
        self.enc2.load_state_dict(clf.layers[2].state_dict())
        n_fine = clf.fc.weight.shape[0]
        if fine_to_label is None:
            fine_to_label = list(range(1, n_fine + 1))
        with torch.no_grad():
            self.ctx.weight.zero_()
            self.ctx.bias.zero_()
            for k in set(fine_to_label):
                rows = [c for c in range(n_fine) if fine_to_label[c] == k]
                self.ctx.weight[k, :, 0, 0] = clf.fc.weight[rows].mean(0)
                self.ctx.bias[k] = clf.fc.bias[rows].mean() + math.log(len(rows))
