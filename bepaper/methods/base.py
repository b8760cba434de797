"""What every self-supervised method declares, so that one `pretrain` drives them all.

A method is an `nn.Module` with:

- `Options`: a dataclass of its own settings (declared with `bepaper.config.param`, each with
  its doc and valid range). They are read and written flat in the `method` section of a
  config, beside the shared settings (`be`, `beta`, `gamma`, `distraction`, ...).
- `sampler()`: which clips it takes from one video and where they start (a
  `bepaper.data.sampling.ClipSampler`). The loader decodes them: a batch holds uint8 clips
  (B, N, T, H, W, 3), N = `sampler().num_clips`.
- `views(clips, augment, generator)`: the tensors it trains on, built on the training device
  from those clips (augmentation, the distracting clip of BE, the pretext transformation and
  its labels). Float clips are (B, 3, T, S, S), normalised.
- `forward(views)`: (loss, statistics). Runs under autocast; the loss is a scalar.
- `backbone`: the network pretraining saves (`backbone.pt`) and fine-tuning starts from.

Turning BE on is the shared setting `method.be`; `distract` and `be_loss` below are what the
methods call. A pretext task adds β·L_be (Eq. 3–5); MoCo uses x^d as the query (Eq. 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bepaper.augment import augment_clips, normalize
from bepaper.be import build_distraction
from bepaper.data.sampling import ClipSampler, RandomClips
from bepaper.losses import be_consistency
from bepaper.models import build_backbone

if TYPE_CHECKING:
    from bepaper.config import AugmentConfig, MethodConfig, ModelConfig


@dataclass
class NoOptions:
    """A method without options of its own."""


class Method(nn.Module):
    """Base class: holds the backbone, the shared settings and the method's options."""

    Options: type = NoOptions

    def __init__(self, model: ModelConfig, cfg: MethodConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.opts = cfg.options
        self.backbone = build_backbone(model.backbone, model.width)
        self._distract = build_distraction(cfg.distraction)

    # ------------------------------------------------------------ what subclasses override

    def sampler(self) -> ClipSampler:
        """One random clip per video by default."""
        return RandomClips(1)

    def views(
        self, clips: Tensor, augment: AugmentConfig, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        raise NotImplementedError

    def forward(self, views: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    def warnings(self, num_videos: int, batch_size: int) -> list[str]:
        """Settings that will train badly on a dataset of `num_videos` (printed and logged
        by pretraining; nothing is refused)."""
        return []

    # ------------------------------------------------------------ helpers

    def augment(
        self, clips: Tensor, augment: AugmentConfig, generator: torch.Generator | None
    ) -> Tensor:
        """One augmented view in [0, 1] (not normalised yet): uint8 (B, T, H, W, 3) →
        float (B, 3, T, S, S), its own crop, rotation and jitter per clip."""
        return augment_clips(clips, augment, generator)

    def distract(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x^v → x^d (Eq. 1, or the Table 4 variant set by `method.distraction`) on clips in
        [0, 1], (B, 3, T, S, S)."""
        return self._distract(
            x,
            self.cfg.gamma,
            lambda_per_batch=self.cfg.lambda_per_batch,
            generator=generator,
        )

    def be_loss(self, f_o: Tensor, f_d: Tensor) -> Tensor:
        """β · L_be (Eq. 4–5) on the backbone's feature maps (B, C, T', H', W') of x^o, x^d."""
        return self.cfg.beta * be_consistency(f_o.float(), f_d.float())

    def pretext_loss(
        self, logits: Tensor, label: Tensor, f_o: Tensor, x_d: Tensor | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """L = L_p + β·L_be (Eq. 3–5): cross-entropy over the pretext's classes, plus, when the
        distracting view x_d (a batch the backbone takes) is given, β·L_be between the feature
        maps f_o of x^o and those of x_d. Returns the loss and its parts as statistics."""
        loss = F.cross_entropy(logits.float(), label)
        stats = {
            "pretext": loss.detach(),
            "acc": (logits.argmax(1) == label).float().mean().detach(),
        }
        if x_d is not None:
            be = self.be_loss(f_o, self.backbone(x_d))
            stats["be"] = be.detach()
            loss = loss + be
        return loss, stats

    def two_views(
        self, clips: Tensor, augment: AugmentConfig, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor | None]:
        """x^o and, with BE on, x^d: two crops of the same clip (B, T, H, W, 3) with their own
        augmentation; x^d is the distracting version of the second. Both normalised."""
        x_o = normalize(self.augment(clips, augment, generator))
        if not self.cfg.be:
            return x_o, None
        x_v = self.augment(clips, augment, generator)
        return x_o, normalize(self.distract(x_v, generator))
