"""Finished run folders as inputs of the analyses (retrieval, static bias, bias tests, CAM).

An analysis reads a run folder written by `bepaper.train` and never changes it:
`open_run` checks that the folder holds a *finished* run of the expected kind and returns
its config and identity; `load_backbone` / `load_classifier` rebuild the trained network
from the run's own config; `data_config` gives its data settings, with the data's location
replaceable (run configs store the path of the machine that trained them).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bepaper.config import AugmentConfig, DataConfig, from_dict
from bepaper.errors import CheckpointError, DataError

RUN_KINDS = ("pretrain", "finetune")


@dataclass(frozen=True)
class FinishedRun:
    """A finished run folder: its kind ("pretrain" | "finetune"), config and identity."""

    path: Path
    command: str
    config: dict  # config.yaml, the resolved config
    identity: dict  # identity.json: {"command", "config", "data"}

    @property
    def key(self) -> str:
        """The run's identity key (the hash that names automatic run folders)."""
        from bepaper.identity import identity_key

        return identity_key(self.identity)

    @property
    def static(self) -> bool:
        """True for a fine-tuning run trained and tested on static videos (Figure 4)."""
        return bool(self.config.get("static", False))

    @property
    def seed(self) -> int:
        return int(self.config.get("run", {}).get("seed", 0))

    @property
    def reader_name(self) -> str:
        """What a reader calls the run: a pretraining run by its arm ('MoCo + BE'), a
        fine-tuning run by its init's ('MoCo + BE, fine-tuned'; 'trained from random init';
        an init that is not a run folder by its file name), ', static frames' when it saw
        repeated frames."""
        from bepaper import labels
        from bepaper.config import PretrainConfig, from_dict
        from bepaper.protocol import method_arm

        if self.command == "pretrain":
            return labels.arm(method_arm(from_dict(PretrainConfig, self.config).method))
        init = str(self.config.get("init", "") or "")
        name = "trained from random init"
        if init:
            try:
                name = f"{open_run(init).reader_name}, fine-tuned"
            except CheckpointError:  # a published checkpoint file, or a folder gone
                name = f"fine-tuned from {Path(init).name}"
        return f"{name}, static frames" if self.static else name

    def augment(self) -> AugmentConfig:
        """The run's view settings (crop_size, eval_crop: the test view)."""
        return _section(AugmentConfig, self.config.get("augment", {}))

    def data_config(
        self,
        root: str | os.PathLike | None = None,
        dataset: str | None = None,
        split_dir: str | os.PathLike | None = None,
        backend: str | None = None,
        workers: int | None = None,
    ) -> DataConfig:
        """The run's data settings (frames, stride, load size: what the network saw), with
        the data's location, format, decoder or workers replaced where given."""
        data = _section(DataConfig, self.config.get("data", {}))
        changes: dict[str, Any] = {}
        if root is not None:
            changes["root"] = str(root)
            changes["split_dir"] = ""
        if dataset is not None:
            changes["dataset"] = dataset
        if split_dir is not None:
            changes["split_dir"] = str(split_dir)
        if backend is not None:
            changes["backend"] = backend
        if workers is not None:
            changes["workers"] = int(workers)
        return dataclasses.replace(data, **changes) if changes else data

    def describe(self) -> dict:
        """What a result file records about the run it analysed."""
        return {"path": str(self.path), "command": self.command, "key": self.key}


def _section(cls: type, values: dict) -> Any:
    """A config section from a saved dict; keys this version no longer has are ignored
    (a run written by an older bepaper still opens)."""
    known = {f.name for f in dataclasses.fields(cls)}
    return from_dict(cls, {k: v for k, v in values.items() if k in known})


def open_run(
    folder: str | os.PathLike, kinds: tuple[str, ...] = RUN_KINDS, what: str = "this analysis"
) -> FinishedRun:
    """The finished run in `folder`, of one of `kinds`. A missing folder, a folder that is not
    a bepaper run, an unfinished run or a run of another kind is a one-line CheckpointError."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise CheckpointError(f"run folder not found: {path}")
    ident_file, config_file = path / "identity.json", path / "config.yaml"
    if not ident_file.is_file() or not config_file.is_file():
        raise CheckpointError(f"{path}: not a bepaper run folder (no identity.json / config.yaml)")
    try:
        identity = json.loads(ident_file.read_text(encoding="utf-8"))
        config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise CheckpointError(f"{path}: unreadable run files ({type(err).__name__})") from None
    command = identity.get("command", "?")
    if not (path / "finished.json").is_file():
        raise CheckpointError(f"{path}: the {command} run has not finished (no finished.json)")
    if command not in kinds:
        raise CheckpointError(
            f"{path} holds a {command} run; {what} needs a {' or '.join(kinds)} run"
        )
    return FinishedRun(path, command, config, identity)


def build_network_backbone(run: FinishedRun):
    """A randomly initialised backbone of the run's architecture (model.backbone, width)."""
    from bepaper.models import build_backbone

    model = run.config.get("model", {})
    return build_backbone(model.get("backbone", "r3d18"), int(model.get("width", 0)))


def load_backbone(run: FinishedRun, device):
    """The run's trained backbone in eval mode on `device`: a pretraining run's backbone.pt,
    or the backbone part of a fine-tuning run's classifier.pt."""
    from bepaper.checkpoint import load_backbone_weights

    backbone = build_network_backbone(run)
    weights = run.path / ("backbone.pt" if run.command == "pretrain" else "classifier.pt")
    if not weights.is_file():
        raise CheckpointError(f"{run.path}: finished {run.command} run without {weights.name}")
    load_backbone_weights(backbone, weights)
    return backbone.to(device).eval()


def load_classifier(run: FinishedRun, device):
    """A fine-tuning run's classifier (backbone + head) in eval mode, and its class names."""
    from bepaper.checkpoint import load_checkpoint
    from bepaper.models import Classifier

    path = run.path / "classifier.pt"
    state = load_checkpoint(path)
    if "model" not in state or "classes" not in state:
        raise CheckpointError(f"{path}: not a classifier checkpoint (written by finetune)")
    model_cfg = run.config.get("model", {})
    dropout = float(model_cfg.get("dropout", 0.5))
    pool = str(model_cfg.get("head_pool", "avg"))
    model = Classifier(build_network_backbone(run), len(state["classes"]), dropout, pool)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the run's model: {first}") from None
    return model.to(device).eval(), [str(c) for c in state["classes"]]


def box_root_for(video_root: str | os.PathLike) -> Path | None:
    """Where per-video actor boxes lie for a video root: `boxes/` beside it in a folder that
    bepaper wrote (SynthBias analogues, their bias sets, actor-cropped copies: a meta.json
    beside too), or None."""
    parent = Path(video_root).parent
    folder = parent / "boxes"
    return folder if folder.is_dir() and (parent / "meta.json").is_file() else None


def require_dir(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path, or a DataError naming `what` when it is not a folder."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise DataError(f"{what} not found: {p}")
    return p


class SkipLog:
    """Videos a dataset skipped, as {"path", "reason"} JSON lines in one file: a picklable
    `on_skip(relpath, reason)` that DataLoader worker processes can call too (each line is
    one O_APPEND write, as `bepaper.runs.RunDir.record_skip` does)."""

    def __init__(self, path: str | os.PathLike, fresh: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh:
            self.path.unlink(missing_ok=True)

    def __call__(self, relpath: str, reason: str) -> None:
        data = (json.dumps({"path": relpath, "reason": reason[:1000]}) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def read(self) -> dict[str, str]:
        """path → reason of every video skipped so far."""
        if not self.path.is_file():
            return {}
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return {r["path"]: r["reason"] for r in map(json.loads, filter(None, lines))}


def json_safe(obj: Any) -> Any:
    """`obj` with NaN and infinities as None and numpy scalars as Python numbers, so the JSON
    written is strict (json.dumps would write the non-standard token NaN)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(float(obj)) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj
