"""MoCo, MoCo with intra-video hard negatives, and MoCo+BE (Eq. 6/7).

    x^o ──► key encoder (momentum) ─────────────► k    (positive)
    x^v ──► BE (moco_be only) ─► x^d ─► query encoder ─► q
    x^h (another clip, same video) ─► query encoder ─► h   (hard negative; moco_hn, moco_be)
    loss = InfoNCE(q, k, queue [, h])

As in the released code, the hard negative goes through the query encoder with gradients.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bepaper.be import DISTRACTIONS, distract
from bepaper.config import MethodConfig, ModelConfig
from bepaper.distributed import all_gather
from bepaper.errors import ConfigError
from bepaper.losses import info_nce
from bepaper.models import ProjectionHead, build_backbone

METHODS = {
    # name: (uses BE, uses hard negatives)
    "moco": (False, False),
    "moco_hn": (False, True),
    "moco_be": (True, True),
}


class Encoder(nn.Module):
    """Backbone + projection head: clips (B, 3, T, H, W) → embeddings (B, D), L2-normalised."""

    def __init__(self, model_cfg: ModelConfig) -> None:
        super().__init__()
        self.backbone = build_backbone(model_cfg.backbone, model_cfg.width)
        self.head = ProjectionHead(
            self.backbone.out_channels, model_cfg.embed_dim, model_cfg.head_pool
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


class MoCo(nn.Module):
    """A query encoder, its momentum copy and a queue of keys."""

    def __init__(self, model_cfg: ModelConfig, cfg: MethodConfig) -> None:
        super().__init__()
        if cfg.name not in METHODS:
            raise ConfigError(f"unknown method '{cfg.name}'; choose from {sorted(METHODS)}")
        if cfg.distraction not in DISTRACTIONS:
            raise ConfigError(
                f"unknown distraction '{cfg.distraction}'; choose from {sorted(DISTRACTIONS)}"
            )
        self.cfg = cfg
        self.use_be, self.use_hard = METHODS[cfg.name]
        self.encoder_q = Encoder(model_cfg)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for p in self.encoder_k.parameters():
            p.requires_grad_(False)
        self.register_buffer(
            "queue", F.normalize(torch.randn(cfg.queue_size, model_cfg.embed_dim), dim=1)
        )
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def momentum_update(self) -> None:
        """θ_k ← m θ_k + (1 - m) θ_q, over all parameters at once."""
        q = [p.detach() for p in self.encoder_q.parameters()]
        k = [p for p in self.encoder_k.parameters()]
        torch._foreach_mul_(k, self.cfg.momentum)
        torch._foreach_add_(k, q, alpha=1 - self.cfg.momentum)

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Replace the oldest entries of the queue with `keys` (N x D), wrapping around."""
        keys = all_gather(keys)
        n, size = keys.shape[0], self.queue.shape[0]
        idx = (self.queue_ptr + torch.arange(n, device=keys.device)) % size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + n) % size)

    def distract(self, x_v: Tensor) -> Tensor:
        """x^v → x^d: BE (Eq. 1), or a Table 4 variant."""
        if self.cfg.distraction == "be":
            return distract(x_v, self.cfg.gamma, per_batch_lambda=self.cfg.lambda_per_batch)
        return DISTRACTIONS[self.cfg.distraction](x_v, self.cfg.gamma)

    def forward(self, x_o: Tensor, x_v: Tensor, x_h: Tensor | None = None) -> tuple[Tensor, dict]:
        """x_o, x_v, x_h: B x 3 x T x H x W. Returns the loss and detached statistics."""
        x_q = self.distract(x_v) if self.use_be else x_v
        hard = None
        if self.use_hard:
            if x_h is None:
                raise ValueError(f"method '{self.cfg.name}' needs hard-negative clips")
            emb = self.encoder_q(torch.cat([x_q, x_h]))  # 2B x D
            q, hard = emb.float().chunk(2)
        else:
            q = self.encoder_q(x_q).float()  # B x D
        with torch.no_grad():
            self.momentum_update()
            k = self.encoder_k(x_o).float()  # B x D
        loss = info_nce(q, k, self.queue.clone().detach(), hard, self.cfg.temperature)
        self.enqueue(k)
        stats = {"pos_sim": (q * k).sum(1).mean().detach()}
        if hard is not None:
            stats["hard_sim"] = (q * hard).sum(1).mean().detach()
        return loss, stats
