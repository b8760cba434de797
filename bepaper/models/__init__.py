"""Backbones, by name, and heads."""

from __future__ import annotations

from torch import nn

from bepaper.errors import ConfigError
from bepaper.models.heads import Classifier, ClassifierHead, ProjectionHead
from bepaper.models.r3d import R3D18, SmallR3D

MODELS = {
    "r3d18": R3D18,
    "r3d_small": SmallR3D,
}


def build_backbone(name: str, width: int = 16) -> nn.Module:
    """A randomly initialised backbone. `width` applies to scalable backbones only."""
    if name not in MODELS:
        raise ConfigError(f"unknown model '{name}'; choose from {sorted(MODELS)}")
    return MODELS[name](width=width) if name == "r3d_small" else MODELS[name]()


__all__ = [
    "MODELS",
    "Classifier",
    "ClassifierHead",
    "ProjectionHead",
    "build_backbone",
]
