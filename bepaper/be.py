"""Distracting videos: Background Erasing (Eq. 1), the Table 4 variants, and FAME.

Every entry of `DISTRACTIONS` has one signature,

    fn(x, gamma=0.3, *, lambda_per_batch=False, generator=None, return_params=False)

takes clips x of shape (B, C, T, H, W) (any float dtype, any device) and returns a tensor of
the same shape, dtype and device, without Python loops over samples or frames. Where a
variant has an amount (λ, the cutmix area), it is drawn from U[0, γ] per sample, or once for
the batch with `lambda_per_batch=True` (what the released code does for BE). With
`return_params=True` a function returns `(out, params)`, where params holds what it drew:

    "lam": (B,) amount      "partner": (B,) long, the clip each sample borrows from
    "frame": (B,) long      "box": (y0, x0, h, w), each (B,) long      "noise": B x C x 1 x H x W
    "mask": B x 1 x 1 x H x W (FAME)

Eq. 1:  x̂_j = (1 - λ) · x_j + λ · x_k   for every frame j, with k one frame of the clip and
        λ ~ U[0, γ].
Eq. 2:  d x̂ / dt = (1 - λ) · d x / dt   — the motion is only scaled.

Training distracts clips in [0, 1], before normalisation (`bepaper.methods.base`). All
variants but FAME are linear blends or additions, so the value range does not change what
they do (only the scale of Gaussian noise); FAME's colour step needs pixel values in [0, 1]
(`fame_mask(..., normalized=True)` undoes `bepaper.augment.normalize` first).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from bepaper.augment import MEAN, STD
from bepaper.errors import ConfigError


def _check_clips(x: Tensor, name: str) -> None:
    if x.dim() != 5:
        raise ValueError(f"{name} expects (B, C, T, H, W) clips, got shape {tuple(x.shape)}")


def _per_sample(values: Tensor, x: Tensor) -> Tensor:
    """Reshape a (B,) tensor so it broadcasts over (B, C, T, H, W)."""
    return values.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1, 1)


def _result(out: Tensor, params: dict, return_params: bool) -> Tensor | tuple[Tensor, dict]:
    return (out, params) if return_params else out


def draw_lambda(
    batch: int,
    gamma: float,
    *,
    lambda_per_batch: bool = False,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """λ ~ U[0, γ]: one per sample (the paper), or one for the whole batch (`lambda_per_batch`, the
    released code). Returns shape (B,)."""
    n = 1 if lambda_per_batch else batch
    lam = torch.rand(n, generator=generator, device=device) * gamma
    return lam.expand(batch) if lambda_per_batch else lam


def _other_video(b: int, device, generator) -> Tensor:
    """A partner for each sample: sample i is paired with (i + s) mod B, one s in [1, B) for
    the batch, so no clip is paired with itself (a batch of one is paired with itself)."""
    shift = torch.randint(1, max(b, 2), (1,), generator=generator, device=device)
    return (torch.arange(b, device=device) + shift) % b  # no host sync


# ---------------------------------------------------------------- BE (Table 4's last row)


def distract(
    x: Tensor,
    gamma: float = 0.3,
    *,
    lam: Tensor | float | None = None,
    frame: Tensor | int | None = None,
    lambda_per_batch: bool = False,
    generator: torch.Generator | None = None,
    return_params: bool = False,
) -> Tensor | tuple[Tensor, dict]:
    """Background Erasing, Eq. 1: add one static frame of each clip to all its frames.

    Args:
        x: clips (B, C, T, H, W), any float dtype, any device.
        gamma: λ is drawn from U[0, gamma] (paper: 0.3).
        lam: the mixing weight, a float or a (B,) tensor; drawn when None.
        frame: the static frame index k, an int or a (B,) long tensor; drawn per sample
            when None.
        lambda_per_batch: draw one λ for the whole batch, as the released code does.
        generator: a torch.Generator on x's device, for reproducible draws.
        return_params: also return {"lam": (B,), "frame": (B,)}.

    Returns:
        (B, C, T, H, W): (1 - λ) · x + λ · x[:, :, k] repeated over time.
    """
    _check_clips(x, "distract")
    b, _, t = x.shape[:3]
    if lam is None:
        lam = draw_lambda(
            b, gamma, lambda_per_batch=lambda_per_batch, device=x.device, generator=generator
        )
    elif not torch.is_tensor(lam):
        lam = torch.full((b,), float(lam), device=x.device)
    if frame is None:
        frame = torch.randint(t, (b,), device=x.device, generator=generator)
    elif not torch.is_tensor(frame):
        frame = torch.full((b,), int(frame), dtype=torch.long)
    frame = frame.to(x.device).long()
    static = x[torch.arange(b, device=x.device), :, frame].unsqueeze(2)  # B x C x 1 x H x W
    w = _per_sample(lam, x)
    out = (1 - w) * x + w * static
    return _result(out, {"lam": lam, "frame": frame}, return_params)


intra_video_frame = distract  # Table 4's "intra-video frame" is BE itself: one code path


# ---------------------------------------------------------------- Table 4 variants


def gaussian_noise(
    x: Tensor,
    gamma: float = 0.3,
    *,
    lambda_per_batch: bool = False,
    generator: torch.Generator | None = None,
    return_params: bool = False,
) -> Tensor | tuple[Tensor, dict]:
    """The same white-noise image (N(0, 1), in the clip's units) added to every frame of a
    clip, scaled by λ ~ U[0, γ]: x + λ · n. The motion is untouched (d/dt of the output is
    d/dt of x)."""
    _check_clips(x, "gaussian_noise")
    b, c, _, h, w = x.shape
    noise = torch.randn((b, c, 1, h, w), device=x.device, generator=generator).to(x.dtype)
    lam = draw_lambda(
        b, gamma, lambda_per_batch=lambda_per_batch, device=x.device, generator=generator
    )
    out = x + _per_sample(lam, x) * noise
    return _result(out, {"lam": lam, "noise": noise}, return_params)


def video_mixup(
    x: Tensor,
    gamma: float = 0.3,
    *,
    lambda_per_batch: bool = False,
    generator: torch.Generator | None = None,
    return_params: bool = False,
) -> Tensor | tuple[Tensor, dict]:
    """Two videos interpolated frame by frame: (1 - λ) x_i + λ x_p, p another clip of the
    batch. The partner's motion is mixed in, so Eq. 2 does not hold."""
    _check_clips(x, "video_mixup")
    b = x.shape[0]
    lam = draw_lambda(
        b, gamma, lambda_per_batch=lambda_per_batch, device=x.device, generator=generator
    )
    partner = _other_video(b, x.device, generator)
    w = _per_sample(lam, x)
    out = (1 - w) * x + w * x[partner]
    return _result(out, {"lam": lam, "partner": partner}, return_params)


def video_cutmix(
    x: Tensor,
    gamma: float = 0.3,
    *,
    lambda_per_batch: bool = False,
    generator: torch.Generator | None = None,
    return_params: bool = False,
) -> Tensor | tuple[Tensor, dict]:
    """A box of every frame replaced by the same box of another clip of the batch.

    The box covers an area fraction λ ~ U[0, γ] (sides round(H·√λ) x round(W·√λ), at least
    1 px) at a uniform position, the same in every frame. Per sample, or one box (area and
    position) for the batch with `lambda_per_batch`."""
    _check_clips(x, "video_cutmix")
    b, _, _, h, w = x.shape
    lam = draw_lambda(
        b, gamma, lambda_per_batch=lambda_per_batch, device=x.device, generator=generator
    )
    side_h = (h * lam.sqrt()).round().long().clamp(1, h)  # B
    side_w = (w * lam.sqrt()).round().long().clamp(1, w)
    n = 1 if lambda_per_batch else b
    u = torch.rand(2, n, device=x.device, generator=generator).expand(2, b)
    y0 = (u[0] * (h - side_h + 1)).long().clamp(max=h - side_h)
    x0 = (u[1] * (w - side_w + 1)).long().clamp(max=w - side_w)
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    in_y = (ys >= y0[:, None]) & (ys < (y0 + side_h)[:, None])  # B x H
    in_x = (xs >= x0[:, None]) & (xs < (x0 + side_w)[:, None])  # B x W
    box = (in_y[:, :, None] & in_x[:, None, :]).view(b, 1, 1, h, w)
    partner = _other_video(b, x.device, generator)
    out = torch.where(box, x[partner], x)
    params = {"lam": lam, "partner": partner, "box": (y0, x0, side_h, side_w)}
    return _result(out, params, return_params)


def inter_video_frame(
    x: Tensor,
    gamma: float = 0.3,
    *,
    lambda_per_batch: bool = False,
    generator: torch.Generator | None = None,
    return_params: bool = False,
) -> Tensor | tuple[Tensor, dict]:
    """Like BE, but the static frame k comes from another clip p of the batch:
    (1 - λ) x_j + λ x_p[k]. Eq. 2 holds."""
    _check_clips(x, "inter_video_frame")
    b, _, t = x.shape[:3]
    lam = draw_lambda(
        b, gamma, lambda_per_batch=lambda_per_batch, device=x.device, generator=generator
    )
    partner = _other_video(b, x.device, generator)
    frame = torch.randint(t, (b,), device=x.device, generator=generator)
    static = x[partner, :, frame].unsqueeze(2)  # B x C x 1 x H x W
    w = _per_sample(lam, x)
    out = (1 - w) * x + w * static
    return _result(out, {"lam": lam, "partner": partner, "frame": frame}, return_params)


# ---------------------------------------------------------------- FAME (CVPR 2022)


def _blur(m: Tensor, kernel: int) -> Tensor:
    """Gaussian blur of N x H x W maps, σ = kernel / 3, reflected borders, separable."""
    if kernel <= 1:
        return m
    r = torch.arange(kernel, device=m.device, dtype=m.dtype) - kernel // 2
    g = torch.exp(-(r**2) / (2 * (kernel / 3) ** 2))
    g = g / g.sum()
    pad = kernel // 2
    y = F.pad(m[:, None], (pad, pad, pad, pad), mode="reflect")
    y = F.conv2d(F.conv2d(y, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))
    return y[:, 0]


def _min_max(m: Tensor, eps: float = 1e-8) -> Tensor:
    """Per-map min–max normalisation of N x H x W maps to [0, 1]."""
    flat = m.flatten(1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo + eps)).view_as(m)


def _rgb_to_hsv(img: Tensor) -> Tensor:
    """N x 3 x H x W RGB in [0, 1] → N x 3 x H x W HSV, every channel in [0, 1]."""
    r, g, b = img.unbind(1)
    v, arg = img.max(1)
    delta = v - img.min(1).values
    s = torch.where(v > 0, delta / v.clamp_min(1e-12), torch.zeros_like(v))
    d = delta.clamp_min(1e-12)
    hue = torch.stack([((g - b) / d) % 6, (b - r) / d + 2, (r - g) / d + 4], 1)
    h = hue.gather(1, arg[:, None])[:, 0] / 6
    h = torch.where(delta > 0, h, torch.zeros_like(h))
    return torch.stack([h, s, v], 1)


def _pixels(x: Tensor, normalized: bool) -> Tensor:
    """Clips as float32 (float64 kept) pixel values, un-normalised if asked."""
    v = x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    if normalized:
        mean = v.new_tensor(MEAN).view(1, 3, 1, 1, 1)
        std = v.new_tensor(STD).view(1, 3, 1, 1, 1)
        v = v * std + mean
    return v


def _fame_kernel(h: int, w: int) -> int:
    """FAME's blur kernel: int(0.1 · crop) // 2 * 2 + 1 (11 at 112 px), crop = min(H, W)."""
    return int(0.1 * min(h, w)) // 2 * 2 + 1


def _motion_map(v: Tensor) -> Tensor:
    """Steps 1–2 on pixel clips v (B x C x T x H x W) → B x H x W in [0, 1]."""
    motion = (v[:, :, 1:] - v[:, :, :-1]).abs().sum(1).mean(1)  # B x H x W
    return _min_max(_blur(motion, _fame_kernel(*v.shape[-2:])))


def fame_motion_map(x: Tensor, *, normalized: bool = False) -> Tensor:
    """Steps 1–2 of FAME's mask: B x C x T x H x W → B x H x W in [0, 1].

    Σ_c |x_t - x_{t+1}| averaged over the T - 1 pairs, Gaussian blur (kernel
    `_fame_kernel`, σ = kernel / 3, reflected borders), min–max per clip."""
    _check_clips(x, "fame_motion_map")
    if x.shape[2] < 2:
        raise ValueError(f"fame_motion_map needs T >= 2, got shape {tuple(x.shape)}")
    return _motion_map(_pixels(x, normalized))


def fame_mask(x: Tensor, fg_ratio: float = 0.5, *, normalized: bool = False) -> Tensor:
    """FAME's foreground mask (DESIGN.md §7): B x 3 x T x H x W clips → B x 1 x 1 x H x W,
    with int(fg_ratio · H · W) ones per clip, the same mask for every frame.

    1–2. the motion map (`fame_motion_map`);
    3. colour refinement on the time-averaged frame in HSV: the top 50% of pixels by motion
       seed the foreground, the bottom 10% the background; 10 x 10 x 10 histograms over
       (s·cos 2πh, s·sin 2πh, v) — hue as a point of the chroma disc, so it wraps and fades
       at low saturation, as FAME's code bins it — with +1 on every background bin; each
       pixel scores p_fg / (p_fg + p_bg); blur and min–max again;
    4. rank cut: the top int(fg_ratio · H · W) pixels are foreground.

    The HSV step needs pixel values in [0, 1] (the mean frame is clamped to [0, 1]). With
    `normalized=True`, x is taken as normalised by `bepaper.augment.MEAN/STD` and is
    un-normalised first. Steps 1–2 do not care (the same std in every channel, and min–max
    removes the scale); step 3 does: HSV of normalised values is meaningless.
    """
    _check_clips(x, "fame_mask")
    b, c, t, h, w = x.shape
    if c != 3 or t < 2:
        raise ValueError(f"fame_mask needs RGB clips with T >= 2, got shape {tuple(x.shape)}")
    n = h * w
    v = _pixels(x, normalized)
    dtype = v.dtype
    motion = _motion_map(v).view(b, n)

    hue, sat, val = _rgb_to_hsv(v.mean(2).clamp(0, 1)).flatten(2).unbind(1)  # B x HW each
    bins = 10
    cx = ((sat * torch.cos(2 * math.pi * hue) + 1) / 2 * (bins - 1)).round().long()
    cy = ((sat * torch.sin(2 * math.pi * hue) + 1) / 2 * (bins - 1)).round().long()
    cv = (val * (bins - 1)).round().long()
    colour = cx + bins * cy + bins * bins * cv  # B x HW, in [0, 1000)
    fg_seed = motion.topk(int(0.5 * n), dim=1).indices
    bg_seed = motion.topk(max(1, int(0.1 * n)), dim=1, largest=False).indices
    hist_fg = torch.zeros(b, bins**3, dtype=dtype, device=x.device)
    hist_fg.scatter_add_(1, colour.gather(1, fg_seed), torch.ones_like(fg_seed, dtype=dtype))
    hist_bg = torch.ones(b, bins**3, dtype=dtype, device=x.device)  # +1 smoothing
    hist_bg.scatter_add_(1, colour.gather(1, bg_seed), torch.ones_like(bg_seed, dtype=dtype))
    p_fg = (hist_fg / hist_fg.sum(1, keepdim=True)).gather(1, colour)
    p_bg = (hist_bg / hist_bg.sum(1, keepdim=True)).gather(1, colour)
    score = (p_fg / (p_fg + p_bg)).view(b, h, w)
    score = _min_max(_blur(score, _fame_kernel(h, w))).view(b, n)

    top = score.topk(int(fg_ratio * n), dim=1).indices
    mask = torch.zeros(b, n, dtype=x.dtype, device=x.device).scatter_(1, top, 1.0)
    return mask.view(b, 1, 1, h, w)


def fame(
    x: Tensor,
    gamma: float = 0.3,
    *,
    lambda_per_batch: bool = False,
    generator: torch.Generator | None = None,
    return_params: bool = False,
    fg_ratio: float = 0.5,
    normalized: bool = False,
) -> Tensor | tuple[Tensor, dict]:
    """FAME's foreground–background merging: x_p · (1 - m) + x · m, with m = `fame_mask(x)`
    and p a random permutation of the batch (a clip may draw itself, as in FAME).

    FAME has no amount: `gamma` and `lambda_per_batch` are accepted for the common signature
    and ignored; `fg_ratio` is FAME's β. `normalized`: see `fame_mask`."""
    _check_clips(x, "fame")
    mask = fame_mask(x, fg_ratio, normalized=normalized)
    partner = torch.randperm(x.shape[0], device=x.device, generator=generator)
    out = torch.where(mask.bool(), x, x[partner])  # = x_p · (1 - m) + x · m, m binary
    return _result(out, {"partner": partner, "mask": mask}, return_params)


DISTRACTIONS: dict[str, Callable[..., Tensor | tuple[Tensor, dict]]] = {
    "be": distract,
    "intra_video_frame": distract,
    "gaussian_noise": gaussian_noise,
    "video_mixup": video_mixup,
    "video_cutmix": video_cutmix,
    "inter_video_frame": inter_video_frame,
    "fame": fame,
}


def build_distraction(name: str) -> Callable[..., Tensor | tuple[Tensor, dict]]:
    """The distraction called `name` (a key of `DISTRACTIONS`)."""
    if name not in DISTRACTIONS:
        raise ConfigError(f"unknown distraction '{name}'; choose from {sorted(DISTRACTIONS)}")
    return DISTRACTIONS[name]
