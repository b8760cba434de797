"""R(2+1)D-18 (Tran et al. 2018) from torchvision's building blocks."""

from __future__ import annotations

from torch import nn
from torchvision.models.video.resnet import Conv2Plus1D

from bepaper.models.r3d import VideoResNet


def r2plus1d_stem(w: int) -> nn.Sequential:
    """torchvision's R2Plus1dStem with w channels: a 1x7x7 conv to 45w/64, then 3x1x1."""
    mid = max(1, 45 * w // 64)
    return nn.Sequential(
        nn.Conv3d(3, mid, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, w, (3, 1, 1), 1, (1, 0, 0), bias=False),
        nn.BatchNorm3d(w),
        nn.ReLU(inplace=True),
    )


class R2Plus1D18(VideoResNet):
    """R(2+1)D-18 (Tran et al. 2018, "A Closer Look at Spatiotemporal Convolutions"), 18 layers
    of (2+1)D convolutions (each 3x3x3 split into 1x3x3 then 3x1x1, with the mid width that
    keeps the parameter count): torchvision's `r2plus1d_18` without pooling and FC.

    3x16x112x112 -> 512x2x7x7; 3x16x224x224 -> 512x2x14x14. 31,300,125 parameters.
    """

    def __init__(self, width: int = 0) -> None:
        super().__init__(Conv2Plus1D, r2plus1d_stem, (2, 2, 2, 2), width)
