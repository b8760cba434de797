"""MoCo, with intra-video hard negatives and Background Erasing as switches (Eq. 6–7).

    x^o ──► key encoder (momentum) ──────────────────────► k   (positive)
    x^v ──► BE (method.be) ─► x^d ─► query encoder ──────► q
    x^h (another clip, same video) ─► query encoder ─────► h   (hard negative; hard_negatives)
    loss = InfoNCE(q, k, queue [, h])

Four combinations: plain MoCo, +HN, +BE, +HN+BE. Table 1's "MoCo + BE" is +HN+BE; Table 4's
baseline is +HN with no distraction. As in the released code, the hard negative goes through
the query encoder with gradients.

Released-code choices that differ from the paper, as options (DESIGN.md §3): one λ per batch
(`method.lambda_per_batch`), average pooling in the head (`head_pool=avg`), a separate
batch-norm pass for the hard negative (`hard_negative_bn=separate`), the num_frames // 3
shift of the hard negative on short videos (`hard_short_rule=third`), and the baseline's
extra negative from another video (`other_video_negative`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bepaper.augment import normalize
from bepaper.choices import MoCoOptions
from bepaper.data.sampling import ClipAndHardNegative, ClipSampler, RandomClips
from bepaper.distributed import all_gather, broadcast, rank, world_size
from bepaper.losses import info_nce
from bepaper.methods.base import Method
from bepaper.models import ProjectionHead

if TYPE_CHECKING:
    from bepaper.config import AugmentConfig, MethodConfig, ModelConfig


class Encoder(nn.Module):
    """Backbone + projection head φ: clips (B, 3, T, H, W) → embeddings (B, D), L2-normalised."""

    def __init__(self, backbone: nn.Module, dim: int, pool: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = ProjectionHead(backbone.out_channels, dim, pool)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.backbone(x))


class MoCo(Method):
    """MoCo (He et al. 2020) with a queue of keys; hard negatives and BE are switches."""

    Options = MoCoOptions

    def __init__(self, model: ModelConfig, cfg: MethodConfig) -> None:
        super().__init__(model, cfg)
        o = self.opts
        self.encoder_q = Encoder(self.backbone, o.embed_dim, o.head_pool)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for p in self.encoder_k.parameters():
            p.requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(o.queue_size, o.embed_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    @property
    def uses_negative_clip(self) -> bool:
        return self.opts.hard_negatives or self.opts.other_video_negative

    def warnings(self, num_videos: int, batch_size: int) -> list[str]:
        if self.opts.queue_size > num_videos - batch_size:
            return [
                f"method.queue_size={self.opts.queue_size} holds more keys than the other "
                f"videos of an epoch ({num_videos} videos, batch {batch_size}): older keys of "
                "the query's own video sit in the queue as negatives. Use a queue under "
                f"{max(num_videos - batch_size, 1)}."
            ]
        return []

    def sampler(self) -> ClipSampler:
        if self.opts.hard_negatives:
            return ClipAndHardNegative(self.opts.hard_gap, self.opts.hard_short_rule)
        return RandomClips(2 if self.opts.other_video_negative else 1)

    def views(
        self, clips: Tensor, augment: AugmentConfig, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """clips: uint8 B x N x T x H x W x 3. Returns x_o (key), x_q (query: x^d with BE on,
        else x^v) and, with negatives, x_h; all B x 3 x T x S x S, normalised."""
        clip = clips[:, 0]
        x_o, x_d = self.two_views(clip, augment, generator)
        x_q = x_d if x_d is not None else normalize(self.augment(clip, augment, generator))
        out = {"x_o": x_o, "x_q": x_q}
        if self.uses_negative_clip:
            neg = clips[:, 1]
            if not self.opts.hard_negatives:  # another video's clip: the next sample's
                neg = neg.roll(1, dims=0)
            out["x_h"] = normalize(self.augment(neg, augment, generator))
        return out

    @torch.no_grad()
    def momentum_update(self) -> None:
        """θ_k ← m θ_k + (1 - m) θ_q, over all parameters at once."""
        q = [p.detach() for p in self.encoder_q.parameters()]
        k = list(self.encoder_k.parameters())
        torch._foreach_mul_(k, self.opts.momentum)
        torch._foreach_add_(k, q, alpha=1 - self.opts.momentum)

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> None:
        """Replace the oldest entries of the queue with `keys` (N x D) from every process,
        wrapping around."""
        keys = all_gather(keys)
        n, size = keys.shape[0], self.queue.shape[0]
        idx = (self.queue_ptr + torch.arange(n, device=keys.device)) % size
        self.queue[idx] = keys.to(self.queue.dtype)
        self.queue_ptr.copy_((self.queue_ptr + n) % size)

    @torch.no_grad()
    def keys(self, x_o: Tensor) -> Tensor:
        """The key encoder's embeddings of x^o (B x D). With shuffle_bn under several
        processes, the keys' batch-norm statistics come from a batch shuffled across them
        (MoCo's trick against BN leaking the positive); in one process it changes nothing."""
        if not (self.opts.shuffle_bn and world_size() > 1):
            return self.encoder_k(x_o).float()
        everything = all_gather(x_o)  # (world * B) x ...
        order = broadcast(torch.randperm(everything.shape[0], device=x_o.device))
        mine = order.view(world_size(), -1)[rank()]
        k = self.encoder_k(everything[mine]).float()  # keys of a random part of the batch
        keys = all_gather(k)  # in `order`
        back = torch.argsort(order).view(world_size(), -1)[rank()]
        return keys[back]

    def forward(self, views: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        x_q, x_h = views["x_q"], views.get("x_h")
        hard = None
        if x_h is None:
            q = self.encoder_q(x_q).float()  # B x D
        elif self.opts.hard_negative_bn == "joint":
            q, hard = self.encoder_q(torch.cat([x_q, x_h])).float().chunk(2)  # 2B x D
        else:
            q, hard = self.encoder_q(x_q).float(), self.encoder_q(x_h).float()
        with torch.no_grad():
            self.momentum_update()
            k = self.keys(views["x_o"])  # B x D
        loss = info_nce(q, k, self.queue.clone().detach(), hard, self.opts.temperature)
        self.enqueue(k)
        stats = {"pos_sim": (q * k).sum(1).mean().detach()}
        if hard is not None:
            stats["hard_sim"] = (q * hard).sum(1).mean().detach()
        return loss, stats
