"""Plain U-Net of the model zoo (export_zoo.py: unet-convtranspose, unet-bilinear).

`levels` resolutions (the last one is the bottleneck), each two 3x3 conv +
BatchNorm + ReLU; max-pool 2 down; up-sampling by ConvTranspose 2x2 stride 2
(up="convtranspose") or bilinear Resize x2 followed by a 1x1 conv
(up="bilinear"); skip connections by Concat; a 1x1 conv head to class logits."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def double_conv(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Up(nn.Module):
    def __init__(self, cin, cout, mode):
        super().__init__()
        self.mode = mode
        if mode == "convtranspose":
            self.up = nn.ConvTranspose2d(cin, cout, 2, 2)
        elif mode == "bilinear":
            self.up = nn.Conv2d(cin, cout, 1)
        else:
            raise ValueError(mode)
        self.conv = double_conv(2 * cout, cout)

    def forward(self, x, skip):
        if self.mode == "bilinear":
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.up(x)
        return self.conv(torch.cat([x, skip], dim=1))


class UNet(nn.Module):
    def __init__(self, in_ch=1, num_classes=11, width=16, levels=4, up="convtranspose"):
        super().__init__()
        # `width` is the first level's width (doubling per level) or a list of widths
        if isinstance(width, int):
            widths = [width * 2 ** i for i in range(levels)]
        else:
            widths = list(width)
            assert len(widths) == levels
        self.downs = nn.ModuleList()
        cin = in_ch
        for w in widths:
            self.downs.append(double_conv(cin, w))
            cin = w
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i], up)
                                 for i in reversed(range(levels - 1)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x):
        skips = []
        for i, down in enumerate(self.downs):
            if i:
                x = F.max_pool2d(x, 2)
            x = down(x)
            skips.append(x)
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return self.head(x)
