"""I3D (Carreira & Zisserman 2017): Inception-v1 inflated to 3D. Its trunk, parametrised by
the spatio-temporal convolution and an optional gate, is shared with S3D-G (s3d.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

Conv = Callable[..., nn.Module]  # (c_in, c_out, kernel, stride) -> module
Gate = Callable[[int], nn.Module]  # channels -> module

# Inception-v1 blocks (Szegedy et al. 2015, Table 1; I3D keeps the widths): per block, the
# branch widths 1x1 | 3x3 reduce, 3x3 | "5x5" reduce, "5x5" (3x3x3 in I3D) | pool proj.
MIXED_3 = ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64))  # 3b, 3c
MIXED_4 = (
    (192, 96, 208, 16, 48, 64),  # 4b
    (160, 112, 224, 24, 64, 64),  # 4c
    (128, 128, 256, 24, 64, 64),  # 4d
    (112, 144, 288, 32, 64, 64),  # 4e
    (256, 160, 320, 32, 128, 128),  # 4f
)
MIXED_5 = ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128))  # 5b, 5c


def unit(
    c_in: int, c_out: int, kernel: int | tuple[int, ...], stride: int | tuple[int, ...] = 1
) -> nn.Sequential:
    """Conv3d + BN + ReLU with 'same' padding (odd kernels): a side L becomes ceil(L/stride)."""
    k = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, k, stride, tuple(i // 2 for i in k), bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    )


class Inception(nn.Module):
    """A 3D Inception block: four branches, concatenated on channels, each optionally gated."""

    def __init__(self, c_in: int, widths: tuple[int, ...], conv: Conv, gate: Gate) -> None:
        super().__init__()
        c0, c1r, c1, c2r, c2, c3 = widths
        self.b0 = nn.Sequential(unit(c_in, c0, 1), gate(c0))
        self.b1 = nn.Sequential(unit(c_in, c1r, 1), conv(c1r, c1, 3), gate(c1))
        self.b2 = nn.Sequential(unit(c_in, c2r, 1), conv(c2r, c2, 3), gate(c2))
        self.b3 = nn.Sequential(nn.MaxPool3d(3, 1, 1), unit(c_in, c3, 1), gate(c3))
        self.out_channels = c0 + c1 + c2 + c3

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x)], dim=1)


def no_gate(channels: int) -> nn.Module:
    return nn.Identity()


def inception_v1(width: int, conv: Conv, gate: Gate = no_gate) -> tuple[nn.Sequential, int]:
    """The I3D / S3D-G trunk up to Mixed_5c, every width scaled by width/64 (0 = published),
    and its output channels. `conv` makes the 7x7x7 and 3x3x3 convolutions.

    Every pool is 'same'-like: a side L becomes ceil(L/2), so no side reaches 0 on tiny clips
    (the last 2x2x2 pool uses `ceil_mode`: 7 -> 4 as in TF's SAME padding). Overall
    T' = ceil(T/8) and H' = ceil(H/32).
    """
    s = width or 64

    def ch(c: int) -> int:
        return max(1, c * s // 64)

    c_in = ch(192)
    layers = [
        conv(3, ch(64), 7, 2),  # Conv_1a: T/2, H/2
        nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),  # MaxPool_2a: H/4
        unit(ch(64), ch(64), 1),  # Conv_2b
        conv(ch(64), c_in, 3),  # Conv_2c
        gate(c_in),
        nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),  # MaxPool_3a: H/8
    ]
    pools = (None, nn.MaxPool3d(3, 2, 1), nn.MaxPool3d(2, 2, ceil_mode=True))  # 4a, 5a
    for pool, blocks in zip(pools, (MIXED_3, MIXED_4, MIXED_5), strict=True):
        if pool is not None:
            layers.append(pool)
        for widths in blocks:
            layers.append(Inception(c_in, tuple(ch(c) for c in widths), conv, gate))
            c_in = layers[-1].out_channels
    return nn.Sequential(*layers), c_in


class I3D(nn.Module):
    """I3D (Carreira & Zisserman 2017, "Quo Vadis, Action Recognition?"), 22 layers: the
    Inception-v1 trunk with every kernel inflated (7x7x7 stride-2 stem, 3x3x3 convolutions),
    up to Mixed_5c; the 2x7x7 average pool and the logits layer are dropped. Initialised with
    PyTorch's defaults (BN follows every convolution). Tiny clips give a 1x1x1 map: training-mode
    batch norm then needs a batch of at least 2.

    3x16x112x112 -> 1024x2x4x4; 3x16x224x224 -> 1024x2x7x7. 12,287,264 parameters.
    """

    def __init__(self, width: int = 0) -> None:
        super().__init__()
        self.body, self.out_channels = inception_v1(width, unit)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)  # B x 16w x T/8 x H/32 x W/32
