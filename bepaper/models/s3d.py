"""S3D-G (Xie et al. 2018): I3D's trunk with separable convolutions and feature gating."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bepaper.models.i3d import inception_v1, unit


def sep_unit(c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Sequential:
    """A k x k x k convolution made separable: 1 x k x k, then k x 1 x 1 (each + BN + ReLU)."""
    return nn.Sequential(
        unit(c_in, c_out, (1, k, k), (1, stride, stride)),
        unit(c_out, c_out, (k, 1, 1), (stride, 1, 1)),
    )


class SelfGate(nn.Module):
    """Feature gating: y = sigmoid(W pool(x) + b) * x, pool = spatio-temporal average."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        g = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))  # B x C
        return x * g[:, :, None, None, None]


class S3DG(nn.Module):
    """S3D-G (Xie et al. 2018, "Rethinking Spatiotemporal Feature Learning"): I3D's 22 layers
    (the BE paper's Table 1 says 23) with every 7x7x7 and 3x3x3 convolution separable, the
    stem too (as in torchvision's S3D), and a gate after Conv_2c and after every Inception
    branch (as in the authors' TF code; with a bias, as in the paper's formula). Without the
    gates it has exactly torchvision's S3D feature layers. PyTorch's default initialisation.

    3x16x112x112 -> 1024x2x4x4; 3x16x224x224 -> 1024x2x7x7. 9,135,056 parameters.
    """

    def __init__(self, width: int = 0) -> None:
        super().__init__()
        self.body, self.out_channels = inception_v1(width, sep_unit, SelfGate)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)  # B x 16w x T/8 x H/32 x W/32
