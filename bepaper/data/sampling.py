"""Clip samplers: which frame indices make a clip.

A clip is T frames taken every `stride` frames, spanning (T - 1) * stride + 1 frames.

Short-video rule: when a video has fewer frames than one clip spans, the clip starts at
frame 0 and the indices wrap around (the video is looped), so every video yields a clip of
T frames. Indices are always reduced modulo the video length.
"""

from __future__ import annotations

import numpy as np


def span(num_frames: int, stride: int) -> int:
    """Frames covered by one clip."""
    return (num_frames - 1) * stride + 1


def clip_indices(start: int, num_frames: int, stride: int, video_len: int) -> np.ndarray:
    """T frame indices from `start`, looping over a short video. Shape (T,)."""
    if video_len < 1:
        raise ValueError("a video needs at least one frame")
    return (start + stride * np.arange(num_frames)) % video_len


def max_start(video_len: int, num_frames: int, stride: int) -> int:
    """The last start that keeps the clip inside the video (0 for short videos)."""
    return max(video_len - span(num_frames, stride), 0)


def random_start(video_len: int, num_frames: int, stride: int, rng: np.random.Generator) -> int:
    """A uniformly random clip start (training)."""
    return int(rng.integers(0, max_start(video_len, num_frames, stride) + 1))


def hard_negative_start(
    video_len: int, num_frames: int, stride: int, anchor: int, gap: int, rng: np.random.Generator
) -> int:
    """Another clip of the same video: a start at least `gap` frames from `anchor`.

    When the video is too short to allow that, the start is shifted by `gap` frames and the
    clip loops (the short-video rule), so it still differs from the anchor clip.
    """
    last = max_start(video_len, num_frames, stride)
    starts = np.arange(last + 1)
    far = starts[np.abs(starts - anchor) >= gap]
    if len(far):
        return int(rng.choice(far))
    return (anchor + gap) % video_len


def uniform_starts(video_len: int, num_frames: int, stride: int, num_clips: int = 10) -> np.ndarray:
    """`num_clips` starts spread uniformly over the video (test). Shape (num_clips,)."""
    return np.linspace(0, max_start(video_len, num_frames, stride), num_clips).round().astype(int)


# ---------------------------------------------------------------- sampler objects
# A method declares which clips it takes from one video with one of these. The dataset calls
# `starts(video_len, num_frames, stride, rng)` and decodes `num_clips` clips of T frames.


class ClipSampler:
    """Where the clips of one training sample start. `num_clips` clips per video."""

    num_clips: int = 1

    def starts(
        self, video_len: int, num_frames: int, stride: int, rng: np.random.Generator
    ) -> list[int]:
        raise NotImplementedError


class RandomClips(ClipSampler):
    """`n` independent uniformly random clips (1 for most methods)."""

    def __init__(self, n: int = 1) -> None:
        self.num_clips = n

    def starts(self, video_len, num_frames, stride, rng) -> list[int]:
        return [random_start(video_len, num_frames, stride, rng) for _ in range(self.num_clips)]


class ClipAndHardNegative(ClipSampler):
    """A random clip, then another clip of the same video at least `gap` frames away (the
    intra-video hard negative of Eq. 7).

    On a video too short for that, `short="gap"` shifts the start by `gap` and loops (this
    package's rule); `short="third"` shifts it by num_frames // 3, as the released code does.
    """

    num_clips = 2

    def __init__(self, gap: int = 2, short: str = "gap") -> None:
        if short not in ("gap", "third"):
            raise ValueError(f"unknown short-video rule '{short}'; choose from ['gap', 'third']")
        self.gap, self.short = gap, short

    def starts(self, video_len, num_frames, stride, rng) -> list[int]:
        a = random_start(video_len, num_frames, stride, rng)
        if self.short == "third" and max_start(video_len, num_frames, stride) < self.gap:
            return [a, (a + max(1, num_frames // 3)) % video_len]
        return [a, hard_negative_start(video_len, num_frames, stride, a, self.gap, rng)]


class OrderedClips(ClipSampler):
    """`n` clips in temporal order, `interval` frames between the end of one and the start of
    the next (VCOP: 3 clips of 16 frames, interval 8). The whole tuple starts at a random
    frame. A video too short for the tuple gets evenly spread starts instead (the clips
    overlap, and loop only when one clip is longer than the video), so the temporal order
    that the label encodes is kept."""

    def __init__(self, n: int = 3, interval: int = 8) -> None:
        self.num_clips, self.interval = n, interval

    def starts(self, video_len, num_frames, stride, rng) -> list[int]:
        step = span(num_frames, stride) + self.interval
        total = step * (self.num_clips - 1) + span(num_frames, stride)
        if total > video_len:  # too short for the gaps: clips overlap but stay in order
            last = max_start(video_len, num_frames, stride)
            return np.linspace(0, last, self.num_clips).round().astype(int).tolist()
        first = int(rng.integers(0, video_len - total + 1))
        return [first + i * step for i in range(self.num_clips)]
