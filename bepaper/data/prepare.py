"""`bepaper prepare`: check a dataset folder against its split before training on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from bepaper.data.splits import Split
from bepaper.errors import DataError, VideoError
from bepaper.video import open_video


@dataclass
class PrepareReport:
    """What `check_dataset` found: counts, and one (relative path, reason) per bad video."""

    listed: int
    missing: int = 0
    unreadable: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)

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


def _probe(path: Path, backend: str) -> str | None:
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


def check_dataset(
    root: str | Path, split: Split, backend: str = "decord", progress: bool = True
) -> PrepareReport:
    """Check every video of `split` (train and test) under `root`.

    A video passes if it exists, opens, and its first and last frames decode: this catches
    missing, empty, garbage and truncated files. Only reads files.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder not found: {root}")
    relpaths = list(dict.fromkeys(item.path for item in split.train + split.test))
    report = PrepareReport(listed=len(relpaths))
    for relpath in tqdm(relpaths, desc="checking videos", unit="video", disable=not progress):
        path = root / relpath
        if not path.exists():
            report.missing += 1
            report.problems.append((relpath, "missing"))
            continue
        reason = _probe(path, backend)
        if reason is not None:
            report.unreadable += 1
            report.problems.append((relpath, reason))
    return report


def format_report(report: PrepareReport) -> str:
    """One line per problem, then the counts."""
    lines = [f"{relpath}: {reason}" for relpath, reason in report.problems]
    lines.append(
        f"listed {report.listed}, ok {report.ok}, missing {report.missing}, "
        f"unreadable {report.unreadable}"
    )
    return "\n".join(lines)
