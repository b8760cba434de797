"""SynthBias: real encoded videos with a controllable background bias, in the UCF101 layout.

Classes are defined by motion only (trajectory, direction, speed, periodicity, deformation);
the actor's look is drawn independently of the class. Each video plays on a textured scene
larger than the frame, seen through a moving camera (pan, zoom, shake). Scene *families*
share hues and differ in texture, and every video adds its own layout and objects. In the
biased splits class c takes its background from its own family (family c) with
probability bias_c; otherwise from one of the other families. Unbiased splits draw the
family independently of the class. See docs/synthbias.md.

One analogue folder `<out>/<analogue>/` holds:

    videos/<Class>/v_<Class>_gXX_cYY.avi   MPEG-4 Part 2, yuv420p, in AVI (like UCF101's xvid)
    boxes/<Class>/v_<Class>_gXX_cYY.npy    int16 (T, 4): actor box x0, y0, x1, y1 per frame
    splits/classInd.txt, trainlist0K.txt, testlist0K.txt   official UCF101 formats (CRLF)
    meta.json                              size, seed, config, and one record per video

Split 1 = biased train / biased test; split 2 = unbiased probe-train / unbiased test.
For diving48like (`split1_biased=False`) both splits are unbiased.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from bepaper.errors import ConfigError, DataError

ANALOGUES = ("ucf101like", "hmdb51like", "diving48like")

# The four parts of every class, in this order in `SynthConfig.videos_per_class`, in
# meta.json and in the group numbering: (part, split number, "train" | "test").
PARTS = (
    ("biased_train", 1, "train"),
    ("biased_test", 1, "test"),
    ("probe_train", 2, "train"),
    ("unbiased_test", 2, "test"),
)

FORMAT_VERSION = 1  # bump when the same config would render different videos
CLIPS_PER_GROUP = 4  # naming only: v_<Class>_gXX_cYY with YY in 1..4; a group never spans parts

WRITERS = ("pyav", "opencv")

# Square sizes (among 16..128) whose MPEG-4 AVI decord 0.6.0 cannot batch-read: it sees
# 4 channels and get_batch fails (dmlc/decord#336). Measured on this package's own files.
DECORD_BAD_SIZES = (16, 24, 48, 72)


@dataclass(frozen=True)
class SynthConfig:
    """One SynthBias analogue. Every default is the documented choice; sizes override."""

    # Number of classes (motion patterns).
    num_classes: int
    # Videos per class in each part: (biased train, biased test, probe train, unbiased test).
    # Split 1 = parts 1 and 2, split 2 = parts 3 and 4.
    videos_per_class: tuple[int, int, int, int]
    # Frame side in pixels (square frames, even).
    frame_size: int
    # Frames per video.
    num_frames: int
    # Frame rate written into the container.
    fps: int = 25
    # Mean probability that a class takes its background from its own family in the biased
    # parts. Otherwise the family is one of the *other* families (uniformly), so P(own) is
    # exactly bias_c and 1 / num_families is the unbiased point.
    bias: float = 0.65
    # Per-class bias_c spreads evenly over [bias - spread, bias + spread] (clipped to [0, 1]),
    # assigned to classes in a seeded random order: the Figure 4 analogue.
    bias_spread: float = 0.2
    # Motion vocabulary: a key of MOTION_SETS; the classes are its first `num_classes` motions.
    motion_set: str = "ucf101like"
    # False: split 1 is unbiased too (Diving48-like); bias and bias_spread are then unused.
    split1_biased: bool = True
    # Scene families (texture types); family c is class c's own. At least num_classes.
    num_families: int = 0  # 0 = num_classes
    # Actor size (diameter of its bounding disk) as a fraction of the frame side, uniform range.
    actor_size: tuple[float, float] = (0.2, 0.3)
    # Per-video motion quirks: speed and period scale by a factor in [1 - j, 1 + j].
    motion_jitter: float = 0.15
    # Camera pan: the camera travels up to this fraction of the frame side over one video.
    camera_pan: float = 0.25
    # Camera zoom: log-zoom starts in [-z/2, z/2] and changes by up to z over one video.
    camera_zoom: float = 0.15
    # Camera shake: standard deviation of the per-frame jitter, as a fraction of frame side.
    camera_shake: float = 0.01
    # Period of the background texture as a fraction of the frame side, uniform range.
    texture_period: tuple[float, float] = (0.15, 0.25)
    # Per-video objects (soft ellipses) on the scene: count range, inclusive.
    blobs: tuple[int, int] = (3, 6)
    # Standard deviation (in 0..255 units) of the per-frame sensor noise.
    frame_noise: float = 2.0
    # MPEG-4 quantiser for the PyAV writer (1 = best .. 31); OpenCV uses its own default.
    quality: int = 2

    @property
    def families(self) -> int:
        return self.num_families or self.num_classes

    @property
    def classes(self) -> tuple[str, ...]:
        return MOTION_SETS[self.motion_set][: self.num_classes]


# ---------------------------------------------------------------------------------------
# Motions. Each maps frame indices t (T,) and the per-video quirks q to the actor's centre
# in [0, 1]^2 of the free region (px, py), its scale (sx, sy) and rotation th (radians).
# Periods are in frames, so that a 16-frame clip holds at least half a cycle.
# ---------------------------------------------------------------------------------------

Motion = Callable[[np.ndarray, int, dict], tuple]


def _still(t: np.ndarray, q: dict) -> tuple[np.ndarray, np.ndarray]:
    """A nearly still centre: random start, slow drift of at most 0.15."""
    tau = t / max(len(t) - 1, 1)
    px = 0.15 + 0.7 * q["start"] + 0.15 * q["drift"] * tau
    py = 0.15 + 0.7 * q["offset"] + 0.15 * q["drift2"] * tau
    return px, py


def _ones(t: np.ndarray) -> np.ndarray:
    return np.ones(len(t))


def _slide(t, T, q, dx: float, dy: float):
    """Straight line across the frame in direction (dx, dy), over the whole video."""
    tau = t / max(T - 1, 1)
    dist = min(0.8 * q["k"], 1.0)
    along = (1 - dist) * q["start"] + dist * tau  # from the entry side
    across = 0.1 + 0.8 * q["offset"] + 0.1 * q["drift"] * tau
    if dx:
        px = along if dx > 0 else 1 - along
        py = across
    else:
        py = along if dy > 0 else 1 - along
        px = across
    return px, py, _ones(t), _ones(t), 0 * t


def _orbit(t, T, q, direction: float, shrink: float = 0.0):
    """Circle (direction +1 = counter-clockwise on screen), period about 20 frames."""
    period = 20 / q["k"]
    radius = 0.5 * q["amp"] * (1 - shrink * t / max(T - 1, 1))
    a = direction * 2 * np.pi * t / period + q["phase"]
    r0 = 0.5 * q["amp"]
    cx = r0 + (1 - 2 * r0) * q["start"]
    cy = r0 + (1 - 2 * r0) * q["offset"]
    return cx + radius * np.cos(a), cy - radius * np.sin(a), _ones(t), _ones(t), 0 * t


def _bounce(t, T, q):
    period = 16 / q["k"]
    h = 0.9 * q["amp"]
    py = 1 - h * np.abs(np.sin(np.pi * t / period + q["phase"]))
    px = 0.15 + 0.7 * q["start"] + 0.15 * q["drift"] * t / max(T - 1, 1)
    return px, py, _ones(t), _ones(t), 0 * t


def _swing(t, T, q):
    period = 14 / q["k"]
    amp = 0.45 * q["amp"]
    px = 0.5 + amp * np.sin(2 * np.pi * t / period + q["phase"])
    py = 0.1 + 0.8 * q["offset"] + 0 * t
    return px, py, _ones(t), _ones(t), 0 * t


def _pulse(t, T, q):
    s = 1 + 0.35 * np.sin(2 * np.pi * t / (14 / q["k"]) + q["phase"])
    px, py = _still(t, q)
    return px, py, s, s, 0 * t


def _spin(t, T, q):
    th = -2 * np.pi * t / (16 / q["k"]) + q["phase"]
    px, py = _still(t, q)
    return px, py, _ones(t), _ones(t), th


def _zigzag(t, T, q):
    tau = t / max(T - 1, 1)
    dist = min(0.8 * q["k"], 1.0)
    along = (1 - dist) * q["start"] + dist * tau
    px = along if q["sign"] > 0 else 1 - along
    period = 12 / q["k"]
    tri = 2 * np.abs(((t / period + q["phase"] / (2 * np.pi)) % 1.0) - 0.5)  # 0..1
    py = 0.5 + 0.45 * q["amp"] * (2 * tri - 1)
    return px, py, _ones(t), _ones(t), 0 * t


def _diagonal(t, T, q):
    tau = t / max(T - 1, 1)
    dist = min(0.8 * q["k"], 1.0)
    along = (1 - dist) * q["start"] + dist * tau
    off = 0.15 * (2 * q["offset"] - 1)
    return along + off, 1 - along + off, _ones(t), _ones(t), 0 * t


def _figure_eight(t, T, q):
    w = 2 * np.pi * t / (24 / q["k"]) + q["phase"]
    amp = 0.45 * q["amp"]
    return 0.5 + amp * np.sin(w), 0.5 + amp * np.sin(2 * w), _ones(t), _ones(t), 0 * t


def _hop(t, T, q):
    """Hops with rests: up and down during the first half of each 18-frame period."""
    s = (t / (18 / q["k"]) + q["phase"] / (2 * np.pi)) % 1.0
    h = 0.9 * q["amp"]
    py = 1 - h * np.where(s < 0.5, np.sin(np.pi * s / 0.5), 0.0)
    px = 0.15 + 0.7 * q["start"] + 0.15 * q["drift"] * t / max(T - 1, 1)
    return px, py, _ones(t), _ones(t), 0 * t


def _stretch(t, T, q):
    d = 0.3 * np.sin(2 * np.pi * t / (14 / q["k"]) + q["phase"])
    px, py = _still(t, q)
    return px, py, 1 + d, 1 - d, 0 * t


def _shake(t, T, q):
    px = 0.5 + 0.15 * np.sin(2 * np.pi * t / (8 / q["k"]) + q["phase"])  # 8 frames: stride 2 ok
    py = 0.15 + 0.7 * q["offset"] + 0 * t
    return px, py, _ones(t), _ones(t), 0 * t


def _approach(t, T, q):
    tau = t / max(T - 1, 1)
    s = 0.7 + min(0.65 * q["k"], 0.8) * tau
    px, py = _still(t, q)
    return px, py, s, s, 0 * t


def _dive(t, T, q, fast: bool, short_sway: bool, tuck: bool):
    """Diving48-like: the same fall for every class; speed, sway period and pose differ."""
    tau = t / max(T - 1, 1)
    dist = min((0.9 if fast else 0.5) * q["k"], 1.0)
    py = (1 - dist) * q["start"] * 0.5 + dist * tau
    period = (12 if short_sway else 36) / q["k"]
    px = (
        0.5
        + 0.2 * (2 * q["offset"] - 1)
        + 0.2 * q["amp"] * np.sin(2 * np.pi * t / period + q["phase"])
    )
    s = _ones(t)
    if tuck:
        s = 1 - 0.3 * (0.5 - 0.5 * np.cos(2 * np.pi * t / (16 / q["k"]) + q["phase"]))
    return px, py, s, s, 0 * t


def _dive_classes() -> dict[str, Motion]:
    out = {}
    for tuck in (False, True):
        for fast in (False, True):
            for short in (False, True):
                name = (
                    f"Dive{'Fast' if fast else 'Slow'}{'Short' if short else 'Long'}Sway"
                    f"{'Tuck' if tuck else ''}"
                )
                out[name] = lambda t, T, q, f=fast, s=short, k=tuck: _dive(t, T, q, f, s, k)
    return out


MOTIONS: dict[str, Motion] = {
    "SlideLeft": lambda t, T, q: _slide(t, T, q, -1, 0),
    "SlideRight": lambda t, T, q: _slide(t, T, q, 1, 0),
    "Orbit": lambda t, T, q: _orbit(t, T, q, 1.0),
    "Bounce": _bounce,
    "SwingSide": _swing,
    "Pulse": _pulse,
    "Spin": _spin,
    "RiseUp": lambda t, T, q: _slide(t, T, q, 0, -1),
    "FallDown": lambda t, T, q: _slide(t, T, q, 0, 1),
    "ZigZag": _zigzag,
    "OrbitClockwise": lambda t, T, q: _orbit(t, T, q, -1.0),
    "Diagonal": _diagonal,
    "FigureEight": _figure_eight,
    "Hop": _hop,
    "Stretch": _stretch,
    "Shake": _shake,
    "Approach": _approach,
    "Spiral": lambda t, T, q: _orbit(t, T, q, 1.0, shrink=0.7),
    **_dive_classes(),
}

# Motion vocabularies; an analogue's classes are the first `num_classes` of its set.
MOTION_SETS: dict[str, tuple[str, ...]] = {
    "ucf101like": (
        "SlideLeft",
        "SlideRight",
        "Orbit",
        "Bounce",
        "SwingSide",
        "Pulse",
        "Spin",
        "RiseUp",
        "FallDown",
        "ZigZag",
    ),
    "hmdb51like": (
        "OrbitClockwise",
        "Diagonal",
        "FigureEight",
        "Hop",
        "Stretch",
        "Shake",
        "Approach",
        "Spiral",
    ),
    "diving48like": tuple(_dive_classes()),
}

# Scene families: texture types. All share one palette of hues (drawn per video).
FAMILIES = (
    "hstripes", "checker", "dots", "rings", "bricks", "dstripes",
    "grid", "waves", "clouds", "vstripes",
)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------


def _sizes() -> dict[str, dict[str, SynthConfig]]:
    def analogues(size: dict, ucf: tuple, hmdb: tuple, dive: tuple) -> dict[str, SynthConfig]:
        """Each tuple: (num_classes, videos_per_class)."""
        return {
            "ucf101like": SynthConfig(*ucf, **size, motion_set="ucf101like"),
            "hmdb51like": SynthConfig(*hmdb, **size, motion_set="hmdb51like"),
            "diving48like": SynthConfig(
                *dive, **size, motion_set="diving48like", split1_biased=False
            ),
        }

    return {
        "tiny": analogues(
            dict(frame_size=32, num_frames=24),
            ucf=(4, (3, 1, 2, 2)),
            hmdb=(3, (2, 1, 1, 1)),
            dive=(4, (2, 1, 1, 1)),
        ),
        "default": analogues(
            # bias 0.85 ± 0.1 (issue 13's ladder, docs/synthbias.md): at 0.65 ± 0.2 a net from
            # scratch on 10 labels per class did not cheat (rung 1 failed)
            dict(frame_size=40, num_frames=40, bias=0.85, bias_spread=0.1),
            ucf=(6, (60, 12, 40, 12)),  # probe-train large enough to learn motion without bias
            hmdb=(5, (20, 8, 6, 6)),
            dive=(4, (24, 8, 4, 4)),
        ),
        "study": analogues(
            dict(frame_size=80, num_frames=48),  # not 72: decord issue #336
            ucf=(10, (180, 36, 48, 36)),
            hmdb=(8, (90, 30, 15, 15)),
            dive=(8, (90, 30, 15, 15)),
        ),
    }


SIZES: dict[str, dict[str, SynthConfig]] = _sizes()


def check_config(cfg: SynthConfig) -> None:
    """Raise ConfigError naming the field if `cfg` cannot be generated."""
    if cfg.motion_set not in MOTION_SETS:
        raise ConfigError(
            f"unknown SynthBias motion_set '{cfg.motion_set}'; choose from {sorted(MOTION_SETS)}"
        )
    n = len(MOTION_SETS[cfg.motion_set])
    if not 2 <= cfg.num_classes <= n:
        raise ConfigError(f"num_classes must be in 2..{n} for '{cfg.motion_set}'")
    if not cfg.num_classes <= cfg.families <= len(FAMILIES):
        raise ConfigError(f"num_families must be in {cfg.num_classes}..{len(FAMILIES)}")
    if len(cfg.videos_per_class) != 4 or min(cfg.videos_per_class) < 1:
        raise ConfigError("videos_per_class must be 4 positive counts")
    if cfg.frame_size < 16 or cfg.frame_size % 2:
        raise ConfigError("frame_size must be even and at least 16")
    if cfg.frame_size in DECORD_BAD_SIZES:
        raise ConfigError(
            f"frame_size {cfg.frame_size} breaks decord's get_batch (dmlc/decord#336); "
            f"avoid {list(DECORD_BAD_SIZES)}"
        )
    if cfg.num_frames < 2 or cfg.fps < 1:
        raise ConfigError("num_frames must be at least 2 and fps at least 1")
    if not (0 <= cfg.bias <= 1 and cfg.bias_spread >= 0):
        raise ConfigError("bias must be in [0, 1] and bias_spread non-negative")
    if not 0 < cfg.actor_size[0] <= cfg.actor_size[1] <= 0.5:
        raise ConfigError("actor_size must be a range within (0, 0.5]")
    if not 0 <= cfg.motion_jitter < 0.5:
        raise ConfigError("motion_jitter must be in [0, 0.5)")
    if not 1 <= cfg.quality <= 31:
        raise ConfigError("quality must be in 1..31")


# ---------------------------------------------------------------------------------------
# The plan: every random choice but pixel-level ones, cheap, stored in meta.json
# ---------------------------------------------------------------------------------------


def _analogue_key(analogue: str) -> int:
    return zlib.crc32(analogue.encode())


def class_biases(cfg: SynthConfig, seed: int, analogue: str) -> list[float]:
    """bias_c per class: evenly spaced over bias ± spread, in a seeded random order."""
    c = cfg.num_classes
    levels = [cfg.bias + cfg.bias_spread * (2 * (i + 0.5) / c - 1) for i in range(c)]
    order = np.random.default_rng([seed, _analogue_key(analogue), 0]).permutation(c)
    return [float(np.clip(levels[i], 0.0, 1.0)) for i in order]


def _families_for(
    rng: np.random.Generator, c: int, n: int, families: int, bias: float | None, deck: list[int]
) -> list[int]:
    """Background families of one class's n videos in one part, balanced and shuffled.

    bias=None: every family equally often (independent of the class). Otherwise exactly
    round(bias * n) videos on family c, the rest spread evenly over the other families.
    Whole cycles over the pool come first; the remainder is dealt from `deck`, which the
    class's parts share, so that small parts together still cover the families.
    """
    if bias is None:
        pool, n_own = list(range(families)), 0
    else:
        pool, n_own = [f for f in range(families) if f != c], round(bias * n)
    rest = n - n_own
    out = [c] * n_own + pool * (rest // len(pool))
    for _ in range(rest % len(pool)):
        if not deck:
            deck.extend(pool[i] for i in rng.permutation(len(pool)))
        out.append(deck.pop())
    return [out[i] for i in rng.permutation(n)]


def _r(x: float) -> float:
    return round(float(x), 4)


def _hsv(h: float, s: float, v: float) -> list[float]:
    """HSV in [0, 1] to RGB in [0, 255]."""
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return [_r(255 * x) for x in rgb]


PALETTE_HUES = 8  # the shared hue palette of every scene family

SHAPES = ("disk", "square", "diamond", "triangle", "cross", "hexagon")
PATTERNS = ("solid", "stripes", "checker", "halves", "rings")


def _video_params(cfg: SynthConfig, rng: np.random.Generator) -> dict:
    """Per-video draws that do not depend on the class: quirks, actor look, camera, scene."""
    j = cfg.motion_jitter
    motion = {
        "k": _r(rng.uniform(1 - j, 1 + j)),  # speed / frequency factor
        "phase": _r(rng.uniform(0, 2 * np.pi)),
        "amp": _r(rng.uniform(0.7, 1.0)),
        "start": _r(rng.uniform()),
        "offset": _r(rng.uniform()),
        "drift": _r(rng.uniform(-1, 1)),
        "drift2": _r(rng.uniform(-1, 1)),
        "sign": int(rng.choice([-1, 1])),
    }
    hue1, hue2 = rng.uniform(0, 1, 2)
    actor = {
        "shape": SHAPES[rng.integers(len(SHAPES))],
        "pattern": PATTERNS[rng.integers(len(PATTERNS))],
        "size": _r(rng.uniform(*cfg.actor_size) * cfg.frame_size),
        "color1": _hsv(hue1, rng.uniform(0.6, 1.0), rng.uniform(0.7, 1.0)),
        "color2": _hsv(hue2, rng.uniform(0.6, 1.0), rng.uniform(0.5, 1.0)),
        "marker": _hsv(rng.uniform(), rng.uniform(0, 0.3), float(rng.choice([0.1, 1.0]))),
        "border": _r(rng.choice([0.0, 255.0])),
        "pattern_period": _r(rng.uniform(0.4, 0.8)),
        "pattern_angle": _r(rng.uniform(0, np.pi)),
    }
    pan_len = rng.uniform(0, cfg.camera_pan) * cfg.frame_size
    pan_dir = rng.uniform(0, 2 * np.pi)
    z0 = rng.uniform(-cfg.camera_zoom / 2, cfg.camera_zoom / 2)
    camera = {
        "pan_x": _r(pan_len * np.cos(pan_dir)),  # pixels over the whole video
        "pan_y": _r(pan_len * np.sin(pan_dir)),
        "log_zoom_start": _r(z0),
        "log_zoom_end": _r(z0 + rng.uniform(-cfg.camera_zoom, cfg.camera_zoom)),
        "shake": _r(cfg.camera_shake * cfg.frame_size),  # std of the jitter, pixels
    }
    ha, hb = rng.choice(PALETTE_HUES, 2, replace=False)
    light = rng.permutation([rng.uniform(0.3, 0.5), rng.uniform(0.6, 0.85)])
    scene = {
        "color_a": _hsv(
            (ha + rng.uniform(-0.15, 0.15)) / PALETTE_HUES, rng.uniform(0.25, 0.6), light[0]
        ),
        "color_b": _hsv(
            (hb + rng.uniform(-0.15, 0.15)) / PALETTE_HUES, rng.uniform(0.25, 0.6), light[1]
        ),
        "period": _r(rng.uniform(*cfg.texture_period) * cfg.frame_size),
        "angle": _r(rng.uniform(-8, 8) * np.pi / 180),
        "phase": _r(rng.uniform(0, 2 * np.pi)),
        "phase2": _r(rng.uniform(0, 2 * np.pi)),
    }
    return {"motion": motion, "actor": actor, "camera": camera, "scene": scene}


def plan_videos(cfg: SynthConfig, seed: int, analogue: str) -> list[dict]:
    """Every video's class, part, splits, family and parameters; no pixels (metadata-only).

    Deterministic from (seed, analogue); one record per video, in file order.
    """
    check_config(cfg)
    key = _analogue_key(analogue)
    biases = class_biases(cfg, seed, analogue)
    family_rng = np.random.default_rng([seed, key, 1])
    videos = []
    for c, name in enumerate(cfg.classes):
        group = 0
        decks: dict[bool, list[int]] = {True: [], False: []}  # remainder decks, per kind
        for (part, split, role), n in zip(PARTS, cfg.videos_per_class, strict=True):
            biased = split == 1 and cfg.split1_biased
            bias = biases[c] if biased else None
            fams = _families_for(family_rng, c, n, cfg.families, bias, decks[biased])
            for i in range(n):
                if i % CLIPS_PER_GROUP == 0:
                    group += 1
                stem = f"v_{name}_g{group:02d}_c{i % CLIPS_PER_GROUP + 1:02d}"
                index = len(videos)
                params = _video_params(cfg, np.random.default_rng([seed, key, 2, index]))
                videos.append(
                    {
                        "index": index,
                        "file": f"{name}/{stem}.avi",
                        "class": name,
                        "label": c + 1,
                        "part": part,
                        "biased": biased,
                        "split1": role if split == 1 else None,
                        "split2": role if split == 2 else None,
                        "family": FAMILIES[fams[i]],
                        "family_index": fams[i],
                        "own_family": fams[i] == c,
                        **params,
                    }
                )
    return videos


# ---------------------------------------------------------------------------------------
# Rendering (numpy only): scene canvas → camera → actor → noise
# ---------------------------------------------------------------------------------------


def _band(v: np.ndarray, sharp: float = 3.0) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(sharp * np.sin(v))


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * v)


def _texture(family: str, X, Y, sc: dict, rng: np.random.Generator) -> np.ndarray:
    """Texture value in [0, 1] over canvas coordinates X, Y (pixels)."""
    p, a, ph, ph2 = sc["period"], sc["angle"], sc["phase"], sc["phase2"]
    xr = X * np.cos(a) + Y * np.sin(a)
    yr = -X * np.sin(a) + Y * np.cos(a)
    w = 2 * np.pi / p
    if family == "hstripes":
        return _band(w * yr + ph)
    if family == "vstripes":
        return _band(w * xr + ph)
    if family == "dstripes":
        return _band(w * (xr + yr) / np.sqrt(2) + ph)
    if family == "checker":
        return 0.5 + 0.5 * np.tanh(4 * np.sin(0.5 * w * xr + ph) * np.sin(0.5 * w * yr + ph2))
    if family == "dots":
        dx = (xr / p + ph / (2 * np.pi)) % 1.0 - 0.5
        dy = (yr / p + ph2 / (2 * np.pi)) % 1.0 - 0.5
        return _sigmoid((0.3 - np.hypot(dx, dy)) * 40)
    if family == "rings":
        cx, cy = X.mean() + p * np.cos(ph) * 3, Y.mean() + p * np.sin(ph) * 3
        return _band(w * np.hypot(X - cx, Y - cy) + ph2)
    if family == "grid":
        lx = np.abs((xr / p + ph / (2 * np.pi)) % 1.0 - 0.5)
        ly = np.abs((yr / p + ph2 / (2 * np.pi)) % 1.0 - 0.5)
        return _sigmoid((np.maximum(lx, ly) - 0.36) * 40)
    if family == "bricks":
        h = 0.6 * p
        row = np.floor(yr / h + ph2 / (2 * np.pi))
        fx = (xr / p + 0.5 * (row % 2) + ph / (2 * np.pi)) % 1.0
        fy = (yr / h + ph2 / (2 * np.pi)) % 1.0
        mortar = np.maximum(_sigmoid((0.1 - fx) * 60), _sigmoid((0.16 - fy) * 60))
        return mortar
    if family == "waves":
        return _band(w * yr + 1.5 * np.sin(0.5 * w * xr + ph2) + ph)
    if family == "clouds":
        n = max(int(X.shape[0] / (1.5 * p)) + 3, 3)
        grid = rng.standard_normal((n, n))
        u = X / (1.5 * p)
        v = Y / (1.5 * p)
        return _sigmoid(2.5 * _bilinear(grid[..., None], u, v)[..., 0])
    raise AssertionError(family)


def _bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample img (H, W, C) at float pixel coordinates x, y (same shape), edges clamped."""
    h, w = img.shape[:2]
    x = np.clip(x, 0, w - 1.001)
    y = np.clip(y, 0, h - 1.001)
    x0 = x.astype(np.int64)
    y0 = y.astype(np.int64)
    fx = (x - x0)[..., None]
    fy = (y - y0)[..., None]
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bottom = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _resample(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear views of img (H, W, C) on separable grids: xs (T, W'), ys (T, H') float32
    pixel coordinates → (T, H', W', C). The camera has no rotation, so rows then columns."""
    h, w = img.shape[:2]
    xs = np.clip(xs, 0, w - 1.001)
    ys = np.clip(ys, 0, h - 1.001)
    x0, y0 = xs.astype(np.int64), ys.astype(np.int64)
    fx = (xs - x0.astype(xs.dtype))[:, None, :, None]
    fy = (ys - y0.astype(ys.dtype))[:, :, None, None]
    rows = img[y0] * (1 - fy) + img[y0 + 1] * fy  # (T, H', W, C)
    t = np.arange(len(xs))[:, None, None]
    r = np.arange(ys.shape[1])[None, :, None]
    return rows[t, r, x0[:, None, :]] * (1 - fx) + rows[t, r, x0[:, None, :] + 1] * fx


def _scene(
    cfg: SynthConfig,
    v: dict,
    size: int,
    rng: np.random.Generator,
    family: str | None = None,
    family_rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The video's scene canvas (size, size, 3) float32 in 0..255.

    `family` (variant renders) draws that texture instead of the video's own, with the same
    colours, period, angle and phases; any random texture draws come from `family_rng`.
    `rng` advances exactly as for the own family, so the illumination, the objects, the
    grain and everything drawn after the scene are those of the original video.
    """
    sc = v["scene"]
    Y, X = np.mgrid[0:size, 0:size].astype(np.float64)
    g = _texture(v["family"], X, Y, sc, rng)[..., None]
    if family is not None:
        g = _texture(family, X, Y, sc, family_rng)[..., None]
    img = np.array(sc["color_a"]) * (1 - g) + np.array(sc["color_b"]) * g
    # per-video illumination gradient
    gx, gy = rng.uniform(-0.2, 0.2, 2)
    img *= (1 + gx * (X / size - 0.5) + gy * (Y / size - 0.5))[..., None]
    # per-video objects: soft ellipses in palette colours
    for _ in range(int(rng.integers(cfg.blobs[0], cfg.blobs[1] + 1))):
        cx, cy = rng.uniform(0, size, 2)
        rx, ry = rng.uniform(0.06, 0.16, 2) * size
        ang = rng.uniform(0, np.pi)
        dx, dy = X - cx, Y - cy
        u = (dx * np.cos(ang) + dy * np.sin(ang)) / rx
        w = (-dx * np.sin(ang) + dy * np.cos(ang)) / ry
        inside = _sigmoid((1 - np.hypot(u, w)) * min(rx, ry) * 2)[..., None]
        hue = (rng.integers(PALETTE_HUES) + rng.uniform(-0.15, 0.15)) / PALETTE_HUES
        color = np.array(_hsv(hue, rng.uniform(0.2, 0.6), rng.uniform(0.25, 0.9)))
        img = img * (1 - rng.uniform(0.55, 0.9) * inside) + color * (
            rng.uniform(0.55, 0.9) * inside
        )
    # static grain that moves with the scene
    img += rng.normal(0, 4, img.shape)
    return img.astype(np.float32)


def _shape_distance(shape: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance-like value in local units (negative inside); shapes fit the unit disk."""
    if shape == "disk":
        return np.hypot(x, y) - 0.95
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) - 0.67
    if shape == "diamond":
        return (np.abs(x) + np.abs(y) - 0.95) / np.sqrt(2)
    if shape == "cross":
        return np.minimum(
            np.maximum(np.abs(x) - 0.9, np.abs(y) - 0.32),
            np.maximum(np.abs(x) - 0.32, np.abs(y) - 0.9),
        )
    sides, start = (3, np.pi / 2) if shape == "triangle" else (6, 0.0)
    angles = start + 2 * np.pi * np.arange(sides) / sides
    d = np.max([x * np.cos(a) + y * np.sin(a) for a in angles], axis=0)
    return d - 0.95 * np.cos(np.pi / sides)


def _pattern(actor: dict, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0..1: where color2 shows on the actor, in local coordinates (moves with the actor)."""
    kind, p, a = actor["pattern"], actor["pattern_period"], actor["pattern_angle"]
    u = x * np.cos(a) + y * np.sin(a)
    w = -x * np.sin(a) + y * np.cos(a)
    if kind == "solid":
        return np.zeros_like(x)
    if kind == "stripes":
        return _band(2 * np.pi * u / p, 4)
    if kind == "checker":
        return 0.5 + 0.5 * np.tanh(4 * np.sin(np.pi * u / p * 2) * np.sin(np.pi * w / p * 2))
    if kind == "halves":
        return _sigmoid(u * 20)
    return _band(2 * np.pi * np.hypot(x, y) / p, 4)  # rings


def actor_track(cfg: SynthConfig, v: dict) -> dict[str, np.ndarray]:
    """The actor's centre (pixels), scales and rotation per frame: arrays of length T."""
    T, S = cfg.num_frames, cfg.frame_size
    t = np.arange(T, dtype=np.float64)
    px, py, sx, sy, th = MOTIONS[v["class"]](t, T, v["motion"])
    px = np.clip(np.broadcast_to(px, t.shape), 0, 1)
    py = np.clip(np.broadcast_to(py, t.shape), 0, 1)
    reach = v["actor"]["size"] / 2 * max(float(np.max(sx)), float(np.max(sy)))
    lo, hi = reach + 1, S - 1 - reach
    if hi < lo:
        lo = hi = S / 2
    return {
        "cx": lo + px * (hi - lo),
        "cy": lo + py * (hi - lo),
        "sx": np.broadcast_to(sx, t.shape).astype(np.float64),
        "sy": np.broadcast_to(sy, t.shape).astype(np.float64),
        "th": np.broadcast_to(th, t.shape).astype(np.float64),
    }


# Test-set variants of `render` (bias_sets.py builds folders from them). None = the video.
VARIANTS = ("new_background", "background_only", "static_actor", "actor_only")


def new_background_family(cfg: SynthConfig, v: dict) -> str:
    """The scene family of video `v` in the "new_background" variant.

    Drawn from the first non-empty pool, cycling over it by video index (so each class's
    test videos spread evenly over it): (1) families this analogue never uses
    (FAMILIES[cfg.families:]); (2) families it uses that are no class's own
    (FAMILIES[num_classes:families]); (3) when every family is some class's own (10 classes,
    10 families), the families other than v's class's own and v's original one, so the new
    background then carries *another* class's bias.
    """
    pool = list(FAMILIES[cfg.families :]) or list(FAMILIES[cfg.num_classes : cfg.families])
    if not pool:
        own = FAMILIES[v["label"] - 1]
        pool = [f for f in FAMILIES[: cfg.families] if f not in (own, v["family"])]
    return pool[v["index"] % len(pool)]


def _actor_layer(cfg: SynthConfig, v: dict, static: bool = False) -> tuple:
    """The actor's coverage alpha (T, S, S, 1) and colour body (T, S, S, 3), float32.

    static=True freezes the actor at its frame-0 pose and position in every frame.
    """
    S = cfg.frame_size
    actor = v["actor"]
    tr = actor_track(cfg, v)
    if static:
        tr = {k: np.broadcast_to(a[:1], a.shape) for k, a in tr.items()}
    radius = actor["size"] / 2
    tr = {k: a.astype(np.float32)[:, None, None] for k, a in tr.items()}  # (T, 1, 1)
    pix = np.arange(S, dtype=np.float32) + 0.5
    dx = pix[None, None, :] - tr["cx"]
    dy = pix[None, :, None] - tr["cy"]
    cos, sin = np.cos(tr["th"]), np.sin(tr["th"])
    lx = (dx * cos + dy * sin) / (radius * tr["sx"])
    ly = (-dx * sin + dy * cos) / (radius * tr["sy"])
    unit = radius * np.minimum(tr["sx"], tr["sy"])  # pixels per local unit
    d = _shape_distance(actor["shape"], lx, ly) * unit  # ≈ pixels, negative inside
    alpha = np.clip(0.5 - d, 0, 1)[..., None]
    inner = np.clip(0.5 - (d + 1.0), 0, 1)[..., None]  # 1-pixel border
    g = _pattern(actor, lx, ly)[..., None]
    fill = np.float32(actor["color1"]) * (1 - g) + np.float32(actor["color2"]) * g
    mark = np.clip(0.5 - (np.hypot(lx - 0.5, ly) - 0.22) * unit, 0, 1)[..., None]
    fill = fill * (1 - mark) + np.float32(actor["marker"]) * mark
    body = actor["border"] * (1 - inner) + fill * inner
    return alpha, body


def actor_alpha(cfg: SynthConfig, v: dict, variant: str | None = None) -> np.ndarray:
    """The actor's coverage (T, S, S) float32 in [0, 1] as `render(..., variant)` draws it
    (for "background_only": where the removed actor would be). Boxes come from alpha ≥ 0.5."""
    _check_variant(variant)
    return _actor_layer(cfg, v, static=variant == "static_actor")[0][..., 0]


def _check_variant(variant: str | None) -> None:
    if variant is not None and variant not in VARIANTS:
        raise ConfigError(f"unknown SynthBias variant '{variant}'; choose from {list(VARIANTS)}")


def render(
    cfg: SynthConfig, v: dict, seed: int, analogue: str, variant: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, S, S, 3) uint8 RGB and actor boxes (T, 4) int16 for one planned video.

    `variant` (None = the video itself) re-renders it for a bias test set; every random
    draw is the original's, so the camera path, the scene and the sensor noise match it:
    - "new_background": the scene's texture family is `new_background_family(cfg, v)`;
    - "background_only": no actor (boxes: where it would be);
    - "static_actor": the actor frozen at its frame-0 pose and position, on the moving scene;
    - "actor_only": outside the actor, the mean colour of the original frame; the sensor
      noise only where the actor covers a pixel (so the rest is exactly constant).
    """
    _check_variant(variant)
    T, S = cfg.num_frames, cfg.frame_size
    rng = np.random.default_rng([seed, _analogue_key(analogue), 3, v["index"]])
    cam = v["camera"]

    # camera path: pan (linear), zoom (log-linear), shake (smoothed jitter)
    tau = np.arange(T) / max(T - 1, 1)
    zoom = np.exp(cam["log_zoom_start"] + (cam["log_zoom_end"] - cam["log_zoom_start"]) * tau)
    shake = rng.normal(0, cam["shake"], (T + 2, 2))
    shake = (shake[:-2] + shake[1:-1] + shake[2:]) / np.sqrt(3)
    half = S / 2 / zoom.min()
    size = int(
        math.ceil(
            2 * (half + 0.5 * max(abs(cam["pan_x"]), abs(cam["pan_y"])) + 4 * cam["shake"] + 2)
        )
    )
    size = max(size, int(1.25 * S) + 2)
    if variant == "new_background":
        family_rng = np.random.default_rng([seed, _analogue_key(analogue), 4, v["index"]])
        canvas = _scene(cfg, v, size, rng, new_background_family(cfg, v), family_rng)
    else:
        canvas = _scene(cfg, v, size, rng)
    cx = size / 2 + cam["pan_x"] * (tau - 0.5) + shake[:, 0]
    cy = size / 2 + cam["pan_y"] * (tau - 0.5) + shake[:, 1]
    grid = np.arange(S) + 0.5 - S / 2
    xs = (cx[:, None] + grid[None, :] / zoom[:, None] - 0.5).astype(np.float32)  # (T, S)
    ys = (cy[:, None] + grid[None, :] / zoom[:, None] - 0.5).astype(np.float32)
    frames = _resample(canvas, xs, ys)  # (T, S, S, 3)

    # actor, in frame coordinates
    alpha, body = _actor_layer(cfg, v, static=variant == "static_actor")
    noise_where = None
    if variant == "actor_only":
        mean = (frames * (1 - alpha) + body * alpha).mean(axis=(1, 2), keepdims=True)
        frames = np.broadcast_to(mean, frames.shape) * (1 - alpha) + body * alpha
        noise_where = alpha > 0
    elif variant == "background_only":
        # the composite's dtype (float64 for some shapes), so the noise rounds as there
        frames = frames.astype(np.result_type(frames, alpha, body))
    else:
        frames = frames * (1 - alpha) + body * alpha

    noise = np.float32(cfg.frame_noise) * rng.standard_normal(frames.shape, dtype=np.float32)
    frames += noise if noise_where is None else noise * noise_where
    frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)

    # boxes from the rendered mask: x0, y0 inclusive, x1, y1 exclusive
    mask = alpha[..., 0] >= 0.5
    boxes = np.zeros((T, 4), dtype=np.int16)
    for i in range(T):
        cols = np.flatnonzero(mask[i].any(axis=0))
        rows = np.flatnonzero(mask[i].any(axis=1))
        if len(cols):
            boxes[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    return frames, boxes


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def write_video(path: Path, frames: np.ndarray, fps: int, writer: str = "pyav", quality: int = 2):
    """Encode (T, H, W, 3) uint8 RGB frames as MPEG-4 Part 2 in an AVI file."""
    if writer == "pyav":
        try:
            import av
        except ImportError as err:
            raise ConfigError(
                "writer 'pyav' needs PyAV: pip install av, or use writer='opencv'"
            ) from err
        with av.open(str(path), "w", format="avi") as container:
            stream = container.add_stream("mpeg4", rate=fps)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.codec_tag = "XVID"
            stream.codec_context.thread_count = 1
            # a constant quantiser (PyAV does not pass flags=+qscale/global_quality through)
            stream.options = {"qmin": str(quality), "qmax": str(quality)}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    elif writer == "opencv":
        try:
            import cv2
        except ImportError as err:
            raise ConfigError(
                "writer 'opencv' needs OpenCV: pip install opencv-python-headless"
            ) from err
        size = (frames.shape[2], frames.shape[1])
        for fourcc in ("XVID", "mp4v"):
            out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
            if out.isOpened():
                break
        else:
            raise DataError(f"{path}: OpenCV cannot open an MPEG-4 AVI writer (no FFmpeg?)")
        for frame in frames:
            out.write(np.ascontiguousarray(frame[:, :, ::-1]))
        out.release()
    else:
        raise ConfigError(f"unknown SynthBias writer '{writer}'; choose from {list(WRITERS)}")


def _make_one(job: tuple) -> int:
    cfg, v, seed, analogue, folder, writer = job
    frames, boxes = render(cfg, v, seed, analogue)
    write_video(folder / "videos" / v["file"], frames, cfg.fps, writer, cfg.quality)
    np.save(folder / "boxes" / (v["file"][: -len(".avi")] + ".npy"), boxes)
    return v["index"]


def _write_splits(folder: Path, cfg: SynthConfig, videos: list[dict]) -> None:
    """classInd.txt, trainlist0K.txt, testlist0K.txt (K = 1, 2) in the official format."""
    split_dir = folder / "splits"
    split_dir.mkdir(parents=True, exist_ok=True)

    def write(name: str, lines: Iterable[str]) -> None:
        # CRLF, as the official ucfTrainTestlist files
        (split_dir / name).write_bytes("".join(f"{line}\r\n" for line in lines).encode())

    write("classInd.txt", (f"{i + 1} {name}" for i, name in enumerate(cfg.classes)))
    for k in (1, 2):
        key = f"split{k}"
        write(
            f"trainlist{k:02d}.txt",
            (f"{v['file']} {v['label']}" for v in videos if v[key] == "train"),
        )
        write(f"testlist{k:02d}.txt", (v["file"] for v in videos if v[key] == "test"))


def _config_json(cfg: SynthConfig) -> dict:
    return json.loads(json.dumps(asdict(cfg)))


def _existing_matches(folder: Path, size: str, seed: int, cfg: SynthConfig) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    return (
        meta.get("format_version") == FORMAT_VERSION
        and meta.get("size") == size
        and meta.get("seed") == seed
        and meta.get("config") == _config_json(cfg)
    )


def _remove_stale_temps(out: Path, analogue: str) -> None:
    """Delete temp folders of earlier generations whose process no longer runs."""
    for tmp in out.glob(f".{analogue}.tmp-*"):
        try:
            pid = int(tmp.name.split("-")[1].split("_")[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:
            pass


def generate_analogue(
    out: Path,
    analogue: str,
    cfg: SynthConfig,
    seed: int = 0,
    size: str = "custom",
    workers: int = 2,
    writer: str = "pyav",
    progress: bool = True,
) -> Path:
    """Generate one analogue folder `<out>/<analogue>` from `cfg`; skip it if it already
    holds the same size, seed and config. Written in a temp folder, then renamed."""
    check_config(cfg)
    if writer not in WRITERS:
        raise ConfigError(f"unknown SynthBias writer '{writer}'; choose from {list(WRITERS)}")
    out = Path(out)
    final = out / analogue
    if _existing_matches(final, size, seed, cfg):
        if progress:
            print(f"{analogue}: up to date ({size}, seed {seed}) in {final}")
        return final
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out, analogue)
    videos = plan_videos(cfg, seed, analogue)
    tmp = Path(tempfile.mkdtemp(dir=out, prefix=f".{analogue}.tmp-{os.getpid()}_"))
    tmp.chmod(0o755)  # mkdtemp makes it private; the dataset is not
    try:
        for name in cfg.classes:
            (tmp / "videos" / name).mkdir(parents=True)
            (tmp / "boxes" / name).mkdir(parents=True)
        jobs = [(cfg, v, seed, analogue, tmp, writer) for v in videos]
        start = time.perf_counter()
        run_jobs(_make_one, jobs, workers, progress, desc=analogue)
        _write_splits(tmp, cfg, videos)
        meta = {
            "format_version": FORMAT_VERSION,
            "analogue": analogue,
            "size": size,
            "seed": seed,
            "writer": writer,
            "config": _config_json(cfg),
            "classes": list(cfg.classes),
            "families": list(FAMILIES[: cfg.families]),
            "class_bias": {
                name: _r(b)
                for name, b in zip(cfg.classes, class_biases(cfg, seed, analogue), strict=True)
            }
            if cfg.split1_biased
            else None,
            "splits": {
                "1": "biased train / biased test" if cfg.split1_biased else "unbiased",
                "2": "unbiased probe-train / unbiased test",
            },
            "videos": videos,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        print(f"{analogue}: {len(videos)} videos in {time.perf_counter() - start:.1f} s → {final}")
    return final


def run_jobs(fn: Callable, jobs: list[tuple], workers: int, progress: bool, desc: str) -> None:
    """`fn(job)` for every job, in `workers` processes (fork where available), with a
    progress bar counting videos. `fn` must be a module-level function (picklable)."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, unit="video")
    if workers <= 1:
        for job in jobs:
            fn(job)
            bar.update()
    else:
        import multiprocessing as mp

        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with mp.get_context(method).Pool(workers) as pool:
            for _ in pool.imap_unordered(fn, jobs, chunksize=4):
                bar.update()
    bar.close()


def generate(
    out: Path,
    size: str = "default",
    seed: int = 0,
    analogues: Iterable[str] = ANALOGUES,
    workers: int = 2,
    writer: str = "pyav",
    progress: bool = True,
) -> dict[str, Path]:
    """Generate the analogues of a size under `out`: {analogue: its folder}.

    Idempotent: an analogue folder already generated with the same size, seed and config
    is kept as it is. Deterministic: the same seed gives byte-identical files (per writer
    and library versions), whatever the number of workers.
    """
    if size not in SIZES:
        raise ConfigError(f"unknown SynthBias size '{size}'; choose from {sorted(SIZES)}")
    analogues = (analogues,) if isinstance(analogues, str) else tuple(analogues)
    for name in analogues:
        if name not in SIZES[size]:
            raise ConfigError(f"unknown SynthBias analogue '{name}'; choose from {list(ANALOGUES)}")
    return {
        name: generate_analogue(
            Path(out), name, SIZES[size][name], seed, size, workers, writer, progress
        )
        for name in analogues
    }


def dataset_paths(folder: Path) -> tuple[Path, Path]:
    """(video_root, split_dir) of one generated analogue folder, for the UCF101 reader."""
    folder = Path(folder)
    if not (folder / "meta.json").is_file():
        raise DataError(
            f"{folder}: not a SynthBias analogue folder (no meta.json); generate it first"
        )
    return folder / "videos", folder / "splits"


def with_overrides(cfg: SynthConfig, **changes) -> SynthConfig:
    """`cfg` with some fields replaced; unknown fields are a ConfigError naming them."""
    unknown = sorted(set(changes) - set(asdict(cfg)))
    if unknown:
        raise ConfigError(f"unknown SynthConfig field(s) {unknown}")
    new = replace(cfg, **changes)
    check_config(new)
    return new
