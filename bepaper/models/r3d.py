"""3D ResNets: torchvision's R3D-18 and a width-scalable small R3D for CPU presets.

Every backbone maps clips (B, 3, T, H, W) to a feature map (B, C, T', H', W') and exposes
`out_channels`; heads pool it.
"""

from __future__ import annotations

from torch import Tensor, nn
from torchvision.models.video import r3d_18


class R3D18(nn.Module):
    """torchvision's R3D-18 (randomly initialised) without its pooling and FC layers.
    A 3x16x112x112 clip gives a 512x2x7x7 feature map."""

    def __init__(self) -> None:
        super().__init__()
        net = r3d_18(weights=None)
        self.body = nn.Sequential(net.stem, net.layer1, net.layer2, net.layer3, net.layer4)
        self.out_channels = 512

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class _Block(nn.Module):
    """A basic residual block with 3x3x3 convolutions."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm3d(c_out)
        self.conv2 = nn.Conv3d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm3d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(
                nn.Conv3d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm3d(c_out)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.down is None else self.down(x)))


class SmallR3D(nn.Module):
    """An R3D with one block per stage and channel widths w, 2w, 4w, 8w.

    The stem keeps full resolution (for 32x32 clips), stages 2-4 halve T, H and W. With
    width 16 it has about 1.1M parameters; 3x16x32x32 gives 128x2x4x4.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            nn.Conv3d(3, w, (3, 5, 5), 1, (1, 2, 2), bias=False),
            nn.BatchNorm3d(w),
            nn.ReLU(inplace=True),
        )
        self.layers = nn.Sequential(
            _Block(w, w, 1), _Block(w, 2 * w, 2), _Block(2 * w, 4 * w, 2), _Block(4 * w, 8 * w, 2)
        )
        self.out_channels = 8 * w

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(self.stem(x))
