"""A fine-tuned classifier on the SynthBias bias test sets (beyond the paper).

`bepaper.data.bias_sets` re-renders the test videos of one split four ways (new background,
background only, static actor, actor only; its docstring says what each is). `bias_test`
scores a fine-tuning run's classifier, with the run's own test view and `num_clips` clips
per video (paper: 10), on the original test list and on each set, and writes:

    bias_test.json     top-1 per set, videos scored per set, the contrasted accuracy (SCUBA /
                       SCUFO: correct on "new_background" and wrong on "static_actor", over
                       the videos read in both), what was skipped, the run and the sets
    per_video.csv      one row per test video: path, label, class, then 1 / 0 per set
                       (correct or not; empty where the video could not be read)
    outputs/<set>.npz  per-video scores (N x C), labels, paths, classes (as a run's outputs)
    skipped/<set>.jsonl  videos that could not be read, with the reason (only if any)

Reading the numbers: a classifier that uses motion keeps its top-1 on "new_background" and
"actor_only", falls to chance on "background_only" and, if motion is all it uses, drops on
"static_actor"; a background classifier does the opposite on the first three.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from bepaper.analysis.loading import SkipLog, json_safe, load_classifier, open_run
from bepaper.data.bias_sets import DESCRIPTIONS, contrasted_accuracy
from bepaper.data.synthbias import VARIANTS
from bepaper.errors import ConfigError, DataError
from bepaper.runs import atomic_path, atomic_write_json

ORIGINAL = "original"
_SAME_SOURCE = ("format_version", "analogue", "preset", "seed", "writer", "config")


def find_bias_sets(sets_dir: str | os.PathLike, split: int) -> dict[str, tuple[Path, dict]]:
    """{variant: (folder, meta)} of the bias test sets of `split` directly under `sets_dir`
    (the folders `bepaper bias-sets` writes). A DataError when there is none, or when the
    folder holds sets of several sources for one variant."""
    root = Path(sets_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"bias set folder not found: {root}")
    found: dict[str, tuple[Path, dict]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        record = meta.get("bias_set") or {}
        if record.get("split") != split or record.get("variant") not in VARIANTS:
            continue
        if record["variant"] in found:
            raise DataError(
                f"{root} holds two '{record['variant']}' sets of split {split} "
                f"({found[record['variant']][0].name}, {folder.name}); keep one source per folder"
            )
        found[record["variant"]] = (folder, meta)
    if not found:
        raise DataError(
            f"no bias test set of split {split} in {root} (build them with "
            f"`bepaper bias-sets --root ANALOGUE --out {root} --split {split}`)"
        )
    return found


def bias_test(
    run_dir: str | os.PathLike,
    sets_dir: str | os.PathLike,
    *,
    split: int = 2,
    root: str | os.PathLike | None = None,
    variants: tuple[str, ...] | None = None,
    num_clips: int = 10,
    out_dir: str | os.PathLike | None = None,
    device: str = "auto",
    batch_size: int = 16,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Score a fine-tuning run on the original test list of `split` and on each bias test set
    of that split found in `sets_dir` (module docstring). `root`: the SynthBias analogue the
    sets were built from (default: the run's data.root). `variants`: a subset (default: every
    set found). `out_dir` default: `<run>/bias_test_split<split>`. Returns what bias_test.json
    holds ("top1" {set: fraction}, "contrasted_accuracy", "classes", ...), with NaN where the
    file has null."""
    import torch

    from bepaper.data.datasets import LabeledClips, load_split
    from bepaper.distributed import resolve_device
    from bepaper.evaluate import classify_videos, save_scores

    if num_clips < 1:
        raise ConfigError(f"num_clips must be at least 1, got {num_clips}")
    start = time.perf_counter()
    run = open_run(run_dir, ("finetune",), "bias-test")
    data = run.data_config(root=root, workers=workers)
    if data.dataset != "synthbias":
        raise DataError(f"bias test sets exist for SynthBias only; the run used '{data.dataset}'")
    data = dataclasses.replace(data, split=split)
    source_root, source_split = load_split(data, split)
    source_meta = json.loads((Path(data.root).expanduser() / "meta.json").read_text())
    if "actor_crop" in source_meta or "bias_set" in source_meta:
        raise DataError(
            f"{data.root} is a derived folder (actor crop or bias set); pass the generated "
            "analogue the bias sets came from (root=)"
        )
    found = find_bias_sets(sets_dir, split)
    chosen = tuple(v for v in VARIANTS if v in found) if variants is None else tuple(variants)
    for v in chosen:
        if v not in VARIANTS:
            raise ConfigError(f"unknown bias set '{v}'; choose from {list(VARIANTS)}")
        if v not in found:
            raise DataError(f"no '{v}' set of split {split} in {sets_dir}")
    for v in chosen:
        folder, meta = found[v]
        differ = [k for k in _SAME_SOURCE if meta.get(k) != source_meta.get(k)]
        if differ:
            raise DataError(
                f"{folder} was built from another SynthBias generation than {data.root} "
                f"(differs in {differ}); pass the analogue it came from (root=)"
            )

    dev = resolve_device(device)
    amp = bool(run.config.get("run", {}).get("amp", False)) and dev.type == "cuda"
    model, classes = load_classifier(run, dev)
    if list(source_split.classes) != classes:
        raise DataError(f"{data.root}: its classes differ from the classifier's {classes}")
    aug = run.augment()
    out_dir = Path(out_dir) if out_dir is not None else run.path / f"bias_test_split{split}"
    out_dir.mkdir(parents=True, exist_ok=True)

    targets = [(ORIGINAL, data)] + [
        (v, dataclasses.replace(data, root=str(found[v][0]), split_dir="")) for v in chosen
    ]
    top1, counts, correct, skipped = {}, {}, {}, {}
    expected = [item.path for item in source_split.test]
    for name, cfg in targets:
        video_root, parsed = load_split(cfg, split)
        if [item.path for item in parsed.test] != expected:
            raise DataError(f"the '{name}' set's test list differs from {data.root}'s")
        if list(parsed.classes) != classes:
            raise DataError(f"the '{name}' set's classes differ from the classifier's")
        log = SkipLog(out_dir / "skipped" / f"{name}.jsonl")
        ds = LabeledClips(
            video_root,
            parsed.test,
            cfg,
            on_skip=log,
            seed=run.seed,
            train=False,
            num_clips=num_clips,
            static=run.static,
        )
        with torch.no_grad():
            res = classify_videos(
                model,
                ds,
                aug,
                dev,
                batch_size=batch_size,
                workers=cfg.workers,
                amp=amp,
                progress=progress,
                desc=f"bias test: {name}",
            )
        paths = [parsed.test[int(i)].path for i in res["indices"]]
        hits = (res["scores"].argmax(1) == res["labels"]).numpy() if len(paths) else []
        top1[name] = float(np.mean(hits)) if len(paths) else float("nan")  # float64: 10/72
        counts[name], skipped[name] = len(paths), log.read()
        correct[name] = dict(zip(paths, (bool(h) for h in hits), strict=True))
        save_scores(out_dir / "outputs" / f"{name}.npz", ds, res, classes)

    contrast, n_contrast = None, 0
    if "new_background" in correct and "static_actor" in correct:
        both = [
            p for p in expected if p in correct["new_background"] and p in correct["static_actor"]
        ]
        n_contrast = len(both)
        if both:
            contrast = contrasted_accuracy(
                np.array([correct["new_background"][p] for p in both]),
                np.array([correct["static_actor"][p] for p in both]),
            )
    _write_per_video(out_dir / "per_video.csv", source_split, classes, correct)
    result = {
        "run": run.describe(),
        "split": split,
        "num_clips": num_clips,
        "static_videos": run.static,
        "top1": top1,
        "videos": counts,
        "test_videos": len(expected),
        "contrasted_accuracy": contrast,
        "contrasted_videos": n_contrast,
        "classes": len(classes),
        "chance": 1 / len(classes),
        "sets": {ORIGINAL: str(data.root)} | {v: str(found[v][0]) for v in chosen},
        "descriptions": {ORIGINAL: "the test videos as generated"}
        | {v: DESCRIPTIONS[v] for v in chosen},
        "skipped": skipped,
        "device": str(dev),
        "seconds": round(time.perf_counter() - start, 2),
        "out": str(out_dir),
    }
    atomic_write_json(out_dir / "bias_test.json", json_safe(result))
    return result


def _write_per_video(path: Path, split, classes: list[str], correct: dict) -> None:
    import pandas as pd

    table = pd.DataFrame(
        {
            "path": [item.path for item in split.test],
            "label": [item.label for item in split.test],
            "class": [classes[item.label] for item in split.test],
        }
    )
    for name, hits in correct.items():
        table[name] = [
            "" if p not in hits else int(hits[p]) for p in table["path"]
        ]  # empty: not read
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
