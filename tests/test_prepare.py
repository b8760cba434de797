"""bepaper.data.prepare: a dataset folder with good, broken and missing videos."""

from __future__ import annotations

import shutil

import pytest

from bepaper.data.prepare import check_dataset, format_report
from bepaper.data.splits import Split, VideoItem
from bepaper.errors import DataError

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
