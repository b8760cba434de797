"""Where the real datasets lie on this machine, named once.

A `datasets.yaml` file (the path in `BEPAPER_DATASETS`, else `./datasets.yaml`, else the one
at the repository root) maps each dataset to the folder a user unpacked it into; the
environment variables `BEPAPER_UCF101`, `BEPAPER_HMDB51`, `BEPAPER_DIVING48` and
`BEPAPER_KINETICS400` override it, one dataset each. See `datasets.example.yaml`.

Every root is resolved the way `bepaper prepare` resolves `--root` (`datasets.load_split`:
`locate.find_video_root`, `locate.find_split_dir`, the split parsers, `locate.fit_to_disk`),
so the official archives work as unpacked, frame folders as well as videos, and a subset of
a dataset's classes. `check_roots` reports every missing or malformed root in one
`DataError`, each with what was looked for, where, and which key or variable to fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from bepaper.data.locate import NUM_CLASSES, find_split_dir, find_video_root, video_layout
from bepaper.data.splits import DATASETS
from bepaper.errors import BepaperError, ConfigError, DataError

FILE_VARIABLE = "BEPAPER_DATASETS"
FILE_NAME = "datasets.yaml"
REPO_ROOT = Path(__file__).resolve().parents[2]

# dataset -> the environment variable that names its root (and overrides datasets.yaml)
VARIABLES: dict[str, str] = {
    "ucf101": "BEPAPER_UCF101",
    "hmdb51": "BEPAPER_HMDB51",
    "diving48": "BEPAPER_DIVING48",
    "kinetics400": "BEPAPER_KINETICS400",
}

# dataset -> what its root should hold, as the official archives unpack
EXPECTED: dict[str, str] = {
    "ucf101": "UCF-101/<Class>/v_*.avi (or frame folders) with ucfTrainTestlist/ beside or "
    "inside it",
    "hmdb51": "<class>/*.avi (or frame folders) with testTrainMulti_7030_splits/ beside or "
    "inside it",
    "diving48": "rgb/*.mp4 (or frame folders) with Diving48_V2_train.json, "
    "Diving48_V2_test.json and Diving48_vocab.json",
    "kinetics400": "train/ and val/ class folders of .mp4 with train.csv and validate.csv",
}

ENTRY_KEYS = ("root", "split_dir")


@dataclass(frozen=True)
class RootEntry:
    """One dataset's root as the user named it, and where it was named."""

    root: Path
    split_dir: Path | None = None
    origin: str = ""  # "BEPAPER_UCF101" or "key 'ucf101' in /path/datasets.yaml"


@dataclass(frozen=True)
class DatasetRoot:
    """A dataset found on disk.

    `root` is the folder named; `video_root` the folder the split's paths start from;
    `backend` is "videos" or "frames" (folders of extracted frames); `classes_found` of
    `classes_total` (the official count) have videos on disk; `note` says so when a subset.
    """

    dataset: str
    root: Path
    video_root: Path
    split_dir: Path
    backend: str
    classes_found: int
    classes_total: int
    origin: str
    found: str  # how the split files were found
    note: str = ""
    split_dir_given: bool = False

    def data_overrides(self) -> dict[str, str]:
        """The `data.*` overrides of a run on this dataset (`key=value` on the CLI). The
        split folder is named only when datasets.yaml gave one; else it is found per split."""
        out = {"data.dataset": self.dataset, "data.root": str(self.root)}
        if self.split_dir_given:
            out["data.split_dir"] = str(self.split_dir)
        if self.backend == "frames":
            out["data.backend"] = "frames"
        return out

    def summary(self) -> str:
        """One line for the user."""
        return (
            f"{self.dataset}: {self.classes_found} of {self.classes_total} classes, "
            f"{self.backend} in {self.video_root}; {self.found} (named by {self.origin})"
        )


def datasets_file(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Path | None:
    """The datasets.yaml in use, or None: `path` if given, else `$BEPAPER_DATASETS`, else
    `./datasets.yaml`, else the repository's. A file named explicitly must exist."""
    env = os.environ if env is None else env
    named = path if path is not None else env.get(FILE_VARIABLE) or None
    if named is not None:
        file = Path(named).expanduser().absolute()
        if not file.is_file():
            how = "" if path is not None else f" (named by {FILE_VARIABLE})"
            raise ConfigError(f"datasets file not found: {file}{how}")
        return file
    for file in (Path.cwd() / FILE_NAME, REPO_ROOT / FILE_NAME):
        if file.is_file():
            return file
    return None


def _entry(dataset: str, value: object, file: Path) -> RootEntry | None:
    """One dataset's entry of datasets.yaml: a path, or {root: path, split_dir: path}.
    Relative paths are relative to the file's folder. An empty entry is no entry."""
    origin = f"key '{dataset}' in {file}"

    def path(v: object, key: str) -> Path:
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{file}: {dataset}.{key} must be a path, got {v!r}")
        p = Path(v).expanduser()
        return p if p.is_absolute() else file.parent / p

    if value is None:
        return None
    if isinstance(value, str):
        return RootEntry(path(value, "root"), None, origin)
    if not isinstance(value, dict):
        raise ConfigError(f"{file}: {dataset} must be a path or a mapping with 'root'")
    unknown = sorted(set(value) - set(ENTRY_KEYS))
    if unknown:
        raise ConfigError(f"{file}: unknown key {dataset}.{unknown[0]}; choose from {ENTRY_KEYS}")
    if value.get("root") is None:
        raise ConfigError(f"{file}: {dataset} has no 'root'")
    split_dir = value.get("split_dir")
    return RootEntry(
        path(value["root"], "root"),
        None if split_dir is None else path(split_dir, "split_dir"),
        origin,
    )


def read_roots(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> tuple[dict[str, RootEntry], Path | None]:
    """(dataset -> entry as named, the datasets.yaml read or None). The environment variables
    replace a dataset's whole entry. Only the format is checked here, not the folders."""
    env = os.environ if env is None else env
    file = datasets_file(path, env)
    entries: dict[str, RootEntry] = {}
    if file is not None:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            reason = getattr(err, "problem", None) or type(err).__name__
            raise ConfigError(f"{file}{where}: not valid YAML ({reason})") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{file}: expected a mapping of dataset -> root")
        for dataset, value in data.items():
            if dataset not in VARIABLES:
                raise ConfigError(
                    f"{file}: unknown dataset '{dataset}'; choose from {sorted(VARIABLES)}"
                )
            entry = _entry(dataset, value, file)
            if entry is not None:
                entries[dataset] = entry
    for dataset, variable in VARIABLES.items():
        value = env.get(variable, "").strip()
        if value:
            entries[dataset] = RootEntry(Path(value).expanduser().absolute(), None, variable)
    return entries, file


def _fix(dataset: str, entry: RootEntry | None, file: Path | None) -> str:
    """How to name this dataset's root instead."""
    where = str(file) if file is not None else f"{FILE_NAME} (see datasets.example.yaml)"
    if entry is not None and entry.origin == VARIABLES[dataset]:
        return f"fix {VARIABLES[dataset]} (it overrides {FILE_NAME})"
    return f"fix '{dataset}:' (root, or split_dir) in {where} or set {VARIABLES[dataset]}"


def _resolve(dataset: str, entry: RootEntry, split: int, probe: bool, decoder: str) -> DatasetRoot:
    """One dataset's root, found as `bepaper prepare` finds it; DataError says what is wrong."""
    from bepaper.config import DataConfig
    from bepaper.data.datasets import load_split
    from bepaper.data.prepare import probe_video

    if not entry.root.is_dir():
        raise DataError(f"{entry.root} is not a folder")
    if entry.split_dir is not None and not entry.split_dir.is_dir():
        raise DataError(f"split folder {entry.split_dir} is not a folder")
    cfg = DataConfig(
        dataset=dataset,
        root=str(entry.root),
        split_dir="" if entry.split_dir is None else str(entry.split_dir),
        split=split,
    )
    video_root = find_video_root(dataset, entry.root)
    if entry.split_dir is None:
        split_dir, found = find_split_dir(dataset, video_root, split)
    else:
        split_dir, found = entry.split_dir, f"split files in {entry.split_dir} (split_dir)"
    video_root, parsed = load_split(cfg)
    items = parsed.train + parsed.test
    layout = video_layout(video_root, items)
    if layout == "missing":
        example = items[0].path if items else "?"
        raise DataError(
            f"none of the {len(items)} videos listed in {split_dir} is under {video_root} "
            f"(looked for e.g. {video_root / example}, or a folder of frames there)"
        )
    if probe:
        path = next(video_root / i.path for i in items if (video_root / i.path).exists())
        reason = probe_video(path, decoder)
        if reason is not None:
            raise DataError(f"the first video found, {path}, does not decode: {reason}")
    return DatasetRoot(
        dataset=dataset,
        root=entry.root,
        video_root=video_root,
        split_dir=split_dir,
        backend="videos" if layout == "videos" else "frames",
        classes_found=len(parsed.classes),
        classes_total=NUM_CLASSES[dataset],
        origin=entry.origin,
        found=found,
        note=parsed.note,
        split_dir_given=entry.split_dir is not None,
    )


def check_roots(
    datasets: list[str],
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    split: int = 1,
    probe: bool = True,
    decoder: str = "decord",
) -> dict[str, DatasetRoot]:
    """dataset -> DatasetRoot for each of `datasets`, or one DataError (one line) naming every
    dataset that is not configured or not found, each with what was looked for, where, and
    which datasets.yaml key or environment variable to fix. `probe` decodes the first and
    last frame of one video per dataset with `decoder`."""
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ConfigError(f"unknown dataset '{unknown[0]}'; choose from {sorted(DATASETS)}")
    entries, file = read_roots(path, env)
    found: dict[str, DatasetRoot] = {}
    problems = []
    for dataset in dict.fromkeys(datasets):
        entry = entries.get(dataset)
        if entry is None:
            problems.append(
                f"{dataset}: not configured (expected {EXPECTED[dataset]}); "
                f"{_fix(dataset, None, file)}"
            )
            continue
        try:
            found[dataset] = _resolve(dataset, entry, split, probe, decoder)
        except BepaperError as err:
            problems.append(
                f"{dataset}: {entry.root} (from {entry.origin}): {err} "
                f"[expected {EXPECTED[dataset]}]; {_fix(dataset, entry, file)}"
            )
    if problems:
        count = f"{len(problems)} dataset root{'s' if len(problems) > 1 else ''}"
        raise DataError(f"{count} not usable: " + " | ".join(problems))
    return found


def resolve_roots(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    split: int = 1,
    probe: bool = False,
) -> dict[str, DatasetRoot]:
    """Every dataset named in datasets.yaml or the environment, found on disk (no video
    decoded unless `probe`). A named root that is not usable is a DataError, as in
    `check_roots`; datasets not named are left out."""
    entries, _ = read_roots(path, env)
    return check_roots(list(entries), path, env, split=split, probe=probe)
