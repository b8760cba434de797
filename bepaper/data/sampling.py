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
