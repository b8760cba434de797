"""Losses as pure functions (no state, no modules).

Shapes: N = batch, D = embedding size, K = queue length, M = hard negatives per sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def info_nce_logits(
    q: Tensor, k: Tensor, queue: Tensor, hard: Tensor | None = None, temperature: float = 0.07
) -> Tensor:
    """The logits of Eq. 6/7, positive first.

    Args:
        q: queries, N x D, L2-normalised (the distracting clip x^d through the query encoder).
        k: positive keys, N x D, L2-normalised (x^o through the key encoder), no gradient.
        queue: negatives from other videos, K x D, L2-normalised.
        hard: intra-video hard negatives, N x D or N x M x D, L2-normalised, or None.

    Returns:
        logits: N x (1 + K [+ M]), divided by the temperature.
    """
    l_pos = (q * k).sum(dim=1, keepdim=True)  # N x 1
    l_neg = q @ queue.t()  # N x K
    parts = [l_pos, l_neg]
    if hard is not None:
        if hard.dim() == 2:
            hard = hard.unsqueeze(1)  # N x 1 x D
        parts.append(torch.einsum("nd,nmd->nm", q, hard))  # N x M
    return torch.cat(parts, dim=1) / temperature


def info_nce(
    q: Tensor, k: Tensor, queue: Tensor, hard: Tensor | None = None, temperature: float = 0.07
) -> Tensor:
    """InfoNCE with a queue and optional intra-video hard negatives (Eq. 6/7): the mean over
    the batch of -log softmax(logits)[positive]. See `info_nce_logits` for shapes."""
    logits = info_nce_logits(q, k, queue, hard, temperature)
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


def spatial_max_pool(f: Tensor) -> Tensor:
    """ψ: global max pooling over space, N x C x T x H x W → N x C x T."""
    return f.amax(dim=(3, 4))


def be_consistency(f_o: Tensor, f_d: Tensor) -> Tensor:
    """L_be of Eq. 4: ‖ψ(f_xo) − ψ(f_xd)‖², summed over C x T and averaged over the batch."""
    diff = spatial_max_pool(f_o) - spatial_max_pool(f_d)
    return diff.pow(2).flatten(1).sum(dim=1).mean()
