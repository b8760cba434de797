"""bepaper.data.splits against the official split files (counts from shared/splits/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bepaper.data.splits import (
    DATASETS,
    VideoItem,
    read_diving48,
    read_hmdb51,
    read_kinetics,
    read_ucf101,
)
from bepaper.errors import ConfigError, DataError


@pytest.mark.parametrize(
    ("split", "train", "test"), [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)]
)
def test_ucf101_official_counts(splits_dir, split, train, test):
    s = read_ucf101(splits_dir / "ucf101", split)
    assert len(s.classes) == 101
    assert (len(s.train), len(s.test)) == (train, test)
    assert not {v.path for v in s.train} & {v.path for v in s.test}
    assert len({v.path for v in s.train + s.test}) == 13320


def test_ucf101_labels_and_paths(splits_dir):
    s = read_ucf101(splits_dir / "ucf101", 1)
    assert s.classes[0] == "ApplyEyeMakeup" and s.classes[-1] == "YoYo"
    assert s.train[0] == VideoItem("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", 0)
    assert s.test[-1] == VideoItem("YoYo/v_YoYo_g07_c04.avi", 100)
    for item in s.train + s.test:
        assert not item.path.endswith(("\r", " "))  # CRLF and spaces stripped
        assert item.path.split("/")[0] == s.classes[item.label]
    assert {v.label for v in s.test} == set(range(101))


def test_ucf101_lf_and_no_final_newline_parse_the_same(splits_dir, tmp_path):
    for f in (splits_dir / "ucf101").iterdir():
        text = f.read_bytes().replace(b"\r\n", b"\n").rstrip(b"\n")
        (tmp_path / f.name).write_bytes(text)
    assert read_ucf101(tmp_path, 2) == read_ucf101(splits_dir / "ucf101", 2)


def _tiny_ucf(root: Path, train: str, test: str = "B/v_B_g01_c01.avi\r\n") -> Path:
    (root / "classInd.txt").write_bytes(b"1 A\r\n2 B\r\n")
    (root / "trainlist01.txt").write_text(train, newline="")
    (root / "testlist01.txt").write_text(test, newline="")
    return root


def test_ucf101_small_files(tmp_path):
    s = read_ucf101(_tiny_ucf(tmp_path, "A/v_A_g08_c01.avi 1\r\n\r\nB/v_B_g08_c01.avi 2"))
    assert s.classes == ["A", "B"]
    assert s.train == [VideoItem("A/v_A_g08_c01.avi", 0), VideoItem("B/v_B_g08_c01.avi", 1)]
    assert s.test == [VideoItem("B/v_B_g01_c01.avi", 1)]


@pytest.mark.parametrize(
    ("train", "test", "where"),
    [
        ("A/a.avi 1\r\nB/b.avi\r\n", "B/v.avi", "trainlist01.txt:2"),  # no label
        ("A/a.avi 1\r\nB/b.avi 3\r\n", "B/v.avi", "trainlist01.txt:2"),  # label out of range
        ("A/a.avi x\r\n", "B/v.avi", "trainlist01.txt:1"),  # label not a number
        ("A/a.avi 2\r\n", "B/v.avi", "trainlist01.txt:1"),  # label disagrees with the folder
        ("A/a.avi 1\r\n", "B/v.avi\r\nC/v.avi\r\n", "testlist01.txt:2"),  # unknown class
    ],
)
def test_ucf101_malformed_line_names_file_and_line(tmp_path, train, test, where):
    _tiny_ucf(tmp_path, train, test)
    with pytest.raises(DataError, match=where):
        read_ucf101(tmp_path)


def test_ucf101_missing_file_and_bad_split_number(tmp_path):
    _tiny_ucf(tmp_path, "A/a.avi 1\r\n")
    with pytest.raises(DataError, match="trainlist02.txt"):
        read_ucf101(tmp_path, 2)
    with pytest.raises(ConfigError, match="split must be 1, 2 or 3"):
        read_ucf101(tmp_path, 4)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_official_counts(splits_dir, split):
    s = read_hmdb51(splits_dir / "hmdb51", split)
    assert len(s.classes) == 51
    assert (len(s.train), len(s.test)) == (3570, 1530)
    assert not {v.path for v in s.train} & {v.path for v in s.test}
    counts = [0] * 51
    for item in s.train:
        counts[item.label] += 1
    assert counts == [70] * 51


def test_hmdb51_classes_sorted_and_paths(splits_dir):
    s = read_hmdb51(splits_dir / "hmdb51", 1)
    assert s.classes == sorted(s.classes)
    # Sorting file names instead would put sword_exercise before sword.
    assert s.classes.index("sword") + 1 == s.classes.index("sword_exercise")
    assert s.train[0] == VideoItem("brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi", 0)
    for item in s.train + s.test:
        assert item.path.split("/")[0] == s.classes[item.label]
        assert item.path.endswith(".avi")


def _tiny_hmdb(root: Path, first_file: str) -> Path:
    names = [f"class{k:02d}" for k in range(51)]
    for name in names:
        (root / f"{name}_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (root / f"{names[0]}_test_split1.txt").write_text(first_file)
    return root


def test_hmdb51_small_files(tmp_path):
    s = read_hmdb51(_tiny_hmdb(tmp_path, "x.avi 2 \ny.avi 1"))
    assert s.train[:2] == [VideoItem("class00/y.avi", 0), VideoItem("class01/a.avi", 1)]
    assert s.test[0] == VideoItem("class00/x.avi", 0)
    assert (len(s.train), len(s.test)) == (51, 51)


@pytest.mark.parametrize(
    "bad", ["a.avi 1 \nb.avi 3 \n", "a.avi 1 \nb.avi\n", "a.avi 1\nb.avi 1 2\n"]
)
def test_hmdb51_malformed_line_names_file_and_line(tmp_path, bad):
    _tiny_hmdb(tmp_path, bad)
    with pytest.raises(DataError, match=r"class00_test_split1.txt:2: malformed"):
        read_hmdb51(tmp_path)


def test_hmdb51_fewer_class_files_are_a_subset(tmp_path):
    _tiny_hmdb(tmp_path, "a.avi 1 \n")
    (tmp_path / "class07_test_split1.txt").unlink()
    s = read_hmdb51(tmp_path)
    assert len(s.classes) == 50 and "class07" not in s.classes
    assert s.classes.index("class08") == 7  # labels follow the classes present
    assert VideoItem("class08/a.avi", 7) in s.train
    assert s.note.startswith("hmdb51: split files for 50 of 51 classes")


def test_hmdb51_official_subset_of_real_files(splits_dir, tmp_path):
    """Split files of 3 classes copied from the official set (LF endings, trailing spaces)."""
    for name in ("brush_hair", "sword", "sword_exercise"):
        shutil.copy(splits_dir / "hmdb51" / f"{name}_test_split2.txt", tmp_path)
    s = read_hmdb51(tmp_path, 2)
    assert s.classes == ["brush_hair", "sword", "sword_exercise"]
    assert (len(s.train), len(s.test)) == (3 * 70, 3 * 30)
    assert "3 of 51 classes" in s.note
    full = read_hmdb51(splits_dir / "hmdb51", 2)
    assert full.note == ""
    keep = {full.classes.index(c): k for k, c in enumerate(s.classes)}
    assert s.train == [VideoItem(i.path, keep[i.label]) for i in full.train if i.label in keep]


def test_hmdb51_no_or_too_many_class_files(tmp_path):
    with pytest.raises(DataError, match="expected 51 HMDB51 split files.*found 0"):
        read_hmdb51(tmp_path)
    _tiny_hmdb(tmp_path, "a.avi 1 \n")
    (tmp_path / "extra_test_split1.txt").write_text("a.avi 1 \n")
    with pytest.raises(DataError, match="found 52"):
        read_hmdb51(tmp_path)
    with pytest.raises(DataError, match="not found"):
        read_hmdb51(tmp_path / "nowhere")


def test_diving48_official_counts(splits_dir):
    s = read_diving48(splits_dir / "diving48")
    assert len(s.classes) == 48
    assert (len(s.train), len(s.test)) == (15027, 1970)
    assert s.classes[0] == "Back_15som_05Twis_FREE"
    assert s.train[0] == VideoItem("-mmq0PT-u8k_00155.mp4", 0)
    labels = {v.label for v in s.train + s.test}
    assert labels == set(range(48)) - {30}  # label 30 has no videos, but stays a class
    assert not {v.path for v in s.train} & {v.path for v in s.test}


def test_diving48_bad_records(splits_dir, tmp_path):
    for f in (splits_dir / "diving48").iterdir():
        shutil.copy(f, tmp_path / f.name)
    test_file = tmp_path / "Diving48_V2_test.json"
    test_file.write_text('[{"vid_name": "a", "label": 0}, {"vid_name": "b", "label": 48}]')
    with pytest.raises(DataError, match="Diving48_V2_test.json: record 1"):
        read_diving48(tmp_path)
    test_file.write_text('[{"vid_name": "a", "label": 0},\n{"vid_name": "b" "label": 1}]')
    with pytest.raises(DataError, match="Diving48_V2_test.json:2: invalid JSON"):
        read_diving48(tmp_path)
    test_file.unlink()
    with pytest.raises(DataError, match="split file not found: .*Diving48_V2_test.json"):
        read_diving48(tmp_path)


KINETICS_TRAIN = """label,youtube_id,time_start,time_end,split,is_cc
abseiling,--07WQ2iBlw,1,11,train,0
air drumming,-VtLx-mcPds,14,24,train,0
"zumba",abc123,300,310,train,1
abseiling,zzz,0,10,train,0
"""
KINETICS_VAL = "label,youtube_id,time_start,time_end,split\r\nzumba,v1,5,15,val\r\n"


def test_kinetics_csv(tmp_path):
    (tmp_path / "train.csv").write_text(KINETICS_TRAIN)
    (tmp_path / "val.csv").write_text(KINETICS_VAL)
    s = read_kinetics(tmp_path / "train.csv", tmp_path / "val.csv")
    assert s.classes == ["abseiling", "air drumming", "zumba"]
    assert s.train[:3] == [
        VideoItem("abseiling/--07WQ2iBlw_000001_000011.mp4", 0),
        VideoItem("air drumming/-VtLx-mcPds_000014_000024.mp4", 1),
        VideoItem("zumba/abc123_000300_000310.mp4", 2),
    ]
    assert s.test == [VideoItem("zumba/v1_000005_000015.mp4", 2)]


@pytest.mark.parametrize(
    ("val", "match"),
    [
        ("label,youtube_id,time_start,time_end\nzumba,v1,5\n", "val.csv:2: malformed"),
        ("label,youtube_id,time_start,time_end\nzumba,v1,5,x\n", "val.csv:2: malformed"),
        ("label,youtube_id,time_start,time_end\nyoga,v1,5,15\n", "val.csv:2: class 'yoga'"),
        ("label,youtube_id,start,end\nzumba,v1,5,15\n", r"missing csv columns \['time_start'"),
    ],
)
def test_kinetics_bad_csv(tmp_path, val, match):
    (tmp_path / "train.csv").write_text(KINETICS_TRAIN)
    (tmp_path / "val.csv").write_text(val)
    with pytest.raises(DataError, match=match):
        read_kinetics(tmp_path / "train.csv", tmp_path / "val.csv")


def test_registry_reads_every_dataset_from_its_split_folder(tmp_path, splits_dir):
    assert DATASETS["ucf101"] is read_ucf101 and DATASETS["hmdb51"] is read_hmdb51
    assert len(DATASETS["ucf101"](splits_dir / "ucf101", 2).train) == 9586
    assert len(DATASETS["diving48"](splits_dir / "diving48", 1).test) == 1970
    with pytest.raises(ConfigError, match="one official split"):
        DATASETS["diving48"](splits_dir / "diving48", 2)
    (tmp_path / "train.csv").write_text(KINETICS_TRAIN)
    with pytest.raises(DataError, match="no validate.csv or val.csv"):
        DATASETS["kinetics400"](tmp_path, 1)
    (tmp_path / "validate.csv").write_text(KINETICS_VAL)
    assert DATASETS["kinetics400"](tmp_path, 1).test == [VideoItem("zumba/v1_000005_000015.mp4", 2)]
