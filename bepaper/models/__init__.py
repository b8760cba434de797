"""Backbones, by name, and heads.

Every backbone takes `width` (0 = the published width; otherwise the base channel count that
every layer scales from), maps clips (B, 3, T, H, W) to the feature map before global pooling
(B, C, T', H', W') and exposes `out_channels` (C). `bepaper.models.published` loads
published weights (torchvision, piergiaj's I3D, the BE authors' I3D, MoCo checkpoints) onto
them.
"""

from __future__ import annotations

import torch
from torch import nn

from bepaper.errors import ConfigError
from bepaper.models.c3d import C3D
from bepaper.models.heads import Classifier, ClassifierHead, ProjectionHead
from bepaper.models.i3d import I3D
from bepaper.models.r2plus1d import R2Plus1D18
from bepaper.models.r3d import R3D18, R3D34, SmallR3D
from bepaper.models.s3d import S3DG

MODELS: dict[str, type[nn.Module]] = {
    "c3d": C3D,
    "r3d18": R3D18,
    "r3d34": R3D34,
    "r2plus1d18": R2Plus1D18,
    "i3d": I3D,
    "s3d": S3DG,
    "r3d_small": SmallR3D,
}


def build_backbone(name: str, width: int = 0) -> nn.Module:
    """A randomly initialised backbone; width 0 is the published width (16 for r3d_small)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}'; choose from {sorted(MODELS)}")
    if width < 0:
        raise ConfigError(f"model width must be 0 (published) or positive, got {width}")
    return MODELS[name](width=width)


def feature_shape(name: str, frames: int, size: int, width: int = 0) -> tuple[int, ...]:
    """(C, T', H', W') of `name`'s feature map for a 3 x frames x size x size clip.

    A forward on the meta device: shapes only, no memory, no arithmetic.
    """
    with torch.device("meta"):
        net = build_backbone(name, width)
        return tuple(net(torch.empty(2, 3, frames, size, size)).shape[1:])


__all__ = [
    "MODELS",
    "Classifier",
    "ClassifierHead",
    "ProjectionHead",
    "build_backbone",
    "feature_shape",
]
