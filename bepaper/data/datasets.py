"""Torch datasets over a split: decoded, resized uint8 clips.

Samples are uint8 arrays (T, S, S, 3) with S = `load_size`; augmentation happens later, on
the training device (`bepaper.augment`). A video that cannot be read is skipped: the
dataset returns None, reports it through `on_skip(relpath, reason)`, and `collate` drops it.
Readers are opened inside `__getitem__`, so each DataLoader worker opens its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from bepaper.config import DataConfig
from bepaper.data.sampling import ClipSampler, clip_indices, random_start, uniform_starts
from bepaper.data.splits import DATASETS, Split, VideoItem
from bepaper.data.synthbias import dataset_paths
from bepaper.errors import ConfigError, DataError, VideoError
from bepaper.video import BACKENDS, open_video

SkipFn = Callable[[str, str], None]


class FileOpener:
    """Opens a listed video (path relative to the video root) with a decoding backend.
    A class, not a closure, so DataLoader workers can pickle it under any start method."""

    def __init__(self, video_root: Path, backend: str) -> None:
        self.video_root, self.backend = Path(video_root), backend

    def __call__(self, relpath: str):
        return open_video(self.video_root / relpath, self.backend)


def subset_per_class(items: list[VideoItem], n: int, seed: int) -> list[VideoItem]:
    """`n` videos per class drawn without replacement with `seed` (all of a class that has
    fewer), in the list's order. n = 0 keeps every video. The low-label regime of the study."""
    if n <= 0:
        return list(items)
    rng = np.random.default_rng([seed, 7])
    by_class: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_class.setdefault(item.label, []).append(i)
    keep = set()
    for idx in by_class.values():
        keep.update(rng.permutation(idx)[:n].tolist())
    return [item for i, item in enumerate(items) if i in keep]


def split_location(cfg: DataConfig, split: int | None = None) -> tuple[Path, Path]:
    """(video_root, split_dir) for a data config. For SynthBias, `root` is an analogue
    folder and the layout comes from `synthbias.dataset_paths`; for real datasets `root` is
    the video root, or the folder holding the official archive's video folder (`UCF-101/`,
    `hmdb51_org/`, `rgb/`: `bepaper.data.locate.find_video_root`), and the split files are
    searched where the official archives put them (`bepaper.data.locate.find_split_dir`).
    `data.split_dir`, when given, is used as is."""
    root = Path(cfg.root).expanduser()
    if not root.is_dir():
        raise DataError(f"data root not found: {root} (data.root)")
    if cfg.dataset == "synthbias":
        video_root, split_dir = dataset_paths(root)
    else:
        from bepaper.data.locate import find_split_dir, find_video_root

        video_root = find_video_root(cfg.dataset, root)
        if cfg.split_dir:
            split_dir = Path(cfg.split_dir)
        else:
            number = cfg.split if split is None else split
            split_dir = find_split_dir(cfg.dataset, video_root, number)[0]
    if cfg.split_dir:
        split_dir = Path(cfg.split_dir).expanduser()
    if not split_dir.exists():
        raise DataError(f"split files not found: {split_dir} (data.split_dir)")
    return video_root, split_dir


def load_split(cfg: DataConfig, split: int | None = None) -> tuple[Path, Split]:
    """Parse the split files named by a data config. Returns (video_root, split).

    For real datasets the split is matched to the videos on disk
    (`bepaper.data.locate.fit_to_disk`): Kinetics' train/ and val/ folders, frame folders,
    a subset of the classes (then `split.note` says how many were found)."""
    if cfg.backend not in BACKENDS:  # checked here, before a run writes anything
        raise ConfigError(f"unknown video backend '{cfg.backend}'; choose from {list(BACKENDS)}")
    video_root, split_dir = split_location(cfg, split)
    name = "ucf101" if cfg.dataset == "synthbias" else cfg.dataset
    if name not in DATASETS:
        choices = sorted([*DATASETS, "synthbias"])
        raise ConfigError(f"unknown dataset '{cfg.dataset}'; choose from {choices}")
    parsed = DATASETS[name](split_dir, cfg.split if split is None else split)
    if cfg.dataset != "synthbias":
        from bepaper.data.locate import fit_to_disk

        parsed = fit_to_disk(cfg.dataset, video_root, parsed)
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
    """Shared decoding for the datasets below. `opener(relpath)` returns a reader (default:
    the file, decoded with `cfg.backend`; `bepaper.data.memory.VideoBank.open` serves
    videos decoded once into memory)."""

    def __init__(
        self,
        video_root: Path,
        items: list[VideoItem],
        cfg: DataConfig,
        on_skip: SkipFn | None = None,
        seed: int = 0,
        opener: Callable[[str], object] | None = None,
    ) -> None:
        self.video_root = Path(video_root)
        self.items = list(items)
        self.cfg = cfg
        self.on_skip = on_skip
        self.seed = seed
        self.epoch = 0
        self.opener = opener or FileOpener(self.video_root, cfg.backend)

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Random clips depend on (seed, epoch, index), so resumed runs draw the same clips."""
        self.epoch = epoch

    def _at(self, index: int | tuple[int, int]) -> tuple[int, np.random.Generator]:
        """The index and its random generator. The training loader sends (epoch, index)
        pairs (`bepaper.train.EpochOrder`), since persistent worker processes never see
        `set_epoch`; a plain index uses the epoch `set_epoch` gave."""
        if isinstance(index, tuple):
            epoch, index = int(index[0]), int(index[1])
        else:
            epoch, index = self.epoch, int(index)
        return index, np.random.default_rng((self.seed, epoch, index))

    def _read(self, item: VideoItem, pick) -> list[np.ndarray]:
        """Open the video, let `pick(num_frames)` choose clip starts, decode each clip."""
        reader = self.opener(item.path)
        try:
            n = reader.num_frames
            if n < 1:
                raise VideoError(reader.path, "no frames")
            starts = pick(n)
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
    """Self-supervised samples: the clips a method's `sampler` asks for, decoded from one
    opened video. `clips` is uint8 (N, T, S, S, 3); views are cut from them on the device."""

    def __init__(self, *args, sampler: ClipSampler, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sampler = sampler

    def __getitem__(self, index: int | tuple[int, int]) -> dict | None:
        index, rng = self._at(index)
        item, c = self.items[index], self.cfg
        try:
            clips = self._read(item, lambda n: self.sampler.starts(n, c.num_frames, c.stride, rng))
        except (VideoError, OSError, ValueError, RuntimeError) as err:
            self._skip(item, err)
            return None
        return {"clips": np.stack(clips), "index": index}


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

    def __getitem__(self, index: int | tuple[int, int]) -> dict | None:
        index, rng = self._at(index)
        item, c = self.items[index], self.cfg

        def pick(n: int) -> list[int]:
            if self.train:
                return [random_start(n, c.num_frames, c.stride, rng)]
            return uniform_starts(n, c.num_frames, c.stride, self.num_clips).tolist()

        try:
            clips = np.stack(self._read(item, pick))  # n x T x S x S x 3
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
    for key in ("clip", "clips"):
        if key in batch and not torch.is_tensor(batch[key]):
            batch[key] = torch.as_tensor(batch[key])
    return batch


# A DataLoader worker that gives no batch in this long is stuck (no clip takes minutes to
# decode): `unstuck` turns the wait into an error instead of a run that hangs for ever.
WORKER_TIMEOUT_S = 600


def loader_timeout(workers: int) -> float:
    """The `timeout` of a DataLoader with `workers` worker processes (0: none, in-process)."""
    return WORKER_TIMEOUT_S if workers > 0 else 0


def unstuck(batches: Iterator, workers: int) -> Iterator:
    """`batches` (a DataLoader's iterator, already made: making one draws from the global
    RNG) whose timeout, when `loader_timeout` set one, is a DataError that names the cause."""
    try:
        yield from batches
    except RuntimeError as err:
        if workers == 0 or "timed out" not in str(err):
            raise
        raise DataError(
            f"no batch from the DataLoader's workers (data.workers={workers}) in "
            f"{WORKER_TIMEOUT_S} s: "
            "a worker is stuck (a video that never finishes decoding, or a lock a forked worker "
            "inherited); rerun to resume from the last checkpoint, or set data.workers=0"
        ) from err


_FINGERPRINTS: dict[tuple[str, str, str], str] = {}


def data_fingerprint(cfg: DataConfig) -> str:
    """A hash of what defines a dataset's content and labels, independent of where it lies:
    every file of its split folder, plus, for SynthBias, its meta.json (generator version,
    preset, seed, writer, config: the videos are a function of these), for a real dataset
    of which only some classes are on disk, those classes, and for a real dataset written by
    `bepaper.data.actor_crop` (`<root>/videos`, `<root>/splits`), its meta.json: the actor
    crops keep the source's split files byte for byte, so without it Actor-HMDB51 would be
    HMDB51. Two copies of the same data in different places get the same fingerprint, so
    their runs are interchangeable."""
    import hashlib

    video_root, split_dir = split_location(cfg)
    key = (cfg.dataset, str(video_root.resolve()), str(split_dir.resolve()))
    if key not in _FINGERPRINTS:
        h = hashlib.sha256(cfg.dataset.encode())
        if cfg.dataset != "synthbias":
            parsed = load_split(cfg)[1]
            if parsed.note:  # a subset of the classes is other data than the whole set
                h.update("\n".join(parsed.classes).encode())
        files = sorted(p for p in split_dir.rglob("*") if p.is_file())
        meta = Path(cfg.root).expanduser() / "meta.json"
        if cfg.dataset == "synthbias" or (video_root.name == "videos" and meta.is_file()):
            files.append(meta)
        for p in files:
            name = "meta.json" if p.parent != split_dir and p.name == "meta.json" else None
            h.update((name or str(p.relative_to(split_dir))).encode())
            h.update(p.read_bytes())
        _FINGERPRINTS[key] = h.hexdigest()[:16]
    return _FINGERPRINTS[key]
