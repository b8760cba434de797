"""Shared fixtures: tiny real encoded videos, and the files of ../shared beside the
repository (the official split files, the paper's text); tiny datasets in the official
archive layouts (`ucf101_layout`, `hmdb51_layout`, `diving48_layout`, `kinetics400_layout`)
and the values of a runs folder's result files (`result_values`)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPLITS_DIR = SHARED / "splits"
PAPER_DIR = SHARED / "paper"


def in_ci() -> bool:
    """Whether the tests run in CI (`CI=true`, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def require_shared(path: Path, what: str) -> Path:
    """`path` (under ../shared) when it exists. Otherwise the test skips, or, in CI, fails:
    there a skip would let a run pass without the tests that need the shared files. Every
    test that needs ../shared gets it through this."""
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: put ../shared beside the checkout)", pytrace=False)
    pytest.skip(message)


def _write_video(
    path: Path,
    frames: np.ndarray,
    codec: str = "libx264",
    fps: int = 10,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode T x H x W x 3 uint8 RGB frames at high quality (so decoders agree closely).

    `container_options` go to FFmpeg's muxer, e.g. {"movflags": "faststart"} for an .mp4.
    """
    import av

    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "12"}
        else:
            stream.bit_rate = 4_000_000
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def write_video() -> Callable[..., Path]:
    """`write_video(path, frames, codec="libx264", fps=10, container_options=None) -> path`."""
    return _write_video


@pytest.fixture(scope="session")
def tiny_frames() -> np.ndarray:
    """20 x 48 x 64 x 3 uint8 RGB: smooth gradients moving by a few pixels per frame."""
    t, y, x = np.meshgrid(np.arange(20), np.arange(48), np.arange(64), indexing="ij")
    channels = [
        np.sin(2 * np.pi * (x + 3 * t) / 64),
        np.sin(2 * np.pi * (y + 2 * t) / 48),
        np.cos(2 * np.pi * (x + y - 4 * t) / 80),
    ]
    return np.stack([127.5 + 100 * c for c in channels], axis=-1).round().astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_video(tmp_path_factory: pytest.TempPathFactory, tiny_frames: np.ndarray) -> Path:
    """`tiny_frames` encoded as H.264 in an .mp4 (10 fps)."""
    return _write_video(tmp_path_factory.mktemp("video") / "tiny.mp4", tiny_frames)


@pytest.fixture(scope="session")
def splits_dir() -> Path:
    """The official split files in ../shared/splits beside the repository."""
    return require_shared(SPLITS_DIR, "official split files")


@pytest.fixture(scope="session")
def paper_dir() -> Path:
    """The paper's text (OCR) in ../shared/paper beside the repository."""
    return require_shared(PAPER_DIR, "the paper's text")


def result_values(runs: Path) -> set[float]:
    """Every top-1 and recall (in %, to 0.01) that a result file under `runs` holds, read
    from the JSON files themselves: what a table's numbers must come from."""
    found: set[float] = set()

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, k if k in ("test_top1", "recall") else key)
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif key and isinstance(x, int | float) and not isinstance(x, bool):
            found.add(round(100 * float(x), 2))

    for path in runs.rglob("*.json"):
        try:
            walk(json.loads(path.read_text()))
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
    return found


# ---------------------------------------------------------------------- official layouts
# Tiny datasets laid out as the official archives unpack, with the official split files (or,
# for Diving48 and Kinetics-400, files in the official formats), their videos links to one
# real encoded video. Used by tests/test_plan.py and tests/test_paper_path.py.

UCF101_CLASSES = ("ApplyEyeMakeup", "Billiards")
HMDB51_CLASSES = ("brush_hair", "wave")


def link_videos(video_root: Path, relpaths, video: Path) -> None:
    """A symlink to `video` at each relative path under `video_root`."""
    for rel in relpaths:
        (video_root / rel).parent.mkdir(parents=True, exist_ok=True)
        (video_root / rel).symlink_to(video)


def _test_videos(split, labels, n: int) -> list[str]:
    return sum(([i.path for i in split.test if i.label == k][:n] for k in sorted(labels)), [])


def ucf101_layout(home: Path, splits_dir: Path, video: Path, test_per_class: int = 3) -> Path:
    """<home>/UCF101/UCF-101/<Class>/*.avi with ucfTrainTestlist/ beside it (the official
    files, CRLF): every split-1 training video of UCF101_CLASSES and `test_per_class` of
    their test videos (the others are listed, missing, and skipped). Returns the root."""
    from bepaper.data.splits import read_ucf101

    ucf = home / "UCF101"
    (ucf / "UCF-101").mkdir(parents=True)
    (ucf / "ucfTrainTestlist").symlink_to(splits_dir / "ucf101", target_is_directory=True)
    split = read_ucf101(splits_dir / "ucf101", 1)
    keep = {split.classes.index(c) for c in UCF101_CLASSES}
    train = [i.path for i in split.train if i.label in keep]
    link_videos(ucf / "UCF-101", train + _test_videos(split, keep, test_per_class), video)
    return ucf


def hmdb51_layout(
    home: Path,
    splits_dir: Path,
    video: Path,
    test_per_class: int = 3,
    train_per_class: int = 0,
) -> Path:
    """<home>/hmdb51_org/<class>/*.avi with testTrainMulti_7030_splits/ beside it (the
    official files of HMDB51_CLASSES, LF and trailing spaces). Split-1 training videos: all,
    or the `train_per_class` that `data.per_class` draws with seed 0; `test_per_class` test
    videos. Returns the video root."""
    from bepaper.data.datasets import subset_per_class
    from bepaper.data.splits import read_hmdb51

    hmdb = home / "hmdb51_org"
    lists = home / "testTrainMulti_7030_splits"
    lists.mkdir(parents=True)
    for name in HMDB51_CLASSES:
        for k in (1, 2, 3):
            shutil.copy(splits_dir / "hmdb51" / f"{name}_test_split{k}.txt", lists)
    split = read_hmdb51(lists, 1)
    train = subset_per_class(split.train, train_per_class, 0)
    labels = set(range(len(HMDB51_CLASSES)))
    link_videos(hmdb, [i.path for i in train] + _test_videos(split, labels, test_per_class), video)
    return hmdb


def diving48_layout(
    home: Path, splits_dir: Path, video: Path, labels=(0, 1), train: int = 4, test: int = 2
) -> Path:
    """<home>/Diving48/rgb/<vid_name>.mp4 with the V2 annotations beside: the official vocab,
    and train/test files in the official format (a JSON list, indent 2, no final newline)
    holding the first `train` / `test` official records of each of `labels`, all present."""
    root = home / "Diving48"
    (root / "rgb").mkdir(parents=True)
    (root / "Diving48_vocab.json").symlink_to(splits_dir / "diving48" / "Diving48_vocab.json")
    for part, n in (("train", train), ("test", test)):
        name = f"Diving48_V2_{part}.json"
        records = json.loads((splits_dir / "diving48" / name).read_text())
        kept = sum(([r for r in records if r["label"] == k][:n] for k in labels), [])
        (root / name).write_text(json.dumps(kept, indent=2))
        link_videos(root / "rgb", [f"{r['vid_name']}.mp4" for r in kept], video)
    return root


KINETICS_HEADER = "label,youtube_id,time_start,time_end,split,is_cc"


def write_kinetics_csv(path: Path, rows) -> None:
    """A Kinetics-400 annotation file as the release writes it (CRLF): `rows` are
    (label, youtube_id, start, end, split)."""
    lines = [KINETICS_HEADER, *(f"{a},{b},{s},{e},{p},0" for a, b, s, e, p in rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode())


def kinetics400_layout(home: Path, video: Path, train: int = 4, val: int = 2) -> Path:
    """<home>/k400/{train,val}/<label with underscores>/<id>_<start>_<end>.mp4 (the
    downloaders' layout) with the csv annotations in kinetics400/ beside: two classes,
    `train` and `val` videos each, all present. Returns the root."""
    root = home / "k400"
    for name, part, n in (("train.csv", "train", train), ("validate.csv", "val", val)):
        rows = [(label, f"{label[:2]}{part}{k:02d}", 10 * k, 10 * k + 10, part)
                for label in ("abseiling", "air drumming") for k in range(n)]  # fmt: skip
        write_kinetics_csv(root / "kinetics400" / name, rows)
        relpaths = [
            f"{part}/{a.replace(' ', '_')}/{b}_{s:06d}_{e:06d}.mp4" for a, b, s, e, _ in rows
        ]
        link_videos(root, relpaths, video)
    return root


ROOT_VARIABLES = ("BEPAPER_UCF101", "BEPAPER_HMDB51", "BEPAPER_DIVING48", "BEPAPER_KINETICS400")


def use_datasets(monkeypatch: pytest.MonkeyPatch, datasets: Path) -> None:
    """The dataset roots of `datasets` (a datasets.yaml, as $BEPAPER_DATASETS), and none
    from this machine's environment."""
    monkeypatch.setenv("BEPAPER_DATASETS", str(datasets))
    for var in ROOT_VARIABLES:
        monkeypatch.delenv(var, raising=False)


# The paper's runs at tiny sizes, on CPU (bepaper plan, make reproduce PRESET=paper tests)
PAPER_TINY = [
    "optim.epochs=1",
    "optim.batch_size=2",
    "data.per_class=2",
    "data.num_frames=4",
    "data.stride=1",
    "data.load_size=40",
    "data.workers=0",
    "augment.crop_size=32",
    "model.backbone=r3d_small",
    "eval.num_clips=1",
    "run.device=cpu",
    "run.progress=false",
]
