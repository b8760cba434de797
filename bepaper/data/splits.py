"""Parsers of the official train/test split files.

Each reader returns a `Split`: class names (index = 0-based label) and the train and test
videos, with paths relative to the dataset's video root. A missing file or a malformed line
raises `DataError` naming the file (and the line or record).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bepaper.errors import ConfigError, DataError


@dataclass(frozen=True)
class VideoItem:
    """One video: its path under the video root and its 0-based label."""

    path: str
    label: int


@dataclass
class Split:
    """Class names and the videos of one train/test split. `note` is a sentence for the user
    when the split is not the whole dataset (a subset of its classes), else ""."""

    classes: list[str]
    train: list[VideoItem]
    test: list[VideoItem]
    note: str = field(default="", compare=False)


def _check_split_number(dataset: str, split: int) -> None:
    if split not in (1, 2, 3):
        raise ConfigError(f"{dataset} split must be 1, 2 or 3, got {split!r}")


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataError(f"split file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a text file ({err.reason})") from err


def _read_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(1-based line number, whitespace-separated fields) of each non-blank line.

    Handles CRLF or LF endings, trailing spaces and a missing final newline.
    """
    lines = _read_text(path).splitlines()
    return [(n, line.split()) for n, line in enumerate(lines, start=1) if line.strip()]


def _malformed(path: Path, line: int, expected: str) -> DataError:
    return DataError(f"{path}:{line}: malformed line, expected {expected}")


def _class_folder(relpath: str) -> str:
    return relpath.split("/", 1)[0] if "/" in relpath else ""


def read_ucf101(split_dir: str | Path, split: int = 1) -> Split:
    """UCF101 `ucfTrainTestlist`: classInd.txt, trainlist0K.txt and testlist0K.txt.

    classInd and train labels are 1-based in the files; test labels come from the class
    folder of each path. Paths look like "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi".
    """
    _check_split_number("UCF101", split)
    root = Path(split_dir)

    path = root / "classInd.txt"
    classes: list[str] = []
    for n, fields in _read_lines(path):
        if len(fields) != 2 or fields[0] != str(len(classes) + 1):
            raise _malformed(path, n, f"'{len(classes) + 1} <ClassName>'")
        classes.append(fields[1])
    index = {name: label for label, name in enumerate(classes)}

    path = root / f"trainlist{split:02d}.txt"
    train = []
    for n, fields in _read_lines(path):
        if len(fields) != 2 or not fields[1].isdigit() or not 1 <= int(fields[1]) <= len(classes):
            raise _malformed(path, n, f"'<Class>/<video>.avi <label 1..{len(classes)}>'")
        label = int(fields[1]) - 1
        if _class_folder(fields[0]) != classes[label]:
            raise DataError(
                f"{path}:{n}: label {label + 1} is class '{classes[label]}' "
                f"but the video is in folder '{_class_folder(fields[0])}'"
            )
        train.append(VideoItem(fields[0], label))

    path = root / f"testlist{split:02d}.txt"
    test = []
    for n, fields in _read_lines(path):
        if len(fields) != 1 or _class_folder(fields[0]) not in index:
            raise _malformed(path, n, "'<Class>/<video>.avi' with a class from classInd.txt")
        test.append(VideoItem(fields[0], index[_class_folder(fields[0])]))
    return Split(classes, train, test)


HMDB51_NUM_CLASSES = 51


def read_hmdb51(split_dir: str | Path, split: int = 1) -> Split:
    """HMDB51 `testTrainMulti_7030_splits`: one `<class>_test_split<K>.txt` per class.

    Each line is `<video>.avi <flag>`: 1 = train, 2 = test, 0 = unused. Labels follow the
    class names sorted alphabetically. Paths look like "brush_hair/<video>.avi". Fewer than
    51 files is a subset of the classes (`note` says how many).
    """
    _check_split_number("HMDB51", split)
    root = Path(split_dir)
    suffix = f"_test_split{split}.txt"
    if not root.is_dir():
        raise DataError(f"HMDB51 split folder not found: {root}")
    # Sort the class names, not the file names: "sword" < "sword_exercise", but
    # "sword_exercise_test..." < "sword_test...".
    classes = sorted(p.name[: -len(suffix)] for p in root.glob(f"*{suffix}"))
    if not 1 <= len(classes) <= HMDB51_NUM_CLASSES:
        raise DataError(
            f"expected {HMDB51_NUM_CLASSES} HMDB51 split files '*{suffix}' in {root} "
            f"(fewer for a subset of the classes), found {len(classes)}"
        )
    note = ""
    if len(classes) < HMDB51_NUM_CLASSES:
        note = (
            f"hmdb51: split files for {len(classes)} of {HMDB51_NUM_CLASSES} classes in "
            f"{root}; using those {len(classes)}"
        )
    train, test = [], []
    for label, name in enumerate(classes):
        path = root / f"{name}{suffix}"
        for n, fields in _read_lines(path):
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise _malformed(path, n, "'<video>.avi <0|1|2>'")
            item = VideoItem(f"{name}/{fields[0]}", label)
            if fields[1] == "1":
                train.append(item)
            elif fields[1] == "2":
                test.append(item)
    return Split(classes, train, test, note)


def _read_json(path: Path) -> object:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from err


def _diving48_items(path: Path, num_classes: int) -> list[VideoItem]:
    records = _read_json(path)
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records")
    items = []
    for k, record in enumerate(records):
        name = record.get("vid_name") if isinstance(record, dict) else None
        label = record.get("label") if isinstance(record, dict) else None
        if (
            not isinstance(name, str)
            or not isinstance(label, int)
            or isinstance(label, bool)
            or not 0 <= label < num_classes
        ):
            raise DataError(
                f"{path}: record {k}: expected {{'vid_name': str, 'label': 0..{num_classes - 1}}}"
            )
        items.append(VideoItem(f"{name}.mp4", label))
    return items


def read_diving48(split_dir: str | Path) -> Split:
    """Diving48 V2: Diving48_V2_train.json, Diving48_V2_test.json and Diving48_vocab.json.

    Class i is vocab entry i joined with "_" (e.g. "Back_15som_05Twis_FREE"). All 48
    classes are kept, although label 30 has no videos in V2. Paths look like "<vid_name>.mp4".
    """
    root = Path(split_dir)
    path = root / "Diving48_vocab.json"
    vocab = _read_json(path)
    if not isinstance(vocab, list) or not all(
        isinstance(entry, list) and all(isinstance(part, str) for part in entry) for entry in vocab
    ):
        raise DataError(f"{path}: expected a JSON list of lists of strings")
    classes = ["_".join(entry) for entry in vocab]
    train = _diving48_items(root / "Diving48_V2_train.json", len(classes))
    test = _diving48_items(root / "Diving48_V2_test.json", len(classes))
    return Split(classes, train, test)


KINETICS_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


def _read_kinetics_csv(path: Path) -> list[tuple[int, str, str]]:
    """(line number, class name, relative path) of each row of a Kinetics csv."""
    rows = csv.DictReader(_read_text(path).splitlines())
    missing = [c for c in KINETICS_COLUMNS if c not in (rows.fieldnames or [])]
    if missing:
        raise DataError(f"{path}: missing csv columns {missing}")
    out = []
    for row in rows:
        label, youtube_id = row["label"], row["youtube_id"]
        start, end = row["time_start"], row["time_end"]
        if not label or not youtube_id or not (start or "").isdigit() or not (end or "").isdigit():
            raise _malformed(path, rows.line_num, "'label,youtube_id,<int start>,<int end>,...'")
        out.append(
            (rows.line_num, label, f"{label}/{youtube_id}_{int(start):06d}_{int(end):06d}.mp4")
        )
    return out


def read_kinetics(train_csv: str | Path, val_csv: str | Path) -> Split:
    """Kinetics-400 csv files (`label,youtube_id,time_start,time_end,split[,is_cc]`).

    Classes are the training labels sorted. Paths follow the common downloader layout:
    "<label>/<youtube_id>_<start:06d>_<end:06d>.mp4", the label kept as written (spaces too).
    """
    train_rows = _read_kinetics_csv(Path(train_csv))
    classes = sorted({label for _, label, _ in train_rows})
    index = {name: label for label, name in enumerate(classes)}
    train = [VideoItem(relpath, index[label]) for _, label, relpath in train_rows]
    test = []
    for n, label, relpath in _read_kinetics_csv(Path(val_csv)):
        if label not in index:
            raise DataError(f"{val_csv}:{n}: class '{label}' is not in {train_csv}")
        test.append(VideoItem(relpath, index[label]))
    return Split(classes, train, test)


KINETICS_VAL_NAMES = ("validate.csv", "val.csv")  # the release's name, then a common one


def read_kinetics_dir(split_dir: str | Path) -> Split:
    """Kinetics-400 from a folder holding `train.csv` and `validate.csv` (or `val.csv`)."""
    root = Path(split_dir)
    val = next((root / n for n in KINETICS_VAL_NAMES if (root / n).is_file()), None)
    if val is None:
        raise DataError(f"no {' or '.join(KINETICS_VAL_NAMES)} in {root}")
    return read_kinetics(root / "train.csv", val)


def _single_split(reader: Callable[[Path], Split]) -> Callable[..., Split]:
    """A reader of a dataset with one official split, called like the others."""

    def read(split_dir: str | Path, split: int = 1) -> Split:
        if split != 1:
            raise ConfigError(f"this dataset has one official split; got data.split={split}")
        return reader(Path(split_dir))

    return read


# name -> reader(split_dir, split): every dataset the CLI and the loaders know.
DATASETS: dict[str, Callable[..., Split]] = {
    "ucf101": read_ucf101,
    "hmdb51": read_hmdb51,
    "diving48": _single_split(read_diving48),
    "kinetics400": _single_split(read_kinetics_dir),
}
# every value data.dataset takes: SynthBias folders are read with UCF101's reader
FORMATS = ("synthbias", *DATASETS)
