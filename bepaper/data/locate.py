"""Find a dataset's split files where the official archives put them.

`<root>/splits` stays the first place looked (SynthBias and `bepaper prepare --resize`
write there). Then the folder names of the official downloads, inside the video root and
beside it: UCF101 `ucfTrainTestlist/`, HMDB51 `testTrainMulti_7030_splits/` (or
`test_train_splits/`), Kinetics-400 `kinetics400/` (the annotation tarball), plus the
`annotations/` folder of the mmaction2 and CVDF layouts, the video root itself and its
parent (Diving48's json files usually lie beside its `rgb/` folder).

The videos themselves: `find_video_root` steps into the folder an official archive unpacks to
(`UCF-101/`, `hmdb51_org/`, Diving48's `rgb/`, or mmaction2's `videos/` / `rawframes/`) when
the named root holds it, and `fit_to_disk` matches a parsed split to what is on disk:
Kinetics-400's `train/` and `val/` folders, frame folders named without the video's suffix
(`v_X_g01_c01/` for `v_X_g01_c01.avi`), and a subset of the classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath

from bepaper.data.splits import DATASETS, KINETICS_VAL_NAMES, Split, VideoItem
from bepaper.data.synthbias import dataset_paths
from bepaper.errors import ConfigError, DataError

DIVING48_FILES = ("Diving48_V2_train.json", "Diving48_V2_test.json", "Diving48_vocab.json")

# dataset -> folder names its official archives unpack to (relative paths, in order)
OFFICIAL_FOLDERS: dict[str, tuple[str, ...]] = {
    "ucf101": ("ucfTrainTestlist",),
    "hmdb51": (
        "testTrainMulti_7030_splits",
        "test_train_splits",
        "test_train_splits/testTrainMulti_7030_splits",
    ),
    "diving48": (),
    "kinetics400": ("kinetics400",),
}


def _has_ucf101(folder: Path, split: int) -> bool:
    names = ("classInd.txt", f"trainlist{split:02d}.txt", f"testlist{split:02d}.txt")
    return all((folder / name).is_file() for name in names)


def _has_hmdb51(folder: Path, split: int) -> bool:
    return any(folder.glob(f"*_test_split{split}.txt"))


def _has_diving48(folder: Path, split: int) -> bool:
    return all((folder / name).is_file() for name in DIVING48_FILES)


def _has_kinetics(folder: Path, split: int) -> bool:
    has_val = any((folder / name).is_file() for name in KINETICS_VAL_NAMES)
    return (folder / "train.csv").is_file() and has_val


# dataset -> (does this folder hold the split files?, what the files are called)
MARKERS: dict[str, tuple[Callable[[Path, int], bool], str]] = {
    "ucf101": (_has_ucf101, "classInd.txt, trainlist0K.txt, testlist0K.txt"),
    "hmdb51": (_has_hmdb51, "<class>_test_splitK.txt"),
    "diving48": (_has_diving48, ", ".join(DIVING48_FILES)),
    "kinetics400": (_has_kinetics, f"train.csv and {' or '.join(KINETICS_VAL_NAMES)}"),
}


def _candidates(dataset: str, root: Path) -> list[tuple[Path, str]]:
    """(folder, how it was found) in the order looked, without repeats."""
    official = OFFICIAL_FOLDERS[dataset]
    places = [(root / "splits", "the 'splits' folder inside the video root")]
    places += [
        (root / name, f"the official '{name}' folder inside the video root") for name in official
    ]
    places += [
        (root / "annotations", "the 'annotations' folder inside the video root"),
        (root, "the video root itself"),
    ]
    parent = root.parent
    places += [
        (parent / name, f"the official '{name}' folder beside the video root") for name in official
    ]
    places += [
        (parent / "splits", "the 'splits' folder beside the video root"),
        (parent / "annotations", "the 'annotations' folder beside the video root"),
        (parent, "the folder holding the video root"),
    ]
    seen: set[Path] = set()
    unique = []
    for folder, how in places:
        key = folder.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((folder, how))
    return unique


def find_split_dir(dataset: str, root: str | Path, split: int = 1) -> tuple[Path, str]:
    """(split folder, a sentence saying where and how it was found) for `dataset` with video
    root `root`. The first folder holding the files the parser of `split` needs wins.
    SynthBias: `root` is an analogue folder, its split folder is `<root>/splits`.

    Raises DataError listing every place looked when none holds them.
    """
    root = Path(root).expanduser()
    if dataset == "synthbias":
        folder = dataset_paths(root)[1]
        return folder, f"split files in {folder} (the SynthBias analogue's 'splits' folder)"
    if dataset not in MARKERS:
        choices = sorted([*DATASETS, "synthbias"])
        raise ConfigError(f"unknown dataset '{dataset}'; choose from {choices}")
    if not root.is_dir():
        raise DataError(f"data root not found: {root}")
    has_files, names = MARKERS[dataset]
    places = _candidates(dataset, root)
    for folder, how in places:
        if folder.is_dir() and has_files(folder, split):
            return folder, f"split files in {folder} ({how})"
    looked = ", ".join(str(folder) for folder, _ in places)
    raise DataError(
        f"no {dataset} split files ({names}, K = {split}) found; looked in {looked}; "
        "name the folder with --split-dir (data.split_dir)"
    )


def split_files(dataset: str, split_dir: str | Path) -> list[Path]:
    """The split files of `dataset` present in `split_dir` (every split number), e.g. to
    copy them beside resized videos. Other files in the folder are left out."""
    folder = Path(split_dir)
    if dataset == "ucf101" or dataset == "synthbias":
        patterns = ["classInd.txt", "trainlist0[1-3].txt", "testlist0[1-3].txt"]
    elif dataset == "hmdb51":
        patterns = ["*_test_split[1-3].txt"]
    elif dataset == "diving48":
        patterns = list(DIVING48_FILES)
    elif dataset == "kinetics400":
        patterns = ["train.csv", *KINETICS_VAL_NAMES, "test.csv"]
    else:
        choices = sorted([*DATASETS, "synthbias"])
        raise ConfigError(f"unknown dataset '{dataset}'; choose from {choices}")
    found = {p for pattern in patterns for p in folder.glob(pattern) if p.is_file()}
    return sorted(found)


# dataset -> classes of the official release (a split with fewer is a subset)
NUM_CLASSES: dict[str, int] = {"ucf101": 101, "hmdb51": 51, "diving48": 48, "kinetics400": 400}

# dataset -> folders inside a named root that hold the videos, tried in order: the official
# archives' names, then mmaction2's (`data/<dataset>/videos`, `.../rawframes`)
VIDEO_FOLDERS: dict[str, tuple[str, ...]] = {
    "ucf101": ("UCF-101", "UCF101", "videos", "rawframes"),
    "hmdb51": ("hmdb51_org", "hmdb51", "videos", "rawframes"),
    "diving48": ("rgb", "videos", "rawframes"),
    "kinetics400": (),
}

# Kinetics-400 subset -> the folders its videos lie in under the video root, tried in order
# (the downloaders' train/ and val/, mmaction2's videos_train/ and videos_val/); none: flat
KINETICS_FOLDERS: dict[str, tuple[str, ...]] = {
    "train": ("train", "videos_train", "rawframes_train"),
    "test": ("val", "validate", "valid", "videos_val", "rawframes_val", "test"),
}


def find_video_root(dataset: str, root: str | Path) -> Path:
    """The folder the split's relative paths start from, given the folder a user named: the
    official archive's folder inside `root` when there is one (`UCF-101/`, `hmdb51_org/`,
    Diving48's `rgb/`, mmaction2's `videos/` or `rawframes/`), else `root` itself."""
    root = Path(root).expanduser()
    for name in VIDEO_FOLDERS.get(dataset, ()):
        if (root / name).is_dir():
            return root / name
    return root


def _kinetics_class_folder(subset_dir: Path, label: str) -> str:
    """The folder of class `label` in `subset_dir`: the name as written ("air drumming"),
    with underscores ("air_drumming"), or as mmaction2 renames it (no parentheses or
    apostrophes). The name as written when none exists."""
    spaced = label.replace(" ", "_")
    stripped = spaced.translate(str.maketrans("", "", "()'"))
    for name in (label, spaced, stripped):
        if (subset_dir / name).is_dir():
            return name
    return label


def _kinetics_on_disk(video_root: Path, split: Split) -> Split:
    """Kinetics items moved into the train/ and val/ folders that exist under the root."""

    def move(items: list[VideoItem], subset: str) -> list[VideoItem]:
        folder = next((n for n in KINETICS_FOLDERS[subset] if (video_root / n).is_dir()), None)
        if folder is None:
            return items
        names: dict[str, str] = {}
        out = []
        for item in items:
            label, file = item.path.split("/", 1)
            if label not in names:
                names[label] = _kinetics_class_folder(video_root / folder, label)
            out.append(VideoItem(f"{folder}/{names[label]}/{file}", item.label))
        return out

    return replace(split, train=move(split.train, "train"), test=move(split.test, "test"))


def _spread(items: Sequence[VideoItem], n: int) -> list[VideoItem]:
    """At most `n` items spread evenly over the list."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(k * step)] for k in range(n)]


def _stem(relpath: str) -> str:
    return str(PurePosixPath(relpath).with_suffix(""))


def video_layout(video_root: str | Path, items: Sequence[VideoItem], sample: int = 64) -> str:
    """How the listed videos lie under `video_root`, judged from up to `sample` items spread
    over the list: "videos" (files), "frames" (a folder of frames at the listed path),
    "frames-stem" (a folder named without the suffix: `v_X/` for `v_X.avi`) or "missing"
    (none of them found). The first item found decides."""
    root = Path(video_root)
    for item in _spread(items, sample):
        path = root / item.path
        if path.is_file():
            return "videos"
        if path.is_dir():
            return "frames"
        if (root / _stem(item.path)).is_dir():
            return "frames-stem"
    return "missing"


def _present_classes(video_root: Path, split: Split) -> list[bool]:
    """Per class: does a folder its videos lie in exist under the root? A class with no
    videos in the lists counts as present (Diving48 keeps an empty class)."""
    folders: dict[int, set[str]] = {}
    for item in split.train + split.test:
        folders.setdefault(item.label, set()).add(str(PurePosixPath(item.path).parent))
    exists: dict[str, bool] = {}
    present = []
    for label in range(len(split.classes)):
        found = label not in folders
        for folder in sorted(folders.get(label, ())):
            if folder not in exists:
                exists[folder] = (video_root / folder).is_dir()
            found = found or exists[folder]
        present.append(found)
    return present


def fit_to_disk(dataset: str, video_root: str | Path, split: Split) -> Split:
    """`split` matched to the videos under `video_root`, without moving a file.

    - Kinetics-400: items go to the `train/` and `val/` (or `test/`, mmaction2's
      `videos_train/`, ...) folders that exist, their class folder named as on disk.
    - Frame folders named without the video's suffix (`v_X_g01_c01/` for the listed
      `v_X_g01_c01.avi`) replace the suffixed paths (a folder at the listed path already
      opens as frames).
    - A subset of the classes: when some classes have no folder under the root and others
      do, only those present are kept, relabelled 0..k-1 in the split's order, and
      `split.note` says how many. With none present the split is left whole, so that
      `bepaper prepare` lists every missing video.
    """
    root = Path(video_root)
    if dataset == "kinetics400":
        split = _kinetics_on_disk(root, split)
    if video_layout(root, split.train + split.test) == "frames-stem":
        split = replace(
            split,
            train=[VideoItem(_stem(i.path), i.label) for i in split.train],
            test=[VideoItem(_stem(i.path), i.label) for i in split.test],
        )
    present = _present_classes(root, split)
    if all(present) or not any(present):
        return split
    new = {old: k for k, old in enumerate(i for i, ok in enumerate(present) if ok)}
    classes = [name for name, ok in zip(split.classes, present, strict=True) if ok]
    official = NUM_CLASSES.get(dataset, len(split.classes))
    note = (
        f"{dataset}: {len(classes)} of {len(split.classes)} listed classes have a folder in "
        f"{root} (the full set has {official}); using those {len(classes)}"
    )
    return Split(
        classes,
        [VideoItem(i.path, new[i.label]) for i in split.train if i.label in new],
        [VideoItem(i.path, new[i.label]) for i in split.test if i.label in new],
        note="; ".join(n for n in (split.note, note) if n),
    )
