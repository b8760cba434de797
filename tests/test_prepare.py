"""bepaper.data.prepare: a dataset folder with good, broken and missing videos."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bepaper.data.locate import split_files
from bepaper.data.prepare import (
    check_dataset,
    format_report,
    format_resize_report,
    format_warnings,
    resize_dataset,
    target_size,
)
from bepaper.data.splits import Split, VideoItem
from bepaper.errors import ConfigError, DataError
from bepaper.video import open_video

SPLIT = Split(
    classes=["A", "B"],
    train=[
        VideoItem("A/good.mp4", 0),
        VideoItem("A/empty.avi", 0),
        VideoItem("B/garbage.avi", 1),
        VideoItem("B/gone.avi", 1),
    ],
    test=[VideoItem("A/half.mp4", 0), VideoItem("B/good.mp4", 1), VideoItem("B/gone2.avi", 1)],
)


@pytest.fixture
def dataset(tmp_path, tiny_video):
    for folder in ["A", "B"]:
        (tmp_path / folder).mkdir()
    shutil.copy(tiny_video, tmp_path / "A/good.mp4")
    shutil.copy(tiny_video, tmp_path / "B/good.mp4")
    (tmp_path / "A/empty.avi").write_bytes(b"")
    (tmp_path / "B/garbage.avi").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    data = tiny_video.read_bytes()
    (tmp_path / "A/half.mp4").write_bytes(data[: len(data) // 2])
    return tmp_path


@pytest.mark.parametrize("backend", ["decord", "pyav", "opencv"])
def test_report_lists_each_problem(dataset, backend):
    report = check_dataset(dataset, SPLIT, backend=backend, progress=False)
    assert (report.listed, report.ok, report.missing, report.unreadable) == (7, 2, 2, 3)
    problems = dict(report.problems)
    assert set(problems) == {
        "A/empty.avi",
        "B/garbage.avi",
        "B/gone.avi",
        "A/half.mp4",
        "B/gone2.avi",
    }
    assert problems["B/gone.avi"] == problems["B/gone2.avi"] == "missing"
    assert problems["A/empty.avi"] == "empty file (0 bytes)"
    assert problems["A/half.mp4"]  # a non-empty reason


def test_format_report(dataset):
    text = format_report(check_dataset(dataset, SPLIT, progress=False))
    lines = text.splitlines()
    assert lines[0] == "A/empty.avi: empty file (0 bytes)"
    assert "B/gone.avi: missing" in lines
    assert len(lines) == 6
    assert lines[-1] == "listed 7, ok 2, missing 2, unreadable 3"


def test_clean_dataset_and_frame_folders(tmp_path, tiny_video):
    shutil.copy(tiny_video, tmp_path / "v.mp4")
    frames = tmp_path / "w.avi"  # extracted frames stored under the video's name
    frames.mkdir()
    (frames / "img_00001.jpg").write_bytes(b"broken")
    split = Split(["A"], [VideoItem("v.mp4", 0)], [VideoItem("w.avi", 0), VideoItem("v.mp4", 0)])
    report = check_dataset(tmp_path, split, progress=False)
    assert report.listed == 2  # v.mp4 listed twice counts once
    assert report.problems == [("w.avi", "cannot decode frame file img_00001.jpg")]


def test_missing_root_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="dataset folder not found"):
        check_dataset(tmp_path / "nowhere", SPLIT, progress=False)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_avi_cut_near_its_end_is_reported_as_truncated(tmp_path, tiny_frames, write_video, backend):
    # An AVI whose header declares 20 frames but whose tail is cut off: the first and last
    # frames that remain still decode, so only the declared count reveals the damage.
    full = write_video(tmp_path / "full.avi", tiny_frames, codec="mpeg4")
    data = full.read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: int(len(data) * 0.8)])
    split = Split(["A"], [VideoItem("full.avi", 0), VideoItem("cut.avi", 0)], [])
    report = check_dataset(tmp_path, split, backend=backend, progress=False)
    assert [p for p, _ in report.problems] == ["cut.avi"]
    assert dict(report.problems)["cut.avi"].startswith("truncated: ")


# ---------------------------------------------------------------- decoders' messages


def _damaged_avi(path: Path, write_video) -> Path:
    """An MPEG-4 AVI whose frames 5-8 have garbled payloads: it opens and every frame
    decodes (FFmpeg conceals the errors), but the decoder prints `ac-tex damaged`."""
    rng = np.random.default_rng(0)
    t, y, x = np.meshgrid(np.arange(20), np.arange(96), np.arange(128), indexing="ij")
    wave = np.sin(2 * np.pi * (x + 3 * t) / 32) * np.cos(2 * np.pi * (y - 2 * t) / 24)
    frames = (127.5 + 100 * wave[..., None] + rng.normal(0, 10, (20, 96, 128, 3))).clip(0, 255)
    full = write_video(path.with_stem("undamaged"), frames.astype(np.uint8), codec="mpeg4")
    data = bytearray(full.read_bytes())
    chunks = [i for i in range(len(data) - 4) if data[i : i + 4] == b"00dc"]  # one per frame
    for k in (5, 6, 7, 8):
        size = int.from_bytes(data[chunks[k] + 4 : chunks[k] + 8], "little")
        for i in range(chunks[k] + 28, chunks[k] + 4 + size, 5):
            data[i] = rng.integers(256)
    path.write_bytes(bytes(data))
    full.unlink()
    return path


def test_decoder_messages_end_the_reason_of_a_bad_video(dataset):
    report = check_dataset(dataset, SPLIT, backend="decord", progress=False)
    reason = dict(report.problems)["B/garbage.avi"]
    assert reason == (
        "decord cannot open it: not a video, or damaged; decoder said: ERROR opening: "
        "garbage.avi, Invalid data found when processing input"
    )


def test_decoder_messages_on_a_usable_video_are_a_warning(tmp_path, write_video):
    _damaged_avi(tmp_path / "damaged.avi", write_video)
    split = Split(["A"], [VideoItem("damaged.avi", 0)], [])
    report = check_dataset(tmp_path, split, backend="opencv", progress=False)  # reads it all
    assert report.problems == [] and report.ok == 1
    [(relpath, said)] = report.warnings
    assert relpath == "damaged.avi" and said.startswith("[mpeg4] ")
    assert len(said) <= 200
    assert format_warnings(report) == f"damaged.avi: usable, but the decoder said: {said}"


def test_no_decoder_message_reaches_the_terminal(dataset, tmp_path, write_video):
    """In a fresh process with a progress bar, stderr holds the bar and nothing else."""
    _damaged_avi(dataset / "A" / "damaged.avi", write_video)
    code = (
        "import sys\n"
        "from bepaper.data.prepare import check_dataset, format_report\n"
        "from bepaper.data.splits import Split, VideoItem\n"
        "items = [VideoItem(p, 0) for p in sys.argv[2:]]\n"
        "for backend in ['decord', 'opencv']:\n"
        "    r = check_dataset(sys.argv[1], Split(['A'], items, []), backend=backend)\n"
        "    print(format_report(r))\n"
    )
    files = ["A/damaged.avi", "B/garbage.avi", "A/half.mp4", "A/good.mp4"]
    proc = subprocess.run(
        [sys.executable, "-c", code, str(dataset), *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    counts = "listed 4, ok 2, missing 0, unreadable 2"
    assert [line for line in proc.stdout.splitlines() if line.startswith("listed")] == [counts] * 2
    bar = [line for line in re.split(r"[\r\n]", proc.stderr) if line.strip()]
    assert bar and all(line.startswith("checking videos: ") for line in bar), proc.stderr
    assert "4/4" in bar[-1]


def test_workers_give_the_same_report(dataset):
    serial = check_dataset(dataset, SPLIT, progress=False)
    parallel = check_dataset(dataset, SPLIT, progress=False, workers=2)
    assert parallel == serial


# ---------------------------------------------------------------- --resize


@pytest.fixture
def videos(tmp_path, tiny_frames, write_video):
    """Landscape H.264 .mp4 (48 x 64), portrait MPEG-4 .avi (64 x 40), a small .avi
    (24 x 30, under the target), a garbage file, a truncated file and a missing one."""
    root = tmp_path / "src"
    for folder in ("A", "B"):
        (root / folder).mkdir(parents=True)
    write_video(root / "A/land.mp4", tiny_frames)
    write_video(
        root / "A/port.avi",
        np.ascontiguousarray(tiny_frames.transpose(0, 2, 1, 3)[:, :, :40]),
        codec="mpeg4",
    )
    write_video(root / "B/small.avi", np.ascontiguousarray(tiny_frames[:, :24, :30]), codec="mpeg4")
    (root / "B/garbage.avi").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    data = (root / "A/port.avi").read_bytes()
    (root / "B/cut.avi").write_bytes(data[: len(data) // 2])
    split = Split(
        ["A", "B"],
        [VideoItem("A/land.mp4", 0), VideoItem("A/port.avi", 0), VideoItem("B/garbage.avi", 1)],
        [VideoItem("B/small.avi", 1), VideoItem("B/cut.avi", 1), VideoItem("B/gone.avi", 1)],
    )
    return root, split


def _stream(path: Path) -> tuple[str, str, int, int, int, float]:
    import av

    with av.open(str(path)) as container:
        s = container.streams.video[0]
        frames = sum(1 for _ in container.decode(s))
        return (
            container.format.name,
            s.codec_context.name,
            s.height,
            s.width,
            frames,
            float(s.average_rate),
        )


def test_resize_writes_smaller_mpeg4_videos(videos, tmp_path, tiny_frames):
    root, split = videos
    out = tmp_path / "out"
    report = resize_dataset(root, split, out, 32, progress=False)
    assert (report.listed, report.written, report.kept, report.missing) == (6, 3, 0, 1)
    problems = dict(report.problems)
    assert set(problems) == {"B/garbage.avi", "B/cut.avi", "B/gone.avi"}
    assert problems["B/gone.avi"] == "missing" and report.unreadable == 2
    assert problems["B/cut.avi"].startswith("truncated: ")
    assert "decoder said: ERROR opening: garbage.avi" in problems["B/garbage.avi"]
    assert _stream(out / "A/land.mp4") == ("mov,mp4,m4a,3gp,3g2,mj2", "mpeg4", 32, 42, 20, 10.0)
    assert _stream(out / "A/port.avi") == ("avi", "mpeg4", 52, 32, 20, 10.0)
    assert _stream(out / "B/small.avi")[2:4] == (24, 30)  # never enlarged
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "A/land.mp4",
        "A/port.avi",
        "B/small.avi",
    ]  # nothing for the bad files, no temp files left
    # the content is the source frames resized (INTER_AREA), up to the codec's loss
    got = open_video(out / "A/land.mp4", "pyav").get(range(20)).astype(float)
    expected = np.stack(
        [cv2.resize(f, (42, 32), interpolation=cv2.INTER_AREA) for f in tiny_frames]
    )
    assert np.abs(got - expected).mean() < 6
    lines = format_resize_report(report).splitlines()
    assert lines[-1] == (
        "listed 6, written 3, kept 0, missing 1, unreadable 2, split files copied 0"
    )


def test_resize_is_idempotent_and_redoes_other_sizes(videos, tmp_path):
    root, split = videos
    out = tmp_path / "out"
    resize_dataset(root, split, out, 32, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.*")}
    again = resize_dataset(root, split, out, 32, progress=False, workers=2)
    assert (again.written, again.kept, len(again.problems)) == (0, 3, 3)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.*")} == stamps
    (out / "A/port.avi").write_bytes(b"a foreign file where an output goes")
    smaller = resize_dataset(root, split, out, 16, progress=False)
    assert (smaller.written, smaller.kept) == (3, 0)
    assert _stream(out / "A/land.mp4")[2:4] == (16, 22)
    assert _stream(out / "A/port.avi")[2:4] == (26, 16)


def test_resize_copies_split_files_and_refuses_bad_settings(videos, tmp_path, splits_dir):
    root, split = videos
    files = split_files("ucf101", splits_dir / "ucf101")
    report = resize_dataset(root, split, tmp_path / "out", 32, progress=False, split_files=files)
    assert report.split_files == [p.name for p in files] and len(files) == 7
    for p in files:
        assert (tmp_path / "out" / "splits" / p.name).read_bytes() == p.read_bytes()
    with pytest.raises(ConfigError, match="even number"):
        resize_dataset(root, split, tmp_path / "x", 33, progress=False)
    with pytest.raises(ConfigError, match="the output folder is the dataset folder"):
        resize_dataset(root, split, root, 32, progress=False)
    with pytest.raises(DataError, match="dataset folder not found"):
        resize_dataset(tmp_path / "nowhere", split, tmp_path / "x", 32, progress=False)


@pytest.mark.parametrize(
    ("shape", "side", "expected"),
    [((240, 320), 128, (128, 170)), ((320, 240), 128, (170, 128)), ((17, 33), 64, (16, 32))],
)
def test_target_size(shape, side, expected):
    assert target_size(*shape, side) == expected
