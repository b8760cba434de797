"""`bepaper prepare`: check a dataset folder against its split before training on it, and
optionally re-encode its videos to a smaller short side.

The decoders' own messages (FFmpeg's `[mpeg4 @ 0x..] ac-tex damaged`, decord's `ERROR
opening`) are captured per file and attached to that file's report line, so they never
spill over the progress bar.
"""

from __future__ import annotations

import multiprocessing as mp
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from tqdm import tqdm

from bepaper.data.splits import Split
from bepaper.errors import ConfigError, DataError, VideoError
from bepaper.runs import atomic_path
from bepaper.video import capture_native_stderr, open_video


@dataclass
class PrepareReport:
    """What `check_dataset` found: counts, one (relative path, reason) per bad video, and one
    (relative path, decoder messages) per usable video whose decoder complained."""

    listed: int
    missing: int = 0
    unreadable: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return self.listed - self.missing - self.unreadable


def _declared_frames(path: Path) -> int:
    """The frame count a video file's container header declares (0 when unknown, when
    PyAV is missing, or for frame folders)."""
    if path.is_dir():
        return 0
    try:
        import av

        with av.open(str(path)) as container:
            return int(container.streams.video[0].frames or 0)
    except Exception:  # noqa: BLE001 (any failure: no declared count to compare)
        return 0


def probe_video(path: Path, backend: str) -> str | None:
    """Why the video at `path` is unusable, or None if its first and last frames decode and
    no more than one of the frames its header declares is missing."""
    try:
        reader = open_video(path, backend)
        try:
            reader.get([0, reader.num_frames - 1])
            decodable = reader.num_frames
        finally:
            reader.close()
    except VideoError as err:
        return err.reason
    declared = _declared_frames(path)
    if declared - decodable > 1:
        return f"truncated: {decodable} of {declared} declared frames decode"
    return None


def _with_messages(reason: str, said: str) -> str:
    return f"{reason}; decoder said: {said}" if said else reason


def _check_one(job: tuple[Path, str, str]) -> tuple[str, str | None, str]:
    """(relpath, reason or None, the decoders' messages) for one listed video."""
    root, relpath, backend = job
    path = root / relpath
    if not path.exists():
        return relpath, "missing", ""
    with capture_native_stderr() as log:
        reason = probe_video(path, backend)
    return relpath, reason, log.summary(path)


def _run(fn: Callable, jobs: Sequence, workers: int, progress: bool, desc: str) -> Iterator[tuple]:
    """fn(job) for each job, in order, with `workers` processes (0 or 1: in this process)."""
    bar = tqdm(total=len(jobs), desc=desc, unit="video", disable=not progress)
    try:
        if workers <= 1:
            for job in jobs:
                yield fn(job)
                bar.update()
        else:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            with mp.get_context(method).Pool(workers) as pool:
                for result in pool.imap(fn, jobs, chunksize=4):
                    yield result
                    bar.update()
    finally:
        bar.close()


def _listed(split: Split) -> list[str]:
    return list(dict.fromkeys(item.path for item in split.train + split.test))


def check_dataset(
    root: str | Path,
    split: Split,
    backend: str = "decord",
    progress: bool = True,
    workers: int = 0,
) -> PrepareReport:
    """Check every video of `split` (train and test) under `root`.

    A video passes if it exists, opens, and its first and last frames decode: this catches
    missing, empty, garbage and truncated files. Only reads files. `workers` > 1 checks in
    that many processes. What the decoders print is captured: on a bad video it ends its
    reason ("...; decoder said: ..."), on a usable one it goes to `report.warnings`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}")
    relpaths = _listed(split)
    report = PrepareReport(listed=len(relpaths))
    jobs = [(root, relpath, backend) for relpath in relpaths]
    for relpath, reason, said in _run(_check_one, jobs, workers, progress, "checking videos"):
        if reason == "missing":
            report.missing += 1
            report.problems.append((relpath, reason))
        elif reason is not None:
            report.unreadable += 1
            report.problems.append((relpath, _with_messages(reason, said)))
        elif said:
            report.warnings.append((relpath, said))
    return report


def format_report(report: PrepareReport) -> str:
    """One line per problem, then the counts."""
    lines = [f"{relpath}: {reason}" for relpath, reason in report.problems]
    lines.append(
        f"listed {report.listed}, ok {report.ok}, missing {report.missing}, "
        f"unreadable {report.unreadable}"
    )
    return "\n".join(lines)


def format_warnings(report: PrepareReport | ResizeReport) -> str:
    """One line per usable video whose decoder printed messages ("" if none)."""
    return "\n".join(
        f"{relpath}: usable, but the decoder said: {said}" for relpath, said in report.warnings
    )


# ---------------------------------------------------------------------------------------
# Resizing: `bepaper prepare DATASET --root DIR --resize SHORT_SIDE --out DIR`
# ---------------------------------------------------------------------------------------

# file suffix -> FFmpeg muxer that can hold MPEG-4 Part 2
CONTAINERS = {".avi": "avi", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
CHUNK_BYTES = 256 << 20  # decode at most this many bytes of frames at once


@dataclass
class ResizeReport:
    """What `resize_dataset` did: files written, kept (already done), missing or bad, and
    the decoders' messages on files that were written all the same."""

    listed: int
    written: int = 0
    kept: int = 0
    missing: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    split_files: list[str] = field(default_factory=list)

    @property
    def unreadable(self) -> int:
        return len(self.problems) - self.missing


def target_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side scaled to `short_side` (never enlarged), the
    aspect ratio kept, and both sides even (MPEG-4 with 4:2:0 chroma needs them even)."""
    scale = min(1.0, short_side / min(height, width))
    return max(2, round(height * scale / 2) * 2), max(2, round(width * scale / 2) * 2)


def _frame_size(path: Path) -> tuple[int, int] | None:
    """(height, width) of a video file's first video stream, from its header."""
    import av

    try:
        with av.open(str(path)) as container:
            ctx = container.streams.video[0].codec_context
            return ctx.height, ctx.width
    except Exception:  # noqa: BLE001 (unreadable or no video stream: not a finished output)
        return None


def _encode(reader, dst: Path, size: tuple[int, int], quality: int, frame_bytes: int) -> None:
    """Decode every frame of `reader`, resize to `size` (h, w), encode MPEG-4 Part 2 into
    `dst` atomically, in chunks of at most CHUNK_BYTES of decoded frames."""
    import av
    import cv2

    height, width = size
    fmt = CONTAINERS[dst.suffix.lower()]
    fps = reader.fps if reader.fps and reader.fps > 0 else 25.0
    rate = Fraction(fps).limit_denominator(1001)
    n = reader.num_frames
    with atomic_path(dst) as tmp:
        with av.open(str(tmp), "w", format=fmt) as out:
            stream = out.add_stream("mpeg4", rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            if fmt == "avi":
                stream.codec_context.codec_tag = "XVID"
            stream.codec_context.thread_count = 1
            stream.options = {"qmin": str(quality), "qmax": str(quality)}  # constant quantiser
            chunk = max(1, CHUNK_BYTES // frame_bytes)
            start = 0
            while start < n:
                frames = reader.get(range(start, min(n, start + chunk)))
                for frame in frames:
                    small = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
                    out.mux(stream.encode(av.VideoFrame.from_ndarray(small, format="rgb24")))
                start += len(frames)
            out.mux(stream.encode())


def _resize_one(job: tuple) -> tuple[str, str, str]:
    """(relpath, status, detail): status is written | kept | missing | bad; detail is why it
    is bad, or what the decoder said while a written file was decoded."""
    src_root, out_root, relpath, short_side, backend, quality = job
    src, dst = src_root / relpath, out_root / relpath
    if not src.exists():
        return relpath, "missing", "missing"
    if src.is_dir():
        return relpath, "bad", "a folder of frames: only video files are resized"
    if dst.suffix.lower() not in CONTAINERS:
        return relpath, "bad", f"cannot write MPEG-4 into '{dst.suffix}'; use {list(CONTAINERS)}"
    with capture_native_stderr() as log:
        try:
            reader = open_video(src, backend)
            try:
                declared = _declared_frames(src)
                if declared - reader.num_frames > 1:  # the rule of `check_dataset`
                    raise VideoError(
                        src, f"truncated: {reader.num_frames} of {declared} declared frames decode"
                    )
                first = reader.get([0])[0]
                height, width = first.shape[:2]
                size = target_size(height, width, short_side)
                if _frame_size(dst) == size:
                    return relpath, "kept", ""
                dst.parent.mkdir(parents=True, exist_ok=True)
                _encode(reader, dst, size, quality, first.nbytes)
            finally:
                reader.close()
        except VideoError as err:
            reason = err.reason
        except (OSError, ValueError, RuntimeError) as err:  # av.error.FFmpegError is an OSError
            reason = f"cannot write the resized video: {type(err).__name__}: {err}"
        else:
            reason = ""
    if not reason:
        return relpath, "written", log.summary(src)
    return relpath, "bad", _with_messages(reason, log.summary(src))


def resize_dataset(
    video_root: str | Path,
    split: Split,
    out_root: str | Path,
    short_side: int,
    backend: str = "decord",
    workers: int = 0,
    progress: bool = True,
    split_files: Iterable[str | Path] = (),
    quality: int = 3,
) -> ResizeReport:
    """Re-encode every video of `split` under `video_root` into `out_root` (same relative
    paths) with its short side scaled down to `short_side` pixels.

    Aspect ratio kept, sides even, never enlarged; MPEG-4 Part 2 (constant quantiser
    `quality`, 1 = best .. 31) in the container the file name says (.avi, .mp4, ...); the
    frame rate and every decodable frame kept. Each file is written atomically, so a file at
    its final path is complete: a rerun keeps outputs of the right size and redoes the rest.
    Missing and damaged videos are reported and skipped. `split_files` (see
    `bepaper.data.locate.split_files`) are copied into `<out_root>/splits`.
    """
    if short_side < 2 or short_side % 2:
        raise ConfigError(f"resize short side must be an even number >= 2, got {short_side}")
    if not 1 <= quality <= 31:
        raise ConfigError(f"MPEG-4 quality must be in 1..31, got {quality}")
    video_root, out_root = Path(video_root), Path(out_root)
    if not video_root.is_dir():
        raise DataError(f"dataset folder not found: {video_root}")
    if out_root.resolve() == video_root.resolve():
        raise ConfigError(f"the output folder is the dataset folder ({out_root}); choose another")
    _require_pyav()
    out_root.mkdir(parents=True, exist_ok=True)
    relpaths = _listed(split)
    report = ResizeReport(listed=len(relpaths))
    jobs = [(video_root, out_root, p, short_side, backend, quality) for p in relpaths]
    for relpath, status, detail in _run(_resize_one, jobs, workers, progress, "resizing"):
        if status == "written":
            report.written += 1
            if detail:
                report.warnings.append((relpath, detail))
        elif status == "kept":
            report.kept += 1
        else:
            report.missing += status == "missing"
            report.problems.append((relpath, detail))
    for path in map(Path, split_files):
        target = out_root / "splits" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.copyfile(path, tmp)
        report.split_files.append(path.name)
    return report


def _require_pyav() -> None:
    try:
        import av  # noqa: F401
    except ImportError as err:
        raise ConfigError("resizing videos needs PyAV: pip install av") from err


def format_resize_report(report: ResizeReport) -> str:
    """One line per problem, then the counts."""
    lines = [f"{relpath}: {reason}" for relpath, reason in report.problems]
    lines.append(
        f"listed {report.listed}, written {report.written}, kept {report.kept}, "
        f"missing {report.missing}, unreadable {report.unreadable}, "
        f"split files copied {len(report.split_files)}"
    )
    return "\n".join(lines)
