"""bepaper.data.locate: split files are found where the official archives put them.

The layouts are built with symlinks to the real official split files in ../shared/splits
(the `splits_dir` fixture skips when they are absent), and each folder found is parsed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bepaper.data.locate import (
    find_split_dir,
    find_video_root,
    fit_to_disk,
    split_files,
    video_layout,
)
from bepaper.data.splits import DATASETS, Split, VideoItem
from bepaper.data.synthbias import generate
from bepaper.errors import ConfigError, DataError


def _link_folder(target: Path, source: Path) -> Path:
    """`target` -> `source` (the archive's folder as it unpacks)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=True)
    return target


def _link_files(folder: Path, source: Path) -> Path:
    """Each file of `source` linked into `folder` (files moved out of the archive's folder,
    as mmaction2's download scripts do)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        if f.is_file():
            (folder / f.name).symlink_to(f)
    return folder


def _root(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_ucf101_beside_the_video_root(tmp_path, splits_dir):
    root = _root(tmp_path / "UCF-101")
    lists = _link_folder(tmp_path / "ucfTrainTestlist", splits_dir / "ucf101")
    folder, how = find_split_dir("ucf101", root)
    assert folder == lists
    assert (
        how
        == f"split files in {lists} (the official 'ucfTrainTestlist' folder beside the video root)"
    )
    split = DATASETS["ucf101"](folder, 1)
    assert (len(split.classes), len(split.train), len(split.test)) == (101, 9537, 3783)
    assert find_split_dir("ucf101", root, split=3)[0] == lists


def test_ucf101_inside_the_root_and_the_splits_folder_first(tmp_path, splits_dir):
    root = _root(tmp_path / "UCF-101")
    inside = _link_folder(root / "ucfTrainTestlist", splits_dir / "ucf101")
    _link_folder(tmp_path / "ucfTrainTestlist", splits_dir / "ucf101")
    folder, how = find_split_dir("ucf101", root)
    assert folder == inside and "inside the video root" in how
    own = _link_files(root / "splits", splits_dir / "ucf101")  # bepaper's own layout wins
    assert find_split_dir("ucf101", root) == (
        own,
        f"split files in {own} (the 'splits' folder inside the video root)",
    )


def test_ucf101_mmaction_layout(tmp_path, splits_dir):
    """data/ucf101/videos + data/ucf101/annotations/{classInd,trainlist01,...}.txt"""
    root = _root(tmp_path / "ucf101" / "videos")
    annotations = _link_files(tmp_path / "ucf101" / "annotations", splits_dir / "ucf101")
    folder, how = find_split_dir("ucf101", root)
    assert folder == annotations and "'annotations' folder beside the video root" in how
    assert len(DATASETS["ucf101"](folder, 2).train) == 9586


def test_a_folder_without_the_requested_split_is_passed_over(tmp_path, splits_dir):
    root = _root(tmp_path / "UCF-101")
    only1 = tmp_path / "ucfTrainTestlist"
    only1.mkdir()
    for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt"):
        (only1 / name).symlink_to(splits_dir / "ucf101" / name)
    assert find_split_dir("ucf101", root, split=1)[0] == only1
    with pytest.raises(DataError, match="trainlist0K.txt, testlist0K.txt, K = 2"):
        find_split_dir("ucf101", root, split=2)


@pytest.mark.parametrize(
    "folder_name",
    [
        "testTrainMulti_7030_splits",
        "test_train_splits",
        "test_train_splits/testTrainMulti_7030_splits",
    ],
)
def test_hmdb51_official_folders(tmp_path, splits_dir, folder_name):
    root = _root(tmp_path / "hmdb51_org")
    lists = _link_folder(tmp_path / folder_name, splits_dir / "hmdb51")
    folder, how = find_split_dir("hmdb51", root)
    assert folder == lists and f"official '{folder_name}' folder beside" in how
    split = DATASETS["hmdb51"](folder, 1)
    assert (len(split.classes), len(split.train), len(split.test)) == (51, 3570, 1530)


def test_diving48_json_files_beside_the_rgb_folder(tmp_path, splits_dir):
    home = _link_files(tmp_path / "Diving48", splits_dir / "diving48")
    root = _root(home / "rgb")
    folder, how = find_split_dir("diving48", root)
    assert folder == home and how.endswith("(the folder holding the video root)")
    split = DATASETS["diving48"](folder, 1)
    assert (len(split.classes), len(split.train), len(split.test)) == (48, 15027, 1970)
    _link_files(root, splits_dir / "diving48")  # inside the video root comes first
    assert find_split_dir("diving48", root)[0] == root


KINETICS_CSV = "label,youtube_id,time_start,time_end,split\n{}\n"


@pytest.mark.parametrize("layout", ["annotations", "kinetics400"])
def test_kinetics400_csv_folders(tmp_path, layout):
    root = _root(tmp_path / "k400" / "videos")
    csvs = tmp_path / "k400" / layout
    csvs.mkdir()
    (csvs / "train.csv").write_text(KINETICS_CSV.format("abseiling,aaa,10,20,train"))
    (csvs / "validate.csv").write_text(KINETICS_CSV.format("abseiling,bbb,0,10,val"))
    folder, how = find_split_dir("kinetics400", root)
    assert folder == csvs and f"'{layout}' folder beside the video root" in how
    split = DATASETS["kinetics400"](folder, 1)
    assert [item.path for item in split.test] == ["abseiling/bbb_000000_000010.mp4"]


def test_nothing_found_lists_every_place_looked(tmp_path):
    root = _root(tmp_path / "UCF-101")
    with pytest.raises(DataError) as info:
        find_split_dir("ucf101", root)
    message = str(info.value)
    assert "\n" not in message and "--split-dir" in message
    for place in [
        root / "splits",
        root / "ucfTrainTestlist",
        root / "annotations",
        root,
        tmp_path / "ucfTrainTestlist",
        tmp_path / "splits",
        tmp_path / "annotations",
        tmp_path,
    ]:
        assert f"{place}," in message or f"{place};" in message, place


def test_bad_names_and_roots(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown dataset 'ucf'; choose from \["):
        find_split_dir("ucf", tmp_path)
    with pytest.raises(DataError, match="data root not found"):
        find_split_dir("ucf101", tmp_path / "nowhere")


def test_synthbias_analogue(tmp_path):
    folder = generate(tmp_path, size="tiny", analogues=("ucf101like",), workers=1, progress=False)
    found, how = find_split_dir("synthbias", folder["ucf101like"])
    assert found == folder["ucf101like"] / "splits" and "SynthBias" in how


def test_split_files_are_the_parsers_files_only(tmp_path, splits_dir):
    assert len(split_files("hmdb51", splits_dir / "hmdb51")) == 153
    assert [p.name for p in split_files("diving48", splits_dir / "diving48")] == [
        "Diving48_V2_test.json",
        "Diving48_V2_train.json",
        "Diving48_vocab.json",
    ]
    mixed = _link_files(tmp_path / "mixed", splits_dir / "ucf101")
    (mixed / "notes.txt").write_text("not a split file")
    (mixed / "UCF101.rar").write_bytes(b"")
    names = [p.name for p in split_files("ucf101", mixed)]
    assert names == sorted(p.name for p in (splits_dir / "ucf101").glob("*.txt"))
    assert len(names) == 7


@pytest.mark.parametrize(
    ("dataset", "inside"),
    [
        ("ucf101", "UCF-101"),
        ("ucf101", "videos"),
        ("hmdb51", "hmdb51_org"),
        ("hmdb51", "rawframes"),
        ("diving48", "rgb"),
    ],
)
def test_find_video_root_steps_into_the_archives_folder(tmp_path, dataset, inside):
    assert find_video_root(dataset, tmp_path) == tmp_path  # nothing inside: the root itself
    (tmp_path / inside).mkdir()
    assert find_video_root(dataset, tmp_path) == tmp_path / inside
    assert find_video_root("kinetics400", tmp_path) == tmp_path


def test_fit_to_disk_leaves_a_split_with_no_class_on_disk_whole(tmp_path, splits_dir):
    """A wrong root: nothing is dropped, so `bepaper prepare` lists every missing video."""
    split = DATASETS["ucf101"](splits_dir / "ucf101", 1)
    assert video_layout(tmp_path, split.train) == "missing"
    assert fit_to_disk("ucf101", tmp_path, split) == split
    assert fit_to_disk("ucf101", tmp_path, split).note == ""


def test_fit_to_disk_kinetics_folder_names_and_frames_with_suffix(tmp_path):
    label = "passing American football (in game)"
    split = Split(
        [label, "zumba"],
        [VideoItem(f"{label}/a_000001_000011.mp4", 0), VideoItem("zumba/b_000000_000010.mp4", 1)],
        [VideoItem("zumba/c_000002_000012.mp4", 1)],
    )
    # mmaction2's renamed class folders, frames in folders named like the video (suffix kept)
    on_disk = [
        "videos_train/passing_American_football_in_game/a_000001_000011.mp4",
        "videos_val/zumba/c_000002_000012.mp4",
    ]
    for rel in on_disk:
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "img_00001.jpg").write_bytes(b"")
    fitted = fit_to_disk("kinetics400", tmp_path, split)
    assert [i.path for i in fitted.train] == [on_disk[0], "videos_train/zumba/b_000000_000010.mp4"]
    assert [i.path for i in fitted.test] == [on_disk[1]]
    assert fitted.classes == split.classes and fitted.note == ""  # zumba has its val folder
    assert video_layout(tmp_path, fitted.train) == "frames"
