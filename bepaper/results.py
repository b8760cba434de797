"""Finished runs as a table: every notebook builds its tables from `collect(runs_dir)`.

One row per finished run folder (one that holds identity.json and finished.json): its
command, identity key, path, the result-relevant config flattened to dotted columns
(`method.name`, `optim.lr`, `init`, ...), its metrics flattened the same way
(`test_top1.1`, `probe_top1`, `final.loss`, `seconds`), and where it ran (`host`, `torch`,
`cuda`, `device`), so a number can always be traced to its run and machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bepaper.identity import identity_key, read_identity


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, f"{key}."))
        else:
            out[key] = v
    return out


def run_row(folder: str | Path) -> dict | None:
    """The row of one finished run folder, or None when it is not a finished run."""
    folder = Path(folder)
    ident = read_identity(folder)
    if ident is None or not (folder / "finished.json").is_file():
        return None
    metrics = json.loads((folder / "metrics.json").read_text())
    row = {"command": ident["command"], "key": identity_key(ident), "path": str(folder)}
    row.update(_flatten(ident["config"]))
    row["data"] = ident.get("data")
    for k, v in _flatten(metrics).items():
        if not k.startswith(("probe.cv_", "probe.predicted_histogram")):
            row[k] = v
    versions = folder / "versions.json"
    if versions.is_file():
        v = json.loads(versions.read_text())
        row.update(host=v.get("hostname"), torch=v.get("torch"), cuda=v.get("cuda"))
        row["device"] = v.get("device")
    return row


def collect(runs_dir: str | Path = "runs", command: str | None = None):
    """Every finished run under `runs_dir` (searched recursively) as a pandas DataFrame,
    optionally only those of one command ("pretrain", "finetune")."""
    import pandas as pd

    rows = []
    for ident_file in sorted(Path(runs_dir).rglob("identity.json")):
        row = run_row(ident_file.parent)
        if row is not None and (command is None or row["command"] == command):
            rows.append(row)
    return pd.DataFrame(rows)


def load_outputs(folder: str | Path, split: int = 1) -> dict[str, np.ndarray]:
    """The per-video outputs a fine-tuning run wrote for a test split: scores (N x C),
    labels (N, 0-based), paths (N), classes (C)."""
    path = Path(folder) / "outputs" / f"test_split{split}.npz"
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def load_features(folder: str | Path, name: str) -> dict[str, np.ndarray]:
    """Stored features (features/<name>.npz): features (N x D), labels, paths, classes."""
    with np.load(Path(folder) / "features" / f"{name}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
