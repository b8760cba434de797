"""Video decoding behind one interface: uint8 RGB frames for given indices.

Backends: decord (default), PyAV, OpenCV, and folders of extracted frames. Each library is
imported only when its backend is used. Readers hold no global state, so a dataset can open
them inside DataLoader worker processes. Every failure to open or decode raises `VideoError`
naming the file and a short reason, never a raw library exception.
"""

from __future__ import annotations

import importlib
import operator
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np

from bepaper.errors import BepaperError, ConfigError, VideoError

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


class VideoReader(Protocol):
    """What every backend gives: frame count, rate and random access to RGB frames."""

    path: str
    num_frames: int  # frames that can be decoded (see each backend for how it is known)
    fps: float

    def get(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at `indices`, in the order given (repeats allowed): N x H x W x 3 uint8 RGB."""
        ...

    def close(self) -> None:
        """Release the file; the reader is unusable afterwards."""
        ...


def _require(module: str, package: str) -> ModuleType:
    """Import a backend library, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise BepaperError(
            f"this video backend needs the '{package}' package: pip install {package}"
        ) from err


def _check_file(path: str) -> None:
    """Fail early, with a clear reason, on paths no library could open."""
    p = Path(path)
    if not p.exists():
        raise VideoError(path, "file not found")
    if not p.is_file():
        raise VideoError(path, "not a regular file")
    if p.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")


def _check_indices(path: str, indices: Sequence[int], num_frames: int) -> list[int]:
    """Indices as Python ints, each in [0, num_frames)."""
    wanted = [operator.index(i) for i in indices]
    if not wanted:
        raise ValueError("no frame indices requested")
    for i in wanted:
        if not 0 <= i < num_frames:
            raise VideoError(path, f"frame index {i} out of range [0, {num_frames})")
    return wanted


def _reason(err: Exception) -> str:
    """A library's error message made short: FFmpeg's bare message, or decord's first line."""
    text = getattr(err, "strerror", None) or str(err)  # PyAV errors carry FFmpeg's message
    first = (text.strip().splitlines() or [type(err).__name__])[0]
    if first.startswith("Error reading"):  # decord's whole message when FFmpeg cannot open it
        return "not a video, or damaged"
    return re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", first)[:200]


@dataclass
class NativeLog:
    """What C libraries wrote to file descriptor 2 inside `capture_native_stderr`."""

    text: str = ""

    def summary(self, path: str | Path | None = None, lines: int = 2, limit: int = 200) -> str:
        """The first `lines` distinct messages on one line, cut to `limit` characters ("" if
        none). FFmpeg's context addresses and decord's time/source prefix are dropped, and
        `path` is shortened to its file name."""
        seen: list[str] = []
        for raw in self.text.splitlines():
            line = _LOG_ADDRESS.sub(r"[\1]", _LOG_PREFIX.sub("", raw.strip()))
            if path is not None:
                line = line.replace(str(path), Path(path).name)
            if line and line not in seen:
                seen.append(line)
        if not seen:
            return ""
        text = " | ".join(seen[:lines])
        if len(seen) > lines:
            text += f" (+{len(seen) - lines} more)"
        return text if len(text) <= limit else text[: limit - 3] + "..."


_LOG_ADDRESS = re.compile(r"\[([^\]@]+?) @ 0x[0-9a-fA-F]+\]")  # "[mpeg4 @ 0x55d0]" -> "[mpeg4]"
_LOG_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: ")  # decord's "[14:31:55] src/x.cc:83: "


@contextmanager
def capture_native_stderr() -> Iterator[NativeLog]:
    """Redirect file descriptor 2 into a temporary file for the block, then restore it.

    Catches what C libraries print straight to stderr (FFmpeg's `[mpeg4 @ 0x..] ac-tex
    damaged`, decord's `ERROR opening`), which Python cannot intercept otherwise. The text is
    in the yielded `NativeLog` after the block, also when the block raises; exceptions pass
    through. When `sys.stderr` is the real stderr, Python's writes to it are captured too.
    fd 2 belongs to the whole process: do not use this while other threads run decoders.
    """
    log = NativeLog()
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (a detached process): nothing to capture
        yield log
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield log
        finally:
            try:
                if sys.stderr is not None:
                    sys.stderr.flush()
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            sink.seek(0)
            log.text = sink.read().decode("utf-8", errors="replace")


class DecordReader:
    """decord on CPU, one thread. `num_frames` comes from the container index.

    decord may count more frames than decode in a damaged file; `get` then raises `VideoError`.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._decord = _require("decord", "decord")
        _check_file(self.path)
        try:
            self._vr = self._decord.VideoReader(self.path, ctx=self._decord.cpu(0), num_threads=1)
            self.num_frames = len(self._vr)
            self.fps = float(self._vr.get_avg_fps())
        except (self._decord.DECORDError, RuntimeError) as err:
            raise VideoError(self.path, f"decord cannot open it: {_reason(err)}") from err
        if self.num_frames == 0:
            raise VideoError(self.path, "no frames")

    def get(self, indices: Sequence[int]) -> np.ndarray:
        wanted = _check_indices(self.path, indices, self.num_frames)
        try:
            return self._vr.get_batch(wanted).asnumpy()
        except (self._decord.DECORDError, RuntimeError, IndexError) as err:
            raise VideoError(
                self.path, f"cannot decode frames {wanted} (damaged or truncated?): {_reason(err)}"
            ) from err

    def close(self) -> None:
        self._vr = None


class PyAVReader:
    """PyAV, decoding sequentially from the start up to the largest index (for short clips).

    `num_frames` counts the video stream's non-empty packets without decoding them, so a
    truncated file reports about what it holds; a cut last packet that does not decode makes
    `get` raise `VideoError`.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._av = _require("av", "av")
        _check_file(self.path)
        try:
            with self._av.open(self.path) as container:
                if not container.streams.video:
                    raise VideoError(self.path, "no video stream")
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                self.fps = float(rate) if rate else 0.0
                pts = [packet.pts for packet in container.demux(stream) if packet.size]
        except self._av.error.FFmpegError as err:
            raise VideoError(self.path, f"PyAV cannot open it: {_reason(err)}") from err
        self.num_frames = len(pts)
        # frame i is the packet with the i-th smallest timestamp; a decoder that drops a
        # frame it cannot rebuild (a cut file) must not shift the ones after it
        self._index = {t: i for i, t in enumerate(sorted(pts))} if None not in pts else None
        if self.num_frames == 0:
            raise VideoError(self.path, "no frames")

    def _frames(self, container) -> Iterator:
        """Decoded frames in order. At a damaged or cut packet, stop but keep the frames that
        the decoder still holds (it delays output to reorder frames)."""
        stream = container.streams.video[0]
        try:
            for packet in container.demux(stream):
                yield from packet.decode()  # the final, empty packet flushes the decoder
            return
        except self._av.error.FFmpegError:
            pass
        try:
            yield from stream.codec_context.decode(None)
        except self._av.error.FFmpegError:
            return

    def get(self, indices: Sequence[int]) -> np.ndarray:
        wanted = _check_indices(self.path, indices, self.num_frames)
        needed, last = set(wanted), max(wanted)
        found: dict[int, np.ndarray] = {}
        try:
            with self._av.open(self.path) as container:
                for k, frame in enumerate(self._frames(container)):
                    i = k if self._index is None else self._index.get(frame.pts)
                    if i is None:
                        continue
                    if i in needed:
                        found[i] = frame.to_ndarray(format="rgb24")
                    if i >= last:
                        break
        except self._av.error.FFmpegError as err:
            raise VideoError(self.path, f"PyAV cannot open it: {_reason(err)}") from err
        if len(found) < len(needed):
            first_missing = min(needed - found.keys())
            raise VideoError(
                self.path, f"frames from {first_missing} on do not decode (damaged or truncated?)"
            )
        return np.stack([found[i] for i in wanted])

    def close(self) -> None:
        """Nothing to release: each `get` opens and closes the file."""


class OpenCVReader:
    """OpenCV `VideoCapture`, reading sequentially (exact, unlike frame seeking).

    `num_frames` is counted by grabbing every frame once on opening, since the header's
    count is wrong for truncated files.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._cv2 = _require("cv2", "opencv-python-headless")
        _check_file(self.path)
        self._cap = self._cv2.VideoCapture(self.path)
        self._next = 0  # index of the frame the next grab returns
        if not self._cap.isOpened():
            raise VideoError(self.path, "OpenCV cannot open it (not a video, or damaged)")
        self.fps = float(self._cap.get(self._cv2.CAP_PROP_FPS))
        self.num_frames = 0
        while self._cap.grab():
            self.num_frames += 1
        if self.num_frames == 0:
            raise VideoError(self.path, "no frames")
        self._rewind()

    def _rewind(self) -> None:
        """Reopen the file at its first frame: more reliable than seeking back."""
        self._cap.release()
        self._cap = self._cv2.VideoCapture(self.path)
        self._next = 0

    def get(self, indices: Sequence[int]) -> np.ndarray:
        wanted = _check_indices(self.path, indices, self.num_frames)
        needed, last = set(wanted), max(wanted)
        if min(wanted) < self._next:
            self._rewind()
        found: dict[int, np.ndarray] = {}
        while self._next <= last:
            if self._next in needed:
                ok, bgr = self._cap.read()
                if ok:
                    found[self._next] = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)
            else:
                ok = self._cap.grab()
            if not ok:
                raise VideoError(
                    self.path, f"frame {self._next} does not decode (damaged or truncated?)"
                )
            self._next += 1
        return np.stack([found[i] for i in wanted])

    def close(self) -> None:
        self._cap.release()


class FrameFolderReader:
    """A folder of extracted frames (.jpg/.png), in name order, e.g. `img_00001.jpg`.

    If the folder holds `img_*` files (the TSN/mmaction layout, where `flow_x_*` and
    `flow_y_*` lie beside them), only those are frames. A folder carries no frame rate:
    `fps` is what the caller says (30 by default, as mmaction assumes).
    """

    def __init__(self, path: str | Path, fps: float = 30.0):
        self.path = str(path)
        self._cv2 = _require("cv2", "opencv-python-headless")
        folder = Path(path)
        if not folder.is_dir():
            raise VideoError(self.path, "not a folder of frames")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        rgb = [p for p in files if p.name.startswith("img_")]
        self._files = rgb or files
        if not self._files:
            raise VideoError(self.path, "no .jpg or .png frames in the folder")
        self.num_frames = len(self._files)
        self.fps = fps

    def get(self, indices: Sequence[int]) -> np.ndarray:
        wanted = _check_indices(self.path, indices, self.num_frames)
        frames = []
        for i in wanted:
            bgr = self._cv2.imread(str(self._files[i]), self._cv2.IMREAD_COLOR)
            if bgr is None:
                raise VideoError(self.path, f"cannot decode frame file {self._files[i].name}")
            frames.append(self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB))
        if len({f.shape for f in frames}) > 1:
            raise VideoError(self.path, "frames differ in size")
        return np.stack(frames)

    def close(self) -> None:
        """Nothing to release: each frame file is read and closed in `get`."""


BACKENDS: dict[str, type] = {
    "decord": DecordReader,
    "pyav": PyAVReader,
    "opencv": OpenCVReader,
    "frames": FrameFolderReader,
}


def open_video(path: str | Path, backend: str = "decord") -> VideoReader:
    """Open a video file with `backend`; a folder is always read as extracted frames."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown video backend '{backend}'; choose from {list(BACKENDS)}")
    if Path(path).is_dir():
        backend = "frames"
    return BACKENDS[backend](path)
