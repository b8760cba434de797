"""Temporally consistent augmentation, batched, on any device.

The loader yields uint8 clips (B, T, H, W, C). Here they become float clips (B, C, T, S, S):
each clip gets ONE random crop + rotation (a single affine warp applied to all its frames)
and ONE colour jitter, so the motion between frames is untouched.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from bepaper.config import AugmentConfig


MEAN = (0.45, 0.45, 0.45)  # Kinetics statistics, as torchvision's video models use
STD = (0.225, 0.225, 0.225)


def to_float(clips: Tensor) -> Tensor:
    """uint8 (B, T, H, W, C) → float (B, C, T, H, W) in [0, 1]."""
    return clips.permute(0, 4, 1, 2, 3).float().div_(255)


def normalize(x: Tensor) -> Tensor:
    mean = x.new_tensor(MEAN).view(1, 3, 1, 1, 1)
    std = x.new_tensor(STD).view(1, 3, 1, 1, 1)
    return (x - mean) / std


def _uniform(n: int, low: float, high: float, device, generator) -> Tensor:
    return torch.rand(n, device=device, generator=generator) * (high - low) + low


def warp(x: Tensor, scale: Tensor, angle: Tensor, center: Tensor, size: int) -> Tensor:
    """Crop (side fraction `scale`, centre `center` in [-1, 1]²) and rotate (`angle`, radians)
    each clip, resampled to size x size. x: B x C x T x H x W; scale, angle: B; center: B x 2."""
    b, c, t, h, w = x.shape
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack(
        [torch.stack([cos, -sin, center[:, 0]], 1), torch.stack([sin, cos, center[:, 1]], 1)], 1
    )  # B x 2 x 3
    grid = F.affine_grid(theta.to(x.dtype), [b, c * t, size, size], align_corners=False)
    out = F.grid_sample(
        x.reshape(b, c * t, h, w),
        grid,
        mode="bilinear",
        padding_mode="reflection",
        align_corners=False,
    )
    return out.view(b, c, t, size, size)


def _gray(x: Tensor) -> Tensor:
    """Luma, keeping the channel dim: B x 1 x T x H x W."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _rotate_hue(x: Tensor, shift: Tensor) -> Tensor:
    """Rotate hue by `shift` turns (B,) in YIQ space, a linear approximation of HSV hue."""
    to_yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    from_yiq = torch.linalg.inv(to_yiq)
    ang = shift * 2 * math.pi
    cos, sin = torch.cos(ang), torch.sin(ang)
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rot = torch.stack(
        [
            torch.stack([one, zero, zero], 1),
            torch.stack([zero, cos, -sin], 1),
            torch.stack([zero, sin, cos], 1),
        ],
        1,
    )  # B x 3 x 3
    m = from_yiq @ rot @ to_yiq  # B x 3 x 3
    return torch.einsum("bij,bjthw->bithw", m.to(x.dtype), x)


def color_jitter(x: Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None) -> Tensor:
    """Brightness, contrast, saturation and hue, one draw per clip, for a random subset of
    clips (probability `cfg.jitter_prob`). x: B x 3 x T x H x W in [0, 1]."""
    b, dev = x.shape[0], x.device
    apply = (torch.rand(b, device=dev, generator=generator) < cfg.jitter_prob).view(b, 1, 1, 1, 1)
    y = x
    f = _uniform(b, 1 - cfg.brightness, 1 + cfg.brightness, dev, generator).view(b, 1, 1, 1, 1)
    y = y * f
    f = _uniform(b, 1 - cfg.contrast, 1 + cfg.contrast, dev, generator).view(b, 1, 1, 1, 1)
    mean = _gray(y).mean(dim=(1, 2, 3, 4), keepdim=True)
    y = (y - mean) * f + mean
    f = _uniform(b, 1 - cfg.saturation, 1 + cfg.saturation, dev, generator).view(b, 1, 1, 1, 1)
    g = _gray(y)
    y = (y - g) * f + g
    if cfg.hue > 0:
        y = _rotate_hue(y, _uniform(b, -cfg.hue, cfg.hue, dev, generator))
    return torch.where(apply, y.clamp(0, 1), x)


def augment_clips(
    clips: Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> Tensor:
    """One augmented view of each clip, in [0, 1]: uint8 (B, T, H, W, C) or float
    (B, C, T, H, W) → float (B, C, T, S, S). Every clip gets its own crop, rotation and
    jitter, shared by all its frames. Not normalised (BE and FAME work on [0, 1] pixels)."""
    x = to_float(clips) if clips.dtype == torch.uint8 else clips
    b, dev = x.shape[0], x.device
    scale = _uniform(b, cfg.crop_min, 1.0, dev, generator)
    angle = _uniform(b, -cfg.rotation, cfg.rotation, dev, generator) * (math.pi / 180)
    center = (torch.rand(b, 2, device=dev, generator=generator) * 2 - 1) * (1 - scale).unsqueeze(1)
    x = warp(x, scale, angle, center, cfg.crop_size)
    return color_jitter(x, cfg, generator)


def train_view(
    clips: Tensor, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> Tensor:
    """`augment_clips`, normalised: the network's input (B, C, T, S, S)."""
    return normalize(augment_clips(clips, cfg, generator))


def eval_view(clips: Tensor, cfg: AugmentConfig) -> Tensor:
    """The deterministic test view: a centre crop of side `cfg.eval_crop`, normalised."""
    x = to_float(clips) if clips.dtype == torch.uint8 else clips
    b = x.shape[0]
    scale = x.new_full((b,), cfg.eval_crop)
    x = warp(x, scale, x.new_zeros(b), x.new_zeros(b, 2), cfg.crop_size)
    return normalize(x)
