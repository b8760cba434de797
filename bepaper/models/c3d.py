"""C3D (Tran et al. 2015), its convolutional part, with batch norm."""

from __future__ import annotations

from torch import Tensor, nn


class C3D(nn.Module):
    """C3D (Tran et al. 2015, "Learning Spatiotemporal Features with 3D Convolutional
    Networks"): 8 convolutions of 3x3x3 with w, 2w, 4w, 4w, 8w, 8w, 8w, 8w channels (w = 64),
    pool1 (1x2x2) and pool2-4 (2x2x2) between the stages. The BE paper's depth 10 counts fc6
    and fc7.

    "Backbone" here means conv1a..conv5b: pool5, fc6 and fc7 (~50M more parameters) are
    dropped, as in self-supervised work that uses C3D (the BE paper: conv layers, then global
    max pooling, which makes pool5 redundant). As in that work, a batch norm follows every
    convolution (no conv bias); PyTorch's default initialisation. Pools use `ceil_mode`, so a
    side of 1 stays 1 on tiny clips and never reaches 0; on 112 and 224 clips they are the
    usual stride-2 pools.

    3x16x112x112 -> 512x2x7x7; 3x16x224x224 -> 512x2x14x14. 27,658,688 parameters.
    """

    def __init__(self, width: int = 0) -> None:
        super().__init__()
        w = width or 64
        stages = ((w,), (2 * w,), (4 * w, 4 * w), (8 * w, 8 * w), (8 * w, 8 * w))
        layers: list[nn.Module] = []
        c_in = 3
        for i, stage in enumerate(stages):
            if i:  # pool1 keeps T, pool2-4 halve T, H and W
                layers.append(nn.MaxPool3d((1, 2, 2) if i == 1 else 2, ceil_mode=True))
            for c in stage:
                layers += [nn.Conv3d(c_in, c, 3, 1, 1, bias=False), nn.BatchNorm3d(c)]
                layers.append(nn.ReLU(inplace=True))
                c_in = c
        self.body = nn.Sequential(*layers)
        self.out_channels = c_in

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)  # B x 8w x T/8 x H/16 x W/16
