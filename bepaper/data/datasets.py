"""Torch datasets over a split: decoded, resized uint8 clips.

Samples are uint8 arrays (T, S, S, 3) with S = `load_size`; augmentation happens later, on
the training device (`bepaper.augment`). A video that cannot be read is skipped: the
dataset returns None, reports it through `on_skip(relpath, reason)`, and `collate` drops it.
Readers are opened inside `__getitem__`, so each DataLoader worker opens its own.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from bepaper.config import DataConfig
from bepaper.data.sampling import clip_indices, hard_negative_start, random_start, uniform_starts
from bepaper.data.splits import DATASETS, Split, VideoItem
from bepaper.data.synthbias import dataset_paths
from bepaper.errors import ConfigError, DataError, VideoError
from bepaper.video import BACKENDS, open_video

SkipFn = Callable[[str, str], None]


def split_location(cfg: DataConfig) -> tuple[Path, Path]:
    """(video_root, split_dir) for a data config. For SynthBias, `root` is an analogue
    folder and the layout comes from `synthbias.dataset_paths`; for real datasets `root` is
    the video root. `data.split_dir`, when given, overrides the split folder."""
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DataError(f"data root not found: {root} (data.root)")
    if cfg.dataset == "synthbias":
        video_root, split_dir = dataset_paths(root)
    else:
        video_root, split_dir = root, root / "splits"
    if cfg.split_dir:
        split_dir = Path(cfg.split_dir).expanduser()
    if not split_dir.exists():
        raise DataError(f"split files not found: {split_dir} (data.split_dir)")
    return video_root, split_dir


def load_split(cfg: DataConfig, split: int | None = None) -> tuple[Path, Split]:
    """Parse the split files named by a data config. Returns (video_root, split)."""
    if cfg.backend not in BACKENDS:  # checked here, before a run writes anything
        raise ConfigError(f"unknown video backend '{cfg.backend}'; choose from {list(BACKENDS)}")
    video_root, split_dir = split_location(cfg)
    name = "ucf101" if cfg.dataset == "synthbias" else cfg.dataset
    if name not in DATASETS:
        choices = sorted([*DATASETS, "synthbias"])
        raise ConfigError(f"unknown dataset '{cfg.dataset}'; choose from {choices}")
    parsed = DATASETS[name](split_dir, cfg.split if split is None else split)
    return video_root, parsed


def _square(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize the short side to `size` and centre-crop a size x size square. (T, H, W, 3)."""
    t, h, w, _ = frames.shape
    if (h, w) != (size, size):
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        frames = np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA) for f in frames])
        y0, x0 = (nh - size) // 2, (nw - size) // 2
        frames = frames[:, y0 : y0 + size, x0 : x0 + size]
    return np.ascontiguousarray(frames)


class _ClipSource(Dataset):
    """Shared decoding for the datasets below."""

    def __init__(
        self,
        video_root: Path,
        items: list[VideoItem],
        cfg: DataConfig,
        on_skip: SkipFn | None = None,
        seed: int = 0,
    ) -> None:
        self.video_root = Path(video_root)
        self.items = list(items)
        self.cfg = cfg
        self.on_skip = on_skip
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Random clips depend on (seed, epoch, index), so resumed runs draw the same clips."""
        self.epoch = epoch

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, self.epoch, index))

    def _read(self, item: VideoItem, starts: list[int] | None, pick) -> list[np.ndarray]:
        """Open the video, let `pick(num_frames)` choose clip starts, decode each clip."""
        reader = open_video(self.video_root / item.path, self.cfg.backend)
        try:
            n = reader.num_frames
            if n < 1:
                raise VideoError(reader.path, "no frames")
            starts = pick(n) if starts is None else starts
            T, s = self.cfg.num_frames, self.cfg.stride
            idx = np.concatenate([clip_indices(st, T, s, n) for st in starts])
            frames = _square(reader.get(idx.tolist()), self.cfg.load_size)
        finally:
            reader.close()
        S = self.cfg.load_size
        if frames.shape != (len(idx), S, S, 3) or frames.dtype != np.uint8:
            # e.g. 4 channels from a decoder bug: skip here rather than fail the whole batch
            raise VideoError(
                reader.path,
                f"decoded frames are {frames.dtype} {frames.shape[1:]}, not uint8 ({S}, {S}, 3)",
            )
        return [frames[i * T : (i + 1) * T] for i in range(len(starts))]

    def _skip(self, item: VideoItem, err: Exception) -> None:
        if self.on_skip is not None:
            reason = err.reason if isinstance(err, VideoError) else f"{type(err).__name__}: {err}"
            self.on_skip(item.path, reason)


class PretrainClips(_ClipSource):
    """Self-supervised samples: a clip (both views x^o and x^v are cut from it on the
    device) and a hard-negative clip of the same video whose start is at least `hard_gap`
    frames away."""

    def __init__(self, *args, hard_gap: int = 2, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hard_gap = hard_gap

    def __getitem__(self, index: int) -> dict | None:
        item, rng, c = self.items[index], self._rng(index), self.cfg

        def pick(n: int) -> list[int]:
            a = random_start(n, c.num_frames, c.stride, rng)
            return [a, hard_negative_start(n, c.num_frames, c.stride, a, self.hard_gap, rng)]

        try:
            clip, hard = self._read(item, None, pick)
        except (VideoError, OSError, ValueError, RuntimeError) as err:
            self._skip(item, err)
            return None
        return {"clip": clip, "hard": hard, "index": index}


class LabeledClips(_ClipSource):
    """Classification samples: one random clip (train) or `num_clips` uniform clips (test).

    With `static=True` each clip is one frame repeated T times (the static videos of
    Figure 4): a random frame for training, the clip's middle frame for testing.
    """

    def __init__(
        self, *args, train: bool = True, num_clips: int = 10, static: bool = False, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.train, self.num_clips, self.static = train, num_clips, static

    def __getitem__(self, index: int) -> dict | None:
        item, rng, c = self.items[index], self._rng(index), self.cfg

        def pick(n: int) -> list[int]:
            if self.train:
                return [random_start(n, c.num_frames, c.stride, rng)]
            return uniform_starts(n, c.num_frames, c.stride, self.num_clips).tolist()

        try:
            clips = np.stack(self._read(item, None, pick))  # n x T x S x S x 3
        except (VideoError, OSError, ValueError, RuntimeError) as err:
            self._skip(item, err)
            return None
        if self.static:
            t = clips.shape[1]
            k = rng.integers(t, size=len(clips)) if self.train else np.full(len(clips), t // 2)
            clips = np.repeat(clips[np.arange(len(clips)), k][:, None], t, axis=1)
        clip = clips[0] if self.train else clips
        return {"clip": clip, "label": item.label, "index": index}


def collate(samples: list[dict | None]) -> dict | None:
    """Default collation without the skipped (None) samples; None when all were skipped."""
    kept = [s for s in samples if s is not None]
    if not kept:
        return None
    batch = default_collate(kept)
    for key in ("clip", "hard"):
        if key in batch and not torch.is_tensor(batch[key]):
            batch[key] = torch.as_tensor(batch[key])
    return batch
