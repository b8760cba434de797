"""Heads on top of a backbone's feature map (B, C, T, H, W)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class ProjectionHead(nn.Module):
    """φ of Eq. 6: spatio-temporal pooling, FC to `dim`, L2 normalisation.

    The paper pools with max; the released code with average (`pool="avg"`).
    """

    def __init__(self, in_channels: int, dim: int = 128, pool: str = "max") -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"unknown pooling '{pool}'; choose from ['avg', 'max']")
        self.pool = pool
        self.fc = nn.Linear(in_channels, dim)

    def forward(self, f: Tensor) -> Tensor:
        pooled = global_pool(f, self.pool)
        return F.normalize(self.fc(pooled), dim=1)  # B x dim


def global_pool(f: Tensor, pool: str) -> Tensor:
    """(B, C, T, H, W) → (B, C): global average ('avg') or max ('max') pooling."""
    return f.amax(dim=(2, 3, 4)) if pool == "max" else f.mean(dim=(2, 3, 4))


class ClassifierHead(nn.Module):
    """Global pooling (average, as in the paper, or max), dropout, a fresh FC layer."""

    def __init__(
        self, in_channels: int, num_classes: int, dropout: float = 0.5, pool: str = "avg"
    ) -> None:
        super().__init__()
        if pool not in ("max", "avg"):
            raise ValueError(f"unknown pooling '{pool}'; choose from ['avg', 'max']")
        self.pool = pool
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, f: Tensor) -> Tensor:
        return self.fc(self.dropout(global_pool(f, self.pool)))  # B x classes


class Classifier(nn.Module):
    """A backbone with a classifier head."""

    def __init__(
        self, backbone: nn.Module, num_classes: int, dropout: float = 0.5, pool: str = "avg"
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = ClassifierHead(backbone.out_channels, num_classes, dropout, pool)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))
