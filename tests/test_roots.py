"""bepaper.data.roots: datasets.yaml and environment variables name the dataset roots.

Each layout is built as the official archives unpack (split folders are symlinks to the real
official split files in ../shared/splits; the `splits_dir` fixture skips when absent, and
fails in CI), with tiny real encoded videos, or folders of real JPEG frames, for some of the
listed videos.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import write_kinetics_csv

from bepaper.config import DataConfig
from bepaper.data.datasets import LabeledClips, load_split
from bepaper.data.prepare import check_dataset
from bepaper.data.roots import check_roots, read_roots, resolve_roots
from bepaper.data.splits import read_diving48, read_hmdb51, read_ucf101
from bepaper.errors import ConfigError, DataError

NO_ENV: dict[str, str] = {}


@pytest.fixture(scope="module")
def avi(tmp_path_factory, tiny_frames, write_video) -> Path:
    """A real MPEG-4 Part 2 .avi, as UCF101 and HMDB51 ship theirs."""
    return write_video(tmp_path_factory.mktemp("avi") / "tiny.avi", tiny_frames, codec="mpeg4")


def _place(root: Path, relpaths: list[str], video: Path) -> None:
    for rel in relpaths:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, root / rel)


def _yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _ucf101(home: Path, splits_dir: Path, avi: Path, classes: tuple[str, ...]) -> list[str]:
    """<home>/UCF-101/<Class>/*.avi for two listed videos of each class in `classes`, and
    <home>/ucfTrainTestlist beside it. Returns the placed relative paths."""
    (home / "UCF-101").mkdir(parents=True)
    (home / "ucfTrainTestlist").symlink_to(splits_dir / "ucf101", target_is_directory=True)
    split = read_ucf101(splits_dir / "ucf101", 1)
    placed = []
    for name in classes:
        label = split.classes.index(name)
        placed += [i.path for i in split.train if i.label == label][:2]
    _place(home / "UCF-101", placed, avi)
    return placed


def test_ucf101_class_subset_named_by_either_folder(tmp_path, splits_dir, avi):
    home = tmp_path / "data" / "UCF101"
    placed = _ucf101(home, splits_dir, avi, ("ApplyEyeMakeup", "Basketball", "YoYo"))
    config = _yaml(tmp_path / "datasets.yaml", "ucf101: data/UCF101\n")  # relative to the file
    roots = resolve_roots(config, env=NO_ENV, probe=True)
    assert list(roots) == ["ucf101"]
    r = roots["ucf101"]
    assert r.video_root == home / "UCF-101" and r.split_dir == home / "ucfTrainTestlist"
    assert (r.backend, r.classes_found, r.classes_total) == ("videos", 3, 101)
    assert "3 of 101 listed classes" in r.note and "'ucfTrainTestlist' folder beside" in r.found
    assert r.origin == f"key 'ucf101' in {config}"
    assert r.data_overrides() == {"data.dataset": "ucf101", "data.root": str(home)}
    # The same path as `bepaper prepare --root`: the classes present, relabelled 0..2.
    video_root, split = load_split(DataConfig(**_data(r.data_overrides())))
    assert video_root == r.video_root
    assert split.classes == ["ApplyEyeMakeup", "Basketball", "YoYo"]
    assert {i.label for i in split.train} == {0, 1, 2}
    assert all(i.path.split("/")[0] == split.classes[i.label] for i in split.train + split.test)
    full = read_ucf101(splits_dir / "ucf101", 1)
    expected = sum(1 for i in full.train if full.classes[i.label] in split.classes)
    assert len(split.train) == expected
    report = check_dataset(video_root, split, progress=False)
    assert report.ok == len(placed) and report.listed == len(split.train) + len(split.test)
    # Naming UCF-101 itself finds the same videos and split files.
    same = check_roots(["ucf101"], env={"BEPAPER_UCF101": str(home / "UCF-101")}, probe=False)
    assert same["ucf101"].video_root == r.video_root and same["ucf101"].split_dir == r.split_dir
    assert same["ucf101"].origin == "BEPAPER_UCF101"


def _data(overrides: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix("data."): v for k, v in overrides.items()}


def test_hmdb51_with_fewer_split_files_says_how_many(tmp_path, splits_dir, avi):
    """Split files for 3 classes (official bytes: LF, trailing spaces) in the official folder
    inside the video root, and the class folders of .avi."""
    root = tmp_path / "hmdb51"
    lists = root / "testTrainMulti_7030_splits"
    lists.mkdir(parents=True)
    names = ("brush_hair", "sword", "sword_exercise")
    for name in names:
        for k in (1, 2, 3):
            shutil.copy(splits_dir / "hmdb51" / f"{name}_test_split{k}.txt", lists)
    split = read_hmdb51(lists, 1)
    _place(root, [next(i.path for i in split.test if i.label == k) for k in range(3)], avi)
    r = check_roots(["hmdb51"], env={"BEPAPER_HMDB51": str(root)})["hmdb51"]
    assert (r.classes_found, r.classes_total, r.split_dir) == (3, 51, lists)
    assert r.note == f"hmdb51: split files for 3 of 51 classes in {lists}; using those 3"
    assert "3 of 51 classes" in r.summary()
    # Videos of 2 of those 3 classes: 2 used, and both reasons are given.
    shutil.rmtree(root / "sword")
    r = check_roots(["hmdb51"], env={"BEPAPER_HMDB51": str(root)})["hmdb51"]
    assert r.classes_found == 2
    assert r.note.endswith(
        f"2 of 3 listed classes have a folder in {root} (the full set has 51); using those 2"
    )


def test_diving48_rgb_folder_and_json_beside(tmp_path, splits_dir, tiny_video):
    home = tmp_path / "Diving48"
    home.mkdir()
    for f in (splits_dir / "diving48").iterdir():
        (home / f.name).symlink_to(f)
    split = read_diving48(splits_dir / "diving48")
    _place(home / "rgb", [split.train[0].path, split.test[0].path], tiny_video)
    config = _yaml(tmp_path / "d.yaml", f"diving48:\n  root: {home}\n")
    r = check_roots(["diving48"], config, env=NO_ENV)["diving48"]
    assert (r.video_root, r.split_dir) == (home / "rgb", home)
    assert (r.classes_found, r.note, r.backend) == (48, "", "videos")


def test_kinetics_train_and_val_class_folders(tmp_path, tiny_video):
    """The downloaders' train/<label>/ and val/<label>/ (spaces as underscores), with the
    csv annotations in the official 'kinetics400' folder beside the videos."""
    home = tmp_path / "k400"
    rows = [("air drumming", "aa", 1, 11, "train"), ("abseiling", "bb", 0, 10, "train")]
    write_kinetics_csv(home / "kinetics400" / "train.csv", rows)
    write_kinetics_csv(
        home / "kinetics400" / "validate.csv", [("air drumming", "cc", 5, 15, "val")]
    )
    _place(
        home,
        ["train/air_drumming/aa_000001_000011.mp4", "val/air_drumming/cc_000005_000015.mp4"],
        tiny_video,
    )
    (home / "train" / "abseiling").mkdir()  # the class folder is there, its video is not
    r = check_roots(["kinetics400"], env={"BEPAPER_KINETICS400": str(home)})["kinetics400"]
    assert (r.video_root, r.split_dir, r.classes_found) == (home, home / "kinetics400", 2)
    _, split = load_split(DataConfig(dataset="kinetics400", root=str(home)))
    assert [i.path for i in split.train] == [
        "train/air_drumming/aa_000001_000011.mp4",
        "train/abseiling/bb_000000_000010.mp4",
    ]
    assert [i.path for i in split.test] == ["val/air_drumming/cc_000005_000015.mp4"]
    report = check_dataset(home, split, progress=False)
    assert (report.ok, report.missing) == (2, 1)


def test_frame_folders_named_without_the_suffix(tmp_path, splits_dir, tiny_frames):
    """rawframes/<Class>/v_X_gYY_cZZ/img_00001.jpg (mmaction2's layout) for the listed
    v_X_gYY_cZZ.avi; the annotations folder beside."""
    home = tmp_path / "ucf101"
    home.mkdir()
    (home / "annotations").symlink_to(splits_dir / "ucf101", target_is_directory=True)
    split = read_ucf101(splits_dir / "ucf101", 1)
    first = split.train[0].path  # ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi
    folder = home / "rawframes" / first.removesuffix(".avi")
    folder.mkdir(parents=True)
    for k, frame in enumerate(tiny_frames[:12], start=1):
        cv2.imwrite(str(folder / f"img_{k:05d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    r = check_roots(["ucf101"], env={"BEPAPER_UCF101": str(home)})["ucf101"]
    assert (r.backend, r.video_root, r.classes_found) == ("frames", home / "rawframes", 1)
    assert r.data_overrides()["data.backend"] == "frames"
    cfg = DataConfig(**_data(r.data_overrides()), num_frames=4, stride=2, load_size=32)
    video_root, parsed = load_split(cfg)
    assert parsed.train[0].path == first.removesuffix(".avi")
    sample = LabeledClips(video_root, parsed.train[:1], cfg, train=False, num_clips=2)[0]
    assert sample is not None and sample["clip"].shape == (2, 4, 32, 32, 3)
    jpeg = cv2.cvtColor(cv2.imread(str(folder / "img_00001.jpg")), cv2.COLOR_BGR2RGB)
    small = cv2.resize(jpeg, (43, 32), interpolation=cv2.INTER_AREA)[:, 5:37]
    np.testing.assert_array_equal(sample["clip"][0, 0], small)  # frame 0 of clip 0


def test_one_error_lists_every_unusable_root(tmp_path, splits_dir, avi):
    ucf = tmp_path / "UCF101"
    _ucf101(ucf, splits_dir, avi, ("YoYo",))
    dive = tmp_path / "Diving48"
    (dive / "rgb").mkdir(parents=True)  # videos folder, no json files
    bare = tmp_path / "k400"
    bare.mkdir()
    (bare / "train.csv").write_text("label,youtube_id,time_start,time_end\na,x,1,11\n")
    (bare / "val.csv").write_text("label,youtube_id,time_start,time_end\na,y,1,11\n")
    config = _yaml(
        tmp_path / "datasets.yaml",
        f"ucf101: {ucf}\ndiving48: {dive}\nkinetics400: {bare}\nhmdb51:\n",
    )
    env = {"BEPAPER_DIVING48": str(tmp_path / "nowhere")}
    with pytest.raises(DataError) as info:
        check_roots(["ucf101", "hmdb51", "diving48", "kinetics400"], config, env=env)
    message = str(info.value)
    assert "\n" not in message and message.startswith("3 dataset roots not usable: ")
    assert "ucf101" not in message  # found
    hmdb, diving, kinetics = message.split(": ", 1)[1].split(" | ")
    assert hmdb.startswith("hmdb51: not configured (expected <class>/*.avi")
    assert f"fix 'hmdb51:' (root, or split_dir) in {config} or set BEPAPER_HMDB51" in hmdb
    assert diving.startswith(f"diving48: {tmp_path / 'nowhere'} (from BEPAPER_DIVING48): ")
    assert "is not a folder" in diving and "fix BEPAPER_DIVING48" in diving
    assert f"none of the 2 videos listed in {bare} is under {bare}" in kinetics
    assert f"looked for e.g. {bare / 'a' / 'x_000001_000011.mp4'}" in kinetics
    assert f"fix 'kinetics400:' (root, or split_dir) in {config}" in kinetics
    # Without the variable: diving48's json files are missing, and each place looked is named.
    with pytest.raises(DataError) as info:
        check_roots(["diving48"], config, env=NO_ENV)
    message = str(info.value)
    assert "no diving48 split files (Diving48_V2_train.json" in message
    assert f"{dive / 'rgb'}, " in message and f"{dive};" in message


def test_a_video_that_does_not_decode_is_named(tmp_path, splits_dir, avi):
    home = tmp_path / "UCF101"
    placed = _ucf101(home, splits_dir, avi, ("ApplyEyeMakeup",))
    (home / "UCF-101" / placed[0]).write_bytes(b"RIFF" + bytes(range(256)) * 4)
    env = {"BEPAPER_UCF101": str(home)}
    with pytest.raises(DataError, match=f"{placed[0]}, does not decode"):
        check_roots(["ucf101"], env=env)
    assert check_roots(["ucf101"], env=env, probe=False)["ucf101"].classes_found == 1


def test_environment_overrides_the_file_and_file_lookup(tmp_path, monkeypatch, splits_dir, avi):
    a, b = tmp_path / "a", tmp_path / "b"
    _ucf101(a, splits_dir, avi, ("YoYo",))
    _ucf101(b, splits_dir, avi, ("YoYo", "Basketball"))
    (tmp_path / "conf").mkdir()
    config = _yaml(
        tmp_path / "conf" / "mine.yaml",
        f"ucf101:\n  root: {a}\n  split_dir: {a / 'ucfTrainTestlist'}\n",
    )
    monkeypatch.chdir(tmp_path)
    entries, file = read_roots(env={"BEPAPER_DATASETS": "conf/mine.yaml"})
    assert file == config and entries["ucf101"].root == a
    r = check_roots(["ucf101"], env={"BEPAPER_DATASETS": str(config)})["ucf101"]
    assert r.data_overrides()["data.split_dir"] == str(a / "ucfTrainTestlist")
    env = {"BEPAPER_DATASETS": str(config), "BEPAPER_UCF101": str(b)}
    r = check_roots(["ucf101"], env=env)["ucf101"]
    assert (r.root, r.classes_found, r.origin) == (b, 2, "BEPAPER_UCF101")
    assert "data.split_dir" not in r.data_overrides()  # the variable replaces the whole entry
    # ./datasets.yaml is read when nothing names a file
    _yaml(tmp_path / "datasets.yaml", f"ucf101: {b}\n")
    assert read_roots(env=NO_ENV)[1] == tmp_path / "datasets.yaml"
    assert resolve_roots(env=NO_ENV)["ucf101"].classes_found == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ucf: /x\n", r"unknown dataset 'ucf'; choose from \['diving48', "),
        ("ucf101:\n  root: /x\n  splits: /y\n", r"unknown key ucf101.splits; choose from"),
        ("ucf101:\n  split_dir: /y\n", "ucf101 has no 'root'"),
        ("ucf101: [1, 2]\n", "ucf101 must be a path or a mapping"),
        ("ucf101: /x\n hmdb51: /y\n", r"d.yaml:2: not valid YAML"),
        ("- /x\n", "expected a mapping of dataset -> root"),
    ],
)
def test_malformed_datasets_file(tmp_path, text, match):
    config = _yaml(tmp_path / "d.yaml", text)
    with pytest.raises(ConfigError, match=match):
        read_roots(config, env=NO_ENV)


def test_missing_datasets_file_and_unknown_dataset(tmp_path):
    with pytest.raises(ConfigError, match=r"datasets file not found: .*x.yaml \(named by BEPAPER"):
        read_roots(env={"BEPAPER_DATASETS": str(tmp_path / "x.yaml")})
    with pytest.raises(ConfigError, match="unknown dataset 'ucf'"):
        check_roots(["ucf"], env=NO_ENV)
    with pytest.raises(DataError, match="1 dataset root not usable: ucf101: not configured"):
        check_roots(["ucf101"], _yaml(tmp_path / "d.yaml", "# nothing yet\n"), env=NO_ENV)


def test_example_file_parses(tmp_path):
    """datasets.example.yaml at the repository root is valid and names every dataset."""
    example = Path(__file__).resolve().parents[1] / "datasets.example.yaml"
    entries, _ = read_roots(example, env=NO_ENV)
    assert sorted(entries) == ["diving48", "hmdb51", "kinetics400", "ucf101"]
    assert entries["hmdb51"].split_dir == Path("/data/hmdb51/testTrainMulti_7030_splits")
    assert entries["ucf101"].root == Path("/data/UCF101")
