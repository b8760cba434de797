"""Motion of a clip and of its distracting version (Figure 3: BE keeps the motion).

Eq. 2 says the temporal gradient of the distracting clip is the original's times 1 - λ.
Optical flow measures displacement rather than brightness change, so it should move less:
Farnebäck's estimate stays at the flow where the added static frame is flat and shrinks
toward (1 - λ)·flow where the added frame has texture of its own (measured on SynthBias: a
ratio of 0.92–0.96 at λ = 0.1 and 0.71–0.83 at λ = 0.3, tests/test_motion.py).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

# OpenCV's Farnebäck parameters (the values of OpenCV's own tutorial): a 3-level pyramid,
# each level half the size of the one below; 15 x 15 averaging windows; 3 iterations per
# level; a degree-2 polynomial fitted over 5 x 5 neighbourhoods with Gaussian σ = 1.2; no
# flags (no initial flow, box-filter windows).
FARNEBACK = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}


def temporal_gradient(x: Tensor) -> Tensor:
    """d x / dt as frame differences: B x C x T x H x W → B x C x (T - 1) x H x W."""
    return x[:, :, 1:] - x[:, :, :-1]


def _grey_uint8(clip: np.ndarray | Tensor) -> np.ndarray:
    """T x H x W x 3 RGB, uint8 or float in [0, 1] → T x H x W uint8 luma (BT.601)."""
    a = clip.detach().cpu().numpy() if torch.is_tensor(clip) else np.asarray(clip)
    if a.ndim != 4 or a.shape[-1] != 3:
        raise ValueError(f"expected a (T, H, W, 3) RGB clip, got shape {a.shape}")
    a = a.astype(np.float64) / (255.0 if a.dtype == np.uint8 else 1.0)
    grey = a @ np.array([0.299, 0.587, 0.114])
    return np.clip(np.round(grey * 255), 0, 255).astype(np.uint8)


def optical_flow(clip: np.ndarray | Tensor, **farneback) -> np.ndarray:
    """Dense Farnebäck flow between consecutive frames of one clip.

    clip: T x H x W x 3 RGB, uint8 or float in [0, 1] (converted to grey uint8).
    farneback: overrides of `FARNEBACK`.
    Returns (T - 1) x H x W x 2 float32: the (dx, dy) displacement in pixels of each pixel of
    frame t to frame t + 1.
    """
    import cv2

    grey = _grey_uint8(clip)
    params = {**FARNEBACK, **farneback}
    flows = [
        cv2.calcOpticalFlowFarneback(grey[t], grey[t + 1], None, **params)
        for t in range(len(grey) - 1)
    ]
    return np.stack(flows).astype(np.float32)


def motion_ratio(
    original: Tensor,
    distracted: Tensor,
    lam: float,
    *,
    min_grad: float = 1 / 255,
    min_flow: float = 0.25,
) -> dict[str, float]:
    """How much of the original clip's motion the distracting clip keeps.

    original, distracted: one clip each, C x T x H x W float RGB in [0, 1]; lam: its λ.
    Returns:
        expected: 1 - λ, the gradient ratio Eq. 2 predicts.
        grad_median: median of (d x̂/dt) / (d x/dt) over the values where |d x/dt| >
            `min_grad` (one grey level by default): the typical per-pixel scaling.
        grad_slope: least-squares slope of d x̂/dt on d x/dt through the origin, over all
            values, Σ dx̂·dx / Σ dx²: the scaling weighted toward strong motion.
        flow_median: median of |F̂| / |F| over pixels where |F| > `min_flow` pixels, F and F̂
            the Farnebäck flows of the two clips (`optical_flow`); magnitudes only, blind
            to direction (two unrelated clips with similar speeds score near 1).
        flow_slope: Σ F̂·F / Σ |F|², the share of the original flow vectors that the
            distracting clip's flow reproduces (1 = same flow; < 1: shrunk or turned).
        flow_epe: mean end-point error |F̂ - F| in pixels; flow_mean: mean |F|, for scale.
    Gradients are computed in float64 from the given values; the flows see them rounded to
    grey uint8.
    """
    if original.shape != distracted.shape or original.dim() != 4:
        raise ValueError(
            f"expected two (C, T, H, W) clips of one shape, got {tuple(original.shape)} "
            f"and {tuple(distracted.shape)}"
        )
    d_o = temporal_gradient(original[None].double()).flatten()
    d_d = temporal_gradient(distracted[None].double()).flatten()
    keep = d_o.abs() > min_grad
    f_o = optical_flow(original.permute(1, 2, 3, 0)).astype(np.float64)
    f_d = optical_flow(distracted.permute(1, 2, 3, 0)).astype(np.float64)
    mag_o, mag_d = np.linalg.norm(f_o, axis=-1), np.linalg.norm(f_d, axis=-1)
    moving = mag_o > min_flow
    nan = float("nan")
    return {
        "expected": 1.0 - float(lam),
        "grad_median": float((d_d[keep] / d_o[keep]).median()) if keep.any() else nan,
        "grad_slope": float((d_o * d_d).sum() / (d_o * d_o).sum()),
        "flow_median": float(np.median(mag_d[moving] / mag_o[moving])) if moving.any() else nan,
        "flow_slope": float((f_o * f_d).sum() / (f_o * f_o).sum()),
        "flow_epe": float(np.linalg.norm(f_d - f_o, axis=-1).mean()),
        "flow_mean": float(mag_o.mean()),
    }


# ---------------------------------------------------------------- Figure 3 and its table


def _clips_of(root, count: int, frames: int = 8, stride: int = 2, split: int = 2):
    """`count` test clips of a SynthBias analogue (or any dataset folder the UCF101 reader
    takes), one video per class in turn: float (3, T, H, W) in [0, 1], with names."""
    from bepaper.augment import to_float
    from bepaper.config import DataConfig
    from bepaper.data.datasets import load_split
    from bepaper.data.sampling import clip_indices, max_start
    from bepaper.video import open_video

    video_root, sp = load_split(DataConfig(dataset="synthbias", root=str(root)), split)
    by_class: dict[int, list] = {}
    for item in sp.test:
        by_class.setdefault(item.label, []).append(item)
    order = [v for group in zip(*by_class.values(), strict=False) for v in group]
    out = []
    for item in order[:count]:
        reader = open_video(video_root / item.path)
        n = reader.num_frames
        idx = clip_indices(max_start(n, frames, stride) // 2, frames, stride, n)
        frames_u8 = reader.get(idx.tolist())
        reader.close()
        out.append((item.path, to_float(torch.from_numpy(frames_u8)[None])[0]))
    return out


def _flow_rgb(flow: np.ndarray, scale: float) -> np.ndarray:
    """A (H, W, 2) flow as an RGB image: hue = direction, brightness = speed / scale."""
    import cv2

    mag, ang = cv2.cartToPolar(flow[..., 0].astype(np.float32), flow[..., 1].astype(np.float32))
    hsv = np.zeros((*flow.shape[:2], 3), np.uint8)
    hsv[..., 0] = (ang * 90 / np.pi).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / max(scale, 1e-6) * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def figure3(root, lam: float = 0.3, frame: int = 0, title: str = "", clip_index: int = 0):
    """Figure 3 of the paper, measured on test clip `clip_index` of the dataset at `root`
    (`figure3_figure`). Returns the matplotlib figure."""
    name, x = _clips_of(root, clip_index + 1)[clip_index]
    return figure3_figure(x, lam=lam, frame=frame, title=title, name=name)


def figure3_figure(x: Tensor, lam: float = 0.3, frame: int = 0, title: str = "", name: str = ""):
    """Figure 3 for one clip x (3 x T x H x W, floats in [0, 1]): rows = the clip, its static
    frame, the distracting clip (Eq. 1), the temporal gradients of both (|dx/dt|, same
    colour scale) and their Farnebäck optical flows (same scale). The measured ratios are in
    the title. Returns the matplotlib figure."""
    from bepaper import figures
    from bepaper.be import distract

    d = distract(x[None], lam=lam, frame=frame)[0]
    r = motion_ratio(x, d, lam)
    t = x.shape[1]
    g_o = temporal_gradient(x[None])[0].abs().sum(0)  # (T-1) x H x W
    g_d = temporal_gradient(d[None])[0].abs().sum(0)
    f_o, f_d = optical_flow(x.permute(1, 2, 3, 0)), optical_flow(d.permute(1, 2, 3, 0))
    scale = float(np.percentile(np.linalg.norm(f_o, axis=-1), 99))
    static = x[:, frame : frame + 1].expand_as(x)
    rows = [
        ("original clip x", [x[:, i].permute(1, 2, 0).numpy() for i in range(t)]),
        (f"its static frame x_{frame}", [static[:, i].permute(1, 2, 0).numpy() for i in range(t)]),
        (
            f"distracting clip x̂ = (1 - λ) x + λ x_{frame}, λ = {lam}",
            [d[:, i].permute(1, 2, 0).clamp(0, 1).numpy() for i in range(t)],
        ),  # fmt: skip
        ("temporal gradient |dx/dt|", [g_o[i].numpy() for i in range(t - 1)]),
        ("temporal gradient |dx̂/dt| (same colour scale)", [g_d[i].numpy() for i in range(t - 1)]),
        ("optical flow of x (hue: direction, brightness: speed)",
         [_flow_rgb(f, scale) for f in f_o]),
        ("optical flow of x̂ (same scale)", [_flow_rgb(f, scale) for f in f_d]),
    ]  # fmt: skip
    head = f"{title}\n" if title else ""
    suptitle = (
        f"{head}{name}: gradient ratio {r['grad_slope']:.4f} (Eq. 2: 1 - λ = "
        f"{r['expected']:.2f}); flow ratio {r['flow_slope']:.2f}"
    )
    fig = figures.new_figure(1.3 * t, 1.55 * len(rows) + 0.25 * (suptitle.count("\n") + 2))
    axes = figures.image_rows(fig, [label for label, _ in rows], t)
    vmax = float(g_o.max())
    for (_, images), row in zip(rows, axes, strict=True):
        for ax, img in zip(row, images, strict=False):
            ax.imshow(img, cmap="magma", vmin=0, vmax=vmax) if img.ndim == 2 else ax.imshow(
                np.clip(img, 0, 1) if img.dtype != np.uint8 else img
            )
    figures.set_suptitle(fig, suptitle, fontsize=8.5)
    return fig


def motion_table(root, lams=(0.1, 0.2, 0.3), clips: int = 8, seed: int = 0):
    """The measured ratios of `motion_ratio` for `clips` test clips and each λ (a random
    static frame per clip, drawn with `seed`), as a DataFrame: one row per (clip, λ)."""
    import pandas as pd

    from bepaper.be import distract

    rng = np.random.default_rng(seed)
    rows = []
    for name, x in _clips_of(root, clips):
        k = int(rng.integers(x.shape[1]))
        for lam in lams:
            r = motion_ratio(x, distract(x[None], lam=lam, frame=k)[0], lam)
            rows.append(
                {
                    "clip": name,
                    "λ": lam,
                    "expected 1-λ": round(r["expected"], 3),
                    "grad ratio": round(r["grad_slope"], 4),
                    "flow ratio": round(r["flow_slope"], 3),
                    "flow |ratio| median": round(r["flow_median"], 3),
                    "flow end-point error (px)": round(r["flow_epe"], 3),
                    "mean flow (px)": round(r["flow_mean"], 3),
                }
            )
    return pd.DataFrame(rows)
