"""3D RotNet (Jing et al. 2018, "Self-supervised spatiotemporal feature learning via video
rotation prediction", arXiv:1811.11387), with Background Erasing as a switch (Eq. 3–5).

    clip ─► crop/jitter ─► x^o ─► rotate by r ─► backbone ─► avg pool ─► FC ─► r?   (L_p)
        └─► crop/jitter ─► x^v ─► BE ─► x^d ─► rotate by r ─► backbone ─┐
                                      ψ(f(r(x^o))) vs ψ(f(r(x^d))) ◄─────┘        (β·L_be)

The task (from the paper, and as microsoft/CtP codes it: one rotation per clip, a 4-way
classifier on the backbone):
- each clip is rotated by one angle r ∈ {0°, 90°, 180°, 270°}, the same for every frame, and
  the network classifies r (cross-entropy);
- the rotation is `torch.rot90(x, k, dims=(H, W))` with k = r / 90° quarter turns, exact on
  the square crops `bepaper.augment` makes (no interpolation, no border);
- the head is global average pooling of the backbone's feature map and one linear layer
  (CtP's recogniser head; the paper's own network ends in pooling + FC as well).

Choices of ours, as options or documented here:
- `num_rotations=2` keeps {0°, 180°} only (upright or upside down: the rotation
  classification that Kim et al. add to their cubic puzzles); the paper's task is 4.
- One random rotation per clip and step, not all four rotations of every clip (CtP does the
  same; the paper's Eq. 3 averages over the set, which a random draw does in expectation).
- No dropout before the FC (not stated for the pretext head; nothing is saved from the head).

BE (method.be): x^o and x^d are two crops of the same clip with their own augmentation, x^d
= BE(x^v) (Eq. 1). Both get the SAME rotation, so their features are comparable. L_p is
computed on x^o only: turning BE on adds β·L_be and nothing else (the paper's Eq. 3 is
silent on whether x^d is classified too). L_be (Eq. 4) compares the backbone's feature maps
of the two after ψ (spatial max pooling). x^o and x^d go through the backbone in separate
calls, so x^o's batch-norm statistics are the same with BE on or off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bepaper.choices import RotNetOptions
from bepaper.methods.base import Method

if TYPE_CHECKING:
    from bepaper.config import AugmentConfig, MethodConfig, ModelConfig


def rotate(x: Tensor, turns: Tensor) -> Tensor:
    """Rotate each clip by its own number of quarter turns, every frame alike.

    x: B x C x T x S x S (square frames); turns: (B,) long, taken mod 4. Clip b becomes
    `torch.rot90(x[b], turns[b], dims=(H, W))`. No Python loop over samples and no host sync:
    the four rotations are selected with `torch.where`."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square frames, got shape {tuple(x.shape)}")
    k = (turns % 4).view(-1, 1, 1, 1, 1)
    out = x
    for r in (1, 2, 3):
        out = torch.where(k == r, torch.rot90(x, r, dims=(3, 4)), out)
    return out


class RotNet(Method):
    """3D RotNet: classify the rotation of a clip; BE adds β·L_be (Eq. 5)."""

    Options = RotNetOptions

    def __init__(self, model: ModelConfig, cfg: MethodConfig) -> None:
        super().__init__(model, cfg)
        self.head = nn.Linear(self.backbone.out_channels, self.opts.num_rotations)

    def views(
        self, clips: Tensor, augment: AugmentConfig, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """clips: uint8 B x 1 x T x H x W x 3. Returns x_o (and x_d with BE on), rotated,
        B x 3 x T x S x S normalised, and label: (B,) long, the rotation class (label ·
        4 / num_rotations quarter turns)."""
        x_o, x_d = self.two_views(clips[:, 0], augment, generator)
        n = self.opts.num_rotations
        label = torch.randint(n, (x_o.shape[0],), device=x_o.device, generator=generator)
        turns = label * (4 // n)
        out = {"x_o": rotate(x_o, turns), "label": label}
        if x_d is not None:
            out["x_d"] = rotate(x_d, turns)
        return out

    def forward(self, views: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        f_o = self.backbone(views["x_o"])  # B x C x T' x H' x W'
        logits = self.head(f_o.mean(dim=(2, 3, 4)))  # B x R
        return self.pretext_loss(logits, views["label"], f_o, views.get("x_d"))
