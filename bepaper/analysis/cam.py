"""Figures 6-7: where a backbone looks (CAM), and the adversarial inputs of Figure 7.

The paper's CAM (§4.7) is class-agnostic: the feature map before global pooling
(512 x 4 x 4 x 4 for a 3 x 16 x 224 x 224 clip), averaged over channels, resized to the clip
and overlaid on it. Here:

- `cam_raw`: that channel mean at feature resolution, un-normalised   # B x T' x H' x W'
- `cam`: upsampled (trilinear) to the clip's T x H x W, then normalised  # B x T x H x W

Which normalisation supports which claim:

- **Where** the model looks (Figure 6; Figure 7 ii and iii; `mass_in_boxes`): per-clip
  min-max (`norm="clip"`, the default) is fine. It keeps the map's shape and discards its
  level, so it cannot say that a clip activates the model weakly: a static video's map is
  stretched to [0, 1] like any other (for a model blind to static input the map is 0
  or float rounding noise, which the min-max may stretch to full range).
- **How strongly** the model responds (Figure 7 i: "a static video shows low activation"):
  compare un-normalised values. Take `cam_raw` (e.g. its mean per clip) of the moving clip
  and of its static version through the same backbone, or draw both with one colour scale
  (`norm="batch"`, a min-max shared by all clips of the call: put the pair in one batch).
  Raw levels have no common scale across backbones (MoCo vs MoCo+BE): compare the ratio
  static / moving per model, never raw values between models.
- `mass_in_boxes` is invariant to scaling but not to an offset: the min-max subtracts the
  clip's floor, so shares from `norm="clip"` are more contrastive than from raw maps. Use
  one normalisation for every model compared, and always read the share against its
  chance level (the box area share).

The adversarial builders work on clips (B, C, T, H, W) either in [0, 1] or normalised:
frame selection and convex mixing commute with the per-channel normalisation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bepaper.errors import ConfigError
from bepaper.runs import atomic_path


def _check_clips(x: Tensor, name: str = "x") -> None:
    if x.dim() != 5:
        raise ValueError(f"{name} must be clips (B, C, T, H, W), got shape {tuple(x.shape)}")


# ------------------------------------------------------------------------------- CAM


@torch.no_grad()
def cam_raw(backbone: nn.Module, clips: Tensor) -> Tensor:
    """The channel mean of the backbone's feature map, un-normalised.

    clips: B x 3 x T x H x W, as the backbone expects them (normalised). The backbone runs in
    eval mode (its training flag is restored afterwards). Returns B x T' x H' x W' (float32).
    """
    _check_clips(clips, "clips")
    was_training = backbone.training
    backbone.eval()
    try:
        f = backbone(clips)  # B x C x T' x H' x W'
    finally:
        backbone.train(was_training)
    if f.dim() != 5:
        raise ValueError(f"backbone must return B x C x T' x H' x W', got {tuple(f.shape)}")
    return f.float().mean(dim=1)


def upsample(maps: Tensor, size: Sequence[int]) -> Tensor:
    """Trilinear resize of B x T' x H' x W' maps to B x T x H x W (`size` = (T, H, W))."""
    out = F.interpolate(maps.unsqueeze(1), size=tuple(size), mode="trilinear", align_corners=False)
    return out.squeeze(1)


def _minmax(m: Tensor, dims: tuple[int, ...]) -> Tensor:
    lo = m.amin(dim=dims, keepdim=True)
    span = m.amax(dim=dims, keepdim=True) - lo
    return torch.where(span > 0, (m - lo) / span.clamp_min(1e-12), torch.zeros_like(m))


NORMS = {
    "clip": lambda m: _minmax(m, (1, 2, 3)),  # each clip to [0, 1]: shape, not level
    "batch": lambda m: _minmax(m, (0, 1, 2, 3)),  # one scale for all clips of the call
    "none": lambda m: m,  # the raw channel mean, upsampled
}


def cam(backbone: nn.Module, clips: Tensor, norm: str = "clip") -> Tensor:
    """CAM resized to the clip: B x T x H x W.

    norm: "clip" (default) min-max normalises each clip over T, H, W to [0, 1] (a constant
    map becomes 0); "batch" uses one min and max for the whole batch, so clips stay
    comparable in strength; "none" keeps the raw channel mean. See the module docstring.
    """
    if norm not in NORMS:
        raise ConfigError(f"unknown CAM norm '{norm}'; choose from {list(NORMS)}")
    return NORMS[norm](upsample(cam_raw(backbone, clips), clips.shape[2:]))


class BoxMass(NamedTuple):
    """Per clip (B,): the share of CAM mass inside the actor box, and its chance level."""

    mass: np.ndarray
    chance: np.ndarray


def mass_in_boxes(cam: Tensor | np.ndarray, boxes: Tensor | np.ndarray) -> BoxMass:
    """Share of CAM mass inside the actor's box, averaged over frames.

    cam: B x T x H x W, non-negative; boxes: B x T x 4 (x0, y0 inclusive, x1, y1 exclusive,
    in the clip's pixels; clipped to the frame). `chance` is the mean share of the frame
    the boxes cover: the mass share of a uniform map. Frames with an empty box or zero CAM
    mass are left out; a clip with none left is NaN.
    """
    c = cam.detach().cpu().double().numpy() if torch.is_tensor(cam) else np.asarray(cam, float)
    bx = boxes.cpu().numpy() if torch.is_tensor(boxes) else np.asarray(boxes)
    if c.ndim != 4 or bx.shape != (*c.shape[:2], 4):
        raise ValueError(f"need cam B x T x H x W and boxes B x T x 4, got {c.shape}, {bx.shape}")
    if (c < 0).any():
        raise ValueError("cam must be non-negative (use cam(...) with norm 'clip' or 'batch')")
    h, w = c.shape[2:]
    x0, x1 = (np.clip(bx[..., i].astype(np.int64), 0, w)[..., None, None] for i in (0, 2))
    y0, y1 = (np.clip(bx[..., i].astype(np.int64), 0, h)[..., None, None] for i in (1, 3))
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)  # B x T x H x W
    total = c.sum(axis=(2, 3))
    area = inside.mean(axis=(2, 3))
    valid = (area > 0) & (total > 0)  # B x T
    share = (c * inside).sum(axis=(2, 3)) / np.where(total > 0, total, 1)
    count = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mass = np.where(count > 0, (share * valid).sum(axis=1) / count, np.nan)
        chance = np.where(count > 0, (area * valid).sum(axis=1) / count, np.nan)
    return BoxMass(mass, chance)


# ------------------------------------------------------------- adversarial inputs (Fig. 7)


def static_video(x: Tensor, frame: int | None = None) -> Tensor:
    """Figure 7 i: frame `frame` (default the middle one, T // 2) repeated T times.
    B x C x T x H x W → same shape, zero temporal difference."""
    _check_clips(x)
    k = x.shape[2] // 2 if frame is None else frame
    return x[:, :, k : k + 1].expand_as(x).clone()


def paste_static_actor(
    x: Tensor,
    donor: Tensor,
    donor_boxes: Tensor | np.ndarray,
    frame: int,
    at: Sequence[int] | np.ndarray | None = None,
) -> tuple[Tensor, Tensor]:
    """Figure 7 ii: the actor box of one donor frame pasted, static, into every frame of x.

    x: B x C x T x H x W; donor: B x C x T_d x H_d x W_d (same C); donor_boxes: B x T_d x 4
    (x0, y0, x1, y1, donor pixels); frame: the donor frame. The pasted region is the box
    rectangle (no mask), at the donor's position or with its top-left corner at `at`
    ((x, y), or B x 2); it is cut where it leaves the frame. Returns the new clip and the
    pasted boxes (B x 4, long, in x's pixels).
    """
    _check_clips(x)
    _check_clips(donor, "donor")
    b, _, _, h, w = x.shape
    bx = torch.as_tensor(np.asarray(donor_boxes), dtype=torch.long)[:, frame]  # B x 4
    hd, wd = donor.shape[3:]
    corners = None if at is None else np.broadcast_to(np.asarray(at, dtype=np.int64), (b, 2))
    out, pasted = x.clone(), torch.zeros(b, 4, dtype=torch.long)
    for i in range(b):
        x0, x1 = (int(v) for v in bx[i, [0, 2]].clamp(0, wd))
        y0, y1 = (int(v) for v in bx[i, [1, 3]].clamp(0, hd))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"sample {i}: the donor has no actor box in frame {frame}")
        tx, ty = (x0, y0) if corners is None else (int(corners[i, 0]), int(corners[i, 1]))
        patch = donor[i, :, frame, y0:y1, x0:x1]  # C x h x w
        # cut the patch to the part that lands inside x's frame
        cx0, cy0 = max(0, -tx), max(0, -ty)
        cx1, cy1 = min(patch.shape[2], w - tx), min(patch.shape[1], h - ty)
        if cx1 <= cx0 or cy1 <= cy0:
            raise ValueError(f"sample {i}: the pasted box falls outside the {w}x{h} frame")
        out[i, :, :, ty + cy0 : ty + cy1, tx + cx0 : tx + cx1] = patch[:, None, cy0:cy1, cx0:cx1]
        pasted[i] = torch.tensor([tx + cx0, ty + cy0, tx + cx1, ty + cy1])
    return out, pasted


def add_static_noise(
    x: Tensor, other: Tensor, lam: float = 0.3, frame: int | None = None
) -> Tensor:
    """Figure 7 iii: a static frame of another clip added as noise, Eq. 1 with an external
    frame: (1 - λ) · x_j + λ · other_k for every frame j (k default: other's middle frame).
    x: B x C x T x H x W; other: B x C x T_o x H x W. Eq. 2 holds: the temporal difference
    is (1 - λ) times x's."""
    _check_clips(x)
    _check_clips(other, "other")
    if other.shape[:2] != x.shape[:2] or other.shape[3:] != x.shape[3:]:
        raise ValueError(f"other {tuple(other.shape)} does not match x {tuple(x.shape)}")
    k = other.shape[2] // 2 if frame is None else frame
    return (1 - lam) * x + lam * other[:, :, k : k + 1]


# --------------------------------------------------------------------------- outputs


def to_uint8(
    clip: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> np.ndarray:
    """One clip C x T x H x W (float in [0, 1], or normalised with `mean`/`std`) →
    uint8 T x H x W x 3."""
    x = clip.detach().float().cpu()
    if mean is not None and std is not None:
        x = x * torch.tensor(std).view(-1, 1, 1, 1) + torch.tensor(mean).view(-1, 1, 1, 1)
    return (x.clamp(0, 1) * 255).round().byte().permute(1, 2, 3, 0).numpy()


def overlay(
    frames: np.ndarray, cam: Tensor | np.ndarray, alpha: float = 0.5, cmap: str = "jet"
) -> np.ndarray:
    """Colour-mapped CAM over the frames: uint8 T x H x W x 3.

    frames: uint8 T x H x W x 3; cam: T x H x W, normalised to [0, 1] (values outside are
    clipped, so pass `cam(..., norm="clip" or "batch")`, not raw maps)."""
    import matplotlib

    m = cam.detach().cpu().numpy() if torch.is_tensor(cam) else np.asarray(cam)
    if frames.ndim != 4 or m.shape != frames.shape[:3]:
        raise ValueError(
            f"frames T x H x W x 3 and cam T x H x W differ: {frames.shape}, {m.shape}"
        )
    colours = matplotlib.colormaps[cmap](np.clip(m, 0, 1))[..., :3]
    mixed = (1 - alpha) * frames.astype(np.float64) / 255 + alpha * colours
    return (mixed * 255).round().astype(np.uint8)


def grid_figure(
    rows: list[tuple[str, np.ndarray, Tensor | np.ndarray | None]],
    max_frames: int = 8,
    show_frames: bool = True,
    title: str | None = None,
    alpha: float = 0.5,
):
    """The figure of `save_grid`: one case per entry of `rows` = (label, uint8 frames
    T x H x W x 3, cam T x H x W in [0, 1] or None). Each case takes a row of its frames (if
    `show_frames` or no cam) and a row of the CAM overlay, at up to `max_frames` evenly
    spaced times. Row labels are horizontal, left of their row; frame times head a row only
    where they change."""
    from bepaper import figures

    lines = []  # (row label, images, frame indices)
    for label, frames, m in rows:
        idx = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), max_frames)).round())
        idx = idx.astype(int)
        if show_frames or m is None:
            lines.append((f"{label}\ninput frames", frames, idx))
        if m is not None:
            lines.append((f"{label}\nCAM overlay", overlay(frames, m, alpha), idx))
    ncols = max(len(i) for _, _, i in lines)
    longest = max(len(part) for text, _, _ in lines for part in text.split("\n"))
    label_in = 9 * figures.CHAR_WIDTH * figures.PT * longest + 0.3
    width = 1.5 * ncols + label_in
    heads = sum(r == 0 or not np.array_equal(i, lines[r - 1][2]) for r, (_, _, i) in
                enumerate(lines))  # fmt: skip
    size = (width, 1.5 * len(lines) + 0.2 * heads + (0.5 * (title or "").count("\n") + 0.5))
    fig = figures.new_figure(*size)
    axes = fig.subplots(len(lines), ncols, squeeze=False)
    for r, (label, images, idx) in enumerate(lines):
        head = r == 0 or not np.array_equal(idx, lines[r - 1][2])
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(idx):
                ax.set_axis_off()
                continue
            ax.imshow(images[idx[c]])
            if head:
                ax.set_title(f"frame {idx[c]}", fontsize=8, pad=3)
        axes[r, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center",
                              labelpad=6)  # fmt: skip
    if title:
        figures.set_suptitle(fig, title, fontsize=10)
    return fig


def save_grid(
    rows: list[tuple[str, np.ndarray, Tensor | np.ndarray | None]],
    path: str | os.PathLike,
    max_frames: int = 8,
    show_frames: bool = True,
    title: str | None = None,
    alpha: float = 0.5,
) -> Path:
    """`grid_figure` as a PNG at `path`."""
    fig = grid_figure(rows, max_frames, show_frames, title, alpha)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def save_gif(frames: np.ndarray, path: str | os.PathLike, fps: float = 8) -> Path:
    """An animated, looping GIF of uint8 T x H x W x 3 frames (Pillow).

    GIF delays are in 1/100 s. Pillow merges identical consecutive frames into one longer
    frame (a static video gives a one-frame GIF of the same duration)."""
    from PIL import Image

    images = [Image.fromarray(np.ascontiguousarray(f)) for f in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=round(1000 / fps),
            loop=0,
        )
    return path
