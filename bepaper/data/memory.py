"""An in-memory video bank: a small dataset decoded once into uint8 frames.

Every video of a list is decoded with a `bepaper.video` backend and resized exactly as the
datasets do (`datasets._square`: short side to `load_size`, centre square crop), then
packed into one uint8 tensor. Clips are then a gather, on the CPU or the GPU, instead of a
decode per sample and epoch.

- `VideoBank.clips(ids, starts, T, stride)`: B x N x T x S x S x 3 uint8, one vectorised
  gather, with the short-video rule of `sampling.clip_indices` (indices modulo length).
- `VideoBank.open(path)`: a `VideoReader` view of one video, so `LabeledClips` and
  `PretrainClips` can read from the bank unchanged (pass `opener=bank.open`).

Frames are packed, not padded: video v holds rows offsets[v] .. offsets[v] + lengths[v] of
`frames` (F x S x S x 3), so videos of very different lengths waste no memory.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bepaper.data.datasets import _square
from bepaper.data.splits import VideoItem
from bepaper.errors import ConfigError, VideoError
from bepaper.runs import atomic_path
from bepaper.video import (
    BACKENDS,
    NativeLog,
    _check_indices,
    capture_native_stderr,
    open_video,
)

SkipFn = Callable[[str, str], None]
FORMAT_VERSION = 1  # of the on-disk cache; bump when the same key would hold other frames
DEFAULT_MAX_BYTES = 4 << 30  # refuse to build a bank over 4 GiB unless told otherwise
GPU_FRACTION = 0.25  # `place` puts the bank on the GPU if it takes at most this share of free
CHUNK_FRAMES = 256  # frames decoded at once per video (bounds the memory of long videos)


def _size(n: float) -> str:
    """Bytes for people: MiB under 1 GiB, else GiB."""
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


# ---------------------------------------------------------------------------------------
# Decoding jobs: run in this process, in threads or in worker processes.
# ---------------------------------------------------------------------------------------


def _count(job: tuple[Path, str, str], capture: bool = True) -> tuple[str, int, float, str]:
    """(relpath, frame count, fps, why it is unusable or "") of one video."""
    root, relpath, backend = job
    path = root / relpath
    error = None
    with _captured(capture) as log:
        try:
            reader = open_video(path, backend)
            try:
                n, fps = reader.num_frames, reader.fps
            finally:
                reader.close()
        except (VideoError, OSError, ValueError, RuntimeError) as err:
            error = err
    if error is not None:  # the log is complete only after the block
        return relpath, 0, 0.0, _why(error, log.summary(path))
    return relpath, n, fps, ""


def _decode(
    job: tuple[Path, str, str, int, int], capture: bool = True
) -> tuple[str, np.ndarray | None, str]:
    """(relpath, its n frames as n x S x S x 3 uint8 or None, why it failed or "")."""
    root, relpath, backend, n, size = job
    path = root / relpath
    error = None
    with _captured(capture) as log:
        try:
            reader = open_video(path, backend)
            try:
                if reader.num_frames != n:
                    raise VideoError(path, f"{reader.num_frames} frames now, {n} when counted")
                chunks = [
                    _square(reader.get(range(a, min(n, a + CHUNK_FRAMES))), size)
                    for a in range(0, n, CHUNK_FRAMES)
                ]
            finally:
                reader.close()
            frames = np.concatenate(chunks)
            if frames.shape != (n, size, size, 3) or frames.dtype != np.uint8:
                raise VideoError(
                    path,
                    f"decoded frames are {frames.dtype} {frames.shape[1:]}, not uint8 "
                    f"({size}, {size}, 3)",
                )
        except (VideoError, OSError, ValueError, RuntimeError) as err:
            error = err
    if error is not None:
        return relpath, None, _why(error, log.summary(path))
    return relpath, frames, ""


def _why(err: Exception, said: str) -> str:
    reason = err.reason if isinstance(err, VideoError) else f"{type(err).__name__}: {err}"
    return f"{reason}; decoder said: {said}" if said else reason


@contextmanager
def _captured(capture: bool) -> Iterator[NativeLog]:
    if capture:
        with capture_native_stderr() as log:
            yield log
    else:
        yield NativeLog()


def _map(fn: Callable, jobs: list, workers: int, parallel: str, desc: str, progress: bool):
    """fn(job) for every job, in any order, under a progress bar.

    The decoders' messages are captured per job in this process and in worker processes.
    fd 2 is shared by threads, so with threads they are captured for the whole stage
    instead (and dropped), and the bar is drawn on a copy of the real stderr.
    """
    threaded = workers > 1 and parallel == "thread"
    real = os.fdopen(os.dup(2), "w") if threaded and progress else None
    bar = tqdm(total=len(jobs), desc=desc, unit="video", disable=not progress, file=real)
    try:
        with _captured(threaded):
            if workers <= 1:
                for job in jobs:
                    yield fn(job)
                    bar.update()
            elif threaded:
                with ThreadPoolExecutor(workers) as pool:
                    for result in pool.map(partial(fn, capture=False), jobs):
                        yield result
                        bar.update()
            else:
                method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
                with mp.get_context(method).Pool(workers) as pool:
                    for result in pool.imap_unordered(fn, jobs, chunksize=4):
                        yield result
                        bar.update()
    finally:
        bar.close()
        if real is not None:
            real.close()


# ---------------------------------------------------------------------------------------
# The bank
# ---------------------------------------------------------------------------------------


class VideoBank:
    """Decoded, resized videos in one uint8 tensor.

    frames:  F x S x S x 3 uint8, every kept video's frames one after another
    offsets: V int64, first row of video v in `frames`
    lengths: V int64, frames of video v (the `num_frames` its reader reported)
    paths:   V relative paths (row v = paths[v]); `skipped`: (relpath, reason) not in it
    """

    def __init__(
        self,
        frames: torch.Tensor,
        offsets: torch.Tensor,
        lengths: torch.Tensor,
        paths: Sequence[str],
        fps: Sequence[float],
        load_size: int,
        backend: str,
        video_root: str | Path,
        skipped: Sequence[tuple[str, str]] = (),
        key: str = "",
    ) -> None:
        self.frames, self.offsets, self.lengths = frames, offsets, lengths
        self.paths, self.fps = list(paths), list(fps)
        self.load_size, self.backend = load_size, backend
        self.video_root = Path(video_root)
        self.skipped = list(skipped)
        self.key = key
        self.row = {path: v for v, path in enumerate(self.paths)}
        self._why_skipped = dict(self.skipped)
        self._host: np.ndarray | None = None

    def __getstate__(self) -> dict:
        """Pickled without the host copy of a GPU bank (spawned DataLoader workers get CPU
        frames through torch's shared memory)."""
        return {**self.__dict__, "_host": None}

    # ------------------------------------------------------------------ building

    @staticmethod
    def cache_key(
        video_root: str | Path, items: Sequence[VideoItem], load_size: int, backend: str
    ) -> str:
        """A hash of what the bank's content depends on: the listed paths with each file's
        size and modification time, the frame size and the backend."""
        root = Path(video_root)
        files = []
        for relpath in sorted({item.path for item in items}):
            try:
                st = (root / relpath).stat()
                files.append([relpath, st.st_size, st.st_mtime_ns])
            except OSError:
                files.append([relpath, None, None])
        blob = json.dumps([FORMAT_VERSION, load_size, backend, files]).encode()
        return hashlib.sha256(blob).hexdigest()

    @classmethod
    def build(
        cls,
        video_root: str | Path,
        items: Sequence[VideoItem],
        load_size: int,
        backend: str = "decord",
        workers: int = 0,
        on_skip: SkipFn | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        progress: bool = True,
        parallel: str = "thread",
        cache: str | Path | None = None,
    ) -> VideoBank:
        """Decode every video of `items` (each path once) under `video_root`.

        Frame counts are read first (opening each file), and the build is refused with a
        ConfigError when the frames would take more than `max_bytes`. Unreadable videos are
        skipped, reported through `on_skip(relpath, reason)` and kept in `skipped`.
        `workers` > 1 decodes in that many threads (`parallel="thread"`, faster on the
        2-core machine: see bench/loader.py) or processes ("process"). The decoders'
        messages end a skipped video's reason, except with threads. With `cache`, a bank
        saved there for the same key is loaded instead, and a newly built one is saved.
        """
        if backend not in BACKENDS:
            raise ConfigError(f"unknown video backend '{backend}'; choose from {list(BACKENDS)}")
        if parallel not in ("process", "thread"):
            raise ConfigError(f"unknown parallel mode '{parallel}'; choose from process, thread")
        root = Path(video_root)
        key = cls.cache_key(root, items, load_size, backend)
        if cache is not None:
            bank = cls.load(cache, key)
            if bank is not None:
                for relpath, reason in bank.skipped if on_skip else ():
                    on_skip(relpath, reason)
                return bank
        relpaths = list(dict.fromkeys(item.path for item in items))
        skipped: dict[str, str] = {}

        jobs = [(root, p, backend) for p in relpaths]
        counted = {
            p: (n, fps, why)
            for p, n, fps, why in _map(_count, jobs, workers, parallel, "counting frames", progress)
        }
        for p in relpaths:
            if counted[p][2]:
                skipped[p] = counted[p][2]
        keep = [p for p in relpaths if p not in skipped]
        total = sum(counted[p][0] for p in keep)
        frame_bytes = load_size * load_size * 3
        if total * frame_bytes > max_bytes:
            raise ConfigError(
                f"the video bank would take {_size(total * frame_bytes)} ({len(keep)} videos, "
                f"{total} frames of {load_size}x{load_size}), over the limit of "
                f"{_size(max_bytes)}; raise the limit or read the videos from disk"
            )

        lengths = np.array([counted[p][0] for p in keep], dtype=np.int64)
        offsets = (np.cumsum(lengths) - lengths).astype(np.int64)
        start = dict(zip(keep, offsets.tolist(), strict=True))
        frames = np.empty((total, load_size, load_size, 3), np.uint8)
        jobs = [(root, p, backend, counted[p][0], load_size) for p in keep]
        for p, clip, why in _map(_decode, jobs, workers, parallel, "decoding videos", progress):
            if clip is None:
                skipped[p] = why
            else:
                frames[start[p] : start[p] + len(clip)] = clip

        kept = [v for v, p in enumerate(keep) if p not in skipped]
        if len(kept) < len(keep):  # drop the rows of videos that failed to decode
            rows = np.concatenate(
                [np.arange(offsets[v], offsets[v] + lengths[v]) for v in kept]
                or [np.zeros(0, np.int64)]
            )
            frames, lengths = frames[rows], lengths[kept]
            offsets = (np.cumsum(lengths) - lengths).astype(np.int64)
        bank = cls(
            torch.from_numpy(frames),
            torch.from_numpy(offsets),
            torch.from_numpy(lengths),
            [keep[v] for v in kept],
            [counted[keep[v]][1] for v in kept],
            load_size,
            backend,
            root,
            [(p, skipped[p]) for p in relpaths if p in skipped],
            key,
        )
        for relpath, reason in bank.skipped if on_skip else ():
            on_skip(relpath, reason)
        if cache is not None:
            bank.save(cache)
        return bank

    # ------------------------------------------------------------------ saving

    def save(self, path: str | Path) -> None:
        """Write the bank to one file (torch format, uint8 frames), atomically."""
        state = {
            "version": FORMAT_VERSION,
            "key": self.key,
            "frames": self.frames.cpu(),
            "offsets": self.offsets.cpu(),
            "lengths": self.lengths.cpu(),
            "paths": self.paths,
            "fps": self.fps,
            "load_size": self.load_size,
            "backend": self.backend,
            "video_root": str(self.video_root),
            "skipped": [list(s) for s in self.skipped],
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    @classmethod
    def load(cls, path: str | Path, key: str) -> VideoBank | None:
        """The bank saved at `path` if it was built for `key` (see `cache_key`), else None
        (no file, an unreadable file, or a stale one: other files, sizes or backend)."""
        path = Path(path)
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 (a damaged cache is rebuilt, not fatal)
            return None
        if not isinstance(state, dict) or state.get("version") != FORMAT_VERSION:
            return None
        if state.get("key") != key:
            return None
        return cls(
            state["frames"],
            state["offsets"],
            state["lengths"],
            state["paths"],
            state["fps"],
            state["load_size"],
            state["backend"],
            state["video_root"],
            [tuple(s) for s in state["skipped"]],
            key,
        )

    # ------------------------------------------------------------------ placement

    @property
    def nbytes(self) -> int:
        return self.frames.numel() * self.frames.element_size()

    @property
    def device(self) -> torch.device:
        return self.frames.device

    def __len__(self) -> int:
        return len(self.paths)

    def _with(self, frames, offsets, lengths) -> VideoBank:
        return VideoBank(
            frames,
            offsets,
            lengths,
            self.paths,
            self.fps,
            self.load_size,
            self.backend,
            self.video_root,
            self.skipped,
            self.key,
        )

    def to(self, device: str | torch.device) -> VideoBank:
        """The bank on `device` (itself if already there)."""
        device = torch.device(device)
        if self.frames.device == device:
            return self
        return self._with(self.frames.to(device), self.offsets.to(device), self.lengths.to(device))

    def pin_memory(self) -> VideoBank:
        """The bank in pinned host memory (faster, asynchronous copies to the GPU). Without
        CUDA there is nothing to pin for: returns itself."""
        if not torch.cuda.is_available() or self.frames.is_pinned():
            return self
        cpu = self.to("cpu")
        return self._with(cpu.frames.pin_memory(), cpu.offsets, cpu.lengths)

    def place(self, device: str | torch.device, fraction: float = GPU_FRACTION) -> VideoBank:
        """Where a training run should keep the bank: on a CUDA `device` when it takes at
        most `fraction` of the device's free memory (the rest is left to training), else in
        pinned host memory; on a CPU device, in host memory."""
        device = torch.device(device)
        if device.type != "cuda":
            return self.to("cpu")
        free, _ = torch.cuda.mem_get_info(device)
        if self.nbytes <= fraction * free:
            return self.to(device)
        return self.pin_memory()

    # ------------------------------------------------------------------ reading

    def host_frames(self) -> np.ndarray:
        """The frames as a numpy array in host memory. For a bank on the CPU, a fresh view
        on each call: never keep it, since torch may move the storage (to shared memory
        when a spawned DataLoader worker receives the bank) and free the old one. A bank on
        the GPU is copied to the host once and the copy kept."""
        if self.frames.device.type == "cpu":
            return self.frames.numpy()
        if self._host is None:
            self._host = self.frames.cpu().numpy()
        return self._host

    def ids(self, paths: Sequence[str]) -> torch.Tensor:
        """Rows of relative paths (V,) int64 on the bank's device; -1 where a path is not in
        the bank (skipped or never listed)."""
        rows = [self.row.get(p, -1) for p in paths]
        return torch.tensor(rows, dtype=torch.int64, device=self.device)

    def clips(
        self, video_ids: torch.Tensor, starts: torch.Tensor, num_frames: int, stride: int
    ) -> torch.Tensor:
        """Clips as one gather: B x N x T x S x S x 3 uint8 on the bank's device (in pinned
        memory when the bank is pinned).

        video_ids: B rows; starts: B x N first frames. Frame t of clip (b, n) is
        (starts[b, n] + stride * t) mod lengths[b], as `sampling.clip_indices`.
        """
        dev = self.device
        video_ids = torch.as_tensor(video_ids, dtype=torch.int64, device=dev)
        starts = torch.as_tensor(starts, dtype=torch.int64, device=dev)
        if video_ids.dim() != 1 or starts.dim() != 2 or len(starts) != len(video_ids):
            raise ValueError(
                f"expected video_ids (B,) and starts (B, N); got {tuple(video_ids.shape)} "
                f"and {tuple(starts.shape)}"
            )
        if len(video_ids) and (video_ids.min() < 0 or video_ids.max() >= len(self)):
            raise ValueError(f"video ids must be in [0, {len(self)}) (-1 = not in the bank)")
        steps = stride * torch.arange(num_frames, device=dev)  # T
        length = self.lengths[video_ids][:, None, None]  # B x 1 x 1
        index = (starts[:, :, None] + steps) % length  # B x N x T
        rows = self.offsets[video_ids][:, None, None] + index  # B x N x T, rows of `frames`
        if dev.type != "cpu":
            return self.frames[rows]
        # numpy copies whole rows: ~20x faster than torch's indexing of uint8 rows on a CPU
        host, rows = self.host_frames(), rows.numpy()
        if not self.frames.is_pinned():
            return torch.from_numpy(host[rows])
        out = torch.empty((*rows.shape, *host.shape[1:]), dtype=torch.uint8, pin_memory=True)
        np.take(host, rows, axis=0, out=out.numpy())  # pinned, for non_blocking copies
        return out

    def random_starts(
        self,
        video_ids: torch.Tensor,
        num_frames: int,
        stride: int,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One uniformly random clip start per video (B,), on the bank's device: the
        distribution of `sampling.random_start` (0 for videos shorter than a clip)."""
        video_ids = torch.as_tensor(video_ids, dtype=torch.int64, device=self.device)
        span = (num_frames - 1) * stride + 1
        last = (self.lengths[video_ids] - span).clamp(min=0)  # B
        u = torch.rand(len(video_ids), generator=generator, device=self.device)
        return (u * (last + 1)).long().clamp(max=last)

    def open(self, path: str | Path, backend: str | None = None) -> BankReader:
        """A reader of one video from memory, like `bepaper.video.open_video(path)`: `path`
        may be relative to the bank's video root or under it; `backend` is ignored (the
        frames were decoded with `self.backend`). A skipped or unknown video raises the
        VideoError that opening it from disk would have."""
        if isinstance(path, str) and path in self.row:  # the datasets' call: a relpath
            return BankReader(self, self.row[path], path)
        p = Path(path)
        relpath = p.as_posix()
        for root in (self.video_root, self.video_root.resolve()):
            try:
                relpath = p.relative_to(root).as_posix()
                break
            except ValueError:
                continue
        if relpath in self.row:
            return BankReader(self, self.row[relpath], str(path))
        if relpath in self._why_skipped:
            raise VideoError(path, self._why_skipped[relpath])
        raise VideoError(path, "not in the in-memory video bank (built from other items?)")


class BankReader:
    """A `bepaper.video.VideoReader` over one video of a `VideoBank`: frames are already
    resized to load_size x load_size, so `get` returns n x S x S x 3 uint8."""

    def __init__(self, bank: VideoBank, row: int, path: str) -> None:
        self.path = path
        self.num_frames = int(bank.lengths[row])
        self.fps = float(bank.fps[row])
        self._bank, self._first = bank, int(bank.offsets[row])

    def get(self, indices: Sequence[int]) -> np.ndarray:
        wanted = _check_indices(self.path, indices, self.num_frames)
        rows = self._first + np.asarray(wanted)
        return self._bank.host_frames()[rows]  # numpy: much faster than torch for small gathers

    def close(self) -> None:
        self._bank = None


def _concat(a: VideoBank, b: VideoBank) -> VideoBank:
    """The videos of `a` then those of `b` (same frame size and backend) in one bank."""
    lengths = torch.cat([a.lengths, b.lengths])
    offsets = torch.cumsum(lengths, 0) - lengths
    return VideoBank(
        torch.cat([a.frames, b.frames]),
        offsets,
        lengths,
        a.paths + b.paths,
        a.fps + b.fps,
        a.load_size,
        a.backend,
        a.video_root,
        a.skipped + b.skipped,
    )


# (video root, load_size, backend) -> the bank of this process: runs in one process (the
# study's pretraining, fine-tuning and tests) decode each video once.
_SHARED: dict[tuple[str, int, str], VideoBank] = {}


class SharedBank:
    """A handle on this process's bank for one video root, frame size and backend; it
    grows to hold the videos each dataset asks for."""

    def __init__(
        self, video_root: Path, data, on_skip: SkipFn | None, max_bytes: int, progress: bool
    ) -> None:
        self.video_root, self.data = Path(video_root), data
        self.on_skip, self.max_bytes, self.progress = on_skip, max_bytes, progress
        self.key = (str(self.video_root.resolve()), data.load_size, data.backend)

    def bank(self, items: Sequence[VideoItem]) -> VideoBank:
        """The shared bank, after decoding those of `items` it does not hold yet (skipped
        ones are not retried). The limit `max_bytes` applies to the whole bank."""
        bank = _SHARED.get(self.key)
        known = set(bank.row) | set(bank._why_skipped) if bank is not None else set()
        missing = [item for item in items if item.path not in known]
        if missing or bank is None:
            new = VideoBank.build(
                self.video_root,
                missing,
                self.data.load_size,
                self.data.backend,
                workers=self.data.workers,
                on_skip=self.on_skip,
                max_bytes=self.max_bytes - (bank.nbytes if bank is not None else 0),
                progress=self.progress,
            )
            bank = new if bank is None else _concat(bank, new)
            _SHARED[self.key] = bank
        return bank

    def opener(self, items: Sequence[VideoItem]) -> Callable[[str], BankReader]:
        """`opener=` for `LabeledClips`/`PretrainClips` over `items`: reads from memory."""
        return self.bank(items).open


def shared_bank(
    video_root: str | Path,
    data,
    on_skip: SkipFn | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: bool = True,
) -> SharedBank:
    """This process's bank for `video_root` at `data.load_size` with `data.backend`
    (`data`: a DataConfig; `data.workers` decoding threads). See `SharedBank.opener`."""
    return SharedBank(Path(video_root), data, on_skip, max_bytes, progress)


def clear_shared_banks() -> None:
    """Forget every shared bank (frees their memory once no dataset holds them)."""
    _SHARED.clear()
