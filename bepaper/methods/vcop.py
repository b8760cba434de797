"""Video Clip Order Prediction, VCOP (Xu et al., CVPR 2019, "Self-supervised spatiotemporal
learning via video clip order prediction"), with Background Erasing as a switch (Eq. 3–5).

    n clips in temporal order (n = tuple_len = 3, `interval` frames apart)
    ─► shuffled by one of the n! orders ─► shared backbone ─► avg pool (C each)
    ─► every pair (i < j) of shuffled positions: [f_i, f_j] ─► FC (pair_dim) ─► ReLU
    ─► the n(n-1)/2 pair features concatenated ─► dropout ─► FC ─► order class (n! = 6)

From the paper and its public code (xudejing/video-clip-order-prediction, facts only):
- clips of 16 frames, 8 frames apart, tuples of 3 (`bepaper.data.sampling.OrderedClips`;
  the clip length is data.num_frames, the gap `interval`);
- each clip of a tuple gets its own random crop (the code draws a new seed per clip);
- the class of a shuffled tuple is the index of its order (the original index of the clip at
  each position) in `itertools.permutations(range(n))`, i.e. lexicographic;
- the pairwise head: one FC shared by all pairs (2C → 512) + ReLU, pairs concatenated,
  dropout 0.5, FC to n! classes; features are the backbone's globally average-pooled map.

Note: the released code samples consecutive frames (stride 1); here the clip stride is
data.stride (4 by default) — set data.stride=1 to follow VCOP. On a video shorter than the
whole tuple, the sampler loops the video, and the "temporal order" of the clips is then no
longer the order in the video (see `OrderedClips`).

BE (method.be): every clip of the tuple gets a second crop x^v with its own augmentation,
and x^d = BE(x^v) (Eq. 1, the static frame drawn from that clip). x^d's clips are shuffled
by the SAME order as x^o's. L_p is computed on x^o only (turning BE on adds β·L_be and
nothing else; Eq. 3 is silent on whether x^d is classified). L_be (Eq. 4) compares the
backbone feature maps of matching clips, averaged over the B·n clips. x^o and x^d go
through the backbone in separate calls, so x^o's batch-norm statistics do not depend on BE.
"""

from __future__ import annotations

import itertools
import math
from functools import cache
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bepaper.augment import normalize
from bepaper.choices import ClipOrderOptions
from bepaper.data.sampling import ClipSampler, OrderedClips
from bepaper.methods.base import Method

if TYPE_CHECKING:
    from bepaper.config import AugmentConfig, MethodConfig, ModelConfig


@cache
def orders(n: int) -> tuple[tuple[int, ...], ...]:
    """The n! orders of n clips, lexicographic (class c is orders(n)[c])."""
    return tuple(itertools.permutations(range(n)))


def shuffle_clips(x: Tensor, order: Tensor) -> Tensor:
    """Put clip order[b, i] of tuple b at position i. x: B x n x ...; order: B x n long."""
    return x[torch.arange(x.shape[0], device=x.device).unsqueeze(1), order]


class PairwiseOrderHead(nn.Module):
    """VCOP's head: pooled clip features → all pairs → shared FC + ReLU → concat → dropout →
    FC to n! classes."""

    def __init__(self, channels: int, n: int, pair_dim: int, dropout: float) -> None:
        super().__init__()
        first, second = zip(*itertools.combinations(range(n), 2), strict=True)
        self.register_buffer("first", torch.tensor(first), persistent=False)
        self.register_buffer("second", torch.tensor(second), persistent=False)
        self.n = n
        self.pair = nn.Linear(2 * channels, pair_dim)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(len(first) * pair_dim, math.factorial(n))

    def forward(self, f: Tensor) -> Tensor:
        pooled = f.mean(dim=(2, 3, 4))  # B·n x C
        z = pooled.reshape(-1, self.n, pooled.shape[1])  # B x n x C
        pairs = torch.cat([z[:, self.first], z[:, self.second]], dim=2)  # B x pairs x 2C
        h = F.relu(self.pair(pairs)).flatten(1)  # B x (pairs · pair_dim)
        return self.fc(self.dropout(h))  # B x n!


class ClipOrder(Method):
    """VCOP: predict the order of n shuffled clips of a video; BE adds β·L_be (Eq. 5)."""

    Options = ClipOrderOptions

    def __init__(self, model: ModelConfig, cfg: MethodConfig) -> None:
        super().__init__(model, cfg)
        o = self.opts
        self.head = PairwiseOrderHead(
            self.backbone.out_channels, o.tuple_len, o.pair_dim, o.dropout
        )
        self.register_buffer("orders", torch.tensor(orders(o.tuple_len)), persistent=False)

    def sampler(self) -> ClipSampler:
        return OrderedClips(self.opts.tuple_len, self.opts.interval)

    def views(
        self, clips: Tensor, augment: AugmentConfig, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """clips: uint8 B x n x T x H x W x 3, in temporal order. Returns x_o (and x_d with
        BE on), the shuffled clips, B x n x 3 x T x S x S normalised, and label: (B,) long,
        the index of the order in `orders(n)`."""
        b, n = clips.shape[:2]
        if n != self.opts.tuple_len:
            raise ValueError(f"VCOP expects {self.opts.tuple_len} clips per video, got {n}")
        flat = clips.flatten(0, 1)  # B·n x T x H x W x 3: each clip its own crop
        table = self.orders.to(clips.device)  # n! x n (a no-op once the method is there)
        label = torch.randint(len(table), (b,), device=clips.device, generator=generator)
        order = table[label]  # B x n

        def tuple_view(x: Tensor) -> Tensor:  # B·n x 3 x T x S x S → shuffled B x n x ...
            return shuffle_clips(normalize(x).unflatten(0, (b, n)), order)

        out = {"x_o": tuple_view(self.augment(flat, augment, generator)), "label": label}
        if self.cfg.be:
            x_v = self.augment(flat, augment, generator)
            out["x_d"] = tuple_view(self.distract(x_v, generator))
        return out

    def forward(self, views: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        f_o = self.backbone(views["x_o"].flatten(0, 1))  # B·n x C x T' x H' x W'
        x_d = views.get("x_d")  # β · L_be over the B·n clips, matched one to one
        x_d = None if x_d is None else x_d.flatten(0, 1)
        return self.pretext_loss(self.head(f_o), views["label"], f_o, x_d)
