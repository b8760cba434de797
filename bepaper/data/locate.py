"""Find a dataset's split files where the official archives put them.

`<root>/splits` stays the first place looked (SynthBias and `bepaper prepare --resize`
write there). Then the folder names of the official downloads, inside the video root and
beside it: UCF101 `ucfTrainTestlist/`, HMDB51 `testTrainMulti_7030_splits/` (or
`test_train_splits/`), Kinetics-400 `kinetics400/` (the annotation tarball), plus the
`annotations/` folder of the mmaction2 and CVDF layouts, the video root itself and its
parent (Diving48's json files usually lie beside its `rgb/` folder).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bepaper.data.splits import DATASETS, KINETICS_VAL_NAMES
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
