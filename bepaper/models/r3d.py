"""3D ResNets (Hara et al. 2018; Tran et al. 2018) from torchvision's building blocks, and a
small R3D for CPU presets.

Every backbone maps clips (B, 3, T, H, W) to a feature map (B, C, T', H', W') before global
pooling, exposes `out_channels`, and takes `width` (0 = the published width, else the base
channel count that every layer scales from).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn
from torchvision.models.video.resnet import BasicBlock, Conv3DSimple


def r3d_stem(w: int) -> nn.Sequential:
    """torchvision's BasicStem with w channels: 3x7x7 conv, stride (1, 2, 2)."""
    return nn.Sequential(
        nn.Conv3d(3, w, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
        nn.BatchNorm3d(w),
        nn.ReLU(inplace=True),
    )


class VideoResNet(nn.Module):
    """A stem and four stages of torchvision `BasicBlock`s with w, 2w, 4w, 8w channels.

    Stages 2-4 halve T, H and W; the stem halves H and W. So T' = ceil(T/8), H' = ceil(H/16).
    The layout and state-dict keys (`body.0` stem, `body.1-4` stages) are torchvision's
    VideoResNet without `avgpool` and `fc`; so is the initialisation.
    """

    def __init__(
        self,
        conv: type[nn.Module],
        stem: Callable[[int], nn.Module],
        layers: Sequence[int],
        width: int = 0,
    ) -> None:
        super().__init__()
        w = width or 64
        body, c_in = [stem(w)], w
        for i, n in enumerate(layers):
            c_out, stride = w * 2**i, 1 if i == 0 else 2
            down = None
            if stride != 1 or c_in != c_out:
                down = nn.Sequential(
                    nn.Conv3d(c_in, c_out, 1, conv.get_downsample_stride(stride), bias=False),
                    nn.BatchNorm3d(c_out),
                )
            blocks = [BasicBlock(c_in, c_out, conv, stride, down)]
            blocks += [BasicBlock(c_out, c_out, conv) for _ in range(n - 1)]
            body.append(nn.Sequential(*blocks))
            c_in = c_out
        self.body = nn.Sequential(*body)
        self.out_channels = c_in
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)  # B x C x T/8 x H/16 x W/16


class R3D18(VideoResNet):
    """R3D-18 (Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions"), 18 layers:
    torchvision's `r3d_18` without pooling and FC, its width scalable.

    3x16x112x112 -> 512x2x7x7; 3x16x224x224 -> 512x2x14x14. 33,166,272 parameters.
    """

    def __init__(self, width: int = 0) -> None:
        super().__init__(Conv3DSimple, r3d_stem, (2, 2, 2, 2), width)


class R3D34(VideoResNet):
    """R3D-34 (Hara et al. 2018, "Can Spatiotemporal 3D CNNs Retrace the History of 2D CNNs
    and ImageNet?"), 34 layers, built as torchvision's VideoResNet with [3, 4, 6, 3] blocks:
    a 3x7x7 stem (Hara: 7x7x7) and 1x1x1-conv shortcuts.

    3x16x112x112 -> 512x2x7x7; 3x16x224x224 -> 512x2x14x14. 63,475,904 parameters.
    """

    def __init__(self, width: int = 0) -> None:
        super().__init__(Conv3DSimple, r3d_stem, (3, 4, 6, 3), width)


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
    """An R3D with one block per stage and channel widths w, 2w, 4w, 8w (width 0 means 16).

    Our own CPU-preset net, 10 layers. The stem keeps full resolution (for 32x32 clips), stages
    2-4 halve T, H and W: 3x16x32x32 -> 8wx2x4x4, 3x16x112x112 -> 128x2x14x14 (w = 16).
    900,528 parameters with width 16 (0.90M).
    """

    def __init__(self, width: int = 0) -> None:
        super().__init__()
        w = width or 16
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
        return self.layers(self.stem(x))  # B x 8w x T/8 x H/8 x W/8
