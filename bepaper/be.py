"""Distracting videos: Background Erasing (Eq. 1) and the Table 4 variants.

Every function takes clips of shape (B, C, T, H, W) and returns a tensor of the same shape,
on the same device, without Python loops over samples or frames.

Eq. 1:  x̂_j = (1 - λ) · x_j + λ · x_k   for every frame j, with k one frame of the clip and
        λ ~ U[0, γ].
Eq. 2:  d x̂ / dt = (1 - λ) · d x / dt   — the motion is only scaled.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _per_sample(values: Tensor, x: Tensor) -> Tensor:
    """Reshape a (B,) tensor so it broadcasts over (B, C, T, H, W)."""
    return values.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1, 1)


def draw_lambda(
    batch: int,
    gamma: float,
    *,
    per_batch: bool = False,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """λ ~ U[0, γ]: one per sample (the paper), or one for the whole batch (`per_batch`, the
    released code). Returns shape (B,)."""
    n = 1 if per_batch else batch
    lam = torch.rand(n, generator=generator, device=device) * gamma
    return lam.expand(batch) if per_batch else lam


def distract(
    x: Tensor,
    gamma: float = 0.3,
    *,
    lam: Tensor | float | None = None,
    frame: Tensor | int | None = None,
    per_batch_lambda: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Background Erasing, Eq. 1: add one static frame of each clip to all its frames.

    Args:
        x: clips (B, C, T, H, W), any float dtype, any device.
        gamma: λ is drawn from U[0, gamma] (paper: 0.3).
        lam: the mixing weight, a float or a (B,) tensor; drawn when None.
        frame: the static frame index k, an int or a (B,) long tensor; drawn per sample
            when None.
        per_batch_lambda: draw one λ for the whole batch, as the released code does.
        generator: a torch.Generator on x's device, for reproducible draws.

    Returns:
        (B, C, T, H, W): (1 - λ) · x + λ · x[:, :, k] repeated over time.
    """
    if x.dim() != 5:
        raise ValueError(f"distract expects (B, C, T, H, W) clips, got shape {tuple(x.shape)}")
    b, _, t = x.shape[:3]
    if lam is None:
        lam = draw_lambda(
            b, gamma, per_batch=per_batch_lambda, device=x.device, generator=generator
        )
    elif not torch.is_tensor(lam):
        lam = torch.full((b,), float(lam))
    if frame is None:
        frame = torch.randint(t, (b,), device=x.device, generator=generator)
    elif not torch.is_tensor(frame):
        frame = torch.full((b,), int(frame), dtype=torch.long)
    frame = frame.to(x.device).long()
    static = x[torch.arange(b, device=x.device), :, frame].unsqueeze(2)  # B x C x 1 x H x W
    lam = _per_sample(lam, x)
    return (1 - lam) * x + lam * static


# ---------------------------------------------------------------- Table 4 variants


def gaussian_noise(
    x: Tensor, gamma: float = 0.3, *, generator: torch.Generator | None = None
) -> Tensor:
    """The same white-noise image added to every frame of a clip, scaled by λ ~ U[0, γ]."""
    b, c, _, h, w = x.shape
    noise = torch.randn((b, c, 1, h, w), device=x.device, generator=generator).to(x.dtype)
    lam = _per_sample(draw_lambda(b, gamma, device=x.device, generator=generator), x)
    return x + lam * noise


def _other_video(b: int, device, generator) -> Tensor:
    """A permutation-free partner for each sample: sample i is paired with (i + s) mod B,
    s in [1, B), so no clip is paired with itself."""
    shift = (
        int(torch.randint(1, max(b, 2), (1,), generator=generator, device=device)) if b > 1 else 0
    )
    return (torch.arange(b, device=device) + shift) % b


def video_mixup(
    x: Tensor, gamma: float = 0.3, *, generator: torch.Generator | None = None
) -> Tensor:
    """Two videos interpolated frame by frame: (1 - λ) x_i + λ x_j (another clip of the batch)."""
    b = x.shape[0]
    lam = _per_sample(draw_lambda(b, gamma, device=x.device, generator=generator), x)
    return (1 - lam) * x + lam * x[_other_video(b, x.device, generator)]


def video_cutmix(
    x: Tensor, gamma: float = 0.3, *, generator: torch.Generator | None = None
) -> Tensor:
    """A square region of every frame replaced by the same region of another clip of the
    batch; the region's area fraction is λ ~ U[0, γ] (one region per batch)."""
    b, _, _, h, w = x.shape
    area = float(torch.rand(1, generator=generator, device=x.device)) * gamma
    side_h, side_w = max(1, round(h * area**0.5)), max(1, round(w * area**0.5))
    y0 = int(torch.randint(0, h - side_h + 1, (1,), generator=generator, device=x.device))
    x0 = int(torch.randint(0, w - side_w + 1, (1,), generator=generator, device=x.device))
    out = x.clone()
    other = x[_other_video(b, x.device, generator)]
    out[..., y0 : y0 + side_h, x0 : x0 + side_w] = other[..., y0 : y0 + side_h, x0 : x0 + side_w]
    return out


def inter_video_frame(
    x: Tensor, gamma: float = 0.3, *, generator: torch.Generator | None = None
) -> Tensor:
    """Like BE, but the static frame comes from another clip of the batch."""
    b, _, t = x.shape[:3]
    partner = _other_video(b, x.device, generator)
    k = torch.randint(t, (b,), device=x.device, generator=generator)
    static = x[partner, :, k].unsqueeze(2)
    lam = _per_sample(draw_lambda(b, gamma, device=x.device, generator=generator), x)
    return (1 - lam) * x + lam * static


def intra_video_frame(
    x: Tensor, gamma: float = 0.3, *, generator: torch.Generator | None = None
) -> Tensor:
    """BE itself (Table 4's last row)."""
    return distract(x, gamma, generator=generator)


DISTRACTIONS = {
    "be": intra_video_frame,
    "gaussian_noise": gaussian_noise,
    "video_mixup": video_mixup,
    "video_cutmix": video_cutmix,
    "inter_video_frame": inter_video_frame,
    "intra_video_frame": intra_video_frame,
}
